/*
 * The stationary law rho* = exp(-beta L) / Z (transport.h): a reference
 * sample of it, log Z, and KL(rho_t || rho*).
 *
 * Exact draws: for L = (z - m)^T A (z - m) / 2, rho* = N(m, (beta A)^-1),
 * drawn as m + beta^-1/2 L_A^-T xi with A = L_A L_A^T; for the mixture
 * L = -log sum_k p_k exp(-|z - m_k|^2 / (2 s_k^2)) at beta = 1, rho* is
 * the Gaussian mixture with weights p_k (2 pi s_k^2)^(d/2) (normalised),
 * means m_k and covariances s_k^2 I.
 *
 * Otherwise MALA (Roberts & Tweedie 1996) with `chains` chains advanced
 * together, so that the landscape is evaluated on batches.  Every random
 * number is Philox-indexed by (seed, step, chain): the sample does not
 * depend on the number of threads.
 */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/flow.h"
#include "fpflow/kde.h"
#include "fpflow/rng.h"
#include "fpflow/transport.h"
#include "internal.h"

/* Gain of the step-size recursion at burn-in step t: (1 + t)^-0.6, which
 * moves log tau by ~15 in the first 100 steps when the acceptance is far
 * off, and by ~1e-3 per step after 1000. */
#define ADAPT_POWER 0.6
/* Grid rule: the edges of the quadrature box must be e^-40 below the
 * peak, and two successive grids must agree to this. */
#define EDGE_DROP 40.0
#define QUAD_TOL 1e-10

static const char *const gibbs_names[] = {"gaussian", "mixture", "mala"};

const char *fpf_gibbs_method_name(fpf_gibbs_method m) {
  if ((int)m < 0 || m > FPF_GIBBS_MALA) return NULL;
  return gibbs_names[m];
}

void fpf_gibbs_options_init(fpf_gibbs_options *o) {
  memset(o, 0, sizeof *o);
  o->n = 1000;
  o->chains = 32;
  o->burn_in = 1000;
  o->burn_in_warm = 200;
  o->thin = 10;
  o->target_accept = 0.574;
  o->step = 0;
  o->force_mala = 0;
  o->init = NULL;
  o->n_init = 0;
  o->seed = 0;
}

struct fpf_gibbs {
  fpf_gibbs_options o;
  fpf_landscape *L;
  size_t d, M;
  double *pts;                /* n x d, the sample */
  /* exact quadratic: m, lower Cholesky factor of A, log det A */
  const double *qm;
  double *LA, logdetA;
  /* MALA: chain states, L and grad L there, proposals */
  double *X, *LX, *GX, *Y, *LY, *GY, *xi;
  double tau, beta_prev;
  long t;                     /* steps taken: the Philox step index */
  long accepted, proposed, acc_last, prop_last;
  int started;
  fpf_gibbs_info info;
};

/* Cholesky of the quadratic's A (lower); FPF_ENOTPD when it fails. */
static fpf_status factor_quadratic(fpf_landscape *L, const double **m,
                                   double **LA, double *logdet,
                                   fpf_error *err) {
  const double *A;
  size_t d = fpf_landscape_dim(L);
  fpf_landscape_quadratic_params(L, m, &A);
  *LA = fpf_dalloc(d * d);
  if (!*LA) return fpf_error_set(err, FPF_ENOMEM, "Gibbs: out of memory");
  memcpy(*LA, A, d * d * sizeof **LA);
  fpf_blas_single_thread();
  lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, *LA,
                                   (lapack_int)d);
  if (info != 0)
    return fpf_error_set(err, FPF_ENOTPD,
                         "quadratic landscape: A is not positive definite "
                         "(Cholesky fails at column %d, A[%d][%d] = %g), so "
                         "exp(-beta L) has no normalisable law", (int)info,
                         (int)info - 1, (int)info - 1,
                         A[(size_t)(info - 1) * (d + 1)]);
  double s = 0;
  for (size_t k = 0; k < d; k++) {
    for (size_t j = k + 1; j < d; j++) (*LA)[k * d + j] = 0;
    s += 2.0 * log((*LA)[k * d + k]);
  }
  *logdet = s;
  return FPF_OK;
}

