#!/usr/bin/env bash
# Every `vouch se` command against a real vouch-se daemon, with the results
# checked by the openssl command line rather than by vouch itself.
# Specification: docs/se-protocol.md and the CLI usage in cli/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -x "$VOUCH" ] || die "no vouch CLI at $VOUCH"
[ -x "$VSE" ] || die "no vouch-se at $VSE"

T=$IT_TMP/files
mkdir -p "$T"
cd "$T"

# ---------------------------------------------------------------------------
section "help and usage (no chip needed)"

expect 0 "vouch-se --help" "$VSE" --help
check "vouch-se --help says something" test -s "$OUT" -o -s "$ERR"
expect 0 "vouch se --help" "$VOUCH" se --help
check "vouch se --help says something" test -s "$OUT" -o -s "$ERR"
for c in info random echo reset hibernate wake keygen pubkey sign verify read write \
    counter ecdh wrap unwrap lifecycle zone-ac host-keys; do
    # No chip behind the URI: --help must not need one.
    expect 0 "vouch se $c --help" "$VOUCH" se --se "unix:$IT_TMP/nothing.sock" "$c" --help
    check "vouch se $c --help prints usage" test -s "$OUT" -o -s "$ERR"
    check "vouch se $c --help mentions $c" grep -qi -- "$c" "$OUT" "$ERR"
done

# ---------------------------------------------------------------------------
section "chip A: a new chip"

chip_new A
chip_start A
SERIAL_A=${CHIP_SERIAL[A]}
assert_eq "new chip lifecycle in listening line" "${CHIP_LC[A]}" "PERSONALIZATION"
check "serial is 9 bytes of hex" test "${#SERIAL_A}" = 18
check "state.bin written at creation" test -s "$(chip_state A)/state.bin"

export VOUCH_SE_URI_A
VOUCH_SE_URI_A=$(chip_uri A)

expect 0 "info" se A info
tr -d ': -' <"$OUT" | tr 'A-F' 'a-f' >info.txt
assert_grep "info shows the serial" "$SERIAL_A" info.txt
assert_grep "info shows the lifecycle" "personali[sz]ation" "$OUT"
expect 0 "info --json" se A info --json
cp "$OUT" info.json
check "info --json is JSON" jq -e . info.json >/dev/null
jq -r '.. | strings, numbers' info.json 2>/dev/null | tr -d ': -' | tr 'A-F' 'a-f' >info.json.txt || true
assert_grep "info --json has the serial" "$SERIAL_A" info.json.txt
assert_grep "info --json has the lifecycle" "personali[sz]ation" info.json
expect 0 "global --json info" se A --json info
check "global --json info is JSON" jq -e . "$OUT" >/dev/null

# VOUCH_SE environment variable instead of --se
expect 0 "VOUCH_SE env selects the chip" env VOUCH_SE="$(chip_uri A)" "$VOUCH" se echo via-env
assert_grep "echo via env" "via-env" "$OUT"

# ---- echo, random, reset ------------------------------------------------------
section "echo, random, reset"
expect 0 "echo" se A echo "hello secure element"
assert_grep "echo returns the text" "hello secure element" "$OUT"
expect 0 "random 32 --out" se A random 32 --out r1.bin
assert_size "random 32 gives 32 bytes" r1.bin 32
expect 0 "random 32 again" se A random 32 --out r2.bin
check_not "two randoms differ" cmp -s r1.bin r2.bin
expect 0 "random 1024" se A random 1024 --out r3.bin
assert_size "random 1024 gives 1024 bytes" r3.bin 1024
expect 0 "random 1 to stdout" se A random 1
check "random prints something" test -s "$OUT"
expect "2 3" "random 0 refused" se A random 0
expect 0 "reset" se A reset
expect 0 "echo after reset" se A echo after-reset

# ---- hibernate -------------------------------------------------------------------
section "hibernate and wake"
expect 0 "hibernate" se A hibernate
expect 3 "echo while hibernating refused" se A echo zzz
assert_grep "refusal says asleep" "asleep|hibernat|wake" "$ERR"
expect 3 "random while hibernating refused" se A random 8
expect 3 "info while hibernating refused" se A info
expect 3 "keygen while hibernating refused" se A keygen --slot 2 --alg p256
expect 3 "read while hibernating refused" se A read --zone 3 --length 4
printf 'x' >one.bin
expect 3 "write while hibernating refused" se A write --zone 3 --in one.bin
expect 3 "counter while hibernating refused" se A counter --zone 5 --decrement 1
expect 3 "wrap while hibernating refused" se A wrap --key 0 --in one.bin --out asleep.w
expect 3 "lifecycle while hibernating refused" se A lifecycle --set operational
expect 3 "zone-ac while hibernating refused" se A zone-ac --zone 3 --read never
expect 3 "reset while hibernating refused (only WAKE)" se A reset
expect 3 "pubkey while hibernating refused" se A pubkey --slot 0
expect 0 "wake" se A wake
expect 0 "echo after wake" se A echo awake
expect 0 "wake on an awake chip is harmless" se A wake
expect 0 "hibernate --help does not hibernate" se A hibernate --help
expect 0 "echo after hibernate --help" se A echo still-awake

# ---- keys ----------------------------------------------------------------------------
section "key generation and public keys"
expect 0 "keygen slot 0 p256" se A keygen --slot 0 --alg p256
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$OUT" >a0.pem
check "keygen prints an SPKI PEM" grep -q 'BEGIN PUBLIC KEY' a0.pem
check "slot 0 key is P-256" sh -c 'openssl pkey -pubin -in a0.pem -text -noout | grep -q prime256v1'
assert_no_grep "keygen prints no private key" "PRIVATE" "$OUT"

expect 0 "keygen slot 1 ed25519 --out" se A keygen --slot 1 --alg ed25519 --out a1.pem
check "slot 1 PEM file is Ed25519" sh -c 'openssl pkey -pubin -in a1.pem -text -noout | grep -qi ED25519'

expect 0 "keygen slot 3 x25519" se A keygen --slot 3 --alg x25519
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$OUT" >a3.pem
check "slot 3 key is X25519" sh -c 'openssl pkey -pubin -in a3.pem -text -noout | grep -qi X25519'

expect 0 "pubkey slot 0" se A pubkey --slot 0
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$OUT" >a0b.pem
assert_same_file "pubkey slot 0 equals keygen output" a0.pem a0b.pem
assert_no_grep "pubkey prints no private key" "PRIVATE" "$OUT"
check_not "pubkey output is not a private key" openssl pkey -in a0b.pem -noout
expect 0 "pubkey slot 1 --out" se A pubkey --slot 1 --out a1b.pem
assert_same_file "pubkey slot 1 equals keygen output" a1.pem a1b.pem
assert_no_grep "pubkey file holds no private key" "PRIVATE" a1b.pem
expect 3 "pubkey of an empty slot refused" se A pubkey --slot 2
expect "2 3" "pubkey slot 4 refused" se A pubkey --slot 4
expect "2 3" "keygen slot 4 refused" se A keygen --slot 4 --alg p256
expect 3 "keygen ed25519 in the ephemeral slot refused" se A keygen --slot 255 --alg ed25519

# Regenerating a slot in PERSONALIZATION gives a new key.
expect 0 "keygen slot 2 p256" se A keygen --slot 2 --alg p256 --out a2.pem
expect 0 "keygen slot 2 p256 again" se A keygen --slot 2 --alg p256 --out a2b.pem
check_not "regenerated key differs" cmp -s a2.pem a2b.pem
cp a2b.pem a2.pem

