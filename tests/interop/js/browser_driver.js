// Drives headless Chromium (Debian's /usr/bin/chromium) with playwright-core: opens the
// interop page served from loopback and prints one JSON line per scenario it ran.
//
// Environment: INTEROP_PAGE_URL (http://127.0.0.1:PORT/).
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

const url = process.env.INTEROP_PAGE_URL;
if (!url) throw new Error("INTEROP_PAGE_URL is not set");

const lines = [];
const emit = (record) => lines.push(JSON.stringify(record));

const browser = await chromium.launch({
  executablePath: process.env.INTEROP_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: FLAGS,
  timeout: 30000,
});
try {
  const page = await browser.newPage();
  page.on("console", (msg) => emit({ console: msg.type(), text: msg.text() }));
  page.on("pageerror", (error) => emit({ pageerror: String(error) }));
  await page.goto(url, { timeout: 15000 });
  await page.waitForFunction(() => window.interopReady === true, null, { timeout: 15000 });
  emit({ userAgent: await page.evaluate(() => navigator.userAgent) });
  const reports = await page.evaluate(() => window.runInterop());
  for (const report of reports) emit(report);
} finally {
  await browser.close();
}
process.stdout.write(lines.join("\n") + "\n", () => process.exit(0));
