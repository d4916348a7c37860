/*
 * Per-worker caches of what nearly every issuance reads from the store:
 * the bearer token's verdict and the parsed template. Each was a database
 * read per request (a read transaction, a statement, and for a template a
 * JSON parse): about 8 % of vouchd's CPU per certificate (docs/perf.md).
 *
 * Freshness. An entry serves for at most CACHE_TTL_MS after it was read
 * from the store, and not at all once this process changed templates
 * (vouchd_cache_templates_changed, from PUT /v1/templates) or tokens
 * (vouchd_cache_tokens_changed): a change made through this vouchd takes
 * effect at once, one made by another process on the same database (an
 * offline `vouch` command) within CACHE_TTL_MS.
 *
 * Tokens are keyed by the SHA-256 of the token, the form the store keeps;
 * the token itself is never kept. A lookup compares the hash with every
 * entry in constant time, as the store does. Only valid tokens are cached;
 * an unknown or revoked token always goes to the store.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "server/http.h"

#define CACHE_TTL_MS 1000
#define TEMPLATE_SLOTS 16
#define TOKEN_SLOTS 8

typedef struct {
    char name[VOUCH_PKI_TPL_NAME_MAX + 1]; /* "": empty */
    vouch_pki_template tpl;
    unsigned gen;
    int64_t at_ms;
} tpl_slot;

typedef struct {
    uint8_t hash[32];
    int used;
    vouchd_caller caller;
    unsigned gen;
    int64_t at_ms;
} tok_slot;

struct vouchd_cache {
    tpl_slot tpl[TEMPLATE_SLOTS];
    size_t tpl_next; /* round-robin replacement */
    tok_slot tok[TOKEN_SLOTS];
    size_t tok_next;
};

static atomic_uint g_tpl_gen, g_tok_gen;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fresh(unsigned gen, unsigned cur, int64_t at, int64_t now)
{
    return gen == cur && now - at < CACHE_TTL_MS && now >= at;
}

int vouchd_cache_init(vouchd_worker *w)
{
    w->cache = calloc(1, sizeof *w->cache);
    return w->cache ? 0 : -1;
}

void vouchd_cache_free(vouchd_worker *w)
{
    if (!w->cache)
        return;
    OPENSSL_cleanse(w->cache->tok, sizeof w->cache->tok);
    free(w->cache);
    w->cache = NULL;
}

void vouchd_cache_templates_changed(void)
{
    atomic_fetch_add(&g_tpl_gen, 1);
}

void vouchd_cache_tokens_changed(void)
{
    atomic_fetch_add(&g_tok_gen, 1);
}

int vouchd_cache_template(vouchd_worker *w, const char *name, vouch_pki_template *out)
{
    struct vouchd_cache *c = w->cache;
    if (!c || strlen(name) > VOUCH_PKI_TPL_NAME_MAX)
        return 0;
    unsigned gen = atomic_load(&g_tpl_gen);
    int64_t now = now_ms();
    for (size_t i = 0; i < TEMPLATE_SLOTS; i++) {
        tpl_slot *s = &c->tpl[i];
        if (s->name[0] && strcmp(s->name, name) == 0) {
            if (!fresh(s->gen, gen, s->at_ms, now)) {
                s->name[0] = 0;
                return 0;
            }
            *out = s->tpl;
            return 1;
        }
    }
    return 0;
}

void vouchd_cache_template_put(vouchd_worker *w, const char *name, unsigned gen,
                               const vouch_pki_template *t)
{
    struct vouchd_cache *c = w->cache;
    if (!c || strlen(name) > VOUCH_PKI_TPL_NAME_MAX)
        return;
    tpl_slot *s = NULL;
    for (size_t i = 0; i < TEMPLATE_SLOTS && !s; i++)
        if (!c->tpl[i].name[0] || strcmp(c->tpl[i].name, name) == 0)
            s = &c->tpl[i];
    if (!s) {
        s = &c->tpl[c->tpl_next];
        c->tpl_next = (c->tpl_next + 1) % TEMPLATE_SLOTS;
    }
    memcpy(s->name, name, strlen(name) + 1);
    s->tpl = *t;
    s->gen = gen;
    s->at_ms = now_ms();
}

unsigned vouchd_cache_templates_gen(void)
{
    return atomic_load(&g_tpl_gen);
}

unsigned vouchd_cache_tokens_gen(void)
{
    return atomic_load(&g_tok_gen);
}

int vouchd_cache_token(vouchd_worker *w, const uint8_t hash[32], vouchd_caller *caller)
{
    struct vouchd_cache *c = w->cache;
    if (!c)
        return 0;
    unsigned gen = atomic_load(&g_tok_gen);
    int64_t now = now_ms();
    tok_slot *hit = NULL;
    /* every slot, no early exit: the time does not depend on which matched */
    for (size_t i = 0; i < TOKEN_SLOTS; i++) {
        tok_slot *s = &c->tok[i];
        int same = CRYPTO_memcmp(s->hash, hash, 32) == 0;
        if (same && s->used)
            hit = s;
    }
    if (!hit)
        return 0;
    if (!fresh(hit->gen, gen, hit->at_ms, now)) {
        OPENSSL_cleanse(hit, sizeof *hit);
        return 0;
    }
    *caller = hit->caller;
    return 1;
}

void vouchd_cache_token_put(vouchd_worker *w, const uint8_t hash[32], unsigned gen,
                            const vouchd_caller *caller)
{
    struct vouchd_cache *c = w->cache;
    if (!c)
        return;
    tok_slot *s = NULL;
    for (size_t i = 0; i < TOKEN_SLOTS && !s; i++)
        if (!c->tok[i].used || CRYPTO_memcmp(c->tok[i].hash, hash, 32) == 0)
            s = &c->tok[i];
    if (!s) {
        s = &c->tok[c->tok_next];
        c->tok_next = (c->tok_next + 1) % TOKEN_SLOTS;
    }
    memcpy(s->hash, hash, 32);
    s->caller = *caller;
    s->gen = gen;
    s->at_ms = now_ms();
    s->used = 1;
}
