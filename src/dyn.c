/*
 * Euler-Maruyama particle dynamics with resets (dyn.h).
 *
 * The step is: schedules, bandwidth, landscape, flow (KDE, drift, D and
 * its Cholesky factor), noise, update, trigger.  The update is written to
 * a second buffer and swapped in only when every coordinate is finite, so
 * a failing step leaves the last good particles in place.
 */
#include "fpflow/dyn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "fpflow/rng.h"
#include "internal.h"


/* Up to this many particles a reset draw sums over all of them (an
 * nr x n x d product); beyond, over RESET_TERMS picked at random, which
 * keeps the same covariance and span at O(nr RESET_TERMS d) cost and
 * O(n d) memory. */
#define RESET_EXACT_MAX 4096
#define RESET_TERMS 1024

struct fpf_dyn {
  double prof[FPF_NPHASES];
  fpf_dyn_options o;
  fpf_landscape *L;
  size_t n, d, n_reset;
  long step, last_reset;
  int warned_score; /* the zero-score warning was given */
  double t_reset, boost_base; /* b(t) = boost_base exp(-(t - t_reset)/tau_D) */
  double *z, *z_next, *loss, *grad, *noise, *U;
  float *noise32; /* single precision: the noise product in float */
  size_t *perm;
  fpf_flow *flow;
};

void fpf_dyn_options_init(fpf_dyn_options *o) {
  memset(o, 0, sizeof *o);
  o->eta0 = 0.01;
  o->tau_eta = 1000;
  o->lambda = 0.001;
  o->D0 = 1.0;
  o->tau_D = 500;
  o->gamma = 0.05;
  o->dt = 0.01;
  o->entropy_form = FPF_ENTROPY_SOURCE;
  o->bandwidth_rule = FPF_BW_FIXED;
  o->bandwidth = 0.1;
  o->knn_k = 3;
  o->resets = 1;
  o->trigger = FPF_TRIGGER_C;
  o->C_threshold = 0.5;
  o->alpha_reset = 0.2;
  o->beta_reset = 3.0;
  o->warmup = 10;
  o->cooldown = 10;
  o->seed = 42;
}

static fpf_status positive(const char *name, double v, fpf_error *err) {
  if (v > 0 && isfinite(v)) return FPF_OK;
  return fpf_error_set(err, FPF_EINVAL,
                       "option %s = %g: must be a finite number > 0", name, v);
}

static fpf_status is_finite_opt(const char *name, double v, fpf_error *err) {
  if (isfinite(v)) return FPF_OK;
  return fpf_error_set(err, FPF_EINVAL, "option %s = %g: must be finite",
                       name, v);
}

fpf_status fpf_dyn_options_check(const fpf_dyn_options *o, fpf_error *err) {
  fpf_status st;
  if ((st = positive("eta0", o->eta0, err)) ||
      (st = positive("tau_eta", o->tau_eta, err)) ||
      (st = is_finite_opt("lambda", o->lambda, err)) ||
      (st = positive("D0", o->D0, err)) ||
      (st = positive("tau_D", o->tau_D, err)) ||
      (st = is_finite_opt("gamma", o->gamma, err)) ||
      (st = positive("dt", o->dt, err)) ||
      (st = is_finite_opt("C_threshold", o->C_threshold, err)) ||
      (st = is_finite_opt("beta_reset", o->beta_reset, err)))
    return st;
  if (o->bandwidth_rule == FPF_BW_FIXED &&
      !(o->bandwidth >= FPF_H_MIN && o->bandwidth <= FPF_H_MAX))
    return fpf_error_set(err, FPF_EINVAL,
                         "option bandwidth = %g: must be in [%g, %g]",
                         o->bandwidth, FPF_H_MIN, FPF_H_MAX);
  if (!fpf_bw_rule_name(o->bandwidth_rule))
    return fpf_error_set(err, FPF_EINVAL, "option bandwidth_rule = %d: "
                         "unknown", (int)o->bandwidth_rule);
  if (!fpf_entropy_form_name(o->entropy_form))
    return fpf_error_set(err, FPF_EINVAL, "option entropy_form = %d: unknown",
                         (int)o->entropy_form);
  if (!(o->alpha_reset >= 0 && o->alpha_reset <= 1))
    return fpf_error_set(err, FPF_EINVAL,
                         "option alpha_reset = %g: must be in [0, 1]",
                         o->alpha_reset);
  if (o->beta_reset < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "option beta_reset = %g: must be >= 0",
                         o->beta_reset);
  if (o->warmup < 0 || o->cooldown < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "options warmup = %ld, cooldown = %ld: must be >= 0",
                         o->warmup, o->cooldown);
  if (o->trigger != FPF_TRIGGER_C && o->trigger != FPF_TRIGGER_C_VEL)
    return fpf_error_set(err, FPF_EINVAL, "option trigger = %d: unknown",
                         (int)o->trigger);
  return FPF_OK;
}

