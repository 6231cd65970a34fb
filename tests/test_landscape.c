/*
 * Tests of the loss landscapes (landscape.h).
 *
 * Values are compared with formulas written out again here, term by term,
 * not with the library's loops; gradients with central finite differences
 * of the library's own values.  Tolerances:
 *   values     1e-12 relative to max(1, |L|) (round-off of a few terms);
 *   gradients  1e-6 relative to max(1, |dL/dz_j|), step 1e-5 max(1, |z_j|)
 *              (truncation h^2 L'''/6 is below 1e-7 for these landscapes
 *              and points; round-off eps |L| / h is below 1e-10).
 * Broken inputs: a failing callback, a non-finite result, invalid
 * parameters; each must give its status and a message naming the value.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/landscape.h"

#define VAL_TOL 1e-12
#define FD_STEP 1e-5
#define FD_TOL 1e-6

/* ---- helpers ---- */

static void assert_close(double got, double want, double rtol,
                         const char *what, size_t i, size_t j) {
  double scale = fabs(want) > 1 ? fabs(want) : 1;
  if (!(fabs(got - want) <= rtol * scale))
    fail_msg("%s [%zu][%zu]: got %.17g, want %.17g (diff %.3g, tol %.3g)",
             what, i, j, got, want, fabs(got - want), rtol * scale);
}

static void assert_msg_has(const fpf_error *err, const char *needle) {
  if (!strstr(err->msg, needle))
    fail_msg("message '%s' does not contain '%s'", err->msg, needle);
}

/* A small deterministic generator for weights and points: U(-1, 1). */
static double uniform(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static double value_at(fpf_landscape *L, const double *z) {
  double v;
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_landscape_eval(L, 1, z, &v, NULL, &err);
  if (st) fail_msg("eval failed: %s", err.msg);
  return v;
}

/*
 * Checks the values of n points against want[] and every gradient
 * coordinate against a central difference of the value.  Also checks
 * that a batch gives the same numbers as points one at a time and that
 * value / gradient may each be left out.
 */
static void check_landscape(fpf_landscape *L, size_t n, const double *z,
                            const double *want) {
  size_t d = fpf_landscape_dim(L);
  double *v = malloc(n * sizeof *v), *g = malloc(n * d * sizeof *g);
  double *v2 = malloc(n * sizeof *v2), *g2 = malloc(n * d * sizeof *g2);
  double *zz = malloc(d * sizeof *zz);
  assert_non_null(v && g && v2 && g2 && zz);
  fpf_error err;
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_reserve(L, n, &err), FPF_OK);
  assert_int_equal(fpf_landscape_eval(L, n, z, v, g, &err), FPF_OK);

  /* values against the hand formula */
  for (size_t i = 0; i < n; i++)
    assert_close(v[i], want[i], VAL_TOL, fpf_landscape_name(L), i, 0);

  /* value only and gradient only give the same numbers */
  assert_int_equal(fpf_landscape_eval(L, n, z, v2, NULL, &err), FPF_OK);
  assert_int_equal(fpf_landscape_eval(L, n, z, NULL, g2, &err), FPF_OK);
  assert_memory_equal(v, v2, n * sizeof *v);
  assert_memory_equal(g, g2, n * d * sizeof *g);

  /* gradients against central differences, one point at a time */
  for (size_t i = 0; i < n; i++) {
    assert_close(value_at(L, z + i * d), v[i], 0, "single point", i, 0);
    for (size_t j = 0; j < d; j++) {
      memcpy(zz, z + i * d, d * sizeof *zz);
      double h = FD_STEP * (fabs(zz[j]) > 1 ? fabs(zz[j]) : 1);
      zz[j] = z[i * d + j] + h;
      double up = value_at(L, zz);
      zz[j] = z[i * d + j] - h;
      double down = value_at(L, zz);
      assert_close(g[i * d + j], (up - down) / (2 * h), FD_TOL, "gradient",
                   i, j);
    }
  }
  free(v);
  free(g);
  free(v2);
  free(g2);
  free(zz);
}

