/* fw/ internals shared by the image parser, the verifier and the boot code. */
#ifndef VOUCH_FW_INTERNAL_H
#define VOUCH_FW_INTERNAL_H

#include <vouch/fw.h>

#include "device/internal.h"

#define RC_FW(c) VOUCH_RC(VOUCH_LAYER_FW, (c))

/* A vouch_fw_read_fn over a buffer: ctx is a vouch_fw_mem. */
typedef struct vouch_fw_mem {
    const uint8_t *p;
    size_t len;
} vouch_fw_mem;
int vouch_fw_mem_read(void *ctx, uint32_t off, uint8_t *out, size_t len);

/* A buffer length as the reader's `avail` (images stop at 2 GiB). */
static inline uint32_t vouch_fw_avail(size_t len)
{
    return len > VOUCH_FW_IMAGE_MAX ? VOUCH_FW_IMAGE_MAX : (uint32_t)len;
}

#endif
