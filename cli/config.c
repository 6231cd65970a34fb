/* The run configuration table, its INI reader and writer (config.h). */
#define _GNU_SOURCE
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/transport.h"
#include "ini_table.h"

/* This table's own types; T_PATH is a file, taken relative to the INI
   file that names it. */
enum { T_BANDWIDTH = FPF_INI_OWN, T_METHOD, T_PATH };
_Static_assert(FPF_CFG_STR == FPF_INI_STR_MAX, "string keys: ini_table.h");

#define OFF(f) offsetof(fpf_run_config, f)

static const fpf_ini_key keys[] = {
    {"run", "steps", FPF_INI_LONG, OFF(steps), "number of steps"},
    {"run", "n", FPF_INI_LONG, OFF(n), "number of particles"},
    {"run", "d", FPF_INI_LONG, OFF(d), "dimension of the latent space"},
    {"run", "seed", FPF_INI_U64, OFF(dyn.seed), "seed of every random draw"},
    {"run", "threads", FPF_INI_LONG, OFF(threads),
     "threads for fpflow and BLAS (0: all cores)"},
    {"run", "figure", FPF_INI_BOOL, OFF(figure), "write figure.png"},
    {"init", "init", T_PATH, OFF(init),
     "initial ensemble: 'normal' or a path to an (n, d) .npy file"},
    {"init", "init_mean", FPF_INI_DOUBLE, OFF(init_mean),
     "mean of every coordinate for init = normal"},
    {"init", "init_std", FPF_INI_DOUBLE, OFF(init_std),
     "standard deviation for init = normal"},
    {"landscape", "landscape", FPF_INI_STR, OFF(landscape),
     "two_wells | quadratic | mixture | rosenbrock | decoder | plugin"},
    {"landscape", "quad_curvature", FPF_INI_DOUBLE, OFF(quad_curvature),
     "quadratic: A = quad_curvature I"},
    {"landscape", "quad_center", FPF_INI_DOUBLE, OFF(quad_center),
     "quadratic: every coordinate of the minimum m"},
    {"landscape", "mixture_k", FPF_INI_LONG, OFF(mixture_k),
     "mixture: number of wells, on a circle in the first two coordinates"},
    {"landscape", "mixture_radius", FPF_INI_DOUBLE, OFF(mixture_radius),
     "mixture: radius of that circle"},
    {"landscape", "mixture_width", FPF_INI_DOUBLE, OFF(mixture_width),
     "mixture: width s of every well"},
    {"landscape", "rosen_a", FPF_INI_DOUBLE, OFF(rosen_a), "rosenbrock: a"},
    {"landscape", "rosen_b", FPF_INI_DOUBLE, OFF(rosen_b), "rosenbrock: b"},
    {"landscape", "decoder_hidden", FPF_INI_LONG, OFF(decoder_hidden),
     "decoder: hidden units"},
    {"landscape", "decoder_dx", FPF_INI_LONG, OFF(decoder_dx),
     "decoder: output size D_x"},
    {"landscape", "decoder_weights", T_PATH, OFF(decoder_weights),
     "decoder: directory with W1.npy b1.npy W2.npy b2.npy x.npy "
     "('' draws them from the seed)"},
    {"landscape", "plugin", T_PATH, OFF(plugin),
     "plugin: shared object exporting fpflow_landscape"},
    {"landscape", "plugin_args", FPF_INI_STR, OFF(plugin_args),
     "plugin: text passed to fpflow_landscape_init"},
    {"schedule", "eta0", FPF_INI_DOUBLE, OFF(dyn.eta0),
     "initial learning rate"},
    {"schedule", "tau_eta", FPF_INI_DOUBLE, OFF(dyn.tau_eta),
     "eta(t) = eta0 / (1 + t / tau_eta)"},
    {"schedule", "D0", FPF_INI_DOUBLE, OFF(dyn.D0), "base diffusion"},
    {"schedule", "tau_D", FPF_INI_DOUBLE, OFF(dyn.tau_D),
     "c(t) = D0 exp(-t / tau_D)"},
    {"schedule", "dt", FPF_INI_DOUBLE, OFF(dyn.dt), "time step; t = step dt"},
    {"dynamics", "lambda", FPF_INI_DOUBLE, OFF(dyn.lambda),
     "entropy weight in mu = -eta (grad L + lambda g)"},
    {"dynamics", "gamma", FPF_INI_DOUBLE, OFF(dyn.gamma),
     "Fisher coupling in D = c (I + gamma F)"},
    {"dynamics", "entropy_form", FPF_INI_FORM, OFF(dyn.entropy_form),
     "source (-grad rho (1 + log rho)) | wasserstein (-grad log rho)"},
    {"kde", "bandwidth", T_BANDWIDTH, OFF(dyn.bandwidth),
     "a number h > 0, or scott | silverman | median"},
    {"kde", "kde_method", T_METHOD, OFF(dyn.kde_method),
     "auto | exact | binned (FFT on a grid, d <= 3)"},
    {"kde", "single_precision", FPF_INI_BOOL, OFF(dyn.single_precision),
     "products in float: the KDE's when d > 8, the d x d ones when "
     "d > 32 (about twice as fast)"},
    {"kde", "leave_one_out", FPF_INI_BOOL, OFF(dyn.leave_one_out),
     "drop the self term of the KDE"},
    {"kde", "knn_k", FPF_INI_SIZE, OFF(dyn.knn_k),
     "k of the Kozachenko-Leonenko entropy (0: off)"},
    {"kde", "flux_divergence", FPF_INI_BOOL, OFF(dyn.flux_divergence),
     "compute div J each step (one more O(n^2 d) pass)"},
    {"reset", "resets", FPF_INI_BOOL, OFF(dyn.resets), "in-loop reset trigger"},
    {"reset", "trigger", FPF_INI_TRIGGER, OFF(dyn.trigger),
     "C | C_vel: the ratio compared with C_threshold"},
    {"reset", "C_threshold", FPF_INI_DOUBLE, OFF(dyn.C_threshold),
     "reset when the trigger ratio falls below this"},
    {"reset", "alpha_reset", FPF_INI_DOUBLE, OFF(dyn.alpha_reset),
     "fraction of particles redrawn"},
    {"reset", "beta_reset", FPF_INI_DOUBLE, OFF(dyn.beta_reset),
     "diffusion boost b = beta_reset c(t*)"},
    {"reset", "warmup", FPF_INI_LONG, OFF(dyn.warmup),
     "no reset before this step"},
    {"reset", "cooldown", FPF_INI_LONG, OFF(dyn.cooldown),
     "least steps between two resets"},
    {"detect", "drop_factor", FPF_INI_DOUBLE, OFF(det.drop_factor),
     "drop: dC < -drop_factor std(dC)"},
    {"detect", "spike_factor", FPF_INI_DOUBLE, OFF(det.spike_factor),
     "spike: S_dot > mean + spike_factor std"},
    {"detect", "window", FPF_INI_LONG, OFF(det.window),
     "plateau: lag w of |loss_t - loss_{t-w}|"},
    {"detect", "plateau_tol", FPF_INI_DOUBLE, OFF(det.plateau_tol),
     "plateau: tolerance"},
    {"detect", "plateau_relative", FPF_INI_BOOL, OFF(det.plateau_relative),
     "plateau: tolerance relative to |loss|"},
    {"detect", "tolerance", FPF_INI_LONG, OFF(det.tolerance),
     "steps of slack between the three criteria"},
    {"detect", "use_log", FPF_INI_BOOL, OFF(det.use_log),
     "drop test on log C instead of C"},
    {"transport", "w2_every", FPF_INI_LONG, OFF(w2_every),
     "W2_star and KL_star to rho* every k steps (0: off)"},
    {"transport", "w2_method", FPF_INI_STR, OFF(w2_method),
     "auto | exact | sinkhorn | bures | sliced"},
    {"transport", "w2_reference_n", FPF_INI_LONG, OFF(w2_reference_n),
     "points in the reference sample of rho* (0: n)"},
};

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