/* ---- quadratic ---- */

/* A non-diagonal symmetric positive definite A and an m away from 0. */
static const double QA[9] = {2.0, 0.5, -0.3, 0.5, 1.5, 0.2, -0.3, 0.2, 1.0};
static const double QM[3] = {0.5, -1.0, 2.0};

/* 0.5 u^T A u written out by terms, u = z - m. */
static double quad_hand(const double *z) {
  double u1 = z[0] - QM[0], u2 = z[1] - QM[1], u3 = z[2] - QM[2];
  return 0.5 * (QA[0] * u1 * u1 + QA[4] * u2 * u2 + QA[8] * u3 * u3) +
         QA[1] * u1 * u2 + QA[2] * u1 * u3 + QA[5] * u2 * u3;
}

static void test_quadratic(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_quadratic(&L, 3, QM, QA, &err), FPF_OK);
  assert_string_equal(fpf_landscape_name(L), "quadratic");
  assert_int_equal(fpf_landscape_dim(L), 3);
  double z[] = {0.5, -1.0, 2.0, 0.0, 0.0, 0.0, 1.3, -2.7, 0.4,
                -3.0, 5.0, 7.5, 10.0, 0.1, -0.2};
  size_t n = sizeof z / sizeof z[0] / 3;
  double want[5];
  for (size_t i = 0; i < n; i++) want[i] = quad_hand(z + 3 * i);
  assert_true(want[0] == 0.0);
  check_landscape(L, n, z, want);

  /* at m the gradient is exactly zero; elsewhere it is A (z - m) */
  double g[3], v;
  assert_int_equal(fpf_landscape_eval(L, 1, QM, &v, g, &err), FPF_OK);
  assert_true(v == 0.0 && g[0] == 0.0 && g[1] == 0.0 && g[2] == 0.0);

  /* the parameters are copies, kept exactly */
  const double *m, *A;
  assert_int_equal(fpf_landscape_quadratic_params(L, &m, &A), FPF_OK);
  assert_memory_equal(m, QM, sizeof QM);
  assert_memory_equal(A, QA, sizeof QA);
  size_t K;
  const double *p1, *p2, *p3;
  assert_int_equal(fpf_landscape_mixture_params(L, &K, &p1, &p2, &p3),
                   FPF_EUNSUPPORTED);
  fpf_landscape_destroy(L);

  /* NULL m and A: 0.5 |z|^2 */
  assert_int_equal(fpf_landscape_quadratic(&L, 3, NULL, NULL, &err), FPF_OK);
  double y[3] = {1.0, -2.0, 3.0};
  assert_int_equal(fpf_landscape_eval(L, 1, y, &v, g, &err), FPF_OK);
  assert_true(v == 7.0);
  assert_memory_equal(g, y, sizeof y);
  fpf_landscape_destroy(L);
}

/* A batch big enough for the threaded loop gives the per-point numbers. */
static void test_quadratic_large_batch(void **state) {
  (void)state;
  enum { N = 3000 };
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_quadratic(&L, 3, QM, QA, &err), FPF_OK);
  double *z = malloc(N * 3 * sizeof *z), *v = malloc(N * sizeof *v);
  double *g = malloc(N * 3 * sizeof *g);
  assert_non_null(z && v && g);
  uint64_t s = 7;
  for (size_t i = 0; i < N * 3; i++) z[i] = 4 * uniform(&s);
  assert_int_equal(fpf_landscape_eval(L, N, z, v, g, &err), FPF_OK);
  for (size_t i = 0; i < N; i += 97) {
    double v1, g1[3];
    assert_int_equal(fpf_landscape_eval(L, 1, z + 3 * i, &v1, g1, &err),
                     FPF_OK);
    assert_true(v1 == v[i]);
    assert_memory_equal(g1, g + 3 * i, sizeof g1);
    assert_close(v[i], quad_hand(z + 3 * i), VAL_TOL, "batch", i, 0);
  }
  free(z);
  free(v);
  free(g);
  fpf_landscape_destroy(L);
}

