#!/usr/bin/env bash
# What the camera page (`warmwire demo --web`, `make web`) needs, set up idempotently:
#   - warmwire's JavaScript client, which the page bundles (clients/js/setup.sh: its npm
#     packages and its build);
#   - the npm packages pinned by web/package-lock.json (npm ci, only when the lockfile changed);
#   - the page's JavaScript bundle, src/warmwire/web/static/app.js (esbuild; rebuilt when
#     missing or older than its sources);
#   - the system libraries MediaPipe's OpenCV loads (libGL, GLib);
#   - with --chromium: Debian's Chromium, for the page's browser test (make test).
# System packages are installed with apt-get when running as root; otherwise the
# script stops and says what to install.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "web/setup.sh: $*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "missing $*; install it (sudo apt-get install -y $*) and run this again"
    exit 1
  fi
  say "installing $* with apt-get"
  if [ -z "${WARMWIRE_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    export WARMWIRE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  apt_install nodejs npm
fi

if ! ldconfig -p | grep -q 'libGL\.so\.1 '; then apt_install libgl1; fi
if ! ldconfig -p | grep -q 'libglib-2\.0\.so\.0 '; then apt_install libglib2.0-0; fi

bash ../clients/js/setup.sh

stamp=node_modules/.warmwire-package-lock.json
if ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

bundle=../src/warmwire/web/static/app.js
if [ ! -f "$bundle" ] || [ -n "$(find src build.mjs package-lock.json ../clients/js/dist -newer "$bundle" -print -quit)" ]; then
  npm run --silent build
fi

if [ "${1:-}" = "--chromium" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
