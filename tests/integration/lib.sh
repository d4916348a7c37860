# shellcheck shell=bash
# Helpers for the vouch integration tests. Source this from a bash script
# running with `set -euo pipefail`.
#
# Environment:
#   VOUCH_BIN   directory holding vouch-se and vouch (CMake sets it)
#   IT_KEEP=1   keep the temporary directory for post-mortem
#
# Checks never abort the script: a failed check is counted and reported and
# the script carries on, so one run lists every mismatch. it_done prints the
# tally and sets the exit status. Only real setup failures (a daemon that
# will not start when it must) abort, through die.

: "${VOUCH_BIN:?VOUCH_BIN must name the directory holding vouch-se and vouch}"
VSE="$VOUCH_BIN/vouch-se"
VOUCH="$VOUCH_BIN/vouch"

IT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vit-${IT_NAME:0:8}.XXXXXX")
IT_PASS=0
IT_FAIL=0
IT_NEG=0 # checks of refusals and error paths
IT_POS=0 # checks of successful operation
IT_FAILED=()
RC=0
OUT="$IT_TMP/.out"
ERR="$IT_TMP/.err"
: >"$OUT"
: >"$ERR"

declare -A CHIP_PID=()    # name -> pid of the running vouch-se
declare -A CHIP_SERIAL=() # name -> serial hex from the listening line
declare -A CHIP_LC=()     # name -> lifecycle word from the listening line
declare -A CHIP_LOG=()    # name -> stderr log of the current run
declare -A CHIP_RUNS=()   # name -> number of starts

it_cleanup() {
    local rc=$?
    local name pid
    trap - EXIT
    for name in "${!CHIP_PID[@]}"; do
        pid=${CHIP_PID[$name]}
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
    for pid in $(jobs -p); do
        kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ -n "${IT_KEEP:-}" ]; then
        echo "kept $IT_TMP" >&2
    else
        rm -rf "$IT_TMP"
    fi
    exit "$rc"
}
trap it_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- reporting -----------------------------------------------------------

note() { printf '# %s\n' "$*" >&2; }
section() { printf '\n## %s\n' "$*" >&2; }
die() {
    printf 'FATAL: %s\n' "$*" >&2
    exit 1
}

pass() {
    IT_PASS=$((IT_PASS + 1))
    [ -z "${IT_VERBOSE:-}" ] || printf 'ok   %s\n' "$*" >&2
}
fail() {
    IT_FAIL=$((IT_FAIL + 1))
    IT_FAILED+=("$1")
    printf 'FAIL %s\n' "$*" >&2
}

# it_done: tally and exit status.
it_done() {
    printf '\n%s: %d checks passed, %d failed (%d negative, %d positive)\n' \
        "$IT_NAME" "$IT_PASS" "$IT_FAIL" "$IT_NEG" "$IT_POS" >&2
    if [ "$IT_FAIL" -gt 0 ]; then
        printf 'failed checks:\n' >&2
        printf '  - %s\n' "${IT_FAILED[@]}" >&2
        exit 1
    fi
    exit 0
}

# ---- running commands ----------------------------------------------------

# _argv CMD...: the se/seh helpers spelled out as a real command line in
# _ARGV, so that `timeout` can run them.
_argv() {
    case $1 in
    se) _ARGV=("$VOUCH" se --se "$(chip_uri "$2")" "${@:3}") ;;
    seh) _ARGV=("$VOUCH" se --se "$(chip_uri "$2")" --host-keys "$3" "${@:4}") ;;
    *) _ARGV=("$@") ;;
    esac
}
# run CMD...: runs with a time limit; sets RC, stdout in $OUT, stderr in $ERR.
IT_CMD_TIMEOUT=${IT_CMD_TIMEOUT:-30}
run() {
    _argv "$@"
    set -- "${_ARGV[@]}"
    if declare -F "$1" >/dev/null; then
        if "$@" >"$OUT" 2>"$ERR"; then RC=0; else RC=$?; fi
        return 0
    fi
    if timeout -k 5 "$IT_CMD_TIMEOUT" "$@" >"$OUT" 2>"$ERR"; then
        RC=0
    else
        RC=$?
    fi
}
# run_in FILE CMD...: like run, with stdin from FILE.
run_in() {
    local in=$1
    shift
    _argv "$@"
    set -- "${_ARGV[@]}"
    if timeout -k 5 "$IT_CMD_TIMEOUT" "$@" <"$in" >"$OUT" 2>"$ERR"; then
        RC=0
    else
        RC=$?
    fi
}

_errtail() { head -c 400 "$ERR" | tr '\n' ' '; }
_outtail() { head -c 200 "$OUT" | tr '\n' ' '; }

