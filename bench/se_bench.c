/*
 * se_bench: throughput of the software secure element, through a vouch-se
 * daemon over its unix socket and in-process, with the same libvouch calls.
 *
 *   se_bench [--socket PATH] [--seconds S] [--json]
 *
 * For each operation it runs the call back to back for S seconds (default 2)
 * on each path and reports operations per second, microseconds per
 * operation, and the socket overhead: socket µs minus in-process µs, i.e.
 * what the record framing, the two socket hops, the daemon's event loop and
 * its scheduling add to the same SE core work. For the crypto operations it
 * also times the bare crypto port call (another S seconds), which is what
 * the SE core and the client add to. Without --socket only the in-process
 * path and the port are measured.
 *
 * The chip (daemon or in-process) must be new: se_bench generates keys in
 * slots 1 to 3 and writes zone 3 before measuring, and needs no host keys.
 * All calls are plain (no secure channel), so the numbers are the transport
 * and the core, not the channel's AES.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vouch/port.h>
#include <vouch/se.h>

#include "se/core.h"

typedef struct bench_ctx {
    uint8_t p256_pub[VOUCH_SE_P256_PUB_LEN]; /* slot 1 */
    uint8_t peer_pub[VOUCH_SE_P256_PUB_LEN]; /* slot 3, the ECDH peer */
    uint8_t digest[32];
    uint8_t p256_sig[VOUCH_SE_SIG_LEN];
    uint8_t msg[32];
    uint8_t buf[1024];
} bench_ctx;

typedef vouch_rc (*op_fn)(vouch_se *se, bench_ctx *c);

/* The same primitive straight through the crypto port, no SE in between:
 * what the core's crypto costs by itself. Keys of its own, made once. */
typedef struct port_ctx {
    const vouch_crypto_port *p;
    uint8_t p256_priv[32], p256_pub[65], ed_priv[32], ed_pub[32], peer_pub[65];
    uint8_t digest[32], msg[32], sig[64], out[64];
} port_ctx;
typedef int (*port_fn)(port_ctx *c);

static int port_random(port_ctx *c)
{
    return c->p->random(c->p->ctx, c->out, 32);
}

static int port_sign_p256(port_ctx *c)
{
    return c->p->p256_sign(c->p->ctx, c->p256_priv, c->digest, c->out);
}

static int port_sign_ed25519(port_ctx *c)
{
    return c->p->ed25519_sign(c->p->ctx, c->ed_priv, c->msg, 32, c->out);
}

static int port_verify_p256(port_ctx *c)
{
    return c->p->p256_verify(c->p->ctx, c->p256_pub, c->digest, c->sig) == 1 ? 0 : -1;
}

static int port_ecdh_p256(port_ctx *c)
{
    return c->p->p256_ecdh(c->p->ctx, c->p256_priv, c->peer_pub, c->out);
}

static vouch_rc op_echo(vouch_se *se, bench_ctx *c)
{
    size_t n = 0;
    vouch_rc rc = vouch_se_echo(se, c->msg, 32, c->buf, sizeof c->buf, &n);
    return rc == VOUCH_OK && n != 32 ? VOUCH_RC(VOUCH_LAYER_FRAME, VOUCH_E_FRAME_LEN) : rc;
}

static vouch_rc op_random(vouch_se *se, bench_ctx *c)
{
    return vouch_se_random(se, c->buf, 32);
}

static vouch_rc op_sign_p256(vouch_se *se, bench_ctx *c)
{
    return vouch_se_sign(se, 1, c->digest, 32, c->buf, VOUCH_PLAIN);
}

static vouch_rc op_sign_ed25519(vouch_se *se, bench_ctx *c)
{
    return vouch_se_sign(se, 2, c->msg, 32, c->buf, VOUCH_PLAIN);
}

static vouch_rc op_verify_p256(vouch_se *se, bench_ctx *c)
{
    int valid = 0;
    vouch_rc rc = vouch_se_verify(se, VOUCH_SE_ALG_P256, c->p256_pub, sizeof c->p256_pub,
                                  c->digest, 32, c->p256_sig, &valid);
    /* a benchmark of a verify that fails would measure the wrong path */
    return rc == VOUCH_OK && valid != 1 ? VOUCH_RC(VOUCH_LAYER_API, VOUCH_E_STATE) : rc;
}

