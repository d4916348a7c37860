/* vouch fw key|release|campaign: vouchd's firmware API (being written). */
#include "cli/cli.h"
int cmd_fw_key_main(int argc, char **argv) { return cli_err(CLI_USAGE, "fw key: not built yet"); }
int cmd_fw_release_main(int argc, char **argv) { return cli_err(CLI_USAGE, "fw release: not built yet"); }
int cmd_fw_campaign_main(int argc, char **argv) { return cli_err(CLI_USAGE, "fw campaign: not built yet"); }
