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
 *   FPF_MONITOR_TRAJECTORY  Kramers-Moyal from consecutive snapshots at
 *                           steps t0 < t1 (any gap):
 *                           mu_i = (z_i(t1) - z_i(t0)) / (t1 - t0), and
 *                           D = Cov_i(r) / (2 (t1 - t0)), r_i being each
 *                           displacement minus the mean one (covariance
 *                           with 1/(N-1)).
 * Time is counted in training steps, so a drift is "per step".
 *
 * In trajectory mode the row of step t1 describes the interval (t0, t1]:
 * the density, score, entropies and flux are evaluated at the latents of
 * t0, the points the Kramers-Moyal moments are conditioned on (Ito
 * convention; the backward displacement would reverse the sign of the
 * drift of a stationary process).  Its loss is the one given with t1.
 * The first snapshot only primes the monitor: its row has the step and
 * the loss, and NaN for every observable.  When no probe moved between
 * two snapshots, drift and diffusion are both zero and C, C_vel (0/0)
 * and T_eff are NaN in that row (a warning is logged).  NaN rows are
 * left out of the detection.  One displacement per probe is
 * a noisy drift estimate (its noise is sqrt(2 D / gap) per coordinate),
 * so C in this mode compares coherent motion plus that noise with the
 * diffusion; see docs/monitor.md.
 *
 * Low-rank latents are the normal case (a layer of 512 units whose
 * activations span 30 directions): nothing here factors a d x d matrix,
 * and a rank-deficient D gives finite observables.  The monitor keeps the
 * previous snapshot, its own work buffers (O(N d + d^2)) and the metrics
 * history (one fpf_metrics per snapshot), never the whole series.
 *
 * The bandwidth of each snapshot's density comes from bandwidth_rule
 * (median heuristic by default, since latents have any scale).  When the
 * rule gives h = 0 (more than half of the pairs coincide, say), Scott's
 * rule is used, then the last snapshot's h; only a first snapshot whose
 * latents all coincide is refused.
 *
 * Alerts (the reference's alignment monitor): after each snapshot, when
 * the trigger (C or C_vel, option alert_on) is below alert_C_threshold
 * and max |div J| (or max |div J| / rho, option alert_div_over_rho)
 * exceeds alert_div_threshold, the alert callback receives the numbers.
 * A threshold of 0, or no divergence (flux_divergence = 0), leaves the C
 * test to decide alone.  div J is rho times a rate, and rho underflows in
 * high dimension (e^-1700 for 512 units is typical), so there max |div J|
 * is 0 and C overflows to inf (log C stays finite): a divergence
 * threshold for wide latents belongs on max |div J| / rho, and the
 * trigger on C_vel.
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

/* "model" / "trajectory"; parse returns -1 for an unknown name. */
const char *fpf_monitor_mode_name(fpf_monitor_mode mode);
int fpf_monitor_mode_parse(const char *s, fpf_monitor_mode *mode);

/* What an alert carries: the snapshot's numbers and the thresholds. */
typedef struct fpf_monitor_alert {
  long step;
  double C, C_vel, div_max, div_over_rho_max;
  double C_threshold, div_threshold;
  fpf_trigger on;        /* which of C and C_vel was tested */
  int div_over_rho;      /* 1 when div_over_rho_max was tested */
  size_t row;            /* the snapshot's row in the history */
} fpf_monitor_alert;

typedef void (*fpf_alert_fn)(void *user, const fpf_monitor_alert *a);

/* Defaults in the comments (fpf_monitor_options_init). */
typedef struct fpf_monitor_options {
  fpf_monitor_mode mode;         /* MODEL */
  double eta, lambda, c, gamma;  /* 1, 0.001, 1, 0.05 (model mode) */
  fpf_entropy_form entropy_form; /* source */
  fpf_bw_rule bandwidth_rule;    /* median: latents have any scale */
  double bandwidth;              /* 0.1, for the fixed rule */
  size_t knn_k;                  /* 3 (0: no H_knn) */
  int flux_divergence;           /* 1: needed by the alert */
  fpf_trigger alert_on;          /* C_vel */
  double alert_C_threshold;      /* 0.5 */
  double alert_div_threshold;    /* 0: the C test decides alone */
  int alert_div_over_rho;        /* 0: test max |div J| itself */
  fpf_alert_fn alert;            /* NULL: no alerts */
  void *alert_user;
  fpf_detect_options detect;     /* post-hoc detector over the history */
  fpf_trigger detect_on;         /* C_vel: the series the detector tests */
  fpf_log_fn log;                /* NULL: silent */
  void *log_user;
} fpf_monitor_options;

void fpf_monitor_options_init(fpf_monitor_options *o);

typedef struct fpf_monitor fpf_monitor;

/*
 * A monitor for n >= 2 probe samples of dimension d >= 1.  The options
 * are checked (the message names the option and its value) and copied.
 */
fpf_status fpf_monitor_create(fpf_monitor **out, size_t n, size_t d,
                              const fpf_monitor_options *o, fpf_error *err);
void fpf_monitor_destroy(fpf_monitor *m);

/*
 * One snapshot at training step `step` (strictly increasing; gaps may be
 * uneven): latents z (n x d), and in model mode the per-sample gradients
 * grad (n x d); loss (n per-sample losses, or NULL).  out (may be NULL)
 * receives the snapshot's metrics.  In trajectory mode the first snapshot
 * only primes the monitor (out->C is NaN) and grad is ignored.
 * NaN or Inf in z, grad or loss is refused (FPF_ENONFINITE) with the
 * step, the array, the row and the column; a refused snapshot leaves the
 * monitor as it was.
 */
fpf_status fpf_monitor_push(fpf_monitor *m, long step, const double *z,
                            const double *grad, const double *loss,
                            fpf_metrics *out, fpf_error *err);

/* The metrics of every snapshot so far, oldest first. */
size_t fpf_monitor_history(const fpf_monitor *m, const fpf_metrics **hist);

/*
 * Runs the post-hoc detector (detect.h, options `detect`, series
 * `detect_on`) over the history; rows_out has capacity
 * fpf_monitor_history()'s count and receives history rows.  Rows whose
 * series, S_dot or loss is not finite (the first row in trajectory mode)
 * are left out.  When no snapshot had a loss, the plateau criterion is
 * dropped: every row counts as a plateau.
 */
fpf_status fpf_monitor_transitions(const fpf_monitor *m, size_t *rows_out,
                                   size_t *n_out, fpf_error *err);

/*
 * As fpf_monitor_transitions, and each criterion's flag per history row
 * (detect.h; each non-NULL member of flags has room for the history's
 * count; rows left out are 0), to see which criteria held where.
 */
fpf_status fpf_monitor_detect(const fpf_monitor *m, size_t *rows_out,
                              size_t *n_out, fpf_detect_flags *flags,
                              fpf_error *err);

/*
 * The flow of the last snapshot that computed one (its drift, diffusion
 * matrix, score, log density, flux and divergence; flow.h), or NULL
 * before the first.  In trajectory mode these are the Kramers-Moyal drift
 * and diffusion at the previous snapshot's latents.  Valid until the next
 * push.
 */
const fpf_flow *fpf_monitor_flow(const fpf_monitor *m);

/* The number of alerts raised so far. */
size_t fpf_monitor_alert_count(const fpf_monitor *m);

#ifdef __cplusplus
}
#endif

#endif
