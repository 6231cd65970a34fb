/*
 * Binned, FFT-based Gaussian KDE in d <= 3 (kde_binned.h).
 *
 * Workload: 10^4 to a few 10^6 particles in d = 1, 2, 3, evaluated once or
 * twice per step of the flow, with h changing from step to step.  One
 * evaluation is
 *   1. the bounding box of the particles and the grid step per coordinate;
 *   2. the 1-D DFTs of the sampled kernel and of its derivative in each
 *      coordinate (the Gaussian is separable, so the d-dimensional kernel
 *      spectra are products of these and never need their own FFT);
 *   3. linear binning of the particles;
 *   4. one forward FFT, then per output (rho, d_c rho) a spectral product
 *      and one inverse FFT;
 *   5. linear interpolation back to the particles, all outputs in one
 *      pass, and exact sums for the few particles in the far tails.
 * The divergence of the kernel current bins v_c instead of 1 for each c
 * and sums the derivative products in frequency space before one inverse.
 *
 * Two corrections cost nothing and cut the error severalfold (measured in
 * docs/kde_binned.md):
 *   - binning and interpolation each smear a point over its cell, adding
 *     u (1 - u) delta^2 to the kernel's variance per coordinate (u the
 *     offset in the cell), delta^2 / 6 on average; the sampled kernel is
 *     narrowed to hk^2 = h^2 - delta^2 / 3 so that the smeared kernel has
 *     variance h^2 on average (a second-order correction; Hall and
 *     Wand 1996 analyse the error of binned estimators);
 *   - a particle's own binned-and-interpolated kernel is known in closed
 *     form and is swapped for the exact K_h(0) / n, so an isolated
 *     particle, whose density is mostly its self term, is exact.
 */
#include "kde_binned.h"

#include <fftw3.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "fpflow/kde.h"
#include "internal.h"

/* The kernel is cut at TAU_SUPPORT h: exp(-8^2 / 2) = 1.3e-14, so the cut
 * changes rho at a particle by at most 1.3e-14 n relative to its self
 * term (which rho includes): 1.3e-8 at n = 10^6. */
#define TAU_SUPPORT 8.0
/* Smallest FFT length, and largest number of grid points. */
#define GRID_MIN 16
#define GRID_POINTS_MAX ((size_t)1 << 26)
/* Below this many particles binning and gathering stay on one thread. */
#define PAR_MIN 4096
/* Particles ahead whose grid nodes the gathers prefetch. */
#define PREFETCH_AHEAD 16
/* Below this many pair terms the exact tail sums stay on one thread. */
#define PAR_MIN_PAIRS 20000
/* The error estimate's coefficients: max |error| / sum_c (delta_c / h)^2
 * over the 44 cases measured in docs/kde_binned.md (5 particle laws,
 * d = 1..3, 3 bandwidths) was at most 0.17 for log rho and 0.23 for
 * h |score error|, and at most 0.04 and 0.05 for normal particles. */
#define LOG_RHO_ERR_COEF 0.2
#define SCORE_ERR_COEF 0.25

struct fpf_kde_binned {
  size_t n_max, d, m, mc; /* FFT length per dimension, m / 2 + 1 */
  size_t ngrid, nspec;    /* m^d reals, m^(d-1) mc complex */
  double *grid;           /* binned weights, then each inverse FFT */
  double *out;            /* rho and d_c rho interleaved (ngrid x (d+1)) */
  fftw_complex *f, *w;    /* spectrum of the binned grid; product */
  fftw_plan fwd, inv;     /* grid -> f, w -> grid */
  double *kbuf;           /* one sampled 1-D kernel (m) */
  fftw_complex *kspec;    /* its DFT (mc) */
  fftw_plan kplan;
  double *kr[3], *ki[3];  /* per coordinate: the kernel's DFT (real) and
                             its derivative's (imaginary part), length m */
  size_t *tail;           /* particles summed exactly (n_max) */
  double tail_rel;
  size_t stride[3];       /* of coordinate c in the real grid */
  double lo[3], inv_step[3];
  double self_e[3];       /* the sampled kernel one node away, relative */
  double self_binned;     /* the sampled kernel at offset 0 */
  double lognorm;         /* log(K_h(0) / n): the grids hold rho in units
                             of K_h(0) / n, so that no h over- or
                             underflows them */
  fpf_kde_binned_info info;
};

