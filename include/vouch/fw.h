/*
 * libvouch: firmware images, their verification, and the firmware trust
 * kept in the secure element. docs/firmware.md is the specification.
 *
 * Images use MCUboot's layout, so MCUboot's tools read them:
 *
 *   header (32 bytes, little-endian; padded with zeros to hdr_size)
 *   payload (img_size bytes)
 *   protected TLV area (prot_size bytes: info 0x6908 + TLVs; hashed and signed)
 *   TLV area (info 0x6907 + TLVs: SHA-256, key hash, signature)
 *
 * The SHA-256 covers header, payload and protected area. The signature
 * (ECDSA P-256 as DER, or Ed25519) is over that 32-byte hash.
 *
 * Device-side code: portable C99, no malloc, no OpenSSL types; hashing and
 * signature decoding go through the vouch_crypto_port. Everything an image
 * says is checked against its own length before it is used.
 */
#ifndef VOUCH_FW_H
#define VOUCH_FW_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/se.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layout constants (MCUboot) ------------------------------------------ */
#define VOUCH_FW_MAGIC 0x96f3b83dU
#define VOUCH_FW_HDR_LEN 32u
#define VOUCH_FW_TLV_INFO_MAGIC 0x6907u
#define VOUCH_FW_TLV_PROT_MAGIC 0x6908u

enum vouch_fw_tlv {
    VOUCH_FW_TLV_KEYHASH = 0x01,   /* SHA-256 of the key's DER SubjectPublicKeyInfo */
    VOUCH_FW_TLV_SHA256 = 0x10,    /* SHA-256 of header + payload + protected area */
    VOUCH_FW_TLV_ECDSA_SIG = 0x22, /* ECDSA P-256 over the hash, DER */
    VOUCH_FW_TLV_ED25519 = 0x24,   /* Ed25519 over the hash, 64 bytes */
    VOUCH_FW_TLV_SEC_CNT = 0x50,   /* security counter, u32 LE (protected) */
    VOUCH_FW_TLV_UUID_VID = 0x74,  /* vendor UUID, 16 bytes (protected) */
    VOUCH_FW_TLV_UUID_CID = 0x75   /* device class UUID, 16 bytes (protected) */
};

/* Bounds this implementation accepts (a verifier refuses more). */
#define VOUCH_FW_TLV_MAX 2048u        /* protected + unprotected TLV bytes */
#define VOUCH_FW_IMAGE_MAX 0x7FFFFFFFu /* header + payload + TLVs */

/* ---- errors --------------------------------------------------------------
 * VOUCH_RC(VOUCH_LAYER_FW, code): the image or the policy said no. */
#define VOUCH_LAYER_FW 7
enum vouch_fw_code {
    VOUCH_FW_E_MAGIC = 1,     /* not an image: header magic wrong */
    VOUCH_FW_E_HEADER = 2,    /* header fields impossible (sizes, flags) */
    VOUCH_FW_E_TRUNCATED = 3, /* shorter than the header and TLVs say */
    VOUCH_FW_E_TLV = 4,       /* TLV area malformed, duplicated or misplaced TLV */
    VOUCH_FW_E_HASH = 5,      /* SHA-256 TLV missing or does not match */
    VOUCH_FW_E_NO_KEY = 6,    /* key hash matches no trusted key */
    VOUCH_FW_E_SIGNATURE = 7, /* signature missing, malformed or invalid */
    VOUCH_FW_E_REVOKED = 8,   /* signed by a key that has been revoked */
    VOUCH_FW_E_ROLLBACK = 9,  /* security counter below the device's */
    VOUCH_FW_E_VENDOR = 10,   /* vendor UUID missing or different */
    VOUCH_FW_E_CLASS = 11,    /* device class UUID missing or different */
    VOUCH_FW_E_IO = 12,       /* reading the image failed */
    VOUCH_FW_E_TRUST = 13,    /* the SE's firmware trust zone is malformed */
    VOUCH_FW_E_CHECK = 14     /* the signature could not be checked (SE unreachable) */
};

/* ---- parsed image ---------------------------------------------------------- */
typedef struct vouch_fw_version {
    uint8_t major;
    uint8_t minor;
    uint16_t revision;
    uint32_t build;
} vouch_fw_version;

