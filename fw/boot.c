/*
 * Secure boot: the status log, the sector swap, and the boot / confirm /
 * install / download operations. include/vouch/fw_boot.h is the design;
 * this file follows it step by step. No malloc: the context holds one chunk
 * buffer used for copying, hashing and record I/O in turn.
 */
#include <string.h>

#include <vouch/fw_boot.h>

#include "fw/internal.h"

#define RC_BOOT(c) RC_FW(c)
#define REC_LEN 16u
#define LOG_FORMAT 1u
#define SNAP_MAX 6

enum rec_type {
    R_HEADER = 0x01,
    R_STATE = 0x02,
    R_INSTALL_BEGIN = 0x10,
    R_PENDING = 0x11,
    R_SWAP_START = 0x12,
    R_STEP = 0x13,
    R_SWAP_DONE = 0x14,
    R_BOOTED_TEST = 0x15,
    R_CONFIRMED = 0x16,
    R_REJECTED = 0x17,
    R_DL_BEGIN = 0x18,
    R_DL_AT = 0x19
};

typedef struct rec {
    uint8_t type, sub;
    uint32_t a0, a1;
} rec;

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

static int all_ff(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != 0xFF)
            return 0;
    return 1;
}

/* ---- words -------------------------------------------------------------- */
static const char *const boot_msgs[] = {
    "flash read, write or erase failed",
    "no bootable image: the primary slot holds no image that verifies",
    "a test image is running unconfirmed: confirm it or reboot (revert) first",
    "a swap was interrupted: run boot first to finish it",
    "nothing to confirm: the primary image is not a test image",
    "the test image has not been started yet: run boot first",
    "image is larger than a slot",
    "flash geometry is unusable (sector size, write unit or slot size)",
    "no such download in progress, or its bytes arrive out of order",
    "the secondary slot no longer holds the image verified at install",
};

const char *vouch_fw_boot_strerror(vouch_rc rc)
{
    uint32_t c = VOUCH_RC_CODE(rc);
    if (VOUCH_RC_LAYER(rc) == VOUCH_LAYER_FW && c >= VOUCH_FW_BOOT_E_FLASH &&
        c < VOUCH_FW_BOOT_E_FLASH + sizeof boot_msgs / sizeof boot_msgs[0])
        return boot_msgs[c - VOUCH_FW_BOOT_E_FLASH];
    return vouch_fw_strerror(rc);
}

const char *vouch_fw_state_name(const vouch_fw_state *st)
{
    if (!st)
        return "unknown";
    if (st->swap_active)
        return "swapping";
    if ((st->flags & VOUCH_FW_ST_TESTING) && (st->flags & VOUCH_FW_ST_BOOTED))
        return "booted_once";
    if (st->flags & VOUCH_FW_ST_TESTING)
        return "testing";
    if (st->flags & VOUCH_FW_ST_PENDING)
        return "pending";
    if (st->dl_active)
        return "downloading";
    if (st->last == VOUCH_FW_EV_REVERTED)
        return "reverted";
    if (st->last == VOUCH_FW_EV_REJECTED)
        return "rejected";
    if (st->flags & VOUCH_FW_ST_CONFIRMED)
        return "confirmed";
    return "idle";
}

/* A verdict on an image (as opposed to: the SE, the bus or the flash failed,
 * which says nothing about the image and must not be recorded as one). */
static int is_verdict(vouch_rc rc)
{
    uint32_t c = VOUCH_RC_CODE(rc);
    if (VOUCH_RC_LAYER(rc) != VOUCH_LAYER_FW)
        return 0;
    return (c >= VOUCH_FW_E_MAGIC && c <= VOUCH_FW_E_CLASS) || c == VOUCH_FW_BOOT_E_CHANGED ||
           c == VOUCH_FW_BOOT_E_TOO_BIG;
}

/* ---- layout -------------------------------------------------------------- */
uint32_t vouch_fw_layout_default(uint32_t base, uint32_t sector_size, uint32_t slot_size,
                                 vouch_fw_layout *l)
{
    uint64_t total = 2ull * slot_size + 3ull * sector_size;
    if (!l || !is_pow2(sector_size) || !slot_size || slot_size % sector_size ||
        base % (sector_size ? sector_size : 1) || base + total > 0xFFFFFFFFull)
        return 0;
    l->primary = base;
    l->secondary = base + slot_size;
    l->slot_size = slot_size;
    l->scratch = base + 2 * slot_size;
    l->status[0] = l->scratch + sector_size;
    l->status[1] = l->status[0] + sector_size;
    return (uint32_t)total;
}

static int overlap(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
    return (uint64_t)a < (uint64_t)b + blen && (uint64_t)b < (uint64_t)a + alen;
}

