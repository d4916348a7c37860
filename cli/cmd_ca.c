/*
 * vouch ca / vouch audit: the certificate authority's data directory, offline.
 *
 * A data directory (--data DIR, mode 0700) holds:
 *   master.key   32 random bytes (0600); the CA key passphrase is derived
 *                from it (see derive_pass) and it never leaves this file
 *   vouch.db     the SQLite store (0600): issuers with their keys as
 *                encrypted PKCS#8 (or, for a key held in a vouch-se slot,
 *                its key reference "se:unix:/path#N", pki/se_key.h),
 *                templates, certificates, admin token hashes, the
 *                hash-chained audit log
 *   admin.token  the first admin API token (0600), token and a newline
 *
 * `ca init` builds the directory under a temporary name next to DIR and
 * renames it into place as its last step, so a failure at any point leaves
 * nothing behind. The other commands open an existing directory and never
 * create one (vouch_store_open_sqlite would create a missing database).
 *
 * Exit statuses: 0 ok, 1 audit chain broken (audit verify), 2 usage, 3
 * refused (the directory is already a CA, a name is taken, no such issuer,
 * validity beyond the root's, the SE refused: slot occupied or in use by
 * another issuer, wrong lifecycle state), 4 the SE (--key-se) cannot be
 * reached or fails, 5 local file error (missing or unreadable directory,
 * database, master key, keys that do not decrypt, or a failure of the
 * crypto library or database).
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "pki/pki.h"
#include "pki/se_key.h"
#include "store/store.h"

#define MASTER_KEY_LEN 32
/* The CA key passphrase: vouch_pki_ca_passphrase (HKDF-SHA256 of master.key,
 * as 64 lowercase hex digits, so `openssl pkey -passin pass:...` can read
 * the stored keys; docs/cli.md). */
#define PASS_LEN VOUCH_PKI_CA_PASS_LEN
#define PASS_INFO "vouch ca key passphrase v1" /* for the help text only */
#define DAYS_MAX 36500
#define ROOT_NAME "root"
#define DEFAULT_NAME "default"
#define CHAIN_MAX 8

static struct {
    char cmd[32];     /* "ca init", for messages */
    cli_opt *opts;
    int json;
    const char *data; /* --data DIR */
    char actor[96];
    char se_made[VOUCH_SE_KEY_REF_MAX]; /* key generated in an SE by this run */
} g;

static cli_opt gopts[] = {
    {"data", "DIR", NULL, 0}, {"json", NULL, NULL, 0}, {NULL, NULL, NULL, 0}};

#define CHECK(x)                                                                        \
    do {                                                                                \
        if ((ret = (x)) != CLI_OK)                                                      \
            goto out;                                                                   \
    } while (0)

static const char status_text[] =
    "    0  success\n"
    "    1  the audit chain is broken (audit verify only; the first bad entry\n"
    "       is printed)\n"
    "    2  usage error: unknown command or option, missing or bad argument\n"
    "    3  refused: DIR already holds a CA or is not empty, the issuer name is\n"
    "       taken, no such issuer, a validity beyond the root's; or the secure\n"
    "       element refused (--key-se): slot occupied or used by another\n"
    "       issuer, slot holds no key, wrong lifecycle state\n"
    "    4  the secure element cannot be reached (--key-se, or an issuer whose\n"
    "       key lives in one) or fails to sign\n"
    "    5  local file error: DIR, its database or master key missing,\n"
    "       unreadable or unwritable, keys that do not decrypt with the master\n"
    "       key, or a failure of the database or crypto library\n";

/* ---- small helpers ------------------------------------------------------------- */
static int need(const char *name, const char **v)
{
    *v = cli_val(g.opts, name);
    if (!*v || !**v)
        return cli_usage(g.cmd, "missing --%s", name);
    return CLI_OK;
}

static int need_data(void)
{
    if (!g.data || !*g.data)
        return cli_usage(g.cmd, "missing --data DIR");
    return CLI_OK;
}

static int join(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return cli_err(CLI_FILE, "path too long: %s/%s", dir, name);
    return CLI_OK;
}

static void set_actor(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && strlen(pw->pw_name) < 64)
        snprintf(g.actor, sizeof g.actor, "cli:%s", pw->pw_name);
    else
        snprintf(g.actor, sizeof g.actor, "cli:uid=%u", (unsigned)geteuid());
}

static int opt_days(const char *name, uint64_t dflt, uint64_t *days)
{
    const char *v = cli_val(g.opts, name);
    char what[48];
    if (!v) {
        *days = dflt;
        return CLI_OK;
    }
    snprintf(what, sizeof what, "--%s value", name);
    return cli_num(g.cmd, what, v, 1, DAYS_MAX, days);
}

static int opt_alg(vouch_pki_key_alg *alg)
{
    const char *v = cli_val(g.opts, "key-alg");
    *alg = VOUCH_PKI_KEY_EC_P256;
    if (v && vouch_pki_key_alg_parse(v, alg) != VOUCH_PKI_OK)
        return cli_usage(g.cmd, "bad --key-alg '%s': expected p256, p384 or ed25519", v);
    return CLI_OK;
}

/* Printable text of 1..max bytes without control characters. */
static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* [A-Za-z0-9._-]{1,64}: issuer names appear in URLs (/crl/<name>.crl). */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int pki_fail(vouch_pki_rc rc, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return cli_err(rc == VOUCH_PKI_E_POLICY ? 3 : CLI_FILE, "%s: %s%s%s", what,
                   vouch_pki_strerror(rc), *buf ? ": " : "", buf);
}

static int store_fail(vouch_store_rc rc, const char *what, const char *err)
{
    int code = CLI_FILE;
    if (rc == VOUCH_STORE_E_EXISTS || rc == VOUCH_STORE_E_NOT_FOUND)
        code = 3;
    return cli_err(code, "%s: %s", what, *err ? err : vouch_store_strerror(rc));
}

/* ---- certificates ------------------------------------------------------------- */
static void cert_subject(X509 *c, char *out, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    out[0] = '\0';
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(c), 0,
                                    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int k = BIO_read(b, out, (int)n - 1);
        out[k > 0 ? k : 0] = '\0';
    }
    BIO_free(b);
}

static void cert_time(const ASN1_TIME *t, char *out, size_t n)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "?");
}

static int cert_fp(X509 *c, uint8_t fp[32])
{
    unsigned len = 0;
    if (!X509_digest(c, EVP_sha256(), fp, &len) || len != 32)
        return cli_err(CLI_FILE, "cannot hash a certificate: OpenSSL failed");
    return CLI_OK;
}

/* As `openssl x509 -fingerprint -sha256` prints it: AB:CD:... */
static void fp_colon(const uint8_t fp[32], char out[96])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 3 * i, 4, "%02X%s", fp[i], i < 31 ? ":" : "");
}

static void fp_hex(const uint8_t fp[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", fp[i]);
}

static X509 *cert_parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (!c || p != der + len) {
        X509_free(c);
        ERR_clear_error();
        return NULL;
    }
    return c;
}

/* ---- the master key and the passphrase ---------------------------------------- */
static int derive_pass(const uint8_t mk[MASTER_KEY_LEN], uint8_t pass[PASS_LEN])
{
    char hex[VOUCH_PKI_CA_PASS_LEN + 1];
    vouch_pki_rc rc = vouch_pki_ca_passphrase(mk, MASTER_KEY_LEN, hex, sizeof hex);
    if (rc == VOUCH_PKI_OK)
        memcpy(pass, hex, PASS_LEN);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc != VOUCH_PKI_OK)
        return cli_err(CLI_FILE, "cannot derive the CA key passphrase: HKDF failed");
    return CLI_OK;
}

