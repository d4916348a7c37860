/*
 * Unit tests of the firmware image layer (fw/image.c, fw/verify.c) and of
 * the host-side builder (fw/sign.c): images in MCUboot's layout signed with
 * P-256 and Ed25519, parsed and verified as a device would.
 *
 *  - positive cases over algorithm x vendor/class x header size x payload
 *    size, through the buffer call and through a reader with small chunks;
 *  - every header field broken; the TLV areas broken (info magic, totals,
 *    lengths, duplicates, misplaced and unknown TLVs, ECDSA DER that is not
 *    strict); tampering (payload, header, header padding, protected TLVs)
 *    gives E_HASH; key, revocation, rollback, vendor, class and algorithm
 *    refusals; truncation at every length; every single-bit flip refused;
 *    reader failures;
 *  - known answers: key hash = SHA-256 of OpenSSL's i2d_PUBKEY, UUIDv5 as
 *    Python's uuid module computes it, version parse and print;
 *  - the pinned vectors of tests/vectors/fw (README.md there): ed25519.img
 *    rebuilt byte for byte, p256.img equal but for its signature, and every
 *    broken vector of broken/MANIFEST refused with its code.
 *
 * Images for the TLV cases are assembled here field by field (raw_build),
 * independently of fw/sign.c, and signed for real, so each case breaks one
 * thing only and the code it gets is the one that thing must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <vouch/fw.h>

#include "fw/sign.h"

#ifndef VOUCH_FW_VECTORS
#error "VOUCH_FW_VECTORS must name tests/vectors/fw"
#endif

#define FW(c) VOUCH_RC(VOUCH_LAYER_FW, (c))
#define API_ARG VOUCH_RC(VOUCH_LAYER_API, VOUCH_E_ARG)
#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const vouch_crypto_port *port;

/* ======================= keys ================================================ */

typedef struct tkey {
    EVP_PKEY *pk;
    uint8_t alg;
    uint8_t pub[65];
    size_t publen;
    vouch_fw_key fk; /* as a policy entry */
} tkey;

static tkey kp, ke, kp2, ke2; /* P-256, Ed25519, and a second of each */

static void key_fill(tkey *k, EVP_PKEY *pk)
{
    memset(k, 0, sizeof *k);
    k->pk = pk;
    assert_non_null(pk);
    assert_int_equal(vouch_fw_pub_raw(pk, &k->alg, k->pub, &k->publen), 0);
    k->fk.alg = k->alg;
    memcpy(k->fk.pub, k->pub, k->publen);
    assert_int_equal(vouch_fw_keyhash(port, k->alg, k->pub, k->publen, k->fk.keyhash),
                     VOUCH_OK);
}

static EVP_PKEY *read_pem(const char *name, int priv)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", VOUCH_FW_VECTORS, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    EVP_PKEY *pk = priv ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                        : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!pk)
        fail_msg("%s is not a PEM %s key", path, priv ? "private" : "public");
    return pk;
}

