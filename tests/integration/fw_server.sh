#!/usr/bin/env bash
# Firmware on vouchd (docs/api.md, "Firmware"), against a real vouchd,
# real vouch-se devices, images signed by `vouch fw sign`, curl and the
# vouch CLI:
#   - firmware keys: added, listed, retired; every refusal;
#   - releases: an upload is verified against the account's keys; a
#     tampered, wrong-key, garbage, truncated, padded, empty, duplicate or
#     oversized image is refused with its own code, and changes nothing;
#   - campaigns by device list and by family; the devices authenticate
#     with `vouch device auth --token-out` and ask for updates with their
#     session token; the image is downloaded whole and by ranges (a resumed
#     download included) and compared byte for byte; 416; a device not
#     targeted gets 204 and 403; progress reports; `vouch fw campaign
#     status --json` counts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
command -v python3 >/dev/null || die "python3 is missing"
CURL_MAX=60

rc_is() { _expect_check "$@"; } # WANT DESC, after run
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n_audit() { "$VOUCH" audit --data "$CA" verify --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["entries"])'; }
jf() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" 2>/dev/null || echo "<not json>"; }

# ---------------------------------------------------------------------------
section "setup: CA, vouchd, accounts, our issuing CA as acme's family"
"$VOUCH" ca init --data "$CA" --org "FW Test" >/dev/null 2>"$ERR" || die "ca init: $(cat "$ERR")"
chmod 600 "$CA/admin.token"
PORT=$(free_port)
U=http://127.0.0.1:$PORT
vd_start "$IT_TMP/vd.log" --data "$CA" --listen "127.0.0.1:$PORT" --public-url "$U" --threads 2
export VOUCH_SERVER=$U VOUCH_TOKEN_FILE=$CA/admin.token
JSON=(-H "Content-Type: application/json")
BIN=(-H "Content-Type: application/octet-stream")
AUTH=(-H "Authorization: Bearer $(tr -d '\n' <"$CA/admin.token")")
"$VOUCH" account create acme >/dev/null 2>"$ERR" || die "account create: $(cat "$ERR")"
"$VOUCH" account create beta >/dev/null 2>"$ERR" || die "account create: $(cat "$ERR")"
curl -sS "$U/ca/default.crt" | openssl x509 -inform der -out default.pem
"$VOUCH" family enroll --account acme --ca-cert default.pem --json >fam.json 2>"$ERR" || die "family enroll: $(cat "$ERR")"
FID=$(python3 -c 'import json;print(json.load(open("fam.json"))["id"])')
FCN=$(openssl x509 -in default.pem -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[ -n "$FCN" ] || die "no CN in the issuing CA"

# device SEs: key in slot 0, certificate from our CA, so the family vouches for them
se_device() { # NAME CN -> NAME.chain.pem
    chip_new "$1"
    chip_start "$1"
    se "$1" keygen --slot 0 --alg p256 >/dev/null 2>"$ERR" || die "keygen $1: $(cat "$ERR")"
    se "$1" csr --slot 0 --subject "/CN=$2" --out "$1.csr" >/dev/null 2>"$ERR" || die "csr $1: $(cat "$ERR")"
    "$VOUCH" cert issue --csr "$1.csr" --template device --out "$1.pem" --chain-out "$1.ca.pem" >/dev/null 2>"$ERR" ||
        die "issue $1: $(cat "$ERR")"
    cat "$1.pem" "$1.ca.pem" >"$1.chain.pem"
}
login() { # NAME: a fresh session token in NAME.token
    "$VOUCH" device auth --se "$(chip_uri "$1")" --cert "$1.chain.pem" --token-out "$1.token" >/dev/null 2>"$ERR" ||
        die "device auth $1: $(cat "$ERR")"
}
se_device d1 sensor-1
se_device d2 sensor-2
se_device d3 sensor-3
login d1
login d2
login d3
S1=(-H "Authorization: Bearer $(cat d1.token)")
S2=(-H "Authorization: Bearer $(cat d2.token)")
S3=(-H "Authorization: Bearer $(cat d3.token)")

# signing keys and images
"$VOUCH" fw keygen --out k1.pem --pubout k1.pub.pem >/dev/null 2>"$ERR" || die "keygen: $(cat "$ERR")"
"$VOUCH" fw keygen --out k2.pem --pubout k2.pub.pem >/dev/null 2>"$ERR" || die "keygen: $(cat "$ERR")"
"$VOUCH" fw keygen --alg ed25519 --out ke.pem --pubout ke.pub.pem >/dev/null 2>"$ERR" || die "keygen: $(cat "$ERR")"
head -c 700000 /dev/urandom >app1.bin # several of the server's 256 KiB chunks
head -c 5000 /dev/urandom >app2.bin
head -c 3000 /dev/urandom >app3.bin
sign() { # KEY VERSION SECCNT IN OUT
    "$VOUCH" fw sign --key "$1" --version "$2" --security-counter "$3" --in "$4" --out "$5" >/dev/null 2>"$ERR" ||
        die "fw sign $5: $(cat "$ERR")"
}
sign k1.pem 1.0.0 1 app1.bin app1.img
sign k1.pem 1.1.0 2 app2.bin app2.img
sign ke.pem 1.2.0 2 app3.bin app3.img
sign k2.pem 9.9.9 9 app2.bin wrongkey.img
SIZE1=$(stat -c %s app1.img)
SHA1=$(sha256sum app1.img | cut -d' ' -f1)

# ---------------------------------------------------------------------------
section "firmware keys"
run "$VOUCH" fw key add --account acme --name release-2026 --pubkey k1.pub.pem --json
rc_is 0 "fw key add release-2026"
assert_eq "  p256, active" "$(jf 'd["alg"]+"/"+d["status"]')" "p256/active"
KH1=$(jf 'd["key_hash"]')
"$VOUCH" fw info app1.img >info.txt 2>&1 || true
assert_grep "  the key hash is the one fw sign put in the image" "key hash +$KH1" info.txt
audit0=$(n_audit)
run "$VOUCH" fw key add --account acme --name release-2026 --pubkey k2.pub.pem
rc_is 3 "the same name again (409)"
check "  key_exists" grep -q key_exists "$ERR"
run "$VOUCH" fw key add --account acme --name other --pubkey k1.pub.pem
rc_is 3 "the same key under another name (409)"
check "  names the first" grep -q "release-2026" "$ERR"
run "$VOUCH" fw key add --account acme --name priv --pubkey k1.pem
rc_is 5 "a private key file is refused before sending it"
check "  says to give the public half" grep -q "pubout" "$ERR"
printf 'not a key\n' >junk.pem
run "$VOUCH" fw key add --account acme --name junk --pubkey junk.pem
rc_is 5 "a file that is no key"
run "$VOUCH" fw key add --account acme --name "bad name" --pubkey k1.pub.pem
rc_is 2 "a key name with a space (usage)"
run "$VOUCH" fw key add --account acme --pubkey k1.pub.pem
rc_is 2 "no --name"
run "$VOUCH" fw key add --account nobody --name k --pubkey k2.pub.pem
rc_is 3 "an unknown account (404)"
check "  unknown_account" grep -q unknown_account "$ERR"
kbody() { python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "public_key": open(sys.argv[2]).read()}))' "$1" "$2"; }
req "public_key that is not PEM" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"name":"x","public_key":"hello"}' "$U/v1/accounts/acme/firmware-keys"
json_error bad_public_key
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout -out rsa.pub.pem 2>/dev/null
req "an RSA key" 422 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(kbody rsa rsa.pub.pem)" "$U/v1/accounts/acme/firmware-keys"
json_error unsupported_key
openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null | openssl pkey -pubout -out p384.pub.pem 2>/dev/null
req "a P-384 key" 422 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(kbody p384 p384.pub.pem)" "$U/v1/accounts/acme/firmware-keys"
json_error unsupported_key
req "an unknown member" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"name":"x","public_key":"y","alg":"p256"}' "$U/v1/accounts/acme/firmware-keys"
json_error bad_request
req "a name with a slash" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(kbody a/b k2.pub.pem)" "$U/v1/accounts/acme/firmware-keys"
json_error bad_request
req "without the admin token" 401 "${JSON[@]}" --data-binary "$(kbody k k2.pub.pem)" "$U/v1/accounts/acme/firmware-keys"
req "with a device's session token" 401 "${S1[@]}" "$U/v1/accounts/acme/firmware-keys"
head -c 70000 /dev/zero | tr '\0' a >big.json
req "a 70 KB JSON body (the JSON routes keep their 64 KiB limit)" 413 "${AUTH[@]}" "${JSON[@]}" --data-binary @big.json "$U/v1/accounts/acme/firmware-keys"
json_error payload_too_large
req "PUT on the keys" 405 -X PUT "${AUTH[@]}" "$U/v1/accounts/acme/firmware-keys"
json_error method_not_allowed
assert_eq "  no refusal was audited" "$(n_audit)" "$audit0"
req "an Ed25519 key (curl)" 201 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(kbody ed-2026 ke.pub.pem)" "$U/v1/accounts/acme/firmware-keys"
assert_eq "  ed25519" "$(jget 'd["alg"]')" "ed25519"
run "$VOUCH" fw key list --account acme --json
rc_is 0 "fw key list --json"
assert_eq "  two keys" "$(jf '[k["name"] for k in d["keys"]]')" "['release-2026', 'ed-2026']"
run "$VOUCH" fw key list --account acme
rc_is 0 "fw key list (table)"
check "  names both" grep -q "ed-2026" "$OUT"
req "GET one key" 200 "${AUTH[@]}" "$U/v1/accounts/acme/firmware-keys/release-2026"
req "GET an unknown key" 404 "${AUTH[@]}" "$U/v1/accounts/acme/firmware-keys/nope"
json_error unknown_key

