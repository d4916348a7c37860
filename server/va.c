/*
 * The validation authority: issuer certificates (/ca/<issuer>.crt), CRLs
 * (/crl/<issuer>.crl) and the OCSP responder (POST /ocsp, GET /ocsp/<b64>).
 * docs/api.md ("Validation authority") is the contract; docs/pki.md says
 * what the pki library does underneath.
 *
 * CRLs: built from the store, never per request. One server-wide cache
 * (g.mu) holds each issuer's current DER with a revocation generation:
 * vouchd_va_revoked bumps it, so a CRL built from a store read that started
 * before the bump is known to be stale. A GET serves the cached DER when it
 * is current; otherwise it builds (or waits for the build already running:
 * one build per issuer at a time, so CRL numbers go out in build order and
 * a newer CRL never carries a lower number). A background thread with its
 * own store connection and its own issuer keys rebuilds dirty CRLs soon
 * after a revocation (so the next GET does not pay for it) and every CRL
 * once half of its 24 h validity has passed. The DER is refcounted: a
 * worker hands it to libevent by reference and never holds the lock while
 * sending.
 *
 * OCSP: each worker keeps its own cache of signed responses to nonce-less
 * single-CertID requests, keyed by the request's DER bytes, so a hit costs
 * a hash, a memcmp and a send: no ASN.1 parse, no database, no signature.
 * (The request bytes determine the CertID exactly, hash algorithm and
 * parameter encoding included, which the response must echo; different
 * encodings of one CertID simply get their own entries.) An entry is valid
 * until half-way to its nextUpdate, and only while the revocation
 * generation of its (issuer, serial) slot is unchanged: g_gen is an array
 * of counters indexed by a hash of (issuer id, serial), bumped by
 * vouchd_va_revoked on the revoking worker before it answers. A miss reads
 * the slot's generation BEFORE it reads the store, so a response built
 * from a store read that raced with a revocation carries the old
 * generation and is dropped at its first lookup after the bump. The cache
 * is set-associative (OC_WAYS entries per set, least recently used
 * evicted): its size is bounded and crafted requests cannot make a lookup
 * walk a long chain.
 *
 * Keys in a vouch-se: CRLs and OCSP answers are signed there like
 * certificates. When the SE does not answer, signing fails with
 * VOUCH_PKI_E_SIGNER, answered 503 / tryLater (cached CRLs and OCSP
 * answers are still served); an issuer whose SE was down when the worker
 * first needed it is still recognised by its CertID hashes (taken from
 * its certificate in the store) and answered tryLater, and picked up
 * again on the next refresh of the issuer list.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "server/http.h"
#include "store/store.h"

/* ---- limits and timing ------------------------------------------------------ */

#define CRL_VALIDITY_S (24 * 3600)          /* nextUpdate - thisUpdate */
#define CRL_REBUILD_S (CRL_VALIDITY_S / 2)  /* background rebuild after this */
#define CRL_CHECK_MS 5000                   /* the background thread looks at least this often */
#define CRL_DEBOUNCE_MS 200                 /* after a revocation, wait for more to batch */
#define CRL_RETRY_S 30                      /* background retry after a failed build */
#define ISSUERS_REFRESH_S 60                /* background: look for new issuers */

#define OCSP_REQ_MAX (16 * 1024)            /* DER request, as vouch_pki_ocsp_request_parse */
#define OCSP_B64_MAX (4 * ((OCSP_REQ_MAX + 2) / 3))
#define OCSP_VALIDITY_S 3600                /* nextUpdate - thisUpdate */
#define OCSP_FRESH_S (OCSP_VALIDITY_S / 2)  /* a cached response is replaced after this */
#define OCSP_UNKNOWN_FRESH_S 60             /* ... an "unknown" one sooner */
#define OC_WAYS 4
#define OC_SETS 16384                       /* 65,536 cached responses per worker */
#define OC_KEY_MAX 512                      /* longer requests are not cached */
#define GEN_SLOTS 4096                      /* revocation generation counters */
#define MATCH_REFRESH_S 1                   /* issuer list re-read on a miss, at most this often */

/* ---- server-wide state ---------------------------------------------------------- */

typedef struct crl_blob {
    atomic_int refs;
    time_t this_update, next_update;
    int64_t number;
    char etag[68];          /* "\"<sha256 hex>\"" */
    char last_modified[32]; /* thisUpdate as an HTTP date */
    size_t len;
    uint8_t der[];
} crl_blob;

typedef struct crl_entry {
    int64_t issuer_id;
    crl_blob *blob;      /* current CRL, NULL before the first build */
    uint64_t gen;        /* revocations seen */
    uint64_t built_gen;  /* revocations the blob includes */
    long long dirty_ms;  /* monotonic time it became dirty */
    int building;        /* a build runs (one at a time) */
    time_t retry_at;     /* background: not before (after a failure) */
    int warned;          /* background: failure logged */
    struct crl_entry *next;
} crl_entry;

enum { OERR_MALFORMED, OERR_UNAUTHORIZED, OERR_INTERNAL, OERR_TRYLATER, OERR_N };

