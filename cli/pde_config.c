/* The `fpflow pde` configuration table, its INI reader and writer
   (pde_config.h). */
#define _GNU_SOURCE
#include "pde_config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/dyn.h"
#include "fpflow/rng.h"
#include "ini_table.h"

/* This table's own types: pairs ("a, b", one value for both axes) and
   the scheme's enums. */
enum { T_VEC2 = FPF_INI_OWN, T_CELLS, T_FLUX, T_SPLIT };
_Static_assert(FPF_PDE_CFG_STR == FPF_INI_STR_MAX,
               "string keys: ini_table.h");

#define OFF(f) offsetof(fpf_pde_config, f)

static const fpf_ini_key keys[] = {
    {"run", "t_end", FPF_INI_DOUBLE, OFF(t_end), "end time"},
    {"run", "dt", FPF_INI_DOUBLE, OFF(pde.dt),
     "time step (each interval between outputs is cut into equal steps "
     "no longer than dt)"},
    {"run", "times", FPF_INI_STR, OFF(times),
     "output times, comma-separated, in [0, t_end] ('' = 0, t_end/4, ..., "
     "t_end); t_end is always one"},
    {"run", "figure", FPF_INI_BOOL, OFF(figure), "write figure.png"},
    {"run", "threads", FPF_INI_LONG, OFF(threads),
     "threads of the sweeps (0: all cores; results do not depend on it)"},
    {"grid", "d", FPF_INI_LONG, OFF(d), "dimension: 1 or 2"},
    {"grid", "lo", T_VEC2, OFF(pde.lo),
     "lower corner of the box: one value for every axis, or 'z1, z2'"},
    {"grid", "hi", T_VEC2, OFF(pde.hi), "upper corner of the box"},
    {"grid", "cells", T_CELLS, OFF(pde.cells),
     "cells per axis: one count for every axis, or 'n1, n2'"},
    {"scheme", "flux", T_FLUX, OFF(pde.flux),
     "chang_cooper | scharfetter_gummel (the same flux, two evaluations)"},
    {"scheme", "splitting", T_SPLIT, OFF(pde.splitting),
     "lie | strang: how the 2-D step is split into x and y sweeps"},
    {"scheme", "min_cells_per_well", FPF_INI_DOUBLE,
     OFF(pde.min_cells_per_well),
     "refuse a grid with fewer cells across a well's Gibbs width (0: off)"},
    {"scheme", "max_outside", FPF_INI_DOUBLE, OFF(pde.max_outside),
     "largest fraction of the initial density allowed outside the box"},
    {"init", "init", FPF_INI_STR, OFF(init),
     "initial density: gaussian | point | gibbs | a path to an (n, d) .npy "
     "of particles (histogram)"},
    {"init", "init_mean", T_VEC2, OFF(init_mean),
     "gaussian: mean; point: the point (one value or 'z1, z2')"},
    {"init", "init_std", T_VEC2, OFF(init_std),
     "gaussian: standard deviation per axis"},
    {"landscape", "landscape", FPF_INI_STR, OFF(landscape),
     "two_wells | quadratic | mixture | rosenbrock | decoder"},
    {"landscape", "quad_curvature", FPF_INI_DOUBLE, OFF(quad_curvature),
     "quadratic: A = quad_curvature I"},
    {"landscape", "quad_center", FPF_INI_DOUBLE, OFF(quad_center),
     "quadratic: every coordinate of the minimum m"},
    {"landscape", "mixture_k", FPF_INI_LONG, OFF(mixture_k),
     "mixture: number of wells, on a circle (in 1-D at R cos(2 pi k / K))"},
    {"landscape", "mixture_radius", FPF_INI_DOUBLE, OFF(mixture_radius),
     "mixture: radius R of that circle"},
    {"landscape", "mixture_width", FPF_INI_DOUBLE, OFF(mixture_width),
     "mixture: width s of every well"},
    {"landscape", "rosen_a", FPF_INI_DOUBLE, OFF(rosen_a), "rosenbrock: a"},
    {"landscape", "rosen_b", FPF_INI_DOUBLE, OFF(rosen_b), "rosenbrock: b"},
    {"landscape", "decoder_hidden", FPF_INI_LONG, OFF(decoder_hidden),
     "decoder: hidden units"},
    {"landscape", "decoder_dx", FPF_INI_LONG, OFF(decoder_dx),
     "decoder: output size D_x"},
    {"landscape", "seed", FPF_INI_U64, OFF(seed),
     "decoder: seed of its weights and target (as fpflow run draws them)"},
    {"schedule", "eta0", FPF_INI_DOUBLE, OFF(pde.dyn.eta0),
     "initial learning rate"},
    {"schedule", "tau_eta", FPF_INI_DOUBLE, OFF(pde.dyn.tau_eta),
     "eta(t) = eta0 / (1 + t / tau_eta)"},
    {"schedule", "D0", FPF_INI_DOUBLE, OFF(pde.dyn.D0), "base diffusion"},
    {"schedule", "tau_D", FPF_INI_DOUBLE, OFF(pde.dyn.tau_D),
     "c(t) = D0 exp(-t / tau_D)"},
    {"dynamics", "lambda", FPF_INI_DOUBLE, OFF(pde.dyn.lambda),
     "entropy weight in mu = -eta (grad L + lambda g), g from the grid "
     "density"},
    {"dynamics", "gamma", FPF_INI_DOUBLE, OFF(pde.dyn.gamma),
     "Fisher coupling: D_k = c s_k (1 + gamma F_kk), F from the grid "
     "density"},
    {"dynamics", "entropy_form", FPF_INI_FORM, OFF(pde.dyn.entropy_form),
     "source (-grad rho (1 + log rho)) | wasserstein (-grad log rho)"},
    {"dynamics", "diffusion_scale", T_VEC2, OFF(pde.diffusion_scale),
     "s_k per axis: one value (scalar D) or 's1, s2' (diagonal D)"},
};

