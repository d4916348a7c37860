#!/usr/bin/env bash
# `vouch fw keygen|sign|verify|info|trust` end to end, judged from outside:
# keys by the openssl command, images by an independent MCUboot reader and
# writer (mcuboot_check.py: Python standard library + openssl) and, when it
# is installed, by MCUboot's own imgtool; the pinned vectors of
# tests/vectors/fw (README.md there) are rebuilt and every broken one is
# refused with its message; the firmware trust of a real vouch-se (add,
# revoke, anti-rollback floor, lock) and signing with a key inside it.
# Specification: docs/firmware.md, include/vouch/fw.h, `vouch fw --help`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
[ -x "$VSE" ] || die "no vouch-se at $VSE"
command -v openssl >/dev/null || die "no openssl command"
command -v python3 >/dev/null || die "no python3"
command -v jq >/dev/null || die "no jq"

HERE=$(cd "$(dirname "$0")" && pwd)
VEC=$(cd "$HERE/../vectors/fw" && pwd)
CHK=("python3" "$HERE/mcuboot_check.py")
T=$IT_TMP/files
mkdir -p "$T"
cd "$T"

# UUIDv5 known answers (Python's uuid module): the vendor and class names.
VID_ACME=0637e301-e05d-505b-8267-486f5677de9b # uuid5(NAMESPACE_DNS, 'acme.example')
CID_METER=8c13b24c-9c13-5e39-8f9b-89f493b5a8a0 # uuid5(VID_ACME, 'meter')

jq_of() { jq -r "$1" "$2" 2>/dev/null || echo "(not JSON)"; }
# layout FILE: sets HDR PL PROT_OFF TLV_OFF from `vouch fw info --json`
layout() {
    "$VOUCH" fw info --json "$1" >"$IT_TMP/.layout.json"
    HDR=$(jq -r .header_size "$IT_TMP/.layout.json")
    PL=$(jq -r .payload_size "$IT_TMP/.layout.json")
    PROT_OFF=$((HDR + PL))
    TLV_OFF=$((PROT_OFF + $(jq -r .protected_tlv_size "$IT_TMP/.layout.json")))
}
# refused DESC PATTERN CMD...: exit 1 with the reason on stderr
refused() {
    local desc=$1 pat=$2
    shift 2
    expect 1 "$desc" "$@"
    assert_grep "$desc: says why" "$pat" "$ERR"
}

# ---------------------------------------------------------------------------
section "help and usage"
expect 0 "vouch fw --help" "$VOUCH" fw --help
for c in keygen sign verify info "trust add" "trust lock" "trust revoke" "trust show"; do
    # shellcheck disable=SC2086
    expect 0 "vouch fw $c --help" "$VOUCH" fw $c --help
    check "vouch fw $c --help mentions it" grep -q "fw $c" "$OUT"
done
expect 2 "vouch fw with no command" "$VOUCH" fw
expect 2 "vouch fw bogus" "$VOUCH" fw bogus
expect 2 "vouch fw trust with no command" "$VOUCH" fw trust

# ---------------------------------------------------------------------------
section "keygen"
for alg in p256 ed25519; do
    expect 0 "keygen --alg $alg" "$VOUCH" fw keygen --alg "$alg" --out "$alg.key" --pubout "$alg.pub"
    check "$alg key is read by openssl pkey" openssl pkey -in "$alg.key" -noout
    assert_eq "$alg key file is mode 600" "$(stat -c %a "$alg.key")" 600
    openssl pkey -in "$alg.key" -pubout -out "$alg.openssl.pub" 2>/dev/null
    assert_same_file "$alg --pubout is openssl pkey -pubout" "$alg.pub" "$alg.openssl.pub"
    assert_no_grep "$alg --pubout holds no private key" "PRIVATE" "$alg.pub"
done
check "p256 key is prime256v1" sh -c 'openssl pkey -in p256.key -text -noout | grep -q prime256v1'
check "ed25519 key is ED25519" sh -c 'openssl pkey -in ed25519.key -text -noout | grep -qi ED25519'
expect 0 "keygen without --alg" "$VOUCH" fw keygen --out default.key
check "the default is P-256" sh -c 'openssl pkey -in default.key -text -noout | grep -q prime256v1'
cp p256.key p256.key.before
expect 5 "keygen refuses an existing --out" "$VOUCH" fw keygen --out p256.key
assert_grep "keygen says it exists" "exists" "$ERR"
assert_same_file "the existing key is untouched" p256.key p256.key.before
expect 5 "keygen refuses an existing --out (ed25519)" "$VOUCH" fw keygen --alg ed25519 --out p256.key
assert_same_file "the existing key is still untouched" p256.key p256.key.before
expect 0 "keygen --force overwrites" "$VOUCH" fw keygen --out default.key --force
check_not "--force made a new key" cmp -s default.key p256.key.before
expect 2 "keygen --alg rsa" "$VOUCH" fw keygen --alg rsa --out rsa.key
check_not "no file for a refused --alg" test -e rsa.key
expect 2 "keygen without --out" "$VOUCH" fw keygen
expect 2 "keygen --se with --out" "$VOUCH" fw keygen --se "unix:$IT_TMP/none.sock" --slot 1 --out x.key
expect 2 "keygen --se without --slot" "$VOUCH" fw keygen --se "unix:$IT_TMP/none.sock"
expect 2 "keygen --se --slot 0 (the identity key)" "$VOUCH" fw keygen --se "unix:$IT_TMP/none.sock" --slot 0
expect 2 "keygen --se --slot 4" "$VOUCH" fw keygen --se "unix:$IT_TMP/none.sock" --slot 4
expect 4 "keygen --se with no SE behind the URI" "$VOUCH" fw keygen --se "unix:$IT_TMP/none.sock" --slot 1

