/*
 * The training monitor (monitor.h): snapshots in, the flow's observables
 * out, one snapshot at a time.
 *
 * Everything the observables need comes from fpf_flow_compute (flow.h):
 * in model mode from the given per-sample gradients, in trajectory mode
 * from a given drift and diffusion, the Kramers-Moyal estimates of the
 * first and second conditional moments of the displacement,
 *   mu(z)  = E[dz | z] / tau,   D(z) = Cov[dz | z] / (2 tau),
 * taken with one displacement per probe and a D that is the same for all
 * probes (the covariance of the displacements about their mean).  The
 * diffusion is never factored (cholesky = 0): a rank-deficient D, the
 * normal case for real latents, is used as it is.
 *
 * Work per snapshot: one KDE and one flux divergence (O(N^2 d), in
 * flow.c), plus O(N d^2) for D here.  Memory: the previous snapshot, the
 * drift and D buffers, the flow's workspace and the metrics history.
 */
#include "fpflow/monitor.h"

#include <math.h>
#include <string.h>

#include "internal.h"

struct fpf_monitor {
  size_t n, d;
  fpf_monitor_options o;
  fpf_flow *flow;
  int computed;          /* the flow holds a snapshot's results */
  double *prev;          /* n x d: the previous snapshot (trajectory) */
  double *drift, *D;     /* n x d and d x d (trajectory) */
  double *mean;          /* d: the mean displacement (trajectory) */
  long prev_step;
  double h_last;         /* the last bandwidth that worked, or 0 */
  fpf_metrics *hist;
  size_t nhist, cap;
  size_t nalerts;
};

static const char *const mode_names[] = {"model", "trajectory"};

const char *fpf_monitor_mode_name(fpf_monitor_mode mode) {
  return (int)mode >= 0 && mode <= FPF_MONITOR_TRAJECTORY ? mode_names[mode]
                                                          : NULL;
}

int fpf_monitor_mode_parse(const char *s, fpf_monitor_mode *mode) {
  for (int i = 0; i < 2; i++)
    if (s && !strcmp(s, mode_names[i])) {
      *mode = (fpf_monitor_mode)i;
      return 0;
    }
  return -1;
}

void fpf_monitor_options_init(fpf_monitor_options *o) {
  memset(o, 0, sizeof *o);
  o->mode = FPF_MONITOR_MODEL;
  o->eta = 1.0;
  o->lambda = 0.001;
  o->c = 1.0;
  o->gamma = 0.05;
  o->entropy_form = FPF_ENTROPY_SOURCE;
  o->bandwidth_rule = FPF_BW_MEDIAN;
  o->bandwidth = 0.1;
  o->knn_k = 3;
  o->flux_divergence = 1;
  o->alert_on = FPF_TRIGGER_C_VEL;
  o->alert_C_threshold = 0.5;
  o->alert_div_threshold = 0.0;
  fpf_detect_options_init(&o->detect);
  o->detect_on = FPF_TRIGGER_C_VEL;
}

/* A finite value in [lo, inf) (or (lo, inf) when open), else a message. */
static fpf_status check_value(const char *name, double v, double lo,
                              int open, fpf_error *err) {
  if (isfinite(v) && (open ? v > lo : v >= lo)) return FPF_OK;
  return fpf_error_set(err, FPF_EINVAL,
                       "monitor: %s = %g: must be finite and %s %g", name, v,
                       open ? ">" : ">=", lo);
}

