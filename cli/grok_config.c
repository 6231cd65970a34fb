/* The grok configuration table, its INI reader and writer (grok_config.h). */
#define _POSIX_C_SOURCE 200809L
#include "grok_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ini_table.h"

/* This table's own types. */
enum { T_ACT = FPF_INI_OWN, T_ARMS, T_BANDWIDTH };
_Static_assert(FPF_GROK_CFG_STR == FPF_INI_STR_MAX,
               "string keys: ini_table.h");

#define OFF(f) offsetof(fpf_grok_config, f)
#define MON(f) OFF(g.monitor_options.f)

static const fpf_ini_key keys[] = {
    {"run", "steps", FPF_INI_LONG, OFF(steps), "optimiser steps per run"},
    {"run", "seeds", FPF_INI_STR, OFF(seeds),
     "seeds, comma-separated; each keys the split, the initialisation "
     "and the batches"},
    {"run", "arms", T_ARMS, OFF(arms),
     "both | off | on: runs without resets, with them, or both per seed"},
    {"run", "eval_every", FPF_INI_LONG, OFF(g.eval_every),
     "k: steps between observations (losses, accuracies, monitor)"},
    {"run", "grok_accuracy", FPF_INI_DOUBLE, OFF(grok_accuracy),
     "the grokking step is the first observation with test accuracy >= "
     "this"},
    {"run", "extra_steps", FPF_INI_LONG, OFF(extra_steps),
     "steps trained after grokking before the run stops (-1: all steps)"},
    {"run", "threads", FPF_INI_LONG, OFF(threads),
     "threads for fpflow and BLAS (0: all cores)"},
    {"run", "figure", FPF_INI_BOOL, OFF(figure),
     "write figure.png for each run"},
    {"data", "p", FPF_INI_LONG, OFF(g.model.p), "modulus: learn (a + b) mod p"},
    {"data", "train_fraction", FPF_INI_DOUBLE, OFF(g.train_fraction),
     "fraction of the p^2 pairs trained on; the rest is the test set"},
    {"data", "batch_size", FPF_INI_SIZE, OFF(g.batch_size),
     "pairs per step (0: the full training set)"},
    {"model", "embed_dim", FPF_INI_SIZE, OFF(g.model.embed_dim),
     "token embedding size e"},
    {"model", "width", FPF_INI_SIZE, OFF(g.model.width),
     "units w of each hidden layer (the latent dimension)"},
    {"model", "hidden_layers", FPF_INI_INT, OFF(g.model.hidden_layers),
     "1 or 2"},
    {"model", "activation", T_ACT, OFF(g.model.activation),
     "relu | gelu | quadratic"},
    {"model", "embed_init", FPF_INI_DOUBLE, OFF(g.model.embed_init),
     "embeddings ~ N(0, embed_init^2)"},
    {"model", "init_scale", FPF_INI_DOUBLE, OFF(g.model.init_scale),
     "linear layers ~ U(-s, s), s = init_scale / sqrt(fan_in)"},
    {"optim", "lr", FPF_INI_DOUBLE, OFF(g.adamw.lr), "AdamW learning rate"},
    {"optim", "weight_decay", FPF_INI_DOUBLE, OFF(g.adamw.weight_decay),
     "decoupled: theta -= lr weight_decay theta each step"},
    {"optim", "beta1", FPF_INI_DOUBLE, OFF(g.adamw.beta1), "AdamW beta1"},
    {"optim", "beta2", FPF_INI_DOUBLE, OFF(g.adamw.beta2), "AdamW beta2"},
    {"optim", "eps", FPF_INI_DOUBLE, OFF(g.adamw.eps), "AdamW epsilon"},
    {"monitor", "monitor", FPF_INI_BOOL, OFF(g.monitor),
     "push the probe's latents to the monitor (C, C_vel, S_dot, H)"},
    {"monitor", "probe_size", FPF_INI_SIZE, OFF(g.probe_size),
     "test pairs in the fixed probe set"},
    {"monitor", "eta", FPF_INI_DOUBLE, MON(eta),
     "eta in mu = -eta (grad L + lambda g)"},
    {"monitor", "lambda", FPF_INI_DOUBLE, MON(lambda), "entropy weight lambda"},
    {"monitor", "c", FPF_INI_DOUBLE, MON(c), "c in D = c (I + gamma F)"},
    {"monitor", "gamma", FPF_INI_DOUBLE, MON(gamma), "Fisher coupling gamma"},
    {"monitor", "entropy_form", FPF_INI_FORM, MON(entropy_form),
     "source (-grad rho (1 + log rho)) | wasserstein (-grad log rho)"},
    {"monitor", "bandwidth", T_BANDWIDTH, MON(bandwidth),
     "a number h > 0, or scott | silverman | median"},
    {"monitor", "knn_k", FPF_INI_SIZE, MON(knn_k),
     "k of the Kozachenko-Leonenko entropy (0: off)"},
    {"reset", "trigger", FPF_INI_TRIGGER, OFF(g.trigger),
     "C | C_vel: the ratio compared with C_threshold"},
    {"reset", "C_threshold", FPF_INI_DOUBLE, OFF(g.C_threshold),
     "shrink and perturb when the trigger ratio falls below this"},
    {"reset", "threshold_relative", FPF_INI_BOOL, OFF(g.threshold_relative),
     "C_threshold is a fraction of the ratio's peak so far (else the "
     "ratio itself)"},
    {"reset", "alpha", FPF_INI_DOUBLE, OFF(g.reset_alpha),
     "theta <- (1 - alpha) theta + alpha theta_fresh"},
    {"reset", "warmup", FPF_INI_LONG, OFF(g.warmup),
     "no reset before this step"},
    {"reset", "cooldown", FPF_INI_LONG, OFF(g.cooldown),
     "least steps between two resets"},
    {"detect", "drop_factor", FPF_INI_DOUBLE, MON(detect.drop_factor),
     "drop: dC < -drop_factor std(dC)"},
    {"detect", "spike_factor", FPF_INI_DOUBLE, MON(detect.spike_factor),
     "spike: S_dot > mean + spike_factor std"},
    {"detect", "window", FPF_INI_LONG, MON(detect.window),
     "plateau: lag w, in observations, of |loss_t - loss_{t-w}|"},
    {"detect", "plateau_tol", FPF_INI_DOUBLE, MON(detect.plateau_tol),
     "plateau: tolerance"},
    {"detect", "plateau_relative", FPF_INI_BOOL, MON(detect.plateau_relative),
     "plateau: tolerance relative to |loss|"},
    {"detect", "tolerance", FPF_INI_LONG, MON(detect.tolerance),
     "observations of slack between the three criteria"},
    {"detect", "detect_on", FPF_INI_TRIGGER, MON(detect_on),
     "C | C_vel: the series whose drops the detector looks for"},
    {"detect", "use_log", FPF_INI_BOOL, MON(detect.use_log),
     "drop test on log C instead of C"},
};

