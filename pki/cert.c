/*
 * Certificates: self-signed root, sub-CAs (issuing and family CAs), and
 * leaf issuance and renewal under a template. OpenSSL builds and encodes
 * every extension from its config-style strings; we only choose them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"

#define DAY 86400

/* A serial we are willing to put in a certificate: 1..20 bytes, positive
 * (top bit clear, so the DER content stays within 20 octets), non-zero. */
static int serial_ok(const uint8_t *s, size_t len)
{
    size_t i;
    if (s == NULL || len == 0 || len > VOUCH_PKI_SERIAL_MAX || (s[0] & 0x80))
        return 0;
    for (i = 0; i < len; i++)
        if (s[i] != 0)
            return 1;
    return 0;
}

/* A v3 certificate with serial, validity, names and key set; no
 * extensions, unsigned. For CA certificates; leaves are encoded from
 * their parts (issue_common). */
static vouch_pki_rc cert_new(const uint8_t *serial, size_t serial_len, time_t nb, time_t na,
                             const X509_NAME *subject, const X509_NAME *issuer, EVP_PKEY *pub,
                             X509 **out)
{
    X509 *c = X509_new();
    ASN1_INTEGER *sn = pki_serial_asn1(serial, serial_len);
    vouch_pki_rc rc = VOUCH_PKI_E_CRYPTO;

    *out = NULL;
    if (c == NULL || sn == NULL) {
        rc = VOUCH_PKI_E_NOMEM;
        goto exit;
    }
    if (!X509_set_version(c, X509_VERSION_3) || !X509_set_serialNumber(c, sn) ||
        ASN1_TIME_set(X509_getm_notBefore(c), nb) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(c), na) == NULL ||
        !X509_set_subject_name(c, subject) || !X509_set_issuer_name(c, issuer) ||
        !X509_set_pubkey(c, pub))
        goto exit;
    *out = c;
    c = NULL;
    rc = VOUCH_PKI_OK;
exit:
    ASN1_INTEGER_free(sn);
    X509_free(c);
    return rc;
}

/* O=org, CN=cn */
static X509_NAME *ca_name(const char *org, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL ||
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static int text_ok(const char *s)
{
    size_t n;
    if (s == NULL)
        return 0;
    n = strnlen(s, 65);
    return n >= 1 && n <= 64;
}

static vouch_pki_rc ca_params_ok(const vouch_pki_ca_params *p)
{
    if (p == NULL || !text_ok(p->org) || !text_ok(p->cn) || !serial_ok(p->serial, p->serial_len) ||
        p->not_after <= p->not_before || p->path_len < -1 || p->path_len > 8)
        return VOUCH_PKI_E_ARG;
    if (p->public_url != NULL && (!pki_url_ok(p->public_url) || !pki_name_ok(p->parent_name)))
        return VOUCH_PKI_E_ARG;
    return VOUCH_PKI_OK;
}

/* basicConstraints + keyUsage + SKI + AKI for a CA certificate. */
static int ca_extensions(X509 *c, X509 *issuer, int path_len, int sub)
{
    char bc[64];

    if (path_len >= 0)
        snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", path_len);
    else
        snprintf(bc, sizeof bc, "critical,CA:TRUE");
    /* sub-CAs sign their own OCSP responses, which needs digitalSignature
     * (RFC 6960 4.2.2.2 responders are the CA itself or delegated) */
    return pki_add_ext(c, issuer, NID_basic_constraints, bc) &&
           pki_add_ext(c, issuer, NID_key_usage,
                       sub ? "critical,digitalSignature,keyCertSign,cRLSign"
                           : "critical,keyCertSign,cRLSign") &&
           pki_add_ext(c, issuer, NID_subject_key_identifier, "hash") &&
           pki_add_ext(c, issuer, NID_authority_key_identifier, "keyid:always");
}

vouch_pki_rc vouch_pki_ca_root(const vouch_pki_ca_params *p, const vouch_pki_signer *key,
                               X509 **out)
{
    X509_NAME *name = NULL;
    X509 *c = NULL;
    vouch_pki_rc rc;

    if (out != NULL)
        *out = NULL;
    if (key == NULL || out == NULL || p == NULL || p->public_url != NULL)
        return VOUCH_PKI_E_ARG;
    rc = ca_params_ok(p);
    if (rc != VOUCH_PKI_OK)
        return rc;
    name = ca_name(p->org, p->cn);
    if (name == NULL)
        return VOUCH_PKI_E_NOMEM;
    rc = cert_new(p->serial, p->serial_len, p->not_before, p->not_after, name, name,
                  vouch_pki_signer_public(key), &c);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    /* self-signed: the certificate is its own issuer for SKI/AKI */
    rc = VOUCH_PKI_E_CRYPTO;
    if (!ca_extensions(c, c, p->path_len, 0))
        goto exit;
    rc = vouch_pki_sign_cert(key, c);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    *out = c;
    c = NULL;
exit:
    X509_NAME_free(name);
    X509_free(c);
    return rc;
}

/* The issuer is a CA and the signer holds its key. */
static vouch_pki_rc issuer_ok(X509 *issuer, const vouch_pki_signer *key, char *why,
                              size_t why_size)
{
    if (X509_check_ca(issuer) < 1) {
        pki_why(why, why_size, "issuer certificate is not a CA");
        return VOUCH_PKI_E_POLICY;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(issuer), vouch_pki_signer_public(key)) != 1) {
        ERR_clear_error();
        pki_why(why, why_size, "issuer key does not match the issuer certificate");
        return VOUCH_PKI_E_ARG;
    }
    return VOUCH_PKI_OK;
}

