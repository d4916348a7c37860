/*
 * The SQLite backend's firmware tables (schema 3; docs/storage.md): an
 * account's signing keys, its releases (the image bytes in a table of
 * their own, read back a range at a time through SQLite's incremental BLOB
 * I/O), its campaigns and each device's progress in them. Admin writes
 * commit with their audit entry; what devices report (progress, the
 * version they run) is not audited, like last-seen times.
 */
#include "store/sqlite_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------------- */

static void hex32(const uint8_t h[32], char out[65])
{
    vouch_store_hex(h, 32, out);
}

/* The account of row id in `sql` ("SELECT account_id FROM t WHERE id = ?")
 * must be `account`: 0, or -1 with *r set (E_NOT_FOUND naming `what`). */
static int need_owned(sq_store *q, const char *sql, int64_t id, int64_t account, const char *what,
                      vouch_store_rc *r, char *err, size_t n)
{
    int64_t acc = 0;
    int f = sq_lookup_int(q, sql, id, what, &acc, r, err, n);
    if (f < 0)
        return -1;
    if (f == 0 || acc != account) {
        *r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                              "account %" PRId64 " has no %s %" PRId64, account, what, id);
        return -1;
    }
    return 0;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static void copy_blob(uint8_t *dst, size_t size, sqlite3_stmt *st, int col)
{
    if ((size_t)sqlite3_column_bytes(st, col) == size)
        memcpy(dst, sqlite3_column_blob(st, col), size);
    else
        memset(dst, 0, size);
}

static vouch_store_rc stopped(char *err, size_t n)
{
    return vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
}

/* ---- signing keys ----------------------------------------------------------------- */

#define FWKEY_COLS "id, account_id, name, alg, pub, keyhash, status, created_at"

static void fwkey_row(sqlite3_stmt *st, vouch_store_fwkey *k)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(st, 0);
    k->account_id = sqlite3_column_int64(st, 1);
    copy_text(k->name, sizeof k->name, sqlite3_column_text(st, 2));
    k->alg = (vouch_fwkey_alg)sqlite3_column_int(st, 3);
    int pl = sqlite3_column_bytes(st, 4);
    if (pl > 0 && (size_t)pl <= sizeof k->pub) {
        memcpy(k->pub, sqlite3_column_blob(st, 4), (size_t)pl);
        k->pub_len = (size_t)pl;
    }
    copy_blob(k->keyhash, 32, st, 5);
    k->status = (vouch_fwkey_status)sqlite3_column_int(st, 6);
    k->created_at = sqlite3_column_int64(st, 7);
}

