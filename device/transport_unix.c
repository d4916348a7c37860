/*
 * Unix socket transport to the vouch-se daemon (spec 1.5): every bus
 * transaction is a record, 2-byte big-endian length then the bytes. A
 * record of length 0 asks for a re-read; each host record is answered by
 * exactly one record.
 *
 * Keeping the stream in step matters more than keeping the connection: if a
 * response times out or breaks off half-way, a late record would later be
 * taken for the answer to the next command. So on any such failure the
 * connection is dropped, and the next send reconnects to the stored path.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static void drop(vouch_unix_transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static vouch_rc unix_connect(vouch_unix_transport *t)
{
    struct sockaddr_un sa;
    size_t n = strnlen(t->path, sizeof t->path);
    int fd;
    if (n == 0 || n >= sizeof t->path || n >= sizeof sa.sun_path)
        return RC_API(VOUCH_E_ARG);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, t->path, n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return RC_BUS(VOUCH_E_CONNECT);
    while (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINTR) {
            close(fd);
            return RC_BUS(VOUCH_E_CONNECT);
        }
    }
    t->fd = fd;
    return VOUCH_OK;
}

vouch_rc vouch_transport_unix_open(vouch_unix_transport *t, const char *path)
{
    size_t n;
    if (!t || !path)
        return RC_API(VOUCH_E_ARG);
    t->fd = -1;
    n = strlen(path);
    if (n == 0 || n >= sizeof t->path)
        return RC_API(VOUCH_E_ARG);
    memcpy(t->path, path, n + 1);
    return unix_connect(t);
}

static vouch_rc write_all(vouch_unix_transport *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        /* MSG_NOSIGNAL: a daemon that went away is an error, not SIGPIPE */
        ssize_t w = send(t->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int closed = w < 0 && (errno == EPIPE || errno == ECONNRESET);
            drop(t);
            return RC_BUS(closed ? VOUCH_E_CLOSED : VOUCH_E_WRITE);
        }
        p += w;
        n -= (size_t)w;
    }
    return VOUCH_OK;
}

/* Sends one record; reconnects first if an earlier failure dropped the
 * connection. */
static vouch_rc send_record(vouch_unix_transport *t, const uint8_t *frame, size_t len)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t rec[2 + VOUCH_SE_CMD_FRAME_MAX];
    if (t->fd < 0)
        GUARD(unix_connect(t));
    vd_put16(rec, (uint16_t)len);
    if (len)
        memcpy(rec + 2, frame, len);
    rc = write_all(t, rec, 2 + len);
exit:
    return rc;
}

static vouch_rc unix_send(void *ctx, const uint8_t *frame, size_t len)
{
    if (!ctx || !frame || len == 0 || len > VOUCH_SE_CMD_FRAME_MAX)
        return RC_API(VOUCH_E_ARG);
    return send_record(ctx, frame, len);
}

static vouch_rc unix_reread(void *ctx)
{
    if (!ctx)
        return RC_API(VOUCH_E_ARG);
    return send_record(ctx, NULL, 0);
}

/* Reads exactly n bytes before the deadline. */
/* How long a read polls the socket before sleeping in poll(). An I2C host
 * polls a chip the same way; here it saves the wake-up of a sleeping CPU,
 * which on a VM costs more than most SE commands' own work. */
#define SPIN_NS 150000L

/* Tries the read without sleeping for up to SPIN_NS. Returns the bytes
 * read, 0 when nothing came, -1 on error or end of stream (errno kept). */
static ssize_t spin_read(int fd, uint8_t *p, size_t n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r > 0)
            return r;
        if (r == 0) {
            errno = 0; /* end of stream */
            return -1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
            return 0;
        sched_yield(); /* the chip may be waiting for this very CPU */
    }
}

