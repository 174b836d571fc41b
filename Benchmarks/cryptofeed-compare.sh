#!/bin/bash
# The gateway against cryptofeed's own Binance handler on the same 200k aggTrade frames, in the
# same run (docs/performance.md "Against cryptofeed, same run"). Installs cryptofeed from PyPI into
# a throwaway virtual environment (kept in $DIR for the next run). Runs are interleaved: gateway
# run r, the gateway's handler alone (HandlerCPU) run r, then cryptofeed run r. Prints CPU seconds
# per run and the medians' ratios: the whole `gateway replay` process against cryptofeed's handler
# alone; handler against handler (both loops over frames already in memory); and whole process
# against whole process (each starts, reads the capture file and runs its handler over every frame;
# the gateway also prints every event, cryptofeed's callback does nothing).
# usage: Benchmarks/cryptofeed-compare.sh [GATEWAY_BINARY [HANDLER_BINARY]]
#        (defaults .build/release/gateway and Benchmarks/.build/release/HandlerCPU, built if
#        missing); RUNS=5
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/gateway}
HANDLER=${2:-Benchmarks/.build/release/HandlerCPU}
[ -x "$HANDLER" ] || swift build -c release --package-path Benchmarks --product HandlerCPU
DIR=${REPLAY_CPU_DIR:-/tmp/replay-cpu}
mkdir -p "$DIR"
[ -f "$DIR/aggtrades-200k.jsonl" ] || python3 Benchmarks/make-trade-captures.py Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz "$DIR"
if [ ! -x "$DIR/venv/bin/python" ]; then
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install -q 'cryptofeed==2.4.1'
fi
CAP="$DIR/aggtrades-200k.jsonl"
: > "$DIR/gw.txt"; : > "$DIR/hd.txt"; : > "$DIR/cf.txt"; : > "$DIR/cfp.txt"
for r in $(seq 1 "${RUNS:-5}"); do
  /usr/bin/time -f "%U %S %e" -o "$DIR/time.txt" "$BIN" replay "$CAP" > /dev/null
  read -r u s e < "$DIR/time.txt"
  echo "$u $s" | awk '{ print $1 + $2 }' >> "$DIR/gw.txt"
  hd=$("$HANDLER" "$CAP")
  echo "$hd" | python3 -c 'import json,sys; print(json.load(sys.stdin)["handler_cpu_s"])' >> "$DIR/hd.txt"
  out=$("$DIR/venv/bin/python" Benchmarks/cryptofeed_handler.py "$CAP")
  echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["handler_cpu_s"])' >> "$DIR/cf.txt"
  echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["process_cpu_s"])' >> "$DIR/cfp.txt"
  echo "run $r: gateway whole process user $u s + sys $s s; gateway handler $hd; cryptofeed $out"
done
python3 - "$DIR/gw.txt" "$DIR/hd.txt" "$DIR/cf.txt" "$DIR/cfp.txt" <<'PY'
import statistics, sys
gw, hd, cf, cfp = ([float(x) for x in open(p)] for p in sys.argv[1:5])
g, h, c, cp = statistics.median(gw), statistics.median(hd), statistics.median(cf), statistics.median(cfp)
print(f"median CPU s: gateway whole process {g:.3f} ({200000 / g:,.0f} frames/CPU-s); "
      f"gateway handler alone {h:.3f} ({200000 / h:,.0f} frames/CPU-s); "
      f"cryptofeed handler alone {c:.3f} ({200000 / c:,.0f} frames/CPU-s)")
print(f"median CPU s: cryptofeed whole process {cp:.3f} ({200000 / cp:,.0f} frames/CPU-s)")
print(f"ratios: cryptofeed handler / gateway whole process {c / g:.2f}x; handler / handler {c / h:.2f}x; "
      f"whole process / whole process {cp / g:.2f}x")
PY
