/*
 * The grid solver (pde.h): the solver object, initial densities, time
 * stepping and observables.  The numerics of a step are in
 * pde_scheme.c.
 *
 * The workload it serves: 1-D grids of 10^2..10^4 cells and 2-D grids up
 * to ~512 x 512, stepped 10^2..10^4 times, as the reference that particle
 * ensembles are compared with.  The landscape is evaluated once, at the
 * cell centres, so a step costs a few passes over the grid.
 */
#include "fpflow/pde.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pde_internal.h"

/* At most 2^22 cells (2048 x 2048): about 0.4 GB of work arrays. */
#define MAX_CELLS ((size_t)1 << 22)
/* Wells whose Hessian is measured; beyond this the grid is not the
   problem. */
#define MAX_WELLS 4096

/* ---- names and options ------------------------------------------------- */

static const char *const flux_names[] = {"chang_cooper",
                                         "scharfetter_gummel"};
static const char *const split_names[] = {"lie", "strang"};

const char *fpf_pde_flux_form_name(fpf_pde_flux_form f) {
  return (unsigned)f < 2 ? flux_names[f] : NULL;
}

int fpf_pde_flux_form_parse(const char *s, fpf_pde_flux_form *f) {
  for (int i = 0; i < 2; i++)
    if (s && !strcmp(s, flux_names[i])) {
      *f = (fpf_pde_flux_form)i;
      return 0;
    }
  return -1;
}

const char *fpf_pde_splitting_name(fpf_pde_splitting s) {
  return (unsigned)s < 2 ? split_names[s] : NULL;
}

int fpf_pde_splitting_parse(const char *s, fpf_pde_splitting *f) {
  for (int i = 0; i < 2; i++)
    if (s && !strcmp(s, split_names[i])) {
      *f = (fpf_pde_splitting)i;
      return 0;
    }
  return -1;
}

void fpf_pde_options_init(fpf_pde_options *o) {
  memset(o, 0, sizeof *o);
  for (int k = 0; k < 2; k++) {
    o->lo[k] = -6.0;
    o->hi[k] = 6.0;
    o->cells[k] = 120;
    o->diffusion_scale[k] = 1.0;
  }
  o->dt = 0.01;
  o->t0 = 0.0;
  o->flux = FPF_PDE_CHANG_COOPER;
  o->splitting = FPF_PDE_LIE;
  fpf_dyn_options_init(&o->dyn);
  o->min_cells_per_well = 4.0;
  o->max_outside = 1e-3;
}

static fpf_status check_axis(const fpf_pde_options *o, int k,
                             fpf_error *err) {
  if (!isfinite(o->lo[k]) || !isfinite(o->hi[k]) || !(o->hi[k] > o->lo[k]))
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: box along axis %d is [%g, %g]: lo and hi must "
                         "be finite with hi > lo (zero or negative size)",
                         k + 1, o->lo[k], o->hi[k]);
  if (o->cells[k] < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: cells along axis %d = %zu: needs at least 2",
                         k + 1, o->cells[k]);
  if (!(o->diffusion_scale[k] > 0) || !isfinite(o->diffusion_scale[k]))
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: diffusion_scale along axis %d = %g: must be "
                         "finite and > 0", k + 1, o->diffusion_scale[k]);
  return FPF_OK;
}

fpf_status fpf_pde_options_check(const fpf_pde_options *o, size_t dim,
                                 fpf_error *err) {
  if (!o) return fpf_error_set(err, FPF_EINVAL, "pde: options are NULL");
  if (dim < 1 || dim > 2)
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "pde: the grid solver works in 1 or 2 dimensions, "
                         "the landscape has d = %zu", dim);
  fpf_status st;
  size_t total = 1;
  for (size_t k = 0; k < dim; k++) {
    if ((st = check_axis(o, (int)k, err))) return st;
    total = o->cells[k] > MAX_CELLS ? MAX_CELLS + 1 : total * o->cells[k];
  }
  if (total > MAX_CELLS)
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: %zu x %zu cells: more than the %zu the solver "
                         "takes", o->cells[0], dim == 2 ? o->cells[1] : 1,
                         MAX_CELLS);
  if (!(o->dt > 0) || !isfinite(o->dt))
    return fpf_error_set(err, FPF_EINVAL, "pde: dt = %g: must be finite and "
                         "> 0", o->dt);
  if (!(o->t0 >= 0) || !isfinite(o->t0))
    return fpf_error_set(err, FPF_EINVAL, "pde: t0 = %g: must be finite and "
                         ">= 0", o->t0);
  if (!fpf_pde_flux_form_name(o->flux) || !fpf_pde_splitting_name(o->splitting))
    return fpf_error_set(err, FPF_EINVAL, "pde: flux = %d or splitting = %d "
                         "unknown", (int)o->flux, (int)o->splitting);
  if (!(o->min_cells_per_well >= 0) || !isfinite(o->min_cells_per_well))
    return fpf_error_set(err, FPF_EINVAL, "pde: min_cells_per_well = %g: "
                         "must be >= 0", o->min_cells_per_well);
  if (!(o->max_outside >= 0 && o->max_outside <= 1))
    return fpf_error_set(err, FPF_EINVAL, "pde: max_outside = %g: must be "
                         "in [0, 1]", o->max_outside);
  if ((st = fpf_dyn_options_check(&o->dyn, err))) {
    fpf_error_prefix(err, "pde: ");
    return st;
  }
  return FPF_OK;
}

