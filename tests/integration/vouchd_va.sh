#!/usr/bin/env bash
# vouchd's validation authority, judged by the standard tools: CRLs fetched
# with curl and checked by `openssl crl` and `openssl verify -crl_check`;
# the OCSP responder asked by `openssl ocsp` (POST, with and without a
# nonce) and by curl (RFC 5019 GET, parsed by `openssl ocsp -respin`); CA
# certificates by `openssl x509`. Revocations go through the API. Every
# malformed or misdirected request gets its OCSP or JSON error.
# Specification: docs/api.md, "Validation authority".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
CURL_MAX=20

# ---- helpers ----------------------------------------------------------------

# issue NAME [ISSUER]: a device certificate for CN=NAME into NAME.pem;
# its serial into $SER.
issue() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
        -subj "/CN=$1/O=VA Test" -out "$1.csr" 2>/dev/null || die "openssl req failed"
    python3 - "$1" "${2:-default}" <<'PY'
import json, sys
json.dump({"csr": open(sys.argv[1] + ".csr").read(), "template": "device", "issuer": sys.argv[2]},
          open(sys.argv[1] + ".json", "w"))
PY
    curl -sS --max-time "$CURL_MAX" -o "$1.out" -H "Authorization: Bearer $TOKEN" \
        -H "Content-Type: application/json" --data-binary "@$1.json" "$U/v1/certificates" ||
        die "issuing $1 failed"
    SER=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[1][:-4]+".pem","w").write(d["certificate"]); print(d["serial"])' "$1.out") ||
        die "issuing $1: $(head -c 300 "$1.out")"
}
# revoke SERIAL REASON: through the API; 200 wanted.
revoke() {
    req "revoke $1 ($2)" 200 -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        --data "{\"reason\":\"$2\"}" "$U/v1/certificates/${3:-default}/$1/revoke"
}
# crl NAME FILE: GET /crl/NAME.crl into FILE (DER) and FILE.pem, text in FILE.txt.
crl() {
    curl -sS --max-time "$CURL_MAX" -o "$2" -D "$HDR" "$U/crl/$1.crl"
    openssl crl -inform DER -in "$2" -out "$2.pem" 2>/dev/null || : >"$2.pem"
    openssl crl -inform DER -in "$2" -noout -text >"$2.txt" 2>&1 || true
}
crl_number() { sed -n '/CRL Number/{n;s/^ *//;p}' "$1.txt"; }
# ocsp_ask DESC ARGS...: `openssl ocsp` against the server; output in $OUT.
ocsp_ask() {
    local desc=$1
    shift
    if openssl ocsp -url "$U/ocsp" -CAfile root.pem "$@" >"$OUT" 2>&1; then RC=0; else RC=$?; fi
}
# ocsp_status WANT DESC ARGS...: openssl ocsp says "<name>: WANT" and
# "Response verify OK".
ocsp_status() {
    local want=$1 desc=$2
    shift 2
    if [ "$want" = good ]; then IT_POS=$((IT_POS + 1)); else IT_NEG=$((IT_NEG + 1)); fi
    ocsp_ask "$desc" "$@"
    if [ "$RC" = 0 ] && grep -q "Response verify OK" "$OUT" && grep -Eq ": $want\$" "$OUT"; then
        pass "$desc: $want"
    else
        fail "$desc: want $want, got (rc $RC) $(tr '\n' ' ' <"$OUT" | head -c 400)"
    fi
}
# ocsp_error WANT DESC: $RESP (a file) is an unsuccessful OCSP response
# with status WANT, served as application/ocsp-response (headers in $HDR).
ocsp_error() {
    IT_NEG=$((IT_NEG + 1))
    local got
    got=$({ openssl ocsp -respin "$RESP" -resp_text 2>&1 || true; } | sed -n 's/.*Responder Error: \([a-zA-Z]*\).*/\1/p' | head -1)
    if [ "$got" = "$1" ] && grep -qi '^content-type: application/ocsp-response' "$HDR"; then
        pass "$2: $1"
    else
        fail "$2: want OCSP $1, got '$got'; headers: $(tr '\r\n' '  ' <"$HDR" | head -c 300); body: $(head -c 100 "$RESP" | od -An -tx1 | tr -d '\n' | head -c 200)"
    fi
}
RESP=$IT_TMP/.resp
# post_raw DESC FILE: POST FILE to /ocsp; the response into $RESP.
post_raw() {
    curl -sS --max-time "$CURL_MAX" -o "$RESP" -D "$HDR" -H 'Content-Type: application/ocsp-request' \
        --data-binary "@$1" "$U/ocsp" 2>"$ERR" || : >"$RESP"
}
# get_raw PATH: GET /ocsp/PATH (already encoded) into $RESP.
get_raw() {
    curl -sS --path-as-is --max-time "$CURL_MAX" -o "$RESP" -D "$HDR" "$U/ocsp/$1" 2>"$ERR" || : >"$RESP"
}
urlenc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
b64() { base64 -w0 "$1"; }
# respin_status WANT DESC FILE ARGS...: the response in FILE, judged by
# openssl ocsp -respin.
respin_status() {
    local want=$1 desc=$2 f=$3
    shift 3
    if [ "$want" = good ]; then IT_POS=$((IT_POS + 1)); else IT_NEG=$((IT_NEG + 1)); fi
    if openssl ocsp -respin "$f" -CAfile root.pem -no_nonce "$@" >"$OUT" 2>&1 &&
        grep -q "Response verify OK" "$OUT" && grep -Eq ": $want\$" "$OUT"; then
        pass "$desc: $want"
    else
        fail "$desc: want $want, got $(tr '\n' ' ' <"$OUT" | head -c 400)"
    fi
}
hdr() { sed -n "s/^$1: *//Ip" "$HDR" | tr -d '\r' | head -1; }

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "VA Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
# a second CA with the same names but other keys: its CertIDs share the
# issuer name hash and differ in the key hash
"$VOUCH" ca init --data "$T/other" --org "VA Test" >/dev/null 2>"$ERR" || die "ca init (other) failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:1/pki --threads 2
U=http://127.0.0.1:$VD_PORT

