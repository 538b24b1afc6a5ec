/**
 * App ids and the URL a connection dials, as the runner reads them:
 * `ws[s]://HOST/{owner}/{alias}{path}?fal_jwt_token=T&max_buffering=N`.
 */
import { ConfigurationError } from "./errors.js";

const NAMESPACES = ["workflows", "comfy"];
const DEFAULT_PATH = "/realtime";

/** An app id taken apart: `owner/alias`, the path to dial, the alias tokens are minted for. */
export interface Endpoint {
  /** `owner/alias` (or `namespace/owner/alias`), plus any path the id carried. */
  readonly appId: string;
  readonly alias: string;
  /** The path after the app id, `/realtime` unless the id or the `path` option says otherwise. */
  readonly path: string;
}

/** Parse `app` (`owner/alias[/path]`, or the legacy `123-alias`) and apply `path`. */
export function parseEndpoint(app: string, path?: string): Endpoint {
  if (typeof app !== "string" || app.trim() === "") {
    throw new ConfigurationError("the app id is empty: pass one like 'acme/stylize'");
  }
  let id = app.replace(/^\/+|\/+$/g, "");
  if (!id.includes("/")) {
    const legacy = /^([0-9]+)-([a-zA-Z0-9-]+)$/.exec(id);
    if (!legacy) {
      throw new ConfigurationError(
        `invalid app id ${JSON.stringify(app)}: write it as 'owner/alias' (e.g. 'acme/stylize')`,
      );
    }
    id = `${legacy[1]}/${legacy[2]}`;
  }
  const parts = id.split("/");
  const aliasIndex = NAMESPACES.includes(parts[0] ?? "") ? 2 : 1;
  const alias = parts[aliasIndex];
  if (!alias || parts.some((part) => part === "")) {
    throw new ConfigurationError(
      `invalid app id ${JSON.stringify(app)}: write it as 'owner/alias' (e.g. 'acme/stylize')`,
    );
  }
  let resolvedPath: string;
  if (path) {
    resolvedPath = `/${path.replace(/^\/+/, "")}`;
  } else if (id.endsWith(DEFAULT_PATH) && parts.length > aliasIndex + 1) {
    resolvedPath = "";
  } else {
    resolvedPath = DEFAULT_PATH;
  }
  return { appId: id, alias, path: resolvedPath };
}

/** The runner's base URL as `ws:`/`wss:`, without a trailing slash; `http(s):` is accepted. */
export function websocketBase(url: string | undefined): string {
  if (!url) {
    throw new ConfigurationError(
      "no runner URL: pass url, e.g. realtime.connect(app, { url: 'wss://runner.example.com', ... })",
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(
      `the runner URL ${JSON.stringify(url)} is not a URL: write it as 'wss://host[:port]' or 'ws://127.0.0.1:8080'`,
    );
  }
  const scheme = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" }[parsed.protocol];
  if (!scheme) {
    throw new ConfigurationError(
      `the runner URL ${JSON.stringify(url)} has the scheme ${parsed.protocol}: use ws://, wss://, http:// or https://`,
    );
  }
  if (parsed.search || parsed.hash) {
    throw new ConfigurationError(
      `the runner URL ${JSON.stringify(url)} has a query or fragment: pass only the base (e.g. 'wss://host/prefix')`,
    );
  }
  return `${scheme}//${parsed.host}${parsed.pathname.replace(/\/+$/, "")}`;
}

/** `http(s)://` for the same base: where the token service answers. */
export function httpBase(url: string): string {
  return websocketBase(url).replace(/^ws/, "http");
}

/** `maxBuffering` as the runner accepts it: an integer 1..60, or undefined (the app's own). */
export function checkMaxBuffering(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > 60) {
    throw new ConfigurationError(
      `maxBuffering ${JSON.stringify(value)} is out of range: pass an integer from 1 to 60 (2 suits a camera), or leave it out for the app's own`,
    );
  }
  return value;
}

/** The URL one connection dials. */
export function connectionUrl(
  base: string,
  endpoint: Endpoint,
  token: string | undefined,
  maxBuffering: number | undefined,
): string {
  const query = new URLSearchParams();
  if (token !== undefined) query.set("fal_jwt_token", token);
  if (maxBuffering !== undefined) query.set("max_buffering", String(maxBuffering));
  const search = query.toString();
  return `${base}/${endpoint.appId}${endpoint.path}${search ? `?${search}` : ""}`;
}

/** The URL without its token, for logs and `onOpen`. */
export function redactToken(url: string): string {
  return url.replace(/([?&])fal_jwt_token=[^&]*&?/, "$1").replace(/[?&]$/, "");
}
