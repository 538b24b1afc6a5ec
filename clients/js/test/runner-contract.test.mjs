// PENDING: the runner's cold-start message and readable refusals (being added to the runner
// in parallel).  Rename to runner-contract.test.mjs once merged: tests/jsclient runs every
// test/*.test.mjs.  The contract:
//   - {"type":"x-fal-message","action":"cold_start","cold_start":SECONDS} first in the first
//     session a freshly started runner serves, when the endpoint emits timings;
//   - 4xx refusals (unknown app or path, bad max_buffering): the upgrade accepted, an
//     x-fal-error {"error":"Not Found"|"Bad Request","reason":...}, then close 4000+status.
//     (An unknown codec is not refused: the runner answers without a subprotocol, and a
//     WHATWG WebSocket fails such a handshake (1006); see the report of issue 18.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { realtime, RefusedError } from "../dist/index.js";
import { Recorder } from "./helpers/events.mjs";
import { APP, makeKeys, mintToken, startRunner } from "./helpers/runner.mjs";

let keys;

before(() => {
  keys = makeKeys();
});

after(() => keys?.remove());

for (const codec of ["msgpack", "json"]) {
  test(`${codec}: a fresh runner's first session reports its cold start, before the first result`, async () => {
    const runner = await startRunner({ keys });
    try {
      const first = new Recorder();
      const conn = realtime.connect(APP, { url: runner.url, codec, tokenProvider: () => mintToken(runner.httpUrl), ...first.callbacks() });
      conn.send({ n: 1 });
      await first.until(() => first.results.length === 1, "a result");
      assert.equal(first.coldStarts.length, 1);
      assert.ok(first.coldStarts[0] > 0);
      assert.equal(conn.coldStart, first.coldStarts[0]);
      assert.deepEqual(first.log.map((e) => e.kind).filter((k) => k !== "token").slice(0, 3), ["open", "coldStart", "result"]);
      conn.close();
      // The next session of the same runner: warm, no cold start.
      const second = new Recorder();
      const again = realtime.connect(APP, { url: runner.url, codec, tokenProvider: () => mintToken(runner.httpUrl), ...second.callbacks() });
      again.send({ n: 2 });
      await second.until(() => second.results.length === 1, "a result");
      assert.deepEqual(second.coldStarts, []);
      again.close();
    } finally {
      await runner.stop();
    }
  });

  test(`${codec}: a refusal is reported with the runner's reason, once, and never retried`, async () => {
    const runner = await startRunner({ keys });
    try {
      for (const [options, code, closeCode, reason] of [
        [{ path: "/no-such-path" }, "Not Found", 4404, /no realtime endpoint/],
        [{ app: "jsclient/no-such-app" }, "Not Found", 4404, /no realtime endpoint/],
      ]) {
        const seen = new Recorder();
        const { app = APP, ...rest } = options;
        const conn = realtime.connect(app, { url: runner.url, codec, tokenProvider: () => mintToken(runner.httpUrl), ...rest, ...seen.callbacks() });
        conn.send({ n: 1 });
        await seen.until(() => seen.errors.length === 1 && conn.state === "refused", "the refusal");
        const [error] = seen.errors;
        assert.ok(error instanceof RefusedError, `${error}`);
        assert.equal(error.code, code);
        assert.equal(error.closeCode, closeCode);
        assert.equal(error.status, closeCode - 4000);
        assert.match(error.reason, reason);
        assert.deepEqual(seen.reconnects, []);
        assert.throws(() => conn.send({ n: 2 }), /the runner refused this connection/);
        const other = await realtime.open(APP, { url: runner.url, tokenProvider: () => mintToken(runner.httpUrl) });
        other.send({ n: 3 });
        assert.equal((await other.recv()).n, 3);
        other.close();
        assert.equal(seen.opens.length, 1, "no second attempt");
        assert.equal(seen.errors.length, 1);
        conn.close();
      }
    } finally {
      await runner.stop();
    }
  });
}

test("open(): a refusal is thrown by the first read", async () => {
  const runner = await startRunner({ keys });
  try {
    const conn = await realtime.open(APP, { url: runner.url, path: "/no-such-path", tokenProvider: () => mintToken(runner.httpUrl) });
    await assert.rejects(conn.recv(), (error) => error instanceof RefusedError && /no realtime endpoint/.test(error.reason));
    assert.equal(await conn.recv(), undefined);
  } finally {
    await runner.stop();
  }
});

test("with the ws package too (Node without a global WebSocket), the refusal's reason arrives", async () => {
  const runner = await startRunner({ keys });
  try {
    const { spawnSync } = await import("node:child_process");
    const script = `
      const { realtime } = await import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)});
      const conn = await realtime.open(${JSON.stringify(APP)}, { url: ${JSON.stringify(runner.url)}, path: "/no-such-path", tokenProvider: () => ${JSON.stringify(await mintToken(runner.httpUrl))} });
      try { await conn.recv(); console.log("no error"); } catch (error) { console.log(JSON.stringify({ name: error.name, code: error.code, closeCode: error.closeCode, reason: error.reason })); }
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const seen = JSON.parse(run.stdout);
    assert.equal(seen.name, "RefusedError");
    assert.equal(seen.closeCode, 4404);
    assert.match(seen.reason, /no realtime endpoint/);
  } finally {
    await runner.stop();
  }
});
