// Bundles the camera page (src/app.js with warmwire's own client, clients/js) for the browser.
// Output: ../src/warmwire/web/static/app.js, shipped in the wheel, never committed.
// Usage: npm run build   (after bash ../clients/js/setup.sh and npm ci; web/setup.sh does both)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
// The version shown on the page is the one the bundle was built from.
const clientPackage = JSON.parse(
  readFileSync(here("node_modules/@warmwire/client/package.json"), "utf8"),
);

await build({
  entryPoints: [here("src/app.js")],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  define: { __CLIENT_VERSION__: JSON.stringify(clientPackage.version) },
  outfile: here("../src/warmwire/web/static/app.js"),
  logLevel: "warning",
});
console.log(`built src/warmwire/web/static/app.js (@warmwire/client ${clientPackage.version})`);
