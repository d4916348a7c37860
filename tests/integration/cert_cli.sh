#!/usr/bin/env bash
# vouch cert / crl / template / ca list --server against a real vouchd:
# every command through the server, outputs judged by the openssl command
# (chains verify, `cert get --chain` is leaf/intermediate/root, serials as
# `openssl x509 -serial`, CRLs with the revocations); HTTPS with a private
# CA and name checks; and the refusals with their exit statuses (no server,
# unreachable, bad or unsafe token, unknown template/issuer/serial, bad CSR,
# revoke twice, bad reason/serial/duration, wrong --cacert), plus a fake
# server for answers vouchd never gives (too large, not JSON, redirects,
# silence). Specification: docs/cli.md, docs/api.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
ALLOUT=$IT_TMP/all-output # every stdout/stderr of the CLI, to look for the token
: >"$ALLOUT"
unset VOUCH_SERVER VOUCH_TOKEN VOUCH_TOKEN_FILE VOUCH_CACERT

# vx CODES DESC ARGS...: `vouch ARGS` with expect; keeps what it printed.
vx() {
    local want=$1 desc=$2
    shift 2
    expect "$want" "$desc" "$VOUCH" "$@"
    cat "$OUT" "$ERR" >>"$ALLOUT"
}
# v CODES DESC GROUP ARGS...: vouch GROUP against the http server, with the
# token file (group options right after the group name).
v() { vx "$1" "$2" "$3" --server "$U" --token-file "$TOK" "${@:4}"; }
# pem_subjects FILE: "subject|issuer" of each certificate in FILE, one per line.
pem_subjects() {
    python3 - "$1" <<'PY'
import re, subprocess, sys
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", open(sys.argv[1]).read(), re.S)
for p in pems:
    out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253"],
                         input=p.encode(), capture_output=True).stdout.decode().splitlines()
    print(out[0].split("=", 1)[1] + "|" + out[1].split("=", 1)[1])
PY
}
quiet() { "$@" >/dev/null 2>&1; }
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo "<not json>"; }

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "Cert CLI Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
TOK=$T/token
cp "$CA/admin.token" "$TOK"
chmod 600 "$TOK"
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9/pki --threads 2
U=http://127.0.0.1:$VD_PORT
newcsr() { # KEYFILE CSRFILE SUBJECT [alg opts...]
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
        -subj "$3" -out "$2" 2>/dev/null || die "openssl req failed"
}
newcsr dev.key dev.csr "/CN=dev-0001/O=Cert CLI Test"
newcsr dev2.key dev2.csr "/CN=dev-0002/O=Cert CLI Test"
newcsr new.key new.csr "/CN=dev-0001/O=Cert CLI Test"
newcsr oth.key oth.csr "/CN=someone-else/O=Cert CLI Test"
openssl req -in dev2.csr -outform DER -out dev2.csr.der

# ---------------------------------------------------------------------------
section "help"
vx 0 "vouch --help lists cert, crl, template" --help
assert_grep "top help: cert" '^ +cert ' "$OUT"
assert_grep "top help: crl" '^ +crl ' "$OUT"
assert_grep "top help: template" '^ +template ' "$OUT"
for g in cert crl template; do
    vx 0 "vouch $g --help" "$g" --help
    assert_grep "$g --help: EXIT STATUS" '^EXIT STATUS' "$OUT"
done
for c in issue get list revoke renew rekey sync; do
    vx 0 "vouch cert $c --help" cert "$c" --help
    assert_grep "cert $c --help: SYNOPSIS" '^SYNOPSIS' "$OUT"
    assert_grep "cert $c --help: --server" '--server URL' "$OUT"
    assert_grep "cert $c --help: status 4" '^ +4 +communication' "$OUT"
done
vx 0 "vouch crl get --help" crl get --help
vx 0 "vouch template put --help" template put --help
vx 0 "vouch ca list --help with --server" ca --server "$U" list --help
assert_grep "ca list --help (server): GET /v1/issuers" 'v1/issuers' "$OUT"
vx 0 "vouch cert help revoke" cert help revoke
assert_grep "cert help revoke: lists reasons" 'cessationOfOperation' "$OUT"

