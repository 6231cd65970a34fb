/*
 * The configuration of `fpflow pde`: an INI file (read with inih),
 * `--set key=value` overrides and the resolved file each run writes.
 * One table lists every key with its section, type, default and
 * meaning; parsing, messages, --help and the resolved file come from it.
 */
#ifndef FPF_CLI_PDE_CONFIG_H
#define FPF_CLI_PDE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "fpflow/landscape.h"
#include "fpflow/pde.h"
#include "fpflow/status.h"

#define FPF_PDE_CFG_STR 256
#define FPF_PDE_MAX_TIMES 256

typedef struct fpf_pde_config {
  fpf_pde_options pde; /* box, cells, dt, scheme and the model */
  long d;              /* 1 or 2 */
  double t_end;
  char times[FPF_PDE_CFG_STR]; /* output times as written ("" = 5) */
  long threads;
  int figure;
  char init[FPF_PDE_CFG_STR]; /* gaussian | point | gibbs | particles.npy */
  double init_mean[2], init_std[2];
  char landscape[FPF_PDE_CFG_STR];
  double quad_curvature, quad_center;
  long mixture_k;
  double mixture_radius, mixture_width;
  double rosen_a, rosen_b;
  long decoder_hidden, decoder_dx;
  uint64_t seed;
  /* Resolved by fpf_pde_config_check: the output times, ascending, the
     last one t_end. */
  double out[FPF_PDE_MAX_TIMES];
  size_t nout;
} fpf_pde_config;

/* The built-in default: the two wells of the quick start on a 120 x 120
   grid over [-6, 6]^2, from N(0, I), to t = 1. */
void fpf_pde_config_defaults(fpf_pde_config *c);

/* Reads an INI file over c; errors name the file, line and key. */
fpf_status fpf_pde_config_load(fpf_pde_config *c, const char *path,
                               fpf_error *err);

/* Applies "key=value" or "section.key=value". */
fpf_status fpf_pde_config_set(fpf_pde_config *c, const char *assignment,
                              fpf_error *err);

/* Cross-field checks; fills out and nout. */
fpf_status fpf_pde_config_check(fpf_pde_config *c, fpf_error *err);

/* The landscape the configuration names (d = c->d). */
fpf_status fpf_pde_config_landscape(const fpf_pde_config *c,
                                    fpf_landscape **L, fpf_error *err);

/* Writes every key with its value and meaning, as INI. */
void fpf_pde_config_write(const fpf_pde_config *c, FILE *f);

/* Lists the keys with defaults and meanings (for --help). */
void fpf_pde_config_help(FILE *f);

#endif
