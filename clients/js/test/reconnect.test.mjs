// A runner killed mid-stream (SIGKILL: nothing closed cleanly) and started again on the
// same port: the client reconnects with backoff and the stream goes on; close() stops it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { realtime } from "../dist/index.js";
import { Recorder } from "./helpers/events.mjs";
import { APP, freePort, makeKeys, mintToken, sessions, startRunner } from "./helpers/runner.mjs";

let keys;

before(() => {
  keys = makeKeys();
});

after(() => keys?.remove());

for (const codec of ["msgpack", "json"]) {
  test(`${codec}: a runner killed mid-stream; the client reconnects with backoff and the stream goes on`, async () => {
    const port = await freePort();
    let runner = await startRunner({ keys, port });
    const seen = new Recorder();
    const conn = realtime.connect(APP, {
      url: runner.url,
      codec,
      throttleInterval: 0,
      reconnect: { initialDelayMs: 50, maxDelayMs: 400, maxAttempts: 100 },
      // The same signing key before and after the restart: the token stays valid.
      tokenProvider: () => mintToken(runner.httpUrl),
      ...seen.callbacks(),
    });
    try {
      for (let n = 1; n <= 5; n += 1) {
        conn.send({ n });
        await seen.until(() => seen.results.length === n, `result ${n}`);
      }
      await runner.kill("SIGKILL");
      await seen.until(() => seen.reconnects.length >= 3, "three failed attempts while the runner is down");
      conn.send({ n: 6 }); // kept while disconnected, sent once the runner is back
      runner = await startRunner({ keys, port });
      await seen.until(() => seen.results.some((r) => r.n === 6), "the result of the input sent while down");
      conn.send({ n: 7 });
      await seen.until(() => seen.results.some((r) => r.n === 7), "the stream going on");

      assert.deepEqual(seen.results.map((r) => r.n), [1, 2, 3, 4, 5, 6, 7]);
      assert.equal(seen.opens.length, 2);
      // The lost connection was reported once, not once per failed attempt.
      assert.equal(seen.errors.length, 1, seen.describe());
      assert.equal(seen.errors[0].code, "CONNECTION_CLOSED");
      assert.equal(seen.errors[0].closeCode, 1006);
      assert.match(seen.errors[0].reason, /connection was lost/);
      // Exponential backoff: 50, 100, 200, 400, 400, ... ms.
      const delays = seen.reconnects.map((r) => r.delayMs);
      delays.forEach((delay, i) => assert.equal(delay, Math.min(400, 50 * 2 ** i)));
      assert.deepEqual(seen.reconnects.map((r) => r.attempt), delays.map((_, i) => i + 1));
      assert.ok(seen.closes.every((c) => c.reconnecting && !c.intentional));
    } finally {
      conn.close();
      await runner.stop();
    }
  });
}

test("close() while reconnecting: no further attempt", async () => {
  const port = await freePort();
  let runner = await startRunner({ keys, port });
  const seen = new Recorder();
  const conn = realtime.connect(APP, {
    url: runner.url,
    reconnect: { initialDelayMs: 50, maxDelayMs: 50, maxAttempts: 1000 },
    tokenProvider: () => mintToken(runner.httpUrl),
    ...seen.callbacks(),
  });
  try {
    conn.send({ n: 1 });
    await seen.until(() => seen.results.length === 1, "a result");
    await runner.kill("SIGKILL");
    await seen.until(() => seen.reconnects.length >= 1, "a reconnect attempt");
    conn.close();
    assert.equal(conn.state, "closed");
    const attempts = seen.reconnects.length;
    runner = await startRunner({ keys, port });
    // Another client's round trip on the restarted runner, then look: the closed one never came back.
    const other = await realtime.open(APP, { url: runner.url, tokenProvider: () => mintToken(runner.httpUrl) });
    other.send({ n: 2 });
    assert.equal((await other.recv()).n, 2);
    assert.equal(await sessions(runner.httpUrl), 1);
    other.close();
    assert.equal(seen.reconnects.length, attempts);
    assert.equal(seen.opens.length, 1);
    assert.equal(seen.closes.at(-1).intentional, true);
  } finally {
    conn.close();
    await runner.stop();
  }
});

test("reconnect: false reports the close and reconnects only on the next send", async () => {
  const port = await freePort();
  let runner = await startRunner({ keys, port });
  const seen = new Recorder();
  const conn = realtime.connect(APP, {
    url: runner.url,
    reconnect: false,
    tokenProvider: () => mintToken(runner.httpUrl),
    ...seen.callbacks(),
  });
  try {
    conn.send({ n: 1 });
    await seen.until(() => seen.results.length === 1, "a result");
    await runner.kill("SIGKILL");
    await seen.until(() => seen.errors.length === 1, "the lost connection");
    assert.equal(conn.state, "idle");
    assert.deepEqual(seen.reconnects, []);
    runner = await startRunner({ keys, port });
    conn.send({ n: 2 });
    await seen.until(() => seen.results.length === 2, "a result after the next send");
    assert.equal(seen.opens.length, 2);
  } finally {
    conn.close();
    await runner.stop();
  }
});
