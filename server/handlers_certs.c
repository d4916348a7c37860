/*
 * The certificate lifecycle over HTTP (docs/api.md is the contract):
 *   POST /v1/certificates                              issue from a CSR
 *   GET  /v1/certificates?...                          search, keyset pages
 *   GET  /v1/certificates/<issuer>/<serial>[?format=]  one certificate
 *   POST /v1/certificates/<issuer>/<serial>/revoke     revoke with a reason
 *   POST /v1/certificates/<issuer>/<serial>/renew      same key, new validity
 *   POST /v1/certificates/<issuer>/<serial>/rekey      new key (CSR), same subject
 *   GET  /v1/sync?after=SEQ                            changes since a cursor
 *
 * Writes (issuance and revocation) do their checks and cryptography on the
 * worker, then go to the committer (commit.h), which makes them durable in
 * groups; the answer is sent from the job's completion callback, after the
 * commit. The request stays open meanwhile (libevent keeps an unanswered
 * request alive even if its client goes away; answering it then frees it).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "pki/se_key.h"
#include "server/commit.h"
#include "server/auth_parse.h"
#include "server/http.h"

#define TEMPLATE_NAME_MAX 128
#define BACKDATE_S 60 /* not_before this far in the past: clients' clocks drift */
#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define SYNC_DEFAULT 1000
#define SYNC_MAX 10000

/* ---- small helpers ------------------------------------------------------------- */

static const char *status_name(vouch_cert_status s)
{
    return s == VOUCH_CERT_ACTIVE    ? "active"
           : s == VOUCH_CERT_REVOKED ? "revoked"
           : s == VOUCH_CERT_EXPIRED ? "expired"
                                     : "unknown";
}

static void serial_hex(const uint8_t *s, size_t len, char out[VOUCH_PKI_SERIAL_HEX_MAX])
{
    if (vouch_pki_serial_to_hex(s, len, out, VOUCH_PKI_SERIAL_HEX_MAX) != VOUCH_PKI_OK)
        snprintf(out, VOUCH_PKI_SERIAL_HEX_MAX, "?");
}

/* The name's first CN as UTF-8 (malloc'd), or NULL. */
char *vouchd_common_name(const X509_NAME *n)
{
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

/* The JSON record of a stored certificate (docs/api.md), with the PEM when
 * with_pem. NULL when out of memory or the DER does not parse. */
static json_t *cert_json(const vouch_store_cert *c, const char *iname, int with_pem)
{
    char serhex[VOUCH_PKI_SERIAL_HEX_MAX], fphex[65];
    serial_hex(c->serial, c->serial_len, serhex);
    for (int i = 0; i < 32; i++)
        snprintf(fphex + 2 * i, 3, "%02x", c->sha256[i]);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o?, s:o?, s:o?, s:s}", "serial",
                          serhex, "issuer", iname, "status", status_name(c->status), "subject",
                          c->subject, "device_id", c->device_id, "template", c->template_name,
                          "not_before", vouchd_epoch_json(c->not_before), "not_after",
                          vouchd_epoch_json(c->not_after), "issued_at", vouchd_epoch_json(c->issued_at),
                          "sha256", fphex);
    if (!o)
        return NULL;
    if (c->status == VOUCH_CERT_REVOKED) {
        json_object_set_new(o, "revoked_at", vouchd_epoch_json(c->revoked_at));
        const char *rn = vouch_pki_reason_name(c->reason);
        if (rn)
            json_object_set_new(o, "reason", json_string(rn));
    }
    if (with_pem) {
        X509 *x = c->der ? vouchd_der_cert(c->der, c->der_len) : NULL;
        json_t *pem = x ? vouchd_pem_json(x) : NULL;
        X509_free(x);
        if (!pem || json_object_set_new(o, "certificate", pem) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The request body as a JSON object; NULL with a 400 sent. An empty body
 * is {} when empty_ok. */
json_t *vouchd_body_object(struct evhttp_request *req, int empty_ok, const char *expect)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    json_error_t jerr;
    if (blen == 0 && empty_ok)
        return json_object();
    const char *body = blen ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *j = json_loadb(body ? body : "", body ? blen : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the body must be a JSON object %s%s%s",
                          expect, j ? "" : ": ", j ? "" : jerr.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* 0 when every member of j is in the NULL-terminated list; else 400 sent. */
int vouchd_members_ok(struct evhttp_request *req, json_t *j, const char *const *allowed,
                      const char *expect)
{
    char bad[65];
    if (vouchd_json_members_ok(j, allowed, bad, sizeof bad))
        return 0;
    vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "unknown member '%s' (expected %s)", bad,
                      expect);
    return -1;
}

/* Template by name, parsed. 0, or -1 with the answer sent. */
static int load_template(struct evhttp_request *req, vouchd_worker *w, const char *name,
                         vouch_pki_template *tpl)
{
    vouch_store_template st;
    char err[256] = "", why[512] = "";
    if (vouchd_cache_template(w, name, tpl))
        return 0;
    unsigned gen = vouchd_cache_templates_gen();
    memset(&st, 0, sizeof st);
    vouch_store_rc rc = strlen(name) > TEMPLATE_NAME_MAX
                            ? VOUCH_STORE_E_NOT_FOUND
                            : vouch_store_template_get(w->store, name, &st, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND || rc == VOUCH_STORE_E_ARG) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_TEMPLATE, "no template named '%.128s'", name);
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading a template", err);
        return -1;
    }
    vouch_pki_rc prc = vouch_pki_template_from_json(st.body, strlen(st.body), tpl, why, sizeof why);
    vouch_store_template_clear(&st);
    if (prc != VOUCH_PKI_OK) {
        vouchd_log("template '%s' is not usable: %s", name, why);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL,
                          "template '%.128s' is not usable (see the server log)", name);
        return -1;
    }
    vouchd_cache_template_put(w, name, gen, tpl);
    return 0;
}

