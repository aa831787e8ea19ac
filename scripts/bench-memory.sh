#!/usr/bin/env bash
# Memory rows for docs/benchmarks.md (issue 12): the all-in-one process's RSS with a 100,000-entry waitlist
# and a 20,000-provider directory, under load. `continuum up --demo` (release build) on PostgreSQL + Redis:
#
#   1. idle, just started;
#   2. ENTRIES intakes (default 100,000) through the real path at 32 in flight: the demo directory's few
#      slots fill at once, so nearly all of them are waitlisted (the waitlist really holds them);
#   3. 20,000 synthetic providers imported (`continuum bench directory`);
#   4. under load: LOAD intakes (default 5,000) at 32 in flight, ranked against the 20,000 providers,
#      while a coordinator's reads of the long list run beside them (`continuum bench waitlist`: the
#      board's first page, a wait estimate, the wait metrics with 12 weeks of the length series);
#   5. idle again after a sweeper round.
#
# For each phase: the peak RSS during it (VmHWM, reset before the phase through /proc/PID/clear_refs) and
# the RSS at its end; the entries on the list are counted in the database. Needs what bench-e2e.sh needs,
# and root (clear_refs). Prints markdown on stdout.
#
#   bash scripts/bench-memory.sh            ENTRIES=100000 LOAD=5000 by default
#   KEEP=1 bash scripts/bench-memory.sh     keep the database afterwards;
#   REUSE=1 bash scripts/bench-memory.sh    measure again on a kept database (the fill and the import skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/continuum"
ORG=0190d5a0-0000-7000-8000-000000000001
PG=postgres://postgres@127.0.0.1:5432
DB=continuum_memory
ENTRIES="${ENTRIES:-100000}"
LOAD="${LOAD:-5000}"
[ -x "$BIN" ] || { echo "FATAL: no release build at $BIN (cargo build --release -p continuum)" >&2; exit 1; }

sql() { psql "$PG/$DB" -Atc "$1"; }
mb() { awk -v k="$1" '$1 == k":" { printf "%d", $2 / 1024 }' "/proc/$UP/status"; }
reset_peak() { echo 5 > "/proc/$UP/clear_refs"; }
row() { # phase, what
  printf '| %s | %s | %s MB | %s MB |\n' "$1" "$2" "$(mb VmHWM)" "$(mb VmRSS)"
}

dir=/tmp/bench-memory
keys=/tmp/bench-memory.keys
if [ "${REUSE:-}" != 1 ]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  redis-cli -h 127.0.0.1 flushdb >/dev/null
  echo "k1:$(head -c 32 /dev/urandom | base64)" >"$keys"
  rm -rf "$dir"
fi
export CONTINUUM_DATABASE_URL="$PG/$DB" CONTINUUM_REDIS_URL=redis://127.0.0.1:6379/ CONTINUUM_RATE_LIMIT_PER_MINUTE=100000000
CONTINUUM_ENCRYPTION_KEYS="$(cat "$keys")"
export CONTINUUM_ENCRYPTION_KEYS
CONTINUUM_METRICS_ADDR=127.0.0.1:19992 RUST_LOG=warn \
  "$BIN" up --demo --data-dir "$dir" >/tmp/bench-memory-up.log 2>&1 &
UP=$!
cleanup() {
  kill $UP 2>/dev/null || true
  [ "${KEEP:-}" = 1 ] || psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ready="Seeded a demo directory"
[ "${REUSE:-}" = 1 ] && ready="Continuum is up"
for _ in $(seq 1 60); do grep -q "$ready" /tmp/bench-memory-up.log && break; sleep 1; done
mint() { "$BIN" token mint --data-dir "$dir" --org $ORG --role "$1" | tail -1; }
CLERK=$(mint intake_clerk)
ADMIN=$(mint provider_admin)
COORD=$(mint coordinator)
sleep 2

echo "| phase | what | peak RSS | RSS at the end |"
echo "|---|---|---|---|"
if [ "${REUSE:-}" = 1 ]; then row "idle" "just started on the kept database"; else row "idle" "just started, demo directory (8 providers)"; fi

if [ "${REUSE:-}" != 1 ]; then
  reset_peak
  "$BIN" bench intake --token "$CLERK" --concurrency 32 --count "$ENTRIES" --warmup 0 --retries 50 \
    >/tmp/bench-memory-fill.md 2>/dev/null
  waiting=$(sql "SELECT count(*) FROM waitlist.waitlist_entries WHERE status IN ('waiting','offered')")
  row "filling the waitlist" "$ENTRIES intakes at 32 in flight; $waiting entries on the list"

  reset_peak
  "$BIN" bench directory --token "$ADMIN" --count 20000 >/dev/null 2>&1
  providers=$(sql "SELECT count(*) FROM matching.providers")
  row "directory import" "20,000 synthetic providers ($providers in the directory)"
else
  waiting=$(sql "SELECT count(*) FROM waitlist.waitlist_entries WHERE status IN ('waiting','offered')")
  providers=$(sql "SELECT count(*) FROM matching.providers")
  row "restarted on the kept database" "$waiting entries on the list, $providers providers"
fi

reset_peak
"$BIN" bench intake --token "$CLERK" --concurrency 32 --count "$LOAD" --warmup 0 --retries 50 \
  >/tmp/bench-memory-load.md 2>/dev/null &
LOADER=$!
sleep 2
reads_ok=yes
"$BIN" bench waitlist --token "$COORD" --rounds 5 >/tmp/bench-memory-reads.md 2>/tmp/bench-memory-reads.err \
  || reads_ok=no
wait $LOADER
row "under load" "$LOAD intakes at 32 in flight + a coordinator's reads of the $waiting-entry list"

reset_peak
sleep 35
row "idle after" "one sweeper round later"

if [ "${REUSE:-}" != 1 ]; then
  echo
  echo "Filling the waitlist (\`bench intake\`):"
  echo
  grep "^|" /tmp/bench-memory-fill.md
fi
echo
echo "The load beside the reads (\`bench intake\`):"
echo
grep "^|" /tmp/bench-memory-load.md
echo
echo "A coordinator's reads of the long list, during that load (\`bench waitlist\`):"
echo
cat /tmp/bench-memory-reads.md
if [ "$reads_ok" = no ]; then
  echo "FAILED: bench waitlist: $(tail -3 /tmp/bench-memory-reads.err)"
  exit 1
fi
