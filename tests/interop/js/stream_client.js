// @fal-ai/client's fal.stream in Node.js against a warmwire runner: one JSON line per scenario.
//
// Environment: INTEROP_RUNNER_HTTP (http://127.0.0.1:PORT), INTEROP_KEY (the API key; a
// Node backend may hold it), INTEROP_OTHER_APP_TOKEN (a valid token for another app).
//
// The one thing configured: the fetch @fal-ai/client uses (fal.config({fetch})), which
// sends https://fal.run/... to the runner and records what the client asked for.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { fal } = require("@fal-ai/client");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const APP = "interop/steps";
const runnerHttp = env("INTEROP_RUNNER_HTTP");
let fetched = [];

function redirectingFetch(input, init) {
  const requested = new URL(String(input));
  fetched.push(String(input).replace(/fal_jwt_token=[^&]+/, "fal_jwt_token=<jwt>"));
  const target =
    requested.host === "fal.run"
      ? `${runnerHttp}${requested.pathname}${requested.search}`
      : String(input);
  return fetch(target, init);
}

// Server side, the token provider mints at the token service with the API key.
async function mintToken(app) {
  const alias = app.split("/")[1];
  const response = await fetch(`${runnerHttp}/tokens/`, {
    method: "POST",
    headers: { authorization: `Key ${env("INTEROP_KEY")}`, "content-type": "application/json" },
    body: JSON.stringify({ allowed_apps: [alias], token_expiration: 120 }),
  });
  if (!response.ok) throw new Error(`token service answered ${response.status}`);
  return await response.json();
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return { events, done: await stream.done() };
}

const scenarios = {
  async "server-key"() {
    fal.config({ credentials: env("INTEROP_KEY"), fetch: redirectingFetch });
    return await collect(await fal.stream(APP, { input: { n: 3 } }));
  },
  async "client-token"() {
    fal.config({ fetch: redirectingFetch });
    const asked = [];
    const tokenProvider = (app) => {
      asked.push(app);
      return mintToken(app);
    };
    const stream = await fal.stream(APP, {
      input: { n: 3 },
      connectionMode: "client",
      tokenProvider,
    });
    return { ...(await collect(stream)), asked };
  },
  async "error-event"() {
    fal.config({ credentials: env("INTEROP_KEY"), fetch: redirectingFetch });
    return await collect(await fal.stream(APP, { input: { n: 3, fail_at: 1 } }));
  },
  async "wrong-app-token"() {
    fal.config({ fetch: redirectingFetch });
    const stream = await fal.stream(APP, {
      input: { n: 1 },
      connectionMode: "client",
      tokenProvider: async () => env("INTEROP_OTHER_APP_TOKEN"),
    });
    const events = [];
    stream.on("data", (event) => events.push(event));
    try {
      await stream.done();
      return { events, error: null };
    } catch (error) {
      return { events, error: { status: error.status, body: error.body ?? null } };
    }
  },
  async abort() {
    fal.config({ credentials: env("INTEROP_KEY"), fetch: redirectingFetch });
    const stream = await fal.stream(APP, { input: { n: 3, hold: true, tag: "js-abort" } });
    const events = [];
    await new Promise((resolve) => {
      stream.on("data", (event) => {
        events.push(event);
        stream.abort();
        resolve();
      });
    });
    await stream.done();
    return { events };
  },
};

const lines = [];
for (const [scenario, run] of Object.entries(scenarios)) {
  fetched = [];
  try {
    const report = await run();
    lines.push(JSON.stringify({ scenario, ...report, fetched }));
  } catch (error) {
    lines.push(JSON.stringify({ scenario, failure: String(error?.stack ?? error) }));
  }
}
// Exit once stdout is flushed: a pipe write is asynchronous in Node.
process.stdout.write(lines.join("\n") + "\n", () => process.exit(0));
