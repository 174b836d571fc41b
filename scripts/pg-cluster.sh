#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a directory, driven step by step (tests stop and restart it).
#
#   bash scripts/pg-cluster.sh init DIR      # create + start; prints the database URL
#   bash scripts/pg-cluster.sh stop DIR      # fast shutdown (clients are disconnected)
#   bash scripts/pg-cluster.sh start DIR     # start again on the same port
#   bash scripts/pg-cluster.sh url DIR       # print postgres://postgres@127.0.0.1:PORT/gateway_test
#   bash scripts/pg-cluster.sh destroy DIR   # stop (immediately if need be) and delete DIR
#
# The cluster: superuser `postgres`, trust authentication, listening on 127.0.0.1 only (plus a
# unix socket inside DIR), a random free port kept in DIR/port, durability off (fsync,
# full_page_writes), database `gateway_test`. initdb refuses to run as root, so as root the
# cluster belongs to the system user `postgres` (created when missing) and every server command
# runs as that user; DIR must then be reachable by it (use /tmp, not a private $TMPDIR).
# When no initdb is found, the `postgresql` package is installed with apt-get.
#
# TimescaleDB: when the extension is installed (scripts/ensure-timescaledb.sh), `init` preloads it
# (shared_preload_libraries = 'timescaledb', telemetry off), so the gateway's migrations turn the
# tables into hypertables. Its background job scheduler is off (max_background_workers = 0): the
# tests store captures from 2024, which the configured retention policy would drop at any moment
# while a test reads them; tests run a policy's job themselves (CALL run_job(id)).
#
# Environment knobs: MARKETGATEWAY_PG_START_TIMEOUT (seconds, default 60);
# MARKETGATEWAY_PG_TIMESCALEDB = auto (default: preload when installed) | off (never: plain
# PostgreSQL, with the extension installed-but-not-preloaded when it is installed) | on (fail
# when it is not installed).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'pg-cluster: %s\n' "$*" >&2; }
start_timeout="${MARKETGATEWAY_PG_START_TIMEOUT:-60}"
database=gateway_test

if [ "$#" -ne 2 ]; then
    log "usage: $0 init|start|stop|url|destroy DIR"
    exit 2
fi
command="$1"
dir="$2"
data_dir="$dir/data"
socket_dir="$dir/socket"
log_file="$dir/postgres.log"

find_pg_bin() {
    local d best=""
    # Debian/Ubuntu keep each major version in /usr/lib/postgresql/N/bin; take the newest.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then best="$d"; fi
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
    [ -n "$pg_bin" ] || { log "still no initdb after installing postgresql; giving up"; exit 1; }
fi
pg_tool() { if [ -x "$pg_bin/$1" ]; then printf '%s' "$pg_bin/$1"; else command -v "$1"; fi; }

if [ "$(id -u)" -eq 0 ]; then
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating system user postgres (initdb refuses to run as root)"
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
    as_server_user() {
        if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
        else su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; fi
    }
else
    as_server_user() { "$@"; }
fi

pick_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        printf '%s' $((20000 + RANDOM % 40000))
    fi
}

server_start() { # PORT
    : >"$log_file"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$log_file"; fi
    as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -l "$log_file" -o "-p $1" -w -t "$start_timeout" start >/dev/null 2>&1
}

wait_ready() { # PORT
    local _
    for _ in $(seq 1 "$start_timeout"); do
        if "$(pg_tool pg_isready)" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 1; then return 0; fi
        sleep 1
    done
    log "PostgreSQL did not become ready on 127.0.0.1:$1 within ${start_timeout}s"
    cat "$log_file" >&2 || true
    return 1
}

server_stop() { # MODE
    [ -f "$data_dir/postmaster.pid" ] || return 0
    as_server_user "$pg_bin/pg_ctl" -D "$data_dir" -m "$1" -w -t 30 stop >/dev/null 2>&1
}

case "$command" in
init)
    mkdir -p "$data_dir" "$socket_dir"
    chmod 700 "$data_dir"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$dir"; fi
    log "initdb ($("$pg_bin/postgres" --version 2>/dev/null || echo "PostgreSQL in $pg_bin")) into $data_dir"
    if ! as_server_user "$pg_bin/initdb" --pgdata="$data_dir" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        log "initdb failed"
        exit 1
    fi
    # initdb --auth=trust allows the unix socket and loopback only; listen on 127.0.0.1 only.
    as_server_user tee -a "$data_dir/postgresql.conf" >/dev/null <<CONF

# --- scripts/pg-cluster.sh: throwaway test server ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    timescaledb="${MARKETGATEWAY_PG_TIMESCALEDB:-auto}"
    if [ -x "$pg_bin/pg_config" ]; then sharedir="$("$pg_bin/pg_config" --sharedir)"
    else sharedir="/usr/share/postgresql/$(basename "$(dirname "$pg_bin")")"; fi
    control="$sharedir/extension/timescaledb.control"
    case "$timescaledb" in
    auto | on)
        if [ -f "$control" ]; then
            as_server_user tee -a "$data_dir/postgresql.conf" >/dev/null <<CONF
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
timescaledb.max_background_workers = 0
max_locks_per_transaction = 256
CONF
            log "TimescaleDB preloaded"
        elif [ "$timescaledb" = on ]; then
            log "MARKETGATEWAY_PG_TIMESCALEDB=on but $control is missing (run scripts/ensure-timescaledb.sh)"
            exit 1
        else
            log "TimescaleDB is not installed ($control missing): plain PostgreSQL"
        fi
        ;;
    off) log "TimescaleDB not preloaded (MARKETGATEWAY_PG_TIMESCALEDB=off): plain PostgreSQL" ;;
    *) log "MARKETGATEWAY_PG_TIMESCALEDB must be auto, on or off (got $timescaledb)"; exit 2 ;;
    esac
    port=""
    for attempt in 1 2 3 4 5; do
        candidate="$(pick_port)"
        if server_start "$candidate"; then port="$candidate"; break; fi
        server_stop immediate || true
        log "start on port $candidate failed (attempt $attempt):"
        tail -n 5 "$log_file" >&2 || true
    done
    [ -n "$port" ] || { log "could not start PostgreSQL after 5 attempts"; cat "$log_file" >&2 || true; exit 1; }
    printf '%s\n' "$port" >"$dir/port"
    wait_ready "$port"
    "$(pg_tool createdb)" -h 127.0.0.1 -p "$port" -U postgres "$database"
    printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$port" "$database"
    ;;
start)
    port="$(cat "$dir/port")"
    server_start "$port" || { log "start failed"; tail -n 20 "$log_file" >&2 || true; exit 1; }
    wait_ready "$port"
    ;;
stop)
    server_stop fast || server_stop immediate
    ;;
url)
    printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$(cat "$dir/port")" "$database"
    ;;
destroy)
    if [ -f "$data_dir/postmaster.pid" ]; then
        server_stop fast || server_stop immediate || true
        if [ -f "$data_dir/postmaster.pid" ]; then
            # Last resort: the postmaster of this data directory (its command line names it), nothing else.
            pid="$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)"
            if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data_dir"; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$dir"
    ;;
*)
    log "unknown command $command (init|start|stop|url|destroy)"
    exit 2
    ;;
esac