double fpf_schedule_eta(const fpf_dyn_options *o, double t) {
  return o->eta0 / (1.0 + t / o->tau_eta);
}

double fpf_schedule_c(const fpf_dyn_options *o, double t) {
  return o->D0 * exp(-t / o->tau_D);
}

void fpf_set_threads(int n) {
  fpf_blas_single_thread();
  if (n >= 1) omp_set_num_threads(n);
}

static fpf_status check_particles(const double *z, size_t n, size_t d,
                                  const char *what, fpf_error *err) {
  size_t r, c;
  if (fpf_find_nonfinite(z, n, d, &r, &c) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "%s: particle %zu, coordinate %zu is %g", what, r, c,
                         z[r * d + c]);
  return FPF_OK;
}

fpf_status fpf_dyn_create(fpf_dyn **out, fpf_landscape *L, size_t n,
                          const double *z0, const fpf_dyn_options *o,
                          fpf_error *err) {
  *out = NULL;
  fpf_dyn_options def;
  if (!o) {
    fpf_dyn_options_init(&def);
    o = &def;
  }
  fpf_status st = fpf_dyn_options_check(o, err);
  if (st) return st;
  if (!L) return fpf_error_set(err, FPF_EINVAL, "dynamics: landscape is NULL");
  size_t d = fpf_landscape_dim(L);
  if (n < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "dynamics: needs at least 2 particles (n = %zu)", n);
  if (!z0) return fpf_error_set(err, FPF_EINVAL, "dynamics: z0 is NULL");
  if ((st = check_particles(z0, n, d, "initial ensemble", err))) return st;

  fpf_dyn *dy = calloc(1, sizeof *dy);
  if (!dy) return fpf_error_set(err, FPF_ENOMEM, "dynamics: out of memory");
  dy->o = *o;
  dy->L = L;
  dy->n = n;
  dy->d = d;
  dy->last_reset = -1;
  dy->n_reset = (size_t)floor(o->alpha_reset * (double)n + 0.5);
  size_t nd = n * d, nr = dy->n_reset ? dy->n_reset : 1;
  dy->z = fpf_dalloc(nd);
  dy->z_next = fpf_dalloc(nd);
  dy->loss = fpf_dalloc(n);
  dy->grad = fpf_dalloc(nd);
  dy->noise = fpf_dalloc(nd);
  dy->U = fpf_dalloc(n <= RESET_EXACT_MAX ? fpf_mul_size(nr, n) : 1);
  dy->perm = calloc(n, sizeof *dy->perm);
  if (!dy->z || !dy->z_next || !dy->loss || !dy->grad || !dy->noise ||
      !dy->U || !dy->perm) {
    fpf_dyn_destroy(dy);
    return fpf_error_set(err, FPF_ENOMEM,
                         "dynamics: out of memory for n = %zu, d = %zu", n, d);
  }
  memcpy(dy->z, z0, nd * sizeof *dy->z);
  fpf_flow_options fo;
  fpf_flow_options_init(&fo);
  fo.leave_one_out = o->leave_one_out;
  fo.knn_k = o->knn_k;
  fo.flux_divergence = o->flux_divergence;
  fo.cholesky = 1;
  fo.single_precision = o->single_precision;
  fo.kde_method = o->kde_method;
  if ((st = fpf_flow_create(&dy->flow, n, d, &fo, err)) ||
      (st = fpf_landscape_reserve(L, n, err))) {
    fpf_dyn_destroy(dy);
    return st;
  }
  if (fpf_flow_cholesky_f(dy->flow) && !(dy->noise32 = fpf_falloc(nd))) {
    fpf_dyn_destroy(dy);
    return fpf_error_set(err, FPF_ENOMEM, "dynamics: out of memory");
  }
  *out = dy;
  return FPF_OK;
}

