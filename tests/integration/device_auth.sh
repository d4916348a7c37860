#!/usr/bin/env bash
# Accounts, device families and device authentication (docs/api.md,
# docs/auth-protocol.md) against a real vouchd, real vouch-se daemons and
# the openssl command:
#   - a device whose key is in a vouch-se and whose certificate our CA
#     issued authenticates through `vouch device auth` once our issuing CA
#     is its account's family (just-in-time registration, last seen);
#   - a device under an outside CA made here with openssl authenticates
#     only after the family is enrolled AND verified (proof of possession);
#   - a device enrolled on its own, with a certificate signed by openssl,
#     authenticates with a response signed by `openssl dgst`;
#   - every refusal of the issue's list is its own case with its own code,
#     and a refusal creates and changes nothing (devices, audit log).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
command -v python3 >/dev/null || die "python3 is missing"

rc_is() { _expect_check "$@"; } # WANT DESC, after run
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------------------
section "setup: CA, vouchd whose public URL is the origin devices sign"
"$VOUCH" ca init --data "$CA" --org "Auth Test" >/dev/null 2>"$ERR" || die "ca init: $(cat "$ERR")"
chmod 600 "$CA/admin.token"
PORT=$(free_port)
U=http://127.0.0.1:$PORT
vd_start "$IT_TMP/vd.log" --data "$CA" --listen "127.0.0.1:$PORT" --public-url "$U" --threads 2
export VOUCH_SERVER=$U VOUCH_TOKEN_FILE=$CA/admin.token
JSON=(-H "Content-Type: application/json")
AUTH=(-H "Authorization: Bearer $(tr -d '\n' <"$CA/admin.token")")

run "$VOUCH" account create acme
rc_is 0 "account create acme"
run "$VOUCH" account create beta
rc_is 0 "account create beta"
run "$VOUCH" account create acme
rc_is 3 "account create acme again (409 account_exists)"
check "  says it exists" grep -q "account_exists" "$ERR"
run "$VOUCH" account create "bad name"
rc_is 2 "account create with a space (usage)"

# our issuing CA as acme's family: verified at once (ours)
curl -sS "$U/ca/default.crt" | openssl x509 -inform der -out default.pem
run "$VOUCH" family enroll --account acme --ca-cert default.pem --json
rc_is 0 "family enroll our issuing CA"
assert_eq "  ours, verified at once" "$(jget 'd["status"]+"/"+str(d["ours"])')" "verified/True"

# device-key SEs: keygen in slot 0, CSR signed inside, certificate from vouchd
se_device() { # NAME CN -> NAME.pem (leaf), NAME.chain.pem (leaf + CA chain)
    chip_new "$1"
    chip_start "$1"
    se "$1" keygen --slot 0 --alg p256 >/dev/null 2>"$ERR" || die "keygen $1: $(cat "$ERR")"
    se "$1" csr --slot 0 --subject "/CN=$2" --out "$1.csr" >/dev/null 2>"$ERR" || die "csr $1: $(cat "$ERR")"
}
issue() { # NAME: our CA issues NAME.csr
    "$VOUCH" cert issue --csr "$1.csr" --template device --out "$1.pem" --chain-out "$1.ca.pem" >/dev/null 2>"$ERR" ||
        die "issue $1: $(cat "$ERR")"
    cat "$1.pem" "$1.ca.pem" >"$1.chain.pem"
}
se_device d1 sensor-1
issue d1
se_device d2 sensor-2
issue d2
se_device d3 sensor-3
issue d3

