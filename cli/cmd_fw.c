/*
 * vouch fw: firmware images and the firmware trust of secure elements
 * (docs/firmware.md).
 *
 *   keygen   a signing key: a PEM file, or a key made inside an SE slot
 *   sign     build and sign an MCUboot-format image
 *   verify   check an image against a public key or an SE's firmware trust
 *   info     what an image holds
 *   trust    add|lock|revoke|show the firmware keys kept in an SE
 *   key, release, campaign   vouchd's firmware API (cmd_fw_remote.c)
 */
#include "cli/cli.h"
#include "cli/remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fw/sign.h"

#include <vouch/fw.h>

#define IMAGE_FILE_MAX (512u * 1024 * 1024)
#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct {
    char cmd[32];
    cli_opt *opts;
    int json;
    cli_se_conn se;
} g;

static const char *opt(const char *name) { return cli_val(g.opts, name); }

static int need(const char *name, const char **v)
{
    *v = opt(name);
    if (!*v || !**v)
        return cli_usage(g.cmd, "missing --%s", name);
    return CLI_OK;
}

static int num_opt(const char *name, uint64_t max, uint64_t *v)
{
    const char *s = opt(name);
    if (!s)
        return CLI_OK;
    return cli_num(g.cmd, name, s, 0, max, v);
}

/* "vouch: fw verify: image.img: <why>" with the exit status of the layer */
static int fw_fail(vouch_rc rc, const char *what)
{
    int ret = CLI_COMM;
    if (VOUCH_RC_LAYER(rc) == VOUCH_LAYER_FW)
        ret = VOUCH_RC_CODE(rc) == VOUCH_FW_E_CHECK ? CLI_COMM : CLI_INVALID;
    else if (VOUCH_RC_LAYER(rc) == VOUCH_LAYER_SE)
        ret = CLI_SE;
    return cli_err(ret, "%s: %s: %s", g.cmd, what, vouch_fw_strerror(rc));
}

static int se_open(void)
{
    const char *uri = opt("se");
    if (!uri)
        uri = getenv("VOUCH_SE");
    return cli_se_connect(g.cmd, uri, opt("host-keys"), &g.se);
}

static int pw_none(char *buf, int size, int rw, void *u)
{
    (void)buf, (void)size, (void)rw, (void)u;
    return 0; /* never prompt: an encrypted key is refused with a message */
}

static int load_private(const char *path, EVP_PKEY **out)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int ret = cli_read_file(path, 64 * 1024, &buf, &n);
    if (ret)
        return ret;
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, pw_none, NULL) : NULL;
    BIO_free(b);
    cli_free_secret(buf, n + 1);
    ERR_clear_error();
    if (!pk)
        return cli_err(CLI_FILE, "%s: %s: not an unencrypted PEM private key", g.cmd, path);
    *out = pk;
    return CLI_OK;
}

/* ---- keygen ------------------------------------------------------------------- */
static int cmd_keygen(char **pos, int npos)
{
    const char *out = opt("out"), *pubout = opt("pubout"), *alg = opt("alg");
    int ed = 0, ret;
    if (alg && strcmp(alg, "p256") != 0 && strcmp(alg, "ed25519") != 0)
        return cli_usage(g.cmd, "--alg is p256 or ed25519, not '%s'", alg);
    ed = alg && strcmp(alg, "ed25519") == 0;
    if (opt("se")) {
        uint64_t slot = 0;
        uint8_t pub[65];
        size_t plen = 0;
        char *pem;
        if (out)
            return cli_usage(g.cmd, "--out writes a private key file; with --se the key "
                                    "stays in the secure element (use --pubout)");
        if (!opt("slot"))
            return cli_usage(g.cmd, "missing --slot (1 to 3)");
        if ((ret = num_opt("slot", 3, &slot)) || (slot == 0 && (ret = cli_usage(g.cmd,
                "slot 0 is the device identity key; use slot 1 to 3"))) || (ret = se_open()))
            return ret;
        vouch_rc rc = vouch_se_keygen(&g.se.se, (uint8_t)slot,
                                      ed ? VOUCH_SE_ALG_ED25519 : VOUCH_SE_ALG_P256, pub,
                                      sizeof pub, &plen, g.se.flags);
        if (rc != VOUCH_OK)
            return fw_fail(rc, "key generation in the secure element failed");
        pem = cli_pub_to_pem(ed ? VOUCH_SE_ALG_ED25519 : VOUCH_SE_ALG_P256, pub, plen);
        if (!pem)
            return cli_err(CLI_FILE, "out of memory");
        ret = pubout ? cli_write_file(pubout, pem, strlen(pem), 0)
                     : (fputs(pem, stdout) < 0 ? CLI_FILE : CLI_OK);
        free(pem);
        return ret;
    }
    if (!out || !*out)
        return cli_usage(g.cmd, "missing --out KEY (or --se URI --slot N)");
    struct stat st;
    if (strcmp(out, "-") != 0 && stat(out, &st) == 0 && !opt("force"))
        return cli_err(CLI_FILE, "%s: %s exists; not overwriting a key (--force)", g.cmd, out);
    EVP_PKEY *pk = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    ret = CLI_FILE;
    if (pk && b && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(b, &data)) > 0) {
        ret = cli_write_file(out, data, (size_t)n, 1);
        OPENSSL_cleanse(data, (size_t)n);
    } else {
        cli_err(CLI_FILE, "%s: key generation failed", g.cmd);
    }
    BIO_free(b);
    if (ret == CLI_OK && pubout) {
        b = BIO_new(BIO_s_mem());
        ret = CLI_FILE;
        if (b && PEM_write_bio_PUBKEY(b, pk) == 1 && (n = BIO_get_mem_data(b, &data)) > 0)
            ret = cli_write_file(pubout, data, (size_t)n, 0);
        BIO_free(b);
    }
    EVP_PKEY_free(pk);
    return ret;
}

