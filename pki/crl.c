/*
 * CRLs (RFC 5280 section 5): a full v2 CRL per issuer. Built with
 * OpenSSL's X509_CRL API in one pass; 100,000 entries take well under a
 * second (tests/unit/test_pki.c prints the time).
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"

#define CRL_ENTRIES_MAX 10000000u /* a sanity bound, far above any fleet */

static int reason_ok(int r)
{
    /* 7 is unassigned; removeFromCRL belongs to delta CRLs only */
    return r >= 0 && r <= 10 && r != 7 && r != VOUCH_PKI_REASON_REMOVE_FROM_CRL;
}

/* One entry; reasonCode only when it says something (RFC 5280 5.3.1).
 * reasons[r] is the ready-made extension for reason r: building it once
 * per CRL instead of once per entry saves an encode per entry. */
static int add_entry(X509_CRL *crl, const vouch_pki_revoked *e, ASN1_TIME *tm,
                     X509_EXTENSION *const *reasons)
{
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *sn = pki_serial_asn1(e->serial, e->serial_len);
    int ok = 0;

    if (r == NULL || sn == NULL || ASN1_TIME_set(tm, e->revoked_at) == NULL ||
        !X509_REVOKED_set_serialNumber(r, sn) || !X509_REVOKED_set_revocationDate(r, tm))
        goto exit;
    if (e->reason != VOUCH_PKI_REASON_UNSPECIFIED && !X509_REVOKED_add_ext(r, reasons[e->reason], -1))
        goto exit;
    if (!X509_CRL_add0_revoked(crl, r))
        goto exit;
    r = NULL; /* owned by the CRL now */
    ok = 1;
exit:
    ASN1_INTEGER_free(sn);
    X509_REVOKED_free(r);
    return ok;
}

static int add_entries(X509_CRL *crl, const vouch_pki_revoked *revoked, size_t n)
{
    X509_EXTENSION *reasons[11] = {NULL};
    ASN1_TIME *tm = ASN1_TIME_new();
    ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
    size_t i;
    int ok = tm != NULL && e != NULL;

    for (i = 1; ok && i < 11; i++)
        ok = ASN1_ENUMERATED_set(e, (long)i) &&
             (reasons[i] = X509V3_EXT_i2d(NID_crl_reason, 0, e)) != NULL;
    for (i = 0; ok && i < n; i++)
        ok = add_entry(crl, &revoked[i], tm, reasons);
    for (i = 0; i < 11; i++)
        X509_EXTENSION_free(reasons[i]);
    ASN1_TIME_free(tm);
    ASN1_ENUMERATED_free(e);
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
    /* Sort by serial before signing: OpenSSL sorts the entries lazily on
     * its first lookup, and since the signed encoding is not cached, a
     * later i2d after that sort would no longer match the signature. */
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