static struct {
    int started;
    pthread_mutex_t mu;
    pthread_cond_t wake;  /* background thread: work or stop */
    pthread_cond_t built; /* a build finished */
    int stop;
    crl_entry *crls;
    pthread_t thread;
    vouchd_worker bg;     /* the background thread's store and issuer keys (base NULL) */
    uint8_t *oerr[OERR_N]; /* unsuccessful OCSP responses, made once */
    size_t oerr_len[OERR_N];
} g;

static const int oerr_status[OERR_N] = {
    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, OCSP_RESPONSE_STATUS_UNAUTHORIZED,
    OCSP_RESPONSE_STATUS_INTERNALERROR, OCSP_RESPONSE_STATUS_TRYLATER};

static _Atomic uint64_t g_gen[GEN_SLOTS];
static uint64_t g_seed; /* cache hash seed, random per process */

/* ---- small helpers ----------------------------------------------------------------- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_date(time_t t, char out[32])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        out[0] = '\0';
}

/* "\"<64 hex>\"" of SHA-256(data). */
static int etag_of(const uint8_t *data, size_t len, char out[68])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        ERR_clear_error();
        out[0] = '\0';
        return -1;
    }
    out[0] = '"';
    for (int i = 0; i < 32; i++) {
        out[1 + 2 * i] = hex[md[i] >> 4];
        out[2 + 2 * i] = hex[md[i] & 15];
    }
    out[65] = '"';
    out[66] = '\0';
    return 0;
}

/* FNV-1a, 64 bits: a hash-table hash, not a security boundary (the cache
 * is set-associative, so collisions only cost evictions). */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The revocation generation slot of (issuer, serial); the same on every
 * thread. */
static uint32_t gen_slot(int64_t issuer_id, const uint8_t *serial, size_t len)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, &issuer_id, sizeof issuer_id);
    h = fnv(h, serial, len);
    return (uint32_t)(h ^ (h >> 32)) & (GEN_SLOTS - 1);
}