# ---------------------------------------------------------------------------
section "issue"
v 0 "issue (device)" cert issue --csr dev.csr --template device --out leaf.pem --chain-out chain.pem
SERIAL=$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2)
assert_eq "printed serial is openssl x509 -serial" "$(sed -n 's/^serial: *//p' "$OUT")" "$SERIAL"
assert_grep "summary: issuer default" '^issuer: +default$' "$OUT"
assert_grep "summary: template device" '^template: +device$' "$OUT"
assert_eq "summary: not after is the certificate's" "$(sed -n 's/^not after: *//p' "$OUT")" \
    "$(date -u -d "$(openssl x509 -in leaf.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
assert_eq "chain-out: issuing CA then root" "$(grep -c 'BEGIN CERTIFICATE' chain.pem)" 2
awk '/BEGIN CERT/{n++} n==1' chain.pem >issuing.pem
awk '/BEGIN CERT/{n++} n==2' chain.pem >root.pem
check "openssl verify: leaf -> issuing -> root" quiet openssl verify -CAfile root.pem -untrusted issuing.pem leaf.pem
"$VOUCH" ca export --data "$CA" --name root --out root-ca.pem 2>/dev/null
assert_same_file "chain's root is the CA's root" root.pem root-ca.pem
check "the key is the CSR's" cmp -s <(openssl x509 -in leaf.pem -noout -pubkey) <(openssl req -in dev.csr -noout -pubkey)
assert_grep "leaf subject" 'CN ?= ?dev-0001' <(openssl x509 -in leaf.pem -noout -subject)
v 0 "issue --json (DER CSR, issuer named)" cert issue --csr dev2.csr.der --template device --issuer default --json
cp "$OUT" issued2.json
SERIAL2=$(jq_ issued2.json 'd["serial"]')
assert_eq "--json: template" "$(jq_ issued2.json 'd["template"]')" device
assert_eq "--json: chain of 2" "$(jq_ issued2.json 'len(d["chain"])')" 2
assert_eq "--json: one line" "$(wc -l <issued2.json)" 1
python3 -c 'import json,sys; open("leaf2.pem","w").write(json.load(open(sys.argv[1]))["certificate"])' issued2.json
assert_eq "--json serial is openssl's" "$SERIAL2" "$(openssl x509 -in leaf2.pem -noout -serial | cut -d= -f2)"
v 0 "issue to stdout" cert issue --csr dev.csr --template device
check "stdout is one PEM certificate" openssl x509 -in "$OUT" -noout
SERIAL3=$(openssl x509 -in "$OUT" -noout -serial | cut -d= -f2)
assert_ne "another serial" "$SERIAL3" "$SERIAL"

# ---------------------------------------------------------------------------
section "get"
v 0 "get (PEM to stdout)" cert get "$SERIAL"
assert_same_file "get: the issued PEM" "$OUT" leaf.pem
v 0 "get --out" cert get "$SERIAL" --out got.pem
assert_same_file "get --out: the issued PEM" got.pem leaf.pem
v 0 "get --der" cert get "$SERIAL" --der --out got.der
openssl x509 -in leaf.pem -outform DER -out leaf.der
assert_same_file "get --der: the DER" got.der leaf.der
v 0 "get --chain" cert get "$SERIAL" --chain --out full.pem
pem_subjects full.pem >full.txt
assert_eq "--chain: three certificates" "$(wc -l <full.txt)" 3
assert_eq "--chain: first is the leaf" "$(sed -n 1p full.txt | cut -d'|' -f1)" "$(openssl x509 -in leaf.pem -noout -subject -nameopt RFC2253 | cut -d= -f2-)"
assert_eq "--chain: second issued the first" "$(sed -n 2p full.txt | cut -d'|' -f1)" "$(sed -n 1p full.txt | cut -d'|' -f2)"
assert_eq "--chain: third issued the second" "$(sed -n 3p full.txt | cut -d'|' -f1)" "$(sed -n 2p full.txt | cut -d'|' -f2)"
assert_eq "--chain: third is self-signed (root)" "$(sed -n 3p full.txt | cut -d'|' -f1)" "$(sed -n 3p full.txt | cut -d'|' -f2)"
check "--chain verifies as leaf + untrusted intermediate" quiet openssl verify -CAfile root-ca.pem -untrusted <(awk '/BEGIN CERT/{n++} n==2' full.pem) leaf.pem
v 0 "get --json" cert get "$SERIAL" --json
assert_eq "--json: status active" "$(jq_ "$OUT" 'd["status"]')" active
assert_eq "--json: device_id" "$(jq_ "$OUT" 'd["device_id"]')" dev-0001
assert_eq "--json: serial" "$(jq_ "$OUT" 'd["serial"]')" "$SERIAL"
LOWER=$(tr 'A-F' 'a-f' <<<"$SERIAL")
COLONS=$(openssl x509 -in leaf.pem -noout -text | grep -A1 'Serial Number:' | tail -1 | tr -d ' ')
v 0 "get: lower-case serial" cert get "$LOWER" --out g1.pem
assert_same_file "lower-case serial: same certificate" g1.pem leaf.pem
v 0 "get: serial=... as openssl prints it" cert get "$(openssl x509 -in leaf.pem -noout -serial)" --out g2.pem
assert_same_file "serial= prefix: same certificate" g2.pem leaf.pem
v 0 "get: colon form of openssl x509 -text ($COLONS)" cert get "$COLONS" --out g3.pem
assert_same_file "colon form: same certificate" g3.pem leaf.pem
v 0 "get --issuer default" cert get "$SERIAL" --issuer default --out g4.pem
assert_same_file "--issuer: same certificate" g4.pem leaf.pem

# ---------------------------------------------------------------------------
section "list"
v 0 "list (table)" cert list
assert_grep "table header" '^SERIAL +ISSUER +STATUS +TEMPLATE +DEVICE ID +NOT AFTER$' "$OUT"
assert_grep "table: the first certificate" "^$SERIAL +default +active +device +dev-0001 +20" "$OUT"
assert_eq "table: 3 rows" "$(($(wc -l <"$OUT") - 1))" 3
v 0 "list --json" cert list --json
assert_eq "--json: an array of 3" "$(jq_ "$OUT" 'len(d)')" 3
assert_eq "--json: no certificate PEM in the records" "$(jq_ "$OUT" 'sum("certificate" in x for x in d)')" 0
v 0 "list --limit 1" cert list --limit 1
assert_eq "--limit 1: one row" "$(($(wc -l <"$OUT") - 1))" 1
assert_grep "--limit 1: stderr says more match" 'more certificates match.*--cursor' "$ERR"
CUR=$(sed -n 's/.*--cursor \([^ ]*\) the next one.*/\1/p' "$ERR")
v 0 "list --limit 1 --cursor" cert list --limit 1 --cursor "$CUR" --json
assert_eq "--cursor: the second certificate" "$(jq_ "$OUT" 'd[0]["serial"]')" "$SERIAL2"
v 0 "list --limit 1 --all" cert list --limit 1 --all --json
assert_eq "--all: every page (3)" "$(jq_ "$OUT" 'len(d)')" 3
assert_no_grep "--all: nothing more to fetch" 'more certificates' "$ERR"
v 0 "list --json-lines --all --limit 2" cert list --json-lines --all --limit 2
assert_eq "--json-lines: 3 lines" "$(wc -l <"$OUT")" 3
check "--json-lines: each line is JSON" python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$OUT"
v 0 "list --device-id dev-0002" cert list --device-id dev-0002 --json
assert_eq "--device-id: one" "$(jq_ "$OUT" '[x["serial"] for x in d]')" "['$SERIAL2']"
v 0 "list --template device --status active --issuer default" cert list --template device --status active --issuer default --json
assert_eq "filters: 3" "$(jq_ "$OUT" 'len(d)')" 3
v 0 "list --expiring 3700d" cert list --expiring 3700d --json
assert_eq "--expiring 3700d: all 3 (10-year certificates)" "$(jq_ "$OUT" 'len(d)')" 3
v 0 "list --expiring 1d" cert list --expiring 1d
assert_eq "--expiring 1d: none" "$(wc -c <"$OUT")" 0
assert_grep "--expiring 1d: says so" 'no certificate matches' "$ERR"
v 0 "list --issued-since 1h" cert list --issued-since 1h --json
assert_eq "--issued-since 1h: 3" "$(jq_ "$OUT" 'len(d)')" 3
v 0 "list --issued-since a date" cert list --issued-since 2000-01-01 --json
assert_eq "--issued-since 2000-01-01: 3" "$(jq_ "$OUT" 'len(d)')" 3
v 0 "list --issued-since in the future" cert list --issued-since "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" --json
assert_eq "--issued-since tomorrow: none" "$(jq_ "$OUT" 'len(d)')" 0
v 0 "list --template gateway" cert list --template gateway --json
assert_eq "--template gateway: none" "$(jq_ "$OUT" 'len(d)')" 0

# ---------------------------------------------------------------------------
section "revoke"
v 0 "revoke --reason key-compromise (no --issuer)" cert revoke "$SERIAL" --reason key-compromise
assert_grep "revoke: says so" "^revoked $SERIAL \(issuer default\), reason keyCompromise, at 20" "$OUT"
v 0 "get --json after revoke" cert get "$SERIAL" --json
assert_eq "status revoked" "$(jq_ "$OUT" 'd["status"]')" revoked
assert_eq "reason keyCompromise" "$(jq_ "$OUT" 'd["reason"]')" keyCompromise
v 3 "revoke twice" cert revoke "$SERIAL" --reason keyCompromise
assert_grep "revoke twice: 409 already_revoked" 'HTTP 409 already_revoked' "$ERR"
v 0 "revoke SERIAL3 --reason CessationOfOperation --json" cert revoke "$SERIAL3" --issuer default --reason CessationOfOperation --json
assert_eq "revoke --json: reason" "$(jq_ "$OUT" 'd["reason"]')" cessationOfOperation
v 0 "list --status revoked" cert list --status revoked --json
assert_eq "two revoked" "$(jq_ "$OUT" 'sorted(x["serial"] for x in d)')" "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$SERIAL" "$SERIAL3")"
v 0 "list --revoked-since 1h" cert list --revoked-since 1h --json
assert_eq "--revoked-since: two" "$(jq_ "$OUT" 'len(d)')" 2

