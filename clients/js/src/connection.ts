/**
 * One realtime connection, callback style: `send()` never blocks and never throws while
 * the connection lives; results and errors arrive through callbacks.
 *
 * - Lazy: nothing is dialed until the first `send()`.
 * - Keep-latest throttle: at most one input per `throttleInterval`; inputs sent in
 *   between replace each other, and the latest one is always sent when the interval ends.
 *   While (re)connecting, only the latest input is kept: in realtime the newest frame wins.
 * - Tokens: fetched from `tokenProvider` before dialing, refreshed at 90% of their lifetime;
 *   after an `Unauthorized` the token is dropped and one fresh one is tried.
 * - Closes: after an abnormal close the client reconnects with exponential backoff; after a
 *   normal close (1000: the runner's idle TIMEOUT, for one) it reconnects on the next
 *   `send()`; after `close()` never; after a refusal (4000 + HTTP status) never, and the
 *   error says why.
 */
import type { Codec } from "./codecs.js";
import {
  checkMaxBuffering,
  connectionUrl,
  type Endpoint,
  parseEndpoint,
  redactToken,
  websocketBase,
} from "./endpoint.js";
import {
  ConfigurationError,
  ConnectionClosedError,
  ErrorCode,
  RealtimeError,
  RefusedError,
  UnauthorizedError,
} from "./errors.js";
import { type HeldToken, holdToken, keyTokenProvider, type TokenProvider } from "./tokens.js";
import { resolveWebSocket, type WebSocketClass } from "./websocket.js";

/** What `onOpen` receives. */
export interface OpenInfo {
  /** The URL dialed, without its token. */
  readonly url: string;
  /** The subprotocol the runner picked: the codec of this session ("" if none was offered). */
  readonly protocol: string;
}

/** What `onClose` receives. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  /** `close()` was called. */
  readonly intentional: boolean;
  /** A reconnect is scheduled (see `onReconnect`). */
  readonly reconnecting: boolean;
}

/** What `onReconnect` receives, before each reconnect attempt is scheduled. */
export interface ReconnectInfo {
  /** 1 for the first attempt after a close. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The close (or failed attempt) that led here: its code, 1006 if no connection was made. */
  readonly code: number;
  readonly reason: string;
}

export interface ReconnectOptions {
  /** The first delay (default 250 ms); each further attempt doubles it. */
  initialDelayMs?: number;
  /** The longest delay (default 8000 ms). */
  maxDelayMs?: number;
  /** Attempts in a row before giving up with `CONNECTION_FAILED` (default 10). */
  maxAttempts?: number;
}

/** The options of `realtime.connect()`: those of `@fal-ai/client`, plus `url` and a few more. */
export interface ConnectOptions<Output = any> {
  /** The runner: `wss://host[:port][/prefix]` (`https://` works too).  Required. */
  url: string;
  /** The endpoint path (default `/realtime`, unless the app id ends with it). */
  path?: string;
  /** Returns a short-lived token for the app; in a browser, from your backend. */
  tokenProvider?: TokenProvider;
  /** Tokens' lifetime, for refreshing at 90% of it (default: read from the token's JWT). */
  tokenExpirationSeconds?: number;
  /** An API key `id:secret`, for server-side code only: tokens are minted at `{url}/tokens/`. */
  credentials?: string;
  /** Minimum ms between two inputs sent (default 128, as @fal-ai/client; 0: no throttle). */
  throttleInterval?: number;
  /** Frames the runner buffers for this session (1..60; default: the app's). */
  maxBuffering?: number;
  /** The codec by name (`msgpack`, `json`) or a {@link Codec}; its name is the subprotocol offered. */
  codec?: string | Codec;
  /** Encodes an input (bytes: binary frame, string: text frame), instead of the codec. */
  encodeMessage?: (input: any) => Uint8Array | string;
  /** Decodes a binary frame, instead of the codec (text frames are JSON). */
  decodeMessage?: (data: Uint8Array) => unknown;
  onResult?(result: Output): void;
  onError?(error: RealtimeError): void;
  onOpen?(info: OpenInfo): void;
  onClose?(info: CloseInfo): void;
  /** The runner's cold start (its `setup()`), in seconds, when the first session reports it. */
  onColdStart?(seconds: number): void;
  /** The app's time for the last result, in seconds, for endpoints that emit timings. */
  onTimings?(seconds: number): void;
  onReconnect?(info: ReconnectInfo): void;
  /** Reconnects after abnormal closes, or `false` for none. */
  reconnect?: ReconnectOptions | false;
  /** A WebSocket class (e.g. `ws`'s); default: the global one, else the `ws` package. */
  WebSocket?: WebSocketClass;
  /** Accepted for code ported from @fal-ai/client, and ignored: each call is its own connection. */
  connectionKey?: string;
  /** Accepted for code ported from @fal-ai/client, and ignored. */
  clientOnly?: boolean;
}

