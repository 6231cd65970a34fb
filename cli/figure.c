/*
 * The quick-start figure: two ensemble scatters and the C(t) history,
 * drawn with PLplot's pngcairo device (see figure.h).
 *
 * PLplot reports trouble in three ways, and each is turned into an
 * fpf_error here: plabort() (recoverable; its text goes to a buffer
 * installed with plsError instead of stderr), plexit() (which would call
 * exit(): the handler installed with plsexit jumps back out instead) and
 * plwarn() (which always writes to stderr, so the figure avoids every
 * call that can warn: the device is checked before plinit and every
 * range is made non-empty before plwind).
 */
#define _POSIX_C_SOURCE 200809L
#include "figure.h"
#include "internal.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <plplot.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- Principal components ----------------------------------------------- */

/* The eigenvectors of the two largest eigenvalues of the m x m symmetric
   matrix a (destroyed), as the columns of vec (m x 2, row-major). */
static int top2_eigen(double *a, size_t m, double *vec, fpf_error *err) {
  lapack_int mm = (lapack_int)m, found = 0, isuppz[4];
  lapack_int il = m >= 2 ? mm - 1 : 1;
  double w[2];
  lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', mm, a, mm,
                                   0, 0, il, mm, 0, &found, w, vec, 2,
                                   isuppz);
  if (info != 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "PCA: LAPACKE_dsyevr failed (info %d) on a %zu x "
                         "%zu matrix",
                         (int)info, m, m);
  /* dsyevr sorts ascending: put the largest first. */
  if (found == 2)
    for (size_t i = 0; i < m; i++) {
      double t = vec[2 * i];
      vec[2 * i] = vec[2 * i + 1];
      vec[2 * i + 1] = t;
    }
  return FPF_OK;
}

/*
 * The loadings (d x 2, row-major) from the eigenvectors of the Gram
 * matrix X X^T: v_k = X^T u_k, normalised.  A direction without spread
 * (eigenvalue ~ 0) gives a zero column.
 */
static void gram_to_loadings(const double *x, size_t n, size_t d,
                             const double *u, double *v) {
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, 2, (int)n,
              1.0, x, (int)d, u, 2, 0.0, v, 2);
  for (int k = 0; k < 2; k++) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += v[2 * j + k] * v[2 * j + k];
    s = sqrt(s);
    for (size_t j = 0; j < d; j++) v[2 * j + k] = s > 0 ? v[2 * j + k] / s : 0;
  }
}

/* The sign of each axis: its largest loading is positive. */
static void fix_signs(double *v, size_t d) {
  for (int k = 0; k < 2; k++) {
    size_t big = 0;
    for (size_t j = 1; j < d; j++)
      if (fabs(v[2 * j + k]) > fabs(v[2 * big + k])) big = j;
    if (v[2 * big + k] < 0)
      for (size_t j = 0; j < d; j++) v[2 * j + k] = -v[2 * j + k];
  }
}

static int pca_loadings(double *x, size_t n, size_t d, double *v,
                        fpf_error *err) {
  size_t m = n >= d ? d : n;
  double *a = calloc(m * m + 2 * m, sizeof *a);
  if (!a)
    return fpf_error_set(err, FPF_ENOMEM, "PCA: no memory for %zu x %zu",
                         m, m);
  double *u = a + m * m;
  int st;
  if (n >= d) {
    /* Covariance (up to 1/n, which does not move eigenvectors). */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0,
                x, (int)d, 0.0, a, (int)d);
    st = top2_eigen(a, d, v, err);
  } else {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d,
                1.0, x, (int)d, 0.0, a, (int)n);
    st = top2_eigen(a, n, u, err);
    if (!st) gram_to_loadings(x, n, d, u, v);
  }
  free(a);
  return st;
}

