/*
 * Raw frames against a real vouch-se daemon over its unix socket record
 * format, checked against docs/se-protocol.md byte for byte. The CRC is
 * reimplemented here on purpose, as an independent check of the chip's, and
 * the secure channel (C-MAC, R-MAC, CTR encryption) is built by hand from the
 * crypto port's primitives rather than by libvouch.
 *
 * usage: se_wire SOCKET_PATH
 * The chip behind SOCKET_PATH must be new (PERSONALIZATION, no host keys).
 * Exit 0 when every check passed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vouch/port.h>
#include <vouch/se_proto.h>

static int g_pass, g_fail;
static const char *g_path;
static const vouch_crypto_port *P;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (cond) {                                                          \
            g_pass++;                                                        \
        } else {                                                             \
            g_fail++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

static const char *st_name(int s)
{
    static const char *n[] = {"OK",          "E_CRC",        "E_FRAME",     "E_UNKNOWN_CMD",
                              "E_PARAM",     "E_ZONE",       "E_SLOT",      "E_ACCESS",
                              "E_LIFECYCLE", "E_MAC",        "E_REPLAY",    "E_NO_KEY",
                              "E_KEY_LOCKED", "E_COUNTER",   "E_INTEGRITY", "E_BUSY",
                              "E_ASLEEP",    "E_STORAGE",    "E_CHANNEL",   "E_NOT_STRICTER",
                              "E_RANGE",     "E_INTERNAL"};
    if (s == -1)
        return "(no response)";
    if (s >= 0 && s < (int)(sizeof n / sizeof n[0]))
        return n[s];
    return "(unknown status)";
}

#define CHECK_ST(got, want, what)                                            \
    CHECK((got) == (want), "%s: status %s (0x%02x), want %s", (what),        \
          st_name(got), (unsigned)(got), st_name(want))

/* ---- CRC-16/X-25, independent of se/crc16.c ------------------------------ */
static uint16_t crc_table[256];
static void crc_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (uint16_t)((c >> 1) ^ 0x8408) : (uint16_t)(c >> 1);
        crc_table[i] = c;
    }
}
static uint16_t crc16(const uint8_t *d, size_t n)
{
    uint16_t c = 0xFFFF;
    while (n--)
        c = (uint16_t)((c >> 8) ^ crc_table[(c ^ *d++) & 0xFF]);
    return (uint16_t)~c;
}

