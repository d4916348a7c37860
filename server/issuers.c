/*
 * The worker's issuer cache: every issuer of the data directory as the
 * server uses it — certificate, signing key, chain, OCSP match hashes.
 *
 * Keys stored in the database are decrypted with the data directory's CA
 * key passphrase on first use and kept, as signers, in the worker's own
 * cache (no locking: a worker only touches its own). Keys held in a
 * vouch-se are opened through pki/se_key.h, one SE connection per worker
 * (the SE serializes commands; the key never enters this process). An
 * issuer whose SE cannot be reached is not cached: the next request tries
 * again.
 * vouchd_issuers_free frees them at shutdown (OpenSSL clears private
 * scalars when it frees a key). Issuers are never changed once stored, so a
 * cached entry never goes stale; issuers added while the server runs are
 * found on the next lookup by name or by vouchd_issuers_all.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "pki/se_key.h"
#include "server/http.h"

#define CHAIN_MAX 8

struct vouchd_issuer_cache {
    size_t n, cap;
    vouchd_issuer **e;
};

static void entry_free(vouchd_issuer *e)
{
    if (!e)
        return;
    vouch_pki_signer_free(e->own_signer);
    vouch_se_key_close(e->se_key);
    X509_free(e->cert);
    free(e->chain_json);
    free(e->chain_pem);
    free(e->der);
    free(e);
}

void vouchd_issuers_free(vouchd_worker *w)
{
    if (!w || !w->issuers)
        return;
    for (size_t i = 0; i < w->issuers->n; i++)
        entry_free(w->issuers->e[i]);
    free(w->issuers->e);
    free(w->issuers);
    w->issuers = NULL;
}

X509 *vouchd_der_cert(const uint8_t *der, size_t len)
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

int vouchd_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* Append the PEM of c to the growing string *s (length *n). */
static int pem_append(char **s, size_t *n, X509 *c)
{
    json_t *pem = vouchd_pem_json(c);
    if (!pem)
        return -1;
    size_t l = json_string_length(pem);
    char *t = realloc(*s, *n + l + 1);
    if (!t) {
        json_decref(pem);
        return -1;
    }
    memcpy(t + *n, json_string_value(pem), l);
    *n += l;
    t[*n] = '\0';
    *s = t;
    json_decref(pem);
    return 0;
}

/* The issuer's chain as a serialized JSON array of PEM strings and as one
 * PEM text, starting with the issuer itself, up to the root. */
static int build_chain(vouchd_worker *w, vouchd_issuer *e, int64_t parent)
{
    char err[256] = "";
    int ret = -1;
    json_t *chain = json_array();
    if (!chain || json_array_append_new(chain, vouchd_pem_json(e->cert)) != 0 ||
        pem_append(&e->chain_pem, &e->chain_pem_len, e->cert) != 0)
        goto out;
    for (int depth = 0; parent && depth < CHAIN_MAX; depth++) {
        vouch_store_issuer p;
        memset(&p, 0, sizeof p);
        vouch_store_rc rc = vouch_store_issuer_get_by_id(w->store, parent, &p, err, sizeof err);
        if (rc != VOUCH_STORE_OK) {
            vouchd_log("issuer %lld: %s", (long long)parent, *err ? err : vouch_store_strerror(rc));
            goto out;
        }
        X509 *c = vouchd_der_cert(p.cert_der, p.cert_der_len);
        json_t *pem = c ? vouchd_pem_json(c) : NULL;
        int bad = !pem || pem_append(&e->chain_pem, &e->chain_pem_len, c) != 0;
        X509_free(c);
        parent = p.parent_id;
        vouch_store_issuer_clear(&p);
        if (bad || json_array_append_new(chain, pem) != 0)
            goto out;
    }
    if ((e->chain_json = json_dumps(chain, JSON_COMPACT)) != NULL)
        ret = 0;
out:
    json_decref(chain);
    return ret;
}

