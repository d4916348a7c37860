/*
 * Firmware image verification (docs/firmware.md, "Verification"). The hash
 * is streamed through the caller's chunk buffer, so an image of any size is
 * checked in constant memory; the signature goes to the policy's check (the
 * secure element on a device) or to the crypto port.
 */
#include <string.h>

#include "fw/internal.h"

static int port_check(void *ctx, const vouch_fw_key *key, const uint8_t hash[32],
                      const uint8_t sig[64])
{
    const vouch_crypto_port *port = ctx;
    if (key->alg == VOUCH_SE_ALG_P256)
        return port->p256_verify(port->ctx, key->pub, hash, sig);
    if (key->alg == VOUCH_SE_ALG_ED25519)
        return port->ed25519_verify(port->ctx, key->pub, hash, 32, sig);
    return -1;
}

/* SHA-256 of the header and protected area as parsed (hdr, prot) and of
 * the bytes between them (header padding and payload) streamed from the
 * reader through chunk. */
static vouch_rc hash_image(vouch_fw_read_fn rd, void *rctx, const vouch_fw_image *img,
                           const uint8_t *hdr, const uint8_t *prot,
                           const vouch_crypto_port *port, uint8_t *chunk, size_t chunk_size,
                           uint8_t out[32])
{
    vouch_sha256_ctx s;
    uint32_t off = VOUCH_FW_HDR_LEN, end = img->prot_off;
    vouch_rc rc = VOUCH_OK;
    if (!port->sha256_init || !port->sha256_update || !port->sha256_final)
        return RC_API(VOUCH_E_UNSUPPORTED);
    if (port->sha256_init(port->ctx, &s) != 0)
        return RC_PORT;
    if (port->sha256_update(port->ctx, &s, hdr, VOUCH_FW_HDR_LEN) != 0)
        rc = RC_PORT;
    while (rc == VOUCH_OK && off < end) {
        size_t n = end - off < chunk_size ? end - off : chunk_size;
        if (rd(rctx, off, chunk, n) != 0)
            rc = RC_FW(VOUCH_FW_E_IO);
        else if (port->sha256_update(port->ctx, &s, chunk, n) != 0)
            rc = RC_PORT;
        off += (uint32_t)n;
    }
    if (rc == VOUCH_OK && img->prot_size &&
        port->sha256_update(port->ctx, &s, prot, img->prot_size) != 0)
        rc = RC_PORT;
    if (rc != VOUCH_OK) {
        (void)port->sha256_final(port->ctx, &s, NULL);
        return rc;
    }
    return port->sha256_final(port->ctx, &s, out) == 0 ? VOUCH_OK : RC_PORT;
}

vouch_rc vouch_fw_verify(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                         const vouch_crypto_port *port, const vouch_fw_policy *pol,
                         uint8_t *chunk, size_t chunk_size, vouch_fw_result *res)
{
    vouch_fw_image *img;
    const vouch_fw_key *key = NULL;
    uint8_t hdr[VOUCH_FW_HDR_LEN], prot[VOUCH_FW_TLV_MAX];
    vouch_rc rc;
    size_t i;
    int ok;

    if (!rd || !port || !pol || !chunk || chunk_size < 64 || !res)
        return RC_API(VOUCH_E_ARG);
    memset(res, 0, sizeof *res);
    img = &res->img;
    rc = vouch_fw_parse_keep(rd, rctx, avail, port, img, hdr, prot);
    if (rc != VOUCH_OK)
        return rc;

    rc = hash_image(rd, rctx, img, hdr, prot, port, chunk, chunk_size, res->hash);
    if (rc != VOUCH_OK)
        return rc;
    if (!img->has_hash || port->memcmp_ct(res->hash, img->hash, 32) != 0)
        return RC_FW(VOUCH_FW_E_HASH);

    if (img->sig_alg == VOUCH_SE_ALG_NONE)
        return RC_FW(VOUCH_FW_E_SIGNATURE);
    if (!img->has_keyhash)
        return RC_FW(VOUCH_FW_E_NO_KEY);
    for (i = 0; i < pol->nkeys; i++) {
        if (memcmp(pol->keys[i].keyhash, img->keyhash, 32) == 0) {
            key = &pol->keys[i];
            break;
        }
    }
    if (!key)
        return RC_FW(VOUCH_FW_E_NO_KEY);
    res->key = key;
    if (key->revoked)
        return RC_FW(VOUCH_FW_E_REVOKED);
    if (key->alg != img->sig_alg)
        return RC_FW(VOUCH_FW_E_SIGNATURE);
    ok = pol->check ? pol->check(pol->check_ctx, key, res->hash, img->sig)
                    : port_check((void *)port, key, res->hash, img->sig);
    if (ok < 0)
        return RC_FW(VOUCH_FW_E_CHECK);
    if (ok != 1)
        return RC_FW(VOUCH_FW_E_SIGNATURE);

    if ((img->has_sec_cnt ? img->sec_cnt : 0) < pol->min_sec_cnt)
        return RC_FW(VOUCH_FW_E_ROLLBACK);
    if (pol->vid && (!img->has_vid || memcmp(pol->vid, img->vid, 16) != 0))
        return RC_FW(VOUCH_FW_E_VENDOR);
    if (pol->cid && (!img->has_cid || memcmp(pol->cid, img->cid, 16) != 0))
        return RC_FW(VOUCH_FW_E_CLASS);
    return VOUCH_OK;
}

vouch_rc vouch_fw_verify_buf(const uint8_t *buf, size_t len, const vouch_crypto_port *port,
                             const vouch_fw_policy *pol, vouch_fw_result *res)
{
    vouch_fw_mem m = {buf, len};
    uint8_t chunk[4096];
    if (!buf && len)
        return RC_API(VOUCH_E_ARG);
    return vouch_fw_verify(vouch_fw_mem_read, &m, vouch_fw_avail(len), port, pol, chunk,
                           sizeof chunk, res);
}
