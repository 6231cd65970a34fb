/*
 * The grid solver's numerics (pde.h): exponentially fitted face fluxes
 * and the implicit sweeps that use them.
 *
 * A sweep along an axis solves, on every grid line at once,
 *   rho_i + (dt/h) (J_{i+1/2} - J_{i-1/2}) = rho_i(old),
 *   J_{i+1/2} = (D/h) (a_i rho_i - b_i rho_{i+1}),  a_i, b_i >= 0,
 * with J = 0 at the walls.  In terms of ra_i = dt D a_i / h^2 and rb_i =
 * dt D b_i / h^2 the matrix has diagonal 1 + ra_i + rb_{i-1}, lower
 * entries -ra_{i-1} and upper entries -rb_i: an M-matrix whose columns
 * sum to one.  Gaussian elimination then needs no subtraction once the
 * pivot is split as dp_i = e_i + ra_i with
 *   e_0 = 1,  e_i = 1 + rb_{i-1} e_{i-1} / dp_{i-1}
 * (the part of the pivot not yet sent to the next cell), so every
 * quantity is a sum of non-negative terms: rho stays >= 0 in floating
 * point, and the mass is kept to a few ulps per sweep.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "pde_internal.h"

/* Below this |w| the series are used: their first omitted terms, w^6 /
   30240 and w^5 / 30240, are below 1e-19. */
#define SERIES_W 1e-3

/* Grids smaller than this are swept by one thread.  A sweep of 16384
   cells takes ~0.2 ms on one thread (measured), against a few
   microseconds for an OpenMP fork; the gain of a second thread could not
   be measured on the loaded build machine, so the bound is a guess. */
#define PARALLEL_CELLS 16384

double fpf_pde_bernoulli(double w) {
  double w2 = w * w;
  if (fabs(w) < SERIES_W) return 1.0 - w / 2.0 + w2 / 12.0 - w2 * w2 / 720.0;
  return w / expm1(w);
}

double fpf_pde_cc_delta(double w) {
  if (fabs(w) < SERIES_W) return 0.5 + w / 12.0 - w * w * w / 720.0;
  return -1.0 / expm1(-w) - 1.0 / w;
}

void fpf_pde_face_coefficients(fpf_pde_flux_form flux, double w, double *a,
                               double *b) {
  if (flux == FPF_PDE_CHANG_COOPER) {
    /* u (delta rho_l + (1 - delta) rho_r) - D (rho_r - rho_l) / h, with
       u h / D = w; far from w = 0 one of the two cancels to a few ulps
       and is clamped at 0. */
    double d = fpf_pde_cc_delta(w), x = 1.0 + w * d, y = 1.0 - w * (1.0 - d);
    *a = x > 0 ? x : 0.0;
    *b = y > 0 ? y : 0.0;
    return;
  }
  /* B(-w) = B(w) e^w: one exponential, taken at |w| so that e^|w| is
     formed without cancellation. */
  double m = fabs(w), bm, ep;
  if (m < SERIES_W) {
    *a = fpf_pde_bernoulli(-w);
    *b = fpf_pde_bernoulli(w);
    return;
  }
  ep = expm1(m);
  bm = m / ep;              /* B(|w|) */
  double big = bm * (ep + 1.0); /* B(-|w|) */
  if (!isfinite(big)) big = m; /* e^|w| overflowed: B(-|w|) = |w| */
  if (w > 0) {
    *a = big;
    *b = bm;
  } else {
    *a = bm;
    *b = big;
  }
}

/* Phi(r) = r^2 / 4 + r^2 log(r) / 2, whose derivative is r (1 + log r). */
static double entropy_Phi(double r) {
  return r > 0 ? r * r * (0.25 + 0.5 * log(r)) : 0.0;
}

static double entropy_phi1(double r) { return r > 0 ? r * (1.0 + log(r)) : 0; }

/* The mean of phi over [r1, r2] from Phi at both ends.  The difference
   quotient loses ~log10(m/|d|) digits; below 1e-6 the midpoint value is
   the better mean (error O(d^2 / m)). */
static double phi_mean(double r1, double r2, double P1, double P2) {
  double d = r2 - r1, m = fmax(r1, r2);
  if (fabs(d) <= 1e-6 * m) return entropy_phi1(0.5 * (r1 + r2));
  return (P2 - P1) / d;
}

double fpf_pde_entropy_phi(double r1, double r2) {
  return phi_mean(r1, r2, entropy_Phi(r1), entropy_Phi(r2));
}

void fpf_pde_entropy_prepare(fpf_pde *p, const double *r) {
  if (p->o.dyn.lambda == 0 ||
      p->o.dyn.entropy_form != FPF_ENTROPY_SOURCE)
    return;
#pragma omp parallel for schedule(static) if (p->size >= PARALLEL_CELLS)
  for (size_t c = 0; c < p->size; c++) p->Phi[c] = entropy_Phi(r[c]);
}

/* The effective diffusion of the face above cell c (pde.h); p->Phi must
   hold Phi(lag) (fpf_pde_entropy_prepare). */
