#!/usr/bin/env bash
# Runs a command next to a throwaway PostgreSQL server, then stops the server and deletes it.
#
#   bash scripts/with-postgres.sh swift test --filter StorageTests
#   bash scripts/with-postgres.sh psql        # PGHOST/PGPORT/PGUSER/PGDATABASE are exported
#
# The server is a scripts/pg-cluster.sh cluster in a fresh /tmp/marketgateway-pg.* directory
# (loopback only, random port, trust auth, durability off; installed with apt-get when missing).
# Exported for the command:
#   MARKETGATEWAY_TEST_POSTGRES_URL        postgres://postgres@127.0.0.1:PORT/gateway_test
#   MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL  postgres://postgres@127.0.0.1:PORT/postgres
#     (superuser, for tests that create their own databases)
#   PGHOST PGPORT PGUSER PGDATABASE        the same server, for psql and friends
#   MARKETGATEWAY_TEST_PLAIN_POSTGRES_URL, MARKETGATEWAY_TEST_PLAIN_POSTGRES_ADMIN_URL
#     a second server of the same kind without TimescaleDB preloaded (MARKETGATEWAY_PG_TIMESCALEDB=off),
#     so the plain-PostgreSQL path (and the installed-but-not-preloaded fallback) stays tested
# The first server preloads TimescaleDB when it is installed (scripts/ensure-timescaledb.sh;
# scripts/test.sh runs that first).
# On exit, Ctrl-C or TERM the server is stopped and the directory removed; the script exits with
# the command's status. A run killed with SIGKILL leaves /tmp/marketgateway-pg.* behind.
#
# If MARKETGATEWAY_TEST_POSTGRES_URL is already set, no server is started: the command runs
# against that server (said loudly, so a stale variable is noticed).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'with-postgres: %s\n' "$*" >&2; }

if [ "$#" -eq 0 ]; then
    log "usage: $0 COMMAND [ARG...]"
    exit 2
fi
if [ -n "${MARKETGATEWAY_TEST_POSTGRES_URL:-}" ]; then
    log "MARKETGATEWAY_TEST_POSTGRES_URL is already set; using that server, starting none"
    exec "$@"
fi

# As root the cluster runs as `postgres`, which cannot enter a private $TMPDIR such as /root/tmp.
if [ "$(id -u)" -eq 0 ]; then temp_parent=/tmp; else temp_parent="${TMPDIR:-/tmp}"; fi
cluster="$(mktemp -d "$temp_parent/marketgateway-pg.XXXXXX")"
plain_cluster="$(mktemp -d "$temp_parent/marketgateway-pg-plain.XXXXXX")"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    log "stopping PostgreSQL and removing $cluster $plain_cluster"
    bash "$script_dir/pg-cluster.sh" destroy "$cluster" || true
    bash "$script_dir/pg-cluster.sh" destroy "$plain_cluster" || true
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url="$(bash "$script_dir/pg-cluster.sh" init "$cluster")"
port="$(cat "$cluster/port")"
export MARKETGATEWAY_TEST_POSTGRES_URL="$url"
export MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=gateway_test
plain_url="$(MARKETGATEWAY_PG_TIMESCALEDB=off bash "$script_dir/pg-cluster.sh" init "$plain_cluster")"
plain_port="$(cat "$plain_cluster/port")"
export MARKETGATEWAY_TEST_PLAIN_POSTGRES_URL="$plain_url"
export MARKETGATEWAY_TEST_PLAIN_POSTGRES_ADMIN_URL="postgres://postgres@127.0.0.1:$plain_port/postgres"

log "PostgreSQL ready on 127.0.0.1:$port (cluster $cluster)"
log "MARKETGATEWAY_TEST_POSTGRES_URL=$MARKETGATEWAY_TEST_POSTGRES_URL"
log "MARKETGATEWAY_TEST_PLAIN_POSTGRES_URL=$MARKETGATEWAY_TEST_PLAIN_POSTGRES_URL (no TimescaleDB)"
log "running: $*"

# Foreground, so the command keeps the terminal and stdin; the EXIT trap stops the server.
set +e
"$@"
command_status=$?
set -e
exit "$command_status"
