/*
 * CA keys: generation, PKCS#8 encryption at rest, and signers.
 *
 * An external signer (secure element, HSM) is plugged into OpenSSL's own
 * signing paths (X509_sign_ctx, X509_CRL_sign_ctx, OCSP_basic_sign_ctx)
 * through an EC_KEY whose EC_KEY_METHOD sign callbacks call the signer.
 * OpenSSL 3 treats such a key as "foreign" and routes it through the
 * legacy EC code, which calls our method with the digest it computed; all
 * ASN.1 encoding stays OpenSSL's. EC_KEY_METHOD is deprecated API, hence
 * OPENSSL_SUPPRESS_DEPRECATED in this one file.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "pki/internal.h"

#define PASS_MAX 1024
#define PEM_MAX (64 * 1024)
#define SIG_MAX 160 /* DER ECDSA-Sig-Value for P-384 is at most 104 */

struct vouch_pki_signer {
    EVP_PKEY *pub;   /* public key (the in-memory key itself, if any) */
    EVP_PKEY *sign;  /* key handed to OpenSSL: private key or proxy */
    const EVP_MD *md; /* NULL for Ed25519 */
    vouch_pki_sign_fn fn;
    void *ctx;
    EVP_MD *md_fetched; /* in-memory EC keys: md, fetched once */
    uint64_t id;        /* unique for the process's life (sign_slot's key) */
};

/* ---- keys ------------------------------------------------------------------ */

vouch_pki_rc vouch_pki_key_alg_parse(const char *name, vouch_pki_key_alg *alg)
{
    if (name == NULL || alg == NULL)
        return VOUCH_PKI_E_ARG;
    if (strcmp(name, "p256") == 0 || strcmp(name, "ec-p256") == 0 || strcmp(name, "P-256") == 0)
        *alg = VOUCH_PKI_KEY_EC_P256;
    else if (strcmp(name, "p384") == 0 || strcmp(name, "ec-p384") == 0 || strcmp(name, "P-384") == 0)
        *alg = VOUCH_PKI_KEY_EC_P384;
    else if (strcmp(name, "ed25519") == 0 || strcmp(name, "Ed25519") == 0)
        *alg = VOUCH_PKI_KEY_ED25519;
    else
        return VOUCH_PKI_E_PARSE;
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_key_generate(vouch_pki_key_alg alg, EVP_PKEY **out)
{
    if (out == NULL)
        return VOUCH_PKI_E_ARG;
    switch (alg) {
    case VOUCH_PKI_KEY_EC_P256:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case VOUCH_PKI_KEY_EC_P384:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case VOUCH_PKI_KEY_ED25519:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        *out = NULL;
        return VOUCH_PKI_E_ARG;
    }
    return *out != NULL ? VOUCH_PKI_OK : VOUCH_PKI_E_CRYPTO;
}

void vouch_pki_key_free(EVP_PKEY *key)
{
    EVP_PKEY_free(key);
}

#define CA_PASS_INFO "vouch ca key passphrase v1"

vouch_pki_rc vouch_pki_ca_passphrase(const uint8_t *master, size_t len, char *out_hex,
                                     size_t out_size)
{
    static const char hx[] = "0123456789abcdef";
    uint8_t okm[VOUCH_PKI_CA_PASS_LEN / 2];
    int ok = 0;
    if (!out_hex || out_size < VOUCH_PKI_CA_PASS_LEN + 1)
        return VOUCH_PKI_E_ARG;
    out_hex[0] = '\0';
    if (!master || len < 1 || len > PASS_MAX)
        return VOUCH_PKI_E_ARG;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kc) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)CA_PASS_INFO,
                                              sizeof CA_PASS_INFO - 1),
            OSSL_PARAM_construct_end()};
        ok = EVP_KDF_derive(kc, okm, sizeof okm, params) == 1;
    }
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    if (ok) {
        for (size_t i = 0; i < sizeof okm; i++) {
            out_hex[2 * i] = hx[okm[i] >> 4];
            out_hex[2 * i + 1] = hx[okm[i] & 15];
        }
        out_hex[VOUCH_PKI_CA_PASS_LEN] = '\0';
    }
    OPENSSL_cleanse(okm, sizeof okm);
    if (!ok) {
        ERR_clear_error();
        return VOUCH_PKI_E_CRYPTO;
    }
    return VOUCH_PKI_OK;
}