# expect CODES DESC CMD...: CODES is one exit code or several ("2 3").
# A non-zero code from 2 up must come with a message on stderr.
expect() {
    local want=$1 desc=$2
    shift 2
    run "$@"
    _expect_check "$want" "$desc"
}
expect_in() {
    local want=$1 desc=$2 in=$3
    shift 3
    run_in "$in" "$@"
    _expect_check "$want" "$desc"
}
_expect_check() {
    local want=$1 desc=$2
    if [ "$want" = 0 ]; then IT_POS=$((IT_POS + 1)); else IT_NEG=$((IT_NEG + 1)); fi
    if [[ " $want " != *" $RC "* ]]; then
        fail "$desc: expected exit $want, got $RC; stderr: $(_errtail); stdout: $(_outtail)"
        return 0
    fi
    if [ "$RC" -ge 2 ] && [ ! -s "$ERR" ]; then
        fail "$desc: exit $RC without a message on stderr"
        return 0
    fi
    pass "$desc (exit $RC)"
}

# check DESC CMD...: passes when CMD succeeds (CMD runs as is, no capture).
check() {
    local desc=$1
    shift
    IT_POS=$((IT_POS + 1))
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
# check_not DESC CMD...: passes when CMD fails.
check_not() {
    local desc=$1
    shift
    IT_NEG=$((IT_NEG + 1))
    if "$@"; then fail "$desc"; else pass "$desc"; fi
}
assert_eq() { # DESC GOT WANT
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
assert_ne() { # DESC A B
    if [ "$2" != "$3" ]; then pass "$1"; else fail "$1: both are '$2'"; fi
}
# assert_grep DESC PATTERN FILE: extended regex, case-insensitive.
assert_grep() {
    if grep -Eqi -- "$2" "$3"; then pass "$1"; else fail "$1: /$2/ not in $(head -c 300 "$3" | tr '\n' ' ')"; fi
}
assert_no_grep() {
    IT_NEG=$((IT_NEG + 1))
    if grep -Eqi -- "$2" "$3"; then fail "$1: /$2/ found in $(head -c 300 "$3" | tr '\n' ' ')"; else pass "$1"; fi
}
assert_same_file() { # DESC A B
    if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ ($(stat -c %s "$2" 2>/dev/null || echo missing) vs $(stat -c %s "$3" 2>/dev/null || echo missing) bytes)"; fi
}
assert_size() { # DESC FILE BYTES
    local n
    n=$(stat -c %s "$2" 2>/dev/null || echo missing)
    if [ "$n" = "$3" ]; then pass "$1"; else fail "$1: $2 is $n bytes, want $3"; fi
}

# ---- chips -----------------------------------------------------------------

chip_dir() { printf '%s/%s' "$IT_TMP" "$1"; }
chip_sock() { printf '%s/%s/se.sock' "$IT_TMP" "$1"; }
chip_uri() { printf 'unix:%s/%s/se.sock' "$IT_TMP" "$1"; }
chip_state() { printf '%s/%s/state' "$IT_TMP" "$1"; }
chip_key() { printf '%s/%s/seal.key' "$IT_TMP" "$1"; }

# chip_new NAME: an empty state directory and a fresh seal key.
chip_new() {
    local d
    d=$(chip_dir "$1")
    mkdir -p "$d/state"
    head -c 32 /dev/urandom >"$d/seal.key"
    chmod 600 "$d/seal.key"
}

# _chip_launch NAME [vouch-se args...]: starts the daemon in the background
# with this chip's state, key and socket. Sets CHIP_PID and CHIP_LOG.
_chip_launch() {
    local name=$1
    shift
    local n=$((${CHIP_RUNS[$name]:-0} + 1))
    CHIP_RUNS[$name]=$n
    local log
    log="$(chip_dir "$name")/se.$n.log"
    CHIP_LOG[$name]=$log
    "$VSE" --state "$(chip_state "$name")" --seal-key "$(chip_key "$name")" \
        --socket "$(chip_sock "$name")" "$@" 2>"$log" >"$log.stdout" </dev/null &
    CHIP_PID[$name]=$!
    _watchdog "${CHIP_PID[$name]}"
}

# _watchdog PID: kills daemon PID if this script dies without running its
# EXIT trap (e.g. SIGKILL from a CTest timeout). Ends with the daemon.
IT_MAIN=$$
_watchdog() {
    local pid=$1
    (
        while kill -0 "$IT_MAIN" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
            sleep 0.5
        done
        kill -0 "$IT_MAIN" 2>/dev/null || kill -9 "$pid" 2>/dev/null
    ) >/dev/null 2>&1 </dev/null &
}

# chip_start NAME [vouch-se args...]: starts the daemon and waits up to 5 s
# until it listens (socket file present and its listening line printed).
# Dies if it does not come up. Parses serial and lifecycle.
chip_start() {
    local name=$1
    shift
    [ -x "$VSE" ] || die "no vouch-se at $VSE"
    _chip_launch "$name" "$@"
    chip_wait "$name" || die "vouch-se for $name did not start: $(head -c 600 "${CHIP_LOG[$name]}")"
}

# chip_wait NAME: 0 when listening, 1 when the daemon died or timed out.
chip_wait() {
    local name=$1 pid=${CHIP_PID[$1]} log=${CHIP_LOG[$1]} sock
    sock=$(chip_sock "$1")
    local i
    for ((i = 0; i < 500; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            CHIP_PID[$name]=""
            return 1
        fi
        if [ -S "$sock" ] && grep -q 'listening on' "$log" 2>/dev/null; then
            _chip_parse_line "$name"
            return 0
        fi
        sleep 0.01
    done
    # Socket there but no line: tolerate, but report it once.
    if [ -S "$sock" ] && kill -0 "$pid" 2>/dev/null; then
        fail "vouch-se ($name) listens but never printed its 'listening on' line: $(head -c 300 "$log")"
        return 0
    fi
    return 1
}

_chip_parse_line() {
    local line
    line=$(grep -m1 'listening on' "${CHIP_LOG[$1]}")
    if [[ $line =~ ^vouch-se:\ chip\ ([0-9a-fA-F]+)\ \(([A-Za-z_]+)\)\ listening\ on\ (.*)$ ]]; then
        CHIP_SERIAL[$1]=$(tr 'A-F' 'a-f' <<<"${BASH_REMATCH[1]}")
        CHIP_LC[$1]=$(tr 'a-z' 'A-Z' <<<"${BASH_REMATCH[2]}")
        if [ "${BASH_REMATCH[3]}" != "$(chip_sock "$1")" ]; then
            fail "listening line names '${BASH_REMATCH[3]}', socket is $(chip_sock "$1")"
        fi
    else
        fail "listening line malformed: '$line'"
        CHIP_SERIAL[$1]=""
        CHIP_LC[$1]=""
    fi
}

# chip_stop NAME: SIGTERM, expects a clean exit 0 within 5 s.
chip_stop() {
    local name=$1 pid=${CHIP_PID[$1]:-} i rc
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 500; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "vouch-se ($name) still running 5 s after SIGTERM"
        kill -9 "$pid" 2>/dev/null || true
    fi
    if wait "$pid" 2>/dev/null; then rc=0; else rc=$?; fi
    CHIP_PID[$name]=""
    IT_POS=$((IT_POS + 1))
    if [ "$rc" = 0 ]; then pass "vouch-se ($name) exits 0 on SIGTERM"; else fail "vouch-se ($name) exit $rc on SIGTERM: $(tail -c 300 "${CHIP_LOG[$name]}")"; fi
}

# chip_kill NAME: power cut.
chip_kill() {
    local pid=${CHIP_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    CHIP_PID[$1]=""
}

chip_alive() { [ -n "${CHIP_PID[$1]:-}" ] && kill -0 "${CHIP_PID[$1]}" 2>/dev/null; }

# daemon_must_refuse DESC PATTERN vouch-se-args...: the daemon must exit
# non-zero within 5 s with a message matching PATTERN. If it keeps running
# (it accepted), it is killed and the check fails.
daemon_must_refuse() {
    local desc=$1 pat=$2
    shift 2
    local log="$IT_TMP/.refuse.log" pid i rc
    "$VSE" "$@" 2>"$log" >/dev/null </dev/null &
    pid=$!
    _watchdog "$pid"
    for ((i = 0; i < 500; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    IT_NEG=$((IT_NEG + 1))
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "$desc: vouch-se kept running (accepted); stderr: $(head -c 300 "$log")"
        return 0
    fi
    if wait "$pid"; then rc=0; else rc=$?; fi
    if [ "$rc" = 0 ]; then
        fail "$desc: vouch-se exited 0; stderr: $(head -c 300 "$log")"
    elif [ "$rc" -ge 126 ]; then
        fail "$desc: vouch-se died with status $rc (crash?); stderr: $(head -c 300 "$log")"
    elif ! grep -Eqi -- "$pat" "$log"; then
        fail "$desc: exit $rc but message does not match /$pat/: $(head -c 300 "$log")"
    else
        pass "$desc"
    fi
}

# ---- the CLI -----------------------------------------------------------------

# se NAME ARGS...: `vouch se --se unix:... ARGS`
se() {
    local name=$1
    shift
    "$VOUCH" se --se "$(chip_uri "$name")" "$@"
}
# seh NAME KEYFILE ARGS...: same over the host secure channel.
seh() {
    local name=$1 keys=$2
    shift 2
    "$VOUCH" se --se "$(chip_uri "$name")" --host-keys "$keys" "$@"
}

# Small file helpers.
hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }
flip_byte() { # FILE OFFSET: xor one byte with 0x01, in place
    local f=$1 off=$2 b
    b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
    printf "$(printf '\\%03o' $(((b ^ 1) & 255)))" |
        dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
now_ms() { date +%s%3N; }