static fpf_status check_options(const fpf_monitor_options *o, size_t n,
                                size_t d, fpf_error *err) {
  if (n < 2 || d < 1)
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: n = %zu probe samples, d = %zu: needs "
                         "n >= 2 and d >= 1",
                         n, d);
  if (!fpf_monitor_mode_name(o->mode))
    return fpf_error_set(err, FPF_EINVAL, "monitor: mode = %d is unknown",
                         (int)o->mode);
  if (!fpf_entropy_form_name(o->entropy_form))
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: entropy_form = %d is unknown",
                         (int)o->entropy_form);
  if (!fpf_bw_rule_name(o->bandwidth_rule))
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: bandwidth_rule = %d is unknown",
                         (int)o->bandwidth_rule);
  int bad_trigger = o->alert_on != FPF_TRIGGER_C &&
                    o->alert_on != FPF_TRIGGER_C_VEL;
  if (bad_trigger || (o->detect_on != FPF_TRIGGER_C &&
                      o->detect_on != FPF_TRIGGER_C_VEL))
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: %s = %d: must be C (0) or C_vel (1)",
                         bad_trigger ? "alert_on" : "detect_on",
                         bad_trigger ? (int)o->alert_on : (int)o->detect_on);
  fpf_status st;
  if ((st = check_value("eta", o->eta, 0, 1, err)) ||
      (st = check_value("lambda", o->lambda, -INFINITY, 0, err)) ||
      (st = check_value("c", o->c, 0, 1, err)) ||
      (st = check_value("gamma", o->gamma, -INFINITY, 0, err)) ||
      (st = check_value("alert_C_threshold", o->alert_C_threshold, 0, 0,
                        err)) ||
      (st = check_value("alert_div_threshold", o->alert_div_threshold, 0, 0,
                        err)))
    return st;
  if (o->bandwidth_rule == FPF_BW_FIXED &&
      (st = check_value("bandwidth", o->bandwidth, 0, 1, err)))
    return st;

  /* The detector checks its own options, with no rows. */
  size_t none;
  st = fpf_detect_transitions(NULL, NULL, NULL, 0, &o->detect, NULL, &none,
                              NULL, err);
  if (st) fpf_error_prefix(err, "monitor: detect.");
  return st;
}

fpf_status fpf_monitor_create(fpf_monitor **out, size_t n, size_t d,
                              const fpf_monitor_options *o, fpf_error *err) {
  if (!out) return fpf_error_set(err, FPF_EINVAL, "monitor: out is NULL");
  *out = NULL;
  fpf_monitor_options def;
  if (!o) {
    fpf_monitor_options_init(&def);
    o = &def;
  }
  fpf_status st = check_options(o, n, d, err);
  if (st) return st;
  if (!fpf_mul_size(n, d) || !fpf_mul_size(d, d))
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: n = %zu, d = %zu is too large", n, d);

  fpf_monitor *m = calloc(1, sizeof *m);
  if (!m) return fpf_error_set(err, FPF_ENOMEM, "monitor: out of memory");
  m->n = n;
  m->d = d;
  m->o = *o;

  /* The flow: no Cholesky, since a KM diffusion is often singular. */
  fpf_flow_options fo;
  fpf_flow_options_init(&fo);
  fo.knn_k = o->knn_k;
  fo.flux_divergence = o->flux_divergence;
  fo.cholesky = 0;
  if ((st = fpf_flow_create(&m->flow, n, d, &fo, err))) {
    fpf_monitor_destroy(m);
    return st;
  }
  int traj = o->mode == FPF_MONITOR_TRAJECTORY;
  if (traj) {
    m->mean = fpf_dalloc(d);
    m->prev = fpf_dalloc(n * d);
    m->drift = fpf_dalloc(n * d);
    m->D = fpf_dalloc(d * d);
  }
  if (traj && (!m->mean || !m->prev || !m->drift || !m->D)) {
    fpf_monitor_destroy(m);
    return fpf_error_set(err, FPF_ENOMEM,
                         "monitor: out of memory for n = %zu, d = %zu", n,
                         d);
  }
  *out = m;
  return FPF_OK;
}

void fpf_monitor_destroy(fpf_monitor *m) {
  if (!m) return;
  fpf_flow_destroy(m->flow);
  fpf_dfree(m->prev);
  fpf_dfree(m->drift);
  fpf_dfree(m->D);
  fpf_dfree(m->mean);
  free(m->hist);
  free(m);
}

size_t fpf_monitor_history(const fpf_monitor *m, const fpf_metrics **hist) {
  if (hist) *hist = m ? m->hist : NULL;
  return m ? m->nhist : 0;
}

const fpf_flow *fpf_monitor_flow(const fpf_monitor *m) {
  return m && m->computed ? m->flow : NULL;
}

size_t fpf_monitor_alert_count(const fpf_monitor *m) {
  return m ? m->nalerts : 0;
}

/* --- One snapshot ----------------------------------------------------- */

