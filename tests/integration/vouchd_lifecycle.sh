#!/usr/bin/env bash
# vouchd certificate lifecycle against the real server (docs/api.md): every
# rule of every built-in template and of templates stored with PUT, broken
# CSRs of every kind vouchd_issue.sh does not already try, then revoke
# (every RFC 5280 reason, both spellings, every refusal), renew, rekey,
# GET in every format (the chain judged by openssl), search (every filter,
# keyset pages, every bad parameter), sync (paging, revocations coming back
# with a higher change number), the template endpoints, 401 on every /v1
# endpoint, and the audit chain at the end.
#
# CSRs come from the openssl command; the few that openssl refuses to make
# (a 65-byte CN, a NUL in a value, a 5-byte IP address, a SAN that does not
# decode) are assembled from DER by a small Python helper and signed by the
# openssl command, so they carry valid signatures and only the rule under
# test is broken.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vouchd_lib.sh"

vd_files
CURL_MAX=20
PUB=http://ca.example.test:8080/pki

# ---------------------------------------------------------------------------
# h.py: JSON bodies, PEM extraction, DER surgery and hand-made CSRs.
cat >h.py <<'PY'
import base64, hashlib, json, os, subprocess, sys, tempfile

def pem_der(path):
    txt = open(path).read()
    return base64.b64decode("".join(l for l in txt.splitlines() if l and not l.startswith("-----")))

def der_pem(der, label="CERTIFICATE REQUEST"):
    b = base64.b64encode(der).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        label, "\n".join(b[i:i + 64] for i in range(0, len(b), 64)), label)

def L(n):
    if n < 0x80:
        return bytes([n])
    s = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(s)]) + s

def tlv(t, c):
    return bytes([t]) + L(len(c)) + c

def oid(s):
    p = [int(x) for x in s.split(".")]
    out = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.insert(0, 0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(enc)
    return tlv(6, out)

def seq(*a):
    return tlv(0x30, b"".join(a))

def ossl(args, data=None):
    return subprocess.run(["openssl"] + args, input=data, check=True, capture_output=True).stdout

def spki_of_key(key):
    return ossl(["pkey", "-in", key, "-pubout", "-outform", "DER"])

def spki_of_csr(csr):
    pem = ossl(["req", "-in", csr, "-noout", "-pubkey"])
    return ossl(["pkey", "-pubin", "-outform", "DER"], pem)

ATTR = {"CN": "2.5.4.3", "O": "2.5.4.10", "OU": "2.5.4.11", "C": "2.5.4.6",
        "L": "2.5.4.7", "ST": "2.5.4.8", "serialNumber": "2.5.4.5"}
GN = {"email": 0x81, "dns": 0x82, "uri": 0x86, "ip": 0x87}

def rawcsr(key, out, spec):
    """A CSR from spec (JSON): subject [[attr, value]], san [[type, value]]
    (ip values in hex), san_raw (hex of the extension's OCTET STRING
    content); signed with key (EC P-256 or Ed25519) by the openssl command."""
    spec = json.loads(spec)
    name = seq(*[tlv(0x31, seq(oid(ATTR[a]), tlv(0x0C, v.encode("utf-8"))))
                 for a, v in spec.get("subject", [])])
    exts = []
    if "san" in spec:
        gn = b"".join(tlv(GN[t], bytes.fromhex(v) if t == "ip" else v.encode("utf-8"))
                      for t, v in spec["san"])
        exts.append(seq(oid("2.5.29.17"), tlv(4, tlv(0x30, gn))))
    if "san_raw" in spec:
        exts.append(seq(oid("2.5.29.17"), tlv(4, bytes.fromhex(spec["san_raw"]))))
    attrs = seq(oid("1.2.840.113549.1.9.14"), tlv(0x31, seq(*exts))) if exts else b""
    info = seq(tlv(2, b"\x00"), name, spki_of_key(key), tlv(0xA0, attrs))
    text = ossl(["pkey", "-in", key, "-noout", "-text"]).decode()
    if "ED25519" in text:
        with tempfile.NamedTemporaryFile() as f:
            f.write(info)
            f.flush()
            sig = ossl(["pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", f.name])
        alg = seq(oid("1.3.101.112"))
    else:
        sig = ossl(["dgst", "-sha256", "-sign", key], info)
        alg = seq(oid("1.2.840.10045.4.3.2"))
    open(out, "w").write(der_pem(seq(info, alg, tlv(3, b"\x00" + sig))))

def serve(fin_path, fout_path):
    """Answer requests (arguments NUL-terminated, then \\x01) one after the
    other: output, NUL, exit status, newline. Saves a Python start per call."""
    import contextlib, io, traceback
    fin = open(fin_path, "rb", buffering=0)
    fout = open(fout_path, "w")
    buf = b""
    while True:
        while b"\x01" not in buf:
            chunk = fin.read(65536)
            if not chunk:
                return
            buf += chunk
        msg, buf = buf.split(b"\x01", 1)
        args = [x.decode("utf-8", "surrogateescape") for x in msg.split(b"\x00")[:-1]]
        out, rc = io.StringIO(), 0
        try:
            with contextlib.redirect_stdout(out):
                run(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:
            rc = 1
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
        fout.write(out.getvalue().replace("\x00", "") + "\x00" + str(rc) + "\n")
        fout.flush()

def run(argv):
    c, a = argv[0], argv[1:]
    if c == "jget":  # JSONFILE EXPR: as vouchd_lib.sh's jget
        try:
            d = json.load(open(a[0]))
            print(eval(a[1], {"d": d, "json": json}))
        except Exception:
            print("<not json>")
    elif c == "py":  # CODE ARGS...: run CODE with sys.argv = ["py", ARGS...]
        sys.argv = ["py"] + a[1:]
        exec(compile(a[0], "<py>", "exec"), {"__name__": "__main__"})
    elif c == "db":  # DBFILE SQL: rows as a|b|c, read-only
        import sqlite3
        con = sqlite3.connect("file:" + a[0] + "?mode=ro", uri=True, timeout=10)
        try:
            print("\n".join("|".join(str(x) for x in r) for r in con.execute(a[1])))
        finally:
            con.close()
    elif c == "body":  # OUT CSR TEMPLATE [ISSUER]
        d = {"csr": open(a[1]).read(), "template": a[2]}
        if len(a) > 3:
            d["issuer"] = a[3]
        open(a[0], "w").write(json.dumps(d))
    elif c == "csrbody":  # OUT CSR [EXTRA-JSON-MEMBERS]
        d = {"csr": open(a[1]).read()}
        if len(a) > 2:
            d.update(json.loads(a[2]))
        open(a[0], "w").write(json.dumps(d))
    elif c == "member":  # JSON MEMBER OUT
        open(a[2], "w").write(json.load(open(a[0]))[a[1]])
    elif c == "chain":  # JSON PREFIX: PREFIX0.pem (issuing CA), PREFIX1.pem...
        for i, p in enumerate(json.load(open(a[0]))["chain"]):
            open("%s%d.pem" % (a[1], i), "w").write(p)
        print(len(json.load(open(a[0]))["chain"]))
    elif c == "split":  # PEMFILE PREFIX: one file per certificate, prints the count
        parts = [p + "-----END CERTIFICATE-----\n"
                 for p in open(a[0]).read().split("-----END CERTIFICATE-----\n") if p.strip()]
        for i, p in enumerate(parts):
            open("%s%d.pem" % (a[1], i), "w").write(p.lstrip())
        print(len(parts))
    elif c == "flipsig":  # IN OUT: the last byte of the DER (inside the signature)
        der = bytearray(pem_der(a[0]))
        der[-1] ^= 0x01
        open(a[1], "w").write(der_pem(bytes(der)))
    elif c == "swapkey":  # CSR OTHERKEY OUT: the other key's SPKI in place of the signer's
        der, old, new = pem_der(a[0]), spki_of_csr(a[0]), spki_of_key(a[1])
        assert len(old) == len(new) and der.count(old) == 1
        open(a[2], "w").write(der_pem(der.replace(old, new)))
    elif c == "patch":  # IN OLD NEW OUT: same-length byte replacement in the DER
        der, old, new = pem_der(a[0]), a[1].encode(), a[2].encode()
        assert len(old) == len(new) and der.count(old) == 1
        open(a[3], "w").write(der_pem(der.replace(old, new)))
    elif c == "offcurve":  # IN OUT: the EC point's last byte changed (off the curve)
        der, spki = bytearray(pem_der(a[0])), spki_of_csr(a[0])
        i = bytes(der).index(spki) + len(spki) - 1
        der[i] ^= 0x01
        open(a[1], "w").write(der_pem(bytes(der)))
    elif c == "truncate":  # IN OUT
        open(a[1], "w").write(der_pem(pem_der(a[0])[:-12]))
    elif c == "trailing":  # IN OUT: bytes after the outer SEQUENCE
        open(a[1], "w").write(der_pem(pem_der(a[0]) + b"\x05\x00"))
    elif c == "relabel":  # IN LABEL OUT: same DER under another PEM label
        open(a[2], "w").write(der_pem(pem_der(a[0]), a[1]))
    elif c == "rawcsr":  # KEY OUT SPEC
        rawcsr(a[0], a[1], a[2])
    elif c == "sha256der":  # PEM: sha256 of its DER
        print(hashlib.sha256(pem_der(a[0])).hexdigest())
    else:
        sys.exit("h.py: unknown command " + c)

if sys.argv[1] == "serve":
    serve(sys.argv[2], sys.argv[3])
else:
    run(sys.argv[1:])
PY
# One Python process answers every helper call over two FIFOs (a Python
# start costs ~0.1 s here; the test makes well over a thousand calls).
mkfifo "$IT_TMP/h.in" "$IT_TMP/h.out"
python3 "$T/h.py" serve "$IT_TMP/h.in" "$IT_TMP/h.out" >/dev/null 2>>"$IT_TMP/h.err" &
exec 7>"$IT_TMP/h.in" 8<"$IT_TMP/h.out"
hcall() {
    local out rc
    { printf '%s\0' "$@"; printf '\1'; } >&7
    IFS= read -r -d '' out <&8 || die "the Python helper died: $(tail -c 600 "$IT_TMP/h.err")"
    IFS= read -r rc <&8
    printf '%s' "$out"
    return "$rc"
}
h() { hcall "$@"; }
hpy() { hcall py "$@"; }
# vouchd_lib.sh's jget, through the helper
jget() { hcall jget "$OUT" "$1" || echo "<not json>"; }

# ---- request helpers ---------------------------------------------------------
# iss DESC WANT CODE CSR TEMPLATE [PATTERN [ISSUER]]: POST /v1/certificates;
# for a 2xx the serial goes to $LAST and the certificate to last.pem, else
# the error must be CODE; PATTERN (ERE) must be in the body when given.
LAST=""
iss() {
    local desc=$1 want=$2 code=$3 csr=$4 tpl=$5 pat=${6:-} issuer=${7:-}
    if [ -n "$issuer" ]; then h body .b.json "$csr" "$tpl" "$issuer"; else h body .b.json "$csr" "$tpl"; fi
    req "$desc" "$want" "${AUTH[@]}" "${JSON[@]}" --data-binary @.b.json "$U/v1/certificates"
    if [[ $want == 2* ]]; then
        LAST=$(jget 'd["serial"]')
        cp "$OUT" last.json
        h member last.json certificate last.pem 2>/dev/null || : >last.pem
    else
        json_error "$code"
    fi
    [ -z "$pat" ] || assert_grep "  message: $pat" "$pat" "$OUT"
}
# ok NAME CSR TEMPLATE: issue, keep NAME.pem / NAME.json, SER[NAME]=serial
declare -A SER=()
ok() {
    iss "issue $1 ($3)" 201 - "$2" "$3"
    cp last.pem "$1.pem"
    cp last.json "$1.json"
    SER[$1]=$LAST
}
# viol DESC CSR TEMPLATE PATTERN: a 422 template_violation naming the rule
viol() { iss "$1" 422 template_violation "$2" "$3" "$4"; }
# csr OUT KEY SUBJECT [openssl req args...]
csr() {
    local out=$1 key=$2 subj=$3
    shift 3
    openssl req -new -key "$key" -subj "$subj" "$@" -out "$out" 2>"$ERR" || die "openssl req for $out failed: $(cat "$ERR")"
}
# post DESC WANT CODE PATH [curl args]: an authenticated POST with a JSON body
post() {
    local desc=$1 want=$2 code=$3 path=$4
    shift 4
    req "$desc" "$want" "${AUTH[@]}" "${JSON[@]}" -X POST "$@" "$U$path"
    [[ $want == 2* ]] || json_error "$code"
}
# get DESC WANT CODE PATH: an authenticated GET
get() {
    req "$1" "$2" "${AUTH[@]}" "$U$4"
    [[ $2 == 2* ]] || json_error "$3"
}
status_of() { # ISSUER SERIAL: the status member of GET, or the HTTP status
    local st
    st=$(curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o "$IT_TMP/.st" -w '%{http_code}' "$U/v1/certificates/$1/$2" 2>/dev/null) || st=000
    if [ "$st" = 200 ]; then hcall jget "$IT_TMP/.st" 'd["status"]'; else echo "http-$st"; fi
}
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -pubout 2>/dev/null || echo "no key in $1"; }
pubkey_of_csr() { openssl req -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -pubout 2>/dev/null || echo "no key in $1"; }
quiet() { "$@" >/dev/null 2>&1; }
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 2>/dev/null || echo "no subject in $1"; }
san_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 || true; }
db() { hcall db "$CA/vouch.db" "$1" || echo '?'; }