static uint8_t *read_file(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", VOUCH_FW_VECTORS, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int setup(void **state)
{
    (void)state;
    port = vouch_port_openssl();
    key_fill(&kp, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
    key_fill(&kp2, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
    key_fill(&ke, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
    key_fill(&ke2, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(kp.pk);
    EVP_PKEY_free(kp2.pk);
    EVP_PKEY_free(ke.pk);
    EVP_PKEY_free(ke2.pk);
    return 0;
}

/* ======================= helpers ============================================== */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static const uint8_t VID[16] = {0x06, 0x37, 0xe3, 0x01, 0xe0, 0x5d, 0x50, 0x5b,
                                0x82, 0x67, 0x48, 0x6f, 0x56, 0x77, 0xde, 0x9b};
static const uint8_t CID[16] = {0x8c, 0x13, 0xb2, 0x4c, 0x9c, 0x13, 0x5e, 0x39,
                                0x8f, 0x9b, 0x89, 0xf4, 0x93, 0xb5, 0xa8, 0xa0};

static uint8_t payload[1001];
static void payload_fill(void)
{
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(((i * 37 + 11) ^ (i >> 8)) & 0xff);
}

/* An image through fw/sign.c. */
static uint8_t *sign_img(const tkey *k, const uint8_t *pl, size_t plen,
                         const vouch_fw_sign_opts *o, size_t *len)
{
    uint8_t *img = NULL;
    char err[200] = "";
    if (vouch_fw_build(pl, plen, o, k->alg, k->pub, k->publen, vouch_fw_sign_evp, k->pk, &img,
                       len, err, sizeof err) != 0)
        fail_msg("vouch_fw_build: %s", err);
    return img;
}

static vouch_fw_sign_opts opts(uint32_t sec, const uint8_t *vid, const uint8_t *cid,
                               uint16_t hdr)
{
    vouch_fw_sign_opts o;
    memset(&o, 0, sizeof o);
    o.version = (vouch_fw_version){1, 2, 3, 4};
    o.has_sec_cnt = 1;
    o.sec_cnt = sec;
    o.vid = vid;
    o.cid = cid;
    o.hdr_size = hdr;
    return o;
}

static vouch_fw_policy pol_of(const vouch_fw_key *keys, size_t n)
{
    vouch_fw_policy p;
    memset(&p, 0, sizeof p);
    p.keys = keys;
    p.nkeys = n;
    return p;
}

static vouch_rc verify(const uint8_t *img, size_t len, const vouch_fw_policy *pol)
{
    vouch_fw_result res;
    return vouch_fw_verify_buf(img, len, port, pol, &res);
}

static vouch_rc verify_key(const uint8_t *img, size_t len, const tkey *k)
{
    vouch_fw_policy p = pol_of(&k->fk, 1);
    return verify(img, len, &p);
}

static vouch_rc parse(const uint8_t *img, size_t len)
{
    vouch_fw_image im;
    return vouch_fw_parse_buf(img, len, port, &im);
}

#define assert_rc(got, want)                                                              \
    do {                                                                                  \
        vouch_rc got_ = (got), want_ = (want);                                            \
        if (got_ != want_)                                                                \
            fail_msg("%s: got %#x (%s), want %#x (%s)", #got, got_, vouch_fw_strerror(got_), \
                     want_, vouch_fw_strerror(want_));                                    \
    } while (0)

/* ---- raw images, assembled field by field ---------------------------------- */

typedef struct raw {
    uint32_t magic;    /* 0: VOUCH_FW_MAGIC */
    uint16_t hdr_size; /* 0: 32 */
    uint32_t flags;
    const uint8_t *pl;
    size_t plen;
    uint8_t prot[2100]; /* protected TLVs, without the info */
    size_t nprot;
    int prot_info; /* write the protected info even with no TLV */
    uint8_t pre[512];  /* unprotected TLVs before the SHA-256 */
    size_t npre;
    uint8_t post[512]; /* after the signature */
    size_t npost;
    int no_sha, no_keyhash, no_sig;
    uint16_t sig_type;      /* 0: the key's */
    const uint8_t *sig;     /* the signature TLV's value instead of a real one */
    size_t sig_len;
    const uint8_t *keyhash; /* instead of the key's */
} raw;

static void tlv_add(uint8_t *buf, size_t *n, size_t cap, uint16_t type, const void *v,
                    size_t len)
{
    assert_true(*n + 4 + len <= cap);
    put16(buf + *n, type);
    put16(buf + *n + 2, (uint16_t)len);
    if (len)
        memcpy(buf + *n + 4, v, len);
    *n += 4 + len;
}
#define PROT(r, type, v, len) tlv_add((r)->prot, &(r)->nprot, sizeof (r)->prot, type, v, len)
#define PRE(r, type, v, len) tlv_add((r)->pre, &(r)->npre, sizeof (r)->pre, type, v, len)
#define POST(r, type, v, len) tlv_add((r)->post, &(r)->npost, sizeof (r)->post, type, v, len)

static void raw_init(raw *r)
{
    memset(r, 0, sizeof *r);
    r->pl = payload;
    r->plen = 100;
}

static void prot_sec(raw *r, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    PROT(r, VOUCH_FW_TLV_SEC_CNT, b, 4);
}

/* header | payload | [prot info | prot] | info | pre | SHA | keyhash | sig | post */
static uint8_t *raw_build(const raw *r, const tkey *k, size_t *out_len)
{
    uint16_t hdr = r->hdr_size ? r->hdr_size : 32;
    size_t np = (r->nprot || r->prot_info) ? 4 + r->nprot : 0;
    size_t cap = hdr + r->plen + np + 4 + sizeof r->pre + 200 + sizeof r->post;
    uint8_t *b = calloc(1, cap), hash[32], sig[80];
    size_t n, sl = 0, u;
    assert_non_null(b);
    put32(b, r->magic ? r->magic : VOUCH_FW_MAGIC);
    put32(b + 4, 0x1000);
    put16(b + 8, hdr);
    put16(b + 10, (uint16_t)np);
    put32(b + 12, (uint32_t)r->plen);
    put32(b + 16, r->flags);
    b[20] = 1, b[21] = 2;
    put16(b + 22, 3);
    put32(b + 24, 4);
    memcpy(b + hdr, r->pl, r->plen);
    n = hdr + r->plen;
    if (np) {
        put16(b + n, VOUCH_FW_TLV_PROT_MAGIC);
        put16(b + n + 2, (uint16_t)np);
        memcpy(b + n + 4, r->prot, r->nprot);
        n += np;
    }
    SHA256(b, n, hash);
    if (r->sig) {
        memcpy(sig, r->sig, r->sig_len);
        sl = r->sig_len;
    } else {
        assert_int_equal(vouch_fw_sign_evp(k->pk, hash, sig, sizeof sig, &sl), 0);
    }
    u = n;
    n += 4;
    memcpy(b + n, r->pre, r->npre);
    n += r->npre;
    if (!r->no_sha)
        tlv_add(b, &n, cap, VOUCH_FW_TLV_SHA256, hash, 32);
    if (!r->no_keyhash)
        tlv_add(b, &n, cap, VOUCH_FW_TLV_KEYHASH, r->keyhash ? r->keyhash : k->fk.keyhash, 32);
    if (!r->no_sig)
        tlv_add(b, &n, cap, r->sig_type ? r->sig_type
                            : k->alg == VOUCH_SE_ALG_P256 ? VOUCH_FW_TLV_ECDSA_SIG
                                                          : VOUCH_FW_TLV_ED25519,
                sig, sl);
    memcpy(b + n, r->post, r->npost);
    n += r->npost;
    put16(b + u, VOUCH_FW_TLV_INFO_MAGIC);
    put16(b + u + 2, (uint16_t)(n - u));
    *out_len = n;
    return b;
}

static vouch_rc raw_verify(const raw *r, const tkey *k)
{
    size_t len;
    uint8_t *img = raw_build(r, k, &len);
    vouch_rc rc = verify_key(img, len, k);
    free(img);
    return rc;
}

/* ======================= known answers ========================================= */

static void keyhash_is_sha256_of_spki(const tkey *k)
{
    uint8_t *der = NULL, want[32], got[32];
    int n = i2d_PUBKEY(k->pk, &der);
    assert_true(n > 0);
    SHA256(der, (size_t)n, want);
    OPENSSL_free(der);
    assert_rc(vouch_fw_keyhash(port, k->alg, k->pub, k->publen, got), VOUCH_OK);
    assert_memory_equal(got, want, 32);
    assert_memory_equal(k->fk.keyhash, want, 32);
}

static void known_keyhash(void **state)
{
    (void)state;
    keyhash_is_sha256_of_spki(&kp);
    keyhash_is_sha256_of_spki(&ke);
    /* the pinned keys, private and public PEM, give the same */
    const char *names[] = {"p256.key", "p256.pub", "ed25519.key", "ed25519.pub"};
    uint8_t first[32];
    for (size_t i = 0; i < N_ELEM(names); i++) {
        tkey k;
        key_fill(&k, read_pem(names[i], i % 2 == 0));
        keyhash_is_sha256_of_spki(&k);
        if (i % 2 == 0)
            memcpy(first, k.fk.keyhash, 32);
        else
            assert_memory_equal(first, k.fk.keyhash, 32);
        EVP_PKEY_free(k.pk);
    }
    /* refusals */
    uint8_t out[32], pub[65];
    memcpy(pub, kp.pub, 65);
    pub[0] = 0x02; /* compressed points are not what the TLV hashes */
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_P256, pub, 65, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_P256, kp.pub, 64, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_P256, ke.pub, 32, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_ED25519, ke.pub, 31, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_ED25519, kp.pub, 65, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_X25519, ke.pub, 32, out), API_ARG);
    assert_rc(vouch_fw_keyhash(NULL, VOUCH_SE_ALG_ED25519, ke.pub, 32, out), API_ARG);
    assert_rc(vouch_fw_keyhash(port, VOUCH_SE_ALG_ED25519, NULL, 32, out), API_ARG);
}

/* Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'acme.example') and uuid5(that, 'meter') */
static void known_uuid(void **state)
{
    (void)state;
    uint8_t v[16], c[16], u[16];
    char s[40];
    assert_int_equal(vouch_fw_uuid_arg("acme.example", NULL, v), 0);
    assert_memory_equal(v, VID, 16);
    vouch_fw_uuid_str(v, s, sizeof s);
    assert_string_equal(s, "0637e301-e05d-505b-8267-486f5677de9b");
    assert_int_equal(vouch_fw_uuid_arg("meter", v, c), 0);
    assert_memory_equal(c, CID, 16);
    vouch_fw_uuid_str(c, s, sizeof s);
    assert_string_equal(s, "8c13b24c-9c13-5e39-8f9b-89f493b5a8a0");
    /* uuid5(NAMESPACE_DNS, 'other.example') */
    assert_int_equal(vouch_fw_uuid_arg("other.example", NULL, u), 0);
    vouch_fw_uuid_str(u, s, sizeof s);
    assert_string_equal(s, "b1cf18ed-a476-5df4-b67c-e3cca049af6d");
    /* a UUID in text form is taken as it is, in either case */
    assert_int_equal(vouch_fw_uuid_arg("0637e301-e05d-505b-8267-486f5677de9b", NULL, u), 0);
    assert_memory_equal(u, VID, 16);
    assert_int_equal(vouch_fw_uuid_arg("8C13B24C-9C13-5E39-8F9B-89F493B5A8A0", v, u), 0);
    assert_memory_equal(u, CID, 16);
    /* almost a UUID: a name */
    assert_int_equal(vouch_fw_uuid_arg("0637e301-e05d-505b-8267-486f5677de9", NULL, u), 0);
    assert_memory_not_equal(u, VID, 16);
    assert_int_equal(u[6] >> 4, 5);
    assert_int_equal(u[8] & 0xC0, 0x80);
    assert_int_equal(vouch_fw_uuid_arg("0637e301-e05d-505b-8267-486f5677de9g", NULL, u), 0);
    assert_int_equal(u[6] >> 4, 5);
    assert_int_equal(vouch_fw_uuid_arg("", NULL, u), -1);
    assert_int_equal(vouch_fw_uuid_arg(NULL, NULL, u), -1);
}

static void known_version(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        vouch_fw_version v;
        const char *print;
    } good[] = {
        {"1.2.3+4", {1, 2, 3, 4}, "1.2.3+4"},
        {"1.2.3", {1, 2, 3, 0}, "1.2.3"},
        {"1.2.3.4", {1, 2, 3, 4}, "1.2.3+4"},
        {"0.0.0", {0, 0, 0, 0}, "0.0.0"},
        {"0.0.0+0", {0, 0, 0, 0}, "0.0.0"},
        {"1", {1, 0, 0, 0}, "1.0.0"},
        {"1.2", {1, 2, 0, 0}, "1.2.0"},
        {"255.255.65535+4294967295", {255, 255, 65535, 4294967295u}, "255.255.65535+4294967295"},
        {"007.08.0009", {7, 8, 9, 0}, "7.8.9"},
    };
    static const char *bad[] = {
        "", "+1", ".1", "1.", "1.2.", "1.2.3+", "1.2.3.", "1..3", "256.0.0", "0.256.0",
        "0.0.65536", "0.0.0+4294967296", "1.2.3-rc1", "a.b.c", "1.2.3 ", " 1.2.3", "-1.2.3",
        "1.2.3+4+5", "1.2.3.4.5", "1.2.3+0x10", "99999999999999999999.0.0", "1,2,3",
    };
    for (size_t i = 0; i < N_ELEM(good); i++) {
        vouch_fw_version v;
        char out[32];
        memset(&v, 0xAA, sizeof v);
        if (vouch_fw_version_parse(good[i].s, &v) != 0)
            fail_msg("'%s' refused", good[i].s);
        assert_int_equal(v.major, good[i].v.major);
        assert_int_equal(v.minor, good[i].v.minor);
        assert_int_equal(v.revision, good[i].v.revision);
        assert_int_equal(v.build, good[i].v.build);
        vouch_fw_version_str(&v, out, sizeof out);
        assert_string_equal(out, good[i].print);
    }
    for (size_t i = 0; i < N_ELEM(bad); i++) {
        vouch_fw_version v = {9, 9, 9, 9};
        if (vouch_fw_version_parse(bad[i], &v) == 0)
            fail_msg("'%s' accepted", bad[i]);
        /* a refusal leaves the output alone */
        assert_int_equal(v.major, 9);
        assert_int_equal(v.build, 9);
    }
    vouch_fw_version v;
    assert_int_equal(vouch_fw_version_parse(NULL, &v), -1);
    assert_int_equal(vouch_fw_version_parse("1.2.3", NULL), -1);
    /* the longest version is 24 characters and needs 25 bytes */
    char out[25];
    vouch_fw_version max = {255, 255, 65535, 4294967295u};
    vouch_fw_version_str(&max, out, sizeof out);
    assert_int_equal(strlen(out), 24);
    /* a short buffer truncates, terminated */
    char small[6];
    vouch_fw_version_str(&max, small, sizeof small);
    assert_string_equal(small, "255.2");
    vouch_fw_version_str(&max, NULL, 0);
}

static void strerror_words(void **state)
{
    (void)state;
    for (unsigned c = VOUCH_FW_E_MAGIC; c <= VOUCH_FW_E_CHECK; c++) {
        const char *m = vouch_fw_strerror(FW(c));
        assert_non_null(m);
        assert_true(strlen(m) > 8);
        assert_null(strstr(m, "unknown"));
    }
    assert_string_equal(vouch_fw_strerror(FW(99)), "firmware: unknown error");
    assert_string_equal(vouch_fw_strerror(FW(0)), "firmware: unknown error");
    assert_non_null(vouch_fw_strerror(API_ARG));
}

/* ======================= positive cases ======================================== */

typedef struct file_rd {
    const uint8_t *p;
    size_t len;
    int calls;
    int fail_at; /* fail the n-th call (1-based); 0 never */
    uint32_t max_len;
} file_rd;

static int rd_fn(void *ctx, uint32_t off, uint8_t *buf, size_t len)
{
    file_rd *r = ctx;
    r->calls++;
    if (r->fail_at && r->calls == r->fail_at)
        return -1;
    if (len > r->max_len)
        r->max_len = (uint32_t)len;
    if ((size_t)off > r->len || len > r->len - off)
        return -1;
    memcpy(buf, r->p + off, len);
    return 0;
}

static void check_good(const tkey *k, size_t plen, const uint8_t *vid, const uint8_t *cid,
                       uint16_t hdr)
{
    vouch_fw_sign_opts o = opts(42, vid, cid, hdr);
    size_t len, i;
    uint8_t *img = sign_img(k, payload, plen, &o, &len);
    vouch_fw_image im;
    vouch_fw_result res;
    uint16_t h = hdr ? hdr : 32;

    /* layout */
    assert_rc(vouch_fw_parse_buf(img, len, port, &im), VOUCH_OK);
    assert_int_equal(im.hdr_size, h);
    assert_int_equal(im.img_size, plen);
    assert_int_equal(im.flags, 0);
    assert_int_equal(im.prot_off, h + plen);
    assert_int_equal(im.prot_size, 4 + 8 + (vid ? 20 : 0) + (cid ? 20 : 0));
    assert_int_equal(im.tlv_off, im.prot_off + im.prot_size);
    assert_int_equal(im.total, len);
    assert_int_equal(im.tlv_off + im.tlv_size, len);
    assert_int_equal(im.version.major, 1);
    assert_int_equal(im.version.minor, 2);
    assert_int_equal(im.version.revision, 3);
    assert_int_equal(im.version.build, 4);
    assert_true(im.has_sec_cnt);
    assert_int_equal(im.sec_cnt, 42);
    assert_int_equal(im.has_vid, vid != NULL);
    assert_int_equal(im.has_cid, cid != NULL);
    if (vid)
        assert_memory_equal(im.vid, vid, 16);
    if (cid)
        assert_memory_equal(im.cid, cid, 16);
    assert_true(im.has_hash && im.has_keyhash);
    assert_memory_equal(im.keyhash, k->fk.keyhash, 32);
    assert_int_equal(im.sig_alg, k->alg);
    for (i = h > 32 ? 32 : h; i < h; i++)
        assert_int_equal(img[i], 0); /* header padding */
    if (plen)
        assert_memory_equal(img + h, payload, plen);
    if (k->alg == VOUCH_SE_ALG_ED25519)
        assert_int_equal(im.tlv_size, 4 + 36 + 36 + 68);
    else
        assert_int_equal(im.tlv_size, 4 + 36 + 36 + 4 + im.sig_der_len);

    /* verify, with the policy asking for what the image has */
    vouch_fw_key keys[3] = {kp2.fk, ke2.fk, k->fk}; /* found among others */
    vouch_fw_policy p = pol_of(keys, 3);
    p.min_sec_cnt = 42;
    p.vid = vid;
    p.cid = cid;
    assert_rc(vouch_fw_verify_buf(img, len, port, &p, &res), VOUCH_OK);
    assert_ptr_equal(res.key, &keys[2]);
    assert_memory_equal(res.hash, im.hash, 32);
    uint8_t want[32];
    SHA256(img, im.tlv_off, want);
    assert_memory_equal(res.hash, want, 32);

    /* through a reader, with the smallest chunk and an odd one */
    size_t chunks[] = {64, 65, 4096, 1u << 16};
    for (i = 0; i < N_ELEM(chunks); i++) {
        uint8_t *chunk = malloc(chunks[i]);
        file_rd r = {img, len, 0, 0, 0};
        assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &p, chunk, chunks[i], &res),
                  VOUCH_OK);
        assert_memory_equal(res.hash, want, 32);
        assert_true(r.max_len <= (chunks[i] > VOUCH_FW_TLV_MAX ? chunks[i] : VOUCH_FW_TLV_MAX));
        free(chunk);
    }

    /* what lies after the image in its slot is not part of it */
    uint8_t *big = malloc(len + 300);
    memcpy(big, img, len);
    memset(big + len, 0xFF, 300);
    assert_rc(vouch_fw_verify_buf(big, len + 300, port, &p, &res), VOUCH_OK);
    assert_int_equal(res.img.total, len);
    free(big);

    /* the same image, another key of the same algorithm: no key */
    assert_rc(verify_key(img, len, k->alg == VOUCH_SE_ALG_P256 ? &kp2 : &ke2),
              FW(VOUCH_FW_E_NO_KEY));
    free(img);
}

