/*
 * Firmware image layout: the MCUboot header and TLV areas (docs/firmware.md).
 * No malloc, no OpenSSL types: everything is read through the caller's
 * reader into bounded buffers, and every size the image states is checked
 * against what the reader can give before it is used.
 */
#include <stdio.h>
#include <string.h>

#include "fw/internal.h"

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

int vouch_fw_mem_read(void *ctx, uint32_t off, uint8_t *out, size_t len)
{
    const vouch_fw_mem *b = ctx;
    if ((size_t)off > b->len || len > b->len - off)
        return -1;
    memcpy(out, b->p + off, len);
    return 0;
}

/* One TLV area: info(magic, tot) then type(2) len(2) value... exactly
 * filling tot. `prot` says which area, for the placement rules. */
static vouch_rc walk_tlvs(const uint8_t *a, uint32_t tot, int prot,
                          const vouch_crypto_port *port, vouch_fw_image *img)
{
    uint32_t pos = 4;
    int nsig = 0;
    while (pos < tot) {
        uint16_t type, len;
        const uint8_t *v;
        if (tot - pos < 4)
            return RC_FW(VOUCH_FW_E_TLV);
        type = le16(a + pos);
        len = le16(a + pos + 2);
        pos += 4;
        if (len > tot - pos)
            return RC_FW(VOUCH_FW_E_TLV);
        v = a + pos;
        pos += len;
        switch (type) {
        case VOUCH_FW_TLV_SEC_CNT:
            if (!prot || img->has_sec_cnt || len != 4)
                return RC_FW(VOUCH_FW_E_TLV);
            img->has_sec_cnt = 1;
            img->sec_cnt = le32(v);
            break;
        case VOUCH_FW_TLV_UUID_VID:
        case VOUCH_FW_TLV_UUID_CID: {
            int vid = type == VOUCH_FW_TLV_UUID_VID;
            int *have = vid ? &img->has_vid : &img->has_cid;
            if (!prot || *have || len != 16)
                return RC_FW(VOUCH_FW_E_TLV);
            *have = 1;
            memcpy(vid ? img->vid : img->cid, v, 16);
            break;
        }
        case VOUCH_FW_TLV_SHA256:
            if (prot || img->has_hash || len != 32)
                return RC_FW(VOUCH_FW_E_TLV);
            img->has_hash = 1;
            memcpy(img->hash, v, 32);
            break;
        case VOUCH_FW_TLV_KEYHASH:
            if (prot || img->has_keyhash || len != 32)
                return RC_FW(VOUCH_FW_E_TLV);
            img->has_keyhash = 1;
            memcpy(img->keyhash, v, 32);
            break;
        case VOUCH_FW_TLV_ECDSA_SIG:
            if (prot || nsig++ || len < 8 || len > sizeof img->sig_der)
                return RC_FW(VOUCH_FW_E_TLV);
            img->sig_alg = VOUCH_SE_ALG_P256;
            memcpy(img->sig_der, v, len);
            img->sig_der_len = len;
            if (!port || !port->p256_sig_raw ||
                port->p256_sig_raw(port->ctx, v, len, img->sig) != 0)
                return RC_FW(VOUCH_FW_E_SIGNATURE);
            break;
        case VOUCH_FW_TLV_ED25519:
            if (prot || nsig++ || len != 64)
                return RC_FW(VOUCH_FW_E_TLV);
            img->sig_alg = VOUCH_SE_ALG_ED25519;
            memcpy(img->sig, v, 64);
            break;
        default:
            /* Protected TLVs we do not know are signed, so harmless (vendor
             * data). An unprotected one could say anything: refused. */
            if (!prot)
                return RC_FW(VOUCH_FW_E_TLV);
            break;
        }
    }
    return VOUCH_OK;
}

vouch_rc vouch_fw_parse(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                        const vouch_crypto_port *port, vouch_fw_image *img)
{
    uint8_t h[VOUCH_FW_HDR_LEN];
    uint8_t prot[VOUCH_FW_TLV_MAX];
    return vouch_fw_parse_keep(rd, rctx, avail, port, img, h, prot);
}

