#!/usr/bin/env bash
# 1,000 websocket clients on one trades channel: one process vs ingest + 1 edge vs ingest + 2 edges
# over one nats-server on loopback (issue 21's figures; load-tests/FANOUT.md "Across edges").
# `gateway bench-fanout` is the publisher (alone: it also serves /ws; split: `--part publisher:N`
# publishes through NATS once N edges are ready) and `--part edge` the edges; loadgen measures
# delivery (msgs/s summed over the loadgens, latency = receive − pub_ns per loadgen).
#
#   load-tests/cluster-fanout.sh            # SCENARIOS="burst paced" LAYOUTS="one edge1 edge2" CLIENTS=1000
#   LAYOUTS="edge1 edge1a" load-tests/cluster-fanout.sh   # a trailing "a": the publisher's frames are acked
#                                           # JetStream publishes into MG_MARKET (gateway serve with history_max_age)
#
# burst: COUNT (5,000) events unpaced; paced: 100 events/s × 1,000 s/10 (RATE, PACED_COUNT) = 100,000
# deliveries/s to 1,000 clients. On a 2-core machine the edges, nats-server, the publisher and the
# loadgens share the cores: read the figures with that in mind (FANOUT.md says how to scale them).
set -euo pipefail
cd "$(dirname "$0")/.."

CHANNEL="trades.bench.BTC-USDT"
CLIENTS=${CLIENTS:-1000}
COUNT=${COUNT:-5000}
RATE=${RATE:-100}
PACED_COUNT=${PACED_COUNT:-1000}
SCENARIOS=${SCENARIOS:-burst paced}
LAYOUTS=${LAYOUTS:-one edge1 edge2}
PORT=${BASE_PORT:-18300}
NATS_PORT=${NATS_PORT:-14322}
RESULTS=${RESULTS:-.build/cluster-fanout}
GATEWAY=${GATEWAY:-.build/release/gateway}
LOADGEN=${LOADGEN:-load-tests/.build/release/loadgen}
mkdir -p "$RESULTS"
ulimit -n "$(ulimit -Hn)"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --product gateway
    swift build --package-path load-tests -c release --product loadgen
fi

# Its own session, stopped by the EXIT trap (and nothing else).
# JetStream on (a fresh store per run) for the acked layouts; core layouts do not touch it.
rm -rf "$RESULTS/jetstream"
setsid nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$RESULTS/jetstream" >"$RESULTS/nats-server.log" 2>&1 &
NATS_PID=$!
trap 'kill $NATS_PID 2>/dev/null || true' EXIT
sleep 0.5
NATS_URL="nats://127.0.0.1:$NATS_PORT"

wait_listening() { # port pid
    for _ in $(seq 400); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        kill -0 "$2" 2>/dev/null || { echo "process $2 exited before listening on $1" >&2; return 1; }
        sleep 0.05
    done
    echo "nothing listening on $1" >&2
    return 1
}