# ---------------------------------------------------------------------------
section "setup"
"$VOUCH" ca init --data "$CA" --org "Lifecycle Test" >/dev/null 2>"$ERR" || die "ca init failed: $(cat "$ERR")"
TOKEN=$(tr -d '\n' <"$CA/admin.token")
vd_start "$IT_TMP/vd.log" --data "$CA" --listen 127.0.0.1:0 --public-url "$PUB" --threads 2
U=http://127.0.0.1:$VD_PORT
AUTH=(-H "Authorization: Bearer $TOKEN")
BADAUTH=(-H "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
JSON=(-H "Content-Type: application/json")
T_START=$(date -u +%s)
AUDIT0=$(db 'select max(seq) from audit_log')
gk() { openssl genpkey "$@" 2>/dev/null >/dev/null || die "openssl genpkey $* failed"; }
gk -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key
gk -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256b.key
gk -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
gk -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.key
gk -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.key
gk -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 -out bp.key
gk -algorithm ED25519 -out ed.key
gk -algorithm ED25519 -out edb.key
gk -algorithm ED448 -out ed448.key
gk -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key
gk -algorithm RSA -pkeyopt rsa_keygen_bits:2047 -out rsa2047.key
gk -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key
gk -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rsa3072.key
gk -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out pss.key
L65=$(printf 'd%.0s' {1..65})
SANS5="DNS:a.example,DNS:b.example,URI:urn:x:1,URI:urn:x:2,DNS:c.example"
SANS16=$(for i in $(seq 1 16); do printf 'DNS:h%d.example,' "$i"; done | sed 's/,$//')
SANS17="$SANS16,IP:192.0.2.17"
SANS100=$(for i in $(seq 1 100); do printf 'DNS:h%d.example,' "$i"; done | sed 's/,$//')
SANS101="$SANS100,DNS:h101.example"
cat >dupsan.cnf <<'EOF'
[req]
distinguished_name = dn
req_extensions = ext
prompt = no
[dn]
CN = dev-dupsan
[ext]
subjectAltName = DNS:a.example
2.5.29.17 = DER:300B8209622E6578616D706C65
EOF
openssl req -new -key p256.key -config dupsan.cnf -out dupsan.csr 2>"$ERR" || die "openssl req (two SAN extensions) failed: $(cat "$ERR")"

# ---------------------------------------------------------------------------
section "template device: keys ec-p256/ec-p384/ed25519; subject CN required, CN O OU serialNumber; CN pattern; SAN uri/dns, max 4"
csr d_ok.csr p384.key "/CN=dev-p384/O=Org/OU=Unit/serialNumber=SN-1" -addext "subjectAltName=URI:urn:dev:1,DNS:dev.example,DNS:b.example,URI:urn:x"
ok d_ok d_ok.csr device
openssl x509 -in d_ok.pem -noout -text >d_ok.txt 2>/dev/null || true
assert_grep "device: clientAuth only" 'TLS Web Client Authentication$' d_ok.txt
assert_no_grep "device: no serverAuth" 'TLS Web Server Authentication' d_ok.txt
assert_grep "device: digitalSignature + keyAgreement" 'Digital Signature, Key Agreement' d_ok.txt
assert_eq "device: 4 SANs kept" "$(san_of d_ok.pem | tr -d ' ')" "URI:urn:dev:1,DNS:dev.example,DNS:b.example,URI:urn:x"
csr d.csr rsa2048.key "/CN=dev-rsa"; viol "device: RSA-2048 key" d.csr device 'key type rsa-2048 not allowed by template device'
csr d.csr rsa3072.key "/CN=dev-rsa"; viol "device: RSA-3072 key" d.csr device 'key type rsa-3072 not allowed'
csr d.csr k1.key "/CN=dev-k1"; viol "device: secp256k1 key" d.csr device 'key type ec-secp256k1 not allowed'
csr d.csr p521.key "/CN=dev-p521"; viol "device: P-521 key" d.csr device 'key type ec-secp521r1 not allowed'
csr d.csr bp.key "/CN=dev-bp"; viol "device: brainpoolP256r1 key (not P-256)" d.csr device 'key type ec-brainpoolP256r1 not allowed'
csr d.csr ed448.key "/CN=dev-ed448"; viol "device: Ed448 key" d.csr device 'key type ed448 not allowed'
csr d.csr p256.key "/O=Org/serialNumber=1"; viol "device: no CN" d.csr device 'subject attribute CN required by template device'
csr d.csr p256.key "/CN=dev-1/C=DE"; viol "device: C not allowed" d.csr device 'subject attribute C not allowed by template device'
csr d.csr p256.key "/CN=dev-1/L=Berlin"; viol "device: L not allowed" d.csr device 'subject attribute L not allowed'
csr d.csr p256.key "/CN=dev-1/ST=Berlin"; viol "device: ST not allowed" d.csr device 'subject attribute ST not allowed'
csr d.csr p256.key "/CN=dev-1/emailAddress=a@example.com"; viol "device: emailAddress not allowed" d.csr device 'subject attribute emailAddress not allowed'
csr d.csr p256.key "/CN=dev-1/DC=example"; viol "device: DC not allowed" d.csr device 'subject attribute DC not allowed'
csr d.csr p256.key "/CN=dev-1/CN=dev-2"; viol "device: CN twice" d.csr device 'subject attribute CN appears more than once'
csr d.csr p256.key "/CN=dev-1/OU=a/OU=b"; viol "device: OU twice" d.csr device 'subject attribute OU appears more than once'
csr d.csr p256.key "/CN=dev-1+OU=a" -multivalue-rdn; viol "device: multi-valued RDN" d.csr device 'multi-valued RDNs are not allowed'
h rawcsr p256.key d.csr "{\"subject\": [[\"CN\", \"$L65\"]]}"; viol "device: 65-byte CN" d.csr device 'CN is empty, longer than 64 bytes'
h rawcsr p256.key d.csr '{"subject": [["CN", ""]]}'; viol "device: empty CN" d.csr device 'CN is empty'
h rawcsr p256.key d.csr '{"subject": [["CN", "dev\u0000x"]]}'; viol "device: NUL in CN" d.csr device 'has a NUL'
h rawcsr p256.key d.csr "{\"subject\": [[\"CN\", \"dev-ok\"], [\"O\", \"$L65\"]]}"; viol "device: 65-byte O" d.csr device 'O is empty, longer than 64 bytes'
h rawcsr p256.key d.csr '{"subject": [["CN", "dev-raw"], ["O", "Org"]]}'; iss "device: a hand-made CSR of the same shape is accepted" 201 - d.csr device
csr d.csr p256.key "/CN=-dev"; viol "device: CN starting with -" d.csr device 'does not match the pattern of template device'
csr d.csr p256.key "/CN=dev 1"; viol "device: CN with a space" d.csr device 'does not match the pattern'
csr d.csr p256.key "/CN=dév-1" -utf8; viol "device: CN with non-ASCII" d.csr device 'does not match the pattern'
csr d.csr p256.key "/CN=dev\\/1"; viol "device: CN with a slash" d.csr device 'does not match the pattern'
csr d.csr p256.key "/CN=dev-1" -addext "subjectAltName=IP:192.0.2.1"; viol "device: IP SAN" d.csr device 'SAN type ip not allowed by template device'
csr d.csr p256.key "/CN=dev-1" -addext "subjectAltName=email:a@example.com"; viol "device: email SAN" d.csr device 'SAN type email not allowed'
csr d.csr p256.key "/CN=dev-1" -addext "subjectAltName=RID:1.2.3.4"; viol "device: RID SAN" d.csr device 'SAN type rid not allowed'
csr d.csr p256.key "/CN=dev-1" -addext "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:x@y"; viol "device: otherName SAN" d.csr device 'SAN type othername not allowed'
csr d.csr p256.key "/CN=dev-1" -addext "subjectAltName=$SANS5"; viol "device: 5 SANs" d.csr device '5 SAN entries, template device allows at most 4'
viol "device: two subjectAltName extensions" dupsan.csr device 'subjectAltName twice'
h rawcsr p256.key d.csr '{"subject": [["CN", "dev-1"]], "san_raw": "3005820141"}'; viol "device: SAN extension that does not decode" d.csr device 'subjectAltName does not decode'
h rawcsr p256.key d.csr '{"subject": [["CN", "dev-1"]], "san": [["dns", ""]]}'; viol "device: empty DNS SAN" d.csr device 'SAN dns value empty'
h rawcsr p256.key d.csr '{"subject": [["CN", "dev-1"]], "san": [["dns", "a\u0000.example"]]}'; viol "device: NUL in a DNS SAN" d.csr device 'has a NUL'
# requested extensions are never copied: the template alone decides
csr d_ext.csr p256.key "/CN=dev-ext" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "extendedKeyUsage=serverAuth,codeSigning" -addext "nameConstraints=permitted;DNS:example.com"
ok d_ext d_ext.csr device
openssl x509 -in d_ext.pem -noout -text >d_ext.txt 2>/dev/null || true
assert_no_grep "requested CA:TRUE not granted" 'CA:TRUE' d_ext.txt
assert_no_grep "requested keyCertSign not granted" 'Certificate Sign' d_ext.txt
assert_no_grep "requested serverAuth not granted" 'TLS Web Server Authentication' d_ext.txt
assert_no_grep "requested codeSigning not granted" 'Code Signing' d_ext.txt
assert_no_grep "requested nameConstraints not copied" 'Name Constraints' d_ext.txt
assert_grep "template's key usage instead" 'Digital Signature, Key Agreement' d_ext.txt

# ---------------------------------------------------------------------------
section "template gateway: + rsa>=2048; CN O OU serialNumber L; SAN dns/ip/uri, max 16"
csr g_ok.csr rsa2048.key "/CN=gw-1/O=Org/OU=U/serialNumber=7/L=Berlin" -addext "subjectAltName=DNS:gw.example,IP:192.0.2.1,IP:2001:db8::1,URI:urn:gw:1"
ok g_ok g_ok.csr gateway
openssl x509 -in g_ok.pem -noout -text >g_ok.txt 2>/dev/null || true
assert_grep "gateway: serverAuth and clientAuth" 'TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication, TLS Web Server Authentication' g_ok.txt
csr g16.csr p256.key "/CN=gw-16" -addext "subjectAltName=$SANS16"
ok g16 g16.csr gateway
csr g.csr rsa1024.key "/CN=gw-1"; viol "gateway: RSA-1024" g.csr gateway 'key type rsa-1024 not allowed by template gateway \(allowed: ec-p256, ec-p384, ed25519, rsa>=2048\)'
csr g.csr rsa2047.key "/CN=gw-1"; viol "gateway: RSA-2047 (one bit short)" g.csr gateway 'key type rsa-2047 not allowed'
csr g.csr pss.key "/CN=gw-1"; viol "gateway: RSA-PSS key (not rsaEncryption)" g.csr gateway 'not allowed by template gateway'
csr g.csr k1.key "/CN=gw-1"; viol "gateway: secp256k1" g.csr gateway 'ec-secp256k1 not allowed'
csr g.csr ed448.key "/CN=gw-1"; viol "gateway: Ed448" g.csr gateway 'ed448 not allowed'
csr g.csr p256.key "/CN=gw-1/C=DE"; viol "gateway: C not allowed" g.csr gateway 'subject attribute C not allowed by template gateway'
csr g.csr p256.key "/CN=gw-1/ST=BE"; viol "gateway: ST not allowed" g.csr gateway 'subject attribute ST not allowed'
csr g.csr p256.key "/CN=gw-1/emailAddress=g@example.com"; viol "gateway: emailAddress not allowed" g.csr gateway 'emailAddress not allowed'
csr g.csr p256.key "/O=Org/L=Berlin"; viol "gateway: no CN" g.csr gateway 'CN required by template gateway'
csr g.csr p256.key "/CN=gw-1/L=a/L=b"; viol "gateway: L twice" g.csr gateway 'L appears more than once'
csr g.csr p256.key "/CN=gw 1"; viol "gateway: CN pattern" g.csr gateway 'does not match the pattern of template gateway'
csr g.csr p256.key "/CN=gw-17" -addext "subjectAltName=$SANS17"; viol "gateway: 17 SANs" g.csr gateway '17 SAN entries, template gateway allows at most 16'
csr g.csr p256.key "/CN=gw-1" -addext "subjectAltName=email:g@example.com"; viol "gateway: email SAN" g.csr gateway 'SAN type email not allowed by template gateway'
csr g.csr p256.key "/CN=gw-1" -addext "subjectAltName=RID:1.2.3.4"; viol "gateway: RID SAN" g.csr gateway 'SAN type rid not allowed'
h rawcsr p256.key g.csr '{"subject": [["CN", "gw-1"]], "san": [["ip", "c000020105"]]}'; viol "gateway: 5-byte IP SAN" g.csr gateway 'SAN IP address of 5 bytes'
h rawcsr p256.key g.csr "{\"subject\": [[\"CN\", \"gw-1\"]], \"san\": [[\"dns\", \"$(printf 'a%.0s' {1..254})\"]]}"; viol "gateway: 254-byte DNS SAN" g.csr gateway 'longer than 253 bytes'

# ---------------------------------------------------------------------------
section "template admin: CN O OU emailAddress; CN [A-Za-z0-9._@-]; SAN email, max 2"
csr a_ok.csr ed.key "/CN=alice@example.com/O=Org/OU=Ops/emailAddress=alice@example.com" -addext "subjectAltName=email:alice@example.com,email:a2@example.com"
ok a_ok a_ok.csr admin
openssl x509 -in a_ok.pem -noout -text >a_ok.txt 2>/dev/null || true
assert_grep "admin: clientAuth" 'TLS Web Client Authentication' a_ok.txt
assert_no_grep "admin: no keyAgreement" 'Key Agreement' a_ok.txt
csr a2.csr rsa2048.key "/CN=bob"
ok a_rsa a2.csr admin
csr a.csr rsa1024.key "/CN=bob"; viol "admin: RSA-1024" a.csr admin 'rsa-1024 not allowed by template admin'
csr a.csr rsa2047.key "/CN=bob"; viol "admin: RSA-2047" a.csr admin 'rsa-2047 not allowed'
csr a.csr ed448.key "/CN=bob"; viol "admin: Ed448" a.csr admin 'ed448 not allowed'
csr a.csr p256.key "/CN=bob/serialNumber=1"; viol "admin: serialNumber not allowed" a.csr admin 'serialNumber not allowed by template admin'
csr a.csr p256.key "/CN=bob/L=Berlin"; viol "admin: L not allowed" a.csr admin 'L not allowed'
csr a.csr p256.key "/CN=bob/C=DE"; viol "admin: C not allowed" a.csr admin 'C not allowed'
csr a.csr p256.key "/O=Org"; viol "admin: no CN" a.csr admin 'CN required by template admin'
csr a.csr p256.key "/CN=bob/CN=eve"; viol "admin: CN twice" a.csr admin 'CN appears more than once'
csr a.csr p256.key "/CN=alice smith"; viol "admin: CN with a space" a.csr admin 'does not match the pattern of template admin'
csr a.csr p256.key "/CN=alice!"; viol "admin: CN with !" a.csr admin 'does not match the pattern'
csr a.csr p256.key "/CN=bob" -addext "subjectAltName=DNS:bob.example"; viol "admin: DNS SAN" a.csr admin 'SAN type dns not allowed by template admin'
csr a.csr p256.key "/CN=bob" -addext "subjectAltName=URI:urn:bob"; viol "admin: URI SAN" a.csr admin 'SAN type uri not allowed'
csr a.csr p256.key "/CN=bob" -addext "subjectAltName=IP:192.0.2.5"; viol "admin: IP SAN" a.csr admin 'SAN type ip not allowed'
csr a.csr p256.key "/CN=bob" -addext "subjectAltName=email:a@x.example,email:b@x.example,email:c@x.example"; viol "admin: 3 email SANs" a.csr admin '3 SAN entries, template admin allows at most 2'

# ---------------------------------------------------------------------------
section "template user: CN O OU emailAddress; CN without control characters; SAN email/uri, max 4"
csr u_ok.csr p256.key "/CN=Alice Smith/O=Org/emailAddress=alice@example.com" -addext "subjectAltName=email:alice@example.com,URI:https://example.com/alice"
ok u_ok u_ok.csr user
openssl x509 -in u_ok.pem -noout -text >u_ok.txt 2>/dev/null || true
assert_grep "user: emailProtection" 'E-mail Protection' u_ok.txt
csr u2.csr rsa2048.key "/CN=Bob Jones"
ok u_rsa u2.csr user
csr u.csr rsa1024.key "/CN=Bob"; viol "user: RSA-1024" u.csr user 'rsa-1024 not allowed by template user'
csr u.csr rsa2047.key "/CN=Bob"; viol "user: RSA-2047" u.csr user 'rsa-2047 not allowed'
csr u.csr k1.key "/CN=Bob"; viol "user: secp256k1" u.csr user 'ec-secp256k1 not allowed'
csr u.csr p256.key "/CN=Bob$(printf '\001')x"; viol "user: control character in CN" u.csr user 'does not match the pattern of template user'
csr u.csr p256.key "/CN=Bob$(printf '\t')x"; viol "user: tab in CN" u.csr user 'does not match the pattern'
csr u.csr p256.key "/CN=Bob/C=DE"; viol "user: C not allowed" u.csr user 'C not allowed by template user'
csr u.csr p256.key "/CN=Bob/L=Berlin"; viol "user: L not allowed" u.csr user 'L not allowed'
csr u.csr p256.key "/CN=Bob/serialNumber=5"; viol "user: serialNumber not allowed" u.csr user 'serialNumber not allowed'
csr u.csr p256.key "/O=Org/emailAddress=b@example.com"; viol "user: no CN" u.csr user 'CN required by template user'
csr u.csr p256.key "/CN=Bob/emailAddress=a@example.com/emailAddress=b@example.com"; viol "user: emailAddress twice" u.csr user 'emailAddress appears more than once'
csr u.csr p256.key "/CN=Bob" -addext "subjectAltName=DNS:bob.example"; viol "user: DNS SAN" u.csr user 'SAN type dns not allowed by template user'
csr u.csr p256.key "/CN=Bob" -addext "subjectAltName=IP:192.0.2.5"; viol "user: IP SAN" u.csr user 'SAN type ip not allowed'
csr u.csr p256.key "/CN=Bob" -addext "subjectAltName=email:a@x.example,email:b@x.example,URI:urn:1,URI:urn:2,email:c@x.example"; viol "user: 5 SANs" u.csr user '5 SAN entries, template user allows at most 4'

# ---------------------------------------------------------------------------
section "template server: CN O OU C ST L; CN a host name or IPv4; SAN dns/ip, max 100, DNS pattern"
csr s_ok.csr p256.key "/CN=www.example.com/O=Org/OU=Web/C=DE/ST=Berlin/L=Berlin" -addext "subjectAltName=DNS:www.example.com,DNS:*.example.com,IP:192.0.2.10"
ok s_ok s_ok.csr server
openssl x509 -in s_ok.pem -noout -text >s_ok.txt 2>/dev/null || true
assert_grep "server: serverAuth" 'TLS Web Server Authentication' s_ok.txt
assert_no_grep "server: no clientAuth" 'TLS Web Client Authentication' s_ok.txt
csr s2.csr rsa2048.key "/CN=192.0.2.1"
ok s_ip s2.csr server
csr s100.csr p256.key "/CN=many.example" -addext "subjectAltName=$SANS100"
ok s_100 s100.csr server
csr s.csr rsa1024.key "/CN=www.example.com"; viol "server: RSA-1024" s.csr server 'rsa-1024 not allowed by template server'
csr s.csr rsa2047.key "/CN=www.example.com"; viol "server: RSA-2047" s.csr server 'rsa-2047 not allowed'
csr s.csr ed448.key "/CN=www.example.com"; viol "server: Ed448" s.csr server 'ed448 not allowed'
csr s.csr p256.key "/CN=bad_host.example"; viol "server: CN with _" s.csr server 'does not match the pattern of template server'
csr s.csr p256.key "/CN=-bad.example"; viol "server: CN starting with -" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=a..example"; viol "server: CN with an empty label" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=www.example.com."; viol "server: CN with a trailing dot" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=host name"; viol "server: CN with a space" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=www.example.com/serialNumber=1"; viol "server: serialNumber not allowed" s.csr server 'serialNumber not allowed by template server'
csr s.csr p256.key "/CN=www.example.com/emailAddress=w@example.com"; viol "server: emailAddress not allowed" s.csr server 'emailAddress not allowed'
csr s.csr p256.key "/O=Org/C=DE" -addext "subjectAltName=DNS:www.example.com"; viol "server: no CN" s.csr server 'CN required by template server'
csr s.csr p256.key "/CN=www.example.com/C=DE/C=FR"; viol "server: C twice" s.csr server 'C appears more than once'
csr s.csr p256.key "/CN=www.example.com" -addext "subjectAltName=URI:https://www.example.com/"; viol "server: URI SAN" s.csr server 'SAN type uri not allowed by template server'
csr s.csr p256.key "/CN=www.example.com" -addext "subjectAltName=email:w@example.com"; viol "server: email SAN" s.csr server 'SAN type email not allowed'
csr s.csr p256.key "/CN=www.example.com" -addext "subjectAltName=DNS:bad_name.example"; viol "server: DNS SAN with _" s.csr server 'SAN dns .{1,2}bad_name.example.{1,2} does not match the pattern of template server'
csr s.csr p256.key "/CN=www.example.com" -addext "subjectAltName=DNS:a..example"; viol "server: DNS SAN with an empty label" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=www.example.com" -addext "subjectAltName=DNS:exa mple.com"; viol "server: DNS SAN with a space" s.csr server 'does not match the pattern'
csr s.csr p256.key "/CN=many.example" -addext "subjectAltName=$SANS101"; viol "server: 101 SANs" s.csr server '101 SAN entries, template server allows at most 100'

# ---------------------------------------------------------------------------
section "template code-signing: + rsa>=3072; CN and O required, CN O OU C; no SAN"
csr c_ok.csr rsa3072.key "/CN=Release Signing/O=Org/OU=Build/C=DE"
ok c_ok c_ok.csr code-signing
openssl x509 -in c_ok.pem -noout -text >c_ok.txt 2>/dev/null || true
assert_grep "code-signing: codeSigning EKU" 'Code Signing' c_ok.txt
csr c2.csr p384.key "/CN=Signer/O=Org"
ok c_ec c2.csr code-signing
csr c.csr rsa2048.key "/CN=Signer/O=Org"; viol "code-signing: RSA-2048 (needs 3072)" c.csr code-signing 'rsa-2048 not allowed by template code-signing \(allowed: ec-p256, ec-p384, ed25519, rsa>=3072\)'
csr c.csr rsa2047.key "/CN=Signer/O=Org"; viol "code-signing: RSA-2047" c.csr code-signing 'rsa-2047 not allowed'
csr c.csr ed448.key "/CN=Signer/O=Org"; viol "code-signing: Ed448" c.csr code-signing 'ed448 not allowed'
csr c.csr p256.key "/CN=Signer"; viol "code-signing: no O" c.csr code-signing 'subject attribute O required by template code-signing'
csr c.csr p256.key "/O=Org"; viol "code-signing: no CN" c.csr code-signing 'subject attribute CN required'
csr c.csr p256.key "/CN=Signer/O=Org/L=Berlin"; viol "code-signing: L not allowed" c.csr code-signing 'L not allowed by template code-signing'
csr c.csr p256.key "/CN=Signer/O=Org/ST=BE"; viol "code-signing: ST not allowed" c.csr code-signing 'ST not allowed'
csr c.csr p256.key "/CN=Signer/O=Org/serialNumber=1"; viol "code-signing: serialNumber not allowed" c.csr code-signing 'serialNumber not allowed'
csr c.csr p256.key "/CN=Signer/O=Org/O=Org2"; viol "code-signing: O twice" c.csr code-signing 'O appears more than once'
csr c.csr p256.key "/CN=Sig$(printf '\002')ner/O=Org"; viol "code-signing: control character in CN" c.csr code-signing 'does not match the pattern'
csr c.csr p256.key "/CN=Signer/O=Org" -addext "subjectAltName=DNS:sign.example"; viol "code-signing: DNS SAN" c.csr code-signing 'subjectAltName not allowed by template code-signing'
csr c.csr p256.key "/CN=Signer/O=Org" -addext "subjectAltName=email:s@example.com"; viol "code-signing: email SAN" c.csr code-signing 'subjectAltName not allowed'

# ---------------------------------------------------------------------------
section "template family-ca: ec/ed25519 only; CN and O required, CN O OU; no SAN; CA:TRUE pathlen 0"
csr f_ok.csr p256.key "/CN=Family A/O=Org/OU=Fleet"
ok f_ok f_ok.csr family-ca
openssl x509 -in f_ok.pem -noout -text >f_ok.txt 2>/dev/null || true
assert_grep "family-ca: CA:TRUE, pathlen:0" 'CA:TRUE, pathlen:0' f_ok.txt
assert_grep "family-ca: keyCertSign + cRLSign" 'Certificate Sign, CRL Sign' f_ok.txt
csr f.csr rsa2048.key "/CN=Family B/O=Org"; viol "family-ca: RSA-2048" f.csr family-ca 'rsa-2048 not allowed by template family-ca \(allowed: ec-p256, ec-p384, ed25519\)'
csr f.csr rsa3072.key "/CN=Family B/O=Org"; viol "family-ca: RSA-3072" f.csr family-ca 'rsa-3072 not allowed'
csr f.csr k1.key "/CN=Family B/O=Org"; viol "family-ca: secp256k1" f.csr family-ca 'ec-secp256k1 not allowed'
csr f.csr p256.key "/CN=Family B"; viol "family-ca: no O" f.csr family-ca 'O required by template family-ca'
csr f.csr p256.key "/O=Org"; viol "family-ca: no CN" f.csr family-ca 'CN required by template family-ca'
csr f.csr p256.key "/CN=Family B/O=Org/C=DE"; viol "family-ca: C not allowed" f.csr family-ca 'C not allowed by template family-ca'
csr f.csr p256.key "/CN=Family B/O=Org/L=Berlin"; viol "family-ca: L not allowed" f.csr family-ca 'L not allowed'
csr f.csr p256.key "/CN=Family B/O=Org/serialNumber=3"; viol "family-ca: serialNumber not allowed" f.csr family-ca 'serialNumber not allowed'
csr f.csr p256.key "/CN=Family B/O=Org/OU=a/OU=b"; viol "family-ca: OU twice" f.csr family-ca 'OU appears more than once'
csr f.csr p256.key "/CN=Family B/O=Org" -addext "subjectAltName=DNS:family.example"; viol "family-ca: SAN" f.csr family-ca 'subjectAltName not allowed by template family-ca'

# ---------------------------------------------------------------------------
section "broken CSRs (beyond vouchd_issue.sh)"
csr good.csr p256.key "/CN=dev-tam1/O=Org"
csr rsagood.csr rsa2048.key "/CN=gw-sig"
csr edgood.csr ed.key "/CN=dev-edsig"
csr rsaweak.csr rsa1024.key "/CN=dev-weak"
h flipsig rsagood.csr bad.csr; iss "RSA CSR with a corrupted signature" 400 bad_csr_signature bad.csr gateway
h flipsig edgood.csr bad.csr; iss "Ed25519 CSR with a corrupted signature" 400 bad_csr_signature bad.csr device
h swapkey good.csr p256b.key bad.csr; iss "CSR with another key's SPKI (swapped key)" 400 bad_csr_signature bad.csr device
h patch good.csr dev-tam1 dev-tam2 bad.csr; iss "CSR whose CN was changed after signing" 400 bad_csr_signature bad.csr device
h flipsig rsaweak.csr bad.csr; iss "weak key AND bad signature: the signature is judged first" 400 bad_csr_signature bad.csr device
h offcurve good.csr bad.csr; iss "EC public key off the curve" 400 bad_csr bad.csr device
h truncate good.csr bad.csr; iss "truncated DER" 400 bad_csr bad.csr device
h trailing good.csr bad.csr; iss "DER with trailing bytes" 400 bad_csr bad.csr device
h relabel d_ok.pem "CERTIFICATE REQUEST" bad.csr; iss "a certificate under a CERTIFICATE REQUEST label" 400 bad_csr bad.csr device
iss "a certificate (PEM) instead of a CSR" 400 bad_csr d_ok.pem device
iss "a private key (PEM) instead of a CSR" 400 bad_csr p256.key device
openssl pkey -in p256.key -pubout -out p256.pub 2>/dev/null
iss "a public key (PEM) instead of a CSR" 400 bad_csr p256.pub device
openssl req -in good.csr -outform DER 2>/dev/null | base64 -w0 >b64.csr
iss "base64 DER without PEM armour" 400 bad_csr b64.csr device
printf -- '-----BEGIN CERTIFICATE REQUEST-----\n!!!!not base64!!!!\n-----END CERTIFICATE REQUEST-----\n' >bad.csr
iss "PEM with invalid base64" 400 bad_csr bad.csr device
printf -- '-----BEGIN CERTIFICATE REQUEST-----\n' >bad.csr
iss "PEM header only" 400 bad_csr bad.csr device
head -c 600 /dev/urandom | base64 -w 64 | sed '1i -----BEGIN CERTIFICATE REQUEST-----' | sed '$a -----END CERTIFICATE REQUEST-----' >bad.csr
iss "random bytes under a PEM label" 400 bad_csr bad.csr device
printf 'hello' >bad.csr
iss "plain text" 400 bad_csr bad.csr device
post "csr is an array" 400 bad_request /v1/certificates --data-binary '{"csr":["x"],"template":"device"}'
post "template is a number" 400 bad_request /v1/certificates --data-binary "$(hpy 'import json; print(json.dumps({"csr": open("good.csr").read(), "template": 7}))')"
post "issuer is a number" 400 bad_request /v1/certificates --data-binary "$(hpy 'import json; print(json.dumps({"csr": open("good.csr").read(), "template": "device", "issuer": 1}))')"
post "empty csr string" 400 bad_request /v1/certificates --data-binary '{"csr":"","template":"device"}'
post "duplicate member" 400 bad_request /v1/certificates --data-binary '{"csr":"x","template":"device","template":"user"}'
post "JSON null body" 400 bad_request /v1/certificates --data-binary 'null'
iss "unknown issuer (bad CSR aside)" 404 unknown_issuer good.csr device "" nope
iss "issuer name that cannot be one" 404 unknown_issuer good.csr device "" "../default"
iss "unknown template, valid CSR" 404 unknown_template good.csr Device
iss "template name with a slash" 404 unknown_template good.csr "device/x"

# ---------------------------------------------------------------------------
section "templates: list, get, put"
get "list templates" 200 - /v1/templates
assert_eq "the 7 built-ins, by name" "$(jget '",".join(t["name"] for t in d["templates"])')" "admin,code-signing,device,family-ca,gateway,server,user"
assert_eq "each entry: name, template, effective, created_at, updated_at" "$(jget 'all(sorted(t)==["created_at","effective","name","template","updated_at"] for t in d["templates"])')" True
assert_eq "effective rules are complete (device keeps its built-in EKU)" "$(jget '[t for t in d["templates"] if t["name"]=="device"][0]["effective"]["ext_key_usage"]')" "['clientAuth']"
get "get template device" 200 - /v1/templates/device
assert_eq "device: stored rules" "$(jget 'd["template"]["key_types"], d["template"]["san"]["max"], d["template"]["validity_days"]')" "(['ec-p256', 'ec-p384', 'ed25519'], 4, 3650)"
get "get unknown template" 404 unknown_template /v1/templates/nope
get "get template with a bad name" 404 unknown_template '/v1/templates/bad!name'
put() { # DESC WANT CODE NAME BODY
    req "$1" "$2" "${AUTH[@]}" "${JSON[@]}" -X PUT --data-binary "$5" "$U/v1/templates/$4"
    [[ $2 == 2* ]] || json_error "$3"
}
METER='{"validity_days":30,"key_usage":["digitalSignature"],"ext_key_usage":["clientAuth"],"key_types":["ec-p256"],"subject":{"required":["CN"],"allowed":["CN","O"],"cn_pattern":"m-[0-9]{1,12}"},"san":{"allowed":["uri"],"max":1,"pattern":"urn:meter:[0-9]+"}}'
put "PUT a new template: 201" 201 - meter "$METER"
assert_eq "PUT answer: the stored template with its name" "$(jget 'd["name"], d["template"]["name"], d["template"]["validity_days"]')" "('meter', 'meter', 30)"
M_CREATED=$(jget 'd["created_at"]')
sleep 1
put "PUT the same name again: 200" 200 - meter "${METER%\}},\"name\":\"meter\"}"
assert_eq "replace keeps created_at" "$(jget 'd["created_at"]')" "$M_CREATED"
assert_ne "replace moves updated_at" "$(jget 'd["updated_at"]')" "$M_CREATED"
get "get template meter" 200 - /v1/templates/meter
assert_eq "meter: rules as put" "$(jget 'd["template"]["subject"]["cn_pattern"], d["template"]["san"]["pattern"], d["template"]["key_types"]')" "('m-[0-9]{1,12}', 'urn:meter:[0-9]+', ['ec-p256'])"
put "PUT rsa4k (RSA only, 4096 bits)" 201 - rsa4k '{"key_types":["rsa"],"rsa_min_bits":4096}'
put "PUT short (3 days)" 201 - short '{"validity_days":3,"key_types":["ec-p256","ed25519"],"subject":{"required":["CN"],"allowed":["CN","O"],"cn_pattern":"s-[0-9]+"}}'
put "PUT bare ({}: every default)" 201 - bare '{}'
put "PUT tight (lenient for now)" 201 - tight '{"key_types":["ec-p256","ed25519"],"subject":{"required":["CN"],"allowed":["CN","O"]}}'
get "list templates again" 200 - /v1/templates
assert_eq "list: 12 templates by name" "$(jget '",".join(t["name"] for t in d["templates"])')" "admin,bare,code-signing,device,family-ca,gateway,meter,rsa4k,server,short,tight,user"
# invalid templates: 400 naming the member; nothing stored
bad_tpl() { # DESC BODY PATTERN [NAME]
    put "invalid template: $1" 400 bad_request "${4:-broken}" "$2"
    assert_grep "  names it: $3" "$3" "$OUT"
}
bad_tpl "unknown member" '{"days":30}' 'unknown member .{1,2}days.{1,2} in template'
bad_tpl "validity_days 0" '{"validity_days":0}' 'validity_days must be 1..36500'
bad_tpl "validity_days 36501" '{"validity_days":36501}' 'validity_days'
bad_tpl "validity_days a string" '{"validity_days":"30"}' 'validity_days must be an integer'
bad_tpl "validity_days fractional" '{"validity_days":1.5}' 'validity_days must be an integer'
bad_tpl "validity_days negative" '{"validity_days":-1}' 'validity_days must be an integer'
bad_tpl "key_usage unknown name" '{"key_usage":["signEverything"]}' 'key_usage: unknown value .{1,2}signEverything.{1,2}'
bad_tpl "key_usage not an array" '{"key_usage":"digitalSignature"}' 'key_usage must be an array'
bad_tpl "key_usage empty" '{"key_usage":[]}' 'key_usage must name at least one'
bad_tpl "key_usage entry not a string" '{"key_usage":[1]}' 'key_usage\[0\] must be a string'
bad_tpl "ext_key_usage unknown" '{"ext_key_usage":["anyExtendedKeyUsage"]}' 'ext_key_usage: unknown value'
bad_tpl "key_types unknown" '{"key_types":["rsa-1024"]}' 'key_types: unknown value'
bad_tpl "key_types empty" '{"key_types":[]}' 'key_types must name at least one'
bad_tpl "rsa_min_bits 1024" '{"key_types":["rsa"],"rsa_min_bits":1024}' 'rsa_min_bits must be 2048..16384'
bad_tpl "rsa_min_bits 16385" '{"rsa_min_bits":16385}' 'rsa_min_bits must be an integer'
bad_tpl "ca not a boolean" '{"ca":"yes"}' 'ca must be true or false'
bad_tpl "ca without keyCertSign" '{"ca":true,"path_len":0}' 'a CA template needs keyCertSign'
bad_tpl "keyCertSign without ca" '{"key_usage":["keyCertSign"]}' 'keyCertSign/cRLSign need ca=true'
bad_tpl "cRLSign without ca" '{"key_usage":["digitalSignature","cRLSign"]}' 'keyCertSign/cRLSign need ca=true'
bad_tpl "path_len 9" '{"path_len":9}' 'path_len must be an integer -1..8'
bad_tpl "path_len 0 without ca" '{"path_len":0}' 'path_len must be -1'
bad_tpl "subject not an object" '{"subject":"CN"}' 'subject must be an object'
bad_tpl "subject.required not within allowed" '{"subject":{"required":["O"],"allowed":["CN"]}}' 'subject.required must be a subset of subject.allowed'
bad_tpl "subject.allowed unknown attribute" '{"subject":{"allowed":["DC"]}}' 'subject.allowed: unknown value .{1,2}DC.{1,2}'
bad_tpl "subject.allowed empty" '{"subject":{"required":[],"allowed":[]}}' 'subject.allowed must name known attributes'
bad_tpl "subject.cn_pattern does not compile" '{"subject":{"cn_pattern":"x{2,1}"}}' 'subject.cn_pattern is not a valid extended regex'
bad_tpl "subject.cn_pattern nested counts" '{"subject":{"cn_pattern":"((a{1,25}){1,25}){1,25}"}}' 'subject.cn_pattern counts something that already repeats too many times'
bad_tpl "subject.cn_pattern counts an empty match" '{"subject":{"cn_pattern":"(a?){3}"}}' 'subject.cn_pattern counts something that can match the empty string'
bad_tpl "subject.cn_pattern not a string" '{"subject":{"cn_pattern":5}}' 'subject.cn_pattern must be a string'
bad_tpl "subject.cn_pattern too long" "{\"subject\":{\"cn_pattern\":\"$(printf 'a%.0s' {1..300})\"}}" 'subject.cn_pattern must be a string of at most'
bad_tpl "subject unknown member" '{"subject":{"cn":"x"}}' 'unknown member .{1,2}cn.{1,2} in subject'
bad_tpl "san not an object" '{"san":[]}' 'san must be an object'
bad_tpl "san.allowed without max" '{"san":{"allowed":["dns"]}}' 'san.max must be 1..1000'
bad_tpl "san.max 1001" '{"san":{"allowed":["dns"],"max":1001}}' 'san.max must be an integer 0..1000'
bad_tpl "san.allowed unknown type" '{"san":{"allowed":["x400"],"max":1}}' 'san.allowed: unknown value'
bad_tpl "san.pattern does not compile" '{"san":{"allowed":["dns"],"max":1,"pattern":"[[:nope:]]"}}' 'san.pattern is not a valid extended regex'
bad_tpl "san unknown member" '{"san":{"allowed":["dns"],"max":1,"extra":1}}' 'unknown member .{1,2}extra.{1,2} in san'
bad_tpl "name differs from the URL" '{"name":"other"}' "member .name. must be"
bad_tpl "name not a string" '{"name":5}' "member .name. must be"
bad_tpl "a built-in made inconsistent" '{"ca":true}' 'path_len|keyCertSign' gateway
put "invalid template: body not JSON" 400 bad_request broken 'not json'
put "invalid template: body an array" 400 bad_request broken '[1]'
put "invalid template: empty body" 400 bad_request broken ''
put "invalid template: duplicate key" 400 bad_request broken '{"validity_days":30,"validity_days":31}'
put "invalid template name in the URL" 400 bad_request 'bad!name' '{}'
put "template name of 64 characters" 400 bad_request "$(printf 'n%.0s' {1..64})" '{}'
get "nothing was stored under 'broken'" 404 unknown_template /v1/templates/broken
get "gateway unchanged by the refused PUT" 200 - /v1/templates/gateway
assert_eq "gateway still not a CA" "$(jget 'd["template"]["ca"], d["template"]["san"]["max"]')" "(False, 16)"
req "POST /v1/templates/x: 405" 405 "${AUTH[@]}" -X POST --data-binary '{}' "$U/v1/templates/x"
json_error method_not_allowed
assert_grep "  Allow: GET, HEAD, PUT" '^allow: GET, HEAD, PUT' "$HDR"
req "PUT /v1/templates (the list): 405" 405 "${AUTH[@]}" -X PUT --data-binary '{}' "$U/v1/templates"
json_error method_not_allowed
req "DELETE /v1/templates/meter: 405" 405 "${AUTH[@]}" -X DELETE "$U/v1/templates/meter"

section "stored templates enforce their rules"
csr m_ok.csr p256.key "/CN=m-42/O=Utility" -addext "subjectAltName=URI:urn:meter:42"
ok m_ok m_ok.csr meter
NB=$(openssl x509 -in m_ok.pem -noout -startdate | cut -d= -f2)
NA=$(openssl x509 -in m_ok.pem -noout -enddate | cut -d= -f2)
assert_eq "meter: 30 days of validity" "$(( ($(date -u -d "$NA" +%s) - $(date -u -d "$NB" +%s)) / 86400 ))" 30
assert_eq "meter: template recorded" "$(hpy 'import json; print(json.load(open("m_ok.json"))["template"])')" meter
csr m.csr p384.key "/CN=m-1"; viol "meter: P-384 (only ec-p256)" m.csr meter 'key type ec-p384 not allowed by template meter \(allowed: ec-p256\)'
csr m.csr ed.key "/CN=m-1"; viol "meter: Ed25519" m.csr meter 'ed25519 not allowed'
csr m.csr rsa2048.key "/CN=m-1"; viol "meter: RSA" m.csr meter 'rsa-2048 not allowed'
csr m.csr p256.key "/CN=m-abc"; viol "meter: CN m-abc" m.csr meter 'does not match the pattern of template meter'
csr m.csr p256.key "/CN=meter-1"; viol "meter: CN meter-1" m.csr meter 'does not match the pattern'
csr m.csr p256.key "/CN=m-1234567890123"; viol "meter: CN with 13 digits" m.csr meter 'does not match the pattern'
csr m.csr p256.key "/CN=xm-1"; viol "meter: CN with a prefix (whole-value match)" m.csr meter 'does not match the pattern'
csr m.csr p256.key "/CN=m-1/OU=x"; viol "meter: OU not allowed" m.csr meter 'OU not allowed by template meter'
csr m.csr p256.key "/O=Utility"; viol "meter: no CN" m.csr meter 'CN required by template meter'
csr m.csr p256.key "/CN=m-1" -addext "subjectAltName=DNS:m1.example"; viol "meter: DNS SAN" m.csr meter 'SAN type dns not allowed by template meter'
csr m.csr p256.key "/CN=m-1" -addext "subjectAltName=URI:urn:meter:1,URI:urn:meter:2"; viol "meter: 2 SANs" m.csr meter '2 SAN entries, template meter allows at most 1'
csr m.csr p256.key "/CN=m-1" -addext "subjectAltName=URI:urn:meter:x"; viol "meter: SAN breaking the pattern" m.csr meter 'SAN uri .{1,2}urn:meter:x.{1,2} does not match the pattern of template meter'
csr m.csr p256.key "/CN=m-1" -addext "subjectAltName=URI:urn:meter:1x"; viol "meter: SAN with a suffix (whole-value match)" m.csr meter 'does not match the pattern'
csr r.csr rsa3072.key "/CN=big"; viol "rsa4k: RSA-3072" r.csr rsa4k 'rsa-3072 not allowed by template rsa4k \(allowed: rsa>=4096\)'
csr r.csr rsa2048.key "/CN=big"; viol "rsa4k: RSA-2048" r.csr rsa4k 'rsa-2048 not allowed'
csr r.csr p256.key "/CN=big"; viol "rsa4k: P-256" r.csr rsa4k 'ec-p256 not allowed'
csr b.csr p256.key "/CN=anything at all, even spaces"; ok bare b.csr bare
openssl x509 -in bare.pem -noout -text >bare.txt 2>/dev/null || true
assert_grep "bare: locked-down default key usage" 'Digital Signature$' bare.txt
assert_no_grep "bare: no EKU by default" 'Extended Key Usage' bare.txt
NB=$(openssl x509 -in bare.pem -noout -startdate | cut -d= -f2)
NA=$(openssl x509 -in bare.pem -noout -enddate | cut -d= -f2)
assert_eq "bare: 365 days by default" "$(( ($(date -u -d "$NA" +%s) - $(date -u -d "$NB" +%s)) / 86400 ))" 365
csr b.csr p256.key "/CN=x/O=Org"; viol "bare: O not allowed (default subject CN only)" b.csr bare 'O not allowed by template bare'
h rawcsr p256.key b.csr '{"subject": []}'; viol "bare: empty subject (no CN)" b.csr bare 'CN required by template bare'
csr b.csr p256.key "/CN=x" -addext "subjectAltName=DNS:x.example"; viol "bare: SAN not allowed by default" b.csr bare 'subjectAltName not allowed by template bare'
csr b.csr rsa3072.key "/CN=x"; viol "bare: RSA not allowed by default" b.csr bare 'rsa-3072 not allowed by template bare \(allowed: ec-p256, ec-p384, ed25519\)'
csr b.csr ed448.key "/CN=x"; viol "bare: Ed448" b.csr bare 'ed448 not allowed'
for i in 1 2 3; do csr sh.csr p256.key "/CN=s-$i"; ok "short$i" sh.csr short; done
csr sh.csr p256.key "/CN=short-4"; viol "short: CN pattern" sh.csr short 'does not match the pattern of template short'
csr t1.csr p256.key "/CN=t-1/O=Org"; ok t1 t1.csr tight
csr t2.csr ed.key "/CN=t-2"; ok t2 t2.csr tight
put "tighten 'tight': no O, P-256 only" 200 - tight '{"key_types":["ec-p256"],"subject":{"required":["CN"],"allowed":["CN"]}}'
csr t3.csr p256.key "/CN=t-3/O=Org"; viol "tight (tightened): O no longer allowed" t3.csr tight 'O not allowed by template tight'
csr t3.csr ed.key "/CN=t-3"; viol "tight (tightened): Ed25519 no longer allowed" t3.csr tight 'ed25519 not allowed by template tight'
post "renew under the tightened template (O): 422" 422 template_violation "/v1/certificates/default/${SER[t1]}/renew"
assert_grep "  names the rule" 'O not allowed by template tight' "$OUT"
post "renew under the tightened template (Ed25519): 422" 422 template_violation "/v1/certificates/default/${SER[t2]}/renew"
assert_grep "  names the rule" 'ed25519 not allowed by template tight' "$OUT"
h csrbody rk.json t1.csr
post "rekey under the tightened template, same subject with O: 422" 422 template_violation "/v1/certificates/default/${SER[t1]}/rekey" --data-binary @rk.json
csr t2b.csr p256.key "/CN=t-2"; h csrbody rk.json t2b.csr
post "rekey t-2 onto a P-256 key: passes the tightened template" 201 - "/v1/certificates/default/${SER[t2]}/rekey" --data-binary @rk.json
# a built-in replaced with tighter rules
put "replace built-in gateway: P-256 only, DNS SANs, max 2" 200 - gateway '{"key_types":["ec-p256"],"san":{"allowed":["dns"],"max":2}}'
csr g.csr p256.key "/CN=gw-ip" -addext "subjectAltName=IP:192.0.2.9"; viol "gateway (replaced): IP SAN" g.csr gateway 'SAN type ip not allowed by template gateway'
csr g.csr p256.key "/CN=gw-3" -addext "subjectAltName=DNS:a.example,DNS:b.example,DNS:c.example"; viol "gateway (replaced): 3 SANs" g.csr gateway '3 SAN entries, template gateway allows at most 2'
csr g.csr rsa2048.key "/CN=gw-rsa"; viol "gateway (replaced): RSA" g.csr gateway 'rsa-2048 not allowed by template gateway'
post "renew the RSA gateway certificate under the replaced template: 422" 422 template_violation "/v1/certificates/default/${SER[g_ok]}/renew"
post "renew the 16-SAN gateway certificate under the replaced template: 422" 422 template_violation "/v1/certificates/default/${SER[g16]}/renew"
csr g.csr p256.key "/CN=gw-ok" -addext "subjectAltName=DNS:a.example"; iss "gateway (replaced): P-256 with one DNS SAN" 201 - g.csr gateway
openssl x509 -in last.pem -noout -text >g_new.txt 2>/dev/null || true
assert_grep "gateway (replaced): EKU still the built-in's" 'TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication, TLS Web Server Authentication' g_new.txt
get "GET gateway: the replacement" 200 - /v1/templates/gateway
assert_eq "gateway: the replaced rules as put" "$(jget 'd["template"]["name"], d["template"]["key_types"], d["template"]["san"]')" "('gateway', ['ec-p256'], {'allowed': ['dns'], 'max': 2})"

# ---------------------------------------------------------------------------
section "GET one certificate: json, pem, der, chain"
S=${SER[d_ok]}
get "GET json" 200 - "/v1/certificates/default/$S"
assert_eq "GET json: members" "$(jget 'sorted(d)')" "['certificate', 'device_id', 'issued_at', 'issuer', 'not_after', 'not_before', 'serial', 'sha256', 'status', 'subject', 'template']"
assert_eq "GET json: device_id is the CN" "$(jget 'd["device_id"]')" dev-p384
assert_eq "GET json: sha256 of the DER" "$(jget 'd["sha256"]')" "$(h sha256der d_ok.pem)"
get "GET ?format=json" 200 - "/v1/certificates/default/$S?format=json"
assert_eq "format=json same as none" "$(jget 'd["serial"]')" "$S"
get "GET ?format=pem" 200 - "/v1/certificates/default/$S?format=pem"
assert_same_file "pem: the issued certificate" "$OUT" d_ok.pem
assert_grep "pem: content type" '^content-type: application/x-pem-file' "$HDR"
get "GET ?format=der" 200 - "/v1/certificates/default/$S?format=der"
openssl x509 -in d_ok.pem -outform DER -out d_ok.der 2>/dev/null
assert_same_file "der: the issued certificate" "$OUT" d_ok.der
assert_grep "der: content type" '^content-type: application/pkix-cert' "$HDR"
get "GET ?format=chain" 200 - "/v1/certificates/default/$S?format=chain"
cp "$OUT" chain.pem
assert_grep "chain: content type" '^content-type: application/x-pem-file' "$HDR"
assert_eq "chain: leaf, issuing CA, root" "$(h split chain.pem ch)" 3
assert_same_file "chain[0] is the leaf" ch0.pem d_ok.pem
for i in 0 1; do
    assert_eq "chain[$i]'s issuer is chain[$((i + 1))]'s subject" \
        "$(openssl x509 -in "ch$i.pem" -noout -issuer -nameopt RFC2253 | cut -d= -f2-)" \
        "$(openssl x509 -in "ch$((i + 1)).pem" -noout -subject -nameopt RFC2253 | cut -d= -f2-)"
done
assert_eq "chain[2] is self-signed (the root)" "$(openssl x509 -in ch2.pem -noout -issuer -nameopt RFC2253 | cut -d= -f2-)" "$(openssl x509 -in ch2.pem -noout -subject -nameopt RFC2253 | cut -d= -f2-)"
check "openssl verify -CAfile root -untrusted issuing leaf" quiet openssl verify -CAfile ch2.pem -untrusted ch1.pem ch0.pem
check_not "openssl verify without the issuing CA fails" quiet openssl verify -CAfile ch2.pem ch0.pem
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o root.json "$U/v1/issuers/root" 2>/dev/null || true
h member root.json certificate_pem api_root.pem 2>/dev/null || true
assert_same_file "chain[2] is the root issuer" ch2.pem api_root.pem
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o iss.json "$U/v1/issuers/default" 2>/dev/null || true
h member iss.json certificate_pem api_iss.pem 2>/dev/null || true
assert_same_file "chain[1] is the default issuer" ch1.pem api_iss.pem
assert_eq "issuance chain member matches" "$(h chain d_ok.json ic)" 2
assert_same_file "issuance chain[0] = GET chain[1]" ic0.pem ch1.pem
req "HEAD one certificate" 200 "${AUTH[@]}" -I "$U/v1/certificates/default/$S"
get "GET with a colon-separated serial" 200 - "/v1/certificates/default/$(echo "$S" | sed 's/../&:/g; s/:$//')"
get "GET format=txt" 400 bad_request "/v1/certificates/default/$S?format=txt"
get "GET format empty" 400 bad_request "/v1/certificates/default/$S?format="
get "GET format=PEM (case matters)" 400 bad_request "/v1/certificates/default/$S?format=PEM"
get "GET format twice" 400 bad_request "/v1/certificates/default/$S?format=pem&format=der"
get "GET unknown query parameter" 400 bad_request "/v1/certificates/default/$S?verbose=1"
get "GET serial of 21 bytes" 400 bad_request "/v1/certificates/default/$(printf '1%.0s' {1..42})"
get "GET serial 0x-prefixed" 400 bad_request "/v1/certificates/default/0x$S"
get "GET serial with a space" 400 bad_request "/v1/certificates/default/AB%20CD"
get "GET unknown serial" 404 not_found "/v1/certificates/default/7E57000000000000000000000000DEAD"
get "GET under an unknown issuer" 404 unknown_issuer "/v1/certificates/nope/$S"
get "GET under the root (did not issue it)" 404 not_found "/v1/certificates/root/$S"
get "GET chain under an unknown issuer" 404 unknown_issuer "/v1/certificates/nope/$S?format=chain"
get "GET an unknown action" 404 not_found "/v1/certificates/default/$S/suspend"
get "GET too many segments" 404 not_found "/v1/certificates/default/$S/revoke/x"
get "GET empty serial segment" 404 not_found "/v1/certificates/default//revoke"
req "GET on /revoke: 405" 405 "${AUTH[@]}" "$U/v1/certificates/default/$S/revoke"
json_error method_not_allowed
assert_grep "  Allow: POST" '^allow: POST' "$HDR"
req "POST to the certificate itself: 405" 405 "${AUTH[@]}" -X POST "$U/v1/certificates/default/$S"
json_error method_not_allowed
assert_grep "  Allow: GET, HEAD" '^allow: GET, HEAD' "$HDR"
req "DELETE a certificate: 405" 405 "${AUTH[@]}" -X DELETE "$U/v1/certificates/default/$S"
req "PUT a certificate: 405" 405 "${AUTH[@]}" -X PUT --data-binary '{}' "$U/v1/certificates/default/$S"

# ---------------------------------------------------------------------------
section "revoke"
T_REV=$(date -u +%s)
csr rv.csr p256.key "/CN=dev-rv/O=Org"
REASONS=(unspecified UNSPECIFIED keyCompromise key-compromise cACompromise ca-compromise affiliationChanged affiliation-changed
    superseded SUPERSEDED cessationOfOperation cessation-of-operation certificateHold certificate-hold
    privilegeWithdrawn privilege-withdrawn aACompromise aa-compromise KEY_COMPROMISE KeyCompromise)
CAMEL=(unspecified unspecified keyCompromise keyCompromise cACompromise cACompromise affiliationChanged affiliationChanged
    superseded superseded cessationOfOperation cessationOfOperation certificateHold certificateHold
    privilegeWithdrawn privilegeWithdrawn aACompromise aACompromise keyCompromise keyCompromise)
REVOKED=()
for i in "${!REASONS[@]}"; do
    iss "issue a certificate to revoke (${REASONS[$i]})" 201 - rv.csr device
    post "revoke with reason ${REASONS[$i]}" 200 - "/v1/certificates/default/$LAST/revoke" --data-binary "{\"reason\":\"${REASONS[$i]}\"}"
    assert_eq "  status revoked, reason ${CAMEL[$i]}, revoked_at set" "$(jget 'd["status"], d["reason"], d["serial"], "revoked_at" in d, "certificate" in d')" "('revoked', '${CAMEL[$i]}', '$LAST', True, False)"
    REVOKED+=("$LAST")
done
iss "issue a certificate to revoke with an empty body" 201 - rv.csr device
post "revoke with an empty body" 200 - "/v1/certificates/default/$LAST/revoke"
assert_eq "  default reason unspecified" "$(jget 'd["status"], d["reason"]')" "('revoked', 'unspecified')"
REVOKED+=("$LAST")
iss "issue a certificate to revoke with {}" 201 - rv.csr device
post "revoke with {}" 200 - "/v1/certificates/default/$LAST/revoke" --data-binary '{}'
assert_eq "  default reason unspecified" "$(jget 'd["reason"]')" unspecified
REVOKED+=("$LAST")
get "GET a revoked certificate" 200 - "/v1/certificates/default/${REVOKED[2]}"
assert_eq "GET: revoked, keyCompromise" "$(jget 'd["status"], d["reason"]')" "('revoked', 'keyCompromise')"
RA=$(jget 'd["revoked_at"]')
# refusals, all on one active certificate that must stay active
iss "issue the certificate the refusals aim at" 201 - rv.csr device
R0=$LAST
for bad in removeFromCRL remove-from-crl REMOVE_FROM_CRL stolen "" key--compromise -keyCompromise keyCompromise- "keyCompromise " "key compromise" 1 unspecified0; do
    post "revoke with reason '$bad'" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary "{\"reason\":\"$bad\"}"
done
post "revoke with a numeric reason" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":1}'
post "revoke with reason null" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":null}'
post "revoke with reason an array" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":["keyCompromise"]}'
post "revoke with a garbage body" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary 'garbage'
post "revoke with a JSON array body" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '[]'
post "revoke with a JSON string body" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '"keyCompromise"'
post "revoke with truncated JSON" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":'
post "revoke with an unknown member" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":"superseded","comment":"x"}'
assert_grep "  names the member" "unknown member 'comment'" "$OUT"
post "revoke with only an unknown member" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"when":"now"}'
post "revoke with the reason twice" 400 bad_request "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":"superseded","reason":"keyCompromise"}'
post "revoke an unknown serial" 404 not_found "/v1/certificates/default/7E57000000000000000000000000DEAD/revoke" --data-binary '{}'
post "revoke under an unknown issuer" 404 unknown_issuer "/v1/certificates/nope/$R0/revoke"
post "revoke under the root (not its certificate)" 404 not_found "/v1/certificates/root/$R0/revoke"
post "revoke a bad serial text" 400 bad_request "/v1/certificates/default/XYZ/revoke"
post "revoke a 21-byte serial" 400 bad_request "/v1/certificates/default/$(printf 'A%.0s' {1..42})/revoke"
req "revoke without a token" 401 "${JSON[@]}" -X POST --data-binary '{"reason":"keyCompromise"}' "$U/v1/certificates/default/$R0/revoke"
json_error unauthorized
req "revoke with a bad token" 401 "${BADAUTH[@]}" "${JSON[@]}" -X POST --data-binary '{"reason":"keyCompromise"}' "$U/v1/certificates/default/$R0/revoke"
json_error invalid_token
assert_eq "after every refused revocation the certificate is still active" "$(status_of default "$R0")" active
# double revocation
R1=${REVOKED[2]}
post "revoke again (keyCompromise)" 409 already_revoked "/v1/certificates/default/$R1/revoke" --data-binary '{"reason":"keyCompromise"}'
post "revoke again with another reason" 409 already_revoked "/v1/certificates/default/$R1/revoke" --data-binary '{"reason":"superseded"}'
post "revoke again with an empty body" 409 already_revoked "/v1/certificates/default/$R1/revoke"
post "revoke again, bad reason: 400 before 409" 400 bad_request "/v1/certificates/default/$R1/revoke" --data-binary '{"reason":"removeFromCRL"}'
get "GET after the refused second revocations" 200 - "/v1/certificates/default/$R1"
assert_eq "reason and revoked_at unchanged" "$(jget 'd["reason"], d["revoked_at"]')" "('keyCompromise', '$RA')"

