/*
 * Firmware: an account's signing keys, releases and update campaigns
 * (admin calls, bearer token), and the device's update API (a session
 * token from POST /v1/auth/response). docs/api.md, "Firmware".
 *
 * An upload is verified before it is stored, with the code a device runs
 * (vouch_fw_verify_buf): the image must parse, hash and verify under one
 * of the account's active keys, so a release is known good before any
 * device sees it. The device API offers a device the newest active
 * campaign that targets it, serves the release's bytes (whole or one
 * range, streamed from the database a chunk at a time), and records the
 * device's progress.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <vouch/fw.h>
#include <vouch/port.h>
#include <vouch/se_proto.h>

#include "server/http.h"
#include "server/http_range.h"

#define ACCOUNT_MAX 64
#define PEM_MAX (16 * 1024)
#define CHUNK (256 * 1024) /* bytes of an image read and queued at a time */
#define WATCH_S 2          /* a streaming download checks its connection this often */

#define E_UNKNOWN_ACCOUNT "unknown_account"   /* 404 */
#define E_KEY_EXISTS "key_exists"             /* 409 */
#define E_BAD_KEY "bad_public_key"            /* 400 */
#define E_UNSUPPORTED_KEY "unsupported_key"   /* 422 */
#define E_UNKNOWN_FWKEY "unknown_key"         /* 404 on a key path; 422 for an image */
#define E_IMAGE_INVALID "image_invalid"       /* 400 */
#define E_BAD_SIGNATURE "bad_signature"       /* 422 */
#define E_KEY_RETIRED "key_retired"           /* 422 */
#define E_DUPLICATE "duplicate"               /* 409 */
#define E_UNKNOWN_RELEASE "unknown_release"   /* 404 */
#define E_UNKNOWN_CAMPAIGN "unknown_campaign" /* 404 */
#define E_UNKNOWN_FAMILY "unknown_family"     /* 404 */
#define E_UNKNOWN_DEVICE "unknown_device"     /* 404 */
#define E_FINISHED "campaign_finished"        /* 409 */
#define E_NOT_TARGETED "not_targeted"         /* 403 */
#define E_RANGE "range_not_satisfiable"       /* 416 */

static const char *const state_words[VOUCH_UPDATE_STATES] = {
    "pending", "downloading", "installed", "testing", "confirmed", "reverted", "rejected",
    "failed"};
static const char *const status_words[] = {"", "active", "paused", "finished"};

/* ---- helpers --------------------------------------------------------------------------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = 0;
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char s[2 * 64 + 1];
    hex(b, n, s);
    return json_string(s);
}

static json_t *uuid_json(const uint8_t u[16])
{
    char h[33], s[37];
    hex(u, 16, h);
    snprintf(s, sizeof s, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return json_string(s);
}

static void method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows %s", allow);
}

static void no_content(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, 204, "No Content", NULL);
}

/* A decimal id of 1..18 digits, > 0; 0 or -1. */
static int parse_id(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return -1;
    long long v = strtoll(s, NULL, 10);
    if (v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* A JSON integer member > 0; 0 or -1. */
static int json_id(json_t *v, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* ---- firmware keys ------------------------------------------------------------------------- */

static json_t *key_json(const vouch_store_fwkey *k)
{
    return json_pack("{s:s,s:s,s:o,s:s,s:o}", "name", k->name, "alg",
                     k->alg == VOUCH_FWKEY_P256 ? "p256" : "ed25519", "key_hash",
                     hex_json(k->keyhash, 32), "status",
                     k->status == VOUCH_FWKEY_ACTIVE ? "active" : "retired", "created_at",
                     vouchd_epoch_json(k->created_at));
}

typedef struct key_find {
    const char *name;
    vouch_store_fwkey found;
    int hit;
    json_t *arr; /* listing: every key */
} key_find;

static int key_cb(void *ctx, const vouch_store_fwkey *k)
{
    key_find *f = ctx;
    if (f->arr) {
        json_t *o = key_json(k);
        return !o || json_array_append_new(f->arr, o) != 0;
    }
    if (strcmp(k->name, f->name) == 0) {
        f->found = *k;
        f->hit = 1;
        return 1;
    }
    return 0;
}

/* The raw public key of a PEM SubjectPublicKeyInfo: P-256 as 04|X|Y (65
 * bytes, whatever point form the PEM used) or Ed25519 (32). 0, -1 (not a
 * key), or -2 (a key of another type). */
static int raw_key(const char *pem, size_t len, vouch_store_fwkey *k)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIGNUM *x = NULL, *y = NULL;
    char group[32];
    size_t gl = 0, rl = 32;
    int ret = -1;
    BIO_free(b);
    if (!pk)
        goto out;
    ret = -2;
    if (EVP_PKEY_is_a(pk, "EC")) {
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &gl) != 1 ||
            strcmp(group, "prime256v1") != 0 ||
            EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
            EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
            BN_bn2binpad(x, k->pub + 1, 32) != 32 || BN_bn2binpad(y, k->pub + 33, 32) != 32)
            goto out;
        k->pub[0] = 0x04;
        k->pub_len = 65;
        k->alg = VOUCH_FWKEY_P256;
        ret = 0;
    } else if (EVP_PKEY_is_a(pk, "ED25519")) {
        if (EVP_PKEY_get_raw_public_key(pk, k->pub, &rl) != 1 || rl != 32)
            goto out;
        k->pub_len = 32;
        k->alg = VOUCH_FWKEY_ED25519;
        ret = 0;
    }
out:
    ERR_clear_error();
    BN_free(x);
    BN_free(y);
    EVP_PKEY_free(pk);
    return ret;
}

