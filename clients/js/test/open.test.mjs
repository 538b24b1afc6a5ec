// The promise and async-iterator form: await realtime.open(), send(), for await.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { realtime, RealtimeError, UnauthorizedError } from "../dist/index.js";
import { APP, freePort, makeKeys, mintToken, startRunner } from "./helpers/runner.mjs";

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

const tokenProvider = () => mintToken(runner.httpUrl);

for (const codec of ["msgpack", "json"]) {
  test(`${codec}: await open(), send, for await; an x-fal-error is thrown by the read and the stream goes on`, async () => {
    const conn = await realtime.open(APP, { url: runner.url, tokenProvider, codec });
    assert.equal(conn.state, "open");
    assert.equal(conn.protocol, codec);
    for (let n = 1; n <= 5; n += 1) conn.send({ n }); // no throttle by default: every input goes
    const got = [];
    for await (const result of conn) {
      got.push(result.n);
      if (got.length === 5) break;
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    conn.send({ fail: "boom" });
    await assert.rejects(conn.recv(), (error) => {
      assert.ok(error instanceof RealtimeError);
      assert.equal(error.code, "INTERNAL_ERROR");
      assert.match(error.reason, /asked to fail: boom/);
      return true;
    });
    conn.send({ n: 6 });
    assert.equal((await conn.recv()).n, 6);
    const pending = conn.recv();
    conn.close();
    assert.equal(await pending, undefined);
    for await (const result of conn) assert.fail(`a result after close(): ${JSON.stringify(result)}`);
    assert.throws(() => conn.send({ n: 7 }), /closed with close\(\)/);
  });
}

test("the runner's normal close (idle TIMEOUT) ends the iteration, without an error", async () => {
  const conn = await realtime.open(APP, { url: runner.url, tokenProvider, path: "/short" });
  conn.send({ n: 1 });
  const got = [];
  for await (const result of conn) got.push(result.n);
  assert.deepEqual(got, [1]);
  assert.equal(conn.state, "closed");
});

test("open() rejects when the runner is unreachable, saying where it tried", async () => {
  const port = await freePort();
  await assert.rejects(realtime.open(APP, { url: `ws://127.0.0.1:${port}` }), (error) => {
    assert.equal(error.code, "CONNECTION_FAILED");
    assert.match(error.reason, new RegExp(`cannot connect to ws://127\\.0\\.0\\.1:${port}/jsclient/echo/realtime`));
    return true;
  });
});

test("a token refused twice is thrown by the next read", async () => {
  // The runner accepts the upgrade, then answers Unauthorized (what a browser can read):
  // open() has resolved by then; the client tries one fresh token, then gives up.
  const conn = await realtime.open(APP, {
    url: runner.url,
    tokenProvider: () => mintToken(runner.httpUrl, { apps: ["other"] }),
  });
  conn.send({ n: 1 });
  await assert.rejects(conn.recv(), (error) => {
    assert.ok(error instanceof UnauthorizedError, `${error}`);
    assert.match(error.reason, /check that the token provider mints tokens for jsclient\/echo/);
    return true;
  });
  assert.equal(await conn.recv(), undefined);
  assert.equal(conn.state, "closed");
});
