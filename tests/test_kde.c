/*
 * The KDE against exact answers: single and paired kernels where every
 * kernel value underflows, identical particles, n < d, a brute-force
 * log-space reference, blocking, bandwidth rules, the score as the
 * gradient of log rho, and the flux divergence as -d rho / dt.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/kde.h"
#include "fpflow/rng.h"

#define LOG2PI 1.8378770664093454836

static double *normals(size_t n, uint64_t seed, double scale) {
  double *z = malloc(n * sizeof *z);
  fpf_rng_normals(seed, 20, 0, 0, z, n);
  for (size_t i = 0; i < n; i++) z[i] *= scale;
  return z;
}

static double rel(double a, double b) {
  return fabs(a - b) / fmax(fabs(b), 1e-300);
}

/*
 * Reference: direct sums in log space, long double.  self >= 0 marks the
 * row as that source (leave-one-out skips it).
 */
static void reference(const double *z, size_t n, size_t d, const double *x,
                      double h, long self, int loo, double *lr, double *s) {
  long double e[4096], m = -INFINITY;
  size_t cnt = 0;
  for (size_t j = 0; j < n; j++) {
    if ((long)j == self && loo) {
      e[j] = -INFINITY;
      continue;
    }
    long double r2 = 0;
    for (size_t c = 0; c < d; c++)
      r2 += ((long double)x[c] - z[j * d + c]) *
            ((long double)x[c] - z[j * d + c]);
    e[j] = -r2 / (2.0L * h * h);
    if (e[j] > m) m = e[j];
    cnt++;
  }
  long double sum = 0;
  for (size_t c = 0; c < d; c++) s[c] = 0;
  long double sc[512] = {0};
  for (size_t j = 0; j < n; j++) {
    long double w = expl(e[j] - m);
    sum += w;
    for (size_t c = 0; c < d; c++)
      sc[c] += w * ((long double)z[j * d + c] - x[c]);
  }
  *lr = (double)(m + logl(sum) - logl((long double)cnt) -
                 0.5L * d * (LOG2PI + 2.0L * logl(h)));
  for (size_t c = 0; c < d; c++) s[c] = (double)(sc[c] / sum / (h * h));
}

/* One particle in d = 200 at h = 0.1: exp(-|x-z|^2/(2h^2)) ~ e^-10000. */
static void test_single_kernel_underflow(void **state) {
  (void)state;
  size_t d = 200;
  double h = 0.1, *z = normals(d, 1, 1.0), *x = normals(d, 2, 1.0);
  double lr, s[200], r2 = 0;
  assert_int_equal(fpf_kde_log_density(z, 1, d, x, 1, h, 0, &lr, s, NULL),
                   FPF_OK);
  for (size_t c = 0; c < d; c++) r2 += (x[c] - z[c]) * (x[c] - z[c]);
  double exact = -r2 / (2 * h * h) - 0.5 * d * (LOG2PI + 2 * log(h));
  assert_true(isfinite(lr));
  assert_true(rel(lr, exact) < 1e-12);
  for (size_t c = 0; c < d; c++)
    assert_true(fabs(s[c] - (z[c] - x[c]) / (h * h)) <=
                1e-12 * fabs((z[c] - x[c]) / (h * h)) + 1e-9);
  free(z);
  free(x);
}

/* Two particles, every kernel underflowing: logaddexp and softmax. */
static void test_two_kernels_underflow(void **state) {
  (void)state;
  size_t d = 200;
  double h = 0.1, *z = normals(2 * d, 3, 1.0), *x = normals(d, 4, 1.0);
  double lr, s[200], ref_lr, ref_s[200];
  assert_int_equal(fpf_kde_log_density(z, 2, d, x, 1, h, 0, &lr, s, NULL),
                   FPF_OK);
  reference(z, 2, d, x, h, -1, 0, &ref_lr, ref_s);
  assert_true(isfinite(lr));
  assert_true(rel(lr, ref_lr) < 1e-12);
  for (size_t c = 0; c < d; c++) assert_true(rel(s[c], ref_s[c]) < 1e-9);
  free(z);
  free(x);
}