/* POST .../firmware-keys {"name", "public_key"} */
static void key_add(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                    int64_t account_id)
{
    static const char *const allowed[] = {"name", "public_key", NULL};
    json_t *j = vouchd_body_object(req, 0, "{\"name\": ..., \"public_key\": PEM}");
    char err[256] = "";
    if (!j || vouchd_members_ok(req, j, allowed, "name, public_key") != 0)
        goto out;
    const char *name = json_string_value(json_object_get(j, "name"));
    json_t *pv = json_object_get(j, "public_key");
    const char *pem = json_string_value(pv);
    if (!name || !vouchd_name_ok_max(name, VOUCH_FWKEY_NAME_MAX)) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'name' must be 1 to %d of A-Z a-z 0-9 . _ -", VOUCH_FWKEY_NAME_MAX);
        goto out;
    }
    if (!pem || json_string_length(pv) == 0 || json_string_length(pv) > PEM_MAX) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'public_key' must be a PEM public key of at most %d bytes", PEM_MAX);
        goto out;
    }
    vouch_store_fwkey k;
    memset(&k, 0, sizeof k);
    int r = raw_key(pem, json_string_length(pv), &k);
    if (r == -1) {
        vouchd_send_error(req, 400, E_BAD_KEY,
                          "'public_key' is not a PEM public key (-----BEGIN PUBLIC KEY-----, as "
                          "'openssl pkey -pubout' writes it)");
        goto out;
    }
    if (r == -2) {
        vouchd_send_error(req, 422, E_UNSUPPORTED_KEY,
                          "firmware keys are ECDSA P-256 or Ed25519 (what MCUboot images carry)");
        goto out;
    }
    uint8_t alg = k.alg == VOUCH_FWKEY_P256 ? VOUCH_SE_ALG_P256 : VOUCH_SE_ALG_ED25519;
    if (vouch_fw_keyhash(vouch_port_openssl(), alg, k.pub, k.pub_len, k.keyhash) != VOUCH_OK) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "cannot hash the key");
        goto out;
    }
    k.account_id = account_id;
    snprintf(k.name, sizeof k.name, "%s", name);
    k.status = VOUCH_FWKEY_ACTIVE;
    vouch_store_rc rc = vouch_store_fwkey_insert(w->store, &k, caller->actor, &k.id, err,
                                                 sizeof err);
    if (rc == VOUCH_STORE_E_EXISTS) {
        vouchd_send_error(req, 409, E_KEY_EXISTS, "%s", err);
    } else if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "firmware key add", err);
    } else {
        k.created_at = (int64_t)time(NULL);
        vouchd_send_json(req, 201, key_json(&k));
    }
out:
    json_decref(j);
}

static void keys(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                 int64_t account_id, char **seg, int n, int get, int post)
{
    char err[256] = "";
    if (n == 2 && post) {
        key_add(req, w, caller, account_id);
        return;
    }
    if (n == 2) {
        key_find f = {.arr = json_array()};
        vouch_store_rc rc = f.arr ? vouch_store_fwkey_list(w->store, account_id, key_cb, &f, err,
                                                           sizeof err)
                                  : VOUCH_STORE_E_NOMEM;
        if (rc != VOUCH_STORE_OK) {
            json_decref(f.arr);
            vouchd_send_store_error(req, rc, "firmware key list", err);
            return;
        }
        vouchd_send_json(req, 200, json_pack("{s:o}", "keys", f.arr));
        return;
    }
    const char *action = n == 4 ? seg[3] : NULL;
    if (action && strcmp(action, "retire") != 0 && strcmp(action, "activate") != 0) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    if ((action && !post) || (!action && !get)) {
        method_not_allowed(req, action ? "POST" : "GET, HEAD");
        return;
    }
    if (!vouchd_name_ok_max(seg[2], VOUCH_FWKEY_NAME_MAX)) {
        vouchd_send_error(req, 404, E_UNKNOWN_FWKEY, "the account has no such firmware key");
        return;
    }
    vouch_store_rc rc = VOUCH_STORE_OK;
    if (action) {
        rc = vouch_store_fwkey_set_status(w->store, account_id, seg[2],
                                          strcmp(action, "retire") == 0 ? VOUCH_FWKEY_RETIRED
                                                                        : VOUCH_FWKEY_ACTIVE,
                                          caller->actor, err, sizeof err);
    }
    key_find f = {.name = seg[2]};
    if (rc == VOUCH_STORE_OK) {
        rc = vouch_store_fwkey_list(w->store, account_id, key_cb, &f, err, sizeof err);
        if (rc == VOUCH_STORE_E_STOPPED)
            rc = VOUCH_STORE_OK;
        if (rc == VOUCH_STORE_OK && !f.hit)
            rc = VOUCH_STORE_E_NOT_FOUND;
    }
    if (rc == VOUCH_STORE_E_NOT_FOUND)
        vouchd_send_error(req, 404, E_UNKNOWN_FWKEY, "the account has no firmware key '%s'",
                          seg[2]);
    else if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "firmware key", err);
    else
        vouchd_send_json(req, 200, key_json(&f.found));
}

/* ---- releases ---------------------------------------------------------------------------------- */

static json_t *release_json(const vouch_store_release *r)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:o,s:o,s:o,s:o}", "id", (json_int_t)r->id,
                          "version", r->version, "security_counter", (json_int_t)r->sec_cnt,
                          "size", (json_int_t)r->size, "sha256", hex_json(r->sha256, 32), "key",
                          r->key_name[0] ? json_string(r->key_name) : json_null(), "key_hash",
                          hex_json(r->keyhash, 32), "created_at",
                          vouchd_epoch_json(r->created_at));
    if (o && r->has_vid)
        json_object_set_new(o, "vendor_id", uuid_json(r->vid));
    if (o && r->has_cid)
        json_object_set_new(o, "class_id", uuid_json(r->cid));
    return o;
}

typedef struct policy_keys {
    vouch_fw_key *keys;
    size_t n, cap;
} policy_keys;

static int policy_cb(void *ctx, const vouch_store_fwkey *k)
{
    policy_keys *p = ctx;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        vouch_fw_key *nk = realloc(p->keys, cap * sizeof *nk);
        if (!nk)
            return 1;
        p->keys = nk;
        p->cap = cap;
    }
    vouch_fw_key *e = &p->keys[p->n];
    memset(e, 0, sizeof *e);
    e->alg = k->alg == VOUCH_FWKEY_P256 ? VOUCH_SE_ALG_P256 : VOUCH_SE_ALG_ED25519;
    memcpy(e->pub, k->pub, k->pub_len);
    memcpy(e->keyhash, k->keyhash, 32);
    e->index = (uint8_t)p->n;
    /* a retired key is in the policy as revoked: its images are refused
     * with their own reason, not as if the key were unknown */
    e->revoked = k->status != VOUCH_FWKEY_ACTIVE;
    p->n++;
    return 0;
}

