/*
 * Accounts, device families and devices (docs/api.md, "Accounts, families
 * and devices"). Admin calls, behind the bearer token like the rest of
 * /v1/. Every change is one store write with its audit entry; a refused
 * call changes nothing.
 *
 * Family enrollment is proof of possession, the way AWS IoT registers a CA
 * and Azure DPS verifies one: a family CA certificate that is not one of
 * this CA's own issuers is stored as pending with a random verification
 * code; its owner signs a verification certificate whose subject CN is
 * that code with the family CA's key; the family becomes verified only
 * when that certificate's signature checks with the family certificate's
 * key. Only verified families vouch for devices (auth.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/http.h"

#define ACCOUNT_MAX 64
#define CODE_BYTES 16                    /* verification code: 32 hex digits */
#define CODE_TTL (24 * 3600)             /* seconds a verification code is good for */
#define PEM_MAX (16 * 1024)
#define LIST_DEFAULT 100
#define LIST_MAX 1000

#define E_ACCOUNT_EXISTS "account_exists"           /* 409 */
#define E_UNKNOWN_ACCOUNT "unknown_account"         /* 404 */
#define E_UNKNOWN_DEVICE "unknown_device"           /* 404 */
#define E_UNKNOWN_FAMILY "unknown_family"           /* 404 */
#define E_DEVICE_EXISTS "device_exists"             /* 409 */
#define E_CERT_ENROLLED "certificate_enrolled"      /* 409 */
#define E_FAMILY_EXISTS "family_exists"             /* 409 */
#define E_BAD_CERT "bad_certificate"                /* 400 */
#define E_NOT_CA "not_a_ca"                         /* 422 */
#define E_UNSUPPORTED_KEY "unsupported_key"         /* 422 */
#define E_CERT_EXPIRED "certificate_expired"        /* 422 */
#define E_ALREADY_VERIFIED "family_already_verified" /* 409 */
#define E_CODE_EXPIRED "verification_code_expired"  /* 410 */
#define E_CODE_MISMATCH "verification_code_mismatch" /* 422 */
#define E_VERIFY_FAILED "verification_failed"       /* 422 */

/* ---- helpers ------------------------------------------------------------------------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* One PEM certificate (and nothing else that is PEM) from a JSON string
 * member; NULL with the answer sent. */
static X509 *pem_member(struct evhttp_request *req, json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) == 0 || json_string_length(v) > PEM_MAX) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'%s' must be a PEM certificate of at most %d bytes", name, PEM_MAX);
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(s, (int)json_string_length(v));
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    X509 *extra = x ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    if (!x || extra) {
        X509_free(x);
        X509_free(extra);
        vouchd_send_error(req, 400, E_BAD_CERT, "'%s' is not exactly one PEM X.509 certificate",
                          name);
        return NULL;
    }
    return x;
}

static int der_of(X509 *x, uint8_t **der, size_t *len)
{
    *der = NULL;
    int n = i2d_X509(x, der);
    if (n <= 0)
        return -1;
    *len = (size_t)n;
    return 0;
}

int vouchd_account_of(struct evhttp_request *req, vouchd_worker *w, const char *name,
                      int64_t *id)
{
    char err[256] = "";
    if (!vouchd_name_ok_max(name, ACCOUNT_MAX)) {
        vouchd_send_error(req, 404, E_UNKNOWN_ACCOUNT,
                          "no such account (names are 1 to %d of A-Z a-z 0-9 . _ -)",
                          ACCOUNT_MAX);
        return -1;
    }
    vouch_store_rc rc = vouch_store_account_get(w->store, name, id, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, E_UNKNOWN_ACCOUNT, "no account named '%s'", name);
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "account lookup", err);
        return -1;
    }
    return 0;
}

static int parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* ---- accounts ------------------------------------------------------------------------ */

