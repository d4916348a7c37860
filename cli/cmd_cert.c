/*
 * vouch cert: certificates through vouchd's API (docs/api.md): issue from a
 * CSR, get, list/search, revoke, renew, rekey, sync.
 *
 * Each command checks its options and reads its input files before it
 * contacts the server, so usage (2) and local file (5) errors never depend
 * on a reachable server. A SERIAL without --issuer is looked up first
 * (GET /v1/certificates?serial=, which searches every issuer).
 */
#include "cli/remote.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#define DEVICE_ID_MAX 64
#define LIST_LIMIT_MAX 1000
#define SYNC_LIMIT_MAX 10000
#define QUERY_MAX 2048
#define DURATION_DIGITS 9

/* ---- issue ------------------------------------------------------------------------ */
static int out_paths(const char **out, const char **chain_out)
{
    *out = ropt("out");
    *chain_out = ropt("chain-out");
    if ((*out && !**out) || (*chain_out && !**chain_out))
        return cli_usage(R.cmd, "an empty file name");
    if (*out && *chain_out && strcmp(*out, *chain_out) == 0 && strcmp(*out, "-") != 0)
        return cli_usage(R.cmd, "--out and --chain-out name the same file");
    return CLI_OK;
}

static int cmd_issue(char **pos, int npos)
{
    const char *csrf, *tmpl, *issuer = ropt("issuer"), *out, *chain_out;
    char *csr = NULL;
    json_t *body = NULL, *ans = NULL;
    int ret;
    if ((ret = rneed("csr", &csrf)) || (ret = rneed("template", &tmpl)) ||
        (ret = check_name("template name", tmpl, NAME_MAX_LEN)) ||
        (issuer && (ret = check_name("issuer name", issuer, NAME_MAX_LEN))) ||
        (ret = out_paths(&out, &chain_out)))
        return ret;
    if ((ret = load_csr(csrf, &csr)) || (ret = remote_open()))
        goto out;
    body = json_pack("{s:s, s:s}", "csr", csr, "template", tmpl);
    if (!body || (issuer && json_object_set_new(body, "issuer", json_string(issuer)) != 0)) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_json("POST", "/v1/certificates", body, NULL, NULL, &ans)) != CLI_OK)
        goto out;
    ret = ans ? write_issued(ans, out, chain_out) : bad_answer(NULL, "an empty answer");
out:
    json_decref(body);
    json_decref(ans);
    free(csr);
    return ret;
}

/* ---- get ---------------------------------------------------------------------------- */
static int cmd_get(char **pos, int npos)
{
    char serial[SERIAL_HEX_MAX + 1], issuer[NAME_MAX_LEN + 1];
    const char *out = ropt("out");
    int der = ropt("der") != NULL, chain = ropt("chain") != NULL, ret;
    char *path = NULL;
    json_t *rec = NULL;
    vouch_http_response rsp = {0};
    if ((ret = parse_serial(pos[0], serial)))
        return ret;
    if (der && chain)
        return cli_usage(R.cmd, "--chain is PEM only: give --der or --chain, not both");
    if (R.json && (der || chain))
        return cli_usage(R.cmd, "--json prints the JSON record: not with --der or --chain");
    if (out && !*out)
        return cli_usage(R.cmd, "an empty file name");
    if (!(ret = ropt("issuer") ? check_name("issuer name", ropt("issuer"), NAME_MAX_LEN) : 0) &&
        !(ret = remote_open()))
        ret = resolve_issuer(serial, ropt("issuer"), issuer);
    if (ret)
        return ret;
    if (R.json) {
        if (!(path = cert_path(issuer, serial, ""))) {
            ret = cli_err(CLI_FILE, "out of memory");
            goto out;
        }
        if ((ret = remote_json("GET", path, NULL, NULL, NULL, &rec)) != CLI_OK)
            goto out;
        if (!rec || strcmp(jstr(rec, "serial"), "") == 0) {
            ret = bad_answer(NULL, "no certificate record");
            goto out;
        }
        char *s = json_dumps(rec, JSON_COMPACT);
        if (!s) {
            ret = cli_err(CLI_FILE, "out of memory");
            goto out;
        }
        size_t l = strlen(s);
        s[l] = '\n';
        ret = cli_write_file(out ? out : "-", s, l + 1, 0);
        free(s);
        goto out;
    }
    if (!(path = cert_path(issuer, serial, der ? "?format=der" : chain ? "?format=chain"
                                                                     : "?format=pem"))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_get_raw(path, NULL, &rsp)) != CLI_OK)
        goto out;
    int n = 0;
    char *clean = NULL;
    size_t cl = 0;
    if (der) {
        const unsigned char *p = (const unsigned char *)rsp.body;
        X509 *c = d2i_X509(NULL, &p, (long)rsp.len);
        int whole = c && p == (const unsigned char *)rsp.body + rsp.len;
        X509_free(c);
        ERR_clear_error();
        if (!whole) {
            ret = bad_answer(NULL, "not a DER certificate");
            goto out;
        }
    } else if (!remote_pem_certs(rsp.body, rsp.len, &clean, &cl, &n) || (!chain && n != 1)) {
        free(clean);
        ret = bad_answer(NULL, chain ? "not a PEM certificate chain" : "not a PEM certificate");
        goto out;
    }
    /* PEM as re-encoded from the parsed certificates, DER as checked */
    ret = clean ? cli_write_file(out ? out : "-", clean, cl, 0)
                : cli_write_file(out ? out : "-", rsp.body, rsp.len, 0);
    free(clean);
