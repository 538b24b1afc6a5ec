/**
 * warmwire's realtime client without msgpack: JSON text frames only, no dependency.
 * The same API as the main entry; `codec` defaults to `json` (a Codec object adds others).
 */
import { createRealtimeClient } from "./client.js";
import { jsonCodec } from "./codecs.js";

export const realtime = createRealtimeClient({ json: jsonCodec }, "json");

export * from "./exports.js";