static void good_images(void **state)
{
    (void)state;
    const tkey *ks[] = {&kp, &ke};
    size_t plens[] = {0, 1, 100, sizeof payload};
    uint16_t hdrs[] = {0, 32, 0x200, 33};
    for (size_t a = 0; a < N_ELEM(ks); a++)
        for (size_t pl = 0; pl < N_ELEM(plens); pl++)
            for (size_t h = 0; h < N_ELEM(hdrs); h++) {
                check_good(ks[a], plens[pl], NULL, NULL, hdrs[h]);
                check_good(ks[a], plens[pl], VID, NULL, hdrs[h]);
                check_good(ks[a], plens[pl], VID, CID, hdrs[h]);
                check_good(ks[a], plens[pl], NULL, CID, hdrs[h]);
            }
}

/* What raw_build makes is what fw/sign.c makes (Ed25519 is deterministic). */
static void raw_matches_builder(void **state)
{
    (void)state;
    raw r;
    size_t n1, n2;
    raw_init(&r);
    r.plen = sizeof payload;
    prot_sec(&r, 5);
    PROT(&r, VOUCH_FW_TLV_UUID_VID, VID, 16);
    PROT(&r, VOUCH_FW_TLV_UUID_CID, CID, 16);
    uint8_t *a = raw_build(&r, &ke, &n1);
    vouch_fw_sign_opts o = opts(5, VID, CID, 0);
    o.load_addr = 0x1000;
    uint8_t *b = sign_img(&ke, payload, sizeof payload, &o, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    /* and a P-256 raw image verifies */
    raw_init(&r);
    prot_sec(&r, 5);
    assert_rc(raw_verify(&r, &kp), VOUCH_OK);
}

/* Images without any protected TLV, with unknown protected TLVs, with an
 * empty protected area, and without a security counter. */
static void good_variants(void **state)
{
    (void)state;
    raw r;
    const tkey *ks[] = {&kp, &ke};
    for (size_t a = 0; a < 2; a++) {
        const tkey *k = ks[a];
        raw_init(&r); /* no protected area at all */
        assert_rc(raw_verify(&r, k), VOUCH_OK);
        raw_init(&r);
        r.prot_info = 1; /* a protected area with its info only */
        assert_rc(raw_verify(&r, k), VOUCH_OK);
        raw_init(&r); /* unknown protected TLVs are signed data: accepted */
        PROT(&r, 0x60, "boot record", 11);
        PROT(&r, 0x40, "dependency..", 12);
        PROT(&r, 0x7F, NULL, 0);
        prot_sec(&r, 1);
        assert_rc(raw_verify(&r, k), VOUCH_OK);
        raw_init(&r); /* TLVs in another order */
        PROT(&r, VOUCH_FW_TLV_UUID_CID, CID, 16);
        PROT(&r, VOUCH_FW_TLV_UUID_VID, VID, 16);
        prot_sec(&r, 1);
        r.plen = 0;
        assert_rc(raw_verify(&r, k), VOUCH_OK);
        raw_init(&r); /* the largest header */
        r.hdr_size = 0xFFFF;
        assert_rc(raw_verify(&r, k), VOUCH_OK);
    }
    /* no security counter counts as 0 */
    raw_init(&r);
    size_t len;
    uint8_t *img = raw_build(&r, &ke, &len);
    vouch_fw_policy p = pol_of(&ke.fk, 1);
    assert_rc(verify(img, len, &p), VOUCH_OK);
    p.min_sec_cnt = 1;
    assert_rc(verify(img, len, &p), FW(VOUCH_FW_E_ROLLBACK));
    free(img);
}

/* ======================= header ================================================= */

static void header_broken(void **state)
{
    (void)state;
    vouch_fw_sign_opts o = opts(1, VID, CID, 0);
    size_t len;
    uint8_t *good = sign_img(&ke, payload, 100, &o, &len);
    uint8_t *b = malloc(len);
    vouch_fw_image im;
    assert_rc(parse(good, len), VOUCH_OK);

#define RESET() memcpy(b, good, len)
    /* magic: every byte */
    for (int i = 0; i < 4; i++) {
        RESET();
        b[i] ^= 0x40;
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_MAGIC));
        assert_rc(parse(b, len), FW(VOUCH_FW_E_MAGIC));
    }
    RESET();
    put32(b, 0x3db8f396); /* big-endian magic */
    assert_rc(parse(b, len), FW(VOUCH_FW_E_MAGIC));
    /* hdr_size below 32 */
    for (unsigned h = 0; h < 32; h++) {
        RESET();
        put16(b + 8, (uint16_t)h);
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_HEADER));
    }
    /* hdr_size beyond the file */
    RESET();
    put16(b + 8, 0xFFFF);
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TRUNCATED));
    /* every flag bit (PIC, ENCRYPTED, NON_BOOTABLE, RAM_LOAD, ROM_FIXED...) */
    for (int bit = 0; bit < 32; bit++) {
        RESET();
        put32(b + 16, 1u << bit);
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_HEADER));
    }
    /* img_size: overflowing the 32-bit and the 2 GiB bound, past the end */
    uint32_t big[] = {0xFFFFFFFFu, 0xFFFFFFF0u, 0x80000000u, VOUCH_FW_IMAGE_MAX - 32 - 52 - 3};
    for (size_t i = 0; i < N_ELEM(big); i++) {
        RESET();
        put32(b + 12, big[i]);
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_HEADER));
    }
    uint32_t past[] = {VOUCH_FW_IMAGE_MAX - 32 - 52 - 4, 0x10000, (uint32_t)len, 101, 100 + 200};
    for (size_t i = 0; i < N_ELEM(past); i++) {
        RESET();
        put32(b + 12, past[i]);
        vouch_rc rc = verify_key(b, len, &ke);
        if (rc != FW(VOUCH_FW_E_TRUNCATED) && rc != FW(VOUCH_FW_E_TLV))
            fail_msg("img_size %u: %s", past[i], vouch_fw_strerror(rc));
    }
    RESET();
    put32(b + 12, 99); /* one byte short: the protected info is misread */
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TLV));
    /* protected size 1..3: impossible */
    for (uint16_t s = 1; s < 4; s++) {
        RESET();
        put16(b + 10, s);
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_HEADER));
    }
    /* protected size above the TLV bound, past the end, or not the area's */
    uint16_t ps[] = {VOUCH_FW_TLV_MAX - 3, 0xFFFF, 0x8000};
    for (size_t i = 0; i < N_ELEM(ps); i++) {
        RESET();
        put16(b + 10, ps[i]);
        assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_HEADER));
    }
    RESET();
    put16(b + 10, VOUCH_FW_TLV_MAX - 4);
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TRUNCATED));
    RESET();
    put16(b + 10, 0); /* says none: the protected info is read as the TLV info */
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TLV));
    RESET();
    put16(b + 10, 4 + 8 + 20 + 20 - 1);
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TLV));
    RESET();
    put16(b + 10, 4 + 8 + 20 + 20 + 1);
    assert_rc(verify_key(b, len, &ke), FW(VOUCH_FW_E_TLV));
    /* parse fills only what it can: zeroed on failure to start */
    RESET();
    b[0] ^= 1;
    memset(&im, 0xAB, sizeof im);
    assert_rc(vouch_fw_parse_buf(b, len, port, &im), FW(VOUCH_FW_E_MAGIC));
    assert_int_equal(im.has_hash, 0);
    assert_int_equal(im.sig_alg, 0);