static int account_list_cb(void *ctx, const vouch_store_account_info *a)
{
    json_t *o = json_pack("{s:s,s:o,s:I,s:I}", "name", a->name, "created_at",
                          vouchd_epoch_json(a->created_at), "families", (json_int_t)a->families,
                          "devices", (json_int_t)a->devices);
    return !o || json_array_append_new(ctx, o) != 0;
}

void vouchd_h_accounts(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                       const char *rest)
{
    (void)rest;
    char err[256] = "";
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        json_t *arr = json_array();
        vouch_store_rc rc = arr ? vouch_store_account_list(w->store, account_list_cb, arr, err,
                                                           sizeof err)
                                : VOUCH_STORE_E_NOMEM;
        if (rc != VOUCH_STORE_OK) {
            json_decref(arr);
            vouchd_send_store_error(req, rc, "account list", err);
            return;
        }
        vouchd_send_json(req, 200, json_pack("{s:o}", "accounts", arr));
        return;
    }
    static const char *const allowed[] = {"name", NULL};
    json_t *j = vouchd_body_object(req, 0, "{\"name\": ...}");
    if (!j || vouchd_members_ok(req, j, allowed, "name") != 0) {
        json_decref(j);
        return;
    }
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name || !vouchd_name_ok_max(name, ACCOUNT_MAX)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'name' must be 1 to %d of A-Z a-z 0-9 . _ -", ACCOUNT_MAX);
        json_decref(j);
        return;
    }
    int64_t id = 0;
    vouch_store_rc rc = vouch_store_account_create(w->store, name, caller->actor, &id, err,
                                                   sizeof err);
    if (rc == VOUCH_STORE_E_EXISTS)
        vouchd_send_error(req, 409, E_ACCOUNT_EXISTS, "an account named '%s' exists", name);
    else if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "account create", err);
    else
        vouchd_send_json(req, 201, json_pack("{s:s,s:o,s:i,s:i}", "name", name, "created_at",
                                             vouchd_epoch_json((int64_t)time(NULL)), "families",
                                             0, "devices", 0));
    json_decref(j);
}

/* ---- devices ---------------------------------------------------------------------------- */

static json_t *device_json(const vouch_store_device *d, int64_t now)
{
    char fp[65];
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "device_id", d->device_id, "account",
                          d->account ? d->account : "",
                          "status", d->status == VOUCH_DEVICE_ACTIVE     ? "active"
                                    : d->status == VOUCH_DEVICE_DISABLED ? "disabled"
                                                                         : "blocked",
                          "enrollment", d->family_id ? "family" : "individual", "created_at",
                          vouchd_epoch_json(d->created_at), "presence",
                          vouchd_device_presence(d, now));
    if (!o)
        return NULL;
    json_object_set_new(o, "last_seen", d->last_seen ? vouchd_epoch_json(d->last_seen)
                                                     : json_null());
    if (d->family_id)
        json_object_set_new(o, "family_id", json_integer(d->family_id));
    if (d->has_cert) {
        hex(d->cert_sha256, 32, fp);
        json_object_set_new(o, "cert_sha256", json_string(fp));
        X509 *x = d->cert_der ? vouchd_der_cert(d->cert_der, d->cert_der_len) : NULL;
        if (x)
            json_object_set_new(o, "not_after", vouchd_time_json(X509_get0_notAfter(x)));
        X509_free(x);
    }
    return o;
}

typedef struct list_ctx {
    json_t *arr;
    int64_t now, last;
    int n;
} list_ctx;

static int device_list_cb(void *ctx, const vouch_store_device *d)
{
    list_ctx *l = ctx;
    json_t *o = device_json(d, l->now);
    l->last = d->id;
    l->n++;
    return !o || json_array_append_new(l->arr, o) != 0;
}