# ---------------------------------------------------------------------------
section "releases: uploads verified against the account's keys"
run "$VOUCH" fw release upload app1.img --account acme --json
rc_is 0 "fw release upload app1.img"
R1=$(jf 'd["id"]')
assert_eq "  version, counter, size, key" "$(jf 'd["version"]+"/"+str(d["security_counter"])+"/"+str(d["size"])+"/"+d["key"]')" "1.0.0/1/$SIZE1/release-2026"
assert_eq "  sha256 of the file" "$(jf 'd["sha256"]')" "$SHA1"
audit1=$(n_audit)
upload() { # DESC STATUS FILE [ACCOUNT]
    req "$1" "$2" "${AUTH[@]}" "${BIN[@]}" --data-binary "@$3" "$U/v1/accounts/${4:-acme}/releases"
}
cp app1.img tampered.img
python3 - <<'PY'
b = bytearray(open("tampered.img", "rb").read())
b[1000] ^= 0x01 # one payload bit
open("tampered.img", "wb").write(b)
PY
upload "a tampered image (one payload bit)" 422 tampered.img
json_error bad_signature
cp app2.img badsig.img
python3 - <<'PY'
b = bytearray(open("badsig.img", "rb").read())
b[-5] ^= 0x01 # inside the signature TLV, at the end
open("badsig.img", "wb").write(b)
PY
upload "a damaged signature" "422" badsig.img
check "  bad_signature or image_invalid" grep -Eq '"(bad_signature)"' "$OUT"
upload "signed by a key the account does not have" 422 wrongkey.img
json_error unknown_key
head -c 4000 /dev/urandom >garbage.img
upload "garbage" 400 garbage.img
json_error image_invalid
check "  says why (fw strerror)" grep -qi "magic" "$OUT"
head -c 3000 app2.img >truncated.img
upload "a truncated image" 400 truncated.img
json_error image_invalid
cat app2.img app3.bin >padded.img
upload "an image with bytes after its TLVs" 400 padded.img
json_error image_invalid
: >empty.img
upload "an empty body" 400 empty.img
json_error image_invalid
upload "the same image again" 409 app1.img
json_error duplicate
check "  names the release" grep -q "release $R1" "$OUT"
upload "to beta, which has no keys" 422 app1.img beta
json_error unknown_key
upload "to an unknown account" 404 app1.img nobody
json_error unknown_account
head -c $((32 * 1024 * 1024 + 1)) /dev/zero >huge.img
upload "32 MiB + 1 byte" 413 huge.img
json_error payload_too_large
run "$VOUCH" fw release upload huge.img --account acme
rc_is 5 "the CLI refuses a file over 32 MiB itself"
req "without the admin token" 401 "${BIN[@]}" --data-binary @app2.img "$U/v1/accounts/acme/releases"
run "$VOUCH" fw release upload tampered.img --account acme
rc_is 3 "fw release upload of the tampered image"
check "  bad_signature printed" grep -q bad_signature "$ERR"
run "$VOUCH" fw release upload wrongkey.img --account acme
rc_is 3 "fw release upload signed by an unknown key"
check "  with a hint" grep -q "fw key add" "$ERR"
run "$VOUCH" fw release upload missing.img --account acme
rc_is 5 "fw release upload of a missing file"
assert_eq "  no refused upload changed anything (audit)" "$(n_audit)" "$audit1"
run "$VOUCH" fw key retire release-2026 --account acme
rc_is 0 "fw key retire release-2026"
upload "signed by a retired key" 422 app2.img
json_error key_retired
run "$VOUCH" fw key activate release-2026 --account acme
rc_is 0 "fw key activate release-2026"
upload "after activation" 201 app2.img
R2=$(jget 'd["id"]')
assert_grep "  Location of the release" "^location: /v1/accounts/acme/releases/$R2" "$HDR"
upload "an Ed25519-signed image" 201 app3.img
R3=$(jget 'd["id"]')
assert_eq "  signed by ed-2026" "$(jget 'd["key"]')" "ed-2026"
run "$VOUCH" fw release list --account acme --json
rc_is 0 "fw release list --json"
assert_eq "  three releases" "$(jf '[r["version"] for r in d["releases"]]')" "['1.0.0', '1.1.0', '1.2.0']"
run "$VOUCH" fw release get "$R1" --account acme
rc_is 0 "fw release get"
check "  shows the sha256" grep -q "$SHA1" "$OUT"
run "$VOUCH" fw release get "$R1" --account beta
rc_is 3 "another account's release (404)"
check "  unknown_release" grep -q unknown_release "$ERR"
run "$VOUCH" fw release get 0 --account acme
rc_is 2 "release id 0 (usage)"
req "GET a release id that is not a number" 404 "${AUTH[@]}" "$U/v1/accounts/acme/releases/abc"
json_error unknown_release
req "a path under a release" 404 "${AUTH[@]}" "$U/v1/accounts/acme/releases/$R1/image"

