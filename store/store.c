/*
 * The backend-independent half of the store: argument checks (so every
 * backend can trust its inputs), hashing, token generation, and the
 * dispatch through the vtable.
 */
#include "store/store_impl.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

const char *vouch_store_strerror(vouch_store_rc rc)
{
    switch (rc) {
    case VOUCH_STORE_OK: return "success";
    case VOUCH_STORE_E_ARG: return "invalid argument";
    case VOUCH_STORE_E_NOMEM: return "out of memory";
    case VOUCH_STORE_E_IO: return "database input/output error";
    case VOUCH_STORE_E_CORRUPT: return "database is damaged or not a vouch database";
    case VOUCH_STORE_E_SCHEMA_NEWER: return "database was written by a newer vouch";
    case VOUCH_STORE_E_BUSY: return "database is locked by another writer";
    case VOUCH_STORE_E_NOT_FOUND: return "no such record";
    case VOUCH_STORE_E_EXISTS: return "name already exists";
    case VOUCH_STORE_E_DUP_SERIAL: return "serial already used by this issuer";
    case VOUCH_STORE_E_UNKNOWN_ISSUER: return "unknown issuer";
    case VOUCH_STORE_E_UNKNOWN_CERT: return "unknown certificate";
    case VOUCH_STORE_E_ALREADY_REVOKED: return "certificate already revoked";
    case VOUCH_STORE_E_TXN: return "transaction misuse";
    case VOUCH_STORE_E_TOKEN_INVALID: return "token not recognized";
    case VOUCH_STORE_E_TOKEN_REVOKED: return "token revoked";
    case VOUCH_STORE_E_AUDIT_BROKEN: return "audit chain broken";
    case VOUCH_STORE_E_JSON: return "invalid JSON";
    case VOUCH_STORE_E_CRYPTO: return "cryptographic operation failed";
    case VOUCH_STORE_E_STOPPED: return "stopped by callback";
    case VOUCH_STORE_E_READONLY: return "database is read-only";
    case VOUCH_STORE_E_FULL: return "disk full";
    case VOUCH_STORE_E_INTERNAL: return "internal database error";
    }
    return "unknown store status";
}

vouch_store_rc vouch_store_fail(char *err, size_t n, vouch_store_rc rc, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

#define FAIL(rc, ...) return vouch_store_fail(err, errsize, (rc), __VA_ARGS__)

static int64_t default_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

int64_t vouch_store_now(vouch_store *s)
{
    return s->now ? s->now(s->now_ctx) : default_now(NULL);
}

void vouch_store_set_clock(vouch_store *s, int64_t (*now)(void *ctx), void *ctx)
{
    if (!s)
        return;
    s->now = now;
    s->now_ctx = ctx;
}

void vouch_store_hex(const uint8_t *in, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * len] = 0;
}

/* SHA-256 fetched once: EVP_sha256() makes every digest look it up again
 * (a provider fetch under a lock). */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md;

static void sha_fetch(void)
{
    sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int sha256(const void *msg, size_t len, uint8_t out[32])
{
    unsigned int olen = 0;
    (void)pthread_once(&sha_once, sha_fetch);
    return sha_md && EVP_Digest(msg, len, out, &olen, sha_md, NULL) == 1 && olen == 32 ? 0
                                                                                      : -1;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return p + bytes;
}

static uint8_t *put_str(uint8_t *p, const char *str, size_t len)
{
    p = put_be(p, (uint64_t)len, 4);
    if (len)
        memcpy(p, str, len);
    return p + len;
}

/* The entry is laid out in one buffer and hashed in one call: tag (with
 * its NUL), seq and time (8 bytes big-endian each), actor, action,
 * subject and details (each a 4-byte big-endian length, then the bytes),
 * then the previous hash. */
int vouch_store_audit_hash(int64_t seq, int64_t time_, const char *actor, const char *action,
                           const char *subject, const char *details,
                           const uint8_t prev_hash[32], uint8_t out[32])
{
    static const char tag[] = "vouch-audit-v1"; /* hashed with its NUL */
    const char *str[4] = {actor, action, subject, details};
    size_t len[4], total = sizeof tag + 16 + 32;
    for (int i = 0; i < 4; i++) {
        len[i] = str[i] ? strlen(str[i]) : 0;
        if (len[i] > UINT32_MAX)
            return -1;
        total += 4 + len[i];
    }
    uint8_t stack[1024], *buf = total <= sizeof stack ? stack : malloc(total);
    if (!buf)
        return -1;
    uint8_t *p = buf;
    memcpy(p, tag, sizeof tag);
    p += sizeof tag;
    p = put_be(p, (uint64_t)seq, 8);
    p = put_be(p, (uint64_t)time_, 8);
    for (int i = 0; i < 4; i++)
        p = put_str(p, str[i], len[i]);
    memcpy(p, prev_hash, 32);
    int rc = sha256(buf, total, out);
    if (buf != stack)
        free(buf);
    return rc;
}

/* ---- argument checks ------------------------------------------------------- */

static vouch_store_rc check_name(const char *what, const char *name, char *err, size_t errsize)
{
    if (!name || !*name)
        FAIL(VOUCH_STORE_E_ARG, "%s is missing or empty", what);
    size_t len = strnlen(name, VOUCH_STORE_NAME_MAX + 1);
    if (len > VOUCH_STORE_NAME_MAX)
        FAIL(VOUCH_STORE_E_ARG, "%s is longer than %d bytes", what, VOUCH_STORE_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            FAIL(VOUCH_STORE_E_ARG, "%s contains a control character", what);
    return VOUCH_STORE_OK;
}

static vouch_store_rc check_json_object(const char *what, const char *text, char *err,
                                        size_t errsize)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        FAIL(VOUCH_STORE_E_JSON, "%s: %s at line %d column %d", what, je.text, je.line,
             je.column);
    int is_obj = json_is_object(j);
    json_decref(j);
    if (!is_obj)
        FAIL(VOUCH_STORE_E_JSON, "%s is not a JSON object", what);
    return VOUCH_STORE_OK;
}

static vouch_store_rc check_serial(const uint8_t *serial, size_t len, char *err, size_t errsize)
{
    if (!serial || len == 0 || len > VOUCH_SERIAL_MAX)
        FAIL(VOUCH_STORE_E_ARG, "serial must be 1..%d bytes (got %zu)", VOUCH_SERIAL_MAX,
             serial ? len : 0);
    return VOUCH_STORE_OK;
}

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        vouch_store_rc rc_ = (expr);                                                       \
        if (rc_ != VOUCH_STORE_OK)                                                         \
            return rc_;                                                                    \
    } while (0)

