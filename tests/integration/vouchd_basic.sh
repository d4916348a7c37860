#!/usr/bin/env bash
# vouchd skeleton: startup refusals, /healthz, bearer auth (missing, wrong,
# malformed, revoked tokens), JSON errors (404, 405, 413), the issuers
# endpoints checked against `openssl x509`, HTTPS (TLS 1.2+ only), a second
# server on a busy port, and a clean SIGTERM shutdown. Specification:
# docs/api.md. Every server binds port 0 and announces its port on stderr.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files

# ---------------------------------------------------------------------------
section "usage and refusals at start (no server left running)"
expect 0 "vouchd --help" "$VOUCHD" --help
assert_grep "help lists --tls-cert" "--tls-cert" "$OUT"
assert_grep "help has EXIT STATUS" "EXIT STATUS" "$OUT"
expect 2 "no options" "$VOUCHD"
expect 2 "unknown option" "$VOUCHD" --frobnicate
"$VOUCH" ca init --data "$CA" --org "Vouchd Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
COMMON=(--listen 127.0.0.1:0 --public-url http://127.0.0.1:1)
expect 2 "missing --data" "$VOUCHD" "${COMMON[@]}"
expect 2 "missing --public-url" "$VOUCHD" --data "$CA" --listen 127.0.0.1:0
expect 2 "bad --public-url" "$VOUCHD" --data "$CA" --listen 127.0.0.1:0 --public-url ftp://x
expect 2 "bad --listen (no port)" "$VOUCHD" --data "$CA" --listen 127.0.0.1 --public-url http://x
expect 2 "bad --listen (name)" "$VOUCHD" --data "$CA" --listen localhost:80 --public-url http://x
expect 2 "bad --listen (port)" "$VOUCHD" --data "$CA" --listen 127.0.0.1:70000 --public-url http://x
expect 2 "bad --threads" "$VOUCHD" --data "$CA" "${COMMON[@]}" --threads 0
expect 2 "--tls-cert without --tls-key" "$VOUCHD" --data "$CA" "${COMMON[@]}" --tls-cert x.pem
mkdir -p empty
expect 5 "empty directory refused" "$VOUCHD" --data "$T/empty" "${COMMON[@]}"
assert_grep "empty directory: says why" "not a vouch data directory" "$ERR"
assert_eq "empty directory left empty" "$(ls -A empty | wc -l)" 0
expect 5 "missing directory refused" "$VOUCHD" --data "$T/nope" "${COMMON[@]}"
echo x >afile
expect 5 "a file as --data refused" "$VOUCHD" --data "$T/afile" "${COMMON[@]}"
mkdir -p fake && cp "$CA/master.key" fake/ && echo "not sqlite" >fake/vouch.db
expect 5 "non-database vouch.db refused" "$VOUCHD" --data "$T/fake" "${COMMON[@]}"
mkdir -p nokey && cp "$CA/vouch.db" nokey/
expect 5 "no master.key refused" "$VOUCHD" --data "$T/nokey" "${COMMON[@]}"
expect 1 "unreadable TLS files refused" "$VOUCHD" --data "$CA" "${COMMON[@]}" --tls-cert nope.pem --tls-key nope.pem

# ---------------------------------------------------------------------------
section "plain HTTP"
vd_start "$IT_TMP/vd1.log" --data "$CA" "${COMMON[@]}" --threads 2
U=http://127.0.0.1:$VD_PORT
AUTH=(-H "Authorization: Bearer $TOKEN")

req "healthz" 200 "$U/healthz"
assert_eq "healthz body" "$(jget 'd["status"]')" ok
req "issuers with the admin token" 200 "${AUTH[@]}" "$U/v1/issuers"
check "issuers list is JSON" python3 -m json.tool "$OUT" >/dev/null
cp "$OUT" list.json
assert_eq "issuers are root and default" "$(jget '",".join(sorted(i["name"] for i in d["issuers"]))')" "default,root"
assert_eq "kinds" "$(jget '",".join(i["kind"] for i in sorted(d["issuers"], key=lambda i: i["name"]))')" "issuing,root"
assert_eq "default's parent is root" "$(jget '[i.get("parent") for i in d["issuers"] if i["name"]=="default"][0]')" root
assert_eq "no private key in the list" "$(grep -c 'PRIVATE' list.json || true)" 0
for n in root default; do
    python3 -c 'import json,sys; print([i for i in json.load(open(sys.argv[1]))["issuers"] if i["name"]==sys.argv[2]][0]["certificate_pem"], end="")' list.json "$n" >"$n.pem"
    assert_eq "$n: serial as openssl prints it" "$(python3 -c 'import json,sys; print([i for i in json.load(open(sys.argv[1]))["issuers"] if i["name"]==sys.argv[2]][0]["serial"])' list.json "$n")" \
        "$(openssl x509 -in "$n.pem" -noout -serial | cut -d= -f2)"
    assert_eq "$n: sha256 fingerprint" "$(python3 -c 'import json,sys; print([i for i in json.load(open(sys.argv[1]))["issuers"] if i["name"]==sys.argv[2]][0]["sha256"])' list.json "$n")" \
        "$(openssl x509 -in "$n.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
done
check "default chains to root (openssl verify)" openssl verify -CAfile root.pem default.pem >/dev/null
req "one issuer" 200 "${AUTH[@]}" "$U/v1/issuers/default"
assert_eq "one issuer: name and parent" "$(jget 'd["name"]+"/"+d["parent"]')" default/root
req "HEAD issuers" 200 -I "${AUTH[@]}" "$U/v1/issuers"

# authentication
req "no token" 401 "$U/v1/issuers"
json_error unauthorized
assert_grep "no token: WWW-Authenticate Bearer" '^www-authenticate: bearer realm=' "$HDR"
req "wrong token" 401 -H "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$U/v1/issuers"
json_error invalid_token
cp "$OUT" wrong.json
assert_grep "wrong token: WWW-Authenticate invalid_token" 'error="invalid_token"' "$HDR"
req "token with one character changed" 401 -H "Authorization: Bearer ${TOKEN%?}$([ "${TOKEN: -1}" = A ] && echo B || echo A)" "$U/v1/issuers"
assert_same_file "changed token: same answer as an unknown one" "$OUT" wrong.json
req "token prefix" 401 -H "Authorization: Bearer ${TOKEN:0:20}" "$U/v1/issuers"
assert_same_file "token prefix: same answer as an unknown one" "$OUT" wrong.json
req "token plus a character" 401 -H "Authorization: Bearer ${TOKEN}x" "$U/v1/issuers"
req "Basic scheme" 401 -H "Authorization: Basic $(printf 'admin:%s' "$TOKEN" | base64 -w0)" "$U/v1/issuers"
json_error unauthorized
req "Bearer without a token" 401 -H "Authorization: Bearer" "$U/v1/issuers"
req "Bearer and spaces" 401 -H "Authorization: Bearer    " "$U/v1/issuers"
req "two tokens" 401 -H "Authorization: Bearer $TOKEN $TOKEN" "$U/v1/issuers"
req "token with a quote" 401 -H "Authorization: Bearer \"$TOKEN\"" "$U/v1/issuers"
json_error invalid_token
req "token glued to the scheme" 401 -H "Authorization: Bearer$TOKEN" "$U/v1/issuers"
req "huge token" 401 -H "Authorization: Bearer $(head -c 3000 /dev/zero | tr '\0' A)" "$U/v1/issuers"
req "garbage header" 401 -H "Authorization: $(head -c 48 /dev/urandom | base64 -w0)" "$U/v1/issuers"
req "one issuer without a token" 401 "$U/v1/issuers/root"
req "unknown /v1 path without a token is 401, not 404" 401 "$U/v1/secrets"
req "lower-case scheme accepted" 200 -H "Authorization: bearer $TOKEN" "$U/v1/issuers"

# paths and methods
req "unknown path" 404 "$U/nope"
json_error not_found
req "unknown /v1 path with a token" 404 "${AUTH[@]}" "$U/v1/secrets"
json_error not_found
req "unknown issuer" 404 "${AUTH[@]}" "$U/v1/issuers/nope"
json_error not_found
req "issuer name with a bad character" 404 "${AUTH[@]}" "$U/v1/issuers/ro%2fot"
json_error not_found
req "issuer path too deep" 404 "${AUTH[@]}" "$U/v1/issuers/root/x"
req "issuers with a trailing slash" 404 "${AUTH[@]}" "$U/v1/issuers/"
req "over-long issuer name" 404 "${AUTH[@]}" "$U/v1/issuers/$(head -c 200 /dev/zero | tr '\0' a)"
req "POST /v1/issuers" 405 -X POST "${AUTH[@]}" -d '{}' "$U/v1/issuers"
json_error method_not_allowed
assert_grep "405 has an Allow header" '^allow: GET' "$HDR"
req "DELETE /v1/issuers/root" 405 -X DELETE "${AUTH[@]}" "$U/v1/issuers/root"
json_error method_not_allowed
req "POST /healthz" 405 -X POST -d x "$U/healthz"
req "TRACE refused before routing" 501 -X TRACE "$U/healthz"

# limits
head -c 100000 /dev/zero | tr '\0' a >big.body
req "100 KB body" 413 -X POST "${AUTH[@]}" --data-binary @big.body "$U/v1/issuers"
json_error payload_too_large
# The transport limit (evhttp's max body size) refuses by the announced
# length alone (the limit is 32 MiB + 64 KiB, for firmware uploads; each
# other route refuses over 64 KiB itself). No body is sent: a client still writing 40 MB when the
# server answers and closes can get EPIPE or a reset before it reads the
# 413 (curl did, now and then, under load).
python3 - "$VD_PORT" >huge.out 2>&1 <<'PY' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /v1/issuers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n")
data = b""
while True:
    try:
        b = s.recv(4096)
    except OSError:
        break
    if not b:
        break
    data += b
print(data.split(b"\r\n", 1)[0].decode("latin-1"))
PY
assert_grep "2 MB body refused by the transport limit (413)" '^HTTP/1\.1 413' huge.out
req "64 KB of headers refused (transport: 400)" 400 -H "X-Big: $(head -c 65536 /dev/zero | tr '\0' a)" "$U/healthz"
# raw garbage on the socket: a 400, and the server carries on
python3 - "$VD_PORT" >raw.out 2>&1 <<'PY' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x16\x03\x01garbage that is not http\r\n\r\n")
print(s.recv(200).split(b"\r\n")[0].decode("latin-1"))
PY
IT_NEG=$((IT_NEG + 1))
assert_grep "garbage request gets a 400" '^HTTP/1\.[01] 400' raw.out
req "still serving after the bad requests" 200 "$U/healthz"

# concurrent requests across the worker threads (each has its own store
# connection): 200 authenticated requests, 8 at a time, all answered
seq 200 | xargs -P 8 -I{} curl -s -o /dev/null --max-time "$CURL_MAX" -w '%{http_code}\n' \
    "${AUTH[@]}" "$U/v1/issuers/root" >conc.out 2>&1 || true
IT_POS=$((IT_POS + 1))
assert_eq "200 concurrent requests all 200" "$(grep -c '^200$' conc.out)" 200

# a second server on the same port
IT_NEG=$((IT_NEG + 1))
if timeout 10 "$VOUCHD" --data "$CA" --listen "127.0.0.1:$VD_PORT" --public-url http://x 2>second.err; then
    RC=0
else
    RC=$?
fi
assert_eq "second vouchd on the same port: exit 1" "$RC" 1
assert_grep "second vouchd: says the address is in use" "cannot listen on 127\.0\.0\.1:$VD_PORT: address already in use" second.err
req "first server unaffected" 200 "$U/healthz"

# shutdown with an idle keep-alive connection open
exec 7<>"/dev/tcp/127.0.0.1/$VD_PORT"
vd_stop
exec 7>&- 7<&-
IT_POS=$((IT_POS + 1))
assert_eq "SIGTERM with an idle connection: exit 0 within 5 s" "$VD_RC" 0
assert_grep "logs the shutdown" "SIGTERM: shutting down" "$VD_LOG"

# ---------------------------------------------------------------------------
section "HTTPS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
    -out tls.crt -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null ||
    die "openssl cannot make a test certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
    -out other.crt -subj /CN=other -days 2 2>/dev/null || die "openssl cannot make a test certificate"
expect 1 "TLS key that does not match the certificate" "$VOUCHD" --data "$CA" "${COMMON[@]}" --tls-cert tls.crt --tls-key other.key
assert_grep "mismatch: says so" "does not match|mismatch" "$ERR"
vd_start "$IT_TMP/vd2.log" --data "$CA" --listen 127.0.0.1:0 --public-url https://127.0.0.1:1 --tls-cert tls.crt --tls-key tls.key --threads 3
assert_grep "announces https" "listening on https://" "$VD_LOG"
S=https://127.0.0.1:$VD_PORT
req "HTTPS healthz with --cacert" 200 --cacert tls.crt "$S/healthz"
req "HTTPS issuers with --cacert" 200 --cacert tls.crt "${AUTH[@]}" "$S/v1/issuers"
assert_eq "HTTPS issuers" "$(jget '",".join(sorted(i["name"] for i in d["issuers"]))')" "default,root"
req "HTTPS without a token" 401 --cacert tls.crt "$S/v1/issuers"
req "HTTPS TLS 1.2 exactly" 200 --cacert tls.crt --tlsv1.2 --tls-max 1.2 "$S/healthz"
req "HTTPS TLS 1.3" 200 --cacert tls.crt --tlsv1.3 "$S/healthz"
req "HTTPS TLS 1.1 refused" 000 --cacert tls.crt --tlsv1.1 --tls-max 1.1 "$S/healthz"
IT_NEG=$((IT_NEG + 1))
if timeout 10 openssl s_client -connect "127.0.0.1:$VD_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >s11.out 2>&1; then
    fail "openssl s_client -tls1_1 completed a handshake"
else
    pass "openssl s_client -tls1_1 (SECLEVEL 0 on the client) gets no handshake"
fi
req "HTTPS without the CA is not trusted" 000 "$S/healthz"
req "plain HTTP to the HTTPS port" 000 "http://127.0.0.1:$VD_PORT/healthz"
req "HTTPS still serving" 200 --cacert tls.crt "$S/healthz"
vd_stop
IT_POS=$((IT_POS + 1))
assert_eq "HTTPS server: SIGTERM exit 0 within 5 s" "$VD_RC" 0

# ---------------------------------------------------------------------------
section "file descriptors exhausted: no spinning, serves again afterwards"
VD_PREFIX=(prlimit --nofile=32:32)
vd_start "$IT_TMP/vd4.log" --data "$CA" "${COMMON[@]}" --threads 1
VD_PREFIX=(env)
U=http://127.0.0.1:$VD_PORT
python3 - "$VD_PORT" >fd.out 2>&1 <<'PY' &
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) for _ in range(60)]
time.sleep(2.5)
PY
HOG=$!
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$VD_PID/stat"; }
T0=$(ticks)
sleep 1
T1=$(ticks)
IT_NEG=$((IT_NEG + 1))
if [ $((T1 - T0)) -lt 30 ]; then pass "out of fds: under 0.3 s of CPU in 1 s ($((T1 - T0)) ticks)"; else fail "out of fds: vouchd spins ($((T1 - T0)) ticks of CPU in 1 s)"; fi
assert_grep "out of fds: logged" "cannot accept a connection: too many open files" "$VD_LOG"
IT_NEG=$((IT_NEG + 1))
assert_eq "out of fds: at most a few log lines" "$(($(grep -c 'cannot accept' "$VD_LOG") <= 8))" 1
wait "$HOG" || true
req "serving again once the connections close" 200 "$U/healthz"
vd_stop
assert_eq "SIGTERM after fd exhaustion: exit 0" "$VD_RC" 0

# ---------------------------------------------------------------------------
section "revoked token, SIGINT"
python3 - "$CA/vouch.db" <<'PY' || die "cannot revoke the token in the database"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("UPDATE api_tokens SET revoked = 1")
con.close()
PY
vd_start "$IT_TMP/vd3.log" --data "$CA" "${COMMON[@]}" --threads 1
U=http://127.0.0.1:$VD_PORT
req "revoked admin token" 401 "${AUTH[@]}" "$U/v1/issuers"
assert_same_file "revoked token: same answer as an unknown one" "$OUT" wrong.json
req "healthz needs no token" 200 "$U/healthz"
kill -INT "$VD_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$VD_PID" 2>/dev/null || break; sleep 0.05; done
if wait "$VD_PID"; then RC=0; else RC=$?; fi
VD_PID=""
assert_eq "SIGINT: exit 0" "$RC" 0

it_done