# The seal: a distinctive key or zone byte string must not be in state.bin in
# clear. The public key is only public, but it stands for everything else.
openssl pkey -pubin -in a0.pem -outform DER | tail -c 64 >a0.raw
check_not "state.bin does not hold the public key in clear" grep -qF -f <(xxd -p a0.raw | tr -d '\n') <(xxd -p "$(chip_state A)/state.bin" | tr -d '\n')

# ---- signatures -------------------------------------------------------------------------
section "signatures"
head -c 100000 /dev/urandom >msg.bin
cp msg.bin msg.tampered
flip_byte msg.tampered 50000
expect 0 "sign p256 slot 0" se A sign --slot 0 --in msg.bin --out s0.der
check "openssl dgst verifies the P-256 signature" openssl dgst -sha256 -verify a0.pem -signature s0.der msg.bin
check_not "openssl rejects the P-256 signature on a tampered file" openssl dgst -sha256 -verify a0.pem -signature s0.der msg.tampered
check "signature is DER (openssl asn1parse)" sh -c 'openssl asn1parse -inform DER -in s0.der >/dev/null'
expect 0 "SE verify --slot 0 valid" se A verify --slot 0 --in msg.bin --sig s0.der
assert_grep "verify says valid" "signature valid" "$OUT"
expect 1 "SE verify --slot 0 tampered file invalid" se A verify --slot 0 --in msg.tampered --sig s0.der
assert_grep "verify says invalid" "signature invalid" "$OUT"
expect 0 "SE verify --pubkey valid" se A verify --pubkey a0.pem --in msg.bin --sig s0.der
expect 1 "SE verify --pubkey tampered file invalid" se A verify --pubkey a0.pem --in msg.tampered --sig s0.der
expect 1 "SE verify with another P-256 key invalid" se A verify --pubkey a2.pem --in msg.bin --sig s0.der
cp s0.der s0.tampered
flip_byte s0.tampered $(($(stat -c %s s0.der) - 1))
expect 1 "SE verify of a tampered signature invalid" se A verify --slot 0 --in msg.bin --sig s0.tampered
check_not "openssl rejects the tampered signature" openssl dgst -sha256 -verify a0.pem -signature s0.tampered msg.bin
expect 0 "sign p256 again" se A sign --slot 0 --in msg.bin --out s0b.der
check "second P-256 signature verifies" openssl dgst -sha256 -verify a0.pem -signature s0b.der msg.bin
expect 0 "sign an empty file with p256" se A sign --slot 0 --in /dev/null --out sempty.der
check "openssl verifies a signature over an empty file" openssl dgst -sha256 -verify a0.pem -signature sempty.der /dev/null

# A signature made by openssl, verified by the SE.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ossl_p256.key 2>/dev/null
openssl pkey -in ossl_p256.key -pubout -out ossl_p256.pem
openssl dgst -sha256 -sign ossl_p256.key -out ossl.sig msg.bin
expect 0 "SE verifies an openssl P-256 signature" se A verify --pubkey ossl_p256.pem --in msg.bin --sig ossl.sig
expect 1 "SE rejects an openssl P-256 signature on a tampered file" se A verify --pubkey ossl_p256.pem --in msg.tampered --sig ossl.sig

# Ed25519: PureEdDSA over the file: at most 1023 bytes to SIGN, and at most
# 926 to VERIFY with a key in the command (1 + 1 + 32 + 64 + n <= 1024) or
# 958 with the key in a zone (1 + 1 + 64 + n <= 1024).
head -c 900 /dev/urandom >emsg.bin
cp emsg.bin emsg.tampered
flip_byte emsg.tampered 0
expect 0 "sign ed25519 slot 1" se A sign --slot 1 --in emsg.bin --out s1.sig
assert_size "Ed25519 signature is 64 raw bytes" s1.sig 64
check "openssl pkeyutl verifies the Ed25519 signature" openssl pkeyutl -verify -pubin -inkey a1.pem -rawin -in emsg.bin -sigfile s1.sig
check_not "openssl rejects the Ed25519 signature on a tampered file" openssl pkeyutl -verify -pubin -inkey a1.pem -rawin -in emsg.tampered -sigfile s1.sig
expect 0 "SE verify --slot 1 Ed25519 valid" se A verify --slot 1 --in emsg.bin --sig s1.sig
expect 1 "SE verify --slot 1 Ed25519 tampered invalid" se A verify --slot 1 --in emsg.tampered --sig s1.sig
expect 1 "SE verify --pubkey Ed25519 tampered invalid" se A verify --pubkey a1.pem --in emsg.tampered --sig s1.sig
head -c 1023 /dev/urandom >emax.bin
expect 0 "sign ed25519 1023 bytes" se A sign --slot 1 --in emax.bin --out smax.sig
check "openssl verifies Ed25519 over 1023 bytes" openssl pkeyutl -verify -pubin -inkey a1.pem -rawin -in emax.bin -sigfile smax.sig
head -c 926 /dev/urandom >e926.bin
expect 0 "sign ed25519 926 bytes" se A sign --slot 1 --in e926.bin --out s926.sig
expect 0 "SE verify Ed25519 over 926 bytes (largest with the key in the frame)" se A verify --slot 1 --in e926.bin --sig s926.sig
expect 2 "SE verify Ed25519 over 1023 bytes with a key: too long for a frame" se A verify --slot 1 --in emax.bin --sig smax.sig
head -c 1024 /dev/urandom >etoo.bin
expect "2 3 5" "sign ed25519 1024 bytes refused" se A sign --slot 1 --in etoo.bin --out stoo.sig
openssl genpkey -algorithm ED25519 -out ossl_ed.key 2>/dev/null
openssl pkey -in ossl_ed.key -pubout -out ossl_ed.pem
openssl pkeyutl -sign -inkey ossl_ed.key -rawin -in emsg.bin -out ossl_ed.sig
expect 0 "SE verifies an openssl Ed25519 signature" se A verify --pubkey ossl_ed.pem --in emsg.bin --sig ossl_ed.sig
expect 1 "SE rejects an openssl Ed25519 signature on a tampered file" se A verify --pubkey ossl_ed.pem --in emsg.tampered --sig ossl_ed.sig
expect 1 "Ed25519 signature checked with the wrong Ed25519 key" se A verify --pubkey ossl_ed.pem --in emsg.bin --sig s1.sig

expect 3 "sign with an X25519 slot refused" se A sign --slot 3 --in emsg.bin --out sx.sig
check_not "no signature written by a refused sign" test -s sx.sig
expect "2 3" "sign with slot 9 refused" se A sign --slot 9 --in msg.bin --out s9.sig
head -c 63 s1.sig >s1.short
expect "1 2 5" "Ed25519 signature of 63 bytes not accepted" se A verify --slot 1 --in emsg.bin --sig s1.short
check_not "short Ed25519 signature not reported valid" grep -q "signature valid" "$OUT"
head -c 72 /dev/urandom >junk.der
expect "1 2 5" "P-256 signature that is not DER not accepted" se A verify --slot 0 --in msg.bin --sig junk.der
check_not "junk signature not reported valid" grep -q "signature valid" "$OUT"
expect "1 2 3 5" "P-256 signature checked with an Ed25519 key not accepted" se A verify --pubkey a1.pem --in msg.bin --sig s0.der
check_not "cross-algorithm signature not reported valid" grep -q "signature valid" "$OUT"
expect "2 3 5" "verify with an X25519 public key refused" se A verify --pubkey a3.pem --in msg.bin --sig s0.der
printf 'not a pem\n' >garbage.pem
expect "2 5" "verify with a garbage public key file" se A verify --pubkey garbage.pem --in msg.bin --sig s0.der
expect 5 "sign of a missing file" se A sign --slot 0 --in "$T/no/such/file" --out sn.sig
expect 5 "verify with a missing signature file" se A verify --slot 0 --in msg.bin --sig "$T/no/such.sig"
expect 5 "verify with a missing public key file" se A verify --pubkey "$T/no/such.pem" --in msg.bin --sig s0.der