/* POST .../releases, the body the image */
static void release_upload(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, int64_t account_id)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char err[256] = "";
    if (len == 0) {
        vouchd_send_error(req, 400, E_IMAGE_INVALID,
                          "the body is empty: send the signed image itself "
                          "(application/octet-stream)");
        return;
    }
    if (len > VOUCH_RELEASE_IMAGE_MAX) {
        vouchd_send_error(req, 413, VOUCHD_E_TOO_LARGE, "the image is %zu bytes; the limit is %u",
                          len, VOUCH_RELEASE_IMAGE_MAX);
        return;
    }
    const uint8_t *img = evbuffer_pullup(in, -1);
    if (!img) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return;
    }
    const vouch_crypto_port *port = vouch_port_openssl();
    vouch_fw_image parsed;
    vouch_rc frc = vouch_fw_parse_buf(img, len, port, &parsed);
    if (frc != VOUCH_OK) {
        vouchd_send_error(req, 400, E_IMAGE_INVALID, "not a usable firmware image: %s",
                          vouch_fw_strerror(frc));
        return;
    }
    if (parsed.total != len) {
        vouchd_send_error(req, 400, E_IMAGE_INVALID,
                          "the image ends at byte %" PRIu32 " but the body has %zu bytes (bytes "
                          "after the TLVs are not covered by the signature)",
                          parsed.total, len);
        return;
    }
    policy_keys pk = {0};
    vouch_store_rc rc = vouch_store_fwkey_list(w->store, account_id, policy_cb, &pk, err,
                                               sizeof err);
    if (rc != VOUCH_STORE_OK) {
        free(pk.keys);
        if (rc == VOUCH_STORE_E_STOPPED)
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        else
            vouchd_send_store_error(req, rc, "firmware key list", err);
        return;
    }
    vouch_fw_policy pol = {.keys = pk.keys, .nkeys = pk.n};
    vouch_fw_result res;
    frc = vouch_fw_verify_buf(img, len, port, &pol, &res);
    free(pk.keys);
    if (frc != VOUCH_OK) {
        uint32_t code = frc & 0xFFFFu;
        int fw = (frc >> 16) == VOUCH_LAYER_FW;
        if (fw && code == VOUCH_FW_E_NO_KEY)
            vouchd_send_error(req, 422, E_UNKNOWN_FWKEY,
                              "the image is signed by a key this account has not added (POST "
                              ".../firmware-keys): %s",
                              vouch_fw_strerror(frc));
        else if (fw && code == VOUCH_FW_E_REVOKED)
            vouchd_send_error(req, 422, E_KEY_RETIRED,
                              "the image is signed by a retired key of this account");
        else if (fw && (code == VOUCH_FW_E_SIGNATURE || code == VOUCH_FW_E_HASH))
            vouchd_send_error(req, 422, E_BAD_SIGNATURE, "the image does not verify: %s",
                              vouch_fw_strerror(frc));
        else if (fw && code != VOUCH_FW_E_CHECK && code != VOUCH_FW_E_IO)
            vouchd_send_error(req, 400, E_IMAGE_INVALID, "not a usable firmware image: %s",
                              vouch_fw_strerror(frc));
        else {
            vouchd_log("release upload: verification failed: %s", vouch_fw_strerror(frc));
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "the image could not be checked");
        }
        return;
    }
    vouch_store_release r;
    memset(&r, 0, sizeof r);
    r.account_id = account_id;
    vouch_fw_version_str(&parsed.version, r.version, sizeof r.version);
    r.ver_major = parsed.version.major;
    r.ver_minor = parsed.version.minor;
    r.ver_revision = parsed.version.revision;
    r.ver_build = parsed.version.build;
    r.sec_cnt = parsed.has_sec_cnt ? parsed.sec_cnt : 0;
    memcpy(r.keyhash, parsed.keyhash, 32);
    r.has_vid = parsed.has_vid;
    memcpy(r.vid, parsed.vid, 16);
    r.has_cid = parsed.has_cid;
    memcpy(r.cid, parsed.cid, 16);
    int64_t id = 0;
    rc = vouch_store_release_insert(w->store, &r, img, len, caller->actor, &id, err, sizeof err);
    if (rc == VOUCH_STORE_E_EXISTS) {
        vouchd_send_error(req, 409, E_DUPLICATE,
                          "the account has this image already: release %" PRId64, id);
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "release upload", err);
        return;
    }
    rc = vouch_store_release_get(w->store, id, &r, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "release read", err);
        return;
    }
    char loc[128];
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    snprintf(loc, sizeof loc, "%s/%" PRId64, evhttp_uri_get_path(u), id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    vouchd_send_json(req, 201, release_json(&r));
}

static int release_list_cb(void *ctx, const vouch_store_release *r)
{
    json_t *o = release_json(r);
    return !o || json_array_append_new(ctx, o) != 0;
}

/* The account's release `ids`: 0 with *r, -1 with the answer sent. */
static int release_of(struct evhttp_request *req, vouchd_worker *w, int64_t account_id,
                      const char *ids, int64_t id, vouch_store_release *r)
{
    char err[256] = "";
    vouch_store_rc rc = ids && parse_id(ids, &id) != 0
                            ? VOUCH_STORE_E_NOT_FOUND
                            : vouch_store_release_get(w->store, id, r, err, sizeof err);
    if (rc == VOUCH_STORE_OK && r->account_id != account_id)
        rc = VOUCH_STORE_E_NOT_FOUND; /* another account's is not there */
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        if (ids)
            vouchd_send_error(req, 404, E_UNKNOWN_RELEASE, "the account has no release '%.20s'",
                              ids);
        else
            vouchd_send_error(req, 404, E_UNKNOWN_RELEASE,
                              "the account has no release %" PRId64, id);
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "release lookup", err);
        return -1;
    }
    return 0;
}

static void releases(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                     int64_t account_id, char **seg, int n, int get, int post)
{
    char err[256] = "";
    if (n == 2 && post) {
        release_upload(req, w, caller, account_id);
        return;
    }
    if (n == 2) {
        json_t *arr = json_array();
        vouch_store_rc rc = arr ? vouch_store_release_list(w->store, account_id, release_list_cb,
                                                           arr, err, sizeof err)
                                : VOUCH_STORE_E_NOMEM;
        if (rc != VOUCH_STORE_OK) {
            json_decref(arr);
            vouchd_send_store_error(req, rc, "release list", err);
            return;
        }
        vouchd_send_json(req, 200, json_pack("{s:o}", "releases", arr));
        return;
    }
    if (n != 3) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    if (!get) {
        method_not_allowed(req, "GET, HEAD");
        return;
    }
    vouch_store_release r;
    if (release_of(req, w, account_id, seg[2], 0, &r) == 0)
        vouchd_send_json(req, 200, release_json(&r));
}

