/*
 * The SQLite backend's accounts, device families and devices (schema 2;
 * docs/storage.md). Every admin write commits with its audit entry; the
 * last-seen updates of authentications are batched (device_touch) and not
 * audited.
 */
#include "store/sqlite_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- accounts ------------------------------------------------------------------- */

vouch_store_rc sq_account_create(vouch_store *s, const char *name, const char *actor,
                                 int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q, "INSERT INTO accounts(name, created_at) VALUES(?, ?)", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "account create", err, n), err, n);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS, "an account named \"%s\" exists",
                             name);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "account create", err, n);
    if (r != VOUCH_STORE_OK)
        return sq_wend(q, r, err, n);
    int64_t aid = sqlite3_last_insert_rowid(q->db);
    char subj[160];
    snprintf(subj, sizeof subj, "account=%" PRId64, aid);
    r = sq_audit_addj(q, now, actor, "account.create", subj,
                      json_pack("{s:I,s:s}", "id", (json_int_t)aid, "name", name), err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = aid;
    return r;
}

vouch_store_rc sq_account_get(vouch_store *s, const char *name, int64_t *id, char *err,
                              size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "SELECT id FROM accounts WHERE name = ?", &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "account get", err, n);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no account named \"%s\"", name);
    else
        r = sq_dberr(q, rc, "account get", err, n);
    sq_done(st);
    return r;
}

vouch_store_rc sq_account_list(vouch_store *s, vouch_store_account_cb cb, void *ctx, char *err,
                               size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT a.id, a.name, a.created_at,"
                     " (SELECT count(*) FROM families f WHERE f.account_id = a.id),"
                     " (SELECT count(*) FROM devices d INDEXED BY device_account_id"
                     "  WHERE d.account_id = a.id)"
                     " FROM accounts a ORDER BY a.name",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "account list", err, n);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_account_info a = {
            .id = sqlite3_column_int64(st, 0),
            .name = (const char *)sqlite3_column_text(st, 1),
            .created_at = sqlite3_column_int64(st, 2),
            .families = (uint64_t)sqlite3_column_int64(st, 3),
            .devices = (uint64_t)sqlite3_column_int64(st, 4),
        };
        if (cb(ctx, &a) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "account list", err, n);
    sq_done(st);
    return r;
}

/* The first column (an integer) of the row `sql` finds for id: 1 with *v,
 * 0 when there is no such row, -1 with *r set on a database error. */
int sq_lookup_int(sq_store *q, const char *sql, int64_t id, const char *what, int64_t *v,
                  vouch_store_rc *r, char *err, size_t n)
{
    sqlite3_stmt *st;
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK) {
        *r = sq_dberr(q, rc, what, err, n);
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sq_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        *r = sq_dberr(q, rc, what, err, n);
        return -1;
    }
    return rc == SQLITE_ROW;
}

/* 0 when the account exists; -1 with *r set (E_NOT_FOUND, or a database
 * error) when not. */
int sq_need_account(sq_store *q, int64_t id, vouch_store_rc *r, char *err, size_t n)
{
    int64_t v;
    int f = sq_lookup_int(q, "SELECT 1 FROM accounts WHERE id = ?", id, "account lookup", &v, r, err,
                       n);
    if (f == 0)
        *r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no account %" PRId64, id);
    return f == 1 ? 0 : -1;
}

static void hex32(const uint8_t h[32], char out[65])
{
    vouch_store_hex(h, 32, out);
}

/* ---- families ------------------------------------------------------------------- */

