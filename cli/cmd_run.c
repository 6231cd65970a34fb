/*
 * fpflow run: evolve an ensemble and write what the flow did.
 *
 * Outputs in DIR: config.ini (every parameter, resolved), metrics.csv (a
 * row per step, flushed as the run goes), z_initial.npy, z_final.npy,
 * summary.json and figure.png.  A run that fails part-way keeps all of
 * these, with the last good particles and the reason in summary.json.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "figure.h"
#include "fpflow/detect.h"
#include "fpflow/dyn.h"
#include "fpflow/npy.h"
#include "fpflow/rng.h"
#include "fpflow/transport.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow run [CONFIG.ini] [--set key=value]... [-o DIR]\n"
          "                  [--threads N] [-q] [-v]\n\n"
          "Evolves N particles under the Fokker-Planck drift and diffusion\n"
          "and writes to DIR (default fpflow_run): config.ini, metrics.csv,\n"
          "summary.json, z_initial.npy, z_final.npy and figure.png.\n"
          "Without CONFIG it runs the source document's quick start: 500\n"
          "particles on the two wells, 100 steps, eta0 = 0.1, D0 = 0.5.\n\n"
          "options:\n"
          "  --set key=value  override one key (or section.key=value)\n"
          "  -o, --out DIR    output directory (created if missing)\n"
          "  --threads N      threads (same as --set threads=N)\n"
          "  -q, --quiet      print warnings and errors only\n"
          "  -v, --verbose    print every reset and more\n"
          "  -h, --help       this text\n\n"
          "configuration keys (INI sections in brackets) and defaults:\n");
  fpf_config_help(f);
}

/* ---- landscapes from the configuration ------------------------------- */

typedef int (*plugin_init_fn)(const char *args, size_t d, void **user);

static fpf_status load_plugin(const fpf_run_config *c, fpf_landscape **L,
                              void **handle, fpf_error *err) {
  /* a bare name would make dlopen search the system's library path */
  char path[FPF_CFG_STR + 2];
  snprintf(path, sizeof path, "%s%s", strchr(c->plugin, '/') ? "" : "./",
           c->plugin);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    return fpf_error_set(err, FPF_EIO, "plugin %s: %s", c->plugin, dlerror());
  fpf_landscape_fn fn = (fpf_landscape_fn)dlsym(h, "fpflow_landscape");
  if (!fn) {
    dlclose(h);
    return fpf_error_set(err, FPF_EFORMAT,
                         "plugin %s: no symbol 'fpflow_landscape' (see "
                         "docs/library.md, 'A user landscape')", c->plugin);
  }
  void *user = NULL;
  plugin_init_fn init = (plugin_init_fn)dlsym(h, "fpflow_landscape_init");
  if (init && init(c->plugin_args, (size_t)c->d, &user) != 0) {
    dlclose(h);
    return fpf_error_set(err, FPF_ECALLBACK,
                         "plugin %s: fpflow_landscape_init('%s', d = %ld) "
                         "failed", c->plugin, c->plugin_args, c->d);
  }
  *handle = h;
  return fpf_landscape_callback(L, (size_t)c->d, fn, user, err);
}

static fpf_status read_exact(const char *dir, const char *name, int ndim,
                             const size_t *shape, double **out,
                             fpf_error *err) {
  char path[1024];
  fpf_array a = {0};
  fpf_status st = fpf_npy_read(fpf_cli_path(path, sizeof path, dir, name), &a,
                               err);
  if (st) return st;
  int ok = a.ndim == ndim;
  for (int i = 0; ok && i < ndim; i++) ok = a.shape[i] == shape[i];
  if (!ok) {
    fpf_array_free(&a);
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: shape does not fit decoder_hidden and "
                         "decoder_dx (expected %zu x %zu)", path, shape[0],
                         ndim > 1 ? shape[1] : 1);
  }
  if ((st = fpf_array_check_finite(&a, path, err))) {
    fpf_array_free(&a);
    return st;
  }
  *out = a.data;
  return FPF_OK;
}

