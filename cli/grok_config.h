/*
 * The configuration of `fpflow grok`: an INI file (read with inih),
 * `--set key=value` overrides and the resolved file written beside the
 * results.  One table lists every key with its section, type, default
 * and meaning; parsing, messages, --help and the resolved file all come
 * from it.
 */
#ifndef FPF_CLI_GROK_CONFIG_H
#define FPF_CLI_GROK_CONFIG_H

#include <stdio.h>

#include "fpflow/grok.h"
#include "fpflow/status.h"

#define FPF_GROK_CFG_STR 256
#define FPF_GROK_MAX_SEEDS 64

/* Which arms each seed runs: without resets, with them, or both. */
typedef enum { FPF_ARMS_OFF = 0, FPF_ARMS_ON = 1, FPF_ARMS_BOTH = 2 }
    fpf_grok_arms;

typedef struct fpf_grok_config {
  fpf_grok_options g;      /* g.model.seed is set per run from seeds */
  long steps;              /* optimiser steps per run */
  char seeds[FPF_GROK_CFG_STR]; /* "1,2,3" */
  fpf_grok_arms arms;
  double grok_accuracy;    /* test accuracy that counts as grokked */
  long extra_steps;        /* steps kept after grokking; -1: all steps */
  long threads;
  int figure;
} fpf_grok_config;

/* The built-in default (see docs/grokking.md for why these values). */
void fpf_grok_config_defaults(fpf_grok_config *c);

/* Reads an INI file over c; errors name the file, line and key. */
fpf_status fpf_grok_config_load(fpf_grok_config *c, const char *path,
                                fpf_error *err);

/* Applies "key=value" or "section.key=value". */
fpf_status fpf_grok_config_set(fpf_grok_config *c, const char *assignment,
                               fpf_error *err);

/* Cross-field checks; fills seeds (capacity FPF_GROK_MAX_SEEDS). */
fpf_status fpf_grok_config_check(const fpf_grok_config *c,
                                 unsigned long long *seeds, int *nseeds,
                                 fpf_error *err);

/* Writes every key with its value and meaning, as INI. */
void fpf_grok_config_write(const fpf_grok_config *c, FILE *f);

/* Lists the keys with defaults and meanings (for --help). */
void fpf_grok_config_help(FILE *f);

#endif
