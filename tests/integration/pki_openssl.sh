#!/usr/bin/env bash
# The PKI library (pki/) judged by the openssl command line: a root and an
# issuing CA made by pki_tool, leaves issued from `openssl req` CSRs, then
# `openssl verify` (chain, -crl_check), `openssl crl -text` and offline
# `openssl ocsp` (request with -reqout, answer by pki_tool, check with
# -respin) for good, revoked and unknown, with and without nonce.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOOL=${VOUCH_PKI_TOOL:?VOUCH_PKI_TOOL must name the pki_tool binary}
[ -x "$TOOL" ] || die "no pki_tool at $TOOL"

T=$IT_TMP/pki
mkdir -p "$T/ca"
cd "$T"

# ---------------------------------------------------------------------------
section "CA"
expect 0 "init root + issuing CA" "$TOOL" init ca
check "root written" test -s ca/root.pem
check "issuing CA written" test -s ca/issuing.pem
assert_grep "CA keys encrypted at rest" "BEGIN ENCRYPTED PRIVATE KEY" ca/issuing.key
assert_no_grep "no plaintext key" "BEGIN (EC )?PRIVATE KEY" ca/issuing.key
check_not "wrong passphrase refused by openssl" \
    openssl pkey -in ca/issuing.key -passin pass:wrong -noout 2>/dev/null
expect 0 "root verifies as self-signed" openssl verify -CAfile ca/root.pem ca/root.pem
expect 0 "issuing CA verifies under root" openssl verify -CAfile ca/root.pem ca/issuing.pem
run openssl x509 -in ca/root.pem -noout -text
assert_grep "root CA:TRUE critical" "Basic Constraints: critical" "$OUT"
assert_grep "root keyCertSign" "Certificate Sign, CRL Sign" "$OUT"
run openssl x509 -in ca/issuing.pem -noout -text
assert_grep "issuing pathlen 0" "CA:TRUE, pathlen:0" "$OUT"

# ---------------------------------------------------------------------------
section "issue from openssl req CSRs"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev1.key \
    -subj "/CN=dev-0001/O=Acme" -addext "subjectAltName=URI:urn:dev:0001" -out dev1.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev2.key \
    -subj "/CN=dev-0002" -out dev2.csr 2>/dev/null
openssl req -new -newkey ed25519 -nodes -keyout dev3.key -subj "/CN=dev-0003" -out dev3.csr 2>/dev/null
openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -subj "/CN=dev-weak" -out weak.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ip.key \
    -subj "/CN=dev-ip" -addext "subjectAltName=IP:10.1.2.3" -out ip.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
    -subj "/CN=api.example.com" -addext "subjectAltName=DNS:api.example.com,IP:10.0.0.1" \
    -out srv.csr 2>/dev/null

expect 0 "issue dev1 (device)" "$TOOL" issue ca dev1.csr device dev1.pem
S1=$(head -1 "$OUT")
expect 0 "issue dev2 (device)" "$TOOL" issue ca dev2.csr device dev2.pem
S2=$(head -1 "$OUT")
expect 0 "issue dev3 Ed25519 (device)" "$TOOL" issue ca dev3.csr device dev3.pem
S3=$(head -1 "$OUT")
expect 0 "issue server cert" "$TOOL" issue ca srv.csr server srv.pem
expect 1 "RSA-1024 CSR refused" "$TOOL" issue ca weak.csr device weak.pem
assert_grep "refusal names the rule" "key type rsa-1024 not allowed by template device" "$ERR"
expect 1 "IP SAN refused by device" "$TOOL" issue ca ip.csr device ip.pem
assert_grep "refusal names the SAN type" "SAN type ip not allowed" "$ERR"
# a CSR whose signature is broken: flip a byte near the end of the DER
openssl req -in dev2.csr -outform DER -out bad.der
flip_byte bad.der $(($(stat -c %s bad.der) - 4))
expect 1 "CSR with a bad signature refused" "$TOOL" issue ca bad.der device bad.pem
assert_grep "says signature" "signature does not verify" "$ERR"
head -c 300 /dev/urandom >garbage.der
expect 1 "garbage CSR refused" "$TOOL" issue ca garbage.der device g.pem
expect 1 "unknown template refused" "$TOOL" issue ca dev2.csr gizmo g.pem