/* NaN or Inf in a (rows x cols) is refused with the step and position. */
static fpf_status check_finite(const double *a, size_t rows, size_t cols,
                               const char *what, long step, fpf_error *err) {
  size_t r, c;
  long k = fpf_find_nonfinite(a, rows, cols, &r, &c);
  if (k < 0) return FPF_OK;
  double v = a[k];
  const char *name = isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
  if (cols == 1)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "monitor: %s at step %ld: %s at probe %zu", what,
                         step, name, r);
  return fpf_error_set(err, FPF_ENONFINITE,
                       "monitor: %s at step %ld: %s at row %zu, column %zu",
                       what, step, name, r, c);
}

static fpf_status check_push(const fpf_monitor *m, long step, const double *z,
                             const double *grad, const double *loss,
                             fpf_error *err) {
  if (!z) return fpf_error_set(err, FPF_EINVAL, "monitor: z is NULL");
  if (m->nhist > 0 && step <= m->hist[m->nhist - 1].step)
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: step %ld after step %ld: steps must "
                         "increase",
                         step, m->hist[m->nhist - 1].step);
  int model = m->o.mode == FPF_MONITOR_MODEL;
  if (model && !grad)
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: step %ld: model mode needs the "
                         "per-sample gradients (grad is NULL)",
                         step);
  fpf_status st = check_finite(z, m->n, m->d, "latents", step, err);
  if (!st && model) st = check_finite(grad, m->n, m->d, "gradients", step,
                                      err);
  if (!st && loss) st = check_finite(loss, m->n, 1, "loss", step, err);
  return st;
}

/*
 * The snapshot's bandwidth.  A rule can give h = 0 (the median when most
 * pairs coincide, any rule when all points do); then Scott's rule, which
 * is zero only when every point coincides, and then the last h.
 */
static fpf_status bandwidth(fpf_monitor *m, const double *z, long step,
                            double *h, fpf_error *err) {
  fpf_status st = fpf_flow_bandwidth(m->flow, z, m->n, m->o.bandwidth_rule,
                                     m->o.bandwidth, h, err);
  if (st == FPF_EINVAL && m->o.bandwidth_rule != FPF_BW_SCOTT) {
    fpf_logf(m->o.log, m->o.log_user, FPF_LOG_WARN,
             "monitor: step %ld: the %s bandwidth is 0; using Scott's rule",
             step, fpf_bw_rule_name(m->o.bandwidth_rule));
    st = fpf_flow_bandwidth(m->flow, z, m->n, FPF_BW_SCOTT, 0, h, err);
  }
  if (st == FPF_EINVAL && m->h_last > 0) {
    fpf_logf(m->o.log, m->o.log_user, FPF_LOG_WARN,
             "monitor: step %ld: all %zu latents coincide; keeping the "
             "last bandwidth %g",
             step, m->n, m->h_last);
    *h = m->h_last;
    st = FPF_OK;
  }
  if (st == FPF_EINVAL)
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor: step %ld: all %zu latents coincide, so "
                         "no bandwidth rule gives h > 0; use a fixed "
                         "bandwidth",
                         step, m->n);
  if (!st) m->h_last = *h;
  return st;
}

/*
 * Kramers-Moyal drift and diffusion from prev to z over `gap` steps:
 *   drift_i = (z_i - prev_i) / gap
 *   D       = sum_i r_i r_i^T / ((n - 1) 2 gap),  r_i = dz_i - mean(dz)
 * The residuals are formed in the drift buffer, then the drift is
 * computed afresh from z and prev (not as r + mean, which would round).
 * Sums over probes run in probe order.
 */
static void kramers_moyal(fpf_monitor *m, const double *z, double gap) {
  size_t n = m->n, d = m->d;
  double *r = m->drift;
  for (size_t k = 0; k < n * d; k++) r[k] = z[k] - m->prev[k];
  memset(m->mean, 0, d * sizeof *m->mean);
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) m->mean[c] += r[i * d + c];
  for (size_t c = 0; c < d; c++) m->mean[c] /= (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) r[i * d + c] -= m->mean[c];

  /* lower triangle by syrk, mirrored to the full matrix */
  fpf_syrk_full(n, d, 1.0 / ((double)(n - 1) * 2.0 * gap), r, m->D);
  for (size_t k = 0; k < n * d; k++) r[k] = (z[k] - m->prev[k]) / gap;
}

