/*
 * vouch secure element wire protocol: constants shared by the SE core and
 * the host library. docs/se-protocol.md is the specification; this header is
 * its machine-readable half and must stay in step with it.
 */
#ifndef VOUCH_SE_PROTO_H
#define VOUCH_SE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- frame layout -------------------------------------------------------
 * command:  header(1) | payload(n) | [counter(4) | C-MAC(8)] | CRC(2)
 * response: status(1) | length(2) | data(length) | [R-MAC(8)] | CRC(2)
 * All multi-byte integers are big-endian, the CRC included.
 */
#define VOUCH_SE_HDR_CMAC 0x80u  /* command carries counter + C-MAC */
#define VOUCH_SE_HDR_RMAC 0x40u  /* host asks for an R-MAC on the response */
#define VOUCH_SE_HDR_RSVD 0x20u  /* must be zero */
#define VOUCH_SE_HDR_CMD_MASK 0x1Fu

#define VOUCH_SE_STATUS_RMAC 0x80u /* response carries an R-MAC */
#define VOUCH_SE_STATUS_MASK 0x7Fu

#define VOUCH_SE_MAX_PAYLOAD 1024u /* command payload / response data */
#define VOUCH_SE_MAC_LEN 8u
#define VOUCH_SE_CTR_LEN 4u
#define VOUCH_SE_CRC_LEN 2u
#define VOUCH_SE_CMD_FRAME_MAX                                               \
    (1u + VOUCH_SE_MAX_PAYLOAD + VOUCH_SE_CTR_LEN + VOUCH_SE_MAC_LEN +      \
     VOUCH_SE_CRC_LEN)
#define VOUCH_SE_RSP_FRAME_MAX                                               \
    (3u + VOUCH_SE_MAX_PAYLOAD + VOUCH_SE_MAC_LEN + VOUCH_SE_CRC_LEN)
#define VOUCH_SE_FRAME_MAX VOUCH_SE_CMD_FRAME_MAX /* the larger of the two */

/* ---- command codes ------------------------------------------------------ */
enum vouch_se_cmd {
    VOUCH_SE_CMD_ECHO = 0x00,
    VOUCH_SE_CMD_RESET = 0x01,
    VOUCH_SE_CMD_RANDOM = 0x02,
    VOUCH_SE_CMD_QUERY = 0x03,
    VOUCH_SE_CMD_READ = 0x04,
    VOUCH_SE_CMD_UPDATE = 0x05,
    VOUCH_SE_CMD_DECREMENT = 0x06,
    VOUCH_SE_CMD_KEYGEN = 0x07,
    VOUCH_SE_CMD_PUBKEY = 0x08,
    VOUCH_SE_CMD_SIGN = 0x09,
    VOUCH_SE_CMD_VERIFY = 0x0A,
    VOUCH_SE_CMD_ECDH = 0x0B,
    VOUCH_SE_CMD_WRAP = 0x0C,
    VOUCH_SE_CMD_UNWRAP = 0x0D,
    VOUCH_SE_CMD_LIFECYCLE = 0x0E,
    VOUCH_SE_CMD_HIBERNATE = 0x0F,
    VOUCH_SE_CMD_WAKE = 0x10,
    VOUCH_SE_CMD_ZONE_AC = 0x11,
    VOUCH_SE_CMD_HOST_KEYS = 0x12,
    VOUCH_SE_CMD_COUNT_ /* one past the last code */
};

/* ---- status codes ------------------------------------------------------- */
enum vouch_se_status {
    VOUCH_SE_OK = 0x00,
    VOUCH_SE_E_CRC = 0x01,          /* command frame CRC wrong */
    VOUCH_SE_E_FRAME = 0x02,        /* truncated or malformed frame */
    VOUCH_SE_E_UNKNOWN_CMD = 0x03,  /* no such command code */
    VOUCH_SE_E_PARAM = 0x04,        /* payload malformed or value invalid */
    VOUCH_SE_E_ZONE = 0x05,         /* zone index out of range / wrong type */
    VOUCH_SE_E_SLOT = 0x06,         /* key slot out of range / wrong alg */
    VOUCH_SE_E_ACCESS = 0x07,       /* zone access condition refuses */
    VOUCH_SE_E_LIFECYCLE = 0x08,    /* refused in this lifecycle state */
    VOUCH_SE_E_MAC = 0x09,          /* C-MAC wrong, or no host keys */
    VOUCH_SE_E_REPLAY = 0x0A,       /* counter not above the last one */
    VOUCH_SE_E_NO_KEY = 0x0B,       /* slot holds no key */
    VOUCH_SE_E_KEY_LOCKED = 0x0C,   /* factory slot fixed in OPERATIONAL */
    VOUCH_SE_E_COUNTER = 0x0D,      /* counter would go below zero */
    VOUCH_SE_E_INTEGRITY = 0x0E,    /* unwrap integrity check failed */
    VOUCH_SE_E_BUSY = 0x0F,         /* still executing an earlier command */
    VOUCH_SE_E_ASLEEP = 0x10,       /* hibernating: send WAKE first */
    VOUCH_SE_E_STORAGE = 0x11,      /* non-volatile write failed: no change */
    VOUCH_SE_E_CHANNEL = 0x12,      /* command needs the host secure channel */
    VOUCH_SE_E_NOT_STRICTER = 0x13, /* access conditions only tighten */
    VOUCH_SE_E_RANGE = 0x14,        /* offset/length outside the zone */
    VOUCH_SE_E_INTERNAL = 0x15,     /* crypto or internal failure */
    VOUCH_SE_STATUS_COUNT_
};