# ---------------------------------------------------------------------------
section "a device of our family authenticates (vouch device auth, the SE signs)"
n_audit() { "$VOUCH" audit --data "$CA" verify --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["entries"])'; }
run "$VOUCH" device auth --se "$(chip_uri d1)" --cert d1.chain.pem --token-out d1.token --json
rc_is 0 "device auth sensor-1"
assert_eq "  answer" "$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["device_id"],d["account"],d["authenticated"])' "$OUT")" "sensor-1 acme True"
check "  token file is 0600" test "$(stat -c %a d1.token)" = 600
check_not "  token is not printed" grep -q "$(cut -c1-20 d1.token)" "$OUT"
req "GET /v1/session with the token" 200 -H "Authorization: Bearer $(cat d1.token)" "$U/v1/session"
assert_eq "  session names the device" "$(jget 'd["device_id"]+"@"+d["account"]')" "sensor-1@acme"
sleep 1.5 # last seen is written about once a second
run "$VOUCH" device list --account acme --json
rc_is 0 "device list --json"
assert_eq "  registered just in time, online" "$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]))["devices"];print([(x["device_id"],x["presence"],x["enrollment"]) for x in d])' "$OUT")" "[('sensor-1', 'online', 'family')]"
run "$VOUCH" device list --account acme
rc_is 0 "device list (table)"
check "  counts line" grep -q "1 devices: 1 online, 0 offline, 0 without a certificate" "$OUT"

section "the chain from the SE's zone 0 (the provisioning layout)"
python3 - <<'PY'
import re, subprocess
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", open("d2.chain.pem").read(), re.S)
with open("d2.chain.der", "wb") as f:
    for p in pems:
        f.write(subprocess.run(["openssl", "x509", "-outform", "der"], input=p.encode(), capture_output=True, check=True).stdout)
PY
se d2 write --zone 0 --in d2.chain.der >/dev/null 2>"$ERR" || die "zone 0 write: $(cat "$ERR")"
run "$VOUCH" device auth --se "$(chip_uri d2)" --json
rc_is 0 "device auth without --cert reads zone 0"
assert_eq "  sensor-2" "$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["device_id"])' "$OUT")" "sensor-2"
run "$VOUCH" device auth --se "$(chip_uri d3)"
rc_is 5 "device auth of an SE whose zone 0 is empty (no certificate)"
check "  says so" grep -q "holds no certificate" "$ERR"
run "$VOUCH" device auth --se "unix:$IT_TMP/nowhere.sock" --cert d2.chain.pem
rc_is 4 "device auth with an SE that is not there"
run "$VOUCH" device auth --cert d2.chain.pem
rc_is 2 "device auth without --se"

# ---------------------------------------------------------------------------
section "the protocol by hand: curl, vouch se sign / openssl dgst"
# challenge BODYJSON: POST /v1/auth/challenge; CID and CH (base64) on 200
challenge() {
    req "$1" "$2" "${JSON[@]}" --data-binary "$3" "$U/v1/auth/challenge"
    CID=$(jget 'd.get("challenge_id","")')
    CH=$(jget 'd.get("challenge","")')
}
chain_body() { # PEMFILE [ACCOUNT] -> JSON body with base64 DER certificates
    python3 - "$@" <<'PY'
import base64, json, re, subprocess, sys
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", open(sys.argv[1]).read(), re.S)
ders = [subprocess.run(["openssl", "x509", "-outform", "der"], input=p.encode(), capture_output=True, check=True).stdout for p in pems]
d = {"certificates": [base64.b64encode(x).decode() for x in ders]}
if len(sys.argv) > 2:
    d["account"] = sys.argv[2]
print(json.dumps(d))
PY
}
# message ORIGIN LEAFPEM: the bytes a device signs, into msg.bin
message() {
    openssl x509 -in "$2" -outform der -out leaf.der
    python3 - "$1" "$CH" <<'PY'
import base64, hashlib, sys
leaf = open("leaf.der", "rb").read()
m = b"vouch-auth-v1\0" + sys.argv[1].encode() + b"\0" + base64.b64decode(sys.argv[2]) + hashlib.sha256(leaf).digest()
open("msg.bin", "wb").write(m)
PY
}
response_body() { # SIGFILE -> JSON
    python3 -c 'import base64,json,sys; print(json.dumps({"challenge_id": sys.argv[1], "signature": base64.b64encode(open(sys.argv[2],"rb").read()).decode()}))' "$CID" "$1"
}
respond() { # DESC WANT SIGFILE
    req "$1" "$2" "${JSON[@]}" --data-binary "$(response_body "$3")" "$U/v1/auth/response"
}