static int load_pass(const char *dir, uint8_t pass[PASS_LEN])
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret;
    CHECK(join(path, sizeof path, dir, "master.key"));
    CHECK(cli_read_file(path, 4096, &buf, &len));
    if (len != MASTER_KEY_LEN) {
        ret = cli_err(CLI_FILE, "%s is %zu bytes, a master key is %d", path, len,
                      MASTER_KEY_LEN);
        goto out;
    }
    ret = derive_pass(buf, pass);
out:
    cli_free_secret(buf, len + 1);
    return ret;
}

/* ---- opening a data directory ------------------------------------------------- */
static int open_data(vouch_store **st)
{
    char db[PATH_MAX], err[256] = "";
    struct stat sb;
    int ret;
    *st = NULL;
    if (stat(g.data, &sb) != 0)
        return cli_err(CLI_FILE, "cannot open %s: %s", g.data, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cli_err(CLI_FILE, "%s is not a directory", g.data);
    CHECK(join(db, sizeof db, g.data, "vouch.db"));
    if (stat(db, &sb) != 0 || !S_ISREG(sb.st_mode))
        return cli_err(CLI_FILE, "%s is not a vouch CA directory (no vouch.db); create one "
                                 "with 'vouch ca init --data %s --org NAME'",
                       g.data, g.data);
    vouch_store_rc rc = vouch_store_open_sqlite(db, st, err, sizeof err);
    if (rc != VOUCH_STORE_OK)
        return store_fail(rc, "cannot open the CA database", err);
out:
    return ret;
}

/* ---- CA keys: in memory (decrypted) or in a vouch-se slot ------------------------- */
typedef struct ca_key {
    vouch_pki_signer *mem; /* decrypted or freshly made key */
    vouch_se_key *se;      /* or: the key in an SE slot */
} ca_key;

static const vouch_pki_signer *ca_key_signer(const ca_key *k)
{
    return k->mem ? k->mem : vouch_se_key_signer(k->se);
}

static void ca_key_free(ca_key *k)
{
    vouch_pki_signer_free(k->mem);
    vouch_se_key_close(k->se);
    k->mem = NULL;
    k->se = NULL;
}

/* A vouch_se_key failure as an exit status: a malformed reference is a usage
 * error when the user typed it (`typed`), damaged data when it came from the
 * database. */
static int se_key_fail(vouch_pki_rc rc, const char *why, int typed)
{
    int code = rc == VOUCH_PKI_E_PARSE || rc == VOUCH_PKI_E_ARG
                   ? (typed ? CLI_USAGE : CLI_FILE)
               : rc == VOUCH_PKI_E_POLICY || rc == VOUCH_PKI_E_NOTFOUND ? 3
               : rc == VOUCH_PKI_E_SIGNER                               ? CLI_COMM
                                                                        : CLI_FILE;
    ERR_clear_error();
    if (code == CLI_USAGE)
        return cli_usage(g.cmd, "bad --key-se/--slot: %s", why);
    cli_err(code, "%s", why);
    if (rc == VOUCH_PKI_E_POLICY && strstr(why, "already holds"))
        cli_err(code, "hint: --replace-key destroys the key in that slot and makes a new one");
    return code;
}

/* --key-se unix:PATH --slot N [--replace-key]: where a new CA key is made. */
typedef struct se_opt {
    const char *spec; /* NULL: a key in memory, stored encrypted */
    int slot;
    unsigned flags;   /* VOUCH_SE_KEY_REPLACE */
    char ref[VOUCH_SE_KEY_REF_MAX];
} se_opt;

static int opt_key_se(se_opt *o)
{
    const char *spec = cli_val(g.opts, "key-se"), *sl = cli_val(g.opts, "slot");
    const char *alg = cli_val(g.opts, "key-alg");
    int replace = cli_val(g.opts, "replace-key") != NULL, ret;
    char why[384] = "";
    uint64_t v;
    memset(o, 0, sizeof *o);
    if (!spec) {
        if (sl)
            return cli_usage(g.cmd, "--slot needs --key-se unix:PATH (the SE holding the key)");
        if (replace)
            return cli_usage(g.cmd, "--replace-key needs --key-se unix:PATH and --slot N");
        return CLI_OK;
    }
    if (!sl)
        return cli_usage(g.cmd, "--key-se needs --slot N (the SE's key slot, 0..%u)",
                         VOUCH_SE_KEY_SLOTS - 1);
    if ((ret = cli_num(g.cmd, "--slot value", sl, 0, 255, &v)) != CLI_OK)
        return ret;
    vouch_pki_key_alg a;
    if (alg && (vouch_pki_key_alg_parse(alg, &a) != VOUCH_PKI_OK || a != VOUCH_PKI_KEY_EC_P256))
        return cli_usage(g.cmd, "--key-se makes P-256 keys; --key-alg %s cannot go with it",
                         alg);
    vouch_pki_rc rc = vouch_se_key_ref_make(spec, (int)v, o->ref, sizeof o->ref, why, sizeof why);
    if (rc != VOUCH_PKI_OK)
        return cli_usage(g.cmd, "bad --key-se/--slot: %s", why);
    o->spec = spec;
    o->slot = (int)v;
    o->flags = replace ? VOUCH_SE_KEY_REPLACE : 0;
    return CLI_OK;
}

/* Every check the SE can make before a key is generated, so refusals come
 * before anything is created. */
static int se_preflight(const se_opt *o)
{
    char why[512] = "", ref[VOUCH_SE_KEY_REF_MAX];
    vouch_pki_rc rc = vouch_se_key_generate_ex(o->spec, o->slot, o->flags | VOUCH_SE_KEY_CHECK_ONLY,
                                               ref, sizeof ref, why, sizeof why);
    return rc == VOUCH_PKI_OK ? CLI_OK : se_key_fail(rc, why, 1);
}

/* Generates the key in the SE slot and opens it. */
static int se_new_key(const se_opt *o, vouch_se_key **out)
{
    char why[512] = "", ref[VOUCH_SE_KEY_REF_MAX];
    *out = NULL;
    vouch_pki_rc rc = vouch_se_key_generate_ex(o->spec, o->slot, o->flags, ref, sizeof ref, why,
                                               sizeof why);
    if (rc != VOUCH_PKI_OK)
        return se_key_fail(rc, why, 1);
    snprintf(g.se_made, sizeof g.se_made, "%s", ref);
    rc = vouch_se_key_open(ref, out, why, sizeof why);
    return rc == VOUCH_PKI_OK ? CLI_OK : se_key_fail(rc, why, 0);
}

/* After a failure: a key generated in an SE cannot be taken back. */
static void se_orphan_note(void)
{
    if (g.se_made[0])
        cli_err(CLI_OK, "note: %s now holds a new key that no CA uses; to use that slot again, "
                        "add --replace-key", g.se_made);
}

/* A stored issuer's key: decrypted, or opened in its SE. */
static int issuer_signer(const vouch_store_issuer *is, const uint8_t pass[PASS_LEN],
                         ca_key *k)
{
    EVP_PKEY *key = NULL;
    memset(k, 0, sizeof *k);
    if (!is->key_pem) {
        char why[512] = "";
        vouch_pki_rc src = vouch_se_key_open(is->key_ref ? is->key_ref : "", &k->se, why,
                                             sizeof why);
        if (src != VOUCH_PKI_OK)
            return se_key_fail(src, why, 0);
        return CLI_OK;
    }
    vouch_pki_rc rc = vouch_pki_key_decrypt(is->key_pem, strlen(is->key_pem), pass, PASS_LEN,
                                            &key);
    if (rc == VOUCH_PKI_E_DECRYPT) {
        ERR_clear_error();
        return cli_err(CLI_FILE, "the key of issuer '%s' does not decrypt with %s/master.key "
                                 "(wrong master key?)", is->name, g.data);
    }
    if (rc != VOUCH_PKI_OK)
        return pki_fail(rc, "cannot load the issuer key");
    rc = vouch_pki_signer_from_key(key, &k->mem);
    vouch_pki_key_free(key);
    if (rc != VOUCH_PKI_OK)
        return pki_fail(rc, "cannot use the issuer key");
    return CLI_OK;
}

/* A signature through k failed: say why, with the SE's words if it is one. */
static int sign_fail(vouch_pki_rc rc, const ca_key *k, const char *what)
{
    if (rc == VOUCH_PKI_E_SIGNER && k->se) {
        ERR_clear_error();
        const char *e = vouch_se_key_last_error(k->se);
        return cli_err(CLI_COMM, "%s: the key in %s did not sign: %s", what,
                       vouch_se_key_ref(k->se), *e ? e : "its signature does not verify");
    }
    return pki_fail(rc, what);
}

/* ---- making a CA ----------------------------------------------------------------- */
typedef struct made_ca {
    X509 *cert;
    char *pem; /* encrypted key, or NULL for a key in an SE */
    size_t pem_len;
    uint8_t *der;
    size_t der_len;
    ca_key key;
} made_ca;

static void made_free(made_ca *m)
{
    X509_free(m->cert);
    vouch_pki_free_secret(m->pem, m->pem_len);
    OPENSSL_free(m->der);
    ca_key_free(&m->key);
    memset(m, 0, sizeof *m);
}

/* A root (parent NULL) or a CA signed by parent. With `se` the CA's key is
 * that SE key (m takes it over, even on failure); otherwise a new key of
 * `alg`, kept encrypted under pass. */
static int make_ca(const char *org, const char *cn, vouch_pki_key_alg alg, time_t nb, time_t na,
                   int path_len, X509 *parent, const ca_key *parent_key,
                   const uint8_t pass[PASS_LEN], vouch_se_key *se, made_ca *m)
{
    uint8_t serial[VOUCH_PKI_SERIAL_LEN];
    EVP_PKEY *key = NULL, *pub = NULL;
    X509_CRL *crl = NULL;
    vouch_pki_rc rc;
    int ret = CLI_OK;
    memset(m, 0, sizeof *m);
    m->key.se = se;
    rc = vouch_pki_serial_random(serial);
    if (rc == VOUCH_PKI_OK && !se)
        rc = vouch_pki_key_generate(alg, &key);
    if (rc == VOUCH_PKI_OK && !se)
        rc = vouch_pki_signer_from_key(key, &m->key.mem);
    if (rc != VOUCH_PKI_OK) {
        ret = pki_fail(rc, "cannot make a CA key");
        goto out;
    }
    pub = se ? vouch_se_key_public(se) : key;
    vouch_pki_ca_params p = {.org = org, .cn = cn, .serial = serial,
                             .serial_len = sizeof serial, .not_before = nb, .not_after = na,
                             .path_len = path_len};
    rc = parent ? vouch_pki_ca_sub(&p, pub, parent, ca_key_signer(parent_key), &m->cert)
                : vouch_pki_ca_root(&p, ca_key_signer(&m->key), &m->cert);
    if (rc == VOUCH_PKI_E_POLICY) {
        ERR_clear_error();
        ret = cli_err(3, "cannot make CA '%s': its validity would end after its issuer's", cn);
        goto out;
    }
    if (rc != VOUCH_PKI_OK) {
        ret = sign_fail(rc, parent ? parent_key : &m->key, "cannot make a CA certificate");
        goto out;
    }
    if (se) {
        /* Proof that the slot signs with the certified key before anything
         * refers to it: a throwaway empty CRL, verified by the signer. */
        time_t now = time(NULL);
        rc = vouch_pki_crl_build(m->cert, ca_key_signer(&m->key), NULL, 0, 1, now, now + 3600,
                                 &crl);
        if (rc != VOUCH_PKI_OK) {
            ret = sign_fail(rc, &m->key, "cannot use the new SE key");
            goto out;
        }
    } else {
        rc = vouch_pki_key_encrypt(key, pass, PASS_LEN, &m->pem, &m->pem_len);
        if (rc != VOUCH_PKI_OK) {
            ret = pki_fail(rc, "cannot encrypt a CA key");
            goto out;
        }
    }
    unsigned char *der = NULL;
    int dl = i2d_X509(m->cert, &der);
    if (dl <= 0) {
        ERR_clear_error();
        ret = cli_err(CLI_FILE, "cannot encode a CA certificate: OpenSSL failed");
        goto out;
    }
    m->der = der;
    m->der_len = (size_t)dl;
out:
    X509_CRL_free(crl);
    vouch_pki_key_free(key);
    if (ret)
        made_free(m);
    return ret;
}

/* Where a made or stored CA's key is, for printing. */
static const char *made_key_where(const made_ca *m)
{
    return m->key.se ? vouch_se_key_ref(m->key.se) : "encrypted";
}

static int store_ca(vouch_store *st, const char *name, vouch_issuer_kind kind, int64_t parent,
                    const made_ca *m, int64_t *id)
{
    char err[256] = "", what[160], ref[VOUCH_SE_KEY_REF_MAX] = "";
    if (m->key.se)
        snprintf(ref, sizeof ref, "%s", vouch_se_key_ref(m->key.se));
    vouch_store_issuer is = {.name = (char *)name, .kind = kind, .parent_id = parent,
                             .cert_der = m->der, .cert_der_len = m->der_len, .key_pem = m->pem,
                             .key_ref = m->key.se ? ref : NULL};
    vouch_store_rc rc = vouch_store_issuer_insert(st, &is, g.actor, id, err, sizeof err);
    if (rc == VOUCH_STORE_E_EXISTS)
        return cli_err(3, "issuer '%s' already exists in %s", name, g.data);
    snprintf(what, sizeof what, "cannot store issuer '%s'", name);
    return rc == VOUCH_STORE_OK ? CLI_OK : store_fail(rc, what, err);
}

/* ---- printing an issuer ------------------------------------------------------------ */
typedef struct ca_view {
    char name[130];
    const char *kind;
    int64_t id, parent_id;
    char subject[256];
    char not_before[32], not_after[32];
    char serial[VOUCH_PKI_SERIAL_HEX_MAX];
    uint8_t fp[32];
    char key[384]; /* "encrypted", a key reference, or "" (not shown) */
} ca_view;

static const char *kind_name(vouch_issuer_kind k)
{
    return k == VOUCH_ISSUER_ROOT      ? "root"
           : k == VOUCH_ISSUER_ISSUING ? "issuing"
           : k == VOUCH_ISSUER_FAMILY  ? "family"
                                       : "unknown";
}

static int view_of(const char *name, vouch_issuer_kind kind, X509 *c, ca_view *v)
{
    uint8_t ser[VOUCH_PKI_SERIAL_MAX];
    size_t sl = 0;
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->kind = kind_name(kind);
    cert_subject(c, v->subject, sizeof v->subject);
    cert_time(X509_get0_notBefore(c), v->not_before, sizeof v->not_before);
    cert_time(X509_get0_notAfter(c), v->not_after, sizeof v->not_after);
    if (vouch_pki_cert_serial(c, ser, &sl) != VOUCH_PKI_OK ||
        vouch_pki_serial_to_hex(ser, sl, v->serial, sizeof v->serial) != VOUCH_PKI_OK)
        snprintf(v->serial, sizeof v->serial, "?");
    return cert_fp(c, v->fp);
}

static void view_text(const char *label, const ca_view *v)
{
    char fpc[96];
    fp_colon(v->fp, fpc);
    printf("%-12s %s (%s)\n", label, v->name, v->kind);
    printf("  subject    %s\n  not after  %s\n  serial     %s\n  SHA-256    %s\n", v->subject,
           v->not_after, v->serial, fpc);
    if (v->key[0])
        printf("  key        %s\n", v->key);
}

static void view_json(const char *key, const ca_view *v, const char *parent)
{
    char fph[65];
    fp_hex(v->fp, fph);
    cj_open(key);
    cj_str("name", v->name);
    cj_str("kind", v->kind);
    if (parent)
        cj_str("parent", parent);
    cj_str("subject", v->subject);
    cj_str("not_before", v->not_before);
    cj_str("not_after", v->not_after);
    cj_str("serial", v->serial);
    cj_str("sha256", fph);
    if (v->key[0])
        cj_str("key", v->key);
    cj_close();
}

/* ---- files for init ------------------------------------------------------------------ */
/* A new file (O_EXCL), mode 0600, written and fsynced. */
static int write_new(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_err(CLI_FILE, "cannot create %s: %s", path, strerror(errno));
    for (const uint8_t *p = buf; len > 0;) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0)
        return cli_err(CLI_FILE, "cannot write %s: %s", path, strerror(errno));
    return CLI_OK;
fail:;
    int e = errno;
    close(fd);
    return cli_err(CLI_FILE, "cannot write %s: %s", path, strerror(e));
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cli_err(CLI_FILE, "cannot sync directory %s: %s", path, strerror(e));
    }
    close(fd);
    return CLI_OK;
}

