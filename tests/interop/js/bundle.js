// Bundles @fal-ai/client (CommonJS) for the browser page: window.falClient = { fal, ... }.
// Usage: node bundle.js OUTFILE
import { createRequire } from "node:module";

import { build } from "esbuild";

const require = createRequire(import.meta.url);
const outfile = process.argv[2];
if (!outfile) throw new Error("usage: node bundle.js OUTFILE");
await build({
  entryPoints: [require.resolve("@fal-ai/client")],
  bundle: true,
  format: "iife",
  globalName: "falClient",
  platform: "browser",
  target: "es2020",
  outfile,
  logLevel: "warning",
});