/* The If-None-Match header lists this ETag (or is "*"). */
static int etag_matches(struct evhttp_request *req, const char *etag)
{
    const char *inm =
        evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    return inm && etag[0] && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

/* "<name><suffix>" -> name, when name is a plausible issuer name. */
static int strip_suffix(const char *rest, const char *suffix, char name[65])
{
    size_t n = strlen(rest), s = strlen(suffix);
    if (n <= s || n - s > 64 || strcmp(rest + n - s, suffix) != 0)
        return -1;
    memcpy(name, rest, n - s);
    name[n - s] = '\0';
    return 0;
}

/* ---- GET /ca/<issuer>.crt ----------------------------------------------------------- */

void vouchd_h_ca_cert(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                      const char *rest)
{
    char name[65];
    if (strip_suffix(rest, ".crt", name) != 0) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such resource (CA certificates are at /ca/<issuer>.crt)");
        return;
    }
    vouchd_issuer *is = vouchd_issuer_find(w, name, 0, req);
    if (!is)
        return; /* answered */
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/pkix-cert");
    /* an issuer's certificate never changes under its name */
    evhttp_add_header(h, "Cache-Control", "public, max-age=86400");
    if (evbuffer_add(evhttp_request_get_output_buffer(req), is->der, is->der_len) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* ---- CRLs ---------------------------------------------------------------------------- */

static void blob_unref(crl_blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

static void blob_cleanup(const void *data, size_t len, void *arg)
{
    blob_unref(arg);
}

/* The entry of an issuer, created if missing; g.mu held. NULL: no memory. */
static crl_entry *crl_entry_get(int64_t issuer_id)
{
    crl_entry *e;
    for (e = g.crls; e; e = e->next)
        if (e->issuer_id == issuer_id)
            return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->issuer_id = issuer_id;
    e->next = g.crls;
    g.crls = e;
    return e;
}

typedef struct rev_list {
    vouch_pki_revoked *v;
    size_t n, cap;
    int bad;
} rev_list;

static int rev_cb(void *ctx, const vouch_store_revoked *r)
{
    rev_list *l = ctx;
    if (r->serial_len < 1 || r->serial_len > VOUCH_PKI_SERIAL_MAX) {
        l->bad = 1; /* the store never holds such a serial */
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        vouch_pki_revoked *t = realloc(l->v, cap * sizeof *t);
        if (!t)
            return 1;
        l->v = t;
        l->cap = cap;
    }
    vouch_pki_revoked *e = &l->v[l->n++];
    memcpy(e->serial, r->serial, r->serial_len);
    e->serial_len = r->serial_len;
    e->revoked_at = (time_t)r->revoked_at;
    e->reason = r->reason < 0 ? VOUCH_PKI_REASON_UNSPECIFIED : r->reason;
    return 0;
}

typedef enum { BUILD_OK = 0, BUILD_BUSY, BUILD_FAILED } build_rc;

/* Build and sign the issuer's CRL from w's store: every revoked
 * certificate of the issuer, the next stored CRL number. */
static build_rc crl_build(vouchd_worker *w, const vouchd_issuer *is, crl_blob **out)
{
    rev_list l = {0};
    char err[256] = "";
    int64_t number = 0;
    X509_CRL *crl = NULL;
    crl_blob *b = NULL;
    build_rc ret = BUILD_FAILED;

    *out = NULL;
    vouch_store_rc rc = vouch_store_cert_list_revoked(w->store, is->id, rev_cb, &l, err, sizeof err);
    if (rc == VOUCH_STORE_OK)
        rc = vouch_store_issuer_next_crl_number(w->store, is->id, &number, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("CRL of '%s': %s%s", is->name, *err ? err : vouch_store_strerror(rc),
                   l.bad ? " (a revoked entry has a bad serial)" : "");
        ret = rc == VOUCH_STORE_E_BUSY ? BUILD_BUSY : BUILD_FAILED;
        goto out;
    }
    time_t now = time(NULL);
    vouch_pki_rc prc = vouch_pki_crl_build(is->cert, is->signer, l.v, l.n, (uint64_t)number, now,
                                           now + CRL_VALIDITY_S, &crl);
    if (prc != VOUCH_PKI_OK) {
        vouchd_log("CRL of '%s': cannot build it: %s", is->name, vouch_pki_strerror(prc));
        if (prc == VOUCH_PKI_E_SIGNER)
            ret = BUILD_BUSY; /* its vouch-se did not sign: may work later */
        goto out;
    }
    int len = i2d_X509_CRL(crl, NULL);
    if (len <= 0 || !(b = malloc(sizeof *b + (size_t)len))) {
        vouchd_log("CRL of '%s': cannot encode it", is->name);
        goto out;
    }
    unsigned char *p = b->der;
    if (i2d_X509_CRL(crl, &p) != len) {
        vouchd_log("CRL of '%s': cannot encode it", is->name);
        free(b);
        b = NULL;
        goto out;
    }
    atomic_init(&b->refs, 1);
    b->len = (size_t)len;
    b->this_update = now;
    b->next_update = now + CRL_VALIDITY_S;
    b->number = number;
    etag_of(b->der, b->len, b->etag);
    http_date(now, b->last_modified);
    *out = b;
    ret = BUILD_OK;
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    free(l.v);
    return ret;
}

/* Rebuild e with w's store and issuer (is NULL: look it up by id, which
 * only the background worker does). Called and returns with g.mu held and
 * e->building clear; sets it while it works without the lock. */
static build_rc crl_rebuild_locked(crl_entry *e, vouchd_worker *w, vouchd_issuer *is)
{
    uint64_t gen = e->gen; /* before the store is read: see the top of the file */
    int64_t id = e->issuer_id;
    crl_blob *b = NULL;
    build_rc rc = BUILD_FAILED;

    e->building = 1;
    pthread_mutex_unlock(&g.mu);
    if (!is && (is = vouchd_issuer_find(w, NULL, id, NULL)) != NULL && !is->signer)
        is = NULL; /* no key to sign with */
    if (is)
        rc = crl_build(w, is, &b);
    pthread_mutex_lock(&g.mu);
    e->building = 0;
    if (rc == BUILD_OK) {
        crl_blob *old = e->blob;
        e->blob = b;
        e->built_gen = gen;
        e->retry_at = 0;
        e->warned = 0;
        blob_unref(old);
    }
    pthread_cond_broadcast(&g.built);
    return rc;
}

/* The issuer's current CRL (a reference: blob_unref it), including every
 * revocation vouchd_va_revoked was told of before this call. NULL with
 * *rc set when it cannot be built. */
static crl_blob *crl_current(vouchd_worker *w, vouchd_issuer *is, build_rc *rc)
{
    crl_blob *b = NULL;
    int tried = 0;

    *rc = BUILD_FAILED;
    pthread_mutex_lock(&g.mu);
    crl_entry *e = crl_entry_get(is->id);
    while (e) {
        if (e->blob && e->built_gen == e->gen && time(NULL) < e->blob->next_update) {
            b = e->blob;
            atomic_fetch_add(&b->refs, 1);
            *rc = BUILD_OK;
            break;
        }
        if (e->building) {
            pthread_cond_wait(&g.built, &g.mu);
            continue;
        }
        if (tried)
            break; /* *rc from our own attempt */
        tried = 1;
        *rc = crl_rebuild_locked(e, w, is);
    }
    pthread_mutex_unlock(&g.mu);
    return b;
}

void vouchd_h_crl(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                  const char *rest)
{
    char name[65];
    build_rc rc;
    if (strip_suffix(rest, ".crl", name) != 0) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND,
                          "no such resource (CRLs are at /crl/<issuer>.crl)");
        return;
    }
    vouchd_issuer *is = vouchd_issuer_find(w, name, 0, req);
    if (!is)
        return; /* answered */
    if (!is->signer) { /* (issuers.c does not hand out issuers without a key) */
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "the key of issuer '%s' cannot be used now; its CRL is not available",
                          is->name);
        return;
    }
    crl_blob *b = crl_current(w, is, &rc);
    if (!b) {
        if (rc == BUILD_BUSY)
            vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                              "the database is busy or the vouch-se holding the key of '%s' "
                              "did not answer; try again shortly",
                              is->name);
        else
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL,
                              "cannot build the CRL of '%s' (see the server log)", is->name);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char cc[64];
    long age = (long)(b->this_update + CRL_REBUILD_S - time(NULL));
    snprintf(cc, sizeof cc, "public, max-age=%ld", age > 0 ? age : 0);
    evhttp_add_header(h, "Content-Type", "application/pkix-crl");
    evhttp_add_header(h, "Cache-Control", cc);
    if (b->last_modified[0])
        evhttp_add_header(h, "Last-Modified", b->last_modified);
    if (b->etag[0])
        evhttp_add_header(h, "ETag", b->etag);
    if (etag_matches(req, b->etag)) {
        blob_unref(b);
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    /* by reference: the bytes stay alive until libevent has sent them */
    if (evbuffer_add_reference(evhttp_request_get_output_buffer(req), b->der, b->len,
                               blob_cleanup, b) != 0) {
        blob_unref(b);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* Background: every usable issuer gets an entry, so its CRL is built
 * before anyone asks for it. Without g.mu. */
static void bg_list_issuers(void)
{
    vouchd_issuer *const *list = NULL;
    size_t n = 0;
    if (vouchd_issuers_all(&g.bg, 1, &list, &n) != 0)
        return; /* logged */
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < n; i++)
        if (list[i]->signer)
            (void)crl_entry_get(list[i]->id);
    pthread_mutex_unlock(&g.mu);
}

static void *crl_thread(void *arg)
{
    time_t next_list = 0;
    pthread_setname_np(pthread_self(), "vouchd-crl");
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        time_t now = time(NULL);
        if (now >= next_list) {
            pthread_mutex_unlock(&g.mu);
            bg_list_issuers();
            pthread_mutex_lock(&g.mu);
            next_list = now + ISSUERS_REFRESH_S;
            continue;
        }
        long long m = mono_ms(), wait = CRL_CHECK_MS;
        crl_entry *pick = NULL;
        for (crl_entry *e = g.crls; e && !pick; e = e->next) {
            if (e->building)
                continue;
            long long due;
            if (!e->blob)
                due = m;
            else if (e->built_gen != e->gen)
                due = e->dirty_ms + CRL_DEBOUNCE_MS;
            else
                due = m + 1000LL * (long long)(e->blob->this_update + CRL_REBUILD_S - now);
            if (e->retry_at > now && due < m + 1000LL * (e->retry_at - now))
                due = m + 1000LL * (e->retry_at - now);
            if (due <= m)
                pick = e;
            else if (due - m < wait)
                wait = due - m;
        }
        if (pick) {
            if (crl_rebuild_locked(pick, &g.bg, NULL) != BUILD_OK) {
                pick->retry_at = time(NULL) + CRL_RETRY_S;
                if (!pick->warned)
                    vouchd_log("CRL of issuer %lld: background build failed; retrying every "
                               "%d s",
                               (long long)pick->issuer_id, CRL_RETRY_S);
                pick->warned = 1;
            }
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g.wake, &g.mu, &ts);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

/* ---- OCSP: the per-worker cache ----------------------------------------------------- */

typedef struct oc_entry {
    uint64_t h;          /* 0: empty */
    uint64_t gen;        /* g_gen[slot] when the store was read */
    int64_t issuer_id;
    time_t this_update, next_update, fresh_until;
    uint32_t slot, used;
    uint32_t key_len, resp_len;
    uint8_t *mem; /* key (request DER), response DER, ETag, Last-Modified, Expires */
} oc_entry;

#define OC_STR (68 + 32 + 32) /* ETag, Last-Modified, Expires, each NUL-terminated */

struct vouchd_va_worker {
    oc_entry *cache; /* OC_SETS * OC_WAYS */
    uint32_t tick;
    /* issuers as vouch_pki_ocsp_match wants them: a contiguous array */
    vouch_pki_ocsp_issuer *mt;
    vouchd_issuer **mi;
    size_t mn, listed;
    time_t refreshed;
    time_t warned; /* last failure logged */
    uint8_t der[OCSP_REQ_MAX + 4]; /* + what base64 padding decodes to */
    char b64[OCSP_B64_MAX + 4];
};

/* What the HTTP headers of a response say. */
typedef struct oc_meta {
    time_t this_update, next_update, fresh_until;
    const char *etag, *last_modified, *expires;
} oc_meta;

static const char *oc_etag(const oc_entry *e)
{
    return (const char *)e->mem + e->key_len + e->resp_len;
}

static uint64_t oc_hash(const uint8_t *der, size_t len)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL ^ g_seed, der, len);
    return h ? h : 1;
}

