/*
 * Certificate templates: the built-ins, JSON load/save (jansson), and the
 * CSR check that enforces them. A template is plain data so the store can
 * keep it as JSON and the server can copy it freely; patterns are compiled
 * at check time (a few microseconds, negligible next to one signature).
 */
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki/internal.h"

#define JSON_MAX (64 * 1024)
#define CSR_MAX (64 * 1024)
#define RDN_VALUE_MAX 64 /* ub-common-name and friends, RFC 5280 appendix A */
#define SAN_VALUE_MAX 253

typedef struct {
    const char *name;
    uint32_t bit;
} flag_name;

static const flag_name ku_names[] = {
    {"digitalSignature", KU_DIGITAL_SIGNATURE}, {"nonRepudiation", KU_NON_REPUDIATION},
    {"keyEncipherment", KU_KEY_ENCIPHERMENT},   {"dataEncipherment", KU_DATA_ENCIPHERMENT},
    {"keyAgreement", KU_KEY_AGREEMENT},         {"keyCertSign", KU_KEY_CERT_SIGN},
    {"cRLSign", KU_CRL_SIGN},                   {"encipherOnly", KU_ENCIPHER_ONLY},
    {"decipherOnly", KU_DECIPHER_ONLY},         {NULL, 0},
};
static const flag_name eku_names[] = {
    {"serverAuth", VOUCH_PKI_EKU_SERVER_AUTH},     {"clientAuth", VOUCH_PKI_EKU_CLIENT_AUTH},
    {"codeSigning", VOUCH_PKI_EKU_CODE_SIGNING},   {"emailProtection", VOUCH_PKI_EKU_EMAIL_PROTECTION},
    {"timeStamping", VOUCH_PKI_EKU_TIME_STAMPING}, {"OCSPSigning", VOUCH_PKI_EKU_OCSP_SIGNING},
    {NULL, 0},
};
static const flag_name kt_names[] = {
    {"ec-p256", VOUCH_PKI_KT_EC_P256}, {"ec-p384", VOUCH_PKI_KT_EC_P384},
    {"ed25519", VOUCH_PKI_KT_ED25519}, {"rsa", VOUCH_PKI_KT_RSA},
    {NULL, 0},
};
static const flag_name rdn_names[] = {
    {"CN", VOUCH_PKI_RDN_CN}, {"O", VOUCH_PKI_RDN_O},   {"OU", VOUCH_PKI_RDN_OU},
    {"C", VOUCH_PKI_RDN_C},   {"ST", VOUCH_PKI_RDN_ST}, {"L", VOUCH_PKI_RDN_L},
    {"serialNumber", VOUCH_PKI_RDN_SERIAL}, {"emailAddress", VOUCH_PKI_RDN_EMAIL},
    {NULL, 0},
};
static const flag_name san_names[] = {
    {"dns", VOUCH_PKI_SAN_DNS}, {"ip", VOUCH_PKI_SAN_IP},
    {"uri", VOUCH_PKI_SAN_URI}, {"email", VOUCH_PKI_SAN_EMAIL},
    {NULL, 0},
};

/* "a, b, c" for the bits set in mask, into out. */
static void mask_list(const flag_name *t, uint32_t mask, char *out, size_t size)
{
    size_t o = 0;
    int w;

    out[0] = '\0';
    for (; t->name != NULL; t++) {
        if (!(mask & t->bit))
            continue;
        w = snprintf(out + o, size - o, "%s%s", o ? ", " : "", t->name);
        if (w < 0 || (size_t)w >= size - o)
            return;
        o += (size_t)w;
    }
}

/* ---- built-ins --------------------------------------------------------------- */

#define DNSNAME "[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*"

static const vouch_pki_template builtins[] = {
    {.name = "device", .validity_days = 3650,
     .key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
     .ext_key_usage = VOUCH_PKI_EKU_CLIENT_AUTH, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_SERIAL,
     .cn_pattern = "[A-Za-z0-9][A-Za-z0-9._:-]{0,63}",
     .san_allowed = VOUCH_PKI_SAN_URI | VOUCH_PKI_SAN_DNS, .san_max = 4},
    {.name = "gateway", .validity_days = 3650,
     .key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
     .ext_key_usage = VOUCH_PKI_EKU_CLIENT_AUTH | VOUCH_PKI_EKU_SERVER_AUTH, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519 | VOUCH_PKI_KT_RSA,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_SERIAL | VOUCH_PKI_RDN_L,
     .cn_pattern = "[A-Za-z0-9][A-Za-z0-9._:-]{0,63}",
     .san_allowed = VOUCH_PKI_SAN_DNS | VOUCH_PKI_SAN_IP | VOUCH_PKI_SAN_URI, .san_max = 16},
    {.name = "admin", .validity_days = 365,
     .key_usage = KU_DIGITAL_SIGNATURE,
     .ext_key_usage = VOUCH_PKI_EKU_CLIENT_AUTH, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519 | VOUCH_PKI_KT_RSA,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_EMAIL,
     .cn_pattern = "[A-Za-z0-9][A-Za-z0-9._@-]{0,63}",
     .san_allowed = VOUCH_PKI_SAN_EMAIL, .san_max = 2},
    {.name = "user", .validity_days = 365,
     .key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
     .ext_key_usage = VOUCH_PKI_EKU_CLIENT_AUTH | VOUCH_PKI_EKU_EMAIL_PROTECTION, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519 | VOUCH_PKI_KT_RSA,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_EMAIL,
     .cn_pattern = "[^\x01-\x1f]{1,64}",
     .san_allowed = VOUCH_PKI_SAN_EMAIL | VOUCH_PKI_SAN_URI, .san_max = 4},
    {.name = "server", .validity_days = 397,
     .key_usage = KU_DIGITAL_SIGNATURE,
     .ext_key_usage = VOUCH_PKI_EKU_SERVER_AUTH, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519 | VOUCH_PKI_KT_RSA,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_C | VOUCH_PKI_RDN_ST | VOUCH_PKI_RDN_L,
     .cn_pattern = DNSNAME "|[0-9.]{7,15}",
     .san_allowed = VOUCH_PKI_SAN_DNS | VOUCH_PKI_SAN_IP, .san_max = 100,
     .san_pattern = DNSNAME},
    {.name = "code-signing", .validity_days = 1095,
     .key_usage = KU_DIGITAL_SIGNATURE,
     .ext_key_usage = VOUCH_PKI_EKU_CODE_SIGNING, .path_len = -1,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519 | VOUCH_PKI_KT_RSA,
     .rsa_min_bits = 3072,
     .subject_required = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU | VOUCH_PKI_RDN_C,
     .cn_pattern = "[^\x01-\x1f]{1,64}"},
    {.name = "family-ca", .validity_days = 7300,
     .key_usage = KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE,
     .ca = 1, .path_len = 0,
     .key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519,
     .rsa_min_bits = 2048,
     .subject_required = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O,
     .subject_allowed = VOUCH_PKI_RDN_CN | VOUCH_PKI_RDN_O | VOUCH_PKI_RDN_OU,
     .cn_pattern = "[^\x01-\x1f]{1,64}"},
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

const char *const *vouch_pki_template_builtin_names(size_t *n)
{
    static const char *const names[] = {"device", "gateway", "admin", "user",
                                        "server", "code-signing", "family-ca"};
    if (n != NULL)
        *n = sizeof names / sizeof names[0];
    return names;
}

vouch_pki_rc vouch_pki_template_builtin(const char *name, vouch_pki_template *out)
{
    size_t i;

    if (name == NULL || out == NULL)
        return VOUCH_PKI_E_ARG;
    for (i = 0; i < N_BUILTINS; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            *out = builtins[i];
            return VOUCH_PKI_OK;
        }
    }
    return VOUCH_PKI_E_NOTFOUND;
}

