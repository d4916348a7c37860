/*
 * vouch device client: the device side of the cloud protocols over HTTP(S)
 * (libvouch_client; docs/auth-protocol.md). libvouch itself stays free of
 * I/O beyond the SE; this layer adds the HTTP client (libevent) and JSON
 * (jansson) a Linux-class device or a test harness has. A microcontroller
 * port keeps vouch_auth_sign (vouch/auth.h) and brings its own HTTP stack.
 */
#ifndef VOUCH_CLIENT_H
#define VOUCH_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <vouch/se.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOUCH_CLIENT_CHAIN_MAX 4

typedef enum vouch_client_rc {
    VOUCH_CLIENT_OK = 0,
    VOUCH_CLIENT_E_ARG = 1,     /* bad option: URL, chain, account */
    VOUCH_CLIENT_E_REFUSED = 2, /* the server refused: error_code and message say why */
    VOUCH_CLIENT_E_SE = 3,      /* the secure element failed or refused to sign */
    VOUCH_CLIENT_E_COMM = 4,    /* cannot reach the server, TLS, timeout, a bad answer */
    VOUCH_CLIENT_E_NOMEM = 5
} vouch_client_rc;

typedef struct vouch_device_auth_opts {
    const char *server_url;   /* as configured on the device: its origin is signed */
    const char *cacert;       /* PEM trust anchors for https; NULL: the system's */
    unsigned timeout_s;       /* per request; 0: 30 s */
    const char *account;      /* NULL, or the account the device must belong to */
    uint8_t slot;             /* the SE's key slot of the device key (0) */
    unsigned se_flags;        /* VOUCH_SECURE once host keys are set */
    const uint8_t *chain[VOUCH_CLIENT_CHAIN_MAX]; /* DER, leaf first */
    size_t chain_len[VOUCH_CLIENT_CHAIN_MAX];
    size_t chain_n;           /* 1..VOUCH_CLIENT_CHAIN_MAX */
} vouch_device_auth_opts;

typedef struct vouch_device_auth_result {
    char device_id[65];
    char account[65];
    char token[160];          /* the session token; wiped by the caller */
    char expires_at[32];      /* RFC 3339 */
    int http_status;          /* of the refusing answer (REFUSED) */
    char error_code[48];      /* the server's error code (REFUSED) */
    char message[320];        /* what went wrong, for any failure */
} vouch_device_auth_result;

/*
 * Authenticate: ask for a challenge with the chain, have the SE sign the
 * vouch-auth-v1 digest with the device key (it never leaves the SE), send
 * the signature, and return the session. Every failure fills message.
 */
vouch_client_rc vouch_device_authenticate(vouch_se *se, const vouch_device_auth_opts *o,
                                          vouch_device_auth_result *r);

/*
 * The device's certificate chain as provisioning left it in an SE zone
 * (docs/provisioning.md: DER certificates back to back from offset 0, then
 * zeros): the zone is read into buf (at least the zone's size) and the
 * certificates found there become o->chain (pointing into buf, leaf
 * first). E_ARG when the zone holds no certificate or a malformed one,
 * E_SE when it cannot be read.
 */
vouch_client_rc vouch_device_chain_from_zone(vouch_se *se, uint8_t zone, unsigned se_flags,
                                             uint8_t *buf, size_t buf_size,
                                             vouch_device_auth_opts *o, char *why,
                                             size_t why_size);

#ifdef __cplusplus
}
#endif
#endif