/* The issuer for a template: exists, and is not a root unless the template
 * makes a CA (a family CA hangs off the root: the issuing CA's path length
 * is 0, so a CA under it could sign nothing that verifies). */
static vouchd_issuer *issuing_issuer(struct evhttp_request *req, vouchd_worker *w,
                                     const char *name, const vouch_pki_template *tpl)
{
    vouchd_issuer *iss = vouchd_issuer_find(w, name, 0, req);
    if (!iss)
        return NULL;
    if (iss->kind == VOUCH_ISSUER_ROOT && !tpl->ca) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "issuer '%s' is a root CA; certificates are issued by an issuing "
                          "CA such as 'default'", name);
        return NULL;
    }
    return iss;
}

/* ---- issuance (issue, renew, rekey) ---------------------------------------------- */

typedef struct issue_ctx {
    struct evhttp_request *req;
    vouchd_issuer *iss;
    vouch_pki_der cert;
    time_t not_before, not_after;
    char tpl_name[TEMPLATE_NAME_MAX + 1];
    char renewed_from[VOUCH_PKI_SERIAL_HEX_MAX]; /* "" for a new issuance */
    char *subject, *cn;
    vouchd_job job;
} issue_ctx;

static void issue_ctx_free(issue_ctx *x)
{
    if (!x)
        return;
    vouch_pki_der_free(&x->cert);
    free(x->subject);
    free(x->cn);
    free(x);
}

static void issue_done(vouchd_worker *w, vouchd_job *job, int cancelled)
{
    issue_ctx *x = job->arg;
    struct evhttp_request *req = x->req;
    char serhex[VOUCH_PKI_SERIAL_HEX_MAX];
    (void)w;
    if (cancelled) {
        issue_ctx_free(x);
        return;
    }
    serial_hex(job->cert.serial, job->cert.serial_len, serhex);
    if (job->rc == VOUCH_STORE_E_DUP_SERIAL) {
        /* a random 128-bit serial the issuer already used: chance 2^-127 */
        vouchd_log("issuer '%s': random serial %s already used; refused, the client may retry",
                   x->iss->name, serhex);
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "serial number collision; send the request again");
        goto out;
    }
    if (job->rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, job->rc, "storing the certificate", job->err);
        goto out;
    }
    char *pem = vouchd_pem_json_text(x->cert.der, x->cert.len);
    json_t *resp = json_pack("{s:s, s:s, s:s, s:o?, s:o?}", "serial", serhex, "issuer",
                             x->iss->name, "template", x->tpl_name, "not_before",
                             vouchd_epoch_json(x->not_before), "not_after",
                             vouchd_epoch_json(x->not_after));
    if (resp && x->renewed_from[0])
        json_object_set_new(resp, "renewed_from", json_string(x->renewed_from));
    if (!resp || !pem || !json_is_string(json_object_get(resp, "not_after"))) {
        json_decref(resp);
        free(pem);
        vouchd_log("issued %s/%s but cannot build the response", x->iss->name, serhex);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot build the response");
        goto out;
    }
    char loc[256];
    snprintf(loc, sizeof loc, "/v1/certificates/%s/%s", x->iss->name, serhex);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    /* the PEM made without a JSON object; the chain is the same for every
     * certificate of the issuer: serialized once */
    vouchd_raw_member members[] = {{"certificate", pem}, {"chain", x->iss->chain_json}};
    vouchd_send_json_members(req, 201, resp, members, 2);
    free(pem);
out:
    issue_ctx_free(x);
}

/* Validity for a new certificate: from BACKDATE_S ago for the template's
 * days, cut at the issuer's own end. -1 (422 sent) when nothing is left. */
static int validity(struct evhttp_request *req, const vouchd_issuer *iss,
                    const vouch_pki_template *tpl, time_t now, vouch_pki_issue_params *p)
{
    p->not_before = now - BACKDATE_S;
    p->not_after = p->not_before + (time_t)tpl->validity_days * 86400;
    if (p->not_after > iss->not_after)
        p->not_after = iss->not_after;
    if (p->not_after <= p->not_before) {
        vouchd_send_error(req, 422, VOUCHD_E_TEMPLATE, "issuer '%s' has expired", iss->name);
        return -1;
    }
    return 0;
}