/* ---- patterns ------------------------------------------------------------------ */

/*
 * glibc's regcomp copies the operand of a count (and of '+') once per copy,
 * so nested counts multiply ("((a{0,25}){0,25}){0,25}" takes gigabytes),
 * and copies of something that can match the empty string cost far more
 * than their number: "(()){0,250}" retains 90 MB, "(((((()+)+)+)+)+)" does
 * not finish compiling. Template patterns come from an admin over the API
 * and every CSR is matched against them, so before regcomp sees one we
 * bound, erring high:
 *  - its size: a literal, '.', anchor, bracket expression, escape or '|'
 *    weighs 1, a group its contents and 2 (glibc keeps empty groups as
 *    nodes), and a count multiplies what it follows by its largest count
 *    (m+1 for "{m,}", 2 for '+'); at most PATTERN_WEIGHT_MAX, which leaves
 *    room for a 253-character DNS name count and a suffix;
 *  - its loops: each '*', '+', '?' or "{m,}" counts once per copy; at most
 *    PATTERN_LOOPS_MAX;
 *  - a count or '+' may not apply to something that can match the empty
 *    string (write the count inside: "a{0,3}", not "(a?){3}");
 *  - a count of something that itself repeats: count times weight at most
 *    PATTERN_NESTED_MAX ("([0-9]{1,3}\\.){3}" is 18); '+' is left out, it
 *    adds one copy ("([a-z0-9-]{1,63}\\.)+" is fine);
 *  - two repetition operators in a row ("a*+", "a{2}?"): POSIX leaves
 *    them undefined, and glibc nests them;
 *  - back-references ("\\1".."\\9"), whose matching can take exponential
 *    time, and unbalanced parentheses, which would escape the "^(...)$"
 *    the pattern is anchored with.
 * regcomp still decides what is valid; this only refuses what is costly.
 * Returns NULL when acceptable, else what is wrong.
 */
#define PATTERN_WEIGHT_MAX 300ul
#define PATTERN_LOOPS_MAX 64ul
#define PATTERN_NESTED_MAX 64ul
#define PATTERN_DEPTH_MAX 16

typedef struct {
    unsigned long weight, loops;
    int repeats;  /* holds a repetition operator */
    int nullable; /* can match the empty string */
} pattern_part;

typedef struct {
    pattern_part sum; /* the group so far; .nullable: some finished branch is */
    int before;       /* the current branch is nullable up to its last item */
    int branch;       /* the current branch is nullable, last item included */
} pattern_group;

static void group_open(pattern_group *g)
{
    memset(g, 0, sizeof *g);
    g->before = g->branch = 1;
}

