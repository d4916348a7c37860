#!/usr/bin/env bash
# vouch provision: factory personalization of software SEs through a real
# vouchd, judged from outside: the chain read back from zone 0 with `vouch se
# read` verifies with `openssl verify` against the CA's root, its key is
# `vouch se pubkey --slot 0`, the SE is operational, the anchor zone refuses
# writes, the host keys files are 0600 and drive the secure channel, the
# manifest parses and holds no secret. Then: a rerun skips everything and
# issues nothing; an unreachable SE fails alone (exit 3); SEs left half-done
# in every way we can stage are finished (or refused, when they cannot be);
# kill -9 mid-batch and a rerun end consistent, with one certificate per
# device; and the refusals before any SE is touched (exit 2, 3, 4, 5).
# Specification: docs/provisioning.md, docs/cli.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
unset VOUCH_SERVER VOUCH_TOKEN VOUCH_TOKEN_FILE VOUCH_CACERT VOUCH_SE VOUCH_HOST_KEYS
ALLOUT=$IT_TMP/all-output # everything vouch provision printed, to look for secrets
: >"$ALLOUT"
KEYS=$T/keys
# the interpreter itself, not a version manager's shim (which costs 0.1 s a call)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || die "python3 is missing"

# pv CODES DESC ARGS...: `vouch provision --server U --token-file TOK ARGS`.
pv() {
    local want=$1 desc=$2
    shift 2
    expect "$want" "$desc" "$VOUCH" provision --server "$U" --token-file "$TOK" "$@"
    cat "$OUT" "$ERR" >>"$ALLOUT"
}
# pvx CODES DESC ARGS...: `vouch provision ARGS` (no server options added).
pvx() {
    local want=$1 desc=$2
    shift 2
    expect "$want" "$desc" "$VOUCH" provision "$@"
    cat "$OUT" "$ERR" >>"$ALLOUT"
}
jq_() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo "<not json>"; }
# ses NAME...: --se arguments for these chips.
ses() {
    local n
    for n in "$@"; do printf -- '--se\n%s\n' "$(chip_uri "$n")"; done
}
# fresh NAME... [-- vouch-se args]: new chips, started.
fresh() {
    local names=() n
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        names+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    for n in "${names[@]}"; do
        chip_new "$n"
        chip_start "$n" "$@"
    done
}
info_json() { se "$1" info --json >"$T/$1.info" 2>/dev/null || echo '{}' >"$T/$1.info"; }
lc_of() {
    info_json "$1"
    jq_ "$T/$1.info" 'd["lifecycle"]'
}
# certs_of DEVICE_ID: active certificates the server holds for it.
certs_of() {
    "$VOUCH" cert list --server "$U" --token-file "$TOK" --device-id "$1" --status active --all --json 2>/dev/null |
        "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?"
}
all_certs() {
    "$VOUCH" cert list --server "$U" --token-file "$TOK" --all --json 2>/dev/null |
        "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?"
}
# split_zone0 FILE PREFIX: the DER certificates at the start of zone 0 as
# PREFIX-0.pem (leaf), PREFIX-1.pem, ...; prints their number, or "bad" when
# the bytes after them are not the zero fill.
split_zone0() {
    "$PY" - "$1" "$2" <<'PY'
import subprocess, sys
d = open(sys.argv[1], "rb").read()
off, n = 0, 0
while off < len(d) and d[off] == 0x30:
    if d[off + 1] != 0x82:
        print("bad"); sys.exit()
    l = 4 + (d[off + 2] << 8 | d[off + 3])
    pem = subprocess.run(["openssl", "x509", "-inform", "DER"], input=d[off:off + l],
                         capture_output=True).stdout
    open("%s-%d.pem" % (sys.argv[2], n), "wb").write(pem)
    off += l
    n += 1
print(n if any(d[off:]) is False else "bad")
PY
}
# check_consistent NAME: the essentials, for the SEs of the kill test: it is
# operational, zone 0's chain verifies, its key is slot 0's, the anchor and
# slot 0 are locked.
check_consistent() {
    local c=$1 d="$T/chk-$1"
    mkdir -p "$d"
    assert_eq "$c: lifecycle operational" "$(lc_of "$c")" operational
    se "$c" read --zone 0 --out "$d/z0.bin" 2>/dev/null || true
    assert_eq "$c: zone 0 holds leaf and issuing CA, then zeros" "$(split_zone0 "$d/z0.bin" "$d/c")" 2
    check "$c: openssl verify: zone 0 chain to the CA's root" \
        openssl verify -CAfile "$T/root.pem" -untrusted "$d/c-1.pem" "$d/c-0.pem"
    check "$c: the certificate's key is slot 0's" \
        cmp -s <(openssl x509 -in "$d/c-0.pem" -noout -pubkey) <(se "$c" pubkey --slot 0 2>/dev/null)
    echo "a" >"$d/x"
    expect 3 "$c: zone 1 (anchor) refuses a write" se "$c" write --zone 1 --in "$d/x"
    expect 3 "$c: slot 0 cannot get a new key any more" seh "$c" "$KEYS/${CHIP_SERIAL[$c]}.hostkeys" keygen --slot 0
}
# check_provisioned NAME [CN_PREFIX]: everything a provisioned SE must show.
check_provisioned() {
    local c=$1 pre=${2:-} s=${CHIP_SERIAL[$1]} d="$T/chk-$1" n
    mkdir -p "$d"
    assert_eq "$c: lifecycle operational" "$(lc_of "$c")" operational
    assert_eq "$c: zone 0 read always, update host" \
        "$(jq_ "$T/$c.info" '[(z["read_ac"], z["update_ac"]) for z in d["zones"] if z["index"] == 0][0]')" "('always', 'host')"
    assert_eq "$c: zone 1 read always, update never" \
        "$(jq_ "$T/$c.info" '[(z["read_ac"], z["update_ac"]) for z in d["zones"] if z["index"] == 1][0]')" "('always', 'never')"
    assert_eq "$c: zone 2 update host" \
        "$(jq_ "$T/$c.info" '[z["update_ac"] for z in d["zones"] if z["index"] == 2][0]')" host
    assert_eq "$c: host keys set" "$(jq_ "$T/$c.info" 'd["host_keys_set"]')" True
    if ! se "$c" read --zone 0 --out "$d/z0.bin" 2>"$ERR"; then
        fail "$c: vouch se read --zone 0: $(_errtail)"
        return 0
    fi
    n=$(split_zone0 "$d/z0.bin" "$d/c")
    assert_eq "$c: zone 0 holds leaf and issuing CA, then zeros" "$n" 2
    check "$c: openssl verify: zone 0 chain to the CA's root" \
        openssl verify -CAfile "$T/root.pem" -untrusted "$d/c-1.pem" "$d/c-0.pem"
    se "$c" pubkey --slot 0 --out "$d/slot0.pem" 2>/dev/null || true
    check "$c: the certificate's key is slot 0's" \
        cmp -s <(openssl x509 -in "$d/c-0.pem" -noout -pubkey) "$d/slot0.pem"
    assert_eq "$c: subject CN is the prefix and the serial" \
        "$(openssl x509 -in "$d/c-0.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//' | tr ',' '\n' | grep '^CN=')" "CN=$pre$s"
    check "$c: zone 0's CA certificate is the issuing CA" cmp -s "$d/c-1.pem" "$T/issuing.pem"
    se "$c" read --zone 1 --out "$d/z1.bin" 2>/dev/null || true
    check "$c: zone 1 is the root certificate (DER), zero-filled" "$PY" -c '
import sys; z = open(sys.argv[1], "rb").read(); r = open(sys.argv[2], "rb").read()
sys.exit(0 if z[:len(r)] == r and not any(z[len(r):]) else 1)' "$d/z1.bin" "$T/root.der"
    local hk=$KEYS/$s.hostkeys
    assert_eq "$c: host keys file mode 0600" "$(stat -c %a "$hk" 2>/dev/null)" 600
    check "$c: host keys file is 64 hex digits" grep -Eqx '[0-9a-f]{64}' "$hk"
    expect 0 "$c: secure channel command with the host keys file" seh "$c" "$hk" lifecycle
    assert_eq "$c: lifecycle over the channel" "$(cat "$OUT")" operational
    echo "a" >"$d/x"
    expect 3 "$c: zone 1 (anchor) refuses a write" se "$c" write --zone 1 --in "$d/x"
    expect 3 "$c: zone 1 refuses a write even over the channel" seh "$c" "$hk" write --zone 1 --in "$d/x"
    expect 3 "$c: zone 0 refuses a write without the channel" se "$c" write --zone 0 --in "$d/x"
    expect 3 "$c: zone 1 cannot be loosened again" seh "$c" "$hk" zone-ac --zone 1 --update always
    expect 3 "$c: slot 0 cannot get a new key any more" seh "$c" "$hk" keygen --slot 0
    expect 3 "$c: the host keys cannot be replaced any more" seh "$c" "$hk" host-keys --set "$hk"
}
# hostkey_hexes: every host key written, one hex string per line.
hostkey_hexes() {
    local f
    for f in "$KEYS"/*.hostkeys; do
        tr -d '\n' <"$f"
        echo
    done
}

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "Prov Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOK=$T/token
cp "$CA/admin.token" "$TOK"
chmod 600 "$TOK"
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url http://127.0.0.1:9/pki --threads 2
U=http://127.0.0.1:$VD_PORT
"$VOUCH" ca export --data "$CA" --name root --out "$T/root.pem" 2>/dev/null || die "ca export root"
"$VOUCH" ca export --data "$CA" --name default --out "$T/issuing.pem" 2>/dev/null || die "ca export default"
openssl x509 -in "$T/root.pem" -outform DER -out "$T/root.der"
openssl x509 -in "$T/issuing.pem" -out "$T/issuing.pem.tmp" && mv "$T/issuing.pem.tmp" "$T/issuing.pem"
BATCH=(b1 b2 b3 b4 b5 b6)
fresh "${BATCH[@]}"
mapfile -t BSE < <(ses "${BATCH[@]}")

# ---------------------------------------------------------------------------
section "refusals before any SE is touched"
pv 2 "no --se" --host-keys-dir "$KEYS"
assert_grep "  says so" 'no secure element given' "$ERR"
pv 2 "no --host-keys-dir" "${BSE[@]}"
assert_grep "  explains why (the MCU needs the keys)" 'MCU needs them' "$ERR"
pv 2 "--jobs 0" "${BSE[@]}" --host-keys-dir "$KEYS" --jobs 0
pv 2 "--jobs 65" "${BSE[@]}" --host-keys-dir "$KEYS" --jobs 65
pv 2 "--jobs abc" "${BSE[@]}" --host-keys-dir "$KEYS" --jobs abc
pv 2 "--jobs -1" "${BSE[@]}" --host-keys-dir "$KEYS" --jobs -1
pv 2 "--se without a value" --host-keys-dir "$KEYS" --se
pv 2 "an SE URI of another scheme" --host-keys-dir "$KEYS" --se tcp:127.0.0.1:1
pv 2 "the same --se twice" --host-keys-dir "$KEYS" "${BSE[@]:0:2}" "${BSE[@]:0:2}"
pv 2 "an unknown option" "${BSE[@]}" --host-keys-dir "$KEYS" --force
pv 2 "a positional argument" "${BSE[@]}" --host-keys-dir "$KEYS" now
pv 2 "--cn-prefix with a /" "${BSE[@]}" --host-keys-dir "$KEYS" --cn-prefix 'a/b'
pv 2 "--cn-prefix too long for a CN" "${BSE[@]}" --host-keys-dir "$KEYS" --cn-prefix "$(printf 'a%.0s' {1..50})"
pv 2 "--org with a /" "${BSE[@]}" --host-keys-dir "$KEYS" --org 'x/CN=evil'
pv 2 "a bad issuer name" "${BSE[@]}" --host-keys-dir "$KEYS" --issuer 'a b'
pv 2 "a bad template name" "${BSE[@]}" --host-keys-dir "$KEYS" --template '../x'
pvx 2 "no server" "${BSE[@]}" --host-keys-dir "$KEYS" --token-file "$TOK"
pv 2 "--cacert with an http server" "${BSE[@]}" --host-keys-dir "$KEYS" --cacert "$T/root.pem"
pvx 2 "a server URL that is not http(s)" "${BSE[@]}" --host-keys-dir "$KEYS" --server ftp://127.0.0.1/ --token-file "$TOK"
printf '# nothing here\n\n' >"$T/empty.list"
pv 2 "an --se-list with no URI" --se-list "$T/empty.list" --host-keys-dir "$KEYS"
pv 5 "a missing --se-list file" --se-list "$T/nope.list" --host-keys-dir "$KEYS"
echo "not a certificate" >"$T/junk.pem"
pv 5 "--anchor that is not a certificate" "${BSE[@]}" --host-keys-dir "$KEYS" --anchor "$T/junk.pem"
mkdir -p "$T/openkeys"
chmod 777 "$T/openkeys"
pv 5 "a host keys directory anyone may write to" "${BSE[@]}" --host-keys-dir "$T/openkeys"
assert_grep "  says why" 'writable by anyone' "$ERR"
pv 5 "a host keys directory that cannot be made" "${BSE[@]}" --host-keys-dir "$T/junk.pem/keys"
pv 5 "a manifest that cannot be opened" "${BSE[@]}" --host-keys-dir "$KEYS" --manifest "$T/no/dir/m.jsonl"
cp "$TOK" "$T/open.token"
chmod 644 "$T/open.token"
pvx 5 "a token file others can read" "${BSE[@]}" --host-keys-dir "$KEYS" --server "$U" --token-file "$T/open.token"
echo "not-the-token" >"$T/bad.token"
chmod 600 "$T/bad.token"
pvx 3 "a token the server does not know" "${BSE[@]}" --host-keys-dir "$KEYS" --server "$U" --token-file "$T/bad.token"
pv 3 "an issuer the server does not have" "${BSE[@]}" --host-keys-dir "$KEYS" --issuer nope
pv 3 "a template the server does not have" "${BSE[@]}" --host-keys-dir "$KEYS" --template nope
pv 3 "the root as issuer" "${BSE[@]}" --host-keys-dir "$KEYS" --issuer root
assert_grep "  says a root does not issue device certificates" 'root CA' "$ERR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
    -subj /CN=Other-Root -days 2 -out "$T/other.pem" 2>/dev/null || die "openssl req -x509"
pv 3 "--anchor names another root" "${BSE[@]}" --host-keys-dir "$KEYS" --anchor "$T/other.pem"
pvx 4 "the server cannot be reached" "${BSE[@]}" --host-keys-dir "$KEYS" --server http://127.0.0.1:9 --token-file "$TOK"
info_json b1
assert_eq "nothing touched: b1 still in personalization" "$(jq_ "$T/b1.info" 'd["lifecycle"]')" personalization
assert_eq "nothing touched: b1 has no host keys" "$(jq_ "$T/b1.info" 'd["host_keys_set"]')" False
assert_eq "nothing touched: b1 slot 0 empty" "$(jq_ "$T/b1.info" 'd["slots"][0]["present"]')" False
assert_eq "nothing touched: no host keys file" "$(ls -A "$KEYS" 2>/dev/null | wc -l)" 0
assert_eq "nothing touched: no certificate issued" "$(all_certs)" 0

# ---------------------------------------------------------------------------
section "a batch of 6"
pv 0 "provision 6 SEs (3 jobs, --anchor pinned)" "${BSE[@]}" --host-keys-dir "$KEYS" --manifest "$T/man.jsonl" \
    --jobs 3 --cn-prefix meter- --org "Prov Test" --anchor "$T/root.pem" --json
cp "$OUT" "$T/sum1.json"
cp "$ERR" "$T/err1.txt"
assert_eq "summary: 6 total, 6 ok, 0 skipped, 0 failed" \
    "$(jq_ "$T/sum1.json" '(d["total"], d["ok"], d["skipped"], d["failed"], d["failures"])')" "(6, 6, 0, 0, [])"
assert_eq "stderr (not a tty): one line per SE" "$(grep -Ec '^vouch: provision: \[[1-6]/6\] unix:.* serial [0-9a-f]{18}: ok, certificate [0-9A-F]+, sha256 [0-9a-f]{64}$' "$T/err1.txt")" 6
assert_eq "the server issued 6 certificates" "$(all_certs)" 6
for c in "${BATCH[@]}"; do check_provisioned "$c" meter-; done
assert_eq "subject has the --org" "$(openssl x509 -in "$T/chk-b1/c-0.pem" -noout -subject -nameopt RFC2253)" "subject=CN=meter-${CHIP_SERIAL[b1]},O=Prov Test"
assert_eq "manifest: 6 lines" "$(wc -l <"$T/man.jsonl")" 6
check "manifest: every line is a JSON object with the documented members" "$PY" - "$T/man.jsonl" <<'PY'
import json, re, sys
keys = {"time", "se", "serial", "result", "issuer", "template", "certificate_serial", "sha256", "error"}
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert set(d) == keys, d
    assert d["result"] == "ok" and d["error"] is None and d["issuer"] == "default" and d["template"] == "device"
    assert re.fullmatch(r"[0-9a-f]{18}", d["serial"]) and re.fullmatch(r"[0-9a-f]{64}", d["sha256"])
    assert re.fullmatch(r"[0-9A-F]{2,40}", d["certificate_serial"])
PY
for c in b1 b4; do
    assert_eq "$c: manifest sha256 is the certificate's in zone 0" \
        "$("$PY" -c 'import json,sys; print([d["sha256"] for d in map(json.loads, open(sys.argv[1])) if d["serial"] == sys.argv[2]][0])' "$T/man.jsonl" "${CHIP_SERIAL[$c]}")" \
        "$(openssl x509 -in "$T/chk-$c/c-0.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
done
se b2 read --zone 0 --out "$T/b2.z0" 2>/dev/null
expect 0 "the MCU (host keys) may rewrite zone 0, e.g. to renew" seh b2 "$KEYS/${CHIP_SERIAL[b2]}.hostkeys" write --zone 0 --in "$T/b2.z0"
assert_eq "6 host keys files" "$(ls "$KEYS" | grep -c '^[0-9a-f]\{18\}\.hostkeys$')" 6
assert_eq "no temporary files left in the keys directory" "$(ls -A "$KEYS" | grep -vc '^[0-9a-f]\{18\}\.hostkeys$' || true)" 0
assert_eq "keys directory mode 0700" "$(stat -c %a "$KEYS")" 700

# ---------------------------------------------------------------------------
section "a rerun skips all and issues nothing"
sha256sum "$KEYS"/*.hostkeys >"$T/keys.sum"
pv 0 "rerun over the finished batch" "${BSE[@]}" --host-keys-dir "$KEYS" --manifest "$T/man.jsonl" --json --cn-prefix meter-
assert_eq "summary: 6 skipped" "$(jq_ "$OUT" '(d["total"], d["ok"], d["skipped"], d["failed"])')" "(6, 0, 6, 0)"
assert_eq "stderr: each one skipped" "$(grep -c ': skipped (already provisioned), certificate' "$ERR")" 6
assert_eq "no certificate issued by the rerun" "$(all_certs)" 6
check "host keys files unchanged" sha256sum -c --quiet "$T/keys.sum"
check "manifest: 6 skipped lines with the first run's fingerprints" "$PY" - "$T/man.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 12
first = {d["serial"]: d["sha256"] for d in lines[:6]}
for d in lines[6:]:
    assert d["result"] == "skipped" and first[d["serial"]] == d["sha256"], d
PY
pv 0 "a rerun without --manifest (text summary)" "${BSE[@]:0:4}" --host-keys-dir "$KEYS"
assert_eq "text summary" "$(tr '\n' ' ' <"$OUT")" "provisioned: 0 skipped:     2 failed:      0 "

# ---------------------------------------------------------------------------
section "one SE unreachable fails alone"
fresh u1 u2 u3
mapfile -t USE < <(ses u1 u2 u3)
pv 3 "batch with a bad socket path" "${USE[@]:0:2}" --se "unix:$T/no/such.sock" "${USE[@]:2}" \
    --host-keys-dir "$KEYS" --manifest "$T/man.jsonl" --jobs 2 --json
assert_eq "summary: 3 ok, 1 failed" "$(jq_ "$OUT" '(d["ok"], d["failed"])')" "(3, 1)"
assert_eq "the failure names the SE" "$(jq_ "$OUT" 'd["failures"][0]["se"]')" "unix:$T/no/such.sock"
assert_grep "stderr: the failure and why" "no/such.sock: failed: cannot connect" "$ERR"
assert_eq "manifest: the failure, with its error and no serial" \
    "$(tail -n 4 "$T/man.jsonl" | "$PY" -c 'import json,sys; print([(d["result"], d["serial"], "connect" in d["error"]) for d in map(json.loads, sys.stdin) if d["result"] != "ok"])')" \
    "[('failed', None, True)]"
for c in u1 u2 u3; do assert_eq "$c provisioned all the same" "$(lc_of "$c")" operational; done

# ---------------------------------------------------------------------------
section "--se-list"
fresh l1 l2
{
    echo "# line 3, tray 7"
    echo ""
    echo "  $(chip_uri l1)  "
    printf '%s\r\n' "$(chip_uri l2)"
    echo "$(chip_uri b1)"
} >"$T/se.list"
pv 0 "--se-list with comments, blanks, CRLF, plus --se=URI" --se-list "$T/se.list" "--se=$(chip_uri u1)" \
    --host-keys-dir "$KEYS" --json
assert_eq "2 provisioned, 2 skipped" "$(jq_ "$OUT" '(d["total"], d["ok"], d["skipped"])')" "(4, 2, 2)"
check_provisioned l2

# ---------------------------------------------------------------------------
section "half-done SEs"
fresh h1 h2 h3 h4 h5 h6 h7 h8 h9 h10
# h1: a key in slot 0 and nothing else (killed after KEYGEN)
se h1 keygen --slot 0 --out "$T/h1.pub" 2>/dev/null
# h2: killed after the certificate was issued, before it was written
se h2 keygen --slot 0 >/dev/null 2>&1
se h2 csr --slot 0 --subject "/CN=${CHIP_SERIAL[h2]}" --out "$T/h2.csr" 2>/dev/null
"$VOUCH" cert issue --server "$U" --token-file "$TOK" --csr "$T/h2.csr" --template device --out "$T/h2.pem" >/dev/null 2>&1
# h3: killed after its host keys were written and put in (plus the key and the anchor)
head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$KEYS/${CHIP_SERIAL[h3]}.hostkeys"
chmod 600 "$KEYS/${CHIP_SERIAL[h3]}.hostkeys"
se h3 host-keys --set "$KEYS/${CHIP_SERIAL[h3]}.hostkeys" 2>/dev/null
seh h3 "$KEYS/${CHIP_SERIAL[h3]}.hostkeys" keygen --slot 0 >/dev/null 2>&1
seh h3 "$KEYS/${CHIP_SERIAL[h3]}.hostkeys" write --zone 1 --in "$T/root.der" 2>/dev/null
sha256sum "$KEYS/${CHIP_SERIAL[h3]}.hostkeys" >"$T/h3.sum"
# h4: host keys put in by something else: no file for them
head -c 32 /dev/urandom >"$T/h4.keys"
se h4 host-keys --set "$T/h4.keys" 2>/dev/null
# h5: host keys in the chip that are not the ones in the file
head -c 32 /dev/urandom >"$T/h5.keys"
se h5 host-keys --set "$T/h5.keys" 2>/dev/null
head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$KEYS/${CHIP_SERIAL[h5]}.hostkeys"
# h6: made operational with no certificate
se h6 lifecycle --set operational >/dev/null 2>&1
# h7: terminated
se h7 lifecycle --set terminated >/dev/null 2>&1
# h8: the anchor zone locked holding something else
se h8 write --zone 1 --in "$T/other.pem" 2>/dev/null
se h8 zone-ac --zone 1 --update never >/dev/null 2>&1
# h9: reached twice, through a symbolic link to its socket
# h10: zone 0 made unreadable: a certificate there would be of no use
se h10 zone-ac --zone 0 --read never >/dev/null 2>&1
ln -s "$(chip_sock h9)" "$T/h9-alias.sock"
ALL_BEFORE=$(all_certs)
pv 3 "a batch of half-done SEs" $(ses h1 h2 h3 h4 h5 h6 h7 h8 h9 h10) --se "unix:$T/h9-alias.sock" \
    --host-keys-dir "$KEYS" --manifest "$T/half.jsonl" --jobs 1 --json
cp "$OUT" "$T/half.json"
cp "$ERR" "$T/half.err"
assert_eq "4 finished, 7 refused" "$(jq_ "$T/half.json" '(d["total"], d["ok"], d["failed"])')" "(11, 4, 7)"
for c in h1 h2 h3 h9; do check_provisioned "$c"; done
check "h1: the key made before was kept" cmp -s "$T/h1.pub" "$T/chk-h1/slot0.pem"
assert_eq "h1: one certificate for it" "$(certs_of "${CHIP_SERIAL[h1]}")" 1
assert_eq "h2: the certificate issued before was reused, not a new one" "$(certs_of "${CHIP_SERIAL[h2]}")" 1
check "h2: zone 0 holds that certificate" cmp -s "$T/h2.pem" "$T/chk-h2/c-0.pem"
check "h3: its host keys file was kept (the chip's keys)" sha256sum -c --quiet "$T/h3.sum"
assert_eq "11 half-done SEs, 4 certificates issued or reused, 3 new" "$(($(all_certs) - ALL_BEFORE))" 3
# refusal reasons, per SE
reason() { "$PY" -c 'import json,sys; print([d["error"] for d in map(json.loads, open(sys.argv[1])) if d["serial"] == sys.argv[2] and d["result"] == "failed"])' "$T/half.jsonl" "$1"; }
assert_grep "h4: refused: host keys not from this tool" 'already has host keys, but .* does not exist' <(reason "${CHIP_SERIAL[h4]}")
assert_eq "h4: still in personalization" "$(lc_of h4)" personalization
assert_grep "h5: refused: the file's keys are not the chip's" 'E_MAC' <(reason "${CHIP_SERIAL[h5]}")
assert_eq "h5: still in personalization" "$(lc_of h5)" personalization
assert_grep "h6: refused: operational without a key or certificate" 'operational with no key in slot 0.*cannot be provisioned' <(reason "${CHIP_SERIAL[h6]}")
assert_grep "h7: refused: terminated" 'terminated' <(reason "${CHIP_SERIAL[h7]}")
assert_grep "h8: refused: anchor zone locked with something else" 'zone 1 is locked' <(reason "${CHIP_SERIAL[h8]}")
assert_eq "h8: still in personalization" "$(lc_of h8)" personalization
assert_eq "h8: no certificate written" "$(se h8 read --zone 0 --length 1 2>/dev/null)" 00
assert_grep "h9 twice: the second is refused as the same SE" "same SE \\(serial ${CHIP_SERIAL[h9]}\\)" <(reason "${CHIP_SERIAL[h9]}")
assert_grep "h10: refused: zone 0 must stay readable" "zone 0's read access is never" <(reason "${CHIP_SERIAL[h10]}")
assert_eq "h10: still in personalization" "$(lc_of h10)" personalization
assert_eq "the refusals issued nothing for them" \
    "$(for c in h4 h5 h6 h7 h8 h10; do certs_of "${CHIP_SERIAL[$c]}"; done | tr '\n' ' ')" "0 0 0 0 0 0 "

# ---------------------------------------------------------------------------
section "kill -9 mid-batch, then rerun"
KILLED=(k1 k2 k3 k4 k5 k6 k7 k8 k9 k10)
fresh "${KILLED[@]}" -- --timing stsafe-a110
mapfile -t KSE < <(ses "${KILLED[@]}")
# Two rounds, each killed at a random moment (so that over many runs the
# kill falls on every step of some SE), the second resuming the first.
for round in 1 2; do
    "$VOUCH" provision --server "$U" --token-file "$TOK" "${KSE[@]}" --host-keys-dir "$KEYS" \
        --manifest "$T/kill.jsonl" --jobs 2 >"$T/kill.out" 2>"$T/kill.err" &
    KPID=$!
    delay=0.$((RANDOM % 5 + 2))
    sleep "$delay"
    kill -9 "$KPID" 2>/dev/null || true
    wait "$KPID" 2>/dev/null || true
    sleep 0.5 # let vouchd finish a request the killed process left behind
    left=0
    for c in "${KILLED[@]}"; do [ "$(lc_of "$c")" = operational ] || left=$((left + 1)); done
    note "round $round: killed after ${delay}s with $left of ${#KILLED[@]} SEs not yet operational"
    IT_POS=$((IT_POS + 1))
    if [ "$left" -gt 0 ]; then pass "round $round: the kill came mid-batch"; else fail "round $round: the batch finished before the kill (no resumption tested)"; fi
done
pv 0 "rerun after kill -9" "${KSE[@]}" --host-keys-dir "$KEYS" --manifest "$T/kill.jsonl" --jobs 3 --json
assert_eq "rerun: nothing failed, every SE done" "$(jq_ "$OUT" '(d["total"], d["ok"] + d["skipped"], d["failed"])')" "(10, 10, 0)"
for c in "${KILLED[@]}"; do check_consistent "$c"; done
check_provisioned k1
assert_eq "one active certificate per device, however the kill fell" \
    "$(for c in "${KILLED[@]}"; do certs_of "${CHIP_SERIAL[$c]}"; done | sort -u | tr '\n' ' ')" "1 "
check "manifest after kill: whole JSON lines only" "$PY" -c '
import json, sys
for l in open(sys.argv[1]): json.loads(l)' "$T/kill.jsonl"
N_BEFORE=$(all_certs)
pv 0 "a second rerun: all skipped" "${KSE[@]}" --host-keys-dir "$KEYS" --json
assert_eq "second rerun: 10 skipped" "$(jq_ "$OUT" '(d["skipped"], d["ok"], d["failed"])')" "(10, 0, 0)"
assert_eq "second rerun issued nothing" "$(all_certs)" "$N_BEFORE"

# ---------------------------------------------------------------------------
section "progress bar on a terminal"
if command -v script >/dev/null; then
    fresh t1
    script -qec "'$VOUCH' provision --server '$U' --token-file '$TOK' --se '$(chip_uri t1)' --se 'unix:$T/gone.sock' --host-keys-dir '$KEYS'" \
        /dev/null >"$T/tty.out" 2>&1 </dev/null || true
    assert_grep "a bar on a terminal" 'provision \[#+\] 2/2  ok 1  skipped 0  failed 1' "$T/tty.out"
    assert_grep "and a line for the failure" 'gone.sock: failed' "$T/tty.out"
    cat "$T/tty.out" >>"$ALLOUT"
else
    note "no 'script' command: terminal progress not checked"
fi

# ---------------------------------------------------------------------------
section "no secret anywhere but the keys files"
hostkey_hexes | sort -u >"$T/allkeys.txt"
assert_eq "host keys written: one file per provisioned or half-done SE" "$(wc -l <"$T/allkeys.txt")" "$(ls "$KEYS"/*.hostkeys | wc -l)"
cat "$T"/*.jsonl "$IT_TMP/vd.log" >>"$ALLOUT"
IT_NEG=$((IT_NEG + 1))
if grep -qiFf "$T/allkeys.txt" "$ALLOUT"; then fail "a host key (hex) appears in output, manifest or the server log"; else pass "no host key in output, manifests or the server log"; fi
check_not "no host key (raw or hex) in the CA's data directory" "$PY" - "$T/allkeys.txt" "$CA" <<'PY'
import os, sys
keys = [l.strip() for l in open(sys.argv[1]) if l.strip()]
blobs = []
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        blobs.append(open(os.path.join(root, f), "rb").read())
hit = any(bytes.fromhex(k)[:16] in b or bytes.fromhex(k)[16:] in b or k.encode() in b for k in keys for b in blobs)
sys.exit(0 if hit else 1)
PY

it_done
