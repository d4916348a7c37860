/*
 * auth_bench: device authentications per second against vouchd, end to
 * end over HTTP/1.1 keep-alive (docs/auth-protocol.md), with many devices.
 *
 *   auth_bench --make-ca DIR
 *       writes DIR/family.pem and DIR/family.key: an outside family CA
 *       (P-256) for the devices, to be enrolled and verified on vouchd
 *       (bench/auth_bench.sh does it with `vouch family`).
 *   auth_bench --ca DIR --url http://127.0.0.1:PORT [--devices N]
 *              [--connections C] [--duration S] [--warmup S] [--json]
 *       makes N device keys and certificates under that CA in memory
 *       (CN=bench-00000 ...), then C connections each run a closed loop:
 *       POST /v1/auth/challenge with the next device's chain, sign the
 *       vouch-auth-v1 digest with the device key, POST /v1/auth/response.
 *       One authentication = both requests answered 200. The warm-up
 *       authenticates every device at least once (their records are made
 *       just in time then) and 8 times the number of devices in all, for
 *       at least --warmup seconds; it is not counted.
 *       --server-pid PID: also the server's CPU time (user + system, from
 *       /proc) over the measured seconds, per authentication.
 *   auth_bench --verify-cost [--seconds S]
 *       ECDSA P-256 verifications per second of this OpenSSL, one thread,
 *       through EVP_PKEY_verify as vouchd calls it.
 *
 * The device keys are OpenSSL keys in this process, not secure elements:
 * the subject of the measurement is the server. The origin signed is the
 * --url's (vouchd must run with the same --public-url).
 *
 * HTTP is libevent's evhttp, JSON jansson's, signatures OpenSSL's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DEVICES_MAX 100000
#define CONN_MAX 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) of process pid so far, from /proc; -1 when
 * unreadable. */
static double proc_cpu(long pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what)
{
    fprintf(stderr, "auth_bench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static EVP_PKEY *p256_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        die("cannot make a P-256 key");
    return k;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    BIGNUM *bn = BN_new();
    X509V3_CTX v3;
    if (!x || !n || !bn || !BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_subject_name(x, n) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) || !X509_set_pubkey(x, key))
        die("cannot build a certificate");
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
                                             ca ? "critical,keyCertSign,cRLSign"
                                                : "critical,digitalSignature");
    if (!bc || !ku || !X509_add_ext(x, bc, -1) || !X509_add_ext(x, ku, -1))
        die("cannot build a certificate");
    /* key identifiers: RFC 5280 wants them, and strict chain checks too */
    X509_EXTENSION *ski = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
    if (!ski || !X509_add_ext(x, ski, -1))
        die("cannot add the subject key identifier");
    X509_EXTENSION_free(ski);
    if (issuer) {
        X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
                                                  "keyid:always");
        if (!aki || !X509_add_ext(x, aki, -1))
            die("cannot add the authority key identifier");
        X509_EXTENSION_free(aki);
    }
    if (!X509_sign(x, issuer_key, EVP_sha256()))
        die("cannot sign a certificate");
    X509_EXTENSION_free(bc);
    X509_EXTENSION_free(ku);
    X509_NAME_free(n);
    BN_free(bn);
    return x;
}

static void write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || (x && !PEM_write_X509(f, x)) ||
        (k && !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)) || fclose(f) != 0)
        die("cannot write a PEM file");
}

static void *read_pem(const char *dir, const char *name, int key)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    void *v = f ? (key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                       : (void *)PEM_read_X509(f, NULL, NULL, NULL))
                : NULL;
    if (f)
        fclose(f);
    if (!v)
        die("cannot read the family CA (run --make-ca DIR first)");
    return v;
}

/* ---- the load ---------------------------------------------------------------------- */

typedef struct device {
    EVP_PKEY *key;
    uint8_t leaf_sha[32];
    char *body; /* the challenge request body */
    size_t body_len;
    int warmed; /* authenticated during the warm-up */
} device;

typedef struct run run;
typedef struct conn {
    run *r;
    struct evhttp_connection *c;
    device *dev;
    int step; /* 0 challenge, 1 response */
    double t0;
    char *resp; /* response body being sent */
} conn;

struct run {
    struct event_base *base;
    char host[256];
    int port;
    char origin[300];
    device *dev;
    size_t ndev, next;
    conn *conns;
    int nconn, in_flight, stopping, measuring;
    size_t warm_done, warm_total; /* devices authenticated during the warm-up, at least
                                   * once; authentications then */
    double t_measure;
    unsigned long long ok, refused[600], errors;
    double lat_sum;
    double *lat;
    size_t nlat, lat_cap;
    char last_error[256];
};

