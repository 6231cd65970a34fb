/*
 * Post-hoc detection of phase transitions (SPEC section 6).
 *
 * The workload is a metrics history of a few hundred to a few million
 * rows, read once.  Everything is O(n): one pass per criterion and a
 * prefix count per criterion so that the tolerance window costs the same
 * whatever its width.
 */
#include "fpflow/detect.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void fpf_detect_options_init(fpf_detect_options *o) {
  if (!o) return;
  o->drop_factor = 0.5;
  o->spike_factor = 2.0;
  o->window = 10;
  o->plateau_tol = 1e-4;
  o->plateau_relative = 0;
  o->tolerance = 0;
  o->use_log = 0;
}

static fpf_status check_options(const fpf_detect_options *o, fpf_error *err) {
  if (!isfinite(o->drop_factor) || o->drop_factor < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "drop_factor = %g: must be finite and >= 0",
                         o->drop_factor);
  if (!isfinite(o->spike_factor) || o->spike_factor < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "spike_factor = %g: must be finite and >= 0",
                         o->spike_factor);
  if (o->window < 1)
    return fpf_error_set(err, FPF_EINVAL, "window = %ld: must be >= 1",
                         o->window);
  if (!isfinite(o->plateau_tol) || o->plateau_tol < 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "plateau_tol = %g: must be finite and >= 0",
                         o->plateau_tol);
  if (o->tolerance < 0)
    return fpf_error_set(err, FPF_EINVAL, "tolerance = %ld: must be >= 0",
                         o->tolerance);
  return FPF_OK;
}

/* Refuses NaN and infinities, naming the series and the first bad row. */
static fpf_status check_finite(const double *x, size_t n, const char *name,
                               fpf_error *err) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return fpf_error_set(err, FPF_ENONFINITE, "%s at row %zu is %g", name,
                           i, x[i]);
  return FPF_OK;
}

/*
 * Population mean and standard deviation (two passes, so that a series
 * with a large offset keeps its small spread).
 */
static void moments(const double *x, size_t n, double *mean, double *sd) {
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  *mean = s / (double)n;
  for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
  *sd = sqrt(ss / (double)n);
}

/*
 * A spread at the level of round-off counts as none.  A series that is
 * constant, or (for dC) falls at a constant rate, in exact arithmetic
 * keeps a spread of a few ulps of its largest value once stored; with a
 * threshold of factor * 1e-16 every row of a steady decline would then be
 * a drop.  16 ulps covers the rounding of the values and of the
 * difference with room to spare.
 */
static int spread_is_roundoff(double sd, double scale) {
  return sd <= 16 * DBL_EPSILON * scale;
}

static double max_abs(const double *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
  return m;
}

/*
 * drop: dC_t = C_t - C_{t-1} < -factor * std(dC), t >= 1.  The differences
 * go into the caller's scratch (n - 1 values) so that log C is formed
 * once per row; the round-off scale is that of the series differenced.
 */
static void flag_drops(const double *C, size_t n, int use_log, double factor,
                       double *dc, unsigned char *flag) {
  memset(flag, 0, n);
  if (n < 2) return;
  double scale = 0;
  for (size_t t = 0; t < n; t++) {
    double c = use_log ? log(C[t]) : C[t];
    scale = fmax(scale, fabs(c));
    if (t > 0) dc[t - 1] = c - (use_log ? log(C[t - 1]) : C[t - 1]);
  }
  double mean, sd;
  moments(dc, n - 1, &mean, &sd);
  if (spread_is_roundoff(sd, scale)) return;
  for (size_t t = 1; t < n; t++) flag[t] = dc[t - 1] < -factor * sd;
}

/* spike: Sdot_t > mean(Sdot) + factor * std(Sdot). */
static void flag_spikes(const double *sdot, size_t n, double factor,
                        unsigned char *flag) {
  memset(flag, 0, n);
  double mean, sd;
  moments(sdot, n, &mean, &sd);
  if (spread_is_roundoff(sd, max_abs(sdot, n))) return;
  for (size_t t = 0; t < n; t++) flag[t] = sdot[t] > mean + factor * sd;
}

/*
 * plateau: |loss_t - loss_{t-w}| < tol, or < tol * max(|loss_{t-w}|,
 * DBL_MIN) when relative; DBL_MIN keeps a zero loss from making the
 * bound zero, so that an exactly repeated zero still counts as flat.
 */