# ---------------------------------------------------------------------------
section "renew"
S=${SER[d_ok]}
post "renew" 201 - "/v1/certificates/default/$S/renew"
cp "$OUT" rn.json
N1=$(jget 'd["serial"]')
h member rn.json certificate rn.pem
assert_eq "renewed_from is the old serial" "$(jget 'd["renewed_from"]')" "$S"
assert_ne "a new serial" "$N1" "$S"
assert_eq "renew answer: issuance members + renewed_from" "$(jget 'sorted(d)')" "['certificate', 'chain', 'issuer', 'not_after', 'not_before', 'renewed_from', 'serial', 'template']"
assert_grep "renew: Location header" "^location: /v1/certificates/default/$N1" "$HDR"
assert_eq "renew: template kept" "$(jget 'd["template"]')" device
assert_eq "renew: same public key (openssl pkey -pubout)" "$(pubkey_of_cert rn.pem)" "$(pubkey_of_cert d_ok.pem)"
assert_eq "renew: same subject" "$(subject_of rn.pem)" "$(subject_of d_ok.pem)"
assert_eq "renew: same SANs" "$(san_of rn.pem)" "$(san_of d_ok.pem)"
assert_eq "renew: serial in the certificate" "$(openssl x509 -in rn.pem -noout -serial | cut -d= -f2)" "$N1"
h chain rn.json rnc >/dev/null
check "renewed certificate verifies" quiet openssl verify -CAfile rnc1.pem -untrusted rnc0.pem rn.pem
assert_eq "the old certificate stays active" "$(status_of default "$S")" active
assert_eq "the new certificate is active" "$(status_of default "$N1")" active
post "renew with {}" 201 - "/v1/certificates/default/$N1/renew" --data-binary '{}'
N2=$(jget 'd["serial"]')
assert_eq "renew of a renewal: renewed_from" "$(jget 'd["renewed_from"]')" "$N1"
assert_eq "renew of a renewal: a third serial" "$(printf '%s\n' "$S" "$N1" "$N2" | sort -u | wc -l)" 3
post "renew an RSA admin certificate" 201 - "/v1/certificates/default/${SER[a_rsa]}/renew"
h member "$OUT" certificate rn_rsa.pem
assert_eq "renew RSA: same public key" "$(pubkey_of_cert rn_rsa.pem)" "$(pubkey_of_cert a_rsa.pem)"
post "renew a revoked certificate" 409 certificate_revoked "/v1/certificates/default/$R1/renew"
post "renew a revoked certificate (other reason)" 409 certificate_revoked "/v1/certificates/default/${REVOKED[0]}/renew" --data-binary '{}'
post "renew with a csr member" 400 bad_request "/v1/certificates/default/$S/renew" --data-binary @rk.json
post "renew with an unknown member" 400 bad_request "/v1/certificates/default/$S/renew" --data-binary '{"validity_days":9999}'
post "renew with an array body" 400 bad_request "/v1/certificates/default/$S/renew" --data-binary '[]'
post "renew with a garbage body" 400 bad_request "/v1/certificates/default/$S/renew" --data-binary 'renew please'
post "renew an unknown serial" 404 not_found "/v1/certificates/default/7E57000000000000000000000000DEAD/renew"
post "renew under an unknown issuer" 404 unknown_issuer "/v1/certificates/nope/$S/renew"
post "renew under the root" 404 not_found "/v1/certificates/root/$S/renew"
post "renew a bad serial" 400 bad_request "/v1/certificates/default/not-hex/renew"
req "renew without a token" 401 -X POST "$U/v1/certificates/default/$S/renew"
json_error unauthorized
req "renew with a bad token" 401 "${BADAUTH[@]}" -X POST "$U/v1/certificates/default/$S/renew"
json_error invalid_token
req "GET on /renew: 405" 405 "${AUTH[@]}" "$U/v1/certificates/default/$S/renew"