# ---------------------------------------------------------------------------
section "campaigns: refusals"
camp() { # DESC STATUS JSON
    req "$1" "$2" "${AUTH[@]}" "${JSON[@]}" --data-binary "$3" "$U/v1/accounts/acme/campaigns"
}
audit2=$(n_audit)
camp "an unknown release" 404 '{"release": 999, "target": {"all": true}}'
json_error unknown_release
camp "release 0" 400 '{"release": 0, "target": {"all": true}}'
json_error bad_request
camp "release as a string" 400 "{\"release\": \"$R1\", \"target\": {\"all\": true}}"
json_error bad_request
camp "no target" 400 "{\"release\": $R1}"
json_error bad_request
camp "two targets" 400 "{\"release\": $R1, \"target\": {\"all\": true, \"family\": $FID}}"
json_error bad_request
camp "all: false" 400 "{\"release\": $R1, \"target\": {\"all\": false}}"
json_error bad_request
camp "an unknown target kind" 400 "{\"release\": $R1, \"target\": {\"group\": 1}}"
json_error bad_request
camp "an unknown family" 404 "{\"release\": $R1, \"target\": {\"family\": 999}}"
json_error unknown_family
camp "a family CN no family has" 404 "{\"release\": $R1, \"target\": {\"family\": \"meters\"}}"
json_error unknown_family
camp "an unknown device" 404 "{\"release\": $R1, \"target\": {\"devices\": [\"sensor-1\", \"ghost\"]}}"
json_error unknown_device
camp "no devices" 400 "{\"release\": $R1, \"target\": {\"devices\": []}}"
json_error bad_request
camp "a device id that cannot be one" 400 "{\"release\": $R1, \"target\": {\"devices\": [\"a/b\"]}}"
json_error bad_request
camp "an unknown member" 400 "{\"release\": $R1, \"target\": {\"all\": true}, \"when\": 1}"
json_error bad_request
camp "status finished at creation" 400 "{\"release\": $R1, \"target\": {\"all\": true}, \"status\": \"finished\"}"
json_error bad_request
req "beta campaigning acme's release" 404 "${AUTH[@]}" "${JSON[@]}" --data-binary "{\"release\": $R1, \"target\": {\"all\": true}}" "$U/v1/accounts/beta/campaigns"
json_error unknown_release
run "$VOUCH" fw campaign create --account acme --release "$R1" --all --devices sensor-1
rc_is 2 "two targets on the command line"
run "$VOUCH" fw campaign create --account acme --release "$R1"
rc_is 2 "no target on the command line"
run "$VOUCH" fw campaign create --account acme --release "$R1" --devices "sensor-1,,x"
rc_is 2 "an empty device id in --devices"
assert_eq "  nothing was created (audit)" "$(n_audit)" "$audit2"

