/*
 * Device authentication, device side (vouch/auth.h): the origin rule, the
 * message layout and digest (pinned against OpenSSL computing them on its
 * own), and the SE's signature checked by OpenSSL with the slot's public
 * key. Most cases are refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <vouch/auth.h>
#include <vouch/se.h>
#include "pki/pki.h"
#include "se/core.h"

#define RC_API(c) VOUCH_RC(VOUCH_LAYER_API, (c))

/* A signature by slot 0 over the example digest, its DER, and the key. */
typedef struct signed_ex {
    uint8_t digest[32], sig[VOUCH_AUTH_SIG_DER_MAX];
    size_t len;
    EVP_PKEY *key;
} signed_ex;

typedef struct fx {
    vouch_se_core core;
    vouch_inproc_transport inproc;
    vouch_se se;
    uint8_t pub[65];  /* slot 0, P-256 */
    uint8_t pub1[65]; /* slot 1, P-256 */
    signed_ex ex;     /* with setup_signed only */
} fx;

static int commit_ok(void *ctx, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)blob;
    (void)len;
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    vouch_se_config cfg = {0};
    size_t n = 0;
    assert_non_null(f);
    assert_int_equal(vouch_se_core_create(&f->core, vouch_port_openssl(), commit_ok, f), 0);
    assert_int_equal(vouch_transport_inproc_open(&f->inproc, &f->core), VOUCH_OK);
    cfg.transport = &vouch_transport_inproc;
    cfg.transport_ctx = &f->inproc;
    assert_int_equal(vouch_se_init(&f->se, &cfg), VOUCH_OK);
    assert_int_equal(vouch_se_keygen(&f->se, 0, VOUCH_SE_ALG_P256, f->pub, sizeof f->pub, &n,
                                     VOUCH_PLAIN),
                     VOUCH_OK);
    assert_int_equal(n, 65);
    assert_int_equal(vouch_se_keygen(&f->se, 1, VOUCH_SE_ALG_P256, f->pub1, sizeof f->pub1, &n,
                                     VOUCH_PLAIN),
                     VOUCH_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vouch_se_close(&f->se);
    vouch_transport_inproc.close(&f->inproc);
    vouch_se_core_wipe(&f->core);
    free(f);
    return 0;
}

static const uint8_t CHAL[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t LEAF[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x42};

/* SHA-256 with OpenSSL directly, not through the port */
static void sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, 32);
}

/* The P-256 public key 04|X|Y as an EVP_PKEY (OpenSSL's own decoding). */
static EVP_PKEY *p256_pub(const uint8_t pub[65])
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 65),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX *fctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *key = NULL;
    assert_non_null(fctx);
    assert_int_equal(EVP_PKEY_fromdata_init(fctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(fctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(fctx);
    return key;
}

/* 1 valid, 0 not: OpenSSL verifies sig (DER) over digest with pub */
static int ossl_verify(const uint8_t pub[65], const uint8_t digest[32], const uint8_t *sig,
                       size_t sig_len)
{
    EVP_PKEY *key = p256_pub(pub);
    EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    assert_non_null(vctx);
    assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
    int ok = EVP_PKEY_verify(vctx, sig, sig_len, digest, 32) == 1;
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_free(key);
    return ok;
}

static void test_origin_good(void **state)
{
    (void)state;
    static const char *good[] = {"http://127.0.0.1:8080", "https://ca.example.com:443",
                                 "http://[::1]:80", "https://a-b.c9.example:65535",
                                 "http://localhost:1", "https://[2001:db8::1]:8443"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(vouch_auth_origin_check(good[i]), 0);
}

static void test_origin_from_url(void **state)
{
    (void)state;
    static const char *const good[][2] = {
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
        {"HTTPS://CA.Example.com/v1", "https://ca.example.com:443"},
        {"http://localhost", "http://localhost:80"},
        {"https://[::1]:8443/x/y", "https://[::1]:8443"},
        {"https://[::1]", "https://[::1]:443"},
    };
    char out[VOUCH_AUTH_ORIGIN_MAX + 1];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(vouch_auth_origin_from_url(good[i][0], out, sizeof out), VOUCH_OK);
        assert_string_equal(out, good[i][1]);
    }
    static const char *const bad[] = {
        "ftp://host:21", "http://", "http://user@host:80", "http://host:80?q=1",
        "http://host:80#f", "http://host:80/p?q", "http://host:0", "http://host:080",
        "http://host:65536", "http://ho st:80", "http://[::1:80", "http://[::1]x:80",
        "http://host:", "host:80", "http://-host:80", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vouch_auth_origin_from_url(bad[i], out, sizeof out), VOUCH_E_ARG);
        assert_string_equal(out, "");
    }
    char small[10];
    assert_int_equal(vouch_auth_origin_from_url("http://127.0.0.1:8080", small, sizeof small),
                     VOUCH_E_BUFFER);
    assert_int_equal(vouch_auth_origin_from_url(NULL, out, sizeof out), VOUCH_E_ARG);
}

static void test_origin_bad(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "http://", "ftp://a:1", "HTTP://a:1", "http://a", "http://a:", "http://a:0",
        "http://a:65536", "http://a:080", "http://a:123456", "http://A:1", "http://a:1/",
        "http://a:1/path", "http://user@a:1", "http://a..b:1", "http://.a:1", "http://a.:1",
        "http://-a:1", "http://a-:1", "http://[]:1", "http://[::1:1", "http://[::g]:1",
        "http://a:1 ", " http://a:1", "http://a b:1", "http://a:1?x", "http://a:1#f",
        "https//a:1", "http:/a:1", "http://a:+1", "http://a:-1", "http://a_b:1",
        "http://a:1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (vouch_auth_origin_check(bad[i]) != -1)
            fail_msg("origin accepted: '%s'", bad[i]);
    }
    assert_int_equal(vouch_auth_origin_check(NULL), -1);
    /* the length limit: 255 bytes pass, 256 do not */
    char o[300] = "http://";
    size_t pre = strlen(o);
    memset(o + pre, 'a', 255 - pre - 2);
    memcpy(o + 253, ":1", 3);
    assert_int_equal(strlen(o), 255);
    assert_int_equal(vouch_auth_origin_check(o), 0);
    memset(o + pre, 'a', 256 - pre - 2);
    memcpy(o + 254, ":1", 3);
    assert_int_equal(vouch_auth_origin_check(o), -1);
}

