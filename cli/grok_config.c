/* The grok configuration table, its INI reader and writer (grok_config.h). */
#define _POSIX_C_SOURCE 200809L
#include "grok_config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_DOUBLE, T_LONG, T_SIZE, T_INT, T_BOOL, T_STR, T_ACT,
               T_ARMS, T_TRIGGER, T_BANDWIDTH, T_FORM } ktype;

typedef struct key {
  const char *section, *name;
  ktype type;
  size_t off;
  const char *doc;
} key;

#define OFF(f) offsetof(fpf_grok_config, f)
#define MON(f) OFF(g.monitor_options.f)

static const key keys[] = {
    {"run", "steps", T_LONG, OFF(steps), "optimiser steps per run"},
    {"run", "seeds", T_STR, OFF(seeds),
     "seeds, comma-separated; each keys the split, the initialisation "
     "and the batches"},
    {"run", "arms", T_ARMS, OFF(arms),
     "both | off | on: runs without resets, with them, or both per seed"},
    {"run", "eval_every", T_LONG, OFF(g.eval_every),
     "k: steps between observations (losses, accuracies, monitor)"},
    {"run", "grok_accuracy", T_DOUBLE, OFF(grok_accuracy),
     "the grokking step is the first observation with test accuracy >= "
     "this"},
    {"run", "extra_steps", T_LONG, OFF(extra_steps),
     "steps trained after grokking before the run stops (-1: all steps)"},
    {"run", "threads", T_LONG, OFF(threads),
     "threads for fpflow and BLAS (0: all cores)"},
    {"run", "figure", T_BOOL, OFF(figure), "write figure.png for each run"},
    {"data", "p", T_LONG, OFF(g.model.p), "modulus: learn (a + b) mod p"},
    {"data", "train_fraction", T_DOUBLE, OFF(g.train_fraction),
     "fraction of the p^2 pairs trained on; the rest is the test set"},
    {"data", "batch_size", T_SIZE, OFF(g.batch_size),
     "pairs per step (0: the full training set)"},
    {"model", "embed_dim", T_SIZE, OFF(g.model.embed_dim),
     "token embedding size e"},
    {"model", "width", T_SIZE, OFF(g.model.width),
     "units w of each hidden layer (the latent dimension)"},
    {"model", "hidden_layers", T_INT, OFF(g.model.hidden_layers), "1 or 2"},
    {"model", "activation", T_ACT, OFF(g.model.activation),
     "relu | gelu | quadratic"},
    {"model", "embed_init", T_DOUBLE, OFF(g.model.embed_init),
     "embeddings ~ N(0, embed_init^2)"},
    {"model", "init_scale", T_DOUBLE, OFF(g.model.init_scale),
     "linear layers ~ U(-s, s), s = init_scale / sqrt(fan_in)"},
    {"optim", "lr", T_DOUBLE, OFF(g.adamw.lr), "AdamW learning rate"},
    {"optim", "weight_decay", T_DOUBLE, OFF(g.adamw.weight_decay),
     "decoupled: theta -= lr weight_decay theta each step"},
    {"optim", "beta1", T_DOUBLE, OFF(g.adamw.beta1), "AdamW beta1"},
    {"optim", "beta2", T_DOUBLE, OFF(g.adamw.beta2), "AdamW beta2"},
    {"optim", "eps", T_DOUBLE, OFF(g.adamw.eps), "AdamW epsilon"},
    {"monitor", "monitor", T_BOOL, OFF(g.monitor),
     "push the probe's latents to the monitor (C, C_vel, S_dot, H)"},
    {"monitor", "probe_size", T_SIZE, OFF(g.probe_size),
     "test pairs in the fixed probe set"},
    {"monitor", "eta", T_DOUBLE, MON(eta),
     "eta in mu = -eta (grad L + lambda g)"},
    {"monitor", "lambda", T_DOUBLE, MON(lambda), "entropy weight lambda"},
    {"monitor", "c", T_DOUBLE, MON(c), "c in D = c (I + gamma F)"},
    {"monitor", "gamma", T_DOUBLE, MON(gamma), "Fisher coupling gamma"},
    {"monitor", "entropy_form", T_FORM, MON(entropy_form),
     "source (-grad rho (1 + log rho)) | wasserstein (-grad log rho)"},
    {"monitor", "bandwidth", T_BANDWIDTH, MON(bandwidth),
     "a number h > 0, or scott | silverman | median"},
    {"monitor", "knn_k", T_SIZE, MON(knn_k),
     "k of the Kozachenko-Leonenko entropy (0: off)"},
    {"reset", "trigger", T_TRIGGER, OFF(g.trigger),
     "C | C_vel: the ratio compared with C_threshold"},
    {"reset", "C_threshold", T_DOUBLE, OFF(g.C_threshold),
     "shrink and perturb when the trigger ratio falls below this"},
    {"reset", "threshold_relative", T_BOOL, OFF(g.threshold_relative),
     "C_threshold is a fraction of the ratio's peak so far (else the "
     "ratio itself)"},
    {"reset", "alpha", T_DOUBLE, OFF(g.reset_alpha),
     "theta <- (1 - alpha) theta + alpha theta_fresh"},
    {"reset", "warmup", T_LONG, OFF(g.warmup), "no reset before this step"},
    {"reset", "cooldown", T_LONG, OFF(g.cooldown),
     "least steps between two resets"},
    {"detect", "drop_factor", T_DOUBLE, MON(detect.drop_factor),
     "drop: dC < -drop_factor std(dC)"},
    {"detect", "spike_factor", T_DOUBLE, MON(detect.spike_factor),
     "spike: S_dot > mean + spike_factor std"},
    {"detect", "window", T_LONG, MON(detect.window),
     "plateau: lag w, in observations, of |loss_t - loss_{t-w}|"},
    {"detect", "plateau_tol", T_DOUBLE, MON(detect.plateau_tol),
     "plateau: tolerance"},
    {"detect", "plateau_relative", T_BOOL, MON(detect.plateau_relative),
     "plateau: tolerance relative to |loss|"},
    {"detect", "tolerance", T_LONG, MON(detect.tolerance),
     "observations of slack between the three criteria"},
    {"detect", "detect_on", T_TRIGGER, MON(detect_on),
     "C | C_vel: the series whose drops the detector looks for"},
    {"detect", "use_log", T_BOOL, MON(detect.use_log),
     "drop test on log C instead of C"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

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

static const key *find_key(const char *section, const char *name) {
  for (size_t i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].name, name) &&
        (!section || !section[0] || !strcmp(keys[i].section, section)))
      return &keys[i];
  return NULL;
}

