/*
 * vouch device authentication, the device side (docs/auth-protocol.md).
 *
 * vouchd sends a 32-byte challenge; the device's SE signs the SHA-256 of
 *
 *   "vouch-auth-v1" 0x00 origin 0x00 challenge(32) SHA-256(leaf DER)(32)
 *
 * where origin is the server's origin exactly as the device was configured
 * with it, "scheme://host:port" (the port always written out), and the
 * leaf is the device's own certificate. Binding the origin stops a
 * challenge relayed from another server from being answered here; binding
 * the leaf stops a signature from being moved to another certificate for
 * the same key.
 *
 * Like the rest of libvouch: no malloc, caller-owned buffers, crypto only
 * through the port (SHA-256, and the DER encoding of the signature).
 */
#ifndef VOUCH_AUTH_H
#define VOUCH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/port.h>
#include <vouch/se.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOUCH_AUTH_TAG "vouch-auth-v1"
#define VOUCH_AUTH_CHALLENGE_LEN 32
#define VOUCH_AUTH_ORIGIN_MAX 255 /* bytes, without the NUL */
#define VOUCH_AUTH_SIG_DER_MAX 72
/* The signed message before hashing: tag, 0, origin, 0, challenge, hash. */
#define VOUCH_AUTH_MESSAGE_MAX (sizeof VOUCH_AUTH_TAG + VOUCH_AUTH_ORIGIN_MAX + 1 + 32 + 32)

/*
 * 0 when `origin` is a well-formed origin: "http" or "https", "://", a
 * host (letters, digits, '-', '.', or a bracketed IPv6 address: hex
 * digits, ':' and '.'), ':', and a port 1..65535 without leading zeros;
 * no path, no trailing '/', no user info, at most VOUCH_AUTH_ORIGIN_MAX
 * bytes, lowercase scheme and host. -1 otherwise.
 */
VOUCH_API int vouch_auth_origin_check(const char *origin);

/*
 * The origin of a server URL, as both sides compute it: scheme and host
 * lowercased, the scheme's default port written out when the URL has none
 * (80 for http, 443 for https), any path ("/", "/prefix") dropped.
 * "HTTPS://CA.Example.com/v1" gives "https://ca.example.com:443". The
 * result must pass vouch_auth_origin_check. VOUCH_E_ARG for a URL with
 * user info, a query or fragment, another scheme, or a bad host or port;
 * VOUCH_E_BUFFER when out_size is too small.
 */
VOUCH_API vouch_rc vouch_auth_origin_from_url(const char *url, char *out, size_t out_size) VOUCH_WUR;

/*
 * The message (above) into out; *out_len its length. VOUCH_E_ARG for a bad
 * origin or NULL, VOUCH_E_BUFFER when out_size is below the length.
 */
VOUCH_API vouch_rc vouch_auth_message(const char *origin,
                                      const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                                      const uint8_t leaf_sha256[32], uint8_t *out,
                                      size_t out_size, size_t *out_len) VOUCH_WUR;

/*
 * SHA-256 of the message, through the port (NULL: vouch_port_openssl()).
 * leaf_der is the device certificate, 1..65535 bytes.
 */
VOUCH_API vouch_rc vouch_auth_digest(const vouch_crypto_port *port, const char *origin,
                                     const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                                     const uint8_t *leaf_der, size_t leaf_len,
                                     uint8_t digest[32]) VOUCH_WUR;

/*
 * The device's answer to a challenge: the SE signs the digest with the
 * P-256 key in `slot` (the key never leaves it) and the signature comes
 * back DER-encoded, as POST /v1/auth/response takes it (before base64).
 * `flags` as for vouch_se_sign (VOUCH_SECURE once host keys are set).
 * sig_der must hold VOUCH_AUTH_SIG_DER_MAX bytes.
 */
VOUCH_API vouch_rc vouch_auth_sign(vouch_se *se, uint8_t slot, const char *origin,
                                   const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                                   const uint8_t *leaf_der, size_t leaf_len, unsigned flags,
                                   uint8_t *sig_der, size_t sig_size, size_t *sig_len) VOUCH_WUR;

#ifdef __cplusplus
}
#endif
#endif
