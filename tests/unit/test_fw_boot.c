/*
 * Secure boot (fw/boot.c) on an in-memory flash with power-cut injection,
 * against the real SE core in-process: the status log (torn records,
 * compaction), the swap and its resumption at every step, confirm and
 * revert, install and download, and the refusals.
 *
 * A power cut: operation N (a flash write or erase, or a DECREMENT sent to
 * the SE) is applied in part and from then on every flash and SE access
 * fails, as if the power had gone. "Power on" clears that and builds a new
 * boot context from what the flash holds. The cut loops run a scenario once
 * to count its operations, then cut at each of them in turn, power on, and
 * check what the design says the device boots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vouch/fw_boot.h>
#include <vouch/port.h>
#include <vouch/se.h>
#include "se/core.h"

#define RC_FW(c) VOUCH_RC(VOUCH_LAYER_FW, (c))
#define RC_BUS(c) VOUCH_RC(VOUCH_LAYER_BUS, (c))

/* ---- fixture --------------------------------------------------------------- */
typedef struct geom {
    uint32_t sector, align, slot;
} geom;
static const geom G_DEFAULT = {4096, 8, 64 * 1024};
/* small sectors, 32-byte records: 32 per status sector, so swaps compact */
static const geom G_SMALL = {1024, 32, 16 * 1024};

enum { V1, V2, V3, V_LOW, V_KEY1, NIMG };

typedef struct fx {
    const vouch_crypto_port *port;
    vouch_se_core core;
    vouch_inproc_transport inproc;
    vouch_transport tr;
    vouch_se se;
    /* firmware keys: entry 0 and entry 1 */
    uint8_t priv[2][32], pub[2][65];
    /* flash */
    geom g;
    uint8_t *mem, *saved;
    uint32_t size;
    vouch_fw_flash flash;
    vouch_fw_layout layout;
    unsigned long ops, cut_at;
    int dead;
    vouch_se_pstate saved_se;
    vouch_fw_boot boot;
    /* images */
    uint8_t *img[NIMG];
    size_t len[NIMG];
    /* the highest counter ever confirmed, for the floor invariant */
    uint32_t max_confirmed;
} fx;

static int op_cut(fx *f)
{
    f->ops++;
    if (f->cut_at && f->ops == f->cut_at) {
        f->dead = 1;
        return 1;
    }
    return 0;
}

static int mf_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    fx *f = ctx;
    if (f->dead || (uint64_t)off + len > f->size)
        return -1;
    memcpy(buf, f->mem + off, len);
    return 0;
}

static int mf_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
    fx *f = ctx;
    size_t i, keep;
    if (f->dead)
        return -1;
    /* the flash rules: a violation is a bug in boot.c */
    assert_true((uint64_t)off + len <= f->size);
    assert_int_equal(off % f->g.align, 0);
    assert_int_equal(len % f->g.align, 0);
    assert_true(len > 0);
    for (i = 0; i < len; i++)
        assert_int_equal(f->mem[off + i], 0xFF);
    if (op_cut(f)) {
        size_t units = len / f->g.align;
        keep = units == 1 ? f->g.align / 2
                          : (f->ops % 2 ? units / 2 : (f->ops * 7) % units) * f->g.align;
        memcpy(f->mem + off, buf, keep);
        return -1;
    }
    memcpy(f->mem + off, buf, len);
    return 0;
}

static int mf_erase(void *ctx, uint32_t off, size_t len)
{
    fx *f = ctx;
    uint32_t s = f->g.sector;
    if (f->dead)
        return -1;
    assert_true((uint64_t)off + len <= f->size);
    assert_int_equal(off % s, 0);
    assert_int_equal(len % s, 0);
    if (op_cut(f)) {
        memset(f->mem + off + (f->ops % 2 ? s / 2 : 0), 0xFF, s / 2);
        return -1;
    }
    memset(f->mem + off, 0xFF, len);
    return 0;
}

/* The SE behind a wrapper: a DECREMENT is a numbered operation, and after
 * a cut the chip is unreachable. */
static vouch_rc w_send(void *ctx, const uint8_t *frame, size_t len)
{
    fx *f = ctx;
    if (f->dead)
        return RC_BUS(VOUCH_E_WRITE);
    if (len && (frame[0] & VOUCH_SE_HDR_CMD_MASK) == VOUCH_SE_CMD_DECREMENT && op_cut(f))
        return RC_BUS(VOUCH_E_WRITE);
    return vouch_transport_inproc.send(&f->inproc, frame, len);
}
static vouch_rc w_recv(void *ctx, uint8_t *frame, size_t size, size_t *len, uint32_t ms)
{
    fx *f = ctx;
    if (f->dead)
        return RC_BUS(VOUCH_E_READ);
    return vouch_transport_inproc.recv(&f->inproc, frame, size, len, ms);
}
static vouch_rc w_reread(void *ctx)
{
    fx *f = ctx;
    return vouch_transport_inproc.reread(&f->inproc);
}