static int layout_ok(const vouch_fw_flash *f, const vouch_fw_layout *l)
{
    uint32_t s = f->sector_size;
    uint32_t off[5], len[5];
    int i, j;
    if (!is_pow2(s) || s < 256 || s > (1u << 20) || !is_pow2(f->align) || f->align > 256 ||
        f->align > s)
        return 0;
    if (!l->slot_size || l->slot_size % s)
        return 0;
    off[0] = l->primary, len[0] = l->slot_size;
    off[1] = l->secondary, len[1] = l->slot_size;
    off[2] = l->scratch, len[2] = s;
    off[3] = l->status[0], len[3] = s;
    off[4] = l->status[1], len[4] = s;
    for (i = 0; i < 5; i++) {
        if (off[i] % s || (uint64_t)off[i] + len[i] > 0xFFFFFFFFull)
            return 0;
        for (j = 0; j < i; j++)
            if (overlap(off[i], len[i], off[j], len[j]))
                return 0;
    }
    return 1;
}

/* ---- flash -------------------------------------------------------------- */
static vouch_rc fl_read(vouch_fw_boot *b, uint32_t off, void *buf, size_t len)
{
    const vouch_fw_flash *f = b->cfg.flash;
    return f->read(f->ctx, off, buf, len) == 0 ? VOUCH_OK : RC_BOOT(VOUCH_FW_BOOT_E_FLASH);
}
static vouch_rc fl_write(vouch_fw_boot *b, uint32_t off, const void *buf, size_t len)
{
    const vouch_fw_flash *f = b->cfg.flash;
    return f->write(f->ctx, off, buf, len) == 0 ? VOUCH_OK : RC_BOOT(VOUCH_FW_BOOT_E_FLASH);
}
static vouch_rc fl_erase(vouch_fw_boot *b, uint32_t off, size_t len)
{
    const vouch_fw_flash *f = b->cfg.flash;
    return f->erase(f->ctx, off, len) == 0 ? VOUCH_OK : RC_BOOT(VOUCH_FW_BOOT_E_FLASH);
}

/* A slot as a vouch_fw_read_fn; remembers a flash failure so that it is
 * reported as such and not as an image verdict. */
typedef struct slot_rd {
    vouch_fw_boot *b;
    uint32_t base;
    int failed;
} slot_rd;

static int slot_read(void *ctx, uint32_t off, uint8_t *buf, size_t len)
{
    slot_rd *r = ctx;
    const vouch_fw_flash *f = r->b->cfg.flash;
    if ((uint64_t)off + len > r->b->cfg.layout.slot_size ||
        f->read(f->ctx, r->base + off, buf, len) != 0) {
        r->failed = 1;
        return -1;
    }
    return 0;
}

/* ---- records -------------------------------------------------------------- */
static vouch_rc rec_encode(vouch_fw_boot *b, const rec *r, uint8_t *out)
{
    uint8_t h[32];
    memset(out, 0, b->rec_size);
    out[0] = 'v';
    out[1] = 'B';
    out[2] = r->type;
    out[3] = r->sub;
    put_le32(out + 4, r->a0);
    put_le32(out + 8, r->a1);
    if (b->cfg.port->sha256(b->cfg.port->ctx, out, 12, h) != 0)
        return RC_PORT;
    memcpy(out + 12, h, 4);
    return VOUCH_OK;
}

/* 1 valid, 0 empty (all 0xFF), -1 torn or not a record. */
static int rec_decode(vouch_fw_boot *b, const uint8_t *in, rec *r)
{
    uint8_t h[32];
    uint32_t i;
    if (all_ff(in, b->rec_size))
        return 0;
    if (in[0] != 'v' || in[1] != 'B')
        return -1;
    /* padding (write units over 16 bytes) is programmed as zeros: a record
     * counts only when its whole slot was programmed */
    for (i = REC_LEN; i < b->rec_size; i++)
        if (in[i] != 0)
            return -1;
    if (b->cfg.port->sha256(b->cfg.port->ctx, in, 12, h) != 0 || memcmp(in + 12, h, 4) != 0)
        return -1;
    r->type = in[2];
    r->sub = in[3];
    r->a0 = get_le32(in + 4);
    r->a1 = get_le32(in + 8);
    return 1;
}

