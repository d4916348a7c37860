/* vouch: the command-line tool. Dispatches to one command group per file
 * (cmd_<group>.c); a new group is one line in `groups`. */
#include "cli/cli.h"
#include "cli/remote.h"

#include <string.h>

#ifndef VOUCH_VERSION
#define VOUCH_VERSION "unknown"
#endif

static const cli_group groups[] = {
    {"se", "talk to a secure element: keys, signatures, zones, counters, lifecycle",
     cmd_se_main},
    {"ca", "run the certificate authority: init, add-issuer, list, export", cmd_ca_route},
    {"cert", "issue, get, list, revoke, renew and rekey certificates through vouchd",
     cmd_cert_main},
    {"crl", "fetch an issuer's certificate revocation list from vouchd", cmd_crl_main},
    {"template", "list, read and store certificate templates on vouchd", cmd_template_main},
    {"audit", "check the CA's hash-chained audit log", cmd_audit_main},
    {"account", "create and list cloud accounts (tenants) on vouchd", cmd_account_main},
    {"device", "enroll, list, disable, block and authenticate devices", cmd_device_main},
    {"family", "enroll device families (CA certificates) with proof of possession",
     cmd_family_main},
    {"fw", "firmware: sign, verify and inspect images; SE firmware keys; releases, campaigns",
     cmd_fw_main},
    {"provision", "personalize secure elements in batches: key, certificate, lock",
     cmd_provision_main},
};
#define N_GROUPS (sizeof groups / sizeof groups[0])

static void usage(FILE *f)
{
    fprintf(f, "NAME\n    vouch - hardware-rooted device identity\n\n"
               "SYNOPSIS\n    vouch [--help] [--version] <group> ...\n\n"
               "DESCRIPTION\n    Command groups:\n");
    for (size_t i = 0; i < N_GROUPS; i++)
        fprintf(f, "        %-10s %s\n", groups[i].name, groups[i].summary);
    fprintf(f, "\n    'vouch <group> --help' lists a group's commands,\n"
               "    'vouch <group> <command> --help' describes one.\n\n"
               "OPTIONS\n    --help, -h   print this help and exit\n"
               "    --version    print the version and exit\n\n"
               "EXIT STATUS\n    0 success, 1 signature invalid or audit chain broken, 2 usage "
               "error,\n    3 refused (by the secure element, the CA or the server), 4 "
               "communication\n    failure, 5 local file error (docs/cli.md).\n\n"
               "EXAMPLE\n    vouch se --se unix:/run/vouch-se.sock info\n");
}

int main(int argc, char **argv)
{
    cli_opt opts[] = {{"version", NULL, NULL, 0}, {NULL, NULL, NULL, 0}};
    int used = 0, ret = cli_parse("", argc - 1, argv + 1, opts, NULL, 1, &used, NULL, 0, NULL);
    if (ret == CLI_HELP) {
        usage(stdout);
        return CLI_OK;
    }
    if (ret)
        return ret;
    if (opts[0].seen) {
        printf("vouch %s\n", VOUCH_VERSION);
        return CLI_OK;
    }
    if (used + 1 >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[used + 1];
    for (size_t i = 0; i < N_GROUPS; i++)
        if (strcmp(name, groups[i].name) == 0)
            return groups[i].main(argc - used - 1, argv + used + 1);
    return cli_err(CLI_USAGE, "unknown command group '%s'\nTry 'vouch --help'.", name);
}
