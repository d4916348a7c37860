/*
 * vouch-device: the reference device program. What a device's boot ROM and
 * update agent do, on a flash simulated in a file (device/flash_file.c) and
 * the device's secure element (a vouch-se or a chip): secure boot with
 * swap / test / confirm / revert (include/vouch/fw_boot.h), install of a
 * signed image, confirm, status.
 *
 * One function per command (cmd_*), all on one `dev` context holding the
 * options, the flash, the SE connection and the boot context, so that a
 * command can run the others in-process (a later `run` installs, reboots by
 * running the boot logic again, and confirms).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <vouch/fw_boot.h>
#include <vouch/port.h>
#include <vouch/se.h>

#include "device/flash_file.h"
#include "device/update_run.h"
#include "fw/sign.h"

#ifndef VOUCH_VERSION
#define VOUCH_VERSION "dev"
#endif

/* exit status */
enum {
    EX_OK = 0,
    EX_REFUSED = 1, /* verification refused, not bootable, not allowed now */
    EX_USAGE = 2,
    EX_SE = 3,      /* the secure element refused */
    EX_COMM = 4,    /* communication with the SE failed */
    EX_FILE = 5     /* flash file or image file */
};

typedef struct dev {
    /* options */
    const char *se_uri, *host_keys, *flash_path, *vendor, *klass;
    vdev_run_opts run; /* run */
    flash_geom want;
    int json;
    /* runtime */
    flash_file ff;
    int ff_open;
    vouch_transport_any tstore;
    const vouch_transport *inner;
    void *inner_ctx;
    vouch_transport tr; /* counts SE state changes as operations */
    vouch_se se;
    int se_open;
    unsigned se_flags;
    uint8_t vid[16], cid[16];
    int has_vid, has_cid;
    vouch_fw_boot boot;
} dev;

static dev D;

