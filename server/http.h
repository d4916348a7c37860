/*
 * vouchd HTTP layer: the per-thread worker, routing, JSON responses, JSON
 * errors and bearer-token authentication. Handlers live in handlers_*.c and
 * are listed in the route table in http.c.
 *
 * Every response body is JSON (application/json), errors included:
 *   {"error": {"code": "not_found", "message": "no issuer named 'x'"}}
 * The codes are the VOUCHD_E_* strings below; docs/api.md lists them.
 *
 * Threads: each worker thread owns one event base, one evhttp and one store
 * connection; a request is handled entirely on the thread that accepted its
 * connection, so handlers never lock anything.
 */
#ifndef VOUCHD_HTTP_H
#define VOUCHD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/x509.h>

#include <time.h>

#include "pki/pki.h"
#include "store/store.h"

/* Limits (docs/api.md, "Limits"). */
#define VOUCHD_MAX_BODY (64 * 1024)           /* API limit: larger bodies get a JSON 413 */
#define VOUCHD_MAX_IMAGE_BODY (32u << 20)     /* a firmware image upload (handlers_fw.c) */
/* Transport limit: libevent refuses larger bodies (413) before routing.
 * libevent 2.1 applies one limit to every request of a server (it has no
 * hook between a request's headers and its body), so it is the largest
 * route's limit plus room for an answer to say why; every other route
 * still refuses bodies over VOUCHD_MAX_BODY with its JSON 413. */
#define VOUCHD_MAX_BODY_HARD (VOUCHD_MAX_IMAGE_BODY + 64 * 1024)
#define VOUCHD_MAX_HEADERS (16 * 1024)        /* request line + headers */
#define VOUCHD_TIMEOUT_S 30                   /* read/write inactivity per connection */
#define VOUCHD_MAX_TOKEN 256                  /* longest bearer token looked at */

/* Error codes (the "code" member of an error body). */
#define VOUCHD_E_BAD_REQUEST "bad_request"              /* 400 */
#define VOUCHD_E_UNAUTHORIZED "unauthorized"            /* 401: no credentials */
#define VOUCHD_E_INVALID_TOKEN "invalid_token"          /* 401: bad, unknown or revoked token */
#define VOUCHD_E_NOT_FOUND "not_found"                  /* 404 */
#define VOUCHD_E_METHOD "method_not_allowed"            /* 405 */
#define VOUCHD_E_TOO_LARGE "payload_too_large"          /* 413 */
#define VOUCHD_E_INTERNAL "internal"                    /* 500 */
#define VOUCHD_E_UNAVAILABLE "unavailable"              /* 503: database busy */
#define VOUCHD_E_UNKNOWN_TEMPLATE "unknown_template"    /* 404 */
#define VOUCHD_E_UNKNOWN_ISSUER "unknown_issuer"        /* 404 */
#define VOUCHD_E_BAD_CSR "bad_csr"                      /* 400: CSR does not parse */
#define VOUCHD_E_BAD_CSR_SIG "bad_csr_signature"        /* 400: CSR self-signature wrong */
#define VOUCHD_E_TEMPLATE "template_violation"          /* 422: CSR breaks a template rule */
#define VOUCHD_E_NOT_IMPLEMENTED "not_implemented"      /* 501 */
#define VOUCHD_E_ALREADY_REVOKED "already_revoked"      /* 409 */
#define VOUCHD_E_CERT_REVOKED "certificate_revoked"     /* 409: renew of a revoked cert */
#define VOUCHD_E_CERT_EXPIRED "certificate_expired"     /* 409: renew of an expired cert */
#define VOUCHD_E_SUBJECT_MISMATCH "subject_mismatch"    /* 422: rekey CSR subject differs */

/* Server-wide settings, read-only once the workers run. */
typedef struct vouchd_config {
    const char *data_dir;
    const char *db_path;
    const char *public_url;
    int tls;
    char ca_pass[65]; /* CA key passphrase (vouch_pki_ca_passphrase), wiped at exit */
    uint8_t session_key[32]; /* device session tokens' HMAC key (auth.c), wiped at exit */
    int challenge_ttl;       /* seconds a device challenge lasts (auth.c) */
} vouchd_config;

