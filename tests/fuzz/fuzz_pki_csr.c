/* PKCS#10 CSRs as vouchd will receive them: parse, then check against every
 * built-in template (signature first, then the template rules).
 *
 * Oracle beyond the sanitizers: vouch_pki_csr_parse has a fast path for EC
 * keys (pki/csr.c) next to OpenSSL's d2i_X509_REQ. For DER input, whatever
 * it accepts d2i_X509_REQ must accept too, with the same encoding, the same
 * public key and the same signature verdict; and vouch_pki_check_csr, which
 * checks fast-path EC signatures with ECDSA_verify directly, must refuse
 * the signature exactly when X509_REQ_verify on OpenSSL's own decoding
 * does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"

/* -1: not comparable (PEM); else 1 if OpenSSL's decoding verifies */
static int same_as_openssl(const uint8_t *data, size_t size, X509_REQ *csr)
{
    const unsigned char *p = data;
    unsigned char *a = NULL, *b = NULL;
    X509_REQ *ref;
    int la, lb;
    static const char tag[] = "-----BEGIN ";
    /* PEM input (a BEGIN line anywhere: text around a PEM block is allowed,
     * RFC 7468): the DER inside is what counts, not comparable here */
    if (size == 0 || memmem(data, size, tag, sizeof tag - 1) != NULL)
        return -1;
    ref = d2i_X509_REQ(NULL, &p, (long)size);
    if (ref == NULL || p != data + size)
        __builtin_trap(); /* accepted by us, refused by OpenSSL */
    la = i2d_X509_REQ(csr, &a);
    lb = i2d_X509_REQ(ref, &b);
    if (la != lb || la <= 0 || memcmp(a, b, (size_t)la) != 0)
        __builtin_trap();
    EVP_PKEY *ka = X509_REQ_get0_pubkey(csr), *kb = X509_REQ_get0_pubkey(ref);
    if ((ka == NULL) != (kb == NULL) || (ka && EVP_PKEY_eq(ka, kb) != 1))
        __builtin_trap();
    int ok = kb && X509_REQ_verify(ref, kb) == 1;
    if (ka && (X509_REQ_verify(csr, ka) == 1) != ok)
        __builtin_trap();
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_REQ_free(ref);
    ERR_clear_error();
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509_REQ *csr = NULL;
    size_t n = 0;
    const char *const *names = vouch_pki_template_builtin_names(&n);
    char why[256];
    if (vouch_pki_csr_parse(data, size, &csr) != VOUCH_PKI_OK)
        return 0;
    int ref_ok = same_as_openssl(data, size, csr);
    for (size_t i = 0; i < n; i++) {
        vouch_pki_template t;
        if (vouch_pki_template_builtin(names[i], &t) != VOUCH_PKI_OK)
            __builtin_trap();
        vouch_pki_rc rc = vouch_pki_check_csr(&t, csr, why, sizeof why);
        if (rc == VOUCH_PKI_OK && why[0] == '\x01')
            __builtin_trap(); /* unreachable: keeps the result used */
        if (ref_ok >= 0 && X509_REQ_get0_pubkey(csr) != NULL &&
            (rc == VOUCH_PKI_E_SIGNATURE) != (ref_ok == 0))
            __builtin_trap(); /* our signature verdict differs from OpenSSL's */
    }
    X509_REQ_free(csr);
    return 0;
}