void vouch_pki_free_secret(void *p, size_t len)
{
    if (p != NULL)
        OPENSSL_clear_free(p, len);
}

/* Copies a memory BIO's contents into a NUL-terminated malloc'd string. */
static vouch_pki_rc bio_to_string(BIO *b, char **out, size_t *out_len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);

    if (n <= 0 || data == NULL)
        return VOUCH_PKI_E_CRYPTO;
    *out = OPENSSL_malloc((size_t)n + 1);
    if (*out == NULL)
        return VOUCH_PKI_E_NOMEM;
    memcpy(*out, data, (size_t)n);
    (*out)[n] = '\0';
    *out_len = (size_t)n;
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_key_encrypt(const EVP_PKEY *key, const uint8_t *pass, size_t pass_len,
                                   char **pem, size_t *pem_len)
{
    BIO *b = NULL;
    vouch_pki_rc rc = VOUCH_PKI_E_CRYPTO;

    if (pem != NULL)
        *pem = NULL;
    if (key == NULL || pass == NULL || pass_len == 0 || pass_len > PASS_MAX || pem == NULL ||
        pem_len == NULL)
        return VOUCH_PKI_E_ARG;
    /* The key is written into this BIO only encrypted, so its buffer holds
     * no secret; it is freed normally. */
    b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return VOUCH_PKI_E_NOMEM;
    /* kstr/klen is binary-safe, unlike the callback's u-as-string path */
    if (!PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(), (const char *)pass,
                                       (int)pass_len, NULL, NULL))
        goto exit;
    rc = bio_to_string(b, pem, pem_len);
exit:
    BIO_free(b);
    return rc;
}

typedef struct {
    const uint8_t *pass;
    size_t len;
    int asked;
} pass_arg;

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    pass_arg *p = u;

    p->asked = 1;
    if (size < 0 || p->len > (size_t)size)
        return -1;
    memcpy(buf, p->pass, p->len);
    return (int)p->len;
}

vouch_pki_rc vouch_pki_key_decrypt(const char *pem, size_t pem_len, const uint8_t *pass,
                                   size_t pass_len, EVP_PKEY **out)
{
    /* split so that scanners for committed private keys do not flag this
     * source file: it is the PEM label we require, not a key */
    static const char tag[] = "-----BEGIN ENCRYPTED "
                              "PRIVATE KEY-----";
    pass_arg pa = {pass, pass_len, 0};
    BIO *b = NULL;
    vouch_pki_rc rc = VOUCH_PKI_E_DECRYPT;

    if (out != NULL)
        *out = NULL;
    if (pem == NULL || pass == NULL || pass_len == 0 || pass_len > PASS_MAX || out == NULL ||
        pem_len == 0 || pem_len > PEM_MAX)
        return VOUCH_PKI_E_ARG;
    /* A plaintext key must not be accepted as "at rest": it would let a
     * swapped file bypass the master key. */
    if (memmem(pem, pem_len, tag, sizeof tag - 1) == NULL)
        return VOUCH_PKI_E_DECRYPT;
    b = BIO_new_mem_buf(pem, (int)pem_len);
    if (b == NULL)
        return VOUCH_PKI_E_NOMEM;
    *out = PEM_read_bio_PrivateKey(b, NULL, pass_cb, &pa);
    if (*out == NULL || !pa.asked) {
        EVP_PKEY_free(*out);
        *out = NULL;
        goto exit;
    }
    rc = VOUCH_PKI_OK;
exit:
    ERR_clear_error();
    BIO_free(b);
    return rc;
}

