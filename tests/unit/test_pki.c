/*
 * Unit tests of the PKI library (pki/): serials, reasons, keys at rest,
 * external signers, CA certificates, templates and every CSR rule,
 * issuance, renewal, CRLs (with a 100,000-entry timing) and OCSP.
 * Negative cases are the majority: everything that verifies is fed
 * something it must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <openssl/sha.h>
#include <openssl/ec.h>

#include "pki/pki.h"

#define NOW ((time_t)1767225600) /* 2026-01-01, fixed so runs are comparable */
#define DAY 86400
#define URL "http://127.0.0.1:8443"

/* ---- fixtures ----------------------------------------------------------- */

typedef struct {
    EVP_PKEY *root_key, *iss_key;
    vouch_pki_signer *root, *iss;
    X509 *root_cert, *iss_cert;
} ca_fx;

static ca_fx CA;
static EVP_PKEY *P256, *P384, *ED, *RSA1024, *RSA2048, *K1;

static EVP_PKEY *gen(const char *type, const char *param)
{
    EVP_PKEY *k;
    if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)atoi(param));
    else if (param != NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, type, param);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, type);
    assert_non_null(k);
    return k;
}

static void serial_n(uint8_t s[16], uint8_t n)
{
    memset(s, 0x11, 16);
    s[15] = n;
}

static int setup_all(void **state)
{
    uint8_t sn[16];
    vouch_pki_ca_params p = {.org = "Acme", .cn = "Acme Root", .serial = sn, .serial_len = 16,
                             .not_before = NOW - DAY, .not_after = NOW + 20 * 365 * DAY,
                             .path_len = 1};

    if (vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &CA.root_key) != VOUCH_PKI_OK ||
        vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &CA.iss_key) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(CA.root_key, &CA.root) != VOUCH_PKI_OK ||
        vouch_pki_signer_from_key(CA.iss_key, &CA.iss) != VOUCH_PKI_OK)
        return -1;
    serial_n(sn, 1);
    if (vouch_pki_ca_root(&p, CA.root, &CA.root_cert) != VOUCH_PKI_OK)
        return -1;
    serial_n(sn, 2);
    p.cn = "Acme Issuing CA";
    p.path_len = 0;
    p.not_after = NOW + 10 * 365 * DAY;
    p.public_url = URL;
    p.parent_name = "root";
    if (vouch_pki_ca_sub(&p, CA.iss_key, CA.root_cert, CA.root, &CA.iss_cert) != VOUCH_PKI_OK)
        return -1;
    P256 = gen("EC", "P-256");
    P384 = gen("EC", "P-384");
    ED = gen("ED25519", NULL);
    RSA1024 = gen("RSA", "1024");
    RSA2048 = gen("RSA", "2048");
    K1 = gen("EC", "secp256k1");
    return 0;
}

static int teardown_all(void **state)
{
    X509_free(CA.root_cert);
    X509_free(CA.iss_cert);
    vouch_pki_signer_free(CA.root);
    vouch_pki_signer_free(CA.iss);
    vouch_pki_key_free(CA.root_key);
    vouch_pki_key_free(CA.iss_key);
    EVP_PKEY_free(P256);
    EVP_PKEY_free(P384);
    EVP_PKEY_free(ED);
    EVP_PKEY_free(RSA1024);
    EVP_PKEY_free(RSA2048);
    EVP_PKEY_free(K1);
    return 0;
}

/* A CSR: subject "CN=cn" plus extra "K=V" pairs ("/"-separated), SAN from
 * an openssl-style list ("DNS:a,IP:1.2.3.4") or NULL. */
static X509_REQ *csr_make(EVP_PKEY *key, const char *subject, const char *san)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    char buf[512], *tok, *save = NULL;

    assert_non_null(r);
    assert_non_null(n);
    snprintf(buf, sizeof buf, "%s", subject);
    for (tok = strtok_r(buf, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        /* UTF8String as is (no length table), so over-long values can be
         * tested; C must be a PrintableString */
        assert_int_equal(X509_NAME_add_entry_by_txt(n, tok,
                                                    strcmp(tok, "C") == 0 ? MBSTRING_ASC
                                                                          : V_ASN1_UTF8STRING,
                                                    (unsigned char *)eq + 1, -1, -1, 0), 1);
    }
    assert_int_equal(X509_REQ_set_subject_name(r, n), 1);
    X509_NAME_free(n);
    assert_int_equal(X509_REQ_set_pubkey(r, key), 1);
    if (san != NULL) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509V3_CTX ctx;
        X509_EXTENSION *e;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, NULL, NULL, r, NULL, 0);
        e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
        assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    assert_true(X509_REQ_sign(r, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519
                                           ? NULL : EVP_sha256()) > 0);
    return r;
}

/* vouch_pki_csr_check on r's DER read by vouch_pki_csr_read (vouchd's
 * form; for EC keys its own decoding, pki/csr.c); rc, and why into why */
static vouch_pki_rc check_read(const vouch_pki_template *t, X509_REQ *r, char *why, size_t n)
{
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(r, &der);
    vouch_pki_csr *c = NULL;
    assert_true(len > 0);
    assert_int_equal(vouch_pki_csr_read(der, (size_t)len, &c), VOUCH_PKI_OK);
    vouch_pki_rc rc = vouch_pki_csr_check(t, c, why, n);
    vouch_pki_csr_free(c);
    OPENSSL_free(der);
    return rc;
}

/* Checks r (freed) against a built-in template in both forms, the
 * X509_REQ and vouch_pki_csr_read's: they must agree, word for word. */
static vouch_pki_rc check(const char *tpl_name, X509_REQ *r, char *why, size_t n)
{
    vouch_pki_template t;
    vouch_pki_rc rc, rc2;
    char why2[256] = "";
    assert_int_equal(vouch_pki_template_builtin(tpl_name, &t), VOUCH_PKI_OK);
    rc = vouch_pki_check_csr(&t, r, why, n);
    rc2 = check_read(&t, r, why2, sizeof why2);
    if (rc != rc2 || (rc != VOUCH_PKI_OK && strcmp(why, why2) != 0))
        fail_msg("X509_REQ form: rc %d \"%s\"; read form: rc %d \"%s\"", rc, why, rc2, why2);
    X509_REQ_free(r);
    return rc;
}

/* ---- serials and reasons ------------------------------------------------------ */

