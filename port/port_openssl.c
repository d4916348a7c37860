/* The crypto port on OpenSSL 3. Every function takes and returns raw bytes;
 * key objects live only for the duration of one call and are freed (OpenSSL
 * wipes private key material on free). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <vouch/port.h>

static int p_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    if (len > 0x7fffffff)
        return -1;
    return RAND_priv_bytes(out, (int)len) == 1 ? 0 : -1;
}

static int p_sha256(void *ctx, const uint8_t *msg, size_t len, uint8_t out[32])
{
    (void)ctx;
    unsigned int n = 0;
    return EVP_Digest(msg, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

/* Builds an EVP_PKEY for P-256 from a private scalar, a public point, or
 * both. Returns NULL if the bytes are not a valid key (off-curve point, zero
 * scalar, ...). */
static EVP_PKEY *p256_pkey(const uint8_t *priv, const uint8_t *pub)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    OSSL_PARAM params[4];
    BIGNUM *bn = NULL;
    unsigned char privbe[32];
    uint8_t pubbuf[65];
    int n = 0;
    int selection = EVP_PKEY_PUBLIC_KEY;

    /* only the uncompressed form 04|X|Y; OpenSSL would also take hybrid 06/07 */
    if (pub && pub[0] != 0x04)
        return NULL;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    if (pub) {
        memcpy(pubbuf, pub, 65);
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pubbuf, 65);
    }
    if (priv) {
        bn = BN_bin2bn(priv, 32, NULL);
        if (!bn)
            goto exit;
        /* OSSL_PARAM BNs are native-endian */
        if (BN_bn2nativepad(bn, privbe, 32) != 32)
            goto exit;
        params[n++] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, privbe, 32);
        selection = EVP_PKEY_KEYPAIR;
    }
    params[n] = OSSL_PARAM_construct_end();
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pkey, selection, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        goto exit;
    }
    if (pub) {
        /* fromdata does not check the point is on the curve; check it. The
         * quick check (on the curve, not infinity) is the full check for
         * P-256, whose cofactor is 1, without a scalar multiplication. */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = c && EVP_PKEY_public_check_quick(c) == 1;
        EVP_PKEY_CTX_free(c);
        if (!ok) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
exit:
    OPENSSL_cleanse(privbe, sizeof privbe);
    BN_clear_free(bn);
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

static int p_p256_keygen(void *ctx, uint8_t priv[32], uint8_t pub[65])
{
    (void)ctx;
    int rc = -1;
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    BIGNUM *d = NULL;
    size_t publen = 0;
    if (!pkey)
        return -1;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        goto exit;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, 65, &publen) != 1 ||
        publen != 65)
        goto exit;
    if (BN_bn2binpad(d, priv, 32) != 32)
        goto exit;
    rc = 0;
exit:
    BN_clear_free(d);
    EVP_PKEY_free(pkey);
    return rc;
}

static int p_p256_sign(void *ctx, const uint8_t priv[32], const uint8_t digest[32],
                       uint8_t sig[64])
{
    (void)ctx;
    int rc = -1;
    EVP_PKEY *pkey = p256_pkey(priv, NULL);
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char der[80];
    size_t derlen = sizeof der;
    ECDSA_SIG *es = NULL;
    const unsigned char *p = der;
    if (!pkey)
        return -1;
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!pctx || EVP_PKEY_sign_init(pctx) != 1 ||
        EVP_PKEY_sign(pctx, der, &derlen, digest, 32) != 1)
        goto exit;
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!es)
        goto exit;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
        goto exit;
    rc = 0;
exit:
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    return rc;
}

/* r|s -> an ECDSA_SIG (NULL on failure) */
static ECDSA_SIG *rs_sig(const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    return es; /* owns r and s */
}

static int p_p256_sig_der(void *ctx, const uint8_t sig[64], uint8_t *out, size_t out_size,
                          size_t *out_len)
{
    (void)ctx;
    ECDSA_SIG *es = rs_sig(sig);
    unsigned char *der = NULL;
    int n = es ? i2d_ECDSA_SIG(es, &der) : -1;
    int rc = -1;
    if (n > 0 && (size_t)n <= out_size) {
        memcpy(out, der, (size_t)n);
        *out_len = (size_t)n;
        rc = 0;
    }
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return rc;
}

