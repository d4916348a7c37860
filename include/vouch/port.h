/*
 * The crypto port: every cryptographic primitive the SE core and the host
 * library need, behind plain function pointers over byte buffers. The port
 * shipped here (vouch_port_openssl) uses OpenSSL 3; an MCU build would supply
 * one backed by its own crypto engine. No library types cross this boundary.
 *
 * Conventions: functions return 0 on success and -1 on failure, except the
 * verify functions, which return 1 for a valid signature, 0 for an invalid
 * one and -1 on error. Output buffers are written only on success.
 */
#ifndef VOUCH_PORT_H
#define VOUCH_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Caller-owned state of a streaming SHA-256; big enough for any port. */
typedef struct vouch_sha256_ctx {
    uint64_t opaque[32];
} vouch_sha256_ctx;

typedef struct vouch_crypto_port {
    void *ctx;
    int (*random)(void *ctx, uint8_t *out, size_t len);
    int (*sha256)(void *ctx, const uint8_t *msg, size_t len, uint8_t out[32]);

    /* P-256: private scalar 32 bytes, public point 65 bytes (04|X|Y),
     * signature 64 bytes r|s over a 32-byte digest. */
    int (*p256_keygen)(void *ctx, uint8_t priv[32], uint8_t pub[65]);
    int (*p256_sign)(void *ctx, const uint8_t priv[32], const uint8_t digest[32],
                     uint8_t sig[64]);
    int (*p256_verify)(void *ctx, const uint8_t pub[65], const uint8_t digest[32],
                       const uint8_t sig[64]);
    int (*p256_ecdh)(void *ctx, const uint8_t priv[32], const uint8_t peer[65],
                     uint8_t secret[32]);

    /* Ed25519 (seed 32, public 32, signature 64) and X25519 (32/32/32). */
    int (*ed25519_keygen)(void *ctx, uint8_t priv[32], uint8_t pub[32]);
    int (*ed25519_sign)(void *ctx, const uint8_t priv[32], const uint8_t *msg,
                        size_t len, uint8_t sig[64]);
    int (*ed25519_verify)(void *ctx, const uint8_t pub[32], const uint8_t *msg,
                          size_t len, const uint8_t sig[64]);
    int (*x25519_keygen)(void *ctx, uint8_t priv[32], uint8_t pub[32]);
    int (*x25519)(void *ctx, const uint8_t priv[32], const uint8_t peer[32],
                  uint8_t secret[32]);

    /* AES-128-CMAC, full 16-byte tag (callers truncate). */
    int (*aes_cmac)(void *ctx, const uint8_t key[16], const uint8_t *msg, size_t len,
                    uint8_t tag[16]);
    /* AES-128-CTR; in and out may be the same buffer. */
    int (*aes_ctr)(void *ctx, const uint8_t key[16], const uint8_t iv[16],
                   const uint8_t *in, uint8_t *out, size_t len);
    /* AES-256 key wrap with padding (RFC 5649). unwrap returns -1 when the
     * integrity check fails. */
    int (*aes_wrap)(void *ctx, const uint8_t key[32], const uint8_t *in, size_t len,
                    uint8_t *out, size_t out_size, size_t *out_len);
    int (*aes_unwrap)(void *ctx, const uint8_t key[32], const uint8_t *in, size_t len,
                      uint8_t *out, size_t out_size, size_t *out_len);

    /* Constant-time comparison: 0 when equal. */
    int (*memcmp_ct)(const void *a, const void *b, size_t len);
    /* Wipe that the compiler cannot remove. */
    void (*cleanse)(void *p, size_t len);

    /* A P-256 signature r|s as DER (ECDSA-Sig-Value, RFC 3279), at most
     * 72 bytes. NULL in a port that cannot encode: callers needing DER
     * then fail with VOUCH_E_UNSUPPORTED. */
    int (*p256_sig_der)(void *ctx, const uint8_t sig[64], uint8_t *out, size_t out_size,
                        size_t *out_len);

    /* Streaming SHA-256 (firmware images are hashed as they are read from
     * flash). After a successful init, final must be called exactly once:
     * with out NULL it only releases the state. NULL in a port without it:
     * callers fail with VOUCH_E_UNSUPPORTED. */
    int (*sha256_init)(void *ctx, vouch_sha256_ctx *s);
    int (*sha256_update)(void *ctx, vouch_sha256_ctx *s, const uint8_t *msg, size_t len);
    int (*sha256_final)(void *ctx, vouch_sha256_ctx *s, uint8_t out[32]);
    /* The inverse of p256_sig_der: a DER ECDSA-Sig-Value (strict DER, no
     * trailing bytes, r and s in 1..n-1 as 32-byte values) to r|s. */
    int (*p256_sig_raw)(void *ctx, const uint8_t *der, size_t der_len, uint8_t sig[64]);
} vouch_crypto_port;

/* The OpenSSL 3 port (library vouch_port_openssl). Never NULL. */
const vouch_crypto_port *vouch_port_openssl(void);

#ifdef __cplusplus
}
#endif
#endif
