/*
 * Tests of the training monitor (src/monitor.c).
 *
 * Kramers-Moyal is checked on an Ornstein-Uhlenbeck series dz = A z dt +
 * sqrt(2 D) dW sampled exactly (z(t + tau) = e^{A tau} z(t) + eta, eta ~
 * N(0, Q(tau)), Q = S - e^{A tau} S e^{A^T tau}, S the stationary
 * covariance) at unevenly spaced steps.  Given the probes' positions, the
 * estimates have known expectations and known sampling spreads, so the
 * tolerances are stated in standard deviations; the distance to A and D
 * themselves adds the O(tau) bias of finite gaps.  A deterministic motion
 * with known drift and a rank-one D checks the estimator exactly, and a
 * synthetic contraction is the collapse the detector must find, at its
 * step.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/kde.h"
#include "fpflow/monitor.h"
#include "fpflow/rng.h"

static void push_ok(fpf_monitor *m, long step, const double *z,
                    const double *g, const double *loss, fpf_metrics *out) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_monitor_push(m, step, z, g, loss, out, &err);
  if (st) fail_msg("push at step %ld: %s", step, err.msg);
}

static fpf_monitor *make(size_t n, size_t d, const fpf_monitor_options *o) {
  fpf_monitor *m = NULL;
  fpf_error err;
  fpf_error_clear(&err);
  if (fpf_monitor_create(&m, n, d, o, &err))
    fail_msg("create: %s", err.msg);
  return m;
}

/* ---- 2 x 2 matrices for the Ornstein-Uhlenbeck law ------------------- */

typedef struct m2 {
  double a[2][2];
} m2;

static m2 mul(m2 x, m2 y) {
  m2 r;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      r.a[i][j] = x.a[i][0] * y.a[0][j] + x.a[i][1] * y.a[1][j];
  return r;
}

static m2 transpose(m2 x) {
  m2 r = {{{x.a[0][0], x.a[1][0]}, {x.a[0][1], x.a[1][1]}}};
  return r;
}

static m2 lin(double s, m2 x, double t, m2 y) {
  m2 r;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) r.a[i][j] = s * x.a[i][j] + t * y.a[i][j];
  return r;
}

static m2 inverse(m2 x) {
  double det = x.a[0][0] * x.a[1][1] - x.a[0][1] * x.a[1][0];
  m2 r = {{{x.a[1][1] / det, -x.a[0][1] / det},
           {-x.a[1][0] / det, x.a[0][0] / det}}};
  return r;
}

static const m2 I2 = {{{1, 0}, {0, 1}}};

/* e^X by its Taylor series; |X| <= 0.1 here, so 30 terms are exact. */
static m2 expm(m2 x) {
  m2 sum = I2, term = I2;
  for (int k = 1; k < 30; k++) {
    term = lin(1.0 / k, mul(term, x), 0, I2);
    sum = lin(1, sum, 1, term);
  }
  return sum;
}

/* The stationary covariance: A S + S A^T + 2 D = 0, three unknowns. */
static m2 lyapunov(m2 A, m2 D) {
  double a = A.a[0][0], b = A.a[0][1], c = A.a[1][0], d = A.a[1][1];
  /* rows: (1,1), (1,2), (2,2) equations in s11, s12, s22 */
  double M[3][4] = {{2 * a, 2 * b, 0, -2 * D.a[0][0]},
                    {c, a + d, b, -2 * D.a[0][1]},
                    {0, 2 * c, 2 * d, -2 * D.a[1][1]}};
  for (int p = 0; p < 3; p++)
    for (int r = p + 1; r < 3; r++) {
      double f = M[r][p] / M[p][p];
      for (int k = p; k < 4; k++) M[r][k] -= f * M[p][k];
    }
  double s[3];
  for (int p = 2; p >= 0; p--) {
    double v = M[p][3];
    for (int k = p + 1; k < 3; k++) v -= M[p][k] * s[k];
    s[p] = v / M[p][p];
  }
  m2 S = {{{s[0], s[1]}, {s[1], s[2]}}};
  return S;
}

