/*
 * fpflow verify, checks of the particle dynamics against exact answers:
 *   - an Ornstein-Uhlenbeck ensemble against its exact discrete-time
 *     (Euler-Maruyama, an AR(1) recursion) and continuous laws;
 *   - the positive-definiteness boundary of D = c (I + gamma F), found by
 *     bisection on fpf_dyn_step's Cholesky failure, against
 *     gamma = -1/lambda_max(F) and the source's Proposition 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/dyn.h"
#include "fpflow/flow.h"
#include "fpflow/landscape.h"
#include "fpflow/rng.h"
#include "verify.h"

/* Philox streams of the checks' own draws (rng.h leaves >= 16 to users). */
enum { STREAM_PD = FPF_STREAM_USER + 1 };

/* "Constant" schedules: tau = 1e12 moves eta and c by 1e-10 relative at
   t = 100, far below every tolerance here. */
#define CONSTANT_TAU 1e12

/* ---- Ornstein-Uhlenbeck ------------------------------------------------- */

/*
 * L = z^T A z / 2 in d = 2 with a non-diagonal A (eigenvalues 0.88 and
 * 3.12), eta = 1, c = 0.5, dt = 0.05, lambda = gamma = 0, all particles
 * starting at z0.  dt is large on purpose: along the stiff direction the
 * AR(1) stationary variance is 8% above the continuous one, which the
 * pooled ensemble resolves, so the check tells the two laws apart.
 */
static const double ou_A[4] = {1.0, 0.5, 0.5, 3.0};
static const double ou_z0[2] = {1.5, -1.0};
#define OU_ETA 1.0
#define OU_C 0.5
#define OU_DT 0.05
/* Particles per ensemble (the quick form's ensembles are smaller). */
#define OU_N 1000
#define OU_N_QUICK 500
#define OU_NT 3
static const long ou_steps[OU_NT] = {5, 20, 80}; /* t = 0.25, 1, 4 */
/* Tolerance in standard errors of the pooled sample. */
#define OU_NSE 4.0

static size_t ou_replicas(const vf_ctx *v) {
  return v->mode == VF_QUICK ? 8 : v->mode == VF_FULL ? 100 : 20;
}

static size_t ou_size(const vf_ctx *v) {
  return v->mode == VF_QUICK ? OU_N_QUICK : OU_N;
}

/* f(A) = Q diag(f(l)) Q^T for the symmetric 2 x 2 A (Jacobi rotation). */
static void sym2_apply(const double *A, double (*f)(double, double),
                       double arg, double *out) {
  double th = 0.5 * atan2(2 * A[1], A[0] - A[3]);
  double cs = cos(th), sn = sin(th);
  double l1 = A[0] * cs * cs + 2 * A[1] * sn * cs + A[3] * sn * sn;
  double l2 = A[0] * sn * sn - 2 * A[1] * sn * cs + A[3] * cs * cs;
  double f1 = f(l1, arg), f2 = f(l2, arg);
  out[0] = f1 * cs * cs + f2 * sn * sn;
  out[1] = out[2] = (f1 - f2) * sn * cs;
  out[3] = f1 * sn * sn + f2 * cs * cs;
}

static double f_decay(double l, double t) { return exp(-OU_ETA * l * t); }
static double f_var(double l, double t) {
  return OU_C / (OU_ETA * l) * (1 - exp(-2 * OU_ETA * l * t));
}

/* The exact laws at step k: mean m (2) and covariance S (2 x 2). */
static void ou_ar1(long k, double *m, double *S) {
  double M[4];
  for (int i = 0; i < 4; i++)
    M[i] = (i == 0 || i == 3) - OU_ETA * OU_DT * ou_A[i];
  m[0] = ou_z0[0], m[1] = ou_z0[1];
  S[0] = S[1] = S[2] = S[3] = 0;
  for (long s = 0; s < k; s++) {
    double a = M[0] * m[0] + M[1] * m[1], b = M[2] * m[0] + M[3] * m[1];
    m[0] = a, m[1] = b;
    double T[4], U[4];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        T[2 * i + j] = M[2 * i] * S[j] + M[2 * i + 1] * S[2 + j];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        U[2 * i + j] = T[2 * i] * M[2 * j] + T[2 * i + 1] * M[2 * j + 1];
    for (int i = 0; i < 4; i++)
      S[i] = U[i] + ((i == 0 || i == 3) ? 2 * OU_C * OU_DT : 0);
  }
}