static fpf_status check_options(const fpf_gibbs_options *o, size_t d,
                                fpf_error *err) {
  if (o->n < 1 || o->chains < 1 || o->burn_in < 0 || o->burn_in_warm < 0 ||
      o->thin < 1)
    return fpf_error_set(err, FPF_EINVAL,
                         "Gibbs sampler: n = %zu, chains = %zu and thin = %ld "
                         "must be >= 1, burn_in = %ld and burn_in_warm = %ld "
                         ">= 0", o->n, o->chains, o->thin, o->burn_in,
                         o->burn_in_warm);
  if (!(o->target_accept > 0 && o->target_accept < 1) ||
      !(o->step >= 0) || !isfinite(o->step))
    return fpf_error_set(err, FPF_EINVAL,
                         "Gibbs sampler: target_accept = %g must be in (0, 1) "
                         "and step = %g >= 0", o->target_accept, o->step);
  if (o->init && o->n_init == 0)
    return fpf_error_set(err, FPF_EINVAL, "Gibbs sampler: init given with "
                         "n_init = 0");
  size_t row, col;
  if (o->init && fpf_find_nonfinite(o->init, o->n_init, d, &row, &col) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "Gibbs sampler: starting point %zu has a non-finite "
                         "coordinate %zu", row, col);
  return FPF_OK;
}

fpf_status fpf_gibbs_create(fpf_gibbs **out, fpf_landscape *L,
                            const fpf_gibbs_options *o, fpf_error *err) {
  *out = NULL;
  fpf_gibbs_options def;
  if (!o) {
    fpf_gibbs_options_init(&def);
    o = &def;
  }
  size_t d = fpf_landscape_dim(L);
  fpf_status st = check_options(o, d, err);
  if (st) return st;
  fpf_gibbs *g = calloc(1, sizeof *g);
  if (!g) return fpf_error_set(err, FPF_ENOMEM, "Gibbs: out of memory");
  g->o = *o;
  g->L = L;
  g->d = d;
  g->M = o->chains < o->n ? o->chains : o->n;
  size_t M = g->M, Md = M * d;
  g->pts = fpf_dalloc(fpf_mul_size(o->n, d));
  g->X = fpf_dalloc(Md);
  g->GX = fpf_dalloc(Md);
  g->Y = fpf_dalloc(Md);
  g->GY = fpf_dalloc(Md);
  g->LX = fpf_dalloc(M);
  g->LY = fpf_dalloc(M);
  g->xi = fpf_dalloc(2 * d);
  g->o.init = NULL;
  if (!g->pts || !g->X || !g->GX || !g->Y || !g->GY || !g->LX || !g->LY ||
      !g->xi) {
    fpf_gibbs_destroy(g);
    return fpf_error_set(err, FPF_ENOMEM, "Gibbs: out of memory (n = %zu, "
                         "d = %zu)", o->n, d);
  }
  /* the chains' starting points: given ones cycled, or N(0, I) */
  for (size_t c = 0; c < M; c++) {
    if (o->init)
      memcpy(g->X + c * d, o->init + (c % o->n_init) * d, d * sizeof(double));
    else
      fpf_rng_normals(o->seed, FPF_STREAM_GIBBS, 0, c, g->X + c * d, d);
  }
  if (!strcmp(fpf_landscape_name(L), "quadratic") &&
      (st = factor_quadratic(L, &g->qm, &g->LA, &g->logdetA, err))) {
    fpf_gibbs_destroy(g);
    return st;
  }
  g->info.method = FPF_GIBBS_MALA;
  g->info.acceptance = g->info.acceptance_last = NAN;
  g->info.step = NAN;
  *out = g;
  return FPF_OK;
}

