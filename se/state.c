/*
 * Serialized form of the SE's persistent state. A flat, fixed-size layout
 * (docs/se-protocol.md describes the fields; tests/unit/test_core.c pins it
 * with vectors) so that an MCU could keep it in one flash page set.
 *
 *   version(1) serial(9) lifecycle(1) host_keys_set(1) Kmac(16) Kenc(16)
 *   host_counter(4) slots[4]{alg(1) priv(32) pub(65)} envelope[2](32)
 *   zones[8]{read_ac(1) update_ac(1) counter(4)} zone_data(4448)
 */
#include <string.h>

#include "se/core.h"

#define STATE_LEN                                                              \
    (1 + VOUCH_SE_SERIAL_LEN + 1 + 1 + 2 * VOUCH_SE_HOST_KEY_LEN + 4 +        \
     VOUCH_SE_SLOTS * (1 + 32 + VOUCH_SE_P256_PUB_LEN) +                       \
     VOUCH_SE_ENVELOPE_KEYS * 32 + VOUCH_SE_ZONES * 6 + VOUCH_SE_ZONE_BYTES)

_Static_assert(STATE_LEN <= VOUCH_SE_STATE_MAX, "state blob too large");

typedef struct {
    uint8_t *p;
    size_t size, pos;
} wcur;

static void put(wcur *w, const void *src, size_t n)
{
    if (w->pos + n <= w->size)
        memcpy(w->p + w->pos, src, n);
    w->pos += n;
}

static void put_u8(wcur *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u32(wcur *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 4);
}

size_t vouch_se_state_serialize(const vouch_se_pstate *st, uint8_t *out, size_t size)
{
    wcur w = {out, size, 0};
    if (size < STATE_LEN)
        return 0;
    put_u8(&w, VOUCH_SE_STATE_VERSION);
    put(&w, st->serial, VOUCH_SE_SERIAL_LEN);
    put_u8(&w, st->lifecycle);
    put_u8(&w, st->host_keys_set);
    put(&w, st->host_mac_key, VOUCH_SE_HOST_KEY_LEN);
    put(&w, st->host_enc_key, VOUCH_SE_HOST_KEY_LEN);
    put_u32(&w, st->host_counter);
    for (unsigned i = 0; i < VOUCH_SE_SLOTS; i++) {
        put_u8(&w, st->slots[i].alg);
        put(&w, st->slots[i].priv, 32);
        put(&w, st->slots[i].pub, VOUCH_SE_P256_PUB_LEN);
    }
    for (unsigned i = 0; i < VOUCH_SE_ENVELOPE_KEYS; i++)
        put(&w, st->envelope[i], 32);
    for (unsigned i = 0; i < VOUCH_SE_ZONES; i++) {
        put_u8(&w, st->zones[i].read_ac);
        put_u8(&w, st->zones[i].update_ac);
        put_u32(&w, st->zones[i].counter);
    }
    put(&w, st->zone_data, VOUCH_SE_ZONE_BYTES);
    return w.pos == STATE_LEN ? w.pos : 0;
}

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} rcur;

static void get(rcur *r, void *dst, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
}

static uint8_t get_u8(rcur *r)
{
    uint8_t v;
    get(r, &v, 1);
    return v;
}

static uint32_t get_u32(rcur *r)
{
    uint8_t b[4];
    get(r, b, 4);
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

int vouch_se_state_parse(vouch_se_pstate *st, const uint8_t *in, size_t len)
{
    rcur r = {in, len, 0, 0};
    if (len != STATE_LEN)
        return -1;
    memset(st, 0, sizeof *st);
    if (get_u8(&r) != VOUCH_SE_STATE_VERSION)
        return -1;
    get(&r, st->serial, VOUCH_SE_SERIAL_LEN);
    st->lifecycle = get_u8(&r);
    st->host_keys_set = get_u8(&r);
    get(&r, st->host_mac_key, VOUCH_SE_HOST_KEY_LEN);
    get(&r, st->host_enc_key, VOUCH_SE_HOST_KEY_LEN);
    st->host_counter = get_u32(&r);
    for (unsigned i = 0; i < VOUCH_SE_SLOTS; i++) {
        st->slots[i].alg = get_u8(&r);
        get(&r, st->slots[i].priv, 32);
        get(&r, st->slots[i].pub, VOUCH_SE_P256_PUB_LEN);
        if (st->slots[i].alg > VOUCH_SE_ALG_X25519)
            r.bad = 1;
    }
    for (unsigned i = 0; i < VOUCH_SE_ENVELOPE_KEYS; i++)
        get(&r, st->envelope[i], 32);
    for (unsigned i = 0; i < VOUCH_SE_ZONES; i++) {
        st->zones[i].read_ac = get_u8(&r);
        st->zones[i].update_ac = get_u8(&r);
        st->zones[i].counter = get_u32(&r);
        if (st->zones[i].read_ac > VOUCH_SE_AC_NEVER || st->zones[i].update_ac > VOUCH_SE_AC_NEVER)
            r.bad = 1;
        if (vouch_se_zone_map[i].type == VOUCH_SE_ZONE_DATA && st->zones[i].counter != 0)
            r.bad = 1;
    }
    get(&r, st->zone_data, VOUCH_SE_ZONE_BYTES);
    if (st->lifecycle < VOUCH_SE_LC_PERSONALIZATION || st->lifecycle > VOUCH_SE_LC_TERMINATED)
        r.bad = 1;
    if (st->host_keys_set > 1)
        r.bad = 1;
    if (r.bad || r.pos != len) {
        memset(st, 0, sizeof *st);
        return -1;
    }
    return 0;
}
