#!/usr/bin/env bash
# vouchd issuance: POST /v1/certificates from CSRs made by the openssl
# command, judged by `openssl verify` and `openssl x509`; GET
# /v1/certificates/<issuer>/<serial> as JSON, PEM and DER; every refusal
# (auth, JSON, CSR, template rule, unknown template/issuer/serial) with its
# error code; the audit chain afterwards. Specification: docs/api.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
PUB=http://ca.example.test:8080/pki

# body FILE CSRFILE TEMPLATE [ISSUER]: a request body as JSON.
body() {
    python3 - "$@" <<'PY'
import json, sys
d = {"csr": open(sys.argv[2]).read(), "template": sys.argv[3]}
if len(sys.argv) > 4:
    d["issuer"] = sys.argv[4]
open(sys.argv[1], "w").write(json.dumps(d))
PY
}

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "Issue Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url "$PUB" --threads 2
U=http://127.0.0.1:$VD_PORT
AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H "Content-Type: application/json")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key \
    -subj "/CN=dev-0001/O=Issue Test" -out dev.csr 2>/dev/null || die "openssl req (P-256) failed"
body dev.json dev.csr device

# ---------------------------------------------------------------------------
section "issue a device certificate"
req "issue (device, default issuer)" 201 "${AUTH[@]}" "${JSON[@]}" --data-binary @dev.json "$U/v1/certificates"
cp "$OUT" issued.json
assert_grep "issue: application/json" '^content-type: application/json' "$HDR"
assert_eq "issue: issuer is default" "$(jget 'd["issuer"]')" default
SERIAL=$(jget 'd["serial"]')
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open("leaf.pem","w").write(d["certificate"]); open("issuing.pem","w").write(d["chain"][0]); open("root.pem","w").write(d["chain"][1]); print(len(d["chain"]))' issued.json >chainlen || true
assert_eq "chain: issuing CA and root" "$(cat chainlen)" 2
assert_grep "issue: Location header" "^location: /v1/certificates/default/$SERIAL" "$HDR"
check "openssl verify accepts leaf -> issuing -> root" openssl verify -CAfile root.pem -untrusted issuing.pem leaf.pem >/dev/null
assert_eq "serial as openssl x509 -serial prints it" "$SERIAL" "$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2)"
assert_eq "serial is 128 bits or less" "$(( ${#SERIAL} <= 32 && ${#SERIAL} >= 30 ))" 1
openssl x509 -in leaf.pem -noout -text >leaf.txt
assert_grep "CRL distribution point under --public-url" "URI:$PUB/crl/default.crl" leaf.txt
assert_grep "OCSP URL under --public-url" "OCSP - URI:$PUB/ocsp" leaf.txt
assert_grep "subject kept" "CN ?= ?dev-0001" leaf.txt
assert_grep "clientAuth from the template" "TLS Web Client Authentication" leaf.txt
assert_eq "not_after matches the certificate" "$(jget 'd["not_after"]')" \
    "$(date -u -d "$(openssl x509 -in leaf.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
check "the public key is the CSR's" cmp -s <(openssl x509 -in leaf.pem -noout -pubkey) <(openssl req -in dev.csr -noout -pubkey)
req "issue a second one: another serial" 201 "${AUTH[@]}" "${JSON[@]}" --data-binary @dev.json "$U/v1/certificates"
assert_ne "two issuances, two serials" "$(jget 'd["serial"]')" "$SERIAL"
body ed.json <(openssl req -new -newkey ed25519 -nodes -keyout ed.key -subj /CN=dev-ed -out /dev/stdout 2>/dev/null) device default
req "issue for an Ed25519 key, issuer named" 201 "${AUTH[@]}" "${JSON[@]}" --data-binary @ed.json "$U/v1/certificates"

# ---------------------------------------------------------------------------
section "get by serial"
req "GET by serial (JSON)" 200 "${AUTH[@]}" "$U/v1/certificates/default/$SERIAL"
assert_eq "GET: status active" "$(jget 'd["status"]')" active
assert_eq "GET: serial" "$(jget 'd["serial"]')" "$SERIAL"
assert_eq "GET: template" "$(jget 'd["template"]')" device
python3 -c 'import json,sys; open("got.pem","w").write(json.load(open(sys.argv[1]))["certificate"])' "$OUT"
assert_same_file "GET: the PEM is the issued one" got.pem leaf.pem
req "GET lower-case serial" 200 "${AUTH[@]}" "$U/v1/certificates/default/$(echo "$SERIAL" | tr A-F a-f)"
req "GET ?format=der" 200 "${AUTH[@]}" -o got.der "$U/v1/certificates/default/$SERIAL?format=der"
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o got.der "$U/v1/certificates/default/$SERIAL?format=der"
openssl x509 -in leaf.pem -outform DER -out leaf.der
assert_same_file "GET ?format=der: same DER" got.der leaf.der
assert_grep "DER content type" '^content-type: application/pkix-cert' "$HDR"
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o got2.pem "$U/v1/certificates/default/$SERIAL?format=pem"
assert_same_file "GET ?format=pem: same PEM" got2.pem leaf.pem

# ---------------------------------------------------------------------------
section "refusals"
req "issue without a token" 401 "${JSON[@]}" --data-binary @dev.json "$U/v1/certificates"
json_error unauthorized
req "malformed JSON" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"csr": ' "$U/v1/certificates"
json_error bad_request
req "JSON array body" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '[1]' "$U/v1/certificates"
json_error bad_request
req "empty body" 400 "${AUTH[@]}" "${JSON[@]}" -X POST "$U/v1/certificates"
json_error bad_request
req "missing csr" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"template":"device"}' "$U/v1/certificates"
json_error bad_request
assert_grep "missing csr: names it" "'csr'" "$OUT"
req "missing template" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(python3 -c 'import json; print(json.dumps({"csr": open("dev.csr").read()}))')" "$U/v1/certificates"
json_error bad_request
req "csr not a string" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"csr":1,"template":"device"}' "$U/v1/certificates"
json_error bad_request
req "unknown member" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary "$(python3 -c 'import json; print(json.dumps({"csr": open("dev.csr").read(), "template":"device", "days": 9999}))')" "$U/v1/certificates"
json_error bad_request
req "garbage CSR" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary '{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n","template":"device"}' "$U/v1/certificates"
json_error bad_csr
# a corrupted signature: flip a bit in the last byte of the DER (inside the
# ECDSA signature's s), the structure stays valid
python3 - <<'PY'
import base64, re
pem = open("dev.csr").read()
der = bytearray(base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----"))))
der[-1] ^= 0x01
b = base64.b64encode(bytes(der)).decode()
open("badsig.csr", "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(b[i:i+64] for i in range(0, len(b), 64)) + "\n-----END CERTIFICATE REQUEST-----\n")
PY
check "corrupted CSR still parses (openssl req)" openssl req -in badsig.csr -noout
# (openssl 3.0 req -verify exits 0 either way; its message says which)
openssl req -in badsig.csr -noout -verify >verify.txt 2>&1 || true
assert_grep "openssl agrees the signature is bad" 'verify failure|did not match' verify.txt
body badsig.json badsig.csr device
req "CSR with a corrupted signature" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary @badsig.json "$U/v1/certificates"
json_error bad_csr_signature
openssl req -new -newkey rsa:1024 -nodes -keyout rsa.key -subj /CN=dev-rsa -out rsa.csr 2>/dev/null || die "openssl req rsa:1024 failed"
body rsa.json rsa.csr device
req "RSA-1024 CSR for device" 422 "${AUTH[@]}" "${JSON[@]}" --data-binary @rsa.json "$U/v1/certificates"
json_error template_violation
assert_grep "RSA-1024: names the key rule" 'key type rsa-1024 not allowed' "$OUT"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cn.key -subj "/CN=bad name!" -out cn.csr 2>/dev/null
body cn.json cn.csr device
req "CN breaking the pattern" 422 "${AUTH[@]}" "${JSON[@]}" --data-binary @cn.json "$U/v1/certificates"
json_error template_violation
body nt.json dev.csr no-such-template
req "unknown template" 404 "${AUTH[@]}" "${JSON[@]}" --data-binary @nt.json "$U/v1/certificates"
json_error unknown_template
body ni.json dev.csr device no-such-issuer
req "unknown issuer" 404 "${AUTH[@]}" "${JSON[@]}" --data-binary @ni.json "$U/v1/certificates"
json_error unknown_issuer
body ri.json dev.csr device root
req "the root does not issue leaves" 400 "${AUTH[@]}" "${JSON[@]}" --data-binary @ri.json "$U/v1/certificates"
json_error bad_request
req "DELETE /v1/certificates (GET and POST only)" 405 "${AUTH[@]}" -X DELETE "$U/v1/certificates"
req "GET unknown serial" 404 "${AUTH[@]}" "$U/v1/certificates/default/0123456789ABCDEF"
json_error not_found
req "GET serial of another issuer" 404 "${AUTH[@]}" "$U/v1/certificates/root/$SERIAL"
json_error not_found
req "GET bad hex" 400 "${AUTH[@]}" "$U/v1/certificates/default/XYZ"
json_error bad_request
req "GET unknown issuer" 404 "${AUTH[@]}" "$U/v1/certificates/nope/$SERIAL"
json_error unknown_issuer
req "GET bad format" 400 "${AUTH[@]}" "$U/v1/certificates/default/$SERIAL?format=txt"
json_error bad_request
req "GET without a token" 401 "$U/v1/certificates/default/$SERIAL"
json_error unauthorized

# ---------------------------------------------------------------------------
section "audit"
expect 0 "audit verify while vouchd runs" "$VOUCH" audit verify --data "$CA"
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0
expect 0 "audit verify after stopping" "$VOUCH" audit verify --data "$CA"
assert_eq "three cert.issue audit entries" "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from audit_log where action=\"cert.issue\"").fetchone()[0])' "$CA/vouch.db" 2>/dev/null || echo '?')" 3
assert_no_grep "no key material in the log" 'PRIVATE' "$VD_LOG"

it_done