/*
 * Whether a loop of this much work goes to OpenMP threads.  libgomp
 * mallocs a team for every parallel region of one thread (measured with
 * an interposed malloc), so small loops, and all loops when fpflow runs on
 * one thread, run outside any region: evaluation then allocates nothing.
 */
static int use_threads(size_t work, size_t min) {
  return work > min && omp_get_max_threads() > 1;
}

/* For the per-item functions that both the serial and the threaded loop
 * call: one compiled copy, so that both round alike. */
#define ONE_COPY __attribute__((noinline))

/* The smallest integer >= n whose prime factors are 2, 3, 5, 7, where
 * FFTW has its fastest codelets. */
static size_t smooth_size(size_t n) {
  static const size_t p[] = {2, 3, 5, 7};
  for (;; n++) {
    size_t r = n;
    for (int k = 0; k < 4; k++)
      while (r % p[k] == 0) r /= p[k];
    if (r == 1) return n;
  }
}

void fpf_kde_binned_destroy(fpf_kde_binned *b) {
  if (!b) return;
#pragma omp critical(fpf_fftw_planner)
  {
    if (b->fwd) fftw_destroy_plan(b->fwd);
    if (b->inv) fftw_destroy_plan(b->inv);
    if (b->kplan) fftw_destroy_plan(b->kplan);
  }
  fftw_free(b->grid);
  fftw_free(b->out);
  fftw_free(b->f);
  fftw_free(b->w);
  fftw_free(b->kbuf);
  fftw_free(b->kspec);
  for (int c = 0; c < 3; c++) {
    fpf_dfree(b->kr[c]);
    fpf_dfree(b->ki[c]);
  }
  free(b->tail);
  free(b);
}

static fpf_status check_create(size_t n_max, size_t d, size_t m,
                               fpf_error *err) {
  if (d < 1 || d > 3)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde binned: dimension d = %zu; the binned method "
                         "works in d = 1, 2, 3 (use the exact method)", d);
  if (n_max == 0 || fpf_mul_size(n_max, sizeof(double) * (d + 1)) == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde binned: n_max = %zu particles", n_max);
  size_t pts = 1;
  for (size_t c = 0; c < d; c++) pts = fpf_mul_size(pts, m);
  if (m < GRID_MIN || pts == 0 || pts > GRID_POINTS_MAX)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde binned: grid = %zu points per dimension in "
                         "d = %zu; needs at least %d per dimension and at "
                         "most %zu in all", m, d, GRID_MIN,
                         GRID_POINTS_MAX);
  return FPF_OK;
}

/* The FFTW plans.  FFTW_ESTIMATE neither times nor overwrites the arrays,
 * so the plans, and hence the results, are the same on every run. */
static int make_plans(fpf_kde_binned *b) {
  int dims[3] = {(int)b->m, (int)b->m, (int)b->m};
#pragma omp critical(fpf_fftw_planner)
  {
    b->fwd = fftw_plan_dft_r2c((int)b->d, dims, b->grid, b->f,
                               FFTW_ESTIMATE);
    b->inv = fftw_plan_dft_c2r((int)b->d, dims, b->w, b->grid,
                               FFTW_ESTIMATE);
    b->kplan = fftw_plan_dft_r2c_1d((int)b->m, b->kbuf, b->kspec,
                                    FFTW_ESTIMATE);
  }
  return b->fwd && b->inv && b->kplan;
}

