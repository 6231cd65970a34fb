/*
 * fpflow pde: the grid Fokker-Planck solver (pde.h) from a configuration.
 *
 * Outputs in DIR: config.ini (resolved), grid_z1.npy (and grid_z2.npy),
 * density_NNN.npy and flux_NNN.npy at each output time, metrics.csv (a
 * row per output time, flushed as the run goes), summary.json and
 * figure.png (1-D: the density at the output times; 2-D: heat maps).
 * A run that fails part-way keeps all of these up to its last output,
 * with the reason in summary.json.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "figure.h"
#include "fpflow/npy.h"
#include "fpflow/pde.h"
#include "pde_config.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow pde [CONFIG.ini] [--set key=value]... [-o DIR]\n"
          "                  [--threads N] [-q] [-v]\n\n"
          "Solves the Fokker-Planck equation of fpflow on a 1-D or 2-D grid\n"
          "(finite volumes, Chang-Cooper fluxes, implicit steps, no-flux\n"
          "walls) and writes to DIR (default fpflow_pde): config.ini,\n"
          "grid_z1.npy [grid_z2.npy], density_NNN.npy and flux_NNN.npy at\n"
          "each output time, metrics.csv, summary.json and figure.png.\n"
          "Without CONFIG it solves the quick start's two wells from N(0, I)\n"
          "to t = 1 on a 120 x 120 grid over [-6, 6]^2.\n\n"
          "options:\n"
          "  --set key=value  override one key (or section.key=value)\n"
          "  -o, --out DIR    output directory (created if missing)\n"
          "  --threads N      threads (same as --set threads=N)\n"
          "  -q, --quiet      print warnings and errors only\n"
          "  -v, --verbose    print each output time\n"
          "  -h, --help       this text\n\n"
          "configuration keys (INI sections in brackets) and defaults:\n");
  fpf_pde_config_help(f);
}

/* ---- arguments and configuration -------------------------------------- */

typedef fpf_cli_job_args pde_args;

static int parse_args(int argc, char **argv, pde_args *a) {
  return fpf_cli_parse_job(argc, argv, "pde", "fpflow_pde", usage, a);
}

static int resolve(const pde_args *a, fpf_pde_config *c) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_pde_config_defaults(c);
  if (a->config && fpf_pde_config_load(c, a->config, &err))
    return fpf_cli_fail(&err);
  for (int i = 0; i < a->nsets; i++)
    if (fpf_pde_config_set(c, a->sets[i], &err)) return fpf_cli_fail(&err);
  if (fpf_pde_config_check(c, &err)) {
    fpf_error_prefix(&err, "%s: ", a->config ? a->config : "configuration");
    return fpf_cli_fail(&err);
  }
  return 0;
}

/* ---- the run's state --------------------------------------------------- */

/* At most this many output times are drawn (curves in 1-D, panels in
   2-D); they are spread evenly over the outputs. */
#define FIG_MAX_1D 8
#define FIG_MAX_2D 6

typedef struct pde_state {
  fpf_pde_config c;
  fpf_landscape *L;
  fpf_pde *p;
  FILE *csv;
  size_t done;            /* output times written */
  fpf_pde_metrics first, last;
  double max_drift, min_rho, max_edge, t_edge;
  size_t nfig, fig_idx[FIG_MAX_1D]; /* outputs shown in the figure */
  double *fig_rho[FIG_MAX_1D];      /* their densities */
  double *gibbs;                    /* 1-D: Gibbs state at t_end, or NULL */
} pde_state;