# ---------------------------------------------------------------------------
section "crl"
vx 0 "crl get (DER, no token)" crl --server "$U" get --out default.crl
check "CRL verifies with the issuing CA" quiet openssl crl -inform DER -in default.crl -CAfile issuing.pem -noout
openssl crl -inform DER -in default.crl -noout -text >crl.txt
assert_grep "CRL lists the first revocation" "Serial Number: $SERIAL" crl.txt
assert_grep "CRL: reason Key Compromise" 'Key Compromise' crl.txt
assert_grep "CRL lists the second" "Serial Number: $SERIAL3" crl.txt
vx 0 "crl get --pem" crl --server "$U" get --issuer default --pem --out default.crl.pem
check "PEM CRL is the DER one" cmp -s <(openssl crl -in default.crl.pem -outform DER) default.crl
vx 0 "crl get --json" crl --server "$U" get --json
assert_eq "crl --json: 2 revoked" "$(jq_ "$OUT" 'd["revoked"]')" 2
vx 0 "crl get to stdout" crl --server "$U" get
assert_same_file "crl to stdout: the same DER" "$OUT" default.crl
vx 3 "crl get --issuer nope" crl --server "$U" get --issuer nope

# ---------------------------------------------------------------------------
section "renew and rekey"
v 0 "renew SERIAL2" cert renew "$SERIAL2" --out renewed.pem --chain-out renewed-chain.pem
RSER=$(openssl x509 -in renewed.pem -noout -serial | cut -d= -f2)
assert_eq "renew: printed serial" "$(sed -n 's/^serial: *//p' "$OUT")" "$RSER"
assert_eq "renew: renewed from" "$(sed -n 's/^renewed from: *//p' "$OUT")" "$SERIAL2"
assert_ne "renew: a new serial" "$RSER" "$SERIAL2"
check "renew: same key" cmp -s <(openssl x509 -in renewed.pem -noout -pubkey) <(openssl x509 -in leaf2.pem -noout -pubkey)
check "renew: verifies" quiet openssl verify -CAfile root.pem -untrusted issuing.pem renewed.pem
v 3 "renew a revoked certificate" cert renew "$SERIAL"
assert_grep "renew revoked: 409 certificate_revoked" 'HTTP 409 certificate_revoked' "$ERR"
assert_grep "renew revoked: hint rekey" 'hint: .*rekey' "$ERR"
v 0 "rekey the revoked one (new key, same subject)" cert rekey "$SERIAL" --csr new.csr --out rekeyed.pem --json
assert_eq "rekey --json: renewed_from" "$(jq_ "$OUT" 'd["renewed_from"]')" "$SERIAL"
check "rekey: the new key" cmp -s <(openssl x509 -in rekeyed.pem -noout -pubkey) <(openssl req -in new.csr -noout -pubkey)
check "rekey: verifies" quiet openssl verify -CAfile root.pem -untrusted issuing.pem rekeyed.pem
v 3 "rekey with another subject" cert rekey "$SERIAL" --csr oth.csr
assert_grep "rekey: 422 subject_mismatch" 'HTTP 422 subject_mismatch' "$ERR"

