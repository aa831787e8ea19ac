#!/usr/bin/env bash
# End-to-end benchmark rows for docs/benchmarks.md (issue 12): `continuum up --demo` (release build) on the
# embedded default (SQLite, in-process cache) and on PostgreSQL + Redis, with the 8-provider demo directory
# and with a 20,000-provider synthetic one; one intake at a time and 32 in flight; pgbench's one-row insert
# at the same concurrency in the same run as the reference; the process's RSS after each row.
#
#   bash scripts/bench-e2e.sh [sqlite|postgres|all]      (default all)
#   PG_SOCKET=/var/run/postgresql bash scripts/bench-e2e.sh postgres
#
# With PG_SOCKET (PostgreSQL's Unix socket directory), the stack and the pgbench reference both reach
# PostgreSQL through that socket instead of TCP on 127.0.0.1 (no TLS, no TCP per statement): the
# configuration docs/operations.md recommends when PostgreSQL runs on the same host.
#
# Needs: a release build (cargo build --release -p continuum), PostgreSQL on 127.0.0.1:5432 (trust auth,
# user postgres) with pgbench, Redis on 127.0.0.1:6379. Prints markdown rows on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/continuum"
ORG=0190d5a0-0000-7000-8000-000000000001
PG=postgres://postgres@127.0.0.1:5432
pg() { # database -> URL (TCP on 127.0.0.1, or the Unix socket in $PG_SOCKET)
  if [ -n "${PG_SOCKET:-}" ]; then echo "postgres://postgres@localhost/$1?host=$PG_SOCKET"; else echo "$PG/$1"; fi
}
WHICH="${1:-all}"
C1="${C1:-500}"     # intakes, one at a time
C32="${C32:-5000}"  # intakes, 32 in flight

rss() { grep -E '^(VmRSS|VmHWM)' "/proc/$1/status" | awk '{printf "%s %d MB  ", $1, $2/1024}'; }

run_stack() { # name data-dir
  local name=$1 dir=$2
  rm -rf "$dir"
  CONTINUUM_RATE_LIMIT_PER_MINUTE=100000000 CONTINUUM_METRICS_ADDR=127.0.0.1:19990 RUST_LOG=warn \
    "$BIN" up --demo --data-dir "$dir" >"/tmp/bench-up-$name.log" 2>&1 &
  UP=$!
  for _ in $(seq 1 60); do grep -q "Seeded a demo directory" "/tmp/bench-up-$name.log" && break; sleep 1; done
  CLERK=$("$BIN" token mint --data-dir "$dir" --org $ORG --role intake_clerk | tail -1)
  ADMIN=$("$BIN" token mint --data-dir "$dir" --org $ORG --role provider_admin | tail -1)
  echo "<!-- $name: idle $(rss $UP) -->"
}

rows() { # label
  local label=$1
  echo "<!-- $label -->"
  "$BIN" bench intake --token "$CLERK" --concurrency 1 --count "$C1" --warmup 20 2>/dev/null | tail -1
  echo "<!-- after: $(rss $UP) -->"
  "$BIN" bench intake --token "$CLERK" --concurrency 32 --count "$C32" --warmup 100 \
    --pgbench-url "$(pg test)" 2>/dev/null | tail -1
  echo "<!-- after: $(rss $UP) -->"
}

both_directories() { # name
  rows "$1, demo directory (8 providers)"
  "$BIN" bench directory --token "$ADMIN" --count 20000 2>/dev/null
  rows "$1, 20,000-provider directory"
  kill "$UP"; wait "$UP" 2>/dev/null || true
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  unset CONTINUUM_DATABASE_URL CONTINUUM_REDIS_URL CONTINUUM_ENCRYPTION_KEYS
  run_stack sqlite /tmp/bench-sqlite
  both_directories "SQLite + in-process cache"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  psql "$(pg postgres)" -qc "DROP DATABASE IF EXISTS continuum_bench" -c "CREATE DATABASE continuum_bench"
  redis-cli -h 127.0.0.1 flushdb >/dev/null
  export CONTINUUM_DATABASE_URL="$(pg continuum_bench)" CONTINUUM_REDIS_URL=redis://127.0.0.1:6379/
  CONTINUUM_ENCRYPTION_KEYS="k1:$(head -c 32 /dev/urandom | base64)"
  export CONTINUUM_ENCRYPTION_KEYS
  run_stack postgres /tmp/bench-postgres
  both_directories "PostgreSQL + Redis"
fi