static int parse_double(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(x)) return -1;
  *v = x;
  return 0;
}

static int parse_long(const char *s, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno == ERANGE) return -1;
  *v = x;
  return 0;
}

static const char *arms_names[] = {"off", "on", "both"};

/* Sets one key from its text; returns what the value must be, or NULL. */
static const char *parse_value(fpf_grok_config *c, const key *k,
                               const char *val) {
  char *p = (char *)c + k->off;
  long l;
  double x;
  fpf_monitor_options *mo = &c->g.monitor_options;
  switch (k->type) {
    case T_DOUBLE:
      if (parse_double(val, &x)) return "a finite number";
      *(double *)p = x;
      return NULL;
    case T_LONG:
      if (parse_long(val, &l)) return "a whole number";
      *(long *)p = l;
      return NULL;
    case T_INT:
      if (parse_long(val, &l) || l < -1000000 || l > 1000000)
        return "a small whole number";
      *(int *)p = (int)l;
      return NULL;
    case T_SIZE:
      if (parse_long(val, &l) || l < 0) return "a whole number >= 0";
      *(size_t *)p = (size_t)l;
      return NULL;
    case T_BOOL:
      if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
          !strcasecmp(val, "on") || !strcmp(val, "1"))
        *(int *)p = 1;
      else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") ||
               !strcasecmp(val, "off") || !strcmp(val, "0"))
        *(int *)p = 0;
      else
        return "true or false";
      return NULL;
    case T_STR:
      if (strlen(val) >= FPF_GROK_CFG_STR) return "shorter than 256 bytes";
      strcpy(p, val);
      return NULL;
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
    case T_TRIGGER:
      if (!strcmp(val, "C")) *(fpf_trigger *)p = FPF_TRIGGER_C;
      else if (!strcmp(val, "C_vel")) *(fpf_trigger *)p = FPF_TRIGGER_C_VEL;
      else return "C or C_vel";
      return NULL;
    case T_FORM:
      if (fpf_entropy_form_parse(val, (fpf_entropy_form *)p))
        return "source or wasserstein";
      return NULL;
    case T_BANDWIDTH: {
      fpf_bw_rule r;
      if (!fpf_bw_rule_parse(val, &r) && r != FPF_BW_FIXED) {
        mo->bandwidth_rule = r;
      } else if (!parse_double(val, &x) && x > 0) {
        mo->bandwidth_rule = FPF_BW_FIXED;
        mo->bandwidth = x;
      } else {
        return "a number > 0, scott, silverman or median";
      }
      return NULL;
    }
  }
  return "valid";
}