fpf_status fpf_kde_binned_create(fpf_kde_binned **out, size_t n_max,
                                 size_t d, size_t grid, fpf_error *err) {
  *out = NULL;
  static const size_t defaults[4] = {0, 4096, 1024, 128};
  size_t m = grid > 0 && grid < GRID_POINTS_MAX ? smooth_size(grid) : grid;
  if (grid == 0 && d >= 1 && d <= 3) m = defaults[d];
  fpf_status st = check_create(n_max, d, m, err);
  if (st) return st;
  fpf_kde_binned *b = calloc(1, sizeof *b);
  if (!b)
    return fpf_error_set(err, FPF_ENOMEM, "kde binned: out of memory");
  b->n_max = n_max;
  b->d = d;
  b->m = m;
  b->mc = m / 2 + 1;
  b->ngrid = 1;
  for (size_t c = 0; c < d; c++) b->ngrid *= m;
  b->nspec = b->ngrid / m * b->mc;
  b->tail_rel = FPF_KDE_BINNED_TAIL_REL;
  b->grid = fftw_alloc_real(b->ngrid);
  b->out = fftw_alloc_real(b->ngrid * (d + 1));
  b->f = fftw_alloc_complex(b->nspec);
  b->w = fftw_alloc_complex(b->nspec);
  b->kbuf = fftw_alloc_real(m);
  b->kspec = fftw_alloc_complex(b->mc);
  b->tail = malloc(n_max * sizeof *b->tail);
  int ok = b->grid && b->out && b->f && b->w && b->kbuf && b->kspec &&
           b->tail;
  for (size_t c = 0; c < d && ok; c++) {
    b->kr[c] = fpf_dalloc(m);
    b->ki[c] = fpf_dalloc(m);
    ok = b->kr[c] && b->ki[c];
  }
  if (!ok || !make_plans(b)) {
    fpf_kde_binned_destroy(b);
    return fpf_error_set(err, FPF_ENOMEM,
                         "kde binned: out of memory for a %zu^%zu grid and "
                         "%zu particles", m, d, n_max);
  }
  b->stride[d - 1] = 1;
  for (size_t c = d - 1; c > 0; c--) b->stride[c - 1] = b->stride[c] * m;
  b->info.d = d;
  b->info.m = m;
  *out = b;
  return FPF_OK;
}

void fpf_kde_binned_set_tail(fpf_kde_binned *b, double rel) {
  b->tail_rel = rel;
}

void fpf_kde_binned_info_get(const fpf_kde_binned *b,
                             fpf_kde_binned_info *info) {
  *info = b->info;
}

/* ---- grid geometry and kernel spectra ------------------------------ */

/*
 * Fits the grid to the particles: in coordinate c the nodes are
 * lo_c + k delta_c, k = 0..cells_c - 1, covering [min z_c, max z_c].  With
 * delta_c = (spread_c + TAU h) / (m - 4) the nodes plus the kernel's
 * support (at most TAU h / delta_c + 1 nodes) fit in m - 1 points, so the
 * circular convolution of length m never wraps one particle onto another.
 */
static fpf_status fit_grid(fpf_kde_binned *b, const double *z, size_t n,
                           double h, fpf_error *err) {
  size_t d = b->d;
  double lo[3] = {INFINITY, INFINITY, INFINITY};
  double hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) {
      double v = z[i * d + c];
      if (!isfinite(v))
        return fpf_error_set(err, FPF_ENONFINITE,
                             "kde binned: particle %zu, coordinate %zu is "
                             "%g", i, c, v);
      lo[c] = v < lo[c] ? v : lo[c];
      hi[c] = v > hi[c] ? v : hi[c];
    }
  double cph = INFINITY;
  for (size_t c = 0; c < d; c++) {
    double span = hi[c] - lo[c];
    double step = (span + TAU_SUPPORT * h) / (double)(b->m - 4);
    if (!(h / step >= FPF_KDE_BINNED_MIN_CELLS_PER_H))
      return fpf_error_set(
          err, FPF_EINVAL,
          "kde binned: bandwidth h = %g is too small for the grid: "
          "coordinate %zu spreads over %g, so %zu points per dimension "
          "give a step of h / %.2f and h / %g is needed; use the exact "
          "method, a larger h, or a grid of at least %.0f points", h, c,
          span, b->m, h / step, FPF_KDE_BINNED_MIN_CELLS_PER_H,
          ceil(FPF_KDE_BINNED_MIN_CELLS_PER_H * (span / h + TAU_SUPPORT)) +
              4);
    double cells = ceil(span / step) + 1;
    b->lo[c] = lo[c];
    b->inv_step[c] = 1.0 / step;
    b->info.step[c] = step;
    b->info.cells[c] = cells < 2 ? 2 : (size_t)cells;
    cph = fmin(cph, h / step);
  }
  b->info.cells_per_h = cph;
  return FPF_OK;
}

/*
 * The DFTs of the kernel sampled on coordinate c's nodes, narrowed to
 * hk^2 = h^2 - delta^2 / 3 (see the top of the file) and renormalised by
 * h / hk: kr = DFT of exp(-(j delta)^2 / (2 hk^2)) (real, the kernel is
 * even) and ki = imaginary part of the DFT of its derivative
 * -(j delta / hk^2) exp(...) (odd).  Offsets run to the kernel's support
 * or the grid's extent, whichever is smaller; no two particles are
 * farther apart.  scale multiplies both spectra.
 */
