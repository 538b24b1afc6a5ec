/**
 * warmwire's realtime client: msgpack (the runner's default) and JSON.
 *
 * ```js
 * import { realtime } from "@warmwire/client";
 * const connection = realtime.connect("acme/stylize", {
 *   url: "wss://runner.example.com",
 *   tokenProvider: (app) => fetch(`/api/token?app=${app}`).then((r) => r.json()).then((b) => b.token),
 *   onResult: (result) => show(result),
 *   onError: (error) => console.error(error.code, error.reason),
 * });
 * connection.send({ image: bytes });
 * ```
 *
 * Without msgpack (a smaller bundle): `import { realtime } from "@warmwire/client/json"`.
 */
import { createRealtimeClient } from "./client.js";
import { jsonCodec } from "./codecs.js";
import { msgpackCodec } from "./msgpack.js";

export const realtime = createRealtimeClient({ msgpack: msgpackCodec, json: jsonCodec }, "msgpack");

export * from "./exports.js";
export { msgpackCodec } from "./msgpack.js";