static fpf_status init_density(pde_state *s, fpf_error *err) {
  const fpf_pde_config *c = &s->c;
  if (!strcmp(c->init, "gaussian"))
    return fpf_pde_set_gaussian(s->p, c->init_mean, c->init_std, err);
  if (!strcmp(c->init, "point"))
    return fpf_pde_set_point(s->p, c->init_mean, err);
  if (!strcmp(c->init, "gibbs")) return fpf_pde_set_gibbs(s->p, err);
  fpf_array a = {0};
  fpf_status st = fpf_npy_read(c->init, &a, err);
  if (st) return st;
  if (a.ndim != 2 || (long)a.shape[1] != c->d) {
    st = fpf_error_set(err, FPF_EFORMAT,
                       "init %s: expected particles of shape (n, %ld), "
                       "found rank %d%s", c->init, c->d, a.ndim,
                       a.ndim == 2 ? " with another width" : "");
  } else if (!(st = fpf_array_check_finite(&a, c->init, err))) {
    size_t out = 0;
    st = fpf_pde_set_particles(s->p, a.data, a.shape[0], &out, err);
    if (st) fpf_error_prefix(err, "init %s: ", c->init);
    else if (out)
      fpf_cli_info("init %s: %zu of %zu particles lie outside the box and "
                   "were dropped", c->init, out, a.shape[0]);
  }
  fpf_array_free(&a);
  return st;
}

/* The resolution test at every output time, before anything runs. */
static fpf_status check_grid(pde_state *s, fpf_error *err) {
  for (size_t i = 0; i < s->c.nout; i++) {
    fpf_status st = fpf_pde_check_resolution(s->p, s->c.out[i], err);
    if (st) return st;
  }
  return FPF_OK;
}

static fpf_status write_grid(const pde_state *s, const char *dir,
                             fpf_error *err) {
  char path[1024], name[32];
  for (int k = 0; k < (int)s->c.d; k++) {
    size_t shape[1] = {fpf_pde_cells(s->p, k)};
    snprintf(name, sizeof name, "grid_z%d.npy", k + 1);
    fpf_status st = fpf_npy_write(fpf_cli_path(path, sizeof path, dir, name),
                                  fpf_pde_centres(s->p, k), 1, shape, err);
    if (st) return st;
  }
  return FPF_OK;
}

static const char *csv_header =
    "index,t,steps,eta,c,D1,D2,mass,mass_drift,rho_min,rho_max,entropy,"
    "loss_mean,mean1,mean2,var1,var2,F11,F22,F12,flux_l1,edge_mass,"
    "kl_gibbs,peclet_max,density_file\n";

static fpf_status setup(pde_state *s, const char *dir, fpf_error *err) {
  fpf_pde_config *c = &s->c;
  fpf_status st;
  if ((st = fpf_pde_config_landscape(c, &s->L, err)) ||
      (st = fpf_pde_create(&s->p, s->L, &c->pde, err)) ||
      (st = init_density(s, err)) || (st = check_grid(s, err)) ||
      (st = fpf_cli_mkdirs(dir, err)) || (st = write_grid(s, dir, err)))
    return st;
  char path[1024];
  FILE *f = fopen(fpf_cli_path(path, sizeof path, dir, "config.ini"), "w");
  if (!f) return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  fpf_pde_config_write(c, f);
  fclose(f);
  s->csv = fopen(fpf_cli_path(path, sizeof path, dir, "metrics.csv"), "w");
  if (!s->csv) return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  fputs(csv_header, s->csv);

  /* Which outputs the figure shows: evenly spread, first and last. */
  size_t cap = c->d == 1 ? FIG_MAX_1D : FIG_MAX_2D;
  s->nfig = c->nout < cap ? c->nout : cap;
  for (size_t j = 0; j < s->nfig; j++)
    s->fig_idx[j] = s->nfig == 1 ? c->nout - 1
                                 : (size_t)llround((double)j *
                                                   (double)(c->nout - 1) /
                                                   (double)(s->nfig - 1));
  s->min_rho = INFINITY;
  return FPF_OK;
}

/* ---- outputs ----------------------------------------------------------- */

static void csv_row(FILE *f, size_t i, const fpf_pde_metrics *m,
                    const char *file) {
  fprintf(f,
          "%zu,%.17g,%ld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
          "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
          "%.17g,%.17g,%.17g,%s\n",
          i, m->t, m->steps, m->eta, m->c, m->D[0], m->D[1], m->mass,
          m->mass_drift, m->rho_min, m->rho_max, m->entropy, m->loss_mean,
          m->mean[0], m->mean[1], m->var[0], m->var[1], m->fisher[0],
          m->fisher[1], m->fisher[2], m->flux_l1, m->edge_mass, m->kl_gibbs,
          m->peclet_max, file);
}

