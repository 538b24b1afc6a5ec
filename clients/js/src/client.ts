/** `realtime.connect()` and `realtime.open()` over a table of codecs. */
import { type Codec, type CodecTable, resolveCodec } from "./codecs.js";
import { Connection, type ConnectOptions, type RealtimeConnection } from "./connection.js";
import { type OpenConnection, openConnection } from "./open.js";

/** The client: the same two calls whichever codecs a build carries. */
export interface RealtimeClient {
  /**
   * A connection with callbacks, as `fal.realtime.connect`: lazy (it dials on the first
   * `send()`), throttled keep-latest, reconnecting.  Throws `ConfigurationError` for bad
   * options before any network I/O.
   */
  connect<Input = any, Output = any>(
    app: string,
    options: ConnectOptions<Output>,
  ): RealtimeConnection<Input>;
  /** A connection to `await` and iterate over; resolves once it is open. */
  open<Input = any, Output = any>(
    app: string,
    options: ConnectOptions<Output>,
  ): Promise<OpenConnection<Input, Output>>;
}

export function createRealtimeClient(codecs: CodecTable, defaultCodec: string): RealtimeClient {
  const build = <Input, Output>(app: string, options: ConnectOptions<Output>) =>
    new Connection<Input, Output>(app, options, resolveCodec(options?.codec, codecs, defaultCodec));
  return {
    connect: (app, options) => build(app, options),
    open: (app, options) => {
      try {
        return openConnection((merged) => build(app, merged), options);
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

export type { Codec };
