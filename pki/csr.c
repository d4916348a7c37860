/*
 * Decoding CSRs without OpenSSL 3.0's provider decoders.
 *
 * d2i_X509_REQ decodes the SubjectPublicKeyInfo inside through
 * OSSL_DECODER_CTX_new_for_pkey, which searches every provider's decoders
 * under a global lock on each call: 140 us of a 250 us CSR parse and
 * verification here, and worse with several threads (docs/perf.md). For
 * the keys devices use (EC P-256 and P-384) this file decodes the request
 * with OpenSSL's ASN.1 templates, declared below with the library's
 * macros, keeping the key as raw fields; imports the EC point through the
 * EC_KEY API (a legacy key, which X509_REQ_set_pubkey encodes without the
 * encoder framework); and rebuilds an X509_REQ from the parts. The rebuilt
 * request is used only if its CertificationRequestInfo encodes to exactly
 * the bytes received, so the signature check covers the same bytes; any
 * other request (RSA, Ed25519, non-DER encodings, anything unexpected)
 * takes the ordinary d2i_X509_REQ path. Either way the caller gets an
 * X509_REQ whose X509_REQ_get0_pubkey works.
 *
 * EC_KEY is deprecated API, hence OPENSSL_SUPPRESS_DEPRECATED here.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <pthread.h>
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

/* The fast path; NULL when it does not apply (the caller falls back). */
static X509_REQ *fast(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    raw_req *r = (raw_req *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(raw_req));
    X509_REQ *req = NULL;
    EVP_PKEY *key = NULL;
    ASN1_BIT_STRING *sig = NULL;
    unsigned char *tbs = NULL;
    int tl;

    if (r == NULL || p != der + len || r->info->enc.enc == NULL ||
        ASN1_INTEGER_get(r->info->version) != 0 || (key = ec_key(r->info->spki)) == NULL)
        goto fail;
    if ((req = X509_REQ_new()) == NULL || !X509_REQ_set_version(req, 0) ||
        !X509_REQ_set_subject_name(req, r->info->subject) || !X509_REQ_set_pubkey(req, key) ||
        !X509_REQ_set1_signature_algo(req, r->sig_alg) ||
        (sig = ASN1_STRING_dup(r->signature)) == NULL)
        goto fail;
    X509_REQ_set0_signature(req, sig);
    sig = NULL;
    for (int i = 0; i < sk_X509_ATTRIBUTE_num(r->info->attributes); i++)
        if (!X509_REQ_add1_attr(req, sk_X509_ATTRIBUTE_value(r->info->attributes, i)))
            goto fail;
    /* the signature must cover what we rebuilt: the same bytes */
    tl = i2d_re_X509_REQ_tbs(req, &tbs);
    if (tl <= 0 || (long)tl != r->info->enc.len || memcmp(tbs, r->info->enc.enc, (size_t)tl) != 0)
        goto fail;
    OPENSSL_free(tbs);
    EVP_PKEY_free(key);
    ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(raw_req));
    return req;
fail:
    ERR_clear_error();
    OPENSSL_free(tbs);
    ASN1_BIT_STRING_free(sig);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(raw_req));
    return NULL;
}

X509_REQ *pki_csr_d2i(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    X509_REQ *req;
    if (der == NULL || len <= 0)
        return NULL;
    if ((req = fast(der, len)) != NULL)
        return req;
    req = d2i_X509_REQ(NULL, &p, len);
    if (req != NULL && p != der + len) { /* trailing bytes */
        X509_REQ_free(req);
        req = NULL;
    }
    ERR_clear_error();
    return req;
}

/* The signature check of a request whose key is a legacy EC key (those the
 * fast path makes), with ECDSA_verify on that key. X509_REQ_verify would
 * first export the key into a provider key, building its group again from
 * parameters: a third of the check. Returns 1 valid, 0 invalid, -1 not
 * applicable (other key or signature algorithm, or algorithm parameters
 * present): the caller then uses X509_REQ_verify, so the answer for any
 * request is the one OpenSSL's own check would give. */
int pki_csr_verify_ec(X509_REQ *req, EVP_PKEY *key)
{
    const ASN1_BIT_STRING *sig;
    const X509_ALGOR *alg;
    const ASN1_OBJECT *aobj;
    const void *pval;
    const EVP_MD *md;
    const EC_KEY *ec;
    unsigned char *tbs = NULL, dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ptype, tl, r;

    if (EVP_PKEY_get0_provider(key) != NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        (ec = EVP_PKEY_get0_EC_KEY(key)) == NULL)
        return -1;
    X509_REQ_get0_signature(req, &sig, &alg);
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    if (ptype != V_ASN1_UNDEF)
        return -1;
    switch (OBJ_obj2nid(aobj)) {
    case NID_ecdsa_with_SHA256: md = EVP_sha256(); break;
    case NID_ecdsa_with_SHA384: md = EVP_sha384(); break;
    case NID_ecdsa_with_SHA512: md = EVP_sha512(); break;
    default: return -1;
    }
    /* a BIT STRING with unused bits is no DER signature */
    if ((sig->flags & ASN1_STRING_FLAG_BITS_LEFT) && (sig->flags & 0x07))
        return 0;
    if ((tl = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
        return -1;
    r = EVP_Digest(tbs, (size_t)tl, dgst, &dlen, md, NULL);
    OPENSSL_free(tbs);
    if (r != 1)
        return -1;
    /* ECDSA_verify accepts only the DER encoding of the signature */
    r = ECDSA_verify(0, dgst, (int)dlen, sig->data, sig->length, (EC_KEY *)ec);
    OPENSSL_cleanse(dgst, sizeof dgst);
    ERR_clear_error();
    return r == 1 ? 1 : 0;
}