/* ---- creation ---------------------------------------------------------- */

void fpf_pde_destroy(fpf_pde *p) {
  if (!p) return;
  for (int k = 0; k < 2; k++) {
    fpf_dfree(p->x[k]);
    fpf_dfree(p->dL[k]);
  }
  fpf_dfree(p->L);
  fpf_dfree(p->grad);
  fpf_dfree(p->rho);
  fpf_dfree(p->prev);
  fpf_dfree(p->Phi);
  for (int k = 0; k < 2; k++) {
    fpf_dfree(p->ra[k]);
    fpf_dfree(p->rb[k]);
  }
  fpf_dfree(p->e);
  fpf_dfree(p->ip);
  fpf_dfree(p->well_z);
  fpf_dfree(p->well_H);
  free(p);
}

static fpf_status allocate(fpf_pde *p, fpf_error *err) {
  size_t n = p->size;
  int ok = 1;
  for (size_t k = 0; k < p->dim; k++) {
    ok &= (p->x[k] = fpf_dalloc(p->n[k])) != NULL;
    ok &= (p->dL[k] = fpf_dalloc(n)) != NULL;
    ok &= (p->ra[k] = fpf_dalloc(n)) != NULL;
    ok &= (p->rb[k] = fpf_dalloc(n)) != NULL;
  }
  double **arrays[] = {&p->L, &p->rho, &p->prev, &p->Phi, &p->e, &p->ip};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
    ok &= (*arrays[i] = fpf_dalloc(n)) != NULL;
  ok &= (p->grad = fpf_dalloc(n * p->dim)) != NULL;
  if (!ok)
    return fpf_error_set(err, FPF_ENOMEM, "pde: out of memory for %zu cells",
                         n);
  return FPF_OK;
}

/* L and grad L at every cell centre, and the jumps of L across faces. */
static fpf_status evaluate_landscape(fpf_pde *p, fpf_landscape *L,
                                     fpf_error *err) {
  size_t d = p->dim, n = p->size;
  double *z = fpf_dalloc(n * d);
  if (!z) return fpf_error_set(err, FPF_ENOMEM, "pde: out of memory");
  for (size_t c = 0; c < n; c++) {
    z[c * d] = p->x[0][c / p->n[1]];
    if (d == 2) z[c * d + 1] = p->x[1][c % p->n[1]];
  }
  fpf_status st = fpf_landscape_reserve(L, n, err);
  if (!st) st = fpf_landscape_eval(L, n, z, p->L, p->grad, err);
  fpf_dfree(z);
  if (st) {
    fpf_error_prefix(err, "pde: landscape %s on the grid: ",
                     fpf_landscape_name(L));
    return st;
  }
  for (size_t k = 0; k < d; k++) {
    size_t s = p->stride[k];
    for (size_t c = 0; c < n; c++) {
      size_t pos = k == 0 ? c / p->n[1] : c % p->n[1];
      p->dL[k][c] = pos + 1 < p->n[k] ? p->L[c] - p->L[c + s] : 0.0;
    }
  }
  return FPF_OK;
}

/* Whether cell c is an interior local minimum of L (<= its 3^d - 1
   neighbours, none of them on a wall). */
static int is_well(const fpf_pde *p, size_t c) {
  size_t i1 = c / p->n[1], i2 = c % p->n[1];
  if (i1 == 0 || i1 + 1 >= p->n[0]) return 0;
  if (p->dim == 2 && (i2 == 0 || i2 + 1 >= p->n[1])) return 0;
  long r2 = p->dim == 2 ? 1 : 0;
  for (long a = -1; a <= 1; a++)
    for (long b = -r2; b <= r2; b++) {
      if (!a && !b) continue;
      size_t q = (size_t)((long)c + a * (long)p->n[1] + b);
      if (p->L[q] < p->L[c]) return 0;
    }
  return 1;
}

/*
 * The wells of L on the grid and the diagonal of the Hessian at each, by
 * central differences of grad L with steps of 1e-3 cells (the gradient
 * is analytic, so the difference has error O(step^2) plus rounding of
 * |grad L| eps / step, far below what the test needs).
 */