/* Removes the (flat) temporary directory and everything in it. */
static void remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    char path[PATH_MAX];
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (join(path, sizeof path, dir, e->d_name) == CLI_OK)
                (void)unlink(path);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        cli_err(CLI_FILE, "could not remove the temporary directory %s: %s", dir,
                strerror(errno));
}

/* 0: missing, 1: an empty directory; otherwise prints why and returns the
 * exit status (as a negative number is not used: values >= 2). */
static int check_target(const char *dir)
{
    struct stat sb;
    if (lstat(dir, &sb) != 0) {
        if (errno == ENOENT)
            return 0;
        return cli_err(CLI_FILE, "cannot examine %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return cli_err(3, "%s exists and is not a directory; refusing to touch it", dir);
    DIR *d = opendir(dir);
    if (!d)
        return cli_err(CLI_FILE, "cannot read %s: %s", dir, strerror(errno));
    int has_db = 0, other = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strcmp(e->d_name, "vouch.db") == 0)
            has_db = 1;
        else
            other = 1;
    }
    closedir(d);
    if (has_db)
        return cli_err(3, "%s already holds a vouch CA database (vouch.db); refusing to "
                          "touch it. Use another --data DIR, or remove this one yourself "
                          "if you really mean to start over.",
                       dir);
    if (other)
        return cli_err(3, "%s is not empty; refusing to initialize a CA in it (give a new "
                          "or empty directory)",
                       dir);
    return 1;
}

