// Drives the camera page in headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core, as a person would: a (fake) camera, the page's own buttons, the
// figures it shows.  Prints one JSON object with what it saw; the Python test
// (tests/web/test_camera_page.py) starts the page server and judges the result.
//
// Environment:
//   PAGE_URL     the page, http://127.0.0.1:PORT/
//   SCREENSHOT   where to save a PNG of the page
//   FAKE_VIDEO   optional: a .y4m clip the fake camera plays (default: Chromium's test pattern)
//   CHROMIUM     optional: the browser (default /usr/bin/chromium)
//   MEASURE      optional: round trips to measure p50/p95 over (default 300)
import { chromium } from "playwright-core";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];
const TIMEOUT = 30000;

const url = process.env.PAGE_URL;
const screenshot = process.env.SCREENSHOT;
if (!url || !screenshot) throw new Error("set PAGE_URL and SCREENSHOT");
const measure = Number(process.env.MEASURE ?? 300);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const report = { console: [], steps: [] };
const step = (name, data = {}) => report.steps.push({ name, ...data });

async function launch(extraFlags) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...FLAGS, ...extraFlags],
    timeout: TIMEOUT,
  });
}

async function openPage(browser, query = "", consoleErrors = report.console) {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      consoleErrors.push(`${msg.type()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error}`));
  await page.goto(new URL(query, url).href, { timeout: TIMEOUT });
  return page;
}

// Everything the page shows, read from the DOM.
function figures(page) {
  return page.evaluate(() => {
    const value = (id, key = "value") => document.getElementById(id).dataset[key];
    const number = (id, key) => {
      const text = value(id, key);
      return text === "" || text === undefined ? null : Number(text);
    };
    const error = document.getElementById("last-error");
    return {
      state: document.body.dataset.state,
      source: document.body.dataset.source,
      codec: value("fig-codec"),
      results: number("fig-results"),
      samples: number("fig-results", "samples"),
      drawn: Number(document.getElementById("output").dataset.drawn ?? 0),
      p50: number("fig-p50"),
      p95: number("fig-p95"),
      fpsIn: number("fig-fps-in"),
      fpsOut: number("fig-fps-out"),
      dropped: number("fig-dropped"),
      inFlight: number("fig-in-flight"),
      maxInFlight: number("fig-in-flight", "max"),
      faces: number("fig-faces"),
      modelMs: number("fig-model"),
      coldStartMs: number("fig-cold"),
      errors: Number(error.dataset.count ?? 0),
      errorVisible: !error.hidden && error.offsetHeight > 0,
      lastError: error.textContent,
      sourceLabel: document.getElementById("source-label").textContent,
      sourceNote: document.getElementById("source-note").hidden
        ? ""
        : document.getElementById("source-note").textContent,
      resultLabel: document.getElementById("result-label").textContent,
      detections: document.getElementById("detections").textContent,
      events: [...document.querySelectorAll("#events li")].map((li) => li.textContent),
    };
  });
}

// Wait until the page has drawn `count` more results than `from` (DOM condition, bounded).
async function resultsReach(page, count, timeout = TIMEOUT) {
  await page.waitForFunction(
    (n) =>
      Number(document.getElementById("fig-results").dataset.value) >= n &&
      Number(document.getElementById("output").dataset.drawn ?? 0) > 0,
    count,
    { timeout, polling: 50 },
  );
}

const currentResults = async (page) =>
  page.evaluate(() => Number(document.getElementById("fig-results").dataset.value));