out:
    vouch_http_response_clear(&rsp);
    json_decref(rec);
    free(path);
    return ret;
}

/* ---- list ----------------------------------------------------------------------------- */
/* 1..999999999 with an optional unit s, m, h or d; 0 when bad. */
static int duration_ok(const char *s, long long *secs)
{
    size_t n = 0;
    long long v = 0, mul = 1;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n >= DURATION_DIGITS)
            return 0;
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0)
        return 0;
    if (s[n]) {
        if (s[n + 1])
            return 0;
        switch (s[n]) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return 0;
        }
    }
    if (v == 0)
        return 0;
    if (secs)
        *secs = v * mul;
    return 1;
}

/* A point in time for the server: seconds since the epoch or RFC 3339 UTC
 * as is, a date as its midnight UTC, a duration with its unit as that long
 * before now (as seconds). */
static int time_arg(const char *opt, const char *s, char *out, size_t n)
{
    struct tm tm;
    const char *end;
    long long d;
    size_t l = strlen(s);
    int digits = l > 0 && l <= 12 && strspn(s, "0123456789") == l;
    if (digits) {
        snprintf(out, n, "%s", s);
        return CLI_OK;
    }
    if (l > 1 && strchr("smhd", s[l - 1]) && duration_ok(s, &d)) {
        snprintf(out, n, "%lld", (long long)time(NULL) - d);
        return CLI_OK;
    }
    memset(&tm, 0, sizeof tm);
    if ((end = strptime(s, "%Y-%m-%d", &tm)) != NULL && l == 10 && *end == '\0') {
        snprintf(out, n, "%sT00:00:00Z", s);
        return CLI_OK;
    }
    memset(&tm, 0, sizeof tm);
    if (l == 20 && (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) != NULL &&
        (end[0] == 'Z' || end[0] == 'z') && end[1] == '\0') {
        snprintf(out, n, "%.19sZ", s);
        return CLI_OK;
    }
    return cli_usage(R.cmd, "bad --%s value '%s': expected a UTC time (2026-11-21T00:00:00Z), "
                            "a date (2026-11-21), seconds since the epoch, or a duration "
                            "back from now (90m, 48h, 7d)", opt, s);
}

/* Appends "&name=<encoded value>" (or "?name=...") to q. */
static int qadd(char *q, size_t n, const char *name, const char *val)
{
    char *e = vouch_http_encode(val);
    size_t l = strlen(q);
    int k;
    if (!e)
        return cli_err(CLI_FILE, "out of memory");
    k = snprintf(q + l, n - l, "%c%s=%s", strchr(q, '?') ? '&' : '?', name, e);
    free(e);
    if (k < 0 || (size_t)k >= n - l)
        return cli_usage(R.cmd, "the search is too long");
    return CLI_OK;
}

static char *safe_dup(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p < 0x20 || *p == 0x7f) ? 4 : 1;
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            w += sprintf(w, "\\x%02x", *p);
        else
            *w++ = (char)*p;
    }
    *w = '\0';
    return o;
}

static const char *const list_cols[] = {"SERIAL", "ISSUER", "STATUS", "TEMPLATE", "DEVICE ID",
                                        "NOT AFTER"};
static const char *const list_keys[] = {"serial", "issuer", "status", "template", "device_id",
                                        "not_after"};
#define NCOLS 6

