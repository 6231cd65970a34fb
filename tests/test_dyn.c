/*
 * The dynamics against exact answers: the noise covariance 2 D dt for a
 * full D, the discrete Ornstein-Uhlenbeck stationary variance of
 * Euler-Maruyama, resets in the particles' span with 1.5x covariance, the
 * positive-definiteness boundary in gamma, the trigger's warm-up and
 * cool-down, the schedules, and identical results on 1 and 2 threads.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/dyn.h"
#include "fpflow/rng.h"

static double *normals(size_t n, uint64_t seed, double scale) {
  double *z = malloc(n * sizeof *z);
  fpf_rng_normals(seed, 21, 0, 0, z, n);
  for (size_t i = 0; i < n; i++) z[i] *= scale;
  return z;
}

/* Options with constant schedules, no entropy term and no resets. */
static void plain_options(fpf_dyn_options *o) {
  fpf_dyn_options_init(o);
  o->tau_eta = 1e300;
  o->tau_D = 1e300;
  o->lambda = 0;
  o->resets = 0;
  o->knn_k = 0;
  o->bandwidth = 0.5;
}

/*
 * One step from the same particles, repeated: the increments minus the
 * drift, sqrt(2 dt) L xi, have covariance 2 dt D.  D = c (I + gamma F) is
 * full: the quadratic's A is not diagonal, so F = A Cov(z) A is not.
 * 2000 particles x 50 repeats = 10^5 samples: standard error of an entry
 * about 0.5% of sqrt(D_ii D_jj); tolerance 3%.
 */
static void test_noise_covariance(void **state) {
  (void)state;
  size_t n = 2000, d = 3, reps = 50;
  double A[9] = {2.0, 0.8, 0.3, 0.8, 1.5, -0.6, 0.3, -0.6, 1.0};
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, d, NULL, A, NULL), FPF_OK);
  double *z0 = normals(n * d, 1, 1.0);
  double dts[3] = {0.1, 0.01, 0.001};
  for (int t = 0; t < 3; t++) {
    fpf_dyn_options o;
    plain_options(&o);
    o.dt = dts[t];
    o.gamma = 0.7;
    fpf_dyn *dy;
    assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
    double cov[9] = {0}, D[9];
    for (size_t r = 0; r < reps; r++) {
      assert_int_equal(fpf_dyn_set_particles(dy, z0, NULL), FPF_OK);
      assert_int_equal(fpf_dyn_step(dy, NULL, NULL), FPF_OK);
      const double *z1 = fpf_dyn_particles(dy);
      const double *mu = fpf_flow_drift(fpf_dyn_flow(dy));
      memcpy(D, fpf_flow_diffusion(fpf_dyn_flow(dy)), sizeof D);
      for (size_t i = 0; i < n; i++) {
        double inc[3];
        for (size_t c = 0; c < d; c++)
          inc[c] = z1[i * d + c] - z0[i * d + c] - mu[i * d + c] * o.dt;
        for (size_t a = 0; a < d; a++)
          for (size_t b = 0; b < d; b++) cov[a * d + b] += inc[a] * inc[b];
      }
    }
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++) {
        double emp = cov[a * d + b] / (double)(n * reps);
        double exact = 2 * o.dt * D[a * d + b];
        double scale = 2 * o.dt * sqrt(D[a * d + a] * D[b * d + b]);
        assert_true(fabs(emp - exact) < 0.03 * scale);
      }
    /* the off-diagonal entries are really there */
    assert_true(fabs(D[1]) > 0.05 * D[0]);
    fpf_dyn_destroy(dy);
  }
  fpf_landscape_destroy(L);
  free(z0);
}

/*
 * L = a |z|^2 / 2, D = c I, constant eta: Euler-Maruyama is the AR(1)
 * z' = (1 - eta a dt) z + sqrt(2 c dt) xi with stationary variance
 * 2 c dt / (1 - (1 - eta a dt)^2), which differs from the continuous
 * c / (eta a) by the factor 1 / (1 - eta a dt / 2) = 1.11 here.  The
 * time average over 300 steps of 1000 particles in d = 2 has a relative
 * standard error near 0.5%; tolerance 3%.
 */