static void devices_list(struct evhttp_request *req, vouchd_worker *w, int64_t account_id)
{
    struct evkeyvalq q = {0};
    const char *uri = evhttp_request_get_uri(req);
    const char *qs = strchr(uri, '?');
    int64_t after = 0, limit = LIST_DEFAULT;
    char err[256] = "";
    if (qs && evhttp_parse_query_str(qs + 1, &q) != 0) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the query string does not parse");
        return;
    }
    const char *a = evhttp_find_header(&q, "after"), *l = evhttp_find_header(&q, "limit");
    int bad = (a && parse_id(a, &after) != 0) ||
              (l && (parse_id(l, &limit) != 0 || limit > LIST_MAX));
    for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next)
        bad = strcmp(kv->key, "after") != 0 && strcmp(kv->key, "limit") != 0;
    evhttp_clear_headers(&q);
    if (bad) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "query parameters: after=ID (a positive number), limit=1..%d", LIST_MAX);
        return;
    }
    list_ctx lc = {json_array(), (int64_t)time(NULL), 0, 0};
    vouch_store_rc rc = lc.arr ? vouch_store_device_list(w->store, account_id, after,
                                                         (unsigned)limit, 1, device_list_cb, &lc,
                                                         err, sizeof err)
                               : VOUCH_STORE_E_NOMEM;
    if (rc != VOUCH_STORE_OK) {
        json_decref(lc.arr);
        vouchd_send_store_error(req, rc, "device list", err);
        return;
    }
    json_t *ans = json_pack("{s:o}", "devices", lc.arr);
    if (ans)
        json_object_set_new(ans, "next_after", lc.n == limit ? json_integer(lc.last) : json_null());
    vouchd_send_json(req, 200, ans);
}

static int is_p256(EVP_PKEY *k)
{
    char group[32];
    size_t len = 0;
    return k && EVP_PKEY_is_a(k, "EC") &&
           EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &len) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

static void send_device(struct evhttp_request *req, vouchd_worker *w, int status, int64_t row)
{
    vouch_store_device d = {0};
    char err[256] = "";
    vouch_store_rc rc = vouch_store_device_get(w->store, 0, NULL, row, &d, err, sizeof err);
    if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "device read", err);
    else
        vouchd_send_json(req, status, device_json(&d, (int64_t)time(NULL)));
    vouch_store_device_clear(&d);
}

/* POST .../devices {"certificate"?, "device_id"?} */
static void device_enroll(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, int64_t account_id)
{
    static const char *const allowed[] = {"certificate", "device_id", NULL};
    json_t *j = vouchd_body_object(req, 0, "{\"certificate\": PEM, \"device_id\"?: ...}");
    X509 *x = NULL;
    uint8_t *der = NULL;
    size_t len = 0;
    char *cn = NULL, err[256] = "";
    if (!j || vouchd_members_ok(req, j, allowed, "certificate, device_id") != 0)
        goto out;
    json_t *idj = json_object_get(j, "device_id");
    const char *id = json_string_value(idj);
    if (idj && (!id || !vouchd_device_id_ok(id))) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'device_id' must be 1 to %d of A-Z a-z 0-9 . _ - : @ +",
                          VOUCH_DEVICE_ID_MAX);
        goto out;
    }
    if (json_object_get(j, "certificate")) {
        if (!(x = pem_member(req, j, "certificate")))
            goto out;
        if (!is_p256(X509_get0_pubkey(x))) {
            vouchd_send_error(req, 422, E_UNSUPPORTED_KEY,
                              "the certificate's key is not EC P-256 (device authentication "
                              "signs with P-256)");
            goto out;
        }
        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
            vouchd_send_error(req, 422, E_CERT_EXPIRED, "the certificate has expired");
            goto out;
        }
        if (!id) {
            cn = vouchd_common_name(X509_get_subject_name(x));
            if (!cn || !vouchd_device_id_ok(cn)) {
                vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                                  "the certificate's subject CN is not a usable device id; "
                                  "give 'device_id'");
                goto out;
            }
            id = cn;
        }
        if (der_of(x, &der, &len) != 0) {
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
            goto out;
        }
    } else if (!id) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "give 'certificate' (PEM), 'device_id', or both");
        goto out;
    }
    vouch_store_device in = {.account_id = account_id, .device_id = (char *)id,
                             .cert_der = der, .cert_der_len = len,
                             .status = VOUCH_DEVICE_ACTIVE};
    int64_t row = 0;
    vouch_store_rc rc = vouch_store_device_insert(w->store, &in, "device.enroll", caller->actor,
                                                  &row, err, sizeof err);
    vouchd_auth_devices_changed();
    if (rc == VOUCH_STORE_E_EXISTS && strstr(err, "certificate"))
        vouchd_send_error(req, 409, E_CERT_ENROLLED, "this certificate is enrolled already");
    else if (rc == VOUCH_STORE_E_EXISTS)
        vouchd_send_error(req, 409, E_DEVICE_EXISTS, "the account already has a device '%s'", id);
    else if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "device enroll", err);
    else
        send_device(req, w, 201, row);