void fpf_gibbs_destroy(fpf_gibbs *g) {
  if (!g) return;
  fpf_dfree(g->pts);
  fpf_dfree(g->LA);
  fpf_dfree(g->X);
  fpf_dfree(g->LX);
  fpf_dfree(g->GX);
  fpf_dfree(g->Y);
  fpf_dfree(g->LY);
  fpf_dfree(g->GY);
  fpf_dfree(g->xi);
  free(g);
}

const double *fpf_gibbs_points(const fpf_gibbs *g) { return g->pts; }
size_t fpf_gibbs_size(const fpf_gibbs *g) { return g->o.n; }
void fpf_gibbs_get_info(const fpf_gibbs *g, fpf_gibbs_info *info) {
  *info = g->info;
}

/* ---- exact draws --------------------------------------------------------- */

static void draw_gaussian(fpf_gibbs *g, double beta) {
  size_t d = g->d;
  double s = 1.0 / sqrt(beta);
  for (size_t i = 0; i < g->o.n; i++) {
    double *x = g->pts + i * d;
    fpf_rng_normals(g->o.seed, FPF_STREAM_GIBBS, 1, i, x, d);
    /* x = L_A^-T xi has covariance A^-1 */
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)d,
                g->LA, (int)d, x, 1);
    for (size_t k = 0; k < d; k++) x[k] = g->qm[k] + s * x[k];
  }
}

/* log of the component weights p_k (2 pi s_k^2)^(d/2), unnormalised. */
static void mixture_log_weights(size_t K, size_t d, const double *w,
                                const double *p, double *lq) {
  for (size_t k = 0; k < K; k++)
    lq[k] = log(p[k]) + 0.5 * (double)d * (FPF_LOG2PI + 2.0 * log(w[k]));
}

static fpf_status draw_mixture(fpf_gibbs *g, fpf_error *err) {
  size_t d = g->d, K;
  const double *means, *widths, *weights;
  fpf_landscape_mixture_params(g->L, &K, &means, &widths, &weights);
  double *cum = fpf_dalloc(K);
  if (!cum) return fpf_error_set(err, FPF_ENOMEM, "Gibbs: out of memory");
  mixture_log_weights(K, d, widths, weights, cum);
  double lz = fpf_logsumexp(cum, K), acc = 0;
  for (size_t k = 0; k < K; k++) cum[k] = (acc += exp(cum[k] - lz));
  for (size_t i = 0; i < g->o.n; i++) {
    double u, *x = g->pts + i * d;
    fpf_rng_uniforms(g->o.seed, FPF_STREAM_GIBBS_U, 1, i, &u, 1);
    size_t k = 0;
    while (k + 1 < K && u > cum[k]) k++;
    fpf_rng_normals(g->o.seed, FPF_STREAM_GIBBS, 1, i, x, d);
    for (size_t c = 0; c < d; c++)
      x[c] = means[k * d + c] + widths[k] * x[c];
  }
  fpf_dfree(cum);
  return FPF_OK;
}

/* ---- MALA ------------------------------------------------------------- */

/*
 * L and grad L at the M points Y.  A non-finite value fails the batch;
 * the points are then evaluated one by one and those that fail get
 * L = +inf, so that their proposals are rejected.
 */
static fpf_status eval_proposals(fpf_gibbs *g, const double *Y, double *LY,
                                 double *GY, fpf_error *err) {
  size_t d = g->d;
  fpf_status st = fpf_landscape_eval(g->L, g->M, Y, LY, GY, err);
  if (st != FPF_ENONFINITE) return st;
  for (size_t c = 0; c < g->M; c++) {
    st = fpf_landscape_eval(g->L, 1, Y + c * d, LY + c, GY + c * d, NULL);
    if (st == FPF_ENONFINITE) LY[c] = INFINITY;
    else if (st) return fpf_landscape_eval(g->L, 1, Y + c * d, LY + c,
                                           GY + c * d, err);
  }
  fpf_error_clear(err);
  return FPF_OK;
}