/* ---- sign ----------------------------------------------------------------------- */
typedef struct se_signer {
    vouch_se *se;
    uint8_t slot, alg;
    unsigned flags;
} se_signer;

static int sign_se(void *ctx, const uint8_t hash[32], uint8_t *sig, size_t sig_size,
                   size_t *sig_len)
{
    se_signer *s = ctx;
    uint8_t rs[64];
    const vouch_crypto_port *port = vouch_port_openssl();
    if (vouch_se_sign(s->se, s->slot, hash, 32, rs, s->flags) != VOUCH_OK)
        return -1;
    if (s->alg == VOUCH_SE_ALG_ED25519) {
        if (sig_size < 64)
            return -1;
        memcpy(sig, rs, 64);
        *sig_len = 64;
        return 0;
    }
    return port->p256_sig_der(port->ctx, rs, sig, sig_size, sig_len);
}

/* --vendor and --class into UUIDs; the class is named in the vendor's UUID */
static int uuid_opts(uint8_t vid[16], uint8_t cid[16], int *has_vid, int *has_cid)
{
    const char *v = opt("vendor"), *c = opt("class");
    *has_vid = *has_cid = 0;
    if (c && !v)
        return cli_usage(g.cmd, "--class needs --vendor (a class is named within its vendor)");
    if (v && vouch_fw_uuid_arg(v, NULL, vid) != 0)
        return cli_usage(g.cmd, "--vendor: an empty name");
    if (c && vouch_fw_uuid_arg(c, vid, cid) != 0)
        return cli_usage(g.cmd, "--class: an empty name");
    *has_vid = v != NULL;
    *has_cid = c != NULL;
    return CLI_OK;
}