static oc_entry *oc_set(struct vouchd_va_worker *v, uint64_t h)
{
    return &v->cache[(size_t)((h >> 17) & (OC_SETS - 1)) * OC_WAYS];
}

/* A fresh cached response to exactly these request bytes, or NULL. */
static oc_entry *oc_find(struct vouchd_va_worker *v, uint64_t h, const uint8_t *der, size_t len,
                         time_t now)
{
    oc_entry *set = oc_set(v, h);
    for (int i = 0; i < OC_WAYS; i++) {
        oc_entry *e = &set[i];
        if (e->h != h || e->key_len != len || memcmp(e->mem, der, len) != 0)
            continue;
        if (now >= e->fresh_until || now < e->this_update ||
            e->gen != atomic_load_explicit(&g_gen[e->slot], memory_order_acquire))
            return NULL; /* stale; the new response will take its place */
        e->used = ++v->tick;
        return e;
    }
    return NULL;
}

static void oc_put(struct vouchd_va_worker *v, uint64_t h, const uint8_t *der, size_t len,
                   int64_t issuer_id, uint32_t slot, uint64_t gen, const uint8_t *resp,
                   size_t resp_len, const oc_meta *m)
{
    if (len > OC_KEY_MAX || resp_len > UINT32_MAX - OC_STR)
        return;
    oc_entry *set = oc_set(v, h), *e = NULL;
    for (int i = 0; i < OC_WAYS && !e; i++)
        if (set[i].h == h && set[i].key_len == len && memcmp(set[i].mem, der, len) == 0)
            e = &set[i];
    for (int i = 0; i < OC_WAYS && !e; i++)
        if (set[i].h == 0)
            e = &set[i];
    if (!e) {
        e = &set[0];
        for (int i = 1; i < OC_WAYS; i++)
            if ((int32_t)(set[i].used - e->used) < 0)
                e = &set[i];
    }
    uint8_t *mem = malloc(len + resp_len + OC_STR);
    if (!mem)
        return;
    free(e->mem);
    memcpy(mem, der, len);
    memcpy(mem + len, resp, resp_len);
    char *s = (char *)mem + len + resp_len;
    int k = snprintf(s, OC_STR, "%s%c%s%c%s", m->etag, 0, m->last_modified, 0, m->expires);
    if (k < 0 || k >= OC_STR)
        s[0] = s[1] = s[2] = '\0';
    e->mem = mem;
    e->h = h;
    e->gen = gen;
    e->issuer_id = issuer_id;
    e->slot = slot;
    e->key_len = (uint32_t)len;
    e->resp_len = (uint32_t)resp_len;
    e->this_update = m->this_update;
    e->next_update = m->next_update;
    e->fresh_until = m->fresh_until;
    e->used = ++v->tick;
}

