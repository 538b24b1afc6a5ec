/** msgpack binary frames (the runner's default codec), via `@msgpack/msgpack`. */
import { decode, encode } from "@msgpack/msgpack";

import type { Codec } from "./codecs.js";

export const msgpackCodec: Codec = {
  name: "msgpack",
  encode: (input) => encode(input),
  decode: (data) => decode(data),
};