void fpf_dyn_destroy(fpf_dyn *dy) {
  if (!dy) return;
  fpf_flow_destroy(dy->flow);
  double *b[] = {dy->z, dy->z_next, dy->loss, dy->grad, dy->noise, dy->U};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) fpf_dfree(b[i]);
  free(dy->perm);
  free(dy->noise32);
  free(dy);
}

size_t fpf_dyn_size(const fpf_dyn *dy) { return dy->n; }
size_t fpf_dyn_dim(const fpf_dyn *dy) { return dy->d; }
long fpf_dyn_steps_done(const fpf_dyn *dy) { return dy->step; }
const double *fpf_dyn_particles(const fpf_dyn *dy) { return dy->z; }
const fpf_flow *fpf_dyn_flow(const fpf_dyn *dy) { return dy->flow; }

fpf_status fpf_dyn_set_particles(fpf_dyn *dy, const double *z,
                                 fpf_error *err) {
  fpf_status st = check_particles(z, dy->n, dy->d, "new particles", err);
  if (st) return st;
  memcpy(dy->z, z, dy->n * dy->d * sizeof *z);
  return FPF_OK;
}

void fpf_dyn_profile_take(fpf_dyn *dy, double *t) {
  fpf_flow_profile_take(dy->flow, t);
  for (int i = 0; i < FPF_NPHASES; i++) {
    t[i] += dy->prof[i];
    dy->prof[i] = 0;
  }
}

/* ---- resets ---------------------------------------------------------- */


/*
 * Replaces n_reset particles of z, picked by a partial Fisher-Yates
 * shuffle, with draws m + sqrt(1.5/(n-1)) U (Z - m); U has rows of
 * N(0, 1) numbers keyed by (seed, step, draw).
 */
static void reset_particles(fpf_dyn *dy, double *z, long step) {
  size_t n = dy->n, d = dy->d, nr = dy->n_reset;
  uint64_t seed = dy->o.seed;
  if (nr == 0) return;
  double *dev = dy->noise, *mean = dy->z_next == z ? dy->z : dy->z_next;
  /* mean and deviations (the other particle buffer is free here) */
  for (size_t c = 0; c < d; c++) mean[c] = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) mean[c] += z[i * d + c];
  for (size_t c = 0; c < d; c++) mean[c] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) dev[i * d + c] = z[i * d + c] - mean[c];
  /* which particles */
  for (size_t i = 0; i < n; i++) dy->perm[i] = i;
  for (size_t r = 0; r < nr; r++) {
    double u;
    fpf_rng_uniforms(seed, FPF_STREAM_RESET_PICK, (uint64_t)step, r, &u, 1);
    size_t j = r + (size_t)(u * (double)(n - r));
    if (j >= n) j = n - 1;
    size_t t = dy->perm[r];
    dy->perm[r] = dy->perm[j];
    dy->perm[j] = t;
  }
  double *draw = dy->grad; /* free until the next step's landscape call */
  if (n <= RESET_EXACT_MAX) {
    /* the draws: U (nr x n) times the deviations (n x d) */
#pragma omp parallel for schedule(static) if (nr * n * 20 > FPF_PAR_MIN)
    for (size_t r = 0; r < nr; r++)
      fpf_rng_normals(seed, FPF_STREAM_RESET_DRAW, (uint64_t)step, r,
                      dy->U + r * n, n);
    double scale = sqrt(1.5 / (double)(n - 1));
    fpf_gemm_rows(CblasNoTrans, nr, d, n, scale, dy->U, n, dev, d, 0.0,
                  draw, d);
  } else {
    /* each draw sums RESET_TERMS deviations picked with replacement:
     * E[sum_k u_k^2 dev_jk dev_jk^T] = (M/n) sum_j dev_j dev_j^T, so the
     * scale sqrt(1.5 n / ((n - 1) M)) keeps the covariance at 1.5 Sigma */
    double scale = sqrt(1.5 * (double)n /
                        ((double)(n - 1) * (double)RESET_TERMS));
#pragma omp parallel for schedule(static) \
    if (nr * RESET_TERMS * d > FPF_PAR_MIN)
    for (size_t r = 0; r < nr; r++) {
      double u[RESET_TERMS], w[RESET_TERMS], *x = draw + r * d;
      fpf_rng_uniforms(seed, FPF_STREAM_RESET_DRAW, (uint64_t)step,
                       2 * r, u, RESET_TERMS);
      fpf_rng_normals(seed, FPF_STREAM_RESET_DRAW, (uint64_t)step,
                      2 * r + 1, w, RESET_TERMS);
      for (size_t c = 0; c < d; c++) x[c] = 0;
      for (size_t q = 0; q < RESET_TERMS; q++) {
        size_t j = (size_t)(u[q] * (double)n);
        if (j >= n) j = n - 1;
        for (size_t c = 0; c < d; c++) x[c] += w[q] * dev[j * d + c];
      }
      for (size_t c = 0; c < d; c++) x[c] *= scale;
    }
  }
  for (size_t r = 0; r < nr; r++)
    for (size_t c = 0; c < d; c++)
      z[dy->perm[r] * d + c] = mean[c] + draw[r * d + c];
}

