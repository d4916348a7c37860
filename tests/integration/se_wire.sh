#!/usr/bin/env bash
# Starts a new chip and runs the raw-frame test (se_wire.c) against it, then
# checks the daemon is still up and stops cleanly.
# usage: se_wire.sh [PATH/TO/se_wire]   (default: $VOUCH_SE_WIRE)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WIRE=${1:-${VOUCH_SE_WIRE:-}}
[ -n "$WIRE" ] && [ -x "$WIRE" ] || die "se_wire binary not given (argument or VOUCH_SE_WIRE)"

chip_new W
chip_start W
section "raw frames against chip ${CHIP_SERIAL[W]}"
IT_POS=$((IT_POS + 1))
if timeout -k 5 90 "$WIRE" "$(chip_sock W)"; then
    pass "se_wire"
else
    fail "se_wire exited $?"
fi
check "vouch-se still running after the raw frames" chip_alive W
chip_stop W
# The state written during the test opens again (host keys, counter).
chip_start W
check "state after the raw-frame test opens again" chip_alive W
chip_stop W
it_done