static void hex_inline(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static void print_image_json(const char *path, const vouch_fw_image *img, size_t size,
                             const uint8_t *hash, int hash_ok)
{
    char ver[32], u[40];
    vouch_fw_version_str(&img->version, ver, sizeof ver);
    cj_str("image", path);
    cj_num("size", size);
    cj_str("version", ver);
    cj_num("security_counter", img->has_sec_cnt ? img->sec_cnt : 0);
    cj_bool("has_security_counter", img->has_sec_cnt);
    cj_num("load_address", img->load_addr);
    cj_num("header_size", img->hdr_size);
    cj_num("payload_size", img->img_size);
    cj_num("protected_tlv_size", img->prot_size);
    cj_num("tlv_size", img->tlv_size);
    if (img->has_vid) {
        vouch_fw_uuid_str(img->vid, u, sizeof u);
        cj_str("vendor", u);
    }
    if (img->has_cid) {
        vouch_fw_uuid_str(img->cid, u, sizeof u);
        cj_str("class", u);
    }
    if (img->has_hash)
        cj_hex("sha256", img->hash, 32);
    if (hash)
        cj_bool("hash_ok", hash_ok);
    if (img->has_keyhash)
        cj_hex("key_hash", img->keyhash, 32);
    cj_str("signature", img->sig_alg == VOUCH_SE_ALG_P256       ? "ecdsa-p256"
                        : img->sig_alg == VOUCH_SE_ALG_ED25519 ? "ed25519"
                                                               : "none");
}

static int cmd_sign(char **pos, int npos)
{
    const char *keyf = opt("key"), *in, *outf, *vers;
    uint64_t sec = 0, hdr = 0, load = 0, slot = 0;
    uint8_t vid[16], cid[16], pub[65], alg = 0, *payload = NULL, *img = NULL;
    size_t plen = 0, ilen = 0, publen = 0;
    int has_vid, has_cid, ret;
    EVP_PKEY *pk = NULL;
    vouch_fw_sign_opts o;
    char err[200];
    se_signer ss;

    memset(&o, 0, sizeof o);
    if ((ret = need("version", &vers)) || (ret = need("in", &in)) || (ret = need("out", &outf)))
        return ret;
    if (vouch_fw_version_parse(vers, &o.version) != 0)
        return cli_usage(g.cmd, "--version '%s': expected MAJOR.MINOR.REVISION[+BUILD] "
                                "(major and minor 0-255, revision 0-65535)", vers);
    if ((ret = num_opt("security-counter", 0xFFFFFFFFu, &sec)) ||
        (ret = num_opt("header-size", 0xFFFF, &hdr)) ||
        (ret = num_opt("load-addr", 0xFFFFFFFFu, &load)) || (ret = num_opt("slot", 3, &slot)) ||
        (ret = uuid_opts(vid, cid, &has_vid, &has_cid)))
        return ret;
    if (opt("header-size") && hdr < VOUCH_FW_HDR_LEN)
        return cli_usage(g.cmd, "--header-size is at least %u", VOUCH_FW_HDR_LEN);
    if (!!keyf == !!opt("se"))
        return cli_usage(g.cmd, "give either --key KEY or --se URI --slot N");
    if (opt("se") && !opt("slot"))
        return cli_usage(g.cmd, "missing --slot: the SE key slot that signs");
    o.has_sec_cnt = 1;
    o.sec_cnt = (uint32_t)sec;
    o.hdr_size = (uint16_t)hdr;
    o.load_addr = (uint32_t)load;
    o.vid = has_vid ? vid : NULL;
    o.cid = has_cid ? cid : NULL;

    if ((ret = cli_read_file(in, IMAGE_FILE_MAX, &payload, &plen)))
        return ret;
    if (keyf) {
        if ((ret = load_private(keyf, &pk)))
            goto out;
        if (vouch_fw_pub_raw(pk, &alg, pub, &publen) != 0) {
            ret = cli_err(CLI_FILE, "%s: %s: the key is neither P-256 nor Ed25519", g.cmd, keyf);
            goto out;
        }
        ret = vouch_fw_build(payload, plen, &o, alg, pub, publen, vouch_fw_sign_evp, pk, &img,
                             &ilen, err, sizeof err) == 0
                  ? CLI_OK
                  : cli_err(CLI_INVALID, "%s: %s", g.cmd, err);
    } else {
        if ((ret = se_open()))
            goto out;
        vouch_rc rc = vouch_se_pubkey(&g.se.se, (uint8_t)slot, &alg, pub, sizeof pub, &publen);
        if (rc != VOUCH_OK) {
            ret = fw_fail(rc, "cannot read the slot's public key");
            goto out;
        }
        ss = (se_signer){&g.se.se, (uint8_t)slot, alg, g.se.flags};
        ret = vouch_fw_build(payload, plen, &o, alg, pub, publen, sign_se, &ss, &img, &ilen, err,
                             sizeof err) == 0
                  ? CLI_OK
                  : cli_err(CLI_SE, "%s: %s", g.cmd, err);
    }
    if (ret == CLI_OK)
        ret = cli_write_file(outf, img, ilen, 0);
    if (ret == CLI_OK && g.json) {
        vouch_fw_image im;
        if (vouch_fw_parse_buf(img, ilen, vouch_port_openssl(), &im) == VOUCH_OK) {
            cj_open(NULL);
            print_image_json(outf, &im, ilen, NULL, 0);
            cj_close();
        }
    } else if (ret == CLI_OK && strcmp(outf, "-") != 0) {
        fprintf(stderr, "signed %s: version %s, security counter %u, %zu bytes\n", outf, vers,
                o.sec_cnt, ilen);
    }
out:
    EVP_PKEY_free(pk);
    free(payload);
    free(img);
    return ret;
}

/* ---- images from files ------------------------------------------------------------ */
typedef struct file_reader {
    FILE *f;
} file_reader;

static int file_read(void *ctx, uint32_t off, uint8_t *buf, size_t len)
{
    file_reader *r = ctx;
    if (fseeko(r->f, (off_t)off, SEEK_SET) != 0)
        return -1;
    return fread(buf, 1, len, r->f) == len ? 0 : -1;
}

static int open_image(const char *path, file_reader *r, uint32_t *size)
{
    struct stat st;
    r->f = fopen(path, "rb");
    if (!r->f)
        return cli_err(CLI_FILE, "%s: cannot open %s: %s", g.cmd, path, strerror(errno));
    if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(r->f);
        return cli_err(CLI_FILE, "%s: %s is not a regular file", g.cmd, path);
    }
    *size = st.st_size > (off_t)VOUCH_FW_IMAGE_MAX ? VOUCH_FW_IMAGE_MAX : (uint32_t)st.st_size;
    return CLI_OK;
}