static void test_serial_hex(void **state)
{
    uint8_t s[16], back[20];
    size_t n;
    char hex[VOUCH_PKI_SERIAL_HEX_MAX];
    int i;

    for (i = 0; i < 200; i++) {
        assert_int_equal(vouch_pki_serial_random(s), VOUCH_PKI_OK);
        assert_int_equal(s[0] & 0x80, 0);
        assert_int_not_equal(s[0], 0);
        assert_int_equal(vouch_pki_serial_to_hex(s, 16, hex, sizeof hex), VOUCH_PKI_OK);
        assert_int_equal(strlen(hex), 32);
        assert_int_equal(vouch_pki_serial_from_hex(hex, back, sizeof back, &n), VOUCH_PKI_OK);
        assert_int_equal(n, 16);
        assert_memory_equal(s, back, 16);
    }
    {
        const uint8_t z[] = {0x00, 0x0a, 0xbc};
        assert_int_equal(vouch_pki_serial_to_hex(z, 3, hex, sizeof hex), VOUCH_PKI_OK);
        assert_string_equal(hex, "0ABC");
        assert_int_equal(vouch_pki_serial_to_hex(z, 1, hex, sizeof hex), VOUCH_PKI_OK);
        assert_string_equal(hex, "00");
        assert_int_equal(vouch_pki_serial_to_hex(z, 3, hex, 4), VOUCH_PKI_E_ARG);
    }
    /* spellings: lower case, colons, odd length, leading zeros */
    assert_int_equal(vouch_pki_serial_from_hex("0a:bc", back, sizeof back, &n), VOUCH_PKI_OK);
    assert_int_equal(n, 2);
    assert_int_equal(back[0], 0x0a);
    assert_int_equal(vouch_pki_serial_from_hex("abc", back, sizeof back, &n), VOUCH_PKI_OK);
    assert_int_equal(n, 2);
    assert_int_equal(back[1], 0xbc);
    assert_int_equal(vouch_pki_serial_from_hex("0000ABC", back, sizeof back, &n), VOUCH_PKI_OK);
    assert_int_equal(n, 2);
    assert_int_equal(vouch_pki_serial_from_hex("0", back, sizeof back, &n), VOUCH_PKI_OK);
    assert_int_equal(n, 1);
    assert_int_equal(back[0], 0);
    /* refusals */
    assert_int_equal(vouch_pki_serial_from_hex("", back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex(":", back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex("0x12", back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex("12 34", back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex("-1", back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex(
                         "0102030405060708090A0B0C0D0E0F101112131415", back, sizeof back, &n),
                     VOUCH_PKI_E_PARSE);
    {
        char big[400];
        memset(big, 'A', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(vouch_pki_serial_from_hex(big, back, sizeof back, &n), VOUCH_PKI_E_PARSE);
    }
    assert_int_equal(vouch_pki_serial_from_hex("1234", back, 1, &n), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_serial_from_hex(NULL, back, 1, &n), VOUCH_PKI_E_ARG);
}

static void test_reasons(void **state)
{
    static const char *const good[][2] = {
        {"keyCompromise", "1"}, {"key-compromise", "1"}, {"KEY_COMPROMISE", "1"},
        {"cACompromise", "2"}, {"ca-compromise", "2"}, {"affiliationChanged", "3"},
        {"affiliation-changed", "3"}, {"superseded", "4"}, {"cessationOfOperation", "5"},
        {"cessation-of-operation", "5"}, {"certificateHold", "6"}, {"certificate-hold", "6"},
        {"removeFromCRL", "8"}, {"remove-from-crl", "8"}, {"privilegeWithdrawn", "9"},
        {"privilege-withdrawn", "9"}, {"aACompromise", "10"}, {"aa-compromise", "10"},
        {"unspecified", "0"},
    };
    static const char *const bad[] = {"", "-", "key--compromise", "-keyCompromise",
                                      "keyCompromise-", "key compromise", "7", "1",
                                      "compromise", "keyCompromised", "unused",
                                      "keyCompromisekeyCompromisekeyCompromise"};
    size_t i;
    int code;

    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        code = -1;
        assert_int_equal(vouch_pki_reason_parse(good[i][0], &code), VOUCH_PKI_OK);
        assert_int_equal(code, atoi(good[i][1]));
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vouch_pki_reason_parse(bad[i], &code), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_reason_parse(NULL, &code), VOUCH_PKI_E_ARG);
    assert_string_equal(vouch_pki_reason_name(1), "keyCompromise");
    assert_string_equal(vouch_pki_reason_kebab(1), "key-compromise");
    assert_string_equal(vouch_pki_reason_name(10), "aACompromise");
    assert_null(vouch_pki_reason_name(7));
    assert_null(vouch_pki_reason_name(11));
    assert_null(vouch_pki_reason_kebab(-1));
    /* every name prints and parses back in both styles */
    for (code = 0; code <= 10; code++) {
        int back = -1;
        if (code == 7)
            continue;
        assert_int_equal(vouch_pki_reason_parse(vouch_pki_reason_name(code), &back), VOUCH_PKI_OK);
        assert_int_equal(back, code);
        assert_int_equal(vouch_pki_reason_parse(vouch_pki_reason_kebab(code), &back), VOUCH_PKI_OK);
        assert_int_equal(back, code);
    }
    assert_non_null(vouch_pki_strerror(VOUCH_PKI_E_POLICY));
    assert_non_null(vouch_pki_strerror((vouch_pki_rc)999));
}

/* ---- keys at rest --------------------------------------------------------------- */

static void test_key_encrypt(void **state)
{
    static const uint8_t pass[] = {0x00, 1, 2, 3, 0xff, 'p', 'a', 's', 's'}; /* binary */
    static const vouch_pki_key_alg algs[] = {VOUCH_PKI_KEY_EC_P256, VOUCH_PKI_KEY_EC_P384,
                                             VOUCH_PKI_KEY_ED25519};
    size_t i;

    for (i = 0; i < 3; i++) {
        EVP_PKEY *k = NULL, *back = NULL;
        char *pem = NULL;
        size_t len = 0;
        assert_int_equal(vouch_pki_key_generate(algs[i], &k), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_key_encrypt(k, pass, sizeof pass, &pem, &len), VOUCH_PKI_OK);
        assert_non_null(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
        assert_int_equal(strlen(pem), len);
        assert_int_equal(vouch_pki_key_decrypt(pem, len, pass, sizeof pass, &back), VOUCH_PKI_OK);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        vouch_pki_key_free(back);
        /* wrong passphrase: one byte off, one byte shorter */
        assert_int_equal(vouch_pki_key_decrypt(pem, len, (const uint8_t *)"pass", 4, &back),
                         VOUCH_PKI_E_DECRYPT);
        assert_null(back);
        assert_int_equal(vouch_pki_key_decrypt(pem, len, pass, sizeof pass - 1, &back),
                         VOUCH_PKI_E_DECRYPT);
        /* Truncated ciphertext: the last base64 line removed. PKCS#8
         * encryption (PBES2, AES-CBC) is not authenticated, so a changed
         * byte may decrypt into the same or another key; a shortened one
         * cannot parse at all. A wrong key that does decrypt is stopped at
         * issuance, which checks the key against the issuer certificate. */
        {
            char *end = strstr(pem, "-----END");
            char *line = end - 1;
            assert_non_null(end);
            while (line > pem && line[-1] != '\n')
                line--;
            memmove(line, end, strlen(end) + 1);
            assert_int_equal(vouch_pki_key_decrypt(pem, strlen(pem), pass, sizeof pass, &back),
                             VOUCH_PKI_E_DECRYPT);
            assert_null(back);
        }
        vouch_pki_free_secret(pem, len);
        vouch_pki_key_free(k);
    }
    {
        /* a plaintext key is refused even with the right passphrase */
        BIO *b = BIO_new(BIO_s_mem());
        char *data;
        long n;
        EVP_PKEY *back = NULL;
        assert_int_equal(PEM_write_bio_PrivateKey(b, P256, NULL, NULL, 0, NULL, NULL), 1);
        n = BIO_get_mem_data(b, &data);
        assert_int_equal(vouch_pki_key_decrypt(data, (size_t)n, pass, sizeof pass, &back),
                         VOUCH_PKI_E_DECRYPT);
        BIO_free(b);
        static const char junk[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n";
        assert_int_equal(vouch_pki_key_decrypt(junk, sizeof junk - 1, pass, sizeof pass, &back),
                         VOUCH_PKI_E_DECRYPT);
        assert_int_equal(vouch_pki_key_decrypt("x", 1, pass, 0, &back), VOUCH_PKI_E_ARG);
        assert_int_equal(vouch_pki_key_encrypt(P256, pass, 0, &data, (size_t *)&n), VOUCH_PKI_E_ARG);
    }
    {
        vouch_pki_key_alg a;
        assert_int_equal(vouch_pki_key_alg_parse("ec-p384", &a), VOUCH_PKI_OK);
        assert_int_equal(a, VOUCH_PKI_KEY_EC_P384);
        assert_int_equal(vouch_pki_key_alg_parse("rsa", &a), VOUCH_PKI_E_PARSE);
    }
}

/* ---- external signer -------------------------------------------------------------- */

typedef struct {
    EVP_PKEY *key; /* what the "secure element" signs with */
    int calls;
    int fail;
    int garbage;
} ext_ctx;

static int ext_cb(void *ctx, const uint8_t *digest, size_t digest_len, uint8_t *sig,
                  size_t sig_size, size_t *sig_len)
{
    ext_ctx *e = ctx;
    EVP_PKEY_CTX *pc;
    int ok;

    e->calls++;
    if (e->fail)
        return -1;
    if (e->garbage) {
        memset(sig, 0x30, 8);
        *sig_len = 8;
        return 0;
    }
    /* sign the digest as given: the raw ECDSA primitive, no hashing */
    pc = EVP_PKEY_CTX_new(e->key, NULL);
    *sig_len = sig_size;
    ok = pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
         EVP_PKEY_sign(pc, sig, sig_len, digest, digest_len) == 1;
    EVP_PKEY_CTX_free(pc);
    return ok ? 0 : -1;
}

static void test_external_signer(void **state)
{
    vouch_pki_key_alg algs[] = {VOUCH_PKI_KEY_EC_P256, VOUCH_PKI_KEY_EC_P384};
    size_t i;

    for (i = 0; i < 2; i++) {
        ext_ctx e = {0};
        EVP_PKEY *pub = NULL, *other = NULL;
        vouch_pki_signer *s = NULL;
        X509 *root = NULL, *bad = NULL;
        uint8_t sn[16];
        unsigned char *der = NULL;
        int len;
        vouch_pki_ca_params p = {.org = "Acme", .cn = "SE Root", .serial = sn, .serial_len = 16,
                                 .not_before = NOW, .not_after = NOW + DAY, .path_len = -1};

        serial_n(sn, 9);
        assert_int_equal(vouch_pki_key_generate(algs[i], &e.key), VOUCH_PKI_OK);
        /* the signer only ever sees the public half */
        len = i2d_PUBKEY(e.key, &der);
        assert_true(len > 0);
        {
            const unsigned char *q = der;
            pub = d2i_PUBKEY(NULL, &q, len);
        }
        OPENSSL_free(der);
        assert_int_equal(vouch_pki_signer_external(pub, ext_cb, &e, &s), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_ca_root(&p, s, &root), VOUCH_PKI_OK);
        assert_int_equal(e.calls, 1);
        assert_int_equal(X509_verify(root, pub), 1);
        assert_int_equal(X509_get_signature_nid(root),
                         i == 0 ? NID_ecdsa_with_SHA256 : NID_ecdsa_with_SHA384);
        /* a CRL and an OCSP response through the same signer */
        {
            X509_CRL *crl = NULL;
            vouch_pki_revoked r = {.serial = {1}, .serial_len = 1, .revoked_at = NOW, .reason = 1};
            assert_int_equal(vouch_pki_crl_build(root, s, &r, 1, 1, NOW, NOW + DAY, &crl),
                             VOUCH_PKI_OK);
            assert_int_equal(X509_CRL_verify(crl, pub), 1);
            X509_CRL_free(crl);
        }
        /* failing signer, lying signer (signs with another key), garbage */
        e.fail = 1;
        assert_int_equal(vouch_pki_ca_root(&p, s, &bad), VOUCH_PKI_E_SIGNER);
        assert_null(bad);
        e.fail = 0;
        e.garbage = 1;
        assert_int_equal(vouch_pki_ca_root(&p, s, &bad), VOUCH_PKI_E_SIGNER);
        e.garbage = 0;
        assert_int_equal(vouch_pki_key_generate(algs[i], &other), VOUCH_PKI_OK);
        EVP_PKEY_free(e.key);
        e.key = other;
        assert_int_equal(vouch_pki_ca_root(&p, s, &bad), VOUCH_PKI_E_SIGNER);
        assert_null(bad);
        X509_free(root);
        vouch_pki_signer_free(s);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(e.key);
    }
    {
        vouch_pki_signer *s = NULL;
        ext_ctx e = {0};
        /* Ed25519 and RSA cannot be external (no digest to hand over) */
        assert_int_equal(vouch_pki_signer_external(ED, ext_cb, &e, &s), VOUCH_PKI_E_ARG);
        assert_int_equal(vouch_pki_signer_external(RSA2048, ext_cb, &e, &s), VOUCH_PKI_E_ARG);
        assert_int_equal(vouch_pki_signer_external(K1, ext_cb, &e, &s), VOUCH_PKI_E_ARG);
        assert_int_equal(vouch_pki_signer_from_key(RSA2048, &s), VOUCH_PKI_E_ARG);
        assert_null(s);
    }
}

/* ---- CA certificates --------------------------------------------------------------- */

static int chain_ok(X509 *leaf, X509_CRL *crl)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int ok;

    X509_STORE_add_cert(st, CA.root_cert);
    sk_X509_push(untrusted, CA.iss_cert);
    if (crl != NULL) {
        X509_STORE_add_crl(st, crl);
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    }
    X509_STORE_CTX_init(ctx, st, leaf, untrusted);
    X509_STORE_CTX_set_time(ctx, 0, NOW);
    ok = X509_verify_cert(ctx);
    if (ok != 1)
        fprintf(stderr, "# verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_free(untrusted);
    return ok;
}

static void test_ca(void **state)
{
    BASIC_CONSTRAINTS *bc;
    X509 *fam = NULL, *bad = NULL;
    EVP_PKEY *fk = NULL;
    uint8_t sn[16];
    vouch_pki_ca_params p = {.org = "Acme", .cn = "Family pumps", .serial = sn, .serial_len = 16,
                             .not_before = NOW, .not_after = NOW + 365 * DAY, .path_len = 0,
                             .public_url = URL, .parent_name = "root"};

    assert_int_equal(X509_check_ca(CA.root_cert), 1);
    assert_int_equal(X509_check_issued(CA.root_cert, CA.root_cert), X509_V_OK);
    assert_int_equal(X509_check_issued(CA.root_cert, CA.iss_cert), X509_V_OK);
    assert_int_equal(X509_get_key_usage(CA.root_cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    bc = X509_get_ext_d2i(CA.iss_cert, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    assert_non_null(X509_get0_subject_key_id(CA.iss_cert));
    assert_non_null(X509_get0_authority_key_id(CA.iss_cert));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(CA.iss_cert),
                                           X509_get0_subject_key_id(CA.root_cert)), 0);
    /* a family CA beside the issuing CA */
    serial_n(sn, 3);
    assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P384, &fk), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &fam), VOUCH_PKI_OK);
    assert_int_equal(X509_check_issued(CA.root_cert, fam), X509_V_OK);
    X509_free(fam);
    /* refusals: beyond the parent, wrong parent key, empty names, bad serial */
    p.not_after = NOW + 30 * 365 * DAY;
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &bad), VOUCH_PKI_E_POLICY);
    p.not_after = NOW + DAY;
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.iss, &bad), VOUCH_PKI_E_ARG);
    p.cn = "";
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &bad), VOUCH_PKI_E_ARG);
    p.cn = "x";
    sn[0] = 0x80;
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &bad), VOUCH_PKI_E_ARG);
    sn[0] = 0x11;
    p.parent_name = "../x";
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &bad), VOUCH_PKI_E_ARG);
    p.parent_name = "root";
    p.public_url = "ftp://x";
    assert_int_equal(vouch_pki_ca_sub(&p, fk, CA.root_cert, CA.root, &bad), VOUCH_PKI_E_ARG);
    p.public_url = NULL;
    p.not_after = p.not_before;
    assert_int_equal(vouch_pki_ca_root(&p, CA.root, &bad), VOUCH_PKI_E_ARG);
    assert_null(bad);
    /* an Ed25519 root works too */
    {
        EVP_PKEY *ek = NULL;
        vouch_pki_signer *es = NULL;
        X509 *er = NULL;
        p.not_after = NOW + DAY;
        assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_ED25519, &ek), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_signer_from_key(ek, &es), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_ca_root(&p, es, &er), VOUCH_PKI_OK);
        assert_int_equal(X509_verify(er, ek), 1);
        X509_free(er);
        vouch_pki_signer_free(es);
        vouch_pki_key_free(ek);
    }
    vouch_pki_key_free(fk);
}

/* ---- templates ------------------------------------------------------------------------ */

static void test_template_builtins_json(void **state)
{
    size_t n, i;
    const char *const *names = vouch_pki_template_builtin_names(&n);

    assert_int_equal(n, 7);
    for (i = 0; i < n; i++) {
        vouch_pki_template t, back;
        char *json = NULL, why[256] = "";
        assert_int_equal(vouch_pki_template_builtin(names[i], &t), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_template_validate(&t, why, sizeof why), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_template_to_json(&t, &json), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_template_from_json(json, strlen(json), &back, why, sizeof why),
                         VOUCH_PKI_OK);
        assert_memory_equal(&t, &back, sizeof t);
        free(json);
    }
    {
        vouch_pki_template t;
        assert_int_equal(vouch_pki_template_builtin("nope", &t), VOUCH_PKI_E_NOTFOUND);
    }
    {
        /* a new template: defaults plus what is given */
        static const char js[] =
            "{\"name\":\"meter\",\"validity_days\":30,\"key_types\":[\"ec-p256\"],"
            "\"ext_key_usage\":[\"clientAuth\"],"
            "\"subject\":{\"required\":[\"CN\"],\"allowed\":[\"CN\",\"O\"],\"cn_pattern\":\"m-[0-9]+\"},"
            "\"san\":{\"allowed\":[\"uri\"],\"max\":1,\"pattern\":\"urn:meter:[0-9]+\"}}";
        vouch_pki_template t;
        char why[256];
        X509_REQ *r;
        assert_int_equal(vouch_pki_template_from_json(js, strlen(js), &t, why, sizeof why),
                         VOUCH_PKI_OK);
        assert_string_equal(t.name, "meter");
        assert_int_equal(t.validity_days, 30);
        assert_int_equal(t.key_types, VOUCH_PKI_KT_EC_P256);
        r = csr_make(P256, "CN=m-12", "URI:urn:meter:12");
        assert_int_equal(vouch_pki_check_csr(&t, r, why, sizeof why), VOUCH_PKI_OK);
        X509_REQ_free(r);
        r = csr_make(P256, "CN=m-12", "URI:urn:meter:x");
        assert_int_equal(vouch_pki_check_csr(&t, r, why, sizeof why), VOUCH_PKI_E_POLICY);
        assert_non_null(strstr(why, "does not match"));
        X509_REQ_free(r);
        r = csr_make(P256, "CN=m-12x", NULL);
        assert_int_equal(vouch_pki_check_csr(&t, r, why, sizeof why), VOUCH_PKI_E_POLICY);
        X509_REQ_free(r);
    }
}

/* Patterns within the repetition bound still load and match as POSIX says;
 * one that would blow up regcomp is refused even when a caller builds the
 * template by hand and skips from_json. */
