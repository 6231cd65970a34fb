/*
 * The binned FFT KDE (src/kde_binned.c) against exact answers: one and two
 * kernels in closed form; the exact log-space sums of kde.h on subsamples
 * of N = 20000 particles in d = 1, 2, 3, with stated tolerances; particles
 * far out in the tails; the flux divergence against the exact sum;
 * bit-identical results on 1 and 2 threads; bad input; failed
 * allocations, and no allocation while evaluating.
 *
 * Measured errors at N = 20000, standard normal particles, Scott's h,
 * default grids, 500 of the particles compared (docs/kde_binned.md):
 *   d = 1 (66 cells per h):   |d log rho| 2.3e-6, h |d score| 3.0e-6;
 *   d = 2 (20 cells per h):   |d log rho| 6.4e-5, h |d score| 7.7e-5;
 *   d = 3 (3.1 cells per h):  |d log rho| 4.8e-3, h |d score| 7.3e-3.
 * The tolerances below are 4 to 6 times these.
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
#include "fpflow/kde.h"
#include "fpflow/rng.h"
#include "kde_binned.h"

#define LOG2PI 1.8378770664093454836

/* ---- allocation hooks: count calls, or fail the k-th one ----------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static volatile long calls, fail_at;

/* 1 when this call should fail. */
static int hook(void) {
  if (!counting) return 0;
  long k = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  return k == fail_at;
}
void *malloc(size_t n) { return hook() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) {
  return hook() ? NULL : __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  return hook() ? NULL : __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
  return hook() ? NULL : __libc_memalign(a, n);
}
void *memalign(size_t a, size_t n) { /* FFTW's fftw_malloc */
  return hook() ? NULL : __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
  *p = hook() ? NULL : __libc_memalign(a, n);
  return *p ? 0 : 12;
}

/* ---- helpers -------------------------------------------------------- */

static double *normals(size_t n, size_t d, uint64_t seed) {
  double *z = malloc(n * d * sizeof *z);
  fpf_rng_normals(seed, 40, 0, 0, z, n * d);
  return z;
}

/* Scott's rule for unit variance: h = n^(-1/(d+4)). */
static double scott(size_t n, size_t d) {
  return pow((double)n, -1.0 / (double)(d + 4));
}

/* The largest |d log rho| and h |d score| of the binned estimate over
 * every stride-th particle, against the exact sums of kde.h. */
static void compare_exact(const double *z, size_t n, size_t d, double h,
                          const double *lr, const double *sc, size_t stride,
                          double *e_lr, double *e_sc) {
  size_t m = (n + stride - 1) / stride;
  double *x = malloc(m * d * sizeof *x), *el = malloc(m * sizeof *el);
  double *es = malloc(m * d * sizeof *es);
  for (size_t k = 0; k < m; k++)
    memcpy(x + k * d, z + k * stride * d, d * sizeof *x);
  assert_int_equal(fpf_kde_log_density(z, n, d, x, m, h, 0, el, es, NULL),
                   FPF_OK);
  *e_lr = *e_sc = 0;
  for (size_t k = 0; k < m; k++) {
    size_t i = k * stride;
    double e = fabs(lr[i] - el[k]), s2 = 0;
    for (size_t c = 0; c < d; c++)
      s2 += (sc[i * d + c] - es[k * d + c]) * (sc[i * d + c] - es[k * d + c]);
    *e_lr = fmax(*e_lr, e);
    *e_sc = fmax(*e_sc, h * sqrt(s2));
  }
  free(x);
  free(el);
  free(es);
}

/* ---- closed forms --------------------------------------------------- */

/* One particle: rho = K_h(0) exactly (the self term is exact), score 0. */
static void test_single_particle(void **state) {
  (void)state;
  for (size_t d = 1; d <= 3; d++) {
    double z[3] = {0.3, -1.2, 7.0}, lr, sc[3];
    fpf_kde_binned *b;
    assert_int_equal(fpf_kde_binned_create(&b, 1, d, 64, NULL), FPF_OK);
    assert_int_equal(fpf_kde_binned_eval(b, z, 1, 0.7, &lr, sc, NULL),
                     FPF_OK);
    assert_true(fabs(lr + 0.5 * (double)d * (LOG2PI + 2 * log(0.7))) <
                1e-12);
    for (size_t c = 0; c < d; c++) assert_true(fabs(sc[c]) < 1e-12);
    fpf_kde_binned_destroy(b);
  }
}