static int commit_ok(void *ctx, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)blob, (void)len;
    return 0;
}

static void se_open(fx *f)
{
    vouch_se_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.transport = &f->tr;
    cfg.transport_ctx = f;
    cfg.port = f->port;
    assert_int_equal(vouch_se_init(&f->se, &cfg), VOUCH_OK);
}

static void boot_open(fx *f)
{
    vouch_fw_boot_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.flash = &f->flash;
    cfg.layout = f->layout;
    cfg.port = f->port;
    cfg.se = &f->se;
    assert_int_equal(vouch_fw_boot_init(&f->boot, &cfg), VOUCH_OK);
}

/* After a cut: power back, a fresh boot context from the flash. */
static void power_on(fx *f)
{
    f->dead = 0;
    f->cut_at = 0;
    vouch_se_close(&f->se);
    assert_int_equal(vouch_transport_inproc_open(&f->inproc, &f->core), VOUCH_OK);
    se_open(f);
    boot_open(f);
}

/* ---- images ------------------------------------------------------------------ */
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v), put16(p + 2, (uint16_t)(v >> 16));
}

/* An MCUboot image: header, payload, protected TLVs (security counter),
 * hash, key hash and ECDSA signature, built with the crypto port. */
static size_t build_image(fx *f, uint8_t *out, uint8_t major, uint8_t minor, uint32_t cnt,
                          size_t payload, int key, uint8_t seed)
{
    uint8_t hash[32], kh[32], sig[64], der[72];
    size_t n = 0, der_len, i, tlv;
    memset(out, 0, 32);
    put32(out, VOUCH_FW_MAGIC);
    put16(out + 8, 32);
    put16(out + 10, 12);
    put32(out + 12, (uint32_t)payload);
    out[20] = major;
    out[21] = minor;
    n = 32;
    for (i = 0; i < payload; i++)
        out[n++] = (uint8_t)(seed + i * 7 + (i >> 8));
    put16(out + n, VOUCH_FW_TLV_PROT_MAGIC), put16(out + n + 2, 12);
    put16(out + n + 4, VOUCH_FW_TLV_SEC_CNT), put16(out + n + 6, 4);
    put32(out + n + 8, cnt);
    n += 12;
    assert_int_equal(f->port->sha256(f->port->ctx, out, n, hash), 0);
    assert_int_equal(vouch_fw_keyhash(f->port, VOUCH_SE_ALG_P256, f->pub[key], 65, kh), VOUCH_OK);
    assert_int_equal(f->port->p256_sign(f->port->ctx, f->priv[key], hash, sig), 0);
    assert_int_equal(f->port->p256_sig_der(f->port->ctx, sig, der, sizeof der, &der_len), 0);
    tlv = n;
    n += 4;
    put16(out + n, VOUCH_FW_TLV_SHA256), put16(out + n + 2, 32), memcpy(out + n + 4, hash, 32);
    n += 36;
    put16(out + n, VOUCH_FW_TLV_KEYHASH), put16(out + n + 2, 32), memcpy(out + n + 4, kh, 32);
    n += 36;
    put16(out + n, VOUCH_FW_TLV_ECDSA_SIG), put16(out + n + 2, (uint16_t)der_len);
    memcpy(out + n + 4, der, der_len);
    n += 4 + der_len;
    put16(out + tlv, VOUCH_FW_TLV_INFO_MAGIC), put16(out + tlv + 2, (uint16_t)(n - tlv));
    return n;
}


static vouch_rc install_buf(fx *f, const uint8_t *p, size_t len, vouch_fw_result *res)
{
    vouch_fw_mem m = {p, len};
    return vouch_fw_install(&f->boot, vouch_fw_mem_read, &m, (uint32_t)len, res);
}
static vouch_rc install(fx *f, int which)
{
    return install_buf(f, f->img[which], f->len[which], NULL);
}

