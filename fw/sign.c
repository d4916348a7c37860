/*
 * Building and signing firmware images (docs/firmware.md, "Image format").
 * The byte layout written here is the one imgtool writes: header, payload,
 * protected TLVs (security counter, vendor and class UUIDs), then the
 * unprotected TLVs in imgtool's order: SHA-256, key hash, signature.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fw/sign.h"

static int fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && n)
        vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static size_t tlv(uint8_t *p, uint16_t type, const void *v, uint16_t len)
{
    put16(p, type);
    put16(p + 2, len);
    memcpy(p + 4, v, len);
    return 4u + len;
}

int vouch_fw_pub_raw(EVP_PKEY *pk, uint8_t *alg, uint8_t pub[65], size_t *len)
{
    char group[32];
    size_t n = 0;
    if (EVP_PKEY_is_a(pk, "EC")) {
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            NULL) ||
            strcmp(group, "prime256v1") != 0 ||
            !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, 65,
                                             &n) ||
            n != 65 || pub[0] != 0x04)
            return -1;
        *alg = VOUCH_SE_ALG_P256;
    } else if (EVP_PKEY_is_a(pk, "ED25519")) {
        n = 32;
        if (!EVP_PKEY_get_raw_public_key(pk, pub, &n) || n != 32)
            return -1;
        *alg = VOUCH_SE_ALG_ED25519;
    } else {
        return -1;
    }
    *len = n;
    return 0;
}

int vouch_fw_sign_evp(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t sig_size,
                      size_t *sig_len)
{
    EVP_PKEY *pk = ctx;
    size_t n = sig_size;
    int ok = 0;
    if (EVP_PKEY_is_a(pk, "ED25519")) {
        /* PureEdDSA over the 32-byte hash, as MCUboot verifies it */
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(m, sig, &n, hash, 32) == 1 && n == 64;
        EVP_MD_CTX_free(m);
    } else {
        /* ECDSA over the hash as the digest (= ECDSA-SHA256 of the image) */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
        ok = c && EVP_PKEY_sign_init(c) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(c, sig, &n, hash, 32) == 1;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return -1;
    *sig_len = n;
    return 0;
}