B2=$(chain_body d2.chain.pem)
challenge "challenge for sensor-2" 200 "$B2"
assert_eq "  32-byte challenge" "$(python3 -c 'import base64,sys;print(len(base64.b64decode(sys.argv[1])))' "$CH")" 32
assert_eq "  origin echoed" "$(jget 'd["origin"]')" "$U"
message "$U" d2.pem
se d2 sign --slot 0 --in msg.bin --out sig.der >/dev/null 2>"$ERR" || die "se sign: $(cat "$ERR")"
respond "response signed by the SE" 200 sig.der
assert_eq "  device and account" "$(jget 'd["device_id"]+"@"+d["account"]')" "sensor-2@acme"

section "refused: replayed challenge"
devices_before=$("$VOUCH" device list --account acme --json | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["devices"]))')
audit_before=$(n_audit)
respond "the same response again" 409 sig.der
json_error challenge_used

section "refused: signature by another key"
challenge "challenge" 200 "$B2"
message "$U" d2.pem
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
openssl dgst -sha256 -sign other.key -out sig.other msg.bin
respond "signed by another key" 401 sig.other
json_error bad_signature
respond "and the challenge is used up" 409 sig.other
json_error challenge_used

section "refused: signature over another origin"
challenge "challenge" 200 "$B2"
message "http://localhost:$PORT" d2.pem
se d2 sign --slot 0 --in msg.bin --out sig.der >/dev/null 2>"$ERR"
respond "signed over http://localhost:PORT" 401 sig.der
json_error bad_signature
run "$VOUCH" device --server "http://localhost:$PORT" auth --se "$(chip_uri d2)" --cert d2.chain.pem
rc_is 3 "vouch device auth through another origin"
check "  reason printed" grep -q "bad_signature" "$ERR"

section "refused: signature over another challenge, another certificate"
challenge "challenge" 200 "$B2"
CH_REAL=$CH
CH=$(python3 -c 'import base64;print(base64.b64encode(bytes(32)).decode())')
message "$U" d2.pem
se d2 sign --slot 0 --in msg.bin --out sig.der >/dev/null 2>"$ERR"
respond "signed over a zero challenge" 401 sig.der
json_error bad_signature
challenge "challenge" 200 "$B2"
message "$U" d3.pem # sensor-3's certificate hash, sensor-2's key
se d2 sign --slot 0 --in msg.bin --out sig.der >/dev/null 2>"$ERR"
respond "signed over another leaf hash" 401 sig.der
json_error bad_signature

section "refused: malformed answers"
challenge "challenge" 200 "$B2"
req "signature not base64" 400 "${JSON[@]}" --data-binary "{\"challenge_id\":\"$CID\",\"signature\":\"%%%\"}" "$U/v1/auth/response"
json_error malformed_signature
challenge "challenge" 200 "$B2"
printf 'raw r|s is not DER, raw r|s is not DER, raw r|s is not DER, 64 bytes!' | head -c 64 >sig.raw
respond "64 raw bytes, not DER" 400 sig.raw
json_error malformed_signature
req "unknown challenge id" 404 "${JSON[@]}" --data-binary '{"challenge_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","signature":"MAYCAQECAQE="}' "$U/v1/auth/response"
json_error unknown_challenge
req "challenge id of the wrong length" 404 "${JSON[@]}" --data-binary '{"challenge_id":"abc","signature":"MAYCAQECAQE="}' "$U/v1/auth/response"
json_error unknown_challenge
req "response without a signature" 400 "${JSON[@]}" --data-binary "{\"challenge_id\":\"$CID\"}" "$U/v1/auth/response"
json_error bad_request
req "response with an unknown member" 400 "${JSON[@]}" --data-binary '{"challenge_id":"x","signature":"y","extra":1}' "$U/v1/auth/response"
json_error bad_request

