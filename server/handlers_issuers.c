/*
 * GET /v1/issuers, GET /v1/issuers/<name>: the CAs of this data directory,
 * with their certificates. Private keys and key references never appear.
 */
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "server/http.h"

#define NAME_MAX_LEN 64

static const char *kind_name(vouch_issuer_kind k)
{
    return k == VOUCH_ISSUER_ROOT      ? "root"
           : k == VOUCH_ISSUER_ISSUING ? "issuing"
           : k == VOUCH_ISSUER_FAMILY  ? "family"
                                       : "unknown";
}

/* Issuer names are [A-Za-z0-9._-]{1,64} (vouch ca add-issuer enforces it). */
int vouchd_name_ok(const char *s)
{
    return vouchd_name_ok_max(s, NAME_MAX_LEN);
}

int vouchd_name_ok_max(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

json_t *vouchd_epoch_json(int64_t t)
{
    char out[32];
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    return json_string(out);
}

json_t *vouchd_time_json(const ASN1_TIME *t)
{
    struct tm tm;
    char out[32];
    if (!t || !ASN1_TIME_to_tm(t, &tm) || strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    return json_string(out);
}

json_t *vouchd_subject_json(X509 *c)
{
    return vouchd_name_json(X509_get_subject_name(c));
}

json_t *vouchd_name_json(const X509_NAME *name)
{
    char buf[1024];
    json_t *j = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int k = BIO_read(b, buf, (int)sizeof buf - 1);
        buf[k > 0 ? k : 0] = '\0';
        j = json_string(buf); /* NULL if not UTF-8 */
    }
    BIO_free(b);
    return j;
}

/* The text a memory BIO holds as a JSON string (NULL if none); frees b. */
static json_t *bio_json(BIO *b, int written)
{
    BUF_MEM *m = NULL;
    json_t *j = NULL;
    if (b && written && BIO_get_mem_ptr(b, &m) == 1 && m)
        j = json_stringn(m->data, m->length);
    BIO_free(b);
    return j;
}

json_t *vouchd_pem_json(X509 *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    return bio_json(b, b && PEM_write_bio_X509(b, c) == 1);
}

char *vouchd_pem_json_text(const uint8_t *der, size_t len)
{
    /* OpenSSL's PEM writer emits the BEGIN/END lines ('-', ' ', capitals)
     * and base64 lines, so the only character JSON needs escaped is the
     * newline. jansson would check every one of ~900 characters as UTF-8
     * when the string is made and again when it is written: 4 % of an
     * issuance (docs/perf.md). Anything outside that alphabet (which the
     * writer never produces) fails the call instead of being copied. */
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m = NULL;
    char *out = NULL;
    if (b && len <= LONG_MAX && PEM_write_bio(b, PEM_STRING_X509, "", der, (long)len) > 0 &&
        BIO_get_mem_ptr(b, &m) == 1 && m && m->length > 0 &&
        (out = malloc(2 * m->length + 3)) != NULL) {
        size_t o = 0;
        out[o++] = '"';
        for (size_t i = 0; i < m->length && out; i++) {
            unsigned char ch = (unsigned char)m->data[i];
            if (ch == '\n') {
                out[o++] = '\\';
                out[o++] = 'n';
            } else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                       (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=' ||
                       ch == '-' || ch == ' ') {
                out[o++] = (char)ch;
            } else {
                free(out);
                out = NULL;
            }
        }
        if (out) {
            out[o++] = '"';
            out[o] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

/* The JSON view of one issuer; NULL when its certificate does not parse or
 * memory runs out (the caller answers 500). "parent" is added later, by
 * name, from parent_id. */
static json_t *issuer_json(const vouch_store_issuer *is)
{
    const unsigned char *p = is->cert_der;
    X509 *c = d2i_X509(NULL, &p, (long)is->cert_der_len);
    uint8_t ser[VOUCH_PKI_SERIAL_MAX], fp[32];
    size_t sl = 0;
    unsigned fl = 0;
    char serhex[VOUCH_PKI_SERIAL_HEX_MAX], fphex[65];
    json_t *o = NULL;

    if (!c || p != is->cert_der + is->cert_der_len)
        goto out;
    if (vouch_pki_cert_serial(c, ser, &sl) != VOUCH_PKI_OK ||
        vouch_pki_serial_to_hex(ser, sl, serhex, sizeof serhex) != VOUCH_PKI_OK)
        goto out;
    if (!X509_digest(c, EVP_sha256(), fp, &fl) || fl != 32)
        goto out;
    for (int i = 0; i < 32; i++)
        snprintf(fphex + 2 * i, 3, "%02x", fp[i]);
    o = json_pack("{s:s, s:s, s:o?, s:o?, s:o?, s:s, s:s, s:s, s:o?}", "name", is->name, "kind",
                  kind_name(is->kind), "subject", vouchd_subject_json(c), "not_before",
                  vouchd_time_json(X509_get0_notBefore(c)), "not_after",
                  vouchd_time_json(X509_get0_notAfter(c)), "serial", serhex, "sha256", fphex,
                  "key_storage", is->key_pem ? "database" : "external", "certificate_pem",
                  vouchd_pem_json(c));
    if (o && (!json_is_string(json_object_get(o, "subject")) ||
              !json_is_string(json_object_get(o, "not_before")) ||
              !json_is_string(json_object_get(o, "not_after")) ||
              !json_is_string(json_object_get(o, "certificate_pem")))) {
        json_decref(o);
        o = NULL;
    }
out:
    X509_free(c);
    ERR_clear_error();
    return o;
}

/* ---- GET /v1/issuers ------------------------------------------------------------- */

typedef struct list_ctx {
    json_t *arr;
    json_int_t *ids, *parents; /* parallel to arr */
    size_t cap;
    int bad;
} list_ctx;

static int list_cb(void *arg, const vouch_store_issuer *is)
{
    list_ctx *l = arg;
    size_t n = json_array_size(l->arr);
    if (n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        json_int_t *a = realloc(l->ids, cap * sizeof *a);
        if (!a)
            goto bad;
        l->ids = a;
        a = realloc(l->parents, cap * sizeof *a);
        if (!a)
            goto bad;
        l->parents = a;
        l->cap = cap;
    }
    json_t *o = issuer_json(is);
    if (!o || json_array_append_new(l->arr, o) != 0)
        goto bad;
    l->ids[n] = is->id;
    l->parents[n] = is->parent_id;
    return 0;
bad:
    l->bad = 1;
    return 1;
}

void vouchd_h_issuers_list(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest)
{
    list_ctx l = {.arr = json_array()};
    char err[256] = "";
    if (!l.arr) {
        vouchd_send_json(req, 500, NULL);
        return;
    }
    vouch_store_rc rc = vouch_store_issuer_list(w->store, list_cb, &l, err, sizeof err);
    if (l.bad) {
        vouchd_log("GET /v1/issuers: an issuer certificate does not parse, or out of memory");
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot list the issuers (see the server log)");
        goto out;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "listing the issuers", err);
        goto out;
    }
    /* parent names, by id, now that the store's statement is done */
    for (size_t i = 0; i < json_array_size(l.arr); i++) {
        if (!l.parents[i])
            continue;
        for (size_t k = 0; k < json_array_size(l.arr); k++)
            if (l.ids[k] == l.parents[i]) {
                json_object_set(json_array_get(l.arr, i), "parent",
                                json_object_get(json_array_get(l.arr, k), "name"));
                break;
            }
    }
    vouchd_send_json(req, 200, json_pack("{s:O}", "issuers", l.arr));
out:
    json_decref(l.arr);
    free(l.ids);
    free(l.parents);
}

/* ---- GET /v1/issuers/<name> ------------------------------------------------------- */

void vouchd_h_issuers_get(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, const char *rest)
{
    vouch_store_issuer is, parent;
    char err[256] = "";
    memset(&is, 0, sizeof is);
    memset(&parent, 0, sizeof parent);
    if (!vouchd_name_ok(rest)) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such issuer (names are 1 to 64 of A-Z a-z 0-9 . _ -)");
        return;
    }
    vouch_store_rc rc = vouch_store_issuer_get_by_name(w->store, rest, &is, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no issuer named '%s'", rest);
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "reading an issuer", err);
        return;
    }
    json_t *o = issuer_json(&is);
    if (!o) {
        vouchd_log("issuer '%s': its certificate does not parse, or out of memory", is.name);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot read the issuer (see the server log)");
        goto out;
    }
    if (is.parent_id) {
        rc = vouch_store_issuer_get_by_id(w->store, is.parent_id, &parent, err, sizeof err);
        if (rc != VOUCH_STORE_OK) {
            json_decref(o);
            vouchd_send_store_error(req, rc, "reading an issuer's parent", err);
            goto out;
        }
        json_object_set_new(o, "parent", json_string(parent.name));
    }
    vouchd_send_json(req, 200, o);
out:
    vouch_store_issuer_clear(&parent);
    vouch_store_issuer_clear(&is);
}