static void test_template_patterns_bounded(void **state)
{
    static const struct {
        const char *pat, *yes, *no;
    } ok[] = {
        {"[a-z]{1,255}", "abc", "ab1"},
        {"[]a]{2}", "]a", "a"},
        {"[^]a]{1,64}", "xyz", "x]"},
        {"x{2,}", "xxxx", "x"},
        {"(ab|cd){0,16}e{0,150}", "abcdeee", "abce"},
        {"[[:alnum:]._-]{1,64}\\.[0-9]{4}", "dev_1.2026", "dev_1.26"},
        {"((a{1,3}){1,3}){1,3}", "aaaaaaaa", "b"},
        {"(ab*){1,16}(cd*){1,16}", "abbcd", "abd"},
        {"([a-z0-9-]{1,63}\\.)+example\\.com", "a.b-2.example.com", "example.com"},
        {"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+corp", "h1.d-2.corp", "h1.-d.corp"},
        {"[a-z0-9.-]{1,253}\\.example\\.org", "x.example.org", "example.org"},
        {"[()|]{2}x", "(|x", "((y"},
        {"(a|(b)){1,3}", "aba", "abab"},
        {"a{,3}", "aaa", "aaaa"},
        {"[]()]{1,4}", "])(", "a"},
        {"([0-9]{1,3}\\.){3}[0-9]{1,3}", "10.0.0.1", "10.0.0"},
        {"[a-z0-9]([a-z0-9-]{0,62})(\\.[a-z0-9]([a-z0-9-]{0,62}))*", "a.b-c.d", "a..b"},
        {"(^a|b$)|c+", "ccc", "ab"},
        {"[a-z]{200}[0-9]{55}x?", NULL, NULL}, /* at the size bound: loads */
        {"a\\{b\\}", "a{b}", "ab"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        vouch_pki_template t;
        char why[256] = "", subj[96];
        assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
        snprintf(t.cn_pattern, sizeof t.cn_pattern, "%s", ok[i].pat);
        if (vouch_pki_template_validate(&t, why, sizeof why) != VOUCH_PKI_OK)
            fail_msg("pattern %s refused: %s", ok[i].pat, why);
        if (ok[i].yes == NULL)
            continue;
        snprintf(subj, sizeof subj, "CN=%s", ok[i].yes);
        X509_REQ *r = csr_make(P256, subj, NULL);
        if (vouch_pki_check_csr(&t, r, why, sizeof why) != VOUCH_PKI_OK)
            fail_msg("pattern %s refused CN %s: %s", ok[i].pat, ok[i].yes, why);
        X509_REQ_free(r);
        snprintf(subj, sizeof subj, "CN=%s", ok[i].no);
        r = csr_make(P256, subj, NULL);
        if (vouch_pki_check_csr(&t, r, why, sizeof why) != VOUCH_PKI_E_POLICY)
            fail_msg("pattern %s accepted CN %s", ok[i].pat, ok[i].no);
        X509_REQ_free(r);
    }
    {
        vouch_pki_template t;
        char why[256] = "";
        assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
        snprintf(t.cn_pattern, sizeof t.cn_pattern, "%s", "((((a*){0,25}){0,25}){0,25}){0,25}");
        X509_REQ *r = csr_make(P256, "CN=a", NULL);
        assert_int_equal(vouch_pki_check_csr(&t, r, why, sizeof why), VOUCH_PKI_E_POLICY);
        assert_non_null(strstr(why, "can match the empty string"));
        X509_REQ_free(r);
    }
}

static void test_template_json_errors(void **state)
{
    static const struct {
        const char *json;
        const char *why;
    } cases[] = {
        {"", "line"},
        {"{", "line"},
        {"[]", "must be an object"},
        {"{}", "needs a \"name\""},
        {"{\"name\":7}", "name must be a string"},
        {"{\"name\":\"\"}", "template name"},
        {"{\"name\":\"a/b\"}", "template name"},
        {"{\"name\":\"x\",\"name\":\"y\"}", "duplicate"},
        {"{\"name\":\"device\",\"colour\":1}", "unknown member \"colour\""},
        {"{\"name\":\"device\",\"validity_days\":\"1\"}", "validity_days must be an integer"},
        {"{\"name\":\"device\",\"validity_days\":0}", "validity_days must be 1..36500"},
        {"{\"name\":\"device\",\"validity_days\":-5}", "validity_days must be an integer"},
        {"{\"name\":\"device\",\"validity_days\":99999}", "validity_days must be an integer"},
        {"{\"name\":\"device\",\"key_usage\":\"digitalSignature\"}", "must be an array"},
        {"{\"name\":\"device\",\"key_usage\":[\"signing\"]}", "unknown value \"signing\""},
        {"{\"name\":\"device\",\"key_usage\":[]}", "key_usage must name"},
        {"{\"name\":\"device\",\"key_usage\":[1]}", "key_usage[0] must be a string"},
        {"{\"name\":\"device\",\"ext_key_usage\":[\"anyUsage\"]}", "unknown value"},
        {"{\"name\":\"device\",\"key_types\":[\"rsa-1024\"]}", "unknown value \"rsa-1024\""},
        {"{\"name\":\"device\",\"key_types\":[]}", "key_types must name"},
        {"{\"name\":\"device\",\"key_types\":[\"rsa\"],\"rsa_min_bits\":1024}", "rsa_min_bits must be 2048"},
        {"{\"name\":\"device\",\"ca\":1}", "ca must be true or false"},
        {"{\"name\":\"device\",\"path_len\":0}", "path_len must be -1"},
        {"{\"name\":\"device\",\"path_len\":9}", "path_len must be an integer"},
        {"{\"name\":\"device\",\"ca\":true}", "needs keyCertSign"},
        {"{\"name\":\"device\",\"key_usage\":[\"keyCertSign\"]}", "need ca=true"},
        {"{\"name\":\"device\",\"subject\":[]}", "subject must be an object"},
        {"{\"name\":\"device\",\"subject\":{\"need\":[]}}", "unknown member \"need\" in subject"},
        {"{\"name\":\"device\",\"subject\":{\"required\":[\"C\"]}}", "subset"},
        {"{\"name\":\"device\",\"subject\":{\"allowed\":[\"DC\"]}}", "unknown value \"DC\""},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"x{2,1}\"}}", "cn_pattern is not a valid"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(\"}}", "cn_pattern has an unbalanced '('"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"x)|(.*\"}}", "cn_pattern has an unbalanced ')'"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"((a{1,25}){1,25}){1,25}\"}}",
         "cn_pattern counts something that already repeats too many times"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"((a{0,25}){0,25}){0,25}\"}}",
         "cn_pattern counts something that can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(((((()+)+)+)+)+)\"}}", "can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(()){0,250}\"}}", "can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(|a){2}\"}}", "can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a|b?){2}\"}}", "can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a*){0,64}\"}}", "can match the empty string"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"a*+\"}}", "two repetition operators in a row"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(ab){0,2}{2,}\"}}", "two repetition operators in a row"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a{1,}b{1,}c{1,}){1,4}(d{1,}e{1,}f{1,}){1,4}(g{1,}h{1,}i{1,}){1,4}(j{1,}k{1,}l{1,}){1,4}(m{1,}n{1,}o{1,}){1,4}(p{1,}q{1,}r{1,}){1,4}\"}}",
         "too many '*', '+' or '?' loops"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"Z{2}?\"}}", "two repetition operators in a row"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"[a-z]{0,64}[0-9]{0,64}(x{64}){64}\"}}",
         "already repeats too many times"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(ab?){1,33}\"}}", "already repeats too many times"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"[a-z]{250}[0-9]{51}\"}}",
         "cn_pattern is too large once its counts are expanded"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a(b(c{100}d{100})e{100}))\"}}",
         "too large once its counts are expanded"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()){0,250}\"}}",
         "is too large once its counts are expanded"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a(||||||||||||||||||||||||||||||||||||||||||||)){0,250}\"}}",
         "is too large once its counts are expanded"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(ab*){1,16}(cd*){1,16}(ef*){1,16}(gh*){1,16}e*\"}}",
         "cn_pattern has too many '*', '+' or '?' loops"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"a{1001}\"}}", "repetition count over 1000"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"a{1,99999999999999999999}\"}}",
         "repetition count over 1000"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"a{3\"}}", "malformed {m,n}"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"(a)\\\\1\"}}", "uses a back-reference"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"a\\\\\"}}", "ends in a lone backslash"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"[[:alpha:]\"}}", "unterminated bracket expression"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"[[:alpha\"}}", "unterminated bracket class"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":\"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))\"}}",
         "nests groups too deeply"},
        {"{\"name\":\"device\",\"subject\":{\"cn_pattern\":5}}", "cn_pattern must be a string"},
        {"{\"name\":\"device\",\"san\":{\"allowed\":[\"rid\"]}}", "unknown value \"rid\""},
        {"{\"name\":\"device\",\"san\":{\"max\":0}}", "san.max must be 1..1000"},
        {"{\"name\":\"device\",\"san\":{\"max\":5000}}", "san.max must be an integer"},
        {"{\"name\":\"device\",\"san\":{\"pattern\":\"[[:nope:]]\"}}", "san.pattern is not a valid"},
        {"{\"name\":\"device\",\"san\":{\"pattern\":\"[\"}}", "san.pattern has an unterminated bracket"},
        {"{\"name\":\"device\",\"san\":{\"pattern\":\"(([a-z]{1,63}\\\\.){1,127})\"}}",
         "san.pattern counts something that already repeats too many times"},
        {"{\"name\":\"device\",\"san\":{\"max\":1,\"x\":1}}", "unknown member \"x\" in san"},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vouch_pki_template t;
        char why[256] = "";
        vouch_pki_rc rc = vouch_pki_template_from_json(cases[i].json, strlen(cases[i].json), &t,
                                                       why, sizeof why);
        if (rc == VOUCH_PKI_OK || strstr(why, cases[i].why) == NULL)
            fail_msg("case %zu (%s): rc %d why \"%s\", want \"%s\"", i, cases[i].json, rc, why,
                     cases[i].why);
    }
    {
        /* oversized input and a pattern that fills the field */
        vouch_pki_template t;
        char why[128];
        char *big = malloc(70000);
        memset(big, ' ', 70000);
        assert_int_equal(vouch_pki_template_from_json(big, 70000, &t, why, sizeof why),
                         VOUCH_PKI_E_ARG);
        free(big);
        assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
        memset(t.cn_pattern, 'a', sizeof t.cn_pattern);
        assert_int_equal(vouch_pki_template_validate(&t, why, sizeof why), VOUCH_PKI_E_POLICY);
        {
            char *json = NULL;
            assert_int_equal(vouch_pki_template_to_json(&t, &json), VOUCH_PKI_E_ARG);
        }
    }
}

/* ---- CSR rules ----------------------------------------------------------------------------- */

static void test_csr_good(void **state)
{
    char why[256] = "";
    assert_int_equal(check("device", csr_make(P256, "CN=dev-0001", NULL), why, sizeof why),
                     VOUCH_PKI_OK);
    assert_int_equal(check("device", csr_make(P384, "CN=dev-0001/O=Acme", "URI:urn:dev:1"),
                           why, sizeof why), VOUCH_PKI_OK);
    assert_int_equal(check("device", csr_make(ED, "CN=dev-0001/serialNumber=42", "DNS:d.local"),
                           why, sizeof why), VOUCH_PKI_OK);
    assert_int_equal(check("server", csr_make(RSA2048, "CN=api.example.com",
                                              "DNS:api.example.com,IP:10.0.0.1"), why, sizeof why),
                     VOUCH_PKI_OK);
    assert_int_equal(check("admin", csr_make(P256, "CN=alice", "email:alice@example.com"), why,
                           sizeof why), VOUCH_PKI_OK);
    assert_int_equal(check("family-ca", csr_make(P256, "CN=Pumps/O=Acme", NULL), why, sizeof why),
                     VOUCH_PKI_OK);
}

static void expect_refusal(const char *tpl, X509_REQ *r, vouch_pki_rc want, const char *why_has)
{
    char why[256] = "";
    vouch_pki_rc rc = check(tpl, r, why, sizeof why);
    if (rc != want || strstr(why, why_has) == NULL)
        fail_msg("template %s: rc %d why \"%s\", want rc %d and \"%s\"", tpl, rc, why, want,
                 why_has);
}