vouch_store_rc sq_family_insert(vouch_store *s, const vouch_store_family *in, const char *actor,
                                int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (sq_need_account(q, in->account_id, &r, err, n) != 0)
        return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "INSERT INTO families(account_id, cert_der, sha256, subject, ours, status,"
                     " verify_code, code_expires, created_at, verified_at)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?)",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "family insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_blob(st, 2, in->cert_der, (int)in->cert_der_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, in->sha256, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in->subject, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, in->ours);
    sqlite3_bind_int(st, 6, (int)in->status);
    if (in->verify_code)
        sqlite3_bind_text(st, 7, in->verify_code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, in->code_expires);
    sqlite3_bind_int64(st, 9, now);
    sqlite3_bind_int64(st, 10, in->status == VOUCH_FAMILY_VERIFIED ? now : 0);
    rc = sqlite3_step(st);
    sq_done(st);
    char fp[65];
    hex32(in->sha256, fp);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                             "the CA certificate %.16s... is already a registered family", fp);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "family insert", err, n);
    if (r != VOUCH_STORE_OK)
        return sq_wend(q, r, err, n);
    int64_t fid = sqlite3_last_insert_rowid(q->db);
    char subj[160];
    snprintf(subj, sizeof subj, "family=%" PRId64, fid);
    r = sq_audit_addj(q, now, actor, "family.enroll", subj,
                      json_pack("{s:I,s:I,s:s,s:s,s:b,s:s}", "id", (json_int_t)fid, "account_id",
                                (json_int_t)in->account_id, "sha256", fp, "subject",
                                in->subject, "ours", in->ours,
                                "status", in->status == VOUCH_FAMILY_VERIFIED ? "verified"
                                                                              : "pending"),
                      err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = fid;
    return r;
}

#define FAMILY_COLS                                                                        \
    "f.id, f.account_id, a.name, f.cert_der, f.sha256, f.subject, f.ours, f.status,"       \
    " f.verify_code, f.code_expires, f.created_at, f.verified_at"

/* A row of FAMILY_COLS as a view (pointers into the statement). */
static void family_view(sqlite3_stmt *st, vouch_store_family *f)
{
    memset(f, 0, sizeof *f);
    f->id = sqlite3_column_int64(st, 0);
    f->account_id = sqlite3_column_int64(st, 1);
    f->account = (char *)sqlite3_column_text(st, 2);
    f->cert_der = (uint8_t *)sqlite3_column_blob(st, 3);
    f->cert_der_len = (size_t)sqlite3_column_bytes(st, 3);
    if (sqlite3_column_bytes(st, 4) == 32)
        memcpy(f->sha256, sqlite3_column_blob(st, 4), 32);
    f->subject = (char *)sqlite3_column_text(st, 5);
    f->ours = sqlite3_column_int(st, 6);
    f->status = (vouch_family_status)sqlite3_column_int(st, 7);
    f->verify_code = (char *)sqlite3_column_text(st, 8);
    f->code_expires = sqlite3_column_int64(st, 9);
    f->created_at = sqlite3_column_int64(st, 10);
    f->verified_at = sqlite3_column_int64(st, 11);
}

static vouch_store_rc family_copy(const vouch_store_family *v, vouch_store_family *out,
                                  char *err, size_t n)
{
    size_t la = v->account ? strlen(v->account) + 1 : 0, ls = v->subject ? strlen(v->subject) + 1 : 0,
           lc = v->verify_code ? strlen(v->verify_code) + 1 : 0;
    char *mem = malloc(la + ls + lc + v->cert_der_len + 1), *p = mem;
    if (!mem)
        FAIL(VOUCH_STORE_E_NOMEM, "out of memory");
    *out = *v;
    out->_mem = mem;
    out->account = sq_dup_into(&p, v->account, la ? la - 1 : 0, 1);
    out->subject = sq_dup_into(&p, v->subject, ls ? ls - 1 : 0, 1);
    out->verify_code = sq_dup_into(&p, v->verify_code, lc ? lc - 1 : 0, 1);
    out->cert_der = (uint8_t *)sq_dup_into(&p, v->cert_der, v->cert_der_len, 0);
    return VOUCH_STORE_OK;
}

