/* fpflow w2: not built yet (its issue is open). */
#include "cli.h"

int fpf_cmd_w2(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fpf_cli_error("'w2' is not available in this version");
  return FPF_EXIT_FAIL;
}