static struct vouchd_va_worker *va_worker(vouchd_worker *w)
{
    if (w->va)
        return w->va;
    struct vouchd_va_worker *v = calloc(1, sizeof *v);
    if (!v || !(v->cache = calloc((size_t)OC_SETS * OC_WAYS, sizeof *v->cache))) {
        free(v);
        vouchd_log("worker %d: out of memory for the OCSP cache", w->index);
        return NULL;
    }
    w->va = v;
    return v;
}

void vouchd_va_worker_free(vouchd_worker *w)
{
    struct vouchd_va_worker *v = w ? w->va : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < (size_t)OC_SETS * OC_WAYS; i++)
        free(v->cache[i].mem);
    free(v->cache);
    free(v->mt);
    free(v->mi);
    free(v);
    w->va = NULL;
}

/* ---- OCSP: issuer matching ------------------------------------------------------------- */

/* The CertID hashes of a certificate, the same inputs as
 * vouch_pki_ocsp_issuer_init hashes (the DER subject and the public key
 * BIT STRING), for an issuer whose key cannot be used now. */
static int hash_cert(X509 *cert, vouch_pki_ocsp_issuer *o)
{
    unsigned int n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    memset(o, 0, sizeof *o);
    if (!X509_NAME_digest(X509_get_subject_name(cert), EVP_sha1(), o->name_sha1, &n1) ||
        !X509_pubkey_digest(cert, EVP_sha1(), o->key_sha1, &n2) ||
        !X509_NAME_digest(X509_get_subject_name(cert), EVP_sha256(), o->name_sha256, &n3) ||
        !X509_pubkey_digest(cert, EVP_sha256(), o->key_sha256, &n4) || n1 != 20 ||
        n2 != 20 || n3 != 32 || n4 != 32) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* Issuers in the store that the worker could not load (their vouch-se
 * does not answer): recognised, so their CertIDs are answered tryLater,
 * not unauthorized. */
typedef struct unusable {
    vouchd_issuer *const *list;
    size_t n;
    vouch_pki_ocsp_issuer *v;
    size_t len, cap;
} unusable;

static int unusable_cb(void *ctx, const vouch_store_issuer *si)
{
    unusable *u = ctx;
    for (size_t i = 0; i < u->n; i++)
        if (u->list[i]->id == si->id)
            return 0;
    X509 *c = vouchd_der_cert(si->cert_der, si->cert_der_len);
    if (!c)
        return 0;
    if (u->len == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 4;
        vouch_pki_ocsp_issuer *t = realloc(u->v, cap * sizeof *t);
        if (!t) {
            X509_free(c);
            return 1;
        }
        u->v = t;
        u->cap = cap;
    }
    if (hash_cert(c, &u->v[u->len]) == 0)
        u->len++;
    X509_free(c);
    return 0;
}

/* (Re)build the match table: the worker's usable issuers (mi[k] the
 * issuer), then, with refresh, the ones it could not load (mi[k] NULL).
 * -1: store failure or no memory. */
static int match_table(vouchd_worker *w, struct vouchd_va_worker *v, int refresh)
{
    vouchd_issuer *const *list = NULL;
    size_t n = 0, k = 0;
    char err[256] = "";
    if (vouchd_issuers_all(w, refresh, &list, &n) != 0)
        return -1;
    if (v->mt && !refresh && n == v->listed)
        return 0;
    unusable u = {list, n, NULL, 0, 0};
    if (refresh) {
        vouch_store_rc rc = vouch_store_issuer_list(w->store, unusable_cb, &u, err, sizeof err);
        if (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_STOPPED)
            vouchd_log("listing issuers: %s", *err ? err : vouch_store_strerror(rc));
    }
    vouch_pki_ocsp_issuer *mt = calloc(n + u.len + 1, sizeof *mt);
    vouchd_issuer **mi = calloc(n + u.len + 1, sizeof *mi);
    if (!mt || !mi) {
        free(mt);
        free(mi);
        free(u.v);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!list[i]->signer)
            continue; /* (issuers.c only caches issuers with a key) */
        mt[k] = list[i]->ocsp;
        mi[k++] = list[i];
    }
    for (size_t i = 0; i < u.len; i++)
        mt[k++] = u.v[i];
    free(u.v);
    free(v->mt);
    free(v->mi);
    v->mt = mt;
    v->mi = mi;
    v->mn = k;
    v->listed = n;
    return 0;
}

