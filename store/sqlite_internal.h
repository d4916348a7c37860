/*
 * The SQLite backend's internals, shared by its source files (sqlite.c:
 * connection, schema, transactions, audit, issuers, templates,
 * certificates, tokens; sqlite_fleet.c: accounts, device families,
 * devices; sqlite_fw.c: firmware keys, releases, campaigns). Not part of
 * the store's API.
 */
#ifndef VOUCH_STORE_SQLITE_INTERNAL_H
#define VOUCH_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <jansson.h>

#include "store/store_impl.h"

#define STMT_CACHE 96

typedef struct stmt_slot {
    char *sql;
    uint64_t hash; /* of sql: most lookups then compare one string, not all */
    sqlite3_stmt *st;
} stmt_slot;

/* What a group of writes (vouch_store_begin .. commit) keeps in memory
 * instead of reading and writing it again for every write: the audit head
 * (written back once, just before COMMIT) and the next sync sequence
 * number. Only inside a group: the group holds SQLite's write lock, so no
 * other connection changes either meanwhile. */
typedef struct group_cache {
    vouch_store_rc broken; /* a write failed after its first change (lend): its
                            * error; sq_commit then rolls the group back */
    char broken_err[160];
    int head_valid, head_dirty;
    int64_t head_seq;
    uint8_t head_hash[32];
    int seq_valid;
    int64_t seq_next;
} group_cache;

typedef struct sq_store {
    struct vouch_store base; /* first: a vouch_store * is a sq_store * */
    sqlite3 *db;
    int in_group; /* vouch_store_begin() called, not yet committed */
    group_cache gc;    /* valid while in_group */
    group_cache gc_sp; /* gc when the current write began */
    stmt_slot cache[STMT_CACHE];
    size_t ncache;
} sq_store;

#define Q(s) ((sq_store *)(s))
#define FAIL(rc, ...) return vouch_store_fail(err, n, (rc), __VA_ARGS__)

/* Map a SQLite error to a store code with what failed and SQLite's words. */
vouch_store_rc sq_dberr(sq_store *q, int rc, const char *what, char *err, size_t n);
/* A cached prepared statement for sql, reset and unbound. SQLITE_OK or an error. */
int sq_prep(sq_store *q, const char *sql, sqlite3_stmt **out);
/* Reset and unbind after use. */
void sq_done(sqlite3_stmt *st);
/* Run a statement that returns no rows. */
vouch_store_rc sq_exec1(sq_store *q, const char *sql, char *err, size_t n);
/* Every write runs between these: its own IMMEDIATE transaction, or a
 * savepoint inside the caller's group; wend commits when rc is OK and
 * undoes the write otherwise. */
vouch_store_rc sq_wbegin(sq_store *q, char *err, size_t n);
vouch_store_rc sq_wend(sq_store *q, vouch_store_rc rc, char *err, size_t n);
/* Append an audit entry with details from a jansson object (consumed);
 * inside a write. */
vouch_store_rc sq_audit_addj(sq_store *q, int64_t now, const char *actor, const char *action,
                             const char *subject, json_t *details, char *err, size_t n);
/* Copy len bytes from src to *p (and a NUL when text), advance *p, return
 * the copy (NULL when src is NULL). */
char *sq_dup_into(char **p, const void *src, size_t len, int text);


/* sqlite_fleet.c: the ops of the same names (store_impl.h) */
vouch_store_rc sq_account_create(vouch_store *s, const char *name, const char *actor,
                                 int64_t *id, char *err, size_t n);
vouch_store_rc sq_account_get(vouch_store *s, const char *name, int64_t *id, char *err,
                              size_t n);
vouch_store_rc sq_account_list(vouch_store *s, vouch_store_account_cb cb, void *ctx, char *err,
                               size_t n);
vouch_store_rc sq_family_insert(vouch_store *s, const vouch_store_family *in, const char *actor,
                                int64_t *id, char *err, size_t n);
vouch_store_rc sq_family_get(vouch_store *s, int64_t id, const uint8_t *sha256,
                             vouch_store_family *out, char *err, size_t n);
vouch_store_rc sq_family_set_code(vouch_store *s, int64_t id, const char *code, int64_t expires,
                                  const char *actor, char *err, size_t n);
vouch_store_rc sq_family_verify(vouch_store *s, int64_t id, const char *actor, char *err,
                                size_t n);
vouch_store_rc sq_family_list(vouch_store *s, int64_t account_id, vouch_store_family_cb cb,
                              void *ctx, char *err, size_t n);
