/*
 * Device authentication, the server's check of a device's signature
 * (pki.h, docs/auth-protocol.md). The digest is built by the caller with
 * vouch_auth_digest (libvouch), the same code the device runs.
 */
#include "pki/internal.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

/* Is pub an EC key on P-256? */
static int is_p256(EVP_PKEY *pub)
{
    char group[32];
    size_t len = 0;
    return EVP_PKEY_is_a(pub, "EC") &&
           EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

vouch_pki_rc vouch_pki_auth_verify(EVP_PKEY *pub, const uint8_t digest[32], const uint8_t *sig,
                                   size_t sig_len, char *why, size_t why_size)
{
    EVP_PKEY_CTX *ctx = NULL;
    vouch_pki_rc rc = vouch_pki_auth_verify_ctx(pub, &ctx, digest, sig, sig_len, why, why_size);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

vouch_pki_rc vouch_pki_auth_verify_ctx(EVP_PKEY *pub, EVP_PKEY_CTX **vctx,
                                       const uint8_t digest[32], const uint8_t *sig,
                                       size_t sig_len, char *why, size_t why_size)
{
    if (!pub || !vctx || !digest || !sig) {
        pki_why(why, why_size, "missing key, digest or signature");
        return VOUCH_PKI_E_ARG;
    }
    if (!*vctx && !is_p256(pub)) {
        pki_why(why, why_size, "the certificate's key is not EC P-256");
        return VOUCH_PKI_E_ARG;
    }
    if (sig_len < 8 || sig_len > VOUCH_PKI_AUTH_SIG_MAX) {
        pki_why(why, why_size, "signature is %zu bytes; a DER ECDSA P-256 signature is 8..%d",
                sig_len, VOUCH_PKI_AUTH_SIG_MAX);
        return VOUCH_PKI_E_PARSE;
    }
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
    unsigned char *der = NULL;
    int n = es ? i2d_ECDSA_SIG(es, &der) : -1;
    int canonical = es && p == sig + sig_len && n > 0 && (size_t)n == sig_len &&
                    memcmp(der, sig, sig_len) == 0;
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    if (!canonical) {
        pki_why(why, why_size, "signature is not a DER ECDSA-Sig-Value in canonical form");
        return VOUCH_PKI_E_PARSE;
    }
    if (!*vctx) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        if (!ctx || EVP_PKEY_verify_init(ctx) != 1) {
            EVP_PKEY_CTX_free(ctx);
            ERR_clear_error();
            pki_why(why, why_size, "out of memory");
            return VOUCH_PKI_E_NOMEM;
        }
        *vctx = ctx;
    }
    int ok = EVP_PKEY_verify(*vctx, sig, sig_len, digest, 32) == 1;
    ERR_clear_error();
    if (!ok) {
        pki_why(why, why_size, "signature does not verify with the certificate's key");
        return VOUCH_PKI_E_SIGNATURE;
    }
    return VOUCH_PKI_OK;
}