/* Writes the density, flux and metrics of output i (time c.out[i]). */
static fpf_status write_output(pde_state *s, const char *dir, size_t i,
                               fpf_error *err) {
  fpf_pde *p = s->p;
  size_t n1 = fpf_pde_cells(p, 0), n2 = fpf_pde_cells(p, 1), d = s->c.d;
  size_t shape[3] = {n1, n2, d}, n = fpf_pde_size(p);
  char path[1024], dname[32], fname[32];
  snprintf(dname, sizeof dname, "density_%03zu.npy", i);
  snprintf(fname, sizeof fname, "flux_%03zu.npy", i);
  fpf_pde_metrics m;
  double *J = malloc(n * d * sizeof *J);
  fpf_status st = J ? FPF_OK : fpf_error_set(err, FPF_ENOMEM, "no memory");
  if (!st) st = fpf_pde_observe(p, &m, err);
  if (!st) st = fpf_pde_flux(p, J, err);
  if (!st)
    st = fpf_npy_write(fpf_cli_path(path, sizeof path, dir, dname),
                       fpf_pde_density(p), (int)d, shape, err);
  if (!st) {
    /* 1-D flux as (n1,), 2-D as (n1, n2, 2) */
    size_t fs[3] = {n1, n2, 2};
    st = fpf_npy_write(fpf_cli_path(path, sizeof path, dir, fname), J,
                       d == 1 ? 1 : 3, fs, err);
  }
  free(J);
  if (st) return st;
  csv_row(s->csv, i, &m, dname);
  fflush(s->csv);
  if (i == 0) s->first = m;
  s->last = m;
  s->max_drift = fmax(s->max_drift, fabs(m.mass_drift));
  s->min_rho = fmin(s->min_rho, m.rho_min);
  if (m.edge_mass > s->max_edge) s->max_edge = m.edge_mass, s->t_edge = m.t;
  for (size_t j = 0; j < s->nfig; j++)
    if (s->fig_idx[j] == i && !s->fig_rho[j] &&
        (s->fig_rho[j] = malloc(n * sizeof(double))))
      memcpy(s->fig_rho[j], fpf_pde_density(p), n * sizeof(double));
  s->done = i + 1;
  fpf_cli_debug("t = %g: mass %.15g, entropy %.6g, int |J| %.4g, KL to "
                "Gibbs %.4g", m.t, m.mass, m.entropy, m.flux_l1, m.kl_gibbs);
  return FPF_OK;
}

/* Total steps of the run, as fpf_pde_advance will take them. */
static long total_steps(const fpf_pde_config *c) {
  long n = 0;
  double t = c->pde.t0;
  for (size_t i = 0; i < c->nout; i++) {
    n += (long)fmax(0, ceil((c->out[i] - t) / c->pde.dt - 1e-9));
    t = c->out[i];
  }
  return n;
}

/* Advances through every output time, writing each; progress by chunks
   of about 1% of the run. */
static fpf_status evolve(pde_state *s, const char *dir, fpf_error *err) {
  fpf_progress pr;
  long total = total_steps(&s->c), chunk = total / 100 + 1;
  fpf_progress_start(&pr, "pde", total);
  fpf_status st = FPF_OK;
  for (size_t i = 0; i < s->c.nout && !st; i++) {
    double t0 = fpf_pde_time(s->p), t1 = s->c.out[i];
    long k = (long)fmax(0, ceil((t1 - t0) / s->c.pde.dt - 1e-9));
    for (long j = chunk; j < k && !st; j += chunk) {
      st = fpf_pde_advance(s->p, t0 + (t1 - t0) * (double)j / (double)k,
                           err);
      fpf_progress_update(&pr, fpf_pde_steps_done(s->p), NULL);
    }
    if (!st) st = fpf_pde_advance(s->p, t1, err);
    if (!st) st = write_output(s, dir, i, err);
    fpf_progress_update(&pr, fpf_pde_steps_done(s->p), NULL);
  }
  fpf_progress_finish(&pr);
  return st;
}

