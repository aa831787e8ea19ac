#!/usr/bin/env bash
# Runs the project's own fuzz targets (fuzz/: cargo fuzz + libFuzzer) for a fixed number of iterations
# each, starting from the committed seed corpus (fuzz/corpus/<target>/, read only: what libFuzzer finds
# goes to a scratch folder). Installs the pinned cargo-fuzz when it is missing. A crash (a panic, a broken
# invariant, a timeout, an out-of-memory) stops the script with a non-zero exit, the reproducer under
# fuzz/artifacts/<target>/ and the command that replays it.
#
#   bash scripts/fuzz.sh                      # every target, FUZZ_RUNS iterations each (CI's step)
#   bash scripts/fuzz.sh intake_rules         # one target
#   FUZZ_RUNS=1000000 bash scripts/fuzz.sh    # a longer local run
#
# The stable toolchain builds the targets with --sanitizer none (no AddressSanitizer: it needs nightly;
# Rust's own checks, debug assertions and overflow checks, are on). The instrumented build (every
# dependency of the four services, built again with coverage instrumentation: minutes on two cores) goes
# to $FUZZ_TARGET_DIR, by default $CARGO_TARGET_DIR/fuzz or, without one, a cache folder outside the clone
# (~/.cache/continuum/fuzz-target) so that the next run on the same machine only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
RUNS="${FUZZ_RUNS:-50000}"   # per request target; intake_rules (a few assessments per input) gets half
ALL_TARGETS=(intake_requests matching_requests referral_requests waitlist_requests intake_rules)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "FATAL: no fuzz target $t (${ALL_TARGETS[*]})" >&2; exit 2; }
done
if [ -n "${CARGO_TARGET_DIR:-}" ]; then default_dir="$CARGO_TARGET_DIR/fuzz"
else default_dir="${XDG_CACHE_HOME:-$HOME/.cache}/continuum/fuzz-target"; fi
TARGET_DIR="${FUZZ_TARGET_DIR:-$default_dir}"
FUZZ_FLAGS=(--sanitizer none --debug-assertions --target-dir "$TARGET_DIR")

log() { printf '\n==> %s\n' "$*"; }

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

start=$(date +%s)
log "building the fuzz targets (instrumented, release with debug assertions) into $TARGET_DIR"
# cargo fuzz has no --locked: check that fuzz/Cargo.lock is complete first (it fails if it would change).
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
(cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}")
built=$(date +%s)
echo "build: $((built - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
  runs=$RUNS; [ "$t" = intake_rules ] && runs=$((RUNS / 2))
  log "fuzzing $t: $runs runs from fuzz/corpus/$t"
  mkdir -p "$scratch/$t"
  t0=$(date +%s)
  if ! (cd fuzz && cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
      -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 2>&1 \
      | tail -n 40); then
    echo "FATAL: fuzz target $t crashed; reproducer in fuzz/artifacts/$t/ (replay: cd fuzz && cargo fuzz run ${FUZZ_FLAGS[*]} $t <artifact>)" >&2
    exit 1
  fi
  echo "$t: $(( $(date +%s) - t0 )) s"
done
log "fuzzing passed: ${TARGETS[*]} ($RUNS runs each, intake_rules half) in $(( $(date +%s) - start )) s (build $((built - start)) s)"