out:
    json_decref(j);
    X509_free(x);
    OPENSSL_free(der);
    free(cn);
}

/* POST .../devices/<id>/<disable|enable|block>; GET .../devices/<id> */
static void device_item(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                        int64_t account_id, const char *id, const char *action)
{
    vouch_store_device d = {0};
    char err[256] = "";
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    vouch_device_status to = VOUCH_DEVICE_ACTIVE;
    if (action) {
        if (strcmp(action, "disable") == 0)
            to = VOUCH_DEVICE_DISABLED;
        else if (strcmp(action, "block") == 0)
            to = VOUCH_DEVICE_BLOCKED;
        else if (strcmp(action, "enable") != 0) {
            vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
            return;
        }
        if (get) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows POST");
            return;
        }
    } else if (!get) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows GET, HEAD");
        return;
    }
    if (!vouchd_device_id_ok(id)) {
        vouchd_send_error(req, 404, E_UNKNOWN_DEVICE,
                          "no such device (ids are 1 to %d of A-Z a-z 0-9 . _ - : @ +)",
                          VOUCH_DEVICE_ID_MAX);
        return;
    }
    vouch_store_rc rc = vouch_store_device_get(w->store, account_id, id, 0, &d, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND && action && to == VOUCH_DEVICE_BLOCKED) {
        /* block ahead: the device of a family that has not authenticated yet */
        vouch_store_device in = {.account_id = account_id, .device_id = (char *)id,
                                 .status = VOUCH_DEVICE_BLOCKED};
        int64_t row = 0;
        rc = vouch_store_device_insert(w->store, &in, "device.block", caller->actor, &row, err,
                                       sizeof err);
        vouchd_auth_devices_changed();
        if (rc == VOUCH_STORE_OK)
            send_device(req, w, 201, row);
        else
            vouchd_send_store_error(req, rc, "device block", err);
        return;
    }
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, E_UNKNOWN_DEVICE, "the account has no device '%s'", id);
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "device lookup", err);
        return;
    }
    if (get) {
        vouchd_send_json(req, 200, device_json(&d, (int64_t)time(NULL)));
    } else if (d.status == to) {
        send_device(req, w, 200, d.id); /* nothing to change, nothing audited */
    } else {
        rc = vouch_store_device_set_status(w->store, d.id, to, caller->actor, err, sizeof err);
        vouchd_auth_devices_changed();
        if (rc != VOUCH_STORE_OK)
            vouchd_send_store_error(req, rc, "device status", err);
        else
            send_device(req, w, 200, d.id);
    }
    vouch_store_device_clear(&d);
}

/* ---- families ------------------------------------------------------------------------------ */