# Verification key stored in zone 2: alg(1) | public key(n).
{ printf '\001'; openssl pkey -pubin -in a0.pem -outform DER | tail -c 65; } >z2.p256
expect 0 "write verification key to zone 2" se A write --zone 2 --in z2.p256
expect 0 "SE verify --zone 2 valid" se A verify --zone 2 --in msg.bin --sig s0.der
expect 1 "SE verify --zone 2 tampered invalid" se A verify --zone 2 --in msg.tampered --sig s0.der
{ printf '\002'; openssl pkey -pubin -in a1.pem -outform DER | tail -c 32; } >z2.ed
expect 0 "write Ed25519 verification key to zone 4" se A write --zone 4 --in z2.ed
expect 0 "SE verify --zone 4 Ed25519 valid" se A verify --zone 4 --in emsg.bin --sig s1.sig
expect 1 "SE verify --zone 4 Ed25519 tampered invalid" se A verify --zone 4 --in emsg.tampered --sig s1.sig
expect 3 "verify --zone 3 (zeros, no key) refused" se A verify --zone 3 --in msg.bin --sig s0.der
expect "2 3" "verify --zone 9 refused" se A verify --zone 9 --in msg.bin --sig s0.der

# ---- ECDH -----------------------------------------------------------------------------
section "ECDH"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key 2>/dev/null
openssl pkey -in peer.key -pubout -out peer.pem
expect 0 "ecdh slot 2 p256" se A ecdh --slot 2 --peer peer.pem --out ss_se.bin
openssl pkeyutl -derive -inkey peer.key -peerkey a2.pem -out ss_ossl.bin
assert_size "P-256 shared secret is 32 bytes" ss_se.bin 32
assert_same_file "P-256 ECDH: SE and openssl agree" ss_se.bin ss_ossl.bin
openssl genpkey -algorithm X25519 -out xpeer.key 2>/dev/null
openssl pkey -in xpeer.key -pubout -out xpeer.pem
expect 0 "ecdh slot 3 x25519" se A ecdh --slot 3 --peer xpeer.pem --out xs_se.bin
openssl pkeyutl -derive -inkey xpeer.key -peerkey a3.pem -out xs_ossl.bin
assert_same_file "X25519 ECDH: SE and openssl agree" xs_se.bin xs_ossl.bin
expect 0 "ecdh to stdout" se A ecdh --slot 2 --peer peer.pem
check "ecdh prints something" test -s "$OUT"
expect "2 3 5" "ecdh P-256 slot with an X25519 peer refused" se A ecdh --slot 2 --peer xpeer.pem --out bad.bin
expect "2 3 5" "ecdh X25519 slot with a P-256 peer refused" se A ecdh --slot 3 --peer peer.pem --out bad.bin
expect 3 "ecdh with an Ed25519 slot refused" se A ecdh --slot 1 --peer xpeer.pem --out bad.bin
expect "2 3 5" "ecdh with an Ed25519 peer key refused" se A ecdh --slot 3 --peer ossl_ed.pem --out bad.bin
expect 5 "ecdh with a missing peer file" se A ecdh --slot 2 --peer "$T/no/peer.pem" --out bad.bin
printf 'not a pem\n' >garbage.pem
expect "2 5" "ecdh with a garbage peer file" se A ecdh --slot 2 --peer garbage.pem --out bad.bin
# Ephemeral slot: one key, one ECDH.
expect 0 "keygen ephemeral p256" se A keygen --slot 255 --alg p256 --out eph.pem
expect 0 "ecdh ephemeral" se A ecdh --slot 255 --peer peer.pem --out eph_se.bin
openssl pkeyutl -derive -inkey peer.key -peerkey eph.pem -out eph_ossl.bin
assert_same_file "ephemeral ECDH: SE and openssl agree" eph_se.bin eph_ossl.bin
expect 3 "ephemeral key consumed by one ECDH" se A ecdh --slot 255 --peer peer.pem --out bad.bin
expect 0 "keygen ephemeral x25519" se A keygen --slot 255 --alg x25519 --out ephx.pem
expect 0 "reset" se A reset
expect 3 "reset clears the ephemeral key" se A ecdh --slot 255 --peer xpeer.pem --out bad.bin

# ---- wrap / unwrap -----------------------------------------------------------------------
section "wrap and unwrap"
for n in 1 8 17 480; do
    head -c "$n" /dev/urandom >pt.$n
    expect 0 "wrap $n bytes" se A wrap --key 0 --in pt.$n --out w.$n
    assert_size "wrap of $n bytes is padded + 8" w.$n $(((n + 7) / 8 * 8 + 8))
    check_not "wrapped blob differs from plaintext" cmp -s pt.$n w.$n
    expect 0 "unwrap $n bytes" se A unwrap --key 0 --in w.$n --out u.$n
    assert_same_file "unwrap returns the $n plaintext bytes" pt.$n u.$n
done
expect 0 "wrap with key 1" se A wrap --key 1 --in pt.17 --out w1.17
check_not "key 0 and key 1 wrap differently" cmp -s w.17 w1.17
expect 3 "unwrap with the other key refused" se A unwrap --key 1 --in w.17 --out bad.bin
check_not "nothing written by a refused unwrap" test -s bad.bin
for off in 0 7 8 $(($(stat -c %s w.17) - 1)); do
    cp w.17 wt.17
    flip_byte wt.17 "$off"
    expect 3 "tampered wrapped blob (byte $off) refused" se A unwrap --key 0 --in wt.17 --out bad.bin
    assert_grep "refusal names integrity" "integrity|E_INTEGRITY" "$ERR"
done
head -c 23 w.17 >wtrunc
expect "2 3" "unwrap of a non-multiple of 8 refused" se A unwrap --key 0 --in wtrunc --out bad.bin
head -c 8 w.17 >wshort
expect "2 3" "unwrap of 8 bytes refused" se A unwrap --key 0 --in wshort --out bad.bin
head -c 481 /dev/urandom >pt.481
expect "2 3" "wrap of 481 bytes refused" se A wrap --key 0 --in pt.481 --out bad.bin
: >pt.0
expect "2 3 5" "wrap of an empty file refused" se A wrap --key 0 --in pt.0 --out bad.bin
expect "2 3" "wrap with key 2 refused" se A wrap --key 2 --in pt.17 --out bad.bin
expect 5 "wrap of a missing file" se A wrap --key 0 --in "$T/no/pt" --out bad.bin

