/*
 * Unit tests of the SE core, driven frame by frame in-process: frame checks,
 * the state format (pinned), commit atomicity, the secure channel's counter
 * rules, lifecycle, and that no response ever carries private key bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "se/core.h"

/* SHA-256 of the serialized fill_state() below: pins the on-disk format. */
#define PINNED_STATE_SHA256 "cc0ba9e98f8d6d581a46fdfdc7207641217db8823727dcb2f3f2061353e36c52"

static const vouch_crypto_port *P;

/* commit callback: counts commits and can be told to fail */
typedef struct {
    int fail;
    int commits;
    uint8_t last[VOUCH_SE_STATE_MAX];
    size_t last_len;
} store;

static int commit_cb(void *ctx, const uint8_t *blob, size_t len)
{
    store *s = ctx;
    if (s->fail)
        return -1;
    memcpy(s->last, blob, len);
    s->last_len = len;
    s->commits++;
    return 0;
}

typedef struct {
    vouch_se_core core;
    store st;
    uint8_t rsp[VOUCH_SE_RSP_FRAME_MAX];
    size_t rsp_len;
    uint8_t mac_key[16], enc_key[16];
    uint32_t ctr;
} fx;

static int setup(void **state)
{
    static fx f;
    memset(&f, 0, sizeof f);
    assert_int_equal(vouch_se_core_create(&f.core, P, commit_cb, &f.st), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vouch_se_core_wipe(&f->core);
    return 0;
}

static uint8_t st_of(const fx *f)
{
    return f->rsp[0] & VOUCH_SE_STATUS_MASK;
}

static size_t data_len(const fx *f)
{
    return ((size_t)f->rsp[1] << 8) | f->rsp[2];
}

static const uint8_t *data_of(const fx *f)
{
    return f->rsp + 3;
}

static void raw(fx *f, const uint8_t *frame, size_t len)
{
    f->rsp_len = vouch_se_core_process(&f->core, frame, len, f->rsp, sizeof f->rsp);
    assert_true(f->rsp_len >= 5);
    assert_int_equal(vouch_crc16_x25(f->rsp, f->rsp_len - 2),
                     (f->rsp[f->rsp_len - 2] << 8) | f->rsp[f->rsp_len - 1]);
}

static size_t frame(uint8_t *out, uint8_t hdr, const uint8_t *payload, size_t plen)
{
    out[0] = hdr;
    if (plen)
        memcpy(out + 1, payload, plen);
    uint16_t crc = vouch_crc16_x25(out, 1 + plen);
    out[1 + plen] = (uint8_t)(crc >> 8);
    out[2 + plen] = (uint8_t)crc;
    return 3 + plen;
}

static uint8_t cmd(fx *f, uint8_t code, const uint8_t *payload, size_t plen)
{
    uint8_t buf[VOUCH_SE_CMD_FRAME_MAX];
    raw(f, buf, frame(buf, code, payload, plen));
    return st_of(f);
}

/* A command over the secure channel with an explicit counter. The payload is
 * sent as given (callers encrypt secret fields themselves when needed). */
static uint8_t mcmd(fx *f, uint8_t code, const uint8_t *payload, size_t plen, uint32_t ctr,
                    const uint8_t *key)
{
    uint8_t buf[VOUCH_SE_CMD_FRAME_MAX], macin[2048], tag[16];
    uint8_t hdr = (uint8_t)(code | VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC);
    size_t n = 0;
    macin[n++] = 0x00;
    macin[n++] = (uint8_t)(ctr >> 24);
    macin[n++] = (uint8_t)(ctr >> 16);
    macin[n++] = (uint8_t)(ctr >> 8);
    macin[n++] = (uint8_t)ctr;
    macin[n++] = hdr;
    macin[n++] = (uint8_t)(plen >> 8);
    macin[n++] = (uint8_t)plen;
    if (plen)
        memcpy(macin + n, payload, plen);
    n += plen;
    assert_int_equal(P->aes_cmac(NULL, key, macin, n, tag), 0);
    buf[0] = hdr;
    if (plen)
        memcpy(buf + 1, payload, plen);
    buf[1 + plen] = (uint8_t)(ctr >> 24);
    buf[2 + plen] = (uint8_t)(ctr >> 16);
    buf[3 + plen] = (uint8_t)(ctr >> 8);
    buf[4 + plen] = (uint8_t)ctr;
    memcpy(buf + 5 + plen, tag, 8);
    uint16_t crc = vouch_crc16_x25(buf, 13 + plen);
    buf[13 + plen] = (uint8_t)(crc >> 8);
    buf[14 + plen] = (uint8_t)crc;
    raw(f, buf, 15 + plen);
    return st_of(f);
}

static void set_host_keys(fx *f)
{
    uint8_t k[32];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)(0x10 + i);
    memcpy(f->mac_key, k, 16);
    memcpy(f->enc_key, k + 16, 16);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HOST_KEYS, k, 32), VOUCH_SE_OK);
}

