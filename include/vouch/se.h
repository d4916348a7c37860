/*
 * libvouch: the device SDK's secure element client.
 *
 * Portable C99: no malloc, no OpenSSL types, caller-owned contexts and
 * buffers. Crypto the host needs (secure channel MACs and encryption) goes
 * through the vouch_crypto_port in <vouch/port.h>.
 *
 * Threads: a vouch_se context is one conversation with one chip. Calls on the
 * same context must not overlap unless the lock hooks in vouch_se_config are
 * set; every public call then holds the lock for its whole exchange (frame
 * out, response in, secure channel counter step), so callers may share one
 * context between threads. Different contexts never share state.
 *
 * Outputs follow (buf, size, *len): on success *len is the number of bytes
 * written; on failure the output buffer is poisoned (filled with 0xA5 up to
 * size) so a caller that ignores the status cannot use it.
 */
#ifndef VOUCH_SE_H
#define VOUCH_SE_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/port.h>
#include <vouch/se_proto.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VOUCH_WUR __attribute__((warn_unused_result))
#define VOUCH_API __attribute__((visibility("default")))
#else
#define VOUCH_WUR
#define VOUCH_API
#endif

/* ---- status ------------------------------------------------------------
 * One status type for the whole library. The layer sits in bits 16..23, the
 * code in bits 0..15, so a caller can tell a bus error from an access
 * condition refusal: VOUCH_RC_LAYER(rc) == VOUCH_LAYER_SE means the chip said
 * no and VOUCH_RC_CODE(rc) is its enum vouch_se_status.
 */
typedef uint32_t vouch_rc;

#define VOUCH_OK 0u
#define VOUCH_RC_LAYER(rc) (((rc) >> 16) & 0xFFu)
#define VOUCH_RC_CODE(rc) ((rc)&0xFFFFu)
#define VOUCH_RC(layer, code) ((vouch_rc)(((uint32_t)(layer) << 16) | ((code)&0xFFFFu)))

enum vouch_layer {
    VOUCH_LAYER_API = 1,     /* caller misuse: bad argument, buffer too small */
    VOUCH_LAYER_BUS = 2,     /* transport: connect, read, write, timeout */
    VOUCH_LAYER_FRAME = 3,   /* response frame: CRC, truncated, bad length */
    VOUCH_LAYER_SE = 4,      /* the chip refused: code is enum vouch_se_status */
    VOUCH_LAYER_CHANNEL = 5, /* secure channel: R-MAC wrong, keys missing */
    VOUCH_LAYER_PORT = 6     /* crypto port failed */
};

enum vouch_api_code {
    VOUCH_E_ARG = 1,        /* NULL or out-of-range argument */
    VOUCH_E_BUFFER = 2,     /* output buffer too small */
    VOUCH_E_STATE = 3,      /* context not open, or misused */
    VOUCH_E_UNSUPPORTED = 4 /* transport or feature not available here */
};
enum vouch_bus_code {
    VOUCH_E_CONNECT = 1,
    VOUCH_E_WRITE = 2,
    VOUCH_E_READ = 3,
    VOUCH_E_TIMEOUT = 4,
    VOUCH_E_CLOSED = 5 /* peer closed the connection */
};
enum vouch_frame_code {
    VOUCH_E_FRAME_CRC = 1,   /* response CRC wrong after all retries */
    VOUCH_E_FRAME_SHORT = 2, /* response shorter than its header says */
    VOUCH_E_FRAME_LEN = 3    /* response length field impossible */
};
enum vouch_channel_code {
    VOUCH_E_RMAC = 1,        /* response R-MAC wrong or missing */
    VOUCH_E_NO_KEYS = 2,     /* secure channel asked for, no host keys set */
    VOUCH_E_CTR_EXHAUSTED = 3
};

/* Words for any status; never NULL. Example: "SE: access condition refuses
 * this operation". */
VOUCH_API const char *vouch_strerror(vouch_rc rc);

/* ---- transports ----------------------------------------------------------
 * A transport moves one command frame to the chip and one response frame
 * back, like an I2C write followed by an I2C read. reread() fetches the last
 * response again without resending the command (an I2C read with no write
 * before it); the client uses it when a response arrives corrupted, so a
 * command with side effects is never executed twice.
 */
typedef struct vouch_transport {
    const char *name;
    vouch_rc (*send)(void *ctx, const uint8_t *frame, size_t len);
    vouch_rc (*recv)(void *ctx, uint8_t *frame, size_t size, size_t *len,
                     uint32_t timeout_ms);
    vouch_rc (*reread)(void *ctx); /* next recv returns the last response */
    void (*close)(void *ctx);
} vouch_transport;

/* Unix socket to a vouch-se daemon. The context is caller-owned. */
typedef struct vouch_unix_transport {
    int fd;
    char path[108];
} vouch_unix_transport;
VOUCH_API vouch_rc vouch_transport_unix_open(vouch_unix_transport *t, const char *path);
VOUCH_API extern const vouch_transport vouch_transport_unix;

