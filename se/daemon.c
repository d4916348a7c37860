/*
 * vouch-se: one software secure element served on a unix socket.
 *
 * The daemon owns the chip's state directory (flock), keeps the state sealed
 * at rest (seal.c), and runs the transport-free SE core for each command
 * record that arrives. It is single-threaded like the chip it imitates: one
 * command executes at a time; under the timing model a command arriving while
 * another is still "executing" is answered E_BUSY at once, as a chip NACKs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <vouch/port.h>
#include "se/core.h"
#include "se/seal.h"

#define MAX_CONNS 32
#define REC_MAX VOUCH_SE_CMD_FRAME_MAX
#define STATE_FILE "state.bin"
#define SPIN_NS 150000L /* busy-poll window after a command, see main loop */

static const char USAGE[] =
    "Usage: vouch-se --state DIR --seal-key FILE --socket PATH [options]\n"
    "\n"
    "Serve one software secure element on a unix socket, speaking the vouch SE\n"
    "protocol (docs/se-protocol.md). An empty or missing DIR is a new chip: it\n"
    "gets a random serial and starts in the PERSONALIZATION lifecycle state.\n"
    "The chip's state is kept in DIR/state.bin, encrypted and authenticated\n"
    "(AES-256-GCM) under a key derived from FILE, and rewritten atomically on\n"
    "every change before the response leaves. Only one vouch-se may serve a DIR.\n"
    "\n"
    "Options:\n"
    "  --state DIR          the chip's state directory (created if missing)\n"
    "  --seal-key FILE      16 to 4096 secret bytes standing in for the chip's PUF;\n"
    "                       make one with: head -c 32 /dev/urandom > FILE\n"
    "  --socket PATH        unix socket to listen on (a stale one is replaced)\n"
    "  --timing MODEL       none (default) or stsafe-a110: answer after the\n"
    "                       execution time of a real chip; meanwhile other\n"
    "                       connections get E_BUSY\n"
    "  --fault-rate F       corrupt each response byte with probability F (0..1),\n"
    "                       to exercise the host library's retries\n"
    "  --fault-seed N       seed for the fault generator (default: time)\n"
    "  -q, --quiet          no startup line\n"
    "  -h, --help           this text\n"
    "  --version            print the version\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT, 1 when the chip cannot be served\n"
    "(directory in use, state unreadable, socket error), 2 on a usage error.\n"
    "\n"
    "Example:\n"
    "  head -c 32 /dev/urandom > chip.key\n"
    "  vouch-se --state chip --seal-key chip.key --socket /tmp/se.sock &\n"
    "  vouch se --se unix:/tmp/se.sock info\n";

typedef struct conn {
    int fd;
    struct timespec active; /* last time a record arrived */
    uint8_t in[2 + REC_MAX];
    size_t in_len;
    uint8_t last[VOUCH_SE_RSP_FRAME_MAX];
    size_t last_len;
} conn;

