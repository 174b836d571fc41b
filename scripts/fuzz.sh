#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, Linux) and runs each for a bounded time (docs/hardening.md).
#
#   bash scripts/fuzz.sh                 # every target, FUZZ_SECONDS each
#   bash scripts/fuzz.sh FuzzOKX         # one or more named targets
#
# Environment:
#   FUZZ_SECONDS        seconds per target (default 10)
#   FUZZ_TOTAL_SECONDS  bound on the whole script, build included (default 330): targets that
#                       would start past it are skipped, and a target never runs past it
#   FUZZ_CACHE          corpus and crash directory, outside the clone so a second run on the
#                       same machine starts from the corpus the first one grew
#                       (default ~/.cache/marketgateway/fuzz)
#
# Seeds come from the recorded fixtures (Tests/Fixtures: each frame with the connection it came
# on), the venues' documentation samples, the example configuration and the protocol's messages.
# A crash, an AddressSanitizer report, a broken invariant or a timeout (an input taking more than
# 10 s) is saved as FUZZ_CACHE/crashes/<target>/crash-… (or timeout-…, oom-…) and the script exits 1,
# naming the files. Reproduce one with: Fuzz/.build/debug/<target> <file>.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
start=$(date +%s)
seconds=${FUZZ_SECONDS:-10}
total=${FUZZ_TOTAL_SECONDS:-330}
cache=${FUZZ_CACHE:-$HOME/.cache/marketgateway/fuzz}
all=(FuzzBinance FuzzCoinbase FuzzKraken FuzzOKX FuzzBybit FuzzCapture FuzzClientProtocol FuzzConfig)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

log() { printf 'fuzz: %s\n' "$*" >&2; }
left() { echo $((total - ($(date +%s) - start))); }

if [ "$(uname -s)" != Linux ]; then
    log "libFuzzer targets build on Linux only; skipping"
    exit 0
fi
bash scripts/ensure-apt-packages.sh zlib1g-dev jq

log "building Fuzz/ (debug, -sanitize=fuzzer,address)"
budget=$(left); [ "$budget" -gt 0 ] || budget=1
timeout -k 10 "$budget" swift build --package-path Fuzz -Xswiftc -suppress-warnings 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|Cannot export local symbol' >&2 || {
    log "build failed or exceeded the time bound"
    exit 1
}
bin=$(swift build --package-path Fuzz -Xswiftc -suppress-warnings --show-bin-path)
log "built in $(($(date +%s) - start)) s"

