/*
 * Device authentication (docs/auth-protocol.md): POST /v1/auth/challenge,
 * POST /v1/auth/response and GET /v1/session.
 *
 * What one authentication costs. The challenge step decodes the chain,
 * hashes it, and finds the verification result in the worker's chain cache
 * (keyed by the SHA-256 of the whole chain as sent): the chain is verified
 * with X509_verify_cert only the first time a worker sees it, or after the
 * families changed. Then two indexed store reads: the device by its
 * certificate (or by account and id) and the certificate's revocation
 * status. The response step is one ECDSA P-256 verification, an HMAC for
 * the session token and a last-seen note that a background thread writes
 * to the store about once a second, many in one transaction.
 *
 * Challenges live in process memory: a fixed number of ring buffers
 * (shards), each slot one challenge. The challenge id names its shard, slot
 * and sequence number and carries 16 random bytes compared in constant
 * time, so a lookup is a direct index, never a search, and the memory is
 * bounded: a slot is reused only when its challenge was answered or has
 * expired; when none is free the server answers 503 (too many
 * outstanding challenges) rather than forget one early. Several vouchd
 * nodes would need sticky routing between the two steps (or a shared
 * table); one node is what runs today.
 *
 * Session tokens need no state: "vs1." base64url(payload | HMAC-SHA256)
 * with payload = version, expiry, account id, device row id, and the key
 * derived from master.key with HKDF (label "vouch session token v1"), so
 * every node holding master.key checks them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <vouch/auth.h>

#include "server/auth_parse.h"
#include "server/http.h"

#define CHAIN_MAX VOUCHD_AUTH_CHAIN_MAX
#define SHARDS 16
#define SLOTS 4096                  /* per shard: 65,536 challenges outstanding */
#define CACHE_SLOTS 16384           /* per worker, direct-mapped */
#define FAMILY_RECHECK 5            /* seconds between family reloads */
#define SESSION_TTL 600             /* seconds a session token lasts */
#define ONLINE_WINDOW SESSION_TTL   /* "online": authenticated this recently */
#define TOKEN_PREFIX "vs1."
#define PAYLOAD_LEN 25              /* version(1) expiry(8) account(8) device(8) */
#define ID_BYTES 24                 /* shard(1) slot(3) seq(4) random(16) */
#define ACCOUNT_MAX VOUCHD_AUTH_ACCOUNT_MAX
#define LOOKUP_TTL_MS 5000          /* cached device/revocation lookups */
#define MEMO_SLOTS 16384            /* request bodies already parsed, per worker */

/* ---- server-wide state -------------------------------------------------------- */

typedef struct slot {
    uint32_t seq;            /* 0: never used */
    uint8_t rnd[16];
    uint8_t nonce[VOUCH_AUTH_CHALLENGE_LEN];
    uint8_t leaf_sha[32];
    uint8_t key[32];         /* the chain's cache key: the worker's verify context */
    int used;
    int64_t expires;
    EVP_PKEY *pub;           /* the leaf's key (a reference) */
    uint8_t *leaf;           /* the leaf's DER when the device record needs it */
    size_t leaf_len;
    int64_t account_id, device_row, family_id;
    int64_t row_family;      /* the record's family when the challenge was given */
    int row_has_cert;        /* ... whether it had a certificate, */
    uint8_t row_cert[32];    /* ... and which */
    char account[ACCOUNT_MAX + 1];
    char device_id[VOUCH_DEVICE_ID_MAX + 1];
} slot;

typedef struct shard {
    pthread_mutex_t mu;
    uint32_t next;           /* ring position of the next challenge */
    uint32_t seq;
    slot *slots;             /* SLOTS, allocated on first use */
} shard;

static struct {
    int started;
    char origin[VOUCH_AUTH_ORIGIN_MAX + 1];
    const vouchd_config *cfg;
    shard shards[SHARDS];
    /* last seen, written by the toucher thread */
    pthread_mutex_t seen_mu;
    pthread_cond_t seen_cv;
    int64_t *seen_ids, *seen_times;
    size_t seen_n, seen_cap;
    int seen_stop;
    pthread_t seen_thread;
    vouch_store *seen_store;
    unsigned long long seen_dropped;
} G;

static atomic_uint g_family_gen = 1;
/* Bumped when a device record or a certificate's revocation changes
 * through this process: cached lookups of the challenge step are then
 * read again (they also expire after LOOKUP_TTL_MS, for other processes). */
static atomic_uint g_device_gen = 1, g_revoke_gen = 1;
static EVP_MD *g_sha256;   /* fetched once: an implicit fetch per digest costs locks */
static EVP_MAC *g_hmac;

void vouchd_auth_families_changed(void)
{
    atomic_fetch_add(&g_family_gen, 1);
}

void vouchd_auth_devices_changed(void)
{
    atomic_fetch_add(&g_device_gen, 1);
}

void vouchd_auth_revoked(void)
{
    atomic_fetch_add(&g_revoke_gen, 1);
}

/* ---- per-worker state ------------------------------------------------------------- */

typedef struct family {
    int64_t id, account_id;
    char account[ACCOUNT_MAX + 1];
    uint8_t sha[32];
    int verified;
} family;

typedef enum {
    CH_OK = 0,
    CH_UNTRUSTED,   /* no enrolled family and not enrolled on its own */
    CH_UNVERIFIED   /* ends at a family that waits for its proof */
} chain_verdict;

typedef struct centry {
    uint8_t key[32];         /* SHA-256 over the chain as sent */
    int used;
    uint64_t tick;           /* last use, for replacement within its set */
    unsigned epoch;          /* the worker's family epoch it was judged in */
    EVP_PKEY *pub;
    uint8_t leaf_sha[32];
    int64_t leaf_nb, leaf_na;   /* the leaf's validity */
    int64_t chain_nb, chain_na; /* the whole verified chain's (family path) */
    chain_verdict verdict;
    int64_t family_id, account_id;
    char account[ACCOUNT_MAX + 1];
    char cn[VOUCH_DEVICE_ID_MAX + 1]; /* "": no usable CN */
    /* the store lookups of the last challenge for this chain (lookup_fresh) */
    int looked;
    int64_t looked_ms;
    unsigned dev_gen, rev_gen;
    int have, by_cert, revoked;
    vouch_store_device dev;  /* filled when have (own memory) */
    EVP_PKEY_CTX *vctx;      /* verifies pub's signatures (made at the first response) */
} centry;

/* A request body seen before, byte for byte: its chain's cache key and the
 * account it asked for, so the same request is not parsed again. */
typedef struct memo {
    uint8_t body[32];        /* SHA-256 of the body */
    uint8_t key[32];         /* the chain's cache key */
    int used;
    uint64_t tick;
    char account[ACCOUNT_MAX + 1];
} memo;

static void centry_clear(centry *e)
{
    EVP_PKEY_CTX_free(e->vctx);
    EVP_PKEY_free(e->pub);
    vouch_store_device_clear(&e->dev);
    memset(e, 0, sizeof *e);
}