#undef RESET
    free(b);
    free(good);
}

/* ======================= TLV areas ============================================== */

static void tlv_broken(void **state)
{
    (void)state;
    raw r;
    uint8_t z[80], cnt[4] = {1, 0, 0, 0};
    size_t len;
    uint8_t *img;
    const vouch_rc E_TLV = FW(VOUCH_FW_E_TLV);
    memset(z, 0, sizeof z);

    for (int a = 0; a < 2; a++) {
        const tkey *k = a ? &kp : &ke;
        uint16_t sig_t = a ? VOUCH_FW_TLV_ECDSA_SIG : VOUCH_FW_TLV_ED25519;

        /* info magics */
        raw_init(&r);
        prot_sec(&r, 1);
        img = raw_build(&r, k, &len);
        uint32_t prot_off = 32 + 100, tlv_off = prot_off + 12;
        uint16_t tot = get16(img + tlv_off + 2);
        uint16_t magics[] = {0, 0x6906, 0x0769, VOUCH_FW_TLV_PROT_MAGIC, 0xFFFF};
        for (size_t i = 0; i < N_ELEM(magics); i++) {
            uint8_t save[2];
            memcpy(save, img + tlv_off, 2);
            put16(img + tlv_off, magics[i]);
            assert_rc(verify_key(img, len, k), E_TLV);
            memcpy(img + tlv_off, save, 2);
            if (magics[i] == VOUCH_FW_TLV_PROT_MAGIC)
                continue;
            memcpy(save, img + prot_off, 2);
            put16(img + prot_off, magics[i] == 0x6906 ? VOUCH_FW_TLV_INFO_MAGIC : magics[i]);
            assert_rc(verify_key(img, len, k), E_TLV);
            memcpy(img + prot_off, save, 2);
        }
        /* unprotected total: below the info, cutting a TLV, past the end, over the bound */
        for (uint16_t t = 0; t < tot; t++) {
            put16(img + tlv_off + 2, t);
            vouch_rc rc = verify_key(img, len, k);
            /* a total that ends exactly between TLVs drops the signature or
             * the key hash (or both, or the SHA): refused later */
            if (t == 4 + 36 + 36 || t == 4 + 36)
                assert_rc(rc, FW(VOUCH_FW_E_SIGNATURE));
            else if (t == 4)
                assert_rc(rc, FW(VOUCH_FW_E_HASH));
            else if (rc != E_TLV)
                fail_msg("unprotected total %u: %s", t, vouch_fw_strerror(rc));
        }
        for (uint32_t t = tot + 1u; t <= 0xFFFF; t += (t < tot + 64u ? 1u : 997u)) {
            put16(img + tlv_off + 2, (uint16_t)t);
            vouch_rc rc = verify_key(img, len, k);
            if (rc != FW(VOUCH_FW_E_TRUNCATED) && rc != E_TLV)
                fail_msg("unprotected total %u: %s", t, vouch_fw_strerror(rc));
            if (t + 12 > VOUCH_FW_TLV_MAX)
                assert_rc(rc, E_TLV);
        }
        put16(img + tlv_off + 2, tot);
        assert_rc(verify_key(img, len, k), VOUCH_OK);
        /* protected total other than the header's prot_size */
        for (uint16_t t = 0; t < 40; t++) {
            if (t == 12)
                continue;
            put16(img + prot_off + 2, t);
            assert_rc(verify_key(img, len, k), E_TLV);
        }
        put16(img + prot_off + 2, 12);
        /* a TLV length past its area: the security counter and each unprotected TLV */
        put16(img + prot_off + 4 + 2, 9);
        assert_rc(verify_key(img, len, k), E_TLV);
        put16(img + prot_off + 4 + 2, 4);
        for (uint32_t at = tlv_off + 4; at < len;) {
            uint16_t l = get16(img + at + 2);
            put16(img + at + 2, (uint16_t)(len - at - 4 + 1));
            assert_rc(verify_key(img, len, k), E_TLV);
            put16(img + at + 2, 0xFFFF);
            assert_rc(verify_key(img, len, k), E_TLV);
            put16(img + at + 2, l);
            at += 4u + l;
        }
        assert_rc(verify_key(img, len, k), VOUCH_OK);
        free(img);

        /* duplicates */
        raw_init(&r);
        prot_sec(&r, 1);
        prot_sec(&r, 2);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_UUID_VID, VID, 16);
        PROT(&r, VOUCH_FW_TLV_UUID_VID, VID, 16);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_UUID_CID, CID, 16);
        PROT(&r, VOUCH_FW_TLV_UUID_CID, CID, 16);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PRE(&r, VOUCH_FW_TLV_SHA256, z, 32); /* a second SHA before the real one */
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        POST(&r, VOUCH_FW_TLV_KEYHASH, k->fk.keyhash, 32);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r); /* the signature twice, and both kinds of signature */
        {
            size_t l1;
            uint8_t *i1 = raw_build(&r, k, &l1);
            uint32_t so = 32 + 100 + 4 + 36 + 36;
            POST(&r, get16(i1 + so), i1 + so + 4, get16(i1 + so + 2));
            assert_rc(raw_verify(&r, k), E_TLV);
            free(i1);
        }
        raw_init(&r);
        POST(&r, a ? VOUCH_FW_TLV_ED25519 : VOUCH_FW_TLV_ECDSA_SIG, z, a ? 64 : 70);
        vouch_rc rc2 = raw_verify(&r, k);
        if (rc2 != E_TLV && !(a == 0 && rc2 == FW(VOUCH_FW_E_SIGNATURE)))
            fail_msg("two signatures: %s", vouch_fw_strerror(rc2));
        raw_init(&r);
        POST(&r, sig_t, z, 64);
        r.no_sig = 1;
        POST(&r, sig_t, z, 64); /* sig missing, two zero sigs */
        assert_true(raw_verify(&r, k) != VOUCH_OK);

        /* misplaced: protected kinds unprotected, and the other way round */
        raw_init(&r);
        PRE(&r, VOUCH_FW_TLV_SEC_CNT, cnt, 4);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        POST(&r, VOUCH_FW_TLV_SEC_CNT, cnt, 4);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        POST(&r, VOUCH_FW_TLV_UUID_VID, VID, 16);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PRE(&r, VOUCH_FW_TLV_UUID_CID, CID, 16);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_SHA256, z, 32);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_KEYHASH, k->fk.keyhash, 32);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_ED25519, z, 64);
        assert_rc(raw_verify(&r, k), E_TLV);
        raw_init(&r);
        PROT(&r, VOUCH_FW_TLV_ECDSA_SIG, z, 70);
        assert_rc(raw_verify(&r, k), E_TLV);
        /* unknown unprotected TLVs, before and after, any size */
        uint16_t unknown[] = {0x02, 0x11, 0x20, 0x21, 0x23, 0x30, 0x40, 0x60, 0x7F, 0xFFFF};
        for (size_t i = 0; i < N_ELEM(unknown); i++) {
            raw_init(&r);
            POST(&r, unknown[i], z, (size_t)i);
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            PRE(&r, unknown[i], NULL, 0);
            assert_rc(raw_verify(&r, k), E_TLV);
        }
        /* a TLV header cut: 1..3 bytes left in the area */
        for (size_t cut = 1; cut < 4; cut++) {
            raw_init(&r);
            memset(r.post, 0x10, cut);
            r.npost = cut;
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            prot_sec(&r, 1);
            memset(r.prot + r.nprot, 0x50, cut);
            r.nprot += cut;
            assert_rc(raw_verify(&r, k), E_TLV);
        }

        /* wrong lengths of every known TLV */
        static const size_t bad_cnt[] = {0, 3, 5, 8}, bad_uuid[] = {0, 15, 17, 32},
                            bad_32[] = {0, 31, 33, 64};
        for (size_t i = 0; i < 4; i++) {
            raw_init(&r);
            PROT(&r, VOUCH_FW_TLV_SEC_CNT, z, bad_cnt[i]);
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            PROT(&r, VOUCH_FW_TLV_UUID_VID, z, bad_uuid[i]);
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            PROT(&r, VOUCH_FW_TLV_UUID_CID, z, bad_uuid[i]);
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            r.no_sha = 1;
            PRE(&r, VOUCH_FW_TLV_SHA256, z, bad_32[i]);
            assert_rc(raw_verify(&r, k), E_TLV);
            raw_init(&r);
            r.no_keyhash = 1;
            PRE(&r, VOUCH_FW_TLV_KEYHASH, k->fk.keyhash, bad_32[i] > 32 ? 32 : bad_32[i]);
            if (bad_32[i] > 32) {
                r.pre[2] = (uint8_t)bad_32[i]; /* claims more than it carries: eats the SHA */
            }
            assert_rc(raw_verify(&r, k), E_TLV);
        }
        static const size_t bad_ed[] = {0, 1, 32, 63, 65, 72};
        for (size_t i = 0; i < N_ELEM(bad_ed); i++) {
            raw_init(&r);
            r.sig_type = VOUCH_FW_TLV_ED25519;
            r.sig = z;
            r.sig_len = bad_ed[i];
            assert_rc(raw_verify(&r, k), E_TLV);
        }
        static const size_t bad_ec[] = {0, 1, 7, 73, 80};
        for (size_t i = 0; i < N_ELEM(bad_ec); i++) {
            raw_init(&r);
            r.sig_type = VOUCH_FW_TLV_ECDSA_SIG;
            r.sig = z;
            r.sig_len = bad_ec[i];
            assert_rc(raw_verify(&r, k), E_TLV);
        }
    }

    /* areas at the size bound: the protected area may be up to 2044 bytes,
     * both areas together up to 2048 (Ed25519's unprotected area is 144) */
    static const uint8_t zbig[128];
    raw_init(&r);
    r.plen = 10;
    while (r.nprot + 84 <= 2048 - 144 - 4 - 8)
        PROT(&r, 0x7E, zbig, 80);
    {
        size_t room = 2048 - 144 - 4 - r.nprot; /* exactly 2048 in all */
        PROT(&r, 0x7D, zbig, room - 4);
        size_t l;
        uint8_t *i = raw_build(&r, &ke, &l);
        vouch_fw_image im;
        assert_rc(vouch_fw_parse_buf(i, l, port, &im), VOUCH_OK);
        assert_int_equal(im.prot_size + im.tlv_size, VOUCH_FW_TLV_MAX);
        assert_rc(verify_key(i, l, &ke), VOUCH_OK);
        free(i);
        PROT(&r, 0x7C, zbig, 0); /* 4 more: over the bound */
        assert_rc(raw_verify(&r, &ke), E_TLV);
    }
}