static void start_boost(fpf_dyn *dy, long step) {
  double t = (double)step * dy->o.dt;
  dy->t_reset = t;
  dy->boost_base = dy->o.beta_reset * fpf_schedule_c(&dy->o, t);
}

fpf_status fpf_dyn_reset(fpf_dyn *dy, fpf_error *err) {
  (void)err;
  reset_particles(dy, dy->z, dy->step);
  start_boost(dy, dy->step);
  dy->last_reset = dy->step;
  fpf_logf(dy->o.log, dy->o.log_user, FPF_LOG_DEBUG,
           "reset at step %ld: %zu of %zu particles redrawn", dy->step,
           dy->n_reset, dy->n);
  return FPF_OK;
}

/* ---- the step --------------------------------------------------------- */

static double boost_at(const fpf_dyn *dy, double t) {
  if (dy->last_reset < 0) return 0;
  return dy->boost_base * exp(-(t - dy->t_reset) / dy->o.tau_D);
}

static int trigger_fires(const fpf_dyn *dy, const fpf_metrics *m) {
  const fpf_dyn_options *o = &dy->o;
  if (!o->resets || dy->step < o->warmup) return 0;
  if (dy->last_reset >= 0 && dy->step - dy->last_reset < o->cooldown) return 0;
  double v = o->trigger == FPF_TRIGGER_C ? m->C : m->C_vel;
  return v < o->C_threshold;
}

/* z_next = z + mu dt + sqrt(2 dt) L xi, xi keyed by (seed, step, i).  In
 * single precision the normals are drawn, multiplied and added in float
 * (the same normals, rounded).  By blocks of rows (fpf_block_rows),
 * each drawn, multiplied, added and checked while it is in cache.
 * Returns 1 when a coordinate of z_next is not finite. */
static int update(fpf_dyn *dy) {
  size_t n = dy->n, d = dy->d;
  const double *mu = fpf_flow_drift(dy->flow);
  const double *Lc = fpf_flow_cholesky(dy->flow);
  const float *L32 = fpf_flow_cholesky_f(dy->flow);
  double dt = dy->o.dt, s = sqrt(2.0 * dt), t_start = omp_get_wtime();
  size_t rows = fpf_block_rows(n);
  size_t nb = (n + rows - 1) / rows;
  double bad = 0, t_noise = 0, t_add = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad, t_noise, \
                                                     t_add) \
    if (nb > 1 && n * d * 64 > FPF_PAR_MIN)
  for (size_t b = 0; b < nb; b++) {
    size_t r0 = b * rows, r = n - r0 < rows ? n - r0 : rows;
    double t0 = omp_get_wtime();
    float *x32 = L32 ? dy->noise32 + r0 * d : NULL;
    double *x = dy->noise + r0 * d;
    if (x32)
      fpf_rng_normals_rows_f(dy->o.seed, FPF_STREAM_NOISE,
                             (uint64_t)dy->step, r0, r, x32, d);
    else
      fpf_rng_normals_rows(dy->o.seed, FPF_STREAM_NOISE, (uint64_t)dy->step,
                           r0, r, x, d);
    /* rows xi_i^T L^T = (L xi_i)^T */
    if (x32) fpf_strmm_rows(r, d, (float)s, L32, x32);
    else fpf_trmm_rows(r, d, s, Lc, x);
    double t1 = omp_get_wtime();
    const double *z = dy->z + r0 * d, *m = mu + r0 * d;
    double *zn = dy->z_next + r0 * d;
    if (x32)
      for (size_t q = 0; q < r * d; q++)
        zn[q] = z[q] + m[q] * dt + (double)x32[q];
    else
      for (size_t q = 0; q < r * d; q++) zn[q] = z[q] + m[q] * dt + x[q];
    bad += fpf_nonfinite_mark(zn, r * d);
    t_noise += t1 - t0;
    t_add += omp_get_wtime() - t1;
  }
  /* the wall time, shared out in proportion to the threads' times */
  double wall = omp_get_wtime() - t_start, tot = t_noise + t_add;
  dy->prof[FPF_PHASE_NOISE] += tot > 0 ? wall * t_noise / tot : wall;
  dy->prof[FPF_PHASE_UPDATE] += tot > 0 ? wall * t_add / tot : 0;
  return bad != 0;
}