/* ---- ca init ------------------------------------------------------------------------- */
static int init_in(const char *tmp, const char *org, vouch_pki_key_alg alg, uint64_t root_days,
                   uint64_t iss_days, const se_opt *so, ca_view *rv, ca_view *iv)
{
    char path[PATH_MAX], err[256] = "", cn[80], token[VOUCH_TOKEN_LEN + 2] = "";
    uint8_t mk[MASTER_KEY_LEN], pass[PASS_LEN];
    vouch_store *st = NULL;
    made_ca root = {0}, iss = {0};
    int64_t root_id = 0, iss_id = 0;
    vouch_store_rc src;
    int ret;

    if (RAND_priv_bytes(mk, sizeof mk) != 1) {
        ERR_clear_error();
        ret = cli_err(CLI_FILE, "cannot draw the master key: OpenSSL's random generator failed");
        goto out;
    }
    CHECK(join(path, sizeof path, tmp, "master.key"));
    CHECK(write_new(path, mk, sizeof mk));
    CHECK(derive_pass(mk, pass));

    CHECK(join(path, sizeof path, tmp, "vouch.db"));
    CHECK(write_new(path, "", 0)); /* so the database is created 0600 */
    src = vouch_store_open_sqlite(path, &st, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot create the CA database", err);
        goto out;
    }
    src = vouch_store_begin(st, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot write the CA database", err);
        goto out;
    }

    time_t now = time(NULL), nb = now - 60;
    snprintf(cn, sizeof cn, "%s Root CA", org);
    CHECK(make_ca(org, cn, alg, nb, now + (time_t)root_days * 86400, 1, NULL, NULL, pass, NULL,
                  &root));
    CHECK(store_ca(st, ROOT_NAME, VOUCH_ISSUER_ROOT, 0, &root, &root_id));
    snprintf(cn, sizeof cn, "%s Issuing CA", org);
    /* --key-se: the issuing CA's key is made in the SE slot, as late as
     * possible (a generated key cannot be taken back); the root stays
     * encrypted here, used offline only to sign CAs. */
    vouch_se_key *sk = NULL;
    if (so->spec)
        CHECK(se_new_key(so, &sk));
    CHECK(make_ca(org, cn, alg, nb, now + (time_t)iss_days * 86400, 0, root.cert, &root.key,
                  pass, sk, &iss));
    CHECK(store_ca(st, DEFAULT_NAME, VOUCH_ISSUER_ISSUING, root_id, &iss, &iss_id));

    size_t n = 0;
    const char *const *names = vouch_pki_template_builtin_names(&n);
    for (size_t i = 0; i < n; i++) {
        vouch_pki_template t;
        char *json = NULL;
        vouch_pki_rc prc = vouch_pki_template_builtin(names[i], &t);
        if (prc == VOUCH_PKI_OK)
            prc = vouch_pki_template_to_json(&t, &json);
        if (prc != VOUCH_PKI_OK) {
            ret = pki_fail(prc, "cannot encode a built-in template");
            goto out;
        }
        src = vouch_store_template_put(st, names[i], json, g.actor, err, sizeof err);
        free(json);
        if (src != VOUCH_STORE_OK) {
            ret = store_fail(src, "cannot store a template", err);
            goto out;
        }
    }

    int64_t tok_id = 0;
    src = vouch_store_token_create(st, "admin", g.actor, token, &tok_id, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot create the admin token", err);
        goto out;
    }

    CHECK(view_of(ROOT_NAME, VOUCH_ISSUER_ROOT, root.cert, rv));
    CHECK(view_of(DEFAULT_NAME, VOUCH_ISSUER_ISSUING, iss.cert, iv));
    snprintf(rv->key, sizeof rv->key, "%s", made_key_where(&root));
    snprintf(iv->key, sizeof iv->key, "%s", made_key_where(&iss));
    char rfp[65], ifp[65];
    fp_hex(rv->fp, rfp);
    fp_hex(iv->fp, ifp);
    json_t *det = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "org", org, "key_alg",
                            cli_val(g.opts, "key-alg") ? cli_val(g.opts, "key-alg") : "p256",
                            "root_sha256", rfp, "issuing_sha256", ifp, "admin_token_id",
                            (json_int_t)tok_id, "issuing_key", iv->key);
    char *dj = det ? json_dumps(det, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(det);
    if (!dj) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    src = vouch_store_audit_append(st, g.actor, "ca.init", "issuer=root,default", dj, NULL, err,
                                   sizeof err);
    free(dj);
    if (src == VOUCH_STORE_OK)
        src = vouch_store_commit(st, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot write the CA database", err);
        goto out;
    }
    vouch_store_close(st);
    st = NULL;

    size_t tl = strlen(token);
    token[tl] = '\n';
    CHECK(join(path, sizeof path, tmp, "admin.token"));
    CHECK(write_new(path, token, tl + 1));
    ret = fsync_dir(tmp);
out:
    vouch_store_close(st);
    made_free(&root);
    made_free(&iss);
    OPENSSL_cleanse(mk, sizeof mk);
    OPENSSL_cleanse(pass, sizeof pass);
    OPENSSL_cleanse(token, sizeof token);
    return ret;
}