section "refused: truncated or garbage JSON and base64, oversized chains"
req "truncated JSON" 400 "${JSON[@]}" --data-binary '{"certificates": ["MII' "$U/v1/auth/challenge"
json_error bad_request
req "garbage" 400 "${JSON[@]}" --data-binary $'\x01\x02garbage' "$U/v1/auth/challenge"
json_error bad_request
req "not an object" 400 "${JSON[@]}" --data-binary '["a"]' "$U/v1/auth/challenge"
json_error bad_request
req "no certificates" 400 "${JSON[@]}" --data-binary '{"certificates": []}' "$U/v1/auth/challenge"
json_error bad_request
req "certificates not strings" 400 "${JSON[@]}" --data-binary '{"certificates": [42]}' "$U/v1/auth/challenge"
json_error bad_request
req "bad base64" 400 "${JSON[@]}" --data-binary '{"certificates": ["M!I*"]}' "$U/v1/auth/challenge"
json_error bad_request
req "base64 without padding" 400 "${JSON[@]}" --data-binary '{"certificates": ["MIIB"]}' "$U/v1/auth/challenge"
python3 -c 'import base64,json;print(json.dumps({"certificates":[base64.b64encode(b"\x30\x03\x02\x01\x01").decode()]}))' >notder.json
req "base64 of something not a certificate" 400 "${JSON[@]}" --data-binary @notder.json "$U/v1/auth/challenge"
json_error bad_certificate
python3 - "$B2" <<'PY' >five.json
import json, sys
d = json.loads(sys.argv[1]); c = d["certificates"]
d["certificates"] = (c * 5)[:5]
print(json.dumps(d))
PY
req "five certificates" 413 "${JSON[@]}" --data-binary @five.json "$U/v1/auth/challenge"
json_error chain_too_long
python3 -c 'import base64,json;print(json.dumps({"certificates":[base64.b64encode(bytes(5000)).decode()]}))' >big.json
req "a 5000-byte certificate" 413 "${JSON[@]}" --data-binary @big.json "$U/v1/auth/challenge"
json_error chain_too_long
python3 -c 'import base64,json;print(json.dumps({"certificates":[base64.b64encode(bytes(4097)).decode()]}))' >big1.json
req "a 4097-byte certificate (one over)" 413 "${JSON[@]}" --data-binary @big1.json "$U/v1/auth/challenge"
json_error chain_too_long
head -c 70000 /dev/zero | tr '\0' 'A' | python3 -c 'import json,sys;print(json.dumps({"certificates":[sys.stdin.read()]}))' >huge.json
req "a 70 KB body" 413 "${JSON[@]}" --data-binary @huge.json "$U/v1/auth/challenge"
json_error payload_too_large
req "account that is not a name" 400 "${JSON[@]}" --data-binary "$(chain_body d2.chain.pem 'a/b')" "$U/v1/auth/challenge"
json_error bad_request
req "GET on the challenge endpoint" 405 "$U/v1/auth/challenge"

section "refused: another account's family"
challenge "sensor-2 asking for account beta" 403 "$(chain_body d2.chain.pem beta)"
json_error wrong_account
challenge "sensor-2 asking for account acme" 200 "$(chain_body d2.chain.pem acme)"

section "refused: disabled device, blocked device inside the family"
run "$VOUCH" device disable --account acme sensor-2
rc_is 0 "device disable sensor-2"
challenge "disabled device" 403 "$B2"
json_error device_disabled
run "$VOUCH" device enable --account acme sensor-2
rc_is 0 "device enable sensor-2"
challenge "enabled again" 200 "$B2"
run "$VOUCH" device block --account acme sensor-2
rc_is 0 "device block sensor-2"
challenge "blocked device" 403 "$B2"
json_error device_blocked
run "$VOUCH" device auth --se "$(chip_uri d1)" --cert d1.chain.pem
rc_is 0 "its family's other device still authenticates"
# blocked ahead: sensor-3 has never authenticated
run "$VOUCH" device block --account acme sensor-3
rc_is 0 "block sensor-3 before it was ever seen"
run "$VOUCH" device get --account acme sensor-3 --json
assert_eq "  record without certificate" "$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["status"],d["presence"])' "$OUT")" "blocked no_certificate"
challenge "sensor-3 blocked ahead" 403 "$(chain_body d3.chain.pem)"
json_error device_blocked
run "$VOUCH" device auth --se "$(chip_uri d3)" --cert d3.chain.pem
rc_is 3 "vouch device auth of a blocked device exits 3"
check "  with the reason" grep -q "device_blocked" "$ERR"
run "$VOUCH" device disable --account acme nobody
rc_is 3 "disable an unknown device (404)"