static void test_ou_stationary_variance(void **state) {
  (void)state;
  size_t n = 1000, d = 2;
  double a = 2.0, A[4] = {a, 0, 0, a};
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, d, NULL, A, NULL), FPF_OK);
  fpf_dyn_options o;
  plain_options(&o);
  o.gamma = 0;
  o.eta0 = 1.0;
  o.D0 = 0.5;
  o.dt = 0.1; /* eta a dt = 0.2 */
  double *z0 = calloc(n * d, sizeof *z0);
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  double var = 0;
  long burn = 60, steps = 300;
  for (long k = 0; k < burn + steps; k++) {
    assert_int_equal(fpf_dyn_step(dy, NULL, NULL), FPF_OK);
    if (k < burn) continue;
    const double *z = fpf_dyn_particles(dy);
    for (size_t i = 0; i < n * d; i++) var += z[i] * z[i];
  }
  var /= (double)(steps * (long)(n * d));
  double r = 1 - o.eta0 * a * o.dt;
  double exact = 2 * o.D0 * o.dt / (1 - r * r);
  double continuous = o.D0 / (o.eta0 * a);
  assert_true(fabs(var / exact - 1) < 0.03);
  assert_true(fabs(var / continuous - 1) > 0.06);
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z0);
}

/* Orthonormal basis of the deviations (n x d, rows) by Gram-Schmidt. */
static size_t span_basis(const double *dev, size_t n, size_t d, double *Q) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++) {
    double v[64];
    memcpy(v, dev + i * d, d * sizeof *v);
    for (int pass = 0; pass < 2; pass++)
      for (size_t q = 0; q < r; q++) {
        double dot = 0;
        for (size_t c = 0; c < d; c++) dot += v[c] * Q[q * d + c];
        for (size_t c = 0; c < d; c++) v[c] -= dot * Q[q * d + c];
      }
    double nr = 0;
    for (size_t c = 0; c < d; c++) nr += v[c] * v[c];
    if (sqrt(nr) < 1e-9) continue;
    for (size_t c = 0; c < d; c++) Q[r * d + c] = v[c] / sqrt(nr);
    r++;
  }
  return r;
}

/* n = 10 < d = 50: new particles lie in m + span(z_j - m). */
static void test_reset_in_span(void **state) {
  (void)state;
  size_t n = 10, d = 50;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, d, NULL, NULL, NULL), FPF_OK);
  double *z0 = normals(n * d, 2, 1.0), m[50] = {0}, dev[500], Q[500];
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) m[c] += z0[i * d + c] / (double)n;
  for (size_t i = 0; i < n * d; i++) dev[i] = z0[i] - m[i % d];
  size_t rank = span_basis(dev, n, d, Q);
  assert_int_equal(rank, n - 1);
  fpf_dyn_options o;
  plain_options(&o);
  o.alpha_reset = 0.5;
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  assert_int_equal(fpf_dyn_reset(dy, NULL), FPF_OK);
  const double *z = fpf_dyn_particles(dy);
  size_t changed = 0;
  for (size_t i = 0; i < n; i++) {
    double v[50], res = 0;
    int same = 1;
    for (size_t c = 0; c < d; c++) {
      v[c] = z[i * d + c] - m[c];
      same &= z[i * d + c] == z0[i * d + c];
    }
    changed += !same;
    for (size_t q = 0; q < rank; q++) {
      double dot = 0;
      for (size_t c = 0; c < d; c++) dot += v[c] * Q[q * d + c];
      for (size_t c = 0; c < d; c++) v[c] -= dot * Q[q * d + c];
    }
    for (size_t c = 0; c < d; c++) res += v[c] * v[c];
    assert_true(sqrt(res) < 1e-10);
  }
  assert_int_equal(changed, 5);
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z0);
}

/*
 * Reset draws have covariance 1.5 Sigma about the mean: 400 runs with
 * different seeds, each redrawing all 200 particles of one fixed ensemble
 * in d = 3 (8 10^4 draws: standard error ~0.5% of the scale; tolerance 3%).
 */