static int cmd_init(void)
{
    const char *org;
    uint64_t root_days, iss_days;
    vouch_pki_key_alg alg;
    char dir[PATH_MAX], parent[PATH_MAX], tmp[PATH_MAX + 32];
    ca_view rv, iv;
    se_opt so;
    int ret;

    CHECK(need_data());
    CHECK(need("org", &org));
    /* "<org> Issuing CA" must fit the 64-byte CN limit */
    if (!text_ok(org, 53))
        return cli_usage(g.cmd, "bad --org: 1 to 53 bytes without control characters (the "
                                "CA names '<org> Issuing CA' must fit in 64)");
    CHECK(opt_alg(&alg));
    CHECK(opt_key_se(&so));
    CHECK(opt_days("root-days", 7300, &root_days));
    CHECK(opt_days("issuing-days", 3650, &iss_days));
    if (iss_days > root_days)
        return cli_usage(g.cmd, "--issuing-days %llu is longer than --root-days %llu: the "
                                "issuing CA cannot outlive its root",
                         (unsigned long long)iss_days, (unsigned long long)root_days);

    size_t dl = strlen(g.data);
    if (dl >= sizeof dir)
        return cli_err(CLI_FILE, "path too long: %s", g.data);
    memcpy(dir, g.data, dl + 1);
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';
    int exists = check_target(dir);
    if (exists != 0 && exists != 1)
        return exists;
    const char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == dir)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - dir), dir);
    struct stat sb;
    if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_err(CLI_FILE, "cannot create %s: its parent directory %s %s", dir, parent,
                       errno == ENOENT || !S_ISDIR(sb.st_mode) ? "does not exist"
                                                               : strerror(errno));
    if (so.spec)
        CHECK(se_preflight(&so));
    snprintf(tmp, sizeof tmp, "%s/.vouch-init-XXXXXX", parent);
    mode_t old = umask(077);
    if (!mkdtemp(tmp)) {
        ret = cli_err(CLI_FILE, "cannot create a directory in %s: %s", parent, strerror(errno));
        umask(old);
        return ret;
    }
    ret = init_in(tmp, org, alg, root_days, iss_days, &so, &rv, &iv);
    if (ret == CLI_OK && rename(tmp, dir) != 0) {
        int e = errno;
        if (e == ENOTEMPTY || e == EEXIST || e == ENOTDIR)
            ret = cli_err(3, "%s appeared meanwhile; refusing to touch it", dir);
        else
            ret = cli_err(CLI_FILE, "cannot rename %s to %s: %s", tmp, dir, strerror(e));
    }
    if (ret != CLI_OK) {
        remove_tmp(tmp);
        umask(old);
        se_orphan_note();
        return ret;
    }
    umask(old);
    ret = fsync_dir(parent);
    if (ret)
        return ret;

    if (g.json) {
        cj_open(NULL);
        cj_str("data", dir);
        cj_str("org", org);
        view_json("root", &rv, NULL);
        view_json("issuing", &iv, ROOT_NAME);
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/admin.token", dir);
        cj_str("admin_token_file", p);
        snprintf(p, sizeof p, "%s/master.key", dir);
        cj_str("master_key_file", p);
        size_t n = 0;
        const char *const *names = vouch_pki_template_builtin_names(&n);
        cj_array("templates");
        for (size_t i = 0; i < n; i++)
            cj_str(NULL, names[i]);
        cj_end();
        cj_close();
    } else {
        printf("CA initialized in %s\n", dir);
        view_text("root CA", &rv);
        view_text("issuing CA", &iv);
        size_t n = 0;
        const char *const *names = vouch_pki_template_builtin_names(&n);
        printf("templates   ");
        for (size_t i = 0; i < n; i++)
            printf(" %s%s", names[i], i + 1 < n ? "," : "\n");
        printf("admin token  %s/admin.token (mode 0600)\n", dir);
        printf("master key   %s/master.key (mode 0600): keep a copy offline; without it the "
               "CA keys cannot be used\n", dir);
    }
out:
    return ret;
}

/* ---- ca add-issuer --------------------------------------------------------------------- */
typedef struct root_find {
    int64_t id;
    int count;
    const char *ref; /* with --key-se: who already keeps its key there? */
    char ref_user[130];
} root_find;

static int find_root_cb(void *ctx, const vouch_store_issuer *is)
{
    root_find *r = ctx;
    if (is->kind == VOUCH_ISSUER_ROOT) {
        r->id = is->id;
        r->count++;
    }
    if (r->ref && is->key_ref && strcmp(is->key_ref, r->ref) == 0)
        snprintf(r->ref_user, sizeof r->ref_user, "%s", is->name);
    return 0;
}

/* The value of attribute nid in the certificate's subject, or "". */
static void subject_attr(X509 *c, int nid, char *out, size_t n)
{
    out[0] = '\0';
    int k = X509_NAME_get_text_by_NID(X509_get_subject_name(c), nid, out, (int)n);
    if (k < 0)
        out[0] = '\0';
}

static int cmd_add_issuer(void)
{
    const char *name, *cnv = cli_val(g.opts, "cn");
    char err[256] = "", org[80], cn[80];
    uint64_t days;
    vouch_pki_key_alg alg;
    uint8_t pass[PASS_LEN];
    vouch_store *st = NULL;
    vouch_store_issuer root = {0}, existing = {0};
    X509 *root_cert = NULL;
    ca_key root_key = {0};
    made_ca m = {0};
    ca_view v;
    se_opt so;
    vouch_store_rc src;
    int ret, have_pass = 0;

    CHECK(need_data());
    CHECK(need("name", &name));
    if (!name_ok(name)) {
        ret = cli_usage(g.cmd, "bad --name '%s': 1 to 64 of A-Z a-z 0-9 . _ - (it appears in "
                               "URLs)", name);
        goto out;
    }
    if (cnv && !text_ok(cnv, 64)) {
        ret = cli_usage(g.cmd, "bad --cn: 1 to 64 bytes without control characters");
        goto out;
    }
    CHECK(opt_alg(&alg));
    CHECK(opt_key_se(&so));
    CHECK(opt_days("days", 3650, &days));

    mode_t old = umask(077);
    ret = open_data(&st);
    umask(old);
    if (ret)
        goto out;
    src = vouch_store_issuer_get_by_name(st, name, &existing, err, sizeof err);
    if (src == VOUCH_STORE_OK) {
        ret = cli_err(3, "issuer '%s' already exists in %s (vouch ca list --data %s)", name,
                      g.data, g.data);
        goto out;
    }
    if (src != VOUCH_STORE_E_NOT_FOUND) {
        ret = store_fail(src, "cannot read the CA database", err);
        goto out;
    }
    root_find rf = {0, 0, so.spec ? so.ref : NULL, ""};
    src = vouch_store_issuer_list(st, find_root_cb, &rf, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot read the CA database", err);
        goto out;
    }
    if (rf.ref_user[0]) {
        /* even with --replace-key: that would destroy a live CA's key */
        ret = cli_err(3, "issuer '%s' keeps its key in %s; a slot holds one key, give "
                         "another --slot", rf.ref_user, so.ref);
        goto out;
    }
    if (rf.count != 1) {
        ret = cli_err(CLI_FILE, "%s holds %d root CAs, expected one", g.data, rf.count);
        goto out;
    }
    src = vouch_store_issuer_get_by_id(st, rf.id, &root, err, sizeof err);
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot read the root CA", err);
        goto out;
    }
    root_cert = cert_parse(root.cert_der, root.cert_der_len);
    if (!root_cert) {
        ret = cli_err(CLI_FILE, "the root CA certificate in %s does not parse", g.data);
        goto out;
    }
    subject_attr(root_cert, NID_organizationName, org, sizeof org);
    if (!*org)
        snprintf(org, sizeof org, "%s", "vouch");
    if (cnv) {
        snprintf(cn, sizeof cn, "%s", cnv);
    } else {
        int k = snprintf(cn, sizeof cn, "%s %s CA", org, name);
        if (k < 0 || k > 64) {
            ret = cli_usage(g.cmd, "the default common name '%s %s CA' is over 64 bytes; "
                                   "give --cn", org, name);
            goto out;
        }
    }
    time_t now = time(NULL), na = now + (time_t)days * 86400;
    if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(root_cert), na) < 0) {
        char ra[32];
        cert_time(X509_get0_notAfter(root_cert), ra, sizeof ra);
        if (cli_val(g.opts, "days")) {
            ret = cli_err(3, "--days %llu would end after the root CA (%s)",
                          (unsigned long long)days, ra);
            goto out;
        }
        /* the default validity is cut to the root's */
        struct tm tm;
        if (!ASN1_TIME_to_tm(X509_get0_notAfter(root_cert), &tm)) {
            ret = cli_err(CLI_FILE, "the root CA's validity does not parse");
            goto out;
        }
        na = timegm(&tm);
    }
    CHECK(load_pass(g.data, pass));
    have_pass = 1;
    CHECK(issuer_signer(&root, pass, &root_key));
    vouch_se_key *sk = NULL;
    if (so.spec)
        CHECK(se_new_key(&so, &sk)); /* last, after everything that can refuse */
    CHECK(make_ca(org, cn, alg, now - 60, na, 0, root_cert, &root_key, pass, sk, &m));
    CHECK(store_ca(st, name, VOUCH_ISSUER_FAMILY, root.id, &m, NULL));
    g.se_made[0] = '\0'; /* stored: the key has its CA */
    CHECK(view_of(name, VOUCH_ISSUER_FAMILY, m.cert, &v));
    snprintf(v.key, sizeof v.key, "%s", made_key_where(&m));
    if (g.json) {
        view_json(NULL, &v, root.name);
    } else {
        printf("issuer '%s' added, signed by '%s'\n", name, root.name);
        view_text("issuer", &v);
    }