# ---------------------------------------------------------------------------
section "rekey"
csr k0.csr p256.key "/CN=dev-rk/O=Org"
ok k0 k0.csr device
csr k0new.csr ed.key "/CN=dev-rk/O=Org"
h csrbody rk.json k0new.csr
post "rekey onto a new key, same subject" 201 - "/v1/certificates/default/${SER[k0]}/rekey" --data-binary @rk.json
cp "$OUT" rk_ans.json
h member rk_ans.json certificate k0new.pem
KN=$(jget 'd["serial"]')
assert_eq "rekey: renewed_from" "$(jget 'd["renewed_from"]')" "${SER[k0]}"
assert_ne "rekey: new serial" "$KN" "${SER[k0]}"
assert_eq "rekey: the CSR's public key" "$(pubkey_of_cert k0new.pem)" "$(pubkey_of_csr k0new.csr)"
assert_ne "rekey: not the old public key" "$(pubkey_of_cert k0new.pem)" "$(pubkey_of_cert k0.pem)"
assert_eq "rekey: same subject" "$(subject_of k0new.pem)" "$(subject_of k0.pem)"
assert_eq "rekey: template kept" "$(jget 'd["template"]')" device
assert_eq "rekey: old certificate still active" "$(status_of default "${SER[k0]}")" active
# a revoked certificate is rekeyed (that is the point after a key compromise)
post "revoke k0 (keyCompromise)" 200 - "/v1/certificates/default/${SER[k0]}/revoke" --data-binary '{"reason":"key-compromise"}'
csr k0b.csr p384.key "/CN=dev-rk/O=Org"
h csrbody rk.json k0b.csr
post "rekey a revoked certificate" 201 - "/v1/certificates/default/${SER[k0]}/rekey" --data-binary @rk.json
assert_eq "rekey of revoked: renewed_from" "$(jget 'd["renewed_from"]')" "${SER[k0]}"
assert_eq "rekey of revoked: the new one is active" "$(status_of default "$(jget 'd["serial"]')")" active
assert_eq "rekey of revoked: the old one stays revoked" "$(status_of default "${SER[k0]}")" revoked
rekey_bad() { # DESC WANT CODE CSRFILE [PATTERN]
    h csrbody rk.json "$4"
    post "$1" "$2" "$3" "/v1/certificates/default/$KN/rekey" --data-binary @rk.json
    [ -z "${5:-}" ] || assert_grep "  message: $5" "$5" "$OUT"
}
csr x.csr p256b.key "/CN=dev-other/O=Org"; rekey_bad "rekey: another CN" 422 subject_mismatch x.csr 'subject differs'
csr x.csr p256b.key "/O=Org/CN=dev-rk"; rekey_bad "rekey: same attributes, other order" 422 subject_mismatch x.csr
csr x.csr p256b.key "/CN=dev-rk/O=Org/OU=x"; rekey_bad "rekey: an extra attribute" 422 subject_mismatch x.csr
csr x.csr p256b.key "/CN=dev-rk"; rekey_bad "rekey: an attribute fewer" 422 subject_mismatch x.csr
csr x.csr p256b.key "/CN=DEV-RK/O=Org"; rekey_bad "rekey: CN in another case" 422 subject_mismatch x.csr
csr x.csr p256b.key "/CN=dev-rk/O=Org  "; rekey_bad "rekey: O with trailing spaces" 422 subject_mismatch x.csr
csr x.csr rsa2048.key "/CN=dev-rk/O=Org"; rekey_bad "rekey: same subject, key the template refuses" 422 template_violation x.csr 'rsa-2048 not allowed by template device'
csr x.csr p256b.key "/CN=dev-rk/O=Org" -addext "subjectAltName=IP:192.0.2.1"; rekey_bad "rekey: same subject, SAN the template refuses" 422 template_violation x.csr 'SAN type ip not allowed'
csr x.csr p256b.key "/CN=dev-rk/O=Org"; h flipsig x.csr xb.csr; rekey_bad "rekey: bad CSR signature" 400 bad_csr_signature xb.csr
h swapkey x.csr p256.key xb.csr; rekey_bad "rekey: swapped key" 400 bad_csr_signature xb.csr
rekey_bad "rekey: garbage CSR" 400 bad_csr b64.csr
rekey_bad "rekey: a certificate as CSR" 400 bad_csr k0.pem
rekey_bad "rekey: truncated CSR" 400 bad_csr "$(h truncate x.csr xt.csr; echo xt.csr)"
post "rekey: empty body" 400 bad_request "/v1/certificates/default/$KN/rekey"
post "rekey: {} (no csr)" 400 bad_request "/v1/certificates/default/$KN/rekey" --data-binary '{}'
post "rekey: csr not a string" 400 bad_request "/v1/certificates/default/$KN/rekey" --data-binary '{"csr":5}'
post "rekey: empty csr" 400 bad_request "/v1/certificates/default/$KN/rekey" --data-binary '{"csr":""}'
h csrbody rk.json x.csr '{"template":"server"}'
post "rekey: a template member (unknown)" 400 bad_request "/v1/certificates/default/$KN/rekey" --data-binary @rk.json
post "rekey: garbage body" 400 bad_request "/v1/certificates/default/$KN/rekey" --data-binary 'x'
h csrbody rk.json x.csr
post "rekey: unknown serial" 404 not_found "/v1/certificates/default/7E57000000000000000000000000DEAD/rekey" --data-binary @rk.json
post "rekey: unknown issuer" 404 unknown_issuer "/v1/certificates/nope/$KN/rekey" --data-binary @rk.json
post "rekey: bad serial" 400 bad_request "/v1/certificates/default/G00D/rekey" --data-binary @rk.json
req "rekey without a token" 401 "${JSON[@]}" --data-binary @rk.json "$U/v1/certificates/default/$KN/rekey"
json_error unauthorized
req "rekey with a bad token" 401 "${BADAUTH[@]}" "${JSON[@]}" --data-binary @rk.json "$U/v1/certificates/default/$KN/rekey"
json_error invalid_token