# ---------------------------------------------------------------------------
section "sync"
v 0 "sync --after 0 --json" cert sync --after 0 --json
cp "$OUT" sync.json
assert_eq "sync: every certificate once (5)" "$(jq_ sync.json 'len(set(c["serial"] for c in d["changes"]))')" 5
assert_eq "sync: with PEM" "$(jq_ sync.json 'all(c["certificate"].startswith("-----BEGIN") for c in d["changes"])')" True
CURSOR=$(jq_ sync.json 'd["cursor"]')
v 0 "sync --after CURSOR (text)" cert sync --after "$CURSOR"
assert_eq "sync: nothing after the cursor" "$(cat "$OUT")" "cursor $CURSOR"
v 0 "sync --after 0 --limit 2" cert sync --after 0 --limit 2
assert_grep "sync --limit 2: more" '^cursor [0-9]+ \(more' "$OUT"

# ---------------------------------------------------------------------------
section "templates"
v 0 "template list" template list
assert_grep "template list: device" '^device +3650 ' "$OUT"
v 0 "template get device" template get device --out device.json
check "template get: JSON object" python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), dict)' device.json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["name"]="meter"; d["validity_days"]=30; json.dump(d, open("meter.json","w"))' device.json
v 0 "template put meter (new)" template put meter --in meter.json
assert_grep "put: created" '^template meter created$' "$OUT"
v 0 "template put meter again" template put meter --in meter.json
assert_grep "put: replaced" '^template meter replaced$' "$OUT"
v 0 "issue under meter" cert issue --csr dev2.csr --template meter --out meter.pem
assert_eq "meter: 30 days" "$(( ($(date -d "$(openssl x509 -in meter.pem -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in meter.pem -noout -startdate | cut -d= -f2)" +%s)) / 86400 ))" 30
v 5 "template put: not JSON" template put x --in dev.csr
v 2 "template put: name differs" template put other --in meter.json
echo '{"name":"bad","validity_days":"long"}' >bad.json
v 3 "template put: server refuses" template put bad --in bad.json
assert_grep "server's validation message" 'HTTP 400 bad_request' "$ERR"
v 3 "template get nope" template get nope
assert_grep "template get nope: unknown_template" 'unknown_template' "$ERR"

