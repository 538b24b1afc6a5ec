/**
 * Tokens: who fetches them, how long they live, and a provider for server-side code that
 * holds an API key.
 */
import { ConfigurationError } from "./errors.js";
import { httpBase, parseEndpoint } from "./endpoint.js";

/**
 * Returns a short-lived token for `app` (`owner/alias/path`, as `@fal-ai/client` passes it).
 * In a browser: ask your backend, which holds the key (never put a key in a page).
 */
export type TokenProvider = (app: string) => Promise<string> | string;

/** A token and when to fetch the next one. */
export interface HeldToken {
  readonly value: string;
  /** `Date.now()` at which to refresh (90% of its lifetime), or undefined when unknown. */
  readonly refreshAt: number | undefined;
  /** Its lifetime in ms, when known (from `tokenExpirationSeconds` or the JWT's `exp - iat`). */
  readonly lifetimeMs: number | undefined;
}

/** The share of a token's lifetime after which a fresh one is fetched, as @fal-ai/client does. */
export const REFRESH_AT = 0.9;

export function holdToken(value: string, expirationSeconds: number | undefined, now: number): HeldToken {
  const seconds = expirationSeconds ?? jwtLifetimeSeconds(value);
  const lifetimeMs = seconds !== undefined && seconds > 0 ? seconds * 1000 : undefined;
  const refreshAt = lifetimeMs !== undefined ? now + Math.round(lifetimeMs * REFRESH_AT) : undefined;
  return { value, refreshAt, lifetimeMs };
}

/** `exp - iat` of a JWT, or undefined if `token` is not one (the runner decides validity). */
export function jwtLifetimeSeconds(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json = JSON.parse(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4))) as {
      exp?: unknown;
      iat?: unknown;
    };
    if (typeof json.exp === "number" && typeof json.iat === "number") return json.exp - json.iat;
  } catch {
    // Not a JWT we can read: no refresh unless tokenExpirationSeconds says when.
  }
  return undefined;
}

export interface KeyTokenProviderOptions {
  /** The runner (or token server): `wss://host`, `https://host`, ... */
  url: string;
  /** The API key, `key_id:key_secret`.  Server-side code only: never in a page. */
  credentials: string;
  /** Seconds each token lives (default 120). */
  expirationSeconds?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * A {@link TokenProvider} that mints tokens at the runner's token service with an API key:
 * `POST {url}/tokens/` with `Authorization: Key id:secret` and
 * `{"allowed_apps": [alias], "token_expiration": seconds}`.  For Node and other servers;
 * refused in a browser page, where the key would be public.
 */
export function keyTokenProvider(options: KeyTokenProviderOptions): TokenProvider {
  if (typeof window !== "undefined" && typeof document !== "undefined") {
    throw new ConfigurationError(
      "an API key in a browser page is readable by anyone who opens it: give connect() a " +
        "tokenProvider that asks your backend for a token instead",
    );
  }
  if (!/^[^:\s]+:\S+$/.test(options.credentials ?? "")) {
    throw new ConfigurationError("credentials must be an API key written 'key_id:key_secret'");
  }
  const endpoint = `${httpBase(options.url)}/tokens/`;
  const expiration = options.expirationSeconds ?? 120;
  const doFetch = options.fetch ?? fetch;
  return async (app: string) => {
    const alias = parseEndpoint(app).alias;
    const response = await doFetch(endpoint, {
      method: "POST",
      headers: { authorization: `Key ${options.credentials}`, "content-type": "application/json" },
      body: JSON.stringify({ allowed_apps: [alias], token_expiration: expiration }),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(
        `the token service at ${endpoint} answered ${response.status}: ${text.slice(0, 300)}` +
          (response.status === 401 ? " (check the API key)" : ""),
      );
    }
    const token = JSON.parse(text) as unknown;
    if (typeof token !== "string") {
      throw new Error(`the token service at ${endpoint} answered no token: ${text.slice(0, 300)}`);
    }
    return token;
  };
}
