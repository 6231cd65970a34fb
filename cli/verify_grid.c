/*
 * fpflow verify, particles against the grid solver: the same Fokker-Planck
 * flow (schedules, entropy term on) integrated by fpf_dyn with N particles
 * and by fpf_pde on a grid, compared at a time t by the L1 distance
 * between the particles' histogram and the grid density (and, in 1-D, by
 * W2).  For particles that follow the grid's law the L1 distance is the
 * histogram's own sampling noise, whose expectation is computed exactly
 * from the grid's cell masses (binomial mean absolute deviations), so the
 * check has an expected value and not only a trend.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/dyn.h"
#include "fpflow/landscape.h"
#include "fpflow/pde.h"
#include "fpflow/rng.h"
#include "fpflow/transport.h"
#include "verify.h"

enum { STREAM_GRID = FPF_STREAM_USER + 2 };

/* The flow both methods integrate (besides each case's own settings). */
#define G_ETA0 1.0
#define G_TAU_ETA 1000.0
#define G_D0 0.5
#define G_TAU_D 500.0
#define G_DT 0.01   /* particles' Euler-Maruyama step */
#define G_T 1.0     /* comparison time */
#define G_H 0.1     /* KDE bandwidth (fixed) */
#define G_CELLS 120 /* per axis, on [-6, 6]: cell width 0.1 */
/* Allowance for the discretisation errors (Euler-Maruyama at dt = 0.01,
   the grid's O(h^2 + dt) error, the KDE's smoothing of the entropy term)
   on top of the sampling noise: the L1 distance between two normal laws
   whose variances differ by 2%. */
#define G_ALLOW 0.01
/* Tolerance in standard deviations of the sampling noise. */
#define G_NSD 4.0
/* The rate check: the fitted slope of log L1 against log N at most this. */
#define G_SLOPE_MAX (-0.25)
/* Sub-points per cell of the grid law's cloud for W2 (1-D). */
#define G_SUB 8

#define G_MAXN 8

/*
 * The KDE's sums: exact below G_BINNED_FROM particles, binned FFT sums
 * from there on (set explicitly: at h = 0.1 in 2-D the library's auto
 * choice keeps the exact O(N^2) sums, which take ~20 s a step at
 * N = 10^5).  The binned sums' error (~1e-4 relative on log rho at these
 * grids, kde.h) is far below the sampling noise compared here.
 */
#define G_BINNED_FROM 10000

static fpf_kde_method grid_kde(double N) {
  return N >= G_BINNED_FROM ? FPF_KDE_BINNED : FPF_KDE_EXACT;
}

/* Work units of one step (vf_kde_units' scale: ~1 ns each), from the
   measured cost of the binned sums: ~0.6 us per particle in 1-D, and
   ~3 us per particle plus ~70 ms of FFTs per step in 2-D. */
static double step_units(size_t d, double N) {
  if (grid_kde(N) == FPF_KDE_EXACT) return vf_kde_units((size_t)N, 1);
  return d == 1 ? 600 * N : 3000 * N + 7e7;
}

typedef struct grid_case {
  const char *name;
  size_t d;
  fpf_entropy_form form;
  double lambda, gamma;
  double m0[2], s0[2]; /* the initial law N(m0, diag(s0^2)) */
  size_t coarsen;      /* histogram blocks of coarsen^d cells */
  double grid_dt;
  /* results, one per N */
  size_t nn;
  double N[G_MAXN], l1[G_MAXN], floor[G_MAXN], sd[G_MAXN];
  double w2[G_MAXN], w2_ref[G_MAXN];
  double slope, floor_slope;
  int pass_all;
  /* 1-D figure data: cell centres, grid density, histogram, initial */
  double *x, *rho, *hist, *rho0;
  size_t ncell;
} grid_case;

static size_t grid_ns(const vf_ctx *v, double *N) {
  static const double quick[] = {300, 1000, 2000};
  static const double def[] = {1000, 3000, 10000};
  static const double full[] = {1000, 3000, 10000, 30000, 100000};
  const double *s = v->mode == VF_QUICK ? quick
                    : v->mode == VF_FULL ? full
                                         : def;
  size_t n = v->mode == VF_FULL ? 5 : 3;
  memcpy(N, s, n * sizeof *N);
  return n;
}