/* Lower Cholesky factor of a 2 x 2 covariance. */
static m2 chol(m2 S) {
  double l11 = sqrt(S.a[0][0]), l21 = S.a[1][0] / l11;
  m2 L = {{{l11, 0}, {l21, sqrt(S.a[1][1] - l21 * l21)}}};
  return L;
}

/* n points x_i = L xi_i (+ E z_i when z is given), xi from Philox. */
static void draw(double *out, const double *z, m2 E, m2 L, size_t n,
                 uint64_t step) {
  double xi[2];
  for (size_t i = 0; i < n; i++) {
    fpf_rng_normals(7, FPF_STREAM_USER, step, i, xi, 2);
    for (int a = 0; a < 2; a++) {
      double v = L.a[a][0] * xi[0] + L.a[a][1] * xi[1];
      if (z) v += E.a[a][0] * z[2 * i] + E.a[a][1] * z[2 * i + 1];
      out[2 * i + a] = v;
    }
  }
}

/* sum_i x_i y_i^T over n points of R^2. */
static m2 outer_sum(const double *x, const double *y, size_t n) {
  m2 r = {{{0, 0}, {0, 0}}};
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++) r.a[a][b] += x[2 * i + a] * y[2 * i + b];
  return r;
}

/* Sample covariance (1/(n-1)) of n points of R^2. */
static m2 sample_cov(const double *x, size_t n) {
  double mean[2] = {0, 0};
  for (size_t i = 0; i < n; i++) mean[0] += x[2 * i], mean[1] += x[2 * i + 1];
  mean[0] /= (double)n, mean[1] /= (double)n;
  m2 r = {{{0, 0}, {0, 0}}};
  for (size_t i = 0; i < n; i++)
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++)
        r.a[a][b] += (x[2 * i + a] - mean[a]) * (x[2 * i + b] - mean[b]);
  return lin(1.0 / (double)(n - 1), r, 0, I2);
}

/*
 * OU with A (per step) and D at steps with gaps 1, 3, 2, 5, 1, 4, ...:
 * rates of 0.02 per step keep |A tau| <= 0.1.  N = 2000 probes and 40
 * intervals give a drift regression with a spread of about 2.5% of |A|.
 */
enum { OU_N = 2000, OU_K = 40 };

