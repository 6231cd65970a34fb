/* The run configuration table, its INI reader and writer (config.h). */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fpflow/transport.h"

typedef enum { T_DOUBLE, T_LONG, T_SIZE, T_U64, T_BOOL, T_STR, T_BANDWIDTH,
               T_FORM, T_TRIGGER, T_METHOD } ktype;

typedef struct key {
  const char *section, *name;
  ktype type;
  size_t off;
  const char *doc;
} key;

#define OFF(f) offsetof(fpf_run_config, f)

static const key keys[] = {
    {"run", "steps", T_LONG, OFF(steps), "number of steps"},
    {"run", "n", T_LONG, OFF(n), "number of particles"},
    {"run", "d", T_LONG, OFF(d), "dimension of the latent space"},
    {"run", "seed", T_U64, OFF(dyn.seed), "seed of every random draw"},
    {"run", "threads", T_LONG, OFF(threads),
     "threads for fpflow and BLAS (0: all cores)"},
    {"run", "figure", T_BOOL, OFF(figure), "write figure.png"},
    {"init", "init", T_STR, OFF(init),
     "initial ensemble: 'normal' or a path to an (n, d) .npy file"},
    {"init", "init_mean", T_DOUBLE, OFF(init_mean),
     "mean of every coordinate for init = normal"},
    {"init", "init_std", T_DOUBLE, OFF(init_std),
     "standard deviation for init = normal"},
    {"landscape", "landscape", T_STR, OFF(landscape),
     "two_wells | quadratic | mixture | rosenbrock | decoder | plugin"},
    {"landscape", "quad_curvature", T_DOUBLE, OFF(quad_curvature),
     "quadratic: A = quad_curvature I"},
    {"landscape", "quad_center", T_DOUBLE, OFF(quad_center),
     "quadratic: every coordinate of the minimum m"},
    {"landscape", "mixture_k", T_LONG, OFF(mixture_k),
     "mixture: number of wells, on a circle in the first two coordinates"},
    {"landscape", "mixture_radius", T_DOUBLE, OFF(mixture_radius),
     "mixture: radius of that circle"},
    {"landscape", "mixture_width", T_DOUBLE, OFF(mixture_width),
     "mixture: width s of every well"},
    {"landscape", "rosen_a", T_DOUBLE, OFF(rosen_a), "rosenbrock: a"},
    {"landscape", "rosen_b", T_DOUBLE, OFF(rosen_b), "rosenbrock: b"},
    {"landscape", "decoder_hidden", T_LONG, OFF(decoder_hidden),
     "decoder: hidden units"},
    {"landscape", "decoder_dx", T_LONG, OFF(decoder_dx),
     "decoder: output size D_x"},
    {"landscape", "decoder_weights", T_STR, OFF(decoder_weights),
     "decoder: directory with W1.npy b1.npy W2.npy b2.npy x.npy "
     "('' draws them from the seed)"},
    {"landscape", "plugin", T_STR, OFF(plugin),
     "plugin: shared object exporting fpflow_landscape"},
    {"landscape", "plugin_args", T_STR, OFF(plugin_args),
     "plugin: text passed to fpflow_landscape_init"},
    {"schedule", "eta0", T_DOUBLE, OFF(dyn.eta0), "initial learning rate"},
    {"schedule", "tau_eta", T_DOUBLE, OFF(dyn.tau_eta),
     "eta(t) = eta0 / (1 + t / tau_eta)"},
    {"schedule", "D0", T_DOUBLE, OFF(dyn.D0), "base diffusion"},
    {"schedule", "tau_D", T_DOUBLE, OFF(dyn.tau_D),
     "c(t) = D0 exp(-t / tau_D)"},
    {"schedule", "dt", T_DOUBLE, OFF(dyn.dt), "time step; t = step dt"},
    {"dynamics", "lambda", T_DOUBLE, OFF(dyn.lambda),
     "entropy weight in mu = -eta (grad L + lambda g)"},
    {"dynamics", "gamma", T_DOUBLE, OFF(dyn.gamma),
     "Fisher coupling in D = c (I + gamma F)"},
    {"dynamics", "entropy_form", T_FORM, OFF(dyn.entropy_form),
     "source (-grad rho (1 + log rho)) | wasserstein (-grad log rho)"},
    {"kde", "bandwidth", T_BANDWIDTH, OFF(dyn.bandwidth),
     "a number h > 0, or scott | silverman | median"},
    {"kde", "kde_method", T_METHOD, OFF(dyn.kde_method),
     "auto | exact | binned (FFT on a grid, d <= 3)"},
    {"kde", "single_precision", T_BOOL, OFF(dyn.single_precision),
     "products in float when d > 32 (about twice as fast)"},
    {"kde", "leave_one_out", T_BOOL, OFF(dyn.leave_one_out),
     "drop the self term of the KDE"},
    {"kde", "knn_k", T_SIZE, OFF(dyn.knn_k),
     "k of the Kozachenko-Leonenko entropy (0: off)"},
    {"kde", "flux_divergence", T_BOOL, OFF(dyn.flux_divergence),
     "compute div J each step (one more O(n^2 d) pass)"},
    {"reset", "resets", T_BOOL, OFF(dyn.resets), "in-loop reset trigger"},
    {"reset", "trigger", T_TRIGGER, OFF(dyn.trigger),
     "C | C_vel: the ratio compared with C_threshold"},
    {"reset", "C_threshold", T_DOUBLE, OFF(dyn.C_threshold),
     "reset when the trigger ratio falls below this"},
    {"reset", "alpha_reset", T_DOUBLE, OFF(dyn.alpha_reset),
     "fraction of particles redrawn"},
    {"reset", "beta_reset", T_DOUBLE, OFF(dyn.beta_reset),
     "diffusion boost b = beta_reset c(t*)"},
    {"reset", "warmup", T_LONG, OFF(dyn.warmup), "no reset before this step"},
    {"reset", "cooldown", T_LONG, OFF(dyn.cooldown),
     "least steps between two resets"},
    {"detect", "drop_factor", T_DOUBLE, OFF(det.drop_factor),
     "drop: dC < -drop_factor std(dC)"},
    {"detect", "spike_factor", T_DOUBLE, OFF(det.spike_factor),
     "spike: S_dot > mean + spike_factor std"},
    {"detect", "window", T_LONG, OFF(det.window),
     "plateau: lag w of |loss_t - loss_{t-w}|"},
    {"detect", "plateau_tol", T_DOUBLE, OFF(det.plateau_tol),
     "plateau: tolerance"},
    {"detect", "plateau_relative", T_BOOL, OFF(det.plateau_relative),
     "plateau: tolerance relative to |loss|"},
    {"detect", "tolerance", T_LONG, OFF(det.tolerance),
     "steps of slack between the three criteria"},
    {"detect", "use_log", T_BOOL, OFF(det.use_log),
     "drop test on log C instead of C"},
    {"transport", "w2_every", T_LONG, OFF(w2_every),
     "W2_star and KL_star to rho* every k steps (0: off)"},
    {"transport", "w2_method", T_STR, OFF(w2_method),
     "auto | exact | sinkhorn | bures | sliced"},
    {"transport", "w2_reference_n", T_LONG, OFF(w2_reference_n),
     "points in the reference sample of rho* (0: n)"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

void fpf_config_defaults(fpf_run_config *c) {
  memset(c, 0, sizeof *c);
  fpf_dyn_options_init(&c->dyn);
  fpf_detect_options_init(&c->det);
  /* the source's quick start */
  c->dyn.eta0 = 0.1;
  c->dyn.D0 = 0.5;
  c->dyn.seed = 42;
  c->steps = 100;
  c->n = 500;
  c->d = 2;
  c->figure = 1;
  strcpy(c->init, "normal");
  c->init_std = 1.0;
  strcpy(c->landscape, "two_wells");
  c->quad_curvature = 1.0;
  c->mixture_k = 4;
  c->mixture_radius = 3.0;
  c->mixture_width = 1.0;
  c->rosen_a = 1.0;
  c->rosen_b = 100.0;
  c->decoder_hidden = 128;
  c->decoder_dx = 16;
  strcpy(c->w2_method, "auto");
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

/* Sets one key from its text; the message names where it came from. */
static fpf_status set_value(fpf_run_config *c, const key *k, const char *val,
                            const char *where, fpf_error *err) {
  char *p = (char *)c + k->off;
  long l;
  double x;
  const char *what = NULL;
  switch (k->type) {
    case T_DOUBLE:
      if (parse_double(val, &x)) what = "a finite number";
      else *(double *)p = x;
      break;
    case T_LONG:
      if (parse_long(val, &l)) what = "a whole number";
      else *(long *)p = l;
      break;
    case T_SIZE:
      if (parse_long(val, &l) || l < 0) what = "a whole number >= 0";
      else *(size_t *)p = (size_t)l;
      break;
    case T_U64: {
      char *end;
      errno = 0;
      unsigned long long u = strtoull(val, &end, 10);
      if (end == val || *end || errno || val[0] == '-')
        what = "a whole number >= 0";
      else *(uint64_t *)p = u;
      break;
    }
    case T_BOOL:
      if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
          !strcasecmp(val, "on") || !strcmp(val, "1"))
        *(int *)p = 1;
      else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") ||
               !strcasecmp(val, "off") || !strcmp(val, "0"))
        *(int *)p = 0;
      else what = "true or false";
      break;
    case T_STR:
      if (strlen(val) >= FPF_CFG_STR) what = "shorter than 256 characters";
      else strcpy(p, val);
      break;
    case T_BANDWIDTH: {
      fpf_bw_rule r;
      if (!fpf_bw_rule_parse(val, &r) && r != FPF_BW_FIXED) {
        c->dyn.bandwidth_rule = r;
      } else if (!parse_double(val, &x) && x > 0) {
        c->dyn.bandwidth_rule = FPF_BW_FIXED;
        c->dyn.bandwidth = x;
      } else {
        what = "a number > 0, scott, silverman or median";
      }
      break;
    }
    case T_FORM:
      if (fpf_entropy_form_parse(val, (fpf_entropy_form *)p))
        what = "source or wasserstein";
      break;
    case T_METHOD:
      if (fpf_kde_method_parse(val, (fpf_kde_method *)p))
        what = "auto, exact or binned";
      break;
    case T_TRIGGER:
      if (!strcmp(val, "C")) *(fpf_trigger *)p = FPF_TRIGGER_C;
      else if (!strcmp(val, "C_vel")) *(fpf_trigger *)p = FPF_TRIGGER_C_VEL;
      else what = "C or C_vel";
      break;
  }
  if (what)
    return fpf_error_set(err, FPF_EINVAL, "%s: %s = '%s' must be %s", where,
                         k->name, val, what);
  return FPF_OK;
}

static void list_keys(char *buf, size_t n, const char *section) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NKEYS && len + 24 < n; i++) {
    if (section && section[0] && strcmp(keys[i].section, section)) continue;
    len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                            keys[i].name);
  }
}

