/*
 * OCSP (RFC 6960): request parsing and issuer matching kept apart from
 * response building, so the server can look up status in between and
 * cache nonce-less responses as bytes. OpenSSL encodes and signs.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "pki/internal.h"

#define REQ_MAX (16 * 1024)

struct vouch_pki_ocsp_request {
    OCSP_REQUEST *req;
    size_t n;
    int has_nonce;
    size_t nonce_len;
    uint8_t nonce[VOUCH_PKI_OCSP_NONCE_MAX];
};

vouch_pki_rc vouch_pki_ocsp_issuer_init(vouch_pki_ocsp_issuer *iss, X509 *cert,
                                        const vouch_pki_signer *key, X509 *responder)
{
    unsigned int n1 = 0, n2 = 0, n3 = 0, n4 = 0;

    if (iss == NULL || cert == NULL || key == NULL)
        return VOUCH_PKI_E_ARG;
    memset(iss, 0, sizeof *iss);
    /* the same inputs OCSP_cert_id_new hashes: the DER issuer name and the
     * subjectPublicKey BIT STRING's value */
    if (!X509_NAME_digest(X509_get_subject_name(cert), EVP_sha1(), iss->name_sha1, &n1) ||
        !X509_pubkey_digest(cert, EVP_sha1(), iss->key_sha1, &n2) ||
        !X509_NAME_digest(X509_get_subject_name(cert), EVP_sha256(), iss->name_sha256, &n3) ||
        !X509_pubkey_digest(cert, EVP_sha256(), iss->key_sha256, &n4) || n1 != 20 || n2 != 20 ||
        n3 != 32 || n4 != 32)
        return VOUCH_PKI_E_CRYPTO;
    iss->cert = cert;
    iss->key = key;
    iss->responder = responder;
    return VOUCH_PKI_OK;
}

void vouch_pki_ocsp_request_free(vouch_pki_ocsp_request *r)
{
    if (r == NULL)
        return;
    OCSP_REQUEST_free(r->req);
    OPENSSL_free(r);
}

/* The nonce extension, if any: exactly one, an OCTET STRING (RFC 8954)
 * of 1..VOUCH_PKI_OCSP_NONCE_MAX octets. 0 ok. */
static int read_nonce(vouch_pki_ocsp_request *r)
{
    int idx = OCSP_REQUEST_get_ext_by_NID(r->req, NID_id_pkix_OCSP_Nonce, -1);
    const ASN1_OCTET_STRING *ev;
    ASN1_OCTET_STRING *inner = NULL;
    const unsigned char *p, *end;
    int ok = -1, len;

    if (idx < 0)
        return 0;
    if (OCSP_REQUEST_get_ext_by_NID(r->req, NID_id_pkix_OCSP_Nonce, idx) >= 0)
        return -1;
    ev = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(r->req, idx));
    p = ASN1_STRING_get0_data(ev);
    end = p + ASN1_STRING_length(ev);
    inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(ev));
    if (inner == NULL || p != end)
        goto exit;
    len = ASN1_STRING_length(inner);
    if (len < 1 || len > VOUCH_PKI_OCSP_NONCE_MAX)
        goto exit;
    memcpy(r->nonce, ASN1_STRING_get0_data(inner), (size_t)len);
    r->nonce_len = (size_t)len;
    r->has_nonce = 1;
    ok = 0;
exit:
    ASN1_OCTET_STRING_free(inner);
    return ok;
}

vouch_pki_rc vouch_pki_ocsp_request_parse(const uint8_t *der, size_t len,
                                          vouch_pki_ocsp_request **out)
{
    vouch_pki_ocsp_request *r = NULL;
    const unsigned char *p = der;
    vouch_pki_rc rc = VOUCH_PKI_E_PARSE;
    int n;

    if (out != NULL)
        *out = NULL;
    if (der == NULL || out == NULL || len == 0 || len > REQ_MAX)
        return VOUCH_PKI_E_ARG;
    r = OPENSSL_zalloc(sizeof *r);
    if (r == NULL)
        return VOUCH_PKI_E_NOMEM;
    r->req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    if (r->req == NULL || p != der + len)
        goto exit;
    n = OCSP_request_onereq_count(r->req);
    if (n < 1 || n > VOUCH_PKI_OCSP_IDS_MAX || read_nonce(r) != 0)
        goto exit;
    r->n = (size_t)n;
    *out = r;
    r = NULL;
    rc = VOUCH_PKI_OK;
exit:
    ERR_clear_error();
    vouch_pki_ocsp_request_free(r);
    return rc;
}

