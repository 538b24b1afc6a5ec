/**
 * App ids and the URL a connection dials, as the runner reads them:
 * `ws[s]://HOST/{owner}/{alias}{path}?fal_jwt_token=T&max_buffering=N`.
 */
import { ConfigurationError } from "./errors.js";

const NAMESPACES = ["workflows", "comfy"];
const DEFAULT_PATH = "/realtime";
const SEGMENT = /^[A-Za-z0-9._~-]+$/;
const LEGACY_ID = /^([0-9]+)-([a-zA-Z0-9-]+)$/;

/** An app id taken apart, as the runner (and warmwire's Python client) reads it. */
export interface Endpoint {
  /** `owner/alias` (or `namespace/owner/alias`). */
  readonly appId: string;
  /** What tokens are minted for (`allowed_apps`). */
  readonly alias: string;
  /** The request path on the runner: `/owner/alias[/sub]/realtime`. */
  readonly urlPath: string;
  /** The same without its leading slash: what token providers receive. */
  readonly endpointPath: string;
}

// "." and ".." would be resolved away by URL normalisation and land on another app's path.
const isSegment = (text: string): boolean => SEGMENT.test(text) && text !== "." && text !== "..";

function badId(app: string): ConfigurationError {
  return new ConfigurationError(
    `invalid app id ${JSON.stringify(app)}: use 'owner/alias' (optionally followed by '/sub/path'), ` +
      "'workflows/owner/alias', 'comfy/owner/alias', or the legacy '123-alias'",
  );
}

/** `path` with one leading and no trailing slash; its segments checked. */
export function normalizePath(path: string): string {
  const stripped = path.replace(/^\/+|\/+$/g, "");
  if (!stripped) {
    throw new ConfigurationError(`invalid path ${JSON.stringify(path)}: give one such as '/realtime'`);
  }
  for (const segment of stripped.split("/")) {
    if (!isSegment(segment)) {
      throw new ConfigurationError(
        `invalid path ${JSON.stringify(path)}: segment ${JSON.stringify(segment)} may only use letters, digits and '._~-' (and may not be '.' or '..')`,
      );
    }
  }
  return `/${stripped}`;
}

/**
 * Parse `app` (`owner/alias[/sub/path]`, `workflows/owner/alias`, `comfy/owner/alias`, or
 * the legacy `123-alias`) with the endpoint `path` (default `/realtime`; an id may already
 * end with it, as in `acme/stylize/realtime`).
 */
export function parseEndpoint(app: string, path?: string): Endpoint {
  if (typeof app !== "string") throw badId(String(app));
  const normPath = normalizePath(path ?? DEFAULT_PATH);
  const text = app.trim().replace(/^\/+|\/+$/g, "");
  let parts = text ? text.split("/") : [];
  if (parts.length === 1) {
    const legacy = LEGACY_ID.exec(parts[0] ?? "");
    if (!legacy) throw badId(app);
    parts = [legacy[1] as string, legacy[2] as string];
  }
  let namespace: string | undefined;
  if (parts.length > 0 && NAMESPACES.includes(parts[0] as string)) {
    namespace = parts[0];
    parts = parts.slice(1);
  }
  if (parts.length < 2 || !parts.every(isSegment)) throw badId(app);
  const [owner, alias, ...rest] = parts as [string, string, ...string[]];
  const pathParts = normPath.slice(1).split("/");
  let sub = rest;
  if (rest.slice(-pathParts.length).join("/") === pathParts.join("/")) {
    sub = rest.slice(0, rest.length - pathParts.length);
  }
  const appId = `${namespace ? `${namespace}/` : ""}${owner}/${alias}`;
  const urlPath = `/${appId}${sub.length ? `/${sub.join("/")}` : ""}${normPath}`;
  return { appId, alias, urlPath, endpointPath: urlPath.slice(1) };
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
  return `${base}${endpoint.urlPath}${search ? `?${search}` : ""}`;
}

/** The URL without its token, for logs and `onOpen`. */
export function redactToken(url: string): string {
  return url.replace(/([?&])fal_jwt_token=[^&]*&?/, "$1").replace(/[?&]$/, "");
}
