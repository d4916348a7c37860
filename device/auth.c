/*
 * Device authentication, the device side (vouch/auth.h,
 * docs/auth-protocol.md): the signed message, its digest, and the SE's
 * signature over it.
 */
#include "internal.h"

#include <vouch/auth.h>

#define TAG_LEN (sizeof VOUCH_AUTH_TAG - 1)

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* strncasecmp for ASCII, without the locale */
static int strncasecmp_ascii(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y || !x)
            return x - y;
    }
    return 0;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int vouch_auth_origin_check(const char *origin)
{
    if (!origin)
        return -1;
    size_t len = strnlen(origin, VOUCH_AUTH_ORIGIN_MAX + 1);
    if (len > VOUCH_AUTH_ORIGIN_MAX)
        return -1;
    const char *p;
    if (strncmp(origin, "https://", 8) == 0)
        p = origin + 8;
    else if (strncmp(origin, "http://", 7) == 0)
        p = origin + 7;
    else
        return -1;
    const char *host = p;
    if (*p == '[') { /* IPv6 literal */
        p++;
        while (is_hex(*p) || *p == ':' || *p == '.')
            p++;
        if (*p != ']' || p == host + 1)
            return -1;
        p++;
    } else {
        /* DNS name or IPv4: labels of [a-z0-9-], not starting or ending
         * with '-', separated by single dots */
        const char *label = p;
        for (;; p++) {
            if (is_lower_alnum(*p))
                continue;
            if (*p == '-' && p != label)
                continue;
            if (p == label || p[-1] == '-')
                return -1;
            if (*p != '.')
                break;
            label = p + 1;
        }
    }
    if (*p++ != ':')
        return -1;
    if (*p < '1' || *p > '9')
        return -1;
    unsigned long port = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        port = port * 10 + (unsigned long)(*p - '0');
        if (++digits > 5)
            return -1;
    }
    if (*p != '\0' || port > 65535)
        return -1;
    return 0;
}

vouch_rc vouch_auth_origin_from_url(const char *url, char *out, size_t out_size)
{
    if (!url || !out || out_size == 0)
        return VOUCH_E_ARG;
    out[0] = '\0';
    const char *p;
    const char *scheme, *defport;
    if (strncasecmp_ascii(url, "https://", 8) == 0) {
        p = url + 8, scheme = "https://", defport = "443";
    } else if (strncasecmp_ascii(url, "http://", 7) == 0) {
        p = url + 7, scheme = "http://", defport = "80";
    } else {
        return VOUCH_E_ARG;
    }
    /* authority: up to the first '/', or the end; no '?', '#' or '@' */
    size_t alen = strcspn(p, "/?#@");
    if (p[alen] == '?' || p[alen] == '#' || p[alen] == '@' || alen == 0)
        return VOUCH_E_ARG;
    if (p[alen] == '/' && strpbrk(p + alen, "?#@"))
        return VOUCH_E_ARG;
    /* where the port starts: after the last ':' outside an IPv6 literal */
    const char *end = p + alen, *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb)
            return VOUCH_E_ARG;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return VOUCH_E_ARG;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', alen);
    }
    size_t hlen = colon ? (size_t)(colon - p) : alen;
    const char *port = colon ? colon + 1 : defport;
    size_t plen = colon ? (size_t)(end - port) : strlen(defport);
    size_t need = strlen(scheme) + hlen + 1 + plen + 1;
    if (need > VOUCH_AUTH_ORIGIN_MAX + 1)
        return VOUCH_E_ARG;
    if (need > out_size)
        return VOUCH_E_BUFFER;
    size_t o = strlen(scheme);
    memcpy(out, scheme, o);
    for (size_t i = 0; i < hlen; i++) {
        char c = p[i];
        out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[o++] = ':';
    memcpy(out + o, port, plen);
    o += plen;
    out[o] = '\0';
    if (vouch_auth_origin_check(out) != 0) {
        out[0] = '\0';
        return VOUCH_E_ARG;
    }
    return VOUCH_OK;
}