static int p_p256_sig_raw(void *ctx, const uint8_t *der, size_t der_len, uint8_t sig[64])
{
    (void)ctx;
    const unsigned char *q = der;
    ECDSA_SIG *es = NULL;
    unsigned char *re = NULL;
    int rc = -1, n;
    if (!der || der_len == 0 || der_len > 72)
        return -1;
    es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    if (!es || q != der + der_len)
        goto exit;
    /* strict DER: re-encoding gives back the same bytes */
    n = i2d_ECDSA_SIG(es, &re);
    if (n != (int)der_len || CRYPTO_memcmp(re, der, der_len) != 0)
        goto exit;
    {
        const BIGNUM *r = NULL, *s = NULL;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_is_zero(r) || BN_is_zero(s) || BN_is_negative(r) || BN_is_negative(s) ||
            BN_num_bytes(r) > 32 || BN_num_bytes(s) > 32 || BN_bn2binpad(r, sig, 32) != 32 ||
            BN_bn2binpad(s, sig + 32, 32) != 32)
            goto exit;
    }
    rc = 0;
exit:
    OPENSSL_free(re);
    ECDSA_SIG_free(es);
    return rc;
}

/* The EVP context's pointer lives in the caller's opaque state. */
static int p_sha256_init(void *ctx, vouch_sha256_ctx *s)
{
    (void)ctx;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(m);
        return -1;
    }
    memcpy(s->opaque, &m, sizeof m);
    return 0;
}

static int p_sha256_update(void *ctx, vouch_sha256_ctx *s, const uint8_t *msg, size_t len)
{
    (void)ctx;
    EVP_MD_CTX *m;
    memcpy(&m, s->opaque, sizeof m);
    return m && EVP_DigestUpdate(m, msg, len) == 1 ? 0 : -1;
}

static int p_sha256_final(void *ctx, vouch_sha256_ctx *s, uint8_t out[32])
{
    (void)ctx;
    EVP_MD_CTX *m;
    unsigned int n = 0;
    int rc = 0;
    memcpy(&m, s->opaque, sizeof m);
    if (!m)
        return -1;
    if (out)
        rc = EVP_DigestFinal_ex(m, out, &n) == 1 && n == 32 ? 0 : -1;
    EVP_MD_CTX_free(m);
    memset(s->opaque, 0, sizeof s->opaque);
    return rc;
}

static int p_p256_verify(void *ctx, const uint8_t pub[65], const uint8_t digest[32],
                         const uint8_t sig[64])
{
    (void)ctx;
    int rc = -1;
    EVP_PKEY *pkey = p256_pkey(NULL, pub);
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *es = rs_sig(sig);
    unsigned char *der = NULL;
    int derlen;
    if (!pkey || !es)
        goto exit;
    derlen = i2d_ECDSA_SIG(es, &der);
    if (derlen <= 0)
        goto exit;
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!pctx || EVP_PKEY_verify_init(pctx) != 1)
        goto exit;
    rc = EVP_PKEY_verify(pctx, der, (size_t)derlen, digest, 32) == 1 ? 1 : 0;
exit:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    return rc;
}

/* The peer was validated when it was imported (p256_pkey), so the derive
 * does not check it a second time. */
static int derive(EVP_PKEY *mine, EVP_PKEY *peer, uint8_t secret[32])
{
    int rc = -1;
    size_t len = 32;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    if (c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer_ex(c, peer, 0) == 1 &&
        EVP_PKEY_derive(c, secret, &len) == 1 && len == 32)
        rc = 0;
    EVP_PKEY_CTX_free(c);
    return rc;
}

static int p_p256_ecdh(void *ctx, const uint8_t priv[32], const uint8_t peer[65],
                       uint8_t secret[32])
{
    (void)ctx;
    EVP_PKEY *mine = p256_pkey(priv, NULL), *other = p256_pkey(NULL, peer);
    int rc = (mine && other) ? derive(mine, other, secret) : -1;
    EVP_PKEY_free(mine);
    EVP_PKEY_free(other);
    return rc;
}

static int raw_keygen(int type, uint8_t priv[32], uint8_t pub[32])
{
    int rc = -1;
    size_t l1 = 32, l2 = 32;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
    EVP_PKEY *pkey = NULL;
    if (c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &pkey) == 1 &&
        EVP_PKEY_get_raw_private_key(pkey, priv, &l1) == 1 &&
        EVP_PKEY_get_raw_public_key(pkey, pub, &l2) == 1 && l1 == 32 && l2 == 32)
        rc = 0;
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(c);
    return rc;
}

static int p_ed25519_keygen(void *ctx, uint8_t priv[32], uint8_t pub[32])
{
    (void)ctx;
    return raw_keygen(EVP_PKEY_ED25519, priv, pub);
}

static int p_x25519_keygen(void *ctx, uint8_t priv[32], uint8_t pub[32])
{
    (void)ctx;
    return raw_keygen(EVP_PKEY_X25519, priv, pub);
}

