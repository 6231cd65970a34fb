/*
 * The run configuration: an INI file (read with inih), `--set key=value`
 * overrides, and the resolved file every run writes beside its results.
 * One table lists every key with its section, type, default and meaning;
 * parsing, validation messages, --help and the resolved file all come
 * from it.
 */
#ifndef FPF_CLI_CONFIG_H
#define FPF_CLI_CONFIG_H

#include <stdio.h>

#include "fpflow/detect.h"
#include "fpflow/dyn.h"
#include "fpflow/status.h"

#define FPF_CFG_STR 256

typedef struct fpf_run_config {
  fpf_dyn_options dyn;
  fpf_detect_options det;
  long steps;
  long n, d;
  long threads;
  char init[FPF_CFG_STR]; /* "normal" or a .npy path */
  double init_mean, init_std;
  char landscape[FPF_CFG_STR];
  double quad_curvature, quad_center;
  long mixture_k;
  double mixture_radius, mixture_width;
  double rosen_a, rosen_b;
  long decoder_hidden, decoder_dx;
  char decoder_weights[FPF_CFG_STR];
  char plugin[FPF_CFG_STR], plugin_args[FPF_CFG_STR];
  int figure;
  int n_given; /* n was set explicitly (an init file must agree) */
  /* W2 and KL to the stationary law every w2_every steps (0: off) */
  long w2_every, w2_reference_n;
  char w2_method[FPF_CFG_STR];
} fpf_run_config;

/* The built-in default: the source document's quick start. */
void fpf_config_defaults(fpf_run_config *c);

/* Reads an INI file over c; errors name the file, line and key. */
fpf_status fpf_config_load(fpf_run_config *c, const char *path,
                           fpf_error *err);

/* Applies "key=value" or "section.key=value". */
fpf_status fpf_config_set(fpf_run_config *c, const char *assignment,
                          fpf_error *err);

/* Cross-field checks (ranges, landscape and dimension). */
fpf_status fpf_config_check(const fpf_run_config *c, fpf_error *err);

/* Writes every key with its value and meaning, as INI. */
void fpf_config_write(const fpf_run_config *c, FILE *f);

/* Lists the keys with defaults and meanings (for --help). */
void fpf_config_help(FILE *f);

#endif
