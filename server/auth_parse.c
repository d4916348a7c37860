/* Device authentication request parsers; see auth_parse.h. */
#include "server/auth_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static int refuse(vouchd_auth_refusal *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(vouchd_auth_refusal *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

long vouchd_b64_decode(const char *s, size_t len, uint8_t *out, size_t max)
{
    if (!s || len == 0 || len % 4 != 0 || len / 4 * 3 > max + 2)
        return -1;
    size_t pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(s[i]))
            return -1;
    if (len / 4 * 3 - pad > max)
        return -1;
    int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (k < 0 || (size_t)k < pad)
        return -1;
    return (long)((size_t)k - pad);
}

void vouchd_b64url(const uint8_t *in, size_t n, char *out)
{
    int k = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (k > 0 && out[k - 1] == '=')
        k--;
    out[k] = '\0';
    for (int i = 0; i < k; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

int vouchd_b64url_decode(const char *s, uint8_t *out, size_t n)
{
    size_t len = strlen(s), want = (4 * n + 2) / 3;
    char buf[128], again[128];
    uint8_t tmp[96];
    if (n > 64 || len != want || len + 3 > sizeof buf)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return -1;
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (len % 4)
        buf[len++] = '=';
    buf[len] = '\0';
    int k = EVP_DecodeBlock(tmp, (const unsigned char *)buf, (int)len);
    if (k < (int)n)
        return -1;
    memcpy(out, tmp, n);
    OPENSSL_cleanse(tmp, sizeof tmp);
    /* the unused low bits of the last character must be zero (one spelling) */
    vouchd_b64url(out, n, again);
    return strcmp(again, s) == 0 ? 0 : -1;
}

int vouchd_auth_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* The body as a JSON object with only the allowed members; NULL and r. */
static json_t *object(const char *body, size_t len, const char *const *allowed,
                      const char *expect, vouchd_auth_refusal *r)
{
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        refuse(r, 400, "bad_request", "the body must be a JSON object %s%s%s", expect,
               j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        return NULL;
    }
    char bad[65];
    if (!vouchd_json_members_ok(j, allowed, bad, sizeof bad)) {
        refuse(r, 400, "bad_request", "unknown member '%s' (expected %s)", bad, expect);
        json_decref(j);
        return NULL;
    }
    return j;
}

int vouchd_json_members_ok(const json_t *j, const char *const *allowed, char *bad,
                           size_t bad_size)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok) {
            snprintf(bad, bad_size, "%s", k);
            return 0;
        }
    }
    return 1;
}

void vouchd_auth_chain_free(vouchd_auth_chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->der[i]);
    memset(c, 0, sizeof *c);
}

int vouchd_auth_parse_challenge(const char *body, size_t len, vouchd_auth_chain *c,
                                vouchd_auth_refusal *r)
{
    static const char *const allowed[] = {"certificates", "account", NULL};
    memset(c, 0, sizeof *c);
    json_t *j = object(body, len, allowed, "{\"certificates\": [base64 DER, ...], \"account\"?}",
                       r);
    if (!j)
        return -1;
    int ret = -1;
    json_t *a = json_object_get(j, "account");
    if (a) {
        if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a) ||
            !vouchd_auth_name_ok(json_string_value(a), VOUCHD_AUTH_ACCOUNT_MAX)) {
            refuse(r, 400, "bad_request",
                   "'account' must be an account name (1 to %d of A-Z a-z 0-9 . _ -)",
                   VOUCHD_AUTH_ACCOUNT_MAX);
            goto out;
        }
        snprintf(c->account, sizeof c->account, "%s", json_string_value(a));
    }
    json_t *arr = json_object_get(j, "certificates");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        refuse(r, 400, "bad_request",
               "'certificates' must be an array of base64 DER certificates, leaf first");
        goto out;
    }
    if (json_array_size(arr) > VOUCHD_AUTH_CHAIN_MAX) {
        refuse(r, 413, "chain_too_long",
               "the chain has %zu certificates; at most %d (the leaf and %d intermediates)",
               json_array_size(arr), VOUCHD_AUTH_CHAIN_MAX, VOUCHD_AUTH_CHAIN_MAX - 1);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *s = json_string_value(e);
        size_t sl = s ? json_string_length(e) : 0;
        if (!s) {
            refuse(r, 400, "bad_request", "certificate %zu is not a base64 string", i);
            goto out;
        }
        if (sl > (VOUCHD_AUTH_CERT_MAX + 2) / 3 * 4) {
            refuse(r, 413, "chain_too_long", "certificate %zu is over %d bytes", i,
                   VOUCHD_AUTH_CERT_MAX);
            goto out;
        }
        if (!(c->der[i] = malloc(VOUCHD_AUTH_CERT_MAX + 2))) {
            refuse(r, 500, "internal", "out of memory");
            goto out;
        }
        c->n = i + 1;
        long k = vouchd_b64_decode(s, sl, c->der[i], VOUCHD_AUTH_CERT_MAX + 2);
        if (k > VOUCHD_AUTH_CERT_MAX) {
            refuse(r, 413, "chain_too_long", "certificate %zu is over %d bytes", i,
                   VOUCHD_AUTH_CERT_MAX);
            goto out;
        }
        if (k <= 0) {
            refuse(r, 400, "bad_request",
                   "certificate %zu is not base64 (RFC 4648, padded) of at most %d bytes", i,
                   VOUCHD_AUTH_CERT_MAX);
            goto out;
        }
        c->len[i] = (size_t)k;
    }
    ret = 0;
out:
    json_decref(j);
    return ret;
}

int vouchd_auth_parse_response(const char *body, size_t len, char id[VOUCHD_AUTH_ID_MAX + 1],
                               uint8_t sig[VOUCHD_AUTH_SIG_MAX + 8], long *sig_len,
                               vouchd_auth_refusal *r)
{
    static const char *const allowed[] = {"challenge_id", "signature", NULL};
    json_t *j = object(body, len, allowed, "{\"challenge_id\", \"signature\"}", r);
    if (!j)
        return -1;
    json_t *ij = json_object_get(j, "challenge_id"), *sj = json_object_get(j, "signature");
    const char *idtxt = json_string_value(ij), *stxt = json_string_value(sj);
    int ret = -1;
    if (!idtxt || !stxt) {
        refuse(r, 400, "bad_request",
               "'challenge_id' and 'signature' (base64 DER) are both required strings");
    } else {
        /* an id that cannot be one is still looked up (unknown_challenge),
         * as long as it is a plain string of a sane length */
        size_t il = json_string_length(ij);
        if (il > VOUCHD_AUTH_ID_MAX || strlen(idtxt) != il)
            snprintf(id, VOUCHD_AUTH_ID_MAX + 1, "-");
        else
            memcpy(id, idtxt, il + 1);
        *sig_len = vouchd_b64_decode(stxt, json_string_length(sj), sig, VOUCHD_AUTH_SIG_MAX);
        ret = 0;
    }
    json_decref(j);
    return ret;
}