/* One worker thread's state. */
typedef struct vouchd_worker {
    int index;
    const vouchd_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    vouch_store *store;
    struct evconnlistener *listener; /* owned by http */
    struct event *accept_resume;     /* re-enables the listener after an accept error */
    struct vouchd_conns *conns;      /* this worker's share of connections (conns.c) */
    struct vouchd_cache *cache;      /* tokens and templates recently read (cache.c) */
    long long accept_warned;         /* time of the last accept-error log line */
    unsigned long long accepted;     /* connections accepted, logged at exit */
    struct ssl_ctx_st *ssl;          /* HTTPS: the server context; NULL: HTTP */
    struct vouchd_issuer_cache *issuers; /* issuers with their keys (issuers.c) */
    struct vouchd_job *replies;           /* finished durable writes (commit.c) */
    struct event *replies_ev;             /* wakes the loop for them */
    struct vouchd_va_worker *va;          /* OCSP cache etc. (va.c) */
    struct vouchd_auth_worker *auth;      /* chain cache, family trust store (auth.c) */
    struct vouchd_fw_worker *fw;          /* image downloads in progress (handlers_fw.c) */
} vouchd_worker;

/* An issuer as a worker uses it (issuers.c). Owned by the worker's cache;
 * valid until the worker stops. */
typedef struct vouchd_issuer {
    char name[65];
    int64_t id;
    vouch_issuer_kind kind;
    int64_t parent_id;
    X509 *cert;
    uint8_t *der;             /* cert, DER */
    size_t der_len;
    time_t not_after;
    const vouch_pki_signer *signer; /* NULL: no usable key */
    vouch_pki_signer *own_signer;   /* a key decrypted from the store, or ... */
    struct vouch_se_key *se_key;    /* ... one held in a vouch-se (key_ref) */
    char *chain_json;         /* ["issuer PEM", "parent PEM", ..., "root PEM"], compact */
    char *chain_pem;          /* the same, concatenated */
    size_t chain_pem_len;
    vouch_pki_ocsp_issuer ocsp; /* OCSP match hashes; valid when signer != NULL */
} vouchd_issuer;

/* The issuer by name (name != NULL) or by id, from the worker's cache or
 * loaded into it. NULL when there is none or it cannot be used; then, if
 * req is not NULL, the answer (404 unknown_issuer, 500, 503) has been
 * sent, otherwise the reason was logged. */
vouchd_issuer *vouchd_issuer_find(vouchd_worker *w, const char *name, int64_t id,
                                  struct evhttp_request *req);
/* Every usable issuer in the cache; with refresh (or on first use) the
 * store is asked for issuers added since (one query: call it on a cache
 * miss, not per request). -1 on a store failure (logged). */
int vouchd_issuers_all(vouchd_worker *w, int refresh, vouchd_issuer *const **out, size_t *n);
void vouchd_issuers_free(vouchd_worker *w);

X509 *vouchd_der_cert(const uint8_t *der, size_t len);
int vouchd_asn1_time(const ASN1_TIME *t, time_t *out);

/* The authenticated caller of a /v1/ request. */
typedef struct vouchd_caller {
    int64_t token_id;
    char token_name[129];
    char actor[160]; /* "token:<name>", for the audit log */
} vouchd_caller;

/* Spreading connections over the workers (conns.c): least connections.
 * init after the worker's listener exists; accepted from evhttp's
 * bufferevent factory; request from the dispatcher for every request; stop
 * once the loops are joined, before the workers are freed; free after
 * evhttp_free. */
int vouchd_conns_init(vouchd_worker *w, vouchd_worker *all, int n);
void vouchd_conns_accepted(vouchd_worker *w, const struct bufferevent *bev);
void vouchd_conns_request(vouchd_worker *w, struct evhttp_request *req);
int vouchd_conns_gated(const vouchd_worker *w);
int vouchd_conns_load(const vouchd_worker *w);
void vouchd_conns_stop(void);
void vouchd_conns_free(vouchd_worker *w);

/* Per-worker caches of token verdicts and parsed templates (cache.c). Read
 * the generation before reading the store and pass it to _put, so a change
 * made meanwhile is not cached as current; call _changed after changing
 * templates or tokens. Entries also expire after a second (changes made by
 * other processes). */
int vouchd_cache_init(vouchd_worker *w);
void vouchd_cache_free(vouchd_worker *w);
unsigned vouchd_cache_templates_gen(void);
unsigned vouchd_cache_tokens_gen(void);
void vouchd_cache_templates_changed(void);
void vouchd_cache_tokens_changed(void);
int vouchd_cache_template(vouchd_worker *w, const char *name, vouch_pki_template *out);
void vouchd_cache_template_put(vouchd_worker *w, const char *name, unsigned gen,
                               const vouch_pki_template *t);
int vouchd_cache_token(vouchd_worker *w, const uint8_t hash[32], vouchd_caller *caller);
void vouchd_cache_token_put(vouchd_worker *w, const uint8_t hash[32], unsigned gen,
                            const vouchd_caller *caller);

/* evhttp's general callback: limits, routing, auth, method checks. */
void vouchd_http_dispatch(struct evhttp_request *req, void *worker);