static int setup_geom(void **state, const geom *g)
{
    fx *f = calloc(1, sizeof *f);
    uint8_t entry[2 * VOUCH_FW_KEY_ENTRY_LEN];
    int k;
    assert_non_null(f);
    f->port = vouch_port_openssl();
    f->g = *g;
    assert_int_equal(vouch_se_core_create(&f->core, f->port, commit_ok, f), 0);
    assert_int_equal(vouch_transport_inproc_open(&f->inproc, &f->core), VOUCH_OK);
    f->tr.name = "cut";
    f->tr.send = w_send;
    f->tr.recv = w_recv;
    f->tr.reread = w_reread;
    f->tr.close = NULL;
    se_open(f);
    memset(entry, 0, sizeof entry);
    for (k = 0; k < 2; k++) {
        uint8_t *e = entry + k * VOUCH_FW_KEY_ENTRY_LEN;
        assert_int_equal(f->port->p256_keygen(f->port->ctx, f->priv[k], f->pub[k]), 0);
        e[0] = VOUCH_FW_USAGE_FIRMWARE;
        e[1] = VOUCH_SE_ALG_P256;
        memcpy(e + 2, f->pub[k], 65);
    }
    assert_int_equal(vouch_se_update(&f->se, VOUCH_FW_KEY_ZONE, 0, entry, sizeof entry,
                                     VOUCH_PLAIN),
                     VOUCH_OK);

    f->size = vouch_fw_layout_default(0, g->sector, g->slot, &f->layout);
    assert_true(f->size > 0);
    f->mem = malloc(f->size);
    f->saved = malloc(f->size);
    assert_non_null(f->mem);
    assert_non_null(f->saved);
    memset(f->mem, 0xFF, f->size);
    f->flash.ctx = f;
    f->flash.sector_size = g->sector;
    f->flash.align = g->align;
    f->flash.read = mf_read;
    f->flash.write = mf_write;
    f->flash.erase = mf_erase;
    boot_open(f);

    for (k = 0; k < NIMG; k++) {
        f->img[k] = malloc(16384);
        assert_non_null(f->img[k]);
    }
    f->len[V1] = build_image(f, f->img[V1], 1, 0, 1, 5000, 0, 1);
    f->len[V2] = build_image(f, f->img[V2], 1, 1, 2, 7001, 0, 2);
    f->len[V3] = build_image(f, f->img[V3], 1, 2, 3, 6003, 0, 3);
    f->len[V_LOW] = build_image(f, f->img[V_LOW], 0, 9, 0, 3000, 0, 4);
    f->len[V_KEY1] = build_image(f, f->img[V_KEY1], 1, 3, 3, 4000, 1, 5);
    *state = f;
    return 0;
}
static int setup(void **state)
{
    return setup_geom(state, &G_DEFAULT);
}
static int setup_small(void **state)
{
    return setup_geom(state, &G_SMALL);
}

static int teardown(void **state)
{
    fx *f = *state;
    int k;
    vouch_se_close(&f->se);
    vouch_se_core_wipe(&f->core);
    for (k = 0; k < NIMG; k++)
        free(f->img[k]);
    free(f->mem);
    free(f->saved);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */
static uint32_t floor_now(fx *f)
{
    uint32_t v = 0;
    assert_int_equal(vouch_fw_rollback_get(&f->se, &v), VOUCH_OK);
    return v;
}

/* Boots and checks the image started: version minor, test flag. */
static void boot_expect(fx *f, int minor, int test, vouch_fw_boot_info *out)
{
    vouch_fw_boot_info info;
    vouch_rc rc = vouch_fw_boot_run(&f->boot, &info);
    if (rc != VOUCH_OK)
        fail_msg("boot: %s", vouch_fw_boot_strerror(rc));
    assert_int_equal(info.res.img.version.minor, minor);
    assert_int_equal(info.test, test);
    /* the floor never passes a confirmed image's counter, never falls */
    assert_true(info.floor >= info.floor_before);
    assert_true(info.floor <= f->max_confirmed);
    if (out)
        *out = info;
}

static void confirm_ok(fx *f, uint32_t want_cnt)
{
    uint32_t cnt = 0;
    assert_int_equal(vouch_fw_boot_confirm(&f->boot, &cnt), VOUCH_OK);
    assert_int_equal(cnt, want_cnt);
    if (cnt > f->max_confirmed)
        f->max_confirmed = cnt;
    assert_int_equal(floor_now(f), cnt);
}

/* v1 installed, booted and confirmed: floor 1. */
static void v1_confirmed(fx *f)
{
    assert_int_equal(install(f, V1), VOUCH_OK);
    boot_expect(f, 0, 1, NULL);
    assert_int_equal(floor_now(f), 0);
    confirm_ok(f, 1);
    boot_expect(f, 0, 0, NULL);
}

static void save(fx *f)
{
    memcpy(f->saved, f->mem, f->size);
    f->saved_se = f->core.live;
}
static void restore(fx *f)
{
    memcpy(f->mem, f->saved, f->size);
    f->core.live = f->saved_se;
    power_on(f);
}

typedef vouch_rc (*scenario_fn)(fx *f);
typedef void (*after_fn)(fx *f, unsigned long k, unsigned long n);

/* Count the scenario's operations, then cut at each one. Returns N. */
static unsigned long cut_loop(fx *f, scenario_fn run, after_fn check)
{
    unsigned long n, k;
    vouch_rc rc;
    save(f);
    f->ops = 0;
    rc = run(f);
    assert_int_equal(rc, VOUCH_OK);
    n = f->ops;
    assert_true(n > 0);
    for (k = 1; k <= n; k++) {
        restore(f);
        f->ops = 0;
        f->cut_at = k;
        rc = run(f);
        if (rc == VOUCH_OK)
            fail_msg("cut at %lu of %lu: the scenario did not notice", k, n);
        assert_true(f->dead);
        power_on(f);
        check(f, k, n);
    }
    restore(f);
    return n;
}

/* ---- basic flows ---------------------------------------------------------------------- */
static void first_boot_upgrade_confirm(void **state)
{
    fx *f = *state;
    vouch_fw_boot_info info;
    vouch_fw_status s;

    /* an empty device boots nothing */
    assert_int_equal(vouch_fw_boot_run(&f->boot, &info), RC_FW(VOUCH_FW_BOOT_E_NO_IMAGE));
    assert_int_equal(VOUCH_RC_CODE(info.why), VOUCH_FW_E_MAGIC);

    v1_confirmed(f);
    assert_int_equal(install(f, V2), VOUCH_OK);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "pending");
    boot_expect(f, 1, 1, &info);
    assert_int_equal(info.swapped, VOUCH_FW_SWAP_UPGRADE);
    assert_int_equal(floor_now(f), 1); /* not at swap time */
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "booted_once");
    /* no install over the way back */
    assert_int_equal(install(f, V3), RC_FW(VOUCH_FW_BOOT_E_TESTING));
    assert_int_equal(vouch_fw_dl_begin(&f->boot, 100, 1), RC_FW(VOUCH_FW_BOOT_E_TESTING));
    confirm_ok(f, 2);
    /* confirm again: nothing to do */
    confirm_ok(f, 2);
    boot_expect(f, 1, 0, NULL);
    assert_int_equal(vouch_fw_boot_status(&f->boot, &s), VOUCH_OK);
    assert_string_equal(vouch_fw_state_name(&s.st), "confirmed");
    assert_int_equal(s.primary.verdict, VOUCH_OK);
    assert_int_equal(s.primary.res.img.sec_cnt, 2);
    /* the old image in the secondary is below the floor now */
    assert_int_equal(s.secondary.verdict, RC_FW(VOUCH_FW_E_ROLLBACK));
    assert_int_equal(s.floor, 2);
}