int vouch_fw_build(const uint8_t *payload, size_t len, const vouch_fw_sign_opts *o, uint8_t alg,
                   const uint8_t *pub, size_t pub_len, vouch_fw_signer_fn sign, void *sign_ctx,
                   uint8_t **out, size_t *out_len, char *err, size_t err_size)
{
    const vouch_crypto_port *port = vouch_port_openssl();
    uint16_t hdr = o->hdr_size ? o->hdr_size : VOUCH_FW_HDR_LEN;
    uint8_t prot[4 + 8 + 2 * 20], unprot[4 + 36 + 36 + 4 + 72];
    uint8_t hash[32], keyhash[32], sig[80];
    size_t np = 0, nu = 4, sig_len = 0, total;
    uint8_t *img;
    vouch_fw_key key;
    vouch_fw_policy pol;
    vouch_fw_result res;
    vouch_rc rc;

    *out = NULL;
    *out_len = 0;
    if (hdr < VOUCH_FW_HDR_LEN)
        return fail(err, err_size, "header size %u is below %u", hdr, VOUCH_FW_HDR_LEN);
    if (len > VOUCH_FW_IMAGE_MAX - hdr - sizeof prot - sizeof unprot)
        return fail(err, err_size, "payload of %zu bytes is too large", len);
    if (vouch_fw_keyhash(port, alg, pub, pub_len, keyhash) != VOUCH_OK)
        return fail(err, err_size, "the signing key is neither P-256 nor Ed25519");

    /* protected TLVs: they are part of what is hashed and signed */
    if (o->has_sec_cnt || o->vid || o->cid) {
        uint8_t c[4];
        np = 4;
        if (o->has_sec_cnt) {
            put32(c, o->sec_cnt);
            np += tlv(prot + np, VOUCH_FW_TLV_SEC_CNT, c, 4);
        }
        if (o->vid)
            np += tlv(prot + np, VOUCH_FW_TLV_UUID_VID, o->vid, 16);
        if (o->cid)
            np += tlv(prot + np, VOUCH_FW_TLV_UUID_CID, o->cid, 16);
        put16(prot, VOUCH_FW_TLV_PROT_MAGIC);
        put16(prot + 2, (uint16_t)np);
    }

    total = hdr + len + np + sizeof unprot;
    img = calloc(1, total);
    if (!img)
        return fail(err, err_size, "out of memory for a %zu-byte image", total);
    put32(img, VOUCH_FW_MAGIC);
    put32(img + 4, o->load_addr);
    put16(img + 8, hdr);
    put16(img + 10, (uint16_t)np);
    put32(img + 12, (uint32_t)len);
    put32(img + 16, 0); /* flags */
    img[20] = o->version.major;
    img[21] = o->version.minor;
    put16(img + 22, o->version.revision);
    put32(img + 24, o->version.build);
    if (len)
        memcpy(img + hdr, payload, len);
    memcpy(img + hdr + len, prot, np);

    if (port->sha256(port->ctx, img, hdr + len + np, hash) != 0) {
        free(img);
        return fail(err, err_size, "SHA-256 failed");
    }
    if (sign(sign_ctx, hash, sig, sizeof sig, &sig_len) != 0 || sig_len == 0 ||
        sig_len > (alg == VOUCH_SE_ALG_P256 ? 72u : 64u)) {
        free(img);
        return fail(err, err_size, "the signer failed to sign the image hash");
    }
    nu += tlv(unprot + nu, VOUCH_FW_TLV_SHA256, hash, 32);
    nu += tlv(unprot + nu, VOUCH_FW_TLV_KEYHASH, keyhash, 32);
    nu += tlv(unprot + nu, alg == VOUCH_SE_ALG_P256 ? VOUCH_FW_TLV_ECDSA_SIG : VOUCH_FW_TLV_ED25519,
              sig, (uint16_t)sig_len);
    put16(unprot, VOUCH_FW_TLV_INFO_MAGIC);
    put16(unprot + 2, (uint16_t)nu);
    memcpy(img + hdr + len + np, unprot, nu);
    total = hdr + len + np + nu;

    /* check what we made, as a device would */
    memset(&key, 0, sizeof key);
    key.alg = alg;
    memcpy(key.pub, pub, pub_len);
    memcpy(key.keyhash, keyhash, 32);
    memset(&pol, 0, sizeof pol);
    pol.keys = &key;
    pol.nkeys = 1;
    rc = vouch_fw_verify_buf(img, total, port, &pol, &res);
    if (rc != VOUCH_OK) {
        free(img);
        return fail(err, err_size, "the signed image does not verify: %s", vouch_fw_strerror(rc));
    }
    *out = img;
    *out_len = total;
    return 0;
}

/* ---- UUIDs ------------------------------------------------------------------ */
static const uint8_t ns_dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                   0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int uuid_parse(const char *s, uint8_t out[16])
{
    size_t i, j = 0;
    if (strlen(s) != 36)
        return -1;
    for (i = 0; i < 36;) {
        int hi, lo;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return -1;
            continue;
        }
        hi = hexval(s[i]);
        lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return j == 16 ? 0 : -1;
}

int vouch_fw_uuid_arg(const char *s, const uint8_t *ns, uint8_t out[16])
{
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *m;
    int ok;
    if (!s || !*s)
        return -1;
    if (uuid_parse(s, out) == 0)
        return 0;
    m = EVP_MD_CTX_new();
    ok = m && EVP_DigestInit_ex(m, EVP_sha1(), NULL) == 1 &&
         EVP_DigestUpdate(m, ns ? ns : ns_dns, 16) == 1 &&
         EVP_DigestUpdate(m, s, strlen(s)) == 1 && EVP_DigestFinal_ex(m, d, &n) == 1 && n == 20;
    EVP_MD_CTX_free(m);
    if (!ok)
        return -1;
    memcpy(out, d, 16);
    out[6] = (uint8_t)((out[6] & 0x0F) | 0x50); /* version 5 */
    out[8] = (uint8_t)((out[8] & 0x3F) | 0x80); /* RFC 9562 variant */
    return 0;
}

void vouch_fw_uuid_str(const uint8_t u[16], char *out, size_t out_size)
{
    snprintf(out, out_size,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}