static void case_options(const grid_case *c, fpf_dyn_options *o) {
  fpf_dyn_options_init(o);
  o->eta0 = G_ETA0, o->tau_eta = G_TAU_ETA, o->D0 = G_D0;
  o->tau_D = G_TAU_D, o->dt = G_DT, o->lambda = c->lambda;
  o->gamma = c->gamma, o->entropy_form = c->form;
  o->bandwidth_rule = FPF_BW_FIXED, o->bandwidth = G_H;
  o->resets = 0, o->knn_k = 0;
}

/* log of the binomial coefficient C(n, k). */
static double log_choose(double n, double k) {
  return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

/* E|X - n p| for X ~ Binomial(n, p), exactly (de Moivre):
   2 nu C(n, nu) p^nu q^(n - nu + 1), nu = floor(n p) + 1. */
static double binomial_mad(double n, double p) {
  if (!(p > 0) || !(p < 1)) return 0;
  double nu = floor(n * p) + 1;
  if (nu > n) return 0;
  return 2 * nu *
         exp(log_choose(n, nu) + nu * log(p) + (n - nu + 1) * log1p(-p));
}

/*
 * The L1 distance that sampling alone gives: for N particles drawn from
 * the grid law, E sum_b |X_b / N - p_b| over the blocks b of the
 * histogram, and its standard deviation with the blocks taken as
 * independent (the multinomial's negative correlations make the true one
 * a little smaller).
 */
static void noise_floor(const fpf_pde *p, size_t coarsen, double N,
                        double *mean, double *sd) {
  size_t n1 = fpf_pde_cells(p, 0), n2 = fpf_pde_size(p) / n1;
  size_t c2 = n2 > 1 ? coarsen : 1;
  double dv = fpf_pde_cell_width(p, 0) * (n2 > 1 ? fpf_pde_cell_width(p, 1)
                                                  : 1.0);
  const double *rho = fpf_pde_density(p);
  double m = 0, var = 0;
  for (size_t a = 0; a < n1; a += coarsen)
    for (size_t b = 0; b < n2; b += c2) {
      double pb = 0;
      for (size_t i = a; i < a + coarsen && i < n1; i++)
        for (size_t j = b; j < b + c2 && j < n2; j++)
          pb += rho[i * n2 + j] * dv;
      pb = fmin(fmax(pb, 0), 1);
      double e = binomial_mad(N, pb) / N;
      m += e;
      var += fmax(pb * (1 - pb) / N - e * e, 0);
    }
  *mean = m, *sd = sqrt(var);
}

/* The grid law as a weighted 1-D cloud: G_SUB evenly spaced sub-points
   per cell, each with a G_SUB-th of the cell's mass. */
static void grid_cloud(const fpf_pde *p, double *x, double *w) {
  size_t n = fpf_pde_cells(p, 0);
  const double *c = fpf_pde_centres(p, 0), *rho = fpf_pde_density(p);
  double h = fpf_pde_cell_width(p, 0);
  for (size_t i = 0; i < n; i++)
    for (size_t s = 0; s < G_SUB; s++) {
      x[i * G_SUB + s] = c[i] - h / 2 + (s + 0.5) * h / G_SUB;
      w[i * G_SUB + s] = rho[i] * h / G_SUB;
    }
}

/* N exact draws of the grid law (piecewise constant density) by its
   inverse distribution function: the W2 that sampling alone gives. */
static void grid_sample(const fpf_pde *p, size_t N, uint64_t step,
                        double *z) {
  size_t n = fpf_pde_cells(p, 0);
  const double *c = fpf_pde_centres(p, 0), *rho = fpf_pde_density(p);
  double h = fpf_pde_cell_width(p, 0), total = 0;
  for (size_t i = 0; i < n; i++) total += rho[i] * h;
  for (size_t k = 0; k < N; k++) {
    double u;
    fpf_rng_uniforms(5, STREAM_GRID, step, k, &u, 1);
    double acc = 0, target = u * total;
    size_t i = 0;
    while (i + 1 < n && acc + rho[i] * h < target) acc += rho[i++] * h;
    double frac = rho[i] > 0 ? (target - acc) / (rho[i] * h) : 0.5;
    z[k] = c[i] - h / 2 + fmin(fmax(frac, 0), 1) * h;
  }
}

static fpf_status make_landscape(const grid_case *c, fpf_landscape **L,
                                 fpf_error *err) {
  if (c->d == 2) return fpf_landscape_two_wells(L, err);
  static const double m[2] = {-1.5, 1.5}, s[2] = {0.6, 0.6}, p[2] = {0.5,
                                                                     0.5};
  return fpf_landscape_mixture(L, 1, 2, m, s, p, err);
}

static fpf_status make_grid(const grid_case *c, fpf_landscape *L,
                            fpf_pde **out, fpf_error *err) {
  fpf_pde_options po;
  fpf_pde_options_init(&po);
  case_options(c, &po.dyn);
  po.lo[0] = po.lo[1] = -6, po.hi[0] = po.hi[1] = 6;
  po.cells[0] = po.cells[1] = G_CELLS;
  po.dt = c->grid_dt;
  fpf_status st = fpf_pde_create(out, L, &po, err);
  if (!st) st = fpf_pde_set_gaussian(*out, c->m0, c->s0, err);
  if (!st && c->d == 1) {
    /* keep the initial density for the figure */
    memcpy(c->rho0, fpf_pde_density(*out), c->ncell * sizeof *c->rho0);
  }
  if (!st) st = fpf_pde_advance(*out, G_T, err);
  return st;
}

/* N particles from N(m0, s0^2), moved to G_T; z receives them. */
static fpf_status run_particles(vf_ctx *v, grid_case *c, fpf_landscape *L,
                                size_t N, size_t k, double *z,
                                fpf_error *err) {
  size_t d = c->d;
  for (size_t i = 0; i < N; i++) {
    fpf_rng_normals(11, STREAM_GRID, 16 * d + k, i, z + i * d, d);
    for (size_t j = 0; j < d; j++)
      z[i * d + j] = c->m0[j] + c->s0[j] * z[i * d + j];
  }
  fpf_dyn_options o;
  case_options(c, &o);
  o.seed = 100 + k;
  o.kde_method = grid_kde((double)N);
  fpf_dyn *dy = NULL;
  vf_threads(v, N);
  fpf_status st = fpf_dyn_create(&dy, L, N, z, &o, err);
  long steps = lround(G_T / G_DT);
  for (long s = 0; !st && s < steps; s++) {
    st = fpf_dyn_step(dy, NULL, err);
    vf_work(v, step_units(d, (double)N));
  }
  if (!st) memcpy(z, fpf_dyn_particles(dy), N * d * sizeof *z);
  fpf_dyn_destroy(dy);
  return st;
}

/* W2 (1-D) of the particles, and of an exact sample of the grid law of
   the same size, to the grid law. */
static fpf_status w2_pair(const fpf_pde *p, const double *z, size_t N,
                          size_t k, double *w2, double *w2_ref,
                          fpf_error *err) {
  size_t m = fpf_pde_cells(p, 0) * G_SUB;
  double *x = malloc((2 * m + N) * sizeof *x);
  if (!x) return fpf_error_set(err, FPF_ENOMEM, "grid check: no memory");
  double *w = x + m, *ref = w + m;
  grid_cloud(p, x, w);
  fpf_cloud g = {x, m, 1, w, "grid density"};
  fpf_cloud a = {z, N, 1, NULL, "particles"};
  double sq;
  fpf_status st = fpf_w2_1d(&a, &g, &sq, err);
  if (!st) {
    *w2 = sqrt(fmax(sq, 0));
    grid_sample(p, N, k, ref);
    fpf_cloud b = {ref, N, 1, NULL, "exact sample"};
    st = fpf_w2_1d(&b, &g, &sq, err);
    if (!st) *w2_ref = sqrt(fmax(sq, 0));
  }
  free(x);
  return st;
}

static void grid_rows(vf_ctx *v, grid_case *c) {
  c->pass_all = 1;
  for (size_t k = 0; k < c->nn; k++) {
    double tol = c->floor[k] + G_NSD * c->sd[k] + G_ALLOW;
    vf_row *r = vf_row_new(v, "Particles vs grid, %s, N = %.0f%s", c->name,
                           c->N[k],
                           grid_kde(c->N[k]) == FPF_KDE_BINNED
                               ? " (binned KDE)"
                               : "");
    if (!r) continue;
    int n = snprintf(r->measured, sizeof r->measured, "L1 = %.4f (%+.1f sd)",
                     c->l1[k], (c->l1[k] - c->floor[k]) / c->sd[k]);
    if (c->d == 1)
      snprintf(r->measured + n, sizeof r->measured - n,
               "; W2 = %.4f (exact sample of the grid law: %.4f)", c->w2[k],
               c->w2_ref[k]);
    snprintf(r->expected, sizeof r->expected,
             "L1 of sampling alone %.4f +- %.4f (1 sd)", c->floor[k],
             c->sd[k]);
    snprintf(r->tolerance, sizeof r->tolerance,
             "L1 <= %.4f (mean + 4 sd + %.2g)", tol, G_ALLOW);
    r->verdict = c->l1[k] <= tol ? VF_PASS : VF_FAIL;
    c->pass_all &= r->verdict == VF_PASS;
    vf_row_show(v, r);
  }
  double lx[G_MAXN], ly[G_MAXN], lf[G_MAXN];
  int shrinks = 1;
  for (size_t k = 0; k < c->nn; k++) {
    lx[k] = log(c->N[k]), ly[k] = log(c->l1[k]), lf[k] = log(c->floor[k]);
    if (k && !(c->l1[k] < c->l1[k - 1])) shrinks = 0;
  }
  c->slope = vf_slope(lx, ly, c->nn);
  c->floor_slope = vf_slope(lx, lf, c->nn);
  vf_row *r = vf_row_new(v, "Particles vs grid, %s: rate in N", c->name);
  if (!r) return;
  snprintf(r->measured, sizeof r->measured,
           "L1 ~ N^%.3f (least squares over N = %.0f .. %.0f); %s", c->slope,
           c->N[0], c->N[c->nn - 1],
           shrinks ? "shrinks at every step in N" : "does NOT shrink at "
                                                    "every step in N");
  snprintf(r->expected, sizeof r->expected,
           "sampling alone: N^%.3f (about N^-1/2)", c->floor_slope);
  snprintf(r->tolerance, sizeof r->tolerance,
           "shrinks with N, slope <= %.2f", G_SLOPE_MAX);
  r->verdict = shrinks && c->slope <= G_SLOPE_MAX ? VF_PASS : VF_FAIL;
  c->pass_all &= r->verdict == VF_PASS;
  vf_row_show(v, r);
}

static int grid_case_run(vf_ctx *v, grid_case *c) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_landscape *L = NULL;
  fpf_pde *p = NULL;
  double *z = malloc((size_t)c->N[c->nn - 1] * c->d * sizeof *z);
  fpf_status st = z ? FPF_OK : fpf_error_set(&err, FPF_ENOMEM, "no memory");
  if (!st) st = make_landscape(c, &L, &err);
  if (!st) st = make_grid(c, L, &p, &err);
  for (size_t k = 0; !st && k < c->nn; k++) {
    size_t N = (size_t)c->N[k], out = 0;
    st = run_particles(v, c, L, N, k, z, &err);
    if (!st) st = fpf_pde_l1_distance(p, z, N, c->coarsen, &c->l1[k], &out,
                                      &err);
    if (!st) noise_floor(p, c->coarsen, (double)N, &c->floor[k], &c->sd[k]);
    if (!st && c->d == 1)
      st = w2_pair(p, z, N, k, &c->w2[k], &c->w2_ref[k], &err);
    /* the largest ensemble's histogram, for the figure */
    if (!st && c->d == 1 && k + 1 == c->nn) {
      st = fpf_pde_histogram(p, z, N, 1, c->hist, &out, &err);
      memcpy(c->rho, fpf_pde_density(p), c->ncell * sizeof *c->rho);
      memcpy(c->x, fpf_pde_centres(p, 0), c->ncell * sizeof *c->x);
    }
  }
  if (st) {
    char what[128];
    snprintf(what, sizeof what, "Particles vs grid, %s", c->name);
    vf_row_error(v, what, &err);
  } else {
    grid_rows(v, c);
  }
  fpf_pde_destroy(p);
  fpf_landscape_destroy(L);
  free(z);
  return st ? 1 : 0;
}

