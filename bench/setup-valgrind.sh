#!/usr/bin/env bash
# What `make bench-instructions` needs: Debian's valgrind (callgrind and callgrind_control).
# Idempotent: does nothing when it is installed.  Installs it with apt-get when running as
# root; otherwise prints the command to run.
set -euo pipefail

if command -v valgrind >/dev/null 2>&1 && command -v callgrind_control >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "valgrind is missing: run 'sudo apt-get install -y valgrind' (needed by make bench-instructions)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends valgrind \
    || { apt-get update && apt-get install -y --no-install-recommends valgrind; }
