#!/usr/bin/env bash
# What tests/scale and `make cluster` need: Debian's nginx at /usr/sbin/nginx.
set -euo pipefail
exec bash "$(dirname "$0")/debian-package.sh" nginx "tests/scale and make cluster" nginx