vouch_store_rc sq_family_get(vouch_store *s, int64_t id, const uint8_t *sha256,
                             vouch_store_family *out, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     sha256 ? "SELECT " FAMILY_COLS " FROM families f JOIN accounts a"
                              " ON a.id = f.account_id WHERE f.sha256 = ?"
                            : "SELECT " FAMILY_COLS " FROM families f JOIN accounts a"
                              " ON a.id = f.account_id WHERE f.id = ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "family get", err, n);
    if (sha256)
        sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    vouch_store_rc r;
    if (rc == SQLITE_ROW) {
        vouch_store_family v;
        family_view(st, &v);
        r = family_copy(&v, out, err, n);
    } else if (rc == SQLITE_DONE) {
        r = sha256 ? vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                                      "no family with that certificate")
                   : vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no family %" PRId64, id);
    } else {
        r = sq_dberr(q, rc, "family get", err, n);
    }
    sq_done(st);
    return r;
}

/* The status of row id of `table` ("families" or "devices"): 0 with
 * E_NOT_FOUND in *r when there is none, -1 on a database error. */
static int row_status(sq_store *q, const char *table, int64_t id, vouch_store_rc *r, char *err,
                      size_t n)
{
    int fam = strcmp(table, "families") == 0;
    int64_t v = 0;
    int f = sq_lookup_int(q, fam ? "SELECT status FROM families WHERE id = ?"
                              : "SELECT status FROM devices WHERE id = ?",
                       id, fam ? "family lookup" : "device lookup", &v, r, err, n);
    if (f == 0)
        *r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no %s %" PRId64,
                              fam ? "family" : "device", id);
    return f < 0 ? -1 : (int)v;
}