int fpf_figure_pca2(const double *z, size_t n, size_t d, double *proj,
                    fpf_error *err) {
  if (!z || !proj || n == 0 || d < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "PCA needs points and d >= 2 (n = %zu, d = %zu)",
                         n, d);
  if (n > 1u << 30 || d > 1u << 20)
    return fpf_error_set(err, FPF_EINVAL, "PCA: n = %zu, d = %zu too large",
                         n, d);

  /* Centre a copy on the mean. */
  double *x = malloc((n * d + 3 * d) * sizeof *x);
  if (!x)
    return fpf_error_set(err, FPF_ENOMEM, "PCA: no memory for %zu x %zu",
                         n, d);
  double *mean = x + n * d, *v = mean + d;
  memset(mean, 0, d * sizeof *mean);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) mean[j] += z[i * d + j] / (double)n;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) x[i * d + j] = z[i * d + j] - mean[j];

  /* Loadings, signed, then proj = X V. */
  memset(v, 0, 2 * d * sizeof *v);
  int st = n >= 2 ? pca_loadings(x, n, d, v, err) : FPF_OK;
  if (!st) {
    fix_signs(v, d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, 2,
                (int)d, 1.0, x, (int)d, v, 2, 0.0, proj, 2);
  }
  free(x);
  return st;
}

/* --- PLplot error capture ----------------------------------------------- */

/*
 * plsexit and plsabort take plain function pointers, so the state they
 * reach is file-wide; figures are drawn by one thread at a time.
 */
static struct {
  jmp_buf jump;
  int active;
  PLINT code;       /* set by plabort() through plsError */
  char sink[2048];  /* plabort's unbounded sprintf target (MSGLEN 1024) */
  char msg[512];    /* the first failure, as PLplot worded it */
} pl_trap;

static int on_plexit(const char *msg) {
  if (!pl_trap.active) return 1;
  if (!pl_trap.msg[0]) snprintf(pl_trap.msg, sizeof pl_trap.msg, "%s", msg);
  longjmp(pl_trap.jump, 1);
}

/* Called before plabort() sets the code and writes to the sink. */
static void on_plabort(const char *msg) {
  if (!pl_trap.msg[0]) snprintf(pl_trap.msg, sizeof pl_trap.msg, "%s", msg);
}

/* --- Drawing ------------------------------------------------------------ */

/* Colour map 0 slots used by the figure. */
enum {
  COL_BG,
  COL_FG,
  COL_RED,
  COL_C,
  COL_CVEL,
  COL_RESET,
  COL_Z0,
  COL_Z1,
  NCOLOURS
};

/* Particles are translucent so that a dense cloud still shows its core. */
static void set_colours(void) {
  static const int rgb[NCOLOURS][3] = {
      {255, 255, 255}, {0, 0, 0},       {214, 39, 40},  {31, 119, 180},
      {255, 127, 14},  {150, 150, 150}, {31, 119, 180}, {44, 160, 44},
  };
  plscmap0n(16);
  for (int i = 0; i < NCOLOURS; i++)
    plscol0a(i, rgb[i][0], rgb[i][1], rgb[i][2],
             i == COL_Z0 || i == COL_Z1 ? 0.6 : 1.0);
}

/* Viewports of the three panels, in page fractions. */
static const double panel_x[3][2] = {
    {0.06, 0.305}, {0.38, 0.625}, {0.71, 0.98}};
static const double panel_y[2] = {0.13, 0.84};

/* Text size relative to PLplot's default, which is large at 1500 px. */
#define TEXT_SCALE 0.7
/* The mark of the two wells' minima: U+00D7, the multiplication sign. */
#define WELL_MARK "\xc3\x97"

/* A range that plwind accepts: finite, non-empty, padded by 5%. */
static void pad_range(double *lo, double *hi) {
  if (!isfinite(*lo) || !isfinite(*hi) || *lo > *hi) *lo = -1, *hi = 1;
  double w = *hi - *lo;
  if (w <= 1e-12 * fmax(1.0, fabs(*lo))) {
    double h = fmax(0.5, 0.1 * fabs(*lo));
    *lo -= h, *hi += h;
  } else {
    *lo -= 0.05 * w, *hi += 0.05 * w;
  }
}