/* ---- verify ----------------------------------------------------------------------- */
static int cmd_verify(char **pos, int npos)
{
    const char *pubf = opt("pubkey"), *path = pos[0];
    const vouch_crypto_port *port = vouch_port_openssl();
    vouch_fw_key keys[VOUCH_FW_KEY_ENTRIES];
    uint8_t vid[16], cid[16], *chunk = NULL;
    uint64_t min = 0;
    uint32_t size = 0, floor = 0;
    int has_vid, has_cid, ret;
    vouch_fw_policy pol;
    vouch_fw_result res;
    file_reader fr = {0};
    size_t n = 0;
    vouch_rc rc;

    memset(&pol, 0, sizeof pol);
    if ((ret = num_opt("min-security-counter", 0xFFFFFFFFu, &min)) ||
        (ret = uuid_opts(vid, cid, &has_vid, &has_cid)))
        return ret;
    if (!!pubf == !!opt("se"))
        return cli_usage(g.cmd, "give either --pubkey PEM or --se URI (the device's trust)");
    if (pubf) {
        size_t len = 0;
        memset(&keys[0], 0, sizeof keys[0]);
        if ((ret = cli_pem_to_pub(pubf, &keys[0].alg, keys[0].pub, &len)))
            return ret;
        if (keys[0].alg != VOUCH_SE_ALG_P256 && keys[0].alg != VOUCH_SE_ALG_ED25519)
            return cli_err(CLI_FILE, "%s: %s: firmware keys are P-256 or Ed25519", g.cmd, pubf);
        if (vouch_fw_keyhash(port, keys[0].alg, keys[0].pub, len, keys[0].keyhash) != VOUCH_OK)
            return cli_err(CLI_FILE, "%s: %s: unusable key", g.cmd, pubf);
        n = 1;
    } else {
        if ((ret = se_open()))
            return ret;
        if ((rc = vouch_fw_trust_load(&g.se.se, port, keys, &n, NULL)) != VOUCH_OK ||
            (rc = vouch_fw_rollback_get(&g.se.se, &floor)) != VOUCH_OK)
            return fw_fail(rc, "cannot read the firmware trust from the secure element");
        pol.check = vouch_fw_se_check;
        pol.check_ctx = &g.se.se;
    }
    pol.keys = keys;
    pol.nkeys = n;
    pol.min_sec_cnt = (uint32_t)min > floor ? (uint32_t)min : floor;
    pol.vid = has_vid ? vid : NULL;
    pol.cid = has_cid ? cid : NULL;

    if ((ret = open_image(path, &fr, &size)))
        return ret;
    chunk = malloc(1u << 16);
    if (!chunk) {
        fclose(fr.f);
        return cli_err(CLI_FILE, "out of memory");
    }
    rc = vouch_fw_verify(file_read, &fr, size, port, &pol, chunk, 1u << 16, &res);
    fclose(fr.f);
    free(chunk);
    if (g.json) {
        cj_open(NULL);
        cj_bool("valid", rc == VOUCH_OK);
        if (rc != VOUCH_OK)
            cj_str("error", vouch_fw_strerror(rc));
        if (rc == VOUCH_OK || VOUCH_RC_CODE(rc) > VOUCH_FW_E_TLV)
            print_image_json(path, &res.img, size, NULL, 0);
        if (res.key)
            cj_num("key_index", res.key->index);
        cj_close();
        return rc == VOUCH_OK ? CLI_OK
               : VOUCH_RC_LAYER(rc) == VOUCH_LAYER_FW && VOUCH_RC_CODE(rc) != VOUCH_FW_E_CHECK
                   ? CLI_INVALID
                   : CLI_COMM;
    }
    if (rc != VOUCH_OK)
        return fw_fail(rc, path);
    char ver[32];
    vouch_fw_version_str(&res.img.version, ver, sizeof ver);
    printf("%s: valid: version %s, security counter %u, ", path, ver,
           res.img.has_sec_cnt ? res.img.sec_cnt : 0);
    if (pubf)
        printf("signed by %s\n", pubf);
    else
        printf("signed by SE key %u (checked by the secure element)\n", res.key->index);
    return CLI_OK;
}

/* ---- info ------------------------------------------------------------------------- */
static int cmd_info(char **pos, int npos)
{
    const char *path = pos[0];
    const vouch_crypto_port *port = vouch_port_openssl();
    uint8_t *buf = NULL, hash[32];
    size_t len = 0;
    vouch_fw_image img;
    int ret, hash_ok;
    char ver[32], u[40];

    if ((ret = cli_read_file(path, IMAGE_FILE_MAX, &buf, &len)))
        return ret;
    vouch_rc rc = vouch_fw_parse_buf(buf, len, port, &img);
    if (rc != VOUCH_OK) {
        free(buf);
        return fw_fail(rc, path);
    }
    if (port->sha256(port->ctx, buf, img.tlv_off, hash) != 0) {
        free(buf);
        return cli_err(CLI_FILE, "SHA-256 failed");
    }
    free(buf);
    hash_ok = img.has_hash && memcmp(hash, img.hash, 32) == 0;
    if (g.json) {
        cj_open(NULL);
        print_image_json(path, &img, len, hash, hash_ok);
        cj_num("trailing_bytes", len - img.total);
        cj_close();
        return CLI_OK;
    }
    vouch_fw_version_str(&img.version, ver, sizeof ver);
    printf("image             %s (%zu bytes)\n", path, len);
    printf("version           %s\n", ver);
    if (img.has_sec_cnt)
        printf("security counter  %u\n", img.sec_cnt);
    else
        printf("security counter  none (counts as 0)\n");
    printf("load address      0x%08x\n", img.load_addr);
    printf("header            %u bytes\n", img.hdr_size);
    printf("payload           %u bytes\n", img.img_size);
    printf("protected TLVs    %u bytes\n", img.prot_size);
    printf("TLVs              %u bytes\n", img.tlv_size);
    if (img.has_vid) {
        vouch_fw_uuid_str(img.vid, u, sizeof u);
        printf("vendor            %s\n", u);
    }
    if (img.has_cid) {
        vouch_fw_uuid_str(img.cid, u, sizeof u);
        printf("class             %s\n", u);
    }
    printf("sha256            ");
    if (img.has_hash)
        hex_inline(img.hash, 32);
    printf("%s\n", !img.has_hash ? "missing" : hash_ok ? " (matches)" : " (DOES NOT MATCH)");
    if (img.has_keyhash) {
        printf("key hash          ");
        hex_inline(img.keyhash, 32);
        printf("\n");
    }
    printf("signature         %s\n", img.sig_alg == VOUCH_SE_ALG_P256       ? "ecdsa-p256"
                                     : img.sig_alg == VOUCH_SE_ALG_ED25519 ? "ed25519"
                                                                           : "none");
    if (len > img.total)
        printf("trailing bytes    %zu (not part of the image)\n", len - img.total);
    return CLI_OK;
}

/* ---- trust ---------------------------------------------------------------------- */
static int read_zone2(uint8_t z[VOUCH_FW_KEY_ENTRIES * VOUCH_FW_KEY_ENTRY_LEN])
{
    vouch_rc rc = vouch_se_read(&g.se.se, VOUCH_FW_KEY_ZONE, 0, z,
                                VOUCH_FW_KEY_ENTRIES * VOUCH_FW_KEY_ENTRY_LEN, VOUCH_PLAIN);
    return rc == VOUCH_OK ? CLI_OK : fw_fail(rc, "cannot read the firmware key zone");
}

