#!/usr/bin/env bash
# Installs what the page, OpenAPI, AsyncAPI and ops-file tests need, and prints the environment
# that points the tests at it (scripts/test.sh evals the output):
#
#   chromium            Debian's headless Chromium (the page tests drive it over DevTools)
#   prometheus          for promtool (alert rules: check and unit tests)
#   python3-venv        a venv in .build/pyenv with schemathesis and websockets (pinned below),
#                       for the OpenAPI run, scripts/check-asyncapi.py and examples/python
#
#   eval "$(bash scripts/ensure-page-tools.sh)"
#
# Everything comes from Debian's archive and PyPI; the venv is reused while its pins match.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$script_dir/.." && pwd)"
log() { printf 'ensure-page-tools: %s\n' "$*" >&2; }

bash "$script_dir/ensure-apt-packages.sh" chromium prometheus python3 python3-venv >&2

venv="$root/.build/pyenv"
pins="schemathesis==4.32.5 websockets==17.4"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
    log "creating the Python venv in $venv ($pins)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" >&2
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2
    printf '%s' "$pins" > "$venv/.pins"
fi

chromium="$(command -v chromium || true)"
promtool="$(command -v promtool || true)"
[ -n "$chromium" ] || { log "chromium is still missing"; exit 1; }
[ -n "$promtool" ] || { log "promtool is still missing"; exit 1; }
printf 'export MARKETGATEWAY_TEST_CHROMIUM=%q\n' "$chromium"
printf 'export MARKETGATEWAY_TEST_PROMTOOL=%q\n' "$promtool"
printf 'export MARKETGATEWAY_TEST_PYTHON=%q\n' "$venv/bin/python"