static void be16(uint8_t *p, unsigned v)
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
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- socket records -------------------------------------------------------- */
static int conn_open(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", g_path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes within timeout_ms. 0 ok, 1 clean EOF at start,
 * -1 error/timeout/partial. */
static int read_all(int fd, uint8_t *b, size_t n, int timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t k = recv(fd, b + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k == 0)
            return got == 0 ? 1 : -1;
        if (k < 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static int send_record(int fd, const uint8_t *b, size_t n)
{
    uint8_t buf[2 + 70000];
    be16(buf, (unsigned)n);
    if (n)
        memcpy(buf + 2, b, n);
    return write_all(fd, buf, 2 + n);
}

/* A response record; returns its length or -1. */
static int recv_record(int fd, uint8_t *b, size_t size)
{
    uint8_t h[2];
    if (read_all(fd, h, 2, 5000) != 0)
        return -1;
    size_t n = (size_t)h[0] << 8 | h[1];
    if (n > size)
        return -1;
    if (read_all(fd, b, n, 5000) != 0)
        return -1;
    return (int)n;
}

/* ---- responses ---------------------------------------------------------------- */
typedef struct {
    int status; /* bits 6..0, -1 when nothing usable came back */
    int rmac;   /* status bit 7 */
    size_t len;
    uint8_t data[VOUCH_SE_MAX_PAYLOAD];
    uint8_t mac[8];
    uint8_t raw[VOUCH_SE_RSP_FRAME_MAX + 16];
    size_t raw_len;
} rsp_t;

/* Parses and checks the frame's own integrity (CRC, length field). */
static void parse_rsp(const uint8_t *raw, int n, rsp_t *r, const char *what)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    if (n < 0) {
        CHECK(0, "%s: no response record", what);
        return;
    }
    memcpy(r->raw, raw, (size_t)n < sizeof r->raw ? (size_t)n : sizeof r->raw);
    r->raw_len = (size_t)n;
    if (n < 5) {
        CHECK(0, "%s: response frame of %d bytes", what, n);
        return;
    }
    uint16_t crc = crc16(raw, (size_t)n - 2);
    int crc_ok = raw[n - 2] == (crc >> 8) && raw[n - 1] == (crc & 0xFF);
    CHECK(crc_ok, "%s: response CRC wrong", what);
    size_t len = (size_t)raw[1] << 8 | raw[2];
    int has_mac = (raw[0] & VOUCH_SE_STATUS_RMAC) != 0;
    size_t want = 3 + len + (has_mac ? 8 : 0) + 2;
    CHECK(want == (size_t)n, "%s: response length field %zu (+mac %d) disagrees with %d bytes",
          what, len, has_mac, n);
    CHECK(len <= VOUCH_SE_MAX_PAYLOAD, "%s: response length %zu over 1024", what, len);
    if (!crc_ok || want != (size_t)n || len > VOUCH_SE_MAX_PAYLOAD)
        return;
    r->status = raw[0] & VOUCH_SE_STATUS_MASK;
    r->rmac = has_mac;
    r->len = len;
    memcpy(r->data, raw + 3, len);
    if (has_mac)
        memcpy(r->mac, raw + 3 + len, 8);
    if (r->status != 0)
        CHECK(len == 0, "%s: error response %s carries %zu data bytes", what, st_name(r->status),
              len);
}

/* Sends one raw frame as a record; returns the status. */
static int xfer(int fd, const uint8_t *frame, size_t n, rsp_t *r, const char *what)
{
    uint8_t raw[VOUCH_SE_RSP_FRAME_MAX + 16];
    if (send_record(fd, frame, n) != 0) {
        CHECK(0, "%s: send failed", what);
        memset(r, 0, sizeof *r);
        r->status = -1;
        return -1;
    }
    int k = recv_record(fd, raw, sizeof raw);
    parse_rsp(raw, k, r, what);
    return r->status;
}

/* Plain frame: header | payload | CRC. */
static size_t build_plain(uint8_t hdr, const uint8_t *p, size_t plen, uint8_t *out)
{
    out[0] = hdr;
    if (plen)
        memcpy(out + 1, p, plen);
    uint16_t c = crc16(out, 1 + plen);
    be16(out + 1 + plen, c);
    return 1 + plen + 2;
}

static int cmd_plain(int fd, uint8_t cmd, const uint8_t *p, size_t plen, rsp_t *r,
                     const char *what)
{
    uint8_t f[VOUCH_SE_CMD_FRAME_MAX + 64];
    size_t n = build_plain(cmd, p, plen, f);
    int s = xfer(fd, f, n, r, what);
    CHECK(s < 0 || !r->rmac, "%s: plain command answered with an R-MAC", what);
    return s;
}

/* ---- host secure channel by hand ---------------------------------------------- */
typedef struct {
    uint8_t kmac[16], kenc[16];
    uint32_t ctr; /* next counter to use */
} host_t;

static void cmac8(const uint8_t key[16], const uint8_t *m, size_t n, uint8_t out[8])
{
    uint8_t t[16];
    if (P->aes_cmac(P->ctx, key, m, n, t) != 0) {
        fprintf(stderr, "aes_cmac failed\n");
        exit(2);
    }
    memcpy(out, t, 8);
}

static void ctr_crypt(const uint8_t key[16], uint8_t dir, uint32_t ctr, uint8_t *buf, size_t n)
{
    uint8_t iv[16] = {0};
    iv[0] = dir;
    be32(iv + 1, ctr);
    if (n && P->aes_ctr(P->ctx, key, iv, buf, buf, n) != 0) {
        fprintf(stderr, "aes_ctr failed\n");
        exit(2);
    }
}

enum { SC_RMAC = 1, SC_BADMAC = 2, SC_BADCRC = 4 };

/* Secure frame. payload must already be encrypted where the spec says so. */
static size_t build_secure(const host_t *h, uint8_t cmd, uint32_t ctr, unsigned fl,
                           const uint8_t *p, size_t plen, uint8_t *out)
{
    uint8_t hdr = (uint8_t)(VOUCH_SE_HDR_CMAC | ((fl & SC_RMAC) ? VOUCH_SE_HDR_RMAC : 0) | cmd);
    uint8_t m[1 + 4 + 1 + 2 + VOUCH_SE_MAX_PAYLOAD + 64];
    m[0] = VOUCH_SE_DIR_CMD;
    be32(m + 1, ctr);
    m[5] = hdr;
    be16(m + 6, (unsigned)plen);
    if (plen)
        memcpy(m + 8, p, plen);
    uint8_t mac[8];
    cmac8(h->kmac, m, 8 + plen, mac);
    if (fl & SC_BADMAC)
        mac[7] ^= 0x01;
    out[0] = hdr;
    if (plen)
        memcpy(out + 1, p, plen);
    be32(out + 1 + plen, ctr);
    memcpy(out + 5 + plen, mac, 8);
    uint16_t c = crc16(out, 13 + plen);
    if (fl & SC_BADCRC)
        c ^= 0x0100;
    be16(out + 13 + plen, c);
    return 15 + plen;
}

static int rmac_ok(const host_t *h, uint8_t hdr, uint32_t ctr, const rsp_t *r)
{
    uint8_t m[1 + 4 + 1 + 1 + 2 + VOUCH_SE_MAX_PAYLOAD];
    m[0] = VOUCH_SE_DIR_RSP;
    be32(m + 1, ctr);
    m[5] = hdr;
    m[6] = r->raw[0]; /* status with bit 7 */
    m[7] = r->raw[1];
    m[8] = r->raw[2];
    memcpy(m + 9, r->data, r->len);
    uint8_t mac[8];
    cmac8(h->kmac, m, 9 + r->len, mac);
    return memcmp(mac, r->mac, 8) == 0;
}

/* One secure command with an explicit counter. enc_off >= 0: encrypt the
 * payload from that offset on (command direction). dec_rsp: decrypt the
 * response data. Checks the R-MAC when one was requested and the status says
 * the C-MAC was accepted. Returns the status. */
static int sc_cmd_ctr(host_t *h, int fd, uint8_t cmd, uint32_t ctr, unsigned fl,
                      const uint8_t *p, size_t plen, int enc_off, int dec_rsp, rsp_t *r,
                      const char *what)
{
    uint8_t pl[VOUCH_SE_MAX_PAYLOAD + 64];
    uint8_t f[VOUCH_SE_CMD_FRAME_MAX + 64];
    if (plen)
        memcpy(pl, p, plen);
    if (enc_off >= 0 && (size_t)enc_off < plen)
        ctr_crypt(h->kenc, VOUCH_SE_DIR_CMD, ctr, pl + enc_off, plen - (size_t)enc_off);
    size_t n = build_secure(h, cmd, ctr, fl, pl, plen, f);
    int s = xfer(fd, f, n, r, what);
    if (s < 0)
        return s;
    int mac_refused = s == VOUCH_SE_E_MAC || s == VOUCH_SE_E_REPLAY || s == VOUCH_SE_E_CRC ||
                      s == VOUCH_SE_E_FRAME || s == VOUCH_SE_E_ASLEEP ||
                      s == VOUCH_SE_E_UNKNOWN_CMD || s == VOUCH_SE_E_BUSY;
    if ((fl & SC_RMAC) && !mac_refused) {
        CHECK(r->rmac, "%s: R-MAC requested, response (%s) has none", what, st_name(s));
        if (r->rmac)
            CHECK(rmac_ok(h, f[0], ctr, r), "%s: R-MAC does not verify", what);
    } else if (mac_refused) {
        CHECK(!r->rmac, "%s: refused C-MAC (%s) but response carries an R-MAC", what,
              st_name(s));
    } else {
        CHECK(!r->rmac, "%s: no R-MAC requested but response carries one", what);
    }
    if (dec_rsp && s == 0)
        ctr_crypt(h->kenc, VOUCH_SE_DIR_RSP, ctr, r->data, r->len);
    return s;
}

static int sc_cmd(host_t *h, int fd, uint8_t cmd, const uint8_t *p, size_t plen, int enc_off,
                  int dec_rsp, rsp_t *r, const char *what)
{
    uint32_t c = h->ctr++;
    return sc_cmd_ctr(h, fd, cmd, c, SC_RMAC, p, plen, enc_off, dec_rsp, r, what);
}

/* QUERY HOST: returns last counter, sets *keys. */
static uint32_t query_host(int fd, int *keys)
{
    rsp_t r;
    uint8_t t = VOUCH_SE_Q_HOST;
    int s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY HOST");
    CHECK_ST(s, 0, "QUERY HOST");
    CHECK(s != 0 || r.len == 5, "QUERY HOST: %zu bytes, want 5", r.len);
    if (s != 0 || r.len != 5) {
        *keys = -1;
        return 0xDEADBEEF;
    }
    *keys = r.data[0];
    return rd32(r.data + 1);
}

static int read_zone(int fd, uint8_t zone, uint16_t off, uint16_t len, rsp_t *r,
                     const char *what)
{
    uint8_t p[5] = {zone, (uint8_t)(off >> 8), (uint8_t)off, (uint8_t)(len >> 8), (uint8_t)len};
    return cmd_plain(fd, VOUCH_SE_CMD_READ, p, 5, r, what);
}

static uint32_t counter_of(int fd, uint8_t zone)
{
    rsp_t r;
    int s = read_zone(fd, zone, 0, 4, &r, "READ counter");
    CHECK_ST(s, 0, "READ counter");
    return s == 0 && r.len == 4 ? rd32(r.data) : 0xDEADBEEF;
}

/* ---- the tests ------------------------------------------------------------------ */

static void t_crc(void)
{
    CHECK(crc16((const uint8_t *)"123456789", 9) == 0x906E, "CRC-16/X-25 check value");
}

static void t_basic(int fd)
{
    rsp_t r;
    const char *hello = "hello, chip";
    int s = cmd_plain(fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)hello, strlen(hello), &r, "ECHO");
    CHECK_ST(s, 0, "ECHO");
    CHECK(r.len == strlen(hello) && memcmp(r.data, hello, r.len) == 0, "ECHO returns its bytes");

    s = cmd_plain(fd, VOUCH_SE_CMD_ECHO, NULL, 0, &r, "ECHO empty");
    CHECK_ST(s, 0, "ECHO empty (3-byte frame)");
    CHECK(r.len == 0, "ECHO empty returns nothing");

    uint8_t big[VOUCH_SE_MAX_PAYLOAD];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 1);
    s = cmd_plain(fd, VOUCH_SE_CMD_ECHO, big, sizeof big, &r, "ECHO 1024");
    CHECK_ST(s, 0, "ECHO 1024 bytes");
    CHECK(r.len == 1024 && memcmp(r.data, big, 1024) == 0, "ECHO 1024 returns its bytes");

    uint8_t t = VOUCH_SE_Q_SERIAL;
    s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY SERIAL");
    CHECK_ST(s, 0, "QUERY SERIAL");
    CHECK(r.len == 9, "serial is 9 bytes (got %zu)", r.len);

    t = VOUCH_SE_Q_PRODUCT;
    s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY PRODUCT");
    CHECK_ST(s, 0, "QUERY PRODUCT");
    CHECK(r.len >= 2, "PRODUCT has a version");

    t = VOUCH_SE_Q_LIFECYCLE;
    s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY LIFECYCLE");
    CHECK_ST(s, 0, "QUERY LIFECYCLE");
    CHECK(r.len == 2 && r.data[0] == VOUCH_SE_LC_PERSONALIZATION && r.data[1] == 0,
          "new chip: PERSONALIZATION, awake");

    t = VOUCH_SE_Q_KEYS;
    s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY KEYS");
    CHECK_ST(s, 0, "QUERY KEYS");
    CHECK(r.len == 1 + 4 * 3 && r.data[0] == 4, "KEYS lists 4 slots (len %zu)", r.len);
    if (r.len == 13)
        for (int i = 0; i < 4; i++)
            CHECK(r.data[1 + 3 * i] == i && r.data[2 + 3 * i] == VOUCH_SE_ALG_NONE &&
                      !(r.data[3 + 3 * i] & VOUCH_SE_KEY_PRESENT),
                  "new chip: slot %d empty", i);

    t = VOUCH_SE_Q_ZONES;
    s = cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY ZONES");
    CHECK_ST(s, 0, "QUERY ZONES");
    CHECK(r.len == 1 + 8 * 10 && r.data[0] == 8, "ZONES lists 8 zones (len %zu)", r.len);
    if (r.len == 81) {
        static const uint16_t sizes[5] = {2048, 1024, 512, 512, 256};
        for (int i = 0; i < 8; i++) {
            const uint8_t *z = r.data + 1 + 10 * i;
            unsigned size = (unsigned)z[4] << 8 | z[5];
            CHECK(z[0] == i, "zone %d index", i);
            CHECK(z[2] == VOUCH_SE_AC_ALWAYS && z[3] == VOUCH_SE_AC_ALWAYS,
                  "zone %d ALWAYS/ALWAYS", i);
            if (i < 5) {
                CHECK(z[1] == VOUCH_SE_ZONE_DATA, "zone %d is data", i);
                CHECK(size == sizes[i], "zone %d size %u, want %u", i, size, sizes[i]);
                CHECK(rd32(z + 6) == 0, "zone %d counter field 0", i);
            } else {
                CHECK(z[1] == VOUCH_SE_ZONE_COUNTER, "zone %d is a counter", i);
                CHECK(size == 32 || size == 36, "zone %d size %u", i, size);
                CHECK(rd32(z + 6) == 0xFFFFFFFFu, "zone %d counter 0xFFFFFFFF", i);
            }
        }
    }
    t = 0x07;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY 7"), VOUCH_SE_E_PARAM,
             "QUERY unknown tag 0x07");
    t = 0x00;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "QUERY 0"), VOUCH_SE_E_PARAM,
             "QUERY unknown tag 0x00");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_QUERY, NULL, 0, &r, "QUERY empty"), VOUCH_SE_E_PARAM,
             "QUERY without tag");

    uint8_t cnt[2];
    be16(cnt, 1024);
    s = cmd_plain(fd, VOUCH_SE_CMD_RANDOM, cnt, 2, &r, "RANDOM 1024");
    CHECK_ST(s, 0, "RANDOM 1024");
    CHECK(r.len == 1024, "RANDOM 1024 length");
    be16(cnt, 0);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RANDOM, cnt, 2, &r, "RANDOM 0"), VOUCH_SE_E_PARAM,
             "RANDOM 0");
    be16(cnt, 1025);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RANDOM, cnt, 2, &r, "RANDOM 1025"), VOUCH_SE_E_PARAM,
             "RANDOM 1025");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RANDOM, cnt, 1, &r, "RANDOM short"), VOUCH_SE_E_PARAM,
             "RANDOM with a 1-byte payload");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RESET, cnt, 1, &r, "RESET payload"), VOUCH_SE_E_PARAM,
             "RESET with a payload");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RESET, NULL, 0, &r, "RESET"), 0, "RESET");
}