/* PLplot reads '#' as the start of an escape; "##" is a literal '#'. */
static void plain_text(const char *s, char *buf, size_t n) {
  size_t j = 0;
  for (; *s && j + 2 < n; s++) {
    if (*s == '#') buf[j++] = '#';
    buf[j++] = *s;
  }
  buf[j] = '\0';
}

/* A legend of at most four entries, each a line or a symbol. */
typedef struct legend {
  int n;
  const char *text[4], *symbol[4];
  PLINT opt[4], colour[4], style[4];
} legend;

static void legend_line(legend *l, const char *text, int colour,
                        int style) {
  int i = l->n++;
  l->text[i] = text, l->symbol[i] = "";
  l->opt[i] = PL_LEGEND_LINE, l->colour[i] = colour, l->style[i] = style;
}

static void legend_symbol(legend *l, const char *text, int colour,
                          const char *symbol) {
  int i = l->n++;
  l->text[i] = text, l->symbol[i] = symbol;
  l->opt[i] = PL_LEGEND_SYMBOL, l->colour[i] = colour, l->style[i] = 1;
}

/* In a corner of the current viewport, on a white box. */
static void draw_legend(const legend *l, PLINT corner) {
  PLINT text_col[4], sym_num[4], box_col[4], box_pat[4];
  PLFLT widths[4], sym_scale[4], box_scale[4], box_w[4];
  for (int i = 0; i < l->n; i++) {
    text_col[i] = COL_FG, widths[i] = 2.0;
    sym_num[i] = 1, sym_scale[i] = 1.4;
    box_col[i] = 0, box_pat[i] = 0, box_scale[i] = 1, box_w[i] = 1;
  }
  PLFLT w, h;
  pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           corner | PL_POSITION_INSIDE, 0.02, 0.03, 0.08, COL_BG, COL_FG, 1,
           0, 0, l->n, l->opt, 0.8, 0.75, 2.4, 0.0, text_col, l->text,
           box_col, box_pat, box_scale, box_w, l->colour, l->style, widths,
           l->colour, sym_scale, sym_num, l->symbol);
}

/* The two coordinates shown for each particle of both ensembles. */
typedef struct scatter_data {
  double *x0, *y0, *x1, *y1; /* n0 and n1 points */
  const char *xlabel, *ylabel;
  double xlo, xhi, ylo, yhi;
} scatter_data;

static int project(const fpf_run_figure *f, scatter_data *s,
                   fpf_error *err) {
  size_t n = f->n0 + f->n1, d = f->d;
  double *buf = malloc(4 * (n ? n : 1) * sizeof *buf);
  if (!buf) return fpf_error_set(err, FPF_ENOMEM, "figure: no memory");
  double *xy = buf + 2 * n; /* n x 2, row-major */
  if (d > 2) {
    /* Pool z0 and z1 so that both panels share one projection. */
    double *pool = malloc(n * d * sizeof *pool);
    if (!pool) {
      free(buf);
      return fpf_error_set(err, FPF_ENOMEM, "figure: no memory");
    }
    memcpy(pool, f->z0, f->n0 * d * sizeof *pool);
    memcpy(pool + f->n0 * d, f->z1, f->n1 * d * sizeof *pool);
    int st = fpf_figure_pca2(pool, n, d, xy, err);
    free(pool);
    if (st) {
      free(buf);
      return st;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const double *z = i < f->n0 ? f->z0 + i * d : f->z1 + (i - f->n0) * d;
    size_t idx = i < f->n0 ? i : i - f->n0;
    double x = d == 1 ? (double)idx : d == 2 ? z[0] : xy[2 * i];
    double y = d == 1 ? z[0] : d == 2 ? z[1] : xy[2 * i + 1];
    buf[i] = x, buf[n + i] = y;
  }
  s->x0 = buf, s->x1 = buf + f->n0;
  s->y0 = buf + n, s->y1 = buf + n + f->n0;
  s->xlabel = d == 1 ? "particle index" : d == 2 ? "z#d1#u" : "PC1";
  s->ylabel = d == 1 ? "z" : d == 2 ? "z#d2#u" : "PC2";

  /* Shared limits (non-finite points are left out of them). */
  s->xlo = s->ylo = INFINITY, s->xhi = s->yhi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(buf[i]) || !isfinite(buf[n + i])) continue;
    s->xlo = fmin(s->xlo, buf[i]), s->xhi = fmax(s->xhi, buf[i]);
    s->ylo = fmin(s->ylo, buf[n + i]), s->yhi = fmax(s->yhi, buf[n + i]);
  }
  if (f->mark_two_wells && d == 2) {
    s->xlo = fmin(s->xlo, -2), s->xhi = fmax(s->xhi, 2);
    s->ylo = fmin(s->ylo, 0), s->yhi = fmax(s->yhi, 1);
  }
  pad_range(&s->xlo, &s->xhi);
  pad_range(&s->ylo, &s->yhi);

  /* Headroom for the legend that names the minima. */
  if (f->mark_two_wells && d == 2) s->yhi += 0.12 * (s->yhi - s->ylo);
  return FPF_OK;
}

