/*
 * The SQLite backend of the store. One connection per vouch_store; every
 * statement is prepared once per connection (SQLITE_PREPARE_PERSISTENT) and
 * kept in a small cache keyed by its SQL text. Queries name their index with
 * INDEXED BY, so the plan cannot drift into a table scan when statistics
 * change (and SQLite refuses to prepare a query the index cannot serve).
 */
#include "store/store_impl.h"
#include "store/store_sqlite.h"
#include "store/sqlite_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#define APP_ID 0x766f7563 /* "vouc" in the database header */

/* ---- errors ------------------------------------------------------------- */

static vouch_store_rc map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return VOUCH_STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return VOUCH_STORE_E_BUSY;
    case SQLITE_NOMEM: return VOUCH_STORE_E_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return VOUCH_STORE_E_CORRUPT;
    case SQLITE_FULL: return VOUCH_STORE_E_FULL;
    case SQLITE_READONLY: return VOUCH_STORE_E_READONLY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH: return VOUCH_STORE_E_IO;
    default: return VOUCH_STORE_E_INTERNAL;
    }
}

vouch_store_rc sq_dberr(sq_store *q, int rc, const char *what, char *err, size_t n)
{
    FAIL(map_rc(rc) == VOUCH_STORE_OK ? VOUCH_STORE_E_INTERNAL : map_rc(rc), "%s: %s", what,
         q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
}

/* ---- statement cache ---------------------------------------------------- */

static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

int sq_prep(sq_store *q, const char *sql, sqlite3_stmt **out)
{
    uint64_t h = sql_hash(sql);
    for (size_t i = 0; i < q->ncache; i++) {
        if (q->cache[i].hash == h && strcmp(q->cache[i].sql, sql) == 0) {
            *out = q->cache[i].st;
            sqlite3_reset(*out);
            sqlite3_clear_bindings(*out);
            return SQLITE_OK;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    size_t slot = q->ncache;
    if (slot == STMT_CACHE) { /* full: replace an idle one */
        for (slot = 0; slot < STMT_CACHE && sqlite3_stmt_busy(q->cache[slot].st); slot++)
            ;
        if (slot == STMT_CACHE) {
            sqlite3_finalize(st);
            return SQLITE_NOMEM;
        }
        sqlite3_finalize(q->cache[slot].st);
        free(q->cache[slot].sql);
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return SQLITE_NOMEM;
    }
    q->cache[slot].sql = copy;
    q->cache[slot].hash = h;
    q->cache[slot].st = st;
    if (slot == q->ncache)
        q->ncache++;
    *out = st;
    return SQLITE_OK;
}

void sq_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Run a statement that returns no rows. */
vouch_store_rc sq_exec1(sq_store *q, const char *sql, char *err, size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, sql, err, n);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    vouch_store_rc r = rc == SQLITE_DONE ? VOUCH_STORE_OK : sq_dberr(q, rc, sql, err, n);
    sq_done(st);
    return r;
}

/* ---- write transactions --------------------------------------------------- */

/* Every write runs between wbegin and wend: its own IMMEDIATE transaction
 * (the write lock is taken up front, so two writers never deadlock on a lock
 * upgrade), or a savepoint inside the caller's group. */
vouch_store_rc sq_wbegin(sq_store *q, char *err, size_t n)
{
    if (q->in_group)
        q->gc_sp = q->gc; /* restored if this write is rolled back */
    return sq_exec1(q, q->in_group ? "SAVEPOINT w" : "BEGIN IMMEDIATE", err, n);
}

vouch_store_rc sq_wend(sq_store *q, vouch_store_rc rc, char *err, size_t n)
{
    if (q->in_group && sqlite3_get_autocommit(q->db)) {
        /* SQLite rolled the whole group back on a hard error (I/O, full). */
        q->in_group = 0;
        memset(&q->gc, 0, sizeof q->gc);
        if (rc == VOUCH_STORE_OK)
            rc = vouch_store_fail(err, n, VOUCH_STORE_E_IO, "transaction was rolled back");
        return rc;
    }
    if (rc == VOUCH_STORE_OK) {
        rc = sq_exec1(q, q->in_group ? "RELEASE w" : "COMMIT", err, n);
        if (rc == VOUCH_STORE_OK)
            return rc;
    }
    char ignore[8];
    if (q->in_group) {
        (void)sq_exec1(q, "ROLLBACK TO w", ignore, sizeof ignore);
        (void)sq_exec1(q, "RELEASE w", ignore, sizeof ignore);
        q->gc = q->gc_sp;
    } else if (!sqlite3_get_autocommit(q->db)) {
        (void)sq_exec1(q, "ROLLBACK", ignore, sizeof ignore);
    }
    return rc;
}

/* Certificate inserts and revocations, the writes of the server's hot path,
 * skip the savepoint inside a group (two statements each fewer). What can
 * refuse such a write for a reason the caller must hear (a duplicate
 * serial, an unknown issuer or certificate, a double revocation) refuses it
 * at or before its first change, and a statement that fails changes
 * nothing, so there is nothing to undo. A failure after the first change
 * (no memory, a damaged audit head) cannot be undone alone: it breaks the
 * group, and sq_commit then rolls the whole group back and says why, so
 * every write of it fails and nothing of it is stored. Outside a group
 * these are wbegin and wend. */
static vouch_store_rc lbegin(sq_store *q, char *err, size_t n)
{
    if (!q->in_group)
        return sq_wbegin(q, err, n);
    if (q->gc.broken != VOUCH_STORE_OK)
        FAIL(q->gc.broken, "an earlier write of this group failed: %s", q->gc.broken_err);
    q->gc_sp = q->gc;
    return VOUCH_STORE_OK;
}

/* changed: the write's first change is made (it cannot be undone alone) */
static vouch_store_rc lend(sq_store *q, vouch_store_rc rc, int changed, char *err, size_t n)
{
    if (!q->in_group)
        return sq_wend(q, rc, err, n);
    if (sqlite3_get_autocommit(q->db)) {
        q->in_group = 0;
        memset(&q->gc, 0, sizeof q->gc);
        if (rc == VOUCH_STORE_OK)
            rc = vouch_store_fail(err, n, VOUCH_STORE_E_IO, "transaction was rolled back");
        return rc;
    }
    if (rc == VOUCH_STORE_OK)
        return rc;
    if (!changed) {
        q->gc = q->gc_sp;
        return rc;
    }
    q->gc.broken = rc;
    snprintf(q->gc.broken_err, sizeof q->gc.broken_err, "%s",
             err && n && *err ? err : vouch_store_strerror(rc));
    return rc;
}

static vouch_store_rc sq_begin(vouch_store *s, char *err, size_t n)
{
    sq_store *q = Q(s);
    if (q->in_group)
        FAIL(VOUCH_STORE_E_TXN, "a transaction is already open");
    vouch_store_rc rc = sq_exec1(q, "BEGIN IMMEDIATE", err, n);
    memset(&q->gc, 0, sizeof q->gc);
    if (rc == VOUCH_STORE_OK)
        q->in_group = 1;
    return rc;
}

static vouch_store_rc head_write(sq_store *q, int64_t seq, const uint8_t hash[32], char *err,
                                 size_t n);

static vouch_store_rc sq_commit(vouch_store *s, char *err, size_t n)
{
    sq_store *q = Q(s);
    if (!q->in_group)
        FAIL(VOUCH_STORE_E_TXN, "no transaction is open");
    q->in_group = 0;
    group_cache gc = q->gc;
    memset(&q->gc, 0, sizeof q->gc);
    if (sqlite3_get_autocommit(q->db))
        FAIL(VOUCH_STORE_E_IO, "the transaction was rolled back by an earlier error");
    if (gc.broken != VOUCH_STORE_OK) {
        char ignore[8];
        (void)sq_exec1(q, "ROLLBACK", ignore, sizeof ignore);
        FAIL(gc.broken, "group rolled back, a write of it failed halfway: %s", gc.broken_err);
    }
    /* the audit head the group's entries moved, in the same transaction */
    vouch_store_rc rc = gc.head_dirty ? head_write(q, gc.head_seq, gc.head_hash, err, n)
                                      : VOUCH_STORE_OK;
    if (rc == VOUCH_STORE_OK)
        rc = sq_exec1(q, "COMMIT", err, n);
    if (rc != VOUCH_STORE_OK && !sqlite3_get_autocommit(q->db)) {
        char ignore[8];
        (void)sq_exec1(q, "ROLLBACK", ignore, sizeof ignore);
    }
    return rc;
}

static vouch_store_rc sq_rollback(vouch_store *s, char *err, size_t n)
{
    sq_store *q = Q(s);
    if (!q->in_group)
        FAIL(VOUCH_STORE_E_TXN, "no transaction is open");
    q->in_group = 0;
    memset(&q->gc, 0, sizeof q->gc);
    if (sqlite3_get_autocommit(q->db))
        return VOUCH_STORE_OK;
    return sq_exec1(q, "ROLLBACK", err, n);
}

/* ---- audit (inside a write transaction) ------------------------------------ */

static vouch_store_rc audit_add(sq_store *q, int64_t now, const char *actor, const char *action,
                                const char *subject, const char *details, int64_t *seq_out,
                                char *err, size_t n)
{
    sqlite3_stmt *st;
    int rc;
    int64_t seq;
    uint8_t prev[32], hash[32];
    if (q->in_group && q->gc.head_valid) {
        seq = q->gc.head_seq + 1;
        memcpy(prev, q->gc.head_hash, 32);
    } else {
        rc = sq_prep(q, "SELECT seq, hash FROM audit_head WHERE id = 1", &st);
        if (rc != SQLITE_OK)
            return sq_dberr(q, rc, "audit head", err, n);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || sqlite3_column_bytes(st, 1) != 32) {
            vouch_store_rc r = rc == SQLITE_ROW || rc == SQLITE_DONE
                                   ? vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT,
                                                      "audit head record is missing or damaged")
                                   : sq_dberr(q, rc, "audit head", err, n);
            sq_done(st);
            return r;
        }
        seq = sqlite3_column_int64(st, 0) + 1;
        memcpy(prev, sqlite3_column_blob(st, 1), 32);
        sq_done(st);
    }
    if (vouch_store_audit_hash(seq, now, actor, action, subject, details, prev, hash) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "audit hash failed");

    rc = sq_prep(q,
              "INSERT INTO audit_log(seq, time, actor, action, subject, details, prev_hash, hash) "
              "VALUES(?,?,?,?,?,?,?,?)",
              &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "audit insert", err, n);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, details, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, prev, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, hash, 32, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_dberr(q, rc, "audit insert", err, n);
    if (q->in_group) {
        /* written once for the whole group, by sq_commit */
        q->gc.head_valid = q->gc.head_dirty = 1;
        q->gc.head_seq = seq;
        memcpy(q->gc.head_hash, hash, 32);
    } else {
        vouch_store_rc r = head_write(q, seq, hash, err, n);
        if (r != VOUCH_STORE_OK)
            return r;
    }
    if (seq_out)
        *seq_out = seq;
    return VOUCH_STORE_OK;
}