static int print_table(json_t *all)
{
    size_t w[NCOLS], i, n = json_array_size(all);
    char **cells = calloc(n * NCOLS + 1, sizeof *cells);
    int ret = CLI_OK;
    if (!cells)
        return cli_err(CLI_FILE, "out of memory");
    for (int c = 0; c < NCOLS; c++)
        w[c] = strlen(list_cols[c]);
    for (i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++) {
            const char *v = jstr(json_array_get(all, i), list_keys[c]);
            char **cell = &cells[i * NCOLS + (size_t)c];
            if (!(*cell = safe_dup(*v ? v : "-"))) {
                ret = cli_err(CLI_FILE, "out of memory");
                goto out;
            }
            if (strlen(*cell) > w[c])
                w[c] = strlen(*cell);
        }
    for (size_t r = 0; r <= n; r++)
        for (int c = 0; c < NCOLS; c++) {
            const char *v = r ? cells[(r - 1) * NCOLS + (size_t)c] : list_cols[c];
            if (c < NCOLS - 1)
                printf("%-*s  ", (int)w[c], v);
            else
                printf("%s\n", v);
        }
out:
    for (i = 0; i < n * NCOLS; i++)
        free(cells[i]);
    free(cells);
    return ret;
}

static int cmd_list(char **pos, int npos)
{
    char q[QUERY_MAX] = "/v1/certificates", tbuf[64], *cursor = NULL;
    const char *v;
    uint64_t limit = 0;
    int all = ropt("all") != NULL, lines = ropt("json-lines") != NULL, ret;
    json_t *acc = NULL;
    static const char *const statuses[] = {"active", "revoked", "expired"};

    if (lines && R.json)
        return cli_usage(R.cmd, "give --json (one array) or --json-lines, not both");
    if ((v = ropt("status")) != NULL) {
        int ok = 0;
        for (size_t i = 0; i < 3; i++)
            ok |= strcmp(v, statuses[i]) == 0;
        if (!ok)
            return cli_usage(R.cmd, "bad --status '%s': active, revoked or expired", v);
        if ((ret = qadd(q, sizeof q, "status", v)))
            return ret;
    }
    if ((v = ropt("template")) != NULL &&
        ((ret = check_name("template name", v, NAME_MAX_LEN)) ||
         (ret = qadd(q, sizeof q, "template", v))))
        return ret;
    if ((v = ropt("issuer")) != NULL && ((ret = check_name("issuer name", v, NAME_MAX_LEN)) ||
                                          (ret = qadd(q, sizeof q, "issuer", v))))
        return ret;
    if ((v = ropt("device-id")) != NULL) {
        size_t l = strlen(v);
        int ok = l >= 1 && l <= DEVICE_ID_MAX;
        for (size_t i = 0; ok && i < l; i++)
            ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
        if (!ok)
            return cli_usage(R.cmd, "bad --device-id: 1..%d characters, no control "
                                    "characters", DEVICE_ID_MAX);
        if ((ret = qadd(q, sizeof q, "device_id", v)))
            return ret;
    }
    if ((v = ropt("expiring")) != NULL) {
        if (!duration_ok(v, NULL))
            return cli_usage(R.cmd, "bad --expiring value '%s': a duration such as 3600, 90s, "
                                    "30m, 48h or 7d (at most %d digits, not 0)", v,
                             DURATION_DIGITS);
        if ((ret = qadd(q, sizeof q, "expiring", v)))
            return ret;
    }
    if ((v = ropt("issued-since")) != NULL &&
        ((ret = time_arg("issued-since", v, tbuf, sizeof tbuf)) ||
         (ret = qadd(q, sizeof q, "issued_since", tbuf))))
        return ret;
    if ((v = ropt("revoked-since")) != NULL &&
        ((ret = time_arg("revoked-since", v, tbuf, sizeof tbuf)) ||
         (ret = qadd(q, sizeof q, "revoked_since", tbuf))))
        return ret;
    if ((v = ropt("limit")) != NULL) {
        if ((ret = cli_num(R.cmd, "--limit value", v, 1, LIST_LIMIT_MAX, &limit)))
            return ret;
        char lb[16];
        snprintf(lb, sizeof lb, "%llu", (unsigned long long)limit);
        if ((ret = qadd(q, sizeof q, "limit", lb)))
            return ret;
    }
    if ((v = ropt("cursor")) != NULL) {
        if (!*v || strlen(v) > 256)
            return cli_usage(R.cmd, "bad --cursor: the next_cursor of an earlier page");
        if (!(cursor = strdup(v)))
            return cli_err(CLI_FILE, "out of memory");
    }
    if ((ret = remote_open()))
        goto out;
    if (!(acc = json_array())) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    for (;;) {
        char page[QUERY_MAX + 320];
        json_t *ans = NULL, *certs, *x;
        size_t i;
        snprintf(page, sizeof page, "%s", q);
        if (cursor && (ret = qadd(page, sizeof page, "cursor", cursor)))
            goto out;
        if ((ret = remote_json("GET", page, NULL, "the search", NULL, &ans)))
            goto out;
        certs = json_object_get(ans, "certificates");
        if (!json_is_array(certs)) {
            json_decref(ans);
            ret = bad_answer("the search", "no certificates array");
            goto out;
        }
        json_array_foreach(certs, i, x) {
            if (!json_is_object(x)) {
                json_decref(ans);
                ret = bad_answer("the search", "an entry that is not an object");
                goto out;
            }
            if (lines)
                print_json(x);
            else
                json_array_append(acc, x);
        }
        json_t *nc = json_object_get(ans, "next_cursor");
        const char *next = json_string_value(nc);
        if (nc && (!next || !*next || strlen(next) > 256 ||
                   (cursor && strcmp(next, cursor) == 0))) {
            json_decref(ans);
            ret = bad_answer("the search", "a bad next_cursor");
            goto out;
        }
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        json_decref(ans);
        if (next && !cursor) {
            ret = cli_err(CLI_FILE, "out of memory");
            goto out;
        }
        if (!cursor || !all)
            break;
    }
    if (R.json)
        print_json(acc);
    else if (!lines && json_array_size(acc) > 0)
        ret = print_table(acc);
    else if (!lines)
        fprintf(stderr, "vouch: %s: no certificate matches\n", R.cmd);
    if (cursor) {
        fprintf(stderr, "vouch: %s: more certificates match: --all fetches every page, "
                        "--cursor ", R.cmd);
        print_safe(stderr, cursor);
        fputs(" the next one\n", stderr);
    }
out:
    free(cursor);
    json_decref(acc);
    return ret;
}

