/*
 * The grok figure (grok_figure.h), drawn with PLplot's pngcairo device.
 *
 * fpf_plot_png (figure.h) traps PLplot's failures, and every range is
 * made non-empty before plwind so that plwarn() (which always prints)
 * has no cause to speak.
 */
#define _POSIX_C_SOURCE 200809L
#include "grok_figure.h"

#include "figure.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_BG, COL_FG, COL_TRAIN, COL_TEST, COL_C, COL_GROK,
       COL_TRANS, COL_RESET, COL_THR, NCOL };

static void set_colours(void) {
  static const int rgb[NCOL][3] = {
      {255, 255, 255}, {0, 0, 0},      {31, 119, 180}, {255, 127, 14},
      {31, 119, 180},  {44, 160, 44},  {214, 39, 40},
      {130, 130, 130}, {120, 120, 120}};
  plscmap0n(16);
  for (int i = 0; i < NCOL; i++) plscol0(i, rgb[i][0], rgb[i][1], rgb[i][2]);
}

#define TEXT_SCALE 0.8

/* A curve with gaps where y is NaN; lone points as dots. */
static void gappy_line(const double *x, const double *y, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (isnan(y[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && !isnan(y[j])) j++;
    if (j - i == 1)
      plpoin(1, x + i, y + i, 17);
    else
      plline((PLINT)(j - i), x + i, y + i);
    i = j;
  }
}

/* Vertical marks: resets dotted, transitions dash-dotted, grokking. */
static void draw_marks(const fpf_grok_figure *f, double ylo, double yhi) {
  plwidth(1.5);
  plcol0(COL_RESET);
  pllsty(3);
  for (size_t i = 0; i < f->nr; i++)
    pljoin(f->resets[i], ylo, f->resets[i], yhi);
  plcol0(COL_TRANS);
  pllsty(5);
  plwidth(2);
  for (size_t i = 0; i < f->nt; i++)
    pljoin(f->transitions[i], ylo, f->transitions[i], yhi);
  if (isfinite(f->grok_step)) {
    plcol0(COL_GROK);
    pllsty(1);
    pljoin(f->grok_step, ylo, f->grok_step, yhi);
  }
  pllsty(1);
  plwidth(1);
}

typedef struct legend {
  int n;
  const char *text[6];
  PLINT colour[6], style[6];
} legend;

static void legend_add(legend *l, const char *text, int colour, int style) {
  l->text[l->n] = text, l->colour[l->n] = colour, l->style[l->n] = style;
  l->n++;
}

static void legend_draw(const legend *l, PLINT where) {
  PLINT opt[6], tcol[6], snum[6], bcol[6], bpat[6];
  PLFLT widths[6], sscale[6], bscale[6], bw[6];
  const char *sym[6];
  for (int i = 0; i < l->n; i++) {
    opt[i] = PL_LEGEND_LINE, tcol[i] = COL_FG, widths[i] = 2;
    snum[i] = 1, sscale[i] = 1, sym[i] = "";
    bcol[i] = 0, bpat[i] = 0, bscale[i] = 1, bw[i] = 1;
  }
  PLFLT w, h;
  pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           where | PL_POSITION_INSIDE, 0.02, 0.04, 0.08, COL_BG, COL_FG, 1,
           0, 0, l->n, opt, 0.8, 0.75, 2.2, 0.0, tcol, l->text, bcol, bpat,
           bscale, bw, l->colour, l->style, widths, l->colour, sscale, snum,
           sym);
}

static void x_range(const fpf_grok_figure *f, double *lo, double *hi) {
  *lo = 0;
  *hi = f->n ? f->step[f->n - 1] : 1;
  if (!(*hi > *lo)) *hi = *lo + 1;
}

static void panel_accuracy(const fpf_grok_figure *f) {
  double xlo, xhi;
  x_range(f, &xlo, &xhi);
  plvpor(0.09, 0.97, 0.69, 0.91);
  plwind(xlo, xhi, -0.02, 1.02);
  plcol0(COL_FG);
  plbox("bcst", 0, 0, "bcnstv", 0, 0);
  pllab("", "accuracy", "(a) accuracy on the train and test pairs");
  draw_marks(f, -0.02, 1.02);
  plcol0(COL_THR);
  pllsty(2);
  pljoin(xlo, f->grok_accuracy, xhi, f->grok_accuracy);
  pllsty(1);
  plwidth(2);
  double *x = malloc(f->n * sizeof *x);
  if (x) {
    for (size_t i = 0; i < f->n; i++) x[i] = f->step[i];
    plcol0(COL_TRAIN);
    gappy_line(x, f->train_acc, f->n);
    plcol0(COL_TEST);
    gappy_line(x, f->test_acc, f->n);
    free(x);
  }
  plwidth(1);
  legend l = {0};
  legend_add(&l, "train", COL_TRAIN, 1);
  legend_add(&l, "test", COL_TEST, 1);
  if (isfinite(f->grok_step)) legend_add(&l, "grokking", COL_GROK, 1);
  legend_draw(&l, PL_POSITION_LEFT | PL_POSITION_TOP);
}

