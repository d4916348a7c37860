/*
 * The SE core: frame checks, the host secure channel, and one handler per
 * command, all working on a scratch copy of the persistent state that becomes
 * live only after a durable commit (see core.h). docs/se-protocol.md is the
 * specification this file implements; section numbers below refer to it.
 */
#include <string.h>

#include "se/core.h"

const vouch_se_zone_layout vouch_se_zone_map[VOUCH_SE_ZONES] = {
    {VOUCH_SE_ZONE_DATA, 2048, 0},       {VOUCH_SE_ZONE_DATA, 1024, 2048},
    {VOUCH_SE_ZONE_DATA, 512, 3072},     {VOUCH_SE_ZONE_DATA, 512, 3584},
    {VOUCH_SE_ZONE_DATA, 256, 4096},     {VOUCH_SE_ZONE_COUNTER, 32, 4352},
    {VOUCH_SE_ZONE_COUNTER, 32, 4384},   {VOUCH_SE_ZONE_COUNTER, 32, 4416},
};

_Static_assert(4416 + 32 == VOUCH_SE_ZONE_BYTES, "zone map and zone storage disagree");

/* ---- bounded reader over the command payload (STYLE 9) ----------------- */
typedef struct {
    uint8_t *p;
    size_t len, pos;
} cur;

static int take_u8(cur *c, uint8_t *v)
{
    if (c->len - c->pos < 1)
        return -1;
    *v = c->p[c->pos++];
    return 0;
}

static int take_u16(cur *c, uint16_t *v)
{
    if (c->len - c->pos < 2)
        return -1;
    *v = (uint16_t)((c->p[c->pos] << 8) | c->p[c->pos + 1]);
    c->pos += 2;
    return 0;
}

static int take_u32(cur *c, uint32_t *v)
{
    if (c->len - c->pos < 4)
        return -1;
    *v = ((uint32_t)c->p[c->pos] << 24) | ((uint32_t)c->p[c->pos + 1] << 16) |
         ((uint32_t)c->p[c->pos + 2] << 8) | c->p[c->pos + 3];
    c->pos += 4;
    return 0;
}

static int take(cur *c, size_t n, uint8_t **out)
{
    if (c->len - c->pos < n)
        return -1;
    *out = c->p + c->pos;
    c->pos += n;
    return 0;
}

static size_t rest(const cur *c)
{
    return c->len - c->pos;
}

static void be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- one request in flight --------------------------------------------- */
typedef struct {
    vouch_se_core *core;
    vouch_se_pstate *st; /* scratch: what the command may change */
    const vouch_crypto_port *c;
    uint8_t header;
    int mac_ok;       /* the frame carried a valid C-MAC */
    uint32_t counter; /* its counter */
    uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN]; /* keys that authenticated it */
    uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN];
    uint8_t *out; /* response data area */
    size_t out_len, out_cap;
    int dirty;   /* persistent state changed */
    int enc_out; /* response data is secret: encrypt (2.3) */
} req;

#define CHECK(cond, status)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            return (status);                                                   \
    } while (0)

static int emit(req *r, const void *p, size_t n)
{
    if (r->out_cap - r->out_len < n)
        return -1;
    memcpy(r->out + r->out_len, p, n);
    r->out_len += n;
    return 0;
}

/* AES-128-CTR under Kenc with the counter block of 2.3. */
static int channel_crypt(req *r, uint8_t dir, uint8_t *buf, size_t len)
{
    uint8_t iv[16] = {0};
    if (len == 0)
        return 0;
    iv[0] = dir;
    be32(iv + 1, r->counter);
    return r->c->aes_ctr(r->c->ctx, r->enc_key, iv, buf, buf, len);
}

static int zone_ok(uint8_t zone)
{
    return zone < VOUCH_SE_ZONES;
}

static size_t zone_readable(uint8_t zone)
{
    const vouch_se_zone_layout *z = &vouch_se_zone_map[zone];
    return z->type == VOUCH_SE_ZONE_COUNTER ? 4u + z->size : z->size;
}

/* Whether the access condition lets this request through (2.4). */
static int ac_allows(const req *r, uint8_t ac)
{
    return ac == VOUCH_SE_AC_ALWAYS || (ac == VOUCH_SE_AC_HOST && r->mac_ok);
}

/* Commands that need the channel once host keys exist (2.4). */
static int channel_missing(const req *r)
{
    return r->st->host_keys_set && !r->mac_ok;
}

static int terminated(const req *r)
{
    return r->st->lifecycle == VOUCH_SE_LC_TERMINATED;
}

static size_t pub_len(uint8_t alg)
{
    return alg == VOUCH_SE_ALG_P256 ? VOUCH_SE_P256_PUB_LEN : VOUCH_SE_X_PUB_LEN;
}

/* ---- handlers: each returns a status and may fill r->out --------------- */

static int h_echo(req *r, cur *c)
{
    CHECK(emit(r, c->p, c->len) == 0, VOUCH_SE_E_PARAM);
    return VOUCH_SE_OK;
}

