/*
 * Monitoring real training: the flow's observables on snapshots of the
 * latents of a fixed probe set (N samples x d features), fed one
 * snapshot at a time.
 *
 * Two ways to get drift and diffusion:
 *   FPF_MONITOR_MODEL       from each probe sample's loss gradient with
 *                           respect to its latent: mu = -eta (grad L +
 *                           lambda g), D = c (I + gamma F) (the reference's
 *                           drift and Fisher diffusion, flow.h);
 *   FPF_MONITOR_TRAJECTORY  Kramers-Moyal from consecutive snapshots:
 *                           mu_i = (z_i(t1) - z_i(t0)) / (t1 - t0), and
 *                           D = Cov_i(residual) / (2 (t1 - t0)), the residual
 *                           being each displacement minus the mean one.
 * The monitor keeps the previous snapshot and the metrics history only.
 *
 * STATUS: interface draft; the implementation is in progress.
 */
#ifndef FPFLOW_MONITOR_H
#define FPFLOW_MONITOR_H

#include <stddef.h>

#include "fpflow/detect.h"
#include "fpflow/dyn.h"
#include "fpflow/flow.h"
#include "fpflow/kde.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fpf_monitor_mode {
  FPF_MONITOR_MODEL = 0,
  FPF_MONITOR_TRAJECTORY = 1
} fpf_monitor_mode;

/* What an alert carries. */
typedef struct fpf_monitor_alert {
  long step;
  double C, C_vel, div_max, div_over_rho_max;
  double C_threshold, div_threshold;
} fpf_monitor_alert;

typedef void (*fpf_alert_fn)(void *user, const fpf_monitor_alert *a);

typedef struct fpf_monitor_options {
  fpf_monitor_mode mode;         /* MODEL */
  double eta, lambda, c, gamma;  /* 1, 0.001, 1, 0.05 (model mode) */
  fpf_entropy_form entropy_form; /* source */
  fpf_bw_rule bandwidth_rule;    /* median: latents have any scale */
  double bandwidth;              /* for the fixed rule */
  size_t knn_k;                  /* 3 */
  int flux_divergence;           /* 1: needed by the alert */
  fpf_trigger alert_on;          /* C_vel */
  double alert_C_threshold;      /* 0.5 */
  double alert_div_threshold;    /* alert when max |div J| exceeds it */
  fpf_alert_fn alert;            /* NULL: no alerts */
  void *alert_user;
  fpf_detect_options detect;     /* post-hoc detector over the history */
  fpf_log_fn log;
  void *log_user;
} fpf_monitor_options;

void fpf_monitor_options_init(fpf_monitor_options *o);

typedef struct fpf_monitor fpf_monitor;

fpf_status fpf_monitor_create(fpf_monitor **out, size_t n, size_t d,
                              const fpf_monitor_options *o, fpf_error *err);
void fpf_monitor_destroy(fpf_monitor *m);

/*
 * One snapshot at training step `step` (strictly increasing; gaps may be
 * uneven): latents z (n x d), and in model mode the per-sample gradients
 * grad (n x d); loss (n per-sample losses, or NULL).  out (may be NULL)
 * receives the snapshot's metrics.  In trajectory mode the first snapshot
 * only primes the monitor (out->C is NaN).
 */
fpf_status fpf_monitor_push(fpf_monitor *m, long step, const double *z,
                            const double *grad, const double *loss,
                            fpf_metrics *out, fpf_error *err);

/* The metrics of every snapshot so far, oldest first. */
size_t fpf_monitor_history(const fpf_monitor *m, const fpf_metrics **hist);

/* Runs the post-hoc detector over the history; rows_out has capacity
 * fpf_monitor_history()'s count. */
fpf_status fpf_monitor_transitions(const fpf_monitor *m, size_t *rows_out,
                                   size_t *n_out, fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