static fpf_status find_wells(fpf_pde *p, fpf_landscape *L, fpf_error *err) {
  size_t d = p->dim, nw = 0;
  for (size_t c = 0; c < p->size && nw < MAX_WELLS; c++)
    nw += (size_t)is_well(p, c);
  p->nwells = nw;
  if (!nw) return FPF_OK;
  p->well_z = fpf_dalloc(nw * d);
  p->well_H = fpf_dalloc(nw * d);
  double *z = fpf_dalloc(2 * d * nw * d), *g = fpf_dalloc(2 * d * nw * d);
  fpf_status st = FPF_OK;
  if (!p->well_z || !p->well_H || !z || !g) {
    st = fpf_error_set(err, FPF_ENOMEM, "pde: out of memory");
    goto done;
  }
  size_t w = 0;
  for (size_t c = 0; c < p->size && w < nw; c++) {
    if (!is_well(p, c)) continue;
    p->well_z[w * d] = p->x[0][c / p->n[1]];
    if (d == 2) p->well_z[w * d + 1] = p->x[1][c % p->n[1]];
    for (size_t k = 0; k < d; k++)
      for (int sgn = 0; sgn < 2; sgn++) {
        double *q = z + ((w * d + k) * 2 + (size_t)sgn) * d;
        memcpy(q, p->well_z + w * d, d * sizeof *q);
        q[k] += (sgn ? 1e-3 : -1e-3) * p->h[k];
      }
    w++;
  }
  if ((st = fpf_landscape_reserve(L, 2 * d * nw, err)) ||
      (st = fpf_landscape_eval(L, 2 * d * nw, z, NULL, g, err))) {
    fpf_error_prefix(err, "pde: landscape near its minima: ");
    goto done;
  }
  for (w = 0; w < nw; w++)
    for (size_t k = 0; k < d; k++) {
      const double *lo = g + ((w * d + k) * 2) * d, *hi = lo + d;
      p->well_H[w * d + k] = (hi[k] - lo[k]) / (2e-3 * p->h[k]);
    }
done:
  fpf_dfree(z);
  fpf_dfree(g);
  return st;
}

fpf_status fpf_pde_create(fpf_pde **out, fpf_landscape *L,
                          const fpf_pde_options *o, fpf_error *err) {
  if (!out) return fpf_error_set(err, FPF_EINVAL, "pde: out is NULL");
  *out = NULL;
  if (!L) return fpf_error_set(err, FPF_EINVAL, "pde: landscape is NULL");
  size_t dim = fpf_landscape_dim(L);
  fpf_status st = fpf_pde_options_check(o, dim, err);
  if (st) return st;
  fpf_pde *p = calloc(1, sizeof *p);
  if (!p) return fpf_error_set(err, FPF_ENOMEM, "pde: out of memory");
  p->o = *o;
  p->dim = dim;
  p->n[0] = o->cells[0];
  p->n[1] = dim == 2 ? o->cells[1] : 1;
  p->size = p->n[0] * p->n[1];
  p->stride[0] = p->n[1];
  p->stride[1] = 1;
  p->vol = 1.0;
  for (size_t k = 0; k < dim; k++) {
    p->h[k] = (o->hi[k] - o->lo[k]) / (double)p->n[k];
    p->vol *= p->h[k];
  }
  if (dim == 1) p->h[1] = 1.0;
  p->t = o->t0;
  if ((st = allocate(p, err))) goto fail;
  for (size_t k = 0; k < dim; k++)
    for (size_t i = 0; i < p->n[k]; i++)
      p->x[k][i] = o->lo[k] + ((double)i + 0.5) * p->h[k];
  if ((st = evaluate_landscape(p, L, err)) || (st = find_wells(p, L, err)) ||
      (st = fpf_pde_check_resolution(p, o->t0, err)))
    goto fail;
  *out = p;
  return FPF_OK;
fail:
  fpf_pde_destroy(p);
  return st;
}

/* ---- accessors --------------------------------------------------------- */

size_t fpf_pde_dim(const fpf_pde *p) { return p->dim; }
size_t fpf_pde_cells(const fpf_pde *p, int axis) {
  return axis == 0 || axis == 1 ? p->n[axis] : 0;
}
size_t fpf_pde_size(const fpf_pde *p) { return p->size; }
double fpf_pde_cell_width(const fpf_pde *p, int axis) {
  return axis == 0 || (axis == 1 && p->dim == 2) ? p->h[axis] : NAN;
}
const double *fpf_pde_centres(const fpf_pde *p, int axis) {
  return axis >= 0 && (size_t)axis < p->dim ? p->x[axis] : NULL;
}
double fpf_pde_time(const fpf_pde *p) { return p->t; }
long fpf_pde_steps_done(const fpf_pde *p) { return p->steps; }
const double *fpf_pde_density(const fpf_pde *p) { return p->rho; }

/* ---- diffusion and resolution ----------------------------------------- */