static vouch_store_rc head_write(sq_store *q, int64_t seq, const uint8_t hash[32], char *err,
                                 size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "audit head update", err, n);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sq_done(st);
    return rc == SQLITE_DONE ? VOUCH_STORE_OK : sq_dberr(q, rc, "audit head update", err, n);
}

/* JSON details from a jansson object (consumed); compact, sorted keys. */
vouch_store_rc sq_audit_addj(sq_store *q, int64_t now, const char *actor, const char *action,
                                 const char *subject, json_t *details, char *err, size_t n)
{
    char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(details);
    if (!text)
        FAIL(VOUCH_STORE_E_NOMEM, "cannot build audit details");
    vouch_store_rc rc = audit_add(q, now, actor, action, subject, text, NULL, err, n);
    free(text);
    return rc;
}

/* The details of the two hot writes (cert.issue, cert.revoke), written
 * straight into a buffer byte for byte as json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS) writes them: keys in sorted order, no spaces. A string
 * that holds anything but printable ASCII other than '"' and '\\' (which
 * would need escaping), or a buffer too small, makes the result 0: the
 * caller then builds the details with jansson. test_store compares both. */
typedef struct jbuf {
    char *p, *end;
    int ok, first;
} jbuf;

static void jb_raw(jbuf *b, const char *s, size_t len)
{
    if (!b->ok || (size_t)(b->end - b->p) <= len) {
        b->ok = 0;
        return;
    }
    memcpy(b->p, s, len);
    b->p += len;
    *b->p = '\0';
}

static void jb_key(jbuf *b, const char *key) /* key: a plain literal */
{
    if (!b->first)
        jb_raw(b, ",", 1);
    b->first = 0;
    jb_raw(b, "\"", 1);
    jb_raw(b, key, strlen(key));
    jb_raw(b, "\":", 2);
}

static void jb_str(jbuf *b, const char *key, const char *v) /* NULL: null */
{
    jb_key(b, key);
    if (!v) {
        jb_raw(b, "null", 4);
        return;
    }
    size_t len = 0;
    for (; v[len]; len++)
        if ((unsigned char)v[len] < 0x20 || (unsigned char)v[len] > 0x7e || v[len] == '"' ||
            v[len] == '\\')
            b->ok = 0;
    jb_raw(b, "\"", 1);
    jb_raw(b, v, len);
    jb_raw(b, "\"", 1);
}

static void jb_int(jbuf *b, const char *key, int64_t v)
{
    char num[24];
    int len = snprintf(num, sizeof num, "%" PRId64, v);
    jb_key(b, key);
    jb_raw(b, num, (size_t)len);
}

/* details of cert.issue: 1 when buf holds them, 0 to use jansson */
static int issue_details(char *buf, size_t size, int64_t id, const vouch_store_cert *in,
                         const char *hex, const char *fp)
{
    jbuf b = {buf, buf + size, 1, 1};
    jb_raw(&b, "{", 1);
    jb_str(&b, "device_id", in->device_id);
    jb_int(&b, "id", id);
    jb_int(&b, "issuer_id", in->issuer_id);
    jb_int(&b, "not_after", in->not_after);
    jb_int(&b, "renewed_from", in->renewed_from);
    jb_str(&b, "serial", hex);
    jb_str(&b, "sha256", fp);
    jb_str(&b, "template", in->template_name);
    jb_raw(&b, "}", 1);
    return b.ok;
}

static vouch_store_rc sq_audit_append(vouch_store *s, const char *actor, const char *action,
                                      const char *subject, const char *details, int64_t *seq,
                                      char *err, size_t n)
{
    sq_store *q = Q(s);
    vouch_store_rc rc = sq_wbegin(q, err, n);
    if (rc != VOUCH_STORE_OK)
        return rc;
    rc = audit_add(q, vouch_store_now(s), actor, action, subject, details, seq, err, n);
    return sq_wend(q, rc, err, n);
}

static vouch_store_rc sq_audit_list(vouch_store *s, int64_t after, unsigned limit,
                                    vouch_store_audit_cb cb, void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                  "SELECT seq, time, actor, action, subject, details, prev_hash, hash "
                  "FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                  &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "audit list", err, n);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_audit_entry e;
        memset(&e, 0, sizeof e);
        e.seq = sqlite3_column_int64(st, 0);
        e.time = sqlite3_column_int64(st, 1);
        e.actor = (const char *)sqlite3_column_text(st, 2);
        e.action = (const char *)sqlite3_column_text(st, 3);
        e.subject = (const char *)sqlite3_column_text(st, 4);
        e.details = (const char *)sqlite3_column_text(st, 5);
        if (sqlite3_column_bytes(st, 6) == 32)
            memcpy(e.prev_hash, sqlite3_column_blob(st, 6), 32);
        if (sqlite3_column_bytes(st, 7) == 32)
            memcpy(e.hash, sqlite3_column_blob(st, 7), 32);
        if (cb(ctx, &e) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "audit list", err, n);
    sq_done(st);
    return r;
}

static const char *problem_words(vouch_audit_problem p)
{
    switch (p) {
    case VOUCH_AUDIT_CHANGED: return "changed (hash does not match its content)";
    case VOUCH_AUDIT_REMOVED: return "missing (removed)";
    case VOUCH_AUDIT_RELINKED: return "not linked to the entry before it (replaced or reordered)";
    case VOUCH_AUDIT_TRUNCATED: return "missing at the end (the log was truncated)";
    default: return "intact";
    }
}

static vouch_store_rc sq_audit_verify(vouch_store *s, vouch_store_audit_report *rep, char *err,
                                      size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    /* One read transaction so the head and the chain are one snapshot. */
    int own_txn = sqlite3_get_autocommit(q->db);
    if (own_txn) {
        vouch_store_rc r0 = sq_exec1(q, "BEGIN", err, n);
        if (r0 != VOUCH_STORE_OK)
            return r0;
    }
    int rc = sq_prep(q,
                  "SELECT seq, time, actor, action, subject, details, prev_hash, hash "
                  "FROM audit_log ORDER BY seq",
                  &st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "audit verify", err, n);
        goto out;
    }
    uint8_t prev[32] = {0};
    int64_t expect = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *actor = (const char *)sqlite3_column_text(st, 2);
        const char *action = (const char *)sqlite3_column_text(st, 3);
        const char *subject = (const char *)sqlite3_column_text(st, 4);
        const char *details = (const char *)sqlite3_column_text(st, 5);
        const void *ph = sqlite3_column_blob(st, 6);
        int phl = sqlite3_column_bytes(st, 6);
        const void *h = sqlite3_column_blob(st, 7);
        int hl = sqlite3_column_bytes(st, 7);
        uint8_t calc[32];
        if (seq != expect) {
            rep->problem = VOUCH_AUDIT_REMOVED;
            rep->bad_seq = expect;
            break;
        }
        if (phl != 32 || hl != 32 ||
            vouch_store_audit_hash(seq, sqlite3_column_int64(st, 1), actor, action, subject,
                                   details, ph, calc) != 0 ||
            CRYPTO_memcmp(calc, h, 32) != 0) {
            rep->problem = VOUCH_AUDIT_CHANGED;
            rep->bad_seq = seq;
            break;
        }
        if (CRYPTO_memcmp(ph, prev, 32) != 0) {
            rep->problem = VOUCH_AUDIT_RELINKED;
            rep->bad_seq = seq;
            break;
        }
        memcpy(prev, h, 32);
        rep->entries++;
        rep->head_seq = seq;
        expect = seq + 1;
    }
    if (rep->problem == VOUCH_AUDIT_INTACT && rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "audit verify", err, n);
        sq_done(st);
        goto out;
    }
    sq_done(st);
    memcpy(rep->head_hash, prev, 32);
    if (rep->problem == VOUCH_AUDIT_INTACT) {
        /* The head record is written with every entry; a log cut short
         * after its last entry still disagrees with it. */
        rc = sq_prep(q, "SELECT seq, hash FROM audit_head WHERE id = 1", &st);
        if (rc != SQLITE_OK) {
            r = sq_dberr(q, rc, "audit head", err, n);
            goto out;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || sqlite3_column_int64(st, 0) != rep->head_seq ||
            sqlite3_column_bytes(st, 1) != 32 ||
            CRYPTO_memcmp(sqlite3_column_blob(st, 1), prev, 32) != 0) {
            rep->problem = VOUCH_AUDIT_TRUNCATED;
            rep->bad_seq = rep->head_seq + 1;
        }
        sq_done(st);
    }
    if (rep->problem != VOUCH_AUDIT_INTACT)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_AUDIT_BROKEN,
                             "audit entry %" PRId64 " is %s; %" PRIu64 " entries before it verify",
                             rep->bad_seq, problem_words(rep->problem), rep->entries);