static int h_reset(req *r, cur *c)
{
    CHECK(rest(c) == 0, VOUCH_SE_E_PARAM);
    vouch_se_core_reset(r->core);
    return VOUCH_SE_OK;
}

static int h_random(req *r, cur *c)
{
    uint16_t n;
    CHECK(take_u16(c, &n) == 0 && rest(c) == 0, VOUCH_SE_E_PARAM);
    CHECK(n >= 1 && n <= VOUCH_SE_MAX_PAYLOAD && n <= r->out_cap, VOUCH_SE_E_PARAM);
    CHECK(r->c->random(r->c->ctx, r->out, n) == 0, VOUCH_SE_E_INTERNAL);
    r->out_len = n;
    return VOUCH_SE_OK;
}

static int h_query(req *r, cur *c)
{
    uint8_t tag, b[12];
    const vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &tag) == 0 && rest(c) == 0, VOUCH_SE_E_PARAM);
    switch (tag) {
    case VOUCH_SE_Q_SERIAL:
        emit(r, st->serial, VOUCH_SE_SERIAL_LEN);
        break;
    case VOUCH_SE_Q_PRODUCT:
        b[0] = VOUCH_SE_FW_MAJOR;
        b[1] = VOUCH_SE_FW_MINOR;
        emit(r, b, 2);
        emit(r, VOUCH_SE_PRODUCT, sizeof VOUCH_SE_PRODUCT - 1);
        break;
    case VOUCH_SE_Q_LIFECYCLE:
        b[0] = st->lifecycle;
        b[1] = r->core->power;
        emit(r, b, 2);
        break;
    case VOUCH_SE_Q_KEYS:
        b[0] = VOUCH_SE_SLOTS;
        emit(r, b, 1);
        for (unsigned i = 0; i < VOUCH_SE_SLOTS; i++) {
            b[0] = (uint8_t)i;
            b[1] = st->slots[i].alg;
            b[2] = (uint8_t)((st->slots[i].alg != VOUCH_SE_ALG_NONE ? VOUCH_SE_KEY_PRESENT : 0) |
                             (i == 0 ? VOUCH_SE_KEY_FACTORY : 0));
            emit(r, b, 3);
        }
        break;
    case VOUCH_SE_Q_ZONES:
        b[0] = VOUCH_SE_ZONES;
        emit(r, b, 1);
        for (unsigned i = 0; i < VOUCH_SE_ZONES; i++) {
            b[0] = (uint8_t)i;
            b[1] = vouch_se_zone_map[i].type;
            b[2] = st->zones[i].read_ac;
            b[3] = st->zones[i].update_ac;
            be16(b + 4, vouch_se_zone_map[i].size);
            be32(b + 6, st->zones[i].counter);
            emit(r, b, 10);
        }
        break;
    case VOUCH_SE_Q_HOST:
        b[0] = st->host_keys_set;
        be32(b + 1, st->host_counter > r->core->ctr_seen ? st->host_counter : r->core->ctr_seen);
        emit(r, b, 5);
        break;
    default:
        return VOUCH_SE_E_PARAM;
    }
    return VOUCH_SE_OK;
}

static int h_read(req *r, cur *c)
{
    uint8_t zone;
    uint16_t off, len;
    const vouch_se_zone_layout *z;
    vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &zone) == 0 && take_u16(c, &off) == 0 && take_u16(c, &len) == 0 &&
              rest(c) == 0,
          VOUCH_SE_E_PARAM);
    CHECK(zone_ok(zone), VOUCH_SE_E_ZONE);
    CHECK(len >= 1 && len <= VOUCH_SE_MAX_PAYLOAD && len <= r->out_cap, VOUCH_SE_E_PARAM);
    CHECK((size_t)off + len <= zone_readable(zone), VOUCH_SE_E_RANGE);
    CHECK(ac_allows(r, st->zones[zone].read_ac), VOUCH_SE_E_ACCESS);
    z = &vouch_se_zone_map[zone];
    if (z->type == VOUCH_SE_ZONE_COUNTER) {
        uint8_t view[4 + VOUCH_SE_COUNTER_DATA];
        be32(view, st->zones[zone].counter);
        memcpy(view + 4, st->zone_data + z->offset, VOUCH_SE_COUNTER_DATA);
        memcpy(r->out, view + off, len);
    } else {
        memcpy(r->out, st->zone_data + z->offset + off, len);
    }
    r->out_len = len;
    r->enc_out = r->mac_ok;
    return VOUCH_SE_OK;
}