/* Send body (reference stolen, may be NULL = out of memory → 500) as
 * application/json with status. */
void vouchd_send_json(struct evhttp_request *req, int status, json_t *body);
/* The same with one more member, name (a plain identifier), whose value is
 * raw_json: JSON text jansson made (json_dumps), spliced in as it is. For
 * large constant members (an issuer's chain) serialized once. */
void vouchd_send_json_member(struct evhttp_request *req, int status, json_t *body,
                             const char *name, const char *raw_json);
/* The same with n such members, in this order, after body's own. */
typedef struct vouchd_raw_member {
    const char *name;
    const char *raw_json;
} vouchd_raw_member;
void vouchd_send_json_members(struct evhttp_request *req, int status, json_t *body,
                              const vouchd_raw_member *m, size_t n);

/* Send JSON text made by the caller (application/json, the usual headers).
 * Only for answers whose every value comes from an alphabet that needs no
 * escaping (base64, digits, checked names); anything else goes through
 * jansson (vouchd_send_json). */
void vouchd_send_json_text(struct evhttp_request *req, int status, const char *json, size_t len);

/* Send {"error": {"code", "message"}} with status. */
void vouchd_send_error(struct evhttp_request *req, int status, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The JSON error for a failed store call: 503 when busy, 500 otherwise
 * (details go to the log, not to the client). */
void vouchd_send_store_error(struct evhttp_request *req, vouch_store_rc rc, const char *what,
                             const char *err);

/* Send raw bytes with a content type (no JSON). */
void vouchd_send_raw(struct evhttp_request *req, int status, const char *content_type,
                     const void *data, size_t len);

/* Logging to stderr with a "vouchd: " prefix. */
void vouchd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- handlers (handlers_*.c) ------------------------------------------------ */

/* rest: the path after the route's prefix ("" for an exact match). */
typedef void (*vouchd_handler)(struct evhttp_request *req, vouchd_worker *w,
                               const vouchd_caller *caller, const char *rest);

void vouchd_h_issuers_list(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest);
void vouchd_h_issuers_get(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, const char *rest);

/* /v1/certificates: GET search, POST issue (handlers_certs.c) */
void vouchd_h_certs(struct evhttp_request *req, vouchd_worker *w,
                    const vouchd_caller *caller, const char *rest);
/* /v1/certificates/<issuer>/<serial>[/revoke|renew|rekey] */
void vouchd_h_cert_item(struct evhttp_request *req, vouchd_worker *w,
                        const vouchd_caller *caller, const char *rest);
/* GET /v1/sync */
void vouchd_h_sync(struct evhttp_request *req, vouchd_worker *w,
                   const vouchd_caller *caller, const char *rest);
/* /v1/templates, /v1/templates/<name> (handlers_templates.c) */
void vouchd_h_templates_list(struct evhttp_request *req, vouchd_worker *w,
                             const vouchd_caller *caller, const char *rest);
void vouchd_h_template_item(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest);

/* ---- validation authority (va.c): public, no token ------------------------------ */

/* GET /ca/<issuer>.crt */
void vouchd_h_ca_cert(struct evhttp_request *req, vouchd_worker *w,
                      const vouchd_caller *caller, const char *rest);
/* GET /crl/<issuer>.crl */
void vouchd_h_crl(struct evhttp_request *req, vouchd_worker *w,
                  const vouchd_caller *caller, const char *rest);
/* POST /ocsp (rest "") and GET /ocsp/<base64> (rest = the encoded request) */
void vouchd_h_ocsp(struct evhttp_request *req, vouchd_worker *w,
                   const vouchd_caller *caller, const char *rest);
/* Server-wide VA state (CRL cache and its rebuild thread, OCSP cache
 * invalidation). start: before the workers run; 0 or -1 (logged). stop:
 * after the workers' loops have stopped. */
int vouchd_va_start(const vouchd_config *cfg);
void vouchd_va_stop(void);
/* A revocation of (issuer, serial) has been committed (called on the
 * worker that revoked, before it answers): the issuer's CRL must be
 * rebuilt before it is served again and cached OCSP answers for the serial
 * must not be served any more, on every worker. */
void vouchd_va_revoked(vouchd_worker *w, int64_t issuer_id, const uint8_t *serial,
                       size_t serial_len);
/* Per-worker VA state (OCSP response cache): freed at worker shutdown. */
void vouchd_va_worker_free(vouchd_worker *w);

/* ---- accounts, families, devices (handlers_fleet.c) ------------------------------ */

/* /v1/accounts (GET list, POST create) */
void vouchd_h_accounts(struct evhttp_request *req, vouchd_worker *w,
                       const vouchd_caller *caller, const char *rest);
/* /v1/accounts/<name>[/devices[/<id>[/disable|enable|block]]|/families[/<id>[/verify|code]]] */
void vouchd_h_account_item(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest);

/* ---- firmware (handlers_fw.c) ------------------------------------------------------ */

/* /v1/accounts/<name>/firmware-keys[/<name>/retire|activate],
 * /v1/accounts/<name>/releases[/<id>], /v1/accounts/<name>/campaigns[/<id>[/pause|resume|
 * finish]]: rest starts at <name> */
void vouchd_h_account_fw(struct evhttp_request *req, vouchd_worker *w,
                         const vouchd_caller *caller, const char *rest);
/* The device API, behind a session token: GET /v1/device/update, POST
 * /v1/device/update/status, GET /v1/device/releases/<id>/image (rest "<id>/image") */
void vouchd_h_device_update(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest);
void vouchd_h_device_update_status(struct evhttp_request *req, vouchd_worker *w,
                                   const vouchd_caller *caller, const char *rest);
void vouchd_h_device_image(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest);
/* Frees the worker's state of image downloads still in progress (their
 * requests are evhttp's). At worker shutdown, before event_base_free. */
void vouchd_fw_worker_free(vouchd_worker *w);

/* ---- device authentication (auth.c): public, no admin token ------------------------ */

/* POST /v1/auth/challenge, POST /v1/auth/response */
void vouchd_h_auth_challenge(struct evhttp_request *req, vouchd_worker *w,
                             const vouchd_caller *caller, const char *rest);
void vouchd_h_auth_response(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest);
/* GET /v1/session: the device behind a session token */
void vouchd_h_session(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                      const char *rest);
/* The account named `name` (handlers_fleet.c): 0 with *id, -1 with the
 * 404 or store error sent. */
int vouchd_account_of(struct evhttp_request *req, vouchd_worker *w, const char *name,
                      int64_t *id);
/* The device of the request's session token (Authorization: Bearer vs1...),
 * active; 0 with *dev filled (clear it), or -1 with the 401 sent. */
int vouchd_session_check(struct evhttp_request *req, vouchd_worker *w, vouch_store_device *dev,
                         int64_t *expires);
/* Server-wide state: challenges, the last-seen writer thread. start after
 * the committer; stop after the workers' loops ended. 0 or -1 (logged). */
int vouchd_auth_start(const vouchd_config *cfg);
void vouchd_auth_stop(void);
void vouchd_auth_worker_free(vouchd_worker *w);
/* The session token key from master.key (HKDF-SHA256). 0 or -1. */
int vouchd_auth_derive_key(const uint8_t *master, size_t len, uint8_t out[32]);
/* Families were added or verified through this process: every worker
 * reloads them before its next authentication. */
void vouchd_auth_families_changed(void);
/* A device record changed (enrolled, status) or a certificate was revoked
 * through this process: the challenge step's cached lookups are read again. */
void vouchd_auth_devices_changed(void);
void vouchd_auth_revoked(void);
/* "online", "offline" or "no_certificate" for the device listing. */
const char *vouchd_device_presence(const vouch_store_device *d, int64_t now);
/* 1..64 of A-Z a-z 0-9 . _ - : @ + */
int vouchd_device_id_ok(const char *s);

/* Shared by the handlers (handlers_certs.c). The request body as a JSON
 * object; NULL with a 400 sent (empty body = {} when empty_ok). */
json_t *vouchd_body_object(struct evhttp_request *req, int empty_ok, const char *expect);
/* 0 when every member of j is in the NULL-terminated list; else 400 sent. */
int vouchd_members_ok(struct evhttp_request *req, json_t *j, const char *const *allowed,
                      const char *expect);
/* The name's first CN as UTF-8 (malloc'd), or NULL. */
char *vouchd_common_name(const X509_NAME *n);

/* JSON helpers shared by the handlers (handlers_issuers.c); NULL on failure. */
int vouchd_name_ok(const char *s);
/* [A-Za-z0-9._-]{1,max} */
int vouchd_name_ok_max(const char *s, size_t max);
/* RFC 3339 UTC from seconds since the epoch. */
json_t *vouchd_epoch_json(int64_t t);
json_t *vouchd_time_json(const ASN1_TIME *t);
json_t *vouchd_subject_json(X509 *c);
/* A name in RFC 2253 form (UTF-8 kept), as a JSON string; NULL if not UTF-8. */
json_t *vouchd_name_json(const X509_NAME *name);
json_t *vouchd_pem_json(X509 *c);
/* The PEM of a certificate's DER as JSON text, a string literal with its
 * quotes, for vouchd_send_json_members (malloc'd; NULL when memory runs
 * out). */
char *vouchd_pem_json_text(const uint8_t *der, size_t len);

#endif
