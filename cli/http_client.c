/* The CLI's HTTP(S) client on libevent's evhttp; see http_client.h. */
#include "cli/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#ifndef VOUCH_VERSION
#define VOUCH_VERSION "unknown"
#endif

#define HOST_MAX 255
#define PREFIX_MAX 512
#define PATH_MAX_LEN 8192

struct vouch_http {
    int https;
    char host[HOST_MAX + 1]; /* without IPv6 brackets */
    int host_is_ip;
    int port;
    char prefix[PREFIX_MAX]; /* base path without a trailing '/', "" for none */
    char host_header[HOST_MAX + 16];
    char origin[HOST_MAX + 32];
    char *auth; /* "Bearer <token>", wiped on free */
    size_t auth_len;
    unsigned timeout_s;
    size_t body_max;
    SSL_CTX *ssl_ctx;
    struct event_base *base;
};

static void say(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (!err || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

const char *vouch_http_strerror(vouch_http_rc rc)
{
    switch (rc) {
    case VOUCH_HTTP_OK: return "ok";
    case VOUCH_HTTP_E_URL: return "bad URL";
    case VOUCH_HTTP_E_CACERT: return "cannot load the CA certificates";
    case VOUCH_HTTP_E_CONNECT: return "cannot connect";
    case VOUCH_HTTP_E_TLS: return "TLS failure";
    case VOUCH_HTTP_E_TIMEOUT: return "timed out";
    case VOUCH_HTTP_E_TOO_LARGE: return "answer too large";
    case VOUCH_HTTP_E_PROTOCOL: return "malformed HTTP answer";
    case VOUCH_HTTP_E_NOMEM: return "out of memory";
    }
    return "unknown error";
}

/* The last OpenSSL error as text (and the queue cleared). */
static void ssl_errtext(char *out, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    out[0] = '\0';
    if (last)
        ERR_error_string_n(last, out, n);
}

static int text_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static vouch_http_rc parse_url(vouch_http *h, const char *url, char *err, size_t errlen)
{
    if (!url || !*url || strlen(url) > 2048 || !text_ok(url)) {
        say(err, errlen, "the server URL is empty, too long or holds control characters");
        return VOUCH_HTTP_E_URL;
    }
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
    vouch_http_rc rc = VOUCH_HTTP_E_URL;
    if (!u) {
        say(err, errlen, "'%s' is not a URL (expected http://HOST:PORT or https://HOST:PORT)",
            url);
        return rc;
    }
    const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u),
               *path = evhttp_uri_get_path(u);
    if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        say(err, errlen, "'%s': the URL must start with http:// or https://", url);
        goto out;
    }
    h->https = strcasecmp(scheme, "https") == 0;
    if (!host || !*host) {
        say(err, errlen, "'%s': the URL has no host", url);
        goto out;
    }
    if (evhttp_uri_get_userinfo(u) || evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u)) {
        say(err, errlen, "'%s': the URL must not hold user info, a query or a fragment", url);
        goto out;
    }
    size_t hl = strlen(host);
    int bracketed = host[0] == '[';
    if (bracketed) { /* IPv6 literal: libevent keeps the brackets */
        if (hl < 3 || host[hl - 1] != ']') {
            say(err, errlen, "'%s': bad IPv6 address", url);
            goto out;
        }
        host++;
        hl -= 2;
    }
    if (hl > HOST_MAX) {
        say(err, errlen, "'%s': host name too long", url);
        goto out;
    }
    memcpy(h->host, host, hl);
    h->host[hl] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    int v6 = inet_pton(AF_INET6, h->host, &a6) == 1;
    h->host_is_ip = v6 || inet_pton(AF_INET, h->host, &a4) == 1;
    if (bracketed && !v6) {
        say(err, errlen, "'%s': bad IPv6 address", url);
        goto out;
    }
    int port = evhttp_uri_get_port(u);
    if (port == 0 || port > 65535) {
        say(err, errlen, "'%s': bad port", url);
        goto out;
    }
    h->port = port > 0 ? port : (h->https ? 443 : 80);
    if (path) {
        size_t pl = strlen(path);
        while (pl > 0 && path[pl - 1] == '/')
            pl--;
        if (pl >= sizeof h->prefix) {
            say(err, errlen, "'%s': path too long", url);
            goto out;
        }
        memcpy(h->prefix, path, pl);
        h->prefix[pl] = '\0';
    }
    int dflt = h->port == (h->https ? 443 : 80);
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    if (dflt)
        snprintf(h->host_header, sizeof h->host_header, "%s%s%s", lb, h->host, rb);
    else
        snprintf(h->host_header, sizeof h->host_header, "%s%s%s:%d", lb, h->host, rb, h->port);
    snprintf(h->origin, sizeof h->origin, "%s://%s%s%s:%d", h->https ? "https" : "http", lb,
             h->host, rb, h->port);
    rc = VOUCH_HTTP_OK;