# ---- zones -----------------------------------------------------------------------------
section "zones"
# A real certificate chain for zone 0: root -> intermediate -> leaf, where the
# leaf certifies the SE's own slot-0 key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
    -subj "/CN=vouch test root" -days 30 -out root.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
    -subj "/CN=vouch test intermediate" -out inter.csr 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
    -extfile ca.ext -out inter.pem 2>/dev/null
openssl req -new -key ossl_p256.key -subj "/CN=${SERIAL_A}/O=vouch" -out leaf.csr 2>/dev/null
openssl x509 -req -in leaf.csr -force_pubkey a0.pem -CA inter.pem -CAkey inter.key \
    -CAcreateserial -days 30 -out leaf.pem 2>/dev/null
openssl x509 -in leaf.pem -outform DER -out leaf.der
openssl x509 -in inter.pem -outform DER -out inter.der
openssl x509 -in root.pem -outform DER -out root.der
cat leaf.der inter.der root.der >chain.der
CHAIN_LEN=$(stat -c %s chain.der)
note "certificate chain is $CHAIN_LEN bytes"
check "chain fits zone 0 and spans more than one frame" test "$CHAIN_LEN" -gt 1021 -a "$CHAIN_LEN" -le 2048

expect 0 "write chain to zone 0" se A write --zone 0 --in chain.der
expect 0 "read chain back" se A read --zone 0 --length "$CHAIN_LEN" --out chain.back
assert_same_file "zone 0 returns the chain" chain.der chain.back
L1=$(stat -c %s leaf.der)
L2=$(stat -c %s inter.der)
head -c "$L1" chain.back >leaf.back
tail -c +$((L1 + 1)) chain.back | head -c "$L2" >inter.back
openssl x509 -inform DER -in leaf.back -out leaf.back.pem 2>/dev/null || true
openssl x509 -inform DER -in inter.back -out inter.back.pem 2>/dev/null || true
check "read-back chain verifies with openssl" openssl verify -CAfile root.pem -untrusted inter.back.pem leaf.back.pem
openssl x509 -in leaf.back.pem -pubkey -noout >leaf.pub.pem 2>/dev/null || true
assert_same_file "certificate in zone 0 certifies slot 0" leaf.pub.pem a0.pem
expect 0 "read whole zone 0" se A read --zone 0 --out z0.all
assert_size "zone 0 is 2048 bytes" z0.all 2048
tail -c +$((CHAIN_LEN + 1)) z0.all >z0.tail
head -c $((2048 - CHAIN_LEN)) /dev/zero >z0.zeros
assert_same_file "zone 0 tail is zero-filled" z0.tail z0.zeros
head -c 2048 /dev/urandom >z0.full
expect 0 "write 2048 bytes to zone 0" se A write --zone 0 --in z0.full
expect 0 "read 2048 bytes of zone 0" se A read --zone 0 --length 2048 --out z0.back
assert_same_file "zone 0 full round trip" z0.full z0.back
expect 0 "write chain to zone 0 again" se A write --zone 0 --in chain.der
head -c 100 /dev/urandom >p100
expect 0 "write at offset 1948 of zone 0" se A write --zone 0 --offset 1948 --in p100
expect 0 "read at offset 1948" se A read --zone 0 --offset 1948 --length 100 --out p100.back
assert_same_file "offset round trip" p100 p100.back
expect 3 "write past the end of zone 0 refused" se A write --zone 0 --offset 1949 --in p100
expect 3 "read past the end of zone 0 refused" se A read --zone 0 --offset 2000 --length 49
expect 3 "read at offset 2048 refused" se A read --zone 0 --offset 2048 --length 1
expect 0 "zone 0 intact after refused write" se A read --zone 0 --offset 1948 --length 100 --out p100.back2
assert_same_file "refused write changed nothing" p100 p100.back2
head -c 1024 /dev/urandom >z1.bin
expect 0 "write zone 1 (1024)" se A write --zone 1 --in z1.bin
expect 0 "read zone 1" se A read --zone 1 --out z1.back
assert_same_file "zone 1 round trip" z1.bin z1.back
head -c 1025 /dev/urandom >z1.big
expect 3 "1025 bytes into zone 1 refused" se A write --zone 1 --in z1.big
head -c 512 /dev/urandom >z3.bin
expect 0 "write zone 3 (512)" se A write --zone 3 --in z3.bin
expect 0 "read zone 3" se A read --zone 3 --length 512 --out z3.back
assert_same_file "zone 3 round trip" z3.bin z3.back
expect 0 "read zone 3 to stdout" se A read --zone 3 --length 16
check "read prints something" test -s "$OUT"
head -c 257 /dev/urandom >z4.big
expect 3 "257 bytes into zone 4 refused" se A write --zone 4 --in z4.big
expect "2 3" "read zone 8 refused" se A read --zone 8 --length 1
expect "2 3" "write zone 8 refused" se A write --zone 8 --in p100
expect "2 3" "read zone 255 refused" se A read --zone 255 --length 1
expect 3 "write to counter zone 5 refused" se A write --zone 5 --in p100
expect "2 3" "read length 0 refused" se A read --zone 3 --length 0
: >empty.bin
expect "2 3 5" "write of an empty file refused" se A write --zone 3 --in empty.bin
expect 5 "write of a missing file" se A write --zone 3 --in "$T/no/file"
expect 5 "read into an unwritable path" se A read --zone 3 --length 4 --out "$T/no/dir/out"

# ---- counters ----------------------------------------------------------------------------
section "counters"
ctr() { # NAME ZONE [args]: prints the counter value via --json
    local name=$1 zone=$2
    shift 2
    se "$name" --json counter --zone "$zone" "$@" 2>/dev/null | jq -r .counter 2>/dev/null
}
expect 0 "counter zone 5" se A counter --zone 5
assert_grep "new counter is 4294967295" "4294967295" "$OUT"
expect 0 "counter --json" se A --json counter --zone 5
check "counter --json is {zone, counter}" jq -e '.zone == 5 and .counter == 4294967295' "$OUT"
expect 0 "decrement zone 5 by 1" se A counter --zone 5 --decrement 1
assert_grep "decrement prints the new value" "4294967294" "$OUT"
expect 0 "decrement zone 5 by 10" se A counter --zone 5 --decrement 10
assert_eq "counter went down by 11" "$(ctr A 5)" 4294967284
expect 0 "decrement zone 6 to 5" se A counter --zone 6 --decrement 4294967290
assert_eq "zone 6 at 5" "$(ctr A 6)" 5
printf 'firmware-v5' >cdata
expect 0 "decrement with data" se A counter --zone 6 --decrement 1 --data cdata
assert_eq "zone 6 at 4" "$(ctr A 6)" 4
expect 0 "read counter zone 6" se A read --zone 6 --length 36 --out c6.bin
check "counter zone reads as counter(4) first" sh -c "head -c 4 c6.bin | od -An -tx1 | tr -d ' \n' | grep -qx 00000004"
check "counter data area holds the data" sh -c "tail -c +5 c6.bin | head -c 11 | cmp -s - cdata"
expect 3 "decrement below zero refused" se A counter --zone 6 --decrement 5
printf 'rollback' >cdata2
expect 3 "decrement below zero with data refused" se A counter --zone 6 --decrement 5 --data cdata2
assert_grep "refusal names the counter" "counter" "$ERR"
assert_eq "refused decrement left the value" "$(ctr A 6)" 4
expect 0 "read counter zone 6 again" se A read --zone 6 --length 36 --out c6b.bin
assert_same_file "refused decrement left the data" c6.bin c6b.bin
expect 0 "decrement to exactly 0" se A counter --zone 6 --decrement 4
assert_eq "zone 6 at 0" "$(ctr A 6)" 0
expect 3 "decrement at 0 refused" se A counter --zone 6 --decrement 1
expect 3 "decrement at 0 by 4294967295 refused" se A counter --zone 6 --decrement 4294967295
assert_eq "zone 6 still 0" "$(ctr A 6)" 0
expect 0 "decrement 0 at 0 reads it" se A counter --zone 6 --decrement 0
head -c 33 /dev/urandom >cdata33
expect "2 3 5" "counter data over 32 bytes refused" se A counter --zone 7 --decrement 1 --data cdata33
assert_eq "zone 7 untouched" "$(ctr A 7)" 4294967295
expect "2 3" "counter on data zone 3 refused" se A counter --zone 3
expect "2 3" "counter on zone 8 refused" se A counter --zone 8
expect 2 "counter --decrement abc" se A counter --zone 7 --decrement abc
expect 2 "counter --decrement -1" se A counter --zone 7 --decrement -1
expect "2 3" "counter --decrement 2^32" se A counter --zone 7 --decrement 4294967296
assert_eq "zone 7 still untouched" "$(ctr A 7)" 4294967295