static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *metrics_json(const fpf_pde_metrics *m, size_t d) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "t", num(m->t));
  cJSON_AddNumberToObject(o, "steps", (double)m->steps);
  cJSON_AddItemToObject(o, "mass", num(m->mass));
  cJSON_AddItemToObject(o, "mass_drift", num(m->mass_drift));
  cJSON_AddItemToObject(o, "rho_min", num(m->rho_min));
  cJSON_AddItemToObject(o, "entropy", num(m->entropy));
  cJSON_AddItemToObject(o, "loss_mean", num(m->loss_mean));
  cJSON_AddItemToObject(o, "flux_l1", num(m->flux_l1));
  cJSON_AddItemToObject(o, "kl_gibbs", num(m->kl_gibbs));
  cJSON_AddItemToObject(o, "edge_mass", num(m->edge_mass));
  cJSON *mean = cJSON_AddArrayToObject(o, "mean");
  cJSON *var = cJSON_AddArrayToObject(o, "var");
  for (size_t k = 0; k < d; k++) {
    cJSON_AddItemToArray(mean, num(m->mean[k]));
    cJSON_AddItemToArray(var, num(m->var[k]));
  }
  return o;
}

static void write_summary(const pde_state *s, const char *dir, double wall,
                          const fpf_error *failure) {
  const fpf_pde_config *c = &s->c;
  size_t d = (size_t)c->d;
  long steps = s->p ? fpf_pde_steps_done(s->p) : 0;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fpflow_version", fpf_version());
  cJSON_AddStringToObject(o, "status", failure ? "failed" : "ok");
  if (failure) cJSON_AddStringToObject(o, "error", failure->msg);
  cJSON_AddStringToObject(o, "landscape", c->landscape);
  cJSON_AddNumberToObject(o, "d", (double)d);
  cJSON *cells = cJSON_AddArrayToObject(o, "cells");
  cJSON *lo = cJSON_AddArrayToObject(o, "lo"), *hi = cJSON_AddArrayToObject(
                                                     o, "hi");
  for (size_t k = 0; k < d; k++) {
    cJSON_AddItemToArray(cells, cJSON_CreateNumber((double)c->pde.cells[k]));
    cJSON_AddItemToArray(lo, num(c->pde.lo[k]));
    cJSON_AddItemToArray(hi, num(c->pde.hi[k]));
  }
  cJSON_AddStringToObject(o, "flux", fpf_pde_flux_form_name(c->pde.flux));
  cJSON_AddStringToObject(o, "splitting",
                          fpf_pde_splitting_name(c->pde.splitting));
  cJSON_AddNumberToObject(o, "dt", c->pde.dt);
  cJSON_AddNumberToObject(o, "t_end", c->t_end);
  cJSON_AddItemToObject(o, "t_reached", num(s->p ? fpf_pde_time(s->p) : 0));
  cJSON_AddNumberToObject(o, "steps", (double)steps);
  cJSON_AddNumberToObject(o, "wall_time_s", wall);
  cJSON_AddItemToObject(o, "time_per_step_s",
                        num(steps ? wall / (double)steps : NAN));
  cJSON_AddItemToObject(o, "max_abs_mass_drift", num(s->max_drift));
  cJSON_AddItemToObject(o, "min_rho", num(s->min_rho));
  cJSON_AddItemToObject(o, "max_edge_mass", num(s->max_edge));
  cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
  for (size_t i = 0; i < s->done; i++) {
    cJSON *e = cJSON_CreateObject();
    char name[32];
    cJSON_AddNumberToObject(e, "t", c->out[i]);
    snprintf(name, sizeof name, "density_%03zu.npy", i);
    cJSON_AddStringToObject(e, "density", name);
    snprintf(name, sizeof name, "flux_%03zu.npy", i);
    cJSON_AddStringToObject(e, "flux", name);
    cJSON_AddItemToArray(outs, e);
  }
  if (s->done) cJSON_AddItemToObject(o, "final", metrics_json(&s->last, d));
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  char path[1024];
  fpf_cli_path(path, sizeof path, dir, "summary.json");
  fpf_error e;
  if (!text) fpf_cli_error("cannot write %s: out of memory", path);
  else if (fpf_cli_write_text(path, text, &e)) fpf_cli_error("%s", e.msg);
  free(text);
}

