/*
 * Post-hoc detection of phase transitions in a metrics history.
 *
 * Three criteria, as in fpflow's reference (SPEC section 6):
 *   drop    at step t (t >= 1): dC_t = C_t - C_{t-1} < -drop_factor * std(dC)
 *   spike   at step t: Sdot_t > mean(Sdot) + spike_factor * std(Sdot)
 *   plateau at step t (t >= window):
 *           |loss_t - loss_{t-window}| < plateau_tol
 *           (times max(|loss_{t-window}|, DBL_MIN) when plateau_relative)
 * std is the population standard deviation over the whole series.  A
 * transition is a drop step t with a spike and a plateau each somewhere in
 * [t - tolerance, t + tolerance]; tolerance 0 is the exact intersection.
 * With use_log, the drop test runs on log C (C must then be > 0).
 * A constant series has no transition: when the spread of dC (or of
 * Sdot) is at the level of round-off (std <= 16 ulps of the largest |C|,
 * or |Sdot|), no row is a drop (or a spike), whatever the factor; so a
 * steady linear decline of C has no drop either.
 * Rows with t < 1 cannot be drops and rows with t < window cannot be
 * plateaus.
 */
#ifndef FPFLOW_DETECT_H
#define FPFLOW_DETECT_H

#include <stddef.h>

#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults in the comments; fpf_detect_transitions refuses the others. */
typedef struct fpf_detect_options {
  double drop_factor;    /* 0.5; finite, >= 0 */
  double spike_factor;   /* 2.0; finite, >= 0 */
  long window;           /* 10: lag of the plateau test, in rows; >= 1 */
  double plateau_tol;    /* 1e-4; finite, >= 0 */
  int plateau_relative;  /* 0: absolute tolerance */
  long tolerance;        /* 0: rows of slack between the criteria; >= 0 */
  int use_log;           /* 0: test drops of C itself */
} fpf_detect_options;

/* Fills o with the defaults above (o may be NULL). */
void fpf_detect_options_init(fpf_detect_options *o);

/*
 * Per-row flags (0 or 1) of each criterion.  Each non-NULL member must
 * have room for n values and is filled on success.
 */
typedef struct fpf_detect_flags {
  unsigned char *drop, *spike, *plateau;
} fpf_detect_flags;

/*
 * Finds transitions in rows 0..n-1.  C, sdot and loss have n values each;
 * non-finite values are refused (FPF_ENONFINITE) with the series and the
 * row named, as are C <= 0 with use_log and out-of-range options
 * (FPF_EINVAL).  Writes the transition rows, ascending, to rows_out
 * (capacity n) and their count to n_out.  o NULL means the defaults;
 * flags may be NULL.  The result depends only on the inputs.
 */
fpf_status fpf_detect_transitions(const double *C, const double *sdot,
                                  const double *loss, size_t n,
                                  const fpf_detect_options *o,
                                  size_t *rows_out, size_t *n_out,
                                  fpf_detect_flags *flags, fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
