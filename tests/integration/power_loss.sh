#!/usr/bin/env bash
# Power loss: kill -9 the daemon at random moments while a client streams
# state changes (zone 3 writes with an increasing sequence number, counter
# decrements), restart it on the same state and seal key, and check that the
# state is always whole: same identity, and every acknowledged change kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
ROUNDS=${POWER_LOSS_ROUNDS:-30}
BUDGET_S=${POWER_LOSS_SECONDS:-60}

T=$IT_TMP/files
mkdir -p "$T"
cd "$T"

# Zone 3 record for sequence S: 32 lines "SEQ=%010d;\n" (512 bytes), so a
# torn or mixed write shows up as lines that disagree.
rec() { local i; for ((i = 0; i < 32; i++)); do printf 'SEQ=%010d;\n' "$1"; done; }

chip_new P
chip_start P
SERIAL=${CHIP_SERIAL[P]}
se P keygen --slot 0 --alg p256 --out k0.pem >/dev/null
se P keygen --slot 1 --alg ed25519 --out k1.pem >/dev/null
rec 0 >rec.0
se P write --zone 3 --in rec.0 >/dev/null
W_ACK=0 # last acknowledged sequence number in zone 3
C_ACK=4294967295 # last acknowledged value of counter zone 7
C_MIN_SEEN=$C_ACK
W_LANDED=0 # rounds where the write in flight at the kill was kept
W_LOST=0   # ... and where it was not
C_LANDED=0
C_LOST=0

# The client stream: runs until a command fails (the daemon died). Logs
# "w S" before a write and "W S" once it is acknowledged; "c" / "C V" the
# same for decrements.
writer() {
    local seq=$1 out
    local uri
    uri=$(chip_uri P)
    while :; do
        seq=$((seq + 1))
        rec "$seq" >rec.next
        echo "w $seq" >>stream.log
        "$VOUCH" se --se "$uri" write --zone 3 --in rec.next >/dev/null 2>>writer.err || return 0
        echo "W $seq" >>stream.log
        echo "c" >>stream.log
        out=$("$VOUCH" se --se "$uri" --json counter --zone 7 --decrement 1 2>>writer.err) || return 0
        if [[ $out =~ \"counter\"[[:space:]]*:[[:space:]]*([0-9]+) ]]; then
            echo "C ${BASH_REMATCH[1]}" >>stream.log
        else
            echo "X $out" >>stream.log
            return 0
        fi
    done
}

start=$(date +%s)
round=0
while [ "$round" -lt "$ROUNDS" ]; do
    round=$((round + 1))
    if [ $(($(date +%s) - start)) -ge "$BUDGET_S" ]; then
        note "time budget reached after $((round - 1)) rounds"
        round=$((round - 1))
        break
    fi
    : >stream.log
    writer "$W_ACK" &
    wpid=$!
    # kill at a random moment 20..420 ms into the stream
    sleep "0.$(printf '%03d' $((RANDOM % 400 + 20)))"
    chip_kill P
    if ! wait "$wpid"; then :; fi

    # What the client knows.
    w_inflight=$(awk '$1=="w"{s=$2} END{print s+0}' stream.log)
    last_W=$(awk '$1=="W"{s=$2} END{print (s=="")?-1:s}' stream.log)
    last_C=$(awk '$1=="C"{s=$2} END{print (s=="")?-1:s}' stream.log)
    c_inflight=$(awk '$1=="c"{n++} $1=="C"{m++} END{print (n>m)?1:0}' stream.log)
    grep -q '^X' stream.log && fail "round $round: counter output not JSON: $(grep '^X' stream.log | head -1)"
    [ "$last_W" -ge 0 ] && W_ACK=$last_W
    [ "$last_C" -ge 0 ] && C_ACK=$last_C

    # Every few rounds, also cut power while the daemon is starting up.
    if [ $((round % 5)) = 0 ]; then
        _chip_launch P
        sleep "0.0$((RANDOM % 3))$((RANDOM % 10))"
        chip_kill P
    fi

    _chip_launch P
    if ! chip_wait P; then
        fail "round $round: vouch-se does not start after kill -9: $(head -c 400 "${CHIP_LOG[P]}")"
        break
    fi
    assert_eq "round $round: serial unchanged" "${CHIP_SERIAL[P]}" "$SERIAL"

    run se P pubkey --slot 0 --out k0.now
    check "round $round: slot 0 pubkey readable" test "$RC" = 0
    assert_same_file "round $round: slot 0 key unchanged" k0.pem k0.now
    run se P pubkey --slot 1 --out k1.now
    check "round $round: slot 1 pubkey readable" test "$RC" = 0
    assert_same_file "round $round: slot 1 key unchanged" k1.pem k1.now

    rm -f z3.now
    run se P read --zone 3 --length 512 --out z3.now
    check "round $round: zone 3 readable" test "$RC" = 0
    s=$(head -c 14 z3.now 2>/dev/null | sed -n 's/^SEQ=\([0-9]\{10\}\)$/\1/p' || true)
    if [ -z "$s" ]; then
        fail "round $round: zone 3 holds garbage: $(head -c 32 z3.now | od -An -c | head -2 | tr -s ' ')"
        break
    fi
    s=$((10#$s))
    rec "$s" >rec.want
    assert_same_file "round $round: zone 3 is one whole record (seq $s)" z3.now rec.want
    if [ "$s" = "$W_ACK" ] || { [ "$s" = "$((W_ACK + 1))" ] && [ "$w_inflight" = "$s" ]; }; then
        pass "round $round: zone 3 seq $s (acked $W_ACK, in flight $w_inflight)"
    else
        fail "round $round: zone 3 seq $s, last acknowledged $W_ACK, in flight $w_inflight"
    fi
    if [ "$w_inflight" -gt "$W_ACK" ]; then
        if [ "$s" = "$w_inflight" ]; then W_LANDED=$((W_LANDED + 1)); else W_LOST=$((W_LOST + 1)); fi
    fi
    W_ACK=$s

    v=$(se P --json counter --zone 7 2>/dev/null | sed -n 's/.*"counter"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' || true)
    if [ -z "$v" ]; then
        fail "round $round: cannot read counter 7"
        break
    fi
    if [ "$v" -gt "$C_MIN_SEEN" ]; then
        fail "round $round: counter went UP: $v after $C_MIN_SEEN"
    else
        pass "round $round: counter did not go up"
    fi
    if [ "$v" = "$C_ACK" ] || { [ "$c_inflight" = 1 ] && [ "$v" = "$((C_ACK - 1))" ]; }; then
        pass "round $round: counter $v (acked $C_ACK)"
    else
        fail "round $round: counter $v, last acknowledged $C_ACK, in flight $c_inflight"
    fi
    if [ "$c_inflight" = 1 ]; then
        if [ "$v" = "$C_ACK" ]; then C_LOST=$((C_LOST + 1)); else C_LANDED=$((C_LANDED + 1)); fi
    fi
    C_ACK=$v
    C_MIN_SEEN=$v
    IT_POS=$((IT_POS + 1))
done
note "kills with a write in flight: $W_LANDED kept, $W_LOST not; with a decrement in flight: $C_LANDED kept, $C_LOST not"
note "$round rounds in $(($(date +%s) - start)) s; final seq $W_ACK, counter $C_ACK"
check "at least 10 rounds ran" test "$round" -ge 10
check "the stream made progress" test "$W_ACK" -gt "$round"
chip_stop P
it_done
