/*
 * A CA key in a vouch-se slot, through libvouch (the device SDK's SE
 * client): key references, key generation, and a vouch_pki signer whose
 * callback has the SE sign the digest OpenSSL computed. Everything said in
 * pki/se_key.h; here, only why.
 *
 * The SE answers a P-256 SIGN with r||s (docs/se-protocol.md, SIGN);
 * vouch_pki_signer_external wants a DER ECDSA-Sig-Value. The conversion is
 * OpenSSL's (ECDSA_SIG_set0 + i2d_ECDSA_SIG), and the pki signer verifies
 * every signature against the public key before OpenSSL uses it.
 */
#include "pki/se_key.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include <vouch/se.h>

#define PREFIX "se:unix:"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define SPEC_PREFIX "unix:"
#define SPEC_PREFIX_LEN (sizeof SPEC_PREFIX - 1)
#define PATH_LEN_MAX (VOUCH_SE_KEY_PATH_MAX - 1)
#define DIGEST_LEN 32 /* SHA-256: the only digest a P-256 slot signs */
/* The SE client's busy/CRC retries. With --timing a SIGN takes ~50 ms and
 * other connections meanwhile get E_BUSY; vouchd runs several workers, so
 * allow more waits than the default 5 (the back-off doubles from 5 ms). */
#define SE_RETRIES 9

_Static_assert(VOUCH_SE_KEY_SLOTS == VOUCH_SE_SLOTS, "se_key.h and se_proto.h disagree");

/* One connection to the SE. The transport context lives inside, so a conn
 * never moves once opened (it is part of a heap object). */
typedef struct conn {
    char path[VOUCH_SE_KEY_PATH_MAX];
    vouch_unix_transport t;
    vouch_se se;
    int open;
} conn;

struct vouch_se_key {
    conn c;
    uint8_t slot;
    char ref[VOUCH_SE_KEY_REF_MAX];
    uint8_t pub_raw[VOUCH_SE_P256_PUB_LEN];
    EVP_PKEY *pub;
    vouch_pki_signer *signer;
    int recheck; /* the connection broke: check the slot's key before signing */
    char err[256];
};

/* ---- messages ------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t n, const char *fmt,
                                                      ...)
{
    va_list ap;
    if (why == NULL || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* A printable excerpt of untrusted text for messages: control characters
 * become '?', long text is cut with "...". */
static const char *excerpt(const char *s, char out[72])
{
    size_t i = 0;
    for (; s[i] && i < 64; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i]) {
        memcpy(out + i, "...", 4);
    } else {
        out[i] = '\0';
    }
    return out;
}

/* "a P-256", "an Ed25519": for "slot 1 holds a P-256 key". */
static const char *alg_article(uint8_t alg)
{
    switch (alg) {
    case VOUCH_SE_ALG_P256: return "a P-256";
    case VOUCH_SE_ALG_ED25519: return "an Ed25519";
    case VOUCH_SE_ALG_X25519: return "an X25519";
    default: return "an unknown";
    }
}

/* ---- key references --------------------------------------------------------- */

static vouch_pki_rc check_path(const char *p, size_t len, char *why, size_t n)
{
    if (len == 0) {
        say(why, n, "no socket path");
        return VOUCH_PKI_E_PARSE;
    }
    if (p[0] != '/') {
        say(why, n, "the socket path must be absolute (start with '/')");
        return VOUCH_PKI_E_PARSE;
    }
    if (len > PATH_LEN_MAX) {
        say(why, n, "the socket path is %zu bytes; a unix socket path is at most %d", len,
            PATH_LEN_MAX);
        return VOUCH_PKI_E_PARSE;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
            say(why, n, "the socket path holds a control character");
            return VOUCH_PKI_E_PARSE;
        }
    return VOUCH_PKI_OK;
}

