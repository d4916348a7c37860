/*
 * Unit tests of pki/se_key.c, a CA key held in a vouch-se slot: the key
 * reference parser and maker (every way a reference can be malformed), and
 * the key itself against the SE core served on a unix socket by a thread of
 * this test: generation and its refusals (occupied slot, lifecycle states),
 * opening (empty slot, wrong algorithm, no daemon), certificates and CRLs
 * signed through the SE and verified by OpenSSL, and reconnection after the
 * "daemon" restarts, including another chip behind the same socket.
 * tests/integration/ca_se_key.sh does the same with the real daemon and CLI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include <vouch/se.h>

#include "pki/pki.h"
#include "pki/se_key.h"
#include "se/core.h"

/* ======================= key references ==================================== */

static void parse_good(void **state)
{
    static const struct {
        const char *ref, *path;
        int slot;
    } good[] = {
        {"se:unix:/run/se.sock#3", "/run/se.sock", 3},
        {"se:unix:/run/se.sock#0", "/run/se.sock", 0},
        {"se:unix:/a#1", "/a", 1},
        {"se:unix:/tmp/we#ird/se.sock#2", "/tmp/we#ird/se.sock", 2}, /* the last '#' */
        {"se:unix:/with space/s#1", "/with space/s", 1},
    };
    char path[VOUCH_SE_KEY_PATH_MAX], why[256];
    int slot;
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        slot = -1;
        why[0] = '\0';
        assert_int_equal(vouch_se_key_ref_parse(good[i].ref, path, sizeof path, &slot, why,
                                                sizeof why),
                         VOUCH_PKI_OK);
        assert_string_equal(path, good[i].path);
        assert_int_equal(slot, good[i].slot);
    }
    /* the longest path a unix socket takes: 107 bytes */
    char ref[VOUCH_SE_KEY_REF_MAX], longp[108];
    longp[0] = '/';
    memset(longp + 1, 'p', 106);
    longp[107] = '\0';
    snprintf(ref, sizeof ref, "se:unix:%s#1", longp);
    assert_int_equal(vouch_se_key_ref_parse(ref, path, sizeof path, &slot, why, sizeof why),
                     VOUCH_PKI_OK);
    assert_string_equal(path, longp);
    /* why may be NULL */
    assert_int_equal(vouch_se_key_ref_parse("se:unix:/x#1", path, sizeof path, &slot, NULL, 0),
                     VOUCH_PKI_OK);
}