void vouch_pki_key_describe(const EVP_PKEY *key, char *out, size_t out_size)
{
    char group[64] = "";
    size_t glen = 0;

    if (out == NULL || out_size == 0)
        return;
    if (key == NULL) {
        snprintf(out, out_size, "none");
        return;
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, &glen))
            snprintf(group, sizeof group, "unknown");
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            snprintf(out, out_size, "ec-p256");
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            snprintf(out, out_size, "ec-p384");
        else
            snprintf(out, out_size, "ec-%s", group);
        break;
    case EVP_PKEY_ED25519: snprintf(out, out_size, "ed25519"); break;
    case EVP_PKEY_ED448: snprintf(out, out_size, "ed448"); break;
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: snprintf(out, out_size, "rsa-%d", EVP_PKEY_get_bits(key)); break;
    case EVP_PKEY_DSA: snprintf(out, out_size, "dsa-%d", EVP_PKEY_get_bits(key)); break;
    default: snprintf(out, out_size, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(key))); break;
    }
}

/* ---- signers ----------------------------------------------------------------- */

/* The digest that goes with the key: SHA-256 for P-256, SHA-384 for P-384
 * (the usual pairing, RFC 5480 section 4), none for Ed25519. 0 if the key
 * is not one a CA may use. */
static int key_md(const EVP_PKEY *key, const EVP_MD **md)
{
    char d[16];

    vouch_pki_key_describe(key, d, sizeof d);
    if (strcmp(d, "ec-p256") == 0)
        *md = EVP_sha256();
    else if (strcmp(d, "ec-p384") == 0)
        *md = EVP_sha384();
    else if (strcmp(d, "ed25519") == 0)
        *md = NULL;
    else
        return 0;
    return 1;
}

static uint64_t signer_ids; /* the last id given, atomic */

vouch_pki_rc vouch_pki_signer_from_key(EVP_PKEY *key, vouch_pki_signer **out)
{
    vouch_pki_signer *s;

    if (out != NULL)
        *out = NULL;
    if (key == NULL || out == NULL)
        return VOUCH_PKI_E_ARG;
    s = OPENSSL_zalloc(sizeof *s);
    if (s == NULL)
        return VOUCH_PKI_E_NOMEM;
    if (!key_md(key, &s->md)) {
        OPENSSL_free(s);
        return VOUCH_PKI_E_ARG;
    }
    if (s->md != NULL &&
        (s->md_fetched = EVP_MD_fetch(NULL, EVP_MD_get0_name(s->md), NULL)) == NULL) {
        OPENSSL_free(s);
        return VOUCH_PKI_E_CRYPTO;
    }
    s->id = __atomic_add_fetch(&signer_ids, 1, __ATOMIC_RELAXED);
    EVP_PKEY_up_ref(key);
    EVP_PKEY_up_ref(key);
    s->pub = key;
    s->sign = key;
    *out = s;
    return VOUCH_PKI_OK;
}

static CRYPTO_ONCE method_once = CRYPTO_ONCE_STATIC_INIT;
static EC_KEY_METHOD *ext_method;
static int ext_index = -1;

/* Calls the external signer and checks its answer before OpenSSL uses it. */
static ECDSA_SIG *ext_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                               const BIGNUM *r, EC_KEY *eckey)
{
    const vouch_pki_signer *s = EC_KEY_get_ex_data(eckey, ext_index);
    uint8_t sig[SIG_MAX];
    size_t sig_len = 0;
    const unsigned char *p = sig;
    ECDSA_SIG *es = NULL;

    if (s == NULL || s->fn == NULL || dgst == NULL || dlen <= 0)
        return NULL;
    if (s->fn(s->ctx, dgst, (size_t)dlen, sig, sizeof sig, &sig_len) != 0 || sig_len == 0 ||
        sig_len > sizeof sig)
        return NULL;
    es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
    /* trailing bytes or a signature that does not verify: a faulty or
     * hostile signer must not produce a certificate that fails later */
    if (es == NULL || p != sig + sig_len || ECDSA_do_verify(dgst, dlen, es, eckey) != 1) {
        ECDSA_SIG_free(es);
        return NULL;
    }
    return es;
}