static void test_kramers_moyal_ou(void **state) {
  (void)state;
  const m2 A = {{{-0.02, 0.01}, {-0.005, -0.015}}};
  const m2 D = {{{0.002, 0.0005}, {0.0005, 0.001}}};
  static const long gaps[6] = {1, 3, 2, 5, 1, 4};
  m2 S = lyapunov(A, D);
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.mode = FPF_MONITOR_TRAJECTORY;
  o.flux_divergence = 0;
  o.knn_k = 0;
  fpf_monitor *m = make(OU_N, 2, &o);
  double *z = malloc(2 * OU_N * sizeof *z), *z1 = malloc(2 * OU_N * sizeof *z);
  assert_non_null(z);
  assert_non_null(z1);

  /* Stationary start, then exact transitions. */
  draw(z, NULL, I2, chol(S), OU_N, 0);
  long step = 100;
  push_ok(m, step, z, NULL, NULL, NULL);
  m2 Szz = lin(0, I2, 0, I2), Smz = Szz, Emz = Szz, Dsum = Szz, Dexp = Szz;
  m2 Szz_k[OU_K], Qk[OU_K];
  double tau_k[OU_K], dvar[2][2] = {{0, 0}, {0, 0}};
  for (int k = 0; k < OU_K; k++) {
    double tau = (double)gaps[k % 6];
    m2 E = expm(lin(tau, A, 0, I2));
    m2 Q = lin(1, S, -1, mul(mul(E, S), transpose(E)));
    draw(z1, z, E, chol(Q), OU_N, (uint64_t)k + 1);
    step += gaps[k % 6];
    push_ok(m, step, z1, NULL, NULL, NULL);
    const fpf_flow *f = fpf_monitor_flow(m);
    assert_non_null(f);

    /* Drift regression sums, and their expectation given z. */
    m2 zz = outer_sum(z, z, OU_N);
    m2 M = lin(1.0 / tau, lin(1, E, -1, I2), 0, I2);
    Szz = lin(1, Szz, 1, zz);
    Smz = lin(1, Smz, 1, outer_sum(fpf_flow_drift(f), z, OU_N));
    Emz = lin(1, Emz, 1, mul(M, zz));
    Szz_k[k] = zz, Qk[k] = Q, tau_k[k] = tau;

    /* Diffusion and its expectation (B S^ B^T + Q) / (2 tau). */
    const double *Dk = fpf_flow_diffusion(f);
    m2 De = {{{Dk[0], Dk[1]}, {Dk[2], Dk[3]}}};
    assert_true(Dk[1] == Dk[2]);
    m2 B = lin(1, E, -1, I2);
    m2 ex = lin(1, mul(mul(B, sample_cov(z, OU_N)), transpose(B)), 1, Q);
    Dsum = lin(1, Dsum, 1.0 / OU_K, De);
    Dexp = lin(1, Dexp, 1.0 / (2 * tau * OU_K), ex);
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++)
        dvar[a][b] += (Q.a[a][a] * Q.a[b][b] + Q.a[a][b] * Q.a[a][b]) /
                      ((OU_N - 1) * 4 * tau * tau * OU_K * OU_K);
    memcpy(z, z1, 2 * OU_N * sizeof *z);
  }

  /* Drift: A_est = Smz Szz^-1 against its expectation and against A.
   * var(A_est[a][b]) = sum_k Q_aa/tau^2 [Szz^-1 Szz_k Szz^-1]_bb. */
  m2 Si = inverse(Szz), Aest = mul(Smz, Si), Aexp = mul(Emz, Si);
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      double var = 0;
      for (int k = 0; k < OU_K; k++)
        var += Qk[k].a[a][a] / (tau_k[k] * tau_k[k]) *
               mul(mul(Si, Szz_k[k]), Si).a[b][b];
      double sd = sqrt(var);
      printf("A[%d][%d]: estimate %.5f, expected %.5f (sd %.5f), "
             "true %.5f\n",
             a, b, Aest.a[a][b], Aexp.a[a][b], sd, A.a[a][b]);
      assert_true(fabs(Aest.a[a][b] - Aexp.a[a][b]) <= 5 * sd);
      assert_true(fabs(Aest.a[a][b] - A.a[a][b]) <= 0.1 * 0.02);
    }

  /* Diffusion: within 5 sd (+20% for the neglected B-eta cross terms)
   * of its expectation, and within 10% of max |D| of D itself. */
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      double sd = sqrt(dvar[a][b]);
      printf("D[%d][%d]: estimate %.6f, expected %.6f (sd %.6f), "
             "true %.6f\n",
             a, b, Dsum.a[a][b], Dexp.a[a][b], sd, D.a[a][b]);
      assert_true(fabs(Dsum.a[a][b] - Dexp.a[a][b]) <= 6 * sd);
      assert_true(fabs(Dsum.a[a][b] - D.a[a][b]) <= 0.1 * 0.002);
    }
  free(z);
  free(z1);
  fpf_monitor_destroy(m);
}

/*
 * Deterministic motion over uneven gaps: z_i(t1) = z_i(t0) + tau (v +
 * c_i u), sum c_i = 0.  Then exactly drift_i = v + c_i u and D = tau
 * sum c_i^2 / (2 (n - 1)) u u^T, a rank-one matrix.
 */
