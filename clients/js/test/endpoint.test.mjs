// App ids and paths: the URL path the client dials is the one warmwire's Python client
// builds (warmwire.core.endpoint.parse_app_id, the oracle), and ids it refuses, this refuses.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

import { parseEndpoint } from "../dist/endpoint.js";

const CASES = [
  ["acme/stylize", null],
  ["acme/stylize", "/v2/live"],
  ["acme/stylize", "v2/live/"],
  ["acme/stylize/realtime", null],
  ["acme/stylize/v2/live", "/v2/live"],
  ["acme/stylize/sub/dir", null],
  ["/acme/stylize/", null],
  ["123-stylize", null],
  ["123-stylize/realtime", null],
  ["workflows/acme/flow", null],
  ["comfy/acme/flow/realtime", null],
  ["workflows/acme", null],
  ["stylize", null],
  ["", null],
  ["acme/", null],
  ["acme/../other", null],
  ["acme/sty lize", null],
  ["acme/stylize", "/"],
  ["acme/stylize", "/a/../b"],
  ["acme/stylize", "/ok~._-"],
];

function inJs(app, path) {
  try {
    return { path: parseEndpoint(app, path ?? undefined).urlPath };
  } catch (error) {
    assert.equal(error.name, "ConfigurationError");
    return { refused: true };
  }
}

function inPython() {
  const script = `
import json, sys
from warmwire.core.endpoint import DEFAULT_PATH, parse_app_id
from warmwire.core.errors import InvalidEndpointError
out = []
for app, path in json.load(sys.stdin):
    try:
        out.append({"path": parse_app_id(app, path if path is not None else DEFAULT_PATH).url_path})
    except InvalidEndpointError:
        out.append({"refused": True})
print(json.dumps(out))
`;
  const run = spawnSync(process.env.PYTHON ?? "python3", ["-c", script], { input: JSON.stringify(CASES), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test("the URL path of every app id is the one warmwire's Python client builds", () => {
  const expected = inPython();
  CASES.forEach(([app, path], i) => {
    assert.deepEqual(inJs(app, path), expected[i], `app ${JSON.stringify(app)}, path ${JSON.stringify(path)}`);
  });
});

test("the token provider receives owner/alias[/sub]/path, as @fal-ai/client passes it", () => {
  assert.equal(parseEndpoint("acme/stylize").endpointPath, "acme/stylize/realtime");
  assert.equal(parseEndpoint("acme/stylize/realtime").endpointPath, "acme/stylize/realtime");
  assert.equal(parseEndpoint("workflows/acme/flow", "/v2").endpointPath, "workflows/acme/flow/v2");
  assert.equal(parseEndpoint("workflows/acme/flow").alias, "flow");
  assert.equal(parseEndpoint("123-stylize").alias, "stylize");
});