/*
 * A relative path read from an INI file is taken relative to that file's
 * directory, so that a configuration (and the config.ini a run writes)
 * means the same thing from any working directory.
 */
static fpf_status anchor_path(fpf_run_config *c, const fpf_ini_key *k,
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

static const char *parse_own(void *cfg, const fpf_ini_key *k,
                             const char *val) {
  fpf_run_config *c = cfg;
  char *p = (char *)c + k->off;
  switch (k->type) {
    case T_BANDWIDTH:
      return fpf_ini_parse_bandwidth(val, &c->dyn.bandwidth_rule,
                                     &c->dyn.bandwidth);
    case T_METHOD:
      if (fpf_kde_method_parse(val, (fpf_kde_method *)p))
        return "auto, exact or binned";
      return NULL;
    case T_PATH: return fpf_ini_parse_str(p, val);
  }
  return "valid";
}

static void write_own(const void *cfg, const fpf_ini_key *k, FILE *f,
                      int exact) {
  const fpf_run_config *c = cfg;
  const char *p = (const char *)c + k->off;
  char abs[4096];
  switch (k->type) {
    case T_BANDWIDTH:
      fpf_ini_write_bandwidth(f, c->dyn.bandwidth_rule, c->dyn.bandwidth,
                              exact);
      break;
    case T_METHOD:
      fputs(fpf_kde_method_name(*(const fpf_kde_method *)p), f);
      break;
    case T_PATH:
      /* paths are written absolute: the file is read from anywhere */
      if (p[0] && p[0] != '/' && strcmp(p, "normal") && realpath(p, abs))
        fputs(abs, f);
      else
        fputs(p, f);
      break;
  }
}

static fpf_status on_set(void *cfg, const fpf_ini_key *k, const char *ini,
                         const char *where, fpf_error *err) {
  fpf_run_config *c = cfg;
  if (!strcmp(k->name, "n")) c->n_given = 1;
  if (ini && k->type == T_PATH) return anchor_path(c, k, ini, where, err);
  return FPF_OK;
}

static const fpf_ini_table table = {
    .keys = keys, .nkeys = sizeof keys / sizeof keys[0],
    .command = "run", .what = "run",
    .section_hint = 1,
    .help_name = 16, .help_value = 10,
    .parse = parse_own, .write = write_own, .on_set = on_set};

fpf_status fpf_config_load(fpf_run_config *c, const char *path,
                           fpf_error *err) {
  return fpf_ini_load(&table, c, path, err);
}

fpf_status fpf_config_set(fpf_run_config *c, const char *assignment,
                          fpf_error *err) {
  return fpf_ini_set(&table, c, assignment, err);
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

void fpf_config_write(const fpf_run_config *c, FILE *f) {
  fpf_ini_write(&table, c, f);
}

void fpf_config_help(FILE *f) {
  fpf_run_config def;
  fpf_config_defaults(&def);
  fpf_ini_help(&table, &def, f);
}