# ---------------------------------------------------------------------------
section "an expired certificate (its stored not_after moved into the past)"
# No API makes a certificate that has already expired (validity_days >= 1,
# not_before is now - 60 s), and vouchd reads the clock itself. The store
# derives "expired" from the not_after column, so the record's not_after is
# set to yesterday directly in the database; the DER is untouched.
csr e.csr p256.key "/CN=dev-exp"
ok e0 e.csr device
E0=${SER[e0]}
python3 - "$CA/vouch.db" "$E0" <<'PY' || fail "could not move not_after of $E0 into the past"
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=10)
n = c.execute("UPDATE certificates SET not_after=? WHERE serial=?", (int(time.time()) - 86400, bytes.fromhex(sys.argv[2]))).rowcount
c.commit()
assert n == 1, n
PY
assert_eq "GET: status expired" "$(status_of default "$E0")" expired
post "renew an expired certificate" 409 certificate_expired "/v1/certificates/default/$E0/renew"
post "renew an expired certificate with {}" 409 certificate_expired "/v1/certificates/default/$E0/renew" --data-binary '{}'
csr e2.csr ed.key "/CN=dev-exp"
h csrbody rk.json e2.csr
post "rekey an expired certificate" 201 - "/v1/certificates/default/$E0/rekey" --data-binary @rk.json
assert_eq "rekey of expired: renewed_from" "$(jget 'd["renewed_from"]')" "$E0"
post "revoke an expired certificate" 200 - "/v1/certificates/default/$E0/revoke" --data-binary '{"reason":"superseded"}'
assert_eq "revoked wins over expired" "$(jget 'd["status"]')" revoked
csr e3.csr p256.key "/CN=dev-exp3"
ok e3 e3.csr device
python3 - "$CA/vouch.db" "${SER[e3]}" <<'PY' || fail "could not move not_after of ${SER[e3]} into the past"
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("UPDATE certificates SET not_after=? WHERE serial=?", (int(time.time()) - 3600, bytes.fromhex(sys.argv[2])))
c.commit()
PY