# ---------------------------------------------------------------------------
section "sign, verify, info"
cp "$VEC/payload.bin" app.bin
head -c 70000 /dev/urandom >big.bin
: >empty.bin
for alg in p256 ed25519; do
    expect 0 "sign $alg" "$VOUCH" fw sign --key "$alg.key" --version 1.2.3+4 --security-counter 7 \
        --in app.bin --out "$alg.img"
    assert_grep "sign $alg reports" "signed $alg.img" "$ERR"
    expect 0 "verify $alg" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg.img"
    assert_grep "verify $alg says valid" "valid: version 1\.2\.3\+4, security counter 7" "$OUT"
    expect 0 "verify $alg --json" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg.img" --json
    cp "$OUT" "$alg.verify.json"
    assert_eq "$alg --json valid" "$(jq_of .valid "$alg.verify.json")" true
    assert_eq "$alg --json version" "$(jq_of .version "$alg.verify.json")" 1.2.3+4
    assert_eq "$alg --json counter" "$(jq_of .security_counter "$alg.verify.json")" 7
    sig=ecdsa-p256
    [ "$alg" = ed25519 ] && sig=ed25519
    assert_eq "$alg --json signature" "$(jq_of .signature "$alg.verify.json")" "$sig"
    expect 0 "info $alg" "$VOUCH" fw info "$alg.img"
    assert_grep "info $alg: version" "^version +1\.2\.3\+4" "$OUT"
    assert_grep "info $alg: hash matches" "\(matches\)" "$OUT"
    assert_grep "info $alg: signature" "^signature +$sig" "$OUT"
    expect 0 "info $alg --json" "$VOUCH" fw info --json "$alg.img"
    cp "$OUT" "$alg.info.json"
    assert_eq "$alg info hash_ok" "$(jq_of .hash_ok "$alg.info.json")" true
    assert_eq "$alg info payload size" "$(jq_of .payload_size "$alg.info.json")" 1001
    assert_eq "$alg info header size" "$(jq_of .header_size "$alg.info.json")" 32
    assert_eq "$alg info size" "$(jq_of .size "$alg.info.json")" "$(stat -c %s "$alg.img")"
    assert_eq "$alg info trailing" "$(jq_of .trailing_bytes "$alg.info.json")" 0
    want_kh=$(openssl pkey -pubin -in "$alg.pub" -outform DER | sha256sum | cut -c1-64)
    assert_eq "$alg key hash is sha256 of the DER SPKI" "$(jq_of .key_hash "$alg.info.json")" "$want_kh"
    want_sha=$(head -c "$((32 + 1001 + 12))" "$alg.img" | sha256sum | cut -c1-64)
    assert_eq "$alg sha256 is sha256sum of header+payload+protected" \
        "$(jq_of .sha256 "$alg.info.json")" "$want_sha"
    check "$alg payload is in the image as is" cmp -s -i 32:0 -n 1001 "$alg.img" app.bin

    expect 0 "sign $alg --json" "$VOUCH" fw sign --key "$alg.key" --version 2.0.0 \
        --security-counter 8 --vendor acme.example --class meter --header-size 0x200 \
        --load-addr 0x08020000 --in app.bin --out "$alg-vc.img" --json
    cp "$OUT" "$alg.sign.json"
    assert_eq "$alg sign --json vendor" "$(jq_of .vendor "$alg.sign.json")" "$VID_ACME"
    assert_eq "$alg sign --json class" "$(jq_of .class "$alg.sign.json")" "$CID_METER"
    assert_eq "$alg sign --json header" "$(jq_of .header_size "$alg.sign.json")" 512
    assert_eq "$alg sign --json load address" "$(jq_of .load_address "$alg.sign.json")" $((0x08020000))
    check "$alg header padding is zeros" sh -c "cmp -s -i 32:0 -n 480 '$alg-vc.img' /dev/zero"
    expect 0 "verify $alg with vendor and class" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg-vc.img" \
        --vendor acme.example --class meter --min-security-counter 8
    expect 0 "verify $alg with vendor and class as UUIDs" "$VOUCH" fw verify --pubkey "$alg.pub" \
        "$alg-vc.img" --vendor "$VID_ACME" --class "$CID_METER"
    expect 0 "verify $alg with vendor only" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg-vc.img" \
        --vendor acme.example

    expect 0 "sign $alg with a vendor only" "$VOUCH" fw sign --key "$alg.key" --version 2.0.0 \
        --vendor acme.example --in app.bin --out "$alg-v.img"
    expect 0 "sign $alg empty payload" "$VOUCH" fw sign --key "$alg.key" --version 0.0.1 \
        --in empty.bin --out "$alg-empty.img"
    expect 0 "verify $alg empty payload" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg-empty.img"
    expect 0 "sign $alg 70 kB" "$VOUCH" fw sign --key "$alg.key" --version 9.9.9 \
        --security-counter 4294967295 --in big.bin --out "$alg-big.img"
    expect 0 "verify $alg 70 kB" "$VOUCH" fw verify --pubkey "$alg.pub" "$alg-big.img" \
        --min-security-counter 4294967295