/* ---- ECDSA signatures: strict DER only ----------------------------------------- */

static void ecdsa_der(void **state)
{
    (void)state;
    raw r;
    uint8_t d[80], rr[32], ss[32];
    size_t n;
    const vouch_rc E_SIG = FW(VOUCH_FW_E_SIGNATURE);
    for (int i = 0; i < 32; i++) {
        rr[i] = (uint8_t)(i + 1);        /* high bit clear: no padding */
        ss[i] = (uint8_t)(0x40 + i);
    }
#define DER(...)                                                                           \
    do {                                                                                   \
        const uint8_t t_[] = {__VA_ARGS__};                                                \
        memcpy(d, t_, sizeof t_);                                                          \
        n = sizeof t_;                                                                     \
    } while (0)
#define APPEND(p, l)                                                                       \
    do {                                                                                   \
        memcpy(d + n, (p), (l));                                                           \
        n += (l);                                                                          \
    } while (0)
#define CHECK(want)                                                                        \
    do {                                                                                   \
        raw_init(&r);                                                                      \
        r.sig = d;                                                                         \
        r.sig_len = n;                                                                     \
        size_t l_;                                                                         \
        uint8_t *i_ = raw_build(&r, &kp, &l_);                                             \
        vouch_fw_image im_;                                                                \
        vouch_rc rc_ = vouch_fw_parse_buf(i_, l_, port, &im_);                             \
        free(i_);                                                                          \
        if (rc_ != (want))                                                                 \
            fail_msg("DER line %d: got %s", __LINE__, vouch_fw_strerror(rc_));             \
    } while (0)

    /* well formed (a wrong signature, but parse does not check it) */
    DER(0x30, 0x44, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(VOUCH_OK);
    {
        raw_init(&r);
        r.sig = d;
        r.sig_len = n;
        size_t l;
        uint8_t *img = raw_build(&r, &kp, &l);
        vouch_fw_image im;
        assert_rc(vouch_fw_parse_buf(img, l, port, &im), VOUCH_OK);
        assert_memory_equal(im.sig, rr, 32);
        assert_memory_equal(im.sig + 32, ss, 32);
        assert_int_equal(im.sig_der_len, 70);
        assert_rc(verify_key(img, l, &kp), E_SIG);
        free(img);
    }
    /* short r and s (minimal encodings of small values) */
    DER(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01);
    CHECK(VOUCH_OK);
    /* trailing bytes after the SEQUENCE */
    DER(0x30, 0x44, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    APPEND(((uint8_t[]){0x00}), 1);
    CHECK(E_SIG);
    /* trailing bytes inside the SEQUENCE */
    DER(0x30, 0x46, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    APPEND(((uint8_t[]){0x05, 0x00}), 2);
    CHECK(E_SIG);
    /* long-form lengths where short form fits */
    DER(0x30, 0x81, 0x44, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x45, 0x02, 0x81, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    /* indefinite length (BER) */
    DER(0x30, 0x80, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    APPEND(((uint8_t[]){0x00, 0x00}), 2);
    CHECK(E_SIG);
    /* non-minimal integer: a leading zero not needed */
    DER(0x30, 0x45, 0x02, 0x21, 0x00);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x45, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x21, 0x00}), 3);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01);
    CHECK(E_SIG);
    /* negative r (high bit set, no zero byte) */
    DER(0x30, 0x44, 0x02, 0x20, 0x80);
    APPEND(rr + 1, 31);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    /* r = 0, s = 0 */
    DER(0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01);
    CHECK(E_SIG);
    DER(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00);
    CHECK(E_SIG);
    /* r of 33 significant bytes */
    DER(0x30, 0x45, 0x02, 0x21, 0x01);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    /* wrong tags */
    DER(0x31, 0x44, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x44, 0x04, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    /* lengths that disagree */
    DER(0x30, 0x45, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x43, 0x02, 0x20);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    DER(0x30, 0x44, 0x02, 0x21);
    APPEND(rr, 32);
    APPEND(((uint8_t[]){0x02, 0x20}), 2);
    APPEND(ss, 32);
    CHECK(E_SIG);
    /* r only; three integers */
    DER(0x30, 0x22, 0x02, 0x20);
    APPEND(rr, 32);
    CHECK(E_SIG);
    DER(0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01);
    CHECK(E_SIG);
    /* r = n and s = 2^256 - 1: 32-byte values, but not below the group
     * order. Refused, whether by the DER decoder or by the verification. */
    {
        static const uint8_t order[32] = {
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
            0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
        uint8_t ff[32];
        memset(ff, 0xff, 32);
        DER(0x30, 0x46, 0x02, 0x21, 0x00);
        APPEND(order, 32);
        APPEND(((uint8_t[]){0x02, 0x21, 0x00}), 3);
        APPEND(ff, 32);
        raw_init(&r);
        r.sig = d;
        r.sig_len = n;
        assert_rc(raw_verify(&r, &kp), E_SIG);
    }
    /* all zeros, all 0xFF */
    memset(d, 0, 70);
    n = 70;
    CHECK(E_SIG);
    memset(d, 0xFF, 72);
    n = 72;
    CHECK(E_SIG);
#undef DER
#undef APPEND
#undef CHECK

    /* a real signature with each byte of its DER changed: never valid */
    raw_init(&r);
    size_t len;
    uint8_t *img = raw_build(&r, &kp, &len);
    uint32_t so = 32 + 100 + 4 + 36 + 36 + 4;
    for (uint32_t i = so; i < len; i++) {
        img[i] ^= 0x01;
        vouch_rc rc = verify_key(img, len, &kp);
        if (rc != E_SIG && rc != FW(VOUCH_FW_E_TLV))
            fail_msg("DER byte %u flipped: %s", i - so, vouch_fw_strerror(rc));
        img[i] ^= 0x01;
    }
    assert_rc(verify_key(img, len, &kp), VOUCH_OK);
    free(img);
}

/* ======================= hash, keys, policy ====================================== */

static void tampered(void **state)
{
    (void)state;
    const tkey *ks[] = {&kp, &ke};
    for (size_t a = 0; a < 2; a++) {
        vouch_fw_sign_opts o = opts(9, VID, CID, 0x200);
        o.load_addr = 0x08000000;
        size_t len;
        uint8_t *img = sign_img(ks[a], payload, 300, &o, &len);
        vouch_fw_image im;
        assert_rc(vouch_fw_parse_buf(img, len, port, &im), VOUCH_OK);
        /* every payload byte, the header's free fields and padding, every
         * protected value byte, the SHA-256 TLV */
        for (uint32_t i = 0; i < im.tlv_off; i++) {
            int structural = i < 4 || (i >= 8 && i < 20) /* magic, sizes, flags */ ||
                             (i >= im.prot_off && i < im.prot_off + 4) /* prot info */;
            uint32_t p = i - im.prot_off;
            if (i >= im.prot_off && ((p >= 4 && p < 8) || (p >= 12 && p < 16) ||
                                     (p >= 32 && p < 36)))
                structural = 1; /* protected TLV headers */
            if (structural)
                continue;
            img[i] ^= 0x80;
            vouch_rc rc = verify_key(img, len, ks[a]);
            if (rc != FW(VOUCH_FW_E_HASH))
                fail_msg("byte %u flipped: %s", i, vouch_fw_strerror(rc));
            img[i] ^= 0x80;
        }
        for (uint32_t i = im.tlv_off + 8; i < im.tlv_off + 8 + 32; i++) {
            img[i] ^= 0x01;
            assert_rc(verify_key(img, len, ks[a]), FW(VOUCH_FW_E_HASH));
            img[i] ^= 0x01;
        }
        /* the key hash: another key's */
        for (uint32_t i = im.tlv_off + 8 + 36; i < im.tlv_off + 8 + 36 + 32; i++) {
            img[i] ^= 0x01;
            assert_rc(verify_key(img, len, ks[a]), FW(VOUCH_FW_E_NO_KEY));
            img[i] ^= 0x01;
        }
        assert_rc(verify_key(img, len, ks[a]), VOUCH_OK);
        free(img);
    }
}

/* Every single-bit change anywhere in an image is refused. */
static void every_bit(void **state)
{
    (void)state;
    const tkey *ks[] = {&kp, &ke};
    for (size_t a = 0; a < 2; a++) {
        vouch_fw_sign_opts o = opts(3, VID, CID, 64);
        size_t len;
        uint8_t *img = sign_img(ks[a], payload, 40, &o, &len);
        for (size_t i = 0; i < len; i++)
            for (int bit = 0; bit < 8; bit++) {
                img[i] ^= (uint8_t)(1u << bit);
                if (verify_key(img, len, ks[a]) == VOUCH_OK)
                    fail_msg("alg %u: byte %zu bit %d changed and still valid", ks[a]->alg, i,
                             bit);
                img[i] ^= (uint8_t)(1u << bit);
            }
        assert_rc(verify_key(img, len, ks[a]), VOUCH_OK);
        free(img);
    }
}

static int check_says(void *ctx, const vouch_fw_key *key, const uint8_t hash[32],
                      const uint8_t sig[64])
{
    (void)key, (void)hash, (void)sig;
    return *(int *)ctx;
}

static void policy(void **state)
{
    (void)state;
    size_t lp, le;
    vouch_fw_sign_opts o = opts(10, VID, CID, 0);
    uint8_t *ip = sign_img(&kp, payload, 200, &o, &lp);
    uint8_t *ie = sign_img(&ke, payload, 200, &o, &le);
    vouch_fw_result res;
    vouch_fw_key keys[4];
    vouch_fw_policy p;
    uint8_t other[16];
    assert_int_equal(vouch_fw_uuid_arg("other.example", NULL, other), 0);

    /* no keys, other keys */
    p = pol_of(NULL, 0);
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_NO_KEY));
    keys[0] = kp2.fk, keys[1] = ke2.fk, keys[2] = ke.fk;
    p = pol_of(keys, 3);
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_NO_KEY));
    assert_rc(verify(ie, le, &p), VOUCH_OK);
    /* revoked: refused before the signature is even checked */
    keys[2].revoked = 1;
    assert_rc(vouch_fw_verify_buf(ie, le, port, &p, &res), FW(VOUCH_FW_E_REVOKED));
    assert_ptr_equal(res.key, &keys[2]);
    keys[1].revoked = 1;
    keys[2].revoked = 0;
    assert_rc(verify(ie, le, &p), VOUCH_OK); /* another key revoked: no matter */
    /* algorithm mismatch: an entry with the image's key hash but the other alg */
    keys[0] = ke.fk;
    memcpy(keys[0].keyhash, kp.fk.keyhash, 32);
    p = pol_of(keys, 1);
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_SIGNATURE));
    keys[0] = kp.fk;
    memcpy(keys[0].keyhash, ke.fk.keyhash, 32);
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_SIGNATURE));
    /* the key hash names an entry whose key did not sign */
    keys[0] = kp2.fk;
    memcpy(keys[0].keyhash, kp.fk.keyhash, 32);
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_SIGNATURE));
    keys[0] = ke2.fk;
    memcpy(keys[0].keyhash, ke.fk.keyhash, 32);
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_SIGNATURE));

    /* rollback */
    keys[0] = kp.fk;
    keys[1] = ke.fk;
    p = pol_of(keys, 2);
    p.min_sec_cnt = 10;
    assert_rc(verify(ip, lp, &p), VOUCH_OK);
    p.min_sec_cnt = 11;
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_ROLLBACK));
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_ROLLBACK));
    p.min_sec_cnt = 0xFFFFFFFFu;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_ROLLBACK));
    p.min_sec_cnt = 0;

    /* vendor and class */
    p.vid = VID;
    p.cid = CID;
    assert_rc(verify(ip, lp, &p), VOUCH_OK);
    p.vid = other;
    assert_rc(verify(ip, lp, &p), FW(VOUCH_FW_E_VENDOR));
    p.vid = VID;
    p.cid = other;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_CLASS));
    p.vid = NULL;
    p.cid = CID;
    assert_rc(verify(ie, le, &p), VOUCH_OK);
    p.cid = VID; /* the vendor UUID is not a class */
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_CLASS));
    /* missing in the image */
    vouch_fw_sign_opts o2 = opts(10, NULL, NULL, 0);
    size_t ln;
    uint8_t *in = sign_img(&ke, payload, 200, &o2, &ln);
    p.vid = VID;
    p.cid = NULL;
    assert_rc(verify(in, ln, &p), FW(VOUCH_FW_E_VENDOR));
    p.vid = NULL;
    p.cid = CID;
    assert_rc(verify(in, ln, &p), FW(VOUCH_FW_E_CLASS));
    o2 = opts(10, VID, NULL, 0);
    free(in);
    in = sign_img(&ke, payload, 200, &o2, &ln);
    p.vid = VID;
    p.cid = CID;
    assert_rc(verify(in, ln, &p), FW(VOUCH_FW_E_CLASS));
    free(in);
    /* the first failure decides: rollback before vendor */
    p.vid = other;
    p.min_sec_cnt = 11;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_ROLLBACK));
    p.vid = NULL;
    p.cid = NULL;
    p.min_sec_cnt = 0;

    /* a check callback (the SE's) decides the signature */
    int says = 1;
    p.check = check_says;
    p.check_ctx = &says;
    assert_rc(verify(ie, le, &p), VOUCH_OK);
    says = 0;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_SIGNATURE));
    says = -1;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_CHECK));
    says = 2;
    assert_rc(verify(ie, le, &p), FW(VOUCH_FW_E_SIGNATURE));
    free(ip);
    free(ie);
}

