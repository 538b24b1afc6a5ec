// @fal-ai/client in Node.js against a warmwire runner: prints one JSON line per scenario.
//
// Environment: INTEROP_RUNNER_WS (ws://127.0.0.1:PORT), INTEROP_RUNNER_HTTP,
// INTEROP_KEY (the API key; a Node backend may hold it), INTEROP_STALE_TOKEN.
import { createRequire } from "node:module";

import { installRunnerRedirect } from "./redirect.js";
import { runScenarios } from "./scenarios.js";

const require = createRequire(import.meta.url);
const { fal } = require("@fal-ai/client");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const runnerHttp = env("INTEROP_RUNNER_HTTP");
const wire = installRunnerRedirect(globalThis, env("INTEROP_RUNNER_WS"));

// Server side, the token provider mints at the token service with the API key,
// the same request @fal-ai/client's own getTemporaryAuthToken makes.
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

const reports = await runScenarios({
  fal,
  tokenProvider,
  staleToken: env("INTEROP_STALE_TOKEN"),
  wire,
});
const out = reports.map((r) => JSON.stringify(r)).join("\n") + "\n";
// Exit once stdout is flushed: a pipe write is asynchronous in Node.
process.stdout.write(out, () => process.exit(0));
