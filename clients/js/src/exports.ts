/** What both entry points (`@warmwire/client` and `@warmwire/client/json`) export beside `realtime`. */
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
