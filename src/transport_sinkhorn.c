/*
 * The debiased Sinkhorn divergence (transport.h), after Feydy et al.,
 * "Interpolating between optimal transport and MMD using Sinkhorn
 * divergences", AISTATS 2019:
 *
 *   OT_eps(a, b) = min_pi <C, pi> + eps KL(pi | a x b),  C = |x - y|^2
 *   S_eps(a, b)  = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2
 *
 * S_eps(a, a) = 0, S_eps >= 0, and S_eps -> W2^2 as eps -> 0.  Each
 * OT_eps is solved in its dual, <a, f> + <b, g> at the optimum, by
 * Sinkhorn's iterations in the log domain (softmin by a log-sum-exp over
 * each row, taken relative to the row's largest term), so that no kernel
 * value exp(-C / eps) is ever formed and small eps cannot underflow:
 *
 *   g_j = -eps log sum_i a_i exp((f_i - C_ij) / eps)
 *   f_i = -eps log sum_j b_j exp((g_j - C_ij) / eps)
 *
 * The symmetric problems OT_eps(a, a) use the averaged update
 * f <- (f + T(f)) / 2, which converges in a few steps.  Epsilon scaling
 * (Schmitzer 2019; Feydy's thesis, ch. 3): eps starts at the squared
 * diameter of the two clouds and is divided by 1 / eps_scaling^2 at each
 * stage down to the target, the potentials carried over; a stage ends
 * when the L1 error of the marginals falls below its tolerance.
 *
 * Costs are kept in memory (C and its transpose) while they fit in 2^24
 * doubles per problem, and recomputed row by row beyond.  Rows are split
 * over threads; each row's sum runs in a fixed order.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/transport.h"
#include "internal.h"

/* Largest number of stored cost entries per problem (256 MB): clouds of
 * up to 4096 points keep C and its transpose. */
#define STORE_MAX ((size_t)1 << 25)
/* Cost entries below which a softmin runs on one thread: a parallel
 * region per half-iteration costs more than it saves on small problems
 * (measured 5x slower at 300 x 300 on a loaded 2-core machine). */
#define PARALLEL_MIN ((size_t)1 << 20)
/* Iterations allowed to an intermediate stage of the epsilon schedule. */
#define STAGE_ITER 200

typedef struct side {
  const double *x;
  size_t n;
  double *w, *lw; /* normalised weights and their logarithms */
} side;

typedef struct problem {
  side *p, *q;     /* the two measures (the same for OT(a, a)) */
  size_t d;
  double *Cpq, *Cqp; /* stored costs (p x q, q x p) or NULL */
  double *f, *g;   /* potentials on p and q */
  double *tmp, *e; /* new potentials, per-row marginal errors */
  double *a;       /* scratch */
} problem;

static double sqdist(const double *x, const double *y, size_t d) {
  double s = 0;
  for (size_t k = 0; k < d; k++) s += (x[k] - y[k]) * (x[k] - y[k]);
  return s;
}

/*
 * out_i = -eps log sum_j exp(lw_j + (g_j - C_ij) / eps) for each point i
 * of X against the points of Y, and e_i = w_i |exp((old_i - out_i) / eps)
 * - 1|, the error of the marginal on X of the plan with potentials old.
 * a (ny) is scratch.  Returns 0, or -1 when a thread's row buffer could
 * not be allocated.
 */
