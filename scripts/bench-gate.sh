#!/usr/bin/env bash
# CI benchmark gate (issue 20; docs/performance.md, "CI benchmark threshold"): builds the PipelineThresholds
# benchmarks of Benchmarks/ in release and checks them against the p90 values stored in
# Benchmarks/Thresholds, with the tolerances in Benchmarks/PipelineThresholds/Pipelines.swift.
# Fails on a regression beyond the tolerance (or a failed build or run); an improvement beyond it
# passes with a note to refresh the thresholds. Bounded by BENCH_GATE_SECONDS (default 1200).
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
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
timeout --kill-after=30 "$limit" swift package --allow-writing-to-package-directory benchmark "${args[@]}" \
    --target PipelineThresholds --no-progress --path "$PWD/Thresholds" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "bench-gate.sh: $op took $(( $(date +%s) - started )) s (release build + run), exit $status"
# `swift package` turns the tool's exit codes (2 regression, 4 improvement) into 1, so the
# verdict is read from the tool's own last line.
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "bench-gate.sh: timed out after ${limit} s" >&2
    exit 1
fi
if [ "$status" -ne 0 ] && [ "$op" = check ] && grep -q "is BETTER than the defined thresholds" "$log" \
    && ! grep -q "is WORSE than the defined thresholds" "$log"; then
    echo "bench-gate.sh: faster than the stored thresholds beyond the tolerance; refresh them with" \
        "'bash scripts/bench-gate.sh update' (docs/performance.md)"
    exit 0
fi
exit "$status"