static fpf_status set_value(fpf_grok_config *c, const key *k,
                            const char *val, const char *where,
                            fpf_error *err) {
  const char *what = parse_value(c, k, val);
  if (what)
    return fpf_error_set(err, FPF_EINVAL, "%s: %s = '%s' must be %s", where,
                         k->name, val, what);
  return FPF_OK;
}

static void list_keys(char *buf, size_t n, const char *section) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NKEYS && len + 40 < n; i++) {
    if (section && section[0] && strcmp(keys[i].section, section)) continue;
    len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                            keys[i].name);
  }
}

typedef struct load_ctx {
  fpf_grok_config *c;
  const char *path;
  fpf_error *err;
  fpf_status st;
  int line;
  FILE *f;
} load_ctx;

/* inih's line reader, counting lines so that messages can name them. */
static char *read_line(char *buf, int size, void *stream) {
  load_ctx *x = stream;
  char *r = fgets(buf, size, x->f);
  if (r) x->line++;
  return r;
}

static int on_key(void *user, const char *section, const char *name,
                  const char *value) {
  load_ctx *x = user;
  if (x->st) return 0;
  char where[512];
  snprintf(where, sizeof where, "%s line %d", x->path, x->line);
  int known_section = 0;
  for (size_t i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].section, section)) known_section = 1;
  if (section[0] && !known_section) {
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown section [%s] (sections: run, data, "
                          "model, optim, monitor, reset, detect)",
                          where, section);
    return 0;
  }
  const key *k = find_key(section, name);
  if (!k) {
    char names[1024];
    list_keys(names, sizeof names, section);
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown key '%s' in [%s] (keys there: %s)",
                          where, name, section, names);
    return 0;
  }
  x->st = set_value(x->c, k, value, where, x->err);
  return x->st == FPF_OK;
}

fpf_status fpf_grok_config_load(fpf_grok_config *c, const char *path,
                                fpf_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "config %s: %s", path,
                         strerror(errno));
  load_ctx x = {c, path, err, FPF_OK, 0, f};
  int rc = ini_parse_stream(read_line, &x, on_key, &x);
  fclose(f);
  if (x.st) return x.st;
  if (rc > 0)
    return fpf_error_set(err, FPF_EFORMAT,
                         "config %s line %d: not 'key = value' or "
                         "'[section]'", path, rc);
  if (rc < 0)
    return fpf_error_set(err, FPF_EIO, "config %s: cannot be read", path);
  return FPF_OK;
}

