#!/usr/bin/env bash
# The end-to-end demo: a software secure element is born, makes a key that
# never leaves it, signs, is checked by openssl, is personalized (zones,
# access conditions, host secure channel) and moved to OPERATIONAL.
set -euo pipefail

BIN=${1:-build/bin}
BIN=$(cd "$BIN" && pwd)
WORK=$(mktemp -d /tmp/vouch-demo.XXXXXX)
SOCK=$WORK/se.sock
SE_PID=
cleanup() {
    [ -n "$SE_PID" ] && kill "$SE_PID" 2>/dev/null && wait "$SE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
vouch() { "$BIN/vouch" se --se "unix:$SOCK" "$@"; }

step "Start a new software secure element (vouch-se)"
head -c 32 /dev/urandom > "$WORK/seal.key"
"$BIN/vouch-se" --state "$WORK/chip" --seal-key "$WORK/seal.key" --socket "$SOCK" &
SE_PID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "vouch-se did not start" >&2; exit 1; }
export VOUCH_SE="unix:$SOCK"
run "$BIN/vouch" se info

step "Generate the device key inside the SE (slot 0, ECDSA P-256)"
run "$BIN/vouch" se keygen --slot 0 --alg p256 --out "$WORK/device.pub.pem"
cat "$WORK/device.pub.pem"

step "Sign a message in the SE; openssl verifies the signature"
echo "meter reading: 42.7 kWh at $(date -u +%FT%TZ)" > "$WORK/msg.txt"
run "$BIN/vouch" se sign --slot 0 --in "$WORK/msg.txt" --out "$WORK/msg.sig"
run openssl dgst -sha256 -verify "$WORK/device.pub.pem" -signature "$WORK/msg.sig" "$WORK/msg.txt"
echo "tampered" >> "$WORK/msg.txt"
printf '$ openssl dgst ... (message changed after signing)\n'
if openssl dgst -sha256 -verify "$WORK/device.pub.pem" -signature "$WORK/msg.sig" "$WORK/msg.txt"; then
    echo "unexpected: tampered message verified" >&2; exit 1
fi

step "Ed25519 in slot 1, verified by openssl and by the SE itself"
run "$BIN/vouch" se keygen --slot 1 --alg ed25519 --out "$WORK/ed.pub.pem"
printf 'firmware 1.2.3' > "$WORK/fw.txt"
run "$BIN/vouch" se sign --slot 1 --in "$WORK/fw.txt" --out "$WORK/fw.sig"
run openssl pkeyutl -verify -pubin -inkey "$WORK/ed.pub.pem" -rawin -in "$WORK/fw.txt" -sigfile "$WORK/fw.sig"
run "$BIN/vouch" se verify --pubkey "$WORK/ed.pub.pem" --in "$WORK/fw.txt" --sig "$WORK/fw.sig"

step "Write a certificate into zone 0 (device certificate chain) and read it back"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
    -subj "/O=vouch demo/CN=demo CA" -days 30 -outform DER -out "$WORK/ca.der" 2>/dev/null
run "$BIN/vouch" se write --zone 0 --in "$WORK/ca.der"
run "$BIN/vouch" se read --zone 0 --length "$(stat -c %s "$WORK/ca.der")" --out "$WORK/back.der"
openssl x509 -inform DER -in "$WORK/back.der" -noout -subject

step "A monotonic counter only goes down"
run "$BIN/vouch" se counter --zone 5 --decrement 1
run "$BIN/vouch" se counter --zone 5

step "Personalize: host secure-channel keys, lock zone 1, move to OPERATIONAL"
head -c 32 /dev/urandom > "$WORK/host.keys"
run "$BIN/vouch" se host-keys --set "$WORK/host.keys"
run "$BIN/vouch" se --host-keys "$WORK/host.keys" zone-ac --zone 1 --read always --update never
run "$BIN/vouch" se --host-keys "$WORK/host.keys" zone-ac --zone 3 --read host --update host
run "$BIN/vouch" se --host-keys "$WORK/host.keys" lifecycle --set operational
run "$BIN/vouch" se info

step "Refusals the chip enforces"
printf '$ vouch se --host-keys host.keys keygen --slot 0   (factory slot, OPERATIONAL)\n'
"$BIN/vouch" se --host-keys "$WORK/host.keys" keygen --slot 0 >/dev/null && exit 1 || true
printf '$ vouch se keygen --slot 2   (no secure channel)\n'
"$BIN/vouch" se keygen --slot 2 >/dev/null && exit 1 || true
printf '$ vouch se write --zone 1 ... (update access NEVER)\n'
"$BIN/vouch" se write --zone 1 --in "$WORK/fw.txt" && exit 1 || true
printf '$ vouch se read --zone 3   (needs the host secure channel)\n'
"$BIN/vouch" se read --zone 3 --length 4 >/dev/null && exit 1 || true
printf '$ vouch se --host-keys host.keys read --zone 3 --length 4\n'
"$BIN/vouch" se --host-keys "$WORK/host.keys" read --zone 3 --length 4

step "The state survives a restart, sealed at rest"
kill "$SE_PID"; wait "$SE_PID" 2>/dev/null || true
printf 'state file: %s bytes, AES-256-GCM sealed\n' "$(stat -c %s "$WORK/chip/state.bin")"
"$BIN/vouch-se" --state "$WORK/chip" --seal-key "$WORK/seal.key" --socket "$SOCK" &
SE_PID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
run "$BIN/vouch" se pubkey --slot 0
if cmp -s <("$BIN/vouch" se pubkey --slot 0) "$WORK/device.pub.pem"; then
    echo "same device key after restart"
else
    echo "device key changed across restart" >&2; exit 1
fi

step "A certificate authority for the fleet (vouch ca)"
run "$BIN/vouch" ca init --data "$WORK/ca" --org "Demo Devices"
run "$BIN/vouch" ca add-issuer --data "$WORK/ca" --name meters
run "$BIN/vouch" ca list --data "$WORK/ca"
"$BIN/vouch" ca export --data "$WORK/ca" --name root --out "$WORK/root.pem"
"$BIN/vouch" ca export --data "$WORK/ca" --name meters --out "$WORK/meters.pem"
run openssl verify -CAfile "$WORK/root.pem" "$WORK/meters.pem"
run "$BIN/vouch" audit verify --data "$WORK/ca"

step "Demo complete"
