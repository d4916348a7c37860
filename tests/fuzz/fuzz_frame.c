/*
 * The frame parser: arbitrary bytes as one command frame to a fresh chip
 * (what vouch_se_core_create makes), reset to that pristine copy before every
 * input. fz_check holds the answer to protocol section 1.4 (which status for
 * which malformation, in which order) and to the atomicity rules.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static vouch_se_core *core;
static uint8_t *rsp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init();
    core = malloc(sizeof *core);
    rsp = malloc(VOUCH_SE_RSP_FRAME_MAX);
    if (!core || !rsp)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const vouch_se_core *pre = fz_pristine(FZ_V_FRESH);
    memcpy(core, pre, sizeof *core);
    fz_rng_reset();
    fz_commit_reset();
    size_t r = vouch_se_core_process(core, data, size, rsp, VOUCH_SE_RSP_FRAME_MAX);
    if (r > VOUCH_SE_RSP_FRAME_MAX)
        fz_fail("process returned %zu bytes", r);
    fz_check(pre, core, data, size, rsp, r);
    return 0;
}
