/* fw/ internals shared by the image parser, the verifier and the boot code. */
#ifndef VOUCH_FW_INTERNAL_H
#define VOUCH_FW_INTERNAL_H

#include <vouch/fw.h>

#include "device/internal.h"

#define RC_FW(c) VOUCH_RC(VOUCH_LAYER_FW, (c))


/* vouch_fw_parse that also hands back the header and protected TLV bytes
 * it judged, so the verifier hashes exactly those bytes: a reader that
 * answers differently the second time cannot pair checked fields with
 * other, signed ones. */
vouch_rc vouch_fw_parse_keep(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                             const vouch_crypto_port *port, vouch_fw_image *img,
                             uint8_t h[VOUCH_FW_HDR_LEN], uint8_t prot[VOUCH_FW_TLV_MAX]);

/* A buffer length as the reader's `avail` (images stop at 2 GiB). */
static inline uint32_t vouch_fw_avail(size_t len)
{
    return len > VOUCH_FW_IMAGE_MAX ? VOUCH_FW_IMAGE_MAX : (uint32_t)len;
}

#endif
