/*
 * Host-side firmware tooling (library vouch_fw_tools, OpenSSL): build and
 * sign MCUboot-format images, UUIDs for the vendor and class TLVs. The
 * device side (parse, verify, trust, boot) is in <vouch/fw.h>.
 */
#ifndef VOUCH_FW_SIGN_H
#define VOUCH_FW_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <vouch/fw.h>

typedef struct vouch_fw_sign_opts {
    vouch_fw_version version;
    uint32_t load_addr;
    uint16_t hdr_size; /* 0: 32; larger headers are padded with zeros */
    int has_sec_cnt;
    uint32_t sec_cnt;
    const uint8_t *vid; /* 16 bytes, or NULL */
    const uint8_t *cid;
} vouch_fw_sign_opts;

/* Signs the 32-byte image hash; writes the signature TLV's value (DER
 * ECDSA-Sig-Value for P-256, 64 bytes for Ed25519). 0 or -1. */
typedef int (*vouch_fw_signer_fn)(void *ctx, const uint8_t hash[32], uint8_t *sig,
                                  size_t sig_size, size_t *sig_len);

/*
 * Builds the image of `payload` and signs it with `sign` for the public key
 * (alg, pub). The result is verified against that key before it is
 * returned, so a signer that lies yields an error, never a bad image.
 * *out is malloc'd. 0, or -1 with `err` saying why.
 */
int vouch_fw_build(const uint8_t *payload, size_t len, const vouch_fw_sign_opts *o, uint8_t alg,
                   const uint8_t *pub, size_t pub_len, vouch_fw_signer_fn sign, void *sign_ctx,
                   uint8_t **out, size_t *out_len, char *err, size_t err_size);

/* A vouch_fw_signer_fn over an in-memory private key (ctx: EVP_PKEY *). */
int vouch_fw_sign_evp(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t sig_size,
                      size_t *sig_len);

/* The raw public key of a P-256 or Ed25519 EVP_PKEY: 0 or -1. */
int vouch_fw_pub_raw(EVP_PKEY *pk, uint8_t *alg, uint8_t pub[65], size_t *len);

/*
 * A UUID argument as imgtool takes it: a UUID in text form is used as it is;
 * any other string is a name, turned into a name-based UUID (RFC 9562
 * version 5) in namespace `ns` (NULL: the DNS namespace, for vendors; a
 * class is named in its vendor's UUID). 0 or -1.
 */
int vouch_fw_uuid_arg(const char *s, const uint8_t *ns, uint8_t out[16]);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; out_size >= 37. */
void vouch_fw_uuid_str(const uint8_t u[16], char *out, size_t out_size);

#endif
