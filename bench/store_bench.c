/*
 * store_bench [DIR] [N]: what the store costs with synchronous=FULL.
 *   1. durable inserts, one transaction (one fsync) per certificate
 *   2. durable inserts, 100 certificates per transaction (group commit)
 *   3. listing 100,000 revoked certificates of one issuer (CRL build input)
 * DIR (default /tmp) should be on the disk the server would use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t der[600];

static int insert(vouch_store *s, int64_t issuer, uint64_t i, char *err, size_t errsize)
{
    vouch_store_cert c;
    memset(&c, 0, sizeof c);
    c.issuer_id = issuer;
    if (RAND_bytes(c.serial, 16) != 1)
        return 1;
    c.serial[0] &= 0x7f;
    c.serial_len = 16;
    char cn[64];
    snprintf(cn, sizeof cn, "dev-%08" PRIu64, i);
    c.subject = cn;
    c.device_id = cn;
    c.template_name = "device";
    c.not_before = 1700000000;
    c.not_after = 1700000000 + 86400 * (int64_t)(1 + i % 730);
    c.issued_at = 1700000000 + (int64_t)i;
    memcpy(der + 8, &i, sizeof i); /* distinct fingerprints */
    c.der = der;
    c.der_len = sizeof der;
    return vouch_store_cert_insert(s, &c, "bench", NULL, err, errsize) != VOUCH_STORE_OK;
}

static int count_cb(void *ctx, const vouch_store_revoked *r)
{
    (void)r;
    (*(uint64_t *)ctx)++;
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n_single = argc > 2 ? atoi(argv[2]) : 500;
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/store_bench_%d.db", dir, (int)getpid());
    vouch_store *s = NULL;
    if (vouch_store_open_sqlite(path, &s, err, sizeof err) != VOUCH_STORE_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    memset(der, 0x30, sizeof der);
    vouch_store_issuer is = {.name = "bench-ca", .kind = VOUCH_ISSUER_ISSUING,
                             .cert_der = der, .cert_der_len = 300, .key_ref = "se:unix:/x#1"};
    int64_t issuer = 0;
    if (vouch_store_issuer_insert(s, &is, "bench", &issuer, err, sizeof err) != VOUCH_STORE_OK) {
        fprintf(stderr, "issuer: %s\n", err);
        return 1;
    }
    uint64_t seq = 0;

    double t0 = now_s();
    for (int i = 0; i < n_single; i++)
        if (insert(s, issuer, seq++, err, sizeof err)) {
            fprintf(stderr, "insert: %s\n", err);
            return 1;
        }
    double single = n_single / (now_s() - t0);

    int batches = 100;
    t0 = now_s();
    for (int b = 0; b < batches; b++) {
        if (vouch_store_begin(s, err, sizeof err) != VOUCH_STORE_OK)
            return 1;
        for (int i = 0; i < 100; i++)
            if (insert(s, issuer, seq++, err, sizeof err)) {
                fprintf(stderr, "insert: %s\n", err);
                return 1;
            }
        if (vouch_store_commit(s, err, sizeof err) != VOUCH_STORE_OK) {
            fprintf(stderr, "commit: %s\n", err);
            return 1;
        }
    }
    double batched = batches * 100 / (now_s() - t0);

    /* 100k revoked certificates under a second issuer, filled in big
     * transactions (set-up, not measured). */
    vouch_store_issuer is2 = is;
    is2.name = "crl-ca";
    int64_t issuer2 = 0;
    if (vouch_store_issuer_insert(s, &is2, "bench", &issuer2, err, sizeof err) != VOUCH_STORE_OK)
        return 1;
    double tf = now_s();
    const int N = 100000;
    for (int b = 0; b < N / 5000; b++) {
        if (vouch_store_begin(s, err, sizeof err) != VOUCH_STORE_OK)
            return 1;
        for (int i = 0; i < 5000; i++) {
            vouch_store_cert c;
            memset(&c, 0, sizeof c);
            c.issuer_id = issuer2;
            if (RAND_bytes(c.serial, 16) != 1)
                return 1;
            c.serial_len = 16;
            c.subject = "CN=x";
            c.not_before = 1700000000;
            c.not_after = 1900000000;
            uint64_t k = seq++;
            memcpy(der + 8, &k, sizeof k);
            c.der = der;
            c.der_len = 300;
            if (vouch_store_cert_insert(s, &c, "bench", NULL, err, sizeof err) != VOUCH_STORE_OK ||
                vouch_store_cert_revoke(s, issuer2, c.serial, 16, 1, "bench", err, sizeof err) !=
                    VOUCH_STORE_OK) {
                fprintf(stderr, "fill: %s\n", err);
                return 1;
            }
        }
        if (vouch_store_commit(s, err, sizeof err) != VOUCH_STORE_OK)
            return 1;
    }
    double fill = N / (now_s() - tf);
    uint64_t listed = 0;
    t0 = now_s();
    if (vouch_store_cert_list_revoked(s, issuer2, count_cb, &listed, err, sizeof err) !=
        VOUCH_STORE_OK) {
        fprintf(stderr, "list: %s\n", err);
        return 1;
    }
    double list_ms = (now_s() - t0) * 1000;

    printf("store_bench (SQLite WAL, synchronous=FULL, %s)\n", dir);
    printf("  durable inserts, 1 per transaction:   %8.0f /s  (%d)\n", single, n_single);
    printf("  durable inserts, 100 per transaction: %8.0f /s  (%d)\n", batched, batches * 100);
    printf("  insert+revoke, 5000 per transaction:  %8.0f /s  (%d, set-up)\n", fill, N);
    printf("  list %" PRIu64 " revoked entries:          %8.1f ms\n", listed, list_ms);
    vouch_store_close(s);
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return listed == (uint64_t)N ? 0 : 1;
}