/* ---- revoke ----------------------------------------------------------------------------- */
static const char *const reasons[][2] = {
    {"unspecified", "unspecified"},
    {"keyCompromise", "key-compromise"},
    {"cACompromise", "ca-compromise"},
    {"affiliationChanged", "affiliation-changed"},
    {"superseded", "superseded"},
    {"cessationOfOperation", "cessation-of-operation"},
    {"certificateHold", "certificate-hold"},
    {"privilegeWithdrawn", "privilege-withdrawn"},
    {"aACompromise", "aa-compromise"},
};
#define N_REASONS (sizeof reasons / sizeof reasons[0])

static int parse_reason(const char *s, const char **out)
{
    for (size_t i = 0; i < N_REASONS; i++)
        if (strcasecmp(s, reasons[i][0]) == 0 || strcasecmp(s, reasons[i][1]) == 0) {
            *out = reasons[i][0];
            return CLI_OK;
        }
    if (strcasecmp(s, "removeFromCRL") == 0 || strcasecmp(s, "remove-from-crl") == 0)
        return cli_usage(R.cmd, "removeFromCRL is not a revocation reason (it takes a held "
                                "certificate off a delta CRL); vouch does not un-revoke");
    fprintf(stderr, "vouch: %s: bad --reason '%s'; the RFC 5280 reasons are:\n", R.cmd, s);
    for (size_t i = 0; i < N_REASONS; i++)
        if (strcmp(reasons[i][0], reasons[i][1]) == 0)
            fprintf(stderr, "    %s\n", reasons[i][0]);
        else
            fprintf(stderr, "    %-21s or %s\n", reasons[i][0], reasons[i][1]);
    fprintf(stderr, "Try 'vouch %s --help'.\n", R.cmd);
    return CLI_USAGE;
}

static int cmd_revoke(char **pos, int npos)
{
    char serial[SERIAL_HEX_MAX + 1], issuer[NAME_MAX_LEN + 1], *path = NULL;
    const char *rs, *reason = NULL;
    json_t *body = NULL, *ans = NULL;
    int ret;
    if ((ret = parse_serial(pos[0], serial)) || (ret = rneed("reason", &rs)) ||
        (ret = parse_reason(rs, &reason)) ||
        (ropt("issuer") && (ret = check_name("issuer name", ropt("issuer"), NAME_MAX_LEN))) ||
        (ret = remote_open()) || (ret = resolve_issuer(serial, ropt("issuer"), issuer)))
        return ret;
    if (!(path = cert_path(issuer, serial, "/revoke")) ||
        !(body = json_pack("{s:s}", "reason", reason))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_json("POST", path, body, NULL, NULL, &ans)))
        goto out;
    if (!ans) {
        ret = bad_answer(NULL, "an empty answer");
        goto out;
    }
    if (R.json) {
        print_json(ans);
    } else {
        printf("revoked %s (issuer ", serial);
        print_safe(stdout, issuer);
        printf("), reason ");
        print_safe(stdout, *jstr(ans, "reason") ? jstr(ans, "reason") : reason);
        printf(", at ");
        print_safe(stdout, jstr(ans, "revoked_at"));
        putchar('\n');
    }