out:
    if (own_txn && !sqlite3_get_autocommit(q->db)) {
        char ignore[8];
        (void)sq_exec1(q, "COMMIT", ignore, sizeof ignore);
    }
    return r;
}

/* ---- schema ----------------------------------------------------------------- */

/* migrations[i] takes the schema from version i to i + 1. Never edit a
 * released entry: add a new one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE issuers("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " kind INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),"
    " parent_id INTEGER REFERENCES issuers(id),"
    " cert_der BLOB NOT NULL,"
    " key_pem TEXT,"
    " key_ref TEXT,"
    " crl_number INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " CHECK ((key_pem IS NULL) <> (key_ref IS NULL)));"
    "CREATE TABLE templates("
    " name TEXT PRIMARY KEY,"
    " body TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE certificates("
    " id INTEGER PRIMARY KEY,"
    " issuer_id INTEGER NOT NULL REFERENCES issuers(id),"
    " serial BLOB NOT NULL,"
    " subject TEXT NOT NULL,"
    " device_id TEXT,"
    " template TEXT,"
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " issued_at INTEGER NOT NULL,"
    " revoked_at INTEGER,"
    " reason INTEGER,"
    " der BLOB NOT NULL,"
    " sha256 BLOB NOT NULL,"
    " renewed_from INTEGER REFERENCES certificates(id),"
    " seq INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX cert_issuer_serial ON certificates(issuer_id, serial);"
    "CREATE INDEX cert_issuer ON certificates(issuer_id);"
    "CREATE INDEX cert_status_exp ON certificates(status, not_after);"
    "CREATE INDEX cert_template ON certificates(template) WHERE template IS NOT NULL;"
    "CREATE INDEX cert_issued ON certificates(issued_at);"
    "CREATE INDEX cert_revoked ON certificates(revoked_at) WHERE revoked_at IS NOT NULL;"
    "CREATE INDEX cert_device ON certificates(device_id) WHERE device_id IS NOT NULL;"
    "CREATE UNIQUE INDEX cert_seq ON certificates(seq);"
    "CREATE INDEX cert_sha256 ON certificates(sha256);"
    "CREATE INDEX cert_renewed_from ON certificates(renewed_from)"
    " WHERE renewed_from IS NOT NULL;"
    "CREATE INDEX cert_crl ON certificates(issuer_id, serial, revoked_at, reason, status)"
    " WHERE status = 2;"
    "CREATE TABLE cert_counts("
    " template TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " n INTEGER NOT NULL,"
    " PRIMARY KEY (template, status)) WITHOUT ROWID;"
    "CREATE TABLE api_tokens("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " hash BLOB NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE audit_log("
    " seq INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " details TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE TABLE audit_head("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " seq INTEGER NOT NULL,"
    " hash BLOB NOT NULL);"
    "INSERT INTO audit_head VALUES (1, 0, zeroblob(32));"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",
    /* 1 -> 2: accounts, device families, devices (sqlite_fleet.c) */
    "CREATE TABLE accounts("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE families("
    " id INTEGER PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " cert_der BLOB NOT NULL,"
    " sha256 BLOB NOT NULL UNIQUE,"
    " subject TEXT NOT NULL,"
    " ours INTEGER NOT NULL CHECK (ours IN (0, 1)),"
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"
    " verify_code TEXT,"
    " code_expires INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " verified_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX family_account ON families(account_id);"
    "CREATE TABLE devices("
    " id INTEGER PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " device_id TEXT NOT NULL,"
    " family_id INTEGER REFERENCES families(id),"
    " cert_der BLOB,"
    " cert_sha256 BLOB,"
    " status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),"
    " created_at INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL DEFAULT 0,"
    " CHECK ((cert_der IS NULL) = (cert_sha256 IS NULL)));"
    "CREATE UNIQUE INDEX device_account_id ON devices(account_id, device_id);"
    "CREATE UNIQUE INDEX device_cert ON devices(cert_sha256) WHERE cert_sha256 IS NOT NULL;"
    "CREATE INDEX device_family ON devices(family_id) WHERE family_id IS NOT NULL;",
    /* 2 -> 3: firmware keys, releases, campaigns (sqlite_fw.c) */
    "CREATE TABLE fw_keys("
    " id INTEGER PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " name TEXT NOT NULL,"
    " alg INTEGER NOT NULL CHECK (alg IN (1, 2)),"
    " pub BLOB NOT NULL,"
    " keyhash BLOB NOT NULL,"
    " status INTEGER NOT NULL CHECK (status IN (1, 2)),"
    " created_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX fw_key_name ON fw_keys(account_id, name);"
    "CREATE UNIQUE INDEX fw_key_hash ON fw_keys(account_id, keyhash);"
    "CREATE TABLE releases("
    " id INTEGER PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " version TEXT NOT NULL,"
    " ver_major INTEGER NOT NULL,"
    " ver_minor INTEGER NOT NULL,"
    " ver_revision INTEGER NOT NULL,"
    " ver_build INTEGER NOT NULL,"
    " sec_cnt INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " sha256 BLOB NOT NULL,"
    " keyhash BLOB NOT NULL,"
    " vid BLOB,"
    " cid BLOB,"
    " created_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX release_hash ON releases(account_id, sha256);"
    /* the bytes apart, so that reading a release's row never touches them */
    "CREATE TABLE release_images("
    " id INTEGER PRIMARY KEY REFERENCES releases(id),"
    " image BLOB NOT NULL);"
    "CREATE TABLE campaigns("
    " id INTEGER PRIMARY KEY,"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " release_id INTEGER NOT NULL REFERENCES releases(id),"
    " target INTEGER NOT NULL CHECK (target IN (1, 2, 3)),"
    " family_id INTEGER REFERENCES families(id),"
    " status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " CHECK ((target = 2) = (family_id IS NOT NULL)));"
    "CREATE INDEX campaign_account ON campaigns(account_id, status);"
    "CREATE INDEX campaign_release ON campaigns(release_id);"
    "CREATE TABLE campaign_targets("
    " campaign_id INTEGER NOT NULL REFERENCES campaigns(id),"
    " device INTEGER NOT NULL REFERENCES devices(id),"
    " PRIMARY KEY (campaign_id, device)) WITHOUT ROWID;"
    "CREATE TABLE campaign_devices("
    " campaign_id INTEGER NOT NULL REFERENCES campaigns(id),"
    " device INTEGER NOT NULL REFERENCES devices(id),"
    " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 7),"
    " detail TEXT NOT NULL DEFAULT '',"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (campaign_id, device)) WITHOUT ROWID;"
    "CREATE TABLE device_firmware("
    " device INTEGER PRIMARY KEY REFERENCES devices(id),"
    " version TEXT NOT NULL,"
    " sec_cnt INTEGER NOT NULL,"
    " reported_at INTEGER NOT NULL);",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == VOUCH_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int single_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_NOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

static vouch_store_rc migrate(sq_store *q, const char *path, char *err, size_t n)
{
    sqlite3 *db = q->db;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "start schema migration", err, n);
    vouch_store_rc r = VOUCH_STORE_OK;
    int64_t has_table = 0, objects = 0, app = 0, version = 0;
    if ((rc = single_int(db,
                         "SELECT count(*) FROM sqlite_schema "
                         "WHERE type = 'table' AND name = 'schema_version'",
                         &has_table)) != SQLITE_OK ||
        (rc = single_int(db, "SELECT count(*) FROM sqlite_schema", &objects)) != SQLITE_OK ||
        (rc = single_int(db, "PRAGMA application_id", &app)) != SQLITE_OK) {
        r = sq_dberr(q, rc, path, err, n);
        goto out;
    }
    if (app != 0 && app != APP_ID) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT,
                             "%s: a database of another application (id 0x%08" PRIx64 ")", path,
                             (uint64_t)app);
        goto out;
    }
    if (!has_table) {
        if (objects != 0 || app != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT,
                                 "%s: a SQLite database but not a vouch one (no schema_version)",
                                 path);
            goto out;
        }
        char sql[128];
        snprintf(sql, sizeof sql,
                 "CREATE TABLE schema_version(version INTEGER NOT NULL);"
                 "INSERT INTO schema_version VALUES (0);"
                 "PRAGMA application_id = %d;",
                 APP_ID);
        if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
            r = sq_dberr(q, rc, "create schema", err, n);
            goto out;
        }
    }
    if ((rc = single_int(db, "SELECT version FROM schema_version", &version)) != SQLITE_OK) {
        r = rc == SQLITE_NOTFOUND
                ? vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT, "%s: schema_version is empty",
                                   path)
                : sq_dberr(q, rc, path, err, n);
        goto out;
    }
    if (version > VOUCH_STORE_SCHEMA_VERSION) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_SCHEMA_NEWER,
                             "%s: schema version %" PRId64
                             " is newer than this vouch understands (%d); use a newer vouch",
                             path, version, VOUCH_STORE_SCHEMA_VERSION);
        goto out;
    }
    if (version < 0) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT, "%s: schema version %" PRId64, path,
                             version);
        goto out;
    }
    for (int64_t v = version; v < VOUCH_STORE_SCHEMA_VERSION; v++) {
        char *msg = NULL;
        rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            r = vouch_store_fail(err, n, map_rc(rc), "%s: migration to schema %" PRId64 ": %s",
                                 path, v + 1, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            goto out;
        }
    }
    if (version < VOUCH_STORE_SCHEMA_VERSION) {
        char sql[80];
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d",
                 VOUCH_STORE_SCHEMA_VERSION);
        if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
            r = sq_dberr(q, rc, "record schema version", err, n);
            goto out;
        }
    }
