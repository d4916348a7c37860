/*
 * vouch se: talk to a secure element through libvouch.
 *
 * Every command validates its options and reads its input files first, then
 * connects, so usage and file errors never depend on a reachable chip. With
 * host keys every command goes over the secure channel: the typed libvouch
 * calls get VOUCH_SECURE, and the commands whose typed call has no flags
 * (ECHO, RESET, RANDOM, QUERY, PUBKEY, VERIFY, HIBERNATE) are sent with
 * vouch_se_transact() so their responses carry an R-MAC too. WAKE stays plain:
 * a sleeping chip answers the QUERY that starts the channel with E_ASLEEP.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki/pki.h"

#include <vouch/se.h>

#define BAD_RSP VOUCH_RC(VOUCH_LAYER_FRAME, VOUCH_E_FRAME_LEN)
#define RANDOM_MAX (1024u * 1024u)
#define Q(tag) (1u << (tag))
#define Q_ALL                                                                           \
    (Q(VOUCH_SE_Q_SERIAL) | Q(VOUCH_SE_Q_PRODUCT) | Q(VOUCH_SE_Q_LIFECYCLE) |           \
     Q(VOUCH_SE_Q_KEYS) | Q(VOUCH_SE_Q_ZONES) | Q(VOUCH_SE_Q_HOST))

static struct {
    char cmd[32];       /* "se sign", for messages */
    const char *name;   /* "sign" */
    cli_opt *opts;      /* the command's own options */
    int json;
    unsigned flags;     /* VOUCH_SECURE with host keys */
    vouch_se se;
    vouch_transport_any tstore;
    int open;
    int zone, slot;     /* what the command works on, for hints; -1: none */
    const char *access; /* "read", "update" or "verify", for E_ACCESS hints */
} g = {.zone = -1, .slot = -1};

static cli_opt gopts[] = {
    {"se", "URI", NULL, 0}, {"host-keys", "FILE", NULL, 0}, {"json", NULL, NULL, 0},
    {NULL, NULL, NULL, 0}};

/* ---- names ------------------------------------------------------------------ */
static const char *const alg_names[] = {"none", "p256", "ed25519", "x25519"};
static const char *const ac_names[] = {"always", "host", "never"};
static const char *const lc_names[] = {"unknown", "personalization", "operational",
                                       "terminated"};
static const char *const power_names[] = {"awake", "hibernating"};
static const char *const type_names[] = {"data", "counter"};
#define NAME(t, v) ((size_t)(v) < sizeof t / sizeof t[0] ? t[v] : "unknown")

static int name_index(const char *const *t, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i], s) == 0)
            return (int)i;
    return -1;
}
#define NAME_INDEX(t, s) name_index(t, sizeof t / sizeof t[0], s)

/* ---- errors -------------------------------------------------------------------- */
static int is_cmd(const char *name) { return strcmp(g.name, name) == 0; }

typedef struct se_info {
    uint8_t serial[VOUCH_SE_SERIAL_LEN];
    uint8_t fw_major, fw_minor;
    char product[64];
    uint8_t lifecycle, power, host_keys_set;
    uint32_t host_counter;
    size_t n_keys, n_zones;
    vouch_se_key_info keys[16];
    vouch_se_zone_info zones[16];
} se_info;
static vouch_rc se_query(se_info *inf, unsigned tags);

static const vouch_se_zone_info *find_zone(const se_info *inf, unsigned zone)
{
    for (size_t i = 0; i < inf->n_zones; i++)
        if (inf->zones[i].index == zone)
            return &inf->zones[i];
    return NULL;
}

/* Asks the chip which access condition refused, to say what would help. */
static void access_hint(char *h, size_t n)
{
    se_info inf;
    const vouch_se_zone_info *z;
    int verify = strcmp(g.access, "verify") == 0;
    if (se_query(&inf, Q(VOUCH_SE_Q_ZONES)) != VOUCH_OK || !(z = find_zone(&inf, (unsigned)g.zone))) {
        snprintf(h, n, "zone %d refuses this access: 'host' needs the host secure channel "
                       "(--host-keys FILE), 'never' refuses everyone (vouch se info)", g.zone);
        return;
    }
    uint8_t ac = strcmp(g.access, "update") == 0 ? z->update_ac : z->read_ac;
    if (verify)
        snprintf(h, n, "zone %d is readable only with %s access; VERIFY needs a key zone "
                       "whose read access is always", g.zone, NAME(ac_names, ac));
    else if (ac == VOUCH_SE_AC_HOST)
        snprintf(h, n, "zone %d requires the host secure channel (--host-keys)", g.zone);
    else if (ac == VOUCH_SE_AC_NEVER)
        snprintf(h, n, "zone %d %s access is 'never': no one can %s it any more", g.zone,
                 g.access, g.access);
}

static void se_hint(unsigned code, char *h, size_t n)
{
    h[0] = '\0';
    switch (code) {
    case VOUCH_SE_E_ACCESS:
        if (g.zone >= 0 && g.access)
            access_hint(h, n);
        break;
    case VOUCH_SE_E_CHANNEL:
        snprintf(h, n, is_cmd("host-keys")
                           ? "the chip already has host keys: replacing them needs the "
                             "current ones (--host-keys FILE)"
                           : "the chip has host keys, so this command needs the host "
                             "secure channel (--host-keys FILE)");
        break;
    case VOUCH_SE_E_MAC:
        snprintf(h, n, "the host keys do not match the chip's, or the chip has none "
                       "('host keys' in vouch se info)");
        break;
    case VOUCH_SE_E_REPLAY:
        snprintf(h, n, "the chip refused the secure channel counter: another host used "
                       "the channel meanwhile (retry), or the counter is exhausted");
        break;
    case VOUCH_SE_E_LIFECYCLE:
        snprintf(h, n, is_cmd("host-keys") ? "host keys can only be set in the "
                                             "personalization state (vouch se lifecycle)"
                       : is_cmd("lifecycle")
                           ? "the lifecycle only moves forward: personalization -> "
                             "operational -> terminated"
                           : "not allowed in the chip's lifecycle state (vouch se "
                             "lifecycle); a terminated chip has no keys");
        break;
    case VOUCH_SE_E_KEY_LOCKED:
        snprintf(h, n, "slot 0 is the factory slot: its key cannot change once the chip "
                       "is operational");
        break;
    case VOUCH_SE_E_NO_KEY:
        snprintf(h, n, "slot %d holds no key: make one with 'vouch se keygen --slot %d'",
                 g.slot, g.slot);
        break;
    case VOUCH_SE_E_SLOT:
        snprintf(h, n, "slot %d holds no key of the right kind (vouch se info): X25519 "
                       "keys cannot sign, Ed25519 keys cannot do ECDH or live in the "
                       "ephemeral slot", g.slot);
        break;
    case VOUCH_SE_E_ZONE:
        snprintf(h, n, "zone %d does not exist or is the wrong type: read/write take data "
                       "zones, counter takes counter zones (vouch se info)", g.zone);
        break;
    case VOUCH_SE_E_RANGE:
        snprintf(h, n, "offset and length go beyond the end of zone %d (sizes in vouch se "
                       "info)", g.zone);
        break;
    case VOUCH_SE_E_COUNTER:
        snprintf(h, n, "the counter would go below zero; nothing changed");
        break;
    case VOUCH_SE_E_NOT_STRICTER:
        snprintf(h, n, "access conditions can only get stricter: always < host < never");
        break;
    case VOUCH_SE_E_ASLEEP:
        snprintf(h, n, "the chip is hibernating: run 'vouch se wake'");
        break;
    case VOUCH_SE_E_INTEGRITY:
        snprintf(h, n, "the data is corrupt, or was wrapped by another key index or chip");
        break;
    case VOUCH_SE_E_BUSY:
        snprintf(h, n, "the chip is busy with another host's command; try again");
        break;
    case VOUCH_SE_E_STORAGE:
        snprintf(h, n, "the chip could not write its memory; nothing changed");
        break;
    case VOUCH_SE_E_PARAM:
        snprintf(h, n, is_cmd("zone-ac")
                           ? "an access condition of 'host' needs host keys in the chip "
                             "(vouch se host-keys --set FILE)"
                       : is_cmd("verify") ? "the key is not a valid P-256 or Ed25519 "
                                            "key, or the zone does not hold alg(1)|key"
                                          : "the chip rejected a parameter value");
        break;
    }
}