done
# the security counter defaults to 0
expect 0 "sign without --security-counter" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --in app.bin --out nocnt.img
expect 0 "info of it" "$VOUCH" fw info --json nocnt.img
assert_eq "its counter is 0" "$(jq_of .security_counter "$OUT")" 0
# trailing bytes (a slot's erased flash) are not part of the image
cp ed25519.img padded.img
head -c 4096 /dev/zero | tr '\0' '\377' >>padded.img
expect 0 "verify with 4096 trailing 0xFF" "$VOUCH" fw verify --pubkey ed25519.pub padded.img
expect 0 "info with trailing bytes" "$VOUCH" fw info --json padded.img
assert_eq "info counts the trailing bytes" "$(jq_of .trailing_bytes "$OUT")" 4096

# ---------------------------------------------------------------------------
section "sign: refusals"
for v in 1.2.3-rc1 a.b.c 256.0.0 0.256.0 0.0.65536 1.2.3+4294967296 "" 1.2.3+ 1..3 " 1.2.3" v1.2.3 \
    1.2.3.4.5; do
    rm -f bad.img
    expect 2 "--version '$v' refused" "$VOUCH" fw sign --key ed25519.key --version "$v" \
        --in app.bin --out bad.img
    assert_grep "--version '$v': says what a version is" "version" "$ERR"
    check_not "--version '$v': no image written" test -e bad.img
done
expect 2 "--class without --vendor" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --class meter --in app.bin --out bad.img
expect 2 "--header-size 31" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --header-size 31 --in app.bin --out bad.img
expect 2 "--header-size 65536" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --header-size 65536 --in app.bin --out bad.img
expect 2 "--security-counter -1" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --security-counter -1 --in app.bin --out bad.img
expect 2 "--security-counter 2^32" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --security-counter 4294967296 --in app.bin --out bad.img
expect 2 "sign without --key or --se" "$VOUCH" fw sign --version 1.0.0 --in app.bin --out bad.img
expect 2 "sign with --key and --se" "$VOUCH" fw sign --key ed25519.key --se "unix:$IT_TMP/none.sock" \
    --slot 1 --version 1.0.0 --in app.bin --out bad.img
expect 2 "sign without --version" "$VOUCH" fw sign --key ed25519.key --in app.bin --out bad.img
expect 2 "sign without --in" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 --out bad.img
expect 2 "sign without --out" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 --in app.bin
expect 5 "sign: --in missing" "$VOUCH" fw sign --key ed25519.key --version 1.0.0 \
    --in nothing.bin --out bad.img
expect 5 "sign: a key that is not PEM" "$VOUCH" fw sign --key app.bin --version 1.0.0 \
    --in app.bin --out bad.img
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key 2>/dev/null
openssl genpkey -algorithm X25519 -out x25519.key 2>/dev/null
openssl genpkey -algorithm ED25519 -aes-256-cbc -pass pass:secret -out enc.key 2>/dev/null
expect 5 "sign: a P-384 key" "$VOUCH" fw sign --key p384.key --version 1.0.0 --in app.bin --out bad.img
assert_grep "P-384: says why" "neither P-256 nor Ed25519" "$ERR"
expect 5 "sign: an X25519 key" "$VOUCH" fw sign --key x25519.key --version 1.0.0 --in app.bin --out bad.img
expect 5 "sign: an encrypted key (never prompts)" "$VOUCH" fw sign --key enc.key --version 1.0.0 \
    --in app.bin --out bad.img
expect 5 "sign: a public key as --key" "$VOUCH" fw sign --key ed25519.pub --version 1.0.0 \
    --in app.bin --out bad.img