static void test_uneven_gaps_exact(void **state) {
  (void)state;
  enum { N = 40, DIM = 3 };
  const double v[DIM] = {0.5, -0.25, 1.0}, u[DIM] = {0.6, 0.0, 0.8};
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.mode = FPF_MONITOR_TRAJECTORY;
  fpf_monitor *m = make(N, DIM, &o);
  double z[N * DIM], c[N], sc2 = 0;
  for (size_t i = 0; i < N; i++) {
    c[i] = (double)i - (N - 1) / 2.0;
    sc2 += c[i] * c[i];
    for (size_t a = 0; a < DIM; a++)
      z[i * DIM + a] = sin(1.0 + (double)(i * DIM + a));
  }
  static const long steps[] = {0, 1, 4, 6, 16, 17, 30};
  push_ok(m, steps[0], z, NULL, NULL, NULL);
  for (size_t k = 1; k < sizeof steps / sizeof *steps; k++) {
    double tau = (double)(steps[k] - steps[k - 1]);
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < DIM; a++)
        z[i * DIM + a] += tau * (v[a] + c[i] * u[a]);
    fpf_metrics row;
    push_ok(m, steps[k], z, NULL, NULL, &row);
    const fpf_flow *f = fpf_monitor_flow(m);
    const double *mu = fpf_flow_drift(f), *Dm = fpf_flow_diffusion(f);
    for (size_t i = 0; i < N; i++)
      for (size_t a = 0; a < DIM; a++)
        assert_float_equal(mu[i * DIM + a], v[a] + c[i] * u[a], 1e-12);
    double scale = tau * sc2 / (2.0 * (N - 1));
    for (size_t a = 0; a < DIM; a++)
      for (size_t b = 0; b < DIM; b++)
        assert_float_equal(Dm[a * DIM + b], scale * u[a] * u[b],
                           1e-12 * scale);
    assert_int_equal(row.step, steps[k]);
    assert_true(isfinite(row.C) && isfinite(row.C_vel) &&
                isfinite(row.S_dot) && isfinite(row.div_max));
    assert_true(isnan(row.eta) && isnan(row.T_gibbs));
  }
  fpf_monitor_destroy(m);
}

/*
 * Model mode: with lambda = 0 the drift is -eta grad L exactly and D =
 * c (I + gamma F), F = (1/n) sum_i g_i g_i^T, computed here by hand.
 */
static void test_model_mode(void **state) {
  (void)state;
  enum { N = 50, DIM = 4 };
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.eta = 0.3;
  o.lambda = 0;
  o.c = 0.7;
  o.gamma = 0.2;
  fpf_monitor *m = make(N, DIM, &o);
  double z[N * DIM], g[N * DIM], loss[N], F[DIM * DIM] = {0};
  for (size_t i = 0; i < N * DIM; i++) {
    z[i] = cos(0.37 * (double)i);
    g[i] = 2.0 * z[i] + 0.1 * sin((double)i);
  }
  for (size_t i = 0; i < N; i++) loss[i] = 0.01 * (double)i;
  for (size_t i = 0; i < N; i++)
    for (size_t a = 0; a < DIM; a++)
      for (size_t b = 0; b < DIM; b++)
        F[a * DIM + b] += g[i * DIM + a] * g[i * DIM + b] / N;
  fpf_metrics row;
  push_ok(m, 5, z, g, loss, &row);
  const fpf_flow *f = fpf_monitor_flow(m);
  for (size_t i = 0; i < N * DIM; i++)
    assert_float_equal(fpf_flow_drift(f)[i], -0.3 * g[i], 1e-14);
  for (size_t a = 0; a < DIM; a++)
    for (size_t b = 0; b < DIM; b++)
      assert_float_equal(fpf_flow_diffusion(f)[a * DIM + b],
                         0.7 * ((a == b) + 0.2 * F[a * DIM + b]), 1e-12);

  /* The median bandwidth, the mean loss and the schedule fields. */
  double h;
  fpf_error err;
  assert_int_equal(fpf_kde_bandwidth(z, N, DIM, FPF_BW_MEDIAN, 0, &h, &err),
                   FPF_OK);
  assert_float_equal(row.h, h, 0);
  assert_float_equal(row.loss_mean, 0.01 * (N - 1) / 2.0, 1e-14);
  assert_float_equal(row.T_gibbs, 0.7 / 0.3, 1e-14);
  assert_int_equal(row.step, 5);

  /* The history holds the row. */
  const fpf_metrics *hist;
  assert_int_equal(fpf_monitor_history(m, &hist), 1);
  assert_memory_equal(&hist[0], &row, sizeof row);
  fpf_monitor_destroy(m);
}