/* ---- CRC ---------------------------------------------------------------- */
static void test_crc_check_value(void **state)
{
    (void)state;
    assert_int_equal(vouch_crc16_x25((const uint8_t *)"123456789", 9), 0x906E);
    assert_int_equal(vouch_crc16_x25(NULL, 0), 0x0000);
}

/* ---- frame checks (1.4) ----------------------------------------------------- */
static void test_short_frames(void **state)
{
    fx *f = *state;
    uint8_t b[3] = {0, 0, 0};
    for (size_t n = 0; n < 3; n++) {
        raw(f, b, n);
        assert_int_equal(st_of(f), VOUCH_SE_E_FRAME);
        assert_int_equal(data_len(f), 0);
    }
}

static void test_bad_crc_every_bit(void **state)
{
    fx *f = *state;
    uint8_t b[16];
    size_t n = frame(b, VOUCH_SE_CMD_ECHO, (const uint8_t *)"abcd", 4);
    for (size_t i = 0; i < n * 8; i++) {
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        raw(f, b, n);
        assert_int_equal(st_of(f), VOUCH_SE_E_CRC);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    raw(f, b, n);
    assert_int_equal(st_of(f), VOUCH_SE_OK);
}

static void test_header_rules(void **state)
{
    fx *f = *state;
    uint8_t b[32];
    raw(f, b, frame(b, VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RSVD, NULL, 0));
    assert_int_equal(st_of(f), VOUCH_SE_E_FRAME);
    raw(f, b, frame(b, VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RMAC, NULL, 0));
    assert_int_equal(st_of(f), VOUCH_SE_E_FRAME);
    /* C-MAC flag but too short to hold counter and MAC */
    raw(f, b, frame(b, VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC, (const uint8_t *)"12345678901", 11));
    assert_int_equal(st_of(f), VOUCH_SE_E_FRAME);
    for (unsigned code = VOUCH_SE_CMD_COUNT_; code <= VOUCH_SE_HDR_CMD_MASK; code++) {
        raw(f, b, frame(b, (uint8_t)code, NULL, 0));
        assert_int_equal(st_of(f), VOUCH_SE_E_UNKNOWN_CMD);
    }
}

static void test_oversized_payload(void **state)
{
    fx *f = *state;
    static uint8_t big[VOUCH_SE_MAX_PAYLOAD + 1], b[VOUCH_SE_MAX_PAYLOAD + 8];
    raw(f, b, frame(b, VOUCH_SE_CMD_ECHO, big, sizeof big));
    assert_int_equal(st_of(f), VOUCH_SE_E_FRAME);
    raw(f, b, frame(b, VOUCH_SE_CMD_ECHO, big, VOUCH_SE_MAX_PAYLOAD));
    assert_int_equal(st_of(f), VOUCH_SE_OK);
    assert_int_equal(data_len(f), VOUCH_SE_MAX_PAYLOAD);
}

/* ---- state format --------------------------------------------------------- */
static void fill_state(vouch_se_pstate *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < VOUCH_SE_SERIAL_LEN; i++)
        st->serial[i] = (uint8_t)(0xA0 + i);
    st->lifecycle = VOUCH_SE_LC_OPERATIONAL;
    st->host_keys_set = 1;
    memset(st->host_mac_key, 0x11, 16);
    memset(st->host_enc_key, 0x22, 16);
    st->host_counter = 0x01020304;
    st->slots[0].alg = VOUCH_SE_ALG_P256;
    memset(st->slots[0].priv, 0x33, 32);
    memset(st->slots[0].pub, 0x44, 65);
    st->slots[2].alg = VOUCH_SE_ALG_ED25519;
    memset(st->envelope, 0x55, sizeof st->envelope);
    for (unsigned i = 0; i < VOUCH_SE_ZONES; i++) {
        st->zones[i].read_ac = (uint8_t)(i % 3);
        st->zones[i].update_ac = (uint8_t)((i + 1) % 3);
        if (vouch_se_zone_map[i].type == VOUCH_SE_ZONE_COUNTER)
            st->zones[i].counter = 0xFFFFFF00u + i;
    }
    for (unsigned i = 0; i < VOUCH_SE_ZONE_BYTES; i++)
        st->zone_data[i] = (uint8_t)(i * 7);
}

