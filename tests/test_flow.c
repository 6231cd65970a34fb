/*
 * The flow's Fisher matrix, diffusion, drift, flux and observables
 * against the formulas of flow.h, recomputed in long double from the
 * loss gradients and the flow's own log rho, score and D:
 *   F = (1/n) sum_i g_i g_i^T (d = 2 takes the small-d loops, the others
 *   the blocked syrk),  D = c (I + gamma F),
 *   mu_i = -eta (grad L_i + lambda g_i),  J_i = rho_i (mu_i - D s_i),
 *   S_dot, C_vel and log C,
 * in each regime of rho that the flow treats apart:
 *   - rho a normal double (d = 2);
 *   - rho below 1e-300 with rho s still a normal number (log rho near
 *     -700, the products formed from logarithms);
 *   - rho above 1e300 (log rho near +700);
 *   - rho s and rho (mu - D s) below the smallest double (log rho near
 *     -1300: exact zeros);
 * for the source's entropy form, the Wasserstein form and a given drift.
 * long double has the exponent range to hold rho in all of them.
 * Tolerance: 1e-12 relative to the largest entry of the particle's row
 * (for F, to the sum of the products' sizes), plus 1e-322 absolute (the
 * spacing of the subnormal doubles).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/flow.h"
#include "fpflow/rng.h"

#define N 41 /* not a multiple of 4: both loops of the small-d Fisher */
#define TOL 1e-12

typedef struct {
  size_t d;
  double h, lambda;
  fpf_entropy_form form;
  int given_drift;
  double lr_lo, lr_hi; /* the range log rho must fall in */
  double zscale;        /* the particles' spread (0: 1) */
} flow_case;

/* |a - b| within TOL of scale, or both below the subnormal spacing. */
static void assert_close(double got, long double want, long double scale,
                         const char *what, size_t i, size_t c) {
  long double err = fabsl((long double)got - want);
  if (err <= TOL * scale + 1e-322L) return;
  fail_msg("%s[%zu][%zu] = %.17g, expected %.17Lg (scale %.3Lg)", what, i,
           c, got, want, scale);
}

static void check_case(const flow_case *fc) {
  size_t d = fc->d, nd = N * d;
  double *z = malloc(nd * sizeof *z), *gl = malloc(nd * sizeof *gl);
  double *drift = malloc(nd * sizeof *drift);
  fpf_rng_normals(7, 3, 0, 0, z, nd);
  fpf_rng_normals(7, 4, 0, 0, drift, nd);
  for (size_t q = 0; q < nd; q++) {
    if (fc->zscale > 0) z[q] *= fc->zscale;
    gl[q] = z[q] * (1.0 + 0.1 * (q % 3));
  }
  fpf_flow_options o;
  fpf_flow_options_init(&o);
  o.cholesky = 0;
  fpf_flow *f;
  assert_int_equal(fpf_flow_create(&f, N, d, &o, NULL), FPF_OK);
  fpf_flow_input in = {.z = z, .n = N, .grad = gl};
  if (fc->given_drift) in.drift = drift;
  fpf_flow_params p = {.eta = 0.3, .lambda = fc->lambda, .c = 0.7,
                       .gamma = 0.2, .h = fc->h, .entropy_form = fc->form};
  fpf_metrics m;
  assert_int_equal(fpf_flow_compute(f, &in, &p, &m, NULL), FPF_OK);
  const double *lr = fpf_flow_log_density(f), *s = fpf_flow_score(f);
  const double *D = fpf_flow_diffusion(f), *mu = fpf_flow_drift(f);
  const double *J = fpf_flow_flux(f);
  /* F = (1/n) sum_i g_i g_i^T and D = c (I + gamma F) */
  const double *F = fpf_flow_fisher(f);
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) {
      long double fr = 0, fs = 0;
      for (size_t i = 0; i < N; i++) {
        fr += (long double)gl[i * d + a] * gl[i * d + b];
        fs += fabsl((long double)gl[i * d + a] * gl[i * d + b]);
      }
      assert_close(F[a * d + b], fr / N, fs / N, "F", a, b);
      assert_close(D[a * d + b], 0.7L * ((a == b) + 0.2L * F[a * d + b]),
                   0.7L * (1 + 0.2L * fs / N), "D", a, b);
    }
  long double mu2 = 0, ds2 = 0, sd = 0, dgr2 = 0;
  for (size_t i = 0; i < N; i++) {
    if (lr[i] < fc->lr_lo || lr[i] > fc->lr_hi)
      fail_msg("log rho[%zu] = %g, outside [%g, %g]: the case does not "
               "test the regime it names", i, lr[i], fc->lr_lo, fc->lr_hi);
    long double rho = expl((long double)lr[i]);
    long double mr[d], vr[d], mscale = 0, jscale = 0;
    for (size_t c = 0; c < d; c++) {
      long double ds = 0;
      for (size_t b = 0; b < d; b++)
        ds += (long double)D[c * d + b] * s[i * d + b];
      long double g = fc->form == FPF_ENTROPY_SOURCE
                          ? -rho * s[i * d + c] * (1.0L + lr[i])
                          : -(long double)s[i * d + c];
      mr[c] = fc->given_drift ? (long double)drift[i * d + c]
                              : -0.3L * (gl[i * d + c] + fc->lambda * g);
      vr[c] = mr[c] - ds;
      mu2 += mr[c] * mr[c];
      ds2 += ds * ds;
      dgr2 += rho * rho * ds * ds;
      sd += vr[c] * s[i * d + c];
      if (fabsl(mr[c]) > mscale) mscale = fabsl(mr[c]);
      if (fabsl(rho * vr[c]) > jscale) jscale = fabsl(rho * vr[c]);
    }
    for (size_t c = 0; c < d; c++) {
      assert_close(mu[i * d + c], mr[c], mscale, "mu", i, c);
      assert_close(J[i * d + c], rho * vr[c], jscale, "J", i, c);
    }
  }
  assert_true(fabsl(m.S_dot - sd / N) <= TOL * fabsl(sd / N));
  assert_true(fabsl(m.log_C_vel - 0.5L * logl(mu2 / ds2)) <= TOL);
  assert_true(fabsl(m.log_C - 0.5L * (logl(mu2) - logl(dgr2))) <= TOL);
  fpf_flow_destroy(f);
  free(z);
  free(gl);
  free(drift);
}