static int ext_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
                    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
    ECDSA_SIG *es = ext_sign_sig(dgst, dlen, kinv, r, eckey);
    unsigned char *p = sig;
    int n;

    *siglen = 0;
    if (es == NULL)
        return 0;
    /* OpenSSL sized sig with ECDSA_size(), which bounds any DER signature
     * for this group */
    n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (n <= 0 || n > ECDSA_size(eckey))
        return 0;
    *siglen = (unsigned int)n;
    return 1;
}

static void method_init(void)
{
    EC_KEY_METHOD *m = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    if (m == NULL)
        return;
    EC_KEY_METHOD_set_sign(m, ext_sign, NULL, ext_sign_sig);
    ext_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (ext_index < 0) {
        EC_KEY_METHOD_free(m);
        return;
    }
    ext_method = m;
}

/* A legacy EC_KEY carrying pub's public point, our method, and s. */
static EVP_PKEY *proxy_key(EVP_PKEY *pub, vouch_pki_signer *s)
{
    EC_KEY *ec = NULL;
    EVP_PKEY *pk = NULL;

    ec = EVP_PKEY_get1_EC_KEY(pub); /* a copy: the caller's key is untouched */
    if (ec == NULL)
        goto fail;
    if (!EC_KEY_set_method(ec, ext_method) || !EC_KEY_set_ex_data(ec, ext_index, s))
        goto fail;
    pk = EVP_PKEY_new();
    if (pk == NULL || !EVP_PKEY_assign_EC_KEY(pk, ec))
        goto fail;
    return pk;
fail:
    EC_KEY_free(ec);
    EVP_PKEY_free(pk);
    return NULL;
}

vouch_pki_rc vouch_pki_signer_external(EVP_PKEY *pub, vouch_pki_sign_fn fn, void *ctx,
                                       vouch_pki_signer **out)
{
    vouch_pki_signer *s;

    if (out != NULL)
        *out = NULL;
    if (pub == NULL || fn == NULL || out == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC)
        return VOUCH_PKI_E_ARG;
    if (!CRYPTO_THREAD_run_once(&method_once, method_init) || ext_method == NULL)
        return VOUCH_PKI_E_CRYPTO;
    s = OPENSSL_zalloc(sizeof *s);
    if (s == NULL)
        return VOUCH_PKI_E_NOMEM;
    if (!key_md(pub, &s->md) || s->md == NULL) {
        OPENSSL_free(s);
        return VOUCH_PKI_E_ARG;
    }
    s->fn = fn;
    s->ctx = ctx;
    s->sign = proxy_key(pub, s);
    if (s->sign == NULL) {
        OPENSSL_free(s);
        return VOUCH_PKI_E_CRYPTO;
    }
    EVP_PKEY_up_ref(pub);
    s->pub = pub;
    *out = s;
    return VOUCH_PKI_OK;
}

void vouch_pki_signer_free(vouch_pki_signer *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->sign);
    EVP_PKEY_free(s->pub);
    EVP_MD_free(s->md_fetched);
    OPENSSL_clear_free(s, sizeof *s);
}

EVP_PKEY *vouch_pki_signer_public(const vouch_pki_signer *s)
{
    return s != NULL ? s->pub : NULL;
}

EVP_MD_CTX *pki_signer_ctx(const vouch_pki_signer *s)
{
    EVP_MD_CTX *ctx;

    if (s == NULL)
        return NULL;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return NULL;
    if (EVP_DigestSignInit(ctx, NULL, s->md, NULL, s->sign) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Maps a signing failure to E_SIGNER for external signers. */
static vouch_pki_rc sign_fail(const vouch_pki_signer *s)
{
    ERR_clear_error();
    return s->fn != NULL ? VOUCH_PKI_E_SIGNER : VOUCH_PKI_E_CRYPTO;
}

int pki_signer_algor(const vouch_pki_signer *s, X509_ALGOR *alg)
{
    int nid = NID_ED25519;

    if (s == NULL || alg == NULL)
        return 0;
    if (s->md != NULL &&
        !OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(s->md), EVP_PKEY_get_base_id(s->pub)))
        return 0;
    /* ecdsa-with-SHA* and Ed25519 take no parameters (RFC 5758 3.2,
     * RFC 8410 3), as X509_sign writes them */
    return X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL);
}

