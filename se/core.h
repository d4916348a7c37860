/*
 * The secure element core: a transport-free state machine that takes one
 * command frame and produces one response frame. No malloc, no I/O, no
 * library types: crypto comes through the vouch_crypto_port and persistence
 * through a commit callback. The vouch-se daemon, the in-process transport and
 * the fuzz targets all drive this same code.
 *
 * Atomicity: a command works on a scratch copy of the persistent state. Only
 * when the command succeeded and the commit callback has made the new state
 * durable does the copy become live; otherwise the chip answers with an error
 * and nothing changed. This is what lets `kill -9` at any point leave the old
 * or the new state and never a mix.
 */
#ifndef VOUCH_SE_CORE_H
#define VOUCH_SE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/port.h>
#include <vouch/se_proto.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOUCH_SE_FW_MAJOR 1
#define VOUCH_SE_FW_MINOR 0
#define VOUCH_SE_PRODUCT "vouch-se soft SE"

/* Persistent state format version, bumped on any layout change. */
#define VOUCH_SE_STATE_VERSION 1u
/* Total bytes of zone storage (data zones plus counter data areas). */
#define VOUCH_SE_ZONE_BYTES 4448u
/* Upper bound of the serialized state. */
#define VOUCH_SE_STATE_MAX 6144u

typedef struct vouch_se_slot {
    uint8_t alg; /* enum vouch_se_alg, NONE when empty */
    uint8_t priv[32];
    uint8_t pub[VOUCH_SE_P256_PUB_LEN];
} vouch_se_slot;

typedef struct vouch_se_zone_state {
    uint8_t read_ac, update_ac;
    uint32_t counter; /* counter zones */
} vouch_se_zone_state;

/* Everything that survives power loss. */
typedef struct vouch_se_pstate {
    uint8_t serial[VOUCH_SE_SERIAL_LEN];
    uint8_t lifecycle;
    uint8_t host_keys_set;
    uint8_t host_mac_key[VOUCH_SE_HOST_KEY_LEN];
    uint8_t host_enc_key[VOUCH_SE_HOST_KEY_LEN];
    uint32_t host_counter; /* last accepted C-MAC counter */
    vouch_se_slot slots[VOUCH_SE_SLOTS];
    uint8_t envelope[VOUCH_SE_ENVELOPE_KEYS][32];
    vouch_se_zone_state zones[VOUCH_SE_ZONES];
    uint8_t zone_data[VOUCH_SE_ZONE_BYTES];
} vouch_se_pstate;

typedef struct vouch_se_zone_layout {
    uint8_t type;
    uint16_t size;   /* data bytes */
    uint16_t offset; /* into zone_data */
} vouch_se_zone_layout;
extern const vouch_se_zone_layout vouch_se_zone_map[VOUCH_SE_ZONES];

/* Returns 0 when `blob` is durably stored, -1 otherwise. */
typedef int (*vouch_se_commit_fn)(void *ctx, const uint8_t *blob, size_t len);

typedef struct vouch_se_core {
    const vouch_crypto_port *crypto;
    vouch_se_commit_fn commit;
    void *commit_ctx;
    vouch_se_pstate live;
    vouch_se_pstate scratch;
    /* volatile: lost on reset, hibernate and power loss */
    vouch_se_slot ephemeral;
    uint8_t power;
    /* highest C-MAC counter accepted since power-up, even if its commit
     * failed: a counter is never accepted twice while the chip runs */
    uint32_t ctr_seen;
    /* volatile state as it was before the command, restored if the
     * command's commit fails */
    vouch_se_slot saved_ephemeral;
    uint8_t saved_power;
    uint8_t payload[VOUCH_SE_MAX_PAYLOAD]; /* decrypted command payload */
    uint8_t blob[VOUCH_SE_STATE_MAX];
} vouch_se_core;

/* Makes a new chip: random serial and envelope keys, PERSONALIZATION, every
 * zone ALWAYS/ALWAYS, counters at 0xFFFFFFFF. Commits it. 0 or -1. */
int vouch_se_core_create(vouch_se_core *core, const vouch_crypto_port *crypto,
                         vouch_se_commit_fn commit, void *commit_ctx);
/* Loads a serialized state. 0, or -1 when the blob is malformed. */
int vouch_se_core_load(vouch_se_core *core, const vouch_crypto_port *crypto,
                       vouch_se_commit_fn commit, void *commit_ctx, const uint8_t *blob,
                       size_t len);
/* One command frame in, one response frame out. Always writes a response
 * (at most VOUCH_SE_RSP_FRAME_MAX bytes) and returns its length. */
size_t vouch_se_core_process(vouch_se_core *core, const uint8_t *cmd, size_t cmd_len,
                             uint8_t *rsp, size_t rsp_size);
/* Power cycle: volatile state gone, persistent state kept. */
void vouch_se_core_reset(vouch_se_core *core);
/* Wipes every secret in the struct. */
void vouch_se_core_wipe(vouch_se_core *core);

/* State (de)serialization, pinned by test vectors in tests/unit. */
size_t vouch_se_state_serialize(const vouch_se_pstate *st, uint8_t *out, size_t size);
int vouch_se_state_parse(vouch_se_pstate *st, const uint8_t *in, size_t len);

/* The response a core builds without a state (frame errors), for transports
 * that need one, e.g. BUSY from the daemon. */
size_t vouch_se_core_status_frame(uint8_t status, uint8_t *rsp, size_t rsp_size);

#ifdef __cplusplus
}
#endif
#endif