static void t_frames(int fd)
{
    rsp_t r;
    uint8_t f[2048];
    size_t n;

    /* CRC */
    n = build_plain(VOUCH_SE_CMD_ECHO, (const uint8_t *)"abc", 3, f);
    f[n - 1] ^= 0x01;
    CHECK_ST(xfer(fd, f, n, &r, "bad CRC"), VOUCH_SE_E_CRC, "ECHO with a bad CRC");
    n = build_plain(VOUCH_SE_CMD_ECHO, (const uint8_t *)"abc", 3, f);
    { /* CRC sent little-endian: wrong */
        uint8_t t = f[n - 1];
        f[n - 1] = f[n - 2];
        f[n - 2] = t;
        if (f[n - 1] != f[n - 2])
            CHECK_ST(xfer(fd, f, n, &r, "CRC byte order"), VOUCH_SE_E_CRC,
                     "CRC sent low byte first");
    }
    n = build_plain(VOUCH_SE_CMD_ECHO, (const uint8_t *)"abc", 3, f);
    f[2] ^= 0x40;
    CHECK_ST(xfer(fd, f, n, &r, "payload bit flip"), VOUCH_SE_E_CRC, "payload bit flipped");
    /* CRC is checked before everything else (1.4 step 2) */
    n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RSVD, NULL, 0, f);
    f[n - 1] ^= 0xFF;
    CHECK_ST(xfer(fd, f, n, &r, "rsvd+bad CRC"), VOUCH_SE_E_CRC,
             "reserved bit and bad CRC: CRC wins");
    n = build_plain(0x1F, NULL, 0, f);
    f[n - 2] ^= 0xFF;
    CHECK_ST(xfer(fd, f, n, &r, "unknown+bad CRC"), VOUCH_SE_E_CRC,
             "unknown command and bad CRC: CRC wins");

    /* Truncated frames. A record of length 0 is a re-read in the socket
     * binding (1.5), so the shortest frames sendable are 1 and 2 bytes. */
    f[0] = VOUCH_SE_CMD_ECHO;
    CHECK_ST(xfer(fd, f, 1, &r, "1-byte frame"), VOUCH_SE_E_FRAME, "1-byte frame");
    f[0] = VOUCH_SE_CMD_ECHO;
    f[1] = 0x00;
    CHECK_ST(xfer(fd, f, 2, &r, "2-byte frame"), VOUCH_SE_E_FRAME, "2-byte frame");
    { /* 2 bytes whose second byte happens to be a CRC of the first's high half */
        uint16_t c = crc16(f, 1);
        f[1] = (uint8_t)(c >> 8);
        CHECK_ST(xfer(fd, f, 2, &r, "2-byte frame b"), VOUCH_SE_E_FRAME, "2-byte frame (b)");
    }

    /* Header checks */
    n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RSVD, NULL, 0, f);
    CHECK_ST(xfer(fd, f, n, &r, "reserved bit"), VOUCH_SE_E_FRAME, "reserved header bit");
    n = build_plain(VOUCH_SE_CMD_QUERY | VOUCH_SE_HDR_RSVD, (const uint8_t *)"\x01", 1, f);
    CHECK_ST(xfer(fd, f, n, &r, "reserved bit QUERY"), VOUCH_SE_E_FRAME,
             "reserved header bit on QUERY");
    n = build_plain(0x1F | VOUCH_SE_HDR_RSVD, NULL, 0, f);
    CHECK_ST(xfer(fd, f, n, &r, "reserved bit unknown"), VOUCH_SE_E_FRAME,
             "reserved bit and unknown command: E_FRAME first");
    n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_RMAC, (const uint8_t *)"x", 1, f);
    CHECK_ST(xfer(fd, f, n, &r, "R-MAC without C-MAC"), VOUCH_SE_E_FRAME,
             "R-MAC requested without C-MAC");
    {
        uint8_t eleven[11] = {0};
        n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC, eleven, 11, f);
        CHECK_ST(xfer(fd, f, n, &r, "C-MAC short"), VOUCH_SE_E_FRAME,
                 "C-MAC flag with 11 bytes before the CRC");
        n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC, NULL, 0, f);
        CHECK_ST(xfer(fd, f, n, &r, "C-MAC empty"), VOUCH_SE_E_FRAME,
                 "C-MAC flag with nothing before the CRC");
    }
    uint8_t big[1040];
    memset(big, 0x5A, sizeof big);
    n = build_plain(VOUCH_SE_CMD_ECHO, big, 1025, f);
    CHECK_ST(xfer(fd, f, n, &r, "payload 1025"), VOUCH_SE_E_FRAME, "plain payload of 1025 bytes");
    n = build_plain(VOUCH_SE_CMD_ECHO, big, 1036, f); /* 1039-byte record */
    CHECK_ST(xfer(fd, f, n, &r, "payload 1036"), VOUCH_SE_E_FRAME,
             "plain payload of 1036 bytes in a 1039-byte record");
    /* Largest C-MAC frames (a C-MAC payload over 1024 cannot fit a record) */
    n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC, big, 1025 + 12 - 2, f);
    CHECK_ST(xfer(fd, f, n, &r, "C-MAC payload 1023"), VOUCH_SE_E_MAC,
             "C-MAC frame with 1023-byte payload and no host keys: E_MAC");
    n = build_plain(VOUCH_SE_CMD_ECHO | VOUCH_SE_HDR_CMAC, big, 1024 + 12, f); /* 1039 */
    CHECK_ST(xfer(fd, f, n, &r, "C-MAC payload 1024"), VOUCH_SE_E_MAC,
             "1039-byte C-MAC frame (payload 1024), no host keys: E_MAC");

    /* Unknown command codes */
    for (unsigned c = VOUCH_SE_CMD_COUNT_; c <= 0x1F; c++) {
        char w[64];
        snprintf(w, sizeof w, "unknown command 0x%02x", c);
        n = build_plain((uint8_t)c, NULL, 0, f);
        CHECK_ST(xfer(fd, f, n, &r, w), VOUCH_SE_E_UNKNOWN_CMD, w);
        n = build_plain((uint8_t)c, (const uint8_t *)"\x01\x02\x03", 3, f);
        CHECK_ST(xfer(fd, f, n, &r, w), VOUCH_SE_E_UNKNOWN_CMD, w);
    }
    /* C-MAC flag on an unknown command: unknown wins over MAC (step 4 < 6) */
    {
        uint8_t twelve[12] = {0};
        n = build_plain(0x80 | 0x1E, twelve, 12, f);
        CHECK_ST(xfer(fd, f, n, &r, "unknown with C-MAC"), VOUCH_SE_E_UNKNOWN_CMD,
                 "unknown command with a C-MAC flag: E_UNKNOWN_CMD");
    }
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"alive", 5, &r, "ECHO"), 0,
             "ECHO after the frame errors");
}

