/*
 * The store (SQLite backend): schema and migrations, issuers, templates,
 * certificates, searches with keyset cursors, the CRL listing, sync,
 * dashboard counts, transactions, admin tokens, the audit chain, and the
 * firmware tables (keys, releases read back by range, campaigns).
 *
 * Negative cases are the majority: duplicate serials, unknown issuers,
 * double revocations, a tampered audit chain, a newer schema, a damaged
 * file, wrong and revoked tokens, misuse of transactions. Every query the
 * API runs is checked with EXPLAIN QUERY PLAN to never scan a table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite.h"
#include "store/store_impl.h" /* vouch_store_audit_hash, for the forger */

#define OK VOUCH_STORE_OK

static char dir[256];
static int db_counter;
static int64_t clock_now = 1700000000;
static char err[512];

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_now;
}

static void db_path(char *out, size_t size)
{
    snprintf(out, size, "%s/t%d.db", dir, db_counter++);
}

static vouch_store *open_new(char *path, size_t size)
{
    char local[300];
    if (!path) {
        path = local;
        size = sizeof local;
    }
    db_path(path, size);
    vouch_store *s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_set_clock(s, test_clock, NULL);
    return s;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "raw_exec: %s: %s\n", sql, msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static int raw_exec_rc(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static uint8_t fake_der[64] = {0x30, 0x3e};

static int64_t add_issuer(vouch_store *s, const char *name)
{
    vouch_store_issuer is = {.name = (char *)name, .kind = VOUCH_ISSUER_ISSUING,
                             .cert_der = fake_der, .cert_der_len = sizeof fake_der,
                             .key_pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n"};
    int64_t id = 0;
    assert_int_equal(vouch_store_issuer_insert(s, &is, "test", &id, err, sizeof err), OK);
    assert_true(id > 0);
    return id;
}

static void make_cert(vouch_store_cert *c, int64_t issuer, uint32_t n, uint8_t *der, size_t der_len)
{
    memset(c, 0, sizeof *c);
    c->issuer_id = issuer;
    c->serial_len = 16;
    for (int i = 0; i < 16; i++)
        c->serial[i] = (uint8_t)(0xa0 + i);
    c->serial[12] = (uint8_t)(n >> 24);
    c->serial[13] = (uint8_t)(n >> 16);
    c->serial[14] = (uint8_t)(n >> 8);
    c->serial[15] = (uint8_t)n;
    c->subject = "CN=device";
    c->device_id = "dev-0";
    c->template_name = "device";
    c->not_before = clock_now - 10;
    c->not_after = clock_now + 1000;
    c->issued_at = clock_now;
    memset(der, 0x42, der_len);
    memcpy(der, &n, sizeof n);
    c->der = der;
    c->der_len = der_len;
}

static int64_t add_cert(vouch_store *s, int64_t issuer, uint32_t n)
{
    vouch_store_cert c;
    uint8_t der[80];
    make_cert(&c, issuer, n, der, sizeof der);
    int64_t id = 0;
    assert_int_equal(vouch_store_cert_insert(s, &c, "test", &id, err, sizeof err), OK);
    return id;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vouch-store-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- open, schema, damage ---------------------------------------------- */

static void test_open_creates_schema_wal(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int v = 0;
    assert_int_equal(vouch_store_schema_version(s, &v, err, sizeof err), OK);
    assert_int_equal(v, VOUCH_STORE_SCHEMA_VERSION);
    assert_int_equal(vouch_store_check_integrity(s, err, sizeof err), OK);
    vouch_store_close(s);
    /* WAL is persistent in the file; reopening migrates nothing. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_close(s);
}

static void test_open_bad_arguments(void **state)
{
    (void)state;
    vouch_store *s = (vouch_store *)1;
    assert_int_equal(vouch_store_open_sqlite(NULL, &s, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_null(s);
    assert_int_equal(vouch_store_open_sqlite("", &s, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_open_sqlite("/tmp/x.db", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* a directory that does not exist */
    assert_int_equal(vouch_store_open_sqlite("/nonexistent-dir/x/y.db", &s, err, sizeof err),
                     VOUCH_STORE_E_IO);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-dir/x/y.db"));
    /* a directory itself */
    assert_int_not_equal(vouch_store_open_sqlite(dir, &s, err, sizeof err), OK);
    assert_null(s);
    /* err may be NULL */
    assert_int_equal(vouch_store_open_sqlite(NULL, &s, NULL, 0), VOUCH_STORE_E_ARG);
    vouch_store_close(NULL);
}

static void test_open_garbage_file(void **state)
{
    (void)state;
    char path[300];
    db_path(path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8192; i++)
        fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    vouch_store *s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), VOUCH_STORE_E_CORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, "not a database"));
}

static void test_open_truncated_header(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    add_issuer(s, "ca");
    vouch_store_close(s);
    raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
    /* keep "SQLite format 3\0" but destroy the rest of the header */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 16, SEEK_SET);
    for (int i = 0; i < 84; i++)
        fputc(0xff, f);
    fclose(f);
    s = NULL;
    vouch_store_rc rc = vouch_store_open_sqlite(path, &s, err, sizeof err);
    assert_int_equal(rc, VOUCH_STORE_E_CORRUPT);
    assert_null(s);
}

static void test_damaged_pages_reported(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    for (uint32_t i = 0; i < 300; i++)
        add_cert(s, is, i);
    assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
    vouch_store_close(s);
    raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    /* scribble over the second half of the file, header intact */
    fseek(f, size / 2, SEEK_SET);
    for (long i = size / 2; i < size; i++)
        fputc((int)((i * 7) & 0xff), f);
    fclose(f);
    s = NULL;
    vouch_store_rc rc = vouch_store_open_sqlite(path, &s, err, sizeof err);
    if (rc == OK) {
        rc = vouch_store_check_integrity(s, err, sizeof err);
        vouch_store_close(s);
    }
    assert_int_equal(rc, VOUCH_STORE_E_CORRUPT);
    assert_true(strlen(err) > 0);
}

static void test_open_foreign_database(void **state)
{
    (void)state;
    char path[300];
    db_path(path, sizeof path);
    raw_exec(path, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)");
    vouch_store *s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), VOUCH_STORE_E_CORRUPT);
    assert_non_null(strstr(err, "not a vouch"));
    /* another application's id */
    db_path(path, sizeof path);
    raw_exec(path, "PRAGMA application_id = 1234; CREATE TABLE t(x)");
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), VOUCH_STORE_E_CORRUPT);
    assert_non_null(strstr(err, "another application"));
}

static void test_open_newer_schema_refused(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    vouch_store_close(s);
    raw_exec(path, "UPDATE schema_version SET version = 99");
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err),
                     VOUCH_STORE_E_SCHEMA_NEWER);
    assert_null(s);
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "newer"));
    /* the file was not touched: still version 99 */
    char sql[80];
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d",
             VOUCH_STORE_SCHEMA_VERSION);
    raw_exec(path, sql);
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_close(s);
    /* an emptied version table is damage, not version 0 */
    raw_exec(path, "DELETE FROM schema_version");
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), VOUCH_STORE_E_CORRUPT);
}

