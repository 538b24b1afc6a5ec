// Bundles the camera page (src/app.js with the official @fal-ai/client) for the browser.
// Output: ../src/warmwire/web/static/app.js, shipped in the wheel, never committed.
// Usage: npm run build   (after npm ci)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
// The version shown on the page is the one installed from the lockfile.
const falPackage = JSON.parse(
  readFileSync(here("node_modules/@fal-ai/client/package.json"), "utf8"),
);

await build({
  entryPoints: [here("src/app.js")],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  define: { __FAL_CLIENT_VERSION__: JSON.stringify(falPackage.version) },
  outfile: here("../src/warmwire/web/static/app.js"),
  logLevel: "warning",
});
console.log(`built src/warmwire/web/static/app.js (@fal-ai/client ${falPackage.version})`);