static void grid_figure(vf_ctx *v, const grid_case *c1, const grid_case *c2,
                        int ok1, int ok2) {
  vf_panel p[2];
  memset(p, 0, sizeof p);
  int np = 0;
  char t1[128];
  if (ok1) {
    snprintf(t1, sizeof t1, "1-D double well at t = %g, N = %.0f", G_T,
             c1->N[c1->nn - 1]);
    p[np].title = t1, p[np].xlabel = "z", p[np].ylabel = "density";
    p[np].s[0] = (vf_series){c1->x, c1->rho0, c1->ncell, VF_DASHED, 5,
                             "initial density"};
    p[np].s[1] = (vf_series){c1->x, c1->hist, c1->ncell, VF_STEPS, 0,
                             "particle histogram"};
    p[np].s[2] = (vf_series){c1->x, c1->rho, c1->ncell, VF_LINE, 1,
                             "grid solution"};
    p[np].ns = 3;
    np++;
  }
  p[np].title = "L1(histogram, grid) against N";
  p[np].xlabel = "N", p[np].ylabel = "L1";
  p[np].logx = p[np].logy = 1;
  const grid_case *cs[2] = {c1, c2};
  int oks[2] = {ok1, ok2};
  static const char *lab[2][2] = {{"1-D particles", "1-D sampling alone"},
                                  {"2-D particles", "2-D sampling alone"}};
  for (int i = 0; i < 2; i++) {
    if (!oks[i]) continue;
    p[np].s[p[np].ns++] = (vf_series){cs[i]->N, cs[i]->l1, cs[i]->nn,
                                      VF_POINTS, 2 * i, lab[i][0]};
    p[np].s[p[np].ns++] = (vf_series){cs[i]->N, cs[i]->floor, cs[i]->nn,
                                      VF_DASHED, 2 * i, lab[i][1]};
  }
  np++;
  if (!vf_figure(v, "verify_grid.png", p, np, 1400, 560))
    vf_say(v, "![particles against the grid](verify_grid.png)\n\n");
}