static void test_csr_refusals(void **state)
{
    expect_refusal("device", csr_make(RSA1024, "CN=dev-1", NULL), VOUCH_PKI_E_POLICY,
                   "key type rsa-1024 not allowed by template device (allowed: ec-p256, ec-p384, ed25519)");
    expect_refusal("gateway", csr_make(RSA1024, "CN=gw-1", NULL), VOUCH_PKI_E_POLICY,
                   "key type rsa-1024 not allowed by template gateway (allowed: ec-p256, ec-p384, ed25519, rsa>=2048)");
    expect_refusal("device", csr_make(RSA2048, "CN=dev-1", NULL), VOUCH_PKI_E_POLICY,
                   "key type rsa-2048 not allowed");
    expect_refusal("code-signing", csr_make(RSA2048, "CN=fw/O=Acme", NULL), VOUCH_PKI_E_POLICY,
                   "rsa>=3072");
    expect_refusal("device", csr_make(K1, "CN=dev-1", NULL), VOUCH_PKI_E_POLICY,
                   "key type ec-secp256k1 not allowed");
    expect_refusal("family-ca", csr_make(RSA2048, "CN=F/O=Acme", NULL), VOUCH_PKI_E_POLICY,
                   "key type rsa-2048");
    /* subject rules */
    expect_refusal("device", csr_make(P256, "O=Acme", NULL), VOUCH_PKI_E_POLICY,
                   "subject attribute CN required by template device");
    expect_refusal("device", csr_make(P256, "CN=dev-1/C=DE", NULL), VOUCH_PKI_E_POLICY,
                   "subject attribute C not allowed by template device");
    expect_refusal("device", csr_make(P256, "CN=dev-1/DC=example", NULL), VOUCH_PKI_E_POLICY,
                   "subject attribute DC not allowed");
    expect_refusal("device", csr_make(P256, "CN=dev-1/CN=dev-2", NULL), VOUCH_PKI_E_POLICY,
                   "appears more than once");
    expect_refusal("device", csr_make(P256, "CN=dev 1", NULL), VOUCH_PKI_E_POLICY,
                   "CN \"dev 1\" does not match the pattern of template device");
    expect_refusal("device", csr_make(P256, "CN=-dev", NULL), VOUCH_PKI_E_POLICY,
                   "does not match the pattern");
    expect_refusal("device",
                   csr_make(P256, "CN=d012345678901234567890123456789012345678901234567890123456789xyzxyz", NULL),
                   VOUCH_PKI_E_POLICY, "longer than 64");
    expect_refusal("family-ca", csr_make(P256, "CN=Pumps", NULL), VOUCH_PKI_E_POLICY,
                   "subject attribute O required");
    expect_refusal("server", csr_make(P256, "CN=not a host", NULL), VOUCH_PKI_E_POLICY,
                   "does not match");
    /* SAN rules */
    expect_refusal("device", csr_make(P256, "CN=dev-1", "IP:10.0.0.1"), VOUCH_PKI_E_POLICY,
                   "SAN type ip not allowed by template device");
    expect_refusal("device", csr_make(P256, "CN=dev-1", "email:a@b.c"), VOUCH_PKI_E_POLICY,
                   "SAN type email not allowed");
    expect_refusal("device", csr_make(P256, "CN=dev-1", "RID:1.2.3.4"), VOUCH_PKI_E_POLICY,
                   "SAN type rid not allowed");
    expect_refusal("device", csr_make(P256, "CN=dev-1", "otherName:1.2.3.4;UTF8:x"),
                   VOUCH_PKI_E_POLICY, "SAN type othername not allowed");
    expect_refusal("device", csr_make(P256, "CN=dev-1", "DNS:a,DNS:b,DNS:c,DNS:d,DNS:e"),
                   VOUCH_PKI_E_POLICY, "5 SAN entries, template device allows at most 4");
    expect_refusal("code-signing", csr_make(P256, "CN=fw/O=Acme", "DNS:a"), VOUCH_PKI_E_POLICY,
                   "subjectAltName not allowed by template code-signing");
    expect_refusal("server", csr_make(P256, "CN=a.example", "DNS:bad_host!"), VOUCH_PKI_E_POLICY,
                   "SAN dns \"bad_host!\" does not match");
}

static void test_csr_signature_and_garbage(void **state)
{
    X509_REQ *r = csr_make(P256, "CN=dev-1", NULL), *back = NULL;
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(r, &der);
    char why[128];
    size_t i;

    X509_REQ_free(r);
    assert_true(len > 0);
    /* the last bytes are the signature's s value: flip one */
    der[len - 3] ^= 0x01;
    assert_int_equal(vouch_pki_csr_parse(der, (size_t)len, &back), VOUCH_PKI_OK);
    expect_refusal("device", back, VOUCH_PKI_E_SIGNATURE, "CSR signature does not verify");
    der[len - 3] ^= 0x01;
    /* a valid signature over a changed subject: sign, then swap the key */
    r = csr_make(P256, "CN=dev-1", NULL);
    assert_int_equal(X509_REQ_set_pubkey(r, P384), 1);
    expect_refusal("device", r, VOUCH_PKI_E_SIGNATURE, "does not verify");
    /* trailing bytes, truncation, garbage, empty, oversized */
    {
        unsigned char *more = malloc((size_t)len + 1);
        memcpy(more, der, (size_t)len);
        more[len] = 0;
        assert_int_equal(vouch_pki_csr_parse(more, (size_t)len + 1, &back), VOUCH_PKI_E_PARSE);
        assert_null(back);
        free(more);
    }
    for (i = 1; i < (size_t)len; i += 7)
        assert_int_equal(vouch_pki_csr_parse(der, i, &back), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_csr_parse((const uint8_t *)"garbage", 7, &back), VOUCH_PKI_E_PARSE);
    {
        static const char pem[] = "-----BEGIN CERTIFICATE REQUEST-----\nxx\n";
        assert_int_equal(vouch_pki_csr_parse((const uint8_t *)pem, sizeof pem - 1, &back),
                         VOUCH_PKI_E_PARSE);
    }
    assert_int_equal(vouch_pki_csr_parse(der, 0, &back), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_csr_parse(der, 70000, &back), VOUCH_PKI_E_ARG);
    OPENSSL_free(der);
    assert_int_equal(vouch_pki_check_csr(NULL, NULL, why, sizeof why), VOUCH_PKI_E_ARG);
}

/* EC requests decoded by the fast path (pki/csr.c) have their signature
 * checked with ECDSA_verify on the decoded key. Every verdict must be the
 * one X509_REQ_verify gives on OpenSSL's own decoding of the same bytes. */
static X509_REQ *reparse(X509_REQ *r)
{
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(r, &der);
    X509_REQ *back = NULL;
    assert_true(len > 0);
    assert_int_equal(vouch_pki_csr_parse(der, (size_t)len, &back), VOUCH_PKI_OK);
    OPENSSL_free(der);
    X509_REQ_free(r);
    return back;
}

/* check's signature verdict on r equals OpenSSL's on the same DER */
#define same_verdict(r, want) same_verdict_at(r, want, __LINE__)
static void same_verdict_at(X509_REQ *r, int want_ok, int line)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_X509_REQ(r, &der);
    char why[256] = "";
    assert_true(len > 0);
    p = der;
    X509_REQ *ref = d2i_X509_REQ(NULL, &p, len);
    assert_non_null(ref);
    int ref_ok = X509_REQ_verify(ref, X509_REQ_get0_pubkey(ref)) == 1;
    ERR_clear_error();
    vouch_pki_template t;
    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    vouch_pki_rc rc = vouch_pki_check_csr(&t, r, why, sizeof why); /* r stays the caller's */
    if (ref_ok != want_ok || (rc == VOUCH_PKI_E_SIGNATURE) == ref_ok)
        fail_msg("line %d: openssl %d, want %d, check rc %d (%s)", line, ref_ok, want_ok, rc,
                 why);
    /* and vouchd's form, which checks EC signatures over the bytes read */
    rc = check_read(&t, r, why, sizeof why);
    if ((rc == VOUCH_PKI_E_SIGNATURE) == ref_ok)
        fail_msg("line %d: openssl %d, read form rc %d (%s)", line, ref_ok, rc, why);
    X509_REQ_free(ref);
    OPENSSL_free(der);
}

/* replace the signature BIT STRING's content; flags: its unused-bits state
 * (ASN1_STRING_FLAG_BITS_LEFT | n, as a decoded one has: without the flag
 * the encoder would count the last byte's trailing zero bits as unused) */
static void set_sig(X509_REQ *r, const unsigned char *sig, int len, long flags)
{
    const ASN1_BIT_STRING *cs;
    const X509_ALGOR *alg;
    X509_REQ_get0_signature(r, &cs, &alg);
    ASN1_BIT_STRING *bs = (ASN1_BIT_STRING *)cs;
    assert_int_equal(ASN1_BIT_STRING_set(bs, (unsigned char *)sig, len), 1);
    bs->flags = flags;
}

static void test_csr_fast_signature(void **state)
{
    X509_REQ *r;
    /* good: P-256 with SHA-256/384/512, P-384 with SHA-384 */
    static const char *const mds[] = {"SHA256", "SHA384", "SHA512"};
    for (size_t i = 0; i < 3; i++) {
        r = csr_make(P256, "CN=dev-1", NULL);
        assert_true(X509_REQ_sign(r, P256, EVP_get_digestbyname(mds[i])) > 0);
        r = reparse(r);
        same_verdict(r, 1);
        X509_REQ_free(r);
    }
    r = csr_make(P384, "CN=dev-1", NULL);
    assert_true(X509_REQ_sign(r, P384, EVP_sha384()) > 0);
    r = reparse(r);
    same_verdict(r, 1);

    /* the signature of another request by the same key: the bytes signed differ */
    X509_REQ *other = reparse(csr_make(P384, "CN=dev-2", NULL));
    const ASN1_BIT_STRING *os;
    const X509_ALGOR *oa;
    X509_REQ_get0_signature(other, &os, &oa);
    {
        unsigned char keep[200];
        const ASN1_BIT_STRING *cs;
        const X509_ALGOR *ca;
        X509_REQ_get0_signature(r, &cs, &ca);
        int kl = cs->length;
        memcpy(keep, cs->data, (size_t)kl);
        set_sig(r, os->data, os->length, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 0);
        /* not DER: r's INTEGER with a superfluous leading zero byte */
        unsigned char ber[210];
        assert_true(keep[0] == 0x30 && keep[1] < 0x80 && keep[2] == 0x02);
        int rl = keep[3];
        ber[0] = 0x30;
        ber[1] = (unsigned char)(keep[1] + 1);
        ber[2] = 0x02;
        ber[3] = (unsigned char)(rl + 1);
        ber[4] = 0x00;
        memcpy(ber + 5, keep + 4, (size_t)(kl - 4));
        set_sig(r, ber, kl + 1, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 0);
        /* the right bytes in a BIT STRING that claims unused bits */
        set_sig(r, keep, kl, ASN1_STRING_FLAG_BITS_LEFT | 0x01);
        same_verdict(r, 0);
        /* empty, truncated, and a byte after the DER */
        set_sig(r, keep, 0, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 0);
        set_sig(r, keep, kl - 1, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 0);
        keep[kl] = 0x01;
        set_sig(r, keep, kl + 1, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 0);
        /* and back: valid again */
        set_sig(r, keep, kl, ASN1_STRING_FLAG_BITS_LEFT);
        same_verdict(r, 1);
    }
    X509_REQ_free(other);
    X509_REQ_free(r);

    /* a changed byte in the signed part (the CN) */
    {
        r = csr_make(P256, "CN=dev-1", NULL);
        unsigned char *der = NULL;
        int len = i2d_X509_REQ(r, &der);
        X509_REQ_free(r);
        unsigned char *cn = memmem(der, (size_t)len, "dev-1", 5);
        assert_non_null(cn);
        cn[4] = '2';
        X509_REQ *back = NULL;
        assert_int_equal(vouch_pki_csr_parse(der, (size_t)len, &back), VOUCH_PKI_OK);
        same_verdict(back, 0);
        X509_REQ_free(back);
        OPENSSL_free(der);
    }

    /* signature algorithms the direct check does not take go to OpenSSL:
     * RSA's OID on an EC signature, and ecdsa-with-SHA256 with parameters */
    {
        r = reparse(csr_make(P256, "CN=dev-1", NULL));
        const ASN1_BIT_STRING *cs;
        const X509_ALGOR *ca;
        X509_REQ_get0_signature(r, &cs, &ca);
        X509_ALGOR *alg = (X509_ALGOR *)ca;
        assert_int_equal(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256WithRSAEncryption),
                                         V_ASN1_NULL, NULL), 1);
        same_verdict(r, 0);
        assert_int_equal(X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_NULL,
                                         NULL), 1);
        unsigned char *der = NULL;
        int len = i2d_X509_REQ(r, &der);
        const unsigned char *p = der;
        X509_REQ *ref = d2i_X509_REQ(NULL, &p, len);
        assert_non_null(ref);
        int ref_ok = X509_REQ_verify(ref, X509_REQ_get0_pubkey(ref)) == 1;
        ERR_clear_error();
        same_verdict(r, ref_ok);
        X509_REQ_free(ref);
        OPENSSL_free(der);
        X509_REQ_free(r);
    }
}

/* The read form refuses what the X509_REQ form refuses, and more: a key
 * that is the point at infinity (every "signature" with s = 1 and r the x
 * of e*G verifies under it) is never certified, in either form. */