# ---------------------------------------------------------------------------
section "search"
# the truth: every certificate, from sync (checked below on its own)
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o all.json "$U/v1/sync?after=0&limit=10000" 2>/dev/null || true
TOTAL=$(hpy 'import json; print(len(json.load(open("all.json"))["changes"]))')
note "$TOTAL certificates in the store"
# count FILTER-EXPR: how many certificates of all.json satisfy a python expression on c
count() { hpy 'import json,sys,time; now=time.time(); cs=json.load(open("all.json"))["changes"]
import calendar; ts=lambda s: calendar.timegm(time.strptime(s,"%Y-%m-%dT%H:%M:%SZ"))
print(sum(1 for c in cs if eval(sys.argv[1], {"c": c, "ts": ts, "now": now})))' "$1"; }
# pages QUERY LIMIT FILE: follow next_cursor; every entry appended to FILE (JSON lines)
pages() {
    local q=$1 lim=$2 file=$3 cur="" n=0 url
    : >"$file"
    while :; do
        url="$U/v1/certificates?${q:+$q&}limit=$lim${cur:+&cursor=$cur}"
        req "search page $((n + 1)) of '$q' (limit $lim)" 200 "${AUTH[@]}" "$url"
        hpy 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["certificates"]) <= int(sys.argv[3]); open(sys.argv[2],"a").write("".join(json.dumps(c)+"\n" for c in d["certificates"]))' "$OUT" "$file" "$lim" || fail "page of '$q' malformed or over the limit: $(head -c 200 "$OUT")"
        cur=$(jget 'd.get("next_cursor","")')
        n=$((n + 1))
        [ -n "$cur" ] && [ "$n" -lt 200 ] || break
    done
}
# judge FILE DESC WANT-COUNT ORDER-EXPR FILTER-EXPR: exact count, no repeats,
# every entry passes FILTER-EXPR, consecutive entries pass ORDER-EXPR(a, b)
judge() {
    local r
    r=$(hpy '
import json, sys, time, calendar
ts = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
cs = [json.loads(l) for l in open(sys.argv[1])]
keys = [(c["issuer"], c["serial"]) for c in cs]
bad = [c["serial"] for c in cs if not eval(sys.argv[3], {"c": c, "ts": ts, "now": time.time()})]
order = all(eval(sys.argv[2], {"a": a, "b": b, "ts": ts}) for a, b in zip(cs, cs[1:]))
print(len(cs), len(set(keys)) == len(keys), not bad, order, "certificate" in (cs[0] if cs else {}))
' "$1" "$4" "$5" 2>/dev/null | tail -1)
    assert_eq "$2: every match once, all match, in order, no PEM" "$r" "$3 True True True False"
}
pages "" 7 p_all.jsonl
judge p_all.jsonl "no filter, pages of 7, creation order" "$TOTAL" 'ts(a["issued_at"]) <= ts(b["issued_at"])' 'True'
assert_eq "pages of 7 visit every certificate of sync" "$(hpy 'import json; a=sorted(json.loads(l)["serial"] for l in open("p_all.jsonl")); b=sorted(c["serial"] for c in json.load(open("all.json"))["changes"]); print(a==b)')" True
pages "" 1000 p_all2.jsonl
judge p_all2.jsonl "no filter, one page" "$TOTAL" 'True' 'True'
ACTIVE=$(count 'c["status"]=="active"')
pages "status=active" 5 p.jsonl
judge p.jsonl "status=active" "$ACTIVE" 'ts(a["not_after"]) <= ts(b["not_after"])' 'c["status"]=="active"'
pages "status=revoked" 4 p.jsonl
judge p.jsonl "status=revoked" "$(count 'c["status"]=="revoked"')" 'True' 'c["status"]=="revoked"'
pages "status=expired" 1 p.jsonl
judge p.jsonl "status=expired" 1 'True' 'c["status"]=="expired" and c["device_id"]=="dev-exp3"'
pages "template=device" 6 p.jsonl
judge p.jsonl "template=device" "$(count 'c["template"]=="device"')" 'True' 'c["template"]=="device"'
pages "template=meter" 3 p.jsonl
judge p.jsonl "template=meter" 1 'True' 'c["template"]=="meter"'
pages "template=nosuch" 3 p.jsonl
judge p.jsonl "template=nosuch: none" 0 'True' 'False'
pages "issuer=default" 9 p.jsonl
judge p.jsonl "issuer=default" "$TOTAL" 'True' 'c["issuer"]=="default"'
pages "issuer=root" 9 p.jsonl
judge p.jsonl "issuer=root: none" 0 'True' 'False'
pages "device_id=dev-rv" 5 p.jsonl
judge p.jsonl "device_id=dev-rv" "$(count 'c.get("device_id")=="dev-rv"')" 'True' 'c["device_id"]=="dev-rv"'
pages "device_id=dev-rk" 2 p.jsonl
judge p.jsonl "device_id=dev-rk" "$(count 'c.get("device_id")=="dev-rk"')" 'True' 'c["device_id"]=="dev-rk"'
pages "device_id=nobody" 2 p.jsonl
judge p.jsonl "device_id=nobody: none" 0 'True' 'False'
pages "status=revoked&template=device&issuer=default" 3 p.jsonl
judge p.jsonl "status+template+issuer" "$(count 'c["status"]=="revoked" and c["template"]=="device"')" 'True' 'c["status"]=="revoked" and c["template"]=="device"'
pages "expiring=7d" 2 p.jsonl
judge p.jsonl "expiring=7d: the three 3-day certificates" 3 'ts(a["not_after"]) <= ts(b["not_after"])' 'c["template"]=="short" and c["status"]=="active"'
pages "expiring=604800" 2 p.jsonl
judge p.jsonl "expiring=604800 (seconds)" 3 'True' 'c["template"]=="short"'
pages "expiring=168h" 2 p.jsonl
judge p.jsonl "expiring=168h" 3 'True' 'c["template"]=="short"'
pages "expiring=10080m" 2 p.jsonl
judge p.jsonl "expiring=10080m" 3 'True' 'c["template"]=="short"'
pages "expiring=3660d" 8 p.jsonl
judge p.jsonl "expiring=3660d: every active certificate" "$ACTIVE" 'ts(a["not_after"]) <= ts(b["not_after"])' 'c["status"]=="active"'
pages "expiring=60s" 2 p.jsonl
judge p.jsonl "expiring=60s: none" 0 'True' 'False'
pages "expiring=7d&template=short&status=active" 5 p.jsonl
judge p.jsonl "expiring + template + status" 3 'True' 'c["template"]=="short"'
pages "issued_since=$T_REV" 6 p.jsonl
judge p.jsonl "issued_since (epoch)" "$(count "ts(c['issued_at']) >= $T_REV")" 'ts(a["issued_at"]) <= ts(b["issued_at"])' "ts(c['issued_at']) >= $T_REV"
pages "issued_since=$(date -u -d "@$T_REV" +%Y-%m-%dT%H:%M:%SZ)" 6 p.jsonl
judge p.jsonl "issued_since (RFC 3339)" "$(count "ts(c['issued_at']) >= $T_REV")" 'ts(a["issued_at"]) <= ts(b["issued_at"])' "ts(c['issued_at']) >= $T_REV"
pages "issued_since=$T_START" 50 p.jsonl
judge p.jsonl "issued_since the start: all" "$TOTAL" 'True' 'True'
pages "revoked_since=$T_REV" 5 p.jsonl
judge p.jsonl "revoked_since" "$(count 'c["status"]=="revoked"')" 'ts(a["revoked_at"]) <= ts(b["revoked_at"])' 'c["status"]=="revoked"'
pages "revoked_since=$(($(date +%s) + 86400))" 5 p.jsonl
judge p.jsonl "revoked_since tomorrow: none" 0 'True' 'False'
get "serial=<a certificate>" 200 - "/v1/certificates?serial=${SER[d_ok]}"
assert_eq "serial: exactly that one" "$(jget '[(c["issuer"], c["serial"]) for c in d["certificates"]], "next_cursor" in d')" "([('default', '${SER[d_ok]}')], False)"
get "serial in lower case with issuer" 200 - "/v1/certificates?serial=$(echo "${SER[d_ok]}" | tr A-F a-f)&issuer=default"
assert_eq "serial lower case: found" "$(jget 'len(d["certificates"])')" 1
get "serial under the root" 200 - "/v1/certificates?serial=${SER[d_ok]}&issuer=root"
assert_eq "serial under the root: none" "$(jget 'len(d["certificates"])')" 0
get "serial unknown" 200 - "/v1/certificates?serial=7E57000000000000000000000000DEAD"
assert_eq "serial unknown: none" "$(jget 'd["certificates"]')" "[]"
get "limit=1" 200 - "/v1/certificates?limit=1"
assert_eq "limit=1: one entry and a cursor" "$(jget 'len(d["certificates"]), "next_cursor" in d')" "(1, True)"
get "no parameters (default limit 100)" 200 - "/v1/certificates"
assert_eq "default page: min(total,100)" "$(jget 'len(d["certificates"])')" "$((TOTAL < 100 ? TOTAL : 100))"
sbad() { get "search: $1" 400 bad_request "/v1/certificates?$2"; }
sbad "status=bogus" "status=bogus"
sbad "status empty" "status="
sbad "status=ACTIVE (case)" "status=ACTIVE"
sbad "template empty" "template="
sbad "template of 129 characters" "template=$(printf 't%.0s' {1..129})"
sbad "device_id empty" "device_id="
sbad "serial not hex" "serial=XYZ"
sbad "serial of 21 bytes" "serial=$(printf '1%.0s' {1..42})"
sbad "serial with status" "serial=${SER[d_ok]}&status=active"
sbad "serial with cursor" "serial=${SER[d_ok]}&cursor=1.1"
get "serial with limit" 200 - "/v1/certificates?serial=${SER[d_ok]}&limit=5"
assert_eq "serial with limit: that one" "$(jget 'len(d["certificates"])')" 1
sbad "expiring=0" "expiring=0"
sbad "expiring=-1" "expiring=-1"
sbad "expiring=7w" "expiring=7w"
sbad "expiring=d" "expiring=d"
sbad "expiring=1.5d" "expiring=1.5d"
sbad "expiring over 100 years" "expiring=36601d"
sbad "expiring empty" "expiring="
sbad "issued_since=yesterday" "issued_since=yesterday"
sbad "issued_since date only" "issued_since=2026-11-21"
sbad "issued_since with an offset" "issued_since=2026-11-21T00:00:00%2B01:00"
sbad "issued_since month 13" "issued_since=2026-13-01T00:00:00Z"
sbad "issued_since negative" "issued_since=-5"
sbad "revoked_since=abc" "revoked_since=abc"
sbad "revoked_since empty" "revoked_since="
sbad "limit=0" "limit=0"
sbad "limit=1001" "limit=1001"
sbad "limit=abc" "limit=abc"
sbad "limit=-1" "limit=-1"
sbad "limit empty" "limit="
sbad "limit=5x" "limit=5x"
sbad "cursor=abc" "cursor=abc"
sbad "cursor=1 (no dot)" "cursor=1"
sbad "cursor=1.2.3" "cursor=1.2.3"
sbad "cursor empty" "cursor="
sbad "unknown parameter" "foo=1"
sbad "status twice" "status=active&status=revoked"
sbad "limit twice" "limit=5&limit=6"
sbad "issuer twice" "issuer=default&issuer=default"
get "search: unknown issuer" 404 unknown_issuer "/v1/certificates?issuer=nope"
get "search: issuer name that cannot be one" 404 unknown_issuer "/v1/certificates?issuer=a/b"

# ---------------------------------------------------------------------------
section "sync"
get "sync after=0" 200 - "/v1/sync?after=0&limit=10000"
cp "$OUT" s0.json
SYNC_OK=$(hpy '
import json
d = json.load(open("s0.json")); cs = d["changes"]
seqs = [c["seq"] for c in cs]; keys = [(c["issuer"], c["serial"]) for c in cs]
print(seqs == sorted(set(seqs)), len(set(keys)) == len(keys), all(c["certificate"].startswith("-----BEGIN CERTIFICATE-----") for c in cs), d["cursor"] == seqs[-1], d["more"])')
assert_eq "sync: seq strictly increasing, each certificate once, with PEM, cursor = last seq, more=false" "$SYNC_OK" "True True True True False"
assert_eq "sync: as many as the store holds" "$(jget 'len(d["changes"])')" "$(db 'select count(*) from certificates')"
C0=$(jget 'd["cursor"]')
get "sync without parameters (default)" 200 - "/v1/sync"
assert_eq "sync default: same list" "$(jget '[c["seq"] for c in d["changes"]]')" "$(hpy 'import json; print([c["seq"] for c in json.load(open("s0.json"))["changes"]])')"
# paging with limit 7
: >sp.jsonl
CUR=0
n=0
while :; do
    get "sync page $((n + 1)) after=$CUR limit=7" 200 - "/v1/sync?after=$CUR&limit=7"
    hpy 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"a").write("".join(json.dumps([c["seq"],c["serial"]])+"\n" for c in d["changes"])); assert d["more"] == (len(d["changes"]) == 7)' "$OUT" sp.jsonl || fail "sync page: more is not (page full)"
    MORE=$(jget 'd["more"]')
    CUR=$(jget 'd["cursor"]')
    n=$((n + 1))
    [ "$MORE" = True ] && [ "$n" -lt 200 ] || break
done
assert_eq "sync pages of 7 = the whole list, same order" "$(hpy 'import json; print([json.loads(l) for l in open("sp.jsonl")] == [[c["seq"],c["serial"]] for c in json.load(open("s0.json"))["changes"]])')" True
assert_eq "sync: last cursor = the full list's cursor" "$CUR" "$C0"
get "sync after the last change" 200 - "/v1/sync?after=$C0"
assert_eq "sync after the end: nothing, cursor stays, more=false" "$(jget 'd["changes"], d["cursor"], d["more"]')" "([], $C0, False)"
get "sync after a number beyond the end" 200 - "/v1/sync?after=999999999"
assert_eq "sync far beyond: cursor stays at what was asked" "$(jget 'd["changes"], d["cursor"]')" "([], 999999999)"
# a revocation comes back with a higher seq, once
OLDSEQ=$(hpy 'import json,sys; print([c["seq"] for c in json.load(open("s0.json"))["changes"] if c["serial"]==sys.argv[1]][0])' "$R0")
post "revoke R0 (superseded)" 200 - "/v1/certificates/default/$R0/revoke" --data-binary '{"reason":"superseded"}'
get "sync after the previous cursor" 200 - "/v1/sync?after=$C0"
assert_eq "sync: exactly the revoked certificate, revoked, seq above the cursor" "$(jget '[(c["serial"], c["status"], c["reason"], c["seq"] > '"$C0"') for c in d["changes"]]')" "[('$R0', 'revoked', 'superseded', True)]"
C1=$(jget 'd["cursor"]')
get "sync after=0 again" 200 - "/v1/sync?after=0&limit=10000"
assert_eq "sync after=0: R0 once, at its new seq, no longer at $OLDSEQ" "$(jget '[c["seq"] for c in d["changes"] if c["serial"]=="'"$R0"'"] == ['"$C1"'], '"$OLDSEQ"' in [c["seq"] for c in d["changes"]]')" "(True, False)"
assert_eq "sync after=0: still one entry per certificate" "$(jget 'len(d["changes"])')" "$(hpy 'import json; print(len(json.load(open("s0.json"))["changes"]))')"
csr sy.csr p256.key "/CN=dev-sync"
ok sy sy.csr device
get "sync after a new issuance" 200 - "/v1/sync?after=$C1"
assert_eq "sync: the new certificate, active" "$(jget '[(c["serial"], c["status"]) for c in d["changes"]]')" "[('${SER[sy]}', 'active')]"
for b in "after=-1" "after=abc" "after=" "after=1.5" "limit=0" "limit=10001" "limit=x" "limit=" "foo=1" "after=1&after=2" "limit=5&limit=5" "cursor=3"; do
    get "sync: $b" 400 bad_request "/v1/sync?$b"
done
req "POST /v1/sync: 405" 405 "${AUTH[@]}" -X POST --data-binary '{}' "$U/v1/sync"
json_error method_not_allowed

# ---------------------------------------------------------------------------
section "every /v1 endpoint: 401 without a token and with a bad token"
S=${SER[d_ok]}
NCERTS=$(db 'select count(*) from certificates')
NAUDIT=$(db 'select count(*) from audit_log')
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o tdev.json "$U/v1/templates/device" 2>/dev/null || true
UPD=$(hcall jget tdev.json 'd["updated_at"]')
h body ib.json d_ok.csr device
h csrbody rk.json d_ok.csr
EPS=(
    "GET /v1/issuers"
    "GET /v1/issuers/default"
    "GET /v1/issuers/nope"
    "GET /v1/certificates"
    "GET /v1/certificates?status=active"
    "POST /v1/certificates @ib.json"
    "GET /v1/certificates/default/$S"
    "GET /v1/certificates/default/$S?format=pem"
    "GET /v1/certificates/default/$S?format=der"
    "GET /v1/certificates/default/$S?format=chain"
    "POST /v1/certificates/default/$S/revoke {\"reason\":\"keyCompromise\"}"
    "POST /v1/certificates/default/$S/renew {}"
    "POST /v1/certificates/default/$S/rekey @rk.json"
    "GET /v1/sync?after=0"
    "GET /v1/templates"
    "GET /v1/templates/device"
    "PUT /v1/templates/device {\"validity_days\":1}"
    "PUT /v1/templates/evil {}"
    "HEAD /v1/issuers"
    "DELETE /v1/certificates/default/$S"
    "GET /v1"
    "GET /v1/"
    "GET /v1/nothing/here"
)
for ep in "${EPS[@]}"; do
    read -r m p b <<<"$ep"
    args=(-X "$m")
    [ "$m" = HEAD ] && args=(-I)
    [ -z "${b:-}" ] || args+=("${JSON[@]}" --data-binary "$b")
    req "$m $p without a token" 401 "${args[@]}" "$U$p"
    if [ "$m" != HEAD ]; then json_error unauthorized; fi
    assert_grep "  WWW-Authenticate: Bearer" '^www-authenticate: Bearer realm="vouch"' "$HDR"
    req "$m $p with a bad token" 401 "${BADAUTH[@]}" "${args[@]}" "$U$p"
    if [ "$m" != HEAD ]; then json_error invalid_token; fi
    req "$m $p with a Basic header" 401 -H "Authorization: Basic $(printf 'admin:%s' "$TOKEN" | base64 -w0)" "${args[@]}" "$U$p"
done
assert_eq "nothing issued by the refused calls" "$(db 'select count(*) from certificates')" "$NCERTS"
assert_eq "nothing audited by the refused calls" "$(db 'select count(*) from audit_log')" "$NAUDIT"
assert_eq "the certificate is still active" "$(status_of default "$S")" active
curl -sS --max-time "$CURL_MAX" "${AUTH[@]}" -o tdev.json "$U/v1/templates/device" 2>/dev/null || true
assert_eq "template device unchanged" "$(hcall jget tdev.json 'd["updated_at"], d["template"]["validity_days"]')" "('$UPD', 3650)"
get "template evil not created" 404 unknown_template /v1/templates/evil

# ---------------------------------------------------------------------------
section "family-ca under the root (kept last: it changes the root's counts)"
# a family CA under the root: the only place one can sign devices that verify
iss "issue family-ca under the root" 201 - f_ok.csr family-ca "" root
cp last.pem f_root.pem
h member last.json chain f_root.chain 2>/dev/null || true
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain"][-1], end="")' last.json >f_rootca.pem
openssl req -new -key p256.key -subj "/CN=fam-dev-1/O=Org" -out f_dev.csr 2>/dev/null
openssl x509 -req -in f_dev.csr -CA f_root.pem -CAkey p256.key -CAcreateserial -days 30 -out f_dev.pem 2>/dev/null
check "a device signed by that family CA verifies up to the root" openssl verify -CAfile f_rootca.pem -untrusted f_root.pem f_dev.pem
iss "the root still issues no leaves (device template)" 400 bad_request f_dev.csr device "is a root CA" root
# ---------------------------------------------------------------------------
section "audit"
expect 0 "vouch audit verify while vouchd runs" "$VOUCH" audit verify --data "$CA"
assert_eq "one cert.issue entry per stored certificate" "$(db "select count(*) from audit_log where action='cert.issue'")" "$(db 'select count(*) from certificates')"
assert_eq "one cert.revoke entry per revoked certificate" "$(db "select count(*) from audit_log where action='cert.revoke'")" "$(db 'select count(*) from certificates where status=2')"
# 7 built-ins at init + meter x2, rsa4k, short, bare, tight x2, gateway
assert_eq "template.put entries: 7 at init + 8 over the API" "$(db "select count(*) from audit_log where action='template.put'")" 15
assert_eq "API writes are audited as token:<name>" "$(db "select count(*) from audit_log where action in ('cert.issue','cert.revoke','template.put') and seq > $AUDIT0 and actor not like 'token:%'")" 0
vd_stop
assert_eq "SIGTERM: exit 0" "$VD_RC" 0
expect 0 "vouch audit verify after stopping" "$VOUCH" audit verify --data "$CA"
assert_eq "SQLite integrity_check" "$(db 'pragma integrity_check')" ok
assert_no_grep "no key material in the log" 'PRIVATE' "$VD_LOG"

it_done
