// The interop scenarios for @fal-ai/client's fal.realtime.connect(), shared by the
// Node script (node_client.js) and the browser page (page.html).  Each reports a
// plain object the Python tests assert on: the onResult/onError calls in order
// ("events"; {closed: true} marks the scenario's own conn.close()), what the
// token provider was asked, and what crossed the wire for the scenario's sockets.

const APP = "interop/echo";
const WAIT_MS = 10000;

// @fal-ai/client's default throttle interval (realtime.js, DEFAULT_THROTTLE_INTERVAL).
const THROTTLE_MS = 128;

function recorder(name) {
  const events = [];
  const waiters = new Set();
  return {
    events,
    push(event) {
      events.push(event);
      for (const waiter of [...waiters]) waiter();
    },
    waitFor(what, predicate, ms = WAIT_MS) {
      return until(`${name}: ${what}`, () => events.find(predicate), ms, waiters, () => events);
    },
  };
}

// Resolves with the first truthy value of probe(), re-checked whenever `waiters` are
// notified (or every 20 ms when no notifier is given); rejects after `ms`.
function until(what, probe, ms, waiters = null, seen = () => null) {
  return new Promise((resolve, reject) => {
    let poller = null;
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${what} within ${ms} ms; seen: ${JSON.stringify(seen())}`));
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      clearInterval(poller);
      waiters?.delete(check);
    };
    const check = () => {
      const hit = probe();
      if (hit) {
        stop();
        resolve(hit);
      }
    };
    if (waiters) waiters.add(check);
    else poller = setInterval(check, 20);
    check();
  });
}

// Sending again within the throttle interval goes through the client's trailing
// timer, which @fal-ai/client 1.10.1 skips when it fires a millisecond early
// (utils.js throttle: `if (Date.now() - lastRan >= limit)` with no retry), losing
// the input.  Scenarios that send one input at a time under the default throttle
// let the interval pass first, as a well-behaved app does; the others set
// throttleInterval: 0.
async function throttleWindowPassed(lastSendAt) {
  const wait = lastSendAt + THROTTLE_MS + 20 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

function callbacks(rec) {
  return {
    onResult: (result) => rec.push({ result }),
    onError: (error) =>
      rec.push({
        error: { message: error.message, status: error.status, body: error.body ?? null },
      }),
  };
}

const isResult = (n) => (e) => e.result !== undefined && e.result.n === n;

// Results reach onResult, under the default throttle; the token provider is asked
// for the endpoint path.
async function results(ctx, rec) {
  const asked = [];
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    tokenProvider: async (app) => {
      asked.push(app);
      return ctx.tokenProvider(app);
    },
    tokenExpirationSeconds: 120,
  });
  let sentAt = Date.now();
  conn.send({ scenario: "results", n: 1, request_id: "req-1", text: "héllo" });
  await rec.waitFor("result 1", isResult(1));
  await throttleWindowPassed(sentAt);
  sentAt = Date.now();
  conn.send({ scenario: "results", n: 2, nested: { list: [1, 2.5, null, true] } });
  await rec.waitFor("result 2", isResult(2));
  return { conn, report: { tokenProviderAsked: asked } };
}

// A burst of sends inside the throttle interval: only the latest goes out.
async function throttle(ctx, rec) {
  const conn = ctx.connect(APP, { ...callbacks(rec), tokenProvider: ctx.tokenProvider });
  const sentAt = Date.now();
  conn.send({ scenario: "throttle", n: 0 }); // the leading edge: sent at once
  await rec.waitFor("warm-up result", isResult(0));
  await throttleWindowPassed(sentAt);
  for (let n = 1; n <= 10; n++) {
    conn.send({ scenario: "throttle", n });
  }
  await rec.waitFor("result of the burst's last input", isResult(10));
  return { conn, report: {} };
}

// x-fal-error reaches onError (INTERNAL_ERROR, INVALID_INPUT); the connection stays usable.
async function falErrors(ctx, rec) {
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    tokenProvider: ctx.tokenProvider,
    throttleInterval: 0,
  });
  conn.send({ scenario: "errors", fail: "boom" });
  await rec.waitFor("INTERNAL_ERROR", (e) => e.error?.body?.error === "INTERNAL_ERROR");
  conn.send("not an object");
  await rec.waitFor("INVALID_INPUT", (e) => e.error?.body?.error === "INVALID_INPUT");
  conn.send({ scenario: "errors", n: 1 });
  await rec.waitFor("result after the errors", isResult(1));
  return { conn, report: {} };
}

// An expired token: the runner's Unauthorized message makes the client drop it,
// and the next send fetches a new one from the token provider.
async function expiredToken(ctx, rec) {
  let calls = 0;
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    throttleInterval: 0,
    tokenProvider: async (app) => {
      calls += 1;
      return calls === 1 ? ctx.staleToken : ctx.tokenProvider(app);
    },
  });
  conn.send({ scenario: "expired", n: 1 });
  await rec.waitFor("the 1008 close", (e) => e.error?.status === 1008);
  conn.send({ scenario: "expired", n: 2 });
  await rec.waitFor("result with a fresh token", isResult(2));
  return { conn, report: { tokenProviderCalls: () => calls } };
}

// tokenExpirationSeconds: the client refreshes the token at 90% of it, on the same connection.
async function tokenRefresh(ctx, rec) {
  let calls = 0;
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    throttleInterval: 0,
    tokenProvider: async (app) => {
      calls += 1;
      rec.push({ tokenFetch: calls });
      return ctx.tokenProvider(app);
    },
    tokenExpirationSeconds: 1,
  });
  conn.send({ scenario: "refresh", n: 1 });
  await rec.waitFor("result 1", isResult(1));
  await rec.waitFor("a scheduled token refresh", (e) => e.tokenFetch === 2, 5000);
  conn.send({ scenario: "refresh", n: 2 });
  await rec.waitFor("result 2", isResult(2));
  return { conn, report: {} };
}

// TIMEOUT is not an error for the client; after the runner's normal close the
// next send reconnects with a fresh token.
async function sessionTimeout(ctx, rec) {
  let calls = 0;
  const first = ctx.wire.dialed.length;
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    path: "/short",
    throttleInterval: 0,
    tokenProvider: async (app) => {
      calls += 1;
      return ctx.tokenProvider(app);
    },
  });
  conn.send({ scenario: "timeout", n: 1 });
  await rec.waitFor("result 1", isResult(1));
  await until("the runner's close of the idle session", () =>
    ctx.wire.closes.some((c) => c.socket === first),
  WAIT_MS);
  conn.send({ scenario: "timeout", n: 2 });
  await rec.waitFor("result after reconnecting", isResult(2));
  return { conn, report: { tokenProviderCalls: () => calls } };
}

// The JSON codec override and the path option, against an endpoint that speaks
// JSON in binary frames (the default msgpack decoder could not read its results).
async function jsonCodec(ctx, rec) {
  let encodes = 0;
  let decodes = 0;
  const conn = ctx.connect(APP, {
    ...callbacks(rec),
    tokenProvider: ctx.tokenProvider,
    path: "/v2/json",
    throttleInterval: 0,
    // send() encodes each input, and realtime.js's ws.onopen runs encodeMessage again
    // on an input still queued when the socket opens: pass encoded input through.
    encodeMessage: (input) => {
      encodes += 1;
      return typeof input === "string" ? input : JSON.stringify(input);
    },
    decodeMessage: async (data) => {
      decodes += 1;
      const text = typeof data === "string" ? data : await new Response(data).text();
      return JSON.parse(text);
    },
  });
  conn.send({ scenario: "json", n: 1, text: "ünïcode" });
  await rec.waitFor("result 1", isResult(1));
  conn.send({ scenario: "json", n: 2 });
  await rec.waitFor("result 2", isResult(2));
  return { conn, report: { encodes: () => encodes, decodes: () => decodes } };
}

// An upgrade the runner refuses (no such app): a browser cannot read an HTTP refusal,
// so the runner accepts, says why in an x-fal-error and closes with 4404; both reach
// onError.
async function refused(ctx, rec) {
  const conn = ctx.connect("interop/nope", {
    ...callbacks(rec),
    tokenProvider: ctx.tokenProvider,
    throttleInterval: 0,
  });
  conn.send({ scenario: "refused", n: 1 });
  await rec.waitFor("the refusal's close", (e) => e.error?.status === 4404);
  return { conn, report: {} };
}

const SCENARIOS = {
  results,
  throttle,
  errors: falErrors,
  expired: expiredToken,
  refresh: tokenRefresh,
  timeout: sessionTimeout,
  json: jsonCodec,
  refused,
};

export async function runScenarios(ctx) {
  const reports = [];
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    const rec = recorder(name);
    const firstSocket = ctx.wire.dialed.length;
    const report = { scenario: name };
    const opened = [];
    const connect = (app, handler) => {
      const conn = ctx.fal.realtime.connect(app, handler);
      opened.push(conn);
      return conn;
    };
    try {
      const outcome = await scenario({ ...ctx, connect }, rec);
      Object.assign(report, outcome.report);
    } catch (error) {
      report.failure = String(error?.stack ?? error);
    }
    rec.push({ closed: true });
    for (const conn of opened) conn.close();
    // Every socket of this scenario is closed before the next begins, so what the
    // wire saw belongs to one scenario.
    try {
      await until(`${name}: its sockets closed`, () => {
        const sockets = ctx.wire.dialed.length - firstSocket;
        const closed = new Set(ctx.wire.closes.map((c) => c.socket).filter((s) => s >= firstSocket));
        return closed.size === sockets;
      }, WAIT_MS);
    } catch (error) {
      report.failure = report.failure ?? String(error);
    }
    for (const [key, value] of Object.entries(report)) {
      if (typeof value === "function") report[key] = value();
    }
    report.events = rec.events;
    // Sockets are numbered from 0 within the scenario, in the order they were dialed.
    const own = (entries) =>
      entries
        .filter((e) => e.socket >= firstSocket)
        .map((e) => ({ ...e, socket: e.socket - firstSocket }));
    report.wire = {
      dialed: ctx.wire.dialed.slice(firstSocket),
      texts: own(ctx.wire.texts),
      closes: own(ctx.wire.closes),
    };
    reports.push(report);
  }
  return reports;
}
