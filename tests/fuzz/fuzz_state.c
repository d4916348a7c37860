/*
 * The persisted-state parser: arbitrary bytes into vouch_se_state_parse and
 * vouch_se_core_load. A blob that parses must serialize back to the same
 * bytes (the format is fixed-layout: every byte is a field), and a core loaded
 * from it must answer a fixed round of commands with well-formed frames
 * without tripping the sanitizers, whatever keys, access conditions, counters
 * and zone contents the blob holds: that is what a corrupted or hostile state
 * file looks like to the daemon.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static vouch_se_core *core, *pre;
static uint8_t *rsp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init();
    fz_check_leaks = 0;
    core = malloc(sizeof *core);
    pre = malloc(sizeof *pre);
    rsp = malloc(VOUCH_SE_RSP_FRAME_MAX);
    if (!core || !pre || !rsp)
        abort();
    return 0;
}

static void run(uint8_t cmd, int mac, const uint8_t *payload, size_t plen)
{
    uint8_t frame[VOUCH_SE_CMD_FRAME_MAX];
    uint8_t hdr = (uint8_t)(cmd | (mac ? VOUCH_SE_HDR_CMAC | VOUCH_SE_HDR_RMAC : 0));
    size_t n = fz_frame(frame, sizeof frame, hdr, payload, plen, core->live.host_counter + 1,
                        core->live.host_mac_key);
    memcpy(pre, core, sizeof *pre);
    fz_commit_reset();
    size_t r = vouch_se_core_process(core, frame, n, rsp, VOUCH_SE_RSP_FRAME_MAX);
    if (r > VOUCH_SE_RSP_FRAME_MAX)
        fz_fail("process returned %zu bytes", r);
    fz_check(pre, core, frame, n, rsp, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vouch_se_pstate st, st2;
    static uint8_t s1[VOUCH_SE_STATE_MAX], s2[VOUCH_SE_STATE_MAX];
    static vouch_se_slot peer_p256, peer_x;
    uint8_t p[1 + 1 + 64 + 65];

    fz_rng_reset();
    fz_commit_reset();
    int pr = vouch_se_state_parse(&st, data, size);
    int lr = vouch_se_core_load(core, fz_port, fz_commit, NULL, data, size);
    if (pr != 0) {
        if (lr == 0)
            fz_fail("vouch_se_core_load accepted a blob vouch_se_state_parse rejects");
        return 0;
    }
    size_t n1 = vouch_se_state_serialize(&st, s1, sizeof s1);
    if (n1 == 0)
        fz_fail("a parsed state does not serialize");
    if (n1 != size || memcmp(s1, data, size) != 0)
        fz_fail("parse then serialize does not give the input back");
    if (vouch_se_state_parse(&st2, s1, n1) != 0)
        fz_fail("a serialized state does not parse");
    size_t n2 = vouch_se_state_serialize(&st2, s2, sizeof s2);
    if (n2 != n1 || memcmp(s1, s2, n1) != 0)
        fz_fail("state round trip not stable");
    if (lr != 0)
        return 0;
    n2 = vouch_se_state_serialize(&core->live, s2, sizeof s2);
    if (n2 != n1 || memcmp(s1, s2, n1) != 0)
        fz_fail("the loaded core's state differs from the parsed one");

    if (!peer_p256.alg) {
        fz_key(VOUCH_SE_ALG_P256, 5, &peer_p256);
        fz_key(VOUCH_SE_ALG_X25519, 5, &peer_x);
    }

    /* A fixed round of commands over whatever the blob holds. */
    for (uint8_t tag = VOUCH_SE_Q_SERIAL; tag <= VOUCH_SE_Q_HOST; tag++)
        run(VOUCH_SE_CMD_QUERY, 0, &tag, 1);
    for (uint8_t z = 0; z < VOUCH_SE_ZONES; z++) {
        uint8_t rd[5] = {z, 0, 0, 0, 36};
        run(VOUCH_SE_CMD_READ, 0, rd, sizeof rd);
    }
    for (uint8_t z = 0; z < 5; z++) {
        /* VERIFY mode 1 parses alg(1) key(n) out of the zone itself */
        memset(p, 0x11, sizeof p);
        p[0] = VOUCH_SE_VERIFY_ZONE;
        p[1] = z;
        run(VOUCH_SE_CMD_VERIFY, 0, p, 2 + 64 + 32);
    }
    for (uint8_t s = 0; s < VOUCH_SE_SLOTS; s++) {
        run(VOUCH_SE_CMD_PUBKEY, 0, &s, 1);
        memset(p, 0x22, sizeof p);
        p[0] = s;
        run(VOUCH_SE_CMD_SIGN, 0, p, 1 + 32);
    }
    p[0] = 0;
    memcpy(p + 1, peer_p256.pub, 65);
    run(VOUCH_SE_CMD_ECDH, 0, p, 1 + 65);
    p[0] = 2;
    memcpy(p + 1, peer_x.pub, 32);
    run(VOUCH_SE_CMD_ECDH, 0, p, 1 + 32);
    uint8_t dec[5] = {5, 0, 0, 0, 0};
    run(VOUCH_SE_CMD_DECREMENT, 0, dec, sizeof dec);
    /* the channel with the loaded keys and counter (0xFFFFFFFF wraps to 0:
     * must be E_REPLAY) */
    run(VOUCH_SE_CMD_ECHO, 1, (const uint8_t *)"ping", 4);
    return 0;
}