# ---- usage errors -----------------------------------------------------------------------------
section "usage errors"
expect 0 "pubkey slot 1 before usage errors" se A pubkey --slot 1 --out pre_usage.pem
usage() { expect 2 "usage: $*" se A "$@"; }
expect 2 "usage: no command" "$VOUCH" se --se "$(chip_uri A)"
expect 2 "usage: vouch with nothing" "$VOUCH"
expect 2 "usage: vouch bogus" "$VOUCH" frobnicate
usage frobnicate
usage --bogus-option info
usage info --bogus
usage echo
usage random
usage random ten
usage random 16 --out
usage keygen
usage keygen --slot
usage keygen --slot one --alg p256
usage keygen --slot 1 --alg rsa
usage keygen --slot 1 --alg ed25519 extra-argument
usage pubkey
usage sign --slot 0 --out x.sig
usage sign --slot 0 --in msg.bin
usage sign --in msg.bin --out x.sig
usage verify --in msg.bin --sig s0.der
usage verify --slot 0 --zone 2 --in msg.bin --sig s0.der
usage verify --slot 0 --in msg.bin
usage read
usage read --zone
usage read --zone x
usage read --zone 3 --offset -1 --length 1
usage write --zone 3
usage write --in p100
usage counter
usage counter --zone 5 --decrement
usage ecdh --slot 2
usage ecdh --peer peer.pem
usage wrap --key 0 --in pt.17
usage wrap --in pt.17 --out x
usage unwrap --key 0 --out x
usage lifecycle --set sideways
usage lifecycle --set
usage zone-ac --read host
usage zone-ac --zone 3 --read sometimes
usage zone-ac --zone 3 --update maybe
usage host-keys --set
usage random 16 17
usage read --zone 3 --length abc
usage write --zone 3 --offset x --in p100
usage wrap --key x --in pt.17 --out x
usage counter --zone 5 --data
usage verify --pubkey
usage sign --slot 0 --in msg.bin --out x.sig --bogus
usage keygen --slot 1 --alg
expect "2 3" "usage: keygen --slot 256" se A keygen --slot 256 --alg p256
expect 2 "usage: --se without value" "$VOUCH" se --se
expect "2 4" "usage: unknown URI scheme" "$VOUCH" se --se "ftp://example/x" info
expect 0 "pubkey slot 1 after usage errors" se A pubkey --slot 1 --out post_usage.pem
assert_same_file "usage errors changed nothing" pre_usage.pem post_usage.pem
check_not "no stray output file from usage errors" test -e x.sig

# ---- communication failures --------------------------------------------------------------
section "communication failures"
expect 4 "no daemon at the URI" "$VOUCH" se --se "unix:$IT_TMP/nothing.sock" info
expect 4 "no daemon: echo" "$VOUCH" se --se "unix:$IT_TMP/nothing.sock" echo hi
: >"$IT_TMP/plainfile"
expect 4 "URI is a plain file" "$VOUCH" se --se "unix:$IT_TMP/plainfile" info

# ---- restart: state survives ------------------------------------------------------------------
section "restart"
printf 'persist-me-%s' "$SERIAL_A" >marker.bin
expect 0 "write marker to zone 4" se A write --zone 4 --offset 100 --in marker.bin
chip_stop A
check_not "state.bin holds no zone data in clear" grep -qF "persist-me-$SERIAL_A" "$(chip_state A)/state.bin"
expect 4 "stopped daemon: communication failure" se A info
cp "$(chip_state A)/state.bin" state.good
chip_start A
assert_eq "same serial after restart" "${CHIP_SERIAL[A]}" "$SERIAL_A"
assert_eq "same lifecycle after restart" "${CHIP_LC[A]}" "PERSONALIZATION"
expect 0 "pubkey slot 0 after restart" se A pubkey --slot 0 --out a0.after
assert_same_file "slot 0 key survives restart" a0.pem a0.after
expect 0 "pubkey slot 1 after restart" se A pubkey --slot 1 --out a1.after
assert_same_file "slot 1 key survives restart" a1.pem a1.after
expect 0 "zone 0 after restart" se A read --zone 0 --length "$CHAIN_LEN" --out chain.after
assert_same_file "zone 0 survives restart" chain.der chain.after
expect 0 "zone 4 marker after restart" se A read --zone 4 --offset 100 --length "$(stat -c %s marker.bin)" --out marker.after
assert_same_file "zone 4 survives restart" marker.bin marker.after
assert_eq "counter survives restart" "$(ctr A 5)" 4294967284
expect 0 "signature after restart" se A sign --slot 0 --in msg.bin --out s0.after
check "openssl verifies a signature made after restart" openssl dgst -sha256 -verify a0.pem -signature s0.after msg.bin
expect 0 "unwrap after restart (envelope keys persist)" se A unwrap --key 0 --in w.17 --out u17.after
assert_same_file "envelope key survives restart" pt.17 u17.after
expect 0 "info after restart" se A info
tr -d ': -' <"$OUT" | tr 'A-F' 'a-f' >info2.txt
assert_grep "info after restart shows the same serial" "$SERIAL_A" info2.txt

# ---- daemon refusals ---------------------------------------------------------------------------
section "daemon refusals"
daemon_must_refuse "second vouch-se on the same DIR" "in use" \
    --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$IT_TMP/second.sock"
daemon_must_refuse "second vouch-se on the same DIR and socket" "in use" \
    --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$(chip_sock A)"
expect 0 "first daemon unaffected by the second" se A echo still-here
chip_stop A

head -c 32 /dev/urandom >wrong.key
OPEN_FAIL='cannot be opened|corrupt|seal key'
daemon_must_refuse "wrong seal key" "$OPEN_FAIL" \
    --state "$(chip_state A)" --seal-key wrong.key --socket "$IT_TMP/w.sock"