static void unconfirmed_reverts(void **state)
{
    fx *f = *state;
    vouch_fw_boot_info info;
    v1_confirmed(f);
    assert_int_equal(install(f, V2), VOUCH_OK);
    boot_expect(f, 1, 1, NULL);
    /* no confirm: the next boot reverts */
    boot_expect(f, 0, 0, &info);
    assert_int_equal(info.swapped, VOUCH_FW_SWAP_REVERT);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "reverted");
    assert_int_equal(floor_now(f), 1);
    /* and stays there */
    boot_expect(f, 0, 0, &info);
    assert_int_equal(info.swapped, 0);
    assert_int_equal(vouch_fw_boot_confirm(&f->boot, NULL), VOUCH_OK); /* already */
    /* the same image may be tried again */
    assert_int_equal(install(f, V2), VOUCH_OK);
    boot_expect(f, 1, 1, NULL);
    confirm_ok(f, 2);
}

static void refusals(void **state)
{
    fx *f = *state;
    uint8_t *bad = malloc(70000);
    vouch_fw_boot_info info;
    size_t n = f->len[V2];
    uint32_t dummy;
    assert_non_null(bad);

    assert_int_equal(vouch_fw_boot_confirm(&f->boot, &dummy),
                     RC_FW(VOUCH_FW_BOOT_E_NOT_TESTING));
    v1_confirmed(f);

    /* tampered payload, header, protected TLV: hash; at install */
    memcpy(bad, f->img[V2], n);
    bad[100] ^= 1;
    assert_int_equal(install_buf(f, bad, n, NULL), RC_FW(VOUCH_FW_E_HASH));
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "rejected");
    memcpy(bad, f->img[V2], n);
    bad[20] ^= 1; /* version major */
    assert_int_equal(install_buf(f, bad, n, NULL), RC_FW(VOUCH_FW_E_HASH));
    memcpy(bad, f->img[V2], n);
    bad[32 + 7001 + 8] ^= 0x10; /* security counter */
    assert_int_equal(install_buf(f, bad, n, NULL), RC_FW(VOUCH_FW_E_HASH));
    /* truncated: refused before the flash is touched */
    f->ops = 0;
    assert_int_equal(install_buf(f, f->img[V2], n - 10, NULL), RC_FW(VOUCH_FW_E_TRUNCATED));
    assert_int_equal(f->ops, 0);
    memset(bad, 0x5A, 4000);
    assert_int_equal(install_buf(f, bad, 4000, NULL), RC_FW(VOUCH_FW_E_MAGIC));
    /* larger than a slot */
    memset(bad, 0, 70000);
    memcpy(bad, f->img[V2], n);
    assert_int_equal(install_buf(f, bad, f->g.slot + 1, NULL), RC_FW(VOUCH_FW_BOOT_E_TOO_BIG));
    /* lower counter than the floor */
    assert_int_equal(install(f, V_LOW), RC_FW(VOUCH_FW_E_ROLLBACK));
    /* every refusal left v1 */
    boot_expect(f, 0, 0, &info);
    assert_int_equal(info.swapped, 0);

    /* key 1, then key 0 revoked: v2 (key 0) refused, key 1 accepted */
    assert_int_equal(vouch_fw_key_revoke(&f->se, 0, VOUCH_PLAIN, &dummy), VOUCH_OK);
    assert_int_equal(install(f, V2), RC_FW(VOUCH_FW_E_REVOKED));
    assert_int_equal(install(f, V_KEY1), VOUCH_OK);
    /* v1 itself is signed by the revoked key: it no longer verifies, but the
     * new image is verified first and swapped in */
    boot_expect(f, 3, 1, NULL);
    confirm_ok(f, 3);
    boot_expect(f, 3, 0, NULL);
    free(bad);
}

