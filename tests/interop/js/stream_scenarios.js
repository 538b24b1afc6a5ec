// The fal.stream scenarios, shared by Node (stream_client.js) and the browser page
// (stream_page.html).  Each reports a plain object the Python tests assert on
// (test_fal_stream.py): the events the client gave, what done() resolved with or the
// error it rejected with, what the token provider was asked, what was fetched.
//
// The one thing configured: the fetch @fal-ai/client uses (fal.config({fetch})), which
// sends https://fal.run/... to the runner and records what the client asked for.

const APP = "interop/steps";

export async function runStreamScenarios({ fal, runnerHttp, tokenProvider, key, otherAppToken }) {
  let fetched = [];
  const redirectingFetch = (input, init) => {
    const requested = new URL(String(input));
    fetched.push(String(input).replace(/fal_jwt_token=[^&]+/, "fal_jwt_token=<jwt>"));
    const target =
      requested.host === "fal.run"
        ? `${runnerHttp}${requested.pathname}${requested.search}`
        : String(input);
    return fetch(target, init);
  };
  const asked = [];
  const clientMode = {
    connectionMode: "client",
    tokenProvider: (app) => {
      asked.push(app);
      return tokenProvider(app);
    },
  };

  async function collect(stream) {
    const events = [];
    for await (const event of stream) events.push(event);
    return { events, done: await stream.done() };
  }

  const scenarios = {
    // Server side only: the API key goes in the Authorization header.
    "server-key": key
      ? async () => {
          fal.config({ credentials: key, fetch: redirectingFetch });
          return await collect(await fal.stream(APP, { input: { n: 3 } }));
        }
      : null,
    async "client-token"() {
      fal.config({ fetch: redirectingFetch });
      return await collect(await fal.stream(APP, { input: { n: 3 }, ...clientMode }));
    },
    async "error-event"() {
      fal.config({ fetch: redirectingFetch });
      return await collect(await fal.stream(APP, { input: { n: 3, fail_at: 1 }, ...clientMode }));
    },
    async "wrong-app-token"() {
      fal.config({ fetch: redirectingFetch });
      const stream = await fal.stream(APP, {
        input: { n: 1 },
        connectionMode: "client",
        tokenProvider: async () => otherAppToken,
      });
      const events = [];
      stream.on("data", (event) => events.push(event));
      try {
        await stream.done();
        return { events, error: null };
      } catch (error) {
        return { events, error: { status: error.status, body: error.body ?? null } };
      }
    },
    async abort() {
      fal.config({ fetch: redirectingFetch });
      const stream = await fal.stream(APP, {
        input: { n: 3, hold: true, tag: "js-abort" },
        ...clientMode,
      });
      const events = [];
      await new Promise((resolve) => {
        stream.on("data", (event) => {
          events.push(event);
          stream.abort();
          resolve();
        });
      });
      await stream.done();
      return { events };
    },
  };

  const reports = [];
  for (const [scenario, run] of Object.entries(scenarios)) {
    if (run === null) continue;
    fetched = [];
    asked.length = 0;
    try {
      const report = await run();
      reports.push({ scenario, ...report, fetched: [...fetched], asked: [...asked] });
    } catch (error) {
      reports.push({ scenario, failure: String(error?.stack ?? error) });
    }
  }
  return reports;
}