static void parse_bad(void **state)
{
    /* a 108-byte path (one too long), and a 250-byte reference */
    char p108[128], p200[260];
    memcpy(p108, "se:unix:/", 9);
    memset(p108 + 9, 'p', 107);
    memcpy(p108 + 116, "#1", 3);
    memset(p200, 'q', sizeof p200 - 1);
    memcpy(p200, "se:unix:/", 9);
    p200[sizeof p200 - 3] = '#';
    p200[sizeof p200 - 2] = '1';
    p200[sizeof p200 - 1] = '\0';
    const struct {
        const char *ref, *words;
    } bad[] = {
        {"", "not an SE key reference"},
        {"se:", "only unix:"},
        {"se:unix:", "no '#SLOT'"},
        {"se:unix:#1", "no socket path"},
        {"se:unix:relative/se.sock#1", "absolute"},
        {"se:unix:./se.sock#1", "absolute"},
        {"se:i2c:/dev/i2c-1@0x20#1", "only unix:"},
        {"se:tcp:/x#1", "only unix:"},
        {"SE:unix:/x#1", "not an SE key reference"},
        {"se:UNIX:/x#1", "only unix:"},
        {" se:unix:/x#1", "not an SE key reference"},
        {"unix:/x#1", "not an SE key reference"},
        {"/x#1", "not an SE key reference"},
        {"se:unix:/x", "no '#SLOT'"},
        {"se:unix:/x#", "slot after '#'"},
        {"se:unix:/x#01", "leading zeros"},
        {"se:unix:/x#00", "leading zeros"},
        {"se:unix:/x#+1", "decimal"},
        {"se:unix:/x#-1", "decimal"},
        {"se:unix:/x# 1", "decimal"},
        {"se:unix:/x#1 ", "decimal"},
        {"se:unix:/x#1\n", "decimal"},
        {"se:unix:/x#0x1", "slot after '#'"},
        {"se:unix:/x#1a", "decimal"},
        {"se:unix:/x#4", "does not exist"},
        {"se:unix:/x#9", "does not exist"},
        {"se:unix:/x#10", "does not exist"},
        {"se:unix:/x#255", "ephemeral"},
        {"se:unix:/x#256", "does not exist"},
        {"se:unix:/x#1000", "slot after '#'"},
        {"se:unix:/x#99999999999999999999", "slot after '#'"},
        {"se:unix:/a\tb#1", "control character"},
        {"se:unix:/a\x7f" "b#1", "control character"},
        {"se:unix:/a\x01#1", "control character"},
        {p108, "at most 107"},
        {p200, "at most 127"},
    };
    char path[VOUCH_SE_KEY_PATH_MAX], why[256];
    int slot;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(path, 'Z', sizeof path);
        path[sizeof path - 1] = '\0';
        slot = 77;
        why[0] = '\0';
        vouch_pki_rc rc = vouch_se_key_ref_parse(bad[i].ref, path, sizeof path, &slot, why,
                                                 sizeof why);
        if (rc != VOUCH_PKI_E_PARSE || !strstr(why, bad[i].words))
            fail_msg("case %zu '%s': rc %d, why '%s' (want '%s')", i, bad[i].ref, rc, why,
                     bad[i].words);
        assert_int_equal(slot, 77); /* outputs untouched */
        assert_int_equal(path[0], 'Z');
        /* the message never carries raw control characters */
        for (const char *w = why; *w; w++)
            assert_true((unsigned char)*w >= 0x20 && *w != 0x7f);
    }
    assert_int_equal(vouch_se_key_ref_parse(NULL, path, sizeof path, &slot, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_ref_parse("se:unix:/x#1", NULL, 0, &slot, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_ref_parse("se:unix:/x#1", path, sizeof path, NULL, why,
                                            sizeof why),
                     VOUCH_PKI_E_ARG);
    /* a path buffer too small for the path */
    assert_int_equal(vouch_se_key_ref_parse("se:unix:/abcdef#1", path, 4, &slot, why, sizeof why),
                     VOUCH_PKI_E_ARG);
}

static void make_refs(void **state)
{
    char ref[VOUCH_SE_KEY_REF_MAX], why[256], cwd[4096], want[4400], path[VOUCH_SE_KEY_PATH_MAX];
    int slot = -1;
    (void)state;
    assert_int_equal(vouch_se_key_ref_make("unix:/run/se.sock", 2, ref, sizeof ref, why,
                                           sizeof why),
                     VOUCH_PKI_OK);
    assert_string_equal(ref, "se:unix:/run/se.sock#2");
    /* relative paths are made absolute against the working directory */
    assert_non_null(getcwd(cwd, sizeof cwd));
    if (strlen(cwd) < 80) {
        assert_int_equal(vouch_se_key_ref_make("unix:se.sock", 1, ref, sizeof ref, why,
                                               sizeof why),
                         VOUCH_PKI_OK);
        snprintf(want, sizeof want, "se:unix:%s/se.sock#1", strcmp(cwd, "/") ? cwd : "");
        assert_string_equal(ref, want);
        assert_int_equal(vouch_se_key_ref_make("unix:./se.sock", 1, ref, sizeof ref, why,
                                               sizeof why),
                         VOUCH_PKI_OK);
        assert_string_equal(ref, want);
    }
    /* what make writes, parse reads back */
    assert_int_equal(vouch_se_key_ref_make("unix:/a#b/s", 3, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_OK);
    assert_int_equal(vouch_se_key_ref_parse(ref, path, sizeof path, &slot, why, sizeof why),
                     VOUCH_PKI_OK);
    assert_string_equal(path, "/a#b/s");
    assert_int_equal(slot, 3);

    static const struct {
        const char *spec;
        int slot;
        vouch_pki_rc rc;
        const char *words;
    } bad[] = {
        {"", 1, VOUCH_PKI_E_PARSE, "not unix:"},
        {"unix:", 1, VOUCH_PKI_E_PARSE, "no socket path"},
        {"i2c:/dev/i2c-1@0x20", 1, VOUCH_PKI_E_PARSE, "not unix:"},
        {"/run/se.sock", 1, VOUCH_PKI_E_PARSE, "not unix:"},
        {"UNIX:/run/se.sock", 1, VOUCH_PKI_E_PARSE, "not unix:"},
        {"unix:/a\nb", 1, VOUCH_PKI_E_PARSE, "control character"},
        {"unix:/run/se.sock", 4, VOUCH_PKI_E_ARG, "does not exist"},
        {"unix:/run/se.sock", -1, VOUCH_PKI_E_ARG, "does not exist"},
        {"unix:/run/se.sock", 255, VOUCH_PKI_E_ARG, "ephemeral"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(ref, "junk");
        why[0] = '\0';
        vouch_pki_rc rc = vouch_se_key_ref_make(bad[i].spec, bad[i].slot, ref, sizeof ref, why,
                                                sizeof why);
        if (rc != bad[i].rc || !strstr(why, bad[i].words))
            fail_msg("case %zu '%s' #%d: rc %d, why '%s'", i, bad[i].spec, bad[i].slot, rc, why);
        assert_string_equal(ref, "");
    }
    char longspec[160] = "unix:/";
    memset(longspec + 6, 'l', 110);
    assert_int_equal(vouch_se_key_ref_make(longspec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_PARSE);
    assert_non_null(strstr(why, "at most 107"));
    /* output buffer too small */
    assert_int_equal(vouch_se_key_ref_make("unix:/run/se.sock", 1, ref, 10, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_ref_make(NULL, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_ARG);
}

/* ======================= an SE on a unix socket ============================ */

#define CONNS 4

typedef struct srv {
    char dir[64];
    char path[108];
    int lfd;
    int fds[CONNS];
    pthread_t th;
    vouch_se_core *core;
    atomic_int stop;
    int running;
} srv;

static int no_commit(void *ctx, const uint8_t *blob, size_t len)
{
    (void)ctx;
    (void)blob;
    (void)len;
    return 0;
}

static vouch_se_core *core_new(void)
{
    vouch_se_core *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(vouch_se_core_create(c, vouch_port_openssl(), no_commit, NULL), 0);
    return c;
}

static void core_free(vouch_se_core *c)
{
    vouch_se_core_wipe(c);
    free(c);
}

/* Drives the core directly (in-process transport), e.g. to change its
 * lifecycle while no server runs. */
static void core_do(vouch_se_core *c, void (*fn)(vouch_se *))
{
    vouch_inproc_transport t;
    vouch_se se;
    assert_int_equal(vouch_transport_inproc_open(&t, c), VOUCH_OK);
    vouch_se_config cfg = {.transport = &vouch_transport_inproc, .transport_ctx = &t};
    assert_int_equal(vouch_se_init(&se, &cfg), VOUCH_OK);
    fn(&se);
    vouch_se_close(&se);
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One record in, one record out (docs/se-protocol.md 1.5). 0, or -1 when
 * the connection is done. */
static int serve_record(srv *s, int fd)
{
    uint8_t hdr[2], cmd[VOUCH_SE_CMD_FRAME_MAX], rsp[2 + VOUCH_SE_RSP_FRAME_MAX];
    if (read_exact(fd, hdr, 2) != 0)
        return -1;
    size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
    if (n == 0 || n > sizeof cmd || read_exact(fd, cmd, n) != 0)
        return -1; /* no re-reads needed here: the socket does not corrupt */
    size_t len = vouch_se_core_process(s->core, cmd, n, rsp + 2, sizeof rsp - 2);
    rsp[0] = (uint8_t)(len >> 8);
    rsp[1] = (uint8_t)len;
    return send(fd, rsp, len + 2, MSG_NOSIGNAL) == (ssize_t)(len + 2) ? 0 : -1;
}

static void *srv_main(void *arg)
{
    srv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p[1 + CONNS];
        p[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (int i = 0; i < CONNS; i++)
            p[1 + i] = (struct pollfd){.fd = s->fds[i], .events = POLLIN};
        if (poll(p, 1 + CONNS, 10) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);
            int i = 0;
            while (i < CONNS && s->fds[i] >= 0)
                i++;
            if (fd >= 0 && i < CONNS)
                s->fds[i] = fd;
            else if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < CONNS; i++)
            if (s->fds[i] >= 0 && (p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                serve_record(s, s->fds[i]) != 0) {
                close(s->fds[i]);
                s->fds[i] = -1;
            }
    }
    return NULL;
}

/* Starts serving `core` on s->path (the same path across restarts). */
static void srv_start(srv *s, vouch_se_core *core)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!s->dir[0]) {
        strcpy(s->dir, "/tmp/vouch-sekey-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->path, sizeof s->path, "%s/se.sock", s->dir);
    }
    s->core = core;
    atomic_store(&s->stop, 0);
    for (int i = 0; i < CONNS; i++)
        s->fds[i] = -1;
    strcpy(sa.sun_path, s->path);
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    s->running = 1;
}

/* The daemon goes away: every connection closed, the socket removed. */
static void srv_stop(srv *s)
{
    if (!s->running)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    for (int i = 0; i < CONNS; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    close(s->lfd);
    unlink(s->path);
    s->running = 0;
}

static void srv_done(srv *s)
{
    srv_stop(s);
    rmdir(s->dir);
}

static void spec_of(const srv *s, char *spec, size_t n) { snprintf(spec, n, "unix:%s", s->path); }

/* ======================= generation ======================================== */

static void slot_state(vouch_se_core *c, int slot, uint8_t *alg)
{
    *alg = c->live.slots[slot].alg;
}

static void generate_and_refusals(void **state)
{
    srv s = {0};
    vouch_se_core *core = core_new();
    char spec[160], ref[VOUCH_SE_KEY_REF_MAX], want[VOUCH_SE_KEY_REF_MAX], why[512];
    uint8_t alg, first[VOUCH_SE_P256_PUB_LEN];
    (void)state;
    srv_start(&s, core);
    spec_of(&s, spec, sizeof spec);
    snprintf(want, sizeof want, "se:unix:%s#1", s.path);

    /* CHECK_ONLY: every check, no key */
    assert_int_equal(vouch_se_key_generate_ex(spec, 1, VOUCH_SE_KEY_CHECK_ONLY, ref, sizeof ref,
                                              why, sizeof why),
                     VOUCH_PKI_OK);
    assert_string_equal(ref, want);
    slot_state(core, 1, &alg);
    assert_int_equal(alg, VOUCH_SE_ALG_NONE);

    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_OK);
    assert_string_equal(ref, want);
    slot_state(core, 1, &alg);
    assert_int_equal(alg, VOUCH_SE_ALG_P256);
    memcpy(first, core->live.slots[1].pub, sizeof first);

    /* occupied: refused, unchanged, also for CHECK_ONLY */
    strcpy(ref, "junk");
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "already holds a P-256 key"));
    assert_string_equal(ref, "");
    assert_memory_equal(core->live.slots[1].pub, first, sizeof first);
    assert_int_equal(vouch_se_key_generate_ex(spec, 1, VOUCH_SE_KEY_CHECK_ONLY, ref, sizeof ref,
                                              why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    /* replace: a new key */
    assert_int_equal(vouch_se_key_generate_ex(spec, 1, VOUCH_SE_KEY_REPLACE, ref, sizeof ref, why,
                                              sizeof why),
                     VOUCH_PKI_OK);
    assert_memory_not_equal(core->live.slots[1].pub, first, sizeof first);

    /* bad arguments */
    assert_int_equal(vouch_se_key_generate(spec, 4, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_generate(spec, 255, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_generate("i2c:/dev/i2c-1@0x20", 1, ref, sizeof ref, why,
                                           sizeof why),
                     VOUCH_PKI_E_PARSE);
    assert_int_equal(vouch_se_key_generate(spec, 2, ref, 8, why, sizeof why), VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_generate_ex(spec, 2, 0x80, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_ARG);
    assert_int_equal(vouch_se_key_generate(spec, 2, NULL, 0, why, sizeof why), VOUCH_PKI_E_ARG);
    slot_state(core, 2, &alg);
    assert_int_equal(alg, VOUCH_SE_ALG_NONE);

    /* no daemon */
    srv_stop(&s);
    assert_int_equal(vouch_se_key_generate(spec, 2, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_SIGNER);
    assert_non_null(strstr(why, "cannot connect to the SE at unix:"));
    assert_non_null(strstr(why, s.path));
    srv_done(&s);
    core_free(core);
}

static void to_operational(vouch_se *se)
{
    assert_int_equal(vouch_se_lifecycle(se, VOUCH_SE_LC_OPERATIONAL, VOUCH_PLAIN), VOUCH_OK);
}
static void to_terminated(vouch_se *se)
{
    assert_int_equal(vouch_se_lifecycle(se, VOUCH_SE_LC_TERMINATED, VOUCH_PLAIN), VOUCH_OK);
}
static const uint8_t HK[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static void host_keys_then_operational(vouch_se *se)
{
    assert_int_equal(vouch_se_put_host_keys(se, HK, HK + 16, VOUCH_PLAIN), VOUCH_OK);
    assert_int_equal(vouch_se_lifecycle(se, VOUCH_SE_LC_OPERATIONAL, VOUCH_SECURE), VOUCH_OK);
}
static void hibernate(vouch_se *se) { assert_int_equal(vouch_se_hibernate(se), VOUCH_OK); }

static void generate_lifecycles(void **state)
{
    char spec[160], ref[VOUCH_SE_KEY_REF_MAX], why[512];
    uint8_t alg;
    (void)state;

    srv s = {0};
    vouch_se_core *op = core_new();
    core_do(op, to_operational);
    srv_start(&s, op);
    spec_of(&s, spec, sizeof spec);
    assert_int_equal(vouch_se_key_generate(spec, 0, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "factory slot"));
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_OK);
    slot_state(op, 1, &alg);
    assert_int_equal(alg, VOUCH_SE_ALG_P256);
    srv_stop(&s);
    core_free(op);

    vouch_se_core *chan = core_new();
    core_do(chan, host_keys_then_operational);
    srv_start(&s, chan);
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "host secure channel"));
    slot_state(chan, 1, &alg);
    assert_int_equal(alg, VOUCH_SE_ALG_NONE);
    srv_stop(&s);
    core_free(chan);

    vouch_se_core *term = core_new();
    core_do(term, to_terminated);
    srv_start(&s, term);
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "terminated"));
    srv_stop(&s);
    core_free(term);

    vouch_se_core *sleepy = core_new();
    core_do(sleepy, hibernate);
    srv_start(&s, sleepy);
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "hibernating"));
    srv_done(&s);
    core_free(sleepy);
}

/* ======================= opening and signing =============================== */

static X509 *self_signed(const vouch_pki_signer *sg)
{
    uint8_t serial[VOUCH_PKI_SERIAL_LEN];
    X509 *c = NULL;
    time_t now = time(NULL);
    assert_int_equal(vouch_pki_serial_random(serial), VOUCH_PKI_OK);
    vouch_pki_ca_params p = {.org = "Acme", .cn = "SE Root", .serial = serial,
                             .serial_len = sizeof serial, .not_before = now - 60,
                             .not_after = now + 86400, .path_len = 0};
    vouch_pki_rc rc = vouch_pki_ca_root(&p, sg, &c);
    if (rc != VOUCH_PKI_OK)
        return NULL;
    return c;
}

static vouch_pki_rc sign_crl(const vouch_se_key *k, X509 *cert)
{
    X509_CRL *crl = NULL;
    time_t now = time(NULL);
    vouch_pki_rc rc = vouch_pki_crl_build(cert, vouch_se_key_signer(k), NULL, 0, 7, now,
                                          now + 3600, &crl);
    if (rc == VOUCH_PKI_OK) {
        EVP_PKEY *pub = X509_get0_pubkey(cert);
        assert_int_equal(X509_CRL_verify(crl, pub), 1);
    }
    X509_CRL_free(crl);
    ERR_clear_error();
    return rc;
}

static void put_ed25519_in_slot2(vouch_se *se)
{
    uint8_t pub[65];
    size_t n;
    assert_int_equal(vouch_se_keygen(se, 2, VOUCH_SE_ALG_ED25519, pub, sizeof pub, &n,
                                     VOUCH_PLAIN),
                     VOUCH_OK);
}

static void open_sign_reconnect(void **state)
{
    srv s = {0};
    vouch_se_core *core = core_new(), *other = core_new();
    char spec[160], ref[VOUCH_SE_KEY_REF_MAX], why[512], bad[VOUCH_SE_KEY_REF_MAX];
    vouch_se_key *k = NULL, *k2 = NULL;
    (void)state;
    core_do(core, put_ed25519_in_slot2);
    srv_start(&s, core);
    spec_of(&s, spec, sizeof spec);
    assert_int_equal(vouch_se_key_generate(spec, 1, ref, sizeof ref, why, sizeof why),
                     VOUCH_PKI_OK);

    /* refusals first: *out stays NULL */
    k = (vouch_se_key *)1;
    assert_int_equal(vouch_se_key_open("se:unix:rel#1", &k, why, sizeof why), VOUCH_PKI_E_PARSE);
    assert_null(k);
    snprintf(bad, sizeof bad, "se:unix:%s#3", s.path);
    assert_int_equal(vouch_se_key_open(bad, &k, why, sizeof why), VOUCH_PKI_E_NOTFOUND);
    assert_null(k);
    assert_non_null(strstr(why, "holds no key"));
    snprintf(bad, sizeof bad, "se:unix:%s#2", s.path);
    assert_int_equal(vouch_se_key_open(bad, &k, why, sizeof why), VOUCH_PKI_E_POLICY);
    assert_non_null(strstr(why, "Ed25519"));
    snprintf(bad, sizeof bad, "se:unix:%s.none#1", s.path);
    assert_int_equal(vouch_se_key_open(bad, &k, why, sizeof why), VOUCH_PKI_E_SIGNER);
    assert_non_null(strstr(why, "cannot connect"));
    assert_int_equal(vouch_se_key_open(ref, NULL, why, sizeof why), VOUCH_PKI_E_ARG);
    vouch_se_key_close(NULL);

    /* open: the public key is the slot's; a self-signed root through it */
    assert_int_equal(vouch_se_key_open(ref, &k, why, sizeof why), VOUCH_PKI_OK);
    assert_string_equal(vouch_se_key_ref(k), ref);
    assert_string_equal(vouch_se_key_last_error(k), "");
    EVP_PKEY *pub = vouch_se_key_public(k);
    assert_non_null(pub);
    uint8_t raw[VOUCH_SE_P256_PUB_LEN];
    size_t rl = 0;
    assert_int_equal(EVP_PKEY_get_octet_string_param(pub, "encoded-pub-key", raw, sizeof raw, &rl), 1);
    assert_int_equal(rl, sizeof raw);
    assert_memory_equal(raw, core->live.slots[1].pub, sizeof raw);
    assert_ptr_equal(vouch_pki_signer_public(vouch_se_key_signer(k)), pub);
    X509 *root = self_signed(vouch_se_key_signer(k));
    assert_non_null(root);
    assert_int_equal(X509_verify(root, pub), 1);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_OK);
    /* two keys on one SE, each its own connection */
    assert_int_equal(vouch_se_key_open(ref, &k2, why, sizeof why), VOUCH_PKI_OK);
    assert_int_equal(sign_crl(k2, root), VOUCH_PKI_OK);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_OK);
    vouch_se_key_close(k2);

    /* the daemon goes away: clean failures, with reasons */
    srv_stop(&s);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_E_SIGNER);
    assert_non_null(strstr(vouch_se_key_last_error(k), "cannot sign"));
    assert_non_null(strstr(vouch_se_key_last_error(k), s.path));
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_E_SIGNER);
    /* ... and comes back: the next signature reconnects */
    srv_start(&s, core);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_OK);
    assert_string_equal(vouch_se_key_last_error(k), "");
    /* restarted between two signatures: the stale connection is noticed
     * and replaced within the same call */
    srv_stop(&s);
    srv_start(&s, core);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_OK);

    /* another chip behind the same socket, with a key in slot 1 too */
    srv_stop(&s);
    char ospec[160], oref[VOUCH_SE_KEY_REF_MAX];
    srv_start(&s, other);
    spec_of(&s, ospec, sizeof ospec);
    assert_int_equal(vouch_se_key_generate(ospec, 1, oref, sizeof oref, why, sizeof why),
                     VOUCH_PKI_OK);
    srv_stop(&s);
    srv_start(&s, other);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_E_SIGNER);
    assert_non_null(strstr(vouch_se_key_last_error(k), "another key"));
    /* the right chip back */
    srv_stop(&s);
    srv_start(&s, core);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_OK);

    /* the key replaced in the slot behind our back: the SE signs, the
     * signature does not verify, nothing is produced */
    assert_int_equal(vouch_se_key_generate_ex(spec, 1, VOUCH_SE_KEY_REPLACE, oref, sizeof oref,
                                              why, sizeof why),
                     VOUCH_PKI_OK);
    assert_int_equal(sign_crl(k, root), VOUCH_PKI_E_SIGNER);

    X509_free(root);
    vouch_se_key_close(k);
    srv_done(&s);
    core_free(core);
    core_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good),
        cmocka_unit_test(parse_bad),
        cmocka_unit_test(make_refs),
        cmocka_unit_test(generate_and_refusals),
        cmocka_unit_test(generate_lifecycles),
        cmocka_unit_test(open_sign_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
