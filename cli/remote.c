/*
 * What the server-backed command groups share: options, the token, the HTTP
 * client, API errors and exit statuses, serials, names and output. See
 * remote.h; docs/cli.md describes the behaviour.
 */
#include "cli/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define CSR_MAX (64u << 10) /* the server's request body limit */
#define TIMEOUT_MAX 3600

struct remote_state R;

static cli_opt gopts[] = {{"server", "URL", NULL, 0},     {"token-file", "FILE", NULL, 0},
                          {"cacert", "FILE", NULL, 0},    {"timeout", "SECONDS", NULL, 0},
                          {"json", NULL, NULL, 0},        {NULL, NULL, NULL, 0}};

const char remote_group_opts[] =
    "GROUP OPTIONS\n"
    "    These may come before or after the command name.\n"
    "    --server URL         the vouchd base URL, http://HOST:PORT or\n"
    "                         https://HOST:PORT (a path prefix is kept);\n"
    "                         default $VOUCH_SERVER\n"
    "    --token-file FILE    file holding the API token (one line, as 'vouch ca\n"
    "                         init' wrote DIR/admin.token). Refused when group or\n"
    "                         others may access it and you own it, or when\n"
    "                         anyone may (as ssh refuses such private keys):\n"
    "                         chmod 600 FILE. Default: $VOUCH_TOKEN (the token\n"
    "                         itself), else $VOUCH_TOKEN_FILE (a file, as here).\n"
    "                         The token is never printed.\n"
    "    --cacert FILE        PEM file of the CA(s) that signed an https\n"
    "                         server's certificate (a private CA); only those\n"
    "                         are trusted. Default $VOUCH_CACERT, else the\n"
    "                         system's trust store. The server's name or IP\n"
    "                         address must match its certificate.\n"
    "    --timeout SECONDS    deadline of each request, 1..3600, default 30\n"
    "    --json               print the result as JSON (see each command)\n\n"
    "ENVIRONMENT\n"
    "    VOUCH_SERVER, VOUCH_TOKEN, VOUCH_TOKEN_FILE, VOUCH_CACERT: see above.\n";

const char remote_status_text[] =
    "    0  success\n"
    "    2  usage error: unknown command or option, missing or bad argument\n"
    "       (serial, reason, duration, name), no server or no token given\n"
    "    3  refused by the server (its message and HTTP status are printed):\n"
    "       bad token (401), no such certificate, issuer or template (404),\n"
    "       already revoked or not renewable (409), a template rule (422), a\n"
    "       request it cannot take (400, 413, 501)\n"
    "    4  communication failure: cannot connect, TLS handshake or server\n"
    "       certificate check failed, timeout, an answer that is not the\n"
    "       expected JSON, PEM or DER or is over the size limit, a redirect,\n"
    "       a server error (500, 503)\n"
    "    5  local file error: a CSR, token, CA or template file missing,\n"
    "       unreadable, unparsable, or (token) open to others; an output\n"
    "       file that cannot be written\n";

const char *ropt(const char *name) { return cli_val(R.opts, name); }