/* A pending image changed in flash after install: refused at boot. */
static void pending_changed_in_flash(void **state)
{
    fx *f = *state;
    vouch_fw_boot_info info;
    v1_confirmed(f);
    assert_int_equal(install(f, V2), VOUCH_OK);
    f->mem[f->layout.secondary + 200] ^= 0x01;
    boot_expect(f, 0, 0, &info);
    assert_int_equal(info.rejected, RC_FW(VOUCH_FW_E_HASH));
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "rejected");
    assert_int_equal(f->boot.st.reason, RC_FW(VOUCH_FW_E_HASH));
}

/* The primary does not verify: a test image falls back, a confirmed one
 * is not started at all. */
static void primary_corrupted(void **state)
{
    fx *f = *state;
    vouch_fw_boot_info info;
    v1_confirmed(f);
    save(f);
    f->mem[f->layout.primary + 300] ^= 0x80;
    assert_int_equal(vouch_fw_boot_run(&f->boot, &info), RC_FW(VOUCH_FW_BOOT_E_NO_IMAGE));
    assert_int_equal(info.why, RC_FW(VOUCH_FW_E_HASH));
    restore(f);

    /* v2 swapped in; power lost at its BOOTED_TEST; then v2 is damaged */
    assert_int_equal(install(f, V2), VOUCH_OK);
    save(f);
    f->ops = 0;
    boot_expect(f, 1, 1, NULL);
    restore(f);
    f->cut_at = f->ops; /* the last operation: BOOTED_TEST */
    f->ops = 0;
    assert_int_not_equal(vouch_fw_boot_run(&f->boot, &info), VOUCH_OK);
    power_on(f);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "testing");
    assert_int_equal(f->boot.torn, 1);
    /* never started: nothing to confirm yet */
    assert_int_equal(vouch_fw_boot_confirm(&f->boot, NULL), RC_FW(VOUCH_FW_BOOT_E_NOT_BOOTED));
    f->mem[f->layout.primary + 300] ^= 0x80;
    boot_expect(f, 0, 0, &info);
    assert_int_equal(info.swapped, VOUCH_FW_SWAP_REVERT);
    assert_int_equal(info.why, RC_FW(VOUCH_FW_E_HASH));
}

/* ---- the log ------------------------------------------------------------------------------ */
static void torn_record_skipped(void **state)
{
    fx *f = *state;
    uint32_t next;
    v1_confirmed(f);
    assert_int_equal(install(f, V2), VOUCH_OK);
    next = f->boot.next;
    /* a torn record by hand: half of it programmed */
    {
        uint32_t off = f->layout.status[f->boot.active] + next * f->boot.rec_size;
        uint8_t junk[16] = {'v', 'B', 0x16, 0, 9, 9, 9, 9};
        memcpy(f->mem + off, junk, 8);
    }
    power_on(f);
    assert_int_equal(f->boot.torn, 1);
    assert_int_equal(f->boot.next, next + 1); /* appends go after it */
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "pending");
    boot_expect(f, 1, 1, NULL);
    power_on(f);
    assert_int_equal(f->boot.torn, 1);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "booted_once");
}

/* Garbage where a record would be (not all 0xFF, bad check): skipped. */
static void garbage_records_skipped(void **state)
{
    fx *f = *state;
    v1_confirmed(f);
    {
        uint32_t off = f->layout.status[f->boot.active] + f->boot.next * f->boot.rec_size;
        memset(f->mem + off, 0x00, f->boot.rec_size * 3);
    }
    power_on(f);
    assert_int_equal(f->boot.torn, 3);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "confirmed");
    assert_int_equal(install(f, V2), VOUCH_OK);
    boot_expect(f, 1, 1, NULL);
}