static void draw_scatter(int panel, const scatter_data *s, const double *x,
                         const double *y, size_t n, int colour,
                         const char *title, int mark_wells) {
  plvpor(panel_x[panel][0], panel_x[panel][1], panel_y[0], panel_y[1]);
  plwind(s->xlo, s->xhi, s->ylo, s->yhi);
  plcol0(COL_FG);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(s->xlabel, s->ylabel, title);

  /* Points drawn one batch at a time; PLplot takes an int count. */
  plcol0(colour);
  plssym(0, 0.7);
  for (size_t i = 0; i < n; i += 1u << 20) {
    size_t m = n - i < (1u << 20) ? n - i : 1u << 20;
    plpoin((PLINT)m, x + i, y + i, 17);
  }
  if (mark_wells) {
    /* Marked, and named in a legend rather than by labels that the
       cloud around each minimum would cover. */
    static const double wx[2] = {-2, 2}, wy[2] = {0, 1};
    plcol0(COL_RED);
    plschr(0, 2.2 * TEXT_SCALE);
    plstring(2, wx, wy, WELL_MARK);
    plschr(0, TEXT_SCALE);
    legend l = {0};
    legend_symbol(&l, "minima (-2, 0), (2, 1)", COL_RED, WELL_MARK);
    draw_legend(&l, PL_POSITION_TOP | PL_POSITION_LEFT);
  }
  plssym(0, 1.0);
}

/* log10 of the positive finite values; others become NaN (gaps). */
static int log_series(const double *v, size_t n, double *out, double *lo,
                      double *hi) {
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    int ok = v && isfinite(v[i]) && v[i] > 0;
    out[i] = ok ? log10(v[i]) : NAN;
    if (!ok) continue;
    *lo = fmin(*lo, out[i]), *hi = fmax(*hi, out[i]);
    any = 1;
  }
  return any;
}

