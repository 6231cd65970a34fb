/*
 * W2 distances against exact answers: the assignment against brute force
 * over all permutations and against a shifted copy (W2 = |shift|); the
 * min-cost flow against hand-solved cases, the 1-D quantile formula and
 * the assignment; Sinkhorn against the exact W2^2 as epsilon shrinks;
 * Bures against the 1-D and commuting formulas and projector pairs,
 * singular and self cases; sliced W2 against exact W2 in 1-D; bad input.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/rng.h"
#include "fpflow/transport.h"

static double *normals(size_t n, uint64_t seed, double scale) {
  double *z = malloc(n * sizeof *z);
  fpf_rng_normals(seed, 30, 0, 0, z, n);
  for (size_t i = 0; i < n; i++) z[i] *= scale;
  return z;
}

static fpf_cloud cloud(const double *x, size_t n, size_t d, const double *w,
                       const char *name) {
  fpf_cloud c = {.x = x, .n = n, .d = d, .w = w, .name = name};
  return c;
}

/* Minimum of sum_i C[i, p(i)] over all permutations (Heap's algorithm). */
static double brute_force(const double *C, size_t n) {
  size_t p[8], c[8] = {0};
  for (size_t i = 0; i < n; i++) p[i] = i;
  double best = INFINITY;
  for (size_t i = 0;;) {
    double s = 0;
    for (size_t r = 0; r < n; r++) s += C[r * n + p[r]];
    if (s < best) best = s;
    while (i < n && c[i] >= i) c[i++] = 0;
    if (i >= n) break;
    size_t j = i % 2 ? c[i] : 0, t = p[j];
    p[j] = p[i];
    p[i] = t;
    c[i]++;
    i = 1;
  }
  return best;
}

static void assert_permutation(const size_t *p, size_t n) {
  unsigned char seen[4096] = {0};
  for (size_t i = 0; i < n; i++) {
    assert_true(p[i] < n);
    assert_false(seen[p[i]]);
    seen[p[i]] = 1;
  }
}

/* Random real costs, integer costs full of ties, and Euclidean costs of
 * clouds, for n = 1..7: the solver's total equals brute force. */
static void test_assignment_brute_force(void **state) {
  (void)state;
  for (size_t n = 1; n <= 7; n++)
    for (int kind = 0; kind < 3; kind++)
      for (uint64_t rep = 0; rep < 20; rep++) {
        double C[49], u[49], total;
        size_t perm[7];
        fpf_rng_uniforms(100 + n, (uint64_t)kind, rep, 0, u, n * n);
        for (size_t i = 0; i < n * n; i++)
          C[i] = kind == 0 ? u[i] : floor(4 * u[i]);
        if (kind == 2) {
          double x[14], y[14];
          fpf_rng_normals(200 + n, 0, rep, 0, x, 2 * n);
          fpf_rng_normals(200 + n, 1, rep, 0, y, 2 * n);
          for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
              C[i * n + j] = pow(x[2 * i] - y[2 * j], 2) +
                             pow(x[2 * i + 1] - y[2 * j + 1], 2);
        }
        assert_int_equal(fpf_assignment_solve(C, n, perm, &total, NULL),
                         FPF_OK);
        assert_permutation(perm, n);
        double s = 0, bf = brute_force(C, n);
        for (size_t i = 0; i < n; i++) s += C[i * n + perm[i]];
        assert_true(fabs(s - total) <= 1e-15 * fmax(1, fabs(s)));
        assert_true(fabs(total - bf) <= 1e-12 * fmax(1, bf));
      }
}

/* b = a shuffled and shifted by s: W2 = |s| exactly, and the matching
 * undoes the shuffle (600 points: the coarse start is used). */
