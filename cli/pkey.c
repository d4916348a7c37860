/* Public keys and signatures between the SE's raw forms and the PEM/DER that
 * OpenSSL and other tools read. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <vouch/se_proto.h>

EVP_PKEY *cli_p256_pub(const uint8_t *pub, size_t len)
{
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, len),
        OSSL_PARAM_construct_end()};
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

char *cli_pub_to_pem(uint8_t alg, const uint8_t *pub, size_t len)
{
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    char *pem = NULL, *data;
    if (alg == VOUCH_SE_ALG_P256 && len == VOUCH_SE_P256_PUB_LEN && pub[0] == 0x04)
        pk = cli_p256_pub(pub, len);
    else if (alg == VOUCH_SE_ALG_ED25519 && len == VOUCH_SE_X_PUB_LEN)
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, len);
    else if (alg == VOUCH_SE_ALG_X25519 && len == VOUCH_SE_X_PUB_LEN)
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, len);
    if (!pk || !(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_PUBKEY(bio, pk))
        goto out;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0 && (pem = malloc((size_t)n + 1))) {
        memcpy(pem, data, (size_t)n);
        pem[n] = '\0';
    }
out:
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return pem;
}

/* Coordinates rather than the encoded point: a key read from a compressed
 * SubjectPublicKeyInfo would otherwise come out compressed. */
static int p256_to_raw(EVP_PKEY *pk, uint8_t pub[65])
{
    BIGNUM *x = NULL, *y = NULL;
    int ret = -1;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) &&
        BN_bn2binpad(x, pub + 1, 32) == 32 && BN_bn2binpad(y, pub + 33, 32) == 32) {
        pub[0] = 0x04;
        ret = 0;
    }
    BN_free(x);
    BN_free(y);
    return ret;
}

int cli_pem_to_pub(const char *path, uint8_t *alg, uint8_t pub[65], size_t *len)
{
    uint8_t *buf = NULL;
    size_t n, got = 0;
    int ret = cli_read_file(path, 64 * 1024, &buf, &n);
    if (ret)
        return ret;
    BIO *bio = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    char group[32];
    ret = CLI_FILE;
    if (!pk) {
        cli_err(CLI_FILE, "%s: not a PEM public key (-----BEGIN PUBLIC KEY-----)", path);
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, NULL) ||
            strcmp(group, "prime256v1") != 0) {
            cli_err(CLI_FILE, "%s: EC key not on P-256 (prime256v1)", path);
        } else if (p256_to_raw(pk, pub) == 0) {
            got = VOUCH_SE_P256_PUB_LEN;
            *alg = VOUCH_SE_ALG_P256;
            ret = CLI_OK;
        } else {
            cli_err(CLI_FILE, "%s: cannot extract the P-256 public point", path);
        }
    } else if (EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_is_a(pk, "X25519")) {
        got = VOUCH_SE_X_PUB_LEN;
        if (EVP_PKEY_get_raw_public_key(pk, pub, &got) && got == VOUCH_SE_X_PUB_LEN) {
            *alg = EVP_PKEY_is_a(pk, "ED25519") ? VOUCH_SE_ALG_ED25519 : VOUCH_SE_ALG_X25519;
            ret = CLI_OK;
        } else {
            cli_err(CLI_FILE, "%s: cannot extract the public key", path);
        }
    } else {
        cli_err(CLI_FILE, "%s: unsupported key type %s (P-256, Ed25519 or X25519 only)", path,
                EVP_PKEY_get0_type_name(pk));
    }
    if (ret == CLI_OK)
        *len = got;
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free(buf);
    return ret;
}

uint8_t *cli_sig_to_der(const uint8_t rs[64], size_t *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    uint8_t *der = NULL;
    int n;
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    if ((n = i2d_ECDSA_SIG(sig, &der)) <= 0)
        der = NULL;
    else
        *len = (size_t)n;
out:
    ECDSA_SIG_free(sig);
    return der;
}

int cli_sig_from_der(const uint8_t *der, size_t len, uint8_t rs[64])
{
    const uint8_t *p = der;
    uint8_t *again = NULL;
    int ret = -1;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    /* Strict DER only: the whole input consumed and re-encoding to the same
     * bytes, so one signature has exactly one accepted encoding. */
    if (!sig || p != der + len || i2d_ECDSA_SIG(sig, &again) != (int)len ||
        memcmp(again, der, len) != 0)
        goto out;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
        goto out;
    ret = 0;
out:
    OPENSSL_free(again);
    ECDSA_SIG_free(sig);
    return ret;
}