static int cmd_trust_add(char **pos, int npos)
{
    const char *pubf, *usage = opt("usage");
    uint8_t z[VOUCH_FW_KEY_ENTRIES * VOUCH_FW_KEY_ENTRY_LEN], e[VOUCH_FW_KEY_ENTRY_LEN];
    uint8_t alg = 0, pub[65], u = VOUCH_FW_USAGE_FIRMWARE;
    uint64_t idx = 0;
    size_t len = 0, i;
    int ret;
    if ((ret = need("pubkey", &pubf)) || (ret = num_opt("index", VOUCH_FW_KEY_ENTRIES - 1, &idx)))
        return ret;
    if (usage && strcmp(usage, "firmware") != 0 && strcmp(usage, "commands") != 0)
        return cli_usage(g.cmd, "--usage is firmware or commands, not '%s'", usage);
    if (usage && strcmp(usage, "commands") == 0)
        u = VOUCH_FW_USAGE_COMMANDS;
    if ((ret = cli_pem_to_pub(pubf, &alg, pub, &len)))
        return ret;
    if (alg != VOUCH_SE_ALG_P256 && alg != VOUCH_SE_ALG_ED25519)
        return cli_err(CLI_FILE, "%s: %s: firmware keys are P-256 or Ed25519", g.cmd, pubf);
    if ((ret = se_open()) || (ret = read_zone2(z)))
        return ret;
    if (!opt("index")) {
        for (i = 0; i < VOUCH_FW_KEY_ENTRIES; i++) {
            const uint8_t *x = z + i * VOUCH_FW_KEY_ENTRY_LEN;
            if (x[0] != VOUCH_FW_USAGE_EMPTY && x[1] == alg && memcmp(x + 2, pub, len) == 0)
                return cli_err(CLI_USAGE, "%s: this key is already entry %zu", g.cmd, i);
        }
        for (i = 0; i < VOUCH_FW_KEY_ENTRIES && z[i * VOUCH_FW_KEY_ENTRY_LEN]; i++)
            ;
        if (i == VOUCH_FW_KEY_ENTRIES)
            return cli_err(CLI_SE, "%s: the firmware key zone is full (%u entries)", g.cmd,
                           VOUCH_FW_KEY_ENTRIES);
        idx = i;
    } else if (z[idx * VOUCH_FW_KEY_ENTRY_LEN] != VOUCH_FW_USAGE_EMPTY) {
        return cli_err(CLI_USAGE, "%s: entry %llu is taken", g.cmd, (unsigned long long)idx);
    }
    memset(e, 0, sizeof e);
    e[0] = u;
    e[1] = alg;
    memcpy(e + 2, pub, len);
    vouch_rc rc = vouch_se_update(&g.se.se, VOUCH_FW_KEY_ZONE,
                                  (uint16_t)(idx * VOUCH_FW_KEY_ENTRY_LEN), e, sizeof e,
                                  g.se.flags);
    if (rc != VOUCH_OK)
        return fw_fail(rc, "cannot write the key entry (is the zone locked?)");
    if (g.json) {
        cj_open(NULL);
        cj_num("index", idx);
        cj_str("usage", u == VOUCH_FW_USAGE_FIRMWARE ? "firmware" : "commands");
        cj_close();
    } else {
        printf("added %s key as entry %llu\n", u == VOUCH_FW_USAGE_FIRMWARE ? "firmware" : "command",
               (unsigned long long)idx);
    }
    return CLI_OK;
}

static int cmd_trust_lock(char **pos, int npos)
{
    int ret = se_open();
    vouch_rc rc;
    if (ret)
        return ret;
    /* keys: readable by anyone, never changed again */
    rc = vouch_se_zone_ac(&g.se.se, VOUCH_FW_KEY_ZONE, VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_NEVER,
                          g.se.flags);
    if (rc != VOUCH_OK)
        return fw_fail(rc, "cannot lock the firmware key zone");
    /* counters: only the device's own host (with the host keys) steps them */
    if (g.se.flags & VOUCH_SECURE) {
        uint8_t zones[2] = {VOUCH_FW_ROLLBACK_ZONE, VOUCH_FW_REVOKE_ZONE};
        for (int i = 0; i < 2; i++) {
            rc = vouch_se_zone_ac(&g.se.se, zones[i], VOUCH_SE_AC_ALWAYS, VOUCH_SE_AC_HOST,
                                  g.se.flags);
            if (rc != VOUCH_OK)
                return fw_fail(rc, "cannot restrict the firmware counters");
        }
    }
    if (g.json) {
        cj_open(NULL);
        cj_bool("keys_locked", 1);
        cj_bool("counters_host_only", (g.se.flags & VOUCH_SECURE) != 0);
        cj_close();
    } else {
        printf("firmware keys locked%s\n", (g.se.flags & VOUCH_SECURE)
                                               ? "; counters need the host keys"
                                               : "");
    }
    return CLI_OK;
}

static int cmd_trust_revoke(char **pos, int npos)
{
    uint64_t idx = 0;
    uint32_t now = 0;
    int ret;
    if (!opt("index"))
        return cli_usage(g.cmd, "missing --index N (entries 0..N are revoked for ever)");
    if ((ret = num_opt("index", VOUCH_FW_KEY_ENTRIES - 1, &idx)) || (ret = se_open()))
        return ret;
    vouch_rc rc = vouch_fw_key_revoke(&g.se.se, (uint8_t)idx, g.se.flags, &now);
    if (rc != VOUCH_OK)
        return fw_fail(rc, "cannot step the revocation counter");
    if (g.json) {
        cj_open(NULL);
        cj_num("revoked_below", now);
        cj_close();
    } else {
        printf("firmware keys 0..%u revoked for ever\n", now - 1);
    }
    return CLI_OK;
}