cmp -s state.good "$(chip_state A)/state.bin" || cp "$(chip_state A)/state.bin" state.good
SZ=$(stat -c %s state.good)
for off in 0 1 $((SZ / 3)) $((SZ / 2)) $((SZ - 17)) $((SZ - 1)); do
    cp state.good "$(chip_state A)/state.bin"
    flip_byte "$(chip_state A)/state.bin" "$off"
    cp "$(chip_state A)/state.bin" state.flipped
    daemon_must_refuse "state.bin with byte $off flipped" "$OPEN_FAIL" \
        --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock"
    assert_same_file "refused start left state.bin alone (byte $off)" state.flipped "$(chip_state A)/state.bin"
done
head -c $((SZ / 2)) state.good >"$(chip_state A)/state.bin"
daemon_must_refuse "truncated state.bin" "$OPEN_FAIL" \
    --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock"
: >"$(chip_state A)/state.bin"
daemon_must_refuse "empty state.bin (not a new chip)" "$OPEN_FAIL" \
    --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock"
{ cat state.good; printf 'x'; } >"$(chip_state A)/state.bin"
daemon_must_refuse "state.bin with a byte appended" "$OPEN_FAIL" \
    --state "$(chip_state A)" --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock"
head -c 16 /dev/urandom >short.key
cp state.good "$(chip_state A)/state.bin"
daemon_must_refuse "16-byte seal key file" "." \
    --state "$(chip_state A)" --seal-key short.key --socket "$IT_TMP/f.sock"
daemon_must_refuse "missing seal key file" "." \
    --state "$(chip_state A)" --seal-key "$T/no/key" --socket "$IT_TMP/f.sock"
daemon_must_refuse "missing --state" "." --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock"
daemon_must_refuse "unknown option" "." --state "$(chip_state A)" --seal-key "$(chip_key A)" \
    --socket "$IT_TMP/f.sock" --frobnicate
daemon_must_refuse "--timing with an unknown model" "." --state "$(chip_state A)" \
    --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock" --timing warp-speed
daemon_must_refuse "--fault-rate over 1" "." --state "$(chip_state A)" \
    --seal-key "$(chip_key A)" --socket "$IT_TMP/f.sock" --fault-rate 2
cp state.good "$(chip_state A)/state.bin"
chip_start A
assert_eq "original state still opens after the refusals" "${CHIP_SERIAL[A]}" "$SERIAL_A"
expect 0 "zone 0 intact after the refusals" se A read --zone 0 --length "$CHAIN_LEN" --out chain.after2
assert_same_file "zone 0 intact after the refusals" chain.der chain.after2

# ---- lifecycle on chip A (no host keys) ----------------------------------------------------------
section "lifecycle (chip A, no host keys)"
expect 0 "lifecycle shows the state" se A lifecycle
assert_grep "lifecycle is PERSONALIZATION" "personali[sz]ation" "$OUT"
expect 0 "lifecycle --set operational" se A lifecycle --set operational
expect 0 "lifecycle after set" se A lifecycle
assert_grep "lifecycle is OPERATIONAL" "operational" "$OUT"
expect 3 "operational -> operational refused" se A lifecycle --set operational
expect "2 3" "operational -> personalization refused" se A lifecycle --set personalization
expect 3 "keygen slot 0 in OPERATIONAL refused (factory slot locked)" se A keygen --slot 0 --alg p256
assert_grep "refusal names the lock" "lock" "$ERR"
expect 0 "slot 0 unchanged in OPERATIONAL" se A pubkey --slot 0 --out a0.op
assert_same_file "slot 0 public key unchanged" a0.pem a0.op
expect 0 "keygen slot 2 in OPERATIONAL allowed" se A keygen --slot 2 --alg p256 --out a2.op
expect 0 "sign in OPERATIONAL" se A sign --slot 0 --in msg.bin --out s0.op
check "openssl verifies a signature made in OPERATIONAL" openssl dgst -sha256 -verify a0.pem -signature s0.op msg.bin
head -c 32 /dev/urandom >hk.raw
expect 3 "host-keys in OPERATIONAL refused" se A host-keys --set hk.raw
expect 0 "info says OPERATIONAL" se A info
assert_grep "info says OPERATIONAL" "operational" "$OUT"
chip_stop A
chip_start A
assert_eq "OPERATIONAL survives restart" "${CHIP_LC[A]}" "OPERATIONAL"

expect 0 "lifecycle --set terminated" se A lifecycle --set terminated
expect 0 "lifecycle after terminate" se A lifecycle
assert_grep "lifecycle is TERMINATED" "terminated" "$OUT"
expect "2 3" "terminated -> operational refused" se A lifecycle --set operational
expect 3 "terminated -> terminated refused" se A lifecycle --set terminated
for s in 0 1 2 3; do
    expect 3 "pubkey slot $s in TERMINATED refused" se A pubkey --slot $s
    check_not "no PEM printed for slot $s in TERMINATED" grep -q 'BEGIN' "$OUT"
done
expect 3 "keygen slot 1 in TERMINATED refused" se A keygen --slot 1 --alg ed25519
expect 3 "keygen slot 0 in TERMINATED refused" se A keygen --slot 0 --alg p256
expect 3 "keygen ephemeral in TERMINATED refused" se A keygen --slot 255 --alg p256
expect 3 "sign p256 in TERMINATED refused" se A sign --slot 0 --in msg.bin --out t.sig
expect 3 "sign ed25519 in TERMINATED refused" se A sign --slot 1 --in emsg.bin --out t.sig
check_not "no signature written in TERMINATED" test -s t.sig
expect 3 "verify --slot in TERMINATED refused" se A verify --slot 0 --in msg.bin --sig s0.der
expect 3 "verify --pubkey in TERMINATED refused" se A verify --pubkey a0.pem --in msg.bin --sig s0.der
expect 3 "verify --zone in TERMINATED refused" se A verify --zone 2 --in msg.bin --sig s0.der
expect 3 "ecdh in TERMINATED refused" se A ecdh --slot 2 --peer peer.pem --out t.ss
expect 3 "x25519 ecdh in TERMINATED refused" se A ecdh --slot 3 --peer xpeer.pem --out t.ss
expect 3 "wrap in TERMINATED refused" se A wrap --key 0 --in pt.17 --out t.w
expect 3 "unwrap in TERMINATED refused" se A unwrap --key 0 --in w.17 --out t.u
check_not "no plaintext from unwrap in TERMINATED" test -s t.u
expect 3 "zone-ac in TERMINATED refused" se A zone-ac --zone 3 --read never
expect 3 "host-keys in TERMINATED refused" se A host-keys --set hk.raw
expect 0 "zone read still allowed in TERMINATED (by AC)" se A read --zone 0 --length "$CHAIN_LEN" --out chain.term
assert_same_file "zone 0 readable in TERMINATED" chain.der chain.term
expect 0 "echo in TERMINATED" se A echo still-talking
expect 0 "info in TERMINATED" se A info
assert_no_grep "info prints no private key" "PRIVATE" "$OUT"
chip_stop A
chip_start A
assert_eq "TERMINATED survives restart" "${CHIP_LC[A]}" "TERMINATED"
expect 3 "sign after restart in TERMINATED refused" se A sign --slot 0 --in msg.bin --out t.sig
expect 3 "unwrap after restart in TERMINATED refused" se A unwrap --key 0 --in w.17 --out t.u
chip_stop A