static void conn_next(conn *k);

static void maybe_finish(run *r)
{
    if (r->stopping && r->in_flight == 0)
        event_base_loopbreak(r->base);
}

static void send_req(conn *k, const char *path, const char *body, size_t len);

static char *b64(const uint8_t *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    conn *k = arg;
    run *r = k->r;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
    size_t n = in ? evbuffer_get_length(in) : 0;
    json_t *j = n ? json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, NULL) : NULL;
    r->in_flight--;
    free(k->resp);
    k->resp = NULL;
    int counted = r->measuring && k->t0 >= r->t_measure;
    if (code != 200) {
        if (counted) {
            if (code > 0 && code < 600)
                r->refused[code]++;
            else
                r->errors++;
        }
        json_t *e = json_object_get(json_object_get(j, "error"), "code");
        snprintf(r->last_error, sizeof r->last_error, "HTTP %d %s at step %d", code,
                 json_string_value(e) ? json_string_value(e) : "", k->step);
        json_decref(j);
        k->step = 0; /* a broken connection: evhttp reconnects on the next request */
        if (r->stopping)
            maybe_finish(r);
        else
            conn_next(k);
        return;
    }
    if (k->step == 0) {
        const char *cid = json_string_value(json_object_get(j, "challenge_id"));
        const char *ch = json_string_value(json_object_get(j, "challenge"));
        uint8_t chal[48], msg[512], dg[32], sig[80];
        size_t sl = sizeof sig;
        int cl = ch ? EVP_DecodeBlock(chal, (const unsigned char *)ch, (int)strlen(ch)) : -1;
        size_t ol = strlen(r->origin), ml = 0;
        if (!cid || cl < 32)
            die("a challenge answer without challenge_id or challenge");
        memcpy(msg, "vouch-auth-v1", 14); /* with its 0 byte */
        ml = 14;
        memcpy(msg + ml, r->origin, ol + 1);
        ml += ol + 1;
        memcpy(msg + ml, chal, 32);
        ml += 32;
        memcpy(msg + ml, k->dev->leaf_sha, 32);
        ml += 32;
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k->dev->key, NULL);
        if (!EVP_Digest(msg, ml, dg, NULL, EVP_sha256(), NULL) || !pc ||
            EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_sign(pc, sig, &sl, dg, 32) != 1)
            die("cannot sign a challenge");
        EVP_PKEY_CTX_free(pc);
        char *s = b64(sig, sl);
        json_t *b = json_pack("{s:s,s:s}", "challenge_id", cid, "signature", s);
        free(s);
        k->resp = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        json_decref(j);
        if (r->stopping) {
            maybe_finish(r);
            return;
        }
        k->step = 1;
        send_req(k, "/v1/auth/response", k->resp, strlen(k->resp));
        return;
    }
    json_decref(j);
    k->step = 0;
    if (!r->measuring) {
        r->warm_total++;
        if (!k->dev->warmed) {
            k->dev->warmed = 1;
            r->warm_done++;
        }
    } else if (counted) {
        double l = now_s() - k->t0;
        r->ok++;
        r->lat_sum += l;
        if (r->nlat == r->lat_cap) {
            r->lat_cap = r->lat_cap ? 2 * r->lat_cap : 65536;
            r->lat = realloc(r->lat, r->lat_cap * sizeof *r->lat);
            if (!r->lat)
                die("out of memory");
        }
        r->lat[r->nlat++] = l;
    }
    if (r->stopping)
        maybe_finish(r);
    else
        conn_next(k);
}

static void send_req(conn *k, const char *path, const char *body, size_t len)
{
    run *r = k->r;
    if (!k->c) {
        k->c = evhttp_connection_base_new(r->base, NULL, r->host, (unsigned short)r->port);
        if (!k->c)
            die("cannot make a connection");
        evhttp_connection_set_timeout(k->c, 30);
    }
    struct evhttp_request *req = evhttp_request_new(on_done, k);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hp[300], num[24];
    snprintf(hp, sizeof hp, "%s:%d", r->host, r->port);
    snprintf(num, sizeof num, "%zu", len);
    evhttp_add_header(h, "Host", hp);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Content-Length", num);
    evbuffer_add_reference(evhttp_request_get_output_buffer(req), body, len, NULL, NULL);
    r->in_flight++;
    if (evhttp_make_request(k->c, req, EVHTTP_REQ_POST, path) != 0)
        die("cannot send a request");
}