out:
    evhttp_uri_free(u);
    return rc;
}

static vouch_http_rc tls_setup(vouch_http *h, const char *cacert, char *err, size_t errlen)
{
    char ebuf[256];
    h->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!h->ssl_ctx) {
        say(err, errlen, "cannot set up TLS: OpenSSL failed");
        return VOUCH_HTTP_E_NOMEM;
    }
    SSL_CTX_set_min_proto_version(h->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(h->ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (cacert) {
        /* The file alone: a private CA should not be mixed with the
         * system's public ones. */
        if (SSL_CTX_load_verify_locations(h->ssl_ctx, cacert, NULL) != 1) {
            ssl_errtext(ebuf, sizeof ebuf);
            say(err, errlen, "cannot load CA certificates from %s%s%s", cacert,
                *ebuf ? ": " : "", ebuf);
            return VOUCH_HTTP_E_CACERT;
        }
    } else if (SSL_CTX_set_default_verify_paths(h->ssl_ctx) != 1) {
        ssl_errtext(ebuf, sizeof ebuf);
        say(err, errlen, "cannot load the system's CA certificates%s%s", *ebuf ? ": " : "",
            ebuf);
        return VOUCH_HTTP_E_CACERT;
    }
    return VOUCH_HTTP_OK;
}

vouch_http_rc vouch_http_new(const vouch_http_config *cfg, vouch_http **out, char *err,
                             size_t errlen)
{
    vouch_http_rc rc;
    vouch_http *h = calloc(1, sizeof *h);
    *out = NULL;
    if (!h) {
        say(err, errlen, "out of memory");
        return VOUCH_HTTP_E_NOMEM;
    }
    h->timeout_s = cfg->timeout_s ? cfg->timeout_s : VOUCH_HTTP_TIMEOUT_DEFAULT;
    h->body_max = cfg->body_max ? cfg->body_max : VOUCH_HTTP_BODY_MAX_DEFAULT;
    if ((rc = parse_url(h, cfg->url, err, errlen)) != VOUCH_HTTP_OK)
        goto fail;
    if (cfg->token) {
        size_t tl = strlen(cfg->token);
        h->auth_len = tl + sizeof "Bearer ";
        h->auth = malloc(h->auth_len);
        if (!h->auth) {
            say(err, errlen, "out of memory");
            rc = VOUCH_HTTP_E_NOMEM;
            goto fail;
        }
        memcpy(h->auth, "Bearer ", 7);
        memcpy(h->auth + 7, cfg->token, tl + 1);
    }
    if (h->https && (rc = tls_setup(h, cfg->cacert, err, errlen)) != VOUCH_HTTP_OK)
        goto fail;
    h->base = event_base_new();
    if (!h->base) {
        say(err, errlen, "cannot set up the event loop (libevent)");
        rc = VOUCH_HTTP_E_NOMEM;
        goto fail;
    }
    *out = h;
    return VOUCH_HTTP_OK;
fail:
    vouch_http_free(h);
    return rc;
}

void vouch_http_free(vouch_http *h)
{
    if (!h)
        return;
    if (h->auth) {
        OPENSSL_cleanse(h->auth, h->auth_len);
        free(h->auth);
    }
    SSL_CTX_free(h->ssl_ctx);
    if (h->base)
        event_base_free(h->base);
    free(h);
}

const char *vouch_http_origin(const vouch_http *h) { return h->origin; }
int vouch_http_is_https(const vouch_http *h) { return h->https; }

int vouch_http_is_loopback(const vouch_http *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(h->host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, h->host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, h->host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

char *vouch_http_encode(const char *s) { return evhttp_uriencode(s, -1, 0); }

void vouch_http_response_clear(vouch_http_response *rsp)
{
    if (!rsp)
        return;
    free(rsp->body);
    memset(rsp, 0, sizeof *rsp);
}

/* ---- one request -------------------------------------------------------------- */
typedef struct req_state {
    vouch_http *h;
    vouch_http_response *rsp;
    int done;      /* the completion callback ran */
    int got;       /* ... with an answer */
    int timed_out; /* our deadline fired */
    int have_err;  /* libevent reported an error after connecting */
    enum evhttp_request_error err;
    int conn_errno; /* errno when the connection attempt failed */
    int too_large;
    int nomem;
} req_state;

static void on_error(enum evhttp_request_error e, void *arg)
{
    req_state *st = arg;
    st->have_err = 1;
    st->err = e;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    req_state *st = arg;
    int e = errno;
    st->done = 1;
    event_base_loopbreak(st->h->base);
    if (!req || evhttp_request_get_response_code(req) == 0) {
        /* libevent 2.1 completes a request whose connection attempt failed
         * (refused, unreachable, connect timeout) with code 0 and no error
         * callback; errno still holds the cause then. */
        if (!st->have_err)
            st->conn_errno = e;
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    if (n > st->h->body_max) {
        st->too_large = 1;
        return;
    }
    char *body = malloc(n + 1);
    if (!body) {
        st->nomem = 1;
        return;
    }
    if (n && evbuffer_remove(in, body, n) != (int)n) {
        free(body);
        st->nomem = 1;
        return;
    }
    body[n] = '\0';
    st->rsp->status = evhttp_request_get_response_code(req);
    st->rsp->body = body;
    st->rsp->len = n;
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(ih, "Content-Type");
    snprintf(st->rsp->content_type, sizeof st->rsp->content_type, "%s", ct ? ct : "");
    const char *cr = evhttp_find_header(ih, "Content-Range");
    snprintf(st->rsp->content_range, sizeof st->rsp->content_range, "%s", cr ? cr : "");
    const char *et = evhttp_find_header(ih, "ETag");
    snprintf(st->rsp->etag, sizeof st->rsp->etag, "%s", et ? et : "");
    st->got = 1;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    req_state *st = arg;
    st->timed_out = 1;
    event_base_loopbreak(st->h->base);
}

static int method_type(const char *m, enum evhttp_cmd_type *t)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } tab[] = {{"GET", EVHTTP_REQ_GET},       {"HEAD", EVHTTP_REQ_HEAD},
               {"POST", EVHTTP_REQ_POST},     {"PUT", EVHTTP_REQ_PUT},
               {"DELETE", EVHTTP_REQ_DELETE}, {"PATCH", EVHTTP_REQ_PATCH}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(m, tab[i].name) == 0) {
            *t = tab[i].type;
            return 0;
        }
    return -1;
}

/* A bufferevent for one https connection, with the host name (or IP) to
 * verify set on its SSL. *ssl stays valid until the bufferevent is freed. */
static struct bufferevent *tls_bev(vouch_http *h, SSL **ssl_out)
{
    SSL *ssl = SSL_new(h->ssl_ctx);
    if (!ssl)
        return NULL;
    X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
    int ok;
    if (h->host_is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(p, h->host) == 1;
    } else {
        X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(p, h->host, 0) == 1 &&
             SSL_set_tlsext_host_name(ssl, h->host) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        h->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    *ssl_out = ssl;
    return bev;
}

/* Why an https request failed, from the SSL object and bufferevent. 1 when
 * there was a TLS problem to report. */
static int tls_failure(SSL *ssl, struct bufferevent *bev, const char *h_origin, char *err,
                       size_t errlen)
{
    long v = SSL_get_verify_result(ssl);
    unsigned long e, last = 0;
    while (bev && (e = bufferevent_get_openssl_error(bev)) != 0)
        last = e;
    if (v != X509_V_OK) {
        say(err, errlen, "the server's TLS certificate did not verify: %s",
            X509_verify_cert_error_string(v));
        return 1;
    }
    /* libevent also queues socket errors here, without an OpenSSL library
     * code: those are not TLS failures */
    if (last && ERR_GET_LIB(last) != 0) {
        const char *r = ERR_reason_error_string(last);
        say(err, errlen, "TLS handshake with %s failed: %s (is it an https server?)", h_origin,
            r ? r : "OpenSSL error");
        return 1;
    }
    return 0;
}

typedef enum { TRY_DONE, TRY_NEXT } try_result;

static long long tv_ms(const struct timeval *t)
{
    return (long long)t->tv_sec * 1000 + t->tv_usec / 1000;
}

static long long elapsed_ms(const struct timeval *t0)
{
    struct timeval now, d;
    evutil_gettimeofday(&now, NULL);
    evutil_timersub(&now, t0, &d);
    return tv_ms(&d);
}

/* Connects to sa and closes again: 0, or the errno that connect gave. Only
 * to name the cause of a failed connection. */
static int probe(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    int e = 0, fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS) {
            e = errno;
        } else {
            struct pollfd p = {fd, POLLOUT, 0};
            int r = poll(&p, 1, timeout_ms);
            socklen_t l = sizeof e;
            if (r == 0)
                e = ETIMEDOUT;
            else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
                e = errno;
        }
    }
    close(fd);
    return e;
}

/* One attempt on one address (numeric). TRY_NEXT when the connection could
 * not be made, so nothing was sent and another address may be tried. */
static try_result attempt(vouch_http *h, const struct evutil_addrinfo *ai, const char *addr,
                          enum evhttp_cmd_type type,
                          const char *target, const vouch_http_header *headers,
                          const void *body, size_t body_len, const struct timeval *left,
                          vouch_http_response *rsp, vouch_http_rc *rc, char *err,
                          size_t errlen)
{
    struct evhttp_connection *evcon = NULL;
    struct bufferevent *bev = NULL;
    struct evhttp_request *req = NULL;
    struct event *deadline = NULL;
    SSL *ssl = NULL;
    req_state st;
    try_result tr = TRY_DONE;

    memset(&st, 0, sizeof st);
    st.h = h;
    st.rsp = rsp;
    *rc = VOUCH_HTTP_E_NOMEM;
    if (h->https && !(bev = tls_bev(h, &ssl)))
        goto nomem;
    evcon = evhttp_connection_base_bufferevent_new(h->base, NULL, bev, addr,
                                                   (unsigned short)h->port);
    if (!evcon) {
        if (bev)
            bufferevent_free(bev);
        goto nomem;
    }
    bev = evhttp_connection_get_bufferevent(evcon);
    evhttp_connection_set_timeout_tv(evcon, left);
    evhttp_connection_set_retries(evcon, 0);
    evhttp_connection_set_max_headers_size(evcon, VOUCH_HTTP_HEADERS_MAX);
    evhttp_connection_set_max_body_size(evcon, h->body_max);

    if (!(req = evhttp_request_new(on_done, &st)))
        goto nomem;
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    if (evhttp_add_header(oh, "Host", h->host_header) != 0 ||
        evhttp_add_header(oh, "User-Agent", "vouch/" VOUCH_VERSION) != 0 ||
        evhttp_add_header(oh, "Connection", "close") != 0 ||
        (h->auth && evhttp_add_header(oh, "Authorization", h->auth) != 0))
        goto nomem_req;
    for (const vouch_http_header *x = headers; x && x->name; x++)
        if (evhttp_add_header(oh, x->name, x->value) != 0)
            goto nomem_req;
    if (body && body_len &&
        evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len) != 0)
        goto nomem_req;
    if (!(deadline = evtimer_new(h->base, on_deadline, &st)) || evtimer_add(deadline, left) != 0)
        goto nomem_req;
    ERR_clear_error();
    errno = 0;
    struct timeval t0;
    evutil_gettimeofday(&t0, NULL);
    /* evhttp owns req from here, whatever the outcome */
    int mr = evhttp_make_request(evcon, req, type, target);
    req = NULL;
    if (mr == 0)
        while (!st.done && !st.timed_out)
            if (event_base_dispatch(h->base) != 0) /* -1 error, 1 nothing to wait for */
                break;

    if (st.got) {
        *rc = VOUCH_HTTP_OK;
    } else if (st.too_large || (st.have_err && st.err == EVREQ_HTTP_DATA_TOO_LONG)) {
        say(err, errlen, "the answer from %s is larger than %zu bytes", h->origin, h->body_max);
        *rc = VOUCH_HTTP_E_TOO_LARGE;
    } else if (st.nomem) {
        say(err, errlen, "out of memory reading the answer");
        *rc = VOUCH_HTTP_E_NOMEM;
    } else if (ssl && tls_failure(ssl, bev, h->origin, err, errlen)) {
        *rc = VOUCH_HTTP_E_TLS;
    } else if (st.timed_out || (st.have_err && st.err == EVREQ_HTTP_TIMEOUT) ||
               (!st.have_err && elapsed_ms(&t0) + 50 >= tv_ms(left))) {
        say(err, errlen, "no answer from %s (%s) within %u s", h->origin, addr, h->timeout_s);
        *rc = VOUCH_HTTP_E_TIMEOUT;
    } else if (!st.have_err || st.err == EVREQ_HTTP_EOF) {
        /* Either the connection was not made (libevent completes the
         * request without an error callback, and its reset has already
         * replaced errno with shutdown()'s ENOTCONN), or it was closed
         * early; over TLS both look the same. A plain connect says which. */
        int e = st.conn_errno;
        if (e != ECONNREFUSED && e != EHOSTUNREACH && e != ENETUNREACH && e != EADDRNOTAVAIL)
            e = probe(ai->ai_addr, (socklen_t)ai->ai_addrlen, 1000);
        if (e) {
            say(err, errlen, "cannot connect to %s (%s): %s", h->origin, addr, strerror(e));
            tr = TRY_NEXT; /* nothing was sent */
        } else {
            say(err, errlen, "%s closed the connection before a complete answer (is it %s "
                             "server?)", h->origin, h->https ? "an https" : "an http");
        }
        *rc = VOUCH_HTTP_E_CONNECT;
    } else {
        say(err, errlen, "%s did not answer with well-formed HTTP", h->origin);
        *rc = VOUCH_HTTP_E_PROTOCOL;
    }
    goto out;

nomem_req:
    evhttp_request_free(req);
nomem:
    say(err, errlen, "out of memory, or libevent/OpenSSL failed to set up the request");
    *rc = VOUCH_HTTP_E_NOMEM;
out:
    if (deadline)
        event_free(deadline);
    if (evcon)
        evhttp_connection_free(evcon); /* frees bev, the SSL and a pending request */
    /* leave the base clean: no deferred callback of the freed connection */
    event_base_loop(h->base, EVLOOP_NONBLOCK);
    ERR_clear_error();
    if (*rc != VOUCH_HTTP_OK)
        vouch_http_response_clear(rsp);
    return tr;
}