static vouch_pki_rc slot_ok(long v, char *why, size_t n)
{
    if (v == VOUCH_SE_SLOT_EPHEMERAL) {
        say(why, n, "slot 255 is the volatile ephemeral slot; a CA key needs a persistent "
                    "slot, 0..%u", VOUCH_SE_SLOTS - 1);
        return VOUCH_PKI_E_ARG;
    }
    if (v < 0 || v >= (long)VOUCH_SE_SLOTS) {
        say(why, n, "slot %ld does not exist: the persistent slots are 0..%u", v,
            VOUCH_SE_SLOTS - 1);
        return VOUCH_PKI_E_ARG;
    }
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_se_key_ref_parse(const char *key_ref, char *path, size_t path_size,
                                    int *slot, char *why, size_t why_size)
{
    char ex[72], sub[160];
    const char *rest, *hash, *d;
    size_t len, plen;
    long v = 0;
    vouch_pki_rc rc;

    if (key_ref == NULL || path == NULL || slot == NULL) {
        say(why, why_size, "no key reference");
        return VOUCH_PKI_E_ARG;
    }
    len = strlen(key_ref);
    if (len >= VOUCH_SE_KEY_REF_MAX) {
        say(why, why_size, "key reference '%s' is %zu bytes; at most %d",
            excerpt(key_ref, ex), len, VOUCH_SE_KEY_REF_MAX - 1);
        return VOUCH_PKI_E_PARSE;
    }
    if (strncmp(key_ref, PREFIX, PREFIX_LEN) != 0) {
        if (strncmp(key_ref, "se:", 3) == 0)
            say(why, why_size, "key reference '%s': only unix: secure elements are "
                               "supported (se:unix:/path/to/socket#SLOT)",
                excerpt(key_ref, ex));
        else
            say(why, why_size, "'%s' is not an SE key reference (se:unix:/path/to/socket#SLOT)",
                excerpt(key_ref, ex));
        return VOUCH_PKI_E_PARSE;
    }
    rest = key_ref + PREFIX_LEN;
    hash = strrchr(rest, '#');
    if (hash == NULL) {
        say(why, why_size, "key reference '%s' has no '#SLOT' at its end", excerpt(key_ref, ex));
        return VOUCH_PKI_E_PARSE;
    }
    plen = (size_t)(hash - rest);
    rc = check_path(rest, plen, sub, sizeof sub);
    if (rc != VOUCH_PKI_OK) {
        say(why, why_size, "key reference '%s': %s", excerpt(key_ref, ex), sub);
        return rc;
    }
    d = hash + 1;
    if (*d == '\0' || strlen(d) > 3 || (d[0] == '0' && d[1] != '\0')) {
        say(why, why_size, "key reference '%s': the slot after '#' must be a number 0..%u "
                           "without leading zeros", excerpt(key_ref, ex), VOUCH_SE_SLOTS - 1);
        return VOUCH_PKI_E_PARSE;
    }
    for (; *d; d++) {
        if (*d < '0' || *d > '9') {
            say(why, why_size, "key reference '%s': the slot after '#' must be a decimal "
                               "number 0..%u", excerpt(key_ref, ex), VOUCH_SE_SLOTS - 1);
            return VOUCH_PKI_E_PARSE;
        }
        v = v * 10 + (*d - '0');
    }
    if (slot_ok(v, sub, sizeof sub) != VOUCH_PKI_OK) {
        say(why, why_size, "key reference '%s': %s", excerpt(key_ref, ex), sub);
        return VOUCH_PKI_E_PARSE;
    }
    if (path_size < plen + 1) {
        say(why, why_size, "no room for the socket path");
        return VOUCH_PKI_E_ARG;
    }
    memcpy(path, rest, plen);
    path[plen] = '\0';
    *slot = (int)v;
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_se_key_ref_make(const char *se_spec, int slot, char *ref, size_t ref_size,
                                   char *why, size_t why_size)
{
    char ex[72], sub[160], abs[PATH_MAX + VOUCH_SE_KEY_PATH_MAX + 2], back[VOUCH_SE_KEY_PATH_MAX];
    const char *p;
    int k, back_slot = -1;
    vouch_pki_rc rc;

    if (se_spec == NULL || ref == NULL || ref_size == 0) {
        say(why, why_size, "no SE given");
        return VOUCH_PKI_E_ARG;
    }
    ref[0] = '\0';
    if (strncmp(se_spec, SPEC_PREFIX, SPEC_PREFIX_LEN) != 0) {
        say(why, why_size, "SE '%s' is not unix:/path/to/socket (CA keys live in a vouch-se "
                           "daemon, reached through its unix socket)", excerpt(se_spec, ex));
        return VOUCH_PKI_E_PARSE;
    }
    p = se_spec + SPEC_PREFIX_LEN;
    if (*p == '\0') {
        say(why, why_size, "SE '%s' names no socket path", excerpt(se_spec, ex));
        return VOUCH_PKI_E_PARSE;
    }
    if (strlen(p) > PATH_LEN_MAX) {
        say(why, why_size, "SE '%s': the socket path is %zu bytes; a unix socket path is at "
                           "most %d", excerpt(se_spec, ex), strlen(p), PATH_LEN_MAX);
        return VOUCH_PKI_E_PARSE;
    }
    if (p[0] == '/') {
        snprintf(abs, sizeof abs, "%s", p);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            say(why, why_size, "SE '%s': cannot make the path absolute: %s",
                excerpt(se_spec, ex), strerror(errno));
            return VOUCH_PKI_E_PARSE;
        }
        while (p[0] == '.' && p[1] == '/')
            p += 2;
        snprintf(abs, sizeof abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, p);
    }
    rc = check_path(abs, strlen(abs), sub, sizeof sub);
    if (rc != VOUCH_PKI_OK) {
        say(why, why_size, "SE '%s': %s", excerpt(se_spec, ex), sub);
        return rc;
    }
    rc = slot_ok(slot, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    k = snprintf(ref, ref_size, PREFIX "%s#%d", abs, slot);
    if (k < 0 || (size_t)k >= ref_size) {
        ref[0] = '\0';
        say(why, why_size, "the key reference for SE '%s' does not fit in %zu bytes",
            excerpt(se_spec, ex), ref_size);
        return VOUCH_PKI_E_ARG;
    }
    /* what we hand out must read back as itself */
    rc = vouch_se_key_ref_parse(ref, back, sizeof back, &back_slot, why, why_size);
    if (rc != VOUCH_PKI_OK || strcmp(back, abs) != 0 || back_slot != slot) {
        ref[0] = '\0';
        return rc != VOUCH_PKI_OK ? rc : VOUCH_PKI_E_PARSE;
    }
    return VOUCH_PKI_OK;
}

/* ---- the connection ------------------------------------------------------------ */

/* Words and a status for a libvouch failure: what (the action), then the
 * SE's reason, with advice where there is some. */
static vouch_pki_rc se_fail(vouch_rc rc, const conn *c, int slot, const char *what, char *why,
                            size_t n)
{
    unsigned layer = VOUCH_RC_LAYER(rc), code = VOUCH_RC_CODE(rc);
    const char *advice = "";
    char sl[24] = "";
    vouch_pki_rc out = VOUCH_PKI_E_SIGNER;

    if (slot >= 0)
        snprintf(sl, sizeof sl, ", slot %d", slot);
    if (layer == VOUCH_LAYER_SE) {
        out = VOUCH_PKI_E_POLICY;
        switch (code) {
        case VOUCH_SE_E_NO_KEY:
            out = VOUCH_PKI_E_NOTFOUND;
            advice = "; the slot holds no key";
            break;
        case VOUCH_SE_E_SLOT:
            advice = "; the slot holds a key of another algorithm or does not exist";
            break;
        case VOUCH_SE_E_LIFECYCLE:
            advice = "; the SE is terminated: it holds no keys any more";
            break;
        case VOUCH_SE_E_KEY_LOCKED:
            advice = "; slot 0 is the factory slot, locked once the SE is operational";
            break;
        case VOUCH_SE_E_CHANNEL:
            advice = "; the SE has host keys and is operational, so key generation needs the "
                     "host secure channel, which SE key references do not use";
            break;
        case VOUCH_SE_E_ASLEEP:
            advice = "; the SE is hibernating: wake it (vouch se wake)";
            break;
        case VOUCH_SE_E_BUSY:
            out = VOUCH_PKI_E_SIGNER;
            advice = "; the SE stayed busy with other connections' commands";
            break;
        case VOUCH_SE_E_STORAGE:
        case VOUCH_SE_E_INTERNAL:
            out = VOUCH_PKI_E_SIGNER;
            break;
        }
    } else if (layer == VOUCH_LAYER_BUS) {
        advice = code == VOUCH_E_TIMEOUT ? "; the SE did not answer in time"
                                         : "; is vouch-se running and serving that socket?";
    } else if (layer == VOUCH_LAYER_API) {
        out = VOUCH_PKI_E_ARG;
    }
    say(why, n, "%s (SE unix:%s%s): %s%s", what, c->path, sl, vouch_strerror(rc), advice);
    return out;
}

static vouch_pki_rc conn_open(conn *c, const char *path, char *why, size_t n)
{
    vouch_rc rc;
    int e;
    vouch_se_config cfg = {.transport = &vouch_transport_unix, .transport_ctx = &c->t,
                           .max_retries = SE_RETRIES};

    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    errno = 0;
    rc = vouch_transport_unix_open(&c->t, path);
    e = errno;
    if (rc != VOUCH_OK) {
        say(why, n, "cannot connect to the SE at unix:%s: %s%s%s%s; is vouch-se running with "
                    "--socket %s?", path, vouch_strerror(rc), e ? " (" : "",
            e ? strerror(e) : "", e ? ")" : "", path);
        return rc == VOUCH_RC(VOUCH_LAYER_API, VOUCH_E_ARG) ? VOUCH_PKI_E_PARSE
                                                            : VOUCH_PKI_E_SIGNER;
    }
    rc = vouch_se_init(&c->se, &cfg);
    if (rc != VOUCH_OK) {
        vouch_transport_unix.close(&c->t);
        return se_fail(rc, c, -1, "cannot start the SE client", why, n);
    }
    c->open = 1;
    return VOUCH_PKI_OK;
}

static void conn_close(conn *c)
{
    if (c->open)
        vouch_se_close(&c->se);
    c->open = 0;
}

/* A P-256 public key from the SE's 04|X|Y, checked to be on the curve. */
static EVP_PKEY *p256_public(const uint8_t *pub, size_t len)
{
    char group[] = SN_X9_62_prime256v1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, len), OSSL_PARAM_END};
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    EVP_PKEY *pk = NULL;

    if (len != VOUCH_SE_P256_PUB_LEN || pub[0] != 0x04)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto fail;
    chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (chk == NULL || EVP_PKEY_public_check(chk) != 1)
        goto fail;
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    return pk;
fail:
    ERR_clear_error();
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return NULL;
}