/* ---- two wells ---- */

static double two_wells_hand(double x, double y) {
  double w1 = ((x + 2) * (x + 2) + y * y) / 2;
  double w2 = ((x - 2) * (x - 2) + (y - 1) * (y - 1)) / 2;
  return -log(exp(-w1) + exp(-w2));
}

static void test_two_wells(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_two_wells(&L, &err), FPF_OK);
  assert_string_equal(fpf_landscape_name(L), "two_wells");
  assert_int_equal(fpf_landscape_dim(L), 2);
  double z[] = {-2.0, 0.0, 2.0, 1.0, 0.0, 0.5, 0.3, -0.7, -1.1, 2.4,
                3.5, -2.5};
  size_t n = sizeof z / sizeof z[0] / 2;
  double want[6];
  for (size_t i = 0; i < n; i++) want[i] = two_wells_hand(z[2 * i],
                                                          z[2 * i + 1]);
  check_landscape(L, n, z, want);

  /* the minima: w = 0 in one well, (16 + 1) / 2 in the other, exactly */
  double exact = -log(1 + exp(-(16.0 + 1.0) / 2));
  double a[2] = {-2.0, 0.0}, b[2] = {2.0, 1.0};
  if (value_at(L, a) != exact)
    fail_msg("L(-2, 0) = %.17g, want exactly %.17g", value_at(L, a), exact);
  if (value_at(L, b) != exact)
    fail_msg("L(2, 1) = %.17g, want exactly %.17g", value_at(L, b), exact);

  /*
   * Far away, exp(-w) underflows in the plain formula; the stable form
   * min(w) - log1p(exp(-|w1 - w2|)) must hold and the gradient be finite.
   */
  double far[2] = {300.0, -400.0}, v, g[2];
  double w1 = (302.0 * 302.0 + 400.0 * 400.0) / 2;
  double w2 = (298.0 * 298.0 + 401.0 * 401.0) / 2;
  double lo = w1 < w2 ? w1 : w2;
  assert_int_equal(fpf_landscape_eval(L, 1, far, &v, g, &err), FPF_OK);
  assert_close(v, lo - log1p(exp(-fabs(w1 - w2))), VAL_TOL, "far", 0, 0);
  assert_true(isfinite(g[0]) && isfinite(g[1]));
  fpf_landscape_destroy(L);
}

/* ---- mixture ---- */

static const double MX_MEANS[9] = {0.0, 0.0, 0.0,  2.0, -1.0, 0.5,
                                   -1.5, 1.0, 2.5};
static const double MX_WIDTH[3] = {0.5, 1.0, 2.0};
static const double MX_WEIGHT[3] = {0.2, 0.3, 0.5};

static double mixture_hand(const double *z) {
  double s = 0;
  for (int k = 0; k < 3; k++) {
    const double *m = MX_MEANS + 3 * k;
    double r2 = (z[0] - m[0]) * (z[0] - m[0]) + (z[1] - m[1]) * (z[1] - m[1]) +
                (z[2] - m[2]) * (z[2] - m[2]);
    s += MX_WEIGHT[k] * exp(-r2 / (2 * MX_WIDTH[k] * MX_WIDTH[k]));
  }
  return -log(s);
}