static double face_diffusion(const fpf_pde *p, double eta, double D,
                             const double *lag, size_t c, size_t s) {
  double lam = p->o.dyn.lambda;
  if (lam == 0) return D;
  if (p->o.dyn.entropy_form == FPF_ENTROPY_WASSERSTEIN)
    return D - eta * lam;
  return D - eta * lam * phi_mean(lag[c], lag[c + s], p->Phi[c],
                                  p->Phi[c + s]);
}

/* Index of a cell from its position along the axes. */
static void cell_position(const fpf_pde *p, size_t c, size_t pos[2]) {
  pos[0] = c / p->n[1];
  pos[1] = c % p->n[1];
}

static fpf_status bad_diffusion(const fpf_pde *p, int axis, size_t c,
                                double eta, double D, double Deff,
                                const double *lag, fpf_error *err) {
  size_t pos[2], s = p->stride[axis];
  cell_position(p, c, pos);
  char where[96];
  if (p->dim == 1)
    snprintf(where, sizeof where, "z = %.4g", p->x[0][pos[0]] + 0.5 * p->h[0]);
  else if (axis == 0)
    snprintf(where, sizeof where, "z = (%.4g, %.4g)",
             p->x[0][pos[0]] + 0.5 * p->h[0], p->x[1][pos[1]]);
  else
    snprintf(where, sizeof where, "z = (%.4g, %.4g)", p->x[0][pos[0]],
             p->x[1][pos[1]] + 0.5 * p->h[1]);
  return fpf_error_set(
      err, FPF_ENOTPD,
      "the effective diffusion D - eta lambda phi(rho) = %.4g is not > 0 "
      "at the face %s along axis %d (D = %.4g, eta = %.4g, lambda = %g, "
      "%s form, rho = %.4g and %.4g): the entropy term makes the equation "
      "anti-diffusive there; lower lambda or raise D0",
      Deff, where, axis + 1, D, eta, p->o.dyn.lambda,
      fpf_entropy_form_name(p->o.dyn.entropy_form), lag[c], lag[c + s]);
}

/*
 * ra, rb (scaled by `scale`) for every face along an axis; the faces of
 * the wall keep 0.  Rows of the grid are independent, so they are split
 * over threads with results that do not depend on the thread count.
 * With want_max (then on one thread) it returns max |w|, else 0; it
 * returns -1 after a face whose effective diffusion is not > 0 (the
 * first such face is reported in err).
 */
static double coefficients(fpf_pde *p, int axis, double scale, double eta,
                           double D, const double *lag, double *ra,
                           double *rb, int want_max, fpf_error *err) {
  size_t s = p->stride[axis], n1 = p->n[0], n2 = p->n[1];
  const double *dL = p->dL[axis];
  double h = p->h[axis], wmax = 0;
  long bad = -1;
#pragma omp parallel for schedule(static) \
    if (p->size >= PARALLEL_CELLS && !want_max)
  for (size_t i = 0; i < n1; i++) {
    for (size_t j = 0; j < n2; j++) {
      size_t c = i * n2 + j;
      if ((axis == 0 ? i + 1 : j + 1) >= (axis == 0 ? n1 : n2)) {
        ra[c] = rb[c] = 0;
        continue;
      }
      double Deff = face_diffusion(p, eta, D, lag, c, s);
      if (!(Deff > 0)) {
#pragma omp critical(fpf_pde_bad_face)
        if (bad < 0 || (long)c < bad) bad = (long)c;
        ra[c] = rb[c] = 0;
        continue;
      }
      double w = eta * dL[c] / Deff, a, b, k = scale * Deff / h;
      fpf_pde_face_coefficients(p->o.flux, w, &a, &b);
      ra[c] = k * a;
      rb[c] = k * b;
      if (want_max && fabs(w) > wmax) wmax = fabs(w);
    }
  }
  if (bad >= 0) {
    size_t c = (size_t)bad;
    bad_diffusion(p, axis, c, eta, D, face_diffusion(p, eta, D, lag, c, s),
                  lag, err);
    return -1;
  }
  return wmax;
}

/* The Thomas algorithm along one line of m cells, `s` apart; ip keeps
   the pivots' inverses for the back substitution. */
static void thomas_line(double *r, const double *ra, const double *rb,
                        double *e, double *ip, size_t m, size_t s) {
  e[0] = 1.0;
  ip[0] = 1.0 / (1.0 + ra[0]);
  for (size_t i = 1; i < m; i++) {
    size_t c = i * s, b = c - s;
    e[c] = 1.0 + rb[b] * e[b] * ip[b];
    r[c] += ra[b] * r[b] * ip[b];
    ip[c] = 1.0 / (e[c] + ra[c]);
  }
  size_t last = (m - 1) * s;
  r[last] *= ip[last];
  for (size_t i = m - 1; i-- > 0;) {
    size_t c = i * s;
    r[c] = (r[c] + rb[c] * r[c + s]) * ip[c];
  }
}

/*
 * The same on the lines j0..j1-1 of a 2-D grid along axis 1 (n2 lines,
 * each of m cells n2 apart), all at once: the inner loop runs across
 * lines and vectorises.
 */
