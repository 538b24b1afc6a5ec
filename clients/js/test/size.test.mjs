// The bundle size the README reports is the size of this build (esbuild and tsc pinned).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const CLIENT = dirname(dirname(fileURLToPath(import.meta.url)));

test("the README's bundle-size line is this build's", () => {
  const line = execFileSync(process.execPath, [join(CLIENT, "scripts", "size.mjs")], { encoding: "utf8" }).trim();
  const readme = readFileSync(join(CLIENT, "..", "..", "README.md"), "utf8").replace(/\s+/g, " ");
  const measured = line.replace(/\.$/, "");
  assert.ok(readme.includes(measured), `README.md should say: ${line} (run npm run size in clients/js)`);
});
