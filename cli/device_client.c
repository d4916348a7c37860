/*
 * vouch_device_authenticate (vouch/client.h): the two requests of
 * docs/auth-protocol.md over the CLI's HTTP client, the signature by the SE
 * through vouch_auth_sign.
 */
#include <vouch/auth.h>
#include <vouch/client.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli/http_client.h"

#define ANSWER_MAX (64 * 1024)

static vouch_client_rc fail(vouch_device_auth_result *r, vouch_client_rc rc, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));
static vouch_client_rc fail(vouch_device_auth_result *r, vouch_client_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return rc;
}

static char *b64(const uint8_t *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* Strict padded base64 of exactly n bytes into out; 0 or -1. */
static int unb64(const char *s, uint8_t *out, size_t n)
{
    size_t len = s ? strlen(s) : 0;
    uint8_t tmp[64];
    if (len != 4 * ((n + 2) / 3) || n + 2 > sizeof tmp)
        return -1;
    int k = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
    size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
    if (k < 0 || (size_t)k - pad != n)
        return -1;
    memcpy(out, tmp, n);
    return 0;
}

/* POST body to path; 2xx answer parsed into *ans, else REFUSED/COMM with r filled. */
static vouch_client_rc post(vouch_http *h, const char *path, json_t *body,
                            vouch_device_auth_result *r, json_t **ans)
{
    char *text = json_dumps(body, JSON_COMPACT);
    vouch_http_response rsp = {0};
    char err[256] = "";
    static const vouch_http_header hdr[] = {{"Content-Type", "application/json"}, {NULL, NULL}};
    *ans = NULL;
    if (!text)
        return fail(r, VOUCH_CLIENT_E_NOMEM, "out of memory");
    vouch_http_rc hrc = vouch_http_request(h, "POST", path, hdr, text, strlen(text), &rsp, err,
                                           sizeof err);
    free(text);
    if (hrc != VOUCH_HTTP_OK)
        return fail(r, VOUCH_CLIENT_E_COMM, "%s: %s", path, err);
    json_error_t je;
    json_t *j = json_loadb(rsp.body ? rsp.body : "", rsp.len, 0, &je);
    vouch_client_rc rc = VOUCH_CLIENT_OK;
    if (rsp.status >= 200 && rsp.status < 300 && json_is_object(j)) {
        *ans = j;
        j = NULL;
    } else if (json_is_object(json_object_get(j, "error"))) {
        json_t *e = json_object_get(j, "error");
        r->http_status = rsp.status;
        snprintf(r->error_code, sizeof r->error_code, "%s",
                 json_string_value(json_object_get(e, "code")) ?: "?");
        rc = fail(r, rsp.status >= 500 ? VOUCH_CLIENT_E_COMM : VOUCH_CLIENT_E_REFUSED,
                  "%s", json_string_value(json_object_get(e, "message")) ?: "(no message)");
    } else {
        rc = fail(r, VOUCH_CLIENT_E_COMM, "%s: HTTP %d without the JSON the API promises", path,
                  rsp.status);
    }
    json_decref(j);
    vouch_http_response_clear(&rsp);
    return rc;
}

vouch_client_rc vouch_device_authenticate(vouch_se *se, const vouch_device_auth_opts *o,
                                          vouch_device_auth_result *r)
{
    if (!r)
        return VOUCH_CLIENT_E_ARG;
    memset(r, 0, sizeof *r);
    if (!se || !o || !o->server_url || o->chain_n < 1 || o->chain_n > VOUCH_CLIENT_CHAIN_MAX)
        return fail(r, VOUCH_CLIENT_E_ARG, "an SE, a server URL and 1..%d certificates are needed",
                    VOUCH_CLIENT_CHAIN_MAX);
    char origin[VOUCH_AUTH_ORIGIN_MAX + 1];
    if (vouch_auth_origin_from_url(o->server_url, origin, sizeof origin) != VOUCH_OK)
        return fail(r, VOUCH_CLIENT_E_ARG, "'%s' is not a server URL with a usable origin",
                    o->server_url);
    for (size_t i = 0; i < o->chain_n; i++)
        if (!o->chain[i] || o->chain_len[i] == 0 || o->chain_len[i] > 65535)
            return fail(r, VOUCH_CLIENT_E_ARG, "certificate %zu of the chain is empty or too big", i);
    vouch_http_config hc = {.url = o->server_url, .cacert = o->cacert, .timeout_s = o->timeout_s,
                            .body_max = ANSWER_MAX};
    vouch_http *h = NULL;
    char err[256] = "";
    if (vouch_http_new(&hc, &h, err, sizeof err) != VOUCH_HTTP_OK)
        return fail(r, VOUCH_CLIENT_E_ARG, "%s", err);

    vouch_client_rc rc = VOUCH_CLIENT_E_NOMEM;
    json_t *body = json_object(), *arr = json_array(), *ans = NULL;
    if (!body || !arr || json_object_set(body, "certificates", arr) != 0 ||
        (o->account && json_object_set_new(body, "account", json_string(o->account)) != 0)) {
        rc = fail(r, VOUCH_CLIENT_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->chain_n; i++) {
        char *s = b64(o->chain[i], o->chain_len[i]);
        if (!s || json_array_append_new(arr, json_string(s)) != 0) {
            free(s);
            rc = fail(r, VOUCH_CLIENT_E_NOMEM, "out of memory");
            goto out;
        }
        free(s);
    }
    if ((rc = post(h, "/v1/auth/challenge", body, r, &ans)) != VOUCH_CLIENT_OK)
        goto out;
    uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN], sig[VOUCH_AUTH_SIG_DER_MAX];
    size_t sl = 0;
    const char *cid = json_string_value(json_object_get(ans, "challenge_id"));
    if (!cid || strlen(cid) > 64 ||
        unb64(json_string_value(json_object_get(ans, "challenge")), challenge,
              sizeof challenge) != 0) {
        rc = fail(r, VOUCH_CLIENT_E_COMM, "the challenge answer lacks challenge_id or a "
                                          "32-byte base64 challenge");
        goto out;
    }
    vouch_rc src = vouch_auth_sign(se, o->slot, origin, challenge, o->chain[0], o->chain_len[0],
                                   o->se_flags, sig, sizeof sig, &sl);
    if (src != VOUCH_OK) {
        rc = fail(r, VOUCH_CLIENT_E_SE, "the secure element did not sign: %s",
                  vouch_strerror(src));
        goto out;
    }
    char *sigtxt = b64(sig, sl);
    json_t *resp = sigtxt ? json_pack("{s:s,s:s}", "challenge_id", cid, "signature", sigtxt) : NULL;
    free(sigtxt);
    json_decref(ans);
    ans = NULL;
    if (!resp) {
        rc = fail(r, VOUCH_CLIENT_E_NOMEM, "out of memory");
        goto out;
    }
    rc = post(h, "/v1/auth/response", resp, r, &ans);
    json_decref(resp);
    if (rc != VOUCH_CLIENT_OK)
        goto out;
    const char *dev = json_string_value(json_object_get(ans, "device_id")),
               *acc = json_string_value(json_object_get(ans, "account")),
               *tok = json_string_value(json_object_get(ans, "token")),
               *exp = json_string_value(json_object_get(ans, "expires_at"));
    if (!dev || !acc || !tok || !exp || strlen(tok) >= sizeof r->token) {
        rc = fail(r, VOUCH_CLIENT_E_COMM, "the response answer lacks device_id, account, token "
                                          "or expires_at");
        goto out;
    }
    snprintf(r->device_id, sizeof r->device_id, "%s", dev);
    snprintf(r->account, sizeof r->account, "%s", acc);
    snprintf(r->token, sizeof r->token, "%s", tok);
    snprintf(r->expires_at, sizeof r->expires_at, "%s", exp);
    rc = VOUCH_CLIENT_OK;
out:
    json_decref(body);
    json_decref(arr);
    json_decref(ans);
    vouch_http_free(h);
    return rc;
}

vouch_client_rc vouch_device_chain_from_zone(vouch_se *se, uint8_t zone, unsigned se_flags,
                                             uint8_t *buf, size_t buf_size,
                                             vouch_device_auth_opts *o, char *why,
                                             size_t why_size)
{
    vouch_se_info info;
    if (!se || !buf || !o || !why || why_size == 0)
        return VOUCH_CLIENT_E_ARG;
    vouch_rc rc = vouch_se_query(se, &info);
    if (rc != VOUCH_OK) {
        snprintf(why, why_size, "cannot query the SE: %s", vouch_strerror(rc));
        return VOUCH_CLIENT_E_SE;
    }
    size_t size = 0;
    for (unsigned i = 0; i < info.n_zones; i++)
        if (info.zones[i].index == zone)
            size = info.zones[i].size;
    if (size == 0 || size > buf_size) {
        snprintf(why, why_size, "zone %u is missing or larger than %zu bytes", zone, buf_size);
        return VOUCH_CLIENT_E_ARG;
    }
    if ((rc = vouch_se_read(se, zone, 0, buf, size, se_flags)) != VOUCH_OK) {
        snprintf(why, why_size, "cannot read zone %u: %s", zone, vouch_strerror(rc));
        return VOUCH_CLIENT_E_SE;
    }
    size_t off = 0;
    o->chain_n = 0;
    while (off < size && buf[off] == 0x30) {
        const unsigned char *p = buf + off;
        X509 *x = d2i_X509(NULL, &p, (long)(size - off));
        if (!x) {
            snprintf(why, why_size, "zone %u: bytes at offset %zu are not a DER certificate",
                     zone, off);
            return VOUCH_CLIENT_E_ARG;
        }
        X509_free(x);
        if (o->chain_n == VOUCH_CLIENT_CHAIN_MAX) {
            snprintf(why, why_size, "zone %u holds more than %d certificates", zone,
                     VOUCH_CLIENT_CHAIN_MAX);
            return VOUCH_CLIENT_E_ARG;
        }
        o->chain[o->chain_n] = buf + off;
        o->chain_len[o->chain_n++] = (size_t)(p - (buf + off));
        off = (size_t)(p - buf);
    }
    for (size_t i = off; i < size; i++)
        if (buf[i] != 0) {
            snprintf(why, why_size, "zone %u: unexpected bytes after the certificates", zone);
            return VOUCH_CLIENT_E_ARG;
        }
    if (o->chain_n == 0) {
        snprintf(why, why_size, "zone %u holds no certificate (is the SE provisioned?)", zone);
        return VOUCH_CLIENT_E_ARG;
    }
    return VOUCH_CLIENT_OK;
}
