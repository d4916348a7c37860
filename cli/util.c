/* Messages, option parsing, numbers, files, hex and JSON for the CLI. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- messages ------------------------------------------------------------ */
int cli_err(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("vouch: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vouch: %s%s", cmd, *cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vouch %s%s--help'.\n", cmd, *cmd ? " " : "");
    return CLI_USAGE;
}

void cli_print_help(const cli_help *h, const char *extra)
{
    printf("NAME\n    vouch %s - %s\n\nSYNOPSIS\n%s\n\n%s\n", h->cmd, h->summary, h->synopsis,
           h->body);
    if (extra)
        printf("%s\n", extra);
    printf("EXIT STATUS\n    0  success\n");
    if (h->invalid_exit)
        printf("    1  the signature is invalid\n");
    printf("    2  usage error: unknown command or option, missing or bad argument,\n"
           "       an input of a size the operation cannot take\n"
           "    3  the secure element refused the operation (its reason and a hint\n"
           "       are printed)\n"
           "    4  communication failure: cannot connect, bus, frame or secure\n"
           "       channel error\n"
           "    5  local file error: a file cannot be opened, read or written, is\n"
           "       over its size limit, or cannot be parsed (PEM, host keys)\n");
    if (h->example)
        printf("\nEXAMPLE\n%s", h->example);
}

void cli_print_help_status(const cli_help *h, const char *extra, const char *status)
{
    printf("NAME\n    vouch %s - %s\n\nSYNOPSIS\n%s\n\n%s\n", h->cmd, h->summary, h->synopsis,
           h->body);
    if (extra)
        printf("%s\n", extra);
    printf("EXIT STATUS\n%s", status);
    if (h->example)
        printf("\nEXAMPLE\n%s", h->example);
}

/* ---- options --------------------------------------------------------------- */
cli_opt *cli_find(cli_opt *t, const char *name)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

const char *cli_val(cli_opt *t, const char *name)
{
    cli_opt *o = cli_find(t, name);
    return o && o->seen ? o->val : NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_opt *a, cli_opt *b, int stop,
              int *used, char **pos, int maxpos, int *npos)
{
    int i = 0, only_pos = 0;
    if (npos)
        *npos = 0;
    for (; i < argc; i++) {
        char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            if (stop)
                break;
            if (*npos >= maxpos)
                return cli_usage(cmd, "unexpected argument '%s'", s);
            pos[(*npos)++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            if (stop) {
                i++;
                break;
            }
            only_pos = 1;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return CLI_HELP;
        if (s[1] != '-')
            return cli_usage(cmd, "unknown option '%s'", s);
        char name[64];
        const char *eq = strchr(s + 2, '='), *val = NULL;
        size_t nl = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
        if (nl >= sizeof name)
            return cli_usage(cmd, "unknown option '%s'", s);
        memcpy(name, s + 2, nl);
        name[nl] = '\0';
        cli_opt *o = cli_find(a, name);
        if (!o)
            o = cli_find(b, name);
        if (!o)
            return cli_usage(cmd, "unknown option '--%s'", name);
        if (!o->arg) {
            if (eq)
                return cli_usage(cmd, "option '--%s' takes no value", name);
            o->seen = 1;
            o->val = "";
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_usage(cmd, "option '--%s' needs a value (%s)", name, o->arg);
            val = argv[++i];
        }
        if (o->seen)
            return cli_usage(cmd, "option '--%s' given twice", name);
        o->seen = 1;
        o->val = val;
    }
    if (used)
        *used = i;
    return CLI_OK;
}

int cli_num(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max,
            uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (*p == '\0')
        goto bad;
    for (; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            goto bad;
        if (v > (UINT64_MAX - d) / base)
            goto range;
        v = v * base + d;
    }
    if (v < min || v > max)
        goto range;
    *out = v;
    return CLI_OK;
bad:
    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
        return cli_usage(cmd, "bad %s '%s': negative numbers are not allowed", what, s);
    return cli_usage(cmd, "bad %s '%s': expected a number (decimal or 0x hex)", what, s);
range:
    return cli_usage(cmd, "bad %s '%s': out of range (%llu..%llu)", what, s,
                     (unsigned long long)min, (unsigned long long)max);
}

/* ---- files ------------------------------------------------------------------ */
void cli_free_secret(void *buf, size_t len)
{
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}

static int open_in(const char *path, int *fd)
{
    *fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return cli_err(CLI_FILE, "cannot open %s: %s", path, strerror(errno));
    return CLI_OK;
}

static void close_in(int fd)
{
    if (fd != STDIN_FILENO)
        close(fd);
}

int cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    int fd, ret = open_in(path, &fd);
    if (ret)
        return ret;
    size_t cap = max + 2, n = 0; /* +1 to see "too large", +1 for the NUL */
    uint8_t *b = malloc(cap);
    if (!b) {
        close_in(fd);
        return cli_err(CLI_FILE, "out of memory reading %s", path);
    }
    while (n < max + 1) {
        ssize_t r = read(fd, b + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = cli_err(CLI_FILE, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        ret = cli_err(CLI_FILE, "%s is too large (at most %zu bytes)", path, max);
        goto fail;
    }
    close_in(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CLI_OK;
fail:
    close_in(fd);
    cli_free_secret(b, cap);
    return ret;
}

int cli_write_file(const char *path, const void *buf, size_t len, int secret)
{
    int to_stdout = strcmp(path, "-") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                              secret ? 0600 : 0644);
    if (fd < 0)
        return cli_err(CLI_FILE, "cannot create %s: %s", path, strerror(errno));
    if (secret && !to_stdout && fchmod(fd, 0600) != 0)
        goto fail;
    if (to_stdout)
        fflush(stdout);
    for (const uint8_t *p = buf; len > 0;) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (!to_stdout && close(fd) != 0)
        return cli_err(CLI_FILE, "cannot write %s: %s", path, strerror(errno));
    return CLI_OK;
fail:;
    int e = errno;
    if (!to_stdout)
        close(fd);
    return cli_err(CLI_FILE, "cannot write %s: %s", path, strerror(e));
}

int cli_load_message(const char *path, uint8_t digest[32], uint8_t *head, size_t keep,
                     size_t *total)
{
    uint8_t chunk[8192];
    size_t n = 0;
    int fd, ret = open_in(path, &fd);
    if (ret)
        return ret;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        ret = cli_err(CLI_FILE, "cannot hash %s: OpenSSL failed", path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = cli_err(CLI_FILE, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (n < keep)
            memcpy(head + n, chunk, (size_t)r < keep - n ? (size_t)r : keep - n);
        n += (size_t)r;
        if (!EVP_DigestUpdate(md, chunk, (size_t)r)) {
            ret = cli_err(CLI_FILE, "cannot hash %s: OpenSSL failed", path);
            goto out;
        }
    }
    if (!EVP_DigestFinal_ex(md, digest, NULL)) {
        ret = cli_err(CLI_FILE, "cannot hash %s: OpenSSL failed", path);
        goto out;
    }
    *total = n;
out:
    EVP_MD_CTX_free(md);
    close_in(fd);
    OPENSSL_cleanse(chunk, sizeof chunk);
    return ret;
}

/* ---- hex --------------------------------------------------------------------- */
void cli_hex(FILE *f, const uint8_t *b, size_t n, size_t per_line)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%02x", b[i]);
        if (per_line && (i + 1) % per_line == 0 && i + 1 < n)
            fputc('\n', f);
    }
    fputc('\n', f);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cli_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- JSON ---------------------------------------------------------------------- */
static int cj_depth, cj_count[16];


/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= need)
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Bytes that are not UTF-8 (chip-supplied names, echo text) are shown one by
 * one as \u00XX so the output stays valid JSON. */
static void json_string(const char *s, size_t n)
{
    int raw_ok = utf8_ok((const unsigned char *)s, n);
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !raw_ok))
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void cj_key(const char *key)
{
    if (cj_depth > 0 && cj_count[cj_depth - 1]++ > 0)
        putchar(',');
    if (key) {
        json_string(key, strlen(key));
        putchar(':');
    }
}

void cj_strn(const char *key, const char *s, size_t n)
{
    cj_key(key);
    json_string(s, n);
}

void cj_str(const char *key, const char *s) { cj_strn(key, s, strlen(s)); }

void cj_open(const char *key)
{
    cj_key(key);
    putchar('{');
    cj_count[cj_depth++] = 0;
}

void cj_array(const char *key)
{
    cj_key(key);
    putchar('[');
    cj_count[cj_depth++] = 0;
}

static void cj_pop(char c)
{
    putchar(c);
    if (--cj_depth == 0)
        putchar('\n');
}

void cj_close(void) { cj_pop('}'); }
void cj_end(void) { cj_pop(']'); }

void cj_num(const char *key, uint64_t v)
{
    cj_key(key);
    printf("%llu", (unsigned long long)v);
}

void cj_bool(const char *key, int v)
{
    cj_key(key);
    fputs(v ? "true" : "false", stdout);
}

void cj_hex(const char *key, const uint8_t *b, size_t n)
{
    cj_key(key);
    putchar('"');
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    putchar('"');
}

/* ---- secure elements ------------------------------------------------------ */
/* Host keys: 32 raw bytes, or 64 hex digits with optional surrounding
 * whitespace. From the environment the value itself may be the hex. */
int cli_load_host_keys(const char *spec, int from_env, uint8_t keys[32])
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (from_env && cli_unhex(spec, strlen(spec), keys, 32) == 0)
        return CLI_OK;
    int ret = cli_read_file(spec, 256, &buf, &n);
    if (ret)
        return ret;
    if (n == 32) {
        memcpy(keys, buf, 32);
    } else {
        const char *s = (const char *)buf, *e = s + n;
        while (s < e && strchr(" \t\r\n", *s))
            s++;
        while (e > s && strchr(" \t\r\n", e[-1]))
            e--;
        if (cli_unhex(s, (size_t)(e - s), keys, 32) != 0)
            ret = cli_err(CLI_FILE, "%s: host keys must be 32 raw bytes or 64 hex digits "
                                    "(MAC key, then cipher key)", spec);
    }
    cli_free_secret(buf, n + 1);
    return ret;
}