static void test_assignment_shift(void **state) {
  (void)state;
  size_t n = 600, d = 3;
  double *a = normals(n * d, 1, 1.0), *b = malloc(n * d * sizeof *b);
  double s[3] = {0.3, -1.2, 2.0}, s2 = 0.09 + 1.44 + 4.0;
  size_t *shuf = malloc(n * sizeof *shuf), *perm = malloc(n * sizeof *perm);
  for (size_t i = 0; i < n; i++) shuf[i] = (i * 7919) % n; /* coprime */
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < d; k++) b[shuf[i] * d + k] = a[i * d + k] + s[k];
  fpf_cloud A = cloud(a, n, d, NULL, "A"), B = cloud(b, n, d, NULL, "B");
  double w2sq;
  assert_int_equal(fpf_w2_assignment(&A, &B, &w2sq, perm, NULL), FPF_OK);
  assert_true(fabs(w2sq - s2) <= 1e-12 * s2);
  for (size_t i = 0; i < n; i++) assert_int_equal(perm[i], shuf[i]);
  /* auto picks the assignment here */
  fpf_w2_result r;
  assert_int_equal(fpf_w2_distance(&A, &B, NULL, &r, NULL), FPF_OK);
  assert_int_equal(r.method, FPF_W2_EXACT);
  assert_true(fabs(r.w2 - sqrt(s2)) <= 1e-12 * sqrt(s2));
  free(a);
  free(b);
  free(shuf);
  free(perm);
}

/* Hand-solved unequal cases: 1-D (monotone coupling) and 2-D. */
static void test_flow_hand_solved(void **state) {
  (void)state;
  /* a = {0, 2} (1/2 each), b = {1, 3, 4} (1/4, 1/4, 1/2): the quantile
   * coupling 0->1, 0->3, 2->4 costs 1/4 + 9/4 + 4/2 = 4.5 */
  double a1[] = {0, 2}, b1[] = {1, 3, 4}, wb1[] = {1, 1, 2}, w2sq, plan[6];
  fpf_cloud A = cloud(a1, 2, 1, NULL, "a"), B = cloud(b1, 3, 1, wb1, "b");
  assert_int_equal(fpf_w2_flow(&A, &B, &w2sq, plan, NULL), FPF_OK);
  assert_true(fabs(w2sq - 4.5) < 1e-14);
  double expect1[] = {0.25, 0.25, 0, 0, 0, 0.5};
  for (int i = 0; i < 6; i++) assert_true(fabs(plan[i] - expect1[i]) < 1e-15);
  assert_int_equal(fpf_w2_1d(&A, &B, &w2sq, NULL), FPF_OK);
  assert_true(fabs(w2sq - 4.5) < 1e-14);
  /* a = (0,0), (4,0) with 1/2 each; b = (0,1), (4,1) with 1/4 and (2,0)
   * with 1/2.  The plan x11 = x22 = x13 = x23 = 1/4 is the unique optimum
   * (b3 costs 4 from either; b1, b2 cost 1 from their neighbour and 17
   * from the other): 2 (1/4)(1) + 2 (1/4)(4) = 2.5 */
  double a2[] = {0, 0, 4, 0}, b2[] = {0, 1, 4, 1, 2, 0}, wb2[] = {.25, .25, .5};
  A = cloud(a2, 2, 2, NULL, "a");
  B = cloud(b2, 3, 2, wb2, "b");
  assert_int_equal(fpf_w2_flow(&A, &B, &w2sq, plan, NULL), FPF_OK);
  assert_true(fabs(w2sq - 2.5) < 1e-14);
  double expect2[] = {0.25, 0, 0.25, 0, 0.25, 0.25};
  for (int i = 0; i < 6; i++) assert_true(fabs(plan[i] - expect2[i]) < 1e-15);
  /* auto on these small weighted clouds is the exact flow */
  fpf_w2_result r;
  assert_int_equal(fpf_w2_distance(&A, &B, NULL, &r, NULL), FPF_OK);
  assert_int_equal(r.method, FPF_W2_EXACT);
  assert_true(fabs(r.w2sq - 2.5) < 1e-14);
}

/* The flow against two independent exact answers: the 1-D quantile
 * formula for random weights and sizes, and the assignment for uniform
 * clouds (also with b of 2n points against a duplicated). */
