// realtime.connect() against a real runner: the behaviours a fal user depends on, with
// msgpack and with JSON.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ConfigurationError, realtime, RealtimeError } from "../dist/index.js";
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

function options(recorder, extra = {}) {
  const provided = [];
  return {
    provided,
    url: runner.url,
    tokenProvider: async (app) => {
      provided.push(app);
      return mintToken(runner.httpUrl);
    },
    ...recorder.callbacks(),
    ...extra,
  };
}

for (const codec of ["msgpack", "json"]) {
  describe(`codec ${codec}`, () => {
    test("lazy connect: nothing before the first send; the codec is the subprotocol", async () => {
      const seen = new Recorder();
      const opts = options(seen, { codec, maxBuffering: 2 });
      const conn = realtime.connect(APP, opts);
      assert.equal(conn.state, "idle");
      assert.equal(opts.provided.length, 0, "no token fetched before a send");
      assert.equal(seen.opens.length, 0);

      conn.send({ n: 1, text: "héllo", request_id: "r1" });
      await seen.until(() => seen.results.length === 1, "the first result");
      assert.deepEqual(seen.results[0], { n: 1, text: "héllo", request_id: "r1", served_by: "warmwire" });
      assert.deepEqual(opts.provided, ["jsclient/echo/realtime"]);
      assert.equal(seen.opens.length, 1);
      // The runner picked the codec the client offered, and answered in it.
      assert.equal(seen.opens[0].protocol, codec);
      assert.equal(conn.protocol, codec);
      // The URL as dialed, token left out: the app, the path, max_buffering.
      assert.match(seen.opens[0].url, /^ws:\/\/127\.0\.0\.1:\d+\/jsclient\/echo\/realtime\?max_buffering=2$/);
      assert.deepEqual(seen.errors, []);
      conn.close();
    });

    test("keep-latest throttle: a burst collapses to its first and last input, the last always sent", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec, throttleInterval: 200 }));
      conn.send({ n: 0 });
      await seen.until(() => seen.results.length === 1, "the warm-up result");
      // Sent in one go: within one interval, whatever the machine's speed.
      for (let n = 1; n <= 50; n += 1) conn.send({ n });
      await seen.until(() => seen.results.some((r) => r.n === 50), "the trailing input's result");
      const burst = seen.results.slice(1).map((r) => r.n);
      // The leading input goes at once if the interval since the warm-up has passed;
      // the trailing one (50) always follows; nothing in between.
      assert.ok(
        JSON.stringify(burst) === "[50]" || JSON.stringify(burst) === "[1,50]",
        `the runner received ${JSON.stringify(burst)}`,
      );
      conn.close();
    });

    test("while connecting only the latest input is kept", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec, throttleInterval: 0 }));
      for (let n = 1; n <= 10; n += 1) conn.send({ n });
      await seen.until(() => seen.results.length >= 1, "a result");
      conn.send({ n: 11 });
      await seen.until(() => seen.results.some((r) => r.n === 11), "the next result");
      assert.deepEqual(seen.results.map((r) => r.n), [10, 11]);
      conn.close();
    });

    test("x-fal-error codes reach onError with their reason, and the session goes on", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec, throttleInterval: 0 }));
      conn.send({ fail: "boom" });
      await seen.until(() => seen.errors.length === 1, "INTERNAL_ERROR");
      conn.send({ invalid: "not this one" });
      await seen.until(() => seen.errors.length === 2, "INVALID_INPUT");
      conn.send({ n: 3 });
      await seen.until(() => seen.results.length === 1, "a result after the errors");
      const [internal, invalid] = seen.errors;
      assert.ok(internal instanceof RealtimeError);
      assert.equal(internal.code, "INTERNAL_ERROR");
      assert.match(internal.reason, /asked to fail: boom/);
      assert.equal(internal.body.type, "x-fal-error");
      assert.equal(invalid.code, "INVALID_INPUT");
      assert.match(invalid.reason, /asked to refuse the input: not this one/);
      assert.match(invalid.message, /^INVALID_INPUT: /);
      assert.equal(seen.opens.length, 1, "one session throughout");
      conn.close();
    });

    test("TIMEOUT is not an error: the runner closes normally and the next send reconnects", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec, path: "/short" }));
      conn.send({ n: 1 });
      await seen.until(() => seen.results.length === 1, "a result");
      await seen.until(() => seen.closes.length === 1, "the runner's close after its idle timeout");
      assert.deepEqual(seen.closes[0], { code: 1000, reason: seen.closes[0].reason, intentional: false, reconnecting: false });
      assert.equal(conn.state, "idle");
      assert.deepEqual(seen.errors, []);
      conn.send({ n: 2 });
      await seen.until(() => seen.results.length === 2, "a result from a new session");
      assert.equal(seen.opens.length, 2);
      assert.deepEqual(seen.errors, []);
      conn.close();
    });

    test("timings reach onTimings", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec }));
      conn.send({ n: 1 });
      await seen.until(() => seen.timings.length >= 1, "a timings message");
      assert.equal(typeof seen.timings[0], "number");
      assert.ok(seen.timings[0] >= 0);
      assert.equal(seen.results.length, 1, "timings are not results");
      conn.close();
    });

    test("close() is final: no reconnect, and send() says what to do", async () => {
      const seen = new Recorder();
      const conn = realtime.connect(APP, options(seen, { codec }));
      conn.send({ n: 1 });
      await seen.until(() => seen.results.length === 1, "a result");
      conn.close();
      assert.equal(conn.state, "closed");
      assert.deepEqual(seen.closes.at(-1), { code: 1000, reason: "", intentional: true, reconnecting: false });
      assert.throws(() => conn.send({ n: 2 }), (error) => {
        assert.equal(error.code, "CLOSED");
        assert.match(error.reason, /call realtime\.connect\(\) again/);
        return true;
      });
      assert.equal(seen.opens.length, 1);
      assert.deepEqual(seen.errors, []);
    });
  });
}