/* ---- campaigns ------------------------------------------------------------------------------------ */

typedef struct dev_list {
    json_t *devices; /* [{device, state, detail, updated, version}] */
    json_t *ids;     /* the device ids alone (a DEVICES target) */
} dev_list;

static int campaign_dev_cb(void *ctx, const vouch_store_campaign_device *d)
{
    dev_list *l = ctx;
    if (l->ids && json_array_append_new(l->ids, json_string(d->device_id)) != 0)
        return 1;
    if (!l->devices)
        return 0;
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o}", "device", d->device_id, "state",
                          state_words[d->state < VOUCH_UPDATE_STATES ? d->state : 0], "detail",
                          d->detail, "updated",
                          d->updated_at ? vouchd_epoch_json(d->updated_at) : json_null(),
                          "version", d->version ? json_string(d->version) : json_null());
    return !o || json_array_append_new(l->devices, o) != 0;
}

/* The campaign as the API shows it; with_devices: the per-device states
 * and counts too (GET of one campaign). NULL with *rc set. */
static json_t *campaign_json(vouchd_worker *w, const vouch_store_campaign *c, int with_devices,
                             vouch_store_rc *rc, char *err, size_t errsize)
{
    dev_list l = {0};
    json_t *target = NULL;
    *rc = VOUCH_STORE_OK;
    if (c->target == VOUCH_CAMPAIGN_DEVICES)
        l.ids = json_array();
    if (with_devices)
        l.devices = json_array();
    if (l.ids || l.devices)
        *rc = vouch_store_campaign_devices(w->store, c->id, campaign_dev_cb, &l, err, errsize);
    if (*rc != VOUCH_STORE_OK)
        goto fail;
    target = c->target == VOUCH_CAMPAIGN_ALL      ? json_pack("{s:b}", "all", 1)
             : c->target == VOUCH_CAMPAIGN_FAMILY ? json_pack("{s:I}", "family",
                                                             (json_int_t)c->family_id)
                                                  : json_pack("{s:O}", "devices", l.ids);
    json_t *o = json_pack("{s:I,s:I,s:s,s:o,s:s,s:o,s:o}", "id", (json_int_t)c->id, "release",
                          (json_int_t)c->release_id, "version", c->version, "target", target,
                          "status", status_words[c->status <= 3 ? c->status : 0], "created_at",
                          vouchd_epoch_json(c->created_at), "updated_at",
                          vouchd_epoch_json(c->updated_at));
    target = NULL;
    if (!o) {
        *rc = VOUCH_STORE_E_NOMEM;
        goto fail;
    }
    if (with_devices) {
        json_t *counts = json_object();
        for (int i = 0; counts && i < VOUCH_UPDATE_STATES; i++)
            json_object_set_new(counts, state_words[i], json_integer((json_int_t)c->counts[i]));
        json_object_set_new(o, "targeted", json_integer((json_int_t)c->targeted));
        json_object_set_new(o, "counts", counts ? counts : json_null());
        json_object_set_new(o, "devices", l.devices);
        l.devices = NULL;
    }
    json_decref(l.ids);
    return o;
fail:
    if (*rc == VOUCH_STORE_OK)
        *rc = VOUCH_STORE_E_NOMEM;
    json_decref(l.ids);
    json_decref(l.devices);
    json_decref(target);
    return NULL;
}

static void send_campaign(struct evhttp_request *req, vouchd_worker *w, int status, int64_t id)
{
    vouch_store_campaign c;
    char err[256] = "";
    vouch_store_rc rc = vouch_store_campaign_get(w->store, id, &c, err, sizeof err);
    json_t *o = rc == VOUCH_STORE_OK ? campaign_json(w, &c, 1, &rc, err, sizeof err) : NULL;
    if (!o)
        vouchd_send_store_error(req, rc, "campaign read", err);
    else
        vouchd_send_json(req, status, o);
}

typedef struct family_match {
    const char *cn;
    int64_t id;
    int n;
} family_match;

static int family_cn_cb(void *ctx, const vouch_store_family *f)
{
    family_match *m = ctx;
    X509 *x = vouchd_der_cert(f->cert_der, f->cert_der_len);
    char *cn = x ? vouchd_common_name(X509_get_subject_name(x)) : NULL;
    if (cn && strcmp(cn, m->cn) == 0) {
        m->id = f->id;
        m->n++;
    }
    free(cn);
    X509_free(x);
    return 0;
}

/* The family a campaign target names: its id, or the subject CN of
 * exactly one of the account's families. 0 with *id, -1 with the answer
 * sent. */
static int target_family(struct evhttp_request *req, vouchd_worker *w, int64_t account_id,
                         json_t *v, int64_t *id)
{
    char err[256] = "";
    vouch_store_rc rc;
    if (json_is_integer(v)) {
        vouch_store_family f;
        memset(&f, 0, sizeof f);
        rc = json_id(v, id) == 0 ? vouch_store_family_get(w->store, *id, NULL, &f, err,
                                                           sizeof err)
                                 : VOUCH_STORE_E_NOT_FOUND;
        int64_t owner = f.account_id;
        vouch_store_family_clear(&f);
        if (rc == VOUCH_STORE_OK && owner == account_id)
            return 0;
        if (rc == VOUCH_STORE_OK || rc == VOUCH_STORE_E_NOT_FOUND)
            vouchd_send_error(req, 404, E_UNKNOWN_FAMILY, "the account has no family %" JSON_INTEGER_FORMAT,
                              json_integer_value(v));
        else
            vouchd_send_store_error(req, rc, "family lookup", err);
        return -1;
    }
    const char *cn = json_string_value(v);
    if (!cn || !*cn || json_string_length(v) > 256) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'family' is a family id or the subject CN of one of the account's "
                          "families");
        return -1;
    }
    family_match m = {cn, 0, 0};
    rc = vouch_store_family_list(w->store, account_id, family_cn_cb, &m, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "family list", err);
        return -1;
    }
    if (m.n == 0) {
        vouchd_send_error(req, 404, E_UNKNOWN_FAMILY, "the account has no family whose CN is '%s'",
                          cn);
        return -1;
    }
    if (m.n > 1) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "%d of the account's families have the CN '%s'; give the family id", m.n,
                          cn);
        return -1;
    }
    *id = m.id;
    return 0;
}

