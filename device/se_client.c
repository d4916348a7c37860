/*
 * The SE client: frames, CRC, retries, rereads and the host secure channel
 * (docs/se-protocol.md sections 1 and 2). Every typed command funnels into
 * vd_xact(); nothing here allocates, and both frame buffers live in the
 * caller-owned vouch_se.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define DEFAULT_RETRIES 5u
#define DEFAULT_BUSY_MS 5u
#define BUSY_WAIT_CAP_MS 5000u /* stop doubling here: no overflow, no minute-long naps */

uint64_t vd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vd_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void wipe(const vouch_se *se, void *p, size_t n)
{
    if (se->cfg.port && se->cfg.port->cleanse)
        se->cfg.port->cleanse(p, n);
    else
        memset(p, 0, n); /* only reached before init set a port */
}

/* Which fields a C-MAC'ed frame encrypts (spec 2.3): the offset in the
 * command payload where the secret starts (-1: none), and whether the
 * response data is secret. */
static void secret_fields(uint8_t cmd, int *cmd_off, int *rsp_secret)
{
    *cmd_off = -1;
    *rsp_secret = 0;
    switch (cmd) {
    case VOUCH_SE_CMD_READ:
    case VOUCH_SE_CMD_ECDH:
    case VOUCH_SE_CMD_UNWRAP:
        *rsp_secret = 1;
        break;
    case VOUCH_SE_CMD_UPDATE:
        *cmd_off = 3; /* zone(1) offset(2) */
        break;
    case VOUCH_SE_CMD_DECREMENT:
        *cmd_off = 5; /* zone(1) amount(4) */
        break;
    case VOUCH_SE_CMD_WRAP:
        *cmd_off = 1; /* key index(1) */
        break;
    case VOUCH_SE_CMD_HOST_KEYS:
        *cmd_off = 0;
        break;
    default:
        break;
    }
}

/* AES-128-CTR under Kenc with the block direction | counter | 0 * 11. */
static vouch_rc channel_crypt(const vouch_se *se, uint8_t dir, uint32_t ctr, const uint8_t *in,
                              uint8_t *out, size_t len)
{
    uint8_t iv[16] = {0};
    if (len == 0)
        return VOUCH_OK;
    iv[0] = dir;
    vd_put32(iv + 1, ctr);
    return se->cfg.port->aes_ctr(se->cfg.port->ctx, se->enc_key, iv, in, out, len) == 0
               ? VOUCH_OK
               : RC_PORT;
}

/* Builds the command frame in se->cmd and returns its length. For a secure
 * frame the C-MAC input (0x00 | counter | header | plen | payload) is laid out
 * at the start of the same buffer first and the payload is slid into place
 * afterwards, so no second 1 KiB buffer is needed. */
static vouch_rc build_frame(vouch_se *se, uint8_t cmd, int secure, uint32_t ctr,
                            const vd_part *parts, size_t n_parts, size_t plen, size_t *flen)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t *f = se->cmd;
    uint8_t hdr = (uint8_t)(cmd | (secure ? VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC : 0));
    size_t at = secure ? 8 : 1, len;
    uint8_t tag[16];
    int cmd_off, rsp_secret;

    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].n)
            memcpy(f + at, parts[i].p, parts[i].n);
        at += parts[i].n;
    }
    if (!secure) {
        f[0] = hdr;
        len = 1 + plen;
    } else {
        f[0] = VOUCH_SE_DIR_CMD;
        vd_put32(f + 1, ctr);
        f[5] = hdr;
        vd_put16(f + 6, (uint16_t)plen);
        secret_fields(cmd, &cmd_off, &rsp_secret);
        if (cmd_off >= 0 && plen > (size_t)cmd_off)
            GUARD(channel_crypt(se, VOUCH_SE_DIR_CMD, ctr, f + 8 + cmd_off, f + 8 + cmd_off,
                                plen - (size_t)cmd_off));
        ENSURE(se->cfg.port->aes_cmac(se->cfg.port->ctx, se->mac_key, f, 8 + plen, tag) == 0,
               RC_PORT);
        memmove(f + 1, f + 8, plen);
        f[0] = hdr;
        vd_put32(f + 1 + plen, ctr);
        memcpy(f + 1 + plen + VOUCH_SE_CTR_LEN, tag, VOUCH_SE_MAC_LEN);
        len = 1 + plen + VOUCH_SE_CTR_LEN + VOUCH_SE_MAC_LEN;
    }
    vd_put16(f + len, vouch_crc16_x25(f, len));
    *flen = len + VOUCH_SE_CRC_LEN;
