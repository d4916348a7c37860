/* Firmware images (fw/image.c, fw/verify.c): any bytes as an image, through
 * vouch_fw_parse_buf and vouch_fw_verify_buf against two fixed trusted keys,
 * the pinned test keys of tests/vectors/fw (so the seeds, copies of those
 * vectors, reach the success paths). Oracles:
 *  - parse and verify agree: a layout refusal is the same from both, never
 *    E_IO from a buffer, and a parsed image is consistent (header size,
 *    flags, offsets, area bounds, total within the input);
 *  - verifying through a reader with 64-byte chunks gives the same answer
 *    as the buffer call;
 *  - a valid image: its hash is SHA-256 of the bytes before the TLV area,
 *    OpenSSL agrees that the signature is the trusted key's over that hash,
 *    the image cut by one byte is refused as truncated, and nothing is
 *    valid with no trusted key;
 *  - a stricter policy (counter floor, vendor, class, one key revoked)
 *    accepts only what the plain one accepts and what meets it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <vouch/fw.h>

#include "fuzz_common.h"

/* tests/vectors/fw/p256.pub and ed25519.pub, raw */
static const uint8_t pub_p256[65] = {
    0x04, 0xc8, 0x06, 0xed, 0x81, 0xda, 0x62, 0x0f, 0x40, 0x0e, 0xb4, 0x8f, 0x05, 0x19,
    0x83, 0xbf, 0x16, 0xb6, 0xdd, 0x85, 0x80, 0x77, 0xd0, 0x0b, 0x40, 0x14, 0x2e, 0x96,
    0x63, 0xca, 0x54, 0x85, 0x68, 0xa1, 0x62, 0xbd, 0x8f, 0x64, 0x70, 0x16, 0x4d, 0xcb,
    0x2c, 0xb2, 0x72, 0x97, 0xf2, 0xe3, 0xf9, 0xa7, 0x35, 0xcb, 0xc3, 0x05, 0x19, 0x46,
    0x71, 0x71, 0xd8, 0x84, 0x83, 0x39, 0xc9, 0xf4, 0xc4};
static const uint8_t pub_ed25519[32] = {
    0x5d, 0x5f, 0x08, 0x15, 0x57, 0xbf, 0xb6, 0xb4, 0x88, 0xb3, 0xaa, 0xd1, 0x9d, 0x8b, 0xc5, 0x58,
    0x0b, 0x86, 0x59, 0x57, 0xaf, 0xe3, 0x04, 0x49, 0x6e, 0x81, 0x59, 0x73, 0x3a, 0x07, 0x30, 0x84};
/* uuid5(NAMESPACE_DNS, 'acme.example') and uuid5(that, 'meter') */
static const uint8_t VID[16] = {0x06, 0x37, 0xe3, 0x01, 0xe0, 0x5d, 0x50, 0x5b,
                                0x82, 0x67, 0x48, 0x6f, 0x56, 0x77, 0xde, 0x9b};
static const uint8_t CID[16] = {0x8c, 0x13, 0xb2, 0x4c, 0x9c, 0x13, 0x5e, 0x39,
                                0x8f, 0x9b, 0x89, 0xf4, 0x93, 0xb5, 0xa8, 0xa0};

static const vouch_crypto_port *port;
static vouch_fw_key keys[2], strict_keys[2];

static void init(void)
{
    if (port)
        return;
    port = vouch_port_openssl();
    memset(keys, 0, sizeof keys);
    keys[0].alg = VOUCH_SE_ALG_P256;
    memcpy(keys[0].pub, pub_p256, 65);
    keys[1].alg = VOUCH_SE_ALG_ED25519;
    keys[1].index = 1;
    memcpy(keys[1].pub, pub_ed25519, 32);
    if (vouch_fw_keyhash(port, VOUCH_SE_ALG_P256, pub_p256, 65, keys[0].keyhash) != VOUCH_OK ||
        vouch_fw_keyhash(port, VOUCH_SE_ALG_ED25519, pub_ed25519, 32, keys[1].keyhash) !=
            VOUCH_OK)
        fz_fail("key hash of the fixed keys");
    memcpy(strict_keys, keys, sizeof keys);
    strict_keys[0].revoked = 1;
}


