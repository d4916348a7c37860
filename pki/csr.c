/*
 * Decoding CSRs without OpenSSL 3.0's provider decoders.
 *
 * d2i_X509_REQ decodes the SubjectPublicKeyInfo inside through
 * OSSL_DECODER_CTX_new_for_pkey, which searches every provider's decoders
 * under a global lock on each call: 140 us of a 250 us CSR parse and
 * verification here, and worse with several threads (docs/perf.md). For
 * the keys devices use (EC P-256 and P-384, signed with ECDSA and SHA-2)
 * vouch_pki_csr_read decodes the request with OpenSSL's ASN.1 templates,
 * declared below with the library's macros, keeping the parts as decoded
 * and the CertificationRequestInfo's bytes as received; imports the EC
 * point through the EC_KEY API (a legacy key, checked on the curve and not
 * the point at infinity); and verifies the signature with ECDSA_verify
 * over exactly the received bytes. No X509_REQ is built. Any other request
 * (RSA, Ed25519, another signature algorithm, anything unexpected) is
 * decoded by d2i_X509_REQ and checked by X509_REQ_verify.
 *
 * EC_KEY is deprecated API, hence OPENSSL_SUPPRESS_DEPRECATED here.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "pki/internal.h"

typedef struct {
    X509_ALGOR *algor;
    ASN1_BIT_STRING *key;
} raw_spki;

typedef struct {
    ASN1_ENCODING enc; /* the bytes received, for the comparison */
    ASN1_INTEGER *version;
    X509_NAME *subject;
    raw_spki *spki;
    STACK_OF(X509_ATTRIBUTE) *attributes;
} raw_req_info;

typedef struct {
    raw_req_info *info;
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} raw_req;