# ---------------------------------------------------------------------------
section "CA certificates"
req "GET /ca/default.crt" 200 "$U/ca/default.crt"
cp "$OUT" default.der
assert_grep "  application/pkix-cert" '^content-type: application/pkix-cert' "$HDR"
check "  openssl x509 -inform DER parses it" openssl x509 -inform DER -in default.der -out default.pem
assert_grep "  it is the issuing CA" 'CN ?= ?VA Test Issuing CA' <(openssl x509 -in default.pem -noout -subject)
req "GET /ca/root.crt" 200 "$U/ca/root.crt"
cp "$OUT" root.der
check "  openssl x509 -inform DER parses the root" openssl x509 -inform DER -in root.der -out root.pem
check "  the issuing CA verifies under the root" openssl verify -CAfile root.pem default.pem
cat default.pem root.pem >chain.pem || die "no CA certificates to go on with"
req "HEAD /ca/default.crt" 200 -I "$U/ca/default.crt"
req "GET /ca/nope.crt (unknown issuer)" 404 "$U/ca/nope.crt"
json_error unknown_issuer
req "GET /ca/default (no .crt)" 404 "$U/ca/default"
json_error not_found
req "GET /ca/default.pem" 404 "$U/ca/default.pem"
json_error not_found
req "GET /ca/.crt (empty name)" 404 "$U/ca/.crt"
req "GET /ca/bad%20name.crt" 404 "$U/ca/bad%20name.crt"
json_error unknown_issuer
req "GET /ca/<65 characters>.crt" 404 "$U/ca/$(printf 'a%.0s' {1..65}).crt"
req "GET /ca/default.crt/x (extra segment)" 404 "$U/ca/default.crt/x"
req "POST /ca/default.crt" 405 --data x "$U/ca/default.crt"
json_error method_not_allowed

# ---------------------------------------------------------------------------
section "certificates to check"
issue good1
GOOD1=$SER
issue rev1
REV1=$SER
issue rev2
REV2=$SER
issue rev3
REV3=$SER
check "openssl verify accepts good1 (no CRL)" openssl verify -CAfile root.pem -untrusted default.pem good1.pem