static vouch_rc op_ecdh_p256(vouch_se *se, bench_ctx *c)
{
    return vouch_se_ecdh(se, 1, c->peer_pub, sizeof c->peer_pub, c->buf, VOUCH_PLAIN);
}

static vouch_rc op_read512(vouch_se *se, bench_ctx *c)
{
    return vouch_se_read(se, 3, 0, c->buf, 512, VOUCH_PLAIN);
}

static const struct {
    const char *id, *label;
    op_fn fn;
    port_fn pfn; /* NULL: no single port call to compare with */
} OPS[] = {
    {"echo32", "echo 32 B", op_echo, NULL},
    {"random32", "random 32 B", op_random, port_random},
    {"sign_p256", "sign P-256", op_sign_p256, port_sign_p256},
    {"sign_ed25519", "sign Ed25519", op_sign_ed25519, port_sign_ed25519},
    {"verify_p256", "verify P-256", op_verify_p256, port_verify_p256},
    {"ecdh_p256", "ECDH P-256", op_ecdh_p256, port_ecdh_p256},
    {"read512", "read 512 B", op_read512, NULL},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])
#define SLICES 10

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, vouch_rc rc)
{
    fprintf(stderr, "se_bench: %s: %s (0x%06x)\n", what, vouch_strerror(rc), (unsigned)rc);
    exit(1);
}

/* Keys and data on a new chip; the same on both paths. */
static void prepare(vouch_se *se, bench_ctx *c, const char *path)
{
    vouch_rc rc;
    size_t n = 0;
    uint8_t pub[VOUCH_SE_P256_PUB_LEN], zone[512];
    char what[96];

    snprintf(what, sizeof what, "%s: keygen P-256 in slot 1 (is the chip new?)", path);
    if ((rc = vouch_se_keygen(se, 1, VOUCH_SE_ALG_P256, c->p256_pub, sizeof c->p256_pub, &n,
                              VOUCH_PLAIN)) != VOUCH_OK)
        die(what, rc);
    if ((rc = vouch_se_keygen(se, 2, VOUCH_SE_ALG_ED25519, pub, sizeof pub, &n, VOUCH_PLAIN)) !=
        VOUCH_OK)
        die("keygen Ed25519 in slot 2", rc);
    if ((rc = vouch_se_keygen(se, 3, VOUCH_SE_ALG_P256, c->peer_pub, sizeof c->peer_pub, &n,
                              VOUCH_PLAIN)) != VOUCH_OK)
        die("keygen P-256 in slot 3", rc);
    if ((rc = vouch_se_sign(se, 1, c->digest, 32, c->p256_sig, VOUCH_PLAIN)) != VOUCH_OK)
        die("sign for the verify benchmark", rc);
    for (size_t i = 0; i < sizeof zone; i++)
        zone[i] = (uint8_t)i;
    if ((rc = vouch_se_update(se, 3, 0, zone, sizeof zone, VOUCH_PLAIN)) != VOUCH_OK)
        die("update zone 3", rc);
}

/* Runs `fn` (or `pfn`) back to back for `seconds`, adding the count and the
 * time taken to *n and *t. */
static void run_for(vouch_se *se, bench_ctx *c, op_fn fn, port_ctx *pc, port_fn pfn,
                    const char *what, double seconds, double *n, double *t)
{
    vouch_rc rc;
    unsigned long k = 0;
    double t0 = now_s(), t1;
    do {
        if (pfn) {
            if (pfn(pc) != 0)
                die(what, VOUCH_RC(VOUCH_LAYER_PORT, 1));
        } else if ((rc = fn(se, c)) != VOUCH_OK) {
            die(what, rc);
        }
        k++;
        t1 = now_s();
    } while (t1 - t0 < seconds);
    *n += (double)k;
    *t += t1 - t0;
}

