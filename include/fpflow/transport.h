/*
 * Distances between ensembles and to the stationary law (SPEC section 5).
 *
 * Wasserstein-2 between two weighted point clouds a, b in R^d,
 *   W2^2(a, b) = min over couplings pi of sum_ij pi_ij |a_i - b_j|^2,
 * by five methods:
 *   exact     in 1-D the sorted (monotone) matching, O(n log n); else
 *             for equal sizes and uniform weights an optimal assignment
 *             (shortest augmenting paths, O(n^3)); otherwise the
 *             transportation simplex (a min-cost flow).
 *   sinkhorn  the debiased Sinkhorn divergence
 *             S_eps = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2,
 *             log domain, epsilon scaling; S_eps -> W2^2 as eps -> 0.
 *   bures     the closed form between the Gaussian fits N(m_a, S_a),
 *             N(m_b, S_b): |m_a - m_b|^2 + tr S_a + tr S_b
 *             - 2 tr (S_a^1/2 S_b S_a^1/2)^1/2.
 *   sliced    SW2^2 = E_theta W2^2(theta.a, theta.b) over K directions
 *             theta uniform on the sphere, each a sorted 1-D matching.
 *             A different distance: SW2 <= W2 / sqrt(d), with equality
 *             for a shift (SW2 = |s| / sqrt(d)).  In 1-D it equals W2.
 *   auto      exact up to the limits in fpf_w2_options, then Sinkhorn,
 *             then sliced (docs/transport.md gives the measured costs).
 *
 * The stationary law rho* of dz = -eta grad L dt + sqrt(2 c) dW is the
 * Gibbs law rho* = exp(-beta L) / Z with beta = eta / c.  fpf_gibbs draws
 * a reference sample of it: exactly for a quadratic L (a Gaussian) and for
 * the Gaussian mixture at beta = 1 (a Gaussian mixture), else by a
 * Metropolis-adjusted Langevin (MALA) chain.  fpf_gibbs_kl gives
 * KL(rho_t || rho*) for particles of rho_t.
 *
 * Sums over points run in a fixed order and parallel loops only split
 * independent rows, so every result is the same on any number of threads.
 */
#ifndef FPFLOW_TRANSPORT_H
#define FPFLOW_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "fpflow/landscape.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Philox streams of this module (rng.h keeps values below 16 for fpflow). */
enum { FPF_STREAM_SLICED = 8, FPF_STREAM_GIBBS = 9, FPF_STREAM_GIBBS_U = 10 };

/* A weighted point cloud. */
typedef struct fpf_cloud {
  const double *x;  /* n x d points, row-major */
  size_t n, d;
  const double *w;  /* n weights >= 0, not all 0 (only their ratios
                       matter), or NULL for uniform weights */
  const char *name; /* what messages call it ("A.npy"); NULL: "cloud" */
} fpf_cloud;

/*
 * Checks a cloud: n >= 1, d >= 1, every point finite, every weight
 * finite and >= 0 and not all 0.  w_out (n, may be NULL) receives the
 * weights normalised to sum 1.  Messages name the cloud, the row and the
 * value ("A.npy: NaN at row 3, column 1"; "A.npy: weight -0.5 at index 2
 * is negative").
 */
fpf_status fpf_cloud_check(const fpf_cloud *c, double *w_out,
                           fpf_error *err);

typedef enum fpf_w2_method {
  FPF_W2_AUTO = 0,
  FPF_W2_EXACT,
  FPF_W2_SINKHORN,
  FPF_W2_BURES,
  FPF_W2_SLICED
} fpf_w2_method;

/* "auto", "exact", "sinkhorn", "bures", "sliced"; parse returns -1 for
 * an unknown name. */
const char *fpf_w2_method_name(fpf_w2_method m);
int fpf_w2_method_parse(const char *s, fpf_w2_method *m);

