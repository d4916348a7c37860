/*
 * vouch provision: factory personalization of secure elements, in batches.
 *
 * For each SE (docs/provisioning.md says why each step is where it is):
 *   1. WAKE, QUERY: serial, lifecycle, keys, zones, host keys. An SE that is
 *      OPERATIONAL with a certificate for its slot-0 key in zone 0 is
 *      skipped; a TERMINATED one fails.
 *   2. Host secure channel keys: drawn from the SE's RNG (mixed with the
 *      host's), written to DIR/<serial>.hostkeys for the device's MCU
 *      (0600, atomically) and only then put into the SE. An SE that already
 *      has keys (an earlier run stopped half-way) is driven with that file.
 *      From here on every command carries a C-MAC and every answer an R-MAC.
 *   3. The device key: generated in slot 0 by the SE (kept when an earlier
 *      run made it), its public key read back over the channel.
 *   4. Zone 1: the issuer's root certificate (the trust anchor).
 *   5. Zone 0: the certificate chain. A certificate already there, or
 *      already issued by the server for this key (an earlier run stopped
 *      between issuance and writing), is reused; otherwise a CSR is built on
 *      the host, signed inside the SE, and POSTed to vouchd. The certificate
 *      is written only after its public key is found to be the SE's and its
 *      chain verifies to the anchor (X509_verify_cert).
 *   6. Access conditions: zone 1 update never, zone 0 and zone 2 update
 *      host; both zones read back and compared.
 *   7. LIFECYCLE operational, then checked.
 * Every step looks at the chip first and does only what is missing, so a
 * run killed at any point is finished by running it again.
 *
 * Threads: --jobs workers, each with its own SE context and HTTP client (one
 * libevent base per thread); they share read-only setup (anchor, chain,
 * options) and, under P.lock, the next-SE index, the counters, the set of
 * serials seen, the manifest and the terminal.
 */
#include "cli/cli.h"
#include "cli/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "pki/pki.h"

#include <vouch/se.h>

#define CMD "provision"
#define JOBS_DEFAULT 4
#define JOBS_MAX 64
#define SE_LIST_MAX (16u << 20) /* bytes of --se-list */
#define URI_MAX 1024
#define ANCHOR_MAX (64u << 10)
#define CHAIN_MAX 8             /* certificates in zone 0, CA levels */
#define ZONE_MAX 0xFFFFu
#define HK_LEN (2 * VOUCH_SE_HOST_KEY_LEN)
#define SERIAL_HEX (2 * VOUCH_SE_SERIAL_LEN)
#define CN_MAX 64
#define ORG_MAX 64
#define FOUND_MAX 20            /* certificates looked at when resuming */

#define Z_CHAIN 0  /* certificate chain: leaf, then its CAs below the root */
#define Z_ANCHOR 1 /* the root certificate; update never once written */
#define Z_KEYS 2   /* firmware / command keys, later: update host */

/* ---- shared state ------------------------------------------------------------ */
typedef struct pv_res {
    char serial[SERIAL_HEX + 1]; /* "" until known */
    char cert_serial[SERIAL_HEX_MAX + 1];
    char sha256[2 * 32 + 1];
    const char *result;          /* "ok", "skipped", "failed" */
    char error[768];
} pv_res;

static struct {
    char **uris;
    size_t n;
    const char *issuer, *tpl, *org, *cn_prefix, *keys_dir, *manifest;
    int keys_dirfd, manifest_fd, tty, json;
    X509 *anchor;             /* the issuer's root */
    STACK_OF(X509) *inter;    /* the issuer and the CAs up to the root's child */
    uint8_t *anchor_der, *inter_der;
    size_t anchor_len, inter_len;
    pthread_mutex_t lock;
    /* under lock */
    size_t next, done, n_ok, n_skipped, n_failed;
    char (*seen)[SERIAL_HEX + 1]; /* serials taken, by URI index */
    int manifest_err;
    json_t *failures;
} P = {.keys_dirfd = -1, .manifest_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct pv_worker {
    pthread_t th;
    int started;
    vouch_http *http;
    vouch_se se;
    vouch_transport_any ts;
    int open;
    unsigned flags;   /* VOUCH_SECURE once the host keys are in use */
    vouch_rc sign_rc; /* the SE's answer to the CSR signature */
} pv_worker;

/* ---- messages ---------------------------------------------------------------- */
/* Appends s to out, control characters and non-ASCII as \xNN: server and
 * file text cannot drive the terminal or break a manifest line. */
static void safe_cat(char *out, size_t n, const char *s)
{
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < n; p++) {
        if (*p < 0x20 || *p >= 0x7f)
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
        else
            out[o++] = (char)*p;
    }
    out[o < n ? o : n - 1] = '\0';
}

__attribute__((format(printf, 2, 3))) static int fail(pv_res *r, const char *fmt, ...)
{
    char tmp[sizeof r->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    r->error[0] = '\0';
    safe_cat(r->error, sizeof r->error, tmp);
    r->result = "failed";
    return -1;
}

/* A refusal or failure from the SE, with what would help. */
__attribute__((format(printf, 3, 4))) static int se_fail(pv_res *r, vouch_rc rc,
                                                         const char *fmt, ...)
{
    char what[256];
    const char *hint = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == VOUCH_RC(VOUCH_LAYER_SE, VOUCH_SE_E_MAC))
        hint = " (the host keys file does not hold this SE's keys)";
    else if (rc == VOUCH_RC(VOUCH_LAYER_SE, VOUCH_SE_E_ASLEEP))
        hint = " (the SE went to sleep meanwhile; run again)";
    else if (rc == VOUCH_RC(VOUCH_LAYER_SE, VOUCH_SE_E_BUSY))
        hint = " (another host is using this SE; run again)";
    else if (VOUCH_RC_LAYER(rc) == VOUCH_LAYER_CHANNEL)
        hint = " (wrong host keys, or the answer was altered on the bus)";
    return fail(r, "%s: %s%s", what, vouch_strerror(rc), hint);
}

static void hexs(char *out, const uint8_t *b, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- certificates ----------------------------------------------------------- */
static int der_of(X509 *c, uint8_t **der, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(c, &p);
    if (n <= 0)
        return -1;
    *der = p;
    *len = (size_t)n;
    return 0;
}

static void describe(X509 *leaf, pv_res *r)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL;
    if (h && strlen(h) <= SERIAL_HEX_MAX)
        snprintf(r->cert_serial, sizeof r->cert_serial, "%s", h);
    if (X509_digest(leaf, EVP_sha256(), md, &mdlen) && mdlen == 32)
        hexs(r->sha256, md, 32);
    OPENSSL_free(h);
    BN_free(bn);
}

/* 0 when leaf holds `pub` and chains through `untrusted` to the anchor;
 * otherwise -1 and why. */