/* Answer a failed vouch_pki_issue / _renew. */
static void issue_error(struct evhttp_request *req, const vouchd_issuer *iss, vouch_pki_rc prc,
                        const char *why)
{
    if (prc == VOUCH_PKI_E_SIGNATURE)
        vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR_SIG, "the CSR's signature does not verify%s%s",
                          *why ? ": " : "", why);
    else if (prc == VOUCH_PKI_E_POLICY)
        vouchd_send_error(req, 422, VOUCHD_E_TEMPLATE, "%s",
                          *why ? why : "the CSR breaks a template rule");
    else if (prc == VOUCH_PKI_E_SIGNER && iss->se_key) {
        vouchd_log("issuer '%s': its vouch-se did not sign: %s", iss->name,
                   vouch_se_key_last_error(iss->se_key));
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "the issuer's key store (a vouch-se) did not answer; try again");
    } else if (prc == VOUCH_PKI_E_PARSE)
        vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR, "the CSR is malformed%s%s", *why ? ": " : "",
                          why);
    else {
        vouchd_log("issuing from '%s': %s%s%s", iss->name, vouch_pki_strerror(prc),
                   *why ? ": " : "", why);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "issuance failed (see the server log)");
    }
}

/* Make the store record for x->cert (whose subject is `subject`) and hand
 * it to the committer; the answer goes out from issue_done. Takes x (frees
 * it on failure). */
static void issue_submit(vouchd_worker *w, const vouchd_caller *caller, issue_ctx *x,
                         const X509_NAME *subject, const uint8_t *serial, size_t serial_len,
                         time_t now, int64_t renewed_from)
{
    struct evhttp_request *req = x->req;
    vouch_store_cert *sc = &x->job.cert;
    json_t *sj = vouchd_name_json(subject);
    x->subject = sj ? strdup(json_string_value(sj)) : NULL;
    json_decref(sj);
    x->cn = vouchd_common_name(subject);
    if (!x->subject) {
        vouchd_log("issued certificate: cannot describe its subject, or out of memory");
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "issuance failed (see the server log)");
        issue_ctx_free(x);
        return;
    }
    x->job.kind = VOUCHD_JOB_INSERT;
    sc->issuer_id = x->iss->id;
    memcpy(sc->serial, serial, serial_len);
    sc->serial_len = serial_len;
    sc->subject = x->subject;
    sc->device_id = x->cn;
    sc->template_name = x->tpl_name;
    sc->not_before = x->not_before;
    sc->not_after = x->not_after;
    sc->issued_at = now;
    sc->der = x->cert.der;
    sc->der_len = x->cert.len;
    sc->renewed_from = renewed_from;
    snprintf(x->job.actor, sizeof x->job.actor, "%s", caller->actor);
    x->job.done = issue_done;
    x->job.arg = x;
    if (vouchd_commit_submit(w, &x->job) != 0) {
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE, "the server is stopping");
        issue_ctx_free(x);
    }
}

static issue_ctx *issue_ctx_new(struct evhttp_request *req, vouchd_issuer *iss,
                                const char *tpl_name)
{
    issue_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return NULL;
    }
    x->req = req;
    x->iss = iss;
    snprintf(x->tpl_name, sizeof x->tpl_name, "%s", tpl_name);
    return x;
}

/* Sign a certificate for csr (old == NULL) or renew old (csr == NULL), then
 * submit it. */
static void issue_and_submit(struct evhttp_request *req, vouchd_worker *w,
                             const vouchd_caller *caller, vouchd_issuer *iss,
                             const vouch_pki_template *tpl, vouch_pki_csr *csr, X509 *old,
                             const vouch_store_cert *from)
{
    char why[512] = "";
    uint8_t serial[VOUCH_PKI_SERIAL_LEN];
    time_t now = time(NULL);
    vouch_pki_issue_params p = {.tpl = tpl, .issuer_cert = iss->cert, .issuer_key = iss->signer,
                                .issuer_name = iss->name, .public_url = w->cfg->public_url};
    if (validity(req, iss, tpl, now, &p) != 0)
        return;
    if (vouch_pki_serial_random(serial) != VOUCH_PKI_OK) {
        vouchd_log("no random serial: the random generator failed");
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "issuance failed (see the server log)");
        return;
    }
    p.serial = serial;
    p.serial_len = sizeof serial;
    issue_ctx *x = issue_ctx_new(req, iss, tpl->name);
    if (!x)
        return;
    /* validity() set both ends: they are the certificate's */
    x->not_before = p.not_before;
    x->not_after = p.not_after;
    vouch_pki_rc prc = csr ? vouch_pki_issue_csr_der(&p, csr, &x->cert, why, sizeof why)
                           : vouch_pki_renew_der(&p, old, &x->cert, why, sizeof why);
    ERR_clear_error();
    if (prc != VOUCH_PKI_OK) {
        issue_error(req, iss, prc, why);
        issue_ctx_free(x);
        return;
    }
    if (from)
        serial_hex(from->serial, from->serial_len, x->renewed_from);
    issue_submit(w, caller, x, csr ? vouch_pki_csr_subject(csr) : X509_get_subject_name(old),
                 serial, sizeof serial, now, from ? from->id : 0);
}

/* The body's 'csr' member, or NULL with a 400 sent. */
static const char *csr_member(struct evhttp_request *req, json_t *j)
{
    const char *pem = json_string_value(json_object_get(j, "csr"));
    if (!pem || !*pem) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "member 'csr' (a PEM certificate request, string) is missing");
        return NULL;
    }
    return pem;
}

