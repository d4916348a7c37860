/*
 * fw_bench: firmware image verification throughput against OpenSSL's own
 * SHA-256 of the same file (docs/perf.md, "Firmware image verification").
 *
 *   fw_bench --image IMG --pubkey PEM [--runs N] [--chunk BYTES]
 *            [--vouch PATH] [--openssl PATH] [--json]
 *
 * The file is read once first so it is in the page cache. Then, in each of
 * N rounds (default 7), one after the other so that a machine whose speed
 * drifts moves them alike:
 *   openssl   `openssl dgst -sha256 IMG` as a process (posix_spawn to exit),
 *             wall time: the reference;
 *   verify    vouch_fw_verify in this process: a reader over pread() with a
 *             --chunk buffer (default 64 KiB), the SHA-256 streamed through
 *             the OpenSSL crypto port, key hash lookup, signature check;
 *   cli       `vouch fw verify --pubkey PEM IMG` as a process (with --vouch);
 *   sha       the same pread() loop into EVP SHA-256 alone, in process: what
 *             hashing the file costs without anything of vouch around it;
 *   startup   `openssl dgst -sha256 /dev/null`: what the openssl process
 *             costs before it hashes anything (subtracted for "a-e").
 * Each is reported as its best round, in MB/s (10^6 bytes per second of
 * wall time, over the whole file), with verify / openssl as the ratio the
 * target is about (>= 80 %). Exit 0 when every verification succeeded, 1
 * otherwise (the image is then not what bench/fw_bench.sh signed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <vouch/fw.h>

#include "fw/sign.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct pread_rd {
    int fd;
} pread_rd;

static int rd_pread(void *ctx, uint32_t off, uint8_t *buf, size_t len)
{
    pread_rd *r = ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(r->fd, buf + done, len - done, (off_t)off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Wall time of a command run to its exit, stdout and stderr to /dev/null;
 * -1 if it could not run or did not exit 0. */
