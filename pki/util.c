/*
 * Status strings, serial numbers (hex as `openssl x509 -serial` prints
 * them), RFC 5280 reason names, and small helpers for the other files.
 */
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"

const char *vouch_pki_strerror(vouch_pki_rc rc)
{
    switch (rc) {
    case VOUCH_PKI_OK: return "ok";
    case VOUCH_PKI_E_ARG: return "bad argument";
    case VOUCH_PKI_E_NOMEM: return "out of memory";
    case VOUCH_PKI_E_CRYPTO: return "cryptographic library error";
    case VOUCH_PKI_E_PARSE: return "malformed input";
    case VOUCH_PKI_E_SIGNATURE: return "signature does not verify";
    case VOUCH_PKI_E_POLICY: return "refused by policy";
    case VOUCH_PKI_E_NOTFOUND: return "not found";
    case VOUCH_PKI_E_DECRYPT: return "cannot decrypt (wrong passphrase or not encrypted)";
    case VOUCH_PKI_E_SIGNER: return "external signer failed";
    }
    return "unknown status";
}

void pki_why(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || why_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

/* ---- serials -------------------------------------------------------------- */

vouch_pki_rc vouch_pki_serial_random(uint8_t out[VOUCH_PKI_SERIAL_LEN])
{
    if (out == NULL)
        return VOUCH_PKI_E_ARG;
    do {
        if (RAND_bytes(out, VOUCH_PKI_SERIAL_LEN) != 1)
            return VOUCH_PKI_E_CRYPTO;
        /* positive INTEGER: a set top bit would need a 0x00 pad byte and
         * make a 17-byte serial; RFC 5280 wants positive serials */
        out[0] &= 0x7f;
    } while (out[0] == 0); /* keep the length fixed at 16 bytes */
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_serial_to_hex(const uint8_t *serial, size_t len, char *out,
                                     size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0, o = 0;

    if (serial == NULL || out == NULL || len == 0 || len > VOUCH_PKI_SERIAL_MAX)
        return VOUCH_PKI_E_ARG;
    /* openssl prints the INTEGER's content octets, which never start with
     * a redundant zero byte */
    while (i + 1 < len && serial[i] == 0)
        i++;
    if (out_size < 2 * (len - i) + 1)
        return VOUCH_PKI_E_ARG;
    for (; i < len; i++) {
        out[o++] = hex[serial[i] >> 4];
        out[o++] = hex[serial[i] & 15];
    }
    out[o] = '\0';
    return VOUCH_PKI_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

vouch_pki_rc vouch_pki_serial_from_hex(const char *hex, uint8_t *out, size_t out_size,
                                       size_t *out_len)
{
    uint8_t buf[VOUCH_PKI_SERIAL_MAX * 2 + 2];
    size_t nd = 0, i, skip = 0, n;
    char digits[VOUCH_PKI_SERIAL_MAX * 4 + 2];

    if (hex == NULL || out == NULL || out_len == NULL)
        return VOUCH_PKI_E_ARG;
    *out_len = 0;
    /* collect digits, dropping colons; bound the work on long input */
    for (i = 0; hex[i] != '\0'; i++) {
        if (hex[i] == ':')
            continue;
        if (hexval((unsigned char)hex[i]) < 0 || nd >= sizeof digits - 1)
            return VOUCH_PKI_E_PARSE;
        digits[nd++] = hex[i];
    }
    if (nd == 0)
        return VOUCH_PKI_E_PARSE;
    n = (nd + 1) / 2;
    /* odd length: the first byte has one digit */
    i = 0;
    if (nd & 1)
        buf[0] = (uint8_t)hexval((unsigned char)digits[0]);
    for (i = nd & 1; i < nd; i += 2)
        buf[(i + 1) / 2] = (uint8_t)(hexval((unsigned char)digits[i]) << 4 |
                                     hexval((unsigned char)digits[i + 1]));
    while (skip + 1 < n && buf[skip] == 0)
        skip++;
    if (n - skip > VOUCH_PKI_SERIAL_MAX || n - skip > out_size)
        return VOUCH_PKI_E_PARSE;
    memcpy(out, buf + skip, n - skip);
    *out_len = n - skip;
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_cert_serial(const X509 *cert, uint8_t out[VOUCH_PKI_SERIAL_MAX],
                                   size_t *out_len)
{
    const ASN1_INTEGER *ai;
    BIGNUM *bn = NULL;
    vouch_pki_rc rc = VOUCH_PKI_E_POLICY;
    int n;

    if (cert == NULL || out == NULL || out_len == NULL)
        return VOUCH_PKI_E_ARG;
    *out_len = 0;
    ai = X509_get0_serialNumber(cert);
    if (ai == NULL || ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER)
        goto exit;
    bn = ASN1_INTEGER_to_BN(ai, NULL);
    if (bn == NULL) {
        rc = VOUCH_PKI_E_NOMEM;
        goto exit;
    }
    n = BN_num_bytes(bn);
    if (n > VOUCH_PKI_SERIAL_MAX)
        goto exit;
    if (n == 0) {
        out[0] = 0;
        n = 1;
    } else {
        BN_bn2bin(bn, out);
    }
    *out_len = (size_t)n;
    rc = VOUCH_PKI_OK;
exit:
    BN_free(bn);
    return rc;
}

ASN1_INTEGER *pki_serial_asn1(const uint8_t *serial, size_t len)
{
    BIGNUM *bn;
    ASN1_INTEGER *ai;

    if (serial == NULL || len == 0 || len > VOUCH_PKI_SERIAL_MAX)
        return NULL;
    bn = BN_bin2bn(serial, (int)len, NULL);
    if (bn == NULL)
        return NULL;
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return ai;
}

/* ---- reasons ---------------------------------------------------------------- */

static const struct {
    int code;
    const char *camel, *kebab;
} reasons[] = {
    {0, "unspecified", "unspecified"},
    {1, "keyCompromise", "key-compromise"},
    {2, "cACompromise", "ca-compromise"},
    {3, "affiliationChanged", "affiliation-changed"},
    {4, "superseded", "superseded"},
    {5, "cessationOfOperation", "cessation-of-operation"},
    {6, "certificateHold", "certificate-hold"},
    {8, "removeFromCRL", "remove-from-crl"},
    {9, "privilegeWithdrawn", "privilege-withdrawn"},
    {10, "aACompromise", "aa-compromise"},
};

vouch_pki_rc vouch_pki_reason_parse(const char *name, int *code)
{
    char norm[32];
    size_t i, n = 0;

    if (name == NULL || code == NULL)
        return VOUCH_PKI_E_ARG;
    /* Compare with separators removed and case folded: "key-compromise",
     * "KEY_COMPROMISE" and "keyCompromise" all become "keycompromise". A
     * separator must sit between letters, so "-" or "key--compromise"
     * does not sneak through. */
    for (i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        if (c == '-' || c == '_') {
            if (i == 0 || name[i + 1] == '\0' || name[i + 1] == '-' || name[i + 1] == '_')
                return VOUCH_PKI_E_PARSE;
            continue;
        }
        if (!isalpha((unsigned char)c) || n + 1 >= sizeof norm)
            return VOUCH_PKI_E_PARSE;
        norm[n++] = (char)tolower((unsigned char)c);
    }
    norm[n] = '\0';
    for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (strcasecmp(norm, reasons[i].camel) == 0) {
            *code = reasons[i].code;
            return VOUCH_PKI_OK;
        }
    }
    return VOUCH_PKI_E_PARSE;
}

const char *vouch_pki_reason_name(int code)
{
    size_t i;
    for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == code)
            return reasons[i].camel;
    return NULL;
}

const char *vouch_pki_reason_kebab(int code)
{
    size_t i;
    for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == code)
            return reasons[i].kebab;
    return NULL;
}

/* ---- names and URLs ----------------------------------------------------------- */

int pki_name_ok(const char *name)
{
    size_t i;
    if (name == NULL || name[0] == '\0')
        return 0;
    for (i = 0; name[i] != '\0'; i++) {
        unsigned char c = (unsigned char)name[i];
        if (i >= 64 || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    /* "." and ".." would make odd URLs */
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int pki_url_ok(const char *url)
{
    size_t i, n;
    if (url == NULL)
        return 0;
    n = strlen(url);
    if (n > 512 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        /* ',' would split the config-style value handed to X509V3 */
        if (c <= ' ' || c >= 0x7f || c == ',' || c == '"' || c == '\\')
            return 0;
    }
    return url[n - 1] != '/' || n > 8;
}

int pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A GENERAL_NAME of type URI: base (without trailing '/', blen bytes),
 * then path, then name (may be ""), then suffix. */
static GENERAL_NAME *uri_name(const char *base, size_t blen, const char *path, const char *name,
                              const char *suffix)
{
    char v[1400];
    int w = snprintf(v, sizeof v, "%.*s%s%s%s", (int)blen, base, path, name, suffix);
    if (w < 0 || (size_t)w >= sizeof v)
        return NULL;
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (g == NULL || s == NULL || !ASN1_STRING_set(s, v, w)) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(s);
        return NULL;
    }
    GENERAL_NAME_set0_value(g, GEN_URI, s);
    return g;
}

/* Built from the extension structures, not from configuration strings:
 * X509V3_EXT_conf_nid parses the strings back into the same structures
 * and cost about 4 % of an issuance. The encoding is the same. */
int pki_add_urls(STACK_OF(X509_EXTENSION) **exts, const char *public_url,
                 const char *issuer_name)
{
    size_t n = strlen(public_url);
    int ok = 0;
    CRL_DIST_POINTS *dps = NULL;
    DIST_POINT *dp = NULL;
    AUTHORITY_INFO_ACCESS *aia = NULL;
    ACCESS_DESCRIPTION *ad = NULL;
    GENERAL_NAME *g = NULL;

    /* "http://x/" + "/crl" would give "//crl" */
    while (n > 0 && public_url[n - 1] == '/')
        n--;
    if ((dps = sk_DIST_POINT_new_null()) == NULL || (dp = DIST_POINT_new()) == NULL ||
        (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
        (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL)
        goto out;
    dp->distpoint->type = 0;
    if ((g = uri_name(public_url, n, "/crl/", issuer_name, ".crl")) == NULL ||
        !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g))
        goto out;
    g = NULL;
    if (!sk_DIST_POINT_push(dps, dp))
        goto out;
    dp = NULL;
    if (X509V3_add1_i2d(exts, NID_crl_distribution_points, dps, 0, X509V3_ADD_DEFAULT) != 1)
        goto out;

    if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL)
        goto out;
    for (int i = 0; i < 2; i++) {
        if ((ad = ACCESS_DESCRIPTION_new()) == NULL)
            goto out;
        ASN1_OBJECT_free(ad->method);
        ad->method = OBJ_nid2obj(i == 0 ? NID_ad_OCSP : NID_ad_ca_issuers);
        GENERAL_NAME_free(ad->location);
        ad->location = i == 0 ? uri_name(public_url, n, "/ocsp", "", "")
                              : uri_name(public_url, n, "/ca/", issuer_name, ".crt");
        if (ad->location == NULL || !sk_ACCESS_DESCRIPTION_push(aia, ad))
            goto out;
        ad = NULL;
    }
    ok = X509V3_add1_i2d(exts, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) == 1;
out:
    GENERAL_NAME_free(g);
    DIST_POINT_free(dp);
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    ACCESS_DESCRIPTION_free(ad);
    sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
    return ok;
}

/* ---- per-thread objects ------------------------------------------------------------ */

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;

static int tls_ready(pki_tls *t)
{
    int st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
    if (st == 0) {
        pthread_mutex_lock(&tls_mu);
        if ((st = t->state) == 0) {
            st = pthread_key_create(&t->key, t->destroy) == 0 ? 1 : -1;
            __atomic_store_n(&t->state, st, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&tls_mu);
    }
    return st == 1;
}

void *pki_tls_get(pki_tls *t, size_t size)
{
    void *p;
    if (!tls_ready(t))
        return NULL;
    if ((p = pthread_getspecific(t->key)) == NULL) {
        if ((p = calloc(1, size)) == NULL)
            return NULL;
        if (pthread_setspecific(t->key, p) != 0) {
            free(p);
            return NULL;
        }
    }
    return p;
}

void pki_tls_release(pki_tls *t)
{
    void *p;
    if (!tls_ready(t) || (p = pthread_getspecific(t->key)) == NULL)
        return;
    pthread_setspecific(t->key, NULL);
    t->destroy(p);
}