static vouch_rc read_full(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
    ssize_t sr = spin_read(fd, p, n);
    if (sr > 0) {
        p += sr;
        n -= (size_t)sr;
    } else if (sr < 0 && errno != EAGAIN) {
        return errno == ECONNRESET || errno == 0 ? RC_BUS(VOUCH_E_CLOSED) : RC_BUS(VOUCH_E_READ);
    }
    while (n > 0) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        uint64_t now = vd_now_ms(), left = now >= deadline ? 0 : deadline - now;
        int pr;
        ssize_t r;
        pr = poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return RC_BUS(VOUCH_E_READ);
        if (pr == 0)
            return RC_BUS(VOUCH_E_TIMEOUT);
        r = read(fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return RC_BUS(VOUCH_E_CLOSED);
        if (r < 0)
            return RC_BUS(VOUCH_E_READ);
        p += r;
        n -= (size_t)r;
    }
    return VOUCH_OK;
}

static vouch_rc unix_recv(void *ctx, uint8_t *frame, size_t size, size_t *len,
                          uint32_t timeout_ms)
{
    vouch_unix_transport *t = ctx;
    vouch_rc rc = VOUCH_OK;
    uint64_t deadline = vd_now_ms() + timeout_ms;
    uint8_t hdr[2], sink[64];
    size_t rlen;
    ENSURE(t && frame && len, RC_API(VOUCH_E_ARG));
    *len = 0;
    ENSURE(t->fd >= 0, RC_BUS(VOUCH_E_CLOSED));
    GUARD(read_full(t->fd, hdr, 2, deadline));
    rlen = vd_get16(hdr);
    if (rlen > size) {
        /* Consume the record so the stream stays in step, then refuse it. */
        while (rlen > 0) {
            size_t k = rlen < sizeof sink ? rlen : sizeof sink;
            GUARD(read_full(t->fd, sink, k, deadline));
            rlen -= k;
        }
        rc = RC_FRAME(VOUCH_E_FRAME_LEN);
        goto exit;
    }
    GUARD(read_full(t->fd, frame, rlen, deadline));
    *len = rlen;
exit:
    if (rc != VOUCH_OK && t && VOUCH_RC_LAYER(rc) == VOUCH_LAYER_BUS)
        drop(t);
    return rc;
}

static void unix_close(void *ctx)
{
    if (ctx)
        drop(ctx);
}

const vouch_transport vouch_transport_unix = {
    .name = "unix",
    .send = unix_send,
    .recv = unix_recv,
    .reread = unix_reread,
    .close = unix_close,
};

vouch_rc vouch_transport_open_uri(const char *uri, vouch_transport_any *storage,
                                  const vouch_transport **transport, void **ctx)
{
    vouch_rc rc = VOUCH_OK;
    char dev[256];
    const char *at;
    char *end = NULL;
    unsigned long addr;
    ENSURE(uri && storage && transport && ctx, RC_API(VOUCH_E_ARG));
    *transport = NULL;
    *ctx = NULL;
    if (strncmp(uri, "unix:", 5) == 0) {
        GUARD(vouch_transport_unix_open(&storage->unix_, uri + 5));
        *transport = &vouch_transport_unix;
        *ctx = &storage->unix_;
    } else if (strncmp(uri, "i2c:", 4) == 0) {
        /* the address follows the last '@': device paths may contain one */
        at = strrchr(uri + 4, '@');
        ENSURE(at && at > uri + 4 && (size_t)(at - (uri + 4)) < sizeof dev, RC_API(VOUCH_E_ARG));
        memcpy(dev, uri + 4, (size_t)(at - (uri + 4)));
        dev[at - (uri + 4)] = '\0';
        ENSURE(at[1] >= '0' && at[1] <= '9', RC_API(VOUCH_E_ARG));
        errno = 0;
        addr = strtoul(at + 1, &end, 0);
        ENSURE(errno == 0 && end && *end == '\0' && addr <= 0x7F, RC_API(VOUCH_E_ARG));
        GUARD(vouch_transport_i2c_open(&storage->i2c, dev, (uint16_t)addr));
        *transport = &vouch_transport_i2c;
        *ctx = &storage->i2c;
    } else {
        rc = RC_API(VOUCH_E_UNSUPPORTED);
    }
exit:
    return rc;
}