/* The state machine of the log: every record, original or snapshot. */
static void apply(vouch_fw_state *st, const rec *r)
{
    switch (r->type) {
    case R_STATE:
        st->flags = r->sub;
        st->last = (uint8_t)r->a0;
        st->reason = r->a1;
        break;
    case R_INSTALL_BEGIN:
        st->flags &= (uint8_t)~VOUCH_FW_ST_PENDING;
        st->dl_active = 0;
        st->last = VOUCH_FW_EV_INSTALLING;
        break;
    case R_PENDING:
        st->flags |= VOUCH_FW_ST_PENDING;
        st->pend_size = r->a0;
        st->pend_hash = r->a1;
        st->dl_active = 0;
        st->last = VOUCH_FW_EV_INSTALLED;
        break;
    case R_SWAP_START:
        st->swap_active = 1;
        st->swap_dir = r->sub;
        st->swap_sectors = r->a0;
        st->swap_sector = 0;
        st->swap_step = 0;
        break;
    case R_STEP:
        if (st->swap_active && r->a1 >= 1 && r->a1 <= 3) {
            st->swap_sector = r->a0;
            st->swap_step = (uint8_t)r->a1;
        }
        break;
    case R_SWAP_DONE:
        st->swap_active = 0;
        st->swap_sector = 0;
        st->swap_step = 0;
        if (r->sub == VOUCH_FW_SWAP_UPGRADE) {
            st->flags = VOUCH_FW_ST_TESTING;
            st->last = VOUCH_FW_EV_UPGRADED;
        } else {
            st->flags = VOUCH_FW_ST_CONFIRMED;
            st->last = VOUCH_FW_EV_REVERTED;
        }
        break;
    case R_BOOTED_TEST:
        st->flags |= VOUCH_FW_ST_BOOTED;
        break;
    case R_CONFIRMED:
        st->flags |= VOUCH_FW_ST_CONFIRMED;
        st->flags &= (uint8_t)~(VOUCH_FW_ST_TESTING | VOUCH_FW_ST_BOOTED);
        st->last = VOUCH_FW_EV_CONFIRMED;
        break;
    case R_REJECTED:
        st->flags &= (uint8_t)~VOUCH_FW_ST_PENDING;
        st->dl_active = 0;
        st->last = VOUCH_FW_EV_REJECTED;
        st->reason = r->a0;
        break;
    case R_DL_BEGIN:
        st->flags &= (uint8_t)~VOUCH_FW_ST_PENDING;
        st->dl_active = 1;
        st->dl_size = r->a0;
        st->dl_tag = r->a1;
        st->dl_off = 0;
        st->last = VOUCH_FW_EV_INSTALLING;
        break;
    case R_DL_AT:
        if (st->dl_active && r->a0 <= st->dl_size)
            st->dl_off = r->a0;
        break;
    default: /* a valid record of a later format: nothing we act on */
        break;
    }
}

/* The records that rebuild the state in a fresh sector; STATE last, so that
 * it sets the flags and the last event over what the others imply. */
static int snapshot(const vouch_fw_state *st, rec *out)
{
    int n = 0;
    if (st->flags & VOUCH_FW_ST_PENDING)
        out[n++] = (rec){R_PENDING, 0, st->pend_size, st->pend_hash};
    if (st->dl_active) {
        out[n++] = (rec){R_DL_BEGIN, 0, st->dl_size, st->dl_tag};
        if (st->dl_off)
            out[n++] = (rec){R_DL_AT, 0, st->dl_off, 0};
    }
    if (st->swap_active) {
        out[n++] = (rec){R_SWAP_START, st->swap_dir, st->swap_sectors, 0};
        if (st->swap_step)
            out[n++] = (rec){R_STEP, st->swap_dir, st->swap_sector, st->swap_step};
    }
    out[n++] = (rec){R_STATE, st->flags, st->last, st->reason};
    return n;
}

/* ---- the log -------------------------------------------------------------- */

/* Whether status sector s starts with a whole HEADER and its snapshot. */
static vouch_rc log_header(vouch_fw_boot *b, int s, int *valid, uint32_t *gen)
{
    uint32_t base = b->cfg.layout.status[s];
    uint8_t *in = b->buf;
    rec r;
    uint32_t i, k;
    vouch_rc rc;
    *valid = 0;
    if ((rc = fl_read(b, base, in, b->rec_size)) != VOUCH_OK)
        return rc;
    if (rec_decode(b, in, &r) != 1 || r.type != R_HEADER || r.sub != LOG_FORMAT)
        return VOUCH_OK;
    k = r.a1;
    if (k < 1 || k > SNAP_MAX || k + 1 >= b->nrec)
        return VOUCH_OK;
    *gen = r.a0;
    for (i = 1; i <= k; i++) {
        rec sr;
        if ((rc = fl_read(b, base + i * b->rec_size, in, b->rec_size)) != VOUCH_OK)
            return rc;
        if (rec_decode(b, in, &sr) != 1)
            return VOUCH_OK;
    }
    *valid = 1;
    return VOUCH_OK;
}

static vouch_rc log_load(vouch_fw_boot *b)
{
    int valid[2];
    uint32_t gen[2] = {0, 0};
    uint32_t i, base, per = VOUCH_FW_BOOT_CHUNK / b->rec_size;
    vouch_rc rc;
    int s;

    memset(&b->st, 0, sizeof b->st);
    b->active = -1;
    b->gen = 0;
    b->next = 0;
    b->torn = 0;
    for (s = 0; s < 2; s++)
        if ((rc = log_header(b, s, &valid[s], &gen[s])) != VOUCH_OK)
            return rc;
    if (valid[0] && valid[1])
        s = (int32_t)(gen[1] - gen[0]) > 0 ? 1 : 0;
    else if (valid[0] || valid[1])
        s = valid[0] ? 0 : 1;
    else
        return VOUCH_OK; /* a new device: the first record creates the log */
    b->active = s;
    b->gen = gen[s];
    base = b->cfg.layout.status[s];

    /* Replay, a chunk of records at a time, up to the first empty slot. */
    b->next = b->nrec;
    for (i = 1; i < b->nrec; i++) {
        uint32_t j = i % per;
        rec r;
        int d;
        if (i == 1 || j == 0) {
            uint32_t first = i - (i % per);
            uint32_t n = b->nrec - first < per ? b->nrec - first : per;
            if ((rc = fl_read(b, base + first * b->rec_size, b->buf, n * b->rec_size)) !=
                VOUCH_OK)
                return rc;
        }
        d = rec_decode(b, b->buf + j * b->rec_size, &r);
        if (d == 0) {
            b->next = i;
            break;
        }
        if (d < 0) {
            b->torn++;
            continue;
        }
        if (r.type != R_HEADER)
            apply(&b->st, &r);
    }
    return VOUCH_OK;
}

