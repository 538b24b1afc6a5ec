// Node without a global WebSocket (Node 20 without --experimental-websocket): the client
// uses the `ws` package; and any WebSocket class can be passed in.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

import { realtime } from "../dist/index.js";
import { APP, makeKeys, mintToken, startRunner } from "./helpers/runner.mjs";

const CLIENT = dirname(dirname(fileURLToPath(import.meta.url)));
let keys;
let runner;

before(async () => {
  keys = makeKeys();
  runner = await startRunner({ keys });
});

after(async () => {
  await runner?.stop();
  keys?.remove();
});

test("without a global WebSocket, the ws package is used", async () => {
  const token = await mintToken(runner.httpUrl);
  const script = `
    if (typeof WebSocket !== "undefined") throw new Error("this node has a global WebSocket");
    const { realtime } = await import(${JSON.stringify(join(CLIENT, "dist", "index.js"))});
    const conn = await realtime.open(${JSON.stringify(APP)}, { url: ${JSON.stringify(runner.url)}, tokenProvider: () => ${JSON.stringify(token)} });
    conn.send({ n: 1, bytes: new Uint8Array([1, 2, 3]) });
    const result = await conn.recv();
    conn.close();
    console.log(JSON.stringify({ n: result.n, bytes: Array.from(result.bytes), protocol: conn.protocol }));
  `;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: CLIENT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { n: 1, bytes: [1, 2, 3], protocol: "msgpack" });
});

test("a WebSocket class passed in is the one used", async () => {
  let constructed = 0;
  class Counting extends WebSocket {
    constructor(...args) {
      super(...args);
      constructed += 1;
    }
  }
  const conn = await realtime.open(APP, {
    url: runner.url,
    tokenProvider: () => mintToken(runner.httpUrl),
    WebSocket: Counting,
  });
  conn.send({ n: 2 });
  assert.equal((await conn.recv()).n, 2);
  conn.close();
  assert.equal(constructed, 1);
});