static void port_setup(port_ctx *c)
{
    c->p = vouch_port_openssl();
    memset(c->digest, 0xd1, sizeof c->digest);
    memset(c->msg, 0x4d, sizeof c->msg);
    if (c->p->p256_keygen(c->p->ctx, c->p256_priv, c->p256_pub) != 0 ||
        c->p->p256_keygen(c->p->ctx, c->out, c->peer_pub) != 0 ||
        c->p->ed25519_keygen(c->p->ctx, c->ed_priv, c->ed_pub) != 0 ||
        c->p->p256_sign(c->p->ctx, c->p256_priv, c->digest, c->sig) != 0) {
        fprintf(stderr, "se_bench: crypto port setup failed\n");
        exit(1);
    }
}

static int commit_nothing(void *ctx, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)blob, (void)len;
    return 0;
}

static void usage(FILE *f)
{
    fputs("Usage: se_bench [--socket PATH] [--seconds S] [--json]\n"
          "\n"
          "Operations per second of the vouch SE, through a vouch-se daemon on PATH\n"
          "(a new chip) and in-process, with the overhead the socket adds.\n"
          "  --socket PATH   the daemon's unix socket (omit: in-process only)\n"
          "  --seconds S     time per operation and path (default 2)\n"
          "  --json          one JSON object on stdout instead of a table\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"seconds", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sock = NULL;
    double seconds = 2.0;
    int json = 0, o;
    static vouch_se_core core;
    static bench_ctx ctx_in, ctx_sock;
    vouch_inproc_transport inproc;
    vouch_unix_transport ut;
    vouch_se se_in, se_sock;
    vouch_se_config cfg;
    vouch_rc rc;
    static port_ctx pctx;
    double in_ops[N_OPS], sock_ops[N_OPS], port_ops[N_OPS];

    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            sock = optarg;
            break;
        case 't':
            seconds = atof(optarg);
            if (!(seconds > 0 && seconds <= 600)) {
                fprintf(stderr, "se_bench: --seconds wants 0 < S <= 600\n");
                return 2;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    /* in-process chip: the same core, no persistence to pay for */
    if (vouch_se_core_create(&core, vouch_port_openssl(), commit_nothing, NULL) != 0) {
        fprintf(stderr, "se_bench: cannot create an in-process chip\n");
        return 1;
    }
    if ((rc = vouch_transport_inproc_open(&inproc, &core)) != VOUCH_OK)
        die("in-process transport", rc);
    memset(&cfg, 0, sizeof cfg);
    cfg.transport = &vouch_transport_inproc;
    cfg.transport_ctx = &inproc;
    if ((rc = vouch_se_init(&se_in, &cfg)) != VOUCH_OK)
        die("vouch_se_init (in-process)", rc);
    memset(ctx_in.digest, 0xd1, sizeof ctx_in.digest);
    memset(ctx_in.msg, 0x4d, sizeof ctx_in.msg);
    ctx_sock = ctx_in;
    prepare(&se_in, &ctx_in, "in-process");

    if (sock) {
        if ((rc = vouch_transport_unix_open(&ut, sock)) != VOUCH_OK)
            die(sock, rc);
        memset(&cfg, 0, sizeof cfg);
        cfg.transport = &vouch_transport_unix;
        cfg.transport_ctx = &ut;
        if ((rc = vouch_se_init(&se_sock, &cfg)) != VOUCH_OK)
            die("vouch_se_init (socket)", rc);
        prepare(&se_sock, &ctx_sock, sock);
    }

    /* Each operation's time is cut into SLICES turns that alternate between
     * the paths, so a machine whose speed drifts (frequency, neighbours on a
     * VM) shifts all of them alike and the overhead, a difference of two
     * rates, stays meaningful. */
    port_setup(&pctx);
    for (size_t i = 0; i < N_OPS; i++) {
        char w_in[64], w_sock[64], w_port[64];
        double n_in = 0, t_in = 0, n_sock = 0, t_sock = 0, n_port = 0, t_port = 0;
        double slice = seconds / SLICES;
        snprintf(w_in, sizeof w_in, "%s (in-process)", OPS[i].label);
        snprintf(w_sock, sizeof w_sock, "%s (socket)", OPS[i].label);
        snprintf(w_port, sizeof w_port, "%s (port)", OPS[i].label);
        for (int k = 0; k < 20; k++) { /* warm caches, the daemon, OpenSSL's tables */
            double dn = 0, dt = 0;
            run_for(&se_in, &ctx_in, OPS[i].fn, NULL, NULL, w_in, 0, &dn, &dt);
            if (sock)
                run_for(&se_sock, &ctx_sock, OPS[i].fn, NULL, NULL, w_sock, 0, &dn, &dt);
        }
        for (int k = 0; k < SLICES; k++) {
            run_for(&se_in, &ctx_in, OPS[i].fn, NULL, NULL, w_in, slice, &n_in, &t_in);
            if (sock)
                run_for(&se_sock, &ctx_sock, OPS[i].fn, NULL, NULL, w_sock, slice, &n_sock,
                        &t_sock);
            if (OPS[i].pfn)
                run_for(NULL, NULL, NULL, &pctx, OPS[i].pfn, w_port, slice, &n_port, &t_port);
        }
        in_ops[i] = n_in / t_in;
        sock_ops[i] = sock ? n_sock / t_sock : 0;
        port_ops[i] = OPS[i].pfn ? n_port / t_port : 0;
        if (!json)
            fprintf(stderr, "se_bench: %-13s done\n", OPS[i].label);
    }

    if (json) {
        printf("{\"seconds\": %g, \"socket\": %s%s%s, \"ops\": [", seconds, sock ? "\"" : "",
               sock ? sock : "null", sock ? "\"" : "");
        for (size_t i = 0; i < N_OPS; i++) {
            double ius = 1e6 / in_ops[i];
            printf("%s\n  {\"op\": \"%s\", \"label\": \"%s\", \"inproc_ops_per_s\": %.1f, "
                   "\"inproc_us\": %.2f",
                   i ? "," : "", OPS[i].id, OPS[i].label, in_ops[i], ius);
            if (sock) {
                double sus = 1e6 / sock_ops[i];
                printf(", \"socket_ops_per_s\": %.1f, \"socket_us\": %.2f, \"overhead_us\": %.2f",
                       sock_ops[i], sus, sus - ius);
            }
            if (OPS[i].pfn)
                printf(", \"port_ops_per_s\": %.1f, \"port_us\": %.2f", port_ops[i],
                       1e6 / port_ops[i]);
            printf("}");
        }
        printf("\n], \"echo_rtt_us\": {\"inproc\": %.2f", 1e6 / in_ops[0]);
        if (sock)
            printf(", \"socket\": %.2f", 1e6 / sock_ops[0]);
        printf("}}\n");
    } else {
        printf("%-14s %13s %13s %10s %10s %12s %10s\n", "operation", "socket ops/s",
               "in-proc ops/s", "socket us", "in-proc us", "overhead us", "port us");
        for (size_t i = 0; i < N_OPS; i++) {
            double ius = 1e6 / in_ops[i];
            char pus[32] = "-";
            if (OPS[i].pfn)
                snprintf(pus, sizeof pus, "%.2f", 1e6 / port_ops[i]);
            if (sock) {
                double sus = 1e6 / sock_ops[i];
                printf("%-14s %13.0f %13.0f %10.2f %10.2f %12.2f %10s\n", OPS[i].label,
                       sock_ops[i], in_ops[i], sus, ius, sus - ius, pus);
            } else {
                printf("%-14s %13s %13.0f %10s %10.2f %12s %10s\n", OPS[i].label, "-",
                       in_ops[i], "-", ius, "-", pus);
            }
        }
        printf("echo round trip: in-process %.2f us", 1e6 / in_ops[0]);
        if (sock)
            printf(", socket %.2f us", 1e6 / sock_ops[0]);
        printf("\n");
    }

    if (sock)
        vouch_se_close(&se_sock);
    vouch_se_close(&se_in);
    vouch_se_core_wipe(&core);
    return 0;
}