exit:
    wipe(se, tag, sizeof tag);
    return rc;
}

/* Structural check of a received response frame. Any failure here means the
 * bytes were damaged on the way, so the caller rereads. The layout is judged
 * before the CRC so that the final error says what was wrong: a frame cut
 * short is FRAME_SHORT, not a CRC mismatch. */
static vouch_rc check_frame(const uint8_t *r, size_t n)
{
    size_t dlen, need;
    if (n < 3 + VOUCH_SE_CRC_LEN)
        return RC_FRAME(VOUCH_E_FRAME_SHORT);
    dlen = vd_get16(r + 1);
    if (dlen > VOUCH_SE_MAX_PAYLOAD)
        return RC_FRAME(VOUCH_E_FRAME_LEN);
    need = 3 + dlen + ((r[0] & VOUCH_SE_STATUS_RMAC) ? VOUCH_SE_MAC_LEN : 0) + VOUCH_SE_CRC_LEN;
    if (n < need)
        return RC_FRAME(VOUCH_E_FRAME_SHORT);
    if (n > need)
        return RC_FRAME(VOUCH_E_FRAME_LEN);
    if (vd_get16(r + n - 2) != vouch_crc16_x25(r, n - 2))
        return RC_FRAME(VOUCH_E_FRAME_CRC);
    return VOUCH_OK;
}

/* Statuses a chip gives before (or instead of) checking the C-MAC, which
 * therefore come without an R-MAC (spec 1.4 steps 1-6). Anything else in
 * answer to a secure command must be authenticated. */
static int before_mac(uint8_t st)
{
    switch (st) {
    case VOUCH_SE_E_CRC:
    case VOUCH_SE_E_FRAME:
    case VOUCH_SE_E_UNKNOWN_CMD:
    case VOUCH_SE_E_ASLEEP:
    case VOUCH_SE_E_BUSY:
    case VOUCH_SE_E_MAC:
    case VOUCH_SE_E_REPLAY:
        return 1;
    default:
        return 0;
    }
}

/* Checks the R-MAC of the response in se->rsp in constant time. The MAC
 * input (0x80 | counter | header | status | length | data) is made by sliding
 * the frame 6 bytes up inside se->rsp; the data then starts at offset 9. */
static vouch_rc check_rmac(vouch_se *se, uint32_t ctr, uint8_t hdr, size_t dlen)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t *r = se->rsp;
    uint8_t got[VOUCH_SE_MAC_LEN], tag[16];

    memcpy(got, r + 3 + dlen, VOUCH_SE_MAC_LEN);
    memmove(r + 6, r, 3 + dlen);
    r[0] = VOUCH_SE_DIR_RSP;
    vd_put32(r + 1, ctr);
    r[5] = hdr;
    ENSURE(se->cfg.port->aes_cmac(se->cfg.port->ctx, se->mac_key, r, 9 + dlen, tag) == 0,
           RC_PORT);
    ENSURE(se->cfg.port->memcmp_ct(tag, got, VOUCH_SE_MAC_LEN) == 0, RC_CHAN(VOUCH_E_RMAC));
exit:
    wipe(se, tag, sizeof tag);
    return rc;
}

/* One command on the bus: sends se->cmd, reads the answer, rereads damaged
 * answers (never resending, so nothing runs twice), resends when the chip
 * saw a damaged command (E_CRC, nothing ran) or was busy, and authenticates
 * the answer of a secure command. On success *data points at the response
 * data inside se->rsp. */