ASN1_SEQUENCE(raw_spki) = {
    ASN1_SIMPLE(raw_spki, algor, X509_ALGOR),
    ASN1_SIMPLE(raw_spki, key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(raw_spki)

ASN1_SEQUENCE_enc(raw_req_info, enc, 0) = {
    ASN1_SIMPLE(raw_req_info, version, ASN1_INTEGER),
    ASN1_SIMPLE(raw_req_info, subject, X509_NAME),
    ASN1_SIMPLE(raw_req_info, spki, raw_spki),
    ASN1_IMP_SET_OF(raw_req_info, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END_ref(raw_req_info, raw_req_info)

ASN1_SEQUENCE(raw_req) = {
    ASN1_SIMPLE(raw_req, info, raw_req_info),
    ASN1_SIMPLE(raw_req, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(raw_req, signature, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(raw_req)

/* P-256 and P-384 groups made once and copied into each key:
 * EC_KEY_new_by_curve_name builds the group from the curve's numbers on
 * every call (two Montgomery setups with a modular inversion each), a
 * fifth of the parse; EC_KEY_set_group copies a finished one. Read-only
 * after pthread_once, so the threads share them. */
static EC_GROUP *g_p256, *g_p384;
static pthread_once_t g_groups_once = PTHREAD_ONCE_INIT;

static void groups_init(void)
{
    g_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    g_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

static const EC_GROUP *group_for(int nid)
{
    if (pthread_once(&g_groups_once, groups_init) != 0)
        return NULL;
    return nid == NID_X9_62_prime256v1 ? g_p256 : nid == NID_secp384r1 ? g_p384 : NULL;
}

/* The EC public key of spki as a legacy EVP_PKEY (P-256 and P-384 only). */
static EVP_PKEY *ec_key(const raw_spki *spki)
{
    const ASN1_OBJECT *aobj;
    const void *pval;
    const EC_GROUP *group;
    int ptype;
    EC_KEY *ec = NULL;
    EVP_PKEY *pk = NULL;

    X509_ALGOR_get0(&aobj, &ptype, &pval, spki->algor);
    if (OBJ_obj2nid(aobj) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT)
        return NULL;
    if ((group = group_for(OBJ_obj2nid(pval))) == NULL)
        return NULL;
    /* a BIT STRING with unused bits is no point encoding */
    if ((spki->key->flags & ASN1_STRING_FLAG_BITS_LEFT) && (spki->key->flags & 0x07))
        return NULL;
    /* EC_KEY_oct2key checks that the point is on the curve */
    if ((ec = EC_KEY_new()) == NULL || !EC_KEY_set_group(ec, group) ||
        !EC_KEY_oct2key(ec, spki->key->data, (size_t)spki->key->length, NULL) ||
        (pk = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(pk, ec)) {
        EVP_PKEY_free(pk);
        EC_KEY_free(ec);
        return NULL;
    }
    return pk;
}

/* SHA-256/384/512 fetched once: EVP_sha256() and friends make EVP_Digest
 * look the algorithm up again (a name-map search under a lock) on every
 * call. Read-only after pthread_once; NULL where a fetch failed, which
 * sends such requests to the general path. */
static EVP_MD *g_sha256, *g_sha384, *g_sha512;
static pthread_once_t g_mds_once = PTHREAD_ONCE_INIT;

static void mds_init(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    g_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    g_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
    ERR_clear_error();
}

/* ecdsa-with-SHA256/384/512 without parameters: its digest; else NULL */
static const EVP_MD *ecdsa_md(const X509_ALGOR *alg)
{
    const ASN1_OBJECT *aobj;
    const void *pval;
    int ptype;
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    if (ptype != V_ASN1_UNDEF || pthread_once(&g_mds_once, mds_init) != 0)
        return NULL;
    switch (OBJ_obj2nid(aobj)) {
    case NID_ecdsa_with_SHA256: return g_sha256;
    case NID_ecdsa_with_SHA384: return g_sha384;
    case NID_ecdsa_with_SHA512: return g_sha512;
    default: return NULL;
    }
}

int pki_ec_key_at_infinity(const EVP_PKEY *key)
{
    const EC_KEY *ec;
    const EC_POINT *pt;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return 0;
    /* a provider key gets a legacy copy here (held by the key) */
    if ((ec = EVP_PKEY_get0_EC_KEY(key)) == NULL || (pt = EC_KEY_get0_public_key(ec)) == NULL) {
        ERR_clear_error();
        return 1;
    }
    return EC_POINT_is_at_infinity(EC_KEY_get0_group(ec), pt) == 1;
}

struct vouch_pki_csr {
    X509_REQ *req; /* any other request, as d2i_X509_REQ decoded it */
    int own_req;   /* 0 when it wraps a caller's request (pki_csr_wrap) */
    raw_req *raw;  /* P-256/P-384: the parts, raw->info->enc the signed bytes */
    EVP_PKEY *key; /* with raw: the legacy EC key */
    const EVP_MD *md;
};

/* The fast path: 1 when it applies and c is filled, 0 otherwise. */
static int fast(vouch_pki_csr *c, const unsigned char *der, long len)
{
    const unsigned char *p = der;
    raw_req *r = (raw_req *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(raw_req));
    EVP_PKEY *key = NULL;
    const EVP_MD *md = NULL;

    if (r == NULL || p != der + len || r->info->enc.enc == NULL || r->info->enc.len <= 0 ||
        ASN1_INTEGER_get(r->info->version) != 0 || (md = ecdsa_md(r->sig_alg)) == NULL ||
        (key = ec_key(r->info->spki)) == NULL) {
        ERR_clear_error();
        ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(raw_req));
        return 0;
    }
    c->raw = r;
    c->key = key;
    c->md = md;
    return 1;
}

static X509_REQ *slow(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, len);
    if (req != NULL && p != der + len) { /* trailing bytes */
        X509_REQ_free(req);
        req = NULL;
    }
    ERR_clear_error();
    return req;
}

vouch_pki_csr *pki_csr_from_der(const unsigned char *der, long len)
{
    vouch_pki_csr *c;
    if (der == NULL || len <= 0 || (c = calloc(1, sizeof *c)) == NULL)
        return NULL;
    if (fast(c, der, len))
        return c;
    if ((c->req = slow(der, len)) == NULL) {
        free(c);
        return NULL;
    }
    c->own_req = 1;
    return c;
}

X509_REQ *pki_csr_d2i(const unsigned char *der, long len)
{
    if (der == NULL || len <= 0)
        return NULL;
    return slow(der, len);
}

vouch_pki_csr *pki_csr_wrap(X509_REQ *req)
{
    vouch_pki_csr *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->req = req;
    return c;
}

void vouch_pki_csr_free(vouch_pki_csr *c)
{
    if (c == NULL)
        return;
    if (c->own_req)
        X509_REQ_free(c->req);
    ASN1_item_free((ASN1_VALUE *)c->raw, ASN1_ITEM_rptr(raw_req));
    EVP_PKEY_free(c->key);
    free(c);
}

const X509_NAME *vouch_pki_csr_subject(const vouch_pki_csr *c)
{
    if (c == NULL)
        return NULL;
    return c->raw ? c->raw->info->subject : X509_REQ_get_subject_name(c->req);
}

EVP_PKEY *pki_csr_key(vouch_pki_csr *c)
{
    return c->raw ? c->key : X509_REQ_get0_pubkey(c->req);
}

int pki_csr_verify(vouch_pki_csr *c)
{
    const ASN1_BIT_STRING *sig = c->raw ? c->raw->signature : NULL;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const EC_KEY *ec;
    int r;

    if (c->raw == NULL) {
        EVP_PKEY *key = X509_REQ_get0_pubkey(c->req);
        r = key != NULL && X509_REQ_verify(c->req, key) == 1;
        ERR_clear_error();
        return r;
    }
    /* a BIT STRING with unused bits is no DER signature */
    if ((sig->flags & ASN1_STRING_FLAG_BITS_LEFT) && (sig->flags & 0x07))
        return 0;
    if ((ec = EVP_PKEY_get0_EC_KEY(c->key)) == NULL ||
        EVP_Digest(c->raw->info->enc.enc, (size_t)c->raw->info->enc.len, dgst, &dlen, c->md,
                   NULL) != 1) {
        ERR_clear_error();
        return 0;
    }
    /* ECDSA_verify accepts only the DER encoding of the signature */
    r = ECDSA_verify(0, dgst, (int)dlen, sig->data, sig->length, (EC_KEY *)ec);
    OPENSSL_cleanse(dgst, sizeof dgst);
    ERR_clear_error();
    return r == 1;
}

STACK_OF(X509_EXTENSION) *pki_csr_exts(vouch_pki_csr *c, int *bad)
{
    static const int nids[] = {NID_ext_req, NID_ms_ext_req};
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_ATTRIBUTE *attr = NULL;

    /* as X509_REQ_get_extensions: the first extensionRequest attribute
     * (PKCS#9's, else Microsoft's); here it must hold exactly one value,
     * a SEQUENCE OF Extension that decodes */
    *bad = 0;
    for (size_t i = 0; attr == NULL && i < sizeof nids / sizeof nids[0]; i++) {
        int idx = c->raw ? X509at_get_attr_by_NID(c->raw->info->attributes, nids[i], -1)
                         : X509_REQ_get_attr_by_NID(c->req, nids[i], -1);
        if (idx >= 0)
            attr = c->raw ? X509at_get_attr(c->raw->info->attributes, idx)
                          : X509_REQ_get_attr(c->req, idx);
    }
    if (attr == NULL)
        return NULL;
    ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(attr, 0);
    if (X509_ATTRIBUTE_count(attr) != 1 || v == NULL || v->type != V_ASN1_SEQUENCE ||
        (exts = ASN1_item_unpack(v->value.sequence, ASN1_ITEM_rptr(X509_EXTENSIONS))) == NULL)
        *bad = 1;
    ERR_clear_error();
    return exts;
}

int pki_csr_spki(vouch_pki_csr *c, unsigned char **der, const unsigned char **bits,
                 int *bits_len)
{
    int len;
    *der = NULL;
    if (c->raw != NULL) {
        len = ASN1_item_i2d((ASN1_VALUE *)c->raw->info->spki, der, ASN1_ITEM_rptr(raw_spki));
        *bits = c->raw->info->spki->key->data;
        *bits_len = c->raw->info->spki->key->length;
    } else {
        X509_PUBKEY *pub = X509_REQ_get_X509_PUBKEY(c->req);
        len = pub != NULL && X509_PUBKEY_get0_param(NULL, bits, bits_len, NULL, pub)
                  ? i2d_X509_PUBKEY(pub, der)
                  : -1;
    }
    if (len <= 0) {
        OPENSSL_free(*der);
        *der = NULL;
        ERR_clear_error();
        return -1;
    }
    return len;
}
