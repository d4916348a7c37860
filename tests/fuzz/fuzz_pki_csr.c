/* PKCS#10 CSRs as vouchd will receive them: read, then check against every
 * built-in template (signature first, then the template rules), through
 * both forms: vouch_pki_csr_read (vouchd's, with its own decoding of EC
 * requests, pki/csr.c) and vouch_pki_csr_parse (an X509_REQ, OpenSSL's).
 *
 * Oracle beyond the sanitizers: for DER input, whatever vouch_pki_csr_read
 * accepts d2i_X509_REQ must accept too, with the same subject encoding and
 * the same public key; and vouch_pki_csr_check must refuse the signature
 * exactly when X509_REQ_verify on OpenSSL's own decoding does, and give
 * the answer vouch_pki_check_csr gives on the X509_REQ. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"

/* -1: not comparable (PEM); else 1 if OpenSSL's decoding verifies */
static int same_as_openssl(const uint8_t *data, size_t size, const vouch_pki_csr *csr,
                           EVP_PKEY **key)
{
    const unsigned char *p = data;
    unsigned char *a = NULL, *b = NULL;
    X509_REQ *ref;
    int la, lb;
    static const char tag[] = "-----BEGIN ";
    *key = NULL;
    /* PEM input (a BEGIN line anywhere: text around a PEM block is allowed,
     * RFC 7468): the DER inside is what counts, not comparable here */
    if (size == 0 || memmem(data, size, tag, sizeof tag - 1) != NULL)
        return -1;
    ref = d2i_X509_REQ(NULL, &p, (long)size);
    if (ref == NULL || p != data + size)
        __builtin_trap(); /* accepted by us, refused by OpenSSL */
    la = i2d_X509_NAME(vouch_pki_csr_subject(csr), &a);
    lb = i2d_X509_NAME(X509_REQ_get_subject_name(ref), &b);
    if (la != lb || la <= 0 || memcmp(a, b, (size_t)la) != 0)
        __builtin_trap();
    EVP_PKEY *kb = X509_REQ_get0_pubkey(ref);
    int ok = kb && X509_REQ_verify(ref, kb) == 1;
    if (kb)
        *key = EVP_PKEY_dup(kb);
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_REQ_free(ref);
    ERR_clear_error();
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vouch_pki_csr *csr = NULL;
    X509_REQ *req = NULL;
    EVP_PKEY *key = NULL;
    size_t n = 0;
    const char *const *names = vouch_pki_template_builtin_names(&n);
    char why[256], why2[256];
    vouch_pki_rc read_rc = vouch_pki_csr_read(data, size, &csr);
    vouch_pki_rc parse_rc = vouch_pki_csr_parse(data, size, &req);
    if (read_rc != VOUCH_PKI_OK) {
        X509_REQ_free(req);
        return 0;
    }
    if (parse_rc != VOUCH_PKI_OK)
        __builtin_trap(); /* vouchd's reader takes what OpenSSL refuses */
    int ref_ok = same_as_openssl(data, size, csr, &key);
    for (size_t i = 0; i < n; i++) {
        vouch_pki_template t;
        if (vouch_pki_template_builtin(names[i], &t) != VOUCH_PKI_OK)
            __builtin_trap();
        why[0] = why2[0] = '\0';
        vouch_pki_rc rc = vouch_pki_csr_check(&t, csr, why, sizeof why);
        vouch_pki_rc rc2 = vouch_pki_check_csr(&t, req, why2, sizeof why2);
        if (rc != rc2 || (rc != VOUCH_PKI_OK && strcmp(why, why2) != 0))
            __builtin_trap(); /* the two forms judge one request differently */
        if (ref_ok >= 0 && key != NULL && (rc == VOUCH_PKI_E_SIGNATURE) != (ref_ok == 0))
            __builtin_trap(); /* our signature verdict differs from OpenSSL's */
    }
    EVP_PKEY_free(key);
    X509_REQ_free(req);
    vouch_pki_csr_free(csr);
    return 0;
}
