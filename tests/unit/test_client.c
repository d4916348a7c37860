/*
 * libvouch SE client against the in-process SE core, through a "faulty bus"
 * wrapper transport that can corrupt, truncate, drop, replace or replay
 * responses and corrupt commands. Also the unix transport against a small
 * socket server thread, URI parsing, and the words of every status.
 *
 * Negative tests (refusals, damage, misuse) are the majority on purpose:
 * the client's job is mostly to say no correctly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vouch/se.h>
#include "se/core.h"

static const uint8_t K_MAC[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                  0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t K_ENC[16] = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
                                  0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};

#define RC_SE(c) VOUCH_RC(VOUCH_LAYER_SE, (c))
#define RC_API(c) VOUCH_RC(VOUCH_LAYER_API, (c))
#define RC_BUS(c) VOUCH_RC(VOUCH_LAYER_BUS, (c))
#define RC_FRAME(c) VOUCH_RC(VOUCH_LAYER_FRAME, (c))
#define RC_CHAN(c) VOUCH_RC(VOUCH_LAYER_CHANNEL, (c))

/* ---- the faulty bus ------------------------------------------------------ */
typedef struct bus {
    const vouch_transport *inner;
    void *inner_ctx;
    /* faults, each a count of upcoming events it applies to */
    int corrupt_rsp;  /* flip a bit in the response CRC */
    int truncate_rsp; /* cut truncate_by bytes off the response */
    size_t truncate_by;
    int drop_rsp;     /* the response arrives empty */
    int corrupt_cmd;  /* flip a bit in the command: the chip answers E_CRC */
    int busy;         /* answer E_BUSY without reaching the chip */
    int tamper_data;  /* flip a data bit and fix the CRC: only the R-MAC can tell */
    int strip_rmac;   /* remove the R-MAC and fix the CRC */
    int replay_old;   /* hand back the saved earlier response, CRC intact */
    int inject_n;     /* hand back `inject` instead of the chip's response */
    int inject_secure_only;
    uint8_t inject[VOUCH_SE_RSP_FRAME_MAX];
    size_t inject_len;
    int save_next; /* keep a copy of the next clean response */
    uint8_t saved[VOUCH_SE_RSP_FRAME_MAX];
    size_t saved_len;
    /* what went by */
    uint8_t last_cmd[VOUCH_SE_CMD_FRAME_MAX];
    size_t last_cmd_len;
    unsigned sends, recvs, rereads;
    int *locked; /* if set: every bus operation must run under the lock */
    int unlocked_use;
    /* a fake answer standing in for the chip's (busy) */
    uint8_t fake[VOUCH_SE_RSP_FRAME_MAX];
    size_t fake_len;
    int use_fake;
} bus;

static void fix_crc(uint8_t *f, size_t len)
{
    uint16_t crc = vouch_crc16_x25(f, len - 2);
    f[len - 2] = (uint8_t)(crc >> 8);
    f[len - 1] = (uint8_t)crc;
}

static size_t make_frame(uint8_t *f, uint8_t status, const uint8_t *data, size_t dlen)
{
    f[0] = status;
    f[1] = (uint8_t)(dlen >> 8);
    f[2] = (uint8_t)dlen;
    if (dlen)
        memcpy(f + 3, data, dlen);
    fix_crc(f, 3 + dlen + 2);
    return 3 + dlen + 2;
}

static void bus_check_lock(bus *b)
{
    if (b->locked && !*b->locked)
        b->unlocked_use = 1;
}

static vouch_rc bus_send(void *ctx, const uint8_t *frame, size_t len)
{
    bus *b = ctx;
    uint8_t tmp[VOUCH_SE_CMD_FRAME_MAX];
    bus_check_lock(b);
    b->sends++;
    memcpy(b->last_cmd, frame, len);
    b->last_cmd_len = len;
    b->use_fake = 0;
    if (b->busy > 0) {
        b->busy--;
        b->fake_len = vouch_se_core_status_frame(VOUCH_SE_E_BUSY, b->fake, sizeof b->fake);
        b->use_fake = 1;
        return VOUCH_OK;
    }
    if (b->corrupt_cmd > 0) {
        b->corrupt_cmd--;
        memcpy(tmp, frame, len);
        tmp[len / 2] ^= 0x10;
        return b->inner->send(b->inner_ctx, tmp, len);
    }
    return b->inner->send(b->inner_ctx, frame, len);
}

static vouch_rc bus_recv(void *ctx, uint8_t *frame, size_t size, size_t *len,
                         uint32_t timeout_ms)
{
    bus *b = ctx;
    vouch_rc rc;
    bus_check_lock(b);
    b->recvs++;
    if (b->inject_n > 0 && (!b->inject_secure_only || (b->last_cmd[0] & VOUCH_SE_HDR_CMAC))) {
        b->inject_n--;
        memcpy(frame, b->inject, b->inject_len);
        *len = b->inject_len;
        return VOUCH_OK;
    }
    if (b->use_fake) {
        memcpy(frame, b->fake, b->fake_len);
        *len = b->fake_len;
        return VOUCH_OK;
    }
    rc = b->inner->recv(b->inner_ctx, frame, size, len, timeout_ms);
    if (rc != VOUCH_OK)
        return rc;
    if (b->save_next) {
        b->save_next = 0;
        memcpy(b->saved, frame, *len);
        b->saved_len = *len;
    }
    if (b->replay_old > 0) {
        b->replay_old--;
        memcpy(frame, b->saved, b->saved_len);
        *len = b->saved_len;
    }
    if (b->drop_rsp > 0) {
        b->drop_rsp--;
        *len = 0;
    } else if (b->truncate_rsp > 0) {
        b->truncate_rsp--;
        *len = *len > b->truncate_by ? *len - b->truncate_by : 0;
    } else if (b->corrupt_rsp > 0) {
        b->corrupt_rsp--;
        frame[*len - 1] ^= 0x01;
    }
    if (b->tamper_data > 0 && *len > 5 && (frame[1] || frame[2])) {
        b->tamper_data--;
        frame[3] ^= 0x80;
        fix_crc(frame, *len);
    }
    if (b->strip_rmac > 0 && *len >= 13 && (frame[0] & VOUCH_SE_STATUS_RMAC)) {
        b->strip_rmac--;
        frame[0] &= (uint8_t)~VOUCH_SE_STATUS_RMAC;
        *len -= VOUCH_SE_MAC_LEN;
        fix_crc(frame, *len);
    }
    return VOUCH_OK;
}

static vouch_rc bus_reread(void *ctx)
{
    bus *b = ctx;
    bus_check_lock(b);
    b->rereads++;
    return b->inner->reread(b->inner_ctx);
}

static const vouch_transport bus_transport = {
    .name = "faulty", .send = bus_send, .recv = bus_recv, .reread = bus_reread, .close = NULL};

/* ---- fixture ---------------------------------------------------------------- */
typedef struct fx {
    vouch_se_core core;
    vouch_inproc_transport inproc;
    bus b;
    vouch_se se;
    int fail_commit;
    unsigned commits;
    int locked;
    unsigned locks, unlocks;
} fx;

static int commit_fn(void *ctx, const uint8_t *blob, size_t len)
{
    fx *f = ctx;
    (void)blob;
    (void)len;
    f->commits++;
    return f->fail_commit ? -1 : 0;
}

static void test_lock(void *ctx)
{
    fx *f = ctx;
    assert_int_equal(f->locked, 0); /* never taken twice: no self-deadlock */
    f->locked = 1;
    f->locks++;
}