/* The device rows of a DEVICES target: 0 with *rows (malloc'd) and *n, -1
 * with the answer sent. */
static int target_devices(struct evhttp_request *req, vouchd_worker *w, int64_t account_id,
                          json_t *arr, int64_t **rows, size_t *n)
{
    size_t count = json_array_size(arr), i;
    json_t *v;
    char err[256] = "";
    if (!json_is_array(arr) || count == 0 || count > VOUCH_CAMPAIGN_DEVICES_MAX) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'devices' is an array of 1 to %d device ids",
                          VOUCH_CAMPAIGN_DEVICES_MAX);
        return -1;
    }
    json_array_foreach(arr, i, v) {
        const char *id = json_string_value(v);
        if (!id || !vouchd_device_id_ok(id)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "device %zu of 'devices' is not a device id (1 to %d of A-Z a-z "
                              "0-9 . _ - : @ +)",
                              i, VOUCH_DEVICE_ID_MAX);
            return -1;
        }
    }
    if (!(*rows = malloc(count * sizeof **rows))) {
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "out of memory");
        return -1;
    }
    json_array_foreach(arr, i, v) {
        vouch_store_device d;
        const char *id = json_string_value(v);
        vouch_store_rc rc = vouch_store_device_get(w->store, account_id, id, 0, &d, err,
                                                   sizeof err);
        (*rows)[i] = d.id;
        vouch_store_device_clear(&d);
        if (rc != VOUCH_STORE_OK) {
            free(*rows);
            *rows = NULL;
            if (rc == VOUCH_STORE_E_NOT_FOUND)
                vouchd_send_error(req, 404, E_UNKNOWN_DEVICE, "the account has no device '%s'",
                                  id);
            else
                vouchd_send_store_error(req, rc, "device lookup", err);
            return -1;
        }
    }
    *n = count;
    return 0;
}

/* POST .../campaigns {"release": ID, "target": {...}, "status"?: "active"|"paused"} */
static void campaign_create(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, int64_t account_id)
{
    static const char *const allowed[] = {"release", "target", "status", NULL};
    static const char expect[] =
        "{\"release\": ID, \"target\": {\"all\": true} | {\"family\": ID or CN} | "
        "{\"devices\": [IDS]}}";
    json_t *j = vouchd_body_object(req, 0, expect);
    int64_t *rows = NULL;
    size_t nrows = 0;
    char err[256] = "";
    vouch_store_campaign in;
    memset(&in, 0, sizeof in);
    in.account_id = account_id;
    in.status = VOUCH_CAMPAIGN_ACTIVE;
    if (!j || vouchd_members_ok(req, j, allowed, "release, target, status") != 0)
        goto out;
    json_t *t = json_object_get(j, "target"), *st = json_object_get(j, "status");
    if (json_id(json_object_get(j, "release"), &in.release_id) != 0 || !json_is_object(t) ||
        json_object_size(t) != 1) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the body must be %s", expect);
        goto out;
    }
    if (st) {
        const char *s = json_string_value(st);
        if (!s || (strcmp(s, "active") != 0 && strcmp(s, "paused") != 0)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                              "'status' of a new campaign is \"active\" or \"paused\"");
            goto out;
        }
        in.status = strcmp(s, "paused") == 0 ? VOUCH_CAMPAIGN_PAUSED : VOUCH_CAMPAIGN_ACTIVE;
    }
    vouch_store_release r;
    if (release_of(req, w, account_id, NULL, in.release_id, &r) != 0)
        goto out;
    json_t *v;
    if ((v = json_object_get(t, "all")) != NULL) {
        if (!json_is_true(v)) {
            vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "'all' can only be true");
            goto out;
        }
        in.target = VOUCH_CAMPAIGN_ALL;
    } else if ((v = json_object_get(t, "family")) != NULL) {
        if (target_family(req, w, account_id, v, &in.family_id) != 0)
            goto out;
        in.target = VOUCH_CAMPAIGN_FAMILY;
    } else if ((v = json_object_get(t, "devices")) != NULL) {
        if (target_devices(req, w, account_id, v, &rows, &nrows) != 0)
            goto out;
        in.target = VOUCH_CAMPAIGN_DEVICES;
    } else {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "'target' is {\"all\": true}, {\"family\": ID or CN} or "
                          "{\"devices\": [IDS]}");
        goto out;
    }
    int64_t id = 0;
    vouch_store_rc rc = vouch_store_campaign_create(w->store, &in, rows, nrows, caller->actor,
                                                    &id, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "campaign create", err);
        goto out;
    }
    char loc[128];
    snprintf(loc, sizeof loc, "%s/%" PRId64,
             evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)), id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    send_campaign(req, w, 201, id);
out:
    free(rows);
    json_decref(j);
}

typedef struct camp_vec {
    vouch_store_campaign *v;
    size_t n, cap;
} camp_vec;

static int camp_vec_cb(void *ctx, const vouch_store_campaign *c)
{
    camp_vec *cv = ctx;
    if (cv->n == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 16;
        vouch_store_campaign *nv = realloc(cv->v, cap * sizeof *nv);
        if (!nv)
            return 1;
        cv->v = nv;
        cv->cap = cap;
    }
    cv->v[cv->n++] = *c;
    return 0;
}