/* The parsed request; NULL with a 400 bad_csr sent. */
static vouch_pki_csr *csr_parse(struct evhttp_request *req, const char *pem)
{
    vouch_pki_csr *csr = NULL;
    if (vouch_pki_csr_read((const uint8_t *)pem, strlen(pem), &csr) != VOUCH_PKI_OK) {
        ERR_clear_error();
        vouchd_send_error(req, 400, VOUCHD_E_BAD_CSR,
                          "member 'csr' is not a PEM PKCS#10 certificate request");
        return NULL;
    }
    return csr;
}

static void certs_issue(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller)
{
    static const char *const allowed[] = {"csr", "template", "issuer", NULL};
    static const char expect[] = "{\"csr\", \"template\", \"issuer\"}";
    const char *csr_pem, *tpl_name, *iss_name = "default";
    vouch_pki_template tpl;
    vouch_pki_csr *csr = NULL;
    json_t *v, *j = vouchd_body_object(req, 0, expect);
    if (!j || vouchd_members_ok(req, j, allowed, "csr, template, issuer") != 0)
        goto out;
    if (!(csr_pem = csr_member(req, j)))
        goto out;
    tpl_name = json_string_value(json_object_get(j, "template"));
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
    if (load_template(req, w, tpl_name, &tpl) != 0)
        goto out;
    vouchd_issuer *iss = issuing_issuer(req, w, iss_name, &tpl);
    if (!iss)
        goto out;
    if (!(csr = csr_parse(req, csr_pem)))
        goto out;
    /* the stored name, not the template's own "name" member */
    snprintf(tpl.name, sizeof tpl.name, "%s", tpl_name);
    issue_and_submit(req, w, caller, iss, &tpl, csr, NULL, NULL);
out:
    vouch_pki_csr_free(csr);
    json_decref(j);
}

/* ---- one certificate ------------------------------------------------------------- */

/* Parse "<issuer>/<serial>[/<action>]". 0, or -1 with the answer sent. */
static int parse_item(struct evhttp_request *req, const char *rest, char iname[65],
                      uint8_t serial[VOUCH_PKI_SERIAL_MAX], size_t *sl, char action[16])
{
    const char *s1 = strchr(rest, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    char sertxt[2 * VOUCH_PKI_SERIAL_MAX + 24];
    action[0] = '\0';
    if (!s1 || s1 == rest || (size_t)(s1 - rest) >= 65 || !s1[1] || s1[1] == '/' ||
        (s2 && (!s2[1] || strchr(s2 + 1, '/') || strlen(s2 + 1) >= 16))) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such resource (expected /v1/certificates/<issuer>/<serial-hex>"
                          "[/revoke|renew|rekey])");
        return -1;
    }
    memcpy(iname, rest, (size_t)(s1 - rest));
    iname[s1 - rest] = '\0';
    size_t tl = s2 ? (size_t)(s2 - s1 - 1) : strlen(s1 + 1);
    if (s2)
        snprintf(action, 16, "%s", s2 + 1);
    if (tl >= sizeof sertxt) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the serial must be hex (as openssl x509 -serial prints it), at most "
                          "20 bytes");
        return -1;
    }
    memcpy(sertxt, s1 + 1, tl);
    sertxt[tl] = '\0';
    if (vouch_pki_serial_from_hex(sertxt, serial, VOUCH_PKI_SERIAL_MAX, sl) != VOUCH_PKI_OK) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the serial must be hex (as openssl x509 -serial prints it), at most "
                          "20 bytes");
        return -1;
    }
    if (!vouchd_name_ok(iname)) {
        vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no such issuer");
        return -1;
    }
    return 0;
}

/* The stored record; 0, or -1 with 404/5xx sent. */
static int load_cert(struct evhttp_request *req, vouchd_worker *w, const vouchd_issuer *iss,
                     const uint8_t *serial, size_t sl, vouch_store_cert *c)
{
    char err[256] = "";
    vouch_store_rc rc = vouch_store_cert_get(w->store, iss->id, serial, sl, c, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND || rc == VOUCH_STORE_E_UNKNOWN_CERT) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "issuer '%s' has no certificate with that serial", iss->name);
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading a certificate", err);
        return -1;
    }
    return 0;
}

/* Query parameters into q; -1 (400 sent) when they do not parse. */
static int parse_query(struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    q->tqh_first = NULL;
    q->tqh_last = &q->tqh_first;
    if (query && evhttp_parse_query_str(query, q) != 0) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the query string does not parse");
        return -1;
    }
    return 0;
}