/* D_k = c s_k (1 + gamma F_kk) at t, F from the density r. */
static fpf_status diffusion(const fpf_pde *p, double t, const double *r,
                            double D[2], double F[3], fpf_error *err) {
  double c = fpf_schedule_c(&p->o.dyn, t), g = p->o.dyn.gamma;
  F[0] = F[1] = F[2] = 0;
  if (g != 0) fpf_pde_fisher(p, r, F);
  for (size_t k = 0; k < 2; k++) {
    D[k] = k < p->dim ? c * p->o.diffusion_scale[k] * (1.0 + g * F[k]) : 0;
    if (k < p->dim && !(D[k] > 0 && isfinite(D[k])))
      return fpf_error_set(err, FPF_ENOTPD,
                           "pde: diffusion D_%zu = c s (1 + gamma F_%zu%zu) "
                           "= %g is not > 0 at t = %g (c = %g, gamma = %g, "
                           "F_%zu%zu = %g): gamma must exceed -1/F",
                           k + 1, k + 1, k + 1, D[k], t, c, g, k + 1, k + 1,
                           F[k]);
  }
  return FPF_OK;
}

/* Cells across the narrowest well along each axis, and which well. */
static void resolution(const fpf_pde *p, double t, const double D[2],
                       double cells[2], size_t well[2]) {
  double eta = fpf_schedule_eta(&p->o.dyn, t);
  for (size_t k = 0; k < 2; k++) {
    cells[k] = INFINITY;
    well[k] = 0;
    if (k >= p->dim) continue;
    for (size_t w = 0; w < p->nwells; w++) {
      double H = p->well_H[w * p->dim + k];
      if (!(H > 0)) continue;
      double v = 2.0 * sqrt(D[k] / (eta * H)) / p->h[k];
      if (v < cells[k]) cells[k] = v, well[k] = w;
    }
  }
}

void fpf_pde_resolution(fpf_pde *p, double t, double cells[2]) {
  double D[2], F[3];
  size_t well[2];
  if (diffusion(p, t, p->rho, D, F, NULL)) {
    cells[0] = cells[1] = NAN;
    return;
  }
  resolution(p, t, D, cells, well);
}

/* The resolution test with the diffusion D already known. */
static fpf_status check_resolution(const fpf_pde *p, double t,
                                   const double D[2], fpf_error *err) {
  double cells[2];
  size_t well[2];
  resolution(p, t, D, cells, well);
  for (size_t k = 0; k < p->dim; k++) {
    if (!(cells[k] < p->o.min_cells_per_well)) continue;
    const double *z = p->well_z + well[k] * p->dim;
    char at[64];
    if (p->dim == 1) snprintf(at, sizeof at, "z = %.4g", z[0]);
    else snprintf(at, sizeof at, "z = (%.4g, %.4g)", z[0], z[1]);
    double eta = fpf_schedule_eta(&p->o.dyn, t);
    return fpf_error_set(
        err, FPF_EINVAL,
        "pde: grid too coarse for the landscape: the well at %s is %.3g "
        "cells wide along axis %zu at t = %g (width 2 sqrt(D / (eta "
        "L''_%zu%zu)) = %.4g with D = %.4g, eta = %.4g, L'' = %.4g; cell "
        "width %.4g), fewer than min_cells_per_well = %g: use at least "
        "%.0f cells on this box",
        at, cells[k], k + 1, t, k + 1, k + 1, cells[k] * p->h[k], D[k], eta,
        p->well_H[well[k] * p->dim + k], p->h[k], p->o.min_cells_per_well,
        ceil((double)p->n[k] * p->o.min_cells_per_well / cells[k]));
  }
  return FPF_OK;
}

fpf_status fpf_pde_check_resolution(fpf_pde *p, double t, fpf_error *err) {
  double D[2], F[3];
  fpf_status st = diffusion(p, t, p->rho, D, F, err);
  return st ? st : check_resolution(p, t, D, err);
}

/* ---- initial densities ------------------------------------------------- */

static double grid_mass(const fpf_pde *p, const double *r) {
  double m = 0;
  for (size_t c = 0; c < p->size; c++) m += r[c];
  return m * p->vol;
}

/*
 * Adopts the candidate density in p->e (where every fpf_pde_set_* builds
 * it) as rho, scaled to mass 1, and restarts the mass bookkeeping.  A
 * candidate without mass leaves rho as it was.
 */
static fpf_status adopt(fpf_pde *p, const char *what, fpf_error *err) {
  double m = grid_mass(p, p->e);
  if (!(m > 0) || !isfinite(m))
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: %s has mass %g on the grid: needs a finite "
                         "mass > 0 inside the box", what, m);
  for (size_t c = 0; c < p->size; c++) p->rho[c] = p->e[c] / m;
  p->mass0 = grid_mass(p, p->rho);
  return FPF_OK;
}

