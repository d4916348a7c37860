/*
 * CRLs (RFC 5280 section 5): a full v2 CRL per issuer, built with
 * OpenSSL's X509_CRL API in one pass.
 *
 * What a 100,000-entry CRL costs (bench/crl_bench.c, docs/perf.md) is
 * mostly memory traffic, and three things keep it down:
 *  - Entries are created in serial order. OpenSSL encodes a CRL twice: once
 *    inside X509_CRL_sign_ctx, once more in the caller's i2d_X509_CRL (it
 *    keeps an encoding only for objects made by d2i, never the one made
 *    while signing; a d2i round trip to get one costs more than the second
 *    encoding). Each encoding walks every entry in list order; when that
 *    order is the order the entries were allocated in, the walk is
 *    sequential, otherwise (entries created in any other order, then
 *    sorted) every entry is a cache miss and each encoding takes three to
 *    four times as long. So the input is sorted, cheaply, as an array of
 *    pointers first; the store lists entries by serial already, and input
 *    that is sorted is detected in one pass and left as it is.
 *  - The stack is then in order, so X509_CRL_sort only confirms it (and
 *    marks it sorted, so OpenSSL's lookups never reorder it lazily).
 *  - Per entry, the serial is set from its bytes (no BIGNUM), a revocation
 *    time equal to the previous one is not formatted again, and the
 *    reasonCode extension is made by X509_REVOKED_add1_ext_i2d, which
 *    pushes a new extension; X509_REVOKED_add_ext would copy a prepared
 *    one through an encode and a decode.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"

#define CRL_ENTRIES_MAX 10000000u /* a sanity bound, far above any fleet */

static int reason_ok(int r)
{
    /* 7 is unassigned; removeFromCRL belongs to delta CRLs only */
    return r >= 0 && r <= 10 && r != 7 && r != VOUCH_PKI_REASON_REMOVE_FROM_CRL;
}

/* The canonical magnitude of a serial: leading zero bytes dropped, at least
 * one byte kept (a zero serial is the one byte 00), as BN_to_ASN1_INTEGER
 * would make it. */
static const uint8_t *serial_canon(const vouch_pki_revoked *e, size_t *len)
{
    size_t skip = 0;

    while (skip + 1 < e->serial_len && e->serial[skip] == 0)
        skip++;
    *len = e->serial_len - skip;
    return e->serial + skip;
}

/* OpenSSL's order for CRL entries (X509_REVOKED_cmp: ASN1_STRING_cmp on
 * the serial, i.e. length first, then the bytes), which for canonical
 * positive integers is numeric order. */
static int serial_cmp(const vouch_pki_revoked *a, const vouch_pki_revoked *b)
{
    size_t la, lb;
    const uint8_t *pa = serial_canon(a, &la), *pb = serial_canon(b, &lb);

    if (la != lb)
        return la < lb ? -1 : 1;
    return memcmp(pa, pb, la);
}

static int serial_qsort_cmp(const void *a, const void *b)
{
    return serial_cmp(*(const vouch_pki_revoked *const *)a, *(const vouch_pki_revoked *const *)b);
}

/* The entries in serial order, as pointers into revoked. NULL if out of
 * memory. Free with free(). */
static const vouch_pki_revoked **sorted_entries(const vouch_pki_revoked *revoked, size_t n)
{
    const vouch_pki_revoked **v = malloc((n > 0 ? n : 1) * sizeof *v);
    size_t i;
    int sorted = 1;

    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        v[i] = &revoked[i];
        if (i > 0 && sorted && serial_cmp(v[i - 1], v[i]) > 0)
            sorted = 0;
    }
    if (!sorted)
        qsort(v, n, sizeof *v, serial_qsort_cmp);
    return v;
}

/* Scratch objects shared by every entry of one CRL. */
typedef struct {
    ASN1_INTEGER *sn;
    ASN1_TIME *tm;
    time_t tm_value; /* what tm holds, valid when tm_set */
    int tm_set;
    ASN1_ENUMERATED *reason;
} entry_scratch;