check_not "no image written by the refusals" test -e bad.img

# ---------------------------------------------------------------------------
section "verify: refusals (exit 1 and the reason)"
layout ed25519-vc.img
for alg in p256 ed25519; do
    img=$alg-vc.img
    cp "$img" t.img
    flip_byte t.img "$((HDR + 100))"
    refused "$alg tampered payload" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img 21 # minor version
    refused "$alg tampered header (version)" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img 4 # load address
    refused "$alg tampered header (load address)" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img 300 # header padding
    refused "$alg tampered header padding" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img "$((PROT_OFF + 8))" # security counter 8 -> 9
    refused "$alg tampered protected TLV (counter)" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img "$((PROT_OFF + 16))" # vendor UUID
    refused "$alg tampered protected TLV (vendor)" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img "$((TLV_OFF + 8 + 36 + 36 + 10))" # inside the signature
    refused "$alg tampered signature" "signature is missing or invalid" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img 8 # header size 0x200 -> 0x201
    expect 1 "$alg tampered header size" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    other=ed25519
    [ "$alg" = ed25519 ] && other=p256
    refused "$alg image, the other key" "does not trust" "$VOUCH" fw verify --pubkey "$other.pub" "$img"
    refused "$alg lower security counter" "rollback" "$VOUCH" fw verify --pubkey "$alg.pub" "$img" \
        --min-security-counter 9
    refused "$alg vendor mismatch" "vendor does not match" "$VOUCH" fw verify --pubkey "$alg.pub" "$img" \
        --vendor other.example
    refused "$alg class mismatch" "class does not match" "$VOUCH" fw verify --pubkey "$alg.pub" "$img" \
        --vendor acme.example --class thermostat
    refused "$alg no vendor in the image" "vendor does not match" "$VOUCH" fw verify --pubkey "$alg.pub" \
        "$alg.img" --vendor acme.example
    refused "$alg no class in the image" "class does not match" "$VOUCH" fw verify --pubkey "$alg.pub" \
        "$alg-v.img" --vendor acme.example --class meter
    head -c "$(($(stat -c %s "$img") - 1))" "$img" >t.img
    refused "$alg truncated by one byte" "truncated" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
    cp "$img" t.img
    flip_byte t.img "$((HDR + 5))"
    expect 1 "$alg verify --json of a tampered image" "$VOUCH" fw verify --pubkey "$alg.pub" --json t.img
    assert_eq "$alg --json valid false" "$(jq_of .valid "$OUT")" false
    assert_grep "$alg --json names the error" '"error":"image hash does not match' "$OUT"
done
# a new key of each kind that signed nothing
"$VOUCH" fw keygen --alg ed25519 --out ed2.key --pubout ed2.pub 2>/dev/null
refused "ed25519 image, another Ed25519 key" "does not trust" "$VOUCH" fw verify --pubkey ed2.pub ed25519.img
"$VOUCH" fw keygen --out p2.key --pubout p2.pub 2>/dev/null
refused "p256 image, another P-256 key" "does not trust" "$VOUCH" fw verify --pubkey p2.pub p256.img
# truncation at many lengths, never valid, never a crash
n=$(stat -c %s ed25519-vc.img)
bad=0
for ((len = 0; len < n; len += 23)); do
    head -c "$len" ed25519-vc.img >t.img
    rc=0
    "$VOUCH" fw verify --pubkey ed25519.pub t.img >/dev/null 2>t.err || rc=$?
    if [ "$rc" != 1 ] || ! grep -q "truncated" t.err; then
        bad=$((bad + 1))
        fail "truncated to $len of $n: exit $rc, $(head -c 200 t.err)"
    fi
done
IT_NEG=$((IT_NEG + 1))
[ "$bad" = 0 ] && pass "every truncation refused as truncated"
head -c 1000 /dev/urandom >garbage.img
refused "random bytes" "magic is wrong" "$VOUCH" fw verify --pubkey ed25519.pub garbage.img
: >empty.img
refused "an empty file" "truncated" "$VOUCH" fw verify --pubkey ed25519.pub empty.img
refused "a key file as image" "magic is wrong" "$VOUCH" fw verify --pubkey ed25519.pub ed25519.pub
refused "info of random bytes" "magic is wrong" "$VOUCH" fw info garbage.img
expect 5 "verify a directory" "$VOUCH" fw verify --pubkey ed25519.pub "$T"
expect 5 "verify a missing file" "$VOUCH" fw verify --pubkey ed25519.pub missing.img
expect 5 "verify with a missing key" "$VOUCH" fw verify --pubkey missing.pub ed25519.img
openssl pkey -in x25519.key -pubout -out x25519.pub 2>/dev/null
expect 5 "verify with an X25519 key" "$VOUCH" fw verify --pubkey x25519.pub ed25519.img
expect 2 "verify without --pubkey or --se" "$VOUCH" fw verify ed25519.img
expect 2 "verify without an image" "$VOUCH" fw verify --pubkey ed25519.pub
expect 2 "verify --class without --vendor" "$VOUCH" fw verify --pubkey ed25519.pub --class meter ed25519.img