rows=()
run() { # scenario layout
    local scenario=$1 layout=$2 count rate edges
    if [[ $scenario == burst ]]; then count=$COUNT; rate=0; else count=$PACED_COUNT; rate=$RATE; fi
    local acked=()
    case $layout in one) edges=0 ;; edge1) edges=1 ;; edge2) edges=2 ;;
        edge1a) edges=1; acked=(--acked) ;; edge2a) edges=2; acked=(--acked) ;;
        *) echo "unknown layout $layout" >&2; exit 2 ;; esac
    local tag="$scenario-$layout" pids=() loadgens=() outs=()
    if [[ $edges == 0 ]]; then
        PORT=$((PORT + 1))
        $GATEWAY bench-fanout --port "$PORT" --clients "$CLIENTS" --count "$count" --rate "$rate" --channel "$CHANNEL" \
            >"$RESULTS/$tag.publisher.json" 2>"$RESULTS/$tag.publisher.log" &
        pids+=($!)
        wait_listening "$PORT" "${pids[0]}"
        $LOADGEN --url "ws://127.0.0.1:$PORT/ws" --clients "$CLIENTS" --channel "$CHANNEL" --ts-key pub_ns --duration 90 --json \
            >"$RESULTS/$tag.loadgen1.json" 2>"$RESULTS/$tag.loadgen1.table" &
        loadgens+=($!); outs+=("$RESULTS/$tag.loadgen1.json")
    else
        $GATEWAY bench-fanout --nats "$NATS_URL" --part "publisher:$edges" "${acked[@]}" --clients "$CLIENTS" --count "$count" --rate "$rate" \
            --channel "$CHANNEL" >"$RESULTS/$tag.publisher.json" 2>"$RESULTS/$tag.publisher.log" &
        pids+=($!)
        sleep 1
        local per=$((CLIENTS / edges))
        for e in $(seq 1 "$edges"); do
            PORT=$((PORT + 1))
            $GATEWAY bench-fanout --nats "$NATS_URL" --part edge --port "$PORT" --clients "$per" --count "$count" --rate "$rate" \
                --channel "$CHANNEL" >"$RESULTS/$tag.edge$e.json" 2>"$RESULTS/$tag.edge$e.log" &
            local edge=$!
            pids+=("$edge")
            wait_listening "$PORT" "$edge"
            $LOADGEN --url "ws://127.0.0.1:$PORT/ws" --clients "$per" --channel "$CHANNEL" --ts-key pub_ns --duration 90 --json \
                >"$RESULTS/$tag.loadgen$e.json" 2>"$RESULTS/$tag.loadgen$e.table" &
            loadgens+=($!); outs+=("$RESULTS/$tag.loadgen$e.json")
        done
    fi
    for p in "${loadgens[@]}"; do wait "$p" || echo "loadgen exit status $?" >&2; done
    # The bench processes exit after their end frames; one that does not is stopped after 20 s.
    for p in "${pids[@]}"; do
        for _ in $(seq 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill "$p" 2>/dev/null || true
        wait "$p" || echo "bench-fanout exit status $? ($tag)" >&2
    done
    rows+=("$(python3 - "$scenario" "$layout" "$RESULTS/$tag" "${outs[@]}" <<'PY'
import json, sys
scenario, layout, tag, outs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = [json.load(open(o)) for o in outs]
msgs = sum(r["msgs_per_s"] for r in runs)
delivered = sum(r["messages_delivered"] for r in runs)
gaps = sum(r["gaps"] + r["missing"] + r["duplicates"] for r in runs)
p50 = "/".join(f'{r["latency_ms"]["p50"]:.1f}' for r in runs)
p99 = "/".join(f'{r["latency_ms"]["p99"]:.1f}' for r in runs)
# CPU per delivered message of the processes that write the sockets (the lone process, or each edge).
cpu = []
import glob
for f in sorted(glob.glob(tag + ".edge*.json")) or [tag + ".publisher.json"]:
    j = json.load(open(f))
    if j.get("frames_sent"): cpu.append(f'{j["cpu_s_until_delivered"] / j["frames_sent"] * 1e6:.2f}')
pub = json.load(open(tag + ".publisher.json"))
acked = f'{pub["acked_s"]:.2f}/{pub["resent"]}' if "acked_s" in pub else "-"
print("\t".join([scenario, layout, str(len(runs) and sum(r["clients_subscribed"] for r in runs)), str(delivered), f"{msgs:,.0f}", p50, p99, str(gaps), "/".join(cpu), acked]))
PY
)")
    echo "${rows[-1]}"
}

for s in $SCENARIOS; do
    for l in $LAYOUTS; do
        run "$s" "$l"
    done
done
echo
{ printf 'scenario\tlayout\tclients\tdelivered\tmsgs/s\tp50 ms (per edge)\tp99 ms (per edge)\tgaps+missing+dup\tserver µs CPU/msg (per edge)\tall acked s/resent\n'
  printf '%s\n' "${rows[@]}"; } | column -t -s $'\t'