/* At the particles in d = 200, h = 0.1: only the self term survives. */
static void test_self_term_high_dim(void **state) {
  (void)state;
  size_t n = 64, d = 200;
  double h = 0.1, *z = normals(n * d, 5, 1.0);
  double *lr = malloc(n * sizeof *lr), *s = malloc(n * d * sizeof *s);
  assert_int_equal(fpf_kde_log_density(z, n, d, NULL, 0, h, 0, lr, s, NULL),
                   FPF_OK);
  double exact = -log((double)n) - 0.5 * d * (LOG2PI + 2 * log(h));
  for (size_t i = 0; i < n; i++) {
    assert_true(rel(lr[i], exact) < 1e-12);
    for (size_t c = 0; c < d; c++) assert_true(fabs(s[i * d + c]) < 1e-9);
  }
  /* leave-one-out: the nearest other particle dominates, all underflow */
  assert_int_equal(fpf_kde_log_density(z, n, d, NULL, 0, h, 1, lr, s, NULL),
                   FPF_OK);
  double rlr, rs[200];
  for (size_t i = 0; i < n; i++) {
    reference(z, n, d, z + i * d, h, (long)i, 1, &rlr, rs);
    assert_true(isfinite(lr[i]));
    assert_true(rel(lr[i], rlr) < 1e-12);
    for (size_t c = 0; c < d; c++)
      assert_true(fabs(s[i * d + c] - rs[c]) <= 1e-8 * fabs(rs[c]) + 1e-6);
  }
  free(z);
  free(lr);
  free(s);
}

/* Identical particles: log rho = -(d/2) log(2 pi h^2), score 0. */
static void test_identical_particles(void **state) {
  (void)state;
  size_t n = 10, d = 5;
  double z[50], lr[10], s[50], h = 0.3;
  for (size_t i = 0; i < n * d; i++) z[i] = 1.25 + (double)(i % d);
  assert_int_equal(fpf_kde_log_density(z, n, d, NULL, 0, h, 0, lr, s, NULL),
                   FPF_OK);
  for (size_t i = 0; i < n; i++) {
    assert_true(rel(lr[i], -0.5 * d * (LOG2PI + 2 * log(h))) < 1e-13);
    for (size_t c = 0; c < d; c++) assert_true(s[i * d + c] == 0.0);
  }
  fpf_error err;
  double hb;
  assert_int_equal(fpf_kde_bandwidth(z, n, d, FPF_BW_MEDIAN, 0, &hb, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "median"));
  assert_non_null(strstr(err.msg, "fixed bandwidth"));
}

/* n < d on the Gram path (d = 50) and the direct path (d = 3). */
static void test_against_reference(void **state) {
  (void)state;
  size_t dims[] = {50, 3}, ns[] = {5, 40};
  for (int t = 0; t < 2; t++) {
    size_t n = ns[t], d = dims[t];
    double h = t == 0 ? 2.0 : 0.4, *z = normals(n * d, 6 + t, 1.0);
    double *lr = malloc(n * sizeof *lr), *s = malloc(n * d * sizeof *s);
    double rlr, rs[64];
    for (int loo = 0; loo < 2; loo++) {
      assert_int_equal(
          fpf_kde_log_density(z, n, d, NULL, 0, h, loo, lr, s, NULL), FPF_OK);
      for (size_t i = 0; i < n; i++) {
        reference(z, n, d, z + i * d, h, (long)i, loo, &rlr, rs);
        assert_true(rel(lr[i], rlr) < 1e-12);
        for (size_t c = 0; c < d; c++)
          assert_true(fabs(s[i * d + c] - rs[c]) < 1e-10 * (1 + fabs(rs[c])));
      }
    }
    free(z);
    free(lr);
    free(s);
  }
}

/*
 * Blocks of 16 rows and 16 columns (online log-sum-exp across column
 * blocks) give the answer of the symmetric all-rows path (n = 300 > one
 * tile of 128).
 */