/* The row of a snapshot that only primes the trajectory mode. */
static void priming_row(const fpf_monitor *m, const double *loss,
                        fpf_metrics *row) {
  double nan = NAN;
  row->t = row->eta = row->c = row->boost = row->h = nan;
  row->C = row->log_C = row->C_vel = row->log_C_vel = nan;
  row->S_dot = row->H_kde = row->H_knn = row->T_eff = nan;
  row->T_gibbs = row->mu_rms = row->div_max = row->div_over_rho_max = nan;
  row->loss_mean = nan;
  if (!loss) return;
  double s = 0;
  for (size_t i = 0; i < m->n; i++) s += loss[i];
  row->loss_mean = s / (double)m->n;
}

/* The flow of this snapshot, by the monitor's mode. */
static fpf_status compute(fpf_monitor *m, long step, const double *z,
                          const double *grad, const double *loss,
                          fpf_metrics *row, fpf_error *err) {
  int traj = m->o.mode == FPF_MONITOR_TRAJECTORY;
  const double *at = traj ? m->prev : z;
  double h;
  fpf_status st = bandwidth(m, at, step, &h, err);
  if (st) return st;
  fpf_flow_params p = {m->o.eta, m->o.lambda, m->o.c, 0.0,
                       m->o.gamma, h, m->o.entropy_form};
  fpf_flow_input in = {at, m->n, grad, loss, NULL, NULL};
  if (traj) {
    kramers_moyal(m, z, (double)(step - m->prev_step));
    in.grad = NULL;
    in.drift = m->drift;
    in.diffusion = m->D;
  }
  m->computed = 0;
  st = fpf_flow_compute(m->flow, &in, &p, row, err);
  if (st) {
    fpf_error_prefix(err, "monitor: step %ld: ", step);
    return st;
  }
  m->computed = 1;

  /* eta and c are model-mode parameters; a KM drift has neither. */
  if (traj) row->eta = row->c = row->T_gibbs = NAN;

  /* No probe moved: drift and diffusion are both zero, C is 0/0. */
  if (traj && row->mu_rms == 0) {
    row->C = row->log_C = row->C_vel = row->log_C_vel = NAN;
    row->T_eff = NAN;
    fpf_logf(m->o.log, m->o.log_user, FPF_LOG_WARN,
             "monitor: no probe latent moved between steps %ld and %ld; "
             "C and C_vel are undefined there (NaN)",
             m->prev_step, step);
  }
  return FPF_OK;
}

/* The alert test of one row; fires the callback when it holds. */
static void maybe_alert(fpf_monitor *m, const fpf_metrics *row) {
  const fpf_monitor_options *o = &m->o;
  double v = o->alert_on == FPF_TRIGGER_C ? row->C : row->C_vel;
  double div = o->alert_div_over_rho ? row->div_over_rho_max : row->div_max;
  if (!(v < o->alert_C_threshold)) return;
  if (o->flux_divergence && o->alert_div_threshold > 0 &&
      !(div > o->alert_div_threshold))
    return;
  m->nalerts++;
  fpf_logf(o->log, o->log_user, FPF_LOG_DEBUG,
           "monitor: alert at step %ld: %s = %g < %g, max |div J| = %g",
           row->step, o->alert_on == FPF_TRIGGER_C ? "C" : "C_vel", v,
           o->alert_C_threshold, row->div_max);
  if (!o->alert) return;
  fpf_monitor_alert a = {row->step,
                         row->C,
                         row->C_vel,
                         row->div_max,
                         row->div_over_rho_max,
                         o->alert_C_threshold,
                         o->alert_div_threshold,
                         o->alert_on,
                         o->alert_div_over_rho,
                         m->nhist - 1};
  o->alert(o->alert_user, &a);
}

/* Room for one more history row (doubling). */
static fpf_status grow_history(fpf_monitor *m, fpf_error *err) {
  if (m->nhist < m->cap) return FPF_OK;
  size_t cap = m->cap ? 2 * m->cap : 64;
  fpf_metrics *h = realloc(m->hist, cap * sizeof *h);
  if (!h)
    return fpf_error_set(err, FPF_ENOMEM,
                         "monitor: out of memory for %zu history rows", cap);
  m->hist = h;
  m->cap = cap;
  return FPF_OK;
}