/* d = 2, h = 0.5: log rho between -6 and 0. */
static void test_rho_normal(void **state) {
  (void)state;
  flow_case c = {2, 0.5, 0.5, FPF_ENTROPY_SOURCE, 0, -10, 1, 0};
  check_case(&c);
  c.form = FPF_ENTROPY_WASSERSTEIN;
  check_case(&c);
  c.given_drift = 1;
  check_case(&c);
}

/*
 * d = 64, h = 22430: every particle sits well inside one kernel, so
 * log rho = -log(1) - 32 log(2 pi h^2) = -700 near enough; rho = 1e-304
 * is below 1e-300 while rho |s| (s about 1/h^2) is about 1e-313.
 * lambda = 1e300 brings the entropy term to 1e-10 of the drift.
 */
static void test_rho_tiny(void **state) {
  (void)state;
  flow_case c = {64, 22430, 1e300, FPF_ENTROPY_SOURCE, 0, -702, -698, 0};
  check_case(&c);
}

/* d = 128, h = 1.73e-3, the particles spread by h / 10: log rho =
 * -64 log(2 pi h^2) + log(mean kernel) = 696 - 1.3 or so; rho = 1e302
 * overflows alone when squared, and is above the 1e300 the flow
 * multiplies by directly, while rho |v| (|v| up to about 100) is
 * finite; lambda = 1e-306 brings the entropy term to the size of D s. */
static void test_rho_huge(void **state) {
  (void)state;
  flow_case c = {128, 1.73e-3, 1e-306, FPF_ENTROPY_SOURCE, 0, 691, 700,
                 1.73e-4};
  check_case(&c);
}

/* d = 512, h = 5: log rho near -1300; rho s and rho v are exact zeros. */
static void test_rho_underflows(void **state) {
  (void)state;
  flow_case c = {512, 5, 0.5, FPF_ENTROPY_SOURCE, 0, -1400, -1200, 0};
  check_case(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rho_normal),
      cmocka_unit_test(test_rho_tiny),
      cmocka_unit_test(test_rho_huge),
      cmocka_unit_test(test_rho_underflows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