/* One entry; reasonCode only when it says something (RFC 5280 5.3.1). */
static int add_entry(X509_CRL *crl, const vouch_pki_revoked *e, entry_scratch *sc)
{
    X509_REVOKED *r = X509_REVOKED_new();
    size_t len;
    const uint8_t *sn = serial_canon(e, &len);
    int ok = 0;

    if (r == NULL || !ASN1_STRING_set(sc->sn, sn, (int)len) ||
        !X509_REVOKED_set_serialNumber(r, sc->sn))
        goto exit;
    if (!sc->tm_set || sc->tm_value != e->revoked_at) {
        sc->tm_set = 0;
        if (ASN1_TIME_set(sc->tm, e->revoked_at) == NULL)
            goto exit;
        sc->tm_value = e->revoked_at;
        sc->tm_set = 1;
    }
    if (!X509_REVOKED_set_revocationDate(r, sc->tm))
        goto exit;
    if (e->reason != VOUCH_PKI_REASON_UNSPECIFIED &&
        (!ASN1_ENUMERATED_set(sc->reason, e->reason) ||
         X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, sc->reason, 0, 0) != 1))
        goto exit;
    if (!X509_CRL_add0_revoked(crl, r))
        goto exit;
    r = NULL; /* owned by the CRL now */
    ok = 1;
exit:
    X509_REVOKED_free(r);
    return ok;
}

static int add_entries(X509_CRL *crl, const vouch_pki_revoked *revoked, size_t n)
{
    const vouch_pki_revoked **order = NULL;
    entry_scratch sc = {.sn = ASN1_INTEGER_new(), .tm = ASN1_TIME_new(),
                        .reason = ASN1_ENUMERATED_new()};
    size_t i;
    int ok = sc.sn != NULL && sc.tm != NULL && sc.reason != NULL &&
             (order = sorted_entries(revoked, n)) != NULL;

    for (i = 0; ok && i < n; i++)
        ok = add_entry(crl, order[i], &sc);
    free(order);
    ASN1_INTEGER_free(sc.sn);
    ASN1_TIME_free(sc.tm);
    ASN1_ENUMERATED_free(sc.reason);
    return ok;
}

/* cRLNumber and AKI(keyid) */
static int crl_extensions(X509_CRL *crl, X509 *issuer, uint64_t number)
{
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    X509V3_CTX ctx;
    X509_EXTENSION *aki = NULL;
    int ok = 0;

    if (num == NULL || !ASN1_INTEGER_set_uint64(num, number) ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
        goto exit;
    X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
    aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (aki == NULL || !X509_CRL_add_ext(crl, aki, -1))
        goto exit;
    ok = 1;
exit:
    ASN1_INTEGER_free(num);
    X509_EXTENSION_free(aki);
    return ok;
}

static vouch_pki_rc crl_args_ok(X509 *issuer, const vouch_pki_signer *key,
                                const vouch_pki_revoked *revoked, size_t n, time_t this_update,
                                time_t next_update)
{
    size_t i;

    if (issuer == NULL || key == NULL || (n > 0 && revoked == NULL) || n > CRL_ENTRIES_MAX ||
        next_update <= this_update)
        return VOUCH_PKI_E_ARG;
    for (i = 0; i < n; i++)
        if (revoked[i].serial_len == 0 || revoked[i].serial_len > VOUCH_PKI_SERIAL_MAX ||
            !reason_ok(revoked[i].reason))
            return VOUCH_PKI_E_ARG;
    if (EVP_PKEY_eq(X509_get0_pubkey(issuer), vouch_pki_signer_public(key)) != 1) {
        ERR_clear_error();
        return VOUCH_PKI_E_ARG;
    }
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_crl_build(X509 *issuer, const vouch_pki_signer *key,
                                 const vouch_pki_revoked *revoked, size_t n, uint64_t crl_number,
                                 time_t this_update, time_t next_update, X509_CRL **out)
{
    X509_CRL *crl = NULL;
    ASN1_TIME *tu = NULL, *nu = NULL;
    vouch_pki_rc rc;

    if (out == NULL)
        return VOUCH_PKI_E_ARG;
    *out = NULL;
    rc = crl_args_ok(issuer, key, revoked, n, this_update, next_update);
    if (rc != VOUCH_PKI_OK)
        return rc;
    rc = VOUCH_PKI_E_NOMEM;
    crl = X509_CRL_new();
    tu = ASN1_TIME_set(NULL, this_update);
    nu = ASN1_TIME_set(NULL, next_update);
    if (crl == NULL || tu == NULL || nu == NULL)
        goto exit;
    rc = VOUCH_PKI_E_CRYPTO;
    if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
        !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu) ||
        !add_entries(crl, revoked, n) || !crl_extensions(crl, issuer, crl_number))
        goto exit;
    /* The entries are in order already (add_entries); this marks the stack
     * sorted. Without it OpenSSL would sort lazily on the first lookup, and
     * since the signed encoding is not cached, an i2d after a sort that
     * moved anything would no longer match the signature. */
    if (!X509_CRL_sort(crl))
        goto exit;
    rc = vouch_pki_sign_crl(key, crl);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    *out = crl;
    crl = NULL;
exit:
    ERR_clear_error();
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_CRL_free(crl);
    return rc;
}