static fpf_status make_decoder(const fpf_run_config *c, fpf_landscape **L,
                               fpf_error *err) {
  size_t d = (size_t)c->d, H = (size_t)c->decoder_hidden,
         X = (size_t)c->decoder_dx;
  double *W1 = NULL, *b1 = NULL, *W2 = NULL, *b2 = NULL, *x = NULL;
  fpf_status st = FPF_OK;
  if (c->decoder_weights[0]) {
    const char *dir = c->decoder_weights;
    size_t s1[] = {H, d}, s2[] = {H}, s3[] = {X, H}, s4[] = {X};
    if ((st = read_exact(dir, "W1.npy", 2, s1, &W1, err)) ||
        (st = read_exact(dir, "b1.npy", 1, s2, &b1, err)) ||
        (st = read_exact(dir, "W2.npy", 2, s3, &W2, err)) ||
        (st = read_exact(dir, "b2.npy", 1, s4, &b2, err)) ||
        (st = read_exact(dir, "x.npy", 1, s4, &x, err)))
      goto done;
  } else {
    /* He-scaled weights and a target drawn from the run's seed */
    W1 = malloc(H * d * sizeof *W1);
    W2 = malloc(X * H * sizeof *W2);
    x = malloc(X * sizeof *x);
    if (!W1 || !W2 || !x) {
      st = fpf_error_set(err, FPF_ENOMEM, "decoder: out of memory");
      goto done;
    }
    uint64_t s = c->dyn.seed;
    fpf_rng_normals(s, FPF_STREAM_USER + 1, 0, 0, W1, H * d);
    fpf_rng_normals(s, FPF_STREAM_USER + 1, 0, 1, W2, X * H);
    fpf_rng_normals(s, FPF_STREAM_USER + 1, 0, 2, x, X);
    for (size_t i = 0; i < H * d; i++) W1[i] *= sqrt(2.0 / (double)d);
    for (size_t i = 0; i < X * H; i++) W2[i] *= sqrt(1.0 / (double)H);
  }
  st = fpf_landscape_decoder(L, d, H, X, W1, b1, W2, b2, x, err);
done:
  free(W1);
  free(b1);
  free(W2);
  free(b2);
  free(x);
  return st;
}

static fpf_status make_landscape(const fpf_run_config *c, fpf_landscape **L,
                                 void **plugin, fpf_error *err) {
  size_t d = (size_t)c->d;
  const char *ls = c->landscape;
  if (!strcmp(ls, "two_wells")) return fpf_landscape_two_wells(L, err);
  if (!strcmp(ls, "rosenbrock"))
    return fpf_landscape_rosenbrock(L, d, c->rosen_a, c->rosen_b, err);
  if (!strcmp(ls, "decoder")) return make_decoder(c, L, err);
  if (!strcmp(ls, "plugin")) return load_plugin(c, L, plugin, err);
  if (!strcmp(ls, "quadratic")) {
    double *m = malloc(d * sizeof *m), *A = calloc(d * d, sizeof *A);
    fpf_status st = FPF_ENOMEM;
    if (m && A) {
      for (size_t i = 0; i < d; i++) {
        m[i] = c->quad_center;
        A[i * d + i] = c->quad_curvature;
      }
      st = fpf_landscape_quadratic(L, d, m, A, err);
    } else {
      fpf_error_set(err, st, "quadratic: out of memory");
    }
    free(m);
    free(A);
    return st;
  }
  /* mixture: K wells on a circle in the first two coordinates */
  size_t K = (size_t)c->mixture_k;
  double *means = calloc(K * d, sizeof *means), *w = malloc(K * sizeof *w);
  fpf_status st = FPF_ENOMEM;
  if (means && w) {
    for (size_t k = 0; k < K; k++) {
      double a = 2.0 * M_PI * (double)k / (double)K;
      means[k * d] = c->mixture_radius * cos(a);
      if (d > 1) means[k * d + 1] = c->mixture_radius * sin(a);
      w[k] = c->mixture_width;
    }
    st = fpf_landscape_mixture(L, d, K, means, w, NULL, err);
  } else {
    fpf_error_set(err, st, "mixture: out of memory");
  }
  free(means);
  free(w);
  return st;
}