static void test_message_layout(void **state)
{
    (void)state;
    uint8_t hash[32], msg[VOUCH_AUTH_MESSAGE_MAX], want[200];
    size_t n = 0, w = 0;
    const char *origin = "http://127.0.0.1:8080";
    sha256(LEAF, sizeof LEAF, hash);
    assert_int_equal(vouch_auth_message(origin, CHAL, hash, msg, sizeof msg, &n), VOUCH_OK);
    memcpy(want, "vouch-auth-v1", 13);
    w = 13;
    want[w++] = 0;
    memcpy(want + w, origin, strlen(origin));
    w += strlen(origin);
    want[w++] = 0;
    memcpy(want + w, CHAL, 32);
    w += 32;
    memcpy(want + w, hash, 32);
    w += 32;
    assert_int_equal(n, w);
    assert_memory_equal(msg, want, w);
    /* one byte short of the length: E_BUFFER, nothing claimed */
    assert_int_equal(vouch_auth_message(origin, CHAL, hash, msg, w - 1, &n),
                     RC_API(VOUCH_E_BUFFER));
    assert_int_equal(vouch_auth_message("http://a", CHAL, hash, msg, sizeof msg, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_message(origin, NULL, hash, msg, sizeof msg, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_message(origin, CHAL, NULL, msg, sizeof msg, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_message(origin, CHAL, hash, NULL, sizeof msg, &n),
                     RC_API(VOUCH_E_ARG));
}

/* The worked example of docs/auth-protocol.md, section 3. */
static void test_digest_vector(void **state)
{
    (void)state;
    static const uint8_t want[32] = {
        0x1e, 0x83, 0x21, 0xec, 0x74, 0x88, 0x09, 0x20, 0x20, 0x2c, 0x39, 0x80, 0x85, 0x59, 0x28, 0xa2,
        0x32, 0x9c, 0xb9, 0x95, 0x49, 0xc8, 0xe1, 0x77, 0x45, 0xf8, 0x4d, 0xa6, 0x91, 0x53, 0xc2, 0x6c};
    uint8_t got[32];
    assert_int_equal(vouch_auth_digest(NULL, "http://127.0.0.1:8080", CHAL, LEAF, sizeof LEAF, got),
                     VOUCH_OK);
    assert_memory_equal(got, want, 32);
}

static void test_digest_matches_openssl(void **state)
{
    (void)state;
    uint8_t hash[32], msg[VOUCH_AUTH_MESSAGE_MAX], want[32], got[32];
    size_t n = 0;
    const char *origin = "https://ca.example.com:443";
    sha256(LEAF, sizeof LEAF, hash);
    assert_int_equal(vouch_auth_message(origin, CHAL, hash, msg, sizeof msg, &n), VOUCH_OK);
    sha256(msg, n, want);
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, sizeof LEAF, got), VOUCH_OK);
    assert_memory_equal(got, want, 32);
    /* every input changes the digest */
    uint8_t other[32], chal2[32];
    memcpy(chal2, CHAL, 32);
    chal2[31] ^= 1;
    assert_int_equal(vouch_auth_digest(NULL, "https://ca.example.com:444", CHAL, LEAF,
                                       sizeof LEAF, other),
                     VOUCH_OK);
    assert_memory_not_equal(other, want, 32);
    assert_int_equal(vouch_auth_digest(NULL, origin, chal2, LEAF, sizeof LEAF, other), VOUCH_OK);
    assert_memory_not_equal(other, want, 32);
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, sizeof LEAF - 1, other),
                     VOUCH_OK);
    assert_memory_not_equal(other, want, 32);
    /* bad leaf lengths */
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, 0, got), RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, 65536, got),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, NULL, 10, got), RC_API(VOUCH_E_ARG));
}