/*
 * Two particles at distance r = h: rho = (K_h(0) / 2) (1 + e^(-1/2)) and
 * score_1 = (z_2 - z_1) e^(-1/2) / ((1 + e^(-1/2)) h^2), within the
 * a-priori error estimate.
 */
static void test_two_particles(void **state) {
  (void)state;
  double h = 0.5, z[4] = {0.0, 0.0, 0.3, 0.4}, lr[2], sc[4];
  double e = exp(-0.5);
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_binned_create(&b, 2, 2, 256, NULL), FPF_OK);
  assert_int_equal(fpf_kde_binned_eval(b, z, 2, h, lr, sc, NULL), FPF_OK);
  fpf_kde_binned_info in;
  fpf_kde_binned_info_get(b, &in);
  double want = -(LOG2PI + 2 * log(h)) + log(0.5 * (1 + e));
  assert_true(in.log_rho_err > 0 && in.log_rho_err < 1e-3);
  assert_true(fabs(lr[0] - want) < in.log_rho_err);
  assert_true(fabs(lr[1] - want) < in.log_rho_err);
  for (size_t c = 0; c < 2; c++) {
    double s = (z[2 + c] - z[c]) * e / ((1 + e) * h * h);
    assert_true(fabs(sc[c] - s) * h < in.score_err);
    assert_true(fabs(sc[2 + c] + s) * h < in.score_err);
  }
  fpf_kde_binned_destroy(b);
}

/*
 * Bandwidths at both ends of the accepted range, with the particles
 * scaled alike: the log density (about +690 and -230 here) and the score
 * come out of log space like the exact sums.  fit reports the grid that
 * eval then uses.
 */
static void test_extreme_bandwidths(void **state) {
  (void)state;
  double unit[12] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0.5, 0.5, 1};
  double scales[2] = {1e-100, 1e50};
  for (int k = 0; k < 2; k++) {
    double z[12], h = scales[k], lr[4], sc[12], el[4], es[12];
    for (int i = 0; i < 12; i++) z[i] = unit[i] * h;
    fpf_kde_binned *b;
    fpf_kde_binned_info fi, in;
    assert_int_equal(fpf_kde_binned_create(&b, 4, 3, 64, NULL), FPF_OK);
    assert_int_equal(fpf_kde_binned_fit(b, z, 4, h, &fi, NULL), FPF_OK);
    assert_int_equal(fpf_kde_binned_eval(b, z, 4, h, lr, sc, NULL), FPF_OK);
    fpf_kde_binned_info_get(b, &in);
    assert_true(fi.cells_per_h == in.cells_per_h);
    assert_true(fi.log_rho_err == in.log_rho_err);
    assert_int_equal(fpf_kde_log_density(z, 4, 3, NULL, 0, h, 0, el, es,
                                         NULL), FPF_OK);
    for (int i = 0; i < 4; i++) {
      assert_true(isfinite(lr[i]));
      assert_true(fabs(lr[i] - el[i]) < in.log_rho_err);
      for (int c = 0; c < 3; c++)
        assert_true(h * fabs(sc[3 * i + c] - es[3 * i + c]) < in.score_err);
    }
    fpf_kde_binned_destroy(b);
  }
}

/* ---- against the exact sums ----------------------------------------- */

static void against_exact(size_t d, double tol_lr, double tol_sc) {
  size_t n = 20000;
  double *z = normals(n, d, 100 + d), h = scott(n, d);
  double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_binned_create(&b, n, d, 0, NULL), FPF_OK);
  assert_int_equal(fpf_kde_binned_eval(b, z, n, h, lr, sc, NULL), FPF_OK);
  fpf_kde_binned_info in;
  fpf_kde_binned_info_get(b, &in);
  double e_lr, e_sc;
  compare_exact(z, n, d, h, lr, sc, 40, &e_lr, &e_sc);
  print_message("d = %zu: %.1f cells per h, max |d log rho| %.2e (estimate "
                "%.2e), max h |d score| %.2e (estimate %.2e)\n", d,
                in.cells_per_h, e_lr, in.log_rho_err, e_sc, in.score_err);
  assert_true(e_lr < tol_lr);
  assert_true(e_sc < tol_sc);
  /* the a-priori estimate covers the measured error */
  assert_true(e_lr < in.log_rho_err);
  assert_true(e_sc < in.score_err);
  fpf_kde_binned_destroy(b);
  free(z);
  free(lr);
  free(sc);
}