fpf_status fpf_pde_set_density(fpf_pde *p, const double *rho,
                               fpf_error *err) {
  if (!rho) return fpf_error_set(err, FPF_EINVAL, "pde: density is NULL");
  for (size_t c = 0; c < p->size; c++)
    if (!(rho[c] >= 0) || !isfinite(rho[c]))
      return fpf_error_set(err, isfinite(rho[c]) ? FPF_EINVAL
                                                 : FPF_ENONFINITE,
                           "pde: density at cell %zu is %g: must be finite "
                           "and >= 0", c, rho[c]);
  memcpy(p->e, rho, p->size * sizeof *rho);
  return adopt(p, "the density", err);
}

fpf_status fpf_pde_set_function(fpf_pde *p, fpf_pde_density_fn f,
                                void *user, fpf_error *err) {
  if (!f) return fpf_error_set(err, FPF_EINVAL, "pde: function is NULL");
  for (size_t c = 0; c < p->size; c++) {
    double z[2] = {p->x[0][c / p->n[1]],
                   p->dim == 2 ? p->x[1][c % p->n[1]] : 0}, v = 0;
    if (f(user, z, &v) != 0)
      return fpf_error_set(err, FPF_ECALLBACK,
                           "pde: the density function failed at z = (%g, "
                           "%g)", z[0], z[1]);
    if (!(v >= 0) || !isfinite(v))
      return fpf_error_set(err, FPF_EINVAL,
                           "pde: the density function gives %g at z = (%g, "
                           "%g): must be finite and >= 0", v, z[0], z[1]);
    p->e[c] = v;
  }
  return adopt(p, "the density function", err);
}

/* The cell index along axis k of coordinate v, or -1 outside the box
   (the upper wall belongs to the last cell). */
static long locate(const fpf_pde *p, int k, double v) {
  if (!(v >= p->o.lo[k] && v <= p->o.hi[k])) return -1;
  long i = (long)floor((v - p->o.lo[k]) / p->h[k]);
  if (i >= (long)p->n[k]) i = (long)p->n[k] - 1;
  return i < 0 ? 0 : i;
}

static long locate_point(const fpf_pde *p, const double *z) {
  long i1 = locate(p, 0, z[0]), i2 = p->dim == 2 ? locate(p, 1, z[1]) : 0;
  if (i1 < 0 || i2 < 0) return -1;
  return i1 * (long)p->n[1] + i2;
}

fpf_status fpf_pde_set_point(fpf_pde *p, const double *z0, fpf_error *err) {
  if (!z0) return fpf_error_set(err, FPF_EINVAL, "pde: point is NULL");
  long c = locate_point(p, z0);
  if (c < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: point start z = (%g, %g) is outside the box "
                         "[%g, %g] x [%g, %g]", z0[0],
                         p->dim == 2 ? z0[1] : 0.0, p->o.lo[0], p->o.hi[0],
                         p->dim == 2 ? p->o.lo[1] : 0.0,
                         p->dim == 2 ? p->o.hi[1] : 0.0);
  memset(p->e, 0, p->size * sizeof *p->e);
  p->e[c] = 1.0;
  return adopt(p, "the point start", err);
}

/* Mass of N(m, s^2) in [a, b], from whichever tail keeps digits. */
static double normal_mass(double m, double s, double a, double b) {
  double u = (a - m) / (s * M_SQRT2), v = (b - m) / (s * M_SQRT2);
  if (u >= 0) return 0.5 * (erfc(u) - erfc(v));
  if (v <= 0) return 0.5 * (erfc(-v) - erfc(-u));
  return 0.5 * (erf(v) - erf(u));
}

fpf_status fpf_pde_set_gaussian(fpf_pde *p, const double *mean,
                                const double *std, fpf_error *err) {
  if (!mean || !std)
    return fpf_error_set(err, FPF_EINVAL, "pde: mean or std is NULL");
  double inside = 1.0;
  for (size_t k = 0; k < p->dim; k++) {
    if (!isfinite(mean[k]) || !(std[k] > 0) || !isfinite(std[k]))
      return fpf_error_set(err, FPF_EINVAL,
                           "pde: Gaussian start along axis %zu: mean = %g, "
                           "std = %g (std must be finite and > 0)", k + 1,
                           mean[k], std[k]);
    inside *= normal_mass(mean[k], std[k], p->o.lo[k], p->o.hi[k]);
  }
  if (1.0 - inside > p->o.max_outside)
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: the box does not hold the initial density: "
                         "%.3g of N(mean, std^2) lies outside (max_outside "
                         "= %g); widen the box", 1.0 - inside,
                         p->o.max_outside);
  double *m2 = p->ip; /* scratch: cell masses along axis 2 */
  for (size_t j = 0; j < p->n[1]; j++)
    m2[j] = p->dim == 2 ? normal_mass(mean[1], std[1], p->x[1][j] -
                                      0.5 * p->h[1], p->x[1][j] +
                                      0.5 * p->h[1])
                        : 1.0;
  for (size_t i = 0; i < p->n[0]; i++) {
    double m1 = normal_mass(mean[0], std[0], p->x[0][i] - 0.5 * p->h[0],
                            p->x[0][i] + 0.5 * p->h[0]);
    for (size_t j = 0; j < p->n[1]; j++)
      p->e[i * p->n[1] + j] = m1 * m2[j] / p->vol;
  }
  return adopt(p, "the Gaussian start", err);
}