/* log10 from natural logs; non-finite values become NaN (gaps). */
static int log10_of(const double *v, size_t n, double *out, double *lo,
                    double *hi) {
  const double ln10 = log(10.0);
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    int ok = v && isfinite(v[i]);
    out[i] = ok ? v[i] / ln10 : NAN;
    if (ok) *lo = fmin(*lo, out[i]), *hi = fmax(*hi, out[i]), any = 1;
  }
  return any;
}

/* One ratio on a log axis, in the band [y0, y1] of the page. */
static void panel_ratio(const fpf_grok_figure *f, const double *logv,
                        const char *name, const char *title,
                        const double *thr, double y0, double y1,
                        int xlabels, double *buf) {
  double xlo, xhi;
  x_range(f, &xlo, &xhi);
  size_t n = f->n;
  double lo = INFINITY, hi = -INFINITY, *lt = buf + n;
  int any = log10_of(logv, n, buf, &lo, &hi);
  int has_t = 0;
  for (size_t i = 0; i < n; i++) {
    int ok = thr && isfinite(thr[i]) && thr[i] > 0;
    lt[i] = ok ? log10(thr[i]) : NAN;
    if (ok && any) lo = fmin(lo, lt[i]), hi = fmax(hi, lt[i]), has_t = 1;
  }
  double ylo = any ? floor(lo) : -1, yhi = any ? ceil(hi) : 1;
  if (yhi - ylo < 1) yhi = ylo + 1;

  /* Beyond 8 decades one label per decade would overlap: the axis then
     shows log10 of the ratio on a linear scale. */
  int wide = yhi - ylo > 8;
  plvpor(0.09, 0.97, y0, y1);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(COL_FG);
  plbox(xlabels ? "bcnst" : "bcst", 0, 0,
        !any ? "bc" : wide ? "bcnstv" : "bcnstlv", 0, 0);
  char ylab[64];
  if (wide)
    snprintf(ylab, sizeof ylab, "log#d10#u %s", name);
  else
    snprintf(ylab, sizeof ylab, "%s (log scale)", name);
  pllab(xlabels ? "step" : "", ylab, title);
  draw_marks(f, ylo, yhi);
  plwidth(2);
  double *x = malloc(n * sizeof *x);
  if (x) {
    for (size_t i = 0; i < n; i++) x[i] = f->step[i];
    if (has_t) {
      plcol0(COL_THR);
      pllsty(2);
      gappy_line(x, lt, n);
      pllsty(1);
    }
    plcol0(COL_C);
    gappy_line(x, buf, n);
    free(x);
  }
  plwidth(1);
  legend l = {0};
  if (any) legend_add(&l, name, COL_C, 1);
  if (f->nt) legend_add(&l, "transition", COL_TRANS, 5);
  if (f->nr) legend_add(&l, "reset", COL_RESET, 3);
  if (has_t && any) legend_add(&l, "reset threshold", COL_THR, 2);
  if (!any) {
    plcol0(COL_FG);
    plptex(0.5 * (xlo + xhi), 0.5 * (ylo + yhi), 1, 0, 0.5,
           "no history (monitor off)");
  }
  if (l.n) legend_draw(&l, PL_POSITION_RIGHT | PL_POSITION_TOP);
}

/* PLplot reads '#' as an escape; "##" is a literal '#'. */
static void plain(const char *s, char *buf, size_t n) {
  size_t j = 0;
  for (; s && *s && j + 2 < n; s++) {
    if (*s == '#') buf[j++] = '#';
    buf[j++] = *s;
  }
  buf[j] = '\0';
}

static void draw(const fpf_grok_figure *f, double *buf) {
  pladv(0);
  plschr(0, TEXT_SCALE);
  if (f->title && *f->title) {
    char t[256];
    plain(f->title, t, sizeof t);
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    plcol0(COL_FG);
    plptex(0.5, 0.98, 1, 0, 0.5, t);
  }
  panel_accuracy(f);
  const double *tv = f->threshold_on_C_vel ? f->threshold : NULL;
  const double *tc = f->threshold_on_C_vel ? NULL : f->threshold;
  panel_ratio(f, f->log_C_vel, "C#dvel#u",
              "(b) C#dvel#u = |mu| / |D grad log rho| of the probe's hidden "
              "latents", tv, 0.38, 0.62, 0, buf);
  panel_ratio(f, f->log_C, "C", "(c) C = |mu| / |D grad rho|", tc, 0.07,
              0.31, 1, buf);
}

/* What the drawing needs, through fpf_plot_png's one pointer. */
typedef struct grok_job {
  const fpf_grok_figure *f;
  double *buf;
} grok_job;

static void draw_cb(const void *arg) {
  const grok_job *j = arg;
  set_colours();
  draw(j->f, j->buf);
}

int fpf_grok_figure_write(const char *path, const fpf_grok_figure *f,
                          fpf_error *err) {
  if (!f || !path || !*path)
    return fpf_error_set(err, FPF_EINVAL, "figure: no data or no path");
  if (f->n > (size_t)1 << 28)
    return fpf_error_set(err, FPF_EINVAL, "figure %s: %zu rows is too many",
                         path, f->n);
  double *buf = malloc((2 * f->n + 1) * sizeof *buf);
  if (!buf)
    return fpf_error_set(err, FPF_ENOMEM, "figure %s: no memory", path);
  grok_job j = {f, buf};
  int st = fpf_plot_png(path, 1200, 1100, draw_cb, &j, err);
  free(buf);
  return st;
}