static int leaf_ok(X509 *leaf, STACK_OF(X509) *untrusted, EVP_PKEY *pub, char *why, size_t n)
{
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    int ok = -1;
    EVP_PKEY *lk = X509_get0_pubkey(leaf);
    if (!lk || EVP_PKEY_eq(lk, pub) != 1) {
        snprintf(why, n, "its public key is not the SE's slot-0 key");
        goto out;
    }
    if (!(st = X509_STORE_new()) || !X509_STORE_add_cert(st, P.anchor) ||
        !(ctx = X509_STORE_CTX_new()) || !X509_STORE_CTX_init(ctx, st, leaf, untrusted)) {
        snprintf(why, n, "cannot set up the verification (out of memory)");
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        snprintf(why, n, "it does not verify to issuer %s's root: %s", P.issuer,
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    ok = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return ok;
}

/* Zone 0's format: DER certificates back to back from offset 0, leaf
 * first; the first byte that cannot start a certificate (the zero fill)
 * ends the list. NULL when the zone starts with no certificate or holds a
 * broken one. */
static STACK_OF(X509) *parse_chain(const uint8_t *z, size_t n)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    size_t off = 0;
    if (!sk)
        return NULL;
    while (off < n && z[off] == 0x30 && sk_X509_num(sk) < CHAIN_MAX) {
        const unsigned char *p = z + off;
        X509 *c = d2i_X509(NULL, &p, (long)(n - off));
        if (!c || !sk_X509_push(sk, c)) {
            X509_free(c);
            sk_X509_pop_free(sk, X509_free);
            ERR_clear_error();
            return NULL;
        }
        off = (size_t)(p - z);
    }
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

/* The zone image: `a` then `b`, zero-filled to `size`. NULL when too big. */
static uint8_t *image(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t size)
{
    uint8_t *img;
    if (alen > size || blen > size - alen || !(img = calloc(1, size)))
        return NULL;
    memcpy(img, a, alen);
    if (blen)
        memcpy(img + alen, b, blen);
    return img;
}

/* ---- the SE --------------------------------------------------------------------- */
static const vouch_se_zone_info *zone_of(const vouch_se_info *inf, unsigned z)
{
    for (unsigned i = 0; i < inf->n_zones; i++)
        if (inf->zones[i].index == z)
            return &inf->zones[i];
    return NULL;
}

static const vouch_se_key_info *slot_of(const vouch_se_info *inf, unsigned s)
{
    for (unsigned i = 0; i < inf->n_keys; i++)
        if (inf->keys[i].slot == s)
            return &inf->keys[i];
    return NULL;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* QUERY SERIAL, LIFECYCLE, KEYS, ZONES and HOST with w->flags, so that
 * once the channel is up the answers are authenticated (R-MAC). Every
 * answer is checked against its exact layout. */
static vouch_rc query(pv_worker *w, vouch_se_info *inf)
{
    static const uint8_t tags[] = {VOUCH_SE_Q_SERIAL, VOUCH_SE_Q_LIFECYCLE, VOUCH_SE_Q_KEYS,
                                   VOUCH_SE_Q_ZONES, VOUCH_SE_Q_HOST};
    const vouch_rc bad = VOUCH_RC(VOUCH_LAYER_FRAME, VOUCH_E_FRAME_LEN);
    uint8_t b[VOUCH_SE_MAX_PAYLOAD];
    size_t n;
    memset(inf, 0, sizeof *inf);
    for (size_t t = 0; t < sizeof tags; t++) {
        vouch_rc rc = vouch_se_transact(&w->se, VOUCH_SE_CMD_QUERY, w->flags, &tags[t], 1, b,
                                        sizeof b, &n);
        if (rc != VOUCH_OK)
            return rc;
        switch (tags[t]) {
        case VOUCH_SE_Q_SERIAL:
            if (n != VOUCH_SE_SERIAL_LEN)
                return bad;
            memcpy(inf->serial, b, n);
            break;
        case VOUCH_SE_Q_LIFECYCLE:
            if (n != 2)
                return bad;
            inf->lifecycle = b[0];
            inf->power = b[1];
            break;
        case VOUCH_SE_Q_KEYS:
            if (n < 1 || b[0] > VOUCH_SE_SLOTS || n != 1 + 3u * b[0])
                return bad;
            inf->n_keys = b[0];
            for (unsigned i = 0; i < inf->n_keys; i++)
                inf->keys[i] = (vouch_se_key_info){b[1 + 3 * i], b[2 + 3 * i], b[3 + 3 * i]};
            break;
        case VOUCH_SE_Q_ZONES:
            if (n < 1 || b[0] > VOUCH_SE_ZONES || n != 1 + 10u * b[0])
                return bad;
            inf->n_zones = b[0];
            for (unsigned i = 0; i < inf->n_zones; i++) {
                const uint8_t *z = b + 1 + 10 * i;
                inf->zones[i] = (vouch_se_zone_info){
                    .index = z[0], .type = z[1], .read_ac = z[2], .update_ac = z[3],
                    .size = (uint16_t)(z[4] << 8 | z[5]), .counter = get32(z + 6)};
            }
            break;
        case VOUCH_SE_Q_HOST:
            if (n != 5)
                return bad;
            inf->host_keys_set = b[0];
            inf->host_counter = get32(b + 1);
            break;
        }
    }
    return VOUCH_OK;
}

/* Slot 0's P-256 public key (PUBKEY, with w->flags). */
static int slot0_pub(pv_worker *w, EVP_PKEY **pk, pv_res *r)
{
    uint8_t s = 0, b[1 + VOUCH_SE_P256_PUB_LEN];
    size_t n = 0;
    vouch_rc rc = vouch_se_transact(&w->se, VOUCH_SE_CMD_PUBKEY, w->flags, &s, 1, b, sizeof b, &n);
    if (rc != VOUCH_OK)
        return se_fail(r, rc, "read the public key of slot 0");
    if (n != sizeof b || b[0] != VOUCH_SE_ALG_P256 || !(*pk = cli_p256_pub(b + 1, n - 1)))
        return fail(r, "slot 0 does not hold a valid P-256 public key");
    return 0;
}

/* A data zone of at least `min` bytes, its whole content read with
 * w->flags into *buf (caller frees). */
static int read_zone(pv_worker *w, const vouch_se_info *inf, unsigned z, size_t min,
                     uint8_t **buf, size_t *size, pv_res *r)
{
    const vouch_se_zone_info *zi = zone_of(inf, z);
    vouch_rc rc;
    *buf = NULL;
    if (!zi || zi->type != VOUCH_SE_ZONE_DATA)
        return fail(r, "the SE has no data zone %u (vouch se info)", z);
    if (zi->size < min || zi->size == 0)
        return fail(r, "zone %u holds %u bytes; %zu are needed", z, zi->size, min);
    if (!(*buf = malloc(zi->size)))
        return fail(r, "out of memory");
    *size = zi->size;
    if ((rc = vouch_se_read(&w->se, (uint8_t)z, 0, *buf, zi->size, w->flags)) != VOUCH_OK) {
        free(*buf);
        *buf = NULL;
        return se_fail(r, rc, "read zone %u", z);
    }
    return 0;
}

static int se_connect(pv_worker *w, const char *uri, pv_res *r)
{
    const vouch_transport *t;
    void *tctx;
    errno = 0;
    vouch_rc rc = vouch_transport_open_uri(uri, &w->ts, &t, &tctx);
    if (rc != VOUCH_OK) {
        int e = errno;
        return fail(r, "cannot connect: %s%s%s%s", vouch_strerror(rc), e ? " (" : "",
                    e ? strerror(e) : "", e ? ")" : "");
    }
    vouch_se_config cfg = {.transport = t, .transport_ctx = tctx};
    if ((rc = vouch_se_init(&w->se, &cfg)) != VOUCH_OK) {
        if (t->close)
            t->close(tctx);
        return se_fail(r, rc, "cannot start the SE client");
    }
    w->open = 1;
    w->flags = VOUCH_PLAIN;
    return 0;
}

/* ---- host keys ------------------------------------------------------------------- */
/* DIR/<serial>.hostkeys: 64 hex digits and a newline, mode 0600, written to
 * a temporary file, fsync'd, renamed, and the directory fsync'd, so the
 * file is whole or absent before the keys reach the SE. */
static int keys_write(const char *serial, const uint8_t hk[HK_LEN], pv_res *r)
{
    char name[SERIAL_HEX + 16], tmp[SERIAL_HEX + 24], hex[2 * HK_LEN + 2];
    int fd, ret = -1;
    snprintf(name, sizeof name, "%s.hostkeys", serial);
    snprintf(tmp, sizeof tmp, ".%s.hostkeys.tmp", serial);
    hexs(hex, hk, HK_LEN);
    hex[2 * HK_LEN] = '\n';
    hex[2 * HK_LEN + 1] = '\0';
    fd = openat(P.keys_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(r, "cannot create %s/%s: %s", P.keys_dir, tmp, strerror(errno));
        goto out;
    }
    size_t left = 2 * HK_LEN + 1;
    const char *p = hex;
    int ok = fchmod(fd, 0600) == 0; /* an old temporary file keeps its mode */
    while (ok && left > 0) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if ((ok = k > 0)) {
            p += k;
            left -= (size_t)k;
        }
    }
    if (!ok || fsync(fd) != 0) {
        fail(r, "cannot write %s/%s: %s", P.keys_dir, tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) != 0 || renameat(P.keys_dirfd, tmp, P.keys_dirfd, name) != 0 ||
        fsync(P.keys_dirfd) != 0) {
        fail(r, "cannot write %s/%s: %s", P.keys_dir, name, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    OPENSSL_cleanse(hex, sizeof hex);
    return ret;
}

/* The keys an earlier run wrote for this SE (as `vouch se --host-keys`
 * reads them: 64 hex digits, whitespace around them, or 32 raw bytes). */
static int keys_read(const char *serial, uint8_t hk[HK_LEN], pv_res *r)
{
    char name[SERIAL_HEX + 16];
    uint8_t buf[257];
    size_t n = 0;
    struct stat sb;
    int ret = -1;
    snprintf(name, sizeof name, "%s.hostkeys", serial);
    int fd = openat(P.keys_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return fail(r, "the SE already has host keys, but %s/%s does not exist: they were "
                           "not put there by vouch provision with this --host-keys-dir, so "
                           "its secure channel cannot be driven (no change made)",
                        P.keys_dir, name);
        return fail(r, "cannot open %s/%s: %s", P.keys_dir, name, strerror(errno));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail(r, "%s/%s is not a regular file", P.keys_dir, name);
        goto out;
    }
    while (n < sizeof buf) {
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fail(r, "cannot read %s/%s: %s", P.keys_dir, name, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    if (n == HK_LEN) {
        memcpy(hk, buf, HK_LEN);
        ret = 0;
        goto out;
    }
    size_t a = 0, e = n;
    while (a < e && strchr(" \t\r\n", buf[a]) && buf[a])
        a++;
    while (e > a && strchr(" \t\r\n", buf[e - 1]) && buf[e - 1])
        e--;
    if (n >= sizeof buf || cli_unhex((const char *)buf + a, e - a, hk, HK_LEN) != 0) {
        fail(r, "%s/%s does not hold host keys (64 hex digits)", P.keys_dir, name);
        goto out;
    }
    ret = 0;
out:
    close(fd);
    OPENSSL_cleanse(buf, sizeof buf);
    return ret;
}

/* Opens the secure channel: the SE's own keys from the file when it has
 * some, else new ones, written to the file first and then to the SE. */
static int host_keys(pv_worker *w, const vouch_se_info *inf, const char *serial, pv_res *r)
{
    uint8_t hk[HK_LEN], mine[HK_LEN];
    vouch_rc rc;
    int ret = -1;
    if (inf->host_keys_set) {
        if (keys_read(serial, hk, r) != 0)
            goto out;
        if ((rc = vouch_se_set_host_keys(&w->se, hk, hk + 16)) != VOUCH_OK) {
            se_fail(r, rc, "use the host keys");
            goto out;
        }
    } else {
        /* The SE's generator, as the factory expects; XORed with the host's
         * so that the keys are as good as the better of the two. */
        if ((rc = vouch_se_random(&w->se, hk, sizeof hk)) != VOUCH_OK) {
            se_fail(r, rc, "draw the host keys from the SE's RNG");
            goto out;
        }
        if (RAND_bytes(mine, sizeof mine) != 1) {
            fail(r, "the host's random generator failed");
            goto out;
        }
        for (size_t i = 0; i < sizeof hk; i++)
            hk[i] ^= mine[i];
        if (keys_write(serial, hk, r) != 0)
            goto out;
        if ((rc = vouch_se_put_host_keys(&w->se, hk, hk + 16, VOUCH_PLAIN)) != VOUCH_OK) {
            se_fail(r, rc, "put the host keys into the SE");
            goto out;
        }
    }
    w->flags = VOUCH_SECURE;
    ret = 0;
out:
    OPENSSL_cleanse(hk, sizeof hk);
    OPENSSL_cleanse(mine, sizeof mine);
    return ret;
}

/* ---- the server ------------------------------------------------------------------- */
static void api_error(const vouch_http_response *rsp, char *out, size_t n)
{
    json_t *j = rsp->len ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    out[0] = '\0';
    if (code && msg) {
        safe_cat(out, n, msg);
        size_t o = strlen(out);
        snprintf(out + o, n - o, " (HTTP %d ", rsp->status);
        safe_cat(out, n, code);
        safe_cat(out, n, ")");
    } else {
        snprintf(out, n, "HTTP %d without an API error body", rsp->status);
    }
    json_decref(j);
}

/* One request on the worker's client; 0 with a 2xx answer in *rsp. */
static int request(pv_worker *w, const char *method, const char *path, const char *body,
                   const char *what, vouch_http_response *rsp, pv_res *r)
{
    static const vouch_http_header jh[] = {{"Content-Type", "application/json"},
                                           {"Accept", "application/json"},
                                           {NULL, NULL}};
    char err[512] = "", e[512];
    vouch_http_rc rc = vouch_http_request(w->http, method, path, body ? jh : NULL, body,
                                          body ? strlen(body) : 0, rsp, err, sizeof err);
    if (rc != VOUCH_HTTP_OK)
        return fail(r, "%s: %s", what, err);
    if (rsp->status < 200 || rsp->status > 299) {
        api_error(rsp, e, sizeof e);
        vouch_http_response_clear(rsp);
        return fail(r, "%s: %s", what, e);
    }
    return 0;
}

static X509 *pem_cert(const char *pem, size_t len)
{
    BIO *b = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return c;
}

/* The CSR's signature is made in the SE (slot 0, over the channel). */
static int sign_cb(void *ctx, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t sig_size,
                   size_t *sig_len)
{
    pv_worker *w = ctx;
    uint8_t rs[VOUCH_SE_SIG_LEN], *der = NULL;
    size_t n = 0;
    if (dlen != 32)
        return -1;
    w->sign_rc = vouch_se_sign(&w->se, 0, digest, dlen, rs, w->flags);
    if (w->sign_rc != VOUCH_OK || !(der = cli_sig_to_der(rs, &n)) || n > sig_size) {
        OPENSSL_free(der);
        return -1;
    }
    memcpy(sig, der, n);
    *sig_len = n;
    OPENSSL_free(der);
    return 0;
}

/* A certificate the server already issued for this key and device (an
 * earlier run stopped between issuance and writing it): 1 with *out set, 0
 * when there is none, -1 on error. */
static int find_issued(pv_worker *w, EVP_PKEY *pk, const char *cn, X509 **out, pv_res *r)
{
    char *ecn = vouch_http_encode(cn), *ei = vouch_http_encode(P.issuer),
         *et = vouch_http_encode(P.tpl), *path = NULL, why[256];
    vouch_http_response rsp = {0};
    json_t *ans = NULL, *v;
    size_t i;
    int ret = -1;
    *out = NULL;
    if (!ecn || !ei || !et || asprintf(&path, "/v1/certificates?device_id=%s&issuer=%s&template=%s"
                                               "&status=active&limit=%d",
                                       ecn, ei, et, FOUND_MAX) < 0) {
        path = NULL;
        fail(r, "out of memory");
        goto out;
    }
    if (request(w, "GET", path, NULL, "search the certificates of this device", &rsp, r) != 0)
        goto out;
    ans = json_loadb(rsp.body, rsp.len, 0, NULL);
    vouch_http_response_clear(&rsp);
    json_t *list = json_object_get(ans, "certificates");
    if (!json_is_array(list)) {
        fail(r, "search the certificates of this device: unexpected answer (no certificates "
                "array)");
        goto out;
    }
    ret = 0;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(json_object_get(v, "serial"));
        size_t sl = s ? strlen(s) : 0;
        if (!sl || sl > SERIAL_HEX_MAX || strspn(s, "0123456789ABCDEF") != sl)
            continue;
        char *cp = cert_path(P.issuer, s, "?format=pem");
        if (!cp) {
            ret = fail(r, "out of memory");
            break;
        }
        int got = request(w, "GET", cp, NULL, "fetch an earlier certificate", &rsp, r);
        free(cp);
        if (got != 0) {
            ret = -1;
            break;
        }
        X509 *c = pem_cert(rsp.body, rsp.len);
        vouch_http_response_clear(&rsp);
        if (c && leaf_ok(c, P.inter, pk, why, sizeof why) == 0) {
            *out = c;
            ret = 1;
            break;
        }
        X509_free(c);
    }
out:
    json_decref(ans);
    free(path);
    free(ecn);
    free(ei);
    free(et);
    return ret;
}

/* CSR signed by the SE, POST /v1/certificates, the certificate back. */
static int issue(pv_worker *w, EVP_PKEY *pk, const char *cn, X509 **out, pv_res *r)
{
    char subject[16 + ORG_MAX + CN_MAX], why[256] = "";
    vouch_pki_signer *signer = NULL;
    X509_REQ *req = NULL;
    BIO *bio = NULL;
    BUF_MEM *m = NULL;
    json_t *body = NULL, *ans = NULL;
    char *b = NULL, *pem = NULL;
    vouch_http_response rsp = {0};
    int ret = -1;
    *out = NULL;
    if (P.org)
        snprintf(subject, sizeof subject, "/O=%s/CN=%s", P.org, cn);
    else
        snprintf(subject, sizeof subject, "/CN=%s", cn);
    if (vouch_pki_signer_external(pk, sign_cb, w, &signer) != VOUCH_PKI_OK) {
        fail(r, "cannot use the SE's public key for a request");
        goto out;
    }
    w->sign_rc = VOUCH_OK;
    if (vouch_pki_csr_build(subject, NULL, 0, signer, &req, why, sizeof why) != VOUCH_PKI_OK) {
        if (w->sign_rc != VOUCH_OK)
            se_fail(r, w->sign_rc, "sign the certificate request with slot 0");
        else
            fail(r, "cannot make the certificate request: %s", why);
        goto out;
    }
    if (!(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_REQ(bio, req) != 1 ||
        BIO_get_mem_ptr(bio, &m) != 1 || !m || !(pem = strndup(m->data, m->length)) ||
        !(body = json_pack("{s:s, s:s, s:s}", "csr", pem, "template", P.tpl, "issuer",
                           P.issuer)) ||
        !(b = json_dumps(body, JSON_COMPACT))) {
        fail(r, "cannot encode the certificate request (out of memory)");
        goto out;
    }
    if (request(w, "POST", "/v1/certificates", b, "issue the certificate", &rsp, r) != 0)
        goto out;
    ans = json_loadb(rsp.body, rsp.len, 0, NULL);
    const char *cert = json_string_value(json_object_get(ans, "certificate"));
    if (!cert || !(*out = pem_cert(cert, strlen(cert)))) {
        fail(r, "issue the certificate: unexpected answer (no PEM certificate)");
        goto out;
    }
    ret = 0;
out:
    vouch_http_response_clear(&rsp);
    json_decref(ans);
    json_decref(body);
    free(b);
    free(pem);
    BIO_free(bio);
    X509_REQ_free(req);
    vouch_pki_signer_free(signer);
    ERR_clear_error();
    return ret;
}

/* ---- one SE ------------------------------------------------------------------------ */
/* OPERATIONAL: finished when zone 0 holds a certificate for slot 0's key
 * that chains to the anchor, and zone 1 holds the anchor. Nothing is
 * written. */
static int check_finished(pv_worker *w, const vouch_se_info *inf, pv_res *r)
{
    EVP_PKEY *pk = NULL;
    uint8_t *z0 = NULL, *z1 = NULL, *img1 = NULL;
    size_t s0 = 0, s1 = 0;
    STACK_OF(X509) *chain = NULL;
    char why[256];
    int ret = -1;
    const vouch_se_key_info *k0 = slot_of(inf, 0);
    if (read_zone(w, inf, Z_CHAIN, 1, &z0, &s0, r) != 0 ||
        read_zone(w, inf, Z_ANCHOR, P.anchor_len, &z1, &s1, r) != 0)
        goto out;
    if (!k0 || !(k0->flags & VOUCH_SE_KEY_PRESENT)) {
        fail(r, "the SE is operational with no key in slot 0, which cannot get one any "
                "more: it cannot be provisioned");
        goto out;
    }
    if (!(chain = parse_chain(z0, s0))) {
        fail(r, "the SE is operational but zone 0 holds no certificate: it was not "
                "personalized by vouch provision, and cannot be any more (its host keys and "
                "lifecycle are fixed)");
        goto out;
    }
    if (slot0_pub(w, &pk, r) != 0)
        goto out;
    X509 *leaf = sk_X509_value(chain, 0);
    STACK_OF(X509) *rest = sk_X509_dup(chain);
    if (rest)
        (void)sk_X509_shift(rest);
    int ok = rest && leaf_ok(leaf, rest, pk, why, sizeof why) == 0;
    sk_X509_free(rest);
    if (!ok) {
        fail(r, "the SE is operational, but the certificate in zone 0 is not usable: %s", why);
        goto out;
    }
    if (!(img1 = image(P.anchor_der, P.anchor_len, NULL, 0, s1)) || memcmp(img1, z1, s1) != 0) {
        fail(r, "the SE is operational, but zone 1 does not hold issuer %s's root "
                "certificate", P.issuer);
        goto out;
    }
    describe(leaf, r);
    r->result = "skipped";
    ret = 0;
out:
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(pk);
    free(z0);
    free(z1);
    free(img1);
    return ret;
}

/* Writes `img` into zone z unless it is there already. */
static int put_zone(pv_worker *w, const vouch_se_zone_info *zi, const uint8_t *img,
                    const uint8_t *cur, pv_res *r)
{
    vouch_rc rc;
    if (memcmp(img, cur, zi->size) == 0)
        return 0;
    if (zi->update_ac == VOUCH_SE_AC_NEVER)
        return fail(r, "zone %u is locked (update never) and holds something else: this SE "
                       "was personalized with another %s",
                    zi->index, zi->index == Z_ANCHOR ? "trust anchor" : "certificate");
    if ((rc = vouch_se_update(&w->se, zi->index, 0, img, zi->size, w->flags)) != VOUCH_OK)
        return se_fail(r, rc, "write zone %u", zi->index);
    return 0;
}

/* Tightens zone z's update condition to at least `update`, keeping its read
 * condition, which must be `always` when must_read_always. */
static int tighten(pv_worker *w, const vouch_se_zone_info *zi, uint8_t update,
                   int must_read_always, pv_res *r)
{
    vouch_rc rc;
    if (must_read_always && zi->read_ac != VOUCH_SE_AC_ALWAYS)
        return fail(r, "zone %u's read access is %s; it must stay readable by anyone",
                    zi->index, vouch_se_ac_name(zi->read_ac));
    if (zi->update_ac >= update)
        return 0;
    if ((rc = vouch_se_zone_ac(&w->se, zi->index, zi->read_ac, update, w->flags)) != VOUCH_OK)
        return se_fail(r, rc, "set zone %u's update access to %s", zi->index,
                       vouch_se_ac_name(update));
    return 0;
}

static void provision_one(pv_worker *w, size_t idx, pv_res *r)
{
    const char *uri = P.uris[idx];
    vouch_se_info inf, sinf;
    EVP_PKEY *pk = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    uint8_t *z0 = NULL, *z1 = NULL, *img0 = NULL, *img1 = NULL, *leaf_der = NULL;
    uint8_t pub[VOUCH_SE_P256_PUB_LEN];
    size_t s0 = 0, s1 = 0, leaf_len = 0, plen;
    char cn[CN_MAX + 1], why[256];
    vouch_rc rc;

    if (se_connect(w, uri, r) != 0)
        goto out;
    /* harmless when awake; a sleeping chip refuses everything else */
    if ((rc = vouch_se_wake(&w->se)) != VOUCH_OK || (rc = query(w, &inf)) != VOUCH_OK) {
        se_fail(r, rc, "query the SE");
        goto out;
    }
    hexs(r->serial, inf.serial, sizeof inf.serial);
    pthread_mutex_lock(&P.lock);
    size_t dup = P.n;
    for (size_t i = 0; i < P.n && dup == P.n; i++)
        if (i != idx && strcmp(P.seen[i], r->serial) == 0)
            dup = i;
    if (dup == P.n)
        memcpy(P.seen[idx], r->serial, sizeof P.seen[idx]);
    pthread_mutex_unlock(&P.lock);
    if (dup != P.n) {
        fail(r, "this is the same SE (serial %s) as %s; each SE once per batch", r->serial,
             P.uris[dup]);
        goto out;
    }
    switch (inf.lifecycle) {
    case VOUCH_SE_LC_OPERATIONAL:
        check_finished(w, &inf, r);
        goto out;
    case VOUCH_SE_LC_PERSONALIZATION:
        break;
    case VOUCH_SE_LC_TERMINATED:
        fail(r, "the SE is terminated: its keys are wiped and it cannot be provisioned");
        goto out;
    default:
        fail(r, "the SE reports an unknown lifecycle state %u", inf.lifecycle);
        goto out;
    }

    /* the secure channel, then the chip as it says over it */
    if (host_keys(w, &inf, r->serial, r) != 0)
        goto out;
    if ((rc = query(w, &sinf)) != VOUCH_OK) {
        se_fail(r, rc, "query the SE over the secure channel");
        goto out;
    }
    if (memcmp(sinf.serial, inf.serial, sizeof inf.serial) != 0 ||
        sinf.lifecycle != VOUCH_SE_LC_PERSONALIZATION) {
        fail(r, "the SE's serial or state changed under the secure channel");
        goto out;
    }
    const vouch_se_zone_info *zc = zone_of(&sinf, Z_CHAIN), *za = zone_of(&sinf, Z_ANCHOR),
                             *zk = zone_of(&sinf, Z_KEYS);
    /* certificates are public: refuse before writing what nobody could read */
    const vouch_se_zone_info *public_zones[] = {zc, za};
    for (size_t i = 0; i < 2; i++)
        if (public_zones[i] && public_zones[i]->read_ac != VOUCH_SE_AC_ALWAYS) {
            fail(r, "zone %u's read access is %s; it must stay readable by anyone",
                 public_zones[i]->index, vouch_se_ac_name(public_zones[i]->read_ac));
            goto out;
        }

    /* the device key: made here, or by an earlier run of this tool (no
     * command puts a key into a slot from outside) */
    const vouch_se_key_info *k0 = slot_of(&sinf, 0);
    int had_key = k0 && (k0->flags & VOUCH_SE_KEY_PRESENT) && k0->alg == VOUCH_SE_ALG_P256;
    if (!had_key && (rc = vouch_se_keygen(&w->se, 0, VOUCH_SE_ALG_P256, pub, sizeof pub, &plen,
                                          w->flags)) != VOUCH_OK) {
        se_fail(r, rc, "generate the device key in slot 0");
        goto out;
    }
    if (slot0_pub(w, &pk, r) != 0)
        goto out;

    /* zone 1: the trust anchor */
    if (read_zone(w, &sinf, Z_ANCHOR, P.anchor_len, &z1, &s1, r) != 0)
        goto out;
    if (!(img1 = image(P.anchor_der, P.anchor_len, NULL, 0, s1))) {
        fail(r, "out of memory");
        goto out;
    }
    if (put_zone(w, za, img1, z1, r) != 0)
        goto out;

    /* zone 0: the chain, with a certificate found or issued */
    snprintf(cn, sizeof cn, "%s%s", P.cn_prefix ? P.cn_prefix : "", r->serial);
    if (read_zone(w, &sinf, Z_CHAIN, 1, &z0, &s0, r) != 0)
        goto out;
    if ((chain = parse_chain(z0, s0)) != NULL &&
        leaf_ok(sk_X509_value(chain, 0), P.inter, pk, why, sizeof why) == 0) {
        leaf = sk_X509_shift(chain);
    } else if (had_key) {
        if (find_issued(w, pk, cn, &leaf, r) < 0)
            goto out;
    }
    if (!leaf) {
        if (issue(w, pk, cn, &leaf, r) != 0)
            goto out;
        /* from outside, before anything is written: the key and the chain */
        if (leaf_ok(leaf, P.inter, pk, why, sizeof why) != 0) {
            fail(r, "the server's certificate was not written: %s", why);
            goto out;
        }
    }
    if (der_of(leaf, &leaf_der, &leaf_len) != 0) {
        fail(r, "cannot encode the certificate");
        goto out;
    }
    if (!(img0 = image(leaf_der, leaf_len, P.inter_der, P.inter_len, s0))) {
        fail(r, "the certificate chain (%zu bytes) does not fit zone 0 (%zu bytes)",
             leaf_len + P.inter_len, s0);
        goto out;
    }
    if (put_zone(w, zc, img0, z0, r) != 0)
        goto out;

    /* lock: the anchor for good, the certificate and keys zones to the MCU */
    if (tighten(w, za, VOUCH_SE_AC_NEVER, 1, r) != 0 ||
        tighten(w, zc, VOUCH_SE_AC_HOST, 1, r) != 0 ||
        (zk && zk->type == VOUCH_SE_ZONE_DATA && tighten(w, zk, VOUCH_SE_AC_HOST, 0, r) != 0))
        goto out;

    /* read back what the device will see */
    free(z0);
    free(z1);
    z0 = z1 = NULL;
    if (read_zone(w, &sinf, Z_ANCHOR, P.anchor_len, &z1, &s1, r) != 0 ||
        read_zone(w, &sinf, Z_CHAIN, 1, &z0, &s0, r) != 0)
        goto out;
    if (memcmp(z1, img1, s1) != 0 || memcmp(z0, img0, s0) != 0) {
        fail(r, "zone %d does not read back as written", memcmp(z1, img1, s1) ? 1 : 0);
        goto out;
    }

    if ((rc = vouch_se_lifecycle(&w->se, VOUCH_SE_LC_OPERATIONAL, w->flags)) != VOUCH_OK) {
        se_fail(r, rc, "move the SE to operational");
        goto out;
    }
    if ((rc = query(w, &sinf)) != VOUCH_OK) {
        se_fail(r, rc, "check the SE's lifecycle");
        goto out;
    }
    if (sinf.lifecycle != VOUCH_SE_LC_OPERATIONAL) {
        fail(r, "the SE did not become operational");
        goto out;
    }
    describe(leaf, r);
    r->result = "ok";
out:
    if (w->open) {
        vouch_se_close(&w->se); /* wipes the host keys in the context */
        w->open = 0;
    }
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    EVP_PKEY_free(pk);
    OPENSSL_free(leaf_der);
    free(z0);
    free(z1);
    free(img0);
    free(img1);
    ERR_clear_error();
    if (!r->result)
        fail(r, "internal error");
}

/* ---- reporting ----------------------------------------------------------------------- */
static void manifest_line(size_t idx, const pv_res *r)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    int failed = strcmp(r->result, "failed") == 0;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
#define OR_NULL(s) ((s)[0] ? json_string(s) : json_null())
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o}", "time", ts, "se",
                          P.uris[idx], "serial", OR_NULL(r->serial), "result", r->result,
                          "issuer", P.issuer, "template", P.tpl, "certificate_serial",
                          OR_NULL(r->cert_serial), "sha256", OR_NULL(r->sha256), "error",
                          failed ? json_string(r->error) : json_null());
#undef OR_NULL
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t len = s ? strlen(s) : 0;
    int ok = s != NULL;
    if (s)
        s[len++] = '\n'; /* json_dumps's NUL becomes the newline: one write */
    for (size_t off = 0; ok && off < len;) {
        ssize_t k = write(P.manifest_fd, s + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        ok = k > 0;
        if (ok)
            off += (size_t)k;
    }
    if (ok && fsync(P.manifest_fd) != 0)
        ok = 0;
    if (!ok && !P.manifest_err) {
        P.manifest_err = 1;
        fprintf(stderr, "%svouch: " CMD ": cannot append to the manifest %s: %s\n",
                P.tty ? "\r\033[K" : "", P.manifest, strerror(errno));
    }
    free(s);
}

static void bar(void)
{
    enum { W = 30 };
    size_t fill = P.n ? P.done * W / P.n : W;
    char b[W + 1];
    memset(b, '#', fill);
    memset(b + fill, '.', W - fill);
    b[W] = '\0';
    fprintf(stderr, "\r\033[K" CMD " [%s] %zu/%zu  ok %zu  skipped %zu  failed %zu", b, P.done,
            P.n, P.n_ok, P.n_skipped, P.n_failed);
    fflush(stderr);
}

static void report(size_t idx, const pv_res *r)
{
    char uri[2 * URI_MAX] = "";
    int failed = strcmp(r->result, "failed") == 0;
    safe_cat(uri, sizeof uri, P.uris[idx]);
    pthread_mutex_lock(&P.lock);
    P.done++;
    if (failed)
        P.n_failed++;
    else if (strcmp(r->result, "ok") == 0)
        P.n_ok++;
    else
        P.n_skipped++;
    if (P.manifest_fd >= 0)
        manifest_line(idx, r);
    if (failed) {
        json_t *f = json_pack("{s:s, s:o, s:s}", "se", P.uris[idx], "serial",
                              r->serial[0] ? json_string(r->serial) : json_null(), "error",
                              r->error);
        if (f)
            json_array_append_new(P.failures, f);
    }
    if (P.tty && !failed) {
        bar();
    } else {
        fprintf(stderr, "%svouch: " CMD ": [%zu/%zu] %s%s%s: %s", P.tty ? "\r\033[K" : "",
                P.done, P.n, uri, r->serial[0] ? " serial " : "", r->serial, r->result);
        if (failed)
            fprintf(stderr, ": %s\n", r->error);
        else
            fprintf(stderr, "%s, certificate %s, sha256 %s\n",
                    r->result[0] == 's' ? " (already provisioned)" : "", r->cert_serial,
                    r->sha256);
        if (P.tty)
            bar();
    }
    pthread_mutex_unlock(&P.lock);
}

static void *worker_main(void *arg)
{
    pv_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&P.lock);
        size_t i = P.next < P.n ? P.next++ : P.n;
        pthread_mutex_unlock(&P.lock);
        if (i == P.n)
            break;
        pv_res r;
        memset(&r, 0, sizeof r);
        provision_one(w, i, &r);
        report(i, &r);
    }
    ERR_clear_error();
    OPENSSL_thread_stop();
    return NULL;
}

/* ---- setup ----------------------------------------------------------------------------- */
static cli_opt opts[] = {
    {"se-list", "FILE", NULL, 0},      {"server", "URL", NULL, 0},
    {"token-file", "FILE", NULL, 0},   {"cacert", "FILE", NULL, 0},
    {"timeout", "SECONDS", NULL, 0},   {"template", "NAME", NULL, 0},
    {"issuer", "NAME", NULL, 0},       {"host-keys-dir", "DIR", NULL, 0},
    {"manifest", "FILE", NULL, 0},     {"jobs", "N", NULL, 0},
    {"org", "ORG", NULL, 0},           {"cn-prefix", "PREFIX", NULL, 0},
    {"anchor", "FILE", NULL, 0},       {"json", NULL, NULL, 0},
    {NULL, NULL, NULL, 0}};

static const char *opt(const char *name) { return cli_val(opts, name); }

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A URI we will hand to vouch_transport_open_uri: the scheme is checked
 * here so that a typo is a usage error, not a failed SE. */
static int uri_ok(const char *u, const char *from)
{
    size_t n = strlen(u);
    int printable = 1;
    for (size_t i = 0; i < n; i++)
        printable &= (unsigned char)u[i] >= 0x20 && (unsigned char)u[i] < 0x7f;
    if (!printable || n > URI_MAX || n < 6 ||
        (strncmp(u, "unix:", 5) != 0 && strncmp(u, "i2c:", 4) != 0)) {
        char s[2 * URI_MAX] = "";
        safe_cat(s, sizeof s, u);
        return cli_usage(CMD, "bad SE URI '%s'%s: expected unix:/path/to/socket or "
                              "i2c:/dev/i2c-N@0xADDR", s, from);
    }
    return CLI_OK;
}

static int add_uri(char *u, size_t *cap)
{
    if (P.n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        char **nu = realloc(P.uris, nc * sizeof *nu);
        if (!nu)
            return cli_err(CLI_FILE, CMD ": out of memory");
        P.uris = nu;
        *cap = nc;
    }
    P.uris[P.n++] = u;
    return CLI_OK;
}

/* --se-list: one URI per line; blank lines and lines starting with '#'
 * are skipped, blanks around a URI dropped. */
static int read_se_list(const char *path, uint8_t **buf, size_t *cap)
{
    size_t len;
    int ret = cli_read_file(path, SE_LIST_MAX, buf, &len);
    char from[64];
    if (ret)
        return ret;
    if (memchr(*buf, '\0', len))
        return cli_err(CLI_FILE, "%s: not a text file (one SE URI per line)", path);
    size_t line = 0;
    for (char *save = NULL, *l = strtok_r((char *)*buf, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        while (*l == ' ' || *l == '\t')
            l++;
        size_t n = strlen(l);
        while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
            l[--n] = '\0';
        if (!n || *l == '#')
            continue;
        snprintf(from, sizeof from, " (%.40s)", path);
        if ((ret = uri_ok(l, from)) != CLI_OK || (ret = add_uri(l, cap)) != CLI_OK)
            return ret;
    }
    return CLI_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int no_duplicates(void)
{
    char **s = malloc(P.n * sizeof *s);
    int ret = CLI_OK;
    if (!s)
        return cli_err(CLI_FILE, CMD ": out of memory");
    memcpy(s, P.uris, P.n * sizeof *s);
    qsort(s, P.n, sizeof *s, cmp_str);
    for (size_t i = 1; i < P.n && ret == CLI_OK; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            ret = cli_usage(CMD, "the SE %s is given twice", s[i]);
    free(s);
    return ret;
}

/* Values that go into the certificate request's subject. */
static int subject_part_ok(const char *what, const char *s, size_t max, int cn)
{
    size_t n = strlen(s);
    int ok = n >= (cn ? 0u : 1u) && n <= max;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ok = cn ? (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("._:-", c)
                : c >= 0x20 && c < 0x7f && c != '/' && c != '\\' && c != '+' && c != '=';
    }
    if (ok && cn && n && !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
                           (s[0] >= '0' && s[0] <= '9')))
        ok = 0;
    if (!ok)
        return cli_usage(CMD, cn ? "bad %s '%s': at most %zu of A-Z a-z 0-9 . _ : -, starting "
                                   "with a letter or digit (the serial follows it in the CN)"
                                 : "bad %s '%s': 1..%zu printable characters, no / \\ + =",
                         what, s, max);
    return CLI_OK;
}

static int load_pem_cert(const char *path, X509 **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret = cli_read_file(path, ANCHOR_MAX, &buf, &len);
    if (ret)
        return ret;
    if (!(*out = pem_cert((const char *)buf, len)))
        ret = cli_err(CLI_FILE, "%s is not a PEM certificate", path);
    free(buf);
    return ret;
}

static json_t *find_issuer(json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (strcmp(jstr(v, "name"), name) == 0) return v;
    return NULL;
}

/* GET /v1/issuers: the issuer's chain up to its root. The root becomes the
 * anchor (zone 1), the others follow the leaf in zone 0. */
static int fetch_chain(const char *pin_path, X509 *pin)
{
    json_t *ans = NULL;
    STACK_OF(X509) *all = sk_X509_new_null();
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    int ret = remote_json("GET", "/v1/issuers", NULL, "list the issuers", NULL, &ans);
    if (ret)
        goto out;
    json_t *list = json_object_get(ans, "issuers"), *cur = find_issuer(list, P.issuer);
    if (!json_is_array(list)) {
        ret = bad_answer("list the issuers", "no issuers array");
        goto out;
    }
    if (!cur) {
        ret = cli_err(CLI_REFUSED, CMD ": the server has no issuer named '%s'", P.issuer);
        fprintf(stderr, "vouch: hint: 'vouch ca list --server URL' shows the server's "
                        "issuers\n");
        goto out;
    }
    for (int depth = 0; cur; depth++) {
        const char *pem = jstr(cur, "certificate_pem"), *parent = jstr(cur, "parent");
        X509 *c = pem_cert(pem, strlen(pem));
        if (depth >= CHAIN_MAX || !c || !all || !sk_X509_push(all, c)) {
            X509_free(c);
            ret = bad_answer("list the issuers", "an issuer without a certificate, or a "
                                                 "chain that does not end");
            goto out;
        }
        cur = *parent ? find_issuer(list, parent) : NULL;
        if (*parent && !cur) {
            ret = bad_answer("list the issuers", "an issuer whose parent is not listed");
            goto out;
        }
    }
    if (sk_X509_num(all) < 2) {
        ret = cli_err(CLI_REFUSED, CMD ": issuer '%s' is a root CA, which does not issue "
                                   "device certificates; name an issuing or family CA",
                      P.issuer);
        goto out;
    }
    P.anchor = sk_X509_pop(all);
    P.inter = all;
    all = NULL;
    /* the chain must hold together before anything relies on it */
    if (X509_check_issued(P.anchor, P.anchor) != X509_V_OK || !(st = X509_STORE_new()) ||
        !X509_STORE_add_cert(st, P.anchor) || !(ctx = X509_STORE_CTX_new()) ||
        !X509_STORE_CTX_init(ctx, st, sk_X509_value(P.inter, 0), P.inter) ||
        X509_verify_cert(ctx) != 1) {
        ret = bad_answer("list the issuers", "the issuer's certificates do not chain to a "
                                             "self-signed root");
        goto out;
    }
    if (pin && X509_cmp(pin, P.anchor) != 0) {
        ret = cli_err(CLI_REFUSED, CMD ": the server's root for issuer '%s' is not the "
                                   "certificate in %s; nothing was done",
                      P.issuer, pin_path);
        goto out;
    }
    uint8_t *d = NULL;
    size_t dl = 0;
    if (der_of(P.anchor, &P.anchor_der, &P.anchor_len) != 0) {
        ret = cli_err(CLI_FILE, CMD ": out of memory");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(P.inter); i++) {
        uint8_t *nd;
        if (der_of(sk_X509_value(P.inter, i), &d, &dl) != 0 ||
            !(nd = realloc(P.inter_der, P.inter_len + dl))) {
            OPENSSL_free(d);
            ret = cli_err(CLI_FILE, CMD ": out of memory");
            goto out;
        }
        P.inter_der = nd;
        memcpy(P.inter_der + P.inter_len, d, dl);
        P.inter_len += dl;
        OPENSSL_free(d);
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_pop_free(all, X509_free);
    json_decref(ans);
    return ret;
}

static int open_keys_dir(const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cli_err(CLI_FILE, CMD ": cannot create the host keys directory %s: %s", dir,
                       strerror(errno));
    P.keys_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (P.keys_dirfd < 0)
        return cli_err(CLI_FILE, CMD ": cannot open the host keys directory %s: %s", dir,
                       strerror(errno));
    if (fstat(P.keys_dirfd, &sb) == 0 && (sb.st_mode & 0002))
        return cli_err(CLI_FILE, CMD ": the host keys directory %s is writable by anyone: "
                                 "others could replace the keys files; refusing it "
                                 "(chmod o-w %s)", dir, dir);
    return CLI_OK;
}

/* ---- help ------------------------------------------------------------------------------ */
static const char status_text[] =
    "    0  every SE was provisioned, or skipped because it already was\n"
    "    2  usage error: unknown or bad option, no --se or --se-list, no\n"
    "       --host-keys-dir, a bad --jobs, SE URI, name, --org or --cn-prefix,\n"
    "       an SE given twice, no server or token\n"
    "    3  at least one SE failed (each failure is printed and written to the\n"
    "       manifest; the others were provisioned); or, before any SE was\n"
    "       touched, the server refused (bad token, no such issuer or\n"
    "       template, an issuer that is a root) or its root is not --anchor\n"
    "    4  communication failure before any SE was touched: the server cannot\n"
    "       be reached, its TLS certificate does not verify, an unexpected\n"
    "       answer, a server error\n"
    "    5  local file error: --se-list, --token-file, --cacert or --anchor\n"
    "       missing or unusable; --host-keys-dir or --manifest cannot be\n"
    "       created or written (a manifest write failing during the batch\n"
    "       also ends in 5 when no SE failed)\n";

static const cli_help help = {
    CMD, "personalize secure elements in batches: device key, certificate, anchors, lock",
    "    vouch provision (--se URI ... | --se-list FILE) --host-keys-dir DIR\n"
    "          [--server URL] [--token-file FILE] [--cacert FILE] [--timeout S]\n"
    "          [--template NAME] [--issuer NAME] [--org ORG] [--cn-prefix PREFIX]\n"
    "          [--anchor FILE] [--manifest FILE] [--jobs N] [--json]",
    "DESCRIPTION\n"
    "    Takes each secure element from personalization to operational, with\n"
    "    --jobs N of them at a time. For each one:\n"
    "      1. reads its serial and state; one already operational with a\n"
    "         certificate for its slot-0 key in zone 0 is skipped\n"
    "      2. draws host secure channel keys from the SE's random generator\n"
    "         (XORed with the host's), writes them to DIR/<serial>.hostkeys\n"
    "         (mode 0600) for the device's MCU, then puts them into the SE;\n"
    "         every later command runs over the secure channel\n"
    "      3. has the SE generate the device key (P-256) in slot 0\n"
    "      4. writes the issuer's root certificate into zone 1\n"
    "      5. builds a certificate request (CN=<prefix><serial>), has the SE\n"
    "         sign it, and has vouchd issue it (POST /v1/certificates); checks\n"
    "         that the certificate holds the SE's slot-0 public key and that\n"
    "         its chain verifies to the root, and only then writes the chain\n"
    "         (DER certificates back to back, leaf first, zero-filled) into\n"
    "         zone 0\n"
    "      6. locks zone 1 (update never) and restricts updates of zones 0\n"
    "         and 2 to the secure channel (update host); reads both back\n"
    "      7. moves the SE to operational\n"
    "    No private key is ever seen by this host: the device key is made in\n"
    "    the SE and never leaves it. The host keys are not identity keys;\n"
    "    they pass through this host's memory once, go to the .hostkeys file\n"
    "    only (never to the server, the manifest or stdout) and are wiped.\n\n"
    "    Each step looks first and does only what is missing, so a batch\n"
    "    that was interrupted (even by kill -9) is finished by running the\n"
    "    same command again: an SE left in personalization keeps its slot-0\n"
    "    key and its host keys (read back from DIR), and a certificate the\n"
    "    server already issued for that key is found and reused. A rerun\n"
    "    over a finished batch reports every SE as skipped and issues\n"
    "    nothing.\n\n"
    "    A failing SE is reported and does not stop the others. Progress\n"
    "    goes to stderr: a bar on a terminal (and a line per failure), else\n"
    "    one line per SE. stdout gets a summary; with --json one object:\n"
    "    {\"total\",\"ok\",\"skipped\",\"failed\",\"issuer\",\"template\",\n"
    "    \"manifest\",\"failures\":[{\"se\",\"serial\",\"error\"}]}.\n\n"
    "OPTIONS\n"
    "    --se URI             an SE: unix:/path/to/socket (vouch-se) or\n"
    "                         i2c:/dev/i2c-N@0xADDR; repeat for more\n"
    "    --se-list FILE       SE URIs, one per line ('#' comments and blank\n"
    "                         lines skipped); combines with --se\n"
    "    --host-keys-dir DIR  where each device's host keys file goes\n"
    "                         (created 0700 if missing). Required: the MCU\n"
    "                         beside the SE needs its keys, and this is the\n"
    "                         only place they are written\n"
    "    --server URL         vouchd, http[s]://HOST:PORT; default $VOUCH_SERVER\n"
    "    --token-file FILE    the API token (chmod 600); default $VOUCH_TOKEN,\n"
    "                         then $VOUCH_TOKEN_FILE\n"
    "    --cacert FILE        CA of an https server's certificate; default\n"
    "                         $VOUCH_CACERT, else the system's trust store\n"
    "    --timeout SECONDS    deadline of each request, 1..3600, default 30\n"
    "    --template NAME      certificate template, default device\n"
    "    --issuer NAME        issuing CA, default default; its root is the\n"
    "                         trust anchor written to zone 1\n"
    "    --org ORG            O= in the certificate's subject (none by default)\n"
    "    --cn-prefix PREFIX   CN=PREFIX<serial>, e.g. meter- (default: the\n"
    "                         serial alone, 18 hex digits)\n"
    "    --anchor FILE        the root certificate (PEM) this batch must chain\n"
    "                         to: the server's root for --issuer must be it\n"
    "    --manifest FILE      append one JSON line per SE, fsync'd: time, se,\n"
    "                         serial, result (ok, skipped, failed), issuer,\n"
    "                         template, certificate_serial, sha256 (of the\n"
    "                         certificate), error. No secrets\n"
    "    --jobs N             SEs worked on at once, 1..64, default 4\n"
    "    --json               the summary as one JSON object\n\n"
    "ENVIRONMENT\n"
    "    VOUCH_SERVER, VOUCH_TOKEN, VOUCH_TOKEN_FILE, VOUCH_CACERT: see above.\n"
    "    VOUCH_SE is not used: a batch names its SEs.\n",
    "    vouch ca init --data ca --org Acme\n"
    "    vouchd --data ca --listen 127.0.0.1:8443 --public-url http://127.0.0.1:8443 &\n"
    "    vouch provision --server http://127.0.0.1:8443 --token-file ca/admin.token \\\n"
    "        --se-list line3.txt --host-keys-dir keys --manifest line3.jsonl \\\n"
    "        --issuer default --template device --cn-prefix meter- --jobs 8\n"
    "    vouch se --se unix:/run/se0.sock read --zone 0 --out chain.der\n",
    0};

/* ---- the command ------------------------------------------------------------------------ */
int cmd_provision_main(int argc, char **argv)
{
    char **rest = NULL, *tok = NULL, err[512] = "";
    uint8_t *list_buf = NULL;
    size_t nrest = 0, cap = 0, toklen = 0, nw = 0;
    uint64_t jobs = JOBS_DEFAULT, timeout = VOUCH_HTTP_TIMEOUT_DEFAULT;
    pv_worker *w = NULL;
    X509 *pin = NULL;
    vouch_http *main_http = NULL;
    int only_pos = 0, ret;

    signal(SIGPIPE, SIG_IGN); /* an SE daemon or server gone is an error, not a kill */
    memset(&R, 0, sizeof R);
    snprintf(R.cmd, sizeof R.cmd, CMD);
    for (cli_opt *o = opts; o->name; o++) {
        o->seen = 0;
        o->val = NULL;
    }
    /* --se may be repeated, which cli_parse refuses: take those out first */
    if (!(rest = calloc((size_t)argc + 1, sizeof *rest)))
        return cli_err(CLI_FILE, CMD ": out of memory");
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && strcmp(a, "--se") == 0) {
            if (i + 1 >= argc) {
                ret = cli_usage(CMD, "option '--se' needs a value (URI)");
                goto out;
            }
            if ((ret = uri_ok(argv[i + 1], "")) != CLI_OK ||
                (ret = add_uri(argv[++i], &cap)) != CLI_OK)
                goto out;
            continue;
        }
        if (!only_pos && strncmp(a, "--se=", 5) == 0) {
            if ((ret = uri_ok(a + 5, "")) != CLI_OK || (ret = add_uri(a + 5, &cap)) != CLI_OK)
                goto out;
            continue;
        }
        rest[nrest++] = a;
        if (only_pos)
            continue;
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (a[0] == '-' && a[1] == '-' && !strchr(a, '=')) {
            cli_opt *o = cli_find(opts, a + 2);
            if (o && o->arg && i + 1 < argc)
                rest[nrest++] = argv[++i]; /* its value, even one spelled "--se" */
        }
    }
    char *pos[1];
    int npos = 0;
    ret = cli_parse(CMD, (int)nrest, rest, opts, NULL, 0, NULL, pos, 0, &npos);
    if (ret == CLI_HELP) {
        cli_print_help_status(&help, NULL, status_text);
        ret = CLI_OK;
        goto out;
    }
    if (ret)
        goto out;

    /* usage */
    if (opt("jobs") && (ret = cli_num(CMD, "--jobs value", opt("jobs"), 1, JOBS_MAX, &jobs)))
        goto out;
    if (opt("timeout") &&
        (ret = cli_num(CMD, "--timeout value", opt("timeout"), 1, 3600, &timeout)))
        goto out;
    P.issuer = opt("issuer") ? opt("issuer") : "default";
    P.tpl = opt("template") ? opt("template") : "device";
    P.org = opt("org");
    P.cn_prefix = opt("cn-prefix");
    P.keys_dir = opt("host-keys-dir");
    P.manifest = opt("manifest");
    P.json = opt("json") != NULL;
    if ((ret = check_name("issuer name", P.issuer, NAME_MAX_LEN)) ||
        (ret = check_name("template name", P.tpl, NAME_MAX_LEN)) ||
        (P.org && (ret = subject_part_ok("--org value", P.org, ORG_MAX, 0))) ||
        (P.cn_prefix &&
         (ret = subject_part_ok("--cn-prefix value", P.cn_prefix, CN_MAX - SERIAL_HEX, 1))))
        goto out;
    if (!P.keys_dir || !*P.keys_dir) {
        ret = cli_usage(CMD, "missing --host-keys-dir DIR: each SE gets new host secure "
                             "channel keys, and its MCU needs them to talk to it; they are "
                             "written only to DIR/<serial>.hostkeys (mode 0600), never to "
                             "the server or the manifest, so without DIR they would be lost "
                             "and the operational SE could no longer be managed");
        goto out;
    }
    const char *url = opt("server") ? opt("server") : env("VOUCH_SERVER");
    const char *cacert = opt("cacert") ? opt("cacert") : env("VOUCH_CACERT");
    if (!url || !*url) {
        ret = cli_usage(CMD, "no server: give --server URL (http[s]://HOST:PORT) or set "
                             "VOUCH_SERVER");
        goto out;
    }
    int https = strncasecmp(url, "https://", 8) == 0;
    if (opt("cacert") && !https) {
        ret = cli_usage(CMD, "--cacert is for an https:// server, and the server is %s", url);
        goto out;
    }
    if (!https)
        cacert = NULL;

    /* files */
    if (opt("se-list") && (ret = read_se_list(opt("se-list"), &list_buf, &cap)) != CLI_OK)
        goto out;
    if (P.n == 0) {
        ret = cli_usage(CMD, "no secure element given: use --se URI (repeatable) or "
                             "--se-list FILE%s", opt("se-list") ? " (the list is empty)" : "");
        goto out;
    }
    if ((ret = no_duplicates()) != CLI_OK)
        goto out;
    if (opt("anchor") && (ret = load_pem_cert(opt("anchor"), &pin)) != CLI_OK)
        goto out;
    if (cacert && access(cacert, R_OK) != 0) {
        ret = cli_err(CLI_FILE, CMD ": cannot read the CA file %s: %s", cacert, strerror(errno));
        goto out;
    }
    if ((ret = open_keys_dir(P.keys_dir)) != CLI_OK)
        goto out;
    if (P.manifest) {
        P.manifest_fd = open(P.manifest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (P.manifest_fd < 0) {
            ret = cli_err(CLI_FILE, CMD ": cannot open the manifest %s: %s", P.manifest,
                          strerror(errno));
            goto out;
        }
    }
    if ((ret = remote_load_token(opt("token-file"), &tok, &toklen)) != CLI_OK)
        goto out;

    /* the server: one client here, one per worker (one event base each) */
    nw = jobs < P.n ? (size_t)jobs : P.n;
    if (!(w = calloc(nw, sizeof *w)) || !(P.seen = calloc(P.n, sizeof *P.seen)) ||
        !(P.failures = json_array())) {
        ret = cli_err(CLI_FILE, CMD ": out of memory");
        goto out;
    }
    vouch_http_config hc = {.url = url, .token = tok, .cacert = cacert,
                            .timeout_s = (unsigned)timeout};
    vouch_http_rc hrc = vouch_http_new(&hc, &main_http, err, sizeof err);
    for (size_t i = 0; hrc == VOUCH_HTTP_OK && i < nw; i++)
        hrc = vouch_http_new(&hc, &w[i].http, err, sizeof err);
    cli_free_secret(tok, toklen);
    tok = NULL;
    if (hrc == VOUCH_HTTP_E_URL) {
        ret = cli_usage(CMD, "bad server URL: %s", err);
        goto out;
    }
    if (hrc != VOUCH_HTTP_OK) {
        ret = cli_err(CLI_FILE, CMD ": %s", err);
        goto out;
    }
    if (!vouch_http_is_https(main_http) && !vouch_http_is_loopback(main_http))
        fprintf(stderr, "vouch: warning: the API token goes in clear text to %s; use "
                        "https\n", vouch_http_origin(main_http));
    R.http = main_http;
    char tpath[64 + NAME_MAX_LEN];
    json_t *tans = NULL;
    snprintf(tpath, sizeof tpath, "/v1/templates/%s", P.tpl); /* a checked name */
    if ((ret = remote_json("GET", tpath, NULL, "look up the template", NULL, &tans)) != CLI_OK)
        goto out;
    json_decref(tans);
    if ((ret = fetch_chain(opt("anchor"), pin)) != CLI_OK)
        goto out;
    R.http = NULL;

    /* the batch */
    P.tty = isatty(STDERR_FILENO);
    if (P.tty)
        bar();
    for (size_t i = 0; i < nw; i++) {
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            /* the workers already started take the whole list */
            if (i == 0) {
                ret = cli_err(CLI_FILE, CMD ": cannot start a worker thread: %s",
                              strerror(errno));
                goto out;
            }
            break;
        }
        w[i].started = 1;
    }
    for (size_t i = 0; i < nw; i++)
        if (w[i].started)
            pthread_join(w[i].th, NULL);
    if (P.tty)
        fputc('\n', stderr);

    if (P.json) {
        json_t *s = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:O}", "total",
                              (json_int_t)P.n, "ok", (json_int_t)P.n_ok, "skipped",
                              (json_int_t)P.n_skipped, "failed", (json_int_t)P.n_failed,
                              "issuer", P.issuer, "template", P.tpl, "manifest",
                              P.manifest ? json_string(P.manifest) : json_null(), "failures",
                              P.failures);
        print_json(s);
        json_decref(s);
    } else {
        printf("provisioned: %zu\nskipped:     %zu\nfailed:      %zu\n", P.n_ok, P.n_skipped,
               P.n_failed);
        if (P.manifest)
            printf("manifest:    %s\n", P.manifest);
    }
    ret = P.n_failed ? CLI_REFUSED : P.manifest_err ? CLI_FILE : CLI_OK;
    if (fflush(stdout) != 0 || ferror(stdout))
        ret = cli_err(CLI_FILE, "cannot write to stdout: %s", strerror(errno));
out:
    if (tok)
        cli_free_secret(tok, toklen);
    R.http = NULL;
    vouch_http_free(main_http);
    for (size_t i = 0; w && i < nw; i++)
        vouch_http_free(w[i].http);
    free(w);
    X509_free(pin);
    X509_free(P.anchor);
    sk_X509_pop_free(P.inter, X509_free);
    OPENSSL_free(P.anchor_der);
    free(P.inter_der);
    free(P.seen);
    json_decref(P.failures);
    if (P.keys_dirfd >= 0)
        close(P.keys_dirfd);
    if (P.manifest_fd >= 0)
        close(P.manifest_fd);
    free(P.uris);
    free(list_buf);
    free(rest);
    return ret;
}