static void test_exact_1d(void **state) {
  (void)state;
  against_exact(1, 1e-5, 1e-5);
}

static void test_exact_2d(void **state) {
  (void)state;
  against_exact(2, 3e-4, 5e-4);
}

static void test_exact_3d(void **state) {
  (void)state;
  against_exact(3, 2e-2, 3e-2);
}

/* ---- tails ---------------------------------------------------------- */

/*
 * A particle 40 standard deviations (about 200 h) out: its density is its
 * own kernel, log rho = log(K_h(0) / n), and its score is 0; one 5 h past
 * the cloud's edge is compared with the exact sum.  With the tail
 * threshold raised to 1e-2, the far particle is summed exactly (its
 * density is 1.4e-3 of the largest).
 */
static void test_tail_particles(void **state) {
  (void)state;
  size_t n = 20000, d = 2;
  double *z = normals(n, d, 7), h = scott(n, d);
  z[0] = 40.0;
  z[1] = 0.0;
  double xmax = 0;
  for (size_t i = 1; i < n; i++) xmax = fmax(xmax, z[2 * i]);
  z[2] = xmax + 5 * h;
  z[3] = 0.0;
  double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
  double el[2], es[4];
  assert_int_equal(fpf_kde_log_density(z, n, d, z, 2, h, 0, el, es, NULL),
                   FPF_OK);
  double lone = -(LOG2PI + 2 * log(h)) - log((double)n);
  assert_true(fabs(el[0] - lone) < 1e-12);
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_binned_create(&b, n, d, 0, NULL), FPF_OK);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) fpf_kde_binned_set_tail(b, 1e-2);
    assert_int_equal(fpf_kde_binned_eval(b, z, n, h, lr, sc, NULL), FPF_OK);
    fpf_kde_binned_info in;
    fpf_kde_binned_info_get(b, &in);
    assert_true(isfinite(lr[0]) && isfinite(lr[1]));
    assert_true(fabs(lr[0] - el[0]) < 1e-9);
    assert_true(fabs(sc[0]) < 1e-9 && fabs(sc[1]) < 1e-9);
    assert_true(fabs(lr[1] - el[1]) < in.log_rho_err);
    assert_true(h * fabs(sc[2] - es[2]) < in.score_err);
    if (pass == 1) {
      assert_true(in.n_exact >= 1);
      assert_true(fabs(lr[0] - el[0]) < 1e-13);
    } else {
      assert_int_equal(in.n_exact, 0);
    }
  }
  fpf_kde_binned_destroy(b);
  free(z);
  free(lr);
  free(sc);
}

/* Threshold infinity: every particle is summed exactly, so the results are
 * the exact ones to round-off. */
static void test_all_exact(void **state) {
  (void)state;
  size_t n = 1500, d = 3;
  double *z = normals(n, d, 8), h = scott(n, d);
  double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_binned_create(&b, n, d, 64, NULL), FPF_OK);
  fpf_kde_binned_set_tail(b, INFINITY);
  assert_int_equal(fpf_kde_binned_eval(b, z, n, h, lr, sc, NULL), FPF_OK);
  fpf_kde_binned_info in;
  fpf_kde_binned_info_get(b, &in);
  assert_int_equal(in.n_exact, n);
  double e_lr, e_sc;
  compare_exact(z, n, d, h, lr, sc, 1, &e_lr, &e_sc);
  assert_true(e_lr < 1e-12 && e_sc < 1e-12);
  fpf_kde_binned_destroy(b);
  free(z);
  free(lr);
  free(sc);
}

/* ---- divergence ----------------------------------------------------- */

/*
 * div_J and div_J / rho against fpf_kde_flux_divergence for velocities
 * v = -z + 0.3 sin(3 z_next), 3000 particles, both given the exact
 * log rho.  Measured: 2.5e-5 (d = 1), 1e-4 (d = 2), 6e-3 (d = 3) of the
 * largest |div_J / rho|.
 */
