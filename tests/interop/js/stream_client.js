// @fal-ai/client's fal.stream in Node.js against a warmwire runner: one JSON line per scenario
// (js/stream_scenarios.js).
//
// Environment: INTEROP_RUNNER_HTTP (http://127.0.0.1:PORT), INTEROP_KEY (the API key; a
// Node backend may hold it), INTEROP_OTHER_APP_TOKEN (a valid token for another app).
import { createRequire } from "node:module";

import { runStreamScenarios } from "./stream_scenarios.js";

const require = createRequire(import.meta.url);
const { fal } = require("@fal-ai/client");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const runnerHttp = env("INTEROP_RUNNER_HTTP");

// Server side, the token provider mints at the token service with the API key.
async function tokenProvider(app) {
  const alias = app.split("/")[1];
  const response = await fetch(`${runnerHttp}/tokens/`, {
    method: "POST",
    headers: { authorization: `Key ${env("INTEROP_KEY")}`, "content-type": "application/json" },
    body: JSON.stringify({ allowed_apps: [alias], token_expiration: 120 }),
  });
  if (!response.ok) throw new Error(`token service answered ${response.status}`);
  return await response.json();
}

const reports = await runStreamScenarios({
  fal,
  runnerHttp,
  tokenProvider,
  key: env("INTEROP_KEY"),
  otherAppToken: env("INTEROP_OTHER_APP_TOKEN"),
});
const out = reports.map((r) => JSON.stringify(r)).join("\n") + "\n";
// Exit once stdout is flushed: a pipe write is asynchronous in Node.
process.stdout.write(out, () => process.exit(0));