/* Write the state into the other sector; its header last. */
static vouch_rc log_compact(vouch_fw_boot *b)
{
    int t = b->active < 0 ? 0 : 1 - b->active;
    uint32_t base = b->cfg.layout.status[t];
    rec snap[SNAP_MAX];
    uint8_t out[VOUCH_FW_REC_MAX];
    int i, n = snapshot(&b->st, snap);
    vouch_rc rc;

    if ((rc = fl_erase(b, base, b->cfg.flash->sector_size)) != VOUCH_OK)
        return rc;
    for (i = 0; i < n; i++) {
        if ((rc = rec_encode(b, &snap[i], out)) != VOUCH_OK ||
            (rc = fl_write(b, base + (uint32_t)(i + 1) * b->rec_size, out, b->rec_size)) !=
                VOUCH_OK)
            return rc;
    }
    {
        rec h = {R_HEADER, LOG_FORMAT, b->gen + 1, (uint32_t)n};
        if ((rc = rec_encode(b, &h, out)) != VOUCH_OK ||
            (rc = fl_write(b, base, out, b->rec_size)) != VOUCH_OK)
            return rc;
    }
    b->active = t;
    b->gen++;
    b->next = (uint32_t)n + 1;
    b->compactions++;
    return VOUCH_OK;
}

static vouch_rc log_append(vouch_fw_boot *b, uint8_t type, uint8_t sub, uint32_t a0,
                           uint32_t a1)
{
    rec r = {type, sub, a0, a1};
    uint8_t out[VOUCH_FW_REC_MAX];
    uint32_t off;
    vouch_rc rc;
    if (b->active < 0 || b->next >= b->nrec)
        if ((rc = log_compact(b)) != VOUCH_OK)
            return rc;
    off = b->cfg.layout.status[b->active] + b->next * b->rec_size;
    /* A failed write may have programmed part of the slot: never reuse it. */
    b->next++;
    if ((rc = rec_encode(b, &r, out)) != VOUCH_OK ||
        (rc = fl_write(b, off, out, b->rec_size)) != VOUCH_OK)
        return rc;
    apply(&b->st, &r);
    return VOUCH_OK;
}

/* At an idle point: make room for a whole install and swap. */
static vouch_rc log_idle_compact(vouch_fw_boot *b)
{
    if (b->active < 0 || b->nrec - b->next < b->nrec / 2)
        return log_compact(b);
    return VOUCH_OK;
}

/* ---- init and trust -------------------------------------------------------------- */
vouch_rc vouch_fw_boot_init(vouch_fw_boot *b, const vouch_fw_boot_config *cfg)
{
    const vouch_fw_flash *f;
    vouch_rc rc;
    if (!b || !cfg || !cfg->flash || !cfg->port || !cfg->port->sha256)
        return RC_API(VOUCH_E_ARG);
    f = cfg->flash;
    if (!f->read || !f->write || !f->erase)
        return RC_API(VOUCH_E_ARG);
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    if (!layout_ok(f, &cfg->layout))
        return RC_BOOT(VOUCH_FW_BOOT_E_LAYOUT);
    b->rec_size = f->align > REC_LEN ? f->align : REC_LEN;
    b->nrec = f->sector_size / b->rec_size;
    if (b->nrec < 16)
        return RC_BOOT(VOUCH_FW_BOOT_E_LAYOUT);
    if ((rc = log_load(b)) != VOUCH_OK)
        return rc;
    if (b->st.dl_active) {
        b->dl_pos = b->st.dl_off;
        b->dl_erased = b->st.dl_off;
    }
    return VOUCH_OK;
}

vouch_rc vouch_fw_boot_load_trust(vouch_fw_boot *b)
{
    vouch_rc rc;
    if (!b || !b->cfg.se)
        return RC_API(VOUCH_E_ARG);
    b->trust_loaded = 0;
    rc = vouch_fw_trust_load(b->cfg.se, b->cfg.port, b->keys, &b->nkeys, &b->revoked_below);
    if (rc == VOUCH_OK)
        rc = vouch_fw_rollback_get(b->cfg.se, &b->floor);
    if (rc == VOUCH_OK)
        b->trust_loaded = 1;
    return rc;
}

