/*
 * The figures of `fpflow verify`: panels of curves and points drawn with
 * PLplot's pngcairo device.
 *
 * fpf_plot_png (figure.h) traps PLplot's failures; every call that could
 * warn on stderr (an empty window, an unknown device) is avoided by
 * checking first.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"
#include "verify.h"

int vf_figure_available(void) {
  int n = 128, found = 0;
  const char **menu = malloc(n * sizeof *menu);
  const char **devs = malloc(n * sizeof *devs);
  if (menu && devs) {
    plgFileDevs(&menu, &devs, &n);
    for (int i = 0; i < n; i++)
      if (!strcmp(devs[i], "pngcairo")) found = 1;
  }
  free(menu);
  free(devs);
  return found;
}

/* Colour map 0: background, text, then the palette of the series
   (matplotlib's "tab10" order, which stays distinct on white). */
enum { COL_BG, COL_FG, COL_SERIES };
static const int palette[8][3] = {
    {31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {255, 127, 14},
    {148, 103, 189}, {120, 120, 120}, {23, 190, 207}, {140, 86, 75}};

static void set_colours(void) {
  plscmap0n(16);
  plscol0(COL_BG, 255, 255, 255);
  plscol0(COL_FG, 0, 0, 0);
  for (int i = 0; i < 8; i++)
    plscol0(COL_SERIES + i, palette[i][0], palette[i][1], palette[i][2]);
}

/* The value shown on an axis: log10 on a log axis, NaN if not shown. */
static double axis_value(double v, int logaxis) {
  if (!isfinite(v)) return NAN;
  if (!logaxis) return v;
  return v > 0 ? log10(v) : NAN;
}

/* A range that plwind accepts: finite and non-empty. */
static void pad_range(double *lo, double *hi, int logaxis) {
  if (!isfinite(*lo) || !isfinite(*hi) || *lo > *hi) *lo = 0, *hi = 1;
  if (logaxis) {
    /* A margin of a tenth of a decade or more, widened to whole decades
       when no decade (the only labels of a log axis) falls inside. */
    double m = fmax(0.1, 0.05 * (*hi - *lo));
    *lo -= m, *hi += m;
    if (floor(*hi) < *lo) *lo = floor(*lo), *hi = ceil(*hi);
    return;
  }
  double w = *hi - *lo;
  if (w <= 1e-12 * fmax(1.0, fabs(*lo))) w = fmax(1.0, fabs(*lo));
  *lo -= 0.05 * w, *hi += 0.05 * w;
}

/* The transformed copy of a series (x then y, n each). */
static double *transform(const vf_series *s, int logx, int logy) {
  double *b = malloc(2 * (s->n ? s->n : 1) * sizeof *b);
  if (!b) return NULL;
  for (size_t i = 0; i < s->n; i++) {
    b[i] = axis_value(s->x[i], logx);
    b[s->n + i] = axis_value(s->y[i], logy);
  }
  return b;
}

/* Lines with gaps where a value is NaN. */
static void draw_gappy(const double *x, const double *y, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (isnan(x[i]) || isnan(y[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && !isnan(x[j]) && !isnan(y[j])) j++;
    if (j - i == 1) plpoin(1, x + i, y + i, 17);
    else plline((PLINT)(j - i), x + i, y + i);
    i = j;
  }
}

/* A histogram drawn as a staircase around the bin centres x. */
static void draw_steps(const double *x, const double *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(x[i]) || isnan(y[i])) continue;
    double w = n > 1 ? (i + 1 < n ? x[i + 1] - x[i] : x[i] - x[i - 1]) : 1;
    double xs[2] = {x[i] - w / 2, x[i] + w / 2}, ys[2] = {y[i], y[i]};
    plline(2, xs, ys);
    if (i + 1 < n && !isnan(y[i + 1])) pljoin(xs[1], y[i], xs[1], y[i + 1]);
  }
}

static void draw_series(const vf_series *s, const double *x,
                        const double *y) {
  plcol0(COL_SERIES + (s->colour & 7));
  plwidth(2);
  pllsty(s->kind == VF_DASHED ? 2 : s->kind == VF_DOTTED ? 3 : 1);
  if (s->kind == VF_POINTS) {
    plssym(0, 1.4);
    for (size_t i = 0; i < s->n; i++)
      if (!isnan(x[i]) && !isnan(y[i])) plpoin(1, x + i, y + i, 17);
    plssym(0, 1.0);
  } else if (s->kind == VF_STEPS) {
    draw_steps(x, y, s->n);
  } else {
    draw_gappy(x, y, s->n);
  }
  pllsty(1);
  plwidth(1);
}