static void cert_get(struct evhttp_request *req, vouchd_worker *w, vouchd_issuer *iss,
                     const uint8_t *serial, size_t sl)
{
    struct evkeyvalq q;
    const char *format = NULL;
    vouch_store_cert c;
    memset(&c, 0, sizeof c);
    if (parse_query(req, &q) != 0)
        return;
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcmp(kv->key, "format") != 0 || format) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "unknown or repeated query parameter (only format=json|pem|der|chain)");
            goto out;
        }
        format = kv->value;
    }
    if (format && strcmp(format, "json") != 0 && strcmp(format, "pem") != 0 &&
        strcmp(format, "der") != 0 && strcmp(format, "chain") != 0) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "format must be json, pem, der or chain");
        goto out;
    }
    if (load_cert(req, w, iss, serial, sl, &c) != 0)
        goto out;
    if (format && strcmp(format, "der") == 0) {
        vouchd_send_raw(req, 200, "application/pkix-cert", c.der, c.der_len);
        goto out;
    }
    if (format && (strcmp(format, "pem") == 0 || strcmp(format, "chain") == 0)) {
        X509 *x = vouchd_der_cert(c.der, c.der_len);
        json_t *pem = x ? vouchd_pem_json(x) : NULL;
        X509_free(x);
        char *all = NULL;
        size_t pl = pem ? json_string_length(pem) : 0, n = pl;
        if (pem && strcmp(format, "chain") == 0) {
            n = pl + iss->chain_pem_len;
            if ((all = malloc(n)) != NULL) {
                memcpy(all, json_string_value(pem), pl);
                memcpy(all + pl, iss->chain_pem, iss->chain_pem_len);
            }
        }
        if (!pem || (strcmp(format, "chain") == 0 && !all)) {
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot read the certificate");
        } else {
            vouchd_send_raw(req, 200, "application/x-pem-file", all ? all : json_string_value(pem),
                            n);
        }
        free(all);
        json_decref(pem);
        goto out;
    }
    json_t *o = cert_json(&c, iss->name, 1);
    if (!o) {
        vouchd_log("certificate %s: stored DER does not parse", iss->name);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot read the certificate");
        goto out;
    }
    vouchd_send_json(req, 200, o);
out:
    evhttp_clear_headers(&q);
    vouch_store_cert_clear(&c);
}

/* revoke */

typedef struct revoke_ctx {
    struct evhttp_request *req;
    vouchd_issuer *iss;
    vouchd_job job;
} revoke_ctx;

static void revoke_done(vouchd_worker *w, vouchd_job *job, int cancelled)
{
    revoke_ctx *x = job->arg;
    struct evhttp_request *req = x->req;
    vouch_store_cert c;
    memset(&c, 0, sizeof c);
    if (cancelled)
        goto out;
    if (job->rc == VOUCH_STORE_E_ALREADY_REVOKED) {
        vouchd_send_error(req, 409, VOUCHD_E_ALREADY_REVOKED, "the certificate is already revoked");
        goto out;
    }
    if (job->rc == VOUCH_STORE_E_UNKNOWN_CERT || job->rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "issuer '%s' has no certificate with that serial", x->iss->name);
        goto out;
    }
    if (job->rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, job->rc, "revoking the certificate", job->err);
        goto out;
    }
    vouchd_va_revoked(w, x->iss->id, job->serial, job->serial_len);
    if (load_cert(req, w, x->iss, job->serial, job->serial_len, &c) != 0)
        goto out;
    vouchd_send_json(req, 200, cert_json(&c, x->iss->name, 0));
out:
    vouch_store_cert_clear(&c);
    free(x);
}

static void cert_revoke(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                        vouchd_issuer *iss, const uint8_t *serial, size_t sl)
{
    static const char *const allowed[] = {"reason", NULL};
    int reason = VOUCH_PKI_REASON_UNSPECIFIED;
    json_t *v, *j = vouchd_body_object(req, 1, "{\"reason\"}");
    if (!j || vouchd_members_ok(req, j, allowed, "reason") != 0)
        goto out;
    if ((v = json_object_get(j, "reason")) != NULL) {
        if (!json_is_string(v) || vouch_pki_reason_parse(json_string_value(v), &reason) !=
                                      VOUCH_PKI_OK || reason == VOUCH_PKI_REASON_REMOVE_FROM_CRL) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "'reason' must be an RFC 5280 reason: unspecified, keyCompromise, "
                              "cACompromise, affiliationChanged, superseded, "
                              "cessationOfOperation, certificateHold, privilegeWithdrawn, "
                              "aACompromise (or kebab-case: key-compromise, ...)");
            goto out;
        }
    }
    revoke_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    x->req = req;
    x->iss = iss;
    x->job.kind = VOUCHD_JOB_REVOKE;
    x->job.issuer_id = iss->id;
    memcpy(x->job.serial, serial, sl);
    x->job.serial_len = sl;
    x->job.reason = reason;
    snprintf(x->job.actor, sizeof x->job.actor, "%s", caller->actor);
    x->job.done = revoke_done;
    x->job.arg = x;
    if (vouchd_commit_submit(w, &x->job) != 0) {
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE, "the server is stopping");
        free(x);
    }
out:
    json_decref(j);
}

/* renew and rekey */

/* The same name byte for byte. (X509_NAME_cmp compares canonical forms, in
 * which case and runs of spaces do not count; an identity does not change
 * its spelling in a rekey.) */
static int same_name(const X509_NAME *a, const X509_NAME *b)
{
    const unsigned char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    if (!X509_NAME_get0_der((X509_NAME *)a, &da, &la) ||
        !X509_NAME_get0_der((X509_NAME *)b, &db, &lb))
        return 0;
    return la == lb && memcmp(da, db, la) == 0;
}