/*
 * Signing with an in-memory EC key: EVP_DigestSignInit fetches the
 * algorithm and builds a context for every signature, a tenth of the cost
 * of a certificate's signature here. Instead each thread keeps one
 * EVP_PKEY_CTX initialised for signing with the last such signer it used
 * (the context holds its own reference to the key), keyed by the signer's
 * id, which no other signer ever gets, so a freed signer's context can
 * never sign for a new one at the same address. The digest is taken apart
 * with the MD fetched when the signer was made. Freed when the thread
 * exits (and by pki_sign_cache_free). A freed signer's key therefore stays
 * in memory until each thread that signed with it signs with another
 * signer or exits; OpenSSL clears it when the last reference goes.
 */
typedef struct {
    uint64_t id;
    EVP_PKEY_CTX *pctx;
} sign_slot;

static void sign_slot_destroy(void *p)
{
    sign_slot *sl = p;
    if (sl != NULL)
        EVP_PKEY_CTX_free(sl->pctx);
    free(sl);
}

static pki_tls sign_tls = PKI_TLS_INIT(sign_slot_destroy);

void pki_sign_cache_free(void)
{
    pki_tls_release(&sign_tls);
}

/* This thread's signing context for s (in-memory EC), or NULL. */
static EVP_PKEY_CTX *sign_ctx(const vouch_pki_signer *s)
{
    sign_slot *sl = pki_tls_get(&sign_tls, sizeof *sl);
    if (sl == NULL)
        return NULL;
    if (sl->pctx != NULL && sl->id == s->id)
        return sl->pctx;
    EVP_PKEY_CTX_free(sl->pctx);
    sl->id = 0;
    if ((sl->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->sign, NULL)) == NULL ||
        EVP_PKEY_sign_init(sl->pctx) != 1) {
        EVP_PKEY_CTX_free(sl->pctx);
        sl->pctx = NULL;
        ERR_clear_error();
        return NULL;
    }
    sl->id = s->id;
    return sl->pctx;
}

/* Forgets this thread's signing context (after a failure with it). */
static void sign_ctx_drop(void)
{
    sign_slot *sl = pki_tls_get(&sign_tls, sizeof *sl);
    if (sl != NULL) {
        EVP_PKEY_CTX_free(sl->pctx);
        sl->pctx = NULL;
        sl->id = 0;
    }
}

/* In-memory EC key: digest, then sign with the thread's context. 1 done
 * (*buf, *sl), 0 failed, -2 out of memory, -1 not applicable (use the
 * general path). */
static int sign_ec_fast(const vouch_pki_signer *s, const unsigned char *tbs, size_t len,
                        unsigned char **buf, size_t *sl)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_PKEY_CTX *pc;
    int max;

    if (s->fn != NULL || s->md_fetched == NULL || (pc = sign_ctx(s)) == NULL ||
        (max = EVP_PKEY_get_size(s->sign)) <= 0)
        return -1;
    if (EVP_Digest(tbs, len, d, &dl, s->md_fetched, NULL) != 1)
        return 0;
    if ((*buf = OPENSSL_malloc((size_t)max)) == NULL)
        return -2;
    *sl = (size_t)max;
    if (EVP_PKEY_sign(pc, *buf, sl, d, dl) != 1 || *sl == 0 || *sl > (size_t)max) {
        OPENSSL_free(*buf);
        *buf = NULL;
        sign_ctx_drop();
        return 0;
    }
    return 1;
}