vouch_store_rc sq_family_set_code(vouch_store *s, int64_t id, const char *code, int64_t expires,
                                  const char *actor, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    int stt = row_status(q, "families", id, &r, err, n);
    if (stt <= 0)
        return sq_wend(q, r, err, n);
    if (stt != VOUCH_FAMILY_PENDING)
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_ARG,
                                           "family %" PRId64 " is verified already", id),
                       err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "UPDATE families SET verify_code = ?, code_expires = ? WHERE id = ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "family code", err, n), err, n);
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, expires);
    sqlite3_bind_int64(st, 3, id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "family code", err, n), err, n);
    char subj[160];
    snprintf(subj, sizeof subj, "family=%" PRId64, id);
    r = sq_audit_addj(q, now, actor, "family.code", subj,
                      json_pack("{s:I,s:I}", "id", (json_int_t)id, "expires", (json_int_t)expires),
                      err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_family_verify(vouch_store *s, int64_t id, const char *actor, char *err,
                                size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    int stt = row_status(q, "families", id, &r, err, n);
    if (stt <= 0 || stt == VOUCH_FAMILY_VERIFIED)
        return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "UPDATE families SET status = 2, verify_code = NULL, code_expires = 0,"
                     " verified_at = ? WHERE id = ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "family verify", err, n), err, n);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "family verify", err, n), err, n);
    char subj[160];
    snprintf(subj, sizeof subj, "family=%" PRId64, id);
    r = sq_audit_addj(q, now, actor, "family.verify", subj,
                      json_pack("{s:I}", "id", (json_int_t)id), err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_family_list(vouch_store *s, int64_t account_id, vouch_store_family_cb cb,
                              void *ctx, char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " FAMILY_COLS " FROM families f JOIN accounts a"
                     " ON a.id = f.account_id WHERE ?1 = 0 OR f.account_id = ?1 ORDER BY f.id",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "family list", err, n);
    sqlite3_bind_int64(st, 1, account_id);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_family f;
        family_view(st, &f);
        if (cb(ctx, &f) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "family list", err, n);
    sq_done(st);
    return r;
}

/* ---- devices ---------------------------------------------------------------------- */

static const char *status_word(vouch_device_status st)
{
    return st == VOUCH_DEVICE_ACTIVE ? "active" : st == VOUCH_DEVICE_DISABLED ? "disabled"
                                                                             : "blocked";
}

/* The family's account (0 when there is no such family; -1). */
static int64_t family_account(sq_store *q, int64_t id, vouch_store_rc *r, char *err, size_t n)
{
    int64_t v = 0;
    int f = sq_lookup_int(q, "SELECT account_id FROM families WHERE id = ?", id, "family lookup", &v,
                       r, err, n);
    return f < 0 ? -1 : v;
}

vouch_store_rc sq_device_insert(vouch_store *s, const vouch_store_device *in, const char *action,
                                const char *actor, int64_t *id, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (sq_need_account(q, in->account_id, &r, err, n) != 0)
        return sq_wend(q, r, err, n);
    if (in->family_id) {
        int64_t acc = family_account(q, in->family_id, &r, err, n);
        if (acc < 0)
            return sq_wend(q, r, err, n);
        if (acc != in->account_id)
            return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND,
                                               "account %" PRId64 " has no family %" PRId64,
                                               in->account_id, in->family_id),
                           err, n);
    }
    char fp[65] = "";
    sqlite3_stmt *st;
    if (in->cert_der) {
        /* say which conflict it is: the id or the certificate */
        hex32(in->cert_sha256, fp);
        int rc = sq_prep(q, "SELECT 1 FROM devices WHERE cert_sha256 = ?", &st);
        if (rc != SQLITE_OK)
            return sq_wend(q, sq_dberr(q, rc, "device insert", err, n), err, n);
        sqlite3_bind_blob(st, 1, in->cert_sha256, 32, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sq_done(st);
        if (rc == SQLITE_ROW)
            return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                                               "certificate %.16s... is enrolled already", fp),
                           err, n);
        if (rc != SQLITE_DONE)
            return sq_wend(q, sq_dberr(q, rc, "device insert", err, n), err, n);
    }
    int rc = sq_prep(q,
                     "INSERT INTO devices(account_id, device_id, family_id, cert_der, cert_sha256,"
                     " status, created_at) VALUES(?,?,?,?,?,?,?)",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "device insert", err, n), err, n);
    sqlite3_bind_int64(st, 1, in->account_id);
    sqlite3_bind_text(st, 2, in->device_id, -1, SQLITE_STATIC);
    if (in->family_id)
        sqlite3_bind_int64(st, 3, in->family_id);
    if (in->cert_der) {
        sqlite3_bind_blob(st, 4, in->cert_der, (int)in->cert_der_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, in->cert_sha256, 32, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 6, (int)in->status);
    sqlite3_bind_int64(st, 7, now);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        r = vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                             "the account already has a device \"%s\"", in->device_id);
    else if (rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "device insert", err, n);
    if (r != VOUCH_STORE_OK)
        return sq_wend(q, r, err, n);
    int64_t did = sqlite3_last_insert_rowid(q->db);
    char subj[160];
    snprintf(subj, sizeof subj, "device=%" PRId64, did);
    json_t *d = json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)did, "account_id",
                          (json_int_t)in->account_id, "device_id", in->device_id, "status",
                          status_word(in->status));
    if (d && in->family_id)
        json_object_set_new(d, "family_id", json_integer(in->family_id));
    if (d && *fp)
        json_object_set_new(d, "cert_sha256", json_string(fp));
    r = sq_audit_addj(q, now, actor, action, subj, d, err, n);
    r = sq_wend(q, r, err, n);
    if (r == VOUCH_STORE_OK && id)
        *id = did;
    return r;
}

#define DEVICE_COLS                                                                        \
    "d.id, d.account_id, a.name, d.device_id, d.family_id, d.cert_der, d.cert_sha256,"     \
    " d.status, d.created_at, d.last_seen"