void fpf_pde_config_defaults(fpf_pde_config *c) {
  memset(c, 0, sizeof *c);
  fpf_pde_options_init(&c->pde);
  /* the source's quick start */
  c->pde.dyn.eta0 = 0.1;
  c->pde.dyn.D0 = 0.5;
  c->d = 2;
  c->t_end = 1.0;
  c->figure = 1;
  strcpy(c->init, "gaussian");
  c->init_std[0] = c->init_std[1] = 1.0;
  strcpy(c->landscape, "two_wells");
  c->quad_curvature = 1.0;
  c->mixture_k = 4;
  c->mixture_radius = 3.0;
  c->mixture_width = 1.0;
  c->rosen_a = 1.0;
  c->rosen_b = 100.0;
  c->decoder_hidden = 128;
  c->decoder_dx = 16;
  c->seed = 42;
}

/* "a" or "a, b" into v[0], v[1] (one value fills both); 0 or -1. */
static int parse_pair(const char *s, double v[2], int whole) {
  char buf[FPF_PDE_CFG_STR];
  if (strlen(s) >= sizeof buf) return -1;
  strcpy(buf, s);
  char *comma = strchr(buf, ',');
  if (comma) *comma = '\0';
  double a, b;
  if (fpf_ini_parse_double(buf, 1, &a)) return -1;
  b = a;
  if (comma && (strchr(comma + 1, ',') ||
                fpf_ini_parse_double(comma + 1, 1, &b)))
    return -1;
  if (whole && (a != floor(a) || b != floor(b) || a < 0 || b < 0 ||
                a > 1e9 || b > 1e9))
    return -1;
  v[0] = a;
  v[1] = b;
  return 0;
}

static const char *parse_own(void *cfg, const fpf_ini_key *k,
                             const char *val) {
  char *p = (char *)cfg + k->off;
  double pair[2];
  switch (k->type) {
    case T_VEC2:
      if (parse_pair(val, pair, 0)) return "one finite number or two, 'a, b'";
      memcpy(p, pair, sizeof pair);
      return NULL;
    case T_CELLS:
      if (parse_pair(val, pair, 1))
        return "one whole number >= 0 or two, 'n1, n2'";
      ((size_t *)p)[0] = (size_t)pair[0], ((size_t *)p)[1] = (size_t)pair[1];
      return NULL;
    case T_FLUX:
      if (fpf_pde_flux_form_parse(val, (fpf_pde_flux_form *)p))
        return "chang_cooper or scharfetter_gummel";
      return NULL;
    case T_SPLIT:
      if (fpf_pde_splitting_parse(val, (fpf_pde_splitting *)p))
        return "lie or strang";
      return NULL;
  }
  return "valid";
}