static void test_blocking(void **state) {
  (void)state;
  size_t n = 300, d = 20;
  double h = 1.5, *z = normals(n * d, 8, 1.0);
  double lr1[300], lr2[300], *s1 = malloc(n * d * 8), *s2 = malloc(n * d * 8);
  double k1[300], k2[300];
  fpf_kde_options o;
  fpf_kde_options_init(&o);
  o.knn_k = 3;
  fpf_kde *a, *b;
  assert_int_equal(fpf_kde_create(&a, n, d, &o, NULL), FPF_OK);
  o.block = 16;
  assert_int_equal(fpf_kde_create(&b, n, d, &o, NULL), FPF_OK);
  assert_int_equal(fpf_kde_eval(a, z, n, h, lr1, s1, k1, NULL), FPF_OK);
  assert_int_equal(fpf_kde_eval(b, z, n, h, lr2, s2, k2, NULL), FPF_OK);
  for (size_t i = 0; i < n; i++) {
    assert_true(rel(lr2[i], lr1[i]) < 1e-13);
    assert_true(rel(k2[i], k1[i]) < 1e-13);
    for (size_t c = 0; c < d; c++)
      assert_true(fabs(s2[i * d + c] - s1[i * d + c]) < 1e-12);
  }
  /* the k-th neighbour distance against a direct search */
  for (size_t i = 0; i < n; i++) {
    double best[3] = {INFINITY, INFINITY, INFINITY};
    for (size_t j = 0; j < n; j++) {
      if (j == i) continue;
      double r2 = 0;
      for (size_t c = 0; c < d; c++)
        r2 += (z[i * d + c] - z[j * d + c]) * (z[i * d + c] - z[j * d + c]);
      if (r2 < best[2]) {
        best[2] = r2;
        for (int p = 2; p > 0 && best[p] < best[p - 1]; p--) {
          double t = best[p];
          best[p] = best[p - 1];
          best[p - 1] = t;
        }
      }
    }
    assert_true(rel(k1[i], sqrt(best[2])) < 1e-12);
  }
  fpf_kde_destroy(a);
  fpf_kde_destroy(b);
  free(z);
  free(s1);
  free(s2);
}

/* The k-th smallest squared distance from particle i, by direct search. */
static double kth_sq(const double *z, size_t n, size_t d, size_t i,
                     size_t kk) {
  double best[8];
  for (size_t q = 0; q < kk; q++) best[q] = INFINITY;
  for (size_t j = 0; j < n; j++) {
    if (j == i) continue;
    double r2 = 0;
    for (size_t c = 0; c < d; c++)
      r2 += (z[i * d + c] - z[j * d + c]) * (z[i * d + c] - z[j * d + c]);
    for (size_t p = 0; p < kk; p++)
      if (r2 < best[p]) {
        for (size_t q = kk - 1; q > p; q--) best[q] = best[q - 1];
        best[p] = r2;
        break;
      }
  }
  return best[kk - 1];
}

/*
 * The symmetric path at the particles (each pair once, in tiles, with
 * per-tile partial sums) against the long-double reference, at sizes
 * around the tile edges, in the direct (d <= 8), small (8 < d <= 32, also
 * past 2896 particles: d = 9, 20, 32 fill 2, 3 and 4 vectors) and Gram
 * (d > 32) forms:
 * log rho to 1e-12 relative, the score to 1e-10 and the third-neighbour
 * distance to 1e-12.
 */