static void test_state_pinned_vector(void **state)
{
    (void)state;
    static vouch_se_pstate st, back;
    static uint8_t blob[VOUCH_SE_STATE_MAX];
    uint8_t h[32];
    char hex[65];
    fill_state(&st);
    size_t n = vouch_se_state_serialize(&st, blob, sizeof blob);
    assert_int_equal(n, 5000);
    /* fixed offsets of the layout */
    assert_int_equal(blob[0], VOUCH_SE_STATE_VERSION);
    assert_memory_equal(blob + 1, st.serial, 9);
    assert_int_equal(blob[10], VOUCH_SE_LC_OPERATIONAL);
    assert_int_equal(blob[44], 0x01);
    assert_int_equal(blob[47], 0x04);
    assert_int_equal(blob[48], VOUCH_SE_ALG_P256);
    assert_int_equal(P->sha256(NULL, blob, n, h), 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    /* Changing this value means old chips' state files no longer load: bump
     * VOUCH_SE_STATE_VERSION and write a migration instead. */
    assert_string_equal(hex, PINNED_STATE_SHA256);
    assert_int_equal(vouch_se_state_parse(&back, blob, n), 0);
    assert_memory_equal(&st, &back, sizeof st);
}

static void test_state_parse_rejects(void **state)
{
    (void)state;
    static vouch_se_pstate st, out;
    static uint8_t blob[VOUCH_SE_STATE_MAX];
    fill_state(&st);
    size_t n = vouch_se_state_serialize(&st, blob, sizeof blob);
    assert_int_equal(vouch_se_state_parse(&out, blob, n - 1), -1);
    assert_int_equal(vouch_se_state_parse(&out, blob, n + 1), -1);
    assert_int_equal(vouch_se_state_parse(&out, blob, 0), -1);
    blob[0] = 2; /* version */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[0] = 1;
    blob[10] = 0; /* lifecycle */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[10] = 4;
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[10] = 2;
    blob[11] = 2; /* host_keys_set */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[11] = 1;
    blob[48] = 9; /* slot alg */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[48] = 1;
    size_t zones = 48 + 4 * 98 + 64;
    blob[zones] = 3; /* read AC */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[zones] = 0;
    blob[zones + 5] = 1; /* a data zone with a counter */
    assert_int_equal(vouch_se_state_parse(&out, blob, n), -1);
    blob[zones + 5] = 0;
    assert_int_equal(vouch_se_state_parse(&out, blob, n), 0);
}

/* ---- commit atomicity ------------------------------------------------------ */
static void test_storage_failure_changes_nothing(void **state)
{
    fx *f = *state;
    uint8_t upd[] = {3, 0, 0, 'a', 'b'}, rd[] = {3, 0, 0, 0, 2};
    uint8_t dec[] = {5, 0, 0, 0, 7};
    f->st.fail = 1;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, upd, sizeof upd), VOUCH_SE_E_STORAGE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, dec, sizeof dec), VOUCH_SE_E_STORAGE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, 1}, 2), VOUCH_SE_E_STORAGE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){2}, 1), VOUCH_SE_E_STORAGE);
    f->st.fail = 0;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, rd, sizeof rd), VOUCH_SE_OK);
    assert_memory_equal(data_of(f), "\0\0", 2);
    assert_int_equal(f->core.live.zones[5].counter, 0xFFFFFFFFu);
    assert_int_equal(f->core.live.slots[1].alg, VOUCH_SE_ALG_NONE);
    assert_int_equal(f->core.live.lifecycle, VOUCH_SE_LC_PERSONALIZATION);
    /* and a read-only command never commits */
    int before = f->st.commits;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, rd, sizeof rd), VOUCH_SE_OK);
    assert_int_equal(f->st.commits, before);
}

