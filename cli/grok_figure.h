/*
 * The figure of one `fpflow grok` run (PLplot, pngcairo device), 1200 x
 * 1100 pixels, three panels sharing the step axis:
 *   (a) train and test accuracy, the grokking threshold dashed;
 *   (b) C_vel on a log axis;
 *   (c) C on a log axis (drawn from log C: in the hundreds of
 *       dimensions of a hidden layer C itself overflows a double).
 * The reset threshold (which follows the ratio's peak when it is
 * relative) is dashed in the panel of the ratio that triggers resets.
 * Every panel marks the grokking step (green), the detected transitions
 * (red, dash-dotted) and the resets (grey, dotted).
 *
 * PLplot keeps global state and its error exit is process-wide: this is
 * for the command line's single thread.
 */
#ifndef FPF_CLI_GROK_FIGURE_H
#define FPF_CLI_GROK_FIGURE_H

#include <stddef.h>

#include "fpflow/status.h"

typedef struct fpf_grok_figure {
  size_t n;                      /* observations */
  const double *step;            /* n */
  const double *train_acc, *test_acc; /* n */
  const double *log_C, *log_C_vel; /* n, natural logs; not finite: gaps */
  const double *transitions;     /* steps, nt of them */
  size_t nt;
  const double *resets;          /* steps, nr of them */
  size_t nr;
  double grok_step;              /* NaN: not grokked */
  double grok_accuracy;          /* the dashed line of panel (a) */
  const double *threshold;       /* n: the reset threshold at each row
                                    (NaN: none), or NULL */
  int threshold_on_C_vel;        /* 1: the threshold is C_vel's */
  const char *title;
} fpf_grok_figure;

/* Renders to path through a temporary file renamed into place. */
int fpf_grok_figure_write(const char *path, const fpf_grok_figure *f,
                          fpf_error *err);

#endif