static void test_csr_read_refusals(void **state)
{
    (void)state;
    X509_REQ *r = csr_make(P256, "CN=dev-1", NULL);
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(r, &der);
    vouch_pki_csr *c = NULL;
    char why[256] = "";
    assert_true(len > 0);
    /* trailing bytes, every truncation, garbage, bad PEM, empty, oversized */
    unsigned char *more = malloc((size_t)len + 1);
    memcpy(more, der, (size_t)len);
    more[len] = 0;
    assert_int_equal(vouch_pki_csr_read(more, (size_t)len + 1, &c), VOUCH_PKI_E_PARSE);
    assert_null(c);
    free(more);
    for (int i = 1; i < len; i++)
        assert_int_equal(vouch_pki_csr_read(der, (size_t)i, &c), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_csr_read((const uint8_t *)"garbage", 7, &c), VOUCH_PKI_E_PARSE);
    static const char pem[] = "-----BEGIN CERTIFICATE REQUEST-----\nxx\n";
    assert_int_equal(vouch_pki_csr_read((const uint8_t *)pem, sizeof pem - 1, &c),
                     VOUCH_PKI_E_PARSE);
    static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    assert_int_equal(vouch_pki_csr_read((const uint8_t *)cert_pem, sizeof cert_pem - 1, &c),
                     VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_csr_read(der, 0, &c), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_csr_read(der, 70000, &c), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_csr_read(NULL, 10, &c), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_csr_read(der, (size_t)len, NULL), VOUCH_PKI_E_ARG);
    assert_null(vouch_pki_csr_subject(NULL));
    vouch_pki_csr_free(NULL);
    vouch_pki_template t;
    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_csr_check(&t, NULL, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_csr_read(der, (size_t)len, &c), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_csr_check(NULL, c, why, sizeof why), VOUCH_PKI_E_ARG);
    vouch_pki_csr_free(c);
    OPENSSL_free(der);

    /* the point at infinity as the key, with a "signature" that holds for it */
    X509_PUBKEY *pub = X509_REQ_get_X509_PUBKEY(r);
    unsigned char *inf = OPENSSL_malloc(1);
    inf[0] = 0x00;
    assert_int_equal(X509_PUBKEY_set0_param(pub, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                                            V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1),
                                            inf, 1),
                     1);
    unsigned char *tbs = NULL;
    int tl = i2d_re_X509_REQ_tbs(r, &tbs);
    assert_true(tl > 0);
    unsigned char e[32];
    assert_non_null(SHA256(tbs, (size_t)tl, e));
    OPENSSL_free(tbs);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *R = EC_POINT_new(g);
    BIGNUM *bn_e = BN_bin2bn(e, 32, NULL), *x = BN_new(), *one = BN_new();
    BN_CTX *bc = BN_CTX_new();
    assert_true(g && R && bn_e && x && one && bc);
    assert_int_equal(EC_POINT_mul(g, R, bn_e, NULL, NULL, bc), 1);
    assert_int_equal(EC_POINT_get_affine_coordinates(g, R, x, NULL, bc), 1);
    assert_int_equal(BN_nnmod(x, x, EC_GROUP_get0_order(g), bc), 1);
    assert_int_equal(BN_one(one), 1);
    ECDSA_SIG *es = ECDSA_SIG_new();
    assert_int_equal(ECDSA_SIG_set0(es, x, one), 1);
    unsigned char *sig = NULL;
    int sl = i2d_ECDSA_SIG(es, &sig);
    assert_true(sl > 0);
    set_sig(r, sig, sl, ASN1_STRING_FLAG_BITS_LEFT);
    OPENSSL_free(sig);
    ECDSA_SIG_free(es);
    BN_free(bn_e);
    BN_CTX_free(bc);
    EC_POINT_free(R);
    EC_GROUP_free(g);
    der = NULL;
    len = i2d_X509_REQ(r, &der);
    assert_true(len > 0);
    const char *const tpls[] = {"device", "gateway", "server", "admin"};
    for (size_t i = 0; i < sizeof tpls / sizeof tpls[0]; i++) {
        assert_int_equal(vouch_pki_template_builtin(tpls[i], &t), VOUCH_PKI_OK);
        vouch_pki_rc rc = VOUCH_PKI_E_PARSE;
        if (vouch_pki_csr_read(der, (size_t)len, &c) == VOUCH_PKI_OK) {
            rc = vouch_pki_csr_check(&t, c, why, sizeof why);
            vouch_pki_csr_free(c);
            c = NULL;
        }
        if (rc == VOUCH_PKI_OK)
            fail_msg("template %s: a key at infinity passed the read form", tpls[i]);
        X509_REQ *back = NULL;
        if (vouch_pki_csr_parse(der, (size_t)len, &back) == VOUCH_PKI_OK) {
            rc = vouch_pki_check_csr(&t, back, why, sizeof why);
            X509_REQ_free(back);
            if (rc == VOUCH_PKI_OK)
                fail_msg("template %s: a key at infinity passed the X509_REQ form", tpls[i]);
        }
    }
    OPENSSL_free(der);
    X509_REQ_free(r);
}

/* ---- issuance ---------------------------------------------------------------------------------- */

static vouch_pki_issue_params params(const vouch_pki_template *t, const uint8_t *sn)
{
    vouch_pki_issue_params p = {.tpl = t, .issuer_cert = CA.iss_cert, .issuer_key = CA.iss,
                                .issuer_name = "default", .public_url = URL, .serial = sn,
                                .serial_len = 16, .not_before = NOW};
    return p;
}

static int has_uri(X509 *c, int nid, const char *want)
{
    char buf[4096] = "";
    BIO *b = BIO_new(BIO_s_mem());
    int idx = X509_get_ext_by_NID(c, nid, -1), n;
    if (idx < 0)
        return 0;
    X509V3_EXT_print(b, X509_get_ext(c, idx), 0, 0);
    n = BIO_read(b, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    return strstr(buf, want) != NULL;
}

/* Bytes of an i2d_ function's encoding of x (malloc'd by OpenSSL). */
#define ENC(fn, x, out) ((int)fn((x), (out)))

/* x and y encode to the same bytes with the i2d function fn */
#define SAME_ENC(fn, x, y)                                                                        \
    do {                                                                                          \
        unsigned char *a_ = NULL, *b_ = NULL;                                                     \
        int la_ = fn((x), &a_), lb_ = fn((y), &b_);                                               \
        assert_true(la_ > 0 && la_ == lb_);                                                       \
        assert_memory_equal(a_, b_, (size_t)la_);                                                 \
        OPENSSL_free(a_);                                                                         \
        OPENSSL_free(b_);                                                                         \
    } while (0)

/* Everything a certificate from vouch_pki_issue_der / _renew_der must be,
 * checked from outside through OpenSSL's own decoder: one DER certificate
 * and nothing after it, canonical (re-encoding the parsed certificate and
 * its TBS gives the same bytes), signed by `ipub` with the algorithm the
 * issuer's key calls for (the same in the TBS and outside it, no
 * parameters, no unused bits in the signature), version 3, the serial,
 * validity and issuer name asked for, and the subject name and
 * SubjectPublicKeyInfo of `subj`/`spki` byte for byte. */
static X509 *der_checked(const vouch_pki_der *d, X509 *issuer, EVP_PKEY *ipub, int sig_nid,
                         const uint8_t *sn, time_t nb, time_t na, const X509_NAME *subj,
                         const X509_PUBKEY *spki)
{
    const unsigned char *q = d->der;
    unsigned char *a = NULL, *b = NULL;
    const ASN1_BIT_STRING *sig;
    const X509_ALGOR *outer, *inner;
    const ASN1_OBJECT *obj;
    const void *pval;
    int ptype, la, lb;
    uint8_t got[20];
    size_t gl;
    X509 *x;

    assert_non_null(d->der);
    x = d2i_X509(NULL, &q, (long)d->len);
    assert_non_null(x);
    assert_ptr_equal(q, d->der + d->len);
    la = ENC(i2d_X509, x, &a);
    assert_int_equal(la, (int)d->len);
    assert_memory_equal(a, d->der, d->len);
    OPENSSL_free(a);
    a = NULL;
    {
        /* the TBS as received (the first of the three elements) against
         * the TBS encoded again from the parsed fields */
        const unsigned char *r = d->der;
        ASN1_SEQUENCE_ANY *parts = d2i_ASN1_SEQUENCE_ANY(NULL, &r, (long)d->len);
        assert_non_null(parts);
        assert_int_equal(sk_ASN1_TYPE_num(parts), 3);
        const ASN1_TYPE *t0 = sk_ASN1_TYPE_value(parts, 0);
        assert_int_equal(t0->type, V_ASN1_SEQUENCE);
        lb = ENC(i2d_re_X509_tbs, x, &b);
        assert_true(lb > 0 && lb == t0->value.sequence->length);
        assert_memory_equal(t0->value.sequence->data, b, (size_t)lb);
        OPENSSL_free(b);
        b = NULL;
        sk_ASN1_TYPE_pop_free(parts, ASN1_TYPE_free);
    }
    assert_int_equal(X509_verify(x, ipub), 1);
    X509_get0_signature(&sig, &outer, x);
    inner = X509_get0_tbs_sigalg(x);
    assert_int_equal(X509_ALGOR_cmp(outer, inner), 0);
    X509_ALGOR_get0(&obj, &ptype, &pval, outer);
    assert_int_equal(OBJ_obj2nid(obj), sig_nid);
    assert_int_equal(ptype, V_ASN1_UNDEF);
    assert_int_equal(sig->flags & 0x07, 0);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(vouch_pki_cert_serial(x, got, &gl), VOUCH_PKI_OK);
    assert_int_equal(gl, 16);
    assert_memory_equal(got, sn, 16);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), nb), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), na), 0);
    SAME_ENC(i2d_X509_NAME, X509_get_issuer_name(x), X509_get_subject_name(issuer));
    SAME_ENC(i2d_X509_NAME, X509_get_subject_name(x), subj);
    SAME_ENC(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(x), spki);
    return x;
}

/* An issuing CA under the fixture root with the given signer. */
static X509 *sub_ca(vouch_pki_signer *s, uint8_t n)
{
    uint8_t sn[16];
    X509 *c = NULL;
    vouch_pki_ca_params p = {.org = "Acme", .cn = "Acme Test Issuer", .serial = sn,
                             .serial_len = 16, .not_before = NOW - DAY,
                             .not_after = NOW + 5 * 365 * DAY, .path_len = 0,
                             .public_url = URL, .parent_name = "root"};
    serial_n(sn, n);
    assert_int_equal(vouch_pki_ca_sub(&p, vouch_pki_signer_public(s), CA.root_cert, CA.root, &c),
                     VOUCH_PKI_OK);
    return c;
}

/*
 * Certificates encoded from their parts (vouch_pki_issue_der and
 * _renew_der): for issuers with P-256, P-384 and Ed25519 keys and an
 * external P-384 signer, CSRs of every key type the device template
 * allows, and a renewal of each. 16 issuances per pair, so signatures
 * whose last bit is zero (about half) are among them: a signature BIT
 * STRING written with unused bits would not verify.
 */
static void test_issue_der(void **state)
{
    EVP_PKEY *ikeys[] = {NULL, P384, ED, NULL};
    const int sig_nids[] = {NID_ecdsa_with_SHA256, NID_ecdsa_with_SHA384, NID_ED25519,
                            NID_ecdsa_with_SHA384};
    EVP_PKEY *kinds[] = {P256, P384, ED};
    vouch_pki_template t;
    char why[256] = "";
    ext_ctx e = {0};
    EVP_PKEY *epub = NULL;
    (void)state;

    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P384, &e.key), VOUCH_PKI_OK);
    {
        unsigned char *der = NULL;
        int len = i2d_PUBKEY(e.key, &der);
        const unsigned char *q = der;
        assert_true(len > 0);
        epub = d2i_PUBKEY(NULL, &q, len);
        assert_non_null(epub);
        OPENSSL_free(der);
    }
    for (size_t i = 0; i < sizeof ikeys / sizeof ikeys[0]; i++) {
        vouch_pki_signer *s = NULL;
        if (i == 0)
            assert_int_equal(vouch_pki_signer_from_key(CA.iss_key, &s), VOUCH_PKI_OK);
        else if (i == 3)
            assert_int_equal(vouch_pki_signer_external(epub, ext_cb, &e, &s), VOUCH_PKI_OK);
        else
            assert_int_equal(vouch_pki_signer_from_key(ikeys[i], &s), VOUCH_PKI_OK);
        X509 *iss = i == 0 ? CA.iss_cert : sub_ca(s, (uint8_t)(40 + i));
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            X509_REQ *csr = csr_make(kinds[k], "CN=dev-0002/O=Acme", "DNS:dev2.local");
            for (int n = 0; n < 16; n++) {
                uint8_t sn[16];
                vouch_pki_der d = {NULL, 0}, r = {NULL, 0};
                assert_int_equal(vouch_pki_serial_random(sn), VOUCH_PKI_OK);
                vouch_pki_issue_params p = params(&t, sn);
                p.issuer_cert = iss;
                p.issuer_key = s;
                p.not_after = NOW + 30 * DAY;
                assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_OK);
                X509 *x = der_checked(&d, iss, vouch_pki_signer_public(s), sig_nids[i], sn, NOW,
                                      NOW + 30 * DAY, X509_REQ_get_subject_name(csr),
                                      X509_REQ_get_X509_PUBKEY(csr));
                if (i == 0 && n == 0)
                    assert_int_equal(chain_ok(x, NULL), 1);
                if (n == 0) { /* vouchd's form of the same request */
                    unsigned char *cder = NULL;
                    int cl = i2d_X509_REQ(csr, &cder);
                    vouch_pki_csr *rc = NULL;
                    vouch_pki_der d2 = {NULL, 0};
                    assert_int_equal(vouch_pki_csr_read(cder, (size_t)cl, &rc), VOUCH_PKI_OK);
                    assert_int_equal(vouch_pki_issue_csr_der(&p, rc, &d2, why, sizeof why),
                                     VOUCH_PKI_OK);
                    X509 *x2 = der_checked(&d2, iss, vouch_pki_signer_public(s), sig_nids[i], sn,
                                           NOW, NOW + 30 * DAY, X509_REQ_get_subject_name(csr),
                                           X509_REQ_get_X509_PUBKEY(csr));
                    X509_free(x2);
                    vouch_pki_der_free(&d2);
                    vouch_pki_csr_free(rc);
                    OPENSSL_free(cder);
                }
                /* renewal: the old certificate's name and key, new serial and validity */
                sn[15] ^= 0x01;
                p.not_before = NOW + DAY;
                p.not_after = NOW + 40 * DAY;
                assert_int_equal(vouch_pki_renew_der(&p, x, &r, why, sizeof why), VOUCH_PKI_OK);
                X509 *y = der_checked(&r, iss, vouch_pki_signer_public(s), sig_nids[i], sn,
                                      NOW + DAY, NOW + 40 * DAY, X509_get_subject_name(x),
                                      X509_get_X509_PUBKEY(x));
                /* one changed TBS byte and the signature no longer holds */
                d.der[d.len / 2] ^= 0x01;
                {
                    const unsigned char *q = d.der;
                    X509 *z = d2i_X509(NULL, &q, (long)d.len);
                    assert_true(z == NULL || X509_verify(z, vouch_pki_signer_public(s)) != 1);
                    X509_free(z);
                    ERR_clear_error();
                }
                X509_free(x);
                X509_free(y);
                vouch_pki_der_free(&d);
                vouch_pki_der_free(&r);
                assert_null(d.der);
                assert_int_equal(d.len, 0);
            }
            X509_REQ_free(csr);
        }
        if (i != 0)
            X509_free(iss);
        vouch_pki_signer_free(s);
    }
    EVP_PKEY_free(epub);
    EVP_PKEY_free(e.key);
}