/* Reads the slot's public key; it must be P-256. `what` starts the message
 * of a failure. */
static vouch_pki_rc read_pub(conn *c, int slot, uint8_t pub[VOUCH_SE_P256_PUB_LEN],
                             const char *what, char *why, size_t n)
{
    uint8_t alg = 0, buf[VOUCH_SE_P256_PUB_LEN];
    size_t len = 0;
    vouch_rc rc = vouch_se_pubkey(&c->se, (uint8_t)slot, &alg, buf, sizeof buf, &len);
    if (rc != VOUCH_OK)
        return se_fail(rc, c, slot, what, why, n);
    if (alg != VOUCH_SE_ALG_P256) {
        say(why, n, "slot %d of the SE at unix:%s holds %s key; CA keys in an SE are P-256",
            slot, c->path, alg_article(alg));
        return VOUCH_PKI_E_POLICY;
    }
    if (len != VOUCH_SE_P256_PUB_LEN) {
        say(why, n, "slot %d of the SE at unix:%s returned a %zu-byte P-256 public key", slot,
            c->path, len);
        return VOUCH_PKI_E_SIGNER;
    }
    memcpy(pub, buf, sizeof buf);
    return VOUCH_PKI_OK;
}

/* ---- signing --------------------------------------------------------------------- */