vouch_store_rc sq_fwkey_insert(vouch_store *s, const vouch_store_fwkey *in, const char *actor,
                               int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    char fp[65];
    hex32(in->keyhash, fp);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (sq_need_account(q, in->account_id, &r, err, n) != 0)
        return sq_wend(q, r, err, n);
    /* say which conflict it is: the key or the name */
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT name FROM fw_keys WHERE account_id = ? AND keyhash = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "firmware key insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_blob(st, 2, in->keyhash, 32, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                             "the account has this key already, named \"%s\"",
                             (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "firmware key insert", err, n);
    sq_done(st);
    if (r != VOUCH_STORE_OK)
        return sq_wend(q, r, err, n);
    rc = sq_prep(q,
                 "INSERT INTO fw_keys(account_id, name, alg, pub, keyhash, status, created_at)"
                 " VALUES(?,?,?,?,?,?,?)",
                 &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "firmware key insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)in->alg);
    sqlite3_bind_blob(st, 4, in->pub, (int)in->pub_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, in->keyhash, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, (int)in->status);
    sqlite3_bind_int64(st, 7, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                             "the account has a firmware key named \"%s\"", in->name);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "firmware key insert", err, n);
    if (r != VOUCH_STORE_OK)
        return sq_wend(q, r, err, n);
    int64_t kid = sqlite3_last_insert_rowid(q->db);
    char subj[64];
    snprintf(subj, sizeof subj, "fwkey=%" PRId64, kid);
    r = sq_audit_addj(q, now, actor, "fwkey.add", subj,
                      json_pack("{s:I,s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)kid,
                                "account_id", (json_int_t)in->account_id, "name", in->name,
                                "alg", in->alg == VOUCH_FWKEY_P256 ? "p256" : "ed25519",
                                "key_hash", fp, "status",
                                in->status == VOUCH_FWKEY_ACTIVE ? "active" : "retired"),
                      err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = kid;
    return r;
}

vouch_store_rc sq_fwkey_set_status(vouch_store *s, int64_t account_id, const char *name,
                                   vouch_fwkey_status status, const char *actor, char *err,
                                   size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT id, status FROM fw_keys WHERE account_id = ? AND name = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "firmware key status", err, n), err, n);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int64_t kid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int was = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    sq_done(st);
    if (rc == SQLITE_DONE)
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                                           "the account has no firmware key \"%s\"", name),
                       err, n);
    if (rc != SQLITE_ROW)
        return sq_wend(q, sq_dberr(q, rc, "firmware key status", err, n), err, n);
    if (was == (int)status)
        return sq_wend(q, VOUCH_STORE_OK, err, n);
    rc = sq_prep(q, "UPDATE fw_keys SET status = ? WHERE id = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "firmware key status", err, n), err, n);
    sqlite3_bind_int(st, 1, (int)status);
    sqlite3_bind_int64(st, 2, kid);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "firmware key status", err, n), err, n);
    char subj[64];
    snprintf(subj, sizeof subj, "fwkey=%" PRId64, kid);
    r = sq_audit_addj(q, now, actor,
                      status == VOUCH_FWKEY_RETIRED ? "fwkey.retire" : "fwkey.activate", subj,
                      json_pack("{s:I,s:I,s:s}", "id", (json_int_t)kid, "account_id",
                                (json_int_t)account_id, "name", name),
                      err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_fwkey_list(vouch_store *s, int64_t account_id, vouch_store_fwkey_cb cb,
                             void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT " FWKEY_COLS " FROM fw_keys WHERE account_id = ? ORDER BY id",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "firmware key list", err, n);
    sqlite3_bind_int64(st, 1, account_id);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_fwkey k;
        fwkey_row(st, &k);
        if (cb(ctx, &k) != 0) {
            r = stopped(err, n);
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "firmware key list", err, n);
    sq_done(st);
    return r;
}

/* ---- releases --------------------------------------------------------------------- */

/* The release's columns, then its key's name (LEFT JOIN fw_keys k). */
#define RELEASE_COLS                                                                       \
    "r.id, r.account_id, r.version, r.ver_major, r.ver_minor, r.ver_revision, r.ver_build,"  \
    " r.sec_cnt, r.size, r.sha256, r.keyhash, r.vid, r.cid, r.created_at, k.name"
#define RELEASE_NCOLS 15
#define RELEASE_FROM                                                                       \
    " FROM releases r LEFT JOIN fw_keys k ON k.account_id = r.account_id"                  \
    " AND k.keyhash = r.keyhash"

/* RELEASE_COLS from column `c` on. */
static void release_row(sqlite3_stmt *st, int c, vouch_store_release *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, c + 0);
    r->account_id = sqlite3_column_int64(st, c + 1);
    copy_text(r->version, sizeof r->version, sqlite3_column_text(st, c + 2));
    r->ver_major = (uint8_t)sqlite3_column_int(st, c + 3);
    r->ver_minor = (uint8_t)sqlite3_column_int(st, c + 4);
    r->ver_revision = (uint16_t)sqlite3_column_int(st, c + 5);
    r->ver_build = (uint32_t)sqlite3_column_int64(st, c + 6);
    r->sec_cnt = (uint32_t)sqlite3_column_int64(st, c + 7);
    r->size = (uint64_t)sqlite3_column_int64(st, c + 8);
    copy_blob(r->sha256, 32, st, c + 9);
    copy_blob(r->keyhash, 32, st, c + 10);
    r->has_vid = sqlite3_column_bytes(st, c + 11) == 16;
    if (r->has_vid)
        memcpy(r->vid, sqlite3_column_blob(st, c + 11), 16);
    r->has_cid = sqlite3_column_bytes(st, c + 12) == 16;
    if (r->has_cid)
        memcpy(r->cid, sqlite3_column_blob(st, c + 12), 16);
    r->created_at = sqlite3_column_int64(st, c + 13);
    copy_text(r->key_name, sizeof r->key_name, sqlite3_column_text(st, c + 14));
}