/** The state of a connection. */
export type ConnectionState =
  | "idle" // not connected; the next send() connects
  | "connecting" // fetching a token or dialing
  | "open"
  | "reconnecting" // waiting out a backoff delay
  | "closed" // close() was called
  | "refused"; // the runner refused the connection for good

/** What `realtime.connect()` returns. */
export interface RealtimeConnection<Input = any> {
  /** Send an input (throttled, keep-latest).  Throws only after `close()` or a refusal. */
  send(input: Input): void;
  /** Close for good: no reconnect, no more callbacks but `onClose`. */
  close(): void;
  readonly state: ConnectionState;
  /** The runner's cold start in seconds, once a session reported it. */
  readonly coldStart: number | undefined;
  /** The subprotocol of the current or last session ("" if none). */
  readonly protocol: string;
}

const DEFAULT_THROTTLE_MS = 128;
/** The x-fal-error codes of a live session (TIMEOUT aside); others are refusals. */
const SESSION_ERRORS = new Set(["INTERNAL_ERROR", "INVALID_INPUT"]);

interface HeldFalError {
  readonly error: string;
  readonly reason: string;
  readonly body: unknown;
}

function falError(held: HeldFalError): RealtimeError {
  return new RealtimeError({ code: held.error, reason: held.reason, status: 400, body: held.body });
}
const NORMAL = 1000;
const POLICY = 1008;
const ABNORMAL = 1006;

/** Builds connections with a codec table: the one place the options are read. */
export class Connection<Input = any, Output = any> implements RealtimeConnection<Input> {
  private readonly options: ConnectOptions<Output>;
  private readonly endpoint: Endpoint;
  private readonly base: string;
  private readonly maxBuffering: number | undefined;
  private readonly encode: (input: unknown) => Uint8Array | string;
  private readonly decode: (data: Uint8Array) => unknown;
  private readonly protocols: string[];
  private readonly tokenProvider: TokenProvider | undefined;
  private readonly throttleMs: number;
  private readonly reconnectOptions: Required<ReconnectOptions> | false;

  private current: ConnectionState = "idle";
  private socket: WebSocket | undefined;
  /** Bumped for every socket and at close(): events of older sockets are ignored. */
  private generation = 0;
  private hasPending = false;
  private pending: unknown;
  /** The latest input sent on the current socket: resent if the runner refuses its token. */
  private sentOnSocket: { input: unknown } | undefined;
  private lastSentAt = -Infinity;
  private throttleTimer: ReturnType<typeof setTimeout> | undefined;
  private token: HeldToken | undefined;
  private tokenFetch: Promise<string | undefined> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  /** A close error was reported in this run of failures: later ones go to onReconnect only. */
  private reportedFailure = false;
  private retriedUnauthorized = false;
  private unauthorized: { reason: string; body: unknown } | undefined;
  private heldFalError: HeldFalError | undefined;
  private refusal: RefusedError | undefined;
  private everOpened = false;
  private openedProtocol = "";
  private cold: number | undefined;
  /**
   * Set by open(): one connection's life.  Failing to connect the first time ends it
   * (no retry), and so does any end of a session that is not followed by a reconnect.
   */
  oneShot = false;
  /** Called once when the connection ends for good (closed, refused; with oneShot: stopped). */
  onEnd: ((error: RealtimeError | undefined) => void) | undefined;