int cli_se_connect(const char *cmd, const char *uri, const char *host_keys, cli_se_conn *c)
{
    const vouch_transport *t = NULL;
    void *tctx = NULL;
    uint8_t hk[32];
    int ret = CLI_OK;
    vouch_rc rc;
    memset(c, 0, sizeof *c);
    if (!uri || !*uri)
        return cli_usage(cmd, "no secure element given: use --se URI");
    if (host_keys && *host_keys && (ret = cli_load_host_keys(host_keys, 0, hk)) != CLI_OK)
        return ret;
    rc = vouch_transport_open_uri(uri, &c->ts, &t, &tctx);
    if (rc != VOUCH_OK && VOUCH_RC_LAYER(rc) == VOUCH_LAYER_API) {
        ret = cli_usage(cmd, "bad SE URI '%s': expected unix:/path/to/socket or "
                             "i2c:/dev/i2c-N@0xADDR", uri);
        goto out;
    }
    if (rc != VOUCH_OK) {
        ret = cli_err(CLI_COMM, "%s: cannot connect to %s: %s", cmd, uri, vouch_strerror(rc));
        goto out;
    }
    vouch_se_config cfg = {.transport = t, .transport_ctx = tctx};
    if ((rc = vouch_se_init(&c->se, &cfg)) != VOUCH_OK) {
        if (t->close)
            t->close(tctx);
        ret = cli_err(CLI_COMM, "%s: cannot start the SE client: %s", cmd, vouch_strerror(rc));
        goto out;
    }
    c->open = 1;
    if (host_keys && *host_keys) {
        if ((rc = vouch_se_set_host_keys(&c->se, hk, hk + 16)) != VOUCH_OK) {
            ret = cli_err(CLI_COMM, "%s: cannot use the host keys: %s", cmd, vouch_strerror(rc));
            goto out;
        }
        c->flags = VOUCH_SECURE;
    }
out:
    OPENSSL_cleanse(hk, sizeof hk);
    if (ret != CLI_OK)
        cli_se_disconnect(c);
    return ret;
}

void cli_se_disconnect(cli_se_conn *c)
{
    if (c->open)
        vouch_se_close(&c->se);
    c->open = 0;
}