/* ---- the initial ensemble --------------------------------------------- */

static fpf_status initial_ensemble(fpf_run_config *c, double **z,
                                   fpf_error *err) {
  if (strcmp(c->init, "normal")) {
    fpf_array a = {0};
    fpf_status st = fpf_npy_read(c->init, &a, err);
    if (st) return st;
    if (a.ndim != 2) {
      int nd = a.ndim;
      fpf_array_free(&a);
      return fpf_error_set(err, FPF_EFORMAT,
                           "init %s: expected an (n, d) array, found rank %d",
                           c->init, nd);
    }
    if ((st = fpf_array_check_finite(&a, c->init, err))) {
      fpf_array_free(&a);
      return st;
    }
    if ((long)a.shape[1] != c->d) {
      size_t dd = a.shape[1];
      fpf_array_free(&a);
      return fpf_error_set(err, FPF_EFORMAT,
                           "init %s: particles have d = %zu but the "
                           "configuration says d = %ld", c->init, dd, c->d);
    }
    if (c->n_given && (long)a.shape[0] != c->n) {
      size_t nn = a.shape[0];
      fpf_array_free(&a);
      return fpf_error_set(err, FPF_EFORMAT,
                           "init %s holds n = %zu particles but n = %ld was "
                           "set; drop n or make them agree", c->init, nn,
                           c->n);
    }
    c->n = (long)a.shape[0];
    *z = a.data;
    return FPF_OK;
  }
  size_t n = (size_t)c->n, d = (size_t)c->d;
  *z = malloc(n * d * sizeof **z);
  if (!*z)
    return fpf_error_set(err, FPF_ENOMEM,
                         "init: out of memory for n = %zu particles in d = "
                         "%zu (%.3g GB for the particles alone); a smaller "
                         "n or d will fit", n, d, 8e-9 * (double)n * (double)d);
  for (size_t i = 0; i < n; i++) {
    fpf_rng_normals(c->dyn.seed, FPF_STREAM_INIT, 0, i, *z + i * d, d);
    for (size_t k = 0; k < d; k++)
      (*z)[i * d + k] = c->init_mean + c->init_std * (*z)[i * d + k];
  }
  return FPF_OK;
}

/* ---- outputs ------------------------------------------------------------ */

static const char *csv_header =
    "step,t,eta,c,boost,h,loss_mean,C,log_C,C_vel,log_C_vel,S_dot,H_kde,"
    "H_knn,T_eff,T_gibbs,mu_rms,div_max,reset,W2_star,KL_star\n";

/* w2 and kl: the distances to rho* (NaN on rows where none was taken). */
static void csv_row(FILE *f, const fpf_metrics *m, double w2, double kl) {
  fprintf(f,
          "%ld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
          "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d,%.17g,%.17g\n",
          m->step, m->t, m->eta, m->c, m->boost, m->h, m->loss_mean, m->C,
          m->log_C, m->C_vel, m->log_C_vel, m->S_dot, m->H_kde, m->H_knn,
          m->T_eff, m->T_gibbs, m->mu_rms, m->div_max, m->reset, w2, kl);
}

static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *metrics_json(const fpf_metrics *m) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "step", (double)m->step);
  cJSON_AddItemToObject(o, "t", num(m->t));
  cJSON_AddItemToObject(o, "loss_mean", num(m->loss_mean));
  cJSON_AddItemToObject(o, "C", num(m->C));
  cJSON_AddItemToObject(o, "log_C", num(m->log_C));
  cJSON_AddItemToObject(o, "C_vel", num(m->C_vel));
  cJSON_AddItemToObject(o, "S_dot", num(m->S_dot));
  cJSON_AddItemToObject(o, "H_kde", num(m->H_kde));
  cJSON_AddItemToObject(o, "H_knn", num(m->H_knn));
  cJSON_AddItemToObject(o, "T_eff", num(m->T_eff));
  cJSON_AddItemToObject(o, "T_gibbs", num(m->T_gibbs));
  return o;
}