# ---------------------------------------------------------------------------
section "pinned vectors (tests/vectors/fw)"
expect 0 "pinned ed25519.img verifies" "$VOUCH" fw verify --pubkey "$VEC/ed25519.pub" "$VEC/ed25519.img" \
    --vendor acme.example --class meter --min-security-counter 7
expect 0 "pinned p256.img verifies" "$VOUCH" fw verify --pubkey "$VEC/p256.pub" "$VEC/p256.img" \
    --min-security-counter 3
expect 0 "ed25519.img re-signed" "$VOUCH" fw sign --key "$VEC/ed25519.key" --version 1.2.3+4 \
    --security-counter 7 --vendor acme.example --class meter --in "$VEC/payload.bin" --out ed-again.img
assert_same_file "Ed25519 re-signing reproduces ed25519.img byte for byte" ed-again.img "$VEC/ed25519.img"
expect 0 "p256.img re-signed" "$VOUCH" fw sign --key "$VEC/p256.key" --version 0.9.12 \
    --security-counter 3 --header-size 0x200 --load-addr 0x08020000 --in "$VEC/payload.bin" \
    --out p-again.img
layout "$VEC/p256.img"
check "p256 re-signed: header, payload and protected TLVs identical" \
    cmp -s -n "$TLV_OFF" p-again.img "$VEC/p256.img"
check "p256 re-signed: TLV info magic identical" \
    cmp -s -i "$TLV_OFF" -n 2 p-again.img "$VEC/p256.img"
check "p256 re-signed: SHA-256 and key hash TLVs identical" \
    cmp -s -i "$((TLV_OFF + 4))" -n 72 p-again.img "$VEC/p256.img"
check "p256 re-signed: then the ECDSA TLV (0x22)" \
    test "$(od -An -tx1 -j "$((TLV_OFF + 76))" -N 2 p-again.img | tr -d ' ')" = 2200
check_not "p256 re-signed: a new signature (ECDSA is randomized)" cmp -s p-again.img "$VEC/p256.img"
expect 0 "re-signed p256 verifies" "$VOUCH" fw verify --pubkey "$VEC/p256.pub" p-again.img
declare -A WHY=([MAGIC]="magic is wrong" [HEADER]="header is invalid" [TRUNCATED]="truncated"
    [TLV]="TLV area is malformed" [HASH]="hash does not match" [NO_KEY]="does not trust"
    [SIGNATURE]="signature is missing or invalid")
nvec=0
declare -A BROKEN=()
while read -r name code key; do
    case $name in "#"* | "") continue ;; esac
    nvec=$((nvec + 1))
    refused "broken/$name ($code)" "${WHY[$code]:-no such code $code}" \
        "$VOUCH" fw verify --pubkey "$VEC/$key.pub" "$VEC/broken/$name"
    BROKEN[$key]+="$VEC/broken/$name "
done <"$VEC/broken/MANIFEST"
check "at least 40 broken vectors" test "$nvec" -ge 40
# the independent reader refuses every one of them too
for key in "${!BROKEN[@]}"; do
    # shellcheck disable=SC2086
    expect 1 "mcuboot_check.py refuses the broken $key vectors" "${CHK[@]}" check ${BROKEN[$key]} \
        --pubkey "$VEC/$key.pub"
    # shellcheck disable=SC2086
    for f in ${BROKEN[$key]}; do
        assert_grep "mcuboot_check.py refuses $(basename "$f")" "^mcuboot_check: $f: invalid" "$ERR"
    done
done

