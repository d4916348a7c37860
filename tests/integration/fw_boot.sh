#!/usr/bin/env bash
# Secure boot with vouch-device on a file-backed flash and a real vouch-se:
# firmware keys provisioned with `vouch fw trust add`, images signed with
# `vouch fw sign`. First boot, upgrade + test + confirm (the anti-rollback
# floor moves only at confirm), upgrade without confirm (reverted), every
# refusal (tampered payload, header, protected TLV; wrong, revoked key; lower
# counter; truncated, garbage, too large; wrong vendor/class; a pending image
# changed in flash) with the previous image still booting; counters behind
# the host secure channel; then a power cut at every flash operation of
# install, upgrade swap, confirm and revert, each followed by boots that
# must start the image the design says; and kill -9 during a slow swap.
# Specification: include/vouch/fw_boot.h (docs/firmware.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VD="$VOUCH_BIN/vouch-device"
[ -x "$VD" ] || die "no vouch-device at $VD"
[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
unset VOUCH_FLASH_CUT_AT VOUCH_FLASH_OPS_OUT VOUCH_FLASH_DELAY_MS

T=$IT_TMP/files
mkdir -p "$T"
cd "$T"

GEOM=(--slot-size 64K --sector-size 4096 --align 8)

# sign KEY VERSION COUNTER IN OUT [vouch fw sign options]
sign() {
    "$VOUCH" fw sign --key "$1" --version "$2" --security-counter "$3" --in "$4" --out "$5" \
        "${@:6}" >/dev/null 2>"$T/sign.err" || die "vouch fw sign $5: $(cat "$T/sign.err")"
}
# dv CODES DESC ARGS...: vouch-device on chip D and flash d.flash
dv() {
    local want=$1 desc=$2
    shift 2
    expect "$want" "$desc" "$VD" --se "$(chip_uri D)" --flash "$T/d.flash" "$@"
}
# booted VERSION TEST DESC: the last boot printed that image (TEST: 1 [test], 0 not)
booted() {
    local want="booting $1 \\(security counter [0-9]+, key [0-9]+\\) from primary"
    [ "$2" = 1 ] && want="$want \\[test\\]"
    if grep -Eq "^$want\$" "$OUT"; then pass "$3"; else fail "$3: got '$(_outtail)' (stderr: $(_errtail)), want $1${2/1/ [test]}"; fi
}
# json_field FILE NAME: a number, string or bool field of a flat JSON object
json_field() {
    grep -o "\"$2\":[^,}]*" "$1" | head -1 | cut -d: -f2- | tr -d '"'
}
# floor_of CHIP: the anti-rollback floor as `vouch fw trust show` reports it
floor_of() {
    "$VOUCH" fw trust show --se "$(chip_uri "$1")" --json 2>/dev/null >"$T/trust.json" || true
    json_field "$T/trust.json" security_counter_floor
}

# ---- keys and images ----------------------------------------------------------
section "keys and images"
chip_new D
chip_start D
for k in k0 k1 kx; do
    "$VOUCH" fw keygen --out $k.pem --pubout $k.pub >/dev/null 2>&1 || die "keygen $k"
done
expect 0 "trust add k0 (entry 0)" "$VOUCH" fw trust add --se "$(chip_uri D)" --pubkey k0.pub
expect 0 "trust add k1 (entry 1)" "$VOUCH" fw trust add --se "$(chip_uri D)" --pubkey k1.pub

head -c 20000 /dev/urandom >app1.bin
head -c 30000 /dev/urandom >app2.bin
head -c 11000 /dev/urandom >app3.bin
head -c 7000 /dev/urandom >app4.bin
head -c 70000 /dev/urandom >big.bin
sign k0.pem 1.0.0 1 app1.bin v1.img
sign k0.pem 1.1.0 2 app2.bin v2.img
sign k0.pem 1.2.0 3 app3.bin v3.img
sign k0.pem 1.0.5 1 app4.bin low.img # below the floor once v2 is confirmed
sign kx.pem 1.3.0 3 app4.bin wrongkey.img
sign k1.pem 2.0.0 4 app4.bin v4k1.img
sign k0.pem 2.1.0 5 app4.bin v5k0.img
sign k0.pem 1.4.0 3 big.bin big.img

# ---- usage --------------------------------------------------------------------------
section "usage"
expect 0 "--help" "$VD" --help
assert_grep "--help is a manual" "EXIT STATUS" "$OUT"
assert_grep "--help names the commands" "install" "$OUT"
for c in boot install confirm status format; do
    expect 0 "$c --help" "$VD" "$c" --help
    assert_grep "$c --help describes it" "SYNOPSIS" "$OUT"
done
expect 2 "no command" "$VD" --flash d.flash
expect 2 "unknown command" "$VD" --flash d.flash reboot
assert_grep "unknown command named" "unknown command 'reboot'" "$ERR"
expect 2 "unknown option" "$VD" --flash d.flash --frobnicate boot
expect 2 "missing --flash" "$VD" --se "$(chip_uri D)" boot
expect 2 "missing --se" "$VD" --flash d.flash boot
expect 2 "bad --slot-size" "$VD" --flash d.flash --slot-size 12Q format
expect 2 "slot size not whole sectors" "$VD" --flash d.flash --slot-size 5000 format
expect 2 "install without IMAGE" "$VD" --se "$(chip_uri D)" --flash d.flash install
expect 2 "--class without --vendor" "$VD" --se "$(chip_uri D)" --flash d.flash --class x boot
expect 4 "SE unreachable" "$VD" --se "unix:$T/nothing.sock" --flash d.flash boot
assert_grep "unreachable SE named" "cannot reach the secure element" "$ERR"
expect 0 "format" "$VD" --flash d.flash "${GEOM[@]}" format
assert_size "flash file: 2 slots, 3 sectors, footer" d.flash $((2 * 65536 + 3 * 4096 + 32))
expect 2 "geometry differs from the file's" "$VD" --se "$(chip_uri D)" --flash d.flash --slot-size 128K status
printf 'not a flash' >junk.flash
expect 5 "not a flash file" "$VD" --se "$(chip_uri D)" --flash junk.flash status

# ---- first boot, upgrade, confirm ----------------------------------------------------------
section "first boot"
dv 1 "empty flash: nothing to boot" boot
assert_grep "empty flash: why" "no bootable image" "$ERR"
dv 1 "confirm with no test image" confirm
assert_grep "confirm refused: why" "nothing to confirm" "$ERR"
dv 0 "install v1" install v1.img
assert_grep "install says what" "installed 1.0.0" "$OUT"
dv 0 "status --json" status --json
assert_eq "status: pending" "$(json_field "$OUT" state)" pending
assert_eq "status: floor 0" "$(json_field "$OUT" security_counter_floor)" 0
if command -v python3 >/dev/null; then
    check "status --json parses" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT"
fi
dv 0 "first boot" boot
booted 1.0.0 1 "first boot starts v1 on trial"
assert_eq "floor untouched by the first boot" "$(floor_of D)" 0
dv 0 "confirm v1" confirm
assert_eq "floor 1 after confirming v1" "$(floor_of D)" 1
dv 0 "boot v1" boot
booted 1.0.0 0 "v1 boots, confirmed"

section "upgrade to v2, confirmed"
dv 0 "install v2" install v2.img
dv 0 "boot v2 (swap)" boot
booted 1.1.0 1 "v2 on trial"
assert_eq "floor not raised at swap time" "$(floor_of D)" 1
dv 1 "install while a test image runs" install v3.img
assert_grep "install while testing: why" "confirm it or reboot" "$ERR"
dv 0 "boot --json" boot --json
# a second boot without confirm would revert: this one did, check
assert_eq "boot --json: booted" "$(json_field "$OUT" booted)" true
assert_eq "boot --json: reverted to v1" "$(json_field "$OUT" version)" 1.0.0
assert_eq "boot --json: swapped" "$(json_field "$OUT" swapped)" revert
# again, and confirm this time
dv 0 "install v2 again" install v2.img
dv 0 "boot v2 again" boot
booted 1.1.0 1 "v2 on trial again"
dv 0 "confirm v2" confirm --json
assert_eq "confirm --json: floor" "$(json_field "$OUT" floor)" 2
assert_eq "floor 2 only after confirm" "$(floor_of D)" 2
dv 0 "confirm again: nothing to do" confirm
dv 0 "boot v2 confirmed" boot
booted 1.1.0 0 "v2 boots, confirmed"

section "upgrade to v3, not confirmed: reverted"
dv 0 "install v3" install v3.img
dv 0 "boot v3" boot
booted 1.2.0 1 "v3 on trial"
dv 0 "boot without confirm" boot
booted 1.1.0 0 "reverted to v2"
assert_grep "revert is reported" "reverted" "$ERR"
dv 0 "status after revert" status --json
assert_eq "status: reverted" "$(json_field "$OUT" state)" reverted
assert_eq "floor still 2" "$(floor_of D)" 2
dv 0 "boot after revert" boot
booted 1.1.0 0 "v2 stays"

# ---- refusals -----------------------------------------------------------------------------
section "refusals"
# refused IMAGE PATTERN DESC: install exits 1 with PATTERN; v2 still boots
refused() {
    dv 1 "install $3" install "$1"
    assert_grep "install $3: message" "$2" "$ERR"
    dv 0 "boot after $3" boot
    booted 1.1.0 0 "$3 did not replace v2"
}
cp v3.img t_payload.img && flip_byte t_payload.img 100
refused t_payload.img "hash does not match" "tampered payload byte"
cp v3.img t_header.img && flip_byte t_header.img 21
refused t_header.img "hash does not match" "tampered header byte (version)"
cp v3.img t_prot.img && flip_byte t_prot.img $((32 + 11000 + 8))
refused t_prot.img "hash does not match" "tampered security counter (protected TLV)"
refused wrongkey.img "does not trust" "image signed by an unknown key"
refused low.img "below the device" "lower security counter"
head -c $(($(stat -c %s v3.img) - 40)) v3.img >trunc.img
refused trunc.img "truncated" "truncated image"
head -c 5000 /dev/urandom >garbage.img
refused garbage.img "not a firmware image" "garbage file"
refused big.img "slot holds" "image larger than the slot"
: >empty.img
refused empty.img "truncated" "empty file"
dv 5 "install of a missing file" install nonexistent.img

section "pending image changed in flash"
dv 0 "install v3 (pending)" install v3.img
# flip a payload byte of the secondary slot in the flash file
flip_byte d.flash $((65536 + 500))
dv 0 "boot with a damaged pending image" boot
booted 1.1.0 0 "damaged pending image not started"
assert_grep "damaged pending image: why" "refused.*hash does not match" "$ERR"
dv 0 "status" status --json
assert_eq "status: rejected" "$(json_field "$OUT" state)" rejected

section "vendor and class"
sign k0.pem 1.2.1 3 app3.bin vc.img --vendor acme.example --class sensor
dv 1 "install for another vendor" --vendor other.example --class sensor install vc.img
assert_grep "vendor refusal" "vendor does not match" "$ERR"
dv 1 "install for another class" --vendor acme.example --class valve install vc.img
assert_grep "class refusal" "class does not match" "$ERR"
dv 1 "image without UUIDs on a device with one" --vendor acme.example install v3.img
dv 0 "vendor and class match" --vendor acme.example --class sensor install vc.img
# the running v2 has no UUIDs: with the check on it would not boot; boot
# without the check (this device was not set up with a vendor before)
dv 0 "boot vc" boot
booted 1.2.1 1 "vendor/class image on trial"
dv 0 "boot: revert vc" boot
booted 1.1.0 0 "vc reverted"

section "revoked key"
dv 0 "install v4 (key 1)" install v4k1.img
dv 0 "boot v4" boot
booted 2.0.0 1 "v4 (key 1) on trial"
dv 0 "confirm v4" confirm
assert_eq "floor 4" "$(floor_of D)" 4
expect 0 "revoke key 0" "$VOUCH" fw trust revoke --se "$(chip_uri D)" --index 0
refused_k() {
    dv 1 "install $2" install "$1"
    assert_grep "install $2: message" "$3" "$ERR"
    dv 0 "boot after $2" boot
    booted 2.0.0 0 "$2 did not replace v4"
}
refused_k v5k0.img "image signed by a revoked key" "revoked"
dv 0 "status lists the revoked key" status --json
assert_grep "status: key 0 revoked" '"index":0,"alg":"[^"]*","revoked":true' "$OUT"
assert_grep "status: key 1 not revoked" '"index":1,"alg":"[^"]*","revoked":false' "$OUT"
dv 0 "status (text)" status
assert_grep "status text: state" "^state: +rejected" "$OUT"
assert_grep "status text: why" "^last: +rejected: image is signed by a revoked key" "$OUT"
assert_grep "status text: primary" "^primary: +2\.0\.0 .* verified" "$OUT"

# ---- counters behind the host secure channel ------------------------------------------------
section "host secure channel"
chip_new H
chip_start H
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')" >h.hostkeys
chmod 600 h.hostkeys
expect 0 "set host keys" "$VOUCH" se --se "$(chip_uri H)" host-keys --set h.hostkeys
expect 0 "trust add (H)" "$VOUCH" fw trust add --se "$(chip_uri H)" --host-keys h.hostkeys --pubkey k0.pub
expect 0 "trust lock (H)" "$VOUCH" fw trust lock --se "$(chip_uri H)" --host-keys h.hostkeys
HD=("$VD" --se "$(chip_uri H)" --flash "$T/h.flash" "${GEOM[@]}")
expect 0 "H: install v1" "${HD[@]}" install v1.img
expect 0 "H: boot v1" "${HD[@]}" boot
booted 1.0.0 1 "H: v1 on trial"
expect 3 "H: confirm without the host keys: the SE refuses the counter step" "${HD[@]}" confirm
assert_grep "H: confirm says the image is confirmed, the counter not" "confirmed in flash.*host-keys" "$ERR"
assert_eq "H: floor unchanged" "$(floor_of H)" 0
expect 0 "H: boot without the host keys: v1 starts, the floor lags" "${HD[@]}" boot
booted 1.0.0 0 "H: v1 kept without host keys"
assert_grep "H: boot warns about the floor" "floor stays 0" "$ERR"
assert_eq "H: floor still 0" "$(floor_of H)" 0
# CONFIRMED is in flash: the next boot keeps v1 and catches the floor up
expect 0 "H: boot with the host keys" "${HD[@]}" --host-keys h.hostkeys boot
booted 1.0.0 0 "H: v1 kept (confirmed in flash)"
assert_eq "H: floor caught up at boot" "$(floor_of H)" 1
expect 0 "H: install v2" "${HD[@]}" --host-keys h.hostkeys install v2.img
expect 0 "H: boot v2" "${HD[@]}" --host-keys h.hostkeys boot
expect 0 "H: confirm v2 over the channel" "${HD[@]}" --host-keys h.hostkeys confirm
assert_eq "H: floor 2" "$(floor_of H)" 2
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')" >wrong.hostkeys
expect 0 "H: install v3" "${HD[@]}" --host-keys h.hostkeys install v3.img
expect 0 "H: boot v3" "${HD[@]}" --host-keys h.hostkeys boot
expect "3 4" "H: confirm with wrong host keys" "${HD[@]}" --host-keys wrong.hostkeys confirm
assert_eq "H: floor unchanged by wrong keys" "$(floor_of H)" 2
expect 0 "H: boot with the right keys" "${HD[@]}" --host-keys h.hostkeys boot
booted 1.2.0 0 "H: v3 kept"
assert_eq "H: floor 3 caught up" "$(floor_of H)" 3
printf 'zz' >bad.hostkeys
expect 5 "H: unreadable host keys file" "${HD[@]}" --host-keys bad.hostkeys boot

# ---- power cuts at every flash operation ----------------------------------------------------
section "power cuts"
chip_new F
chip_start F
"$VOUCH" fw trust add --se "$(chip_uri F)" --pubkey k0.pub >/dev/null 2>&1 || die "trust add F"
FD=("$VD" --se "$(chip_uri F)" --flash "$T/f.flash")
"$VD" --flash f.flash "${GEOM[@]}" format >/dev/null || die "format f.flash"
for step in "install v1.img" boot confirm boot; do
    # shellcheck disable=SC2086
    "${FD[@]}" $step >/dev/null 2>&1 || die "F: $step"
done
[ "$(floor_of F)" = 1 ] || die "F: floor not 1 after v1"
mkdir -p pts
F_STATE=$(chip_state F)/state.bin
point_save() {
    cp f.flash "pts/$1.flash"
    cp "$F_STATE" "pts/$1.se"
}
# point_restore NAME: the flash and, when it changed, the SE's state
point_restore() {
    cp "pts/$1.flash" f.flash
    if ! cmp -s "$F_STATE" "pts/$1.se"; then
        chip_kill F
        cp "pts/$1.se" "$F_STATE"
        chip_start F
    fi
}
point_save v1 # v1 confirmed, floor 1
"${FD[@]}" install v2.img >/dev/null 2>&1 || die "F: install v2"
point_save pending # v2 pending
"${FD[@]}" boot >/dev/null 2>&1 || die "F: boot v2"
point_save trial # v2 started once, unconfirmed

# fboot VERSION TEST DESC: boot F and check what starts, and the floor rules
fboot() {
    run "${FD[@]}" boot
    if [ "$RC" != 0 ]; then
        fail "$3: boot exit $RC: $(_errtail)"
        return 0
    fi
    booted "$1" "$2" "$3"
}
ffloor() { # WANT DESC
    assert_eq "$2" "$(floor_of F)" "$1"
}

# What the design says after a cut at operation K of N:
after_install() { # a cut before PENDING is whole: v1, twice
    fboot 1.0.0 0 "install cut $1/$2: boots v1"
    fboot 1.0.0 0 "install cut $1/$2: boots v1 again"
    ffloor 1 "install cut $1/$2: floor 1"
}
after_swap() { # the swap is finished: v2 on trial, then reverted (no confirm)
    fboot 1.1.0 1 "swap cut $1/$2: boots v2 on trial"
    ffloor 1 "swap cut $1/$2: floor not raised"
    fboot 1.0.0 0 "swap cut $1/$2: unconfirmed v2 reverted"
    ffloor 1 "swap cut $1/$2: floor 1"
}
after_confirm() { # CONFIRMED torn: revert; CONFIRMED whole, counter not stepped: catch-up
    if [ "$1" = "$2" ]; then
        ffloor 1 "confirm cut $1/$2 (the counter step): floor still 1"
        fboot 1.1.0 0 "confirm cut $1/$2: v2 confirmed in flash"
        ffloor 2 "confirm cut $1/$2: floor caught up at boot"
        fboot 1.1.0 0 "confirm cut $1/$2: v2 again"
    else
        fboot 1.0.0 0 "confirm cut $1/$2: not confirmed, reverted to v1"
        ffloor 1 "confirm cut $1/$2: floor 1"
        fboot 1.0.0 0 "confirm cut $1/$2: v1 again"
    fi
}
after_revert() {
    fboot 1.0.0 0 "revert cut $1/$2: boots v1"
    fboot 1.0.0 0 "revert cut $1/$2: v1 again"
    ffloor 1 "revert cut $1/$2: floor 1"
}

FAULTS=()
# fault_scenario NAME POINT CHECK ARGS...: count the operations of
# `vouch-device ARGS` from POINT, then cut at each and CHECK.
fault_scenario() {
    local name=$1 point=$2 chk=$3 n k bad=0
    shift 3
    point_restore "$point"
    rm -f ops.count
    run env VOUCH_FLASH_OPS_OUT="$T/ops.count" "${FD[@]}" "$@"
    _expect_check 0 "fault $name: the run without a cut"
    n=$(cat ops.count 2>/dev/null || echo 0)
    [ "$n" -gt 0 ] || fail "fault $name: no operations counted"
    for ((k = 1; k <= n; k++)); do
        point_restore "$point"
        run env VOUCH_FLASH_CUT_AT=$k "${FD[@]}" "$@"
        if [ "$RC" != 137 ]; then
            fail "fault $name: cut at $k of $n: exit $RC, want 137: $(_errtail)"
            bad=$((bad + 1))
            continue
        fi
        IT_NEG=$((IT_NEG + 1))
        "$chk" "$k" "$n"
    done
    FAULTS+=("$name $n")
    note "fault points: $name $n"
}
fault_scenario install v1 after_install install v2.img
fault_scenario swap pending after_swap boot
fault_scenario confirm trial after_confirm confirm
fault_scenario revert trial after_revert boot

section "kill -9 during a slow swap"
KILLS=()
for round in 1 2 3 4 5 6; do
    point_restore pending
    VOUCH_FLASH_DELAY_MS=3 "${FD[@]}" boot >/dev/null 2>&1 &
    pid=$!
    # early, in the middle, late (the swap takes about half a second)
    sleep "$(printf '0.%03d' $(((round - 1) * 170 + RANDOM % 60 + 5)))"
    kill -9 "$pid" 2>/dev/null || true
    if { wait "$pid"; } 2>/dev/null; then krc=0; else krc=$?; fi
    run "${FD[@]}" status --json
    st=$(json_field "$OUT" state)
    if [ "$st" = booted_once ]; then
        # it got as far as starting v2: the next boot reverts
        fboot 1.0.0 0 "kill -9 round $round (exit $krc, $st): reverted to v1"
        KILLS+=("$st")
    else
        fboot 1.1.0 1 "kill -9 round $round (exit $krc, $st): v2 on trial"
        fboot 1.0.0 0 "kill -9 round $round: then reverted"
        KILLS+=("$st")
    fi
    ffloor 1 "kill -9 round $round: floor 1"
done

note "kill -9 left: ${KILLS[*]}"
printf '\nfault points: %s\n' "$(IFS=,; echo "${FAULTS[*]}" | sed 's/,/, /g')" >&2
it_done
