/*
 * vouchd: the vouch server. Options, the data directory, the listening
 * socket, worker threads and signals. The HTTP layer is in http.c, the
 * handlers in handlers_*.c; the API is documented in docs/api.md.
 *
 * Threads. N workers (default: one per online core), each with its own
 * event base, evhttp and store connection, all accepting on ONE listening
 * socket that is bound once, here, and handed to every worker's evhttp with
 * evhttp_accept_socket_with_handle (each gets its own dup() of the fd,
 * because an evhttp closes the fd it listens on when freed). Why one socket
 * and not one SO_REUSEPORT socket per thread:
 *   - a second vouchd on the same port fails with EADDRINUSE, as it must;
 *     with SO_REUSEPORT a second server of the same user would bind too and
 *     silently take a share of the connections;
 *   - --listen HOST:0 binds one ephemeral port that all workers share, and
 *     that port is printed for the caller (the tests use it);
 *   - an idle worker picks up the next connection (one accept queue), where
 *     SO_REUSEPORT hashes connections to a fixed socket whether its thread
 *     is busy or not.
 * The cost: a new connection wakes every idle worker; one accept() wins,
 * the others get EAGAIN, which libevent's listener ignores. Revisit with
 * SO_REUSEPORT (and a port lock) if profiling ever shows it.
 * The main thread only waits for SIGTERM/SIGINT (sigwait; the signals are
 * blocked in every thread), then breaks every loop, joins the workers and
 * frees everything.
 *
 * Exit statuses: 0 clean shutdown, 1 runtime failure (cannot listen, TLS
 * files unusable, a worker failed), 2 usage, 5 DIR is not a usable vouch
 * data directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pki/pki.h"
#include "server/commit.h"
#include "server/http.h"

#ifdef VOUCHD_MIMALLOC
#include <mimalloc.h>
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_DATA 5
#define THREADS_MAX 256
#define MASTER_KEY_LEN 32

static const char usage_text[] =
    "usage: vouchd --data DIR --listen HOST:PORT --public-url URL [--threads N]\n"
    "              [--tls-cert FILE --tls-key FILE] [--challenge-ttl SECONDS] [--help]\n"
    "\n"
    "The vouch server: serves the CA data directory DIR (made by 'vouch ca init')\n"
    "over a JSON API under /v1/ (docs/api.md).\n"
    "\n"
    "  --data DIR         the CA data directory (master.key, vouch.db)\n"
    "  --listen HOST:PORT address to listen on, e.g. 127.0.0.1:8443 or [::1]:8443;\n"
    "                     port 0 picks a free port (printed on stderr)\n"
    "  --public-url URL   the base URL clients reach this server at (http:// or\n"
    "                     https://); it goes into issued certificates (CRL, OCSP),\n"
    "                     and its origin (scheme://host:port) is what devices\n"
    "                     sign when they authenticate: configure devices with it\n"
    "  --threads N        worker threads, 1..256 (default: number of cores)\n"
    "  --tls-cert FILE    serve HTTPS (TLS 1.2 and 1.3 only) with this PEM\n"
    "                     certificate chain, leaf first ...\n"
    "  --tls-key FILE     ... and this PEM private key\n"
    "  --challenge-ttl SECONDS\n"
    "                     how long a device authentication challenge can be\n"
    "                     answered, 1..300 (default 30)\n"
    "  --help             this text\n"
    "\n"
    "Once listening it prints 'vouchd: listening on http[s]://HOST:PORT ...' on\n"
    "stderr. SIGTERM or SIGINT: finish, close every connection, exit 0.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  clean shutdown after SIGTERM or SIGINT\n"
    "    1  runtime failure: cannot listen (address in use), TLS files unusable,\n"
    "       a worker failed\n"
    "    2  usage error\n"
    "    5  DIR is not a usable vouch data directory\n";

static atomic_int g_stopping;
static atomic_int g_worker_failed;

__attribute__((format(printf, 1, 2))) static int usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vouchd: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vouchd --help'.\n");
    return EXIT_USAGE;
}

/* ---- the data directory -------------------------------------------------------- */

static int issuer_count_cb(void *ctx, const vouch_store_issuer *is)
{
    (*(int *)ctx)++;
    return 0;
}

/* DIR must look like what `vouch ca init` made: a directory with a 32-byte
 * master.key and a non-empty vouch.db (checked before opening it, because
 * opening would create a missing database). */