out:
    if (r == VOUCH_STORE_OK) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            r = sq_dberr(q, rc, "commit schema migration", err, n);
    }
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static vouch_store_rc sq_schema_version(vouch_store *s, int *v, char *err, size_t n)
{
    int64_t x = 0;
    int rc = single_int(Q(s)->db, "SELECT version FROM schema_version", &x);
    if (rc != SQLITE_OK)
        return sq_dberr(Q(s), rc, "schema version", err, n);
    *v = (int)x;
    return VOUCH_STORE_OK;
}

static vouch_store_rc sq_check_integrity(vouch_store *s, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(q->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "integrity check", err, n);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc != SQLITE_ROW) {
        r = sq_dberr(q, rc, "integrity check", err, n);
    } else {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok") != 0)
            r = vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT, "integrity check: %s",
                                 res ? res : "(no answer)");
    }
    sqlite3_finalize(st);
    if (r == VOUCH_STORE_OK) {
        rc = sqlite3_prepare_v2(q->db, "PRAGMA foreign_key_check", -1, &st, NULL);
        if (rc != SQLITE_OK)
            return sq_dberr(q, rc, "foreign key check", err, n);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            r = vouch_store_fail(err, n, VOUCH_STORE_E_CORRUPT,
                                 "foreign key check: table %s row %lld points nowhere",
                                 (const char *)sqlite3_column_text(st, 0),
                                 (long long)sqlite3_column_int64(st, 1));
        else if (rc != SQLITE_DONE)
            r = sq_dberr(q, rc, "foreign key check", err, n);
        sqlite3_finalize(st);
    }
    return r;
}

/* ---- open / close ------------------------------------------------------------- */

static const vouch_store_ops sq_ops;

static void sq_close(vouch_store *s)
{
    sq_store *q = Q(s);
    if (q->in_group && !sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; i < q->ncache; i++) {
        sqlite3_finalize(q->cache[i].st);
        free(q->cache[i].sql);
    }
    sqlite3_close(q->db);
    free(q);
}


/* SQLite keeps allocation statistics under a global mutex, taken on every
 * malloc and free it makes; nothing here reads them, and without them an
 * insert costs about 15 % less (docs/perf.md). This must come before
 * SQLite initializes; if something in the process initialized it already,
 * sqlite3_config refuses and nothing changes. */
static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

static void sq_global_init(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

vouch_store_rc vouch_store_open_sqlite(const char *path, vouch_store **out, char *err,
                                       size_t n)
{
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    *out = NULL;
    if (!path || !*path)
        FAIL(VOUCH_STORE_E_ARG, "database path is missing");
    (void)pthread_once(&sq_once, sq_global_init);
    sq_store *q = calloc(1, sizeof *q);
    if (!q)
        FAIL(VOUCH_STORE_E_NOMEM, "out of memory");
    q->base.ops = &sq_ops;
    vouch_store_rc r = VOUCH_STORE_OK;
    int rc = sqlite3_open_v2(path, &q->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        r = vouch_store_fail(err, n, map_rc(rc), "%s: cannot open: %s", path,
                             q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, 5000);
    /* The first read of the header: a file that is not a database fails here. */
    int64_t app = 0;
    rc = single_int(q->db, "PRAGMA application_id", &app);
    if (rc != SQLITE_OK) {
        r = vouch_store_fail(err, n, map_rc(rc) == VOUCH_STORE_OK ? VOUCH_STORE_E_INTERNAL
                                                                  : map_rc(rc),
                             "%s: %s", path, sqlite3_errmsg(q->db));
        goto fail;
    }
    char *msg = NULL;
    rc = sqlite3_exec(q->db,
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA trusted_schema = OFF;"
                      "PRAGMA synchronous = FULL;"
                      /* random serials and fingerprints touch index pages all
                       * over; keep them in memory (64 MiB per connection) */
                      "PRAGMA cache_size = -65536;"
                      "PRAGMA temp_store = MEMORY;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        r = vouch_store_fail(err, n, map_rc(rc), "%s: %s", path, msg ? msg : "pragma failed");
        sqlite3_free(msg);
        goto fail;
    }
    {
        sqlite3_stmt *st;
        rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (!mode || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
                r = vouch_store_fail(err, n, VOUCH_STORE_E_IO,
                                     "%s: cannot switch to WAL (journal mode is %s)", path,
                                     mode ? mode : "?");
            }
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK)
            r = vouch_store_fail(err, n, map_rc(rc), "%s: journal mode: %s", path,
                                 sqlite3_errmsg(q->db));
        sqlite3_finalize(st);
        if (r != VOUCH_STORE_OK)
            goto fail;
    }
    r = migrate(q, path, err, n);
    if (r != VOUCH_STORE_OK)
        goto fail;
    *out = &q->base;
    return VOUCH_STORE_OK;
fail:
    sqlite3_close(q->db);
    free(q);
    return r;
}

/* ---- issuers --------------------------------------------------------------------- */

static vouch_store_rc exists(sq_store *q, const char *sql, int64_t id, int *yes, char *err,
                             size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, sql, err, n);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sq_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_dberr(q, rc, sql, err, n);
    return VOUCH_STORE_OK;
}

static vouch_store_rc sq_issuer_insert(vouch_store *s, const vouch_store_issuer *in,
                                       const char *actor, int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int yes = 0, rc;
    if (in->parent_id) {
        r = exists(q, "SELECT 1 FROM issuers WHERE id = ?", in->parent_id, &yes, err, n);
        if (r == VOUCH_STORE_OK && !yes)
            r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_ISSUER,
                                 "parent issuer %" PRId64 " does not exist", in->parent_id);
        if (r != VOUCH_STORE_OK)
            goto out;
    }
    rc = sq_prep(q,
              "INSERT INTO issuers(name, kind, parent_id, cert_der, key_pem, key_ref, created_at)"
              " VALUES(?,?,?,?,?,?,?)",
              &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "issuer insert", err, n);
        goto out;
    }
    sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)in->kind);
    if (in->parent_id)
        sqlite3_bind_int64(st, 3, in->parent_id);
    sqlite3_bind_blob(st, 4, in->cert_der, (int)in->cert_der_len, SQLITE_STATIC);
    if (in->key_pem && *in->key_pem)
        sqlite3_bind_text(st, 5, in->key_pem, -1, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 6, in->key_ref, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS, "issuer \"%s\" already exists",
                             in->name);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "issuer insert", err, n);
        goto out;
    }
    int64_t new_id = sqlite3_last_insert_rowid(q->db);
    static const char *const kinds[] = {"", "root", "issuing", "family"};
    char subj[64];
    snprintf(subj, sizeof subj, "issuer=%" PRId64, new_id);
    r = sq_audit_addj(q, now, actor, "issuer.create", subj,
                   json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)new_id, "name", in->name,
                             "kind", kinds[in->kind], "key",
                             in->key_ref && *in->key_ref ? in->key_ref : "encrypted-pem"),
                   err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = new_id;
out:
    return sq_wend(q, r, err, n);
}

#define ISSUER_COLS "id, name, kind, parent_id, cert_der, key_pem, key_ref, crl_number, created_at"

static void issuer_view(sqlite3_stmt *st, vouch_store_issuer *is)
{
    memset(is, 0, sizeof *is);
    is->id = sqlite3_column_int64(st, 0);
    is->name = (char *)sqlite3_column_text(st, 1);
    is->kind = (vouch_issuer_kind)sqlite3_column_int(st, 2);
    is->parent_id = sqlite3_column_int64(st, 3);
    is->cert_der = (uint8_t *)sqlite3_column_blob(st, 4);
    is->cert_der_len = (size_t)sqlite3_column_bytes(st, 4);
    is->key_pem = (char *)sqlite3_column_text(st, 5);
    is->key_ref = (char *)sqlite3_column_text(st, 6);
    is->crl_number = sqlite3_column_int64(st, 7);
    is->created_at = sqlite3_column_int64(st, 8);
}

/* Copy strings and blobs of a view into one allocation. */
char *sq_dup_into(char **p, const void *src, size_t len, int text)
{
    if (!src)
        return NULL;
    char *d = *p;
    memcpy(d, src, len);
    if (text)
        d[len] = 0;
    *p += len + (text ? 1 : 0);
    return d;
}

static vouch_store_rc sq_issuer_get(vouch_store *s, const char *name, int64_t id,
                                    vouch_store_issuer *out, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                  name ? "SELECT " ISSUER_COLS " FROM issuers WHERE name = ?"
                       : "SELECT " ISSUER_COLS " FROM issuers WHERE id = ?",
                  &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "issuer get", err, n);
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_DONE) {
        r = name ? vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no issuer named \"%s\"",
                                    name)
                 : vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                                    "no issuer with id %" PRId64, id);
    } else if (rc != SQLITE_ROW) {
        r = sq_dberr(q, rc, "issuer get", err, n);
    } else {
        vouch_store_issuer v;
        issuer_view(st, &v);
        size_t ln = v.name ? strlen(v.name) + 1 : 0, lp = v.key_pem ? strlen(v.key_pem) + 1 : 0,
               lr = v.key_ref ? strlen(v.key_ref) + 1 : 0;
        char *mem = malloc(ln + lp + lr + v.cert_der_len + 1), *p = mem;
        if (!mem) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_NOMEM, "out of memory");
        } else {
            *out = v;
            out->_mem = mem;
            out->name = sq_dup_into(&p, v.name, ln ? ln - 1 : 0, 1);
            out->key_pem = sq_dup_into(&p, v.key_pem, lp ? lp - 1 : 0, 1);
            out->key_ref = sq_dup_into(&p, v.key_ref, lr ? lr - 1 : 0, 1);
            out->cert_der = (uint8_t *)sq_dup_into(&p, v.cert_der, v.cert_der_len, 0);
        }
    }
    sq_done(st);
    return r;
}

