/*
 * The vouch command-line tool: helpers shared by every command group.
 *
 * Conventions: functions that can fail print their own "vouch: ..." message
 * to stderr and return the process exit status (CLI_OK when they succeed), so
 * a caller just propagates a non-zero value. Buffers that held secrets are
 * released with cli_free_secret().
 */
#ifndef VOUCH_CLI_H
#define VOUCH_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vouch/se.h>

/* Exit statuses, the same for every group (docs/cli.md). */
enum {
    CLI_OK = 0,
    CLI_INVALID = 1, /* a verification said "invalid" */
    CLI_USAGE = 2,   /* unknown command/option, missing or bad argument */
    CLI_SE = 3,      /* the secure element refused */
    CLI_COMM = 4,    /* bus, frame or secure channel failure */
    CLI_FILE = 5,    /* a local file unreadable, unwritable or unparsable */
    CLI_HELP = -1    /* internal: --help was asked for and printed */
};

/* A command group: `vouch <name> ...`. argv[0] is the group name. */
typedef struct cli_group {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
} cli_group;

int cmd_se_main(int argc, char **argv);
int cmd_ca_main(int argc, char **argv);
int cmd_audit_main(int argc, char **argv);
int cmd_fw_main(int argc, char **argv);

/* ---- messages ------------------------------------------------------------ */
/* "vouch: <fmt>\n" on stderr; returns `code`. */
int cli_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "vouch: <cmd>: <fmt>\nTry 'vouch <cmd> --help'.\n"; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Man-page style help. `synopsis` lines follow "vouch <cmd>"; `body` holds the
 * DESCRIPTION and OPTIONS sections; `extra` is printed before EXIT STATUS (the
 * group's common options); `invalid_exit` adds status 1 to the list. */
typedef struct cli_help {
    const char *cmd;      /* "se sign" */
    const char *summary;  /* one line, lowercase */
    const char *synopsis; /* "vouch se ... sign --slot N ..." lines */
    const char *body;
    const char *example;
    int invalid_exit;
} cli_help;
void cli_print_help(const cli_help *h, const char *extra);
/* The same with the group's own EXIT STATUS section (`status`: its lines,
 * indented) instead of the secure element's. */
void cli_print_help_status(const cli_help *h, const char *extra, const char *status);

/* ---- options --------------------------------------------------------------
 * Long options only ("--name value" or "--name=value"), plus -h for --help.
 * "--" ends the options. A table ends with a NULL name; `arg` is the value's
 * placeholder for the error messages, NULL for a flag. */
typedef struct cli_opt {
    const char *name;
    const char *arg;
    const char *val; /* value, or "" for a flag that was given */
    int seen;
} cli_opt;

/* Parses argv against `a` and then `b` (either may be NULL). With `stop`,
 * parsing ends at the first non-option and *used says how many arguments
 * were consumed; otherwise non-options are collected into pos (at most
 * maxpos). Returns CLI_OK, CLI_HELP or CLI_USAGE (message printed). */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt *a, cli_opt *b, int stop,
              int *used, char **pos, int maxpos, int *npos);
cli_opt *cli_find(cli_opt *t, const char *name);
/* Value of option `name` in table t, or NULL when it was not given. */
const char *cli_val(cli_opt *t, const char *name);

/* Decimal or 0x hex, no sign, no spaces, within [min, max]. */
int cli_num(const char *cmd, const char *what, const char *s, uint64_t min, uint64_t max,
            uint64_t *out);

/* ---- files ("-" is stdin / stdout) ---------------------------------------- */
/* Reads the whole file into a fresh buffer (NUL-terminated for convenience,
 * not counted in *len). Fails with CLI_FILE above `max` bytes: every input
 * has a limit, so a wrong path (a device, a huge log) cannot exhaust memory. */
int cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len);
/* Writes a whole file; `secret` makes it mode 0600. */
int cli_write_file(const char *path, const void *buf, size_t len, int secret);
/* Hashes a file of any size and keeps its first `keep` bytes in head; *total
 * is the file size. */
int cli_load_message(const char *path, uint8_t digest[32], uint8_t *head, size_t keep,
                     size_t *total);
void cli_free_secret(void *buf, size_t len);

/* ---- hex ------------------------------------------------------------------ */
/* Prints lowercase hex; `per_line` > 0 breaks lines, the last ends with \n. */
void cli_hex(FILE *f, const uint8_t *b, size_t n, size_t per_line);
/* Decodes exactly 2*n hex digits; 0 or -1. */
int cli_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

/* ---- JSON on stdout --------------------------------------------------------
 * Nested objects and arrays with comma bookkeeping; keys are NULL inside
 * arrays. The outermost close prints a newline. */
void cj_open(const char *key);  /* { */
void cj_close(void);            /* } */
void cj_array(const char *key); /* [ */
void cj_end(void);              /* ] */
void cj_str(const char *key, const char *s);
void cj_strn(const char *key, const char *s, size_t n);
void cj_num(const char *key, uint64_t v);
void cj_bool(const char *key, int v);
void cj_hex(const char *key, const uint8_t *b, size_t n);

/* ---- keys and signatures (OpenSSL) ----------------------------------------- */
/* SubjectPublicKeyInfo PEM of a raw public key (enum vouch_se_alg: P-256
 * 04|X|Y, Ed25519 or X25519 32 bytes). Returns a malloc'd string or NULL. */
char *cli_pub_to_pem(uint8_t alg, const uint8_t *pub, size_t len);
/* A P-256 public key (65 bytes, 04|X|Y) as an EVP_PKEY; NULL if invalid. */
struct evp_pkey_st *cli_p256_pub(const uint8_t *pub, size_t len);
/* Loads a PEM public key (P-256, Ed25519 or X25519) into its raw form. */
int cli_pem_to_pub(const char *path, uint8_t *alg, uint8_t pub[65], size_t *len);
/* r|s <-> DER ECDSA-Sig-Value. to_der returns a malloc'd buffer or NULL;
 * from_der returns 0, or -1 when the DER is malformed or not P-256 sized. */
uint8_t *cli_sig_to_der(const uint8_t rs[64], size_t *len);
int cli_sig_from_der(const uint8_t *der, size_t len, uint8_t rs[64]);


/* ---- secure elements -------------------------------------------------------- */
/* Host keys: 32 raw bytes, or 64 hex digits with optional surrounding
 * whitespace, from a file; with from_env the value itself may be the hex. */
int cli_load_host_keys(const char *spec, int from_env, uint8_t keys[32]);

/* A connection to a secure element for commands outside `vouch se`. */
typedef struct cli_se_conn {
    vouch_se se;
    vouch_transport_any ts;
    unsigned flags; /* VOUCH_SECURE once host keys are in use */
    int open;
} cli_se_conn;
/* Connects to `uri` (unix:/path or i2c:...), with the host secure channel
 * when host_keys names a file. Messages name `cmd`. */
int cli_se_connect(const char *cmd, const char *uri, const char *host_keys, cli_se_conn *c);
void cli_se_disconnect(cli_se_conn *c);

#endif