static void compaction_keeps_state(void **state)
{
    fx *f = *state;
    int round;
    uint32_t gen0;
    v1_confirmed(f);
    gen0 = f->boot.gen;
    for (round = 0; round < 20; round++) {
        int v = round % 2 ? V1 : V2;
        assert_int_equal(install(f, v), VOUCH_OK);
        /* check the state from flash at every stage */
        power_on(f);
        assert_string_equal(vouch_fw_state_name(&f->boot.st), "pending");
        boot_expect(f, v == V1 ? 0 : 1, 1, NULL);
        power_on(f);
        assert_string_equal(vouch_fw_state_name(&f->boot.st), "booted_once");
        boot_expect(f, 0, 0, NULL); /* reverted to the confirmed v1 */
        power_on(f);
        assert_string_equal(vouch_fw_state_name(&f->boot.st), "reverted");
    }
    assert_true(f->boot.gen > gen0 + 1);
    /* both sectors hold a header; the higher generation is active */
    assert_true(f->boot.active == 0 || f->boot.active == 1);
}

/* A valid header whose snapshot is torn does not count. */
static void torn_snapshot_not_active(void **state)
{
    fx *f = *state;
    v1_confirmed(f);
    save(f);
    /* find a compaction's operations by cutting each: the header is last */
    {
        unsigned long k;
        for (k = 1; k <= 4; k++) {
            restore(f);
            f->ops = 0;
            f->cut_at = k;
            /* install compacts when less than half is free: force it */
            f->boot.next = f->boot.nrec - 1;
            (void)install(f, V2);
            power_on(f);
            /* nothing lost: v1 confirmed either way */
            assert_true(strcmp(vouch_fw_state_name(&f->boot.st), "confirmed") == 0);
        }
    }
    restore(f);
}

static void layouts_refused(void **state)
{
    fx *f = *state;
    vouch_fw_boot b;
    vouch_fw_boot_config cfg;
    vouch_fw_flash fl = f->flash;
    memset(&cfg, 0, sizeof cfg);
    cfg.flash = &fl;
    cfg.layout = f->layout;
    cfg.port = f->port;
    cfg.se = &f->se;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), VOUCH_OK);
    fl.align = 3;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), RC_FW(VOUCH_FW_BOOT_E_LAYOUT));
    fl.align = 512;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), RC_FW(VOUCH_FW_BOOT_E_LAYOUT));
    fl = f->flash;
    cfg.layout.scratch = cfg.layout.secondary; /* overlap */
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), RC_FW(VOUCH_FW_BOOT_E_LAYOUT));
    cfg.layout = f->layout;
    cfg.layout.slot_size += 1;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), RC_FW(VOUCH_FW_BOOT_E_LAYOUT));
    cfg.layout = f->layout;
    fl.sector_size = 128;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), RC_FW(VOUCH_FW_BOOT_E_LAYOUT));
    assert_int_equal(vouch_fw_layout_default(0, 3000, 6000, &cfg.layout), 0);
    assert_int_equal(vouch_fw_layout_default(0, 4096, 6000, &cfg.layout), 0);
    cfg.flash = NULL;
    assert_int_equal(vouch_fw_boot_init(&b, &cfg), VOUCH_RC(VOUCH_LAYER_API, VOUCH_E_ARG));
    assert_string_equal(vouch_fw_boot_strerror(RC_FW(VOUCH_FW_E_HASH)),
                        vouch_fw_strerror(RC_FW(VOUCH_FW_E_HASH)));
    assert_non_null(strstr(vouch_fw_boot_strerror(RC_FW(VOUCH_FW_BOOT_E_NO_IMAGE)),
                           "no bootable image"));
}

/* ---- downloads ---------------------------------------------------------------------------- */
static uint32_t tag_of(fx *f, int which)
{
    return (uint32_t)f->len[which] * 2654435761u;
}

/* Writes image `which` from the resume point in odd-sized chunks. */
static vouch_rc download(fx *f, int which, size_t chunk)
{
    uint32_t size = (uint32_t)f->len[which], tag = tag_of(f, which);
    uint32_t off = vouch_fw_dl_resume_offset(&f->boot, size, tag);
    vouch_rc rc;
    if (off == 0 && (rc = vouch_fw_dl_begin(&f->boot, size, tag)) != VOUCH_OK)
        return rc;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if ((rc = vouch_fw_dl_write(&f->boot, off, f->img[which] + off, n)) != VOUCH_OK)
            return rc;
        off += (uint32_t)n;
    }
    return vouch_fw_dl_finish(&f->boot, NULL);
}

