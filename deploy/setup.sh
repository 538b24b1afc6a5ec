#!/usr/bin/env bash
# What tests/scale and `make cluster` need: Debian's nginx at /usr/sbin/nginx.
# Idempotent: does nothing when nginx is already installed.  Installs it with
# apt-get when running as root; otherwise prints the command to run.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "nginx is missing: run 'sudo apt-get install -y nginx' (needed by tests/scale and make cluster)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends nginx \
    || { apt-get update && apt-get install -y --no-install-recommends nginx; }