/* r||s (32 + 32 bytes, big-endian) -> DER ECDSA-Sig-Value, by OpenSSL. */
static int rs_to_der(const uint8_t rs[VOUCH_SE_SIG_LEN], uint8_t *sig, size_t size,
                     size_t *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    unsigned char *p = sig;
    int n, ret = -1;

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* es owns r and s from here */
    n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > size)
        goto out;
    n = i2d_ECDSA_SIG(es, &p);
    if (n <= 0 || (size_t)n > size)
        goto out;
    *len = (size_t)n;
    ret = 0;
out:
    ECDSA_SIG_free(es);
    if (ret != 0)
        ERR_clear_error();
    return ret;
}

/* After a reconnection: is the slot's key still the one we opened? */
static vouch_pki_rc recheck(vouch_se_key *k)
{
    uint8_t pub[VOUCH_SE_P256_PUB_LEN];
    vouch_pki_rc rc = read_pub(&k->c, k->slot, pub, "cannot sign", k->err, sizeof k->err);
    if (rc != VOUCH_PKI_OK)
        return rc;
    if (CRYPTO_memcmp(pub, k->pub_raw, sizeof pub) != 0) {
        say(k->err, sizeof k->err, "slot %u of the SE at unix:%s now holds another key than "
                                   "when it was opened (another chip behind the socket, or "
                                   "the key was replaced)", k->slot, k->c.path);
        return VOUCH_PKI_E_POLICY;
    }
    k->recheck = 0;
    return VOUCH_PKI_OK;
}