/* Everything a run keeps in memory for its summary and figure. */
typedef struct history {
  fpf_metrics *m;
  long n;
  double *C, *C_vel, *sdot, *loss;
  int *reset;
} history;

static fpf_status history_alloc(history *h, long steps, fpf_error *err) {
  size_t n = (size_t)steps;
  h->n = 0;
  h->m = calloc(n, sizeof *h->m);
  h->C = calloc(n, sizeof(double));
  h->C_vel = calloc(n, sizeof(double));
  h->sdot = calloc(n, sizeof(double));
  h->loss = calloc(n, sizeof(double));
  h->reset = calloc(n, sizeof(int));
  if (!h->m || !h->C || !h->C_vel || !h->sdot || !h->loss || !h->reset)
    return fpf_error_set(err, FPF_ENOMEM, "run: out of memory for %ld steps",
                         steps);
  return FPF_OK;
}

static void history_free(history *h) {
  free(h->m);
  free(h->C);
  free(h->C_vel);
  free(h->sdot);
  free(h->loss);
  free(h->reset);
}

static void history_push(history *h, const fpf_metrics *m) {
  long i = h->n++;
  h->m[i] = *m;
  h->C[i] = m->C;
  h->C_vel[i] = m->C_vel;
  h->sdot[i] = m->S_dot;
  h->loss[i] = m->loss_mean;
  h->reset[i] = m->reset;
}

static cJSON *transitions_json(const history *h, const fpf_run_config *c,
                               size_t *count) {
  cJSON *arr = cJSON_CreateArray();
  *count = 0;
  if (h->n < 3) return arr;
  size_t *rows = malloc((size_t)h->n * sizeof *rows), nt = 0;
  fpf_error e;
  fpf_error_clear(&e);
  if (rows && !fpf_detect_transitions(h->C, h->sdot, h->loss, (size_t)h->n,
                                      &c->det, rows, &nt, NULL, &e)) {
    for (size_t i = 0; i < nt; i++) {
      const fpf_metrics *m = &h->m[rows[i]];
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "step", (double)m->step);
      cJSON_AddItemToObject(o, "C", num(m->C));
      cJSON_AddItemToObject(o, "S_dot", num(m->S_dot));
      cJSON_AddItemToObject(o, "loss_mean", num(m->loss_mean));
      cJSON_AddItemToArray(arr, o);
    }
    *count = nt;
  } else if (e.msg[0]) {
    fpf_cli_info("transition detection skipped: %s", e.msg);
  }
  free(rows);
  return arr;
}

/* extra (may be NULL) is added as "reference_sampler" and consumed. */
static fpf_status write_summary(const char *dir, const fpf_run_config *c,
                                const history *h, double wall,
                                const fpf_error *failure, cJSON *extra,
                                fpf_error *err) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fpflow_version", fpf_version());
  cJSON_AddStringToObject(o, "status",
                          !failure                         ? "ok"
                          : failure->status == FPF_ESTOPPED ? "interrupted"
                                                            : "failed");
  if (failure) cJSON_AddStringToObject(o, "error", failure->msg);
  cJSON_AddNumberToObject(o, "steps_done", (double)h->n);
  cJSON_AddNumberToObject(o, "steps_requested", (double)c->steps);
  cJSON_AddNumberToObject(o, "n", (double)c->n);
  cJSON_AddNumberToObject(o, "d", (double)c->d);
  cJSON_AddStringToObject(o, "landscape", c->landscape);
  cJSON_AddNumberToObject(o, "seed", (double)c->dyn.seed);
  cJSON_AddNumberToObject(o, "wall_time_s", wall);
  cJSON *resets = cJSON_AddArrayToObject(o, "resets");
  for (long i = 0; i < h->n; i++)
    if (h->reset[i]) cJSON_AddItemToArray(resets, cJSON_CreateNumber(i));
  size_t nt;
  cJSON_AddItemToObject(o, "transitions", transitions_json(h, c, &nt));
  if (h->n > 0) cJSON_AddItemToObject(o, "final", metrics_json(&h->m[h->n - 1]));
  if (extra) cJSON_AddItemToObject(o, "reference_sampler", extra);
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  char path[1024];
  fpf_cli_path(path, sizeof path, dir, "summary.json");
  fpf_status st = text ? fpf_cli_write_text(path, text, err)
                       : fpf_error_set(err, FPF_ENOMEM, "summary: no memory");
  free(text);
  return st;
}

