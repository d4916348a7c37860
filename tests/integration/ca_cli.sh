#!/usr/bin/env bash
# `vouch ca` and `vouch audit` on a data directory: file modes, the CA
# certificates judged by the openssl command line, keys encrypted at rest
# (and readable with the documented passphrase derivation), refusals, and
# audit log tampering detected. Specification: docs/cli.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"

T=$IT_TMP/files
mkdir -p "$T"
cd "$T"
CA=$T/ca

mode_of() { stat -c %a "$1" 2>/dev/null || echo missing; }
# db_query DB SQL: prints the rows, one per line (python3's sqlite3)
db_query() {
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
# db_exec DB SQL...: runs statements (python3's sqlite3, autocommit)
db_exec() {
    python3 - "$@" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
for sql in sys.argv[2:]:
    con.execute(sql)
con.close()
PY
}
tree_sum() { (cd "$1" && find . -type f -exec sha256sum {} + | sort | sha256sum); }
no_leftovers() { ! ls -a "$1" | grep -q '^\.vouch-init-'; }

# ---------------------------------------------------------------------------
section "help (no data directory needed)"
expect 0 "vouch --help lists ca" "$VOUCH" --help
assert_grep "vouch --help mentions ca" "^ +ca " "$OUT"
assert_grep "vouch --help mentions audit" "^ +audit " "$OUT"
expect 0 "vouch ca --help" "$VOUCH" ca --help
expect 0 "vouch audit --help" "$VOUCH" audit --help
for c in init add-issuer list export; do
    expect 0 "vouch ca $c --help" "$VOUCH" ca "$c" --help
    assert_grep "vouch ca $c --help names the command" "vouch ca $c" "$OUT"
    assert_grep "vouch ca $c --help has EXIT STATUS" "EXIT STATUS" "$OUT"
    expect 0 "vouch ca help $c" "$VOUCH" ca help "$c"
done
expect 0 "vouch audit verify --help" "$VOUCH" audit verify --help
assert_grep "audit verify --help documents status 1" "1 +the audit chain is broken" "$OUT"
expect 0 "vouch audit help verify" "$VOUCH" audit help verify

# ---------------------------------------------------------------------------
section "usage errors (exit 2, nothing created)"
expect 2 "ca without a command" "$VOUCH" ca
expect 2 "ca unknown command" "$VOUCH" ca frobnicate
assert_grep "unknown command named" "unknown command 'frobnicate'" "$ERR"
expect 2 "audit unknown command" "$VOUCH" audit fix
expect 2 "ca help unknown command" "$VOUCH" ca help nope
expect 2 "init without --data" "$VOUCH" ca init --org Acme
assert_grep "missing --data named" "missing --data" "$ERR"
expect 2 "init without --org" "$VOUCH" ca init --data "$CA"
assert_grep "missing --org named" "missing --org" "$ERR"
expect 2 "init with empty --org" "$VOUCH" ca init --data "$CA" --org ""
expect 2 "init with a 54-byte --org" "$VOUCH" ca init --data "$CA" --org "$(printf 'o%.0s' {1..54})"
expect 2 "init with a control character in --org" "$VOUCH" ca init --data "$CA" --org "$(printf 'a\tb')"
expect 2 "init with --key-alg rsa" "$VOUCH" ca init --data "$CA" --org Acme --key-alg rsa
assert_grep "bad --key-alg named" "key-alg" "$ERR"
expect 2 "init with --root-days 0" "$VOUCH" ca init --data "$CA" --org Acme --root-days 0
expect 2 "init with --root-days 36501" "$VOUCH" ca init --data "$CA" --org Acme --root-days 36501
expect 2 "init with --root-days -5" "$VOUCH" ca init --data "$CA" --org Acme --root-days -5
expect 2 "init with --root-days abc" "$VOUCH" ca init --data "$CA" --org Acme --root-days abc
expect 2 "init with issuing outliving root" "$VOUCH" ca init --data "$CA" --org Acme --root-days 10 --issuing-days 11
assert_grep "outliving named" "outlive|longer" "$ERR"
expect 2 "init with unknown option" "$VOUCH" ca init --data "$CA" --org Acme --force
expect 2 "init with a stray argument" "$VOUCH" ca init --data "$CA" --org Acme extra
expect 2 "init with --org given twice" "$VOUCH" ca init --data "$CA" --org A --org B
expect 2 "init with --data missing its value" "$VOUCH" ca init --org Acme --data
check_not "no directory after usage errors" test -e "$CA"
check "no temporary directories left" no_leftovers "$T"

expect 5 "init under a missing parent" "$VOUCH" ca init --data "$T/no/such/ca" --org Acme
check_not "missing parent not created" test -e "$T/no"
: >"$T/plainfile"
expect 3 "init on a regular file refused" "$VOUCH" ca init --data "$T/plainfile" --org Acme
check "the file is untouched" test ! -s "$T/plainfile"
mkdir "$T/busy" && echo keep >"$T/busy/notes.txt"
expect 3 "init on a non-empty directory refused" "$VOUCH" ca init --data "$T/busy" --org Acme
assert_grep "non-empty named" "not empty" "$ERR"
check "non-empty directory untouched" test "$(ls -A "$T/busy")" = notes.txt

section "commands on a directory that is not a CA"
mkdir "$T/empty"
expect 5 "list on an empty directory" "$VOUCH" ca list --data "$T/empty"
assert_grep "says it is not a CA directory" "not a vouch CA directory" "$ERR"
check "list did not create a database" test ! -e "$T/empty/vouch.db"
expect 5 "export on a missing directory" "$VOUCH" ca export --data "$T/nothing" --name root
expect 5 "audit verify on a missing directory" "$VOUCH" audit verify --data "$T/nothing"
expect 5 "add-issuer on an empty directory" "$VOUCH" ca add-issuer --data "$T/empty" --name x
expect 2 "list without --data" "$VOUCH" ca list
expect 2 "audit verify without --data" "$VOUCH" audit verify

# ---------------------------------------------------------------------------
section "ca init"
expect 0 "init" "$VOUCH" ca init --data "$CA" --org "Acme Devices"
cp "$OUT" init.txt
assert_grep "summary names the root" "Acme Devices Root CA" init.txt
assert_grep "summary names the issuing CA" "Acme Devices Issuing CA" init.txt
assert_grep "summary says where the token is" "admin.token" init.txt
assert_eq "data dir is 0700" "$(mode_of "$CA")" 700
assert_eq "master.key is 0600" "$(mode_of "$CA/master.key")" 600
assert_eq "admin.token is 0600" "$(mode_of "$CA/admin.token")" 600
assert_eq "vouch.db is 0600" "$(mode_of "$CA/vouch.db")" 600
assert_size "master.key is 32 bytes" "$CA/master.key" 32
check "admin.token is a 43-char token and a newline" \
    grep -Eqx '[A-Za-z0-9_-]{43}' "$CA/admin.token"
assert_size "admin.token is 44 bytes" "$CA/admin.token" 44
check "no temporary directories left after init" no_leftovers "$T"
TOKEN=$(cat "$CA/admin.token")
check_not "the token is not stored in plaintext" grep -qF "$TOKEN" "$CA/vouch.db"

expect 0 "export root" "$VOUCH" ca export --data "$CA" --name root --out root.pem
expect 0 "export default" "$VOUCH" ca export --data "$CA" --name default --out issuing.pem
expect 0 "export default --chain to stdout" "$VOUCH" ca export --data "$CA" --name default --chain
cp "$OUT" chain.pem
assert_eq "chain has two certificates" "$(grep -c 'BEGIN CERTIFICATE' chain.pem)" 2
check "chain starts with the issuing CA" cmp -s issuing.pem <(head -n "$(wc -l <issuing.pem)" chain.pem)
check "chain ends with the root" cmp -s root.pem <(tail -n "$(wc -l <root.pem)" chain.pem)
check "openssl verify accepts the issuing CA" openssl verify -CAfile root.pem issuing.pem
check "openssl verify -x509_strict accepts it too" openssl verify -x509_strict -CAfile root.pem issuing.pem
openssl x509 -in root.pem -noout -text >root.txt
openssl x509 -in issuing.pem -noout -text >issuing.txt
assert_grep "root is CA:TRUE pathlen:1" "CA:TRUE, pathlen:1" root.txt
assert_grep "root has keyCertSign" "Certificate Sign" root.txt
assert_grep "issuing CA is CA:TRUE pathlen:0" "CA:TRUE, pathlen:0" issuing.txt
assert_grep "issuing CA has keyCertSign" "Certificate Sign" issuing.txt
assert_grep "issuing CA has cRLSign" "CRL Sign" issuing.txt
assert_grep "root subject" "Subject: O ?= ?Acme Devices, CN ?= ?Acme Devices Root CA" root.txt
assert_grep "P-256 by default" "prime256v1|P-256" issuing.txt
ROOT_FP=$(openssl x509 -in root.pem -noout -fingerprint -sha256 | cut -d= -f2)
assert_grep "summary shows the root fingerprint as openssl does" "$ROOT_FP" init.txt

section "keys at rest"
check_not "no plaintext private key in the database" grep -aq "BEGIN PRIVATE KEY" "$CA/vouch.db"
check "encrypted private keys in the database" grep -aq "ENCRYPTED PRIVATE KEY" "$CA/vouch.db"
check_not "no plaintext key in any WAL file" sh -c "cat '$CA'/* | grep -aq 'BEGIN PRIVATE KEY'"
db_query "$CA/vouch.db" "SELECT key_pem FROM issuers WHERE name = 'default'" >default.key.pem
PASS=$(python3 -c '
import hashlib, hmac, sys
ikm = open(sys.argv[1], "rb").read()
prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
print(hmac.new(prk, b"vouch ca key passphrase v1\x01", hashlib.sha256).hexdigest())' "$CA/master.key")
check "the documented passphrase decrypts the issuing key" \
    openssl pkey -in default.key.pem -passin "pass:$PASS" -pubout -out default.pub.pem
openssl x509 -in issuing.pem -noout -pubkey >issuing.pub.pem
check "the decrypted key is the issuing CA's" cmp -s default.pub.pem issuing.pub.pem
check_not "a wrong passphrase does not decrypt it" \
    openssl pkey -in default.key.pem -passin "pass:0$PASS" -noout

section "init refuses an existing CA without touching it"
BEFORE=$(tree_sum "$CA")
expect 3 "init on an existing CA" "$VOUCH" ca init --data "$CA" --org Other
assert_grep "refusal says it already holds a CA" "already holds a vouch CA" "$ERR"
expect 3 "init on an existing CA with a trailing slash" "$VOUCH" ca init --data "$CA/" --org Other
assert_eq "existing CA unchanged" "$(tree_sum "$CA")" "$BEFORE"
assert_eq "data dir still 0700" "$(mode_of "$CA")" 700
check "no temporary directories left after refusals" no_leftovers "$T"

# ---------------------------------------------------------------------------
section "ca list"
expect 0 "list" "$VOUCH" ca list --data "$CA"
assert_grep "list shows root" "^root \(root\)" "$OUT"
assert_grep "list shows default" "^default \(issuing, signed by root\)" "$OUT"
expect 0 "list --json" "$VOUCH" ca --data "$CA" --json list
cp "$OUT" list.json
assert_eq "list --json has two issuers" \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["issuers"]))' list.json)" 2
assert_eq "list --json fingerprint matches openssl" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuers"][0]["sha256"])' list.json)" \
    "$(tr -d ':' <<<"$ROOT_FP" | tr 'A-F' 'a-f')"