static void test_flow_cross_checks(void **state) {
  (void)state;
  for (uint64_t rep = 0; rep < 5; rep++) {
    size_t na = 30 + 7 * rep, nb = 45 - 3 * rep;
    double *x = normals(na, 10 + rep, 1.0), *y = normals(nb, 20 + rep, 2.0);
    double *wa = malloc(na * sizeof *wa), *wb = malloc(nb * sizeof *wb);
    fpf_rng_uniforms(rep, 1, 0, 0, wa, na);
    fpf_rng_uniforms(rep, 2, 0, 0, wb, nb);
    wa[3] = 0; /* a zero weight is allowed */
    fpf_cloud A = cloud(x, na, 1, wa, "a"), B = cloud(y, nb, 1, wb, "b");
    double f, q;
    assert_int_equal(fpf_w2_flow(&A, &B, &f, NULL, NULL), FPF_OK);
    assert_int_equal(fpf_w2_1d(&A, &B, &q, NULL), FPF_OK);
    assert_true(fabs(f - q) <= 1e-12 * q);
    free(x);
    free(y);
    free(wa);
    free(wb);
  }
  size_t n = 520, d = 2; /* the assignment starts from a coarse problem */
  double *a = normals(2 * n * d, 40, 1.0), *b = normals(2 * n * d, 41, 1.5);
  fpf_cloud A = cloud(a, n, d, NULL, "a"), B = cloud(b, n, d, NULL, "b");
  double f, e;
  assert_int_equal(fpf_w2_flow(&A, &B, &f, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_w2_assignment(&A, &B, &e, NULL, NULL), FPF_OK);
  assert_true(fabs(f - e) <= 1e-12 * e);
  /* a (n points) against b (2n points): as a duplicated against b */
  double *aa = malloc(2 * n * d * sizeof *aa);
  for (size_t i = 0; i < 2 * n; i++)
    for (size_t k = 0; k < d; k++) aa[i * d + k] = a[(i / 2) * d + k];
  B = cloud(b, 2 * n, d, NULL, "b");
  fpf_cloud AA = cloud(aa, 2 * n, d, NULL, "aa");
  assert_int_equal(fpf_w2_flow(&A, &B, &f, NULL, NULL), FPF_OK);
  assert_int_equal(fpf_w2_assignment(&AA, &B, &e, NULL, NULL), FPF_OK);
  assert_true(fabs(f - e) <= 1e-12 * e);
  free(a);
  free(b);
  free(aa);
}

/*
 * Debiased Sinkhorn against the exact W2^2 of two 50-point clouds in 2-D
 * (N(0, I) and N((1, 0), I) samples, W2^2 = 1.372) as epsilon shrinks.
 * Tolerances on |S_eps - W2^2| / W2^2 per epsilon, with the measured
 * values in brackets: eps = 1: 0.2 (0.113); 0.1: 0.05 (0.026);
 * 0.01: 3e-3 (1.5e-3); 1e-3: 2e-5 (5.8e-6); 1e-4: 1e-11 (7.4e-13).  The
 * error falls much faster than eps because the optimal plan is a unique
 * permutation.
 */
static void test_sinkhorn_converges(void **state) {
  (void)state;
  size_t n = 50, d = 2;
  double *a = normals(n * d, 50, 1.0), *b = normals(n * d, 51, 1.0);
  for (size_t i = 0; i < n; i++) b[i * d] += 1.0;
  fpf_cloud A = cloud(a, n, d, NULL, "a"), B = cloud(b, n, d, NULL, "b");
  double exact;
  assert_int_equal(fpf_w2_assignment(&A, &B, &exact, NULL, NULL), FPF_OK);
  double eps[] = {1, 0.1, 0.01, 1e-3, 1e-4};
  double tol[] = {0.2, 0.05, 3e-3, 2e-5, 1e-11};
  fpf_w2_options o;
  fpf_w2_options_init(&o);
  o.method = FPF_W2_SINKHORN;
  double prev = INFINITY;
  for (int k = 0; k < 5; k++) {
    o.epsilon = eps[k];
    fpf_w2_result r;
    assert_int_equal(fpf_w2_distance(&A, &B, &o, &r, NULL), FPF_OK);
    double rel = fabs(r.w2sq - exact) / exact;
    print_message("  Sinkhorn eps = %.0e: S = %.12f, W2^2 = %.12f, relative "
                  "error %.2e, %ld iterations\n", eps[k], r.w2sq, exact, rel,
                  r.iterations);
    assert_true(r.converged);
    assert_true(r.marginal_error < o.tol);
    assert_true(r.epsilon == eps[k]);
    assert_true(rel <= tol[k]);
    assert_true(rel <= prev);
    prev = rel;
  }
  /* tiny epsilon: nothing underflows, the answer is still right */
  o.epsilon = 1e-9;
  fpf_w2_result r;
  assert_int_equal(fpf_w2_distance(&A, &B, &o, &r, NULL), FPF_OK);
  assert_true(r.converged);
  assert_true(fabs(r.w2sq - exact) <= 1e-12 * exact);
  /* a cloud against itself: S = 0 */
  o.epsilon = 0.1;
  assert_int_equal(fpf_w2_distance(&A, &A, &o, &r, NULL), FPF_OK);
  assert_true(fabs(r.w2sq) < 1e-9);
  free(a);
  free(b);
}

/*
 * Sinkhorn with unequal weights and sizes (40 and 70 points in 3-D)
 * against the exact simplex: the optimal plan splits mass, so the bias
 * is linear in eps (measured S - W2^2 = -0.63 eps); the relative error
 * must be below eps itself at eps = 1e-3 and 1e-4 (measured 5.9e-4,
 * 5.9e-5).  The same bits on 1 and 2 threads.
 */
static void test_sinkhorn_weighted(void **state) {
  (void)state;
  size_t na = 40, nb = 70, d = 3;
  double *a = normals(na * d, 60, 1.0), *b = normals(nb * d, 61, 0.7);
  double *wa = malloc(na * sizeof *wa), *wb = malloc(nb * sizeof *wb);
  fpf_rng_uniforms(7, 1, 0, 0, wa, na);
  fpf_rng_uniforms(7, 2, 0, 0, wb, nb);
  fpf_cloud A = cloud(a, na, d, wa, "a"), B = cloud(b, nb, d, wb, "b");
  double exact;
  assert_int_equal(fpf_w2_flow(&A, &B, &exact, NULL, NULL), FPF_OK);
  fpf_w2_options o;
  fpf_w2_options_init(&o);
  o.method = FPF_W2_SINKHORN;
  fpf_w2_result r1, r2;
  for (double eps = 1e-3; eps > 5e-5; eps /= 10) {
    o.epsilon = eps;
    omp_set_num_threads(1);
    assert_int_equal(fpf_w2_distance(&A, &B, &o, &r1, NULL), FPF_OK);
    omp_set_num_threads(2);
    assert_int_equal(fpf_w2_distance(&A, &B, &o, &r2, NULL), FPF_OK);
    print_message("  weighted Sinkhorn eps = %.0e: S = %.12f, exact %.12f, "
                  "%ld iterations\n", eps, r1.w2sq, exact, r1.iterations);
    assert_true(r1.converged);
    assert_true(fabs(r1.w2sq - exact) <= eps * exact);
    assert_memory_equal(&r1.w2sq, &r2.w2sq, sizeof(double));
    assert_int_equal(r1.iterations, r2.iterations);
  }
  free(a);
  free(b);
  free(wa);
  free(wb);
}

/* Large enough for the softmin to split rows over threads (over 2^20
 * costs): the same bits on 1 and 2 threads. */
static void test_sinkhorn_threads(void **state) {
  (void)state;
  size_t na = 1100, nb = 1000, d = 2;
  double *a = normals(na * d, 62, 1.0), *b = normals(nb * d, 63, 1.0);
  fpf_cloud A = cloud(a, na, d, NULL, "a"), B = cloud(b, nb, d, NULL, "b");
  fpf_w2_options o;
  fpf_w2_options_init(&o);
  o.method = FPF_W2_SINKHORN;
  o.epsilon = 1.0;
  fpf_w2_result r1, r2;
  omp_set_num_threads(1);
  assert_int_equal(fpf_w2_distance(&A, &B, &o, &r1, NULL), FPF_OK);
  omp_set_num_threads(2);
  assert_int_equal(fpf_w2_distance(&A, &B, &o, &r2, NULL), FPF_OK);
  assert_true(r1.converged);
  assert_memory_equal(&r1.w2sq, &r2.w2sq, sizeof(double));
  assert_int_equal(r1.iterations, r2.iterations);
  free(a);
  free(b);
}

/* Bures against closed forms. */
static void test_bures_formulas(void **state) {
  (void)state;
  double w2sq;
  /* 1-D: (m1 - m2)^2 + (s1 - s2)^2 */
  double m1 = 0.5, m2 = -1.0, v1 = 4.0, v2 = 0.25;
  assert_int_equal(fpf_w2_gaussian(&m1, &v1, &m2, &v2, 1, &w2sq, NULL),
                   FPF_OK);
  assert_true(fabs(w2sq - (2.25 + 2.25)) < 1e-14);
  /* 2-D commuting: S1 = R diag(4, 1) R^T, S2 = R diag(9, 1/4) R^T:
   * |dm|^2 + (2 - 3)^2 + (1 - 1/2)^2 */
  double c = cos(0.7), s = sin(0.7), R[4] = {c, -s, s, c}, S1[4], S2[4];
  double l1[2] = {4, 1}, l2[2] = {9, 0.25};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      S1[i * 2 + j] = R[i * 2] * l1[0] * R[j * 2] +
                      R[i * 2 + 1] * l1[1] * R[j * 2 + 1];
      S2[i * 2 + j] = R[i * 2] * l2[0] * R[j * 2] +
                      R[i * 2 + 1] * l2[1] * R[j * 2 + 1];
    }
  double ma[2] = {1, 2}, mb[2] = {-1, 0.5};
  assert_int_equal(fpf_w2_gaussian(ma, S1, mb, S2, 2, &w2sq, NULL), FPF_OK);
  assert_true(fabs(w2sq - (4 + 2.25 + 1 + 0.25)) < 1e-13);
  /* singular: projectors u u^T and v v^T at angle t give 2 - 2 |cos t| */
  double t = 1.1, u[2] = {1, 0}, v[2] = {cos(t), sin(t)}, P[4], Q[4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      P[i * 2 + j] = u[i] * u[j];
      Q[i * 2 + j] = v[i] * v[j];
    }
  double z[2] = {0, 0};
  assert_int_equal(fpf_w2_gaussian(z, P, z, Q, 2, &w2sq, NULL), FPF_OK);
  assert_true(isfinite(w2sq) && w2sq >= 0);
  assert_true(fabs(w2sq - (2 - 2 * fabs(cos(t)))) < 1e-12);
  /* zero covariance against S2: |dm|^2 + tr S2 */
  double Z[4] = {0, 0, 0, 0};
  assert_int_equal(fpf_w2_gaussian(ma, Z, mb, S2, 2, &w2sq, NULL), FPF_OK);
  assert_true(fabs(w2sq - (4 + 2.25 + 9.25)) < 1e-13);
}