/* Full verification of a slot against the SE's trust. */
static vouch_rc verify_slot(vouch_fw_boot *b, uint32_t base, uint32_t avail,
                            vouch_fw_result *res)
{
    vouch_fw_policy pol;
    slot_rd r = {b, base, 0};
    vouch_rc rc;
    memset(&pol, 0, sizeof pol);
    pol.keys = b->keys;
    pol.nkeys = b->nkeys;
    pol.check = vouch_fw_se_check;
    pol.check_ctx = b->cfg.se;
    pol.min_sec_cnt = b->floor;
    pol.vid = b->cfg.vid;
    pol.cid = b->cfg.cid;
    if (avail > b->cfg.layout.slot_size)
        avail = b->cfg.layout.slot_size;
    rc = vouch_fw_verify(slot_read, &r, avail, b->cfg.port, &pol, b->buf, sizeof b->buf, res);
    if (r.failed)
        return RC_BOOT(VOUCH_FW_BOOT_E_FLASH);
    return rc;
}

static uint32_t hash_prefix(const uint8_t h[32])
{
    return ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3];
}

/* ---- swap -------------------------------------------------------------- */
static vouch_rc copy_sector(vouch_fw_boot *b, uint32_t dst, uint32_t src)
{
    uint32_t s = b->cfg.flash->sector_size, off;
    vouch_rc rc;
    for (off = 0; off < s; off += (uint32_t)sizeof b->buf) {
        uint32_t n = s - off < sizeof b->buf ? s - off : (uint32_t)sizeof b->buf;
        if ((rc = fl_read(b, src + off, b->buf, n)) != VOUCH_OK)
            return rc;
        if (all_ff(b->buf, n)) /* erased already: programming 0xFF changes nothing */
            continue;
        if ((rc = fl_write(b, dst + off, b->buf, n)) != VOUCH_OK)
            return rc;
    }
    return VOUCH_OK;
}

/* Image length in a slot by its header and TLVs, 0 when nothing parses. */
static uint32_t slot_extent(vouch_fw_boot *b, uint32_t base)
{
    vouch_fw_image img;
    slot_rd r = {b, base, 0};
    if (vouch_fw_parse(slot_read, &r, b->cfg.layout.slot_size, b->cfg.port, &img) != VOUCH_OK)
        return 0;
    return img.total;
}

static vouch_rc swap_begin(vouch_fw_boot *b, uint8_t dir)
{
    uint32_t s = b->cfg.flash->sector_size;
    uint32_t a = slot_extent(b, b->cfg.layout.primary);
    uint32_t c = slot_extent(b, b->cfg.layout.secondary);
    uint32_t n = ((a > c ? a : c) + s - 1) / s;
    return log_append(b, R_SWAP_START, dir, n, 0);
}

/* Runs (or resumes) the logged swap to SWAP_DONE. */
static vouch_rc swap_run(vouch_fw_boot *b)
{
    const vouch_fw_layout *l = &b->cfg.layout;
    uint32_t s = b->cfg.flash->sector_size;
    uint8_t dir = b->st.swap_dir;
    uint32_t n = b->st.swap_sectors, i = b->st.swap_sector;
    unsigned step = b->st.swap_step;
    vouch_rc rc;

    if (n > l->slot_size / s)
        n = l->slot_size / s; /* a log that says more would run off the slot */
    if (step == 0)
        step = 1;
    else if (step == 3)
        i++, step = 1;
    else
        step++;
    for (; i < n; i++, step = 1) {
        uint32_t pri = l->primary + i * s, sec = l->secondary + i * s;
        for (; step <= 3; step++) {
            if (step == 1) {
                if ((rc = fl_erase(b, l->scratch, s)) != VOUCH_OK ||
                    (rc = copy_sector(b, l->scratch, sec)) != VOUCH_OK)
                    return rc;
            } else if (step == 2) {
                if ((rc = fl_erase(b, sec, s)) != VOUCH_OK ||
                    (rc = copy_sector(b, sec, pri)) != VOUCH_OK)
                    return rc;
            } else {
                if ((rc = fl_erase(b, pri, s)) != VOUCH_OK ||
                    (rc = copy_sector(b, pri, l->scratch)) != VOUCH_OK)
                    return rc;
            }
            if ((rc = log_append(b, R_STEP, dir, i, step)) != VOUCH_OK)
                return rc;
        }
    }
    return log_append(b, R_SWAP_DONE, dir, 0, 0);
}

static vouch_rc swap(vouch_fw_boot *b, uint8_t dir)
{
    vouch_rc rc = swap_begin(b, dir);
    return rc != VOUCH_OK ? rc : swap_run(b);
}

/* ---- boot -------------------------------------------------------------- */
#define TESTING(b) ((b)->st.flags & VOUCH_FW_ST_TESTING)
#define BOOTED(b) ((b)->st.flags & VOUCH_FW_ST_BOOTED)
#define CONFIRMED(b) ((b)->st.flags & VOUCH_FW_ST_CONFIRMED)
#define PENDING(b) ((b)->st.flags & VOUCH_FW_ST_PENDING)