vouch_store_rc sq_release_insert(vouch_store *s, const vouch_store_release *in,
                                 const uint8_t *image, size_t len, const char *actor, int64_t *id,
                                 char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    char fp[65], kh[65];
    hex32(in->sha256, fp);
    hex32(in->keyhash, kh);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (sq_need_account(q, in->account_id, &r, err, n) != 0)
        return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT id FROM releases WHERE account_id = ? AND sha256 = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "release insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_blob(st, 2, in->sha256, 32, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int64_t old = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sq_done(st);
    if (rc == SQLITE_ROW) {
        if (id)
            *id = old;
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                                           "the account has this image already: release %" PRId64,
                                           old),
                       err, n);
    }
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "release insert", err, n), err, n);
    rc = sq_prep(q,
                 "INSERT INTO releases(account_id, version, ver_major, ver_minor, ver_revision,"
                 " ver_build, sec_cnt, size, sha256, keyhash, vid, cid, created_at)"
                 " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "release insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_text(st, 2, in->version, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, in->ver_major);
    sqlite3_bind_int(st, 4, in->ver_minor);
    sqlite3_bind_int(st, 5, in->ver_revision);
    sqlite3_bind_int64(st, 6, in->ver_build);
    sqlite3_bind_int64(st, 7, in->sec_cnt);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)len);
    sqlite3_bind_blob(st, 9, in->sha256, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, in->keyhash, 32, SQLITE_STATIC);
    if (in->has_vid)
        sqlite3_bind_blob(st, 11, in->vid, 16, SQLITE_STATIC);
    if (in->has_cid)
        sqlite3_bind_blob(st, 12, in->cid, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, 13, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "release insert", err, n), err, n);
    int64_t rid = sqlite3_last_insert_rowid(q->db);
    rc = sq_prep(q, "INSERT INTO release_images(id, image) VALUES(?, ?)", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "release image insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_blob64(st, 2, image, (sqlite3_uint64)len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "release image insert", err, n), err, n);
    char subj[64];
    snprintf(subj, sizeof subj, "release=%" PRId64, rid);
    r = sq_audit_addj(q, now, actor, "release.upload", subj,
                      json_pack("{s:I,s:I,s:s,s:I,s:I,s:s,s:s}", "id", (json_int_t)rid,
                                "account_id", (json_int_t)in->account_id, "version",
                                in->version, "security_counter", (json_int_t)in->sec_cnt,
                                "size", (json_int_t)len, "sha256", fp, "key_hash", kh),
                      err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = rid;
    return r;
}

vouch_store_rc sq_release_get(vouch_store *s, int64_t id, vouch_store_release *out, char *err,
                              size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT " RELEASE_COLS RELEASE_FROM " WHERE r.id = ?", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "release get", err, n);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_ROW)
        release_row(st, 0, out);
    else if (rc == SQLITE_DONE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no release %" PRId64, id);
    else
        r = sq_dberr(q, rc, "release get", err, n);
    sq_done(st);
    return r;
}

vouch_store_rc sq_release_list(vouch_store *s, int64_t account_id, vouch_store_release_cb cb,
                               void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " RELEASE_COLS RELEASE_FROM " WHERE r.account_id = ? ORDER BY r.id",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "release list", err, n);
    sqlite3_bind_int64(st, 1, account_id);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_release rel;
        release_row(st, 0, &rel);
        if (cb(ctx, &rel) != 0) {
            r = stopped(err, n);
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "release list", err, n);
    sq_done(st);
    return r;
}

/* Incremental BLOB I/O: SQLite reads only the overflow pages that hold the
 * range, never the whole image. The handle is opened per call (an image is
 * read in chunks of tens of KiB, and the open costs one b-tree seek). */
vouch_store_rc sq_release_read(vouch_store *s, int64_t id, uint64_t offset, uint8_t *buf,
                               size_t len, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_blob *b = NULL;
    int rc = sqlite3_blob_open(q->db, "main", "release_images", "image", id, 0, &b);
    if (rc != SQLITE_OK) {
        sqlite3_blob_close(b);
        /* SQLITE_ERROR is what a missing row gives ("no such rowid") */
        if (rc == SQLITE_ERROR)
            FAIL(VOUCH_STORE_E_NOT_FOUND, "no release %" PRId64, id);
        return sq_dberr(q, rc, "release read", err, n);
    }
    uint64_t size = (uint64_t)sqlite3_blob_bytes(b);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (offset > size || len > size - offset) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_ARG,
                             "bytes %" PRIu64 "..+%zu are outside release %" PRId64
                             " (%" PRIu64 " bytes)",
                             offset, len, id, size);
    } else if (len > 0) {
        rc = sqlite3_blob_read(b, buf, (int)len, (int)offset);
        if (rc != SQLITE_OK)
            r = sq_dberr(q, rc, "release read", err, n);
    }
    rc = sqlite3_blob_close(b);
    if (r == VOUCH_STORE_OK && rc != SQLITE_OK)
        r = sq_dberr(q, rc, "release read", err, n);
    return r;
}