static void campaigns(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                      int64_t account_id, char **seg, int n, int get, int post)
{
    char err[256] = "";
    if (n == 2 && post) {
        campaign_create(req, w, caller, account_id);
        return;
    }
    if (n == 2) {
        /* collected first: the listing's statement must end before the
         * device lists of the campaigns are read */
        camp_vec cv = {0};
        json_t *arr = json_array();
        vouch_store_rc rc = vouch_store_campaign_list(w->store, account_id, camp_vec_cb, &cv, err,
                                                      sizeof err);
        for (size_t i = 0; rc == VOUCH_STORE_OK && i < cv.n; i++) {
            json_t *o = campaign_json(w, &cv.v[i], 0, &rc, err, sizeof err);
            if (o && (!arr || json_array_append_new(arr, o) != 0))
                rc = VOUCH_STORE_E_NOMEM;
        }
        free(cv.v);
        if (rc != VOUCH_STORE_OK || !arr) {
            json_decref(arr);
            vouchd_send_store_error(req, rc == VOUCH_STORE_OK ? VOUCH_STORE_E_NOMEM : rc,
                                    "campaign list", err);
            return;
        }
        vouchd_send_json(req, 200, json_pack("{s:o}", "campaigns", arr));
        return;
    }
    const char *action = n == 4 ? seg[3] : NULL;
    vouch_campaign_status to = VOUCH_CAMPAIGN_ACTIVE;
    if (action) {
        if (strcmp(action, "pause") == 0)
            to = VOUCH_CAMPAIGN_PAUSED;
        else if (strcmp(action, "finish") == 0)
            to = VOUCH_CAMPAIGN_FINISHED;
        else if (strcmp(action, "resume") != 0) {
            vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
            return;
        }
    }
    if ((action && !post) || (!action && !get)) {
        method_not_allowed(req, action ? "POST" : "GET, HEAD");
        return;
    }
    int64_t id = 0;
    vouch_store_campaign c;
    vouch_store_rc rc = parse_id(seg[2], &id) == 0
                            ? vouch_store_campaign_get(w->store, id, &c, err, sizeof err)
                            : VOUCH_STORE_E_NOT_FOUND;
    if (rc == VOUCH_STORE_OK && c.account_id != account_id)
        rc = VOUCH_STORE_E_NOT_FOUND;
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, E_UNKNOWN_CAMPAIGN, "the account has no campaign '%.20s'",
                          seg[2]);
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "campaign lookup", err);
        return;
    }
    if (action) {
        if (c.status == VOUCH_CAMPAIGN_FINISHED && to != VOUCH_CAMPAIGN_FINISHED) {
            vouchd_send_error(req, 409, E_FINISHED, "campaign %" PRId64 " is finished", id);
            return;
        }
        rc = vouch_store_campaign_set_status(w->store, id, to, caller->actor, err, sizeof err);
        if (rc != VOUCH_STORE_OK) {
            vouchd_send_store_error(req, rc, "campaign status", err);
            return;
        }
    }
    send_campaign(req, w, 200, id);
}

/* ---- routing under /v1/accounts/<name>/{firmware-keys,releases,campaigns} ------------------------ */

void vouchd_h_account_fw(struct evhttp_request *req, vouchd_worker *w,
                         const vouchd_caller *caller, const char *rest)
{
    /* <name>/<kind>[/<id>[/<action>]] */
    char buf[256], *seg[5] = {0};
    int n = 0;
    size_t rl = strlen(rest);
    if (rl >= sizeof buf || strstr(rest, "//") || rest[rl - 1] == '/') {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    memcpy(buf, rest, rl + 1);
    for (char *p = buf, *save = NULL, *t; (t = strtok_r(p, "/", &save)) && n < 5; p = NULL)
        seg[n++] = t;
    if (n < 2 || n > 4) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
    /* the route matched one of the three kinds */
    int kind = strcmp(seg[1], "firmware-keys") == 0 ? 1 : strcmp(seg[1], "releases") == 0 ? 2 : 3;
    if (kind == 2 && n == 4) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    int64_t account_id = 0;
    if (vouchd_account_of(req, w, seg[0], &account_id) != 0)
        return;
    if (kind == 1)
        keys(req, w, caller, account_id, seg, n, get, post);
    else if (kind == 2)
        releases(req, w, caller, account_id, seg, n, get, post);
    else
        campaigns(req, w, caller, account_id, seg, n, get, post);
}

/* ---- the device API -------------------------------------------------------------------------------- */

static vouch_store_update_query device_query(const vouch_store_device *d)
{
    vouch_store_update_query q = {d->account_id, d->family_id, d->id, "", 0};
    return q;
}

/* GET /v1/device/update?current=VERSION&security_counter=N */
void vouchd_h_device_update(struct evhttp_request *req, vouchd_worker *w,
                            const vouchd_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    vouch_store_device dev;
    int64_t expires = 0;
    char err[256] = "", cur[VOUCH_RELEASE_VERSION_MAX + 1] = "";
    memset(&dev, 0, sizeof dev);
    if (vouchd_session_check(req, w, &dev, &expires) != 0)
        return;
    struct evkeyvalq qs = {0};
    const char *uri = evhttp_request_get_uri(req), *q = strchr(uri, '?');
    const char *current = NULL, *secs = NULL;
    int bad = q && evhttp_parse_query_str(q + 1, &qs) != 0;
    for (struct evkeyval *kv = qs.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
        if (strcmp(kv->key, "current") == 0 && !current)
            current = kv->value;
        else if (strcmp(kv->key, "security_counter") == 0 && !secs)
            secs = kv->value;
        else
            bad = 1; /* unknown or repeated */
    }
    vouch_fw_version v;
    uint32_t sec = 0;
    if (!bad && (!current || strlen(current) > VOUCH_RELEASE_VERSION_MAX ||
                 vouch_fw_version_parse(current, &v) != 0))
        bad = 1;
    if (!bad && secs) {
        size_t sl = strlen(secs);
        unsigned long long x = sl && sl <= 10 && strspn(secs, "0123456789") == sl
                                   ? strtoull(secs, NULL, 10)
                                   : (unsigned long long)UINT32_MAX + 1;
        if (x > UINT32_MAX)
            bad = 1;
        sec = (uint32_t)x;
    }
    evhttp_clear_headers(&qs);
    if (bad) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "query: current=VERSION (1.2.3, 1.2.3+4 or 1.2.3.4), optionally "
                          "security_counter=0..4294967295, each once");
        goto out;
    }
    vouch_fw_version_str(&v, cur, sizeof cur);
    /* what the device runs, for the campaign's status (written on change) */
    vouch_store_rc rc = vouch_store_device_fw_report(w->store, dev.id, cur, sec, err, sizeof err);
    if (rc != VOUCH_STORE_OK)
        vouchd_log("device %s: its version not recorded: %s", dev.device_id, err);
    vouch_store_update_query uq = device_query(&dev);
    uq.current_version = cur;
    uq.sec_cnt = sec;
    vouch_store_campaign c;
    vouch_store_release r;
    rc = vouch_store_update_find(w->store, &uq, &c, &r, err, sizeof err);
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        no_content(req);
        goto out;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "update lookup", err);
        goto out;
    }
    char url[96];
    snprintf(url, sizeof url, "/v1/device/releases/%" PRId64 "/image", r.id);
    vouchd_send_json(req, 200,
                     json_pack("{s:I,s:I,s:s,s:I,s:I,s:o,s:s}", "campaign", (json_int_t)c.id,
                               "release", (json_int_t)r.id, "version", r.version,
                               "security_counter", (json_int_t)r.sec_cnt, "size",
                               (json_int_t)r.size, "sha256", hex_json(r.sha256, 32), "url", url));