struct vouchd_auth_worker {
    unsigned gen;            /* g_family_gen last loaded */
    unsigned epoch;          /* bumped when the family set really changed */
    int64_t loaded;          /* monotonic ms */
    uint8_t fam_digest[32];
    family *fam;
    size_t nfam;
    X509_STORE *verified, *pending;
    centry *cache;           /* CACHE_SLOTS */
    memo *memo;              /* MEMO_SLOTS */
    EVP_MAC_CTX *mac;        /* HMAC-SHA256 keyed with the session key, duplicated per use */
    unsigned rr;             /* shard rotation */
    uint64_t tick;           /* use counter of the caches */
    unsigned long long judged, memo_hits, requests; /* logged at exit */
};

static void worker_stores_free(struct vouchd_auth_worker *a)
{
    X509_STORE_free(a->verified);
    X509_STORE_free(a->pending);
    a->verified = a->pending = NULL;
    free(a->fam);
    a->fam = NULL;
    a->nfam = 0;
}

void vouchd_auth_worker_free(vouchd_worker *w)
{
    struct vouchd_auth_worker *a = w->auth;
    if (!a)
        return;
    if (a->requests)
        vouchd_log("worker %d: %llu challenges, %llu from remembered requests, %llu chains "
                   "verified",
                   w->index, a->requests, a->memo_hits, a->judged);
    worker_stores_free(a);
    if (a->cache)
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            centry_clear(&a->cache[i]);
    free(a->cache);
    free(a->memo);
    EVP_MAC_CTX_free(a->mac);
    free(a);
    w->auth = NULL;
}

static struct vouchd_auth_worker *worker_auth(vouchd_worker *w)
{
    if (!w->auth) {
        struct vouchd_auth_worker *a = calloc(1, sizeof *a);
        OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                           (char *)"SHA256", 0),
                          OSSL_PARAM_construct_end()};
        if (!a || !(a->cache = calloc(CACHE_SLOTS, sizeof *a->cache)) ||
            !(a->memo = calloc(MEMO_SLOTS, sizeof *a->memo)) || !(a->mac = EVP_MAC_CTX_new(g_hmac)) ||
            EVP_MAC_init(a->mac, G.cfg->session_key, 32, p) != 1) {
            if (a) {
                free(a->cache);
                free(a->memo);
                EVP_MAC_CTX_free(a->mac);
            }
            free(a);
            return NULL;
        }
        w->auth = a;
    }
    return w->auth;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- families ------------------------------------------------------------------------ */

typedef struct fam_load {
    family *v;
    size_t n, cap;
    X509_STORE *verified, *pending;
    EVP_MD_CTX *md;
    int failed;
} fam_load;

static int fam_cb(void *ctx, const vouch_store_family *f)
{
    fam_load *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        family *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    family *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    e->id = f->id;
    e->account_id = f->account_id;
    snprintf(e->account, sizeof e->account, "%s", f->account ? f->account : "");
    memcpy(e->sha, f->sha256, 32);
    e->verified = f->status == VOUCH_FAMILY_VERIFIED;
    X509 *x = vouchd_der_cert(f->cert_der, f->cert_der_len);
    if (!x) {
        vouchd_log("family %" PRId64 ": its certificate does not parse; ignored", f->id);
        return 0;
    }
    int ok = X509_STORE_add_cert(e->verified ? l->verified : l->pending, x) == 1;
    X509_free(x);
    ERR_clear_error();
    if (!ok) /* the same certificate twice cannot happen (UNIQUE); memory */
        vouchd_log("family %" PRId64 ": cannot add it to the trust store", f->id);
    unsigned char rec[40];
    memcpy(rec, f->sha256, 32);
    for (int i = 0; i < 8; i++)
        rec[32 + i] = (unsigned char)(((uint64_t)f->id >> (8 * i)) & 0xff);
    rec[32] ^= (unsigned char)e->verified;
    EVP_DigestUpdate(l->md, rec, sizeof rec);
    l->n++;
    return 0;
}

static X509_STORE *new_trust_store(void)
{
    X509_STORE *s = X509_STORE_new();
    /* a family CA is an anchor whether or not it is self-signed; validity
     * dates are checked per request from the cached chain, not here */
    if (s && X509_STORE_set_flags(s, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME |
                                         X509_V_FLAG_X509_STRICT) != 1) {
        X509_STORE_free(s);
        return NULL;
    }
    return s;
}

/* Load the families when this process changed them or FAMILY_RECHECK
 * passed; the worker's epoch moves only when the set really differs (so
 * the chain cache survives the periodic reloads). -1 on a store error
 * (logged; the old set stays in use). */
static int families_fresh(vouchd_worker *w, struct vouchd_auth_worker *a)
{
    unsigned gen = atomic_load(&g_family_gen);
    int64_t now = mono_ms();
    if (a->verified && a->gen == gen && now - a->loaded < FAMILY_RECHECK * 1000)
        return 0;
    fam_load l = {0};
    char err[256] = "";
    uint8_t dg[32];
    l.verified = new_trust_store();
    l.pending = new_trust_store();
    l.md = EVP_MD_CTX_new();
    if (!l.verified || !l.pending || !l.md || EVP_DigestInit_ex(l.md, g_sha256, NULL) != 1) {
        vouchd_log("loading families: out of memory");
        goto fail;
    }
    vouch_store_rc rc = vouch_store_family_list(w->store, 0, fam_cb, &l, err, sizeof err);
    if (rc != VOUCH_STORE_OK || l.failed) {
        vouchd_log("loading families: %s", l.failed ? "out of memory"
                                                    : *err ? err : vouch_store_strerror(rc));
        goto fail;
    }
    unsigned dl = 0;
    if (EVP_DigestFinal_ex(l.md, dg, &dl) != 1)
        goto fail;
    EVP_MD_CTX_free(l.md);
    int changed = !a->verified || memcmp(dg, a->fam_digest, 32) != 0;
    worker_stores_free(a);
    a->fam = l.v;
    a->nfam = l.n;
    a->verified = l.verified;
    a->pending = l.pending;
    memcpy(a->fam_digest, dg, 32);
    a->gen = gen;
    a->loaded = now;
    if (changed)
        a->epoch++;
    return 0;
fail:
    X509_STORE_free(l.verified);
    X509_STORE_free(l.pending);
    EVP_MD_CTX_free(l.md);
    free(l.v);
    return a->verified ? 0 : -1;
}

static const family *family_by_sha(const struct vouchd_auth_worker *a, const uint8_t sha[32])
{
    for (size_t i = 0; i < a->nfam; i++)
        if (memcmp(a->fam[i].sha, sha, 32) == 0)
            return &a->fam[i];
    return NULL;
}

/* ---- helpers --------------------------------------------------------------------------- */

