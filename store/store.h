/*
 * vouch store: the database behind vouchd's PKI.
 *
 * One interface over interchangeable backends (a vtable, vouch_store_ops in
 * store/store_impl.h). SQLite is implemented (vouch_store_open_sqlite); a
 * PostgreSQL backend plugs in behind the same calls.
 *
 * What it holds: issuers (CAs), certificate templates, issued certificates
 * with their status, admin API tokens (hashed), and an append-only,
 * hash-chained audit log. docs/storage.md has the schema and the reasons.
 *
 * Conventions
 *  - Every call returns a vouch_store_rc; 0 is success, every failure has its
 *    own code (vouch_store_strerror() names it) and, when err is not NULL,
 *    a message in err (at most errsize bytes, always NUL-terminated) that says
 *    what was wrong, e.g. "issuer 7 already has serial 0a1b...".
 *  - Times are seconds since the Unix epoch (int64_t).
 *  - Records handed to a callback are views, valid only during the callback.
 *    Records filled by a get call own their memory; release them with the
 *    matching *_clear() (safe on a zeroed or already cleared record).
 *  - A callback returns 0 to continue, anything else to stop; the listing
 *    call then returns VOUCH_STORE_E_STOPPED. A callback must not call
 *    into the same vouch_store (its statement is still running).
 *
 * Threads: one vouch_store is one database connection and belongs to one
 * thread at a time; open one per thread (they may share one database file;
 * SQLite serializes writers, waiting up to the busy timeout). Prepared
 * statements are cached per connection.
 *
 * Transactions: every write call is atomic on its own (the write and its
 * audit entry commit together). vouch_store_begin()/commit() group several
 * writes into one durable commit: with synchronous=FULL each commit costs an
 * fsync, so batching is how a server reaches thousands of durable issuances
 * per second. Inside a group, a write that fails is undone alone (a
 * savepoint) and the group stays open.
 */
#ifndef VOUCH_STORE_H
#define VOUCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VOUCH_STORE_WUR __attribute__((warn_unused_result))
#else
#define VOUCH_STORE_WUR
#endif

/* Newest schema this build knows; a database with a higher version is
 * refused (VOUCH_STORE_E_SCHEMA_NEWER) instead of being misread. */
#define VOUCH_STORE_SCHEMA_VERSION 3

typedef enum vouch_store_rc {
    VOUCH_STORE_OK = 0,
    VOUCH_STORE_E_ARG = 1,             /* NULL, empty or out-of-range argument */
    VOUCH_STORE_E_NOMEM = 2,           /* allocation failed */
    VOUCH_STORE_E_IO = 3,              /* cannot open, read or write the database */
    VOUCH_STORE_E_CORRUPT = 4,         /* not a database, not vouch's, or damaged */
    VOUCH_STORE_E_SCHEMA_NEWER = 5,    /* written by a newer vouch */
    VOUCH_STORE_E_BUSY = 6,            /* locked by another writer past the timeout */
    VOUCH_STORE_E_NOT_FOUND = 7,       /* no such record (issuer, template, token, ...) */
    VOUCH_STORE_E_EXISTS = 8,          /* name already taken (issuer, token) */
    VOUCH_STORE_E_DUP_SERIAL = 9,      /* this issuer already has that serial */
    VOUCH_STORE_E_UNKNOWN_ISSUER = 10, /* issuer id names no issuer */
    VOUCH_STORE_E_UNKNOWN_CERT = 11,   /* no certificate with that issuer + serial */
    VOUCH_STORE_E_ALREADY_REVOKED = 12,
    VOUCH_STORE_E_TXN = 13,            /* begin inside a group, commit outside one */
    VOUCH_STORE_E_TOKEN_INVALID = 14,  /* presented token matches no token */
    VOUCH_STORE_E_TOKEN_REVOKED = 15,  /* token was valid once and is revoked */
    VOUCH_STORE_E_AUDIT_BROKEN = 16,   /* audit chain verification failed */
    VOUCH_STORE_E_JSON = 17,           /* JSON argument does not parse / not an object */
    VOUCH_STORE_E_CRYPTO = 18,         /* hashing or random generation failed */
    VOUCH_STORE_E_STOPPED = 19,        /* a callback asked to stop */
    VOUCH_STORE_E_READONLY = 20,       /* database or file system is read-only */
    VOUCH_STORE_E_FULL = 21,           /* disk full */
    VOUCH_STORE_E_INTERNAL = 22        /* unexpected database error (message says which) */
} vouch_store_rc;

/* Words for a code; never NULL. */
const char *vouch_store_strerror(vouch_store_rc rc);

typedef struct vouch_store vouch_store;

/* ---- open / close ------------------------------------------------------ */

/* Open (creating if missing) a SQLite database at path: WAL journal,
 * synchronous=FULL, foreign keys on, busy timeout 5 s, and pending schema
 * migrations applied in one transaction. Refuses a file that is not a
 * SQLite database or belongs to another application (E_CORRUPT) and a
 * schema newer than VOUCH_STORE_SCHEMA_VERSION (E_SCHEMA_NEWER). */