static void t_zones(int fd)
{
    rsp_t r;
    uint8_t p[1100];
    /* zones out of range */
    static const uint8_t bad_zones[] = {8, 9, 15, 16, 128, 254, 255};
    for (size_t i = 0; i < sizeof bad_zones; i++) {
        char w[64];
        snprintf(w, sizeof w, "READ zone %u", bad_zones[i]);
        CHECK_ST(read_zone(fd, bad_zones[i], 0, 1, &r, w), VOUCH_SE_E_ZONE, w);
    }
    p[0] = 9;
    p[1] = 0;
    p[2] = 0;
    p[3] = 0xAA;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 4, &r, "UPDATE zone 9"), VOUCH_SE_E_ZONE,
             "UPDATE zone 9");
    p[0] = 5;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 4, &r, "UPDATE zone 5"), VOUCH_SE_E_ZONE,
             "UPDATE counter zone 5");
    /* ranges */
    CHECK_ST(read_zone(fd, 0, 2048, 1, &r, "READ 0@2048"), VOUCH_SE_E_RANGE,
             "READ zone 0 offset 2048");
    CHECK_ST(read_zone(fd, 0, 2047, 2, &r, "READ 0@2047+2"), VOUCH_SE_E_RANGE,
             "READ zone 0 offset 2047 length 2");
    CHECK_ST(read_zone(fd, 0, 0xFFFF, 1, &r, "READ 0@65535"), VOUCH_SE_E_RANGE,
             "READ zone 0 offset 65535 (no wrap-around)");
    CHECK_ST(read_zone(fd, 4, 200, 57, &r, "READ 4@200+57"), VOUCH_SE_E_RANGE,
             "READ zone 4 offset 200 length 57");
    CHECK_ST(read_zone(fd, 4, 200, 56, &r, "READ 4@200+56"), 0, "READ zone 4 to its end");
    CHECK_ST(read_zone(fd, 0, 1024, 1024, &r, "READ 0@1024+1024"), 0,
             "READ zone 0 last 1024 bytes");
    CHECK_ST(read_zone(fd, 0, 0, 1025, &r, "READ len 1025"), VOUCH_SE_E_PARAM,
             "READ length 1025");
    CHECK_ST(read_zone(fd, 0, 0, 0, &r, "READ len 0"), VOUCH_SE_E_PARAM, "READ length 0");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_READ, p, 4, &r, "READ short"), VOUCH_SE_E_PARAM,
             "READ with a 4-byte payload");
    CHECK_ST(read_zone(fd, 5, 0, 36, &r, "READ counter zone"), 0, "READ counter zone 36 bytes");
    CHECK(r.len == 36 && rd32(r.data) == 0xFFFFFFFFu, "counter zone reads 0xFFFFFFFF first");
    CHECK_ST(read_zone(fd, 5, 0, 37, &r, "READ counter 37"), VOUCH_SE_E_RANGE,
             "READ counter zone 37 bytes");

    /* UPDATE ranges */
    p[0] = 4;
    be16(p + 1, 250);
    memset(p + 3, 0xAB, 7);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 10, &r, "UPDATE 4@250+7"), VOUCH_SE_E_RANGE,
             "UPDATE zone 4 offset 250 length 7");
    CHECK_ST(read_zone(fd, 4, 250, 6, &r, "READ 4@250"), 0, "READ zone 4 tail");
    CHECK(r.len == 6 && memcmp(r.data, "\0\0\0\0\0\0", 6) == 0, "refused UPDATE wrote nothing");
    p[0] = 0;
    be16(p + 1, 1027);
    for (int i = 0; i < 1021; i++)
        p[3 + i] = (uint8_t)(i ^ 0x3C);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 1024, &r, "UPDATE 0@1027+1021"), 0,
             "UPDATE zone 0 with 1021 bytes ending at 2048");
    CHECK_ST(read_zone(fd, 0, 1027, 1021, &r, "READ 0@1027"), 0, "READ it back");
    CHECK(r.len == 1021 && memcmp(r.data, p + 3, 1021) == 0, "1021-byte UPDATE round trip");
    be16(p + 1, 1028);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 1024, &r, "UPDATE 0@1028+1021"),
             VOUCH_SE_E_RANGE, "UPDATE zone 0 past its end by one");
    p[0] = 3;
    be16(p + 1, 0);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, p, 3, &r, "UPDATE no data"), VOUCH_SE_E_PARAM,
             "UPDATE without data");

    /* DECREMENT */
    uint8_t d[64];
    d[0] = 3;
    be32(d + 1, 1);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 5, &r, "DECREMENT data zone"),
             VOUCH_SE_E_ZONE, "DECREMENT a data zone");
    d[0] = 8;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 5, &r, "DECREMENT zone 8"),
             VOUCH_SE_E_ZONE, "DECREMENT zone 8");
    d[0] = 6;
    be32(d + 1, 0xFFFFFFFFu);
    memcpy(d + 5, "AAAA", 4);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 9, &r, "DECREMENT to 0"), 0,
             "DECREMENT zone 6 to 0 with data");
    CHECK(r.len == 4 && rd32(r.data) == 0, "DECREMENT returns the new value 0");
    be32(d + 1, 1);
    memcpy(d + 5, "BBBB", 4);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 9, &r, "DECREMENT below 0"),
             VOUCH_SE_E_COUNTER, "DECREMENT below 0");
    CHECK_ST(read_zone(fd, 6, 0, 8, &r, "READ zone 6"), 0, "READ zone 6");
    CHECK(r.len == 8 && memcmp(r.data, "\0\0\0\0AAAA", 8) == 0,
          "E_COUNTER left counter and data alone");
    be32(d + 1, 0);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 5, &r, "DECREMENT 0"), 0,
             "DECREMENT by 0 at 0 reads it");
    d[0] = 7;
    be32(d + 1, 1);
    memset(d + 5, 'C', 33);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 5 + 33, &r, "DECREMENT 33 data"),
             VOUCH_SE_E_PARAM, "DECREMENT with 33 data bytes");
    CHECK(counter_of(fd, 7) == 0xFFFFFFFFu, "refused DECREMENT did not count");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 4, &r, "DECREMENT short"),
             VOUCH_SE_E_PARAM, "DECREMENT with a 4-byte payload");

    /* ZONE_AC in plain before host keys */
    uint8_t ac[3] = {3, VOUCH_SE_AC_HOST, VOUCH_SE_AC_ALWAYS};
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ZONE_AC, ac, 3, &r, "ZONE_AC HOST no keys"),
             VOUCH_SE_E_PARAM, "ZONE_AC HOST before host keys");
    ac[1] = 3;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ZONE_AC, ac, 3, &r, "ZONE_AC 3"), VOUCH_SE_E_PARAM,
             "ZONE_AC unknown AC 3");
    ac[0] = 8;
    ac[1] = 0;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ZONE_AC, ac, 3, &r, "ZONE_AC zone 8"), VOUCH_SE_E_ZONE,
             "ZONE_AC zone 8");
}