static void test_committed_blob_loads(void **state)
{
    fx *f = *state;
    static vouch_se_core other;
    uint8_t upd[] = {4, 0, 1, 'z'};
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, upd, sizeof upd), VOUCH_SE_OK);
    assert_int_equal(vouch_se_core_load(&other, P, NULL, NULL, f->st.last, f->st.last_len), 0);
    assert_memory_equal(&other.live, &f->core.live, sizeof other.live);
}

/* ---- secure channel --------------------------------------------------------- */
static void test_channel_counter_rules(void **state)
{
    fx *f = *state;
    uint8_t bad[16];
    /* no host keys yet: any C-MAC is refused */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, 1, f->mac_key), VOUCH_SE_E_MAC);
    set_host_keys(f);
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, 5, f->mac_key), VOUCH_SE_OK);
    assert_true(f->rsp[0] & VOUCH_SE_STATUS_RMAC);
    assert_int_equal(f->core.live.host_counter, 5);
    /* the same counter again, and a lower one */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, 5, f->mac_key), VOUCH_SE_E_REPLAY);
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, 4, f->mac_key), VOUCH_SE_E_REPLAY);
    assert_false(f->rsp[0] & VOUCH_SE_STATUS_RMAC);
    /* wrong key: refused and the counter does not move */
    memcpy(bad, f->mac_key, 16);
    bad[0] ^= 1;
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, 9, bad), VOUCH_SE_E_MAC);
    assert_int_equal(f->core.live.host_counter, 5);
    /* a valid MAC on a failing command still consumes its counter */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){99, 0, 0, 0, 1}, 5, 6, f->mac_key),
                     VOUCH_SE_E_ZONE);
    assert_true(f->rsp[0] & VOUCH_SE_STATUS_RMAC);
    assert_int_equal(f->core.live.host_counter, 6);
    /* the last counter value works once */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, NULL, 0, 0xFFFFFFFFu, f->mac_key), VOUCH_SE_OK);
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, NULL, 0, 0xFFFFFFFFu, f->mac_key), VOUCH_SE_E_REPLAY);
}

