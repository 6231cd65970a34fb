/*
 * The stationary law rho* = exp(-beta L) / Z against exact answers:
 * exact Gaussian and mixture draws (moments within 5 standard errors),
 * MALA on a 1-D quadratic (an exact Gaussian) and on a 1-D double well
 * (moments by quadrature), log Z in closed form and by quadrature, and
 * KL(rho_t || rho*) by the Gaussian formula and by the entropy route.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/landscape.h"
#include "fpflow/rng.h"
#include "fpflow/transport.h"

static void moments1(const double *x, size_t n, double *mean, double *var) {
  double s = 0, q = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  *mean = s / (double)n;
  for (size_t i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
  *var = q / (double)n;
}

/* Exact draws of N(m, (beta A)^-1) in 2-D: the mean and covariance of
 * 20000 points within 5 standard errors. */
static void test_exact_gaussian(void **state) {
  (void)state;
  double m[2] = {1, -1}, A[4] = {2, 0.5, 0.5, 1}, beta = 3;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, 2, m, A, NULL), FPF_OK);
  fpf_gibbs_options o;
  fpf_gibbs_options_init(&o);
  o.n = 20000;
  fpf_gibbs *g;
  assert_int_equal(fpf_gibbs_create(&g, L, &o, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_sample(g, beta, NULL), FPF_OK);
  fpf_gibbs_info info;
  fpf_gibbs_get_info(g, &info);
  assert_int_equal(info.method, FPF_GIBBS_GAUSSIAN);
  /* (beta A)^-1 = [[1, -0.5], [-0.5, 2]] / (3 * 1.75) */
  double det = 1.75, S[4] = {1 / (beta * det), -0.5 / (beta * det),
                             -0.5 / (beta * det), 2 / (beta * det)};
  const double *x = fpf_gibbs_points(g);
  double mu[2] = {0, 0}, C[4] = {0, 0, 0, 0};
  size_t n = o.n;
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 2; k++) mu[k] += x[2 * i + k] / (double)n;
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 2; k++)
      for (int l = 0; l < 2; l++)
        C[2 * k + l] += (x[2 * i + k] - mu[k]) * (x[2 * i + l] - mu[l]) /
                        (double)n;
  for (int k = 0; k < 2; k++)
    assert_true(fabs(mu[k] - m[k]) < 5 * sqrt(S[3 * k] / (double)n));
  for (int k = 0; k < 2; k++)
    for (int l = 0; l < 2; l++) {
      double se = sqrt((S[3 * k] * S[3 * l] + S[2 * k + l] * S[2 * k + l]) /
                       (double)n);
      assert_true(fabs(C[2 * k + l] - S[2 * k + l]) < 5 * se);
    }
  fpf_gibbs_destroy(g);
  fpf_landscape_destroy(L);
}

/* Exact draws of the 1-D mixture at beta = 1: components weighted by
 * p_k s_k, so P(z < 0) = q1 Phi(6) + q2 Phi(-2) with q = (7/16, 9/16). */
static void test_exact_mixture(void **state) {
  (void)state;
  double means[2] = {-3, 3}, widths[2] = {0.5, 1.5}, p[2] = {0.7, 0.3};
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_mixture(&L, 1, 2, means, widths, p, NULL),
                   FPF_OK);
  fpf_gibbs_options o;
  fpf_gibbs_options_init(&o);
  o.n = 20000;
  o.seed = 5;
  fpf_gibbs *g;
  assert_int_equal(fpf_gibbs_create(&g, L, &o, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_sample(g, 1.0, NULL), FPF_OK);
  fpf_gibbs_info info;
  fpf_gibbs_get_info(g, &info);
  assert_int_equal(info.method, FPF_GIBBS_MIXTURE);
  const double *x = fpf_gibbs_points(g);
  size_t neg = 0;
  for (size_t i = 0; i < o.n; i++) neg += x[i] < 0;
  double q1 = 0.35 / 0.8, q2 = 0.45 / 0.8;
  double pneg = q1 * 0.5 * erfc(-6 / sqrt(2)) + q2 * 0.5 * erfc(2 / sqrt(2));
  double frac = (double)neg / (double)o.n;
  assert_true(fabs(frac - pneg) < 5 * sqrt(pneg * (1 - pneg) / (double)o.n));
  double mean, var, emean = 3 * (q2 - q1);
  double evar = q1 * 9.25 + q2 * 11.25 - emean * emean;
  moments1(x, o.n, &mean, &var);
  assert_true(fabs(mean - emean) < 5 * sqrt(evar / (double)o.n));
  /* at beta != 1 the same landscape is sampled by MALA */
  assert_int_equal(fpf_gibbs_sample(g, 2.0, NULL), FPF_OK);
  fpf_gibbs_get_info(g, &info);
  assert_int_equal(info.method, FPF_GIBBS_MALA);
  fpf_gibbs_destroy(g);
  fpf_landscape_destroy(L);
}

