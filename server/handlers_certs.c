/*
 * POST /v1/certificates: issue a certificate from a PKCS#10 CSR under a
 * stored template. GET /v1/certificates/<issuer>/<serial-hex>: one issued
 * certificate, as JSON, PEM or DER. docs/api.md is the contract.
 *
 * Issuer keys: decrypted with the data directory's CA key passphrase on
 * first use and kept, as signers, in the worker's own cache (no locking:
 * a worker only touches its own). vouchd_certs_worker_free frees them at
 * shutdown (OpenSSL clears private scalars when it frees a key). Issuers
 * are never changed once stored, so a cached entry never goes stale.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "server/http.h"

#define CACHE_MAX 16
#define CHAIN_MAX 8
#define TEMPLATE_NAME_MAX 128
#define BACKDATE_S 60 /* not_before this far in the past: clients' clocks drift */

typedef struct signer_entry {
    char name[65];
    int64_t id;
    vouch_pki_signer *signer;
    X509 *cert;
    time_t not_after;
    json_t *chain; /* [issuer PEM, its parent's PEM, ..., root PEM] */
} signer_entry;

struct vouchd_signer_cache {
    size_t n;
    signer_entry e[CACHE_MAX];
};

static void entry_free(signer_entry *e)
{
    vouch_pki_signer_free(e->signer);
    X509_free(e->cert);
    json_decref(e->chain);
    memset(e, 0, sizeof *e);
}

void vouchd_certs_worker_free(vouchd_worker *w)
{
    if (!w || !w->signers)
        return;
    for (size_t i = 0; i < w->signers->n; i++)
        entry_free(&w->signers->e[i]);
    free(w->signers);
    w->signers = NULL;
}

static X509 *der_cert(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (!c || p != der + len) {
        X509_free(c);
        ERR_clear_error();
        return NULL;
    }
    return c;
}

