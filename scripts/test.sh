#!/usr/bin/env bash
# The project's test command: `bash scripts/test.sh [swift test arguments...]`.
#
# Makes sure the system libraries the package links are present (zlib1g-dev, via apt-get when
# missing) and the page tests' tools (scripts/ensure-page-tools.sh: chromium, promtool, a Python
# venv with schemathesis), then runs `swift test "$@"` inside scripts/with-postgres.sh, which starts a
# throwaway PostgreSQL on 127.0.0.1 for the storage tests, exports
# MARKETGATEWAY_TEST_POSTGRES_URL / MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL, and stops and deletes
# the server afterwards, even on failure. Exits with `swift test`'s status.
#
# TimescaleDB: scripts/ensure-timescaledb.sh builds and installs the extension from
# ../shared/vendor when it is not installed yet (minutes on an idle machine, once; later runs skip
# it), and the throwaway server preloads it, so the TimescaleDB tests run. A second server without
# it keeps the plain-PostgreSQL path tested. In CI (CI=true) a failed install fails the run, and the
# TimescaleDB tests fail rather than skip when the extension is missing; elsewhere they skip
# with the reason printed.
#
#   bash scripts/test.sh                          # everything
#   bash scripts/test.sh --filter StorageTests    # extra arguments go to `swift test`
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$script_dir/.."

# Package.swift: .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]).
bash "$script_dir/ensure-apt-packages.sh" zlib1g-dev
# NATSTests start real nats-server processes (docs/nats.md).
bash "$script_dir/ensure-apt-packages.sh" nats-server

if ! bash "$script_dir/ensure-timescaledb.sh"; then
    if [ "${CI:-}" = true ]; then
        echo "test.sh: TimescaleDB could not be installed; CI needs it" >&2
        exit 1
    fi
    echo "test.sh: TimescaleDB could not be installed; its tests will be skipped" >&2
fi

# The page tests' browser, promtool and Python tools (scripts/ensure-page-tools.sh): a page test
# that finds its tool missing fails rather than skips.
eval "$(bash "$script_dir/ensure-page-tools.sh")"

# --no-parallel: the live-feed and simulator tests run real servers and clients on loopback with
# timeouts; on a 2-core machine, running every suite at once starves them. One at a time keeps
# them deterministic (the whole run still takes minutes, not tens of minutes).
#
# The full log goes to .build/test-output.log; failures are repeated at the end, because CI keeps
# only the tail of a long run.
mkdir -p .build
log=.build/test-output.log
set +e
bash "$script_dir/with-postgres.sh" swift test --no-parallel "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "---- failures (full log: $log) ----"
    grep -E '✘|error:|Fatal error|Expectation failed|Issue recorded' "$log" | grep -v '^\s*$' | tail -n 60 || true
fi
exit "$status"