fpf_status fpf_grok_config_set(fpf_grok_config *c, const char *assignment,
                               fpf_error *err) {
  char buf[FPF_GROK_CFG_STR * 2];
  if (strlen(assignment) >= sizeof buf)
    return fpf_error_set(err, FPF_EINVAL, "--set '%.40s...': too long",
                         assignment);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  if (!eq)
    return fpf_error_set(err, FPF_EINVAL, "--set '%s': expected key=value",
                         assignment);
  *eq = '\0';
  char *name = buf, *section = NULL, *dot = strchr(buf, '.');
  if (dot) {
    *dot = '\0';
    section = buf;
    name = dot + 1;
  }
  const key *k = find_key(section, name);
  if (!k) {
    char names[2048];
    list_keys(names, sizeof names, NULL);
    return fpf_error_set(err, FPF_EINVAL, "--set: unknown key '%s' (keys: "
                         "%s)", name, names);
  }
  char where[FPF_GROK_CFG_STR * 2 + 8];
  snprintf(where, sizeof where, "--set %s", assignment);
  return set_value(c, k, eq + 1, where, err);
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

/* Numbers exactly (%.17g) for the resolved file, or short for --help. */
static void write_value(const fpf_grok_config *c, const key *k, FILE *f,
                        int exact) {
  const char *p = (const char *)c + k->off;
  const fpf_monitor_options *mo = &c->g.monitor_options;
  switch (k->type) {
    case T_DOUBLE:
      fprintf(f, exact ? "%.17g" : "%g", *(const double *)p);
      break;
    case T_LONG: fprintf(f, "%ld", *(const long *)p); break;
    case T_INT: fprintf(f, "%d", *(const int *)p); break;
    case T_SIZE: fprintf(f, "%zu", *(const size_t *)p); break;
    case T_BOOL: fputs(*(const int *)p ? "true" : "false", f); break;
    case T_STR: fputs(p, f); break;
    case T_ACT:
      fputs(fpf_grok_activation_name(*(const fpf_grok_activation *)p), f);
      break;
    case T_ARMS: fputs(arms_names[*(const fpf_grok_arms *)p], f); break;
    case T_TRIGGER:
      fputs(*(const fpf_trigger *)p == FPF_TRIGGER_C ? "C" : "C_vel", f);
      break;
    case T_FORM:
      fputs(fpf_entropy_form_name(*(const fpf_entropy_form *)p), f);
      break;
    case T_BANDWIDTH:
      if (mo->bandwidth_rule == FPF_BW_FIXED)
        fprintf(f, exact ? "%.17g" : "%g", mo->bandwidth);
      else
        fputs(fpf_bw_rule_name(mo->bandwidth_rule), f);
      break;
  }
}

void fpf_grok_config_write(const fpf_grok_config *c, FILE *f) {
  fprintf(f, "; fpflow %s: the resolved configuration of this grok run.\n"
             "; 'fpflow grok THIS_FILE' repeats it.\n", fpf_version());
  const char *sec = "";
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(sec, keys[i].section)) {
      sec = keys[i].section;
      fprintf(f, "\n[%s]\n", sec);
    }
    fprintf(f, "; %s\n%s = ", keys[i].doc, keys[i].name);
    write_value(c, &keys[i], f, 1);
    fputc('\n', f);
  }
}

void fpf_grok_config_help(FILE *f) {
  fpf_grok_config def;
  fpf_grok_config_defaults(&def);
  const char *sec = "";
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(sec, keys[i].section)) {
      sec = keys[i].section;
      fprintf(f, "  [%s]\n", sec);
    }
    char val[64];
    FILE *m = fmemopen(val, sizeof val, "w");
    write_value(&def, &keys[i], m, 0);
    fclose(m);
    fprintf(f, "    %-16s %-10s %s\n", keys[i].name, val[0] ? val : "''",
            keys[i].doc);
  }
}