/* What vouch_pki_issue_der and _renew_der refuse, with nothing returned. */
/* The TBS of a certificate issued with p and csr (its signature differs
 * from issuance to issuance; everything signed must not). */
static int tbs_of(const vouch_pki_issue_params *p, X509_REQ *csr, unsigned char **tbs)
{
    vouch_pki_der d = {NULL, 0};
    char why[256] = "";
    if (vouch_pki_issue_der(p, csr, &d, why, sizeof why) != VOUCH_PKI_OK)
        return -1;
    const unsigned char *q = d.der;
    X509 *x = d2i_X509(NULL, &q, (long)d.len);
    int len = x ? i2d_re_X509_tbs(x, tbs) : -1;
    X509_free(x);
    vouch_pki_der_free(&d);
    return len;
}

typedef struct {
    const vouch_pki_issue_params *p;
    X509_REQ *csr;
    unsigned char *tbs;
    int len;
} tbs_job;

static void *tbs_thread(void *arg)
{
    tbs_job *j = arg;
    j->len = tbs_of(j->p, j->csr, &j->tbs);
    return NULL;
}

/* One certificate signed by s for CSR, as DER decoded; verified with want
 * and refused by the other key. */
static void signed_by(vouch_pki_signer *s, X509 *iss, X509_REQ *csr, EVP_PKEY *want,
                      EVP_PKEY *other)
{
    vouch_pki_template t;
    uint8_t sn[16];
    char why[256] = "";
    vouch_pki_der d = {NULL, 0};
    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_serial_random(sn), VOUCH_PKI_OK);
    vouch_pki_issue_params p = params(&t, sn);
    p.issuer_cert = iss;
    p.issuer_key = s;
    p.not_after = NOW + 30 * DAY;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_OK);
    const unsigned char *q = d.der;
    X509 *x = d2i_X509(NULL, &q, (long)d.len);
    assert_non_null(x);
    assert_int_equal(X509_verify(x, want), 1);
    assert_int_not_equal(X509_verify(x, other), 1);
    ERR_clear_error();
    X509_free(x);
    vouch_pki_der_free(&d);
}

typedef struct {
    vouch_pki_signer *a, *b;
    EVP_PKEY *ka, *kb;
    X509 *ia, *ib;
    X509_REQ *csr;
} sign_pair;

static void *sign_pair_thread(void *arg)
{
    sign_pair *sp = arg;
    for (int i = 0; i < 20; i++) {
        signed_by(sp->a, sp->ia, sp->csr, sp->ka, sp->kb);
        signed_by(sp->b, sp->ib, sp->csr, sp->kb, sp->ka);
    }
    return NULL;
}

/* In-memory EC signers sign through a context each thread keeps for the
 * last signer it used. Signers taking turns, a signer freed and another
 * made (perhaps at the same address) and threads each signing with both
 * must always sign with the key of the signer asked. */
static void test_sign_cache(void **state)
{
    EVP_PKEY *k1 = gen("EC", "P-256"), *k2 = gen("EC", "P-384"), *k3 = gen("EC", "P-256");
    vouch_pki_signer *a = NULL, *b = NULL, *c = NULL;
    X509_REQ *csr = csr_make(P256, "CN=dev-0003", NULL);
    (void)state;

    assert_int_equal(vouch_pki_signer_from_key(k1, &a), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_signer_from_key(k2, &b), VOUCH_PKI_OK);
    X509 *ia = sub_ca(a, 61), *ib = sub_ca(b, 62);
    for (int i = 0; i < 3; i++) {
        signed_by(a, ia, csr, k1, k2);
        signed_by(a, ia, csr, k1, k2);
        signed_by(b, ib, csr, k2, k1);
    }
    /* a freed, c made: whatever address c gets, it signs with k3 */
    for (int i = 0; i < 4; i++) {
        vouch_pki_signer_free(a);
        assert_int_equal(vouch_pki_signer_from_key(i % 2 ? k1 : k3, &c), VOUCH_PKI_OK);
        X509 *ic = sub_ca(c, (uint8_t)(63 + i));
        signed_by(c, ic, csr, i % 2 ? k1 : k3, i % 2 ? k3 : k1);
        X509_free(ic);
        a = c;
    }
    {
        sign_pair sp = {a, b, k1, k2, ia, ib, csr};
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            assert_int_equal(pthread_create(&th[i], NULL, sign_pair_thread, &sp), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
    }
    vouch_pki_signer_free(a);
    vouch_pki_signer_free(b);
    X509_free(ia);
    X509_free(ib);
    X509_REQ_free(csr);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
}

/* The fixed extensions (basic constraints, KU, EKU, AKI, CRL DP, AIA) are
 * encoded once per thread and template, issuer and URLs, then reused. A
 * certificate from a warm cache must be the one a cold cache gives; more
 * keys than the cache holds, in rotation, must each get their own URLs;
 * and a template changed under the same name must take effect at once. */
static void test_issue_ext_cache(void **state)
{
    (void)state;
    vouch_pki_template t;
    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    X509_REQ *csr = csr_make(P256, "CN=dev-0003/O=Acme", "DNS:dev3.local");
    uint8_t sn[16];
    serial_n(sn, 77);
    vouch_pki_issue_params p = params(&t, sn);

    /* warm (this thread, several times) against cold (a new thread each) */
    unsigned char *warm = NULL;
    int wl = tbs_of(&p, csr, &warm);
    assert_true(wl > 0);
    for (int i = 0; i < 3; i++) {
        unsigned char *again = NULL;
        assert_int_equal(tbs_of(&p, csr, &again), wl);
        assert_memory_equal(again, warm, (size_t)wl);
        OPENSSL_free(again);
        tbs_job j = {&p, csr, NULL, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, tbs_thread, &j), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(j.len, wl);
        assert_memory_equal(j.tbs, warm, (size_t)wl);
        OPENSSL_free(j.tbs);
    }
    OPENSSL_free(warm);

    /* 12 issuer names and URLs (the cache holds 8), twice round */
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 12; k++) {
            char name[16], url[64], crl[96], ocsp[96];
            snprintf(name, sizeof name, "family-%d", k);
            snprintf(url, sizeof url, "http://127.0.0.%d:%d", 1 + k % 3, 8000 + k);
            snprintf(crl, sizeof crl, "%s/crl/%s.crl", url, name);
            snprintf(ocsp, sizeof ocsp, "%s/ocsp", url);
            vouch_pki_issue_params q = p;
            q.issuer_name = name;
            q.public_url = url;
            X509 *x = NULL;
            char why[256] = "";
            assert_int_equal(vouch_pki_issue(&q, csr, &x, why, sizeof why), VOUCH_PKI_OK);
            assert_true(has_uri(x, NID_crl_distribution_points, crl));
            assert_true(has_uri(x, NID_info_access, ocsp));
            assert_int_equal(X509_get_ext_by_NID(x, NID_crl_distribution_points, -1), 6);
            X509_free(x);
        }

    /* the same template name with other usages: the next certificate has them */
    vouch_pki_template t2 = t;
    t2.key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
    t2.ext_key_usage = 1u << 0; /* serverAuth only */
    for (int i = 0; i < 2; i++) {
        vouch_pki_issue_params q = p;
        q.tpl = i ? &t : &t2;
        X509 *x = NULL;
        char why[256] = "";
        assert_int_equal(vouch_pki_issue(&q, csr, &x, why, sizeof why), VOUCH_PKI_OK);
        X509_check_purpose(x, -1, 0);
        assert_int_equal(X509_get_key_usage(x) & (KU_KEY_AGREEMENT | KU_DIGITAL_SIGNATURE),
                         i ? (t.key_usage & (KU_KEY_AGREEMENT | KU_DIGITAL_SIGNATURE))
                           : (KU_KEY_AGREEMENT | KU_DIGITAL_SIGNATURE));
        assert_int_equal(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
                         i ? XKU_SSL_CLIENT : XKU_SSL_SERVER);
        X509_free(x);
    }
    /* another issuer (another SKI) under the same name and URL: its AKI */
    vouch_pki_signer *s = NULL;
    assert_int_equal(vouch_pki_signer_from_key(P384, &s), VOUCH_PKI_OK);
    X509 *iss2 = sub_ca(s, 91);
    for (int i = 0; i < 2; i++) {
        vouch_pki_issue_params q = p;
        q.issuer_cert = i ? CA.iss_cert : iss2;
        q.issuer_key = i ? CA.iss : s;
        q.not_after = NOW + 30 * DAY;
        X509 *x = NULL;
        char why[256] = "";
        assert_int_equal(vouch_pki_issue(&q, csr, &x, why, sizeof why), VOUCH_PKI_OK);
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
        assert_non_null(aki);
        assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(q.issuer_cert)), 0);
        X509_free(x);
    }
    X509_free(iss2);
    vouch_pki_signer_free(s);
    X509_REQ_free(csr);
}

static void test_issue_der_refusals(void **state)
{
    vouch_pki_template t;
    char why[256] = "";
    uint8_t sn[16];
    vouch_pki_der d = {(unsigned char *)"x", 1};
    ext_ctx e = {0};
    vouch_pki_signer *s = NULL;
    EVP_PKEY *epub = NULL;
    X509 *good = NULL, *iss = NULL;
    X509_REQ *csr = csr_make(P256, "CN=dev-0003", NULL);
    (void)state;

    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_serial_random(sn), VOUCH_PKI_OK);
    vouch_pki_issue_params p = params(&t, sn);
    /* no CSR, no output */
    assert_int_equal(vouch_pki_issue_der(&p, NULL, &d, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_null(d.der);
    assert_int_equal(d.len, 0);
    assert_int_equal(vouch_pki_issue_der(&p, csr, NULL, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_renew_der(&p, NULL, &d, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_renew_der(&p, NULL, NULL, why, sizeof why), VOUCH_PKI_E_ARG);
    /* a bad serial (top bit set), validity beyond the template */
    sn[0] |= 0x80;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_null(d.der);
    sn[0] &= 0x7F;
    p.not_after = NOW + (t.validity_days + 1) * (time_t)DAY;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_null(d.der);
    p.not_after = 0;
    /* a CSR whose signature does not verify */
    {
        X509_REQ *bad = csr_make(P256, "CN=dev-0004", NULL);
        const ASN1_BIT_STRING *sig;
        X509_REQ_get0_signature(bad, &sig, NULL);
        ((ASN1_BIT_STRING *)sig)->data[sig->length - 2] ^= 0x01;
        bad = reparse(bad); /* through the parser vouchd uses */
        assert_int_equal(vouch_pki_issue_der(&p, bad, &d, why, sizeof why),
                         VOUCH_PKI_E_SIGNATURE);
        assert_null(d.der);
        X509_REQ_free(bad);
    }
    /* renewing a certificate another issuer signed */
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_OK);
    {
        const unsigned char *q = d.der;
        good = d2i_X509(NULL, &q, (long)d.len);
        assert_non_null(good);
        vouch_pki_der_free(&d);
    }
    p.issuer_cert = CA.root_cert;
    p.issuer_key = CA.root;
    assert_int_equal(vouch_pki_renew_der(&p, good, &d, why, sizeof why), VOUCH_PKI_E_SIGNATURE);
    assert_null(d.der);
    /* an issuer key that is not the issuer certificate's */
    p.issuer_cert = CA.iss_cert;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_null(d.der);
    /* an external signer that fails, returns garbage, or signs with another key */
    assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &e.key), VOUCH_PKI_OK);
    {
        unsigned char *der = NULL;
        int len = i2d_PUBKEY(e.key, &der);
        const unsigned char *q = der;
        epub = d2i_PUBKEY(NULL, &q, len);
        assert_non_null(epub);
        OPENSSL_free(der);
    }
    assert_int_equal(vouch_pki_signer_external(epub, ext_cb, &e, &s), VOUCH_PKI_OK);
    iss = sub_ca(s, 50);
    p.issuer_cert = iss;
    p.issuer_key = s;
    p.not_after = NOW + 30 * DAY; /* within the issuer's validity */
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_OK);
    vouch_pki_der_free(&d);
    e.fail = 1;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_SIGNER);
    assert_null(d.der);
    assert_int_equal(vouch_pki_renew_der(&p, good, &d, why, sizeof why), VOUCH_PKI_E_SIGNATURE);
    e.fail = 0;
    e.garbage = 1;
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_SIGNER);
    assert_null(d.der);
    e.garbage = 0;
    {
        EVP_PKEY *other = NULL;
        assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &other), VOUCH_PKI_OK);
        EVP_PKEY_free(e.key);
        e.key = other;
    }
    assert_int_equal(vouch_pki_issue_der(&p, csr, &d, why, sizeof why), VOUCH_PKI_E_SIGNER);
    assert_null(d.der);
    vouch_pki_der_free(NULL);
    X509_free(good);
    X509_free(iss);
    vouch_pki_signer_free(s);
    EVP_PKEY_free(epub);
    EVP_PKEY_free(e.key);
    X509_REQ_free(csr);
}

