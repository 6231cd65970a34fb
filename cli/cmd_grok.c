/* fpflow grok: not built yet (its issue is open). */
#include "cli.h"

int fpf_cmd_grok(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fpf_cli_error("'grok' is not available in this version");
  return FPF_EXIT_FAIL;
}