static void test_unlock(void *ctx)
{
    fx *f = ctx;
    assert_int_equal(f->locked, 1);
    f->locked = 0;
    f->unlocks++;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    vouch_se_config cfg = {0};
    assert_non_null(f);
    assert_int_equal(vouch_se_core_create(&f->core, vouch_port_openssl(), commit_fn, f), 0);
    assert_int_equal(vouch_transport_inproc_open(&f->inproc, &f->core), VOUCH_OK);
    f->b.inner = &vouch_transport_inproc;
    f->b.inner_ctx = &f->inproc;
    f->b.locked = &f->locked;
    cfg.transport = &bus_transport;
    cfg.transport_ctx = &f->b;
    cfg.lock = test_lock;
    cfg.unlock = test_unlock;
    cfg.lock_ctx = f;
    cfg.busy_wait_ms = 1;
    assert_int_equal(vouch_se_init(&f->se, &cfg), VOUCH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vouch_se_close(&f->se);
    assert_int_equal(f->locks, f->unlocks);
    assert_int_equal(f->b.unlocked_use, 0);
    vouch_transport_inproc.close(&f->inproc);
    vouch_se_core_wipe(&f->core);
    free(f);
    return 0;
}

static void keys_on(fx *f)
{
    assert_int_equal(vouch_se_put_host_keys(&f->se, K_MAC, K_ENC, VOUCH_PLAIN), VOUCH_OK);
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    return memmem(hay, n, needle, m) != NULL;
}

static size_t zone_off(uint8_t zone)
{
    return vouch_se_zone_map[zone].offset;
}

/* ======================= positive: the happy paths ========================= */

static void echo_random_query(void **state)
{
    fx *f = *state;
    uint8_t in[300], out[300], rnd[2000];
    size_t n = 0;
    vouch_se_info info;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    assert_int_equal(vouch_se_echo(&f->se, in, sizeof in, out, sizeof out, &n), VOUCH_OK);
    assert_int_equal(n, sizeof in);
    assert_memory_equal(in, out, n);

    f->b.sends = 0;
    memset(rnd, 0, sizeof rnd);
    assert_int_equal(vouch_se_random(&f->se, rnd, sizeof rnd), VOUCH_OK);
    assert_int_equal(f->b.sends, 2); /* 1024 per frame */
    assert_false(all_bytes(rnd + 1024, 976, 0));

    assert_int_equal(vouch_se_query(&f->se, &info), VOUCH_OK);
    assert_memory_equal(info.serial, f->core.live.serial, VOUCH_SE_SERIAL_LEN);
    assert_string_equal(info.product, VOUCH_SE_PRODUCT);
    assert_int_equal(info.fw_major, VOUCH_SE_FW_MAJOR);
    assert_int_equal(info.lifecycle, VOUCH_SE_LC_PERSONALIZATION);
    assert_int_equal(info.power, VOUCH_SE_POWER_AWAKE);
    assert_int_equal(info.n_keys, VOUCH_SE_SLOTS);
    assert_int_equal(info.keys[0].flags, VOUCH_SE_KEY_FACTORY);
    assert_int_equal(info.n_zones, VOUCH_SE_ZONES);
    assert_int_equal(info.zones[0].size, 2048);
    assert_int_equal(info.zones[5].type, VOUCH_SE_ZONE_COUNTER);
    assert_int_equal(info.zones[5].counter, 0xFFFFFFFFu);
    assert_int_equal(info.host_keys_set, 0);
}

static void read_update_split(void **state)
{
    fx *f = *state;
    static uint8_t data[2048], back[2048];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    f->b.sends = 0;
    assert_int_equal(vouch_se_update(&f->se, 0, 0, data, sizeof data, VOUCH_PLAIN), VOUCH_OK);
    assert_int_equal(f->b.sends, 3); /* 1021 + 1021 + 6 */
    assert_memory_equal(f->core.live.zone_data + zone_off(0), data, sizeof data);
    assert_int_equal(vouch_se_read(&f->se, 0, 0, back, sizeof back, VOUCH_PLAIN), VOUCH_OK);
    assert_memory_equal(back, data, sizeof data);
    /* an unaligned window across a frame boundary */
    assert_int_equal(vouch_se_read(&f->se, 0, 1000, back, 1030, VOUCH_PLAIN), VOUCH_OK);
    assert_memory_equal(back, data + 1000, 1030);
}

static void keys_sign_verify(void **state)
{
    fx *f = *state;
    uint8_t pub[65], pub2[65], sig[64], digest[32], alg = 0;
    size_t n = 0, n2 = 0;
    int valid = -1;
    const uint8_t msg[] = "firmware v1.2.3";
    memset(digest, 0x42, sizeof digest);

    assert_int_equal(vouch_se_keygen(&f->se, 1, VOUCH_SE_ALG_P256, pub, sizeof pub, &n, 0),
                     VOUCH_OK);
    assert_int_equal(n, 65);
    assert_int_equal(vouch_se_pubkey(&f->se, 1, &alg, pub2, sizeof pub2, &n2), VOUCH_OK);
    assert_int_equal(alg, VOUCH_SE_ALG_P256);
    assert_memory_equal(pub, pub2, 65);
    assert_int_equal(vouch_se_sign(&f->se, 1, digest, 32, sig, 0), VOUCH_OK);
    assert_int_equal(vouch_se_verify(&f->se, VOUCH_SE_ALG_P256, pub, 65, digest, 32, sig, &valid),
                     VOUCH_OK);
    assert_int_equal(valid, 1);

    assert_int_equal(vouch_se_keygen(&f->se, 2, VOUCH_SE_ALG_ED25519, pub, sizeof pub, &n, 0),
                     VOUCH_OK);
    assert_int_equal(n, 32);
    assert_int_equal(vouch_se_sign(&f->se, 2, msg, sizeof msg, sig, 0), VOUCH_OK);
    /* key from a zone: alg(1) | key */
    {
        uint8_t z[33];
        z[0] = VOUCH_SE_ALG_ED25519;
        memcpy(z + 1, pub, 32);
        assert_int_equal(vouch_se_update(&f->se, 2, 0, z, sizeof z, 0), VOUCH_OK);
    }
    valid = -1;
    assert_int_equal(vouch_se_verify_zone(&f->se, 2, msg, sizeof msg, sig, &valid), VOUCH_OK);
    assert_int_equal(valid, 1);
}

static void secure_channel_cmac_accepted(void **state)
{
    fx *f = *state;
    uint8_t in[4] = {1, 2, 3, 4}, out[4];
    size_t n = 0;
    keys_on(f);
    assert_int_equal(f->core.live.host_keys_set, 1);
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, in, 4, out, 4, &n),
                     VOUCH_OK);
    assert_memory_equal(in, out, 4);
    /* first secure call learned last = 0 and used 1 */
    assert_int_equal(f->core.live.host_counter, 1);
    assert_int_equal(f->b.last_cmd[0], VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC);
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, in, 4, out, 4, &n),
                     VOUCH_OK);
    assert_int_equal(f->core.live.host_counter, 2);
    assert_int_equal(f->se.counter, 2);
}

/* READ/UPDATE on HOST zones: plaintext in the chip, never on the wire. */
static void secure_zone_roundtrip(void **state)
{
    fx *f = *state;
    uint8_t secret[200], back[200];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)(0xC0 ^ i);
    keys_on(f);
    assert_int_equal(vouch_se_zone_ac(&f->se, 3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST, VOUCH_SECURE),
                     VOUCH_OK);
    assert_int_equal(vouch_se_update(&f->se, 3, 10, secret, sizeof secret, VOUCH_SECURE),
                     VOUCH_OK);
    assert_false(contains(f->b.last_cmd, f->b.last_cmd_len, secret, 16));
    assert_memory_equal(f->core.live.zone_data + zone_off(3) + 10, secret, sizeof secret);

    f->b.save_next = 1;
    assert_int_equal(vouch_se_read(&f->se, 3, 10, back, sizeof back, VOUCH_SECURE), VOUCH_OK);
    assert_memory_equal(back, secret, sizeof secret);
    assert_false(contains(f->b.saved, f->b.saved_len, secret, 16));
    assert_true(f->b.saved[0] & VOUCH_SE_STATUS_RMAC);
    /* the client's frame buffers keep nothing after the call */
    assert_true(all_bytes(f->se.rsp, sizeof f->se.rsp, 0));
    assert_true(all_bytes(f->se.cmd, sizeof f->se.cmd, 0));
}