/* A loaded issuer, or NULL with *why set (and the reason logged);
 * *transient when the cause may pass (a vouch-se that did not answer). */
static vouchd_issuer *load(vouchd_worker *w, const vouch_store_issuer *is, const char **why,
                           int *transient)
{
    vouchd_issuer *e = calloc(1, sizeof *e);
    EVP_PKEY *key = NULL;
    *why = "out of memory";
    *transient = 0;
    if (!e)
        return NULL;
    snprintf(e->name, sizeof e->name, "%s", is->name);
    e->id = is->id;
    e->kind = is->kind;
    e->parent_id = is->parent_id;
    e->cert = vouchd_der_cert(is->cert_der, is->cert_der_len);
    if (!e->cert || vouchd_asn1_time(X509_get0_notAfter(e->cert), &e->not_after) != 0) {
        vouchd_log("issuer '%s': its certificate does not parse", is->name);
        *why = "its certificate does not parse";
        goto fail;
    }
    if (!(e->der = malloc(is->cert_der_len)))
        goto fail;
    memcpy(e->der, is->cert_der, is->cert_der_len);
    e->der_len = is->cert_der_len;
    if (is->key_pem) {
        vouch_pki_rc prc = vouch_pki_key_decrypt(is->key_pem, strlen(is->key_pem),
                                                 (const uint8_t *)w->cfg->ca_pass,
                                                 strlen(w->cfg->ca_pass), &key);
        if (prc != VOUCH_PKI_OK) {
            ERR_clear_error();
            vouchd_log("issuer '%s': its key does not load: %s%s", is->name,
                       vouch_pki_strerror(prc),
                       prc == VOUCH_PKI_E_DECRYPT ? " (wrong master.key?)" : "");
            *why = "its key does not load";
            goto fail;
        }
        prc = vouch_pki_signer_from_key(key, &e->own_signer);
        vouch_pki_key_free(key);
        if (prc != VOUCH_PKI_OK) {
            vouchd_log("issuer '%s': cannot make a signer: %s", is->name, vouch_pki_strerror(prc));
            *why = "cannot make a signer";
            goto fail;
        }
        e->signer = e->own_signer;
    } else if (is->key_ref) {
        char ewhy[256] = "";
        vouch_pki_rc prc = vouch_se_key_open(is->key_ref, &e->se_key, ewhy, sizeof ewhy);
        if (prc != VOUCH_PKI_OK) {
            vouchd_log("issuer '%s': its key in %s cannot be used: %s", is->name, is->key_ref,
                       *ewhy ? ewhy : vouch_pki_strerror(prc));
            *why = "its key is held in a vouch-se that cannot be used now (see the server log)";
            *transient = prc != VOUCH_PKI_E_PARSE;
            goto fail;
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(e->cert), vouch_se_key_public(e->se_key)) != 1) {
            vouchd_log("issuer '%s': the key in %s is not the key of its certificate", is->name,
                       is->key_ref);
            *why = "its key in the vouch-se does not match its certificate";
            goto fail;
        }
        e->signer = vouch_se_key_signer(e->se_key);
    } else {
        vouchd_log("issuer '%s': the store holds neither a key nor a key reference", is->name);
        *why = "it has no key";
        goto fail;
    }
    if (build_chain(w, e, is->parent_id) != 0) {
        vouchd_log("issuer '%s': cannot build its chain", is->name);
        *why = "cannot build its chain";
        goto fail;
    }
    if (e->signer &&
        vouch_pki_ocsp_issuer_init(&e->ocsp, e->cert, e->signer, NULL) != VOUCH_PKI_OK) {
        vouchd_log("issuer '%s': cannot hash it for OCSP", is->name);
        *why = "cannot hash it for OCSP";
        goto fail;
    }
    return e;
fail:
    ERR_clear_error();
    entry_free(e);
    return NULL;
}