static vouch_store_rc sq_issuer_list(vouch_store *s, vouch_store_issuer_cb cb, void *ctx,
                                     char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT " ISSUER_COLS " FROM issuers ORDER BY id", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "issuer list", err, n);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_issuer v;
        issuer_view(st, &v);
        if (cb(ctx, &v) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "issuer list", err, n);
    sq_done(st);
    return r;
}

static vouch_store_rc sq_issuer_next_crl_number(vouch_store *s, int64_t issuer_id, int64_t *num,
                                                char *err, size_t n)
{
    sq_store *q = Q(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                  "UPDATE issuers SET crl_number = crl_number + 1 WHERE id = ? "
                  "RETURNING crl_number",
                  &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "crl number", err, n);
        return sq_wend(q, r, err, n);
    }
    sqlite3_bind_int64(st, 1, issuer_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *num = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    } else if (rc == SQLITE_DONE) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_ISSUER,
                             "no issuer with id %" PRId64, issuer_id);
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "crl number", err, n);
    sq_done(st);
    return sq_wend(q, r, err, n);
}

/* ---- templates --------------------------------------------------------------------- */

static vouch_store_rc sq_template_put(vouch_store *s, const char *name, const char *body,
                                      const char *actor, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                  "INSERT INTO templates(name, body, created_at, updated_at) VALUES(?,?,?,?) "
                  "ON CONFLICT(name) DO UPDATE SET body = excluded.body, "
                  "updated_at = excluded.updated_at",
                  &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "template put", err, n);
        return sq_wend(q, r, err, n);
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "template put", err, n);
        return sq_wend(q, r, err, n);
    }
    char subj[160];
    snprintf(subj, sizeof subj, "template=%s", name);
    json_error_t je;
    json_t *b = json_loads(body, 0, &je);
    r = sq_audit_addj(q, now, actor, "template.put", subj, json_pack("{s:s,s:o?}", "name", name,
                                                                  "body", b),
                   err, n);
    return sq_wend(q, r, err, n);
}

static vouch_store_rc sq_template_get(vouch_store *s, const char *name,
                                      vouch_store_template *out, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT name, body, created_at, updated_at FROM templates WHERE name = ?",
                  &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "template get", err, n);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_DONE) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no template named \"%s\"", name);
    } else if (rc != SQLITE_ROW) {
        r = sq_dberr(q, rc, "template get", err, n);
    } else {
        size_t ln = (size_t)sqlite3_column_bytes(st, 0), lb = (size_t)sqlite3_column_bytes(st, 1);
        char *mem = malloc(ln + lb + 2), *p = mem;
        if (!mem) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_NOMEM, "out of memory");
        } else {
            out->_mem = mem;
            out->name = sq_dup_into(&p, sqlite3_column_text(st, 0), ln, 1);
            out->body = sq_dup_into(&p, sqlite3_column_text(st, 1), lb, 1);
            out->created_at = sqlite3_column_int64(st, 2);
            out->updated_at = sqlite3_column_int64(st, 3);
        }
    }
    sq_done(st);
    return r;
}

static vouch_store_rc sq_template_list(vouch_store *s, vouch_store_template_cb cb, void *ctx,
                                       char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT name, body, created_at, updated_at FROM templates ORDER BY name",
                  &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "template list", err, n);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_template t;
        memset(&t, 0, sizeof t);
        t.name = (char *)sqlite3_column_text(st, 0);
        t.body = (char *)sqlite3_column_text(st, 1);
        t.created_at = sqlite3_column_int64(st, 2);
        t.updated_at = sqlite3_column_int64(st, 3);
        if (cb(ctx, &t) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "template list", err, n);
    sq_done(st);
    return r;
}

/* ---- certificates ------------------------------------------------------------------------ */

#define CERT_COLS                                                                          \
    "id, issuer_id, serial, subject, device_id, template, status, not_before, not_after, " \
    "issued_at, revoked_at, reason, sha256, renewed_from, seq"

static const char SQL_GET_SERIAL[] =
    "SELECT " CERT_COLS ", der FROM certificates INDEXED BY cert_issuer_serial "
    "WHERE issuer_id = ? AND serial = ?";
static const char SQL_GET_ID[] = "SELECT " CERT_COLS ", der FROM certificates WHERE id = ?";
static const char SQL_GET_FP[] =
    "SELECT " CERT_COLS ", der FROM certificates INDEXED BY cert_sha256 WHERE sha256 = ? "
    "ORDER BY id LIMIT 1";
static const char SQL_LIST_REVOKED[] =
    "SELECT serial, revoked_at, reason FROM certificates INDEXED BY cert_crl "
    "WHERE issuer_id = ? AND status = 2 ORDER BY serial";
static const char SQL_CHANGES[] =
    "SELECT " CERT_COLS ", der FROM certificates INDEXED BY cert_seq "
    "WHERE seq > ? ORDER BY seq LIMIT ?";
static const char SQL_EXPIRED_COUNT[] =
    "SELECT count(*) FROM certificates INDEXED BY cert_status_exp "
    "WHERE status = 1 AND not_after < ?";
static const char SQL_EXPIRED_BY_TEMPLATE[] =
    "SELECT coalesce(template, ''), count(*) FROM certificates INDEXED BY cert_status_exp "
    "WHERE status = 1 AND not_after < ? GROUP BY 1";
static const char SQL_NEXT_SEQ[] =
    "SELECT coalesce(max(seq), 0) + 1 FROM certificates INDEXED BY cert_seq";
static const char SQL_REVOKE_LOOKUP[] =
    "SELECT id, status, coalesce(template, '') FROM certificates INDEXED BY cert_issuer_serial "
    "WHERE issuer_id = ? AND serial = ?";

static void cert_view(sqlite3_stmt *st, int64_t now, vouch_store_cert *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->issuer_id = sqlite3_column_int64(st, 1);
    int sl = sqlite3_column_bytes(st, 2);
    if (sl > VOUCH_SERIAL_MAX)
        sl = VOUCH_SERIAL_MAX;
    if (sl > 0)
        memcpy(c->serial, sqlite3_column_blob(st, 2), (size_t)sl);
    c->serial_len = (size_t)sl;
    c->subject = (char *)sqlite3_column_text(st, 3);
    c->device_id = (char *)sqlite3_column_text(st, 4);
    c->template_name = (char *)sqlite3_column_text(st, 5);
    int status = sqlite3_column_int(st, 6);
    c->not_before = sqlite3_column_int64(st, 7);
    c->not_after = sqlite3_column_int64(st, 8);
    c->issued_at = sqlite3_column_int64(st, 9);
    c->revoked_at = sqlite3_column_int64(st, 10);
    c->reason = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 11);
    if (sqlite3_column_bytes(st, 12) == 32)
        memcpy(c->sha256, sqlite3_column_blob(st, 12), 32);
    c->renewed_from = sqlite3_column_int64(st, 13);
    c->seq = sqlite3_column_int64(st, 14);
    c->status = status == 2           ? VOUCH_CERT_REVOKED
                : c->not_after < now ? VOUCH_CERT_EXPIRED
                                     : VOUCH_CERT_ACTIVE;
    if (sqlite3_column_type(st, 15) == SQLITE_BLOB) {
        c->der = (uint8_t *)sqlite3_column_blob(st, 15);
        c->der_len = (size_t)sqlite3_column_bytes(st, 15);
    }
}

static vouch_store_rc cert_copy(const vouch_store_cert *v, vouch_store_cert *out, char *err,
                                size_t n)
{
    size_t ls = v->subject ? strlen(v->subject) : 0, ld = v->device_id ? strlen(v->device_id) : 0,
           lt = v->template_name ? strlen(v->template_name) : 0;
    char *mem = malloc(ls + ld + lt + 3 + v->der_len), *p = mem;
    if (!mem)
        FAIL(VOUCH_STORE_E_NOMEM, "out of memory");
    *out = *v;
    out->_mem = mem;
    out->subject = sq_dup_into(&p, v->subject, ls, 1);
    out->device_id = sq_dup_into(&p, v->device_id, ld, 1);
    out->template_name = sq_dup_into(&p, v->template_name, lt, 1);
    out->der = (uint8_t *)sq_dup_into(&p, v->der, v->der_len, 0);
    return VOUCH_STORE_OK;
}

/* The sync sequence number for the next change; the caller's write uses
 * it (inside a group the next call then gives the one after). */
static vouch_store_rc next_seq(sq_store *q, int64_t *seq, char *err, size_t n)
{
    if (q->in_group && q->gc.seq_valid) {
        *seq = q->gc.seq_next++;
        return VOUCH_STORE_OK;
    }
    sqlite3_stmt *st;
    int rc = sq_prep(q, SQL_NEXT_SEQ, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "next seq", err, n);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    sq_done(st);
    if (rc != SQLITE_ROW)
        return sq_dberr(q, rc, "next seq", err, n);
    if (q->in_group) {
        q->gc.seq_valid = 1;
        q->gc.seq_next = *seq + 1;
    }
    return VOUCH_STORE_OK;
}