/* The signature as a BIT STRING with no unused bits. */
static void set_sig(ASN1_BIT_STRING *sig, unsigned char *buf, size_t sl)
{
    ASN1_STRING_set0(sig, buf, (int)sl);
    /* the whole octets are the signature: no unused bits, whatever the
     * last byte's low bits are (what ASN1_item_sign does) */
    sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
}

vouch_pki_rc pki_sign_bytes(const vouch_pki_signer *s, const unsigned char *tbs, size_t len,
                            ASN1_BIT_STRING *sig)
{
    EVP_MD_CTX *ctx;
    unsigned char *buf = NULL;
    size_t sl = 0;
    int ok;

    if (s == NULL || tbs == NULL || sig == NULL)
        return VOUCH_PKI_E_ARG;
    switch (sign_ec_fast(s, tbs, len, &buf, &sl)) {
    case 1:
        set_sig(sig, buf, sl);
        return VOUCH_PKI_OK;
    case 0:
        return sign_fail(s);
    case -2:
        return VOUCH_PKI_E_NOMEM;
    default:
        break;
    }
    if ((ctx = pki_signer_ctx(s)) == NULL)
        return VOUCH_PKI_E_CRYPTO;
    /* the first call gives the largest signature size */
    ok = EVP_DigestSign(ctx, NULL, &sl, tbs, len) == 1 && sl > 0 && sl <= INT_MAX;
    if (ok && (buf = OPENSSL_malloc(sl)) == NULL) {
        EVP_MD_CTX_free(ctx);
        return VOUCH_PKI_E_NOMEM;
    }
    ok = ok && EVP_DigestSign(ctx, buf, &sl, tbs, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        OPENSSL_free(buf);
        return sign_fail(s);
    }
    set_sig(sig, buf, sl);
    return VOUCH_PKI_OK;
}

vouch_pki_rc vouch_pki_sign_cert(const vouch_pki_signer *s, X509 *cert)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (s == NULL || cert == NULL)
        return VOUCH_PKI_E_ARG;
    ctx = pki_signer_ctx(s);
    if (ctx == NULL)
        return VOUCH_PKI_E_CRYPTO;
    ok = X509_sign_ctx(cert, ctx) > 0;
    EVP_MD_CTX_free(ctx);
    return ok ? VOUCH_PKI_OK : sign_fail(s);
}

vouch_pki_rc vouch_pki_sign_crl(const vouch_pki_signer *s, X509_CRL *crl)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (s == NULL || crl == NULL)
        return VOUCH_PKI_E_ARG;
    ctx = pki_signer_ctx(s);
    if (ctx == NULL)
        return VOUCH_PKI_E_CRYPTO;
    ok = X509_CRL_sign_ctx(crl, ctx) > 0;
    EVP_MD_CTX_free(ctx);
    return ok ? VOUCH_PKI_OK : sign_fail(s);
}

vouch_pki_rc vouch_pki_sign_req(const vouch_pki_signer *s, X509_REQ *req)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (s == NULL || req == NULL)
        return VOUCH_PKI_E_ARG;
    ctx = pki_signer_ctx(s);
    if (ctx == NULL)
        return VOUCH_PKI_E_CRYPTO;
    ok = X509_REQ_sign_ctx(req, ctx) > 0;
    EVP_MD_CTX_free(ctx);
    return ok ? VOUCH_PKI_OK : sign_fail(s);
}

vouch_pki_rc vouch_pki_sign_ocsp(const vouch_pki_signer *s, OCSP_BASICRESP *br,
                                 X509 *signer_cert, STACK_OF(X509) *extra, unsigned long flags)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (s == NULL || br == NULL || signer_cert == NULL)
        return VOUCH_PKI_E_ARG;
    ctx = pki_signer_ctx(s);
    if (ctx == NULL)
        return VOUCH_PKI_E_CRYPTO;
    ok = OCSP_basic_sign_ctx(br, signer_cert, ctx, extra, flags) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? VOUCH_PKI_OK : sign_fail(s);
}