/* Cell counts of the particles into hist (not scaled); *out outside. */
static fpf_status bin_particles(const fpf_pde *p, const double *z, size_t n,
                                double *hist, size_t *out, fpf_error *err) {
  if (!z || n == 0)
    return fpf_error_set(err, FPF_EINVAL, "pde: no particles (n = %zu)", n);
  size_t r, col;
  if (fpf_find_nonfinite(z, n, p->dim, &r, &col) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "pde: particle %zu, coordinate %zu is %g", r, col,
                         z[r * p->dim + col]);
  memset(hist, 0, p->size * sizeof *hist);
  *out = 0;
  for (size_t i = 0; i < n; i++) {
    long c = locate_point(p, z + i * p->dim);
    if (c < 0) (*out)++;
    else hist[c] += 1.0;
  }
  return FPF_OK;
}

fpf_status fpf_pde_set_particles(fpf_pde *p, const double *z, size_t n,
                                 size_t *outside, fpf_error *err) {
  size_t out = 0;
  fpf_status st = bin_particles(p, z, n, p->e, &out, err);
  if (outside) *outside = out;
  if (st) return st;
  double frac = (double)out / (double)n;
  if (frac > p->o.max_outside || out == n)
    return fpf_error_set(err, FPF_EINVAL,
                         "pde: the box does not hold the initial density: "
                         "%zu of %zu particles (%.3g) lie outside (max_outside "
                         "= %g); widen the box", out, n, frac,
                         p->o.max_outside);
  return adopt(p, "the particle histogram", err);
}

fpf_status fpf_pde_gibbs(fpf_pde *p, double t, double *rho, fpf_error *err) {
  double D[2], F[3];
  fpf_status st = diffusion(p, t, p->rho, D, F, err);
  if (st) return st;
  if (p->dim == 2 && fabs(D[0] - D[1]) > 1e-12 * D[0])
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "pde: no Gibbs state with D_1 = %g != D_2 = %g "
                         "(its stationary state carries a flux)", D[0],
                         D[1]);
  double s = fpf_schedule_eta(&p->o.dyn, t) / D[0], lmin = INFINITY, m = 0;
  for (size_t c = 0; c < p->size; c++) lmin = fmin(lmin, p->L[c]);
  for (size_t c = 0; c < p->size; c++) m += rho[c] = exp(-s * (p->L[c] - lmin));
  m *= p->vol;
  for (size_t c = 0; c < p->size; c++) rho[c] /= m;
  return FPF_OK;
}

fpf_status fpf_pde_set_gibbs(fpf_pde *p, fpf_error *err) {
  /* Into scratch: fpf_pde_gibbs reads D (through F) from p->rho. */
  fpf_status st = fpf_pde_gibbs(p, p->t, p->e, err);
  return st ? st : adopt(p, "the Gibbs state", err);
}

/* ---- stepping ---------------------------------------------------------- */

/*
 * One step of length h that ends at t1 (= p->t + h up to rounding, which
 * is left out of h so that equal steps reuse their coefficients):
 * backward Euler sweeps, split in 2-D.
 */
static fpf_status step_to(fpf_pde *p, double t1, double h, fpf_error *err) {
  double D[2], F[3];
  double eta = fpf_schedule_eta(&p->o.dyn, t1);
  fpf_status st;
  if ((st = diffusion(p, t1, p->rho, D, F, err)) ||
      (st = check_resolution(p, t1, D, err)))
    return st;
  memcpy(p->prev, p->rho, p->size * sizeof *p->rho);
  fpf_pde_entropy_prepare(p, p->prev);
  if (p->dim == 1) {
    st = fpf_pde_sweep(p, 0, h, eta, D[0], err);
  } else if (p->o.splitting == FPF_PDE_LIE) {
    if (!(st = fpf_pde_sweep(p, 0, h, eta, D[0], err)))
      st = fpf_pde_sweep(p, 1, h, eta, D[1], err);
  } else {
    if (!(st = fpf_pde_sweep(p, 0, 0.5 * h, eta, D[0], err)) &&
        !(st = fpf_pde_sweep(p, 1, h, eta, D[1], err)))
      st = fpf_pde_sweep(p, 0, 0.5 * h, eta, D[0], err);
  }
  if (!st) {
    /* All terms are >= 0, so only an overflow can leave a bad value. */
    double m = grid_mass(p, p->rho);
    if (!isfinite(m))
      st = fpf_error_set(err, FPF_ENONFINITE, "pde: the density overflowed "
                         "(mass %g)", m);
  }
  if (st) {
    memcpy(p->rho, p->prev, p->size * sizeof *p->rho);
    return st;
  }
  p->t = t1;
  p->steps++;
  return FPF_OK;
}