static void test_channel_required(void **state)
{
    fx *f = *state;
    set_host_keys(f);
    /* once keys exist, admin commands and secret outputs need the channel */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){2}, 1), VOUCH_SE_E_CHANNEL);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 1, 1}, 3), VOUCH_SE_E_CHANNEL);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HOST_KEYS, f->mac_key, 16), VOUCH_SE_E_PARAM);
    uint8_t keys[32] = {0};
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HOST_KEYS, keys, 32), VOUCH_SE_E_CHANNEL);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_WRAP, (const uint8_t[]){0, 1, 2}, 3), VOUCH_SE_E_CHANNEL);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, VOUCH_SE_ALG_P256}, 2), VOUCH_SE_OK);
    uint8_t ecdh[66] = {1};
    memcpy(ecdh + 1, f->core.live.slots[1].pub, 65);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ECDH, ecdh, sizeof ecdh), VOUCH_SE_E_CHANNEL);
    /* HOST access condition: plain reads refused, MAC'd reads encrypted */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 1, 1}, 3, 1, f->mac_key), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){3, 0, 0, 0, 4}, 5), VOUCH_SE_E_ACCESS);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, (const uint8_t[]){3, 0, 0, 7}, 4), VOUCH_SE_E_ACCESS);
    /* the secret ECDH output comes back encrypted: differs from the plain one */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECDH, ecdh, sizeof ecdh, 2, f->mac_key), VOUCH_SE_OK);
    uint8_t expect[32], iv[16] = {0x80, 0, 0, 0, 2}, dec[32];
    assert_int_equal(P->p256_ecdh(NULL, f->core.live.slots[1].priv, f->core.live.slots[1].pub, expect), 0);
    assert_int_equal(data_len(f), 32);
    assert_memory_not_equal(data_of(f), expect, 32);
    assert_int_equal(P->aes_ctr(NULL, f->enc_key, iv, data_of(f), dec, 32), 0);
    assert_memory_equal(dec, expect, 32);
}

/* ---- access conditions and lifecycle ------------------------------------ */
static void test_ac_only_stricter(void **state)
{
    fx *f = *state;
    /* HOST needs host keys */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 1, 0}, 3), VOUCH_SE_E_PARAM);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 0, 2}, 3), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 0, 0}, 3), VOUCH_SE_E_NOT_STRICTER);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 3, 2}, 3), VOUCH_SE_E_PARAM);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){8, 2, 2}, 3), VOUCH_SE_E_ZONE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, (const uint8_t[]){3, 0, 0, 7}, 4), VOUCH_SE_E_ACCESS);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){3, 0, 0, 0, 4}, 5), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ZONE_AC, (const uint8_t[]){3, 2, 2}, 3), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){3, 0, 0, 0, 4}, 5), VOUCH_SE_E_ACCESS);
}

static void test_lifecycle_forward_only(void **state)
{
    fx *f = *state;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){0, VOUCH_SE_ALG_P256}, 2), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){1}, 1), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){0}, 1), VOUCH_SE_E_PARAM);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){4}, 1), VOUCH_SE_E_PARAM);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){2}, 1), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){2}, 1), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){1}, 1), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){0, VOUCH_SE_ALG_P256}, 2), VOUCH_SE_E_KEY_LOCKED);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, VOUCH_SE_ALG_P256}, 2), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HOST_KEYS, (uint8_t[32]){0}, 32), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){3}, 1), VOUCH_SE_OK);
    /* terminated: no key material left, every key operation refused */
    static const vouch_se_slot empty;
    for (unsigned i = 0; i < VOUCH_SE_SLOTS; i++)
        assert_memory_equal(&f->core.live.slots[i], &empty, sizeof empty);
    uint8_t dig[33] = {0};
    assert_int_equal(cmd(f, VOUCH_SE_CMD_SIGN, dig, 33), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, 1}, 2), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_PUBKEY, (const uint8_t[]){0}, 1), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_WRAP, (const uint8_t[]){0, 1}, 2), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UNWRAP, (uint8_t[17]){0}, 17), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ECDH, (uint8_t[66]){0}, 66), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, (uint8_t[2]){0, 1}, 2), VOUCH_SE_E_LIFECYCLE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_LIFECYCLE, (const uint8_t[]){3}, 1), VOUCH_SE_E_LIFECYCLE);
}