/* ---- campaigns -------------------------------------------------------------------- */

#define CAMPAIGN_COLS                                                                      \
    "c.id, c.account_id, c.release_id, c.target, c.family_id, c.status, c.created_at,"     \
    " c.updated_at, r.version"
#define CAMPAIGN_NCOLS 9

static void campaign_row(sqlite3_stmt *st, vouch_store_campaign *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->account_id = sqlite3_column_int64(st, 1);
    c->release_id = sqlite3_column_int64(st, 2);
    c->target = (vouch_campaign_target)sqlite3_column_int(st, 3);
    c->family_id = sqlite3_column_int64(st, 4);
    c->status = (vouch_campaign_status)sqlite3_column_int(st, 5);
    c->created_at = sqlite3_column_int64(st, 6);
    c->updated_at = sqlite3_column_int64(st, 7);
    copy_text(c->version, sizeof c->version, sqlite3_column_text(st, 8));
}

static const char *target_word(vouch_campaign_target t)
{
    return t == VOUCH_CAMPAIGN_ALL ? "all" : t == VOUCH_CAMPAIGN_FAMILY ? "family" : "devices";
}

vouch_store_rc sq_campaign_create(vouch_store *s, const vouch_store_campaign *in,
                                  const int64_t *rows, size_t count, const char *actor,
                                  int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (sq_need_account(q, in->account_id, &r, err, n) != 0 ||
        need_owned(q, "SELECT account_id FROM releases WHERE id = ?", in->release_id,
                   in->account_id, "release", &r, err, n) != 0 ||
        (in->target == VOUCH_CAMPAIGN_FAMILY &&
         need_owned(q, "SELECT account_id FROM families WHERE id = ?", in->family_id,
                    in->account_id, "family", &r, err, n) != 0))
        return sq_wend(q, r, err, n);
    for (size_t i = 0; in->target == VOUCH_CAMPAIGN_DEVICES && i < count; i++)
        if (need_owned(q, "SELECT account_id FROM devices WHERE id = ?", rows[i],
                       in->account_id, "device", &r, err, n) != 0)
            return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "INSERT INTO campaigns(account_id, release_id, target, family_id, status,"
                     " created_at, updated_at) VALUES(?,?,?,?,?,?,?)",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "campaign create", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_int64(st, 2, in->release_id);
    sqlite3_bind_int(st, 3, (int)in->target);
    if (in->target == VOUCH_CAMPAIGN_FAMILY)
        sqlite3_bind_int64(st, 4, in->family_id);
    sqlite3_bind_int(st, 5, (int)in->status);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "campaign create", err, n), err, n);
    int64_t cid = sqlite3_last_insert_rowid(q->db);
    if (in->target == VOUCH_CAMPAIGN_DEVICES) {
        rc = sq_prep(q, "INSERT OR IGNORE INTO campaign_targets(campaign_id, device) VALUES(?, ?)",
                     &st);
        if (rc != SQLITE_OK)
            return sq_wend(q, sq_dberr(q, rc, "campaign targets", err, n), err, n);
        for (size_t i = 0; i < count && rc != -1; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, cid);
            sqlite3_bind_int64(st, 2, rows[i]);
            if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
                r = sq_dberr(q, rc, "campaign targets", err, n);
                rc = -1;
            }
        }
        sq_done(st);
        if (r != VOUCH_STORE_OK)
            return sq_wend(q, r, err, n);
    }
    char subj[64];
    snprintf(subj, sizeof subj, "campaign=%" PRId64, cid);
    json_t *d = json_pack("{s:I,s:I,s:I,s:s,s:s}", "id", (json_int_t)cid, "account_id",
                          (json_int_t)in->account_id, "release_id", (json_int_t)in->release_id,
                          "target", target_word(in->target), "status",
                          in->status == VOUCH_CAMPAIGN_ACTIVE ? "active" : "paused");
    if (d && in->target == VOUCH_CAMPAIGN_FAMILY)
        json_object_set_new(d, "family_id", json_integer(in->family_id));
    if (d && in->target == VOUCH_CAMPAIGN_DEVICES) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < count; i++)
            json_array_append_new(a, json_integer(rows[i]));
        json_object_set_new(d, "devices", a ? a : json_null());
    }
    r = sq_audit_addj(q, now, actor, "campaign.create", subj, d, err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = cid;
    return r;
}