section "ca add-issuer"
expect 0 "add-issuer meters" "$VOUCH" ca add-issuer --data "$CA" --name meters --days 1000
expect 0 "export meters" "$VOUCH" ca export --data "$CA" --name meters --out meters.pem
check "openssl verify accepts the family CA" openssl verify -CAfile root.pem meters.pem
assert_grep "family CA subject" "CN ?= ?Acme Devices meters CA" <(openssl x509 -in meters.pem -noout -subject)
expect 0 "add-issuer p384 with --cn, --json" "$VOUCH" ca add-issuer --data "$CA" --name cams --cn "Camera CA" --key-alg p384 --json
check "add-issuer --json is JSON" python3 -m json.tool "$OUT"
expect 0 "export cams" "$VOUCH" ca export --data "$CA" --name cams --out cams.pem
check "openssl verify accepts the P-384 family CA" openssl verify -CAfile root.pem cams.pem
BEFORE=$(db_query "$CA/vouch.db" "SELECT count(*) FROM issuers")
expect 3 "duplicate issuer name refused" "$VOUCH" ca add-issuer --data "$CA" --name meters
assert_grep "duplicate named" "issuer 'meters' already exists" "$ERR"
expect 3 "the root's name is taken too" "$VOUCH" ca add-issuer --data "$CA" --name root
expect 3 "default's name is taken too" "$VOUCH" ca add-issuer --data "$CA" --name default
expect 3 "family CA outliving the root refused" "$VOUCH" ca add-issuer --data "$CA" --name long --days 36500
assert_grep "outliving named" "after the root" "$ERR"
expect 2 "add-issuer without --name" "$VOUCH" ca add-issuer --data "$CA"
expect 2 "add-issuer with a slash in the name" "$VOUCH" ca add-issuer --data "$CA" --name "a/b"
expect 2 "add-issuer with a space in the name" "$VOUCH" ca add-issuer --data "$CA" --name "a b"
expect 2 "add-issuer with a 65-byte name" "$VOUCH" ca add-issuer --data "$CA" --name "$(printf 'n%.0s' {1..65})"
expect 2 "add-issuer with a 65-byte --cn" "$VOUCH" ca add-issuer --data "$CA" --name okname --cn "$(printf 'c%.0s' {1..65})"
expect 2 "add-issuer with --days 0" "$VOUCH" ca add-issuer --data "$CA" --name okname --days 0
expect 2 "add-issuer with --key-alg dsa" "$VOUCH" ca add-issuer --data "$CA" --name okname --key-alg dsa
assert_eq "refusals added no issuer" "$(db_query "$CA/vouch.db" "SELECT count(*) FROM issuers")" "$BEFORE"

