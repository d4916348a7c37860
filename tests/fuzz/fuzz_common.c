/* See fuzz_common.h. */
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

const uint8_t fz_kmac[VOUCH_SE_HOST_KEY_LEN] = {0x4b, 0x6d, 0x61, 0x63, 0x2d, 0x66, 0x75, 0x7a,
                                               0x7a, 0x2d, 0x76, 0x6f, 0x75, 0x63, 0x68, 0x01};
const uint8_t fz_kenc[VOUCH_SE_HOST_KEY_LEN] = {0x4b, 0x65, 0x6e, 0x63, 0x2d, 0x66, 0x75, 0x7a,
                                               0x7a, 0x2d, 0x76, 0x6f, 0x75, 0x63, 0x68, 0x02};

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FUZZ ORACLE: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- deterministic port --------------------------------------------------- */

static uint64_t rng_state;

/* Runs and chip creation draw from different points of the stream, so that
 * RANDOM in a run never hands out the bytes the serial and the envelope keys
 * were made from (the leak oracle would take them for a leak). */
void fz_rng_reset(void)
{
    rng_state = 0x766f7563682d667aULL;
}

static void rng_seed_birth(void)
{
    rng_state = 0x62697274682d3031ULL;
}

static int det_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        /* splitmix64, one byte per step: speed is irrelevant here */
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        out[i] = (uint8_t)(z ^ (z >> 31));
    }
    return 0;
}

static vouch_crypto_port det_port;
const vouch_crypto_port *fz_port = &det_port;

/* ---- commit ----------------------------------------------------------------- */

int fz_commit_fail;
int fz_commit_called;
uint8_t fz_last_blob[VOUCH_SE_STATE_MAX];
size_t fz_last_blob_len;

void fz_commit_reset(void)
{
    fz_commit_called = 0;
    fz_last_blob_len = 0;
}

int fz_commit(void *ctx, const uint8_t *blob, size_t len)
{
    static vouch_se_pstate check;
    (void)ctx;
    if (len == 0 || len > VOUCH_SE_STATE_MAX)
        fz_fail("commit: blob of %zu bytes", len);
    if (vouch_se_state_parse(&check, blob, len) != 0)
        fz_fail("commit: the core committed a blob its own parser rejects (%zu bytes)", len);
    if (fz_commit_fail)
        return -1;
    memcpy(fz_last_blob, blob, len);
    fz_last_blob_len = len;
    fz_commit_called++;
    return 0;
}

/* ---- keys ------------------------------------------------------------------- */

void fz_key(uint8_t alg, unsigned n, vouch_se_slot *out)
{
    uint8_t seed[32];
    char label[48];
    int ok = 0;

    memset(out, 0, sizeof *out);
    snprintf(label, sizeof label, "vouch-fuzz key alg %u n %u", alg, n);
    SHA256((const unsigned char *)label, strlen(label), seed);
    out->alg = alg;
    memcpy(out->priv, seed, 32);

    if (alg == VOUCH_SE_ALG_P256) {
        EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
        EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
        BIGNUM *k = BN_bin2bn(seed, 32, NULL);
        ok = g && pt && k && EC_POINT_mul(g, pt, k, NULL, NULL, NULL) == 1 &&
             EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, out->pub, 65, NULL) == 65;
        BN_free(k);
        EC_POINT_free(pt);
        EC_GROUP_free(g);
    } else if (alg == VOUCH_SE_ALG_ED25519 || alg == VOUCH_SE_ALG_X25519) {
        EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(
            alg == VOUCH_SE_ALG_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519, NULL, seed, 32);
        size_t publen = 32;
        ok = pk && EVP_PKEY_get_raw_public_key(pk, out->pub, &publen) == 1 && publen == 32;
        EVP_PKEY_free(pk);
    }
    if (!ok)
        fz_fail("fz_key: cannot derive alg %u key %u", alg, n);
}

/* ---- framing ---------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void cmac8(const uint8_t *key, const uint8_t *msg, size_t len, uint8_t out[8])
{
    uint8_t tag[16];
    if (det_port.aes_cmac(det_port.ctx, key, msg, len, tag) != 0)
        fz_fail("port aes_cmac failed");
    memcpy(out, tag, 8);
}

/* 0x00 | ctr | hdr | plen | payload */
static void cmd_mac(const uint8_t *key, uint32_t ctr, uint8_t hdr, const uint8_t *payload,
                    size_t plen, uint8_t out[8])
{
    static uint8_t buf[8 + VOUCH_SE_MAX_PAYLOAD];
    buf[0] = VOUCH_SE_DIR_CMD;
    put32(buf + 1, ctr);
    buf[5] = hdr;
    put16(buf + 6, (uint16_t)plen);
    memcpy(buf + 8, payload, plen);
    cmac8(key, buf, 8 + plen, out);
}