/* Clouds: singular fits (n <= d, and points on a line) stay finite and
 * >= 0; a cloud against itself gives 0 to round-off. */
static void test_bures_clouds(void **state) {
  (void)state;
  size_t d = 10;
  double *a = normals(4 * d, 70, 1.0), *b = normals(6 * d, 71, 2.0);
  fpf_cloud A = cloud(a, 4, d, NULL, "a"), B = cloud(b, 6, d, NULL, "b");
  double w2sq;
  assert_int_equal(fpf_w2_bures(&A, &B, &w2sq, NULL), FPF_OK);
  assert_true(isfinite(w2sq) && w2sq >= 0);
  /* points on a line in 3-D against a plane */
  double line[30], plane[30];
  for (int i = 0; i < 10; i++) {
    line[3 * i] = line[3 * i + 1] = line[3 * i + 2] = i;
    plane[3 * i] = i % 3;
    plane[3 * i + 1] = i / 3;
    plane[3 * i + 2] = 0;
  }
  A = cloud(line, 10, 3, NULL, "line");
  B = cloud(plane, 10, 3, NULL, "plane");
  assert_int_equal(fpf_w2_bures(&A, &B, &w2sq, NULL), FPF_OK);
  assert_true(isfinite(w2sq) && w2sq >= 0);
  /* self-distance, also with weights and a singular fit */
  double *c = normals(500 * 3, 72, 3.0), wc[500];
  fpf_rng_uniforms(72, 1, 0, 0, wc, 500);
  fpf_cloud C = cloud(c, 500, 3, wc, "c");
  assert_int_equal(fpf_w2_bures(&C, &C, &w2sq, NULL), FPF_OK);
  assert_true(w2sq >= 0 && w2sq < 1e-12 * 27);
  A = cloud(a, 4, d, NULL, "a");
  assert_int_equal(fpf_w2_bures(&A, &A, &w2sq, NULL), FPF_OK);
  assert_true(w2sq >= 0 && w2sq < 1e-12 * 10 * d);
  free(a);
  free(b);
  free(c);
}