out:
    if (have_pass)
        OPENSSL_cleanse(pass, sizeof pass);
    if (ret)
        se_orphan_note();
    made_free(&m);
    ca_key_free(&root_key);
    X509_free(root_cert);
    vouch_store_issuer_clear(&root);
    vouch_store_issuer_clear(&existing);
    vouch_store_close(st);
    return ret;
}

/* ---- ca list ------------------------------------------------------------------------- */
typedef struct list_ctx {
    ca_view *v;
    size_t n, cap;
    int bad; /* a certificate did not parse */
} list_ctx;

static int list_cb(void *ctx, const vouch_store_issuer *is)
{
    list_ctx *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        ca_view *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return 1;
        l->v = nv;
        l->cap = cap;
    }
    X509 *c = cert_parse(is->cert_der, is->cert_der_len);
    if (!c) {
        l->bad = 1;
        return 1;
    }
    int r = view_of(is->name, is->kind, c, &l->v[l->n]);
    X509_free(c);
    if (r)
        return 1;
    ca_view *v = &l->v[l->n++];
    v->id = is->id;
    v->parent_id = is->parent_id;
    snprintf(v->key, sizeof v->key, "%s",
             is->key_pem ? "encrypted" : is->key_ref ? is->key_ref : "external");
    return 0;
}

static const char *parent_name(const list_ctx *l, int64_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == id)
            return l->v[i].name;
    return NULL;
}

static int cmd_list(void)
{
    vouch_store *st = NULL;
    list_ctx l = {0};
    char err[256] = "";
    int ret;
    CHECK(need_data());
    CHECK(open_data(&st));
    vouch_store_rc src = vouch_store_issuer_list(st, list_cb, &l, err, sizeof err);
    if (l.bad) {
        ret = cli_err(CLI_FILE, "an issuer certificate in %s does not parse", g.data);
        goto out;
    }
    if (src != VOUCH_STORE_OK) {
        ret = store_fail(src, "cannot list the issuers", err);
        goto out;
    }
    if (g.json) {
        cj_open(NULL);
        cj_array("issuers");
        for (size_t i = 0; i < l.n; i++)
            view_json(NULL, &l.v[i], l.v[i].parent_id ? parent_name(&l, l.v[i].parent_id) : NULL);
        cj_end();
        cj_close();
    } else {
        for (size_t i = 0; i < l.n; i++) {
            char fpc[96];
            const ca_view *v = &l.v[i];
            const char *p = v->parent_id ? parent_name(&l, v->parent_id) : NULL;
            fp_colon(v->fp, fpc);
            printf("%s%s (%s%s%s)\n  subject    %s\n  not after  %s\n  serial     %s\n"
                   "  SHA-256    %s\n  key        %s\n",
                   i ? "\n" : "", v->name, v->kind, p ? ", signed by " : "", p ? p : "",
                   v->subject, v->not_after, v->serial, fpc, v->key);
        }
    }
out:
    free(l.v);
    vouch_store_close(st);
    return ret;
}

/* ---- ca export ------------------------------------------------------------------------- */
static int cmd_export(void)
{
    const char *name, *outp = cli_val(g.opts, "out");
    vouch_store *st = NULL;
    vouch_store_issuer is = {0};
    char err[256] = "";
    BIO *b = BIO_new(BIO_s_mem());
    int ret;
    CHECK(need_data());
    CHECK(need("name", &name));
    if (!b) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    CHECK(open_data(&st));
    vouch_store_rc src = vouch_store_issuer_get_by_name(st, name, &is, err, sizeof err);
    if (src == VOUCH_STORE_E_NOT_FOUND) {
        ret = cli_err(3, "no issuer '%s' in %s (vouch ca list --data %s)", name, g.data, g.data);
        goto out;
    }
    int chain = cli_val(g.opts, "chain") != NULL;
    for (int depth = 0;; depth++) {
        if (src != VOUCH_STORE_OK) {
            ret = store_fail(src, "cannot read the CA database", err);
            goto out;
        }
        X509 *c = cert_parse(is.cert_der, is.cert_der_len);
        if (!c) {
            ret = cli_err(CLI_FILE, "the certificate of issuer '%s' does not parse", is.name);
            goto out;
        }
        int ok = PEM_write_bio_X509(b, c);
        X509_free(c);
        if (!ok) {
            ERR_clear_error();
            ret = cli_err(CLI_FILE, "cannot encode PEM: OpenSSL failed");
            goto out;
        }
        int64_t parent = is.parent_id;
        vouch_store_issuer_clear(&is);
        if (!chain || parent == 0)
            break;
        if (depth >= CHAIN_MAX) {
            ret = cli_err(CLI_FILE, "issuer chain in %s is longer than %d", g.data, CHAIN_MAX);
            goto out;
        }
        src = vouch_store_issuer_get_by_id(st, parent, &is, err, sizeof err);
    }
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    ret = cli_write_file(outp ? outp : "-", data, (size_t)len, 0);
out:
    BIO_free(b);
    vouch_store_issuer_clear(&is);
    vouch_store_close(st);
    return ret;
}

/* ---- audit verify ------------------------------------------------------------------------ */
static const char *problem_name(vouch_audit_problem p)
{
    switch (p) {
    case VOUCH_AUDIT_INTACT: return "intact";
    case VOUCH_AUDIT_CHANGED: return "changed";
    case VOUCH_AUDIT_REMOVED: return "removed";
    case VOUCH_AUDIT_RELINKED: return "relinked";
    case VOUCH_AUDIT_TRUNCATED: return "truncated";
    }
    return "unknown";
}