static int sha256(const void *p, size_t n, uint8_t out[32])
{
    return EVP_Digest(p, n, out, NULL, g_sha256, NULL) == 1 ? 0 : -1;
}

/* RFC 3339 UTC ("2026-11-22T08:00:00Z") of t into out; 0 or -1. */
static int rfc3339(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    return gmtime_r(&tt, &tm) && strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20 ? 0 : -1;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Device ids: 1..64 of A-Z a-z 0-9 . _ - : @ + (safe in a URL path). */
int vouchd_device_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > VOUCH_DEVICE_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:@+", *s)))
            return 0;
    return 1;
}

static int is_p256(EVP_PKEY *k)
{
    char group[32];
    size_t len = 0;
    return k && EVP_PKEY_is_a(k, "EC") &&
           EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

/* ---- session tokens ----------------------------------------------------------------- */

int vouchd_auth_derive_key(const uint8_t *master, size_t len, uint8_t out[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    static const char info[] = "vouch session token v1";
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, sizeof info - 1),
        OSSL_PARAM_construct_end()};
    int ok = k && EVP_KDF_derive(k, out, 32, p) == 1;
    EVP_KDF_CTX_free(k);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* HMAC-SHA256 under the session key: the worker's keyed context, copied. */
static int session_mac(struct vouchd_auth_worker *a, const uint8_t *in, size_t n, uint8_t out[32])
{
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(a->mac);
    size_t ol = 0;
    int ok = c && EVP_MAC_update(c, in, n) == 1 && EVP_MAC_final(c, out, &ol, 32) == 1 && ol == 32;
    EVP_MAC_CTX_free(c);
    return ok ? 0 : -1;
}

/* "vs1." base64url(payload | mac) into out (at least 96 bytes). */
static int token_make(struct vouchd_auth_worker *a, int64_t account_id, int64_t device_row,
                      int64_t expires, char *out)
{
    uint8_t buf[PAYLOAD_LEN + 32];
    buf[0] = 1;
    put_be64(buf + 1, (uint64_t)expires);
    put_be64(buf + 9, (uint64_t)account_id);
    put_be64(buf + 17, (uint64_t)device_row);
    if (session_mac(a, buf, PAYLOAD_LEN, buf + PAYLOAD_LEN) != 0)
        return -1;
    memcpy(out, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    vouchd_b64url(buf, sizeof buf, out + sizeof TOKEN_PREFIX - 1);
    return 0;
}

/* 0 with the token's account, device row and expiry; -1 when it is not a
 * valid, unexpired session token. */
static int token_check(struct vouchd_auth_worker *a, const char *tok, int64_t *account_id,
                       int64_t *device_row, int64_t *expires)
{
    uint8_t buf[PAYLOAD_LEN + 32], mac[32];
    if (strncmp(tok, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0 ||
        vouchd_b64url_decode(tok + sizeof TOKEN_PREFIX - 1, buf, sizeof buf) != 0 || buf[0] != 1)
        return -1;
    if (session_mac(a, buf, PAYLOAD_LEN, mac) != 0 || CRYPTO_memcmp(mac, buf + PAYLOAD_LEN, 32) != 0)
        return -1;
    *expires = (int64_t)get_be64(buf + 1);
    *account_id = (int64_t)get_be64(buf + 9);
    *device_row = (int64_t)get_be64(buf + 17);
    return *expires >= (int64_t)time(NULL) ? 0 : -1;
}

/* ---- last seen ------------------------------------------------------------------------ */

#define SEEN_MAX (1u << 20) /* notes waiting; beyond, dropped (and counted) */

static void seen_note(int64_t row, int64_t t)
{
    pthread_mutex_lock(&G.seen_mu);
    if (G.seen_n == G.seen_cap && G.seen_cap < SEEN_MAX) {
        size_t cap = G.seen_cap ? 2 * G.seen_cap : 1024;
        int64_t *a = realloc(G.seen_ids, cap * sizeof *a);
        if (a)
            G.seen_ids = a;
        int64_t *b = a ? realloc(G.seen_times, cap * sizeof *b) : NULL;
        if (b) {
            G.seen_times = b;
            G.seen_cap = cap;
        }
    }
    if (G.seen_n < G.seen_cap) {
        G.seen_ids[G.seen_n] = row;
        G.seen_times[G.seen_n] = t;
        G.seen_n++;
    } else {
        G.seen_dropped++;
    }
    pthread_mutex_unlock(&G.seen_mu);
}

typedef struct idt {
    int64_t id, t;
} idt;

static int idt_cmp(const void *x, const void *y)
{
    const idt *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id ? 1 : (a->t > b->t) - (a->t < b->t);
}

/* Write what is noted (one transaction, one row per device). */
static void seen_flush(void)
{
    pthread_mutex_lock(&G.seen_mu);
    size_t n = G.seen_n;
    idt *v = n ? malloc(n * sizeof *v) : NULL;
    for (size_t i = 0; v && i < n; i++) {
        v[i].id = G.seen_ids[i];
        v[i].t = G.seen_times[i];
    }
    if (v)
        G.seen_n = 0;
    pthread_mutex_unlock(&G.seen_mu);
    if (!v)
        return;
    qsort(v, n, sizeof *v, idt_cmp);
    size_t m = 0;
    int64_t *ids = malloc(n * sizeof *ids), *ts = malloc(n * sizeof *ts);
    for (size_t i = 0; ids && ts && i < n; i++) {
        if (i + 1 < n && v[i + 1].id == v[i].id)
            continue; /* the latest of each device */
        ids[m] = v[i].id;
        ts[m++] = v[i].t;
    }
    char err[256] = "";
    if (ids && ts) {
        vouch_store_rc rc = vouch_store_device_touch(G.seen_store, ids, ts, m, err, sizeof err);
        if (rc != VOUCH_STORE_OK) {
            /* put them back for the next round (the newest of each wins) */
            vouchd_log("writing last-seen times of %zu devices: %s; retrying", m,
                       *err ? err : vouch_store_strerror(rc));
            for (size_t i = 0; i < m; i++)
                seen_note(ids[i], ts[i]);
        }
    } else {
        pthread_mutex_lock(&G.seen_mu);
        G.seen_dropped += n;
        pthread_mutex_unlock(&G.seen_mu);
    }
    free(ids);
    free(ts);
    free(v);
}

static void *seen_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "vouchd-seen");
    pthread_mutex_lock(&G.seen_mu);
    while (!G.seen_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&G.seen_cv, &G.seen_mu, &ts);
        pthread_mutex_unlock(&G.seen_mu);
        seen_flush();
        pthread_mutex_lock(&G.seen_mu);
    }
    pthread_mutex_unlock(&G.seen_mu);
    seen_flush();
    return NULL;
}

/* ---- start / stop ------------------------------------------------------------------------ */

