#!/usr/bin/env bash
# What warmwire's JavaScript client (clients/js) needs, set up idempotently:
#   - its npm packages, pinned by package-lock.json (npm ci, only when the lockfile changed):
#     @msgpack/msgpack (its one runtime dependency), and for its tests and builds
#     typescript, ws, esbuild, playwright-core;
#   - dist/ (tsc: ESM + type declarations), rebuilt when missing or older than its sources.
# `make test` runs it (jsclient-setup), and so does web/setup.sh: the camera page bundles it.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "clients/js/setup.sh: $*" >&2; }

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  say "node and npm are needed (Node.js >= 20): install them (sudo apt-get install -y nodejs npm) and run this again"
  exit 1
fi

stamp=node_modules/.warmwire-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

if [ ! -f dist/index.js ] || [ -n "$(find src tsconfig.json package-lock.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build
  touch dist/index.js
fi