fpf_status fpf_monitor_push(fpf_monitor *m, long step, const double *z,
                            const double *grad, const double *loss,
                            fpf_metrics *out, fpf_error *err) {
  if (!m) return fpf_error_set(err, FPF_EINVAL, "monitor: m is NULL");
  int traj = m->o.mode == FPF_MONITOR_TRAJECTORY;
  fpf_status st = check_push(m, step, z, traj ? NULL : grad, loss, err);
  if (!st) st = grow_history(m, err);
  if (st) return st;

  /* The metrics: a priming row, or the flow at this snapshot. */
  fpf_metrics row;
  memset(&row, 0, sizeof row);
  if (traj && m->nhist == 0)
    priming_row(m, loss, &row);
  else if ((st = compute(m, step, z, grad, loss, &row, err)))
    return st;
  row.step = step;
  row.t = (double)step;
  row.reset = 0;

  /* Keep what the next snapshot needs, record, then alert. */
  if (traj) {
    memcpy(m->prev, z, m->n * m->d * sizeof *z);
    m->prev_step = step;
  }
  m->hist[m->nhist++] = row;
  fpf_logf(m->o.log, m->o.log_user, FPF_LOG_DEBUG,
           "monitor: step %ld: h = %g, C = %g, C_vel = %g, S_dot = %g", step,
           row.h, row.C, row.C_vel, row.S_dot);
  if (!(traj && m->nhist == 1)) maybe_alert(m, &row);
  if (out) *out = row;
  return FPF_OK;
}

/* --- Detection over the history --------------------------------------- */

fpf_status fpf_monitor_transitions(const fpf_monitor *m, size_t *rows_out,
                                   size_t *n_out, fpf_error *err) {
  return fpf_monitor_detect(m, rows_out, n_out, NULL, err);
}

/* Spreads the flags of the compacted rows back over the history rows. */
static void spread_flags(const fpf_detect_flags *in, const size_t *map,
                         size_t k, size_t n, fpf_detect_flags *out) {
  unsigned char *src[3] = {in->drop, in->spike, in->plateau};
  unsigned char *dst[3] = {out->drop, out->spike, out->plateau};
  for (int c = 0; c < 3; c++) {
    if (!dst[c]) continue;
    memset(dst[c], 0, n);
    for (size_t j = 0; j < k; j++) dst[c][map[j]] = src[c][j];
  }
}

fpf_status fpf_monitor_detect(const fpf_monitor *m, size_t *rows_out,
                              size_t *n_out, fpf_detect_flags *flags,
                              fpf_error *err) {
  if (!m || !n_out || (m->nhist && !rows_out))
    return fpf_error_set(err, FPF_EINVAL,
                         "monitor transitions: NULL argument");
  *n_out = 0;
  size_t n = m->nhist;
  if (n == 0) return FPF_OK;

  /* Without any loss the plateau test is dropped: a constant stand-in
   * with a lag of one row makes every row from the second a plateau, and
   * no row before the second can be a drop anyway. */
  int any_loss = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(m->hist[i].loss_mean)) any_loss = 1;
  fpf_detect_options o = m->o.detect;
  if (!any_loss) o.window = 1;

  /* The usable rows, compacted; map[k] is the history row of row k. */
  double *buf = malloc(n * (3 * sizeof(double) + sizeof(size_t) + 3));
  if (!buf)
    return fpf_error_set(err, FPF_ENOMEM,
                         "monitor transitions: out of memory for %zu rows",
                         n);
  double *C = buf, *sdot = buf + n, *loss = buf + 2 * n;
  size_t *map = (size_t *)(buf + 3 * n), k = 0;
  unsigned char *f = (unsigned char *)(map + n);
  fpf_detect_flags local = {f, f + n, f + 2 * n};
  for (size_t i = 0; i < n; i++) {
    const fpf_metrics *r = &m->hist[i];
    double c = m->o.detect_on == FPF_TRIGGER_C ? r->C : r->C_vel;
    double l = any_loss ? r->loss_mean : 0.0;
    if (!isfinite(c) || !isfinite(r->S_dot) || !isfinite(l)) continue;
    if (o.use_log && !(c > 0)) continue;
    C[k] = c, sdot[k] = r->S_dot, loss[k] = l, map[k++] = i;
  }
  fpf_status st = fpf_detect_transitions(C, sdot, loss, k, &o, rows_out,
                                         n_out, &local, err);
  if (st) fpf_error_prefix(err, "monitor transitions: ");
  for (size_t j = 0; !st && j < *n_out; j++) rows_out[j] = map[rows_out[j]];
  if (!st && flags) spread_flags(&local, map, k, n, flags);
  free(buf);
  return st;
}