/* ---- messages ------------------------------------------------------------ */
static int err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int err(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("vouch-device: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    fputs("vouch-device: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The exit status a failure means. */
static int rc_exit(vouch_rc rc)
{
    uint32_t c = VOUCH_RC_CODE(rc);
    switch (VOUCH_RC_LAYER(rc)) {
    case VOUCH_LAYER_FW:
        if (c == VOUCH_FW_BOOT_E_FLASH)
            return EX_FILE;
        if (c == VOUCH_FW_E_CHECK)
            return EX_COMM;
        if (c == VOUCH_FW_E_TRUST)
            return EX_SE;
        return EX_REFUSED;
    case VOUCH_LAYER_SE:
        return EX_SE;
    case VOUCH_LAYER_BUS:
    case VOUCH_LAYER_FRAME:
    case VOUCH_LAYER_CHANNEL:
        return EX_COMM;
    default:
        return EX_REFUSED;
    }
}

/* ---- JSON output (printing only; values are ours) -------------------------- */
static void js_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- SE ------------------------------------------------------------------------ */
static vouch_rc cut_send(void *ctx, const uint8_t *frame, size_t len)
{
    dev *d = ctx;
    uint8_t cmd = len ? (uint8_t)(frame[0] & VOUCH_SE_HDR_CMD_MASK) : 0xFF;
    /* a state change in the chip is a numbered operation: a power cut there
     * means the command never reached the chip */
    if (cmd == VOUCH_SE_CMD_DECREMENT || cmd == VOUCH_SE_CMD_UPDATE)
        flash_file_point(&d->ff);
    return d->inner->send(d->inner_ctx, frame, len);
}
static vouch_rc cut_recv(void *ctx, uint8_t *frame, size_t size, size_t *len, uint32_t ms)
{
    dev *d = ctx;
    return d->inner->recv(d->inner_ctx, frame, size, len, ms);
}
static vouch_rc cut_reread(void *ctx)
{
    dev *d = ctx;
    if (!d->inner->reread)
        return VOUCH_RC(VOUCH_LAYER_API, VOUCH_E_UNSUPPORTED);
    return d->inner->reread(d->inner_ctx);
}
static void cut_close(void *ctx)
{
    dev *d = ctx;
    if (d->inner->close)
        d->inner->close(d->inner_ctx);
}

/* --host-keys FILE: 64 hex digits (whitespace around them) or 32 raw bytes */
static int load_host_keys(const char *path, uint8_t hk[32])
{
    uint8_t buf[258];
    size_t n = 0, a, e, i;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err(EX_FILE, "cannot open host keys %s: %s", path, strerror(errno));
    for (;;) {
        ssize_t k = read(fd, buf + n, sizeof buf - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            close(fd);
            return err(EX_FILE, "cannot read host keys %s: %s", path, strerror(errno));
        }
        if (k == 0 || (n += (size_t)k) == sizeof buf)
            break;
    }
    close(fd);
    if (n == 32) {
        memcpy(hk, buf, 32);
        OPENSSL_cleanse(buf, sizeof buf);
        return 0;
    }
    a = 0, e = n;
    while (a < e && isspace(buf[a]))
        a++;
    while (e > a && isspace(buf[e - 1]))
        e--;
    if (n == sizeof buf || e - a != 64) {
        OPENSSL_cleanse(buf, sizeof buf);
        return err(EX_FILE, "%s does not hold host keys (64 hex digits)", path);
    }
    for (i = 0; i < 32; i++) {
        char h[3] = {(char)buf[a + 2 * i], (char)buf[a + 2 * i + 1], 0};
        char *end;
        if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1])) {
            OPENSSL_cleanse(buf, sizeof buf);
            return err(EX_FILE, "%s does not hold host keys (64 hex digits)", path);
        }
        hk[i] = (uint8_t)strtoul(h, &end, 16);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

static int se_connect(dev *d)
{
    vouch_se_config cfg;
    vouch_rc rc;
    if (d->se_open)
        return 0;
    if (!d->se_uri)
        return err(EX_USAGE, "--se URI is required (the device's secure element)\n"
                             "Try 'vouch-device --help'.");
    rc = vouch_transport_open_uri(d->se_uri, &d->tstore, &d->inner, &d->inner_ctx);
    if (rc != VOUCH_OK)
        return err(VOUCH_RC_LAYER(rc) == VOUCH_LAYER_API ? EX_USAGE : EX_COMM,
                   "cannot reach the secure element at %s: %s", d->se_uri, vouch_strerror(rc));
    d->tr.name = d->inner->name;
    d->tr.send = cut_send;
    d->tr.recv = cut_recv;
    d->tr.reread = cut_reread;
    d->tr.close = cut_close;
    memset(&cfg, 0, sizeof cfg);
    cfg.transport = &d->tr;
    cfg.transport_ctx = d;
    cfg.port = vouch_port_openssl();
    rc = vouch_se_init(&d->se, &cfg);
    if (rc != VOUCH_OK) {
        cut_close(d);
        return err(EX_COMM, "cannot use the secure element at %s: %s", d->se_uri,
                   vouch_strerror(rc));
    }
    d->se_open = 1;
    if (d->host_keys) {
        uint8_t hk[32];
        int r = load_host_keys(d->host_keys, hk);
        if (r)
            return r;
        rc = vouch_se_set_host_keys(&d->se, hk, hk + 16);
        OPENSSL_cleanse(hk, sizeof hk);
        if (rc != VOUCH_OK)
            return err(rc_exit(rc), "cannot use the host keys: %s", vouch_strerror(rc));
        d->se_flags = VOUCH_SECURE;
    }
    return 0;
}

/* ---- flash and the boot context --------------------------------------------------- */
static int flash_open(dev *d, int format)
{
    char e[512];
    int usage = 0;
    if (d->ff_open)
        return 0;
    if (!d->flash_path)
        return err(EX_USAGE, "--flash FILE is required\nTry 'vouch-device --help'.");
    if (flash_file_open(&d->ff, d->flash_path, &d->want, 1, format, e, sizeof e, &usage) != 0)
        return err(usage ? EX_USAGE : EX_FILE, "%s", e);
    d->ff_open = 1;
    if (flash_file_env(&d->ff, e, sizeof e) != 0)
        return err(EX_USAGE, "%s", e);
    return 0;
}

static int uuids(dev *d)
{
    if (d->klass && !d->vendor)
        return err(EX_USAGE, "--class needs --vendor (a class is named within its vendor)");
    if (d->vendor) {
        if (vouch_fw_uuid_arg(d->vendor, NULL, d->vid) != 0)
            return err(EX_USAGE, "--vendor '%s': not a name or UUID", d->vendor);
        d->has_vid = 1;
    }
    if (d->klass) {
        if (vouch_fw_uuid_arg(d->klass, d->vid, d->cid) != 0)
            return err(EX_USAGE, "--class '%s': not a name or UUID", d->klass);
        d->has_cid = 1;
    }
    return 0;
}

/* Flash, SE and the boot context, as every command but format needs them. */
static int boot_open(dev *d)
{
    vouch_fw_boot_config cfg;
    vouch_rc rc;
    int r;
    if ((r = uuids(d)) || (r = flash_open(d, 0)) || (r = se_connect(d)))
        return r;
    memset(&cfg, 0, sizeof cfg);
    cfg.flash = &d->ff.flash;
    cfg.layout = d->ff.layout;
    cfg.port = vouch_port_openssl();
    cfg.se = &d->se;
    cfg.se_flags = d->se_flags;
    cfg.vid = d->has_vid ? d->vid : NULL;
    cfg.cid = d->has_cid ? d->cid : NULL;
    rc = vouch_fw_boot_init(&d->boot, &cfg);
    if (rc != VOUCH_OK)
        return err(rc_exit(rc), "cannot read the boot state from %s: %s", d->flash_path,
                   vouch_fw_boot_strerror(rc));
    return 0;
}

/* ---- commands ---------------------------------------------------------------------- */
static const char *dir_name(int dir)
{
    return dir == VOUCH_FW_SWAP_UPGRADE ? "upgrade" : dir == VOUCH_FW_SWAP_REVERT ? "revert" : NULL;
}

static void image_line(const vouch_fw_result *r, char *out, size_t size)
{
    char v[32];
    vouch_fw_version_str(&r->img.version, v, sizeof v);
    if (r->key)
        snprintf(out, size, "%s (security counter %u, key %u)", v,
                 r->img.has_sec_cnt ? r->img.sec_cnt : 0u, r->key->index);
    else
        snprintf(out, size, "%s (security counter %u)", v,
                 r->img.has_sec_cnt ? r->img.sec_cnt : 0u);
}

static int cmd_format(dev *d, int argc, char **argv)
{
    int r;
    (void)argv;
    if (argc)
        return err(EX_USAGE, "format takes no argument\nTry 'vouch-device format --help'.");
    if ((r = flash_open(d, 1)))
        return r;
    if (d->json)
        printf("{\"flash\":"), js_str(d->flash_path),
            printf(",\"bytes\":%u,\"sector_size\":%u,\"align\":%u,\"slot_size\":%u}\n",
                   d->ff.size, d->ff.g.sector_size, d->ff.g.align, d->ff.g.slot_size);
    else
        printf("formatted %s: %u bytes (two %u-byte slots, %u-byte sectors, %u-byte write "
               "unit), all erased\n",
               d->flash_path, d->ff.size, d->ff.g.slot_size, d->ff.g.sector_size,
               d->ff.g.align);
    return EX_OK;
}

static int cmd_boot(dev *d, int argc, char **argv)
{
    vouch_fw_boot_info info;
    vouch_rc rc;
    char line[96], v[32];
    int r;
    (void)argv;
    if (argc)
        return err(EX_USAGE, "boot takes no argument\nTry 'vouch-device boot --help'.");
    if ((r = boot_open(d)))
        return r;
    rc = vouch_fw_boot_run(&d->boot, &info);
    if (info.resumed)
        note("finished the %s swap a power cut had interrupted", dir_name(info.resumed));
    if (info.rejected)
        note("the pending image was refused: %s; it will not be installed",
             vouch_fw_boot_strerror(info.rejected));
    if (info.swapped == VOUCH_FW_SWAP_REVERT && info.why)
        note("the test image does not verify (%s): reverted to the previous image",
             vouch_fw_boot_strerror(info.why));
    else if (info.swapped == VOUCH_FW_SWAP_REVERT)
        note("the test image was not confirmed: reverted to the previous image");
    if (rc != VOUCH_OK) {
        if (d->json) {
            printf("{\"booted\":false,\"error\":");
            js_str(vouch_fw_boot_strerror(rc));
            if (info.why) {
                printf(",\"reason\":");
                js_str(vouch_fw_boot_strerror(info.why));
            }
            printf(",\"state\":");
            js_str(vouch_fw_state_name(&d->boot.st));
            printf("}\n");
        }
        if (VOUCH_RC_CODE(rc) == VOUCH_FW_BOOT_E_NO_IMAGE && info.why)
            return err(rc_exit(rc), "not booting: %s (primary slot: %s)",
                       vouch_fw_boot_strerror(rc), vouch_fw_boot_strerror(info.why));
        return err(rc_exit(rc), "not booting: %s", vouch_fw_boot_strerror(rc));
    }
    if (info.floor != info.floor_before)
        note("anti-rollback floor raised from %u to %u", info.floor_before, info.floor);
    if (info.raise_rc)
        note("warning: the anti-rollback floor stays %u, the secure element did not raise it "
             "to %u: %s%s; the next boot tries again",
             info.floor, info.res.img.sec_cnt, vouch_strerror(info.raise_rc),
             d->host_keys ? "" : " (--host-keys needed?)");
    if (d->json) {
        char h[65];
        vouch_fw_version_str(&info.res.img.version, v, sizeof v);
        hex(info.res.hash, 32, h);
        printf("{\"booted\":true,\"slot\":\"primary\",\"version\":");
        js_str(v);
        printf(",\"security_counter\":%u,\"key_index\":%u,\"test\":%s,\"hash\":\"%s\"",
               info.res.img.has_sec_cnt ? info.res.img.sec_cnt : 0u,
               info.res.key ? info.res.key->index : 0u, info.test ? "true" : "false", h);
        printf(",\"swapped\":");
        if (dir_name(info.swapped))
            js_str(dir_name(info.swapped));
        else
            printf("null");
        printf(",\"resumed\":%s,\"rejected\":", info.resumed ? "true" : "false");
        if (info.rejected)
            js_str(vouch_fw_boot_strerror(info.rejected));
        else
            printf("null");
        printf(",\"floor_before\":%u,\"floor\":%u,\"floor_error\":", info.floor_before,
               info.floor);
        if (info.raise_rc)
            js_str(vouch_strerror(info.raise_rc));
        else
            printf("null");
        printf(",\"state\":");
        js_str(vouch_fw_state_name(&d->boot.st));
        printf("}\n");
    } else {
        image_line(&info.res, line, sizeof line);
        printf("booting %s from primary%s\n", line, info.test ? " [test]" : "");
    }
    return EX_OK;
}


/* The whole of a regular file, at most `max` bytes (*too_big past that). */
static int read_image(const char *path, uint32_t max, uint8_t **out, size_t *len, int *too_big)
{
    struct stat sb;
    uint8_t *p;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *too_big = 0;
    if (fd < 0)
        return err(EX_FILE, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err(EX_FILE, "%s is not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        *too_big = 1;
        *len = (size_t)sb.st_size;
        return 0;
    }
    p = malloc(sb.st_size ? (size_t)sb.st_size : 1);
    if (!p) {
        close(fd);
        return err(EX_FILE, "out of memory");
    }
    while (n < (size_t)sb.st_size) {
        ssize_t k = read(fd, p + n, (size_t)sb.st_size - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(p);
            close(fd);
            return err(EX_FILE, "cannot read %s: %s", path, k ? strerror(errno) : "short file");
        }
        n += (size_t)k;
    }
    close(fd);
    *out = p;
    *len = n;
    return 0;
}

static int cmd_install(dev *d, int argc, char **argv)
{
    vouch_fw_result res;
    vouch_rc rc;
    uint8_t *img = NULL;
    size_t len = 0;
    int r, too_big;
    char line[96];
    vouch_fw_mem m;
    if (argc != 1)
        return err(EX_USAGE, "install wants one IMAGE\nTry 'vouch-device install --help'.");
    if ((r = boot_open(d)))
        return r;
    if ((r = read_image(argv[0], d->ff.g.slot_size, &img, &len, &too_big)))
        return r;
    if (too_big)
        return err(EX_REFUSED, "install refused: %s is %zu bytes, a slot holds %u", argv[0], len,
                   d->ff.g.slot_size);
    m.p = img;
    m.len = len;
    rc = vouch_fw_install(&d->boot, vouch_fw_mem_read, &m, (uint32_t)len, &res);
    free(img);
    if (rc != VOUCH_OK) {
        if (d->json) {
            printf("{\"installed\":false,\"error\":");
            js_str(vouch_fw_boot_strerror(rc));
            printf("}\n");
        }
        return err(rc_exit(rc), "install refused: %s: %s", argv[0], vouch_fw_boot_strerror(rc));
    }
    image_line(&res, line, sizeof line);
    if (d->json) {
        char v[32], h[65];
        vouch_fw_version_str(&res.img.version, v, sizeof v);
        hex(res.hash, 32, h);
        printf("{\"installed\":true,\"slot\":\"secondary\",\"version\":");
        js_str(v);
        printf(",\"security_counter\":%u,\"key_index\":%u,\"size\":%zu,\"hash\":\"%s\"}\n",
               res.img.has_sec_cnt ? res.img.sec_cnt : 0u, res.key ? res.key->index : 0u, len,
               h);
    } else {
        printf("installed %s into the secondary slot: it is tested at the next boot\n", line);
    }
    return EX_OK;
}

static int cmd_confirm(dev *d, int argc, char **argv)
{
    uint32_t cnt = 0, before;
    vouch_rc rc;
    int r, was_testing;
    (void)argv;
    if (argc)
        return err(EX_USAGE, "confirm takes no argument\nTry 'vouch-device confirm --help'.");
    if ((r = boot_open(d)))
        return r;
    was_testing = (d->boot.st.flags & VOUCH_FW_ST_TESTING) != 0;
    if ((rc = vouch_fw_rollback_get(&d->se, &before)) != VOUCH_OK)
        return err(rc_exit(rc), "cannot read the anti-rollback counter: %s", vouch_strerror(rc));
    rc = vouch_fw_boot_confirm(&d->boot, &cnt);
    if (rc != VOUCH_OK) {
        /* CONFIRMED may be in flash already, the counter step having failed */
        int half = was_testing && (d->boot.st.flags & VOUCH_FW_ST_CONFIRMED);
        if (d->json) {
            printf("{\"confirmed\":%s,\"error\":", half ? "true" : "false");
            js_str(vouch_fw_boot_strerror(rc));
            printf("}\n");
        }
        if (half)
            return err(rc_exit(rc),
                       "the image is confirmed in flash, but the secure element did not raise "
                       "the anti-rollback counter: %s%s; the next boot raises it",
                       vouch_fw_boot_strerror(rc), d->host_keys ? "" : " (--host-keys needed?)");
        return err(rc_exit(rc), "confirm refused: %s", vouch_fw_boot_strerror(rc));
    }
    if (d->json) {
        printf("{\"confirmed\":true,\"changed\":%s,\"security_counter\":%u,\"floor_before\":%u,"
               "\"floor\":%u}\n",
               was_testing ? "true" : "false", cnt, before,
               was_testing ? d->boot.floor : before);
    } else if (was_testing) {
        printf("confirmed: the test image stays (security counter %u, anti-rollback floor "
               "%u -> %u)\n",
               cnt, before, d->boot.floor);
    } else {
        printf("already confirmed: nothing to do\n");
    }
    return EX_OK;
}

static void status_slot_text(const char *name, const vouch_fw_slot_status *s)
{
    char line[96];
    if (!s->present) {
        printf("%-10s empty\n", name);
        return;
    }
    if (s->verdict == VOUCH_OK || s->res.img.total) {
        image_line(&s->res, line, sizeof line);
        printf("%-10s %s %s%s\n", name, line, s->verdict == VOUCH_OK ? "verified" : "refused: ",
               s->verdict == VOUCH_OK ? "" : vouch_fw_boot_strerror(s->verdict));
    } else {
        printf("%-10s refused: %s\n", name, vouch_fw_boot_strerror(s->verdict));
    }
}

static void status_slot_json(const char *name, const vouch_fw_slot_status *s)
{
    char v[32], h[65];
    printf("\"%s\":{\"present\":%s", name, s->present ? "true" : "false");
    if (s->present && s->res.img.total) {
        vouch_fw_version_str(&s->res.img.version, v, sizeof v);
        printf(",\"version\":");
        js_str(v);
        printf(",\"security_counter\":%u,\"size\":%u",
               s->res.img.has_sec_cnt ? s->res.img.sec_cnt : 0u, s->res.img.total);
        if (s->res.key)
            printf(",\"key_index\":%u", s->res.key->index);
        hex(s->res.hash, 32, h);
        if (s->verdict == VOUCH_OK)
            printf(",\"hash\":\"%s\"", h);
    }
    printf(",\"verified\":%s,\"reason\":", s->present && s->verdict == VOUCH_OK ? "true" : "false");
    if (s->present && s->verdict != VOUCH_OK)
        js_str(vouch_fw_boot_strerror(s->verdict));
    else
        printf("null");
    printf("}");
}

static const char *last_name(uint8_t last)
{
    static const char *const n[] = {"none",      "installed", "rejected", "upgraded",
                                    "confirmed", "reverted",  "installing"};
    return last < sizeof n / sizeof n[0] ? n[last] : "unknown";
}

static int cmd_status(dev *d, int argc, char **argv)
{
    vouch_fw_status s;
    vouch_rc rc;
    size_t i;
    int r;
    (void)argv;
    if (argc)
        return err(EX_USAGE, "status takes no argument\nTry 'vouch-device status --help'.");
    if ((r = boot_open(d)))
        return r;
    rc = vouch_fw_boot_status(&d->boot, &s);
    if (rc != VOUCH_OK)
        return err(rc_exit(rc), "cannot read the firmware trust from the secure element: %s",
                   vouch_fw_boot_strerror(rc));
    if (d->json) {
        printf("{\"state\":");
        js_str(vouch_fw_state_name(&s.st));
        printf(",\"pending\":%s,\"testing\":%s,\"booted_once\":%s,\"confirmed\":%s,\"last\":",
               s.st.flags & VOUCH_FW_ST_PENDING ? "true" : "false",
               s.st.flags & VOUCH_FW_ST_TESTING ? "true" : "false",
               s.st.flags & VOUCH_FW_ST_BOOTED ? "true" : "false",
               s.st.flags & VOUCH_FW_ST_CONFIRMED ? "true" : "false");
        js_str(last_name(s.st.last));
        printf(",\"last_reason\":");
        if (s.st.last == VOUCH_FW_EV_REJECTED)
            js_str(vouch_fw_boot_strerror(s.st.reason));
        else
            printf("null");
        printf(",\"swap\":");
        if (s.st.swap_active)
            printf("{\"direction\":\"%s\",\"sectors\":%u,\"sector\":%u,\"step\":%u}",
                   dir_name(s.st.swap_dir) ? dir_name(s.st.swap_dir) : "unknown",
                   s.st.swap_sectors, s.st.swap_sector, s.st.swap_step);
        else
            printf("null");
        printf(",");
        status_slot_json("primary", &s.primary);
        printf(",");
        status_slot_json("secondary", &s.secondary);
        printf(",\"security_counter_floor\":%u,\"revoked_below\":%u,\"keys\":[", s.floor,
               s.revoked_below);
        for (i = 0; i < d->boot.nkeys; i++)
            printf("%s{\"index\":%u,\"alg\":\"%s\",\"revoked\":%s}", i ? "," : "",
                   d->boot.keys[i].index, vouch_se_alg_name(d->boot.keys[i].alg),
                   d->boot.keys[i].revoked ? "true" : "false");
        printf("],\"download\":");
        if (s.st.dl_active)
            printf("{\"size\":%u,\"tag\":%u,\"offset\":%u}", s.st.dl_size, s.st.dl_tag,
                   s.st.dl_off);
        else
            printf("null");
        printf(",\"log\":{\"generation\":%u,\"records\":%u,\"capacity\":%u}}\n", s.gen,
               s.records_used, s.records_max);
        return EX_OK;
    }
    printf("%-10s %s", "state:", vouch_fw_state_name(&s.st));
    if (s.st.swap_active)
        printf(" (%s, %u sectors, sector %u step %u done)",
               dir_name(s.st.swap_dir) ? dir_name(s.st.swap_dir) : "?", s.st.swap_sectors,
               s.st.swap_sector, s.st.swap_step);
    printf("\n");
    if (s.st.last == VOUCH_FW_EV_REJECTED)
        printf("%-10s rejected: %s\n", "last:", vouch_fw_boot_strerror(s.st.reason));
    else
        printf("%-10s %s\n", "last:", last_name(s.st.last));
    status_slot_text("primary:", &s.primary);
    status_slot_text("secondary:", &s.secondary);
    printf("%-10s %u (anti-rollback: no image with a lower security counter boots)\n",
           "floor:", s.floor);
    if (s.revoked_below)
        printf("%-10s key entries 0 to %u (for ever)\n", "revoked:", s.revoked_below - 1);
    printf("%-10s", "keys:");
    if (!d->boot.nkeys)
        printf(" none (vouch fw trust add)");
    for (i = 0; i < d->boot.nkeys; i++)
        printf("%s %u %s%s", i ? "," : "", d->boot.keys[i].index,
               vouch_se_alg_name(d->boot.keys[i].alg), d->boot.keys[i].revoked ? " revoked" : "");
    printf("\n");
    if (s.st.dl_active)
        printf("%-10s %u of %u bytes (tag %08x)\n", "download:", s.st.dl_off, s.st.dl_size,
               s.st.dl_tag);
    printf("%-10s generation %u, %u of %u records\n", "log:", s.gen, s.records_used,
           s.records_max);
    return EX_OK;
}

static int cmd_run(dev *d, int argc, char **argv)
{
    static char state[4096], work[4096];
    const char *slash;
    int r;
    (void)argv;
    if (argc)
        return err(EX_USAGE, "run takes no argument\nTry 'vouch-device run --help'.");
    if (!d->run.server_url || !*d->run.server_url)
        return err(EX_USAGE, "run needs --server URL (vouchd)\nTry 'vouch-device run --help'.");
    if ((r = boot_open(d)))
        return r;
    snprintf(state, sizeof state, "%s.update", d->flash_path);
    slash = strrchr(d->flash_path, '/');
    if (slash)
        snprintf(work, sizeof work, "%.*s", (int)(slash - d->flash_path), d->flash_path);
    else
        snprintf(work, sizeof work, ".");
    if (!work[0])
        snprintf(work, sizeof work, "/");
    d->run.state_path = state;
    d->run.work_dir = work;
    if (!d->run.interval_s)
        d->run.interval_s = 60;
    return vdev_run(&d->boot, &d->se, d->se_flags, &d->run);
}

/* ---- help ---------------------------------------------------------------------------------- */
typedef struct command {
    const char *name;
    int (*run)(dev *d, int argc, char **argv);
    const char *synopsis, *summary, *text;
} command;

static const char exit_text[] =
    "EXIT STATUS\n"
    "    0    success (boot: the image printed is verified and may be started)\n"
    "    1    refused: an image does not verify, no bootable image, or the\n"
    "         operation is not allowed in this state (the reason is printed)\n"
    "    2    usage error\n"
    "    3    the secure element refused (access condition, lifecycle)\n"
    "    4    communication with the secure element failed\n"
    "    5    flash file or image file error\n"
    "    137  simulated power cut (VOUCH_FLASH_CUT_AT)\n";

static const command commands[] = {
    {"boot", cmd_boot, "vouch-device [options] boot [--json]",
     "run the boot sequence and say which image starts",
     "    What the boot ROM does at every power-on: finish a swap a power cut\n"
     "    interrupted; if an image is pending, verify it in full (hash, signature\n"
     "    checked by the secure element, key not revoked, security counter not\n"
     "    below the SE's anti-rollback floor, vendor and class when given) and\n"
     "    swap it in as the test image, or refuse it; revert a test image that\n"
     "    was started once and never confirmed; verify the primary image and\n"
     "    print it:\n"
     "        booting 1.2.0 (security counter 2, key 0) from primary [test]\n"
     "    [test] marks an image on trial: unless 'confirm' runs before the next\n"
     "    boot, that boot reverts to the previous image. A primary image that\n"
     "    is not on trial and whose counter is above the floor raises it.\n"
     "    Nothing unverified is ever reported as bootable (exit 1).\n"
     "    --json prints {booted, version, security_counter, key_index, test,\n"
     "    swapped, resumed, rejected, floor_before, floor, state, hash}.\n"},
    {"install", cmd_install, "vouch-device [options] install IMAGE [--json]",
     "write a signed image into the secondary slot",
     "    Writes IMAGE (vouch fw sign makes one) into the secondary slot,\n"
     "    verifies it there in full against the secure element's firmware\n"
     "    trust, and marks it pending: the next boot swaps it in for a test.\n"
     "    Refused: an image that does not verify (nothing is marked pending;\n"
     "    the device keeps booting its current image), an image larger than a\n"
     "    slot, and any install while a test image awaits 'confirm' (the\n"
     "    secondary holds the way back to the previous image).\n"},
    {"confirm", cmd_confirm, "vouch-device [options] confirm [--json]",
     "keep the test image that is running",
     "    Marks the test image as good: it stays after the next boot. The mark\n"
     "    goes to flash first, then the secure element's anti-rollback counter\n"
     "    is raised to the image's security counter, so older images never\n"
     "    boot again. Already confirmed: nothing to do (exit 0). Refused when\n"
     "    no test image runs.\n"},
    {"status", cmd_status, "vouch-device [options] status [--json]",
     "show both slots, the boot state and the firmware trust",
     "    Prints the state (idle, pending, downloading, swapping, testing,\n"
     "    booted_once, confirmed, reverted, rejected), the image in each slot\n"
     "    with its version, security counter and whether it verifies (and why\n"
     "    not), the anti-rollback floor, the firmware keys (index, algorithm,\n"
     "    revoked), a download in progress and the status log's use.\n"
     "    Nothing is written.\n"},
    {"run", cmd_run,
     "vouch-device [options] run --server URL [--cacert PEM] [--account NAME]\n"
     "                 [--interval S] [--once] [--max-updates N]",
     "the device's main loop: boot, self-test, update over the air",
     "    Powers on (the boot sequence), and when a test image starts runs its\n"
     "    self-test: an application that is a script is run with 'self-test'\n"
     "    (exit 0 means healthy); then confirms it, or reboots so that it is\n"
     "    reverted. Then, in a loop: authenticates to vouchd with the key in\n"
     "    the secure element (certificate chain from zone 0), asks for an\n"
     "    update, downloads it into the secondary slot with HTTP range\n"
     "    requests (a power cut resumes where the flash log says), verifies it\n"
     "    in full before anything touches the primary slot, stages it and\n"
     "    reboots. Progress goes to the campaign: downloading, installed,\n"
     "    testing, confirmed, failed, reverted or rejected. FILE.update keeps\n"
     "    the campaign of the update under way across reboots.\n"
     "    --server URL       vouchd (its origin is what the device signs)\n"
     "    --cacert PEM       trust anchors for https\n"
     "    --account NAME     the account the device must belong to\n"
     "    --interval S       seconds between update checks (default 60)\n"
     "    --once             stop when no update is offered\n"
     "    --max-updates N    stop after N updates\n"},
    {"format", cmd_format,
     "vouch-device --flash FILE [--slot-size N --sector-size N --align N] format",
     "create (or re-create) the flash file, erased",
     "    Creates FILE as an erased flash: primary slot, secondary slot, a\n"
     "    scratch sector and two status sectors; the geometry is stored in\n"
     "    the file. Any other command creates a missing file the same way.\n"
     "    An existing file is erased. No secure element is needed.\n"},
};

static void usage_main(void)
{
    size_t i;
    printf("NAME\n"
           "    vouch-device - reference device: secure boot, install, confirm\n\n"
           "SYNOPSIS\n"
           "    vouch-device --se URI --flash FILE [options] <command> [args]\n\n"
           "DESCRIPTION\n"
           "    Runs a device's side of firmware update on a flash simulated in a\n"
           "    file: images in MCUboot's format (vouch fw sign), checked against the\n"
           "    firmware keys, key revocation and anti-rollback counter held in the\n"
           "    device's secure element (vouch fw trust). A new image is tested once\n"
           "    and kept only when confirmed; otherwise the next boot reverts. Power\n"
           "    may fail at any point: the next boot finishes or undoes what was\n"
           "    under way and starts a verified image.\n\n"
           "COMMANDS\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("    %-9s %s\n", commands[i].name, commands[i].summary);
    printf("    'vouch-device <command> --help' describes one command.\n\n"
           "OPTIONS\n"
           "    --se URI           the secure element: unix:/path (vouch-se) or\n"
           "                       i2c:/dev/i2c-N@0xADDR\n"
           "    --host-keys FILE   the SE's host keys (64 hex digits, as vouch provision\n"
           "                       writes <serial>.hostkeys): counter steps then go over\n"
           "                       the secure channel, as they must once zones 5 and 6\n"
           "                       are locked to HOST\n"
           "    --flash FILE       the flash file (created on first use)\n"
           "    --slot-size N      bytes per slot (default 262144; K and M suffixes)\n"
           "    --sector-size N    erase sector (default 4096)\n"
           "    --align N          write unit (default 8)\n"
           "                       (the geometry is fixed when the file is created)\n"
           "    --vendor NAME|UUID refuse images for another vendor (a name becomes a\n"
           "                       UUIDv5 in the DNS namespace, as imgtool does)\n"
           "    --class NAME|UUID  refuse images for another device class (a name\n"
           "                       becomes a UUIDv5 in the vendor's namespace)\n"
           "    --json             machine-readable output\n"
           "    -h, --help         this text; --version the version\n\n"
           "ENVIRONMENT\n"
           "    VOUCH_FLASH_CUT_AT=N     make flash operation N a power cut: it is\n"
           "                             applied in part, then the program ends with\n"
           "                             status 137 (every write and erase, and every\n"
           "                             state change sent to the SE, counts as one)\n"
           "    VOUCH_FLASH_OPS_OUT=FILE write the number of operations done into FILE\n"
           "                             ('-': stderr), to count a scenario's cut points\n"
           "    VOUCH_FLASH_DELAY_MS=N   sleep N ms in every flash operation\n\n"
           "%s\n"
           "EXAMPLES\n"
           "    vouch fw trust add --se unix:se.sock --pubkey release.pub\n"
           "    vouch-device --se unix:se.sock --flash dev.flash install app-1.1.img\n"
           "    vouch-device --se unix:se.sock --flash dev.flash boot\n"
           "    vouch-device --se unix:se.sock --flash dev.flash confirm\n",
           exit_text);
}

static void usage_cmd(const command *c)
{
    printf("NAME\n    vouch-device %s - %s\n\n"
           "SYNOPSIS\n    %s\n\n"
           "DESCRIPTION\n%s\n"
           "OPTIONS\n"
           "    The options of vouch-device (vouch-device --help): --se, --host-keys,\n"
           "    --flash, the geometry, --vendor, --class, --json.\n\n"
           "%s",
           c->name, c->summary, c->synopsis, c->text, exit_text);
}

/* 123, 0x1000, 64K, 1M */
static int parse_size(const char *opt, const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    if (!s || !*s || *s == '-')
        goto bad;
    v = strtoull(s, &end, 0);
    if (errno)
        goto bad;
    if (*end == 'K' || *end == 'k')
        v *= 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1024 * 1024, end++;
    if (*end || v == 0 || v > 0xFFFFFFFFull)
        goto bad;
    *out = (uint32_t)v;
    return 0;
bad:
    return err(EX_USAGE, "%s '%s': want a size in bytes (K and M suffixes allowed)", opt,
               s ? s : "");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"se", required_argument, NULL, 's'},
        {"host-keys", required_argument, NULL, 'k'},
        {"flash", required_argument, NULL, 'f'},
        {"slot-size", required_argument, NULL, 'S'},
        {"sector-size", required_argument, NULL, 'E'},
        {"align", required_argument, NULL, 'A'},
        {"vendor", required_argument, NULL, 'v'},
        {"class", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"server", required_argument, NULL, 'U'},
        {"cacert", required_argument, NULL, 'C'},
        {"account", required_argument, NULL, 'a'},
        {"interval", required_argument, NULL, 'I'},
        {"once", no_argument, NULL, 'o'},
        {"max-updates", required_argument, NULL, 'M'},
        {"rate-delay-ms", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    dev *d = &D;
    const command *c = NULL;
    int opt, help = 0, ret;
    size_t i;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (opt) {
        case 's': d->se_uri = optarg; break;
        case 'k': d->host_keys = optarg; break;
        case 'f': d->flash_path = optarg; break;
        case 'S':
            if (parse_size("--slot-size", optarg, &d->want.slot_size))
                return EX_USAGE;
            break;
        case 'E':
            if (parse_size("--sector-size", optarg, &d->want.sector_size))
                return EX_USAGE;
            break;
        case 'A':
            if (parse_size("--align", optarg, &d->want.align))
                return EX_USAGE;
            break;
        case 'v': d->vendor = optarg; break;
        case 'c': d->klass = optarg; break;
        case 'j': d->json = 1; break;
        case 'U': d->run.server_url = optarg; break;
        case 'C': d->run.cacert = optarg; break;
        case 'a': d->run.account = optarg; break;
        case 'o': d->run.once = 1; break;
        case 'I':
        case 'M':
        case 'R': {
            uint32_t v = 0;
            if (parse_size(opt == 'I' ? "--interval" : opt == 'M' ? "--max-updates"
                                                                   : "--rate-delay-ms",
                           optarg, &v))
                return EX_USAGE;
            if (opt == 'I')
                d->run.interval_s = v;
            else if (opt == 'M')
                d->run.max_updates = v;
            else
                d->run.rate_delay_ms = v;
            break;
        }
        case 'h': help = 1; break;
        case 'V': printf("vouch-device %s\n", VOUCH_VERSION); return EX_OK;
        case ':':
            return err(EX_USAGE, "option %s needs a value\nTry 'vouch-device --help'.",
                       argv[optind - 1]);
        default:
            return err(EX_USAGE, "unknown option '%s'\nTry 'vouch-device --help'.",
                       argv[optind - 1]);
        }
    }
    if (optind < argc) {
        for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (strcmp(argv[optind], commands[i].name) == 0)
                c = &commands[i];
        if (!c && !help)
            return err(EX_USAGE, "unknown command '%s' (boot, install, confirm, status, "
                                 "run, format)\nTry 'vouch-device --help'.",
                       argv[optind]);
    }
    if (help) {
        if (c)
            usage_cmd(c);
        else
            usage_main();
        return EX_OK;
    }
    if (!c)
        return err(EX_USAGE, "missing command (boot, install, confirm, status, run, format)\n"
                             "Try 'vouch-device --help'.");
    ret = c->run(d, argc - optind - 1, argv + optind + 1);
    if (d->se_open)
        vouch_se_close(&d->se);
    if (d->ff_open)
        flash_file_close(&d->ff);
    if (fflush(stdout) != 0 || ferror(stdout))
        return err(EX_FILE, "cannot write to stdout: %s", strerror(errno));
    return ret;
}