static void test_issue(void **state)
{
    vouch_pki_template t;
    uint8_t sn[16], got[20];
    size_t gl;
    X509 *c = NULL, *r2 = NULL, *bad = NULL;
    X509_REQ *csr = csr_make(P256, "CN=dev-0001/O=Acme", "URI:urn:dev:1,DNS:dev1.local");
    char why[256] = "";
    vouch_pki_issue_params p;

    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_serial_random(sn), VOUCH_PKI_OK);
    p = params(&t, sn);
    assert_int_equal(vouch_pki_issue(&p, csr, &c, why, sizeof why), VOUCH_PKI_OK);
    assert_int_equal(chain_ok(c, NULL), 1);
    assert_int_equal(vouch_pki_cert_serial(c, got, &gl), VOUCH_PKI_OK);
    assert_int_equal(gl, 16);
    assert_memory_equal(got, sn, 16);
    assert_int_equal(X509_get_key_usage(c), KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
    assert_int_equal(X509_get_extended_key_usage(c), XKU_SSL_CLIENT);
    assert_int_equal(X509_check_ca(c), 0);
    assert_true(has_uri(c, NID_crl_distribution_points, URL "/crl/default.crl"));
    assert_true(has_uri(c, NID_info_access, "OCSP - URI:" URL "/ocsp"));
    assert_true(has_uri(c, NID_info_access, "CA Issuers - URI:" URL "/ca/default.crt"));
    assert_true(has_uri(c, NID_subject_alt_name, "URI:urn:dev:1"));
    assert_true(has_uri(c, NID_subject_alt_name, "DNS:dev1.local"));
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(c), NOW + 3650 * (time_t)DAY), 0);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(c), X509_REQ_get_subject_name(csr)), 0);

    /* renewal: same key, new serial and validity, chains */
    sn[15] ^= 1;
    p.not_before = NOW + DAY;
    p.not_after = NOW + 30 * DAY;
    assert_int_equal(vouch_pki_renew(&p, c, &r2, why, sizeof why), VOUCH_PKI_OK);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), X509_get0_pubkey(r2)), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(c), X509_get_subject_name(r2)), 0);
    assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(c), X509_get0_serialNumber(r2)) != 0, 1);
    assert_true(has_uri(r2, NID_subject_alt_name, "URI:urn:dev:1"));
    X509_free(r2);
    /* renewal of a certificate from another issuer (the root itself) */
    assert_int_equal(vouch_pki_renew(&p, CA.iss_cert, &bad, why, sizeof why), VOUCH_PKI_E_SIGNATURE);
    /* renewal under a tightened template */
    t.key_types = VOUCH_PKI_KT_ED25519;
    assert_int_equal(vouch_pki_renew(&p, c, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "key type ec-p256 not allowed"));
    t.key_types = VOUCH_PKI_KT_EC_P256;

    /* validity rules */
    p.not_before = NOW;
    p.not_after = NOW + 3651 * (time_t)DAY;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "at most 3650 days"));
    p.not_after = NOW - 1;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    p.not_before = NOW + 3000 * (time_t)DAY;
    p.not_after = 0;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "after the issuer"));
    p.not_before = NOW;
    /* wrong key for the issuer, non-CA issuer, bad names, bad serial */
    p.issuer_key = CA.root;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    p.issuer_key = CA.iss;
    p.issuer_cert = c;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "not a CA"));
    p.issuer_cert = CA.iss_cert;
    p.issuer_name = "a b";
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    p.issuer_name = "default";
    p.public_url = "http://x,URI:http://evil";
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    p.public_url = URL;
    p.serial_len = 0;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    p.serial_len = 21;
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    p.serial_len = 16;
    assert_int_equal(vouch_pki_issue(&p, NULL, &bad, why, sizeof why), VOUCH_PKI_E_ARG);
    /* the template is enforced by issue itself */
    X509_REQ_free(csr);
    csr = csr_make(RSA1024, "CN=dev-1", NULL);
    assert_int_equal(vouch_pki_issue(&p, csr, &bad, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_null(bad);
    X509_REQ_free(csr);
    /* a family CA from a CSR under family-ca, issued by the root */
    {
        vouch_pki_template f;
        X509 *fc = NULL;
        csr = csr_make(P256, "CN=Pumps/O=Acme", NULL);
        assert_int_equal(vouch_pki_template_builtin("family-ca", &f), VOUCH_PKI_OK);
        p = params(&f, sn);
        p.issuer_cert = CA.root_cert;
        p.issuer_key = CA.root;
        p.issuer_name = "root";
        assert_int_equal(vouch_pki_issue(&p, csr, &fc, why, sizeof why), VOUCH_PKI_OK);
        assert_int_equal(X509_check_ca(fc), 1);
        X509_free(fc);
        X509_REQ_free(csr);
    }
    X509_free(c);
}

/* ---- CRL ------------------------------------------------------------------------------------------ */

static void test_crl(void **state)
{
    vouch_pki_template t;
    uint8_t sn[16];
    X509 *good = NULL, *revoked = NULL;
    X509_REQ *csr = csr_make(P256, "CN=dev-1", NULL);
    X509_CRL *crl = NULL, *bad = NULL;
    vouch_pki_revoked list[3];
    vouch_pki_issue_params p;
    char why[256];
    X509_REVOKED *rev = NULL;
    ASN1_ENUMERATED *reason;
    ASN1_INTEGER *num;

    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    serial_n(sn, 0x20);
    p = params(&t, sn);
    assert_int_equal(vouch_pki_issue(&p, csr, &good, why, sizeof why), VOUCH_PKI_OK);
    serial_n(sn, 0x21);
    assert_int_equal(vouch_pki_issue(&p, csr, &revoked, why, sizeof why), VOUCH_PKI_OK);
    X509_REQ_free(csr);
    memset(list, 0, sizeof list);
    assert_int_equal(vouch_pki_cert_serial(revoked, list[0].serial, &list[0].serial_len),
                     VOUCH_PKI_OK);
    list[0].revoked_at = NOW - 60;
    list[0].reason = VOUCH_PKI_REASON_KEY_COMPROMISE;
    list[1].serial[0] = 0x42;
    list[1].serial_len = 1;
    list[1].revoked_at = NOW - 120;
    list[1].reason = VOUCH_PKI_REASON_UNSPECIFIED;
    list[2].serial[0] = 0x43;
    list[2].serial_len = 1;
    list[2].revoked_at = NOW - 120;
    list[2].reason = VOUCH_PKI_REASON_CERTIFICATE_HOLD;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 7, NOW - 10, NOW + DAY,
                                         &crl), VOUCH_PKI_OK);
    assert_int_equal(X509_CRL_verify(crl, CA.iss_key), 1);
    assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    assert_int_equal(ASN1_INTEGER_get(num), 7);
    ASN1_INTEGER_free(num);
    assert_non_null(X509_CRL_get0_extensions(crl));
    assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >= 0);
    assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, revoked), 1);
    reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
    assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
    ASN1_ENUMERATED_free(reason);
    /* the store's CRL check (leaf only): revoked refused, good accepted */
    assert_int_equal(chain_ok(good, crl), 1);
    assert_int_equal(chain_ok(revoked, crl), 0);
    /* lookups sort lazily; the encoding must still match the signature */
    assert_int_equal(X509_CRL_verify(crl, CA.iss_key), 1);
    X509_CRL_free(crl);
    /* refusals */
    list[1].reason = 7;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    list[1].reason = VOUCH_PKI_REASON_REMOVE_FROM_CRL;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    list[1].reason = 11;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    list[1].reason = 0;
    list[1].serial_len = 0;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    list[1].serial_len = 1;
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, 3, 8, NOW, NOW, &bad),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.root, list, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, NULL, 3, 8, NOW, NOW + DAY, &bad),
                     VOUCH_PKI_E_ARG);
    assert_null(bad);
    /* an empty CRL is fine */
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, NULL, 0, 9, NOW, NOW + DAY, &crl),
                     VOUCH_PKI_OK);
    X509_CRL_free(crl);
    X509_free(good);
    X509_free(revoked);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_crl_100k(void **state)
{
    const size_t n = 100000;
    vouch_pki_revoked *list = calloc(n, sizeof *list);
    X509_CRL *crl = NULL;
    unsigned char *der = NULL;
    double t0, t1, t2;
    int len;
    size_t i;

    assert_non_null(list);
    for (i = 0; i < n; i++) {
        assert_int_equal(vouch_pki_serial_random(list[i].serial), VOUCH_PKI_OK);
        list[i].serial_len = 16;
        list[i].revoked_at = NOW - (time_t)i;
        list[i].reason = (int)(i % 6);
    }
    t0 = now_s();
    assert_int_equal(vouch_pki_crl_build(CA.iss_cert, CA.iss, list, n, 100, NOW, NOW + DAY, &crl),
                     VOUCH_PKI_OK);
    t1 = now_s();
    len = i2d_X509_CRL(crl, &der);
    t2 = now_s();
    assert_true(len > 0);
    printf("# CRL with %zu entries: build+sign %.3f s, DER %d bytes (encode %.3f s)\n", n, t1 - t0,
           len, t2 - t1);
    /* the bound is loose here (sanitizer builds are slow); docs/pki.md and
     * bench/ record the plain-build figure against the 1 s target */
    assert_true(t1 - t0 < 10.0);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), (int)n);
    assert_int_equal(X509_CRL_verify(crl, CA.iss_key), 1);
    OPENSSL_free(der);
    X509_CRL_free(crl);
    free(list);
}

/* ---- OCSP ----------------------------------------------------------------------------------------- */

/* An OCSP request for cert (issuer iss) as `openssl ocsp` would send it. */
static uint8_t *ocsp_req(X509 *cert, X509 *iss, const EVP_MD *md, int nonce, size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(md, cert, iss);
    unsigned char *der = NULL;
    int n;

    assert_non_null(id);
    assert_non_null(OCSP_request_add0_id(req, id));
    if (nonce)
        assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
    n = i2d_OCSP_REQUEST(req, &der);
    assert_true(n > 0);
    OCSP_REQUEST_free(req);
    *len = (size_t)n;
    return der;
}

/* Parses + verifies a response and returns the certificate status. */
static int ocsp_status(const uint8_t *der, size_t len, X509 *cert, X509 *iss, const uint8_t *reqder,
                       size_t reqlen, int *reason)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *br;
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, iss);
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    int status = -1, r = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;

    assert_non_null(resp);
    assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    br = OCSP_response_get1_basic(resp);
    assert_non_null(br);
    X509_STORE_add_cert(st, CA.root_cert);
    sk_X509_push(certs, iss);
    if (OCSP_basic_verify(br, certs, st, 0) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("OCSP_basic_verify refused the response");
    }
    if (reqder != NULL) {
        const unsigned char *q = reqder;
        OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &q, (long)reqlen);
        assert_int_equal(OCSP_check_nonce(req, br), 1);
        OCSP_REQUEST_free(req);
    }
    assert_int_equal(OCSP_resp_find_status(br, id, &status, &r, &rev, &tu, &nu), 1);
    assert_int_equal(OCSP_check_validity(tu, nu, 300, -1), 1);
    *reason = r;
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(br);
    OCSP_RESPONSE_free(resp);
    X509_STORE_free(st);
    sk_X509_free(certs);
    return status;
}