vouch_rc vouch_fw_boot_run(vouch_fw_boot *b, vouch_fw_boot_info *info)
{
    const vouch_fw_layout *l;
    vouch_rc rc;
    if (!b || !info)
        return RC_API(VOUCH_E_ARG);
    l = &b->cfg.layout;
    memset(info, 0, sizeof *info);

    /* 1. trust */
    GUARD(vouch_fw_boot_load_trust(b));
    info->floor_before = b->floor;

    /* 2. an interrupted swap */
    if (b->st.swap_active) {
        info->resumed = b->st.swap_dir;
        info->swapped = b->st.swap_dir;
        GUARD(swap_run(b));
    }

    /* 3. a pending image */
    if (PENDING(b) && !TESTING(b)) {
        vouch_fw_result *res = &info->res; /* scratch until step 6 */
        rc = verify_slot(b, l->secondary, b->st.pend_size, res);
        if (rc == VOUCH_OK && hash_prefix(res->hash) != b->st.pend_hash)
            rc = RC_BOOT(VOUCH_FW_BOOT_E_CHANGED);
        if (rc != VOUCH_OK) {
            if (!is_verdict(rc))
                goto exit;
            info->rejected = rc;
            GUARD(log_append(b, R_REJECTED, 0, rc, 0));
        } else {
            GUARD(swap(b, VOUCH_FW_SWAP_UPGRADE));
            info->swapped = VOUCH_FW_SWAP_UPGRADE;
        }
    }

    /* 4. a test image that was started and never confirmed */
    if (TESTING(b) && BOOTED(b) && !CONFIRMED(b)) {
        GUARD(swap(b, VOUCH_FW_SWAP_REVERT));
        info->swapped = VOUCH_FW_SWAP_REVERT;
    }

    /* 5. a test image about to be started for the first time */
    if (TESTING(b) && !BOOTED(b))
        GUARD(log_append(b, R_BOOTED_TEST, 0, 0, 0));

    /* 6. the image to start, verified */
    rc = verify_slot(b, l->primary, l->slot_size, &info->res);
    if (rc != VOUCH_OK && is_verdict(rc) && TESTING(b)) {
        /* the test image does not verify: back to the confirmed one */
        info->why = rc;
        GUARD(swap(b, VOUCH_FW_SWAP_REVERT));
        info->swapped = VOUCH_FW_SWAP_REVERT;
        rc = verify_slot(b, l->primary, l->slot_size, &info->res);
    }
    if (rc != VOUCH_OK) {
        if (!is_verdict(rc))
            goto exit;
        info->why = rc;
        rc = RC_BOOT(VOUCH_FW_BOOT_E_NO_IMAGE);
        goto exit;
    }
    info->test = TESTING(b) ? 1 : 0;

    /* 7. floor catch-up for an image that stays. The image is verified, so
     * a failed step does not stop it: the floor lags and the next boot
     * tries again (info->raise_rc says why). */
    if (!TESTING(b) && info->res.img.has_sec_cnt && info->res.img.sec_cnt > b->floor)
        info->raise_rc = vouch_fw_rollback_raise(b->cfg.se, info->res.img.sec_cnt,
                                                 b->cfg.se_flags, &b->floor);
    info->floor = b->floor;
exit:
    if (rc != VOUCH_OK)
        info->floor = b->floor;
    return rc;
}

vouch_rc vouch_fw_boot_confirm(vouch_fw_boot *b, uint32_t *sec_cnt)
{
    vouch_fw_result res;
    vouch_rc rc;
    uint32_t cnt;
    if (!b)
        return RC_API(VOUCH_E_ARG);
    if (sec_cnt)
        *sec_cnt = 0;
    if (b->st.swap_active)
        return RC_BOOT(VOUCH_FW_BOOT_E_SWAPPING);
    if (!TESTING(b)) {
        vouch_fw_image img;
        slot_rd r = {b, b->cfg.layout.primary, 0};
        if (!CONFIRMED(b))
            return RC_BOOT(VOUCH_FW_BOOT_E_NOT_TESTING);
        if (sec_cnt &&
            vouch_fw_parse(slot_read, &r, b->cfg.layout.slot_size, b->cfg.port, &img) == VOUCH_OK)
            *sec_cnt = img.has_sec_cnt ? img.sec_cnt : 0;
        return VOUCH_OK;
    }
    if (!BOOTED(b))
        return RC_BOOT(VOUCH_FW_BOOT_E_NOT_BOOTED);
    /* The floor is raised to what the image says: the image must be the
     * signed one, or a flash writer could lift the floor at will. */
    if ((rc = vouch_fw_boot_load_trust(b)) != VOUCH_OK)
        return rc;
    if ((rc = verify_slot(b, b->cfg.layout.primary, b->cfg.layout.slot_size, &res)) != VOUCH_OK)
        return rc;
    cnt = res.img.has_sec_cnt ? res.img.sec_cnt : 0;
    /* Flag first, counter second (see the header). */
    if ((rc = log_append(b, R_CONFIRMED, 0, cnt, 0)) != VOUCH_OK)
        return rc;
    if ((rc = vouch_fw_rollback_raise(b->cfg.se, cnt, b->cfg.se_flags, &b->floor)) != VOUCH_OK)
        return rc;
    if (sec_cnt)
        *sec_cnt = cnt;
    return VOUCH_OK;
}