static int cmd_trust_show(char **pos, int npos)
{
    const vouch_crypto_port *port = vouch_port_openssl();
    uint8_t z[VOUCH_FW_KEY_ENTRIES * VOUCH_FW_KEY_ENTRY_LEN], kh[32];
    uint32_t floor = 0, revoked = 0;
    vouch_se_info info;
    int ret, locked = 0;
    vouch_rc rc;
    if ((ret = se_open()) || (ret = read_zone2(z)))
        return ret;
    if ((rc = vouch_fw_rollback_get(&g.se.se, &floor)) != VOUCH_OK ||
        (rc = vouch_fw_trust_load(&g.se.se, port, (vouch_fw_key[VOUCH_FW_KEY_ENTRIES]){0},
                                  &(size_t){0}, &revoked)) != VOUCH_OK)
        return fw_fail(rc, "cannot read the firmware counters");
    if (vouch_se_query(&g.se.se, &info) == VOUCH_OK) {
        for (unsigned i = 0; i < info.n_zones; i++)
            if (info.zones[i].index == VOUCH_FW_KEY_ZONE)
                locked = info.zones[i].update_ac == VOUCH_SE_AC_NEVER;
    }
    if (g.json) {
        cj_open(NULL);
        cj_num("security_counter_floor", floor);
        cj_num("revoked_below", revoked);
        cj_bool("locked", locked);
        cj_array("keys");
    } else {
        printf("security counter floor  %u\nkeys revoked below      %u\nkey zone locked         %s\n",
               floor, revoked, locked ? "yes" : "no");
    }
    for (unsigned i = 0; i < VOUCH_FW_KEY_ENTRIES; i++) {
        const uint8_t *e = z + i * VOUCH_FW_KEY_ENTRY_LEN;
        size_t len = e[1] == VOUCH_SE_ALG_P256 ? 65 : 32;
        const char *usage = e[0] == VOUCH_FW_USAGE_FIRMWARE   ? "firmware"
                            : e[0] == VOUCH_FW_USAGE_COMMANDS ? "commands"
                                                              : NULL;
        if (!usage)
            continue;
        int have_kh = vouch_fw_keyhash(port, e[1], e + 2, len, kh) == VOUCH_OK;
        int rev = e[0] == VOUCH_FW_USAGE_FIRMWARE && i < revoked;
        if (g.json) {
            cj_open(NULL);
            cj_num("index", i);
            cj_str("usage", usage);
            cj_str("alg", e[1] == VOUCH_SE_ALG_P256 ? "p256" : "ed25519");
            if (have_kh)
                cj_hex("key_hash", kh, 32);
            cj_bool("revoked", rev);
            cj_close();
        } else {
            printf("key %u  %-8s %-8s %s  ", i, usage, vouch_se_alg_name(e[1]),
                   rev ? "REVOKED" : "active ");
            if (have_kh)
                hex_inline(kh, 8);
            printf("\n");
        }
    }
    if (g.json) {
        cj_end();
        cj_close();
    }
    return CLI_OK;
}

/* ---- the command table ------------------------------------------------------------ */
#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define SE_OPTS {"se", "URI", NULL, 0}, {"host-keys", "FILE", NULL, 0}
#define JSON_OPT {"json", NULL, NULL, 0}

typedef struct fw_cmd {
    const char *name;
    int (*run)(char **pos, int npos);
    cli_opt *opts;
    const char *arg;
    cli_help help;
} fw_cmd;