/*
 * The Langevin drift -tau beta grad L, capped in length at c, the typical
 * length sqrt(2 tau d) of the noise (MALTA, Roberts & Tweedie 1996,
 * Bernoulli 2(4)).  The proposal stays exactly corrected by the
 * Metropolis-Hastings ratio; the cap binds mostly far out, where the
 * gradient is steep, and there it lets a chain move in instead of
 * proposing points so far away that it never accepts (measured: a chain
 * started at z = -2.1 on L = (z^2 - 1)^2 + 0.3 z froze at tau = 0.12
 * without it, and E z^2 came out 12% high).
 */
static void drift(const double *grad, size_t d, double tau_beta, double c,
                  double *out) {
  double s = 0;
  for (size_t k = 0; k < d; k++) s += grad[k] * grad[k];
  double len = tau_beta * sqrt(s), f = len > c ? c / len : 1.0;
  for (size_t k = 0; k < d; k++) out[k] = -tau_beta * f * grad[k];
}

/*
 * One step of every chain at inverse temperature beta, step tau:
 * y = x + m(x) + sqrt(2 tau) xi with m the capped drift, accepted when
 * log u < -beta (L(y) - L(x)) + log q(x | y) - log q(y | x),
 * log q(y | x) = -|y - x - m(x)|^2 / (4 tau).
 * *mean_acc gets the mean acceptance probability, *nacc the accepted.
 */
static fpf_status mala_step(fpf_gibbs *g, double beta, double *mean_acc,
                            long *nacc, fpf_error *err) {
  size_t d = g->d, M = g->M;
  double tau = g->tau, sq = sqrt(2.0 * tau), cap = sqrt(2.0 * tau * d);
  double *m = g->xi + d;
  for (size_t c = 0; c < M; c++) {
    fpf_rng_normals(g->o.seed, FPF_STREAM_GIBBS, 2 + (uint64_t)g->t, c, g->xi,
                    d);
    drift(g->GX + c * d, d, tau * beta, cap, m);
    for (size_t k = 0; k < d; k++)
      g->Y[c * d + k] = g->X[c * d + k] + m[k] + sq * g->xi[k];
  }
  fpf_status st = eval_proposals(g, g->Y, g->LY, g->GY, err);
  if (st) return st;
  double asum = 0;
  long acc = 0;
  for (size_t c = 0; c < M; c++) {
    const double *x = g->X + c * d, *y = g->Y + c * d;
    double fwd = 0, bwd = 0, u;
    drift(g->GX + c * d, d, tau * beta, cap, m);
    for (size_t k = 0; k < d; k++) fwd += pow(y[k] - x[k] - m[k], 2);
    drift(g->GY + c * d, d, tau * beta, cap, m);
    for (size_t k = 0; k < d; k++) bwd += pow(x[k] - y[k] - m[k], 2);
    double la = -beta * (g->LY[c] - g->LX[c]) + (fwd - bwd) / (4.0 * tau);
    if (!(la == la)) la = -INFINITY;
    asum += la >= 0 ? 1.0 : exp(la);
    fpf_rng_uniforms(g->o.seed, FPF_STREAM_GIBBS_U, 2 + (uint64_t)g->t, c, &u,
                     1);
    if (log(u) < la) {
      memcpy(g->X + c * d, y, d * sizeof(double));
      memcpy(g->GX + c * d, g->GY + c * d, d * sizeof(double));
      g->LX[c] = g->LY[c];
      acc++;
    }
  }
  g->t++;
  *mean_acc = asum / (double)M;
  *nacc = acc;
  return FPF_OK;
}