static void secure_decrement_ecdh_wrap(void **state)
{
    fx *f = *state;
    const vouch_crypto_port *p = vouch_port_openssl();
    uint8_t d[8] = "usage:01", chip_pub[65], hpriv[32], hpub[32], want[32], got[32];
    uint8_t plain[40], wrapped[64], back[64];
    size_t n = 0, wn = 0, bn = 0;
    uint32_t v = 0;
    keys_on(f);
    assert_int_equal(vouch_se_decrement(&f->se, 7, 5, d, sizeof d, VOUCH_SECURE, &v), VOUCH_OK);
    assert_int_equal(v, 0xFFFFFFFAu);
    assert_memory_equal(f->core.live.zone_data + zone_off(7), d, sizeof d);
    assert_false(contains(f->b.last_cmd, f->b.last_cmd_len, d, sizeof d));

    assert_int_equal(vouch_se_keygen(&f->se, 1, VOUCH_SE_ALG_X25519, chip_pub, sizeof chip_pub,
                                     &n, VOUCH_SECURE),
                     VOUCH_OK);
    assert_int_equal(p->x25519_keygen(NULL, hpriv, hpub), 0);
    assert_int_equal(p->x25519(NULL, hpriv, chip_pub, want), 0);
    f->b.save_next = 1;
    assert_int_equal(vouch_se_ecdh(&f->se, 1, hpub, 32, got, VOUCH_SECURE), VOUCH_OK);
    assert_memory_equal(got, want, 32);
    assert_false(contains(f->b.saved, f->b.saved_len, want, 16));

    memset(plain, 0x5C, sizeof plain);
    assert_int_equal(vouch_se_wrap(&f->se, 0, plain, sizeof plain, wrapped, sizeof wrapped, &wn,
                                   VOUCH_SECURE),
                     VOUCH_OK);
    assert_int_equal(wn, 48);
    assert_false(contains(f->b.last_cmd, f->b.last_cmd_len, plain, 16));
    assert_int_equal(vouch_se_unwrap(&f->se, 0, wrapped, wn, back, sizeof back, &bn, VOUCH_SECURE),
                     VOUCH_OK);
    assert_int_equal(bn, sizeof plain);
    assert_memory_equal(back, plain, sizeof plain);
}

static void host_keys_rotation(void **state)
{
    fx *f = *state;
    uint8_t m2[16], e2[16], x[1] = {9}, y[1];
    size_t n = 0;
    memset(m2, 0x77, 16);
    memset(e2, 0x88, 16);
    keys_on(f);
    assert_int_equal(vouch_se_put_host_keys(&f->se, m2, e2, VOUCH_SECURE), VOUCH_OK);
    /* sent encrypted under the old Kenc */
    assert_false(contains(f->b.last_cmd, f->b.last_cmd_len, m2, 16));
    assert_memory_equal(f->core.live.host_mac_key, m2, 16);
    assert_memory_equal(f->core.live.host_enc_key, e2, 16);
    assert_memory_equal(f->se.mac_key, m2, 16);
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, x, 1, y, 1, &n),
                     VOUCH_OK);
    assert_int_equal(f->core.live.host_counter, 2); /* the counter carried on */
}

/* Another context moved the counter on: E_REPLAY, one resync, success. */
static void replay_resync(void **state)
{
    fx *f = *state;
    vouch_se other;
    vouch_se_config cfg = {.transport = &vouch_transport_inproc, .transport_ctx = &f->inproc};
    uint8_t x[1] = {1}, y[1];
    size_t n = 0;
    keys_on(f);
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, x, 1, y, 1, &n),
                     VOUCH_OK);
    assert_int_equal(vouch_se_init(&other, &cfg), VOUCH_OK);
    assert_int_equal(vouch_se_set_host_keys(&other, K_MAC, K_ENC), VOUCH_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            vouch_se_transact(&other, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, x, 1, y, 1, &n), VOUCH_OK);
    assert_int_equal(f->core.live.host_counter, 4);
    f->b.sends = 0;
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, x, 1, y, 1, &n),
                     VOUCH_OK);
    assert_int_equal(f->b.sends, 3); /* refused, QUERY HOST, accepted */
    assert_int_equal(f->core.live.host_counter, 5);
    other.cfg.transport = &bus_transport; /* close must not wipe the shared inproc */
    other.cfg.transport_ctx = &f->b;
    vouch_se_close(&other);
}

/* Damaged responses are reread, never re-executed. */
static void reread_not_rerun(void **state)
{
    fx *f = *state;
    uint32_t v = 0;
    f->b.corrupt_rsp = 2;
    assert_int_equal(vouch_se_decrement(&f->se, 5, 3, NULL, 0, 0, &v), VOUCH_OK);
    assert_int_equal(v, 0xFFFFFFFCu);
    assert_int_equal(f->core.live.zones[5].counter, 0xFFFFFFFCu); /* once, not three times */
    assert_int_equal(f->se.rereads, 2);
    assert_int_equal(f->b.rereads, 2);
    assert_int_equal(f->b.sends, 1);

    f->b.truncate_rsp = 1;
    f->b.truncate_by = 3;
    f->b.drop_rsp = 1;
    assert_int_equal(vouch_se_decrement(&f->se, 5, 1, NULL, 0, 0, &v), VOUCH_OK);
    assert_int_equal(f->core.live.zones[5].counter, 0xFFFFFFFBu);
    assert_int_equal(f->se.rereads, 4);
    assert_int_equal(f->b.sends, 2);
}

static void crc_and_busy_retries(void **state)
{
    fx *f = *state;
    uint8_t in[64], out[64];
    size_t n = 0;
    memset(in, 0x3C, sizeof in);
    f->b.corrupt_cmd = 2;
    assert_int_equal(vouch_se_echo(&f->se, in, sizeof in, out, sizeof out, &n), VOUCH_OK);
    assert_int_equal(f->se.retries_crc, 2);
    assert_int_equal(f->b.sends, 3);
    f->b.busy = 3;
    assert_int_equal(vouch_se_echo(&f->se, in, sizeof in, out, sizeof out, &n), VOUCH_OK);
    assert_int_equal(f->se.retries_busy, 3);
    assert_memory_equal(in, out, sizeof in);
    /* the same over the secure channel: the counter was not spent by the
     * refused frames, so the resent frame is accepted */
    keys_on(f);
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, in, 8, out, 8, &n),
                     VOUCH_OK);
    f->b.corrupt_cmd = 1;
    f->b.busy = 1;
    f->b.corrupt_rsp = 1;
    f->b.sends = 0;
    assert_int_equal(vouch_se_transact(&f->se, VOUCH_SE_CMD_ECHO, VOUCH_SECURE, in, 8, out, 8, &n),
                     VOUCH_OK);
    assert_int_equal(f->b.sends, 3);
    assert_int_equal(f->core.live.host_counter, 2);
}

/* ======================= negative: misuse ================================== */

static void init_refuses_bad_config(void **state)
{
    (void)state;
    vouch_se se;
    vouch_se_config cfg = {0};
    static const vouch_transport no_recv = {.name = "x", .send = bus_send};
    assert_int_equal(vouch_se_init(NULL, &cfg), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_init(&se, NULL), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_init(&se, &cfg), RC_API(VOUCH_E_ARG));
    cfg.transport = &no_recv;
    assert_int_equal(vouch_se_init(&se, &cfg), RC_API(VOUCH_E_ARG));
    cfg.transport = &bus_transport;
    cfg.lock = test_lock; /* without unlock */
    assert_int_equal(vouch_se_init(&se, &cfg), RC_API(VOUCH_E_ARG));
    assert_int_equal(se.open, 0);
}