static void test_mixture(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_mixture(&L, 3, 3, MX_MEANS, MX_WIDTH,
                                         MX_WEIGHT, &err),
                   FPF_OK);
  assert_string_equal(fpf_landscape_name(L), "mixture");
  double z[] = {0.0, 0.0, 0.0, 2.0, -1.0, 0.5, -1.5, 1.0, 2.5,
                0.7, -0.4, 1.2, 1.0, 1.0, -1.0, 3.0, 2.0, 4.0};
  size_t n = sizeof z / sizeof z[0] / 3;
  double want[6];
  for (size_t i = 0; i < n; i++) want[i] = mixture_hand(z + 3 * i);
  check_landscape(L, n, z, want);

  /*
   * Far away only the widest well counts (the others are exp(-thousands)
   * smaller): L = r2 / (2 s^2) - log p for well 2, to round-off.
   */
  double far[3] = {60.0, -50.0, 40.0}, v, g[3];
  const double *m2 = MX_MEANS + 6;
  double r2 = (far[0] - m2[0]) * (far[0] - m2[0]) +
              (far[1] - m2[1]) * (far[1] - m2[1]) +
              (far[2] - m2[2]) * (far[2] - m2[2]);
  assert_int_equal(fpf_landscape_eval(L, 1, far, &v, g, &err), FPF_OK);
  assert_close(v, r2 / 8 - log(0.5), VAL_TOL, "far mixture", 0, 0);
  for (int j = 0; j < 3; j++)
    assert_close(g[j], (far[j] - m2[j]) / 4, VAL_TOL, "far gradient", 0,
                 (size_t)j);

  size_t K;
  const double *means, *widths, *weights;
  assert_int_equal(fpf_landscape_mixture_params(L, &K, &means, &widths,
                                                &weights),
                   FPF_OK);
  assert_int_equal(K, 3);
  assert_memory_equal(means, MX_MEANS, sizeof MX_MEANS);
  assert_memory_equal(widths, MX_WIDTH, sizeof MX_WIDTH);
  for (int k = 0; k < 3; k++)
    assert_close(weights[k], MX_WEIGHT[k], 1e-15, "weights", (size_t)k, 0);
  fpf_landscape_destroy(L);
}

/* ---- rosenbrock ---- */

static double rosen_hand(const double *z, double a, double b) {
  double t0 = a - z[0], t1 = a - z[1], t2 = a - z[2];
  double u0 = z[1] - z[0] * z[0], u1 = z[2] - z[1] * z[1],
         u2 = z[3] - z[2] * z[2];
  return t0 * t0 + t1 * t1 + t2 * t2 + b * (u0 * u0 + u1 * u1 + u2 * u2);
}

static void test_rosenbrock(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_rosenbrock(&L, 4, 1.0, 100.0, &err), FPF_OK);
  assert_string_equal(fpf_landscape_name(L), "rosenbrock");
  double z[] = {1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
                -1.2, 1.0, 0.5, -0.3, 0.9, 0.8, 1.1, 1.3};
  size_t n = sizeof z / sizeof z[0] / 4;
  double want[4];
  for (size_t i = 0; i < n; i++) want[i] = rosen_hand(z + 4 * i, 1, 100);
  assert_true(want[0] == 0.0 && want[1] == 3.0);
  check_landscape(L, n, z, want);
  fpf_landscape_destroy(L);

  /* other a and b */
  assert_int_equal(fpf_landscape_rosenbrock(&L, 4, -0.5, 3.0, &err), FPF_OK);
  for (size_t i = 0; i < n; i++) want[i] = rosen_hand(z + 4 * i, -0.5, 3);
  check_landscape(L, n, z, want);
  fpf_landscape_destroy(L);
}

/* ---- decoder ---- */

enum { DEC_D = 3, DEC_H = 7, DEC_X = 5 };

typedef struct decoder_params {
  double W1[DEC_H * DEC_D], b1[DEC_H], W2[DEC_X * DEC_H], b2[DEC_X];
  double x[DEC_X];
} decoder_params;

static void decoder_params_fill(decoder_params *p) {
  uint64_t s = 12345;
  for (int i = 0; i < DEC_H * DEC_D; i++) p->W1[i] = 0.8 * uniform(&s);
  for (int i = 0; i < DEC_H; i++) p->b1[i] = 0.3 * uniform(&s);
  for (int i = 0; i < DEC_X * DEC_H; i++) p->W2[i] = 0.5 * uniform(&s);
  for (int i = 0; i < DEC_X; i++) p->b2[i] = 0.2 * uniform(&s);
  for (int i = 0; i < DEC_X; i++) p->x[i] = uniform(&s);
}