static const fw_cmd cmds[] = {
    {"keygen", cmd_keygen,
     OPTS({"out", "KEY", NULL, 0}, {"pubout", "PEM", NULL, 0}, {"alg", "ALG", NULL, 0},
          {"force", NULL, NULL, 0}, {"slot", "N", NULL, 0}, SE_OPTS),
     NULL,
     {"fw keygen", "make a firmware signing key",
      "    vouch fw keygen --out KEY [--pubout PEM] [--alg p256|ed25519] [--force]\n"
      "    vouch fw keygen --se URI --slot N [--host-keys FILE] [--pubout PEM] [--alg ALG]",
      "DESCRIPTION\n"
      "    Makes a key to sign firmware with. With --out, an unencrypted PKCS#8\n"
      "    PEM private key (mode 0600; openssl pkey reads it); keep it offline.\n"
      "    With --se, the key is generated inside a secure element's slot (1 to\n"
      "    3) and never leaves it; vouch fw sign --se uses it there.\n"
      "    The public key (PEM) goes to --pubout, or stdout with --se. Give the\n"
      "    public key to devices (vouch fw trust add) and to vouchd (vouch fw key add).\n\n"
      "OPTIONS\n"
      "    --out KEY        private key file to create (refused if it exists)\n"
      "    --pubout PEM     also write the public key\n"
      "    --alg ALG        p256 (default, ECDSA P-256) or ed25519\n"
      "    --force          overwrite an existing --out file\n"
      "    --se URI         generate in this secure element (unix:/path, i2c:...)\n"
      "    --slot N         the SE slot, 1 to 3\n"
      "    --host-keys FILE the SE's host keys, when it has them\n",
      "    vouch fw keygen --out release.key --pubout release.pub\n", 0}},
    {"sign", cmd_sign,
     OPTS({"key", "KEY", NULL, 0}, {"version", "V", NULL, 0},
          {"security-counter", "N", NULL, 0}, {"in", "FILE", NULL, 0}, {"out", "FILE", NULL, 0},
          {"header-size", "N", NULL, 0}, {"load-addr", "ADDR", NULL, 0},
          {"vendor", "NAME", NULL, 0}, {"class", "NAME", NULL, 0}, {"slot", "N", NULL, 0},
          SE_OPTS, JSON_OPT),
     NULL,
     {"fw sign", "build and sign a firmware image",
      "    vouch fw sign (--key KEY | --se URI --slot N) --version V --in FILE --out IMAGE\n"
      "                  [--security-counter N] [--vendor NAME --class NAME]\n"
      "                  [--header-size N] [--load-addr ADDR] [--json]",
      "DESCRIPTION\n"
      "    Wraps the binary FILE into an image in MCUboot's layout (docs/firmware.md):\n"
      "    a 32-byte header with the version, the payload, a protected TLV area with\n"
      "    the security counter (and the vendor and class UUIDs if given), then the\n"
      "    SHA-256 of all that, the SHA-256 of the signing key, and the signature\n"
      "    (ECDSA P-256 or Ed25519) over the hash. The image is verified against\n"
      "    the key before it is written. MCUboot's imgtool reads the result.\n\n"
      "OPTIONS\n"
      "    --key KEY               PEM private key (vouch fw keygen, openssl genpkey)\n"
      "    --se URI --slot N       sign inside a secure element instead\n"
      "    --version V             MAJOR.MINOR.REVISION[+BUILD], e.g. 1.2.3+4\n"
      "    --security-counter N    anti-rollback counter (default 0): a device never\n"
      "                            boots an image below the highest it confirmed\n"
      "    --vendor NAME|UUID      vendor UUID (a name becomes a UUIDv5 in the DNS\n"
      "                            namespace, as imgtool does)\n"
      "    --class NAME|UUID       device class UUID (a name becomes a UUIDv5 in the\n"
      "                            vendor's namespace); needs --vendor\n"
      "    --header-size N         header padded with zeros to N bytes (default 32)\n"
      "    --load-addr ADDR        load address field (default 0)\n"
      "    --json                  print the image's fields as JSON\n",
      "    vouch fw sign --key release.key --version 1.2.0 --security-counter 2 \\\n"
      "        --in app.bin --out app.img\n", 0}},
    {"verify", cmd_verify,
     OPTS({"pubkey", "PEM", NULL, 0}, {"min-security-counter", "N", NULL, 0},
          {"vendor", "NAME", NULL, 0}, {"class", "NAME", NULL, 0}, SE_OPTS, JSON_OPT),
     "IMAGE",
     {"fw verify", "check a firmware image's hash, signature and counters",
      "    vouch fw verify --pubkey PEM IMAGE [--min-security-counter N]\n"
      "                    [--vendor NAME --class NAME] [--json]\n"
      "    vouch fw verify --se URI [--host-keys FILE] IMAGE [...]",
      "DESCRIPTION\n"
      "    Checks IMAGE as a device would: its layout, the SHA-256 of header,\n"
      "    payload and protected TLVs against the hash TLV, that the key hash\n"
      "    names the key, the signature, the security counter and, if given, the\n"
      "    vendor and class. With --se the keys are the firmware keys in the\n"
      "    secure element (revoked ones refused), the signature is checked by the\n"
      "    chip, and the counter floor is the chip's anti-rollback counter.\n"
      "    The first failure is printed: tampered, wrong key, revoked, rollback...\n\n"
      "OPTIONS\n"
      "    --pubkey PEM               the public key the image must be signed by\n"
      "    --se URI                   use a secure element's firmware trust\n"
      "    --min-security-counter N   refuse an image whose counter is lower\n"
      "    --vendor, --class          refuse an image for another vendor or class\n"
      "    --json                     {valid, error, version, security_counter, ...}\n",
      "    vouch fw verify --pubkey release.pub app.img\n", 1}},
    {"info", cmd_info, OPTS(JSON_OPT), "IMAGE",
     {"fw info", "show what a firmware image holds",
      "    vouch fw info IMAGE [--json]",
      "DESCRIPTION\n"
      "    Prints the header and TLV fields of IMAGE: version, security counter,\n"
      "    sizes, vendor and class, the hash (and whether it matches the bytes),\n"
      "    the key hash and the signature algorithm. The signature is not checked\n"
      "    (vouch fw verify does that).\n\n"
      "OPTIONS\n"
      "    --json   the same as one object\n",
      "    vouch fw info app.img --json\n", 0}},
    {"trust add", cmd_trust_add,
     OPTS({"pubkey", "PEM", NULL, 0}, {"index", "N", NULL, 0}, {"usage", "USE", NULL, 0},
          SE_OPTS, JSON_OPT),
     NULL,
     {"fw trust add", "put a firmware signing key into a secure element",
      "    vouch fw trust add --se URI --pubkey PEM [--index N] [--usage firmware|commands]",
      "DESCRIPTION\n"
      "    Writes the public key into the next free entry (or entry N) of the\n"
      "    SE's key zone (zone 2, seven entries). Provision the keys you will\n"
      "    rotate to later now, in order: entry 0 signs first; revoking entry i\n"
      "    retires 0..i for ever and the next entry takes over. Then lock.\n\n"
      "OPTIONS\n"
      "    --pubkey PEM     P-256 or Ed25519 public key\n"
      "    --index N        the entry, 0 to 6 (default: the first free one)\n"
      "    --usage USE      firmware (default) or commands\n",
      "    vouch fw trust add --se unix:/tmp/se.sock --pubkey release.pub\n", 0}},
    {"trust lock", cmd_trust_lock, OPTS(SE_OPTS, JSON_OPT), NULL,
     {"fw trust lock", "lock the firmware keys of a secure element for ever",
      "    vouch fw trust lock --se URI [--host-keys FILE]",
      "DESCRIPTION\n"
      "    Sets the key zone's update access condition to never: the keys can be\n"
      "    read and used but not changed again. With --host-keys, the\n"
      "    anti-rollback and revocation counters (zones 5 and 6) can afterwards\n"
      "    only be stepped over the host secure channel.\n\n"
      "OPTIONS\n    None besides --se and --host-keys.\n",
      "    vouch fw trust lock --se unix:/tmp/se.sock --host-keys dev.hostkeys\n", 0}},
    {"trust revoke", cmd_trust_revoke, OPTS({"index", "N", NULL, 0}, SE_OPTS, JSON_OPT), NULL,
     {"fw trust revoke", "revoke firmware keys for ever",
      "    vouch fw trust revoke --se URI --index N [--host-keys FILE]",
      "DESCRIPTION\n"
      "    Steps the SE's one-way revocation counter (zone 6) so that entries 0\n"
      "    to N are revoked: images signed by them never boot again. This cannot\n"
      "    be undone. Sign with the key of entry N+1 first.\n\n"
      "OPTIONS\n    --index N   the highest entry to revoke\n",
      "    vouch fw trust revoke --se unix:/tmp/se.sock --index 0\n", 0}},
    {"trust show", cmd_trust_show, OPTS(SE_OPTS, JSON_OPT), NULL,
     {"fw trust show", "show a secure element's firmware keys and counters",
      "    vouch fw trust show --se URI [--json]",
      "DESCRIPTION\n"
      "    Lists the key entries (index, usage, algorithm, revoked, key hash\n"
      "    prefix), the anti-rollback floor and whether the key zone is locked.\n\n"
      "OPTIONS\n    --json   {security_counter_floor, revoked_below, locked, keys[]}\n",
      "    vouch fw trust show --se unix:/tmp/se.sock\n", 0}},
};