size_t vouch_pki_ocsp_request_count(const vouch_pki_ocsp_request *r)
{
    return r != NULL ? r->n : 0;
}

const OCSP_CERTID *vouch_pki_ocsp_request_id(const vouch_pki_ocsp_request *r, size_t i)
{
    if (r == NULL || i >= r->n)
        return NULL;
    return OCSP_onereq_get0_id(OCSP_request_onereq_get0(r->req, (int)i));
}

const uint8_t *vouch_pki_ocsp_request_nonce(const vouch_pki_ocsp_request *r, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (r == NULL || !r->has_nonce)
        return NULL;
    if (len != NULL)
        *len = r->nonce_len;
    return r->nonce;
}

/* Serial of a CertID as canonical bytes. */
static vouch_pki_rc id_serial(const ASN1_INTEGER *ai, uint8_t *serial, size_t *serial_len)
{
    BIGNUM *bn;
    int n;

    if (ai == NULL || ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER)
        return VOUCH_PKI_E_PARSE;
    bn = ASN1_INTEGER_to_BN(ai, NULL);
    if (bn == NULL)
        return VOUCH_PKI_E_PARSE;
    n = BN_num_bytes(bn);
    if (n > VOUCH_PKI_SERIAL_MAX) {
        BN_free(bn);
        return VOUCH_PKI_E_PARSE;
    }
    if (n == 0)
        serial[n++] = 0;
    else
        BN_bn2bin(bn, serial);
    *serial_len = (size_t)n;
    BN_free(bn);
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_ocsp_match(const OCSP_CERTID *id, const vouch_pki_ocsp_issuer *issuers,
                                  size_t n, size_t *index, uint8_t serial[VOUCH_PKI_SERIAL_MAX],
                                  size_t *serial_len)
{
    ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *sn = NULL;
    size_t i, hl;
    int nid;

    if (id == NULL || (n > 0 && issuers == NULL) || index == NULL || serial == NULL ||
        serial_len == NULL)
        return VOUCH_PKI_E_ARG;
    if (!OCSP_id_get0_info(&nh, &md, &kh, &sn, (OCSP_CERTID *)id))
        return VOUCH_PKI_E_PARSE;
    nid = OBJ_obj2nid(md);
    hl = nid == NID_sha1 ? 20 : nid == NID_sha256 ? 32 : 0;
    if (hl == 0 || (size_t)ASN1_STRING_length(nh) != hl || (size_t)ASN1_STRING_length(kh) != hl)
        return VOUCH_PKI_E_NOTFOUND;
    for (i = 0; i < n; i++) {
        const uint8_t *in = hl == 20 ? issuers[i].name_sha1 : issuers[i].name_sha256;
        const uint8_t *ik = hl == 20 ? issuers[i].key_sha1 : issuers[i].key_sha256;
        /* both hashes: two CAs may share a name across a rekey */
        if ((CRYPTO_memcmp(in, ASN1_STRING_get0_data(nh), hl) |
             CRYPTO_memcmp(ik, ASN1_STRING_get0_data(kh), hl)) == 0) {
            *index = i;
            return id_serial(sn, serial, serial_len);
        }
    }
    return VOUCH_PKI_E_NOTFOUND;
}

static int add_single(OCSP_BASICRESP *br, const vouch_pki_ocsp_single *a, ASN1_TIME *tu,
                      ASN1_TIME *nu)
{
    ASN1_TIME *rt = NULL;
    int status, reason = OCSP_REVOKED_STATUS_NOSTATUS, ok = 0;

    switch (a->state) {
    case VOUCH_PKI_CERT_GOOD: status = V_OCSP_CERTSTATUS_GOOD; break;
    case VOUCH_PKI_CERT_UNKNOWN: status = V_OCSP_CERTSTATUS_UNKNOWN; break;
    case VOUCH_PKI_CERT_REVOKED:
        status = V_OCSP_CERTSTATUS_REVOKED;
        if (a->reason < 0 || a->reason > 10 || a->reason == 7)
            return 0;
        /* like the CRL: "unspecified" is said by giving no reason */
        if (a->reason != VOUCH_PKI_REASON_UNSPECIFIED)
            reason = a->reason;
        rt = ASN1_TIME_set(NULL, a->revoked_at);
        if (rt == NULL)
            return 0;
        break;
    default: return 0;
    }
    /* add1_status copies the CertID and the times */
    ok = OCSP_basic_add1_status(br, (OCSP_CERTID *)a->id, status, reason, rt, tu, nu) != NULL;
    ASN1_TIME_free(rt);
    return ok;
}

/* DER of resp into an OPENSSL_malloc'd buffer. */
static vouch_pki_rc resp_der(OCSP_RESPONSE *resp, uint8_t **der, size_t *der_len)
{
    unsigned char *buf = NULL;
    int n = i2d_OCSP_RESPONSE(resp, &buf);

    if (n <= 0)
        return VOUCH_PKI_E_CRYPTO;
    *der = buf;
    *der_len = (size_t)n;
    return VOUCH_PKI_OK;
}

static vouch_pki_rc respond_args_ok(const vouch_pki_ocsp_issuer *iss,
                                    const vouch_pki_ocsp_single *answers, size_t n,
                                    time_t this_update, time_t next_update, const uint8_t *nonce,
                                    size_t nonce_len, uint8_t **der, size_t *der_len)
{
    size_t i;

    if (iss == NULL || iss->cert == NULL || iss->key == NULL || answers == NULL || n == 0 ||
        n > VOUCH_PKI_OCSP_IDS_MAX || der == NULL || der_len == NULL ||
        (next_update != 0 && next_update <= this_update) ||
        (nonce != NULL && (nonce_len == 0 || nonce_len > VOUCH_PKI_OCSP_NONCE_MAX)))
        return VOUCH_PKI_E_ARG;
    for (i = 0; i < n; i++)
        if (answers[i].id == NULL)
            return VOUCH_PKI_E_ARG;
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_ocsp_respond(const vouch_pki_ocsp_issuer *iss,
                                    const vouch_pki_ocsp_single *answers, size_t n,
                                    time_t this_update, time_t next_update, const uint8_t *nonce,
                                    size_t nonce_len, uint8_t **der, size_t *der_len)
{
    OCSP_BASICRESP *br = NULL;
    OCSP_RESPONSE *resp = NULL;
    ASN1_TIME *tu = NULL, *nu = NULL;
    size_t i;
    vouch_pki_rc rc;
    /* byKey is shorter than byName and survives a CA rename; with the CA
     * signing its own responses no certificate needs to travel */
    unsigned long flags = OCSP_RESPID_KEY | (iss != NULL && iss->responder ? 0 : OCSP_NOCERTS);

    if (der != NULL)
        *der = NULL;
    rc = respond_args_ok(iss, answers, n, this_update, next_update, nonce, nonce_len, der,
                         der_len);
    if (rc != VOUCH_PKI_OK)
        return rc;
    rc = VOUCH_PKI_E_NOMEM;
    br = OCSP_BASICRESP_new();
    tu = ASN1_TIME_set(NULL, this_update);
    nu = next_update != 0 ? ASN1_TIME_set(NULL, next_update) : NULL;
    if (br == NULL || tu == NULL || (next_update != 0 && nu == NULL))
        goto exit;
    rc = VOUCH_PKI_E_ARG;
    for (i = 0; i < n; i++)
        if (!add_single(br, &answers[i], tu, nu))
            goto exit;
    rc = VOUCH_PKI_E_CRYPTO;
    if (nonce != NULL &&
        OCSP_basic_add1_nonce(br, (unsigned char *)nonce, (int)nonce_len) != 1)
        goto exit;
    rc = vouch_pki_sign_ocsp(iss->key, br, iss->responder ? iss->responder : iss->cert, NULL,
                             flags);
    if (rc != VOUCH_PKI_OK)
        goto exit;
    rc = VOUCH_PKI_E_NOMEM;
    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, br);
    if (resp == NULL)
        goto exit;
    rc = resp_der(resp, der, der_len);
exit:
    ERR_clear_error();
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    OCSP_BASICRESP_free(br);
    OCSP_RESPONSE_free(resp);
    return rc;
}

vouch_pki_rc vouch_pki_ocsp_error(int status, uint8_t **der, size_t *der_len)
{
    OCSP_RESPONSE *resp;
    vouch_pki_rc rc;

    if (der != NULL)
        *der = NULL;
    if (der == NULL || der_len == NULL ||
        (status != OCSP_RESPONSE_STATUS_MALFORMEDREQUEST &&
         status != OCSP_RESPONSE_STATUS_INTERNALERROR && status != OCSP_RESPONSE_STATUS_TRYLATER &&
         status != OCSP_RESPONSE_STATUS_SIGREQUIRED && status != OCSP_RESPONSE_STATUS_UNAUTHORIZED))
        return VOUCH_PKI_E_ARG;
    resp = OCSP_response_create(status, NULL);
    if (resp == NULL)
        return VOUCH_PKI_E_NOMEM;
    rc = resp_der(resp, der, der_len);
    OCSP_RESPONSE_free(resp);
    return rc;
}