static int p_ed25519_sign(void *ctx, const uint8_t priv[32], const uint8_t *msg, size_t len,
                          uint8_t sig[64])
{
    (void)ctx;
    int rc = -1;
    size_t siglen = 64;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (pkey && m && EVP_DigestSignInit(m, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestSign(m, sig, &siglen, msg, len) == 1 && siglen == 64)
        rc = 0;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pkey);
    return rc;
}

static int p_ed25519_verify(void *ctx, const uint8_t pub[32], const uint8_t *msg, size_t len,
                            const uint8_t sig[64])
{
    (void)ctx;
    int rc = -1;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (pkey && m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, pkey) == 1)
        rc = EVP_DigestVerify(m, sig, 64, msg, len) == 1 ? 1 : 0;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pkey);
    return rc;
}

static int p_x25519(void *ctx, const uint8_t priv[32], const uint8_t peer[32],
                    uint8_t secret[32])
{
    (void)ctx;
    static const uint8_t zero[32];
    EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *other = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
    int rc = (mine && other) ? derive(mine, other, secret) : -1;
    /* a low-order peer point gives the all-zero secret: refuse it */
    if (rc == 0 && CRYPTO_memcmp(secret, zero, 32) == 0) {
        OPENSSL_cleanse(secret, 32);
        rc = -1;
    }
    EVP_PKEY_free(mine);
    EVP_PKEY_free(other);
    return rc;
}

static int p_aes_cmac(void *ctx, const uint8_t key[16], const uint8_t *msg, size_t len,
                      uint8_t tag[16])
{
    (void)ctx;
    int rc = -1;
    size_t outl = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0),
        OSSL_PARAM_construct_end()};
    if (c && EVP_MAC_init(c, key, 16, params) == 1 && EVP_MAC_update(c, msg, len) == 1 &&
        EVP_MAC_final(c, tag, &outl, 16) == 1 && outl == 16)
        rc = 0;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return rc;
}

static int p_aes_ctr(void *ctx, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                     uint8_t *out, size_t len)
{
    (void)ctx;
    int rc = -1, outl = 0, fl = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (len > 0x7fffffff)
        goto exit;
    if (c && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) == 1 &&
        EVP_EncryptUpdate(c, out, &outl, in, (int)len) == 1 &&
        EVP_EncryptFinal_ex(c, out + outl, &fl) == 1 && (size_t)(outl + fl) == len)
        rc = 0;
exit:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

static int wrap_op(int enc, const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out,
                   size_t out_size, size_t *out_len)
{
    int rc = -1, outl = 0, fl = 0;
    size_t need = enc ? ((len + 7) / 8) * 8 + 8 : len;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || len == 0 || len > 4096 || out_size < need)
        goto exit;
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL, enc) != 1)
        goto exit;
    if (EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1 || outl <= 0)
        goto exit;
    if (EVP_CipherFinal_ex(c, out + outl, &fl) != 1)
        goto exit;
    *out_len = (size_t)(outl + fl);
    rc = 0;
exit:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

static int p_aes_wrap(void *ctx, const uint8_t key[32], const uint8_t *in, size_t len,
                      uint8_t *out, size_t out_size, size_t *out_len)
{
    (void)ctx;
    return wrap_op(1, key, in, len, out, out_size, out_len);
}

static int p_aes_unwrap(void *ctx, const uint8_t key[32], const uint8_t *in, size_t len,
                        uint8_t *out, size_t out_size, size_t *out_len)
{
    (void)ctx;
    return wrap_op(0, key, in, len, out, out_size, out_len);
}

static int p_memcmp_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0 ? 0 : 1;
}

static void p_cleanse(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

static const vouch_crypto_port openssl_port = {
    .ctx = NULL,
    .random = p_random,
    .sha256 = p_sha256,
    .p256_keygen = p_p256_keygen,
    .p256_sign = p_p256_sign,
    .p256_verify = p_p256_verify,
    .p256_sig_der = p_p256_sig_der,
    .p256_ecdh = p_p256_ecdh,
    .ed25519_keygen = p_ed25519_keygen,
    .ed25519_sign = p_ed25519_sign,
    .ed25519_verify = p_ed25519_verify,
    .x25519_keygen = p_x25519_keygen,
    .x25519 = p_x25519,
    .aes_cmac = p_aes_cmac,
    .aes_ctr = p_aes_ctr,
    .aes_wrap = p_aes_wrap,
    .aes_unwrap = p_aes_unwrap,
    .memcmp_ct = p_memcmp_ct,
    .cleanse = p_cleanse,
    .sha256_init = p_sha256_init,
    .sha256_update = p_sha256_update,
    .sha256_final = p_sha256_final,
    .p256_sig_raw = p_p256_sig_raw,
};

const vouch_crypto_port *vouch_port_openssl(void)
{
    return &openssl_port;
}