static void test_counters_only_down(void **state)
{
    fx *f = *state;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, (const uint8_t[]){5, 0xFF, 0xFF, 0xFF, 0xF0}, 5), VOUCH_SE_OK);
    assert_memory_equal(data_of(f), "\x00\x00\x00\x0f", 4);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, (const uint8_t[]){5, 0, 0, 0, 16}, 5), VOUCH_SE_E_COUNTER);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, (const uint8_t[]){5, 0, 0, 0, 15, 'd'}, 6), VOUCH_SE_OK);
    assert_memory_equal(data_of(f), "\x00\x00\x00\x00", 4);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, (const uint8_t[]){5, 0, 0, 0, 1}, 5), VOUCH_SE_E_COUNTER);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_DECREMENT, (const uint8_t[]){3, 0, 0, 0, 1}, 5), VOUCH_SE_E_ZONE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, (const uint8_t[]){5, 0, 0, 1}, 4), VOUCH_SE_E_ZONE);
    /* counter zone reads as counter then data */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){5, 0, 0, 0, 5}, 5), VOUCH_SE_OK);
    assert_memory_equal(data_of(f), "\x00\x00\x00\x00" "d", 5);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_READ, (const uint8_t[]){5, 0, 0, 0, 37}, 5), VOUCH_SE_E_RANGE);
}

static void test_hibernate(void **state)
{
    fx *f = *state;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){0xFF, VOUCH_SE_ALG_X25519}, 2), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HIBERNATE, NULL, 0), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_ECHO, NULL, 0), VOUCH_SE_E_ASLEEP);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_QUERY, (const uint8_t[]){3}, 1), VOUCH_SE_E_ASLEEP);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_WAKE, NULL, 0), VOUCH_SE_OK);
    /* the ephemeral key did not survive */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_PUBKEY, (const uint8_t[]){0xFF}, 1), VOUCH_SE_E_NO_KEY);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_HIBERNATE, (const uint8_t[]){1}, 1), VOUCH_SE_E_PARAM);
}

/* Generates keys of every kind, then sends every command with assorted
 * payloads and checks no response contains 8 consecutive bytes of any
 * private or envelope key. */
static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static void test_no_private_key_leaves(void **state)
{
    fx *f = *state;
    uint8_t payload[200];
    uint32_t seed = 12345;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){0, 1}, 2), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, 2}, 2), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){2, 3}, 2), VOUCH_SE_OK);
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t code = (uint8_t)(iter % VOUCH_SE_CMD_COUNT_);
        size_t n = (size_t)(iter % 70);
        if (code == VOUCH_SE_CMD_LIFECYCLE || code == VOUCH_SE_CMD_HIBERNATE ||
            code == VOUCH_SE_CMD_KEYGEN)
            continue;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            payload[i] = (uint8_t)(seed >> 16);
        }
        if (n)
            payload[0] = (uint8_t)(payload[0] % 4); /* mostly valid slots/zones */
        cmd(f, code, payload, n);
        for (unsigned s = 0; s < VOUCH_SE_SLOTS; s++)
            if (f->core.live.slots[s].alg)
                assert_false(contains(f->rsp, f->rsp_len, f->core.live.slots[s].priv, 8));
        for (unsigned e = 0; e < VOUCH_SE_ENVELOPE_KEYS; e++)
            assert_false(contains(f->rsp, f->rsp_len, f->core.live.envelope[e], 8));
    }
}

