#!/usr/bin/env bash
# The live path's throughput, before against after (load-tests/README.md "Live path"): runs each
# live-bench binary given, interleaved (A B A B ...), ROUNDS times per mode, so a busy machine
# slows them alike, and prints each binary's median and range.
#
#   load-tests/live-bench.sh BIN [BIN...]          (ROUNDS=5, MODES="trades depth" by default)
#   ROUNDS=3 MODES=trades load-tests/live-bench.sh /tmp/live-bench-before .build/release/live-bench
#
# Build one: swift build -c release --package-path load-tests --product live-bench
# (the binary is load-tests/.build/release/live-bench; copy it aside before changing the code).
# stdout: one JSON line per run with a "bin" key, then a summary table. Each run is bounded by
# `timeout 5m`.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
rounds=${ROUNDS:-5}
modes=${MODES:-trades depth}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "live-bench.sh: $rounds rounds of [$modes] for $*; load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
for mode in $modes; do
    for round in $(seq 1 "$rounds"); do
        for bin in "$@"; do
            line=$(timeout 5m "$bin" "$mode") || { echo "live-bench.sh: $bin $mode failed" >&2; exit 1; }
            line=$(jq -c --arg bin "$bin" '. + {bin: $bin}' <<<"$line")
            echo "$line" | tee -a "$out"
        done
    done
done

echo
printf '%-8s %-40s %22s %22s %22s %12s\n' mode binary "frames/s" "gateway µs CPU/frame" "simulator µs CPU/frame" "other cores"
jq -rs '
  def med: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
  def fmt(d): (. * pow(10; d) | round) / pow(10; d) | tostring;
  def cell(d): "\(med|fmt(d)) (\(min|fmt(d))–\(max|fmt(d)))";
  group_by([.mode, .bin]) | sort_by(.[0].mode == "depth") | .[] |
  [.[0].mode, .[0].bin,
   (map(.frames_per_s) | cell(0)), (map(.gateway_cpu_us_per_frame) | cell(2)),
   (map(.simulator_cpu_us_per_frame) | cell(2)), (map(.other_busy_cores) | med | fmt(2))] | @tsv' "$out" |
    while IFS=$'\t' read -r m b f g s o; do printf '%-8s %-40s %22s %22s %22s %12s\n' "$m" "$b" "$f" "$g" "$s" "$o"; done