static void kernel_spectra(fpf_kde_binned *b, size_t c, double h,
                           double scale) {
  size_t m = b->m, mc = b->mc;
  double step = b->info.step[c], hk2 = h * h - step * step / 3.0;
  double inv2hk2 = 0.5 / hk2, renorm = h / sqrt(hk2);
  size_t supp = (size_t)ceil(TAU_SUPPORT * h / step);
  size_t len = supp < b->info.cells[c] - 1 ? supp : b->info.cells[c] - 1;
  double *k = b->kbuf;
  b->self_e[c] = exp(-step * step * inv2hk2);
  b->self_binned *= renorm;
  scale *= renorm;
  for (int pass = 0; pass < 2; pass++) {
    memset(k, 0, m * sizeof *k);
    k[0] = pass == 0 ? 1.0 : 0.0;
    for (size_t j = 1; j <= len; j++) {
      double x = (double)j * step, g = exp(-x * x * inv2hk2);
      k[j] = pass == 0 ? g : -x / hk2 * g;
      k[m - j] = pass == 0 ? g : -k[j];
    }
    fftw_execute(b->kplan);
    double *dst = pass == 0 ? b->kr[c] : b->ki[c];
    for (size_t q = 0; q < mc; q++) {
      double v = scale * b->kspec[q][pass];
      dst[q] = v;
      if (q > 0 && q < m - q) dst[m - q] = pass == 0 ? v : -v;
    }
  }
}

/* The a-priori error estimate of docs/kde_binned.md. */
static void estimate_error(fpf_kde_binned *b, double h) {
  double s = 0;
  for (size_t c = 0; c < b->d; c++) {
    double r = b->info.step[c] / h;
    s += r * r;
  }
  b->info.log_rho_err = LOG_RHO_ERR_COEF * s;
  b->info.score_err = SCORE_ERR_COEF * s;
}

/* Checks the arguments and fits the grid. */
static fpf_status fit(fpf_kde_binned *b, const double *z, size_t n,
                      double h, fpf_error *err) {
  if (n == 0 || n > b->n_max)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde binned: n = %zu particles, workspace holds "
                         "1..%zu", n, b->n_max);
  if (!(h >= FPF_H_MIN && h <= FPF_H_MAX))
    return fpf_error_set(err, FPF_EINVAL,
                         "kde binned: bandwidth h = %g must be in [%g, %g]",
                         h, FPF_H_MIN, FPF_H_MAX);
  fpf_status st = fit_grid(b, z, n, h, err);
  if (st) return st;
  b->info.n_exact = 0;
  estimate_error(b, h);
  return FPF_OK;
}

fpf_status fpf_kde_binned_fit(fpf_kde_binned *b, const double *z, size_t n,
                              double h, fpf_kde_binned_info *info,
                              fpf_error *err) {
  fpf_status st = fit(b, z, n, h, err);
  if (!st && info) *info = b->info;
  return st;
}

/* Fits the grid and makes the spectra, scaled by FFTW's 1 / m^d. */
static fpf_status prepare(fpf_kde_binned *b, const double *z, size_t n,
                          double h, fpf_error *err) {
  fpf_status st = fit(b, z, n, h, err);
  if (st) return st;
  b->lognorm =
      -0.5 * (double)b->d * (FPF_LOG2PI + 2.0 * log(h)) - log((double)n);
  b->self_binned = 1.0;
  for (size_t c = 0; c < b->d; c++)
    kernel_spectra(b, c, h, c == 0 ? 1.0 / (double)b->ngrid : 1.0);
  return FPF_OK;
}

/* ---- binning and interpolation ------------------------------------- */

/*
 * Particle zi's lower grid node (returned, and its index k0 along the
 * first coordinate) and its offsets u_c in [0, 1] within the cell.  The
 * functions below are inlined with a constant d, so their loops unroll.
 */
static inline __attribute__((always_inline)) size_t
locate(const fpf_kde_binned *b, const double *zi, double *u, size_t *k0,
       const size_t d) {
  size_t base = 0;
  for (size_t c = 0; c < d; c++) {
    double t = (zi[c] - b->lo[c]) * b->inv_step[c];
    size_t k = (size_t)t, last = b->info.cells[c] - 2;
    if (k > last) k = last;
    u[c] = t - (double)k;
    base += k * b->stride[c];
    if (c == 0) *k0 = k;
  }
  return base;
}

/* Corner k's weight prod_c (u_c or 1 - u_c) and offset; bit c of k (from
 * the top) selects the upper node along coordinate c. */