vouch_store_rc vouch_store_open_sqlite(const char *path, vouch_store **out, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;

/* Close; an open group is rolled back. NULL is fine. */
void vouch_store_close(vouch_store *s);

/* Replace the clock (default time(NULL)); for tests and replays. */
void vouch_store_set_clock(vouch_store *s, int64_t (*now)(void *ctx), void *ctx);

/* Schema version of the open database. */
vouch_store_rc vouch_store_schema_version(vouch_store *s, int *version, char *err,
                                          size_t errsize) VOUCH_STORE_WUR;

/* Full integrity check of the database file (slow on big databases).
 * E_CORRUPT with the first problem in err when it fails. */
vouch_store_rc vouch_store_check_integrity(vouch_store *s, char *err,
                                           size_t errsize) VOUCH_STORE_WUR;

/* ---- transactions ------------------------------------------------------ */

vouch_store_rc vouch_store_begin(vouch_store *s, char *err, size_t errsize) VOUCH_STORE_WUR;
/* Durable when it returns OK (fsync with synchronous=FULL). On failure the
 * group is rolled back and nothing in it is stored. */
vouch_store_rc vouch_store_commit(vouch_store *s, char *err, size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_rollback(vouch_store *s, char *err, size_t errsize);

/* ---- issuers ----------------------------------------------------------- */

typedef enum vouch_issuer_kind {
    VOUCH_ISSUER_ROOT = 1,    /* self-signed root CA */
    VOUCH_ISSUER_ISSUING = 2, /* issuing (intermediate) CA */
    VOUCH_ISSUER_FAMILY = 3   /* a device family's CA */
} vouch_issuer_kind;

typedef struct vouch_store_issuer {
    int64_t id;                    /* assigned by insert */
    char *name;                    /* unique, 1..128 bytes */
    vouch_issuer_kind kind;
    int64_t parent_id;             /* issuer that signed this one; 0 = none (root) */
    uint8_t *cert_der;             /* its certificate */
    size_t cert_der_len;
    char *key_pem;                 /* encrypted private key PEM, or NULL ... */
    char *key_ref;                 /* ... an external key, e.g. "se:unix:/run/se.sock#3" */
    int64_t crl_number;            /* last CRL number handed out (0 = none yet) */
    int64_t created_at;
    void *_mem;                    /* owned memory of a filled record */
} vouch_store_issuer;

/* Exactly one of key_pem / key_ref must be set. id, crl_number and
 * created_at are ignored on input; *id receives the new id (id may be NULL).
 * E_EXISTS when the name is taken, E_UNKNOWN_ISSUER when parent_id is not 0
 * and names no issuer. */
vouch_store_rc vouch_store_issuer_insert(vouch_store *s, const vouch_store_issuer *in,
                                         const char *actor, int64_t *id, char *err,
                                         size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_issuer_get_by_name(vouch_store *s, const char *name,
                                              vouch_store_issuer *out, char *err,
                                              size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_issuer_get_by_id(vouch_store *s, int64_t id,
                                            vouch_store_issuer *out, char *err,
                                            size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_issuer_cb)(void *ctx, const vouch_store_issuer *is);
/* Every issuer, by id. */
vouch_store_rc vouch_store_issuer_list(vouch_store *s, vouch_store_issuer_cb cb, void *ctx,
                                       char *err, size_t errsize) VOUCH_STORE_WUR;
/* Atomically increment the issuer's CRL number and return the new value
 * (1 the first time). Each value is handed out once, even across crashes. */
vouch_store_rc vouch_store_issuer_next_crl_number(vouch_store *s, int64_t issuer_id,
                                                  int64_t *crl_number, char *err,
                                                  size_t errsize) VOUCH_STORE_WUR;
void vouch_store_issuer_clear(vouch_store_issuer *is);

/* ---- templates ---------------------------------------------------------- */

typedef struct vouch_store_template {
    char *name;       /* unique, 1..128 bytes */
    char *body;       /* a JSON object, stored as given */
    int64_t created_at;
    int64_t updated_at;
    void *_mem;
} vouch_store_template;

/* Create or replace (keeps created_at, sets updated_at). E_JSON when body is
 * not a JSON object. Audited as "template.put". */
vouch_store_rc vouch_store_template_put(vouch_store *s, const char *name, const char *body,
                                        const char *actor, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_template_get(vouch_store *s, const char *name,
                                        vouch_store_template *out, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_template_cb)(void *ctx, const vouch_store_template *t);
/* Every template, by name. */
vouch_store_rc vouch_store_template_list(vouch_store *s, vouch_store_template_cb cb,
                                         void *ctx, char *err, size_t errsize) VOUCH_STORE_WUR;
void vouch_store_template_clear(vouch_store_template *t);

/* ---- certificates ------------------------------------------------------- */

#define VOUCH_SERIAL_MAX 20 /* RFC 5280: at most 20 octets; vouch issues 16 */

typedef enum vouch_cert_status {
    VOUCH_CERT_ANY = 0,     /* filter only */
    VOUCH_CERT_ACTIVE = 1,  /* not revoked and not_after >= now */
    VOUCH_CERT_REVOKED = 2,
    VOUCH_CERT_EXPIRED = 3  /* not revoked and not_after < now (derived) */
} vouch_cert_status;

typedef struct vouch_store_cert {
    int64_t id;                          /* assigned by insert */
    int64_t issuer_id;
    uint8_t serial[VOUCH_SERIAL_MAX];
    size_t serial_len;                   /* 1..20 */
    char *subject;                       /* RFC 4514 string */
    char *device_id;                     /* device id / common name; may be NULL */
    char *template_name;                 /* may be NULL */
    vouch_cert_status status;            /* ACTIVE or REVOKED as stored; EXPIRED on read
                                          * when not revoked and not_after < now */
    int64_t not_before, not_after, issued_at;
    int64_t revoked_at;                  /* 0 when not revoked */
    int reason;                          /* RFC 5280 CRLReason; -1 when not revoked */
    uint8_t *der;
    size_t der_len;
    uint8_t sha256[32];                  /* fingerprint, computed from der by insert */
    int64_t renewed_from;                /* id of the certificate this one renews; 0 = none */
    int64_t seq;                         /* change sequence: raised by insert and revoke */
    void *_mem;
} vouch_store_cert;

/* Store a newly issued certificate and its "cert.issue" audit entry in one
 * transaction. Uses issuer_id, serial, subject, device_id, template_name,
 * not_before, not_after, issued_at, der, renewed_from; computes sha256, seq
 * and id (*id may be NULL). Errors: E_UNKNOWN_ISSUER, E_DUP_SERIAL (that
 * issuer already used the serial), E_UNKNOWN_CERT (renewed_from names no
 * certificate), E_ARG (empty serial or der, not_after < not_before). */
vouch_store_rc vouch_store_cert_insert(vouch_store *s, const vouch_store_cert *in,
                                       const char *actor, int64_t *id, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;

vouch_store_rc vouch_store_cert_get(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                    size_t serial_len, vouch_store_cert *out, char *err,
                                    size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_cert_get_by_id(vouch_store *s, int64_t id, vouch_store_cert *out,
                                          char *err, size_t errsize) VOUCH_STORE_WUR;
vouch_store_rc vouch_store_cert_get_by_fingerprint(vouch_store *s, const uint8_t sha256[32],
                                                   vouch_store_cert *out, char *err,
                                                   size_t errsize) VOUCH_STORE_WUR;
void vouch_store_cert_clear(vouch_store_cert *c);

/* Revoke with an RFC 5280 reason code (0-6, 9, 10; 7 is unused and 8,
 * removeFromCRL, only belongs in delta CRLs). The revocation and its
 * "cert.revoke" audit entry commit together. revoked_at is the store clock.
 * E_UNKNOWN_CERT, E_ALREADY_REVOKED. */
vouch_store_rc vouch_store_cert_revoke(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                       size_t serial_len, int reason, const char *actor,
                                       char *err, size_t errsize) VOUCH_STORE_WUR;

/* Search filter; zero / NULL members do not filter. Every combination is
 * served from an index: the most selective filter set drives the range
 * (device_id, revoked_since, expiring_before, issued_since, template,
 * status, issuer, in that order), the others are checked on its rows. */
typedef struct vouch_store_cert_filter {
    int64_t issuer_id;
    vouch_cert_status status;
    const char *template_name;
    const char *device_id;
    int64_t expiring_before; /* active certificates with now <= not_after < this */
    int64_t issued_since;    /* issued_at >= this */
    int64_t revoked_since;   /* revoked_at >= this (implies revoked) */
} vouch_store_cert_filter;

/* Keyset cursor: zero it for the first page; a search leaves it at the last
 * row returned, ready for the next page. Tied to the filter it was made
 * with. done is set when the search returned fewer rows than asked. */
typedef struct vouch_store_cursor {
    int64_t key;
    int64_t id;
    int started;
    int done;
} vouch_store_cursor;

typedef int (*vouch_store_cert_cb)(void *ctx, const vouch_store_cert *c);

/* Up to limit (1..10000) certificates matching f after cursor, in the
 * order of the driving index (soonest not_after first for expiring and
 * status searches, oldest first for issued/revoked since, otherwise id).
 * der is included only when with_der is nonzero. */
vouch_store_rc vouch_store_cert_search(vouch_store *s, const vouch_store_cert_filter *f,
                                       vouch_store_cursor *cursor, unsigned limit, int with_der,
                                       vouch_store_cert_cb cb, void *ctx, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;
/* How many certificates match f (same index use as search). */
vouch_store_rc vouch_store_cert_count(vouch_store *s, const vouch_store_cert_filter *f,
                                      uint64_t *count, char *err, size_t errsize) VOUCH_STORE_WUR;

/* One revoked entry of an issuer, for building its CRL. */
typedef struct vouch_store_revoked {
    const uint8_t *serial;
    size_t serial_len;
    int64_t revoked_at;
    int reason;
} vouch_store_revoked;
typedef int (*vouch_store_revoked_cb)(void *ctx, const vouch_store_revoked *r);
/* Every revoked certificate of the issuer, by serial, streamed from a
 * covering index (no table lookups). */
vouch_store_rc vouch_store_cert_list_revoked(vouch_store *s, int64_t issuer_id,
                                             vouch_store_revoked_cb cb, void *ctx, char *err,
                                             size_t errsize) VOUCH_STORE_WUR;

/* Sync: up to limit (1..10000) certificates whose seq > after_seq, by seq,
 * with der; each appears once in its latest state. *last_seq receives the
 * seq of the last row (after_seq when none), the cursor for the next call. */
vouch_store_rc vouch_store_cert_changes_since(vouch_store *s, int64_t after_seq,
                                              unsigned limit, vouch_store_cert_cb cb, void *ctx,
                                              int64_t *last_seq, char *err,
                                              size_t errsize) VOUCH_STORE_WUR;

typedef struct vouch_store_counts {
    uint64_t active, revoked, expired;
} vouch_store_counts;
/* Totals per status at now. Active and revoked come from counters kept in
 * the same transaction as each write; expired is one index range. */
vouch_store_rc vouch_store_cert_counts(vouch_store *s, vouch_store_counts *out, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;
/* The same per template name ("" for certificates without one), by name. */
typedef int (*vouch_store_template_counts_cb)(void *ctx, const char *template_name,
                                              const vouch_store_counts *c);
vouch_store_rc vouch_store_cert_counts_by_template(vouch_store *s,
                                                   vouch_store_template_counts_cb cb, void *ctx,
                                                   char *err, size_t errsize) VOUCH_STORE_WUR;

/* ---- admin API tokens --------------------------------------------------- */

#define VOUCH_TOKEN_LEN 43 /* base64url of 32 random bytes, no padding */

/* Make a token: 32 random bytes, base64url. The plaintext goes to
 * token[VOUCH_TOKEN_LEN + 1] and is never stored; only its SHA-256 is.
 * E_EXISTS when the name is taken. Audited as "token.create". */
vouch_store_rc vouch_store_token_create(vouch_store *s, const char *name, const char *actor,
                                        char token[VOUCH_TOKEN_LEN + 1], int64_t *id,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;
/* Check a presented token: its SHA-256 is compared in constant time with
 * every stored hash (no early exit). OK with *id and name (name_size bytes,
 * may be NULL/0) of the matching token; E_TOKEN_INVALID when none matches;
 * E_TOKEN_REVOKED when it matches a revoked one. */
vouch_store_rc vouch_store_token_verify(vouch_store *s, const char *token, int64_t *id,
                                        char *name, size_t name_size, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
/* E_NOT_FOUND, E_TOKEN_REVOKED when already revoked. Audited. */
vouch_store_rc vouch_store_token_revoke(vouch_store *s, int64_t id, const char *actor,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;
typedef struct vouch_store_token_info {
    int64_t id;
    const char *name;
    int64_t created_at;
    int revoked;
} vouch_store_token_info;
typedef int (*vouch_store_token_cb)(void *ctx, const vouch_store_token_info *t);
vouch_store_rc vouch_store_token_list(vouch_store *s, vouch_store_token_cb cb, void *ctx,
                                      char *err, size_t errsize) VOUCH_STORE_WUR;

/* ---- accounts, device families, devices (schema 2) ------------------------
 * An account is a tenant of the cloud service. A device family is a CA
 * certificate registered to ONE account: a verified family vouches for
 * every device whose chain ends at it. A device belongs to one account,
 * either enrolled on its own with its certificate, or registered through
 * a family (just in time, at its first authentication). docs/storage.md. */

/* Create an account. E_EXISTS when the name is taken. Audited
 * "account.create". */
vouch_store_rc vouch_store_account_create(vouch_store *s, const char *name, const char *actor,
                                          int64_t *id, char *err, size_t errsize) VOUCH_STORE_WUR;
/* The account's id by name; E_NOT_FOUND. */
vouch_store_rc vouch_store_account_get(vouch_store *s, const char *name, int64_t *id, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;
typedef struct vouch_store_account_info {
    int64_t id;
    const char *name;
    int64_t created_at;
    uint64_t families, devices;
} vouch_store_account_info;
typedef int (*vouch_store_account_cb)(void *ctx, const vouch_store_account_info *a);
/* Every account, by name, with its family and device counts. */
vouch_store_rc vouch_store_account_list(vouch_store *s, vouch_store_account_cb cb, void *ctx,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;

typedef enum vouch_family_status {
    VOUCH_FAMILY_PENDING = 1,  /* waits for its proof of possession */
    VOUCH_FAMILY_VERIFIED = 2  /* vouches for its devices */
} vouch_family_status;

#define VOUCH_FAMILY_CODE_MAX 64 /* verification code, printable ASCII */

typedef struct vouch_store_family {
    int64_t id;                 /* assigned by insert */
    int64_t account_id;
    char *account;              /* the account's name (filled on read) */
    uint8_t *cert_der;          /* the family CA certificate */
    size_t cert_der_len;
    uint8_t sha256[32];         /* its fingerprint, computed by insert */
    char *subject;              /* RFC 4514 */
    int ours;                   /* 1: one of this CA's issuers (no proof needed) */
    vouch_family_status status;
    char *verify_code;          /* PENDING: the code the proof must carry; else NULL */
    int64_t code_expires;       /* PENDING: when the code stops being accepted */
    int64_t created_at, verified_at;
    void *_mem;
} vouch_store_family;

/* Register a family CA certificate to an account. Uses account_id,
 * cert_der, subject, ours, status, verify_code, code_expires. E_EXISTS when
 * the certificate is already registered (to any account), E_NOT_FOUND when
 * the account is not. Audited "family.enroll". */
vouch_store_rc vouch_store_family_insert(vouch_store *s, const vouch_store_family *in,
                                         const char *actor, int64_t *id, char *err,
                                         size_t errsize) VOUCH_STORE_WUR;
/* By id (sha256 NULL) or by certificate fingerprint (id 0). E_NOT_FOUND. */
vouch_store_rc vouch_store_family_get(vouch_store *s, int64_t id, const uint8_t *sha256,
                                      vouch_store_family *out, char *err,
                                      size_t errsize) VOUCH_STORE_WUR;
/* A pending family gets a new code (an expired one is replaced this way).
 * E_NOT_FOUND, E_ARG when it is verified already. Audited "family.code". */
vouch_store_rc vouch_store_family_set_code(vouch_store *s, int64_t id, const char *code,
                                           int64_t expires, const char *actor, char *err,
                                           size_t errsize) VOUCH_STORE_WUR;
/* A pending family becomes verified and its code is forgotten. OK when it
 * already was. E_NOT_FOUND. Audited "family.verify". */
vouch_store_rc vouch_store_family_verify(vouch_store *s, int64_t id, const char *actor,
                                         char *err, size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_family_cb)(void *ctx, const vouch_store_family *f);
/* The families of an account (account_id 0: every family), by id, with
 * their certificates. */
vouch_store_rc vouch_store_family_list(vouch_store *s, int64_t account_id,
                                       vouch_store_family_cb cb, void *ctx, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;
void vouch_store_family_clear(vouch_store_family *f);

typedef enum vouch_device_status {
    VOUCH_DEVICE_ACTIVE = 1,
    VOUCH_DEVICE_DISABLED = 2, /* switched off by its owner */
    VOUCH_DEVICE_BLOCKED = 3   /* one device shut out of its family */
} vouch_device_status;

#define VOUCH_DEVICE_ID_MAX 64

typedef struct vouch_store_device {
    int64_t id;                 /* assigned by insert */
    int64_t account_id;
    char *account;              /* the account's name (filled on read) */
    char *device_id;            /* unique in the account, 1..64 bytes */
    int64_t family_id;          /* 0: enrolled on its own */
    uint8_t *cert_der;          /* its certificate; NULL: none yet */
    size_t cert_der_len;
    uint8_t cert_sha256[32];    /* fingerprint of cert_der (computed by insert) */
    int has_cert;               /* set on read: it has a certificate (a listing
                                 * without der leaves cert_der NULL) */
    vouch_device_status status;
    int64_t created_at;
    int64_t last_seen;          /* last successful authentication; 0: never */
    void *_mem;
} vouch_store_device;

/* Create a device record. Uses account_id, device_id, family_id, cert_der
 * (may be NULL), status. E_EXISTS when the account already has that
 * device id or another device has that certificate; E_NOT_FOUND when the
 * account or family is unknown, or the family belongs to another account.
 * Audited with `action` ("device.enroll", "device.register", ...). */
vouch_store_rc vouch_store_device_insert(vouch_store *s, const vouch_store_device *in,
                                         const char *action, const char *actor, int64_t *id,
                                         char *err, size_t errsize) VOUCH_STORE_WUR;
/* By account and device id (device_id not NULL), or by row id.
 * E_NOT_FOUND. */
vouch_store_rc vouch_store_device_get(vouch_store *s, int64_t account_id, const char *device_id,
                                      int64_t id, vouch_store_device *out, char *err,
                                      size_t errsize) VOUCH_STORE_WUR;
/* The device holding the certificate with this fingerprint. E_NOT_FOUND. */
vouch_store_rc vouch_store_device_get_by_cert(vouch_store *s, const uint8_t sha256[32],
                                              vouch_store_device *out, char *err,
                                              size_t errsize) VOUCH_STORE_WUR;
/* Set the status. E_NOT_FOUND. Audited "device.<enable|disable|block>". */
vouch_store_rc vouch_store_device_set_status(vouch_store *s, int64_t id,
                                             vouch_device_status status, const char *actor,
                                             char *err, size_t errsize) VOUCH_STORE_WUR;
/* Bind a certificate (a family device's first or renewed one) and its
 * family to the device, provided the record still is as the caller saw it:
 * its certificate's fingerprint expect_sha256 (NULL: it had none) and
 * family expect_family (0: none). E_EXISTS when another device holds that
 * certificate or the record changed meanwhile. Audited
 * "device.certificate". */
vouch_store_rc vouch_store_device_set_cert(vouch_store *s, int64_t id, int64_t family_id,
                                           const uint8_t *der, size_t len,
                                           const uint8_t *expect_sha256, int64_t expect_family,
                                           const char *actor, char *err,
                                           size_t errsize) VOUCH_STORE_WUR;
/* Record successful authentications: last_seen of devices ids[i] becomes
 * times[i] (never moves back). One transaction, not audited (the counts
 * go to the server log). Unknown ids are skipped. */
vouch_store_rc vouch_store_device_touch(vouch_store *s, const int64_t *ids,
                                        const int64_t *times, size_t n, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_device_cb)(void *ctx, const vouch_store_device *d);
/* Up to limit (1..10000) devices of the account with row id > after_id,
 * by row id (with their certificates when with_der). */
vouch_store_rc vouch_store_device_list(vouch_store *s, int64_t account_id, int64_t after_id,
                                       unsigned limit, int with_der, vouch_store_device_cb cb,
                                       void *ctx, char *err, size_t errsize) VOUCH_STORE_WUR;
void vouch_store_device_clear(vouch_store_device *d);

/* ---- firmware: signing keys, releases, campaigns (schema 3) ----------------
 * An account's firmware signing keys (public halves only), its releases (a
 * signed image as uploaded, with what its header and protected TLVs say),
 * and its update campaigns: a release offered to all of the account's
 * devices, to one family's, or to a list of devices, with each device's
 * reported progress. docs/storage.md, "Schema version 3". Admin writes are
 * audited; a device's own reports (progress, current version) are not,
 * like last-seen times. */

typedef enum vouch_fwkey_alg {
    VOUCH_FWKEY_P256 = 1,   /* ECDSA P-256: pub is 65 bytes 04|X|Y */
    VOUCH_FWKEY_ED25519 = 2 /* pub is 32 bytes */
} vouch_fwkey_alg;

typedef enum vouch_fwkey_status {
    VOUCH_FWKEY_ACTIVE = 1, /* uploads signed with it are accepted */
    VOUCH_FWKEY_RETIRED = 2 /* kept for the releases it signed; new uploads refused */
} vouch_fwkey_status;

#define VOUCH_FWKEY_NAME_MAX 64

typedef struct vouch_store_fwkey {
    int64_t id;                 /* assigned by insert */
    int64_t account_id;
    char name[VOUCH_FWKEY_NAME_MAX + 1]; /* unique in the account */
    vouch_fwkey_alg alg;
    uint8_t pub[65];
    size_t pub_len;             /* 65 (P-256) or 32 (Ed25519) */
    uint8_t keyhash[32];        /* SHA-256 of its DER SubjectPublicKeyInfo
                                 * (vouch_fw_keyhash), given by the caller */
    vouch_fwkey_status status;
    int64_t created_at;
} vouch_store_fwkey;

/* Add a key to an account. Uses account_id, name, alg, pub, pub_len,
 * keyhash, status. E_EXISTS when the account has a key of that name or
 * that key hash already; E_NOT_FOUND for an unknown account. Audited
 * "fwkey.add". */
vouch_store_rc vouch_store_fwkey_insert(vouch_store *s, const vouch_store_fwkey *in,
                                        const char *actor, int64_t *id, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
/* Retire or reactivate the account's key `name`. OK without a change (and
 * without an audit entry) when it already has that status. E_NOT_FOUND.
 * Audited "fwkey.retire" / "fwkey.activate". */
vouch_store_rc vouch_store_fwkey_set_status(vouch_store *s, int64_t account_id, const char *name,
                                            vouch_fwkey_status status, const char *actor,
                                            char *err, size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_fwkey_cb)(void *ctx, const vouch_store_fwkey *k);
/* The account's keys, by id. */
vouch_store_rc vouch_store_fwkey_list(vouch_store *s, int64_t account_id, vouch_store_fwkey_cb cb,
                                      void *ctx, char *err, size_t errsize) VOUCH_STORE_WUR;

#define VOUCH_RELEASE_IMAGE_MAX (32u << 20) /* bytes: the largest image kept */
#define VOUCH_RELEASE_VERSION_MAX 31         /* "255.255.65535+4294967295" fits */

typedef struct vouch_store_release {
    int64_t id;                 /* assigned by insert */
    int64_t account_id;
    char version[VOUCH_RELEASE_VERSION_MAX + 1]; /* as vouch_fw_version_str writes it */
    uint8_t ver_major, ver_minor;
    uint16_t ver_revision;
    uint32_t ver_build;
    uint32_t sec_cnt;           /* the image's security counter (0: none) */
    uint64_t size;              /* bytes of the image */
    uint8_t sha256[32];         /* of the whole image file (computed by insert) */
    uint8_t keyhash[32];        /* of the key that signed it */
    int has_vid, has_cid;
    uint8_t vid[16], cid[16];   /* vendor and class UUIDs, when the image has them */
    char key_name[VOUCH_FWKEY_NAME_MAX + 1]; /* on read: the account's key with
                                              * that hash ("" when none) */
    int64_t created_at;
} vouch_store_release;

/* Store a verified image as a release of the account (the caller checked
 * it; the store keeps what it is given). Uses account_id, the version
 * fields, sec_cnt, keyhash, has_vid/vid, has_cid/cid; image/len are the
 * bytes (1..VOUCH_RELEASE_IMAGE_MAX), whose size and SHA-256 the store
 * computes. E_EXISTS when the account has this image already (*id is then
 * the existing release's id); E_NOT_FOUND for an unknown account. Audited
 * "release.upload". */
vouch_store_rc vouch_store_release_insert(vouch_store *s, const vouch_store_release *in,
                                          const uint8_t *image, size_t len, const char *actor,
                                          int64_t *id, char *err, size_t errsize) VOUCH_STORE_WUR;
/* By id. E_NOT_FOUND. */
vouch_store_rc vouch_store_release_get(vouch_store *s, int64_t id, vouch_store_release *out,
                                       char *err, size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_release_cb)(void *ctx, const vouch_store_release *r);
/* The account's releases, by id. */
vouch_store_rc vouch_store_release_list(vouch_store *s, int64_t account_id,
                                        vouch_store_release_cb cb, void *ctx, char *err,
                                        size_t errsize) VOUCH_STORE_WUR;
/* len bytes of the release's image from offset into buf, read from the
 * stored BLOB incrementally (only the pages that hold the range are read).
 * E_NOT_FOUND for an unknown release, E_ARG when the range is not inside
 * the image. */
vouch_store_rc vouch_store_release_read(vouch_store *s, int64_t id, uint64_t offset, uint8_t *buf,
                                        size_t len, char *err, size_t errsize) VOUCH_STORE_WUR;

typedef enum vouch_campaign_target {
    VOUCH_CAMPAIGN_ALL = 1,     /* every device of the account */
    VOUCH_CAMPAIGN_FAMILY = 2,  /* the devices of one family */
    VOUCH_CAMPAIGN_DEVICES = 3  /* a list of devices */
} vouch_campaign_target;

typedef enum vouch_campaign_status {
    VOUCH_CAMPAIGN_ACTIVE = 1,  /* offered to its devices */
    VOUCH_CAMPAIGN_PAUSED = 2,  /* not offered for now */
    VOUCH_CAMPAIGN_FINISHED = 3 /* over, for good */
} vouch_campaign_status;

/* A device's progress in a campaign, as it reports it. "pending" (targeted,
 * nothing reported yet) is not stored. */
typedef enum vouch_update_state {
    VOUCH_UPDATE_PENDING = 0,
    VOUCH_UPDATE_DOWNLOADING = 1,
    VOUCH_UPDATE_INSTALLED = 2,
    VOUCH_UPDATE_TESTING = 3,
    VOUCH_UPDATE_CONFIRMED = 4, /* final: runs the release */
    VOUCH_UPDATE_REVERTED = 5,  /* final: went back to the previous image */
    VOUCH_UPDATE_REJECTED = 6,  /* final: refused the image (verification) */
    VOUCH_UPDATE_FAILED = 7     /* may retry */
} vouch_update_state;
#define VOUCH_UPDATE_STATES 8
#define VOUCH_UPDATE_DETAIL_MAX 200

#define VOUCH_CAMPAIGN_DEVICES_MAX 10000 /* devices in one list target */

typedef struct vouch_store_campaign {
    int64_t id;                 /* assigned by create */
    int64_t account_id;
    int64_t release_id;
    vouch_campaign_target target;
    int64_t family_id;          /* FAMILY: the family; else 0 */
    vouch_campaign_status status;
    int64_t created_at, updated_at;
    /* on read */
    char version[VOUCH_RELEASE_VERSION_MAX + 1]; /* the release's */
    uint64_t targeted;          /* devices it targets now (DEVICES: the list) */
    uint64_t counts[VOUCH_UPDATE_STATES]; /* by state; [PENDING] = targeted
                                           * devices that reported nothing */
} vouch_store_campaign;

/* Create a campaign. Uses account_id, release_id, target, family_id (FAMILY)
 * and, for DEVICES, device_rows[0..n) (device row ids, 1..
 * VOUCH_CAMPAIGN_DEVICES_MAX, duplicates ignored). E_NOT_FOUND when the
 * release, family or a device is not the account's. Audited
 * "campaign.create". */
vouch_store_rc vouch_store_campaign_create(vouch_store *s, const vouch_store_campaign *in,
                                           const int64_t *device_rows, size_t n,
                                           const char *actor, int64_t *id, char *err,
                                           size_t errsize) VOUCH_STORE_WUR;
/* By id, with the release's version, the number of devices targeted and
 * the counts by state. E_NOT_FOUND. */
vouch_store_rc vouch_store_campaign_get(vouch_store *s, int64_t id, vouch_store_campaign *out,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_campaign_cb)(void *ctx, const vouch_store_campaign *c);
/* The account's campaigns, by id (version filled; counts and targeted
 * not). */
vouch_store_rc vouch_store_campaign_list(vouch_store *s, int64_t account_id,
                                         vouch_store_campaign_cb cb, void *ctx, char *err,
                                         size_t errsize) VOUCH_STORE_WUR;
/* Pause, resume (ACTIVE) or finish. E_NOT_FOUND; E_ARG for a change out
 * of FINISHED. OK without a change (nor an audit entry) when the status
 * is already that. Audited "campaign.pause|resume|finish". */
vouch_store_rc vouch_store_campaign_set_status(vouch_store *s, int64_t id,
                                               vouch_campaign_status status, const char *actor,
                                               char *err, size_t errsize) VOUCH_STORE_WUR;

/* One device of a campaign, for its status listing (a view). */
typedef struct vouch_store_campaign_device {
    int64_t device_row;
    const char *device_id;
    vouch_update_state state;   /* PENDING: listed, nothing reported */
    const char *detail;         /* "" when none */
    int64_t updated_at;         /* 0 for PENDING */
    const char *version;        /* its last reported current version, or NULL */
} vouch_store_campaign_device;
typedef int (*vouch_store_campaign_device_cb)(void *ctx, const vouch_store_campaign_device *d);
/* The devices that reported in the campaign and, for a DEVICES target, the
 * listed ones that did not yet (PENDING), by device row id. */
vouch_store_rc vouch_store_campaign_devices(vouch_store *s, int64_t id,
                                            vouch_store_campaign_device_cb cb, void *ctx,
                                            char *err, size_t errsize) VOUCH_STORE_WUR;

/* The device as an update target: its account, family (0: none) and row. */
typedef struct vouch_store_update_query {
    int64_t account_id, family_id, device_row;
    const char *current_version; /* what it runs, as vouch_fw_version_str writes it */
    uint32_t sec_cnt;            /* its security counter floor */
} vouch_store_update_query;

/* The newest ACTIVE campaign of the device's account that targets it (all,
 * its family, or a list naming it), whose release is not the version it
 * runs and not below its security counter, and in which it has not ended
 * (CONFIRMED, REVERTED, REJECTED): OK with *campaign and *release filled
 * (version and key_name included), E_NOT_FOUND when there is none. */
vouch_store_rc vouch_store_update_find(vouch_store *s, const vouch_store_update_query *q,
                                       vouch_store_campaign *campaign,
                                       vouch_store_release *release, char *err,
                                       size_t errsize) VOUCH_STORE_WUR;
/* Does an ACTIVE campaign offer this release to the device (targeting as
 * above)? OK with *yes. */
vouch_store_rc vouch_store_update_allowed(vouch_store *s, const vouch_store_update_query *q,
                                          int64_t release_id, int *yes, char *err,
                                          size_t errsize) VOUCH_STORE_WUR;
/* Does campaign `id` (of any status) target the device? OK with *yes. */
vouch_store_rc vouch_store_campaign_targets(vouch_store *s, int64_t id,
                                            const vouch_store_update_query *q, int *yes,
                                            char *err, size_t errsize) VOUCH_STORE_WUR;
/* The device's progress in a campaign: its state and detail (0..
 * VOUCH_UPDATE_DETAIL_MAX bytes, "" or NULL for none) replace what it
 * reported before (last writer wins). Not audited. E_NOT_FOUND for an
 * unknown campaign or device. */
vouch_store_rc vouch_store_update_report(vouch_store *s, int64_t campaign_id, int64_t device_row,
                                         vouch_update_state state, const char *detail,
                                         char *err, size_t errsize) VOUCH_STORE_WUR;
/* What the device says it runs (kept per device; written only when it
 * changed). Not audited. Unknown devices are skipped. */
vouch_store_rc vouch_store_device_fw_report(vouch_store *s, int64_t device_row,
                                            const char *version, uint32_t sec_cnt, char *err,
                                            size_t errsize) VOUCH_STORE_WUR;

/* ---- audit log ------------------------------------------------------------ */

typedef struct vouch_store_audit_entry {
    int64_t seq;           /* 1, 2, 3, ... without gaps */
    int64_t time;
    const char *actor;
    const char *action;    /* "cert.issue", "cert.revoke", "issuer.create", ... */
    const char *subject;   /* what it acted on, e.g. "issuer=1 serial=0a1b..." */
    const char *details;   /* a JSON object */
    uint8_t prev_hash[32]; /* hash of entry seq-1; zeros for seq 1 */
    uint8_t hash[32];      /* SHA-256 of the canonical encoding (docs/storage.md) */
} vouch_store_audit_entry;

/* Append an entry (admin actions the store does not audit itself). details
 * may be NULL ("{}"); otherwise it must be a JSON object (E_JSON). *seq may
 * be NULL. */
vouch_store_rc vouch_store_audit_append(vouch_store *s, const char *actor, const char *action,
                                        const char *subject, const char *details, int64_t *seq,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;
typedef int (*vouch_store_audit_cb)(void *ctx, const vouch_store_audit_entry *e);
/* Up to limit (0 = all) entries with seq > after_seq, by seq. */
vouch_store_rc vouch_store_audit_list(vouch_store *s, int64_t after_seq, unsigned limit,
                                      vouch_store_audit_cb cb, void *ctx, char *err,
                                      size_t errsize) VOUCH_STORE_WUR;

typedef enum vouch_audit_problem {
    VOUCH_AUDIT_INTACT = 0,
    VOUCH_AUDIT_CHANGED = 1,   /* an entry's hash does not match its content */
    VOUCH_AUDIT_REMOVED = 2,   /* a gap in seq: entries before bad_seq are missing */
    VOUCH_AUDIT_RELINKED = 3,  /* prev_hash is not the previous entry's hash:
                                * entries replaced, reordered or re-hashed */
    VOUCH_AUDIT_TRUNCATED = 4  /* the recorded head is past the last entry, or
                                * does not match it */
} vouch_audit_problem;

typedef struct vouch_store_audit_report {
    vouch_audit_problem problem;
    int64_t bad_seq;       /* first entry found wrong (or expected there) */
    uint64_t entries;      /* entries checked */
    int64_t head_seq;      /* last entry's seq and hash: keep them elsewhere to */
    uint8_t head_hash[32]; /* detect a rewrite of the whole chain later */
} vouch_store_audit_report;

/* Walk the whole chain. OK when intact; E_AUDIT_BROKEN with the report (and
 * err) saying what and where otherwise. */
vouch_store_rc vouch_store_audit_verify(vouch_store *s, vouch_store_audit_report *rep,
                                        char *err, size_t errsize) VOUCH_STORE_WUR;

/* ---- helpers --------------------------------------------------------------- */

/* Lower-case hex of a serial into out (2*len+1 bytes). */
void vouch_store_hex(const uint8_t *in, size_t len, char *out);

#ifdef __cplusplus
}
#endif
#endif