/* mean_k (W2 relu(W1 z + b1) + b2 - x)_k^2; *margin = min |pre-activation|. */
static double decoder_hand(const decoder_params *p, const double *z,
                           double *margin) {
  double h[DEC_H], s = 0;
  *margin = INFINITY;
  for (int j = 0; j < DEC_H; j++) {
    double a = p->b1[j];
    for (int i = 0; i < DEC_D; i++) a += p->W1[j * DEC_D + i] * z[i];
    if (fabs(a) < *margin) *margin = fabs(a);
    h[j] = a > 0 ? a : 0;
  }
  for (int k = 0; k < DEC_X; k++) {
    double y = p->b2[k];
    for (int j = 0; j < DEC_H; j++) y += p->W2[k * DEC_H + j] * h[j];
    s += (y - p->x[k]) * (y - p->x[k]);
  }
  return s / DEC_X;
}

static void test_decoder(void **state) {
  (void)state;
  decoder_params p;
  decoder_params_fill(&p);
  fpf_landscape *L;
  fpf_error err;
  assert_int_equal(fpf_landscape_decoder(&L, DEC_D, DEC_H, DEC_X, p.W1, p.b1,
                                         p.W2, p.b2, p.x, &err),
                   FPF_OK);
  assert_string_equal(fpf_landscape_name(L), "decoder");
  assert_int_equal(fpf_landscape_dim(L), DEC_D);
  enum { N = 6 };
  double z[N * DEC_D], want[N];
  uint64_t s = 99;
  for (size_t i = 0; i < N; i++) {
    /* redraw a point until no ReLU sits within 1e-3 of its kink */
    double margin;
    do {
      for (int j = 0; j < DEC_D; j++) z[i * DEC_D + j] = 2 * uniform(&s);
      want[i] = decoder_hand(&p, z + i * DEC_D, &margin);
    } while (margin < 1e-3);
  }
  check_landscape(L, N, z, want);

  /* a batch larger than the reserved workspace grows it */
  enum { M = 40 };
  double zb[M * DEC_D], vb[M], margin;
  for (size_t i = 0; i < M * DEC_D; i++) zb[i] = 3 * uniform(&s);
  assert_int_equal(fpf_landscape_eval(L, M, zb, vb, NULL, &err), FPF_OK);
  for (size_t i = 0; i < M; i++)
    assert_close(vb[i], decoder_hand(&p, zb + i * DEC_D, &margin), VAL_TOL,
                 "decoder batch", i, 0);
  fpf_landscape_destroy(L);

  /* b1 and b2 may be NULL (zeros) */
  decoder_params q = p;
  memset(q.b1, 0, sizeof q.b1);
  memset(q.b2, 0, sizeof q.b2);
  assert_int_equal(fpf_landscape_decoder(&L, DEC_D, DEC_H, DEC_X, p.W1, NULL,
                                         p.W2, NULL, p.x, &err),
                   FPF_OK);
  for (size_t i = 0; i < N; i++)
    assert_close(value_at(L, z + i * DEC_D),
                 decoder_hand(&q, z + i * DEC_D, &margin), VAL_TOL,
                 "decoder without biases", i, 0);
  fpf_landscape_destroy(L);
}

/* ---- callback ---- */

/*
 * The quadratic of QA, QM as a user function, with the built-in's loop.
 * Both are compiled with -O3 -march=native, where the compiler may fuse a
 * multiply and an add differently in the two copies, so the results are
 * compared to 4 ulp rather than bit for bit.
 */
