/*
 * libvouch internals shared by the client, the typed commands and the
 * transports. Not installed; nothing here is part of the API.
 */
#ifndef VOUCH_DEVICE_INTERNAL_H
#define VOUCH_DEVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vouch/se.h>

/* Guard macros: a linear happy path and one exit label per function. */
#define GUARD(expr)                                                            \
    do {                                                                       \
        rc = (expr);                                                           \
        if (rc != VOUCH_OK)                                                    \
            goto exit;                                                         \
    } while (0)
#define ENSURE(cond, err)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            rc = (err);                                                        \
            goto exit;                                                         \
        }                                                                      \
    } while (0)

#define RC_API(c) VOUCH_RC(VOUCH_LAYER_API, (c))
#define RC_BUS(c) VOUCH_RC(VOUCH_LAYER_BUS, (c))
#define RC_FRAME(c) VOUCH_RC(VOUCH_LAYER_FRAME, (c))
#define RC_SE(c) VOUCH_RC(VOUCH_LAYER_SE, (c))
#define RC_CHAN(c) VOUCH_RC(VOUCH_LAYER_CHANNEL, (c))
#define RC_PORT VOUCH_RC(VOUCH_LAYER_PORT, 1)

#define VOUCH_POISON 0xA5

/* Big-endian helpers: every integer on the wire is big-endian. */
static inline void vd_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void vd_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint16_t vd_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t vd_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void vd_poison(void *p, size_t n)
{
    if (p && n)
        memset(p, VOUCH_POISON, n);
}

/* Bounded cursor over untrusted response bytes: every read checks the
 * remaining length first and a failed read leaves the cursor failed, so a
 * parser can take several fields and test once at the end. */
typedef struct vd_cursor {
    const uint8_t *p;
    size_t left;
    int bad;
} vd_cursor;

static inline void vd_cur_init(vd_cursor *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->left = len;
    c->bad = 0;
}
static inline const uint8_t *vd_cur_take(vd_cursor *c, size_t n)
{
    const uint8_t *r;
    if (c->bad || n > c->left) {
        c->bad = 1;
        return NULL;
    }
    r = c->p;
    c->p += n;
    c->left -= n;
    return r;
}
static inline uint8_t vd_cur_u8(vd_cursor *c)
{
    const uint8_t *p = vd_cur_take(c, 1);
    return p ? p[0] : 0;
}
static inline uint16_t vd_cur_u16(vd_cursor *c)
{
    const uint8_t *p = vd_cur_take(c, 2);
    return p ? vd_get16(p) : 0;
}
static inline uint32_t vd_cur_u32(vd_cursor *c)
{
    const uint8_t *p = vd_cur_take(c, 4);
    return p ? vd_get32(p) : 0;
}
/* True when the whole input was consumed without a short read. */
static inline int vd_cur_done(const vd_cursor *c)
{
    return !c->bad && c->left == 0;
}

/* A command payload given as pieces, so the typed calls never copy their
 * arguments into a second 1 KiB buffer: the client gathers them straight into
 * the frame. */
typedef struct vd_part {
    const uint8_t *p;
    size_t n;
} vd_part;

/* The exchange behind every call, without taking the lock. */
vouch_rc vd_xact(vouch_se *se, uint8_t cmd, unsigned flags, const vd_part *parts,
                 size_t n_parts, uint8_t *out, size_t out_size, size_t *out_len);

/* Lock hooks; both set or neither (checked at init). */
static inline void vd_lock(vouch_se *se)
{
    if (se->cfg.lock)
        se->cfg.lock(se->cfg.lock_ctx);
}
static inline void vd_unlock(vouch_se *se)
{
    if (se->cfg.unlock)
        se->cfg.unlock(se->cfg.lock_ctx);
}

/* Wipe for code that has no crypto port at hand (the transports): the
 * volatile pointer keeps the compiler from dropping the stores. */
static inline void vd_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--)
        *v++ = 0;
}

/* Monotonic milliseconds and a sleep that survives signals. */
uint64_t vd_now_ms(void);
void vd_sleep_ms(uint32_t ms);

#endif