static void t_keys(int fd)
{
    rsp_t r;
    uint8_t p[200];
    p[0] = 4;
    p[1] = VOUCH_SE_ALG_P256;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_KEYGEN, p, 2, &r, "KEYGEN slot 4"), VOUCH_SE_E_SLOT,
             "KEYGEN slot 4");
    p[0] = 1;
    p[1] = 9;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_KEYGEN, p, 2, &r, "KEYGEN alg 9"), VOUCH_SE_E_PARAM,
             "KEYGEN unknown alg");
    p[0] = VOUCH_SE_SLOT_EPHEMERAL;
    p[1] = VOUCH_SE_ALG_ED25519;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_KEYGEN, p, 2, &r, "KEYGEN eph ed"), VOUCH_SE_E_SLOT,
             "KEYGEN Ed25519 in the ephemeral slot");
    p[0] = 1;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_PUBKEY, p, 1, &r, "PUBKEY empty"), VOUCH_SE_E_NO_KEY,
             "PUBKEY empty slot");
    p[0] = 1;
    memset(p + 1, 0, 32);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_SIGN, p, 33, &r, "SIGN empty"), VOUCH_SE_E_NO_KEY,
             "SIGN with an empty slot");
    p[0] = 1;
    p[1] = VOUCH_SE_ALG_P256;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_KEYGEN, p, 2, &r, "KEYGEN slot 1"), 0, "KEYGEN slot 1");
    CHECK(r.len == 65 && r.data[0] == 0x04, "P-256 public key is 04|X|Y");
    uint8_t pub[65];
    memcpy(pub, r.data, 65);
    p[0] = 1;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_PUBKEY, p, 1, &r, "PUBKEY 1"), 0, "PUBKEY slot 1");
    CHECK(r.len == 66 && r.data[0] == VOUCH_SE_ALG_P256 && memcmp(r.data + 1, pub, 65) == 0,
          "PUBKEY returns alg|pub");
    p[0] = 1;
    memset(p + 1, 0x11, 31);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_SIGN, p, 32, &r, "SIGN 31"), VOUCH_SE_E_PARAM,
             "P-256 SIGN with a 31-byte digest");
    uint8_t dg[32];
    P->sha256(P->ctx, (const uint8_t *)"wire", 4, dg);
    p[0] = 1;
    memcpy(p + 1, dg, 32);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_SIGN, p, 33, &r, "SIGN"), 0, "P-256 SIGN");
    CHECK(r.len == 64, "signature is r|s (64)");
    if (r.len == 64) {
        CHECK(P->p256_verify(P->ctx, pub, dg, r.data) == 1, "port verifies the chip's signature");
        uint8_t v[1 + 1 + 65 + 64 + 32];
        v[0] = VOUCH_SE_VERIFY_KEY;
        v[1] = VOUCH_SE_ALG_P256;
        memcpy(v + 2, pub, 65);
        memcpy(v + 67, r.data, 64);
        memcpy(v + 131, dg, 32);
        rsp_t vr;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, v, sizeof v, &vr, "VERIFY"), 0, "VERIFY");
        CHECK(vr.len == 1 && vr.data[0] == 1, "VERIFY says valid");
        v[131] ^= 1;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, v, sizeof v, &vr, "VERIFY bad"), 0,
                 "VERIFY of a wrong digest");
        CHECK(vr.len == 1 && vr.data[0] == 0, "VERIFY says invalid");
        v[0] = 3;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, v, sizeof v, &vr, "VERIFY mode 3"),
                 VOUCH_SE_E_PARAM, "VERIFY mode 3 (no such mode)");
        /* mode 2: the key entry alg|pub at an offset of a data zone */
        {
            uint8_t u[3 + 66], m2[4 + 64 + 32];
            u[0] = 3;
            u[1] = 0;
            u[2] = 100;
            u[3] = VOUCH_SE_ALG_P256;
            memcpy(u + 4, pub, 65);
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, u, sizeof u, &vr, "UPDATE key entry"), 0,
                     "a key entry written at offset 100 of zone 3");
            m2[0] = VOUCH_SE_VERIFY_ZONE_AT;
            m2[1] = 3;
            m2[2] = 0;
            m2[3] = 100;
            memcpy(m2 + 4, r.data, 64);
            memcpy(m2 + 68, dg, 32);
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2"), 0,
                     "VERIFY mode 2");
            CHECK(vr.len == 1 && vr.data[0] == 1, "VERIFY mode 2 says valid");
            m2[99] ^= 1;
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2 bad"),
                     0, "VERIFY mode 2 of a wrong digest");
            CHECK(vr.len == 1 && vr.data[0] == 0, "VERIFY mode 2 says invalid");
            m2[99] ^= 1;
            m2[3] = 99; /* the byte before the entry: no key there */
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2 @99"),
                     VOUCH_SE_E_PARAM, "VERIFY mode 2 where no key entry starts");
            m2[2] = 0x01;
            m2[3] = 0xC0; /* 448: a P-256 entry would end past the 512-byte zone */
            u[1] = 0x01;
            u[2] = 0xC0;
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, u, 4, &vr, "UPDATE alg @448"), 0,
                     "an alg byte at offset 448");
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2 @448"),
                     VOUCH_SE_E_RANGE, "VERIFY mode 2 with an entry running past the zone");
            m2[2] = 0x02;
            m2[3] = 0x00; /* 512: outside the zone */
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2 @512"),
                     VOUCH_SE_E_RANGE, "VERIFY mode 2 at an offset outside the zone");
            m2[1] = 5;
            m2[2] = 0;
            m2[3] = 0;
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, sizeof m2, &vr, "VERIFY mode 2 z5"),
                     VOUCH_SE_E_ZONE, "VERIFY mode 2 on a counter zone");
            CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, m2, 3, &vr, "VERIFY mode 2 short"),
                     VOUCH_SE_E_PARAM, "VERIFY mode 2 without its offset");
        }
        v[0] = 0;
        v[66] ^= 0x55; /* Y no longer on the curve */
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_VERIFY, v, sizeof v, &vr, "VERIFY off-curve"),
                 VOUCH_SE_E_PARAM, "VERIFY with a point off the curve");
    }
    p[0] = 0;
    p[1] = VOUCH_SE_ALG_X25519;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_KEYGEN, p, 2, &r, "KEYGEN 0 x25519"), 0,
             "KEYGEN slot 0 X25519");
    p[0] = 0;
    memset(p + 1, 1, 32);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_SIGN, p, 33, &r, "SIGN x25519"), VOUCH_SE_E_SLOT,
             "SIGN with an X25519 slot");
    p[0] = 1;
    memset(p + 1, 0x42, 65);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECDH, p, 66, &r, "ECDH off-curve"), VOUCH_SE_E_PARAM,
             "ECDH with a peer off the curve");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECDH, p, 33, &r, "ECDH short peer"), VOUCH_SE_E_PARAM,
             "ECDH P-256 with a 32-byte peer");
    /* WRAP/UNWRAP plain, before host keys */
    uint8_t w[1 + 24];
    w[0] = 0;
    memcpy(w + 1, "sixteen byte key", 16);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_WRAP, w, 17, &r, "WRAP"), 0, "WRAP 16 bytes");
    CHECK(r.len == 24, "WRAP of 16 gives 24 (%zu)", r.len);
    uint8_t u[1 + 24];
    u[0] = 0;
    memcpy(u + 1, r.data, 24);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UNWRAP, u, 25, &r, "UNWRAP"), 0, "UNWRAP");
    CHECK(r.len == 16 && memcmp(r.data, "sixteen byte key", 16) == 0, "UNWRAP round trip");
    u[10] ^= 0x80;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UNWRAP, u, 25, &r, "UNWRAP tampered"),
             VOUCH_SE_E_INTEGRITY, "UNWRAP of a tampered blob");
    u[0] = 2;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UNWRAP, u, 25, &r, "UNWRAP key 2"), VOUCH_SE_E_PARAM,
             "UNWRAP with key index 2");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UNWRAP, u, 21, &r, "UNWRAP 20"), VOUCH_SE_E_PARAM,
             "UNWRAP of 20 bytes");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_WRAP, w, 1, &r, "WRAP empty"), VOUCH_SE_E_PARAM,
             "WRAP of nothing");
}

static void t_reread(int fd)
{
    rsp_t r1, r2;
    uint8_t cnt[2];
    be16(cnt, 32);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_RANDOM, cnt, 2, &r1, "RANDOM 32"), 0, "RANDOM 32");
    CHECK_ST(xfer(fd, NULL, 0, &r2, "re-read"), 0, "re-read after RANDOM");
    CHECK(r1.raw_len == r2.raw_len && memcmp(r1.raw, r2.raw, r1.raw_len) == 0,
          "re-read returns the identical RANDOM response");
    CHECK_ST(xfer(fd, NULL, 0, &r2, "re-read 2"), 0, "second re-read");
    CHECK(r1.raw_len == r2.raw_len && memcmp(r1.raw, r2.raw, r1.raw_len) == 0,
          "second re-read identical too");

    /* A side effect is not run twice by a re-read */
    uint8_t d[5] = {7, 0, 0, 0, 1};
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_DECREMENT, d, 5, &r1, "DECREMENT 7"), 0,
             "DECREMENT zone 7 by 1");
    uint32_t v = r1.len == 4 ? rd32(r1.data) : 0;
    CHECK(v == 0xFFFFFFFEu, "zone 7 at 0xFFFFFFFE (0x%08x)", v);
    CHECK_ST(xfer(fd, NULL, 0, &r2, "re-read DECREMENT"), 0, "re-read after DECREMENT");
    CHECK(r1.raw_len == r2.raw_len && memcmp(r1.raw, r2.raw, r1.raw_len) == 0,
          "re-read returns the same DECREMENT response");
    CHECK(counter_of(fd, 7) == 0xFFFFFFFEu, "re-read did not decrement again");

    /* Re-read of an error response */
    rsp_t e1, e2;
    CHECK_ST(read_zone(fd, 8, 0, 1, &e1, "READ zone 8"), VOUCH_SE_E_ZONE, "READ zone 8");
    CHECK_ST(xfer(fd, NULL, 0, &e2, "re-read E_ZONE"), VOUCH_SE_E_ZONE, "re-read of E_ZONE");
    CHECK(e1.raw_len == e2.raw_len && memcmp(e1.raw, e2.raw, e1.raw_len) == 0,
          "re-read returns the same error frame");
}

static void t_oversized(void)
{
    rsp_t r;
    uint8_t raw[VOUCH_SE_RSP_FRAME_MAX + 16];
    static uint8_t big[2 + 65535];
    unsigned sizes[2] = {1040, 65535};
    for (int i = 0; i < 2; i++) {
        int fd = conn_open();
        CHECK(fd >= 0, "connect for oversized record");
        if (fd < 0)
            return;
        memset(big, 0, sizeof big);
        be16(big, sizes[i]);
        big[2] = VOUCH_SE_CMD_ECHO;
        (void)write_all(fd, big, 2 + sizes[i]); /* may fail once the chip hangs up */
        int k = recv_record(fd, raw, sizeof raw);
        char w[64];
        snprintf(w, sizeof w, "record of %u bytes", sizes[i]);
        parse_rsp(raw, k, &r, w);
        CHECK_ST(r.status, VOUCH_SE_E_FRAME, w);
        uint8_t b;
        int e = read_all(fd, &b, 1, 3000);
        CHECK(e == 1 || e == -1, "connection closed after a %u-byte record", sizes[i]);
        if (e == -1) {
            /* -1 is a timeout or reset: tell them apart */
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            CHECK(poll(&pf, 1, 0) != 0, "connection closed (not hanging) after a %u-byte record",
                  sizes[i]);
        }
        close(fd);
    }
    /* Just under the limit: 1039 is a frame, the connection stays */
    int fd = conn_open();
    CHECK(fd >= 0, "connect after oversized records");
    if (fd < 0)
        return;
    uint8_t f[1039], zeros[1036];
    memset(zeros, 0, sizeof zeros);
    size_t n = build_plain(VOUCH_SE_CMD_ECHO, zeros, sizeof zeros, f);
    CHECK_ST(xfer(fd, f, n, &r, "1039 record"), VOUCH_SE_E_FRAME, "1039-byte plain record");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"x", 1, &r, "ECHO after 1039"), 0,
             "connection still usable after a 1039-byte record");
    close(fd);
}