/*
 * MALA on L = (z - 1)^2 (A = 2) at beta = 0.5: rho* = N(1, 1).  4000
 * points from 32 chains thinned by 10.  Tolerances: 0.07 on the mean and
 * 0.13 on the variance, 5 standard deviations of these estimates over 20
 * seeds (0.013 and 0.026).  Then a warm second call at beta = 2,
 * N(1, 1/4): 0.035 and 0.03 (sd 0.0065 and 0.0061).
 */
static void test_mala_quadratic(void **state) {
  (void)state;
  double m = 1, A = 2;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, 1, &m, &A, NULL), FPF_OK);
  fpf_gibbs_options o;
  fpf_gibbs_options_init(&o);
  o.n = 4000;
  o.force_mala = 1;
  o.seed = 11;
  fpf_gibbs *g;
  assert_int_equal(fpf_gibbs_create(&g, L, &o, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_sample(g, 0.5, NULL), FPF_OK);
  fpf_gibbs_info info;
  fpf_gibbs_get_info(g, &info);
  assert_int_equal(info.method, FPF_GIBBS_MALA);
  double mean, var;
  moments1(fpf_gibbs_points(g), o.n, &mean, &var);
  print_message("  MALA quadratic beta 0.5: mean %.4f var %.4f acceptance "
                "%.3f step %.3g\n", mean, var, info.acceptance, info.step);
  assert_true(info.acceptance > 0.3 && info.acceptance < 0.9);
  assert_true(fabs(mean - 1) < 0.07);
  assert_true(fabs(var - 1) < 0.13);
  assert_int_equal(fpf_gibbs_sample(g, 2.0, NULL), FPF_OK);
  fpf_gibbs_get_info(g, &info);
  moments1(fpf_gibbs_points(g), o.n, &mean, &var);
  print_message("  MALA quadratic beta 2: mean %.4f var %.4f acceptance "
                "%.3f (last call %.3f)\n", mean, var, info.acceptance,
                info.acceptance_last);
  assert_true(info.acceptance_last > 0.3 && info.acceptance_last < 0.9);
  assert_true(fabs(mean - 1) < 0.035);
  assert_true(fabs(var - 0.25) < 0.03);
  fpf_gibbs_destroy(g);
  fpf_landscape_destroy(L);
}

/* L = (z^2 - 1)^2 + 0.3 z, two wells with a barrier of about 1. */
static int double_well(void *user, size_t n, size_t d, const double *z,
                       double *value, double *grad, fpf_error *err) {
  (void)user;
  (void)d;
  (void)err;
  for (size_t i = 0; i < n; i++) {
    double x = z[i], q = x * x - 1;
    if (value) value[i] = q * q + 0.3 * x;
    if (grad) grad[i] = 4 * x * q + 0.3;
  }
  return 0;
}

/*
 * MALA on the double well at beta = 2 against moments by quadrature
 * (trapezoid, 40001 nodes on [-4, 4]: E z = -0.4723, E z^2 = 0.8933).
 * Tolerances 0.1 on E z and 0.045 on E z^2: 5 sd of the estimates over
 * 20 seeds (0.0195 and 0.0083), which include the chains' hops between
 * the wells.
 */
static void test_mala_double_well(void **state) {
  (void)state;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_callback(&L, 1, double_well, NULL, NULL),
                   FPF_OK);
  double beta = 2, s0 = 0, s1 = 0, s2 = 0;
  for (int i = 0; i <= 40000; i++) {
    double x = -4 + 8.0 * i / 40000, v, w;
    double_well(NULL, 1, 1, &x, &v, NULL, NULL);
    w = exp(-beta * v) * ((i == 0 || i == 40000) ? 0.5 : 1);
    s0 += w;
    s1 += w * x;
    s2 += w * x * x;
  }
  double ez = s1 / s0, ez2 = s2 / s0;
  fpf_gibbs_options o;
  fpf_gibbs_options_init(&o);
  o.n = 4000;
  o.thin = 20;
  o.seed = 3;
  fpf_gibbs *g;
  assert_int_equal(fpf_gibbs_create(&g, L, &o, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_sample(g, beta, NULL), FPF_OK);
  fpf_gibbs_info info;
  fpf_gibbs_get_info(g, &info);
  const double *x = fpf_gibbs_points(g);
  double m1 = 0, m2 = 0;
  for (size_t i = 0; i < o.n; i++) {
    m1 += x[i] / (double)o.n;
    m2 += x[i] * x[i] / (double)o.n;
  }
  print_message("  MALA double well: E z %.4f (quadrature %.4f), E z^2 %.4f "
                "(%.4f), acceptance %.3f, step %.3g\n", m1, ez, m2, ez2,
                info.acceptance, info.step);
  assert_true(info.acceptance > 0.3 && info.acceptance < 0.9);
  assert_true(fabs(m1 - ez) < 0.1);
  assert_true(fabs(m2 - ez2) < 0.045);
  /* log Z by the library's quadrature against this one */
  fpf_log_partition lz;
  assert_int_equal(fpf_gibbs_log_partition(L, beta, x, o.n, &lz, NULL),
                   FPF_OK);
  assert_true(fabs(lz.log_z - log(s0 * 8.0 / 40000)) < 1e-8);
  fpf_gibbs_destroy(g);
  fpf_landscape_destroy(L);
}

