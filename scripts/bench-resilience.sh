#!/usr/bin/env bash
# Resilience rows for docs/benchmarks.md (issue 12): `continuum up --demo` (release build) on PostgreSQL +
# Redis under 32 intakes in flight while a dependency blinks, then the books checked in the database.
#
#   bash scripts/bench-resilience.sh postgres-restarts   # PostgreSQL restarted 20 times during the load
#   bash scripts/bench-resilience.sh redis-stop          # a normal run, then one with Redis stopped for 30 s
#   bash scripts/bench-resilience.sh backlog             # intakes sent while the waitlist service is down,
#                                                        # then the time to drain their routings once it is back
#   DIRECTORY=20000 bash scripts/bench-resilience.sh postgres-restarts   # with bench-e2e.sh's synthetic
#                                                        # directory too: most intakes referred, racing for slots
#
# The load generator resends an UNAVAILABLE answer with the same idempotency key (`--retries`), as a
# clinic's client does. After the load and the drain of pending routings, the checks: no INTERNAL or
# UNKNOWN answer; every intake sent is stored once (0 lost, 0 duplicated) and routed; no intake has two
# waitlist entries or two referrals, and each is the one its routing decided on; no provider below 0 open
# slots, and the slots taken equal the referrals made without overbooking (0 oversold). Needs what
# bench-e2e.sh needs, and root (to restart the PostgreSQL cluster with pg_ctlcluster). Prints markdown rows
# on stdout; exits 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/continuum"
ORG=0190d5a0-0000-7000-8000-000000000001
PG=postgres://postgres@127.0.0.1:5432
DB=continuum_resilience
WHICH="${1:?postgres-restarts or redis-stop}"
# Intakes per run. The load must outlast what it is checked against: 20 restarts, each a fast restart
# and its wait for PostgreSQL and then 2 s, take 60-100 s, and the Redis outage ends 35 s into the run;
# the demo directory routes 800-2,200 intakes/s depending on the machine (2026-12-07), so the defaults
# are sized to span them on a fast one (a backlog needs only enough to queue). A run whose load ends
# before its faults do fails rather than report them as "during the run"; set COUNT higher then.
case "$WHICH" in
  postgres-restarts) DEFAULT_COUNT=300000 ;;
  redis-stop) DEFAULT_COUNT=120000 ;;
  *) DEFAULT_COUNT=6000 ;;
esac
COUNT="${COUNT:-$DEFAULT_COUNT}"
RESTARTS="${RESTARTS:-20}"
CLUSTER="$(ls /etc/postgresql)"

sql() { psql "$PG/$DB" -Atc "$1"; }
pg_up() { for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 && return 0; sleep 0.5; done; return 1; }

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
redis-cli -h 127.0.0.1 flushdb >/dev/null
export CONTINUUM_DATABASE_URL="$PG/$DB" CONTINUUM_REDIS_URL=redis://127.0.0.1:6379/ CONTINUUM_RATE_LIMIT_PER_MINUTE=100000000
CONTINUUM_ENCRYPTION_KEYS="k1:$(head -c 32 /dev/urandom | base64)"
export CONTINUUM_ENCRYPTION_KEYS
dir=/tmp/bench-resilience
rm -rf "$dir"
CONTINUUM_METRICS_ADDR=127.0.0.1:19991 RUST_LOG=warn \
  "$BIN" up --demo --data-dir "$dir" >/tmp/bench-resilience-up.log 2>&1 &
UP=$!
trap 'kill $UP 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do grep -q "Seeded a demo directory" /tmp/bench-resilience-up.log && break; sleep 1; done
CLERK=$("$BIN" token mint --data-dir "$dir" --org $ORG --role intake_clerk | tail -1)
if [ -n "${DIRECTORY:-}" ]; then
  # Besides the demo directory, bench-e2e.sh's synthetic one: most intakes are referred, and alike ones
  # race for the same last slots (first-open referrals).
  ADMIN=$("$BIN" token mint --data-dir "$dir" --org $ORG --role provider_admin | tail -1)
  "$BIN" bench directory --token "$ADMIN" --count "$DIRECTORY" >/dev/null 2>&1
