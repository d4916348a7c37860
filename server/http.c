/*
 * vouchd HTTP layer: routing, limits, JSON responses and errors, bearer
 * authentication. See http.h and docs/api.md.
 */
#include "server/http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- logging and responses ------------------------------------------------- */

void vouchd_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vouchd: %s\n", line);
}

static void send_text(struct evhttp_request *req, int status, const char *text, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evbuffer_new();
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (!b) {
        evhttp_send_error(req, 500, NULL); /* nothing better left to do */
        return;
    }
    if (evbuffer_add(b, text, len) != 0 || evbuffer_add(b, "\n", 1) != 0) {
        evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
}

void vouchd_send_json_text(struct evhttp_request *req, int status, const char *json, size_t len)
{
    send_text(req, status, json, len);
}

void vouchd_send_raw(struct evhttp_request *req, int status, const char *content_type,
                     const void *data, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evbuffer_new();
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (!b || evbuffer_add(b, data, len) != 0) {
        if (b)
            evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
}

/* Last resort when jansson cannot allocate: a fixed body. */
static const char oom_body[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

void vouchd_send_json(struct evhttp_request *req, int status, json_t *body)
{
    vouchd_send_json_member(req, status, body, NULL, NULL);
}

void vouchd_send_json_member(struct evhttp_request *req, int status, json_t *body,
                             const char *name, const char *raw_json)
{
    vouchd_raw_member m = {name, raw_json};
    vouchd_send_json_members(req, status, body, &m, name && raw_json ? 1 : 0);
}

void vouchd_send_json_members(struct evhttp_request *req, int status, json_t *body,
                              const vouchd_raw_member *m, size_t nm)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    size_t n = s ? strlen(s) : 0;
    char *all = NULL;
    int ok = s != NULL && (nm == 0 || (n >= 2 && s[0] == '{' && s[n - 1] == '}'));
    if (ok && nm > 0) {
        /* {...} -> {...,"name":raw,...} ({} -> {"name":raw,...}) */
        size_t total = n + 1;
        for (size_t i = 0; i < nm; i++)
            total += strlen(m[i].name) + strlen(m[i].raw_json) + 4;
        size_t o = n - 1;
        if ((all = malloc(total)) != NULL) {
            memcpy(all, s, o);
            for (size_t i = 0; i < nm; i++) {
                size_t kl = strlen(m[i].name), rl = strlen(m[i].raw_json);
                if (o > 1)
                    all[o++] = ',';
                all[o++] = '"';
                memcpy(all + o, m[i].name, kl);
                o += kl;
                all[o++] = '"';
                all[o++] = ':';
                memcpy(all + o, m[i].raw_json, rl);
                o += rl;
            }
            all[o++] = '}';
            n = o;
        }
    }
    if (!ok || (nm > 0 && !all)) {
        vouchd_log("out of memory building a response");
        send_text(req, 500, oom_body, sizeof oom_body - 1);
    } else {
        send_text(req, status, all ? all : s, n);
    }
    free(all);
    free(s);
}

void vouchd_send_error(struct evhttp_request *req, int status, const char *code,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* json_pack checks UTF-8; a message built from client input that is not
     * valid UTF-8 makes it fail, and the generic text goes out instead. */
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (!e)
        e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", "request refused");
    vouchd_send_json(req, status, e);
}

void vouchd_send_store_error(struct evhttp_request *req, vouch_store_rc rc, const char *what,
                             const char *err)
{
    vouchd_log("%s: %s", what, err && *err ? err : vouch_store_strerror(rc));
    if (rc == VOUCH_STORE_E_BUSY)
        vouchd_send_error(req, 503, VOUCHD_E_UNAVAILABLE,
                          "the database is busy; try again shortly");
    else
        vouchd_send_error(req, 500, VOUCHD_E_INTERNAL, "%s failed (see the server log)", what);
}

/* ---- authentication ---------------------------------------------------------- */

static int token68_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
           c == '/' || c == '=';
}

#define AUTH_REALM "Bearer realm=\"vouch\""

static void deny(struct evhttp_request *req, int invalid)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (invalid) {
        evhttp_add_header(h, "WWW-Authenticate", AUTH_REALM ", error=\"invalid_token\"");
        /* One message for malformed, unknown and revoked tokens: the answer
         * never tells which tokens exist. */
        vouchd_send_error(req, 401, VOUCHD_E_INVALID_TOKEN,
                          "the bearer token is not valid");
    } else {
        evhttp_add_header(h, "WWW-Authenticate", AUTH_REALM);
        vouchd_send_error(req, 401, VOUCHD_E_UNAUTHORIZED,
                          "this call needs an 'Authorization: Bearer <token>' header");
    }
}