static void divergence_case(size_t d, size_t grid, double tol) {
  size_t n = 3000;
  double *z = normals(n, d, 9), *v = malloc(n * d * sizeof *v);
  double h = scott(n, d);
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++)
      v[i * d + c] = -z[i * d + c] + 0.3 * sin(3 * z[i * d + (c + 1) % d]);
  double *lr = malloc(n * sizeof *lr), *de = malloc(n * sizeof *de);
  double *qe = malloc(n * sizeof *qe), *db = malloc(n * sizeof *db);
  double *qb = malloc(n * sizeof *qb);
  fpf_kde *k;
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_create(&k, n, d, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_kde_binned_create(&b, n, d, grid, NULL), FPF_OK);
  assert_int_equal(fpf_kde_eval(k, z, n, h, lr, NULL, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_kde_flux_divergence(k, z, n, h, lr, v, de, qe, NULL),
                   FPF_OK);
  assert_int_equal(
      fpf_kde_binned_divergence(b, z, n, h, lr, v, db, qb, NULL), FPF_OK);
  double qmax = 0, dmax = 0, eq = 0, ed = 0;
  for (size_t i = 0; i < n; i++) {
    qmax = fmax(qmax, fabs(qe[i]));
    dmax = fmax(dmax, fabs(de[i]));
    eq = fmax(eq, fabs(qb[i] - qe[i]));
    ed = fmax(ed, fabs(db[i] - de[i]));
  }
  print_message("divergence d = %zu: max |d (div/rho)| %.2e of %.2f, max "
                "|d div| %.2e of %.3f\n", d, eq, qmax, ed, dmax);
  assert_true(eq < tol * qmax);
  assert_true(ed < tol * dmax);
  fpf_kde_binned_destroy(b);
  fpf_kde_destroy(k);
  free(z);
  free(v);
  free(lr);
  free(de);
  free(qe);
  free(db);
  free(qb);
}

static void test_divergence(void **state) {
  (void)state;
  divergence_case(1, 0, 1e-4);
  divergence_case(2, 0, 5e-4);
  divergence_case(3, 0, 2e-2);
}

/* ---- threads -------------------------------------------------------- */

static void test_threads_identical(void **state) {
  (void)state;
  for (size_t d = 1; d <= 3; d++) {
    size_t n = 20000;
    double *z = normals(n, d, 11), h = scott(n, d);
    double *v = normals(n, d, 12);
    double *out[2][4];
    fpf_kde_binned *b;
    assert_int_equal(fpf_kde_binned_create(&b, n, d, 0, NULL), FPF_OK);
    for (int t = 0; t < 2; t++) {
      fpf_set_threads(t + 1);
      out[t][0] = malloc(n * sizeof(double));
      out[t][1] = malloc(n * d * sizeof(double));
      out[t][2] = malloc(n * sizeof(double));
      out[t][3] = malloc(n * sizeof(double));
      assert_int_equal(
          fpf_kde_binned_eval(b, z, n, h, out[t][0], out[t][1], NULL),
          FPF_OK);
      assert_int_equal(fpf_kde_binned_divergence(b, z, n, h, out[t][0], v,
                                                 out[t][2], out[t][3], NULL),
                       FPF_OK);
    }
    assert_memory_equal(out[0][0], out[1][0], n * sizeof(double));
    assert_memory_equal(out[0][1], out[1][1], n * d * sizeof(double));
    assert_memory_equal(out[0][2], out[1][2], n * sizeof(double));
    assert_memory_equal(out[0][3], out[1][3], n * sizeof(double));
    for (int t = 0; t < 2; t++)
      for (int j = 0; j < 4; j++) free(out[t][j]);
    fpf_kde_binned_destroy(b);
    free(z);
    free(v);
  }
  fpf_set_threads(2);
}

/* ---- bad input ------------------------------------------------------ */

