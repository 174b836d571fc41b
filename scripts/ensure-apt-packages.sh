#!/usr/bin/env bash
# Installs the given Debian/Ubuntu packages with apt-get when `dpkg -s` says they are missing.
#
#   bash scripts/ensure-apt-packages.sh zlib1g-dev postgresql
#
# - Non-interactive (DEBIAN_FRONTEND=noninteractive, no stdin needed), so it works in CI as root.
# - Runs `apt-get update` only when something has to be installed.
# - Not root: uses `sudo -n` when available, otherwise fails and names the packages to install.
# - No dpkg (not Debian/Ubuntu): prints a note and succeeds; the build or the caller reports what
#   is really missing.
# - Package maintainer scripts are not allowed to start services while installing (a temporary
#   /usr/sbin/policy-rc.d, the usual container practice, only when none exists): installing
#   `postgresql` would otherwise start a system-wide cluster on port 5432 that outlives the tests.
set -euo pipefail

log() { printf 'ensure-apt-packages: %s\n' "$*" >&2; }

if [ "$#" -eq 0 ]; then
    log "usage: $0 PACKAGE..."
    exit 2
fi

if ! command -v dpkg >/dev/null 2>&1; then
    log "no dpkg here (not Debian/Ubuntu); not checking: $*"
    exit 0
fi

missing=()
for package in "$@"; do
    # `dpkg -s` also succeeds for removed-but-configured packages; require "install ok installed".
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    log "missing packages: ${missing[*]}"
    log "install them as root: apt-get install -y ${missing[*]}"
    exit 1
fi

policy_file=/usr/sbin/policy-rc.d
created_policy=0
cleanup_policy() {
    if [ "$created_policy" -eq 1 ]; then
        "${as_root[@]}" rm -f "$policy_file"
    fi
}
trap cleanup_policy EXIT
if [ ! -e "$policy_file" ]; then
    # Exit status 101 = "action forbidden by policy" (invoke-rc.d(8)).
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy_file" >/dev/null
    "${as_root[@]}" chmod 755 "$policy_file"
    created_policy=1
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null >&2
log "installed: ${missing[*]}"