/* 0 and *caller filled when the request carries a valid token; otherwise
 * the 401 (or 500/503) has been sent and -1 is returned. */
static int authenticate(struct evhttp_request *req, vouchd_worker *w, vouchd_caller *caller)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    char tok[VOUCHD_MAX_TOKEN + 1], err[256] = "";
    size_t n = 0;
    memset(caller, 0, sizeof *caller);
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
        deny(req, 0);
        return -1;
    }
    h += 6;
    while (*h == ' ' || *h == '\t')
        h++;
    while (h[n] && token68_char((unsigned char)h[n]))
        n++;
    const char *tail = h + n;
    while (*tail == ' ' || *tail == '\t')
        tail++;
    if (n == 0 || n > VOUCHD_MAX_TOKEN || *tail) {
        deny(req, 1);
        return -1;
    }
    memcpy(tok, h, n);
    tok[n] = '\0';
    uint8_t hash[32];
    unsigned gen = vouchd_cache_tokens_gen();
    if (EVP_Digest(tok, n, hash, NULL, EVP_sha256(), NULL) == 1 &&
        vouchd_cache_token(w, hash, caller)) {
        OPENSSL_cleanse(tok, sizeof tok);
        OPENSSL_cleanse(hash, sizeof hash);
        return 0;
    }
    vouch_store_rc rc = vouch_store_token_verify(w->store, tok, &caller->token_id,
                                                 caller->token_name, sizeof caller->token_name,
                                                 err, sizeof err);
    OPENSSL_cleanse(tok, sizeof tok);
    if (rc != VOUCH_STORE_OK)
        OPENSSL_cleanse(hash, sizeof hash);
    if (rc == VOUCH_STORE_E_TOKEN_INVALID || rc == VOUCH_STORE_E_TOKEN_REVOKED) {
        deny(req, 1);
        return -1;
    }
    if (rc != VOUCH_STORE_OK) {
        vouchd_send_store_error(req, rc, "token check", err);
        return -1;
    }
    snprintf(caller->actor, sizeof caller->actor, "token:%s", caller->token_name);
    vouchd_cache_token_put(w, hash, gen, caller);
    OPENSSL_cleanse(hash, sizeof hash);
    return 0;
}

/* ---- routes --------------------------------------------------------------------- */