static void device_view(sqlite3_stmt *st, vouch_store_device *d, int with_der)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    d->account_id = sqlite3_column_int64(st, 1);
    d->account = (char *)sqlite3_column_text(st, 2);
    d->device_id = (char *)sqlite3_column_text(st, 3);
    d->family_id = sqlite3_column_int64(st, 4);
    if (sqlite3_column_bytes(st, 6) == 32) {
        d->has_cert = 1;
        memcpy(d->cert_sha256, sqlite3_column_blob(st, 6), 32);
        if (with_der) {
            d->cert_der = (uint8_t *)sqlite3_column_blob(st, 5);
            d->cert_der_len = (size_t)sqlite3_column_bytes(st, 5);
        }
    }
    d->status = (vouch_device_status)sqlite3_column_int(st, 7);
    d->created_at = sqlite3_column_int64(st, 8);
    d->last_seen = sqlite3_column_int64(st, 9);
}

vouch_store_rc sq_device_get(vouch_store *s, int64_t account_id, const char *device_id,
                             int64_t id, const uint8_t *sha256, vouch_store_device *out,
                             char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    const char *sql =
        device_id ? "SELECT " DEVICE_COLS " FROM devices d INDEXED BY device_account_id"
                    " JOIN accounts a ON a.id = d.account_id"
                    " WHERE d.account_id = ? AND d.device_id = ?"
        : sha256  ? "SELECT " DEVICE_COLS " FROM devices d INDEXED BY device_cert"
                    " JOIN accounts a ON a.id = d.account_id WHERE d.cert_sha256 = ?"
                    " AND d.cert_sha256 IS NOT NULL"
                  : "SELECT " DEVICE_COLS " FROM devices d"
                    " JOIN accounts a ON a.id = d.account_id WHERE d.id = ?";
    int rc = sq_prep(q, sql, &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "device get", err, n);
    if (device_id) {
        sqlite3_bind_int64(st, 1, account_id);
        sqlite3_bind_text(st, 2, device_id, -1, SQLITE_STATIC);
    } else if (sha256) {
        sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(st, 1, id);
    }
    rc = sqlite3_step(st);
    vouch_store_rc r = VOUCH_STORE_OK;
    if (rc == SQLITE_ROW) {
        vouch_store_device v;
        device_view(st, &v, 1);
        size_t la = v.account ? strlen(v.account) + 1 : 1, ld = strlen(v.device_id) + 1;
        char *mem = malloc(la + ld + v.cert_der_len + 1), *p = mem;
        if (!mem) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_NOMEM, "out of memory");
        } else {
            *out = v;
            out->_mem = mem;
            out->account = sq_dup_into(&p, v.account ? v.account : "", la - 1, 1);
            out->device_id = sq_dup_into(&p, v.device_id, ld - 1, 1);
            out->cert_der = (uint8_t *)sq_dup_into(&p, v.cert_der, v.cert_der_len, 0);
        }
    } else if (rc == SQLITE_DONE) {
        r = vouch_store_fail(err, n, VOUCH_STORE_E_NOT_FOUND, "no such device");
    } else {
        r = sq_dberr(q, rc, "device get", err, n);
    }
    sq_done(st);
    return r;
}

