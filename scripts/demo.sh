#!/usr/bin/env bash
# The end-to-end demo: a software secure element is born, makes a key that
# never leaves it, signs, is checked by openssl, is personalized (zones,
# access conditions, host secure channel) and moved to OPERATIONAL; a CA
# serves certificates, OCSP and CRLs; a batch of SEs is provisioned in the
# factory, their family is enrolled to a cloud account, every device
# authenticates with a challenge its SE signs, and a revoked one is refused;
# a firmware release is signed and rolled out over the air, verified by each
# device's SE, a tampered image is refused and a failing update reverts.
set -euo pipefail

BIN=${1:-build/bin}
BIN=$(cd "$BIN" && pwd)
WORK=$(mktemp -d /tmp/vouch-demo.XXXXXX)
SOCK=$WORK/se.sock
SE_PID=
VD_PID=
FLEET_PIDS=()
cleanup() {
    [ -n "$VD_PID" ] && kill "$VD_PID" 2>/dev/null && wait "$VD_PID" 2>/dev/null
    for p in "${FLEET_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
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

step "Serve it: vouchd (CA, RA and VA over HTTP, SQLite underneath)"
# The public URL goes into every certificate (CRL and OCSP locations) and
# its origin is what devices sign: pick the port first.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$BIN/vouchd" --data "$WORK/ca" --listen "127.0.0.1:$PORT" --public-url "$URL" 2>"$WORK/vouchd.log" &
VD_PID=$!
for _ in $(seq 100); do grep -q "listening" "$WORK/vouchd.log" 2>/dev/null && break; sleep 0.05; done
echo "vouchd listening on $URL"
export VOUCH_SERVER=$URL VOUCH_TOKEN_FILE=$WORK/ca/admin.token

step "A device asks for a certificate (CSR signed inside its SE), vouchd issues it"
run "$BIN/vouch" se csr --slot 0 --subject "/O=Demo Devices/CN=meter-0001" --out "$WORK/meter.csr"
run "$BIN/vouch" cert issue --server "$URL" --token-file "$WORK/ca/admin.token" \
    --csr "$WORK/meter.csr" --template device --issuer meters --out "$WORK/meter.pem"
SERIAL=$(openssl x509 -in "$WORK/meter.pem" -noout -serial | cut -d= -f2)
run openssl x509 -in "$WORK/meter.pem" -noout -subject -issuer -serial -ext crlDistributionPoints,authorityInfoAccess
run "$BIN/vouch" cert get "$SERIAL" --chain --out "$WORK/meter-chain.pem"
run openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/meters.pem" "$WORK/meter.pem"

step "OCSP says good (openssl ocsp asks vouchd's responder)"
run openssl ocsp -issuer "$WORK/meters.pem" -cert "$WORK/meter.pem" -url "$URL/ocsp" \
    -CAfile "$WORK/root.pem" -verify_other "$WORK/meters.pem"

step "The device's key is compromised: revoke it"
run "$BIN/vouch" cert revoke "$SERIAL" --reason key-compromise
run "$BIN/vouch" cert list --status revoked

step "OCSP now says revoked, and the CRL rejects the certificate"
run openssl ocsp -issuer "$WORK/meters.pem" -cert "$WORK/meter.pem" -url "$URL/ocsp" \
    -CAfile "$WORK/root.pem" -verify_other "$WORK/meters.pem"
run "$BIN/vouch" crl get --issuer meters --out "$WORK/meters.crl"
run openssl crl -inform DER -in "$WORK/meters.crl" -noout -text
openssl crl -inform DER -in "$WORK/meters.crl" -out "$WORK/meters.crl.pem"
printf '$ openssl verify -crl_check -CRLfile meters.crl ... meter.pem\n'
if openssl verify -crl_check -CRLfile "$WORK/meters.crl.pem" -CAfile "$WORK/root.pem" \
    -untrusted "$WORK/meters.pem" "$WORK/meter.pem"; then
    echo "unexpected: a revoked certificate verified" >&2; exit 1
fi

step "Factory: a batch of four new software SEs provisioned in one run"
FLEET=()
for i in 1 2 3 4; do
    d=$WORK/fleet$i
    mkdir -p "$d"
    head -c 32 /dev/urandom > "$d/seal.key"
    chmod 600 "$d/seal.key"
    "$BIN/vouch-se" --state "$d/chip" --seal-key "$d/seal.key" --socket "$d/se.sock" 2>/dev/null &
    FLEET_PIDS+=("$!")
    FLEET+=("unix:$d/se.sock")
done
for i in 1 2 3 4; do
    for _ in $(seq 50); do [ -S "$WORK/fleet$i/se.sock" ] && break; sleep 0.1; done
done
mkdir -m 700 "$WORK/hostkeys"
SE_ARGS=()
for u in "${FLEET[@]}"; do SE_ARGS+=(--se "$u"); done
run "$BIN/vouch" provision "${SE_ARGS[@]}" --issuer meters --template device --cn-prefix meter- \
    --org "Demo Devices" --anchor "$WORK/root.pem" --host-keys-dir "$WORK/hostkeys" \
    --manifest "$WORK/manifest.jsonl" --jobs 4
run cat "$WORK/manifest.jsonl"
echo "(the same command again skips every SE: they are OPERATIONAL)"
run "$BIN/vouch" provision "${SE_ARGS[@]}" --issuer meters --template device --cn-prefix meter- \
    --org "Demo Devices" --anchor "$WORK/root.pem" --host-keys-dir "$WORK/hostkeys" \
    --manifest "$WORK/manifest.jsonl" --jobs 4

step "A cloud account; the meters CA is its device family"
run "$BIN/vouch" account create acme
run "$BIN/vouch" family enroll --account acme --ca-cert "$WORK/meters.pem"

step "Every device authenticates: vouchd's challenge, signed inside each SE"
for u in "${FLEET[@]}"; do
    run "$BIN/vouch" device auth --se "$u"
done
sleep 1.2 # last seen is written about once a second
run "$BIN/vouch" device list --account acme

step "One device's certificate is revoked: its next authentication is refused"
SERIAL0=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["se"] == sys.argv[2] and d["result"] == "ok":
        print(d["certificate_serial"]); break' "$WORK/manifest.jsonl" "${FLEET[0]}")
run "$BIN/vouch" cert revoke "$SERIAL0" --reason key-compromise
printf '$ vouch device auth --se %s\n' "${FLEET[0]}"
if "$BIN/vouch" device auth --se "${FLEET[0]}"; then
    echo "unexpected: a revoked device authenticated" >&2; exit 1
else
    echo "(refused, exit status $?: as it must be)"
fi
run "$BIN/vouch" device auth --se "${FLEET[1]}"

step "Firmware: a release key; each device's SE trusts it, vouchd checks uploads with it"
run "$BIN/vouch" fw keygen --out "$WORK/release.key" --pubout "$WORK/release.pub"
run "$BIN/vouch" fw key add --account acme --name release-1 --pubkey "$WORK/release.pub"
serial_of() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["se"] == sys.argv[2] and d["serial"]:
        print(d["serial"]); break' "$WORK/manifest.jsonl" "$1"; }
DEVS=(2 3 4)
for i in "${DEVS[@]}"; do
    u=${FLEET[$((i - 1))]}
    hk=$WORK/hostkeys/$(serial_of "$u").hostkeys
    run "$BIN/vouch" fw trust add --se "$u" --host-keys "$hk" --pubkey "$WORK/release.pub"
    run "$BIN/vouch" fw trust lock --se "$u" --host-keys "$hk"
done
dev() { # dev N args...: the reference device program of fleet device N
    local n=$1; shift
    local u=${FLEET[$((n - 1))]}
    "$BIN/vouch-device" --se "$u" --host-keys "$WORK/hostkeys/$(serial_of "$u").hostkeys" \
        --flash "$WORK/fleet$n/flash.bin" --slot-size 128K "$@"
}
rundev() { printf '$ vouch-device ... %s\n' "$*"; dev "$@"; }
# The application: a script whose self-test says whether it is healthy.
app() { printf '#!/bin/sh\n# meter application %s\n[ "$1" = self-test ] && exit %s\necho meter %s\n' "$1" "$2" "$1"; }

step "The factory image 1.0.0 (security counter 1) on three devices: install, boot, confirm"
app 1.0.0 0 > "$WORK/app-1.0.0.bin"
run "$BIN/vouch" fw sign --key "$WORK/release.key" --version 1.0.0 --security-counter 1 \
    --in "$WORK/app-1.0.0.bin" --out "$WORK/app-1.0.0.img"
run "$BIN/vouch" fw info "$WORK/app-1.0.0.img"
for i in "${DEVS[@]}"; do
    rundev "$i" install "$WORK/app-1.0.0.img"
    rundev "$i" boot
    rundev "$i" confirm
done

step "Release 1.1.0 (security counter 2): signed, uploaded (vouchd checks the signature), rolled out"
app 1.1.0 0 > "$WORK/app-1.1.0.bin"
run "$BIN/vouch" fw sign --key "$WORK/release.key" --version 1.1.0 --security-counter 2 \
    --in "$WORK/app-1.1.0.bin" --out "$WORK/app-1.1.0.img"
REL=$("$BIN/vouch" fw release upload "$WORK/app-1.1.0.img" --account acme --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "release $REL uploaded"
run "$BIN/vouch" fw release list --account acme
CAMP=$("$BIN/vouch" fw campaign create --account acme --release "$REL" --all --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "campaign $CAMP created for every device of the account"

step "Each device's update loop: authenticate, download (HTTP ranges), verify in the SE, swap, self-test, confirm"
for i in "${DEVS[@]}"; do
    rundev "$i" run --server "$URL" --once
done
run "$BIN/vouch" fw campaign status "$CAMP" --account acme

step "A tampered image never reaches the primary slot"
cp "$WORK/app-1.1.0.img" "$WORK/tampered.img"
printf 'X' | dd of="$WORK/tampered.img" bs=1 seek=60 conv=notrunc 2>/dev/null
printf '$ vouch-device ... install tampered.img\n'
if dev 2 install "$WORK/tampered.img"; then
    echo "unexpected: a tampered image was accepted" >&2; exit 1
else
    echo "(refused, exit status $?: the device keeps its image)"
fi
rundev 2 boot

step "Release 1.2.0 fails its self-test on one device: never confirmed, reverted at the next boot"
app 1.2.0 1 > "$WORK/app-1.2.0.bin"
run "$BIN/vouch" fw sign --key "$WORK/release.key" --version 1.2.0 --security-counter 3 \
    --in "$WORK/app-1.2.0.bin" --out "$WORK/app-1.2.0.img"
REL2=$("$BIN/vouch" fw release upload "$WORK/app-1.2.0.img" --account acme --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
DEV4=meter-$(serial_of "${FLEET[3]}")
CAMP2=$("$BIN/vouch" fw campaign create --account acme --release "$REL2" --devices "$DEV4" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "campaign $CAMP2 created for $DEV4"
rundev 4 run --server "$URL" --once
run "$BIN/vouch" fw campaign status "$CAMP2" --account acme

step "Anti-rollback: the old 1.0.0 image (security counter 1) is refused everywhere now"
printf '$ vouch-device ... install app-1.0.0.img\n'
if dev 3 install "$WORK/app-1.0.0.img"; then
    echo "unexpected: a rolled-back image was accepted" >&2; exit 1
else
    echo "(refused, exit status $?)"
fi
rundev 4 status

step "Every issuance and revocation is in the hash-chained audit log"
kill "$VD_PID"; wait "$VD_PID" 2>/dev/null || true
VD_PID=
run "$BIN/vouch" audit verify --data "$WORK/ca"

step "Demo complete"