static void cert_renew(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                       vouchd_issuer *iss, const uint8_t *serial, size_t sl, int rekey)
{
    static const char *const none[] = {NULL};
    static const char *const csr_only[] = {"csr", NULL};
    vouch_store_cert c;
    vouch_pki_template tpl;
    X509 *old = NULL;
    vouch_pki_csr *csr = NULL;
    memset(&c, 0, sizeof c);
    json_t *j = vouchd_body_object(req, !rekey, rekey ? "{\"csr\"}" : "(empty, or {})");
    if (!j || vouchd_members_ok(req, j, rekey ? csr_only : none, rekey ? "csr" : "none") != 0)
        goto out;
    if (load_cert(req, w, iss, serial, sl, &c) != 0)
        goto out;
    if (!rekey && c.status == VOUCH_CERT_REVOKED) {
        vouchd_send_error(req, 409, VOUCHD_E_CERT_REVOKED,
                          "the certificate is revoked; a revoked certificate is not renewed "
                          "(rekey it with a new key instead)");
        goto out;
    }
    if (!rekey && c.status == VOUCH_CERT_EXPIRED) {
        vouchd_send_error(req, 409, VOUCHD_E_CERT_EXPIRED,
                          "the certificate has expired; an expired certificate is not renewed "
                          "(rekey it with a new key instead)");
        goto out;
    }
    if (!c.template_name) {
        vouchd_send_error(req, 422, VOUCHD_E_TEMPLATE,
                          "the certificate was not issued under a template; issue a new one");
        goto out;
    }
    if (load_template(req, w, c.template_name, &tpl) != 0)
        goto out;
    snprintf(tpl.name, sizeof tpl.name, "%s", c.template_name);
    if (!(old = vouchd_der_cert(c.der, c.der_len))) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot read the certificate");
        goto out;
    }
    if (rekey) {
        const char *csr_pem = csr_member(req, j);
        if (!csr_pem || !(csr = csr_parse(req, csr_pem)))
            goto out;
        if (!same_name(vouch_pki_csr_subject(csr), X509_get_subject_name(old))) {
            vouchd_send_error(req, 422, VOUCHD_E_SUBJECT_MISMATCH,
                              "the CSR's subject differs from the certificate's (%.200s); a "
                              "rekey keeps the identity",
                              c.subject ? c.subject : "");
            goto out;
        }
        issue_and_submit(req, w, caller, iss, &tpl, csr, NULL, &c);
    } else {
        issue_and_submit(req, w, caller, iss, &tpl, NULL, old, &c);
    }
out:
    ERR_clear_error();
    vouch_pki_csr_free(csr);
    X509_free(old);
    vouch_store_cert_clear(&c);
    json_decref(j);
}

void vouchd_h_cert_item(struct evhttp_request *req, vouchd_worker *w,
                        const vouchd_caller *caller, const char *rest)
{
    char iname[65], action[16];
    uint8_t serial[VOUCH_PKI_SERIAL_MAX];
    size_t sl = 0;
    int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    if (parse_item(req, rest, iname, serial, &sl, action) != 0)
        return;
    if (action[0] && strcmp(action, "revoke") != 0 && strcmp(action, "renew") != 0 &&
        strcmp(action, "rekey") != 0) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such action '%s' (expected revoke, renew or rekey)", action);
        return;
    }
    if (post != (action[0] != 0)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          post ? "GET, HEAD" : "POST");
        vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows %s",
                          post ? "GET, HEAD" : "POST");
        return;
    }
    vouchd_issuer *iss = vouchd_issuer_find(w, iname, 0, req);
    if (!iss)
        return;
    if (!action[0])
        cert_get(req, w, iss, serial, sl);
    else if (strcmp(action, "revoke") == 0)
        cert_revoke(req, w, caller, iss, serial, sl);
    else
        cert_renew(req, w, caller, iss, serial, sl, strcmp(action, "rekey") == 0);
}

/* ---- search ---------------------------------------------------------------------- */

/* "3600", "90s", "30m", "48h", "7d" -> seconds (1 .. 100 years). */
static int parse_duration(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v <= 0)
        return -1;
    long long mul = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    if (*end || v > 100LL * 366 * 86400 / mul)
        return -1;
    *out = v * mul;
    return 0;
}

/* RFC 3339 UTC ("2026-11-21T00:00:00Z") or seconds since the epoch. */
static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (*s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 12) {
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e || strcmp(e, "Z") != 0)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

typedef struct search_ctx {
    json_t *names; /* issuer id (decimal string) -> name */
    json_t *arr;
    int failed;
} search_ctx;

static int names_cb(void *ctx, const vouch_store_issuer *is)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)is->id);
    return json_object_set_new(ctx, k, json_string(is->name)) != 0;
}

/* Every issuer's name by id, read before a listing: a listing callback
 * must not query the same store (store.h), and names need no keys. NULL
 * with the answer sent. */
static json_t *issuer_names(struct evhttp_request *req, vouchd_worker *w)
{
    char err[256] = "";
    json_t *m = json_object();
    vouch_store_rc rc = m ? vouch_store_issuer_list(w->store, names_cb, m, err, sizeof err)
                          : VOUCH_STORE_E_NOMEM;
    if (rc != VOUCH_STORE_OK) {
        json_decref(m);
        vouchd_send_store_error(req, rc, "listing issuers", err);
        return NULL;
    }
    return m;
}

static const char *issuer_name_of(json_t *names, int64_t id)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)id);
    const char *n = json_string_value(json_object_get(names, k));
    return n ? n : "?";
}