static void test_ocsp(void **state)
{
    vouch_pki_template t;
    vouch_pki_ocsp_issuer iss[2];
    uint8_t sn[16], got[20];
    size_t gl, idx, reqlen, rlen, nlen;
    X509 *leaf = NULL;
    X509_REQ *csr = csr_make(P256, "CN=dev-1", NULL);
    vouch_pki_issue_params p;
    char why[128];
    uint8_t *req, *resp = NULL;
    const uint8_t *nonce;
    vouch_pki_ocsp_request *r = NULL;
    vouch_pki_ocsp_single a;
    int reason, st;

    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    serial_n(sn, 0x30);
    p = params(&t, sn);
    assert_int_equal(vouch_pki_issue(&p, csr, &leaf, why, sizeof why), VOUCH_PKI_OK);
    X509_REQ_free(csr);
    assert_int_equal(vouch_pki_ocsp_issuer_init(&iss[0], CA.root_cert, CA.root, NULL), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_ocsp_issuer_init(&iss[1], CA.iss_cert, CA.iss, NULL), VOUCH_PKI_OK);

    /* SHA-1 CertID with nonce: good, revoked, unknown */
    req = ocsp_req(leaf, CA.iss_cert, NULL, 1, &reqlen);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, reqlen, &r), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_ocsp_request_count(r), 1);
    nonce = vouch_pki_ocsp_request_nonce(r, &nlen);
    assert_non_null(nonce);
    assert_int_equal(nlen, 16);
    assert_int_equal(vouch_pki_ocsp_match(vouch_pki_ocsp_request_id(r, 0), iss, 2, &idx, got, &gl),
                     VOUCH_PKI_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(gl, 16);
    assert_memory_equal(got, sn, 16);
    a.id = vouch_pki_ocsp_request_id(r, 0);
    a.state = VOUCH_PKI_CERT_GOOD;
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, time(NULL), time(NULL) + 3600, nonce,
                                            nlen, &resp, &rlen), VOUCH_PKI_OK);
    st = ocsp_status(resp, rlen, leaf, CA.iss_cert, req, reqlen, &reason);
    assert_int_equal(st, V_OCSP_CERTSTATUS_GOOD);
    OPENSSL_free(resp);
    a.state = VOUCH_PKI_CERT_REVOKED;
    a.revoked_at = time(NULL) - 10;
    a.reason = VOUCH_PKI_REASON_SUPERSEDED;
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, time(NULL), time(NULL) + 3600, nonce,
                                            nlen, &resp, &rlen), VOUCH_PKI_OK);
    st = ocsp_status(resp, rlen, leaf, CA.iss_cert, req, reqlen, &reason);
    assert_int_equal(st, V_OCSP_CERTSTATUS_REVOKED);
    assert_int_equal(reason, 4);
    OPENSSL_free(resp);
    /* unknown, without nonce (the cacheable kind) and no nextUpdate */
    a.state = VOUCH_PKI_CERT_UNKNOWN;
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, time(NULL), 0, NULL, 0, &resp, &rlen),
                     VOUCH_PKI_OK);
    st = ocsp_status(resp, rlen, leaf, CA.iss_cert, NULL, 0, &reason);
    assert_int_equal(st, V_OCSP_CERTSTATUS_UNKNOWN);
    OPENSSL_free(resp);
    /* refusals of the builder */
    a.state = VOUCH_PKI_CERT_REVOKED;
    a.reason = 7;
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, NOW, NOW + 1, NULL, 0, &resp, &rlen),
                     VOUCH_PKI_E_ARG);
    a.reason = 1;
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, NOW, NOW - 1, NULL, 0, &resp, &rlen),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 0, NOW, NOW + 1, NULL, 0, &resp, &rlen),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_ocsp_respond(&iss[1], &a, 1, NOW, NOW + 1, nonce, 0, &resp, &rlen),
                     VOUCH_PKI_E_ARG);
    assert_null(resp);
    /* issuer not in the list */
    assert_int_equal(vouch_pki_ocsp_match(vouch_pki_ocsp_request_id(r, 0), iss, 1, &idx, got, &gl),
                     VOUCH_PKI_E_NOTFOUND);
    assert_null(vouch_pki_ocsp_request_id(r, 1));
    vouch_pki_ocsp_request_free(r);
    OPENSSL_free(req);

    /* SHA-256 CertID, no nonce */
    req = ocsp_req(leaf, CA.iss_cert, EVP_sha256(), 0, &reqlen);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, reqlen, &r), VOUCH_PKI_OK);
    assert_null(vouch_pki_ocsp_request_nonce(r, &nlen));
    assert_int_equal(vouch_pki_ocsp_match(vouch_pki_ocsp_request_id(r, 0), iss, 2, &idx, got, &gl),
                     VOUCH_PKI_OK);
    assert_int_equal(idx, 1);
    vouch_pki_ocsp_request_free(r);
    /* SHA-384 CertIDs are not matched */
    OPENSSL_free(req);
    req = ocsp_req(leaf, CA.iss_cert, EVP_sha384(), 0, &reqlen);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, reqlen, &r), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_ocsp_match(vouch_pki_ocsp_request_id(r, 0), iss, 2, &idx, got, &gl),
                     VOUCH_PKI_E_NOTFOUND);
    vouch_pki_ocsp_request_free(r);

    /* malformed requests */
    assert_int_equal(vouch_pki_ocsp_request_parse(req, reqlen - 1, &r), VOUCH_PKI_E_PARSE);
    assert_null(r);
    assert_int_equal(vouch_pki_ocsp_request_parse((const uint8_t *)"\x30\x00", 2, &r),
                     VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_ocsp_request_parse((const uint8_t *)"junk", 4, &r), VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, 0, &r), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, 20000, &r), VOUCH_PKI_E_ARG);
    OPENSSL_free(req);
    {
        /* an empty request list, two nonces, an oversized nonce */
        OCSP_REQUEST *q = OCSP_REQUEST_new();
        unsigned char *d = NULL, big[200];
        int n;
        n = i2d_OCSP_REQUEST(q, &d);
        assert_int_equal(vouch_pki_ocsp_request_parse(d, (size_t)n, &r), VOUCH_PKI_E_PARSE);
        OPENSSL_free(d);
        d = NULL;
        OCSP_request_add0_id(q, OCSP_cert_to_id(NULL, leaf, CA.iss_cert));
        memset(big, 7, sizeof big);
        OCSP_request_add1_nonce(q, big, sizeof big);
        n = i2d_OCSP_REQUEST(q, &d);
        assert_int_equal(vouch_pki_ocsp_request_parse(d, (size_t)n, &r), VOUCH_PKI_E_PARSE);
        OPENSSL_free(d);
        OCSP_REQUEST_free(q);
    }
    /* error responses */
    assert_int_equal(vouch_pki_ocsp_error(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, &resp, &rlen),
                     VOUCH_PKI_OK);
    {
        const unsigned char *q = resp;
        OCSP_RESPONSE *o = d2i_OCSP_RESPONSE(NULL, &q, (long)rlen);
        assert_int_equal(OCSP_response_status(o), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
        OCSP_RESPONSE_free(o);
    }
    OPENSSL_free(resp);
    assert_int_equal(vouch_pki_ocsp_error(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &resp, &rlen),
                     VOUCH_PKI_OK);
    OPENSSL_free(resp);
    assert_int_equal(vouch_pki_ocsp_error(0, &resp, &rlen), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_pki_ocsp_error(4, &resp, &rlen), VOUCH_PKI_E_ARG);
    X509_free(leaf);
}

/* A delegated responder certificate and an external CA key. */
static void test_ocsp_delegated_external(void **state)
{
    vouch_pki_template t;
    ext_ctx e = {0};
    vouch_pki_signer *ext = NULL, *rs = NULL;
    EVP_PKEY *rk = NULL;
    X509 *responder = NULL, *leaf = NULL;
    X509_REQ *csr;
    vouch_pki_ocsp_issuer iss;
    vouch_pki_ocsp_request *r = NULL;
    vouch_pki_ocsp_single a;
    vouch_pki_issue_params p;
    uint8_t sn[16], *req, *resp = NULL;
    size_t reqlen, rlen, nlen;
    char why[128];
    int reason;

    /* the issuing CA's key, reached only through the callback */
    e.key = CA.iss_key;
    assert_int_equal(vouch_pki_signer_external(CA.iss_key, ext_cb, &e, &ext), VOUCH_PKI_OK);
    assert_int_equal(vouch_pki_template_builtin("device", &t), VOUCH_PKI_OK);
    serial_n(sn, 0x40);
    p = params(&t, sn);
    p.issuer_key = ext;
    csr = csr_make(P256, "CN=dev-2", NULL);
    assert_int_equal(vouch_pki_issue(&p, csr, &leaf, why, sizeof why), VOUCH_PKI_OK);
    X509_REQ_free(csr);
    assert_int_equal(e.calls, 1);
    assert_int_equal(chain_ok(leaf, NULL), 1);
    /* CA signs its own responses through the external signer */
    assert_int_equal(vouch_pki_ocsp_issuer_init(&iss, CA.iss_cert, ext, NULL), VOUCH_PKI_OK);
    req = ocsp_req(leaf, CA.iss_cert, NULL, 1, &reqlen);
    assert_int_equal(vouch_pki_ocsp_request_parse(req, reqlen, &r), VOUCH_PKI_OK);
    a.id = vouch_pki_ocsp_request_id(r, 0);
    a.state = VOUCH_PKI_CERT_GOOD;
    {
        const uint8_t *nonce = vouch_pki_ocsp_request_nonce(r, &nlen);
        assert_int_equal(vouch_pki_ocsp_respond(&iss, &a, 1, time(NULL), time(NULL) + 60, nonce,
                                                nlen, &resp, &rlen), VOUCH_PKI_OK);
    }
    assert_int_equal(ocsp_status(resp, rlen, leaf, CA.iss_cert, req, reqlen, &reason),
                     V_OCSP_CERTSTATUS_GOOD);
    OPENSSL_free(resp);
    /* delegated responder: OCSPSigning EKU, issued by the CA */
    {
        vouch_pki_template rt;
        static const char js[] = "{\"name\":\"ocsp-responder\",\"validity_days\":30,"
                                 "\"ext_key_usage\":[\"OCSPSigning\"]}";
        assert_int_equal(vouch_pki_template_from_json(js, sizeof js - 1, &rt, why, sizeof why),
                         VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_key_generate(VOUCH_PKI_KEY_EC_P256, &rk), VOUCH_PKI_OK);
        csr = csr_make(rk, "CN=ocsp", NULL);
        serial_n(sn, 0x41);
        p = params(&rt, sn);
        p.not_before = time(NULL) - 60; /* verified at the real time below */
        assert_int_equal(vouch_pki_issue(&p, csr, &responder, why, sizeof why), VOUCH_PKI_OK);
        X509_REQ_free(csr);
        assert_int_equal(vouch_pki_signer_from_key(rk, &rs), VOUCH_PKI_OK);
        assert_int_equal(vouch_pki_ocsp_issuer_init(&iss, CA.iss_cert, rs, responder), VOUCH_PKI_OK);
        a.state = VOUCH_PKI_CERT_REVOKED;
        a.revoked_at = time(NULL) - 5;
        a.reason = VOUCH_PKI_REASON_UNSPECIFIED;
        assert_int_equal(vouch_pki_ocsp_respond(&iss, &a, 1, time(NULL), time(NULL) + 60, NULL, 0,
                                                &resp, &rlen), VOUCH_PKI_OK);
        assert_int_equal(ocsp_status(resp, rlen, leaf, CA.iss_cert, NULL, 0, &reason),
                         V_OCSP_CERTSTATUS_REVOKED);
        assert_int_equal(reason, -1); /* unspecified: no reason given */
        OPENSSL_free(resp);
    }
    vouch_pki_ocsp_request_free(r);
    OPENSSL_free(req);
    X509_free(responder);
    X509_free(leaf);
    vouch_pki_signer_free(rs);
    vouch_pki_signer_free(ext);
    vouch_pki_key_free(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_hex),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_key_encrypt),
        cmocka_unit_test(test_external_signer),
        cmocka_unit_test(test_ca),
        cmocka_unit_test(test_template_builtins_json),
        cmocka_unit_test(test_template_json_errors),
        cmocka_unit_test(test_template_patterns_bounded),
        cmocka_unit_test(test_csr_good),
        cmocka_unit_test(test_csr_refusals),
        cmocka_unit_test(test_csr_signature_and_garbage),
        cmocka_unit_test(test_csr_fast_signature),
        cmocka_unit_test(test_csr_read_refusals),
        cmocka_unit_test(test_issue),
        cmocka_unit_test(test_issue_der),
        cmocka_unit_test(test_issue_der_refusals),
        cmocka_unit_test(test_issue_ext_cache),
        cmocka_unit_test(test_sign_cache),
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_crl_100k),
        cmocka_unit_test(test_ocsp),
        cmocka_unit_test(test_ocsp_delegated_external),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