# ---------------------------------------------------------------------------
section "CRL before any revocation"
crl default d0.crl
assert_eq "GET /crl/default.crl: 200 DER" "$(head -1 "$HDR" | tr -d '\r' | cut -d' ' -f2)" 200
IT_POS=$((IT_POS + 1))
assert_grep "  application/pkix-crl" '^content-type: application/pkix-crl' "$HDR"
assert_grep "  a v2 CRL" 'Version 2' d0.crl.txt
assert_grep "  no revoked certificates yet" 'No Revoked Certificates' d0.crl.txt
check "  its signature verifies under the issuing CA" openssl crl -in d0.crl.pem -CAfile chain.pem -noout
N0=$(crl_number d0.crl)
assert_ne "  it has a CRL number" "$N0" ""
LU=$(date -u -d "$(sed -n 's/ *Last Update: //p' d0.crl.txt)" +%s)
NU=$(date -u -d "$(sed -n 's/ *Next Update: //p' d0.crl.txt)" +%s)
assert_eq "  nextUpdate is thisUpdate + 24 h" "$((NU - LU))" 86400
MA=$(hdr Cache-Control | sed -n 's/.*max-age=\([0-9]*\).*/\1/p')
assert_eq "  Cache-Control max-age until the rebuild (<= 12 h)" "$([ -n "$MA" ] && [ "$MA" -le 43200 ] && [ "$MA" -gt 43000 ] && echo ok)" ok
check "  openssl verify -crl_check accepts good1" openssl verify -crl_check -CRLfile d0.crl.pem -CAfile root.pem -untrusted default.pem good1.pem
ETAG=$(hdr ETag)
assert_ne "  an ETag" "$ETAG" ""
req "GET /crl/default.crl with If-None-Match: 304" 304 -H "If-None-Match: $ETAG" "$U/crl/default.crl"
req "HEAD /crl/default.crl" 200 -I "$U/crl/default.crl"
crl root r0.crl
check "the root's CRL verifies under the root" openssl crl -in r0.crl.pem -CAfile root.pem -noout
assert_grep "  root CRL: no revoked CAs" 'No Revoked Certificates' r0.crl.txt
check "openssl verify -crl_check_all (root and issuing CRLs) accepts good1" \
    openssl verify -crl_check_all -CRLfile d0.crl.pem -CRLfile r0.crl.pem -CAfile root.pem -untrusted default.pem good1.pem

section "CRL refusals"
req "GET /crl/nope.crl (unknown issuer)" 404 "$U/crl/nope.crl"
json_error unknown_issuer
req "GET /crl/default (no .crl)" 404 "$U/crl/default"
json_error not_found
req "GET /crl/default.der" 404 "$U/crl/default.der"
json_error not_found
req "GET /crl/.crl" 404 "$U/crl/.crl"
req "GET /crl/default.crl/x" 404 "$U/crl/default.crl/x"
req "GET /crl/de%2Efault.crl (encoded)" 404 "$U/crl/de%2Efault.crl"
req "POST /crl/default.crl" 405 --data x "$U/crl/default.crl"
json_error method_not_allowed
req "DELETE /crl/default.crl" 405 -X DELETE "$U/crl/default.crl"

# ---------------------------------------------------------------------------
section "OCSP before any revocation"
ocsp_status good "POST with a nonce: good1" -issuer default.pem -cert good1.pem
assert_no_grep "  the nonce is echoed (no warning)" 'WARNING: no nonce' "$OUT"
ocsp_status good "POST without a nonce: good1" -issuer default.pem -cert good1.pem -no_nonce
ocsp_status good "POST, SHA-256 CertID: good1" -sha256 -issuer default.pem -cert good1.pem
ocsp_status good "the issuing CA, asked of the root" -issuer root.pem -cert default.pem
ocsp_status good "rev1 before its revocation (nonce-less: now cached)" -issuer default.pem -cert rev1.pem -no_nonce
ocsp_status unknown "a serial never issued" -issuer default.pem -serial 0x0123456789ABCDEF
ocsp_status unknown "serial 0" -issuer default.pem -serial 0
ocsp_status unknown "a leaf serial asked of the root" -issuer root.pem -serial "0x$GOOD1"
ocsp_ask "two CertIDs of one issuer" -issuer default.pem -cert good1.pem -cert rev2.pem
IT_POS=$((IT_POS + 1))
if [ "$RC" = 0 ] && [ "$(grep -c ': good$' "$OUT")" = 2 ] && grep -q 'Response verify OK' "$OUT"; then
    pass "two CertIDs in one request: both good"
else
    fail "two CertIDs in one request: $(tr '\n' ' ' <"$OUT" | head -c 300)"
fi
openssl ocsp -issuer default.pem -cert good1.pem -no_nonce -reqout good1.req 2>/dev/null
openssl ocsp -issuer default.pem -cert good1.pem -reqout good1n.req 2>/dev/null
check "  response times: nextUpdate = thisUpdate + 1 h" bash -c "
    openssl ocsp -issuer default.pem -cert good1.pem -url '$U/ocsp' -CAfile root.pem -no_nonce 2>/dev/null |
    python3 -c '
