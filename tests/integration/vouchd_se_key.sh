#!/usr/bin/env bash
# vouchd with an issuing CA whose key lives in a vouch-se (vouch ca init
# --key-se): certificates and CRLs are signed by the SE, openssl accepts
# them, and when the SE goes away issuance answers 503 (never a broken
# certificate) and recovers by itself when the SE is back.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files

body() {
    python3 - "$@" <<'PY'
import json, sys
open(sys.argv[1], "w").write(json.dumps({"csr": open(sys.argv[2]).read(), "template": "device"}))
PY
}
csr() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
            -subj "/O=SE Key Test/CN=$1" -out "$1.csr" 2>/dev/null; body "$1.json" "$1.csr"; }

section "setup: a vouch-se holding the issuing CA's key"
chip_new hsm
chip_start hsm
HSM=$(chip_uri hsm)
expect 0 "ca init --key-se" "$VOUCH" ca init --data "$CA" --org "SE Key Test" --key-se "$HSM" --slot 1
TOKEN=$(tr -d '\n' <"$CA/admin.token")
AUTH=(-H "Authorization: Bearer $TOKEN")
"$VOUCH" ca export --data "$CA" --name root --out root.pem
"$VOUCH" ca export --data "$CA" --name default --out issuing.pem
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9 --threads 2
U=http://127.0.0.1:$VD_PORT

section "issuance signed inside the SE"
csr dev1
req "issue under the SE-held issuer" 201 "${AUTH[@]}" --data-binary @dev1.json "$U/v1/certificates"
jget 'd["certificate"]' >dev1.pem
check "openssl verify accepts the chain" openssl verify -CAfile root.pem -untrusted issuing.pem dev1.pem
S1=$(jget 'd["serial"]')
req "a second one (the worker's SE connection is reused)" 201 "${AUTH[@]}" --data-binary @dev1.json "$U/v1/certificates"
jget 'd["certificate"]' >dev1b.pem
check "it verifies too" openssl verify -CAfile root.pem -untrusted issuing.pem dev1b.pem
req "GET /v1/issuers/default says the key is external" 200 "${AUTH[@]}" "$U/v1/issuers/default"
assert_eq "  key_storage" "$(jget 'd["key_storage"]')" "external"
check_not "  no key reference in the answer" grep -q "se:unix" "$OUT"

section "revocation and a CRL signed by the SE"
req "revoke" 200 "${AUTH[@]}" -d '{"reason":"keyCompromise"}' "$U/v1/certificates/default/$S1/revoke"
req "GET /crl/default.crl" 200 "$U/crl/default.crl"
cp "$OUT" default.crl
check "openssl crl verifies the SE's CRL signature" openssl crl -inform DER -in default.crl -CAfile issuing.pem -noout
openssl crl -inform DER -in default.crl -out default.crl.pem 2>/dev/null
check_not "openssl verify -crl_check rejects the revoked certificate" \
    openssl verify -crl_check -CRLfile default.crl.pem -CAfile root.pem -untrusted issuing.pem dev1.pem

section "the SE goes away: 503, nothing stored, nothing broken"
COUNT_BEFORE=$(curl -s "${AUTH[@]}" "$U/v1/certificates?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))')
chip_stop hsm
csr dev2
req "issue while the SE is down" 503 "${AUTH[@]}" --data-binary @dev2.json "$U/v1/certificates"
json_error unavailable
req "again (both workers)" 503 "${AUTH[@]}" --data-binary @dev2.json "$U/v1/certificates"
req "renew while the SE is down" 503 "${AUTH[@]}" -X POST "$U/v1/certificates/default/$(openssl x509 -in dev1b.pem -noout -serial | cut -d= -f2)/renew"
COUNT_DOWN=$(curl -s "${AUTH[@]}" "$U/v1/certificates?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))')
assert_eq "no certificate stored while the SE was down" "$COUNT_DOWN" "$COUNT_BEFORE"
check "vouchd logged why" grep -q "vouch-se" "$VD_LOG"

section "the SE is back: issuance recovers without a restart"
chip_start hsm
req "issue after the SE restarted" 201 "${AUTH[@]}" --data-binary @dev2.json "$U/v1/certificates"
jget 'd["certificate"]' >dev2.pem
check "it verifies" openssl verify -CAfile root.pem -untrusted issuing.pem dev2.pem
req "issue once more" 201 "${AUTH[@]}" --data-binary @dev2.json "$U/v1/certificates"

section "another key in the slot: refused, never used"
vd_stop
expect 0 "someone regenerates the SE's slot 1" "$VOUCH" se --se "$HSM" keygen --slot 1
vd_start "$IT_TMP/vd2.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9 --threads 1
U=http://127.0.0.1:$VD_PORT
req "issue with the wrong key in the slot" 500 "${AUTH[@]}" --data-binary @dev2.json "$U/v1/certificates"
json_error internal
check "the log says the key does not match" grep -q "not the key of its certificate" "$VD_LOG"
vd_stop
assert_eq "vouchd stopped cleanly" "$VD_RC" 0
chip_stop hsm
expect 0 "audit chain verifies" "$VOUCH" audit verify --data "$CA"
it_done