static int h_update(req *r, cur *c)
{
    uint8_t zone, *data;
    uint16_t off;
    size_t n;
    vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &zone) == 0 && take_u16(c, &off) == 0, VOUCH_SE_E_PARAM);
    n = rest(c);
    CHECK(n >= 1 && take(c, n, &data) == 0, VOUCH_SE_E_PARAM);
    CHECK(zone_ok(zone) && vouch_se_zone_map[zone].type == VOUCH_SE_ZONE_DATA, VOUCH_SE_E_ZONE);
    CHECK((size_t)off + n <= vouch_se_zone_map[zone].size, VOUCH_SE_E_RANGE);
    CHECK(ac_allows(r, st->zones[zone].update_ac), VOUCH_SE_E_ACCESS);
    if (r->mac_ok)
        CHECK(channel_crypt(r, VOUCH_SE_DIR_CMD, data, n) == 0, VOUCH_SE_E_INTERNAL);
    memcpy(st->zone_data + vouch_se_zone_map[zone].offset + off, data, n);
    r->dirty = 1;
    return VOUCH_SE_OK;
}

static int h_decrement(req *r, cur *c)
{
    uint8_t zone, *data, b[4];
    uint32_t amount;
    size_t n;
    vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &zone) == 0 && take_u32(c, &amount) == 0, VOUCH_SE_E_PARAM);
    n = rest(c);
    CHECK(n <= VOUCH_SE_COUNTER_DATA && take(c, n, &data) == 0, VOUCH_SE_E_PARAM);
    CHECK(zone_ok(zone) && vouch_se_zone_map[zone].type == VOUCH_SE_ZONE_COUNTER,
          VOUCH_SE_E_ZONE);
    CHECK(ac_allows(r, st->zones[zone].update_ac), VOUCH_SE_E_ACCESS);
    CHECK(amount <= st->zones[zone].counter, VOUCH_SE_E_COUNTER);
    if (n) {
        if (r->mac_ok)
            CHECK(channel_crypt(r, VOUCH_SE_DIR_CMD, data, n) == 0, VOUCH_SE_E_INTERNAL);
        memcpy(st->zone_data + vouch_se_zone_map[zone].offset, data, n);
    }
    st->zones[zone].counter -= amount;
    r->dirty = amount != 0 || n != 0;
    be32(b, st->zones[zone].counter);
    emit(r, b, 4);
    return VOUCH_SE_OK;
}

static int gen_into(req *r, vouch_se_slot *s, uint8_t alg)
{
    const vouch_crypto_port *p = r->c;
    int rc;
    vouch_se_slot fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.alg = alg;
    if (alg == VOUCH_SE_ALG_P256)
        rc = p->p256_keygen(p->ctx, fresh.priv, fresh.pub);
    else if (alg == VOUCH_SE_ALG_ED25519)
        rc = p->ed25519_keygen(p->ctx, fresh.priv, fresh.pub);
    else
        rc = p->x25519_keygen(p->ctx, fresh.priv, fresh.pub);
    if (rc == 0)
        memcpy(s, &fresh, sizeof fresh);
    p->cleanse(&fresh, sizeof fresh);
    return rc;
}