static double run_cmd(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st = 0;
    double t0 = now_s(), t;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    t = now_s() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

static int load_key(const char *path, vouch_fw_key *k)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pk = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    size_t len = 0;
    int ok;
    if (f)
        fclose(f);
    memset(k, 0, sizeof *k);
    ok = pk && vouch_fw_pub_raw(pk, &k->alg, k->pub, &len) == 0 &&
         vouch_fw_keyhash(vouch_port_openssl(), k->alg, k->pub, len, k->keyhash) == VOUCH_OK;
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

static double time_sha(int fd, uint64_t size, uint8_t *chunk, size_t chunk_size)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    uint8_t out[32];
    unsigned int n = 0;
    pread_rd r = {fd};
    double t0 = now_s();
    int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1;
    for (uint64_t off = 0; ok && off < size; off += chunk_size) {
        size_t len = size - off < chunk_size ? (size_t)(size - off) : chunk_size;
        ok = rd_pread(&r, (uint32_t)off, chunk, len) == 0 && EVP_DigestUpdate(m, chunk, len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(m, out, &n) == 1;
    EVP_MD_CTX_free(m);
    return ok ? now_s() - t0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: fw_bench --image IMG --pubkey PEM [--runs N] [--chunk BYTES]\n"
                    "                [--vouch PATH] [--openssl PATH] [--json]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *image = NULL, *pubkey = NULL, *vouch = NULL, *openssl = "openssl";
    long runs = 7, chunk_size = 64 * 1024;
    int json = 0, c;
    static const struct option lo[] = {{"image", 1, 0, 'i'}, {"pubkey", 1, 0, 'k'},
                                       {"runs", 1, 0, 'n'},  {"chunk", 1, 0, 'c'},
                                       {"vouch", 1, 0, 'v'}, {"openssl", 1, 0, 'o'},
                                       {"json", 0, 0, 'j'},  {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'i': image = optarg; break;
        case 'k': pubkey = optarg; break;
        case 'n': runs = strtol(optarg, NULL, 10); break;
        case 'c': chunk_size = strtol(optarg, NULL, 10); break;
        case 'v': vouch = optarg; break;
        case 'o': openssl = optarg; break;
        case 'j': json = 1; break;
        default: usage();
        }
    }
    if (!image || !pubkey || runs < 1 || runs > 1000 || chunk_size < 64 ||
        chunk_size > 64L * 1024 * 1024)
        usage();

    vouch_fw_key key;
    if (load_key(pubkey, &key) != 0) {
        fprintf(stderr, "fw_bench: %s: not a P-256 or Ed25519 public key\n", pubkey);
        return 2;
    }
    int fd = open(image, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size > (off_t)VOUCH_FW_IMAGE_MAX) {
        fprintf(stderr, "fw_bench: %s: %s\n", image, fd < 0 ? strerror(errno) : "too large");
        return 2;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t *chunk = malloc((size_t)chunk_size);
    if (!chunk)
        return 2;
    /* into the page cache, and checked once */
    posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    if (time_sha(fd, size, chunk, (size_t)chunk_size) < 0) {
        fprintf(stderr, "fw_bench: cannot read %s\n", image);
        return 2;
    }

    const vouch_crypto_port *port = vouch_port_openssl();
    vouch_fw_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.keys = &key;
    pol.nkeys = 1;
    char *ossl_argv[] = {(char *)openssl, "dgst", "-sha256", (char *)image, NULL};
    char *ossl0_argv[] = {(char *)openssl, "dgst", "-sha256", "/dev/null", NULL};
    char *cli_argv[] = {(char *)vouch, "fw", "verify", "--pubkey", (char *)pubkey, (char *)image,
                        NULL};
    double best_o = 1e9, best_v = 1e9, best_c = 1e9, best_s = 1e9, best_0 = 1e9;
    int failed = 0;
    vouch_fw_result res;
    for (long i = 0; i < runs; i++) {
        double t = run_cmd(ossl_argv);
        if (t < 0) {
            fprintf(stderr, "fw_bench: %s dgst failed\n", openssl);
            return 1;
        }
        if (t < best_o)
            best_o = t;
        t = run_cmd(ossl0_argv);
        if (t > 0 && t < best_0)
            best_0 = t;

        pread_rd r = {fd};
        double t0 = now_s();
        vouch_rc rc = vouch_fw_verify(rd_pread, &r, (uint32_t)size, port, &pol, chunk,
                                      (size_t)chunk_size, &res);
        t = now_s() - t0;
        if (rc != VOUCH_OK) {
            fprintf(stderr, "fw_bench: %s: %s\n", image, vouch_fw_strerror(rc));
            failed = 1;
            break;
        }
        if (t < best_v)
            best_v = t;

        if (vouch) {
            t = run_cmd(cli_argv);
            if (t < 0) {
                fprintf(stderr, "fw_bench: %s fw verify failed\n", vouch);
                failed = 1;
                break;
            }
            if (t < best_c)
                best_c = t;
        }

        t = time_sha(fd, size, chunk, (size_t)chunk_size);
        if (t > 0 && t < best_s)
            best_s = t;
    }
    close(fd);
    free(chunk);
    if (failed)
        return 1;

    double mb = (double)size / 1e6;
    double o = mb / best_o, v = mb / best_v, s = mb / best_s, cl = vouch ? mb / best_c : 0;
    /* openssl's hashing alone: its run minus the run of an empty file */
    double oh = best_o > best_0 ? mb / (best_o - best_0) : 0;
    if (json) {
        printf("{\"bytes\":%llu,\"runs\":%ld,\"chunk\":%ld,\"openssl_dgst_mb_s\":%.1f,"
               "\"openssl_dgst_ms\":%.2f,\"vouch_fw_verify_mb_s\":%.1f,\"vouch_fw_verify_ms\":%.2f,"
               "\"sha256_inproc_mb_s\":%.1f,\"sha256_inproc_ms\":%.2f,"
               "\"openssl_startup_ms\":%.2f,\"openssl_hash_only_mb_s\":%.1f",
               (unsigned long long)size, runs, chunk_size, o, best_o * 1e3, v, best_v * 1e3, s,
               best_s * 1e3, best_0 * 1e3, oh);
        if (vouch)
            printf(",\"cli_mb_s\":%.1f,\"cli_ms\":%.2f", cl, best_c * 1e3);
        printf(",\"ratio\":%.3f,\"ratio_inproc_sha\":%.3f}\n", v / o, v / s);
    } else {
        printf("image: %s, %llu bytes (%.2f MiB), best of %ld runs, chunk %ld bytes\n", image,
               (unsigned long long)size, (double)size / 1048576.0, runs, chunk_size);
        printf("| what | best ms | MB/s |\n|---|---:|---:|\n");
        printf("| (a) openssl dgst -sha256 (process) | %.2f | %.1f |\n", best_o * 1e3, o);
        printf("| (b) vouch_fw_verify, pread %ld-byte chunks | %.2f | %.1f |\n", chunk_size,
               best_v * 1e3, v);
        if (vouch)
            printf("| (c) vouch fw verify --pubkey (process) | %.2f | %.1f |\n", best_c * 1e3,
                   cl);
        printf("| (d) SHA-256 alone, same reads, in process | %.2f | %.1f |\n", best_s * 1e3, s);
        printf("| (e) openssl dgst -sha256 /dev/null (start-up) | %.2f | - |\n", best_0 * 1e3);
        printf("| (a-e) openssl hashing without its start-up | %.2f | %.1f |\n",
               (best_o - best_0) * 1e3, oh);
        printf("ratio (b)/(a): %.0f %%; target >= 80 %%: %s\n", 100.0 * v / o,
               v / o >= 0.8 ? "MET" : "NOT MET");
        printf("ratio (b)/(d): %.0f %%   (b)/(a-e): %.0f %%\n", 100.0 * v / s,
               oh > 0 ? 100.0 * v / oh : 0.0);
    }
    return 0;
}