static inline __attribute__((always_inline)) double
corner(const fpf_kde_binned *b, const double *u, size_t k, size_t *off,
       const size_t d) {
  double w = 1.0;
  size_t o = 0;
  for (size_t c = 0; c < d; c++) {
    int up = (int)(k >> (d - 1 - c)) & 1;
    w *= up ? u[c] : 1.0 - u[c];
    o += up ? b->stride[c] : 0;
  }
  *off = o;
  return w;
}

/* Adds q times particle zi's corner weights to the grid nodes whose index
 * along the first coordinate lies in [r0, r1). */
static inline __attribute__((always_inline)) void
scatter(fpf_kde_binned *b, const double *zi, double q, size_t r0, size_t r1,
        const size_t d) {
  double u[3];
  size_t k0 = 0, base = locate(b, zi, u, &k0, d);
  if (k0 + 1 < r0 || k0 >= r1) return;
  for (size_t k = 0; k < ((size_t)1 << d); k++) {
    size_t row = k0 + ((k >> (d - 1)) & 1), off;
    if (row < r0 || row >= r1) continue;
    double w = corner(b, u, k, &off, d);
    b->grid[base + off] += q * w;
  }
}

/* Prefetches particle zi's grid nodes in rows [r0, r1) of the first
 * coordinate. */
static inline __attribute__((always_inline)) void
prefetch(const fpf_kde_binned *b, const double *src, size_t nch,
         const double *zi, size_t r0, size_t r1, const size_t d) {
  double u[3];
  size_t k0 = 0, base = locate(b, zi, u, &k0, d);
  if (k0 + 1 < r0 || k0 >= r1) return;
  for (size_t k = 0; k < ((size_t)1 << d); k++) {
    size_t off, row = k0 + ((k >> (d - 1)) & 1);
    if (row < r0 || row >= r1) continue;
    corner(b, u, k, &off, d);
    __builtin_prefetch(src + (base + off) * nch);
  }
}

/*
 * Fetches the grid nodes of particle i + PREFETCH_AHEAD ahead of use, in
 * rows [r0, r1) of the first coordinate: the particles come in random
 * order, so each one misses the cache, and the loads of one particle
 * alone keep too few misses in flight.  Measured at N = 10^6, d = 2, one
 * thread: log rho + score 200 -> 100 ms of CPU, the divergence
 * 95 -> 55 ms; 8 to 32 ahead did equally well.  Inlined on purpose: GCC
 * deems a function of prefetches alone pure and drops its calls.
 */
static inline __attribute__((always_inline)) void
prefetch_ahead(const fpf_kde_binned *b, const double *src, size_t nch,
               const double *z, size_t i, size_t n, size_t r0, size_t r1) {
  size_t j = i + PREFETCH_AHEAD;
  if (j >= n) return;
  if (b->d == 1) prefetch(b, src, nch, z + j, r0, r1, 1);
  else if (b->d == 2) prefetch(b, src, nch, z + 2 * j, r0, r1, 2);
  else prefetch(b, src, nch, z + 3 * j, r0, r1, 3);
}

/*
 * Linear (cloud-in-cell) binning of the weights q_i = q[i * qs] (1 if q
 * is NULL).  Each thread owns a slab of rows of the first coordinate and
 * walks all particles in order, adding only to its own nodes; every node
 * thus receives its terms in particle order, and the sums are the same
 * for any number of threads.
 */
static ONE_COPY void bin_slab(fpf_kde_binned *b, const double *z,
                              size_t n, const double *q, size_t qs,
                              size_t r0, size_t r1) {
  for (size_t i = 0; i < n; i++) {
    prefetch_ahead(b, b->grid, 1, z, i, n, r0, r1);
    double qi = q ? q[i * qs] : 1.0;
    if (b->d == 1) scatter(b, z + i, qi, r0, r1, 1);
    else if (b->d == 2) scatter(b, z + 2 * i, qi, r0, r1, 2);
    else scatter(b, z + 3 * i, qi, r0, r1, 3);
  }
}

