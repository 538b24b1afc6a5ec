/**
 * The promise and async-iterator form: `const conn = await realtime.open(app, options)`,
 * `conn.send(input)`, `for await (const result of conn)`.
 *
 * The same connection underneath (tokens, reconnects after abnormal closes), with these
 * differences: it dials at once and `open()` resolves when the first session is open (it
 * rejects if that fails: unreachable, no token); a refusal or an Unauthorized the runner
 * sends once open (browsers cannot read HTTP refusals) is thrown by the first read; nothing is throttled unless
 * `throttleInterval` says so; results queue up until read.  Iteration ends when the
 * connection ends: `close()`, or the runner closing the session normally (e.g. its idle
 * TIMEOUT).  An x-fal-error (`INTERNAL_ERROR`, `INVALID_INPUT`) is thrown by the next read;
 * reading again goes on with the next result.  A refusal, a final Unauthorized or giving up
 * reconnecting is thrown by the next read and ends the iteration.
 */
import { Connection, type ConnectOptions, type ConnectionState } from "./connection.js";
import { RealtimeError } from "./errors.js";

/** What `await realtime.open()` returns. */
export interface OpenConnection<Input = any, Output = any> extends AsyncIterable<Output> {
  /** Send an input; throws once the connection has ended. */
  send(input: Input): void;
  /** The next result; `undefined` once the connection has ended normally. */
  recv(): Promise<Output | undefined>;
  /** End the connection: pending reads return `undefined`. */
  close(): void;
  readonly state: ConnectionState;
  readonly coldStart: number | undefined;
  readonly protocol: string;
}

type Item<Output> = { result: Output } | { error: RealtimeError };

export function openConnection<Input, Output>(
  build: (options: ConnectOptions<Output>) => Connection<Input, Output>,
  options: ConnectOptions<Output>,
): Promise<OpenConnection<Input, Output>> {
  const queue: Item<Output>[] = [];
  const readers: Array<{ resolve: (item: Item<Output> | undefined) => void }> = [];
  let ended = false;
  let endError: RealtimeError | undefined;

  const push = (item: Item<Output>) => {
    const reader = readers.shift();
    if (reader) reader.resolve(item);
    else queue.push(item);
  };

  return new Promise((resolve, reject) => {
    let opened = false;
    const connection = build({
      throttleInterval: 0,
      ...options,
      onResult: (result) => {
        push({ result });
        options.onResult?.(result);
      },
      onError: (error) => {
        // Session errors reach the reader; connection trouble only the callback, since
        // a reconnect follows (the end, if it comes, is thrown by the read).
        if (opened && !ended && error.body !== undefined && error.closeCode === undefined) {
          push({ error });
        }
        options.onError?.(error);
      },
      onOpen: (info) => {
        if (!opened) {
          opened = true;
          resolve(handle);
        }
        options.onOpen?.(info);
      },
    });
    connection.oneShot = true;
    connection.onEnd = (error) => {
      ended = true;
      endError = error;
      if (!opened) {
        reject(error ?? new RealtimeError({ code: "CLOSED", reason: "closed before it opened" }));
        return;
      }
      if (error) push({ error });
      for (const reader of readers.splice(0)) reader.resolve(undefined);
    };

    const next = (): Promise<Item<Output> | undefined> => {
      const item = queue.shift();
      if (item) return Promise.resolve(item);
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolveRead) => readers.push({ resolve: resolveRead }));
    };

    const recv = async (): Promise<Output | undefined> => {
      const item = await next();
      if (item === undefined) return undefined;
      if ("error" in item) throw item.error;
      return item.result;
    };

    const handle: OpenConnection<Input, Output> = {
      send: (input) => {
        if (ended && endError) throw endError;
        connection.send(input);
      },
      recv,
      close: () => connection.close(),
      get state() {
        return connection.state;
      },
      get coldStart() {
        return connection.coldStart;
      },
      get protocol() {
        return connection.protocol;
      },
      [Symbol.asyncIterator]() {
        return {
          next: async (): Promise<IteratorResult<Output>> => {
            const result = await recv();
            return result === undefined && ended && queue.length === 0
              ? { done: true, value: undefined }
              : { done: false, value: result as Output };
          },
          // Leaving a for-await loop does not close the connection: close() does.
          return: async (): Promise<IteratorResult<Output>> => ({ done: true, value: undefined }),
        };
      },
    };
    connection.connectNow();
  });
}