static int cmd_audit_verify(void)
{
    vouch_store *st = NULL;
    vouch_store_audit_report rep;
    char err[256] = "", hh[65];
    int ret;
    memset(&rep, 0, sizeof rep);
    CHECK(need_data());
    CHECK(open_data(&st));
    vouch_store_rc src = vouch_store_audit_verify(st, &rep, err, sizeof err);
    if (src != VOUCH_STORE_OK && src != VOUCH_STORE_E_AUDIT_BROKEN) {
        ret = store_fail(src, "cannot read the audit log", err);
        goto out;
    }
    fp_hex(rep.head_hash, hh);
    if (src == VOUCH_STORE_OK) {
        if (g.json) {
            cj_open(NULL);
            cj_bool("ok", 1);
            cj_num("entries", rep.entries);
            cj_num("head_seq", (uint64_t)rep.head_seq);
            cj_str("head_hash", hh);
            cj_close();
        } else {
            printf("audit log ok: %llu entries, head %lld %s\n",
                   (unsigned long long)rep.entries, (long long)rep.head_seq, hh);
        }
        ret = CLI_OK;
    } else {
        if (g.json) {
            cj_open(NULL);
            cj_bool("ok", 0);
            cj_str("problem", problem_name(rep.problem));
            cj_num("bad_seq", (uint64_t)rep.bad_seq);
            cj_num("entries", rep.entries);
            cj_str("message", err);
            cj_close();
        } else {
            printf("audit log BROKEN at entry %lld: %s\n", (long long)rep.bad_seq,
                   problem_name(rep.problem));
        }
        ret = cli_err(CLI_INVALID, "audit log broken: %s", err);
    }
out:
    vouch_store_close(st);
    return ret;
}

/* ---- command tables ------------------------------------------------------------------------ */
#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define NO_OPTS ((cli_opt[]){{NULL, NULL, NULL, 0}})

typedef struct ca_cmd {
    const char *name;
    int (*run)(void);
    cli_opt *opts;
    cli_help help;
} ca_cmd;

static const char group_opts[] =
    "GROUP OPTIONS\n"
    "    These may come before or after the command name.\n"
    "    --data DIR   the CA's data directory (master.key, vouch.db, admin.token)\n"
    "    --json       print the result as one JSON object\n";

static const ca_cmd ca_cmds[] = {
    {"init", cmd_init,
     OPTS({"org", "NAME", NULL, 0}, {"key-alg", "ALG", NULL, 0}, {"root-days", "N", NULL, 0},
          {"issuing-days", "N", NULL, 0}, {"key-se", "unix:PATH", NULL, 0},
          {"slot", "N", NULL, 0}, {"replace-key", NULL, NULL, 0}),
     {"ca init", "create a certificate authority in a new data directory",
      "    vouch ca init --data DIR --org NAME [--key-alg p256|p384|ed25519]\n"
      "                  [--root-days N] [--issuing-days N]\n"
      "                  [--key-se unix:PATH --slot N [--replace-key]] [--json]",
      "DESCRIPTION\n"
      "    Creates DIR (mode 0700) and in it:\n"
      "      master.key   32 random bytes (0600). The CA keys' passphrase is\n"
      "                   derived from it: the lowercase hex of\n"
      "                   HKDF-SHA256(key = master.key, no salt,\n"
      "                   info = \"" PASS_INFO "\", 32 bytes).\n"
      "      vouch.db     the CA database (0600), holding\n"
      "                   - the root CA \"<org> Root CA\" (issuer 'root',\n"
      "                     self-signed, CA:TRUE pathlen:1, keyCertSign cRLSign)\n"
      "                   - the default issuing CA \"<org> Issuing CA\" (issuer\n"
      "                     'default', signed by the root, pathlen:0)\n"
      "                   both keys as encrypted PKCS#8 (AES-256-CBC, PBKDF2)\n"
      "                   under the derived passphrase, never in plaintext;\n"
      "                   - the built-in templates device, gateway, admin,\n"
      "                     user, server, code-signing, family-ca;\n"
      "                   - the first admin API token (only its SHA-256);\n"
      "                   - audit entries for each of these (issuer.create,\n"
      "                     template.put, token.create, ca.init).\n"
      "      admin.token  that admin token (0600), the token and a newline.\n"
      "    Then prints each CA's subject, validity, serial and SHA-256\n"
      "    fingerprint (as 'openssl x509 -fingerprint -sha256' shows it) and\n"
      "    where the token and master key are.\n\n"
      "    DIR must not exist or be an empty directory; a DIR that already\n"
      "    holds a CA, or anything else, is refused (status 3) and left as it\n"
      "    is. The directory is built under a temporary name next to DIR and\n"
      "    renamed into place last, so a failure leaves nothing behind.\n\n"
      "    Keep a copy of master.key offline: without it the CA keys cannot\n"
      "    be decrypted, and with it and vouch.db anyone can sign as the CA.\n\n"
      "    KEY IN A SECURE ELEMENT. With --key-se unix:PATH --slot N the\n"
      "    default issuing CA's key (the one vouchd signs certificates, CRLs\n"
      "    and OCSP answers with every day) is generated inside slot N of the\n"
      "    vouch-se daemon listening on PATH, which plays the HSM: the key\n"
      "    never leaves it, and vouch.db records only its key reference\n"
      "    se:unix:/absolute/PATH#N. The root key, used offline only to sign\n"
      "    CAs (add-issuer), stays encrypted in vouch.db. The SE is checked\n"
      "    before anything is created: it must be reachable, awake, not\n"
      "    terminated, the slot empty (unless --replace-key), and, once\n"
      "    operational, slot 1..3 without host keys set. After the\n"
      "    certificate is made the SE signs a test CRL, verified against it.\n"
      "    A key generated in the SE cannot be taken back: if init fails\n"
      "    after that, the slot holds an unused key and a retry needs\n"
      "    --replace-key.\n\n"
      "OPTIONS\n"
      "    --org NAME          organization (O=), 1..53 bytes\n"
      "    --key-alg ALG       p256 (default), p384 or ed25519, for both CAs\n"
      "                        (only p256 with --key-se)\n"
      "    --root-days N       root validity in days, default 7300 (1..36500)\n"
      "    --issuing-days N    issuing CA validity, default 3650; at most\n"
      "                        --root-days\n"
      "    --key-se unix:PATH  make the issuing CA's key (P-256) in the vouch-se\n"
      "                        at PATH (a relative PATH is made absolute)\n"
      "    --slot N            with --key-se: the key slot, 0..3 (0 is the\n"
      "                        factory slot, locked once the SE is operational)\n"
      "    --replace-key       with --key-se: overwrite a key already in the\n"
      "                        slot (that key is destroyed)\n"
      "    --json              print {data, org, root{...}, issuing{...},\n"
      "                        admin_token_file, master_key_file, templates};\n"
      "                        root and issuing carry key: \"encrypted\" or the\n"
      "                        key reference\n",
      "    vouch ca init --data /var/lib/vouch --org \"Acme Devices\"\n"
      "    vouch ca export --data /var/lib/vouch --name root --out root.pem\n"
      "    vouch ca init --data /var/lib/vouch --org Acme \\\n"
      "        --key-se unix:/run/vouch-se.sock --slot 1\n",
      0}},
    {"add-issuer", cmd_add_issuer,
     OPTS({"name", "NAME", NULL, 0}, {"cn", "CN", NULL, 0}, {"days", "N", NULL, 0},
          {"key-alg", "ALG", NULL, 0}, {"key-se", "unix:PATH", NULL, 0},
          {"slot", "N", NULL, 0}, {"replace-key", NULL, NULL, 0}),
     {"ca add-issuer", "add an issuing CA for a device family, signed by the root",
      "    vouch ca add-issuer --data DIR --name NAME [--cn CN] [--days N]\n"
      "                        [--key-alg p256|p384|ed25519]\n"
      "                        [--key-se unix:PATH --slot N [--replace-key]] [--json]",
      "DESCRIPTION\n"
      "    Makes a new key and an issuing CA certificate signed by the root CA\n"
      "    (CA:TRUE pathlen:0, keyCertSign cRLSign digitalSignature), stores it\n"
      "    as issuer NAME (kind family) with its key encrypted under the\n"
      "    master key's passphrase, and records an issuer.create audit entry.\n"
      "    Prints the new CA like 'vouch ca list'. A name already taken is\n"
      "    refused (status 3) and nothing changes.\n\n"
      "    With --key-se unix:PATH --slot N the new CA's key (P-256) is\n"
      "    generated inside slot N of that vouch-se instead, never leaves it,\n"
      "    and the issuer is stored with its key reference se:unix:/PATH#N.\n"
      "    Refused (status 3) when another issuer already keeps its key in\n"
      "    that slot (even with --replace-key), the slot holds a key (without\n"
      "    --replace-key) or the SE's state forbids key generation; status 4\n"
      "    when the SE cannot be reached. The key is generated last, after\n"
      "    every other check.\n\n"
      "OPTIONS\n"
      "    --name NAME     issuer name, 1..64 of A-Z a-z 0-9 . _ - (it appears\n"
      "                    in CRL and certificate URLs)\n"
      "    --cn CN         common name, default \"<org> NAME CA\" with the root's O=\n"
      "    --days N        validity in days, default 3650 (cut to the root's);\n"
      "                    a validity past the root's is refused (status 3)\n"
      "    --key-alg ALG   p256 (default), p384 or ed25519 (only p256 with\n"
      "                    --key-se)\n"
      "    --key-se unix:PATH  make the key in the vouch-se at PATH\n"
      "    --slot N        with --key-se: the key slot, 0..3\n"
      "    --replace-key   with --key-se: overwrite a key already in the slot\n",
      "    vouch ca add-issuer --data /var/lib/vouch --name meters --days 1825\n"
      "    vouch ca add-issuer --data /var/lib/vouch --name cams \\\n"
      "        --key-se unix:/run/vouch-se.sock --slot 2\n", 0}},
    {"list", cmd_list, NO_OPTS,
     {"ca list", "list the CA's issuers from its data directory",
      "    vouch ca list --data DIR [--json]",
      "DESCRIPTION\n"
      "    Reads the issuers from DIR/vouch.db (offline, no server) and prints\n"
      "    for each: name, kind (root, issuing, family), the issuer that signed\n"
      "    it, subject (RFC 4514), not-after (UTC), serial (hex, as 'openssl\n"
      "    x509 -serial' prints it), SHA-256 fingerprint and where the key is:\n"
      "    'encrypted' in the database, or the key reference of a key held in\n"
      "    a vouch-se slot (se:unix:/path/to/socket#N). With --json:\n"
      "    {\"issuers\":[{name, kind, parent, subject, not_before, not_after,\n"
      "    serial, sha256, key}]}, sha256 in lowercase hex without colons.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch ca list --data /var/lib/vouch --json | jq -r '.issuers[].name'\n", 0}},
    {"export", cmd_export, OPTS({"name", "NAME", NULL, 0}, {"chain", NULL, NULL, 0}, {"out", "FILE", NULL, 0}),
     {"ca export", "write an issuer's certificate as PEM",
      "    vouch ca export --data DIR --name NAME [--chain] [--out FILE]",
      "DESCRIPTION\n"
      "    Writes the certificate of issuer NAME as PEM to stdout or FILE.\n"
      "    With --chain, the certificates that signed it follow, up to and\n"
      "    including the root (issuer first, root last). An unknown name is\n"
      "    refused (status 3).\n\n"
      "OPTIONS\n"
      "    --name NAME   the issuer (vouch ca list)\n"
      "    --chain       add the issuing certificates up to the root\n"
      "    --out FILE    output file (mode 0644), - is stdout (default)\n",
      "    vouch ca export --data DIR --name root --out root.pem\n"
      "    vouch ca export --data DIR --name default --out issuing.pem\n"
      "    openssl verify -CAfile root.pem issuing.pem\n", 0}},
};
#define N_CA (sizeof ca_cmds / sizeof ca_cmds[0])