int vouchd_auth_start(const vouchd_config *cfg)
{
    char err[256] = "";
    memset(&G, 0, sizeof G);
    G.cfg = cfg;
    if (vouch_auth_origin_from_url(cfg->public_url, G.origin, sizeof G.origin) != VOUCH_OK) {
        /* e.g. port 0: the rest of the server works; authentication cannot */
        vouchd_log("warning: --public-url %s has no usable origin (scheme://host:port, port "
                   "1..65535): device authentication is off",
                   cfg->public_url);
        G.origin[0] = '\0';
    }
    if (!(g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) ||
        !(g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
        vouchd_log("OpenSSL has no SHA-256 or HMAC");
        return -1;
    }
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&G.shards[i].mu, NULL);
    pthread_mutex_init(&G.seen_mu, NULL);
    pthread_cond_init(&G.seen_cv, NULL);
    vouch_store_rc rc = vouch_store_open_sqlite(cfg->db_path, &G.seen_store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("cannot open %s: %s", cfg->db_path, *err ? err : vouch_store_strerror(rc));
        return -1;
    }
    int e = pthread_create(&G.seen_thread, NULL, seen_main, NULL);
    if (e) {
        vouchd_log("cannot start the last-seen thread: %s", strerror(e));
        vouch_store_close(G.seen_store);
        return -1;
    }
    G.started = 1;
    return 0;
}

void vouchd_auth_stop(void)
{
    if (!G.started)
        return;
    pthread_mutex_lock(&G.seen_mu);
    G.seen_stop = 1;
    pthread_cond_signal(&G.seen_cv);
    pthread_mutex_unlock(&G.seen_mu);
    pthread_join(G.seen_thread, NULL);
    if (G.seen_dropped)
        vouchd_log("%llu last-seen notes were dropped (queue full)", G.seen_dropped);
    vouch_store_close(G.seen_store);
    free(G.seen_ids);
    free(G.seen_times);
    for (int i = 0; i < SHARDS; i++) {
        shard *sh = &G.shards[i];
        for (size_t k = 0; sh->slots && k < SLOTS; k++) {
            EVP_PKEY_free(sh->slots[k].pub);
            free(sh->slots[k].leaf);
        }
        OPENSSL_cleanse(sh->slots, sh->slots ? SLOTS * sizeof *sh->slots : 0);
        free(sh->slots);
        pthread_mutex_destroy(&sh->mu);
    }
    pthread_mutex_destroy(&G.seen_mu);
    pthread_cond_destroy(&G.seen_cv);
    memset(&G, 0, sizeof G);
    EVP_MD_free(g_sha256);
    EVP_MAC_free(g_hmac);
    g_sha256 = NULL;
    g_hmac = NULL;
}

/* ---- refusals --------------------------------------------------------------------------- */

/* Every refusal has its own code (docs/api.md, "Device authentication"). */
#define E_BAD_CHAIN "bad_certificate"             /* 400 */
#define E_CHAIN_TOO_LONG "chain_too_long"         /* 413 */
#define E_UNSUPPORTED_KEY "unsupported_key"       /* 400 */
#define E_UNTRUSTED "untrusted_certificate"       /* 403 */
#define E_UNVERIFIED "family_not_verified"        /* 403 */
#define E_WRONG_ACCOUNT "wrong_account"           /* 403 */
#define E_EXPIRED "certificate_expired"           /* 403 */
#define E_NOT_YET "certificate_not_yet_valid"     /* 403 */
#define E_REVOKED "certificate_revoked"           /* 403 */
#define E_DISABLED "device_disabled"              /* 403 */
#define E_BLOCKED "device_blocked"                /* 403 */
#define E_CONFLICT "device_conflict"              /* 409 */
#define E_BAD_DEVICE_ID "bad_device_id"           /* 403 */
#define E_BUSY "too_many_challenges"              /* 503 */
#define E_UNKNOWN_CHALLENGE "unknown_challenge"   /* 404 */
#define E_USED "challenge_used"                   /* 409 */
#define E_CH_EXPIRED "challenge_expired"          /* 410 */
#define E_BAD_SIG "bad_signature"                 /* 401 */
#define E_MALFORMED_SIG "malformed_signature"     /* 400 */
#define E_SESSION "invalid_session"               /* 401 */

/* ---- the chain ------------------------------------------------------------------------------ */

/* The request's chain, parsed (auth_parse.c); 0, or -1 with the answer sent. */
static int parse_challenge_body(struct evhttp_request *req, vouchd_auth_chain *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    vouchd_auth_refusal r;
    if (vouchd_auth_parse_challenge(body, len, c, &r) == 0)
        return 0;
    vouchd_send_error(req, r.status, r.code, "%s", r.msg);
    return -1;
}

