#!/usr/bin/env bash
# Installs the peers the interop tests (tests/interop) drive; `make test` runs it first.
#
#   1. Debian's Chromium at /usr/bin/chromium (apt-get, when missing and run as root;
#      otherwise it prints the command to run);
#   2. the npm packages of tests/interop/js (@fal-ai/client, playwright-core, esbuild),
#      with `npm ci` from the lockfile when node_modules is missing or stale;
#   3. the fal runtime in its own venv, tests/interop/.venv-fal (fal cannot share the
#      project venv: it requires pathspec<1, the project's mypy requires pathspec>=1).
#
# Idempotent: each step runs only when what it installs is missing or out of date.
# PYTHON (default python3) is the interpreter the fal venv is made from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

# 1. Chromium ------------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "interop setup: installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "interop setup: /usr/bin/chromium is missing; install it with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
  fi
fi

# 2. npm packages --------------------------------------------------------------------------
js="$here/js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "interop setup: node and npm are needed (Node.js >= 20); install them first" >&2
  exit 1
fi
want="$(digest "$js/package.json" "$js/package-lock.json")"
stamp="$js/node_modules/.interop-installed"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "interop setup: npm ci in tests/interop/js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# 3. The fal runtime -----------------------------------------------------------------------
venv="$here/.venv-fal"
requirements="$here/fal-runtime-requirements.txt"
want="$(digest "$requirements")"
stamp="$venv/.interop-installed"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "interop setup: installing the fal runtime into tests/interop/.venv-fal"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$requirements" > "$venv/install.log" 2>&1; then
    echo "$want" > "$stamp"
  else
    # The fal runtime tests then skip with this reason (see fal_runtime_app.py); the
    # stamp is not written, so the next run tries again.
    tail -n 20 "$venv/install.log" > "$venv/INSTALL-FAILED.txt"
    echo "interop setup: WARNING: pip could not install the fal runtime:" >&2
    cat "$venv/INSTALL-FAILED.txt" >&2
  fi
fi