static const char *pattern_bounds(const char *p)
{
    pattern_group open[PATTERN_DEPTH_MAX + 1], *cur;
    pattern_part last = {0, 0, 0, 1};
    int depth = 0, after_op = 0;

    group_open(&open[0]);
    while (*p != '\0') {
        pattern_part item = {1, 0, 0, 0};
        cur = &open[depth];
        if (strchr("*?+{", *p) == NULL)
            after_op = 0;
        switch (*p) {
        case '(':
            if (++depth > PATTERN_DEPTH_MAX)
                return "nests groups too deeply";
            group_open(&open[depth]);
            last = (pattern_part){0, 0, 0, 1};
            p++;
            continue;
        case ')':
            if (depth == 0)
                return "has an unbalanced ')'";
            item = open[depth].sum;
            item.weight += 2;
            item.nullable = item.nullable || open[depth].branch;
            cur = &open[--depth];
            p++;
            break;
        case '|':
            if (++cur->sum.weight > PATTERN_WEIGHT_MAX)
                return "is too large once its counts are expanded";
            cur->sum.nullable |= cur->branch;
            cur->before = cur->branch = 1;
            last = (pattern_part){0, 0, 0, 1};
            p++;
            continue;
        case '*':
        case '?':
        case '+':
        case '{': {
            unsigned long m = 1, n = 1;
            int loop = *p != '{'; /* '*', '?', '+' and "{m,}" loop */
            if (after_op)
                return "has two repetition operators in a row (undefined in POSIX)";
            after_op = 1;
            if (*p == '{') {
                int comma = 0;
                m = 0;
                n = 0;
                for (p++; *p >= '0' && *p <= '9'; p++)
                    if ((m = m * 10 + (unsigned long)(*p - '0')) > 1000)
                        return "has a repetition count over 1000";
                if (*p == ',') {
                    comma = 1;
                    for (p++; *p >= '0' && *p <= '9'; p++)
                        if ((n = n * 10 + (unsigned long)(*p - '0')) > 1000)
                            return "has a repetition count over 1000";
                }
                if (*p != '}')
                    return "has a malformed {m,n} repetition";
                if (comma && n == 0) {
                    n = m + 1; /* "{m,}": m copies and a loop */
                    loop = 1;
                }
                if (n < m)
                    n = m;
                if (n < 1)
                    n = 1;
            } else if (*p == '+') {
                n = 2; /* one copy and a loop */
            } else {
                m = 0;
            }
            p++;
            if (n > 1 && last.nullable)
                return "counts something that can match the empty string";
            if (p[-1] != '+' && n > 1 && last.repeats && n * last.weight > PATTERN_NESTED_MAX)
                return "counts something that already repeats too many times";
            /* The item was already added once: add the other copies. */
            cur->sum.weight += last.weight * (n - 1);
            cur->sum.loops += last.loops * (n - 1);
            last.weight *= n;
            last.loops *= n;
            if (loop) {
                cur->sum.loops++;
                last.loops++;
            }
            cur->sum.repeats = last.repeats = 1;
            if (m == 0)
                last.nullable = 1;
            cur->branch = cur->before && last.nullable;
            if (cur->sum.weight > PATTERN_WEIGHT_MAX)
                return "is too large once its counts are expanded";
            if (cur->sum.loops > PATTERN_LOOPS_MAX)
                return "has too many '*', '+' or '?' loops (counting repeated copies)";
            continue;
        }
        case '^':
        case '$':
            item.nullable = 1; /* matches no character */
            p++;
            break;
        case '[':
            /* A bracket expression: "]" right after "[" or "[^" is a member;
             * "[:alpha:]"-style classes hold no "]" of their own. */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p != '\0' && *p != ']') {
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char *e = strchr(p + 2, p[1]);
                    if (e == NULL || e[1] != ']')
                        return "has an unterminated bracket class";
                    p = e + 2;
                } else {
                    p++;
                }
            }
            if (*p != ']')
                return "has an unterminated bracket expression";
            p++;
            break;
        case '\\':
            if (p[1] >= '1' && p[1] <= '9')
                return "uses a back-reference";
            if (p[1] == '\0')
                return "ends in a lone backslash";
            /* \b, \B, \<, \>, \` and \' match no character */
            item.nullable = strchr("bB<>`'", p[1]) != NULL;
            p += 2;
            break;
        default:
            p++;
            break;
        }
        cur->sum.weight += item.weight;
        cur->sum.loops += item.loops;
        cur->sum.repeats |= item.repeats;
        cur->before = cur->branch;
        cur->branch = cur->before && item.nullable;
        last = item;
        if (cur->sum.weight > PATTERN_WEIGHT_MAX)
            return "is too large once its counts are expanded";
        if (cur->sum.loops > PATTERN_LOOPS_MAX)
            return "has too many '*', '+' or '?' loops (counting repeated copies)";
    }
    return depth == 0 ? NULL : "has an unbalanced '('";
}

