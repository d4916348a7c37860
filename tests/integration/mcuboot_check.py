#!/usr/bin/env python3
"""An independent reader and writer of MCUboot images, for the interop checks
of tests/integration/fw_image.sh. Python 3 standard library only; every
signature is made or checked by the `openssl` command, never by vouch.

    mcuboot_check.py check IMAGE... --pubkey PEM [--json]
        Parses IMAGE as MCUboot's image format says (header, protected TLV
        area 0x6908, TLV area 0x6907), recomputes the SHA-256 of header,
        payload and protected area, checks the SHA-256 TLV, that the key
        hash TLV is SHA-256 of `openssl pkey -pubin -outform DER` of PEM,
        and the signature:
          ECDSA P-256 (0x22): openssl dgst -sha256 -verify PEM
                              -signature sig.der prefix.bin
          Ed25519 (0x24):     openssl pkeyutl -verify -pubin -inkey PEM
                              -rawin -in hash.bin -sigfile sig.bin
        Exit 0 all valid (the fields on stdout; --json: one JSON object per
        line and image), 1 any invalid (one line per invalid image on
        stderr: "mcuboot_check: IMAGE: invalid: why"), 2 usage.

    mcuboot_check.py write --key PEM --in PAYLOAD --out IMAGE --version V
                           [--security-counter N] [--vendor NAME|UUID]
                           [--class NAME|UUID] [--header-size N]
                           [--load-addr N] [--reorder]
        Writes an image from its raw fields, signed with `openssl`. Vendor
        and class names become UUIDv5 (DNS namespace; the class in the
        vendor's), as imgtool does. --reorder writes the protected and the
        unprotected TLVs in the reverse of imgtool's order (the format does
        not fix an order).
"""
import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import uuid

IMAGE_MAGIC = 0x96F3B83D
HDR_FMT = "<IIHHIIBBHII"  # magic load hdr_sz prot_sz img_sz flags maj min rev build pad1
HDR_LEN = struct.calcsize(HDR_FMT)
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
T_KEYHASH, T_PUBKEY, T_SHA256 = 0x01, 0x02, 0x10
T_ECDSA256, T_ED25519 = 0x22, 0x24
T_SEC_CNT, T_VID, T_CID = 0x50, 0x74, 0x75
# What MCUboot's bootutil lets stand in the unprotected area
# (image_validate.c, allowed_unprot_tlvs); anything else must be protected.
UNPROT_OK = {0x01, 0x02, 0x10, 0x11, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
             0x30, 0x31, 0x32, 0x33}
PROT_ONLY = {T_SEC_CNT, T_VID, T_CID}
F_ENCRYPTED = 0x04 | 0x08


class Invalid(Exception):
    pass


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr


def pub_der(pem, private=False):
    args = ["pkey", "-in", pem, "-outform", "DER"]
    args += ["-pubout"] if private else ["-pubin"]
    rc, out, err = openssl(*args)
    if rc != 0:
        raise SystemExit(f"mcuboot_check: openssl cannot read {pem}: {err.decode().strip()}")
    return out


def key_alg(der):
    """'p256' or 'ed25519' from a DER SubjectPublicKeyInfo (the OIDs)."""
    if b"\x06\x03\x2b\x65\x70" in der[:16]:
        return "ed25519"
    if b"\x2a\x86\x48\xce\x3d\x03\x01\x07" in der[:32]:
        return "p256"
    raise SystemExit("mcuboot_check: the key is neither P-256 nor Ed25519")


def walk(area, magic, what):
    """TLVs of one area: info (magic, tot) then (type u16, len u16, value)."""
    if len(area) < 4:
        raise Invalid(f"{what}: shorter than its info")
    m, tot = struct.unpack_from("<HH", area, 0)
    if m != magic:
        raise Invalid(f"{what}: info magic {m:#06x}, want {magic:#06x}")
    if tot != len(area):
        raise Invalid(f"{what}: info says {tot} bytes, the area is {len(area)}")
    out, pos = [], 4
    while pos < tot:
        if tot - pos < 4:
            raise Invalid(f"{what}: a TLV header cut at {pos}")
        t, n = struct.unpack_from("<HH", area, pos)
        pos += 4
        if n > tot - pos:
            raise Invalid(f"{what}: TLV {t:#x} of {n} bytes runs past the area")
        out.append((t, bytes(area[pos:pos + n])))
        pos += n
    return out