#define CB_TOL (4 * 2.220446049250313e-16)
static int quad_callback(void *user, size_t n, size_t d, const double *z,
                         double *value, double *grad, fpf_error *err) {
  int *calls = user;
  (*calls)++;
  for (size_t p = 0; p < n; p++) {
    const double *zp = z + p * d;
    double v = 0;
    for (size_t i = 0; i < d; i++) {
      double Ai = 0;
      for (size_t j = 0; j < d; j++) Ai += QA[i * d + j] * (zp[j] - QM[j]);
      if (grad) grad[p * d + i] = Ai;
      v += 0.5 * (zp[i] - QM[i]) * Ai;
    }
    if (value) value[p] = v;
  }
  return 0;
}

static void test_callback_matches_quadratic(void **state) {
  (void)state;
  fpf_landscape *Lq, *Lc;
  fpf_error err;
  int calls = 0;
  assert_int_equal(fpf_landscape_quadratic(&Lq, 3, QM, QA, &err), FPF_OK);
  assert_int_equal(fpf_landscape_callback(&Lc, 3, quad_callback, &calls,
                                          &err),
                   FPF_OK);
  assert_string_equal(fpf_landscape_name(Lc), "callback");
  assert_int_equal(fpf_landscape_dim(Lc), 3);
  enum { N = 8 };
  double z[N * 3], vq[N], vc[N], gq[N * 3], gc[N * 3];
  uint64_t s = 3;
  for (size_t i = 0; i < N * 3; i++) z[i] = 3 * uniform(&s);
  assert_int_equal(fpf_landscape_eval(Lq, N, z, vq, gq, &err), FPF_OK);
  assert_int_equal(fpf_landscape_eval(Lc, N, z, vc, gc, &err), FPF_OK);
  assert_int_equal(calls, 1);
  for (size_t i = 0; i < N; i++) {
    assert_close(vc[i], vq[i], CB_TOL, "callback value", i, 0);
    for (size_t j = 0; j < 3; j++)
      assert_close(gc[i * 3 + j], gq[i * 3 + j], CB_TOL, "callback gradient",
                   i, j);
  }
  const double *m, *A;
  assert_int_equal(fpf_landscape_quadratic_params(Lc, &m, &A),
                   FPF_EUNSUPPORTED);
  fpf_landscape_destroy(Lq);
  fpf_landscape_destroy(Lc);
}

static int failing_callback(void *user, size_t n, size_t d, const double *z,
                            double *value, double *grad, fpf_error *err) {
  if (user) fpf_error_set(err, FPF_EIO, "model.pt: tensor 'w' is missing");
  return 3;
}

static void test_callback_failure(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  double z[2] = {0, 0}, v, g[2];

  /* the callback's own message is kept, with status FPF_ECALLBACK */
  assert_int_equal(fpf_landscape_callback(&L, 2, failing_callback, (void *)1,
                                          &err),
                   FPF_OK);
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_eval(L, 1, z, &v, g, &err), FPF_ECALLBACK);
  assert_int_equal(err.status, FPF_ECALLBACK);
  assert_string_equal(err.msg, "model.pt: tensor 'w' is missing");
  assert_int_equal(fpf_landscape_eval(L, 1, z, &v, g, NULL), FPF_ECALLBACK);
  fpf_landscape_destroy(L);

  /* without a message, a default one, not the stale one still in err */
  assert_int_equal(fpf_landscape_callback(&L, 2, failing_callback, NULL,
                                          &err),
                   FPF_OK);
  assert_int_equal(fpf_landscape_eval(L, 1, z, &v, g, &err), FPF_ECALLBACK);
  assert_int_equal(err.status, FPF_ECALLBACK);
  assert_true(strlen(err.msg) > 0);
  assert_null(strstr(err.msg, "model.pt"));
  fpf_landscape_destroy(L);

  /* no function at all */
  assert_int_equal(fpf_landscape_callback(&L, 2, NULL, NULL, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "fn is NULL");
}

/* ---- non-finite results ---- */