/* ---- distance to the stationary law (w2_every) ------------------------ */

/*
 * Every w2_every steps the particles of the metrics row are compared
 * with a reference sample of rho* = exp(-beta L) / Z, beta = eta / (c +
 * boost) = 1 / T_gibbs of that row (transport.h): W2_star by w2_method,
 * KL_star by fpf_gibbs_kl.  A failure of either is reported once and
 * leaves NaN; the run goes on.
 */
typedef struct star {
  fpf_gibbs *ref;
  double *z;     /* the particles the row describes */
  size_t n, d, nref;
  double w2, kl; /* of the current row */
  double last_w2, last_kl;
  long last_step, measured;
  fpf_w2_method used;
  int warned_w2, warned_kl;
} star;

static fpf_status star_setup(star *t, const fpf_run_config *c,
                             fpf_landscape *L, const double *z0,
                             fpf_error *err) {
  t->w2 = t->kl = t->last_w2 = t->last_kl = NAN;
  t->last_step = -1;
  if (c->w2_every <= 0) return FPF_OK;
  t->n = (size_t)c->n;
  t->d = (size_t)c->d;
  t->nref = c->w2_reference_n > 0 ? (size_t)c->w2_reference_n : t->n;
  t->z = malloc(t->n * t->d * sizeof *t->z);
  if (!t->z) return fpf_error_set(err, FPF_ENOMEM, "w2: out of memory");
  fpf_gibbs_options go;
  fpf_gibbs_options_init(&go);
  go.n = t->nref;
  go.init = z0;
  go.n_init = t->n;
  go.seed = c->dyn.seed;
  fpf_status st = fpf_gibbs_create(&t->ref, L, &go, err);
  if (st == FPF_ENOTPD) {
    /* a landscape with no Gibbs law is a bad configuration */
    fpf_error_prefix(err, "reference sample of rho* (w2_every = %ld, "
                     "quad_curvature = %g): ", c->w2_every,
                     c->quad_curvature);
    err->status = st = FPF_EINVAL;
  }
  return st;
}