# ---------------------------------------------------------------------------
section "interop: an independent MCUboot reader (mcuboot_check.py + openssl)"
for img in p256.img ed25519.img p256-vc.img ed25519-vc.img p256-empty.img ed25519-empty.img \
    p256-big.img ed25519-big.img "$VEC/ed25519.img" "$VEC/p256.img"; do
    case $img in *p256*) pub=p256.pub ;; *) pub=ed25519.pub ;; esac
    case $img in "$VEC"/*) pub=$VEC/$pub ;; esac
    expect 0 "mcuboot_check accepts $(basename "$img")" "${CHK[@]}" check "$img" --pubkey "$pub" --json
    cp "$OUT" chk.json
    "$VOUCH" fw info --json "$img" >info.json
    FIELDS='[.version, .security_counter, .header_size, .payload_size, .protected_tlv_size,
             .tlv_size, .load_address, .sha256, .key_hash, .signature, .size, .vendor, .class]
            | map(tostring) | join(" ")'
    assert_eq "$(basename "$img"): every field agrees with vouch fw info" \
        "$(jq -r "$FIELDS" chk.json)" "$(jq -r "$FIELDS" info.json)"
done
expect 1 "mcuboot_check: the wrong key" "${CHK[@]}" check p256.img --pubkey p2.pub
expect 1 "mcuboot_check: an Ed25519 image, a P-256 key" "${CHK[@]}" check ed25519.img --pubkey p256.pub

section "interop: images written by mcuboot_check.py, verified by vouch"
for alg in p256 ed25519; do
    expect 0 "python writes a $alg image" "${CHK[@]}" write --key "$alg.key" --in app.bin \
        --out "py-$alg.img" --version 3.4.5+6 --security-counter 11 --vendor acme.example \
        --class meter --header-size 0x100 --load-addr 0x20000000
    expect 0 "vouch verifies the python $alg image (vendor/class by name)" "$VOUCH" fw verify \
        --pubkey "$alg.pub" "py-$alg.img" --vendor acme.example --class meter --min-security-counter 11
    assert_grep "python $alg image: version" "version 3\.4\.5\+6, security counter 11" "$OUT"
    refused "python $alg image: rollback" "rollback" "$VOUCH" fw verify --pubkey "$alg.pub" \
        "py-$alg.img" --min-security-counter 12
    expect 0 "python writes a $alg image, TLVs in another order" "${CHK[@]}" write --key "$alg.key" \
        --in app.bin --out "py-$alg-r.img" --version 1 --security-counter 2 --vendor acme.example \
        --class meter --reorder
    expect 0 "vouch verifies it" "$VOUCH" fw verify --pubkey "$alg.pub" "py-$alg-r.img" \
        --vendor acme.example --class meter
    expect 0 "python writes a $alg image without protected TLVs" "${CHK[@]}" write --key "$alg.key" \
        --in empty.bin --out "py-$alg-bare.img" --version 0.1.2
    expect 0 "vouch verifies it" "$VOUCH" fw verify --pubkey "$alg.pub" "py-$alg-bare.img"
    expect 0 "vouch info of it" "$VOUCH" fw info --json "py-$alg-bare.img"
    assert_eq "no protected area" "$(jq_of .protected_tlv_size "$OUT")" 0
    assert_eq "no counter" "$(jq_of .has_security_counter "$OUT")" false
    cp "py-$alg.img" t.img
    flip_byte t.img 300
    refused "python $alg image tampered" "hash does not match" "$VOUCH" fw verify --pubkey "$alg.pub" t.img
done
expect 0 "python writes the pinned Ed25519 image" "${CHK[@]}" write --key "$VEC/ed25519.key" \
    --in "$VEC/payload.bin" --out py-pinned.img --version 1.2.3+4 --security-counter 7 \
    --vendor acme.example --class meter
assert_same_file "the independent writer gives ed25519.img byte for byte" py-pinned.img "$VEC/ed25519.img"

section "interop: MCUboot's imgtool"
IMGTOOL=()
if command -v imgtool >/dev/null 2>&1; then
    IMGTOOL=(imgtool)
elif python3 -c 'import imgtool.main' >/dev/null 2>&1; then
    IMGTOOL=(python3 -c 'import sys; from imgtool.main import imgtool; sys.argv[0] = "imgtool"; imgtool()')
fi
if [ ${#IMGTOOL[@]} -eq 0 ]; then
    pkg=""
    if command -v apt-cache >/dev/null 2>&1; then
        pkg=$(apt-cache policy imgtool python3-imgtool mcuboot-imgtool 2>/dev/null |
            awk '/^[^ ]/ { p = $1 } /Candidate: [0-9]/ { sub(":$", "", p); print p; exit }')
    fi
    if [ -n "$pkg" ]; then
        note "imgtool not available: skipped (Debian package $pkg could provide it)"
    else
        note "imgtool not available: skipped (not installed, no Debian package)"
    fi
    echo "imgtool not available: skipped"
else
    note "imgtool: ${IMGTOOL[*]}"
    for img in p256.img ed25519.img p256-vc.img ed25519-vc.img "$VEC/p256.img" "$VEC/ed25519.img"; do
        case $img in *p256*) key=p256 ;; *) key=ed25519 ;; esac
        case $img in "$VEC"/*) key=$VEC/$key ;; esac
        expect 0 "imgtool verify $(basename "$img")" "${IMGTOOL[@]}" verify -k "$key.key" "$img"
        assert_grep "imgtool validated $(basename "$img")" "correctly validated" "$OUT"
    done
    cp ed25519.img t.img
    flip_byte t.img 100
    run "${IMGTOOL[@]}" verify -k ed25519.key t.img
    IT_NEG=$((IT_NEG + 1))
    if [ "$RC" != 0 ]; then pass "imgtool refuses a tampered image"; else fail "imgtool accepts a tampered image"; fi
fi

# ---------------------------------------------------------------------------
section "firmware trust in a vouch-se"
chip_new D
chip_start D
U=$(chip_uri D)
expect 0 "trust show of a new chip" "$VOUCH" fw trust show --se "$U"
assert_grep "floor 0" "security counter floor +0" "$OUT"
assert_grep "not locked" "locked +no" "$OUT"
refused "verify --se with no keys in the SE" "does not trust" "$VOUCH" fw verify --se "$U" ed25519.img
expect 0 "trust add ed25519.pub" "$VOUCH" fw trust add --se "$U" --pubkey ed25519.pub
assert_grep "entry 0" "entry 0" "$OUT"
expect 0 "trust add p256.pub" "$VOUCH" fw trust add --se "$U" --pubkey p256.pub --json
assert_eq "entry 1" "$(jq_of .index "$OUT")" 1
expect 2 "trust add the same key again" "$VOUCH" fw trust add --se "$U" --pubkey p256.pub
expect 2 "trust add at a taken index" "$VOUCH" fw trust add --se "$U" --pubkey ed2.pub --index 0
expect 5 "trust add an X25519 key" "$VOUCH" fw trust add --se "$U" --pubkey x25519.pub
expect 2 "trust add --usage bogus" "$VOUCH" fw trust add --se "$U" --pubkey ed2.pub --usage bogus
expect 0 "trust show --json" "$VOUCH" fw trust show --se "$U" --json
cp "$OUT" show.json
assert_eq "two keys" "$(jq_of '.keys | length' show.json)" 2
assert_eq "key 0 is ed25519" "$(jq_of '.keys[0].alg' show.json)" ed25519
assert_eq "key 0 hash" "$(jq_of '.keys[0].key_hash' show.json)" \
    "$(openssl pkey -pubin -in ed25519.pub -outform DER | sha256sum | cut -c1-64)"
assert_eq "key 1 hash" "$(jq_of '.keys[1].key_hash' show.json)" \
    "$(openssl pkey -pubin -in p256.pub -outform DER | sha256sum | cut -c1-64)"
for alg in ed25519 p256; do
    expect 0 "verify --se $alg" "$VOUCH" fw verify --se "$U" "$alg-vc.img" --vendor acme.example --class meter
    assert_grep "verify --se $alg: checked by the chip" "checked by the secure element" "$OUT"
    cp "$alg-vc.img" t.img
    flip_byte t.img "$((HDR + 3))"
    refused "verify --se $alg tampered" "hash does not match" "$VOUCH" fw verify --se "$U" t.img
    cp "$alg-vc.img" t.img
    layout "$alg-vc.img"
    flip_byte t.img "$((TLV_OFF + 8 + 36 + 36 + 12))"
    refused "verify --se $alg: a bad signature, judged by the chip" "signature is missing or invalid" \
        "$VOUCH" fw verify --se "$U" t.img
done
expect 0 "verify --se --json" "$VOUCH" fw verify --se "$U" --json p256.img
assert_eq "key_index 1" "$(jq_of .key_index "$OUT")" 1
refused "verify --se: a key the SE does not have" "does not trust" "$VOUCH" fw verify --se "$U" \
    "$VEC/ed25519.img"

# anti-rollback floor (zone 5 counts down from 0xFFFFFFFF)
expect 0 "raise the floor to 8" "$VOUCH" se --se "$U" counter --zone 5 --decrement 8
refused "verify --se: counter 7 below the floor 8" "rollback" "$VOUCH" fw verify --se "$U" p256.img
expect 0 "verify --se: counter 8 meets the floor" "$VOUCH" fw verify --se "$U" p256-vc.img
refused "verify --se: --min-security-counter above the floor" "rollback" "$VOUCH" fw verify --se "$U" \
    p256-vc.img --min-security-counter 9
expect 0 "trust show --json" "$VOUCH" fw trust show --se "$U" --json
assert_eq "floor 8" "$(jq_of .security_counter_floor "$OUT")" 8

# revocation: entry 0 (ed25519) for ever; entry 1 takes over
expect 0 "trust revoke --index 0" "$VOUCH" fw trust revoke --se "$U" --index 0
refused "verify --se: revoked key" "revoked" "$VOUCH" fw verify --se "$U" ed25519-vc.img
expect 0 "verify --se: entry 1 still valid" "$VOUCH" fw verify --se "$U" p256-vc.img
expect 0 "verify --pubkey ignores the SE's revocation" "$VOUCH" fw verify --pubkey ed25519.pub ed25519-vc.img
expect 0 "revoke --index 0 again is harmless" "$VOUCH" fw trust revoke --se "$U" --index 0
expect 2 "revoke without --index" "$VOUCH" fw trust revoke --se "$U"
expect 2 "revoke --index 7" "$VOUCH" fw trust revoke --se "$U" --index 7
expect 0 "trust show --json" "$VOUCH" fw trust show --se "$U" --json
assert_eq "revoked below 1" "$(jq_of .revoked_below "$OUT")" 1
assert_eq "key 0 revoked" "$(jq_of '.keys[0].revoked' "$OUT")" true
assert_eq "key 1 active" "$(jq_of '.keys[1].revoked' "$OUT")" false

# signing with keys held in the SE
expect 0 "keygen --se --slot 1 (P-256)" "$VOUCH" fw keygen --se "$U" --slot 1 --pubout se1.pub
check "the SE's P-256 key is a P-256 PEM" sh -c 'openssl pkey -pubin -in se1.pub -text -noout | grep -q prime256v1'
expect 0 "keygen --se --slot 2 --alg ed25519 (stdout)" "$VOUCH" fw keygen --se "$U" --slot 2 --alg ed25519
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$OUT" >se2.pub
check "the SE's Ed25519 key is an Ed25519 PEM" sh -c 'openssl pkey -pubin -in se2.pub -text -noout | grep -qi ED25519'
assert_no_grep "no private key printed" "PRIVATE" "$OUT"
for s in 1 2; do
    expect 0 "sign --se --slot $s" "$VOUCH" fw sign --se "$U" --slot "$s" --version 4.0.0 \
        --security-counter 9 --vendor acme.example --class meter --in app.bin --out "se$s.img"
    expect 0 "verify --pubkey se$s.pub" "$VOUCH" fw verify --pubkey "se$s.pub" "se$s.img" \
        --vendor acme.example --class meter
    expect 0 "mcuboot_check accepts the SE-signed image $s" "${CHK[@]}" check "se$s.img" --pubkey "se$s.pub"
    refused "se$s.img is not signed by a trusted key yet" "does not trust" "$VOUCH" fw verify --se "$U" "se$s.img"
done
expect 0 "sign --se --slot 2 again" "$VOUCH" fw sign --se "$U" --slot 2 --version 4.0.0 \
    --security-counter 9 --vendor acme.example --class meter --in app.bin --out se2b.img
assert_same_file "Ed25519 in the SE is deterministic too" se2.img se2b.img
expect 2 "sign --se without --slot" "$VOUCH" fw sign --se "$U" --version 1.0.0 --in app.bin --out bad.img
expect 2 "sign --se --slot 4" "$VOUCH" fw sign --se "$U" --slot 4 --version 1.0.0 --in app.bin --out bad.img
expect 3 "sign --se --slot 3 (empty slot)" "$VOUCH" fw sign --se "$U" --slot 3 --version 1.0.0 \
    --in app.bin --out bad.img
check_not "no image from an empty slot" test -e bad.img
expect 0 "sign --se --slot 1 with counter 5" "$VOUCH" fw sign --se "$U" --slot 1 --version 3.9.0 \
    --security-counter 5 --in app.bin --out se1-low.img
expect 0 "trust add se1.pub" "$VOUCH" fw trust add --se "$U" --pubkey se1.pub
refused "verify --se: counter 5 below the floor 8" "rollback" "$VOUCH" fw verify --se "$U" se1-low.img
expect 0 "verify --se se1.img" "$VOUCH" fw verify --se "$U" se1.img --vendor acme.example --class meter

# lock: keys for ever
expect 0 "trust lock" "$VOUCH" fw trust lock --se "$U"
assert_grep "lock says so" "locked" "$OUT"
expect 3 "trust add after lock refused by the chip" "$VOUCH" fw trust add --se "$U" --pubkey se2.pub
expect 0 "trust show --json after lock" "$VOUCH" fw trust show --se "$U" --json
assert_eq "locked" "$(jq_of .locked "$OUT")" true
assert_eq "still three keys" "$(jq_of '.keys | length' "$OUT")" 3
expect 0 "verify --se after lock" "$VOUCH" fw verify --se "$U" se1.img
expect 0 "revocation still works after lock" "$VOUCH" fw trust revoke --se "$U" --index 1
refused "p256 entry now revoked" "revoked" "$VOUCH" fw verify --se "$U" p256-vc.img
expect 0 "entry 2 still valid" "$VOUCH" fw verify --se "$U" se1.img
# the trust survives a restart of the daemon
chip_stop D
chip_start D
refused "after restart: revoked stays revoked" "revoked" "$VOUCH" fw verify --se "$U" ed25519-vc.img
refused "after restart: the floor stays" "rollback" "$VOUCH" fw verify --se "$U" se1-low.img
expect 0 "after restart: entry 2 valid" "$VOUCH" fw verify --se "$U" se1.img
chip_stop D
expect 4 "verify --se with the daemon gone" "$VOUCH" fw verify --se "$U" se1.img

it_done
