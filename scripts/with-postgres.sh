#!/usr/bin/env bash
# Runs a command next to a throwaway PostgreSQL server, then stops the server and deletes it.
#
#   bash scripts/with-postgres.sh swift test --filter StorageTests
#   bash scripts/with-postgres.sh psql        # PGHOST/PGPORT/PGUSER/PGDATABASE are exported
#
# What it does:
# 1. Finds initdb (newest /usr/lib/postgresql/*/bin, else PATH); when there is none, installs the
#    `postgresql` package with apt-get (scripts/ensure-apt-packages.sh, non-interactive).
# 2. Creates a cluster in a fresh `mktemp -d` directory: superuser `postgres`, trust
#    authentication, listening on 127.0.0.1 only (TCP) plus a unix socket inside that directory,
#    on a random free port, with durability switched off (fsync, full_page_writes: it is
#    thrown away). initdb refuses to run as root, so as root the cluster belongs to the system
#    user `postgres` (created when missing) and every server command runs as that user.
# 3. Waits until `pg_isready` answers, creates the database `gateway_test`, exports
#      MARKETGATEWAY_TEST_POSTGRES_URL        postgres://postgres@127.0.0.1:PORT/gateway_test
#      MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL  postgres://postgres@127.0.0.1:PORT/postgres
#        (superuser, for tests that create their own databases)
#      PGHOST PGPORT PGUSER PGDATABASE        the same server, for psql and friends
#    and runs the command in the foreground (stdin stays attached).
# 4. On exit, Ctrl-C or TERM: `pg_ctl stop -m fast` (then `-m immediate`), and removes the
#    directory. Exits with the command's status. (A TERM sent to this script alone takes effect
#    when the foreground command ends; Ctrl-C and CI timeouts signal the whole process group.)
#    Every run has its own directory and port, so concurrent runs do not interfere; a run killed
#    with SIGKILL leaves its directory and server behind (/tmp/marketgateway-pg.*).
#
# If MARKETGATEWAY_TEST_POSTGRES_URL is already set, no server is started: the command runs
# against that server (say so loudly, so a stale variable is noticed).
#
# Environment knobs: MARKETGATEWAY_PG_START_TIMEOUT (seconds, default 60).
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

database=gateway_test
start_timeout="${MARKETGATEWAY_PG_START_TIMEOUT:-60}"

# --- 1. Locate (or install) the PostgreSQL server binaries -------------------------------------

find_pg_bin() {
    local dir best=""
    # Debian/Ubuntu keep each major version in /usr/lib/postgresql/N/bin; take the newest.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then best="$dir"; fi
    done
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then
        best="$(dirname "$(readlink -f "$(command -v initdb)")")"
    fi
    printf '%s' "$best"
}

pg_bin="$(find_pg_bin)"
if [ -z "$pg_bin" ]; then
    log "no initdb found; installing the postgresql package"
    bash "$script_dir/ensure-apt-packages.sh" postgresql
    pg_bin="$(find_pg_bin)"
    if [ -z "$pg_bin" ]; then
        log "still no initdb after installing postgresql; giving up"
        exit 1
    fi
fi

pg_tool() {
    # pg_isready/createdb live next to initdb on Debian; elsewhere they may only be on PATH.
    if [ -x "$pg_bin/$1" ]; then printf '%s' "$pg_bin/$1"; else command -v "$1"; fi
}
pg_isready_bin="$(pg_tool pg_isready)"
createdb_bin="$(pg_tool createdb)"

# --- 2. The server's user ------------------------------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating system user postgres (initdb refuses to run as root)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    fi
    as_server_user() {
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
        fi
    }
    # The directory must be reachable by `postgres`, so not under a private $TMPDIR such as /root/tmp.
    temp_parent=/tmp
else
    as_server_user() { "$@"; }
    temp_parent="${TMPDIR:-/tmp}"
fi

# --- 3. Cluster in a temporary directory, stopped and removed on exit ----------------------------

temp_dir="$(mktemp -d "$temp_parent/marketgateway-pg.XXXXXX")"
data_dir="$temp_dir/data"
socket_dir="$temp_dir/socket"
log_file="$temp_dir/postgres.log"

stop_server() {
    local status=$?
    trap - EXIT INT TERM
    # postmaster.pid exists from the moment a postmaster starts until it has shut down.
    if [ -f "$data_dir/postmaster.pid" ]; then
        log "stopping PostgreSQL (data dir $data_dir)"
        if ! as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -m fast -w -t 30 stop >/dev/null 2>&1; then
            log "fast stop failed; stopping immediately"
            as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
        if [ -f "$data_dir/postmaster.pid" ]; then
            # Last resort: the postmaster this script started (its pid file, and its command line
            # names our data directory), never anything else.
            local pid
            pid="$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)"
            if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data_dir"; then
                log "killing postmaster $pid"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$temp_dir"
    exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$data_dir" "$socket_dir"
chmod 700 "$data_dir"
if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$temp_dir"
fi

server_version="$("$pg_bin/postgres" --version 2>/dev/null || echo "PostgreSQL in $pg_bin")"
log "initdb ($server_version) into $data_dir"
if ! as_server_user "$pg_bin/initdb" --pgdata="$data_dir" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C --no-sync >"$temp_dir/initdb.log" 2>&1; then
    cat "$temp_dir/initdb.log" >&2
    log "initdb failed"
    exit 1
fi

# initdb with --auth=trust writes pg_hba lines for the unix socket and loopback (127.0.0.1/32,
# ::1/128) only, and the server listens only on 127.0.0.1 and a socket in our private directory.
as_server_user tee -a "$data_dir/postgresql.conf" >/dev/null <<EOF

# --- scripts/with-postgres.sh: throwaway test server ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

pick_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        # No python3: a random high port; the start loop below retries if it is taken.
        printf '%s' $((20000 + RANDOM % 40000))
    fi
}

port=""
for attempt in 1 2 3 4 5; do
    candidate="$(pick_port)"
    : >"$log_file"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$log_file"; fi
    if as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -l "$log_file" -o "-p $candidate" \
        -w -t "$start_timeout" start >/dev/null 2>&1; then
        port="$candidate"
        break
    fi
    # pg_ctl may have given up while the postmaster still runs; make sure it is down before retrying.
    if [ -f "$data_dir/postmaster.pid" ]; then
        as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    log "start on port $candidate failed (attempt $attempt):"
    tail -n 5 "$log_file" >&2 || true
done
if [ -z "$port" ]; then
    log "could not start PostgreSQL after 5 attempts; its last log:"
    cat "$log_file" >&2 || true
    exit 1
fi

ready=0
for _ in $(seq 1 "$start_timeout"); do
    if "$pg_isready_bin" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 1; then
        ready=1
        break
    fi
    sleep 1
done
if [ "$ready" -ne 1 ]; then
    log "PostgreSQL did not become ready on 127.0.0.1:$port within ${start_timeout}s"
    cat "$log_file" >&2 || true
    exit 1
fi

"$createdb_bin" -h 127.0.0.1 -p "$port" -U postgres "$database"

export MARKETGATEWAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/$database"
export MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE="$database"

log "$server_version ready on 127.0.0.1:$port (data dir $data_dir, pid $(head -n 1 "$data_dir/postmaster.pid"))"
log "MARKETGATEWAY_TEST_POSTGRES_URL=$MARKETGATEWAY_TEST_POSTGRES_URL"
log "MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL=$MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL"
log "running: $*"

# Foreground, so the command keeps the terminal and stdin; the EXIT trap stops the server.
set +e
"$@"
command_status=$?
set -e
exit "$command_status"