/* cert_counts keeps active/revoked totals per template, updated with each write. */
static vouch_store_rc count_add(sq_store *q, const char *tmpl, int status, int delta, char *err,
                                size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                  "INSERT INTO cert_counts(template, status, n) VALUES(?,?,?) "
                  "ON CONFLICT(template, status) DO UPDATE SET n = n + excluded.n",
                  &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "counts", err, n);
    sqlite3_bind_text(st, 1, tmpl ? tmpl : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, status);
    sqlite3_bind_int(st, 3, delta);
    rc = sqlite3_step(st);
    sq_done(st);
    return rc == SQLITE_DONE ? VOUCH_STORE_OK : sq_dberr(q, rc, "counts", err, n);
}

static vouch_store_rc sq_cert_insert(vouch_store *s, const vouch_store_cert *in,
                                     const char *actor, int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    char hex[2 * VOUCH_SERIAL_MAX + 1], fp[65];
    vouch_store_hex(in->serial, in->serial_len, hex);
    vouch_store_hex(in->sha256, 32, fp);
    vouch_store_rc r = lbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    int yes = 0, rc, changed = 0;
    int64_t seq = 0, new_id = 0;
    sqlite3_stmt *st;
    /* An unknown issuer is caught by the foreign key on the insert below
     * (a lookup inside the insert, not a statement of its own). */
    if (in->renewed_from) {
        r = exists(q, "SELECT 1 FROM certificates WHERE id = ?", in->renewed_from, &yes, err, n);
        if (r == VOUCH_STORE_OK && !yes)
            r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_CERT,
                                 "renewed_from: no certificate with id %" PRId64,
                                 in->renewed_from);
    }
    if (r == VOUCH_STORE_OK)
        r = next_seq(q, &seq, err, n);
    if (r != VOUCH_STORE_OK)
        goto out;
    rc = sq_prep(q,
              "INSERT INTO certificates(issuer_id, serial, subject, device_id, template, status,"
              " not_before, not_after, issued_at, der, sha256, renewed_from, seq)"
              " VALUES(?,?,?,?,?,1,?,?,?,?,?,?,?)",
              &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "certificate insert", err, n);
        goto out;
    }
    sqlite3_bind_int64(st, 1, in->issuer_id);
    sqlite3_bind_blob(st, 2, in->serial, (int)in->serial_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->subject, -1, SQLITE_STATIC);
    if (in->device_id && *in->device_id)
        sqlite3_bind_text(st, 4, in->device_id, -1, SQLITE_STATIC);
    if (in->template_name)
        sqlite3_bind_text(st, 5, in->template_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, in->not_before);
    sqlite3_bind_int64(st, 7, in->not_after);
    sqlite3_bind_int64(st, 8, in->issued_at ? in->issued_at : now);
    sqlite3_bind_blob(st, 9, in->der, (int)in->der_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, in->sha256, 32, SQLITE_STATIC);
    if (in->renewed_from)
        sqlite3_bind_int64(st, 11, in->renewed_from);
    sqlite3_bind_int64(st, 12, seq);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_DUP_SERIAL,
                             "issuer %" PRId64 " already has serial %s", in->issuer_id, hex);
        goto out;
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) { /* renewed_from was checked above */
        r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_ISSUER,
                             "issuer %" PRId64 " does not exist", in->issuer_id);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "certificate insert", err, n);
        goto out;
    }
    changed = 1;
    new_id = sqlite3_last_insert_rowid(q->db);
    r = count_add(q, in->template_name, 1, 1, err, n);
    if (r != VOUCH_STORE_OK)
        goto out;
    char subj[96];
    snprintf(subj, sizeof subj, "issuer=%" PRId64 " serial=%s", in->issuer_id, hex);
    char details[512];
    if (issue_details(details, sizeof details, new_id, in, hex, fp))
        r = audit_add(q, now, actor, "cert.issue", subj, details, NULL, err, n);
    else
        r = sq_audit_addj(q, now, actor, "cert.issue", subj,
                       json_pack("{s:I,s:I,s:s,s:s?,s:s?,s:I,s:s,s:I}", "id",
                                 (json_int_t)new_id, "issuer_id", (json_int_t)in->issuer_id,
                                 "serial", hex, "template", in->template_name, "device_id",
                                 in->device_id, "not_after", (json_int_t)in->not_after,
                                 "sha256", fp, "renewed_from", (json_int_t)in->renewed_from),
                       err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = new_id;
out:
    return lend(q, r, changed, err, n);
}

static vouch_store_rc sq_cert_get(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                  size_t serial_len, int64_t id, const uint8_t *sha,
                                  vouch_store_cert *out, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    const char *sql = serial ? SQL_GET_SERIAL : sha ? SQL_GET_FP : SQL_GET_ID;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "certificate get", err, n);
    if (serial) {
        sqlite3_bind_int64(st, 1, issuer_id);
        sqlite3_bind_blob(st, 2, serial, (int)serial_len, SQLITE_STATIC);
    } else if (sha) {
        sqlite3_bind_blob(st, 1, sha, 32, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(st, 1, id);
    }
    rc = sqlite3_step(st);
    vouch_store_rc r;
    if (rc == SQLITE_ROW) {
        vouch_store_cert v;
        cert_view(st, vouch_store_now(s), &v);
        r = cert_copy(&v, out, err, n);
    } else if (rc == SQLITE_DONE) {
        char hex[2 * VOUCH_SERIAL_MAX + 1];
        if (serial) {
            vouch_store_hex(serial, serial_len, hex);
            r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_CERT,
                                 "issuer %" PRId64 " has no certificate with serial %s",
                                 issuer_id, hex);
        } else if (sha) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_CERT,
                                 "no certificate with that fingerprint");
        } else {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_CERT,
                                 "no certificate with id %" PRId64, id);
        }
    } else {
        r = sq_dberr(q, rc, "certificate get", err, n);
    }
    sq_done(st);
    return r;
}

static vouch_store_rc sq_cert_revoke(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                     size_t serial_len, int reason, const char *actor, char *err,
                                     size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    char hex[2 * VOUCH_SERIAL_MAX + 1];
    vouch_store_hex(serial, serial_len, hex);
    vouch_store_rc r = lbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int64_t id = 0, seq = 0;
    int status = 0, changed = 0;
    char tmpl[VOUCH_STORE_NAME_MAX + 1] = "";
    int rc = sq_prep(q, SQL_REVOKE_LOOKUP, &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "revoke", err, n);
        goto out;
    }
    sqlite3_bind_int64(st, 1, issuer_id);
    sqlite3_bind_blob(st, 2, serial, (int)serial_len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        status = sqlite3_column_int(st, 1);
        snprintf(tmpl, sizeof tmpl, "%s", (const char *)sqlite3_column_text(st, 2));
    }
    sq_done(st);
    if (rc == SQLITE_DONE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_UNKNOWN_CERT,
                             "issuer %" PRId64 " has no certificate with serial %s", issuer_id,
                             hex);
    else if (rc != SQLITE_ROW)
        r = sq_dberr(q, rc, "revoke", err, n);
    else if (status == 2)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_ALREADY_REVOKED,
                             "certificate %s of issuer %" PRId64 " is already revoked", hex,
                             issuer_id);
    if (r == VOUCH_STORE_OK)
        r = next_seq(q, &seq, err, n);
    if (r != VOUCH_STORE_OK)
        goto out;
    rc = sq_prep(q,
              "UPDATE certificates SET status = 2, revoked_at = ?, reason = ?, seq = ? "
              "WHERE id = ? AND status = 1",
              &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "revoke", err, n);
        goto out;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, reason);
    sqlite3_bind_int64(st, 3, seq);
    sqlite3_bind_int64(st, 4, id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE || sqlite3_changes(q->db) != 1) {
        r = rc != SQLITE_DONE ? sq_dberr(q, rc, "revoke", err, n)
                              : vouch_store_fail(err, n, VOUCH_STORE_E_INTERNAL,
                                                 "revoke: row changed underneath");
        goto out;
    }
    changed = 1;
    if ((r = count_add(q, tmpl, 1, -1, err, n)) != VOUCH_STORE_OK ||
        (r = count_add(q, tmpl, 2, 1, err, n)) != VOUCH_STORE_OK)
        goto out;
    char subj[96];
    snprintf(subj, sizeof subj, "issuer=%" PRId64 " serial=%s", issuer_id, hex);
    char details[160];
    jbuf b = {details, details + sizeof details, 1, 1};
    jb_raw(&b, "{", 1);
    jb_int(&b, "id", id);
    jb_int(&b, "issuer_id", issuer_id);
    jb_int(&b, "reason", reason);
    jb_str(&b, "serial", hex);
    jb_raw(&b, "}", 1);
    r = b.ok ? audit_add(q, now, actor, "cert.revoke", subj, details, NULL, err, n)
             : sq_audit_addj(q, now, actor, "cert.revoke", subj,
                          json_pack("{s:I,s:I,s:s,s:i}", "id", (json_int_t)id, "issuer_id",
                                    (json_int_t)issuer_id, "serial", hex, "reason", reason),
                          err, n);
out:
    return lend(q, r, changed, err, n);
}

/* The search SQL: pick the driving index, add every filter as a condition
 * (the driving one becomes the index range), and the keyset cursor. */
typedef enum { D_DEVICE, D_REVOKED, D_EXPIRING, D_ISSUED, D_TEMPLATE, D_STATUS, D_ISSUER, D_NONE } driver;