static void closed_context_refused(void **state)
{
    fx *f = *state;
    uint8_t out[8];
    size_t n = 99;
    vouch_se_close(&f->se);
    vouch_se_close(&f->se); /* twice is harmless */
    assert_int_equal(vouch_se_echo(&f->se, out, 1, out, sizeof out, &n), RC_API(VOUCH_E_STATE));
    assert_true(all_bytes(out, sizeof out, 0xA5));
    assert_int_equal(n, 0);
    assert_int_equal(vouch_se_reset(&f->se), RC_API(VOUCH_E_STATE));
    assert_int_equal(vouch_se_set_host_keys(&f->se, K_MAC, K_ENC), RC_API(VOUCH_E_STATE));
}

static void null_and_range_arguments(void **state)
{
    fx *f = *state;
    uint8_t buf[64], sig[64] = {0};
    size_t n = 0;
    uint32_t v = 0;
    int valid = 1;
    static uint8_t big[VOUCH_SE_MAX_PAYLOAD + 1];
    assert_int_equal(vouch_se_reset(NULL), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_transact(NULL, 0, 0, NULL, 0, buf, sizeof buf, &n),
                     RC_API(VOUCH_E_ARG));
    assert_true(all_bytes(buf, sizeof buf, 0xA5));
    assert_int_equal(vouch_se_transact(&f->se, 0, 2, NULL, 0, buf, sizeof buf, &n),
                     RC_API(VOUCH_E_ARG)); /* unknown flag */
    assert_int_equal(vouch_se_transact(&f->se, 0x20, 0, NULL, 0, buf, sizeof buf, &n),
                     RC_API(VOUCH_E_ARG)); /* not a command code */
    assert_int_equal(vouch_se_transact(&f->se, 0, 0, big, sizeof big, buf, sizeof buf, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_transact(&f->se, 0, 0, NULL, 4, buf, sizeof buf, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_read(&f->se, 0, 0, buf, 0, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_read(&f->se, 0, 0xFFF0, buf, 64, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_update(&f->se, 0, 0, NULL, 4, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_decrement(&f->se, 5, 1, buf, 33, 0, &v), RC_API(VOUCH_E_ARG));
    assert_int_equal(v, 0xA5A5A5A5u);
    assert_int_equal(vouch_se_random(&f->se, buf, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_sign(&f->se, 0, NULL, 32, sig, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_se_verify(&f->se, 1, NULL, 65, buf, 32, sig, &valid),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(valid, 0);
    assert_int_equal(vouch_se_query(&f->se, NULL), RC_API(VOUCH_E_ARG));
    assert_int_equal(f->b.sends, 0); /* none of these reached the bus */
}

static void small_buffers_poisoned(void **state)
{
    fx *f = *state;
    uint8_t in[32], out[16], pub[64];
    size_t n = 7;
    memset(in, 1, sizeof in);
    assert_int_equal(vouch_se_echo(&f->se, in, sizeof in, out, sizeof out, &n),
                     RC_API(VOUCH_E_BUFFER));
    assert_int_equal(n, 0);
    assert_true(all_bytes(out, sizeof out, 0xA5));
    /* KEYGEN refuses before the chip makes a key it could not return */
    assert_int_equal(vouch_se_keygen(&f->se, 1, VOUCH_SE_ALG_P256, pub, 64, &n, 0),
                     RC_API(VOUCH_E_BUFFER));
    assert_int_equal(f->core.live.slots[1].alg, VOUCH_SE_ALG_NONE);
    assert_true(all_bytes(pub, sizeof pub, 0xA5));
}

/* ======================= negative: the chip says no ======================== */

static void se_refusals_zones(void **state)
{
    fx *f = *state;
    uint8_t buf[64];
    uint32_t v = 0;
    assert_int_equal(vouch_se_read(&f->se, 4, 250, buf, 16, 0), RC_SE(VOUCH_SE_E_RANGE));
    assert_true(all_bytes(buf, 16, 0xA5));
    assert_int_equal(vouch_se_read(&f->se, 9, 0, buf, 4, 0), RC_SE(VOUCH_SE_E_ZONE));
    assert_int_equal(vouch_se_update(&f->se, 5, 0, buf, 4, 0), RC_SE(VOUCH_SE_E_ZONE));
    assert_int_equal(vouch_se_decrement(&f->se, 1, 1, NULL, 0, 0, &v), RC_SE(VOUCH_SE_E_ZONE));
    f->core.live.zones[6].counter = 2;
    assert_int_equal(vouch_se_decrement(&f->se, 6, 3, NULL, 0, 0, &v), RC_SE(VOUCH_SE_E_COUNTER));
    assert_int_equal(f->core.live.zones[6].counter, 2);
    assert_int_equal(vouch_se_zone_ac(&f->se, 4, VOUCH_SE_AC_NEVER, VOUCH_SE_AC_NEVER, 0),
                     VOUCH_OK);
    assert_int_equal(vouch_se_zone_ac(&f->se, 4, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_NEVER, 0),
                     RC_SE(VOUCH_SE_E_NOT_STRICTER));
    assert_int_equal(vouch_se_read(&f->se, 4, 0, buf, 4, 0), RC_SE(VOUCH_SE_E_ACCESS));
    assert_int_equal(vouch_se_update(&f->se, 4, 0, buf, 4, 0), RC_SE(VOUCH_SE_E_ACCESS));
}

static void se_refusals_host_zone_in_clear(void **state)
{
    fx *f = *state;
    uint8_t buf[8] = {0};
    keys_on(f);
    assert_int_equal(vouch_se_zone_ac(&f->se, 3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST, VOUCH_SECURE),
                     VOUCH_OK);
    assert_int_equal(vouch_se_read(&f->se, 3, 0, buf, sizeof buf, VOUCH_PLAIN),
                     RC_SE(VOUCH_SE_E_ACCESS));
    assert_int_equal(vouch_se_update(&f->se, 3, 0, buf, sizeof buf, VOUCH_PLAIN),
                     RC_SE(VOUCH_SE_E_ACCESS));
    /* once keys are set, these need the channel */
    assert_int_equal(vouch_se_zone_ac(&f->se, 2, 1, 1, VOUCH_PLAIN), RC_SE(VOUCH_SE_E_CHANNEL));
    assert_int_equal(vouch_se_lifecycle(&f->se, VOUCH_SE_LC_OPERATIONAL, VOUCH_PLAIN),
                     RC_SE(VOUCH_SE_E_CHANNEL));
    assert_int_equal(vouch_se_put_host_keys(&f->se, K_ENC, K_MAC, VOUCH_PLAIN),
                     RC_SE(VOUCH_SE_E_CHANNEL));
    assert_memory_equal(f->se.mac_key, K_MAC, 16); /* context keys unchanged on failure */
}

static void se_refusals_keys(void **state)
{
    fx *f = *state;
    uint8_t sig[64], digest[32] = {0}, peer[32] = {9}, secret[32], pub[65];
    size_t n = 0;
    int valid = 1;
    assert_int_equal(vouch_se_sign(&f->se, 2, digest, 32, sig, 0), RC_SE(VOUCH_SE_E_NO_KEY));
    assert_true(all_bytes(sig, sizeof sig, 0xA5));
    assert_int_equal(vouch_se_keygen(&f->se, 7, VOUCH_SE_ALG_P256, pub, sizeof pub, &n, 0),
                     RC_SE(VOUCH_SE_E_SLOT));
    assert_int_equal(vouch_se_keygen(&f->se, 1, 9, pub, sizeof pub, &n, 0),
                     RC_SE(VOUCH_SE_E_PARAM));
    assert_int_equal(vouch_se_keygen(&f->se, 1, VOUCH_SE_ALG_X25519, pub, sizeof pub, &n, 0),
                     VOUCH_OK);
    assert_int_equal(vouch_se_sign(&f->se, 1, digest, 32, sig, 0), RC_SE(VOUCH_SE_E_SLOT));
    /* a bad signature is a successful call saying "invalid" */
    assert_int_equal(vouch_se_keygen(&f->se, 2, VOUCH_SE_ALG_P256, pub, sizeof pub, &n, 0),
                     VOUCH_OK);
    memset(sig, 0x11, sizeof sig);
    assert_int_equal(vouch_se_verify(&f->se, VOUCH_SE_ALG_P256, pub, 65, digest, 32, sig, &valid),
                     VOUCH_OK);
    assert_int_equal(valid, 0);
    /* ECDH in clear once keys exist: the chip refuses to expose the secret */
    keys_on(f);
    assert_int_equal(vouch_se_ecdh(&f->se, 1, peer, 32, secret, VOUCH_PLAIN),
                     RC_SE(VOUCH_SE_E_CHANNEL));
    assert_true(all_bytes(secret, sizeof secret, 0xA5));
}

static void se_refusals_lifecycle_power(void **state)
{
    fx *f = *state;
    uint8_t x[1] = {0}, y[1];
    size_t n = 0;
    assert_int_equal(vouch_se_lifecycle(&f->se, VOUCH_SE_LC_OPERATIONAL, 0), VOUCH_OK);
    assert_int_equal(vouch_se_lifecycle(&f->se, VOUCH_SE_LC_PERSONALIZATION, 0),
                     RC_SE(VOUCH_SE_E_LIFECYCLE));
    assert_int_equal(vouch_se_put_host_keys(&f->se, K_MAC, K_ENC, 0),
                     RC_SE(VOUCH_SE_E_LIFECYCLE));
    assert_int_equal(f->se.have_keys, 0);
    assert_int_equal(vouch_se_hibernate(&f->se), VOUCH_OK);
    assert_int_equal(vouch_se_echo(&f->se, x, 1, y, 1, &n), RC_SE(VOUCH_SE_E_ASLEEP));
    assert_int_equal(vouch_se_wake(&f->se), VOUCH_OK);
    assert_int_equal(vouch_se_echo(&f->se, x, 1, y, 1, &n), VOUCH_OK);
}

static void se_refuses_unknown_command(void **state)
{
    fx *f = *state;
    uint8_t out[4];
    size_t n = 0;
    assert_int_equal(vouch_se_transact(&f->se, 0x1F, 0, NULL, 0, out, sizeof out, &n),
                     RC_SE(VOUCH_SE_E_UNKNOWN_CMD));
}

static void unwrap_tampered(void **state)
{
    fx *f = *state;
    uint8_t plain[24], wrapped[40], back[40];
    size_t wn = 0, bn = 5;
    memset(plain, 0x33, sizeof plain);
    assert_int_equal(vouch_se_wrap(&f->se, 1, plain, sizeof plain, wrapped, sizeof wrapped, &wn, 0),
                     VOUCH_OK);
    wrapped[5] ^= 1;
    assert_int_equal(vouch_se_unwrap(&f->se, 1, wrapped, wn, back, sizeof back, &bn, 0),
                     RC_SE(VOUCH_SE_E_INTEGRITY));
    assert_int_equal(bn, 0);
    assert_true(all_bytes(back, sizeof back, 0xA5));
    /* the other envelope key does not open it either */
    wrapped[5] ^= 1;
    assert_int_equal(vouch_se_unwrap(&f->se, 0, wrapped, wn, back, sizeof back, &bn, 0),
                     RC_SE(VOUCH_SE_E_INTEGRITY));
}

static void storage_failure(void **state)
{
    fx *f = *state;
    uint8_t d[4] = {1, 2, 3, 4};
    keys_on(f);
    assert_int_equal(vouch_se_update(&f->se, 4, 0, d, 4, VOUCH_SECURE), VOUCH_OK); /* syncs */
    f->fail_commit = 1;
    assert_int_equal(vouch_se_update(&f->se, 3, 0, d, 4, VOUCH_PLAIN), RC_SE(VOUCH_SE_E_STORAGE));
    /* over the channel the refusal itself is authenticated */
    f->b.save_next = 1;
    assert_int_equal(vouch_se_update(&f->se, 3, 0, d, 4, VOUCH_SECURE), RC_SE(VOUCH_SE_E_STORAGE));
    assert_true(f->b.saved[0] & VOUCH_SE_STATUS_RMAC);
    assert_true(all_bytes(f->core.live.zone_data + zone_off(3), 4, 0));
}

/* ======================= negative: the secure channel ====================== */

static void secure_without_keys(void **state)
{
    fx *f = *state;
    uint8_t out[4];
    size_t n = 0;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, NULL, 0, out, sizeof out, &n),
                     RC_CHAN(VOUCH_E_NO_KEYS));
    assert_int_equal(f->b.sends, 0);
    /* keys in the context but not in the chip: the QUERY tells us */
    assert_int_equal(vouch_se_set_host_keys(&f->se, K_MAC, K_ENC), VOUCH_OK);
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, NULL, 0, out, sizeof out, &n),
                     RC_CHAN(VOUCH_E_NO_KEYS));
    assert_true(all_bytes(out, sizeof out, 0xA5));
}

static void wrong_key_refused(void **state)
{
    fx *f = *state;
    uint8_t bad[16], x[2] = {1, 2}, y[2];
    size_t n = 0;
    keys_on(f);
    memcpy(bad, K_MAC, 16);
    bad[0] ^= 1;
    assert_int_equal(vouch_se_set_host_keys(&f->se, bad, K_ENC), VOUCH_OK);
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 2, y, 2, &n),
                     RC_SE(VOUCH_SE_E_MAC));
    assert_int_equal(f->core.live.host_counter, 0); /* nothing changed in the chip */
    assert_true(all_bytes(y, 2, 0xA5));
}

/* The same frame twice: the chip refuses the second. */
static void replay_refused(void **state)
{
    fx *f = *state;
    uint8_t x[3] = {7, 8, 9}, y[3], frame[VOUCH_SE_CMD_FRAME_MAX], rsp[VOUCH_SE_RSP_FRAME_MAX];
    size_t n = 0, len, rlen;
    keys_on(f);
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 3, y, 3, &n), VOUCH_OK);
    len = f->b.last_cmd_len;
    memcpy(frame, f->b.last_cmd, len);
    rlen = vouch_se_core_process(&f->core, frame, len, rsp, sizeof rsp);
    assert_int_equal(rlen, 5);
    assert_int_equal(rsp[0], VOUCH_SE_E_REPLAY); /* no R-MAC on a refused C-MAC */
}