/* ---- A known collapse ------------------------------------------------ */

typedef struct alerts {
  int n;
  fpf_monitor_alert last;
} alerts;

static void on_alert(void *user, const fpf_monitor_alert *a) {
  alerts *al = user;
  al->n++;
  al->last = *a;
}

/*
 * 300 probes in 3 dimensions translate at speed 0.5 per step with a
 * little noise (D0 = 1e-4): drift far above diffusion, C_vel ~ 10^3.  At
 * step COLLAPSE_STEP the cloud contracts to 0.3 of its spread about its
 * mean.  Over that interval the drift points into the density (S_dot
 * spikes) and the residual covariance is large (C_vel falls to ~3);
 * afterwards the translation resumes.  The loss is flat.  The detector
 * (default options, tolerance 0) must find that step and only it, and the
 * alert (C_vel < 10) must fire there and only there.
 */
enum { CN = 300, CD = 3, CT = 45, COLLAPSE_ROW = 30 };

/* Pushes the series described above; returns the collapse's step. */
static long push_collapse_series(fpf_monitor *m, const double *loss) {
  double *z = malloc(CN * CD * sizeof *z), xi[CD];
  assert_non_null(z);
  for (size_t i = 0; i < CN; i++)
    fpf_rng_normals(11, FPF_STREAM_USER, 0, i, z + i * CD, CD);
  long step = 1000, collapse_step = -1;
  for (int k = 0; k < CT; k++) {
    long gap = 1 + k % 3;
    if (k > 0) step += gap;
    if (k == COLLAPSE_ROW) {
      double mean[CD] = {0};
      for (size_t i = 0; i < CN; i++)
        for (size_t a = 0; a < CD; a++) mean[a] += z[i * CD + a] / CN;
      for (size_t i = 0; i < CN; i++)
        for (size_t a = 0; a < CD; a++)
          z[i * CD + a] = mean[a] + 0.3 * (z[i * CD + a] - mean[a]);
      collapse_step = step;
    } else if (k > 0) {
      for (size_t i = 0; i < CN; i++) {
        fpf_rng_normals(11, FPF_STREAM_USER, (uint64_t)k, i, xi, CD);
        for (size_t a = 0; a < CD; a++)
          z[i * CD + a] += (a == 0 ? 0.5 * (double)gap : 0.0) +
                           sqrt(2e-4 * (double)gap) * xi[a];
      }
    }
    push_ok(m, step, z, NULL, loss, NULL);
  }
  free(z);
  return collapse_step;
}

