#!/usr/bin/env bash
# CA keys held in a vouch-se slot (pki/se_key.h, `vouch ca ... --key-se`):
# a real vouch-se daemon plays the HSM. The chain is judged by `openssl
# verify`, the database must hold no private key for such an issuer, a
# long-lived signer (se_key_tool serve, as vouchd would hold one) fails
# cleanly while the daemon is down and signs again after it restarts, and
# the refusals: malformed key references and SE specs, wrong and occupied
# slots, no daemon, SE lifecycle states. Specification: docs/cli.md,
# docs/pki.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
SKT=${VOUCH_SE_KEY_TOOL:?VOUCH_SE_KEY_TOOL must name the se_key_tool driver}
[ -x "$SKT" ] || die "no se_key_tool at $SKT"

T=$IT_TMP/files
mkdir -p "$T"
cd "$T"
CA=$T/ca

db_query() {
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
PY
}
json_get() { # FILE PYTHON-EXPRESSION-ON-d
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
no_leftovers() { ! ls -a "$1" | grep -q '^\.vouch-init-'; }
count_issuers() { db_query "$1/vouch.db" "SELECT count(*) FROM issuers"; }

chip_new hsm
chip_start hsm
HSM=$(chip_uri hsm)
HSM_SOCK=$(chip_sock hsm)
REF1="se:unix:$HSM_SOCK#1"

# ---------------------------------------------------------------------------
section "help"
expect 0 "ca init --help" "$VOUCH" ca init --help
assert_grep "init --help documents --key-se" "--key-se unix:PATH" "$OUT"
assert_grep "init --help documents --replace-key" "--replace-key" "$OUT"
assert_grep "init --help documents status 4" "^ +4 +the secure element cannot be reached" "$OUT"
expect 0 "ca add-issuer --help" "$VOUCH" ca add-issuer --help
assert_grep "add-issuer --help documents --key-se" "--key-se unix:PATH" "$OUT"

# ---------------------------------------------------------------------------
section "usage errors (exit 2, nothing created, the SE untouched)"
expect 2 "--key-se without --slot" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM"
assert_grep "missing --slot named" "needs --slot" "$ERR"
expect 2 "--slot without --key-se" "$VOUCH" ca init --data "$CA" --org Acme --slot 1
assert_grep "missing --key-se named" "needs --key-se" "$ERR"
expect 2 "--replace-key alone" "$VOUCH" ca init --data "$CA" --org Acme --replace-key
expect 2 "--key-se i2c:" "$VOUCH" ca init --data "$CA" --org Acme --key-se i2c:/dev/i2c-1@0x20 --slot 1
assert_grep "i2c refusal says unix only" "not unix:" "$ERR"
expect 2 "--key-se without a scheme" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM_SOCK" --slot 1
expect 2 "--key-se unix: with no path" "$VOUCH" ca init --data "$CA" --org Acme --key-se unix: --slot 1
expect 2 "--key-se empty" "$VOUCH" ca init --data "$CA" --org Acme --key-se "" --slot 1
expect 2 "--key-se path of 200 bytes" "$VOUCH" ca init --data "$CA" --org Acme --key-se "unix:/$(printf 'p%.0s' {1..200})" --slot 1
assert_grep "long path named" "at most 107" "$ERR"
expect 2 "--key-se path with a control character" "$VOUCH" ca init --data "$CA" --org Acme --key-se "unix:/tmp/a$(printf '\t')b" --slot 1
expect 2 "--slot 4" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot 4
assert_grep "slot 4 named" "slot 4 does not exist" "$ERR"
expect 2 "--slot 255 (ephemeral)" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot 255
assert_grep "ephemeral named" "ephemeral" "$ERR"
expect 2 "--slot 256" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot 256
expect 2 "--slot -1" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot -1
expect 2 "--slot abc" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot abc
expect 2 "--key-se with --key-alg p384" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot 1 --key-alg p384
assert_grep "P-256 only named" "P-256" "$ERR"
expect 2 "--key-se with --key-alg ed25519" "$VOUCH" ca init --data "$CA" --org Acme --key-se "$HSM" --slot 1 --key-alg ed25519
check_not "no directory after usage errors" test -e "$CA"
check "no temporary directories left" no_leftovers "$T"
expect 0 "the SE still has every slot empty" "$VOUCH" se --se "$HSM" --json info
assert_eq "no key was made" "$(json_get "$OUT" 'sum(s["present"] for s in d["slots"])')" 0

section "no daemon (exit 4, nothing created)"
expect 4 "init with no vouch-se at the socket" "$VOUCH" ca init --data "$CA" --org Acme --key-se "unix:$IT_TMP/nobody.sock" --slot 1
assert_grep "names the socket" "cannot connect to the SE at unix:$IT_TMP/nobody.sock" "$ERR"
assert_grep "asks whether vouch-se runs" "is vouch-se running" "$ERR"
check_not "no directory after the SE was unreachable" test -e "$CA"
check "no temporary directories left after it" no_leftovers "$T"

# ---------------------------------------------------------------------------
section "ca init --key-se"
expect 0 "init with the issuing key in slot 1" "$VOUCH" ca init --data "$CA" --org "Acme Devices" --key-se "$HSM" --slot 1
cp "$OUT" init.txt
assert_grep "summary shows the key reference" "key +$REF1\$" init.txt
assert_grep "summary shows the root key encrypted" "key +encrypted\$" init.txt
expect 0 "the SE now holds a P-256 key in slot 1" "$VOUCH" se --se "$HSM" --json info
assert_eq "slot 1 present" "$(json_get "$OUT" '[s for s in d["slots"] if s["slot"]==1][0]["present"]')" True
assert_eq "slot 1 is P-256" "$(json_get "$OUT" '[s for s in d["slots"] if s["slot"]==1][0]["alg"]')" p256

expect 0 "export root" "$VOUCH" ca export --data "$CA" --name root --out root.pem
expect 0 "export default" "$VOUCH" ca export --data "$CA" --name default --out issuing.pem
check "openssl verify accepts the issuing CA" openssl verify -CAfile root.pem issuing.pem
check "openssl verify -x509_strict too" openssl verify -x509_strict -CAfile root.pem issuing.pem
expect 0 "vouch se pubkey --slot 1" "$VOUCH" se --se "$HSM" pubkey --slot 1 --out slot1.pub.pem
openssl x509 -in issuing.pem -noout -pubkey >issuing.pub.pem
check "the issuing certificate certifies the SE's key" cmp -s slot1.pub.pem issuing.pub.pem
assert_grep "issuing CA is CA:TRUE pathlen:0" "CA:TRUE, pathlen:0" <(openssl x509 -in issuing.pem -noout -text)

section "the database holds no private key for the SE issuer"
assert_eq "default has no key_pem" "$(db_query "$CA/vouch.db" "SELECT key_pem IS NULL FROM issuers WHERE name = 'default'")" 1
assert_eq "default has the key reference" "$(db_query "$CA/vouch.db" "SELECT key_ref FROM issuers WHERE name = 'default'")" "$REF1"
assert_eq "only the root's key is in the database" "$(db_query "$CA/vouch.db" "SELECT count(*) FROM issuers WHERE key_pem IS NOT NULL")" 1
assert_eq "one encrypted key in the database file" "$(grep -ac 'BEGIN ENCRYPTED PRIVATE KEY' "$CA/vouch.db" || true)" 1
check_not "no plaintext private key anywhere" sh -c "cat '$CA'/* | grep -aq 'BEGIN PRIVATE KEY'"
assert_grep "issuer.create audited with the key reference" "\"key\":\"se:unix:" \
    <(db_query "$CA/vouch.db" "SELECT details FROM audit_log WHERE action = 'issuer.create' AND subject = 'issuer=2'")
assert_grep "ca.init audited with the issuing key" "\"issuing_key\":\"se:unix:" \
    <(db_query "$CA/vouch.db" "SELECT details FROM audit_log WHERE action = 'ca.init'")
expect 0 "audit verify" "$VOUCH" audit verify --data "$CA"

section "ca list shows where the keys are"
expect 0 "list" "$VOUCH" ca list --data "$CA"
assert_grep "list: default's key is in the SE" "^  key +$REF1\$" "$OUT"
expect 0 "list --json" "$VOUCH" ca list --data "$CA" --json
cp "$OUT" list.json
assert_eq "json key of default" "$(json_get list.json '[i for i in d["issuers"] if i["name"]=="default"][0]["key"]')" "$REF1"
assert_eq "json key of root" "$(json_get list.json '[i for i in d["issuers"] if i["name"]=="root"][0]["key"]')" encrypted
expect 0 "init --json on another directory" "$VOUCH" ca init --data "$T/ca-json" --org J --key-se "$HSM" --slot 2 --json
assert_eq "init --json issuing key" "$(json_get "$OUT" 'd["issuing"]["key"]')" "se:unix:$HSM_SOCK#2"

# ---------------------------------------------------------------------------
section "signing through the SE key, across daemon restarts"
expect 0 "se_key_tool opens the reference" "$SKT" open "$REF1" tool.pub.pem
check "the key it reads is the certified one" cmp -s tool.pub.pem issuing.pub.pem
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key \
    -subj "/CN=dev-0001" -out dev.csr 2>/dev/null

coproc SK { "$SKT" serve "$REF1" issuing.pem 2>"$IT_TMP/sk.err"; }
SK_IN=${SK[1]}
SK_OUT=${SK[0]}
SK_P=$SK_PID # bash unsets SK_PID once the coprocess ends
sk() { # sk COMMAND...: one command to the long-lived signer; answer in SK_ANS
    SK_ANS="(no answer)"
    echo "$*" >&"$SK_IN" || true
    IFS= read -r -t 40 SK_ANS <&"$SK_OUT" || true
}
IFS= read -r -t 10 READY <&"$SK_OUT" || READY="(nothing: $(head -c 300 "$IT_TMP/sk.err"))"
assert_eq "the signer opened its key" "$READY" ready

sk crl crl1.pem
assert_eq "CRL signed by the SE" "$SK_ANS" ok
check "openssl verifies the CRL against the issuing CA" openssl crl -in crl1.pem -CAfile issuing.pem -noout
sk leaf dev.csr dev.pem
assert_eq "device certificate signed by the SE" "$SK_ANS" ok
check "openssl verify: root -> issuing (SE) -> device" openssl verify -CAfile root.pem -untrusted issuing.pem dev.pem

chip_stop hsm
sk crl crl2.pem
assert_grep "daemon stopped: signing fails cleanly" "^fail " <(echo "$SK_ANS")
assert_grep "daemon stopped: the failure names the SE" "unix:$HSM_SOCK, slot 1" <(echo "$SK_ANS")
check_not "daemon stopped: no CRL written" test -e crl2.pem
sk leaf dev.csr dev2.pem
assert_grep "daemon stopped: issuing fails cleanly" "^fail " <(echo "$SK_ANS")
check_not "daemon stopped: no certificate written" test -e dev2.pem
IT_NEG=$((IT_NEG + 3))

chip_start hsm
sk crl crl3.pem
assert_eq "daemon restarted: the same signer signs again" "$SK_ANS" ok
check "the CRL after the restart verifies" openssl crl -in crl3.pem -CAfile issuing.pem -noout
sk leaf dev.csr dev3.pem
assert_eq "daemon restarted: device certificate" "$SK_ANS" ok
check "openssl verify after the restart" openssl verify -CAfile root.pem -untrusted issuing.pem dev3.pem

chip_kill hsm # power cut, no clean shutdown
sk crl crl4.pem
assert_grep "daemon killed: signing fails cleanly" "^fail " <(echo "$SK_ANS")
chip_start hsm
sk crl crl5.pem
assert_eq "daemon back after kill -9: signs again" "$SK_ANS" ok
check "that CRL verifies" openssl crl -in crl5.pem -CAfile issuing.pem -noout

# Another chip behind the same socket: found out, not taken for a bad signature.
chip_stop hsm
chip_new impostor
"$VSE" --state "$(chip_state impostor)" --seal-key "$(chip_key impostor)" --socket "$HSM_SOCK" \
    2>"$IT_TMP/impostor.log" >/dev/null </dev/null &
IMP_PID=$!
_watchdog "$IMP_PID"
for _ in $(seq 500); do
    grep -q 'listening on' "$IT_TMP/impostor.log" 2>/dev/null && break
    sleep 0.01
done
expect 0 "the impostor gets a P-256 key in slot 1" "$VOUCH" se --se "$HSM" keygen --slot 1
sk crl crl6.pem
assert_grep "another chip behind the socket is reported" "^fail .*another key" <(echo "$SK_ANS")
check_not "no CRL from the impostor" test -e crl6.pem
IT_NEG=$((IT_NEG + 1))
kill -TERM "$IMP_PID" 2>/dev/null || true
wait "$IMP_PID" 2>/dev/null || true
chip_start hsm
sk crl crl7.pem
assert_eq "the right chip back: signs again" "$SK_ANS" ok
check "that CRL verifies" openssl crl -in crl7.pem -CAfile issuing.pem -noout

echo quit >&"$SK_IN" || true
wait "$SK_P" 2>/dev/null || true

# ---------------------------------------------------------------------------
section "key references refused by the library (se_key_tool open)"
bad_ref() { # DESC REF PATTERN
    expect 2 "bad key_ref: $1" "$SKT" open "$2"
    assert_grep "bad key_ref: $1: reason" "$3" "$ERR"
}
bad_ref "empty" "" "not an SE key reference"
bad_ref "no se: prefix" "unix:$HSM_SOCK#1" "not an SE key reference"
bad_ref "upper case" "SE:unix:$HSM_SOCK#1" "not an SE key reference"
bad_ref "i2c" "se:i2c:/dev/i2c-1@0x20#1" "only unix:"
bad_ref "relative path" "se:unix:se.sock#1" "absolute"
bad_ref "no path" "se:unix:#1" "no socket path"
bad_ref "no slot" "se:unix:$HSM_SOCK" "no '#SLOT'"
bad_ref "empty slot" "se:unix:$HSM_SOCK#" "slot after '#'"
bad_ref "leading zero" "se:unix:$HSM_SOCK#01" "leading zeros"
bad_ref "sign" "se:unix:$HSM_SOCK#+1" "slot after '#'"
bad_ref "trailing space" "se:unix:$HSM_SOCK#1 " "slot after '#'"
bad_ref "hex slot" "se:unix:$HSM_SOCK#0x1" "slot after '#'"
bad_ref "slot 4" "se:unix:$HSM_SOCK#4" "does not exist"
bad_ref "slot 255" "se:unix:$HSM_SOCK#255" "ephemeral"
bad_ref "slot 9999" "se:unix:$HSM_SOCK#9999" "slot after '#'"
bad_ref "path of 110 bytes" "se:unix:/$(printf 'p%.0s' {1..109})#1" "at most 107"
bad_ref "200 bytes" "se:unix:/$(printf 'p%.0s' {1..200})#1" "at most 127"
bad_ref "control character" "se:unix:/tmp/a$(printf '\001')b#1" "control character"

section "wrong slot, no daemon (se_key_tool open)"
expect 3 "an empty slot" "$SKT" open "se:unix:$HSM_SOCK#3"
assert_grep "empty slot named" "holds no key" "$ERR"
expect 0 "an Ed25519 key in slot 3" "$VOUCH" se --se "$HSM" keygen --slot 3 --alg ed25519
expect 3 "a slot holding an Ed25519 key" "$SKT" open "se:unix:$HSM_SOCK#3"
assert_grep "Ed25519 named" "Ed25519 key; CA keys in an SE are P-256" "$ERR"
expect 4 "no daemon at the socket" "$SKT" open "se:unix:$IT_TMP/nobody.sock#1"
assert_grep "no daemon named" "cannot connect" "$ERR"

# ---------------------------------------------------------------------------
section "ca add-issuer --key-se"
N0=$(count_issuers "$CA")
expect 3 "a slot holding a key is refused" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "$HSM" --slot 3
assert_grep "occupied slot named" "slot 3 of the SE at unix:$HSM_SOCK already holds an Ed25519 key" "$ERR"
assert_grep "hint names --replace-key" "hint: --replace-key" "$ERR"
expect 3 "the slot of issuer default is refused" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "$HSM" --slot 1
assert_grep "the issuer using it is named" "issuer 'default' keeps its key in $REF1" "$ERR"
expect 3 "... even with --replace-key" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "$HSM" --slot 1 --replace-key
expect 3 "a taken name is refused before the SE is touched" "$VOUCH" ca add-issuer --data "$CA" --name default --key-se "$HSM" --slot 0
expect 4 "no daemon" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "unix:$IT_TMP/nobody.sock" --slot 0
expect 2 "bad slot" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "$HSM" --slot 7
assert_eq "refusals added no issuer" "$(count_issuers "$CA")" "$N0"
expect 0 "slot 0 still empty" "$VOUCH" se --se "$HSM" --json info
assert_eq "slot 0 not touched" "$(json_get "$OUT" '[s for s in d["slots"] if s["slot"]==0][0]["present"]')" False

expect 0 "add-issuer with --replace-key over the Ed25519 key" "$VOUCH" ca add-issuer --data "$CA" --name cams --key-se "$HSM" --slot 3 --replace-key --json
assert_eq "add-issuer --json key" "$(json_get "$OUT" 'd["key"]')" "se:unix:$HSM_SOCK#3"
expect 0 "export cams" "$VOUCH" ca export --data "$CA" --name cams --out cams.pem
check "openssl verify accepts the family CA" openssl verify -CAfile root.pem cams.pem
"$VOUCH" se --se "$HSM" pubkey --slot 3 --out slot3.pub.pem
check "the family CA certifies the new key in slot 3" cmp -s slot3.pub.pem <(openssl x509 -in cams.pem -noout -pubkey)
assert_eq "cams has no key_pem" "$(db_query "$CA/vouch.db" "SELECT key_pem IS NULL FROM issuers WHERE name = 'cams'")" 1

# A relative socket path is stored absolute.
expect 0 "add-issuer with a relative --key-se path" \
    sh -c "cd '$(chip_dir hsm)' && '$VOUCH' ca add-issuer --data '$CA' --name rel --key-se unix:se.sock --slot 0"
assert_eq "the stored reference is absolute" \
    "$(db_query "$CA/vouch.db" "SELECT key_ref FROM issuers WHERE name = 'rel'")" "se:unix:$HSM_SOCK#0"
expect 0 "a plain add-issuer still works beside them" "$VOUCH" ca add-issuer --data "$CA" --name meters
expect 0 "audit verify after all that" "$VOUCH" audit verify --data "$CA"

section "without the daemon, offline commands still work"
chip_stop hsm
expect 0 "list with the SE down" "$VOUCH" ca list --data "$CA"
expect 0 "export with the SE down" "$VOUCH" ca export --data "$CA" --name default --chain
chip_start hsm

# ---------------------------------------------------------------------------
section "SE lifecycle states"
chip_new term
chip_start term
expect 0 "terminate chip 'term'" se term lifecycle --set terminated
expect 3 "init on a terminated SE" "$VOUCH" ca init --data "$T/c-term" --org Acme --key-se "$(chip_uri term)" --slot 1
assert_grep "terminated named" "terminated" "$ERR"
check_not "nothing created" test -e "$T/c-term"

chip_new sleepy
chip_start sleepy
expect 0 "hibernate chip 'sleepy'" se sleepy hibernate
expect 3 "init on a hibernating SE" "$VOUCH" ca init --data "$T/c-sleepy" --org Acme --key-se "$(chip_uri sleepy)" --slot 1
assert_grep "hibernation named" "hibernating" "$ERR"
check_not "nothing created" test -e "$T/c-sleepy"

chip_new opk
chip_start opk
head -c 32 /dev/urandom >hk.bin
expect 0 "host keys into 'opk'" se opk host-keys --set hk.bin
expect 0 "'opk' operational" seh opk hk.bin lifecycle --set operational
expect 3 "init on an operational SE with host keys" "$VOUCH" ca init --data "$T/c-opk" --org Acme --key-se "$(chip_uri opk)" --slot 1
assert_grep "the secure channel named" "host secure channel" "$ERR"
check_not "nothing created" test -e "$T/c-opk"

chip_new op
chip_start op
expect 0 "'op' operational, no host keys" se op lifecycle --set operational
expect 3 "init in the locked factory slot" "$VOUCH" ca init --data "$T/c-op0" --org Acme --key-se "$(chip_uri op)" --slot 0
assert_grep "factory slot named" "factory slot" "$ERR"
check_not "nothing created" test -e "$T/c-op0"
expect 0 "init in slot 2 of an operational SE" "$VOUCH" ca init --data "$T/c-op" --org Acme --key-se "$(chip_uri op)" --slot 2
"$VOUCH" ca export --data "$T/c-op" --name root --out op-root.pem
"$VOUCH" ca export --data "$T/c-op" --name default --out op-iss.pem
check "its chain verifies" openssl verify -CAfile op-root.pem op-iss.pem
check "no temporary directories left" no_leftovers "$T"

# ---------------------------------------------------------------------------
section "the key replaced behind the signer's back"
coproc SK { "$SKT" serve "$REF1" issuing.pem 2>"$IT_TMP/sk2.err"; }
SK_IN=${SK[1]}
SK_OUT=${SK[0]}
SK_P=$SK_PID
IFS= read -r -t 10 READY <&"$SK_OUT" || READY="(nothing: $(head -c 300 "$IT_TMP/sk2.err"))"
assert_eq "a second signer opened the key" "$READY" ready
sk crl crl8.pem
assert_eq "it signs" "$SK_ANS" ok
expect 0 "someone regenerates slot 1" "$VOUCH" se --se "$HSM" keygen --slot 1
sk crl crl9.pem
assert_grep "the SE's signature no longer verifies: refused, not used" "^fail " <(echo "$SK_ANS")
check_not "no CRL with a bad signature" test -e crl9.pem
IT_NEG=$((IT_NEG + 1))
echo quit >&"$SK_IN" || true
wait "$SK_P" 2>/dev/null || true
expect 3 "ca add-issuer refuses the regenerated slot (it holds a key)" "$VOUCH" ca add-issuer --data "$CA" --name late --key-se "$HSM" --slot 2

it_done
