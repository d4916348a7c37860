#!/usr/bin/env bash
# vouchd spreads connections over its workers (server/conns.c): a burst of
# keep-alive connections lands on every worker, not on the first to wake;
# connections that close without a request, or stay idle, are counted and
# do not stop the server from serving; when every client is gone the counts
# are back to zero. vouchd logs at exit "connections accepted per worker:
# A, B; open at exit: X, Y", which is what is checked.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VOUCHD="$VOUCH_BIN/vouchd"
LOAD="$VOUCH_BIN/http_load"
HDR=$IT_TMP/.hdr
CURL_MAX=10
. "$(dirname "$0")/vouchd_lib.sh"
[ -x "$VOUCHD" ] || die "no vouchd at $VOUCHD"
[ -x "$LOAD" ] || die "no http_load at $LOAD"

CA=$IT_TMP/ca
expect 0 "ca init" "$VOUCH" ca init --data "$CA" --org "Conns Test"

# spread LOG: the per-worker accepted counts and open counts from the exit line
spread() { sed -n 's/^vouchd: connections accepted per worker: \(.*\); open at exit: \(.*\)$/\1|\2/p' "$1" | tail -1; }
min_of() { tr -d ' ' <<<"$1" | tr ',' '\n' | sort -n | head -1; }
sum_of() { tr -d ' ' <<<"$1" | tr ',' '\n' | awk '{s += $1} END {print s + 0}'; }

# burst WORKERS CONNS MINEACH: N keep-alive connections at once for a second
burst() {
    local workers=$1 conns=$2 mineach=$3 log=$IT_TMP/vd-$1-$2.log
    vd_start "$log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9 --threads "$workers"
    run "$LOAD" --url "http://127.0.0.1:$VD_PORT/healthz" --connections "$conns" --duration 1 \
        --expect-status 200 --json
    assert_eq "  http_load: $conns keep-alive connections for 1 s" "$RC" 0
    check "  every answer was 200" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] > 0 and d["ok"] == d["responses"] and d["errors"] == 0 else 1)' "$OUT"
    sleep 0.3
    vd_stop
    assert_eq "  vouchd exits 0" "$VD_RC" 0
    local s acc open
    s=$(spread "$log")
    acc=${s%%|*}
    open=${s#*|}
    note "accepted per worker: $acc; open at exit: $open"
    assert_eq "  $workers workers logged" "$(tr -d ' ' <<<"$acc" | tr ',' '\n' | wc -l)" "$workers"
    assert_eq "  all $conns connections accepted" "$(sum_of "$acc")" "$conns"
    check "  each worker took at least $mineach" test "$(min_of "$acc")" -ge "$mineach"
    assert_eq "  no connection left counted" "$(sum_of "$open")" 0
}

section "a burst of keep-alive connections reaches every worker"
burst 2 16 7
burst 2 3 1
burst 4 16 3
burst 1 8 8

section "connections without a request, idle connections"
vd_start "$IT_TMP/vd-idle.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9 --threads 2
# 40 connections that close at once (a port check), and 6 that stay open
# without sending anything while the load runs
python3 - "$VD_PORT" "$IT_TMP/idle.pid" <<'PY' &
import os, socket, sys, time
port = int(sys.argv[1])
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", port)); s.close()
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(4)
PY
IDLE_PID=$!
for _ in $(seq 50); do [ -s "$IT_TMP/idle.pid" ] && break; sleep 0.1; done
run "$LOAD" --url "http://127.0.0.1:$VD_PORT/healthz" --connections 16 --duration 1 \
    --expect-status 200 --json
assert_eq "http_load: 16 connections beside them" "$RC" 0
check "  every answer was 200" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["ok"] > 0 and d["ok"] == d["responses"] and d["errors"] == 0 else 1)' "$OUT"
req "a request on a new connection still gets an answer" 200 "http://127.0.0.1:$VD_PORT/healthz"
kill "$IDLE_PID" 2>/dev/null || true
wait "$IDLE_PID" 2>/dev/null || true
vd_stop
assert_eq "  vouchd exits 0" "$VD_RC" 0
S=$(spread "$IT_TMP/vd-idle.log")
ACC=${S%%|*}
note "accepted per worker: $ACC; open at exit: ${S#*|}"
assert_eq "  all 63 connections accepted" "$(sum_of "$ACC")" 63
check "  each worker took some of them" test "$(min_of "$ACC")" -ge 16

it_done