/* Finite everywhere but the gradient of point 2, coordinate 1. */
static int nan_grad_callback(void *user, size_t n, size_t d, const double *z,
                             double *value, double *grad, fpf_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (value) value[i] = 1.0;
    for (size_t j = 0; j < d; j++)
      if (grad) grad[i * d + j] = (i == 2 && j == 1) ? NAN : 0.5;
  }
  return 0;
}

static void test_nonfinite(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;
  double z[4 * 3] = {0}, v[4], g[4 * 3];
  assert_int_equal(fpf_landscape_callback(&L, 3, nan_grad_callback, NULL,
                                          &err),
                   FPF_OK);
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_eval(L, 4, z, v, g, &err), FPF_ENONFINITE);
  assert_int_equal(err.status, FPF_ENONFINITE);
  assert_msg_has(&err, "point 2");
  assert_msg_has(&err, "coordinate 1");
  /* values alone are finite */
  assert_int_equal(fpf_landscape_eval(L, 4, z, v, NULL, &err), FPF_OK);
  fpf_landscape_destroy(L);

  /* a built-in landscape overflowing at one point of a batch */
  assert_int_equal(fpf_landscape_quadratic(&L, 3, QM, QA, &err), FPF_OK);
  z[3] = 1e200;
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_eval(L, 4, z, v, g, &err), FPF_ENONFINITE);
  assert_msg_has(&err, "point 1");
  /* a NaN coordinate in the input */
  z[3] = 0;
  z[11] = NAN;
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_eval(L, 4, z, NULL, g, &err),
                   FPF_ENONFINITE);
  assert_msg_has(&err, "point 3");
  fpf_landscape_destroy(L);

  /* a batch large enough to be split over the threads, each point's
   * gradient checked as it is written */
  enum { NB = 4000, DB = 8 };
  double *zb = calloc(NB * DB, sizeof *zb), *gb = malloc(NB * DB * sizeof *gb);
  assert_int_equal(fpf_landscape_quadratic(&L, DB, NULL, NULL, &err), FPF_OK);
  assert_int_equal(fpf_landscape_eval(L, NB, zb, NULL, gb, &err), FPF_OK);
  zb[3777 * DB + 5] = INFINITY;
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_eval(L, NB, zb, NULL, gb, &err),
                   FPF_ENONFINITE);
  assert_msg_has(&err, "point 3777, coordinate 5");
  fpf_landscape_destroy(L);
  free(zb);
  free(gb);
}

/* ---- invalid parameters ---- */