/* ---- install and download -------------------------------------------------------------- */
static vouch_rc may_write_secondary(vouch_fw_boot *b, uint32_t size)
{
    if (b->st.swap_active)
        return RC_BOOT(VOUCH_FW_BOOT_E_SWAPPING);
    if (TESTING(b))
        return RC_BOOT(VOUCH_FW_BOOT_E_TESTING);
    if (size > b->cfg.layout.slot_size)
        return RC_BOOT(VOUCH_FW_BOOT_E_TOO_BIG);
    return VOUCH_OK;
}

/* Verify what is in the secondary and record the verdict. */
static vouch_rc finish_secondary(vouch_fw_boot *b, uint32_t size, vouch_fw_result *res)
{
    vouch_fw_result local;
    vouch_rc rc;
    if (!res)
        res = &local;
    rc = verify_slot(b, b->cfg.layout.secondary, size, res);
    if (rc != VOUCH_OK) {
        if (is_verdict(rc)) {
            vouch_rc rc2 = log_append(b, R_REJECTED, 0, rc, 0);
            if (rc2 != VOUCH_OK)
                return rc2;
        }
        return rc;
    }
    return log_append(b, R_PENDING, 0, size, hash_prefix(res->hash));
}

vouch_rc vouch_fw_install(vouch_fw_boot *b, vouch_fw_read_fn rd, void *rctx, uint32_t size,
                          vouch_fw_result *res)
{
    uint32_t s, align, off;
    vouch_rc rc;
    if (!b || !rd)
        return RC_API(VOUCH_E_ARG);
    if (res)
        memset(res, 0, sizeof *res);
    if ((rc = may_write_secondary(b, size)) != VOUCH_OK)
        return rc;
    /* Not an image at all (magic, sizes, TLV layout): refused before the
     * flash is touched. */
    {
        vouch_fw_image img;
        if ((rc = vouch_fw_parse(rd, rctx, size, b->cfg.port, &img)) != VOUCH_OK)
            return rc;
    }
    /* The SE must answer before anything is erased. */
    if ((rc = vouch_fw_boot_load_trust(b)) != VOUCH_OK)
        return rc;
    if ((rc = log_idle_compact(b)) != VOUCH_OK ||
        (rc = log_append(b, R_INSTALL_BEGIN, 0, size, 0)) != VOUCH_OK)
        return rc;

    s = b->cfg.flash->sector_size;
    align = b->cfg.flash->align;
    for (off = 0; off < size;) {
        uint32_t n = size - off < sizeof b->buf ? size - off : (uint32_t)sizeof b->buf;
        uint32_t padded;
        if (n > s - off % s)
            n = s - off % s;
        padded = (n + align - 1) / align * align;
        if (off % s == 0 &&
            (rc = fl_erase(b, b->cfg.layout.secondary + off, s)) != VOUCH_OK)
            return rc;
        if (rd(rctx, off, b->buf, n) != 0)
            return RC_FW(VOUCH_FW_E_IO);
        memset(b->buf + n, 0xFF, padded - n);
        if ((rc = fl_write(b, b->cfg.layout.secondary + off, b->buf, padded)) != VOUCH_OK)
            return rc;
        off += n;
    }
    return finish_secondary(b, size, res);
}

vouch_rc vouch_fw_dl_begin(vouch_fw_boot *b, uint32_t size, uint32_t tag)
{
    vouch_rc rc;
    if (!b)
        return RC_API(VOUCH_E_ARG);
    if ((rc = may_write_secondary(b, size)) != VOUCH_OK)
        return rc;
    if ((rc = log_idle_compact(b)) != VOUCH_OK ||
        (rc = log_append(b, R_DL_BEGIN, 0, size, tag)) != VOUCH_OK)
        return rc;
    b->dl_pos = 0;
    b->dl_erased = 0;
    b->tail_len = 0;
    return VOUCH_OK;
}

uint32_t vouch_fw_dl_resume_offset(const vouch_fw_boot *b, uint32_t size, uint32_t tag)
{
    if (!b || !b->st.dl_active || b->st.dl_size != size || b->st.dl_tag != tag)
        return 0;
    return b->dl_pos; /* after a power cut: the last DL_AT */
}

/* Program `len` whole write units at download offset `at`, erasing each
 * sector the first time it is reached. */