static void test_sign_verifies(void **state)
{
    fx *f = *state;
    uint8_t sig[VOUCH_AUTH_SIG_DER_MAX], digest[32];
    size_t n = 0;
    const char *origin = "http://127.0.0.1:8080";
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     sig, sizeof sig, &n),
                     VOUCH_OK);
    assert_true(n >= 8 && n <= VOUCH_AUTH_SIG_DER_MAX);
    assert_int_equal(sig[0], 0x30); /* a DER SEQUENCE */
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, sizeof LEAF, digest), VOUCH_OK);
    assert_true(ossl_verify(f->pub, digest, sig, n));
}

static void test_sign_does_not_verify_elsewhere(void **state)
{
    fx *f = *state;
    uint8_t sig[VOUCH_AUTH_SIG_DER_MAX], digest[32], chal2[32];
    size_t n = 0;
    const char *origin = "http://127.0.0.1:8080";
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     sig, sizeof sig, &n),
                     VOUCH_OK);
    /* another origin (a relay), another challenge, another leaf, another key */
    assert_int_equal(vouch_auth_digest(NULL, "http://127.0.0.1:8081", CHAL, LEAF, sizeof LEAF,
                                       digest),
                     VOUCH_OK);
    assert_false(ossl_verify(f->pub, digest, sig, n));
    memcpy(chal2, CHAL, 32);
    chal2[0] ^= 0x80;
    assert_int_equal(vouch_auth_digest(NULL, origin, chal2, LEAF, sizeof LEAF, digest), VOUCH_OK);
    assert_false(ossl_verify(f->pub, digest, sig, n));
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, 4, digest), VOUCH_OK);
    assert_false(ossl_verify(f->pub, digest, sig, n));
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, sizeof LEAF, digest), VOUCH_OK);
    assert_false(ossl_verify(f->pub1, digest, sig, n));
    /* a flipped bit in the signature itself */
    sig[n - 1] ^= 1;
    assert_false(ossl_verify(f->pub, digest, sig, n));
}

static void test_sign_refusals(void **state)
{
    fx *f = *state;
    uint8_t sig[VOUCH_AUTH_SIG_DER_MAX], pub[32];
    size_t n = 0;
    const char *origin = "http://127.0.0.1:8080";
    /* a buffer that might not hold the longest DER signature */
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     sig, sizeof sig - 1, &n),
                     RC_API(VOUCH_E_BUFFER));
    assert_int_equal(vouch_auth_sign(&f->se, 0, "http://x", CHAL, LEAF, sizeof LEAF,
                                     VOUCH_PLAIN, sig, sizeof sig, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_sign(NULL, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN, sig,
                                     sizeof sig, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     NULL, sizeof sig, &n),
                     RC_API(VOUCH_E_ARG));
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, 0, VOUCH_PLAIN, sig,
                                     sizeof sig, &n),
                     RC_API(VOUCH_E_ARG));
    /* an empty slot: the chip refuses */
    assert_int_not_equal(vouch_auth_sign(&f->se, 5, origin, CHAL, LEAF, sizeof LEAF,
                                         VOUCH_PLAIN, sig, sizeof sig, &n),
                         VOUCH_OK);
    /* an Ed25519 slot is refused before it signs */
    assert_int_equal(vouch_se_keygen(&f->se, 2, VOUCH_SE_ALG_ED25519, pub, sizeof pub, &n,
                                     VOUCH_PLAIN),
                     VOUCH_OK);
    assert_int_equal(vouch_auth_sign(&f->se, 2, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     sig, sizeof sig, &n),
                     RC_API(VOUCH_E_ARG));
    /* a port without DER encoding */
    vouch_crypto_port p = *vouch_port_openssl();
    p.p256_sig_der = NULL;
    const vouch_crypto_port *saved = f->se.cfg.port;
    f->se.cfg.port = &p;
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     sig, sizeof sig, &n),
                     RC_API(VOUCH_E_UNSUPPORTED));
    f->se.cfg.port = saved;
}