  constructor(app: string, options: ConnectOptions<Output>, codec: Codec) {
    if (!options || typeof options !== "object") {
      throw new ConfigurationError("pass options: connect(app, { url, tokenProvider, onResult, ... })");
    }
    this.options = options;
    this.endpoint = parseEndpoint(app, options.path);
    this.base = websocketBase(options.url);
    this.maxBuffering = checkMaxBuffering(options.maxBuffering);
    const custom = options.encodeMessage !== undefined || options.decodeMessage !== undefined;
    this.encode = options.encodeMessage ?? ((input) => codec.encode(input));
    this.decode = options.decodeMessage ?? ((data) => codec.decode(data));
    // With custom callables and no codec named, offer nothing: the app decides (as with fal).
    this.protocols = custom && options.codec === undefined ? [] : [codec.name];
    const throttle = options.throttleInterval ?? DEFAULT_THROTTLE_MS;
    if (!(throttle >= 0)) {
      throw new ConfigurationError(`throttleInterval must be 0 or more ms, not ${throttle}`);
    }
    this.throttleMs = throttle;
    if (options.tokenProvider && options.credentials) {
      throw new ConfigurationError("pass tokenProvider or credentials, not both");
    }
    this.tokenProvider =
      options.tokenProvider ??
      (options.credentials
        ? keyTokenProvider({
            url: options.url,
            credentials: options.credentials,
            ...(options.tokenExpirationSeconds !== undefined
              ? { expirationSeconds: options.tokenExpirationSeconds }
              : {}),
          })
        : undefined);
    if (options.tokenExpirationSeconds !== undefined && !(options.tokenExpirationSeconds > 0)) {
      throw new ConfigurationError("tokenExpirationSeconds must be a positive number of seconds");
    }
    this.reconnectOptions =
      options.reconnect === false
        ? false
        : {
            initialDelayMs: options.reconnect?.initialDelayMs ?? 250,
            maxDelayMs: options.reconnect?.maxDelayMs ?? 8000,
            maxAttempts: options.reconnect?.maxAttempts ?? 10,
          };
  }

  get state(): ConnectionState {
    return this.current;
  }

  get coldStart(): number | undefined {
    return this.cold;
  }

  get protocol(): string {
    return this.openedProtocol;
  }

  send(input: Input): void {
    if (this.current === "closed" || this.current === "refused") {
      throw new RealtimeError({
        code: ErrorCode.CLOSED,
        reason:
          this.current === "closed"
            ? "this connection was closed with close(): call realtime.connect() again for a new one"
            : `the runner refused this connection (${this.refusal?.reason ?? "see onError"}): fix that, then call realtime.connect() again`,
      });
    }
    this.pending = input;
    this.hasPending = true;
    if (this.current === "open") {
      this.scheduleFlush();
    } else if (this.current === "idle") {
      this.connectNow();
    }
    // connecting / reconnecting: the latest input goes out once open.
  }

  close(): void {
    if (this.current === "closed") return;
    const socket = this.socket;
    const wasRefused = this.current === "refused";
    this.current = "closed";
    this.generation += 1;
    this.socket = undefined;
    this.hasPending = false;
    this.pending = undefined;
    this.clearTimers();
    if (socket && (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN)) {
      socket.close(NORMAL);
    }
    this.safely(() => this.options.onClose?.({ code: NORMAL, reason: "", intentional: true, reconnecting: false }));
    if (!wasRefused) this.end(undefined);
  }

  /** Dial now (open() does; send() does it lazily). */
  connectNow(): void {
    if (this.current !== "idle") return;
    this.current = "connecting";
    void this.dial();
  }