/* In 1-D sliced W2 is W2; in d dims, for a shift s, SW2^2 = |s|^2 / d
 * up to the Monte Carlo error of K = 256 directions. */
static void test_sliced(void **state) {
  (void)state;
  size_t n = 300;
  double *x = normals(n, 80, 1.0), *y = normals(n, 81, 2.0), sw, ex;
  fpf_cloud A = cloud(x, n, 1, NULL, "x"), B = cloud(y, n, 1, NULL, "y");
  assert_int_equal(fpf_w2_sliced(&A, &B, 16, 3, &sw, NULL), FPF_OK);
  assert_int_equal(fpf_w2_assignment(&A, &B, &ex, NULL, NULL), FPF_OK);
  assert_true(fabs(sw - ex) <= 1e-12 * ex);
  /* weighted, unequal sizes, 1-D: against the exact flow */
  double w[200];
  fpf_rng_uniforms(81, 1, 0, 0, w, 200);
  B = cloud(y, 200, 1, w, "y");
  assert_int_equal(fpf_w2_sliced(&A, &B, 4, 3, &sw, NULL), FPF_OK);
  assert_int_equal(fpf_w2_flow(&A, &B, &ex, NULL, NULL), FPF_OK);
  assert_true(fabs(sw - ex) <= 1e-12 * ex);
  /* shift in d = 3: E (theta.s)^2 = |s|^2 / 3; the per-direction value
   * has relative sd 0.89, so 5 sd of the mean of 256 is 0.28 */
  size_t d = 3;
  double *a = normals(n * d, 82, 1.0), *b = malloc(n * d * sizeof *b);
  for (size_t i = 0; i < n * d; i++) b[i] = a[i] + (i % d == 0 ? 3.0 : 0.0);
  A = cloud(a, n, d, NULL, "a");
  B = cloud(b, n, d, NULL, "b");
  assert_int_equal(fpf_w2_sliced(&A, &B, 256, 5, &sw, NULL), FPF_OK);
  assert_true(fabs(sw * 3 / 9.0 - 1) < 0.28);
  /* the same bits on 1 and 2 threads */
  double s1, s2;
  omp_set_num_threads(1);
  fpf_w2_sliced(&A, &B, 64, 9, &s1, NULL);
  omp_set_num_threads(2);
  fpf_w2_sliced(&A, &B, 64, 9, &s2, NULL);
  assert_memory_equal(&s1, &s2, sizeof s1);
  free(x);
  free(y);
  free(a);
  free(b);
}