static void test_bad_input(void **state) {
  (void)state;
  fpf_kde_binned *b;
  fpf_error err;
  assert_int_equal(fpf_kde_binned_create(&b, 10, 4, 0, &err), FPF_EINVAL);
  assert_null(b);
  assert_non_null(strstr(err.msg, "d = 4"));
  assert_int_equal(fpf_kde_binned_create(&b, 10, 2, 8, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "grid = 8"));
  assert_int_equal(fpf_kde_binned_create(&b, 0, 2, 0, &err), FPF_EINVAL);
  fpf_kde_binned_destroy(NULL);

  /* a spread of 1000 h on 128 points cannot resolve h */
  size_t n = 100;
  double *z = normals(n, 2, 13), lr[100], sc[200];
  z[0] = 1000.0;
  assert_int_equal(fpf_kde_binned_create(&b, n, 2, 128, NULL), FPF_OK);
  assert_int_equal(fpf_kde_binned_fit(b, z, n, 1.0, NULL, &err),
                   FPF_EINVAL);
  assert_int_equal(fpf_kde_binned_eval(b, z, n, 1.0, lr, sc, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "too small for the grid"));
  assert_non_null(strstr(err.msg, "exact method"));
  assert_non_null(strstr(err.msg, "coordinate 0"));
  assert_int_equal(fpf_kde_binned_eval(b, z, n, 30.0, lr, sc, &err),
                   FPF_OK);
  z[0] = 0.5;

  /* n beyond the workspace, h out of range, a NaN */
  assert_int_equal(fpf_kde_binned_eval(b, z, n + 1, 0.3, lr, sc, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "n = 101"));
  assert_int_equal(fpf_kde_binned_eval(b, z, n, 0.0, lr, sc, &err),
                   FPF_EINVAL);
  z[7] = NAN;
  assert_int_equal(fpf_kde_binned_eval(b, z, n, 0.3, lr, sc, &err),
                   FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "particle 3, coordinate 1"));
  fpf_kde_binned_destroy(b);
  free(z);
}

/* ---- allocation ----------------------------------------------------- */

/*
 * Failing each of create's own allocations (the calloc of the object, the
 * six buffers, the tail list and two spectra per coordinate, before any
 * FFTW planning, which aborts on failure) gives FPF_ENOMEM and no object.
 * Evaluation and divergence then allocate nothing, on 1 and 2 threads,
 * exact tails included.
 */
static void test_allocations(void **state) {
  (void)state;
  for (size_t d = 1; d <= 3; d++) {
    long own = 8 + 2 * (long)d;
    for (long k = 1; k <= own; k++) {
      fpf_kde_binned *b = (fpf_kde_binned *)1;
      fpf_error err;
      calls = 0;
      fail_at = k;
      counting = 1;
      fpf_status st = fpf_kde_binned_create(&b, 5000, d, 64, &err);
      counting = 0;
      assert_int_equal(st, FPF_ENOMEM);
      assert_null(b);
    }
  }
  fail_at = 0;
  size_t n = 5000, d = 2;
  double *z = normals(n, d, 14), *v = normals(n, d, 15), h = scott(n, d);
  double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
  double *dv = malloc(n * sizeof *dv), *q = malloc(n * sizeof *q);
  fpf_kde_binned *b;
  assert_int_equal(fpf_kde_binned_create(&b, n, d, 0, NULL), FPF_OK);
  fpf_kde_binned_set_tail(b, 1e-2); /* some exact tails too */
  for (int t = 1; t <= 2; t++) {
    fpf_set_threads(t);
    assert_int_equal(fpf_kde_binned_eval(b, z, n, h, lr, sc, NULL), FPF_OK);
    calls = 0;
    counting = 1;
    assert_int_equal(fpf_kde_binned_eval(b, z, n, h, lr, sc, NULL), FPF_OK);
    assert_int_equal(
        fpf_kde_binned_divergence(b, z, n, h, lr, v, dv, q, NULL), FPF_OK);
    counting = 0;
    assert_int_equal(calls, 0);
  }
  fpf_kde_binned_info in;
  fpf_kde_binned_info_get(b, &in);
  assert_true(in.n_exact > 0);
  fpf_kde_binned_destroy(b);
  free(z);
  free(v);
  free(lr);
  free(sc);
  free(dv);
  free(q);
}

int main(void) {
  fpf_set_threads(2);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_particle),
      cmocka_unit_test(test_two_particles),
      cmocka_unit_test(test_extreme_bandwidths),
      cmocka_unit_test(test_exact_1d),
      cmocka_unit_test(test_exact_2d),
      cmocka_unit_test(test_exact_3d),
      cmocka_unit_test(test_tail_particles),
      cmocka_unit_test(test_all_exact),
      cmocka_unit_test(test_divergence),
      cmocka_unit_test(test_threads_identical),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_allocations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
