/**
 * Codecs: how inputs become frames and frames become results.  The codec's name is
 * offered to the runner as the WebSocket subprotocol, so results come back in it.
 */
import { ConfigurationError } from "./errors.js";

/** A codec: `encode` returns bytes (a binary frame) or a string (a text frame). */
export interface Codec {
  /** The subprotocol offered to the runner (`msgpack`, `json`, or a runner plugin's name). */
  readonly name: string;
  encode(input: unknown): Uint8Array | string;
  decode(data: Uint8Array): unknown;
}

const utf8 = new TextDecoder();

/**
 * JSON text frames.  JSON has no bytes: send images as `data:` URIs (or base64 strings),
 * or use msgpack.
 */
export const jsonCodec: Codec = {
  name: "json",
  encode: (input) => JSON.stringify(input),
  decode: (data) => JSON.parse(utf8.decode(data)),
};

/** Codecs by name; `connect({codec})` looks names up here. */
export type CodecTable = Readonly<Record<string, Codec>>;

export function resolveCodec(
  codec: string | Codec | undefined,
  table: CodecTable,
  fallback: string,
): Codec {
  if (codec !== undefined && typeof codec !== "string") {
    if (typeof codec.encode !== "function" || typeof codec.decode !== "function" || !codec.name) {
      throw new ConfigurationError(
        "codec must be a name ('msgpack', 'json') or an object with name, encode(input) and decode(bytes)",
      );
    }
    return codec;
  }
  const name = codec ?? fallback;
  const found = table[name];
  if (!found) {
    const known = Object.keys(table).join(", ");
    throw new ConfigurationError(
      `unknown codec ${JSON.stringify(name)}: this build knows ${known}; pass a Codec object for another (its name is offered to the runner)`,
    );
  }
  return found;
}