static int softmin(const side *X, const side *Y, size_t d, const double *C,
                   const double *g, double eps, const double *old,
                   double *out, double *e, double *a) {
  size_t nx = X->n, ny = Y->n;
  double ie = 1.0 / eps;
  int fail = 0;
  for (size_t j = 0; j < ny; j++) a[j] = Y->lw[j] + g[j] * ie;
#pragma omp parallel if (nx * ny > PARALLEL_MIN) reduction(|| : fail)
  {
    double *t = malloc(ny * sizeof *t);
    fail = !t;
#pragma omp for schedule(static)
    for (size_t i = 0; i < nx; i++) {
      if (fail) continue;
      double m = -INFINITY;
      if (C) {
        const double *Ci = C + i * ny;
#pragma omp simd reduction(max : m)
        for (size_t j = 0; j < ny; j++) {
          t[j] = a[j] - Ci[j] * ie;
          m = t[j] > m ? t[j] : m;
        }
      } else {
        const double *xi = X->x + i * d;
        for (size_t j = 0; j < ny; j++)
          t[j] = a[j] - sqdist(xi, Y->x + j * d, d) * ie;
#pragma omp simd reduction(max : m)
        for (size_t j = 0; j < ny; j++) m = t[j] > m ? t[j] : m;
      }
      /* log-sum-exp relative to the row's largest term; fpflow's
       * vectorised exp (util.c) */
      for (size_t j = 0; j < ny; j++) t[j] -= m;
      fpf_exp_nonpos(t, ny);
      double s = fpf_sum(t, ny);
      out[i] = -eps * (m + log(s));
      e[i] = X->w[i] > 0 ? X->w[i] * fabs(expm1((old[i] - out[i]) * ie))
                         : 0;
    }
    free(t);
  }
  return fail ? -1 : 0;
}

static double sum(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  return s;
}

/*
 * Iterates at one epsilon until the L1 marginal error is below tol or
 * max_iter iterations are done.  *iter counts iterations, *error gets
 * the last error.  Returns 0, or -1 when out of memory.
 *
 * The cross problem is over-relaxed, f <- (1 - w) f + w T(g) (Thibault,
 * Chizat, Dossal & Papadakis 2021, Algorithms 14(5)): near the fixed
 * point plain Sinkhorn contracts the error by a factor lam per step, lam
 * close to 1 at small eps (measured 1 - 1e-4 on 50 points at
 * eps = 1e-3 diam^2), and w = 2 / (1 + sqrt(1 - lam)) brings that
 * factor down to about w - 1.  lam is measured over a window of plain
 * steps; a window without progress goes back to plain steps, which
 * always converge.
 */
#define WINDOW 20
#define OMEGA_MAX 1.999
#define MAX_WAIT 10

static void relax(double *p, const double *t, size_t n, double w) {
  for (size_t i = 0; i < n; i++) p[i] = (1 - w) * p[i] + w * t[i];
}

static int iterate(problem *P, double eps, double tol, long max_iter,
                   long *iter, double *error) {
  side *p = P->p, *q = P->q;
  int sym = p == q, waiting = 0, waited = 0;
  double omega = 1, err_ref = NAN, err_set = NAN;
  for (long it = 0; it < max_iter; it++) {
    (*iter)++;
    if (sym) {
      /* f <- (f + T(f)) / 2; the error is that of the plan with f */
      if (softmin(p, p, P->d, P->Cpq, P->f, eps, P->f, P->tmp, P->e, P->a))
        return -1;
      relax(P->f, P->tmp, p->n, 0.5);
    } else {
      if (softmin(q, p, P->d, P->Cqp, P->f, eps, P->g, P->tmp, P->e, P->a))
        return -1;
      relax(P->g, P->tmp, q->n, omega);
      /* the plan (f, g) has exact columns when omega = 1; its rows'
       * error is measured here */
      if (softmin(p, q, P->d, P->Cpq, P->g, eps, P->f, P->tmp, P->e, P->a))
        return -1;
      relax(P->f, P->tmp, p->n, omega);
    }
    *error = sum(P->e, p->n);
    if (*error < tol) break;
    if (sym) continue;
    /* a larger omega first raises the error for a while; far beyond
     * that, or for too long, plain steps take over again */
    if (waiting && (*error > 1e3 * err_set ||
                    ((it + 1) % WINDOW == 0 && ++waited > MAX_WAIT))) {
      omega = 1;
      waiting = 0;
      err_ref = NAN;
      continue;
    }
    if ((it + 1) % WINDOW) continue;
    if (waiting) {
      waiting = !(*error < err_set);
      err_ref = *error;
      continue;
    }
    if (*error < err_ref) {
      /* the window's rate mu under omega gives lam through the SOR
       * relation (mu + omega - 1)^2 = omega^2 lam mu (Young 1954);
       * omega only grows, since an error that oscillates (omega past
       * the optimum) gives a noisy mu */
      double mu = pow(*error / err_ref, 1.0 / WINDOW);
      double lam = fmin((mu + omega - 1) * (mu + omega - 1) /
                        (omega * omega * mu), 1.0);
      double w = fmin(2.0 / (1.0 + sqrt(1.0 - lam)), OMEGA_MAX);
      if (2.0 - w < 0.9 * (2.0 - omega)) {
        omega = w;
        waiting = 1;
        waited = 0;
        err_set = *error;
      }
    }
    err_ref = *error;
  }
  return 0;
}