static void h_healthz(struct evhttp_request *req, vouchd_worker *w, const vouchd_caller *caller,
                      const char *rest)
{
    vouchd_send_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

#define M_GET (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

typedef struct route {
    const char *path; /* exact path; or, with prefix set, a prefix ending in '/' */
    int prefix;       /* 1: the rest is one non-empty path segment; 2: one or more;
                       * 3: path holds one '*' standing for a segment, and may be
                       * followed by "/..."; the rest starts at that segment */
    int auth;         /* needs a bearer token */
    int methods;      /* EVHTTP_REQ_* allowed */
    const char *allow;
    vouchd_handler handler;
    size_t max_body;  /* request body limit; 0: VOUCHD_MAX_BODY */
} route;

static const route routes[] = {
    {"/healthz", 0, 0, M_GET, "GET, HEAD", h_healthz, 0},
    {"/v1/issuers", 0, 1, M_GET, "GET, HEAD", vouchd_h_issuers_list, 0},
    {"/v1/issuers/", 1, 1, M_GET, "GET, HEAD", vouchd_h_issuers_get, 0},
    {"/v1/certificates", 0, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", vouchd_h_certs, 0},
    {"/v1/certificates/", 2, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", vouchd_h_cert_item, 0},
    {"/v1/sync", 0, 1, M_GET, "GET, HEAD", vouchd_h_sync, 0},
    {"/v1/templates", 0, 1, M_GET, "GET, HEAD", vouchd_h_templates_list, 0},
    {"/v1/templates/", 1, 1, M_GET | EVHTTP_REQ_PUT, "GET, HEAD, PUT", vouchd_h_template_item, 0},
    {"/v1/accounts", 0, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", vouchd_h_accounts, 0},
    /* an account's firmware (handlers_fw.c), before the account's other paths */
    {"/v1/accounts/*/firmware-keys", 3, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST",
     vouchd_h_account_fw, 0},
    {"/v1/accounts/*/releases", 3, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST",
     vouchd_h_account_fw, VOUCHD_MAX_IMAGE_BODY},
    {"/v1/accounts/*/campaigns", 3, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST",
     vouchd_h_account_fw, 0},
    {"/v1/accounts/", 2, 1, M_GET | EVHTTP_REQ_POST, "GET, HEAD, POST", vouchd_h_account_item, 0},
    /* device authentication: the device proves itself, no admin token */
    {"/v1/auth/challenge", 0, 0, EVHTTP_REQ_POST, "POST", vouchd_h_auth_challenge, 0},
    {"/v1/auth/response", 0, 0, EVHTTP_REQ_POST, "POST", vouchd_h_auth_response, 0},
    {"/v1/session", 0, 0, M_GET, "GET, HEAD", vouchd_h_session, 0},
    /* the device's update API: a session token, no admin token (handlers_fw.c) */
    {"/v1/device/update", 0, 0, M_GET, "GET, HEAD", vouchd_h_device_update, 0},
    {"/v1/device/update/status", 0, 0, EVHTTP_REQ_POST, "POST", vouchd_h_device_update_status, 0},
    {"/v1/device/releases/", 2, 0, M_GET, "GET, HEAD", vouchd_h_device_image, 0},
    {"/ca/", 1, 0, M_GET, "GET, HEAD", vouchd_h_ca_cert, 0},
    {"/crl/", 1, 0, M_GET, "GET, HEAD", vouchd_h_crl, 0},
    {"/ocsp", 0, 0, EVHTTP_REQ_POST, "POST", vouchd_h_ocsp, 0},
    {"/ocsp/", 0, 0, EVHTTP_REQ_POST, "POST", vouchd_h_ocsp, 0}, /* a common client setting */
    {"/ocsp/", 2, 0, M_GET, "GET, HEAD", vouchd_h_ocsp, 0},
};

/* A prefix-3 route: r->path is "<head>*<tail>"; path must be <head>, one
 * non-empty segment, <tail>, then nothing or "/" and more. */
static int match_pattern(const route *r, const char *path, const char **rest)
{
    const char *star = strchr(r->path, '*');
    size_t hl = (size_t)(star - r->path), tl = strlen(star + 1);
    if (strncmp(path, r->path, hl) != 0)
        return 0;
    const char *seg = path + hl, *end = strchr(seg, '/');
    if (!end || end == seg || strncmp(end, star + 1, tl) != 0 ||
        (end[tl] != '\0' && end[tl] != '/'))
        return 0;
    *rest = seg;
    return 1;
}

static const route *find_route(const char *path, const char **rest)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *r = &routes[i];
        size_t n = strlen(r->path);
        if (r->prefix == 3) {
            if (match_pattern(r, path, rest))
                return r;
            continue;
        }
        if (!r->prefix && strcmp(path, r->path) == 0) {
            *rest = "";
            return r;
        }
        if (r->prefix && strncmp(path, r->path, n) == 0 && path[n] &&
            (r->prefix == 2 || !strchr(path + n, '/'))) {
            *rest = path + n;
            return r;
        }
    }
    return NULL;
}

static int is_api_path(const char *path)
{
    return strcmp(path, "/v1") == 0 || strncmp(path, "/v1/", 4) == 0;
}

void vouchd_http_dispatch(struct evhttp_request *req, void *arg)
{
    vouchd_worker *w = arg;
    vouchd_caller caller;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *rest = "";

    vouchd_conns_request(w, req);
    if (!path || path[0] != '/') {
        vouchd_send_error(req, 400, VOUCHD_E_BAD_REQUEST, "the request target is not a path");
        return;
    }
    size_t body = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    const route *r = find_route(path, &rest);
    size_t limit = r && r->max_body ? r->max_body : VOUCHD_MAX_BODY;
    /* OCSP clients get OCSP errors, never JSON: /ocsp refuses large
     * requests itself (malformedRequest). */
    if (body > limit && strncmp(path, "/ocsp", 5) != 0) {
        vouchd_send_error(req, 413, VOUCHD_E_TOO_LARGE,
                          "the request body is %zu bytes; the limit is %zu", body, limit);
        return;
    }
    /* Under /v1/ the token is checked before anything else, so that an
     * unauthenticated caller learns nothing, not even which paths exist. */
    if ((r && r->auth) || (!r && is_api_path(path))) {
        if (authenticate(req, w, &caller) != 0)
            return;
    } else {
        memset(&caller, 0, sizeof caller);
    }
    if (!r) {
        vouchd_send_error(req, 404, VOUCHD_E_NOT_FOUND, "no such resource");
        return;
    }
    if (!(evhttp_request_get_command(req) & r->methods)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r->allow);
        vouchd_send_error(req, 405, VOUCHD_E_METHOD, "this resource allows %s", r->allow);
        return;
    }
    r->handler(req, w, &caller, rest);
}