/* ======================= truncation and readers ================================= */

static void truncated(void **state)
{
    (void)state;
    const tkey *ks[] = {&kp, &ke};
    for (size_t a = 0; a < 2; a++) {
        vouch_fw_sign_opts o = opts(3, VID, CID, 0x200);
        size_t len;
        uint8_t *img = sign_img(ks[a], payload, 77, &o, &len);
        for (size_t n = 0; n < len; n++) {
            /* a copy of exactly n bytes, so ASan sees any read past it */
            uint8_t *t = malloc(n ? n : 1);
            memcpy(t, img, n);
            vouch_rc rp = parse(t, n), rv = verify_key(t, n, ks[a]);
            if (rp != FW(VOUCH_FW_E_TRUNCATED) || rv != FW(VOUCH_FW_E_TRUNCATED))
                fail_msg("alg %u truncated to %zu of %zu: parse %s, verify %s", ks[a]->alg, n,
                         len, vouch_fw_strerror(rp), vouch_fw_strerror(rv));
            /* and through a reader that says the slot is bigger than it is */
            uint8_t chunk[64];
            vouch_fw_result res;
            file_rd r = {t, n, 0, 0, 0};
            vouch_fw_policy tp = pol_of(&ks[a]->fk, 1);
            vouch_rc rr =
                vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &tp, chunk, sizeof chunk, &res);
            if (rr == VOUCH_OK)
                fail_msg("truncated to %zu with a lying reader: valid", n);
            free(t);
        }
        assert_rc(parse(NULL, 0), FW(VOUCH_FW_E_TRUNCATED));
        free(img);
    }
}