static void test_null_store_everywhere(void **state)
{
    (void)state;
    vouch_store_issuer is;
    vouch_store_template t;
    vouch_store_cert c;
    vouch_store_cursor cur = {0};
    vouch_store_cert_filter f = {0};
    vouch_store_counts cn;
    vouch_store_audit_report rep;
    char tok[VOUCH_TOKEN_LEN + 1];
    uint8_t serial[16] = {1}, fp[32] = {0};
    uint64_t u;
    int64_t i64;
    int v;
    assert_int_equal(vouch_store_schema_version(NULL, &v, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_begin(NULL, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_commit(NULL, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_get_by_name(NULL, "x", &is, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_template_get(NULL, "x", &t, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_get(NULL, 1, serial, 16, &c, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_get_by_fingerprint(NULL, fp, &c, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_revoke(NULL, 1, serial, 16, 0, "a", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_search(NULL, &f, &cur, 10, 0, NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_count(NULL, &f, &u, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_counts(NULL, &cn, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_token_create(NULL, "n", "a", tok, &i64, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_token_verify(NULL, "t", &i64, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_verify(NULL, &rep, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_append(NULL, "a", "x", "s", NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* clear functions are safe on zeroed records */
    memset(&c, 0, sizeof c);
    vouch_store_cert_clear(&c);
    vouch_store_cert_clear(NULL);
    vouch_store_issuer_clear(NULL);
    vouch_store_template_clear(NULL);
}

static void test_strerror_distinct(void **state)
{
    (void)state;
    for (int a = 0; a <= VOUCH_STORE_E_INTERNAL; a++) {
        assert_non_null(vouch_store_strerror((vouch_store_rc)a));
        for (int b = a + 1; b <= VOUCH_STORE_E_INTERNAL; b++)
            assert_string_not_equal(vouch_store_strerror((vouch_store_rc)a),
                                    vouch_store_strerror((vouch_store_rc)b));
    }
    assert_non_null(vouch_store_strerror((vouch_store_rc)999));
}

/* ---- issuers ------------------------------------------------------------ */

static int count_issuers(void *ctx, const vouch_store_issuer *is)
{
    assert_non_null(is->name);
    (*(int *)ctx)++;
    return 0;
}

static void test_issuers(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    vouch_store_issuer root = {.name = "root", .kind = VOUCH_ISSUER_ROOT, .cert_der = fake_der,
                               .cert_der_len = 10, .key_ref = "se:unix:/run/se.sock#3"};
    int64_t rid = 0, iid = 0;
    assert_int_equal(vouch_store_issuer_insert(s, &root, "admin", &rid, err, sizeof err), OK);
    vouch_store_issuer issuing = {.name = "devices", .kind = VOUCH_ISSUER_ISSUING,
                                  .parent_id = rid, .cert_der = fake_der, .cert_der_len = 20,
                                  .key_pem = "PEM"};
    assert_int_equal(vouch_store_issuer_insert(s, &issuing, "admin", &iid, err, sizeof err), OK);

    vouch_store_issuer got;
    assert_int_equal(vouch_store_issuer_get_by_name(s, "devices", &got, err, sizeof err), OK);
    assert_int_equal(got.id, iid);
    assert_int_equal(got.parent_id, rid);
    assert_int_equal(got.kind, VOUCH_ISSUER_ISSUING);
    assert_int_equal(got.cert_der_len, 20);
    assert_memory_equal(got.cert_der, fake_der, 20);
    assert_string_equal(got.key_pem, "PEM");
    assert_null(got.key_ref);
    assert_int_equal(got.created_at, clock_now);
    vouch_store_issuer_clear(&got);
    vouch_store_issuer_clear(&got); /* twice is fine */
    assert_int_equal(vouch_store_issuer_get_by_id(s, rid, &got, err, sizeof err), OK);
    assert_string_equal(got.name, "root");
    assert_string_equal(got.key_ref, "se:unix:/run/se.sock#3");
    assert_null(got.key_pem);
    vouch_store_issuer_clear(&got);
    int n = 0;
    assert_int_equal(vouch_store_issuer_list(s, count_issuers, &n, err, sizeof err), OK);
    assert_int_equal(n, 2);

    /* negatives */
    assert_int_equal(vouch_store_issuer_insert(s, &issuing, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "devices"));
    vouch_store_issuer bad = issuing;
    bad.name = "orphan";
    bad.parent_id = 999;
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    bad.parent_id = 0;
    bad.key_ref = "se:x#1"; /* both keys */
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    bad.key_ref = NULL;
    bad.key_pem = NULL; /* neither */
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    bad.key_pem = "PEM";
    bad.kind = (vouch_issuer_kind)9;
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    bad.kind = VOUCH_ISSUER_FAMILY;
    bad.cert_der_len = 0;
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    bad.cert_der_len = 5;
    bad.name = "tab\there";
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    bad.name = longname;
    assert_int_equal(vouch_store_issuer_insert(s, &bad, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_insert(s, NULL, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_get_by_name(s, "nope", &got, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_null(got._mem);
    assert_int_equal(vouch_store_issuer_get_by_name(s, "", &got, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_get_by_id(s, 12345, &got, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_issuer_get_by_id(s, -1, &got, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_list(s, NULL, NULL, err, sizeof err), VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

static int stop_at_first(void *ctx, const vouch_store_issuer *is)
{
    (void)ctx;
    (void)is;
    return 1;
}

static void test_crl_numbers(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = add_issuer(s, "a"), b = add_issuer(s, "b"), n = 0;
    for (int64_t i = 1; i <= 5; i++) {
        assert_int_equal(vouch_store_issuer_next_crl_number(s, a, &n, err, sizeof err), OK);
        assert_int_equal(n, i);
    }
    assert_int_equal(vouch_store_issuer_next_crl_number(s, b, &n, err, sizeof err), OK);
    assert_int_equal(n, 1);
    assert_int_equal(vouch_store_issuer_next_crl_number(s, 777, &n, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    assert_int_equal(vouch_store_issuer_next_crl_number(s, 0, &n, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_issuer_next_crl_number(s, a, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* a rolled-back group gives its number again: it was never used */
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    assert_int_equal(vouch_store_issuer_next_crl_number(s, a, &n, err, sizeof err), OK);
    assert_int_equal(n, 6);
    assert_int_equal(vouch_store_rollback(s, err, sizeof err), OK);
    assert_int_equal(vouch_store_issuer_next_crl_number(s, a, &n, err, sizeof err), OK);
    assert_int_equal(n, 6);
    assert_int_equal(vouch_store_issuer_list(s, stop_at_first, NULL, err, sizeof err),
                     VOUCH_STORE_E_STOPPED);
    vouch_store_close(s);
}

/* ---- templates ------------------------------------------------------------ */

static int collect_template_names(void *ctx, const vouch_store_template *t)
{
    char *buf = ctx;
    strcat(buf, t->name);
    strcat(buf, ",");
    return 0;
}

static void test_templates(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    assert_int_equal(vouch_store_template_put(s, "device", "{\"validity_days\":365}", "admin",
                                              err, sizeof err),
                     OK);
    assert_int_equal(vouch_store_template_put(s, "admin", "{}", "admin", err, sizeof err), OK);
    vouch_store_template t;
    assert_int_equal(vouch_store_template_get(s, "device", &t, err, sizeof err), OK);
    assert_string_equal(t.body, "{\"validity_days\":365}");
    assert_int_equal(t.created_at, clock_now);
    vouch_store_template_clear(&t);
    clock_now += 50;
    assert_int_equal(vouch_store_template_put(s, "device", "{\"validity_days\":30}", "admin",
                                              err, sizeof err),
                     OK);
    assert_int_equal(vouch_store_template_get(s, "device", &t, err, sizeof err), OK);
    assert_string_equal(t.body, "{\"validity_days\":30}");
    assert_int_equal(t.created_at, clock_now - 50);
    assert_int_equal(t.updated_at, clock_now);
    vouch_store_template_clear(&t);
    char names[64] = "";
    assert_int_equal(vouch_store_template_list(s, collect_template_names, names, err, sizeof err),
                     OK);
    assert_string_equal(names, "admin,device,");

    assert_int_equal(vouch_store_template_put(s, "x", "{\"a\":", "admin", err, sizeof err),
                     VOUCH_STORE_E_JSON);
    assert_non_null(strstr(err, "line"));
    assert_int_equal(vouch_store_template_put(s, "x", "[1,2]", "admin", err, sizeof err),
                     VOUCH_STORE_E_JSON);
    assert_int_equal(vouch_store_template_put(s, "x", "{\"a\":1,\"a\":2}", "admin", err,
                                              sizeof err),
                     VOUCH_STORE_E_JSON);
    assert_int_equal(vouch_store_template_put(s, "x", NULL, "admin", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_template_put(s, NULL, "{}", "admin", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_template_get(s, "x", &t, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_template_get(s, "device", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

/* ---- certificates ------------------------------------------------------------ */

static void test_cert_insert_get(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t is = add_issuer(s, "ca");
    vouch_store_cert c, got;
    uint8_t der[100];
    make_cert(&c, is, 1, der, sizeof der);
    int64_t id = 0;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", &id, err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_get(s, is, c.serial, 16, &got, err, sizeof err), OK);
    assert_int_equal(got.id, id);
    assert_int_equal(got.issuer_id, is);
    assert_memory_equal(got.serial, c.serial, 16);
    assert_string_equal(got.subject, "CN=device");
    assert_string_equal(got.device_id, "dev-0");
    assert_string_equal(got.template_name, "device");
    assert_int_equal(got.status, VOUCH_CERT_ACTIVE);
    assert_int_equal(got.der_len, sizeof der);
    assert_memory_equal(got.der, der, sizeof der);
    assert_int_equal(got.reason, -1);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(got.renewed_from, 0);
    assert_int_equal(got.seq, 1);
    uint8_t fp[32];
    memcpy(fp, got.sha256, 32);
    vouch_store_cert_clear(&got);
    assert_int_equal(vouch_store_cert_get_by_fingerprint(s, fp, &got, err, sizeof err), OK);
    assert_int_equal(got.id, id);
    vouch_store_cert_clear(&got);
    assert_int_equal(vouch_store_cert_get_by_id(s, id, &got, err, sizeof err), OK);
    assert_memory_equal(got.serial, c.serial, 16);
    vouch_store_cert_clear(&got);

    /* the same serial from another issuer is a different certificate */
    int64_t other = add_issuer(s, "other");
    make_cert(&c, other, 1, der, sizeof der);
    der[50] = 7;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err), OK);

    /* renewal links to its predecessor */
    vouch_store_cert r;
    uint8_t der2[90];
    make_cert(&r, is, 2, der2, sizeof der2);
    r.renewed_from = id;
    int64_t rid = 0;
    assert_int_equal(vouch_store_cert_insert(s, &r, "admin", &rid, err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_get_by_id(s, rid, &got, err, sizeof err), OK);
    assert_int_equal(got.renewed_from, id);
    assert_int_equal(got.seq, 3);
    vouch_store_cert_clear(&got);

    /* a certificate without device id or template */
    make_cert(&r, is, 3, der2, sizeof der2);
    der2[60] = 1;
    r.device_id = NULL;
    r.template_name = NULL;
    assert_int_equal(vouch_store_cert_insert(s, &r, NULL, &rid, err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_get_by_id(s, rid, &got, err, sizeof err), OK);
    assert_null(got.device_id);
    assert_null(got.template_name);
    vouch_store_cert_clear(&got);
    vouch_store_close(s);
}

static void test_cert_insert_refusals(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t is = add_issuer(s, "ca");
    vouch_store_cert c, got;
    uint8_t der[100];
    make_cert(&c, is, 1, der, sizeof der);
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err), OK);

    /* duplicate serial for the same issuer, even with other content */
    der[70] ^= 1;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_DUP_SERIAL);
    assert_non_null(strstr(err, "a0a1a2a3"));
    /* unknown issuer */
    c.issuer_id = 99;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    c.issuer_id = 0;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    c.issuer_id = is;
    /* unknown predecessor */
    make_cert(&c, is, 2, der, sizeof der);
    c.renewed_from = 4242;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    c.renewed_from = -3;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.renewed_from = 0;
    /* bad shapes */
    c.serial_len = 0;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.serial_len = 21;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.serial_len = 16;
    c.der_len = 0;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.der_len = sizeof der;
    c.der = NULL;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.der = der;
    c.subject = NULL;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.subject = "CN=x";
    c.not_after = c.not_before - 1;
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    c.not_after = c.not_before + 10;
    c.template_name = "";
    assert_int_equal(vouch_store_cert_insert(s, &c, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_insert(s, NULL, "admin", NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* none of the refusals left anything behind */
    vouch_store_counts cn;
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, 1);

    /* gets that find nothing */
    uint8_t serial[16] = {9};
    assert_int_equal(vouch_store_cert_get(s, is, serial, 16, &got, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    assert_null(got._mem);
    assert_int_equal(vouch_store_cert_get(s, 55, c.serial, 16, &got, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    assert_int_equal(vouch_store_cert_get(s, is, serial, 0, &got, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_get(s, is, NULL, 16, &got, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_get_by_id(s, 999, &got, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    assert_int_equal(vouch_store_cert_get_by_id(s, 0, &got, err, sizeof err), VOUCH_STORE_E_ARG);
    uint8_t fp[32] = {0};
    assert_int_equal(vouch_store_cert_get_by_fingerprint(s, fp, &got, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    assert_int_equal(vouch_store_cert_get_by_fingerprint(s, NULL, &got, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

static int count_audit(void *ctx, const vouch_store_audit_entry *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

static int last_audit(void *ctx, const vouch_store_audit_entry *e)
{
    char *out = ctx;
    snprintf(out, 256, "%s|%s|%s|%s", e->actor, e->action, e->subject, e->details);
    return 0;
}

static void test_revoke(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t is = add_issuer(s, "ca");
    int64_t id1 = add_cert(s, is, 1);
    add_cert(s, is, 2);
    vouch_store_cert c;
    assert_int_equal(vouch_store_cert_get_by_id(s, id1, &c, err, sizeof err), OK);
    uint8_t serial[16];
    memcpy(serial, c.serial, 16);
    int64_t seq_before = c.seq;
    vouch_store_cert_clear(&c);

    clock_now += 100;
    int audits = 0;
    assert_int_equal(vouch_store_audit_list(s, 0, 0, count_audit, &audits, err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_revoke(s, is, serial, 16, 1, "alice", err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_get(s, is, serial, 16, &c, err, sizeof err), OK);
    assert_int_equal(c.status, VOUCH_CERT_REVOKED);
    assert_int_equal(c.revoked_at, clock_now);
    assert_int_equal(c.reason, 1);
    assert_true(c.seq > seq_before);
    assert_int_equal(c.seq, 3); /* two inserts, then this revocation */
    vouch_store_cert_clear(&c);
    char last[256];
    int audits2 = 0;
    assert_int_equal(vouch_store_audit_list(s, 0, 0, count_audit, &audits2, err, sizeof err), OK);
    assert_int_equal(audits2, audits + 1);
    assert_int_equal(vouch_store_audit_list(s, (int64_t)audits, 1, last_audit, last, err,
                                            sizeof err),
                     OK);
    assert_non_null(strstr(last, "alice|cert.revoke|issuer="));
    assert_non_null(strstr(last, "\"reason\":1"));

    /* double revocation, distinct error; nothing changes */
    assert_int_equal(vouch_store_cert_revoke(s, is, serial, 16, 4, "bob", err, sizeof err),
                     VOUCH_STORE_E_ALREADY_REVOKED);
    assert_non_null(strstr(err, "already revoked"));
    assert_int_equal(vouch_store_cert_get(s, is, serial, 16, &c, err, sizeof err), OK);
    assert_int_equal(c.reason, 1);
    vouch_store_cert_clear(&c);
    /* unknown certificate, unknown issuer */
    uint8_t other[16] = {1, 2, 3};
    assert_int_equal(vouch_store_cert_revoke(s, is, other, 16, 1, "bob", err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    assert_int_equal(vouch_store_cert_revoke(s, 77, serial, 16, 1, "bob", err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_CERT);
    /* reasons RFC 5280 does not allow here */
    int bad_reasons[] = {-1, 7, 8, 11, 1000};
    for (size_t i = 0; i < sizeof bad_reasons / sizeof bad_reasons[0]; i++)
        assert_int_equal(vouch_store_cert_revoke(s, is, other, 16, bad_reasons[i], "bob", err,
                                                 sizeof err),
                         VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_revoke(s, is, NULL, 16, 1, "bob", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_revoke(s, is, serial, 25, 1, "bob", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* failed attempts wrote no audit entries */
    int audits3 = 0;
    assert_int_equal(vouch_store_audit_list(s, 0, 0, count_audit, &audits3, err, sizeof err), OK);
    assert_int_equal(audits3, audits2);
    vouch_store_close(s);
}

/* ---- searches, cursors, plans ---------------------------------------------------- */

#define NCERT 240

typedef struct model {
    int64_t id, issuer, not_after, issued_at, revoked_at;
    int revoked;
    char device[16], tmpl[16];
} model;
static model M[NCERT];

static int matches(const model *m, const vouch_store_cert_filter *f, int64_t now)
{
    if (f->issuer_id && m->issuer != f->issuer_id)
        return 0;
    if (f->template_name && strcmp(m->tmpl, f->template_name) != 0)
        return 0;
    if (f->device_id && strcmp(m->device, f->device_id) != 0)
        return 0;
    if (f->issued_since && m->issued_at < f->issued_since)
        return 0;
    if (f->revoked_since && (!m->revoked || m->revoked_at < f->revoked_since))
        return 0;
    if (f->expiring_before && (m->revoked || m->not_after < now || m->not_after >= f->expiring_before))
        return 0;
    if (f->status == VOUCH_CERT_ACTIVE && (m->revoked || m->not_after < now))
        return 0;
    if (f->status == VOUCH_CERT_EXPIRED && (m->revoked || m->not_after >= now))
        return 0;
    if (f->status == VOUCH_CERT_REVOKED && !m->revoked)
        return 0;
    return 1;
}

typedef struct seen {
    int n;
    int64_t ids[NCERT + 10];
    int64_t last_key;
    int order_key; /* 0 id, 1 not_after, 2 issued_at, 3 revoked_at */
} seen;

static int collect(void *ctx, const vouch_store_cert *c)
{
    seen *sn = ctx;
    assert_true(sn->n < NCERT + 10);
    sn->ids[sn->n++] = c->id;
    int64_t k = sn->order_key == 1 ? c->not_after : sn->order_key == 2 ? c->issued_at
                : sn->order_key == 3 ? c->revoked_at : c->id;
    assert_true(k >= sn->last_key); /* ascending in the index order */
    sn->last_key = k;
    assert_null(c->der); /* not asked for */
    return 0;
}

static void check_filter_pages(vouch_store *s, const vouch_store_cert_filter *f, int order_key,
                               unsigned page)
{
    seen sn;
    memset(&sn, 0, sizeof sn);
    sn.order_key = order_key;
    sn.last_key = INT64_MIN;
    vouch_store_cursor cur = {0};
    int pages = 0;
    while (!cur.done) {
        int before = sn.n;
        assert_int_equal(vouch_store_cert_search(s, f, &cur, page, 0, collect, &sn, err,
                                                 sizeof err),
                         OK);
        assert_true(sn.n - before <= (int)page);
        assert_true(++pages < 1000);
    }
    int expect = 0;
    for (int i = 0; i < NCERT; i++)
        if (matches(&M[i], f, clock_now)) {
            expect++;
            int found = 0;
            for (int j = 0; j < sn.n; j++)
                found += sn.ids[j] == M[i].id;
            assert_int_equal(found, 1); /* exactly once across pages */
        }
    assert_int_equal(sn.n, expect);
    uint64_t count = 0;
    assert_int_equal(vouch_store_cert_count(s, f, &count, err, sizeof err), OK);
    assert_int_equal(count, (uint64_t)expect);
}

static vouch_store *fill_model(int64_t *iss_a, int64_t *iss_b)
{
    vouch_store *s = open_new(NULL, 0);
    *iss_a = add_issuer(s, "a");
    *iss_b = add_issuer(s, "b");
    static const char *const tmpls[] = {"device", "gateway", "server"};
    int64_t base = clock_now;
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    for (int i = 0; i < NCERT; i++) {
        vouch_store_cert c;
        uint8_t der[40];
        make_cert(&c, i % 3 ? *iss_a : *iss_b, (uint32_t)i, der, sizeof der);
        model *m = &M[i];
        m->issuer = c.issuer_id;
        snprintf(m->device, sizeof m->device, "dev-%d", i % 17);
        snprintf(m->tmpl, sizeof m->tmpl, "%s", tmpls[i % 3 == 0 ? 2 : i % 2]);
        c.device_id = m->device;
        c.template_name = m->tmpl;
        /* many equal not_after values, so the cursor's id tiebreak matters */
        m->not_after = base - 500 + (i % 20) * 100;
        c.not_before = base - 1000;
        c.not_after = m->not_after;
        m->issued_at = base - 1000 + (i % 13) * 50;
        c.issued_at = m->issued_at;
        assert_int_equal(vouch_store_cert_insert(s, &c, "t", &m->id, err, sizeof err), OK);
    }
    assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
    for (int i = 0; i < NCERT; i += 7) {
        vouch_store_cert c;
        uint8_t der[40];
        make_cert(&c, M[i].issuer, (uint32_t)i, der, sizeof der);
        clock_now = base + i % 5;
        assert_int_equal(vouch_store_cert_revoke(s, c.issuer_id, c.serial, 16, 4, "t", err,
                                                 sizeof err),
                         OK);
        M[i].revoked = 1;
        M[i].revoked_at = clock_now;
    }
    clock_now = base;
    return s;
}

static void test_search_pagination(void **state)
{
    (void)state;
    int64_t a, b;
    vouch_store *s = fill_model(&a, &b);
    int64_t now = clock_now;
    struct {
        vouch_store_cert_filter f;
        int order;
    } cases[] = {
        {{0}, 0},
        {{.issuer_id = 0, .status = VOUCH_CERT_ACTIVE}, 1},
        {{.status = VOUCH_CERT_EXPIRED}, 1},
        {{.status = VOUCH_CERT_REVOKED}, 1},
        {{.template_name = "gateway"}, 0},
        {{.template_name = "none-such"}, 0},
        {{.device_id = "dev-3"}, 0},
        {{.expiring_before = now + 700}, 1},
        {{.issued_since = now - 600}, 2},
        {{.revoked_since = now + 2}, 3},
        {{.issuer_id = 0}, 0},
        {{.status = VOUCH_CERT_ACTIVE, .template_name = "device", .issuer_id = 0}, 0},
        {{.expiring_before = now + 900, .template_name = "server"}, 1},
        {{.device_id = "dev-5", .status = VOUCH_CERT_ACTIVE}, 0},
        {{.issued_since = now - 800, .template_name = "device"}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_filter_pages(s, &cases[i].f, cases[i].order, 7);
        check_filter_pages(s, &cases[i].f, cases[i].order, 1);
        check_filter_pages(s, &cases[i].f, cases[i].order, 1000);
    }
    vouch_store_cert_filter fa = {.issuer_id = a};
    check_filter_pages(s, &fa, 0, 11);
    vouch_store_cert_filter fb = {.issuer_id = b, .status = VOUCH_CERT_REVOKED};
    check_filter_pages(s, &fb, 1, 3);

    /* refusals */
    vouch_store_cursor cur = {0};
    seen sn;
    memset(&sn, 0, sizeof sn);
    vouch_store_cert_filter f = {0};
    assert_int_equal(vouch_store_cert_search(s, &f, &cur, 0, 0, collect, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_search(s, &f, &cur, 10001, 0, collect, &sn, err,
                                             sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_search(s, NULL, &cur, 5, 0, collect, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_search(s, &f, NULL, 5, 0, collect, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_search(s, &f, &cur, 5, 0, NULL, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    f.status = (vouch_cert_status)42;
    assert_int_equal(vouch_store_cert_search(s, &f, &cur, 5, 0, collect, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    f.status = VOUCH_CERT_ANY;
    f.device_id = "";
    assert_int_equal(vouch_store_cert_search(s, &f, &cur, 5, 0, collect, &sn, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    f.device_id = NULL;
    f.issuer_id = -4;
    uint64_t count;
    assert_int_equal(vouch_store_cert_count(s, &f, &count, err, sizeof err), VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

static void assert_no_scan(vouch_store *s, vouch_sq_query q, const vouch_store_cert_filter *f)
{
    char plan[2048];
    assert_int_equal(vouch_store_sqlite_explain(s, q, f, plan, sizeof plan), OK);
    assert_true(strlen(plan) > 0);
    /* Every step on certificates is an index SEARCH; the only table ever
     * read whole is cert_counts, one row per (template, status). */
    for (const char *line = plan; *line;) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, "SCAN", 4) == 0 && strncmp(line, "SCAN cert_counts", 16) != 0) {
            fprintf(stderr, "query %d scans:\n%s", (int)q, plan);
            fail();
        }
        line = end ? end + 1 : line + strlen(line);
    }
    assert_true(strstr(plan, "SEARCH") || strstr(plan, "cert_counts"));
    assert_null(strstr(plan, "SCAN certificates"));
}

static void test_query_plans_never_scan(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    vouch_store_cert_filter filters[] = {
        {0},
        {.issuer_id = 1},
        {.status = VOUCH_CERT_ACTIVE},
        {.status = VOUCH_CERT_REVOKED},
        {.status = VOUCH_CERT_EXPIRED},
        {.template_name = "device"},
        {.device_id = "dev-1"},
        {.expiring_before = 5},
        {.issued_since = 5},
        {.revoked_since = 5},
        {.issuer_id = 1, .status = VOUCH_CERT_ACTIVE, .template_name = "t", .device_id = "d",
         .expiring_before = 1, .issued_since = 1, .revoked_since = 1},
        {.issuer_id = 2, .template_name = "t", .issued_since = 3},
        {.status = VOUCH_CERT_ACTIVE, .expiring_before = 9},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        assert_no_scan(s, VOUCH_SQ_SEARCH, &filters[i]);
        assert_no_scan(s, VOUCH_SQ_COUNT, &filters[i]);
    }
    for (int q = VOUCH_SQ_GET_SERIAL; q < VOUCH_SQ__COUNT; q++)
        assert_no_scan(s, (vouch_sq_query)q, NULL);
    /* The CRL listing reads only the covering index. */
    char plan[1024];
    assert_int_equal(vouch_store_sqlite_explain(s, VOUCH_SQ_LIST_REVOKED, NULL, plan, sizeof plan),
                     OK);
    assert_non_null(strstr(plan, "COVERING INDEX cert_crl"));
    assert_int_equal(vouch_store_sqlite_explain(s, VOUCH_SQ__COUNT, NULL, plan, sizeof plan),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

typedef struct crl_ctx {
    int n;
    uint8_t last[VOUCH_SERIAL_MAX];
    size_t last_len;
    int stop_after;
} crl_ctx;

static int crl_cb(void *ctx, const vouch_store_revoked *r)
{
    crl_ctx *c = ctx;
    assert_int_equal(r->serial_len, 16);
    if (c->n)
        assert_true(memcmp(c->last, r->serial, 16) < 0); /* by serial */
    memcpy(c->last, r->serial, 16);
    assert_int_equal(r->reason, 4);
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_list_revoked(void **state)
{
    (void)state;
    int64_t a, b;
    vouch_store *s = fill_model(&a, &b);
    int expect_a = 0, expect_b = 0;
    for (int i = 0; i < NCERT; i++)
        if (M[i].revoked)
            *(M[i].issuer == a ? &expect_a : &expect_b) += 1;
    crl_ctx c = {0};
    assert_int_equal(vouch_store_cert_list_revoked(s, a, crl_cb, &c, err, sizeof err), OK);
    assert_int_equal(c.n, expect_a);
    memset(&c, 0, sizeof c);
    assert_int_equal(vouch_store_cert_list_revoked(s, b, crl_cb, &c, err, sizeof err), OK);
    assert_int_equal(c.n, expect_b);
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(vouch_store_cert_list_revoked(s, a, crl_cb, &c, err, sizeof err),
                     VOUCH_STORE_E_STOPPED);
    assert_int_equal(c.n, 2);
    /* an issuer with nothing revoked lists nothing; an unknown one is refused */
    int64_t empty = add_issuer(s, "empty");
    memset(&c, 0, sizeof c);
    assert_int_equal(vouch_store_cert_list_revoked(s, empty, crl_cb, &c, err, sizeof err), OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(vouch_store_cert_list_revoked(s, 999, crl_cb, &c, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    assert_int_equal(vouch_store_cert_list_revoked(s, 0, crl_cb, &c, err, sizeof err),
                     VOUCH_STORE_E_UNKNOWN_ISSUER);
    assert_int_equal(vouch_store_cert_list_revoked(s, a, NULL, &c, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

typedef struct sync_ctx {
    int n;
    int64_t last_seq;
    int64_t ids[NCERT * 2];
} sync_ctx;

static int sync_cb(void *ctx, const vouch_store_cert *c)
{
    sync_ctx *x = ctx;
    assert_true(c->seq > x->last_seq);
    assert_non_null(c->der); /* a mirror needs the certificate */
    x->last_seq = c->seq;
    x->ids[x->n++] = c->id;
    return 0;
}

static void test_changes_since(void **state)
{
    (void)state;
    int64_t a, b;
    vouch_store *s = fill_model(&a, &b);
    sync_ctx x;
    memset(&x, 0, sizeof x);
    int64_t cursor = 0, last = -1;
    for (int guard = 0; guard < 100; guard++) {
        int before = x.n;
        assert_int_equal(vouch_store_cert_changes_since(s, cursor, 50, sync_cb, &x, &last, err,
                                                        sizeof err),
                         OK);
        if (x.n == before) {
            assert_int_equal(last, cursor); /* nothing new: cursor unchanged */
            break;
        }
        cursor = last;
    }
    /* every certificate exactly once, in its latest state */
    assert_int_equal(x.n, NCERT);
    /* the revoked ones come last (their seq moved forward) */
    int revoked = 0;
    for (int i = 0; i < NCERT; i++)
        revoked += M[i].revoked;
    for (int i = NCERT - revoked; i < NCERT; i++) {
        int found = 0;
        for (int j = 0; j < NCERT; j++)
            if (M[j].id == x.ids[i])
                found = M[j].revoked;
        assert_true(found);
    }
    /* a new revocation shows up after the cursor */
    vouch_store_cert c;
    uint8_t der[40];
    make_cert(&c, M[1].issuer, 1, der, sizeof der);
    assert_int_equal(vouch_store_cert_revoke(s, c.issuer_id, c.serial, 16, 1, "t", err,
                                             sizeof err),
                     OK);
    x.n = 0;
    assert_int_equal(vouch_store_cert_changes_since(s, cursor, 50, sync_cb, &x, &last, err,
                                                    sizeof err),
                     OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.ids[0], M[1].id);
    /* refusals */
    assert_int_equal(vouch_store_cert_changes_since(s, -1, 50, sync_cb, &x, &last, err,
                                                    sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_changes_since(s, 0, 0, sync_cb, &x, &last, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_changes_since(s, 0, 5, NULL, &x, &last, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_changes_since(s, 0, 5, sync_cb, &x, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

typedef struct tc_ctx {
    vouch_store_counts sum;
    int n;
} tc_ctx;

static int tmpl_counts_cb(void *ctx, const char *name, const vouch_store_counts *c)
{
    tc_ctx *t = ctx;
    assert_non_null(name);
    t->sum.active += c->active;
    t->sum.revoked += c->revoked;
    t->sum.expired += c->expired;
    t->n++;
    return 0;
}

static void test_counts(void **state)
{
    (void)state;
    int64_t a, b;
    vouch_store *s = fill_model(&a, &b);
    vouch_store_counts cn, expect = {0};
    for (int i = 0; i < NCERT; i++) {
        if (M[i].revoked)
            expect.revoked++;
        else if (M[i].not_after < clock_now)
            expect.expired++;
        else
            expect.active++;
    }
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, expect.active);
    assert_int_equal(cn.revoked, expect.revoked);
    assert_int_equal(cn.expired, expect.expired);
    tc_ctx t;
    memset(&t, 0, sizeof t);
    assert_int_equal(vouch_store_cert_counts_by_template(s, tmpl_counts_cb, &t, err, sizeof err),
                     OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.sum.active, expect.active);
    assert_int_equal(t.sum.revoked, expect.revoked);
    assert_int_equal(t.sum.expired, expect.expired);
    /* time passes: everything expires */
    clock_now += 100000;
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, 0);
    assert_int_equal(cn.expired, expect.active + expect.expired);
    clock_now -= 100000;
    assert_int_equal(vouch_store_cert_counts(s, NULL, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_cert_counts_by_template(s, NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    vouch_store_close(s);
}

/* ---- transactions ------------------------------------------------------------- */

static void test_transactions(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    assert_int_equal(vouch_store_commit(s, err, sizeof err), VOUCH_STORE_E_TXN);
    assert_int_equal(vouch_store_rollback(s, err, sizeof err), VOUCH_STORE_E_TXN);
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    assert_int_equal(vouch_store_begin(s, err, sizeof err), VOUCH_STORE_E_TXN);
    add_cert(s, is, 1);
    add_cert(s, is, 2);
    /* a failing write inside the group is undone alone */
    vouch_store_cert c;
    uint8_t der[80];
    make_cert(&c, is, 1, der, sizeof der);
    assert_int_equal(vouch_store_cert_insert(s, &c, "t", NULL, err, sizeof err),
                     VOUCH_STORE_E_DUP_SERIAL);
    add_cert(s, is, 3);
    assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
    vouch_store_counts cn;
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, 3);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(rep.entries, 4); /* issuer + 3 issuances */

    /* rollback discards certificates and their audit entries */
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    add_cert(s, is, 4);
    assert_int_equal(vouch_store_rollback(s, err, sizeof err), OK);
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, 3);
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(rep.entries, 4);

    /* closing with an open group rolls it back */
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    add_cert(s, is, 5);
    vouch_store_close(s);
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    /* the real clock is far past these certificates: all expired */
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active + cn.expired, 3);
    assert_int_equal(cn.expired, 3);
    vouch_store_set_clock(s, test_clock, NULL);
    assert_int_equal(vouch_store_cert_counts(s, &cn, err, sizeof err), OK);
    assert_int_equal(cn.active, 3);

    /* a second connection waits for the writer, then gives up with E_BUSY */
    vouch_store *s2 = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s2, err, sizeof err), OK);
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 0);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) & 0xff, SQLITE_BUSY);
    sqlite3_close(db);
    /* readers are not blocked by the writer (WAL) */
    assert_int_equal(vouch_store_cert_counts(s2, &cn, err, sizeof err), OK);
    assert_int_equal(vouch_store_rollback(s, err, sizeof err), OK);
    vouch_store_close(s2);
    vouch_store_close(s);
}

/* Inside a group the audit head and the next sync number live in memory
 * and the head is written at commit. Failures of every kind in between
 * (a repeated serial, an unknown issuer, a second revocation) must leave
 * them where the last successful write put them. */
typedef struct seq_ctx {
    int64_t seqs[64];
    int n;
} seq_ctx;

static int collect_seq(void *ctx, const vouch_store_cert *c)
{
    seq_ctx *x = ctx;
    if (x->n < 64)
        x->seqs[x->n++] = c->seq;
    return 0;
}

static void test_group_cache(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    add_cert(s, is, 1); /* outside any group */
    vouch_store_cert c;
    uint8_t der[80];
    for (int round = 0; round < 3; round++) {
        assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
        add_cert(s, is, 10 * (uint32_t)round + 2);
        make_cert(&c, is, 1, der, sizeof der);
        assert_int_equal(vouch_store_cert_insert(s, &c, "t", NULL, err, sizeof err),
                         VOUCH_STORE_E_DUP_SERIAL);
        make_cert(&c, 999, 77, der, sizeof der);
        assert_int_equal(vouch_store_cert_insert(s, &c, "t", NULL, err, sizeof err),
                         VOUCH_STORE_E_UNKNOWN_ISSUER);
        assert_non_null(strstr(err, "999"));
        make_cert(&c, is, 10 * (uint32_t)round + 2, der, sizeof der);
        assert_int_equal(vouch_store_cert_revoke(s, is, c.serial, c.serial_len, 1, "t", err,
                                                 sizeof err),
                         OK);
        assert_int_equal(vouch_store_cert_revoke(s, is, c.serial, c.serial_len, 1, "t", err,
                                                 sizeof err),
                         VOUCH_STORE_E_ALREADY_REVOKED);
        add_cert(s, is, 10 * (uint32_t)round + 3);
        assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
        /* a write outside a group reads the head the group wrote back */
        add_cert(s, is, 10 * (uint32_t)round + 4);
    }
    /* a rolled-back group leaves no trace in the head or the numbers */
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    add_cert(s, is, 90);
    add_cert(s, is, 91);
    assert_int_equal(vouch_store_rollback(s, err, sizeof err), OK);
    add_cert(s, is, 92);

    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    /* issuer, cert 1, per round 2 issues + 1 revoke + 1 after, then 92 */
    assert_int_equal(rep.entries, 1 + 1 + 3 * 4 + 1);
    assert_int_equal(rep.head_seq, (int64_t)rep.entries);
    /* sync numbers: unique and increasing, each certificate once */
    seq_ctx x = {.n = 0};
    int64_t last = 0;
    assert_int_equal(vouch_store_cert_changes_since(s, 0, 100, collect_seq, &x, &last, err,
                                                    sizeof err),
                     OK);
    assert_int_equal(x.n, 1 + 3 * 3 + 1);
    for (int i = 1; i < x.n; i++)
        assert_true(x.seqs[i] > x.seqs[i - 1]);
    assert_int_equal(last, x.seqs[x.n - 1]);
    vouch_store_close(s);
    /* the same, read back by a fresh connection */
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(rep.entries, 15);
    vouch_store_close(s);
}

/* A write that fails after its first change inside a group cannot be
 * undone alone (no savepoint on the hot path): the rest of the group is
 * refused, the commit rolls everything back and says why, and nothing of
 * the group is stored. Forced here with an audit head moved back, so the
 * audit entry of the insert collides with an existing one. */
static void test_group_broken_write(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    add_cert(s, is, 1);
    vouch_store_close(s);
    raw_exec(path, "UPDATE audit_head SET seq = 0");
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_set_clock(s, test_clock, NULL);

    vouch_store_cert c;
    uint8_t der[80];
    for (int grouped = 0; grouped < 2; grouped++) {
        if (grouped)
            assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
        make_cert(&c, is, 2, der, sizeof der);
        vouch_store_rc rc = vouch_store_cert_insert(s, &c, "t", NULL, err, sizeof err);
        assert_int_not_equal(rc, OK);
        assert_non_null(strstr(err, "audit"));
        if (grouped) {
            /* the next write of the group is refused, naming the first failure */
            make_cert(&c, is, 3, der, sizeof der);
            assert_int_equal(vouch_store_cert_insert(s, &c, "t", NULL, err, sizeof err), rc);
            assert_non_null(strstr(err, "earlier write"));
            make_cert(&c, is, 1, der, sizeof der);
            assert_int_equal(vouch_store_cert_revoke(s, is, c.serial, c.serial_len, 1, "t", err,
                                                     sizeof err),
                             rc);
            assert_int_equal(vouch_store_commit(s, err, sizeof err), rc);
            assert_non_null(strstr(err, "rolled back"));
        }
        /* nothing of it is stored: not the certificate, not its count */
        vouch_store_cert got;
        make_cert(&c, is, 2, der, sizeof der);
        assert_int_equal(vouch_store_cert_get(s, is, c.serial, c.serial_len, &got, err,
                                              sizeof err),
                         VOUCH_STORE_E_UNKNOWN_CERT);
        make_cert(&c, is, 1, der, sizeof der);
        assert_int_equal(vouch_store_cert_get(s, is, c.serial, c.serial_len, &got, err,
                                              sizeof err),
                         OK);
        assert_int_equal(got.status, VOUCH_CERT_ACTIVE);
        vouch_store_cert_clear(&got);
    }
    vouch_store_close(s);
    /* with the head repaired, the store takes writes again */
    raw_exec(path, "UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_log)");
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    add_cert(s, is, 2);
    assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
    vouch_store_close(s);
}

typedef struct details_ctx {
    int n;
    char *text[16];
} details_ctx;

static int collect_details(void *ctx, const vouch_store_audit_entry *e)
{
    details_ctx *d = ctx;
    if (strncmp(e->action, "cert.", 5) == 0 && d->n < 16)
        d->text[d->n++] = strdup(e->details);
    return 0;
}

/* The details of cert.issue and cert.revoke are written without jansson
 * when nothing needs escaping: byte for byte what json_dumps(COMPACT |
 * SORT_KEYS) writes, in a group and outside one, and jansson's own output
 * when something does need escaping. */
static void test_audit_details_as_jansson(void **state)
{
    (void)state;
    static char longid[1001];
    memset(longid, 'x', sizeof longid - 1);
    const char *devs[] = {"dev-0", NULL, "", "a\"b", "back\\slash", "tab\there", "caf\xc3\xa9",
                          "~ !#$%&'()*+,-./:;<=>?@[]^_`{|}", longid};
    const char *tmpls[] = {"device", NULL, "server", "x y", "device", "gate\"way", "device",
                           "device", "device"};
    const int reasons[] = {0, 1, 2, 3, 4, 5, 6, 9, 10};
    const size_t nd = sizeof devs / sizeof devs[0];
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    for (size_t i = 0; i < nd; i++) {
        int grouped = (int)(i & 1);
        vouch_store_cert c;
        uint8_t der[80];
        make_cert(&c, is, 100 + (uint32_t)i, der, sizeof der);
        c.device_id = (char *)devs[i];
        c.template_name = (char *)tmpls[i];
        c.not_after = i == 2 ? INT64_MAX : clock_now + 1000 + (int64_t)i;
        c.renewed_from = i == 3 ? 1 : 0;
        int64_t id = 0;
        if (grouped)
            assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
        assert_int_equal(vouch_store_cert_insert(s, &c, "t", &id, err, sizeof err), OK);
        assert_int_equal(vouch_store_cert_revoke(s, is, c.serial, c.serial_len, reasons[i], "t",
                                                 err, sizeof err),
                         OK);
        if (grouped)
            assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
        details_ctx d = {0};
        int64_t after = 0;
        vouch_store_audit_report rep;
        assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
        after = rep.head_seq - 2;
        assert_int_equal(vouch_store_audit_list(s, after, 0, collect_details, &d, err,
                                                sizeof err),
                         OK);
        assert_int_equal(d.n, 2);
        char hex[33], fp[65];
        vouch_store_hex(c.serial, c.serial_len, hex);
        uint8_t sha[32];
        unsigned int olen = 0;
        assert_int_equal(EVP_Digest(der, sizeof der, sha, &olen, EVP_sha256(), NULL), 1);
        vouch_store_hex(sha, 32, fp);
        json_t *j = json_pack("{s:I,s:I,s:s,s:s?,s:s?,s:I,s:s,s:I}", "id", (json_int_t)id,
                              "issuer_id", (json_int_t)is, "serial", hex, "template",
                              c.template_name, "device_id", c.device_id, "not_after",
                              (json_int_t)c.not_after, "sha256", fp, "renewed_from",
                              (json_int_t)c.renewed_from);
        char *want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        assert_non_null(want);
        assert_string_equal(d.text[0], want);
        free(want);
        j = json_pack("{s:I,s:I,s:s,s:i}", "id", (json_int_t)id, "issuer_id", (json_int_t)is,
                      "serial", hex, "reason", reasons[i]);
        want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        assert_non_null(want);
        assert_string_equal(d.text[1], want);
        free(want);
        for (int k = 0; k < d.n; k++)
            free(d.text[k]);
    }
    vouch_store_close(s);
}

/* ---- tokens ---------------------------------------------------------------------- */

static int count_tokens(void *ctx, const vouch_store_token_info *t)
{
    int *n = ctx;
    n[0]++;
    n[1] += t->revoked;
    return 0;
}

static void test_tokens(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    char tok[VOUCH_TOKEN_LEN + 1], tok2[VOUCH_TOKEN_LEN + 1], name[64];
    int64_t id = 0, id2 = 0, got = 0;
    assert_int_equal(vouch_store_token_create(s, "ops", "init", tok, &id, err, sizeof err), OK);
    assert_int_equal(strlen(tok), VOUCH_TOKEN_LEN);
    for (size_t i = 0; i < VOUCH_TOKEN_LEN; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                               tok[i]));
    assert_int_equal(vouch_store_token_create(s, "ci", "init", tok2, &id2, err, sizeof err), OK);
    assert_string_not_equal(tok, tok2);

    assert_int_equal(vouch_store_token_verify(s, tok, &got, name, sizeof name, err, sizeof err),
                     OK);
    assert_int_equal(got, id);
    assert_string_equal(name, "ops");
    assert_int_equal(vouch_store_token_verify(s, tok2, &got, NULL, 0, err, sizeof err), OK);
    assert_int_equal(got, id2);

    /* wrong tokens */
    char wrong[VOUCH_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof wrong);
    wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
    assert_int_equal(vouch_store_token_verify(s, wrong, &got, name, sizeof name, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_INVALID);
    assert_int_equal(got, 0);
    assert_string_equal(name, "");
    wrong[VOUCH_TOKEN_LEN - 1] = 0; /* a prefix */
    memcpy(wrong, tok, VOUCH_TOKEN_LEN - 1);
    assert_int_equal(vouch_store_token_verify(s, wrong, &got, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_INVALID);
    assert_int_equal(vouch_store_token_verify(s, "", &got, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_INVALID);
    assert_int_equal(vouch_store_token_verify(s, NULL, &got, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_INVALID);
    char big[5000];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(vouch_store_token_verify(s, big, &got, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_INVALID);

    /* revocation */
    assert_int_equal(vouch_store_token_revoke(s, id, "admin", err, sizeof err), OK);
    assert_int_equal(vouch_store_token_verify(s, tok, &got, NULL, 0, err, sizeof err),
                     VOUCH_STORE_E_TOKEN_REVOKED);
    assert_int_equal(got, 0);
    assert_int_equal(vouch_store_token_verify(s, tok2, &got, NULL, 0, err, sizeof err), OK);
    assert_int_equal(vouch_store_token_revoke(s, id, "admin", err, sizeof err),
                     VOUCH_STORE_E_TOKEN_REVOKED);
    assert_int_equal(vouch_store_token_revoke(s, 999, "admin", err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_token_revoke(s, 0, "admin", err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    /* names are unique; the failed create hands out no token */
    char tok3[VOUCH_TOKEN_LEN + 1];
    assert_int_equal(vouch_store_token_create(s, "ops", "init", tok3, NULL, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_string_equal(tok3, "");
    assert_int_equal(vouch_store_token_create(s, "", "init", tok3, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_token_create(s, "x", "init", NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    int n[2] = {0, 0};
    assert_int_equal(vouch_store_token_list(s, count_tokens, n, err, sizeof err), OK);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 1);
    vouch_store_close(s);

    /* only the hash is stored */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM api_tokens WHERE hash = ? "
                                        "OR CAST(hash AS TEXT) = ? OR name = ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, tok2, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tok2, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tok2, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT length(hash) FROM api_tokens", -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        assert_int_equal(sqlite3_column_int(st, 0), 32);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- audit chain ------------------------------------------------------------------ */

static vouch_store *audit_fixture(char *path, size_t size)
{
    vouch_store *s = open_new(path, size);
    int64_t is = add_issuer(s, "ca"); /* seq 1 */
    for (uint32_t i = 0; i < 5; i++)   /* seq 2..6 */
        add_cert(s, is, i);
    int64_t seq = 0;
    assert_int_equal(vouch_store_audit_append(s, "admin", "config.change", "listen",
                                              "{\"port\":8443}", &seq, err, sizeof err),
                     OK);
    assert_int_equal(seq, 7);
    return s;
}

static void test_audit_intact_and_append_refusals(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = audit_fixture(path, sizeof path);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(rep.problem, VOUCH_AUDIT_INTACT);
    assert_int_equal(rep.entries, 7);
    assert_int_equal(rep.head_seq, 7);
    /* refusals */
    assert_int_equal(vouch_store_audit_append(s, "a", "x", "s", "not json", NULL, err, sizeof err),
                     VOUCH_STORE_E_JSON);
    assert_int_equal(vouch_store_audit_append(s, "a", "x", "s", "42", NULL, err, sizeof err),
                     VOUCH_STORE_E_JSON);
    assert_int_equal(vouch_store_audit_append(s, "a", NULL, "s", NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_append(s, "a", "", "s", NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_append(s, "a\nb", "x", "s", NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_verify(s, NULL, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_list(s, -1, 0, count_audit, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_audit_list(s, 0, 0, NULL, NULL, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* defaults: NULL details and subject */
    assert_int_equal(vouch_store_audit_append(s, NULL, "ping", NULL, NULL, NULL, err, sizeof err),
                     OK);
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(rep.entries, 8);
    vouch_store_close(s);
    /* the database itself refuses updates and deletes of the log */
    assert_int_not_equal(raw_exec_rc(path, "UPDATE audit_log SET actor = 'eve' WHERE seq = 3"),
                         SQLITE_OK);
    assert_int_not_equal(raw_exec_rc(path, "DELETE FROM audit_log WHERE seq = 3"), SQLITE_OK);
}

static vouch_store_rc verify_file(const char *path, vouch_store_audit_report *rep)
{
    vouch_store *s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_rc rc = vouch_store_audit_verify(s, rep, err, sizeof err);
    vouch_store_close(s);
    return rc;
}

#define UNLOCK "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"

static void test_audit_detects_changed_entry(void **state)
{
    (void)state;
    char path[300];
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "UPDATE audit_log SET actor = 'eve' WHERE seq = 4");
    vouch_store_audit_report rep;
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_CHANGED);
    assert_int_equal(rep.bad_seq, 4);
    assert_int_equal(rep.entries, 3);
    assert_non_null(strstr(err, "audit entry 4"));
    /* details and time are covered too */
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "UPDATE audit_log SET details = '{}' WHERE seq = 6");
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_CHANGED);
    assert_int_equal(rep.bad_seq, 6);
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "UPDATE audit_log SET time = time + 1 WHERE seq = 1");
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.bad_seq, 1);
}

static void test_audit_detects_removed_entry(void **state)
{
    (void)state;
    char path[300];
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "DELETE FROM audit_log WHERE seq = 3");
    vouch_store_audit_report rep;
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_REMOVED);
    assert_int_equal(rep.bad_seq, 3);
    assert_non_null(strstr(err, "removed"));
    /* the first one */
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "DELETE FROM audit_log WHERE seq = 1");
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_REMOVED);
    assert_int_equal(rep.bad_seq, 1);
    /* the last one: the head record disagrees */
    vouch_store_close(audit_fixture(path, sizeof path));
    raw_exec(path, UNLOCK "DELETE FROM audit_log WHERE seq = 7");
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_TRUNCATED);
    assert_int_equal(rep.bad_seq, 7);
}

static void test_audit_detects_reorder_and_rehash(void **state)
{
    (void)state;
    char path[300];
    vouch_store_close(audit_fixture(path, sizeof path));
    /* swap two entries' contents (seq stays in place): hashes no longer fit */
    raw_exec(path, UNLOCK
             "UPDATE audit_log SET seq = 100 WHERE seq = 3;"
             "UPDATE audit_log SET seq = 3 WHERE seq = 4;"
             "UPDATE audit_log SET seq = 4 WHERE seq = 100;");
    vouch_store_audit_report rep;
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.bad_seq, 3);
    assert_int_equal(rep.problem, VOUCH_AUDIT_CHANGED);

    /* an entry re-hashed consistently but without the right prev_hash */
    vouch_store_close(audit_fixture(path, sizeof path));
    /* make entry 5's prev_hash point at entry 3 and fix its own hash: the
     * forger can compute hashes, but not hide the broken link */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, UNLOCK, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT time, actor, action, subject, details, "
                                        "(SELECT hash FROM audit_log WHERE seq = 3) "
                                        "FROM audit_log WHERE seq = 5",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    /* recompute with the store's own canonical encoding */
    uint8_t prev[32], h[32];
    memcpy(prev, sqlite3_column_blob(st, 5), 32);
    assert_int_equal(vouch_store_audit_hash(5, sqlite3_column_int64(st, 0),
                                            (const char *)sqlite3_column_text(st, 1),
                                            (const char *)sqlite3_column_text(st, 2),
                                            (const char *)sqlite3_column_text(st, 3),
                                            (const char *)sqlite3_column_text(st, 4), prev, h),
                     0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit_log SET prev_hash = ?, hash = ? "
                                            "WHERE seq = 5",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, prev, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(verify_file(path, &rep), VOUCH_STORE_E_AUDIT_BROKEN);
    assert_int_equal(rep.problem, VOUCH_AUDIT_RELINKED);
    assert_int_equal(rep.bad_seq, 5);
}


/* ---- accounts, families, devices (schema 2) ---------------------------------- */

static int count_cb(void *ctx, const void *x)
{
    (void)x;
    (*(int *)ctx)++;
    return 0;
}

static int account_cb(void *ctx, const vouch_store_account_info *a)
{
    return count_cb(ctx, a);
}

/* What schema 3 added, dropped: back to a version-2 file. */
#define DROP_SCHEMA_3                                                                      \
    "DROP TABLE device_firmware; DROP TABLE campaign_devices; DROP TABLE campaign_targets;"  \
    "DROP TABLE campaigns; DROP TABLE release_images; DROP TABLE releases;"                 \
    "DROP TABLE fw_keys;"

static void test_migration_1_to_2_keeps_data(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t is = add_issuer(s, "ca");
    add_cert(s, is, 1);
    vouch_store_close(s);
    /* back to a version-1 database: what 'vouch ca init' made before */
    raw_exec(path, DROP_SCHEMA_3 "DROP TABLE devices; DROP TABLE families; DROP TABLE accounts;"
                   "UPDATE schema_version SET version = 1");
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    int v = 0;
    assert_int_equal(vouch_store_schema_version(s, &v, err, sizeof err), OK);
    assert_int_equal(v, VOUCH_STORE_SCHEMA_VERSION);
    uint64_t n = 0;
    vouch_store_cert_filter f = {0};
    assert_int_equal(vouch_store_cert_count(s, &f, &n, err, sizeof err), OK);
    assert_int_equal(n, 1);
    int64_t id = 0;
    assert_int_equal(vouch_store_account_create(s, "acme", "t", &id, err, sizeof err), OK);
    assert_true(id > 0);
    vouch_store_close(s);
}

static void test_accounts(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = 0, b = 0, got = 0;
    assert_int_equal(vouch_store_account_create(s, "acme", "t", &a, err, sizeof err), OK);
    assert_int_equal(vouch_store_account_create(s, "acme", "t", &b, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "acme"));
    assert_int_equal(vouch_store_account_create(s, "", "t", &b, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_account_create(s, "a\nb", "t", &b, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_account_get(s, "nope", &got, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_account_get(s, "acme", &got, err, sizeof err), OK);
    assert_int_equal(got, a);
    assert_int_equal(vouch_store_account_create(s, "beta", "t", &b, err, sizeof err), OK);
    int count = 0;
    assert_int_equal(vouch_store_account_list(s, account_cb, &count, err, sizeof err), OK);
    assert_int_equal(count, 2);
    vouch_store_close(s);
}

static void test_families(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = 0, b = 0, fid = 0, x = 0;
    assert_int_equal(vouch_store_account_create(s, "acme", "t", &a, err, sizeof err), OK);
    assert_int_equal(vouch_store_account_create(s, "beta", "t", &b, err, sizeof err), OK);
    uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x07};
    vouch_store_family in = {.account_id = a, .cert_der = der, .cert_der_len = sizeof der,
                             .subject = "CN=Vendor", .status = VOUCH_FAMILY_PENDING,
                             .verify_code = "abc123", .code_expires = clock_now + 600};
    /* refusals first: no code, no account, no certificate */
    in.verify_code = NULL;
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &fid, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.verify_code = "bad code";
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &fid, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.verify_code = "abc123";
    in.account_id = 999;
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &fid, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    in.account_id = a;
    in.cert_der_len = 0;
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &fid, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.cert_der_len = sizeof der;
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &fid, err, sizeof err), OK);
    /* one family, one account: the same certificate again, for any account */
    in.account_id = b;
    assert_int_equal(vouch_store_family_insert(s, &in, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    vouch_store_family f;
    assert_int_equal(vouch_store_family_get(s, fid, NULL, &f, err, sizeof err), OK);
    assert_int_equal(f.status, VOUCH_FAMILY_PENDING);
    assert_string_equal(f.verify_code, "abc123");
    assert_string_equal(f.account, "acme");
    assert_memory_equal(f.cert_der, der, sizeof der);
    uint8_t h[32];
    memcpy(h, f.sha256, 32);
    vouch_store_family_clear(&f);
    assert_int_equal(vouch_store_family_get(s, 0, h, &f, err, sizeof err), OK);
    assert_int_equal(f.id, fid);
    vouch_store_family_clear(&f);
    assert_int_equal(vouch_store_family_get(s, fid, h, &f, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_family_get(s, 77, NULL, &f, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_family_set_code(s, fid, "new-code", clock_now + 900, "t", err,
                                                 sizeof err),
                     OK);
    assert_int_equal(vouch_store_family_verify(s, 77, "t", err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_family_verify(s, fid, "t", err, sizeof err), OK);
    assert_int_equal(vouch_store_family_verify(s, fid, "t", err, sizeof err), OK);
    assert_int_equal(vouch_store_family_set_code(s, fid, "again", clock_now, "t", err,
                                                 sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_family_get(s, fid, NULL, &f, err, sizeof err), OK);
    assert_int_equal(f.status, VOUCH_FAMILY_VERIFIED);
    assert_null(f.verify_code);
    assert_int_equal(f.verified_at, clock_now);
    vouch_store_family_clear(&f);
    int count = 0;
    assert_int_equal(vouch_store_family_list(s, b, (vouch_store_family_cb)count_cb, &count,
                                             err, sizeof err),
                     OK);
    assert_int_equal(count, 0);
    assert_int_equal(vouch_store_family_list(s, 0, (vouch_store_family_cb)count_cb, &count,
                                             err, sizeof err),
                     OK);
    assert_int_equal(count, 1);
    vouch_store_close(s);
}

static void test_devices(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = 0, b = 0, fid = 0, d1 = 0, d2 = 0, x = 0;
    assert_int_equal(vouch_store_account_create(s, "acme", "t", &a, err, sizeof err), OK);
    assert_int_equal(vouch_store_account_create(s, "beta", "t", &b, err, sizeof err), OK);
    uint8_t fder[] = {0x30, 0x03, 0x02, 0x01, 0x09};
    vouch_store_family fam = {.account_id = a, .cert_der = fder, .cert_der_len = sizeof fder,
                              .subject = "CN=F", .status = VOUCH_FAMILY_VERIFIED, .ours = 1};
    assert_int_equal(vouch_store_family_insert(s, &fam, "t", &fid, err, sizeof err), OK);
    uint8_t c1[] = {0x30, 0x03, 0x02, 0x01, 0x01}, c2[] = {0x30, 0x03, 0x02, 0x01, 0x02};
    vouch_store_device in = {.account_id = a, .device_id = "dev-1", .cert_der = c1,
                             .cert_der_len = sizeof c1, .status = VOUCH_DEVICE_ACTIVE};
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &d1, err,
                                               sizeof err),
                     OK);
    /* refusals: same id, same certificate elsewhere, another account's family,
     * no account, bad status, bad action, over-long id */
    in.cert_der = c2;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "dev-1"));
    in.device_id = "dev-2";
    in.cert_der = c1;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "certificate"));
    in.account_id = b;
    in.cert_der = c2;
    in.family_id = fid;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.register", "t", &x, err,
                                               sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    in.account_id = 999;
    in.family_id = 0;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    in.account_id = a;
    in.status = 7;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.status = VOUCH_DEVICE_ACTIVE;
    assert_int_equal(vouch_store_device_insert(s, &in, "cert.issue", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.device_id = "0123456789012345678901234567890123456789012345678901234567890123456789";
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* a blocked device with no certificate yet, in the family's account */
    vouch_store_device pre = {.account_id = a, .device_id = "dev-2",
                              .status = VOUCH_DEVICE_BLOCKED};
    assert_int_equal(vouch_store_device_insert(s, &pre, "device.block", "t", &d2, err,
                                               sizeof err),
                     OK);
    vouch_store_device d;
    assert_int_equal(vouch_store_device_get(s, a, "dev-2", 0, &d, err, sizeof err), OK);
    assert_int_equal(d.id, d2);
    assert_false(d.has_cert);
    assert_null(d.cert_der);
    assert_int_equal(d.status, VOUCH_DEVICE_BLOCKED);
    vouch_store_device_clear(&d);
    /* bound only while the record is as the caller saw it */
    uint8_t c1h[32];
    EVP_Digest(c1, sizeof c1, c1h, NULL, EVP_sha256(), NULL);
    assert_int_equal(vouch_store_device_set_cert(s, d2, fid, c2, sizeof c2, c1h, 0, "t", err,
                                                 sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "changed meanwhile"));
    assert_int_equal(vouch_store_device_set_cert(s, d2, fid, c2, sizeof c2, NULL, fid, "t", err,
                                                 sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_int_equal(vouch_store_device_set_cert(s, d2, fid, c2, sizeof c2, NULL, 0, "t", err,
                                                 sizeof err),
                     OK);
    /* a second binding on the state it had before loses */
    assert_int_equal(vouch_store_device_set_cert(s, d2, fid, c2, sizeof c2, NULL, 0, "t", err,
                                                 sizeof err),
                     VOUCH_STORE_E_EXISTS);
    uint8_t c2h[32];
    EVP_Digest(c2, sizeof c2, c2h, NULL, EVP_sha256(), NULL);
    assert_int_equal(vouch_store_device_set_cert(s, d2, fid, c1, sizeof c1, c2h, fid, "t", err,
                                                 sizeof err),
                     VOUCH_STORE_E_EXISTS); /* c1 is sensor 1's */
    uint8_t h[32];
    EVP_Digest(c2, sizeof c2, h, NULL, EVP_sha256(), NULL);
    assert_int_equal(vouch_store_device_get_by_cert(s, h, &d, err, sizeof err), OK);
    assert_int_equal(d.id, d2);
    assert_int_equal(d.family_id, fid);
    assert_true(d.has_cert);
    assert_memory_equal(d.cert_der, c2, sizeof c2);
    assert_string_equal(d.account, "acme");
    vouch_store_device_clear(&d);
    h[0] ^= 1;
    assert_int_equal(vouch_store_device_get_by_cert(s, h, &d, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_device_get(s, b, "dev-1", 0, &d, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_device_set_status(s, 999, VOUCH_DEVICE_DISABLED, "t", err,
                                                   sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_device_set_status(s, d1, 9, "t", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_device_set_status(s, d1, VOUCH_DEVICE_DISABLED, "t", err,
                                                   sizeof err),
                     OK);
    /* last seen: batched, never moves back, unknown ids skipped */
    int64_t ids[3] = {d1, d2, 4242}, times[3] = {clock_now + 5, clock_now + 9, clock_now};
    assert_int_equal(vouch_store_device_touch(s, ids, times, 3, err, sizeof err), OK);
    times[0] = clock_now + 1;
    assert_int_equal(vouch_store_device_touch(s, ids, times, 1, err, sizeof err), OK);
    assert_int_equal(vouch_store_device_get(s, 0, NULL, d1, &d, err, sizeof err), OK);
    assert_int_equal(d.last_seen, clock_now + 5);
    assert_int_equal(d.status, VOUCH_DEVICE_DISABLED);
    vouch_store_device_clear(&d);
    int count = 0;
    assert_int_equal(vouch_store_device_list(s, a, 0, 10, 0, (vouch_store_device_cb)count_cb,
                                             &count, err, sizeof err),
                     OK);
    assert_int_equal(count, 2);
    count = 0;
    assert_int_equal(vouch_store_device_list(s, a, d1, 10, 0, (vouch_store_device_cb)count_cb,
                                             &count, err, sizeof err),
                     OK);
    assert_int_equal(count, 1);
    assert_int_equal(vouch_store_device_list(s, a, 0, 0, 0, (vouch_store_device_cb)count_cb,
                                             &count, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* every admin write above is in the audit chain, which still verifies */
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    vouch_store_close(s);
}

/* ---- firmware: keys, releases, campaigns (schema 3) ---------------------------------- */

static int64_t new_account(vouch_store *s, const char *name)
{
    int64_t id = 0;
    assert_int_equal(vouch_store_account_create(s, name, "t", &id, err, sizeof err), OK);
    return id;
}

static int64_t new_device(vouch_store *s, int64_t account, const char *id, int64_t family)
{
    vouch_store_device in = {.account_id = account, .device_id = (char *)id,
                             .family_id = family, .status = VOUCH_DEVICE_ACTIVE};
    int64_t row = 0;
    assert_int_equal(vouch_store_device_insert(s, &in, "device.enroll", "t", &row, err,
                                               sizeof err),
                     OK);
    return row;
}

static void fill_key(vouch_store_fwkey *k, int64_t account, const char *name, uint8_t seed)
{
    memset(k, 0, sizeof *k);
    k->account_id = account;
    snprintf(k->name, sizeof k->name, "%s", name);
    k->alg = VOUCH_FWKEY_P256;
    k->pub_len = 65;
    memset(k->pub, seed, sizeof k->pub);
    k->pub[0] = 0x04;
    memset(k->keyhash, seed, sizeof k->keyhash);
    k->status = VOUCH_FWKEY_ACTIVE;
}

/* Audit entries whose action starts with ctx->prefix. */
typedef struct action_count {
    const char *prefix;
    int n;
} action_count;

static int action_cb(void *ctx, const vouch_store_audit_entry *e)
{
    action_count *a = ctx;
    a->n += strncmp(e->action, a->prefix, strlen(a->prefix)) == 0;
    return 0;
}

static int audited(vouch_store *s, const char *prefix)
{
    action_count a = {prefix, 0};
    assert_int_equal(vouch_store_audit_list(s, 0, 0, action_cb, &a, err, sizeof err), OK);
    return a.n;
}

static void test_migration_2_to_3_keeps_data(void **state)
{
    (void)state;
    char path[300];
    vouch_store *s = open_new(path, sizeof path);
    int64_t a = new_account(s, "acme");
    int64_t d = new_device(s, a, "dev-1", 0);
    add_cert(s, add_issuer(s, "ca"), 1);
    vouch_store_close(s);
    /* back to a version-2 database: what vouchd made before firmware */
    raw_exec(path, DROP_SCHEMA_3 "UPDATE schema_version SET version = 2");
    s = NULL;
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_set_clock(s, test_clock, NULL);
    int v = 0;
    assert_int_equal(vouch_store_schema_version(s, &v, err, sizeof err), OK);
    assert_int_equal(v, 3);
    int64_t got = 0;
    assert_int_equal(vouch_store_account_get(s, "acme", &got, err, sizeof err), OK);
    assert_int_equal(got, a);
    vouch_store_device dev;
    assert_int_equal(vouch_store_device_get(s, a, "dev-1", 0, &dev, err, sizeof err), OK);
    assert_int_equal(dev.id, d);
    vouch_store_device_clear(&dev);
    uint64_t n = 0;
    vouch_store_cert_filter f = {0};
    assert_int_equal(vouch_store_cert_count(s, &f, &n, err, sizeof err), OK);
    assert_int_equal(n, 1);
    /* the new tables work, and the old audit chain goes on */
    vouch_store_fwkey k;
    fill_key(&k, a, "k1", 7);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", NULL, err, sizeof err), OK);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(vouch_store_check_integrity(s, err, sizeof err), OK);
    vouch_store_close(s);
    /* and a second open migrates nothing */
    assert_int_equal(vouch_store_open_sqlite(path, &s, err, sizeof err), OK);
    vouch_store_close(s);
}

typedef struct key_seen {
    int n;
    vouch_store_fwkey last;
} key_seen;

static int key_cb(void *ctx, const vouch_store_fwkey *k)
{
    key_seen *ks = ctx;
    ks->n++;
    ks->last = *k;
    return 0;
}

static void test_fw_keys(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = new_account(s, "acme"), b = new_account(s, "beta"), id = 0, x = 0;
    vouch_store_fwkey k;
    fill_key(&k, a, "release-2026", 1);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &id, err, sizeof err), OK);
    assert_true(id > 0);
    /* refusals: the name again, the key again under another name, bad keys,
     * no account, bad names, bad status */
    fill_key(&k, a, "release-2026", 2);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "release-2026"));
    fill_key(&k, a, "other-name", 1);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_non_null(strstr(err, "already"));
    assert_non_null(strstr(err, "release-2026"));
    fill_key(&k, a, "k", 3);
    k.pub[0] = 0x02; /* compressed: not what the image verifier takes */
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "k", 3);
    k.pub_len = 64;
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "k", 3);
    k.alg = VOUCH_FWKEY_ED25519; /* with 65 bytes */
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "k", 3);
    k.alg = 9;
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "k", 3);
    k.status = 0;
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "", 3);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, a, "tab\there", 3);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_key(&k, 999, "k", 3);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_fwkey_insert(NULL, &k, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    /* the same key in another account is that account's business */
    fill_key(&k, b, "release-2026", 1);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err), OK);
    /* Ed25519 */
    fill_key(&k, a, "ed", 4);
    k.alg = VOUCH_FWKEY_ED25519;
    k.pub_len = 32;
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", &x, err, sizeof err), OK);
    key_seen ks = {0};
    assert_int_equal(vouch_store_fwkey_list(s, a, key_cb, &ks, err, sizeof err), OK);
    assert_int_equal(ks.n, 2);
    assert_string_equal(ks.last.name, "ed");
    assert_int_equal(ks.last.alg, VOUCH_FWKEY_ED25519);
    assert_int_equal(ks.last.pub_len, 32);
    assert_int_equal(ks.last.pub[5], 4);
    assert_int_equal(ks.last.keyhash[31], 4);
    assert_int_equal(ks.last.created_at, clock_now);
    /* retire: once audited, twice a no-op; unknown names refused */
    int before = audited(s, "fwkey.retire");
    assert_int_equal(vouch_store_fwkey_set_status(s, a, "ed", VOUCH_FWKEY_RETIRED, "t", err,
                                                  sizeof err),
                     OK);
    assert_int_equal(vouch_store_fwkey_set_status(s, a, "ed", VOUCH_FWKEY_RETIRED, "t", err,
                                                  sizeof err),
                     OK);
    assert_int_equal(audited(s, "fwkey.retire"), before + 1);
    assert_int_equal(vouch_store_fwkey_set_status(s, a, "nope", VOUCH_FWKEY_RETIRED, "t", err,
                                                  sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_fwkey_set_status(s, b, "ed", VOUCH_FWKEY_RETIRED, "t", err,
                                                  sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_fwkey_set_status(s, a, "ed", 5, "t", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    memset(&ks, 0, sizeof ks);
    assert_int_equal(vouch_store_fwkey_list(s, a, key_cb, &ks, err, sizeof err), OK);
    assert_int_equal(ks.last.status, VOUCH_FWKEY_RETIRED);
    assert_int_equal(vouch_store_fwkey_list(s, a, NULL, &ks, err, sizeof err), VOUCH_STORE_E_ARG);
    assert_int_equal(audited(s, "fwkey.add"), 3);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    vouch_store_close(s);
}

static void fill_release(vouch_store_release *r, int64_t account, const char *version,
                         uint32_t sec, uint8_t keyseed)
{
    memset(r, 0, sizeof *r);
    r->account_id = account;
    snprintf(r->version, sizeof r->version, "%s", version);
    r->ver_major = 1;
    r->sec_cnt = sec;
    memset(r->keyhash, keyseed, 32);
}

static int64_t add_release(vouch_store *s, int64_t account, const char *version, uint32_t sec,
                           uint8_t seed)
{
    vouch_store_release r;
    uint8_t img[1000];
    memset(img, seed, sizeof img);
    fill_release(&r, account, version, sec, 1);
    int64_t id = 0;
    assert_int_equal(vouch_store_release_insert(s, &r, img, sizeof img, "t", &id, err, sizeof err),
                     OK);
    return id;
}

static void test_releases(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = new_account(s, "acme"), b = new_account(s, "beta"), id = 0, x = 0;
    vouch_store_fwkey k;
    fill_key(&k, a, "signer", 9);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", NULL, err, sizeof err), OK);
    /* an image over many pages, every byte telling its offset */
    size_t len = 300001;
    uint8_t *img = malloc(len), buf[5000];
    assert_non_null(img);
    for (size_t i = 0; i < len; i++)
        img[i] = (uint8_t)(i * 7 + (i >> 8));
    vouch_store_release r;
    fill_release(&r, a, "1.2.3+4", 3, 9);
    r.ver_minor = 2;
    r.ver_revision = 3;
    r.ver_build = 4;
    r.has_vid = 1;
    memset(r.vid, 0xaa, 16);
    assert_int_equal(vouch_store_release_insert(s, &r, img, len, "t", &id, err, sizeof err), OK);
    assert_true(id > 0);
    /* the same bytes again: refused, naming the release that has them */
    fill_release(&r, a, "9.9.9", 1, 9);
    assert_int_equal(vouch_store_release_insert(s, &r, img, len, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    assert_int_equal(x, id);
    /* refusals: no bytes, too many, no version, no account */
    assert_int_equal(vouch_store_release_insert(s, &r, img, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_release_insert(s, &r, NULL, 10, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_release_insert(s, &r, img, VOUCH_RELEASE_IMAGE_MAX + 1u, "t",
                                                &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    r.version[0] = 0;
    assert_int_equal(vouch_store_release_insert(s, &r, img, 10, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    fill_release(&r, 999, "1.0.0", 1, 9);
    assert_int_equal(vouch_store_release_insert(s, &r, img, 10, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    /* another account may hold the same image */
    fill_release(&r, b, "1.2.3+4", 3, 9);
    assert_int_equal(vouch_store_release_insert(s, &r, img, len, "t", &x, err, sizeof err), OK);
    vouch_store_release g;
    assert_int_equal(vouch_store_release_get(s, id, &g, err, sizeof err), OK);
    assert_string_equal(g.version, "1.2.3+4");
    assert_int_equal(g.ver_minor, 2);
    assert_int_equal(g.ver_revision, 3);
    assert_int_equal(g.ver_build, 4);
    assert_int_equal(g.sec_cnt, 3);
    assert_int_equal(g.size, len);
    assert_true(g.has_vid);
    assert_false(g.has_cid);
    assert_int_equal(g.vid[15], 0xaa);
    assert_string_equal(g.key_name, "signer"); /* acme's key with that hash */
    uint8_t h[32];
    EVP_Digest(img, len, h, NULL, EVP_sha256(), NULL);
    assert_memory_equal(g.sha256, h, 32);
    assert_int_equal(vouch_store_release_get(s, x, &g, err, sizeof err), OK);
    assert_string_equal(g.key_name, ""); /* beta has no key of that hash */
    assert_int_equal(vouch_store_release_get(s, 777, &g, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_release_get(s, -1, &g, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    /* ranges: start, end, across pages, the last byte, empty at the end */
    size_t offs[] = {0, 1, 4095, 4096, 123457, len - 5000};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        assert_int_equal(vouch_store_release_read(s, id, offs[i], buf, sizeof buf, err,
                                                  sizeof err),
                         OK);
        assert_memory_equal(buf, img + offs[i], sizeof buf);
    }
    assert_int_equal(vouch_store_release_read(s, id, len - 1, buf, 1, err, sizeof err), OK);
    assert_int_equal(buf[0], img[len - 1]);
    assert_int_equal(vouch_store_release_read(s, id, len, buf, 0, err, sizeof err), OK);
    /* outside the image, unknown release, bad arguments */
    assert_int_equal(vouch_store_release_read(s, id, len - 1, buf, 2, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_release_read(s, id, len + 1, buf, 0, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_release_read(s, id, UINT64_MAX, buf, 1, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_release_read(s, 4242, 0, buf, 1, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_release_read(s, id, 0, NULL, 1, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    int count = 0;
    assert_int_equal(vouch_store_release_list(s, a, (vouch_store_release_cb)count_cb, &count, err,
                                              sizeof err),
                     OK);
    assert_int_equal(count, 1);
    assert_int_equal(audited(s, "release.upload"), 2);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    free(img);
    vouch_store_close(s);
}

typedef struct dev_seen {
    int n;
    char ids[8][16];
    int states[8];
    char versions[8][16];
} dev_seen;

static int dev_cb(void *ctx, const vouch_store_campaign_device *d)
{
    dev_seen *ds = ctx;
    if (ds->n < 8) {
        snprintf(ds->ids[ds->n], sizeof ds->ids[0], "%s", d->device_id);
        ds->states[ds->n] = d->state;
        snprintf(ds->versions[ds->n], sizeof ds->versions[0], "%s",
                 d->version ? d->version : "-");
    }
    ds->n++;
    return 0;
}

/* The campaign the store offers the device, 0 when none. */
static int64_t offer(vouch_store *s, int64_t account, int64_t family, int64_t row,
                     const char *version, uint32_t sec)
{
    vouch_store_update_query q = {account, family, row, version, sec};
    vouch_store_campaign c;
    vouch_store_release r;
    vouch_store_rc rc = vouch_store_update_find(s, &q, &c, &r, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND)
        return 0;
    assert_int_equal(rc, OK);
    assert_int_equal(c.release_id, r.id);
    assert_string_equal(c.version, r.version);
    return c.id;
}

static void test_campaigns(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = new_account(s, "acme"), b = new_account(s, "beta"), fid = 0, fb = 0;
    uint8_t fder[] = {0x30, 0x03, 0x02, 0x01, 0x0a}, fder2[] = {0x30, 0x03, 0x02, 0x01, 0x0b};
    vouch_store_family fam = {.account_id = a, .cert_der = fder, .cert_der_len = sizeof fder,
                              .subject = "CN=meters", .status = VOUCH_FAMILY_VERIFIED,
                              .ours = 1};
    assert_int_equal(vouch_store_family_insert(s, &fam, "t", &fid, err, sizeof err), OK);
    fam.account_id = b;
    fam.cert_der = fder2;
    assert_int_equal(vouch_store_family_insert(s, &fam, "t", &fb, err, sizeof err), OK);
    int64_t d1 = new_device(s, a, "d1", fid), d2 = new_device(s, a, "d2", 0),
            d3 = new_device(s, a, "d3", fid), e1 = new_device(s, b, "e1", fb);
    int64_t r1 = add_release(s, a, "1.0.0", 1, 1), r2 = add_release(s, a, "1.1.0", 2, 2),
            rb = add_release(s, b, "1.0.0", 1, 3);
    vouch_store_campaign in = {.account_id = a, .release_id = r1,
                               .target = VOUCH_CAMPAIGN_ALL, .status = VOUCH_CAMPAIGN_ACTIVE};
    int64_t c1 = 0, c2 = 0, c3 = 0, x = 0;
    /* refusals: another account's release, family or device; bad targets */
    in.release_id = rb;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_non_null(strstr(err, "release"));
    in.release_id = r2;
    in.target = VOUCH_CAMPAIGN_FAMILY;
    in.family_id = fb;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_non_null(strstr(err, "family"));
    in.family_id = 0;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.target = VOUCH_CAMPAIGN_DEVICES;
    int64_t rows_bad[] = {d1, e1};
    assert_int_equal(vouch_store_campaign_create(s, &in, rows_bad, 2, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_non_null(strstr(err, "device"));
    assert_int_equal(vouch_store_campaign_create(s, &in, rows_bad, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    int64_t rows_neg[] = {d1, -4};
    assert_int_equal(vouch_store_campaign_create(s, &in, rows_neg, 2, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.target = 7;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.target = VOUCH_CAMPAIGN_ALL;
    in.status = VOUCH_CAMPAIGN_FINISHED;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    in.status = VOUCH_CAMPAIGN_ACTIVE;
    in.release_id = 0;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &x, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(audited(s, "campaign."), 0); /* nothing refused was written */
    /* c1: r1 to all of acme; c2: r2 to the family; c3: r2 to d2 and d1 */
    in.release_id = r1;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &c1, err, sizeof err), OK);
    in.release_id = r2;
    in.target = VOUCH_CAMPAIGN_FAMILY;
    in.family_id = fid;
    assert_int_equal(vouch_store_campaign_create(s, &in, NULL, 0, "t", &c2, err, sizeof err), OK);
    in.target = VOUCH_CAMPAIGN_DEVICES;
    in.family_id = 0;
    int64_t rows[] = {d2, d2, d1};
    assert_int_equal(vouch_store_campaign_create(s, &in, rows, 3, "t", &c3, err, sizeof err), OK);
    assert_true(c1 < c2 && c2 < c3);
    /* the newest campaign that targets the device and is not what it runs */
    assert_int_equal(offer(s, a, fid, d1, "0.9.0", 0), c3);
    assert_int_equal(offer(s, a, 0, d2, "0.9.0", 0), c3);
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 0), c2);
    assert_int_equal(offer(s, b, fb, e1, "0.9.0", 0), 0);
    assert_int_equal(offer(s, a, fid, d1, "1.1.0", 0), c1); /* runs r2: r1 is offered */
    assert_int_equal(offer(s, a, 0, d2, "1.0.0", 0), c3);
    /* never below the device's security counter */
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 2), c2);
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 3), 0);
    assert_int_equal(offer(s, a, fid, d1, "1.1.0", 2), 0);
    /* ended in a campaign (confirmed, rejected, reverted): the next one */
    assert_int_equal(vouch_store_update_report(s, c3, d1, VOUCH_UPDATE_CONFIRMED, "ok", err,
                                               sizeof err),
                     OK);
    assert_int_equal(offer(s, a, fid, d1, "0.9.0", 0), c2);
    assert_int_equal(vouch_store_update_report(s, c2, d1, VOUCH_UPDATE_REVERTED, NULL, err,
                                               sizeof err),
                     OK);
    assert_int_equal(offer(s, a, fid, d1, "0.9.0", 0), c1);
    assert_int_equal(vouch_store_update_report(s, c1, d1, VOUCH_UPDATE_REJECTED, "bad sig", err,
                                               sizeof err),
                     OK);
    assert_int_equal(offer(s, a, fid, d1, "0.9.0", 0), 0);
    /* failed is not the end: offered again */
    assert_int_equal(vouch_store_update_report(s, c3, d2, VOUCH_UPDATE_DOWNLOADING, "", err,
                                               sizeof err),
                     OK);
    assert_int_equal(vouch_store_update_report(s, c3, d2, VOUCH_UPDATE_FAILED, "flash error",
                                               err, sizeof err),
                     OK);
    assert_int_equal(offer(s, a, 0, d2, "0.9.0", 0), c3);
    /* report refusals */
    char big[VOUCH_UPDATE_DETAIL_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(vouch_store_update_report(s, c3, d2, VOUCH_UPDATE_FAILED, big, err,
                                               sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_update_report(s, c3, d2, VOUCH_UPDATE_PENDING, "", err,
                                               sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_update_report(s, c3, d2, VOUCH_UPDATE_STATES, "", err,
                                               sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_update_report(s, 999, d2, VOUCH_UPDATE_FAILED, "", err,
                                               sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_update_report(s, c3, 999, VOUCH_UPDATE_FAILED, "", err,
                                               sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    /* who may download what */
    vouch_store_update_query q2 = {a, 0, d2, "0.9.0", 0}, q3 = {a, fid, d3, "0.9.0", 0};
    int yes = -1;
    assert_int_equal(vouch_store_update_allowed(s, &q2, r2, &yes, err, sizeof err), OK);
    assert_true(yes);
    assert_int_equal(vouch_store_update_allowed(s, &q2, rb, &yes, err, sizeof err), OK);
    assert_false(yes);
    assert_int_equal(vouch_store_campaign_targets(s, c3, &q2, &yes, err, sizeof err), OK);
    assert_true(yes);
    assert_int_equal(vouch_store_campaign_targets(s, c3, &q3, &yes, err, sizeof err), OK);
    assert_false(yes);
    assert_int_equal(vouch_store_campaign_targets(s, c2, &q2, &yes, err, sizeof err), OK);
    assert_false(yes);
    /* pause, resume, finish; nothing comes back from finished */
    assert_int_equal(vouch_store_campaign_set_status(s, c2, VOUCH_CAMPAIGN_PAUSED, "t", err,
                                                     sizeof err),
                     OK);
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 0), c1);
    assert_int_equal(vouch_store_update_allowed(s, &q3, r2, &yes, err, sizeof err), OK);
    assert_false(yes); /* paused: no download either */
    assert_int_equal(vouch_store_campaign_set_status(s, c2, VOUCH_CAMPAIGN_ACTIVE, "t", err,
                                                     sizeof err),
                     OK);
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 0), c2);
    assert_int_equal(vouch_store_campaign_set_status(s, c2, VOUCH_CAMPAIGN_FINISHED, "t", err,
                                                     sizeof err),
                     OK);
    assert_int_equal(vouch_store_campaign_set_status(s, c2, VOUCH_CAMPAIGN_FINISHED, "t", err,
                                                     sizeof err),
                     OK);
    assert_int_equal(vouch_store_campaign_set_status(s, c2, VOUCH_CAMPAIGN_ACTIVE, "t", err,
                                                     sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(vouch_store_campaign_set_status(s, 999, VOUCH_CAMPAIGN_PAUSED, "t", err,
                                                     sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    assert_int_equal(vouch_store_campaign_set_status(s, c1, 0, "t", err, sizeof err),
                     VOUCH_STORE_E_ARG);
    assert_int_equal(offer(s, a, fid, d3, "0.9.0", 0), c1);
    assert_int_equal(vouch_store_campaign_targets(s, c2, &q3, &yes, err, sizeof err), OK);
    assert_true(yes); /* a finished campaign still knows whom it targeted */
    /* counts: c3 targets two, one confirmed, one failed */
    vouch_store_campaign c;
    assert_int_equal(vouch_store_campaign_get(s, c3, &c, err, sizeof err), OK);
    assert_int_equal(c.target, VOUCH_CAMPAIGN_DEVICES);
    assert_int_equal(c.targeted, 2);
    assert_int_equal(c.counts[VOUCH_UPDATE_CONFIRMED], 1);
    assert_int_equal(c.counts[VOUCH_UPDATE_FAILED], 1);
    assert_int_equal(c.counts[VOUCH_UPDATE_DOWNLOADING], 0); /* last writer won */
    assert_int_equal(c.counts[VOUCH_UPDATE_PENDING], 0);
    assert_string_equal(c.version, "1.1.0");
    assert_int_equal(vouch_store_campaign_get(s, c1, &c, err, sizeof err), OK);
    assert_int_equal(c.targeted, 3); /* all of acme */
    assert_int_equal(c.counts[VOUCH_UPDATE_REJECTED], 1);
    assert_int_equal(c.counts[VOUCH_UPDATE_PENDING], 2);
    assert_int_equal(vouch_store_campaign_get(s, c2, &c, err, sizeof err), OK);
    assert_int_equal(c.status, VOUCH_CAMPAIGN_FINISHED);
    assert_int_equal(c.family_id, fid);
    assert_int_equal(c.targeted, 2); /* d1 and d3 */
    assert_int_equal(c.counts[VOUCH_UPDATE_REVERTED], 1);
    assert_int_equal(c.counts[VOUCH_UPDATE_PENDING], 1);
    assert_int_equal(vouch_store_campaign_get(s, 999, &c, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    /* the devices: a list target shows the silent ones too; others only
     * those that reported; each with the version it said it runs */
    assert_int_equal(vouch_store_device_fw_report(s, d1, "1.1.0", 2, err, sizeof err), OK);
    assert_int_equal(vouch_store_device_fw_report(s, d1, "1.1.0", 2, err, sizeof err), OK);
    assert_int_equal(vouch_store_device_fw_report(s, 4242, "1.1.0", 2, err, sizeof err), OK);
    assert_int_equal(vouch_store_device_fw_report(s, d1, "", 2, err, sizeof err),
                     VOUCH_STORE_E_ARG);
    dev_seen ds = {0};
    assert_int_equal(vouch_store_campaign_devices(s, c3, dev_cb, &ds, err, sizeof err), OK);
    assert_int_equal(ds.n, 2);
    assert_string_equal(ds.ids[0], "d1");
    assert_int_equal(ds.states[0], VOUCH_UPDATE_CONFIRMED);
    assert_string_equal(ds.versions[0], "1.1.0");
    assert_string_equal(ds.ids[1], "d2");
    assert_int_equal(ds.states[1], VOUCH_UPDATE_FAILED);
    assert_string_equal(ds.versions[1], "-");
    int64_t c4 = 0;
    int64_t rows4[] = {d3};
    assert_int_equal(vouch_store_campaign_create(s, &in, rows4, 1, "t", &c4, err, sizeof err), OK);
    memset(&ds, 0, sizeof ds);
    assert_int_equal(vouch_store_campaign_devices(s, c4, dev_cb, &ds, err, sizeof err), OK);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.states[0], VOUCH_UPDATE_PENDING);
    memset(&ds, 0, sizeof ds);
    assert_int_equal(vouch_store_campaign_devices(s, c1, dev_cb, &ds, err, sizeof err), OK);
    assert_int_equal(ds.n, 1);
    assert_int_equal(vouch_store_campaign_devices(s, 999, dev_cb, &ds, err, sizeof err),
                     VOUCH_STORE_E_NOT_FOUND);
    int count = 0;
    assert_int_equal(vouch_store_campaign_list(s, a, (vouch_store_campaign_cb)count_cb, &count,
                                               err, sizeof err),
                     OK);
    assert_int_equal(count, 4);
    count = 0;
    assert_int_equal(vouch_store_campaign_list(s, b, (vouch_store_campaign_cb)count_cb, &count,
                                               err, sizeof err),
                     OK);
    assert_int_equal(count, 0);
    /* admin writes audited (4 creates, pause, resume, finish); device
     * reports are not */
    assert_int_equal(audited(s, "campaign.create"), 4);
    assert_int_equal(audited(s, "campaign."), 7);
    assert_int_equal(audited(s, "update"), 0);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    assert_int_equal(vouch_store_check_integrity(s, err, sizeof err), OK);
    vouch_store_close(s);
}

/* A write inside a group that fails is undone alone; the firmware writes
 * take part in groups like the others. */
static void test_fw_in_group(void **state)
{
    (void)state;
    vouch_store *s = open_new(NULL, 0);
    int64_t a = new_account(s, "acme"), x = 0;
    assert_int_equal(vouch_store_begin(s, err, sizeof err), OK);
    vouch_store_fwkey k;
    fill_key(&k, a, "k1", 1);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", NULL, err, sizeof err), OK);
    assert_int_equal(vouch_store_fwkey_insert(s, &k, "t", NULL, err, sizeof err),
                     VOUCH_STORE_E_EXISTS);
    vouch_store_release r;
    uint8_t img[64] = {1};
    fill_release(&r, a, "2.0.0", 0, 1);
    assert_int_equal(vouch_store_release_insert(s, &r, img, sizeof img, "t", &x, err, sizeof err),
                     OK);
    assert_int_equal(vouch_store_commit(s, err, sizeof err), OK);
    key_seen ks = {0};
    assert_int_equal(vouch_store_fwkey_list(s, a, key_cb, &ks, err, sizeof err), OK);
    assert_int_equal(ks.n, 1);
    uint8_t back[64];
    assert_int_equal(vouch_store_release_read(s, x, 0, back, sizeof back, err, sizeof err), OK);
    assert_memory_equal(back, img, sizeof img);
    vouch_store_audit_report rep;
    assert_int_equal(vouch_store_audit_verify(s, &rep, err, sizeof err), OK);
    vouch_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_creates_schema_wal),
        cmocka_unit_test(test_open_bad_arguments),
        cmocka_unit_test(test_open_garbage_file),
        cmocka_unit_test(test_open_truncated_header),
        cmocka_unit_test(test_damaged_pages_reported),
        cmocka_unit_test(test_open_foreign_database),
        cmocka_unit_test(test_open_newer_schema_refused),
        cmocka_unit_test(test_null_store_everywhere),
        cmocka_unit_test(test_strerror_distinct),
        cmocka_unit_test(test_issuers),
        cmocka_unit_test(test_crl_numbers),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_cert_insert_get),
        cmocka_unit_test(test_cert_insert_refusals),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_search_pagination),
        cmocka_unit_test(test_query_plans_never_scan),
        cmocka_unit_test(test_group_cache),
        cmocka_unit_test(test_group_broken_write),
        cmocka_unit_test(test_audit_details_as_jansson),
        cmocka_unit_test(test_list_revoked),
        cmocka_unit_test(test_changes_since),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_migration_1_to_2_keeps_data),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_migration_2_to_3_keeps_data),
        cmocka_unit_test(test_fw_keys),
        cmocka_unit_test(test_releases),
        cmocka_unit_test(test_campaigns),
        cmocka_unit_test(test_fw_in_group),
        cmocka_unit_test(test_audit_intact_and_append_refusals),
        cmocka_unit_test(test_audit_detects_changed_entry),
        cmocka_unit_test(test_audit_detects_removed_entry),
        cmocka_unit_test(test_audit_detects_reorder_and_rehash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