static void draw_legend(const vf_panel *p) {
  PLINT opt[VF_MAX_SERIES], col[VF_MAX_SERIES], sty[VF_MAX_SERIES];
  PLINT tcol[VF_MAX_SERIES], snum[VF_MAX_SERIES], bcol[VF_MAX_SERIES];
  PLINT bpat[VF_MAX_SERIES];
  PLFLT wid[VF_MAX_SERIES], ssc[VF_MAX_SERIES], bsc[VF_MAX_SERIES];
  PLFLT bw[VF_MAX_SERIES];
  const char *text[VF_MAX_SERIES], *sym[VF_MAX_SERIES];
  int nl = 0;
  for (int i = 0; i < p->ns; i++) {
    const vf_series *s = &p->s[i];
    if (!s->label) continue;
    int pts = s->kind == VF_POINTS;
    opt[nl] = pts ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE;
    col[nl] = COL_SERIES + (s->colour & 7);
    sty[nl] = s->kind == VF_DASHED ? 2 : s->kind == VF_DOTTED ? 3 : 1;
    tcol[nl] = COL_FG, wid[nl] = 2, snum[nl] = 1, ssc[nl] = 1;
    bcol[nl] = COL_BG, bpat[nl] = 0, bsc[nl] = 1, bw[nl] = 1;
    text[nl] = s->label, sym[nl] = "\xe2\x80\xa2"; /* a bullet */
    nl++;
  }
  if (!nl) return;
  PLFLT w, h;
  pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02,
           0.02, 0.08, COL_BG, COL_FG, 1, 0, 0, nl, opt, 0.8, 0.75, 2.4, 0.0,
           tcol, text, bcol, bpat, bsc, bw, col, sty, wid, col, ssc, snum,
           sym);
}

typedef struct fig_job {
  const vf_panel *p;
  int np;
  double **buf; /* the transformed series, panel by panel */
} fig_job;

static void draw_panel(const vf_panel *p, double *const *buf, int k,
                       int np) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int i = 0; i < p->ns; i++) {
    const double *x = buf[i], *y = buf[i] + p->s[i].n;
    for (size_t j = 0; j < p->s[i].n; j++) {
      if (isnan(x[j]) || isnan(y[j])) continue;
      xlo = fmin(xlo, x[j]), xhi = fmax(xhi, x[j]);
      ylo = fmin(ylo, y[j]), yhi = fmax(yhi, y[j]);
    }
  }
  pad_range(&xlo, &xhi, p->logx);
  pad_range(&ylo, &yhi, p->logy);
  /* headroom for the legend */
  yhi += (p->logy ? 0.35 : 0.25) * (yhi - ylo);
  double w = 1.0 / np;
  plvpor(k * w + 0.06 + 0.03 * w, (k + 1) * w - 0.03 * w, 0.12, 0.9);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(COL_FG);
  plbox(p->logx ? "bcnstl" : "bcnst", 0, 0, p->logy ? "bcnstlv" : "bcnstv",
        0, 0);
  pllab(p->xlabel ? p->xlabel : "", p->ylabel ? p->ylabel : "",
        p->title ? p->title : "");
  for (int i = 0; i < p->ns; i++)
    draw_series(&p->s[i], buf[i], buf[i] + p->s[i].n);
  draw_legend(p);
}

static void draw(const fig_job *j) {
  pladv(0);
  plschr(0, 0.75);
  size_t off = 0;
  for (int k = 0; k < j->np; k++) {
    draw_panel(&j->p[k], j->buf + off, k, j->np);
    off += (size_t)j->p[k].ns;
  }
}

static void draw_cb(const void *arg) {
  set_colours();
  draw(arg);
}

int vf_figure_write(const char *path, const vf_panel *p, int npanels,
                    int width, int height, fpf_error *err) {
  size_t total = 0;
  for (int k = 0; k < npanels; k++) total += (size_t)p[k].ns;
  double **buf = calloc(total ? total : 1, sizeof *buf);
  int st = buf ? FPF_OK : fpf_error_set(err, FPF_ENOMEM, "figure: no memory");
  size_t m = 0;
  for (int k = 0; !st && k < npanels; k++)
    for (int i = 0; !st && i < p[k].ns; i++, m++)
      if (!(buf[m] = transform(&p[k].s[i], p[k].logx, p[k].logy)))
        st = fpf_error_set(err, FPF_ENOMEM, "figure: no memory");
  if (!st) {
    fig_job j = {p, npanels, buf};
    st = fpf_plot_png(path, width, height, draw_cb, &j, err);
  }
  for (size_t i = 0; buf && i < total; i++) free(buf[i]);
  free(buf);
  return st;
}

int vf_figure(vf_ctx *v, const char *name, const vf_panel *p, int npanels,
              int width, int height) {
  if (!v->figures) return 1;
  char path[4096];
  fpf_error err;
  fpf_error_clear(&err);
  if (vf_figure_write(fpf_cli_path(path, sizeof path, v->out, name), p,
                      npanels, width, height, &err)) {
    fpf_cli_error("%s", err.msg);
    return 1;
  }
  fpf_cli_debug("figure: %s", path);
  return 0;
}