/* Is serial that of a CA certificate `is` signed at setup (vouch ca init,
 * add-issuer)? Those live in the issuers table, not among the issued
 * certificates, and are never revoked through the API, so they are good. */
static int sub_ca_serial(struct vouchd_va_worker *v, const vouchd_issuer *is,
                         const uint8_t *serial, size_t len)
{
    for (size_t k = 0; k < v->mn; k++) {
        uint8_t s[VOUCH_PKI_SERIAL_MAX];
        size_t n = 0;
        if (v->mi[k]->parent_id == is->id && v->mi[k] != is &&
            vouch_pki_cert_serial(v->mi[k]->cert, s, &n) == VOUCH_PKI_OK && n == len &&
            memcmp(s, serial, len) == 0)
            return 1;
    }
    return 0;
}

/* ---- OCSP: answering ---------------------------------------------------------------------- */

static void ocsp_send(struct evhttp_request *req, const uint8_t *der, size_t len,
                      const oc_meta *m, time_t now)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/ocsp-response");
    if (m && evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        /* RFC 5019 section 6.2 */
        char cc[96];
        long age = (long)(m->fresh_until - now);
        snprintf(cc, sizeof cc, "max-age=%ld, public, no-transform, must-revalidate",
                 age > 0 ? age : 0);
        evhttp_add_header(h, "Cache-Control", cc);
        if (m->last_modified[0])
            evhttp_add_header(h, "Last-Modified", m->last_modified);
        if (m->expires[0])
            evhttp_add_header(h, "Expires", m->expires);
        if (m->etag[0])
            evhttp_add_header(h, "ETag", m->etag);
        if (etag_matches(req, m->etag)) {
            evhttp_send_reply(req, 304, "Not Modified", NULL);
            return;
        }
    } else {
        evhttp_add_header(h, "Cache-Control", "no-store");
    }
    if (evbuffer_add(evhttp_request_get_output_buffer(req), der, len) != 0) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* An unsuccessful OCSP response. HTTP 200: the status is in the OCSP
 * response, which is what clients (openssl ocsp included) read. */
static void ocsp_fail(struct evhttp_request *req, int which)
{
    uint8_t *der = g.oerr[which];
    size_t len = g.oerr_len[which];
    uint8_t *tmp = NULL;
    if (!der) {
        if (vouch_pki_ocsp_error(oerr_status[which], &tmp, &len) != VOUCH_PKI_OK) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        der = tmp;
    }
    ocsp_send(req, der, len, NULL, 0);
    OPENSSL_free(tmp);
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* GET /ocsp/<url-encoded base64>: the DER request into v->der. 0, -1
 * malformed, -2 out of memory. */
static int get_request_der(struct vouchd_va_worker *v, const char *rest, size_t *len)
{
    size_t n = 0, pad = 0;
    /* decode_plus 0: '+' is a base64 digit here, not a space */
    char *s = evhttp_uridecode(rest, 0, &n);
    if (!s)
        return -2;
    int ok = n > 0 && n <= OCSP_B64_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        if (s[i] == '=')
            pad++;
        else if (pad || !b64_char((unsigned char)s[i]))
            ok = 0; /* not base64, or data after padding */
    }
    if (ok && (pad > 2 || (n - pad) % 4 == 1))
        ok = 0;
    if (ok) {
        /* EVP_DecodeBlock wants whole quanta: restore padding a client
         * may have left out */
        memcpy(v->b64, s, n);
        while (n % 4) {
            v->b64[n++] = '=';
            pad++;
        }
        if (pad > 2)
            ok = 0;
    }
    free(s);
    if (!ok)
        return -1;
    int k = EVP_DecodeBlock(v->der, (const unsigned char *)v->b64, (int)n);
    if (k < 0 || (size_t)k < pad) {
        ERR_clear_error();
        return -1;
    }
    *len = (size_t)k - pad; /* EVP_DecodeBlock counts padding as zero bytes */
    return *len > 0 && *len <= OCSP_REQ_MAX ? 0 : -1;
}