static void ou_continuous(double t, double *m, double *S) {
  double E[4];
  sym2_apply(ou_A, f_decay, t, E);
  m[0] = E[0] * ou_z0[0] + E[1] * ou_z0[1];
  m[1] = E[2] * ou_z0[0] + E[3] * ou_z0[1];
  sym2_apply(ou_A, f_var, t, S);
}

/* Pooled sums of the ensembles at each time: z and z z^T (upper). */
typedef struct ou_sums {
  double s[OU_NT][2], ss[OU_NT][3];
  size_t n;
} ou_sums;

static fpf_status ou_run(vf_ctx *v, fpf_landscape *L, size_t n,
                         uint64_t seed, ou_sums *acc, fpf_error *err) {
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.eta0 = OU_ETA, o.D0 = OU_C, o.tau_eta = o.tau_D = CONSTANT_TAU;
  o.lambda = 0, o.gamma = 0, o.dt = OU_DT, o.resets = 0, o.knn_k = 0;
  o.seed = seed;
  double *z0 = malloc(2 * n * sizeof *z0);
  if (!z0) return fpf_error_set(err, FPF_ENOMEM, "OU: no memory");
  for (size_t i = 0; i < n; i++)
    z0[2 * i] = ou_z0[0], z0[2 * i + 1] = ou_z0[1];
  fpf_dyn *dy = NULL;
  vf_threads(v, n);
  fpf_status st = fpf_dyn_create(&dy, L, n, z0, &o, err);
  free(z0);
  long done = 0;
  for (int k = 0; !st && k < OU_NT; k++) {
    while (!st && done < ou_steps[k]) {
      st = fpf_dyn_step(dy, NULL, err);
      done++;
      vf_work(v, vf_kde_units(n, 1));
    }
    if (st) break;
    const double *z = fpf_dyn_particles(dy);
    for (size_t i = 0; i < n; i++) {
      double a = z[2 * i], b = z[2 * i + 1];
      acc->s[k][0] += a, acc->s[k][1] += b;
      acc->ss[k][0] += a * a, acc->ss[k][1] += a * b, acc->ss[k][2] += b * b;
    }
  }
  if (!st) acc->n += n;
  fpf_dyn_destroy(dy);
  return st;
}

/* Largest |measured - expected| / scale over the entries. */
static double max_z(const double *x, const double *e, const double *se,
                    int n) {
  double z = 0;
  for (int i = 0; i < n; i++) z = fmax(z, fabs(x[i] - e[i]) / se[i]);
  return z;
}

static int within(const double *x, const double *e, const double *tol,
                  int n) {
  for (int i = 0; i < n; i++)
    if (!(fabs(x[i] - e[i]) <= tol[i])) return 0;
  return 1;
}

/* One row: the mean (cov = 0) or the covariance (cov = 1) at time k. */
static void ou_row(vf_ctx *v, const ou_sums *a, int k, int cov) {
  double N = (double)a->n, t = (double)ou_steps[k] * OU_DT;
  double mA[2], SA[4], mC[2], SC[4];
  ou_ar1(ou_steps[k], mA, SA);
  ou_continuous(t, mC, SC);
  double x[3], eA[3], eC[3], se[3], tA[3], tC[3];
  int n = cov ? 3 : 2;
  double m[2] = {a->s[k][0] / N, a->s[k][1] / N};
  if (!cov) {
    for (int i = 0; i < 2; i++) {
      x[i] = m[i], eA[i] = mA[i], eC[i] = mC[i];
      se[i] = sqrt(SA[3 * i] / N);
    }
  } else {
    /* S11, S12, S22 with the unbiased 1/(N - 1) normalisation */
    static const int ij[3][2] = {{0, 0}, {0, 1}, {1, 1}};
    for (int q = 0; q < 3; q++) {
      int i = ij[q][0], j = ij[q][1];
      x[q] = (a->ss[k][q] - N * m[i] * m[j]) / (N - 1);
      eA[q] = SA[2 * i + j], eC[q] = SC[2 * i + j];
      se[q] = sqrt((SA[3 * i] * SA[3 * j] + SA[2 * i + j] * SA[2 * i + j]) /
                   N);
    }
  }
  for (int i = 0; i < n; i++) {
    tA[i] = OU_NSE * se[i];
    tC[i] = tA[i] + fabs(eA[i] - eC[i]);
  }
  vf_row *r = vf_row_new(v, "OU ensemble, t = %g: %s", t,
                         cov ? "covariance (S11, S12, S22)" : "mean");
  if (!r) return;
  snprintf(r->measured, sizeof r->measured, "(");
  vf_fmt_vec(r->measured, sizeof r->measured, x, (size_t)n, 5);
  size_t len = strlen(r->measured);
  snprintf(r->measured + len, sizeof r->measured - len,
           "); %.2g SE from AR(1), %.2g SE from continuous",
           max_z(x, eA, se, n), max_z(x, eC, se, n));
  snprintf(r->expected, sizeof r->expected, "AR(1) (");
  vf_fmt_vec(r->expected, sizeof r->expected, eA, (size_t)n, 5);
  len = strlen(r->expected);
  snprintf(r->expected + len, sizeof r->expected - len, "); continuous (");
  vf_fmt_vec(r->expected, sizeof r->expected, eC, (size_t)n, 5);
  len = strlen(r->expected);
  snprintf(r->expected + len, sizeof r->expected - len, ")");
  snprintf(r->tolerance, sizeof r->tolerance, "AR(1): 4 SE = ");
  vf_fmt_vec(r->tolerance, sizeof r->tolerance, tA, (size_t)n, 2);
  len = strlen(r->tolerance);
  snprintf(r->tolerance + len, sizeof r->tolerance - len,
           "; continuous: 4 SE + bias");
  r->verdict = within(x, eA, tA, n) && within(x, eC, tC, n) ? VF_PASS
                                                              : VF_FAIL;
  vf_row_show(v, r);
}