/* c->targeted and c->counts of a campaign read by campaign_row. */
static vouch_store_rc campaign_counts(sq_store *q, vouch_store_campaign *c, char *err, size_t n)
{
    vouch_store_rc r = VOUCH_STORE_OK;
    int64_t v = 0;
    const char *sql =
        c->target == VOUCH_CAMPAIGN_ALL
            ? "SELECT count(*) FROM devices INDEXED BY device_account_id WHERE account_id = ?"
        : c->target == VOUCH_CAMPAIGN_FAMILY
            ? "SELECT count(*) FROM devices INDEXED BY device_family WHERE family_id = ?"
            : "SELECT count(*) FROM campaign_targets WHERE campaign_id = ?";
    int64_t key = c->target == VOUCH_CAMPAIGN_ALL      ? c->account_id
                  : c->target == VOUCH_CAMPAIGN_FAMILY ? c->family_id
                                                       : c->id;
    if (sq_lookup_int(q, sql, key, "campaign count", &v, &r, err, n) < 0)
        return r;
    c->targeted = (uint64_t)v;
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT state, count(*) FROM campaign_devices WHERE campaign_id = ?"
                     " GROUP BY state",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "campaign count", err, n);
    sqlite3_bind_int64(st, 1, c->id);
    uint64_t reported = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int state = sqlite3_column_int(st, 0);
        uint64_t k = (uint64_t)sqlite3_column_int64(st, 1);
        if (state > 0 && state < VOUCH_UPDATE_STATES) {
            c->counts[state] = k;
            reported += k;
        }
    }
    if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "campaign count", err, n);
    sq_done(st);
    /* a device reports only in a campaign that targets it; one that left
     * the family since is counted where it reported */
    c->counts[VOUCH_UPDATE_PENDING] = c->targeted > reported ? c->targeted - reported : 0;
    return r;
}

vouch_store_rc sq_campaign_get(vouch_store *s, int64_t id, vouch_store_campaign *out, char *err,
                               size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " CAMPAIGN_COLS " FROM campaigns c JOIN releases r"
                     " ON r.id = c.release_id WHERE c.id = ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "campaign get", err, n);
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_ROW)
        campaign_row(st, out);
    else if (rc == SQLITE_DONE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no campaign %" PRId64, id);
    else
        r = sq_dberr(q, rc, "campaign get", err, n);
    sq_done(st);
    if (r == VOUCH_STORE_OK)
        r = campaign_counts(q, out, err, n);
    return r;
}

vouch_store_rc sq_campaign_list(vouch_store *s, int64_t account_id, vouch_store_campaign_cb cb,
                                void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " CAMPAIGN_COLS " FROM campaigns c INDEXED BY campaign_account"
                     " JOIN releases r ON r.id = c.release_id WHERE c.account_id = ?"
                     " ORDER BY c.id",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "campaign list", err, n);
    sqlite3_bind_int64(st, 1, account_id);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_campaign c;
        campaign_row(st, &c);
        if (cb(ctx, &c) != 0) {
            r = stopped(err, n);
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "campaign list", err, n);
    sq_done(st);
    return r;
}