void vouchd_h_ocsp(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                   const char *rest)
{
    struct vouchd_va_worker *v = va_worker(w);
    size_t len = 0;
    time_t now = time(NULL);

    if (!v) {
        ocsp_fail(req, OERR_INTERNAL);
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (len == 0 || len > OCSP_REQ_MAX ||
            evbuffer_copyout(in, v->der, len) != (ev_ssize_t)len) {
            ocsp_fail(req, OERR_MALFORMED);
            return;
        }
    } else {
        int r = get_request_der(v, rest, &len);
        if (r != 0) {
            ocsp_fail(req, r == -2 ? OERR_INTERNAL : OERR_MALFORMED);
            return;
        }
    }

    /* the hot path: these exact bytes were answered recently */
    uint64_t h = oc_hash(v->der, len);
    oc_entry *hit = oc_find(v, h, v->der, len, now);
    if (hit) {
        const char *etag = oc_etag(hit);
        const char *lm = etag + strlen(etag) + 1;
        oc_meta m = {hit->this_update, hit->next_update, hit->fresh_until, etag, lm,
                     lm + strlen(lm) + 1};
        ocsp_send(req, hit->mem + hit->key_len, hit->resp_len, &m, now);
        return;
    }

    vouch_pki_ocsp_request *r = NULL;
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    vouch_store_cert c;
    memset(&c, 0, sizeof c);
    if (vouch_pki_ocsp_request_parse(v->der, len, &r) != VOUCH_PKI_OK) {
        ocsp_fail(req, OERR_MALFORMED);
        return;
    }
    size_t n = vouch_pki_ocsp_request_count(r), nonce_len = 0;
    const uint8_t *nonce = vouch_pki_ocsp_request_nonce(r, &nonce_len);
    vouch_pki_ocsp_single ans[VOUCH_PKI_OCSP_IDS_MAX];
    uint8_t serial[VOUCH_PKI_OCSP_IDS_MAX][VOUCH_PKI_SERIAL_MAX];
    size_t slen[VOUCH_PKI_OCSP_IDS_MAX];
    uint32_t slot[VOUCH_PKI_OCSP_IDS_MAX];
    uint64_t gen[VOUCH_PKI_OCSP_IDS_MAX];
    int fail = -1, refreshed = 0, unknown = 0;

    if (!v->mt) {
        /* the first time: a full list (the worker's cache may hold only
         * the issuers other handlers looked up by name) */
        v->refreshed = now;
        if (match_table(w, v, 1) != 0) {
            fail = OERR_INTERNAL;
            goto out;
        }
    }
    /* Every CertID must name the same issuer: one key signs the response.
     * A mixed request is refused as unauthorized (docs/api.md). */
    vouchd_issuer *is = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t idx = 0;
        const OCSP_CERTID *id = vouch_pki_ocsp_request_id(r, i);
        vouch_pki_rc prc = vouch_pki_ocsp_match(id, v->mt, v->mn, &idx, serial[i], &slen[i]);
        if ((prc == VOUCH_PKI_E_NOTFOUND || (prc == VOUCH_PKI_OK && !v->mi[idx])) &&
            !refreshed && now - v->refreshed >= MATCH_REFRESH_S) {
            /* an issuer added since, or one whose vouch-se is back: one
             * store query, at most once a second per worker, so unknown
             * CertIDs cannot make every request cost a query */
            refreshed = 1;
            v->refreshed = now;
            if (match_table(w, v, 1) != 0) {
                fail = OERR_INTERNAL;
                goto out;
            }
            prc = vouch_pki_ocsp_match(id, v->mt, v->mn, &idx, serial[i], &slen[i]);
        }
        if (prc == VOUCH_PKI_E_NOTFOUND) {
            fail = OERR_UNAUTHORIZED;
            goto out;
        }
        if (prc != VOUCH_PKI_OK) {
            fail = OERR_MALFORMED; /* a negative serial or one over 20 octets */
            goto out;
        }
        if (!v->mi[idx]) {
            fail = OERR_TRYLATER; /* ours, but its key cannot be used now */
            goto out;
        }
        if (is && v->mi[idx] != is) {
            fail = OERR_UNAUTHORIZED;
            goto out;
        }
        is = v->mi[idx];
        ans[i].id = id;
    }
    /* generations first, then the store: see the top of the file */
    for (size_t i = 0; i < n; i++) {
        slot[i] = gen_slot(is->id, serial[i], slen[i]);
        gen[i] = atomic_load_explicit(&g_gen[slot[i]], memory_order_acquire);
    }
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        vouch_store_rc rc =
            vouch_store_cert_get(w->store, is->id, serial[i], slen[i], &c, err, sizeof err);
        ans[i].revoked_at = 0;
        ans[i].reason = VOUCH_PKI_REASON_UNSPECIFIED;
        if (rc == VOUCH_STORE_OK) {
            /* An expired certificate that was not revoked is "good": OCSP
             * reports revocation; validity is the relying party's check
             * (RFC 6960 2.2), and CRLs keep revoked entries past expiry, so
             * the two sources agree. */
            if (c.status == VOUCH_CERT_REVOKED) {
                ans[i].state = VOUCH_PKI_CERT_REVOKED;
                ans[i].revoked_at = (time_t)c.revoked_at;
                ans[i].reason = c.reason < 0 ? VOUCH_PKI_REASON_UNSPECIFIED : c.reason;
            } else {
                ans[i].state = VOUCH_PKI_CERT_GOOD;
            }
        } else if (rc == VOUCH_STORE_E_UNKNOWN_CERT || rc == VOUCH_STORE_E_NOT_FOUND) {
            if (sub_ca_serial(v, is, serial[i], slen[i])) {
                ans[i].state = VOUCH_PKI_CERT_GOOD;
            } else {
                ans[i].state = VOUCH_PKI_CERT_UNKNOWN;
                unknown = 1;
            }
        } else {
            if (rc != VOUCH_STORE_E_BUSY && now != v->warned) {
                v->warned = now;
                vouchd_log("OCSP: certificate lookup: %s", *err ? err : vouch_store_strerror(rc));
            }
            fail = rc == VOUCH_STORE_E_BUSY ? OERR_TRYLATER : OERR_INTERNAL;
            goto out;
        }
        vouch_store_cert_clear(&c);
    }
    vouch_pki_rc prc = vouch_pki_ocsp_respond(&is->ocsp, ans, n, now, now + OCSP_VALIDITY_S,
                                              nonce, nonce_len, &resp, &resp_len);
    if (prc != VOUCH_PKI_OK) {
        if (now != v->warned) { /* at most a line a second: this may repeat per request */
            v->warned = now;
            vouchd_log("OCSP: cannot sign for '%s': %s", is->name, vouch_pki_strerror(prc));
        }
        /* a vouch-se that does not answer now may answer later */
        fail = prc == VOUCH_PKI_E_SIGNER ? OERR_TRYLATER : OERR_INTERNAL;
        goto out;
    }
    if (nonce) {
        /* a nonce makes the response unique: no HTTP caching either */
        ocsp_send(req, resp, resp_len, NULL, now);
    } else {
        char etag[68], lm[32], ex[32];
        oc_meta m = {now, now + OCSP_VALIDITY_S,
                     now + (unknown ? OCSP_UNKNOWN_FRESH_S : OCSP_FRESH_S), etag, lm, ex};
        etag_of(resp, resp_len, etag);
        http_date(now, lm);
        http_date(now + OCSP_VALIDITY_S, ex);
        if (n == 1)
            oc_put(v, h, v->der, len, is->id, slot[0], gen[0], resp, resp_len, &m);
        ocsp_send(req, resp, resp_len, &m, now);
    }