/* Squared diameter of the bounding box of both clouds. */
static double diameter2(const side *a, const side *b, size_t d) {
  double s = 0;
  for (size_t k = 0; k < d; k++) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < a->n; i++) {
      lo = fmin(lo, a->x[i * d + k]);
      hi = fmax(hi, a->x[i * d + k]);
    }
    for (size_t j = 0; j < b->n; j++) {
      lo = fmin(lo, b->x[j * d + k]);
      hi = fmax(hi, b->x[j * d + k]);
    }
    s += (hi - lo) * (hi - lo);
  }
  return s;
}

/* Mean per-coordinate variance of the two clouds' points pooled. */
static double spread2(const side *a, const side *b, size_t d) {
  double s = 0, n = (double)(a->n + b->n);
  for (size_t k = 0; k < d; k++) {
    double m = 0, q = 0;
    for (size_t i = 0; i < a->n; i++) m += a->x[i * d + k];
    for (size_t j = 0; j < b->n; j++) m += b->x[j * d + k];
    m /= n;
    for (size_t i = 0; i < a->n; i++)
      q += (a->x[i * d + k] - m) * (a->x[i * d + k] - m);
    for (size_t j = 0; j < b->n; j++)
      q += (b->x[j * d + k] - m) * (b->x[j * d + k] - m);
    s += q / n;
  }
  return s / (double)d;
}

static double *costs(const side *p, const side *q, size_t d) {
  double *C = fpf_dalloc(fpf_mul_size(p->n, q->n));
  if (!C) return NULL;
#pragma omp parallel for schedule(static) if (p->n * q->n * d > 100000)
  for (size_t i = 0; i < p->n; i++)
    for (size_t j = 0; j < q->n; j++)
      C[i * q->n + j] = sqdist(p->x + i * d, q->x + j * d, d);
  return C;
}

static void problem_free(problem *P) {
  fpf_dfree(P->Cpq);
  if (P->Cqp != P->Cpq) fpf_dfree(P->Cqp);
  fpf_dfree(P->f);
  fpf_dfree(P->g);
  fpf_dfree(P->tmp);
  fpf_dfree(P->e);
  fpf_dfree(P->a);
}

/* OT_eps(p, q) = <p.w, f> + <q.w, g> (2 <p.w, f> when p == q) after the
 * epsilon schedule.  Returns 0 or -1 (out of memory). */
static int solve(side *p, side *q, size_t d, double eps0, double eps,
                 const fpf_w2_options *o, double *value, long *iter,
                 double *error) {
  int sym = p == q;
  problem P = {.p = p, .q = q, .d = d};
  size_t nmax = p->n > q->n ? p->n : q->n;
  P.f = fpf_dalloc(p->n);
  P.g = fpf_dalloc(q->n);
  P.tmp = fpf_dalloc(nmax);
  P.e = fpf_dalloc(nmax);
  P.a = fpf_dalloc(nmax);
  int rc = -1;
  if (!P.f || !P.g || !P.tmp || !P.e || !P.a) goto done;
  size_t entries = fpf_mul_size(p->n, q->n);
  if (entries && entries <= (sym ? STORE_MAX : STORE_MAX / 2)) {
    if (!(P.Cpq = costs(p, q, d))) goto done;
    P.Cqp = sym ? P.Cpq : costs(q, p, d);
    if (!P.Cqp) goto done;
  }
  double r = o->eps_scaling * o->eps_scaling;
  for (double e = eps0;; e *= r) {
    int last = e <= eps;
    if (last) e = eps;
    if (iterate(&P, e, last ? o->tol : o->stage_tol,
                last ? o->max_iter : STAGE_ITER, iter, error))
      goto done;
    if (last) break;
  }
  double v = 0;
  for (size_t i = 0; i < p->n; i++) v += p->w[i] * P.f[i];
  if (sym) v *= 2;
  else
    for (size_t j = 0; j < q->n; j++) v += q->w[j] * P.g[j];
  *value = v;
  rc = 0;
done:
  problem_free(&P);
  return rc;
}