static void download_and_resume(void **state)
{
    fx *f = *state;
    uint32_t size = (uint32_t)f->len[V2];
    v1_confirmed(f);
    /* out of order and unknown downloads */
    assert_int_equal(vouch_fw_dl_write(&f->boot, 0, f->img[V2], 10),
                     RC_FW(VOUCH_FW_BOOT_E_DOWNLOAD));
    assert_int_equal(vouch_fw_dl_finish(&f->boot, NULL), RC_FW(VOUCH_FW_BOOT_E_DOWNLOAD));
    assert_int_equal(vouch_fw_dl_begin(&f->boot, f->g.slot + 1, 1),
                     RC_FW(VOUCH_FW_BOOT_E_TOO_BIG));
    assert_int_equal(vouch_fw_dl_begin(&f->boot, size, tag_of(f, V2)), VOUCH_OK);
    assert_int_equal(vouch_fw_dl_write(&f->boot, 5, f->img[V2], 10),
                     RC_FW(VOUCH_FW_BOOT_E_DOWNLOAD));
    assert_int_equal(vouch_fw_dl_write(&f->boot, 0, f->img[V2], 1000), VOUCH_OK);
    assert_int_equal(vouch_fw_dl_write(&f->boot, 1000, f->img[V2] + 1000, 3333), VOUCH_OK);
    assert_int_equal(vouch_fw_dl_finish(&f->boot, NULL), RC_FW(VOUCH_FW_BOOT_E_DOWNLOAD));
    /* power lost: the sector done survives, the rest is written again */
    power_on(f);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "downloading");
    assert_int_equal(vouch_fw_dl_resume_offset(&f->boot, size, tag_of(f, V2)),
                     4333 - 4333 % f->g.sector);
    assert_int_equal(vouch_fw_dl_resume_offset(&f->boot, size, 12345), 0);
    /* booting meanwhile starts v1 */
    boot_expect(f, 0, 0, NULL);
    assert_int_equal(download(f, V2, 777), VOUCH_OK);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "pending");
    boot_expect(f, 1, 1, NULL);
    confirm_ok(f, 2);

    /* a download of a bad image ends rejected */
    {
        uint8_t *save_img = malloc(f->len[V3]);
        assert_non_null(save_img);
        memcpy(save_img, f->img[V3], f->len[V3]);
        f->img[V3][40] ^= 1;
        assert_int_equal(download(f, V3, 4096), RC_FW(VOUCH_FW_E_HASH));
        assert_string_equal(vouch_fw_state_name(&f->boot.st), "rejected");
        memcpy(f->img[V3], save_img, f->len[V3]);
        free(save_img);
    }
    boot_expect(f, 1, 0, NULL);
}

/* ---- power cuts at every operation ------------------------------------------------------ */
static vouch_rc sc_install_v2(fx *f)
{
    return install(f, V2);
}
static void after_install(fx *f, unsigned long k, unsigned long n)
{
    /* before PENDING is whole the device keeps v1 */
    if (f->boot.st.flags & VOUCH_FW_ST_PENDING)
        fail_msg("install cut at %lu of %lu: pending (state %s)", k, n,
                 vouch_fw_state_name(&f->boot.st));
    boot_expect(f, 0, 0, NULL);
    boot_expect(f, 0, 0, NULL);
    assert_int_equal(floor_now(f), 1);
    /* and a new attempt succeeds */
    assert_int_equal(install(f, V2), VOUCH_OK);
    boot_expect(f, 1, 1, NULL);
}

static vouch_rc sc_boot(fx *f)
{
    vouch_fw_boot_info info;
    return vouch_fw_boot_run(&f->boot, &info);
}
static void after_upgrade_cut(fx *f, unsigned long k, unsigned long n)
{
    /* wherever the swap stopped, the next boot finishes it and starts v2 on
     * trial; unconfirmed, the one after reverts to v1 */
    (void)k, (void)n;
    boot_expect(f, 1, 1, NULL);
    assert_int_equal(floor_now(f), 1);
    boot_expect(f, 0, 0, NULL);
    assert_int_equal(floor_now(f), 1);
    boot_expect(f, 0, 0, NULL);
}

static vouch_rc sc_confirm(fx *f)
{
    return vouch_fw_boot_confirm(&f->boot, NULL);
}
static void after_confirm_cut(fx *f, unsigned long k, unsigned long n)
{
    vouch_fw_boot_info info;
    if (f->boot.st.flags & VOUCH_FW_ST_CONFIRMED) {
        /* CONFIRMED landed, the counter step did not: the boot catches up */
        assert_int_equal(k, n);
        assert_int_equal(floor_now(f), 1);
        f->max_confirmed = 2;
        boot_expect(f, 1, 0, &info);
        assert_int_equal(info.floor, 2);
        assert_int_equal(floor_now(f), 2);
    } else {
        boot_expect(f, 0, 0, &info);
        assert_int_equal(info.swapped, VOUCH_FW_SWAP_REVERT);
        assert_int_equal(floor_now(f), 1);
    }
    f->max_confirmed = 1;
}

static void after_revert_cut(fx *f, unsigned long k, unsigned long n)
{
    (void)k, (void)n;
    boot_expect(f, 0, 0, NULL);
    assert_string_equal(vouch_fw_state_name(&f->boot.st), "reverted");
    assert_int_equal(floor_now(f), 1);
    boot_expect(f, 0, 0, NULL);
}