static int broken_link(vouch_rc rc)
{
    return VOUCH_RC_LAYER(rc) == VOUCH_LAYER_BUS && VOUCH_RC_CODE(rc) != VOUCH_E_TIMEOUT;
}

static int se_sign_cb(void *ctx, const uint8_t *digest, size_t digest_len, uint8_t *sig,
                      size_t sig_size, size_t *sig_len)
{
    vouch_se_key *k = ctx;
    uint8_t rs[VOUCH_SE_SIG_LEN];
    vouch_rc rc = VOUCH_OK;

    if (k == NULL || digest == NULL || sig == NULL || sig_len == NULL)
        return -1;
    k->err[0] = '\0';
    *sig_len = 0;
    if (digest_len != DIGEST_LEN) {
        say(k->err, sizeof k->err, "a P-256 SE slot signs SHA-256 digests (32 bytes), not %zu "
                                   "bytes", digest_len);
        return -1;
    }
    /* At most two tries: a connection found broken (daemon restarted) is
     * reopened by the transport on the next command, and SIGN changes
     * nothing in the SE, so trying it once more is safe. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (k->recheck) {
            vouch_pki_rc prc = recheck(k);
            if (prc == VOUCH_PKI_E_SIGNER && attempt == 0)
                continue; /* reconnect once more */
            if (prc != VOUCH_PKI_OK)
                return -1;
        }
        rc = vouch_se_sign(&k->c.se, k->slot, digest, DIGEST_LEN, rs, VOUCH_PLAIN);
        if (rc == VOUCH_OK)
            break;
        if (VOUCH_RC_LAYER(rc) == VOUCH_LAYER_BUS)
            k->recheck = 1;
        if (!broken_link(rc))
            break;
    }
    if (rc != VOUCH_OK) {
        (void)se_fail(rc, &k->c, k->slot, "cannot sign", k->err, sizeof k->err);
        return -1;
    }
    if (rs_to_der(rs, sig, sig_size, sig_len) != 0) {
        say(k->err, sizeof k->err, "cannot DER-encode the SE's signature");
        return -1;
    }
    return 0;
}

/* ---- open / close -------------------------------------------------------------------- */