static vouch_rc exchange(vouch_se *se, size_t flen, int secure, uint32_t ctr,
                         const uint8_t **data, size_t *dlen)
{
    vouch_rc rc;
    const vouch_transport *t = se->cfg.transport;
    void *tc = se->cfg.transport_ctx;
    unsigned crc_tries = 0, busy_tries = 0;
    uint32_t wait = se->cfg.busy_wait_ms;
    uint8_t st, hdr = se->cmd[0];

    for (;;) {
        unsigned rereads = 0;
        size_t n = 0;
        GUARD(t->send(tc, se->cmd, flen));
        for (;;) {
            n = 0;
            GUARD(t->recv(tc, se->rsp, sizeof se->rsp, &n, se->cfg.timeout_ms));
            ENSURE(n <= sizeof se->rsp, RC_FRAME(VOUCH_E_FRAME_LEN));
            rc = check_frame(se->rsp, n);
            if (rc == VOUCH_OK)
                break;
            if (rereads >= se->cfg.max_retries || !t->reread)
                goto exit;
            rereads++;
            se->rereads++;
            GUARD(t->reread(tc));
        }
        st = se->rsp[0] & VOUCH_SE_STATUS_MASK;
        *dlen = vd_get16(se->rsp + 1);
        *data = se->rsp + 3;
        if (se->rsp[0] & VOUCH_SE_STATUS_RMAC) {
            /* An R-MAC we did not ask for cannot be checked: a plain command
             * never gets one from an honest chip. */
            ENSURE(secure, RC_CHAN(VOUCH_E_RMAC));
            GUARD(check_rmac(se, ctr, hdr, *dlen));
            *data = se->rsp + 9;
            /* The C-MAC was accepted, so the counter is spent and this
             * answer is final: resending would be a replay. */
            ENSURE(st == VOUCH_SE_OK, RC_SE(st));
            goto exit;
        }
        /* Unauthenticated: only a refusal that happens before the MAC check
         * may come without an R-MAC; an "OK" or a command error would let a
         * bus attacker forge results. */
        ENSURE(!secure || before_mac(st), RC_CHAN(VOUCH_E_RMAC));
        if (st == VOUCH_SE_E_CRC && crc_tries < se->cfg.max_retries) {
            crc_tries++;
            se->retries_crc++;
            continue;
        }
        if (st == VOUCH_SE_E_BUSY && busy_tries < se->cfg.max_retries) {
            busy_tries++;
            se->retries_busy++;
            vd_sleep_ms(wait);
            if (wait < BUSY_WAIT_CAP_MS)
                wait *= 2;
            continue;
        }
        ENSURE(st == VOUCH_SE_OK, RC_SE(st));
        goto exit;
    }
exit:
    return rc;
}

/* Learns the chip's last accepted counter (QUERY tag HOST, spec 2.1). */
static vouch_rc sync_counter(vouch_se *se)
{
    vouch_rc rc;
    uint8_t tag = VOUCH_SE_Q_HOST, buf[8];
    vd_part part = {&tag, 1};
    size_t n = 0;
    rc = vd_xact(se, VOUCH_SE_CMD_QUERY, VOUCH_PLAIN, &part, 1, buf, sizeof buf, &n);
    ENSURE(rc != RC_API(VOUCH_E_BUFFER), RC_FRAME(VOUCH_E_FRAME_LEN));
    GUARD(rc);
    ENSURE(n == 5, RC_FRAME(VOUCH_E_FRAME_LEN));
    /* Without keys in the chip every C-MAC fails; say why instead. */
    ENSURE(buf[0] != 0, RC_CHAN(VOUCH_E_NO_KEYS));
    se->counter = vd_get32(buf + 1);
    se->counter_synced = 1;
exit:
    return rc;
}

vouch_rc vd_xact(vouch_se *se, uint8_t cmd, unsigned flags, const vd_part *parts,
                 size_t n_parts, uint8_t *out, size_t out_size, size_t *out_len)
{
    vouch_rc rc;
    int secure = (flags & VOUCH_SECURE) != 0, resynced = 0, cmd_off, rsp_secret;
    size_t plen = 0, flen = 0, dlen = 0, ignored;
    const uint8_t *data = NULL;
    uint32_t ctr = 0;

    if (!out_len)
        out_len = &ignored;
    *out_len = 0;
    ENSURE(se->open, RC_API(VOUCH_E_STATE));
    ENSURE((flags & ~(unsigned)VOUCH_SECURE) == 0, RC_API(VOUCH_E_ARG));
    ENSURE((cmd & ~VOUCH_SE_HDR_CMD_MASK) == 0, RC_API(VOUCH_E_ARG));
    ENSURE(out || out_size == 0, RC_API(VOUCH_E_ARG));
    for (size_t i = 0; i < n_parts; i++) {
        ENSURE(parts[i].p || parts[i].n == 0, RC_API(VOUCH_E_ARG));
        ENSURE(parts[i].n <= VOUCH_SE_MAX_PAYLOAD - plen, RC_API(VOUCH_E_ARG));
        plen += parts[i].n;
    }
    ENSURE(!secure || se->have_keys, RC_CHAN(VOUCH_E_NO_KEYS));
    secret_fields(cmd, &cmd_off, &rsp_secret);

    for (;;) {
        if (secure) {
            if (!se->counter_synced)
                GUARD(sync_counter(se));
            ENSURE(se->counter != UINT32_MAX, RC_CHAN(VOUCH_E_CTR_EXHAUSTED));
            /* Spent from here on, whatever happens: a later counter is
             * always acceptable, a reused one never is. */
            ctr = ++se->counter;
        }
        GUARD(build_frame(se, cmd, secure, ctr, parts, n_parts, plen, &flen));
        rc = exchange(se, flen, secure, ctr, &data, &dlen);
        /* Someone else used the channel (another host, a reset context):
         * learn the chip's counter once and try again with a fresh one. */
        if (secure && rc == RC_SE(VOUCH_SE_E_REPLAY) && !resynced) {
            resynced = 1;
            se->counter_synced = 0;
            continue;
        }
        break;
    }
    GUARD(rc);
    ENSURE(dlen <= out_size, RC_API(VOUCH_E_BUFFER));
    if (secure && rsp_secret)
        GUARD(channel_crypt(se, VOUCH_SE_DIR_RSP, ctr, data, out, dlen));
    else if (dlen)
        memcpy(out, data, dlen);
    *out_len = dlen;
exit:
    /* The frames may hold plaintext secrets (keys sent in clear during
     * personalization, zone data, unwrapped envelopes). */
    wipe(se, se->cmd, sizeof se->cmd);
    wipe(se, se->rsp, sizeof se->rsp);
    if (rc != VOUCH_OK) {
        vd_poison(out, out_size);
        *out_len = 0;
    }
    return rc;
}