section "campaign 1: release 1 to sensor-1 and sensor-2"
run "$VOUCH" fw campaign create --account acme --release "$R1" --devices sensor-1,sensor-2 --json
rc_is 0 "fw campaign create --devices sensor-1,sensor-2"
C1=$(jf 'd["id"]')
assert_eq "  target, status, pending" "$(jf 'str(sorted(d["target"]["devices"]))+"/"+d["status"]+"/"+str(d["counts"]["pending"])')" "['sensor-1', 'sensor-2']/active/2"

upd() { # DESC STATUS SESSION-ARRAY-NAME QUERY
    local -n s=$3
    req "$1" "$2" "${s[@]}" "$U/v1/device/update?$4"
}
upd "sensor-3 is not targeted: nothing to do" 204 S3 "current=0.9.0"
check "  no body" test ! -s "$OUT"
req "sensor-3 cannot download release 1" 403 "${S3[@]}" "$U/v1/device/releases/$R1/image"
json_error not_targeted
req "sensor-3 cannot report in campaign 1" 403 "${S3[@]}" "${JSON[@]}" --data-binary "{\"campaign\": $C1, \"state\": \"downloading\"}" "$U/v1/device/update/status"
json_error not_targeted
upd "sensor-1 asks" 200 S1 "current=0.9.0&security_counter=0"
assert_eq "  the offer" "$(jget 'str(d["campaign"])+"/"+str(d["release"])+"/"+d["version"]+"/"+str(d["security_counter"])+"/"+str(d["size"])')" "$C1/$R1/1.0.0/1/$SIZE1"
assert_eq "  sha256" "$(jget 'd["sha256"]')" "$SHA1"
URL=$(jget 'd["url"]')
assert_eq "  url" "$URL" "/v1/device/releases/$R1/image"

