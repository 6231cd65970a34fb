/* fpflow: the command line's entry point and sub-command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fpflow/status.h"

typedef struct command {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;
} command;

static const command commands[] = {
    {"run", fpf_cmd_run, "evolve a particle ensemble (default: quick start)"},
    {"density", fpf_cmd_density, "log density and score of an ensemble (KDE)"},
    {"detect", fpf_cmd_detect, "find phase transitions in a metrics.csv"},
    {"w2", fpf_cmd_w2, "Wasserstein-2 distance between two ensembles"},
    {"pde", fpf_cmd_pde, "grid Fokker-Planck solver in 1-2 dimensions"},
    {"verify", fpf_cmd_verify,
     "checks against exact answers and the source's theorems"},
    {"analyze", fpf_cmd_analyze, "flow observables of training snapshots"},
    {"grok", fpf_cmd_grok, "grokking on modular addition, trained in C"},
    {"bench", fpf_cmd_bench, "time one full step against NumPy and PyTorch"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow COMMAND [OPTIONS]\n\n"
          "fpflow integrates Fokker-Planck particle dynamics of learning\n"
          "and measures the flow (consolidation ratio, flux, entropy).\n\n"
          "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n'fpflow COMMAND --help' describes each command.\n"
          "'fpflow --version' prints the version.\n");
}

/*
 * fpflow calls OpenBLAS on one thread and shares the work out itself.
 * OpenBLAS starts its own thread pool when it is loaded, before main, and
 * an idle worker of that pool slows fpflow's threads: a 1000-step run
 * at 500 x 2 took 15% longer, and a forked bench child at 500 x 2 took
 * 8 ms a step instead of 0.3 ms in half the runs (measured here).  So
 * the program starts again with OPENBLAS_NUM_THREADS=1; if that fails it
 * goes on as it is.
 */
static void without_blas_pool(char **argv) {
  const char *v = getenv("OPENBLAS_NUM_THREADS");
  if (v && !strcmp(v, "1")) return;
  if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
  without_blas_pool(argv);
  if (argc < 2) {
    usage(stderr);
    return FPF_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return FPF_EXIT_OK;
  }
  if (!strcmp(name, "--version")) {
    printf("fpflow %s\n", fpf_version());
    return FPF_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(name, commands[i].name))
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "fpflow: unknown command '%s'\n\n", name);
  usage(stderr);
  return FPF_EXIT_USAGE;
}