double vf_check_grid(vf_ctx *v, int estimate) {
  double N[G_MAXN];
  size_t nn = grid_ns(v, N);
  long steps = lround(G_T / G_DT);
  if (estimate) {
    double u = 0;
    for (size_t k = 0; k < nn; k++)
      u += (double)steps * (step_units(1, N[k]) + step_units(2, N[k]));
    return u;
  }
  grid_case c1 = {.name = "1-D double well", .d = 1,
                  .form = FPF_ENTROPY_SOURCE, .lambda = 0.1, .gamma = 0.05,
                  .m0 = {0.3, 0}, .s0 = {0.5, 0}, .coarsen = 1,
                  .grid_dt = 0.001};
  grid_case c2 = {.name = "2-D two wells", .d = 2,
                  .form = FPF_ENTROPY_WASSERSTEIN, .lambda = 0.1,
                  .gamma = 0, .m0 = {0.3, 0.5}, .s0 = {0.5, 0.5},
                  .coarsen = 4, .grid_dt = 0.0025};
  /* the quick form's 2-D grid step: its error (about 1e-3 per cell) is
     far below the sampling noise of N <= 2000 */
  if (v->mode == VF_QUICK) c2.grid_dt = 0.01;
  c1.nn = c2.nn = nn;
  memcpy(c1.N, N, nn * sizeof *N);
  memcpy(c2.N, N, nn * sizeof *N);
  c1.ncell = G_CELLS;
  double *buf = calloc(4 * G_CELLS, sizeof *buf);
  if (!buf) {
    fpf_error err;
    fpf_error_set(&err, FPF_ENOMEM, "grid check: no memory");
    vf_row_error(v, "Particles vs grid", &err);
    return 0;
  }
  c1.x = buf, c1.rho = buf + G_CELLS, c1.hist = buf + 2 * G_CELLS;
  c1.rho0 = buf + 3 * G_CELLS;

  vf_say(v,
         "### Particles against the grid (fpflow's own correctness)\n\n"
         "The same flow is integrated by fpf_dyn with N particles and by "
         "the grid solver fpf_pde, and the two are compared at t = %g. "
         "Shared settings: eta(t) = %g / (1 + t/%g), c(t) = %g exp(-t/%g), "
         "KDE bandwidth %g (fixed), no resets, particle step dt = %g "
         "(%ld Euler-Maruyama steps), grid of %d cells per axis on "
         "[-6, 6] (cell width 0.1).\n\n"
         "- 1-D double well: the mixture landscape with K = 2 wells at "
         "-1.5 and 1.5 (widths 0.6, weights 1/2), entropy term on in the "
         "source's form with lambda = %g, Fisher coupling gamma = %g, "
         "initial law N(%g, %g^2), grid step %g, histogram on the grid's "
         "cells.\n"
         "- 2-D two wells (the source's landscape), entropy term on in the "
         "Wasserstein form with lambda = %g, gamma = 0 (the grid keeps "
         "only the diagonal of D, so the comparison leaves the Fisher "
         "term out), initial law N((%g, %g), %g^2 I), grid step %g, "
         "histogram on blocks of %zu x %zu cells.\n\n"
         "Measured: L1 = sum |histogram - grid density| dV (plus the "
         "fraction of particles outside the box) from fpf_pde_l1_distance; "
         "in 1-D also W2 between the particles and the grid density "
         "(%d sub-points per cell), beside the W2 of an exact sample of "
         "the grid law of the same size (between two wells W2 is ruled by "
         "the imbalance of the sampled masses of the wells, which shrinks "
         "only like N^-1/4 and varies a lot from sample to sample, so it "
         "is shown, not judged). Expected: for particles that "
         "follow the grid's law, L1 is the histogram's sampling noise, "
         "whose mean is sum_b E|X_b/N - p_b| with X_b ~ Binomial(N, p_b) "
         "over the blocks' grid masses p_b (de Moivre's exact formula), "
         "with standard deviation sqrt(sum_b Var|X_b/N - p_b|). Tolerance: "
         "that mean + %g sd + %g, the last term an allowance for the "
         "discretisation errors (Euler-Maruyama, the grid's O(h^2 + dt), "
         "the KDE's smoothing of the entropy term) the size of the L1 "
         "distance between two normal laws whose variances differ by 2%%. "
         "The rate is the least-squares slope of log L1 against log N; it "
         "must be <= %g and L1 must shrink at every step in N. N = ",
         G_T, G_ETA0, G_TAU_ETA, G_D0, G_TAU_D, G_H, G_DT, steps, G_CELLS,
         c1.lambda, c1.gamma, c1.m0[0], c1.s0[0], c1.grid_dt, c2.lambda,
         c2.m0[0], c2.m0[1], c2.s0[0], c2.grid_dt, c2.coarsen, c2.coarsen,
         G_SUB, G_NSD, G_ALLOW, G_SLOPE_MAX);
  for (size_t k = 0; k < nn; k++)
    vf_say(v, "%s%.0f", k ? ", " : "", N[k]);
  vf_say(v, "%s. The KDE sums are exact below N = %d and binned (FFT) "
            "from there on.\n\n",
         v->mode == VF_FULL ? " (--full)" : " (--full adds 3 10^4 and 10^5)",
         G_BINNED_FROM);

  int e1 = grid_case_run(v, &c1), e2 = grid_case_run(v, &c2);
  const grid_case *cs[2] = {&c1, &c2};
  int es[2] = {e1, e2};
  for (int i = 0; i < 2; i++) {
    const grid_case *c = cs[i];
    if (es[i]) {
      vf_say(v, "- %s: the check could not run (see the table).\n",
             c->name);
      continue;
    }
    vf_say(v, "- %s: L1 = ", c->name);
    for (size_t k = 0; k < c->nn; k++)
      vf_say(v, "%s%.4f", k ? ", " : "", c->l1[k]);
    vf_say(v, " against %s", "sampling alone ");
    for (size_t k = 0; k < c->nn; k++)
      vf_say(v, "%s%.4f", k ? ", " : "", c->floor[k]);
    vf_say(v, "; fitted rate N^%.3f (sampling alone N^%.3f)", c->slope,
           c->floor_slope);
    if (c->d == 1) {
      vf_say(v, "; W2 = ");
      for (size_t k = 0; k < c->nn; k++)
        vf_say(v, "%s%.4f", k ? ", " : "", c->w2[k]);
      vf_say(v, " (exact samples: ");
      for (size_t k = 0; k < c->nn; k++)
        vf_say(v, "%s%.4f", k ? ", " : "", c->w2_ref[k]);
      vf_say(v, ")");
    }
    size_t e = c->nn - 1;
    double z = (c->l1[e] - c->floor[e]) / c->sd[e];
    if (z > 2)
      vf_say(v, ". At N = %.0f L1 is %.1f sd above sampling alone: the "
                "discretisation errors begin to show (a rough size of "
                "them: sqrt(L1^2 - mean^2) = %.3f, within the allowance "
                "of %g)",
             c->N[e], z,
             sqrt(fmax(c->l1[e] * c->l1[e] - c->floor[e] * c->floor[e], 0)),
             G_ALLOW);
    vf_say(v, ". %s\n",
           c->pass_all ? "PASS: the particles are as close to the grid as "
                         "their own sampling noise allows, and the "
                         "distance shrinks with N."
                       : "FAIL: see the rows.");
  }
  vf_say(v, "\n");
  grid_figure(v, &c1, &c2, !e1, !e2);
  free(buf);
  return 0;
}