static void star_measure(star *t, const fpf_run_config *c, fpf_landscape *L,
                         const fpf_metrics *m) {
  double beta = m->eta / (m->c + m->boost);
  fpf_error e;
  fpf_error_clear(&e);
  fpf_status st = fpf_gibbs_sample(t->ref, beta, &e);
  if (!st) {
    fpf_cloud A = {.x = t->z, .n = t->n, .d = t->d, .name = "particles"};
    fpf_cloud B = {.x = fpf_gibbs_points(t->ref), .n = t->nref, .d = t->d,
                   .name = "reference sample"};
    fpf_w2_options o;
    fpf_w2_options_init(&o);
    fpf_w2_method_parse(c->w2_method, &o.method);
    o.seed = c->dyn.seed;
    fpf_w2_result r;
    if (!(st = fpf_w2_distance(&A, &B, &o, &r, &e))) {
      t->w2 = r.w2;
      t->used = r.method;
      if (!r.converged && !t->warned_w2++)
        fpf_cli_error("W2_star at step %ld: Sinkhorn did not converge in "
                      "%ld iterations (marginal error %.2g); the value is "
                      "approximate", m->step, r.iterations,
                      r.marginal_error);
    }
  }
  if (st && !t->warned_w2++)
    fpf_cli_error("W2_star at step %ld: %s (NaN where it fails)", m->step,
                  e.msg);
  fpf_kl_result kr;
  size_t k = c->dyn.knn_k ? c->dyn.knn_k : 3;
  if ((st = fpf_gibbs_kl(L, beta, t->z, t->n, k, m->H_knn, &kr, &e))) {
    if (!t->warned_kl++)
      fpf_cli_error("KL_star at step %ld: %s (NaN where it fails)", m->step,
                    e.msg);
  } else if (isnan(kr.kl) && !t->warned_kl++) {
    fpf_cli_info("KL_star is NaN: %s", kr.reason);
  }
  t->kl = st ? NAN : kr.kl;
  t->last_w2 = t->w2;
  t->last_kl = t->kl;
  t->last_step = m->step;
  t->measured++;
}

/* The sampler's record for summary.json, or NULL when w2_every = 0. */
static cJSON *star_json(const star *t, const fpf_run_config *c) {
  if (!t->ref) return NULL;
  fpf_gibbs_info gi;
  fpf_gibbs_get_info(t->ref, &gi);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "w2_every", (double)c->w2_every);
  cJSON_AddStringToObject(o, "w2_method", c->w2_method);
  if (t->measured)
    cJSON_AddStringToObject(o, "w2_method_used", fpf_w2_method_name(t->used));
  cJSON_AddNumberToObject(o, "points", (double)t->nref);
  cJSON_AddStringToObject(o, "sampler", gi.calls ? fpf_gibbs_method_name(
                                                       gi.method)
                                                 : "none");
  cJSON_AddItemToObject(o, "acceptance", num(gi.acceptance));
  cJSON_AddItemToObject(o, "step_size", num(gi.step));
  cJSON_AddNumberToObject(o, "mala_steps", (double)gi.steps);
  cJSON_AddNumberToObject(o, "samples", (double)gi.calls);
  cJSON_AddNumberToObject(o, "last_step", (double)t->last_step);
  cJSON_AddItemToObject(o, "W2_star", num(t->last_w2));
  cJSON_AddItemToObject(o, "KL_star", num(t->last_kl));
  return o;
}

static void star_free(star *t) {
  fpf_gibbs_destroy(t->ref);
  free(t->z);
}

/* ---- the command ------------------------------------------------------- */

typedef fpf_cli_job_args run_args;

static int parse_args(int argc, char **argv, run_args *a) {
  return fpf_cli_parse_job(argc, argv, "run", "fpflow_run", usage, a);
}

/* Resolves the configuration; exit code or 0. */
static int resolve(const run_args *a, fpf_run_config *c) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_config_defaults(c);
  if (a->config && fpf_config_load(c, a->config, &err))
    return fpf_cli_fail(&err);
  for (int i = 0; i < a->nsets; i++)
    if (fpf_config_set(c, a->sets[i], &err)) return fpf_cli_fail(&err);
  if (fpf_config_check(c, &err)) {
    fpf_error_prefix(&err, "%s: ", a->config ? a->config : "configuration");
    return fpf_cli_fail(&err);
  }
  return 0;
}

typedef struct run_state {
  fpf_run_config c;
  fpf_landscape *L;
  void *plugin;
  fpf_dyn *dyn;
  double *z0;
  FILE *csv;
  history h;
  star star;
} run_state;

static const char *const run_outputs[] = {
    "config.ini",    "metrics.csv", "summary.json",
    "z_initial.npy", "z_final.npy", "figure.png"};