/* A reader whose answers change between reads (external flash, a file
 * rewritten during the check): the first read of the protected area says
 * counter 100 and another vendor. The fields judged must be the bytes
 * hashed, so this is a hash mismatch, never a pass. */
typedef struct fickle_rd {
    const uint8_t *p;
    size_t len;
    uint32_t prot_off;
    int changed;
} fickle_rd;
static int fickle_fn(void *ctx, uint32_t off, uint8_t *buf, size_t len)
{
    fickle_rd *r = ctx;
    if (off > r->len || len > r->len - off)
        return -1;
    memcpy(buf, r->p + off, len);
    if (off == r->prot_off && len >= 32 && !r->changed) {
        r->changed = 1;
        buf[8] = 100;
        memset(buf + 16, 0xAA, 16);
    }
    return 0;
}

static void reader_changes_between_reads(void **state)
{
    (void)state;
    uint8_t other[16];
    vouch_fw_sign_opts o = opts(1, VID, NULL, 0);
    size_t len;
    uint8_t *img = sign_img(&ke, payload, 100, &o, &len);
    vouch_fw_policy p = pol_of(&ke.fk, 1);
    vouch_fw_result res;
    uint8_t chunk[64];
    memset(other, 0xAA, sizeof other);
    p.min_sec_cnt = 50;
    p.vid = other;
    fickle_rd r = {img, len, 32 + 100, 0};
    assert_rc(vouch_fw_verify(fickle_fn, &r, (uint32_t)len, port, &p, chunk, sizeof chunk, &res),
              FW(VOUCH_FW_E_HASH));
    assert_true(r.changed);
    free(img);
}

static void reader_failures(void **state)
{
    (void)state;
    vouch_fw_sign_opts o = opts(3, VID, CID, 0);
    size_t len;
    uint8_t *img = sign_img(&ke, payload, 1000, &o, &len);
    vouch_fw_policy p = pol_of(&ke.fk, 1);
    vouch_fw_result res;
    uint8_t chunk[64];
    file_rd r = {img, len, 0, 0, 0};
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &p, chunk, sizeof chunk, &res),
              VOUCH_OK);
    int calls = r.calls;
    assert_true(calls > 10);
    for (int f = 1; f <= calls; f++) {
        file_rd rf = {img, len, 0, f, 0};
        assert_rc(vouch_fw_verify(rd_fn, &rf, (uint32_t)len, port, &p, chunk, sizeof chunk,
                                  &res),
                  FW(VOUCH_FW_E_IO));
    }
    for (int f = 1; f <= 4; f++) {
        file_rd rf = {img, len, 0, f, 0};
        vouch_fw_image im;
        vouch_rc rc = vouch_fw_parse(rd_fn, &rf, (uint32_t)len, port, &im);
        if (f <= rf.calls)
            assert_rc(rc, FW(VOUCH_FW_E_IO));
    }
    /* API misuse */
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &p, chunk, 63, &res), API_ARG);
    assert_rc(vouch_fw_verify(NULL, &r, (uint32_t)len, port, &p, chunk, 64, &res), API_ARG);
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, NULL, &p, chunk, 64, &res), API_ARG);
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, NULL, chunk, 64, &res), API_ARG);
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &p, NULL, 64, &res), API_ARG);
    assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)len, port, &p, chunk, 64, NULL), API_ARG);
    assert_rc(vouch_fw_verify_buf(NULL, 10, port, &p, &res), API_ARG);
    vouch_fw_image im;
    assert_rc(vouch_fw_parse(NULL, &r, (uint32_t)len, port, &im), API_ARG);
    assert_rc(vouch_fw_parse(rd_fn, &r, (uint32_t)len, port, NULL), API_ARG);
    assert_rc(vouch_fw_parse_buf(NULL, 10, port, &im), API_ARG);
    /* no port: the ECDSA DER cannot be decoded */
    size_t lp;
    uint8_t *ip = sign_img(&kp, payload, 10, &o, &lp);
    assert_rc(vouch_fw_parse_buf(ip, lp, NULL, &im), FW(VOUCH_FW_E_SIGNATURE));
    assert_rc(vouch_fw_parse_buf(img, len, NULL, &im), VOUCH_OK);
    free(ip);
    free(img);
}

/* ======================= the builder's refusals ================================== */

static int lying_signer(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t sig_size,
                        size_t *sig_len)
{
    uint8_t h[32];
    memcpy(h, hash, 32);
    h[0] ^= 1; /* signs something else */
    return vouch_fw_sign_evp(ctx, h, sig, sig_size, sig_len);
}
static int failing_signer(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t sig_size,
                          size_t *sig_len)
{
    (void)ctx, (void)hash, (void)sig, (void)sig_size, (void)sig_len;
    return -1;
}