static fpf_status make_side(const fpf_cloud *c, side *s, fpf_error *err) {
  s->x = c->x;
  s->n = c->n;
  s->w = fpf_dalloc(c->n);
  s->lw = fpf_dalloc(c->n);
  if (!s->w || !s->lw)
    return fpf_error_set(err, FPF_ENOMEM, "Sinkhorn: out of memory");
  fpf_status st = fpf_cloud_check(c, s->w, err);
  if (st) return st;
  for (size_t i = 0; i < c->n; i++) s->lw[i] = log(s->w[i]);
  return FPF_OK;
}

fpf_status fpf_w2_sinkhorn(const fpf_cloud *a, const fpf_cloud *b,
                           const fpf_w2_options *o, fpf_w2_result *r,
                           fpf_error *err) {
  fpf_w2_options def;
  if (!o) {
    fpf_w2_options_init(&def);
    o = &def;
  }
  if (a->d != b->d)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s has dimension d = %zu but %s has d = %zu",
                         a->name ? a->name : "cloud", a->d,
                         b->name ? b->name : "cloud", b->d);
  if (!(o->epsilon >= 0) || !isfinite(o->epsilon) || !(o->blur > 0) ||
      !(o->eps_scaling > 0 && o->eps_scaling < 1) || !(o->tol > 0) ||
      !(o->stage_tol > 0) || o->max_iter < 1)
    return fpf_error_set(err, FPF_EINVAL,
                         "Sinkhorn: epsilon = %g must be >= 0, blur = %g > 0, "
                         "eps_scaling = %g in (0, 1), tol = %g and stage_tol "
                         "= %g > 0, max_iter = %ld >= 1", o->epsilon, o->blur,
                         o->eps_scaling, o->tol, o->stage_tol, o->max_iter);
  side sa = {0}, sb = {0};
  fpf_status st;
  if ((st = make_side(a, &sa, err)) || (st = make_side(b, &sb, err)))
    goto done;
  size_t d = a->d;
  double diam2 = diameter2(&sa, &sb, d);
  double eps = o->epsilon > 0 ? o->epsilon
                              : o->blur * o->blur * spread2(&sa, &sb, d);
  if (!(eps > 0)) eps = 1.0; /* every point the same: any eps gives 0 */
  double eps0 = diam2 > eps ? diam2 : eps;
  double vab, vaa, vbb, e1 = 0, e2 = 0, e3 = 0;
  long it = 0;
  if (solve(&sa, &sb, d, eps0, eps, o, &vab, &it, &e1) ||
      solve(&sa, &sa, d, eps0, eps, o, &vaa, &it, &e2) ||
      solve(&sb, &sb, d, eps0, eps, o, &vbb, &it, &e3)) {
    st = fpf_error_set(err, FPF_ENOMEM, "Sinkhorn: out of memory (%zu x %zu "
                       "points)", a->n, b->n);
    goto done;
  }
  r->w2sq = vab - 0.5 * (vaa + vbb);
  r->w2 = sqrt(fmax(r->w2sq, 0.0));
  r->method = FPF_W2_SINKHORN;
  r->iterations = it;
  r->epsilon = eps;
  r->marginal_error = fmax(e1, fmax(e2, e3));
  r->converged = r->marginal_error < o->tol;
done:
  fpf_dfree(sa.w);
  fpf_dfree(sa.lw);
  fpf_dfree(sb.w);
  fpf_dfree(sb.lw);
  return st;
}