cp -a "$CA" "$T/wrongkey"
head -c 32 /dev/urandom >"$T/wrongkey/master.key"
expect 5 "add-issuer with a wrong master key" "$VOUCH" ca add-issuer --data "$T/wrongkey" --name fam2
assert_grep "wrong master key named" "does not decrypt" "$ERR"
head -c 31 /dev/urandom >"$T/wrongkey/master.key"
expect 5 "add-issuer with a short master key" "$VOUCH" ca add-issuer --data "$T/wrongkey" --name fam2
rm -f "$T/wrongkey/master.key"
expect 5 "add-issuer without a master key" "$VOUCH" ca add-issuer --data "$T/wrongkey" --name fam2
assert_eq "failed add-issuers added no issuer" \
    "$(db_query "$T/wrongkey/vouch.db" "SELECT count(*) FROM issuers")" "$BEFORE"

section "ca export refusals"
expect 3 "export of an unknown issuer" "$VOUCH" ca export --data "$CA" --name nosuch
assert_grep "unknown issuer named" "no issuer 'nosuch'" "$ERR"
expect 2 "export without --name" "$VOUCH" ca export --data "$CA"
expect 5 "export into a missing directory" "$VOUCH" ca export --data "$CA" --name root --out "$T/no/such/x.pem"
expect 2 "export --chain with a value" "$VOUCH" ca export --data "$CA" --name root --chain=yes

