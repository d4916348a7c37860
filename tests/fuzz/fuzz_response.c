/*
 * The host library's response parser: libvouch calls over a fake transport
 * whose recv() hands out the fuzz bytes as the chip's answers.
 *
 * Input: op(1) flags(1) then records len(2) bytes(len), one per recv().
 *   op      which call (FZ_OP_*, modulo FZ_OP_COUNT_), fixed arguments
 *   flags   FZ_RSP_SECURE: the client holds host keys and the call goes over
 *           the secure channel (its first recv answers the QUERY HOST sync);
 *           FZ_RSP_FRAMED: each record is status(1) data(n) and the fake bus
 *           frames it (length, CRC, and a correct R-MAC when status bit 7 is
 *           set), so the typed calls' data parsers are reached; otherwise
 *           records are raw response frames (frame parser, CRC and reread).
 * When the records run out, recv() times out.
 *
 * Oracles: no sanitizer report; every frame the library sends is well formed
 * with a correct C-MAC; on failure the outputs are poisoned as se.h promises;
 * on success the lengths are those of the protocol; vouch_strerror() names
 * every status.
 */
#include <stdlib.h>
#include <string.h>

#include <vouch/se.h>

#include "fuzz_common.h"

typedef struct fake_bus {
    const uint8_t *p;
    size_t left;
    int framed;
    uint8_t hdr;
    uint32_t ctr;
    vouch_se *se;
} fake_bus;

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static vouch_rc bus_send(void *ctx, const uint8_t *f, size_t len)
{
    fake_bus *b = ctx;
    if (len < 3 || len > VOUCH_SE_CMD_FRAME_MAX)
        fz_fail("client sent a %zu-byte frame", len);
    if (vouch_crc16_x25(f, len - 2) != rd16(f + len - 2))
        fz_fail("client frame CRC wrong");
    if (f[0] & VOUCH_SE_HDR_RSVD)
        fz_fail("client set the reserved header bit");
    if ((f[0] & VOUCH_SE_HDR_RMAC) && !(f[0] & VOUCH_SE_HDR_CMAC))
        fz_fail("client asked for an R-MAC without a C-MAC");
    b->hdr = f[0];
    b->ctr = 0;
    if (f[0] & VOUCH_SE_HDR_CMAC) {
        if (len < 15)
            fz_fail("client C-MAC frame of %zu bytes", len);
        size_t plen = len - 15;
        b->ctr = rd32(f + 1 + plen);
        /* recompute: 0x00 | ctr | hdr | plen | payload */
        static uint8_t m[8 + VOUCH_SE_MAX_PAYLOAD];
        uint8_t tag[16];
        m[0] = VOUCH_SE_DIR_CMD;
        memcpy(m + 1, f + 1 + plen, 4);
        m[5] = f[0];
        m[6] = (uint8_t)(plen >> 8), m[7] = (uint8_t)plen;
        memcpy(m + 8, f + 1, plen);
        if (fz_port->aes_cmac(fz_port->ctx, b->se->mac_key, m, 8 + plen, tag) != 0)
            fz_fail("aes_cmac");
        if (memcmp(tag, f + 1 + plen + 4, 8) != 0)
            fz_fail("client C-MAC wrong");
    } else if (len - 3 > VOUCH_SE_MAX_PAYLOAD) {
        fz_fail("client payload over the maximum");
    }
    return VOUCH_OK;
}