static const ca_cmd audit_cmds[] = {
    {"verify", cmd_audit_verify, NO_OPTS,
     {"audit verify", "check the audit log's hash chain",
      "    vouch audit verify --data DIR [--json]",
      "DESCRIPTION\n"
      "    Walks the whole audit log in DIR/vouch.db and checks that every\n"
      "    entry's hash matches its content, that each links to the previous\n"
      "    one, that no sequence number is missing and that the recorded head\n"
      "    is the last entry (docs/storage.md). Prints \"audit log ok\" with the\n"
      "    number of entries and the head (sequence number and hash: keep them\n"
      "    elsewhere to detect a rewrite of the whole chain later), or the\n"
      "    first bad entry and what is wrong with it (changed, removed,\n"
      "    relinked, truncated) and exits with status 1. With --json:\n"
      "    {\"ok\":true, entries, head_seq, head_hash} or {\"ok\":false, problem,\n"
      "    bad_seq, entries, message}.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch audit verify --data /var/lib/vouch\n", 1}},
};
#define N_AUDIT (sizeof audit_cmds / sizeof audit_cmds[0])

static void group_help(FILE *f, const char *group, const char *summary, const ca_cmd *cmds,
                       size_t n)
{
    fprintf(f, "NAME\n    vouch %s - %s\n\n"
               "SYNOPSIS\n    vouch %s [--data DIR] [--json] <command> [options]\n\n"
               "DESCRIPTION\n    Commands:\n", group, summary, group);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "        %-11s %s\n", cmds[i].name, cmds[i].help.summary);
    fprintf(f, "    'vouch %s <command> --help' describes one command.\n"
               "    Errors go to stderr, prefixed \"vouch: \".\n\n%s\nEXIT STATUS\n%s",
            group, group_opts, status_text);
}

static int run_group(const char *group, const char *summary, const ca_cmd *cmds, size_t n,
                     int argc, char **argv)
{
    int used = 0, ret;
    for (cli_opt *o = gopts; o->name; o++) {
        o->seen = 0;
        o->val = NULL;
    }
    ret = cli_parse(group, argc - 1, argv + 1, gopts, NULL, 1, &used, NULL, 0, NULL);
    if (ret == CLI_HELP) {
        group_help(stdout, group, summary, cmds, n);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (used + 1 >= argc)
        return cli_usage(group, "missing command (%s%s)", cmds[0].name, n > 1 ? ", ..." : "");
    const char *name = argv[used + 1];
    const ca_cmd *c = NULL, *h = NULL;
    if (strcmp(name, "help") == 0) {
        if (used + 2 < argc) {
            for (size_t i = 0; i < n; i++)
                if (strcmp(cmds[i].name, argv[used + 2]) == 0)
                    h = &cmds[i];
            if (!h)
                return cli_usage(group, "unknown command '%s'", argv[used + 2]);
            cli_print_help_status(&h->help, group_opts, status_text);
        } else {
            group_help(stdout, group, summary, cmds, n);
        }
        return CLI_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(cmds[i].name, name) == 0)
            c = &cmds[i];
    if (!c)
        return cli_usage(group, "unknown command '%s'", name);
    snprintf(g.cmd, sizeof g.cmd, "%s %s", group, c->name);
    g.opts = c->opts;
    char *pos[1];
    int npos = 0;
    ret = cli_parse(g.cmd, argc - used - 2, argv + used + 2, c->opts, gopts, 0, NULL, pos, 0,
                    &npos);
    if (ret == CLI_HELP) {
        cli_print_help_status(&c->help, group_opts, status_text);
        return CLI_OK;
    }
    if (ret)
        return ret;
    g.json = gopts[1].seen;
    g.data = gopts[0].seen ? gopts[0].val : NULL;
    set_actor();
    ret = c->run();
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_err(CLI_FILE, "cannot write to stdout: %s", strerror(errno));
    return ret;
}

int cmd_ca_main(int argc, char **argv)
{
    return run_group("ca", "run the certificate authority from its data directory", ca_cmds,
                     N_CA, argc, argv);
}

int cmd_audit_main(int argc, char **argv)
{
    return run_group("audit", "check the CA's hash-chained audit log", audit_cmds, N_AUDIT,
                     argc, argv);
}