static void test_reset_covariance(void **state) {
  (void)state;
  size_t n = 200, d = 3, runs = 400;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, d, NULL, NULL, NULL), FPF_OK);
  double *z0 = normals(n * d, 3, 1.0), m[3] = {0}, S[9] = {0}, E[9] = {0};
  for (size_t i = 0; i < n; i++) {
    z0[i * d + 1] = 0.5 * z0[i * d] + 2.0 * z0[i * d + 1];
    for (size_t c = 0; c < d; c++) m[c] += z0[i * d + c] / (double)n;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++)
        S[a * d + b] += (z0[i * d + a] - m[a]) * (z0[i * d + b] - m[b]) /
                        (double)(n - 1);
  fpf_dyn_options o;
  plain_options(&o);
  o.alpha_reset = 1.0;
  for (size_t r = 0; r < runs; r++) {
    o.seed = 1000 + r;
    fpf_dyn *dy;
    assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
    fpf_dyn_reset(dy, NULL);
    const double *z = fpf_dyn_particles(dy);
    for (size_t i = 0; i < n; i++)
      for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++)
          E[a * d + b] += (z[i * d + a] - m[a]) * (z[i * d + b] - m[b]);
    fpf_dyn_destroy(dy);
  }
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) {
      double emp = E[a * d + b] / (double)(n * runs);
      double scale = sqrt(S[a * d + a] * S[b * d + b]);
      assert_true(fabs(emp - 1.5 * S[a * d + b]) < 0.03 * 1.5 * scale);
    }
  fpf_landscape_destroy(L);
  free(z0);
}

/*
 * D = c (I + gamma F) is positive definite exactly when
 * gamma > -1 / lambda_max(F): at 0.99 of the bound the step passes, at
 * 1.01 it fails with a message naming gamma, lambda_max(F) and the step,
 * and leaves the particles as they were.
 */
static void test_cholesky_boundary(void **state) {
  (void)state;
  size_t n = 50, d = 4;
  fpf_landscape *L;
  double mvec[4] = {3, -1, 2, 0.5};
  assert_int_equal(fpf_landscape_quadratic(&L, d, mvec, NULL, NULL), FPF_OK);
  double *z0 = normals(n * d, 4, 1.0), *g = malloc(n * d * sizeof *g);
  fpf_landscape_eval(L, n, z0, NULL, g, NULL);
  double F[16] = {0}, lmax;
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++)
        F[a * d + b] += g[i * d + a] * g[i * d + b] / (double)n;
  assert_int_equal(fpf_sym_max_eigenvalue(F, d, &lmax, NULL), FPF_OK);
  fpf_dyn_options o;
  plain_options(&o);
  fpf_dyn *dy;
  o.gamma = -0.99 / lmax;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  assert_int_equal(fpf_dyn_step(dy, NULL, NULL), FPF_OK);
  fpf_dyn_destroy(dy);
  o.gamma = -1.01 / lmax;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  fpf_error err;
  assert_int_equal(fpf_dyn_step(dy, NULL, &err), FPF_ENOTPD);
  assert_non_null(strstr(err.msg, "step 0"));
  assert_non_null(strstr(err.msg, "gamma = "));
  assert_non_null(strstr(err.msg, "lambda_max(F) = "));
  assert_memory_equal(fpf_dyn_particles(dy), z0, n * d * sizeof *z0);
  assert_int_equal(fpf_dyn_steps_done(dy), 0);
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z0);
  free(g);
}

/*
 * The blocked Cholesky factor (blocks of 128) at d = 300, three blocks
 * with a partial last one: L L^T = D to 1e-13 of max |D| in double and
 * 1e-5 in single precision, L lower; and a D that stops being positive
 * definite at index 290 (third block) is reported at column 291.
 */