/* Compiles "^(pat)$". 0 ok. Empty pattern: *used = 0. */
static int pattern_compile(const char *pat, regex_t *re, int *used)
{
    char full[VOUCH_PKI_TPL_PATTERN_MAX + 8];
    size_t n = strnlen(pat, VOUCH_PKI_TPL_PATTERN_MAX);

    *used = 0;
    if (n == VOUCH_PKI_TPL_PATTERN_MAX)
        return -1; /* not terminated inside the field */
    if (n == 0)
        return 0;
    if (pattern_bounds(pat) != NULL)
        return -1;
    snprintf(full, sizeof full, "^(%s)$", pat);
    if (regcomp(re, full, REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    *used = 1;
    return 0;
}

/*
 * Compiled patterns, cached per thread: a server checks every CSR against
 * the same few templates, and compiling a POSIX regex costs more than
 * matching it. Keyed by the pattern text, so a changed template simply
 * misses. Freed when the thread exits (and by pki_pattern_cache_free).
 */
#define PATTERN_CACHE 8

typedef struct {
    char pat[VOUCH_PKI_TPL_PATTERN_MAX];
    regex_t re;
    int valid;
} pattern_slot;

typedef struct {
    pattern_slot slot[PATTERN_CACHE];
    unsigned next;
} pattern_cache;

static void cache_destroy(void *p)
{
    pattern_cache *c = p;
    for (int i = 0; c && i < PATTERN_CACHE; i++)
        if (c->slot[i].valid)
            regfree(&c->slot[i].re);
    free(c);
}

static pki_tls pattern_tls = PKI_TLS_INIT(cache_destroy);

/* The compiled "^(pat)$" for a non-empty, terminated pattern, or NULL when
 * it does not compile or there is no cache (the caller compiles then). */
static const regex_t *pattern_cached(const char *pat)
{
    pattern_cache *c;
    pattern_slot *sl;
    if ((c = pki_tls_get(&pattern_tls, sizeof *c)) == NULL)
        return NULL;
    for (int i = 0; i < PATTERN_CACHE; i++)
        if (c->slot[i].valid && strcmp(c->slot[i].pat, pat) == 0)
            return &c->slot[i].re;
    sl = &c->slot[c->next++ % PATTERN_CACHE];
    if (sl->valid)
        regfree(&sl->re);
    sl->valid = 0;
    int used;
    if (pattern_compile(pat, &sl->re, &used) != 0 || !used)
        return NULL;
    memcpy(sl->pat, pat, strlen(pat) + 1);
    sl->valid = 1;
    return &sl->re;
}

/* NULL when the pattern is empty or compiles (cached when it does), else
 * what is wrong with it. */
static const char *pattern_problem(const char *pat)
{
    regex_t re;
    int used;
    const char *bad;
    size_t n = strnlen(pat, VOUCH_PKI_TPL_PATTERN_MAX);
    if (n == VOUCH_PKI_TPL_PATTERN_MAX)
        return "is too long";
    if (n == 0)
        return NULL;
    if ((bad = pattern_bounds(pat)) != NULL)
        return bad;
    if (pattern_cached(pat) != NULL)
        return NULL;
    if (pattern_compile(pat, &re, &used) != 0)
        return "is not a valid extended regex";
    if (used)
        regfree(&re);
    return NULL;
}

void pki_pattern_cache_free(void)
{
    pki_tls_release(&pattern_tls);
}

vouch_pki_rc vouch_pki_template_validate(const vouch_pki_template *t, char *why, size_t why_size)
{
    const char *bad;

    if (t == NULL)
        return VOUCH_PKI_E_ARG;
    if (strnlen(t->name, sizeof t->name) == sizeof t->name || !pki_name_ok(t->name)) {
        pki_why(why, why_size, "template name must be 1..63 of [A-Za-z0-9._-]");
        return VOUCH_PKI_E_POLICY;
    }
#define BAD(...) do { pki_why(why, why_size, __VA_ARGS__); return VOUCH_PKI_E_POLICY; } while (0)
    if (t->validity_days < 1 || t->validity_days > 36500)
        BAD("template %s: validity_days must be 1..36500", t->name);
    if (t->key_usage == 0 || (t->key_usage & ~(uint32_t)0x80ffu))
        BAD("template %s: key_usage must name at least one known usage", t->name);
    if (t->ext_key_usage & ~(uint32_t)0x3fu)
        BAD("template %s: unknown ext_key_usage bits", t->name);
    if (t->key_types == 0 || (t->key_types & ~(uint32_t)0xfu))
        BAD("template %s: key_types must name at least one known key type", t->name);
    if ((t->key_types & VOUCH_PKI_KT_RSA) && (t->rsa_min_bits < 2048 || t->rsa_min_bits > 16384))
        BAD("template %s: rsa_min_bits must be 2048..16384", t->name);
    if (t->ca != 0 && t->ca != 1)
        BAD("template %s: ca must be 0 or 1", t->name);
    if (t->path_len < -1 || t->path_len > 8 || (!t->ca && t->path_len != -1))
        BAD("template %s: path_len must be -1 (or 0..8 for a CA)", t->name);
    if (t->ca && !(t->key_usage & KU_KEY_CERT_SIGN))
        BAD("template %s: a CA template needs keyCertSign", t->name);
    if (!t->ca && (t->key_usage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
        BAD("template %s: keyCertSign/cRLSign need ca=true", t->name);
    if (t->subject_allowed == 0 || (t->subject_allowed & ~(uint32_t)0xffu))
        BAD("template %s: subject.allowed must name known attributes", t->name);
    if ((t->subject_required & ~t->subject_allowed) != 0)
        BAD("template %s: subject.required must be a subset of subject.allowed", t->name);
    if (t->san_allowed & ~(uint32_t)0xfu)
        BAD("template %s: unknown SAN types", t->name);
    if (t->san_max > 1000 || (t->san_allowed != 0 && t->san_max == 0))
        BAD("template %s: san.max must be 1..1000 when SANs are allowed", t->name);
    if ((bad = pattern_problem(t->cn_pattern)) != NULL)
        BAD("template %s: subject.cn_pattern %s", t->name, bad);
    if ((bad = pattern_problem(t->san_pattern)) != NULL)
        BAD("template %s: san.pattern %s", t->name, bad);
#undef BAD
    return VOUCH_PKI_OK;
}

/* ---- JSON ------------------------------------------------------------------------- */

/* Array of names -> mask. 0 ok; on error names the member and value. */
static int json_mask(json_t *arr, const flag_name *t, uint32_t *mask, const char *member,
                     char *why, size_t why_size)
{
    size_t i, k;
    json_t *v;

    if (!json_is_array(arr)) {
        pki_why(why, why_size, "%s must be an array of strings", member);
        return -1;
    }
    *mask = 0;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL) {
            pki_why(why, why_size, "%s[%zu] must be a string", member, i);
            return -1;
        }
        for (k = 0; t[k].name != NULL; k++)
            if (strcmp(t[k].name, s) == 0)
                break;
        if (t[k].name == NULL) {
            char list[256];
            mask_list(t, 0xffffffffu, list, sizeof list);
            pki_why(why, why_size, "%s: unknown value \"%.64s\" (known: %s)", member, s, list);
            return -1;
        }
        *mask |= t[k].bit;
    }
    return 0;
}

static int json_uint(json_t *v, uint32_t max, uint32_t *out, const char *member, char *why,
                     size_t why_size)
{
    json_int_t n;

    if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 || (uint64_t)n > max) {
        pki_why(why, why_size, "%s must be an integer 0..%u", member, max);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

static int json_str(json_t *v, char *out, size_t size, const char *member, char *why,
                    size_t why_size)
{
    const char *s = json_string_value(v);

    if (s == NULL || json_string_length(v) >= size || strlen(s) != json_string_length(v)) {
        pki_why(why, why_size, "%s must be a string of at most %zu bytes", member, size - 1);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* Rejects members of obj that are not in known (NULL-terminated). */
static int json_only(json_t *obj, const char *const *known, const char *where, char *why,
                     size_t why_size)
{
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(obj, key, v) {
        for (i = 0; known[i] != NULL; i++)
            if (strcmp(known[i], key) == 0)
                break;
        if (known[i] == NULL) {
            pki_why(why, why_size, "unknown member \"%.64s\" in %s", key, where);
            return -1;
        }
    }
    return 0;
}

static int json_subject(json_t *o, vouch_pki_template *t, char *why, size_t why_size)
{
    static const char *const known[] = {"required", "allowed", "cn_pattern", NULL};
    json_t *v;

    if (!json_is_object(o)) {
        pki_why(why, why_size, "subject must be an object");
        return -1;
    }
    if (json_only(o, known, "subject", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "required")) != NULL &&
        json_mask(v, rdn_names, &t->subject_required, "subject.required", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "allowed")) != NULL &&
        json_mask(v, rdn_names, &t->subject_allowed, "subject.allowed", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "cn_pattern")) != NULL &&
        json_str(v, t->cn_pattern, sizeof t->cn_pattern, "subject.cn_pattern", why, why_size) != 0)
        return -1;
    return 0;
}

static int json_san(json_t *o, vouch_pki_template *t, char *why, size_t why_size)
{
    static const char *const known[] = {"allowed", "max", "pattern", NULL};
    json_t *v;

    if (!json_is_object(o)) {
        pki_why(why, why_size, "san must be an object");
        return -1;
    }
    if (json_only(o, known, "san", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "allowed")) != NULL &&
        json_mask(v, san_names, &t->san_allowed, "san.allowed", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "max")) != NULL &&
        json_uint(v, 1000, &t->san_max, "san.max", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "pattern")) != NULL &&
        json_str(v, t->san_pattern, sizeof t->san_pattern, "san.pattern", why, why_size) != 0)
        return -1;
    return 0;
}