vouch_rc vouch_fw_parse_keep(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                             const vouch_crypto_port *port, vouch_fw_image *img,
                             uint8_t h[VOUCH_FW_HDR_LEN], uint8_t prot[VOUCH_FW_TLV_MAX])
{
    uint8_t tlv[VOUCH_FW_TLV_MAX];
    uint64_t end;
    vouch_rc rc;

    if (!rd || !img)
        return RC_API(VOUCH_E_ARG);
    memset(img, 0, sizeof *img);
    if (avail < 4)
        return RC_FW(VOUCH_FW_E_TRUNCATED);
    if (rd(rctx, 0, h, avail < VOUCH_FW_HDR_LEN ? 4 : VOUCH_FW_HDR_LEN) != 0)
        return RC_FW(VOUCH_FW_E_IO);
    if (le32(h) != VOUCH_FW_MAGIC)
        return RC_FW(VOUCH_FW_E_MAGIC);
    if (avail < VOUCH_FW_HDR_LEN)
        return RC_FW(VOUCH_FW_E_TRUNCATED);

    img->load_addr = le32(h + 4);
    img->hdr_size = le16(h + 8);
    img->prot_size = le16(h + 10);
    img->img_size = le32(h + 12);
    img->flags = le32(h + 16);
    img->version.major = h[20];
    img->version.minor = h[21];
    img->version.revision = le16(h + 22);
    img->version.build = le32(h + 24);

    /* We support no flag (no encryption, no RAM load, no compression). */
    if (img->hdr_size < VOUCH_FW_HDR_LEN || img->flags != 0 ||
        (img->prot_size != 0 && img->prot_size < 4) ||
        img->prot_size > VOUCH_FW_TLV_MAX - 4)
        return RC_FW(VOUCH_FW_E_HEADER);
    end = (uint64_t)img->hdr_size + img->img_size;
    if (end + img->prot_size + 4 > VOUCH_FW_IMAGE_MAX)
        return RC_FW(VOUCH_FW_E_HEADER);
    if (end + img->prot_size + 4 > avail)
        return RC_FW(VOUCH_FW_E_TRUNCATED);
    img->prot_off = (uint32_t)end;
    img->tlv_off = img->prot_off + img->prot_size;

    if (img->prot_size) {
        if (rd(rctx, img->prot_off, prot, img->prot_size) != 0)
            return RC_FW(VOUCH_FW_E_IO);
        if (le16(prot) != VOUCH_FW_TLV_PROT_MAGIC || le16(prot + 2) != img->prot_size)
            return RC_FW(VOUCH_FW_E_TLV);
        rc = walk_tlvs(prot, img->prot_size, 1, port, img);
        if (rc != VOUCH_OK)
            return rc;
    }

    if (rd(rctx, img->tlv_off, tlv, 4) != 0)
        return RC_FW(VOUCH_FW_E_IO);
    if (le16(tlv) != VOUCH_FW_TLV_INFO_MAGIC)
        return RC_FW(VOUCH_FW_E_TLV);
    img->tlv_size = le16(tlv + 2);
    if (img->tlv_size < 4 || img->tlv_size + (uint32_t)img->prot_size > VOUCH_FW_TLV_MAX)
        return RC_FW(VOUCH_FW_E_TLV);
    if ((uint64_t)img->tlv_off + img->tlv_size > avail)
        return RC_FW(VOUCH_FW_E_TRUNCATED);
    if (rd(rctx, img->tlv_off, tlv, img->tlv_size) != 0)
        return RC_FW(VOUCH_FW_E_IO);
    rc = walk_tlvs(tlv, img->tlv_size, 0, port, img);
    if (rc != VOUCH_OK)
        return rc;
    img->total = img->tlv_off + img->tlv_size;
    return VOUCH_OK;
}

vouch_rc vouch_fw_parse_buf(const uint8_t *buf, size_t len, const vouch_crypto_port *port,
                            vouch_fw_image *img)
{
    vouch_fw_mem b = {buf, len};
    if (!buf && len)
        return RC_API(VOUCH_E_ARG);
    return vouch_fw_parse(vouch_fw_mem_read, &b, vouch_fw_avail(len), port, img);
}

/* ---- key hash ---------------------------------------------------------------
 * The DER SubjectPublicKeyInfo of a P-256 or Ed25519 key is a fixed prefix
 * followed by the key bytes (RFC 5480, RFC 8410), so it is assembled here
 * without an ASN.1 encoder. */