  // --- dialing -------------------------------------------------------------------------------

  private async dial(): Promise<void> {
    const generation = ++this.generation;
    let WebSocketImpl: WebSocketClass;
    let token: string | undefined;
    try {
      WebSocketImpl = await resolveWebSocket(this.options.WebSocket);
    } catch (error) {
      if (generation !== this.generation) return;
      this.giveUp(error instanceof RealtimeError ? error : asFailure(error));
      return;
    }
    try {
      token = await this.currentToken();
    } catch (error) {
      if (generation !== this.generation) return;
      this.failed(
        ABNORMAL,
        new RealtimeError({
          code: ErrorCode.TOKEN_FAILED,
          reason: `the token provider failed: ${describe(error)}; check the backend route it calls`,
          cause: error,
        }),
      );
      return;
    }
    if (generation !== this.generation) return;
    const url = connectionUrl(this.base, this.endpoint, token, this.maxBuffering);
    let socket: WebSocket;
    try {
      socket = new WebSocketImpl(url, this.protocols);
    } catch (error) {
      this.giveUp(
        new RealtimeError({
          code: ErrorCode.CONNECTION_FAILED,
          reason: `cannot open a WebSocket to ${redactToken(url)}: ${describe(error)}`,
          cause: error,
        }),
      );
      return;
    }
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.unauthorized = undefined;
    this.heldFalError = undefined;
    this.sentOnSocket = undefined;
    let decoding: Promise<void> | undefined;
    socket.addEventListener("open", () => {
      if (generation !== this.generation) return;
      this.onSocketOpen(socket, url);
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      if (generation !== this.generation) return;
      const data = event.data as unknown;
      if (decoding) {
        // An async decodeMessage is in progress: keep the order.
        decoding = decoding.then(() => this.onFrame(data, generation));
      } else {
        const pendingDecode = this.onFrame(data, generation);
        if (pendingDecode) decoding = pendingDecode.then(() => (decoding = undefined));
      }
    });
    // A socket ends once: by its close event, or by an error before it opened (Node 20's
    // WebSocket fires no close event when the connection cannot be made).
    let ended = false;
    const ending = (code: number, reason: string) => {
      if (ended || generation !== this.generation) return;
      ended = true;
      const finish = () => {
        if (generation === this.generation) this.onSocketClose(code, reason);
      };
      if (decoding) decoding.then(finish, finish);
      else finish();
    };
    socket.addEventListener("close", (event: CloseEvent) => ending(event.code, event.reason ?? ""));
    socket.addEventListener("error", () => {
      if (this.current === "open" && this.socket === socket) return; // its close event follows
      ending(ABNORMAL, "");
      try {
        socket.close();
      } catch {
        // Already failed: nothing to close.
      }
    });
  }

  private onSocketOpen(socket: WebSocket, url: string): void {
    this.current = "open";
    this.everOpened = true;
    this.reportedFailure = false;
    this.openedProtocol = socket.protocol ?? "";
    this.scheduleTokenRefresh();
    this.safely(() => this.options.onOpen?.({ url: redactToken(url), protocol: this.openedProtocol }));
    if (this.hasPending && this.current === "open") this.flush();
  }

  // --- frames in -------------------------------------------------------------------------------

