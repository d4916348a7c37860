/*
 * http_load: one HTTP/1.1 load generator for every server the benchmarks
 * compare (bench/pki_bench.sh), so that they all meet the same client.
 *
 *   http_load --url http://127.0.0.1:PORT/path [options]
 *
 * N connections (--connections, default 1) each run a closed loop: send a
 * request, wait for the whole response, send the next. With keep-alive
 * (the default) a connection is reused for as long as the server keeps it
 * open (libevent reconnects by itself when a server closes after a
 * response); --new-conn opens a new TCP connection for every request
 * (with `Connection: close`) and counts the connect in the latency.
 *
 * Request bodies: --body-file F sends F's bytes with every request;
 * --bodies-file F takes one body per line (the newline is not sent);
 * --bodies-dir D takes one body per regular file (binary, e.g. DER OCSP
 * requests), in name order. Bodies are handed out in order across all
 * connections and start again from the first when all have been used
 * ("cycled" in the report), so with enough bodies every request carries
 * a different one. --paths-file F does the same for the request target
 * (for GET requests that carry their argument in the path).
 *
 * The run is bounded in time (--duration, default 10 s) and optionally in
 * count (--max-requests); no request starts after either limit, requests
 * in flight are waited for (at most --timeout). --warmup S runs S seconds
 * of requests first that are not counted.
 *
 * Reported: responses per second, latency percentiles (p50, p90, p99,
 * max, from a histogram with 1 us resolution below 2 ms and 0.1 % above),
 * counts by status, transport errors by kind, and the client's own CPU
 * time (on a small machine the client competes with the server for CPUs;
 * the same client for every server keeps the comparison fair). --json
 * prints one JSON object instead of text. After a transport error
 * (refused, reset, timeout) a connection pauses 10 ms before its next
 * request instead of spinning. With --expect-status CODE the
 * "ok" count and rate are those responses; the exit status is 1 when no
 * response had that status (or, without it, when nothing was answered).
 *
 * HTTP parsing and writing are libevent's (evhttp); http:// only.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* the response's HTTP version (major, minor) */
#include <event2/keyvalq_struct.h>

#define CONN_MAX 10000
#define DURATION_MAX 3600.0
#define HEADERS_MAX 32
#define ITEMS_MAX 1000000u            /* bodies or paths */
#define FILE_MAX (256u * 1024 * 1024) /* one file read whole */
#define STATUS_MAX 600

/* ---- latency histogram ----------------------------------------------------- */

/* Exact microseconds below 2048 us; above, 1024 sub-buckets per power of
 * two (0.1 %). Latencies are clamped to 2^32 - 1 us. */
#define H_LINEAR 2048u
#define H_SUB 1024u
#define H_POW_MIN 11 /* 2^11 = H_LINEAR */
#define H_POW_MAX 31
#define H_BUCKETS (H_LINEAR + (H_POW_MAX - H_POW_MIN + 1) * H_SUB)

typedef struct {
    uint64_t n[H_BUCKETS];
    uint64_t count, max_us;
    double sum_us;
} histogram;

static unsigned h_index(uint32_t us)
{
    if (us < H_LINEAR)
        return us;
    int e = 31 - __builtin_clz(us); /* 11..31 */
    unsigned sub = (us >> (e - 10)) & (H_SUB - 1);
    return H_LINEAR + (unsigned)(e - H_POW_MIN) * H_SUB + sub;
}

/* the smallest value that lands in bucket i */
static uint64_t h_value(unsigned i)
{
    if (i < H_LINEAR)
        return i;
    unsigned e = (i - H_LINEAR) / H_SUB + H_POW_MIN, sub = (i - H_LINEAR) % H_SUB;
    return ((uint64_t)(H_SUB + sub)) << (e - 10);
}

static void h_add(histogram *h, double us)
{
    uint32_t v = us <= 0 ? 0 : us >= 4294967295.0 ? 4294967295u : (uint32_t)us;
    h->n[h_index(v)]++;
    h->count++;
    h->sum_us += us;
    if (v > h->max_us)
        h->max_us = v;
}

static uint64_t h_percentile(const histogram *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want)
            return h_value(i);
    }
    return h->max_us;
}