static void builder_refusals(void **state)
{
    (void)state;
    vouch_fw_sign_opts o = opts(1, NULL, NULL, 0);
    uint8_t *img = (uint8_t *)1;
    size_t len = 7;
    char err[200];
    err[0] = 0;
    assert_int_equal(vouch_fw_build(payload, 10, &o, ke.alg, ke.pub, ke.publen, lying_signer,
                                    ke.pk, &img, &len, err, sizeof err),
                     -1);
    assert_null(img);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "does not verify"));
    assert_int_equal(vouch_fw_build(payload, 10, &o, kp.alg, kp.pub, kp.publen, lying_signer,
                                    kp.pk, &img, &len, err, sizeof err),
                     -1);
    assert_int_equal(vouch_fw_build(payload, 10, &o, kp.alg, kp.pub, kp.publen, failing_signer,
                                    NULL, &img, &len, err, sizeof err),
                     -1);
    /* a key that is not the signer's */
    assert_int_equal(vouch_fw_build(payload, 10, &o, kp.alg, kp2.pub, kp2.publen,
                                    vouch_fw_sign_evp, kp.pk, &img, &len, err, sizeof err),
                     -1);
    /* the signer's algorithm other than the key's */
    assert_int_equal(vouch_fw_build(payload, 10, &o, ke.alg, ke.pub, ke.publen,
                                    vouch_fw_sign_evp, kp.pk, &img, &len, err, sizeof err),
                     -1);
    assert_int_equal(vouch_fw_build(payload, 10, &o, VOUCH_SE_ALG_X25519, ke.pub, 32,
                                    vouch_fw_sign_evp, ke.pk, &img, &len, err, sizeof err),
                     -1);
    o.hdr_size = 31;
    assert_int_equal(vouch_fw_build(payload, 10, &o, ke.alg, ke.pub, ke.publen,
                                    vouch_fw_sign_evp, ke.pk, &img, &len, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "header size"));
}

/* ======================= pinned vectors ========================================== */

static void pinned_vectors(void **state)
{
    (void)state;
    tkey ed, p2, edp, p2p;
    size_t n, plen;
    key_fill(&ed, read_pem("ed25519.key", 1));
    key_fill(&p2, read_pem("p256.key", 1));
    key_fill(&edp, read_pem("ed25519.pub", 0));
    key_fill(&p2p, read_pem("p256.pub", 0));
    uint8_t *pl = read_file("payload.bin", &plen);
    assert_int_equal(plen, 1001);
    assert_memory_equal(pl, payload, plen); /* the README's formula */

    /* ed25519.img: rebuilt byte for byte */
    size_t elen;
    uint8_t *epin = read_file("ed25519.img", &elen);
    vouch_fw_sign_opts o = opts(7, VID, CID, 0);
    uint8_t *e = sign_img(&ed, pl, plen, &o, &n);
    assert_int_equal(n, elen);
    assert_memory_equal(e, epin, n);
    assert_int_equal(elen, 1229);
    vouch_fw_policy pol = pol_of(&edp.fk, 1);
    pol.min_sec_cnt = 7;
    pol.vid = VID;
    pol.cid = CID;
    assert_rc(verify(epin, elen, &pol), VOUCH_OK);
    free(e);

    /* p256.img: verifies; re-signed, equal but for the signature TLV */
    size_t plen2;
    uint8_t *ppin = read_file("p256.img", &plen2);
    vouch_fw_image im, im2;
    assert_rc(vouch_fw_parse_buf(ppin, plen2, port, &im), VOUCH_OK);
    assert_int_equal(im.hdr_size, 0x200);
    assert_int_equal(im.load_addr, 0x08020000);
    assert_int_equal(im.version.major, 0);
    assert_int_equal(im.version.minor, 9);
    assert_int_equal(im.version.revision, 12);
    assert_int_equal(im.version.build, 0);
    assert_int_equal(im.sec_cnt, 3);
    assert_false(im.has_vid || im.has_cid);
    assert_int_equal(im.sig_der_len, 70);
    pol = pol_of(&p2p.fk, 1);
    pol.min_sec_cnt = 3;
    assert_rc(verify(ppin, plen2, &pol), VOUCH_OK);
    o = opts(3, NULL, NULL, 0x200);
    o.version = (vouch_fw_version){0, 9, 12, 0};
    o.load_addr = 0x08020000;
    uint8_t *p = sign_img(&p2, pl, plen, &o, &n);
    assert_rc(vouch_fw_parse_buf(p, n, port, &im2), VOUCH_OK);
    size_t sig_at = im.tlv_off + 4 + 36 + 36; /* SHA, key hash, then the signature */
    assert_int_equal(im2.tlv_off, im.tlv_off);
    assert_memory_equal(p, ppin, im.tlv_off);               /* hashed part */
    assert_memory_equal(p + im.tlv_off, ppin + im.tlv_off, 2); /* info magic */
    assert_memory_equal(p + im.tlv_off + 4, ppin + im.tlv_off + 4, sig_at - im.tlv_off - 4);
    assert_int_equal(get16(p + sig_at), VOUCH_FW_TLV_ECDSA_SIG);
    assert_int_equal(get16(p + im.tlv_off + 2), 4 + 36 + 36 + 4 + get16(p + sig_at + 2));
    assert_int_equal(n, sig_at + 4 + get16(p + sig_at + 2));
    assert_rc(verify(p, n, &pol), VOUCH_OK);
    free(p);

    /* broken/: each refused with its code, against its key */
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/broken/MANIFEST", VOUCH_FW_VECTORS);
    FILE *m = fopen(path, "r");
    assert_non_null(m);
    static const char *names[] = {NULL,        "MAGIC",     "HEADER", "TRUNCATED", "TLV",
                                  "HASH",      "NO_KEY",    "SIGNATURE", "REVOKED", "ROLLBACK",
                                  "VENDOR",    "CLASS",     "IO",     "TRUST",     "CHECK"};
    int count = 0, seen[VOUCH_FW_E_CHECK + 1] = {0};
    while (fgets(line, sizeof line, m)) {
        char name[128], code[32], key[32], rel[160];
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%127s %31s %31s", name, code, key) != 3)
            fail_msg("MANIFEST line: %s", line);
        unsigned c;
        for (c = 1; c < N_ELEM(names); c++)
            if (strcmp(names[c], code) == 0)
                break;
        if (c == N_ELEM(names))
            fail_msg("MANIFEST: unknown code %s", code);
        snprintf(rel, sizeof rel, "broken/%s", name);
        size_t bl;
        uint8_t *b = read_file(rel, &bl);
        const tkey *k = strcmp(key, "p256") == 0 ? &p2p : &edp;
        vouch_fw_policy bp = pol_of(&k->fk, 1);
        vouch_rc rc = verify(b, bl, &bp);
        if (rc != FW(c))
            fail_msg("%s: got %s, want %s", name, vouch_fw_strerror(rc), code);
        /* and a reader with the smallest chunk agrees */
        uint8_t chunk[64];
        vouch_fw_result res;
        file_rd r = {b, bl, 0, 0, 0};
        assert_rc(vouch_fw_verify(rd_fn, &r, (uint32_t)bl, port, &bp, chunk, sizeof chunk, &res),
                  FW(c));
        seen[c]++;
        count++;
        free(b);
    }
    fclose(m);
    assert_true(count >= 40);
    unsigned must[] = {VOUCH_FW_E_MAGIC, VOUCH_FW_E_HEADER, VOUCH_FW_E_TRUNCATED,
                       VOUCH_FW_E_TLV, VOUCH_FW_E_HASH, VOUCH_FW_E_NO_KEY,
                       VOUCH_FW_E_SIGNATURE};
    for (size_t i = 0; i < N_ELEM(must); i++)
        assert_true(seen[must[i]] > 0);

    free(pl);
    free(epin);
    free(ppin);
    EVP_PKEY_free(ed.pk);
    EVP_PKEY_free(p2.pk);
    EVP_PKEY_free(edp.pk);
    EVP_PKEY_free(p2p.pk);
}

int main(void)
{
    payload_fill();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_keyhash),
        cmocka_unit_test(known_uuid),
        cmocka_unit_test(known_version),
        cmocka_unit_test(strerror_words),
        cmocka_unit_test(good_images),
        cmocka_unit_test(raw_matches_builder),
        cmocka_unit_test(good_variants),
        cmocka_unit_test(header_broken),
        cmocka_unit_test(tlv_broken),
        cmocka_unit_test(ecdsa_der),
        cmocka_unit_test(tampered),
        cmocka_unit_test(every_bit),
        cmocka_unit_test(policy),
        cmocka_unit_test(truncated),
        cmocka_unit_test(reader_failures),
        cmocka_unit_test(reader_changes_between_reads),
        cmocka_unit_test(builder_refusals),
        cmocka_unit_test(pinned_vectors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