static vouch_rc bus_recv(void *ctx, uint8_t *frame, size_t size, size_t *len, uint32_t ms)
{
    fake_bus *b = ctx;
    (void)ms;
    *len = 0;
    if (b->left < 2)
        return VOUCH_RC(VOUCH_LAYER_BUS, VOUCH_E_TIMEOUT);
    size_t n = rd16(b->p);
    if (n > b->left - 2)
        n = b->left - 2;
    const uint8_t *rec = b->p + 2;
    b->p += 2 + n;
    b->left -= 2 + n;
    if (!b->framed) {
        if (n > size)
            return VOUCH_RC(VOUCH_LAYER_BUS, VOUCH_E_READ);
        memcpy(frame, rec, n);
        *len = n;
        return VOUCH_OK;
    }
    /* status(1) data(n-1): build the frame a chip would have sent */
    if (n == 0)
        return VOUCH_RC(VOUCH_LAYER_BUS, VOUCH_E_READ);
    uint8_t st = rec[0];
    size_t dl = n - 1;
    if (dl > VOUCH_SE_MAX_PAYLOAD)
        dl = VOUCH_SE_MAX_PAYLOAD;
    size_t flen = 3 + dl + ((st & VOUCH_SE_STATUS_RMAC) ? 8 : 0) + 2;
    if (flen > size)
        return VOUCH_RC(VOUCH_LAYER_BUS, VOUCH_E_READ);
    frame[0] = st;
    frame[1] = (uint8_t)(dl >> 8), frame[2] = (uint8_t)dl;
    memcpy(frame + 3, rec + 1, dl);
    if (st & VOUCH_SE_STATUS_RMAC) {
        static uint8_t m[9 + VOUCH_SE_MAX_PAYLOAD];
        uint8_t tag[16];
        m[0] = VOUCH_SE_DIR_RSP;
        m[1] = (uint8_t)(b->ctr >> 24), m[2] = (uint8_t)(b->ctr >> 16);
        m[3] = (uint8_t)(b->ctr >> 8), m[4] = (uint8_t)b->ctr;
        m[5] = b->hdr;
        memcpy(m + 6, frame, 3 + dl);
        if (fz_port->aes_cmac(fz_port->ctx, b->se->mac_key, m, 9 + dl, tag) != 0)
            fz_fail("aes_cmac");
        memcpy(frame + 3 + dl, tag, 8);
    }
    uint16_t crc = vouch_crc16_x25(frame, flen - 2);
    frame[flen - 2] = (uint8_t)(crc >> 8), frame[flen - 1] = (uint8_t)crc;
    *len = flen;
    return VOUCH_OK;
}

static vouch_rc bus_reread(void *ctx)
{
    (void)ctx;
    return VOUCH_OK;
}

static const vouch_transport fake_transport = {
    .name = "fuzz", .send = bus_send, .recv = bus_recv, .reread = bus_reread, .close = NULL};

