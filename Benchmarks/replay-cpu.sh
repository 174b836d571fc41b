#!/bin/bash
# Whole-process CPU time (user + sys) of `gateway replay` over the 200k-frame Binance trade and
# aggTrade captures (built by make-trade-captures.py from the real BTCUSDT 2024 trades) and the
# BTCUSDT 2024 capture with books, 3 runs each (docs/performance.md, "Whole-process replay").
# usage: Benchmarks/replay-cpu.sh [GATEWAY_BINARY]   (default .build/release/gateway; build it with
#        swift build -c release --product gateway)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/gateway}
DIR=${REPLAY_CPU_DIR:-/tmp/replay-cpu}
mkdir -p "$DIR"
[ -f "$DIR/aggtrades-200k.jsonl" ] || python3 Benchmarks/make-trade-captures.py Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz "$DIR"
for name in aggtrades-200k trades-200k depth; do
  if [ $name = depth ]; then
    args=(Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz --emit trades,candles,books,status); frames=99574
  else
    args=("$DIR/$name.jsonl"); frames=200000
  fi
  for r in 1 2 3; do
    /usr/bin/time -f "%U %S %e" -o "$DIR/time.txt" "$BIN" replay "${args[@]}" > /dev/null
    read -r u s e < "$DIR/time.txt"
    awk -v n=$name -v r=$r -v u=$u -v s=$s -v e=$e -v f=$frames \
      'BEGIN { printf "%s run%d: user %.2f s, sys %.2f s, wall %.2f s, %d frames per CPU-second\n", n, r, u, s, e, f / (u + s) }'
  done
done
