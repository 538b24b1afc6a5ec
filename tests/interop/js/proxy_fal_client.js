// @fal-ai/client's own proxyUrl flow, in Node, through warmwire's TokenProxy.
//
// No tokenProvider: the client asks fal's token URL (https://rest.fal.ai/tokens/) for a
// token, through the proxy (x-fal-target-url names fal's URL).  The proxy rewrites it to
// the configured token service, or refuses it; its authorize hook may refuse the request.
// Prints one JSON line per scenario: the onResult/onError calls, and each HTTP exchange
// the client made (URL, target header, body, status, answer).
//
// Environment: PROXY_RUNNER_WS (ws://127.0.0.1:PORT), PROXY_URL (a proxy with token_url),
// PROXY_URL_WITHOUT_TOKEN_URL (a proxy that only knows allowed hosts).
import { createRequire } from "node:module";

import { installRunnerRedirect } from "./redirect.js";

const require = createRequire(import.meta.url);
const { createFalClient } = require("@fal-ai/client");

const WAIT_MS = 10000;

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

installRunnerRedirect(globalThis, env("PROXY_RUNNER_WS"));

// Record what the client's requests got back (the platform's fetch does the work).
const exchanges = [];
const nativeFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  const exchange = {
    url: String(input),
    target: headers.get("x-fal-target-url"),
    body: typeof init.body === "string" ? JSON.parse(init.body) : null,
  };
  try {
    const response = await nativeFetch(input, init);
    exchange.status = response.status;
    exchange.answer = await response.clone().text();
    return response;
  } catch (error) {
    exchange.status = 0;
    exchange.answer = String(error?.cause ?? error);
    throw error;
  } finally {
    exchanges.push(exchange);
  }
};

async function until(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function scenario(name, proxyUrl, app) {
  // In Node the client proxies only when told to ("always"); in a browser it does by default.
  const fal = createFalClient({
    proxyUrl: { url: proxyUrl, when: "always" },
    suppressLocalCredentialsWarning: true,
  });
  const first = exchanges.length;
  const events = [];
  const conn = fal.realtime.connect(app, {
    onResult: (result) => events.push({ result }),
    onError: (error) => events.push({ error: String(error?.message ?? error) }),
  });
  const report = { scenario: name };
  try {
    conn.send({ n: 1 });
    await until(
      `${name}: a result or a refused token request`,
      () => events.length > 0 || exchanges.slice(first).some((e) => e.status !== 200),
    );
  } catch (error) {
    report.failure = String(error?.stack ?? error);
  }
  conn.close();
  return { ...report, events, exchanges: exchanges.slice(first) };
}

const reports = [
  await scenario("proxied", env("PROXY_URL"), "warmwire/echo"),
  await scenario("refused-by-hook", env("PROXY_URL"), "warmwire/private"),
  await scenario("no-token-url", env("PROXY_URL_WITHOUT_TOKEN_URL"), "warmwire/echo"),
];
const out = reports.map((r) => JSON.stringify(r)).join("\n") + "\n";
process.stdout.write(out, () => process.exit(0));