double vf_check_ou(vf_ctx *v, int estimate) {
  size_t R = ou_replicas(v), n = ou_size(v);
  if (estimate) return (double)R * vf_kde_units(n, ou_steps[OU_NT - 1]);
  fpf_error err;
  fpf_error_clear(&err);
  fpf_landscape *L = NULL;
  ou_sums acc;
  memset(&acc, 0, sizeof acc);
  fpf_status st = fpf_landscape_quadratic(&L, 2, NULL, ou_A, &err);
  for (size_t r = 0; !st && r < R; r++)
    st = ou_run(v, L, n, 1000 + r, &acc, &err);
  fpf_landscape_destroy(L);
  if (st) {
    vf_row_error(v, "OU ensemble", &err);
    return 0;
  }
  for (int k = 0; k < OU_NT; k++) {
    ou_row(v, &acc, k, 0);
    ou_row(v, &acc, k, 1);
  }

  /* The stiff direction's stationary variance, AR(1) against continuous. */
  double th = 0.5 * atan2(2 * ou_A[1], ou_A[0] - ou_A[3]);
  double cs = cos(th), sn = sin(th);
  double l1 = ou_A[0] * cs * cs + 2 * ou_A[1] * sn * cs + ou_A[3] * sn * sn;
  double l2 = ou_A[0] * sn * sn - 2 * ou_A[1] * sn * cs + ou_A[3] * cs * cs;
  double lst = fmax(l1, l2), a = 1 - OU_ETA * OU_DT * lst;
  double v_ar = 2 * OU_C * OU_DT / (1 - a * a), v_ct = OU_C / (OU_ETA * lst);
  vf_say(v,
         "### Ornstein-Uhlenbeck ensemble (fpflow's own correctness)\n\n"
         "Settings: L = z^T A z / 2 in d = 2 with A = [[1, 0.5], [0.5, 3]] "
         "(eigenvalues %.4g and %.4g), eta = %g and c = %g held constant "
         "(tau_eta = tau_D = 1e12), lambda = 0, gamma = 0, no resets, "
         "dt = %g, every particle starting at z0 = (%g, %g). %zu ensembles "
         "of %zu particles (seeds 1000 to %zu) are pooled: with lambda = 0 "
         "and gamma = 0 the particles do not interact, so the pooled %zu "
         "are independent draws of the law, and separate ensembles keep "
         "the O(N^2) KDE that every step computes for its metrics "
         "cheap.\n\n"
         "Expected: the Euler-Maruyama recursion is exactly the AR(1) "
         "process z_{k+1} = (I - eta dt A) z_k + sqrt(2 c dt) xi_k, whose "
         "mean and covariance follow m_{k+1} = M m_k, S_{k+1} = M S_k M^T "
         "+ 2 c dt I (M = I - eta dt A, S_0 = 0). The continuous law is "
         "m(t) = exp(-eta A t) z0, S(t) = c (eta A)^-1 (I - exp(-2 eta A "
         "t)). Tolerance: 4 standard errors of the pooled sample "
         "(sqrt(S_ii / N) for a mean, sqrt((S_ii S_jj + S_ij^2) / N) for a "
         "covariance entry, from the AR(1) law); against the continuous "
         "law the difference between the two laws (the Euler-Maruyama "
         "bias of this dt) is added. dt = %g is large on purpose: along "
         "the stiff direction the AR(1) stationary variance is %.4g, "
         "%.1f%% above the continuous %.4g, and the pooled sample resolves "
         "that.\n\n",
         fmin(l1, l2), lst, OU_ETA, OU_C, OU_DT, ou_z0[0], ou_z0[1], R,
         n, 1000 + R - 1, acc.n, OU_DT, v_ar, 100 * (v_ar / v_ct - 1),
         v_ct);
  int nfail = 0;
  for (size_t i = 0; i < v->nrows; i++)
    if (!strncmp(v->rows[i].check, "OU ensemble", 11))
      nfail += v->rows[i].verdict == VF_FAIL;
  double mA[2], SA[4], mC[2], SC[4];
  ou_ar1(ou_steps[OU_NT - 1], mA, SA);
  ou_continuous((double)ou_steps[OU_NT - 1] * OU_DT, mC, SC);
  double N = (double)acc.n, k = OU_NT - 1;
  double s22 = (acc.ss[OU_NT - 1][2] - acc.s[OU_NT - 1][1] *
                                           acc.s[OU_NT - 1][1] / N) /
               (N - 1);
  vf_say(v,
         "Result: %s. At t = %g the measured S22 is %.5g; the AR(1) law "
         "gives %.5g (%.2g standard errors away) and the continuous law "
         "%.5g (%.2g standard errors away)%s\n\n",
         nfail ? "FAIL: see the rows above" : "every moment at every time "
                                              "is within tolerance",
         (double)ou_steps[(int)k] * OU_DT, s22, SA[3],
         fabs(s22 - SA[3]) / sqrt(2 * SA[3] * SA[3] / N), SC[3],
         fabs(s22 - SC[3]) / sqrt(2 * SA[3] * SA[3] / N),
         nfail ? "." : ": the ensemble follows the discrete-time law that "
                       "Euler-Maruyama defines, as it must.");
  return 0;
}