typedef struct fpf_w2_options {
  fpf_w2_method method; /* auto */
  /* auto: exact in 1-D; the assignment for equal, uniform clouds of
   * n <= exact_max points (4096); the simplex while na + nb <= flow_max
   * (3000); Sinkhorn while na nb <= sinkhorn_max (2^24); sliced beyond. */
  size_t exact_max, flow_max, sinkhorn_max;
  /* Sinkhorn: the final epsilon, in units of squared distance (0 takes
   * (blur s)^2, s^2 the mean per-coordinate variance of the pooled
   * points); stages divide epsilon by 1/eps_scaling^2, from the squared
   * diameter of the clouds' bounding box down; a stage ends when the L1
   * error of the marginals is below tol (stage_tol before the last
   * stage) or after max_iter iterations (200 before the last stage). */
  double epsilon;     /* 0 */
  double blur;        /* 0.1 */
  double eps_scaling; /* 0.5 */
  double tol;         /* 1e-6 */
  double stage_tol;   /* 1e-3 */
  long max_iter;      /* 20000 per problem at the final epsilon */
  /* sliced: directions and the seed they are drawn from */
  size_t projections; /* 256 */
  uint64_t seed;      /* 0 */
} fpf_w2_options;

void fpf_w2_options_init(fpf_w2_options *o);

typedef struct fpf_w2_result {
  double w2;            /* the distance */
  double w2sq;          /* its square (before the square root is taken, a
                           Sinkhorn value may be a round-off below 0) */
  fpf_w2_method method; /* the method used (never auto) */
  int converged;        /* 0 only when Sinkhorn hit max_iter */
  long iterations;      /* Sinkhorn: iterations of the three problems over
                           all stages; 0 otherwise */
  double epsilon;       /* Sinkhorn: the final epsilon; NaN otherwise */
  double marginal_error; /* Sinkhorn: largest final L1 marginal error */
} fpf_w2_result;

/*
 * W2 between clouds a and b by o->method (o may be NULL for defaults).
 * Clouds of different dimension, non-finite points and bad weights are
 * FPF_EINVAL / FPF_ENONFINITE errors naming the cloud and the value.
 */
fpf_status fpf_w2_distance(const fpf_cloud *a, const fpf_cloud *b,
                           const fpf_w2_options *o, fpf_w2_result *r,
                           fpf_error *err);

/*
 * The optimal assignment of an n x n cost matrix C (row-major, finite):
 * perm (n) receives the column of each row, minimising
 * sum_i C[i, perm[i]], which goes to *total (may be NULL).  Column
 * reduction, then one shortest augmenting path per free row on reduced
 * costs (Jonker & Volgenant 1987; Crouse 2016).
 */
fpf_status fpf_assignment_solve(const double *C, size_t n, size_t *perm,
                                double *total, fpf_error *err);

/* Exact W2^2 between two equal-size clouds (weights ignored: uniform);
 * perm (n, may be NULL) receives the matching b[perm[i]] of a[i]. */
fpf_status fpf_w2_assignment(const fpf_cloud *a, const fpf_cloud *b,
                             double *w2sq, size_t *perm, fpf_error *err);

/* Exact W2^2 for any sizes and weights by the transportation simplex;
 * plan (na x nb, may be NULL) receives the optimal coupling.  A run of
 * degenerate pivots longer than 50 (na + nb) + 10000 pivots is reported
 * as FPF_EINVAL rather than allowed to cycle. */
fpf_status fpf_w2_flow(const fpf_cloud *a, const fpf_cloud *b, double *w2sq,
                       double *plan, fpf_error *err);

/* The debiased Sinkhorn divergence; r->w2sq = S_eps. */
fpf_status fpf_w2_sinkhorn(const fpf_cloud *a, const fpf_cloud *b,
                           const fpf_w2_options *o, fpf_w2_result *r,
                           fpf_error *err);

/* Weighted mean (d) and covariance (d x d, normalised by the total
 * weight, not n - 1) of a cloud. */
fpf_status fpf_cloud_moments(const fpf_cloud *c, double *mean, double *cov,
                             fpf_error *err);