section "downloads: whole, ranges, a resumed download, 416"
IMG="$U$URL"
req "the whole image" 200 "${S1[@]}" "$IMG"
assert_same_file "  the same bytes as app1.img" "$OUT" app1.img
assert_grep "  Content-Length" "^content-length: $SIZE1" "$HDR"
assert_grep "  Accept-Ranges: bytes" "^accept-ranges: bytes" "$HDR"
assert_grep "  ETag is the SHA-256" "^etag: \"$SHA1\"" "$HDR"
assert_grep "  octet-stream" "^content-type: application/octet-stream" "$HDR"
req "HEAD" 200 -I "${S1[@]}" "$IMG"
assert_grep "  HEAD has the length" "^content-length: $SIZE1" "$HDR"
req "bytes 0-99" 206 "${S1[@]}" -r 0-99 "$IMG"
assert_grep "  Content-Range" "^content-range: bytes 0-99/$SIZE1" "$HDR"
head -c 100 app1.img >want.bin
assert_same_file "  the first 100 bytes" "$OUT" want.bin
H=$((SIZE1 / 2 + 12345))
req "first part of a download (0..H-1, crosses chunks)" 206 "${S1[@]}" -r "0-$((H - 1))" "$IMG"
cp "$OUT" part1.bin
assert_size "  H bytes" part1.bin "$H"
req "resumed from H (curl -r H-)" 206 "${S1[@]}" -r "$H-" "$IMG"
assert_grep "  Content-Range to the end" "^content-range: bytes $H-$((SIZE1 - 1))/$SIZE1" "$HDR"
cat part1.bin "$OUT" >resumed.bin
assert_same_file "  both parts make the image" resumed.bin app1.img
cp part1.bin cont.bin
curl -sS --max-time 30 "${S1[@]}" -o cont.bin -C - "$IMG" 2>"$ERR" || true
assert_same_file "curl -C - continues a partial file to the image" cont.bin app1.img
req "the last 100 bytes (bytes=-100)" 206 "${S1[@]}" -H "Range: bytes=-100" "$IMG"
tail -c 100 app1.img >want.bin
assert_same_file "  the last 100 bytes" "$OUT" want.bin
req "one byte, the last" 206 "${S1[@]}" -r "$((SIZE1 - 1))-$((SIZE1 - 1))" "$IMG"
assert_size "  one byte" "$OUT" 1
req "a range past the end is cut to the end" 206 "${S1[@]}" -r "$((SIZE1 - 10))-99999999999999999999999" "$IMG"
assert_size "  ten bytes" "$OUT" 10
req "from the size on: 416" 416 "${S1[@]}" -r "$SIZE1-" "$IMG"
assert_grep "  Content-Range: bytes */SIZE" "^content-range: bytes \*/$SIZE1" "$HDR"
json_error range_not_satisfiable
req "last before first: 416" 416 "${S1[@]}" -H "Range: bytes=9-3" "$IMG"
req "a sign: 416" 416 "${S1[@]}" -H "Range: bytes=+1-3" "$IMG"
req "spaces: 416" 416 "${S1[@]}" -H "Range: bytes=1 -3" "$IMG"
req "hex: 416" 416 "${S1[@]}" -H "Range: bytes=0x10-" "$IMG"
req "nothing after bytes=: 416" 416 "${S1[@]}" -H "Range: bytes=" "$IMG"
req "bytes=-0: 416" 416 "${S1[@]}" -H "Range: bytes=-0" "$IMG"
req "a 30-digit first byte: 416, no overflow" 416 "${S1[@]}" -H "Range: bytes=184467440737095516160000000000-" "$IMG"
req "two ranges: the whole image (documented)" 200 "${S1[@]}" -H "Range: bytes=0-9,20-29" "$IMG"
assert_same_file "  whole" "$OUT" app1.img
req "another unit: ignored" 200 "${S1[@]}" -H "Range: items=0-9" "$IMG"
req "If-Range with another ETag: the whole image" 200 "${S1[@]}" -r 0-9 -H 'If-Range: "00"' "$IMG"
req "If-Range with the ETag: the range" 206 "${S1[@]}" -r 0-9 -H "If-Range: \"$SHA1\"" "$IMG"
req "release 2 is not offered to sensor-1 yet" 403 "${S1[@]}" "$U/v1/device/releases/$R2/image"
json_error not_targeted
req "no session token" 401 "$IMG"
json_error invalid_session
req "the admin token" 401 "${AUTH[@]}" "$IMG"
json_error invalid_session
req "a forged session token" 401 -H "Authorization: Bearer vs1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$IMG"
json_error invalid_session
req "an unknown release" 403 "${S1[@]}" "$U/v1/device/releases/99999/image"
json_error not_targeted
req "a release id that is no number" 403 "${S1[@]}" "$U/v1/device/releases/x1/image"
req "another path under a release" 404 "${S1[@]}" "$U/v1/device/releases/$R1/other"
req "POST on an image" 405 -X POST "${S1[@]}" "$IMG"