static void test_bad_parameters(void **state) {
  (void)state;
  fpf_landscape *L;
  fpf_error err;

  /* asymmetric A: the message gives both entries */
  double A[9];
  memcpy(A, QA, sizeof A);
  A[3] = 0.75; /* A[1][0] = 0.75, A[0][1] = 0.5 */
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_quadratic(&L, 3, QM, A, &err), FPF_EINVAL);
  assert_null(L);
  assert_int_equal(err.status, FPF_EINVAL);
  assert_msg_has(&err, "symmetric");
  assert_msg_has(&err, "0.75");
  assert_msg_has(&err, "0.5");

  /* a negative width */
  double widths[3] = {0.5, -0.25, 2.0};
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_mixture(&L, 3, 3, MX_MEANS, widths,
                                         MX_WEIGHT, &err),
                   FPF_EINVAL);
  assert_null(L);
  assert_msg_has(&err, "-0.25");
  assert_msg_has(&err, "width");

  /* a zero weight, and no wells */
  double weights[3] = {0.5, 0.0, 0.5};
  assert_int_equal(fpf_landscape_mixture(&L, 3, 3, MX_MEANS, MX_WIDTH,
                                         weights, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "weight 0");
  assert_int_equal(fpf_landscape_mixture(&L, 3, 0, MX_MEANS, MX_WIDTH,
                                         MX_WEIGHT, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "K = 0");

  /* rosenbrock needs d >= 2 */
  fpf_error_clear(&err);
  assert_int_equal(fpf_landscape_rosenbrock(&L, 1, 1.0, 100.0, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "d = 1");
  assert_int_equal(fpf_landscape_rosenbrock(&L, 3, NAN, 100.0, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "a = nan");

  /* d = 0, a non-finite m, a decoder without hidden units */
  assert_int_equal(fpf_landscape_quadratic(&L, 0, NULL, NULL, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "d = 0");
  double m[3] = {0, INFINITY, 0};
  assert_int_not_equal(fpf_landscape_quadratic(&L, 3, m, NULL, &err), FPF_OK);
  assert_null(L);
  assert_msg_has(&err, "m[1]");
  decoder_params p;
  decoder_params_fill(&p);
  assert_int_equal(fpf_landscape_decoder(&L, DEC_D, 0, DEC_X, p.W1, p.b1,
                                         p.W2, p.b2, p.x, &err),
                   FPF_EINVAL);
  assert_msg_has(&err, "hidden = 0");
  p.W2[4] = NAN;
  assert_int_not_equal(fpf_landscape_decoder(&L, DEC_D, DEC_H, DEC_X, p.W1,
                                             p.b1, p.W2, p.b2, p.x, &err),
                       FPF_OK);
  assert_null(L);
  assert_msg_has(&err, "W2[4]");

  /* destroying NULL does nothing */
  fpf_landscape_destroy(NULL);
}

/*
 * A failed constructor leaves *out NULL, whichever check refused it, so
 * that a caller may destroy it unconditionally on its clean-up path.
 */
static void test_failed_create_clears_out(void **state) {
  (void)state;
  fpf_error err;
  fpf_landscape *L;
  decoder_params p;
  decoder_params_fill(&p);
  double bad_w[3] = {0.5, -1.0, 1.0}, bad_A[9];
  memcpy(bad_A, QA, sizeof bad_A);
  bad_A[1] = 9.0;
  fpf_landscape *const junk = (fpf_landscape *)&err;
  char bad[512] = "";
#define TRY(LBL, CALL)                                               \
  do {                                                               \
    L = junk;                                                        \
    fpf_status st_ = (CALL);                                         \
    if (st_ == FPF_OK) fail_msg("%s succeeded", (LBL));              \
    if (L != NULL)                                                   \
      snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%s",  \
               bad[0] ? ", " : "", (LBL));                           \
  } while (0)
  TRY("quadratic d = 0", fpf_landscape_quadratic(&L, 0, NULL, NULL, &err));
  TRY("quadratic asymmetric", fpf_landscape_quadratic(&L, 3, QM, bad_A, &err));
  TRY("mixture width < 0", fpf_landscape_mixture(&L, 3, 3, MX_MEANS, bad_w,
                                                 MX_WEIGHT, &err));
  TRY("rosenbrock d = 1", fpf_landscape_rosenbrock(&L, 1, 1, 100, &err));
  TRY("mixture K = 0", fpf_landscape_mixture(&L, 3, 0, MX_MEANS, MX_WIDTH,
                                             MX_WEIGHT, &err));
  TRY("decoder hidden = 0",
      fpf_landscape_decoder(&L, DEC_D, 0, DEC_X, p.W1, p.b1, p.W2, p.b2,
                            p.x, &err));
  TRY("callback fn NULL", fpf_landscape_callback(&L, 2, NULL, NULL, &err));
#undef TRY
  if (bad[0]) fail_msg("*out not set to NULL on failure: %s", bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quadratic),
      cmocka_unit_test(test_quadratic_large_batch),
      cmocka_unit_test(test_two_wells),
      cmocka_unit_test(test_mixture),
      cmocka_unit_test(test_rosenbrock),
      cmocka_unit_test(test_decoder),
      cmocka_unit_test(test_callback_matches_quadratic),
      cmocka_unit_test(test_callback_failure),
      cmocka_unit_test(test_nonfinite),
      cmocka_unit_test(test_bad_parameters),
      cmocka_unit_test(test_failed_create_clears_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