# Seeds: written once per cache (delete FUZZ_CACHE/seeds to rebuild them).
seed_frames() { # TARGET FILE — one seed per sampled ws/rest frame: selector byte + frame
    local target=$1 file=$2 dir=$cache/seeds/$1 n=0 lines stride
    mkdir -p "$dir"
    lines=$(zcat -f "$file" | wc -l)
    stride=$(( lines / 60 + 1 ))
    zcat -f "$file" | jq -r 'select(.kind=="ws" or .kind=="rest") | [(.conn // "-"), .kind, (.url // "-"), (.frame | @base64)] | @tsv' |
        awk -v s="$stride" 'NR <= 40 || NR % s == 0' |
        while IFS=$'\t' read -r conn kind url frame; do
            local sel=0
            case "$target:$file:$kind:$url:$conn" in
                FuzzBinance:*usdm*:ws:*) sel=1 ;;
                FuzzBinance:*coinm*:ws:*) sel=2 ;;
                FuzzBinance:*:rest:*fapi.binance*) sel=4 ;;
                FuzzBinance:*:rest:*dapi.binance*) sel=5 ;;
                FuzzBinance:*:rest:*) sel=3 ;;
                FuzzCoinbase:*:rest:*) sel=2 ;;
                FuzzKraken:*:rest:*) sel=2 ;;
                FuzzOKX:*:rest:*) sel=1 ;;
                FuzzBybit:*orderbook1*:ws:*:1) sel=1 ;;
                FuzzBybit:*orderbook500*:ws:*) sel=1 ;;
                FuzzBybit:*:rest:*) sel=3 ;;
            esac
            n=$((n + 1))
            { printf "\\x$(printf %02x "$sel")"; printf '%s' "$frame" | base64 -d; } >"$dir/$(basename "$file" .jsonl.gz)-$n"
        done
}
seed_files() { # TARGET SELECTOR FILE... — documentation samples as frames
    local target=$1 sel=$2 dir=$cache/seeds/$1
    shift 2
    mkdir -p "$dir"
    for f in "$@"; do
        { printf "\\x$(printf %02x "$sel")"; jq -c . "$f" 2>/dev/null || cat "$f"; } >"$dir/doc-$(basename "$f" .json)-$sel"
    done
}
if [ ! -f "$cache/seeds/.done" ]; then
    log "writing seeds to $cache/seeds"
    rm -rf "$cache/seeds"
    for f in Tests/Fixtures/binance/*.jsonl.gz; do seed_frames FuzzBinance "$f"; done
    seed_frames FuzzCoinbase Tests/Fixtures/coinbase/exchange-level2-2021-04-17.jsonl.gz
    seed_frames FuzzKraken Tests/Fixtures/kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz
    for f in Tests/Fixtures/okx/*.jsonl.gz; do seed_frames FuzzOKX "$f"; done
    for f in Tests/Fixtures/bybit/*.jsonl.gz; do seed_frames FuzzBybit "$f"; done
    seed_files FuzzCoinbase 1 Tests/VenuesTests/CoinbaseDocSamples/*.json
    seed_files FuzzKraken 0 Tests/VenuesTests/KrakenDocSamples/v1-*.json
    seed_files FuzzKraken 1 Tests/VenuesTests/KrakenDocSamples/v2-*.json
    seed_files FuzzOKX 0 Tests/VenuesTests/OKXDocSamples/*.json
    seed_files FuzzBybit 0 Tests/VenuesTests/BybitDocSamples/*.json
    seed_files FuzzBybit 1 Tests/VenuesTests/BybitDocSamples/*linear*.json Tests/VenuesTests/BybitDocSamples/public-trade*.json
    # Capture files: the start of each fixture, plain and compressed, and one whole small file.
    mkdir -p "$cache/seeds/FuzzCapture"
    for f in Tests/Fixtures/*/*.jsonl.gz; do
        name=$(basename "$f" .jsonl.gz)
        (zcat "$f" | head -c 6000 || true) | head -n -1 >"$cache/seeds/FuzzCapture/$name.jsonl"
        gzip -c <"$cache/seeds/FuzzCapture/$name.jsonl" >"$cache/seeds/FuzzCapture/$name.jsonl.gz"
    done
    cp Tests/Fixtures/bybit/v5-orderbook1-2025-06-13.jsonl.gz "$cache/seeds/FuzzCapture/whole.jsonl.gz"
    # Client messages (docs/protocol.md).
    d=$cache/seeds/FuzzClientProtocol
    mkdir -p "$d"
    printf '%s' '{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT","book.coinbase.*"]}' >"$d/subscribe"
    printf '%s' '{"op":"subscribe","id":"a","channels":["candles.1m.okx.BTC-USDT"],"since":{"candles.1m.okx.BTC-USDT":{"seq":42,"epoch":"e1"}}}' >"$d/since"
    printf '%s' '{"op":"unsubscribe","id":2,"channels":["trades.binance.BTC-USDT"]}' >"$d/unsubscribe"
    printf '%s' '{"op":"auth","id":3,"token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}' >"$d/auth"
    printf '%s' '{"op":"ping","id":null}' >"$d/ping"
    printf '%s' '{"op":"subscribe","id":1e300,"channels":[true]}' >"$d/bad"
    # Configuration: the example file, and small files with environment overrides after a NUL.
    d=$cache/seeds/FuzzConfig
    mkdir -p "$d"
    cp gateway.example.yaml "$d/example.yaml"
    printf 'server:\n  port: 9000\nvenues:\n  binance:\n    symbols: [BTC-USDT]\n' >"$d/small.yaml"
    { printf 'log_level: debug\n'; printf '\0'; printf 'GATEWAY_SERVER_PORT=8081\nDATABASE_URL=sqlite:x.db\nGATEWAY_VENUES_OKX_SYMBOLS=BTC-USDT,ETH-USDT\n'; } >"$d/env.yaml"
    touch "$cache/seeds/.done"
fi

# libFuzzer reports crashes itself; Swift's backtracer would only delay it (up to 30 s a crash).
export SWIFT_BACKTRACE=enable=no
status=0
summary=()
for t in "${targets[@]}"; do
    budget=$(left)
    if [ "$budget" -lt 5 ]; then
        log "$t: skipped, the total bound (${total} s) is used up"
        summary+=("$t skipped")
        continue
    fi
    run=$seconds
    [ "$run" -lt "$((budget - 3))" ] || run=$((budget - 3))
    corpus=$cache/corpus/$t
    crashes=$cache/crashes/$t
    mkdir -p "$corpus" "$crashes"
    out=$cache/$t.log
    t0=$(date +%s)
    rc=0
    # New inputs go to the first directory (the cache); the seeds are read only.
    timeout -k 5 $((run + 30)) "$bin/$t" -max_total_time="$run" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$cache/seeds/$t" >"$out" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    inputs=$(find "$corpus" -type f | wc -l)
    line="$t: ${execs:-?} execs in $(($(date +%s) - t0)) s, $inputs inputs in the corpus"
    if [ "$rc" -ne 0 ]; then
        status=1
        line="$line, FAILED (exit $rc)"
        grep -E 'ERROR|fuzz invariant|Fatal error|SUMMARY|Test unit written|ALARM' "$out" | head -20 >&2 || true
        log "full output: $out"
    fi
    log "$line"
    summary+=("$line")
done

log "summary (total $(($(date +%s) - start)) s, FUZZ_SECONDS=$seconds, cache $cache):"
for s in "${summary[@]}"; do log "  $s"; done
if [ "$status" -ne 0 ]; then
    log "crash inputs:"
    find "$cache/crashes" -type f -newermt "@$start" | sed 's/^/  /' >&2
fi
exit "$status"