section "progress reports"
status() { # DESC STATUS SESSION-ARRAY-NAME JSON
    local -n s=$3
    req "$1" "$2" "${s[@]}" "${JSON[@]}" --data-binary "$4" "$U/v1/device/update/status"
}
for st in downloading installed testing confirmed; do
    status "sensor-1: $st" 204 S1 "{\"campaign\": $C1, \"state\": \"$st\", \"detail\": \"step $st\"}"
done
status "an unknown state" 400 S1 "{\"campaign\": $C1, \"state\": \"done\"}"
json_error bad_request
status "pending is not a report" 400 S1 "{\"campaign\": $C1, \"state\": \"pending\"}"
json_error bad_request
status "a 201-byte detail" 400 S1 "{\"campaign\": $C1, \"state\": \"failed\", \"detail\": \"$(head -c 201 /dev/zero | tr '\0' x)\"}"
json_error bad_request
status "campaign as a string" 400 S1 "{\"campaign\": \"$C1\", \"state\": \"failed\"}"
json_error bad_request
status "an unknown member" 400 S1 "{\"campaign\": $C1, \"state\": \"failed\", \"version\": \"1\"}"
json_error bad_request
status "an unknown campaign" 404 S1 '{"campaign": 9999, "state": "failed"}'
json_error unknown_campaign
status "not JSON" 400 S1 'state=failed'
json_error bad_request
req "no session token" 401 "${JSON[@]}" --data-binary "{\"campaign\": $C1, \"state\": \"failed\"}" "$U/v1/device/update/status"
json_error invalid_session
req "GET on the status" 405 "${S1[@]}" "$U/v1/device/update/status"
upd "sensor-1 confirmed: nothing more" 204 S1 "current=0.9.0"
upd "sensor-2 runs 1.0.0 already: nothing" 204 S2 "current=1.0.0"
upd "sensor-2 with a security counter above the release's: nothing" 204 S2 "current=0.9.0&security_counter=5"
upd "sensor-2 on 0.9.0: offered" 200 S2 "current=0.9.0&security_counter=1"
status "sensor-2: failed (last writer wins)" 204 S2 "{\"campaign\": $C1, \"state\": \"downloading\"}"
status "sensor-2: failed" 204 S2 "{\"campaign\": $C1, \"state\": \"failed\", \"detail\": \"flash write error\"}"
upd "failed is no end: offered again" 200 S2 "current=0.9.0"
upd "no current version" 400 S2 "security_counter=1"
json_error bad_request
upd "a version that is none" 400 S2 "current=1.x"
upd "a security counter over 32 bits" 400 S2 "current=0.9.0&security_counter=4294967296"
upd "a negative security counter" 400 S2 "current=0.9.0&security_counter=-1"
upd "an unknown parameter" 400 S2 "current=0.9.0&channel=beta"
upd "current twice" 400 S2 "current=0.9.0&current=1.0.0"
req "no session token" 401 "$U/v1/device/update?current=0.9.0"
json_error invalid_session
run "$VOUCH" fw campaign status "$C1" --account acme --json
rc_is 0 "fw campaign status --json"
assert_eq "  counts" "$(jf 'str(d["targeted"])+" "+" ".join(k+"="+str(v) for k,v in sorted(d["counts"].items()))')" \
    "2 confirmed=1 downloading=0 failed=1 installed=0 pending=0 rejected=0 reverted=0 testing=0"
assert_eq "  devices, states, what they run" "$(jf '[(x["device"],x["state"],x["detail"],x["version"]) for x in d["devices"]]')" \
    "[('sensor-1', 'confirmed', 'step confirmed', '0.9.0'), ('sensor-2', 'failed', 'flash write error', '0.9.0')]"
