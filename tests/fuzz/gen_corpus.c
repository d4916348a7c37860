/*
 * Writes the seed corpus of every fuzz target: valid frames and payloads
 * (several of them with real signatures, wraps and MACs, so the seeds reach
 * the success paths), each a few bytes to a few KiB.
 *
 *   gen_fuzz_corpus DIR      writes DIR/<target>/<seed>
 *
 * The seeds depend only on the constants in fuzz_common.c (keys, host keys,
 * the deterministic random stream), so regenerating gives the same bytes
 * except the ECDSA signatures, whose nonces are random.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "fuzz_common.h"

static const char *root;

/* fuzz_cmd input flags (fuzz_cmd.c) */
#define P 0x00u                   /* PERSONALIZATION, plain */
#define PM 0x03u                  /* PERSONALIZATION, C-MAC + R-MAC */
#define O 0x04u                   /* OPERATIONAL, plain */
#define OM 0x07u                  /* OPERATIONAL, C-MAC + R-MAC */
#define TM 0x0Bu                  /* TERMINATED, C-MAC + R-MAC */
#define N 0x0Cu                   /* no host keys, plain */
#define STORE_FAIL 0x10u
#define ASLEEP 0x20u

static void mkdirs(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
}

static void write_file(const char *target, const char *name, const uint8_t *d, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- fuzz_cmd_* ------------------------------------------------------------ */

static const char *const cmd_names[VOUCH_SE_CMD_COUNT_] = {
    "echo",   "reset",  "random", "query",  "read",      "update",    "decrement",
    "keygen", "pubkey", "sign",   "verify", "ecdh",      "wrap",      "unwrap",
    "lifecycle", "hibernate", "wake", "zone_ac", "host_keys"};

static int seed_no;

/* seed(cmd, flags, bytes...) with a byte list */
static void seedv(uint8_t cmd, uint8_t flags, const uint8_t *payload, size_t n)
{
    uint8_t buf[1 + VOUCH_SE_MAX_PAYLOAD];
    char target[64], name[32];
    buf[0] = flags;
    if (n)
        memcpy(buf + 1, payload, n);
    snprintf(target, sizeof target, "fuzz_cmd_%s", cmd_names[cmd]);
    snprintf(name, sizeof name, "seed-%02d", ++seed_no);
    write_file(target, name, buf, 1 + n);
}

#define SEED(cmd, flags, ...)                                                  \
    do {                                                                       \
        const uint8_t b_[] = {__VA_ARGS__};                                    \
        seedv(cmd, flags, b_, sizeof b_);                                      \
    } while (0)
#define SEED0(cmd, flags) seedv(cmd, flags, NULL, 0)

/* Concatenation helper for the longer payloads. */
typedef struct {
    uint8_t b[VOUCH_SE_MAX_PAYLOAD];
    size_t n;
} buf_t;
static void b_u8(buf_t *b, uint8_t v)
{
    b->b[b->n++] = v;
}
static void b_put(buf_t *b, const void *d, size_t n)
{
    memcpy(b->b + b->n, d, n);
    b->n += n;
}
static void b_fill(buf_t *b, uint8_t v, size_t n)
{
    memset(b->b + b->n, v, n);
    b->n += n;
}

static void cmd_seeds(void)
{
    const vouch_crypto_port *port = fz_port;
    vouch_se_slot k_p256, k_ed, k_eph, peer_p, peer_x;
    uint8_t digest[32], sig[64], wrapped[512];
    size_t wlen;
    buf_t b;
    const char *msg = "firmware image 1.2.3";

    fz_key(VOUCH_SE_ALG_P256, 0, &k_p256);
    fz_key(VOUCH_SE_ALG_ED25519, 1, &k_ed);
    fz_key(VOUCH_SE_ALG_P256, 9, &k_eph);
    fz_key(VOUCH_SE_ALG_P256, 5, &peer_p);
    fz_key(VOUCH_SE_ALG_X25519, 5, &peer_x);
    SHA256((const unsigned char *)msg, strlen(msg), digest);

    SEED0(VOUCH_SE_CMD_ECHO, P);
    SEED(VOUCH_SE_CMD_ECHO, PM, 'h', 'e', 'l', 'l', 'o');
    b.n = 0;
    b_fill(&b, 0x5a, 32);
    seedv(VOUCH_SE_CMD_ECHO, OM, b.b, b.n);
    SEED(VOUCH_SE_CMD_ECHO, STORE_FAIL | PM, 'x');

    SEED0(VOUCH_SE_CMD_RESET, P);
    SEED0(VOUCH_SE_CMD_RESET, PM);
    SEED(VOUCH_SE_CMD_RESET, P, 0);

    SEED(VOUCH_SE_CMD_RANDOM, P, 0x00, 0x20);
    SEED(VOUCH_SE_CMD_RANDOM, PM, 0x04, 0x00);
    SEED(VOUCH_SE_CMD_RANDOM, P, 0x00, 0x00);
    SEED(VOUCH_SE_CMD_RANDOM, OM, 0x04, 0x01);

    SEED(VOUCH_SE_CMD_QUERY, P, VOUCH_SE_Q_SERIAL);
    SEED(VOUCH_SE_CMD_QUERY, P, VOUCH_SE_Q_PRODUCT);
    SEED(VOUCH_SE_CMD_QUERY, PM, VOUCH_SE_Q_KEYS);
    SEED(VOUCH_SE_CMD_QUERY, O, VOUCH_SE_Q_ZONES);
    SEED(VOUCH_SE_CMD_QUERY, OM, VOUCH_SE_Q_HOST);
    SEED(VOUCH_SE_CMD_QUERY, N, VOUCH_SE_Q_LIFECYCLE);

    SEED(VOUCH_SE_CMD_READ, P, 0, 0x00, 0x00, 0x00, 0x10);
    SEED(VOUCH_SE_CMD_READ, PM, 4, 0x00, 0x00, 0x00, 0x10);
    SEED(VOUCH_SE_CMD_READ, P, 5, 0x00, 0x00, 0x00, 0x24);
    SEED(VOUCH_SE_CMD_READ, O, 2, 0x00, 0x00, 0x00, 0x42);
    SEED(VOUCH_SE_CMD_READ, P, 0, 0x07, 0xff, 0x00, 0x02);

    SEED(VOUCH_SE_CMD_UPDATE, P, 3, 0x00, 0x00, 'a', 'b', 'c');
    SEED(VOUCH_SE_CMD_UPDATE, PM, 4, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8);
    SEED(VOUCH_SE_CMD_UPDATE, OM, 1, 0x00, 0x00, 0xca, 0xfe);
    SEED(VOUCH_SE_CMD_UPDATE, P, 0, 0x07, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
         15, 16, 17);
    SEED(VOUCH_SE_CMD_UPDATE, STORE_FAIL | P, 3, 0x00, 0x00, 'z');

    SEED(VOUCH_SE_CMD_DECREMENT, PM, 5, 0, 0, 0, 1);
    SEED(VOUCH_SE_CMD_DECREMENT, P, 6, 0, 0, 0, 1, 'v', '2');
    SEED(VOUCH_SE_CMD_DECREMENT, P, 7, 0, 0, 0, 0);
    SEED(VOUCH_SE_CMD_DECREMENT, P, 7, 0, 0, 0, 9);

    SEED(VOUCH_SE_CMD_KEYGEN, P, 1, VOUCH_SE_ALG_P256);
    SEED(VOUCH_SE_CMD_KEYGEN, PM, 2, VOUCH_SE_ALG_ED25519);
    SEED(VOUCH_SE_CMD_KEYGEN, OM, VOUCH_SE_SLOT_EPHEMERAL, VOUCH_SE_ALG_X25519);
    SEED(VOUCH_SE_CMD_KEYGEN, OM, 0, VOUCH_SE_ALG_P256);
    SEED(VOUCH_SE_CMD_KEYGEN, N, 3, VOUCH_SE_ALG_X25519);

    SEED(VOUCH_SE_CMD_PUBKEY, P, 0);
    SEED(VOUCH_SE_CMD_PUBKEY, O, 1);
    SEED(VOUCH_SE_CMD_PUBKEY, P, VOUCH_SE_SLOT_EPHEMERAL);
    SEED(VOUCH_SE_CMD_PUBKEY, TM, 2);

    b.n = 0;
    b_u8(&b, 0);
    b_put(&b, digest, 32);
    seedv(VOUCH_SE_CMD_SIGN, P, b.b, b.n);
    b.n = 0;
    b_u8(&b, 1);
    b_put(&b, msg, strlen(msg));
    seedv(VOUCH_SE_CMD_SIGN, PM, b.b, b.n);
    b.b[0] = 3;
    seedv(VOUCH_SE_CMD_SIGN, OM, b.b, 33);
    b.b[0] = 2;
    seedv(VOUCH_SE_CMD_SIGN, P, b.b, 33);

    /* VERIFY: real signatures, key given and key in zones 2 (P-256) and 3
     * (Ed25519) */
    if (port->p256_sign(port->ctx, k_p256.priv, digest, sig) != 0)
        fz_fail("p256_sign");
    b.n = 0;
    b_u8(&b, VOUCH_SE_VERIFY_KEY);
    b_u8(&b, VOUCH_SE_ALG_P256);
    b_put(&b, k_p256.pub, 65);
    b_put(&b, sig, 64);
    b_put(&b, digest, 32);
    seedv(VOUCH_SE_CMD_VERIFY, P, b.b, b.n);
    b.n = 0;
    b_u8(&b, VOUCH_SE_VERIFY_ZONE);
    b_u8(&b, 2);
    b_put(&b, sig, 64);
    b_put(&b, digest, 32);
    seedv(VOUCH_SE_CMD_VERIFY, O, b.b, b.n);
    if (port->ed25519_sign(port->ctx, k_ed.priv, (const uint8_t *)msg, strlen(msg), sig) != 0)
        fz_fail("ed25519_sign");
    b.n = 0;
    b_u8(&b, VOUCH_SE_VERIFY_KEY);
    b_u8(&b, VOUCH_SE_ALG_ED25519);
    b_put(&b, k_ed.pub, 32);
    b_put(&b, sig, 64);
    b_put(&b, msg, strlen(msg));
    seedv(VOUCH_SE_CMD_VERIFY, PM, b.b, b.n);
    b.n = 0;
    b_u8(&b, VOUCH_SE_VERIFY_ZONE);
    b_u8(&b, 3);
    b_put(&b, sig, 64);
    b_put(&b, msg, strlen(msg));
    seedv(VOUCH_SE_CMD_VERIFY, P, b.b, b.n);

    b.n = 0;
    b_u8(&b, 0);
    b_put(&b, peer_p.pub, 65);
    seedv(VOUCH_SE_CMD_ECDH, PM, b.b, b.n);
    seedv(VOUCH_SE_CMD_ECDH, P, b.b, b.n);
    b.b[0] = VOUCH_SE_SLOT_EPHEMERAL;
    seedv(VOUCH_SE_CMD_ECDH, PM, b.b, b.n);
    b.n = 0;
    b_u8(&b, 2);
    b_put(&b, peer_x.pub, 32);
    seedv(VOUCH_SE_CMD_ECDH, OM, b.b, b.n);
    b.b[0] = VOUCH_SE_SLOT_EPHEMERAL;
    seedv(VOUCH_SE_CMD_ECDH, OM, b.b, b.n);
    (void)k_eph;

    b.n = 0;
    b_u8(&b, 0);
    b_fill(&b, 0x42, 16);
    seedv(VOUCH_SE_CMD_WRAP, PM, b.b, b.n);
    b.n = 0;
    b_u8(&b, 1);
    b_fill(&b, 0x43, 41);
    seedv(VOUCH_SE_CMD_WRAP, OM, b.b, b.n);
    SEED(VOUCH_SE_CMD_WRAP, N, 0, 0x01);

    /* UNWRAP of real wraps under the pristine chips' envelope keys (they
     * come from the deterministic stream) */
    const vouch_se_core *perso = fz_pristine(FZ_V_PERSO);
    const vouch_se_core *nohost = fz_pristine(FZ_V_NOHOST);
    uint8_t plain[40];
    memset(plain, 0x61, sizeof plain);
    if (port->aes_wrap(port->ctx, perso->live.envelope[0], plain, 13, wrapped, sizeof wrapped,
                       &wlen) != 0)
        fz_fail("aes_wrap");
    b.n = 0;
    b_u8(&b, 0);
    b_put(&b, wrapped, wlen);
    seedv(VOUCH_SE_CMD_UNWRAP, PM, b.b, b.n);
    if (port->aes_wrap(port->ctx, nohost->live.envelope[1], plain, 40, wrapped, sizeof wrapped,
                       &wlen) != 0)
        fz_fail("aes_wrap");
    b.n = 0;
    b_u8(&b, 1);
    b_put(&b, wrapped, wlen);
    seedv(VOUCH_SE_CMD_UNWRAP, N, b.b, b.n);
    b.n = 0;
    b_u8(&b, 0);
    b_fill(&b, 0, 16);
    seedv(VOUCH_SE_CMD_UNWRAP, PM, b.b, b.n);

    SEED(VOUCH_SE_CMD_LIFECYCLE, PM, VOUCH_SE_LC_OPERATIONAL);
    SEED(VOUCH_SE_CMD_LIFECYCLE, OM, VOUCH_SE_LC_TERMINATED);
    SEED(VOUCH_SE_CMD_LIFECYCLE, PM, VOUCH_SE_LC_PERSONALIZATION);
    SEED(VOUCH_SE_CMD_LIFECYCLE, N, VOUCH_SE_LC_TERMINATED);
    SEED(VOUCH_SE_CMD_LIFECYCLE, STORE_FAIL | PM, VOUCH_SE_LC_TERMINATED);

    SEED0(VOUCH_SE_CMD_HIBERNATE, P);
    SEED0(VOUCH_SE_CMD_HIBERNATE, PM);
    SEED0(VOUCH_SE_CMD_HIBERNATE, ASLEEP | P);

    SEED0(VOUCH_SE_CMD_WAKE, P);
    SEED0(VOUCH_SE_CMD_WAKE, ASLEEP | P);
    SEED0(VOUCH_SE_CMD_WAKE, ASLEEP | PM);

    SEED(VOUCH_SE_CMD_ZONE_AC, PM, 3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST);
    SEED(VOUCH_SE_CMD_ZONE_AC, OM, 0, VOUCH_SE_AC_NEVER, VOUCH_SE_AC_NEVER);
    SEED(VOUCH_SE_CMD_ZONE_AC, PM, 4, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_ALWAYS);
    SEED(VOUCH_SE_CMD_ZONE_AC, N, 3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_ALWAYS);

    b.n = 0;
    b_fill(&b, 0x33, 32);
    seedv(VOUCH_SE_CMD_HOST_KEYS, PM, b.b, b.n);
    seedv(VOUCH_SE_CMD_HOST_KEYS, P, b.b, b.n);
    seedv(VOUCH_SE_CMD_HOST_KEYS, N, b.b, b.n);
    seedv(VOUCH_SE_CMD_HOST_KEYS, OM, b.b, b.n);
}

/* ---- fuzz_frame ------------------------------------------------------------ */

static void frame_seed(const char *name, uint8_t hdr, const uint8_t *p, size_t n)
{
    uint8_t f[VOUCH_SE_CMD_FRAME_MAX];
    static const uint8_t zero_key[16];
    size_t len = fz_frame(f, sizeof f, hdr, p, n, 1, zero_key);
    write_file("fuzz_frame", name, f, len);
}

static void frame_seeds(void)
{
    const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
    const uint8_t rnd[] = {0x00, 0x20};
    const uint8_t q[] = {VOUCH_SE_Q_ZONES};
    const uint8_t rd[] = {0, 0x00, 0x00, 0x00, 0x10};
    const uint8_t up[] = {3, 0x00, 0x04, 'd', 'a', 't', 'a'};
    const uint8_t kg[] = {1, VOUCH_SE_ALG_ED25519};
    const uint8_t dec[] = {6, 0, 0, 0, 2};
    frame_seed("echo", VOUCH_SE_CMD_ECHO, hello, sizeof hello);
    frame_seed("random", VOUCH_SE_CMD_RANDOM, rnd, sizeof rnd);
    frame_seed("query-zones", VOUCH_SE_CMD_QUERY, q, sizeof q);
    frame_seed("read", VOUCH_SE_CMD_READ, rd, sizeof rd);
    frame_seed("update", VOUCH_SE_CMD_UPDATE, up, sizeof up);
    frame_seed("decrement", VOUCH_SE_CMD_DECREMENT, dec, sizeof dec);
    frame_seed("keygen", VOUCH_SE_CMD_KEYGEN, kg, sizeof kg);
    frame_seed("hibernate", VOUCH_SE_CMD_HIBERNATE, NULL, 0);
    frame_seed("echo-cmac", VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC, hello,
               sizeof hello);
    /* malformed ones: bad CRC, reserved bit, unknown command, too short */
    uint8_t f[16];
    size_t len = fz_frame(f, sizeof f, VOUCH_SE_CMD_ECHO, hello, sizeof hello, 0, NULL);
    f[len - 1] ^= 1;
    write_file("fuzz_frame", "bad-crc", f, len);
    frame_seed("reserved-bit", VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RSVD, NULL, 0);
    frame_seed("unknown-cmd", 0x1f, NULL, 0);
    write_file("fuzz_frame", "short", (const uint8_t *)"\x00\x01", 2);
}

/* ---- fuzz_state ------------------------------------------------------------- */

static void state_seeds(void)
{
    static uint8_t blob[VOUCH_SE_STATE_MAX];
    static const struct {
        int v;
        const char *name;
    } s[] = {{FZ_V_FRESH, "fresh"},
             {FZ_V_PERSO, "personalized"},
             {FZ_V_OPER, "operational"},
             {FZ_V_TERM, "terminated"}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        size_t n = vouch_se_state_serialize(&fz_pristine(s[i].v)->live, blob, sizeof blob);
        if (!n)
            fz_fail("serialize");
        write_file("fuzz_state", s[i].name, blob, n);
    }
}


/* ---- fuzz_response ---------------------------------------------------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} rbuf;

static void r_start(rbuf *r, uint8_t op, uint8_t flags)
{
    r->n = 0;
    r->b[r->n++] = op;
    r->b[r->n++] = flags;
}

/* record: len(2) bytes */
static void r_bytes(rbuf *r, const uint8_t *d, size_t n)
{
    r->b[r->n++] = (uint8_t)(n >> 8);
    r->b[r->n++] = (uint8_t)n;
    memcpy(r->b + r->n, d, n);
    r->n += n;
}

/* framed-mode record: status(1) data(n) */
static void r_rec(rbuf *r, uint8_t st, const uint8_t *d, size_t n)
{
    uint8_t tmp[1 + VOUCH_SE_MAX_PAYLOAD];
    tmp[0] = st;
    if (n)
        memcpy(tmp + 1, d, n);
    r_bytes(r, tmp, 1 + n);
}

static void r_fill(rbuf *r, uint8_t st, uint8_t v, size_t n)
{
    uint8_t tmp[VOUCH_SE_MAX_PAYLOAD];
    memset(tmp, v, n);
    r_rec(r, st, tmp, n);
}

/* raw-mode record: a whole plain response frame */
static void r_frame(rbuf *r, uint8_t st, const uint8_t *d, size_t n, int break_crc)
{
    uint8_t f[VOUCH_SE_RSP_FRAME_MAX];
    f[0] = st;
    f[1] = (uint8_t)(n >> 8), f[2] = (uint8_t)n;
    if (n)
        memcpy(f + 3, d, n);
    uint16_t crc = vouch_crc16_x25(f, 3 + n);
    f[3 + n] = (uint8_t)(crc >> 8), f[4 + n] = (uint8_t)(crc ^ (break_crc ? 1 : 0));
    r_bytes(r, f, 5 + n);
}

static void r_write(rbuf *r, const char *name)
{
    write_file("fuzz_response", name, r->b, r->n);
}

static void response_seeds(void)
{
    static const uint8_t sync7[] = {1, 0, 0, 0, 7}, sync16[] = {1, 0, 0, 0, 16};
    static const uint8_t lc[] = {VOUCH_SE_LC_PERSONALIZATION, VOUCH_SE_POWER_AWAKE};
    static const uint8_t keys[] = {2, 0, VOUCH_SE_ALG_P256, 3, 1, VOUCH_SE_ALG_ED25519, 1};
    static const uint8_t zones[] = {2, 0, 0, 0, 0, 0x08, 0x00, 0, 0, 0, 0,
                                    5, 1, 0, 1, 0x00, 0x20, 0, 0, 0x03, 0xe8};
    const char *product = "\x01\x00vouch-se soft SE";
    uint8_t serial[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, d[66];
    const uint8_t F = FZ_RSP_FRAMED, FS = FZ_RSP_FRAMED | FZ_RSP_SECURE;
    rbuf r;

    r_start(&r, FZ_OP_ECHO, F);
    r_fill(&r, 0, 0x5c, 32);
    r_write(&r, "echo-framed");
    memset(d, 0x5c, 32);
    r_start(&r, FZ_OP_ECHO, 0);
    r_frame(&r, 0, d, 32, 0);
    r_write(&r, "echo-raw");
    r_start(&r, FZ_OP_ECHO, 0);
    r_frame(&r, 0, d, 32, 1);
    r_frame(&r, 0, d, 32, 0);
    r_write(&r, "echo-raw-reread");

    r_start(&r, FZ_OP_RANDOM, F);
    r_fill(&r, 0, 0x11, 40);
    r_write(&r, "random");
    r_start(&r, FZ_OP_RANDOM_BIG, F);
    r_fill(&r, 0, 0x12, 1024);
    r_fill(&r, 0, 0x13, 476);
    r_write(&r, "random-two-frames");

    r_start(&r, FZ_OP_QUERY, F);
    r_rec(&r, 0, serial, 9);
    r_rec(&r, 0, (const uint8_t *)product, strlen(product + 2) + 2);
    r_rec(&r, 0, lc, sizeof lc);
    r_rec(&r, 0, keys, sizeof keys);
    r_rec(&r, 0, zones, sizeof zones);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_write(&r, "query-framed");
    r_start(&r, FZ_OP_QUERY, 0);
    r_frame(&r, 0, serial, 9, 0);
    r_frame(&r, 0, (const uint8_t *)product, strlen(product + 2) + 2, 0);
    r_frame(&r, 0, lc, sizeof lc, 0);
    r_frame(&r, 0, keys, sizeof keys, 0);
    r_frame(&r, 0, zones, sizeof zones, 0);
    r_frame(&r, 0, sync7, sizeof sync7, 0);
    r_write(&r, "query-raw");

    r_start(&r, FZ_OP_READ, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x21, 1021);
    r_fill(&r, 0x80, 0x22, 79);
    r_write(&r, "read-secure");

    r_start(&r, FZ_OP_DECREMENT, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x00, 4);
    r_write(&r, "decrement-secure");

    d[0] = 0x04;
    memset(d + 1, 0x31, 64);
    r_start(&r, FZ_OP_KEYGEN_P256, F);
    r_rec(&r, 0, d, 65);
    r_write(&r, "keygen");
    d[0] = VOUCH_SE_ALG_P256;
    d[1] = 0x04;
    r_start(&r, FZ_OP_PUBKEY, F);
    r_rec(&r, 0, d, 66);
    r_write(&r, "pubkey");

    r_start(&r, FZ_OP_SIGN, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x41, 64);
    r_write(&r, "sign-secure");
    r_start(&r, FZ_OP_SIGN, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_rec(&r, VOUCH_SE_E_REPLAY, NULL, 0);
    r_rec(&r, 0, sync16, sizeof sync16);
    r_fill(&r, 0x80, 0x42, 64);
    r_write(&r, "sign-replay-resync");

    r_start(&r, FZ_OP_VERIFY, F);
    r_fill(&r, 0, 1, 1);
    r_write(&r, "verify");
    r_start(&r, FZ_OP_VERIFY_ZONE, F);
    r_fill(&r, 0, 0, 1);
    r_write(&r, "verify-zone");

    r_start(&r, FZ_OP_ECDH, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x51, 32);
    r_write(&r, "ecdh-secure");
    r_start(&r, FZ_OP_WRAP, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x61, 32);
    r_write(&r, "wrap-secure");
    r_start(&r, FZ_OP_UNWRAP, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_fill(&r, 0x80, 0x62, 20);
    r_write(&r, "unwrap-secure");

    r_start(&r, FZ_OP_HIBERNATE, F);
    r_rec(&r, VOUCH_SE_E_BUSY, NULL, 0);
    r_rec(&r, 0, NULL, 0);
    r_write(&r, "hibernate-busy");
    r_start(&r, FZ_OP_LIFECYCLE, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_rec(&r, 0x80 | VOUCH_SE_E_LIFECYCLE, NULL, 0);
    r_write(&r, "lifecycle-refused");
    r_start(&r, FZ_OP_PUT_HOST_KEYS, FS);
    r_rec(&r, 0, sync7, sizeof sync7);
    r_rec(&r, 0x80, NULL, 0);
    r_write(&r, "host-keys-rotate");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdirs(root);
    fz_init();
    cmd_seeds();
    frame_seeds();
    state_seeds();
    response_seeds();
    printf("seed corpus written to %s\n", root);
    return 0;
}