int rneed(const char *name, const char **v)
{
    *v = ropt(name);
    if (!*v || !**v)
        return cli_usage(R.cmd, "missing --%s", name);
    return CLI_OK;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ---- the token ------------------------------------------------------------------ */
/* One line of 1..256 printable ASCII characters, no spaces; a trailing
 * newline (and CR, blanks) is dropped in place. */
static int token_ok(char *t)
{
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    if (n < 1 || n > TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return 0;
    return 1;
}

static int token_from_file(const char *path, const char *from, char **tok)
{
    struct stat sb;
    char *buf = NULL;
    size_t n = 0;
    int ret;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cli_err(CLI_FILE, "%s: cannot open the token file %s (%s): %s", R.cmd, path, from,
                       strerror(errno));
    if (fstat(fd, &sb) != 0) {
        ret = cli_err(CLI_FILE, "%s: cannot stat the token file %s: %s", R.cmd, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        ret = cli_err(CLI_FILE, "%s: the token file %s is not a regular file", R.cmd, path);
        goto out;
    }
    /* ssh's rule for private keys: a file of ours must be ours alone; and
     * never one anybody may read or change. */
    if ((sb.st_mode & 0007) || (sb.st_uid == geteuid() && (sb.st_mode & 0077))) {
        ret = cli_err(CLI_FILE,
                      "%s: permissions %04o of the token file %s are too open: others "
                      "could read the token and act as you on the server; refusing it "
                      "(chmod 600 %s)",
                      R.cmd, (unsigned)(sb.st_mode & 07777), path, path);
        goto out;
    }
    if (!(buf = malloc(TOKEN_FILE_MAX + 1))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    while (n <= TOKEN_FILE_MAX) {
        ssize_t r = read(fd, buf + n, TOKEN_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = cli_err(CLI_FILE, "%s: cannot read the token file %s: %s", R.cmd, path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > TOKEN_FILE_MAX) {
        ret = cli_err(CLI_FILE, "%s: the token file %s is too large to hold a token", R.cmd, path);
        goto out;
    }
    buf[n] = '\0';
    if (strlen(buf) != n || !token_ok(buf)) {
        ret = cli_err(CLI_FILE,
                      "%s: the token file %s does not hold a token (one line of at most %d "
                      "printable characters, no spaces)",
                      R.cmd, path, TOKEN_MAX);
        goto out;
    }
    *tok = buf;
    buf = NULL;
    ret = CLI_OK;
out:
    close(fd);
    cli_free_secret(buf, TOKEN_FILE_MAX + 1);
    return ret;
}

/* The token from --token-file, $VOUCH_TOKEN or $VOUCH_TOKEN_FILE, in that
 * order. *len is the size to wipe. */
static int load_token(char **tok, size_t *len)
{
    return remote_load_token(cli_val(gopts, "token-file"), tok, len);
}

int remote_load_token(const char *f, char **tok, size_t *len)
{
    const char *t = env("VOUCH_TOKEN");
    int ret;
    *tok = NULL;
    *len = TOKEN_FILE_MAX + 1;
    if (f)
        return token_from_file(f, "--token-file", tok);
    if (t) {
        size_t n = strlen(t);
        char *c = malloc(n + 1);
        if (!c)
            return cli_err(CLI_FILE, "out of memory");
        memcpy(c, t, n + 1);
        *len = n + 1;
        if (!token_ok(c)) {
            cli_free_secret(c, n + 1);
            return cli_usage(R.cmd, "VOUCH_TOKEN does not hold a token (one line of at most "
                                    "%d printable characters, no spaces)", TOKEN_MAX);
        }
        *tok = c;
        return CLI_OK;
    }
    if ((f = env("VOUCH_TOKEN_FILE")) != NULL) {
        ret = token_from_file(f, "VOUCH_TOKEN_FILE", tok);
        return ret;
    }
    return cli_usage(R.cmd, "no API token: give --token-file FILE, or set VOUCH_TOKEN or "
                            "VOUCH_TOKEN_FILE");
}

/* ---- the client ------------------------------------------------------------------ */
int remote_open(void)
{
    const char *url = cli_val(gopts, "server"), *cacert = cli_val(gopts, "cacert"),
               *tv = cli_val(gopts, "timeout");
    int cacert_opt = cacert != NULL;
    uint64_t timeout = VOUCH_HTTP_TIMEOUT_DEFAULT;
    char *tok = NULL, err[512] = "";
    size_t toklen = 0;
    int ret;

    if (!url)
        url = env("VOUCH_SERVER");
    if (!url || !*url)
        return cli_usage(R.cmd, "no server: give --server URL (http[s]://HOST:PORT) or set "
                                "VOUCH_SERVER");
    if (!cacert)
        cacert = env("VOUCH_CACERT");
    if (tv && (ret = cli_num(R.cmd, "--timeout value", tv, 1, TIMEOUT_MAX, &timeout)) != CLI_OK)
        return ret;
    int https = strncasecmp(url, "https://", 8) == 0;
    if (cacert_opt && !https)
        return cli_usage(R.cmd, "--cacert is for an https:// server, and the server is %s",
                         url);
    if (!https)
        cacert = NULL;
    if (cacert && access(cacert, R_OK) != 0)
        return cli_err(CLI_FILE, "%s: cannot read the CA file %s: %s", R.cmd, cacert,
                       strerror(errno));
    if (!(R.c->flags & REMOTE_NO_TOKEN) && (ret = load_token(&tok, &toklen)) != CLI_OK)
        return ret;
    vouch_http_config cfg = {.url = url, .token = tok, .cacert = cacert,
                             .timeout_s = (unsigned)timeout};
    vouch_http_rc rc = vouch_http_new(&cfg, &R.http, err, sizeof err);
    R.url = url;
    R.cacert = cacert;
    R.timeout = (unsigned)timeout;
    int have_token = tok != NULL;
    cli_free_secret(tok, toklen);
    if (rc == VOUCH_HTTP_E_URL)
        return cli_usage(R.cmd, "bad server URL: %s", err);
    if (rc != VOUCH_HTTP_OK)
        return cli_err(CLI_FILE, "%s: %s", R.cmd, err);
    if (have_token && !vouch_http_is_https(R.http) && !vouch_http_is_loopback(R.http))
        fprintf(stderr, "vouch: warning: the API token goes in clear text to %s; use "
                        "https\n", vouch_http_origin(R.http));
    return CLI_OK;
}

/* ---- errors ----------------------------------------------------------------------- */
void print_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

int bad_answer(const char *what, const char *why)
{
    fprintf(stderr, "vouch: %s: unexpected answer from %s%s%s: %s\n", R.cmd,
            R.http ? vouch_http_origin(R.http) : "the server", what ? " to " : "",
            what ? what : "", why);
    return CLI_COMM;
}

static int transport_fail(vouch_http_rc rc, const char *err)
{
    fprintf(stderr, "vouch: %s: %s\n", R.cmd, err);
    switch (rc) {
    case VOUCH_HTTP_E_CONNECT:
        fprintf(stderr, "vouch: hint: check --server (or VOUCH_SERVER), and that vouchd is "
                        "running and listening at %s\n", vouch_http_origin(R.http));
        break;
    case VOUCH_HTTP_E_TLS:
        fprintf(stderr, "vouch: hint: --cacert FILE must hold the CA that signed the "
                        "server's TLS certificate, and the URL's host must be a name or "
                        "address that certificate holds\n");
        break;
    case VOUCH_HTTP_E_TIMEOUT:
        fprintf(stderr, "vouch: hint: a busy server may need a longer --timeout\n");
        break;
    default:
        break;
    }
    return rc == VOUCH_HTTP_E_NOMEM ? CLI_FILE : rc == VOUCH_HTTP_E_URL ? CLI_USAGE : CLI_COMM;
}

static const char *api_hint(const char *code)
{
    static const struct {
        const char *code, *hint;
    } hints[] = {
        {"unauthorized", "give the API token with --token-file FILE, VOUCH_TOKEN or "
                         "VOUCH_TOKEN_FILE ('vouch ca init' wrote the first one to "
                         "DIR/admin.token)"},
        {"invalid_token", "the server does not know this token, or it was revoked: check "
                          "--token-file, VOUCH_TOKEN or VOUCH_TOKEN_FILE"},
        {"unknown_template", "'vouch template list' shows the server's templates"},
        {"unknown_issuer", "'vouch ca list' (with --server) shows the server's issuers"},
        {"certificate_revoked", "a revoked certificate is not renewed: give its identity a "
                                "new key with 'vouch cert rekey SERIAL --csr FILE'"},
        {"certificate_expired", "an expired certificate is not renewed: 'vouch cert rekey "
                                "SERIAL --csr FILE' issues one for a new key"},
        {"unavailable", "the server's database is busy: try again"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcmp(code, hints[i].code) == 0)
            return hints[i].hint;
    return NULL;
}

/* A non-2xx answer: print the API error (or what we have) and map the
 * status onto an exit status. */
static int api_fail(const vouch_http_response *rsp, const char *what)
{
    int st = rsp->status;
    json_t *j = rsp->len ? json_loadb(rsp->body, rsp->len, 0, NULL) : NULL;
    json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int ret = (st >= 400 && st < 500) || st == 501 ? CLI_REFUSED : CLI_COMM;

    fprintf(stderr, "vouch: %s: ", R.cmd);
    if (code && msg) {
        print_safe(stderr, msg);
        fprintf(stderr, " (HTTP %d ", st);
        print_safe(stderr, code);
        fputs(")\n", stderr);
        const char *h = api_hint(code);
        if (h)
            fprintf(stderr, "vouch: hint: %s\n", h);
    } else if (st >= 300 && st < 400) {
        fprintf(stderr, "%s%sthe server answered HTTP %d, a redirect (not followed): check "
                        "--server\n", what ? what : "", what ? ": " : "", st);
    } else {
        fprintf(stderr, "%s%sthe server answered HTTP %d without an API error body\n",
                what ? what : "", what ? ": " : "", st);
    }
    json_decref(j);
    return ret;
}

static int send_req(const char *method, const char *path, const vouch_http_header *hdrs,
                    const char *body, size_t len, vouch_http_response *rsp)
{
    char err[512] = "";
    vouch_http_rc rc = vouch_http_request(R.http, method, path, hdrs, body, len, rsp, err,
                                          sizeof err);
    if (rc != VOUCH_HTTP_OK)
        return transport_fail(rc, err);
    return CLI_OK;
}

int remote_json(const char *method, const char *path, json_t *body, const char *what,
                int *status, json_t **out)
{
    vouch_http_response rsp;
    char *b = NULL;
    int ret;
    /* with a body: both; without: Accept only */
    static const vouch_http_header jh[] = {{"Content-Type", "application/json"},
                                           {"Accept", "application/json"},
                                           {NULL, NULL}};
    *out = NULL;
    if (body && !(b = json_dumps(body, JSON_COMPACT)))
        return cli_err(CLI_FILE, "%s: out of memory", R.cmd);
    ret = send_req(method, path, body ? jh : jh + 1, b, b ? strlen(b) : 0, &rsp);
    free(b);
    if (ret)
        return ret;
    if (status)
        *status = rsp.status;
    if (rsp.status < 200 || rsp.status > 299) {
        ret = api_fail(&rsp, what);
    } else if (rsp.len == 0) {
        ret = CLI_OK; /* *out stays NULL */
    } else {
        json_error_t je;
        json_t *j = json_loadb(rsp.body, rsp.len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            ret = bad_answer(what, "not a JSON object");
        } else {
            *out = j;
            ret = CLI_OK;
        }
    }
    vouch_http_response_clear(&rsp);
    return ret;
}

int remote_get_raw(const char *path, const char *what, vouch_http_response *rsp)
{
    int ret = send_req("GET", path, NULL, NULL, 0, rsp);
    if (ret)
        return ret;
    if (rsp->status < 200 || rsp->status > 299) {
        ret = api_fail(rsp, what);
        vouch_http_response_clear(rsp);
    }
    return ret;
}

/* ---- values ---------------------------------------------------------------------- */
static int hexdigit(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int parse_serial(const char *in, char out[SERIAL_HEX_MAX + 1])
{
    const char *s = in;
    char tmp[SERIAL_HEX_MAX + 2];
    size_t n = 0;
    if (strncasecmp(s, "serial=", 7) == 0)
        s += 7;
    int colons = strchr(s, ':') != NULL;
    for (size_t i = 0; s[i]; i++) {
        if (colons && i % 3 == 2) { /* "5a:0c:..": a colon after every byte pair */
            if (s[i] != ':' || !s[i + 1])
                goto bad;
            continue;
        }
        if (!hexdigit((unsigned char)s[i]) || n >= SERIAL_HEX_MAX)
            goto bad;
        tmp[n++] = s[i] >= 'a' ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    if (n == 0 || (colons && n % 2))
        goto bad;
    /* an odd number of digits is a number all the same: pad to whole bytes */
    size_t o = 0;
    if (n % 2)
        out[o++] = '0';
    if (o + n > SERIAL_HEX_MAX)
        goto bad;
    memcpy(out + o, tmp, n);
    out[o + n] = '\0';
    return CLI_OK;
bad:
    return cli_usage(R.cmd,
                     "bad serial '%s': expected hex as 'openssl x509 -serial' prints it "
                     "(e.g. 5A0C3E9F1B2D4C6E, at most %d digits; a serial= prefix and colons "
                     "between byte pairs are accepted)",
                     in, SERIAL_HEX_MAX);
}

int check_name(const char *what, const char *s, size_t max)
{
    size_t n = strlen(s);
    int ok = n >= 1 && n <= max && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
    for (const char *p = s; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
             (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
    if (!ok)
        return cli_usage(R.cmd, "bad %s '%s': 1..%zu of A-Z a-z 0-9 . _ -", what, s, max);
    return CLI_OK;
}

char *cert_path(const char *issuer, const char *serial, const char *suffix)
{
    char *ei = vouch_http_encode(issuer);
    if (!ei)
        return NULL;
    size_t n = strlen("/v1/certificates///") + strlen(ei) + strlen(serial) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "/v1/certificates/%s/%s%s", ei, serial, suffix);
    free(ei);
    return p;
}

int resolve_issuer(const char *serial, const char *issuer, char out[NAME_MAX_LEN + 1])
{
    char path[128];
    json_t *ans = NULL;
    int ret;
    if (issuer) {
        if ((ret = check_name("issuer name", issuer, NAME_MAX_LEN)) != CLI_OK)
            return ret;
        snprintf(out, NAME_MAX_LEN + 1, "%s", issuer);
        return CLI_OK;
    }
    snprintf(path, sizeof path, "/v1/certificates?serial=%s", serial);
    if ((ret = remote_json("GET", path, NULL, "the serial search", NULL, &ans)) != CLI_OK)
        return ret;
    json_t *list = json_object_get(ans, "certificates");
    size_t n = json_array_size(list);
    if (!ans || !json_is_array(list)) {
        ret = bad_answer("the serial search", "no certificates array");
    } else if (n == 0) {
        ret = cli_err(CLI_REFUSED, "%s: no certificate with serial %s on %s", R.cmd, serial,
                      vouch_http_origin(R.http));
    } else if (n > 1) {
        fprintf(stderr, "vouch: %s: serial %s is used by several issuers (", R.cmd, serial);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ", " : "", stderr);
            print_safe(stderr, jstr(json_array_get(list, i), "issuer"));
        }
        fprintf(stderr, "%s): say which with --issuer NAME\nTry 'vouch %s --help'.\n",
                json_object_get(ans, "next_cursor") ? ", ..." : "", R.cmd);
        ret = CLI_USAGE;
    } else {
        const char *is = jstr(json_array_get(list, 0), "issuer");
        size_t l = strlen(is);
        int ok = l >= 1 && l <= NAME_MAX_LEN;
        for (size_t i = 0; ok && i < l; i++)
            ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                        is[i]) != NULL;
        if (!ok)
            ret = bad_answer("the serial search", "an issuer name that cannot be one");
        else
            snprintf(out, NAME_MAX_LEN + 1, "%s", is);
    }
    json_decref(ans);
    return ret;
}

/* ---- JSON and output ---------------------------------------------------------------- */
const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

int remote_pem_certs(const char *s, size_t len, char **clean, size_t *clean_len, int *count)
{
    BIO *in = BIO_new_mem_buf(s, (int)len), *out = BIO_new(BIO_s_mem());
    X509 *c;
    int n = 0, ok = 0;
    char *data;
    long dl;
    *clean = NULL;
    if (!in || !out || len > INT_MAX)
        goto done;
    while ((c = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        int w = PEM_write_bio_X509(out, c);
        X509_free(c);
        if (!w)
            goto done;
        n++;
    }
    /* the loop must have ended at the end of the input, not at a broken block */
    unsigned long e = ERR_peek_last_error();
    if (n == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        goto done;
    if ((dl = BIO_get_mem_data(out, &data)) <= 0 || !(*clean = malloc((size_t)dl + 1)))
        goto done;
    memcpy(*clean, data, (size_t)dl);
    (*clean)[dl] = '\0';
    *clean_len = (size_t)dl;
    if (count)
        *count = n;
    ok = 1;
done:
    ERR_clear_error();
    BIO_free(in);
    BIO_free(out);
    return ok;
}

/* Appends the certificates of one PEM string, re-encoded, to *buf. */
static int append_pem(const char *p, char **buf, size_t *len)
{
    char *c, *nb;
    size_t cl;
    if (!p || !remote_pem_certs(p, strlen(p), &c, &cl, NULL))
        return 0;
    if (!(nb = realloc(*buf, *len + cl + 1))) {
        free(c);
        return 0;
    }
    memcpy(nb + *len, c, cl + 1);
    *buf = nb;
    *len += cl;
    free(c);
    return 1;
}

static void summary_line(const char *label, const char *v)
{
    printf("%-14s", label);
    print_safe(stdout, v);
    putchar('\n');
}

int write_issued(json_t *ans, const char *out, const char *chain_out)
{
    json_t *chain = json_object_get(ans, "chain"), *v;
    char *cert = NULL, *ch = NULL;
    size_t cl = 0, chl = 0, i;
    int ret = CLI_OK;
    /* Re-encoded from the parsed certificates: only certificates reach
     * the files and the terminal. */
    if (!append_pem(json_string_value(json_object_get(ans, "certificate")), &cert, &cl)) {
        ret = bad_answer(NULL, "no PEM certificate in the answer");
        goto out;
    }
    if (chain_out) {
        if (!json_is_array(chain) || json_array_size(chain) == 0) {
            ret = bad_answer(NULL, "no chain in the answer");
            goto out;
        }
        json_array_foreach(chain, i, v) {
            if (!append_pem(json_string_value(v), &ch, &chl)) {
                ret = bad_answer(NULL, "a chain entry is not a PEM certificate");
                goto out;
            }
        }
        if ((ret = cli_write_file(chain_out, ch, chl, 0)) != CLI_OK)
            goto out;
    }
    if ((out || !R.json) && (ret = cli_write_file(out ? out : "-", cert, cl, 0)) != CLI_OK)
        goto out;
    if (R.json) {
        print_json(ans);
    } else if (out) {
        summary_line("serial:", jstr(ans, "serial"));
        summary_line("issuer:", jstr(ans, "issuer"));
        summary_line("template:", jstr(ans, "template"));
        summary_line("not before:", jstr(ans, "not_before"));
        summary_line("not after:", jstr(ans, "not_after"));
        if (*jstr(ans, "renewed_from"))
            summary_line("renewed from:", jstr(ans, "renewed_from"));
    }
out:
    free(cert);
    free(ch);
    return ret;
}

int load_csr(const char *path, char **pem)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    X509_REQ *req = NULL;
    BIO *in = NULL, *outb = NULL;
    int ret = cli_read_file(path, CSR_MAX, &buf, &len);
    if (ret)
        return ret;
    *pem = NULL;
    if ((in = BIO_new_mem_buf(buf, (int)len)) != NULL)
        req = PEM_read_bio_X509_REQ(in, NULL, NULL, NULL);
    if (!req && !strstr((char *)buf, "-----BEGIN")) {
        const unsigned char *p = buf;
        req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req && p != buf + len) {
            X509_REQ_free(req);
            req = NULL;
        }
    }
    ERR_clear_error();
    if (!req) {
        ret = cli_err(CLI_FILE, "%s is not a certificate request (PEM \"CERTIFICATE REQUEST\" "
                                "or DER PKCS#10)", path);
        goto out;
    }
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    if (!pk || X509_REQ_verify(req, pk) != 1) {
        ERR_clear_error();
        ret = cli_err(CLI_FILE, "the certificate request in %s does not verify: its "
                                "signature does not match its public key", path);
        goto out;
    }
    char *data;
    long n;
    if (!(outb = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509_REQ(outb, req) ||
        (n = BIO_get_mem_data(outb, &data)) <= 0 || !(*pem = malloc((size_t)n + 1))) {
        ERR_clear_error();
        ret = cli_err(CLI_FILE, "cannot encode the certificate request: out of memory");
        goto out;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    ret = CLI_OK;
out:
    BIO_free(in);
    BIO_free(outb);
    X509_REQ_free(req);
    free(buf);
    return ret;
}

/* ---- groups -------------------------------------------------------------------------- */
static void group_help(const remote_group *grp)
{
    printf("NAME\n    vouch %s - %s\n\n"
           "SYNOPSIS\n    vouch %s [--server URL] [--token-file FILE] [--cacert FILE]\n"
           "          [--timeout SECONDS] [--json] <command> [options]\n\n"
           "DESCRIPTION\n%s    Commands:\n",
           grp->name, grp->summary, grp->name, grp->description);
    for (size_t i = 0; i < grp->n; i++)
        printf("        %-9s %s\n", grp->cmds[i].name, grp->cmds[i].help.summary);
    printf("    'vouch %s <command> --help' describes one command. Errors go to\n"
           "    stderr, prefixed \"vouch: \"; the server's own message is printed\n"
           "    with its HTTP status and error code.\n\n%s\nEXIT STATUS\n%s\nEXAMPLE\n%s",
           grp->name, remote_group_opts, remote_status_text, grp->example);
}

static const remote_cmd *find_cmd(const remote_group *grp, const char *name)
{
    for (size_t i = 0; i < grp->n; i++)
        if (strcmp(grp->cmds[i].name, name) == 0)
            return &grp->cmds[i];
    return NULL;
}

int remote_run_group(const remote_group *grp, int argc, char **argv)
{
    char *pos[1];
    int used = 0, npos = 0, ret;
    for (cli_opt *o = gopts; o->name; o++) {
        o->seen = 0;
        o->val = NULL;
    }
    memset(&R, 0, sizeof R);
    ret = cli_parse(grp->name, argc - 1, argv + 1, gopts, NULL, 1, &used, NULL, 0, NULL);
    if (ret == CLI_HELP) {
        group_help(grp);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (used + 1 >= argc)
        return cli_usage(grp->name, "missing command (%s%s)", grp->cmds[0].name,
                         grp->n > 1 ? ", ..." : "");
    const char *name = argv[used + 1];
    if (strcmp(name, "help") == 0) {
        const remote_cmd *h = used + 2 < argc ? find_cmd(grp, argv[used + 2]) : NULL;
        if (used + 2 < argc && !h)
            return cli_usage(grp->name, "unknown command '%s'", argv[used + 2]);
        if (h)
            cli_print_help_status(&h->help, remote_group_opts, remote_status_text);
        else
            group_help(grp);
        return CLI_OK;
    }
    const remote_cmd *c = find_cmd(grp, name);
    if (!c)
        return cli_usage(grp->name, "unknown command '%s'", name);
    snprintf(R.cmd, sizeof R.cmd, "%s %s", grp->name, c->name);
    R.c = c;
    R.opts = c->opts;
    ret = cli_parse(R.cmd, argc - used - 2, argv + used + 2, c->opts, gopts, 0, NULL, pos,
                    c->arg ? 1 : 0, &npos);
    if (ret == CLI_HELP) {
        cli_print_help_status(&c->help, remote_group_opts, remote_status_text);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (c->arg && npos == 0)
        return cli_usage(R.cmd, "missing %s", c->arg);
    R.json = cli_val(gopts, "json") != NULL;
    ret = c->run(pos, npos);
    vouch_http_free(R.http);
    R.http = NULL;
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_err(CLI_FILE, "cannot write to stdout: %s", strerror(errno));
    return ret;
}

char *remote_apath(const char *account, const char *suffix)
{
    size_t n = strlen("/v1/accounts/") + strlen(account) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "/v1/accounts/%s%s", account, suffix);
    return p;
}

int remote_call(const char *method, char *path, json_t *body, const char *what, json_t **ans)
{
    int ret = path ? remote_json(method, path, body, what, NULL, ans)
                   : cli_err(CLI_FILE, "out of memory");
    free(path);
    json_decref(body);
    return ret;
}