import sys, email.utils, datetime
t = sys.stdin.read()
import re
f = lambda k: datetime.datetime.strptime(re.search(k + r\": (.*)\", t).group(1).strip(), \"%b %d %H:%M:%S %Y GMT\")
sys.exit(0 if (f(\"Next Update\") - f(\"This Update\")).total_seconds() == 3600 else 1)'"

section "OCSP GET (RFC 5019)"
get_raw "$(urlenc "$(b64 good1.req)")"
cp "$RESP" get1.der
respin_status good "GET url-encoded base64: good1" get1.der -issuer default.pem -cert good1.pem
IT_POS=$((IT_POS + 1))
if grep -qi '^content-type: application/ocsp-response' "$HDR"; then pass "  application/ocsp-response"; else fail "  content type: $(hdr Content-Type)"; fi
MA=$(hdr Cache-Control)
assert_grep "  Cache-Control max-age, public, no-transform, must-revalidate" 'cache-control: max-age=[0-9]+, public, no-transform, must-revalidate' "$HDR"
assert_eq "  max-age at most half of the validity" "$(echo "$MA" | sed -n 's/max-age=\([0-9]*\).*/\1/p' | awk '{print ($1 <= 1800 && $1 > 1700) ? "ok" : $1}')" ok
assert_eq "  ETag is the SHA-256 of the response" "$(hdr ETag)" "\"$(sha256sum get1.der | cut -d' ' -f1)\""
assert_ne "  Last-Modified" "$(hdr Last-Modified)" ""
assert_ne "  Expires" "$(hdr Expires)" ""
# Conditional GET on one keep-alive connection (one worker: each worker
# signs its own copy, so ETags differ between workers).
IT_NEG=$((IT_NEG + 1))
COND=$(python3 - "$VD_PORT" "/ocsp/$(urlenc "$(b64 good1.req)")" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", sys.argv[2]); r = c.getresponse(); body = r.read(); etag = r.getheader("ETag")
c.request("GET", sys.argv[2], headers={"If-None-Match": etag}); r2 = c.getresponse(); b2 = r2.read()
c.request("GET", sys.argv[2], headers={"If-None-Match": '"0000"'}); r3 = c.getresponse(); b3 = r3.read()
print(r.status, r2.status, len(b2), r2.getheader("ETag") == etag, r3.status, b3 == body)
PY
) || COND="python failed"
assert_eq "  If-None-Match with its ETag: 304 without a body; another ETag: 200, the same bytes" "$COND" "200 304 0 True 200 True"
get_raw "$(b64 good1.req)"
respin_status good "GET base64 not url-encoded ('/', '+', '=' as is)" "$RESP" -issuer default.pem -cert good1.pem
get_raw "$(b64 good1.req | tr -d '=')"
respin_status good "GET base64 without its padding" "$RESP" -issuer default.pem -cert good1.pem
get_raw "$(urlenc "$(b64 good1n.req)")"
cp "$RESP" getn.der
respin_status good "GET with a nonce" getn.der -issuer default.pem -cert good1.pem
assert_grep "  the nonce is in the response" 'OCSP Nonce' <(openssl ocsp -respin getn.der -resp_text -noverify 2>&1)
assert_grep "  a nonce answer is not cacheable" '^cache-control: no-store' "$HDR"
req "HEAD /ocsp/<request>" 200 -I "$U/ocsp/$(urlenc "$(b64 good1.req)")"
# the cache: two nonce-less requests on one connection (one worker) get
# the same bytes; a request with a nonce gets a fresh signature
curl -sS --max-time "$CURL_MAX" -o c1.der "$U/ocsp/$(urlenc "$(b64 good1.req)")" -o c2.der "$U/ocsp/$(urlenc "$(b64 good1.req)")"
assert_same_file "nonce-less GETs on one connection: the cached bytes" c1.der c2.der
openssl ocsp -issuer default.pem -cert good1.pem -reqout good1n2.req 2>/dev/null
curl -sS --max-time "$CURL_MAX" -o n1.der "$U/ocsp/$(urlenc "$(b64 good1n.req)")" -o n2.der "$U/ocsp/$(urlenc "$(b64 good1n2.req)")"
check_not "two nonces: two different responses" cmp -s n1.der n2.der
curl -sS --max-time "$CURL_MAX" -o p1.der -H 'Content-Type: application/ocsp-request' --data-binary @good1.req "$U/ocsp"
respin_status good "POST (curl) without a nonce" p1.der -issuer default.pem -cert good1.pem
curl -sS --max-time "$CURL_MAX" -D "$HDR" -o p3.der -H 'Content-Type: application/ocsp-request' --data-binary @good1.req "$U/ocsp"
assert_grep "  POST answers are not for HTTP caches" '^cache-control: no-store' "$HDR"
curl -sS --max-time "$CURL_MAX" -D "$HDR" -o p4.der --data-binary @good1.req "$U/ocsp"
respin_status good "POST with another Content-Type (lenient)" p4.der -issuer default.pem -cert good1.pem

# ---------------------------------------------------------------------------
section "malformed and misdirected OCSP requests"
: >empty.bin
post_raw empty.bin
ocsp_error malformedrequest "POST with an empty body"
printf 'garbage' >garbage.bin
post_raw garbage.bin
ocsp_error malformedrequest "POST garbage"
head -c 40 good1.req >trunc.bin
post_raw trunc.bin
ocsp_error malformedrequest "POST a truncated request"
{ cat good1.req; printf '\0'; } >trail.bin
post_raw trail.bin
ocsp_error malformedrequest "POST a request with a trailing byte"
head -c 20000 /dev/zero >big.bin
post_raw big.bin
ocsp_error malformedrequest "POST 20,000 bytes (over 16 KiB)"
python3 -c 'import sys; sys.stdout.buffer.write(bytes([0x30, 0x82, 0x3f, 0xf0]) + bytes(16368))' >zeros.bin
post_raw zeros.bin
ocsp_error malformedrequest "POST a SEQUENCE of zeros"
openssl x509 -in good1.pem -outform DER -out good1.der
post_raw good1.der
ocsp_error malformedrequest "POST a certificate instead of a request"
args=()
for i in 1 2 3 4 5 6 7 8 9; do args+=(-serial "$i"); done
openssl ocsp -issuer default.pem "${args[@]}" -no_nonce -reqout nine.req 2>/dev/null
post_raw nine.req
ocsp_error malformedrequest "POST nine CertIDs (8 at most)"
get_raw '!!!!'
ocsp_error malformedrequest "GET not base64"
get_raw "$(printf 'garbage' | base64 -w0)"
ocsp_error malformedrequest "GET base64 of garbage"
get_raw "$(b64 good1.req)QUJD"
ocsp_error malformedrequest "GET data after the padding"
get_raw "$(b64 good1.req | tr -d '=')A"
ocsp_error malformedrequest "GET an impossible base64 length"
get_raw "-$(b64 good1.req | cut -c2-)"
ocsp_error malformedrequest "GET with a base64url '-' (not RFC 5019's alphabet)"
get_raw "_$(b64 good1.req | cut -c2-)"
ocsp_error malformedrequest "GET with a base64url '_'"
get_raw "%ZZ$(b64 good1.req)"
ocsp_error malformedrequest "GET a bad percent escape"
get_raw "$(b64 trunc.bin)"
ocsp_error malformedrequest "GET a truncated request"
get_raw "$(b64 nine.req)"
ocsp_error malformedrequest "GET nine CertIDs"
get_raw "AAAA%20AAAA"
ocsp_error malformedrequest "GET with a space"
get_raw "$(head -c 12000 /dev/zero | base64 -w0)"
ocsp_error malformedrequest "GET 12,000 zero bytes"
# the other CA's certificates: same names, other keys
python3 - "$T/other/vouch.db" <<'PY'
import sqlite3, sys, subprocess
db = sqlite3.connect(sys.argv[1])
for name, der in db.execute("select name, cert_der from issuers"):
    open("other-" + name + ".der", "wb").write(der)
PY
openssl x509 -inform DER -in other-default.der -out other-default.pem 2>/dev/null || die "no other CA"
openssl x509 -inform DER -in other-root.der -out other-root.pem 2>/dev/null || die "no other root"
assert_eq "the other CA has the same subject" "$(openssl x509 -in other-default.pem -noout -subject)" "$(openssl x509 -in default.pem -noout -subject)"
openssl ocsp -issuer other-default.pem -serial "0x$GOOD1" -no_nonce -reqout other.req 2>/dev/null
post_raw other.req
ocsp_error unauthorized "a CertID of another CA with the same name"
get_raw "$(urlenc "$(b64 other.req)")"
ocsp_error unauthorized "the same by GET"
openssl ocsp -issuer other-root.pem -cert other-default.pem -no_nonce -reqout other2.req 2>/dev/null
post_raw other2.req
ocsp_error unauthorized "another root's CertID"
openssl ocsp -issuer default.pem -cert good1.pem -issuer root.pem -cert default.pem -no_nonce -reqout mixed.req 2>/dev/null
post_raw mixed.req
ocsp_error unauthorized "CertIDs of two issuers in one request"
openssl ocsp -issuer default.pem -cert good1.pem -issuer other-default.pem -cert good1.pem -no_nonce -reqout mixed2.req 2>/dev/null
post_raw mixed2.req
ocsp_error unauthorized "one CertID ours, one another CA's"
openssl ocsp -sha384 -issuer default.pem -cert good1.pem -no_nonce -reqout sha384.req 2>/dev/null
post_raw sha384.req
ocsp_error unauthorized "a SHA-384 CertID (SHA-1 and SHA-256 only)"
ocsp_ask "openssl ocsp on another CA's certificate" -issuer other-default.pem -serial "0x$GOOD1"
IT_NEG=$((IT_NEG + 1))
if [ "$RC" != 0 ] && grep -q 'unauthorized' "$OUT"; then pass "  openssl ocsp reports unauthorized"; else fail "  openssl ocsp: $(tr '\n' ' ' <"$OUT" | head -c 300)"; fi
req "GET /ocsp (POST only)" 405 "$U/ocsp"
json_error method_not_allowed
req "PUT /ocsp" 405 -X PUT --data-binary @good1.req "$U/ocsp"
req "POST /ocsp/<request> (GET only)" 405 --data-binary @good1.req "$U/ocsp/$(urlenc "$(b64 good1.req)")"
head -c 70000 /dev/zero >big.bin
post_raw big.bin
ocsp_error malformedrequest "POST over 64 KiB (an OCSP error, not JSON)"
req "POST /ocsp/ (trailing slash, a common client setting)" 200 -H 'Content-Type: application/ocsp-request' --data-binary @good1.req "$U/ocsp/"
check "  it is a signed OCSP answer" openssl ocsp -respin "$OUT" -noverify -resp_text
check "vouchd still answers after all that" openssl ocsp -issuer default.pem -cert good1.pem -url "$U/ocsp" -CAfile root.pem -no_nonce

# ---------------------------------------------------------------------------
section "revocation: OCSP caches and CRLs follow at once"
# rev1's nonce-less answer is cached (above), on whichever worker; ask a
# few times over new connections so both workers hold it
for i in 1 2 3 4; do openssl ocsp -issuer default.pem -cert rev1.pem -no_nonce -url "$U/ocsp" -CAfile root.pem >/dev/null 2>&1 || true; done
openssl ocsp -issuer default.pem -cert rev1.pem -no_nonce -reqout rev1.req 2>/dev/null
for i in 1 2 3 4; do curl -sS --max-time "$CURL_MAX" -o /dev/null "$U/ocsp/$(urlenc "$(b64 rev1.req)")"; done
revoke "$REV1" keyCompromise
# every worker, POST and GET, nonce-less (the cached entries) and with a nonce
for i in 1 2 3 4; do
    ocsp_status revoked "after the revoke, nonce-less POST #$i" -issuer default.pem -cert rev1.pem -no_nonce
done
assert_grep "  with its reason" 'Reason: keyCompromise' "$OUT"
ocsp_status revoked "after the revoke, with a nonce" -issuer default.pem -cert rev1.pem
for i in 1 2 3 4; do
    get_raw "$(urlenc "$(b64 rev1.req)")"
    respin_status revoked "after the revoke, GET #$i" "$RESP" -issuer default.pem -cert rev1.pem
done
ocsp_status good "good1 is still good" -issuer default.pem -cert good1.pem -no_nonce
crl default d1.crl
N1=$(crl_number d1.crl)
assert_eq "CRL number went up" "$([ -n "$N1" ] && [ -n "$N0" ] && [ "$N1" -gt "$N0" ] && echo up)" up
assert_grep "  rev1 is on the CRL" "Serial Number: $REV1" d1.crl.txt
assert_grep "  with reason keyCompromise" 'Key Compromise' d1.crl.txt
check_not "openssl verify -crl_check rejects rev1" openssl verify -crl_check -CRLfile d1.crl.pem -CAfile root.pem -untrusted default.pem rev1.pem
openssl verify -crl_check -CRLfile d1.crl.pem -CAfile root.pem -untrusted default.pem rev1.pem >verify.txt 2>&1 || true
assert_grep "  'certificate revoked'" 'certificate revoked' verify.txt
check "openssl verify -crl_check still accepts good1" openssl verify -crl_check -CRLfile d1.crl.pem -CAfile root.pem -untrusted default.pem good1.pem
check "  (the CRL from before the revoke still passes rev1: the check is real)" \
    openssl verify -crl_check -CRLfile d0.crl.pem -CAfile root.pem -untrusted default.pem rev1.pem

revoke "$REV2" superseded
crl default d2.crl
N2=$(crl_number d2.crl)
assert_eq "second revocation: CRL number went up again" "$([ -n "$N2" ] && [ "$N2" -gt "$N1" ] && echo up)" up
assert_grep "  rev2 on the CRL" "Serial Number: $REV2" d2.crl.txt
assert_grep "  reason superseded" 'Superseded' d2.crl.txt
assert_grep "  rev1 still there" "Serial Number: $REV1" d2.crl.txt
ocsp_status revoked "rev2 by OCSP" -issuer default.pem -cert rev2.pem -no_nonce
assert_grep "  reason superseded" 'Reason: superseded' "$OUT"
revoke "$REV3" unspecified
crl default d3.crl
assert_eq "unspecified: no reasonCode entry extension (RFC 5280 5.3.1)" \
    "$(awk -v s="$REV3" '$0 ~ "Serial Number: "s {f=1; next} f && /Serial Number:/ {f=0} f && /Reason/ {print "has reason"}' d3.crl.txt)" ""
ocsp_status revoked "rev3 (unspecified) by OCSP" -issuer default.pem -cert rev3.pem -no_nonce
req "revoking rev1 again: 409" 409 -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    --data '{"reason":"keyCompromise"}' "$U/v1/certificates/default/$REV1/revoke"
crl default d4.crl
assert_eq "  a refused revoke does not change the CRL" "$(crl_number d4.crl)" "$(crl_number d3.crl)"

section "a CRL fetched right after a revoke answer always has it"
for i in 1 2 3 4 5 6; do
    issue "burst$i"
    S=$SER
    revoke "$S" cessationOfOperation
    crl default burst.crl
    assert_grep "  burst$i on the CRL fetched right after" "Serial Number: $S" burst.crl.txt
    ocsp_status revoked "  burst$i by OCSP right after" -issuer default.pem -cert "burst$i.pem" -no_nonce
done
# revocations racing CRL downloads on both workers
(for i in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null "$U/crl/default.crl"; done) &
RACE=$!
issue race
revoke "$SER" affiliationChanged
crl default race.crl
assert_grep "  with downloads racing: the new revocation is there" "Serial Number: $SER" race.crl.txt
wait "$RACE" || true
check "  the racing CRL verifies" openssl crl -in race.crl.pem -CAfile chain.pem -noout

section "background rebuild"
issue bg
revoke "$SER" privilegeWithdrawn
T0=$(date -u +%s)
sleep 3
crl default bg.crl
LU=$(date -u -d "$(sed -n 's/ *Last Update: //p' bg.crl.txt)" +%s)
assert_grep "  bg on the CRL" "Serial Number: $SER" bg.crl.txt
assert_eq "  built in the background soon after the revoke, not by the GET" \
    "$([ "$LU" -ge "$((T0 - 1))" ] && [ "$LU" -le "$((T0 + 2))" ] && echo yes)" yes

section "another issuer's CRL is its own"
crl root r1.crl
assert_no_grep "the root's CRL does not list leaf revocations" "Serial Number: $REV1" r1.crl.txt
check "  it verifies under the root" openssl crl -in r1.crl.pem -CAfile root.pem -noout

# ---------------------------------------------------------------------------
section "restart"
crl default before.crl
NB=$(crl_number before.crl)
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0
vd_start "$IT_TMP/vd2.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:1/pki --threads 2
U=http://127.0.0.1:$VD_PORT
crl default after.crl
NA=$(crl_number after.crl)
assert_eq "CRL number keeps going up across a restart" "$([ -n "$NA" ] && [ -n "$NB" ] && [ "$NA" -gt "$NB" ] && echo up)" up
assert_grep "  rev1 still on the CRL" "Serial Number: $REV1" after.crl.txt
check_not "  openssl verify -crl_check still rejects rev1" openssl verify -crl_check -CRLfile after.crl.pem -CAfile root.pem -untrusted default.pem rev1.pem
check "  and accepts good1" openssl verify -crl_check -CRLfile after.crl.pem -CAfile root.pem -untrusted default.pem good1.pem
ocsp_status revoked "OCSP after restart: rev1" -issuer default.pem -cert rev1.pem -no_nonce
ocsp_status good "OCSP after restart: good1" -issuer default.pem -cert good1.pem
ocsp_status unknown "OCSP after restart: a serial never issued" -issuer default.pem -serial 0x42
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0

# ---------------------------------------------------------------------------
section "an issuer whose key is in a vouch-se"
chip_new hsm
chip_start hsm
expect 0 "ca add-issuer --key-se" "$VOUCH" ca add-issuer --data "$CA" --name sefam --key-se "$(chip_uri hsm)" --slot 1
# one worker here, so that "what is cached" is known (each worker caches
# its own answers)
vd_start "$IT_TMP/vd3.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:1/pki --threads 1
U=http://127.0.0.1:$VD_PORT
req "GET /ca/sefam.crt" 200 "$U/ca/sefam.crt"
openssl x509 -inform DER -in "$OUT" -out sefam.pem 2>/dev/null || die "no sefam certificate"
cat sefam.pem root.pem >sechain.pem
issue se1 sefam
SE1=$SER
issue se2 sefam
SE2=$SER
issue se3 sefam
ocsp_status good "OCSP signed in the SE: se1" -issuer sefam.pem -cert se1.pem
ocsp_status good "  nonce-less (now cached): se1" -issuer sefam.pem -cert se1.pem -no_nonce
ocsp_status good "  nonce-less (now cached): se3" -issuer sefam.pem -cert se3.pem -no_nonce
revoke "$SE1" keyCompromise sefam
ocsp_status revoked "  se1 after its revoke" -issuer sefam.pem -cert se1.pem -no_nonce
crl sefam se.crl
check "the SE-signed CRL verifies" openssl crl -in se.crl.pem -CAfile sechain.pem -noout
assert_grep "  se1 on it" "Serial Number: $SE1" se.crl.txt
check_not "  openssl verify -crl_check rejects se1" openssl verify -crl_check -CRLfile se.crl.pem -CAfile root.pem -untrusted sefam.pem se1.pem
chip_stop hsm
# nothing can be signed now; what is cached still serves
ocsp_status revoked "SE down: se1's cached answer still served" -issuer sefam.pem -cert se1.pem -no_nonce
openssl ocsp -issuer sefam.pem -cert se2.pem -no_nonce -reqout se2.req 2>/dev/null
post_raw se2.req
ocsp_error trylater "SE down: a new answer for se2"
openssl ocsp -issuer sefam.pem -cert se2.pem -reqout se2n.req 2>/dev/null
post_raw se2n.req
ocsp_error trylater "SE down: a request with a nonce"
ocsp_status good "SE down: the other issuers still answer" -issuer default.pem -cert good1.pem
revoke "$SE2" superseded sefam
req "SE down: the CRL cannot be rebuilt after a revocation" 503 "$U/crl/sefam.crl"
json_error unavailable
req "SE down: the default issuer's CRL is served" 200 "$U/crl/default.crl"
chip_start hsm
crl sefam se2.crl
assert_eq "SE back: the CRL is rebuilt" "$(head -1 "$HDR" | tr -d '\r' | cut -d' ' -f2)" 200
IT_POS=$((IT_POS + 1))
assert_grep "  with se2 on it" "Serial Number: $SE2" se2.crl.txt
check "  it verifies" openssl crl -in se2.crl.pem -CAfile sechain.pem -noout
ocsp_status revoked "SE back: se2" -issuer sefam.pem -cert se2.pem -no_nonce
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0
chip_stop hsm
vd_start "$IT_TMP/vd4.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:1/pki --threads 2
U=http://127.0.0.1:$VD_PORT
post_raw se2.req
ocsp_error trylater "vouchd started while the SE is down: sefam's CertIDs answer tryLater"
post_raw other.req
ocsp_error unauthorized "  (another CA's CertID is still unauthorized)"
ocsp_status good "  the default issuer answers" -issuer default.pem -cert good1.pem -no_nonce
chip_start hsm
sleep 1.1 # the issuer list is looked at again at most once a second per worker
for i in 1 2 3; do
    ocsp_status revoked "SE up: sefam answers again #$i" -issuer sefam.pem -cert se2.pem -no_nonce
done
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0
chip_stop hsm
assert_no_grep "no key material in the log" 'PRIVATE' "$IT_TMP/vd.log"
assert_no_grep "nothing alarming in the log" 'sanitizer|runtime error|cannot|failed' "$IT_TMP/vd.log"
expect 0 "audit verify afterwards" "$VOUCH" audit verify --data "$CA"

it_done