/* Fills t from the top-level object (name already handled). */
static int json_fields(json_t *o, vouch_pki_template *t, char *why, size_t why_size)
{
    static const char *const known[] = {"name", "validity_days", "key_usage", "ext_key_usage",
                                        "ca", "path_len", "key_types", "rsa_min_bits",
                                        "subject", "san", NULL};
    json_t *v;

    if (json_only(o, known, "template", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "validity_days")) != NULL &&
        json_uint(v, 36500, &t->validity_days, "validity_days", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "key_usage")) != NULL &&
        json_mask(v, ku_names, &t->key_usage, "key_usage", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "ext_key_usage")) != NULL &&
        json_mask(v, eku_names, &t->ext_key_usage, "ext_key_usage", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "key_types")) != NULL &&
        json_mask(v, kt_names, &t->key_types, "key_types", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "rsa_min_bits")) != NULL &&
        json_uint(v, 16384, &t->rsa_min_bits, "rsa_min_bits", why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "ca")) != NULL) {
        if (!json_is_boolean(v)) {
            pki_why(why, why_size, "ca must be true or false");
            return -1;
        }
        t->ca = json_is_true(v);
    }
    if ((v = json_object_get(o, "path_len")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 8) {
            pki_why(why, why_size, "path_len must be an integer -1..8");
            return -1;
        }
        t->path_len = (int)json_integer_value(v);
    }
    if ((v = json_object_get(o, "subject")) != NULL && json_subject(v, t, why, why_size) != 0)
        return -1;
    if ((v = json_object_get(o, "san")) != NULL && json_san(v, t, why, why_size) != 0)
        return -1;
    return 0;
}

vouch_pki_rc vouch_pki_template_from_json(const char *json, size_t len, vouch_pki_template *out,
                                          char *why, size_t why_size)
{
    json_error_t err;
    json_t *root = NULL;
    vouch_pki_template t;
    vouch_pki_rc rc = VOUCH_PKI_E_PARSE;
    char name[VOUCH_PKI_TPL_NAME_MAX];

    if (json == NULL || out == NULL || len > JSON_MAX) {
        pki_why(why, why_size, "template JSON missing or larger than %d bytes", JSON_MAX);
        return VOUCH_PKI_E_ARG;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        pki_why(why, why_size, "template JSON line %d column %d: %s", err.line, err.column,
                err.text);
        goto exit;
    }
    if (!json_is_object(root)) {
        pki_why(why, why_size, "template JSON must be an object");
        goto exit;
    }
    if (json_object_get(root, "name") == NULL) {
        pki_why(why, why_size, "template JSON needs a \"name\"");
        goto exit;
    }
    if (json_str(json_object_get(root, "name"), name, sizeof name, "name", why, why_size) != 0)
        goto exit;
    /* start from the built-in of that name, or from a locked-down default */
    if (vouch_pki_template_builtin(name, &t) != VOUCH_PKI_OK) {
        memset(&t, 0, sizeof t);
        memcpy(t.name, name, sizeof t.name);
        t.validity_days = 365;
        t.key_usage = KU_DIGITAL_SIGNATURE;
        t.path_len = -1;
        t.key_types = VOUCH_PKI_KT_EC_P256 | VOUCH_PKI_KT_EC_P384 | VOUCH_PKI_KT_ED25519;
        t.rsa_min_bits = 2048;
        t.subject_required = VOUCH_PKI_RDN_CN;
        t.subject_allowed = VOUCH_PKI_RDN_CN;
    }
    if (json_fields(root, &t, why, why_size) != 0)
        goto exit;
    rc = vouch_pki_template_validate(&t, why, why_size);
    if (rc == VOUCH_PKI_OK)
        *out = t;
exit:
    json_decref(root);
    return rc;
}