/* Keys whose values are file paths (except the non-path word "normal"). */
static int is_path_key(const char *name) {
  return !strcmp(name, "init") || !strcmp(name, "decoder_weights") ||
         !strcmp(name, "plugin");
}

/*
 * A relative path read from an INI file is taken relative to that file's
 * directory, so that a configuration (and the config.ini a run writes)
 * means the same thing from any working directory.
 */
static fpf_status anchor_path(fpf_run_config *c, const key *k,
                              const char *ini, const char *where,
                              fpf_error *err) {
  char *v = (char *)c + k->off;
  if (!v[0] || v[0] == '/' || (!strcmp(k->name, "init") &&
                               !strcmp(v, "normal")))
    return FPF_OK;
  const char *slash = strrchr(ini, '/');
  if (!slash) return FPF_OK;
  char buf[2 * FPF_CFG_STR];
  int len = snprintf(buf, sizeof buf, "%.*s/%s", (int)(slash - ini), ini, v);
  if (len < 0 || (size_t)len >= FPF_CFG_STR)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: %s = '%s' is too long once taken relative to "
                         "%s", where, k->name, v, ini);
  strcpy(v, buf);
  return FPF_OK;
}

typedef struct load_ctx {
  fpf_run_config *c;
  const char *path;
  fpf_error *err;
  fpf_status st;
  int line, line_done;
  FILE *f;
} load_ctx;