/* ---- the figure (PLplot, pngcairo) ------------------------------------- */

/* Colour map 0: background, text, the Gibbs curve, then the curves. */
enum { COL_BG, COL_FG, COL_GIBBS, COL_CURVE };

/* Viridis at 5 control points: colour map 1 and the 1-D curves. */
static const double viridis[5][3] = {{68, 1, 84},
                                     {59, 82, 139},
                                     {33, 145, 140},
                                     {94, 201, 98},
                                     {253, 231, 37}};

static void viridis_at(double u, int rgb[3]) {
  double x = fmin(fmax(u, 0), 1) * 4;
  int i = x >= 4 ? 3 : (int)x;
  double f = x - i;
  for (int k = 0; k < 3; k++)
    rgb[k] = (int)lround(viridis[i][k] * (1 - f) + viridis[i + 1][k] * f);
}

static void set_colours(size_t ncurves) {
  plscmap0n(16);
  plscol0(COL_BG, 255, 255, 255);
  plscol0(COL_FG, 0, 0, 0);
  plscol0(COL_GIBBS, 150, 150, 150);
  for (size_t j = 0; j < ncurves && j < 12; j++) {
    int rgb[3];
    /* stop short of the palest yellow, which is hard to see on white */
    viridis_at(ncurves > 1 ? 0.85 * (double)j / (double)(ncurves - 1) : 0,
               rgb);
    plscol0(COL_CURVE + (int)j, rgb[0], rgb[1], rgb[2]);
  }
  PLFLT pos[5], r[5], g[5], b[5];
  for (int i = 0; i < 5; i++) {
    pos[i] = i / 4.0;
    r[i] = viridis[i][0] / 255, g[i] = viridis[i][1] / 255;
    b[i] = viridis[i][2] / 255;
  }
  plscmap1l(1, 5, pos, r, g, b, NULL);
}

typedef struct fig_ctx {
  const pde_state *s;
  char title[FPF_PDE_CFG_STR + 128];
} fig_ctx;

static void draw_1d(const fig_ctx *f) {
  const pde_state *s = f->s;
  size_t n = fpf_pde_cells(s->p, 0);
  const double *x = fpf_pde_centres(s->p, 0);
  /* The scale of the later curves: a point start's first curve may peak
     far above them, and is then clipped (its legend says where). */
  double top = 0, first = 0;
  for (size_t j = 0; j < s->nfig; j++)
    for (size_t i = 0; s->fig_rho[j] && i < n; i++)
      if (j == 0) first = fmax(first, s->fig_rho[j][i]);
      else top = fmax(top, s->fig_rho[j][i]);
  for (size_t i = 0; s->gibbs && i < n; i++) top = fmax(top, s->gibbs[i]);
  int clipped = top > 0 && first > 3 * top;
  if (!clipped) top = fmax(top, first);
  if (!(top > 0) || !isfinite(top)) top = 1;
  pladv(0);
  plschr(0, 0.8);
  plvpor(0.09, 0.97, 0.11, 0.9);
  plwind(s->c.pde.lo[0], s->c.pde.hi[0], 0, 1.08 * top);
  plcol0(COL_FG);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  pllab("z", "density #gr", f->title);
  PLINT opt[FIG_MAX_1D + 1], col[FIG_MAX_1D + 1], sty[FIG_MAX_1D + 1];
  PLINT tcol[FIG_MAX_1D + 1], snum[FIG_MAX_1D + 1], bcol[FIG_MAX_1D + 1];
  PLINT bpat[FIG_MAX_1D + 1];
  PLFLT wid[FIG_MAX_1D + 1], ssc[FIG_MAX_1D + 1], bsc[FIG_MAX_1D + 1];
  PLFLT bw[FIG_MAX_1D + 1];
  char text[FIG_MAX_1D + 1][48];
  const char *tp[FIG_MAX_1D + 1], *sym[FIG_MAX_1D + 1];
  int nl = 0;
  if (s->gibbs) {
    plcol0(COL_GIBBS);
    pllsty(2);
    plwidth(2);
    plline((PLINT)n, x, s->gibbs);
    pllsty(1);
    snprintf(text[nl], sizeof text[nl], "Gibbs state at t = %g",
             s->c.t_end);
    col[nl] = COL_GIBBS, sty[nl] = 2, nl++;
  }
  for (size_t j = 0; j < s->nfig; j++) {
    if (!s->fig_rho[j]) continue;
    plcol0(COL_CURVE + (int)j);
    plwidth(2);
    plline((PLINT)n, x, s->fig_rho[j]);
    if (j == 0 && clipped)
      snprintf(text[nl], sizeof text[nl], "t = %g (peak %.3g, off scale)",
               s->c.out[s->fig_idx[j]], first);
    else
      snprintf(text[nl], sizeof text[nl], "t = %g", s->c.out[s->fig_idx[j]]);
    col[nl] = COL_CURVE + (int)j, sty[nl] = 1, nl++;
  }
  plwidth(1);
  for (int i = 0; i < nl; i++) {
    opt[i] = PL_LEGEND_LINE, tcol[i] = COL_FG, wid[i] = 2, snum[i] = 0;
    ssc[i] = 1, tp[i] = text[i], sym[i] = "";
    bcol[i] = COL_BG, bpat[i] = 0, bsc[i] = 1, bw[i] = 1;
  }
  PLFLT w, h;
  if (nl)
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02,
             0.02, 0.08, COL_BG, COL_FG, 1, 0, 0, nl, opt, 0.8, 0.75, 2.4,
             0.0, tcol, tp, bcol, bpat, bsc, bw, col, sty, wid, col, ssc,
             snum, sym);
}