static fpf_status mala(fpf_gibbs *g, double beta, fpf_error *err) {
  size_t d = g->d, M = g->M, n = g->o.n;
  fpf_status st = fpf_landscape_eval(g->L, M, g->X, g->LX, g->GX, err);
  if (st) {
    fpf_error_prefix(err, "Gibbs sampler, at the chains' %s points: ",
                     g->started ? "current" : "starting");
    return st;
  }
  /* the step: given, or 0.1 / beta, or carried over with beta's ratio */
  long burn = g->o.burn_in;
  if (!g->started) g->tau = g->o.step > 0 ? g->o.step : 0.1 / beta;
  else {
    g->tau *= g->beta_prev / beta;
    burn = g->o.burn_in_warm;
  }
  double a;
  long acc;
  for (long t = 0; t < burn; t++) {
    if ((st = mala_step(g, beta, &a, &acc, err))) return st;
    g->tau *= exp(pow(1.0 + (double)t, -ADAPT_POWER) *
                  (a - g->o.target_accept));
  }
  /* frozen step: keep every thin-th state of each chain */
  long acc_call = 0, prop_call = 0;
  for (size_t got = 0; got < n;) {
    for (long t = 0; t < g->o.thin; t++) {
      if ((st = mala_step(g, beta, &a, &acc, err))) return st;
      acc_call += acc;
      prop_call += (long)M;
    }
    for (size_t c = 0; c < M && got < n; c++, got++)
      memcpy(g->pts + got * d, g->X + c * d, d * sizeof(double));
  }
  g->accepted += acc_call;
  g->proposed += prop_call;
  g->started = 1;
  g->beta_prev = beta;
  g->info.acceptance = (double)g->accepted / (double)g->proposed;
  g->info.acceptance_last = (double)acc_call / (double)prop_call;
  g->info.step = g->tau;
  g->info.steps = g->t;
  return FPF_OK;
}

fpf_status fpf_gibbs_sample(fpf_gibbs *g, double beta, fpf_error *err) {
  if (!(beta > 0) || !isfinite(beta))
    return fpf_error_set(err, FPF_EINVAL,
                         "Gibbs sampler: beta = %g must be finite and > 0",
                         beta);
  fpf_status st = FPF_OK;
  const char *name = fpf_landscape_name(g->L);
  if (g->LA && !g->o.force_mala) {
    draw_gaussian(g, beta);
    g->info.method = FPF_GIBBS_GAUSSIAN;
  } else if (!strcmp(name, "mixture") && beta == 1.0 && !g->o.force_mala) {
    st = draw_mixture(g, err);
    g->info.method = FPF_GIBBS_MIXTURE;
  } else {
    st = mala(g, beta, err);
    g->info.method = FPF_GIBBS_MALA;
  }
  if (st) return st;
  g->info.beta = beta;
  g->info.calls++;
  return FPF_OK;
}

/* ---- log Z ----------------------------------------------------------- */

/* -beta L on the g^dim nodes of the box (lo, hi) into v. */
static fpf_status grid_values(fpf_landscape *L, double beta, size_t dim,
                              const double *lo, const double *hi, size_t g,
                              double *v, fpf_error *err) {
  enum { CHUNK = 4096 };
  double z[2 * CHUNK], h[2];
  for (size_t k = 0; k < dim; k++) h[k] = (hi[k] - lo[k]) / (double)(g - 1);
  size_t total = dim == 1 ? g : g * g;
  for (size_t p0 = 0; p0 < total; p0 += CHUNK) {
    size_t m = total - p0 < CHUNK ? total - p0 : CHUNK;
    for (size_t p = 0; p < m; p++) {
      size_t idx = p0 + p;
      if (dim == 1) z[p] = lo[0] + h[0] * (double)idx;
      else {
        z[2 * p] = lo[0] + h[0] * (double)(idx / g);
        z[2 * p + 1] = lo[1] + h[1] * (double)(idx % g);
      }
    }
    fpf_status st = fpf_landscape_eval(L, m, z, v + p0, NULL, err);
    if (st) return st;
    for (size_t p = 0; p < m; p++) v[p0 + p] *= -beta;
  }
  return FPF_OK;
}