fpf_status fpf_pde_step(fpf_pde *p, double h, fpf_error *err) {
  if (!(h > 0) || !isfinite(h))
    return fpf_error_set(err, FPF_EINVAL, "pde: step h = %g: must be finite "
                         "and > 0", h);
  fpf_status st = step_to(p, p->t + h, h, err);
  if (st) fpf_error_prefix(err, "step at t = %g: ", p->t);
  return st;
}

fpf_status fpf_pde_advance(fpf_pde *p, double t, fpf_error *err) {
  double t0 = p->t, span = t - t0;
  if (!isfinite(t) || span < -1e-12 * fmax(1.0, fabs(t0)))
    return fpf_error_set(err, FPF_EINVAL, "pde: advance to t = %g, before "
                         "the current time %g", t, t0);
  /* A span within rounding of a whole number of steps takes that many. */
  double k = ceil(span / p->o.dt - 1e-9);
  if (k < 1) {
    p->t = fmax(t, t0);
    return FPF_OK;
  }
  double h = span / k;
  for (double i = 1; i <= k; i++) {
    double t1 = i == k ? t : t0 + i * h;
    fpf_status st = step_to(p, t1, h, err);
    if (st) {
      fpf_error_prefix(err, "step to t = %g (last good t = %g): ", t1, p->t);
      return st;
    }
  }
  return FPF_OK;
}

/* ---- observables ------------------------------------------------------- */

/* Cell-centre flux along an axis into J (stride dim), from face fluxes
   in f; returns max |w|. */
static double centre_flux(fpf_pde *p, int axis, double eta, double D,
                          double *f, double *J) {
  double wmax = fpf_pde_face_flux(p, axis, eta, D, f);
  size_t s = p->stride[axis];
  for (size_t c = 0; c < p->size; c++) {
    size_t pos = axis == 0 ? c / p->n[1] : c % p->n[1];
    double below = pos > 0 ? f[c - s] : 0.0;
    J[c * p->dim + (size_t)axis] = 0.5 * (below + f[c]);
  }
  return wmax;
}

fpf_status fpf_pde_flux(fpf_pde *p, double *J, fpf_error *err) {
  double D[2], F[3], eta = fpf_schedule_eta(&p->o.dyn, p->t);
  fpf_status st = diffusion(p, p->t, p->rho, D, F, err);
  if (st) return st;
  for (size_t k = 0; k < p->dim; k++)
    centre_flux(p, (int)k, eta, D[k], p->e, J);
  return FPF_OK;
}

/* Moments, entropy and the rest of the metrics that are plain sums. */
static void moments(const fpf_pde *p, fpf_pde_metrics *m) {
  double s0 = 0, s1[2] = {0, 0}, s2[2] = {0, 0}, H = 0, Lm = 0, edge = 0;
  m->rho_min = INFINITY;
  m->rho_max = -INFINITY;
  for (size_t c = 0; c < p->size; c++) {
    double r = p->rho[c];
    size_t i[2] = {c / p->n[1], c % p->n[1]};
    m->rho_min = fmin(m->rho_min, r);
    m->rho_max = fmax(m->rho_max, r);
    s0 += r;
    Lm += r * p->L[c];
    if (r > 0) H -= r * log(r);
    int at_wall = 0;
    for (size_t k = 0; k < p->dim; k++) {
      double z = p->x[k][i[k]];
      s1[k] += r * z;
      s2[k] += r * z * z;
      at_wall |= i[k] == 0 || i[k] + 1 == p->n[k];
    }
    if (at_wall) edge += r;
  }
  m->mass = s0 * p->vol;
  m->mass_drift = p->mass0 > 0 ? (m->mass - p->mass0) / p->mass0 : NAN;
  m->entropy = H * p->vol;
  m->loss_mean = s0 > 0 ? Lm / s0 : NAN;
  m->edge_mass = s0 > 0 ? edge / s0 : NAN;
  for (size_t k = 0; k < 2; k++) {
    m->mean[k] = k < p->dim && s0 > 0 ? s1[k] / s0 : 0;
    m->var[k] = k < p->dim && s0 > 0 ? s2[k] / s0 - m->mean[k] * m->mean[k]
                                     : 0;
  }
}

/* KL(rho / mass || Gibbs at s = eta / D), with log Z by a stable sum. */
static double kl_gibbs(const fpf_pde *p, double s, double mass) {
  double lmin = INFINITY, z = 0, kl = 0;
  for (size_t c = 0; c < p->size; c++) lmin = fmin(lmin, p->L[c]);
  for (size_t c = 0; c < p->size; c++) z += exp(-s * (p->L[c] - lmin));
  double logZ = log(z * p->vol);
  for (size_t c = 0; c < p->size; c++) {
    double q = p->rho[c] / mass;
    if (q > 0) kl += q * (log(q) + s * (p->L[c] - lmin) + logZ);
  }
  return kl * p->vol;
}