/* Linux i2c-dev (/dev/i2c-N, 7-bit address). */
typedef struct vouch_i2c_transport {
    int fd;
    uint16_t addr;
    uint32_t poll_ms; /* delay between read attempts while the chip NACKs */
} vouch_i2c_transport;
VOUCH_API vouch_rc vouch_transport_i2c_open(vouch_i2c_transport *t, const char *dev,
                                            uint16_t addr);
VOUCH_API extern const vouch_transport vouch_transport_i2c;

/* In-process: the SE core linked into this program (tests, simulations).
 * `core` is a struct vouch_se_core from se/core.h that the caller has set up. */
struct vouch_se_core;
typedef struct vouch_inproc_transport {
    struct vouch_se_core *core;
    uint8_t rsp[VOUCH_SE_RSP_FRAME_MAX];
    size_t rsp_len;
    int have_rsp;
} vouch_inproc_transport;
VOUCH_API vouch_rc vouch_transport_inproc_open(vouch_inproc_transport *t,
                                               struct vouch_se_core *core);
VOUCH_API extern const vouch_transport vouch_transport_inproc;

/* Open a transport from a URI: "unix:/path/to/socket" or
 * "i2c:/dev/i2c-1@0x20". `storage` must be a vouch_transport_any. */
typedef union vouch_transport_any {
    vouch_unix_transport unix_;
    vouch_i2c_transport i2c;
} vouch_transport_any;
VOUCH_API vouch_rc vouch_transport_open_uri(const char *uri, vouch_transport_any *storage,
                                            const vouch_transport **transport,
                                            void **ctx);

/* ---- the client context ------------------------------------------------- */
typedef struct vouch_se_config {
    const vouch_transport *transport;
    void *transport_ctx;
    const vouch_crypto_port *port; /* NULL: vouch_port_openssl() */
    /* optional lock hooks; both or neither */
    void (*lock)(void *lock_ctx);
    void (*unlock)(void *lock_ctx);
    void *lock_ctx;
    uint32_t timeout_ms;   /* per response; 0 means 5000 */
    uint8_t max_retries;   /* busy and CRC retries; 0 means 5 */
    uint32_t busy_wait_ms; /* first back-off on BUSY, doubled each time; 0: 5 */
} vouch_se_config;

typedef struct vouch_se {
    vouch_se_config cfg;
    uint8_t cmd[VOUCH_SE_CMD_FRAME_MAX];
    uint8_t rsp[VOUCH_SE_RSP_FRAME_MAX];
    /* secure channel */
    int have_keys;
    uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN];
    uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN];
    uint32_t counter;      /* last counter the chip accepted, as we know it */
    int counter_synced;
    /* statistics, for tests and benchmarks */
    uint32_t retries_crc;
    uint32_t retries_busy;
    uint32_t rereads;
    int open;
} vouch_se;

VOUCH_API vouch_rc vouch_se_init(vouch_se *se, const vouch_se_config *cfg) VOUCH_WUR;
/* Closes the transport and wipes the host keys. */
VOUCH_API void vouch_se_close(vouch_se *se);

/* Host secure channel. After this, calls made with VOUCH_SECURE carry a
 * C-MAC with the next counter, request an R-MAC and encrypt secret fields
 * (docs/se-protocol.md section 2). The first secure call reads the chip's
 * counter with QUERY. Keys are copied and wiped on close. */
VOUCH_API vouch_rc vouch_se_set_host_keys(vouch_se *se,
                                          const uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN],
                                          const uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN])
    VOUCH_WUR;

/* flags for calls that can go over the secure channel */
#define VOUCH_PLAIN 0u
#define VOUCH_SECURE 1u

/* Raw exchange: send `payload` as command `cmd`, return the response data.
 * Used by every typed call below; exposed for tools and tests. */
VOUCH_API vouch_rc vouch_se_transact(vouch_se *se, uint8_t cmd, unsigned flags,
                                     const uint8_t *payload, size_t payload_len,
                                     uint8_t *out, size_t out_size,
                                     size_t *out_len) VOUCH_WUR;

/* ---- typed commands ------------------------------------------------------ */
VOUCH_API vouch_rc vouch_se_echo(vouch_se *se, const uint8_t *in, size_t len, uint8_t *out,
                                 size_t out_size, size_t *out_len) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_reset(vouch_se *se) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_random(vouch_se *se, uint8_t *out, size_t len) VOUCH_WUR;

typedef struct vouch_se_key_info {
    uint8_t slot, alg, flags;
} vouch_se_key_info;
typedef struct vouch_se_zone_info {
    uint8_t index, type, read_ac, update_ac;
    uint16_t size;
    uint32_t counter; /* counter zones only */
} vouch_se_zone_info;
typedef struct vouch_se_info {
    uint8_t serial[VOUCH_SE_SERIAL_LEN];
    uint8_t fw_major, fw_minor;
    char product[32]; /* NUL-terminated */
    uint8_t lifecycle, power;
    uint8_t host_keys_set;
    uint32_t host_counter;
    uint8_t n_keys;
    vouch_se_key_info keys[VOUCH_SE_SLOTS];
    uint8_t n_zones;
    vouch_se_zone_info zones[VOUCH_SE_ZONES];
} vouch_se_info;
/* All QUERY tags in one call. */
VOUCH_API vouch_rc vouch_se_query(vouch_se *se, vouch_se_info *info) VOUCH_WUR;