size_t fz_frame(uint8_t *out, size_t size, uint8_t hdr, const uint8_t *payload, size_t plen,
                uint32_t ctr, const uint8_t *kmac)
{
    size_t n = 1 + plen + ((hdr & VOUCH_SE_HDR_CMAC) ? 12 : 0) + 2;
    if (n > size || plen > VOUCH_SE_MAX_PAYLOAD)
        return 0;
    out[0] = hdr;
    if (plen)
        memcpy(out + 1, payload, plen);
    if (hdr & VOUCH_SE_HDR_CMAC) {
        put32(out + 1 + plen, ctr);
        cmd_mac(kmac, ctr, hdr, payload, plen, out + 1 + plen + 4);
    }
    put16(out + n - 2, vouch_crc16_x25(out, n - 2));
    return n;
}

/* ---- oracles ---------------------------------------------------------------- */

uint8_t fz_check_rsp_frame(const uint8_t *rsp, size_t rsp_len, const uint8_t **data,
                           size_t *data_len)
{
    if (rsp_len < 5 || rsp_len > VOUCH_SE_RSP_FRAME_MAX)
        fz_fail("response of %zu bytes", rsp_len);
    if (vouch_crc16_x25(rsp, rsp_len - 2) != get16(rsp + rsp_len - 2))
        fz_fail("response CRC wrong");
    uint8_t st = rsp[0];
    uint8_t code = st & VOUCH_SE_STATUS_MASK;
    size_t dl = get16(rsp + 1);
    if (code >= VOUCH_SE_STATUS_COUNT_)
        fz_fail("response status 0x%02x unknown", st);
    if (dl > VOUCH_SE_MAX_PAYLOAD)
        fz_fail("response length %zu over the maximum", dl);
    if (3 + dl + ((st & VOUCH_SE_STATUS_RMAC) ? 8 : 0) + 2 != rsp_len)
        fz_fail("response length field %zu does not match a %zu-byte frame", dl, rsp_len);
    if (code != VOUCH_SE_OK && dl != 0)
        fz_fail("error response 0x%02x carries %zu data bytes", code, dl);
    *data = rsp + 3;
    *data_len = dl;
    return st;
}

int fz_check_leaks = 1;

/* A wiped key (TERMINATED zeroes them) is no secret, and zeros are in every
 * zone: only a key with some non-zero byte counts. */
static int found(const uint8_t *data, size_t dl, const uint8_t *key, size_t n)
{
    size_t i;
    for (i = 0; i < n && key[i] == 0; i++)
        ;
    return i < n && memmem(data, dl, key, n) != NULL;
}

static const char *leak_in(const uint8_t *data, size_t dl, const vouch_se_core *pre)
{
    const vouch_se_pstate *s = &pre->live;
    for (unsigned i = 0; i < VOUCH_SE_SLOTS; i++)
        if (s->slots[i].alg != VOUCH_SE_ALG_NONE && found(data, dl, s->slots[i].priv, 32))
            return "a slot private key";
    if (pre->ephemeral.alg != VOUCH_SE_ALG_NONE && found(data, dl, pre->ephemeral.priv, 32))
        return "the ephemeral private key";
    for (unsigned i = 0; i < VOUCH_SE_ENVELOPE_KEYS; i++)
        if (found(data, dl, s->envelope[i], 32))
            return "an envelope key";
    if (s->host_keys_set &&
        (found(data, dl, s->host_mac_key, 16) || found(data, dl, s->host_enc_key, 16)))
        return "a host key";
    return NULL;
}

static int is_frame_refusal(uint8_t code)
{
    return code == VOUCH_SE_E_CRC || code == VOUCH_SE_E_FRAME ||
           code == VOUCH_SE_E_UNKNOWN_CMD || code == VOUCH_SE_E_ASLEEP ||
           code == VOUCH_SE_E_MAC || code == VOUCH_SE_E_REPLAY;
}

static int same_state(const vouch_se_pstate *a, const vouch_se_pstate *b, int ignore_counter)
{
    static vouch_se_pstate ca, cb;
    static uint8_t sa[VOUCH_SE_STATE_MAX], sb[VOUCH_SE_STATE_MAX];
    ca = *a;
    cb = *b;
    if (ignore_counter)
        ca.host_counter = cb.host_counter = 0;
    size_t na = vouch_se_state_serialize(&ca, sa, sizeof sa);
    size_t nb = vouch_se_state_serialize(&cb, sb, sizeof sb);
    if (na == 0 || nb == 0)
        fz_fail("state does not serialize");
    return na == nb && memcmp(sa, sb, na) == 0;
}