static void draw_2d(const fig_ctx *f) {
  const pde_state *s = f->s;
  size_t n1 = fpf_pde_cells(s->p, 0), n2 = fpf_pde_cells(s->p, 1);
  size_t cols = s->nfig < 3 ? s->nfig : 3, rows = (s->nfig + 2) / 3;
  const PLFLT **rowp = malloc(n1 * sizeof *rowp);
  if (!rowp) return;
  pladv(0);
  plschr(0, 0.7);
  plvpor(0, 1, 0, 1);
  plwind(0, 1, 0, 1);
  plcol0(COL_FG);
  plptex(0.5, 1 - 0.04 / (double)rows, 1, 0, 0.5, f->title);
  const double *lo = s->c.pde.lo, *hi = s->c.pde.hi;
  for (size_t j = 0; j < s->nfig; j++) {
    if (!s->fig_rho[j]) continue;
    size_t r = j / cols, q = j % cols;
    double x0 = (double)q / (double)cols, y1 = 1 - (double)r / (double)rows;
    double w = 1.0 / (double)cols, h = 0.92 / (double)rows;
    plvpor(x0 + 0.17 * w, x0 + 0.95 * w, y1 - 0.08 / rows - 0.8 * h,
           y1 - 0.08 / rows - 0.1 * h);
    plwind(lo[0], hi[0], lo[1], hi[1]);
    double top = 0;
    for (size_t i = 0; i < n1 * n2; i++) top = fmax(top, s->fig_rho[j][i]);
    if (!(top > 0)) top = 1;
    for (size_t i = 0; i < n1; i++) rowp[i] = s->fig_rho[j] + i * n2;
    plimage(rowp, (PLINT)n1, (PLINT)n2, lo[0], hi[0], lo[1], hi[1], 0, top,
            lo[0], hi[0], lo[1], hi[1]);
    plcol0(COL_FG);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char t[96];
    snprintf(t, sizeof t, "t = %g (max #gr = %.3g, dark 0)",
             s->c.out[s->fig_idx[j]], top);
    pllab("z#d1#u", "z#d2#u", t);
  }
  free(rowp);
}

static void draw(const fig_ctx *f) {
  if (f->s->c.d == 1) draw_1d(f);
  else draw_2d(f);
}

static void draw_cb(const void *arg) {
  const fig_ctx *f = arg;
  set_colours(f->s->nfig);
  draw(f);
}

