/*
 * Shared pieces of the SE fuzz targets and of the seed corpus generator:
 * a deterministic crypto port, the host side of the frame protocol (framing,
 * C-MAC, R-MAC check), the pristine chip states the targets start from, and
 * the oracles every exchange is checked against.
 *
 * Determinism: the port's random() is a fixed-seed generator reset before
 * every run, and the keys in the pristine states are derived from constants,
 * so a crashing input replays the same way in any process. (The OpenSSL
 * signing nonces and KEYGEN inside one run stay random; neither changes
 * which parser path a payload takes.)
 */
#ifndef VOUCH_FUZZ_COMMON_H
#define VOUCH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "se/core.h"

/* Pristine chips. FZ_V_* index fz_pristine(). */
enum {
    FZ_V_PERSO = 0,     /* PERSONALIZATION, host keys set, keys 0-3, eph P-256 */
    FZ_V_OPER = 1,      /* same, then OPERATIONAL; eph X25519 */
    FZ_V_TERM = 2,      /* same, then TERMINATED (keys wiped) */
    FZ_V_NOHOST = 3,    /* PERSONALIZATION, keys 0-3, no host keys, eph P-256 */
    FZ_V_FRESH = 4,     /* what vouch_se_core_create makes, nothing else */
    FZ_V_COUNT_
};

/* The fixed host keys set in the FZ_V_PERSO/OPER/TERM chips. */
extern const uint8_t fz_kmac[VOUCH_SE_HOST_KEY_LEN];
extern const uint8_t fz_kenc[VOUCH_SE_HOST_KEY_LEN];

/* The deterministic port (OpenSSL underneath, random() replaced). */
extern const vouch_crypto_port *fz_port;
void fz_rng_reset(void);

/* Commit callback used by every core here. Checks that each blob the core
 * commits parses back (aborts otherwise), keeps a copy of the last one, and
 * fails on request so the E_STORAGE paths are reached. */
int fz_commit(void *ctx, const uint8_t *blob, size_t len);
extern int fz_commit_fail;   /* set: fz_commit returns -1 */
extern int fz_commit_called; /* count since last fz_commit_reset() */
void fz_commit_reset(void);
/* The last committed blob, valid when fz_commit_called. */
extern uint8_t fz_last_blob[VOUCH_SE_STATE_MAX];
extern size_t fz_last_blob_len;

/* Builds the pristine chips once (aborts if a setup command fails). */
void fz_init(void);
const vouch_se_core *fz_pristine(int variant);

/* Command frame: header | payload | [ctr | C-MAC] | CRC. Returns the frame
 * length (0 if it does not fit in `size`). `kmac` is used when hdr has
 * VOUCH_SE_HDR_CMAC. */
size_t fz_frame(uint8_t *out, size_t size, uint8_t hdr, const uint8_t *payload,
                size_t plen, uint32_t ctr, const uint8_t *kmac);

/* Oracles on one exchange. `cmd` and `cmd_len` is the frame sent; `pre` the
 * core before, `post` after; `rsp` its answer. Aborts with a message on any
 * violation:
 *  - the response frame is well formed (CRC, length, status, no data on
 *    error, within VOUCH_SE_RSP_FRAME_MAX);
 *  - R-MAC present and correct exactly when asked for and the C-MAC passed;
 *  - a refusal leaves the persistent state as it was (the host counter may
 *    move after an accepted C-MAC), a failed commit leaves it all as it was,
 *    and any change of the live state was committed first;
 *  - no private, envelope or host key of `pre` appears in response data
 *    (decrypted first when the channel encrypted it). */
void fz_check(const vouch_se_core *pre, const vouch_se_core *post, const uint8_t *cmd,
              size_t cmd_len, const uint8_t *rsp, size_t rsp_len);

/* Leak oracle on (default); fuzz_state turns it off because there the
 * fuzzer writes the keys and the zone contents itself. */
extern int fz_check_leaks;

/* Response frame checks alone; returns the status byte. */
uint8_t fz_check_rsp_frame(const uint8_t *rsp, size_t rsp_len, const uint8_t **data,
                           size_t *data_len);

/* Deterministic keys (derived from constants with OpenSSL). */
void fz_key(uint8_t alg, unsigned n, vouch_se_slot *out);

/* fuzz_response: which libvouch call a run makes (input byte 0, modulo
 * FZ_OP_COUNT_), and the flag bits of input byte 1. */
enum {
    FZ_OP_ECHO, FZ_OP_RANDOM, FZ_OP_RANDOM_BIG, FZ_OP_QUERY, FZ_OP_READ, FZ_OP_UPDATE,
    FZ_OP_DECREMENT, FZ_OP_ZONE_AC, FZ_OP_KEYGEN_P256, FZ_OP_KEYGEN_ED25519, FZ_OP_PUBKEY,
    FZ_OP_SIGN, FZ_OP_VERIFY, FZ_OP_VERIFY_ZONE, FZ_OP_ECDH, FZ_OP_WRAP, FZ_OP_UNWRAP,
    FZ_OP_LIFECYCLE, FZ_OP_HIBERNATE, FZ_OP_WAKE, FZ_OP_PUT_HOST_KEYS, FZ_OP_RESET,
    FZ_OP_COUNT_
};
#define FZ_RSP_SECURE 0x01u /* host keys set in the client, VOUCH_SECURE calls */
#define FZ_RSP_FRAMED 0x02u /* chunks are status(1) data(n); the fake bus adds
                             * length, R-MAC (status bit 7) and CRC */

void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
