/*
 * Linux i2c-dev transport (spec 1.5). The command frame goes out in one
 * write transaction; the chip NACKs its address while it works, and we poll
 * every poll_ms until it answers or the timeout passes.
 *
 * Reading the response: I2C gives no way to learn a length and carry on in
 * the same read transaction through i2c-dev. Two options a STSAFE-like chip
 * accepts: one read of the maximum frame (1037 bytes), or a 3-byte read of
 * status and length followed by a second read of exactly the frame. The
 * second works because the chip answers every read that has no write before
 * it with the last response from its first byte (the re-read of the spec),
 * and it is what we do: a maximum read would clock ~1 KiB of padding out of
 * the chip for every 5-byte answer (about 25 ms at 400 kHz), the header read
 * costs under 0.1 ms. A header damaged on the wire only makes the second
 * read the wrong length, which the CRC then catches and the client rereads.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

#if defined(__linux__)
#include <linux/i2c-dev.h>
#include <sys/ioctl.h>
#define HAVE_I2C_DEV 1
#endif

#define I2C_DEFAULT_POLL_MS 1u
#define I2C_WRITE_WAIT_MS 200u /* chip still finishing an earlier command */

#ifdef HAVE_I2C_DEV
/* The adapter reports a NACKed address with one of these. */
static int nacked(int e)
{
    return e == EIO || e == ENXIO || e == EREMOTEIO || e == EAGAIN || e == ETIMEDOUT;
}

vouch_rc vouch_transport_i2c_open(vouch_i2c_transport *t, const char *dev, uint16_t addr)
{
    if (!t || !dev || addr > 0x7F)
        return RC_API(VOUCH_E_ARG);
    t->fd = -1;
    t->addr = addr;
    t->poll_ms = I2C_DEFAULT_POLL_MS;
    t->fd = open(dev, O_RDWR | O_CLOEXEC);
    if (t->fd < 0)
        return RC_BUS(VOUCH_E_CONNECT);
    if (ioctl(t->fd, I2C_SLAVE, (unsigned long)addr) < 0) {
        close(t->fd);
        t->fd = -1;
        return RC_BUS(VOUCH_E_CONNECT);
    }
    return VOUCH_OK;
}

static vouch_rc i2c_send(void *ctx, const uint8_t *frame, size_t len)
{
    vouch_i2c_transport *t = ctx;
    uint64_t deadline = vd_now_ms() + I2C_WRITE_WAIT_MS;
    if (!t || !frame || len == 0 || len > VOUCH_SE_CMD_FRAME_MAX)
        return RC_API(VOUCH_E_ARG);
    if (t->fd < 0)
        return RC_BUS(VOUCH_E_CLOSED);
    for (;;) {
        ssize_t w = write(t->fd, frame, len);
        if (w == (ssize_t)len)
            return VOUCH_OK;
        if (w >= 0 || (errno != EINTR && !nacked(errno)))
            return RC_BUS(VOUCH_E_WRITE);
        if (vd_now_ms() >= deadline)
            return RC_BUS(VOUCH_E_TIMEOUT);
        if (errno != EINTR)
            vd_sleep_ms(t->poll_ms ? t->poll_ms : I2C_DEFAULT_POLL_MS);
    }
}

/* One read transaction of n bytes, polling while the chip NACKs. */
static vouch_rc nack_read(vouch_i2c_transport *t, uint8_t *buf, size_t n, uint64_t deadline)
{
    for (;;) {
        ssize_t r = read(t->fd, buf, n);
        if (r == (ssize_t)n)
            return VOUCH_OK;
        if (r >= 0 || (errno != EINTR && !nacked(errno)))
            return RC_BUS(VOUCH_E_READ);
        if (vd_now_ms() >= deadline)
            return RC_BUS(VOUCH_E_TIMEOUT);
        if (errno != EINTR)
            vd_sleep_ms(t->poll_ms ? t->poll_ms : I2C_DEFAULT_POLL_MS);
    }
}

static vouch_rc i2c_recv(void *ctx, uint8_t *frame, size_t size, size_t *len,
                         uint32_t timeout_ms)
{
    vouch_i2c_transport *t = ctx;
    vouch_rc rc = VOUCH_OK;
    uint64_t deadline = vd_now_ms() + timeout_ms;
    size_t dlen, total;
    ENSURE(t && frame && len && size >= 3, RC_API(VOUCH_E_ARG));
    *len = 0;
    ENSURE(t->fd >= 0, RC_BUS(VOUCH_E_CLOSED));
    GUARD(nack_read(t, frame, 3, deadline));
    dlen = vd_get16(frame + 1);
    if (dlen > VOUCH_SE_MAX_PAYLOAD) {
        /* a damaged header: hand back what we have, the client rereads */
        *len = 3;
        goto exit;
    }
    total = 3 + dlen + ((frame[0] & VOUCH_SE_STATUS_RMAC) ? VOUCH_SE_MAC_LEN : 0) +
            VOUCH_SE_CRC_LEN;
    ENSURE(total <= size, RC_FRAME(VOUCH_E_FRAME_LEN));
    GUARD(nack_read(t, frame, total, deadline));
    *len = total;
exit:
    return rc;
}

static vouch_rc i2c_reread(void *ctx)
{
    /* A read with no write before it is the re-read: nothing to send. */
    return ctx ? VOUCH_OK : RC_API(VOUCH_E_ARG);
}

static void i2c_close(void *ctx)
{
    vouch_i2c_transport *t = ctx;
    if (t && t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}
#else
vouch_rc vouch_transport_i2c_open(vouch_i2c_transport *t, const char *dev, uint16_t addr)
{
    if (t)
        t->fd = -1;
    return RC_API(VOUCH_E_UNSUPPORTED);
}
static vouch_rc i2c_send(void *ctx, const uint8_t *frame, size_t len)
{
    return RC_API(VOUCH_E_UNSUPPORTED);
}
static vouch_rc i2c_recv(void *ctx, uint8_t *frame, size_t size, size_t *len,
                         uint32_t timeout_ms)
{
    return RC_API(VOUCH_E_UNSUPPORTED);
}
static vouch_rc i2c_reread(void *ctx)
{
    return RC_API(VOUCH_E_UNSUPPORTED);
}
static void i2c_close(void *ctx)
{
}
#endif

const vouch_transport vouch_transport_i2c = {
    .name = "i2c",
    .send = i2c_send,
    .recv = i2c_recv,
    .reread = i2c_reread,
    .close = i2c_close,
};