vouch_rc vouch_auth_message(const char *origin, const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                            const uint8_t leaf_sha256[32], uint8_t *out, size_t out_size,
                            size_t *out_len)
{
    vouch_rc rc = VOUCH_OK;
    ENSURE(challenge && leaf_sha256 && out && out_len, RC_API(VOUCH_E_ARG));
    ENSURE(vouch_auth_origin_check(origin) == 0, RC_API(VOUCH_E_ARG));
    size_t olen = strlen(origin);
    size_t need = TAG_LEN + 1 + olen + 1 + VOUCH_AUTH_CHALLENGE_LEN + 32;
    ENSURE(out_size >= need, RC_API(VOUCH_E_BUFFER));
    uint8_t *p = out;
    memcpy(p, VOUCH_AUTH_TAG, TAG_LEN);
    p += TAG_LEN;
    *p++ = 0;
    memcpy(p, origin, olen);
    p += olen;
    *p++ = 0;
    memcpy(p, challenge, VOUCH_AUTH_CHALLENGE_LEN);
    p += VOUCH_AUTH_CHALLENGE_LEN;
    memcpy(p, leaf_sha256, 32);
    *out_len = need;
exit:
    return rc;
}

vouch_rc vouch_auth_digest(const vouch_crypto_port *port, const char *origin,
                           const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                           const uint8_t *leaf_der, size_t leaf_len, uint8_t digest[32])
{
    vouch_rc rc = VOUCH_OK;
    uint8_t leaf_hash[32], msg[VOUCH_AUTH_MESSAGE_MAX];
    size_t mlen = 0;
    if (!port)
        port = vouch_port_openssl();
    ENSURE(port->sha256, RC_API(VOUCH_E_UNSUPPORTED));
    ENSURE(leaf_der && leaf_len >= 1 && leaf_len <= 65535 && digest, RC_API(VOUCH_E_ARG));
    ENSURE(port->sha256(port->ctx, leaf_der, leaf_len, leaf_hash) == 0, RC_PORT);
    GUARD(vouch_auth_message(origin, challenge, leaf_hash, msg, sizeof msg, &mlen));
    ENSURE(port->sha256(port->ctx, msg, mlen, digest) == 0, RC_PORT);
exit:
    return rc;
}

vouch_rc vouch_auth_sign(vouch_se *se, uint8_t slot, const char *origin,
                         const uint8_t challenge[VOUCH_AUTH_CHALLENGE_LEN],
                         const uint8_t *leaf_der, size_t leaf_len, unsigned flags,
                         uint8_t *sig_der, size_t sig_size, size_t *sig_len)
{
    vouch_rc rc = VOUCH_OK;
    uint8_t digest[32], rs[VOUCH_SE_SIG_LEN];
    ENSURE(se && se->open && sig_der && sig_len, RC_API(VOUCH_E_ARG));
    ENSURE(sig_size >= VOUCH_AUTH_SIG_DER_MAX, RC_API(VOUCH_E_BUFFER));
    const vouch_crypto_port *port = se->cfg.port;
    ENSURE(port->p256_sig_der, RC_API(VOUCH_E_UNSUPPORTED));
    GUARD(vouch_auth_digest(port, origin, challenge, leaf_der, leaf_len, digest));
    /* the protocol signs with ECDSA P-256: an Ed25519 slot would sign the
     * digest as a message, and the server would only say "bad signature" */
    uint8_t alg = 0, pub[VOUCH_SE_P256_PUB_LEN];
    size_t pub_len = 0;
    GUARD(vouch_se_pubkey(se, slot, &alg, pub, sizeof pub, &pub_len));
    ENSURE(alg == VOUCH_SE_ALG_P256, RC_API(VOUCH_E_ARG));
    GUARD(vouch_se_sign(se, slot, digest, sizeof digest, rs, flags));
    ENSURE(port->p256_sig_der(port->ctx, rs, sig_der, sig_size, sig_len) == 0, RC_PORT);
exit:
    return rc;
}