static json_t *mask_json(const flag_name *t, uint32_t mask)
{
    json_t *a = json_array();
    for (; a != NULL && t->name != NULL; t++)
        if ((mask & t->bit) && json_array_append_new(a, json_string(t->name)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

vouch_pki_rc vouch_pki_template_to_json(const vouch_pki_template *t, char **json)
{
    json_t *o;

    if (json != NULL)
        *json = NULL;
    if (t == NULL || json == NULL || strnlen(t->name, sizeof t->name) == sizeof t->name ||
        strnlen(t->cn_pattern, sizeof t->cn_pattern) == sizeof t->cn_pattern ||
        strnlen(t->san_pattern, sizeof t->san_pattern) == sizeof t->san_pattern)
        return VOUCH_PKI_E_ARG;
    /* "o" steals references and json_pack frees them on failure */
    o = json_pack("{s:s, s:I, s:o*, s:o*, s:b, s:i, s:o*, s:I, s:{s:o*, s:o*, s:s}, "
                  "s:{s:o*, s:I, s:s}}",
                  "name", t->name, "validity_days", (json_int_t)t->validity_days,
                  "key_usage", mask_json(ku_names, t->key_usage),
                  "ext_key_usage", mask_json(eku_names, t->ext_key_usage),
                  "ca", t->ca, "path_len", t->path_len,
                  "key_types", mask_json(kt_names, t->key_types),
                  "rsa_min_bits", (json_int_t)t->rsa_min_bits,
                  "subject", "required", mask_json(rdn_names, t->subject_required),
                  "allowed", mask_json(rdn_names, t->subject_allowed),
                  "cn_pattern", t->cn_pattern,
                  "san", "allowed", mask_json(san_names, t->san_allowed),
                  "max", (json_int_t)t->san_max, "pattern", t->san_pattern);
    if (o == NULL)
        return VOUCH_PKI_E_NOMEM;
    *json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *json != NULL ? VOUCH_PKI_OK : VOUCH_PKI_E_NOMEM;
}

/* ---- CSR ----------------------------------------------------------------------------- */

/* The DER of a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST", no
 * headers) or DER request into *der (OPENSSL_free when *pem); 1 ok. */
static int csr_der(const uint8_t *data, size_t len, const unsigned char **der, long *dlen,
                   unsigned char **pem)
{
    static const char tag[] = "-----BEGIN ";
    *pem = NULL;
    if (data == NULL || len == 0 || len > CSR_MAX)
        return 0;
    if (memmem(data, len, tag, sizeof tag - 1) == NULL) {
        *der = data;
        *dlen = (long)len;
        return 1;
    }
    /* PEM: the block's DER must be one request and nothing more */
    char *name = NULL, *header = NULL;
    int ok = 0;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (b != NULL && PEM_read_bio(b, &name, &header, pem, dlen) == 1 &&
        (strcmp(name, PEM_STRING_X509_REQ) == 0 || strcmp(name, PEM_STRING_X509_REQ_OLD) == 0) &&
        header[0] == '\0' && *dlen > 0)
        ok = 1;
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(b);
    ERR_clear_error();
    if (!ok) {
        OPENSSL_free(*pem);
        *pem = NULL;
        return 0;
    }
    *der = *pem;
    return 1;
}

/* data (PEM or DER) decoded by decode into *out: one request, nothing after
 * its DER */
static vouch_pki_rc csr_decode(const uint8_t *data, size_t len, void **out,
                               void *(*decode)(const unsigned char *, long))
{
    const unsigned char *der;
    unsigned char *pem;
    long dlen;

    if (out == NULL)
        return VOUCH_PKI_E_ARG;
    *out = NULL;
    if (data == NULL || len == 0 || len > CSR_MAX)
        return VOUCH_PKI_E_ARG;
    if (csr_der(data, len, &der, &dlen, &pem))
        *out = decode(der, dlen); /* also refuses trailing bytes */
    OPENSSL_free(pem);
    return *out != NULL ? VOUCH_PKI_OK : VOUCH_PKI_E_PARSE;
}

static void *decode_req(const unsigned char *der, long len)
{
    return pki_csr_d2i(der, len);
}

static void *decode_csr(const unsigned char *der, long len)
{
    return pki_csr_from_der(der, len);
}

vouch_pki_rc vouch_pki_csr_parse(const uint8_t *data, size_t len, X509_REQ **out)
{
    void *v = NULL;
    vouch_pki_rc rc = csr_decode(data, len, out != NULL ? &v : NULL, decode_req);
    if (out != NULL)
        *out = v;
    return rc;
}

vouch_pki_rc vouch_pki_csr_read(const uint8_t *data, size_t len, vouch_pki_csr **out)
{
    void *v = NULL;
    vouch_pki_rc rc = csr_decode(data, len, out != NULL ? &v : NULL, decode_csr);
    if (out != NULL)
        *out = v;
    return rc;
}

/* Key type and size against the template. */
static vouch_pki_rc check_key(const vouch_pki_template *t, const EVP_PKEY *key, char *why,
                              size_t why_size)
{
    char d[48], list[128];
    uint32_t bit = 0;

    vouch_pki_key_describe(key, d, sizeof d);
    if (strcmp(d, "ec-p256") == 0)
        bit = VOUCH_PKI_KT_EC_P256;
    else if (strcmp(d, "ec-p384") == 0)
        bit = VOUCH_PKI_KT_EC_P384;
    else if (strcmp(d, "ed25519") == 0)
        bit = VOUCH_PKI_KT_ED25519;
    else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
             (uint32_t)EVP_PKEY_get_bits(key) >= t->rsa_min_bits)
        bit = VOUCH_PKI_KT_RSA;
    if (bit != 0 && pki_ec_key_at_infinity(key)) {
        pki_why(why, why_size, "key is the point at infinity, not a public key");
        return VOUCH_PKI_E_POLICY;
    }
    if (bit != 0 && (t->key_types & bit))
        return VOUCH_PKI_OK;
    mask_list(kt_names, t->key_types & ~VOUCH_PKI_KT_RSA, list, sizeof list);
    if (t->key_types & VOUCH_PKI_KT_RSA) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%srsa>=%u", n ? ", " : "", t->rsa_min_bits);
    }
    pki_why(why, why_size, "key type %s not allowed by template %s (allowed: %s)", d, t->name,
            list);
    return VOUCH_PKI_E_POLICY;
}

static uint32_t rdn_bit(int nid)
{
    switch (nid) {
    case NID_commonName: return VOUCH_PKI_RDN_CN;
    case NID_organizationName: return VOUCH_PKI_RDN_O;
    case NID_organizationalUnitName: return VOUCH_PKI_RDN_OU;
    case NID_countryName: return VOUCH_PKI_RDN_C;
    case NID_stateOrProvinceName: return VOUCH_PKI_RDN_ST;
    case NID_localityName: return VOUCH_PKI_RDN_L;
    case NID_serialNumber: return VOUCH_PKI_RDN_SERIAL;
    case NID_pkcs9_emailAddress: return VOUCH_PKI_RDN_EMAIL;
    default: return 0;
    }
}

static const char *rdn_label(uint32_t bit)
{
    const flag_name *f;
    for (f = rdn_names; f->name != NULL; f++)
        if (f->bit == bit)
            return f->name;
    return "?";
}

/* 1 if value matches the pattern (or there is none). */
static int pattern_match(const char *pat, const char *value)
{
    regex_t re;
    int used, ok;
    const regex_t *cached;

    if (strnlen(pat, VOUCH_PKI_TPL_PATTERN_MAX) == 0)
        return 1;
    if ((cached = pattern_cached(pat)) != NULL)
        return regexec(cached, value, 0, NULL, 0) == 0;
    if (pattern_compile(pat, &re, &used) != 0)
        return 0;
    if (!used)
        return 1;
    ok = regexec(&re, value, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* One subject attribute: allowed, once, single-valued RDN, sane value. */
static vouch_pki_rc check_rdn(const vouch_pki_template *t, const X509_NAME_ENTRY *e,
                              uint32_t *seen, int *last_set, char *why, size_t why_size)
{
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    uint32_t bit = rdn_bit(nid);
    unsigned char *utf8 = NULL;
    int n;
    vouch_pki_rc rc = VOUCH_PKI_E_POLICY;

    if (bit == 0 || !(t->subject_allowed & bit)) {
        char obj[64];
        /* short names ("C", "DC") as people write them in subjects */
        if (nid != NID_undef)
            snprintf(obj, sizeof obj, "%s", OBJ_nid2sn(nid));
        else
            OBJ_obj2txt(obj, sizeof obj, X509_NAME_ENTRY_get_object(e), 1);
        pki_why(why, why_size, "subject attribute %s not allowed by template %s", obj, t->name);
        return VOUCH_PKI_E_POLICY;
    }
    if (*seen & bit) {
        pki_why(why, why_size, "subject attribute %s appears more than once", rdn_label(bit));
        return VOUCH_PKI_E_POLICY;
    }
    /* a multi-valued RDN shares its set number with the previous entry */
    if (X509_NAME_ENTRY_set(e) == *last_set) {
        pki_why(why, why_size, "multi-valued RDNs are not allowed");
        return VOUCH_PKI_E_POLICY;
    }
    *last_set = X509_NAME_ENTRY_set(e);
    *seen |= bit;
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n <= 0 || n > RDN_VALUE_MAX || strlen((char *)utf8) != (size_t)n) {
        pki_why(why, why_size, "subject attribute %s is empty, longer than %d bytes or has a NUL",
                rdn_label(bit), RDN_VALUE_MAX);
        goto exit;
    }
    if (bit == VOUCH_PKI_RDN_CN && !pattern_match(t->cn_pattern, (char *)utf8)) {
        pki_why(why, why_size, "CN \"%.64s\" does not match the pattern of template %s (%s)",
                (char *)utf8, t->name, t->cn_pattern);
        goto exit;
    }
    rc = VOUCH_PKI_OK;
exit:
    OPENSSL_free(utf8);
    return rc;
}

static vouch_pki_rc check_subject(const vouch_pki_template *t, const X509_NAME *name, char *why,
                                  size_t why_size)
{
    uint32_t seen = 0, missing;
    int i, last_set = -1;
    vouch_pki_rc rc;

    for (i = 0; i < X509_NAME_entry_count(name); i++) {
        rc = check_rdn(t, X509_NAME_get_entry(name, i), &seen, &last_set, why, why_size);
        if (rc != VOUCH_PKI_OK)
            return rc;
    }
    missing = t->subject_required & ~seen;
    if (missing != 0) {
        char list[128];
        mask_list(rdn_names, missing, list, sizeof list);
        pki_why(why, why_size, "subject attribute %s required by template %s", list, t->name);
        return VOUCH_PKI_E_POLICY;
    }
    return VOUCH_PKI_OK;
}

static const char *gen_label(int type)
{
    switch (type) {
    case GEN_DNS: return "dns";
    case GEN_IPADD: return "ip";
    case GEN_URI: return "uri";
    case GEN_EMAIL: return "email";
    case GEN_OTHERNAME: return "othername";
    case GEN_DIRNAME: return "dirname";
    case GEN_RID: return "rid";
    default: return "x400/edi";
    }
}

/* One SAN entry: type allowed, value sane and matching. */
static vouch_pki_rc check_gen(const vouch_pki_template *t, const GENERAL_NAME *g, char *why,
                              size_t why_size)
{
    uint32_t bit = 0;
    const ASN1_STRING *s = NULL;
    int type;
    const void *v = GENERAL_NAME_get0_value(g, &type);
    char value[SAN_VALUE_MAX + 1];
    int n;

    switch (type) {
    case GEN_DNS: bit = VOUCH_PKI_SAN_DNS; s = v; break;
    case GEN_URI: bit = VOUCH_PKI_SAN_URI; s = v; break;
    case GEN_EMAIL: bit = VOUCH_PKI_SAN_EMAIL; s = v; break;
    case GEN_IPADD: bit = VOUCH_PKI_SAN_IP; break;
    }
    if (bit == 0 || !(t->san_allowed & bit)) {
        pki_why(why, why_size, "SAN type %s not allowed by template %s", gen_label(type), t->name);
        return VOUCH_PKI_E_POLICY;
    }
    if (type == GEN_IPADD) {
        n = ASN1_STRING_length(v);
        if (n != 4 && n != 16) {
            pki_why(why, why_size, "SAN IP address of %d bytes", n);
            return VOUCH_PKI_E_POLICY;
        }
        return VOUCH_PKI_OK;
    }
    n = ASN1_STRING_length(s);
    if (n <= 0 || n > SAN_VALUE_MAX || memchr(ASN1_STRING_get0_data(s), 0, (size_t)n) != NULL) {
        pki_why(why, why_size, "SAN %s value empty, longer than %d bytes or has a NUL",
                gen_label(type), SAN_VALUE_MAX);
        return VOUCH_PKI_E_POLICY;
    }
    memcpy(value, ASN1_STRING_get0_data(s), (size_t)n);
    value[n] = '\0';
    if (!pattern_match(t->san_pattern, value)) {
        pki_why(why, why_size, "SAN %s \"%.64s\" does not match the pattern of template %s",
                gen_label(type), value, t->name);
        return VOUCH_PKI_E_POLICY;
    }
    return VOUCH_PKI_OK;
}

vouch_pki_rc pki_check_san(const vouch_pki_template *t, const GENERAL_NAMES *gens, char *why,
                           size_t why_size)
{
    int i, n = sk_GENERAL_NAME_num(gens);
    vouch_pki_rc rc;

    if (n <= 0)
        return VOUCH_PKI_OK;
    if (t->san_allowed == 0) {
        pki_why(why, why_size, "subjectAltName not allowed by template %s", t->name);
        return VOUCH_PKI_E_POLICY;
    }
    if ((uint32_t)n > t->san_max) {
        pki_why(why, why_size, "%d SAN entries, template %s allows at most %u", n, t->name,
                t->san_max);
        return VOUCH_PKI_E_POLICY;
    }
    for (i = 0; i < n; i++) {
        rc = check_gen(t, sk_GENERAL_NAME_value(gens, i), why, why_size);
        if (rc != VOUCH_PKI_OK)
            return rc;
    }
    return VOUCH_PKI_OK;
}

vouch_pki_rc pki_csr_san(vouch_pki_csr *csr, GENERAL_NAMES **out, char *why, size_t why_size)
{
    int bad = 0;
    STACK_OF(X509_EXTENSION) *exts = pki_csr_exts(csr, &bad);
    int idx, crit = 0;

    *out = NULL;
    if (bad) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        pki_why(why, why_size, "CSR extension request does not decode");
        return VOUCH_PKI_E_POLICY;
    }
    if (exts == NULL)
        return VOUCH_PKI_OK;
    idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    if (idx >= 0 && X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) >= 0) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        pki_why(why, why_size, "CSR requests subjectAltName twice");
        return VOUCH_PKI_E_POLICY;
    }
    if (idx >= 0) {
        *out = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
        if (*out == NULL) {
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            ERR_clear_error();
            pki_why(why, why_size, "CSR subjectAltName does not decode");
            return VOUCH_PKI_E_POLICY;
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return VOUCH_PKI_OK;
}

vouch_pki_rc pki_check_key_subject(const vouch_pki_template *t, const EVP_PKEY *key,
                                   const X509_NAME *name, char *why, size_t why_size)
{
    vouch_pki_rc rc = check_key(t, key, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    return check_subject(t, name, why, why_size);
}

vouch_pki_rc vouch_pki_csr_check(const vouch_pki_template *t, vouch_pki_csr *csr, char *why,
                                 size_t why_size)
{
    EVP_PKEY *key;
    GENERAL_NAMES *san = NULL;
    vouch_pki_rc rc;

    if (t == NULL || csr == NULL) {
        pki_why(why, why_size, "no template or no CSR");
        return VOUCH_PKI_E_ARG;
    }
    rc = vouch_pki_template_validate(t, why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    key = pki_csr_key(csr);
    if (key == NULL) {
        ERR_clear_error();
        pki_why(why, why_size, "CSR public key does not decode");
        return VOUCH_PKI_E_PARSE;
    }
    /* proof of possession comes before any policy: an unsigned request is
     * not worth judging */
    if (pki_csr_verify(csr) != 1) {
        ERR_clear_error();
        pki_why(why, why_size, "CSR signature does not verify");
        return VOUCH_PKI_E_SIGNATURE;
    }
    rc = pki_check_key_subject(t, key, vouch_pki_csr_subject(csr), why, why_size);
    if (rc != VOUCH_PKI_OK)
        return rc;
    rc = pki_csr_san(csr, &san, why, why_size);
    if (rc == VOUCH_PKI_OK)
        rc = pki_check_san(t, san, why, why_size);
    GENERAL_NAMES_free(san);
    return rc;
}

vouch_pki_rc vouch_pki_check_csr(const vouch_pki_template *t, X509_REQ *csr, char *why,
                                 size_t why_size)
{
    vouch_pki_csr *c = csr != NULL ? pki_csr_wrap(csr) : NULL;
    if (csr != NULL && c == NULL)
        return VOUCH_PKI_E_NOMEM;
    vouch_pki_rc rc = vouch_pki_csr_check(t, c, why, why_size);
    vouch_pki_csr_free(c);
    return rc;
}