/* ---- Proposition 2: the positive-definiteness boundary ----------------- */

typedef struct pd_case {
  const char *name;
  size_t d, n;
  double *z;   /* n x d particles */
  double lmax; /* lambda_max(F) of these particles */
  /* results: the boundary check passed; D is PD at -2, 2, 100 / lmax */
  int pass, s_neg, s_pos, s_big;
} pd_case;

/* Whether one step with this gamma succeeds (1), hits a D that is not
   positive definite (0), or fails otherwise (-1, err says why). */
static int pd_try(fpf_landscape *L, const pd_case *c, double gamma,
                  fpf_error *err) {
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.gamma = gamma, o.lambda = 0, o.resets = 0, o.knn_k = 0, o.D0 = 1;
  fpf_dyn *dy = NULL;
  fpf_error e;
  fpf_status st = fpf_dyn_create(&dy, L, c->n, c->z, &o, err);
  if (st) return -1;
  st = fpf_dyn_step(dy, NULL, &e);
  fpf_dyn_destroy(dy);
  if (!st) return 1;
  if (st == FPF_ENOTPD) return 0;
  *err = e;
  return -1;
}

/* F = (1/n) sum_i grad L_i grad L_i^T and its largest eigenvalue. */
static fpf_status pd_lmax(fpf_landscape *L, pd_case *c, fpf_error *err) {
  size_t n = c->n, d = c->d;
  double *g = malloc((n * d + d * d) * sizeof *g);
  if (!g) return fpf_error_set(err, FPF_ENOMEM, "PD check: no memory");
  double *F = g + n * d;
  fpf_status st = fpf_landscape_eval(L, n, c->z, NULL, g, err);
  if (!st) {
    memset(F, 0, d * d * sizeof *F);
    for (size_t i = 0; i < n; i++)
      for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++)
          F[a * d + b] += g[i * d + a] * g[i * d + b] / (double)n;
    st = fpf_sym_max_eigenvalue(F, d, &c->lmax, err);
  }
  free(g);
  return st;
}