static void expect_error(fpf_status got, fpf_status want, const fpf_error *e,
                         const char *p1, const char *p2) {
  assert_int_equal(got, want);
  if (!strstr(e->msg, p1) || (p2 && !strstr(e->msg, p2)))
    fail_msg("message '%s' lacks '%s' or '%s'", e->msg, p1, p2 ? p2 : "");
}

static void test_bad_input(void **state) {
  (void)state;
  double a[6] = {0, 1, 2, 3, 4, 5}, b[6] = {0, 1, 2, 3, 4, 5};
  fpf_cloud A = cloud(a, 3, 2, NULL, "A.npy"), B = cloud(b, 2, 3, NULL,
                                                          "B.npy");
  fpf_w2_result r;
  fpf_error e;
  /* different dimensions */
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_EINVAL, &e,
               "A.npy has dimension d = 2", "B.npy has d = 3");
  /* NaN and Inf */
  B = cloud(b, 3, 2, NULL, "B.npy");
  b[3] = NAN;
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_ENONFINITE, &e,
               "B.npy: NaN at row 1, column 1", NULL);
  b[3] = 3;
  a[4] = -INFINITY;
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_ENONFINITE, &e,
               "A.npy: -Inf at row 2, column 0", NULL);
  a[4] = 4;
  /* negative, all-zero and non-finite weights */
  double w[3] = {1, -0.5, 1};
  A.w = w;
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_EINVAL, &e,
               "A.npy: weight -0.5 at index 1 is negative", NULL);
  w[1] = 0;
  w[0] = w[2] = 0;
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_EINVAL, &e,
               "A.npy: all 3 weights are 0", NULL);
  w[2] = NAN;
  expect_error(fpf_w2_distance(&A, &B, NULL, &r, &e), FPF_ENONFINITE, &e,
               "A.npy: weight NaN at index 2", NULL);
  /* a covariance with a negative eigenvalue where Bures needs PSD */
  double S1[4] = {1, 0, 0, -1}, S2[4] = {1, 0, 0, 1}, m[2] = {0, 0}, w2sq;
  expect_error(fpf_w2_gaussian(m, S1, m, S2, 2, &w2sq, &e), FPF_ENOTPD, &e,
               "covariance S1 is not positive semidefinite", "-1");
  double S3[4] = {1, 0.5, 0.2, 1};
  expect_error(fpf_w2_gaussian(m, S2, m, S3, 2, &w2sq, &e), FPF_EINVAL, &e,
               "covariance S2 is not symmetric", NULL);
  /* the Gaussian KL needs positive definite covariances */
  double kl, Z[4] = {1, 0, 0, 0};
  expect_error(fpf_kl_gaussian(m, Z, m, S2, 2, &kl, &e), FPF_ENOTPD, &e,
               "covariance S1 is not positive definite", NULL);
  /* the assignment needs equal sizes */
  A = cloud(a, 3, 2, NULL, "A.npy");
  B = cloud(b, 2, 2, NULL, "B.npy");
  expect_error(fpf_w2_assignment(&A, &B, &w2sq, NULL, &e), FPF_EINVAL, &e,
               "A.npy is 3 x 2 and B.npy is 2 x 2", NULL);
}

