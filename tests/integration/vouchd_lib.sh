# Helpers shared by the vouchd integration tests; sourced after lib.sh.
# VOUCHD, HDR and CURL_MAX have defaults a test may set before or after.
VOUCHD=${VOUCHD:-$VOUCH_BIN/vouchd}
HDR=${HDR:-$IT_TMP/.hdr}
CURL_MAX=${CURL_MAX:-10}
# vd_files: the usual start of a vouchd test: vouch, vouchd and curl are
# there; work in T=$IT_TMP/files (also the current directory); the data
# directory is CA=$T/ca.
vd_files() {
    [ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
    [ -x "$VOUCHD" ] || die "no vouchd at $VOUCHD"
    command -v curl >/dev/null || die "curl is missing (scripts/install-deps.sh installs it)"
    T=$IT_TMP/files
    mkdir -p "$T"
    cd "$T"
    CA=$T/ca
}
VD_PID=""
VD_PORT=""
VD_PREFIX=(env) # a command that execs vouchd (prlimit for the fd test)
VD_LOG=""
# vd_start LOG ARGS...: start vouchd in the background, wait (10 s at most)
# for "vouchd: listening on http[s]://127.0.0.1:PORT"; sets VD_PID, VD_PORT.
vd_start() {
    VD_LOG=$1
    shift
    "${VD_PREFIX[@]}" "$VOUCHD" "$@" 2>"$VD_LOG" &
    VD_PID=$!
    VD_PORT=""
    local i
    for ((i = 0; i < 200; i++)); do
        VD_PORT=$(sed -n 's#^vouchd: listening on https\{0,1\}://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$VD_LOG" 2>/dev/null || true)
        [ -n "$VD_PORT" ] && return 0
        kill -0 "$VD_PID" 2>/dev/null || die "vouchd exited at start: $(head -c 400 "$VD_LOG")"
        sleep 0.05
    done
    die "vouchd did not announce its port within 10 s: $(head -c 400 "$VD_LOG")"
}
# vd_stop: SIGTERM, wait up to 5 s; sets VD_RC (124 when it did not exit).
vd_stop() {
    local i
    kill -TERM "$VD_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$VD_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$VD_PID" 2>/dev/null; then
        kill -9 "$VD_PID" 2>/dev/null || true
        wait "$VD_PID" 2>/dev/null || true
        VD_RC=124
    else
        if wait "$VD_PID"; then VD_RC=0; else VD_RC=$?; fi
    fi
    VD_PID=""
}
# keep the script's exit status for it_cleanup (it reads $?)
trap 'vd_rc=$?; set +e; [ -z "$VD_PID" ] || kill -9 "$VD_PID" 2>/dev/null; (exit $vd_rc); it_cleanup' EXIT

# req DESC WANT_STATUS CURL_ARGS...: one request; body in $OUT, headers in
# $HDR; counts as negative when WANT_STATUS is not 2xx.
ST=""
req() {
    local desc=$1 want=$2
    shift 2
    if [[ $want == 2* ]]; then IT_POS=$((IT_POS + 1)); else IT_NEG=$((IT_NEG + 1)); fi
    ST=$(curl -sS --max-time "$CURL_MAX" -o "$OUT" -D "$HDR" -w '%{http_code}' "$@" 2>"$ERR") || ST=${ST:-000}
    if [ "$ST" = "$want" ]; then pass "$desc ($ST)"; else fail "$desc: HTTP $ST, want $want; body: $(_outtail) $(_errtail)"; fi
}
# jget EXPR: evaluate a python expression on d = the JSON in $OUT.
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" 2>/dev/null || echo "<not json>"; }
# json_error CODE: $OUT is {"error":{"code":CODE,"message":non-empty}} and the
# response says application/json.
json_error() {
    assert_eq "  error code is $1" "$(jget 'd["error"]["code"] if len(d)==1 and len(d["error"])==2 and d["error"]["message"] else "bad shape"')" "$1"
    assert_grep "  error is application/json" '^content-type: application/json' "$HDR"
}