# ---------------------------------------------------------------------------
section "chip B: host secure channel and access conditions"
chip_new B
chip_start B
head -c 32 /dev/urandom >hkB.raw
xxd -p -c 64 hkB.raw | tr -d '\n' >hkB.hex
xxd -p -c 64 hkB.raw >hkB.hexnl
head -c 32 /dev/urandom >hk.wrong
head -c 31 hkB.raw >hk.short
printf 'zz%.0s' $(seq 32) >hk.nothex

expect 0 "zone-ac shows the conditions" se B zone-ac --zone 3
assert_grep "zone 3 read ALWAYS" "always" "$OUT"
expect 3 "zone-ac HOST before host keys are set refused" se B zone-ac --zone 3 --read host
expect 5 "--host-keys from a missing file" seh B "$T/no/keys" echo x
expect "2 5" "--host-keys from a 31-byte file" seh B hk.short echo x
expect "2 5" "--host-keys from a non-hex 64-char file" seh B hk.nothex echo x
expect "3 4" "--host-keys before the chip has keys" seh B hkB.raw echo x
expect "2 5" "host-keys --set from a 31-byte file" se B host-keys --set hk.short
expect 5 "host-keys --set from a missing file" se B host-keys --set "$T/no/keys"
expect 0 "host-keys --set (raw 32 bytes)" se B host-keys --set hkB.raw
expect 3 "host-keys --set again without the channel refused" se B host-keys --set hk.wrong
expect 3 "host-keys --set with wrong channel keys refused" seh B hk.wrong host-keys --set hk.wrong

# Commands that now need the channel.
expect 3 "zone-ac without the channel refused" se B zone-ac --zone 4 --read never
assert_grep "refusal names the channel" "channel" "$ERR"
expect 3 "lifecycle --set without the channel refused" se B lifecycle --set operational
expect 3 "wrap without the channel refused" se B wrap --key 0 --in pt.17 --out b.w
expect 0 "keygen slot 1 (PERSONALIZATION, plain ok)" se B keygen --slot 1 --alg p256 --out b1.pem
expect 3 "ecdh without the channel refused" se B ecdh --slot 1 --peer peer.pem --out b.ss
check_not "no secret written by a refused ecdh" test -s b.ss
expect 0 "echo over the channel (raw key file)" seh B hkB.raw echo over-channel
assert_grep "echo over the channel" "over-channel" "$OUT"
expect 0 "echo over the channel (hex key file)" seh B hkB.hex echo hex-keys
expect 0 "echo over the channel (hex with newline)" seh B hkB.hexnl echo hex-nl
expect 0 "VOUCH_HOST_KEYS env" env VOUCH_HOST_KEYS="$T/hkB.raw" VOUCH_SE="$(chip_uri B)" "$VOUCH" se echo env-keys
expect 3 "wrong host keys: E_MAC" seh B hk.wrong echo x
assert_grep "wrong keys: message names the MAC" "mac" "$ERR"
expect 3 "wrong host keys: wrap refused" seh B hk.wrong wrap --key 0 --in pt.17 --out b.w
expect 3 "wrong host keys: read refused" seh B hk.wrong read --zone 3 --length 4
expect 3 "wrong host keys: write refused" seh B hk.wrong write --zone 3 --in p100
expect 3 "wrong host keys: counter refused" seh B hk.wrong counter --zone 5 --decrement 1
expect 3 "wrong host keys: lifecycle refused" seh B hk.wrong lifecycle --set operational
expect 3 "wrong host keys: zone-ac refused" seh B hk.wrong zone-ac --zone 3 --read never
expect 3 "wrong host keys: sign refused" seh B hk.wrong sign --slot 1 --in msg.bin --out wk.sig
head -c 33 /dev/urandom >hk.33
printf '%065d' 0 >hk.65hex
expect "2 5" "--host-keys from a 33-byte file" seh B hk.33 echo x
expect "2 5" "--host-keys from 65 hex digits" seh B hk.65hex echo x
expect 0 "lifecycle still PERSONALIZATION after the refusals" seh B hkB.raw lifecycle
assert_grep "B still PERSONALIZATION" "personali[sz]ation" "$OUT"
assert_eq "counter 5 untouched by the refusals" "$(se B --json counter --zone 5 | jq -r .counter)" 4294967295
expect 0 "right keys still work after wrong ones" seh B hkB.raw echo ok
expect 0 "ecdh over the channel" seh B hkB.raw ecdh --slot 1 --peer peer.pem --out b.ss
openssl pkeyutl -derive -inkey peer.key -peerkey b1.pem -out b.ss.ossl
assert_same_file "ECDH over the channel agrees with openssl" b.ss b.ss.ossl
expect 0 "wrap over the channel" seh B hkB.raw wrap --key 0 --in pt.480 --out b.w
expect 0 "unwrap over the channel" seh B hkB.raw unwrap --key 0 --in b.w --out b.u
assert_same_file "wrap/unwrap over the channel round trip" pt.480 b.u
expect 3 "unwrap without the channel refused" se B unwrap --key 0 --in b.w --out b.u2
check_not "no plaintext from a refused unwrap" test -s b.u2
cp b.w b.wt
flip_byte b.wt 3
expect 3 "tampered blob refused over the channel" seh B hkB.raw unwrap --key 0 --in b.wt --out b.u3
expect 0 "sign over the channel" seh B hkB.raw sign --slot 1 --in msg.bin --out b.sig
check "openssl verifies a signature made over the channel" openssl dgst -sha256 -verify b1.pem -signature b.sig msg.bin
expect 0 "counter over the channel" seh B hkB.raw --json counter --zone 7 --decrement 2
check "counter over the channel" jq -e '.counter == 4294967293' "$OUT"