static driver pick(const vouch_store_cert_filter *f)
{
    if (f->device_id)
        return D_DEVICE;
    if (f->revoked_since)
        return D_REVOKED;
    if (f->expiring_before)
        return D_EXPIRING;
    if (f->issued_since)
        return D_ISSUED;
    if (f->template_name)
        return D_TEMPLATE;
    if (f->status != VOUCH_CERT_ANY)
        return D_STATUS;
    if (f->issuer_id)
        return D_ISSUER;
    return D_NONE;
}

static const char *build_sql(const vouch_store_cert_filter *f, int count, int with_der,
                             char *sql, size_t size, int *column)
{
    static const char *const idx[] = {"cert_device",     "cert_revoked", "cert_status_exp",
                                      "cert_issued",     "cert_template", "cert_status_exp",
                                      "cert_issuer",     NULL};
    static const char *const key[] = {NULL, "revoked_at", "not_after", "issued_at",
                                      NULL, "not_after",  NULL,        NULL};
    driver d = pick(f);
    size_t o = 0;
#define ADD(...) o += (size_t)snprintf(sql + o, o < size ? size - o : 0, __VA_ARGS__)
    if (count)
        ADD("SELECT count(*) FROM certificates");
    else
        ADD("SELECT " CERT_COLS ", %s FROM certificates", with_der ? "der" : "NULL");
    if (idx[d])
        ADD(" INDEXED BY %s", idx[d]);
    ADD(" WHERE 1");
    if (f->device_id)
        ADD(" AND device_id = :dev");
    if (f->revoked_since)
        ADD(" AND revoked_at >= :rsince");
    if (f->expiring_before)
        ADD(" AND status = 1 AND not_after >= :now AND not_after < :exp");
    if (f->issued_since)
        ADD(" AND issued_at >= :isince");
    if (f->template_name)
        ADD(" AND template = :tmpl");
    if (f->status == VOUCH_CERT_ACTIVE)
        ADD(" AND status = 1 AND not_after >= :now");
    else if (f->status == VOUCH_CERT_EXPIRED)
        ADD(" AND status = 1 AND not_after < :now");
    else if (f->status == VOUCH_CERT_REVOKED)
        ADD(" AND status = 2");
    if (f->issuer_id)
        ADD(" AND issuer_id = :issuer");
    if (!count) {
        if (key[d])
            ADD(" AND (%s, id) > (:ck, :cid) ORDER BY %s, id", key[d], key[d]);
        else
            ADD(" AND id > :cid ORDER BY id");
        ADD(" LIMIT :lim");
    }
#undef ADD
    *column = key[d] == NULL ? -1 : d == D_REVOKED ? 10 : d == D_ISSUED ? 9 : 8;
    return o < size ? sql : NULL;
}

static void bind_filter(sqlite3_stmt *st, const vouch_store_cert_filter *f, int64_t now)
{
#define BI(name, v)                                                                        \
    do {                                                                                   \
        int i_ = sqlite3_bind_parameter_index(st, name);                                   \
        if (i_)                                                                            \
            sqlite3_bind_int64(st, i_, (v));                                               \
    } while (0)
#define BT(name, v)                                                                        \
    do {                                                                                   \
        int i_ = sqlite3_bind_parameter_index(st, name);                                   \
        if (i_)                                                                            \
            sqlite3_bind_text(st, i_, (v), -1, SQLITE_STATIC);                             \
    } while (0)
    BT(":dev", f->device_id);
    BT(":tmpl", f->template_name);
    BI(":rsince", f->revoked_since);
    BI(":isince", f->issued_since);
    BI(":exp", f->expiring_before);
    BI(":now", now);
    BI(":issuer", f->issuer_id);
}

static vouch_store_rc sq_cert_search(vouch_store *s, const vouch_store_cert_filter *f,
                                     vouch_store_cursor *cur, unsigned limit, int with_der,
                                     vouch_store_cert_cb cb, void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    char sql[1024];
    int keycol;
    if (!build_sql(f, 0, with_der, sql, sizeof sql, &keycol))
        FAIL(VOUCH_STORE_E_INTERNAL, "search query too long");
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "certificate search", err, n);
    int64_t now = vouch_store_now(s);
    bind_filter(st, f, now);
    BI(":ck", cur->started ? cur->key : INT64_MIN);
    BI(":cid", cur->started ? cur->id : 0);
    BI(":lim", (int64_t)limit);
    vouch_store_rc r = VOUCH_STORE_OK;
    unsigned rows = 0;
    cur->done = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_cert c;
        cert_view(st, now, &c);
        rows++;
        cur->started = 1;
        cur->id = c.id;
        cur->key = keycol >= 0 ? sqlite3_column_int64(st, keycol) : 0;
        if (cb(ctx, &c) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK) {
        if (rc != SQLITE_DONE)
            r = sq_dberr(q, rc, "certificate search", err, n);
        else if (rows < limit)
            cur->done = 1;
    }
    sq_done(st);
    return r;
}

static const char SQL_COUNT_ALL[] = "SELECT coalesce(sum(n), 0) FROM cert_counts";

static vouch_store_rc count_all(sq_store *q, uint64_t *count, char *err, size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q, SQL_COUNT_ALL, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "certificate count", err, n);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    sq_done(st);
    return rc == SQLITE_ROW ? VOUCH_STORE_OK : sq_dberr(q, rc, "certificate count", err, n);
}

static vouch_store_rc sq_cert_count(vouch_store *s, const vouch_store_cert_filter *f,
                                    uint64_t *count, char *err, size_t n)
{
    sq_store *q = Q(s);
    char sql[1024];
    int keycol;
    if (pick(f) == D_NONE) /* everything: the counters, not a walk of an index */
        return count_all(q, count, err, n);
    if (!build_sql(f, 1, 0, sql, sizeof sql, &keycol))
        FAIL(VOUCH_STORE_E_INTERNAL, "count query too long");
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "certificate count", err, n);
    bind_filter(st, f, vouch_store_now(s));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    sq_done(st);
    return rc == SQLITE_ROW ? VOUCH_STORE_OK : sq_dberr(q, rc, "certificate count", err, n);
}

static vouch_store_rc sq_cert_list_revoked(vouch_store *s, int64_t issuer_id,
                                           vouch_store_revoked_cb cb, void *ctx, char *err,
                                           size_t n)
{
    sq_store *q = Q(s);
    int yes = 0;
    vouch_store_rc r = exists(q, "SELECT 1 FROM issuers WHERE id = ?", issuer_id, &yes, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (!yes)
        FAIL(VOUCH_STORE_E_UNKNOWN_ISSUER, "issuer %" PRId64 " does not exist", issuer_id);
    sqlite3_stmt *st;
    int rc = sq_prep(q, SQL_LIST_REVOKED, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "revoked list", err, n);
    sqlite3_bind_int64(st, 1, issuer_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_revoked e;
        e.serial = sqlite3_column_blob(st, 0);
        e.serial_len = (size_t)sqlite3_column_bytes(st, 0);
        e.revoked_at = sqlite3_column_int64(st, 1);
        e.reason = sqlite3_column_int(st, 2);
        if (cb(ctx, &e) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "revoked list", err, n);
    sq_done(st);
    return r;
}

static vouch_store_rc sq_cert_changes_since(vouch_store *s, int64_t after, unsigned limit,
                                            vouch_store_cert_cb cb, void *ctx, int64_t *last,
                                            char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    *last = after;
    int rc = sq_prep(q, SQL_CHANGES, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "changes", err, n);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_cert c;
        cert_view(st, now, &c);
        *last = c.seq;
        if (cb(ctx, &c) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "changes", err, n);
    sq_done(st);
    return r;
}

static vouch_store_rc sq_cert_counts(vouch_store *s, vouch_store_counts *out, char *err,
                                     size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int own = sqlite3_get_autocommit(q->db);
    vouch_store_rc r = own ? sq_exec1(q, "BEGIN", err, n) : VOUCH_STORE_OK;
    if (r != VOUCH_STORE_OK)
        return r;
    int rc = sq_prep(q, "SELECT status, sum(n) FROM cert_counts GROUP BY status", &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    uint64_t stored_active = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 1);
        if (sqlite3_column_int(st, 0) == 1)
            stored_active = (uint64_t)v;
        else
            out->revoked = (uint64_t)v;
    }
    sq_done(st);
    if (rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    rc = sq_prep(q, SQL_EXPIRED_COUNT, &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    sqlite3_bind_int64(st, 1, vouch_store_now(s));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        out->expired = (uint64_t)sqlite3_column_int64(st, 0);
    sq_done(st);
    if (rc != SQLITE_ROW) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    out->active = stored_active >= out->expired ? stored_active - out->expired : 0;
out:
    if (own && !sqlite3_get_autocommit(q->db)) {
        char ignore[8];
        (void)sq_exec1(q, "COMMIT", ignore, sizeof ignore);
    }
    return r;
}

static vouch_store_rc sq_cert_counts_by_template(vouch_store *s,
                                                 vouch_store_template_counts_cb cb, void *ctx,
                                                 char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int own = sqlite3_get_autocommit(q->db);
    vouch_store_rc r = own ? sq_exec1(q, "BEGIN", err, n) : VOUCH_STORE_OK;
    if (r != VOUCH_STORE_OK)
        return r;
    /* Expired per template first (a short index range), then merged with the
     * counters while walking them in name order. */
    json_t *expired = json_object();
    if (!expired) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOMEM, "out of memory");
        goto out;
    }
    int rc = sq_prep(q, SQL_EXPIRED_BY_TEMPLATE, &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    sqlite3_bind_int64(st, 1, vouch_store_now(s));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(expired, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sq_done(st);
    if (rc != SQLITE_DONE) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    rc = sq_prep(q,
              "SELECT template, sum(CASE status WHEN 1 THEN n ELSE 0 END),"
              " sum(CASE status WHEN 2 THEN n ELSE 0 END) FROM cert_counts"
              " GROUP BY template ORDER BY template",
              &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "counts", err, n);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        vouch_store_counts c;
        uint64_t stored = (uint64_t)sqlite3_column_int64(st, 1);
        c.revoked = (uint64_t)sqlite3_column_int64(st, 2);
        c.expired = (uint64_t)json_integer_value(json_object_get(expired, name ? name : ""));
        c.active = stored >= c.expired ? stored - c.expired : 0;
        if (stored == 0 && c.revoked == 0)
            continue;
        if (cb(ctx, name ? name : "", &c) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "counts", err, n);
    sq_done(st);
out:
    json_decref(expired);
    if (own && !sqlite3_get_autocommit(q->db)) {
        char ignore[8];
        (void)sq_exec1(q, "COMMIT", ignore, sizeof ignore);
    }
    return r;
}

/* ---- tokens ------------------------------------------------------------------------ */

static vouch_store_rc sq_token_insert(vouch_store *s, const char *name, const uint8_t hash[32],
                                      const char *actor, int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q, "INSERT INTO api_tokens(name, hash, created_at) VALUES(?,?,?)", &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "token insert", err, n);
        return sq_wend(q, r, err, n);
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS, "a token named \"%s\" exists", name);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "token insert", err, n);
    if (r == VOUCH_STORE_OK) {
        int64_t new_id = sqlite3_last_insert_rowid(q->db);
        char subj[64];
        snprintf(subj, sizeof subj, "token=%" PRId64, new_id);
        r = sq_audit_addj(q, now, actor, "token.create", subj,
                       json_pack("{s:I,s:s}", "id", (json_int_t)new_id, "name", name), err, n);
        if (r == VOUCH_STORE_OK && id)
            *id = new_id;
    }
    return sq_wend(q, r, err, n);
}