# serial as openssl prints it
assert_eq "serial hex matches openssl x509 -serial" \
    "serial=$S1" "$(openssl x509 -in dev1.pem -noout -serial)"
check "serial is 128 bits (32 hex digits)" test "${#S1}" = 32

for c in dev1 dev2 dev3 srv; do
    expect 0 "openssl verify $c" openssl verify -CAfile ca/root.pem -untrusted ca/issuing.pem $c.pem
done
expect 2 "openssl verify without the issuing CA fails" openssl verify -CAfile ca/root.pem dev1.pem
run openssl x509 -in dev1.pem -noout -text
assert_grep "CRL DP" "URI:http://127.0.0.1:8080/crl/default.crl" "$OUT"
assert_grep "AIA OCSP" "OCSP - URI:http://127.0.0.1:8080/ocsp" "$OUT"
assert_grep "AIA caIssuers" "CA Issuers - URI:http://127.0.0.1:8080/ca/default.crt" "$OUT"
assert_grep "SAN copied" "URI:urn:dev:0001" "$OUT"
assert_grep "EKU clientAuth" "TLS Web Client Authentication" "$OUT"
assert_grep "CA:FALSE" "CA:FALSE" "$OUT"
run openssl x509 -in srv.pem -noout -text
assert_grep "server SAN DNS" "DNS:api.example.com" "$OUT"
assert_grep "server SAN IP" "IP Address:10.0.0.1" "$OUT"
assert_grep "EKU serverAuth" "TLS Web Server Authentication" "$OUT"

expect 0 "renew dev2" "$TOOL" renew ca dev2.pem dev2r.pem
assert_ne "renewal has a new serial" "$(head -1 "$OUT")" "$S2"
assert_eq "renewal keeps the key" \
    "$(openssl x509 -in dev2r.pem -noout -pubkey)" "$(openssl x509 -in dev2.pem -noout -pubkey)"
expect 0 "renewal verifies" openssl verify -CAfile ca/root.pem -untrusted ca/issuing.pem dev2r.pem
expect 1 "renewing the root (another issuer) refused" "$TOOL" renew ca ca/root.pem x.pem

# ---------------------------------------------------------------------------
section "CRL"
expect 0 "CRL with dev1 revoked (keyCompromise)" "$TOOL" crl ca 42 crl.pem "$S1:key-compromise" "0A0B:superseded"
cat ca/root.pem ca/issuing.pem >chain.pem
expect 0 "openssl crl verifies the signature" openssl crl -in crl.pem -CAfile chain.pem -noout
run openssl crl -in crl.pem -noout -text
tr -s ' \n' ' ' <"$OUT" >crl.txt
assert_grep "CRL number" "X509v3 CRL Number: 42" crl.txt
tr -d '\n' <"$OUT" | grep -Eqi "Serial Number: $S1.*Key Compromise" && pass "entry with Key Compromise" || fail "entry with Key Compromise"
assert_grep "superseded reason" "Superseded" "$OUT"
assert_grep "version 2" "Version 2" "$OUT"
assert_grep "AKI" "Authority Key Identifier" "$OUT"
assert_grep "next update" "Next Update" "$OUT"
# -crl_check only checks the leaf: the issuing CA's CRL is enough
expect 2 "revoked dev1 rejected by -crl_check" \
    openssl verify -crl_check -CAfile ca/root.pem -untrusted ca/issuing.pem -CRLfile crl.pem dev1.pem
cat "$OUT" "$ERR" >verify.txt
assert_grep "says revoked" "certificate revoked" verify.txt
expect 0 "good dev2 accepted by -crl_check" \
    openssl verify -crl_check -CAfile ca/root.pem -untrusted ca/issuing.pem -CRLfile crl.pem dev2.pem
expect 2 "unknown reason name refused" "$TOOL" crl ca 43 crl2.pem "$S1:compromised"
expect 2 "bad serial hex refused" "$TOOL" crl ca 43 crl2.pem "XYZ:superseded"

