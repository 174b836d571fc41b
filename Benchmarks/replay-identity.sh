#!/bin/bash
# Byte-identity check of `gateway replay` between two binaries (before/after a speed change):
# stdout, stderr and exit status must match on every shipped capture (gzip and a plain copy, which
# takes the mapped reader), with the default --emit and with every event type plus --stats, the
# 200k captures (replay-cpu.sh builds them), all captures merged, stdin, and faulted copies (cut
# last line, no final newline, blank lines, a bad line, frames written with \u and \/ escapes,
# keys in another order, a frame with a backslash in a string).
# usage: Benchmarks/replay-identity.sh BEFORE_BINARY AFTER_BINARY
set -uo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
DIR=${REPLAY_CPU_DIR:-/tmp/replay-cpu}
W=$(mktemp -d /tmp/replay-identity.XXXXXX)
trap 'rm -rf "$W"' EXIT
ALL=trades,candles,candle-updates,books,status,tickers

caps=()
for f in /work/shared/fixtures/*/*.jsonl.gz Tests/Fixtures/*/*.jsonl.gz Tests/Fixtures/*/*.jsonl; do
  [ -f "$f" ] && caps+=("$f")
done
# Plain copies of the gzip captures: the reader maps those.
for f in Tests/Fixtures/*/*.jsonl.gz; do
  p="$W/$(basename "$(dirname "$f")")-$(basename "$f" .gz)"
  gzip -dc "$f" > "$p"
  caps+=("$p")
done
SRC="$W/binance-spot-btcusdt-2024-08-08.jsonl"
# Faulted and re-encoded copies of one plain capture.
head -c -40 "$SRC" > "$W/cut.jsonl"
head -c -1 "$SRC" > "$W/nonewline.jsonl"
awk 'NR % 500 == 0 { print ""; print "  " } { print }' "$SRC" > "$W/blank.jsonl"
awk 'NR == 3000 { print "{\"recv_ns\":1,\"venue\":\"binance\"" } { print }' "$SRC" > "$W/bad.jsonl"
python3 - "$SRC" "$W" <<'EOF'
import json, sys
src, out = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
with open(out + "/uescape.jsonl", "w") as f:
    for n, l in enumerate(lines):
        r = json.loads(l)
        if n % 3 == 0:
            fr = "".join("\\u%04x" % ord(c) if c in '{}:' else c for c in json.dumps(r["frame"])[1:-1])
            fr = fr.replace("/", "\\/")
            head = l[: l.index('"frame":')]
            f.write(head + '"frame":"' + fr + '"}\n')
        else:
            f.write(l + "\n")
with open(out + "/reordered.jsonl", "w") as f:
    for n, l in enumerate(lines):
        r = json.loads(l)
        if n % 2 == 0:
            r = dict(reversed(list(r.items())))
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
with open(out + "/backslash.jsonl", "w") as f:
    for n, l in enumerate(lines):
        r = json.loads(l)
        if n % 7 == 0 and '"s":"BTCUSDT"' in r["frame"]:
            r["frame"] = r["frame"].replace('"s":"BTCUSDT"', '"s":"BTC\\u0055SDT"')
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
EOF
caps+=("$W/cut.jsonl" "$W/nonewline.jsonl" "$W/blank.jsonl" "$W/bad.jsonl" "$W/uescape.jsonl" "$W/reordered.jsonl" "$W/backslash.jsonl")

pass=0
fail=0
check() {  # label, args...
  local label=$1
  shift
  local ha hb
  ha=$( { "$A" replay "$@" 2>&1; echo "exit $?"; } | md5sum)
  hb=$( { "$B" replay "$@" 2>&1; echo "exit $?"; } | md5sum)
  if [ "$ha" = "$hb" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "DIFFERS: $label $*"; fi
}
checkstdin() {  # file, args...
  local f=$1
  shift
  local ha hb
  ha=$( { "$A" replay - "$@" < "$f" 2>&1; echo "exit $?"; } | md5sum)
  hb=$( { "$B" replay - "$@" < "$f" 2>&1; echo "exit $?"; } | md5sum)
  if [ "$ha" = "$hb" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "DIFFERS: stdin $f $*"; fi
}
for c in "${caps[@]}"; do
  check one "$c" --stats
  check one "$c" --emit "$ALL" --stats
done
for e in trades candles candle-updates books status tickers trades,status; do
  check emit "$SRC" --emit "$e" --stats
done
check merged "${caps[@]:0:8}" --emit "$ALL" --stats
check merged "${caps[@]:0:8}" --stats
checkstdin "$SRC" --stats
checkstdin "$W/uescape.jsonl" --emit "$ALL" --stats
for n in aggtrades-200k trades-200k; do
  if [ -f "$DIR/$n.jsonl" ]; then
    check big "$DIR/$n.jsonl" --stats
    check big "$DIR/$n.jsonl" --emit "$ALL" --stats
  fi
done
echo "identical: $pass, different: $fail"
[ $fail -eq 0 ]
