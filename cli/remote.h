/*
 * The server-backed command groups of the vouch command line (vouch cert,
 * crl, template, and `ca list` with a server): the group options (--server,
 * --token-file, --cacert, --timeout, --json), the token, the HTTP client,
 * API error reporting and exit statuses, serial numbers, names and output
 * shared by cmd_cert.c, cmd_crl.c and cmd_template.c. docs/cli.md describes
 * them; docs/api.md is the server's contract.
 *
 * Exit statuses (docs/cli.md, "Server-backed commands"):
 *   0 success
 *   2 usage: bad option or argument (serial, reason, duration, name), no
 *     server configured, no token, a token that is not one
 *   3 refused: the server answered with an API error: 400 bad request or
 *     bad CSR, 401 bad token, 404 no such certificate, issuer or template,
 *     405, 409 already revoked / not renewable, 413, 422 template violation
 *     or subject mismatch, 501; also "no certificate with serial X"
 *   4 communication: cannot connect, TLS handshake or certificate check
 *     failed, timeout, an answer that is not HTTP or not the JSON/PEM/DER
 *     expected, over the size limit, a redirect, 5xx (500, 503) errors
 *   5 local file: CSR, token, CA or template file missing, unreadable,
 *     unparsable or (token) readable by others; an output file unwritable
 */
#ifndef VOUCH_CLI_REMOTE_H
#define VOUCH_CLI_REMOTE_H

#include <jansson.h>

#include "cli/cli.h"
#include "cli/http_client.h"

#define CLI_REFUSED CLI_SE /* 3: for these groups, the server refused */

#define SERIAL_HEX_MAX 40  /* 20 bytes, RFC 5280's limit */
#define NAME_MAX_LEN 64    /* issuer and template names */
#define TOKEN_MAX 256      /* the server's limit */
#define TOKEN_FILE_MAX 4096

/* The group entry points (cli/main.c). */
int cmd_cert_main(int argc, char **argv);
int cmd_crl_main(int argc, char **argv);
int cmd_template_main(int argc, char **argv);
/* `vouch ca ...`: `ca list` goes to the server when one is configured
 * (--server, or $VOUCH_SERVER without --data); everything else to the
 * offline cmd_ca_main. */
int cmd_ca_route(int argc, char **argv);
/* `vouch provision`: factory personalization of SEs through vouchd
 * (cmd_provision.c, docs/provisioning.md). */
int cmd_provision_main(int argc, char **argv);

/* `vouch account`, `vouch device`, `vouch family` (cmd_fleet.c). */
int cmd_account_main(int argc, char **argv);
int cmd_device_main(int argc, char **argv);
int cmd_family_main(int argc, char **argv);

/* `vouch fw key|release|campaign` (cmd_fw_remote.c), called by the `vouch
 * fw` router with argv[0] "key", "release" or "campaign". */
int cmd_fw_key_main(int argc, char **argv);
int cmd_fw_release_main(int argc, char **argv);
int cmd_fw_campaign_main(int argc, char **argv);
/* vouch fw key|release|campaign (cmd_fw_remote.c), argv[0] the subgroup */
int cmd_fw_key_main(int argc, char **argv);
int cmd_fw_release_main(int argc, char **argv);
int cmd_fw_campaign_main(int argc, char **argv);

/* ---- command tables -------------------------------------------------------- */
#define REMOTE_NO_TOKEN 1u /* public endpoint (/crl/, /ca/): no token needed or sent */

typedef struct remote_cmd {
    const char *name;
    int (*run)(char **pos, int npos);
    cli_opt *opts;
    const char *arg; /* the positional argument ("SERIAL"), NULL: none */
    unsigned flags;
    cli_help help;
} remote_cmd;

typedef struct remote_group {
    const char *name;    /* "cert" */
    const char *summary; /* one line */
    const char *description;
    const char *example;
    const remote_cmd *cmds;
    size_t n;
} remote_group;

/* Parses the group and command options and runs the command. */
int remote_run_group(const remote_group *grp, int argc, char **argv);

/* The running command. */
extern struct remote_state {
    char cmd[48];          /* "cert get", for messages */
    const remote_cmd *c;
    cli_opt *opts;         /* the command's options */
    int json;
    vouch_http *http;      /* after remote_open */
    const char *url;       /* after remote_open: the server URL, */
    const char *cacert;    /* the CA file (NULL: http, or the system's), */
    unsigned timeout;      /* and the deadline, for commands with their own client */
} R;

