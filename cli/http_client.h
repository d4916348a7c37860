/*
 * A small blocking HTTP(S) client for the vouch command line, on libevent's
 * evhttp client and bufferevent_openssl (docs/architecture.md: no
 * hand-written HTTP). One client holds the server's base URL, the bearer
 * token and the TLS context; each request opens its own connection, sends
 * `Connection: close`, runs the event loop until the answer is complete or
 * the deadline passes, and closes it. (Reusing one TLS connection across
 * requests would save a handshake per request, but evhttp cannot reconnect
 * a bufferevent_openssl once the server has closed it, and a command line
 * makes a handful of requests at most.)
 *
 * HTTPS verifies the server's certificate chain (against --cacert, or the
 * system's default trust store) and its name: the host with
 * X509_VERIFY_PARAM_set1_host (and SNI), or an IP literal with
 * X509_VERIFY_PARAM_set1_ip_asc. TLS 1.2 at least.
 *
 * Limits: a deadline for the whole request (connect, TLS handshake, send,
 * answer), response headers 64 KiB, response body `body_max`. Name
 * resolution uses the system resolver (getaddrinfo) before the deadline
 * starts.
 */
#ifndef VOUCH_CLI_HTTP_CLIENT_H
#define VOUCH_CLI_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define VOUCH_HTTP_TIMEOUT_DEFAULT 30u         /* seconds */
#define VOUCH_HTTP_BODY_MAX_DEFAULT (32u << 20) /* bytes */
#define VOUCH_HTTP_HEADERS_MAX (64u << 10)

typedef enum vouch_http_rc {
    VOUCH_HTTP_OK = 0,
    VOUCH_HTTP_E_URL,       /* the base URL or a path is not usable */
    VOUCH_HTTP_E_CACERT,    /* the CA certificates file cannot be loaded */
    VOUCH_HTTP_E_CONNECT,   /* name resolution or connection failed, or the
                               connection closed before a complete answer */
    VOUCH_HTTP_E_TLS,       /* TLS handshake failed, or the server's
                               certificate or name did not verify */
    VOUCH_HTTP_E_TIMEOUT,   /* no complete answer before the deadline */
    VOUCH_HTTP_E_TOO_LARGE, /* answer over the size limits */
    VOUCH_HTTP_E_PROTOCOL,  /* not a well-formed HTTP answer */
    VOUCH_HTTP_E_NOMEM      /* out of memory, or libevent/OpenSSL setup failed */
} vouch_http_rc;

typedef struct vouch_http vouch_http;

typedef struct vouch_http_config {
    const char *url;    /* base URL: http[s]://host[:port][/prefix] */
    const char *token;  /* sent as "Authorization: Bearer <token>"; NULL: none.
                           Copied, and wiped from memory by vouch_http_free */
    const char *cacert; /* PEM file of trusted CAs for https; NULL: the
                           system's default trust store */
    unsigned timeout_s; /* deadline of each request; 0: the default */
    size_t body_max;    /* largest response body; 0: the default */
} vouch_http_config;

/* An extra request header. Names and values must not hold CR or LF. */
typedef struct vouch_http_header {
    const char *name;
    const char *value;
} vouch_http_header;

typedef struct vouch_http_response {
    int status;             /* HTTP status code */
    char content_type[128]; /* "" when absent; truncated when longer */
    char content_range[96]; /* the Content-Range header, "" when absent */
    char etag[80];          /* the ETag header, "" when absent */
    char *body;             /* malloc'd, NUL-terminated (not counted in len) */
    size_t len;
} vouch_http_response;

/* Parses the URL (libevent's evhttp_uri_parse) and, for https, loads the
 * trust store. On failure writes a message to err and returns E_URL (bad
 * URL: not http/https, no host, a query, fragment or user info), E_CACERT
 * or E_NOMEM. */
vouch_http_rc vouch_http_new(const vouch_http_config *cfg, vouch_http **out, char *err,
                             size_t errlen);

/* One request. `method` is GET, HEAD, POST, PUT, DELETE or PATCH; `path`
 * starts with '/' and is appended to the base URL's prefix (query included,
 * already encoded: see vouch_http_encode). `headers` ends with a NULL name
 * (or is NULL). On VOUCH_HTTP_OK, *rsp holds the answer whatever its status
 * (free it with vouch_http_response_clear); otherwise *rsp is empty and err
 * says what went wrong. */
vouch_http_rc vouch_http_request(vouch_http *h, const char *method, const char *path,
                                 const vouch_http_header *headers, const void *body,
                                 size_t body_len, vouch_http_response *rsp, char *err,
                                 size_t errlen);

void vouch_http_response_clear(vouch_http_response *rsp);
void vouch_http_free(vouch_http *h);

/* "https://host:port" without the prefix, for messages. */
const char *vouch_http_origin(const vouch_http *h);
/* 1 for an https client. */
int vouch_http_is_https(const vouch_http *h);
/* 1 when the host is a loopback address or "localhost". */
int vouch_http_is_loopback(const vouch_http *h);

/* Percent-encodes s for a path segment or query value (libevent's
 * evhttp_uriencode: everything but A-Z a-z 0-9 - . _ ~). malloc'd, or NULL. */
char *vouch_http_encode(const char *s);

const char *vouch_http_strerror(vouch_http_rc rc);

#endif