static void t_channel(int fd)
{
    rsp_t r;
    host_t h;
    int keys;
    P->random(P->ctx, h.kmac, 16);
    P->random(P->ctx, h.kenc, 16);

    uint32_t last = query_host(fd, &keys);
    CHECK(keys == 0 && last == 0, "new chip: no host keys, counter 0 (%d, %u)", keys, last);

    /* C-MAC without host keys */
    h.ctr = 1;
    CHECK_ST(sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, 1, SC_RMAC, (const uint8_t *)"x", 1, -1, 0, &r,
                        "C-MAC no keys"),
             VOUCH_SE_E_MAC, "C-MAC before host keys are set");
    last = query_host(fd, &keys);
    CHECK(last == 0, "refused C-MAC did not move the counter");

    /* Wrong-length HOST_KEYS */
    uint8_t hk[32];
    memcpy(hk, h.kmac, 16);
    memcpy(hk + 16, h.kenc, 16);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_HOST_KEYS, hk, 31, &r, "HOST_KEYS 31"), VOUCH_SE_E_PARAM,
             "HOST_KEYS with 31 bytes");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_HOST_KEYS, hk, 32, &r, "HOST_KEYS"), 0,
             "HOST_KEYS in PERSONALIZATION");
    last = query_host(fd, &keys);
    CHECK(keys == 1 && last == 0, "keys set, counter 0 (%d, %u)", keys, last);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_HOST_KEYS, hk, 32, &r, "HOST_KEYS again"),
             VOUCH_SE_E_CHANNEL, "HOST_KEYS again in plain");

    /* Correct C-MAC with R-MAC */
    h.ctr = last + 1;
    int s = sc_cmd(&h, fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"mac'd", 5, -1, 0, &r, "ECHO sc");
    CHECK_ST(s, 0, "ECHO with a correct C-MAC");
    CHECK(r.len == 5 && memcmp(r.data, "mac'd", 5) == 0, "ECHO data over the channel");
    CHECK(r.rmac, "R-MAC present");
    last = query_host(fd, &keys);
    CHECK(last == 1, "counter now 1 (%u)", last);

    /* C-MAC without R-MAC request: no R-MAC */
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, h.ctr++, 0, (const uint8_t *)"n", 1, -1, 0, &r,
                   "ECHO no rmac");
    CHECK_ST(s, 0, "C-MAC without an R-MAC request");

    /* R-MAC over the response: tamper detection works on our side */
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"abc", 3, -1, 0, &r, "ECHO sc 2");
    if (s == 0 && r.rmac) {
        rsp_t t = r;
        t.data[0] ^= 1;
        CHECK(!rmac_ok(&h, (uint8_t)(0xC0 | VOUCH_SE_CMD_ECHO), h.ctr - 1, &t),
              "R-MAC check rejects a changed response");
        CHECK(!rmac_ok(&h, (uint8_t)(0xC0 | VOUCH_SE_CMD_ECHO), h.ctr, &r),
              "R-MAC bound to the counter");
    }
    last = query_host(fd, &keys);
    CHECK(last == h.ctr - 1, "counter follows (%u vs %u)", last, h.ctr - 1);

    /* Wrong MAC: E_MAC, no R-MAC, counter and state unchanged */
    uint32_t before = last;
    uint32_t c7 = counter_of(fd, 7);
    uint8_t dec[5] = {7, 0, 0, 0, 1};
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_DECREMENT, before + 1, SC_RMAC | SC_BADMAC, dec, 5, -1, 0,
                   &r, "DECREMENT bad MAC");
    CHECK_ST(s, VOUCH_SE_E_MAC, "DECREMENT with a wrong C-MAC");
    CHECK(query_host(fd, &keys) == before, "wrong MAC left the counter");
    CHECK(counter_of(fd, 7) == c7, "wrong MAC left zone 7's counter");
    uint8_t up[3 + 8] = {3, 0, 0, 'B', 'A', 'D', 'M', 'A', 'C', '!', '!'};
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_UPDATE, before + 1, SC_RMAC | SC_BADMAC, up, 11, 3, 0, &r,
                   "UPDATE bad MAC");
    CHECK_ST(s, VOUCH_SE_E_MAC, "UPDATE with a wrong C-MAC");
    CHECK_ST(read_zone(fd, 3, 0, 8, &r, "READ 3"), 0, "READ zone 3");
    CHECK(r.len == 8 && memcmp(r.data, "\0\0\0\0\0\0\0\0", 8) == 0, "wrong MAC wrote nothing");
    /* MAC under the wrong key */
    {
        host_t bad = h;
        bad.kmac[0] ^= 0x80;
        s = sc_cmd_ctr(&bad, fd, VOUCH_SE_CMD_ECHO, before + 1, SC_RMAC, (const uint8_t *)"k", 1,
                       -1, 0, &r, "wrong key");
        CHECK_ST(s, VOUCH_SE_E_MAC, "C-MAC under a wrong key");
    }
    /* Bad CRC on a valid-MAC frame: E_CRC, counter not consumed */
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, before + 1, SC_RMAC | SC_BADCRC,
                   (const uint8_t *)"c", 1, -1, 0, &r, "bad CRC sc");
    CHECK_ST(s, VOUCH_SE_E_CRC, "valid C-MAC, bad CRC");
    CHECK(query_host(fd, &keys) == before, "bad CRC did not consume the counter");
    CHECK(counter_of(fd, 7) == c7, "still no decrement");

    /* Valid decrement over the channel */
    h.ctr = before + 1;
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_DECREMENT, dec, 5, 5, 0, &r, "DECREMENT sc");
    CHECK_ST(s, 0, "DECREMENT with a valid C-MAC");
    CHECK(r.len == 4 && rd32(r.data) == c7 - 1, "DECREMENT over the channel by one");
    uint32_t used = h.ctr - 1;

    /* Replay: same counter, lower counter, zero */
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_DECREMENT, used, SC_RMAC, dec, 5, 5, 0, &r,
                   "DECREMENT replay");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "replayed counter");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, used - 1, SC_RMAC, (const uint8_t *)"l", 1, -1, 0,
                   &r, "lower counter");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "lower counter");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, 0, SC_RMAC, (const uint8_t *)"z", 1, -1, 0, &r,
                   "counter 0");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "counter 0");
    CHECK(counter_of(fd, 7) == c7 - 1, "replays did not decrement");
    CHECK(query_host(fd, &keys) == used, "replays did not move the counter");
    /* Byte-exact replay of the accepted DECREMENT frame (CMAC is deterministic) */
    {
        uint8_t f[64];
        size_t n = build_secure(&h, VOUCH_SE_CMD_DECREMENT, used, SC_RMAC, dec, 5, f);
        CHECK_ST(xfer(fd, f, n, &r, "frame replay"), VOUCH_SE_E_REPLAY,
                 "byte-exact replay of an accepted frame");
        CHECK(counter_of(fd, 7) == c7 - 1, "byte-exact replay did not decrement");
    }

    /* Counter jump, then an in-between counter */
    h.ctr = used + 10;
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"j", 1, -1, 0, &r, "jump");
    CHECK_ST(s, 0, "counter jumps ahead by 10");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, used + 5, SC_RMAC, (const uint8_t *)"b", 1, -1, 0,
                   &r, "between");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "counter below the jump");

    /* Errors to valid-MAC commands carry an R-MAC and consume the counter */
    uint8_t rd[5] = {9, 0, 0, 0, 1};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_READ, rd, 5, -1, 1, &r, "READ zone 9 sc");
    CHECK_ST(s, VOUCH_SE_E_ZONE, "READ zone 9 over the channel");
    CHECK(r.rmac, "E_ZONE response carries an R-MAC");
    CHECK(query_host(fd, &keys) == h.ctr - 1, "failed command still consumed its counter");
    uint8_t rr[5] = {0, 0x08, 0x00, 0, 1};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_READ, rr, 5, -1, 1, &r, "READ range sc");
    CHECK_ST(s, VOUCH_SE_E_RANGE, "READ out of range over the channel");
    CHECK(r.rmac, "E_RANGE response carries an R-MAC");
    uint8_t bigdec[5] = {7, 0xFF, 0xFF, 0xFF, 0xFF};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_DECREMENT, bigdec, 5, 5, 0, &r, "DECREMENT too much sc");
    CHECK_ST(s, VOUCH_SE_E_COUNTER, "DECREMENT below 0 over the channel");
    CHECK(r.rmac, "E_COUNTER response carries an R-MAC");
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_QUERY, (const uint8_t *)"\x09", 1, -1, 0, &r, "QUERY 9 sc");
    CHECK_ST(s, VOUCH_SE_E_PARAM, "QUERY bad tag over the channel");
    CHECK(r.rmac, "E_PARAM response carries an R-MAC");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_READ, h.ctr++, 0, rd, 5, -1, 0, &r, "READ 9 no rmac");
    CHECK_ST(s, VOUCH_SE_E_ZONE, "error without R-MAC request");

    /* Commands that now need the channel */
    uint8_t w[1 + 16];
    w[0] = 0;
    memcpy(w + 1, "secret plaintext", 16);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_WRAP, w, 17, &r, "WRAP plain"), VOUCH_SE_E_CHANNEL,
             "WRAP without the channel once keys are set");
    uint8_t ac[3] = {4, VOUCH_SE_AC_HOST, VOUCH_SE_AC_HOST};
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ZONE_AC, ac, 3, &r, "ZONE_AC plain"), VOUCH_SE_E_CHANNEL,
             "ZONE_AC without the channel");
    uint8_t lc = VOUCH_SE_LC_OPERATIONAL;
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_LIFECYCLE, &lc, 1, &r, "LIFECYCLE plain"),
             VOUCH_SE_E_CHANNEL, "LIFECYCLE without the channel");
    uint8_t peer[66];
    peer[0] = 1;
    uint8_t hpriv[32], hpub[65];
    P->p256_keygen(P->ctx, hpriv, hpub);
    memcpy(peer + 1, hpub, 65);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECDH, peer, 66, &r, "ECDH plain"), VOUCH_SE_E_CHANNEL,
             "ECDH without the channel");

    /* WRAP/UNWRAP over the channel: plaintext encrypted both ways */
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_WRAP, w, 17, 1, 0, &r, "WRAP sc");
    CHECK_ST(s, 0, "WRAP over the channel");
    CHECK(r.len == 24, "WRAP over the channel gives 24 bytes");
    uint8_t u[25];
    u[0] = 0;
    memcpy(u + 1, r.data, 24);
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_UNWRAP, u, 25, -1, 0, &r, "UNWRAP sc raw");
    CHECK_ST(s, 0, "UNWRAP over the channel");
    CHECK(r.len == 16 && memcmp(r.data, "secret plaintext", 16) != 0,
          "UNWRAP response is not in clear");
    ctr_crypt(h.kenc, VOUCH_SE_DIR_RSP, h.ctr - 1, r.data, r.len);
    CHECK(r.len == 16 && memcmp(r.data, "secret plaintext", 16) == 0,
          "UNWRAP response decrypts (IV 80|ctr|0) to the plaintext");

    /* ECDH over the channel, secret checked with the port */
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ECDH, peer, 66, -1, 1, &r, "ECDH sc");
    CHECK_ST(s, 0, "ECDH slot 1 over the channel");
    if (s == 0) {
        uint8_t pk[1];
        rsp_t pr;
        pk[0] = 1;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_PUBKEY, pk, 1, &pr, "PUBKEY 1"), 0, "PUBKEY 1");
        uint8_t mine[32];
        if (pr.len == 66 && P->p256_ecdh(P->ctx, hpriv, pr.data + 1, mine) == 0)
            CHECK(r.len == 32 && memcmp(mine, r.data, 32) == 0,
                  "decrypted ECDH secret equals the host's");
    }

    /* HOST zone: encrypted UPDATE and READ */
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ZONE_AC, ac, 3, -1, 0, &r, "ZONE_AC sc");
    CHECK_ST(s, 0, "ZONE_AC zone 4 HOST/HOST over the channel");
    uint8_t rd4[5] = {4, 0, 16, 0, 32};
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_READ, rd4, 5, &r, "READ 4 plain"), VOUCH_SE_E_ACCESS,
             "plain READ of a HOST zone");
    uint8_t u4[3 + 32];
    u4[0] = 4;
    be16(u4 + 1, 16);
    for (int i = 0; i < 32; i++)
        u4[3 + i] = (uint8_t)('a' + (i % 26));
    uint8_t plain4[32];
    memcpy(plain4, u4 + 3, 32);
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, u4, 35, &r, "UPDATE 4 plain"), VOUCH_SE_E_ACCESS,
             "plain UPDATE of a HOST zone");
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_UPDATE, u4, 35, 3, 0, &r, "UPDATE 4 sc");
    CHECK_ST(s, 0, "encrypted UPDATE of a HOST zone");
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_READ, rd4, 5, -1, 0, &r, "READ 4 sc raw");
    CHECK_ST(s, 0, "encrypted READ of a HOST zone");
    CHECK(r.len == 32 && memcmp(r.data, plain4, 32) != 0, "READ response is not in clear");
    ctr_crypt(h.kenc, VOUCH_SE_DIR_RSP, h.ctr - 1, r.data, r.len);
    CHECK(r.len == 32 && memcmp(r.data, plain4, 32) == 0,
          "HOST zone round trip (UPDATE decrypted by the chip, READ decrypted here)");
    /* READ of an ALWAYS zone over the channel is encrypted too (2.3) */
    uint8_t u3[3 + 8] = {3, 0, 100, 'a', 'l', 'w', 'a', 'y', 's', '!', '!'};
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_UPDATE, u3, 11, &r, "UPDATE 3"), 0, "plain UPDATE zone 3");
    uint8_t rd3[5] = {3, 0, 100, 0, 8};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_READ, rd3, 5, -1, 1, &r, "READ 3 sc");
    CHECK_ST(s, 0, "READ zone 3 over the channel");
    CHECK(r.len == 8 && memcmp(r.data, "always!!", 8) == 0,
          "READ over the channel decrypts for an ALWAYS zone");
    /* A channel UPDATE whose data was not encrypted lands as its decryption */
    uint8_t u3b[3 + 8] = {3, 0, 100, 'c', 'l', 'e', 'a', 'r', 't', 'x', 't'};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_UPDATE, u3b, 11, -1, 0, &r, "UPDATE 3 unencrypted");
    CHECK_ST(s, 0, "channel UPDATE (data sent unencrypted)");
    CHECK_ST(read_zone(fd, 3, 100, 8, &r, "READ 3 plain"), 0, "READ zone 3 plain");
    {
        uint8_t expect[8];
        memcpy(expect, u3b + 3, 8);
        ctr_crypt(h.kenc, VOUCH_SE_DIR_CMD, h.ctr - 1, expect, 8);
        CHECK(r.len == 8 && memcmp(r.data, expect, 8) == 0,
              "chip decrypts UPDATE data with IV 00|ctr|0");
    }
    /* ZONE_AC can only tighten */
    uint8_t loosen[3] = {4, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_HOST};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ZONE_AC, loosen, 3, -1, 0, &r, "ZONE_AC loosen");
    CHECK_ST(s, VOUCH_SE_E_NOT_STRICTER, "ZONE_AC HOST -> ALWAYS");
    CHECK(r.rmac, "E_NOT_STRICTER carries an R-MAC");
    uint8_t never[3] = {4, VOUCH_SE_AC_NEVER, VOUCH_SE_AC_NEVER};
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_ZONE_AC, never, 3, -1, 0, &r, "ZONE_AC never");
    CHECK_ST(s, 0, "ZONE_AC zone 4 NEVER/NEVER");
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_READ, rd4, 5, -1, 1, &r, "READ never");
    CHECK_ST(s, VOUCH_SE_E_ACCESS, "READ of a NEVER zone over the channel");
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_UPDATE, u4, 35, 3, 0, &r, "UPDATE never");
    CHECK_ST(s, VOUCH_SE_E_ACCESS, "UPDATE of a NEVER zone over the channel");

    /* LIFECYCLE over the channel: staying is refused, unknown target E_PARAM */
    lc = VOUCH_SE_LC_PERSONALIZATION;
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_LIFECYCLE, &lc, 1, -1, 0, &r, "LIFECYCLE stay");
    CHECK_ST(s, VOUCH_SE_E_LIFECYCLE, "LIFECYCLE to PERSONALIZATION (stay)");
    lc = 7;
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_LIFECYCLE, &lc, 1, -1, 0, &r, "LIFECYCLE 7");
    CHECK_ST(s, VOUCH_SE_E_PARAM, "LIFECYCLE to 7");

    /* Hibernation: E_ASLEEP before the MAC is looked at, counter not used */
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_HIBERNATE, NULL, 0, &r, "HIBERNATE"), 0, "HIBERNATE");
    uint32_t at = h.ctr;
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, at, SC_RMAC, (const uint8_t *)"s", 1, -1, 0, &r,
                   "asleep sc");
    CHECK_ST(s, VOUCH_SE_E_ASLEEP, "channel command while asleep");
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECHO, NULL, 0, &r, "asleep echo"), VOUCH_SE_E_ASLEEP,
             "plain ECHO while asleep");
    {
        uint8_t t = VOUCH_SE_Q_HOST;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_QUERY, &t, 1, &r, "asleep query"), VOUCH_SE_E_ASLEEP,
                 "QUERY while asleep");
        uint8_t f[8];
        size_t n = build_plain(0x1D, NULL, 0, f);
        CHECK_ST(xfer(fd, f, n, &r, "asleep unknown"), VOUCH_SE_E_UNKNOWN_CMD,
                 "unknown command while asleep: E_UNKNOWN_CMD first");
    }
    CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_WAKE, NULL, 0, &r, "WAKE"), 0, "WAKE");
    CHECK(query_host(fd, &keys) == at - 1, "asleep refusal did not use the counter");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, at, SC_RMAC, (const uint8_t *)"s", 1, -1, 0, &r,
                   "awake sc");
    CHECK_ST(s, 0, "same counter accepted after WAKE");
    h.ctr = at + 1;

    /* Key rotation over the channel: new keys encrypted under the old Kenc */
    host_t nh;
    P->random(P->ctx, nh.kmac, 16);
    P->random(P->ctx, nh.kenc, 16);
    uint8_t nk[32];
    memcpy(nk, nh.kmac, 16);
    memcpy(nk + 16, nh.kenc, 16);
    uint32_t rot = h.ctr;
    s = sc_cmd(&h, fd, VOUCH_SE_CMD_HOST_KEYS, nk, 32, 0, 0, &r, "HOST_KEYS rotate");
    CHECK_ST(s, 0, "HOST_KEYS rotation over the channel");
    s = sc_cmd_ctr(&h, fd, VOUCH_SE_CMD_ECHO, rot + 1, SC_RMAC, (const uint8_t *)"o", 1, -1, 0, &r,
                   "old keys");
    CHECK_ST(s, VOUCH_SE_E_MAC, "old keys refused after rotation");
    CHECK(query_host(fd, &keys) == rot, "counter carries on across rotation");
    nh.ctr = rot + 1;
    s = sc_cmd(&nh, fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"new", 3, -1, 0, &r, "new keys");
    CHECK_ST(s, 0, "new keys accepted (so the chip decrypted them with the old Kenc)");
    s = sc_cmd(&nh, fd, VOUCH_SE_CMD_READ, rd3, 5, -1, 1, &r, "READ 3 new keys");
    CHECK_ST(s, 0, "encrypted READ under the new Kenc");

    /* Counter exhaustion: 0xFFFFFFFF once, then E_REPLAY forever */
    s = sc_cmd_ctr(&nh, fd, VOUCH_SE_CMD_ECHO, 0xFFFFFFFFu, SC_RMAC, (const uint8_t *)"e", 1, -1,
                   0, &r, "ctr max");
    CHECK_ST(s, 0, "counter 0xFFFFFFFF accepted once");
    s = sc_cmd_ctr(&nh, fd, VOUCH_SE_CMD_ECHO, 0xFFFFFFFFu, SC_RMAC, (const uint8_t *)"e", 1, -1,
                   0, &r, "ctr max again");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "counter 0xFFFFFFFF twice");
    s = sc_cmd_ctr(&nh, fd, VOUCH_SE_CMD_ECHO, 0, SC_RMAC, (const uint8_t *)"w", 1, -1, 0, &r,
                   "ctr wrap");
    CHECK_ST(s, VOUCH_SE_E_REPLAY, "counter does not wrap to 0");
    CHECK(query_host(fd, &keys) == 0xFFFFFFFFu, "channel exhausted at 0xFFFFFFFF");
}

