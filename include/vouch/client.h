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

/* ---- firmware updates (cli/update_client.c) -----------------------------------
 * The device side of vouchd's update API (docs/api.md, "Device update
 * API"), the calls a device's update loop is made of:
 *
 *   vouch_device_authenticate            -> a session token (10 minutes)
 *   vouch_device_update_check            -> an offer, or none
 *   vouch_device_update_report           "downloading"
 *   vouch_device_image_get_range         from offset 0 until offset == size;
 *                                        after an interruption, go on from
 *                                        the bytes already stored
 *   (the device checks the offer's SHA-256 and vouch_fw_verify's the image)
 *   vouch_device_update_report           "installed", "testing", then
 *                                        "confirmed" after a good boot; or
 *                                        "rejected" (the image did not
 *                                        verify), "failed", "reverted"
 *
 * Each call makes one HTTP(S) request on its own connection. A refusal
 * (VOUCH_CLIENT_E_REFUSED) fills st with the server's status, code and
 * message: 401 invalid_session means authenticate again. Every failure
 * fills st->message. st may be NULL.
 */
typedef struct vouch_device_session {
    const char *server_url; /* as given to vouch_device_authenticate */
    const char *cacert;     /* PEM trust anchors for https; NULL: the system's */
    unsigned timeout_s;     /* per request; 0: 30 s */
    const char *token;      /* vouch_device_auth_result.token */
} vouch_device_session;

typedef struct vouch_client_status {
    int http_status;        /* of the answer that refused (REFUSED) */
    char error_code[48];    /* the server's error code (REFUSED) */
    char message[320];      /* what went wrong, for any failure */
} vouch_client_status;

typedef struct vouch_update_offer {
    int available;          /* 1: an update is offered (the rest is set); 0: none */
    int64_t campaign;       /* to report progress against */
    int64_t release;
    char version[32];       /* "1.2.3", "1.2.3+4" */
    uint32_t security_counter;
    uint64_t size;          /* bytes of the image */
    uint8_t sha256[32];     /* of the whole image */
    char url[128];          /* its path on the server: /v1/device/releases/ID/image */
} vouch_update_offer;

/*
 * GET /v1/device/update: is there an update for a device running
 * current_version (as vouch_fw_version_str writes it) with this security
 * counter? OK with offer->available 1 (and the offer) or 0 (nothing to
 * do). The server remembers the version for the campaign's status.
 */
vouch_client_rc vouch_device_update_check(const vouch_device_session *s,
                                          const char *current_version,
                                          uint32_t security_counter, vouch_update_offer *offer,
                                          vouch_client_status *st);

/*
 * Reads up to max_len (>= 1) bytes of the image at `url` (the offer's)
 * from byte `offset` into buf: sends "Range: bytes=OFFSET-(OFFSET+max_len-1)"
 * and checks that a 206 answer's Content-Range starts at OFFSET, ends
 * within the request, matches the body's length and names the total. A
 * server that answers 200 (it ignored the Range) sent the whole image: the
 * part asked for is copied from it. OK with *got bytes in buf (0 only when
 * offset is the image's size: the download is complete) and *total, the
 * image's size (*total may be NULL). expect_sha256, when not NULL, is the
 * image's SHA-256 (the offer's): an answer for other bytes is refused
 * (E_COMM) rather than mixed into the download.
 */
vouch_client_rc vouch_device_image_get_range(const vouch_device_session *s, const char *url,
                                             uint64_t offset, uint8_t *buf, size_t max_len,
                                             const uint8_t *expect_sha256, size_t *got,
                                             uint64_t *total, vouch_client_status *st);

/*
 * POST /v1/device/update/status: the device's progress in a campaign.
 * state: "downloading", "installed", "testing", "confirmed", "reverted",
 * "rejected" or "failed"; detail: NULL or at most 200 bytes of text (why
 * it failed, what it runs). The last report wins.
 */
vouch_client_rc vouch_device_update_report(const vouch_device_session *s, int64_t campaign,
                                           const char *state, const char *detail,
                                           vouch_client_status *st);

#ifdef __cplusplus
}
#endif
#endif