static int h_keygen(req *r, cur *c)
{
    uint8_t slot, alg;
    vouch_se_slot *s;
    CHECK(take_u8(c, &slot) == 0 && take_u8(c, &alg) == 0 && rest(c) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    CHECK(alg >= VOUCH_SE_ALG_P256 && alg <= VOUCH_SE_ALG_X25519, VOUCH_SE_E_PARAM);
    if (slot == VOUCH_SE_SLOT_EPHEMERAL) {
        CHECK(alg != VOUCH_SE_ALG_ED25519, VOUCH_SE_E_SLOT);
        s = &r->core->ephemeral;
    } else {
        CHECK(slot < VOUCH_SE_SLOTS, VOUCH_SE_E_SLOT);
        s = &r->st->slots[slot];
    }
    CHECK(!(r->st->lifecycle == VOUCH_SE_LC_OPERATIONAL && channel_missing(r)),
          VOUCH_SE_E_CHANNEL);
    CHECK(!(slot == 0 && r->st->lifecycle == VOUCH_SE_LC_OPERATIONAL), VOUCH_SE_E_KEY_LOCKED);
    CHECK(gen_into(r, s, alg) == 0, VOUCH_SE_E_INTERNAL);
    if (slot != VOUCH_SE_SLOT_EPHEMERAL)
        r->dirty = 1;
    emit(r, s->pub, pub_len(alg));
    return VOUCH_SE_OK;
}

/* The slot a key command names, or NULL with *status set. */
static vouch_se_slot *slot_for_use(req *r, uint8_t slot, int allow_ephemeral, int *status)
{
    vouch_se_slot *s;
    if (slot == VOUCH_SE_SLOT_EPHEMERAL && allow_ephemeral)
        s = &r->core->ephemeral;
    else if (slot < VOUCH_SE_SLOTS)
        s = &r->st->slots[slot];
    else {
        *status = VOUCH_SE_E_SLOT;
        return NULL;
    }
    if (s->alg == VOUCH_SE_ALG_NONE) {
        *status = VOUCH_SE_E_NO_KEY;
        return NULL;
    }
    return s;
}

static int h_pubkey(req *r, cur *c)
{
    uint8_t slot;
    int status = VOUCH_SE_OK;
    vouch_se_slot *s;
    CHECK(take_u8(c, &slot) == 0 && rest(c) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    s = slot_for_use(r, slot, 1, &status);
    if (!s)
        return status;
    emit(r, &s->alg, 1);
    emit(r, s->pub, pub_len(s->alg));
    return VOUCH_SE_OK;
}

static int h_sign(req *r, cur *c)
{
    uint8_t slot, sig[VOUCH_SE_SIG_LEN];
    int status = VOUCH_SE_OK, rc;
    size_t n;
    vouch_se_slot *s;
    const vouch_crypto_port *p = r->c;
    CHECK(take_u8(c, &slot) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    s = slot_for_use(r, slot, 0, &status);
    if (!s)
        return status;
    n = rest(c);
    if (s->alg == VOUCH_SE_ALG_P256) {
        CHECK(n == 32, VOUCH_SE_E_PARAM);
        rc = p->p256_sign(p->ctx, s->priv, c->p + c->pos, sig);
    } else if (s->alg == VOUCH_SE_ALG_ED25519) {
        CHECK(n >= 1, VOUCH_SE_E_PARAM);
        rc = p->ed25519_sign(p->ctx, s->priv, c->p + c->pos, n, sig);
    } else {
        return VOUCH_SE_E_SLOT;
    }
    CHECK(rc == 0, VOUCH_SE_E_INTERNAL);
    emit(r, sig, sizeof sig);
    return VOUCH_SE_OK;
}

static int verify_with(req *r, uint8_t alg, const uint8_t *pub, const uint8_t *sig,
                       const uint8_t *msg, size_t n)
{
    const vouch_crypto_port *p = r->c;
    int v;
    uint8_t b;
    if (alg == VOUCH_SE_ALG_P256) {
        CHECK(n == 32, VOUCH_SE_E_PARAM);
        v = p->p256_verify(p->ctx, pub, msg, sig);
    } else if (alg == VOUCH_SE_ALG_ED25519) {
        CHECK(n >= 1, VOUCH_SE_E_PARAM);
        v = p->ed25519_verify(p->ctx, pub, msg, n, sig);
    } else {
        return VOUCH_SE_E_PARAM;
    }
    /* -1: the public key is not a valid point */
    CHECK(v >= 0, VOUCH_SE_E_PARAM);
    b = v == 1;
    emit(r, &b, 1);
    return VOUCH_SE_OK;
}

static int h_verify(req *r, cur *c)
{
    uint8_t mode, alg, zone, *pub, *sig;
    vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &mode) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    if (mode == VOUCH_SE_VERIFY_KEY) {
        CHECK(take_u8(c, &alg) == 0, VOUCH_SE_E_PARAM);
        CHECK(alg == VOUCH_SE_ALG_P256 || alg == VOUCH_SE_ALG_ED25519, VOUCH_SE_E_PARAM);
        CHECK(take(c, pub_len(alg), &pub) == 0, VOUCH_SE_E_PARAM);
    } else if (mode == VOUCH_SE_VERIFY_ZONE || mode == VOUCH_SE_VERIFY_ZONE_AT) {
        const vouch_se_zone_layout *z;
        uint16_t at = 0;
        CHECK(take_u8(c, &zone) == 0, VOUCH_SE_E_PARAM);
        if (mode == VOUCH_SE_VERIFY_ZONE_AT)
            CHECK(take_u16(c, &at) == 0, VOUCH_SE_E_PARAM);
        CHECK(zone_ok(zone) && vouch_se_zone_map[zone].type == VOUCH_SE_ZONE_DATA,
              VOUCH_SE_E_ZONE);
        CHECK(ac_allows(r, st->zones[zone].read_ac), VOUCH_SE_E_ACCESS);
        z = &vouch_se_zone_map[zone];
        /* the key entry alg(1) key(n) must lie inside the zone */
        CHECK((uint32_t)at + 1u <= z->size, VOUCH_SE_E_RANGE);
        alg = st->zone_data[z->offset + at];
        CHECK(alg == VOUCH_SE_ALG_P256 || alg == VOUCH_SE_ALG_ED25519, VOUCH_SE_E_PARAM);
        CHECK((uint32_t)at + 1u + pub_len(alg) <= z->size, VOUCH_SE_E_RANGE);
        pub = st->zone_data + z->offset + at + 1;
    } else {
        return VOUCH_SE_E_PARAM;
    }
    CHECK(take(c, VOUCH_SE_SIG_LEN, &sig) == 0, VOUCH_SE_E_PARAM);
    return verify_with(r, alg, pub, sig, c->p + c->pos, rest(c));
}

static int h_ecdh(req *r, cur *c)
{
    uint8_t slot, *peer;
    int status = VOUCH_SE_OK, rc;
    size_t n;
    vouch_se_slot *s;
    const vouch_crypto_port *p = r->c;
    CHECK(take_u8(c, &slot) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    CHECK(!channel_missing(r), VOUCH_SE_E_CHANNEL);
    s = slot_for_use(r, slot, 1, &status);
    if (!s)
        return status;
    CHECK(s->alg != VOUCH_SE_ALG_ED25519, VOUCH_SE_E_SLOT);
    n = rest(c);
    CHECK(n == pub_len(s->alg) && take(c, n, &peer) == 0, VOUCH_SE_E_PARAM);
    CHECK(r->out_cap >= VOUCH_SE_SECRET_LEN, VOUCH_SE_E_PARAM);
    if (s->alg == VOUCH_SE_ALG_P256)
        rc = p->p256_ecdh(p->ctx, s->priv, peer, r->out);
    else
        rc = p->x25519(p->ctx, s->priv, peer, r->out);
    CHECK(rc == 0, VOUCH_SE_E_PARAM);
    r->out_len = VOUCH_SE_SECRET_LEN;
    r->enc_out = r->mac_ok;
    if (s == &r->core->ephemeral)
        p->cleanse(s, sizeof *s); /* single use */
    return VOUCH_SE_OK;
}

static int h_wrap(req *r, cur *c, int wrap)
{
    uint8_t idx, *data;
    size_t n, outl = 0;
    const vouch_crypto_port *p = r->c;
    CHECK(take_u8(c, &idx) == 0, VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    CHECK(!channel_missing(r), VOUCH_SE_E_CHANNEL);
    CHECK(idx < VOUCH_SE_ENVELOPE_KEYS, VOUCH_SE_E_PARAM);
    n = rest(c);
    if (wrap)
        CHECK(n >= 1 && n <= VOUCH_SE_WRAP_MAX, VOUCH_SE_E_PARAM);
    else
        CHECK(n >= 16 && n <= VOUCH_SE_WRAP_MAX + 8 && n % 8 == 0, VOUCH_SE_E_PARAM);
    CHECK(take(c, n, &data) == 0, VOUCH_SE_E_PARAM);
    if (wrap) {
        if (r->mac_ok)
            CHECK(channel_crypt(r, VOUCH_SE_DIR_CMD, data, n) == 0, VOUCH_SE_E_INTERNAL);
        CHECK(p->aes_wrap(p->ctx, r->st->envelope[idx], data, n, r->out, r->out_cap, &outl) == 0,
              VOUCH_SE_E_INTERNAL);
    } else {
        CHECK(p->aes_unwrap(p->ctx, r->st->envelope[idx], data, n, r->out, r->out_cap,
                            &outl) == 0,
              VOUCH_SE_E_INTEGRITY);
        r->enc_out = r->mac_ok;
    }
    r->out_len = outl;
    return VOUCH_SE_OK;
}

static int h_lifecycle(req *r, cur *c)
{
    uint8_t target;
    vouch_se_pstate *st = r->st;
    CHECK(take_u8(c, &target) == 0 && rest(c) == 0, VOUCH_SE_E_PARAM);
    CHECK(target >= VOUCH_SE_LC_PERSONALIZATION && target <= VOUCH_SE_LC_TERMINATED,
          VOUCH_SE_E_PARAM);
    CHECK(!channel_missing(r), VOUCH_SE_E_CHANNEL);
    CHECK(target > st->lifecycle, VOUCH_SE_E_LIFECYCLE);
    st->lifecycle = target;
    if (target == VOUCH_SE_LC_TERMINATED) {
        /* a terminated chip keeps no key material at all */
        r->c->cleanse(st->slots, sizeof st->slots);
        r->c->cleanse(st->envelope, sizeof st->envelope);
        r->c->cleanse(&r->core->ephemeral, sizeof r->core->ephemeral);
    }
    r->dirty = 1;
    return VOUCH_SE_OK;
}

static int h_hibernate(req *r, cur *c)
{
    CHECK(rest(c) == 0, VOUCH_SE_E_PARAM);
    vouch_se_core_reset(r->core);
    r->core->power = VOUCH_SE_POWER_HIBERNATE;
    return VOUCH_SE_OK;
}

static int h_wake(req *r, cur *c)
{
    CHECK(rest(c) == 0, VOUCH_SE_E_PARAM);
    r->core->power = VOUCH_SE_POWER_AWAKE;
    return VOUCH_SE_OK;
}

static int h_zone_ac(req *r, cur *c)
{
    uint8_t zone, rac, uac;
    vouch_se_zone_state *z;
    CHECK(take_u8(c, &zone) == 0 && take_u8(c, &rac) == 0 && take_u8(c, &uac) == 0 &&
              rest(c) == 0,
          VOUCH_SE_E_PARAM);
    CHECK(!terminated(r), VOUCH_SE_E_LIFECYCLE);
    CHECK(!channel_missing(r), VOUCH_SE_E_CHANNEL);
    CHECK(zone_ok(zone), VOUCH_SE_E_ZONE);
    CHECK(rac <= VOUCH_SE_AC_NEVER && uac <= VOUCH_SE_AC_NEVER, VOUCH_SE_E_PARAM);
    CHECK(r->st->host_keys_set || (rac != VOUCH_SE_AC_HOST && uac != VOUCH_SE_AC_HOST),
          VOUCH_SE_E_PARAM);
    z = &r->st->zones[zone];
    CHECK(rac >= z->read_ac && uac >= z->update_ac, VOUCH_SE_E_NOT_STRICTER);
    z->read_ac = rac;
    z->update_ac = uac;
    r->dirty = 1;
    return VOUCH_SE_OK;
}

static int h_host_keys(req *r, cur *c)
{
    uint8_t *keys;
    vouch_se_pstate *st = r->st;
    CHECK(rest(c) == 2 * VOUCH_SE_HOST_KEY_LEN && take(c, 2 * VOUCH_SE_HOST_KEY_LEN, &keys) == 0,
          VOUCH_SE_E_PARAM);
    CHECK(st->lifecycle == VOUCH_SE_LC_PERSONALIZATION, VOUCH_SE_E_LIFECYCLE);
    CHECK(!channel_missing(r), VOUCH_SE_E_CHANNEL);
    if (r->mac_ok)
        CHECK(channel_crypt(r, VOUCH_SE_DIR_CMD, keys, 2 * VOUCH_SE_HOST_KEY_LEN) == 0,
              VOUCH_SE_E_INTERNAL);
    memcpy(st->host_mac_key, keys, VOUCH_SE_HOST_KEY_LEN);
    memcpy(st->host_enc_key, keys + VOUCH_SE_HOST_KEY_LEN, VOUCH_SE_HOST_KEY_LEN);
    st->host_keys_set = 1;
    r->dirty = 1;
    return VOUCH_SE_OK;
}

static int dispatch(req *r, uint8_t code, cur *c)
{
    switch (code) {
    case VOUCH_SE_CMD_ECHO: return h_echo(r, c);
    case VOUCH_SE_CMD_RESET: return h_reset(r, c);
    case VOUCH_SE_CMD_RANDOM: return h_random(r, c);
    case VOUCH_SE_CMD_QUERY: return h_query(r, c);
    case VOUCH_SE_CMD_READ: return h_read(r, c);
    case VOUCH_SE_CMD_UPDATE: return h_update(r, c);
    case VOUCH_SE_CMD_DECREMENT: return h_decrement(r, c);
    case VOUCH_SE_CMD_KEYGEN: return h_keygen(r, c);
    case VOUCH_SE_CMD_PUBKEY: return h_pubkey(r, c);
    case VOUCH_SE_CMD_SIGN: return h_sign(r, c);
    case VOUCH_SE_CMD_VERIFY: return h_verify(r, c);
    case VOUCH_SE_CMD_ECDH: return h_ecdh(r, c);
    case VOUCH_SE_CMD_WRAP: return h_wrap(r, c, 1);
    case VOUCH_SE_CMD_UNWRAP: return h_wrap(r, c, 0);
    case VOUCH_SE_CMD_LIFECYCLE: return h_lifecycle(r, c);
    case VOUCH_SE_CMD_HIBERNATE: return h_hibernate(r, c);
    case VOUCH_SE_CMD_WAKE: return h_wake(r, c);
    case VOUCH_SE_CMD_ZONE_AC: return h_zone_ac(r, c);
    case VOUCH_SE_CMD_HOST_KEYS: return h_host_keys(r, c);
    default: return VOUCH_SE_E_UNKNOWN_CMD;
    }
}

/* ---- frames --------------------------------------------------------------- */

static size_t finish_frame(uint8_t *rsp, size_t len)
{
    uint16_t crc = vouch_crc16_x25(rsp, len);
    be16(rsp + len, crc);
    return len + VOUCH_SE_CRC_LEN;
}

size_t vouch_se_core_status_frame(uint8_t status, uint8_t *rsp, size_t rsp_size)
{
    if (rsp_size < 3 + VOUCH_SE_CRC_LEN)
        return 0;
    rsp[0] = status & VOUCH_SE_STATUS_MASK;
    be16(rsp + 1, 0);
    return finish_frame(rsp, 3);
}

/* C-MAC (2.1) or R-MAC (2.2) over the parts given. */
static int channel_mac(const vouch_crypto_port *p, const uint8_t key[16], uint8_t dir,
                       uint32_t counter, const uint8_t *prefix, size_t prefix_len,
                       const uint8_t *data, size_t data_len, uint8_t *scratch,
                       uint8_t tag[16])
{
    /* scratch must hold 9 + VOUCH_SE_MAX_PAYLOAD bytes */
    size_t n = 0;
    scratch[n++] = dir;
    be32(scratch + n, counter);
    n += 4;
    memcpy(scratch + n, prefix, prefix_len);
    n += prefix_len;
    memcpy(scratch + n, data, data_len);
    n += data_len;
    return p->aes_cmac(p->ctx, key, scratch, n, tag);
}

size_t vouch_se_core_process(vouch_se_core *core, const uint8_t *cmd, size_t cmd_len,
                             uint8_t *rsp, size_t rsp_size)
{
    const vouch_crypto_port *p = core->crypto;
    uint8_t header, code, tag[16], prefix[4];
    size_t body_len, plen;
    uint32_t counter = 0;
    int status;
    uint8_t *mac_buf;
    req r;
    cur c;

    if (rsp_size < VOUCH_SE_RSP_FRAME_MAX)
        return vouch_se_core_status_frame(VOUCH_SE_E_INTERNAL, rsp, rsp_size);
    /* 1.4 steps 1-3: frame shape */
    if (!cmd || cmd_len < 1 + VOUCH_SE_CRC_LEN)
        return vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, rsp_size);
    if (vouch_crc16_x25(cmd, cmd_len - 2) !=
        (uint16_t)((cmd[cmd_len - 2] << 8) | cmd[cmd_len - 1]))
        return vouch_se_core_status_frame(VOUCH_SE_E_CRC, rsp, rsp_size);
    header = cmd[0];
    body_len = cmd_len - 1 - VOUCH_SE_CRC_LEN;
    if ((header & VOUCH_SE_HDR_RSVD) ||
        ((header & VOUCH_SE_HDR_RMAC) && !(header & VOUCH_SE_HDR_CMAC)))
        return vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, rsp_size);
    plen = body_len;
    if (header & VOUCH_SE_HDR_CMAC) {
        if (body_len < VOUCH_SE_CTR_LEN + VOUCH_SE_MAC_LEN)
            return vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, rsp_size);
        plen = body_len - VOUCH_SE_CTR_LEN - VOUCH_SE_MAC_LEN;
        counter = ((uint32_t)cmd[1 + plen] << 24) | ((uint32_t)cmd[2 + plen] << 16) |
                  ((uint32_t)cmd[3 + plen] << 8) | cmd[4 + plen];
    }
    if (plen > VOUCH_SE_MAX_PAYLOAD)
        return vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, rsp_size);
    /* steps 4-5 */
    code = header & VOUCH_SE_HDR_CMD_MASK;
    if (code >= VOUCH_SE_CMD_COUNT_)
        return vouch_se_core_status_frame(VOUCH_SE_E_UNKNOWN_CMD, rsp, rsp_size);
    if (core->power == VOUCH_SE_POWER_HIBERNATE && code != VOUCH_SE_CMD_WAKE)
        return vouch_se_core_status_frame(VOUCH_SE_E_ASLEEP, rsp, rsp_size);

    memset(&r, 0, sizeof r);
    r.core = core;
    r.st = &core->scratch;
    r.c = p;
    r.header = header;
    r.counter = counter;
    memcpy(&core->scratch, &core->live, sizeof core->live);
    memcpy(core->payload, cmd + 1, plen);
    /* MAC input (dir|counter|prefix|payload) is built in the blob buffer,
     * which is only otherwise used for the commit in between */
    mac_buf = core->blob;
    _Static_assert(sizeof core->blob >= 9 + VOUCH_SE_MAX_PAYLOAD, "blob too small for MAC input");

    /* step 6: the secure channel (2.1) */
    if (header & VOUCH_SE_HDR_CMAC) {
        if (!core->live.host_keys_set) {
            status = VOUCH_SE_E_MAC;
            goto respond_plain;
        }
        prefix[0] = header;
        be16(prefix + 1, (uint16_t)plen);
        if (channel_mac(p, core->live.host_mac_key, VOUCH_SE_DIR_CMD, counter, prefix, 3,
                        cmd + 1, plen, mac_buf, tag) != 0) {
            status = VOUCH_SE_E_INTERNAL;
            goto respond_plain;
        }
        if (p->memcmp_ct(tag, cmd + 1 + plen + VOUCH_SE_CTR_LEN, VOUCH_SE_MAC_LEN) != 0) {
            status = VOUCH_SE_E_MAC;
            goto respond_plain;
        }
        if (counter <= core->live.host_counter || counter <= core->ctr_seen) {
            status = VOUCH_SE_E_REPLAY;
            goto respond_plain;
        }
        r.mac_ok = 1;
        core->ctr_seen = counter;
        memcpy(r.mac_key, core->live.host_mac_key, sizeof r.mac_key);
        memcpy(r.enc_key, core->live.host_enc_key, sizeof r.enc_key);
        core->scratch.host_counter = counter;
    }

    /* step 7: the command */
    r.out = rsp + 3;
    r.out_cap = VOUCH_SE_MAX_PAYLOAD;
    c.p = core->payload;
    c.len = plen;
    c.pos = 0;
    memcpy(&core->saved_ephemeral, &core->ephemeral, sizeof core->ephemeral);
    core->saved_power = core->power;
    status = dispatch(&r, code, &c);
    if (status != VOUCH_SE_OK) {
        /* a failed command changes nothing but the consumed counter */
        memcpy(&core->scratch, &core->live, sizeof core->live);
        if (r.mac_ok)
            core->scratch.host_counter = counter;
        p->cleanse(r.out, r.out_cap);
        r.out_len = 0;
        r.enc_out = 0;
        r.dirty = 0;
    }
    if (r.dirty || r.mac_ok) {
        size_t n = vouch_se_state_serialize(&core->scratch, core->blob, sizeof core->blob);
        int ok = n && core->commit && core->commit(core->commit_ctx, core->blob, n) == 0;
        p->cleanse(core->blob, sizeof core->blob);
        if (ok) {
            memcpy(&core->live, &core->scratch, sizeof core->live);
        } else {
            /* not durable: undo the volatile side effects too */
            status = VOUCH_SE_E_STORAGE;
            memcpy(&core->ephemeral, &core->saved_ephemeral, sizeof core->ephemeral);
            core->power = core->saved_power;
            p->cleanse(r.out, r.out_cap);
            r.out_len = 0;
            r.enc_out = 0;
        }
    }
    p->cleanse(&core->saved_ephemeral, sizeof core->saved_ephemeral);
    if (status == VOUCH_SE_OK && r.enc_out &&
        channel_crypt(&r, VOUCH_SE_DIR_RSP, r.out, r.out_len) != 0) {
        status = VOUCH_SE_E_INTERNAL;
        p->cleanse(r.out, r.out_cap);
        r.out_len = 0;
    }
    if (status != VOUCH_SE_OK)
        r.out_len = 0;

    rsp[0] = (uint8_t)status;
    if (r.mac_ok && (header & VOUCH_SE_HDR_RMAC))
        rsp[0] |= VOUCH_SE_STATUS_RMAC;
    be16(rsp + 1, (uint16_t)r.out_len);
    {
        size_t len = 3 + r.out_len;
        if (rsp[0] & VOUCH_SE_STATUS_RMAC) {
            prefix[0] = header;
            prefix[1] = rsp[0];
            prefix[2] = rsp[1];
            prefix[3] = rsp[2];
            if (channel_mac(p, r.mac_key, VOUCH_SE_DIR_RSP, counter, prefix, 4, r.out, r.out_len,
                            mac_buf, tag) != 0) {
                len = vouch_se_core_status_frame(VOUCH_SE_E_INTERNAL, rsp, rsp_size) - 2;
            } else {
                memcpy(rsp + len, tag, VOUCH_SE_MAC_LEN);
                len += VOUCH_SE_MAC_LEN;
            }
        }
        p->cleanse(&core->scratch, sizeof core->scratch);
        p->cleanse(core->payload, sizeof core->payload);
        p->cleanse(mac_buf, sizeof core->blob);
        p->cleanse(&r, sizeof r);
        return finish_frame(rsp, len);
    }

respond_plain:
    p->cleanse(&core->scratch, sizeof core->scratch);
    p->cleanse(core->payload, sizeof core->payload);
    p->cleanse(mac_buf, sizeof core->blob);
    return vouch_se_core_status_frame((uint8_t)status, rsp, rsp_size);
}