vouch_pki_rc vouch_se_key_open(const char *key_ref, vouch_se_key **out, char *why,
                               size_t why_size)
{
    char path[VOUCH_SE_KEY_PATH_MAX];
    int slot = -1;
    vouch_se_key *k = NULL;
    vouch_pki_rc rc;

    if (out == NULL) {
        say(why, why_size, "no place for the key");
        return VOUCH_PKI_E_ARG;
    }
    *out = NULL;
    rc = vouch_se_key_ref_parse(key_ref, path, sizeof path, &slot, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    k = OPENSSL_zalloc(sizeof *k);
    if (k == NULL) {
        say(why, why_size, "out of memory");
        return VOUCH_PKI_E_NOMEM;
    }
    k->slot = (uint8_t)slot;
    snprintf(k->ref, sizeof k->ref, "%s", key_ref);
    rc = conn_open(&k->c, path, why, why_size);
    if (rc != VOUCH_PKI_OK)
        goto fail;
    rc = read_pub(&k->c, slot, k->pub_raw, "cannot read the public key", why, why_size);
    if (rc != VOUCH_PKI_OK)
        goto fail;
    k->pub = p256_public(k->pub_raw, sizeof k->pub_raw);
    if (k->pub == NULL) {
        say(why, why_size, "slot %d of the SE at unix:%s returned a public key that is not a "
                           "P-256 point", slot, path);
        rc = VOUCH_PKI_E_CRYPTO;
        goto fail;
    }
    rc = vouch_pki_signer_external(k->pub, se_sign_cb, k, &k->signer);
    if (rc != VOUCH_PKI_OK) {
        say(why, why_size, "cannot make a signer for slot %d of the SE at unix:%s: %s", slot,
            path, vouch_pki_strerror(rc));
        goto fail;
    }
    *out = k;
    return VOUCH_PKI_OK;
fail:
    vouch_se_key_close(k);
    return rc;
}

EVP_PKEY *vouch_se_key_public(const vouch_se_key *k) { return k != NULL ? k->pub : NULL; }

const vouch_pki_signer *vouch_se_key_signer(const vouch_se_key *k)
{
    return k != NULL ? k->signer : NULL;
}

const char *vouch_se_key_ref(const vouch_se_key *k) { return k != NULL ? k->ref : ""; }

const char *vouch_se_key_last_error(const vouch_se_key *k) { return k != NULL ? k->err : ""; }

void vouch_se_key_close(vouch_se_key *k)
{
    if (k == NULL)
        return;
    vouch_pki_signer_free(k->signer);
    EVP_PKEY_free(k->pub);
    conn_close(&k->c);
    OPENSSL_clear_free(k, sizeof *k);
}

/* ---- generation ------------------------------------------------------------------------- */

vouch_pki_rc vouch_se_key_generate(const char *se_spec, int slot, char *key_ref_out,
                                   size_t key_ref_size, char *why, size_t why_size)
{
    return vouch_se_key_generate_ex(se_spec, slot, 0, key_ref_out, key_ref_size, why,
                                    why_size);
}

vouch_pki_rc vouch_se_key_generate_ex(const char *se_spec, int slot, unsigned flags,
                                      char *key_ref_out, size_t key_ref_size, char *why,
                                      size_t why_size)
{
    char ref[VOUCH_SE_KEY_REF_MAX], path[VOUCH_SE_KEY_PATH_MAX];
    uint8_t pub[VOUCH_SE_P256_PUB_LEN];
    size_t len = 0;
    int back = -1;
    conn *c = NULL;
    vouch_se_info info;
    EVP_PKEY *pk = NULL;
    vouch_rc src;
    vouch_pki_rc rc;

    if (key_ref_out != NULL && key_ref_size > 0)
        key_ref_out[0] = '\0';
    if (key_ref_out == NULL || key_ref_size == 0 ||
        (flags & ~(VOUCH_SE_KEY_REPLACE | VOUCH_SE_KEY_CHECK_ONLY)) != 0) {
        say(why, why_size, "bad arguments");
        return VOUCH_PKI_E_ARG;
    }
    rc = vouch_se_key_ref_make(se_spec, slot, ref, sizeof ref, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    if (strlen(ref) >= key_ref_size) {
        say(why, why_size, "the key reference does not fit in %zu bytes", key_ref_size);
        return VOUCH_PKI_E_ARG;
    }
    rc = vouch_se_key_ref_parse(ref, path, sizeof path, &back, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) {
        say(why, why_size, "out of memory");
        return VOUCH_PKI_E_NOMEM;
    }
    rc = conn_open(c, path, why, why_size);
    if (rc != VOUCH_PKI_OK)
        goto out;

    /* Ask first, so the usual refusals come with reasons and change nothing. */
    src = vouch_se_query(&c->se, &info);
    if (src != VOUCH_OK) {
        rc = se_fail(src, c, -1, "cannot query the SE", why, why_size);
        goto out;
    }
    rc = VOUCH_PKI_E_POLICY;
    if (info.power != VOUCH_SE_POWER_AWAKE) {
        say(why, why_size, "the SE at unix:%s is hibernating: wake it (vouch se wake)", path);
        goto out;
    }
    if (info.lifecycle == VOUCH_SE_LC_TERMINATED) {
        say(why, why_size, "the SE at unix:%s is terminated: it holds no keys and makes none",
            path);
        goto out;
    }
    if (info.lifecycle == VOUCH_SE_LC_OPERATIONAL && slot == 0) {
        say(why, why_size, "slot 0 of the SE at unix:%s is the factory slot, locked once the "
                           "SE is operational; use slot 1..%u", path, VOUCH_SE_SLOTS - 1);
        goto out;
    }
    if (info.lifecycle == VOUCH_SE_LC_OPERATIONAL && info.host_keys_set) {
        say(why, why_size, "the SE at unix:%s is operational with host keys set, so key "
                           "generation needs the host secure channel, which SE key references "
                           "do not use", path);
        goto out;
    }
    if (info.lifecycle != VOUCH_SE_LC_PERSONALIZATION &&
        info.lifecycle != VOUCH_SE_LC_OPERATIONAL) {
        say(why, why_size, "the SE at unix:%s reports an unknown lifecycle state %u", path,
            info.lifecycle);
        goto out;
    }
    for (size_t i = 0; i < info.n_keys && i < VOUCH_SE_SLOTS; i++) {
        const vouch_se_key_info *ki = &info.keys[i];
        if (ki->slot == slot && (ki->flags & VOUCH_SE_KEY_PRESENT) &&
            !(flags & VOUCH_SE_KEY_REPLACE)) {
            say(why, why_size, "slot %d of the SE at unix:%s already holds %s key; use an "
                               "empty slot (vouch se info lists them) or ask for the key to "
                               "be replaced (it is then destroyed)", slot, path,
                alg_article(ki->alg));
            goto out;
        }
    }
    if (flags & VOUCH_SE_KEY_CHECK_ONLY) {
        rc = VOUCH_PKI_OK;
        goto done;
    }
    src = vouch_se_keygen(&c->se, (uint8_t)slot, VOUCH_SE_ALG_P256, pub, sizeof pub, &len,
                          VOUCH_PLAIN);
    if (src != VOUCH_OK) {
        rc = se_fail(src, c, slot, "cannot generate a key", why, why_size);
        goto out;
    }
    pk = p256_public(pub, len);
    if (pk == NULL) {
        say(why, why_size, "slot %d of the SE at unix:%s made a public key that is not a P-256 "
                           "point", slot, path);
        rc = VOUCH_PKI_E_SIGNER;
        goto out;
    }
    rc = VOUCH_PKI_OK;
done:
    memcpy(key_ref_out, ref, strlen(ref) + 1);
out:
    EVP_PKEY_free(pk);
    if (c != NULL) {
        conn_close(c);
        OPENSSL_clear_free(c, sizeof *c);
    }
    return rc;
}