# ---------------------------------------------------------------------------
section "ca list"
v 0 "ca list --server" ca list
assert_grep "ca list: default issuing, signed by root" '^default \(issuing, signed by root\)$' "$OUT"
assert_grep "ca list: root" '^root \(root\)$' "$OUT"
ISS_SER=$(openssl x509 -in issuing.pem -noout -serial | cut -d= -f2)
assert_grep "ca list: serial as openssl" "serial +$ISS_SER" "$OUT"
v 0 "ca list --server --json" ca list --json
assert_eq "ca list --json: issuers" "$(jq_ "$OUT" '[i["name"] for i in d["issuers"]]')" "['root', 'default']"
VOUCH_SERVER=$U VOUCH_TOKEN=$TOKEN vx 0 "ca list with VOUCH_SERVER and VOUCH_TOKEN" ca list
assert_grep "env: server-backed" '^default \(issuing' "$OUT"
VOUCH_SERVER=$U vx 0 "ca list --data with VOUCH_SERVER: offline" ca list --data "$CA"
assert_grep "offline list shows 'key'" 'key +encrypted' "$OUT"
vx 0 "ca --data DIR list (offline, no server)" ca --data "$CA" list
vx 2 "ca list --server and --data" ca --data "$CA" list --server "$U"
VOUCH_SERVER=$U vx 0 "ca export is never routed to the server" ca export --data "$CA" --name root

# ---------------------------------------------------------------------------
section "environment"
VOUCH_SERVER=$U VOUCH_TOKEN_FILE=$TOK vx 0 "VOUCH_SERVER + VOUCH_TOKEN_FILE" cert get "$SERIAL2" --out e1.pem
assert_same_file "env: same certificate" e1.pem leaf2.pem
VOUCH_SERVER=$U VOUCH_TOKEN=$TOKEN VOUCH_TOKEN_FILE=/nonexistent vx 0 "VOUCH_TOKEN before VOUCH_TOKEN_FILE" cert list
VOUCH_SERVER=http://127.0.0.1:1 vx 0 "--server before VOUCH_SERVER" cert list --server "$U" --token-file "$TOK"
VOUCH_TOKEN=wrong-token vx 0 "--token-file before VOUCH_TOKEN" cert list --server "$U" --token-file "$TOK"
vx 0 "group options after the command" cert get "$SERIAL2" --server "$U" --token-file "$TOK" --json
vx 0 "group options before the command" cert --server "$U" --token-file "$TOK" --json get "$SERIAL2"

# ---------------------------------------------------------------------------
section "refusals: configuration and token"
vx 2 "no server" cert list --token-file "$TOK"
assert_grep "no server: names --server and VOUCH_SERVER" '--server URL.*VOUCH_SERVER' "$ERR"
vx 2 "no token" cert list --server "$U"
assert_grep "no token: names the ways" 'token-file.*VOUCH_TOKEN' "$ERR"
vx 2 "bad URL scheme" cert list --server ftp://127.0.0.1:1 --token-file "$TOK"
vx 2 "URL without host" cert list --server http:// --token-file "$TOK"
vx 2 "URL with a query" cert list --server "$U/?x=1" --token-file "$TOK"
vx 2 "--cacert with http" cert list --server "$U" --token-file "$TOK" --cacert root.pem
vx 2 "--timeout 0" cert list --server "$U" --token-file "$TOK" --timeout 0
printf 'not-the-token\n' >badtok
chmod 600 badtok
vx 3 "wrong token" cert list --server "$U" --token-file badtok
assert_grep "wrong token: 401 invalid_token" 'HTTP 401 invalid_token' "$ERR"
assert_grep "wrong token: hint" 'hint: .*token' "$ERR"
VOUCH_TOKEN=not-the-token vx 3 "wrong VOUCH_TOKEN" cert list --server "$U"
VOUCH_TOKEN='two words' vx 2 "VOUCH_TOKEN that is not a token" cert list --server "$U"
vx 5 "token file missing" cert list --server "$U" --token-file "$T/nope"
cp "$TOK" wtok
chmod 644 wtok
vx 5 "world-readable token file" cert list --server "$U" --token-file wtok
assert_grep "world-readable: says why" 'permissions 0644 .* too open.*chmod 600' "$ERR"
chmod 640 wtok
vx 5 "group-readable token file (ours)" cert list --server "$U" --token-file wtok
chmod 604 wtok
vx 5 "world-readable, not group" cert list --server "$U" --token-file wtok
VOUCH_TOKEN_FILE=$T/wtok vx 5 "VOUCH_TOKEN_FILE world-readable" cert list --server "$U"
: >emptytok
chmod 600 emptytok
vx 5 "empty token file" cert list --server "$U" --token-file emptytok
vx 5 "token file is a directory" cert list --server "$U" --token-file "$T"
vx 0 "crl get needs no token" crl --server "$U" get --out /dev/null