/* Zones. READ/UPDATE move at most VOUCH_SE_MAX_PAYLOAD - 3 bytes per frame;
 * these calls split larger requests into frames themselves. For a counter
 * zone the readable bytes are counter(4, big-endian) then its data. */
VOUCH_API vouch_rc vouch_se_read(vouch_se *se, uint8_t zone, uint16_t offset, uint8_t *out,
                                 size_t len, unsigned flags) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_update(vouch_se *se, uint8_t zone, uint16_t offset,
                                   const uint8_t *data, size_t len, unsigned flags) VOUCH_WUR;
/* Decrements counter zone `zone` by `amount` (0 allowed: reads it), writing
 * `data` (may be NULL/0) into its data area in the same step. */
VOUCH_API vouch_rc vouch_se_decrement(vouch_se *se, uint8_t zone, uint32_t amount,
                                      const uint8_t *data, size_t data_len, unsigned flags,
                                      uint32_t *new_value) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_zone_ac(vouch_se *se, uint8_t zone, uint8_t read_ac,
                                    uint8_t update_ac, unsigned flags) VOUCH_WUR;

/* Keys. Public keys: P-256 65 bytes (04|X|Y), Ed25519/X25519 32 bytes. */
VOUCH_API vouch_rc vouch_se_keygen(vouch_se *se, uint8_t slot, uint8_t alg, uint8_t *pub,
                                   size_t pub_size, size_t *pub_len, unsigned flags) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_pubkey(vouch_se *se, uint8_t slot, uint8_t *alg, uint8_t *pub,
                                   size_t pub_size, size_t *pub_len) VOUCH_WUR;
/* P-256 slots: msg is a 32-byte digest. Ed25519 slots: msg is the message.
 * Signature is 64 bytes (r|s or Ed25519). */
VOUCH_API vouch_rc vouch_se_sign(vouch_se *se, uint8_t slot, const uint8_t *msg,
                                 size_t msg_len, uint8_t sig[VOUCH_SE_SIG_LEN],
                                 unsigned flags) VOUCH_WUR;
/* *valid is 1 or 0 when the call succeeds. */
VOUCH_API vouch_rc vouch_se_verify(vouch_se *se, uint8_t alg, const uint8_t *pub,
                                   size_t pub_len, const uint8_t *msg, size_t msg_len,
                                   const uint8_t sig[VOUCH_SE_SIG_LEN], int *valid) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_verify_zone(vouch_se *se, uint8_t zone, const uint8_t *msg,
                                        size_t msg_len, const uint8_t sig[VOUCH_SE_SIG_LEN],
                                        int *valid) VOUCH_WUR;
/* VERIFY mode 2: the key entry alg(1) key(n) starts at `offset` in a data
 * zone (several keys in one zone, e.g. the firmware keys of zone 2). */
VOUCH_API vouch_rc vouch_se_verify_zone_at(vouch_se *se, uint8_t zone, uint16_t offset,
                                           const uint8_t *msg, size_t msg_len,
                                           const uint8_t sig[VOUCH_SE_SIG_LEN],
                                           int *valid) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_ecdh(vouch_se *se, uint8_t slot, const uint8_t *peer,
                                 size_t peer_len, uint8_t secret[VOUCH_SE_SECRET_LEN],
                                 unsigned flags) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_wrap(vouch_se *se, uint8_t key_index, const uint8_t *in,
                                 size_t len, uint8_t *out, size_t out_size, size_t *out_len,
                                 unsigned flags) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_unwrap(vouch_se *se, uint8_t key_index, const uint8_t *in,
                                   size_t len, uint8_t *out, size_t out_size,
                                   size_t *out_len, unsigned flags) VOUCH_WUR;

/* Lifecycle and power. */
VOUCH_API vouch_rc vouch_se_lifecycle(vouch_se *se, uint8_t target, unsigned flags) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_hibernate(vouch_se *se) VOUCH_WUR;
VOUCH_API vouch_rc vouch_se_wake(vouch_se *se) VOUCH_WUR;
/* Sets the host MAC and cipher keys in the chip (PERSONALIZATION only) and
 * in this context. */
VOUCH_API vouch_rc vouch_se_put_host_keys(vouch_se *se,
                                          const uint8_t mac_key[VOUCH_SE_HOST_KEY_LEN],
                                          const uint8_t enc_key[VOUCH_SE_HOST_KEY_LEN],
                                          unsigned flags) VOUCH_WUR;

/* Names for printing. */
VOUCH_API const char *vouch_se_lifecycle_name(uint8_t lc);
VOUCH_API const char *vouch_se_alg_name(uint8_t alg);
VOUCH_API const char *vouch_se_ac_name(uint8_t ac);
VOUCH_API const char *vouch_se_cmd_name(uint8_t cmd);
VOUCH_API const char *vouch_se_status_name(uint8_t status);

#ifdef __cplusplus
}
#endif
#endif