static void conn_next(conn *k)
{
    run *r = k->r;
    k->dev = &r->dev[r->next++ % r->ndev];
    k->t0 = now_s();
    k->step = 0;
    send_req(k, "/v1/auth/challenge", k->dev->body, k->dev->body_len);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run *r = arg;
    r->stopping = 1;
    maybe_finish(r);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(run *r, double p)
{
    if (!r->nlat)
        return 0;
    size_t i = (size_t)(p * (double)(r->nlat - 1));
    return r->lat[i] * 1e3;
}

/* Run the loop until `seconds` passed (and, unless measuring, every device
 * was authenticated once). */
static void phase(run *r, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    struct event *t = evtimer_new(r->base, on_tick, r);
    r->stopping = 0;
    evtimer_add(t, &tv);
    for (int i = 0; i < r->nconn; i++)
        conn_next(&r->conns[i]);
    event_base_dispatch(r->base);
    event_free(t);
    /* the loop broke with nothing in flight: every connection is idle */
}

static double verify_cost(double seconds)
{
    EVP_PKEY *k = p256_key();
    uint8_t dg[32] = {1}, sig[80];
    size_t sl = sizeof sig;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k, NULL);
    if (!pc || EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_sign(pc, sig, &sl, dg, 32) != 1)
        die("sign");
    EVP_PKEY_CTX_free(pc);
    unsigned long n = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < 100; i++, n++) {
            /* as vouchd does it: a context from the key, init, verify */
            EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
            if (!v || EVP_PKEY_verify_init(v) != 1 || EVP_PKEY_verify(v, sig, sl, dg, 32) != 1)
                die("verify");
            EVP_PKEY_CTX_free(v);
        }
    }
    double c = cpu_s() - c0;
    EVP_PKEY_free(k);
    return (double)n / c;
}