# ---------------------------------------------------------------------------
section "audit verify"
expect 0 "audit verify" "$VOUCH" audit verify --data "$CA"
assert_grep "audit says ok" "audit log ok: [0-9]+ entries" "$OUT"
N=$(db_query "$CA/vouch.db" "SELECT count(*) FROM audit_log")
assert_grep "audit counts every entry" "ok: $N entries" "$OUT"
assert_eq "issuer.create audited for root, default, meters, cams" \
    "$(db_query "$CA/vouch.db" "SELECT count(*) FROM audit_log WHERE action = 'issuer.create'")" 4
assert_eq "seven templates audited" \
    "$(db_query "$CA/vouch.db" "SELECT count(*) FROM audit_log WHERE action = 'template.put'")" 7
assert_eq "token creation audited" \
    "$(db_query "$CA/vouch.db" "SELECT count(*) FROM audit_log WHERE action = 'token.create'")" 1
assert_eq "ca.init audited" \
    "$(db_query "$CA/vouch.db" "SELECT count(*) FROM audit_log WHERE action = 'ca.init'")" 1
expect 0 "audit verify --json" "$VOUCH" audit verify --data "$CA" --json
assert_eq "audit --json ok" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$OUT")" True

cp -a "$CA" "$T/changed"
db_exec "$T/changed/vouch.db" "DROP TRIGGER audit_no_update" \
    "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"
expect 1 "changed entry detected" "$VOUCH" audit verify --data "$T/changed"
assert_grep "changed entry named" "entry 3" "$OUT"
assert_grep "changed entry: what" "changed" "$OUT"
check "a message on stderr too" test -s "$ERR"
expect 1 "changed entry detected (--json)" "$VOUCH" audit verify --data "$T/changed" --json
assert_eq "json bad_seq" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"], d["bad_seq"], d["problem"])' "$OUT")" "False 3 changed"

cp -a "$CA" "$T/removed"
db_exec "$T/removed/vouch.db" "DROP TRIGGER audit_no_delete" "DELETE FROM audit_log WHERE seq = 5"
expect 1 "removed entry detected" "$VOUCH" audit verify --data "$T/removed"
assert_grep "removed entry named" "entry 5.*removed" "$OUT"

cp -a "$CA" "$T/truncated"
db_exec "$T/truncated/vouch.db" "DROP TRIGGER audit_no_delete" "DELETE FROM audit_log WHERE seq = $N"
expect 1 "removed last entry detected" "$VOUCH" audit verify --data "$T/truncated"
assert_grep "truncation named" "truncated" "$OUT"

cp -a "$CA" "$T/garbage"
head -c 4096 /dev/urandom >"$T/garbage/vouch.db"
expect 5 "a garbage database is refused" "$VOUCH" audit verify --data "$T/garbage"
expect 5 "list refuses a garbage database" "$VOUCH" ca list --data "$T/garbage"

expect 0 "original audit log still verifies" "$VOUCH" audit verify --data "$CA"

it_done