static void test_symmetric_tiles(void **state) {
  (void)state;
  size_t ns[] = {4, 127, 128, 129, 300, 1100, 3000};
  size_t ds[] = {1, 2, 8, 9, 20, 32, 33};
  for (size_t a = 0; a < 7; a++)
    for (size_t b = 0; b < 7; b++) {
      size_t n = ns[a], d = ds[b], kk = 3;
      if (n > 1024 && d != 2 && d != 8 && d != 9) continue; /* time */
      if (n > 2896 && d != 9) continue; /* the small path's reach */
      double h = 0.5 * sqrt((double)d), *z = normals(n * d, 40 + a, 1.0);
      double *lr = malloc(n * sizeof *lr), *s = malloc(n * d * sizeof *s);
      double *kd = malloc(n * sizeof *kd), rlr, rs[64];
      fpf_kde_options o;
      fpf_kde_options_init(&o);
      o.knn_k = kk;
      o.method = FPF_KDE_EXACT;
      fpf_kde *k;
      assert_int_equal(fpf_kde_create(&k, n, d, &o, NULL), FPF_OK);
      assert_int_equal(fpf_kde_eval(k, z, n, h, lr, s, kd, NULL), FPF_OK);
      for (size_t i = 0; i < n; i++) {
        reference(z, n, d, z + i * d, h, (long)i, 0, &rlr, rs);
        if (rel(lr[i], rlr) >= 1e-12)
          fail_msg("n %zu d %zu row %zu: log rho %.17g, reference %.17g", n,
                   d, i, lr[i], rlr);
        for (size_t c = 0; c < d; c++)
          assert_true(fabs(s[i * d + c] - rs[c]) < 1e-10 * (1 + fabs(rs[c])));
        assert_true(rel(kd[i], sqrt(kth_sq(z, n, d, i, kk))) < 1e-12);
      }
      /* without the score (no products): the same log rho, bit for bit;
       * then at other points (the row-block buffers made on demand) */
      double *lr2 = malloc(n * sizeof *lr2);
      assert_int_equal(fpf_kde_eval(k, z, n, h, lr2, NULL, NULL, NULL),
                       FPF_OK);
      assert_memory_equal(lr2, lr, n * sizeof *lr);
      assert_int_equal(fpf_kde_eval_at(k, z, n, z, 1, h, lr2, s, NULL),
                       FPF_OK);
      reference(z, n, d, z, h, -1, 0, &rlr, rs);
      assert_true(rel(lr2[0], rlr) < 1e-12);
      free(lr2);
      fpf_kde_destroy(k);
      free(z);
      free(lr);
      free(s);
      free(kd);
    }
}

/* The KDE's vectorised exp (src/util.c), not in the public headers. */
void fpf_exp_nonpos(double *x, size_t n);
void fpf_expf_nonpos(float *x, size_t n);

/*
 * The kernels' exp against long double on 2 10^6 points of [-707, 0]
 * (and the ends): relative error below 3e-16 in double and 1.5e-7 in
 * float (on [-87, 0]); 0 maps to 1 exactly, and below the range (-707,
 * -87 in float) to 0.
 */
static void test_exp_kernels(void **state) {
  (void)state;
  enum { M = 2000000 };
  double *x = malloc(M * sizeof *x), *x0 = malloc(M * sizeof *x0);
  float *y = malloc(M * sizeof *y), *y0 = malloc(M * sizeof *y0);
  double worst = 0, wx = 0, fw = 0;
  for (size_t i = 0; i < M; i++) {
    x0[i] = x[i] = -707.0 * (double)i / (M - 1);
    y0[i] = y[i] = (float)(-87.0 * (double)i / (M - 1));
  }
  fpf_exp_nonpos(x, M);
  fpf_expf_nonpos(y, M);
  for (size_t i = 0; i < M; i++) {
    double e = (double)fabsl((long double)x[i] / expl(x0[i]) - 1.0L);
    if (e > worst) worst = e, wx = x0[i];
    e = (double)fabsl((long double)y[i] / expl(y0[i]) - 1.0L);
    if (e > fw) fw = e;
  }
  if (worst > 3e-16) fail_msg("double exp: rel error %.3g at %.17g", worst, wx);
  if (fw > 1.5e-7) fail_msg("float exp: rel error %.3g", fw);
  double ends[4] = {0.0, -707.5, -1000.0, -INFINITY};
  fpf_exp_nonpos(ends, 4);
  assert_true(ends[0] == 1.0 && ends[1] == 0 && ends[2] == 0 && ends[3] == 0);
  float fends[3] = {0.0f, -88.0f, -INFINITY};
  fpf_expf_nonpos(fends, 3);
  assert_true(fends[0] == 1.0f && fends[1] == 0 && fends[2] == 0);
  print_message("exp: rel error %.3g (double), %.3g (float)\n", worst, fw);
  free(x);
  free(x0);
  free(y);
  free(y0);
}