section "refused: revoked certificate"
serial=$(openssl x509 -in d1.pem -noout -serial | cut -d= -f2)
run "$VOUCH" cert revoke "$serial" --reason keyCompromise
rc_is 0 "revoke sensor-1's certificate"
challenge "revoked certificate" 403 "$(chain_body d1.chain.pem)"
json_error certificate_revoked

section "nothing above changed a stored thing"
assert_eq "  devices unchanged by refusals" "$("$VOUCH" device list --account acme --json | python3 -c 'import json,sys;print(len(json.load(sys.stdin)["devices"]))')" "$((devices_before + 1))" # + sensor-3 blocked ahead
audit_after=$(n_audit)
# the admin actions in between: disable, enable, block, block ahead, revoke
assert_eq "  audit entries: only the admin actions" "$audit_after" "$((audit_before + 5))"

# ---------------------------------------------------------------------------
section "an outside CA made with openssl: enrolled, refused until verified"
cat >ext.cnf <<'EOF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout vendor.key \
    -subj "/O=Chip Vendor/CN=Vendor Family CA" -days 30 -out vendor.pem -extensions ca -config <(cat /etc/ssl/openssl.cnf ext.cnf) 2>/dev/null ||
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout vendor.key \
        -subj "/O=Chip Vendor/CN=Vendor Family CA" -days 30 -out vendor.pem -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
se_device v1 vendor-0001
openssl x509 -req -in v1.csr -CA vendor.pem -CAkey vendor.key -CAcreateserial -days 10 \
    -extfile ext.cnf -extensions leaf -out v1.pem 2>/dev/null || die "openssl x509 -req failed"
cat v1.pem vendor.pem >v1.chain.pem
BV=$(chain_body v1.chain.pem)
challenge "vendor device, family not enrolled" 403 "$BV"
json_error untrusted_certificate
run "$VOUCH" family enroll --account beta --ca-cert vendor.pem --json
rc_is 0 "family enroll the vendor CA to beta"
FID=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["id"])' "$OUT")
CODE=$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["verification_code"] if d["status"]=="pending" else "")' "$OUT")
assert_ne "  pending with a verification code" "$CODE" ""
challenge "vendor device, family pending" 403 "$BV"
json_error family_not_verified
run "$VOUCH" family enroll --account acme --ca-cert vendor.pem
rc_is 3 "the same CA for another account (409 family_exists)"
run "$VOUCH" family enroll --account acme --ca-cert v1.pem
rc_is 3 "a device certificate as a family (422 not_a_ca)"
check "  not_a_ca" grep -q "not_a_ca" "$ERR"

vcert() { # CN SIGNKEY CAFILE OUT
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$4.key" -subj "/CN=$1" -out "$4.csr" 2>/dev/null
    openssl x509 -req -in "$4.csr" -CA "$3" -CAkey "$2" -CAcreateserial -days 1 -out "$4" 2>/dev/null
}
vcert wrong-code vendor.key vendor.pem vbad.pem
run "$VOUCH" family verify --account beta "$FID" --cert vbad.pem
rc_is 3 "verify with another CN"
check "  verification_code_mismatch" grep -q "verification_code_mismatch" "$ERR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout imp.key \
    -subj "/O=Chip Vendor/CN=Vendor Family CA" -days 30 -out imp.pem 2>/dev/null
vcert "$CODE" imp.key imp.pem vimp.pem
run "$VOUCH" family verify --account beta "$FID" --cert vimp.pem
rc_is 3 "verify with a certificate signed by another key of the same name"
check "  verification_failed" grep -q "verification_failed" "$ERR"
run "$VOUCH" family verify --account acme "$FID" --cert vimp.pem
rc_is 3 "verify through another account (404 unknown_family)"
challenge "still pending after failed proofs" 403 "$BV"
json_error family_not_verified
vcert "$CODE" vendor.key vendor.pem vgood.pem
run "$VOUCH" family verify --account beta "$FID" --cert vgood.pem
rc_is 0 "verify with the code signed by the vendor key"
run "$VOUCH" family verify --account beta "$FID" --cert vgood.pem
rc_is 3 "verify twice (409)"
check "  family_already_verified" grep -q "family_already_verified" "$ERR"
run "$VOUCH" device auth --se "$(chip_uri v1)" --cert v1.chain.pem --json
rc_is 0 "the vendor device authenticates now"
assert_eq "  into beta" "$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["device_id"]+"@"+d["account"])' "$OUT")" "vendor-0001@beta"
challenge "vendor device, asking for acme" 403 "$(chain_body v1.chain.pem acme)"
json_error wrong_account

