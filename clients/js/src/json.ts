/**
 * warmwire's realtime client without msgpack: JSON text frames only, no dependency.
 * The same API as the main entry; `codec` defaults to `json` (a Codec object adds others).
 */
import { createRealtimeClient } from "./client.js";
import { jsonCodec } from "./codecs.js";

export const realtime = createRealtimeClient({ json: jsonCodec }, "json");

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
export type { OpenConnection } from "./open.js";
export { keyTokenProvider, type KeyTokenProviderOptions, type TokenProvider } from "./tokens.js";
export type { WebSocketClass } from "./websocket.js";
