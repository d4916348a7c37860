#!/usr/bin/env python3
"""Writes the hand-made broken vectors of tests/vectors/fw/broken/ from the
pinned good images (ed25519.img, p256.img), and broken/MANIFEST: one line
per file, "NAME CODE KEY": CODE is the vouch_fw_code the verifier must give
(VOUCH_FW_E_<CODE>) when the image is checked against KEY.pub (the key that
signed the image it was made from). Standard library only; run from anywhere:

    python3 tests/vectors/fw/make_broken.py

Each vector breaks exactly one thing; everything else stays as signed, so
the expected code is the one that thing must produce. The unit test
(tests/unit/test_fw_image.c) and the integration test
(tests/integration/fw_image.sh) read MANIFEST.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "broken")


def load(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return bytearray(f.read())


def layout(b):
    """Offsets of an image as signed by vouch fw sign."""
    hdr_size, prot_size, img_size = struct.unpack_from("<HHI", b, 8)
    prot_off = hdr_size + img_size
    tlv_off = prot_off + prot_size
    magic, tot = struct.unpack_from("<HH", b, tlv_off)
    assert magic == 0x6907
    tlvs = []  # (offset of the TLV header, type, len)
    pos = tlv_off + 4
    while pos < tlv_off + tot:
        t, n = struct.unpack_from("<HH", b, pos)
        tlvs.append((pos, t, n))
        pos += 4 + n
    return dict(hdr=hdr_size, prot_off=prot_off, prot=prot_size, tlv_off=tlv_off,
                tot=tot, tlvs=tlvs, img=img_size)


def tlv_at(lay, typ):
    for off, t, n in lay["tlvs"]:
        if t == typ:
            return off, n
    raise KeyError(typ)


def set_tot(b, lay, tot):
    struct.pack_into("<H", b, lay["tlv_off"] + 2, tot)


def main():
    ed = load("ed25519.img")
    p2 = load("p256.img")
    le = layout(ed)
    lp = layout(p2)
    vec = []  # (name, code, bytes)

    def add(name, code, b):
        key = "p256" if name.startswith("p256") or b[8:10] == p2[8:10] else "ed25519"
        vec.append((name, code, key, bytes(b)))

    # ---- header ----
    b = ed[:]; b[0] ^= 0x01
    add("bad-magic.img", "MAGIC", b)
    b = ed[:]; struct.pack_into("<H", b, 8, 31)
    add("hdr-size-31.img", "HEADER", b)
    b = ed[:]; struct.pack_into("<I", b, 16, 0x04)  # ENCRYPTED_AES128
    add("flags-encrypted.img", "HEADER", b)
    b = ed[:]; struct.pack_into("<H", b, 10, 2)
    add("prot-size-2.img", "HEADER", b)
    b = ed[:]; struct.pack_into("<I", b, 12, 0xFFFFFFF0)
    add("img-size-overflow.img", "HEADER", b)
    b = ed[:]; struct.pack_into("<I", b, 12, le["img"] + 0x10000)
    add("img-size-past-end.img", "TRUNCATED", b)
    add("truncated-1.img", "TRUNCATED", ed[:-1])
    add("truncated-header.img", "TRUNCATED", ed[:20])

    # ---- TLV areas ----
    b = ed[:]; struct.pack_into("<H", b, le["tlv_off"], 0x6906)
    add("unprot-info-magic.img", "TLV", b)
    b = ed[:]; struct.pack_into("<H", b, le["prot_off"], 0x6907)
    add("prot-info-magic.img", "TLV", b)
    b = ed[:]; struct.pack_into("<H", b, le["prot_off"] + 2, le["prot"] - 4)
    add("prot-tot-mismatch.img", "TLV", b)
    b = ed[:]; set_tot(b, le, 3)
    add("unprot-tot-3.img", "TLV", b)
    b = ed[:]; set_tot(b, le, le["tot"] - 1)  # cuts the signature TLV
    add("unprot-tot-short.img", "TLV", b)
    b = ed[:]; set_tot(b, le, le["tot"] + 4)
    add("unprot-tot-past-end.img", "TRUNCATED", b)
    off, n = tlv_at(le, 0x24)
    b = ed[:]; struct.pack_into("<H", b, off + 2, n + 1)
    add("tlv-len-past-end.img", "TLV", b)
    # SHA-256 TLV twice
    off, n = tlv_at(le, 0x10)
    b = ed[:]
    dup = b[off:off + 4 + n]
    b[le["tlv_off"] + le["tot"]:le["tlv_off"] + le["tot"]] = dup
    set_tot(b, le, le["tot"] + len(dup))
    add("dup-sha.img", "TLV", b)
    # key hash TLV twice
    off, n = tlv_at(le, 0x01)
    b = ed[:]
    dup = b[off:off + 4 + n]
    b += dup
    set_tot(b, le, le["tot"] + len(dup))
    add("dup-keyhash.img", "TLV", b)
    # signature TLV twice
    off, n = tlv_at(le, 0x24)
    b = ed[:]
    dup = b[off:off + 4 + n]
    b += dup
    set_tot(b, le, le["tot"] + len(dup))
    add("dup-signature.img", "TLV", b)
    # security counter (as signed) copied into the unprotected area
    b = ed[:]
    b += struct.pack("<HHI", 0x50, 4, 7)
    set_tot(b, le, le["tot"] + 8)
    add("seccnt-unprotected.img", "TLV", b)
    # vendor UUID in the unprotected area
    b = ed[:]
    b += struct.pack("<HH", 0x74, 16) + bytes(16)
    set_tot(b, le, le["tot"] + 20)
    add("vendor-unprotected.img", "TLV", b)
    # an unknown TLV in the unprotected area
    b = ed[:]
    b += struct.pack("<HH", 0x7F, 2) + b"hi"
    set_tot(b, le, le["tot"] + 6)
    add("unknown-unprotected.img", "TLV", b)
    # a SHA-256 TLV in the protected area (header prot_size follows)
    b = ed[:]
    ins = struct.pack("<HH", 0x10, 32) + bytes(32)
    at = le["prot_off"] + le["prot"]
    b[at:at] = ins
    struct.pack_into("<H", b, 10, le["prot"] + len(ins))
    struct.pack_into("<H", b, le["prot_off"] + 2, le["prot"] + len(ins))
    add("sha-protected.img", "TLV", b)
    # security counter of 3 bytes (the walk refuses it before reading on)
    b = ed[:]
    pc = le["prot_off"] + 4
    assert struct.unpack_from("<HH", b, pc) == (0x50, 4)
    struct.pack_into("<H", b, pc + 2, 3)
    add("seccnt-len-3.img", "TLV", b)
    # Ed25519 signature of 63 bytes
    off, n = tlv_at(le, 0x24)
    b = ed[:]
    struct.pack_into("<H", b, off + 2, 63)
    del b[off + 4 + 63]
    set_tot(b, le, le["tot"] - 1)
    add("ed25519-sig-63.img", "TLV", b)

    # ---- P-256 signature encoding (the pinned DER is 70 bytes) ----
    off, n = tlv_at(lp, 0x22)
    assert n == 70, "p256.img must carry a 70-byte DER signature"
    der = bytes(p2[off + 4:off + 4 + n])
    assert der[0] == 0x30 and der[1] == 0x44 and der[2] == 0x02 and der[3] == 0x20

    def with_der(d):
        b = p2[:off + 4] + d + p2[off + 4 + n:]
        b = bytearray(b)
        struct.pack_into("<H", b, off + 2, len(d))
        set_tot(b, lp, lp["tot"] - n + len(d))
        return b

    add("p256-der-trailing.img", "SIGNATURE", with_der(der + b"\x00"))
    add("p256-der-long-length.img", "SIGNATURE", with_der(b"\x30\x81\x44" + der[2:]))
    r = der[4:36]
    add("p256-der-padded-r.img", "SIGNATURE",
        with_der(b"\x30\x45\x02\x21\x00" + r + der[36:]))
    add("p256-der-wrong-tag.img", "SIGNATURE", with_der(b"\x31" + der[1:]))
    add("p256-der-7-bytes.img", "TLV", with_der(der[:7]))

    # ---- hash, key, signature ----
    b = ed[:]; b[le["hdr"]] ^= 0x01
    add("tampered-payload.img", "HASH", b)
    b = ed[:]; b[21] ^= 0x01  # minor version
    add("tampered-header.img", "HASH", b)
    b = ed[:]; b[le["prot_off"] + 8] ^= 0x01  # security counter 7 -> 6
    add("tampered-protected.img", "HASH", b)
    b = p2[:]; b[100] ^= 0x80  # header padding of the 0x200 header
    add("tampered-header-padding.img", "HASH", b)
    off, n = tlv_at(le, 0x10)
    b = ed[:]; b[off + 4] ^= 0x01
    add("tampered-sha-tlv.img", "HASH", b)
    off, n = tlv_at(le, 0x01)
    b = ed[:]; b[off + 4] ^= 0x01
    add("tampered-keyhash.img", "NO_KEY", b)
    off, n = tlv_at(le, 0x24)
    b = ed[:]; b[off + 4 + 10] ^= 0x01
    add("tampered-signature.img", "SIGNATURE", b)
    off, n = tlv_at(lp, 0x22)
    b = p2[:]; b[off + 4 + 20] ^= 0x01  # inside r: still valid DER
    add("p256-tampered-signature.img", "SIGNATURE", b)
    # no signature TLV at all
    off, n = tlv_at(le, 0x24)
    b = ed[:off] + ed[off + 4 + n:]
    set_tot(b, le, le["tot"] - 4 - n)
    add("no-signature.img", "SIGNATURE", b)
    # no key hash TLV
    off, n = tlv_at(le, 0x01)
    b = ed[:off] + ed[off + 4 + n:]
    set_tot(b, le, le["tot"] - 4 - n)
    add("no-keyhash.img", "NO_KEY", b)
    # no SHA-256 TLV
    off, n = tlv_at(le, 0x10)
    b = ed[:off] + ed[off + 4 + n:]
    set_tot(b, le, le["tot"] - 4 - n)
    add("no-sha.img", "HASH", b)
    # the Ed25519 signature and key hash in a P-256 signature TLV
    off, n = tlv_at(le, 0x24)
    b = ed[:]; struct.pack_into("<H", b, off, 0x22)
    add("ed25519-as-ecdsa.img", "SIGNATURE", b)
    add("garbage.img", "MAGIC", bytes((i * 131 + 7) & 0xFF for i in range(600)))
    add("empty.img", "TRUNCATED", b"")

    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".img"):
            os.unlink(os.path.join(OUT, f))
    with open(os.path.join(OUT, "MANIFEST"), "w") as m:
        m.write("# name expected-code (VOUCH_FW_E_*) key (../KEY.pub); "
                "written by ../make_broken.py\n")
        for name, code, key, data in vec:
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(data)
            m.write(f"{name} {code} {key}\n")
    print(f"{len(vec)} broken vectors in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