/* A curve with gaps where y is NaN; lone points are drawn as dots. */
static void draw_gappy(const double *x, const double *y, size_t n) {
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

/* Vertical lines at the resets, below the curves. */
static int draw_resets(const fpf_run_figure *f, double ylo, double yhi) {
  int any = 0;
  plcol0(COL_RESET);
  pllsty(3);
  for (size_t i = 0; f->reset && i < f->nsteps; i++)
    if (f->reset[i]) pljoin((double)i, ylo, (double)i, yhi), any = 1;
  pllsty(1);
  return any;
}

static void draw_history(const fpf_run_figure *f, double *buf) {
  size_t n = f->nsteps;
  double *x = buf, *lc = buf + n, *lv = buf + 2 * n;
  for (size_t i = 0; i < n; i++) x[i] = (double)i;
  double lo = INFINITY, hi = -INFINITY;
  int has_c = log_series(f->C, n, lc, &lo, &hi);
  int has_v = log_series(f->C_vel, n, lv, &lo, &hi);
  int has_t = isfinite(f->threshold) && f->threshold > 0;
  double lt = has_t ? log10(f->threshold) : 0;
  if (has_t && (has_c || has_v)) lo = fmin(lo, lt), hi = fmax(hi, lt);

  /* Whole decades, so that the log axis always carries labels. */
  int any = has_c || has_v;
  double ylo = any ? floor(lo) : -1, yhi = any ? ceil(hi) : 1;
  if (yhi - ylo < 1) yhi = ylo + 1;
  double xlo = 0, xhi = n > 1 ? (double)(n - 1) : 1;

  plvpor(panel_x[2][0], panel_x[2][1], panel_y[0], panel_y[1]);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(COL_FG);
  plbox("bcnst", 0, 0, any ? "bcnstlv" : "bc", 0, 0);
  pllab("step", "C (log scale)", "(c) consolidation ratio");

  /* Resets and threshold under the curves; C on top. */
  int has_r = draw_resets(f, ylo, yhi);
  if (has_t && any) {
    plcol0(COL_RED);
    pllsty(2);
    plwidth(2);
    pljoin(xlo, lt, xhi, lt);
  }
  pllsty(1);
  plwidth(2);
  if (has_v) plcol0(COL_CVEL), draw_gappy(x, lv, n);
  if (has_c) plcol0(COL_C), draw_gappy(x, lc, n);
  plwidth(1);

  legend l = {0};
  if (has_c) legend_line(&l, "C", COL_C, 1);
  if (has_v) legend_line(&l, "C#dvel#u", COL_CVEL, 1);
  if (has_t && any) legend_line(&l, "threshold", COL_RED, 2);
  if (has_r) legend_line(&l, "reset", COL_RESET, 3);
  if (!has_c) {
    plcol0(COL_FG);
    plptex(0.5 * (xlo + xhi), 0.5 * (ylo + yhi), 1, 0, 0.5,
           n && f->C ? "C is not finite and positive" : "no C history");
  }
  if (l.n) draw_legend(&l, PL_POSITION_TOP | PL_POSITION_RIGHT);
}

static void draw_title(const char *title) {
  if (!title || !*title) return;
  char buf[256];
  plain_text(title, buf, sizeof buf);
  plvpor(0, 1, 0, 1);
  plwind(0, 1, 0, 1);
  plcol0(COL_FG);
  plschr(0, 1.2 * TEXT_SCALE);
  plptex(0.5, 0.955, 1, 0, 0.5, buf);
  plschr(0, TEXT_SCALE);
}

/* What the drawing needs, passed through render() as one pointer. */
typedef struct figure_ctx {
  const fpf_run_figure *f;
  const scatter_data *s;
  double *hist; /* 3 * nsteps scratch values */
} figure_ctx;

/* Everything drawn between plinit and plend1. */
static void draw_figure(const void *arg) {
  const figure_ctx *c = arg;
  const fpf_run_figure *f = c->f;
  char ta[64], tb[64];
  snprintf(ta, sizeof ta, "(a) initial ensemble, N = %zu", f->n0);
  snprintf(tb, sizeof tb, "(b) final ensemble, N = %zu", f->n1);
  pladv(0);
  plschr(0, TEXT_SCALE);
  draw_title(f->title);
  draw_scatter(0, c->s, c->s->x0, c->s->y0, f->n0, COL_Z0, ta, 0);
  draw_scatter(1, c->s, c->s->x1, c->s->y1, f->n1, COL_Z1, tb,
               f->mark_two_wells && f->d == 2);
  draw_history(f, c->hist);
}

/* --- Rendering to a file ------------------------------------------------ */

static int check_input(const fpf_run_figure *f, fpf_error *err) {
  if (!f) return fpf_error_set(err, FPF_EINVAL, "figure: no data (NULL)");
  if (f->d == 0 || (f->n0 && !f->z0) || (f->n1 && !f->z1))
    return fpf_error_set(err, FPF_EINVAL,
                         "figure: ensembles missing (d = %zu, n0 = %zu, "
                         "n1 = %zu)",
                         f->d, f->n0, f->n1);
  if (f->n0 + f->n1 > (size_t)1 << 30 || f->nsteps > (size_t)1 << 30)
    return fpf_error_set(err, FPF_EINVAL,
                         "figure: too many points (n0 + n1 = %zu, nsteps "
                         "= %zu)",
                         f->n0 + f->n1, f->nsteps);
  return FPF_OK;
}

/*
 * Opens a PLplot stream of its own on file, calls draw and closes the
 * stream, leaving the caller's stream current again.  Returns non-zero,
 * with the reason in pl_trap.msg, if PLplot aborted or tried to exit.
 */
static int render(const char *file, int width, int height,
                  void (*draw)(const void *), const void *arg) {
  PLINT old, strm;
  plgstrm(&old);
  plmkstrm(&strm);
  pl_trap.code = 0;
  pl_trap.msg[0] = '\0';
  plsError(&pl_trap.code, pl_trap.sink);
  plsexit(on_plexit);
  plsabort(on_plabort);
  pl_trap.active = 1;
  int failed = 0;
  if (setjmp(pl_trap.jump) == 0) {
    plsdev("pngcairo");
    plsfnam(file);
    plspage(0, 0, width, height, 0, 0);
    set_colours();
    plinit();
    if (!pl_trap.code) draw(arg);
  } else {
    /* plexit() would have ended the stream itself before exiting. */
    failed = 1;
  }
  pl_trap.active = 0;
  plend1();
  plsexit(NULL);
  plsabort(NULL);
  plsstrm(old);
  return failed || pl_trap.code;
}

/* Whether PLplot knows the device (plinit would prompt or exit if not). */
static int have_device(const char *name) {
  int n = 128, found = 0;
  const char **menu = malloc(n * sizeof *menu);
  const char **devs = malloc(n * sizeof *devs);
  if (menu && devs) {
    plgFileDevs(&menu, &devs, &n);
    for (int i = 0; i < n; i++)
      if (!strcmp(devs[i], name)) found = 1;
  }
  free(menu);
  free(devs);
  return found;
}

/* Renders into a private temporary file beside path, then renames it. */
int fpf_plot_png(const char *path, int width, int height,
                 void (*draw)(const void *arg), const void *arg,
                 fpf_error *err) {
  if (!path || !*path)
    return fpf_error_set(err, FPF_EINVAL, "figure: no output path");
  if (!have_device("pngcairo"))
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "figure %s: PLplot has no pngcairo device", path);
  if (fpf_check_output_path(path, err)) return err->status;
  size_t n = strlen(path);
  char *tmp = malloc(n + 8);
  if (!tmp) return fpf_error_set(err, FPF_ENOMEM, "figure %s: no memory",
                                 path);
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".XXXXXX", 8);
  int fd = mkstemp(tmp), st = FPF_OK;
  if (fd < 0) {
    st = fpf_error_set(err, FPF_EIO,
                       "figure %s: cannot create a temporary file: %s",
                       path, strerror(errno));
    free(tmp);
    return st;
  }
  close(fd);
  struct stat sb;
  if (render(tmp, width, height, draw, arg))
    st = fpf_error_set(err, FPF_EIO, "figure %s: PLplot failed: %s", path,
                       pl_trap.msg[0] ? pl_trap.msg : "no message");
  else if (stat(tmp, &sb) != 0 || sb.st_size == 0)
    st = fpf_error_set(err, FPF_EIO, "figure %s: PLplot wrote nothing",
                       path);
  else if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0)
    st = fpf_error_set(err, FPF_EIO, "figure %s: cannot write: %s", path,
                       strerror(errno));
  if (st) unlink(tmp);
  free(tmp);
  return st;
}

int fpf_figure_run(const char *path, const fpf_run_figure *f,
                   fpf_error *err) {
  int st = check_input(f, err);
  if (st) return st;

  /* The data first, so that PLplot starts only when nothing else can
     fail. */
  scatter_data s = {0};
  if ((st = project(f, &s, err))) return st;
  figure_ctx c = {f, &s, malloc((3 * f->nsteps + 1) * sizeof(double))};
  if (!c.hist)
    st = fpf_error_set(err, FPF_ENOMEM, "figure %s: no memory", path);
  else
    st = fpf_plot_png(path, 1500, 500, draw_figure, &c, err);
  free(c.hist);
  free(s.x0);
  return st;
}