/* ---- QUERY tags --------------------------------------------------------- */
enum vouch_se_query {
    VOUCH_SE_Q_SERIAL = 0x01,    /* serial(9) */
    VOUCH_SE_Q_PRODUCT = 0x02,   /* major(1) minor(1) name(n) */
    VOUCH_SE_Q_LIFECYCLE = 0x03, /* lifecycle(1) power(1) */
    VOUCH_SE_Q_KEYS = 0x04,      /* count(1) {slot alg flags}* */
    VOUCH_SE_Q_ZONES = 0x05,     /* count(1) {zone type rac uac size(2) ctr(4)}* */
    VOUCH_SE_Q_HOST = 0x06       /* keys_set(1) last_counter(4) */
};

enum vouch_se_lifecycle {
    VOUCH_SE_LC_PERSONALIZATION = 0x01,
    VOUCH_SE_LC_OPERATIONAL = 0x02,
    VOUCH_SE_LC_TERMINATED = 0x03
};

enum vouch_se_power { VOUCH_SE_POWER_AWAKE = 0x00, VOUCH_SE_POWER_HIBERNATE = 0x01 };

/* Access conditions, ordered from least to most strict. */
enum vouch_se_ac {
    VOUCH_SE_AC_ALWAYS = 0x00,
    VOUCH_SE_AC_HOST = 0x01, /* only with a valid C-MAC; data encrypted */
    VOUCH_SE_AC_NEVER = 0x02
};

enum vouch_se_zone_type { VOUCH_SE_ZONE_DATA = 0x00, VOUCH_SE_ZONE_COUNTER = 0x01 };

enum vouch_se_alg {
    VOUCH_SE_ALG_NONE = 0x00,
    VOUCH_SE_ALG_P256 = 0x01,    /* ECDSA/ECDH P-256, pub 65 bytes 04|X|Y */
    VOUCH_SE_ALG_ED25519 = 0x02, /* pub 32 bytes */
    VOUCH_SE_ALG_X25519 = 0x03   /* pub 32 bytes */
};

#define VOUCH_SE_KEY_PRESENT 0x01u /* Q_KEYS flags */
#define VOUCH_SE_KEY_FACTORY 0x02u

#define VOUCH_SE_SERIAL_LEN 9u
#define VOUCH_SE_SLOTS 4u          /* persistent slots 0..3; 0 = factory */
#define VOUCH_SE_SLOT_EPHEMERAL 0xFFu
#define VOUCH_SE_ENVELOPE_KEYS 2u
#define VOUCH_SE_ZONES 8u
#define VOUCH_SE_COUNTER_DATA 32u  /* data bytes behind each counter */
#define VOUCH_SE_P256_PUB_LEN 65u
#define VOUCH_SE_X_PUB_LEN 32u     /* Ed25519 and X25519 */
#define VOUCH_SE_SIG_LEN 64u       /* r|s or Ed25519 */
#define VOUCH_SE_SECRET_LEN 32u    /* ECDH output */
#define VOUCH_SE_HOST_KEY_LEN 16u  /* AES-128 MAC key and cipher key */
#define VOUCH_SE_WRAP_MAX 480u     /* largest envelope plaintext */

#define VOUCH_SE_VERIFY_KEY 0x00u  /* VERIFY mode: key in the command */
#define VOUCH_SE_VERIFY_ZONE 0x01u /* VERIFY mode: key stored in a zone */
#define VOUCH_SE_VERIFY_ZONE_AT 0x02u /* VERIFY mode: key at an offset in a zone */

/* CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF);
 * check value over "123456789" is 0x906E. */
uint16_t vouch_crc16_x25(const uint8_t *data, size_t len);

/* Host-side MAC and IV inputs, so both sides build them the same way. */
#define VOUCH_SE_DIR_CMD 0x00u
#define VOUCH_SE_DIR_RSP 0x80u

#ifdef __cplusplus
}
#endif
#endif