static int search_cb(void *ctx, const vouch_store_cert *c)
{
    search_ctx *x = ctx;
    json_t *o = cert_json(c, issuer_name_of(x->names, c->issuer_id), 0);
    if (!o || json_array_append_new(x->arr, o) != 0) {
        x->failed = 1;
        return 1;
    }
    return 0;
}

/* the ?serial= search: that serial under every issuer (or the one named) */
static void search_by_serial(struct evhttp_request *req, vouchd_worker *w, const char *hex,
                             int64_t only_issuer, size_t limit)
{
    uint8_t serial[VOUCH_PKI_SERIAL_MAX];
    size_t sl = 0;
    char err[256] = "";
    json_t *names = NULL, *arr = NULL, *v;
    const char *key;
    if (strlen(hex) > 2 * VOUCH_PKI_SERIAL_MAX + 20 ||
        vouch_pki_serial_from_hex(hex, serial, sizeof serial, &sl) != VOUCH_PKI_OK) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "serial must be hex (as openssl x509 -serial prints it), at most 20 bytes");
        return;
    }
    if (!(names = issuer_names(req, w)))
        return;
    if (!(arr = json_array())) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    json_object_foreach(names, key, v) {
        int64_t id = strtoll(key, NULL, 10);
        vouch_store_cert c;
        if ((only_issuer && id != only_issuer) || json_array_size(arr) >= limit)
            continue;
        memset(&c, 0, sizeof c);
        vouch_store_rc rc = vouch_store_cert_get(w->store, id, serial, sl, &c, err, sizeof err);
        if (rc == VOUCH_STORE_E_NOT_FOUND || rc == VOUCH_STORE_E_UNKNOWN_CERT)
            continue;
        if (rc != VOUCH_STORE_OK) {
            vouchd_send_store_error(req, rc, "reading a certificate", err);
            goto out;
        }
        json_t *o = cert_json(&c, json_string_value(v), 0);
        vouch_store_cert_clear(&c);
        if (!o || json_array_append_new(arr, o) != 0) {
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
            goto out;
        }
    }
    vouchd_send_json(req, 200, json_pack("{s:O}", "certificates", arr));
out:
    json_decref(names);
    json_decref(arr);
}

static void certs_search(struct evhttp_request *req, vouchd_worker *w)
{
    struct evkeyvalq q;
    vouch_store_cert_filter f;
    vouch_store_cursor cur;
    char err[256] = "";
    const char *serial = NULL;
    long limit = PAGE_DEFAULT;
    unsigned seen = 0;
    enum { P_STATUS = 1, P_TEMPLATE = 2, P_ISSUER = 4, P_DEVICE = 8, P_SERIAL = 16,
           P_EXPIRING = 32, P_ISSUED = 64, P_REVOKED = 128, P_LIMIT = 256, P_CURSOR = 512 };
    memset(&f, 0, sizeof f);
    memset(&cur, 0, sizeof cur);
    if (parse_query(req, &q) != 0)
        return;
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        const char *k = kv->key, *v = kv->value;
        unsigned bit = strcmp(k, "status") == 0          ? P_STATUS
                       : strcmp(k, "template") == 0      ? P_TEMPLATE
                       : strcmp(k, "issuer") == 0        ? P_ISSUER
                       : strcmp(k, "device_id") == 0     ? P_DEVICE
                       : strcmp(k, "serial") == 0        ? P_SERIAL
                       : strcmp(k, "expiring") == 0      ? P_EXPIRING
                       : strcmp(k, "issued_since") == 0  ? P_ISSUED
                       : strcmp(k, "revoked_since") == 0 ? P_REVOKED
                       : strcmp(k, "limit") == 0         ? P_LIMIT
                       : strcmp(k, "cursor") == 0        ? P_CURSOR
                                                         : 0;
        if (!bit) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "unknown query parameter '%.64s' (expected status, template, "
                              "issuer, device_id, serial, expiring, issued_since, revoked_since, "
                              "limit, cursor)", k);
            goto out;
        }
        if (seen & bit) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "query parameter '%s' given twice", k);
            goto out;
        }
        seen |= bit;
        int bad = 0;
        switch (bit) {
        case P_STATUS:
            f.status = strcmp(v, "active") == 0    ? VOUCH_CERT_ACTIVE
                       : strcmp(v, "revoked") == 0 ? VOUCH_CERT_REVOKED
                       : strcmp(v, "expired") == 0 ? VOUCH_CERT_EXPIRED
                                                   : VOUCH_CERT_ANY;
            bad = f.status == VOUCH_CERT_ANY;
            break;
        case P_TEMPLATE:
            f.template_name = v;
            bad = !*v || strlen(v) > TEMPLATE_NAME_MAX;
            break;
        case P_ISSUER: {
            vouchd_issuer *iss = vouchd_issuer_find(w, v, 0, req);
            if (!iss)
                goto out;
            f.issuer_id = iss->id;
            break;
        }
        case P_DEVICE:
            f.device_id = v;
            bad = !*v || strlen(v) > 1024;
            break;
        case P_SERIAL:
            serial = v;
            break;
        case P_EXPIRING: {
            int64_t d = 0;
            bad = parse_duration(v, &d) != 0;
            f.expiring_before = (int64_t)time(NULL) + d;
            break;
        }
        case P_ISSUED:
            bad = parse_time(v, &f.issued_since) != 0;
            break;
        case P_REVOKED:
            bad = parse_time(v, &f.revoked_since) != 0;
            break;
        case P_LIMIT: {
            char *end = NULL;
            errno = 0;
            limit = strtol(v, &end, 10);
            bad = errno || !end || *end || end == v || limit < 1 || limit > PAGE_MAX;
            break;
        }
        case P_CURSOR: {
            long long a, b;
            char tail;
            bad = sscanf(v, "%lld.%lld%c", &a, &b, &tail) != 2;
            cur.key = a;
            cur.id = b;
            cur.started = 1;
            break;
        }
        }
        if (bad) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "bad value for '%s': %s", k,
                              bit == P_STATUS     ? "expected active, revoked or expired"
                              : bit == P_EXPIRING ? "expected a duration such as 3600, 90s, "
                                                    "30m, 48h, 7d"
                              : bit == P_ISSUED || bit == P_REVOKED
                                  ? "expected an RFC 3339 UTC time (2026-11-21T00:00:00Z) or "
                                    "seconds since the epoch"
                              : bit == P_LIMIT  ? "expected 1..1000"
                              : bit == P_CURSOR ? "not a cursor this server handed out"
                                                : "empty or too long");
            goto out;
        }
    }
    if (serial) {
        if (seen & ~(unsigned)(P_SERIAL | P_ISSUER | P_LIMIT)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "'serial' combines only with 'issuer' and 'limit'");
            goto out;
        }
        search_by_serial(req, w, serial, f.issuer_id, (size_t)limit);
        goto out;
    }
    search_ctx x = {.names = issuer_names(req, w), .arr = NULL};
    if (!x.names)
        goto out;
    if (!(x.arr = json_array())) {
        json_decref(x.names);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    vouch_store_rc rc = vouch_store_cert_search(w->store, &f, &cur, (unsigned)limit, 0, search_cb,
                                                &x, err, sizeof err);
    json_decref(x.names);
    if (x.failed || (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_STOPPED)) {
        json_decref(x.arr);
        if (x.failed)
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        else
            vouchd_send_store_error(req, rc, "searching certificates", err);
        goto out;
    }
    json_t *resp = json_pack("{s:o}", "certificates", x.arr);
    if (resp && !cur.done && json_array_size(json_object_get(resp, "certificates")) > 0) {
        char c[64];
        snprintf(c, sizeof c, "%lld.%lld", (long long)cur.key, (long long)cur.id);
        json_object_set_new(resp, "next_cursor", json_string(c));
    }
    vouchd_send_json(req, 200, resp);
out:
    evhttp_clear_headers(&q);
}