static fpf_status setup(run_state *s, const char *dir, fpf_error *err) {
  fpf_run_config *c = &s->c;
  fpf_status st;
  if ((st = initial_ensemble(c, &s->z0, err)) ||
      (st = make_landscape(c, &s->L, &s->plugin, err)))
    return st;
  c->dyn.log = fpf_cli_log;
  if ((st = fpf_dyn_create(&s->dyn, s->L, (size_t)c->n, s->z0, &c->dyn, err)) ||
      (st = star_setup(&s->star, c, s->L, s->z0, err)))
    return st;
  if ((st = fpf_cli_mkdirs(dir, err)) || (st = history_alloc(&s->h, c->steps,
                                                             err)))
    return st;
  char path[1024];
  /* every output must be replaceable before anything is written */
  for (size_t i = 0; i < sizeof run_outputs / sizeof run_outputs[0]; i++)
    if ((st = fpf_cli_output_ok(fpf_cli_path(path, sizeof path, dir,
                                             run_outputs[i]), err)))
      return st;
  /* a figure from an earlier run in DIR would not match this one */
  if (!c->figure) remove(fpf_cli_path(path, sizeof path, dir, "figure.png"));
  FILE *f = fopen(fpf_cli_path(path, sizeof path, dir, "config.ini"), "w");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "cannot write %s: %s", path,
                         strerror(errno));
  fpf_config_write(c, f);
  if (ferror(f) | (fclose(f) != 0))
    return fpf_error_set(err, FPF_EIO, "cannot write %s: %s", path,
                         strerror(errno));
  size_t shape[2] = {(size_t)c->n, (size_t)c->d};
  if ((st = fpf_npy_write(fpf_cli_path(path, sizeof path, dir,
                                       "z_initial.npy"), s->z0, 2, shape,
                          err)))
    return st;
  s->csv = fopen(fpf_cli_path(path, sizeof path, dir, "metrics.csv"), "w");
  if (!s->csv)
    return fpf_error_set(err, FPF_EIO, "cannot write %s: %s", path,
                         strerror(errno));
  fputs(csv_header, s->csv);
  return FPF_OK;
}

/* Set by SIGINT / SIGTERM: the run stops after the current step and
 * writes what it has.  A step can take long (an exact KDE over many
 * particles), so the first signal says so, and a second one ends the
 * process at once (the default action). */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  static const char msg[] =
      "\nfpflow: run: stopping after the current step; signal again to "
      "stop at once (the outputs then miss this step and the summary)\n";
  stop_requested = sig;
  signal(sig, SIG_DFL);
  if (fpf_cli_verbosity > 0) {
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
  }
}

static fpf_status evolve(run_state *s, fpf_error *err) {
  fpf_progress p;
  fpf_progress_start(&p, "run", s->c.steps);
  fpf_status st = FPF_OK;
  for (long k = 0; k < s->c.steps; k++) {
    fpf_metrics m;
    /* the row describes the particles before the step: keep them */
    long step = fpf_dyn_steps_done(s->dyn);
    int due = s->c.w2_every > 0 && step % s->c.w2_every == 0;
    if (due)
      memcpy(s->star.z, fpf_dyn_particles(s->dyn),
             s->star.n * s->star.d * sizeof(double));
    if ((st = fpf_dyn_step(s->dyn, &m, err))) break;
    s->star.w2 = s->star.kl = NAN;
    if (due) star_measure(&s->star, &s->c, s->L, &m);
    history_push(&s->h, &m);
    csv_row(s->csv, &m, s->star.w2, s->star.kl);
    if (fflush(s->csv) != 0 || ferror(s->csv)) {
      st = fpf_error_set(err, FPF_EIO, "cannot write metrics.csv: %s",
                         strerror(errno));
      break;
    }
    if (stop_requested) {
      st = fpf_error_set(err, FPF_ESTOPPED, "interrupted by signal %d after "
                         "step %ld", (int)stop_requested, k);
      break;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "C=%.3g", m.C);
    fpf_progress_update(&p, k + 1, extra);
  }
  fpf_progress_finish(&p);
  return st;
}

