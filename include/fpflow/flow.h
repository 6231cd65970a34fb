/*
 * The flow at one instant: from an ensemble (and the loss gradients at
 * its particles, or a given drift and diffusion) compute the density, the
 * score, the drift, the diffusion matrix and the observables of fpflow's
 * reference (SPEC sections 3 to 5).  fpf_dyn builds its steps on this, and
 * the training monitor applies it to snapshots of real latents.
 *
 *   log rho_i, s_i     Gaussian KDE at the particles (kde.h)
 *   g_i                entropy gradient: source form -rho_i s_i (1 +
 *                      log rho_i), or Wasserstein form -s_i
 *   mu_i               -eta (grad L_i + lambda g_i)
 *   F                  (1/n) sum_i sigma_i sigma_i^T, sigma_i = -grad L_i
 *   D                  c (I + gamma F) + b I
 *   C                  ||mu||_F / ||D grad rho||_F, grad rho_i = rho_i s_i
 *   C_vel              ||mu||_F / ||D s||_F
 *   J_i                rho_i (mu_i - D s_i)
 *   S_dot              mean_i (mu_i - D s_i) . s_i
 *   div J_i            divergence of the kernel current (kde.h)
 *   H_kde              -mean_i log rho_i
 *   H_knn              Kozachenko-Leonenko: psi(n) - psi(k) + log V_d +
 *                      (d/n) sum_i log eps_i (eps_i: k-th neighbour)
 *   T_eff              tr(D) / (||mu||_F / sqrt(n))  (per-particle speed)
 *   T_gibbs            (c + b) / eta
 * Products with rho are formed from log rho, so C stays right when rho
 * underflows; log C is reported beside C, which may overflow to inf.
 * Every sum over particles runs in particle order, once per call, so the
 * results do not depend on the number of threads.
 */
#ifndef FPFLOW_FLOW_H
#define FPFLOW_FLOW_H

#include <stddef.h>

#include "fpflow/kde.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fpf_entropy_form {
  FPF_ENTROPY_SOURCE = 0,
  FPF_ENTROPY_WASSERSTEIN = 1
} fpf_entropy_form;

/* "source" / "wasserstein"; parse returns -1 for an unknown name. */
const char *fpf_entropy_form_name(fpf_entropy_form f);
int fpf_entropy_form_parse(const char *s, fpf_entropy_form *f);

/* The observables of one instant (and, for runs, its schedule values). */
typedef struct fpf_metrics {
  long step;
  double t, eta, c, boost, h;
  double loss_mean;
  double C, log_C, C_vel, log_C_vel;
  double S_dot, H_kde, H_knn, T_eff, T_gibbs;
  double mu_rms;  /* ||mu||_F / sqrt(n) */
  double div_max; /* max_i |div J_i| (NaN unless computed) */
  double div_over_rho_max; /* max_i |div J_i| / rho_i (NaN unless computed) */
  int reset;      /* 1 when a reset followed this step */
} fpf_metrics;

/* Up to this dimension the d x d products are plain loops in double,
 * with or without single_precision. */
#define FPF_FLOW_SMALL_D 32

typedef struct fpf_flow_options {
  fpf_kde_method kde_method; /* AUTO: binned sums for large n in d <= 3 */
  int leave_one_out;   /* KDE without the self term */
  size_t knn_k;        /* k of H_knn; 0 skips it (H_knn = NaN) */
  int flux_divergence; /* compute div J (an extra O(n^2 d) pass) */
  int cholesky;        /* factor D (needed to draw noise) */
  int single_precision; /* the O(n^2 d) products in float above
                           d = FPF_KDE_DIRECT_MAX_D, the O(n d^2) ones
                           above d = FPF_FLOW_SMALL_D: about twice as
                           fast; relative accuracy ~1e-6 instead of
                           ~1e-15 */
} fpf_flow_options;

void fpf_flow_options_init(fpf_flow_options *o);

/* What the flow is computed from. */
typedef struct fpf_flow_input {
  const double *z;         /* n x d particles */
  size_t n;
  const double *grad;      /* n x d loss gradients, or NULL */
  const double *loss;      /* n losses, or NULL */
  const double *drift;     /* n x d given drift (replaces mu), or NULL */
  const double *diffusion; /* d x d given D (replaces c(I+gF)+bI), or NULL */
} fpf_flow_input;

typedef struct fpf_flow_params {
  double eta, lambda, c, boost, gamma, h;
  fpf_entropy_form entropy_form;
} fpf_flow_params;

typedef struct fpf_flow fpf_flow;

fpf_status fpf_flow_create(fpf_flow **out, size_t n_max, size_t d,
                           const fpf_flow_options *o, fpf_error *err);
void fpf_flow_destroy(fpf_flow *f);

/*
 * Computes everything for one instant; fills m (its step, t and reset
 * fields are the caller's).  Without grad, mu needs a given drift and D a
 * given diffusion.  A D that is not positive definite when cholesky is on
 * is an FPF_ENOTPD error naming gamma and lambda_max(F).
 */
fpf_status fpf_flow_compute(fpf_flow *f, const fpf_flow_input *in,
                            const fpf_flow_params *p, fpf_metrics *m,
                            fpf_error *err);

/* The bandwidth a rule gives for these particles (allocates nothing). */
fpf_status fpf_flow_bandwidth(fpf_flow *f, const double *z, size_t n,
                              fpf_bw_rule rule, double h_fixed, double *h,
                              fpf_error *err);

/* Results of the last compute; n x d unless said otherwise. */
const double *fpf_flow_log_density(const fpf_flow *f); /* n */
const double *fpf_flow_score(const fpf_flow *f);
const double *fpf_flow_drift(const fpf_flow *f);
const double *fpf_flow_flux(const fpf_flow *f);
const double *fpf_flow_divergence(const fpf_flow *f); /* n, or NULL */
const double *fpf_flow_diffusion(const fpf_flow *f);  /* d x d */
const double *fpf_flow_fisher(const fpf_flow *f);     /* d x d */
/* Lower Cholesky factor of D, row-major with zeros above (d x d). */
const double *fpf_flow_cholesky(const fpf_flow *f);
/* Whether the last compute's KDE took the binned sums (kde.h). */
int fpf_flow_kde_binned(const fpf_flow *f);

/* Phases of a step, timed for profiling (seconds, accumulated). */
typedef enum fpf_phase {
  FPF_PHASE_BANDWIDTH = 0, /* choosing h */
  FPF_PHASE_LANDSCAPE,     /* loss and gradients */
  FPF_PHASE_KDE,           /* log rho, score, neighbours */
  FPF_PHASE_DIFFUSION,     /* F, D and its Cholesky factor */
  FPF_PHASE_DRIFT,         /* D s, drift, flux and the observables */
  FPF_PHASE_DIVERGENCE,    /* div J */
  FPF_PHASE_NOISE,         /* Philox normals and the L xi product */
  FPF_PHASE_UPDATE,        /* Euler-Maruyama update and its check */
  FPF_PHASE_RESET,         /* resets */
  FPF_NPHASES
} fpf_phase;

const char *fpf_phase_name(fpf_phase ph);

/* Adds the flow's phase times to t[FPF_NPHASES] and zeroes them. */
void fpf_flow_profile_take(fpf_flow *f, double *t);

/* Kozachenko-Leonenko entropy from k-th neighbour distances eps (n). */
double fpf_entropy_knn(const double *eps, size_t n, size_t d, size_t k);

/* Largest eigenvalue of a symmetric d x d matrix (row-major). */
fpf_status fpf_sym_max_eigenvalue(const double *A, size_t d, double *lmax,
                                  fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