/* inih's line reader, counting lines so that messages can name them. */
static char *read_line(char *buf, int size, void *stream) {
  load_ctx *x = stream;
  char *r = fgets(buf, size, x->f);
  /* a line longer than the buffer arrives in pieces: count it once */
  if (r && x->line_done) x->line++;
  if (r) x->line_done = strchr(r, '\n') != NULL || feof(x->f);
  return r;
}

static int on_key(void *user, const char *section, const char *name,
                  const char *value) {
  load_ctx *x = user;
  int lineno = x->line;
  if (x->st) return 0;
  char where[512];
  snprintf(where, sizeof where, "%s line %d", x->path, lineno);
  int known_section = 0;
  for (size_t i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].section, section)) known_section = 1;
  if (section[0] && !known_section) {
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown section [%s] (sections: run, init, "
                          "landscape, schedule, dynamics, kde, reset, detect, "
                          "transport)",
                          where, section);
    return 0;
  }
  const key *k = find_key(section, name);
  if (!k) {
    char names[4096];
    list_keys(names, sizeof names, section);
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown key '%s' in [%s] (keys there: %s)",
                          where, name, section, names);
    return 0;
  }
  x->st = set_value(x->c, k, value, where, x->err);
  if (!strcmp(k->name, "n")) x->c->n_given = 1;
  if (x->st == FPF_OK && k->type == T_STR && is_path_key(k->name))
    x->st = anchor_path(x->c, k, x->path, where, x->err);
  return x->st == FPF_OK;
}