/* Bisection to the relative width 1e-14: lo fails, hi succeeds. */
#define PD_ITER 60
#define PD_REL_TOL 1e-9

static int pd_case_run(vf_ctx *v, fpf_landscape *L, pd_case *c) {
  fpf_error err;
  fpf_error_clear(&err);
  if (pd_lmax(L, c, &err)) {
    vf_row_error(v, "Proposition 2", &err);
    return 1;
  }
  double expect = -1 / c->lmax, lo = 4 * expect, hi = 0;
  int a = pd_try(L, c, lo, &err), b = pd_try(L, c, hi, &err);
  if (a < 0 || b < 0) {
    vf_row_error(v, "Proposition 2", &err);
    return 1;
  }
  for (int it = 0; a == 0 && b == 1 && it < PD_ITER; it++) {
    double mid = 0.5 * (lo + hi);
    int m = pd_try(L, c, mid, &err);
    if (m < 0) {
      vf_row_error(v, "Proposition 2", &err);
      return 1;
    }
    if (m) hi = mid;
    else lo = mid;
    vf_work(v, vf_kde_units(c->n, 1));
  }
  /* the source's statement, gamma < 1/lambda_max: a gamma that meets it
     (-2/lambda_max) and gammas that do not (2 and 100 / lambda_max) */
  int s_neg = pd_try(L, c, -2 / c->lmax, &err);
  int s_pos = pd_try(L, c, 2 / c->lmax, &err);
  int s_big = pd_try(L, c, 100 / c->lmax, &err);
  if (s_neg < 0 || s_pos < 0 || s_big < 0) {
    vf_row_error(v, "Proposition 2", &err);
    return 1;
  }
  c->s_neg = s_neg, c->s_pos = s_pos, c->s_big = s_big;
  double found = 0.5 * (lo + hi), rel = fabs(found - expect) / fabs(expect);
  vf_row *r = vf_row_new(v, "PD boundary of D, %s", c->name);
  if (r) {
    snprintf(r->measured, sizeof r->measured,
             "Cholesky fails below gamma = %.15g (bisection, %d steps)",
             found, PD_ITER);
    snprintf(r->expected, sizeof r->expected,
             "-1/lambda_max(F) = %.15g (lambda_max(F) = %.6g)", expect,
             c->lmax);
    snprintf(r->tolerance, sizeof r->tolerance,
             "relative %g (measured %.2g)", PD_REL_TOL, rel);
    c->pass = a == 0 && b == 1 && rel <= PD_REL_TOL;
    r->verdict = c->pass ? VF_PASS : VF_FAIL;
    vf_row_show(v, r);
  }
  r = vf_row_new(v, "Source Proposition 2, %s", c->name);
  if (r) {
    snprintf(r->measured, sizeof r->measured,
             "D is %s at gamma = -2/lambda_max = %.4g (meets the condition); "
             "D is %s at 2/lambda_max and %s at 100/lambda_max (violate "
             "it); boundary at %.6g",
             s_neg ? "PD" : "NOT PD", -2 / c->lmax, s_pos ? "PD" : "NOT PD",
             s_big ? "PD" : "NOT PD", found);
    snprintf(r->expected, sizeof r->expected,
             "D is PD for gamma < 1/lambda_max(F) = %.6g", 1 / c->lmax);
    r->verdict = s_neg ? VF_HOLDS : VF_NOT_HOLD;
    vf_row_show(v, r);
  }
  vf_say(v,
         "- %s, N = %zu: lambda_max(F) = %.6g. fpf_dyn_step's Cholesky "
         "factorisation fails below gamma = %.15g, %.2g relative from "
         "-1/lambda_max(F) = %.15g. At gamma = -2/lambda_max(F), which "
         "satisfies the source's condition, D is %s; at gamma = "
         "+2/lambda_max(F) and +100/lambda_max(F), which violate it, D is "
         "%s.\n",
         c->name, c->n, c->lmax, found, rel, expect,
         s_neg ? "positive definite" : "not positive definite",
         s_pos && s_big ? "positive definite at both"
         : s_pos       ? "positive definite only at the first"
         : s_big       ? "positive definite only at the second"
                       : "positive definite at neither");
  return 0;
}

