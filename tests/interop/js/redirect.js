// The one thing the interop tests replace: the global WebSocket.
//
// @fal-ai/client dials `wss://fal.run/{app}{path}?fal_jwt_token=...` by design
// (realtime.js, buildRealtimeUrl).  This wrapper keeps the path and query and
// sends the connection to the warmwire runner instead; everything else is the
// platform's own WebSocket.  It also records what crossed the wire (the URL the
// client built, text frames, close codes) so the tests can tell what the client
// did with them.

export function installRunnerRedirect(scope, runnerBase) {
  const Native = scope.WebSocket;
  const wire = { dialed: [], texts: [], closes: [] };

  class RunnerWebSocket extends Native {
    constructor(url, protocols) {
      const requested = new URL(String(url));
      const target =
        requested.host === "fal.run"
          ? `${runnerBase}${requested.pathname}${requested.search}`
          : String(url);
      super(target, protocols);
      const socket = wire.dialed.length;
      // The token itself is not recorded: only that one was sent.
      wire.dialed.push(String(url).replace(/fal_jwt_token=[^&]+/, "fal_jwt_token=<jwt>"));
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") {
          wire.texts.push({ socket, text: event.data });
        }
      });
      this.addEventListener("close", (event) => {
        wire.closes.push({ socket, code: event.code, reason: event.reason });
      });
    }
  }

  scope.WebSocket = RunnerWebSocket;
  return wire;
}