static int asn1_time_t(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* The issuer's chain as PEM strings, starting with the issuer itself. */
static json_t *chain_json(vouchd_worker *w, const vouch_store_issuer *is, X509 *cert)
{
    json_t *arr = json_array();
    char err[256] = "";
    int64_t parent = is->parent_id;
    if (!arr || json_array_append_new(arr, vouchd_pem_json(cert)) != 0)
        goto bad;
    for (int depth = 0; parent && depth < CHAIN_MAX; depth++) {
        vouch_store_issuer p;
        memset(&p, 0, sizeof p);
        vouch_store_rc rc = vouch_store_issuer_get_by_id(w->store, parent, &p, err, sizeof err);
        if (rc != VOUCH_STORE_OK) {
            vouchd_log("issuer %lld: %s", (long long)parent, *err ? err : vouch_store_strerror(rc));
            goto bad;
        }
        X509 *c = der_cert(p.cert_der, p.cert_der_len);
        json_t *pem = c ? vouchd_pem_json(c) : NULL;
        X509_free(c);
        parent = p.parent_id;
        vouch_store_issuer_clear(&p);
        if (!pem || json_array_append_new(arr, pem) != 0)
            goto bad;
    }
    return arr;
bad:
    json_decref(arr);
    return NULL;
}

/* The issuer named `name` with its decrypted key, from the cache or loaded
 * into it. NULL when the answer (404, 4xx, 5xx) has been sent. */
static signer_entry *issuer_signer(struct evhttp_request *req, vouchd_worker *w,
                                   const char *name)
{
    struct vouchd_signer_cache *c = w->signers;
    vouch_store_issuer is;
    signer_entry e;
    EVP_PKEY *key = NULL;
    char err[256] = "";

    if (!vouchd_name_ok(name)) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER,
                          "no such issuer (names are 1 to 64 of A-Z a-z 0-9 . _ -)");
        return NULL;
    }
    if (!c) {
        c = w->signers = calloc(1, sizeof *c);
        if (!c) {
            vouchd_send_json(req, 500, NULL);
            return NULL;
        }
    }
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0)
            return &c->e[i];

    memset(&is, 0, sizeof is);
    memset(&e, 0, sizeof e);
    vouch_store_rc rc = vouch_store_issuer_get_by_name(w->store, name, &is, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no issuer named '%s'", name);
        return NULL;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading an issuer", err);
        return NULL;
    }
    if (is.kind == VOUCH_ISSUER_ROOT) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "issuer '%s' is a root CA; certificates are issued by an issuing "
                          "CA such as 'default'", name);
        goto fail;
    }
    if (!is.key_pem) {
        vouchd_send_error(req, 501, VOUCHD_E_NOT_IMPLEMENTED,
                          "issuer '%s' keeps its key outside the database; this server "
                          "cannot use such keys yet", name);
        goto fail;
    }
    snprintf(e.name, sizeof e.name, "%s", name);
    e.id = is.id;
    e.cert = der_cert(is.cert_der, is.cert_der_len);
    if (!e.cert || asn1_time_t(X509_get0_notAfter(e.cert), &e.not_after) != 0) {
        vouchd_log("issuer '%s': its certificate does not parse", name);
        goto internal;
    }
    vouch_pki_rc prc = vouch_pki_key_decrypt(is.key_pem, strlen(is.key_pem),
                                             (const uint8_t *)w->cfg->ca_pass,
                                             strlen(w->cfg->ca_pass), &key);
    if (prc != VOUCH_PKI_OK) {
        ERR_clear_error();
        vouchd_log("issuer '%s': its key does not load: %s%s", name, vouch_pki_strerror(prc),
                   prc == VOUCH_PKI_E_DECRYPT ? " (wrong master.key?)" : "");
        goto internal;
    }
    prc = vouch_pki_signer_from_key(key, &e.signer);
    vouch_pki_key_free(key);
    if (prc != VOUCH_PKI_OK) {
        vouchd_log("issuer '%s': cannot make a signer: %s", name, vouch_pki_strerror(prc));
        goto internal;
    }
    if (!(e.chain = chain_json(w, &is, e.cert))) {
        vouchd_log("issuer '%s': cannot build its chain", name);
        goto internal;
    }
    vouch_store_issuer_clear(&is);
    if (c->n == CACHE_MAX) /* full: the last slot is reused */
        entry_free(&c->e[--c->n]);
    c->e[c->n] = e;
    return &c->e[c->n++];
internal:
    vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot use issuer '%s' (see the server log)",
                      name);
fail:
    entry_free(&e);
    vouch_store_issuer_clear(&is);
    return NULL;
}

/* The CSR subject's first CN as UTF-8 (malloc'd), or NULL. */
static char *common_name(X509 *cert)
{
    X509_NAME *n = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *u = NULL;
    char *out = NULL;
    if (i < 0)
        return NULL;
    int len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    if (len >= 0 && u && (out = malloc((size_t)len + 1))) {
        memcpy(out, u, (size_t)len);
        out[len] = '\0';
    }
    OPENSSL_free(u);
    return out;
}

/* ---- POST /v1/certificates ------------------------------------------------------- */