/* The score is grad log rho: central differences with step 1e-5. */
static void test_score_is_gradient(void **state) {
  (void)state;
  size_t n = 50, d = 12;
  double h = 0.8, *z = normals(n * d, 9, 1.0), *x = normals(d, 10, 1.0);
  double lr, s[12];
  assert_int_equal(fpf_kde_log_density(z, n, d, x, 1, h, 0, &lr, s, NULL),
                   FPF_OK);
  for (size_t c = 0; c < d; c++) {
    double xp[12], xm[12], lp, lm, eps = 1e-5;
    memcpy(xp, x, sizeof xp);
    memcpy(xm, x, sizeof xm);
    xp[c] += eps;
    xm[c] -= eps;
    fpf_kde_log_density(z, n, d, xp, 1, h, 0, &lp, NULL, NULL);
    fpf_kde_log_density(z, n, d, xm, 1, h, 0, &lm, NULL, NULL);
    assert_true(fabs((lp - lm) / (2 * eps) - s[c]) < 1e-6 * (1 + fabs(s[c])));
  }
  free(z);
  free(x);
}

/* Scott, Silverman and the median heuristic on known sets. */
static void test_bandwidth_rules(void **state) {
  (void)state;
  double line[4] = {0, 1, 2, 3}, h;
  /* pairwise squared distances 1,1,1,4,4,9: median 2.5 */
  assert_int_equal(fpf_kde_bandwidth(line, 4, 1, FPF_BW_MEDIAN, 0, &h, NULL),
                   FPF_OK);
  assert_true(rel(h, sqrt(2.5 / (2 * log(5.0)))) < 1e-15);
  /* sample variance of 0..3 is 5/3 */
  double sig = sqrt(5.0 / 3.0);
  assert_int_equal(fpf_kde_bandwidth(line, 4, 1, FPF_BW_SCOTT, 0, &h, NULL),
                   FPF_OK);
  assert_true(rel(h, sig * pow(4.0, -1.0 / 5.0)) < 1e-15);
  assert_int_equal(
      fpf_kde_bandwidth(line, 4, 1, FPF_BW_SILVERMAN, 0, &h, NULL), FPF_OK);
  assert_true(rel(h, sig * pow(4.0 / (3.0 * 4.0), 1.0 / 5.0)) < 1e-15);
  fpf_error err;
  assert_int_equal(fpf_kde_bandwidth(line, 4, 1, FPF_BW_FIXED, -1, &h, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "-1"));
}

/*
 * d rho(x)/dt at fixed x for sources moving with velocities v equals
 * -div J(x): central difference in time (step 1e-6) at the particles.
 */