fi
# Open capacity: a clinician's open slots, a program's open cohort seats.
slots() {
  sql "SELECT (SELECT coalesce(sum(open_slots), 0) FROM matching.providers p
                WHERE NOT EXISTS (SELECT 1 FROM matching.cohorts c WHERE c.provider_id = p.id))
            + (SELECT coalesce(sum(open_seats), 0) FROM matching.cohorts)"
}
slots_before=$(slots)

bench() { # count -> the table row
  "$BIN" bench intake --token "$CLERK" --concurrency 32 --count "$1" --warmup 0 --retries 50 2>/dev/null | tail -1
}

sent=0
case "$WHICH" in
  postgres-restarts)
    bench "$COUNT" >/tmp/bench-resilience-row &
    B=$!
    sleep 3
    for i in $(seq 1 "$RESTARTS"); do
      pg_ctlcluster --skip-systemctl-redirect "$CLUSTER" main restart -m fast
      pg_up || { echo "PostgreSQL did not come back after restart $i" >&2; exit 1; }
      sleep 2
    done
    kill -0 $B 2>/dev/null || { echo "the load ended before the last restart: set COUNT above $COUNT" >&2; exit 1; }
    wait $B
    sent=$COUNT
    echo "| PostgreSQL restarted $RESTARTS times (fast) during the run | $(cut -d'|' -f2- /tmp/bench-resilience-row)"
    ;;
  redis-stop)
    echo "| normal | $(bench "$COUNT" | cut -d'|' -f2-)"
    bench "$COUNT" >/tmp/bench-resilience-row &
    B=$!
    sleep 5
    redis-cli -h 127.0.0.1 shutdown nosave >/dev/null 2>&1 || true
    sleep 30
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    kill -0 $B 2>/dev/null || { echo "the load ended before Redis came back: set COUNT above $COUNT" >&2; exit 1; }
    wait $B
    sent=$((COUNT * 2))
    echo "| Redis stopped for 30 s, 5 s into the run | $(cut -d'|' -f2- /tmp/bench-resilience-row)"
    ;;
  backlog)
    # The same data served by one process per service (`continuum serve`), so that one can be down.
    kill $UP; wait $UP 2>/dev/null || true
    export CONTINUUM_DATA_DIR="$dir" CONTINUUM_AUTH_DEV_SECRET="$(cat "$dir/dev-auth.secret")"
    serve() { # service port metrics-port
      CONTINUUM_LISTEN_ADDR="127.0.0.1:$2" CONTINUUM_METRICS_ADDR="127.0.0.1:$3" RUST_LOG=warn \
        "$BIN" serve "$1" >"/tmp/bench-resilience-$1.log" 2>&1 &
      echo $!
    }
    pids=("$(serve intake 50051 19992)" "$(serve matching 50052 19993)" "$(serve referral 50053 19994)")
    # Stopped on exit and waited for (they are not this shell's children: polled), so that the next run
    # finds their ports free.
    stop_all() {
      kill "${pids[@]}" 2>/dev/null || true
      for p in "${pids[@]}"; do
        for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      done
    }
    trap stop_all EXIT
    sleep 3
    bench "$COUNT" >/tmp/bench-resilience-row
    sent=$COUNT
    pending=$(sql "SELECT count(*) FROM intake.routings WHERE status = 'pending'")
    pids+=("$(serve waitlist 50054 19995)")
    started=$(date +%s%N)
    until [ "$(sql "SELECT count(*) FROM intake.routings WHERE status = 'pending'")" = 0 ]; do
      sleep 0.2
      kill -0 "${pids[3]}" 2>/dev/null || { echo "the waitlist service exited:" >&2; head -5 /tmp/bench-resilience-waitlist.log >&2; ss -tanp | grep ":50054" >&2; exit 1; }
      [ $(( $(date +%s%N) - started )) -gt 300000000000 ] && break
    done
    drained=$(( ($(date +%s%N) - started) / 1000000 ))
    # When the backlog's routings were finished, from the waitlist service's start: the first (its start-up
    # and the first retry that finds it) and the last.
    timeline=$(sql "SELECT min(updated_at_ms) - $((started / 1000000)), max(updated_at_ms) - $((started / 1000000))
                    FROM intake.routings WHERE status <> 'pending' AND updated_at_ms >= $((started / 1000000))")
    echo "| waitlist service down while $COUNT intakes arrive | $(cut -d'|' -f2- /tmp/bench-resilience-row)"
    echo "<!-- backlog: $pending routings pending when the waitlist service started; drained in ${drained} ms (first and last routed at ${timeline/|/ and } ms) -->"
    ;;
  *) echo "unknown run: $WHICH" >&2; exit 2 ;;