static json_t *family_json(const vouch_store_family *f)
{
    char fp[65];
    hex(f->sha256, 32, fp);
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:b,s:s,s:o}", "id", (json_int_t)f->id, "account",
                          f->account ? f->account : "", "subject", f->subject ? f->subject : "",
                          "sha256", fp, "ours", f->ours, "status",
                          f->status == VOUCH_FAMILY_VERIFIED ? "verified" : "pending",
                          "created_at", vouchd_epoch_json(f->created_at));
    if (!o)
        return NULL;
    if (f->status == VOUCH_FAMILY_VERIFIED) {
        json_object_set_new(o, "verified_at", vouchd_epoch_json(f->verified_at));
    } else if (f->verify_code) {
        json_object_set_new(o, "verification_code", json_string(f->verify_code));
        json_object_set_new(o, "code_expires_at", vouchd_epoch_json(f->code_expires));
    }
    X509 *x = f->cert_der ? vouchd_der_cert(f->cert_der, f->cert_der_len) : NULL;
    if (x)
        json_object_set_new(o, "not_after", vouchd_time_json(X509_get0_notAfter(x)));
    X509_free(x);
    return o;
}

static void send_family(struct evhttp_request *req, vouchd_worker *w, int status, int64_t id)
{
    vouch_store_family f = {0};
    char err[256] = "";
    vouch_store_rc rc = vouch_store_family_get(w->store, id, NULL, &f, err, sizeof err);
    if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "family read", err);
    else
        vouchd_send_json(req, status, family_json(&f));
    vouch_store_family_clear(&f);
}

static int family_list_cb(void *ctx, const vouch_store_family *f)
{
    json_t *o = family_json(f);
    return !o || json_array_append_new(ctx, o) != 0;
}

typedef struct ours_ctx {
    const uint8_t *der;
    size_t len;
    int found;
} ours_ctx;

static int ours_cb(void *ctx, const vouch_store_issuer *is)
{
    ours_ctx *o = ctx;
    if (is->cert_der_len == o->len && memcmp(is->cert_der, o->der, o->len) == 0)
        o->found = 1;
    return o->found;
}

static int new_code(char out[2 * CODE_BYTES + 1])
{
    uint8_t r[CODE_BYTES];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    hex(r, sizeof r, out);
    return 0;
}

/* POST .../families {"certificate": PEM} */
static void family_enroll(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, int64_t account_id)
{
    static const char *const allowed[] = {"certificate", NULL};
    json_t *j = vouchd_body_object(req, 0, "{\"certificate\": PEM}");
    X509 *x = NULL;
    uint8_t *der = NULL;
    size_t len = 0;
    char err[256] = "", code[2 * CODE_BYTES + 1];
    json_t *subj = NULL;
    if (!j || vouchd_members_ok(req, j, allowed, "certificate") != 0 ||
        !(x = pem_member(req, j, "certificate")))
        goto out;
    if (X509_check_ca(x) < 1) {
        vouchd_send_error(req, 422, E_NOT_CA,
                          "the certificate is not a CA certificate (basicConstraints cA)");
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        vouchd_send_error(req, 422, E_CERT_EXPIRED, "the CA certificate has expired");
        goto out;
    }
    if (der_of(x, &der, &len) != 0 || !(subj = vouchd_name_json(X509_get_subject_name(x)))) {
        vouchd_send_error(req, 400, E_BAD_CERT, "the certificate's subject is not UTF-8");
        goto out;
    }
    ours_ctx oc = {der, len, 0};
    vouch_store_rc rc = vouch_store_issuer_list(w->store, ours_cb, &oc, err, sizeof err);
    if (rc != VOUCH_STORE_OK && rc != VOUCH_STORE_E_STOPPED) {
        vouchd_send_store_error(req, rc, "issuer list", err);
        goto out;
    }
    if (!oc.found && new_code(code) != 0) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "no random bytes");
        goto out;
    }
    vouch_store_family in = {.account_id = account_id, .cert_der = der, .cert_der_len = len,
                             .subject = (char *)json_string_value(subj), .ours = oc.found,
                             .status = oc.found ? VOUCH_FAMILY_VERIFIED : VOUCH_FAMILY_PENDING,
                             .verify_code = oc.found ? NULL : code,
                             .code_expires = oc.found ? 0 : (int64_t)time(NULL) + CODE_TTL};
    int64_t id = 0;
    rc = vouch_store_family_insert(w->store, &in, caller->actor, &id, err, sizeof err);
    if (rc == VOUCH_STORE_E_EXISTS) {
        vouchd_send_error(req, 409, E_FAMILY_EXISTS,
                          "this CA certificate is a registered family already (of this or "
                          "another account)");
    } else if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "family enroll", err);
    } else {
        vouchd_auth_families_changed();
        send_family(req, w, 201, id);
    }