test("custom encodeMessage/decodeMessage, as with @fal-ai/client", async () => {
  const seen = new Recorder();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const conn = realtime.connect(APP, options(seen, {
    codec: "json",
    encodeMessage: (input) => encoder.encode(JSON.stringify({ ...input, encoded: "by hand" })),
    decodeMessage: (data) => ({ ...JSON.parse(decoder.decode(data)), decoded: "by hand" }),
  }));
  conn.send({ n: 1 });
  await seen.until(() => seen.results.length === 1 || seen.errors.length > 0, "a result");
  assert.deepEqual(seen.errors, []);
  assert.equal(seen.results[0].n, 1);
  assert.equal(seen.results[0].encoded, "by hand");
  conn.close();
});

test("bad options throw before any network I/O, saying what to do", () => {
  const base = { url: "ws://127.0.0.1:9", onResult() {} };
  const cases = [
    [{ ...base, url: undefined }, /no runner URL: pass url/],
    [{ ...base, url: "ftp://x" }, /use ws:\/\/, wss:\/\/, http:\/\/ or https:\/\//],
    [{ ...base, maxBuffering: 0 }, /pass an integer from 1 to 60/],
    [{ ...base, maxBuffering: 61 }, /pass an integer from 1 to 60/],
    [{ ...base, codec: "cbor" }, /unknown codec "cbor": this build knows msgpack, json/],
    [{ ...base, throttleInterval: -1 }, /throttleInterval must be 0 or more/],
    [{ ...base, tokenProvider: () => "t", credentials: "a:b" }, /tokenProvider or credentials, not both/],
    [{ ...base, credentials: "no-colon" }, /key_id:key_secret/],
  ];
  for (const [opts, message] of cases) {
    assert.throws(() => realtime.connect(APP, opts), (error) => {
      assert.ok(error instanceof ConfigurationError, `${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(() => realtime.connect("stylize", base), /use 'owner\/alias'/);
});

test("credentials: server-side code mints its tokens at the runner with an API key", async () => {
  const seen = new Recorder();
  const { KEY } = await import("./helpers/runner.mjs");
  const conn = realtime.connect(APP, { url: runner.httpUrl, credentials: KEY, ...seen.callbacks() });
  conn.send({ n: 1 });
  await seen.until(() => seen.results.length === 1 || seen.errors.length > 0, "a result");
  assert.deepEqual(seen.errors, []);
  assert.equal(seen.results[0].served_by, "warmwire");
  conn.close();
});

test("a callback that throws does not break the connection", async () => {
  const seen = new Recorder();
  const logged = [];
  const consoleError = console.error;
  console.error = (...args) => logged.push(args);
  try {
    const callbacks = seen.callbacks();
    const conn = realtime.connect(APP, options(seen, {
      throttleInterval: 0,
      onResult: (result) => {
        callbacks.onResult(result);
        if (result.n === 1) throw new Error("a bug in the page");
      },
    }));
    conn.send({ n: 1 });
    await seen.until(() => seen.results.length === 1, "the first result");
    conn.send({ n: 2 });
    await seen.until(() => seen.results.length === 2, "the second result");
    assert.equal(seen.opens.length, 1);
    assert.deepEqual(seen.errors, []);
    conn.close();
  } finally {
    console.error = consoleError;
  }
  const reported = typeof globalThis.reportError === "function" ? 0 : 1;
  assert.equal(logged.length, reported);
  if (reported) assert.match(String(logged[0][1]), /a bug in the page/);
});
