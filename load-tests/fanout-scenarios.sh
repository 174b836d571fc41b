#!/usr/bin/env bash
# Fan-out scenarios (load-tests/FANOUT.md): a publisher serves ws://127.0.0.1:PORT/ws, waits for N
# subscribed clients, publishes M trade events and sends each client {"type":"end","sent":M};
# loadgen and then wsload (the independent C client) measure delivery. One table row per run.
#
#   load-tests/fanout-scenarios.sh                      # against `gateway bench-fanout`
#   PUBLISHER="python3 load-tests/python-baseline/server.py" SCALE=0.2 load-tests/fanout-scenarios.sh
#
# Environment: PUBLISHER (command taking --port --clients --count [--rate] --channel),
# SCENARIOS (names to run, default "c100 c1000 c10000 latency"), SCALE (multiplies M of the unpaced runs),
# BASE_PORT (default 18100), SKIP_BUILD=1, RESULTS (directory for raw JSON, default .build/fanout).
set -euo pipefail
cd "$(dirname "$0")/.."

CHANNEL="trades.bench.BTC-USDT"
PUBLISHER=${PUBLISHER:-.build/release/gateway bench-fanout}
SCENARIOS=${SCENARIOS:-c100 c1000 c10000 latency}
SCALE=${SCALE:-1}
PORT=${BASE_PORT:-18100}
RESULTS=${RESULTS:-.build/fanout}
mkdir -p "$RESULTS"

# 10,000 sockets on each side: the default soft limit (1,024) is far too low.
ulimit -n "$(ulimit -Hn)"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --product gateway
    swift build --package-path load-tests -c release --product loadgen
    cc -O2 -o .build/wsload ../shared/tools/wsload.c
fi

# name clients count rate. M is sized for ~5–15 s at ~500,000 delivered msgs/s (5M deliveries);
# the latency run is paced: 1,000 clients × 100 events/s = 100,000 delivered msgs/s for 10 s.
scenario() {
    case $1 in
        c100) echo "100 50000 0" ;;
        c1000) echo "1000 5000 0" ;;
        c10000) echo "10000 500 0" ;;
        latency) echo "1000 1000 100" ;;
        *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

wait_listening() { # port pid
    for _ in $(seq 200); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        kill -0 "$2" 2>/dev/null || { echo "publisher exited before listening" >&2; return 1; }
        sleep 0.05
    done
    echo "publisher not listening on $1" >&2
    return 1
}

rows=()
run() { # scenario client
    local name=$1 client=$2 clients count rate
    read -r clients count rate < <(scenario "$name")
    # SCALE shortens unpaced runs only; the paced latency run keeps its length.
    [[ $rate == 0 ]] && count=$(awk -v c="$count" -v s="$SCALE" 'BEGIN { n = int(c * s); print (n < 1 ? 1 : n) }')
    PORT=$((PORT + 1))
    local out="$RESULTS/$name-$client.json" pubout="$RESULTS/$name-$client.publisher.log"
    # shellcheck disable=SC2086 # PUBLISHER is a command line
    $PUBLISHER --port "$PORT" --clients "$clients" --count "$count" --rate "$rate" --channel "$CHANNEL" >"$pubout" 2>&1 &
    local pub=$!
    wait_listening "$PORT" "$pub"
    case $client in
        loadgen)
            load-tests/.build/release/loadgen --url "ws://127.0.0.1:$PORT/ws" --clients "$clients" --channel "$CHANNEL" \
                --ts-key pub_ns --duration 60 --server-pid "$pub" --json >"$out" 2>"$RESULTS/$name-$client.table"
            ;;
        wsload)
            .build/wsload --port "$PORT" --conns "$clients" --ts-key pub_ns --timeout 90 \
                --sub "{\"op\":\"subscribe\",\"id\":1,\"channels\":[\"$CHANNEL\"]}" --out "$out"
            ;;
    esac
    # The publisher exits after its end frames; do not let a stuck one outlive the run.
    (sleep 30; kill "$pub" 2>/dev/null) & local guard=$!
    wait "$pub" || echo "publisher exit status $? ($pubout)" >&2
    kill "$guard" 2>/dev/null || true
    rows+=("$(row "$name" "$client" "$clients" "$out")")
    echo "${rows[-1]}"
}

# One table row from either tool's JSON (wsload reports µs and no gaps/RSS).
row() { # scenario client clients json
    jq -r --arg s "$1" --arg c "$2" --arg n "$3" '
        def f(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
        if $c == "loadgen" then
            [$s, $c, $n, (.msgs_per_s | f(0)), (.latency_ms.p50 | f(3)), (.latency_ms.p99 | f(3)),
             (.latency_ms.p99_9 | f(3)), (.latency_ms.max | f(3)), (.gaps | tostring),
             (.cpu_pct | f(0)), (.server_rss_bytes.bytes_per_conn | f(0))]
        else
            [$s, $c, $n, (.msgs_per_s | f(0)), (.lat_us.p50 / 1000 | f(3)), (.lat_us.p99 / 1000 | f(3)),
             (.lat_us.p99_9 / 1000 | f(3)), (.lat_us.max / 1000 | f(3)), "-",
             ((.cpu_user_s + .cpu_sys_s) / .wall_s * 100 | f(0)), "-"]
        end | @tsv' "$4"
}

header=$'scenario\tclient\tclients\tmsgs/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tgaps\tgen CPU %\tRSS/conn B'
for s in $SCENARIOS; do
    for client in loadgen wsload; do
        run "$s" "$client"
    done
done
echo
{ echo "$header"; printf '%s\n' "${rows[@]}"; } | column -t -s $'\t'