static int check_data_dir(const char *dir, char *db, size_t dbsize)
{
    char mk[PATH_MAX];
    struct stat sb;
    static const char hint[] = "create one with 'vouch ca init --data DIR --org NAME'";
    if (stat(dir, &sb) != 0) {
        vouchd_log("cannot open data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        vouchd_log("%s is not a directory; %s", dir, hint);
        return -1;
    }
    int k1 = snprintf(db, dbsize, "%s/vouch.db", dir);
    int k2 = snprintf(mk, sizeof mk, "%s/master.key", dir);
    if (k1 < 0 || (size_t)k1 >= dbsize || k2 < 0 || (size_t)k2 >= sizeof mk) {
        vouchd_log("data directory path too long: %s", dir);
        return -1;
    }
    if (stat(db, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        vouchd_log("%s is not a vouch data directory (no vouch.db); %s", dir, hint);
        return -1;
    }
    if (stat(mk, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        vouchd_log("%s is not a vouch data directory (no master.key); %s", dir, hint);
        return -1;
    }
    if (sb.st_size != MASTER_KEY_LEN) {
        vouchd_log("%s is %lld bytes, a master key is %d", mk, (long long)sb.st_size,
                   MASTER_KEY_LEN);
        return -1;
    }
    if (access(mk, R_OK) != 0) {
        vouchd_log("cannot read %s: %s", mk, strerror(errno));
        return -1;
    }
    return 0;
}

/* The CA key passphrase and the device session token key from
 * DIR/master.key, read under the CLI's rules (a regular file of exactly 32
 * bytes). */
static int load_ca_pass(const char *dir, char *out, size_t out_size, uint8_t session_key[32])
{
    char mk[PATH_MAX];
    uint8_t buf[MASTER_KEY_LEN + 1];
    ssize_t n = 0, k;
    int ret = -1;
    snprintf(mk, sizeof mk, "%s/master.key", dir);
    int fd = open(mk, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        vouchd_log("cannot open %s: %s", mk, strerror(errno));
        return -1;
    }
    while ((size_t)n < sizeof buf && (k = read(fd, buf + n, sizeof buf - (size_t)n)) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            vouchd_log("cannot read %s: %s", mk, strerror(errno));
            goto out;
        }
        n += k;
    }
    if (n != MASTER_KEY_LEN) {
        vouchd_log("%s is not %d bytes, a master key is %d", mk, MASTER_KEY_LEN, MASTER_KEY_LEN);
        goto out;
    }
    if (vouch_pki_ca_passphrase(buf, MASTER_KEY_LEN, out, out_size) != VOUCH_PKI_OK ||
        vouchd_auth_derive_key(buf, MASTER_KEY_LEN, session_key) != 0) {
        vouchd_log("cannot derive the CA key passphrase and session key from %s", mk);
        goto out;
    }
    ret = 0;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return ret;
}

/* ---- listening ------------------------------------------------------------------- */

/* HOST:PORT with an explicit port (0 = any free one), HOST a numeric IPv4
 * address or a bracketed IPv6 one. (evutil_parse_sockaddr_port refuses
 * port 0, hence by hand.) */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *sslen)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (!colon || hl == 0 || hl >= sizeof host || !colon[1] || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    int port = atoi(colon + 1);
    if (port > 65535)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        if (evutil_inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sslen = (int)sizeof *s6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (evutil_inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *sslen = (int)sizeof *s4;
    return 0;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        snprintf(out, n, "[%s]:%u", a, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        snprintf(out, n, "%s:%u", a, ntohs(s4->sin_port));
    }
}

static int open_listener(const char *spec, const struct sockaddr_storage *ss, int sslen)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        vouchd_log("cannot create a socket: %s", strerror(errno));
        return -1;
    }
    /* SO_REUSEADDR only lets a restart bind while old connections sit in
     * TIME_WAIT; on Linux it does not let two servers listen on one port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        vouchd_log("cannot listen on %s: %s%s", spec, strerror(e),
                   e == EADDRINUSE ? " (another vouchd or another program uses this port)"
                                   : "");
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- TLS ----------------------------------------------------------------------------- */

static void log_ssl_error(const char *what, const char *file)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    vouchd_log("%s %s%s%s", what, file, *buf ? ": " : "", buf);
}

static SSL_CTX *tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        log_ssl_error("cannot make a TLS context", "");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        log_ssl_error("cannot require TLS 1.2", "");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        log_ssl_error("cannot use the TLS certificate chain in", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        log_ssl_error("cannot use the TLS private key in", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_error("the TLS key does not match the certificate in", cert);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* evhttp's bufferevent factory, called for every accepted connection: in
 * HTTPS mode a TLS server connection. The connection is counted for the
 * worker's share (conns.c). (If this returns NULL, out of memory, libevent
 * 2.1 falls back to a plain socket bufferevent; in HTTPS mode the client's
 * ClientHello then fails to parse as HTTP and the connection is closed with
 * a 400.) */
static struct bufferevent *conn_bev(struct event_base *base, void *arg)
{
    vouchd_worker *w = arg;
    struct bufferevent *bev = NULL;
    if (w->ssl) {
        SSL *ssl = SSL_new(w->ssl);
        if (ssl) {
            bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
            if (bev)
                bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
            else
                SSL_free(ssl);
        }
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    w->accepted++;
    vouchd_conns_accepted(w, bev);
    return bev;
}

/* ---- workers ---------------------------------------------------------------------- */

/* Which malloc serves the process, for the start line. mi_version() also
 * keeps the link to libmimalloc (and so its malloc) when it is used. */
static const char *allocator(void)
{
#ifdef VOUCHD_MIMALLOC
    static char buf[48];
    int v = mi_version();
    snprintf(buf, sizeof buf, "malloc: mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
    return buf;
#else
    return "malloc: libc";
#endif
}

static void *worker_main(void *arg)
{
    vouchd_worker *w = arg;
    char name[16]; /* shown by top -H, ps -L and /proc/PID/task/TID/comm */
    snprintf(name, sizeof name, "vouchd-w%d", w->index);
    pthread_setname_np(pthread_self(), name);
    int r = event_base_dispatch(w->base);
    if (!atomic_load(&g_stopping)) {
        vouchd_log("worker %d: event loop ended unexpectedly (%d); shutting down", w->index, r);
        atomic_store(&g_worker_failed, 1);
        kill(getpid(), SIGTERM);
    }
    return NULL;
}

/* accept() failing for a reason other than "try again" (EMFILE, ENFILE,
 * ENOBUFS) leaves the socket readable, and libevent would call accept again
 * at once, spinning a core. Instead: stop accepting on this worker for
 * 100 ms (connections wait in the kernel's backlog), and log at most once a
 * second. */
#define ACCEPT_PAUSE_US 100000

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    vouchd_worker *w = arg;
    if (!vouchd_conns_gated(w)) /* else conns.c enables it when the worker's turn comes */
        evconnlistener_enable(w->listener);
}


/* The workers, for accept_error: libevent hands an error callback the
 * listener's own user data, which evhttp owns, so the worker is found by
 * its listener. Set before any loop runs, read-only after. */
static vouchd_worker *g_workers;
static long g_nworkers;

static void accept_error(struct evconnlistener *lev, void *unused)
{
    vouchd_worker *w = NULL;
    for (long i = 0; i < g_nworkers && !w; i++)
        if (g_workers[i].listener == lev)
            w = &g_workers[i];
    if (!w)
        return;
    int e = EVUTIL_SOCKET_ERROR();
    long long now = (long long)time(NULL);
    if (now != w->accept_warned) {
        w->accept_warned = now;
        vouchd_log("worker %d: cannot accept a connection: %s; pausing accepts", w->index,
                   evutil_socket_error_to_string(e));
    }
    struct timeval tv = {0, ACCEPT_PAUSE_US};
    evconnlistener_disable(lev);
    if (event_add(w->accept_resume, &tv) != 0)
        evconnlistener_enable(lev);
}

static int worker_init(vouchd_worker *w, int index, const vouchd_config *cfg, const char *db,
                       int listen_fd, SSL_CTX *ssl)
{
    char err[256] = "";
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = cfg;
    vouch_store_rc rc = vouch_store_open_sqlite(db, &w->store, err, sizeof err);
    if (rc != VOUCH_STORE_OK) {
        vouchd_log("cannot open %s: %s", db, *err ? err : vouch_store_strerror(rc));
        return EXIT_DATA;
    }
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http) {
        vouchd_log("worker %d: cannot make an event base", index);
        return EXIT_RUNTIME;
    }
    evhttp_set_max_body_size(w->http, VOUCHD_MAX_BODY_HARD);
    evhttp_set_max_headers_size(w->http, VOUCHD_MAX_HEADERS);
    evhttp_set_timeout(w->http, VOUCHD_TIMEOUT_S);
    /* Methods any route may use; others (TRACE, CONNECT) get libevent's 501
     * before routing. A known path with a wrong method gets a JSON 405. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(w->http, "application/json");
    evhttp_set_gencb(w->http, vouchd_http_dispatch, w);
    w->ssl = ssl;
    evhttp_set_bevcb(w->http, conn_bev, w);
    int fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
    struct evhttp_bound_socket *bound = fd < 0 ? NULL : evhttp_accept_socket_with_handle(w->http, fd);
    if (!bound) {
        vouchd_log("worker %d: cannot accept on the listening socket: %s", index,
                   strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_RUNTIME;
    }
    w->listener = evhttp_bound_socket_get_listener(bound);
    w->accept_resume = evtimer_new(w->base, accept_resume, w);
    if (!w->accept_resume || vouchd_conns_init(w, g_workers, (int)g_nworkers) != 0 ||
        vouchd_cache_init(w) != 0 ||
        vouchd_commit_worker_init(w) != 0) {
        vouchd_log("worker %d: out of memory", index);
        return EXIT_RUNTIME;
    }
    evconnlistener_set_error_cb(w->listener, accept_error);
    return 0;
}

static void worker_free(vouchd_worker *w)
{
    vouchd_commit_worker_free(w); /* before evhttp_free: the replies hold requests */
    vouchd_va_worker_free(w);
    vouchd_auth_worker_free(w);
    vouchd_issuers_free(w);
    if (w->accept_resume)
        event_free(w->accept_resume);
    if (w->http)
        evhttp_free(w->http); /* closes its listener fd and every connection */
    vouchd_conns_free(w);     /* after: closing connections calls into it */
    vouchd_cache_free(w);
    vouchd_fw_worker_free(w); /* image downloads cut short by the stop */
    if (w->base)
        event_base_free(w->base);
    vouch_store_close(w->store);
    memset(w, 0, sizeof *w);
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"data", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"public-url", required_argument, NULL, 'u'}, {"threads", required_argument, NULL, 't'},
        {"tls-cert", required_argument, NULL, 'c'},   {"tls-key", required_argument, NULL, 'k'},
        {"challenge-ttl", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    const char *data = NULL, *listen_s = NULL, *url = NULL, *cert = NULL, *key = NULL;
    long threads = 0, challenge_ttl = 30;
    int opt, ret = EXIT_RUNTIME, listen_fd = -1, started = 0;
    vouchd_worker *workers = NULL;
    pthread_t *tids = NULL;
    SSL_CTX *ssl = NULL;
    char db[PATH_MAX], where[INET6_ADDRSTRLEN + 16];
    struct sockaddr_storage ss;
    int sslen;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        switch (opt) {
        case 'd': data = optarg; break;
        case 'l': listen_s = optarg; break;
        case 'u': url = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 't': {
            char *end = NULL;
            errno = 0;
            threads = strtol(optarg, &end, 10);
            if (errno || !end || *end || end == optarg || threads < 1 || threads > THREADS_MAX)
                return usage("bad --threads '%s': expected 1..256", optarg);
            break;
        }
        case 'C': {
            char *end = NULL;
            errno = 0;
            challenge_ttl = strtol(optarg, &end, 10);
            if (errno || !end || *end || end == optarg || challenge_ttl < 1 || challenge_ttl > 300)
                return usage("bad --challenge-ttl '%s': expected 1..300 seconds", optarg);
            break;
        }
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument '%s'", argv[optind]);
    if (!data || !*data)
        return usage("missing --data DIR");
    if (!listen_s)
        return usage("missing --listen HOST:PORT");
    if (!url)
        return usage("missing --public-url URL");
    if ((strncmp(url, "http://", 7) != 0 || !url[7]) && (strncmp(url, "https://", 8) != 0 || !url[8]))
        return usage("bad --public-url '%s': expected http://... or https://...", url);
    if (!cert != !key)
        return usage("--tls-cert and --tls-key go together");
    if (parse_listen(listen_s, &ss, &sslen) != 0)
        return usage("bad --listen '%s': expected HOST:PORT, e.g. 127.0.0.1:8443", listen_s);
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > THREADS_MAX ? THREADS_MAX : n;
    }

    if (check_data_dir(data, db, sizeof db) != 0)
        return EXIT_DATA;

    vouchd_config cfg = {.data_dir = data, .db_path = db, .public_url = url, .tls = cert != NULL,
                         .challenge_ttl = (int)challenge_ttl};
    int committer = 0, va = 0, auth = 0;
    if (load_ca_pass(data, cfg.ca_pass, sizeof cfg.ca_pass, cfg.session_key) != 0)
        return EXIT_DATA;

    /* Signals: SIGTERM/SIGINT are taken by sigwait in this thread only (the
     * workers inherit the blocked mask); a peer closing early must not kill
     * the process. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    /* A shell starts background jobs with SIGINT ignored; an ignored signal
     * is discarded, not left pending for sigwait, so restore the default
     * (never acted on: the signals stay blocked). */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (evthread_use_pthreads() != 0) {
        vouchd_log("libevent has no pthreads support");
        goto out;
    }
    if (cert && !(ssl = tls_context(cert, key)))
        goto out;

    workers = calloc((size_t)threads, sizeof *workers);
    tids = calloc((size_t)threads, sizeof *tids);
    if (!workers || !tids) {
        vouchd_log("out of memory");
        goto out;
    }
    /* Open the database once before binding, so a bad DIR is reported as
     * such (exit 5) whatever else is wrong. */
    {
        vouch_store *st = NULL;
        char err[256] = "";
        int n = 0;
        vouch_store_rc rc = vouch_store_open_sqlite(db, &st, err, sizeof err);
        if (rc == VOUCH_STORE_OK)
            rc = vouch_store_issuer_list(st, issuer_count_cb, &n, err, sizeof err);
        vouch_store_close(st);
        if (rc != VOUCH_STORE_OK || n == 0) {
            vouchd_log("%s is not a usable vouch data directory: %s", data,
                       rc != VOUCH_STORE_OK ? (*err ? err : vouch_store_strerror(rc))
                                            : "the database holds no issuers");
            ret = EXIT_DATA;
            goto out;
        }
    }

    if (vouchd_commit_start(db) != 0)
        goto out;
    committer = 1;
    if (vouchd_va_start(&cfg) != 0)
        goto out;
    va = 1;
    if (vouchd_auth_start(&cfg) != 0)
        goto out;
    auth = 1;

    g_workers = workers;
    g_nworkers = threads;
    if ((listen_fd = open_listener(listen_s, &ss, sslen)) < 0)
        goto out;
    for (int i = 0; i < threads; i++) {
        int r = worker_init(&workers[i], i, &cfg, db, listen_fd, ssl);
        if (r) {
            ret = r;
            goto out;
        }
    }

    sslen = (int)sizeof ss;
    if (getsockname(listen_fd, (struct sockaddr *)&ss, (socklen_t *)&sslen) != 0) {
        vouchd_log("getsockname: %s", strerror(errno));
        goto out;
    }
    addr_text(&ss, where, sizeof where);

    for (; started < threads; started++) {
        int e = pthread_create(&tids[started], NULL, worker_main, &workers[started]);
        if (e) {
            vouchd_log("cannot start worker %d: %s", started, strerror(e));
            goto out;
        }
    }
    vouchd_log("listening on %s://%s (%ld threads, data %s, public URL %s, %s)",
               ssl ? "https" : "http", where, threads, data, url, allocator());

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    if (!atomic_load(&g_worker_failed))
        vouchd_log("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ret = atomic_load(&g_worker_failed) ? EXIT_RUNTIME : 0;

out:
    atomic_store(&g_stopping, 1);
    for (int i = 0; i < started; i++)
        event_base_loopbreak(workers[i].base);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    vouchd_conns_stop();
    if (started > 0) { /* how connections spread over the workers (conns.c) */
        char acc[512], open[512];
        size_t la = 0, lo = 0;
        for (int i = 0; i < started && la < sizeof acc - 64 && lo < sizeof open - 64; i++) {
            la += (size_t)snprintf(acc + la, sizeof acc - la, "%s%llu", i ? ", " : "",
                                   workers[i].accepted);
            lo += (size_t)snprintf(open + lo, sizeof open - lo, "%s%d", i ? ", " : "",
                                   vouchd_conns_load(&workers[i]));
        }
        vouchd_log("connections accepted per worker: %s; open at exit: %s", acc, open);
    }
    if (committer)
        vouchd_commit_stop();
    if (va)
        vouchd_va_stop();
    if (auth)
        vouchd_auth_stop(); /* writes the last-seen times still waiting */
    for (long i = 0; workers && i < threads; i++)
        worker_free(&workers[i]);
    free(workers);
    free(tids);
    if (listen_fd >= 0)
        close(listen_fd);
    SSL_CTX_free(ssl);
    OPENSSL_cleanse(cfg.ca_pass, sizeof cfg.ca_pass);
    OPENSSL_cleanse(cfg.session_key, sizeof cfg.session_key);
    libevent_global_shutdown();
    if (ret == 0)
        vouchd_log("stopped");
    return ret;
}
