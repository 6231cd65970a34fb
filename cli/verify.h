/*
 * fpflow verify: a table of checks against exact answers (fpflow's own
 * correctness) and of the source document's claims (internal to the
 * command line).
 *
 * Every check adds rows to the table and a section to the report.  A row
 * of fpflow's own correctness is PASS or FAIL; a row that tests a claim of
 * the source says HOLDS or DOES NOT HOLD AS STATED, which is a result, not
 * a failure of fpflow.  Only FAIL rows make the command exit with 1.
 *
 * A library call that fails inside a check becomes a FAIL row naming the
 * call's message; the other checks still run.
 */
#ifndef FPF_CLI_VERIFY_H
#define FPF_CLI_VERIFY_H

#include <stddef.h>

#include "cli.h"
#include "fpflow/status.h"

typedef enum vf_verdict {
  VF_PASS = 0,
  VF_FAIL,
  VF_HOLDS,
  VF_NOT_HOLD,
  VF_INFO /* a measurement with no verdict */
} vf_verdict;

/* "PASS", "FAIL", "HOLDS", "DOES NOT HOLD AS STATED", "(info)" */
const char *vf_verdict_name(vf_verdict v);

typedef struct vf_row {
  char check[96];      /* what is checked */
  char measured[560];  /* the number(s) measured */
  char expected[320];  /* the exact answer or the claim */
  char tolerance[160]; /* how far apart they may be, and why */
  vf_verdict verdict;
} vf_row;

/* Run sizes: quick is the reduced ctest form, full the large-N form. */
typedef enum vf_mode { VF_QUICK = 0, VF_DEFAULT, VF_FULL } vf_mode;

typedef struct vf_ctx {
  vf_mode mode;
  const char *out; /* output directory */
  int figures;     /* PLplot has the pngcairo device */
  /* the table */
  vf_row *rows;
  size_t nrows, cap;
  /* the report's sections (Markdown), appended by the checks */
  char *text;
  size_t len, tcap;
  int oom; /* a text or row allocation failed (the report says so) */
  /* progress over the whole run, in the checks' work units */
  fpf_progress prog;
  double work_total, work_done;
  const char *stage;
  int max_threads; /* OpenMP threads available to the run */
} vf_ctx;

/* A new row (zeroed, with its check name); NULL when out of memory. */
vf_row *vf_row_new(vf_ctx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Shows a finished row on stdout (unless -q). */
void vf_row_show(vf_ctx *v, const vf_row *r);
/* A FAIL row for a library call that failed inside a check. */
void vf_row_error(vf_ctx *v, const char *check, const fpf_error *err);

/* Appends formatted Markdown to the report. */
void vf_say(vf_ctx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Progress: the stage's name and work done (in the units of
   vf_work_estimate). */
void vf_stage(vf_ctx *v, const char *name);
void vf_work(vf_ctx *v, double units);

/* The cost model of the progress display: one unit is one pair of
   particles in one KDE evaluation, n^2 per step. */
static inline double vf_kde_units(size_t n, long steps) {
  return (double)n * (double)n * (double)steps;
}

/*
 * Threads for an ensemble of n particles: one while a step's O(n^2) work
 * is small (below ~4 ms), where waiting at the parallel loops' barriers
 * costs more than the second thread gives (on the loaded two-core build
 * machine a 500-particle step took 5 times longer on two threads), else
 * all of them.  fpflow's results do not depend on the thread count.
 */
void vf_threads(vf_ctx *v, size_t n);

/* Appends "a, b, c" of n numbers in %.*g to buf (size cap). */
void vf_fmt_vec(char *buf, size_t cap, const double *x, size_t n, int digits);

/* Least-squares slope of y against x (n >= 2); NaN when undefined. */
double vf_slope(const double *x, const double *y, size_t n);

/* The checks, in the order the table shows them.  Each returns the
   units of work it will do (for the progress display) when estimate is
   set, and otherwise runs and returns 0. */
double vf_check_ou(vf_ctx *v, int estimate);
double vf_check_grid(vf_ctx *v, int estimate);
double vf_check_pd(vf_ctx *v, int estimate);
double vf_check_radius(vf_ctx *v, int estimate);
double vf_check_kl(vf_ctx *v, int estimate);
double vf_check_resets(vf_ctx *v, int estimate);

/* ---- figures (verify_figure.c; PLplot, pngcairo) ----------------------- */

enum { VF_LINE = 0, VF_DASHED, VF_DOTTED, VF_POINTS, VF_STEPS };

typedef struct vf_series {
  const double *x, *y;
  size_t n;
  int kind;          /* VF_LINE ... VF_STEPS (steps: x are bin centres) */
  int colour;        /* 0 .. 7, a fixed palette */
  const char *label; /* legend text, or NULL */
} vf_series;

#define VF_MAX_SERIES 8

typedef struct vf_panel {
  const char *title, *xlabel, *ylabel;
  int logx, logy; /* log10 axes: non-positive values are left out */
  vf_series s[VF_MAX_SERIES];
  int ns;
} vf_panel;

/* Renders npanels side by side to path (PNG) through a temporary file
   that is renamed into place. */
int vf_figure_write(const char *path, const vf_panel *p, int npanels,
                    int width, int height, fpf_error *err);
/* Whether PLplot has the pngcairo device. */
int vf_figure_available(void);
/* Writes DIR/name, reporting a failure on stderr; returns 0 on success. */
int vf_figure(vf_ctx *v, const char *name, const vf_panel *p, int npanels,
              int width, int height);

#endif