#define NEED_STORE()                                                                       \
    do {                                                                                   \
        if (!s || !s->ops)                                                                 \
            FAIL(VOUCH_STORE_E_ARG, "store is NULL");                                      \
    } while (0)

#define ACTOR(a) ((a) && *(a) ? (a) : "system")

/* ---- dispatch ------------------------------------------------------------------ */

void vouch_store_close(vouch_store *s)
{
    if (s && s->ops)
        s->ops->close(s);
}

vouch_store_rc vouch_store_schema_version(vouch_store *s, int *v, char *err, size_t errsize)
{
    NEED_STORE();
    if (!v)
        FAIL(VOUCH_STORE_E_ARG, "version is NULL");
    return s->ops->schema_version(s, v, err, errsize);
}

vouch_store_rc vouch_store_check_integrity(vouch_store *s, char *err, size_t errsize)
{
    NEED_STORE();
    return s->ops->check_integrity(s, err, errsize);
}

vouch_store_rc vouch_store_begin(vouch_store *s, char *err, size_t errsize)
{
    NEED_STORE();
    return s->ops->begin(s, err, errsize);
}

vouch_store_rc vouch_store_commit(vouch_store *s, char *err, size_t errsize)
{
    NEED_STORE();
    return s->ops->commit(s, err, errsize);
}

vouch_store_rc vouch_store_rollback(vouch_store *s, char *err, size_t errsize)
{
    NEED_STORE();
    return s->ops->rollback(s, err, errsize);
}