static int cache_add(vouchd_worker *w, vouchd_issuer *e)
{
    struct vouchd_issuer_cache *c = w->issuers;
    if (!c && !(c = w->issuers = calloc(1, sizeof *c)))
        return -1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        vouchd_issuer **t = realloc(c->e, cap * sizeof *t);
        if (!t)
            return -1;
        c->e = t;
        c->cap = cap;
    }
    c->e[c->n++] = e;
    return 0;
}

static vouchd_issuer *cached(vouchd_worker *w, const char *name, int64_t id)
{
    struct vouchd_issuer_cache *c = w->issuers;
    for (size_t i = 0; c && i < c->n; i++)
        if (name ? strcmp(c->e[i]->name, name) == 0 : c->e[i]->id == id)
            return c->e[i];
    return NULL;
}

vouchd_issuer *vouchd_issuer_find(vouchd_worker *w, const char *name, int64_t id,
                                  struct evhttp_request *req)
{
    vouch_store_issuer is;
    char err[256] = "";
    const char *why = "";
    int transient = 0;
    vouchd_issuer *e;

    if (name && !vouchd_name_ok(name)) {
        if (req)
            vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER,
                              "no such issuer (names are 1 to 64 of A-Z a-z 0-9 . _ -)");
        return NULL;
    }
    if ((e = cached(w, name, id)) != NULL)
        return e;
    memset(&is, 0, sizeof is);
    vouch_store_rc rc = name ? vouch_store_issuer_get_by_name(w->store, name, &is, err, sizeof err)
                             : vouch_store_issuer_get_by_id(w->store, id, &is, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND || rc == VOUCH_STORE_E_UNKNOWN_ISSUER) {
        if (req && name)
            vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no issuer named '%s'", name);
        else if (req)
            vouchd_send_error(req, 404, VOUCHD_E_UNKNOWN_ISSUER, "no such issuer");
        return NULL;
    }
    if (rc != VOUCH_STORE_OK) {
        if (req)
            vouchd_send_store_error(req, rc, "reading an issuer", err);
        else
            vouchd_log("reading an issuer: %s", *err ? err : vouch_store_strerror(rc));
        return NULL;
    }
    e = load(w, &is, &why, &transient);
    if (e && cache_add(w, e) != 0) {
        entry_free(e);
        e = NULL;
        why = "out of memory";
    }
    if (!e && req && transient)
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE, "cannot use issuer '%s' now: %s; try again",
                          is.name, why);
    else if (!e && req)
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot use issuer '%s': %s",
                          is.name, why);
    vouch_store_issuer_clear(&is);
    return e;
}

typedef struct id_list {
    int64_t *v;
    size_t n, cap;
} id_list;

static int ids_cb(void *ctx, const vouch_store_issuer *is)
{
    id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        int64_t *t = realloc(l->v, cap * sizeof *t);
        if (!t)
            return 1;
        l->v = t;
        l->cap = cap;
    }
    l->v[l->n++] = is->id;
    return 0;
}

int vouchd_issuers_all(vouchd_worker *w, int refresh, vouchd_issuer *const **out, size_t *n)
{
    char err[256] = "";
    id_list ids = {NULL, 0, 0};
    vouch_store_rc rc = VOUCH_STORE_OK;
    if (refresh || !w->issuers) {
        /* ids first: a listing callback must not query the same store */
        rc = vouch_store_issuer_list(w->store, ids_cb, &ids, err, sizeof err);
        for (size_t i = 0; rc == VOUCH_STORE_OK && i < ids.n; i++)
            if (!cached(w, NULL, ids.v[i]))
                (void)vouchd_issuer_find(w, NULL, ids.v[i], NULL); /* failures are logged */
        free(ids.v);
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("listing issuers: %s", *err ? err : vouch_store_strerror(rc));
        return -1;
    }
    *out = w->issuers ? w->issuers->e : NULL;
    *n = w->issuers ? w->issuers->n : 0;
    return 0;
}