/* Largest -beta L on the box's edges, and over the whole grid. */
static void edge_and_peak(const double *v, size_t dim, size_t g, double *edge,
                          double *peak) {
  *edge = *peak = -INFINITY;
  size_t total = dim == 1 ? g : g * g;
  for (size_t p = 0; p < total; p++) {
    *peak = fmax(*peak, v[p]);
    int on_edge = dim == 1 ? (p == 0 || p == g - 1)
                           : (p / g == 0 || p / g == g - 1 || p % g == 0 ||
                              p % g == g - 1);
    if (on_edge) *edge = fmax(*edge, v[p]);
  }
}

/* The trapezoid rule in log space; the edges, e^-40 below the peak, are
 * weighted as interior nodes (their share is below round-off). */
static double log_trapezoid(const double *v, size_t dim, const double *lo,
                            const double *hi, size_t g) {
  size_t total = dim == 1 ? g : g * g;
  double lw = 0;
  for (size_t k = 0; k < dim; k++) lw += log((hi[k] - lo[k]) / (double)(g - 1));
  return fpf_logsumexp(v, total) + lw;
}

static fpf_status quadrature(fpf_landscape *L, double beta, const double *hint,
                             size_t n_hint, fpf_log_partition *r,
                             fpf_error *err) {
  size_t dim = fpf_landscape_dim(L), gmax = dim == 1 ? 65537 : 1025;
  double lo[2], hi[2];
  /* start from the hint's bounding box widened by its size plus 1 */
  for (size_t k = 0; k < dim; k++) {
    double a = hint ? INFINITY : -5, b = hint ? -INFINITY : 5;
    for (size_t i = 0; hint && i < n_hint; i++) {
      a = fmin(a, hint[i * dim + k]);
      b = fmax(b, hint[i * dim + k]);
    }
    double w = b - a + 1.0;
    lo[k] = a - w;
    hi[k] = b + w;
  }
  double *v = fpf_dalloc(dim == 1 ? gmax : gmax * gmax);
  if (!v) return fpf_error_set(err, FPF_ENOMEM, "log Z: out of memory");
  fpf_status st = FPF_OK;
  /* grow the box until its edges are EDGE_DROP below the peak */
  int grown = 0;
  for (;; grown++) {
    double edge, peak;
    if ((st = grid_values(L, beta, dim, lo, hi, 129, v, err))) goto done;
    edge_and_peak(v, dim, 129, &edge, &peak);
    if (edge < peak - EDGE_DROP) break;
    if (grown == 10) {
      st = fpf_error_set(err, FPF_EUNSUPPORTED,
                         "log Z by quadrature: exp(-beta L) (beta = %g) does "
                         "not fall to e^-%g of its peak on the edges of the "
                         "box [%g, %g]%s; it may not be normalisable", beta,
                         EDGE_DROP, lo[0], hi[0], dim == 2 ? "^2" : "");
      goto done;
    }
    for (size_t k = 0; k < dim; k++) {
      double c = 0.5 * (lo[k] + hi[k]), w = hi[k] - lo[k];
      lo[k] = c - w;
      hi[k] = c + w;
    }
  }
  /* refine (g -> 2g - 1, nested) until two values agree */
  double prev = log_trapezoid(v, dim, lo, hi, 129), cur = prev, diff = INFINITY;
  size_t g = 129;
  while (2 * g - 1 <= gmax) {
    g = 2 * g - 1;
    if ((st = grid_values(L, beta, dim, lo, hi, g, v, err))) goto done;
    cur = log_trapezoid(v, dim, lo, hi, g);
    diff = fabs(cur - prev);
    prev = cur;
    if (diff < QUAD_TOL) break;
  }
  r->log_z = cur;
  r->error = diff;
  r->method = "quadrature";
  r->grid = g;
  for (size_t k = 0; k < dim; k++) {
    r->lo[k] = lo[k];
    r->hi[k] = hi[k];
  }
done:
  fpf_dfree(v);
  return st;
}

