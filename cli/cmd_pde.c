/* fpflow pde: not built yet (its issue is open). */
#include "cli.h"

int fpf_cmd_pde(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fpf_cli_error("'pde' is not available in this version");
  return FPF_EXIT_FAIL;
}