static void pd_summary(vf_ctx *v, const pd_case *a, const pd_case *b) {
  int pass = a->pass && b->pass;
  int refuted = !a->s_neg || !b->s_neg;
  int open_top = a->s_pos && a->s_big && b->s_pos && b->s_big;
  vf_say(v, "\nResult: %s",
         pass ? "in both cases the measured boundary is -1/lambda_max(F), "
                "as fpflow documents. "
              : "FAIL: the measured boundary is not -1/lambda_max(F) in "
                "every case (see the rows). ");
  if (refuted)
    vf_say(v, "The source's condition gamma < 1/lambda_max(F) does not "
              "hold as stated: it admits gamma <= -1/lambda_max(F), where "
              "D is not positive definite%s The statement that holds is "
              "gamma > -1/lambda_max(F).\n\n",
           open_top ? ", and the bound it names, +1/lambda_max(F), is no "
                      "boundary at all: D stays positive definite above "
                      "it (every gamma >= 0 gives a positive definite D)."
                    : ".");
  else
    vf_say(v, "The source's condition held at every gamma tried.\n\n");
}

#define PD_N2 200
#define PD_N4 100

double vf_check_pd(vf_ctx *v, int estimate) {
  if (estimate)
    return PD_ITER * (vf_kde_units(PD_N2, 1) + vf_kde_units(PD_N4, 1));
  vf_say(v,
         "### Proposition 2: the positive-definiteness boundary in gamma\n\n"
         "D = c (I + gamma F) has the eigenvalues c (1 + gamma mu_k), mu_k "
         ">= 0 the eigenvalues of F, so it is positive definite exactly "
         "when gamma > -1/lambda_max(F) (every gamma >= 0 qualifies). The "
         "source states the condition as gamma < 1/lambda_max(F). "
         "Settings: c = D0 = 1, lambda = 0, a fixed ensemble; for each "
         "gamma a fresh fpf_dyn takes one step, and FPF_ENOTPD marks a D "
         "that is not positive definite. The boundary is bisected between "
         "-4/lambda_max (fails) and 0 (succeeds) in %d steps, to a "
         "relative width of 1e-14; lambda_max(F) is computed "
         "independently from the landscape's gradients. Tolerance: "
         "relative %g (the Cholesky factorisation of a nearly singular "
         "matrix decides within a few rounding errors of the true "
         "boundary).\n\n",
         PD_ITER, PD_REL_TOL);
  fpf_error err;
  fpf_error_clear(&err);
  vf_threads(v, PD_N2);
  fpf_landscape *L2 = NULL, *L4 = NULL;
  static const double A4[16] = {2, 0.5, 0, 0, 0.5, 1, 0.3, 0,
                                0, 0.3, 3, 0.2, 0, 0, 0.2, 0.5};
  pd_case c2 = {.name = "two wells (d = 2)", .d = 2, .n = PD_N2};
  pd_case c4 = {.name = "quadratic (d = 4)", .d = 4, .n = PD_N4};
  c2.z = malloc(PD_N2 * 2 * sizeof *c2.z);
  c4.z = malloc(PD_N4 * 4 * sizeof *c4.z);
  fpf_status st = !c2.z || !c4.z
                      ? fpf_error_set(&err, FPF_ENOMEM, "PD check: no memory")
                      : FPF_OK;
  if (!st) st = fpf_landscape_two_wells(&L2, &err);
  if (!st) st = fpf_landscape_quadratic(&L4, 4, NULL, A4, &err);
  if (st) {
    vf_row_error(v, "Proposition 2", &err);
  } else {
    /* two wells: N((0, 0.5), 1.5^2 I); quadratic: N(0.5, 1) */
    for (size_t i = 0; i < PD_N2; i++) {
      fpf_rng_normals(7, STREAM_PD, 0, i, c2.z + 2 * i, 2);
      c2.z[2 * i] *= 1.5;
      c2.z[2 * i + 1] = 0.5 + 1.5 * c2.z[2 * i + 1];
    }
    for (size_t i = 0; i < PD_N4; i++) {
      fpf_rng_normals(7, STREAM_PD, 1, i, c4.z + 4 * i, 4);
      for (int k = 0; k < 4; k++) c4.z[4 * i + k] += 0.5;
    }
    pd_case_run(v, L2, &c2);
    pd_case_run(v, L4, &c4);
  }
  if (!st) pd_summary(v, &c2, &c4);
  fpf_landscape_destroy(L2);
  fpf_landscape_destroy(L4);
  free(c2.z);
  free(c4.z);
  return 0;
}