void fz_check(const vouch_se_core *pre, const vouch_se_core *post, const uint8_t *cmd,
              size_t cmd_len, const uint8_t *rsp, size_t rsp_len)
{
    static uint8_t plain[VOUCH_SE_MAX_PAYLOAD];
    static uint8_t ser[VOUCH_SE_STATE_MAX];
    const uint8_t *data;
    size_t dl;
    uint8_t st = fz_check_rsp_frame(rsp, rsp_len, &data, &dl);
    uint8_t code = st & VOUCH_SE_STATUS_MASK;

    /* Our own reading of steps 1-4 of the frame checks (protocol 1.4). */
    uint8_t want = 0xFF; /* 0xFF: the frame passes steps 1-4 */
    uint8_t hdr = cmd_len ? cmd[0] : 0;
    int cmac = (hdr & VOUCH_SE_HDR_CMAC) != 0;
    size_t body = cmd_len >= 3 ? cmd_len - 3 : 0;
    size_t plen = cmac && body >= 12 ? body - 12 : body;
    if (cmd_len < 3)
        want = VOUCH_SE_E_FRAME;
    else if (vouch_crc16_x25(cmd, cmd_len - 2) != get16(cmd + cmd_len - 2))
        want = VOUCH_SE_E_CRC;
    else if ((hdr & VOUCH_SE_HDR_RSVD) || ((hdr & VOUCH_SE_HDR_RMAC) && !cmac) ||
             (cmac && body < 12) || plen > VOUCH_SE_MAX_PAYLOAD)
        want = VOUCH_SE_E_FRAME;
    else if ((hdr & VOUCH_SE_HDR_CMD_MASK) >= VOUCH_SE_CMD_COUNT_)
        want = VOUCH_SE_E_UNKNOWN_CMD;
    if (want != 0xFF && code != want)
        fz_fail("frame checks: status 0x%02x, protocol 1.4 says 0x%02x", code, want);
    if (want == 0xFF && (code == VOUCH_SE_E_CRC || code == VOUCH_SE_E_FRAME ||
                         code == VOUCH_SE_E_UNKNOWN_CMD))
        fz_fail("frame checks: status 0x%02x for a well-formed frame", code);

    uint8_t cmd_code = hdr & VOUCH_SE_HDR_CMD_MASK;
    int asleep = pre->power == VOUCH_SE_POWER_HIBERNATE;
    if (want == 0xFF && asleep && cmd_code != VOUCH_SE_CMD_WAKE && code != VOUCH_SE_E_ASLEEP)
        fz_fail("hibernating chip answered 0x%02x to command 0x%02x", code, cmd_code);

    /* Secure channel (protocol 2.1, 2.2). */
    int mac_ok = 0;
    uint32_t ctr = 0;
    if (want == 0xFF && cmac && code != VOUCH_SE_E_ASLEEP) {
        uint8_t m[8];
        ctr = get32(cmd + 1 + plen);
        if (!pre->live.host_keys_set) {
            if (code != VOUCH_SE_E_MAC)
                fz_fail("C-MAC without host keys answered 0x%02x, not E_MAC", code);
        } else {
            cmd_mac(pre->live.host_mac_key, ctr, hdr, cmd + 1, plen, m);
            if (memcmp(m, cmd + 1 + plen + 4, 8) != 0) {
                if (code != VOUCH_SE_E_MAC)
                    fz_fail("wrong C-MAC answered 0x%02x, not E_MAC", code);
            } else if (ctr <= pre->live.host_counter) {
                if (code != VOUCH_SE_E_REPLAY)
                    fz_fail("counter %u <= last %u answered 0x%02x, not E_REPLAY", ctr,
                            pre->live.host_counter, code);
            } else {
                if (code == VOUCH_SE_E_MAC || code == VOUCH_SE_E_REPLAY)
                    fz_fail("valid C-MAC, counter %u > last %u, refused 0x%02x", ctr,
                            pre->live.host_counter, code);
                mac_ok = 1;
            }
        }
    }
    int rmac_due = mac_ok && (hdr & VOUCH_SE_HDR_RMAC);
    if (!rmac_due && (st & VOUCH_SE_STATUS_RMAC))
        fz_fail("R-MAC on a response that did not ask for one (status 0x%02x)", st);
    if (rmac_due) {
        static uint8_t buf[9 + VOUCH_SE_MAX_PAYLOAD];
        uint8_t m[8];
        if (!(st & VOUCH_SE_STATUS_RMAC))
            fz_fail("R-MAC asked for and C-MAC accepted, response 0x%02x has none", st);
        buf[0] = VOUCH_SE_DIR_RSP;
        put32(buf + 1, ctr);
        buf[5] = hdr;
        buf[6] = st;
        put16(buf + 7, (uint16_t)dl);
        memcpy(buf + 9, data, dl);
        cmac8(pre->live.host_mac_key, buf, 9 + dl, m);
        int good = memcmp(m, data + dl, 8) == 0;
        if (!good && cmd_code == VOUCH_SE_CMD_HOST_KEYS && post->live.host_keys_set) {
            cmac8(post->live.host_mac_key, buf, 9 + dl, m);
            good = memcmp(m, data + dl, 8) == 0;
        }
        if (!good)
            fz_fail("R-MAC wrong (command 0x%02x, status 0x%02x)", cmd_code, st);
    }

    /* Atomicity (core.h): refusals change nothing, a failed commit changes
     * nothing, and whatever did change was committed. */
    if (is_frame_refusal(code) || fz_commit_fail) {
        if (!same_state(&pre->live, &post->live, 0))
            fz_fail("persistent state changed although %s (status 0x%02x)",
                    fz_commit_fail ? "every commit failed" : "the frame was refused", code);
    } else if (code != VOUCH_SE_OK) {
        if (!same_state(&pre->live, &post->live, 1))
            fz_fail("persistent state changed by a command that failed with 0x%02x", code);
    }
    if (mac_ok && !fz_commit_fail && code != VOUCH_SE_E_STORAGE &&
        post->live.host_counter != ctr)
        fz_fail("accepted C-MAC counter %u not recorded (last is %u, status 0x%02x)", ctr,
                post->live.host_counter, code);
    if (!same_state(&pre->live, &post->live, 0)) {
        size_t n = vouch_se_state_serialize(&post->live, ser, sizeof ser);
        if (!fz_commit_called || n != fz_last_blob_len || memcmp(ser, fz_last_blob, n) != 0)
            fz_fail("live state changed (status 0x%02x) but was not committed as is", code);
    }

    /* Secrets never leave (protocol 6). ECHO returns its input by design. */
    if (fz_check_leaks && code == VOUCH_SE_OK && dl && cmd_code != VOUCH_SE_CMD_ECHO) {
        const uint8_t *look = data;
        if (mac_ok && pre->live.host_keys_set &&
            (cmd_code == VOUCH_SE_CMD_READ || cmd_code == VOUCH_SE_CMD_ECDH ||
             cmd_code == VOUCH_SE_CMD_UNWRAP)) {
            uint8_t iv[16] = {VOUCH_SE_DIR_RSP};
            put32(iv + 1, ctr);
            if (det_port.aes_ctr(det_port.ctx, pre->live.host_enc_key, iv, data, plain, dl) != 0)
                fz_fail("port aes_ctr failed");
            look = plain;
        }
        const char *what = leak_in(look, dl, pre);
        if (what)
            fz_fail("command 0x%02x returned %s", cmd_code, what);
    }
}