static void thomas_block(double *r, const double *ra, const double *rb,
                         double *e, double *ip, size_t m, size_t n2,
                         size_t j0, size_t j1) {
  for (size_t j = j0; j < j1; j++) {
    e[j] = 1.0;
    ip[j] = 1.0 / (1.0 + ra[j]);
  }
  for (size_t i = 1; i < m; i++) {
    size_t c0 = i * n2, b0 = c0 - n2;
    for (size_t j = j0; j < j1; j++) {
      size_t c = c0 + j, b = b0 + j;
      e[c] = 1.0 + rb[b] * e[b] * ip[b];
      r[c] += ra[b] * r[b] * ip[b];
      ip[c] = 1.0 / (e[c] + ra[c]);
    }
  }
  size_t l0 = (m - 1) * n2;
  for (size_t j = j0; j < j1; j++) r[l0 + j] *= ip[l0 + j];
  for (size_t i = m - 1; i-- > 0;) {
    size_t c0 = i * n2;
    for (size_t j = j0; j < j1; j++) {
      size_t c = c0 + j;
      r[c] = (r[c] + rb[c] * r[c + n2]) * ip[c];
    }
  }
}

/*
 * The coefficients of a sweep, kept per axis: without the entropy term
 * they depend only on (eta, D, scale), so constant schedules and the
 * second half step of Strang splitting reuse them.
 */
static int sweep_coefficients(fpf_pde *p, int axis, double scale,
                              double eta, double D, fpf_error *err) {
  double key[3] = {eta, D, scale};
  int reuse = p->keyed[axis] && p->o.dyn.lambda == 0 &&
              !memcmp(key, p->key[axis], sizeof key);
  if (reuse) return 0;
  p->keyed[axis] = 0;
  if (coefficients(p, axis, scale, eta, D, p->prev, p->ra[axis],
                   p->rb[axis], 0, err) < 0)
    return -1;
  memcpy(p->key[axis], key, sizeof key);
  p->keyed[axis] = 1;
  return 0;
}

fpf_status fpf_pde_sweep(fpf_pde *p, int axis, double step, double eta,
                         double D, fpf_error *err) {
  if (sweep_coefficients(p, axis, step / p->h[axis], eta, D, err))
    return FPF_ENOTPD;
  const double *ra = p->ra[axis], *rb = p->rb[axis];
  size_t n1 = p->n[0], n2 = p->n[1];
  if (p->dim == 1 || axis == 1) {
    /* n1 lines of n2 contiguous cells (or the one line of a 1-D grid) */
    size_t m = p->dim == 1 ? n1 : n2, lines = p->dim == 1 ? 1 : n1;
#pragma omp parallel for schedule(static) if (p->size >= PARALLEL_CELLS)
    for (size_t l = 0; l < lines; l++) {
      size_t o = l * m;
      thomas_line(p->rho + o, ra + o, rb + o, p->e + o, p->ip + o, m, 1);
    }
  } else {
    /* Blocks of 64 lines (8 cache lines of doubles) per task. */
    size_t nb = (n2 + 63) / 64;
#pragma omp parallel for schedule(static) if (p->size >= PARALLEL_CELLS)
    for (size_t k = 0; k < nb; k++) {
      size_t j0 = 64 * k, j1 = j0 + 64 < n2 ? j0 + 64 : n2;
      thomas_block(p->rho, ra, rb, p->e, p->ip, n1, n2, j0, j1);
    }
  }
  return FPF_OK;
}

double fpf_pde_face_flux(fpf_pde *p, int axis, double eta, double D,
                         double *J) {
  /* Unscaled coefficients D a / h, D b / h; a bad face has no flux
     formula, so it is reported as NaN rather than an error. */
  size_t s = p->stride[axis];
  double *ra = p->ra[axis], *rb = p->rb[axis];
  p->keyed[axis] = 0;
  fpf_pde_entropy_prepare(p, p->rho);
  double wmax = coefficients(p, axis, 1.0, eta, D, p->rho, ra, rb, 1, NULL);
  if (wmax < 0) {
    for (size_t c = 0; c < p->size; c++) J[c] = NAN;
    return NAN;
  }
  for (size_t c = 0; c < p->size; c++) {
    size_t pos = axis == 0 ? c / p->n[1] : c % p->n[1];
    J[c] = pos + 1 < p->n[axis] ? ra[c] * p->rho[c] - rb[c] * p->rho[c + s]
                                : 0.0;
  }
  return wmax;
}

void fpf_pde_fisher(const fpf_pde *p, const double *r, double F[3]) {
  double f11 = 0, f22 = 0, f12 = 0, m = 0;
  size_t d = p->dim;
  for (size_t c = 0; c < p->size; c++) {
    const double *g = p->grad + c * d;
    m += r[c];
    f11 += g[0] * g[0] * r[c];
    if (d == 2) {
      f22 += g[1] * g[1] * r[c];
      f12 += g[0] * g[1] * r[c];
    }
  }
  F[0] = m > 0 ? f11 / m : 0;
  F[1] = m > 0 ? f22 / m : 0;
  F[2] = m > 0 ? f12 / m : 0;
}