vouch_store_rc sq_device_insert(vouch_store *s, const vouch_store_device *in, const char *action,
                                const char *actor, int64_t *id, char *err, size_t n);
vouch_store_rc sq_device_get(vouch_store *s, int64_t account_id, const char *device_id,
                             int64_t id, const uint8_t *sha256, vouch_store_device *out,
                             char *err, size_t n);
vouch_store_rc sq_device_set_status(vouch_store *s, int64_t id, vouch_device_status status,
                                    const char *actor, char *err, size_t n);
vouch_store_rc sq_device_set_cert(vouch_store *s, int64_t id, int64_t family_id,
                                  const uint8_t *der, size_t len, const uint8_t sha256[32],
                                  const uint8_t *expect_sha256, int64_t expect_family,
                                  const char *actor, char *err, size_t n);
vouch_store_rc sq_device_touch(vouch_store *s, const int64_t *ids, const int64_t *times,
                               size_t count, char *err, size_t n);
vouch_store_rc sq_device_list(vouch_store *s, int64_t account_id, int64_t after_id,
                              unsigned limit, int with_der, vouch_store_device_cb cb, void *ctx,
                              char *err, size_t n);

/* sqlite_fw.c: the firmware ops (store_impl.h) */
vouch_store_rc sq_fwkey_insert(vouch_store *s, const vouch_store_fwkey *in, const char *actor,
                               int64_t *id, char *err, size_t n);
vouch_store_rc sq_fwkey_set_status(vouch_store *s, int64_t account_id, const char *name,
                                   vouch_fwkey_status st, const char *actor, char *err, size_t n);
vouch_store_rc sq_fwkey_list(vouch_store *s, int64_t account_id, vouch_store_fwkey_cb cb,
                             void *ctx, char *err, size_t n);
vouch_store_rc sq_release_insert(vouch_store *s, const vouch_store_release *in,
                                 const uint8_t *image, size_t len, const char *actor, int64_t *id,
                                 char *err, size_t n);
vouch_store_rc sq_release_get(vouch_store *s, int64_t id, vouch_store_release *out, char *err,
                              size_t n);
vouch_store_rc sq_release_list(vouch_store *s, int64_t account_id, vouch_store_release_cb cb,
                               void *ctx, char *err, size_t n);
vouch_store_rc sq_release_read(vouch_store *s, int64_t id, uint64_t offset, uint8_t *buf,
                               size_t len, char *err, size_t n);
vouch_store_rc sq_campaign_create(vouch_store *s, const vouch_store_campaign *in,
                                  const int64_t *device_rows, size_t count, const char *actor,
                                  int64_t *id, char *err, size_t n);
vouch_store_rc sq_campaign_get(vouch_store *s, int64_t id, vouch_store_campaign *out, char *err,
                               size_t n);
vouch_store_rc sq_campaign_list(vouch_store *s, int64_t account_id, vouch_store_campaign_cb cb,
                                void *ctx, char *err, size_t n);
vouch_store_rc sq_campaign_set_status(vouch_store *s, int64_t id, vouch_campaign_status st,
                                      const char *actor, char *err, size_t n);
vouch_store_rc sq_campaign_devices(vouch_store *s, int64_t id, vouch_store_campaign_device_cb cb,
                                   void *ctx, char *err, size_t n);
vouch_store_rc sq_update_find(vouch_store *s, const vouch_store_update_query *q,
                              vouch_store_campaign *c, vouch_store_release *r, char *err,
                              size_t n);
vouch_store_rc sq_update_targets(vouch_store *s, const vouch_store_update_query *q,
                                 int64_t release_id, int64_t campaign_id, int *yes, char *err,
                                 size_t n);
vouch_store_rc sq_update_report(vouch_store *s, int64_t campaign_id, int64_t device_row,
                                vouch_update_state st, const char *detail, char *err, size_t n);
vouch_store_rc sq_device_fw_report(vouch_store *s, int64_t device_row, const char *version,
                                   uint32_t sec_cnt, char *err, size_t n);

/* The first column (an integer) of the row `sql` finds for the bound id:
 * 1 with *v, 0 when there is no such row, -1 with *r set on a database
 * error (sqlite_fleet.c). */
int sq_lookup_int(sq_store *q, const char *sql, int64_t id, const char *what, int64_t *v,
                  vouch_store_rc *r, char *err, size_t n);
/* 0 when the account exists; -1 with *r set (E_NOT_FOUND, or a database
 * error) when not. */
int sq_need_account(sq_store *q, int64_t id, vouch_store_rc *r, char *err, size_t n);

#endif