/* log Z: closed forms and quadrature against exact values. */
static void test_log_partition(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_log_partition r;
  double m[2] = {1, -1}, A[4] = {2, 0.5, 0.5, 1};
  assert_int_equal(fpf_landscape_quadratic(&L, 2, m, A, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_log_partition(L, 3, NULL, 0, &r, NULL), FPF_OK);
  assert_true(fabs(r.log_z - (log(2 * M_PI) - 0.5 * log(9 * 1.75))) < 1e-14);
  fpf_landscape_destroy(L);
  double means[2] = {-3, 3}, widths[2] = {0.5, 1.5}, p[2] = {0.7, 0.3};
  assert_int_equal(fpf_landscape_mixture(&L, 1, 2, means, widths, p, NULL),
                   FPF_OK);
  assert_int_equal(fpf_gibbs_log_partition(L, 1, NULL, 0, &r, NULL), FPF_OK);
  double ex = log(0.7 * sqrt(2 * M_PI * 0.25) + 0.3 * sqrt(2 * M_PI * 2.25));
  assert_true(fabs(r.log_z - ex) < 1e-14);
  assert_string_equal(r.method, "mixture");
  fpf_landscape_destroy(L);
  /* one well, beta = 2: Z = sqrt(2 pi s^2 / beta), by quadrature */
  double m0 = 0.7, s0 = 0.8;
  assert_int_equal(fpf_landscape_mixture(&L, 1, 1, &m0, &s0, NULL, NULL),
                   FPF_OK);
  assert_int_equal(fpf_gibbs_log_partition(L, 2, NULL, 0, &r, NULL), FPF_OK);
  assert_string_equal(r.method, "quadrature");
  assert_true(fabs(r.log_z - 0.5 * log(2 * M_PI * 0.64 / 2)) < 1e-10);
  fpf_landscape_destroy(L);
  /* two wells at beta = 1: exp(-L) = e^-w1 + e^-w2, Z = 4 pi */
  assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_log_partition(L, 1, NULL, 0, &r, NULL), FPF_OK);
  print_message("  two wells: log Z %.12f vs log 4 pi %.12f, grid %zu^2 on "
                "[%g, %g] x [%g, %g], error estimate %.1e\n", r.log_z,
                log(4 * M_PI), r.grid, r.lo[0], r.hi[0], r.lo[1], r.hi[1],
                r.error);
  assert_true(fabs(r.log_z - log(4 * M_PI)) < 1e-9);
  assert_true(r.error < 1e-8);
  fpf_landscape_destroy(L);
  /* d = 3 away from beta = 1: not known */
  double m3[6] = {0, 0, 0, 1, 1, 1};
  fpf_error e;
  assert_int_equal(fpf_landscape_mixture(&L, 3, 2, m3, NULL, NULL, NULL),
                   FPF_OK);
  assert_int_equal(fpf_gibbs_log_partition(L, 2, NULL, 0, &r, &e),
                   FPF_EUNSUPPORTED);
  assert_non_null(strstr(e.msg, "d = 3"));
  fpf_landscape_destroy(L);
}

/* KL on a quadratic: the closed form against fpf_kl_gaussian of the
 * particles' moments and (beta A)^-1, inverted by hand. */
static void test_kl_quadratic(void **state) {
  (void)state;
  double m[2] = {1, -1}, A[4] = {2, 0.5, 0.5, 1}, beta = 3;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, 2, m, A, NULL), FPF_OK);
  size_t n = 300;
  double *z = malloc(2 * n * sizeof *z);
  fpf_rng_normals(4, 30, 0, 0, z, 2 * n);
  for (size_t i = 0; i < 2 * n; i++) z[i] = 0.5 * z[i] + (i % 2 ? 0.3 : 0);
  fpf_kl_result r;
  assert_int_equal(fpf_gibbs_kl(L, beta, z, n, 3, NAN, &r, NULL), FPF_OK);
  assert_string_equal(r.method, "gaussian");
  double mu[2], S[4], T[4], kl;
  fpf_cloud c = {.x = z, .n = n, .d = 2};
  assert_int_equal(fpf_cloud_moments(&c, mu, S, NULL), FPF_OK);
  double det = beta * beta * 1.75;
  T[0] = beta * 1 / det;
  T[1] = T[2] = -beta * 0.5 / det;
  T[3] = beta * 2 / det;
  assert_int_equal(fpf_kl_gaussian(mu, S, m, T, 2, &kl, NULL), FPF_OK);
  assert_true(fabs(r.kl - kl) < 1e-12 * fmax(1, kl));
  /* particles on a line: the fit is singular, a clear error */
  for (size_t i = 0; i < n; i++) z[2 * i + 1] = z[2 * i];
  fpf_error e;
  assert_int_equal(fpf_gibbs_kl(L, beta, z, n, 3, NAN, &r, &e), FPF_ENOTPD);
  assert_non_null(strstr(e.msg, "not positive definite"));
  free(z);
  fpf_landscape_destroy(L);
}