static void test_collapse_detected(void **state) {
  (void)state;
  alerts al = {0};
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.mode = FPF_MONITOR_TRAJECTORY;
  o.alert_C_threshold = 10;
  o.alert = on_alert;
  o.alert_user = &al;
  fpf_monitor *m = make(CN, CD, &o);
  double loss[CN];
  for (size_t i = 0; i < CN; i++) loss[i] = 0.25;
  long collapse_step = push_collapse_series(m, loss);

  size_t rows[CT], nt = 99;
  fpf_error err;
  assert_int_equal(fpf_monitor_transitions(m, rows, &nt, &err), FPF_OK);
  const fpf_metrics *hist;
  assert_int_equal(fpf_monitor_history(m, &hist), CT);
  printf("collapse at step %ld: C_vel %.3g -> %.3g -> %.3g, S_dot %.3g\n",
         collapse_step, hist[COLLAPSE_ROW - 1].C_vel,
         hist[COLLAPSE_ROW].C_vel, hist[COLLAPSE_ROW + 1].C_vel,
         hist[COLLAPSE_ROW].S_dot);
  assert_int_equal(nt, 1);
  assert_int_equal(rows[0], COLLAPSE_ROW);
  assert_int_equal(hist[rows[0]].step, collapse_step);
  assert_true(isnan(hist[0].C));

  /* The criteria behind it: drop and spike at the collapse only. */
  unsigned char drop[CT], spike[CT], plateau[CT];
  fpf_detect_flags fl = {drop, spike, plateau};
  assert_int_equal(fpf_monitor_detect(m, rows, &nt, &fl, &err), FPF_OK);
  assert_int_equal(nt, 1);
  for (size_t i = 0; i < CT; i++) {
    assert_int_equal(spike[i], i == COLLAPSE_ROW);
    assert_int_equal(plateau[i], i >= 11); /* lag 10 after the NaN row */
  }
  assert_int_equal(drop[COLLAPSE_ROW], 1);
  assert_int_equal(drop[0], 0);

  /* One alert, at the collapse, carrying that row's numbers. */
  assert_int_equal(al.n, 1);
  assert_int_equal(fpf_monitor_alert_count(m), 1);
  assert_int_equal(al.last.step, collapse_step);
  assert_int_equal(al.last.row, COLLAPSE_ROW);
  assert_float_equal(al.last.C_vel, hist[COLLAPSE_ROW].C_vel, 0);
  assert_float_equal(al.last.div_max, hist[COLLAPSE_ROW].div_max, 0);
  assert_float_equal(al.last.C_threshold, 10, 0);
  assert_int_equal(al.last.on, FPF_TRIGGER_C_VEL);
  fpf_monitor_destroy(m);
}

/*
 * Latents of rank 30 in d = 512 with n = 100 < d: the KDE, the Fisher
 * matrix, the Kramers-Moyal D (rank <= 29) and every observable must be
 * finite, in both modes.
 */
static void test_rank_deficient(void **state) {
  (void)state;
  enum { N = 100, DIM = 512, R = 30 };
  double *B = malloc(R * DIM * sizeof *B), *U = malloc(N * R * sizeof *U);
  double *z = calloc(N * DIM, sizeof *z), *g = calloc(N * DIM, sizeof *g);
  assert_true(B && U && z && g);
  fpf_rng_normals(3, FPF_STREAM_USER, 0, 0, B, R * DIM);
  for (int mode = 0; mode < 2; mode++) {
    fpf_monitor_options o;
    fpf_monitor_options_init(&o);
    o.mode = mode ? FPF_MONITOR_TRAJECTORY : FPF_MONITOR_MODEL;
    fpf_monitor *m = make(N, DIM, &o);
    for (int k = 0; k < 3; k++) {
      /* z = U B and g = U' B: both in the same 30-dimensional span */
      fpf_rng_normals(3, FPF_STREAM_USER, (uint64_t)k + 1, 0, U, N * R);
      for (size_t i = 0; i < N; i++)
        for (size_t a = 0; a < DIM; a++) {
          double s = 0, t = 0;
          for (size_t r = 0; r < R; r++) {
            s += U[i * R + r] * B[r * DIM + a];
            t += U[i * R + (r + 1) % R] * B[r * DIM + a];
          }
          z[i * DIM + a] = 0.1 * (double)k + s / sqrt((double)R);
          g[i * DIM + a] = t;
        }
      fpf_metrics row;
      push_ok(m, 10 * k, z, g, NULL, &row);
      if (mode && k == 0) continue;
      /* C itself may overflow (rho ~ e^-800 here): log C may not. */
      double v[] = {row.h,      row.log_C,   row.C_vel,
                    row.S_dot,  row.H_kde,   row.H_knn,
                    row.T_eff,  row.mu_rms,  row.div_over_rho_max};
      printf("mode %d, snapshot %d: h %.3g, log C %.4g, C_vel %.4g, "
             "S_dot %.4g, H_kde %.4g, H_knn %.4g, max|div J|/rho %.3g\n",
             mode, k, row.h, row.log_C, row.C_vel, row.S_dot, row.H_kde,
             row.H_knn, row.div_over_rho_max);
      for (size_t j = 0; j < sizeof v / sizeof *v; j++)
        if (!isfinite(v[j]))
          fail_msg("mode %d, snapshot %d: value %zu is %g", mode, k, j,
                   v[j]);
      assert_true(row.C > 0 && row.C_vel > 0 && !isnan(row.div_max));
    }
    fpf_monitor_destroy(m);
  }
  free(B);
  free(U);
  free(z);
  free(g);
}

