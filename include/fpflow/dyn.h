/*
 * Particle dynamics: an ensemble evolved by Euler-Maruyama under fpflow's
 * Fokker-Planck drift and diffusion, with stochastic resets.
 *
 * One step (t = step * dt):
 *   eta(t) = eta0 / (1 + t / tau_eta),  c(t) = D0 exp(-t / tau_D)
 *   b(t)   = beta_reset c(t*) exp(-(t - t*) / tau_D) after a reset at t*
 *   mu, D  from the flow at the current particles (flow.h)
 *   z_i   <- z_i + mu_i dt + sqrt(2 dt) L xi_i,  D = L L^T,  xi_i ~ N(0, I)
 * with xi drawn by Philox from (seed, step, particle).  The metrics of a
 * step describe the particles before its update.  A reset fires after the
 * update when the trigger (C or C_vel) is below C_threshold, the step is
 * >= warmup and at least cooldown steps have passed since the last reset.
 * A reset replaces round(alpha n) particles, chosen at random, by draws
 * from N(m, 1.5 Sigma) of the ensemble, made as m + sqrt(1.5 / (n - 1))
 * sum_j u_j (z_j - m) with u_j ~ N(0, 1): the draws stay in the span of
 * the particles and need no factorisation of Sigma, which is singular when
 * n <= d.  Beyond 4096 particles each draw sums 1024 deviations picked at
 * random with replacement, scaled so that the covariance is still
 * 1.5 Sigma.  A new reset's boost replaces the previous one.
 *
 * All memory is allocated by fpf_dyn_create; a step allocates nothing.
 */
#ifndef FPFLOW_DYN_H
#define FPFLOW_DYN_H

#include <stddef.h>
#include <stdint.h>

#include "fpflow/flow.h"
#include "fpflow/kde.h"
#include "fpflow/landscape.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fpf_trigger { FPF_TRIGGER_C = 0, FPF_TRIGGER_C_VEL = 1 }
    fpf_trigger;

typedef struct fpf_dyn_options {
  double eta0;      /* 0.01   initial learning rate */
  double tau_eta;   /* 1000   learning-rate decay time */
  double lambda;    /* 0.001  entropy weight (may be negative) */
  double D0;        /* 1.0    base diffusion */
  double tau_D;     /* 500    diffusion decay time */
  double gamma;     /* 0.05   Fisher coupling */
  double dt;        /* 0.01   time step */
  fpf_entropy_form entropy_form; /* source */
  fpf_bw_rule bandwidth_rule;    /* fixed */
  double bandwidth;              /* 0.1 (for the fixed rule) */
  int leave_one_out;             /* 0 */
  fpf_kde_method kde_method;     /* auto: binned sums for large n, d <= 3
                                        (kde.h) */
  size_t knn_k;                  /* 3   k of the H_knn estimate (0: off) */
  int flux_divergence;           /* 0   compute div J each step */
  int single_precision;          /* 0   products in float (the KDE's
                                        above d = 8, the d x d ones above
                                        d = 32), see fpf_flow_options */
  int resets;                    /* 1   in-loop reset trigger on */
  fpf_trigger trigger;           /* C */
  double C_threshold;            /* 0.5 */
  double alpha_reset;            /* 0.2 fraction of particles replaced */
  double beta_reset;             /* 3.0 diffusion boost factor */
  long warmup;                   /* 10  no reset before this step */
  long cooldown;                 /* 10  steps between resets */
  uint64_t seed;                 /* 42 */
  fpf_log_fn log;                /* NULL: silent */
  void *log_user;
} fpf_dyn_options;

/* Fills o with the reference defaults listed above. */
void fpf_dyn_options_init(fpf_dyn_options *o);

/* Checks every option; the message names the option and its value. */
fpf_status fpf_dyn_options_check(const fpf_dyn_options *o, fpf_error *err);

double fpf_schedule_eta(const fpf_dyn_options *o, double t);
double fpf_schedule_c(const fpf_dyn_options *o, double t);

typedef struct fpf_dyn fpf_dyn;

/*
 * n particles z0 (n x d, d = the landscape's dimension), copied.  The
 * landscape is borrowed and must outlive the dynamics.
 */
fpf_status fpf_dyn_create(fpf_dyn **out, fpf_landscape *L, size_t n,
                          const double *z0, const fpf_dyn_options *o,
                          fpf_error *err);
void fpf_dyn_destroy(fpf_dyn *dyn);

/*
 * One step; m receives its metrics (may be NULL).  On failure (a
 * non-finite state, D not positive definite, a failing landscape) the
 * particles stay as they were before the step and the message names the
 * step.
 */
fpf_status fpf_dyn_step(fpf_dyn *dyn, fpf_metrics *m, fpf_error *err);

/* Applies a reset now, as the trigger would. */
fpf_status fpf_dyn_reset(fpf_dyn *dyn, fpf_error *err);

size_t fpf_dyn_size(const fpf_dyn *dyn);
size_t fpf_dyn_dim(const fpf_dyn *dyn);
long fpf_dyn_steps_done(const fpf_dyn *dyn);
const double *fpf_dyn_particles(const fpf_dyn *dyn);
/* The flow of the last step (density, score, drift, D, ...). */
const fpf_flow *fpf_dyn_flow(const fpf_dyn *dyn);
/* Overwrites the particles (n x d); non-finite values are refused. */
fpf_status fpf_dyn_set_particles(fpf_dyn *dyn, const double *z,
                                 fpf_error *err);

/*
 * Seconds spent in each phase (fpf_phase, flow.h) since the last call:
 * added to t[FPF_NPHASES], then zeroed.
 */
void fpf_dyn_profile_take(fpf_dyn *dyn, double *t);

/* Sets the threads of fpflow's loops and of OpenBLAS (process-wide). */
void fpf_set_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