# ---------------------------------------------------------------------------
section "OCSP (offline, through files)"
REVOKED=("$S1:key-compromise")
# `openssl ocsp -respin` with -cert builds a fresh request (fresh nonce),
# so each answer is checked twice: against the saved request (-reqin: the
# signature and the echoed nonce) and against the certificate (-cert
# -no_nonce: the status lines).
ocsp_case() { # NAME CERT [openssl ocsp options before -cert...]
    local name=$1 cert=$2
    shift 2
    run openssl ocsp "$@" -issuer ca/issuing.pem -cert "$cert" -reqout "$name.req"
    [ "$RC" = 0 ] || fail "$name: openssl ocsp -reqout failed: $(_errtail)"
    expect 0 "$name: pki_tool answers" "$TOOL" ocsp ca "$name.req" "$name.resp" "${REVOKED[@]}"
    run openssl ocsp -respin "$name.resp" -reqin "$name.req" -VAfile ca/issuing.pem \
        -CAfile ca/root.pem
    cat "$OUT" "$ERR" >"$name.err"
    run openssl ocsp -respin "$name.resp" -VAfile ca/issuing.pem -CAfile ca/root.pem \
        "$@" -issuer ca/issuing.pem -cert "$cert" -no_nonce
    cat "$OUT" "$ERR" >"$name.out"
}
ocsp_case good dev2.pem
assert_grep "good: status" "dev2.pem: good" good.out
assert_grep "good: response verifies" "Response verify OK" good.err
assert_no_grep "good: nonce accepted" "nonce verify error" good.err
assert_no_grep "good: nonce echoed" "no nonce in response" good.err

ocsp_case revoked dev1.pem
assert_grep "revoked: status" "dev1.pem: revoked" revoked.out
assert_grep "revoked: reason" "Reason: keyCompromise" revoked.out
assert_grep "revoked: response verifies" "Response verify OK" revoked.err

ocsp_case nononce dev3.pem -no_nonce
assert_grep "no nonce: good" "dev3.pem: good" nononce.out
assert_grep "no nonce: verifies" "Response verify OK" nononce.err

# a serial this CA never issued: the request names it with -serial
run openssl ocsp -issuer ca/issuing.pem -serial 0x0123456789 -reqout unknown.req
expect 0 "unknown: pki_tool answers" "$TOOL" ocsp ca unknown.req unknown.resp
run openssl ocsp -respin unknown.resp -reqin unknown.req -VAfile ca/issuing.pem -CAfile ca/root.pem
cat "$OUT" "$ERR" >unknown.err
assert_grep "unknown: verifies with nonce" "Response verify OK" unknown.err
run openssl ocsp -respin unknown.resp -VAfile ca/issuing.pem -CAfile ca/root.pem \
    -issuer ca/issuing.pem -serial 0x0123456789 -no_nonce
assert_grep "unknown: status" ": unknown" "$OUT"

# SHA-256 CertID
ocsp_case sha256 dev2.pem -sha256
assert_grep "SHA-256 CertID: good" "dev2.pem: good" sha256.out
assert_grep "SHA-256 CertID: verifies" "Response verify OK" sha256.err

# the nonce is echoed: a response replayed against another request fails
run openssl ocsp -issuer ca/issuing.pem -cert dev2.pem -reqout other.req
run openssl ocsp -respin good.resp -reqin other.req -VAfile ca/issuing.pem -CAfile ca/root.pem
IT_NEG=$((IT_NEG + 1))
if grep -qi "nonce verify error" "$OUT" "$ERR"; then pass "replayed response: nonce mismatch detected"; else fail "replayed response: nonce mismatch not detected: $(_errtail)"; fi

# another issuer -> unauthorized; garbage -> malformedRequest
run openssl ocsp -issuer ca/root.pem -cert ca/issuing.pem -reqout other-issuer.req
expect 1 "other issuer: refused" "$TOOL" ocsp ca other-issuer.req unauth.resp
run openssl ocsp -respin unauth.resp -resp_text -noverify
cat "$OUT" "$ERR" >unauth.txt
assert_grep "unauthorized answer" "unauthorized" unauth.txt
expect 1 "garbage request: refused" "$TOOL" ocsp ca garbage.der malformed.resp
run openssl ocsp -respin malformed.resp -resp_text -noverify
cat "$OUT" "$ERR" >malformed.txt
assert_grep "malformedRequest answer" "malformedrequest" malformed.txt

it_done