void vouchd_h_certs_issue(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, const char *rest)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    const char *body = blen ? (const char *)evbuffer_pullup(in, -1) : "";
    json_error_t jerr;
    json_t *j = NULL, *resp = NULL;
    const char *k, *csr_pem, *tpl_name, *iss_name = "default";
    json_t *v;
    vouch_store_template st;
    vouch_pki_template tpl;
    X509_REQ *csr = NULL;
    X509 *cert = NULL;
    char why[512] = "", err[256] = "", serhex[VOUCH_PKI_SERIAL_HEX_MAX];
    char *subject = NULL, *cn = NULL;
    uint8_t *der = NULL;
    memset(&st, 0, sizeof st);

    j = json_loadb(body ? body : "", body ? blen : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the body must be a JSON object {\"csr\", \"template\", \"issuer\"}%s%s",
                          j ? "" : ": ", j ? "" : jerr.text);
        goto out;
    }
    json_object_foreach(j, k, v) {
        if (strcmp(k, "csr") != 0 && strcmp(k, "template") != 0 && strcmp(k, "issuer") != 0) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "unknown member '%.64s' (expected csr, template, issuer)", k);
            goto out;
        }
    }
    csr_pem = json_string_value(json_object_get(j, "csr"));
    tpl_name = json_string_value(json_object_get(j, "template"));
    if (!csr_pem || !*csr_pem) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "member 'csr' (a PEM certificate request, string) is missing");
        goto out;
    }
    if (!tpl_name || !*tpl_name) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "member 'template' (a template name, string) is missing");
        goto out;
    }
    if ((v = json_object_get(j, "issuer")) != NULL) {
        if (!json_is_string(v)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "member 'issuer' must be a string (an issuer name)");
            goto out;
        }
        iss_name = json_string_value(v);
    }

    /* the template */
    vouch_store_rc rc = strlen(tpl_name) > TEMPLATE_NAME_MAX
                            ? VOUCH_STORE_E_NOT_FOUND
                            : vouch_store_template_get(w->store, tpl_name, &st, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_TEMPLATE, "no template named '%.128s'",
                          tpl_name);
        goto out;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading a template", err);
        goto out;
    }
    if (vouch_pki_template_from_json(st.body, strlen(st.body), &tpl, why, sizeof why) !=
        VOUCH_PKI_OK) {
        vouchd_log("template '%s' is not usable: %s", tpl_name, why);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL,
                          "template '%.128s' is not usable (see the server log)", tpl_name);
        goto out;
    }

    /* the issuer and its key */
    signer_entry *iss = issuer_signer(req, w, iss_name);
    if (!iss)
        goto out;

    /* the CSR */
    if (vouch_pki_csr_parse((const uint8_t *)csr_pem, strlen(csr_pem), &csr) != VOUCH_PKI_OK) {
        ERR_clear_error();
        vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR,
                          "member 'csr' is not a PEM PKCS#10 certificate request");
        goto out;
    }

    time_t now = time(NULL);
    vouch_pki_issue_params p = {.tpl = &tpl, .issuer_cert = iss->cert,
                                .issuer_key = iss->signer, .issuer_name = iss->name,
                                .public_url = w->cfg->public_url,
                                .not_before = now - BACKDATE_S};
    /* the template's validity, cut at the issuer's own end */
    p.not_after = p.not_before + (time_t)tpl.validity_days * 86400;
    if (p.not_after > iss->not_after)
        p.not_after = iss->not_after;
    if (p.not_after <= p.not_before) {
        vouchd_send_error(req, 422, VOUCHD_E_TEMPLATE, "issuer '%s' has expired", iss->name);
        goto out;
    }

    for (int attempt = 0;; attempt++) {
        uint8_t serial[VOUCH_PKI_SERIAL_LEN];
        vouch_pki_rc prc = vouch_pki_serial_random(serial);
        if (prc == VOUCH_PKI_OK) {
            p.serial = serial;
            p.serial_len = sizeof serial;
            why[0] = '\0';
            prc = vouch_pki_issue(&p, csr, &cert, why, sizeof why);
        }
        if (prc == VOUCH_PKI_E_SIGNATURE) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR_SIG,
                              "the CSR's signature does not verify%s%s", *why ? ": " : "", why);
            goto out;
        }
        if (prc == VOUCH_PKI_E_POLICY) {
            vouchd_send_error(req, 422, VOUCHD_E_TEMPLATE, "%s",
                              *why ? why : "the CSR breaks a template rule");
            goto out;
        }
        if (prc == VOUCH_PKI_E_PARSE) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR, "the CSR is malformed%s%s",
                              *why ? ": " : "", why);
            goto out;
        }
        if (prc != VOUCH_PKI_OK) {
            vouchd_log("issuing from '%s': %s%s%s", iss->name, vouch_pki_strerror(prc),
                       *why ? ": " : "", why);
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "issuance failed (see the server log)");
            goto out;
        }

        vouch_store_cert sc;
        memset(&sc, 0, sizeof sc);
        json_t *sj = vouchd_subject_json(cert);
        free(subject);
        subject = sj ? strdup(json_string_value(sj)) : NULL;
        json_decref(sj);
        free(cn);
        cn = common_name(cert);
        OPENSSL_free(der);
        der = NULL;
        int dl = i2d_X509(cert, &der);
        time_t nb = 0, na = 0;
        if (!subject || dl <= 0 || asn1_time_t(X509_get0_notBefore(cert), &nb) != 0 ||
            asn1_time_t(X509_get0_notAfter(cert), &na) != 0) {
            vouchd_log("issued certificate: cannot encode it, or out of memory");
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "issuance failed (see the server log)");
            goto out;
        }
        sc.issuer_id = iss->id;
        memcpy(sc.serial, serial, sizeof serial);
        sc.serial_len = sizeof serial;
        sc.subject = subject;
        sc.device_id = cn;
        sc.template_name = (char *)tpl_name;
        sc.not_before = nb;
        sc.not_after = na;
        sc.issued_at = now;
        sc.der = der;
        sc.der_len = (size_t)dl;
        err[0] = '\0';
        rc = vouch_store_cert_insert(w->store, &sc, caller->actor, NULL, err, sizeof err);
        if (rc == VOUCH_STORE_E_DUP_SERIAL && attempt == 0) {
            vouchd_log("issuer '%s': random serial already used; drawing another", iss->name);
            X509_free(cert);
            cert = NULL;
            continue;
        }
        if (rc != VOUCH_STORE_OK) {
            vouchd_send_store_error(req, rc, "storing the certificate", err);
            goto out;
        }
        if (vouch_pki_serial_to_hex(serial, sizeof serial, serhex, sizeof serhex) != VOUCH_PKI_OK)
            snprintf(serhex, sizeof serhex, "?");
        break;
    }

    resp = json_pack("{s:s, s:s, s:s, s:o?, s:o?, s:o?, s:O}", "serial", serhex, "issuer",
                     iss->name, "template", tpl_name, "not_before",
                     vouchd_time_json(X509_get0_notBefore(cert)), "not_after",
                     vouchd_time_json(X509_get0_notAfter(cert)), "certificate",
                     vouchd_pem_json(cert), "chain", iss->chain);
    if (!resp || !json_is_string(json_object_get(resp, "certificate"))) {
        json_decref(resp);
        vouchd_log("issued %s/%s but cannot build the response", iss->name, serhex);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot build the response");
        resp = NULL;
        goto out;
    }
    {
        char loc[256];
        snprintf(loc, sizeof loc, "/v1/certificates/%s/%s", iss->name, serhex);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    }
    vouchd_send_json(req, 201, resp);