static void flag_plateaus(const double *loss, size_t n,
                          const fpf_detect_options *o, unsigned char *flag) {
  memset(flag, 0, n);
  size_t w = (size_t)o->window;
  for (size_t t = w; t < n; t++) {
    double ref = loss[t - w], bound = o->plateau_tol;
    if (o->plateau_relative) bound *= fmax(fabs(ref), DBL_MIN);
    flag[t] = fabs(loss[t] - ref) < bound;
  }
}

/* cnt[i] = number of flagged rows before row i (n + 1 entries). */
static void prefix_count(const unsigned char *flag, size_t n, size_t *cnt) {
  cnt[0] = 0;
  for (size_t i = 0; i < n; i++) cnt[i + 1] = cnt[i] + flag[i];
}

/* Whether a row in [t - k, t + k], clipped to the series, is flagged. */
static int any_near(const size_t *cnt, size_t n, size_t t, size_t k) {
  size_t lo = t > k ? t - k : 0;
  size_t hi = (n - 1 - t) > k ? t + k : n - 1;
  return cnt[hi + 1] > cnt[lo];
}

static fpf_status check_inputs(const double *C, const double *sdot,
                               const double *loss, size_t n,
                               const fpf_detect_options *o, fpf_error *err) {
  fpf_status st = check_options(o, err);
  if (st) return st;
  if ((st = check_finite(C, n, "C", err))) return st;
  if ((st = check_finite(sdot, n, "S_dot", err))) return st;
  if ((st = check_finite(loss, n, "loss", err))) return st;
  if (o->use_log)
    for (size_t i = 0; i < n; i++)
      if (C[i] <= 0)
        return fpf_error_set(err, FPF_EINVAL,
                             "C at row %zu is %g: use_log needs C > 0", i,
                             C[i]);
  return FPF_OK;
}

fpf_status fpf_detect_transitions(const double *C, const double *sdot,
                                  const double *loss, size_t n,
                                  const fpf_detect_options *o,
                                  size_t *rows_out, size_t *n_out,
                                  fpf_detect_flags *flags, fpf_error *err) {
  fpf_detect_options defaults;
  if (!o) {
    fpf_detect_options_init(&defaults);
    o = &defaults;
  }
  if (!n_out) return fpf_error_set(err, FPF_EINVAL, "n_out is NULL");
  *n_out = 0;
  if (n > 0 && (!C || !sdot || !loss || !rows_out)) {
    const char *which = !C      ? "C"
                        : !sdot ? "sdot"
                        : !loss ? "loss"
                                : "rows_out";
    return fpf_error_set(err, FPF_EINVAL, "%s is NULL with n = %zu", which,
                         n);
  }
  fpf_status st = check_inputs(C, sdot, loss, n, o, err);
  if (st || n == 0) return st;

  /* One block: three flag rows, two prefix counts, the differences. */
  if (n > SIZE_MAX / 64)
    return fpf_error_set(err, FPF_ENOMEM, "n = %zu rows is too many", n);
  size_t ncnt = 2 * (n + 1);
  unsigned char *block =
      malloc(ncnt * sizeof(size_t) + n * sizeof(double) + 3 * n);
  if (!block)
    return fpf_error_set(err, FPF_ENOMEM,
                         "cannot allocate the scratch of %zu rows", n);
  size_t *cnt_spike = (size_t *)block, *cnt_plat = cnt_spike + (n + 1);
  double *dc = (double *)(cnt_spike + ncnt);
  unsigned char *drop = (unsigned char *)(dc + n);
  unsigned char *spike = drop + n, *plat = spike + n;

  /* Each criterion on its own, then the windowed intersection. */
  flag_drops(C, n, o->use_log, o->drop_factor, dc, drop);
  flag_spikes(sdot, n, o->spike_factor, spike);
  flag_plateaus(loss, n, o, plat);
  prefix_count(spike, n, cnt_spike);
  prefix_count(plat, n, cnt_plat);
  size_t k = (size_t)o->tolerance, m = 0;
  for (size_t t = 0; t < n; t++)
    if (drop[t] && any_near(cnt_spike, n, t, k) &&
        any_near(cnt_plat, n, t, k))
      rows_out[m++] = t;
  *n_out = m;

  if (flags) {
    if (flags->drop) memcpy(flags->drop, drop, n);
    if (flags->spike) memcpy(flags->spike, spike, n);
    if (flags->plateau) memcpy(flags->plateau, plat, n);
  }
  free(block);
  return FPF_OK;
}