fpf_status fpf_config_load(fpf_run_config *c, const char *path,
                           fpf_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "config %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
    fclose(f);
    return fpf_error_set(err, FPF_EIO,
                         "config %s: not a regular file (a directory?)", path);
  }
  load_ctx x = {c, path, err, FPF_OK, 0, 1, f};
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

fpf_status fpf_config_set(fpf_run_config *c, const char *assignment,
                          fpf_error *err) {
  char buf[FPF_CFG_STR * 2];
  if (strlen(assignment) >= sizeof buf)
    return fpf_error_set(err, FPF_EINVAL, "--set '%.40s...': too long",
                         assignment);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  if (!eq)
    return fpf_error_set(err, FPF_EINVAL,
                         "--set '%s': expected key=value", assignment);
  *eq = '\0';
  char *name = buf, *section = NULL, *dot = strchr(buf, '.');
  if (dot) {
    *dot = '\0';
    section = buf;
    name = dot + 1;
  }
  const key *k = find_key(section, name);
  if (!k && section && find_key(NULL, name))
    return fpf_error_set(err, FPF_EINVAL,
                         "--set %s: key '%s' is not in section [%s] (it is "
                         "in [%s])", assignment, name, section,
                         find_key(NULL, name)->section);
  if (!k) {
    char names[4096];
    list_keys(names, sizeof names, NULL);
    return fpf_error_set(err, FPF_EINVAL,
                         "--set: unknown key '%s' (keys: %s)", name, names);
  }
  char where[FPF_CFG_STR * 2 + 8];
  snprintf(where, sizeof where, "--set %s", assignment);
  if (!strcmp(k->name, "n")) c->n_given = 1;
  return set_value(c, k, eq + 1, where, err);
}