/* Prints "vouch: <what>: <reason>" and a hint; returns the exit status. */
__attribute__((format(printf, 2, 3))) static int se_fail(vouch_rc rc, const char *fmt, ...)
{
    char what[128], hint[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    unsigned layer = VOUCH_RC_LAYER(rc), code = VOUCH_RC_CODE(rc);
    int ret = CLI_COMM;
    if (layer == VOUCH_LAYER_SE) {
        ret = CLI_SE;
        se_hint(code, hint, sizeof hint);
    } else if (layer == VOUCH_LAYER_CHANNEL && code == VOUCH_E_RMAC) {
        snprintf(hint, sizeof hint, "wrong --host-keys, or the response was altered on "
                                    "the bus");
    } else if (layer == VOUCH_LAYER_API && code == VOUCH_E_ARG) {
        ret = CLI_USAGE;
    }
    cli_err(ret, "%s: %s", what, vouch_strerror(rc));
    if (hint[0])
        cli_err(ret, "hint: %s", hint);
    return ret;
}

#define CHECK(x)                                                                        \
    do {                                                                                \
        if ((ret = (x)) != CLI_OK)                                                      \
            goto out;                                                                   \
    } while (0)
#define SE_TRY(call, ...)                                                               \
    do {                                                                                \
        vouch_rc rc_ = (call);                                                          \
        if (rc_ != VOUCH_OK) {                                                          \
            ret = se_fail(rc_, __VA_ARGS__);                                            \
            goto out;                                                                   \
        }                                                                               \
    } while (0)

/* ---- options -------------------------------------------------------------------- */
static const char *opt(const char *name) { return cli_val(g.opts, name); }

static int need(const char *name, const char **v)
{
    if (!(*v = opt(name)))
        return cli_usage(g.cmd, "missing --%s %s", name, cli_find(g.opts, name)->arg);
    return CLI_OK;
}

/* CLI_OK with *v set, or left alone when the option is absent and optional. */
static int num_opt(const char *name, uint64_t min, uint64_t max, int required, uint64_t *v)
{
    char what[40];
    const char *s = opt(name);
    if (!s)
        return required ? need(name, &s) : CLI_OK;
    snprintf(what, sizeof what, "--%s value", name);
    return cli_num(g.cmd, what, s, min, max, v);
}

static int slot_opt(int ephemeral_ok, uint8_t *slot)
{
    uint64_t v;
    int ret = num_opt("slot", 0, 255, 1, &v);
    if (ret)
        return ret;
    if (v >= VOUCH_SE_SLOTS && !(ephemeral_ok && v == VOUCH_SE_SLOT_EPHEMERAL))
        return cli_usage(g.cmd, "bad --slot value '%s': slots are 0..%u%s", opt("slot"),
                         VOUCH_SE_SLOTS - 1,
                         ephemeral_ok ? ", or 255 for the ephemeral slot" : "");
    g.slot = (int)v;
    *slot = (uint8_t)v;
    return CLI_OK;
}

static int zone_opt(uint8_t *zone)
{
    uint64_t v;
    int ret = num_opt("zone", 0, VOUCH_SE_ZONES - 1, 1, &v);
    g.zone = ret ? -1 : (int)v;
    *zone = (uint8_t)v;
    return ret;
}

/* An input of a size the operation cannot take is a usage error, like a bad
 * number: the file itself was read fine. */
static int size_ok(const char *path, size_t len, size_t min, size_t max, const char *what)
{
    if (len >= min && len <= max)
        return CLI_OK;
    return cli_usage(g.cmd, "%s is %zu bytes; %s takes %zu to %zu", path, len, what, min, max);
}

/* ---- the connection ------------------------------------------------------------- */
static int se_open(void)
{
    const char *uri = cli_val(gopts, "se"), *keys = cli_val(gopts, "host-keys");
    int keys_from_env = 0, ret = CLI_OK;
    uint8_t hk[32];
    const vouch_transport *t;
    void *tctx;
    if (!uri)
        uri = getenv("VOUCH_SE");
    if (!keys && (keys = getenv("VOUCH_HOST_KEYS")) && *keys)
        keys_from_env = 1;
    if (!uri || !*uri)
        return cli_usage(g.cmd, "no secure element given: use --se URI or set VOUCH_SE");
    if (keys && *keys)
        CHECK(cli_load_host_keys(keys, keys_from_env, hk));
    errno = 0;
    vouch_rc rc = vouch_transport_open_uri(uri, &g.tstore, &t, &tctx);
    if (rc != VOUCH_OK && VOUCH_RC_LAYER(rc) == VOUCH_LAYER_API) {
        ret = cli_usage(g.cmd, "bad SE URI '%s': expected unix:/path/to/socket or "
                               "i2c:/dev/i2c-N@0xADDR", uri);
        goto out;
    }
    if (rc != VOUCH_OK) {
        int e = errno;
        ret = cli_err(CLI_COMM, "cannot connect to %s: %s%s%s%s", uri, vouch_strerror(rc),
                      e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
        if (strncmp(uri, "unix:", 5) == 0)
            cli_err(ret, "hint: is vouch-se running with --socket %s?", uri + 5);
        goto out;
    }
    vouch_se_config cfg = {.transport = t, .transport_ctx = tctx};
    rc = vouch_se_init(&g.se, &cfg);
    if (rc != VOUCH_OK) {
        if (t->close)
            t->close(tctx);
        ret = se_fail(rc, "cannot start the SE client");
        goto out;
    }
    g.open = 1;
    if (keys && *keys) {
        SE_TRY(vouch_se_set_host_keys(&g.se, hk, hk + 16), "cannot use the host keys");
        g.flags = VOUCH_SECURE;
    }
out:
    OPENSSL_cleanse(hk, sizeof hk);
    return ret;
}

static vouch_rc xact(uint8_t cmd, unsigned flags, const void *p, size_t plen, uint8_t *out,
                     size_t size, size_t *len)
{
    static const uint8_t none[1];
    return vouch_se_transact(&g.se, cmd, flags, plen ? p : none, plen, out, size, len);
}

/* One QUERY per tag in `tags`, each checked against its exact layout. */
static vouch_rc se_query(se_info *inf, unsigned tags)
{
    uint8_t r[VOUCH_SE_MAX_PAYLOAD];
    size_t n;
    memset(inf, 0, sizeof *inf);
    for (uint8_t tag = VOUCH_SE_Q_SERIAL; tag <= VOUCH_SE_Q_HOST; tag++) {
        if (!(tags & Q(tag)))
            continue;
        vouch_rc rc = xact(VOUCH_SE_CMD_QUERY, g.flags, &tag, 1, r, sizeof r, &n);
        if (rc != VOUCH_OK)
            return rc;
        switch (tag) {
        case VOUCH_SE_Q_SERIAL:
            if (n != VOUCH_SE_SERIAL_LEN)
                return BAD_RSP;
            memcpy(inf->serial, r, n);
            break;
        case VOUCH_SE_Q_PRODUCT:
            if (n < 2 || n - 2 >= sizeof inf->product)
                return BAD_RSP;
            inf->fw_major = r[0];
            inf->fw_minor = r[1];
            memcpy(inf->product, r + 2, n - 2);
            break;
        case VOUCH_SE_Q_LIFECYCLE:
            if (n != 2)
                return BAD_RSP;
            inf->lifecycle = r[0];
            inf->power = r[1];
            break;
        case VOUCH_SE_Q_KEYS:
            if (n < 1 || r[0] > 16 || n != 1 + 3u * r[0])
                return BAD_RSP;
            inf->n_keys = r[0];
            for (size_t i = 0; i < inf->n_keys; i++)
                inf->keys[i] = (vouch_se_key_info){r[1 + 3 * i], r[2 + 3 * i], r[3 + 3 * i]};
            break;
        case VOUCH_SE_Q_ZONES:
            if (n < 1 || r[0] > 16 || n != 1 + 10u * r[0])
                return BAD_RSP;
            inf->n_zones = r[0];
            for (size_t i = 0; i < inf->n_zones; i++) {
                const uint8_t *z = r + 1 + 10 * i;
                inf->zones[i] = (vouch_se_zone_info){
                    .index = z[0], .type = z[1], .read_ac = z[2], .update_ac = z[3],
                    .size = (uint16_t)(z[4] << 8 | z[5]),
                    .counter = (uint32_t)z[6] << 24 | (uint32_t)z[7] << 16 |
                               (uint32_t)z[8] << 8 | z[9]};
            }
            break;
        case VOUCH_SE_Q_HOST:
            if (n != 5)
                return BAD_RSP;
            inf->host_keys_set = r[0];
            inf->host_counter =
                (uint32_t)r[1] << 24 | (uint32_t)r[2] << 16 | (uint32_t)r[3] << 8 | r[4];
            break;
        }
    }
    return VOUCH_OK;
}

static vouch_rc get_pub(uint8_t slot, uint8_t *alg, uint8_t pub[65], size_t *len)
{
    uint8_t r[1 + VOUCH_SE_P256_PUB_LEN];
    size_t n;
    vouch_rc rc = xact(VOUCH_SE_CMD_PUBKEY, g.flags, &slot, 1, r, sizeof r, &n);
    if (rc != VOUCH_OK)
        return rc;
    size_t want = n < 1                            ? 0
                  : r[0] == VOUCH_SE_ALG_P256      ? VOUCH_SE_P256_PUB_LEN
                  : r[0] == VOUCH_SE_ALG_ED25519 ||
                          r[0] == VOUCH_SE_ALG_X25519 ? VOUCH_SE_X_PUB_LEN
                                                      : 0;
    if (!want || n != 1 + want)
        return BAD_RSP;
    *alg = r[0];
    memcpy(pub, r + 1, want);
    *len = want;
    return VOUCH_OK;
}

static void json_ok(void)
{
    if (g.json) {
        cj_open(NULL);
        cj_bool("ok", 1);
        cj_close();
    }
}

/* ---- commands ---------------------------------------------------------------------- */
static int cmd_info(char **pos, int npos)
{
    se_info inf;
    int ret;
    CHECK(se_open());
    SE_TRY(se_query(&inf, Q_ALL), "query");
    if (g.json) {
        char fw[16];
        snprintf(fw, sizeof fw, "%u.%u", inf.fw_major, inf.fw_minor);
        cj_open(NULL);
        cj_hex("serial", inf.serial, sizeof inf.serial);
        cj_str("product", inf.product);
        cj_str("firmware", fw);
        cj_str("lifecycle", NAME(lc_names, inf.lifecycle));
        cj_str("power", NAME(power_names, inf.power));
        cj_bool("host_keys_set", inf.host_keys_set);
        cj_num("host_counter", inf.host_counter);
        cj_array("slots");
        for (size_t i = 0; i < inf.n_keys; i++) {
            const vouch_se_key_info *k = &inf.keys[i];
            cj_open(NULL);
            cj_num("slot", k->slot);
            cj_str("alg", NAME(alg_names, k->alg));
            cj_bool("present", k->flags & VOUCH_SE_KEY_PRESENT);
            cj_bool("factory", k->flags & VOUCH_SE_KEY_FACTORY);
            cj_close();
        }
        cj_end();
        cj_array("zones");
        for (size_t i = 0; i < inf.n_zones; i++) {
            const vouch_se_zone_info *z = &inf.zones[i];
            cj_open(NULL);
            cj_num("index", z->index);
            cj_str("type", NAME(type_names, z->type));
            cj_num("size", z->size);
            cj_str("read_ac", NAME(ac_names, z->read_ac));
            cj_str("update_ac", NAME(ac_names, z->update_ac));
            cj_num("counter", z->counter);
            cj_close();
        }
        cj_end();
        cj_close();
        goto out;
    }
    printf("serial:        ");
    cli_hex(stdout, inf.serial, sizeof inf.serial, 0);
    printf("product:       %s\nfirmware:      %u.%u\nlifecycle:     %s\npower:         %s\n"
           "host keys:     %s\nhost counter:  %lu\nkey slots:\n",
           inf.product, inf.fw_major, inf.fw_minor, NAME(lc_names, inf.lifecycle),
           NAME(power_names, inf.power), inf.host_keys_set ? "set" : "not set",
           (unsigned long)inf.host_counter);
    for (size_t i = 0; i < inf.n_keys; i++) {
        const vouch_se_key_info *k = &inf.keys[i];
        printf("  slot %u: %s%s\n", k->slot,
               k->flags & VOUCH_SE_KEY_PRESENT ? NAME(alg_names, k->alg) : "empty",
               k->flags & VOUCH_SE_KEY_FACTORY ? " (factory)" : "");
    }
    printf("zones:\n");
    for (size_t i = 0; i < inf.n_zones; i++) {
        const vouch_se_zone_info *z = &inf.zones[i];
        printf("  zone %u: %s, %u %sbytes, read %s, update %s", z->index,
               NAME(type_names, z->type), z->size,
               z->type == VOUCH_SE_ZONE_COUNTER ? "data " : "", NAME(ac_names, z->read_ac),
               NAME(ac_names, z->update_ac));
        if (z->type == VOUCH_SE_ZONE_COUNTER)
            printf(", counter %lu", (unsigned long)z->counter);
        putchar('\n');
    }
out:
    return ret;
}

static int cmd_random(char **pos, int npos)
{
    uint64_t n = 0;
    uint8_t *buf = NULL;
    size_t got;
    const char *out = opt("out");
    int ret;
    CHECK(cli_num(g.cmd, "byte count N", pos[0], 1, RANDOM_MAX, &n));
    if (!(buf = malloc(n))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    CHECK(se_open());
    for (size_t off = 0; off < n; off += got) {
        size_t k = n - off < VOUCH_SE_MAX_PAYLOAD ? n - off : VOUCH_SE_MAX_PAYLOAD;
        uint8_t p[2] = {(uint8_t)(k >> 8), (uint8_t)k};
        SE_TRY(xact(VOUCH_SE_CMD_RANDOM, g.flags, p, 2, buf + off, k, &got), "random");
        if (got != k)
            SE_TRY(BAD_RSP, "random");
    }
    if (out)
        CHECK(cli_write_file(out, buf, n, 1));
    if (g.json) {
        cj_open(NULL);
        cj_num("length", n);
        if (!out)
            cj_hex("random", buf, n);
        cj_close();
    } else if (!out) {
        cli_hex(stdout, buf, n, 0);
    }
out:
    cli_free_secret(buf, n);
    return ret;
}

static int cmd_echo(char **pos, int npos)
{
    uint8_t back[VOUCH_SE_MAX_PAYLOAD];
    size_t len = strlen(pos[0]), n;
    int ret;
    if (len > VOUCH_SE_MAX_PAYLOAD)
        return cli_usage(g.cmd, "TEXT is %zu bytes; ECHO takes at most %u", len,
                         VOUCH_SE_MAX_PAYLOAD);
    CHECK(se_open());
    SE_TRY(xact(VOUCH_SE_CMD_ECHO, g.flags, pos[0], len, back, sizeof back, &n), "echo");
    if (n != len || memcmp(back, pos[0], len) != 0) {
        ret = cli_err(CLI_COMM, "echo: the chip sent back other bytes than it was sent");
        goto out;
    }
    if (g.json) {
        cj_open(NULL);
        cj_str("echo", pos[0]);
        cj_close();
    } else {
        printf("%s\n", pos[0]);
    }
out:
    return ret;
}

static int simple(uint8_t code, unsigned flags)
{
    uint8_t r[16];
    size_t n;
    int ret;
    CHECK(se_open());
    SE_TRY(xact(code, flags, NULL, 0, r, sizeof r, &n), "%s", g.name);
    json_ok();
out:
    return ret;
}
static int cmd_reset(char **pos, int npos) { return simple(VOUCH_SE_CMD_RESET, g.flags); }
static int cmd_hibernate(char **pos, int npos) { return simple(VOUCH_SE_CMD_HIBERNATE, g.flags); }
static int cmd_wake(char **pos, int npos) { return simple(VOUCH_SE_CMD_WAKE, VOUCH_PLAIN); }

static int print_pub(uint8_t slot, uint8_t alg, const uint8_t *pub, size_t len)
{
    const char *out = opt("out");
    char *pem = cli_pub_to_pem(alg, pub, len);
    int ret = CLI_OK;
    if (!pem)
        return cli_err(CLI_COMM, "the chip returned a malformed %s public key",
                       NAME(alg_names, alg));
    if (out)
        CHECK(cli_write_file(out, pem, strlen(pem), 0));
    if (g.json) {
        cj_open(NULL);
        cj_num("slot", slot);
        cj_str("alg", NAME(alg_names, alg));
        cj_hex("public_key", pub, len);
        cj_str("pem", pem);
        cj_close();
    } else if (!out) {
        fputs(pem, stdout);
    }
out:
    free(pem);
    return ret;
}

static int cmd_keygen(char **pos, int npos)
{
    const char *a = opt("alg");
    int alg = a ? NAME_INDEX(alg_names, a) : VOUCH_SE_ALG_P256, ret;
    uint8_t slot, pub[VOUCH_SE_P256_PUB_LEN];
    size_t len;
    if (alg <= VOUCH_SE_ALG_NONE)
        return cli_usage(g.cmd, "bad --alg value '%s': expected p256, ed25519 or x25519", a);
    CHECK(slot_opt(1, &slot));
    CHECK(se_open());
    SE_TRY(vouch_se_keygen(&g.se, slot, (uint8_t)alg, pub, sizeof pub, &len, g.flags),
           "keygen in slot %u", slot);
    ret = print_pub(slot, (uint8_t)alg, pub, len);
out:
    return ret;
}

static int cmd_pubkey(char **pos, int npos)
{
    uint8_t slot, alg, pub[VOUCH_SE_P256_PUB_LEN];
    size_t len;
    int ret;
    CHECK(slot_opt(1, &slot));
    CHECK(se_open());
    SE_TRY(get_pub(slot, &alg, pub, &len), "read the public key of slot %u", slot);
    ret = print_pub(slot, alg, pub, len);
out:
    return ret;
}

static int cmd_sign(char **pos, int npos)
{
    const char *in, *out;
    uint8_t slot, alg, pub[VOUCH_SE_P256_PUB_LEN], digest[32], msg[VOUCH_SE_MAX_PAYLOAD - 1];
    uint8_t sig[VOUCH_SE_SIG_LEN], *der = NULL;
    size_t plen, total, dlen = 0;
    int ret;
    CHECK(slot_opt(1, &slot));
    CHECK(need("in", &in));
    CHECK(need("out", &out));
    CHECK(cli_load_message(in, digest, msg, sizeof msg, &total));
    CHECK(se_open());
    SE_TRY(get_pub(slot, &alg, pub, &plen), "read the key in slot %u", slot);
    if (alg == VOUCH_SE_ALG_ED25519) {
        CHECK(size_ok(in, total, 1, sizeof msg, "Ed25519 signing"));
        SE_TRY(vouch_se_sign(&g.se, slot, msg, total, sig, g.flags), "sign with slot %u", slot);
        CHECK(cli_write_file(out, sig, sizeof sig, 0));
    } else {
        /* P-256; the chip itself refuses an X25519 slot */
        SE_TRY(vouch_se_sign(&g.se, slot, digest, sizeof digest, sig, g.flags),
               "sign with slot %u", slot);
        if (!(der = cli_sig_to_der(sig, &dlen))) {
            ret = cli_err(CLI_FILE, "cannot DER-encode the signature");
            goto out;
        }
        CHECK(cli_write_file(out, der, dlen, 0));
    }
    if (g.json) {
        cj_open(NULL);
        cj_num("slot", slot);
        cj_str("alg", NAME(alg_names, alg));
        if (der)
            cj_hex("signature", der, dlen);
        else
            cj_hex("signature", sig, sizeof sig);
        cj_close();
    }
out:
    OPENSSL_free(der);
    OPENSSL_cleanse(msg, sizeof msg);
    return ret;
}

/* The CSR's signature is made in the chip: pki's external signer calls
 * this with the SHA-256 digest of the request body. */
static int csr_sign_cb(void *ctx, const uint8_t *digest, size_t dlen, uint8_t *sig,
                       size_t sig_size, size_t *sig_len)
{
    uint8_t rs[VOUCH_SE_SIG_LEN], *der = NULL;
    size_t n = 0;
    vouch_rc *rc = ctx;
    if (dlen != 32)
        return -1;
    *rc = vouch_se_sign(&g.se, (uint8_t)g.slot, digest, dlen, rs, g.flags);
    if (*rc != VOUCH_OK || !(der = cli_sig_to_der(rs, &n)) || n > sig_size) {
        OPENSSL_free(der);
        return -1;
    }
    memcpy(sig, der, n);
    *sig_len = n;
    OPENSSL_free(der);
    return 0;
}

static int cmd_csr(char **pos, int npos)
{
    const char *subject, *out, *san = opt("san");
    uint8_t slot, alg, pub[VOUCH_SE_P256_PUB_LEN];
    size_t plen, nsans = 0;
    char why[256] = "", *sancopy = NULL, *sans[16];
    EVP_PKEY *pk = NULL;
    vouch_pki_signer *signer = NULL;
    X509_REQ *req = NULL;
    BIO *bio = NULL;
    vouch_rc src = VOUCH_OK;
    int ret;
    CHECK(slot_opt(0, &slot));
    CHECK(need("subject", &subject));
    CHECK(need("out", &out));
    if (san) {
        if (!(sancopy = strdup(san)))
            return cli_err(CLI_FILE, "out of memory");
        for (char *save = NULL, *t = strtok_r(sancopy, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            if (nsans == sizeof sans / sizeof sans[0]) {
                ret = cli_usage(g.cmd, "at most 16 --san entries");
                goto out;
            }
            sans[nsans++] = t;
        }
    }
    CHECK(se_open());
    SE_TRY(get_pub(slot, &alg, pub, &plen), "read the key in slot %u", slot);
    if (alg != VOUCH_SE_ALG_P256) {
        ret = cli_err(CLI_USAGE, "slot %u holds a %s key; certificate requests need a P-256 key",
                      slot, NAME(alg_names, alg));
        goto out;
    }
    if (!(pk = cli_p256_pub(pub, plen)) ||
        vouch_pki_signer_external(pk, csr_sign_cb, &src, &signer) != VOUCH_PKI_OK) {
        ret = cli_err(CLI_COMM, "the chip returned a malformed public key");
        goto out;
    }
    g.slot = slot;
    vouch_pki_rc prc = vouch_pki_csr_build(subject, (const char *const *)sans, nsans, signer,
                                           &req, why, sizeof why);
    if (prc == VOUCH_PKI_E_ARG) {
        ret = cli_usage(g.cmd, "%s", why);
        goto out;
    }
    if (prc != VOUCH_PKI_OK) {
        if (src != VOUCH_OK)
            SE_TRY(src, "sign the request with slot %u", slot);
        ret = cli_err(CLI_COMM, "cannot make the request: %s", why);
        goto out;
    }
    BUF_MEM *m = NULL;
    if (!(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_REQ(bio, req) != 1 ||
        BIO_get_mem_ptr(bio, &m) != 1 || !m) {
        ret = cli_err(CLI_FILE, "cannot encode the request");
        goto out;
    }
    CHECK(cli_write_file(out, m->data, m->length, 0));
    if (g.json) {
        cj_open(NULL);
        cj_num("slot", slot);
        cj_str("subject", subject);
        char *pem = strndup(m->data, m->length);
        cj_str("csr", pem ? pem : "");
        free(pem);
        cj_close();
    }
out:
    BIO_free(bio);
    X509_REQ_free(req);
    vouch_pki_signer_free(signer);
    EVP_PKEY_free(pk);
    free(sancopy);
    return ret;
}

static int cmd_verify(char **pos, int npos)
{
    const char *in, *sigpath, *pem = opt("pubkey");
    uint8_t slot = 0, zone = 0, alg = 0, pub[VOUCH_SE_P256_PUB_LEN], digest[32];
    uint8_t msg[VOUCH_SE_MAX_PAYLOAD], rs[VOUCH_SE_SIG_LEN], *sig = NULL;
    uint8_t p[VOUCH_SE_MAX_PAYLOAD], r[4];
    size_t plen = 0, total, siglen = 0, n, off = 0;
    int ret, how = !!opt("slot") + !!pem + !!opt("zone"), valid = 0, sig_ok;
    if (how != 1)
        return cli_usage(g.cmd, how ? "give only one of --slot N, --pubkey PEM, --zone N"
                                    : "missing the key: give --slot N, --pubkey PEM or "
                                      "--zone N");
    if (opt("slot"))
        CHECK(slot_opt(1, &slot));
    if (opt("zone"))
        CHECK(zone_opt(&zone));
    CHECK(need("in", &in));
    CHECK(need("sig", &sigpath));
    if (pem) {
        CHECK(cli_pem_to_pub(pem, &alg, pub, &plen));
        if (alg == VOUCH_SE_ALG_X25519) {
            ret = cli_err(CLI_FILE, "%s: an X25519 key cannot verify signatures", pem);
            goto out;
        }
    }
    CHECK(cli_load_message(in, digest, msg, sizeof msg, &total));
    CHECK(cli_read_file(sigpath, 1024, &sig, &siglen));
    CHECK(se_open());
    if (opt("slot"))
        SE_TRY(get_pub(slot, &alg, pub, &plen), "read the key in slot %u", slot);
    if (opt("zone")) {
        g.access = "read";
        SE_TRY(vouch_se_read(&g.se, zone, 0, &alg, 1, g.flags), "read the key in zone %u",
               zone);
        p[off++] = VOUCH_SE_VERIFY_ZONE;
        p[off++] = zone;
    } else {
        p[off++] = VOUCH_SE_VERIFY_KEY;
        p[off++] = alg;
        memcpy(p + off, pub, plen);
        off += plen;
    }
    if (alg == VOUCH_SE_ALG_ED25519) {
        CHECK(size_ok(in, total, 1, VOUCH_SE_MAX_PAYLOAD - off - VOUCH_SE_SIG_LEN,
                      "Ed25519 verification"));
        sig_ok = siglen == VOUCH_SE_SIG_LEN;
        if (!sig_ok)
            cli_err(CLI_INVALID, "%s is %zu bytes, an Ed25519 signature is 64", sigpath, siglen);
        else
            memcpy(rs, sig, sizeof rs);
    } else {
        /* P-256, or a key the chip cannot verify with (X25519, a zone with
         * no key): it judges the key before the signature, so it gets the
         * question either way and says why it refuses. */
        memcpy(msg, digest, sizeof digest);
        total = sizeof digest;
        sig_ok = cli_sig_from_der(sig, siglen, rs) == 0;
        if (!sig_ok && alg != VOUCH_SE_ALG_P256) {
            memset(rs, 0, sizeof rs);
            sig_ok = 1;
        }
        if (!sig_ok)
            cli_err(CLI_INVALID, "%s is not a DER ECDSA P-256 signature", sigpath);
    }
    if (sig_ok) {
        memcpy(p + off, rs, sizeof rs);
        memcpy(p + off + sizeof rs, msg, total);
        g.access = "verify";
        SE_TRY(xact(VOUCH_SE_CMD_VERIFY, g.flags, p, off + sizeof rs + total, r, sizeof r, &n),
               "verify");
        if (n != 1 || r[0] > 1)
            SE_TRY(BAD_RSP, "verify");
        valid = r[0];
    }
    if (g.json) {
        cj_open(NULL);
        cj_bool("valid", valid);
        cj_close();
    } else {
        printf("signature %s\n", valid ? "valid" : "invalid");
    }
    ret = valid ? CLI_OK : CLI_INVALID;
out:
    free(sig);
    return ret;
}

static int cmd_read(char **pos, int npos)
{
    uint8_t zone, *buf = NULL;
    uint64_t off = 0, len = 0;
    const char *out = opt("out");
    se_info inf;
    const vouch_se_zone_info *z;
    int ret;
    CHECK(zone_opt(&zone));
    CHECK(num_opt("offset", 0, 0xFFFF, 0, &off));
    CHECK(num_opt("length", 1, 0xFFFF, 0, &len));
    CHECK(se_open());
    if (!len) {
        SE_TRY(se_query(&inf, Q(VOUCH_SE_Q_ZONES)), "query zones");
        if (!(z = find_zone(&inf, zone))) {
            ret = cli_usage(g.cmd, "the chip has no zone %u", zone);
            goto out;
        }
        /* QUERY gives a counter zone's data size; it reads as counter|data */
        size_t size = z->size + (z->type == VOUCH_SE_ZONE_COUNTER ? VOUCH_SE_CTR_LEN : 0);
        if (off >= size) {
            ret = cli_usage(g.cmd, "--offset %llu is at or past the end of zone %u (%zu bytes)",
                            (unsigned long long)off, zone, size);
            goto out;
        }
        len = size - off;
    }
    if (!(buf = malloc(len))) {
        ret = cli_err(CLI_FILE, "out of memory");
        goto out;
    }
    g.access = "read";
    SE_TRY(vouch_se_read(&g.se, zone, (uint16_t)off, buf, len, g.flags), "read zone %u", zone);
    if (out)
        CHECK(cli_write_file(out, buf, len, g.flags != 0));
    if (g.json) {
        cj_open(NULL);
        cj_num("zone", zone);
        cj_num("offset", off);
        cj_num("length", len);
        if (!out)
            cj_hex("data", buf, len);
        cj_close();
    } else if (!out) {
        cli_hex(stdout, buf, len, 32);
    }
out:
    cli_free_secret(buf, len);
    return ret;
}

static int cmd_write(char **pos, int npos)
{
    const char *in;
    uint8_t zone, *buf = NULL;
    uint64_t off = 0;
    size_t len = 0;
    int ret;
    CHECK(zone_opt(&zone));
    CHECK(num_opt("offset", 0, 0xFFFF, 0, &off));
    CHECK(need("in", &in));
    CHECK(cli_read_file(in, 0xFFFF, &buf, &len));
    CHECK(size_ok(in, len, 1, 0x10000 - off, "writing at this offset"));
    CHECK(se_open());
    g.access = "update";
    SE_TRY(vouch_se_update(&g.se, zone, (uint16_t)off, buf, len, g.flags), "write zone %u",
           zone);
    json_ok();
out:
    cli_free_secret(buf, len + 1);
    return ret;
}

static int cmd_counter(char **pos, int npos)
{
    const char *data_path = opt("data");
    uint8_t zone, *data = NULL;
    uint64_t amount = 0;
    size_t dlen = 0;
    uint32_t v;
    int ret;
    CHECK(zone_opt(&zone));
    CHECK(num_opt("decrement", 0, UINT32_MAX, 0, &amount));
    if (data_path)
        CHECK(cli_read_file(data_path, 0xFFFF, &data, &dlen));
    if (data_path)
        CHECK(size_ok(data_path, dlen, 1, VOUCH_SE_COUNTER_DATA, "counter data"));
    CHECK(se_open());
    g.access = "update";
    SE_TRY(vouch_se_decrement(&g.se, zone, (uint32_t)amount, data, dlen, g.flags, &v),
           "%s counter zone %u", amount ? "decrement" : "read", zone);
    if (g.json) {
        cj_open(NULL);
        cj_num("zone", zone);
        cj_num("counter", v);
        cj_close();
    } else {
        printf("%lu\n", (unsigned long)v);
    }
out:
    cli_free_secret(data, dlen + 1);
    return ret;
}

static int cmd_ecdh(char **pos, int npos)
{
    const char *peer, *out = opt("out");
    uint8_t slot, alg, pub[VOUCH_SE_P256_PUB_LEN], secret[VOUCH_SE_SECRET_LEN];
    size_t plen;
    int ret;
    CHECK(slot_opt(1, &slot));
    CHECK(need("peer", &peer));
    CHECK(cli_pem_to_pub(peer, &alg, pub, &plen));
    if (alg == VOUCH_SE_ALG_ED25519) {
        ret = cli_err(CLI_FILE, "%s: an Ed25519 key cannot do ECDH (P-256 or X25519)", peer);
        goto out;
    }
    CHECK(se_open());
    SE_TRY(vouch_se_ecdh(&g.se, slot, pub, plen, secret, g.flags), "ecdh with slot %u", slot);
    if (out)
        CHECK(cli_write_file(out, secret, sizeof secret, 1));
    if (g.json) {
        cj_open(NULL);
        cj_num("slot", slot);
        if (!out)
            cj_hex("secret", secret, sizeof secret);
        cj_close();
    } else if (!out) {
        cli_hex(stdout, secret, sizeof secret, 0);
    }
out:
    OPENSSL_cleanse(secret, sizeof secret);
    return ret;
}

static int envelope(int unwrap)
{
    const char *in, *outp;
    uint64_t key;
    uint8_t *buf = NULL, out[VOUCH_SE_WRAP_MAX + 8];
    size_t len = 0, olen = 0;
    int ret;
    CHECK(num_opt("key", 0, VOUCH_SE_ENVELOPE_KEYS - 1, 1, &key));
    CHECK(need("in", &in));
    CHECK(need("out", &outp));
    CHECK(cli_read_file(in, 0xFFFF, &buf, &len));
    CHECK(size_ok(in, len, unwrap ? 16 : 1, unwrap ? sizeof out : VOUCH_SE_WRAP_MAX,
                  unwrap ? "unwrap" : "wrap"));
    if (unwrap && len % 8) {
        ret = cli_usage(g.cmd, "%s is %zu bytes; wrapped data is a multiple of 8 bytes", in,
                        len);
        goto out;
    }
    CHECK(se_open());
    if (unwrap)
        SE_TRY(vouch_se_unwrap(&g.se, (uint8_t)key, buf, len, out, sizeof out, &olen, g.flags),
               "unwrap with key %u", (unsigned)key);
    else
        SE_TRY(vouch_se_wrap(&g.se, (uint8_t)key, buf, len, out, sizeof out, &olen, g.flags),
               "wrap with key %u", (unsigned)key);
    CHECK(cli_write_file(outp, out, olen, unwrap));
    if (g.json) {
        cj_open(NULL);
        cj_num("key", key);
        cj_num("length", olen);
        cj_close();
    }
out:
    cli_free_secret(buf, len + 1);
    OPENSSL_cleanse(out, sizeof out);
    return ret;
}
static int cmd_wrap(char **pos, int npos) { return envelope(0); }
static int cmd_unwrap(char **pos, int npos) { return envelope(1); }

static int cmd_lifecycle(char **pos, int npos)
{
    const char *set = opt("set");
    int target = set ? NAME_INDEX(lc_names, set) : 0, ret;
    se_info inf;
    if (set && target != VOUCH_SE_LC_OPERATIONAL && target != VOUCH_SE_LC_TERMINATED)
        return cli_usage(g.cmd, "bad --set value '%s': expected operational or terminated",
                         set);
    CHECK(se_open());
    if (set) {
        SE_TRY(vouch_se_lifecycle(&g.se, (uint8_t)target, g.flags), "set lifecycle %s", set);
        inf.lifecycle = (uint8_t)target;
    } else {
        SE_TRY(se_query(&inf, Q(VOUCH_SE_Q_LIFECYCLE)), "query lifecycle");
    }
    if (g.json) {
        cj_open(NULL);
        cj_str("lifecycle", NAME(lc_names, inf.lifecycle));
        cj_close();
    } else {
        printf("%s\n", NAME(lc_names, inf.lifecycle));
    }
out:
    return ret;
}

static int ac_opt(const char *name, int *ac)
{
    const char *s = opt(name);
    if (s && (*ac = NAME_INDEX(ac_names, s)) < 0)
        return cli_usage(g.cmd, "bad --%s value '%s': expected always, host or never", name, s);
    return CLI_OK;
}

static int cmd_zone_ac(char **pos, int npos)
{
    uint8_t zone;
    int rac = -1, uac = -1, ret;
    se_info inf;
    const vouch_se_zone_info *z;
    CHECK(zone_opt(&zone));
    CHECK(ac_opt("read", &rac));
    CHECK(ac_opt("update", &uac));
    CHECK(se_open());
    SE_TRY(se_query(&inf, Q(VOUCH_SE_Q_ZONES)), "query zones");
    if (!(z = find_zone(&inf, zone))) {
        ret = cli_usage(g.cmd, "the chip has no zone %u", zone);
        goto out;
    }
    if (rac < 0)
        rac = z->read_ac;
    if (uac < 0)
        uac = z->update_ac;
    if (opt("read") || opt("update"))
        SE_TRY(vouch_se_zone_ac(&g.se, zone, (uint8_t)rac, (uint8_t)uac, g.flags),
               "set the access conditions of zone %u", zone);
    if (g.json) {
        cj_open(NULL);
        cj_num("zone", zone);
        cj_str("read", NAME(ac_names, rac));
        cj_str("update", NAME(ac_names, uac));
        cj_close();
    } else {
        printf("zone %u: read %s, update %s\n", zone, NAME(ac_names, rac), NAME(ac_names, uac));
    }
out:
    return ret;
}

static int cmd_host_keys(char **pos, int npos)
{
    const char *path;
    uint8_t keys[32];
    int ret;
    CHECK(need("set", &path));
    CHECK(cli_load_host_keys(path, 0, keys));
    CHECK(se_open());
    SE_TRY(vouch_se_put_host_keys(&g.se, keys, keys + 16, g.flags), "set the host keys");
    json_ok();
out:
    OPENSSL_cleanse(keys, sizeof keys);
    return ret;
}

/* ---- the command table -------------------------------------------------------------- */
#define SYN "    vouch se [--se URI] [--host-keys FILE] [--json] "
#define OPTS(...) ((cli_opt[]){__VA_ARGS__, {NULL, NULL, NULL, 0}})
#define NO_OPTS ((cli_opt[]){{NULL, NULL, NULL, 0}})

typedef struct se_cmd {
    const char *name;
    int (*run)(char **pos, int npos);
    cli_opt *opts;
    const char *arg; /* the one positional argument, or NULL */
    cli_help help;
} se_cmd;

static const char group_opts[] =
    "GROUP OPTIONS\n"
    "    These may come before or after the command name.\n"
    "    --se URI          the secure element: unix:/path/to/socket (a vouch-se\n"
    "                      daemon) or i2c:/dev/i2c-1@0x20; default $VOUCH_SE\n"
    "    --host-keys FILE  host secure channel keys: 32 raw bytes or 64 hex digits,\n"
    "                      MAC key then cipher key; default $VOUCH_HOST_KEYS (a file,\n"
    "                      or the 64 hex digits themselves). With keys, every command\n"
    "                      runs over the secure channel (C-MAC, R-MAC, encrypted\n"
    "                      secrets), except wake, which is always plain.\n"
    "    --json            print the result as one JSON object; commands with no\n"
    "                      other output print {\"ok\":true}\n";

static const se_cmd cmds[] = {
    {"info", cmd_info, NO_OPTS, NULL,
     {"se info", "show what the secure element is and holds", SYN "info",
      "DESCRIPTION\n"
      "    Queries the chip (QUERY, every tag) and prints its serial number (hex),\n"
      "    product name, firmware version, lifecycle state, power state, whether\n"
      "    host keys are set and the last secure channel counter it accepted, each\n"
      "    key slot (number, algorithm, factory slot) and each zone (index, type,\n"
      "    size, read and update access conditions, counter value).\n\n"
      "    With --json the same as one object: serial, product, firmware,\n"
      "    lifecycle, power, host_keys_set, host_counter, slots [{slot, alg,\n"
      "    present, factory}], zones [{index, type, size, read_ac, update_ac,\n"
      "    counter}]. Names are lowercase: p256, ed25519, x25519, none; always,\n"
      "    host, never; personalization, operational, terminated; data, counter.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch se --se unix:/run/vouch-se.sock info --json | python3 -m json.tool\n", 0}},
    {"random", cmd_random, OPTS({"out", "FILE", NULL, 0}), "N",
     {"se random", "get random bytes from the secure element", SYN "random N [--out FILE]",
      "DESCRIPTION\n"
      "    Asks the chip's random generator for N bytes (1 to 1048576), in RANDOM\n"
      "    commands of at most 1024 bytes each, and prints them as one line of\n"
      "    lowercase hex.\n\n"
      "OPTIONS\n"
      "    N            number of bytes, decimal or 0x hex\n"
      "    --out FILE   write the raw bytes to FILE (mode 0600) instead; - is stdout\n",
      "    vouch se random 32\n    vouch se random 4096 --out seed.bin\n", 0}},
    {"echo", cmd_echo, NO_OPTS, "TEXT",
     {"se echo", "check the link to the secure element", SYN "echo TEXT",
      "DESCRIPTION\n"
      "    Sends TEXT (at most 1024 bytes) in an ECHO command and prints what comes\n"
      "    back. Fails with status 4 if the chip answers other bytes.\n\n"
      "OPTIONS\n"
      "    TEXT   the text to send; put -- before a TEXT that starts with -\n",
      "    vouch se echo hello\n", 0}},
    {"reset", cmd_reset, NO_OPTS, NULL,
     {"se reset", "clear the secure element's volatile state", SYN "reset",
      "DESCRIPTION\n"
      "    Sends RESET: the ephemeral key (slot 255) is dropped and hibernation\n"
      "    ends. Persistent keys, zones and counters are untouched.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch se reset\n", 0}},
    {"hibernate", cmd_hibernate, NO_OPTS, NULL,
     {"se hibernate", "put the secure element to sleep", SYN "hibernate",
      "DESCRIPTION\n"
      "    Sends HIBERNATE: volatile state is cleared and, until a WAKE, the chip\n"
      "    answers every other command with E_ASLEEP (exit status 3).\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch se hibernate && vouch se wake\n", 0}},
    {"wake", cmd_wake, NO_OPTS, NULL,
     {"se wake", "wake a hibernating secure element", SYN "wake",
      "DESCRIPTION\n"
      "    Sends WAKE; harmless on an awake chip. WAKE is always sent without the\n"
      "    secure channel: opening the channel starts with a QUERY, which a\n"
      "    sleeping chip refuses.\n\n"
      "OPTIONS\n    None besides the group options.\n",
      "    vouch se wake\n", 0}},
    {"keygen", cmd_keygen, OPTS({"slot", "N", NULL, 0}, {"alg", "ALG", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se keygen", "generate a key pair inside the secure element",
      SYN "keygen --slot N [--alg p256|ed25519|x25519] [--out FILE]",
      "DESCRIPTION\n"
      "    The chip generates a key pair in slot N (KEYGEN), replacing any key\n"
      "    there; the private key never leaves it. The public key is printed as a\n"
      "    PEM SubjectPublicKeyInfo, readable by 'openssl pkey -pubin'.\n"
      "    Slot 0 is the factory slot and is locked once the chip is operational;\n"
      "    with host keys set, keygen in the operational state needs\n"
      "    --host-keys.\n\n"
      "OPTIONS\n"
      "    --slot N     0..3, or 255 for the volatile ephemeral slot (p256 and\n"
      "                 x25519 only; consumed by one ecdh)\n"
      "    --alg ALG    p256 (default; ECDSA and ECDH), ed25519 (EdDSA signing) or\n"
      "                 x25519 (ECDH)\n"
      "    --out FILE   write the PEM to FILE instead of stdout\n",
      "    vouch se keygen --slot 1 --alg ed25519 --out dev.pem\n"
      "    openssl pkey -pubin -in dev.pem -noout -text\n", 0}},
    {"pubkey", cmd_pubkey, OPTS({"slot", "N", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se pubkey", "print the public key of a key slot", SYN "pubkey --slot N [--out FILE]",
      "DESCRIPTION\n"
      "    Reads the public key in slot N (PUBKEY) and prints it as a PEM\n"
      "    SubjectPublicKeyInfo.\n\n"
      "OPTIONS\n"
      "    --slot N     0..3, or 255 for the ephemeral slot\n"
      "    --out FILE   write the PEM to FILE instead of stdout\n",
      "    vouch se pubkey --slot 0 --out device.pem\n", 0}},
    {"sign", cmd_sign, OPTS({"slot", "N", NULL, 0}, {"in", "FILE", NULL, 0}, {"out", "SIG", NULL, 0}), NULL,
     {"se sign", "sign a file with a key held in the secure element",
      SYN "sign --slot N --in FILE --out SIG",
      "DESCRIPTION\n"
      "    Signs FILE with the key in slot N, whose algorithm is read from the\n"
      "    chip first (PUBKEY).\n"
      "    P-256: the host computes SHA-256 of FILE (any size), the chip signs the\n"
      "    digest, and SIG is written as a DER ECDSA-Sig-Value, as\n"
      "    'openssl dgst -sha256 -verify' expects.\n"
      "    Ed25519: FILE (1 to 1023 bytes) is signed as it is (PureEdDSA) and SIG\n"
      "    is the raw 64-byte signature, as 'openssl pkeyutl -verify -rawin'\n"
      "    expects. X25519 keys cannot sign.\n\n"
      "OPTIONS\n"
      "    --slot N     the key slot: 0..3, or 255\n"
      "    --in FILE    the message; - is stdin\n"
      "    --out SIG    where to write the signature\n",
      "    vouch se sign --slot 1 --in fw.bin --out fw.sig\n"
      "    vouch se pubkey --slot 1 --out pub.pem\n"
      "    openssl dgst -sha256 -verify pub.pem -signature fw.sig fw.bin        (P-256)\n"
      "    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in fw.bin \\\n"
      "        -sigfile fw.sig                                                (Ed25519)\n", 0}},
    {"csr", cmd_csr, OPTS({"slot", "N", NULL, 0}, {"subject", "DN", NULL, 0}, {"san", "LIST", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se csr", "make a certificate request signed by a key in the secure element",
      SYN "csr --slot N --subject /O=ORG/CN=NAME [--san DNS:x,URI:y] --out FILE",
      "DESCRIPTION\n"
      "    Builds a PKCS#10 certificate request for the P-256 public key in slot N\n"
      "    and has the chip sign it (the host hashes the request body, the chip\n"
      "    signs the digest), so the request proves possession of a key that\n"
      "    never left the chip. The request is written as PEM, ready for\n"
      "    'vouch cert issue' or 'openssl req -verify'.\n\n"
      "OPTIONS\n"
      "    --slot N       the key slot (0..3); it must hold a P-256 key\n"
      "    --subject DN   the subject in OpenSSL's -subj form, e.g.\n"
      "                   /O=Example/CN=meter-0001 ('\\/' for a '/' in a value)\n"
      "    --san LIST     subject alternative names, comma-separated: DNS:name,\n"
      "                   URI:uri, IP:addr, email:addr (at most 16)\n"
      "    --out FILE     where to write the PEM request; - is stdout\n",
      "    vouch se csr --slot 0 --subject /O=Example/CN=meter-0001 --out meter.csr\n"
      "    openssl req -in meter.csr -noout -verify -subject\n", 0}},
    {"verify", cmd_verify, OPTS({"slot", "N", NULL, 0}, {"pubkey", "PEM", NULL, 0}, {"zone", "N", NULL, 0}, {"in", "FILE", NULL, 0}, {"sig", "SIG", NULL, 0}), NULL,
     {"se verify", "have the secure element verify a signature",
      SYN "verify (--slot N | --pubkey PEM | --zone N) --in FILE --sig SIG",
      "DESCRIPTION\n"
      "    The chip verifies (VERIFY) a signature over FILE; the host only\n"
      "    prepares the inputs. The key is given by exactly one of:\n"
      "      --slot N      the public key of slot N (read with PUBKEY), sent with\n"
      "                    the signature (mode 0)\n"
      "      --pubkey PEM  a P-256 or Ed25519 public key in a PEM file (mode 0)\n"
      "      --zone N      the key stored in zone N as alg(1)|key (mode 1); the\n"
      "                    zone's read access must be always\n"
      "    Formats are those of 'vouch se sign': for P-256 the host hashes FILE\n"
      "    with SHA-256 and SIG is a DER ECDSA-Sig-Value (converted to r|s); for\n"
      "    Ed25519 FILE is the message itself (at most 926 bytes with a key, 958\n"
      "    with a zone, what fits in one command) and SIG is 64 raw bytes.\n"
      "    Prints \"signature valid\" or \"signature invalid\" (--json:\n"
      "    {\"valid\":true|false}). A SIG that is not a well-formed signature of\n"
      "    the key's type is reported as invalid.\n\n"
      "OPTIONS\n"
      "    --slot N      key slot 0..3, or 255\n"
      "    --pubkey PEM  public key file (-----BEGIN PUBLIC KEY-----)\n"
      "    --zone N      zone 0..7 holding alg(1)|key\n"
      "    --in FILE     the signed message; - is stdin\n"
      "    --sig SIG     the signature\n",
      "    vouch se verify --pubkey vendor.pem --in fw.bin --sig fw.sig\n"
      "    vouch se verify --zone 2 --in fw.bin --sig fw.sig\n", 1}},
    {"read", cmd_read, OPTS({"zone", "N", NULL, 0}, {"offset", "O", NULL, 0}, {"length", "L", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se read", "read bytes from a data or counter zone",
      SYN "read --zone N [--offset O] [--length L] [--out FILE]",
      "DESCRIPTION\n"
      "    Reads L bytes of zone N from offset O (READ, split into frames as\n"
      "    needed) and prints them as hex, 32 bytes per line. Without --length\n"
      "    it reads to the end of the zone (its size from QUERY). A counter zone\n"
      "    reads as its counter (4 bytes, big-endian) then its 32 data bytes.\n"
      "    A zone whose read access is host needs --host-keys; the data then\n"
      "    crosses the bus encrypted.\n\n"
      "OPTIONS\n"
      "    --zone N      zone 0..7\n"
      "    --offset O    first byte, default 0\n"
      "    --length L    number of bytes (1..65535), default to the end\n"
      "    --out FILE    write the raw bytes to FILE instead (mode 0600 over the\n"
      "                  secure channel); - is stdout\n",
      "    vouch se read --zone 0 --out chain.der\n"
      "    vouch se read --zone 3 --offset 16 --length 32\n", 0}},
    {"write", cmd_write, OPTS({"zone", "N", NULL, 0}, {"offset", "O", NULL, 0}, {"in", "FILE", NULL, 0}), NULL,
     {"se write", "write a file into a data zone", SYN "write --zone N [--offset O] --in FILE",
      "DESCRIPTION\n"
      "    Writes the bytes of FILE into data zone N from offset O (UPDATE, split\n"
      "    into frames as needed). Counter zones cannot be written; see 'vouch se\n"
      "    counter --data'. A zone whose update access is host needs --host-keys;\n"
      "    the data then crosses the bus encrypted.\n\n"
      "OPTIONS\n"
      "    --zone N     data zone 0..4\n"
      "    --offset O   first byte to write, default 0\n"
      "    --in FILE    the data (1..65535 bytes, the zone's size is the real\n"
      "                 limit); - is stdin\n",
      "    vouch se write --zone 0 --in chain.der\n", 0}},
    {"counter", cmd_counter, OPTS({"zone", "N", NULL, 0}, {"decrement", "K", NULL, 0}, {"data", "FILE", NULL, 0}), NULL,
     {"se counter", "read or decrement a monotonic counter",
      SYN "counter --zone N [--decrement K] [--data FILE]",
      "DESCRIPTION\n"
      "    Decrements the counter of counter zone N by K (DECREMENT; K = 0 just\n"
      "    reads it) and prints the resulting value. Counters start at 4294967295\n"
      "    and only go down; a decrement below zero is refused and changes\n"
      "    nothing. --json prints {\"zone\":N,\"counter\":V}. The zone's update\n"
      "    access condition applies.\n\n"
      "OPTIONS\n"
      "    --zone N        counter zone 5..7\n"
      "    --decrement K   amount, 0..4294967295, default 0\n"
      "    --data FILE     1..32 bytes written at the start of the counter's data\n"
      "                    area in the same atomic step\n",
      "    vouch se counter --zone 5\n    vouch se counter --zone 7 --decrement 1\n", 0}},
    {"ecdh", cmd_ecdh, OPTS({"slot", "N", NULL, 0}, {"peer", "PEM", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se ecdh", "agree on a shared secret with a peer's public key",
      SYN "ecdh --slot N --peer PEM [--out FILE]",
      "DESCRIPTION\n"
      "    The chip computes the ECDH shared secret (ECDH) between the key in slot\n"
      "    N and the peer's public key: 32 bytes, the x-coordinate for P-256. It is\n"
      "    printed as hex, or written raw with --out. Using the ephemeral slot\n"
      "    consumes its key. Once host keys are set ecdh needs --host-keys, and\n"
      "    the secret crosses the bus encrypted.\n\n"
      "OPTIONS\n"
      "    --slot N     a P-256 or X25519 key slot: 0..3, or 255\n"
      "    --peer PEM   the peer's P-256 or X25519 public key (PEM)\n"
      "    --out FILE   write the raw secret to FILE (mode 0600)\n",
      "    vouch se keygen --slot 255 --alg x25519 --out eph.pem\n"
      "    vouch se ecdh --slot 255 --peer peer.pem --out shared.bin\n", 0}},
    {"wrap", cmd_wrap, OPTS({"key", "K", NULL, 0}, {"in", "FILE", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se wrap", "encrypt data under one of the chip's envelope keys",
      SYN "wrap --key K --in FILE --out FILE",
      "DESCRIPTION\n"
      "    The chip wraps FILE (1..480 bytes) with its local AES-256 envelope key K\n"
      "    (WRAP, RFC 5649 key wrap with padding): the result is the length\n"
      "    rounded up to 8, plus 8 bytes. Only this chip can unwrap it. Once host\n"
      "    keys are set wrap needs --host-keys, and the plaintext crosses the bus\n"
      "    encrypted.\n\n"
      "OPTIONS\n"
      "    --key K      envelope key 0 or 1\n"
      "    --in FILE    the plaintext; - is stdin\n"
      "    --out FILE   the wrapped result\n",
      "    vouch se wrap --key 0 --in app.key --out app.key.wrapped\n", 0}},
    {"unwrap", cmd_unwrap, OPTS({"key", "K", NULL, 0}, {"in", "FILE", NULL, 0}, {"out", "FILE", NULL, 0}), NULL,
     {"se unwrap", "decrypt data wrapped by this chip",
      SYN "unwrap --key K --in FILE --out FILE",
      "DESCRIPTION\n"
      "    The chip unwraps FILE (16..488 bytes, a multiple of 8) with envelope key\n"
      "    K (UNWRAP) and checks its integrity; data altered, or wrapped by another\n"
      "    key or chip, is refused (E_INTEGRITY, status 3). Once host keys are set\n"
      "    unwrap needs --host-keys, and the plaintext crosses the bus encrypted.\n\n"
      "OPTIONS\n"
      "    --key K      envelope key 0 or 1\n"
      "    --in FILE    the wrapped data; - is stdin\n"
      "    --out FILE   the plaintext (mode 0600)\n",
      "    vouch se unwrap --key 0 --in app.key.wrapped --out app.key\n", 0}},
    {"lifecycle", cmd_lifecycle, OPTS({"set", "STATE", NULL, 0}), NULL,
     {"se lifecycle", "show or advance the chip's lifecycle state",
      SYN "lifecycle [--set operational|terminated]",
      "DESCRIPTION\n"
      "    Without --set, prints the lifecycle state: personalization, operational\n"
      "    or terminated. With --set, moves the chip forward (LIFECYCLE) and prints\n"
      "    the new state. The lifecycle never goes back. Entering terminated wipes\n"
      "    every private key and envelope key, for good. Once host keys are set\n"
      "    this needs --host-keys.\n\n"
      "OPTIONS\n"
      "    --set STATE   operational (from personalization) or terminated (from\n"
      "                  either)\n",
      "    vouch se --host-keys host.keys lifecycle --set operational\n", 0}},
    {"zone-ac", cmd_zone_ac, OPTS({"zone", "N", NULL, 0}, {"read", "AC", NULL, 0}, {"update", "AC", NULL, 0}), NULL,
     {"se zone-ac", "show or tighten a zone's access conditions",
      SYN "zone-ac --zone N [--read always|host|never] [--update always|host|never]",
      "DESCRIPTION\n"
      "    Reads zone N's access conditions (QUERY) and, when --read or --update\n"
      "    is given, sets them (ZONE_AC); the side not given keeps its value. Then\n"
      "    prints \"zone N: read AC, update AC\". Conditions only get stricter:\n"
      "    always < host < never. 'host' means only with the host secure channel\n"
      "    and needs host keys in the chip; 'never' is final. Once host keys are\n"
      "    set this needs --host-keys.\n\n"
      "OPTIONS\n"
      "    --zone N       zone 0..7\n"
      "    --read AC      always, host or never\n"
      "    --update AC    always, host or never\n",
      "    vouch se --host-keys host.keys zone-ac --zone 0 --update never\n", 0}},
    {"host-keys", cmd_host_keys, OPTS({"set", "FILE", NULL, 0}), NULL,
     {"se host-keys", "put the host secure channel keys into the chip",
      SYN "host-keys --set FILE",
      "DESCRIPTION\n"
      "    Stores the host MAC key and cipher key (HOST_KEYS) in the chip; from\n"
      "    then on the secure channel can be used and LIFECYCLE, ZONE_AC,\n"
      "    HOST_KEYS, ECDH, WRAP, UNWRAP and operational KEYGEN require it. Only\n"
      "    in the personalization state. Replacing keys already set needs the\n"
      "    current ones in --host-keys; the new keys then cross the bus\n"
      "    encrypted. The keys are wiped from memory after use.\n\n"
      "OPTIONS\n"
      "    --set FILE   32 raw bytes, or 64 hex digits: the 16-byte MAC key, then\n"
      "                 the 16-byte cipher key\n",
      "    head -c 32 /dev/urandom > host.keys && chmod 600 host.keys\n"
      "    vouch se host-keys --set host.keys\n"
      "    vouch se --host-keys host.keys info\n", 0}},
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

static void group_help(FILE *f)
{
    fprintf(f, "NAME\n    vouch se - talk to a secure element\n\n"
               "SYNOPSIS\n" SYN "<command> [options]\n\n"
               "DESCRIPTION\n"
               "    Runs one command against a vouch secure element (the vouch-se\n"
               "    daemon, or a chip on I2C) through libvouch. Commands:\n");
    for (size_t i = 0; i < N_CMDS; i++)
        fprintf(f, "        %-10s %s\n", cmds[i].name, cmds[i].help.summary);
    fprintf(f, "    'vouch se <command> --help' describes one command.\n"
               "    Numbers are decimal or 0x hex. Errors go to stderr, prefixed\n"
               "    \"vouch: \"; when the chip refuses, a hint follows.\n\n%s\n"
               "ENVIRONMENT\n"
               "    VOUCH_SE          default for --se\n"
               "    VOUCH_HOST_KEYS   default for --host-keys\n\n"
               "EXIT STATUS\n"
               "    0 success, 1 signature invalid (verify), 2 usage error, 3 the secure\n"
               "    element refused, 4 communication failure, 5 local file error.\n\n"
               "EXAMPLE\n"
               "    vouch-se --state ./chip --seal-key seal.key --socket /tmp/se.sock &\n"
               "    export VOUCH_SE=unix:/tmp/se.sock\n"
               "    vouch se info\n"
               "    vouch se keygen --slot 1 > dev.pem\n",
            group_opts);
}

static const se_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < N_CMDS; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

int cmd_se_main(int argc, char **argv)
{
    char *pos[1];
    int used = 0, npos = 0, ret;
    ret = cli_parse("se", argc - 1, argv + 1, gopts, NULL, 1, &used, NULL, 0, NULL);
    if (ret == CLI_HELP) {
        group_help(stdout);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (used + 1 >= argc)
        return cli_usage("se", "missing command (info, random, sign, ...)");
    const char *name = argv[used + 1];
    if (strcmp(name, "help") == 0) { /* vouch se help [command] */
        const se_cmd *h = used + 2 < argc ? find_cmd(argv[used + 2]) : NULL;
        if (used + 2 < argc && !h)
            return cli_usage("se", "unknown command '%s'", argv[used + 2]);
        if (h)
            cli_print_help(&h->help, group_opts);
        else
            group_help(stdout);
        return CLI_OK;
    }
    const se_cmd *c = find_cmd(name);
    if (!c)
        return cli_usage("se", "unknown command '%s'", name);
    snprintf(g.cmd, sizeof g.cmd, "se %s", c->name);
    g.name = c->name;
    g.opts = c->opts;
    ret = cli_parse(g.cmd, argc - used - 2, argv + used + 2, c->opts, gopts, 0, NULL, pos,
                    c->arg ? 1 : 0, &npos);
    if (ret == CLI_HELP) {
        cli_print_help(&c->help, group_opts);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (c->arg && npos == 0)
        return cli_usage(g.cmd, "missing %s", c->arg);
    g.json = gopts[2].seen;
    ret = c->run(pos, npos);
    if (g.open)
        vouch_se_close(&g.se);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_err(CLI_FILE, "cannot write to stdout: %s", strerror(errno));
    return ret;
}