static vouch_rc dl_program(vouch_fw_boot *b, uint32_t at, const uint8_t *p, uint32_t len)
{
    uint32_t s = b->cfg.flash->sector_size;
    vouch_rc rc;
    while (len) {
        uint32_t n = len < sizeof b->buf ? len : (uint32_t)sizeof b->buf;
        uint32_t room = s - at % s;
        if (n > room)
            n = room;
        if (at >= b->dl_erased) {
            uint32_t sec = at - at % s;
            if ((rc = fl_erase(b, b->cfg.layout.secondary + sec, s)) != VOUCH_OK)
                return rc;
            b->dl_erased = sec + s;
        }
        if ((rc = fl_write(b, b->cfg.layout.secondary + at, p, n)) != VOUCH_OK)
            return rc;
        at += n, p += n, len -= n;
    }
    return VOUCH_OK;
}

vouch_rc vouch_fw_dl_write(vouch_fw_boot *b, uint32_t offset, const uint8_t *data, size_t len)
{
    uint32_t s, align;
    vouch_rc rc;
    if (!b || (!data && len))
        return RC_API(VOUCH_E_ARG);
    s = b->cfg.flash->sector_size;
    align = b->cfg.flash->align;
    if (!b->st.dl_active || b->st.swap_active || TESTING(b) || offset != b->dl_pos ||
        len > b->st.dl_size - b->dl_pos)
        return RC_BOOT(VOUCH_FW_BOOT_E_DOWNLOAD);
    while (len) {
        /* bytes up to the end of this sector, so each DL_AT lands on time */
        uint32_t room = s - b->dl_pos % s;
        uint32_t take = len < room ? (uint32_t)len : room;
        uint32_t done = 0;
        if (b->tail_len) {
            uint32_t k = align - b->tail_len;
            if (k > take)
                k = take;
            memcpy(b->tail + b->tail_len, data, k);
            b->tail_len += k;
            done = k;
            if (b->tail_len == align) {
                if ((rc = dl_program(b, b->dl_pos + k - align, b->tail, align)) != VOUCH_OK)
                    return rc;
                b->tail_len = 0;
            }
        }
        if (!b->tail_len) {
            uint32_t whole = (take - done) / align * align;
            if (whole && (rc = dl_program(b, b->dl_pos + done, data + done, whole)) != VOUCH_OK)
                return rc;
            done += whole;
            memcpy(b->tail, data + done, take - done);
            b->tail_len = take - done;
            done = take;
        }
        b->dl_pos += done;
        data += done;
        len -= done;
        if (b->dl_pos % s == 0 && (rc = log_append(b, R_DL_AT, 0, b->dl_pos, 0)) != VOUCH_OK)
            return rc;
    }
    return VOUCH_OK;
}

vouch_rc vouch_fw_dl_finish(vouch_fw_boot *b, vouch_fw_result *res)
{
    vouch_rc rc;
    if (!b)
        return RC_API(VOUCH_E_ARG);
    if (res)
        memset(res, 0, sizeof *res);
    if (!b->st.dl_active || b->dl_pos != b->st.dl_size)
        return RC_BOOT(VOUCH_FW_BOOT_E_DOWNLOAD);
    if (b->tail_len) {
        uint32_t align = b->cfg.flash->align;
        memset(b->tail + b->tail_len, 0xFF, align - b->tail_len);
        if ((rc = dl_program(b, b->dl_pos - b->tail_len, b->tail, align)) != VOUCH_OK)
            return rc;
        b->tail_len = 0;
    }
    if ((rc = vouch_fw_boot_load_trust(b)) != VOUCH_OK)
        return rc;
    return finish_secondary(b, b->st.dl_size, res);
}

/* ---- status -------------------------------------------------------------- */
static void slot_status(vouch_fw_boot *b, uint32_t base, uint32_t avail,
                        vouch_fw_slot_status *out)
{
    vouch_fw_image img;
    slot_rd r = {b, base, 0};
    vouch_rc rc;
    memset(out, 0, sizeof *out);
    rc = vouch_fw_parse(slot_read, &r, avail, b->cfg.port, &img);
    out->present = !(VOUCH_RC_LAYER(rc) == VOUCH_LAYER_FW &&
                      VOUCH_RC_CODE(rc) == VOUCH_FW_E_MAGIC) && !r.failed;
    out->verdict = verify_slot(b, base, avail, &out->res);
}

vouch_rc vouch_fw_boot_status(vouch_fw_boot *b, vouch_fw_status *s)
{
    const vouch_fw_layout *l;
    uint32_t avail;
    vouch_rc rc;
    if (!b || !s)
        return RC_API(VOUCH_E_ARG);
    l = &b->cfg.layout;
    memset(s, 0, sizeof *s);
    s->st = b->st;
    s->gen = b->gen;
    s->records_used = b->active < 0 ? 0 : b->next;
    s->records_max = b->nrec;
    if ((rc = vouch_fw_boot_load_trust(b)) != VOUCH_OK)
        return rc;
    s->floor = b->floor;
    s->revoked_below = b->revoked_below;
    slot_status(b, l->primary, l->slot_size, &s->primary);
    avail = l->slot_size;
    if (b->st.flags & VOUCH_FW_ST_PENDING)
        avail = b->st.pend_size;
    else if (b->st.dl_active)
        avail = b->st.dl_size;
    slot_status(b, l->secondary, avail, &s->secondary);
    return VOUCH_OK;
}