static void t_concurrent_connections(void)
{
    int a = conn_open(), b = conn_open();
    CHECK(a >= 0 && b >= 0, "two connections at once");
    if (a < 0 || b < 0) {
        if (a >= 0)
            close(a);
        if (b >= 0)
            close(b);
        return;
    }
    rsp_t r;
    CHECK_ST(cmd_plain(a, VOUCH_SE_CMD_ECHO, (const uint8_t *)"A", 1, &r, "ECHO A"), 0,
             "ECHO on connection A");
    CHECK_ST(cmd_plain(b, VOUCH_SE_CMD_ECHO, (const uint8_t *)"B", 1, &r, "ECHO B"), 0,
             "ECHO on connection B");
    CHECK(r.len == 1 && r.data[0] == 'B', "connection B gets its own answer");
    close(a);
    close(b);
}

/* Frame integrity without counting checks: 1 when the frame is whole. */
static int frame_ok(const uint8_t *raw, int n)
{
    if (n < 5)
        return 0;
    uint16_t crc = crc16(raw, (size_t)n - 2);
    if (raw[n - 2] != (crc >> 8) || raw[n - 1] != (crc & 0xFF))
        return 0;
    size_t len = (size_t)raw[1] << 8 | raw[2];
    return 3 + len + ((raw[0] & 0x80) ? 8 : 0) + 2 == (size_t)n;
}