/* ---- the run ---------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
} item;

typedef struct {
    item *v;
    size_t n;
} item_list;

struct run;

typedef struct client {
    struct run *run;
    struct evhttp_connection *conn;
    struct evhttp_connection *retired; /* done with; freed after its callback */
    struct event *retry_ev; /* a pause after a transport error */
    double sent_at;
    int in_flight;
    int error_kind; /* from the error callback of the request in flight, -1 none */
} client;

enum { ERR_TIMEOUT, ERR_EOF, ERR_INVALID_HEADER, ERR_BUFFER, ERR_CANCEL, ERR_TOO_LONG, ERR_CONNECT,
       ERR_KINDS };
static const char *const err_names[ERR_KINDS] = {"timeout", "eof", "invalid_header", "buffer",
                                                  "cancel", "too_long", "connect_or_other"};

typedef struct run {
    struct event_base *base;
    struct event *deadline_ev, *grace_ev, *warm_ev;
    /* settings */
    char host[256];
    int port;
    char *path; /* with query */
    enum evhttp_cmd_type method;
    const char *method_name;
    const char *url;
    char *headers[HEADERS_MAX][2];
    int nheaders;
    int connections, keepalive, expect_status, json;
    double duration, warmup, timeout;
    uint64_t max_requests; /* 0: no limit */
    item_list bodies, paths;
    /* state */
    client *clients;
    uint64_t started, next_body, next_path;
    int in_flight, stopping, measuring;
    double t_measure, t_last;
    /* results (measured window only) */
    histogram hist;
    uint64_t status[STATUS_MAX], status_other, errors[ERR_KINDS], resp_bytes;
    int bodies_cycled, paths_cycled;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void client_send(client *c);

static void maybe_finish(run *r)
{
    if (r->stopping && r->in_flight == 0)
        event_base_loopbreak(r->base);
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    client *c = arg;
    switch (e) {
    case EVREQ_HTTP_TIMEOUT: c->error_kind = ERR_TIMEOUT; break;
    case EVREQ_HTTP_EOF: c->error_kind = ERR_EOF; break;
    case EVREQ_HTTP_INVALID_HEADER: c->error_kind = ERR_INVALID_HEADER; break;
    case EVREQ_HTTP_BUFFER_ERROR: c->error_kind = ERR_BUFFER; break;
    case EVREQ_HTTP_REQUEST_CANCEL: c->error_kind = ERR_CANCEL; break;
    case EVREQ_HTTP_DATA_TOO_LONG: c->error_kind = ERR_TOO_LONG; break;
    default: c->error_kind = ERR_CONNECT; break;
    }
}

/* Does the server close the connection after this response? libevent 2.1's
 * client looks only at "Connection: close" and would send the next request
 * on a connection an HTTP/1.0 server (openssl ocsp) has closed, and fail it. */
static int server_closes(struct evhttp_request *req)
{
    const char *conn = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
    if (conn != NULL && evutil_ascii_strcasecmp(conn, "close") == 0)
        return 1;
    return (req->major < 1 || (req->major == 1 && req->minor == 0)) &&
           (conn == NULL || evutil_ascii_strcasecmp(conn, "keep-alive") != 0);
}

static void on_done(struct evhttp_request *req, void *arg)
{
    client *c = arg;
    run *r = c->run;
    double t = now_s();
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    int counted = r->measuring && c->sent_at >= r->t_measure;

    c->in_flight = 0;
    r->in_flight--;
    /* an earlier connection of this client is certainly done with by now */
    if (c->retired != NULL) {
        evhttp_connection_free(c->retired);
        c->retired = NULL;
    }
    /* A connection is never freed inside its own callback (libevent still
     * uses it after we return), so one that is done with is set aside and
     * freed on the next completion of this client, or at exit: with
     * --new-conn every one, with keep-alive one the server closes (the
     * next request gets a new connection). libevent's own
     * evhttp_connection_free_on_completion is not used: 2.1 does not free
     * on a refused connect, later versions do. */
    if (!r->keepalive || (code > 0 && server_closes(req))) {
        c->retired = c->conn;
        c->conn = NULL;
    }
    if (counted) {
        r->t_last = t;
        if (code > 0) {
            if (code < STATUS_MAX)
                r->status[code]++;
            else
                r->status_other++;
            h_add(&r->hist, (t - c->sent_at) * 1e6);
            r->resp_bytes += evbuffer_get_length(evhttp_request_get_input_buffer(req));
        } else {
            r->errors[c->error_kind >= 0 ? c->error_kind : ERR_CONNECT]++;
        }
    }
    if (req != NULL) /* drain the body; libevent frees req after we return */
        evbuffer_drain(evhttp_request_get_input_buffer(req),
                       evbuffer_get_length(evhttp_request_get_input_buffer(req)));
    if (r->stopping) {
        maybe_finish(r);
    } else if (code == 0) {
        /* a refused or broken connection: pause 10 ms rather than spin */
        struct timeval tv = {.tv_sec = 0, .tv_usec = 10000};
        evtimer_add(c->retry_ev, &tv);
    } else {
        client_send(c);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    client *c = arg;
    if (!c->run->stopping)
        client_send(c);
}

static const item *next_item(const item_list *l, uint64_t *counter, int *cycled)
{
    if (l->n == 0)
        return NULL;
    if (*counter >= l->n)
        *cycled = 1;
    return &l->v[(*counter)++ % l->n];
}

static void stop_run(run *r)
{
    if (r->stopping)
        return;
    r->stopping = 1;
    /* in-flight requests get their own timeout, and one second more */
    struct timeval tv = {.tv_sec = (time_t)r->timeout + 1, .tv_usec = 0};
    evtimer_add(r->grace_ev, &tv);
    maybe_finish(r);
}

static void client_send(client *c)
{
    run *r = c->run;
    struct evhttp_request *req;
    struct evkeyvalq *h;
    const item *body, *path;
    char num[32], hostport[300];

    if (r->max_requests > 0 && r->started >= r->max_requests) {
        stop_run(r);
        return;
    }
    if (c->conn == NULL) {
        c->conn = evhttp_connection_base_new(r->base, NULL, r->host, (unsigned short)r->port);
        if (c->conn == NULL) {
            fprintf(stderr, "http_load: cannot make a connection object\n");
            stop_run(r);
            return;
        }
        struct timeval tv = {.tv_sec = (time_t)r->timeout,
                             .tv_usec = (suseconds_t)((r->timeout - (double)(time_t)r->timeout) * 1e6)};
        evhttp_connection_set_timeout_tv(c->conn, &tv);
    }
    req = evhttp_request_new(on_done, c);
    if (req == NULL) {
        fprintf(stderr, "http_load: out of memory\n");
        stop_run(r);
        return;
    }
    evhttp_request_set_error_cb(req, on_error);
    h = evhttp_request_get_output_headers(req);
    snprintf(hostport, sizeof hostport, "%s:%d", r->host, r->port);
    int ok = evhttp_add_header(h, "Host", hostport) == 0;
    for (int i = 0; ok && i < r->nheaders; i++)
        ok = evhttp_add_header(h, r->headers[i][0], r->headers[i][1]) == 0;
    if (ok && !r->keepalive)
        ok = evhttp_add_header(h, "Connection", "close") == 0;
    body = next_item(&r->bodies, &r->next_body, &r->bodies_cycled);
    if (ok && body != NULL) {
        snprintf(num, sizeof num, "%zu", body->len);
        ok = evhttp_add_header(h, "Content-Length", num) == 0 &&
             evbuffer_add_reference(evhttp_request_get_output_buffer(req), body->data, body->len,
                                    NULL, NULL) == 0;
    }
    path = next_item(&r->paths, &r->next_path, &r->paths_cycled);
    if (!ok) {
        evhttp_request_free(req);
        fprintf(stderr, "http_load: cannot build a request\n");
        stop_run(r);
        return;
    }
    c->error_kind = -1;
    c->sent_at = now_s();
    c->in_flight = 1;
    r->in_flight++;
    r->started++;
    /* evhttp_make_request frees req itself when it fails */
    if (evhttp_make_request(c->conn, req, r->method, path != NULL ? path->data : r->path) != 0) {
        c->in_flight = 0;
        r->in_flight--;
        if (r->measuring)
            r->errors[ERR_CONNECT]++;
        fprintf(stderr, "http_load: cannot send a request\n");
        stop_run(r);
        return;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    stop_run(arg);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    run *r = arg;
    fprintf(stderr, "http_load: %d requests still in flight after the timeout; not counted\n",
            r->in_flight);
    event_base_loopbreak(r->base);
}

static void on_warm(evutil_socket_t fd, short what, void *arg)
{
    run *r = arg;
    struct timeval tv = {.tv_sec = (time_t)r->duration,
                         .tv_usec = (suseconds_t)((r->duration - (double)(time_t)r->duration) * 1e6)};
    r->measuring = 1;
    r->t_measure = now_s();
    r->t_last = r->t_measure;
    evtimer_add(r->deadline_ev, &tv);
}

/* ---- input ------------------------------------------------------------------ */

/* The whole of a file (at most FILE_MAX bytes), NUL-terminated. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        fprintf(stderr, "http_load: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - n < 65536) {
            if (cap >= FILE_MAX) {
                fprintf(stderr, "http_load: %s: larger than %u bytes\n", path, FILE_MAX);
                goto fail;
            }
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            if (ncap > FILE_MAX)
                ncap = FILE_MAX;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL)
                goto fail;
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "http_load: %s: read error\n", path);
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

static int list_add(item_list *l, char *data, size_t len)
{
    if (l->n >= ITEMS_MAX) {
        fprintf(stderr, "http_load: more than %u bodies or paths\n", ITEMS_MAX);
        free(data);
        return 0;
    }
    if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
        item *nv = realloc(l->v, (l->n == 0 ? 1 : l->n * 2) * sizeof *nv);
        if (nv == NULL) {
            free(data);
            return 0;
        }
        l->v = nv;
    }
    l->v[l->n].data = data;
    l->v[l->n].len = len;
    l->n++;
    return 1;
}

/* One item per non-empty line (a trailing \r is dropped). */
static int load_lines(item_list *l, const char *path)
{
    size_t len;
    char *all = read_file(path, &len), *p, *end;
    int ok = all != NULL;

    for (p = all; ok && p < all + len; p = end + 1) {
        end = memchr(p, '\n', (size_t)(all + len - p));
        if (end == NULL)
            end = all + len;
        size_t n = (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        char *copy = malloc(n + 1);
        if (copy == NULL) {
            ok = 0;
            break;
        }
        memcpy(copy, p, n);
        copy[n] = '\0';
        ok = list_add(l, copy, n);
    }
    free(all);
    if (ok && l->n == 0) {
        fprintf(stderr, "http_load: %s: no lines\n", path);
        ok = 0;
    }
    return ok;
}

static int load_dir(item_list *l, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort), ok = n >= 0;
    char path[4096];

    if (n < 0)
        fprintf(stderr, "http_load: %s: %s\n", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (ok && names[i]->d_name[0] != '.' &&
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < (int)sizeof path &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len;
            char *data = read_file(path, &len);
            ok = data != NULL && list_add(l, data, len);
        }
        free(names[i]);
    }
    free(names);
    if (ok && l->n == 0) {
        fprintf(stderr, "http_load: %s: no files\n", dir);
        ok = 0;
    }
    return ok;
}

static void list_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].data);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int parse_method(run *r, const char *m)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {{"GET", EVHTTP_REQ_GET},     {"POST", EVHTTP_REQ_POST},
                   {"PUT", EVHTTP_REQ_PUT},     {"DELETE", EVHTTP_REQ_DELETE},
                   {"HEAD", EVHTTP_REQ_HEAD},   {"PATCH", EVHTTP_REQ_PATCH},
                   {"OPTIONS", EVHTTP_REQ_OPTIONS}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, m) == 0) {
            r->method = methods[i].type;
            r->method_name = methods[i].name;
            return 1;
        }
    return 0;
}