out:
    vouch_store_device_clear(&dev);
}

/* POST /v1/device/update/status {"campaign", "state", "detail"?} */
void vouchd_h_device_update_status(struct evhttp_request *req, vouchd_worker *w,
                                   const vouchd_caller *caller, const char *rest)
{
    (void)caller;
    (void)rest;
    static const char *const allowed[] = {"campaign", "state", "detail", NULL};
    static const char expect[] = "{\"campaign\": ID, \"state\": \"downloading\"|\"installed\"|"
                                 "\"testing\"|\"confirmed\"|\"reverted\"|\"rejected\"|\"failed\", "
                                 "\"detail\"?: TEXT}";
    vouch_store_device dev;
    int64_t expires = 0, cid = 0;
    char err[256] = "";
    json_t *j = NULL;
    memset(&dev, 0, sizeof dev);
    if (vouchd_session_check(req, w, &dev, &expires) != 0)
        return;
    if (!(j = vouchd_body_object(req, 0, expect)) ||
        vouchd_members_ok(req, j, allowed, "campaign, state, detail") != 0)
        goto out;
    const char *st = json_string_value(json_object_get(j, "state"));
    json_t *dv = json_object_get(j, "detail");
    int state = 0;
    for (int i = 1; st && i < VOUCH_UPDATE_STATES && !state; i++)
        if (strcmp(st, state_words[i]) == 0)
            state = i;
    if (json_id(json_object_get(j, "campaign"), &cid) != 0 || !state ||
        (dv && (!json_is_string(dv) || json_string_length(dv) > VOUCH_UPDATE_DETAIL_MAX ||
                strlen(json_string_value(dv)) != json_string_length(dv)))) {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST,
                          "the body must be %s (detail: at most %d bytes)", expect,
                          VOUCH_UPDATE_DETAIL_MAX);
        goto out;
    }
    vouch_store_update_query uq = device_query(&dev);
    vouch_store_campaign c;
    vouch_store_rc rc = vouch_store_campaign_get(w->store, cid, &c, err, sizeof err);
    if (rc == VOUCH_STORE_OK && c.account_id != dev.account_id)
        rc = VOUCH_STORE_E_NOT_FOUND;
    if (rc == VOUCH_STORE_E_NOT_FOUND) {
        vouchd_send_error(req, 404, E_UNKNOWN_CAMPAIGN, "no campaign %" PRId64, cid);
        goto out;
    }
    int yes = 0;
    if (rc == VOUCH_STORE_OK)
        rc = vouch_store_campaign_targets(w->store, cid, &uq, &yes, err, sizeof err);
    if (rc == VOUCH_STORE_OK && !yes) {
        vouchd_send_error(req, 403, E_NOT_TARGETED,
                          "campaign %" PRId64 " does not target this device", cid);
        goto out;
    }
    if (rc == VOUCH_STORE_OK)
        rc = vouch_store_update_report(w->store, cid, dev.id, (vouch_update_state)state,
                                       json_string_value(dv), err, sizeof err);
    if (rc != VOUCH_STORE_OK)
        vouchd_send_store_error(req, rc, "update report", err);
    else
        no_content(req);
out:
    json_decref(j);
    vouch_store_device_clear(&dev);
}

/* A download larger than one chunk is streamed: a chunk is read from the
 * database when the previous one has left the connection's buffer, so a
 * download holds at most about two chunks in memory whatever the image's
 * size. libevent 2.1 says nothing to the sender of a reply when its
 * connection goes away (the request is detached and the write callback
 * never comes), so a timer looks every WATCH_S seconds and ends the
 * request then. */
typedef struct img_stream {
    struct evhttp_request *req;
    vouchd_worker *w;
    int64_t release;
    uint64_t next, end; /* bytes [next, end) still to send */
    struct event *watch;
    int failed;         /* a read failed: the connection is to be closed */
    struct img_stream *prev, *nxt; /* the worker's streams (vouchd_fw_worker_free) */
} img_stream;

/* A worker's downloads in progress. */
struct vouchd_fw_worker {
    img_stream *streams;
};

static void stream_free(img_stream *s)
{
    if (s->w && s->w->fw) {
        if (s->prev)
            s->prev->nxt = s->nxt;
        else
            s->w->fw->streams = s->nxt;
        if (s->nxt)
            s->nxt->prev = s->prev;
        if (!s->w->fw->streams) { /* kept only while downloads run */
            free(s->w->fw);
            s->w->fw = NULL;
        }
    }
    if (s->watch)
        event_free(s->watch);
    free(s);
}

void vouchd_fw_worker_free(vouchd_worker *w)
{
    if (!w || !w->fw)
        return;
    /* the requests are evhttp's (evhttp_free frees them); only our part.
     * The last stream_free frees w->fw. */
    while (w->fw && w->fw->streams)
        stream_free(w->fw->streams);
    free(w->fw);
    w->fw = NULL;
}

/* n bytes of the release from off, in a new buffer; NULL when the store
 * failed (logged). */
static struct evbuffer *read_chunk(vouchd_worker *w, int64_t rel, uint64_t off, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    struct evbuffer_iovec v;
    char err[256] = "";
    if (!b || evbuffer_reserve_space(b, (ev_ssize_t)n, &v, 1) != 1 || v.iov_len < n) {
        vouchd_log("release %" PRId64 ": out of memory reading the image", rel);
        if (b)
            evbuffer_free(b);
        return NULL;
    }
    vouch_store_rc rc = vouch_store_release_read(w->store, rel, off, v.iov_base, n, err,
                                                 sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("release %" PRId64 ": image read: %s", rel, err);
        evbuffer_free(b);
        return NULL;
    }
    v.iov_len = n;
    if (evbuffer_commit_space(b, &v, 1) != 0) {
        evbuffer_free(b);
        return NULL;
    }
    return b;
}