/* OpenSSL's own opinion of the signature, from the SubjectPublicKeyInfo. */
static int openssl_agrees(const vouch_fw_key *k, const vouch_fw_image *im,
                          const uint8_t hash[32])
{
    static const uint8_t spki_p256[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a,
                                          0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                                          0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
                                          0x01, 0x07, 0x03, 0x42, 0x00};
    static const uint8_t spki_ed[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t der[91];
    size_t n;
    int ok = 0;
    if (k->alg == VOUCH_SE_ALG_P256) {
        memcpy(der, spki_p256, 26);
        memcpy(der + 26, k->pub, 65);
        n = 91;
    } else {
        memcpy(der, spki_ed, 12);
        memcpy(der + 12, k->pub, 32);
        n = 44;
    }
    const unsigned char *q = der;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)n);
    if (!pk)
        fz_fail("d2i_PUBKEY of a fixed key");
    if (k->alg == VOUCH_SE_ALG_P256) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
        ok = c && EVP_PKEY_verify_init(c) == 1 &&
             EVP_PKEY_verify(c, im->sig_der, im->sig_der_len, hash, 32) == 1;
        EVP_PKEY_CTX_free(c);
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        ok = m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(m, im->sig, 64, hash, 32) == 1;
        EVP_MD_CTX_free(m);
    }
    EVP_PKEY_free(pk);
    return ok;
}

