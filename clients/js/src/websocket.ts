/**
 * Which WebSocket class to use: the caller's, the global one (browsers, Node >= 22, Node 20
 * with --experimental-websocket), or the `ws` package's.
 */
import { ConfigurationError } from "./errors.js";

/** A WebSocket class with the browser's API (the global one, or `ws`'s). */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocket;

// A variable, so that bundlers for the browser leave the Node-only fallback alone.
const WS_PACKAGE = "ws";

export async function resolveWebSocket(given: WebSocketClass | undefined): Promise<WebSocketClass> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  if (typeof global === "function") return global;
  try {
    const module = (await import(/* @vite-ignore */ WS_PACKAGE)) as {
      WebSocket?: WebSocketClass;
      default?: WebSocketClass;
    };
    const found = module.WebSocket ?? module.default;
    if (typeof found === "function") return withFetchMode(found as WsClass);
  } catch {
    // Not installed: say what to do below.
  }
  throw new ConfigurationError(
    "this runtime has no WebSocket: on Node 20 run node --experimental-websocket, " +
      "or npm install ws, or pass one: connect(app, { WebSocket, ... })",
  );
}

type WsClass = new (url: string, protocols?: string | string[], options?: object) => WebSocket;

/**
 * `ws` with the header a fetch-based WebSocket sends (`Sec-Fetch-Mode: websocket`), which
 * tells the runner this client, like a browser, cannot read an HTTP refusal: it then
 * reports a refusal after the upgrade (an x-fal-error and a 4000+status close), whose
 * reason the client can pass on.
 */
function withFetchMode(Ws: WsClass): WebSocketClass {
  return class extends Ws {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { "sec-fetch-mode": "websocket" } });
    }
  };
}