static struct {
    const char *dir;
    uint8_t seal_key[VOUCH_SEAL_KEY_LEN];
    vouch_se_core core;
    int timing;
    double fault_rate;
    uint64_t rng;
    conn conns[MAX_CONNS];
    int n_conns;
    /* the one command "executing" under the timing model */
    int pending;          /* index into conns, or -1 */
    struct timespec busy_until;
    struct timespec last_io; /* when the last record was handled */
} D;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int commit_state(void *ctx, const uint8_t *blob, size_t len)
{
    (void)ctx;
    int rc = vouch_seal_write(D.dir, STATE_FILE, D.seal_key, blob, len);
    if (rc == VOUCH_SEAL_E_DURABILITY) {
        /* The new state is already the file's content, so answering
         * E_STORAGE ("nothing changed") would be a lie, and answering OK
         * would promise durability we do not have. Stop, as a chip that
         * browns out mid-write would: on restart the disk is the truth. */
        fprintf(stderr, "vouch-se: %s; stopping so the state on disk stays authoritative\n",
                vouch_seal_strerror(rc));
        _exit(1);
    }
    if (rc != VOUCH_SEAL_OK) {
        fprintf(stderr, "vouch-se: cannot write state: %s\n", vouch_seal_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- timing model: approximate execution times of an STSAFE-A110 (ms) --- */
static unsigned exec_ms(const uint8_t *cmd, size_t len)
{
    static const unsigned base[VOUCH_SE_CMD_COUNT_] = {
        [VOUCH_SE_CMD_ECHO] = 1,    [VOUCH_SE_CMD_RESET] = 5,     [VOUCH_SE_CMD_RANDOM] = 3,
        [VOUCH_SE_CMD_QUERY] = 2,   [VOUCH_SE_CMD_READ] = 5,      [VOUCH_SE_CMD_UPDATE] = 12,
        [VOUCH_SE_CMD_DECREMENT] = 12, [VOUCH_SE_CMD_KEYGEN] = 60, [VOUCH_SE_CMD_PUBKEY] = 2,
        [VOUCH_SE_CMD_SIGN] = 48,   [VOUCH_SE_CMD_VERIFY] = 90,   [VOUCH_SE_CMD_ECDH] = 50,
        [VOUCH_SE_CMD_WRAP] = 8,    [VOUCH_SE_CMD_UNWRAP] = 8,    [VOUCH_SE_CMD_LIFECYCLE] = 12,
        [VOUCH_SE_CMD_HIBERNATE] = 1, [VOUCH_SE_CMD_WAKE] = 2,    [VOUCH_SE_CMD_ZONE_AC] = 12,
        [VOUCH_SE_CMD_HOST_KEYS] = 12,
    };
    uint8_t code;
    if (len < 3)
        return 1;
    code = cmd[0] & VOUCH_SE_HDR_CMD_MASK;
    if (code >= VOUCH_SE_CMD_COUNT_)
        return 1;
    /* Ed25519 variants are a little faster on such chips */
    if (len >= 5 && code == VOUCH_SE_CMD_KEYGEN && cmd[2] == VOUCH_SE_ALG_ED25519)
        return 45;
    if (len >= 4 && code == VOUCH_SE_CMD_SIGN && cmd[1] < VOUCH_SE_SLOTS &&
        D.core.live.slots[cmd[1]].alg == VOUCH_SE_ALG_ED25519)
        return 40;
    if (len >= 5 && code == VOUCH_SE_CMD_VERIFY && cmd[1] == 0 && cmd[2] == VOUCH_SE_ALG_ED25519)
        return 70;
    return base[code];
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* ---- fault model ---------------------------------------------------------- */
static uint64_t rng_next(void)
{
    /* xorshift64*: test noise, not cryptography */
    D.rng ^= D.rng >> 12;
    D.rng ^= D.rng << 25;
    D.rng ^= D.rng >> 27;
    return D.rng * 0x2545F4914F6CDD1DULL;
}

static void corrupt(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((double)(rng_next() >> 11) / 9007199254740992.0 < D.fault_rate)
            p[i] ^= (uint8_t)(1u << (rng_next() % 8));
}

/* ---- connections ---------------------------------------------------------- */
static void drop_conn(int i)
{
    close(D.conns[i].fd);
    /* records may hold host keys sent in clear at personalization */
    OPENSSL_cleanse(&D.conns[i], sizeof D.conns[i]);
    if (D.pending == i)
        D.pending = -1;
    else if (D.pending == D.n_conns - 1)
        D.pending = i;
    D.conns[i] = D.conns[D.n_conns - 1];
    D.n_conns--;
}

/* Sends one response record; the frame is corrupted on the way if asked. */
static int send_record(conn *c, const uint8_t *frame, size_t len)
{
    uint8_t rec[2 + VOUCH_SE_RSP_FRAME_MAX];
    size_t n = 2 + len, off = 0;
    rec[0] = (uint8_t)(len >> 8);
    rec[1] = (uint8_t)len;
    memcpy(rec + 2, frame, len);
    if (D.fault_rate > 0)
        corrupt(rec + 2, len);
    while (off < n) {
        ssize_t w = send(c->fd, rec + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int respond(conn *c, const uint8_t *frame, size_t len)
{
    memcpy(c->last, frame, len);
    c->last_len = len;
    return send_record(c, frame, len);
}

/* Handles one complete record from connection i. Returns -1 to drop it. */
static int handle_record(int i, const uint8_t *frame, size_t len)
{
    conn *c = &D.conns[i];
    uint8_t rsp[VOUCH_SE_RSP_FRAME_MAX];
    size_t n;
    struct timespec now;

    if (len == 0) { /* re-read: the last response again, never re-executed */
        if (c->last_len == 0) {
            n = vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, sizeof rsp);
            return send_record(c, rsp, n);
        }
        return send_record(c, c->last, c->last_len);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    D.last_io = now;
    if (D.pending >= 0 || (D.timing && ts_before(&now, &D.busy_until))) {
        n = vouch_se_core_status_frame(VOUCH_SE_E_BUSY, rsp, sizeof rsp);
        return respond(c, rsp, n);
    }
    n = vouch_se_core_process(&D.core, frame, len, rsp, sizeof rsp);
    if (!D.timing)
        return respond(c, rsp, n);
    {
        unsigned ms = exec_ms(frame, len);
        D.busy_until = now;
        D.busy_until.tv_nsec += (long)(ms % 1000) * 1000000L;
        D.busy_until.tv_sec += ms / 1000 + D.busy_until.tv_nsec / 1000000000L;
        D.busy_until.tv_nsec %= 1000000000L;
        memcpy(c->last, rsp, n);
        c->last_len = n;
        D.pending = i;
    }
    return 0;
}

/* Consumes whole records from the connection's buffer. */
static int drain(int i)
{
    conn *c = &D.conns[i];
    while (c->in_len >= 2 && D.pending != i) {
        size_t len = ((size_t)c->in[0] << 8) | c->in[1];
        if (len > REC_MAX) {
            uint8_t rsp[8];
            size_t n = vouch_se_core_status_frame(VOUCH_SE_E_FRAME, rsp, sizeof rsp);
            send_record(c, rsp, n);
            return -1;
        }
        if (c->in_len < 2 + len)
            break;
        if (handle_record(i, c->in + 2, len) != 0)
            return -1;
        memmove(c->in, c->in + 2 + len, c->in_len - 2 - len);
        c->in_len -= 2 + len;
    }
    return 0;
}

static int oldest_idle(void)
{
    int best = -1;
    for (int i = 0; i < D.n_conns; i++)
        if (i != D.pending && (best < 0 || ts_before(&D.conns[i].active, &D.conns[best].active)))
            best = i;
    return best >= 0 ? best : 0;
}

static int listen_on(const char *path)
{
    struct stat sb;
    mode_t old_mask;
    struct sockaddr_un sa;
    int fd;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "vouch-se: socket path too long (max %zu bytes): %s\n",
                sizeof sa.sun_path - 1, path);
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("vouch-se: socket");
        return -1;
    }
    /* a stale socket of an earlier run is replaced; anything else is not ours */
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            fprintf(stderr, "vouch-se: %s exists and is not a socket\n", path);
            close(fd);
            return -1;
        }
        unlink(path);
    }
    old_mask = umask(077);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        fprintf(stderr, "vouch-se: cannot listen on %s: %s\n", path, strerror(errno));
        umask(old_mask);
        close(fd);
        return -1;
    }
    umask(old_mask);
    return fd;
}

static int lock_dir(const char *dir)
{
    char path[4096], buf[32];
    int fd;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "vouch-se: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "vouch-se: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        fprintf(stderr, "vouch-se: %s is in use by another vouch-se (pid %s)\n", dir,
                buf[0] ? buf : "?");
        close(fd);
        return -1;
    }
    if (ftruncate(fd, 0) == 0) {
        int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        if (pwrite(fd, buf, (size_t)n, 0) < 0) {
            /* the pid is a courtesy for the message above; the lock is what counts */
        }
    }
    return fd;
}

static int load_chip(void)
{
    char path[4096];
    static uint8_t blob[VOUCH_SE_STATE_MAX];
    size_t len = 0;
    int rc;
    snprintf(path, sizeof path, "%s/%s", D.dir, STATE_FILE);
    rc = vouch_seal_read(path, D.seal_key, blob, sizeof blob, &len);
    if (rc == VOUCH_SEAL_E_IO && errno == ENOENT) {
        if (vouch_se_core_create(&D.core, vouch_port_openssl(), commit_state, NULL) != 0) {
            fprintf(stderr, "vouch-se: cannot create a new chip in %s\n", D.dir);
            return -1;
        }
        return 0;
    }
    if (rc != VOUCH_SEAL_OK) {
        fprintf(stderr, "vouch-se: %s: %s\n", path, vouch_seal_strerror(rc));
        return -1;
    }
    rc = vouch_se_core_load(&D.core, vouch_port_openssl(), commit_state, NULL, blob, len);
    OPENSSL_cleanse(blob, sizeof blob);
    if (rc != 0) {
        fprintf(stderr, "vouch-se: %s: state decrypted but its contents are invalid\n", path);
        return -1;
    }
    return 0;
}

static const char *lc_name(uint8_t lc)
{
    switch (lc) {
    case VOUCH_SE_LC_PERSONALIZATION: return "PERSONALIZATION";
    case VOUCH_SE_LC_OPERATIONAL: return "OPERATIONAL";
    case VOUCH_SE_LC_TERMINATED: return "TERMINATED";
    default: return "?";
    }
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == 0 && *out >= 0.0 && *out <= 1.0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *seal_path = NULL, *sock_path = NULL;
    int quiet = 0, lfd, lockfd, opt, exit_code = 0;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    static const struct option opts[] = {
        {"state", required_argument, 0, 's'},  {"seal-key", required_argument, 0, 'k'},
        {"socket", required_argument, 0, 'S'}, {"timing", required_argument, 0, 't'},
        {"fault-rate", required_argument, 0, 'f'}, {"fault-seed", required_argument, 0, 'F'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},      {0, 0, 0, 0}};

    D.pending = -1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (opt) {
        case 's': D.dir = optarg; break;
        case 'k': seal_path = optarg; break;
        case 'S': sock_path = optarg; break;
        case 't':
            if (strcmp(optarg, "stsafe-a110") == 0)
                D.timing = 1;
            else if (strcmp(optarg, "none") == 0)
                D.timing = 0;
            else {
                fprintf(stderr, "vouch-se: unknown timing model '%s' (none, stsafe-a110)\n", optarg);
                return 2;
            }
            break;
        case 'f':
            if (parse_double(optarg, &D.fault_rate) != 0) {
                fprintf(stderr, "vouch-se: --fault-rate wants a number from 0 to 1, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'F': {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 0);
            if (errno || *end || end == optarg) {
                fprintf(stderr, "vouch-se: --fault-seed wants a number, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE, stdout); return 0;
        case 'V': printf("vouch-se %d.%d\n", VOUCH_SE_FW_MAJOR, VOUCH_SE_FW_MINOR); return 0;
        default: fputs("Try 'vouch-se --help'.\n", stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vouch-se: unexpected argument '%s'\nTry 'vouch-se --help'.\n", argv[optind]);
        return 2;
    }
    if (!D.dir || !seal_path || !sock_path) {
        fprintf(stderr, "vouch-se: --state, --seal-key and --socket are required\n"
                        "Try 'vouch-se --help'.\n");
        return 2;
    }
    D.rng = seed ? seed : 0x9E3779B97F4A7C15ULL;

    {
        int rc = vouch_seal_load_key(seal_path, D.seal_key);
        if (rc != VOUCH_SEAL_OK) {
            fprintf(stderr, "vouch-se: seal key %s: %s\n", seal_path, vouch_seal_strerror(rc));
            return 1;
        }
    }
    lockfd = lock_dir(D.dir);
    if (lockfd < 0)
        return 1;
    if (load_chip() != 0)
        return 1;
    lfd = listen_on(sock_path);
    if (lfd < 0)
        return 1;

    /* SIGTERM/SIGINT are blocked except inside ppoll, so one arriving
     * between the stop_flag check and the wait is not lost */
    sigset_t blocked, waitmask;
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGTERM);
        sigaddset(&blocked, SIGINT);
        sigprocmask(SIG_BLOCK, &blocked, &waitmask);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
    }
    if (!quiet) {
        char hex[2 * VOUCH_SE_SERIAL_LEN + 1];
        for (unsigned i = 0; i < VOUCH_SE_SERIAL_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02x", D.core.live.serial[i]);
        fprintf(stderr, "vouch-se: chip %s (%s) listening on %s\n", hex,
                lc_name(D.core.live.lifecycle), sock_path);
    }

    while (!stop_flag) {
        struct pollfd pfd[MAX_CONNS + 1];
        struct timespec timeout, *tp = NULL;
        int n;
        pfd[0].fd = lfd;
        pfd[0].events = POLLIN;
        for (int i = 0; i < D.n_conns; i++) {
            pfd[i + 1].fd = D.conns[i].fd;
            /* a connection waiting for its response sends nothing more */
            pfd[i + 1].events = i == D.pending ? 0 : POLLIN;
        }
        if (D.pending >= 0) {
            struct timespec now;
            long long ns;
            clock_gettime(CLOCK_MONOTONIC, &now);
            ns = (long long)(D.busy_until.tv_sec - now.tv_sec) * 1000000000LL +
                 (D.busy_until.tv_nsec - now.tv_nsec);
            if (ns < 0)
                ns = 0;
            timeout.tv_sec = (time_t)(ns / 1000000000LL);
            timeout.tv_nsec = (long)(ns % 1000000000LL);
            tp = &timeout;
        } else {
            /* Right after a command the host usually sends the next one
             * within microseconds: poll without sleeping for a moment, as
             * an awake chip would, instead of paying a CPU wake-up. */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - D.last_io.tv_sec) * 1000000000L + (now.tv_nsec - D.last_io.tv_nsec) <
                SPIN_NS) {
                timeout.tv_sec = 0;
                timeout.tv_nsec = 0;
                tp = &timeout;
            }
        }
        n = ppoll(pfd, (nfds_t)(D.n_conns + 1), tp, &waitmask);
        if (n < 0 && errno != EINTR) {
            perror("vouch-se: poll");
            exit_code = 1;
            break;
        }
        /* a pending response whose execution time has passed goes out first */
        if (D.pending >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!ts_before(&now, &D.busy_until)) {
                int i = D.pending;
                D.pending = -1;
                if (send_record(&D.conns[i], D.conns[i].last, D.conns[i].last_len) != 0 ||
                    drain(i) != 0) {
                    drop_conn(i);
                    continue; /* indices moved: poll again */
                }
            }
        }
        if (n <= 0) {
            if (tp && tp->tv_sec == 0 && tp->tv_nsec == 0 && D.pending < 0)
                sched_yield(); /* spinning: let a host on this CPU run */
            continue;
        }
        for (int i = D.n_conns - 1; i >= 0; i--) {
            conn *c = &D.conns[i];
            if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (pfd[i + 1].fd != c->fd)
                continue;
            ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                drop_conn(i);
                continue;
            }
            c->in_len += (size_t)r;
            clock_gettime(CLOCK_MONOTONIC, &c->active);
            if (drain(i) != 0)
                drop_conn(i);
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                /* Full: make room by dropping the connection idle the
                 * longest, so idle or half-sent connections cannot lock
                 * every later host out. */
                if (D.n_conns == MAX_CONNS)
                    drop_conn(oldest_idle());
                memset(&D.conns[D.n_conns], 0, sizeof(conn));
                D.conns[D.n_conns].fd = fd;
                clock_gettime(CLOCK_MONOTONIC, &D.conns[D.n_conns].active);
                D.n_conns++;
            }
        }
    }

    for (int i = D.n_conns - 1; i >= 0; i--)
        drop_conn(i);
    close(lfd);
    unlink(sock_path);
    vouch_se_core_wipe(&D.core);
    OPENSSL_cleanse(D.seal_key, sizeof D.seal_key);
    close(lockfd);
    return exit_code;
}