/* The chip keeps answering E_REPLAY: the client resyncs once, not forever. */
static void replay_resync_only_once(void **state)
{
    fx *f = *state;
    uint8_t x[1] = {1}, y[1];
    size_t n = 0;
    keys_on(f);
    f->b.sends = 0;
    f->b.inject_len = vouch_se_core_status_frame(VOUCH_SE_E_REPLAY, f->b.inject, 16);
    f->b.inject_n = 10;
    f->b.inject_secure_only = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 1, y, 1, &n),
                     RC_SE(VOUCH_SE_E_REPLAY));
    assert_int_equal(f->b.sends, 4); /* QUERY, refused, QUERY (resync), refused */
}

static void counter_exhausted(void **state)
{
    fx *f = *state;
    uint8_t x[1] = {1}, y[1];
    size_t n = 0;
    unsigned sends;
    keys_on(f);
    f->core.live.host_counter = 0xFFFFFFFEu;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 1, y, 1, &n), VOUCH_OK);
    assert_int_equal(f->core.live.host_counter, 0xFFFFFFFFu);
    sends = f->b.sends;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 1, y, 1, &n),
                     RC_CHAN(VOUCH_E_CTR_EXHAUSTED));
    assert_int_equal(f->b.sends, sends); /* not even tried */
}