out:
    if (fail >= 0)
        ocsp_fail(req, fail);
    vouch_store_cert_clear(&c);
    OPENSSL_free(resp);
    vouch_pki_ocsp_request_free(r);
}

/* ---- revocations, start and stop ------------------------------------------------------- */

void vouchd_va_revoked(vouchd_worker *w, int64_t issuer_id, const uint8_t *serial,
                       size_t serial_len)
{
    vouchd_auth_revoked(); /* device authentication looks the status up again */
    /* OCSP: every worker's cached answers in this slot become stale */
    if (serial && serial_len)
        atomic_fetch_add_explicit(&g_gen[gen_slot(issuer_id, serial, serial_len)], 1,
                                  memory_order_seq_cst);
    if (!g.started)
        return;
    pthread_mutex_lock(&g.mu);
    /* No entry (out of memory) means no cached CRL either: the next GET
     * builds a fresh one. */
    crl_entry *e = crl_entry_get(issuer_id);
    if (e) {
        if (e->gen == e->built_gen)
            e->dirty_ms = mono_ms();
        e->gen++;
        pthread_cond_signal(&g.wake);
    }
    pthread_mutex_unlock(&g.mu);
}

int vouchd_va_start(const vouchd_config *cfg)
{
    char err[256] = "";
    pthread_condattr_t ca;

    memset(&g, 0, sizeof g);
    if (RAND_bytes((unsigned char *)&g_seed, sizeof g_seed) != 1) {
        ERR_clear_error();
        vouchd_log("validation authority: no randomness");
        return -1;
    }
    for (int i = 0; i < OERR_N; i++)
        if (vouch_pki_ocsp_error(oerr_status[i], &g.oerr[i], &g.oerr_len[i]) != VOUCH_PKI_OK) {
            vouchd_log("validation authority: cannot encode OCSP error responses");
            goto fail;
        }
    vouch_store_rc rc = vouch_store_open_sqlite(cfg->db_path, &g.bg.store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("validation authority: cannot open %s: %s", cfg->db_path,
                   *err ? err : vouch_store_strerror(rc));
        goto fail;
    }
    g.bg.cfg = cfg;
    g.bg.index = -1;
    pthread_mutex_init(&g.mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&g.built, NULL);
    int e = pthread_create(&g.thread, NULL, crl_thread, NULL);
    if (e) {
        vouchd_log("validation authority: cannot start the CRL thread: %s", strerror(e));
        pthread_cond_destroy(&g.wake);
        pthread_cond_destroy(&g.built);
        pthread_mutex_destroy(&g.mu);
        goto fail;
    }
    g.started = 1;
    return 0;
fail:
    vouch_store_close(g.bg.store);
    g.bg.store = NULL;
    for (int i = 0; i < OERR_N; i++)
        OPENSSL_free(g.oerr[i]);
    memset(&g, 0, sizeof g);
    return -1;
}

void vouchd_va_stop(void)
{
    if (!g.started)
        return;
    pthread_mutex_lock(&g.mu);
    g.stop = 1;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.thread, NULL);
    for (crl_entry *e = g.crls, *next; e; e = next) {
        next = e->next;
        blob_unref(e->blob); /* responses still queued hold their own reference */
        free(e);
    }
    vouchd_issuers_free(&g.bg);
    vouch_store_close(g.bg.store);
    for (int i = 0; i < OERR_N; i++)
        OPENSSL_free(g.oerr[i]);
    pthread_cond_destroy(&g.wake);
    pthread_cond_destroy(&g.built);
    pthread_mutex_destroy(&g.mu);
    memset(&g, 0, sizeof g);
}
