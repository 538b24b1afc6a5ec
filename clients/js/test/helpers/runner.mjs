// A real `warmwire serve` for the client's tests, started the way a user starts one:
// `python -m warmwire.cli serve apps:JsClientEcho`, with a signing key (tokens) and an API key.
//
// Environment (tests/jsclient/test_node_client.py sets it; by hand, from the repository root:
//   PYTHON=.venv/bin/python PYTHONPATH=src:tests/jsclient npm test --prefix clients/js):
//   PYTHON      the interpreter with warmwire installed (default: python3)
//   PYTHONPATH  must reach warmwire's sources and tests/jsclient (the test app)
//   WARMWIRE_BACKEND  the runner's event loop, asyncio (default) or trio
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const APP = "jsclient/echo";
export const ALIAS = "echo";
export const KEY = "jstest:jstest-s3cret";
const PYTHON = process.env.PYTHON ?? "python3";
const URL_LINE = /^warmwire runner listening on (\S+)$/m;
const START_TIMEOUT_MS = 60_000;

/** Keys for runners that must accept each other's tokens (a restart on the same key). */
export function makeKeys() {
  const dir = mkdtempSync(join(tmpdir(), "warmwire-jsclient-"));
  const signingKey = join(dir, "signing.pem");
  const generated = spawnSync(PYTHON, ["-m", "warmwire.cli", "keys", "generate", signingKey], {
    encoding: "utf8",
  });
  if (generated.status !== 0) {
    throw new Error(`warmwire keys generate failed: ${generated.stderr}${generated.stdout}`);
  }
  const keyFile = join(dir, "keys.txt");
  writeFileSync(keyFile, `${KEY}\n`);
  return { dir, signingKey, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A free TCP port on loopback (for a runner that must come back on the same one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * `warmwire serve apps:JsClientEcho` on `port` (0: any), once it prints its URL.
 * Returns { url, httpUrl, port, output(), kill(signal), stop() }.
 */
export async function startRunner({ keys, port = 0, apps = ["apps:JsClientEcho"] }) {
  const args = [
    "-m", "warmwire.cli", "serve", ...apps,
    "--port", String(port),
    "--signing-key", keys.signingKey,
    "--key-file", keys.keyFile,
    "--log-level", "warning",
    "--backend", process.env.WARMWIRE_BACKEND || "asyncio",
  ];
  const child = spawn(PYTHON, args, {
    env: { ...process.env, PYTHONUNBUFFERED: "1", WARMWIRE_KEY: "", WARMWIRE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      output += chunk;
      const match = URL_LINE.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`warmwire serve exited (${code ?? signal}) before its URL:\n${output}`));
    });
  });
  return {
    url,
    httpUrl: url.replace(/^ws/, "http"),
    port: Number(new URL(url).port),
    output: () => output,
    /** Kill it (SIGKILL: a crash, nothing closed cleanly) and wait until it is gone. */
    async kill(signal = "SIGKILL") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    /** SIGTERM (a drain), then wait. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A token for `apps` from the runner's token service (what a backend's token route does). */
export async function mintToken(httpUrl, { apps = [ALIAS], seconds = 60 } = {}) {
  const response = await fetch(`${httpUrl}/tokens/`, {
    method: "POST",
    headers: { authorization: `Key ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ allowed_apps: apps, token_expiration: seconds }),
  });
  if (!response.ok) throw new Error(`POST /tokens/ answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** The runner's open sessions, from GET /ready. */
export async function sessions(httpUrl) {
  const response = await fetch(`${httpUrl}/ready`);
  return (await response.json()).sessions;
}