static void rmac_detects_tampered_data(void **state)
{
    fx *f = *state;
    uint8_t x[16], y[16];
    size_t n = 0;
    memset(x, 0x61, sizeof x);
    keys_on(f);
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 16, y, 16, &n), VOUCH_OK);
    f->b.tamper_data = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 16, y, 16, &n),
                     RC_CHAN(VOUCH_E_RMAC));
    assert_true(all_bytes(y, sizeof y, 0xA5));
    assert_int_equal(n, 0);
}

static void rmac_detects_tampered_secret(void **state)
{
    fx *f = *state;
    uint8_t d[32], back[32];
    memset(d, 0x5A, sizeof d);
    keys_on(f);
    assert_int_equal(vouch_se_update(&f->se, 3, 0, d, sizeof d, VOUCH_SECURE), VOUCH_OK);
    f->b.tamper_data = 1;
    assert_int_equal(vouch_se_read(&f->se, 3, 0, back, sizeof back, VOUCH_SECURE),
                     RC_CHAN(VOUCH_E_RMAC));
    assert_true(all_bytes(back, sizeof back, 0xA5));
}

static void rmac_missing(void **state)
{
    fx *f = *state;
    uint8_t x[4] = {1}, y[4];
    size_t n = 0;
    keys_on(f);
    f->b.strip_rmac = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n),
                     RC_CHAN(VOUCH_E_RMAC));
}

/* An unauthenticated "OK" or command error in answer to a secure command. */
static void forged_plain_answers(void **state)
{
    fx *f = *state;
    uint8_t x[4] = {1}, y[4];
    size_t n = 0;
    keys_on(f);
    f->b.inject_len = make_frame(f->b.inject, VOUCH_SE_OK, x, 4);
    f->b.inject_n = 1;
    f->b.inject_secure_only = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n),
                     RC_CHAN(VOUCH_E_RMAC));
    f->b.inject_len = make_frame(f->b.inject, VOUCH_SE_E_ACCESS, NULL, 0);
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n),
                     RC_CHAN(VOUCH_E_RMAC));
}

/* An old, genuine response replayed for a new command: bound to its counter. */
static void rmac_binds_counter(void **state)
{
    fx *f = *state;
    uint8_t x[4] = {1, 2, 3, 4}, y[4];
    size_t n = 0;
    keys_on(f);
    /* the first secure call also does the plain QUERY; save the second */
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n), VOUCH_OK);
    f->b.save_next = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n), VOUCH_OK);
    memcpy(f->b.inject, f->b.saved, f->b.saved_len);
    f->b.inject_len = f->b.saved_len;
    assert_true(f->b.inject[0] & VOUCH_SE_STATUS_RMAC);
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n),
                     RC_CHAN(VOUCH_E_RMAC));
}

/* ======================= negative: a damaged bus =========================== */

static void corrupt_beyond_retries(void **state)
{
    fx *f = *state;
    uint8_t x[8] = {0}, y[8];
    size_t n = 0;
    f->b.corrupt_rsp = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_FRAME(VOUCH_E_FRAME_CRC));
    assert_int_equal(f->se.rereads, f->se.cfg.max_retries);
    assert_int_equal(f->b.sends, 1);
    assert_true(all_bytes(y, sizeof y, 0xA5));
}

static void truncated_beyond_retries(void **state)
{
    fx *f = *state;
    uint8_t x[8] = {0}, y[8];
    size_t n = 0;
    f->b.truncate_rsp = 100;
    f->b.truncate_by = 4;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_FRAME(VOUCH_E_FRAME_SHORT));
    f->b.truncate_rsp = 0;
    f->b.drop_rsp = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_FRAME(VOUCH_E_FRAME_SHORT));
    assert_int_equal(f->se.rereads, 2u * f->se.cfg.max_retries);
}

static void impossible_lengths(void **state)
{
    fx *f = *state;
    uint8_t x[8] = {0}, y[8];
    size_t n = 0;
    /* length field over 1024, CRC right */
    memset(f->b.inject, 0, sizeof f->b.inject);
    f->b.inject[1] = 0x05;
    f->b.inject_len = 64;
    fix_crc(f->b.inject, f->b.inject_len);
    f->b.inject_n = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_FRAME(VOUCH_E_FRAME_LEN));
    /* trailing bytes after the CRC position */
    f->b.inject_len = make_frame(f->b.inject, 0, x, 2) + 3;
    fix_crc(f->b.inject, f->b.inject_len);
    f->b.inject_n = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 2, y, 8, &n), RC_FRAME(VOUCH_E_FRAME_LEN));
    f->b.inject_n = 0;
}

static void persistent_crc_and_busy(void **state)
{
    fx *f = *state;
    uint8_t x[8] = {0}, y[8];
    size_t n = 0;
    f->b.corrupt_cmd = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_SE(VOUCH_SE_E_CRC));
    assert_int_equal(f->se.retries_crc, f->se.cfg.max_retries);
    f->b.corrupt_cmd = 0;
    f->b.busy = 100;
    assert_int_equal(vouch_se_echo(&f->se, x, 8, y, 8, &n), RC_SE(VOUCH_SE_E_BUSY));
    assert_int_equal(f->se.retries_busy, f->se.cfg.max_retries);
    assert_true(all_bytes(y, sizeof y, 0xA5));
}

static void unrequested_rmac(void **state)
{
    fx *f = *state;
    uint8_t x[2] = {0}, y[8];
    size_t n = 0;
    /* a plain command answered with an R-MAC flag and 8 bytes of "MAC" */
    f->b.inject[0] = VOUCH_SE_STATUS_RMAC;
    f->b.inject[1] = 0;
    f->b.inject[2] = 0;
    memset(f->b.inject + 3, 0xEE, 8);
    f->b.inject_len = 13;
    fix_crc(f->b.inject, 13);
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_echo(&f->se, x, 0, y, 8, &n), RC_CHAN(VOUCH_E_RMAC));
}

static void malformed_typed_answers(void **state)
{
    fx *f = *state;
    uint8_t one[1] = {2}, sig[64] = {0}, pub[65] = {4}, eight[8] = {0}, digest[32] = {0};
    int valid = 1;
    vouch_se_info info;
    uint32_t v = 1;
    /* VERIFY answering 2 is neither valid nor invalid */
    f->b.inject_len = make_frame(f->b.inject, 0, one, 1);
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_verify(&f->se, VOUCH_SE_ALG_P256, pub, 65, digest, 32, sig, &valid),
                     RC_FRAME(VOUCH_E_FRAME_LEN));
    assert_int_equal(valid, 0);
    /* a serial of 8 bytes */
    f->b.inject_len = make_frame(f->b.inject, 0, eight, 8);
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_query(&f->se, &info), RC_FRAME(VOUCH_E_FRAME_LEN));
    assert_true(all_bytes((uint8_t *)&info, sizeof info, 0xA5));
    /* DECREMENT answering 8 bytes instead of 4 */
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_decrement(&f->se, 5, 0, NULL, 0, 0, &v), RC_FRAME(VOUCH_E_FRAME_LEN));
    /* RESET answering data */
    f->b.inject_n = 1;
    assert_int_equal(vouch_se_reset(&f->se), RC_FRAME(VOUCH_E_FRAME_LEN));
}