static fpf_status fail_step(const fpf_dyn *dy, fpf_error *err) {
  fpf_error_prefix(err, "step %ld (t = %g): ", dy->step,
                   (double)dy->step * dy->o.dt);
  return err ? err->status : FPF_EINVAL;
}

fpf_status fpf_dyn_step(fpf_dyn *dy, fpf_metrics *mout, fpf_error *err) {
  fpf_metrics mloc, *m = mout ? mout : &mloc;
  memset(m, 0, sizeof *m);
  size_t n = dy->n, d = dy->d;
  double t = (double)dy->step * dy->o.dt;
  fpf_error lerr;
  if (!err) err = &lerr;

  /* schedules and bandwidth */
  fpf_flow_params p = {.eta = fpf_schedule_eta(&dy->o, t),
                       .lambda = dy->o.lambda,
                       .c = fpf_schedule_c(&dy->o, t),
                       .boost = boost_at(dy, t),
                       .gamma = dy->o.gamma,
                       .entropy_form = dy->o.entropy_form};
  double t0 = omp_get_wtime();
  fpf_status st = fpf_flow_bandwidth(dy->flow, dy->z, n,
                                     dy->o.bandwidth_rule, dy->o.bandwidth,
                                     &p.h, err);
  if (st) return fail_step(dy, err);
  double t1 = omp_get_wtime();
  dy->prof[FPF_PHASE_BANDWIDTH] += t1 - t0;

  /* loss and gradient, then the flow */
  if ((st = fpf_landscape_eval(dy->L, n, dy->z, dy->loss, dy->grad, err)))
    return fail_step(dy, err);
  dy->prof[FPF_PHASE_LANDSCAPE] += omp_get_wtime() - t1;
  fpf_flow_input in = {.z = dy->z, .n = n, .grad = dy->grad,
                       .loss = dy->loss};
  if ((st = fpf_flow_compute(dy->flow, &in, &p, m, err)))
    return fail_step(dy, err);
  m->step = dy->step;
  m->t = t;
  if (!isfinite(m->C_vel) && !dy->warned_score) {
    dy->warned_score = 1;
    fpf_logf(dy->o.log, dy->o.log_user, FPF_LOG_WARN,
             "step %ld: every particle's score is 0, so C and C_vel are "
             "infinite: with h = %g each kernel but a particle's own "
             "underflows; a bandwidth near the particles' spacing "
             "(bandwidth = median) gives a usable density",
             dy->step, p.h);
  }

  /* Euler-Maruyama, kept only if finite */
  size_t r, c;
  if (update(dy) && fpf_find_nonfinite(dy->z_next, n, d, &r, &c) >= 0) {
    fpf_error_set(err, FPF_ENONFINITE,
                  "particle %zu, coordinate %zu became %g in the update "
                  "(|mu| rms = %g, C = %g, h = %g); the particles are kept "
                  "as they were before this step; a smaller dt or eta0 may "
                  "help", r, c, dy->z_next[r * d + c], m->mu_rms, m->C, p.h);
    return fail_step(dy, err);
  }
  double *tmp = dy->z;
  dy->z = dy->z_next;
  dy->z_next = tmp;

  /* the in-loop reset trigger */
  if (trigger_fires(dy, m)) {
    m->reset = 1;
    dy->step++;
    double tr = omp_get_wtime();
    reset_particles(dy, dy->z, dy->step - 1);
    dy->prof[FPF_PHASE_RESET] += omp_get_wtime() - tr;
    start_boost(dy, dy->step);
    dy->last_reset = dy->step - 1;
    fpf_logf(dy->o.log, dy->o.log_user, FPF_LOG_DEBUG,
             "reset after step %ld: C = %.4g, C_vel = %.4g below %g",
             dy->step - 1, m->C, m->C_vel, dy->o.C_threshold);
    return FPF_OK;
  }
  dy->step++;
  return FPF_OK;
}