static void test_cholesky_blocks(void **state) {
  (void)state;
  size_t d = 300, n = 400;
  double *G = normals(n * d, 9, 1.0), *D = calloc(d * d, sizeof *D);
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++)
        D[a * d + b] += 0.5 * G[i * d + a] * G[i * d + b] / (double)n;
  for (size_t a = 0; a < d; a++) D[a * d + a] += 1.0;
  double *z = normals(n * d, 10, 1.0), *mu = calloc(n * d, sizeof *mu);
  for (int f32 = 0; f32 < 2; f32++) {
    fpf_flow_options fo;
    fpf_flow_options_init(&fo);
    fo.knn_k = 0;
    fo.single_precision = f32;
    fpf_flow *f;
    assert_int_equal(fpf_flow_create(&f, n, d, &fo, NULL), FPF_OK);
    fpf_flow_input in = {.z = z, .n = n, .drift = mu, .diffusion = D};
    fpf_flow_params p = {.eta = 0.01, .c = 1, .h = 3.0};
    fpf_metrics m;
    assert_int_equal(fpf_flow_compute(f, &in, &p, &m, NULL), FPF_OK);
    const double *L = fpf_flow_cholesky(f);
    double worst = 0, dmax = 0;
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b < d; b++) {
        if (b > a) assert_true(L[a * d + b] == 0);
        double s = 0;
        for (size_t c = 0; c <= (a < b ? a : b); c++)
          s += L[a * d + c] * L[b * d + c];
        worst = fmax(worst, fabs(s - D[a * d + b]));
        dmax = fmax(dmax, fabs(D[a * d + b]));
      }
    if (worst > (f32 ? 1e-5 : 1e-13) * dmax)
      fail_msg("%s: max |L L^T - D| = %g, max |D| = %g",
               f32 ? "float" : "double", worst, dmax);
    /* not positive definite from index 290 on */
    double *B = calloc(d * d, sizeof *B);
    for (size_t a = 0; a < d; a++) B[a * d + a] = a == 290 ? -1.0 : 1.0;
    in.diffusion = B;
    fpf_error err;
    assert_int_equal(fpf_flow_compute(f, &in, &p, &m, &err), FPF_ENOTPD);
    if (!strstr(err.msg, "column 291"))
      fail_msg("message without the column: %s", err.msg);
    free(B);
    fpf_flow_destroy(f);
  }
  free(G);
  free(D);
  free(z);
  free(mu);
}

/*
 * With a threshold no ratio can pass, resets fire at warmup, then every
 * cooldown steps; the boost is beta c(t*) exp(-(t - t*)/tau_D) with t*
 * the step after the reset; eta and c follow their schedules.
 */
static void test_trigger_and_schedules(void **state) {
  (void)state;
  size_t n = 40, d = 2;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
  double *z0 = normals(n * d, 5, 1.0);
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.C_threshold = 1e300;
  o.warmup = 7;
  o.cooldown = 5;
  o.tau_D = 2.0;
  o.tau_eta = 3.0;
  o.dt = 0.05;
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  long last = -1;
  for (long k = 0; k < 30; k++) {
    fpf_metrics m;
    assert_int_equal(fpf_dyn_step(dy, &m, NULL), FPF_OK);
    int expect = k >= 7 && (k - 7) % 5 == 0;
    assert_int_equal(m.reset, expect);
    double t = k * o.dt;
    assert_true(fabs(m.eta - o.eta0 / (1 + t / o.tau_eta)) < 1e-15);
    assert_true(fabs(m.c - o.D0 * exp(-t / o.tau_D)) < 1e-15);
    double tstar = (last + 1) * o.dt;
    double b = last < 0 ? 0
                        : o.beta_reset * o.D0 * exp(-tstar / o.tau_D) *
                              exp(-(t - tstar) / o.tau_D);
    assert_true(fabs(m.boost - b) < 1e-14);
    if (m.reset) last = k;
  }
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z0);
}

/* 1 and 2 threads give bit-identical metrics and particles (d = 2, 40). */
static void run_steps(fpf_landscape *L, size_t n, const double *z0,
                      int threads, int f32, fpf_metrics *m, double *zout) {
  fpf_set_threads(threads);
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.single_precision = f32;
  o.bandwidth_rule = FPF_BW_MEDIAN;
  o.flux_divergence = 1;
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z0, &o, NULL), FPF_OK);
  for (int k = 0; k < 12; k++)
    assert_int_equal(fpf_dyn_step(dy, &m[k], NULL), FPF_OK);
  size_t d = fpf_landscape_dim(L);
  memcpy(zout, fpf_dyn_particles(dy), n * d * sizeof *zout);
  fpf_dyn_destroy(dy);
}

