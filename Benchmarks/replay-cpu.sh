#!/bin/bash
# Whole-process CPU time (user + sys) of `gateway replay` over the 200k-frame Binance trade and
# aggTrade captures (built by make-trade-captures.py from the real BTCUSDT 2024 trades) and the
# BTCUSDT 2024 capture with books (docs/performance.md, "Whole-process replay"). With several
# binaries (before and after a change) the runs are interleaved: run r of every binary, then r + 1.
# usage: Benchmarks/replay-cpu.sh [GATEWAY_BINARY...]   (default .build/release/gateway; build it with
#        swift build -c release --product gateway); RUNS=5 by default
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(.build/release/gateway)
DIR=${REPLAY_CPU_DIR:-/tmp/replay-cpu}
mkdir -p "$DIR"
[ -f "$DIR/aggtrades-200k.jsonl" ] || python3 Benchmarks/make-trade-captures.py Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz "$DIR"
for r in $(seq 1 "${RUNS:-5}"); do
  for BIN in "${BINS[@]}"; do
    for name in aggtrades-200k trades-200k depth; do
      if [ $name = depth ]; then
        args=(Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz --emit trades,candles,books,status); frames=99574
      else
        args=("$DIR/$name.jsonl"); frames=200000
      fi
      /usr/bin/time -f "%U %S %e" -o "$DIR/time.txt" "$BIN" replay "${args[@]}" > /dev/null
      read -r u s e < "$DIR/time.txt"
      awk -v b="$BIN" -v n=$name -v r=$r -v u=$u -v s=$s -v e=$e -v f=$frames \
        'BEGIN { printf "%s %s run%d: user %.2f s, sys %.2f s, wall %.2f s, %d frames per CPU-second\n", b, n, r, u, s, e, f / (u + s) }'
    done
  done
done