vouch_store_rc sq_campaign_set_status(vouch_store *s, int64_t id, vouch_campaign_status status,
                                      const char *actor, char *err, size_t n)
{
    static const char *const words[] = {"", "resume", "pause", "finish"};
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    int64_t was = 0;
    int f = sq_lookup_int(q, "SELECT status FROM campaigns WHERE id = ?", id, "campaign status", &was,
                    &r, err, n);
    if (f == 0)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no campaign %" PRId64, id);
    if (f != 1)
        return sq_wend(q, r, err, n);
    if (was == (int64_t)status)
        return sq_wend(q, VOUCH_STORE_OK, err, n);
    if (was == VOUCH_CAMPAIGN_FINISHED)
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_ARG,
                                           "campaign %" PRId64 " is finished", id),
                       err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "campaign status", err, n), err, n);
    sqlite3_bind_int(st, 1, (int)status);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "campaign status", err, n), err, n);
    char subj[64], action[32];
    snprintf(subj, sizeof subj, "campaign=%" PRId64, id);
    snprintf(action, sizeof action, "campaign.%s", words[status]);
    r = sq_audit_addj(q, now, actor, action, subj, json_pack("{s:I}", "id", (json_int_t)id), err,
                      n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_campaign_devices(vouch_store *s, int64_t id, vouch_store_campaign_device_cb cb,
                                   void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    vouch_store_rc r = VOUCH_STORE_OK;
    int64_t target = 0;
    int f = sq_lookup_int(q, "SELECT target FROM campaigns WHERE id = ?", id, "campaign devices",
                    &target, &r, err, n);
    if (f == 0)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no campaign %" PRId64, id);
    if (f != 1)
        return r;
    const char *sql =
        target == VOUCH_CAMPAIGN_DEVICES
            ? "SELECT t.device, d.device_id, coalesce(cd.state, 0), coalesce(cd.detail, ''),"
              " coalesce(cd.updated_at, 0), f.version FROM campaign_targets t"
              " JOIN devices d ON d.id = t.device"
              " LEFT JOIN campaign_devices cd ON cd.campaign_id = t.campaign_id"
              " AND cd.device = t.device"
              " LEFT JOIN device_firmware f ON f.device = t.device"
              " WHERE t.campaign_id = ? ORDER BY t.device"
            : "SELECT cd.device, d.device_id, cd.state, cd.detail, cd.updated_at, f.version"
              " FROM campaign_devices cd JOIN devices d ON d.id = cd.device"
              " LEFT JOIN device_firmware f ON f.device = cd.device"
              " WHERE cd.campaign_id = ? ORDER BY cd.device";
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "campaign devices", err, n);
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_campaign_device d = {
            .device_row = sqlite3_column_int64(st, 0),
            .device_id = (const char *)sqlite3_column_text(st, 1),
            .state = (vouch_update_state)sqlite3_column_int(st, 2),
            .detail = (const char *)sqlite3_column_text(st, 3),
            .updated_at = sqlite3_column_int64(st, 4),
            .version = (const char *)sqlite3_column_text(st, 5),
        };
        if (!d.device_id)
            d.device_id = "";
        if (!d.detail)
            d.detail = "";
        if (cb(ctx, &d) != 0) {
            r = stopped(err, n);
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "campaign devices", err, n);
    sq_done(st);
    return r;
}

/* ---- what a device is offered --------------------------------------------------------- */

/* Campaign c targets the device: ?1 its account, ?2 its family (0: none,
 * which no campaign names), ?3 its row id. */
#define TARGETS_DEVICE                                                                     \
    " c.account_id = ?1 AND (c.target = 1 OR (c.target = 2 AND c.family_id = ?2) OR"         \
    " (c.target = 3 AND EXISTS (SELECT 1 FROM campaign_targets t"                          \
    " WHERE t.campaign_id = c.id AND t.device = ?3)))"

static void bind_query(sqlite3_stmt *st, const vouch_store_update_query *uq)
{
    sqlite3_bind_int64(st, 1, uq->account_id);
    sqlite3_bind_int64(st, 2, uq->family_id);
    sqlite3_bind_int64(st, 3, uq->device_row);
}

