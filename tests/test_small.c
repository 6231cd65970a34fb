/*
 * The small-d products (small.c): Y = alpha X M, Y = alpha X L^T and
 * P += X^T X for every d from 1 to FPF_SMALL_MAX and row counts that
 * leave every remainder, against long-double sums.  Each entry must be
 * within 1e-14 of the sum of its terms' magnitudes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

#define TOL 1e-14

static double uniform(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static void fill(double *a, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) a[i] = uniform(s);
}

static const size_t rows[] = {1, 2, 3, 4, 5, 7, 9, 64, 65, 70};
#define NROWS (sizeof rows / sizeof rows[0])

/* M's entry (b, a) of the product in the given form: M, or L^T from the
 * lower triangle of M (what lies above M's diagonal must not count). */
static double entry(const double *M, size_t d, fpf_small_form form,
                    size_t b, size_t a) {
  if (form == FPF_SMALL_M) return M[b * d + a];
  return b <= a ? M[a * d + b] : 0.0;
}

static void check_times(fpf_small_form form, int in_place) {
  uint64_t s = 42;
  enum { MMAX = 70, D = FPF_SMALL_MAX };
  static double X[MMAX * D], M[D * D], Y[MMAX * D], X0[MMAX * D];
  for (size_t d = 1; d <= D; d++)
    for (size_t q = 0; q < NROWS; q++) {
      size_t m = rows[q];
      double alpha = 0.75;
      fill(X, m * d, &s);
      fill(M, d * d, &s);
      memcpy(X0, X, m * d * sizeof *X);
      double *out = in_place ? X : Y;
      fpf_small_times(m, d, alpha, X, M, form, out);
      for (size_t i = 0; i < m; i++)
        for (size_t a = 0; a < d; a++) {
          long double t = 0, mag = 0;
          for (size_t b = 0; b < d; b++) {
            long double v =
                (long double)X0[i * d + b] * entry(M, d, form, b, a);
            t += v;
            mag += fabsl(v);
          }
          t *= alpha;
          double err = fabs(out[i * d + a] - (double)t);
          if (err > TOL * (double)(mag * alpha) + 1e-300)
            fail_msg("form %d, in place %d, d %zu, m %zu: Y[%zu][%zu] = "
                     "%.17g, exact %.17Lg", (int)form, in_place, d, m, i, a,
                     out[i * d + a], t);
        }
    }
}

static void test_times_plain(void **state) {
  (void)state;
  check_times(FPF_SMALL_M, 0);
}

static void test_times_lower_t_in_place(void **state) {
  (void)state;
  check_times(FPF_SMALL_LOWER_T, 1);
}

/* P = P0 + X^T X, full and exactly symmetric after the mirror. */
static void test_gram(void **state) {
  (void)state;
  uint64_t s = 7;
  enum { MMAX = 70, D = FPF_SMALL_MAX };
  static double X[MMAX * D], P[D * D], P0[D * D];
  for (size_t d = 1; d <= D; d++)
    for (size_t q = 0; q < NROWS; q++) {
      size_t m = rows[q];
      fill(X, m * d, &s);
      fill(P0, d * d, &s);
      for (size_t a = 0; a < d; a++) /* a symmetric start */
        for (size_t c = 0; c < a; c++) P0[c * d + a] = P0[a * d + c];
      memcpy(P, P0, d * d * sizeof *P);
      fpf_small_gram(m, d, X, P);
      fpf_small_mirror(d, P);
      for (size_t a = 0; a < d; a++)
        for (size_t c = 0; c < d; c++) {
          long double t = P0[a * d + c], mag = fabsl(t);
          for (size_t i = 0; i < m; i++) {
            long double v = (long double)X[i * d + a] * X[i * d + c];
            t += v;
            mag += fabsl(v);
          }
          if (fabs(P[a * d + c] - (double)t) > TOL * (double)mag)
            fail_msg("d %zu, m %zu: P[%zu][%zu] = %.17g, exact %.17Lg", d,
                     m, a, c, P[a * d + c], t);
          if (P[a * d + c] != P[c * d + a])
            fail_msg("d %zu, m %zu: P not symmetric at (%zu, %zu)", d, m, a,
                     c);
        }
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_times_plain),
      cmocka_unit_test(test_times_lower_t_in_place),
      cmocka_unit_test(test_gram),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