/* ---- pristine chips --------------------------------------------------------- */

static vouch_se_core *pristine[FZ_V_COUNT_];

const vouch_se_core *fz_pristine(int variant)
{
    return pristine[variant];
}

/* One setup command; it must succeed. */
static void setup(vouch_se_core *c, uint8_t cmd, int mac, const uint8_t *payload, size_t plen)
{
    static vouch_se_core pre;
    static uint8_t frame[VOUCH_SE_CMD_FRAME_MAX], rsp[VOUCH_SE_RSP_FRAME_MAX];
    uint8_t hdr = (uint8_t)(cmd | (mac ? VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC : 0));
    size_t n = fz_frame(frame, sizeof frame, hdr, payload, plen, c->live.host_counter + 1,
                        c->live.host_mac_key);
    pre = *c;
    fz_commit_reset();
    size_t r = vouch_se_core_process(c, frame, n, rsp, sizeof rsp);
    fz_check(&pre, c, frame, n, rsp, r);
    if ((rsp[0] & VOUCH_SE_STATUS_MASK) != VOUCH_SE_OK)
        fz_fail("setup: command 0x%02x answered 0x%02x", cmd, rsp[0]);
}

static void setup_update(vouch_se_core *c, uint8_t zone, const uint8_t *d, size_t n)
{
    uint8_t p[3 + 600];
    p[0] = zone;
    put16(p + 1, 0);
    memcpy(p + 3, d, n);
    setup(c, VOUCH_SE_CMD_UPDATE, 0, p, 3 + n);
}