out:
    json_decref(j);
    json_decref(subj);
    X509_free(x);
    OPENSSL_free(der);
}

/* POST .../families/<id>/verify {"certificate": PEM of the verification certificate} */
static void family_verify(struct evhttp_request *req, vouchd_worker *w,
                          const vouchd_caller *caller, const vouch_store_family *f)
{
    static const char *const allowed[] = {"certificate", NULL};
    json_t *j = vouchd_body_object(req, 0, "{\"certificate\": PEM}");
    X509 *v = NULL, *ca = NULL;
    char *cn = NULL, err[256] = "";
    if (!j || vouchd_members_ok(req, j, allowed, "certificate") != 0 ||
        !(v = pem_member(req, j, "certificate")))
        goto out;
    if (f->status == VOUCH_FAMILY_VERIFIED) {
        vouchd_send_error(req, 409, E_ALREADY_VERIFIED, "family %" PRId64 " is verified already",
                          f->id);
        goto out;
    }
    if (!f->verify_code || (int64_t)time(NULL) > f->code_expires) {
        vouchd_send_error(req, 410, E_CODE_EXPIRED,
                          "the verification code expired; ask for a new one (POST "
                          ".../families/%" PRId64 "/code)",
                          f->id);
        goto out;
    }
    cn = vouchd_common_name(X509_get_subject_name(v));
    size_t cl = cn ? strlen(cn) : 0, kl = strlen(f->verify_code);
    if (!cn || cl != kl || CRYPTO_memcmp(cn, f->verify_code, kl) != 0) {
        vouchd_send_error(req, 422, E_CODE_MISMATCH,
                          "the verification certificate's subject CN is not this family's "
                          "verification code");
        goto out;
    }
    if (!(ca = vouchd_der_cert(f->cert_der, f->cert_der_len))) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "the family certificate does not parse");
        goto out;
    }
    /* signed by the family CA's key: the issuer name is the CA's subject
     * and the signature checks with the CA certificate's public key */
    int issued = X509_check_issued(ca, v) == X509_V_OK;
    int sig = X509_verify(v, X509_get0_pubkey(ca)) == 1;
    int dated = X509_cmp_current_time(X509_get0_notBefore(v)) <= 0 &&
                X509_cmp_current_time(X509_get0_notAfter(v)) >= 0;
    ERR_clear_error();
    if (!issued || !sig || !dated) {
        vouchd_send_error(req, 422, E_VERIFY_FAILED,
                          "the verification certificate %s",
                          !sig      ? "is not signed by the family CA's key"
                          : !issued ? "does not name the family CA as its issuer"
                                    : "is outside its validity dates");
        goto out;
    }
    vouch_store_rc rc = vouch_store_family_verify(w->store, f->id, caller->actor, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "family verify", err);
        goto out;
    }
    vouchd_auth_families_changed();
    send_family(req, w, 200, f->id);
out:
    json_decref(j);
    X509_free(v);
    X509_free(ca);
    free(cn);
}