/* not_after within the issuer's validity */
static vouch_pki_rc within_issuer(X509 *issuer, time_t na, char *why, size_t why_size)
{
    if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(issuer), na) < 0) {
        pki_why(why, why_size, "validity would end after the issuer's");
        return VOUCH_PKI_E_POLICY;
    }
    return VOUCH_PKI_OK;
}

/* CRL DP + AIA appended to a CA certificate. */
static int add_urls(X509 *c, const char *public_url, const char *parent_name)
{
    STACK_OF(X509_EXTENSION) *sk = NULL;
    int ok = pki_add_urls(&sk, public_url, parent_name);
    for (int i = 0; ok && i < sk_X509_EXTENSION_num(sk); i++)
        ok = X509_add_ext(c, sk_X509_EXTENSION_value(sk, i), -1) == 1;
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    return ok;
}

vouch_pki_rc vouch_pki_ca_sub(const vouch_pki_ca_params *p, EVP_PKEY *pub, X509 *parent,
                              const vouch_pki_signer *parent_key, X509 **out)
{
    X509_NAME *name = NULL;
    X509 *c = NULL;
    vouch_pki_rc rc;

    if (out != NULL)
        *out = NULL;
    if (pub == NULL || parent == NULL || parent_key == NULL || out == NULL)
        return VOUCH_PKI_E_ARG;
    rc = ca_params_ok(p);
    if (rc == VOUCH_PKI_OK)
        rc = issuer_ok(parent, parent_key, NULL, 0);
    if (rc == VOUCH_PKI_OK)
        rc = within_issuer(parent, p->not_after, NULL, 0);
    if (rc != VOUCH_PKI_OK)
        return rc;
    name = ca_name(p->org, p->cn);
    if (name == NULL)
        return VOUCH_PKI_E_NOMEM;
    rc = cert_new(p->serial, p->serial_len, p->not_before, p->not_after, name,
                  X509_get_subject_name(parent), pub, &c);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    rc = VOUCH_PKI_E_CRYPTO;
    if (!ca_extensions(c, parent, p->path_len, 1) ||
        (p->public_url != NULL && !add_urls(c, p->public_url, p->parent_name)))
        goto exit;
    rc = vouch_pki_sign_cert(parent_key, c);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    *out = c;
    c = NULL;
exit:
    X509_NAME_free(name);
    X509_free(c);
    return rc;
}

/* ---- leaves ------------------------------------------------------------------- */

/* The extensions below are built from their structures, not from
 * configuration strings: X509V3_EXT_conf_nid parses the strings back into
 * the same structures and cost about 4 % of an issuance. The encodings are
 * the ones the strings gave ("critical,CA:FALSE", "critical,digitalSignature,...",
 * "clientAuth,...", "hash", "keyid:always"). Each appends to a stack. */

typedef STACK_OF(X509_EXTENSION) ext_stack;

