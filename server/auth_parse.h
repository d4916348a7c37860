/*
 * The parsers of device authentication requests (docs/auth-protocol.md):
 * pure functions of the request body, no server state, so that the fuzz
 * target (tests/fuzz/fuzz_auth_body.c) runs exactly what vouchd runs.
 * JSON by jansson, base64 by OpenSSL's EVP_DecodeBlock behind strict
 * alphabet and padding checks.
 */
#ifndef VOUCHD_AUTH_PARSE_H
#define VOUCHD_AUTH_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define VOUCHD_AUTH_CHAIN_MAX 4     /* leaf + 3 intermediates */
#define VOUCHD_AUTH_CERT_MAX 4096   /* bytes of DER per certificate */
#define VOUCHD_AUTH_ACCOUNT_MAX 64
#define VOUCHD_AUTH_ID_MAX 64       /* longest challenge id looked at */
#define VOUCHD_AUTH_SIG_MAX 72      /* DER ECDSA P-256 */

/* Why a request is refused: the HTTP status, the error code, the message. */
typedef struct vouchd_auth_refusal {
    int status;
    const char *code;
    char msg[256];
} vouchd_auth_refusal;

typedef struct vouchd_auth_chain {
    uint8_t *der[VOUCHD_AUTH_CHAIN_MAX]; /* malloc'd */
    size_t len[VOUCHD_AUTH_CHAIN_MAX];
    size_t n;
    char account[VOUCHD_AUTH_ACCOUNT_MAX + 1]; /* "" when not asked for */
} vouchd_auth_chain;

/* {"certificates": [base64 DER, ...], "account"?: NAME}. 0 with c filled
 * (free it with vouchd_auth_chain_free, also after a failure), or -1 with
 * r filled: 400 bad_request, 413 chain_too_long, 500 internal. */
int vouchd_auth_parse_challenge(const char *body, size_t len, vouchd_auth_chain *c,
                                vouchd_auth_refusal *r);
void vouchd_auth_chain_free(vouchd_auth_chain *c);

/* {"challenge_id": ID, "signature": base64 DER}. 0 with id (at most
 * VOUCHD_AUTH_ID_MAX characters, else refused) and the signature: *sig_len
 * its length, or -1 when it is not base64 of at most VOUCHD_AUTH_SIG_MAX
 * bytes (refused later as malformed_signature, once the challenge is
 * taken). -1 with r filled (400 bad_request) when the body is not that. */
int vouchd_auth_parse_response(const char *body, size_t len, char id[VOUCHD_AUTH_ID_MAX + 1],
                               uint8_t sig[VOUCHD_AUTH_SIG_MAX + 8], long *sig_len,
                               vouchd_auth_refusal *r);

/* Strict standard base64 (RFC 4648 section 4, padded) into out: the
 * decoded length, or -1 when s is not that or decodes to more than max. */
long vouchd_b64_decode(const char *s, size_t len, uint8_t *out, size_t max);
/* base64url without padding of n bytes into out (4*ceil(n/3)+1 bytes). */
void vouchd_b64url(const uint8_t *in, size_t n, char *out);
/* Exactly n bytes (n <= 64) from canonical base64url without padding; 0 or -1. */
int vouchd_b64url_decode(const char *s, uint8_t *out, size_t n);
/* 1 when every member of the JSON object j is in the NULL-terminated
 * list; else 0 with the first other member's name in bad (truncated). */
struct json_t;
int vouchd_json_members_ok(const struct json_t *j, const char *const *allowed, char *bad,
                           size_t bad_size);
/* An account name: 1..max of A-Z a-z 0-9 . _ - */
int vouchd_auth_name_ok(const char *s, size_t max);

#endif
