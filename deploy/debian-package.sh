#!/usr/bin/env bash
# Make sure a Debian package is installed: debian-package.sh PACKAGE NEEDED_BY COMMAND...
# Idempotent: does nothing when every COMMAND is found (on PATH or in /usr/sbin).  Installs
# PACKAGE with apt-get when running as root; otherwise prints the command to run and fails.
set -euo pipefail

package=$1
needed_by=$2
shift 2
for command in "$@"; do
    if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "$package is missing: run 'sudo apt-get install -y $package' (needed by $needed_by)" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "$package" \
            || { apt-get update && apt-get install -y --no-install-recommends "$package"; }
        exit 0
    fi
done
