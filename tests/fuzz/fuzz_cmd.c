/*
 * One command's payload parser: the fuzz input becomes the payload of a
 * correctly framed command FUZZ_CMD (built once per command code by CMake:
 * fuzz_cmd_echo, fuzz_cmd_random, ...), sent to a chip in a prepared state.
 *
 * Input: flags(1) payload(0..1024)
 *   bit 0      carry a C-MAC (correct, under the chip's host key, with the
 *              next counter), so the paths behind the secure channel run
 *   bit 1      with bit 0: ask for an R-MAC
 *   bits 2-3   pristine chip: 0 PERSONALIZATION, 1 OPERATIONAL,
 *              2 TERMINATED, 3 no host keys (fuzz_common.h)
 *   bit 4      every commit fails (E_STORAGE paths, atomicity)
 *   bit 5      chip hibernating
 * Bytes past 1024 of payload are ignored. FUZZ_VERBOSE=1 in the environment
 * prints the status of each answer (handy when replaying a seed or a crash).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#ifndef FUZZ_CMD
#error "build with -DFUZZ_CMD=<command code>"
#endif

static vouch_se_core *core;
static uint8_t *rsp;
static int verbose; /* FUZZ_VERBOSE=1: print each answer's status */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init();
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    core = malloc(sizeof *core);
    rsp = malloc(VOUCH_SE_RSP_FRAME_MAX);
    if (!core || !rsp)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t plen = size - 1 > VOUCH_SE_MAX_PAYLOAD ? VOUCH_SE_MAX_PAYLOAD : size - 1;
    const vouch_se_core *pre = fz_pristine((flags >> 2) & 3);
    int mac = flags & 1;
    uint8_t hdr = (uint8_t)(FUZZ_CMD | (mac ? VOUCH_SE_HDR_CMAC : 0) |
                            (mac && (flags & 2) ? VOUCH_SE_HDR_RMAC : 0));

    memcpy(core, pre, sizeof *core);
    if (flags & 0x20) {
        /* hibernating: a copy of the pristine chip, asleep */
        static vouch_se_core asleep;
        memcpy(&asleep, pre, sizeof asleep);
        asleep.power = VOUCH_SE_POWER_HIBERNATE;
        memset(&asleep.ephemeral, 0, sizeof asleep.ephemeral);
        memcpy(core, &asleep, sizeof *core);
        pre = &asleep;
    }
    fz_rng_reset();
    fz_commit_reset();
    fz_commit_fail = (flags & 0x10) != 0;

    /* exact-size heap buffer, so a read past the frame is caught */
    size_t flen = 1 + plen + (mac ? VOUCH_SE_CTR_LEN + VOUCH_SE_MAC_LEN : 0) + VOUCH_SE_CRC_LEN;
    uint8_t *frame = malloc(flen);
    if (!frame)
        abort();
    if (fz_frame(frame, flen, hdr, data + 1, plen, pre->live.host_counter + 1,
                 pre->live.host_mac_key) != flen)
        abort();
    size_t r = vouch_se_core_process(core, frame, flen, rsp, VOUCH_SE_RSP_FRAME_MAX);
    if (r > VOUCH_SE_RSP_FRAME_MAX)
        fz_fail("process returned %zu bytes", r);
    fz_check(pre, core, frame, flen, rsp, r);
    if (verbose)
        fprintf(stderr, "command 0x%02x flags 0x%02x payload %zu bytes: status 0x%02x, %u data\n",
                FUZZ_CMD, flags, plen, rsp[0], (unsigned)((rsp[1] << 8) | rsp[2]));
    fz_commit_fail = 0;
    free(frame);
    return 0;
}