vouch_store_rc vouch_store_issuer_insert(vouch_store *s, const vouch_store_issuer *in,
                                         const char *actor, int64_t *id, char *err,
                                         size_t errsize)
{
    NEED_STORE();
    if (!in)
        FAIL(VOUCH_STORE_E_ARG, "issuer is NULL");
    CHECK(check_name("issuer name", in->name, err, errsize));
    if (in->kind != VOUCH_ISSUER_ROOT && in->kind != VOUCH_ISSUER_ISSUING &&
        in->kind != VOUCH_ISSUER_FAMILY)
        FAIL(VOUCH_STORE_E_ARG, "issuer kind %d is not root, issuing or family", (int)in->kind);
    if (!in->cert_der || in->cert_der_len == 0)
        FAIL(VOUCH_STORE_E_ARG, "issuer certificate is empty");
    if (in->parent_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "parent_id is negative");
    int has_pem = in->key_pem && *in->key_pem, has_ref = in->key_ref && *in->key_ref;
    if (has_pem == has_ref)
        FAIL(VOUCH_STORE_E_ARG, "issuer needs exactly one of key_pem and key_ref");
    return s->ops->issuer_insert(s, in, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_issuer_get_by_name(vouch_store *s, const char *name,
                                              vouch_store_issuer *out, char *err,
                                              size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    CHECK(check_name("issuer name", name, err, errsize));
    return s->ops->issuer_get(s, name, 0, out, err, errsize);
}

vouch_store_rc vouch_store_issuer_get_by_id(vouch_store *s, int64_t id, vouch_store_issuer *out,
                                            char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if (id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "issuer id %lld is not positive", (long long)id);
    return s->ops->issuer_get(s, NULL, id, out, err, errsize);
}

vouch_store_rc vouch_store_issuer_list(vouch_store *s, vouch_store_issuer_cb cb, void *ctx,
                                       char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    return s->ops->issuer_list(s, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_issuer_next_crl_number(vouch_store *s, int64_t issuer_id,
                                                  int64_t *num, char *err, size_t errsize)
{
    NEED_STORE();
    if (!num || issuer_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "issuer id must be positive and output non-NULL");
    return s->ops->issuer_next_crl_number(s, issuer_id, num, err, errsize);
}

void vouch_store_issuer_clear(vouch_store_issuer *is)
{
    if (!is)
        return;
    free(is->_mem);
    memset(is, 0, sizeof *is);
}

vouch_store_rc vouch_store_template_put(vouch_store *s, const char *name, const char *body,
                                        const char *actor, char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_name("template name", name, err, errsize));
    if (!body)
        FAIL(VOUCH_STORE_E_ARG, "template body is NULL");
    CHECK(check_json_object("template body", body, err, errsize));
    return s->ops->template_put(s, name, body, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_template_get(vouch_store *s, const char *name,
                                        vouch_store_template *out, char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    CHECK(check_name("template name", name, err, errsize));
    return s->ops->template_get(s, name, out, err, errsize);
}

vouch_store_rc vouch_store_template_list(vouch_store *s, vouch_store_template_cb cb, void *ctx,
                                         char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    return s->ops->template_list(s, cb, ctx, err, errsize);
}

void vouch_store_template_clear(vouch_store_template *t)
{
    if (!t)
        return;
    free(t->_mem);
    memset(t, 0, sizeof *t);
}

vouch_store_rc vouch_store_cert_insert(vouch_store *s, const vouch_store_cert *in,
                                       const char *actor, int64_t *id, char *err, size_t errsize)
{
    NEED_STORE();
    if (!in)
        FAIL(VOUCH_STORE_E_ARG, "certificate is NULL");
    if (in->issuer_id <= 0)
        FAIL(VOUCH_STORE_E_UNKNOWN_ISSUER, "issuer id %lld names no issuer",
             (long long)in->issuer_id);
    CHECK(check_serial(in->serial, in->serial_len, err, errsize));
    if (!in->subject)
        FAIL(VOUCH_STORE_E_ARG, "certificate subject is NULL");
    if (!in->der || in->der_len == 0)
        FAIL(VOUCH_STORE_E_ARG, "certificate DER is empty");
    if (in->not_after < in->not_before)
        FAIL(VOUCH_STORE_E_ARG, "not_after is before not_before");
    if (in->renewed_from < 0)
        FAIL(VOUCH_STORE_E_ARG, "renewed_from is negative");
    if (in->device_id && strlen(in->device_id) > 1024)
        FAIL(VOUCH_STORE_E_ARG, "device id is longer than 1024 bytes");
    if (in->template_name)
        CHECK(check_name("template name", in->template_name, err, errsize));
    vouch_store_cert c = *in;
    if (sha256(in->der, in->der_len, c.sha256) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "SHA-256 of the certificate failed");
    return s->ops->cert_insert(s, &c, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_cert_get(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                    size_t serial_len, vouch_store_cert *out, char *err,
                                    size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    CHECK(check_serial(serial, serial_len, err, errsize));
    if (issuer_id <= 0)
        FAIL(VOUCH_STORE_E_UNKNOWN_CERT, "issuer id %lld names no issuer",
             (long long)issuer_id);
    return s->ops->cert_get(s, issuer_id, serial, serial_len, 0, NULL, out, err, errsize);
}

vouch_store_rc vouch_store_cert_get_by_id(vouch_store *s, int64_t id, vouch_store_cert *out,
                                          char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if (id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "certificate id %lld is not positive", (long long)id);
    return s->ops->cert_get(s, 0, NULL, 0, id, NULL, out, err, errsize);
}

vouch_store_rc vouch_store_cert_get_by_fingerprint(vouch_store *s, const uint8_t sha[32],
                                                   vouch_store_cert *out, char *err,
                                                   size_t errsize)
{
    NEED_STORE();
    if (!out || !sha)
        FAIL(VOUCH_STORE_E_ARG, "fingerprint or output is NULL");
    memset(out, 0, sizeof *out);
    return s->ops->cert_get(s, 0, NULL, 0, 0, sha, out, err, errsize);
}

void vouch_store_cert_clear(vouch_store_cert *c)
{
    if (!c)
        return;
    free(c->_mem);
    memset(c, 0, sizeof *c);
}

vouch_store_rc vouch_store_cert_revoke(vouch_store *s, int64_t issuer_id, const uint8_t *serial,
                                       size_t serial_len, int reason, const char *actor,
                                       char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_serial(serial, serial_len, err, errsize));
    if (reason < 0 || reason > 10 || reason == 7 || reason == 8)
        FAIL(VOUCH_STORE_E_ARG, "revocation reason %d is not allowed (0-6, 9, 10)", reason);
    if (issuer_id <= 0)
        FAIL(VOUCH_STORE_E_UNKNOWN_CERT, "issuer id %lld names no issuer",
             (long long)issuer_id);
    return s->ops->cert_revoke(s, issuer_id, serial, serial_len, reason, ACTOR(actor), err,
                               errsize);
}

static vouch_store_rc check_filter(const vouch_store_cert_filter *f, char *err, size_t errsize)
{
    if (!f)
        FAIL(VOUCH_STORE_E_ARG, "filter is NULL");
    if (f->status < VOUCH_CERT_ANY || f->status > VOUCH_CERT_EXPIRED)
        FAIL(VOUCH_STORE_E_ARG, "status filter %d is out of range", (int)f->status);
    if (f->issuer_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "issuer filter is negative");
    if (f->template_name)
        CHECK(check_name("template filter", f->template_name, err, errsize));
    if (f->device_id && (!*f->device_id || strlen(f->device_id) > 1024))
        FAIL(VOUCH_STORE_E_ARG, "device id filter is empty or too long");
    return VOUCH_STORE_OK;
}

vouch_store_rc vouch_store_cert_search(vouch_store *s, const vouch_store_cert_filter *f,
                                       vouch_store_cursor *cur, unsigned limit, int with_der,
                                       vouch_store_cert_cb cb, void *ctx, char *err,
                                       size_t errsize)
{
    NEED_STORE();
    CHECK(check_filter(f, err, errsize));
    if (!cur || !cb)
        FAIL(VOUCH_STORE_E_ARG, "cursor or callback is NULL");
    if (limit == 0 || limit > 10000)
        FAIL(VOUCH_STORE_E_ARG, "limit %u is outside 1..10000", limit);
    return s->ops->cert_search(s, f, cur, limit, with_der, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_cert_count(vouch_store *s, const vouch_store_cert_filter *f,
                                      uint64_t *count, char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_filter(f, err, errsize));
    if (!count)
        FAIL(VOUCH_STORE_E_ARG, "count is NULL");
    return s->ops->cert_count(s, f, count, err, errsize);
}

vouch_store_rc vouch_store_cert_list_revoked(vouch_store *s, int64_t issuer_id,
                                             vouch_store_revoked_cb cb, void *ctx, char *err,
                                             size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    if (issuer_id <= 0)
        FAIL(VOUCH_STORE_E_UNKNOWN_ISSUER, "issuer id %lld names no issuer",
             (long long)issuer_id);
    return s->ops->cert_list_revoked(s, issuer_id, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_cert_changes_since(vouch_store *s, int64_t after_seq, unsigned limit,
                                              vouch_store_cert_cb cb, void *ctx,
                                              int64_t *last_seq, char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb || !last_seq)
        FAIL(VOUCH_STORE_E_ARG, "callback or last_seq is NULL");
    if (limit == 0 || limit > 10000)
        FAIL(VOUCH_STORE_E_ARG, "limit %u is outside 1..10000", limit);
    if (after_seq < 0)
        FAIL(VOUCH_STORE_E_ARG, "after_seq is negative");
    return s->ops->cert_changes_since(s, after_seq, limit, cb, ctx, last_seq, err, errsize);
}

vouch_store_rc vouch_store_cert_counts(vouch_store *s, vouch_store_counts *out, char *err,
                                       size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    return s->ops->cert_counts(s, out, err, errsize);
}

vouch_store_rc vouch_store_cert_counts_by_template(vouch_store *s,
                                                   vouch_store_template_counts_cb cb, void *ctx,
                                                   char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    return s->ops->cert_counts_by_template(s, cb, ctx, err, errsize);
}

/* ---- tokens ---------------------------------------------------------------------- */

static void b64url(const uint8_t *in, size_t len, char *out)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
        out[o++] = al[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
    }
    out[o] = 0;
}

vouch_store_rc vouch_store_token_create(vouch_store *s, const char *name, const char *actor,
                                        char token[VOUCH_TOKEN_LEN + 1], int64_t *id, char *err,
                                        size_t errsize)
{
    NEED_STORE();
    if (!token)
        FAIL(VOUCH_STORE_E_ARG, "token output is NULL");
    memset(token, 0, VOUCH_TOKEN_LEN + 1);
    CHECK(check_name("token name", name, err, errsize));
    uint8_t raw[32], hash[32];
    char tmp[VOUCH_TOKEN_LEN + 1];
    vouch_store_rc rc;
    if (RAND_bytes(raw, sizeof raw) != 1) {
        rc = vouch_store_fail(err, errsize, VOUCH_STORE_E_CRYPTO, "random generator failed");
        goto exit;
    }
    b64url(raw, sizeof raw, tmp);
    if (sha256(tmp, VOUCH_TOKEN_LEN, hash) != 0) {
        rc = vouch_store_fail(err, errsize, VOUCH_STORE_E_CRYPTO, "SHA-256 failed");
        goto exit;
    }
    rc = s->ops->token_insert(s, name, hash, ACTOR(actor), id, err, errsize);
    if (rc == VOUCH_STORE_OK)
        memcpy(token, tmp, sizeof tmp);
exit:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(tmp, sizeof tmp);
    return rc;
}

vouch_store_rc vouch_store_token_verify(vouch_store *s, const char *token, int64_t *id,
                                        char *name, size_t name_size, char *err, size_t errsize)
{
    NEED_STORE();
    if (id)
        *id = 0;
    if (name && name_size)
        name[0] = 0;
    if (!token)
        FAIL(VOUCH_STORE_E_TOKEN_INVALID, "no token presented");
    /* Length is public (every token has the same); reject early. */
    size_t len = strnlen(token, 4096);
    if (len == 0 || len >= 4096)
        FAIL(VOUCH_STORE_E_TOKEN_INVALID, "token is empty or too long");
    uint8_t hash[32];
    if (sha256(token, len, hash) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "SHA-256 failed");
    return s->ops->token_verify(s, hash, id, name, name_size, err, errsize);
}

vouch_store_rc vouch_store_token_revoke(vouch_store *s, int64_t id, const char *actor, char *err,
                                        size_t errsize)
{
    NEED_STORE();
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "token id %lld does not exist", (long long)id);
    return s->ops->token_revoke(s, id, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_token_list(vouch_store *s, vouch_store_token_cb cb, void *ctx,
                                      char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    return s->ops->token_list(s, cb, ctx, err, errsize);
}

/* ---- audit ------------------------------------------------------------------------- */

vouch_store_rc vouch_store_audit_append(vouch_store *s, const char *actor, const char *action,
                                        const char *subject, const char *details, int64_t *seq,
                                        char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_name("audit action", action, err, errsize));
    if (actor)
        CHECK(check_name("audit actor", actor, err, errsize));
    if (details)
        CHECK(check_json_object("audit details", details, err, errsize));
    if (subject && strlen(subject) > 4096)
        FAIL(VOUCH_STORE_E_ARG, "audit subject is longer than 4096 bytes");
    return s->ops->audit_append(s, ACTOR(actor), action, subject ? subject : "",
                                details ? details : "{}", seq, err, errsize);
}

vouch_store_rc vouch_store_audit_list(vouch_store *s, int64_t after_seq, unsigned limit,
                                      vouch_store_audit_cb cb, void *ctx, char *err,
                                      size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    if (after_seq < 0)
        FAIL(VOUCH_STORE_E_ARG, "after_seq is negative");
    return s->ops->audit_list(s, after_seq, limit, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_audit_verify(vouch_store *s, vouch_store_audit_report *rep, char *err,
                                        size_t errsize)
{
    NEED_STORE();
    if (!rep)
        FAIL(VOUCH_STORE_E_ARG, "report is NULL");
    memset(rep, 0, sizeof *rep);
    return s->ops->audit_verify(s, rep, err, errsize);
}

/* ---- accounts, families, devices ------------------------------------------------ */

#define CERT_DER_MAX (16 * 1024) /* a certificate larger than this is not one we keep */

static vouch_store_rc check_device_id(const char *id, char *err, size_t errsize)
{
    if (!id || !*id)
        FAIL(VOUCH_STORE_E_ARG, "device id is missing or empty");
    size_t len = strnlen(id, VOUCH_DEVICE_ID_MAX + 1);
    if (len > VOUCH_DEVICE_ID_MAX)
        FAIL(VOUCH_STORE_E_ARG, "device id is longer than %d bytes", VOUCH_DEVICE_ID_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            FAIL(VOUCH_STORE_E_ARG, "device id contains a control character");
    return VOUCH_STORE_OK;
}

static vouch_store_rc check_code(const char *code, char *err, size_t errsize)
{
    size_t len = code ? strnlen(code, VOUCH_FAMILY_CODE_MAX + 1) : 0;
    if (len == 0 || len > VOUCH_FAMILY_CODE_MAX)
        FAIL(VOUCH_STORE_E_ARG, "verification code must be 1..%d bytes", VOUCH_FAMILY_CODE_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)code[i] <= 0x20 || (unsigned char)code[i] >= 0x7f)
            FAIL(VOUCH_STORE_E_ARG, "verification code must be printable ASCII");
    return VOUCH_STORE_OK;
}

vouch_store_rc vouch_store_account_create(vouch_store *s, const char *name, const char *actor,
                                          int64_t *id, char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_name("account name", name, err, errsize));
    return s->ops->account_create(s, name, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_account_get(vouch_store *s, const char *name, int64_t *id, char *err,
                                       size_t errsize)
{
    NEED_STORE();
    if (!id)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    CHECK(check_name("account name", name, err, errsize));
    return s->ops->account_get(s, name, id, err, errsize);
}

vouch_store_rc vouch_store_account_list(vouch_store *s, vouch_store_account_cb cb, void *ctx,
                                        char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    return s->ops->account_list(s, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_family_insert(vouch_store *s, const vouch_store_family *in,
                                         const char *actor, int64_t *id, char *err,
                                         size_t errsize)
{
    NEED_STORE();
    if (!in || in->account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "family or its account is missing");
    if (!in->cert_der || in->cert_der_len == 0 || in->cert_der_len > CERT_DER_MAX)
        FAIL(VOUCH_STORE_E_ARG, "family certificate must be 1..%d bytes", CERT_DER_MAX);
    if (!in->subject)
        FAIL(VOUCH_STORE_E_ARG, "family subject is NULL");
    if (in->status != VOUCH_FAMILY_PENDING && in->status != VOUCH_FAMILY_VERIFIED)
        FAIL(VOUCH_STORE_E_ARG, "family status must be pending or verified");
    if (in->status == VOUCH_FAMILY_PENDING)
        CHECK(check_code(in->verify_code, err, errsize));
    vouch_store_family f = *in;
    if (f.status == VOUCH_FAMILY_VERIFIED) {
        f.verify_code = NULL;
        f.code_expires = 0;
    }
    f.ours = in->ours ? 1 : 0;
    if (sha256(in->cert_der, in->cert_der_len, f.sha256) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "cannot hash the family certificate");
    return s->ops->family_insert(s, &f, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_family_get(vouch_store *s, int64_t id, const uint8_t *sha256_,
                                      vouch_store_family *out, char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if ((id > 0) == (sha256_ != NULL))
        FAIL(VOUCH_STORE_E_ARG, "give a family id or a fingerprint, not both");
    return s->ops->family_get(s, id, sha256_, out, err, errsize);
}

vouch_store_rc vouch_store_family_set_code(vouch_store *s, int64_t id, const char *code,
                                           int64_t expires, const char *actor, char *err,
                                           size_t errsize)
{
    NEED_STORE();
    if (id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "family id must be positive");
    CHECK(check_code(code, err, errsize));
    return s->ops->family_set_code(s, id, code, expires, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_family_verify(vouch_store *s, int64_t id, const char *actor,
                                         char *err, size_t errsize)
{
    NEED_STORE();
    if (id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "family id must be positive");
    return s->ops->family_verify(s, id, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_family_list(vouch_store *s, int64_t account_id,
                                       vouch_store_family_cb cb, void *ctx, char *err,
                                       size_t errsize)
{
    NEED_STORE();
    if (!cb || account_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL or account id negative");
    return s->ops->family_list(s, account_id, cb, ctx, err, errsize);
}

void vouch_store_family_clear(vouch_store_family *f)
{
    if (!f)
        return;
    free(f->_mem);
    memset(f, 0, sizeof *f);
}

static vouch_store_rc check_device_status(vouch_device_status st, char *err, size_t errsize)
{
    if (st != VOUCH_DEVICE_ACTIVE && st != VOUCH_DEVICE_DISABLED && st != VOUCH_DEVICE_BLOCKED)
        FAIL(VOUCH_STORE_E_ARG, "device status must be active, disabled or blocked");
    return VOUCH_STORE_OK;
}

vouch_store_rc vouch_store_device_insert(vouch_store *s, const vouch_store_device *in,
                                         const char *action, const char *actor, int64_t *id,
                                         char *err, size_t errsize)
{
    NEED_STORE();
    if (!in || in->account_id <= 0 || in->family_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "device or its account is missing");
    CHECK(check_device_id(in->device_id, err, errsize));
    CHECK(check_device_status(in->status, err, errsize));
    if (!action || strncmp(action, "device.", 7) != 0)
        FAIL(VOUCH_STORE_E_ARG, "audit action must start with 'device.'");
    if ((in->cert_der == NULL) != (in->cert_der_len == 0) || in->cert_der_len > CERT_DER_MAX)
        FAIL(VOUCH_STORE_E_ARG, "device certificate must be absent or 1..%d bytes",
             CERT_DER_MAX);
    vouch_store_device d = *in;
    memset(d.cert_sha256, 0, sizeof d.cert_sha256);
    if (d.cert_der && sha256(d.cert_der, d.cert_der_len, d.cert_sha256) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "cannot hash the device certificate");
    return s->ops->device_insert(s, &d, action, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_device_get(vouch_store *s, int64_t account_id, const char *device_id,
                                      int64_t id, vouch_store_device *out, char *err,
                                      size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if (device_id) {
        if (account_id <= 0 || id != 0)
            FAIL(VOUCH_STORE_E_ARG, "a device id needs its account (and no row id)");
        CHECK(check_device_id(device_id, err, errsize));
    } else if (id <= 0) {
        FAIL(VOUCH_STORE_E_ARG, "give a device id with its account, or a row id");
    }
    return s->ops->device_get(s, account_id, device_id, device_id ? 0 : id, NULL, out, err,
                              errsize);
}

vouch_store_rc vouch_store_device_get_by_cert(vouch_store *s, const uint8_t sha256_[32],
                                              vouch_store_device *out, char *err,
                                              size_t errsize)
{
    NEED_STORE();
    if (!out || !sha256_)
        FAIL(VOUCH_STORE_E_ARG, "fingerprint or output is NULL");
    memset(out, 0, sizeof *out);
    return s->ops->device_get(s, 0, NULL, 0, sha256_, out, err, errsize);
}

vouch_store_rc vouch_store_device_set_status(vouch_store *s, int64_t id,
                                             vouch_device_status status, const char *actor,
                                             char *err, size_t errsize)
{
    NEED_STORE();
    if (id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "device row id must be positive");
    CHECK(check_device_status(status, err, errsize));
    return s->ops->device_set_status(s, id, status, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_device_set_cert(vouch_store *s, int64_t id, int64_t family_id,
                                           const uint8_t *der, size_t len,
                                           const uint8_t *expect_sha256, int64_t expect_family,
                                           const char *actor, char *err, size_t errsize)
{
    NEED_STORE();
    if (id <= 0 || family_id < 0 || expect_family < 0)
        FAIL(VOUCH_STORE_E_ARG, "device row id must be positive");
    if (!der || len == 0 || len > CERT_DER_MAX)
        FAIL(VOUCH_STORE_E_ARG, "device certificate must be 1..%d bytes", CERT_DER_MAX);
    uint8_t h[32];
    if (sha256(der, len, h) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "cannot hash the device certificate");
    return s->ops->device_set_cert(s, id, family_id, der, len, h, expect_sha256, expect_family,
                                   ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_device_touch(vouch_store *s, const int64_t *ids, const int64_t *times,
                                        size_t count, char *err, size_t errsize)
{
    NEED_STORE();
    if (count == 0)
        return VOUCH_STORE_OK;
    if (!ids || !times)
        FAIL(VOUCH_STORE_E_ARG, "ids or times is NULL");
    return s->ops->device_touch(s, ids, times, count, err, errsize);
}

vouch_store_rc vouch_store_device_list(vouch_store *s, int64_t account_id, int64_t after_id,
                                       unsigned limit, int with_der, vouch_store_device_cb cb,
                                       void *ctx, char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb || account_id <= 0 || after_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "callback or account missing");
    if (limit < 1 || limit > 10000)
        FAIL(VOUCH_STORE_E_ARG, "limit must be 1..10000 (got %u)", limit);
    return s->ops->device_list(s, account_id, after_id, limit, with_der, cb, ctx, err, errsize);
}

void vouch_store_device_clear(vouch_store_device *d)
{
    if (!d)
        return;
    free(d->_mem);
    memset(d, 0, sizeof *d);
}

/* ---- firmware keys, releases, campaigns ------------------------------------------------ */

static vouch_store_rc check_fwkey_name(const char *name, char *err, size_t errsize)
{
    size_t len = name ? strnlen(name, VOUCH_FWKEY_NAME_MAX + 1) : 0;
    if (len == 0 || len > VOUCH_FWKEY_NAME_MAX)
        FAIL(VOUCH_STORE_E_ARG, "firmware key name must be 1..%d bytes", VOUCH_FWKEY_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            FAIL(VOUCH_STORE_E_ARG, "firmware key name contains a control character");
    return VOUCH_STORE_OK;
}

vouch_store_rc vouch_store_fwkey_insert(vouch_store *s, const vouch_store_fwkey *in,
                                        const char *actor, int64_t *id, char *err,
                                        size_t errsize)
{
    NEED_STORE();
    if (!in || in->account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "firmware key or its account is missing");
    CHECK(check_fwkey_name(in->name, err, errsize));
    if (!((in->alg == VOUCH_FWKEY_P256 && in->pub_len == 65 && in->pub[0] == 0x04) ||
          (in->alg == VOUCH_FWKEY_ED25519 && in->pub_len == 32)))
        FAIL(VOUCH_STORE_E_ARG, "firmware key must be P-256 (65 bytes 04|X|Y) or Ed25519 "
                                "(32 bytes)");
    if (in->status != VOUCH_FWKEY_ACTIVE && in->status != VOUCH_FWKEY_RETIRED)
        FAIL(VOUCH_STORE_E_ARG, "firmware key status must be active or retired");
    return s->ops->fwkey_insert(s, in, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_fwkey_set_status(vouch_store *s, int64_t account_id, const char *name,
                                            vouch_fwkey_status status, const char *actor,
                                            char *err, size_t errsize)
{
    NEED_STORE();
    if (account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "account id must be positive");
    CHECK(check_fwkey_name(name, err, errsize));
    if (status != VOUCH_FWKEY_ACTIVE && status != VOUCH_FWKEY_RETIRED)
        FAIL(VOUCH_STORE_E_ARG, "firmware key status must be active or retired");
    return s->ops->fwkey_set_status(s, account_id, name, status, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_fwkey_list(vouch_store *s, int64_t account_id, vouch_store_fwkey_cb cb,
                                      void *ctx, char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb || account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "callback or account missing");
    return s->ops->fwkey_list(s, account_id, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_release_insert(vouch_store *s, const vouch_store_release *in,
                                          const uint8_t *image, size_t len, const char *actor,
                                          int64_t *id, char *err, size_t errsize)
{
    NEED_STORE();
    if (!in || in->account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "release or its account is missing");
    if (!image || len == 0 || len > VOUCH_RELEASE_IMAGE_MAX)
        FAIL(VOUCH_STORE_E_ARG, "release image must be 1..%u bytes", VOUCH_RELEASE_IMAGE_MAX);
    size_t vl = strnlen(in->version, sizeof in->version);
    if (vl == 0 || vl == sizeof in->version)
        FAIL(VOUCH_STORE_E_ARG, "release version must be 1..%d bytes",
             VOUCH_RELEASE_VERSION_MAX);
    vouch_store_release r = *in;
    r.size = len;
    if (sha256(image, len, r.sha256) != 0)
        FAIL(VOUCH_STORE_E_CRYPTO, "cannot hash the image");
    return s->ops->release_insert(s, &r, image, len, ACTOR(actor), id, err, errsize);
}

vouch_store_rc vouch_store_release_get(vouch_store *s, int64_t id, vouch_store_release *out,
                                       char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no release %lld", (long long)id);
    return s->ops->release_get(s, id, out, err, errsize);
}

vouch_store_rc vouch_store_release_list(vouch_store *s, int64_t account_id,
                                        vouch_store_release_cb cb, void *ctx, char *err,
                                        size_t errsize)
{
    NEED_STORE();
    if (!cb || account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "callback or account missing");
    return s->ops->release_list(s, account_id, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_release_read(vouch_store *s, int64_t id, uint64_t offset, uint8_t *buf,
                                        size_t len, char *err, size_t errsize)
{
    NEED_STORE();
    if ((!buf && len) || len > VOUCH_RELEASE_IMAGE_MAX || offset > VOUCH_RELEASE_IMAGE_MAX)
        FAIL(VOUCH_STORE_E_ARG, "bad buffer or range");
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no release %lld", (long long)id);
    return s->ops->release_read(s, id, offset, buf, len, err, errsize);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

vouch_store_rc vouch_store_campaign_create(vouch_store *s, const vouch_store_campaign *in,
                                           const int64_t *device_rows, size_t n,
                                           const char *actor, int64_t *id, char *err,
                                           size_t errsize)
{
    NEED_STORE();
    if (!in || in->account_id <= 0 || in->release_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "campaign, its account or its release is missing");
    if (in->status != VOUCH_CAMPAIGN_ACTIVE && in->status != VOUCH_CAMPAIGN_PAUSED)
        FAIL(VOUCH_STORE_E_ARG, "a new campaign is active or paused");
    switch (in->target) {
    case VOUCH_CAMPAIGN_ALL: break;
    case VOUCH_CAMPAIGN_FAMILY:
        if (in->family_id <= 0)
            FAIL(VOUCH_STORE_E_ARG, "a family campaign needs its family");
        break;
    case VOUCH_CAMPAIGN_DEVICES:
        if (!device_rows || n == 0 || n > VOUCH_CAMPAIGN_DEVICES_MAX)
            FAIL(VOUCH_STORE_E_ARG, "a device campaign needs 1..%d devices",
                 VOUCH_CAMPAIGN_DEVICES_MAX);
        break;
    default: FAIL(VOUCH_STORE_E_ARG, "campaign target must be all, family or devices");
    }
    if (in->target != VOUCH_CAMPAIGN_DEVICES)
        return s->ops->campaign_create(s, in, NULL, 0, ACTOR(actor), id, err, errsize);
    int64_t *rows = malloc(n * sizeof *rows);
    if (!rows)
        FAIL(VOUCH_STORE_E_NOMEM, "out of memory");
    memcpy(rows, device_rows, n * sizeof *rows);
    qsort(rows, n, sizeof *rows, cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i] <= 0) {
            free(rows);
            FAIL(VOUCH_STORE_E_ARG, "device row ids must be positive");
        }
        if (m == 0 || rows[m - 1] != rows[i])
            rows[m++] = rows[i];
    }
    vouch_store_rc rc = s->ops->campaign_create(s, in, rows, m, ACTOR(actor), id, err, errsize);
    free(rows);
    return rc;
}

vouch_store_rc vouch_store_campaign_get(vouch_store *s, int64_t id, vouch_store_campaign *out,
                                        char *err, size_t errsize)
{
    NEED_STORE();
    if (!out)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(out, 0, sizeof *out);
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no campaign %lld", (long long)id);
    return s->ops->campaign_get(s, id, out, err, errsize);
}

vouch_store_rc vouch_store_campaign_list(vouch_store *s, int64_t account_id,
                                         vouch_store_campaign_cb cb, void *ctx, char *err,
                                         size_t errsize)
{
    NEED_STORE();
    if (!cb || account_id <= 0)
        FAIL(VOUCH_STORE_E_ARG, "callback or account missing");
    return s->ops->campaign_list(s, account_id, cb, ctx, err, errsize);
}

vouch_store_rc vouch_store_campaign_set_status(vouch_store *s, int64_t id,
                                               vouch_campaign_status status, const char *actor,
                                               char *err, size_t errsize)
{
    NEED_STORE();
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no campaign %lld", (long long)id);
    if (status != VOUCH_CAMPAIGN_ACTIVE && status != VOUCH_CAMPAIGN_PAUSED &&
        status != VOUCH_CAMPAIGN_FINISHED)
        FAIL(VOUCH_STORE_E_ARG, "campaign status must be active, paused or finished");
    return s->ops->campaign_set_status(s, id, status, ACTOR(actor), err, errsize);
}

vouch_store_rc vouch_store_campaign_devices(vouch_store *s, int64_t id,
                                            vouch_store_campaign_device_cb cb, void *ctx,
                                            char *err, size_t errsize)
{
    NEED_STORE();
    if (!cb)
        FAIL(VOUCH_STORE_E_ARG, "callback is NULL");
    if (id <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no campaign %lld", (long long)id);
    return s->ops->campaign_devices(s, id, cb, ctx, err, errsize);
}

static vouch_store_rc check_query(const vouch_store_update_query *q, char *err, size_t errsize)
{
    if (!q || q->account_id <= 0 || q->device_row <= 0 || q->family_id < 0)
        FAIL(VOUCH_STORE_E_ARG, "the device (account, row) is missing");
    return VOUCH_STORE_OK;
}

vouch_store_rc vouch_store_update_find(vouch_store *s, const vouch_store_update_query *q,
                                       vouch_store_campaign *campaign,
                                       vouch_store_release *release, char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_query(q, err, errsize));
    if (!campaign || !release)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    memset(campaign, 0, sizeof *campaign);
    memset(release, 0, sizeof *release);
    if (!q->current_version || strnlen(q->current_version, VOUCH_RELEASE_VERSION_MAX + 1) >
                                   VOUCH_RELEASE_VERSION_MAX)
        FAIL(VOUCH_STORE_E_ARG, "current version must be 0..%d bytes",
             VOUCH_RELEASE_VERSION_MAX);
    return s->ops->update_find(s, q, campaign, release, err, errsize);
}

vouch_store_rc vouch_store_update_allowed(vouch_store *s, const vouch_store_update_query *q,
                                          int64_t release_id, int *yes, char *err,
                                          size_t errsize)
{
    NEED_STORE();
    CHECK(check_query(q, err, errsize));
    if (!yes)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    *yes = 0;
    if (release_id <= 0)
        return VOUCH_STORE_OK;
    return s->ops->update_targets(s, q, release_id, 0, yes, err, errsize);
}

vouch_store_rc vouch_store_campaign_targets(vouch_store *s, int64_t id,
                                            const vouch_store_update_query *q, int *yes,
                                            char *err, size_t errsize)
{
    NEED_STORE();
    CHECK(check_query(q, err, errsize));
    if (!yes)
        FAIL(VOUCH_STORE_E_ARG, "output is NULL");
    *yes = 0;
    if (id <= 0)
        return VOUCH_STORE_OK;
    return s->ops->update_targets(s, q, 0, id, yes, err, errsize);
}

vouch_store_rc vouch_store_update_report(vouch_store *s, int64_t campaign_id, int64_t device_row,
                                         vouch_update_state state, const char *detail,
                                         char *err, size_t errsize)
{
    NEED_STORE();
    if (campaign_id <= 0 || device_row <= 0)
        FAIL(VOUCH_STORE_E_NOT_FOUND, "no such campaign or device");
    if (state <= VOUCH_UPDATE_PENDING || state >= VOUCH_UPDATE_STATES)
        FAIL(VOUCH_STORE_E_ARG, "update state must be downloading .. failed");
    size_t dl = detail ? strnlen(detail, VOUCH_UPDATE_DETAIL_MAX + 1) : 0;
    if (dl > VOUCH_UPDATE_DETAIL_MAX)
        FAIL(VOUCH_STORE_E_ARG, "detail is longer than %d bytes", VOUCH_UPDATE_DETAIL_MAX);
    return s->ops->update_report(s, campaign_id, device_row, state, detail ? detail : "", err,
                                 errsize);
}

vouch_store_rc vouch_store_device_fw_report(vouch_store *s, int64_t device_row,
                                            const char *version, uint32_t sec_cnt, char *err,
                                            size_t errsize)
{
    NEED_STORE();
    size_t vl = version ? strnlen(version, VOUCH_RELEASE_VERSION_MAX + 1) : 0;
    if (device_row <= 0 || vl == 0 || vl > VOUCH_RELEASE_VERSION_MAX)
        FAIL(VOUCH_STORE_E_ARG, "device row or version missing or too long");
    return s->ops->device_fw_report(s, device_row, version, sec_cnt, err, errsize);
}
