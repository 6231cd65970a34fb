/*
 * Binned, FFT-based Gaussian KDE in d = 1, 2, 3 (internal; kde.c calls it
 * for the method "binned").
 *
 * The same quantities as kde.h, at the particles themselves with the self
 * term included:
 *   rho_i   = (1/n) sum_j K_h(z_i - z_j),  log_rho_i = log(rho_i),
 *   s_i     = grad rho(z_i) / rho_i,
 *   div_J_i = (1/n) sum_j grad K_h(z_i - z_j) . v_j,
 * in O(n + M^d log M) instead of O(n^2 d), M the FFT length per dimension.
 *
 * Method (Silverman 1982, Wand 1994 "Fast computation of multivariate
 * kernel estimators"): the particles are spread onto a regular grid by
 * linear (cloud-in-cell) binning, the grid is convolved with the sampled
 * Gaussian and its first derivatives by a zero-padded FFT, and the results
 * are interpolated back to the particles linearly.  Each evaluation fits
 * the grid to the particles' bounding box: the step delta_c of coordinate
 * c makes the box plus the kernel's support (TAU_SUPPORT h, see the .c
 * file) fill the M cells, so the padding is the kernel's support, not a
 * second copy of the grid.  The error is second order in delta / h
 * (fpf_kde_binned_info reports an estimate); an evaluation whose step is
 * coarser than h / FPF_KDE_BINNED_MIN_CELLS_PER_H is refused with
 * FPF_EINVAL, since the estimate would no longer be small.  The sampled
 * kernel is narrowed by the variance that binning and interpolation add on
 * average, and each particle's own kernel is made exact (see the .c file).
 *
 * Particles whose grid density is below FPF_KDE_BINNED_TAIL_REL times the
 * largest one (where the FFT's round-off, relative to the maximum, would
 * dominate) are recomputed exactly against all sources.  With the self
 * term included rho_i >= K_h(0) / n >= max rho / n, so this happens only
 * for very large n or a caller-lowered threshold.
 *
 * Determinism: binning adds to every grid node in particle order (threads
 * own slabs of the grid), the FFTs are single-threaded FFTW plans made
 * once (FFTW_ESTIMATE), and gathering and the exact tail sums are
 * per-particle loops split over OpenMP threads; results are bit-identical
 * for any thread count.  Evaluation
 * allocates nothing.  FFTW's planner is not thread-safe: _create and
 * _destroy serialise their planner calls in a named OpenMP critical
 * section, which protects fpflow's own calls only; a host that plans FFTW
 * transforms concurrently from other threads must not overlap them with
 * these two calls.
 */
#ifndef FPF_KDE_BINNED_H
#define FPF_KDE_BINNED_H

#include <stddef.h>

#include "fpflow/status.h"

/* The step must resolve h: at least this many grid cells per bandwidth in
 * every coordinate.  At 2.1 cells per h the measured error in log rho was
 * 0.017 in d = 3 (docs/kde_binned.md). */
#define FPF_KDE_BINNED_MIN_CELLS_PER_H 2.0
/* Default relative density below which particles are recomputed exactly. */
#define FPF_KDE_BINNED_TAIL_REL 1e-10

typedef struct fpf_kde_binned fpf_kde_binned;

/* What the last evaluation did, and its a-priori error. */
typedef struct fpf_kde_binned_info {
  size_t d, m;            /* dimension, FFT length per dimension */
  size_t cells[3];        /* grid nodes covering the particles, per coord */
  double step[3];         /* grid step delta_c */
  double cells_per_h;     /* min_c h / delta_c */
  size_t n_exact;         /* particles recomputed exactly (tails) */
  double log_rho_err;     /* estimated max |error| of log rho:
                             0.2 sum_c (delta_c / h)^2 */
  double score_err;       /* estimated max h |error| of the score:
                             0.25 sum_c (delta_c / h)^2 */
} fpf_kde_binned_info;

/*
 * A workspace for up to n_max particles in R^d, d = 1, 2 or 3, with an FFT
 * of grid points per dimension (rounded up to a product of 2, 3, 5 and 7;
 * 0 chooses 4096 in 1-D, 1024 in 2-D, 128 in 3-D).  grid^d is limited to
 * 2^26 points (then about 3 GB of buffers).  Makes the FFTW plans.
 */
fpf_status fpf_kde_binned_create(fpf_kde_binned **out, size_t n_max,
                                 size_t d, size_t grid, fpf_error *err);
void fpf_kde_binned_destroy(fpf_kde_binned *b);

/* The relative density below which particles are recomputed exactly
 * (default FPF_KDE_BINNED_TAIL_REL; 0 turns it off, INFINITY recomputes
 * all). */
void fpf_kde_binned_set_tail(fpf_kde_binned *b, double rel);

/*
 * At the particles z (n x d): log_rho (n) and score (n x d, may be NULL),
 * the definitions of kde.h with the self term included.  FPF_EINVAL when
 * n is out of 1..n_max, h out of [FPF_H_MIN, FPF_H_MAX], or the grid
 * cannot resolve h (the message names the coordinate, its spread and the
 * step, and suggests the exact method, a larger h or a larger grid);
 * FPF_ENONFINITE for a coordinate that is not finite.
 */
fpf_status fpf_kde_binned_eval(fpf_kde_binned *b, const double *z, size_t n,
                               double h, double *log_rho, double *score,
                               fpf_error *err);

/*
 * The divergence of the kernel current J(x) = (1/n) sum_j K_h(x - z_j) v_j
 * at the particles, as fpf_kde_flux_divergence in kde.h: div (n, may be
 * NULL) and div_over_rho (n).  log_rho is the log density for the same z
 * and h (from fpf_kde_binned_eval or the exact sum); FPF_ENONFINITE when
 * none of it is finite.  Errors otherwise as fpf_kde_binned_eval.
 */
fpf_status fpf_kde_binned_divergence(fpf_kde_binned *b, const double *z,
                                     size_t n, double h,
                                     const double *log_rho, const double *v,
                                     double *div, double *div_over_rho,
                                     fpf_error *err);

/* The grid and error estimate of the last evaluation or fit (zeros
 * before any). */
void fpf_kde_binned_info_get(const fpf_kde_binned *b,
                             fpf_kde_binned_info *info);

/*
 * Fits the grid to z and h as an evaluation would, without evaluating
 * (O(n d)), and fills info (may be NULL) with the step, the cells per h
 * and the error estimate.  Returns what evaluation would for bad
 * arguments or an h the grid cannot resolve, so a caller choosing the
 * method can test the binned one first and fall back to the exact sums.
 */
fpf_status fpf_kde_binned_fit(fpf_kde_binned *b, const double *z, size_t n,
                              double h, fpf_kde_binned_info *info,
                              fpf_error *err);

#endif