/* Sends one frame; on a corrupted response re-reads (never re-sends) until a
 * whole one arrives. Returns the number of corrupted copies seen, -1 when
 * no whole copy came within 20 re-reads. */
static int xfer_recover(int fd, const uint8_t *f, size_t n, rsp_t *r, int *want_len)
{
    uint8_t raw[VOUCH_SE_RSP_FRAME_MAX + 16];
    int bad = 0;
    if (send_record(fd, f, n) != 0)
        return -1;
    for (int i = 0; i < 21; i++) {
        if (i > 0 && send_record(fd, NULL, 0) != 0)
            return -1;
        int k = recv_record(fd, raw, sizeof raw);
        if (k < 0)
            return -1;
        if (*want_len < 0)
            *want_len = k;
        else
            CHECK(k == *want_len, "record length %d changed to %d under faults", *want_len, k);
        if (frame_ok(raw, k)) {
            parse_rsp(raw, k, r, "fault probe");
            return bad;
        }
        bad++;
    }
    return -1;
}

/* --faults: the daemon runs with --fault-rate; show that responses do get
 * corrupted, that the record length never does, and that re-reads recover
 * the response without running the command again. */
static int fault_probe(int rounds)
{
    int fd = conn_open();
    if (fd < 0) {
        fprintf(stderr, "cannot connect to %s\n", g_path);
        return 2;
    }
    int corrupted = 0, copies = 0, lost = 0;
    uint8_t f[200], pl[64];
    rsp_t r;
    for (int i = 0; i < rounds; i++) {
        for (int k = 0; k < 64; k++)
            pl[k] = (uint8_t)(i + k);
        size_t n = build_plain(VOUCH_SE_CMD_ECHO, pl, 64, f);
        int want = -1;
        int b = xfer_recover(fd, f, n, &r, &want);
        if (b < 0) {
            lost++;
            continue;
        }
        copies += b + 1;
        corrupted += b;
        CHECK(r.status == 0 && r.len == 64 && memcmp(r.data, pl, 64) == 0,
              "ECHO %d recovered intact", i);
    }
    /* side effects: each DECREMENT runs once however often it is re-read */
    uint32_t start = 0xFFFFFFFFu;
    {
        uint8_t q[5] = {7, 0, 0, 0, 0};
        size_t n = build_plain(VOUCH_SE_CMD_DECREMENT, q, 5, f);
        int want = -1;
        if (xfer_recover(fd, f, n, &r, &want) >= 0 && r.status == 0 && r.len == 4)
            start = rd32(r.data);
    }
    int decs = rounds / 4, dec_bad = 0;
    for (int i = 0; i < decs; i++) {
        uint8_t q[5] = {7, 0, 0, 0, 1};
        size_t n = build_plain(VOUCH_SE_CMD_DECREMENT, q, 5, f);
        int want = -1;
        int b = xfer_recover(fd, f, n, &r, &want);
        if (b < 0) {
            lost++;
            continue;
        }
        dec_bad += b;
        CHECK(r.status == 0 && r.len == 4 && rd32(r.data) == start - 1 - (uint32_t)i,
              "DECREMENT %d: counter %u, want %u", i, r.len == 4 ? rd32(r.data) : 0,
              start - 1 - (uint32_t)i);
    }
    close(fd);
    fprintf(stderr,
            "fault probe: %d ECHOs, %d corrupted copies of %d received (%.1f%%), "
            "%d corrupted DECREMENT responses re-read, %d unrecovered\n",
            rounds, corrupted, copies, copies ? 100.0 * corrupted / copies : 0.0, dec_bad, lost);
    CHECK(corrupted + dec_bad > 0, "the fault mode corrupted at least one response");
    CHECK(lost == 0, "every response recovered by re-read (%d lost)", lost);
    fprintf(stderr, "se_wire --faults: %d checks passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}

int main(int argc, char **argv)
{
    int faults = 0;
    if (argc > 1 && strcmp(argv[1], "--faults") == 0) {
        faults = 1;
        argv++;
        argc--;
    }
    g_path = argc > 1 ? argv[1] : getenv("VOUCH_SE_SOCKET");
    if (!g_path) {
        fprintf(stderr, "usage: se_wire [--faults] SOCKET_PATH [ROUNDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    crc_init();
    P = vouch_port_openssl();
    t_crc();
    if (faults)
        return fault_probe(argc > 2 ? atoi(argv[2]) : 400);

    int fd = conn_open();
    if (fd < 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", g_path, strerror(errno));
        return 2;
    }
    t_basic(fd);
    t_frames(fd);
    t_zones(fd);
    t_keys(fd);
    t_reread(fd);
    close(fd);
    t_oversized();
    t_concurrent_connections();
    fd = conn_open();
    CHECK(fd >= 0, "reconnect for the channel tests");
    if (fd >= 0) {
        t_channel(fd);
        close(fd);
    }

    /* The daemon survived all of it. */
    fd = conn_open();
    CHECK(fd >= 0, "daemon still accepts connections");
    if (fd >= 0) {
        rsp_t r;
        CHECK_ST(cmd_plain(fd, VOUCH_SE_CMD_ECHO, (const uint8_t *)"bye", 3, &r, "final ECHO"), 0,
                 "final ECHO");
        close(fd);
    }
    fprintf(stderr, "se_wire: %d checks passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