/* The port's DER encoding: OpenSSL reads back the same r and s. */
static void test_port_sig_der(void **state)
{
    (void)state;
    const vouch_crypto_port *p = vouch_port_openssl();
    uint8_t rs[64], der[VOUCH_AUTH_SIG_DER_MAX];
    size_t n = 0;
    /* r with its top bit set (needs a 0x00 pad), s with leading zeros */
    memset(rs, 0, sizeof rs);
    rs[0] = 0x80;
    rs[31] = 1;
    rs[63] = 7;
    assert_int_equal(p->p256_sig_der(p->ctx, rs, der, sizeof der, &n), 0);
    static const uint8_t want_head[] = {0x30, 0x26, 0x02, 0x21, 0x00, 0x80};
    assert_memory_equal(der, want_head, sizeof want_head);
    assert_int_equal(n, 2 + 2 + 33 + 2 + 1);
    assert_int_equal(der[n - 3], 0x02);
    assert_int_equal(der[n - 2], 0x01);
    assert_int_equal(der[n - 1], 7);
    /* too small a buffer: refused */
    assert_int_equal(p->p256_sig_der(p->ctx, rs, der, n - 1, &n), -1);
}

/* ---- the server's check: vouch_pki_auth_verify --------------------------- */

static void sign_example(fx *f, signed_ex *e)
{
    const char *origin = "http://127.0.0.1:8080";
    assert_int_equal(vouch_auth_sign(&f->se, 0, origin, CHAL, LEAF, sizeof LEAF, VOUCH_PLAIN,
                                     e->sig, sizeof e->sig, &e->len),
                     VOUCH_OK);
    assert_int_equal(vouch_auth_digest(NULL, origin, CHAL, LEAF, sizeof LEAF, e->digest),
                     VOUCH_OK);
    e->key = p256_pub(f->pub);
}

/* setup, then the example signed: f->ex */
static int setup_signed(void **state)
{
    setup(state);
    fx *f = *state;
    sign_example(f, &f->ex);
    return 0;
}

static int teardown_signed(void **state)
{
    fx *f = *state;
    EVP_PKEY_free(f->ex.key);
    return teardown(state);
}

static void test_pki_verify_good(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_OK);
}