static int asn1_epoch(const ASN1_TIME *t, int64_t *out)
{
    time_t v;
    if (vouchd_asn1_time(t, &v) != 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Judge the chain (cache miss): parse, key check, family verification.
 * 0 with e filled, or -1 with the answer sent. */
static int chain_judge(struct evhttp_request *req, struct vouchd_auth_worker *a,
                       const vouchd_auth_chain *c, centry *e)
{
    X509 *x[CHAIN_MAX] = {0};
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    int ret = -1;
    for (size_t i = 0; i < c->n; i++) {
        if (!(x[i] = vouchd_der_cert(c->der[i], c->len[i]))) {
            vouchd_send_error(req, 400, E_BAD_CHAIN,
                              "certificate %zu is not a DER X.509 certificate", i);
            goto out;
        }
    }
    EVP_PKEY *pub = X509_get0_pubkey(x[0]);
    if (!is_p256(pub)) {
        vouchd_send_error(req, 400, E_UNSUPPORTED_KEY,
                          "the device certificate's key is not EC P-256");
        goto out;
    }
    if (asn1_epoch(X509_get0_notBefore(x[0]), &e->leaf_nb) != 0 ||
        asn1_epoch(X509_get0_notAfter(x[0]), &e->leaf_na) != 0) {
        vouchd_send_error(req, 400, E_BAD_CHAIN, "the device certificate's dates do not parse");
        goto out;
    }
    e->chain_nb = e->leaf_nb;
    e->chain_na = e->leaf_na;
    char *cn = vouchd_common_name(X509_get_subject_name(x[0]));
    e->cn[0] = '\0';
    if (cn && vouchd_device_id_ok(cn))
        snprintf(e->cn, sizeof e->cn, "%s", cn);
    free(cn);
    if (sha256(c->der[0], c->len[0], e->leaf_sha) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "hashing failed");
        goto out;
    }
    EVP_PKEY_up_ref(pub);
    e->pub = pub;

    untrusted = sk_X509_new_null();
    for (size_t i = 1; untrusted && i < c->n; i++)
        if (!sk_X509_push(untrusted, x[i])) {
            sk_X509_free(untrusted);
            untrusted = NULL;
        }
    ctx = X509_STORE_CTX_new();
    if (!untrusted || !ctx) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    e->verdict = CH_UNTRUSTED;
    if (X509_STORE_CTX_init(ctx, a->verified, x[0], untrusted) == 1 &&
        X509_verify_cert(ctx) == 1) {
        STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
        X509 *anchor = sk_X509_value(ch, sk_X509_num(ch) - 1);
        uint8_t fsha[32];
        unsigned fl = 0;
        const family *f = NULL;
        if (X509_digest(anchor, g_sha256, fsha, &fl) == 1)
            f = family_by_sha(a, fsha);
        if (f && f->verified) {
            e->verdict = CH_OK;
            e->family_id = f->id;
            e->account_id = f->account_id;
            snprintf(e->account, sizeof e->account, "%s", f->account);
            for (int i = 0; i < sk_X509_num(ch); i++) {
                int64_t nb, na;
                X509 *y = sk_X509_value(ch, i);
                if (asn1_epoch(X509_get0_notBefore(y), &nb) != 0 ||
                    asn1_epoch(X509_get0_notAfter(y), &na) != 0) {
                    e->chain_na = 0; /* unparsable dates: treat as expired */
                    break;
                }
                e->chain_nb = nb > e->chain_nb ? nb : e->chain_nb;
                e->chain_na = na < e->chain_na ? na : e->chain_na;
            }
        }
    } else {
        X509_STORE_CTX_cleanup(ctx);
        if (X509_STORE_CTX_init(ctx, a->pending, x[0], untrusted) == 1 &&
            X509_verify_cert(ctx) == 1)
            e->verdict = CH_UNVERIFIED;
    }
    ERR_clear_error();
    ret = 0;
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    for (size_t i = 0; i < c->n; i++)
        X509_free(x[i]);
    return ret;
}

static centry *cache_find(struct vouchd_auth_worker *a, const uint8_t key[32]);
static centry *cache_victim(struct vouchd_auth_worker *a, const uint8_t key[32]);

/* The worker's verdict on the chain, from its cache or judged now.
 * NULL with the answer sent. */
static centry *chain_lookup(struct evhttp_request *req, vouchd_worker *w,
                            struct vouchd_auth_worker *a, const vouchd_auth_chain *c)
{
    uint8_t key[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, g_sha256, NULL) == 1;
    for (size_t i = 0; ok && i < c->n; i++) {
        uint8_t l[4] = {(uint8_t)(c->len[i] >> 24), (uint8_t)(c->len[i] >> 16),
                        (uint8_t)(c->len[i] >> 8), (uint8_t)c->len[i]};
        ok = EVP_DigestUpdate(md, l, 4) == 1 && EVP_DigestUpdate(md, c->der[i], c->len[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(md, key, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "hashing failed");
        return NULL;
    }
    if (families_fresh(w, a) != 0) {
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "the device families cannot be read; try again shortly");
        return NULL;
    }
    centry *e = cache_find(a, key);
    if (e)
        return e;
    e = cache_victim(a, key);
    centry_clear(e);
    a->judged++;
    if (chain_judge(req, a, c, e) != 0) {
        centry_clear(e);
        return NULL;
    }
    memcpy(e->key, key, 32);
    e->epoch = a->epoch;
    e->used = 1;
    e->tick = ++a->tick;
    return e;
}

/* ---- POST /v1/auth/challenge ------------------------------------------------------------- */

#define PROBE 8 /* slots looked at past a live one, per shard */

/* A free slot (answered or expired) in one of the shards, locked; NULL when
 * the next PROBE slots of every shard hold live challenges. A live slot is
 * stepped over (it stays where its id says it is), so a challenge nobody
 * answers costs its slot for its lifetime, never the ring behind it. */
static slot *slot_take(struct vouchd_auth_worker *a, int64_t now, shard **out_sh,
                       uint32_t *out_idx)
{
    for (int tries = 0; tries < SHARDS; tries++) {
        shard *sh = &G.shards[(a->rr++) % SHARDS];
        pthread_mutex_lock(&sh->mu);
        if (!sh->slots && !(sh->slots = calloc(SLOTS, sizeof *sh->slots))) {
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        slot *s = NULL;
        for (int p = 0; p < PROBE && !s; p++) {
            slot *c = &sh->slots[sh->next];
            if (c->seq == 0 || c->used || now > c->expires)
                s = c;
            else
                sh->next = (sh->next + 1) % SLOTS;
        }
        if (s) {
            *out_sh = sh;
            *out_idx = sh->next;
            sh->next = (sh->next + 1) % SLOTS;
            EVP_PKEY_free(s->pub);
            free(s->leaf);
            memset(s, 0, sizeof *s);
            if (++sh->seq == 0)
                sh->seq = 1;
            s->seq = sh->seq;
            return s;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return NULL;
}

/* The store lookups a challenge needs, into e: the device holding this
 * certificate, else (family path) the device with the CN's id in the
 * family's account; and whether the certificate is revoked. Reused for
 * LOOKUP_TTL_MS unless this process changed a device or revoked meanwhile
 * (the generations are read before the store, so a change made during the
 * reads is not cached as current). 0, or -1 with the answer sent. */
static int lookups(struct evhttp_request *req, vouchd_worker *w, centry *e)
{
    unsigned dg = atomic_load(&g_device_gen), rg = atomic_load(&g_revoke_gen);
    int64_t t = mono_ms();
    if (e->looked && e->dev_gen == dg && e->rev_gen == rg && t - e->looked_ms < LOOKUP_TTL_MS)
        return 0;
    char err[256] = "";
    vouch_store_cert cert = {0};
    e->looked = 0;
    vouch_store_device_clear(&e->dev);
    vouch_store_rc rc = vouch_store_device_get_by_cert(w->store, e->leaf_sha, &e->dev, err,
                                                      sizeof err);
    e->by_cert = rc == VOUCH_STORE_OK;
    if (rc == VOUCH_STORE_E_NOT_FOUND && e->verdict == CH_OK && e->cn[0])
        rc = vouch_store_device_get(w->store, e->account_id, e->cn, 0, &e->dev, err, sizeof err);
    if (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_store_error(req, rc, "device lookup", err);
        return -1;
    }
    e->have = rc == VOUCH_STORE_OK;
    rc = vouch_store_cert_get_by_fingerprint(w->store, e->leaf_sha, &cert, err, sizeof err);
    if (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_NOT_FOUND &&
        rc != VOUCH_STORE_E_UNKNOWN_CERT) {
        vouchd_send_store_error(req, rc, "revocation lookup", err);
        return -1;
    }
    e->revoked = rc == VOUCH_STORE_OK && cert.status == VOUCH_CERT_REVOKED;
    vouch_store_cert_clear(&cert);
    e->looked = 1;
    e->looked_ms = t;
    e->dev_gen = dg;
    e->rev_gen = rg;
    return 0;
}

/* Both caches are 4-way set associative: a key maps to a set of WAYS
 * entries, found by comparing all of them; a new key replaces the least
 * recently used of its set. (Direct-mapped, two devices whose keys share
 * a slot would evict each other on every authentication.) */
#define WAYS 4

static size_t set_of(const uint8_t key[32], size_t slots)
{
    size_t h = (size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16 | (size_t)key[3] << 24;
    return (h % (slots / WAYS)) * WAYS;
}

static centry *cache_find(struct vouchd_auth_worker *a, const uint8_t key[32])
{
    centry *set = &a->cache[set_of(key, CACHE_SLOTS)];
    for (int i = 0; i < WAYS; i++)
        if (set[i].used && set[i].epoch == a->epoch && memcmp(set[i].key, key, 32) == 0) {
            set[i].tick = ++a->tick;
            return &set[i];
        }
    return NULL;
}

/* The entry of key's set to fill: unused, judged under old families, or
 * the least recently used. */
static centry *cache_victim(struct vouchd_auth_worker *a, const uint8_t key[32])
{
    centry *set = &a->cache[set_of(key, CACHE_SLOTS)], *v = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (!set[i].used || set[i].epoch != a->epoch)
            return &set[i];
        if (set[i].tick < v->tick)
            v = &set[i];
    }
    return v;
}

void vouchd_h_auth_challenge(struct evhttp_request *req, vouchd_worker *w,
                             const vouchd_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    struct vouchd_auth_worker *a = worker_auth(w);
    vouchd_auth_chain c = {0};
    char want_account[ACCOUNT_MAX + 1] = "";
    if (!a) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return;
    }
    if (!G.origin[0]) {
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "device authentication is off: vouchd's --public-url has no usable "
                          "origin");
        return;
    }
    /* The same request as before, byte for byte (a device sends the same
     * chain every time): its parse and chain verdict are remembered. */
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    const uint8_t *body = blen ? evbuffer_pullup(in, -1) : NULL;
    uint8_t bh[32];
    memo *m = NULL;
    centry *e = NULL;
    if (families_fresh(w, a) != 0) {
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "the device families cannot be read; try again shortly");
        return;
    }
    a->requests++;
    if (body && sha256(body, blen, bh) == 0) {
        memo *set = &a->memo[set_of(bh, MEMO_SLOTS)];
        m = &set[0];
        for (int i = 0; i < WAYS; i++) {
            if (set[i].used && memcmp(set[i].body, bh, 32) == 0) {
                m = &set[i];
                break;
            }
            if (!set[i].used || set[i].tick < m->tick)
                m = &set[i]; /* the one to replace if the body is not there */
        }
        if (m->used && memcmp(m->body, bh, 32) == 0 && (e = cache_find(a, m->key)) != NULL) {
            memcpy(want_account, m->account, sizeof want_account);
            m->tick = ++a->tick;
            a->memo_hits++;
        }
    }
    if (!e) {
        if (parse_challenge_body(req, &c) != 0 || !(e = chain_lookup(req, w, a, &c)))
            goto out;
        memcpy(want_account, c.account, sizeof want_account);
        if (m) {
            m->used = 1;
            m->tick = ++a->tick;
            memcpy(m->body, bh, 32);
            memcpy(m->key, e->key, 32);
            memcpy(m->account, want_account, sizeof m->account);
        }
    }
    int64_t now = (int64_t)time(NULL);
    if (lookups(req, w, e) != 0)
        goto out;
    const vouch_store_device *dev = &e->dev;

    /* enrolled on its own (by this very certificate), or through a family */
    int have = e->have, individual = have && e->by_cert && dev->family_id == 0;
    int64_t account_id, nb, na, family_id = 0;
    const char *account;
    if (individual) {
        account_id = dev->account_id;
        account = dev->account;
        nb = e->leaf_nb;
        na = e->leaf_na;
    } else {
        if (e->verdict == CH_UNVERIFIED) {
            vouchd_send_error(req, 403, E_UNVERIFIED,
                              "the chain ends at a device family that has not proved possession "
                              "of its CA key yet ('vouch family verify')");
            goto out;
        }
        if (e->verdict != CH_OK) {
            vouchd_send_error(req, 403, E_UNTRUSTED,
                              "the certificate is neither enrolled nor issued under an enrolled "
                              "and verified device family");
            goto out;
        }
        account_id = e->account_id;
        account = e->account;
        family_id = e->family_id;
        nb = e->chain_nb;
        na = e->chain_na;
        if (!e->cn[0]) {
            vouchd_send_error(req, 403, E_BAD_DEVICE_ID,
                              "the device certificate's subject CN is not a usable device id "
                              "(1 to %d of A-Z a-z 0-9 . _ - : @ +)",
                              VOUCH_DEVICE_ID_MAX);
            goto out;
        }
        if (have && e->by_cert && dev->family_id != family_id) {
            vouchd_send_error(req, 409, E_CONFLICT,
                              "this certificate belongs to a device of another family");
            goto out;
        }
        /* a record made ahead (no certificate, no family) is this device's;
         * one with another certificate or family is another device */
        if (have && !e->by_cert && (dev->family_id ? dev->family_id != family_id : dev->has_cert)) {
            vouchd_send_error(req, 409, E_CONFLICT,
                              "account '%s' already has a device '%s' with another certificate",
                              account, e->cn);
            goto out;
        }
    }
    if (now < nb) {
        vouchd_send_error(req, 403, E_NOT_YET, "a certificate of the chain is not valid yet");
        goto out;
    }
    if (now > na) {
        vouchd_send_error(req, 403, E_EXPIRED, "a certificate of the chain has expired");
        goto out;
    }
    if (e->revoked) {
        vouchd_send_error(req, 403, E_REVOKED, "the device certificate is revoked");
        goto out;
    }
    if (want_account[0] && strcmp(want_account, account) != 0) {
        vouchd_send_error(req, 403, E_WRONG_ACCOUNT,
                          "the device belongs to another account than '%s'", want_account);
        goto out;
    }
    if (have && dev->status == VOUCH_DEVICE_DISABLED) {
        vouchd_send_error(req, 403, E_DISABLED, "the device is disabled");
        goto out;
    }
    if (have && dev->status == VOUCH_DEVICE_BLOCKED) {
        vouchd_send_error(req, 403, E_BLOCKED, "the device is blocked");
        goto out;
    }
    int need_record = !have || !dev->has_cert || memcmp(dev->cert_sha256, e->leaf_sha, 32) != 0;
    if (need_record && c.n == 0) {
        /* remembered request, but the record needs the certificate itself */
        if (parse_challenge_body(req, &c) != 0)
            goto out;
    }

    shard *sh = NULL;
    uint32_t idx = 0;
    slot *s = slot_take(a, now, &sh, &idx);
    if (!s) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        vouchd_send_error(req, 503, E_BUSY, "too many challenges outstanding; try again shortly");
        goto out;
    }
    uint8_t rnd[16 + VOUCH_AUTH_CHALLENGE_LEN];
    if (RAND_bytes(rnd, sizeof rnd) != 1 || (need_record && !(s->leaf = malloc(c.len[0])))) {
        s->seq = 0;
        pthread_mutex_unlock(&sh->mu);
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "no random bytes or memory");
        goto out;
    }
    memcpy(s->rnd, rnd, 16);
    memcpy(s->nonce, rnd + 16, VOUCH_AUTH_CHALLENGE_LEN);
    OPENSSL_cleanse(rnd, sizeof rnd);
    if (need_record) {
        memcpy(s->leaf, c.der[0], c.len[0]);
        s->leaf_len = c.len[0];
    }
    memcpy(s->leaf_sha, e->leaf_sha, 32);
    memcpy(s->key, e->key, 32);
    EVP_PKEY_up_ref(e->pub);
    s->pub = e->pub;
    s->expires = now + G.cfg->challenge_ttl;
    s->account_id = account_id;
    s->device_row = have ? dev->id : 0;
    s->family_id = family_id;
    if (have) {
        s->row_family = dev->family_id;
        s->row_has_cert = dev->has_cert;
        memcpy(s->row_cert, dev->cert_sha256, 32);
    }
    snprintf(s->account, sizeof s->account, "%s", account);
    snprintf(s->device_id, sizeof s->device_id, "%s", have ? dev->device_id : e->cn);
    uint8_t id[ID_BYTES];
    id[0] = (uint8_t)(sh - G.shards);
    id[1] = (uint8_t)(idx >> 16);
    id[2] = (uint8_t)(idx >> 8);
    id[3] = (uint8_t)idx;
    id[4] = (uint8_t)(s->seq >> 24);
    id[5] = (uint8_t)(s->seq >> 16);
    id[6] = (uint8_t)(s->seq >> 8);
    id[7] = (uint8_t)s->seq;
    memcpy(id + 8, s->rnd, 16);
    uint8_t nonce[VOUCH_AUTH_CHALLENGE_LEN];
    memcpy(nonce, s->nonce, sizeof nonce);
    int64_t expires = s->expires;
    pthread_mutex_unlock(&sh->mu);

    char idtxt[4 * ID_BYTES / 3 + 4], ntxt[4 * ((VOUCH_AUTH_CHALLENGE_LEN + 2) / 3) + 1];
    vouchd_b64url(id, sizeof id, idtxt);
    EVP_EncodeBlock((unsigned char *)ntxt, nonce, sizeof nonce);
    /* every value is base64, base64url, RFC 3339 digits or the checked
     * origin: nothing needs escaping, so the answer is written directly */
    char when[32], ans[384];
    int n = rfc3339(expires, when) == 0
                ? snprintf(ans, sizeof ans,
                           "{\"challenge_id\":\"%s\",\"challenge\":\"%s\",\"expires_at\":\"%s\","
                           "\"origin\":\"%s\"}",
                           idtxt, ntxt, when, G.origin)
                : -1;
    if (n > 0 && (size_t)n < sizeof ans)
        vouchd_send_json_text(req, 200, ans, (size_t)n);
    else
        vouchd_send_json(req, 200,
                         json_pack("{s:s,s:s,s:o,s:s}", "challenge_id", idtxt, "challenge", ntxt,
                                   "expires_at", vouchd_epoch_json(expires), "origin", G.origin));
out:
    vouchd_auth_chain_free(&c);
}

