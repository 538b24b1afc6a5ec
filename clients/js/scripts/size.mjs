// The client's size in a browser bundle: esbuild, minified, then gzipped, for the main
// entry (msgpack and JSON) and for @warmwire/client/json (no msgpack).  Prints one line
// for the README.  Usage: npm run size (after npm run build).
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

async function size(entry) {
  const result = await build({
    stdin: { contents: `export { realtime } from ${JSON.stringify(here(entry))};`, resolveDir: here("..") },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    write: false,
    logLevel: "warning",
  });
  const bytes = result.outputFiles[0].contents;
  return { minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const full = await size("../dist/index.js");
const json = await size("../dist/json.js");
console.log(
  `Bundle size (esbuild, minified / gzipped): ${kb(full.minified)} / ${kb(full.gzipped)} with msgpack ` +
    `(\`@warmwire/client\`), ${kb(json.minified)} / ${kb(json.gzipped)} without (\`@warmwire/client/json\`).`,
);