section "refused: expired certificate (outside CA, dates in the past)"
mkdir -p oca && : >oca/index.txt && echo 01 >oca/serial
cat >oca.cnf <<EOF
[ca]
default_ca = d
[d]
database = oca/index.txt
serial = oca/serial
new_certs_dir = oca
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
EOF
se_device v2 vendor-0002
openssl ca -batch -config oca.cnf -cert vendor.pem -keyfile vendor.key -in v2.csr \
    -startdate 20200101000000Z -enddate 20200201000000Z -out v2.pem 2>"$ERR" >/dev/null || die "openssl ca: $(cat "$ERR")"
cat v2.pem vendor.pem >v2.chain.pem
challenge "expired device certificate" 403 "$(chain_body v2.chain.pem)"
json_error certificate_expired

section "individual enrollment: an openssl key and certificate, openssl signs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout solo.key \
    -subj "/CN=solo-1" -days 5 -out solo.pem 2>/dev/null
BS=$(chain_body solo.pem)
challenge "not enrolled yet" 403 "$BS"
json_error untrusted_certificate
run "$VOUCH" device enroll --account acme --cert solo.pem --json
rc_is 0 "device enroll solo-1"
run "$VOUCH" device enroll --account acme --cert solo.pem
rc_is 3 "enroll the same certificate again (409 certificate_enrolled)"
check "  certificate_enrolled" grep -q "certificate_enrolled" "$ERR"
run "$VOUCH" device enroll --account acme --device-id solo-1
rc_is 3 "enroll the same id again (409 device_exists)"
openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -subj "/CN=ed-1" -days 5 -out ed.pem 2>/dev/null
run "$VOUCH" device enroll --account acme --cert ed.pem
rc_is 3 "enroll an Ed25519 certificate (422 unsupported_key)"
challenge "enrolled now" 200 "$BS"
message "$U" solo.pem
openssl dgst -sha256 -sign solo.key -out sig.solo msg.bin
respond "response signed by openssl" 200 sig.solo
assert_eq "  solo-1 of acme" "$(jget 'd["device_id"]+"@"+d["account"]')" "solo-1@acme"
challenge "an Ed25519 device certificate" 400 "$(chain_body ed.pem)"
json_error unsupported_key

section "refused: expired challenge (a second vouchd with --challenge-ttl 1)"
vd_stop
PORT2=$(free_port)
vd_start "$IT_TMP/vd2.log" --data "$CA" --listen "127.0.0.1:$PORT2" --public-url "$U" --threads 1 --challenge-ttl 1
U1=$U
U=http://127.0.0.1:$PORT2
challenge "challenge" 200 "$BS"
message "$U1" solo.pem
openssl dgst -sha256 -sign solo.key -out sig.solo msg.bin
sleep 2.2
respond "answered after it expired" 410 sig.solo
json_error challenge_expired

section "sessions"
req "GET /v1/session without a token" 401 "$U/v1/session"
json_error invalid_session
req "GET /v1/session with an admin token" 401 "${AUTH[@]}" "$U/v1/session"
json_error invalid_session
req "GET /v1/session with a forged token" 401 -H "Authorization: Bearer vs1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$U/v1/session"
json_error invalid_session
req "sensor-1's token still names it (another vouchd, same master key)" 200 -H "Authorization: Bearer $(cat d1.token)" "$U/v1/session"
run "$VOUCH" device --server "$U" disable --account acme sensor-1
rc_is 0 "disable sensor-1"
req "a disabled device's token is refused" 401 -H "Authorization: Bearer $(cat d1.token)" "$U/v1/session"
json_error invalid_session
req "accounts need the admin token" 401 "$U/v1/accounts"

vd_stop
assert_eq "vouchd exits 0" "$VD_RC" 0
run "$VOUCH" audit --data "$CA" verify
rc_is 0 "the audit chain verifies"
it_done