static void check_layout(const vouch_fw_image *im, size_t size)
{
    uint64_t end = (uint64_t)im->hdr_size + im->img_size;
    if (im->hdr_size < VOUCH_FW_HDR_LEN || im->flags != 0)
        fz_fail("parsed: header size %u, flags %#x", im->hdr_size, im->flags);
    if (im->prot_size != 0 && im->prot_size < 4)
        fz_fail("parsed: protected size %u", im->prot_size);
    if (im->prot_off != end || im->tlv_off != end + im->prot_size)
        fz_fail("parsed: offsets %u %u for %u+%u", im->prot_off, im->tlv_off, im->hdr_size,
                im->img_size);
    if (im->tlv_size < 4 || (uint32_t)im->prot_size + im->tlv_size > VOUCH_FW_TLV_MAX)
        fz_fail("parsed: TLV areas %u + %u", im->prot_size, im->tlv_size);
    if (im->total != (uint64_t)im->tlv_off + im->tlv_size || im->total > size)
        fz_fail("parsed: total %u of %zu bytes", im->total, size);
    if (im->sig_alg > VOUCH_SE_ALG_ED25519 || im->sig_der_len > sizeof im->sig_der ||
        (im->sig_alg == VOUCH_SE_ALG_P256) != (im->sig_der_len != 0))
        fz_fail("parsed: signature alg %u, DER %zu", im->sig_alg, im->sig_der_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vouch_fw_image im;
    vouch_fw_result res, res2;
    vouch_fw_policy pol;
    uint8_t chunk[64];
    vouch_rc rp, rv, rr, rs;

    init();
    rp = vouch_fw_parse_buf(data, size, port, &im);
    if (rp == VOUCH_OK)
        check_layout(&im, size);
    else if (VOUCH_RC_LAYER(rp) != VOUCH_LAYER_FW || VOUCH_RC_CODE(rp) == VOUCH_FW_E_IO ||
             VOUCH_RC_CODE(rp) > VOUCH_FW_E_SIGNATURE)
        fz_fail("parse: %#x (%s)", rp, vouch_fw_strerror(rp));

    memset(&pol, 0, sizeof pol);
    pol.keys = keys;
    pol.nkeys = 2;
    rv = vouch_fw_verify_buf(data, size, port, &pol, &res);
    if (rp != VOUCH_OK && rv != rp)
        fz_fail("parse said %s, verify %s", vouch_fw_strerror(rp), vouch_fw_strerror(rv));
    if (VOUCH_RC_LAYER(rv) != VOUCH_LAYER_FW && rv != VOUCH_OK)
        fz_fail("verify: %#x (%s)", rv, vouch_fw_strerror(rv));
    if (VOUCH_RC_CODE(rv) == VOUCH_FW_E_IO || VOUCH_RC_CODE(rv) == VOUCH_FW_E_REVOKED ||
        VOUCH_RC_CODE(rv) == VOUCH_FW_E_ROLLBACK || VOUCH_RC_CODE(rv) == VOUCH_FW_E_VENDOR ||
        VOUCH_RC_CODE(rv) == VOUCH_FW_E_CLASS || VOUCH_RC_CODE(rv) == VOUCH_FW_E_CHECK)
        fz_fail("verify with the plain policy: %s", vouch_fw_strerror(rv));

    /* the streaming path, smallest chunk */
    vouch_fw_mem m = {data, size};
    rr = vouch_fw_verify(vouch_fw_mem_read, &m, size > VOUCH_FW_IMAGE_MAX ? VOUCH_FW_IMAGE_MAX : (uint32_t)size,
                         port, &pol, chunk, sizeof chunk, &res2);
    if (rr != rv)
        fz_fail("buffer said %s, reader %s", vouch_fw_strerror(rv), vouch_fw_strerror(rr));
    if (rv == VOUCH_OK && memcmp(res.hash, res2.hash, 32) != 0)
        fz_fail("buffer and reader hashes differ");

    if (rv == VOUCH_OK) {
        uint8_t h[32];
        if (rp != VOUCH_OK)
            fz_fail("valid but not parsed");
        SHA256(data, res.img.tlv_off, h);
        if (memcmp(h, res.hash, 32) != 0 || memcmp(h, res.img.hash, 32) != 0)
            fz_fail("valid with a hash that is not the image's");
        if (res.key != &keys[0] && res.key != &keys[1])
            fz_fail("valid without a trusted key");
        if (memcmp(res.key->keyhash, res.img.keyhash, 32) != 0 ||
            res.key->alg != res.img.sig_alg)
            fz_fail("valid with another key's hash or algorithm");
        if (!openssl_agrees(res.key, &res.img, res.hash))
            fz_fail("valid, but OpenSSL refuses the signature");
        if (vouch_fw_verify_buf(data, res.img.total - 1, port, &pol, &res2) !=
            VOUCH_RC(VOUCH_LAYER_FW, VOUCH_FW_E_TRUNCATED))
            fz_fail("valid image cut by one byte not refused as truncated");
        vouch_fw_policy none = pol;
        none.nkeys = 0;
        if (vouch_fw_verify_buf(data, size, port, &none, &res2) !=
            VOUCH_RC(VOUCH_LAYER_FW, VOUCH_FW_E_NO_KEY))
            fz_fail("valid with no trusted key");
    }

    /* stricter: floor 5, acme.example/meter, the P-256 key revoked */
    pol.keys = strict_keys;
    pol.min_sec_cnt = 5;
    pol.vid = VID;
    pol.cid = CID;
    rs = vouch_fw_verify_buf(data, size, port, &pol, &res2);
    if (rs == VOUCH_OK) {
        if (rv != VOUCH_OK)
            fz_fail("strict policy accepts what the plain one refuses (%s)",
                    vouch_fw_strerror(rv));
        if (!res2.img.has_sec_cnt || res2.img.sec_cnt < 5 || !res2.img.has_vid ||
            memcmp(res2.img.vid, VID, 16) != 0 || !res2.img.has_cid ||
            memcmp(res2.img.cid, CID, 16) != 0 || res2.key != &strict_keys[1])
            fz_fail("strict policy accepts an image that does not meet it");
    } else if (rv == VOUCH_OK) {
        unsigned c = VOUCH_RC_CODE(rs);
        if (VOUCH_RC_LAYER(rs) != VOUCH_LAYER_FW ||
            (c != VOUCH_FW_E_REVOKED && c != VOUCH_FW_E_ROLLBACK && c != VOUCH_FW_E_VENDOR &&
             c != VOUCH_FW_E_CLASS))
            fz_fail("strict policy refuses a valid image with %s", vouch_fw_strerror(rs));
    }
    return 0;
}