async function withCamera() {
  const flags = [...CAMERA_FLAGS];
  if (process.env.FAKE_VIDEO) flags.push(`--use-file-for-fake-video-capture=${process.env.FAKE_VIDEO}`);
  const browser = await launch(flags);
  try {
    const page = await openPage(browser);
    report.userAgent = await page.evaluate(() => navigator.userAgent);

    // 1. The camera streams, results are drawn, the figures fill in and move.
    await page.waitForFunction(() => document.body.dataset.source !== "", null, { timeout: TIMEOUT });
    await resultsReach(page, 30);
    await page.waitForFunction(
      () => document.getElementById("fig-p50").dataset.value !== "" &&
        Number(document.getElementById("fig-fps-out").dataset.value) > 0,
      null,
      { timeout: TIMEOUT, polling: 50 },
    );
    const first = await figures(page);
    // The page's own client, nothing global replaced: the WebSocket is the browser's.
    first.nativeWebSocket = await page.evaluate(() =>
      Function.prototype.toString.call(window.WebSocket).includes("[native code]"),
    );
    step("streaming", first);
    await resultsReach(page, first.results + 30);
    const second = await figures(page);
    step("figures moved", second);

    // 2. The model finds the face in the clip.
    if (process.env.FAKE_VIDEO) {
      await page.waitForFunction(
        () => Number(document.getElementById("fig-faces").dataset.value) >= 1,
        null,
        { timeout: TIMEOUT, polling: 50 },
      );
      step("face found", await figures(page));
    }

    // 3. Bad frames: INVALID_INPUT, shown on the page, and the stream goes on.
    for (const kind of ["not-image", "truncated"]) {
      const before = await figures(page);
      await page.click(`button[data-bad="${kind}"]`);
      await page.waitForFunction(
        (n) => {
          const box = document.getElementById("last-error");
          return Number(box.dataset.count ?? 0) > n && box.dataset.code === "INVALID_INPUT";
        },
        before.errors,
        { timeout: TIMEOUT, polling: 50 },
      );
      const shown = await figures(page);
      await resultsReach(page, shown.results + 20);
      const after = await figures(page);
      step(`bad frame ${kind}`, {
        lastError: shown.lastError,
        errorVisible: shown.errorVisible,
        errors: shown.errors,
        resultsBefore: shown.results,
        resultsAfter: after.results,
        state: after.state,
      });
    }

    // 4. The codec switch: JSON both ways, then back to msgpack.
    for (const codec of ["json", "msgpack"]) {
      await page.click(`button[data-codec="${codec}"]`);
      await page.waitForFunction(
        (c) => document.getElementById("fig-codec").dataset.value === c,
        codec,
        { timeout: TIMEOUT, polling: 50 },
      );
      const switched = await currentResults(page);
      await resultsReach(page, switched + 30);
      step(`codec ${codec}`, await figures(page));
    }

    // 5. The round trip, measured by the page over `measure` results with msgpack.
    await page.click("#reset");
    await page.waitForFunction(
      (n) => Number(document.getElementById("fig-results").dataset.samples) >= n,
      measure,
      { timeout: Math.max(TIMEOUT, measure * 200), polling: 100 },
    );
    const measured = await figures(page);
    step("measured", measured);
    report.measured = measured;
    // One page, one connection: the codec switches left no old connection open.
    const config = await (await fetch(new URL("/api/config", url))).json();
    const ready = await fetch(`${config.runner.replace(/^ws/, "http")}/ready`);
    report.runnerSessions = (await ready.json()).sessions;
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function refused() {
  // A path the runner does not serve: the page must say why it cannot connect.
  const browser = await launch([]);
  try {
    // The browser logs the refused handshake itself: kept apart from the page's own errors.
    report.refusedConsole = [];
    const page = await openPage(browser, "?source=synthetic&path=/no-such-path", report.refusedConsole);
    await page.waitForFunction(
      () => Number(document.getElementById("last-error").dataset.count ?? 0) >= 1,
      null,
      { timeout: TIMEOUT, polling: 50 },
    );
    const seen = await figures(page);
    seen.code = await page.evaluate(() => document.getElementById("last-error").dataset.code);
    seen.status = await page.evaluate(() => document.getElementById("status").textContent);
    step("refused", seen);
  } finally {
    await browser.close();
  }
}

async function withoutCamera() {
  // No fake camera, no auto-granted permission: getUserMedia fails as on a machine
  // without a camera, and the page falls back to its synthetic scene.
  const browser = await launch([]);
  try {
    const page = await openPage(browser);
    await page.waitForFunction(() => document.body.dataset.source !== "", null, { timeout: TIMEOUT });
    await resultsReach(page, 30);
    if (process.env.FAKE_VIDEO) {
      // The synthetic scene shows the same sample portrait: the model finds it too.
      await page.waitForFunction(
        () => Number(document.getElementById("fig-faces").dataset.value) >= 1,
        null,
        { timeout: TIMEOUT, polling: 50 },
      );
    }
    step("no camera", await figures(page));
  } finally {
    await browser.close();
  }
}

try {
  await withCamera();
  await withoutCamera();
  await refused();
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error = String(error?.stack ?? error);
}
process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(report.ok ? 0 : 1));