fpf_status fpf_config_check(const fpf_run_config *c, fpf_error *err) {
  if (c->steps < 1)
    return fpf_error_set(err, FPF_EINVAL, "steps = %ld: must be >= 1",
                         c->steps);
  if (c->n < 2)
    return fpf_error_set(err, FPF_EINVAL, "n = %ld: needs >= 2 particles",
                         c->n);
  if (c->d < 1)
    return fpf_error_set(err, FPF_EINVAL, "d = %ld: must be >= 1", c->d);
  if (c->threads < 0 || c->threads > 1024)
    return fpf_error_set(err, FPF_EINVAL,
                         "threads = %ld: must be from 0 (all cores) to 1024",
                         c->threads);
  if (c->n > 100000000 || c->d > 1000000)
    return fpf_error_set(err, FPF_EINVAL,
                         "n = %ld, d = %ld: fpflow handles n up to 10^8 and "
                         "d up to 10^6", c->n, c->d);
  if (c->dyn.knn_k >= (size_t)c->n)
    return fpf_error_set(err, FPF_EINVAL,
                         "knn_k = %zu: needs fewer than n = %ld particles",
                         c->dyn.knn_k, c->n);
  if (c->dyn.C_threshold < 0)
    return fpf_error_set(err, FPF_EINVAL, "C_threshold = %g: must be >= 0",
                         c->dyn.C_threshold);
  if (c->det.drop_factor < 0 || c->det.spike_factor < 0 ||
      c->det.plateau_tol < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "drop_factor = %g, spike_factor = %g, plateau_tol = "
                         "%g: each must be >= 0", c->det.drop_factor,
                         c->det.spike_factor, c->det.plateau_tol);
  if (c->mixture_radius < 0 || !(c->mixture_width > 0))
    return fpf_error_set(err, FPF_EINVAL,
                         "mixture_radius = %g must be >= 0 and mixture_width "
                         "= %g > 0", c->mixture_radius, c->mixture_width);
  if (c->rosen_b < 0)
    return fpf_error_set(err, FPF_EINVAL, "rosen_b = %g: must be >= 0",
                         c->rosen_b);
  if (!(c->init_std >= 0))
    return fpf_error_set(err, FPF_EINVAL, "init_std = %g: must be >= 0",
                         c->init_std);
  const char *ls = c->landscape;
  if (!strcmp(ls, "two_wells") && c->d != 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "landscape two_wells is 2-dimensional but d = %ld",
                         c->d);
  if (!strcmp(ls, "rosenbrock") && c->d < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "landscape rosenbrock needs d >= 2 (d = %ld)", c->d);
  if (!strcmp(ls, "mixture") && c->mixture_k < 1)
    return fpf_error_set(err, FPF_EINVAL, "mixture_k = %ld: must be >= 1",
                         c->mixture_k);
  if (!strcmp(ls, "decoder") && (c->decoder_hidden < 1 || c->decoder_dx < 1))
    return fpf_error_set(err, FPF_EINVAL,
                         "decoder_hidden = %ld, decoder_dx = %ld: both must "
                         "be >= 1", c->decoder_hidden, c->decoder_dx);
  if (!strcmp(ls, "plugin") && !c->plugin[0])
    return fpf_error_set(err, FPF_EINVAL,
                         "landscape = plugin needs plugin = path/to/lib.so");
  const char *known[] = {"two_wells", "quadratic", "mixture", "rosenbrock",
                         "decoder", "plugin"};
  int ok = 0;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(ls, known[i])) ok = 1;
  if (!ok)
    return fpf_error_set(err, FPF_EINVAL,
                         "landscape = '%s' is unknown (two_wells, quadratic, "
                         "mixture, rosenbrock, decoder, plugin)", ls);
  fpf_w2_method wm;
  if (c->w2_every < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "w2_every = %ld: must be >= 0 (0: off)", c->w2_every);
  if (c->w2_reference_n < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "w2_reference_n = %ld: must be >= 0 (0: n)",
                         c->w2_reference_n);
  if (fpf_w2_method_parse(c->w2_method, &wm))
    return fpf_error_set(err, FPF_EINVAL,
                         "w2_method = '%s' is unknown (auto, exact, sinkhorn, "
                         "bures, sliced)", c->w2_method);
  if (c->det.window < 1)
    return fpf_error_set(err, FPF_EINVAL, "window = %ld: must be >= 1",
                         c->det.window);
  if (c->det.tolerance < 0)
    return fpf_error_set(err, FPF_EINVAL, "tolerance = %ld: must be >= 0",
                         c->det.tolerance);
  return fpf_dyn_options_check(&c->dyn, err);
}