static void poisoned(const void *p, size_t n, const char *what, vouch_rc rc)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0xA5)
            fz_fail("%s not poisoned at byte %zu after failure 0x%06x", what, i, rc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vouch_se se;
    static uint8_t out[2048], in[1100];
    static vouch_se_info info;
    vouch_se_config cfg;
    fake_bus bus;
    vouch_rc rc;
    size_t olen = 12345;
    unsigned flags;

    if (size < 2)
        return 0;
    memset(&bus, 0, sizeof bus);
    bus.p = data + 2;
    bus.left = size - 2;
    bus.framed = (data[1] & FZ_RSP_FRAMED) != 0;
    bus.se = &se;
    memset(&cfg, 0, sizeof cfg);
    cfg.transport = &fake_transport;
    cfg.transport_ctx = &bus;
    cfg.port = fz_port;
    cfg.timeout_ms = 1;
    cfg.max_retries = 2;
    cfg.busy_wait_ms = 1; /* E_BUSY sleeps; keep it short */
    if (vouch_se_init(&se, &cfg) != VOUCH_OK)
        fz_fail("vouch_se_init");
    flags = VOUCH_PLAIN;
    if (data[1] & FZ_RSP_SECURE) {
        if (vouch_se_set_host_keys(&se, fz_kmac, fz_kenc) != VOUCH_OK)
            fz_fail("vouch_se_set_host_keys");
        flags = VOUCH_SECURE;
    }
    memset(in, 0x5c, sizeof in);
    memset(out, 0, sizeof out);

    switch (data[0] % FZ_OP_COUNT_) {
    case FZ_OP_ECHO:
        rc = vouch_se_echo(&se, in, 32, out, 1024, &olen);
        if (rc != VOUCH_OK)
            poisoned(out, 1024, "echo output", rc);
        else if (olen > 1024)
            fz_fail("echo length %zu", olen);
        break;
    case FZ_OP_RANDOM:
        rc = vouch_se_random(&se, out, 40);
        if (rc != VOUCH_OK)
            poisoned(out, 40, "random output", rc);
        break;
    case FZ_OP_RANDOM_BIG:
        rc = vouch_se_random(&se, out, 1500);
        if (rc != VOUCH_OK)
            poisoned(out, 1500, "random output", rc);
        break;
    case FZ_OP_QUERY:
        rc = vouch_se_query(&se, &info);
        if (rc != VOUCH_OK)
            poisoned(&info, sizeof info, "query info", rc);
        else if (info.n_keys > VOUCH_SE_SLOTS || info.n_zones > VOUCH_SE_ZONES ||
                 memchr(info.product, 0, sizeof info.product) == NULL)
            fz_fail("query info out of bounds");
        break;
    case FZ_OP_READ:
        rc = vouch_se_read(&se, 0, 0, out, 1100, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 1100, "read output", rc);
        break;
    case FZ_OP_UPDATE:
        rc = vouch_se_update(&se, 3, 0, in, 1030, flags);
        break;
    case FZ_OP_DECREMENT: {
        uint32_t nv = 7;
        rc = vouch_se_decrement(&se, 5, 1, in, 4, flags, &nv);
        if (rc != VOUCH_OK && nv != 0xA5A5A5A5u)
            fz_fail("decrement value not poisoned");
        break;
    }
    case FZ_OP_ZONE_AC:
        rc = vouch_se_zone_ac(&se, 3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST, flags);
        break;
    case FZ_OP_KEYGEN_P256:
    case FZ_OP_KEYGEN_ED25519: {
        int p256 = data[0] % FZ_OP_COUNT_ == FZ_OP_KEYGEN_P256;
        rc = vouch_se_keygen(&se, p256 ? 1 : 2, p256 ? VOUCH_SE_ALG_P256 : VOUCH_SE_ALG_ED25519,
                             out, 65, &olen, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 65, "keygen output", rc);
        else if (olen != (p256 ? 65u : 32u))
            fz_fail("keygen length %zu", olen);
        break;
    }
    case FZ_OP_PUBKEY: {
        uint8_t alg = 0x77;
        rc = vouch_se_pubkey(&se, 1, &alg, out, 65, &olen);
        if (rc != VOUCH_OK)
            poisoned(out, 65, "pubkey output", rc);
        else if (!((alg == VOUCH_SE_ALG_P256 && olen == 65) ||
                   ((alg == VOUCH_SE_ALG_ED25519 || alg == VOUCH_SE_ALG_X25519) && olen == 32)))
            fz_fail("pubkey alg %u length %zu", alg, olen);
        break;
    }
    case FZ_OP_SIGN:
        rc = vouch_se_sign(&se, 1, in, 32, out, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 64, "signature", rc);
        break;
    case FZ_OP_VERIFY:
    case FZ_OP_VERIFY_ZONE: {
        int valid = 7;
        if (data[0] % FZ_OP_COUNT_ == FZ_OP_VERIFY)
            rc = vouch_se_verify(&se, VOUCH_SE_ALG_P256, in, 65, in, 32, in, &valid);
        else
            rc = vouch_se_verify_zone(&se, 2, in, 32, in, &valid);
        if (rc != VOUCH_OK ? valid != 0 : (valid != 0 && valid != 1))
            fz_fail("verify result %d with status 0x%06x", valid, rc);
        break;
    }
    case FZ_OP_ECDH:
        rc = vouch_se_ecdh(&se, 0, in, 65, out, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 32, "ECDH secret", rc);
        break;
    case FZ_OP_WRAP:
        rc = vouch_se_wrap(&se, 0, in, 20, out, 64, &olen, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 64, "wrap output", rc);
        else if (olen != 32)
            fz_fail("wrap length %zu", olen);
        break;
    case FZ_OP_UNWRAP:
        rc = vouch_se_unwrap(&se, 0, in, 32, out, 64, &olen, flags);
        if (rc != VOUCH_OK)
            poisoned(out, 64, "unwrap output", rc);
        else if (olen == 0 || olen > 24)
            fz_fail("unwrap length %zu", olen);
        break;
    case FZ_OP_LIFECYCLE:
        rc = vouch_se_lifecycle(&se, VOUCH_SE_LC_OPERATIONAL, flags);
        break;
    case FZ_OP_HIBERNATE:
        rc = vouch_se_hibernate(&se);
        break;
    case FZ_OP_WAKE:
        rc = vouch_se_wake(&se);
        break;
    case FZ_OP_PUT_HOST_KEYS:
        rc = vouch_se_put_host_keys(&se, fz_kenc, fz_kmac, flags);
        break;
    default:
        rc = vouch_se_reset(&se);
        break;
    }
    const char *msg = vouch_strerror(rc);
    if (!msg || !*msg)
        fz_fail("vouch_strerror(0x%06x) gives no words", rc);
    vouch_se_close(&se);
    return 0;
}