static void inproc_without_command(void **state)
{
    (void)state;
    vouch_inproc_transport t;
    uint8_t buf[8];
    size_t n = 9;
    assert_int_equal(vouch_transport_inproc_open(&t, NULL), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_inproc_open(NULL, NULL), RC_API(VOUCH_E_ARG));
    t.core = (struct vouch_se_core *)buf; /* never used: nothing was sent */
    t.have_rsp = 0;
    assert_int_equal(vouch_transport_inproc.recv(&t, buf, sizeof buf, &n, 10),
                     RC_BUS(VOUCH_E_TIMEOUT));
    assert_int_equal(n, 0);
}

/* ======================= locks and wiping ================================== */

static void locks_held_for_every_call(void **state)
{
    fx *f = *state;
    uint8_t x[4] = {0}, y[4], big[3000];
    size_t n = 0;
    keys_on(f);
    assert_int_equal(vouch_se_transact(&f->se, 0, VOUCH_SECURE, x, 4, y, 4, &n), VOUCH_OK);
    memset(big, 1, sizeof big);
    f->b.corrupt_rsp = 1;
    assert_int_equal(vouch_se_update(&f->se, 0, 0, big, 2048, 0), VOUCH_OK);
    assert_int_equal(vouch_se_read(&f->se, 0, 0, big, 2048, 0), VOUCH_OK);
    assert_int_equal(f->locked, 0);
    assert_int_equal(f->b.unlocked_use, 0);
    assert_int_equal(f->locks, 4); /* put_host_keys, transact, update, read: once each */
    assert_int_equal(f->locks, f->unlocks);
}

static void close_wipes_keys(void **state)
{
    fx *f = *state;
    keys_on(f);
    assert_false(all_bytes(f->se.mac_key, 16, 0));
    vouch_se_close(&f->se);
    assert_true(all_bytes(f->se.mac_key, 16, 0));
    assert_true(all_bytes(f->se.enc_key, 16, 0));
    assert_int_equal(f->se.have_keys, 0);
}

/* ======================= strings =========================================== */

static void strerror_every_layer(void **state)
{
    (void)state;
    char word[32];
    assert_string_equal(vouch_strerror(VOUCH_OK), "success");
    assert_string_equal(vouch_strerror(RC_SE(VOUCH_SE_E_ACCESS)),
                        "SE refused: access condition (E_ACCESS)");
    for (unsigned s = 1; s < VOUCH_SE_STATUS_COUNT_; s++) {
        const char *m = vouch_strerror(RC_SE(s));
        snprintf(word, sizeof word, "(%s)", vouch_se_status_name((uint8_t)s));
        assert_non_null(strstr(m, word));
        assert_non_null(strstr(m, "SE"));
    }
    for (unsigned c = VOUCH_E_ARG; c <= VOUCH_E_UNSUPPORTED; c++)
        assert_null(strstr(vouch_strerror(RC_API(c)), "unknown"));
    for (unsigned c = VOUCH_E_CONNECT; c <= VOUCH_E_CLOSED; c++)
        assert_non_null(strstr(vouch_strerror(RC_BUS(c)), "bus: "));
    for (unsigned c = VOUCH_E_FRAME_CRC; c <= VOUCH_E_FRAME_LEN; c++)
        assert_non_null(strstr(vouch_strerror(RC_FRAME(c)), "(E_FRAME_"));
    for (unsigned c = VOUCH_E_RMAC; c <= VOUCH_E_CTR_EXHAUSTED; c++)
        assert_non_null(strstr(vouch_strerror(RC_CHAN(c)), "secure channel: "));
    assert_non_null(strstr(vouch_strerror(VOUCH_RC(VOUCH_LAYER_PORT, 1)), "crypto port"));
    /* unknowns still get words, never NULL */
    assert_non_null(strstr(vouch_strerror(RC_SE(0x7F)), "unknown"));
    assert_non_null(strstr(vouch_strerror(RC_API(99)), "unknown"));
    assert_non_null(strstr(vouch_strerror(RC_BUS(0)), "unknown"));
    assert_non_null(strstr(vouch_strerror(RC_CHAN(0xFFFF)), "unknown"));
    assert_non_null(strstr(vouch_strerror(VOUCH_RC(0x77, 1)), "unknown"));
    assert_non_null(strstr(vouch_strerror(VOUCH_RC(0, 1)), "unknown"));
}

static void names(void **state)
{
    (void)state;
    for (unsigned c = 0; c < VOUCH_SE_CMD_COUNT_; c++)
        assert_string_not_equal(vouch_se_cmd_name((uint8_t)c), "unknown");
    assert_string_equal(vouch_se_cmd_name(VOUCH_SE_CMD_READ | 0xC0), "READ");
    assert_string_equal(vouch_se_cmd_name(VOUCH_SE_CMD_COUNT_), "unknown");
    assert_string_equal(vouch_se_cmd_name(0x20), "unknown");
    assert_string_equal(vouch_se_status_name(0x87), "E_ACCESS");
    assert_string_equal(vouch_se_status_name(0x7F), "unknown");
    assert_string_equal(vouch_se_lifecycle_name(2), "OPERATIONAL");
    assert_string_equal(vouch_se_lifecycle_name(0), "unknown");
    assert_string_equal(vouch_se_alg_name(VOUCH_SE_ALG_ED25519), "Ed25519");
    assert_string_equal(vouch_se_alg_name(4), "unknown");
    assert_string_equal(vouch_se_ac_name(VOUCH_SE_AC_HOST), "HOST");
    assert_string_equal(vouch_se_ac_name(3), "unknown");
}

/* ======================= unix socket transport ============================= */

typedef struct srv {
    char dir[64];
    char path[108];
    int lfd;
    pthread_t th;
    vouch_se_core *core;
    int corrupt_n; /* corrupt this many answers to command records */
    int silent;    /* read commands, answer nothing */
    int close_now; /* close as soon as the client connects */
    unsigned rereads, frames;
} srv;

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_record(int fd, const uint8_t *p, size_t n)
{
    uint8_t rec[2 + VOUCH_SE_RSP_FRAME_MAX];
    rec[0] = (uint8_t)(n >> 8);
    rec[1] = (uint8_t)n;
    memcpy(rec + 2, p, n);
    return write(fd, rec, n + 2) == (ssize_t)(n + 2) ? 0 : -1;
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    uint8_t hdr[2], cmd[VOUCH_SE_CMD_FRAME_MAX], last[VOUCH_SE_RSP_FRAME_MAX],
        out[VOUCH_SE_RSP_FRAME_MAX];
    size_t last_len = 0;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (s->close_now) {
        close(fd);
        return NULL;
    }
    while (read_exact(fd, hdr, 2) == 0) {
        size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
        if (n == 0) {
            s->rereads++;
            if (write_record(fd, last, last_len) != 0)
                break;
            continue;
        }
        if (n > sizeof cmd || read_exact(fd, cmd, n) != 0)
            break;
        s->frames++;
        last_len = vouch_se_core_process(s->core, cmd, n, last, sizeof last);
        if (s->silent)
            continue;
        memcpy(out, last, last_len);
        if (s->corrupt_n > 0) {
            s->corrupt_n--;
            out[last_len / 2] ^= 0x04;
        }
        if (write_record(fd, out, last_len) != 0)
            break;
    }
    close(fd);
    return NULL;
}

static void srv_start(srv *s, vouch_se_core *core)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memset(s, 0, sizeof *s);
    s->core = core;
    strcpy(s->dir, "/tmp/vouch-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof s->path, "%s/se.sock", s->dir);
    strcpy(sa.sun_path, s->path);
    s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->lfd, 1), 0);
}

static void srv_run(srv *s)
{
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
    unlink(s->path);
    rmdir(s->dir);
}