vouch_rc vouch_se_init(vouch_se *se, const vouch_se_config *cfg)
{
    vouch_rc rc = VOUCH_OK;
    const vouch_crypto_port *p;
    ENSURE(se, RC_API(VOUCH_E_ARG));
    memset(se, 0, sizeof *se);
    ENSURE(cfg && cfg->transport && cfg->transport->send && cfg->transport->recv,
           RC_API(VOUCH_E_ARG));
    ENSURE(!cfg->lock == !cfg->unlock, RC_API(VOUCH_E_ARG));
    se->cfg = *cfg;
    if (!se->cfg.port)
        se->cfg.port = vouch_port_openssl();
    p = se->cfg.port;
    ENSURE(p->aes_cmac && p->aes_ctr && p->memcmp_ct && p->cleanse, RC_API(VOUCH_E_ARG));
    if (!se->cfg.timeout_ms)
        se->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!se->cfg.max_retries)
        se->cfg.max_retries = DEFAULT_RETRIES;
    if (!se->cfg.busy_wait_ms)
        se->cfg.busy_wait_ms = DEFAULT_BUSY_MS;
    se->open = 1;
exit:
    if (rc != VOUCH_OK && se)
        memset(se, 0, sizeof *se);
    return rc;
}

void vouch_se_close(vouch_se *se)
{
    if (!se)
        return;
    vd_lock(se);
    if (se->open) {
        if (se->cfg.transport->close)
            se->cfg.transport->close(se->cfg.transport_ctx);
        wipe(se, se->mac_key, sizeof se->mac_key);
        wipe(se, se->enc_key, sizeof se->enc_key);
        wipe(se, se->cmd, sizeof se->cmd);
        wipe(se, se->rsp, sizeof se->rsp);
        se->have_keys = 0;
        se->counter_synced = 0;
        se->counter = 0;
        se->open = 0;
    }
    vd_unlock(se);
}

vouch_rc vouch_se_set_host_keys(vouch_se *se, const uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN],
                                const uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN])
{
    vouch_rc rc = VOUCH_OK;
    if (!se)
        return RC_API(VOUCH_E_ARG);
    vd_lock(se);
    ENSURE(se->open, RC_API(VOUCH_E_STATE));
    ENSURE(mac_key && enc_key, RC_API(VOUCH_E_ARG));
    memcpy(se->mac_key, mac_key, VOUCH_SE_HOST_KEY_LEN);
    memcpy(se->enc_key, enc_key, VOUCH_SE_HOST_KEY_LEN);
    se->have_keys = 1;
    se->counter_synced = 0;
exit:
    vd_unlock(se);
    return rc;
}

vouch_rc vouch_se_transact(vouch_se *se, uint8_t cmd, unsigned flags, const uint8_t *payload,
                           size_t payload_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    vouch_rc rc;
    vd_part part = {payload, payload_len};
    if (!se) {
        vd_poison(out, out_size);
        if (out_len)
            *out_len = 0;
        return RC_API(VOUCH_E_ARG);
    }
    vd_lock(se);
    rc = vd_xact(se, cmd, flags, &part, 1, out, out_size, out_len);
    vd_unlock(se);
    return rc;
}