fpf_status fpf_gibbs_log_partition(fpf_landscape *L, double beta,
                                   const double *hint, size_t n_hint,
                                   fpf_log_partition *r, fpf_error *err) {
  memset(r, 0, sizeof *r);
  r->log_z = r->error = NAN;
  if (!(beta > 0) || !isfinite(beta))
    return fpf_error_set(err, FPF_EINVAL,
                         "log Z: beta = %g must be finite and > 0", beta);
  size_t d = fpf_landscape_dim(L);
  const char *name = fpf_landscape_name(L);
  if (!strcmp(name, "quadratic")) {
    const double *m;
    double *LA = NULL, logdet;
    fpf_status st = factor_quadratic(L, &m, &LA, &logdet, err);
    fpf_dfree(LA);
    if (st) return st;
    r->log_z = 0.5 * (double)d * (FPF_LOG2PI - log(beta)) - 0.5 * logdet;
    r->error = 0;
    r->method = "gaussian";
    return FPF_OK;
  }
  if (!strcmp(name, "mixture") && beta == 1.0) {
    size_t K;
    const double *means, *widths, *weights;
    fpf_landscape_mixture_params(L, &K, &means, &widths, &weights);
    double *lq = fpf_dalloc(K);
    if (!lq) return fpf_error_set(err, FPF_ENOMEM, "log Z: out of memory");
    mixture_log_weights(K, d, widths, weights, lq);
    r->log_z = fpf_logsumexp(lq, K);
    fpf_dfree(lq);
    r->error = 0;
    r->method = "mixture";
    return FPF_OK;
  }
  if (d <= 2) return quadrature(L, beta, hint, n_hint, r, err);
  return fpf_error_set(err, FPF_EUNSUPPORTED,
                       "log Z of exp(-beta L) is not known for the %s "
                       "landscape in d = %zu at beta = %g: it is exact for "
                       "the quadratic and for the mixture at beta = 1, and "
                       "found by quadrature for d <= 2 only", name, d, beta);
}

/* ---- KL(rho_t || rho*) -------------------------------------------------- */

/* The closed form between the particles' Gaussian fit N(mu, S) and
 * N(m, (beta A)^-1): (beta tr(A S) + beta (mu - m)^T A (mu - m) - d
 * - d log beta - log det A - log det S) / 2. */
static fpf_status kl_quadratic(fpf_landscape *L, double beta, const double *z,
                               size_t n, fpf_kl_result *r, fpf_error *err) {
  size_t d = fpf_landscape_dim(L);
  const double *m, *A;
  double *LA = NULL, logdetA;
  fpf_status st = factor_quadratic(L, &m, &LA, &logdetA, err);
  fpf_landscape_quadratic_params(L, &m, &A);
  double *mu = fpf_dalloc(d), *S = fpf_dalloc(d * d);
  if (st) goto done;
  if (!mu || !S) {
    st = fpf_error_set(err, FPF_ENOMEM, "KL: out of memory (d = %zu)", d);
    goto done;
  }
  fpf_cloud c = {.x = z, .n = n, .d = d, .name = "particles"};
  if ((st = fpf_cloud_moments(&c, mu, S, err))) goto done;
  double trAS = 0, q = 0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      trAS += A[i * d + j] * S[j * d + i];
      q += (mu[i] - m[i]) * A[i * d + j] * (mu[j] - m[j]);
    }
  /* a pivot below 1e-12 of the largest variance is round-off on a
   * singular matrix (particles on a subspace), not a thin direction */
  double smax = 0;
  for (size_t k = 0; k < d; k++) smax = fmax(smax, S[k * d + k]);
  lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, S,
                                   (lapack_int)d);
  for (size_t k = 0; info == 0 && k < d; k++)
    if (!(S[k * d + k] * S[k * d + k] > 1e-12 * smax))
      info = (lapack_int)k + 1;
  if (info != 0) {
    st = fpf_error_set(err, FPF_ENOTPD,
                       "KL: the covariance of the %zu particles in d = %zu is "
                       "not positive definite (singular at column %d); the "
                       "Gaussian KL needs it to be", n, d, (int)info);
    goto done;
  }
  double logdetS = 0;
  for (size_t k = 0; k < d; k++) logdetS += 2.0 * log(S[k * d + k]);
  r->kl = 0.5 * (beta * trAS + beta * q - (double)d - (double)d * log(beta) -
                 logdetA - logdetS);
  r->method = "gaussian";
  r->log_z = 0.5 * (double)d * (FPF_LOG2PI - log(beta)) - 0.5 * logdetA;
  r->log_z_error = 0;