vouch_store_rc sq_update_find(vouch_store *s, const vouch_store_update_query *uq,
                              vouch_store_campaign *c, vouch_store_release *rel, char *err,
                              size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " CAMPAIGN_COLS ", " RELEASE_COLS " FROM campaigns c"
                     " INDEXED BY campaign_account JOIN releases r ON r.id = c.release_id"
                     " LEFT JOIN fw_keys k ON k.account_id = r.account_id"
                     " AND k.keyhash = r.keyhash"
                     " WHERE c.status = 1 AND" TARGETS_DEVICE
                     " AND r.version <> ?4 AND r.sec_cnt >= ?5"
                     " AND NOT EXISTS (SELECT 1 FROM campaign_devices cd"
                     " WHERE cd.campaign_id = c.id AND cd.device = ?3 AND cd.state IN (4, 5, 6))"
                     " ORDER BY c.id DESC LIMIT 1",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "update lookup", err, n);
    bind_query(st, uq);
    sqlite3_bind_text(st, 4, uq->current_version ? uq->current_version : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, uq->sec_cnt);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_ROW) {
        campaign_row(st, c);
        release_row(st, CAMPAIGN_NCOLS, rel);
    } else if (rc == SQLITE_DONE) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no update for device %" PRId64,
                             uq->device_row);
    } else {
        r = sq_dberr(q, rc, "update lookup", err, n);
    }
    sq_done(st);
    return r;
}

vouch_store_rc sq_update_targets(vouch_store *s, const vouch_store_update_query *uq,
                                 int64_t release_id, int64_t campaign_id, int *yes, char *err,
                                 size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     release_id ? "SELECT 1 FROM campaigns c INDEXED BY campaign_release"
                                  " WHERE c.release_id = ?4 AND c.status = 1 AND" TARGETS_DEVICE
                                  " LIMIT 1"
                                : "SELECT 1 FROM campaigns c WHERE c.id = ?4 AND" TARGETS_DEVICE,
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "update target check", err, n);
    bind_query(st, uq);
    sqlite3_bind_int64(st, 4, release_id ? release_id : campaign_id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_dberr(q, rc, "update target check", err, n);
    *yes = rc == SQLITE_ROW;
    return VOUCH_STORE_OK;
}

vouch_store_rc sq_update_report(vouch_store *s, int64_t campaign_id, int64_t device_row,
                                vouch_update_state state, const char *detail, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "INSERT INTO campaign_devices(campaign_id, device, state, detail, updated_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(campaign_id, device) DO UPDATE"
                     " SET state = ?3, detail = ?4, updated_at = ?5",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "update report", err, n), err, n);
    sqlite3_bind_int64(st, 1, campaign_id);
    sqlite3_bind_int64(st, 2, device_row);
    sqlite3_bind_int(st, 3, (int)state);
    sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                             "no campaign %" PRId64 " or no device %" PRId64, campaign_id,
                             device_row);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "update report", err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_device_fw_report(vouch_store *s, int64_t device_row, const char *version,
                                   uint32_t sec_cnt, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    /* a device asks for updates often and rarely changes: read first, and
     * write (a durable commit) only on a change */
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT version, sec_cnt FROM device_firmware WHERE device = ?", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "device firmware", err, n);
    sqlite3_bind_int64(st, 1, device_row);
    rc = sqlite3_step(st);
    int same = rc == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(st, 0), version) == 0 &&
               (uint32_t)sqlite3_column_int64(st, 1) == sec_cnt;
    sq_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_dberr(q, rc, "device firmware", err, n);
    if (same)
        return VOUCH_STORE_OK;
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    rc = sq_prep(q,
                 "INSERT INTO device_firmware(device, version, sec_cnt, reported_at)"
                 " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(device) DO UPDATE"
                 " SET version = ?2, sec_cnt = ?3, reported_at = ?4",
                 &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "device firmware", err, n), err, n);
    sqlite3_bind_int64(st, 1, device_row);
    sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sec_cnt);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT_FOREIGNKEY) /* unknown device: skipped */
        r = sq_dberr(q, rc, "device firmware", err, n);
    return sq_wend(q, r, err, n);
}