/*
 * W2^2 between N(m1, S1) and N(m2, S2) (Bures).  S1, S2 symmetric
 * positive semidefinite; eigenvalues below 0 by round-off (down to
 * -1e-10 of the largest) are taken as 0, more negative ones are an
 * FPF_ENOTPD error naming the matrix and the eigenvalue.  Matrix square
 * roots come from symmetric eigendecompositions, so singular matrices
 * give a finite result >= 0.
 */
fpf_status fpf_w2_gaussian(const double *m1, const double *S1,
                           const double *m2, const double *S2, size_t d,
                           double *w2sq, fpf_error *err);

/* Bures W2^2 between the Gaussian fits of two clouds. */
fpf_status fpf_w2_bures(const fpf_cloud *a, const fpf_cloud *b,
                        double *w2sq, fpf_error *err);

/* Exact W2^2 between two weighted 1-D samples (d = 1): the quantile
 * functions matched over the merged cumulative weights. */
fpf_status fpf_w2_1d(const fpf_cloud *a, const fpf_cloud *b, double *w2sq,
                     fpf_error *err);

/* Sliced SW2^2 over `projections` directions drawn from seed. */
fpf_status fpf_w2_sliced(const fpf_cloud *a, const fpf_cloud *b,
                         size_t projections, uint64_t seed, double *sw2sq,
                         fpf_error *err);

/*
 * KL(N(m1, S1) || N(m2, S2)) = (tr(S2^-1 S1) + (m2 - m1)^T S2^-1 (m2 - m1)
 * - d + log det S2 - log det S1) / 2.  Both covariances must be positive
 * definite (FPF_ENOTPD names the one that is not).
 */
fpf_status fpf_kl_gaussian(const double *m1, const double *S1,
                           const double *m2, const double *S2, size_t d,
                           double *kl, fpf_error *err);

/* ---- the stationary law rho* = exp(-beta L) / Z ------------------------ */

typedef enum fpf_gibbs_method {
  FPF_GIBBS_GAUSSIAN = 0, /* quadratic L: N(m, (beta A)^-1), exact */
  FPF_GIBBS_MIXTURE,      /* mixture L at beta = 1, exact */
  FPF_GIBBS_MALA          /* Metropolis-adjusted Langevin chains */
} fpf_gibbs_method;

/* "gaussian", "mixture", "mala". */
const char *fpf_gibbs_method_name(fpf_gibbs_method m);

typedef struct fpf_gibbs_options {
  size_t n;             /* 1000 points in the sample */
  size_t chains;        /* 32 MALA chains run side by side (at most n) */
  long burn_in;         /* 1000 steps before the first call's sample */
  long burn_in_warm;    /* 200 steps before a later call's sample */
  long thin;            /* 10 steps between two kept states of a chain */
  double target_accept; /* 0.574, the optimum of Roberts & Rosenthal
                           (1998) for MALA */
  double step;          /* first step tau (0: 0.1 / beta) */
  int force_mala;       /* sample by MALA even where exact draws exist */
  const double *init;   /* n_init x d starting points of the chains, cycled
                           (copied); NULL starts them from N(0, I) */
  size_t n_init;
  uint64_t seed;        /* 0 */
} fpf_gibbs_options;

void fpf_gibbs_options_init(fpf_gibbs_options *o);

typedef struct fpf_gibbs fpf_gibbs;

/*
 * A sampler of exp(-beta L) for the landscape L (borrowed: it must
 * outlive the sampler and must not be evaluated elsewhere during a
 * call).  A quadratic L whose A is not positive definite is an
 * FPF_ENOTPD error: exp(-beta L) then has no normalisable law.
 */
fpf_status fpf_gibbs_create(fpf_gibbs **out, fpf_landscape *L,
                            const fpf_gibbs_options *o, fpf_error *err);
void fpf_gibbs_destroy(fpf_gibbs *g);