static int add_basic_constraints(ext_stack **sk, int ca, int path_len)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok = bc != NULL;
    if (ok && ca) {
        bc->ca = 0xFF;
        if (path_len >= 0)
            ok = (bc->pathlen = ASN1_INTEGER_new()) != NULL &&
                 ASN1_INTEGER_set(bc->pathlen, path_len) == 1;
    }
    ok = ok && X509V3_add1_i2d(sk, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static int add_key_usage(ext_stack **sk, uint32_t ku)
{
    /* bit numbers of RFC 5280 4.2.1.3, in the order of the KU_ flags */
    static const struct { uint32_t flag; int bit; } t[] = {
        {KU_DIGITAL_SIGNATURE, 0}, {KU_NON_REPUDIATION, 1}, {KU_KEY_ENCIPHERMENT, 2},
        {KU_DATA_ENCIPHERMENT, 3}, {KU_KEY_AGREEMENT, 4},   {KU_KEY_CERT_SIGN, 5},
        {KU_CRL_SIGN, 6},          {KU_ENCIPHER_ONLY, 7},   {KU_DECIPHER_ONLY, 8},
    };
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    int ok = bs != NULL;
    for (size_t i = 0; ok && i < sizeof t / sizeof t[0]; i++)
        if (ku & t[i].flag)
            ok = ASN1_BIT_STRING_set_bit(bs, t[i].bit, 1) == 1;
    ok = ok && X509V3_add1_i2d(sk, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT) == 1;
    ASN1_BIT_STRING_free(bs);
    return ok;
}

/* eku bits 0..5 as in template.c; nothing added when none is set */
static int add_ext_key_usage(ext_stack **sk, uint32_t eku)
{
    static const int nids[] = {NID_server_auth,      NID_client_auth,    NID_code_sign,
                               NID_email_protect,    NID_time_stamp,     NID_OCSP_sign};
    if ((eku & 0x3Fu) == 0)
        return 1;
    EXTENDED_KEY_USAGE *e = sk_ASN1_OBJECT_new_null();
    int ok = e != NULL;
    for (size_t i = 0; ok && i < 6; i++)
        if (eku & (1u << i))
            ok = sk_ASN1_OBJECT_push(e, OBJ_nid2obj(nids[i])) > 0;
    ok = ok && X509V3_add1_i2d(sk, NID_ext_key_usage, e, 0, X509V3_ADD_DEFAULT) == 1;
    sk_ASN1_OBJECT_free(e); /* OBJ_nid2obj objects are static */
    return ok;
}

/* SKI: SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2 (1)),
 * what "hash" computes. */
static int add_ski(ext_stack **sk, const unsigned char *pk, int pklen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (pk == NULL || pklen <= 0 ||
        EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL) != 1)
        return 0;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    int ok = os != NULL && ASN1_OCTET_STRING_set(os, md, (int)mdlen) &&
             X509V3_add1_i2d(sk, NID_subject_key_identifier, os, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_OCTET_STRING_free(os);
    return ok;
}

/* AKI: the issuer's SKI as keyIdentifier; fails without one ("always"). */
static int add_aki(ext_stack **sk, X509 *issuer)
{
    const ASN1_OCTET_STRING *ikid = X509_get0_subject_key_id(issuer);
    if (ikid == NULL)
        return 0;
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    int ok = akid != NULL && (akid->keyid = ASN1_OCTET_STRING_dup(ikid)) != NULL &&
             X509V3_add1_i2d(sk, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1;
    AUTHORITY_KEYID_free(akid);
    return ok;
}

/* The subject's key as it goes into a certificate: the
 * SubjectPublicKeyInfo's DER and the subjectPublicKey bits (for SKI). */
typedef struct {
    unsigned char *der; /* OPENSSL_malloc'd */
    int len;
    const unsigned char *bits; /* borrowed */
    int bits_len;
} pki_spki;

/* One encoded Extension as an ASN1_ANY (a SEQUENCE kept as its bytes,
 * written out as they are). NULL on error. */
static ASN1_TYPE *ext_any(const X509_EXTENSION *e)
{
    unsigned char *der = NULL;
    int len = i2d_X509_EXTENSION(e, &der);
    ASN1_STRING *str = len > 0 ? ASN1_STRING_type_new(V_ASN1_SEQUENCE) : NULL;
    ASN1_TYPE *t = str != NULL ? ASN1_TYPE_new() : NULL;
    if (t == NULL) {
        OPENSSL_free(der);
        ASN1_STRING_free(str);
        return NULL;
    }
    ASN1_STRING_set0(str, der, len);
    ASN1_TYPE_set(t, V_ASN1_SEQUENCE, str);
    return t;
}

/*
 * The extensions that depend only on the template, the issuer and the URLs
 * (basic constraints, key usage, EKU, AKI, CRL DP, AIA) are the same for
 * every certificate a server issues under one template and issuer: they
 * are built and encoded once and kept as DER in a small cache per thread,
 * keyed by everything they are made from, so a changed template, URL or
 * issuer certificate simply misses. Only SKI and SAN are made for each
 * certificate. Freed when the thread exits (and by pki_ext_cache_free).
 */
#define EXT_CACHE 8
#define EXT_FIXED 6 /* bc, ku, [eku], aki, crldp, aia */

typedef struct {
    int valid;
    /* the key */
    int ca, path_len;
    uint32_t ku, eku;
    unsigned char kid[EVP_MAX_MD_SIZE]; /* the issuer's SKI, for AKI */
    int kid_len;
    char *url, *issuer_name;
    /* the value, in certificate order: ext[0 .. before_ski-1], then SKI,
     * ext[before_ski] (AKI), then SAN, then the rest (CRL DP, AIA) */
    ASN1_TYPE *ext[EXT_FIXED];
    int n, before_ski;
} ext_slot;

typedef struct {
    ext_slot slot[EXT_CACHE];
    unsigned next;
} ext_cache;

static void ext_slot_clear(ext_slot *sl)
{
    for (int i = 0; i < sl->n; i++)
        ASN1_TYPE_free(sl->ext[i]);
    free(sl->url);
    free(sl->issuer_name);
    memset(sl, 0, sizeof *sl);
}

static void ext_cache_destroy(void *p)
{
    ext_cache *c = p;
    for (int i = 0; c && i < EXT_CACHE; i++)
        ext_slot_clear(&c->slot[i]);
    free(c);
}

static pki_tls ext_tls = PKI_TLS_INIT(ext_cache_destroy);

void pki_ext_cache_free(void)
{
    pki_tls_release(&ext_tls);
}

/* The issuer's SKI (AKI's keyIdentifier); NULL without one ("always"). */
static const ASN1_OCTET_STRING *issuer_kid(X509 *issuer)
{
    const ASN1_OCTET_STRING *kid = X509_get0_subject_key_id(issuer);
    return kid != NULL && kid->length > 0 && kid->length <= EVP_MAX_MD_SIZE ? kid : NULL;
}

static int slot_matches(const ext_slot *sl, const vouch_pki_issue_params *p,
                        const ASN1_OCTET_STRING *kid)
{
    const vouch_pki_template *t = p->tpl;
    return sl->valid && sl->ca == t->ca && sl->path_len == (t->ca ? t->path_len : -1) &&
           sl->ku == t->key_usage && sl->eku == t->ext_key_usage &&
           sl->kid_len == kid->length && memcmp(sl->kid, kid->data, (size_t)kid->length) == 0 &&
           strcmp(sl->url, p->public_url) == 0 && strcmp(sl->issuer_name, p->issuer_name) == 0;
}

/* Builds the fixed extensions of (template, issuer, URLs) into sl. */
static int slot_build(ext_slot *sl, const vouch_pki_issue_params *p, const ASN1_OCTET_STRING *kid)
{
    const vouch_pki_template *t = p->tpl;
    ext_stack *sk = NULL;
    int ok = 0;

    memset(sl, 0, sizeof *sl);
    sl->ca = t->ca;
    sl->path_len = t->ca ? t->path_len : -1;
    sl->ku = t->key_usage;
    sl->eku = t->ext_key_usage;
    memcpy(sl->kid, kid->data, (size_t)kid->length);
    sl->kid_len = kid->length;
    if ((sl->url = strdup(p->public_url)) == NULL ||
        (sl->issuer_name = strdup(p->issuer_name)) == NULL ||
        !add_basic_constraints(&sk, sl->ca, sl->path_len) || !add_key_usage(&sk, sl->ku) ||
        !add_ext_key_usage(&sk, sl->eku))
        goto out;
    sl->before_ski = sk_X509_EXTENSION_num(sk);
    if (!add_aki(&sk, p->issuer_cert) || !pki_add_urls(&sk, p->public_url, p->issuer_name) ||
        sk_X509_EXTENSION_num(sk) != sl->before_ski + 3)
        goto out;
    for (int i = 0; i < sk_X509_EXTENSION_num(sk); i++) {
        if ((sl->ext[i] = ext_any(sk_X509_EXTENSION_value(sk, i))) == NULL)
            goto out;
        sl->n = i + 1;
    }
    sl->valid = 1;
    ok = 1;
out:
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    if (!ok)
        ext_slot_clear(sl);
    return ok;
}

/* The cached slot for p, built on a miss; NULL when the thread has no
 * cache (the caller then builds into a slot of its own). */
static const ext_slot *slot_cached(const vouch_pki_issue_params *p, const ASN1_OCTET_STRING *kid)
{
    ext_cache *c = pki_tls_get(&ext_tls, sizeof *c);
    if (c == NULL)
        return NULL;
    for (int i = 0; i < EXT_CACHE; i++)
        if (slot_matches(&c->slot[i], p, kid))
            return &c->slot[i];
    ext_slot *sl = &c->slot[c->next++ % EXT_CACHE];
    ext_slot_clear(sl);
    return slot_build(sl, p, kid) ? sl : NULL;
}

/* Every extension a leaf (or family CA) gets from its template, in the
 * order they appear in the certificate, as encoded items into *out. The
 * fixed ones are borrowed from the cache (or from *own_slot, which the
 * caller clears); SKI and SAN are new, in own[0..1], which the caller
 * frees. */
static int leaf_extensions(STACK_OF(ASN1_TYPE) **out, ASN1_TYPE *own[2], ext_slot *own_slot,
                           const vouch_pki_issue_params *p, const X509_NAME *subject,
                           const pki_spki *spki, const GENERAL_NAMES *san)
{
    const ASN1_OCTET_STRING *kid = issuer_kid(p->issuer_cert);
    const ext_slot *sl;
    ext_stack *sk = NULL;
    int ok = 0;

    if (kid == NULL)
        return 0;
    if ((sl = slot_cached(p, kid)) == NULL) {
        if (!slot_build(own_slot, p, kid))
            return 0;
        sl = own_slot;
    }
    if (!add_ski(&sk, spki->bits, spki->bits_len) || (own[0] = ext_any(sk_X509_EXTENSION_value(sk, 0))) == NULL)
        goto out;
    /* RFC 5280 4.2.1.6: SAN is critical when the subject is empty */
    if (sk_GENERAL_NAME_num(san) > 0 &&
        (X509V3_add1_i2d(&sk, NID_subject_alt_name, (void *)san,
                         X509_NAME_entry_count(subject) == 0, X509V3_ADD_DEFAULT) != 1 ||
         (own[1] = ext_any(sk_X509_EXTENSION_value(sk, 1))) == NULL))
        goto out;
    if ((*out = sk_ASN1_TYPE_new_reserve(NULL, sl->n + 2)) == NULL)
        goto out;
    for (int i = 0; i < sl->n; i++) {
        if (i == sl->before_ski)
            sk_ASN1_TYPE_push(*out, own[0]);
        sk_ASN1_TYPE_push(*out, sl->ext[i]);
        if (i == sl->before_ski && own[1] != NULL)
            sk_ASN1_TYPE_push(*out, own[1]);
    }
    ok = sk_ASN1_TYPE_num(*out) == sl->n + 1 + (own[1] != NULL);
out:
    sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
    return ok;
}

/* Parameter and validity checks shared by issue and renew; sets *na. */
static vouch_pki_rc issue_params_ok(const vouch_pki_issue_params *p, time_t *na, char *why,
                                    size_t why_size)
{
    vouch_pki_rc rc;
    time_t max;

    if (p == NULL || p->tpl == NULL || p->issuer_cert == NULL || p->issuer_key == NULL) {
        pki_why(why, why_size, "missing template, issuer certificate or issuer key");
        return VOUCH_PKI_E_ARG;
    }
    if (!pki_name_ok(p->issuer_name) || !pki_url_ok(p->public_url)) {
        pki_why(why, why_size, "issuer name must be [A-Za-z0-9._-]{1,64} and public URL http(s)://...");
        return VOUCH_PKI_E_ARG;
    }
    if (!serial_ok(p->serial, p->serial_len)) {
        pki_why(why, why_size, "serial must be 1..20 bytes, positive and non-zero");
        return VOUCH_PKI_E_ARG;
    }
    rc = vouch_pki_template_validate(p->tpl, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    max = p->not_before + (time_t)p->tpl->validity_days * DAY;
    *na = p->not_after != 0 ? p->not_after : max;
    if (*na <= p->not_before || *na > max) {
        pki_why(why, why_size, "validity must be positive and at most %u days (template %s)",
                p->tpl->validity_days, p->tpl->name);
        return VOUCH_PKI_E_POLICY;
    }
    rc = issuer_ok(p->issuer_cert, p->issuer_key, why, why_size);
    if (rc == VOUCH_PKI_OK)
        rc = within_issuer(p->issuer_cert, *na, why, why_size);
    return rc;
}

/*
 * A leaf certificate encoded from its parts, without an X509 object.
 * Building one costs more than the signature's overhead: X509_set_*_name
 * copies each name by an encode and a decode, the TBS is encoded for the
 * signature and again by i2d_X509. Here the two ASN.1 types below (RFC
 * 5280 4.1, declared with OpenSSL's template macros, so OpenSSL does all
 * the DER) borrow the issuer's and the subject's decoded names (an
 * unmodified X509_NAME encodes as the bytes it was read from), the
 * SubjectPublicKeyInfo and the extensions; the TBS is encoded once,
 * signed, and wrapped with the algorithm and signature.
 */
typedef struct {
    ASN1_TIME *not_before;
    ASN1_TIME *not_after;
} tbs_validity;

typedef struct {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    X509_ALGOR *sig_alg;
    X509_NAME *issuer;
    tbs_validity *validity;
    X509_NAME *subject;
    ASN1_TYPE *spki; /* V_ASN1_SEQUENCE: the SubjectPublicKeyInfo's DER */
    STACK_OF(ASN1_TYPE) *exts; /* each an encoded Extension (leaf_extensions) */
} tbs_cert;

typedef struct {
    ASN1_TYPE *tbs; /* V_ASN1_SEQUENCE: the encoded TBSCertificate as is */
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *sig;
} signed_cert;

ASN1_SEQUENCE(tbs_validity) = {
    ASN1_SIMPLE(tbs_validity, not_before, ASN1_TIME),
    ASN1_SIMPLE(tbs_validity, not_after, ASN1_TIME)
} static_ASN1_SEQUENCE_END(tbs_validity)

ASN1_SEQUENCE(tbs_cert) = {
    ASN1_EXP_OPT(tbs_cert, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(tbs_cert, serial, ASN1_INTEGER),
    ASN1_SIMPLE(tbs_cert, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(tbs_cert, issuer, X509_NAME),
    ASN1_SIMPLE(tbs_cert, validity, tbs_validity),
    ASN1_SIMPLE(tbs_cert, subject, X509_NAME),
    ASN1_SIMPLE(tbs_cert, spki, ASN1_ANY),
    ASN1_EXP_SEQUENCE_OF_OPT(tbs_cert, exts, ASN1_ANY, 3)
} static_ASN1_SEQUENCE_END(tbs_cert)

ASN1_SEQUENCE(signed_cert) = {
    ASN1_SIMPLE(signed_cert, tbs, ASN1_ANY),
    ASN1_SIMPLE(signed_cert, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(signed_cert, sig, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(signed_cert)

/* Builds and signs the certificate once every check has passed. */
static vouch_pki_rc issue_common(const vouch_pki_issue_params *p, time_t na,
                                 const X509_NAME *subject, const pki_spki *spki,
                                 const GENERAL_NAMES *san, vouch_pki_der *out, char *why,
                                 size_t why_size)
{
    tbs_validity val = {ASN1_TIME_set(NULL, p->not_before), ASN1_TIME_set(NULL, na)};
    tbs_cert tbs = {.version = ASN1_INTEGER_new(),
                    .serial = pki_serial_asn1(p->serial, p->serial_len),
                    .sig_alg = X509_ALGOR_new(),
                    .issuer = X509_get_subject_name(p->issuer_cert),
                    .validity = &val,
                    .subject = (X509_NAME *)subject,
                    .spki = ASN1_TYPE_new()};
    ASN1_STRING *spki_der = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    ASN1_STRING *tbs_der = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    ASN1_TYPE *tbs_any = ASN1_TYPE_new();
    ASN1_BIT_STRING *sig = ASN1_BIT_STRING_new();
    ASN1_TYPE *own[2] = {NULL, NULL};
    ext_slot own_slot = {0};
    unsigned char *enc = NULL;
    int len;
    vouch_pki_rc rc = VOUCH_PKI_E_NOMEM;

    if (val.not_before == NULL || val.not_after == NULL || tbs.version == NULL ||
        tbs.serial == NULL || tbs.sig_alg == NULL || tbs_der == NULL || tbs_any == NULL ||
        sig == NULL || tbs.spki == NULL || spki_der == NULL ||
        !ASN1_INTEGER_set(tbs.version, X509_VERSION_3) ||
        !ASN1_STRING_set(spki_der, spki->der, spki->len))
        goto exit;
    ASN1_TYPE_set(tbs.spki, V_ASN1_SEQUENCE, spki_der);
    spki_der = NULL;
    rc = VOUCH_PKI_E_CRYPTO;
    if (!pki_signer_algor(p->issuer_key, tbs.sig_alg))
        goto exit;
    if (!leaf_extensions(&tbs.exts, own, &own_slot, p, subject, spki, san)) {
        pki_why(why, why_size, "cannot build the extensions");
        goto exit;
    }
    if ((len = ASN1_item_i2d((ASN1_VALUE *)&tbs, &enc, ASN1_ITEM_rptr(tbs_cert))) <= 0)
        goto exit;
    ASN1_STRING_set0(tbs_der, enc, len);
    enc = NULL;
    rc = pki_sign_bytes(p->issuer_key, tbs_der->data, (size_t)len, sig);
    if (rc != VOUCH_PKI_OK) {
        pki_why(why, why_size, "signing failed: %s", vouch_pki_strerror(rc));
        goto exit;
    }
    ASN1_TYPE_set(tbs_any, V_ASN1_SEQUENCE, tbs_der);
    tbs_der = NULL;
    signed_cert c = {tbs_any, tbs.sig_alg, sig};
    rc = VOUCH_PKI_E_CRYPTO;
    if ((len = ASN1_item_i2d((ASN1_VALUE *)&c, &enc, ASN1_ITEM_rptr(signed_cert))) <= 0)
        goto exit;
    out->der = enc;
    out->len = (size_t)len;
    rc = VOUCH_PKI_OK;
exit:
    ERR_clear_error();
    ASN1_TIME_free(val.not_before);
    ASN1_TIME_free(val.not_after);
    ASN1_TYPE_free(tbs.spki);
    ASN1_STRING_free(spki_der);
    ASN1_INTEGER_free(tbs.version);
    ASN1_INTEGER_free(tbs.serial);
    X509_ALGOR_free(tbs.sig_alg);
    sk_ASN1_TYPE_free(tbs.exts); /* borrowed items */
    ASN1_TYPE_free(own[0]);
    ASN1_TYPE_free(own[1]);
    ext_slot_clear(&own_slot);
    ASN1_STRING_free(tbs_der);
    ASN1_TYPE_free(tbs_any);
    ASN1_BIT_STRING_free(sig);
    return rc;
}

/* The X509 form of an issuance: the DER read back. */
static vouch_pki_rc der_to_x509(vouch_pki_rc rc, vouch_pki_der *d, X509 **out)
{
    const unsigned char *q = d->der;

    if (rc == VOUCH_PKI_OK &&
        ((*out = d2i_X509(NULL, &q, (long)d->len)) == NULL || q != d->der + d->len)) {
        X509_free(*out);
        *out = NULL;
        ERR_clear_error();
        rc = VOUCH_PKI_E_CRYPTO;
    }
    vouch_pki_der_free(d);
    return rc;
}

void vouch_pki_der_free(vouch_pki_der *d)
{
    if (d == NULL)
        return;
    OPENSSL_free(d->der);
    d->der = NULL;
    d->len = 0;
}

vouch_pki_rc vouch_pki_issue_csr_der(const vouch_pki_issue_params *p, vouch_pki_csr *csr,
                                     vouch_pki_der *out, char *why, size_t why_size)
{
    GENERAL_NAMES *san = NULL;
    pki_spki spki = {NULL, 0, NULL, 0};
    time_t na;
    vouch_pki_rc rc;

    if (out != NULL)
        out->der = NULL, out->len = 0;
    if (csr == NULL || out == NULL) {
        pki_why(why, why_size, "no CSR");
        return VOUCH_PKI_E_ARG;
    }
    rc = issue_params_ok(p, &na, why, why_size);
    if (rc == VOUCH_PKI_OK)
        rc = vouch_pki_csr_check(p->tpl, csr, why, why_size);
    if (rc == VOUCH_PKI_OK)
        rc = pki_csr_san(csr, &san, why, why_size);
    if (rc == VOUCH_PKI_OK &&
        (spki.len = pki_csr_spki(csr, &spki.der, &spki.bits, &spki.bits_len)) <= 0) {
        pki_why(why, why_size, "CSR public key does not encode");
        rc = VOUCH_PKI_E_PARSE;
    }
    if (rc == VOUCH_PKI_OK)
        rc = issue_common(p, na, vouch_pki_csr_subject(csr), &spki, san, out, why, why_size);
    OPENSSL_free(spki.der);
    GENERAL_NAMES_free(san);
    return rc;
}

vouch_pki_rc vouch_pki_issue_der(const vouch_pki_issue_params *p, X509_REQ *csr,
                                 vouch_pki_der *out, char *why, size_t why_size)
{
    vouch_pki_csr *c = csr != NULL ? pki_csr_wrap(csr) : NULL;
    vouch_pki_rc rc;

    if (csr != NULL && c == NULL) {
        if (out != NULL)
            out->der = NULL, out->len = 0;
        return VOUCH_PKI_E_NOMEM;
    }
    rc = vouch_pki_issue_csr_der(p, c, out, why, why_size);
    vouch_pki_csr_free(c);
    return rc;
}

vouch_pki_rc vouch_pki_issue(const vouch_pki_issue_params *p, X509_REQ *csr, X509 **out,
                             char *why, size_t why_size)
{
    vouch_pki_der d = {NULL, 0};

    if (out == NULL) {
        pki_why(why, why_size, "no output");
        return VOUCH_PKI_E_ARG;
    }
    *out = NULL;
    return der_to_x509(vouch_pki_issue_der(p, csr, &d, why, why_size), &d, out);
}

vouch_pki_rc vouch_pki_renew_der(const vouch_pki_issue_params *p, X509 *old, vouch_pki_der *out,
                                 char *why, size_t why_size)
{
    GENERAL_NAMES *san = NULL;
    EVP_PKEY *pub;
    time_t na;
    int crit = 0;
    vouch_pki_rc rc;

    if (out != NULL)
        out->der = NULL, out->len = 0;
    if (old == NULL || out == NULL) {
        pki_why(why, why_size, "no certificate to renew");
        return VOUCH_PKI_E_ARG;
    }
    rc = issue_params_ok(p, &na, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    /* only our own certificates are renewed: the old one stands in for the
     * CSR's proof of possession */
    if (X509_verify(old, vouch_pki_signer_public(p->issuer_key)) != 1) {
        ERR_clear_error();
        pki_why(why, why_size, "certificate was not signed by this issuer");
        return VOUCH_PKI_E_SIGNATURE;
    }
    pub = X509_get0_pubkey(old);
    if (pub == NULL) {
        pki_why(why, why_size, "certificate public key does not decode");
        return VOUCH_PKI_E_PARSE;
    }
    rc = pki_check_key_subject(p->tpl, pub, X509_get_subject_name(old), why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    san = X509_get_ext_d2i(old, NID_subject_alt_name, &crit, NULL);
    if (san == NULL && crit != -1) {
        ERR_clear_error();
        pki_why(why, why_size, "certificate subjectAltName does not decode or appears twice");
        return VOUCH_PKI_E_PARSE;
    }
    rc = pki_check_san(p->tpl, san, why, why_size);
    if (rc == VOUCH_PKI_OK) {
        X509_PUBKEY *pk = X509_get_X509_PUBKEY(old);
        pki_spki spki = {NULL, 0, NULL, 0};
        if (pk == NULL || !X509_PUBKEY_get0_param(NULL, &spki.bits, &spki.bits_len, NULL, pk) ||
            (spki.len = i2d_X509_PUBKEY(pk, &spki.der)) <= 0) {
            ERR_clear_error();
            pki_why(why, why_size, "certificate public key does not encode");
            rc = VOUCH_PKI_E_PARSE;
        } else {
            rc = issue_common(p, na, X509_get_subject_name(old), &spki, san, out, why,
                              why_size);
        }
        OPENSSL_free(spki.der);
    }
    GENERAL_NAMES_free(san);
    return rc;
}

vouch_pki_rc vouch_pki_renew(const vouch_pki_issue_params *p, X509 *old, X509 **out, char *why,
                             size_t why_size)
{
    vouch_pki_der d = {NULL, 0};

    if (out == NULL) {
        pki_why(why, why_size, "no output");
        return VOUCH_PKI_E_ARG;
    }
    *out = NULL;
    return der_to_x509(vouch_pki_renew_der(p, old, &d, why, why_size), &d, out);
}

/* ---- CSRs we make (a device's SE signs them) ------------------------------------ */

#define CSR_ATTRS_MAX 16
#define CSR_SANS_MAX 16
#define CSR_VALUE_MAX 256

/* "/K=V/K=V" (OpenSSL -subj form) into name. */
static int subject_parse(const char *s, X509_NAME *name, char *why, size_t why_size)
{
    char key[32], val[CSR_VALUE_MAX + 1];
    int attrs = 0;
    if (s == NULL || s[0] != '/') {
        pki_why(why, why_size, "subject must look like /O=Example/CN=dev-0001");
        return -1;
    }
    while (*s == '/') {
        size_t k = 0, v = 0;
        s++;
        while (*s && *s != '=' && *s != '/' && k < sizeof key - 1)
            key[k++] = *s++;
        key[k] = '\0';
        if (*s != '=' || k == 0) {
            pki_why(why, why_size, "subject attribute %d: expected KEY=VALUE", attrs + 1);
            return -1;
        }
        s++;
        while (*s && *s != '/') {
            if (*s == '\\' && s[1])
                s++;
            if (v == CSR_VALUE_MAX) {
                pki_why(why, why_size, "subject attribute %s: value over %d bytes", key,
                        CSR_VALUE_MAX);
                return -1;
            }
            val[v++] = *s++;
        }
        val[v] = '\0';
        if (v == 0) {
            pki_why(why, why_size, "subject attribute %s: empty value", key);
            return -1;
        }
        if (++attrs > CSR_ATTRS_MAX) {
            pki_why(why, why_size, "subject: more than %d attributes", CSR_ATTRS_MAX);
            return -1;
        }
        if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (const unsigned char *)val,
                                        -1, -1, 0)) {
            ERR_clear_error();
            pki_why(why, why_size, "subject attribute '%s' is unknown or its value is invalid",
                    key);
            return -1;
        }
    }
    if (*s || attrs == 0) {
        pki_why(why, why_size, "subject must look like /O=Example/CN=dev-0001");
        return -1;
    }
    return 0;
}

vouch_pki_rc vouch_pki_csr_build(const char *subject, const char *const *sans, size_t n,
                                 const vouch_pki_signer *signer, X509_REQ **out, char *why,
                                 size_t why_size)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *ext = NULL;
    char *conf = NULL;
    vouch_pki_rc rc = VOUCH_PKI_E_ARG;

    if (out == NULL || signer == NULL || (n && sans == NULL)) {
        pki_why(why, why_size, "missing argument");
        return VOUCH_PKI_E_ARG;
    }
    *out = NULL;
    if (n > CSR_SANS_MAX) {
        pki_why(why, why_size, "more than %d subject alternative names", CSR_SANS_MAX);
        return VOUCH_PKI_E_ARG;
    }
    req = X509_REQ_new();
    name = X509_NAME_new();
    if (req == NULL || name == NULL) {
        rc = VOUCH_PKI_E_NOMEM;
        goto out;
    }
    if (subject_parse(subject, name, why, why_size) != 0)
        goto out;
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, vouch_pki_signer_public(signer))) {
        rc = VOUCH_PKI_E_CRYPTO;
        goto out;
    }
    if (n) {
        size_t len = 1;
        for (size_t i = 0; i < n; i++) {
            size_t l = sans[i] ? strlen(sans[i]) : 0;
            if (l == 0 || l > CSR_VALUE_MAX || strchr(sans[i], ',') ||
                (strncmp(sans[i], "DNS:", 4) != 0 && strncmp(sans[i], "URI:", 4) != 0 &&
                 strncmp(sans[i], "IP:", 3) != 0 && strncmp(sans[i], "email:", 6) != 0)) {
                pki_why(why, why_size,
                        "subject alternative name %zu: expected DNS:name, URI:uri, IP:addr or "
                        "email:addr (no commas)", i + 1);
                goto out;
            }
            len += l + 1;
        }
        if ((conf = OPENSSL_zalloc(len)) == NULL) {
            rc = VOUCH_PKI_E_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(conf, ",");
            strcat(conf, sans[i]);
        }
        ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, conf);
        if (ext == NULL) {
            ERR_clear_error();
            pki_why(why, why_size, "the subject alternative names do not parse");
            goto out;
        }
        if ((exts = sk_X509_EXTENSION_new_null()) == NULL || !sk_X509_EXTENSION_push(exts, ext)) {
            rc = VOUCH_PKI_E_NOMEM;
            goto out;
        }
        ext = NULL; /* owned by exts */
        if (!X509_REQ_add_extensions(req, exts)) {
            rc = VOUCH_PKI_E_CRYPTO;
            goto out;
        }
    }
    rc = vouch_pki_sign_req(signer, req);
    if (rc != VOUCH_PKI_OK) {
        pki_why(why, why_size, "the signer failed");
        goto out;
    }
    *out = req;
    req = NULL;
out:
    ERR_clear_error();
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    OPENSSL_free(conf);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}