/* More than half of the pairs coincide: the median gives h = 0, Scott's
 * rule takes over and the results stay finite. */
static void test_bandwidth_fallback(void **state) {
  (void)state;
  enum { N = 10, DIM = 2 };
  double z[N * DIM] = {0}, g[N * DIM];
  z[2 * 8] = 1.0, z[2 * 9 + 1] = 2.0;
  for (size_t i = 0; i < N * DIM; i++) g[i] = 0.5 + 0.1 * (double)i;
  fpf_monitor *m = make(N, DIM, NULL);
  fpf_metrics row;
  push_ok(m, 0, z, g, NULL, &row);
  double h;
  fpf_error err;
  assert_int_equal(fpf_kde_bandwidth(z, N, DIM, FPF_BW_SCOTT, 0, &h, &err),
                   FPF_OK);
  assert_float_equal(row.h, h, 0);
  assert_true(isfinite(row.C_vel) && isfinite(row.S_dot));
  fpf_monitor_destroy(m);
}

/* The same series on 1 and 2 threads gives bit-identical histories. */
static void test_threads(void **state) {
  (void)state;
  fpf_metrics hist[2][CT];
  for (int t = 0; t < 2; t++) {
    fpf_set_threads(t + 1);
    fpf_monitor_options o;
    fpf_monitor_options_init(&o);
    o.mode = FPF_MONITOR_TRAJECTORY;
    fpf_monitor *m = make(CN, CD, &o);
    push_collapse_series(m, NULL);
    const fpf_metrics *h;
    assert_int_equal(fpf_monitor_history(m, &h), CT);
    memcpy(hist[t], h, sizeof hist[t]);
    fpf_monitor_destroy(m);
  }
  fpf_set_threads(1);
  assert_memory_equal(hist[0], hist[1], sizeof hist[0]);
}

/* Two identical snapshots: nothing moved, C is 0/0 (NaN), the rest is
 * finite and the monitor goes on. */
static void test_no_motion(void **state) {
  (void)state;
  enum { N = 20, DIM = 3 };
  double z[N * DIM];
  for (size_t i = 0; i < N * DIM; i++) z[i] = cos(1.7 * (double)i);
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.mode = FPF_MONITOR_TRAJECTORY;
  fpf_monitor *m = make(N, DIM, &o);
  fpf_metrics row;
  push_ok(m, 0, z, NULL, NULL, NULL);
  push_ok(m, 1, z, NULL, NULL, &row);
  assert_true(isnan(row.C) && isnan(row.C_vel));
  assert_float_equal(row.mu_rms, 0, 0);
  assert_float_equal(row.S_dot, 0, 0);
  assert_true(isfinite(row.H_kde) && isfinite(row.h));
  z[0] += 0.5;
  push_ok(m, 2, z, NULL, NULL, &row);
  assert_true(isfinite(row.C_vel) && row.C_vel > 0);
  size_t rows[3], nt;
  fpf_error err;
  assert_int_equal(fpf_monitor_transitions(m, rows, &nt, &err), FPF_OK);
  assert_int_equal(nt, 0);
  fpf_monitor_destroy(m);
}

/* ---- Bad input ------------------------------------------------------- */

