#!/usr/bin/env bash
# CI benchmark gate (issue 20; docs/performance.md, "CI threshold"): builds the PipelineThresholds
# benchmarks of Benchmarks/ in release and checks them against the p90 values stored in
# Benchmarks/Thresholds, with the tolerances in Benchmarks/PipelineThresholds/Pipelines.swift.
# Fails (exit 2) on a regression beyond the tolerance; an improvement beyond it (package-benchmark's
# exit 4) passes with a note to refresh the thresholds. Bounded by BENCH_GATE_SECONDS (default 1200).
#
#   bash scripts/bench-gate.sh            # check
#   bash scripts/bench-gate.sh update     # refresh Benchmarks/Thresholds (commit the result)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../Benchmarks"
limit="${BENCH_GATE_SECONDS:-1200}"
op="${1:-check}"
case "$op" in
    check) args=(thresholds check) ;;
    update) args=(thresholds update) ;;
    *) echo "bench-gate.sh: unknown operation '$op' (check or update)" >&2; exit 64 ;;
esac

started=$(date +%s)
set +e
timeout --kill-after=30 "$limit" swift package --allow-writing-to-package-directory benchmark "${args[@]}" \
    --target PipelineThresholds --no-progress --path "$PWD/Thresholds"
status=$?
set -e
echo "bench-gate.sh: $op took $(( $(date +%s) - started )) s (release build + run), exit $status"
case "$status" in
    0) ;;
    4) echo "bench-gate.sh: faster than the stored thresholds beyond the tolerance; refresh them with" \
            "'bash scripts/bench-gate.sh update' (docs/performance.md)" ;;
    124|137) echo "bench-gate.sh: timed out after ${limit} s" >&2; exit 1 ;;
    *) exit "$status" ;;
esac