out:
    json_decref(body);
    json_decref(ans);
    free(path);
    return ret;
}

/* ---- renew, rekey ------------------------------------------------------------------------- */
static int renew_or_rekey(char **pos, int rekey)
{
    char serial[SERIAL_HEX_MAX + 1], issuer[NAME_MAX_LEN + 1], *path = NULL, *csr = NULL;
    const char *csrf = NULL, *out, *chain_out;
    json_t *body = NULL, *ans = NULL;
    int ret;
    if ((ret = parse_serial(pos[0], serial)) ||
        (ropt("issuer") && (ret = check_name("issuer name", ropt("issuer"), NAME_MAX_LEN))) ||
        (rekey && (ret = rneed("csr", &csrf))) || (ret = out_paths(&out, &chain_out)))
        return ret;
    if ((rekey && (ret = load_csr(csrf, &csr))) || (ret = remote_open()) ||
        (ret = resolve_issuer(serial, ropt("issuer"), issuer)))
        goto out;
    path = cert_path(issuer, serial, rekey ? "/rekey" : "/renew");
    body = rekey ? json_pack("{s:s}", "csr", csr) : json_object();
    if (!path || !body) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    if ((ret = remote_json("POST", path, body, NULL, NULL, &ans)))
        goto out;
    ret = ans ? write_issued(ans, out, chain_out) : bad_answer(NULL, "an empty answer");
out:
    json_decref(body);
    json_decref(ans);
    free(path);
    free(csr);
    return ret;
}

static int cmd_renew(char **pos, int npos) { return renew_or_rekey(pos, 0); }
static int cmd_rekey(char **pos, int npos) { return renew_or_rekey(pos, 1); }

/* ---- sync ---------------------------------------------------------------------------------- */
static int cmd_sync(char **pos, int npos)
{
    uint64_t after = 0, limit = 0;
    const char *v;
    char path[96];
    json_t *ans = NULL, *x;
    size_t i;
    int ret;
    if ((v = ropt("after")) && (ret = cli_num(R.cmd, "--after value", v, 0, INT64_MAX, &after)))
        return ret;
    if ((v = ropt("limit")) && (ret = cli_num(R.cmd, "--limit value", v, 1, SYNC_LIMIT_MAX, &limit)))
        return ret;
    if (limit)
        snprintf(path, sizeof path, "/v1/sync?after=%llu&limit=%llu", (unsigned long long)after,
                 (unsigned long long)limit);
    else
        snprintf(path, sizeof path, "/v1/sync?after=%llu", (unsigned long long)after);
    if ((ret = remote_open()) || (ret = remote_json("GET", path, NULL, NULL, NULL, &ans)))
        return ret;
    json_t *changes = json_object_get(ans, "changes"), *cur = json_object_get(ans, "cursor");
    if (!json_is_array(changes) || !json_is_integer(cur)) {
        ret = bad_answer(NULL, "no changes array or cursor");
        goto out;
    }
    if (R.json) {
        print_json(ans);
        goto out;
    }
    if (json_array_size(changes))
        printf("%-8s  %-32s  %-12s  %-8s  %s\n", "SEQ", "SERIAL", "ISSUER", "STATUS", "TEMPLATE");
    json_array_foreach(changes, i, x) {
        char *a = safe_dup(jstr(x, "serial")), *b = safe_dup(jstr(x, "issuer")),
             *c = safe_dup(jstr(x, "status")), *d = safe_dup(jstr(x, "template"));
        printf("%-8lld  %-32s  %-12s  %-8s  %s\n",
               (long long)json_integer_value(json_object_get(x, "seq")), a ? a : "",
               b ? b : "", c ? c : "", d ? d : "");
        free(a);
        free(b);
        free(c);
        free(d);
    }
    printf("cursor %lld%s\n", (long long)json_integer_value(cur),
           json_is_true(json_object_get(ans, "more")) ? " (more: run again with --after "
                                                        "this cursor)"
                                                      : "");
    ret = CLI_OK;
out:
    json_decref(ans);
    return ret;
}

