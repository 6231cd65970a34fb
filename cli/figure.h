/*
 * The quick-start figure of `fpflow run` (PLplot, pngcairo device).
 *
 * Three panels side by side, 1500 x 500 pixels:
 *   (a) the initial ensemble, (b) the final ensemble, on the same axes;
 *   (c) C(t) and C_vel(t) against the step index (0 .. nsteps-1) on a
 *       log axis, the reset threshold as a red dashed line and the
 *       resets as vertical dotted lines.
 * Ensembles with d > 2 are shown on their first two principal components
 * (of z0 and z1 pooled); d == 1 is shown against the particle index.
 *
 * PLplot keeps global state and its error exit is process-wide: these
 * functions are for the command line's single thread, not for the
 * library.
 */
#ifndef FPF_CLI_FIGURE_H
#define FPF_CLI_FIGURE_H

#include <stddef.h>

#include "fpflow/status.h"

typedef struct fpf_run_figure {
  const double *z0, *z1; /* n0 x d and n1 x d, row-major */
  size_t n0, n1, d;
  const double *C;       /* nsteps values; may be NULL */
  const double *C_vel;   /* nsteps values; may be NULL */
  const int *reset;      /* nsteps flags, non-zero at a reset; may be NULL */
  size_t nsteps;
  double threshold;      /* drawn when finite and > 0 */
  const char *title;     /* above the panels; may be NULL */
  int mark_two_wells;    /* mark the minima (-2,0), (2,1); only if d == 2 */
} fpf_run_figure;

/*
 * Renders the figure to path (PNG), through a temporary file beside it
 * that is renamed into place, so a failed render leaves no half file.
 * Values of C that are not finite or not > 0 are left out of the log
 * axis.  PLplot's messages and error exits become an fpf_error.
 */
/*
 * Draws a PNG of width x height pixels with PLplot's pngcairo device:
 * draw(arg) makes the PLplot calls (plinit has run; plend follows).  The
 * image goes to a temporary file that is renamed into place; a PLplot
 * error or exit becomes an fpf_error instead of ending the program.
 * Figures are drawn by one thread at a time.
 */
int fpf_plot_png(const char *path, int width, int height,
                 void (*draw)(const void *arg), const void *arg,
                 fpf_error *err);

int fpf_figure_run(const char *path, const fpf_run_figure *f,
                   fpf_error *err);

/*
 * Projects the n x d rows of z (row-major, d >= 2) on their first two
 * principal components, centred on their mean: proj is n x 2, row-major,
 * column 0 the direction of largest variance.  Uses the d x d covariance
 * when n >= d, else the n x n Gram matrix (the cheaper eigenproblem).
 * Each axis is signed so that its largest loading is positive, which
 * makes the result deterministic.  Fewer than two directions of spread
 * leave the missing columns at 0.
 */
int fpf_figure_pca2(const double *z, size_t n, size_t d, double *proj,
                    fpf_error *err);

#endif
