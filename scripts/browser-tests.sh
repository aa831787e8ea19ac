#!/usr/bin/env bash
# Real-browser tests of the coordinator console (tests/browser/console.test.js): Debian's Chromium, driven
# by playwright-core (pinned in tests/browser/package-lock.json), axe-core on every page, against
# `continuum up --demo` on free ports with a fresh data directory. The referral service's response window
# is shortened (CONTINUUM_REFERRAL_RESPONSE_WINDOW_SECS) and its sweeper runs every 2 s, so a referral the
# test's intakes create really passes its deadline and is escalated within a minute.
#
# Installs what is missing: the Debian packages chromium and chromium-driver (apt-get; needs root), the npm
# packages (npm ci). Builds the debug `continuum` binary when it is not there. Screenshots go to
# docs/console/. Fails loudly (non-zero, with the stack's log) on any failed check.
#
#   bash scripts/browser-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  log "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
echo "$(chromium --version 2>/dev/null || echo 'chromium: version unknown')"
command -v node >/dev/null 2>&1 || { echo "FATAL: node is required for the browser tests" >&2; exit 1; }

log "npm ci (tests/browser: playwright-core, axe-core, pinned)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

continuum_bin="${CARGO_TARGET_DIR:-target}/debug/continuum"
if [ ! -x "$continuum_bin" ]; then
  log "building the continuum binary"
  cargo build -p continuum --bin continuum --locked
fi

work=$(mktemp -d)
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { # message
  echo "FATAL: browser tests failed: $1; continuum up log (last 40 lines):" >&2
  tail -n 40 "$work/up.log" >&2 || true
  exit 1
}

# Ports free right now: four services, metrics, the gateway.
read -r p1 p2 p3 p4 p5 p6 < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

log "starting 'continuum up --demo' (gateway on 127.0.0.1:$p6; referral response window 30 s)"
RUST_BACKTRACE=0 RUST_LOG="${RUST_LOG:-warn}" CONTINUUM_METRICS_ADDR="127.0.0.1:$p5" \
  CONTINUUM_REFERRAL_RESPONSE_WINDOW_SECS=30 CONTINUUM_DEADLINE_SWEEP_SECS=2 \
  "$continuum_bin" up --demo --data-dir "$work/data" \
  --intake-port "$p1" --matching-port "$p2" --referral-port "$p3" --waitlist-port "$p4" --gateway-port "$p6" \
  >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 90); do
  grep -q "Seeded a demo directory" "$work/up.log" && break
  kill -0 "$up_pid" 2>/dev/null || fail "continuum up exited"
  sleep 1
done
grep -q "Seeded a demo directory" "$work/up.log" || fail "no demo directory after 90 s"
for _ in $(seq 1 30); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$p6/healthz" 2>/dev/null && break
  sleep 1
done

# The clinic's intake clerk submits the intakes (FHIR); the console is used by the demo coordinators.
token=$("$continuum_bin" token mint --data-dir "$work/data" --org 0190d5a0-0000-7000-8000-000000000001 \
  --role intake_clerk --role clinician) || fail "token mint failed"

log "browser tests (Chromium headless, axe-core); screenshots in docs/console/"
CONSOLE_URL="http://127.0.0.1:$p6" CONTINUUM_TOKEN="$token" SCREENSHOTS="$PWD/docs/console" \
  CHROMIUM="$(command -v chromium)" OVERDUE_WAIT_SECS=90 \
  node --test --test-reporter=spec tests/browser/console.test.js || fail "the console's browser checks failed"
log "browser tests passed"