/*
 * Draws the sample for beta > 0.  MALA: proposals
 * y = x - tau grad U(x) + sqrt(2 tau) xi with U = beta L, the drift
 * capped in length at sqrt(2 tau d) (MALTA), accepted with the
 * Metropolis-Hastings ratio.  During burn-in log tau follows a
 * Robbins-Monro recursion toward the target acceptance (Andrieu & Thoms
 * 2008); it is then frozen, and each chain's state is kept every `thin`
 * steps.  Later calls continue the chains from where they stand, with
 * tau rescaled by beta_old / beta_new and adapted again during
 * burn_in_warm.  Exact draws use the same normals at every call, so the
 * sample moves smoothly with beta.
 */
fpf_status fpf_gibbs_sample(fpf_gibbs *g, double beta, fpf_error *err);

/* The last sample (n x d). */
const double *fpf_gibbs_points(const fpf_gibbs *g);
size_t fpf_gibbs_size(const fpf_gibbs *g);

typedef struct fpf_gibbs_info {
  fpf_gibbs_method method; /* how the last sample was drawn */
  double beta;             /* of the last sample */
  double acceptance;       /* MALA: accepted / proposed after burn-in over
                              all calls; NaN before any MALA sample */
  double acceptance_last;  /* the same for the last call */
  double step;             /* MALA: the frozen tau of the last call */
  long steps;              /* MALA steps of every chain, burn-in included */
  long calls;              /* samples drawn */
} fpf_gibbs_info;

void fpf_gibbs_get_info(const fpf_gibbs *g, fpf_gibbs_info *info);

/* log Z = log of the integral of exp(-beta L), and how it was found. */
typedef struct fpf_log_partition {
  double log_z;
  double error;       /* estimated absolute error of log_z (0: exact) */
  const char *method; /* "gaussian", "mixture" or "quadrature" */
  size_t grid;        /* quadrature: points per axis */
  double lo[2], hi[2]; /* quadrature: the box */
} fpf_log_partition;

/*
 * log Z exactly for the quadratic ((d/2) log 2 pi - (1/2) log det beta A)
 * and the mixture at beta = 1 (log sum_k p_k (2 pi s_k^2)^(d/2)); for
 * d <= 2 otherwise, by the trapezoid rule on a box that holds all but
 * e^-40 of the peak of exp(-beta L) on its edges, the grid doubled until
 * two successive values agree to 1e-10 (or 2^16 + 1 points per axis in
 * 1-D, 1025 in 2-D); error is that difference.  The box is grown from
 * the bounding box of hint (n_hint x d; NULL: [-5, 5]^d).  Anything else
 * is FPF_EUNSUPPORTED with the reason in err.
 */
fpf_status fpf_gibbs_log_partition(fpf_landscape *L, double beta,
                                   const double *hint, size_t n_hint,
                                   fpf_log_partition *r, fpf_error *err);

typedef struct fpf_kl_result {
  double kl;          /* KL(rho_t || rho*), NaN when not computable */
  const char *method; /* "gaussian" or "entropy" */
  double H;           /* entropy estimate of rho_t (entropy method) */
  double mean_beta_L; /* mean of beta L over the particles */
  double log_z, log_z_error;
  char reason[256];   /* why kl is NaN; "" otherwise */
} fpf_kl_result;

/*
 * KL(rho_t || rho*) for particles z (n x d) of rho_t.  Quadratic L: the
 * closed form between the particles' Gaussian fit and N(m, (beta A)^-1)
 * (exact when rho_t is Gaussian); a singular fit is an FPF_ENOTPD error.
 * Otherwise KL = -H + mean(beta L) + log Z, H the Kozachenko-Leonenko
 * entropy with k = knn_k neighbours (H given and finite: used as is) and
 * log Z from fpf_gibbs_log_partition (hint: the particles); where log Z
 * is not known, r->kl is NaN, r->reason says why, and the call succeeds.
 */
fpf_status fpf_gibbs_kl(fpf_landscape *L, double beta, const double *z,
                        size_t n, size_t knn_k, double H, fpf_kl_result *r,
                        fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
