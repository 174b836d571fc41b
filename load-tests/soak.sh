#!/usr/bin/env bash
# The issue-5 soak run (see load-tests/README.md): builds the `soak` executable and runs it under
# `timeout 20m`, passing every argument through except --debug.
#
#   load-tests/soak.sh [--debug] [--capture PATH] [--speed 1.1] [--fault-every 4] [--seed N] [--minutes M] ...
#
# --debug uses the debug build (quick to build); the default is a release build (~7 min the first
# time). stdout: the soak's JSON summary line. Exit status: the soak's (0 = passed, 1 = failed,
# 124 = timed out).
set -euo pipefail
cd "$(dirname "$0")/.."

config=release
args=()
for a in "$@"; do
    if [[ $a == --debug ]]; then config=debug; else args+=("$a"); fi
done

echo "soak.sh: building soak ($config)..." >&2
# The load tools are their own package (load-tests/Package.swift).
swift build --package-path load-tests -c "$config" --product soak >&2
bin="$(swift build --package-path load-tests -c "$config" --show-bin-path)/soak"

start=$(date +%s)
set +e
summary=$(timeout 20m "$bin" ${args[@]+"${args[@]}"})
rc=$?
set -e
end=$(date +%s)

echo "$summary"
if [[ $rc == 124 ]]; then
    echo "soak.sh: timed out after 20 min" >&2
fi
echo "soak.sh: $config build, wall $((end - start)) s, exit $rc" >&2
exit $rc