static void family_item(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                        int64_t account_id, const char *ids, const char *action)
{
    int64_t id = 0;
    char err[256] = "";
    vouch_store_family f = {0};
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    if (action && strcmp(action, "verify") != 0 && strcmp(action, "code") != 0) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    if (get == (action != NULL)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          action ? "POST" : "GET, HEAD");
        vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows %s",
                          action ? "POST" : "GET, HEAD");
        return;
    }
    vouch_store_rc rc = parse_id(ids, &id) == 0
                            ? vouch_store_family_get(w->store, id, NULL, &f, err, sizeof err)
                            : VOUCH_STORE_E_NOT_FOUND;
    if (rc == VOUCH_STORE_OK && f.account_id != account_id)
        rc = VOUCH_STORE_E_NOT_FOUND; /* another account's family is not there */
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, E_UNKNOWN_FAMILY, "the account has no family '%.20s'", ids);
    } else if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "family lookup", err);
    } else if (!action) {
        vouchd_send_json(req, 200, family_json(&f));
    } else if (strcmp(action, "verify") == 0) {
        family_verify(req, w, caller, &f);
    } else if (f.status == VOUCH_FAMILY_VERIFIED) {
        vouchd_send_error(req, 409, E_ALREADY_VERIFIED, "family %" PRId64 " is verified already",
                          f.id);
    } else {
        char code[2 * CODE_BYTES + 1];
        if (new_code(code) != 0) {
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "no random bytes");
        } else {
            rc = vouch_store_family_set_code(w->store, f.id, code, (int64_t)time(NULL) + CODE_TTL,
                                             caller->actor, err, sizeof err);
            if (rc != VOUCH_STORE_OK)
                vouchd_send_store_error(req, rc, "family code", err);
            else
                send_family(req, w, 200, f.id);
        }
    }
    vouch_store_family_clear(&f);
}

/* ---- routing under /v1/accounts/ ------------------------------------------------------------- */

void vouchd_h_account_item(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest)
{
    /* <name>/<kind>[/<id>[/<action>]] */
    char buf[256], *seg[5] = {0};
    int n = 0;
    if (strlen(rest) >= sizeof buf) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    memcpy(buf, rest, strlen(rest) + 1);
    for (char *p = buf, *save = NULL, *t; (t = strtok_r(p, "/", &save)) && n < 5; p = NULL)
        seg[n++] = t;
    size_t rl = strlen(rest);
    if (n == 0 || n > 4 || strstr(rest, "//") || rest[rl - 1] == '/') {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
    int devices = n >= 2 && strcmp(seg[1], "devices") == 0;
    int families = n >= 2 && strcmp(seg[1], "families") == 0;
    if (n >= 2 && !devices && !families) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    if (n <= 2 && !(get || (post && n == 2))) {
        const char *allow = n == 1 ? "GET, HEAD" : "GET, HEAD, POST";
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows %s", allow);
        return;
    }
    int64_t account_id = 0;
    if (vouchd_account_of(req, w, seg[0], &account_id) != 0)
        return;
    char err[256] = "";
    if (n == 1) {
        /* the account, with its counts */
        vouchd_send_json(req, 200, json_pack("{s:s}", "name", seg[0]));
        return;
    }
    if (devices && n == 2) {
        if (post)
            device_enroll(req, w, caller, account_id);
        else
            devices_list(req, w, account_id);
        return;
    }
    if (devices) {
        device_item(req, w, caller, account_id, seg[2], n == 4 ? seg[3] : NULL);
        return;
    }
    if (n == 2 && post) {
        family_enroll(req, w, caller, account_id);
        return;
    }
    if (n == 2) {
        json_t *arr = json_array();
        vouch_store_rc rc = arr ? vouch_store_family_list(w->store, account_id, family_list_cb,
                                                          arr, err, sizeof err)
                                : VOUCH_STORE_E_NOMEM;
        if (rc != VOUCH_STORE_OK) {
            json_decref(arr);
            vouchd_send_store_error(req, rc, "family list", err);
            return;
        }
        vouchd_send_json(req, 200, json_pack("{s:o}", "families", arr));
        return;
    }
    family_item(req, w, caller, account_id, seg[2], n == 4 ? seg[3] : NULL);
}