def parse(b):
    if len(b) < HDR_LEN:
        raise Invalid("shorter than the 32-byte header")
    (magic, load, hdr_sz, prot_sz, img_sz, flags, maj, mnr, rev, build,
     _pad) = struct.unpack_from(HDR_FMT, b, 0)
    if magic != IMAGE_MAGIC:
        raise Invalid(f"header magic {magic:#010x}")
    if hdr_sz < HDR_LEN:
        raise Invalid(f"header size {hdr_sz} below {HDR_LEN}")
    if flags & F_ENCRYPTED:
        raise Invalid(f"encrypted image (flags {flags:#x}): not checked here")
    prot_off = hdr_sz + img_sz
    tlv_off = prot_off + prot_sz
    if tlv_off + 4 > len(b):
        raise Invalid("truncated before the TLV area")
    prot = walk(b[prot_off:tlv_off], TLV_PROT_INFO_MAGIC, "protected area") if prot_sz else []
    _, tot = struct.unpack_from("<HH", b, tlv_off)
    if tlv_off + tot > len(b):
        raise Invalid("truncated in the TLV area")
    unprot = walk(b[tlv_off:tlv_off + tot], TLV_INFO_MAGIC, "TLV area")
    for t, v in prot:
        if t in (T_SHA256, T_KEYHASH, T_PUBKEY, T_ECDSA256, T_ED25519):
            raise Invalid(f"TLV {t:#x} in the protected area")
    for t, v in unprot:
        if t in PROT_ONLY or t not in UNPROT_OK:
            raise Invalid(f"TLV {t:#x} in the unprotected area")
    f = dict(header_size=hdr_sz, payload_size=img_sz, protected_tlv_size=prot_sz,
             tlv_size=tot, load_address=load, flags=flags, size=len(b),
             version=f"{maj}.{mnr}.{rev}" + (f"+{build}" if build else ""),
             prot_off=prot_off, tlv_off=tlv_off)
    seen = {}
    for t, v in prot + unprot:
        if t in seen and t in (T_SHA256, T_KEYHASH, T_SEC_CNT, T_VID, T_CID):
            raise Invalid(f"TLV {t:#x} twice")
        seen[t] = v
    if T_ECDSA256 in seen and T_ED25519 in seen or \
            sum(1 for t, _ in unprot if t in (T_ECDSA256, T_ED25519)) > 1:
        raise Invalid("more than one signature")
    if T_SEC_CNT in seen:
        if len(seen[T_SEC_CNT]) != 4:
            raise Invalid("security counter is not 4 bytes")
        f["security_counter"] = struct.unpack("<I", seen[T_SEC_CNT])[0]
    for t, name in ((T_VID, "vendor"), (T_CID, "class")):
        if t in seen:
            if len(seen[t]) != 16:
                raise Invalid(f"{name} UUID is not 16 bytes")
            f[name] = str(uuid.UUID(bytes=seen[t]))
    return f, seen


def check(args):
    der = pub_der(args.pubkey)
    alg = key_alg(der)
    bad = 0
    for image in args.image:
        bad += check_one(args, image, der, alg)
    return 1 if bad else 0


def check_one(args, image, der, alg):
    with open(image, "rb") as fh:
        b = fh.read()
    try:
        f, seen = parse(b)
        digest = hashlib.sha256(b[:f["tlv_off"]]).digest()
        if T_SHA256 not in seen:
            raise Invalid("no SHA-256 TLV")
        if seen[T_SHA256] != digest:
            raise Invalid("SHA-256 TLV does not match the image")
        f["sha256"] = digest.hex()
        if T_KEYHASH not in seen:
            raise Invalid("no key hash TLV")
        f["key_hash"] = seen[T_KEYHASH].hex()
        if seen[T_KEYHASH] != hashlib.sha256(der).digest():
            raise Invalid("key hash TLV is not SHA-256 of the key's DER")
        with tempfile.TemporaryDirectory() as d:
            pem = os.path.abspath(args.pubkey)
            if alg == "p256":
                if T_ECDSA256 not in seen:
                    raise Invalid("no ECDSA P-256 signature TLV")
                f["signature"] = "ecdsa-p256"
                open(os.path.join(d, "sig.der"), "wb").write(seen[T_ECDSA256])
                open(os.path.join(d, "prefix.bin"), "wb").write(b[:f["tlv_off"]])
                rc, out, err = openssl("dgst", "-sha256", "-verify", pem, "-signature",
                                       os.path.join(d, "sig.der"),
                                       os.path.join(d, "prefix.bin"))
            else:
                if T_ED25519 not in seen or len(seen[T_ED25519]) != 64:
                    raise Invalid("no 64-byte Ed25519 signature TLV")
                f["signature"] = "ed25519"
                open(os.path.join(d, "sig.bin"), "wb").write(seen[T_ED25519])
                open(os.path.join(d, "hash.bin"), "wb").write(digest)
                rc, out, err = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                                       "-in", os.path.join(d, "hash.bin"), "-sigfile",
                                       os.path.join(d, "sig.bin"))
            if rc != 0:
                raise Invalid("openssl: signature invalid: " +
                              (out + err).decode(errors="replace").strip().splitlines()[0])
    except Invalid as e:
        print(f"mcuboot_check: {image}: invalid: {e}", file=sys.stderr)
        return 1
    del f["prot_off"], f["tlv_off"]
    if args.json:
        print(json.dumps(f, sort_keys=True))
    else:
        for k in sorted(f):
            print(f"{k}: {f[k]}")
        print(f"{image}: valid")
    return 0


VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+)(?:\.(\d+)(?:\+(\d+))?)?)?$")  # imgtool's


def uuid_arg(s, ns):
    try:
        return uuid.UUID(s)
    except ValueError:
        return uuid.uuid5(ns, s)


def write(args):
    m = VERSION_RE.match(args.version)
    if not m:
        raise SystemExit(f"mcuboot_check: bad version {args.version}")
    maj, mnr, rev, build = (int(x) if x else 0 for x in m.groups())
    with open(args.infile, "rb") as fh:
        payload = fh.read()
    der = pub_der(args.key, private=True)
    alg = key_alg(der)
    hdr_sz = args.header_size

    prot = []
    if args.security_counter is not None:
        prot.append((T_SEC_CNT, struct.pack("<I", args.security_counter)))
    vid = None
    if args.vendor:
        vid = uuid_arg(args.vendor, uuid.NAMESPACE_DNS)
        prot.append((T_VID, vid.bytes))
    if args.cls:
        prot.append((T_CID, uuid_arg(args.cls, vid).bytes))
    if args.reorder:
        prot.reverse()

    def area(magic, tlvs):
        body = b"".join(struct.pack("<HH", t, len(v)) + v for t, v in tlvs)
        return struct.pack("<HH", magic, 4 + len(body)) + body

    prot_area = area(TLV_PROT_INFO_MAGIC, prot) if prot else b""
    hdr = struct.pack(HDR_FMT, IMAGE_MAGIC, args.load_addr, hdr_sz, len(prot_area),
                      len(payload), 0, maj, mnr, rev, build, 0)
    prefix = hdr + bytes(hdr_sz - HDR_LEN) + payload + prot_area
    digest = hashlib.sha256(prefix).digest()
    with tempfile.TemporaryDirectory() as d:
        key = os.path.abspath(args.key)
        sig_path = os.path.join(d, "sig")
        if alg == "p256":
            open(os.path.join(d, "prefix.bin"), "wb").write(prefix)
            rc, _, err = openssl("dgst", "-sha256", "-sign", key, "-out", sig_path,
                                 os.path.join(d, "prefix.bin"))
        else:
            open(os.path.join(d, "hash.bin"), "wb").write(digest)
            rc, _, err = openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in",
                                 os.path.join(d, "hash.bin"), "-out", sig_path)
        if rc != 0:
            raise SystemExit(f"mcuboot_check: openssl could not sign: {err.decode().strip()}")
        sig = open(sig_path, "rb").read()
    unprot = [(T_SHA256, digest), (T_KEYHASH, hashlib.sha256(der).digest()),
              (T_ECDSA256 if alg == "p256" else T_ED25519, sig)]
    if args.reorder:
        unprot.reverse()
    with open(args.out, "wb") as fh:
        fh.write(prefix + area(TLV_INFO_MAGIC, unprot))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("image", nargs="+")
    c.add_argument("--pubkey", required=True)
    c.add_argument("--json", action="store_true")
    w = sub.add_parser("write")
    w.add_argument("--key", required=True)
    w.add_argument("--in", dest="infile", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--version", required=True)
    w.add_argument("--security-counter", type=lambda s: int(s, 0))
    w.add_argument("--vendor")
    w.add_argument("--class", dest="cls")
    w.add_argument("--header-size", type=lambda s: int(s, 0), default=HDR_LEN)
    w.add_argument("--load-addr", type=lambda s: int(s, 0), default=0)
    w.add_argument("--reorder", action="store_true")
    args = ap.parse_args()
    if args.cmd == "write" and args.cls and not args.vendor:
        ap.error("--class needs --vendor")
    if args.cmd == "write" and args.header_size < HDR_LEN:
        ap.error("--header-size is at least 32")
    return check(args) if args.cmd == "check" else write(args)


if __name__ == "__main__":
    sys.exit(main())