static void unix_roundtrip_and_reread(void **state)
{
    fx *f = *state;
    srv s;
    vouch_unix_transport t;
    vouch_se se;
    vouch_se_config cfg = {.transport = &vouch_transport_unix, .transport_ctx = &t};
    uint8_t x[100], y[100];
    size_t n = 0;
    uint32_t v = 0;
    memset(x, 0x4D, sizeof x);
    srv_start(&s, &f->core);
    s.corrupt_n = 2;
    srv_run(&s);
    assert_int_equal(vouch_transport_unix_open(&t, s.path), VOUCH_OK);
    assert_int_equal(vouch_se_init(&se, &cfg), VOUCH_OK);
    assert_int_equal(vouch_se_decrement(&se, 6, 2, NULL, 0, 0, &v), VOUCH_OK);
    assert_int_equal(v, 0xFFFFFFFDu);
    assert_int_equal(se.rereads, 1);
    assert_int_equal(s.frames, 1); /* executed once */
    assert_int_equal(f->core.live.zones[6].counter, 0xFFFFFFFDu);
    assert_int_equal(vouch_se_echo(&se, x, sizeof x, y, sizeof y, &n), VOUCH_OK);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(se.rereads, 2);
    assert_int_equal(s.rereads, 2);
    vouch_se_close(&se);
    assert_int_equal(t.fd, -1);
    srv_stop(&s);
}

static void unix_timeout_drops_connection(void **state)
{
    fx *f = *state;
    srv s;
    vouch_unix_transport t;
    vouch_se se;
    vouch_se_config cfg = {.transport = &vouch_transport_unix, .transport_ctx = &t,
                           .timeout_ms = 100};
    uint8_t x[4] = {0}, y[4];
    size_t n = 0;
    srv_start(&s, &f->core);
    s.silent = 1;
    srv_run(&s);
    assert_int_equal(vouch_transport_unix_open(&t, s.path), VOUCH_OK);
    assert_int_equal(vouch_se_init(&se, &cfg), VOUCH_OK);
    assert_int_equal(vouch_se_echo(&se, x, 4, y, 4, &n), RC_BUS(VOUCH_E_TIMEOUT));
    /* a late answer must not be mistaken for the next one: connection gone */
    assert_int_equal(t.fd, -1);
    assert_true(all_bytes(y, 4, 0xA5));
    vouch_se_close(&se);
    srv_stop(&s);
}

static void unix_peer_closed(void **state)
{
    fx *f = *state;
    srv s;
    vouch_unix_transport t;
    vouch_se se;
    vouch_se_config cfg = {.transport = &vouch_transport_unix, .transport_ctx = &t};
    uint8_t x[4] = {0}, y[4];
    size_t n = 0;
    vouch_rc rc;
    srv_start(&s, &f->core);
    s.close_now = 1;
    srv_run(&s);
    assert_int_equal(vouch_transport_unix_open(&t, s.path), VOUCH_OK);
    assert_int_equal(vouch_se_init(&se, &cfg), VOUCH_OK);
    pthread_join(s.th, NULL);
    rc = vouch_se_echo(&se, x, 4, y, 4, &n);
    assert_int_equal(VOUCH_RC_LAYER(rc), VOUCH_LAYER_BUS);
    assert_true(VOUCH_RC_CODE(rc) == VOUCH_E_CLOSED || VOUCH_RC_CODE(rc) == VOUCH_E_WRITE);
    vouch_se_close(&se);
    close(s.lfd);
    unlink(s.path);
    rmdir(s.dir);
}

static void unix_bad_arguments(void **state)
{
    (void)state;
    vouch_unix_transport t;
    char longpath[200];
    uint8_t f1[1] = {0};
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(vouch_transport_unix_open(NULL, "/x"), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_unix_open(&t, NULL), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_unix_open(&t, ""), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_unix_open(&t, longpath), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_unix_open(&t, "/nonexistent/vouch.sock"),
                     RC_BUS(VOUCH_E_CONNECT));
    assert_int_equal(t.fd, -1);
    assert_int_equal(vouch_transport_unix.send(&t, f1, 0), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_unix.send(&t, f1, VOUCH_SE_CMD_FRAME_MAX + 1),
                     RC_API(VOUCH_E_ARG));
}

static void uri_parsing(void **state)
{
    fx *f = *state;
    vouch_transport_any any;
    const vouch_transport *tr = NULL;
    void *ctx = NULL;
    char uri[160];
    srv s;
    assert_int_equal(vouch_transport_open_uri(NULL, &any, &tr, &ctx), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("unix:/x", NULL, &tr, &ctx), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("tcp:1.2.3.4", &any, &tr, &ctx),
                     RC_API(VOUCH_E_UNSUPPORTED));
    assert_int_equal(vouch_transport_open_uri("", &any, &tr, &ctx), RC_API(VOUCH_E_UNSUPPORTED));
    assert_int_equal(vouch_transport_open_uri("unix:", &any, &tr, &ctx), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:@0x20", &any, &tr, &ctx), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1@0x80", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1@zz", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1@0x20x", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1@-1", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/dev/i2c-1@", &any, &tr, &ctx),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_transport_open_uri("i2c:/nonexistent/i2c-9@0x20", &any, &tr, &ctx),
                     RC_BUS(VOUCH_E_CONNECT));
    assert_int_equal(vouch_transport_i2c_open(&any.i2c, "/dev/null", 0x80), RC_API(VOUCH_E_ARG));
    /* not an i2c adapter: I2C_SLAVE fails */
    assert_int_equal(vouch_transport_i2c_open(&any.i2c, "/dev/null", 0x20),
                     RC_BUS(VOUCH_E_CONNECT));
    assert_int_equal(any.i2c.fd, -1);
    assert_null(tr);
    assert_null(ctx);

    srv_start(&s, &f->core);
    srv_run(&s);
    snprintf(uri, sizeof uri, "unix:%s", s.path);
    assert_int_equal(vouch_transport_open_uri(uri, &any, &tr, &ctx), VOUCH_OK);
    assert_ptr_equal(tr, &vouch_transport_unix);
    assert_ptr_equal(ctx, &any.unix_);
    tr->close(ctx);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        /* positive */
        T(echo_random_query),
        T(read_update_split),
        T(keys_sign_verify),
        T(secure_channel_cmac_accepted),
        T(secure_zone_roundtrip),
        T(secure_decrement_ecdh_wrap),
        T(host_keys_rotation),
        T(replay_resync),
        T(reread_not_rerun),
        T(crc_and_busy_retries),
        T(unix_roundtrip_and_reread),
        /* negative */
        T(init_refuses_bad_config),
        T(closed_context_refused),
        T(null_and_range_arguments),
        T(small_buffers_poisoned),
        T(se_refusals_zones),
        T(se_refusals_host_zone_in_clear),
        T(se_refusals_keys),
        T(se_refusals_lifecycle_power),
        T(se_refuses_unknown_command),
        T(unwrap_tampered),
        T(storage_failure),
        T(secure_without_keys),
        T(wrong_key_refused),
        T(replay_refused),
        T(replay_resync_only_once),
        T(counter_exhausted),
        T(rmac_detects_tampered_data),
        T(rmac_detects_tampered_secret),
        T(rmac_missing),
        T(forged_plain_answers),
        T(rmac_binds_counter),
        T(corrupt_beyond_retries),
        T(truncated_beyond_retries),
        T(impossible_lengths),
        T(persistent_crc_and_busy),
        T(unrequested_rmac),
        T(malformed_typed_answers),
        T(inproc_without_command),
        T(unix_timeout_drops_connection),
        T(unix_peer_closed),
        T(unix_bad_arguments),
        T(uri_parsing),
        /* housekeeping */
        T(locks_held_for_every_call),
        T(close_wipes_keys),
        T(strerror_every_layer),
        T(names),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