static void write_own(const void *cfg, const fpf_ini_key *k, FILE *f,
                      int exact) {
  const char *p = (const char *)cfg + k->off;
  switch (k->type) {
    case T_VEC2: {
      const double *v = (const double *)p;
      if (v[0] == v[1]) fprintf(f, exact ? "%.17g" : "%g", v[0]);
      else fprintf(f, exact ? "%.17g, %.17g" : "%g, %g", v[0], v[1]);
      break;
    }
    case T_CELLS: {
      const size_t *v = (const size_t *)p;
      if (v[0] == v[1]) fprintf(f, "%zu", v[0]);
      else fprintf(f, "%zu, %zu", v[0], v[1]);
      break;
    }
    case T_FLUX:
      fputs(fpf_pde_flux_form_name(*(const fpf_pde_flux_form *)p), f);
      break;
    case T_SPLIT:
      fputs(fpf_pde_splitting_name(*(const fpf_pde_splitting *)p), f);
      break;
  }
}

/* Numbers may end in blanks (as in pairs and times), and --help shows
   them as the resolved file does. */
static const fpf_ini_table table = {
    .keys = keys, .nkeys = sizeof keys / sizeof keys[0],
    .command = "pde", .what = "grid run",
    .blanks = 1,
    .help_exact = 1, .help_name = 18, .help_value = 12,
    .parse = parse_own, .write = write_own};

fpf_status fpf_pde_config_load(fpf_pde_config *c, const char *path,
                               fpf_error *err) {
  return fpf_ini_load(&table, c, path, err);
}

fpf_status fpf_pde_config_set(fpf_pde_config *c, const char *assignment,
                              fpf_error *err) {
  return fpf_ini_set(&table, c, assignment, err);
}

/* The output times from the `times` text, or five by default. */
static fpf_status resolve_times(fpf_pde_config *c, fpf_error *err) {
  c->nout = 0;
  if (!c->times[0]) {
    for (int i = 0; i <= 4; i++) c->out[c->nout++] = c->t_end * i / 4.0;
    return FPF_OK;
  }
  char buf[FPF_PDE_CFG_STR], *save = NULL;
  strcpy(buf, c->times);
  for (char *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') tok++;
    double t;
    if (fpf_ini_parse_double(tok, 1, &t))
      return fpf_error_set(err, FPF_EINVAL, "times = '%s': '%s' is not a "
                           "finite number", c->times, tok);
    if (t < 0 || t > c->t_end)
      return fpf_error_set(err, FPF_EINVAL, "times = '%s': %g is outside "
                           "[0, t_end = %g]", c->times, t, c->t_end);
    if (c->nout && t <= c->out[c->nout - 1])
      return fpf_error_set(err, FPF_EINVAL, "times = '%s': must increase "
                           "(%g after %g)", c->times, t,
                           c->out[c->nout - 1]);
    if (c->nout + 1 >= FPF_PDE_MAX_TIMES)
      return fpf_error_set(err, FPF_EINVAL, "times = '%s': more than %d",
                           c->times, FPF_PDE_MAX_TIMES - 1);
    c->out[c->nout++] = t;
  }
  if (!c->nout || c->out[c->nout - 1] < c->t_end) c->out[c->nout++] = c->t_end;
  return FPF_OK;
}

static int is_one_of(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, list[i])) return 1;
  return 0;
}

fpf_status fpf_pde_config_check(fpf_pde_config *c, fpf_error *err) {
  if (c->d != 1 && c->d != 2)
    return fpf_error_set(err, FPF_EINVAL, "d = %ld: the grid solver works "
                         "in 1 or 2 dimensions", c->d);
  if (!(c->t_end > 0))
    return fpf_error_set(err, FPF_EINVAL, "t_end = %g: must be > 0",
                         c->t_end);
  if (c->threads < 0)
    return fpf_error_set(err, FPF_EINVAL, "threads = %ld: must be >= 0",
                         c->threads);
  static const char *const known[] = {"two_wells", "quadratic", "mixture",
                                      "rosenbrock", "decoder"};
  const char *ls = c->landscape;
  if (!is_one_of(ls, known, sizeof known / sizeof known[0]))
    return fpf_error_set(err, FPF_EINVAL,
                         "landscape = '%s' is unknown (two_wells, quadratic, "
                         "mixture, rosenbrock, decoder)", ls);
  if ((!strcmp(ls, "two_wells") || !strcmp(ls, "rosenbrock")) && c->d != 2)
    return fpf_error_set(err, FPF_EINVAL, "landscape %s is 2-dimensional "
                         "but d = %ld", ls, c->d);
  if (!strcmp(ls, "mixture") && c->mixture_k < 1)
    return fpf_error_set(err, FPF_EINVAL, "mixture_k = %ld: must be >= 1",
                         c->mixture_k);
  if (!strcmp(ls, "decoder") && (c->decoder_hidden < 1 || c->decoder_dx < 1))
    return fpf_error_set(err, FPF_EINVAL, "decoder_hidden = %ld, decoder_dx "
                         "= %ld: both must be >= 1", c->decoder_hidden,
                         c->decoder_dx);
  static const char *const inits[] = {"gaussian", "point", "gibbs"};
  size_t len = strlen(c->init);
  if (!is_one_of(c->init, inits, 3) &&
      (len < 5 || strcmp(c->init + len - 4, ".npy")))
    return fpf_error_set(err, FPF_EINVAL, "init = '%s': must be gaussian, "
                         "point, gibbs or a path ending in .npy", c->init);
  for (long k = 0; k < c->d; k++)
    if (!strcmp(c->init, "gaussian") && !(c->init_std[k] > 0))
      return fpf_error_set(err, FPF_EINVAL, "init_std = %g along axis %ld: "
                           "must be > 0", c->init_std[k], k + 1);
  fpf_status st = resolve_times(c, err);
  if (st) return st;
  return fpf_pde_options_check(&c->pde, (size_t)c->d, err);
}

