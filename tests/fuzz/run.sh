#!/usr/bin/env bash
# Runs every libFuzzer target in BIN_DIR for SECONDS each.
#
#   tests/fuzz/run.sh BIN_DIR SECONDS
#
# Each target starts from a copy of its committed seed corpus
# (tests/fuzz/corpus/<target>/) in a temporary directory, so the committed
# corpus never grows. Targets run FUZZ_JOBS at a time (default: the number of
# CPUs, at most 4). Prints one line per target (result, executions, speed,
# coverage) and exits non-zero if any target crashed, leaked, timed out or
# failed an oracle; the crashing inputs and logs are then kept and their paths
# printed.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN_DIR SECONDS" >&2
  exit 2
fi
BIN=$(cd "$1" && pwd)
SECS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=$HERE/corpus

JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$JOBS" -gt 4 ] && JOBS=4
[ "$JOBS" -lt 1 ] && JOBS=1

mapfile -t TARGETS < <(find "$BIN" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x -printf '%f\n' | sort)
if [ ${#TARGETS[@]} -eq 0 ]; then
  echo "fuzz: no fuzz_* binaries in $BIN (build with: make fuzz-build)" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vouch-fuzz.XXXXXX")
keep=0
cleanup() {
  # on interruption, stop the targets this script started
  local pids
  pids=$(jobs -pr || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  if [ "$keep" -eq 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

max_len_for() {
  case "$1" in
    fuzz_state) echo 5200 ;;      # the state blob is 5000 bytes
    fuzz_response) echo 4096 ;;   # several response records
    fuzz_frame) echo 1100 ;;      # a command frame is at most 1039
    fuzz_cmd_*) echo 1025 ;;      # flags + a 1024-byte payload
    *) echo 4096 ;;
  esac
}

run_one() {
  local t=$1 d=$WORK/$1
  mkdir -p "$d/corpus" "$d/artifacts"
  if [ -d "$CORPUS/$t" ]; then cp "$CORPUS/$t"/* "$d/corpus/" 2>/dev/null || true; fi
  local rc=0
  # the hard limit only matters if a target wedges outside libFuzzer's own
  # per-input timeout
  timeout --signal=INT --kill-after=20 $((SECS + 120)) \
    "$BIN/$t" -max_total_time="$SECS" -max_len="$(max_len_for "$t")" -timeout=25 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$d/artifacts/" \
      "$d/corpus" >"$d/log" 2>&1 || rc=$?
  echo "$rc" >"$d/rc"
}

echo "fuzz: ${#TARGETS[@]} targets, ${SECS}s each, $JOBS at a time (work dir $WORK)"
for t in "${TARGETS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run_one "$t" &
done
wait || true

failed=0
total_execs=0
printf '%-22s %-7s %12s %9s %7s %7s\n' target result execs 'exec/s' cov corpus
for t in "${TARGETS[@]}"; do
  d=$WORK/$t
  rc=$(cat "$d/rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$d/log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$d/log" | tail -1 | awk '{print $2}')
  corp=$(grep -oE 'corp: [0-9]+' "$d/log" | tail -1 | awk '{print $2}')
  result=ok
  if [ "$rc" != 0 ] || ls "$d/artifacts/"* >/dev/null 2>&1; then
    result=FAIL
    [ "$rc" = 124 ] && result=TIMEOUT
    failed=$((failed + 1))
  fi
  total_execs=$((total_execs + ${execs:-0}))
  printf '%-22s %-7s %12s %9s %7s %7s\n' "$t" "$result" "${execs:--}" "${speed:--}" \
    "${cov:--}" "${corp:--}"
done
echo "fuzz: $total_execs executions in total"

if [ "$failed" -ne 0 ]; then
  keep=1
  for t in "${TARGETS[@]}"; do
    d=$WORK/$t
    rc=$(cat "$d/rc" 2>/dev/null || echo 99)
    if [ "$rc" = 0 ] && ! ls "$d/artifacts/"* >/dev/null 2>&1; then continue; fi
    echo
    echo "==== $t (exit $rc) ===="
    grep -E 'FUZZ ORACLE|ERROR: |SUMMARY: |runtime error|^ +#[0-9]+ ' "$d/log" | head -40 || true
    for a in "$d/artifacts/"*; do
      [ -e "$a" ] && echo "reproduce: $BIN/$t $a"
    done
    echo "log: $d/log"
  done
  echo
  echo "fuzz: $failed target(s) failed; inputs and logs kept in $WORK" >&2
  exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets clean"