run "$VOUCH" fw campaign status "$C1" --account acme
rc_is 0 "fw campaign status (text)"
check "  a line per device" grep -q "flash write error" "$OUT"
run "$VOUCH" fw campaign status "$C1" --account beta
rc_is 3 "another account's campaign (404)"
check "  unknown_campaign" grep -q unknown_campaign "$ERR"

section "campaign 2: release 2 to the family, by its CA's CN"
run "$VOUCH" fw campaign create --account acme --release "$R2" --family "$FCN" --json
rc_is 0 "fw campaign create --family '$FCN'"
C2=$(jf 'd["id"]')
assert_eq "  the family's id, three devices" "$(jf 'str(d["target"]["family"])+"/"+str(d["targeted"])')" "$FID/3"
upd "sensor-3 now gets release 2" 200 S3 "current=0.9.0"
assert_eq "  campaign 2, release 2" "$(jget 'str(d["campaign"])+"/"+str(d["release"])')" "$C2/$R2"
req "sensor-3 downloads release 2 (one piece)" 200 "${S3[@]}" "$U/v1/device/releases/$R2/image"
assert_same_file "  the same bytes as app2.img" "$OUT" app2.img
req "sensor-3 by range" 206 "${S3[@]}" -r 100-199 "$U/v1/device/releases/$R2/image"
tail -c +101 app2.img | head -c 100 >want.bin
assert_same_file "  bytes 100-199" "$OUT" want.bin
upd "sensor-1 after its update to 1.0.0: release 2" 200 S1 "current=1.0.0&security_counter=1"
assert_eq "  campaign 2" "$(jget 'd["campaign"]')" "$C2"
status "sensor-3 rejects it" 204 S3 "{\"campaign\": $C2, \"state\": \"rejected\", \"detail\": \"signature\"}"
upd "rejected: no more offers of it" 204 S3 "current=0.9.0"
run "$VOUCH" fw campaign pause "$C2" --account acme
rc_is 0 "fw campaign pause"
upd "paused: sensor-1 gets nothing" 204 S1 "current=1.0.0"
req "paused: no download of release 2" 403 "${S1[@]}" "$U/v1/device/releases/$R2/image"
run "$VOUCH" fw campaign resume "$C2" --account acme
rc_is 0 "fw campaign resume"
upd "resumed: offered again" 200 S1 "current=1.0.0"
run "$VOUCH" fw campaign finish "$C2" --account acme
rc_is 0 "fw campaign finish"
upd "finished: nothing" 204 S1 "current=1.0.0"
run "$VOUCH" fw campaign resume "$C2" --account acme
rc_is 3 "a finished campaign is not resumed (409)"
check "  campaign_finished" grep -q campaign_finished "$ERR"
req "an unknown campaign action" 404 -X POST "${AUTH[@]}" "$U/v1/accounts/acme/campaigns/$C2/restart"
req "GET on an action" 405 "${AUTH[@]}" "$U/v1/accounts/acme/campaigns/$C2/pause"
run "$VOUCH" fw campaign status "$C2" --account acme --json
rc_is 0 "fw campaign status of campaign 2"
assert_eq "  finished; rejected 1, pending 2" "$(jf 'd["status"]+" "+str(d["counts"]["rejected"])+" "+str(d["counts"]["pending"])')" "finished 1 2"
run "$VOUCH" fw campaign list --account acme --json
rc_is 0 "fw campaign list --json"
assert_eq "  both, with their targets" "$(jf '[(c["id"],c["status"],list(c["target"])[0]) for c in d["campaigns"]]')" "[($C1, 'active', 'devices'), ($C2, 'finished', 'family')]"