/* ---- the table -------------------------------------------------------------------------------- */
#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define SYN "    vouch cert [group options] "
#define SERIAL_TEXT                                                                        \
    "    SERIAL is hex as 'openssl x509 -serial' prints it (upper or lower case; a\n"      \
    "    serial= prefix and colons between byte pairs, as 'openssl x509 -text'\n"          \
    "    prints it, are accepted). Without --issuer the server is asked which\n"           \
    "    issuer has this serial (GET /v1/certificates?serial=); none is refused\n"         \
    "    (status 3), several ask for --issuer.\n"

static const remote_cmd cmds[] = {
    {"issue", cmd_issue,
     OPTS({"csr", "FILE", NULL, 0}, {"template", "NAME", NULL, 0}, {"issuer", "NAME", NULL, 0},
          {"out", "FILE", NULL, 0}, {"chain-out", "FILE", NULL, 0}),
     NULL, 0,
     {"cert issue", "issue a certificate from a certificate request",
      SYN "issue --csr FILE --template NAME\n"
      "          [--issuer NAME] [--out FILE] [--chain-out FILE] [--json]",
      "DESCRIPTION\n"
      "    Sends the PKCS#10 request in FILE (PEM or DER) to the server, which\n"
      "    checks it against template NAME and signs it with the issuing CA\n"
      "    (POST /v1/certificates). The request is read and its signature\n"
      "    checked locally first: a file that is not a request, or whose\n"
      "    signature does not verify, is a local file error (5) and nothing is\n"
      "    sent.\n\n"
      "    The certificate (PEM) goes to --out FILE, or to stdout. With --out,\n"
      "    stdout gets a summary: serial (hex as 'openssl x509 -serial' prints\n"
      "    it), issuer, template, not before, not after. --chain-out FILE gets\n"
      "    the issuing CA's certificate and those above it, up to and including\n"
      "    the root, in that order (PEM), so that\n"
      "        openssl verify -CAfile <root> -untrusted <the others> FILE\n"
      "    accepts the certificate. With --json stdout gets the server's answer\n"
      "    instead: {serial, issuer, template, not_before, not_after,\n"
      "    certificate, chain[]} on one line.\n\n"
      "OPTIONS\n"
      "    --csr FILE         the certificate request, PEM or DER (at most 64 KiB)\n"
      "    --template NAME    the template its rules come from (device, gateway,\n"
      "                       admin, user, server, code-signing, family-ca, or one\n"
      "                       stored later; 'vouch template list')\n"
      "    --issuer NAME      the issuing CA, default the server's 'default'\n"
      "    --out FILE         where to write the certificate (mode 0644); - is stdout\n"
      "    --chain-out FILE   where to write the issuer chain\n",
      "    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n"
      "        -keyout dev.key -subj /CN=dev-0001 -out dev.csr\n"
      "    vouch cert issue --csr dev.csr --template device --out dev.pem \\\n"
      "        --chain-out chain.pem\n",
      0}},
    {"get", cmd_get,
     OPTS({"issuer", "NAME", NULL, 0}, {"chain", NULL, NULL, 0}, {"der", NULL, NULL, 0},
          {"out", "FILE", NULL, 0}),
     "SERIAL", 0,
     {"cert get", "fetch an issued certificate",
      SYN "get SERIAL [--issuer NAME] [--chain | --der]\n"
      "          [--out FILE] [--json]",
      "DESCRIPTION\n"
      "    Fetches the certificate with serial SERIAL and writes it as PEM to\n"
      "    --out FILE or stdout (GET /v1/certificates/<issuer>/<serial>).\n"
      "    --chain writes the certificate, then its issuer and those above it,\n"
      "    up to the root (leaf, intermediates, root: ?format=chain). --der\n"
      "    writes the certificate alone as DER. --json writes its JSON record\n"
      "    instead: {serial, issuer, status (active, revoked, expired), subject,\n"
      "    device_id, template, not_before, not_after, issued_at, sha256,\n"
      "    certificate, and for a revoked one revoked_at and reason}.\n"
      "    What the server sends is checked to be what was asked for.\n\n"
      SERIAL_TEXT "\n"
      "OPTIONS\n"
      "    --issuer NAME   the issuer that signed it\n"
      "    --chain         the certificate and its chain up to the root, PEM\n"
      "    --der           DER instead of PEM (not with --chain)\n"
      "    --out FILE      output file (mode 0644); - is stdout (the default)\n",
      "    vouch cert get 5A0C3E9F1B2D4C6E8A0B1C2D3E4F5061 --chain --out dev-chain.pem\n"
      "    vouch cert get \"$(openssl x509 -in dev.pem -noout -serial)\" --json\n",
      0}},
    {"list", cmd_list,
     OPTS({"status", "S", NULL, 0}, {"template", "NAME", NULL, 0}, {"issuer", "NAME", NULL, 0},
          {"device-id", "ID", NULL, 0}, {"expiring", "DURATION", NULL, 0},
          {"issued-since", "TIME", NULL, 0}, {"revoked-since", "TIME", NULL, 0},
          {"limit", "N", NULL, 0}, {"cursor", "CURSOR", NULL, 0}, {"all", NULL, NULL, 0},
          {"json-lines", NULL, NULL, 0}),
     NULL, 0,
     {"cert list", "search the issued certificates",
      SYN "list [--status active|revoked|expired]\n"
      "          [--template NAME] [--issuer NAME] [--device-id ID]\n"
      "          [--expiring DURATION] [--issued-since TIME] [--revoked-since TIME]\n"
      "          [--limit N] [--cursor CURSOR] [--all] [--json | --json-lines]",
      "DESCRIPTION\n"
      "    Lists the certificates matching every filter given (GET\n"
      "    /v1/certificates), as a table: serial, issuer, status, template,\n"
      "    device id (the subject's CN) and not after. The server answers a\n"
      "    page at a time (--limit, default 100): without --all one page is\n"
      "    shown and, when more match, stderr says how to get the next\n"
      "    (--cursor); --all follows the pages to the end. Order: soonest\n"
      "    not-after first for --expiring and --status, oldest first for\n"
      "    --issued-since and --revoked-since, issuance order otherwise.\n"
      "    --json prints one JSON array of the records (those of 'vouch cert\n"
      "    get --json' without the certificate), --json-lines one record per\n"
      "    line as the pages arrive. No match prints nothing on stdout.\n\n"
      "OPTIONS\n"
      "    --status S             active, revoked or expired\n"
      "    --template NAME        issued under this template\n"
      "    --issuer NAME          issued by this CA\n"
      "    --device-id ID         the subject's common name\n"
      "    --expiring DURATION    active and expiring within DURATION: seconds, or\n"
      "                           a number with s, m, h or d (90m, 48h, 7d)\n"
      "    --issued-since TIME    issued at or after TIME: RFC 3339 UTC\n"
      "                           (2026-11-21T00:00:00Z), a date (2026-11-21,\n"
      "                           midnight UTC), seconds since the epoch, or a\n"
      "                           duration with its unit meaning that long ago (7d)\n"
      "    --revoked-since TIME   revoked at or after TIME (as above)\n"
      "    --limit N              page size, 1..1000\n"
      "    --cursor CURSOR        start at this page (a next_cursor)\n"
      "    --all                  fetch every page\n"
      "    --json-lines           one JSON record per line\n",
      "    vouch cert list --expiring 30d --all\n"
      "    vouch cert list --status revoked --revoked-since 7d --json | jq -r '.[].serial'\n",
      0}},
    {"revoke", cmd_revoke, OPTS({"issuer", "NAME", NULL, 0}, {"reason", "REASON", NULL, 0}),
     "SERIAL", 0,
     {"cert revoke", "revoke a certificate",
      SYN "revoke SERIAL [--issuer NAME] --reason REASON\n"
      "          [--json]",
      "DESCRIPTION\n"
      "    Revokes the certificate (POST /v1/certificates/<issuer>/<serial>/\n"
      "    revoke). The server records it durably, rebuilds the issuer's CRL\n"
      "    and drops cached OCSP answers before it answers. Prints \"revoked\n"
      "    SERIAL (issuer NAME), reason R, at TIME\"; --json prints the\n"
      "    certificate's record. Revoking a revoked certificate is refused\n"
      "    (409 already_revoked, status 3).\n\n"
      SERIAL_TEXT "\n"
      "OPTIONS\n"
      "    --issuer NAME     the issuer that signed it\n"
      "    --reason REASON   an RFC 5280 reason, by its name or in kebab case, in\n"
      "                      any letter case: unspecified, keyCompromise\n"
      "                      (key-compromise), cACompromise (ca-compromise),\n"
      "                      affiliationChanged, superseded,\n"
      "                      cessationOfOperation, certificateHold,\n"
      "                      privilegeWithdrawn, aACompromise (aa-compromise).\n"
      "                      Checked before anything is sent; use unspecified\n"
      "                      when no other applies.\n",
      "    vouch cert revoke 5A0C3E9F1B2D4C6E8A0B1C2D3E4F5061 --reason key-compromise\n", 0}},
    {"renew", cmd_renew,
     OPTS({"issuer", "NAME", NULL, 0}, {"out", "FILE", NULL, 0}, {"chain-out", "FILE", NULL, 0}),
     "SERIAL", 0,
     {"cert renew", "issue a new certificate for the same key and subject",
      SYN "renew SERIAL [--issuer NAME] [--out FILE]\n"
      "          [--chain-out FILE] [--json]",
      "DESCRIPTION\n"
      "    Asks the server for a new certificate with the same key, subject and\n"
      "    names as SERIAL, a new serial and a new validity from the template\n"
      "    as it is now (POST .../renew). The old certificate stays valid until\n"
      "    it expires or is revoked. A revoked or expired certificate is not\n"
      "    renewed (409, status 3): rekey it. Output as for 'vouch cert issue',\n"
      "    with \"renewed from\" the old serial.\n\n"
      SERIAL_TEXT "\n"
      "OPTIONS\n"
      "    --issuer NAME      the issuer that signed it\n"
      "    --out FILE         where to write the new certificate; - is stdout\n"
      "    --chain-out FILE   where to write the issuer chain\n",
      "    vouch cert renew 5A0C3E9F1B2D4C6E8A0B1C2D3E4F5061 --out dev.pem\n", 0}},
    {"rekey", cmd_rekey,
     OPTS({"issuer", "NAME", NULL, 0}, {"csr", "FILE", NULL, 0}, {"out", "FILE", NULL, 0},
          {"chain-out", "FILE", NULL, 0}),
     "SERIAL", 0,
     {"cert rekey", "issue a certificate for a new key, same identity",
      SYN "rekey SERIAL --csr FILE [--issuer NAME]\n"
      "          [--out FILE] [--chain-out FILE] [--json]",
      "DESCRIPTION\n"
      "    Issues a certificate for the new key in the request FILE, for the\n"
      "    identity of certificate SERIAL (POST .../rekey): the request must pass\n"
      "    the certificate's template and carry exactly its subject (else 422\n"
      "    subject_mismatch, status 3). Allowed whatever the old certificate's\n"
      "    status: after a key compromise, revoke, then rekey. The request is\n"
      "    checked locally first, as for 'vouch cert issue'; output as there.\n\n"
      SERIAL_TEXT "\n"
      "OPTIONS\n"
      "    --csr FILE         the new key's certificate request, PEM or DER\n"
      "    --issuer NAME      the issuer that signed the old certificate\n"
      "    --out FILE         where to write the new certificate; - is stdout\n"
      "    --chain-out FILE   where to write the issuer chain\n",
      "    vouch cert rekey 5A0C3E9F1B2D4C6E8A0B1C2D3E4F5061 --csr new.csr --out dev.pem\n",
      0}},
    {"sync", cmd_sync, OPTS({"after", "SEQ", NULL, 0}, {"limit", "N", NULL, 0}), NULL, 0,
     {"cert sync", "list certificate changes since a change number",
      SYN "sync [--after SEQ] [--limit N] [--json]",
      "DESCRIPTION\n"
      "    Every certificate created or changed after change number SEQ (GET\n"
      "    /v1/sync), oldest change first, each once in its current state:\n"
      "    a table of change number, serial, issuer, status and template, then\n"
      "    \"cursor N\", the --after for the next call (\"more\" when the page was\n"
      "    full). --json prints the server's page: {changes[] (records with\n"
      "    seq and certificate), cursor, more}. A mirror that keeps the\n"
      "    last cursor and polls stays consistent.\n\n"
      "OPTIONS\n"
      "    --after SEQ   the last change already seen, default 0 (everything)\n"
      "    --limit N     page size, 1..10000 (the server's default is 1000)\n",
      "    vouch cert sync --after 0 --json > page.json\n"
      "    vouch cert sync --after \"$(jq .cursor page.json)\"\n", 0}},
};

static const remote_group cert_group = {
    "cert", "issue, fetch, search, revoke and renew certificates through vouchd",
    "    Talks to a vouchd server (docs/api.md) with an API token.\n",
    "    export VOUCH_SERVER=https://ca.example.com:8443 VOUCH_CACERT=tls-ca.pem\n"
    "    export VOUCH_TOKEN_FILE=$HOME/.vouch/token\n"
    "    vouch cert issue --csr dev.csr --template device --out dev.pem\n"
    "    vouch cert list --expiring 30d\n",
    cmds, sizeof cmds / sizeof cmds[0]};

int cmd_cert_main(int argc, char **argv) { return remote_run_group(&cert_group, argc, argv); }
