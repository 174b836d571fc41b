#!/usr/bin/env bash
# Builds and installs the TimescaleDB extension into the newest local PostgreSQL when it is not
# installed yet; does nothing (in well under a second) when it is.
#
#   bash scripts/ensure-timescaledb.sh
#
# Source: ../shared/vendor/timescaledb-2.28.3.tar.gz next to the repository (or
# MARKETGATEWAY_TIMESCALEDB_TARBALL), checked against its sha256. 2.28 is the last release line
# that builds against PostgreSQL 15 (Debian 12's). Nothing of the extension's source lives in
# this repository.
#
# - Installed means `timescaledb.control` in `pg_config --sharedir`/extension and the versioned
#   library in `pg_config --pkglibdir`.
# - Installs what the build needs with apt-get (cmake, gcc, make, postgresql-server-dev-N).
# - The build runs in a temporary directory, bounded by MARKETGATEWAY_TIMESCALEDB_BUILD_TIMEOUT
#   seconds (default 2400), and prints how long it took. Its log is kept when it fails.
# - One build at a time: a second caller waits on a lock and then finds it installed.
# - Not root: `make install` goes through `sudo -n`; without it, the script fails and says so.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"
log() { printf 'ensure-timescaledb: %s\n' "$*" >&2; }

version=2.28.3
sha256=c80abd42995a317d9c046da6499a7a6e63c58e188124a2f20580f7c82fa4b801
tarball="${MARKETGATEWAY_TIMESCALEDB_TARBALL:-$repo/../shared/vendor/timescaledb-$version.tar.gz}"
build_timeout="${MARKETGATEWAY_TIMESCALEDB_BUILD_TIMEOUT:-2400}"

# The PostgreSQL that scripts/pg-cluster.sh runs: the newest /usr/lib/postgresql/N.
pg_major() {
    local d best=""
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        if [ -x "$d/initdb" ]; then best="$d"; fi
    done
    [ -n "$best" ] || return 1
    basename "$(dirname "$best")"
}

if ! major="$(pg_major)"; then
    bash "$script_dir/ensure-apt-packages.sh" postgresql
    major="$(pg_major)" || { log "no PostgreSQL server found after installing postgresql"; exit 1; }
fi

installed() {
    local pg_config="/usr/lib/postgresql/$major/bin/pg_config"
    [ -x "$pg_config" ] || return 1
    [ -f "$("$pg_config" --sharedir)/extension/timescaledb.control" ] &&
        [ -f "$("$pg_config" --pkglibdir)/timescaledb-$version.so" ]
}

if installed; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    log "TimescaleDB $version is not installed for PostgreSQL $major and installing it needs root (or sudo -n)"
    exit 1
fi

# One build at a time on this machine; whoever waited finds it installed.
lock=/tmp/marketgateway-timescaledb.lock
exec 9>"$lock"
if ! flock -n 9; then
    log "another TimescaleDB build is running; waiting for it (lock $lock)"
    flock 9
fi
if installed; then
    exit 0
fi

[ -f "$tarball" ] || { log "TimescaleDB source not found: $tarball (set MARKETGATEWAY_TIMESCALEDB_TARBALL)"; exit 1; }
actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$actual" != "$sha256" ]; then
    log "$tarball: sha256 $actual, expected $sha256"
    exit 1
fi

bash "$script_dir/ensure-apt-packages.sh" cmake gcc make "postgresql-server-dev-$major"

work="$(mktemp -d /tmp/marketgateway-timescaledb-build.XXXXXX)"
build_log="$work/build.log"
started=$(date +%s)
log "building TimescaleDB $version for PostgreSQL $major in $work (log $build_log; at most ${build_timeout}s) ..."
if ! timeout "$build_timeout" bash -c '
    set -euo pipefail
    tar xzf "$1" -C "$2"
    cd "$2/timescaledb-$3"
    BUILD_FORCE_REMOVE=true ./bootstrap -DPG_CONFIG="/usr/lib/postgresql/$4/bin/pg_config" \
        -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release \
        -DUSE_OPENSSL=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF
    make -C build -j"$(nproc)"
' _ "$tarball" "$work" "$version" "$major" >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    log "the TimescaleDB build failed or took longer than ${build_timeout}s; log kept in $build_log"
    exit 1
fi
built=$(date +%s)
if ! "${as_root[@]}" make -C "$work/timescaledb-$version/build" install >>"$build_log" 2>&1; then
    tail -n 20 "$build_log" >&2
    log "make install failed; log kept in $build_log"
    exit 1
fi
installed || { log "make install finished but timescaledb.control or timescaledb-$version.so is missing"; exit 1; }
log "TimescaleDB $version installed for PostgreSQL $major: build $((built - started))s, install $(($(date +%s) - built))s ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
rm -rf "$work"