static void test_flux_divergence(void **state) {
  (void)state;
  size_t n = 30, d = 3;
  double h = 0.7, *z = normals(n * d, 11, 1.0), *v = normals(n * d, 12, 1.0);
  double lr[30], div[30], dor[30], zp[90], zm[90], lp[30], lm[30], eps = 1e-6;
  fpf_kde *k;
  assert_int_equal(fpf_kde_create(&k, n, d, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_kde_eval(k, z, n, h, lr, NULL, NULL, NULL), FPF_OK);
  assert_int_equal(
      fpf_kde_flux_divergence(k, z, n, h, lr, v, div, dor, NULL), FPF_OK);
  for (size_t i = 0; i < n * d; i++) {
    zp[i] = z[i] + eps * v[i];
    zm[i] = z[i] - eps * v[i];
  }
  fpf_kde_log_density(zp, n, d, z, n, h, 0, lp, NULL, NULL);
  fpf_kde_log_density(zm, n, d, z, n, h, 0, lm, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    double drho = (exp(lp[i]) - exp(lm[i])) / (2 * eps);
    assert_true(fabs(drho + div[i]) < 1e-6 * (1 + fabs(div[i])));
    assert_true(rel(div[i], exp(lr[i]) * dor[i]) < 1e-12);
  }
  fpf_kde_destroy(k);
  free(z);
  free(v);
}

/*
 * Single precision against double (n = 300 > one tile: symmetric at the
 * particles; blocked at query points), median bandwidth, with the second
 * neighbour to 1e-5.  Float products carry relative errors ~1e-7 of
 * |z|^2 / h^2 ~ 30 in the exponents, so log rho may move by ~1e-5; the
 * tolerances are 1e-4 on log rho and 1e-4 (relative, in norm) on scores.
 */
static void single_precision_at(size_t n, size_t d) {
  double *z = normals(n * d, 13, 1.0), *x = normals(50 * d, 14, 1.0), h;
  assert_int_equal(fpf_kde_bandwidth(z, n, d, FPF_BW_MEDIAN, 0, &h, NULL),
                   FPF_OK);
  fpf_kde_options o;
  fpf_kde_options_init(&o);
  o.knn_k = 2;
  fpf_kde *kd, *kf;
  assert_int_equal(fpf_kde_create(&kd, n, d, &o, NULL), FPF_OK);
  o.single_precision = 1;
  assert_int_equal(fpf_kde_create(&kf, n, d, &o, NULL), FPF_OK);
  double *l1 = malloc(n * 8), *l2 = malloc(n * 8), *s1 = malloc(n * d * 8);
  double *s2 = malloc(n * d * 8), *k1 = malloc(n * 8), *k2 = malloc(n * 8);
  for (int pass = 0; pass < 2; pass++) {
    size_t m = pass == 0 ? n : 50;
    if (pass == 0) {
      assert_int_equal(fpf_kde_eval(kd, z, n, h, l1, s1, k1, NULL), FPF_OK);
      assert_int_equal(fpf_kde_eval(kf, z, n, h, l2, s2, k2, NULL), FPF_OK);
    } else {
      assert_int_equal(fpf_kde_eval_at(kd, z, n, x, m, h, l1, s1, NULL),
                       FPF_OK);
      assert_int_equal(fpf_kde_eval_at(kf, z, n, x, m, h, l2, s2, NULL),
                       FPF_OK);
    }
    double worst_l = 0, worst_s = 0;
    for (size_t i = 0; i < m; i++) {
      double dn = 0, nn = 0;
      for (size_t c = 0; c < d; c++) {
        dn += (s1[i * d + c] - s2[i * d + c]) * (s1[i * d + c] - s2[i * d + c]);
        nn += s1[i * d + c] * s1[i * d + c];
      }
      worst_l = fmax(worst_l, fabs(l1[i] - l2[i]));
      worst_s = fmax(worst_s, sqrt(dn / nn));
      if (pass == 0) assert_true(rel(k2[i], k1[i]) < 1e-5);
    }
    assert_true(worst_l < 1e-4);
    assert_true(worst_s < 1e-4);
  }
  fpf_kde_destroy(kd);
  fpf_kde_destroy(kf);
  free(z); free(x); free(l1); free(l2); free(s1); free(s2); free(k1); free(k2);
}

/* d = 64 (the float Gram tiles), 20 and 32 (the float small path: one
 * and two vectors of 16 floats a row). */
static void test_single_precision(void **state) {
  (void)state;
  single_precision_at(300, 64);
  single_precision_at(300, 20);
  single_precision_at(300, 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_kernel_underflow),
      cmocka_unit_test(test_two_kernels_underflow),
      cmocka_unit_test(test_self_term_high_dim),
      cmocka_unit_test(test_identical_particles),
      cmocka_unit_test(test_against_reference),
      cmocka_unit_test(test_blocking),
      cmocka_unit_test(test_symmetric_tiles),
      cmocka_unit_test(test_exp_kernels),
      cmocka_unit_test(test_score_is_gradient),
      cmocka_unit_test(test_bandwidth_rules),
      cmocka_unit_test(test_flux_divergence),
      cmocka_unit_test(test_single_precision),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