static void bin(fpf_kde_binned *b, const double *z, size_t n,
                const double *q, size_t qs) {
  size_t rows = b->info.cells[0], len = b->stride[0];
  if (!use_threads(n, PAR_MIN)) {
    memset(b->grid, 0, b->ngrid * sizeof *b->grid);
    bin_slab(b, z, n, q, qs, 0, rows);
    return;
  }
#pragma omp parallel
  {
    size_t nt = (size_t)omp_get_num_threads();
    size_t t = (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
    for (size_t r = 0; r < b->m; r++)
      memset(b->grid + r * len, 0, len * sizeof *b->grid);
    bin_slab(b, z, n, q, qs, rows * t / nt, rows * (t + 1) / nt);
  }
}

/* acc[0..nch) = the nch interleaved grids in src interpolated linearly at
 * zi; *self = the particle's own binned kernel there, relative to the
 * sampled kernel's centre: prod_c (1 - 2 u_c (1 - u_c) (1 - e_c)). */
static inline __attribute__((always_inline)) void
interp(const fpf_kde_binned *b, const double *src, size_t nch,
       const double *zi, double *acc, double *self, const size_t d) {
  double u[3];
  size_t k0 = 0, base = locate(b, zi, u, &k0, d);
  for (size_t j = 0; j < nch; j++) acc[j] = 0;
  for (size_t k = 0; k < ((size_t)1 << d); k++) {
    size_t off;
    double w = corner(b, u, k, &off, d);
    const double *p = src + (base + off) * nch;
    for (size_t j = 0; j < nch; j++) acc[j] += w * p[j];
  }
  double s = 1.0;
  for (size_t c = 0; c < d; c++)
    s *= 1.0 - 2.0 * u[c] * (1.0 - u[c]) * (1.0 - b->self_e[c]);
  *self = s;
}

static void interp_any(const fpf_kde_binned *b, const double *src,
                       size_t nch, const double *zi, double *acc,
                       double *self) {
  if (b->d == 1) interp(b, src, nch, zi, acc, self, 1);
  else if (b->d == 2) interp(b, src, nch, zi, acc, self, 2);
  else interp(b, src, nch, zi, acc, self, 3);
}

/* ---- spectral products --------------------------------------------- */

/*
 * w = f times the kernel spectrum (dc < 0), or w (+)= f times the
 * spectrum of the kernel's derivative along coordinate dc, which is
 * i ki[dc] times the others' kr: the product is then rotated by i.
 */
static ONE_COPY void product_row(fpf_kde_binned *b, size_t r, int dc,
                                 int accumulate) {
  size_t d = b->d, m = b->m, mc = b->mc;
  /* row r holds the outer indices: r = i0 (d = 2), i0 m + i1 (d = 3) */
  double a = 1.0;
  size_t rem = r;
  for (size_t c = d - 1; c-- > 0;) {
    size_t q = rem % m;
    rem /= m;
    a *= (int)c == dc ? b->ki[c][q] : b->kr[c][q];
  }
  const double *last = (int)d - 1 == dc ? b->ki[d - 1] : b->kr[d - 1];
  const fftw_complex *fr = b->f + r * mc;
  fftw_complex *wr = b->w + r * mc;
  for (size_t q = 0; q < mc; q++) {
    double s = a * last[q];
    double re = dc < 0 ? fr[q][0] * s : -fr[q][1] * s;
    double im = dc < 0 ? fr[q][1] * s : fr[q][0] * s;
    if (accumulate) {
      wr[q][0] += re;
      wr[q][1] += im;
    } else {
      wr[q][0] = re;
      wr[q][1] = im;
    }
  }
}

static void spectral_product(fpf_kde_binned *b, int dc, int accumulate) {
  size_t rows = b->nspec / b->mc;
  if (!use_threads(rows, 64)) {
    for (size_t r = 0; r < rows; r++) product_row(b, r, dc, accumulate);
    return;
  }
#pragma omp parallel for schedule(static)
  for (size_t r = 0; r < rows; r++) product_row(b, r, dc, accumulate);
}

/* Copies row r (of the first coordinate) of the inverse FFT in grid into
 * channel j of the interleaved out, or only takes its maximum (out of
 * range j); returns the row's largest value. */
static ONE_COPY double channel_row(fpf_kde_binned *b, size_t r, size_t j) {
  size_t nch = b->d + 1, len = b->stride[0];
  const double *g = b->grid + r * len;
  double *o = b->out + r * len * nch + j, top = -INFINITY;
  for (size_t k = 0; k < len; k++) {
    if (j < nch) o[k * nch] = g[k];
    top = g[k] > top ? g[k] : top;
  }
  return top;
}

/* channel_row over the rows that hold particles; the largest value. */
static double to_channel(fpf_kde_binned *b, size_t j) {
  size_t rows = b->info.cells[0];
  double top = -INFINITY;
  if (!use_threads(rows * b->stride[0], PAR_MIN)) {
    for (size_t r = 0; r < rows; r++) top = fmax(top, channel_row(b, r, j));
    return top;
  }
  /* max is exact in any order, so this reduction is deterministic */
#pragma omp parallel for schedule(static) reduction(max : top)
  for (size_t r = 0; r < rows; r++) top = fmax(top, channel_row(b, r, j));
  return top;
}

/* ---- exact sums for the tails -------------------------------------- */

/* Particle i against all sources, relative to its self term (the largest
 * term, exp(0), so the sum is >= 1): log rho_i and the score. */
static ONE_COPY void exact_density(const double *z, size_t n, size_t d,
                                   size_t i, double h, double *log_rho,
                                   double *score) {
  const double *zi = z + i * d;
  double inv2h2 = 0.5 / (h * h), sum = 0, acc[3] = {0, 0, 0};
  for (size_t j = 0; j < n; j++) {
    const double *zj = z + j * d;
    double r2 = 0;
    for (size_t c = 0; c < d; c++) r2 += (zj[c] - zi[c]) * (zj[c] - zi[c]);
    double e = exp(-r2 * inv2h2);
    sum += e;
    for (size_t c = 0; c < d; c++) acc[c] += e * (zj[c] - zi[c]);
  }
  log_rho[i] = log(sum) - log((double)n) -
               0.5 * (double)d * (FPF_LOG2PI + 2.0 * log(h));
  if (score)
    for (size_t c = 0; c < d; c++) score[i * d + c] = acc[c] / (sum * h * h);
}

/* div_J_i / rho_i for particle i with the caller's rho_i, as kde.c:
 * sum_j w_ij (z_j - z_i) . v_j / h^2, w_ij = K_h(z_i - z_j) / (n rho_i). */
static ONE_COPY double exact_divergence(const double *z, size_t n,
                                        size_t d, size_t i, double h,
                                        double log_rho_i, const double *v) {
  const double *zi = z + i * d;
  double inv2h2 = 0.5 / (h * h), q = 0;
  double lse = log_rho_i + log((double)n) +
               0.5 * (double)d * (FPF_LOG2PI + 2.0 * log(h));
  for (size_t j = 0; j < n; j++) {
    const double *zj = z + j * d;
    double r2 = 0, dot = 0;
    for (size_t c = 0; c < d; c++) {
      double t = zj[c] - zi[c];
      r2 += t * t;
      dot += t * v[j * d + c];
    }
    q += exp(-r2 * inv2h2 - lse) * dot;
  }
  return q / (h * h);
}

/* Lists the particles flagged with a NaN in x; returns how many. */
static size_t collect_tails(fpf_kde_binned *b, const double *x, size_t n) {
  size_t nt = 0;
  for (size_t i = 0; i < n; i++)
    if (isnan(x[i])) b->tail[nt++] = i;
  b->info.n_exact = nt;
  return nt;
}

/* ---- evaluation ---------------------------------------------------- */

/* Particle i: log rho and the score from the grids in src (nch channels),
 * with the self term made exact; NaN in log_rho marks a tail particle. */
static ONE_COPY void density_at(const fpf_kde_binned *b,
                                const double *src, size_t nch,
                                const double *z, size_t i, size_t n,
                                double thr, double *log_rho,
                                double *score) {
  size_t d = b->d;
  double acc[4], self;
  prefetch_ahead(b, src, nch, z, i, n, 0, SIZE_MAX);
  interp_any(b, src, nch, z + i * d, acc, &self);
  double rho = acc[0] + 1.0 - b->self_binned * self;
  if (!(rho > thr)) {
    log_rho[i] = NAN;
    return;
  }
  log_rho[i] = log(rho) + b->lognorm;
  for (size_t c = 0; score && c < d; c++) score[i * d + c] = acc[c + 1] / rho;
}

/* Particle i: div_J from the grid and div_J / rho with the caller's rho;
 * NaN in div_over_rho marks a tail particle (log rho <= thr). */
static ONE_COPY void divergence_at(const fpf_kde_binned *b,
                                   const double *z, size_t i, size_t n,
                                   double thr, const double *log_rho,
                                   double *div, double *div_over_rho) {
  double g, self;
  prefetch_ahead(b, b->grid, 1, z, i, n, 0, SIZE_MAX);
  interp_any(b, b->grid, 1, z + i * b->d, &g, &self);
  if (!(log_rho[i] > thr)) {
    div_over_rho[i] = NAN;
    return;
  }
  if (div) div[i] = g * exp(b->lognorm);
  div_over_rho[i] = g * exp(b->lognorm - log_rho[i]);
}

/* Exact div_J / rho (and div_J) for the tail particle i. */
static void divergence_tail(const fpf_kde_binned *b, const double *z,
                            size_t n, size_t i, double h,
                            const double *log_rho, const double *v,
                            double *div, double *div_over_rho) {
  double q = exact_divergence(z, n, b->d, i, h, log_rho[i], v);
  div_over_rho[i] = q;
  if (div)
    div[i] = q == 0 ? 0.0 : copysign(exp(log_rho[i] + log(fabs(q))), q);
}

/* rho and, with score, d_c rho on the grid: interleaved in b->out (or in
 * b->grid alone without score).  Returns the largest grid density. */
static double grid_outputs(fpf_kde_binned *b, const double *z, size_t n,
                           int with_score) {
  bin(b, z, n, NULL, 0);
  fftw_execute(b->fwd);
  spectral_product(b, -1, 0);
  fftw_execute(b->inv);
  double top = to_channel(b, with_score ? 0 : SIZE_MAX);
  if (!with_score) return top;
  for (size_t c = 0; c < b->d; c++) {
    spectral_product(b, (int)c, 0);
    fftw_execute(b->inv);
    to_channel(b, c + 1);
  }
  return top;
}

fpf_status fpf_kde_binned_eval(fpf_kde_binned *b, const double *z, size_t n,
                               double h, double *log_rho, double *score,
                               fpf_error *err) {
  fpf_status st = prepare(b, z, n, h, err);
  if (st) return st;
  size_t d = b->d, nch = score ? d + 1 : 1;
  double thr = b->tail_rel * grid_outputs(b, z, n, score != NULL);
  const double *src = score ? b->out : b->grid;

  /* interpolate; the self term exact; tails flagged with NaN */
  if (!use_threads(n, PAR_MIN)) {
    for (size_t i = 0; i < n; i++)
      density_at(b, src, nch, z, i, n, thr, log_rho, score);
  } else {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
      density_at(b, src, nch, z, i, n, thr, log_rho, score);
  }

  /* the tails against all sources */
  size_t nt = collect_tails(b, log_rho, n);
  if (!use_threads(nt * n, PAR_MIN_PAIRS) || nt < 2) {
    for (size_t t = 0; t < nt; t++)
      exact_density(z, n, d, b->tail[t], h, log_rho, score);
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < nt; t++)
      exact_density(z, n, d, b->tail[t], h, log_rho, score);
  }
  return FPF_OK;
}