static const uint8_t spki_p256[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const uint8_t spki_ed25519[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                         0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

vouch_rc vouch_fw_keyhash(const vouch_crypto_port *port, uint8_t alg, const uint8_t *pub,
                          size_t pub_len, uint8_t out[32])
{
    uint8_t der[26 + 65];
    size_t n;
    if (!port || !pub || !out)
        return RC_API(VOUCH_E_ARG);
    if (alg == VOUCH_SE_ALG_P256 && pub_len == 65 && pub[0] == 0x04) {
        memcpy(der, spki_p256, sizeof spki_p256);
        memcpy(der + sizeof spki_p256, pub, 65);
        n = sizeof spki_p256 + 65;
    } else if (alg == VOUCH_SE_ALG_ED25519 && pub_len == 32) {
        memcpy(der, spki_ed25519, sizeof spki_ed25519);
        memcpy(der + sizeof spki_ed25519, pub, 32);
        n = sizeof spki_ed25519 + 32;
    } else {
        return RC_API(VOUCH_E_ARG);
    }
    return port->sha256(port->ctx, der, n, out) == 0 ? VOUCH_OK : RC_PORT;
}

/* ---- words and versions ------------------------------------------------------ */
static const char *const fw_msgs[] = {
    [VOUCH_FW_E_MAGIC] = "image header magic is wrong (not a firmware image)",
    [VOUCH_FW_E_HEADER] = "image header is invalid (sizes or flags)",
    [VOUCH_FW_E_TRUNCATED] = "image is truncated",
    [VOUCH_FW_E_TLV] = "image TLV area is malformed",
    [VOUCH_FW_E_HASH] = "image hash does not match (tampered or corrupted)",
    [VOUCH_FW_E_NO_KEY] = "image is signed by a key this device does not trust",
    [VOUCH_FW_E_SIGNATURE] = "image signature is missing or invalid",
    [VOUCH_FW_E_REVOKED] = "image is signed by a revoked key",
    [VOUCH_FW_E_ROLLBACK] = "image security counter is below the device's (rollback)",
    [VOUCH_FW_E_VENDOR] = "image vendor does not match the device",
    [VOUCH_FW_E_CLASS] = "image device class does not match the device",
    [VOUCH_FW_E_IO] = "image could not be read",
    [VOUCH_FW_E_TRUST] = "the secure element's firmware key zone is malformed",
    [VOUCH_FW_E_CHECK] = "the signature could not be checked (secure element unreachable)",
};

const char *vouch_fw_strerror(vouch_rc rc)
{
    uint32_t c = VOUCH_RC_CODE(rc);
    if (VOUCH_RC_LAYER(rc) != VOUCH_LAYER_FW)
        return vouch_strerror(rc);
    if (c < sizeof fw_msgs / sizeof fw_msgs[0] && fw_msgs[c])
        return fw_msgs[c];
    return "firmware: unknown error";
}

void vouch_fw_version_str(const vouch_fw_version *v, char *out, size_t out_size)
{
    if (!out || !out_size)
        return;
    if (v->build)
        snprintf(out, out_size, "%u.%u.%u+%lu", v->major, v->minor, v->revision,
                 (unsigned long)v->build);
    else
        snprintf(out, out_size, "%u.%u.%u", v->major, v->minor, v->revision);
}

/* Decimal without sign or leading junk, at most max; advances *s. */
static int num(const char **s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > max)
            return -1;
    }
    *s = p;
    *out = (uint32_t)v;
    return 0;
}

int vouch_fw_version_parse(const char *s, vouch_fw_version *v)
{
    uint32_t a, b = 0, c = 0, d = 0;
    if (!s || !v || num(&s, 255, &a) != 0)
        return -1;
    if (*s == '.' && (s++, num(&s, 255, &b) != 0))
        return -1;
    if (*s == '.' && (s++, num(&s, 65535, &c) != 0))
        return -1;
    if ((*s == '+' || *s == '.') && (s++, num(&s, 0xFFFFFFFFu, &d) != 0))
        return -1;
    if (*s)
        return -1;
    v->major = (uint8_t)a;
    v->minor = (uint8_t)b;
    v->revision = (uint16_t)c;
    v->build = d;
    return 0;
}