vouch_http_rc vouch_http_request(vouch_http *h, const char *method, const char *path,
                                 const vouch_http_header *headers, const void *body,
                                 size_t body_len, vouch_http_response *rsp, char *err,
                                 size_t errlen)
{
    enum evhttp_cmd_type type;
    struct evutil_addrinfo hints, *res = NULL;
    char port[8], *target;
    vouch_http_rc rc = VOUCH_HTTP_E_CONNECT;

    memset(rsp, 0, sizeof *rsp);
    if (method_type(method, &type) != 0 || !path || path[0] != '/' ||
        strlen(path) > PATH_MAX_LEN || !text_ok(path) || strchr(path, ' ')) {
        say(err, errlen, "bad request method or path");
        return VOUCH_HTTP_E_URL;
    }
    for (const vouch_http_header *x = headers; x && x->name; x++)
        if (!text_ok(x->name) || !text_ok(x->value)) {
            say(err, errlen, "bad request header");
            return VOUCH_HTTP_E_URL;
        }
    size_t tl = strlen(h->prefix) + strlen(path) + 1;
    if (!(target = malloc(tl))) {
        say(err, errlen, "out of memory");
        return VOUCH_HTTP_E_NOMEM;
    }
    snprintf(target, tl, "%s%s", h->prefix, path);

    /* Resolve here rather than in libevent: its connection tries only the
     * first address (e.g. ::1 for a server on 127.0.0.1 only), and keeps
     * no resolver error to report. */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    snprintf(port, sizeof port, "%d", h->port);
    int gerr = evutil_getaddrinfo(h->host, port, &hints, &res);
    if (gerr != 0) {
        say(err, errlen, "cannot resolve %s: %s", h->host, evutil_gai_strerror(gerr));
        free(target);
        return VOUCH_HTTP_E_CONNECT;
    }
    struct timeval end, now;
    evutil_gettimeofday(&end, NULL);
    end.tv_sec += (time_t)h->timeout_s;
    for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        char addr[INET6_ADDRSTRLEN];
        const void *a = ai->ai_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            !evutil_inet_ntop(ai->ai_family, a, addr, sizeof addr))
            continue;
        evutil_gettimeofday(&now, NULL);
        struct timeval left;
        evutil_timersub(&end, &now, &left);
        if (left.tv_sec < 0 || (left.tv_sec == 0 && left.tv_usec < 1000)) {
            say(err, errlen, "no answer from %s within %u s", h->origin, h->timeout_s);
            rc = VOUCH_HTTP_E_TIMEOUT;
            break;
        }
        if (attempt(h, ai, addr, type, target, headers, body, body_len, &left, rsp, &rc, err,
                    errlen) == TRY_DONE)
            break;
    }
    evutil_freeaddrinfo(res);
    free(target);
    return rc;
}
