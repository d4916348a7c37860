/* Helpers shared by the pki/ sources; not part of the API. */
#ifndef VOUCH_PKI_INTERNAL_H
#define VOUCH_PKI_INTERNAL_H

#include <stdarg.h>

#include <pthread.h>

#include <openssl/x509v3.h>

#include "pki/pki.h"

/* Writes a formatted reason into why (if any). */
void pki_why(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* serial bytes (1..20, top bit clear) -> new ASN1_INTEGER, NULL on error */
ASN1_INTEGER *pki_serial_asn1(const uint8_t *serial, size_t len);

/* Adds extension nid with a config-style value (e.g. "critical,CA:TRUE"),
 * computed in the context (issuer, subject). 1 ok, 0 error. */
int pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* Appends CRL DP + AIA (OCSP, caIssuers) under public_url for issuer_name. */
int pki_add_urls(STACK_OF(X509_EXTENSION) **exts, const char *public_url,
                 const char *issuer_name);

/* 1 if name is URL-safe [A-Za-z0-9._-]{1,64}. */
int pki_name_ok(const char *name);
/*
 * One object per thread (the caches of template.c, cert.c and key.c):
 * pki_tls_get returns the calling thread's, zeroed on first use, or NULL
 * (no key or no memory: callers then work without a cache); `destroy`
 * frees one, at thread exit or by pki_tls_release for the calling thread.
 * Define with PKI_TLS_INIT(destroy).
 */
typedef struct {
    pthread_key_t key;
    int state; /* 0 not made, 1 made, -1 failed; atomic */
    void (*destroy)(void *);
} pki_tls;
#define PKI_TLS_INIT(destroy_fn) {.state = 0, .destroy = (destroy_fn)}
void *pki_tls_get(pki_tls *t, size_t size);
void pki_tls_release(pki_tls *t);
/* Frees the calling thread's compiled-pattern cache (template.c); threads
 * free theirs when they exit. */
void pki_pattern_cache_free(void);
/* Frees the calling thread's cache of encoded fixed extensions (cert.c);
 * threads free theirs when they exit. */
void pki_ext_cache_free(void);
/* Frees the calling thread's signing context (key.c); threads free theirs
 * when they exit. */
void pki_sign_cache_free(void);
/* ---- requests (csr.c) ---- */
/* One DER CertificationRequest, nothing after it; NULL otherwise. */
vouch_pki_csr *pki_csr_from_der(const unsigned char *der, long len);
/* The same as an X509_REQ (d2i_X509_REQ, trailing bytes refused). */
X509_REQ *pki_csr_d2i(const unsigned char *der, long len);
/* A view of a caller's request, which stays the caller's; free the view
 * with vouch_pki_csr_free. NULL when out of memory. */
vouch_pki_csr *pki_csr_wrap(X509_REQ *req);
/* 1 when key is an EC key whose point is the point at infinity (or has
 * none): a key every signature "verifies" under, never certified. */
int pki_ec_key_at_infinity(const EVP_PKEY *key);
/* The request's public key (owned by c); NULL when it does not decode. */
EVP_PKEY *pki_csr_key(vouch_pki_csr *c);
/* 1 when the request's signature verifies under its own key. */
int pki_csr_verify(vouch_pki_csr *c);
/* The requested extensions (caller frees), NULL if none; *bad = 1 when
 * the extensionRequest attribute does not decode. */
STACK_OF(X509_EXTENSION) *pki_csr_exts(vouch_pki_csr *c, int *bad);
/* The SubjectPublicKeyInfo as DER into *der (OPENSSL_free), and the
 * subjectPublicKey bits (borrowed); the DER length, or -1. */
int pki_csr_spki(vouch_pki_csr *c, unsigned char **der, const unsigned char **bits,
                 int *bits_len);
/* 1 if url is http(s)://... of sane length without spaces or control chars. */
int pki_url_ok(const char *url);

/* Internal signing: an EVP_MD_CTX initialized for DigestSign with the
 * signer's key (proxy key for external signers). Free with EVP_MD_CTX_free. */
EVP_MD_CTX *pki_signer_ctx(const vouch_pki_signer *s);
/* The signature algorithm the signer's signatures carry (ecdsa-with-SHA256
 * for P-256, -SHA384 for P-384, Ed25519), parameters absent. 1 ok. */
int pki_signer_algor(const vouch_pki_signer *s, X509_ALGOR *alg);
/* Signs the len bytes at tbs (a DER TBSCertificate) into sig, a BIT STRING
 * without unused bits. E_SIGNER when an external signer fails. */
vouch_pki_rc pki_sign_bytes(const vouch_pki_signer *s, const unsigned char *tbs, size_t len,
                            ASN1_BIT_STRING *sig);

/* Template checks shared by issuance and renewal (template.c). */
vouch_pki_rc pki_check_key_subject(const vouch_pki_template *t, const EVP_PKEY *key,
                                   const X509_NAME *name, char *why, size_t why_size);
vouch_pki_rc pki_check_san(const vouch_pki_template *t, const GENERAL_NAMES *gens, char *why,
                           size_t why_size);
/* The SAN requested in the CSR (NULL if none) into *out. E_POLICY if the
 * request has more than one SAN extension or one that does not decode. */
vouch_pki_rc pki_csr_san(vouch_pki_csr *csr, GENERAL_NAMES **out, char *why, size_t why_size);

#endif