void vouch_se_core_reset(vouch_se_core *core)
{
    core->crypto->cleanse(&core->ephemeral, sizeof core->ephemeral);
    core->power = VOUCH_SE_POWER_AWAKE;
}

void vouch_se_core_wipe(vouch_se_core *core)
{
    const vouch_crypto_port *p = core->crypto;
    p->cleanse(&core->live, sizeof core->live);
    p->cleanse(&core->scratch, sizeof core->scratch);
    p->cleanse(&core->ephemeral, sizeof core->ephemeral);
    p->cleanse(&core->saved_ephemeral, sizeof core->saved_ephemeral);
    p->cleanse(core->payload, sizeof core->payload);
    p->cleanse(core->blob, sizeof core->blob);
}

static void core_init(vouch_se_core *core, const vouch_crypto_port *crypto,
                      vouch_se_commit_fn commit, void *commit_ctx)
{
    memset(core, 0, sizeof *core);
    core->crypto = crypto;
    core->commit = commit;
    core->commit_ctx = commit_ctx;
    core->power = VOUCH_SE_POWER_AWAKE;
}

int vouch_se_core_create(vouch_se_core *core, const vouch_crypto_port *crypto,
                         vouch_se_commit_fn commit, void *commit_ctx)
{
    vouch_se_pstate *st = &core->live;
    size_t n;
    int rc;
    core_init(core, crypto, commit, commit_ctx);
    st->lifecycle = VOUCH_SE_LC_PERSONALIZATION;
    if (crypto->random(crypto->ctx, st->serial, sizeof st->serial) != 0 ||
        crypto->random(crypto->ctx, &st->envelope[0][0], sizeof st->envelope) != 0)
        return -1;
    for (unsigned i = 0; i < VOUCH_SE_ZONES; i++)
        if (vouch_se_zone_map[i].type == VOUCH_SE_ZONE_COUNTER)
            st->zones[i].counter = 0xFFFFFFFFu;
    n = vouch_se_state_serialize(st, core->blob, sizeof core->blob);
    rc = (n && commit && commit(commit_ctx, core->blob, n) == 0) ? 0 : -1;
    crypto->cleanse(core->blob, sizeof core->blob);
    return rc;
}

int vouch_se_core_load(vouch_se_core *core, const vouch_crypto_port *crypto,
                       vouch_se_commit_fn commit, void *commit_ctx, const uint8_t *blob,
                       size_t len)
{
    core_init(core, crypto, commit, commit_ctx);
    return vouch_se_state_parse(&core->live, blob, len);
}