vouch_store_rc sq_device_set_status(vouch_store *s, int64_t id, vouch_device_status status,
                                    const char *actor, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    int was = row_status(q, "devices", id, &r, err, n);
    if (was <= 0)
        return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q, "UPDATE devices SET status = ? WHERE id = ?", &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "device status", err, n), err, n);
    sqlite3_bind_int(st, 1, (int)status);
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st);
    sq_done(st);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "device status", err, n), err, n);
    char subj[160], action[32];
    snprintf(subj, sizeof subj, "device=%" PRId64, id);
    snprintf(action, sizeof action, "device.%s",
             status == VOUCH_DEVICE_ACTIVE ? "enable"
             : status == VOUCH_DEVICE_DISABLED ? "disable"
                                               : "block");
    r = sq_audit_addj(q, now, actor, action, subj,
                      json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "from",
                                status_word((vouch_device_status)was), "to",
                                status_word(status)),
                      err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_device_set_cert(vouch_store *s, int64_t id, int64_t family_id,
                                  const uint8_t *der, size_t len, const uint8_t sha256[32],
                                  const uint8_t *expect_sha256, int64_t expect_family,
                                  const char *actor, char *err, size_t n)
{
    sq_store *q = Q(s);
    int64_t now = vouch_store_now(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    if (row_status(q, "devices", id, &r, err, n) <= 0)
        return sq_wend(q, r, err, n);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "UPDATE devices SET cert_der = ?, cert_sha256 = ?, family_id = ?"
                     " WHERE id = ? AND cert_sha256 IS ? AND family_id IS ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "device certificate", err, n), err, n);
    sqlite3_bind_blob(st, 1, der, (int)len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, sha256, 32, SQLITE_STATIC);
    if (family_id)
        sqlite3_bind_int64(st, 3, family_id);
    sqlite3_bind_int64(st, 4, id);
    if (expect_sha256)
        sqlite3_bind_blob(st, 5, expect_sha256, 32, SQLITE_STATIC);
    if (expect_family)
        sqlite3_bind_int64(st, 6, expect_family);
    rc = sqlite3_step(st);
    int changes = sqlite3_changes(q->db);
    sq_done(st);
    char fp[65];
    hex32(sha256, fp);
    if (rc == SQLITE_DONE && changes == 0)
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                                           "device %" PRId64 " changed meanwhile (another "
                                           "certificate or family)",
                                           id),
                       err, n);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return sq_wend(q, vouch_store_fail(err, n, VOUCH_STORE_E_EXISTS,
                                           "certificate %.16s... belongs to another device", fp),
                       err, n);
    if (rc != SQLITE_DONE)
        return sq_wend(q, sq_dberr(q, rc, "device certificate", err, n), err, n);
    char subj[160];
    snprintf(subj, sizeof subj, "device=%" PRId64, id);
    r = sq_audit_addj(q, now, actor, "device.certificate", subj,
                      json_pack("{s:I,s:I,s:s}", "id", (json_int_t)id, "family_id",
                                (json_int_t)family_id, "cert_sha256", fp),
                      err, n);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_device_touch(vouch_store *s, const int64_t *ids, const int64_t *times,
                               size_t count, char *err, size_t n)
{
    sq_store *q = Q(s);
    vouch_store_rc r = sq_wbegin(q, err, n);
    if (r != VOUCH_STORE_OK)
        return r;
    sqlite3_stmt *st;
    int rc = sq_prep(q, "UPDATE devices SET last_seen = ?1 WHERE id = ?2 AND last_seen < ?1",
                     &st);
    if (rc != SQLITE_OK)
        return sq_wend(q, sq_dberr(q, rc, "device last seen", err, n), err, n);
    for (size_t i = 0; i < count && r == VOUCH_STORE_OK; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, times[i]);
        sqlite3_bind_int64(st, 2, ids[i]);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = sq_dberr(q, rc, "device last seen", err, n);
    }
    sq_done(st);
    return sq_wend(q, r, err, n);
}

vouch_store_rc sq_device_list(vouch_store *s, int64_t account_id, int64_t after_id,
                              unsigned limit, int with_der, vouch_store_device_cb cb, void *ctx,
                              char *err, size_t n)
{
    sq_store *q = Q(s);
    sqlite3_stmt *st;
    int rc = sq_prep(q,
                     "SELECT " DEVICE_COLS " FROM devices d JOIN accounts a"
                     " ON a.id = d.account_id WHERE d.account_id = ? AND d.id > ?"
                     " ORDER BY d.id LIMIT ?",
                     &st);
    if (rc != SQLITE_OK)
        return sq_dberr(q, rc, "device list", err, n);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int(st, 3, (int)limit);
    vouch_store_rc r = VOUCH_STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vouch_store_device d;
        device_view(st, &d, with_der);
        if (cb(ctx, &d) != 0) {
            r = vouch_store_fail(err, n, VOUCH_STORE_E_STOPPED, "stopped by callback");
            break;
        }
    }
    if (r == VOUCH_STORE_OK && rc != SQLITE_DONE)
        r = sq_dberr(q, rc, "device list", err, n);
    sq_done(st);
    return r;
}