static int parse_url(run *r, const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme, *host, *path, *query;
    int ok = 0;

    if (u == NULL)
        goto exit;
    scheme = evhttp_uri_get_scheme(u);
    host = evhttp_uri_get_host(u);
    if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL || host[0] == '\0' ||
        strlen(host) >= sizeof r->host)
        goto exit;
    snprintf(r->host, sizeof r->host, "%s", host);
    r->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    path = evhttp_uri_get_path(u);
    query = evhttp_uri_get_query(u);
    if (path == NULL || path[0] == '\0')
        path = "/";
    size_t n = strlen(path) + (query != NULL ? strlen(query) + 1 : 0) + 1;
    r->path = malloc(n);
    if (r->path == NULL)
        goto exit;
    snprintf(r->path, n, "%s%s%s", path, query != NULL ? "?" : "", query != NULL ? query : "");
    ok = 1;
exit:
    if (u != NULL)
        evhttp_uri_free(u);
    return ok;
}

static int parse_header(run *r, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg || r->nheaders >= HEADERS_MAX)
        return 0;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    r->headers[r->nheaders][0] = strndup(arg, (size_t)(colon - arg));
    r->headers[r->nheaders][1] = strdup(v);
    if (r->headers[r->nheaders][0] == NULL || r->headers[r->nheaders][1] == NULL) {
        free(r->headers[r->nheaders][0]);
        free(r->headers[r->nheaders][1]);
        return 0;
    }
    r->nheaders++;
    return 1;
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: http_load --url http://HOST:PORT/PATH [--method M] [--header 'K: V']...\n"
            "         [--body-file F | --bodies-file F | --bodies-dir D] [--paths-file F]\n"
            "         [--connections N] [--new-conn] [--duration S] [--warmup S]\n"
            "         [--max-requests N] [--timeout S] [--expect-status CODE] [--json]\n");
}