void fpf_grok_config_defaults(fpf_grok_config *c) {
  memset(c, 0, sizeof *c);
  fpf_grok_options_init(&c->g);
  c->steps = 6000;
  strcpy(c->seeds, "1,2,3");
  c->arms = FPF_ARMS_BOTH;
  c->grok_accuracy = 0.9;
  c->extra_steps = 500;
  /* (a + b) mod 97 from half of the pairs, AdamW lr 2e-3 and weight
     decay 1: memorised by step ~150, grokked near step 1000 (lr 1e-3
     groks near 1800, train_fraction 0.3 not by 2200; docs/grokking.md) */
  c->g.model.p = 97;
  c->g.train_fraction = 0.5;
  c->g.adamw.lr = 2e-3;
  c->g.adamw.weight_decay = 1.0;
  c->threads = 2;
  c->figure = 1;
  /* C of a 512-dimensional latent overflows and C_vel's scale is set by
     the monitor's eta / c: the trigger is C_vel against half its peak. */
  c->g.trigger = FPF_TRIGGER_C_VEL;
  c->g.threshold_relative = 1;
  c->g.C_threshold = 0.5;
  c->g.warmup = 500;
  c->g.cooldown = 500;
}

static const char *arms_names[] = {"off", "on", "both"};

static const char *parse_own(void *cfg, const fpf_ini_key *k,
                             const char *val) {
  fpf_grok_config *c = cfg;
  char *p = (char *)c + k->off;
  fpf_monitor_options *mo = &c->g.monitor_options;
  switch (k->type) {
    case T_ACT:
      if (fpf_grok_activation_parse(val, (fpf_grok_activation *)p))
        return "relu, gelu or quadratic";
      return NULL;
    case T_ARMS:
      for (int i = 0; i < 3; i++)
        if (!strcmp(val, arms_names[i])) {
          *(fpf_grok_arms *)p = (fpf_grok_arms)i;
          return NULL;
        }
      return "both, off or on";
    case T_BANDWIDTH:
      return fpf_ini_parse_bandwidth(val, &mo->bandwidth_rule,
                                     &mo->bandwidth);
  }
  return "valid";
}