static void stream_more(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    img_stream *s = arg;
    size_t n = s->end - s->next > CHUNK ? CHUNK : (size_t)(s->end - s->next);
    struct evbuffer *b = read_chunk(s->w, s->release, s->next, n);
    if (!b) {
        /* the status line went out already: all that is left is to cut
         * the connection, outside this callback */
        s->failed = 1;
        event_active(s->watch, EV_TIMEOUT, 0);
        return;
    }
    s->next += n;
    if (s->next < s->end) {
        evhttp_send_reply_chunk_with_cb(s->req, b, stream_more, s);
        evbuffer_free(b);
        return;
    }
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    evhttp_send_reply_end(s->req); /* completes once the buffer drained */
    stream_free(s);
}

static void stream_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    img_stream *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
    if (evcon && !s->failed)
        return; /* still sending */
    if (evcon) {
        evhttp_connection_free(evcon); /* and the request with it */
    } else {
        vouchd_log("release %" PRId64 ": download ended by the client at byte %" PRIu64,
                   s->release, s->next);
        evhttp_send_reply_end(s->req); /* frees a detached request */
    }
    stream_free(s);
}

/* Sends bytes [first, last] of the release with the status and headers
 * already set: in one reply when small, else streamed. */
static void send_image(struct evhttp_request *req, vouchd_worker *w, int status, int64_t rel,
                       uint64_t first, uint64_t last)
{
    uint64_t len = last - first + 1;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char cl[24];
    snprintf(cl, sizeof cl, "%" PRIu64, len);
    evhttp_add_header(h, "Content-Length", cl);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        evhttp_send_reply(req, status, NULL, NULL);
        return;
    }
    if (len <= CHUNK) {
        struct evbuffer *b = read_chunk(w, rel, first, (size_t)len);
        if (!b) {
            evhttp_remove_header(h, "Content-Length");
            evhttp_remove_header(h, "Content-Range");
            vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "the image could not be read");
            return;
        }
        evhttp_send_reply(req, status, NULL, b);
        evbuffer_free(b);
        return;
    }
    if (!w->fw)
        w->fw = calloc(1, sizeof *w->fw);
    img_stream *s = w->fw ? calloc(1, sizeof *s) : NULL;
    struct evbuffer *b = s ? read_chunk(w, rel, first, CHUNK) : NULL;
    if (s)
        s->watch = event_new(w->base, -1, EV_PERSIST, stream_watch, s);
    struct timeval tv = {WATCH_S, 0};
    if (!b || !s->watch || event_add(s->watch, &tv) != 0) {
        if (b)
            evbuffer_free(b);
        if (s)
            stream_free(s);
        evhttp_remove_header(h, "Content-Length");
        evhttp_remove_header(h, "Content-Range");
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "the image could not be read");
        return;
    }
    s->req = req;
    s->w = w;
    s->nxt = w->fw->streams;
    if (s->nxt)
        s->nxt->prev = s;
    w->fw->streams = s;
    s->release = rel;
    s->next = first + CHUNK;
    s->end = last + 1;
    /* Content-Length is set, so libevent sends the body as it is (no
     * chunked encoding) */
    evhttp_send_reply_start(req, status, NULL);
    evhttp_send_reply_chunk_with_cb(req, b, stream_more, s);
    evbuffer_free(b);
}

/* GET /v1/device/releases/<id>/image, rest "<id>/image" */
void vouchd_h_device_image(struct evhttp_request *req, vouchd_worker *w,
                           const vouchd_caller *caller, const char *rest)
{
    (void)caller;
    char ids[24], err[256] = "", etag[70];
    const char *slash = strchr(rest, '/');
    int64_t id = 0;
    if (!slash || strcmp(slash, "/image") != 0 || (size_t)(slash - rest) >= sizeof ids) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    memcpy(ids, rest, (size_t)(slash - rest));
    ids[slash - rest] = 0;
    vouch_store_device dev;
    int64_t expires = 0;
    memset(&dev, 0, sizeof dev);
    if (vouchd_session_check(req, w, &dev, &expires) != 0)
        return;
    vouch_store_update_query uq = device_query(&dev);
    int yes = 0;
    vouch_store_release r;
    vouch_store_rc rc = parse_id(ids, &id) == 0
                            ? vouch_store_update_allowed(w->store, &uq, id, &yes, err, sizeof err)
                            : VOUCH_STORE_OK;
    if (rc == VOUCH_STORE_OK && yes)
        rc = vouch_store_release_get(w->store, id, &r, err, sizeof err);
    vouch_store_device_clear(&dev);
    if (rc == VOUCH_STORE_OK && (!yes || r.size == 0)) {
        /* unknown and not offered look the same: a device learns nothing
         * about releases it is not given */
        vouchd_send_error(req, 403, E_NOT_TARGETED,
                          "no active campaign offers release '%.20s' to this device", ids);
        return;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "release lookup", err);
        return;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char tag[65];
    hex(r.sha256, 32, tag);
    snprintf(etag, sizeof etag, "\"%s\"", tag);
    const char *range = evhttp_find_header(in, "Range");
    const char *if_range = evhttp_find_header(in, "If-Range");
    if (range && if_range && strcmp(if_range, etag) != 0)
        range = NULL; /* the image changed since the client's first part: all of it */
    uint64_t first = 0, last = r.size - 1;
    vouchd_range_kind k = vouchd_range_parse(range, r.size, &first, &last);
    evhttp_add_header(h, "Accept-Ranges", "bytes");
    evhttp_add_header(h, "ETag", etag);
    if (k == VOUCHD_RANGE_UNSATISFIABLE) {
        char cr[48];
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, r.size);
        evhttp_add_header(h, "Content-Range", cr);
        vouchd_send_error(req, 416, E_RANGE,
                          "the Range is not one satisfiable byte range of this %" PRIu64
                          "-byte image",
                          r.size);
        return;
    }
    evhttp_add_header(h, "Content-Type", "application/octet-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (k == VOUCHD_RANGE_PARTIAL) {
        char cr[80];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, r.size);
        evhttp_add_header(h, "Content-Range", cr);
        send_image(req, w, 206, id, first, last);
    } else {
        send_image(req, w, 200, id, 0, r.size - 1);
    }
}