static void group_help(void)
{
    printf("NAME\n    vouch fw - firmware images, signing keys, releases and campaigns\n\n"
           "SYNOPSIS\n    vouch fw <command> [options]\n\n"
           "DESCRIPTION\n    Local commands:\n");
    for (size_t i = 0; i < N_ELEM(cmds); i++)
        printf("        %-13s %s\n", cmds[i].name, cmds[i].help.summary);
    printf("    vouchd commands (docs/api.md):\n"
           "        key           add and list an account's firmware keys on vouchd\n"
           "        release       upload, list and get firmware releases\n"
           "        campaign      roll a release out to devices and follow it\n"
           "    'vouch fw <command> --help' describes one command.\n\n"
           "EXIT STATUS\n"
           "    0 success, 1 the image is invalid or refused, 2 usage error, 3 the\n"
           "    secure element refused, 4 communication failure, 5 local file error.\n");
}

int cmd_fw_main(int argc, char **argv)
{
    char *pos[1];
    int npos = 0, ret, skip = 2;
    char name[24];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc < 2)
            return cli_usage("fw", "missing command (sign, verify, info, ...)");
        group_help();
        return CLI_OK;
    }
    if (strcmp(argv[1], "key") == 0)
        return cmd_fw_key_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "release") == 0)
        return cmd_fw_release_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "campaign") == 0)
        return cmd_fw_campaign_main(argc - 1, argv + 1);
    snprintf(name, sizeof name, "%s", argv[1]);
    if (strcmp(argv[1], "trust") == 0) {
        if (argc < 3 || argv[2][0] == '-')
            return cli_usage("fw trust", "missing command (add, lock, revoke, show)");
        snprintf(name, sizeof name, "trust %s", argv[2]);
        skip = 3;
    }
    const fw_cmd *c = NULL;
    for (size_t i = 0; i < N_ELEM(cmds); i++)
        if (strcmp(cmds[i].name, name) == 0)
            c = &cmds[i];
    if (!c)
        return cli_usage("fw", "unknown command '%s'", name);
    snprintf(g.cmd, sizeof g.cmd, "fw %s", c->name);
    g.opts = c->opts;
    ret = cli_parse(g.cmd, argc - skip, argv + skip, c->opts, NULL, 0, NULL, pos,
                    c->arg ? 1 : 0, &npos);
    if (ret == CLI_HELP) {
        cli_print_help_status(&c->help, NULL,
                              "    0  success\n"
                              "    1  the image is invalid or refused (the reason is printed)\n"
                              "    2  usage error\n"
                              "    3  the secure element refused\n"
                              "    4  communication failure\n"
                              "    5  local file error\n");
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (c->arg && npos == 0)
        return cli_usage(g.cmd, "missing %s", c->arg);
    g.json = cli_val(c->opts, "json") != NULL;
    ret = c->run(pos, npos);
    cli_se_disconnect(&g.se);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_err(CLI_FILE, "cannot write to stdout: %s", strerror(errno));
    return ret;
}
