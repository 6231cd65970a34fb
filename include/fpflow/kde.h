/*
 * Gaussian kernel density estimate of a particle ensemble, in log space.
 *
 * With sources z_1..z_n in R^d, bandwidth h and
 * K_h(u) = (2 pi h^2)^(-d/2) exp(-|u|^2 / (2 h^2)), at a point x:
 *
 *   log rho(x) = logsumexp_j(-|x - z_j|^2 / (2 h^2)) - log n
 *                - (d/2) log(2 pi h^2)
 *   s(x)       = grad log rho(x) = sum_j w_j (z_j - x) / h^2,
 *                w_j = softmax_j(-|x - z_j|^2 / (2 h^2))
 *
 * Both stay finite and accurate when every kernel value underflows in
 * double precision (high d, small h): the sum is taken relative to its
 * largest term.  Distances come from the Gram matrix (BLAS) in blocks, so
 * memory is O(n d + block^2); nothing of shape n x n x d is ever formed.
 * Coordinates are centred on the sources' mean first, which keeps the
 * Gram formula's cancellation small.
 *
 * At the particles themselves the self term j = i is included by default;
 * leave_one_out drops it (then n >= 2 is required and the normaliser is
 * n - 1).
 */
#ifndef FPFLOW_KDE_H
#define FPFLOW_KDE_H

#include <stddef.h>
#include <stdint.h>

#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bandwidths the KDE accepts: 1/h^2 and h^2 stay finite. */
#define FPF_H_MIN 1e-100
#define FPF_H_MAX 1e100

typedef enum fpf_bw_rule {
  FPF_BW_FIXED = 0, /* the given h */
  FPF_BW_SCOTT,     /* h = sigma n^(-1/(d+4)) */
  FPF_BW_SILVERMAN, /* h = sigma (4 / ((d+2) n))^(1/(d+4)) */
  FPF_BW_MEDIAN     /* h^2 = median_{i<j} |z_i - z_j|^2 / (2 log(n+1)) */
} fpf_bw_rule;

/* "fixed", "scott", "silverman", "median"; NULL for an unknown rule. */
const char *fpf_bw_rule_name(fpf_bw_rule r);
/* Parses a rule name; returns 0 on success, -1 when unknown. */
int fpf_bw_rule_parse(const char *s, fpf_bw_rule *r);

/*
 * The bandwidth a rule gives for n points z (n x d, row-major).  sigma is
 * sqrt(trace(Cov)/d), the per-coordinate spread of an isotropic kernel.
 * The median is exact up to 2^18 pairs and taken over a fixed
 * pseudo-random set of 2^18 pairs beyond.  A rule that gives h = 0 (all
 * points equal) is an FPF_EINVAL error asking for a fixed bandwidth.
 */
fpf_status fpf_kde_bandwidth(const double *z, size_t n, size_t d,
                             fpf_bw_rule rule, double h_fixed, double *h,
                             fpf_error *err);

/* Workspace for up to n_max sources and n_max query points in R^d. */
typedef struct fpf_kde fpf_kde;

/* As fpf_kde_bandwidth, with k's buffers: allocates nothing. */
fpf_status fpf_kde_choose_bandwidth(fpf_kde *k, const double *z, size_t n,
                                    fpf_bw_rule rule, double h_fixed,
                                    double *h, fpf_error *err);

/*
 * How the sums at the particles are made.  EXACT: the log-space sums
 * above.  BINNED (d <= 3 only): linear binning onto a grid and FFT
 * convolution (docs/kde_binned.md), O(n + G log G) instead of O(n^2 d),
 * with a relative error of about 1e-4 on log rho at 10 cells per h; it
 * gives no k-th neighbour distances (H_knn is then NaN) and no
 * leave-one-out.  AUTO: BINNED for d <= 3 from n = 1000 (d = 1), 5000
 * (d = 2) or 8000 (d = 3) particles when the grid resolves h with an
 * estimated log-density error below 1e-2, EXACT otherwise.
 */
typedef enum fpf_kde_method {
  FPF_KDE_AUTO = 0,
  FPF_KDE_EXACT = 1,
  FPF_KDE_BINNED = 2
} fpf_kde_method;

/* "auto", "exact", "binned"; parse returns -1 for an unknown name. */
const char *fpf_kde_method_name(fpf_kde_method m);
int fpf_kde_method_parse(const char *s, fpf_kde_method *m);

/* Up to this dimension the kernel sums are plain loops in double, with
 * or without single_precision. */
#define FPF_KDE_DIRECT_MAX_D 8

typedef struct fpf_kde_options {
  fpf_kde_method method; /* AUTO */
  int leave_one_out; /* 0: include the self term at the particles */
  size_t knn_k;      /* > 0: also find the k-th neighbour distances */
  int single_precision; /* Gram products in float (d above
                           FPF_KDE_DIRECT_MAX_D): about twice as fast,
                           relative accuracy ~1e-6 instead of 1e-15 */
  size_t block;      /* rows and columns per block, and no symmetric
                        path (for tests); 0 chooses */
} fpf_kde_options;

void fpf_kde_options_init(fpf_kde_options *o);

fpf_status fpf_kde_create(fpf_kde **out, size_t n_max, size_t d,
                          const fpf_kde_options *o, fpf_error *err);
void fpf_kde_destroy(fpf_kde *k);

/*
 * At the particles themselves: log_rho (n) and score (n x d, may be NULL).
 * With knn_k > 0 the distance of each particle to its k-th nearest other
 * particle goes to knn_dist (n), which may be NULL otherwise.
 */
fpf_status fpf_kde_eval(fpf_kde *k, const double *z, size_t n, double h,
                        double *log_rho, double *score, double *knn_dist,
                        fpf_error *err);

/* Whether the last fpf_kde_eval took the binned sums. */
int fpf_kde_last_binned(const fpf_kde *k);

/* At m query points x (m x d): log_rho (m) and score (m x d or NULL). */
fpf_status fpf_kde_eval_at(fpf_kde *k, const double *z, size_t n,
                           const double *x, size_t m, double h,
                           double *log_rho, double *score, fpf_error *err);

/*
 * Divergence of the kernel estimate of the probability current,
 *   J(x) = (1/n) sum_j K_h(x - z_j) v_j,
 * at the particles: div_J_i = rho_i sum_j w_ij (z_j - z_i).v_j / h^2.
 * This is the current whose divergence gives d rho/dt for particles moving
 * with velocities v, so d rho_i/dt = -div_J_i.  v is n x d; log_rho must be
 * fpf_kde_eval's output for the same z and h.  div_over_rho (n) receives
 * div_J_i / rho_i, which stays finite where rho_i underflows; div (n) may
 * be NULL.
 */
fpf_status fpf_kde_flux_divergence(fpf_kde *k, const double *z, size_t n,
                                   double h, const double *log_rho,
                                   const double *v, double *div,
                                   double *div_over_rho, fpf_error *err);

/*
 * One-shot helpers that make and free their own workspace: the KDE of
 * sources z (n x d) at x (m x d); x == NULL means at the sources.
 * leave_one_out applies only at the sources (x == NULL).
 */
fpf_status fpf_kde_log_density(const double *z, size_t n, size_t d,
                               const double *x, size_t m, double h,
                               int leave_one_out, double *log_rho,
                               double *score, fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