static vouch_rc sc_download(fx *f)
{
    return download(f, V2, 1500);
}
static void after_download_cut(fx *f, unsigned long k, unsigned long n)
{
    (void)k, (void)n;
    boot_expect(f, 0, 0, NULL);
    /* resume where the log says (or from the start) and finish */
    assert_int_equal(download(f, V2, 999), VOUCH_OK);
    boot_expect(f, 1, 1, NULL);
    boot_expect(f, 0, 0, NULL);
}

static unsigned long cuts_total[2][5];

static void cut_everywhere(fx *f, int gi)
{
    unsigned long n;

    v1_confirmed(f);
    f->max_confirmed = 1;
    n = cut_loop(f, sc_install_v2, after_install);
    cuts_total[gi][0] = n;

    assert_int_equal(install(f, V2), VOUCH_OK);
    n = cut_loop(f, sc_boot, after_upgrade_cut);
    cuts_total[gi][1] = n;

    boot_expect(f, 1, 1, NULL); /* v2 started once */
    n = cut_loop(f, sc_confirm, after_confirm_cut);
    assert_int_equal(n, 2); /* CONFIRMED, then the counter */
    cuts_total[gi][2] = n;

    n = cut_loop(f, sc_boot, after_revert_cut); /* unconfirmed: revert */
    cuts_total[gi][3] = n;

    boot_expect(f, 0, 0, NULL); /* reverted */
    n = cut_loop(f, sc_download, after_download_cut);
    cuts_total[gi][4] = n;
    print_message("fault points (%s): install %lu, swap %lu, confirm %lu, revert %lu, "
                  "download %lu\n",
                  gi ? "1 KiB sectors, 32-byte unit, 16 KiB slots"
                     : "4 KiB sectors, 8-byte unit, 64 KiB slots",
                  cuts_total[gi][0], cuts_total[gi][1], cuts_total[gi][2], cuts_total[gi][3],
                  cuts_total[gi][4]);
}

static void cut_everywhere_default(void **state)
{
    cut_everywhere(*state, 0);
}
static void cut_everywhere_small(void **state)
{
    fx *f = *state;
    cut_everywhere(f, 1);
    /* the small log had to compact in the middle of swaps */
    assert_true(f->boot.gen > 2);
}

/* A second power cut while recovering from the first, and a third. */
static void cut_during_recovery(void **state)
{
    fx *f = *state;
    uint8_t *mid = malloc(f->size);
    unsigned long n, k, j, m, tested = 0;
    assert_non_null(mid);
    v1_confirmed(f);
    f->max_confirmed = 1;
    assert_int_equal(install(f, V2), VOUCH_OK);
    save(f);
    f->ops = 0;
    assert_int_equal(sc_boot(f), VOUCH_OK);
    n = f->ops;
    for (k = 1; k <= n; k += 4) {
        restore(f);
        f->ops = 0;
        f->cut_at = k;
        assert_int_not_equal(sc_boot(f), VOUCH_OK);
        power_on(f);
        memcpy(mid, f->mem, f->size); /* the flash after the first cut */
        f->ops = 0;
        assert_int_equal(sc_boot(f), VOUCH_OK);
        m = f->ops;
        for (j = 1; j <= m; j += 3) {
            memcpy(f->mem, mid, f->size);
            power_on(f);
            f->ops = 0;
            f->cut_at = j;
            assert_int_not_equal(sc_boot(f), VOUCH_OK);
            power_on(f);
            /* a third cut, early in the next recovery */
            f->ops = 0;
            f->cut_at = 1 + (j % 3);
            if (sc_boot(f) != VOUCH_OK)
                power_on(f);
            else
                f->cut_at = 0; /* recovery needed fewer operations */
            power_on(f);
            if (f->boot.st.flags & VOUCH_FW_ST_BOOTED) {
                /* the third boot got as far as starting v2: now it reverts */
                boot_expect(f, 0, 0, NULL);
            } else {
                boot_expect(f, 1, 1, NULL);
                boot_expect(f, 0, 0, NULL);
            }
            tested++;
        }
    }
    restore(f);
    free(mid);
    print_message("nested power cuts: %lu combinations\n", tested);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TS(fn) cmocka_unit_test_setup_teardown(fn, setup_small, teardown)
        T(first_boot_upgrade_confirm),
        T(unconfirmed_reverts),
        T(refusals),
        T(pending_changed_in_flash),
        T(primary_corrupted),
        T(torn_record_skipped),
        T(garbage_records_skipped),
        T(compaction_keeps_state),
        TS(compaction_keeps_state),
        T(torn_snapshot_not_active),
        T(layouts_refused),
        T(download_and_resume),
        TS(download_and_resume),
        T(cut_everywhere_default),
        TS(cut_everywhere_small),
        T(cut_during_recovery),
        TS(cut_during_recovery),
#undef T
#undef TS
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