/* ---- POST /v1/auth/response ---------------------------------------------------------------- */


/* Take the challenge (it is answered now, whatever the signature says).
 * 0, or -1 with the answer sent. */
static int challenge_take(struct evhttp_request *req, const char *idtxt, slot *t)
{
    uint8_t id[ID_BYTES];
    if (vouchd_b64url_decode(idtxt, id, sizeof id) != 0 || id[0] >= SHARDS) {
        vouchd_send_error(req, 404, E_UNKNOWN_CHALLENGE, "no such challenge");
        return -1;
    }
    uint32_t idx = (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    uint32_t seq = (uint32_t)id[4] << 24 | (uint32_t)id[5] << 16 | (uint32_t)id[6] << 8 | id[7];
    if (idx >= SLOTS || seq == 0) {
        vouchd_send_error(req, 404, E_UNKNOWN_CHALLENGE, "no such challenge");
        return -1;
    }
    shard *sh = &G.shards[id[0]];
    pthread_mutex_lock(&sh->mu);
    slot *s = sh->slots ? &sh->slots[idx] : NULL;
    int found = s && s->seq == seq && CRYPTO_memcmp(s->rnd, id + 8, 16) == 0;
    int64_t now = (int64_t)time(NULL);
    if (!found || s->used || now > s->expires) {
        int used = found && s->used;
        pthread_mutex_unlock(&sh->mu);
        if (!found)
            vouchd_send_error(req, 404, E_UNKNOWN_CHALLENGE, "no such challenge");
        else if (used)
            vouchd_send_error(req, 409, E_USED, "this challenge was answered already");
        else
            vouchd_send_error(req, 410, E_CH_EXPIRED,
                              "this challenge expired (a challenge lasts %d s)",
                              G.cfg->challenge_ttl);
        return -1;
    }
    s->used = 1;
    *t = *s; /* the key reference and the certificate move to the caller */
    s->pub = NULL;
    s->leaf = NULL;
    OPENSSL_cleanse(s->nonce, sizeof s->nonce);
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

/* The device record after a verified signature: made (just in time) or
 * bound to this certificate when it has none or another. 0, or -1 with the
 * answer sent. */
static int device_record(struct evhttp_request *req, vouchd_worker *w, slot *t)
{
    char err[256] = "", actor[160];
    snprintf(actor, sizeof actor, "device:%s", t->device_id);
    vouch_store_rc rc;
    if (t->device_row == 0) {
        vouch_store_device in = {.account_id = t->account_id, .device_id = t->device_id,
                                 .family_id = t->family_id, .cert_der = t->leaf,
                                 .cert_der_len = t->leaf_len, .status = VOUCH_DEVICE_ACTIVE};
        rc = vouch_store_device_insert(w->store, &in, "device.register", actor, &t->device_row,
                                       err, sizeof err);
        if (rc == VOUCH_STORE_E_EXISTS) {
            /* registered meanwhile by a parallel authentication of the same
             * device: the same certificate is the same device */
            vouch_store_device d = {0};
            rc = vouch_store_device_get_by_cert(w->store, t->leaf_sha, &d, err, sizeof err);
            if (rc == VOUCH_STORE_OK && d.account_id == t->account_id &&
                strcmp(d.device_id, t->device_id) == 0)
                t->device_row = d.id;
            vouch_store_device_clear(&d);
            if (t->device_row == 0) {
                vouchd_send_error(req, 409, E_CONFLICT,
                                  "account '%s' already has a device '%s' with another "
                                  "certificate",
                                  t->account, t->device_id);
                return -1;
            }
            return 0;
        }
    } else {
        /* only if the record is still as the challenge saw it: two devices
         * of different families cannot both take a record made ahead */
        rc = vouch_store_device_set_cert(w->store, t->device_row, t->family_id, t->leaf,
                                         t->leaf_len, t->row_has_cert ? t->row_cert : NULL,
                                         t->row_family, actor, err, sizeof err);
        if (rc == VOUCH_STORE_E_EXISTS) {
            vouchd_send_error(req, 409, E_CONFLICT,
                              "the device record took another certificate meanwhile, or this "
                              "certificate belongs to another device");
            return -1;
        }
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "device registration", err);
        return -1;
    }
    return 0;
}

void vouchd_h_auth_response(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    slot t = {0};
    uint8_t sig[VOUCHD_AUTH_SIG_MAX + 8], digest[32];
    char idtxt[VOUCHD_AUTH_ID_MAX + 1];
    long sl = -1;
    vouchd_auth_refusal ref;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    const char *body = blen ? (const char *)evbuffer_pullup(in, -1) : "";
    if (vouchd_auth_parse_response(body, blen, idtxt, sig, &sl, &ref) != 0) {
        vouchd_send_error(req, ref.status, ref.code, "%s", ref.msg);
        goto out;
    }
    struct vouchd_auth_worker *aw = worker_auth(w);
    if (!aw) { /* before anything is taken or written */
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        goto out;
    }
    if (challenge_take(req, idtxt, &t) != 0)
        goto out;
    if (sl <= 0) {
        vouchd_send_error(req, 400, E_MALFORMED_SIG,
                          "'signature' is not base64 of a DER ECDSA signature (at most %d "
                          "bytes); the challenge is used up",
                          VOUCHD_AUTH_SIG_MAX);
        goto out;
    }
    /* the digest the device signed: the leaf's hash is in the challenge,
     * the certificate itself is not needed again */
    uint8_t msg[VOUCH_AUTH_MESSAGE_MAX];
    size_t ml = 0;
    char why[160] = "";
    if (vouch_auth_message(G.origin, t.nonce, t.leaf_sha, msg, sizeof msg, &ml) != VOUCH_OK ||
        sha256(msg, ml, digest) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot build the signed message");
        goto out;
    }
    /* the worker's context for this key when it judged the chain itself
     * (the usual case with keep-alive), else a one-off */
    centry *ce = cache_find(aw, t.key);
    EVP_PKEY_CTX *one = NULL, **vctx = ce && ce->pub == t.pub ? &ce->vctx : &one;
    vouch_pki_rc prc = vouch_pki_auth_verify_ctx(t.pub, vctx, digest, sig, (size_t)sl, why,
                                                 sizeof why);
    EVP_PKEY_CTX_free(one);
    if (prc == VOUCH_PKI_E_PARSE) {
        vouchd_send_error(req, 400, E_MALFORMED_SIG, "%s; the challenge is used up", why);
        goto out;
    }
    if (prc != VOUCH_PKI_OK) {
        vouchd_send_error(req, 401, E_BAD_SIG,
                          "the signature does not verify with the device certificate's key "
                          "over this challenge and origin %s; the challenge is used up",
                          G.origin);
        goto out;
    }
    if (t.leaf) {
        int r = device_record(req, w, &t);
        vouchd_auth_devices_changed(); /* cached lookups saw no record, or another certificate */
        if (r != 0)
            goto out;
    }
    int64_t now = (int64_t)time(NULL), expires = now + SESSION_TTL;
    seen_note(t.device_row, now);
    char tok[128];
    if (token_make(aw, t.account_id, t.device_row, expires, tok) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot make a session token");
        goto out;
    }
    /* the device id and account are checked names, the token base64url:
     * written directly unless a stored name needs escaping */
    char when[32], ans[512];
    int n = vouchd_device_id_ok(t.device_id) && vouchd_name_ok_max(t.account, ACCOUNT_MAX) &&
                    rfc3339(expires, when) == 0
                ? snprintf(ans, sizeof ans,
                           "{\"device_id\":\"%s\",\"account\":\"%s\",\"token\":\"%s\","
                           "\"expires_at\":\"%s\"}",
                           t.device_id, t.account, tok, when)
                : -1;
    if (n > 0 && (size_t)n < sizeof ans)
        vouchd_send_json_text(req, 200, ans, (size_t)n);
    else
        vouchd_send_json(req, 200,
                         json_pack("{s:s,s:s,s:s,s:o}", "device_id", t.device_id, "account",
                                   t.account, "token", tok, "expires_at",
                                   vouchd_epoch_json(expires)));
    OPENSSL_cleanse(ans, sizeof ans);
    OPENSSL_cleanse(tok, sizeof tok);
out:
    EVP_PKEY_free(t.pub);
    free(t.leaf);
    OPENSSL_cleanse(&t, sizeof t);
}

/* ---- GET /v1/session ------------------------------------------------------------------------ */

int vouchd_session_check(struct evhttp_request *req, vouchd_worker *w, vouch_store_device *dev,
                         int64_t *expires)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    int64_t account_id = 0, row = 0;
    char err[256] = "";
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct vouchd_auth_worker *a = worker_auth(w);
    if (!a) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return -1;
    }
    if (!h || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) > 200 ||
        token_check(a, h + 7, &account_id, &row, expires) != 0) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"vouch-device\", "
                                                    "error=\"invalid_token\"");
        vouchd_send_error(req, 401, E_SESSION,
                          "this call needs 'Authorization: Bearer <session token>' from "
                          "POST /v1/auth/response, unexpired");
        return -1;
    }
    vouch_store_rc rc = vouch_store_device_get(w->store, 0, NULL, row, dev, err, sizeof err);
    if (rc == VOUCH_STORE_OK && dev->account_id != account_id)
        rc = VOUCH_STORE_E_NOT_FOUND;
    if (rc == VOUCH_STORE_E_NOT_FOUND || (rc == VOUCH_STORE_OK &&
                                          dev->status != VOUCH_DEVICE_ACTIVE)) {
        vouch_store_device_clear(dev);
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"vouch-device\", "
                                                    "error=\"invalid_token\"");
        vouchd_send_error(req, 401, E_SESSION, "the session's device is gone, disabled or "
                                               "blocked");
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "session check", err);
        return -1;
    }
    return 0;
}

void vouchd_h_session(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                      const char *rest)
{
    (void)caller;
    (void)rest;
    vouch_store_device dev = {0};
    int64_t expires = 0;
    if (vouchd_session_check(req, w, &dev, &expires) != 0)
        return;
    vouchd_send_json(req, 200,
                     json_pack("{s:s,s:s,s:o}", "device_id", dev.device_id, "account",
                               dev.account, "expires_at", vouchd_epoch_json(expires)));
    vouch_store_device_clear(&dev);
}

/* ---- for the device listing ------------------------------------------------------------------ */

const char *vouchd_device_presence(const vouch_store_device *d, int64_t now)
{
    if (!d->has_cert)
        return "no_certificate";
    return d->last_seen && now - d->last_seen <= ONLINE_WINDOW ? "online" : "offline";
}
