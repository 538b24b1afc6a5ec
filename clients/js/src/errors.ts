/**
 * What the client reports: every error is a {@link RealtimeError} with a `code` (the
 * runner's x-fal-error code, or one of the client's own below) and a `reason` that says
 * what happened and, where the caller can act, what to do.
 *
 * The fields `status` and `body` match `ApiError` of `@fal-ai/client`, so error handlers
 * written for it keep working: `body` is the runner's message when there is one, `status`
 * an HTTP-like status (400 for x-fal-error, 401 Unauthorized, the refusal's HTTP status)
 * or the WebSocket close code.
 */

/** Codes the client itself reports (the runner's x-fal-error codes pass through as sent). */
export const ErrorCode = {
  /** The connection closed abnormally (the runner died, the network dropped); see `closeCode`. */
  CONNECTION_CLOSED: "CONNECTION_CLOSED",
  /** No connection could be made after the configured attempts. */
  CONNECTION_FAILED: "CONNECTION_FAILED",
  /** The token provider threw or returned no token. */
  TOKEN_FAILED: "TOKEN_FAILED",
  /** The runner refused the token twice in a row, once with a freshly fetched one. */
  UNAUTHORIZED: "Unauthorized",
  /** An input the codec cannot encode, or a message it cannot decode. */
  INVALID_INPUT: "INVALID_INPUT",
  INVALID_OUTPUT: "INVALID_OUTPUT",
  /** `send()` after `close()` or after a refusal. */
  CLOSED: "CLOSED",
} as const;

export interface RealtimeErrorInit {
  code: string;
  reason: string;
  status?: number;
  body?: unknown;
  closeCode?: number;
  cause?: unknown;
}

/** An error of a realtime connection. */
export class RealtimeError extends Error {
  /** The runner's x-fal-error code (`INTERNAL_ERROR`, `INVALID_INPUT`, ...) or an {@link ErrorCode}. */
  readonly code: string;
  /** What happened, in the runner's or the client's words. */
  readonly reason: string;
  /** An HTTP-like status or the close code (as `@fal-ai/client`'s `ApiError.status`). */
  readonly status: number;
  /** The runner's message, when the error came from one. */
  readonly body: unknown;
  /** The WebSocket close code, when the error is a close. */
  readonly closeCode: number | undefined;

  constructor(init: RealtimeErrorInit) {
    super(`${init.code}: ${init.reason}`);
    this.name = "RealtimeError";
    this.code = init.code;
    this.reason = init.reason;
    this.status = init.status ?? init.closeCode ?? 400;
    this.body = init.body;
    this.closeCode = init.closeCode;
    if (init.cause !== undefined) (this as { cause?: unknown }).cause = init.cause;
  }
}

/** The runner refused the credentials (a fresh token was tried once already). */
export class UnauthorizedError extends RealtimeError {
  constructor(reason: string, body?: unknown) {
    super({ code: ErrorCode.UNAUTHORIZED, reason, status: 401, body, closeCode: 1008 });
    this.name = "UnauthorizedError";
  }
}

/**
 * The runner refused the connection for good (close code 4000 + HTTP status: 4404 for an
 * unknown app or path, 4400 for a bad `maxBuffering` or codec).  The client does not
 * reconnect: `reason` says what to fix; then open a new connection.
 */
export class RefusedError extends RealtimeError {
  constructor(code: string, reason: string, closeCode: number, body?: unknown) {
    super({ code, reason, status: closeCode - 4000, body, closeCode });
    this.name = "RefusedError";
  }
}

/** The connection closed abnormally; the client reconnects unless told not to. */
export class ConnectionClosedError extends RealtimeError {
  constructor(closeCode: number, reason: string) {
    super({ code: ErrorCode.CONNECTION_CLOSED, reason, closeCode });
    this.name = "ConnectionClosedError";
  }
}

/** Bad options: thrown by `connect()`/`open()` before any network I/O. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigurationError";
  }
}
