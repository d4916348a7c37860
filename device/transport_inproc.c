/*
 * In-process transport: the SE core linked into this program. It behaves
 * like the bus: send runs the command, recv hands out the last response,
 * and reread makes the next recv hand it out again without running anything.
 */
#include "internal.h"
#include "se/core.h"

vouch_rc vouch_transport_inproc_open(vouch_inproc_transport *t, struct vouch_se_core *core)
{
    if (!t || !core)
        return RC_API(VOUCH_E_ARG);
    t->core = core;
    t->rsp_len = 0;
    t->have_rsp = 0;
    return VOUCH_OK;
}

static vouch_rc inproc_send(void *ctx, const uint8_t *frame, size_t len)
{
    vouch_inproc_transport *t = ctx;
    size_t n;
    if (!t || !frame || len == 0 || len > VOUCH_SE_CMD_FRAME_MAX)
        return RC_API(VOUCH_E_ARG);
    if (!t->core)
        return RC_API(VOUCH_E_STATE);
    n = vouch_se_core_process(t->core, frame, len, t->rsp, sizeof t->rsp);
    /* the core promises to fit; a core that does not is a broken chip */
    t->have_rsp = n > 0 && n <= sizeof t->rsp;
    t->rsp_len = t->have_rsp ? n : 0;
    return t->have_rsp ? VOUCH_OK : RC_BUS(VOUCH_E_WRITE);
}

static vouch_rc inproc_recv(void *ctx, uint8_t *frame, size_t size, size_t *len,
                            uint32_t timeout_ms)
{
    vouch_inproc_transport *t = ctx;
    if (!t || !frame || !len)
        return RC_API(VOUCH_E_ARG);
    *len = 0;
    /* a chip with nothing to say NACKs until the host gives up */
    if (!t->have_rsp)
        return RC_BUS(VOUCH_E_TIMEOUT);
    if (t->rsp_len > size)
        return RC_API(VOUCH_E_BUFFER);
    memcpy(frame, t->rsp, t->rsp_len);
    *len = t->rsp_len;
    return VOUCH_OK;
}

static vouch_rc inproc_reread(void *ctx)
{
    /* recv always returns the stored response; nothing else to do */
    return ctx ? VOUCH_OK : RC_API(VOUCH_E_ARG);
}

static void inproc_close(void *ctx)
{
    vouch_inproc_transport *t = ctx;
    if (!t)
        return;
    /* the last response may be plaintext zone data or an unwrapped secret */
    vd_wipe(t->rsp, sizeof t->rsp);
    t->rsp_len = 0;
    t->have_rsp = 0;
    t->core = NULL;
}

const vouch_transport vouch_transport_inproc = {
    .name = "inproc",
    .send = inproc_send,
    .recv = inproc_recv,
    .reread = inproc_reread,
    .close = inproc_close,
};