static fpf_status make_decoder(const fpf_pde_config *c, fpf_landscape **L,
                               fpf_error *err) {
  size_t d = (size_t)c->d, H = (size_t)c->decoder_hidden,
         X = (size_t)c->decoder_dx;
  double *W1 = malloc(H * d * sizeof *W1), *W2 = malloc(X * H * sizeof *W2);
  double *x = malloc(X * sizeof *x);
  fpf_status st;
  if (!W1 || !W2 || !x) {
    st = fpf_error_set(err, FPF_ENOMEM, "decoder: out of memory");
  } else {
    /* He-scaled weights and a target, drawn as fpflow run draws them */
    fpf_rng_normals(c->seed, FPF_STREAM_USER + 1, 0, 0, W1, H * d);
    fpf_rng_normals(c->seed, FPF_STREAM_USER + 1, 0, 1, W2, X * H);
    fpf_rng_normals(c->seed, FPF_STREAM_USER + 1, 0, 2, x, X);
    for (size_t i = 0; i < H * d; i++) W1[i] *= sqrt(2.0 / (double)d);
    for (size_t i = 0; i < X * H; i++) W2[i] *= sqrt(1.0 / (double)H);
    st = fpf_landscape_decoder(L, d, H, X, W1, NULL, W2, NULL, x, err);
  }
  free(W1);
  free(W2);
  free(x);
  return st;
}

fpf_status fpf_pde_config_landscape(const fpf_pde_config *c,
                                    fpf_landscape **L, fpf_error *err) {
  const char *ls = c->landscape;
  size_t d = (size_t)c->d;
  if (!strcmp(ls, "two_wells")) return fpf_landscape_two_wells(L, err);
  if (!strcmp(ls, "rosenbrock"))
    return fpf_landscape_rosenbrock(L, d, c->rosen_a, c->rosen_b, err);
  if (!strcmp(ls, "decoder")) return make_decoder(c, L, err);
  if (!strcmp(ls, "quadratic")) {
    double m[2] = {c->quad_center, c->quad_center};
    double A[4] = {c->quad_curvature, 0, 0, c->quad_curvature};
    return fpf_landscape_quadratic(L, d, m, A, err);
  }
  /* mixture: K wells on a circle (its first coordinate in 1-D) */
  size_t K = (size_t)c->mixture_k;
  double *means = calloc(K * d, sizeof *means), *w = malloc(K * sizeof *w);
  fpf_status st;
  if (means && w) {
    for (size_t k = 0; k < K; k++) {
      double a = 2.0 * M_PI * (double)k / (double)K;
      means[k * d] = c->mixture_radius * cos(a);
      if (d > 1) means[k * d + 1] = c->mixture_radius * sin(a);
      w[k] = c->mixture_width;
    }
    st = fpf_landscape_mixture(L, d, K, means, w, NULL, err);
  } else {
    st = fpf_error_set(err, FPF_ENOMEM, "mixture: out of memory");
  }
  free(means);
  free(w);
  return st;
}

void fpf_pde_config_write(const fpf_pde_config *c, FILE *f) {
  fpf_ini_write(&table, c, f);
}

void fpf_pde_config_help(FILE *f) {
  fpf_pde_config def;
  fpf_pde_config_defaults(&def);
  fpf_ini_help(&table, &def, f);
}
