/* Philox known answers, the moments of fpflow's normals, rows of
 * normals drawn together against one index at a time, and Box-Muller's
 * values against long double. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <Random123/philox.h>

#include "fpflow/rng.h"

/* Random123's published known-answer vectors for Philox4x64-10. */
static void test_known_answers(void **state) {
  (void)state;
  uint64_t w[4];
  fpf_rng_block(0, 0, 0, 0, 0, w);
  assert_true(w[0] == 0x16554d9eca36314cULL);
  assert_true(w[1] == 0xdb20fe9d672d0fdcULL);
  assert_true(w[2] == 0xd7e772cee186176bULL);
  assert_true(w[3] == 0x7e68b68aec7ba23bULL);
  philox4x64_ctr_t c = {{~0ULL, ~0ULL, ~0ULL, ~0ULL}};
  philox4x64_key_t k = {{~0ULL, ~0ULL}};
  philox4x64_ctr_t r = philox4x64(c, k);
  assert_true(r.v[0] == 0x87b092c3013fe90bULL);
  assert_true(r.v[3] == 0xa09caebf594f0ba0ULL);
}

/* The counter layout: (k, index, step, stream) words in that order. */
static void test_counter_layout(void **state) {
  (void)state;
  uint64_t w[4];
  fpf_rng_block(7, 3, 5, 11, 2, w);
  philox4x64_ctr_t c = {{2, 11, 5, 3}};
  philox4x64_key_t k = {{7, 0}};
  philox4x64_ctr_t r = philox4x64(c, k);
  for (int i = 0; i < 4; i++) assert_true(w[i] == r.v[i]);
}

/*
 * 10^6 normals: mean, variance and fourth moment within 6 standard errors
 * (se of the mean 1e-3, of the variance sqrt(2)e-3, of E z^4 sqrt(96)e-3).
 */
static void test_normal_moments(void **state) {
  (void)state;
  enum { N = 1000000, PER = 1000 };
  double *z = malloc(N * sizeof *z);
  for (size_t i = 0; i < N / PER; i++)
    fpf_rng_normals(123, 0, 9, i, z + i * PER, PER);
  double m1 = 0, m2 = 0, m4 = 0;
  for (size_t i = 0; i < N; i++) {
    m1 += z[i];
    m2 += z[i] * z[i];
    m4 += z[i] * z[i] * z[i] * z[i];
  }
  m1 /= N;
  m2 /= N;
  m4 /= N;
  assert_true(fabs(m1) < 6e-3);
  assert_true(fabs(m2 - 1) < 6 * 1.4143e-3);
  assert_true(fabs(m4 - 3) < 6 * 9.8e-3);
  free(z);
}

/* Uniforms lie in (0, 1); a partial vector equals the full vector's head. */
static void test_uniforms_and_prefix(void **state) {
  (void)state;
  double a[10], b[7];
  fpf_rng_uniforms(1, 2, 3, 4, a, 10);
  fpf_rng_uniforms(1, 2, 3, 4, b, 7);
  for (int i = 0; i < 10; i++) assert_true(a[i] > 0 && a[i] < 1);
  for (int i = 0; i < 7; i++) assert_true(a[i] == b[i]);
  double x[5], y[5];
  fpf_rng_normals(1, 0, 3, 4, x, 5);
  fpf_rng_normals(1, 0, 4, 4, y, 5);
  int same = 0;
  for (int i = 0; i < 5; i++) same += x[i] == y[i];
  assert_int_equal(same, 0);
}

/* Rows drawn together are the rows drawn one index at a time, bit for
 * bit, for row lengths on both sides of the shared-chunk limit (64) and
 * odd lengths that leave a block's second pair unused. */
static void test_rows_match(void **state) {
  (void)state;
  static const size_t lens[] = {1, 2, 3, 4, 5, 7, 63, 64, 65, 130};
  enum { ROWS = 301 };
  for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++) {
    size_t n = lens[q];
    double *a = malloc(ROWS * n * sizeof *a), *b = malloc(n * sizeof *b);
    float *af = malloc(ROWS * n * sizeof *af), *bf = malloc(n * sizeof *bf);
    fpf_rng_normals_rows(5, 2, 9, 1000, ROWS, a, n);
    fpf_rng_normals_rows_f(5, 2, 9, 1000, ROWS, af, n);
    for (size_t i = 0; i < ROWS; i++) {
      fpf_rng_normals(5, 2, 9, 1000 + i, b, n);
      fpf_rng_normals_f(5, 2, 9, 1000 + i, bf, n);
      for (size_t c = 0; c < n; c++) {
        if (a[i * n + c] != b[c] || af[i * n + c] != bf[c])
          fail_msg("n = %zu, row %zu, coordinate %zu: %.17g vs %.17g", n,
                   i, c, a[i * n + c], b[c]);
      }
    }
    free(a);
    free(b);
    free(af);
    free(bf);
  }
}

/*
 * Box-Muller against long double from the Philox words themselves: block
 * k of a row gives z[4k], z[4k+1] from (w0, w1) and z[4k+2], z[4k+3] from
 * (w2, w3), radius sqrt(-2 log u) from the first word of a pair and angle
 * 2 pi u from the second, u = (w >> 11 + 0.5) / 2^53 in double.  fpflow's
 * own log and sincos (vectorised) agree to 4e-15 of the radius; lengths
 * that end inside a block and inside a vector take the tails.
 */
static void test_box_muller_values(void **state) {
  (void)state;
  static const size_t lens[] = {1, 3, 5, 6, 255, 257, 40000};
  const long double two_pi = 6.283185307179586476925286766559L;
  double worst = 0;
  for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++) {
    size_t n = lens[q];
    double *z = malloc(n * sizeof *z);
    fpf_rng_normals(11, 3, 7, 42 + q, z, n);
    for (size_t i = 0; i < n; i++) {
      uint64_t w[4];
      fpf_rng_block(11, 3, 7, 42 + q, i / 4, w);
      size_t pair = (i % 4) / 2;
      /* the uniforms as the library rounds them to double (near 1, the
       * + 0.5 drops a bit, which moves log u by up to 1e-11 relative) */
      long double u = ((double)(w[2 * pair] >> 11) + 0.5) * 0x1p-53;
      long double t = ((double)(w[2 * pair + 1] >> 11) + 0.5) * 0x1p-53;
      long double r = sqrtl(-2.0L * logl(u));
      long double want = r * (i % 2 ? sinl(two_pi * t) : cosl(two_pi * t));
      double err = (double)(fabsl((long double)z[i] - want) / r);
      if (err > worst) worst = err;
      if (err > 4e-15)
        fail_msg("n = %zu, normal %zu: %.17g against %.17Lg (%.3g of the "
                 "radius)", n, i, z[i], want, err);
    }
    free(z);
  }
  print_message("Box-Muller: largest error %.3g of the radius\n", worst);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_counter_layout),
      cmocka_unit_test(test_normal_moments),
      cmocka_unit_test(test_uniforms_and_prefix),
      cmocka_unit_test(test_rows_match),
      cmocka_unit_test(test_box_muller_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