fpf_status fpf_pde_observe(fpf_pde *p, fpf_pde_metrics *m, fpf_error *err) {
  if (!m) return fpf_error_set(err, FPF_EINVAL, "pde: metrics is NULL");
  memset(m, 0, sizeof *m);
  m->t = p->t;
  m->steps = p->steps;
  m->eta = fpf_schedule_eta(&p->o.dyn, p->t);
  m->c = fpf_schedule_c(&p->o.dyn, p->t);
  fpf_status st = diffusion(p, p->t, p->rho, m->D, m->fisher, err);
  if (st) return st;
  if (p->o.dyn.gamma == 0) fpf_pde_fisher(p, p->rho, m->fisher);
  moments(p, m);
  m->kl_gibbs = NAN;
  if (m->mass > 0 && (p->dim == 1 || fabs(m->D[0] - m->D[1]) <=
                                         1e-12 * m->D[0]))
    m->kl_gibbs = kl_gibbs(p, m->eta / m->D[0], m->mass);

  /* |J| at the cell centres; prev holds the face fluxes, ip the field. */
  double *J = p->ip, wmax = 0;
  if (p->dim == 2) J = fpf_dalloc(2 * p->size);
  if (!J) return fpf_error_set(err, FPF_ENOMEM, "pde: out of memory");
  for (size_t k = 0; k < p->dim; k++)
    wmax = fmax(wmax, centre_flux(p, (int)k, m->eta, m->D[k], p->prev, J));
  double l1 = 0;
  for (size_t c = 0; c < p->size; c++) {
    double a = J[c * p->dim], b = p->dim == 2 ? J[c * 2 + 1] : 0;
    l1 += sqrt(a * a + b * b);
  }
  m->flux_l1 = l1 * p->vol;
  m->peclet_max = wmax;
  if (J != p->ip) fpf_dfree(J);
  return FPF_OK;
}

/* ---- particles against the grid --------------------------------------- */

/* Replaces r by its block means over coarsen x coarsen cells. */
static void pool(const fpf_pde *p, double *r, size_t b) {
  if (b <= 1) return;
  size_t n1 = p->n[0], n2 = p->n[1], b2 = p->dim == 2 ? b : 1;
  for (size_t i0 = 0; i0 < n1; i0 += b)
    for (size_t j0 = 0; j0 < n2; j0 += b2) {
      size_t i1 = i0 + b < n1 ? i0 + b : n1, j1 = j0 + b2 < n2 ? j0 + b2 : n2;
      double s = 0;
      for (size_t i = i0; i < i1; i++)
        for (size_t j = j0; j < j1; j++) s += r[i * n2 + j];
      s /= (double)((i1 - i0) * (j1 - j0));
      for (size_t i = i0; i < i1; i++)
        for (size_t j = j0; j < j1; j++) r[i * n2 + j] = s;
    }
}

fpf_status fpf_pde_histogram(const fpf_pde *p, const double *z, size_t n,
                             size_t coarsen, double *hist, size_t *outside,
                             fpf_error *err) {
  if (!hist) return fpf_error_set(err, FPF_EINVAL, "pde: hist is NULL");
  if (coarsen < 1)
    return fpf_error_set(err, FPF_EINVAL, "pde: coarsen = 0: must be >= 1");
  size_t out = 0;
  fpf_status st = bin_particles(p, z, n, hist, &out, err);
  if (outside) *outside = out;
  if (st) return st;
  double scale = 1.0 / ((double)n * p->vol);
  for (size_t c = 0; c < p->size; c++) hist[c] *= scale;
  pool(p, hist, coarsen);
  return FPF_OK;
}

fpf_status fpf_pde_l1_distance(const fpf_pde *p, const double *z, size_t n,
                               size_t coarsen, double *dist, size_t *outside,
                               fpf_error *err) {
  if (!dist) return fpf_error_set(err, FPF_EINVAL, "pde: dist is NULL");
  double *hist = fpf_dalloc(p->size), *r = fpf_dalloc(p->size);
  size_t out = 0;
  fpf_status st = FPF_OK;
  if (!hist || !r)
    st = fpf_error_set(err, FPF_ENOMEM, "pde: out of memory");
  else
    st = fpf_pde_histogram(p, z, n, coarsen, hist, &out, err);
  if (!st) {
    memcpy(r, p->rho, p->size * sizeof *r);
    pool(p, r, coarsen);
    double s = 0;
    for (size_t c = 0; c < p->size; c++) s += fabs(hist[c] - r[c]);
    *dist = s * p->vol + (double)out / (double)n;
  }
  if (outside) *outside = out;
  fpf_dfree(hist);
  fpf_dfree(r);
  return st;
}