section "refusals: server answers"
v 3 "unknown template" cert issue --csr dev.csr --template no-such-template --out x.pem
assert_grep "unknown template: server message and code" 'HTTP 404 unknown_template' "$ERR"
check "unknown template: no output file" test ! -e x.pem
v 3 "unknown issuer (issue)" cert issue --csr dev.csr --template device --issuer nope
assert_grep "unknown issuer: 404 unknown_issuer" 'HTTP 404 unknown_issuer' "$ERR"
v 3 "unknown issuer (get)" cert get "$SERIAL" --issuer nope
v 3 "the root issues no leaves" cert issue --csr dev.csr --template device --issuer root
v 3 "template rule broken (CN pattern)" cert issue --csr <(openssl req -new -key oth.key -subj "/CN=bad name!" 2>/dev/null) --template device
assert_grep "template violation: 422" 'HTTP 422 template_violation' "$ERR"
v 3 "unknown serial (get)" cert get 0123456789ABCDEF
assert_grep "unknown serial: clear message" 'no certificate with serial 0123456789ABCDEF' "$ERR"
v 3 "unknown serial (revoke)" cert revoke 0123456789ABCDEF --reason superseded
v 3 "unknown serial (renew)" cert renew 0123456789ABCDEF
v 3 "serial of another issuer" cert get "$SERIAL" --issuer root
assert_grep "other issuer: 404 not_found" 'HTTP 404 not_found' "$ERR"