static void write_value(const fpf_run_config *c, const key *k, FILE *f) {
  const char *p = (const char *)c + k->off;
  switch (k->type) {
    case T_DOUBLE: fprintf(f, "%.17g", *(const double *)p); break;
    case T_LONG: fprintf(f, "%ld", *(const long *)p); break;
    case T_SIZE: fprintf(f, "%zu", *(const size_t *)p); break;
    case T_U64:
      fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)p);
      break;
    case T_BOOL: fputs(*(const int *)p ? "true" : "false", f); break;
    case T_STR: {
      /* paths are written absolute: the file is read from anywhere */
      char abs[4096];
      if (is_path_key(k->name) && p[0] && p[0] != '/' &&
          strcmp(p, "normal") && realpath(p, abs))
        fputs(abs, f);
      else
        fputs(p, f);
      break;
    }
    case T_BANDWIDTH:
      if (c->dyn.bandwidth_rule == FPF_BW_FIXED)
        fprintf(f, "%.17g", c->dyn.bandwidth);
      else
        fputs(fpf_bw_rule_name(c->dyn.bandwidth_rule), f);
      break;
    case T_FORM:
      fputs(fpf_entropy_form_name(*(const fpf_entropy_form *)p), f);
      break;
    case T_TRIGGER:
      fputs(*(const fpf_trigger *)p == FPF_TRIGGER_C ? "C" : "C_vel", f);
      break;
    case T_METHOD:
      fputs(fpf_kde_method_name(*(const fpf_kde_method *)p), f);
      break;
  }
}

void fpf_config_write(const fpf_run_config *c, FILE *f) {
  fprintf(f, "; fpflow %s: the resolved configuration of this run.\n"
             "; 'fpflow run THIS_FILE' repeats it.\n", fpf_version());
  const char *sec = "";
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(sec, keys[i].section)) {
      sec = keys[i].section;
      fprintf(f, "\n[%s]\n", sec);
    }
    fprintf(f, "; %s\n%s = ", keys[i].doc, keys[i].name);
    write_value(c, &keys[i], f);
    fputc('\n', f);
  }
}

void fpf_config_help(FILE *f) {
  fpf_run_config def;
  fpf_config_defaults(&def);
  const char *sec = "";
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(sec, keys[i].section)) {
      sec = keys[i].section;
      fprintf(f, "  [%s]\n", sec);
    }
    char val[64] = "";
    if (keys[i].type == T_DOUBLE)
      snprintf(val, sizeof val, "%g",
               *(const double *)((const char *)&def + keys[i].off));
    else if (keys[i].type == T_BANDWIDTH &&
             def.dyn.bandwidth_rule == FPF_BW_FIXED)
      snprintf(val, sizeof val, "%g", def.dyn.bandwidth);
    else {
      FILE *m = fmemopen(val, sizeof val, "w");
      write_value(&def, &keys[i], m);
      fclose(m);
    }
    fprintf(f, "    %-16s %-10s %s\n", keys[i].name, val[0] ? val : "''",
            keys[i].doc);
  }
}