static void figure(pde_state *s, const char *dir) {
  fpf_error err;
  fpf_error_clear(&err);
  fig_ctx f = {.s = s};
  const fpf_pde_config *c = &s->c;
  if (c->d == 1) {
    size_t n = fpf_pde_size(s->p);
    s->gibbs = malloc(n * sizeof *s->gibbs);
    if (s->gibbs && fpf_pde_gibbs(s->p, c->t_end, s->gibbs, NULL)) {
      free(s->gibbs);
      s->gibbs = NULL;
    }
    snprintf(f.title, sizeof f.title, "%s, %zu cells of %.3g, dt = %g, "
             "lambda = %g, gamma = %g", c->landscape, c->pde.cells[0],
             fpf_pde_cell_width(s->p, 0), c->pde.dt, c->pde.dyn.lambda,
             c->pde.dyn.gamma);
  } else {
    snprintf(f.title, sizeof f.title, "%s, %zu x %zu cells, dt = %g, "
             "lambda = %g, gamma = %g", c->landscape, c->pde.cells[0],
             c->pde.cells[1], c->pde.dt, c->pde.dyn.lambda,
             c->pde.dyn.gamma);
  }
  size_t cols = s->nfig < 3 ? s->nfig : 3, rows = (s->nfig + 2) / 3;
  PLINT w = c->d == 1 ? 1000 : (PLINT)(480 * cols);
  PLINT h = c->d == 1 ? 600 : (PLINT)(440 * rows + 40);
  char path[1024];
  if (fpf_plot_png(fpf_cli_path(path, sizeof path, dir, "figure.png"), w, h,
                   draw_cb, &f,
             &err))
    fpf_cli_error("%s", err.msg);
  else
    fpf_cli_info("figure: %s", path);
}

/* ---- the command ------------------------------------------------------- */

static void cleanup(pde_state *s) {
  if (s->csv) fclose(s->csv);
  fpf_pde_destroy(s->p);
  fpf_landscape_destroy(s->L);
  for (size_t j = 0; j < FIG_MAX_1D; j++) free(s->fig_rho[j]);
  free(s->gibbs);
}

int fpf_cmd_pde(int argc, char **argv) {
  pde_args a = {0};
  pde_state s;
  memset(&s, 0, sizeof s);
  int rc = parse_args(argc, argv, &a);
  if (!rc) rc = resolve(&a, &s.c);
  free(a.sets);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;
  fpf_set_threads((int)s.c.threads);
  fpf_error err;
  fpf_error_clear(&err);
  double t0 = fpf_cli_now();
  if (setup(&s, a.out, &err)) {
    rc = fpf_cli_fail(&err);
    cleanup(&s);
    return rc;
  }
  char grid[64];
  if (s.c.d == 1) snprintf(grid, sizeof grid, "%zu", s.c.pde.cells[0]);
  else snprintf(grid, sizeof grid, "%zu x %zu", s.c.pde.cells[0],
                s.c.pde.cells[1]);
  fpf_cli_info("pde: %s on %s cells, t = 0 .. %g, dt = %g, %zu outputs -> "
               "%s/", s.c.landscape, grid, s.c.t_end, s.c.pde.dt, s.c.nout,
               a.out);
  fpf_status st = evolve(&s, a.out, &err);
  double wall = fpf_cli_now() - t0;
  write_summary(&s, a.out, wall, st ? &err : NULL);
  if (s.c.figure && s.done) figure(&s, a.out);
  if (st) {
    fpf_cli_error("%s", err.msg);
    fpf_cli_error("the run stopped at t = %g (%zu of %zu outputs written); "
                  "what it wrote is kept in %s/", fpf_pde_time(s.p), s.done,
                  s.c.nout, a.out);
    cleanup(&s);
    return FPF_EXIT_FAIL;
  }
  if (s.max_edge > 1e-3)
    fpf_cli_info("note: the cells at the walls hold %.2g of the mass at t = "
                 "%g; a larger box would make the walls matter less",
                 s.max_edge, s.t_edge);
  long steps = fpf_pde_steps_done(s.p);
  fpf_cli_info("done in %.2f s (%.3g ms per step): mass %.15g, entropy "
               "%.6g, KL to Gibbs %.4g", wall,
               steps ? 1e3 * wall / (double)steps : 0.0, s.last.mass,
               s.last.entropy, s.last.kl_gibbs);
  cleanup(&s);
  return FPF_EXIT_OK;
}