/* The group options' help text (GROUP OPTIONS, ENVIRONMENT). */
extern const char remote_group_opts[];
/* EXIT STATUS lines. */
extern const char remote_status_text[];

/* Value of the command's option, or NULL. */
const char *ropt(const char *name);
/* Like ropt, and a usage error when it is missing or empty. */
int rneed(const char *name, const char **v);

/* Resolves the server URL, the token (unless the command is REMOTE_NO_TOKEN)
 * and the CA file, and makes the HTTP client. Commands call it after their
 * own options are checked and their input files read. */
int remote_open(void);

/* The API token from `token_file` (may be NULL), else $VOUCH_TOKEN, else
 * $VOUCH_TOKEN_FILE, checked as for --token-file (ownership, permissions,
 * one printable line). *tok is malloc'd; release it with
 * cli_free_secret(*tok, *len). Messages name R.cmd. */
int remote_load_token(const char *token_file, char **tok, size_t *len);

/* ---- requests ---------------------------------------------------------------- */
/* A JSON request (body may be NULL: no body) whose answer must be JSON.
 * A 2xx answer: *out is the parsed object (caller frees), *status its code.
 * Anything else is reported (the API's message, a hint) and its exit status
 * returned. `what` names the action for messages ("issue a certificate"). */
int remote_json(const char *method, const char *path, json_t *body, const char *what,
                int *status, json_t **out);
/* A GET whose 2xx answer is returned as bytes (PEM, DER). */
/* "/v1/accounts/<account><suffix>", malloc'd (NULL: out of memory). */
char *remote_apath(const char *account, const char *suffix);
/* remote_json for method `path` (freed here, NULL reports out of memory)
 * with a JSON body (consumed, may be NULL); the 2xx answer in *ans. */
int remote_call(const char *method, char *path, json_t *body, const char *what, json_t **ans);
int remote_get_raw(const char *path, const char *what, vouch_http_response *rsp);

/* ---- values --------------------------------------------------------------------- */
/* A serial as `openssl x509 -serial` prints it, with "serial=" and colons
 * accepted: out is upper-case hex without colons. Usage error otherwise. */
int parse_serial(const char *in, char out[SERIAL_HEX_MAX + 1]);
/* An issuer or template name: [A-Za-z0-9._-]{1,max}. Usage error otherwise. */
int check_name(const char *what, const char *s, size_t max);
/* The issuer of SERIAL: `issuer` when given (checked), else the server is
 * asked (GET /v1/certificates?serial=): none is status 3, several a usage
 * error (give --issuer). */
int resolve_issuer(const char *serial, const char *issuer, char out[NAME_MAX_LEN + 1]);
/* "/v1/certificates/<issuer>/<serial><suffix>", malloc'd (NULL: no memory). */
char *cert_path(const char *issuer, const char *serial, const char *suffix);

/* ---- JSON and output ------------------------------------------------------------ */
/* Member `key` of o as a string, or "" (never NULL). */
const char *jstr(json_t *o, const char *key);
/* Prints j as one compact JSON line on stdout. */
void print_json(json_t *j);
/* Prints server-provided text with control characters as \xNN, so that a
 * certificate's subject cannot drive the terminal. */
void print_safe(FILE *f, const char *s);
/* Writes the issuance answer (issue, renew, rekey): the certificate to
 * `out` (or stdout), the chain to `chain_out`; prints a summary when the
 * certificate went to a file, the whole answer with --json. Checks that
 * the PEM parses. */
int write_issued(json_t *ans, const char *out, const char *chain_out);
/* Loads a PKCS#10 CSR (PEM or DER), checks its self-signature, and returns
 * it as PEM (malloc'd). Local file error (5) otherwise. */
int load_csr(const char *path, char **pem);
/* 1 when s holds one or more PEM certificates and no broken PEM block:
 * *clean (malloc'd, NUL-terminated, *clean_len bytes) is them re-encoded,
 * without whatever text was around them; *count (may be NULL) their
 * number. 0 otherwise. */
int remote_pem_certs(const char *s, size_t len, char **clean, size_t *clean_len, int *count);
/* Status 4 for an answer that is not what the API promises. */
int bad_answer(const char *what, const char *why);

#endif