section "refusals: local input"
echo "garbage" >garbage.csr
v 5 "CSR file of garbage" cert issue --csr garbage.csr --template device
v 5 "CSR file missing" cert issue --csr nope.csr --template device
python3 - <<'PY'
import base64
pem = open("dev.csr").read()
der = bytearray(base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----"))))
der[-1] ^= 0x01
b = base64.b64encode(bytes(der)).decode()
open("badsig.csr", "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(b[i:i+64] for i in range(0, len(b), 64)) + "\n-----END CERTIFICATE REQUEST-----\n")
PY
v 5 "CSR with a bad signature" cert issue --csr badsig.csr --template device
assert_grep "bad signature: says so" 'does not verify' "$ERR"
v 5 "rekey with a garbage CSR" cert rekey "$SERIAL" --csr garbage.csr
v 5 "output file not writable" cert get "$SERIAL2" --out /nonexistent/dir/x.pem
v 2 "missing --csr" cert issue --template device
v 2 "missing --template" cert issue --csr dev.csr
v 2 "bad template name" cert issue --csr dev.csr --template 'a/b'
v 2 "missing SERIAL" cert get
v 2 "--der with --chain" cert get "$SERIAL" --der --chain
v 2 "--json with --der" cert get "$SERIAL" --json --der
v 2 "--json with --json-lines" cert list --json --json-lines
v 2 "--out and --chain-out the same" cert issue --csr dev.csr --template device --out a.pem --chain-out a.pem
v 2 "unknown option" cert list --colour
v 2 "unknown command" cert frobnicate
for bad in "xyz" "12 34" "0x1234" "5A:0C:1" ":5A" "5A:" "$(printf 'A%.0s' {1..41})" "" "serial=" "5a::0c"; do
    v 2 "bad serial '$bad'" cert get "$bad"
done
assert_grep "bad serial: explains the format" "openssl x509 -serial" "$ERR"
v 2 "bad reason" cert revoke "$SERIAL2" --reason stolen
assert_grep "bad reason: lists the reasons" 'keyCompromise +or key-compromise' "$ERR"
assert_grep "bad reason: lists cessationOfOperation" 'cessationOfOperation' "$ERR"
v 2 "removeFromCRL refused" cert revoke "$SERIAL2" --reason removeFromCRL
v 2 "missing --reason" cert revoke "$SERIAL2"
v 0 "SERIAL2 still active after the refusals" cert get "$SERIAL2" --json
assert_eq "refusals changed nothing" "$(jq_ "$OUT" 'd["status"]')" active
for bad in 7x 7 d 0 -7d "7 d" 7dd 1.5h 9999999999d ""; do
    if [ "$bad" = 7 ]; then
        v 0 "--expiring 7 (seconds) is valid" cert list --expiring 7
        continue
    fi
    v 2 "--expiring '$bad'" cert list --expiring "$bad"
done
for bad in yesterday 2026-13-01 2026-01-01T00:00:00 2026-01-01T25:00:00Z 12345678901234 1w; do
    v 2 "--issued-since '$bad'" cert list --issued-since "$bad"
done
v 2 "--status bogus" cert list --status bogus
v 2 "--limit 0" cert list --limit 0
v 2 "--limit 1001" cert list --limit 1001
v 2 "--device-id with a newline" cert list --device-id "$(printf 'a\nb')"
v 2 "sync --after -1" cert sync --after -1
v 2 "sync --limit 10001" cert sync --limit 10001

# ---------------------------------------------------------------------------
section "unreachable and misbehaving servers"
# a port that refuses: bind one, note it, release it
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
vx 4 "unreachable server" cert list --server "http://127.0.0.1:$DEAD" --token-file "$TOK"
assert_grep "unreachable: says cannot connect" 'cannot connect to http://127.0.0.1:[0-9]+.*refused' "$ERR"
vx 4 "unresolvable host" cert list --server "http://no-such-host.invalid:8443" --token-file "$TOK"
assert_grep "unresolvable: says so" 'cannot resolve no-such-host.invalid' "$ERR"
vx 4 "https to the http server" cert list --server "https://127.0.0.1:$VD_PORT" --token-file "$TOK"
vx 0 "localhost (tries each address)" cert list --server "http://localhost:$VD_PORT" --token-file "$TOK"

# A fake server for what vouchd never answers; its first path segment picks
# the misbehaviour (the base URL's prefix: --server http://.../huge).
cat >fake.py <<'PY'
import http.server, json, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        try: self.wfile.write(body)
        except Exception: pass
    def do_GET(self):
        mode = self.path.split("/")[1]
        if mode == "echo":
            with open(sys.argv[2], "a") as f:
                f.write(json.dumps({"path": self.path, "headers": dict(self.headers)}) + "\n")
            if self.path.endswith(".crl"):
                self.send(404, b'{"error":{"code":"not_found","message":"echo"}}')
            else:
                self.send(200, b'{"certificates":[]}')
        elif mode == "huge":
            self.send(200, b" " * (33 << 20))
        elif mode == "notjson":
            self.send(200, b"hello", "text/plain")
        elif mode == "redirect":
            self.send(302, b"", "text/plain", [("Location", "http://example.invalid/")])
        elif mode == "html500":
            self.send(500, b"<html>oops</html>", "text/html")
        elif mode == "nocursor":
            self.send(200, json.dumps({"certificates":[{"serial":"01","issuer":"default"}],"next_cursor":"same"}).encode())
        elif mode == "badpem":
            self.send(200, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "application/x-pem-file")
        elif mode == "junkpem":
            self.send(200, b"\x1b[2Jjunk\n" + open("leaf.pem", "rb").read() + b"\x1b]0;title\x07\n", "application/x-pem-file")
        elif mode == "evil":
            self.send(400, json.dumps({"error":{"code":"bad_request","message":"x\u001b[31mred\u0007"}}).encode())
        elif mode == "slow":
            time.sleep(5)
            self.send(200, b"{}")
        else:
            self.send(404, b"{}")
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 fake.py fake.port fake.log &
FAKE_PID=$!
_watchdog "$FAKE_PID"
for ((i = 0; i < 100; i++)); do [ -s fake.port ] && break; sleep 0.05; done
F=http://127.0.0.1:$(cat fake.port)
vx 0 "fake: empty search" cert list --server "$F/echo" --token-file "$TOK" --status active
assert_grep "request carries the bearer token" "\"Authorization\": \"Bearer $TOKEN\"" fake.log
assert_grep "request path keeps the URL prefix" '"path": "/echo/v1/certificates\?status=active"' fake.log
assert_grep "Host header" "\"Host\": \"127.0.0.1:$(cat fake.port)\"" fake.log
assert_grep "GET asks for JSON" '"Accept": "application/json"' fake.log
assert_no_grep "GET has no Content-Type" 'Content-Type' fake.log
: >fake.log
vx 3 "fake: crl get (404)" crl --server "$F/echo" --token-file "$TOK" get
assert_no_grep "crl get sends no token" 'Authorization' fake.log
vx 4 "fake: answer over the size limit" cert list --server "$F/huge" --token-file "$TOK"
assert_grep "too large: says so" 'larger than' "$ERR"
vx 4 "fake: answer not JSON" cert list --server "$F/notjson" --token-file "$TOK"
vx 4 "fake: a redirect" cert list --server "$F/redirect" --token-file "$TOK"
assert_grep "redirect: not followed" 'redirect' "$ERR"
vx 4 "fake: HTTP 500 without an API body" cert list --server "$F/html500" --token-file "$TOK"
vx 4 "fake: a cursor that repeats (--all)" cert list --server "$F/nocursor" --token-file "$TOK" --all
vx 4 "fake: get answers a broken PEM" cert get 01 --issuer default --server "$F/badpem" --token-file "$TOK"
vx 0 "fake: get answers a PEM wrapped in terminal escapes" cert get 01 --issuer default --server "$F/junkpem" --token-file "$TOK"
assert_same_file "only the certificate is written" "$OUT" leaf.pem
vx 3 "fake: control characters in the error message" cert list --server "$F/evil" --token-file "$TOK"
check "control characters are escaped" grep -q 'x\\x1b\[31mred\\x07' "$ERR"
START=$(now_ms)
vx 4 "fake: silent server, --timeout 1" cert list --server "$F/slow" --token-file "$TOK" --timeout 1
ELAPSED=$(($(now_ms) - START))
assert_grep "timeout: says so" 'within 1 s' "$ERR"
check "timeout: about 1 s (${ELAPSED} ms)" test "$ELAPSED" -lt 3500
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true

# ---------------------------------------------------------------------------
section "https with a private CA"
vd_stop
assert_eq "vouchd (http) stopped cleanly" "$VD_RC" 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tlsca.key -out tlsca.pem \
    -subj /CN=vouch-test-tls-ca -days 2 2>/dev/null || die "TLS CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in tls.csr -CA tlsca.pem -CAkey tlsca.key -CAcreateserial -out tls.crt -days 2 \
    -extfile <(printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n') 2>/dev/null || die "TLS cert"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out otherca.pem \
    -subj /CN=another-ca -days 2 2>/dev/null
vd_start "$IT_TMP/vd-tls.log" --data "$CA" --listen 127.0.0.1:0 --public-url https://localhost:9 --tls-cert tls.crt --tls-key tls.key --threads 2
S=https://localhost:$VD_PORT
vx 0 "https with --cacert" cert get "$SERIAL2" --server "$S" --cacert tlsca.pem --token-file "$TOK" --out h1.pem
assert_same_file "https: same certificate" h1.pem leaf2.pem
VOUCH_CACERT=$T/tlsca.pem vx 0 "https with VOUCH_CACERT" cert list --server "$S" --token-file "$TOK"
vx 0 "https: crl get" crl --server "$S" --cacert tlsca.pem get --out h.crl
check "https: the CRL verifies" quiet openssl crl -inform DER -in h.crl -CAfile issuing.pem -noout
assert_grep "https: the CRL lists the revocation" "Serial Number: $SERIAL" <(openssl crl -inform DER -in h.crl -noout -text)
vx 0 "https: ca list" ca --server "$S" --cacert tlsca.pem --token-file "$TOK" list
vx 4 "https with the wrong --cacert" cert list --server "$S" --cacert otherca.pem --token-file "$TOK"
assert_grep "wrong --cacert: did not verify" 'did not verify' "$ERR"
assert_grep "wrong --cacert: hint" 'hint: .*--cacert' "$ERR"
vx 4 "https without --cacert (system store)" cert list --server "$S" --token-file "$TOK"
vx 4 "https to an IP the certificate does not name" cert list --server "https://127.0.0.1:$VD_PORT" --cacert tlsca.pem --token-file "$TOK"
assert_grep "IP mismatch: did not verify" 'did not verify.*(IP|address|mismatch)' "$ERR"
vx 5 "--cacert missing" cert list --server "$S" --cacert nope.pem --token-file "$TOK"
vx 5 "--cacert not PEM" cert list --server "$S" --cacert garbage.csr --token-file "$TOK"
vx 4 "http to the https server" cert list --server "http://localhost:$VD_PORT" --token-file "$TOK"
vd_stop
assert_eq "vouchd (https) stopped cleanly" "$VD_RC" 0

# ---------------------------------------------------------------------------
section "the token is never printed"
IT_NEG=$((IT_NEG + 1))
if grep -qF -- "$TOKEN" "$ALLOUT"; then fail "the token appears in the CLI's output"; else pass "the token appears in no output or message ($(wc -l <"$ALLOUT") lines)"; fi

it_done