void vouchd_h_certs(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                    const char *rest)
{
    (void)rest;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
        certs_issue(req, w, caller);
    else
        certs_search(req, w);
}

/* ---- sync ------------------------------------------------------------------------- */

static int sync_cb(void *ctx, const vouch_store_cert *c)
{
    search_ctx *x = ctx;
    json_t *o = cert_json(c, issuer_name_of(x->names, c->issuer_id), 1);
    if (!o || json_object_set_new(o, "seq", json_integer(c->seq)) != 0 ||
        json_array_append_new(x->arr, o) != 0) {
        json_decref(o);
        x->failed = 1;
        return 1;
    }
    return 0;
}

void vouchd_h_sync(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                   const char *rest)
{
    struct evkeyvalq q;
    long long after = 0;
    long limit = SYNC_DEFAULT;
    int64_t last = 0;
    char err[256] = "";
    unsigned seen = 0;
    (void)caller;
    (void)rest;
    if (parse_query(req, &q) != 0)
        return;
    for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
        char *end = NULL;
        int is_after = strcmp(kv->key, "after") == 0, is_limit = strcmp(kv->key, "limit") == 0;
        unsigned bit = is_after ? 1u : is_limit ? 2u : 0u;
        if (!bit || (seen & bit)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "unknown or repeated query parameter '%.64s' (expected after, limit)",
                              kv->key);
            goto out;
        }
        seen |= bit;
        errno = 0;
        long long v = strtoll(kv->value, &end, 10);
        if (errno || !end || *end || end == kv->value || v < 0 ||
            (is_limit && (v < 1 || v > SYNC_MAX))) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "bad value for '%s': expected %s",
                              kv->key, is_after ? "a change number >= 0" : "1..10000");
            goto out;
        }
        if (is_after)
            after = v;
        else
            limit = (long)v;
    }
    search_ctx x = {.names = issuer_names(req, w), .arr = NULL};
    if (!x.names)
        goto out;
    if (!(x.arr = json_array())) {
        json_decref(x.names);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    vouch_store_rc rc = vouch_store_cert_changes_since(w->store, after, (unsigned)limit, sync_cb,
                                                       &x, &last, err, sizeof err);
    json_decref(x.names);
    if (x.failed || rc != VOUCH_STORE_OK) {
        json_decref(x.arr);
        if (x.failed)
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        else
            vouchd_send_store_error(req, rc, "reading changes", err);
        goto out;
    }
    int more = json_array_size(x.arr) == (size_t)limit;
    vouchd_send_json(req, 200,
                     json_pack("{s:o, s:I, s:b}", "changes", x.arr, "cursor", (json_int_t)last,
                               "more", more));
out:
    evhttp_clear_headers(&q);
}