/* ---- report ------------------------------------------------------------------ */

static void report(const run *r, double elapsed, double cpu_s)
{
    uint64_t responses = r->hist.count, errors = 0, ok;
    for (int i = 0; i < ERR_KINDS; i++)
        errors += r->errors[i];
    ok = r->expect_status > 0 ? r->status[r->expect_status] : responses;
    double rps = elapsed > 0 ? (double)responses / elapsed : 0;
    double ok_rps = elapsed > 0 ? (double)ok / elapsed : 0;
    double mean = responses > 0 ? r->hist.sum_us / (double)responses : 0;

    if (r->json) {
        printf("{\"url\":\"%s\",\"method\":\"%s\",\"connections\":%d,\"keepalive\":%s,"
               "\"elapsed_s\":%.3f,\"responses\":%" PRIu64 ",\"rps\":%.1f,",
               r->url, r->method_name, r->connections, r->keepalive ? "true" : "false", elapsed,
               responses, rps);
        if (r->expect_status > 0)
            printf("\"expect_status\":%d,", r->expect_status);
        printf("\"ok\":%" PRIu64 ",\"ok_rps\":%.1f,\"latency_us\":{\"mean\":%.0f,\"p50\":%" PRIu64
               ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"status\":{",
               ok, ok_rps, mean, h_percentile(&r->hist, 50), h_percentile(&r->hist, 90),
               h_percentile(&r->hist, 99), r->hist.max_us);
        const char *sep = "";
        for (int i = 0; i < STATUS_MAX; i++)
            if (r->status[i] > 0) {
                printf("%s\"%d\":%" PRIu64, sep, i, r->status[i]);
                sep = ",";
            }
        if (r->status_other > 0)
            printf("%s\"other\":%" PRIu64, sep, r->status_other);
        printf("},\"errors\":%" PRIu64 ",\"error_kinds\":{", errors);
        sep = "";
        for (int i = 0; i < ERR_KINDS; i++)
            if (r->errors[i] > 0) {
                printf("%s\"%s\":%" PRIu64, sep, err_names[i], r->errors[i]);
                sep = ",";
            }
        printf("},\"bodies\":%zu,\"bodies_cycled\":%s,\"paths\":%zu,\"paths_cycled\":%s,"
               "\"response_bytes\":%" PRIu64 ",\"client_cpu_s\":%.3f}\n",
               r->bodies.n, r->bodies_cycled ? "true" : "false", r->paths.n,
               r->paths_cycled ? "true" : "false", r->resp_bytes, cpu_s);
        return;
    }
    printf("%s %s, %d connection%s, %s\n", r->method_name, r->url, r->connections,
           r->connections == 1 ? "" : "s",
           r->keepalive ? "keep-alive" : "a new connection per request");
    printf("  %" PRIu64 " responses in %.3f s = %.1f/s", responses, elapsed, rps);
    if (r->expect_status > 0)
        printf("; %" PRIu64 " with status %d = %.1f/s", ok, r->expect_status, ok_rps);
    printf("\n  latency us: mean %.0f, p50 %" PRIu64 ", p90 %" PRIu64 ", p99 %" PRIu64
           ", max %" PRIu64 "\n  status:",
           mean, h_percentile(&r->hist, 50), h_percentile(&r->hist, 90),
           h_percentile(&r->hist, 99), r->hist.max_us);
    for (int i = 0; i < STATUS_MAX; i++)
        if (r->status[i] > 0)
            printf(" %d x%" PRIu64, i, r->status[i]);
    if (r->status_other > 0)
        printf(" other x%" PRIu64, r->status_other);
    printf("\n  errors: %" PRIu64, errors);
    for (int i = 0; i < ERR_KINDS; i++)
        if (r->errors[i] > 0)
            printf(" %s x%" PRIu64, err_names[i], r->errors[i]);
    printf("\n");
    if (r->bodies.n > 0)
        printf("  bodies: %zu%s\n", r->bodies.n, r->bodies_cycled ? " (cycled: some sent twice)" : "");
    if (r->paths.n > 0)
        printf("  paths: %zu%s\n", r->paths.n, r->paths_cycled ? " (cycled)" : "");
    printf("  client CPU: %.3f s (%.0f%% of one CPU)\n", cpu_s,
           elapsed > 0 ? 100.0 * cpu_s / elapsed : 0.0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"method", required_argument, NULL, 'm'},
        {"header", required_argument, NULL, 'H'},
        {"body-file", required_argument, NULL, 'b'},
        {"bodies-file", required_argument, NULL, 'B'},
        {"bodies-dir", required_argument, NULL, 'D'},
        {"paths-file", required_argument, NULL, 'P'},
        {"connections", required_argument, NULL, 'c'},
        {"new-conn", no_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"max-requests", required_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 't'},
        {"expect-status", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static run R; /* large (the histogram); zeroed */
    run *r = &R;
    const char *body_file = NULL, *bodies_file = NULL, *bodies_dir = NULL, *paths_file = NULL;
    int c, rc = 2, nbody_opts = 0;
    char *end;

    r->connections = 1;
    r->keepalive = 1;
    r->duration = 10;
    r->timeout = 10;
    r->method = EVHTTP_REQ_GET;
    r->method_name = "GET";
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': r->url = optarg; break;
        case 'm':
            if (!parse_method(r, optarg)) {
                fprintf(stderr, "http_load: unknown method %s\n", optarg);
                goto exit;
            }
            break;
        case 'H':
            if (!parse_header(r, optarg)) {
                fprintf(stderr, "http_load: --header 'Name: value' (at most %d)\n", HEADERS_MAX);
                goto exit;
            }
            break;
        case 'b': body_file = optarg; nbody_opts++; break;
        case 'B': bodies_file = optarg; nbody_opts++; break;
        case 'D': bodies_dir = optarg; nbody_opts++; break;
        case 'P': paths_file = optarg; break;
        case 'c': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *end != '\0' || v < 1 || v > CONN_MAX) {
                fprintf(stderr, "http_load: --connections is 1..%d\n", CONN_MAX);
                goto exit;
            }
            r->connections = (int)v;
            break;
        }
        case 'n': r->keepalive = 0; break;
        case 'd':
            if (!parse_seconds(optarg, 0.1, DURATION_MAX, &r->duration)) {
                fprintf(stderr, "http_load: --duration is 0.1..%.0f seconds\n", DURATION_MAX);
                goto exit;
            }
            break;
        case 'w':
            if (!parse_seconds(optarg, 0, DURATION_MAX, &r->warmup)) {
                fprintf(stderr, "http_load: --warmup is 0..%.0f seconds\n", DURATION_MAX);
                goto exit;
            }
            break;
        case 't':
            if (!parse_seconds(optarg, 0.1, 600, &r->timeout)) {
                fprintf(stderr, "http_load: --timeout is 0.1..600 seconds\n");
                goto exit;
            }
            break;
        case 'N': {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *optarg == '-' || *end != '\0' || v < 1) {
                fprintf(stderr, "http_load: --max-requests is a positive count\n");
                goto exit;
            }
            r->max_requests = v;
            break;
        }
        case 'e': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || *optarg == '\0' || *end != '\0' || v < 100 || v >= STATUS_MAX) {
                fprintf(stderr, "http_load: --expect-status is 100..599\n");
                goto exit;
            }
            r->expect_status = (int)v;
            break;
        }
        case 'j': r->json = 1; break;
        case 'h': usage(stdout); rc = 0; goto exit;
        default: usage(stderr); goto exit;
        }
    }
    if (optind != argc || r->url == NULL || nbody_opts > 1) {
        usage(stderr);
        goto exit;
    }
    if (!parse_url(r, r->url)) {
        fprintf(stderr, "http_load: --url must be http://HOST[:PORT][/PATH]\n");
        goto exit;
    }
    rc = 1;
    if (body_file != NULL) {
        size_t len;
        char *data = read_file(body_file, &len);
        if (data == NULL || !list_add(&r->bodies, data, len))
            goto exit;
    }
    if ((bodies_file != NULL && !load_lines(&r->bodies, bodies_file)) ||
        (bodies_dir != NULL && !load_dir(&r->bodies, bodies_dir)) ||
        (paths_file != NULL && !load_lines(&r->paths, paths_file)))
        goto exit;

    signal(SIGPIPE, SIG_IGN);
    r->base = event_base_new();
    r->clients = calloc((size_t)r->connections, sizeof *r->clients);
    if (r->base == NULL || r->clients == NULL ||
        (r->deadline_ev = evtimer_new(r->base, on_deadline, r)) == NULL ||
        (r->grace_ev = evtimer_new(r->base, on_grace, r)) == NULL ||
        (r->warm_ev = evtimer_new(r->base, on_warm, r)) == NULL) {
        fprintf(stderr, "http_load: out of memory\n");
        goto exit;
    }
    if (r->warmup > 0) {
        struct timeval tv = {.tv_sec = (time_t)r->warmup,
                             .tv_usec = (suseconds_t)((r->warmup - (double)(time_t)r->warmup) * 1e6)};
        evtimer_add(r->warm_ev, &tv);
    } else {
        on_warm(-1, 0, r);
    }
    for (int i = 0; i < r->connections; i++) {
        r->clients[i].run = r;
        r->clients[i].retry_ev = evtimer_new(r->base, on_retry, &r->clients[i]);
        if (r->clients[i].retry_ev == NULL) {
            fprintf(stderr, "http_load: out of memory\n");
            goto exit;
        }
    }
    for (int i = 0; i < r->connections && !r->stopping; i++)
        client_send(&r->clients[i]);
    event_base_dispatch(r->base);

    double elapsed = r->measuring ? r->t_last - r->t_measure : 0;
    struct rusage ru;
    double cpu_s = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    report(r, elapsed, cpu_s);
    fflush(stdout);
    rc = (r->expect_status > 0 ? r->status[r->expect_status] : r->hist.count) > 0 ? 0 : 1;
exit:
    if (r->clients != NULL) {
        /* (freeing a connection with a request in flight drops the request
         * without calling back) */
        for (int i = 0; i < r->connections; i++) {
            if (r->clients[i].conn != NULL)
                evhttp_connection_free(r->clients[i].conn);
            if (r->clients[i].retired != NULL)
                evhttp_connection_free(r->clients[i].retired);
            if (r->clients[i].retry_ev != NULL)
                event_free(r->clients[i].retry_ev);
        }
        free(r->clients);
    }
    if (r->deadline_ev != NULL)
        event_free(r->deadline_ev);
    if (r->grace_ev != NULL)
        event_free(r->grace_ev);
    if (r->warm_ev != NULL)
        event_free(r->warm_ev);
    if (r->base != NULL)
        event_base_free(r->base);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i][0]);
        free(r->headers[i][1]);
    }
    list_free(&r->bodies);
    list_free(&r->paths);
    free(r->path);
    return rc;
}