/* Method names and auto's choices. */
static void test_methods(void **state) {
  (void)state;
  fpf_w2_method m;
  for (int i = 0; i <= FPF_W2_SLICED; i++) {
    assert_int_equal(fpf_w2_method_parse(fpf_w2_method_name(i), &m), 0);
    assert_int_equal(m, i);
  }
  assert_int_equal(fpf_w2_method_parse("wasserstein", &m), -1);
  size_t n = 700, d = 2;
  double *a = normals(n * d, 90, 1.0), *b = normals(n * d, 91, 1.0);
  fpf_w2_options o;
  fpf_w2_options_init(&o);
  o.flow_max = 1000;
  o.sinkhorn_max = 500 * 650;
  o.blur = 0.5; /* only the choice is tested: keep Sinkhorn short */
  o.max_iter = 5;
  fpf_w2_result r;
  fpf_cloud A = cloud(a, 500, d, NULL, "a"), B = cloud(b, 650, d, NULL, "b");
  assert_int_equal(fpf_w2_distance(&A, &B, &o, &r, NULL), FPF_OK);
  assert_int_equal(r.method, FPF_W2_SINKHORN);
  B.n = 700;
  assert_int_equal(fpf_w2_distance(&A, &B, &o, &r, NULL), FPF_OK);
  assert_int_equal(r.method, FPF_W2_SLICED);
  free(a);
  free(b);
}

/* The Gaussian KL against the 1-D formula log(s2/s1) + (s1^2 +
 * (m1 - m2)^2) / (2 s2^2) - 1/2, and a 2-D diagonal case. */
static void test_kl_gaussian(void **state) {
  (void)state;
  double m1 = 0.3, m2 = -0.4, v1 = 0.5, v2 = 2.0, kl;
  assert_int_equal(fpf_kl_gaussian(&m1, &v1, &m2, &v2, 1, &kl, NULL), FPF_OK);
  double ex = log(sqrt(v2 / v1)) + (v1 + 0.49) / (2 * v2) - 0.5;
  assert_true(fabs(kl - ex) < 1e-14);
  double a[2] = {1, 2}, b[2] = {0, 0}, S[4] = {2, 0, 0, 3}, T[4] = {1, 0, 0,
                                                                   4};
  assert_int_equal(fpf_kl_gaussian(a, S, b, T, 2, &kl, NULL), FPF_OK);
  ex = 0.5 * (2.0 + 0.75 + 1.0 + 1.0 - 2 + log(4.0 / 6.0));
  assert_true(fabs(kl - ex) < 1e-14);
  assert_int_equal(fpf_kl_gaussian(a, S, a, S, 2, &kl, NULL), FPF_OK);
  assert_true(fabs(kl) < 1e-15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_assignment_brute_force),
      cmocka_unit_test(test_assignment_shift),
      cmocka_unit_test(test_flow_hand_solved),
      cmocka_unit_test(test_flow_cross_checks),
      cmocka_unit_test(test_sinkhorn_converges),
      cmocka_unit_test(test_sinkhorn_weighted),
      cmocka_unit_test(test_sinkhorn_threads),
      cmocka_unit_test(test_bures_formulas),
      cmocka_unit_test(test_bures_clouds),
      cmocka_unit_test(test_sliced),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_methods),
      cmocka_unit_test(test_kl_gaussian),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