  private onFrame(data: unknown, generation: number): Promise<void> | undefined {
    let decoded: unknown;
    try {
      if (typeof data === "string") {
        decoded = JSON.parse(data);
      } else {
        decoded = this.decode(
          data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data as ArrayBufferLike),
        );
      }
    } catch (error) {
      this.report(
        new RealtimeError({
          code: ErrorCode.INVALID_OUTPUT,
          reason: `a message from the runner could not be decoded: ${describe(error)}; check that the codec matches the app's`,
          cause: error,
        }),
      );
      return undefined;
    }
    if (decoded instanceof Promise || (decoded && typeof (decoded as PromiseLike<unknown>).then === "function")) {
      return Promise.resolve(decoded).then(
        (value) => {
          if (generation === this.generation) this.dispatch(value);
        },
        (error: unknown) => {
          if (generation === this.generation) {
            this.report(
              new RealtimeError({
                code: ErrorCode.INVALID_OUTPUT,
                reason: `decodeMessage failed: ${describe(error)}`,
                cause: error,
              }),
            );
          }
        },
      );
    }
    this.dispatch(decoded);
    return undefined;
  }

  private dispatch(message: unknown): void {
    if (this.heldFalError) this.reportHeldFalError();
    if (message !== null && typeof message === "object" && !(message instanceof Uint8Array)) {
      const fields = message as Record<string, unknown>;
      if (fields.type === "x-fal-message") {
        this.onControl(fields);
        return;
      }
      if (fields.type === "x-fal-error") {
        this.onFalError(fields);
        return;
      }
      if (fields.status === "error" && fields.error === "Unauthorized") {
        // The runner closes with 1008 next: the close decides what to do.
        this.unauthorized = { reason: String(fields.reason ?? "the token was refused"), body: message };
        return;
      }
    }
    this.attempts = 0;
    this.retriedUnauthorized = false;
    this.safely(() => this.options.onResult?.(message as Output));
  }

  private onControl(message: Record<string, unknown>): void {
    if (message.action === "cold_start" && typeof message.cold_start === "number") {
      this.cold = message.cold_start;
      const seconds = message.cold_start;
      this.safely(() => this.options.onColdStart?.(seconds));
    } else if (message.action === "timings" && typeof message.timing === "number") {
      const seconds = message.timing;
      this.safely(() => this.options.onTimings?.(seconds));
    }
  }

  private onFalError(message: Record<string, unknown>): void {
    const error = String(message.error ?? "ERROR");
    const reason = String(message.reason ?? "");
    if (error === "TIMEOUT") {
      // The session was idle for the app's session timeout; the runner closes it
      // normally next.  Not an error (as @fal-ai/client): the next send() reconnects.
      return;
    }
    const held = { error, reason, body: message };
    if (SESSION_ERRORS.has(error)) {
      this.report(falError(held));
    } else {
      // Not a session error: a refusal ("Not Found", "Bad Request"), whose close (4000 +
      // status) follows; reported once, by the close, or by the next message if none.
      this.heldFalError = held;
    }
  }

  /** An x-fal-error held for the close that did not come: report it as it is. */
  private reportHeldFalError(): void {
    const held = this.heldFalError;
    this.heldFalError = undefined;
    if (held) this.report(falError(held));
  }

  // --- closes ------------------------------------------------------------------------------------

  private onSocketClose(code: number, reason: string): void {
    this.socket = undefined;
    this.clearThrottle();
    const wasOpen = this.current === "open";
    const held = this.heldFalError;
    this.heldFalError = undefined;
    if (code >= 4000 && code < 5000) {
      // A refusal: retrying cannot help.  The x-fal-error before it says why.
      const refusal = new RefusedError(
        held?.error ?? `refused (${code})`,
        held?.reason || reason || `the runner refused the connection with close code ${code}`,
        code,
        held?.body,
      );
      this.refusal = refusal;
      this.current = "refused";
      this.hasPending = false;
      this.pending = undefined;
      this.clearTimers();
      this.report(refusal);
      this.closed(code, reason, false);
      this.end(refusal);
      return;
    }
    if (held) this.report(falError(held));
    if (this.unauthorized) {
      const { reason: why, body } = this.unauthorized;
      this.unauthorized = undefined;
      this.token = undefined;
      this.clearRefresh();
      if (!this.retriedUnauthorized) {
        // The token may have expired or been revoked: fetch a fresh one and try once more,
        // with the input the refused session swallowed unless a newer one is waiting.
        this.retriedUnauthorized = true;
        if (!this.hasPending && this.sentOnSocket) {
          this.pending = this.sentOnSocket.input;
          this.hasPending = true;
        }
        this.current = "connecting";
        this.closed(code, reason, true);
        void this.dial();
        return;
      }
      this.retriedUnauthorized = false;
      const error = new UnauthorizedError(
        `${why}; a freshly fetched token was refused too: check that the token provider mints tokens for ${this.endpoint.appId}`,
        body,
      );
      this.report(error);
      this.closed(code, reason, false);
      this.stop(error);
      return;
    }
    if (code === NORMAL) {
      // The runner ended the session (idle TIMEOUT, or it is done): connect again on demand.
      this.clearRefresh();
      this.closed(code, reason, false);
      this.stop(undefined);
      if (this.hasPending && this.current === "idle") this.connectNow();
      return;
    }
    const error = wasOpen
      ? new ConnectionClosedError(code, closeReason(code, reason))
      : new RealtimeError({
          code: ErrorCode.CONNECTION_FAILED,
          reason: `cannot connect to ${this.base}${this.endpoint.urlPath}: ${closeReason(code, reason)}`,
          closeCode: code,
        });
    if (code === POLICY || code === 1009 || code === 1003 || code === 1007) {
      // The runner would close the same way again: report it, reconnect on the next send().
      this.report(error);
      this.closed(code, reason, false);
      this.stop(error);
      return;
    }
    this.failed(code, error, reason);
  }

  /** A connection attempt or a session failed: report once per run of failures, back off. */
  private failed(code: number, error: RealtimeError, reason = error.reason): void {
    const options = this.reconnectOptions;
    if (this.oneShot && !this.everOpened) {
      // open(): the first connection failing rejects it, at once.
      this.report(error);
      this.closed(code, reason, false);
      this.stop(error);
      return;
    }
    if (!this.reportedFailure) {
      this.reportedFailure = true;
      this.report(error);
    }
    if (options === false || this.attempts >= options.maxAttempts) {
      this.attempts = 0;
      this.reportedFailure = false;
      let final = error;
      if (options !== false) {
        final = new RealtimeError({
          code: ErrorCode.CONNECTION_FAILED,
          reason: `gave up after ${options.maxAttempts} reconnect attempts (last: ${error.reason}); check that the runner at ${this.base} is up; the next send() tries again`,
          closeCode: code,
        });
        this.report(final);
      }
      this.closed(code, reason, false);
      this.stop(final);
      return;
    }
    this.attempts += 1;
    const delayMs = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (this.attempts - 1));
    this.current = "reconnecting";
    this.closed(code, reason, true);
    this.safely(() => this.options.onReconnect?.({ attempt: this.attempts, delayMs, code, reason: error.reason }));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.current !== "reconnecting") return;
      this.current = "connecting";
      void this.dial();
    }, delayMs);
  }

  /** Failed before a socket existed (no WebSocket class, a URL it rejects). */
  private giveUp(error: RealtimeError): void {
    this.socket = undefined;
    this.report(error);
    this.stop(error);
  }

  /**
   * No session and none on the way: idle (the next send() connects), or, for open(),
   * the end of the connection.
   */
  private stop(error: RealtimeError | undefined): void {
    if (!this.oneShot) {
      this.current = "idle";
      return;
    }
    this.current = "closed";
    this.hasPending = false;
    this.pending = undefined;
    this.clearTimers();
    this.end(error);
  }

  private closed(code: number, reason: string, reconnecting: boolean): void {
    this.safely(() => this.options.onClose?.({ code, reason, intentional: false, reconnecting }));
  }

  private end(error: RealtimeError | undefined): void {
    const onEnd = this.onEnd;
    this.onEnd = undefined;
    onEnd?.(error);
  }

  // --- frames out: the keep-latest throttle ------------------------------------------------------

  private scheduleFlush(): void {
    if (this.throttleTimer !== undefined) return; // the trailing send takes the latest input
    const wait = this.lastSentAt + this.throttleMs - now();
    if (wait <= 0) {
      this.flush();
    } else {
      this.throttleTimer = setTimeout(() => {
        this.throttleTimer = undefined;
        if (this.current === "open" && this.hasPending) this.flush();
      }, wait);
    }
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== socket.OPEN) return;
    const input = this.pending;
    this.pending = undefined;
    this.hasPending = false;
    let frame: Uint8Array | string;
    try {
      frame = this.encode(input);
    } catch (error) {
      this.report(
        new RealtimeError({
          code: ErrorCode.INVALID_INPUT,
          reason: `the input could not be encoded: ${describe(error)}; send plain objects, strings, numbers and bytes`,
          cause: error,
        }),
      );
      return;
    }
    socket.send(frame);
    this.lastSentAt = now();
    this.sentOnSocket = { input };
  }

  // --- tokens ----------------------------------------------------------------------------------

  private async currentToken(): Promise<string | undefined> {
    if (!this.tokenProvider) return undefined;
    const held = this.token;
    if (held && (held.refreshAt === undefined || now() < held.refreshAt)) return held.value;
    return this.fetchToken();
  }

  private fetchToken(): Promise<string | undefined> {
    if (this.tokenFetch) return this.tokenFetch;
    const provider = this.tokenProvider;
    if (!provider) return Promise.resolve(undefined);
    const app = this.endpoint.endpointPath;
    const fetching = (async () => {
      try {
        const value = await provider(app);
        if (typeof value !== "string" || value === "") {
          throw new Error(`it returned ${JSON.stringify(value)} instead of a token string`);
        }
        this.token = holdToken(value, this.options.tokenExpirationSeconds, now());
        return value;
      } finally {
        this.tokenFetch = undefined;
      }
    })();
    this.tokenFetch = fetching;
    return fetching;
  }

  /** While open, fetch the next token at 90% of the current one's life (for the next dial). */
  private scheduleTokenRefresh(delayMs?: number): void {
    this.clearRefresh();
    const held = this.token;
    if (!held || held.refreshAt === undefined || held.lifetimeMs === undefined) return;
    // After a failed refresh, try again after 5% of the lifetime (as @fal-ai/client).
    const retryMs = Math.round(held.lifetimeMs * 0.05);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.current !== "open") return;
      this.fetchToken().then(
        () => this.current === "open" && this.scheduleTokenRefresh(),
        () => this.current === "open" && this.scheduleTokenRefresh(retryMs),
      );
    }, delayMs ?? Math.max(0, held.refreshAt - now()));
  }

  // --- housekeeping ------------------------------------------------------------------------------

  private report(error: RealtimeError): void {
    this.safely(() => this.options.onError?.(error));
  }

  /**
   * A callback's exception must not break the connection: it is reported as an event
   * handler's would be (the browser's reportError; console.error where there is none).
   */
  private safely(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      const reportError = (globalThis as { reportError?: (error: unknown) => void }).reportError;
      if (typeof reportError === "function") reportError(error);
      else console.error("@warmwire/client: a callback threw", error);
    }
  }

  private clearThrottle(): void {
    clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
  }

  private clearRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private clearTimers(): void {
    this.clearThrottle();
    this.clearRefresh();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }
}

const now = (): number => Date.now();

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asFailure(error: unknown): RealtimeError {
  return new RealtimeError({ code: ErrorCode.CONNECTION_FAILED, reason: describe(error), cause: error });
}

function closeReason(code: number, reason: string): string {
  const known: Record<number, string> = {
    1001: "the runner is going away (draining)",
    1005: "closed without a status",
    1006: "the connection was lost or could not be made (runner unreachable, or the upgrade refused)",
    1008: "the runner refused it (policy)",
    1009: "a message was too big for the runner",
    1011: "the runner hit an internal error",
    1012: "the runner is restarting",
    1013: "the runner is overloaded, try again later",
  };
  const what = known[code] ?? "closed abnormally";
  return `${what} (close code ${code}${reason ? `: ${reason}` : ""})`;
}