static void usage(void)
{
    fputs("usage: auth_bench --make-ca DIR\n"
          "       auth_bench --ca DIR --url http://HOST:PORT [--devices N] [--connections C]\n"
          "                  [--duration S] [--warmup S] [--server-pid PID] [--json]\n"
          "       auth_bench --verify-cost [--seconds S]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"make-ca", required_argument, NULL, 'm'}, {"ca", required_argument, NULL, 'c'},
        {"url", required_argument, NULL, 'u'},     {"devices", required_argument, NULL, 'n'},
        {"connections", required_argument, NULL, 'k'}, {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},  {"json", no_argument, NULL, 'j'},
        {"verify-cost", no_argument, NULL, 'v'},   {"seconds", required_argument, NULL, 's'},
        {"server-pid", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *make = NULL, *cadir = NULL, *url = NULL;
    long ndev = 1000, nconn = 32, spid = 0;
    double duration = 10, warmup = 2, seconds = 3;
    int json = 0, vc = 0, o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'm': make = optarg; break;
        case 'c': cadir = optarg; break;
        case 'u': url = optarg; break;
        case 'n': ndev = strtol(optarg, NULL, 10); break;
        case 'k': nconn = strtol(optarg, NULL, 10); break;
        case 'd': duration = strtod(optarg, NULL); break;
        case 'w': warmup = strtod(optarg, NULL); break;
        case 's': seconds = strtod(optarg, NULL); break;
        case 'j': json = 1; break;
        case 'p': spid = strtol(optarg, NULL, 10); break;
        case 'v': vc = 1; break;
        default: usage();
        }
    }
    if (vc) {
        double v = verify_cost(seconds > 0 && seconds < 600 ? seconds : 3);
        if (json)
            printf("{\"verify_per_cpu_second\":%.0f,\"verify_us\":%.2f}\n", v, 1e6 / v);
        else
            printf("P-256 verify (EVP, one thread): %.0f/s of CPU, %.2f us each\n", v, 1e6 / v);
        return 0;
    }
    if (make) {
        EVP_PKEY *k = p256_key();
        X509 *ca = make_cert(k, "vouch bench family CA", NULL, k, 1);
        write_pem(make, "family.pem", ca, NULL);
        write_pem(make, "family.key", NULL, k);
        X509_free(ca);
        EVP_PKEY_free(k);
        return 0;
    }
    if (!cadir || !url || ndev < 1 || ndev > DEVICES_MAX || nconn < 1 || nconn > CONN_MAX ||
        duration <= 0 || duration > 3600 || warmup < 0 || warmup > 600)
        usage();
    run r;
    memset(&r, 0, sizeof r);
    if (sscanf(url, "http://%255[^:/]:%d", r.host, &r.port) != 2 || r.port < 1 || r.port > 65535)
        die("--url must be http://HOST:PORT");
    snprintf(r.origin, sizeof r.origin, "http://%s:%d", r.host, r.port);
    X509 *ca = read_pem(cadir, "family.pem", 0);
    EVP_PKEY *cak = read_pem(cadir, "family.key", 1);
    unsigned char *cader = NULL;
    int calen = i2d_X509(ca, &cader);
    char *ca64 = b64(cader, (size_t)calen);
    r.ndev = (size_t)ndev;
    r.dev = calloc(r.ndev, sizeof *r.dev);
    if (!r.dev || !ca64)
        die("out of memory");
    double t0 = now_s();
    for (size_t i = 0; i < r.ndev; i++) {
        char cn[32];
        snprintf(cn, sizeof cn, "bench-%05zu", i);
        r.dev[i].key = p256_key();
        X509 *x = make_cert(r.dev[i].key, cn, ca, cak, 0);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        EVP_Digest(der, (size_t)len, r.dev[i].leaf_sha, NULL, EVP_sha256(), NULL);
        char *l64 = b64(der, (size_t)len);
        size_t bl = strlen(l64) + strlen(ca64) + 40;
        r.dev[i].body = malloc(bl);
        r.dev[i].body_len =
            (size_t)snprintf(r.dev[i].body, bl, "{\"certificates\":[\"%s\",\"%s\"]}", l64, ca64);
        free(l64);
        OPENSSL_free(der);
        X509_free(x);
    }
    fprintf(stderr, "auth_bench: %zu devices made in %.1f s\n", r.ndev, now_s() - t0);
    r.base = event_base_new();
    r.nconn = (int)nconn;
    r.conns = calloc((size_t)nconn, sizeof *r.conns);
    if (!r.base || !r.conns)
        die("out of memory");
    for (int i = 0; i < r.nconn; i++)
        r.conns[i].r = &r;

    /* warm-up: every device at least once (its record is made just in
     * time then, a durable write), and 8 times the devices in all, so that
     * each worker has most chains in its cache (a connection stays on one
     * worker, devices go round all connections) */
    double tw = now_s();
    do {
        phase(&r, warmup > 0.5 ? warmup : 0.5);
    } while ((r.warm_done < r.ndev || r.warm_total < 8 * r.ndev) && now_s() - tw < 120);
    if (r.warm_done < r.ndev)
        fprintf(stderr, "auth_bench: warm-up authenticated only %zu of %zu devices (%s)\n",
                r.warm_done, r.ndev, r.last_error);
    r.measuring = 1;
    r.t_measure = now_s();
    double c0 = cpu_s(), s0 = spid ? proc_cpu(spid) : -1;
    phase(&r, duration);
    double el = now_s() - r.t_measure, cpu = cpu_s() - c0;
    double scpu = s0 >= 0 ? proc_cpu(spid) - s0 : -1;
    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_d);
    unsigned long long refused = 0;
    for (int i = 0; i < 600; i++)
        refused += r.refused[i];
    if (json) {
        printf("{\"auth_per_s\":%.1f,\"ok\":%llu,\"refused\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
               "\"devices\":%zu,\"connections\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"max_ms\":%.3f,\"client_cpu_s\":%.3f,\"server_cpu_s\":%.3f,"
               "\"server_cpu_us_per_auth\":%.2f}\n",
               (double)r.ok / el, r.ok, refused, r.errors, el, r.ndev, r.nconn, pct(&r, 0.5),
               pct(&r, 0.99), pct(&r, 1.0), cpu, scpu, r.ok && scpu >= 0 ? scpu * 1e6 / (double)r.ok : -1);
    } else {
        printf("%.1f authentications/s (%llu in %.2f s), %zu devices, %d connections\n",
               (double)r.ok / el, r.ok, el, r.ndev, r.nconn);
        printf("latency (challenge + response): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               pct(&r, 0.5), pct(&r, 0.99), pct(&r, 1.0));
        printf("refused %llu, transport errors %llu; client CPU %.2f s\n", refused, r.errors,
               cpu);
        if (scpu >= 0 && r.ok)
            printf("server CPU %.2f s: %.1f us per authentication\n", scpu,
                   scpu * 1e6 / (double)r.ok);
    }
    if (refused || r.errors)
        fprintf(stderr, "auth_bench: last failure: %s\n", r.last_error);
    return r.ok ? 0 : 1;
}