static void test_threads_identical(void **state) {
  (void)state;
  /* d = 2: the direct KDE; 16: the Fisher matrix by row blocks in
   * parallel; 40: BLAS blocks; 40 in single precision */
  size_t n = 300, dims[4] = {2, 16, 40, 40};
  for (int t = 0; t < 4; t++) {
    size_t d = dims[t];
    int f32 = t == 3;
    fpf_landscape *L;
    if (d == 2)
      assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
    else
      assert_int_equal(fpf_landscape_quadratic(&L, d, NULL, NULL, NULL),
                       FPF_OK);
    double *z0 = normals(n * d, 6, 1.0);
    double *z1 = malloc(n * d * 8), *z2 = malloc(n * d * 8);
    fpf_metrics m1[12], m2[12];
    memset(m1, 0, sizeof m1);
    memset(m2, 0, sizeof m2);
    run_steps(L, n, z0, 1, f32, m1, z1);
    run_steps(L, n, z0, 2, f32, m2, z2);
    assert_memory_equal(m1, m2, sizeof m1);
    assert_memory_equal(z1, z2, n * d * 8);
    fpf_landscape_destroy(L);
    free(z0);
    free(z1);
    free(z2);
  }
}

/* A non-finite initial ensemble is refused, naming the particle. */
static void test_bad_input(void **state) {
  (void)state;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
  double z[8] = {0, 1, 2, 3, NAN, 5, 6, 7};
  fpf_dyn *dy;
  fpf_error err;
  assert_int_equal(fpf_dyn_create(&dy, L, 4, z, NULL, &err), FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "particle 2, coordinate 0"));
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.dt = -0.5;
  z[4] = 4;
  assert_int_equal(fpf_dyn_create(&dy, L, 4, z, &o, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "dt = -0.5"));
  fpf_landscape_destroy(L);
}

/* A gradient of 1e154 at one coordinate of one particle, 0 elsewhere. */
static int spike_gradient(void *user, size_t n, size_t d, const double *z,
                          double *value, double *grad, fpf_error *err) {
  (void)user, (void)z, (void)err;
  for (size_t i = 0; i < n; i++) value[i] = 0;
  memset(grad, 0, n * d * sizeof *grad);
  grad[8000 * d + 5] = 1e154;
  return 0;
}

/*
 * An update that overflows at one coordinate (mu dt = -1e307 x 100) fails
 * the step with a message naming that particle and coordinate, and keeps
 * every particle as it was.  8192 x 8 coordinates make several chunks of
 * the update's finiteness check, shared by two threads.
 */
static void test_update_overflow(void **state) {
  (void)state;
  size_t n = 8192, d = 8;
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_callback(&L, d, spike_gradient, NULL, &err),
                   FPF_OK);
  double *z = normals(n * d, 5, 1.0);
  fpf_dyn_options o;
  plain_options(&o);
  o.eta0 = 1e153;
  o.dt = 100;
  o.gamma = 1e-300;
  fpf_set_threads(2);
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z, &o, &err), FPF_OK);
  assert_int_equal(fpf_dyn_step(dy, NULL, &err), FPF_ENONFINITE);
  if (!strstr(err.msg, "particle 8000, coordinate 5 became"))
    fail_msg("message: %s", err.msg);
  assert_int_equal(fpf_dyn_steps_done(dy), 0);
  assert_memory_equal(fpf_dyn_particles(dy), z, n * d * sizeof *z);
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_noise_covariance),
      cmocka_unit_test(test_ou_stationary_variance),
      cmocka_unit_test(test_reset_in_span),
      cmocka_unit_test(test_reset_covariance),
      cmocka_unit_test(test_cholesky_boundary),
      cmocka_unit_test(test_cholesky_blocks),
      cmocka_unit_test(test_trigger_and_schedules),
      cmocka_unit_test(test_threads_identical),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_update_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