static vouch_store_rc sq_token_verify(vouch_store *s, const uint8_t hash[32], int64_t *id,
                                      char *name, size_t name_size, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT id, name, hash, revoked FROM api_tokens", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "token verify", err, n);
    /* Admin tokens are few; compare with every one, no early exit. */
    int64_t match = 0;
    int revoked = 0;
    char match_name[VOUCH_STORE_NAME_MAX + 1] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(st, 2);
        if (sqlite3_column_bytes(st, 2) != 32 || !h)
            continue;
        if (CRYPTO_memcmp(h, hash, 32) == 0) {
            match = sqlite3_column_int64(st, 0);
            revoked = sqlite3_column_int(st, 3);
            snprintf(match_name, sizeof match_name, "%s",
                     (const char *)sqlite3_column_text(st, 1));
        }
    }
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_dberr(q, rc, "token verify", err, n);
    if (!match)
        FAIL(VOUCH_STORE_E_TOKEN_INVALID, "token not recognized");
    if (revoked)
        FAIL(VOUCH_STORE_E_TOKEN_REVOKED, "token \"%s\" is revoked", match_name);
    if (id)
        *id = match;
    if (name && name_size)
        snprintf(name, name_size, "%s", match_name);
    return VOUCH_STORE_OK;
}

static vouch_store_rc sq_token_revoke(vouch_store *s, int64_t id, const char *actor, char *err,
                                      size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT revoked FROM api_tokens WHERE id = ?", &st);
    if (rc != SQLITE_OK) {
        r = sq_dberr(q, rc, "token revoke", err, n);
        return sq_wend(q, r, err, n);
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    int revoked = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sq_done(st);
    if (rc == SQLITE_DONE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no token with id %" PRId64, id);
    else if (rc != SQLITE_ROW)
        r = sq_dberr(q, rc, "token revoke", err, n);
    else if (revoked)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_TOKEN_REVOKED,
                             "token %" PRId64 " is already revoked", id);
    if (r == VOUCH_STORE_OK) {
        rc = sq_prep(q, "UPDATE api_tokens SET revoked = 1 WHERE id = ?", &st);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            rc = sqlite3_step(st);
            sq_done(st);
        }
        if (rc != SQLITE_DONE)
            r = sq_dberr(q, rc, "token revoke", err, n);
    }
    if (r == VOUCH_STORE_OK) {
        char subj[64];
        snprintf(subj, sizeof subj, "token=%" PRId64, id);
        r = sq_audit_addj(q, now, actor, "token.revoke", subj,
                       json_pack("{s:I}", "id", (json_int_t)id), err, n);
    }
    return sq_wend(q, r, err, n);
}

static vouch_store_rc sq_token_list(vouch_store *s, vouch_store_token_cb cb, void *ctx,
                                    char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT id, name, created_at, revoked FROM api_tokens ORDER BY id", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "token list", err, n);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_token_info t;
        t.id = sqlite3_column_int64(st, 0);
        t.name = (const char *)sqlite3_column_text(st, 1);
        t.created_at = sqlite3_column_int64(st, 2);
        t.revoked = sqlite3_column_int(st, 3);
        if (cb(ctx, &t) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "token list", err, n);
    sq_done(st);
    return r;
}

/* ---- test hook -------------------------------------------------------------------------- */

vouch_store_rc vouch_store_sqlite_explain(vouch_store *s, vouch_sq_query which,
                                          const vouch_store_cert_filter *f, char *out,
                                          size_t out_size)
{
    if (!s || s->ops != &sq_ops || !out || out_size == 0)
        return VOUCH_STORE_E_ARG;
    sq_store *q = Q(s);
    char sql[1200];
    const char *base = NULL;
    int keycol;
    char built[1024];
    switch (which) {
    case VOUCH_SQ_SEARCH:
    case VOUCH_SQ_COUNT:
        if (!f)
            return VOUCH_STORE_E_ARG;
        if (which == VOUCH_SQ_COUNT && pick(f) == D_NONE) {
            base = SQL_COUNT_ALL;
            break;
        }
        if (!build_sql(f, which == VOUCH_SQ_COUNT, 1, built, sizeof built, &keycol))
            return VOUCH_STORE_E_ARG;
        base = built;
        break;
    case VOUCH_SQ_GET_SERIAL: base = SQL_GET_SERIAL; break;
    case VOUCH_SQ_GET_ID: base = SQL_GET_ID; break;
    case VOUCH_SQ_GET_FINGERPRINT: base = SQL_GET_FP; break;
    case VOUCH_SQ_LIST_REVOKED: base = SQL_LIST_REVOKED; break;
    case VOUCH_SQ_CHANGES: base = SQL_CHANGES; break;
    case VOUCH_SQ_EXPIRED_COUNT: base = SQL_EXPIRED_COUNT; break;
    case VOUCH_SQ_EXPIRED_BY_TEMPLATE: base = SQL_EXPIRED_BY_TEMPLATE; break;
    case VOUCH_SQ_NEXT_SEQ: base = SQL_NEXT_SEQ; break;
    case VOUCH_SQ_REVOKE_LOOKUP: base = SQL_REVOKE_LOOKUP; break;
    default: return VOUCH_STORE_E_ARG;
    }
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", base);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return VOUCH_STORE_E_INTERNAL;
    size_t o = 0;
    out[0] = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        o += (size_t)snprintf(out + o, o < out_size ? out_size - o : 0, "%s\n", d ? d : "");
    }
    sqlite3_finalize(st);
    return o < out_size ? VOUCH_STORE_OK : VOUCH_STORE_E_ARG;
}

static const vouch_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .check_integrity = sq_check_integrity,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .issuer_insert = sq_issuer_insert,
    .issuer_get = sq_issuer_get,
    .issuer_list = sq_issuer_list,
    .issuer_next_crl_number = sq_issuer_next_crl_number,
    .template_put = sq_template_put,
    .template_get = sq_template_get,
    .template_list = sq_template_list,
    .cert_insert = sq_cert_insert,
    .cert_get = sq_cert_get,
    .cert_revoke = sq_cert_revoke,
    .cert_search = sq_cert_search,
    .cert_count = sq_cert_count,
    .cert_list_revoked = sq_cert_list_revoked,
    .cert_changes_since = sq_cert_changes_since,
    .cert_counts = sq_cert_counts,
    .cert_counts_by_template = sq_cert_counts_by_template,
    .token_insert = sq_token_insert,
    .token_verify = sq_token_verify,
    .token_revoke = sq_token_revoke,
    .token_list = sq_token_list,
    .account_create = sq_account_create,
    .account_get = sq_account_get,
    .account_list = sq_account_list,
    .family_insert = sq_family_insert,
    .family_get = sq_family_get,
    .family_set_code = sq_family_set_code,
    .family_verify = sq_family_verify,
    .family_list = sq_family_list,
    .device_insert = sq_device_insert,
    .device_get = sq_device_get,
    .device_set_status = sq_device_set_status,
    .device_set_cert = sq_device_set_cert,
    .device_touch = sq_device_touch,
    .device_list = sq_device_list,
    .fwkey_insert = sq_fwkey_insert,
    .fwkey_set_status = sq_fwkey_set_status,
    .fwkey_list = sq_fwkey_list,
    .release_insert = sq_release_insert,
    .release_get = sq_release_get,
    .release_list = sq_release_list,
    .release_read = sq_release_read,
    .campaign_create = sq_campaign_create,
    .campaign_get = sq_campaign_get,
    .campaign_list = sq_campaign_list,
    .campaign_set_status = sq_campaign_set_status,
    .campaign_devices = sq_campaign_devices,
    .update_find = sq_update_find,
    .update_targets = sq_update_targets,
    .update_report = sq_update_report,
    .device_fw_report = sq_device_fw_report,
    .audit_append = sq_audit_append,
    .audit_list = sq_audit_list,
    .audit_verify = sq_audit_verify,
};