# Access conditions: ALWAYS -> HOST -> NEVER, never back.
head -c 256 /dev/urandom >z4B.bin
expect 0 "write zone 4 plain (update ALWAYS)" se B write --zone 4 --in z4B.bin
expect 0 "zone-ac zone 4 read HOST" seh B hkB.raw zone-ac --zone 4 --read host
expect 0 "zone-ac shows zone 4" se B zone-ac --zone 4
assert_grep "zone 4 read is HOST" "host" "$OUT"
expect 3 "read HOST zone without the channel refused" se B read --zone 4 --length 256 --out z4.plain
assert_grep "refusal names access" "access" "$ERR"
check_not "no data written by a refused read" test -s z4.plain
expect 3 "read HOST zone with wrong keys refused" seh B hk.wrong read --zone 4 --length 256 --out z4.plain
expect 0 "read HOST zone over the channel" seh B hkB.raw read --zone 4 --length 256 --out z4.sec
assert_same_file "HOST zone read over the channel" z4B.bin z4.sec
expect 0 "write zone 4 plain still allowed (update ALWAYS)" se B write --zone 4 --offset 0 --in marker.bin
expect 0 "zone-ac zone 4 update HOST" seh B hkB.raw zone-ac --zone 4 --update host
expect 3 "write HOST zone without the channel refused" se B write --zone 4 --in p100
head -c 200 /dev/urandom >z4c.bin
expect 0 "write HOST zone over the channel" seh B hkB.raw write --zone 4 --offset 50 --in z4c.bin
expect 0 "read back over the channel" seh B hkB.raw read --zone 4 --offset 50 --length 200 --out z4c.back
assert_same_file "HOST zone encrypted round trip" z4c.bin z4c.back
expect 3 "zone-ac HOST -> ALWAYS (read) refused" seh B hkB.raw zone-ac --zone 4 --read always
assert_grep "refusal says not stricter" "strict" "$ERR"
expect 3 "zone-ac HOST -> ALWAYS (update) refused" seh B hkB.raw zone-ac --zone 4 --update always
expect 0 "zone-ac HOST -> HOST (stay) allowed" seh B hkB.raw zone-ac --zone 4 --read host --update host
expect 0 "zone-ac zone 4 read NEVER" seh B hkB.raw zone-ac --zone 4 --read never
expect 3 "read NEVER zone refused (plain)" se B read --zone 4 --length 1
expect 3 "read NEVER zone refused (channel)" seh B hkB.raw read --zone 4 --length 1
expect 3 "zone-ac NEVER -> HOST refused" seh B hkB.raw zone-ac --zone 4 --read host
expect 3 "zone-ac NEVER -> ALWAYS refused" seh B hkB.raw zone-ac --zone 4 --read always
expect 0 "zone-ac zone 4 update NEVER" seh B hkB.raw zone-ac --zone 4 --update never
expect 3 "write NEVER zone refused (channel)" seh B hkB.raw write --zone 4 --in p100
expect 3 "write NEVER zone refused (plain)" se B write --zone 4 --in p100
expect 0 "zone-ac zone 3 ALWAYS -> NEVER directly" seh B hkB.raw zone-ac --zone 3 --read never --update never
expect 3 "read zone 3 NEVER refused" seh B hkB.raw read --zone 3 --length 1
expect 0 "zone-ac counter zone 7 update HOST" seh B hkB.raw zone-ac --zone 7 --update host
expect 3 "decrement HOST counter without the channel refused" se B counter --zone 7 --decrement 1
expect 0 "decrement HOST counter over the channel" seh B hkB.raw --json counter --zone 7 --decrement 1
check "counter over the channel went down by one" jq -e '.counter == 4294967292' "$OUT"
expect 3 "verify --zone from a NEVER zone refused" seh B hkB.raw verify --zone 4 --in msg.bin --sig b.sig
expect "2 3" "zone-ac of zone 8 refused" seh B hkB.raw zone-ac --zone 8 --read never

# Access conditions and channel survive a restart.
chip_stop B
chip_start B
expect 3 "after restart: zone 4 still NEVER" seh B hkB.raw read --zone 4 --length 1
expect 3 "after restart: channel still required" se B wrap --key 0 --in pt.17 --out b.w2
expect 3 "after restart: wrong keys still refused" seh B hk.wrong echo x
expect 0 "after restart: channel works" seh B hkB.raw echo back

# Hibernation with the channel.
expect 0 "hibernate B" se B hibernate
expect 3 "channel command while hibernating refused" seh B hkB.raw echo zzz
expect 0 "wake B" se B wake
expect 0 "channel after wake" seh B hkB.raw echo awake

# Lifecycle over the channel.
expect 0 "lifecycle --set operational over the channel" seh B hkB.raw lifecycle --set operational
expect 3 "keygen slot 2 in OPERATIONAL without the channel refused" se B keygen --slot 2 --alg p256
expect 0 "keygen slot 2 in OPERATIONAL over the channel" seh B hkB.raw keygen --slot 2 --alg p256 --out b2.pem
expect 3 "keygen slot 0 in OPERATIONAL refused even over the channel" seh B hkB.raw keygen --slot 0 --alg p256
expect 3 "host-keys rotation in OPERATIONAL refused" seh B hkB.raw host-keys --set hk.wrong
expect 0 "old keys still valid after refused rotation" seh B hkB.raw echo same-keys
expect 3 "lifecycle terminated without the channel refused" se B lifecycle --set terminated
expect 0 "lifecycle terminated over the channel" seh B hkB.raw lifecycle --set terminated
expect 3 "pubkey in TERMINATED (channel) refused" seh B hkB.raw pubkey --slot 1
expect 3 "ecdh in TERMINATED (channel) refused" seh B hkB.raw ecdh --slot 1 --peer peer.pem --out t2.ss
expect 3 "unwrap in TERMINATED (channel) refused" seh B hkB.raw unwrap --key 0 --in b.w --out t2.u
chip_stop B

# ---------------------------------------------------------------------------
section "chip C: host key rotation in PERSONALIZATION, terminate from PERSONALIZATION"
chip_new C
chip_start C
head -c 32 /dev/urandom >hkC1
head -c 32 /dev/urandom >hkC2
expect 3 "unwrap of chip A's blob on chip C refused (per-chip envelope keys)" se C unwrap --key 0 --in w.17 --out c.u
check_not "no plaintext from another chip's blob" test -s c.u
expect 3 "sign with an empty slot on a new chip refused" se C sign --slot 0 --in msg.bin --out c0.sig
expect 3 "pubkey of an empty slot on a new chip refused" se C pubkey --slot 1
expect 0 "keygen p256 on C" se C keygen --slot 2 --alg p256 --out c2.pem
expect 1 "chip A's signature does not verify with chip C's key" se C verify --slot 2 --in msg.bin --sig s0.der
expect 0 "host-keys --set on C" se C host-keys --set hkC1
expect 0 "rotate host keys over the channel" seh C hkC1 host-keys --set hkC2
expect 3 "old keys refused after rotation" seh C hkC1 echo x
expect 0 "new keys accepted after rotation" seh C hkC2 echo y
expect 0 "keygen on C" se C keygen --slot 0 --alg ed25519 --out c0.pem

section "certificate requests signed in the chip (se csr)"
expect 0 "keygen p256 for a CSR on C" se C keygen --slot 3 --alg p256 --out c3.pem
expect 0 "csr with subject and SANs" se C csr --slot 3 --subject "/O=Vouch Test/CN=meter-0001" --san DNS:meter.local,URI:urn:dev:1 --out c3.csr
check "openssl verifies the CSR's self-signature" openssl req -in c3.csr -noout -verify
openssl req -in c3.csr -noout -pubkey >c3.csr.pub 2>/dev/null
check "the CSR carries the slot's public key" cmp -s c3.csr.pub c3.pem
check "the CSR subject is as asked" grep -q "CN = meter-0001" <(openssl req -in c3.csr -noout -subject -nameopt oneline 2>/dev/null)
check "the CSR has the SANs" grep -q "DNS:meter.local, URI:urn:dev:1" <(openssl req -in c3.csr -noout -text 2>/dev/null)
expect 2 "csr: subject not in /K=V form" se C csr --slot 3 --subject "CN=x" --out x.csr
expect 2 "csr: unknown attribute" se C csr --slot 3 --subject "/NOPE=x" --out x.csr
expect 2 "csr: empty value" se C csr --slot 3 --subject "/CN=" --out x.csr
expect 2 "csr: bad SAN type" se C csr --slot 3 --subject "/CN=x" --san FOO:bar --out x.csr
expect 2 "csr: missing --subject" se C csr --slot 3 --out x.csr
expect 2 "csr: missing --out" se C csr --slot 3 --subject "/CN=x"
expect 2 "csr: Ed25519 slot refused" se C csr --slot 0 --subject "/CN=x" --out x.csr
expect 3 "csr: empty slot refused" se C csr --slot 1 --subject "/CN=x" --out x.csr
check_not "no request written on failure" test -e x.csr
expect 0 "PERSONALIZATION -> TERMINATED over the channel" seh C hkC2 lifecycle --set terminated
expect 3 "sign on C after terminate refused" se C sign --slot 0 --in emsg.bin --out c.sig
chip_stop C

it_done