/*
 * KL by the entropy route on the two wells at beta = 1, where
 * rho* = (N((-2, 0), I) + N((2, 1), I)) / 2: particles drawn from rho*
 * give KL = 0 up to the k-NN estimator's error (|KL| < 0.05 at n = 3000,
 * k = 3; measured 0.01).  A shifted ensemble gives a larger KL.
 */
static void test_kl_entropy(void **state) {
  (void)state;
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
  size_t n = 3000;
  double *z = malloc(2 * n * sizeof *z), u;
  for (size_t i = 0; i < n; i++) {
    fpf_rng_normals(8, 31, 0, i, z + 2 * i, 2);
    fpf_rng_uniforms(8, 32, 0, i, &u, 1);
    z[2 * i] += u < 0.5 ? -2 : 2;
    z[2 * i + 1] += u < 0.5 ? 0 : 1;
  }
  fpf_kl_result r;
  assert_int_equal(fpf_gibbs_kl(L, 1.0, z, n, 3, NAN, &r, NULL), FPF_OK);
  print_message("  KL two wells, particles from rho*: %.4f (H %.4f, E beta L "
                "%.4f, log Z %.6f +- %.1e)\n", r.kl, r.H, r.mean_beta_L,
                r.log_z, r.log_z_error);
  assert_string_equal(r.method, "entropy");
  assert_true(fabs(r.kl) < 0.05);
  for (size_t i = 0; i < n; i++) z[2 * i] += 1.5;
  double kl0 = r.kl;
  assert_int_equal(fpf_gibbs_kl(L, 1.0, z, n, 3, NAN, &r, NULL), FPF_OK);
  assert_true(r.kl > kl0 + 0.3);
  free(z);
  fpf_landscape_destroy(L);
  /* where log Z is unknown: NaN and the reason, not an error */
  double m3[6] = {0, 0, 0, 1, 1, 1}, z3[30];
  fpf_rng_normals(1, 2, 3, 4, z3, 30);
  assert_int_equal(fpf_landscape_mixture(&L, 3, 2, m3, NULL, NULL, NULL),
                   FPF_OK);
  assert_int_equal(fpf_gibbs_kl(L, 2.0, z3, 10, 3, NAN, &r, NULL), FPF_OK);
  assert_true(isnan(r.kl));
  assert_non_null(strstr(r.reason, "not known"));
  fpf_landscape_destroy(L);
}

/* A quadratic with A not positive definite has no Gibbs law. */
static void test_not_positive_definite(void **state) {
  (void)state;
  double m[2] = {0, 0}, A[4] = {1, 0, 0, -2};
  fpf_landscape *L;
  assert_int_equal(fpf_landscape_quadratic(&L, 2, m, A, NULL), FPF_OK);
  fpf_gibbs *g;
  fpf_error e;
  assert_int_equal(fpf_gibbs_create(&g, L, NULL, &e), FPF_ENOTPD);
  assert_null(g);
  assert_non_null(strstr(e.msg, "A is not positive definite"));
  assert_non_null(strstr(e.msg, "A[1][1] = -2"));
  fpf_log_partition r;
  assert_int_equal(fpf_gibbs_log_partition(L, 1, NULL, 0, &r, &e), FPF_ENOTPD);
  fpf_landscape_destroy(L);
  /* and beta must be > 0 */
  A[3] = 1;
  assert_int_equal(fpf_landscape_quadratic(&L, 2, m, A, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_create(&g, L, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_gibbs_sample(g, 0.0, &e), FPF_EINVAL);
  assert_non_null(strstr(e.msg, "beta = 0"));
  fpf_gibbs_destroy(g);
  fpf_landscape_destroy(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_gaussian),
      cmocka_unit_test(test_exact_mixture),
      cmocka_unit_test(test_mala_quadratic),
      cmocka_unit_test(test_mala_double_well),
      cmocka_unit_test(test_log_partition),
      cmocka_unit_test(test_kl_quadratic),
      cmocka_unit_test(test_kl_entropy),
      cmocka_unit_test(test_not_positive_definite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
