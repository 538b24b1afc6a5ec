// Tokens against a real runner's token service: short-lived real JWTs, refresh at 90% of
// their life, a fresh token after Unauthorized.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { realtime, UnauthorizedError } from "../dist/index.js";
import { Recorder } from "./helpers/events.mjs";
import { APP, makeKeys, mintToken, startRunner } from "./helpers/runner.mjs";

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

// Both codecs at once: each waits out a real 10 s token (the shortest the service mints).
test("msgpack and json: a 10 s token is refreshed at 90% of its life, and the next session uses the fresh one", async () => {
  await Promise.all(["msgpack", "json"].map((codec) => refreshScenario(codec)));
});

async function refreshScenario(codec) {
  const seen = new Recorder();
  const fetched = [];
  const conn = realtime.connect(APP, {
    url: runner.url,
    codec,
    path: "/medium", // an 11 s idle timeout: the session outlives the first token
    tokenExpirationSeconds: 10,
    tokenProvider: async () => {
      fetched.push(Date.now());
      seen.log.push({ kind: "token" });
      return mintToken(runner.httpUrl, { seconds: 10 });
    },
    ...seen.callbacks(),
  });
  conn.send({ n: 1 });
  await seen.until(() => seen.results.length === 1, "a result");
  await seen.until(() => fetched.length === 2, "the refresh", 30_000);
  // Not before 90% of the 10 s lifetime (timers never fire early).
  assert.ok(fetched[1] - fetched[0] >= 9000 - 2, `refreshed after ${fetched[1] - fetched[0]} ms`);
  // The runner ends the idle session (11 s), by when the first token has expired.
  await seen.until(() => seen.closes.length === 1, "the idle timeout's close", 30_000);
  assert.equal(seen.closes[0].code, 1000);
  assert.ok(Date.now() - fetched[0] > 10_000);
  conn.send({ n: 2 });
  await seen.until(() => seen.results.length === 2, "a result from the second session");
  // The second session was admitted at once: no Unauthorized, no 1008 close and retry.
  assert.equal(seen.opens.length, 2);
  assert.deepEqual(seen.closes.map((c) => c.code), [1000]);
  assert.deepEqual(seen.errors, []);
  conn.close();
}

for (const codec of ["msgpack", "json"]) {
  test(`${codec}: after Unauthorized the client fetches a fresh token and tries once more`, async () => {
    const seen = new Recorder();
    let calls = 0;
    const conn = realtime.connect(APP, {
      url: runner.url,
      codec,
      // The first token is real but for another app: the runner answers Unauthorized.
      tokenProvider: async () => mintToken(runner.httpUrl, { apps: calls++ === 0 ? ["other"] : ["echo"] }),
      ...seen.callbacks(),
    });
    conn.send({ n: 1 });
    await seen.until(() => seen.results.length === 1 || seen.errors.length > 0, "a result");
    assert.deepEqual(seen.errors, []);
    assert.equal(seen.results[0].n, 1, "the input survived the retry");
    assert.equal(calls, 2);
    assert.deepEqual(seen.closes, [{ code: 1008, reason: seen.closes[0].reason, intentional: false, reconnecting: true }]);
    conn.close();
  });

  test(`${codec}: refused twice, Unauthorized is reported with what to do`, async () => {
    const seen = new Recorder();
    let calls = 0;
    const conn = realtime.connect(APP, {
      url: runner.url,
      codec,
      tokenProvider: async () => {
        calls += 1;
        return mintToken(runner.httpUrl, { apps: ["other"] });
      },
      ...seen.callbacks(),
    });
    conn.send({ n: 1 });
    await seen.until(() => seen.errors.length === 1, "the Unauthorized error");
    const [error] = seen.errors;
    assert.ok(error instanceof UnauthorizedError);
    assert.equal(error.code, "Unauthorized");
    assert.equal(error.status, 401);
    assert.match(error.reason, /check that the token provider mints tokens for jsclient\/echo/);
    assert.equal(calls, 2, "one fresh token, not a loop");
    assert.equal(conn.state, "idle");
    assert.deepEqual(seen.results, []);
    conn.close();
  });
}

test("a failing token provider is reported as such", async () => {
  const seen = new Recorder();
  const conn = realtime.connect(APP, {
    url: runner.url,
    reconnect: false,
    tokenProvider: async () => {
      throw new Error("the backend answered 502");
    },
    ...seen.callbacks(),
  });
  conn.send({ n: 1 });
  await seen.until(() => seen.errors.length === 1, "the token error");
  assert.equal(seen.errors[0].code, "TOKEN_FAILED");
  assert.match(seen.errors[0].reason, /the token provider failed: the backend answered 502; check the backend route/);
  assert.equal(conn.state, "idle");
  conn.close();
});