static void expect_create_error(size_t n, size_t d,
                                const fpf_monitor_options *o,
                                const char *needle) {
  fpf_monitor *m = (fpf_monitor *)1;
  fpf_error err;
  fpf_error_clear(&err);
  assert_int_equal(fpf_monitor_create(&m, n, d, o, &err), FPF_EINVAL);
  assert_null(m);
  if (!strstr(err.msg, needle))
    fail_msg("no '%s' in: %s", needle, err.msg);
}

static void test_bad_options(void **state) {
  (void)state;
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  expect_create_error(1, 3, &o, "n = 1");
  o.eta = 0;
  expect_create_error(10, 3, &o, "eta = 0");
  fpf_monitor_options_init(&o);
  o.bandwidth_rule = FPF_BW_FIXED;
  o.bandwidth = -1;
  expect_create_error(10, 3, &o, "bandwidth = -1");
  fpf_monitor_options_init(&o);
  o.detect.window = 0;
  expect_create_error(10, 3, &o, "window = 0");
  fpf_monitor_options_init(&o);
  o.alert_div_threshold = NAN;
  expect_create_error(10, 3, &o, "alert_div_threshold = nan");
  fpf_monitor_options_init(&o);
  o.mode = (fpf_monitor_mode)7;
  expect_create_error(10, 3, &o, "mode = 7");
}

static void test_bad_snapshots(void **state) {
  (void)state;
  enum { N = 8, DIM = 2 };
  double z[N * DIM], g[N * DIM];
  for (size_t i = 0; i < N * DIM; i++) z[i] = sin((double)i), g[i] = z[i];
  fpf_monitor *m = make(N, DIM, NULL);
  fpf_error err;
  fpf_error_clear(&err);

  /* model mode without gradients */
  assert_int_equal(fpf_monitor_push(m, 1, z, NULL, NULL, NULL, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "gradients"));

  /* NaN: the step, the array and the position */
  z[2 * 5 + 1] = NAN;
  assert_int_equal(fpf_monitor_push(m, 3, z, g, NULL, NULL, &err),
                   FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "latents at step 3: NaN at row 5, "
                                  "column 1"));
  z[2 * 5 + 1] = 0.5;
  double loss[N] = {0};
  loss[6] = INFINITY;
  assert_int_equal(fpf_monitor_push(m, 3, z, g, loss, NULL, &err),
                   FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "loss at step 3: Inf at probe 6"));
  assert_int_equal(fpf_monitor_history(m, NULL), 0);

  /* a refused snapshot changes nothing; steps must increase */
  push_ok(m, 3, z, g, NULL, NULL);
  assert_int_equal(fpf_monitor_push(m, 3, z, g, NULL, NULL, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "step 3 after step 3"));
  assert_int_equal(fpf_monitor_history(m, NULL), 1);
  fpf_monitor_destroy(m);
  fpf_monitor_destroy(NULL);
}

/* Without any loss the plateau test is dropped; the first trajectory row
 * (NaN) is left out of the detection. */
static void test_transitions_without_loss(void **state) {
  (void)state;
  fpf_monitor_options o;
  fpf_monitor_options_init(&o);
  o.mode = FPF_MONITOR_TRAJECTORY;
  fpf_monitor *m = make(CN, CD, &o);
  push_collapse_series(m, NULL);
  size_t rows[CT], nt;
  fpf_error err;
  assert_int_equal(fpf_monitor_transitions(m, rows, &nt, &err), FPF_OK);
  assert_int_equal(nt, 1);
  assert_int_equal(rows[0], COLLAPSE_ROW);
  fpf_monitor_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kramers_moyal_ou),
      cmocka_unit_test(test_uneven_gaps_exact),
      cmocka_unit_test(test_model_mode),
      cmocka_unit_test(test_collapse_detected),
      cmocka_unit_test(test_rank_deficient),
      cmocka_unit_test(test_bandwidth_fallback),
      cmocka_unit_test(test_no_motion),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_bad_snapshots),
      cmocka_unit_test(test_transitions_without_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
