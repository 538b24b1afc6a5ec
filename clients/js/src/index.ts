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

export { createRealtimeClient, type RealtimeClient } from "./client.js";
export { type Codec, type CodecTable, jsonCodec } from "./codecs.js";
export type {
  CloseInfo,
  ConnectionState,
  ConnectOptions,
  OpenInfo,
  RealtimeConnection,
  ReconnectInfo,
  ReconnectOptions,
} from "./connection.js";
export {
  ConfigurationError,
  ConnectionClosedError,
  ErrorCode,
  RealtimeError,
  RefusedError,
  UnauthorizedError,
} from "./errors.js";
export { msgpackCodec } from "./msgpack.js";
export type { OpenConnection } from "./open.js";
export { keyTokenProvider, type KeyTokenProviderOptions, type TokenProvider } from "./tokens.js";
export type { WebSocketClass } from "./websocket.js";