esac

# The books, once the routings left pending by the blink are drained.
for _ in $(seq 1 120); do
  [ "$(sql "SELECT count(*) FROM intake.routings WHERE status = 'pending'")" = 0 ] && break
  sleep 1
done
failed=0
check() { # description actual expected
  if [ "$2" = "$3" ]; then echo "<!-- ok: $1 = $2 -->"; else echo "<!-- FAILED: $1 = $2, expected $3 -->"; failed=1; fi
}
row=$(cat /tmp/bench-resilience-row)
check "INTERNAL or UNKNOWN answers" "$(grep -Eo '(Internal|Unknown) [0-9]+' <<<"$row" | awk '{s+=$2} END {print s+0}')" 0
check "intakes stored" "$(sql "SELECT count(DISTINCT idempotency_key) FROM intake.intakes")" "$sent"
check "intakes stored twice" "$(sql "SELECT count(*) - count(DISTINCT idempotency_key) FROM intake.intakes")" 0
check "intakes not yet routed" "$(sql "SELECT count(*) FROM intake.routings WHERE status = 'pending'")" 0
check "intakes with two waitlist entries" \
  "$(sql "SELECT count(*) FROM (SELECT intake_id FROM waitlist.waitlist_entries GROUP BY intake_id HAVING count(*) > 1) d")" 0
check "intakes with two referrals" \
  "$(sql "SELECT count(*) FROM (SELECT intake_id FROM referral.referrals GROUP BY intake_id HAVING count(*) > 1) d")" 0
# Each referral and waitlist entry is the one its intake's routing decided on: a routing that went
# elsewhere after a lost answer leaves a client both referred and waitlisted, or referred twice over.
check "referrals their intake's routing does not name" \
  "$(sql "SELECT count(*) FROM referral.referrals r WHERE NOT EXISTS (SELECT 1 FROM intake.routings t
          WHERE t.intake_id = r.intake_id AND t.decision::jsonb->>'referral_id' = r.id)")" 0
check "waitlist entries their intake's routing does not name" \
  "$(sql "SELECT count(*) FROM waitlist.waitlist_entries w WHERE NOT EXISTS (SELECT 1 FROM intake.routings t
          WHERE t.intake_id = w.intake_id AND t.decision::jsonb->>'waitlist_entry_id' = w.id)")" 0
check "providers below 0 open slots" "$(sql "SELECT count(*) FROM matching.providers WHERE open_slots < 0")" 0
check "cohorts below 0 open seats" "$(sql "SELECT count(*) FROM matching.cohorts WHERE open_seats < 0")" 0
check "slots taken minus referrals made without overbooking" \
  "$(( slots_before - $(slots) - $(sql "SELECT count(*) FROM referral.referrals WHERE NOT overbooked") ))" 0
exit $failed
