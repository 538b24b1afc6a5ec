// The package as npm would publish it: `npm pack`, installed into a throwaway project,
// imported from there (both entries), type-checked, and used against a real runner.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { APP, makeKeys, mintToken, startRunner } from "./helpers/runner.mjs";

const CLIENT = dirname(dirname(fileURLToPath(import.meta.url)));
const TSC = join(CLIENT, "node_modules", "typescript", "bin", "tsc");
let keys;
let runner;
let project;
let tarball;

before(async () => {
  keys = makeKeys();
  runner = await startRunner({ keys });
  project = mkdtempSync(join(tmpdir(), "warmwire-jsclient-pack-"));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", project], { cwd: CLIENT, encoding: "utf8" }),
  );
  tarball = packed[0];
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "throwaway", private: true, type: "module" }));
  execFileSync(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", join(project, tarball.filename)],
    { cwd: project, encoding: "utf8" },
  );
});

after(async () => {
  await runner?.stop();
  keys?.remove();
  if (project) rmSync(project, { recursive: true, force: true });
});

function node(args, env = {}) {
  return spawnSync(process.execPath, args, { cwd: project, encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
}

test("the tarball holds the built ESM, its type declarations and the sources, nothing else", () => {
  const files = tarball.files.map((f) => f.path);
  for (const needed of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/json.js", "dist/json.d.ts"]) {
    assert.ok(files.includes(needed), `${needed} missing from ${tarball.filename}: ${files}`);
  }
  assert.ok(files.every((f) => /^(package\.json|README\.md|dist\/|src\/)/.test(f)), `unexpected: ${files}`);
  const installed = readdirSync(join(project, "node_modules"));
  assert.deepEqual(installed.filter((n) => !n.startsWith(".")).sort(), ["@msgpack", "@warmwire"], "one runtime dependency");
});

test("installed, both entries import and a round trip works (global WebSocket)", () => {
  writeFileSync(
    join(project, "roundtrip.mjs"),
    `import { realtime, RealtimeError, keyTokenProvider } from "@warmwire/client";
import { realtime as jsonOnly } from "@warmwire/client/json";
const tokenProvider = keyTokenProvider({ url: process.env.RUNNER, credentials: process.env.KEY });
const out = {};
for (const [name, client] of [["msgpack", realtime], ["json", jsonOnly]]) {
  const conn = await client.open(process.env.APP, { url: process.env.RUNNER, tokenProvider });
  conn.send({ n: 1 });
  out[name] = { result: await conn.recv(), protocol: conn.protocol };
  conn.close();
}
out.errorClass = typeof RealtimeError;
console.log(JSON.stringify(out));
`,
  );
  const flags = typeof WebSocket === "function" && !process.execArgv.includes("--experimental-websocket")
    ? []
    : ["--experimental-websocket"];
  const run = node([...flags, "roundtrip.mjs"], { RUNNER: runner.url, KEY: "jstest:jstest-s3cret", APP });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.deepEqual(out.msgpack, { result: { n: 1, served_by: "warmwire" }, protocol: "msgpack" });
  assert.deepEqual(out.json, { result: { n: 1, served_by: "warmwire" }, protocol: "json" });
  assert.equal(out.errorClass, "function");
});

test("without a WebSocket anywhere, the error says what to do", { skip: typeof WebSocket === "function" && !process.execArgv.includes("--experimental-websocket") ? "this Node has a global WebSocket" : false }, () => {
  writeFileSync(
    join(project, "nowebsocket.mjs"),
    `import { realtime } from "@warmwire/client";
try {
  await realtime.open("${APP}", { url: "${runner.url}" });
  console.log("opened");
} catch (error) {
  console.log(error.reason ?? error.message);
}
`,
  );
  const run = node(["nowebsocket.mjs"]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /this runtime has no WebSocket: on Node 20 run node --experimental-websocket, or npm install ws, or pass one/);
});

test("its type declarations check a TypeScript consumer", async () => {
  const token = await mintToken(runner.httpUrl);
  writeFileSync(
    join(project, "consumer.ts"),
    `import { realtime, type ConnectOptions, type RealtimeConnection, RealtimeError } from "@warmwire/client";
import { realtime as jsonOnly, type OpenConnection } from "@warmwire/client/json";
type Out = { n: number };
const options: ConnectOptions<Out> = {
  url: "wss://runner.example.com",
  tokenProvider: async (app: string) => app + ${JSON.stringify(token.slice(0, 4))},
  tokenExpirationSeconds: 120,
  throttleInterval: 64,
  maxBuffering: 2,
  codec: "msgpack",
  onResult: (result: Out) => result.n.toFixed(),
  onError: (error: RealtimeError) => error.code + error.reason,
  onColdStart: (seconds: number) => seconds,
};
const conn: RealtimeConnection<{ n: number }> = realtime.connect<{ n: number }, Out>("acme/app", options);
conn.send({ n: 1 });
conn.close();
export async function iterate(): Promise<number> {
  const open: OpenConnection<{ n: number }, Out> = await jsonOnly.open("acme/app", { url: "ws://x" });
  let total = 0;
  for await (const r of open) total += r.n;
  return total;
}
`,
  );
  const run = node([TSC, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "consumer.ts"]);
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});