static void write_own(const void *cfg, const fpf_ini_key *k, FILE *f,
                      int exact) {
  const fpf_grok_config *c = cfg;
  const char *p = (const char *)c + k->off;
  const fpf_monitor_options *mo = &c->g.monitor_options;
  switch (k->type) {
    case T_ACT:
      fputs(fpf_grok_activation_name(*(const fpf_grok_activation *)p), f);
      break;
    case T_ARMS: fputs(arms_names[*(const fpf_grok_arms *)p], f); break;
    case T_BANDWIDTH:
      fpf_ini_write_bandwidth(f, mo->bandwidth_rule, mo->bandwidth, exact);
      break;
  }
}

static const fpf_ini_table table = {
    .keys = keys, .nkeys = sizeof keys / sizeof keys[0],
    .command = "grok", .what = "grok run",
    .help_name = 16, .help_value = 10,
    .parse = parse_own, .write = write_own};

fpf_status fpf_grok_config_load(fpf_grok_config *c, const char *path,
                                fpf_error *err) {
  return fpf_ini_load(&table, c, path, err);
}

fpf_status fpf_grok_config_set(fpf_grok_config *c, const char *assignment,
                               fpf_error *err) {
  return fpf_ini_set(&table, c, assignment, err);
}

/* "1,2,3" (spaces allowed) into seeds; the message names the bad item. */
static fpf_status parse_seeds(const char *text, unsigned long long *seeds,
                              int *n, fpf_error *err) {
  *n = 0;
  const char *s = text;
  while (*s) {
    while (*s == ' ' || *s == ',') s++;
    if (!*s) break;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-' ||
        (*end && *end != ',' && *end != ' '))
      return fpf_error_set(err, FPF_EINVAL, "seeds = '%s': '%.20s' is not "
                           "a whole number >= 0", text, s);
    if (*n == FPF_GROK_MAX_SEEDS)
      return fpf_error_set(err, FPF_EINVAL, "seeds = '%s': more than %d "
                           "seeds", text, FPF_GROK_MAX_SEEDS);
    seeds[(*n)++] = v;
    s = end;
  }
  if (*n == 0)
    return fpf_error_set(err, FPF_EINVAL, "seeds = '%s': no seed given",
                         text);
  return FPF_OK;
}

fpf_status fpf_grok_config_check(const fpf_grok_config *c,
                                 unsigned long long *seeds, int *nseeds,
                                 fpf_error *err) {
  if (c->steps < 1)
    return fpf_error_set(err, FPF_EINVAL, "steps = %ld: must be >= 1",
                         c->steps);
  if (c->threads < 0)
    return fpf_error_set(err, FPF_EINVAL, "threads = %ld: must be >= 0",
                         c->threads);
  if (!(c->grok_accuracy > 0 && c->grok_accuracy <= 1))
    return fpf_error_set(err, FPF_EINVAL, "grok_accuracy = %g: must be in "
                         "(0, 1]", c->grok_accuracy);
  if (c->extra_steps < -1)
    return fpf_error_set(err, FPF_EINVAL, "extra_steps = %ld: must be >= 0 "
                         "or -1", c->extra_steps);
  const fpf_detect_options *d = &c->g.monitor_options.detect;
  if (d->window < 1 || d->tolerance < 0)
    return fpf_error_set(err, FPF_EINVAL, "window = %ld must be >= 1 and "
                         "tolerance = %ld >= 0", d->window, d->tolerance);
  if ((c->arms != FPF_ARMS_OFF) && !c->g.monitor)
    return fpf_error_set(err, FPF_EINVAL, "arms = %s needs monitor = true: "
                         "resets are triggered by the monitor's C",
                         arms_names[c->arms]);
  /* The model and data checks run on a copy with resets off, so that
     their messages name the model's keys. */
  fpf_grok_options o = c->g;
  o.resets = 0;
  fpf_status st = fpf_grok_options_check(&o, err);
  if (st) return st;
  fpf_grok_model *m;
  if ((st = fpf_grok_model_create(&m, &o.model, err))) return st;
  fpf_grok_model_destroy(m);
  fpf_grok_data *data;
  if ((st = fpf_grok_data_create(&data, o.model.p, o.train_fraction, 0,
                                 err)))
    return st;
  fpf_grok_data_destroy(data);
  return parse_seeds(c->seeds, seeds, nseeds, err);
}

void fpf_grok_config_write(const fpf_grok_config *c, FILE *f) {
  fpf_ini_write(&table, c, f);
}

void fpf_grok_config_help(FILE *f) {
  fpf_grok_config def;
  fpf_grok_config_defaults(&def);
  fpf_ini_help(&table, &def, f);
}