static void test_pki_verify_wrong(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    uint8_t d2[32], s2[VOUCH_AUTH_SIG_DER_MAX];
    /* another digest */
    memcpy(d2, e.digest, 32);
    d2[5] ^= 0x10;
    assert_int_equal(vouch_pki_auth_verify(e.key, d2, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
    assert_non_null(strstr(why, "does not verify"));
    /* another key */
    EVP_PKEY *k1 = p256_pub(f->pub1);
    assert_int_equal(vouch_pki_auth_verify(k1, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
    EVP_PKEY_free(k1);
    /* the last byte of s changed: still DER, does not verify */
    memcpy(s2, e.sig, e.len);
    s2[e.len - 1] ^= 1;
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, s2, e.len, why, sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
}

/* One context kept across verifications: good, bad, malformed, good again;
 * a key that is not P-256 is refused before any context is made. */
static void test_pki_verify_ctx_reuse(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t d2[32], junk[8] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01};
    assert_int_equal(vouch_pki_auth_verify_ctx(e.key, &ctx, e.digest, e.sig, e.len, why,
                                               sizeof why),
                     VOUCH_PKI_OK);
    assert_non_null(ctx);
    EVP_PKEY_CTX *first = ctx;
    memcpy(d2, e.digest, 32);
    d2[0] ^= 1;
    assert_int_equal(vouch_pki_auth_verify_ctx(e.key, &ctx, d2, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
    assert_int_equal(vouch_pki_auth_verify_ctx(e.key, &ctx, e.digest, junk, 7, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_auth_verify_ctx(e.key, &ctx, e.digest, e.sig, e.len, why,
                                               sizeof why),
                     VOUCH_PKI_OK);
    assert_ptr_equal(ctx, first);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(vouch_pki_auth_verify_ctx(e.key, NULL, e.digest, e.sig, e.len, why,
                                               sizeof why),
                     VOUCH_PKI_E_ARG);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ctx = NULL;
    assert_int_equal(vouch_pki_auth_verify_ctx(ed, &ctx, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_null(ctx);
    EVP_PKEY_free(ed);
}

/* r = 0 or s = 0, canonical DER: refused by the verification */
static void test_pki_verify_zero(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    static const uint8_t zero_r[] = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01};
    static const uint8_t zero_s[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00};
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, zero_r, sizeof zero_r, why,
                                           sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, zero_s, sizeof zero_s, why,
                                           sizeof why),
                     VOUCH_PKI_E_SIGNATURE);
}

static void test_pki_verify_not_der(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    uint8_t b[VOUCH_AUTH_SIG_DER_MAX + 8];
    /* too short, too long */
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, e.sig, 7, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
    memset(b, 0x30, sizeof b);
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, b, VOUCH_AUTH_SIG_DER_MAX + 1, why,
                                           sizeof why),
                     VOUCH_PKI_E_PARSE);
    /* cut short by one byte */
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, e.sig, e.len - 1, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
    /* a trailing byte after the SEQUENCE (when there is room for one) */
    if (e.len < VOUCH_AUTH_SIG_DER_MAX) {
        memcpy(b, e.sig, e.len);
        b[e.len] = 0;
        assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, b, e.len + 1, why, sizeof why),
                         VOUCH_PKI_E_PARSE);
        assert_non_null(strstr(why, "canonical"));
    }
    /* the same SEQUENCE with a long-form length (BER, not DER) */
    if (e.len < VOUCH_AUTH_SIG_DER_MAX) {
        b[0] = 0x30;
        b[1] = 0x81;
        b[2] = e.sig[1];
        memcpy(b + 3, e.sig + 2, e.len - 2);
        assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, b, e.len + 1, why, sizeof why),
                         VOUCH_PKI_E_PARSE);
    }
    /* an INTEGER with a needless leading zero byte */
    static const uint8_t padded[] = {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01};
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, padded, sizeof padded, why,
                                           sizeof why),
                     VOUCH_PKI_E_PARSE);
    /* the raw r|s form some libraries send instead of DER */
    uint8_t rs[64];
    memset(rs, 0x11, sizeof rs);
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, rs, sizeof rs, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
    /* garbage */
    memset(b, 0xff, 40);
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, b, 40, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
}

static void test_pki_verify_bad_key(void **state)
{
    fx *f = *state;
    signed_ex e = f->ex;
    char why[160] = "";
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(ed);
    assert_non_null(p384);
    assert_int_equal(vouch_pki_auth_verify(ed, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_non_null(strstr(why, "P-256"));
    assert_int_equal(vouch_pki_auth_verify(p384, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_auth_verify(NULL, e.digest, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_auth_verify(e.key, NULL, e.sig, e.len, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_auth_verify(e.key, e.digest, NULL, e.len, NULL, 0),
                     VOUCH_PKI_E_ARG);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(p384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_good),
        cmocka_unit_test(test_origin_bad),
        cmocka_unit_test(test_origin_from_url),
        cmocka_unit_test(test_message_layout),
        cmocka_unit_test(test_digest_vector),
        cmocka_unit_test(test_digest_matches_openssl),
        cmocka_unit_test(test_port_sig_der),
        cmocka_unit_test_setup_teardown(test_sign_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_does_not_verify_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_verify_good, setup_signed, teardown_signed),
        cmocka_unit_test_setup_teardown(test_pki_verify_ctx_reuse, setup_signed,
                                        teardown_signed),
        cmocka_unit_test_setup_teardown(test_pki_verify_wrong, setup_signed,
                                        teardown_signed),
        cmocka_unit_test_setup_teardown(test_pki_verify_zero, setup_signed,
                                        teardown_signed),
        cmocka_unit_test_setup_teardown(test_pki_verify_not_der, setup_signed,
                                        teardown_signed),
        cmocka_unit_test_setup_teardown(test_pki_verify_bad_key, setup_signed,
                                        teardown_signed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