typedef struct vouch_fw_image {
    uint32_t load_addr;
    uint16_t hdr_size;  /* payload offset */
    uint16_t prot_size; /* protected TLV area, 0 or >= 4 */
    uint32_t img_size;  /* payload length */
    uint32_t flags;
    vouch_fw_version version;
    uint32_t prot_off;  /* hdr_size + img_size */
    uint32_t tlv_off;   /* prot_off + prot_size: the unprotected TLV info */
    uint32_t tlv_size;  /* unprotected area including its info */
    uint32_t total;     /* tlv_off + tlv_size: the whole image */
    int has_sec_cnt;
    uint32_t sec_cnt;
    int has_vid, has_cid;
    uint8_t vid[16], cid[16];
    int has_hash;
    uint8_t hash[32];   /* the SHA-256 TLV as found (not yet checked) */
    int has_keyhash;
    uint8_t keyhash[32];
    uint8_t sig_alg;    /* VOUCH_SE_ALG_P256 or _ED25519, NONE if unsigned */
    uint8_t sig_der[72]; /* ECDSA TLV as found */
    size_t sig_der_len;
    uint8_t sig[64];    /* r|s or Ed25519 */
} vouch_fw_image;

/* Reads len bytes at offset off of the image; 0 or -1. */
typedef int (*vouch_fw_read_fn)(void *ctx, uint32_t off, uint8_t *buf, size_t len);

/* A vouch_fw_read_fn over a buffer: ctx is a vouch_fw_mem. */
typedef struct vouch_fw_mem {
    const uint8_t *p;
    size_t len;
} vouch_fw_mem;
VOUCH_API int vouch_fw_mem_read(void *ctx, uint32_t off, uint8_t *out, size_t len);

/*
 * Parses the header and both TLV areas of an image of at most `avail` bytes
 * (the slot or file size) read through `rd`. Checks the layout only: magic,
 * sizes, TLV framing, that the security counter and UUIDs are protected and
 * appear once, that hash, key hash and signature are unprotected and appear
 * once. The hash and signature are not checked (vouch_fw_verify does).
 */
VOUCH_API vouch_rc vouch_fw_parse(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                                  const vouch_crypto_port *port,
                                  vouch_fw_image *img) VOUCH_WUR;
/* The same over a buffer. */
VOUCH_API vouch_rc vouch_fw_parse_buf(const uint8_t *buf, size_t len,
                                      const vouch_crypto_port *port,
                                      vouch_fw_image *img) VOUCH_WUR;

/* ---- keys and policy -------------------------------------------------------- */
typedef struct vouch_fw_key {
    uint8_t alg;        /* VOUCH_SE_ALG_P256 or VOUCH_SE_ALG_ED25519 */
    uint8_t pub[65];    /* 04|X|Y, or the 32-byte Ed25519 key */
    uint8_t keyhash[32];/* SHA-256 of its DER SubjectPublicKeyInfo */
    uint8_t index;      /* entry in the SE's key zone */
    int revoked;
} vouch_fw_key;

/* SHA-256 of the DER SubjectPublicKeyInfo of a raw key (MCUboot's key hash). */
VOUCH_API vouch_rc vouch_fw_keyhash(const vouch_crypto_port *port, uint8_t alg,
                                    const uint8_t *pub, size_t pub_len,
                                    uint8_t out[32]) VOUCH_WUR;

/*
 * Signature check: 1 valid, 0 invalid, -1 could not check. `sig` is r|s or
 * Ed25519; the message is the image hash.
 */
typedef int (*vouch_fw_sig_fn)(void *ctx, const vouch_fw_key *key, const uint8_t hash[32],
                               const uint8_t sig[64]);

typedef struct vouch_fw_policy {
    const vouch_fw_key *keys; /* trusted keys; revoked ones are refused */
    size_t nkeys;
    vouch_fw_sig_fn check;    /* NULL: the port's verify */
    void *check_ctx;
    uint32_t min_sec_cnt;     /* refuse an image whose counter is below */
    const uint8_t *vid;       /* NULL: not checked */
    const uint8_t *cid;       /* NULL: not checked */
} vouch_fw_policy;

typedef struct vouch_fw_result {
    vouch_fw_image img;
    const vouch_fw_key *key; /* the key that signed it */
    uint8_t hash[32];        /* the hash computed */
} vouch_fw_result;