fpf_status fpf_kde_binned_divergence(fpf_kde_binned *b, const double *z,
                                     size_t n, double h,
                                     const double *log_rho, const double *v,
                                     double *div, double *div_over_rho,
                                     fpf_error *err) {
  fpf_status st = prepare(b, z, n, h, err);
  if (st) return st;
  size_t d = b->d;
  double top = -INFINITY;
  for (size_t i = 0; i < n; i++) top = log_rho[i] > top ? log_rho[i] : top;
  if (!isfinite(top))
    return fpf_error_set(err, FPF_ENONFINITE,
                         "kde binned: log_rho is not finite (largest %g)",
                         top);
  double thr = top + log(b->tail_rel);

  /* sum_c d_c K * (binned v_c), summed in frequency space */
  for (size_t c = 0; c < d; c++) {
    bin(b, z, n, v + c, d);
    fftw_execute(b->fwd);
    spectral_product(b, (int)c, c > 0);
  }
  fftw_execute(b->inv);

  /* interpolate (the self term's gradient is zero); tails flagged */
  if (!use_threads(n, PAR_MIN)) {
    for (size_t i = 0; i < n; i++)
      divergence_at(b, z, i, n, thr, log_rho, div, div_over_rho);
  } else {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
      divergence_at(b, z, i, n, thr, log_rho, div, div_over_rho);
  }

  /* the tails against all sources */
  size_t nt = collect_tails(b, div_over_rho, n);
  if (!use_threads(nt * n, PAR_MIN_PAIRS) || nt < 2) {
    for (size_t t = 0; t < nt; t++)
      divergence_tail(b, z, n, b->tail[t], h, log_rho, v, div, div_over_rho);
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < nt; t++)
      divergence_tail(b, z, n, b->tail[t], h, log_rho, v, div, div_over_rho);
  }
  return FPF_OK;
}