static void setup_decrement(vouch_se_core *c, uint8_t zone, uint32_t amount, const char *data)
{
    uint8_t p[5 + 32];
    size_t n = data ? strlen(data) : 0;
    p[0] = zone;
    put32(p + 1, amount);
    memcpy(p + 5, data ? data : "", n);
    setup(c, VOUCH_SE_CMD_DECREMENT, 0, p, 5 + n);
}

static void setup_ac(vouch_se_core *c, int mac, uint8_t zone, uint8_t rac, uint8_t uac)
{
    uint8_t p[3] = {zone, rac, uac};
    setup(c, VOUCH_SE_CMD_ZONE_AC, mac, p, 3);
}

static void build(vouch_se_core *c, int v)
{
    static uint8_t blob[VOUCH_SE_STATE_MAX];
    static vouch_se_pstate st;
    uint8_t buf[600];

    rng_seed_birth();
    fz_commit_reset();
    if (vouch_se_core_create(c, fz_port, fz_commit, NULL) != 0)
        fz_fail("vouch_se_core_create failed");
    if (v == FZ_V_FRESH)
        return;

    /* Keys by state load, so they are the same in every process. */
    st = c->live;
    fz_key(VOUCH_SE_ALG_P256, 0, &st.slots[0]);
    fz_key(VOUCH_SE_ALG_ED25519, 1, &st.slots[1]);
    fz_key(VOUCH_SE_ALG_X25519, 2, &st.slots[2]);
    fz_key(VOUCH_SE_ALG_P256, 3, &st.slots[3]);
    size_t n = vouch_se_state_serialize(&st, blob, sizeof blob);
    if (n == 0 || vouch_se_core_load(c, fz_port, fz_commit, NULL, blob, n) != 0)
        fz_fail("vouch_se_core_load of the keyed state failed");

    /* Zones: a DER-looking certificate, an anchor, verification keys in the
     * alg(1) key(n) form, application data, counters part used. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    buf[0] = 0x30, buf[1] = 0x82, buf[2] = 0x01, buf[3] = 0x2c;
    setup_update(c, 0, buf, 300);
    setup_update(c, 1, buf, 200);
    buf[0] = VOUCH_SE_ALG_P256;
    memcpy(buf + 1, st.slots[0].pub, 65);
    setup_update(c, 2, buf, 66);
    buf[0] = VOUCH_SE_ALG_ED25519;
    memcpy(buf + 1, st.slots[1].pub, 32);
    setup_update(c, 3, buf, 33);
    setup_update(c, 4, (const uint8_t *)"application data", 16);
    setup_decrement(c, 5, 0xFFFFFFFFu - 1000u, "fw security counter");
    setup_decrement(c, 7, 0xFFFFFFFFu - 5u, NULL);

    if (v != FZ_V_NOHOST) {
        memcpy(buf, fz_kmac, 16);
        memcpy(buf + 16, fz_kenc, 16);
        setup(c, VOUCH_SE_CMD_HOST_KEYS, 0, buf, 32);
        setup_ac(c, 1, 1, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_HOST);
        setup_ac(c, 1, 2, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_NEVER);
        setup_ac(c, 1, 4, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST);
        setup_ac(c, 1, 5, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_HOST);
        setup_ac(c, 1, 7, VOUCH_SE_AC_HOST, VOUCH_SE_AC_ALWAYS);
    } else {
        setup_ac(c, 0, 2, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_NEVER);
        setup_ac(c, 0, 4, VOUCH_SE_AC_NEVER, VOUCH_SE_AC_NEVER);
    }
    if (v == FZ_V_OPER || v == FZ_V_TERM) {
        uint8_t lc = v == FZ_V_OPER ? VOUCH_SE_LC_OPERATIONAL : VOUCH_SE_LC_TERMINATED;
        setup(c, VOUCH_SE_CMD_LIFECYCLE, 1, &lc, 1);
    }
    /* The ephemeral slot is volatile, so it is set directly. */
    if (v == FZ_V_PERSO || v == FZ_V_NOHOST)
        fz_key(VOUCH_SE_ALG_P256, 9, &c->ephemeral);
    else if (v == FZ_V_OPER)
        fz_key(VOUCH_SE_ALG_X25519, 9, &c->ephemeral);
}

void fz_init(void)
{
    if (pristine[0])
        return;
    det_port = *vouch_port_openssl();
    det_port.random = det_random;
    for (int v = 0; v < FZ_V_COUNT_; v++) {
        pristine[v] = malloc(sizeof(vouch_se_core));
        if (!pristine[v])
            fz_fail("out of memory");
        build(pristine[v], v);
    }
    fz_commit_reset();
    fz_rng_reset();
}