/*
 * Verifies an image read through `rd`: parse, stream the SHA-256 of header,
 * payload and protected area through `chunk` (caller buffer, >= 64 bytes,
 * bigger is faster), compare it with the hash TLV in constant time, find the
 * key by its key hash, check the signature, then the security counter and
 * the UUIDs. The header and protected area are read once: the fields
 * judged are the bytes hashed. The first failure decides the code; `res`
 * is filled as far as it got.
 */
VOUCH_API vouch_rc vouch_fw_verify(vouch_fw_read_fn rd, void *rctx, uint32_t avail,
                                   const vouch_crypto_port *port,
                                   const vouch_fw_policy *pol, uint8_t *chunk,
                                   size_t chunk_size, vouch_fw_result *res) VOUCH_WUR;
VOUCH_API vouch_rc vouch_fw_verify_buf(const uint8_t *buf, size_t len,
                                       const vouch_crypto_port *port,
                                       const vouch_fw_policy *pol,
                                       vouch_fw_result *res) VOUCH_WUR;

/* "image header magic is wrong (not a firmware image)" ... never NULL. */
VOUCH_API const char *vouch_fw_strerror(vouch_rc rc);
/* "1.2.3+4" (build omitted when 0); out_size >= 25. */
VOUCH_API void vouch_fw_version_str(const vouch_fw_version *v, char *out, size_t out_size);
/* "1.2.3", "1.2.3+4" or "1.2.3.4": 0 or -1. */
VOUCH_API int vouch_fw_version_parse(const char *s, vouch_fw_version *v);

/* ---- firmware trust in the secure element ------------------------------------
 * Zone 2 holds up to seven key entries of 67 bytes at 67*i:
 *   usage(1) alg(1) key(65)   usage 0 empty, 1 firmware, 2 commands
 * (an Ed25519 key is followed by 33 zero bytes). Zone 5 is the anti-rollback
 * counter, zone 6 the key revocation counter; both count down from
 * 0xFFFFFFFF, so the values below are 0xFFFFFFFF minus the chip's counter and
 * can only grow. A firmware key at entry i is revoked once the revocation
 * value exceeds i: keys are retired in entry order, for ever.
 */
#define VOUCH_FW_KEY_ZONE 2u
#define VOUCH_FW_ROLLBACK_ZONE 5u
#define VOUCH_FW_REVOKE_ZONE 6u
#define VOUCH_FW_KEY_ENTRIES 7u
#define VOUCH_FW_KEY_ENTRY_LEN 67u
#define VOUCH_FW_USAGE_EMPTY 0u
#define VOUCH_FW_USAGE_FIRMWARE 1u
#define VOUCH_FW_USAGE_COMMANDS 2u

/* The firmware keys of zone 2 (revoked ones marked), and the revocation
 * value. keys has VOUCH_FW_KEY_ENTRIES room. */
VOUCH_API vouch_rc vouch_fw_trust_load(vouch_se *se, const vouch_crypto_port *port,
                                       vouch_fw_key *keys, size_t *nkeys,
                                       uint32_t *revoked_below) VOUCH_WUR;
/* The device's anti-rollback value (security counter floor). */
VOUCH_API vouch_rc vouch_fw_rollback_get(vouch_se *se, uint32_t *floor) VOUCH_WUR;
/* Raises the floor to `to` (never lowers it: a lower `to` is a no-op).
 * flags: VOUCH_SECURE when the zone's update AC is HOST. */
VOUCH_API vouch_rc vouch_fw_rollback_raise(vouch_se *se, uint32_t to, unsigned flags,
                                           uint32_t *now) VOUCH_WUR;
/* Revokes entries 0..index for ever (the revocation value becomes index+1
 * unless already above). */
VOUCH_API vouch_rc vouch_fw_key_revoke(vouch_se *se, uint8_t index, unsigned flags,
                                       uint32_t *now) VOUCH_WUR;

/* A vouch_fw_sig_fn that asks the SE (VERIFY mode 2 on the key's zone
 * entry): the signature is checked inside the chip. ctx is the vouch_se. */
VOUCH_API int vouch_fw_se_check(void *ctx, const vouch_fw_key *key, const uint8_t hash[32],
                                const uint8_t sig[64]);

#ifdef __cplusplus
}
#endif
#endif