static void finish(run_state *s, const char *dir, double wall,
                   const fpf_error *failure) {
  fpf_error err;
  fpf_error_clear(&err);
  char path[1024];
  size_t shape[2] = {(size_t)s->c.n, (size_t)s->c.d};
  const double *z1 = fpf_dyn_particles(s->dyn);
  if (fpf_npy_write(fpf_cli_path(path, sizeof path, dir, "z_final.npy"), z1, 2,
                    shape, &err))
    fpf_cli_error("%s", err.msg);
  if (write_summary(dir, &s->c, &s->h, wall, failure,
                    star_json(&s->star, &s->c), &err))
    fpf_cli_error("%s", err.msg);
  if (!s->c.figure || s->h.n == 0) return;
  char title[FPF_CFG_STR + 96];
  snprintf(title, sizeof title, "%s, N = %ld, d = %ld, seed %llu",
           s->c.landscape, s->c.n, s->c.d,
           (unsigned long long)s->c.dyn.seed);
  fpf_run_figure fig = {.z0 = s->z0, .z1 = z1, .n0 = shape[0],
                        .n1 = shape[0], .d = shape[1], .C = s->h.C,
                        .C_vel = s->h.C_vel, .reset = s->h.reset,
                        .nsteps = (size_t)s->h.n,
                        .threshold = s->c.dyn.C_threshold,
                        .title = title,
                        .mark_two_wells = !strcmp(s->c.landscape,
                                                  "two_wells")};
  if (fpf_figure_run(fpf_cli_path(path, sizeof path, dir, "figure.png"), &fig,
                     &err))
    fpf_cli_error("figure: %s", err.msg);
}

static void cleanup(run_state *s) {
  if (s->csv) fclose(s->csv);
  fpf_dyn_destroy(s->dyn);
  star_free(&s->star);
  fpf_landscape_destroy(s->L);
  free(s->z0);
  history_free(&s->h);
  if (s->plugin) dlclose(s->plugin);
}

int fpf_cmd_run(int argc, char **argv) {
  run_args a = {0};
  run_state s;
  memset(&s, 0, sizeof s);
  int rc = parse_args(argc, argv, &a);
  if (rc) {
    free(a.sets);
    return rc < 0 ? FPF_EXIT_OK : rc;
  }
  if ((rc = resolve(&a, &s.c))) {
    free(a.sets);
    return rc;
  }
  free(a.sets);
  fpf_set_threads((int)s.c.threads);
  fpf_error err;
  fpf_error_clear(&err);
  double t0 = fpf_cli_now();
  if (setup(&s, a.out, &err)) {
    rc = fpf_cli_fail(&err);
    cleanup(&s);
    return rc;
  }
  fpf_cli_info("run: %ld particles in d = %ld on %s, %ld steps -> %s/",
               s.c.n, s.c.d, s.c.landscape, s.c.steps, a.out);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  fpf_status st = evolve(&s, &err);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  double wall = fpf_cli_now() - t0;
  finish(&s, a.out, wall, st ? &err : NULL);
  if (st) {
    fpf_cli_error("%s", err.msg);
    fpf_cli_error("the run stopped after %ld of %ld steps; what it wrote is "
                  "kept in %s/", s.h.n, s.c.steps, a.out);
    cleanup(&s);
    return st == FPF_ESTOPPED ? 130 : FPF_EXIT_FAIL;
  }
  long nres = 0;
  for (long i = 0; i < s.h.n; i++) nres += s.h.reset[i];
  const fpf_metrics *last = &s.h.m[s.h.n - 1];
  fpf_cli_info("done in %.2f s: final C = %.4g, C_vel = %.4g, mean loss = "
               "%.4g, %ld resets", wall, last->C, last->C_vel,
               last->loss_mean, nres);
  if (s.c.figure) fpf_cli_info("figure: %s/figure.png", a.out);
  cleanup(&s);
  return FPF_EXIT_OK;
}
