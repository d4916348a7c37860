/*
 * The device's firmware update calls (vouch/client.h): vouchd's device
 * update API over the CLI's HTTP client, with the session token of
 * vouch_device_authenticate. Every answer is checked against what the API
 * promises before anything of it is handed to the caller; an image range
 * in particular must be exactly the bytes asked for.
 */
#include <vouch/client.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/http_client.h"

#define ANSWER_MAX (64 * 1024)                 /* a JSON answer */
#define IMAGE_ANSWER_MAX ((32u << 20) + 65536) /* a whole image (200) and then some */
#define URL_PREFIX "/v1/device/releases/"

static vouch_client_rc fail(vouch_client_status *st, vouch_client_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vouch_client_rc fail(vouch_client_status *st, vouch_client_rc rc, const char *fmt, ...)
{
    if (st) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->message, sizeof st->message, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static vouch_client_rc open_http(const vouch_device_session *s, size_t body_max, vouch_http **h,
                                 vouch_client_status *st)
{
    if (!s || !s->server_url || !s->token || !*s->token)
        return fail(st, VOUCH_CLIENT_E_ARG, "a server URL and a session token are needed");
    vouch_http_config hc = {.url = s->server_url, .token = s->token, .cacert = s->cacert,
                            .timeout_s = s->timeout_s, .body_max = body_max};
    char err[256] = "";
    vouch_http_rc rc = vouch_http_new(&hc, h, err, sizeof err);
    if (rc != VOUCH_HTTP_OK)
        return fail(st, rc == VOUCH_HTTP_E_NOMEM ? VOUCH_CLIENT_E_NOMEM : VOUCH_CLIENT_E_ARG, "%s",
                    err);
    return VOUCH_CLIENT_OK;
}

/* A request; VOUCH_CLIENT_OK with *rsp whatever its status. */
static vouch_client_rc send_req(vouch_http *h, const char *method, const char *path,
                                const vouch_http_header *hdrs, const char *body, size_t len,
                                vouch_http_response *rsp, vouch_client_status *st)
{
    char err[256] = "";
    vouch_http_rc rc = vouch_http_request(h, method, path, hdrs, body, len, rsp, err, sizeof err);
    if (rc == VOUCH_HTTP_E_NOMEM)
        return fail(st, VOUCH_CLIENT_E_NOMEM, "out of memory");
    if (rc != VOUCH_HTTP_OK)
        return fail(st, VOUCH_CLIENT_E_COMM, "%s: %s", path, err);
    return VOUCH_CLIENT_OK;
}

/* An answer that is not the success expected: the API's error (REFUSED
 * for 4xx, COMM for 5xx) or, without one, COMM. */
static vouch_client_rc refused(const vouch_http_response *rsp, const char *path,
                               vouch_client_status *st)
{
    json_t *j = rsp->len ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    vouch_client_rc rc;
    if (code && msg) {
        if (st) {
            st->http_status = rsp->status;
            snprintf(st->error_code, sizeof st->error_code, "%s", code);
        }
        rc = fail(st, rsp->status >= 500 ? VOUCH_CLIENT_E_COMM : VOUCH_CLIENT_E_REFUSED, "%s",
                  msg);
    } else {
        rc = fail(st, VOUCH_CLIENT_E_COMM, "%s: HTTP %d without the answer the API promises",
                  path, rsp->status);
    }
    json_decref(j);
    return rc;
}

static int unhex32(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

/* An image URL of the API: a path under /v1/device/releases/, nothing that
 * could lead the request elsewhere. */
static int url_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;
    if (n <= strlen(URL_PREFIX) || n >= 128 || strncmp(u, URL_PREFIX, strlen(URL_PREFIX)) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '/'))
            return 0;
    return strstr(u, "//") == NULL && strstr(u, "..") == NULL;
}

static int json_u64(json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

vouch_client_rc vouch_device_update_check(const vouch_device_session *s,
                                          const char *current_version,
                                          uint32_t security_counter, vouch_update_offer *offer,
                                          vouch_client_status *st)
{
    if (st)
        memset(st, 0, sizeof *st);
    if (!offer)
        return fail(st, VOUCH_CLIENT_E_ARG, "no offer to fill");
    memset(offer, 0, sizeof *offer);
    size_t vl = current_version ? strlen(current_version) : 0;
    if (vl == 0 || vl > 31 || strspn(current_version, "0123456789.+") != vl)
        return fail(st, VOUCH_CLIENT_E_ARG, "the current version must be like 1.2.3 or 1.2.3+4");
    vouch_http *h = NULL;
    vouch_client_rc rc = open_http(s, ANSWER_MAX, &h, st);
    if (rc != VOUCH_CLIENT_OK)
        return rc;
    char path[192];
    /* the version's alphabet needs no encoding except '+' */
    char ver[96];
    size_t o = 0;
    for (size_t i = 0; i < vl; i++) {
        if (current_version[i] == '+') {
            memcpy(ver + o, "%2B", 3);
            o += 3;
        } else {
            ver[o++] = current_version[i];
        }
    }
    ver[o] = 0;
    snprintf(path, sizeof path, "/v1/device/update?current=%s&security_counter=%" PRIu32, ver,
             security_counter);
    static const vouch_http_header hdr[] = {{"Accept", "application/json"}, {NULL, NULL}};
    vouch_http_response rsp;
    rc = send_req(h, "GET", path, hdr, NULL, 0, &rsp, st);
    vouch_http_free(h);
    if (rc != VOUCH_CLIENT_OK)
        return rc;
    if (rsp.status == 204) {
        vouch_http_response_clear(&rsp);
        return VOUCH_CLIENT_OK;
    }
    if (rsp.status != 200) {
        rc = refused(&rsp, "/v1/device/update", st);
        vouch_http_response_clear(&rsp);
        return rc;
    }
    json_t *j = json_loadb(rsp.body, rsp.len, JSON_REJECT_DUPLICATES, NULL);
    vouch_http_response_clear(&rsp);
    uint64_t campaign = 0, release = 0, sec = 0, size = 0;
    const char *version = json_string_value(json_object_get(j, "version"));
    const char *url = json_string_value(json_object_get(j, "url"));
    if (!json_is_object(j) || json_u64(json_object_get(j, "campaign"), INT64_MAX, &campaign) ||
        json_u64(json_object_get(j, "release"), INT64_MAX, &release) ||
        json_u64(json_object_get(j, "security_counter"), UINT32_MAX, &sec) ||
        json_u64(json_object_get(j, "size"), 1ull << 40, &size) || campaign == 0 ||
        release == 0 || size == 0 || !version || strlen(version) >= sizeof offer->version ||
        !url_ok(url) ||
        unhex32(json_string_value(json_object_get(j, "sha256")), offer->sha256) != 0) {
        json_decref(j);
        memset(offer, 0, sizeof *offer);
        return fail(st, VOUCH_CLIENT_E_COMM, "/v1/device/update: the offer is not what the API "
                                             "promises");
    }
    offer->campaign = (int64_t)campaign;
    offer->release = (int64_t)release;
    offer->security_counter = (uint32_t)sec;
    offer->size = size;
    snprintf(offer->version, sizeof offer->version, "%s", version);
    snprintf(offer->url, sizeof offer->url, "%s", url);
    offer->available = 1;
    json_decref(j);
    return VOUCH_CLIENT_OK;
}

/* Decimal digits of s up to the character `end` into *v (no overflow):
 * s moves past `end`. 0 or -1. */
static int num_until(const char **s, char end, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (*p != end)
        return -1;
    *s = end ? p + 1 : p;
    *v = x;
    return 0;
}

/* "bytes A-B/T" (206) or "bytes STAR/T" (416, star = 1). 0 or -1. */
static int content_range(const char *cr, int star, uint64_t *a, uint64_t *b, uint64_t *t)
{
    if (strncmp(cr, "bytes ", 6) != 0)
        return -1;
    const char *p = cr + 6;
    if (star)
        return p[0] == '*' && p[1] == '/' && (p += 2, num_until(&p, 0, t) == 0) ? 0 : -1;
    if (num_until(&p, '-', a) != 0 || num_until(&p, '/', b) != 0 || num_until(&p, 0, t) != 0 ||
        *a > *b || *b >= *t)
        return -1;
    return 0;
}

static int etag_is(const char *etag, const uint8_t sha[32])
{
    static const char hx[] = "0123456789abcdef";
    char want[67];
    want[0] = '"';
    for (int i = 0; i < 32; i++) {
        want[1 + 2 * i] = hx[sha[i] >> 4];
        want[2 + 2 * i] = hx[sha[i] & 15];
    }
    want[65] = '"';
    want[66] = 0;
    return strcmp(etag, want) == 0;
}

vouch_client_rc vouch_device_image_get_range(const vouch_device_session *s, const char *url,
                                             uint64_t offset, uint8_t *buf, size_t max_len,
                                             const uint8_t *expect_sha256, size_t *got,
                                             uint64_t *total, vouch_client_status *st)
{
    if (st)
        memset(st, 0, sizeof *st);
    if (!got || !buf || max_len == 0 || !url_ok(url) || offset > INT64_MAX ||
        max_len - 1 > UINT64_MAX - offset)
        return fail(st, VOUCH_CLIENT_E_ARG, "an image URL (/v1/device/releases/ID/image), a "
                                            "buffer and a length are needed");
    *got = 0;
    vouch_http *h = NULL;
    vouch_client_rc rc = open_http(s, IMAGE_ANSWER_MAX, &h, st);
    if (rc != VOUCH_CLIENT_OK)
        return rc;
    char range[64];
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, offset,
             offset + (uint64_t)(max_len - 1));
    vouch_http_header hdr[] = {{"Range", range}, {NULL, NULL}};
    vouch_http_response rsp;
    rc = send_req(h, "GET", url, hdr, NULL, 0, &rsp, st);
    vouch_http_free(h);
    if (rc != VOUCH_CLIENT_OK)
        return rc;
    uint64_t a = 0, b = 0, t = 0;
    if (expect_sha256 && (rsp.status == 200 || rsp.status == 206) &&
        !etag_is(rsp.etag, expect_sha256)) {
        rc = fail(st, VOUCH_CLIENT_E_COMM, "%s: the server sends another image than the offer's "
                                           "(ETag %.70s)",
                  url, rsp.etag);
    } else if (rsp.status == 206) {
        if (content_range(rsp.content_range, 0, &a, &b, &t) != 0 || a != offset ||
            b - a >= max_len || rsp.len != b - a + 1) {
            rc = fail(st, VOUCH_CLIENT_E_COMM, "%s: a partial answer (Content-Range '%.60s', %zu "
                                               "bytes) that is not the range asked for",
                      url, rsp.content_range, rsp.len);
        } else {
            memcpy(buf, rsp.body, rsp.len);
            *got = rsp.len;
        }
    } else if (rsp.status == 200) {
        /* the server ignored the Range: this is the whole image */
        t = rsp.len;
        if (offset > t) {
            rc = fail(st, VOUCH_CLIENT_E_COMM, "%s: the image has %" PRIu64 " bytes, fewer than "
                                               "the offset %" PRIu64,
                      url, t, offset);
        } else {
            size_t n = t - offset < max_len ? (size_t)(t - offset) : max_len;
            memcpy(buf, rsp.body + offset, n);
            *got = n;
        }
    } else if (rsp.status == 416 && content_range(rsp.content_range, 1, &a, &b, &t) == 0 &&
               t == offset) {
        *got = 0; /* asked from the end: nothing left, the download is complete */
    } else {
        rc = refused(&rsp, url, st);
    }
    if (rc == VOUCH_CLIENT_OK && total)
        *total = t;
    vouch_http_response_clear(&rsp);
    return rc;
}

vouch_client_rc vouch_device_update_report(const vouch_device_session *s, int64_t campaign,
                                           const char *state, const char *detail,
                                           vouch_client_status *st)
{
    static const char *const states[] = {"downloading", "installed", "testing", "confirmed",
                                         "reverted",    "rejected",  "failed"};
    if (st)
        memset(st, 0, sizeof *st);
    int known = 0;
    for (size_t i = 0; state && i < sizeof states / sizeof states[0]; i++)
        known |= strcmp(state, states[i]) == 0;
    if (campaign <= 0 || !known || (detail && strlen(detail) > 200))
        return fail(st, VOUCH_CLIENT_E_ARG, "a campaign, a known state and at most 200 bytes "
                                            "of detail are needed");
    json_t *body = json_pack("{s:I,s:s}", "campaign", (json_int_t)campaign, "state", state);
    if (body && detail && json_object_set_new(body, "detail", json_string(detail)) != 0) {
        json_decref(body);
        return fail(st, VOUCH_CLIENT_E_ARG, "the detail is not UTF-8 text");
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return fail(st, VOUCH_CLIENT_E_NOMEM, "out of memory");
    vouch_http *h = NULL;
    vouch_client_rc rc = open_http(s, ANSWER_MAX, &h, st);
    if (rc != VOUCH_CLIENT_OK) {
        free(text);
        return rc;
    }
    static const vouch_http_header hdr[] = {{"Content-Type", "application/json"}, {NULL, NULL}};
    vouch_http_response rsp;
    rc = send_req(h, "POST", "/v1/device/update/status", hdr, text, strlen(text), &rsp, st);
    vouch_http_free(h);
    free(text);
    if (rc != VOUCH_CLIENT_OK)
        return rc;
    if (rsp.status != 204 && rsp.status != 200)
        rc = refused(&rsp, "/v1/device/update/status", st);
    vouch_http_response_clear(&rsp);
    return rc;
}