done:
  fpf_dfree(LA);
  fpf_dfree(mu);
  fpf_dfree(S);
  return st;
}

/* Kozachenko-Leonenko entropy from the k-th neighbour distances. */
static fpf_status knn_entropy(const double *z, size_t n, size_t d, size_t k,
                              double *H, fpf_error *err) {
  if (k < 1 || k >= n)
    return fpf_error_set(err, FPF_EINVAL,
                         "KL: knn_k = %zu must be in [1, n - 1] (n = %zu)", k,
                         n);
  fpf_kde_options ko;
  fpf_kde_options_init(&ko);
  ko.knn_k = k;
  fpf_kde *kde = NULL;
  double *lr = fpf_dalloc(n), *eps = fpf_dalloc(n);
  fpf_status st = FPF_OK;
  if (!lr || !eps)
    st = fpf_error_set(err, FPF_ENOMEM, "KL: out of memory (n = %zu)", n);
  else if (!(st = fpf_kde_create(&kde, n, d, &ko, err)) &&
           !(st = fpf_kde_eval(kde, z, n, 1.0, lr, NULL, eps, err)))
    *H = fpf_entropy_knn(eps, n, d, k);
  fpf_kde_destroy(kde);
  fpf_dfree(lr);
  fpf_dfree(eps);
  return st;
}

fpf_status fpf_gibbs_kl(fpf_landscape *L, double beta, const double *z,
                        size_t n, size_t knn_k, double H, fpf_kl_result *r,
                        fpf_error *err) {
  memset(r, 0, sizeof *r);
  r->kl = r->H = r->mean_beta_L = r->log_z = r->log_z_error = NAN;
  r->method = "entropy";
  size_t d = fpf_landscape_dim(L), row, col;
  if (!(beta > 0) || !isfinite(beta))
    return fpf_error_set(err, FPF_EINVAL,
                         "KL: beta = %g must be finite and > 0", beta);
  if (n < 2)
    return fpf_error_set(err, FPF_EINVAL, "KL: needs >= 2 particles (n = %zu)",
                         n);
  if (fpf_find_nonfinite(z, n, d, &row, &col) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "KL: particle %zu has a non-finite coordinate %zu",
                         row, col);
  if (!strcmp(fpf_landscape_name(L), "quadratic"))
    return kl_quadratic(L, beta, z, n, r, err);
  fpf_log_partition lz;
  fpf_error e;
  fpf_status st = fpf_gibbs_log_partition(L, beta, z, n, &lz, &e);
  if (st == FPF_EUNSUPPORTED) {
    size_t len = strlen(e.msg);
    if (len >= sizeof r->reason) len = sizeof r->reason - 1;
    memcpy(r->reason, e.msg, len);
    r->reason[len] = '\0';
    return FPF_OK;
  }
  if (st) {
    if (err) *err = e;
    return st;
  }
  r->log_z = lz.log_z;
  r->log_z_error = lz.error;
  double *v = fpf_dalloc(n);
  if (!v) return fpf_error_set(err, FPF_ENOMEM, "KL: out of memory");
  if ((st = fpf_landscape_eval(L, n, z, v, NULL, err))) {
    fpf_dfree(v);
    return st;
  }
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  fpf_dfree(v);
  r->mean_beta_L = beta * s / (double)n;
  if (isfinite(H)) r->H = H;
  else if ((st = knn_entropy(z, n, d, knn_k, &r->H, err)))
    return st;
  r->kl = -r->H + r->mean_beta_L + r->log_z;
  return FPF_OK;
}