section "the device library (vouch/client.h) through fw_client"
FWC=${VOUCH_FW_CLIENT:-$(dirname "$VOUCH_BIN")/tests/fw_client}
if [ -x "$FWC" ]; then
    # a campaign for sensor-3 alone: release 1 (the large, streamed one)
    camp "release 1 to sensor-3" 201 "{\"release\": $R1, \"target\": {\"devices\": [\"sensor-3\"]}}"
    C4=$(jget 'd["id"]')
    run "$FWC" "$U" d3.token check 0.9.0 0
    rc_is 0 "vouch_device_update_check: an offer"
    read -r oc orl over osec osize osha ourl <"$OUT"
    assert_eq "  campaign, release, version, size, sha256, url" "$oc $orl $over $osec $osize $osha $ourl" \
        "$C4 $R1 1.0.0 1 $SIZE1 $SHA1 /v1/device/releases/$R1/image"
    run "$FWC" "$U" d3.token report "$C4" downloading
    rc_is 0 "vouch_device_update_report: downloading"
    rm -f lib.img
    run "$FWC" "$U" d3.token get "$ourl" lib.img 100000 "$SHA1" 250000
    rc_is 0 "vouch_device_image_get_range: 100 KB ranges, interrupted after 300 KB"
    assert_size "  300000 bytes so far" lib.img 300000
    run "$FWC" "$U" d3.token get "$ourl" lib.img 65536 "$SHA1"
    rc_is 0 "resumed from the file's size, 64 KiB ranges, to the end"
    assert_same_file "  the image, byte for byte" lib.img app1.img
    run "$FWC" "$U" d3.token get "$ourl" lib.img 4096 "$SHA1"
    rc_is 0 "asked from the end: complete, nothing more (416 read as done)"
    assert_eq "  says so" "$(cat "$OUT")" "got $SIZE1 of $SIZE1"
    rm -f one.img
    run "$FWC" "$U" d3.token get "$ourl" one.img 40000000 "$SHA1"
    rc_is 0 "one range larger than the image"
    assert_same_file "  the image" one.img app1.img
    rm -f bad.img
    run "$FWC" "$U" d3.token get "$ourl" bad.img 1000 "$(sha256sum app2.img | cut -d' ' -f1)"
    rc_is 4 "an ETag that is not the offer's SHA-256 is refused"
    check "  nothing written" test ! -s bad.img
    run "$FWC" "$U" d3.token get "/v1/device/releases/$R2/image" bad.img 1000
    rc_is 3 "a release not offered to it (403)"
    check "  not_targeted" grep -q not_targeted "$ERR"
    run "$FWC" "$U" d3.token get "http://evil.example/x" bad.img 1000
    rc_is 2 "an image URL that is not the API's is refused before any request"
    run "$FWC" "$U" d3.token get "/v1/device/releases/../../v1/accounts" bad.img 1000
    rc_is 2 "nor one with .."
    run "$FWC" "$U" d3.token report "$C4" confirmed "booted 1.0.0"
    rc_is 0 "vouch_device_update_report: confirmed"
    run "$FWC" "$U" d3.token report "$C4" done
    rc_is 2 "an unknown state, refused by the library"
    run "$FWC" "$U" d3.token report "$C1" failed
    rc_is 3 "a campaign that does not target it (403)"
    run "$FWC" "$U" d3.token check 0.9.0 0
    rc_is 10 "after confirming: nothing offered"
    run "$FWC" "$U" d3.token check "1.0.0;x" 0
    rc_is 2 "a version that is none, refused by the library"
    echo "vs1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" >forged.token
    run "$FWC" "$U" forged.token check 0.9.0 0
    rc_is 3 "a forged session token (401)"
    check "  invalid_session" grep -q invalid_session "$ERR"
    run "$FWC" "http://127.0.0.1:1" d3.token check 0.9.0 0
    rc_is 4 "no server there"
    run "$VOUCH" fw campaign status "$C4" --account acme --json
    rc_is 0 "campaign status after the library's reports"
    assert_eq "  confirmed 1, version 0.9.0 as reported" "$(jf 'str(d["counts"]["confirmed"])+" "+d["devices"][0]["version"]+" "+d["devices"][0]["detail"]')" "1 0.9.0 booted 1.0.0"
else
    fail "fw_client is not built ($FWC)"
fi

section "campaign 3 by family id, created paused; a disabled device"
camp "by family id, paused" 201 "{\"release\": $R3, \"target\": {\"family\": $FID}, \"status\": \"paused\"}"
C3=$(jget 'd["id"]')
upd "paused from the start: nothing for sensor-2 but campaign 1" 200 S2 "current=0.9.0"
assert_eq "  campaign 1" "$(jget 'd["campaign"]')" "$C1"
run "$VOUCH" device disable --account acme sensor-2
rc_is 0 "device disable sensor-2"
upd "a disabled device's token is refused" 401 S2 "current=0.9.0"
json_error invalid_session
req "and so is its download" 401 "${S2[@]}" "$IMG"

# ---------------------------------------------------------------------------
section "the end: the audit chain, a clean stop"
vd_stop
assert_eq "vouchd exits 0" "$VD_RC" 0
run "$VOUCH" audit --data "$CA" verify
rc_is 0 "the audit chain verifies"
python3 -c 'import sqlite3,sys; print("\n".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT action FROM audit_log")))' "$CA/vouch.db" >audit.txt
for a in fwkey.add fwkey.retire fwkey.activate release.upload campaign.create campaign.pause campaign.resume campaign.finish; do
    check "  audited: $a" grep -qx "$a" audit.txt
done
assert_no_grep "  device reports are not audited" '^update' audit.txt
it_done