static void test_verify_zone_key(void **state)
{
    fx *f = *state;
    uint8_t pub[66], dig[33] = {1}, vbuf[2 + 64 + 32];
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, 1}, 2), VOUCH_SE_OK);
    pub[0] = VOUCH_SE_ALG_P256;
    memcpy(pub + 1, data_of(f), 65);
    uint8_t upd[3 + 66] = {2, 0, 0};
    memcpy(upd + 3, pub, 66);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, upd, sizeof upd), VOUCH_SE_OK);
    dig[0] = 1;
    memset(dig + 1, 0x42, 32);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_SIGN, dig, 33), VOUCH_SE_OK);
    vbuf[0] = VOUCH_SE_VERIFY_ZONE;
    vbuf[1] = 2;
    memcpy(vbuf + 2, data_of(f), 64);
    memset(vbuf + 66, 0x42, 32);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf), VOUCH_SE_OK);
    assert_int_equal(data_of(f)[0], 1);
    vbuf[70] ^= 1;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf), VOUCH_SE_OK);
    assert_int_equal(data_of(f)[0], 0);
    vbuf[1] = 3; /* zone 3 holds zeros: no key */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf), VOUCH_SE_E_PARAM);
    vbuf[1] = 5; /* counter zone */
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf), VOUCH_SE_E_ZONE);
    vbuf[1] = 2;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf - 1), VOUCH_SE_E_PARAM);
    /* a key that is not on the curve */
    upd[3 + 10] ^= 0xFF;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_UPDATE, upd, sizeof upd), VOUCH_SE_OK);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, vbuf, sizeof vbuf), VOUCH_SE_E_PARAM);
}

/* A command whose commit fails undoes its volatile effects too. */
static void test_storage_failure_restores_volatile(void **state)
{
    fx *f = *state;
    set_host_keys(f);
    f->st.fail = 1;
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_HIBERNATE, NULL, 0, 1, f->mac_key), VOUCH_SE_E_STORAGE);
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){0xFF, 1}, 2, 2, f->mac_key),
                     VOUCH_SE_E_STORAGE);
    f->st.fail = 0;
    assert_int_equal(cmd(f, VOUCH_SE_CMD_QUERY, (const uint8_t[]){3}, 1), VOUCH_SE_OK);
    assert_int_equal(data_of(f)[1], VOUCH_SE_POWER_AWAKE);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_PUBKEY, (const uint8_t[]){0xFF}, 1), VOUCH_SE_E_NO_KEY);
    /* the counters of the failed commands are not accepted again */
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, NULL, 0, 2, f->mac_key), VOUCH_SE_E_REPLAY);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_QUERY, (const uint8_t[]){VOUCH_SE_Q_HOST}, 1), VOUCH_SE_OK);
    assert_memory_equal(data_of(f), "\x01\x00\x00\x00\x02", 5);
    assert_int_equal(mcmd(f, VOUCH_SE_CMD_ECHO, NULL, 0, 3, f->mac_key), VOUCH_SE_OK);
}

/* Only the uncompressed 04|X|Y form of a P-256 key is accepted. */
static void test_p256_key_forms(void **state)
{
    fx *f = *state;
    uint8_t v[2 + 65 + 64 + 32] = {VOUCH_SE_VERIFY_KEY, VOUCH_SE_ALG_P256};
    assert_int_equal(cmd(f, VOUCH_SE_CMD_KEYGEN, (const uint8_t[]){1, 1}, 2), VOUCH_SE_OK);
    memcpy(v + 2, data_of(f), 65);
    assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, v, sizeof v), VOUCH_SE_OK);
    for (int form = 0; form < 8; form++) {
        if (form == 4)
            continue;
        v[2] = (uint8_t)form;
        assert_int_equal(cmd(f, VOUCH_SE_CMD_VERIFY, v, sizeof v), VOUCH_SE_E_PARAM);
        uint8_t e[66] = {1};
        memcpy(e + 1, v + 2, 65);
        assert_int_equal(cmd(f, VOUCH_SE_CMD_ECDH, e, sizeof e), VOUCH_SE_E_PARAM);
    }
}

int main(void)
{
    P = vouch_port_openssl();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_check_value),
        cmocka_unit_test_setup_teardown(test_short_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_crc_every_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_payload, setup, teardown),
        cmocka_unit_test(test_state_pinned_vector),
        cmocka_unit_test(test_state_parse_rejects),
        cmocka_unit_test_setup_teardown(test_storage_failure_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_blob_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_counter_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ac_only_stricter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_forward_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_only_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hibernate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_private_key_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_zone_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_failure_restores_volatile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_p256_key_forms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