out:
    json_decref(j);
    vouch_store_template_clear(&st);
    X509_REQ_free(csr);
    X509_free(cert);
    OPENSSL_free(der);
    free(subject);
    free(cn);
    ERR_clear_error();
}

/* ---- GET /v1/certificates/<issuer>/<serial> --------------------------------------- */

static const char *status_name(vouch_cert_status s)
{
    return s == VOUCH_CERT_ACTIVE    ? "active"
           : s == VOUCH_CERT_REVOKED ? "revoked"
           : s == VOUCH_CERT_EXPIRED ? "expired"
                                     : "unknown";
}

static json_t *epoch_json(int64_t t)
{
    char out[32];
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    return json_string(out);
}

void vouchd_h_certs_get(struct evhttp_request *req, vouchd_worker *w,
                        const vouchd_caller *caller, const char *rest)
{
    char iname[65], err[256] = "", serhex[VOUCH_PKI_SERIAL_HEX_MAX], fphex[65];
    uint8_t serial[VOUCH_PKI_SERIAL_MAX];
    size_t sl = 0;
    const char *slash = strchr(rest, '/');
    const char *format = NULL;
    struct evkeyvalq q;
    vouch_store_issuer is;
    vouch_store_cert c;
    X509 *x = NULL;
    memset(&is, 0, sizeof is);
    memset(&c, 0, sizeof c);
    q.tqh_first = NULL;
    q.tqh_last = &q.tqh_first;

    if (!slash || strchr(slash + 1, '/') || !slash[1] || (size_t)(slash - rest) >= sizeof iname) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such resource (expected /v1/certificates/<issuer>/<serial-hex>)");
        return;
    }
    memcpy(iname, rest, (size_t)(slash - rest));
    iname[slash - rest] = '\0';
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the query string does not parse");
        goto out;
    }
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcmp(kv->key, "format") != 0) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "unknown query parameter (only format=json|pem|der)");
            goto out;
        }
        format = kv->value;
    }
    if (format && strcmp(format, "json") != 0 && strcmp(format, "pem") != 0 &&
        strcmp(format, "der") != 0) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "format must be json, pem or der");
        goto out;
    }
    if (strlen(slash + 1) > 2 * VOUCH_PKI_SERIAL_MAX + 19 ||
        vouch_pki_serial_from_hex(slash + 1, serial, sizeof serial, &sl) != VOUCH_PKI_OK) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the serial must be hex (as openssl x509 -serial prints it), at most "
                          "20 bytes");
        goto out;
    }
    if (!vouchd_name_ok(iname)) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no such issuer");
        goto out;
    }
    vouch_store_rc rc = vouch_store_issuer_get_by_name(w->store, iname, &is, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no issuer named '%s'", iname);
        goto out;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading an issuer", err);
        goto out;
    }
    rc = vouch_store_cert_get(w->store, is.id, serial, sl, &c, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND || rc == VOUCH_STORE_E_UNKNOWN_CERT) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "issuer '%s' has no certificate with that serial", iname);
        goto out;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading a certificate", err);
        goto out;
    }
    if (format && strcmp(format, "der") == 0) {
        vouchd_send_raw(req, 200, "application/pkix-cert", c.der, c.der_len);
        goto out;
    }
    x = der_cert(c.der, c.der_len);
    json_t *pem = x ? vouchd_pem_json(x) : NULL;
    if (!pem) {
        vouchd_log("certificate %s/%s: stored DER does not parse", iname, slash + 1);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot read the certificate");
        goto out;
    }
    if (format && strcmp(format, "pem") == 0) {
        vouchd_send_raw(req, 200, "application/x-pem-file", json_string_value(pem),
                        json_string_length(pem));
        json_decref(pem);
        goto out;
    }
    if (vouch_pki_serial_to_hex(c.serial, c.serial_len, serhex, sizeof serhex) != VOUCH_PKI_OK)
        snprintf(serhex, sizeof serhex, "?");
    for (int i = 0; i < 32; i++)
        snprintf(fphex + 2 * i, 3, "%02x", c.sha256[i]);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o?, s:o?, s:o?, s:s, s:o}",
                          "serial", serhex, "issuer", iname, "status", status_name(c.status),
                          "subject", c.subject, "device_id", c.device_id, "template",
                          c.template_name, "not_before", epoch_json(c.not_before), "not_after",
                          epoch_json(c.not_after), "issued_at", epoch_json(c.issued_at),
                          "sha256", fphex, "certificate", pem);
    if (o && c.status == VOUCH_CERT_REVOKED) {
        json_object_set_new(o, "revoked_at", epoch_json(c.revoked_at));
        const char *rn = vouch_pki_reason_name(c.reason);
        if (rn)
            json_object_set_new(o, "reason", json_string(rn));
    }
    vouchd_send_json(req, 200, o);
out:
    evhttp_clear_headers(&q);
    X509_free(x);
    vouch_store_cert_clear(&c);
    vouch_store_issuer_clear(&is);
    ERR_clear_error();
}
