/*
 * fpflow grok: grokking on (a + b) mod p, trained in C, watched by the
 * monitor, with and without shrink-and-perturb resets, for several seeds.
 *
 * Outputs in DIR:
 *   config.ini                  the resolved configuration
 *   seed<S>-<arm>/metrics.csv   a row per observation, flushed as it goes
 *   seed<S>-<arm>/summary.json  grokking step, transitions, resets, the
 *                               signed distance from the nearest
 *                               transition to grokking
 *   seed<S>-<arm>/figure.png    accuracies and C(t), marks
 *   report.md, summary.json     every run side by side, and the medians
 * <arm> is "baseline" (no resets) or "resets".  A run that fails keeps
 * what it wrote, says why in its summary.json, and the other runs go on;
 * the command then exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fpflow/grok.h"
#include "grok_config.h"
#include "grok_figure.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow grok [CONFIG.ini] [--set key=value]... [-o DIR]\n"
          "                   [--threads N] [-q] [-v]\n\n"
          "Trains an MLP on (a + b) mod p from a fraction of the pairs,\n"
          "tests it on the others, and watches the hidden latents of a\n"
          "fixed probe of test pairs with fpflow's monitor (C, C_vel,\n"
          "S_dot, H).  Each seed runs without resets and with shrink-and-\n"
          "perturb resets, fired when C_vel falls below half its peak (by\n"
          "default).  The default groks (a + b) mod 97 from half of the\n"
          "pairs in about 1000 steps.  Writes\n"
          "to DIR (default fpflow_grok): config.ini, report.md,\n"
          "summary.json and, for each run, seed<S>-<arm>/ with\n"
          "metrics.csv, summary.json and figure.png.\n\n"
          "options:\n"
          "  --set key=value  override one key (or section.key=value)\n"
          "  -o, --out DIR    output directory (created if missing)\n"
          "  --threads N      threads (same as --set threads=N)\n"
          "  -q, --quiet      print warnings and errors only\n"
          "  -v, --verbose    print every reset and more\n"
          "  -h, --help       this text\n\n"
          "configuration keys (INI sections in brackets) and defaults:\n");
  fpf_grok_config_help(f);
}

/* ---- arguments and configuration ------------------------------------- */

typedef fpf_cli_job_args grok_args;

static int parse_args(int argc, char **argv, grok_args *a) {
  return fpf_cli_parse_job(argc, argv, "grok", "fpflow_grok", usage, a);
}

static int resolve(const grok_args *a, fpf_grok_config *c,
                   unsigned long long *seeds, int *nseeds) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_grok_config_defaults(c);
  if (a->config && fpf_grok_config_load(c, a->config, &err))
    return fpf_cli_fail(&err);
  for (int i = 0; i < a->nsets; i++)
    if (fpf_grok_config_set(c, a->sets[i], &err)) return fpf_cli_fail(&err);
  if (fpf_grok_config_check(c, seeds, nseeds, &err)) {
    fpf_error_prefix(&err, "%s: ", a->config ? a->config : "configuration");
    return fpf_cli_fail(&err);
  }
  return 0;
}

/* ---- one run ------------------------------------------------------------- */

/* What the report needs of each run. */
typedef struct run_result {
  unsigned long long seed;
  int resets_on;
  int failed;
  char error[512];
  long steps_done, memorised_step, grok_step;
  double final_train_acc, final_test_acc, wall;
  long nresets, ntrans;
  long nearest_offset;  /* transition step - grokking step */
  long lead_before;     /* grokking step - last transition at or before */
  int has_nearest, has_before;
  long cvel_peak_step, cvel_half_step; /* -1: none */
  double cvel_peak;
  size_t nrows;
} run_result;

/* The row callback's state. */
typedef struct run_ctx {
  const fpf_grok_config *c;
  FILE *csv;
  fpf_progress progress;
  long grok_step, memorised_step, resets;
  int write_failed;
} run_ctx;

static const char *csv_header =
    "step,train_loss,test_loss,train_acc,test_acc,C,log_C,C_vel,log_C_vel,"
    "S_dot,H_kde,H_knn,mu_rms,loss_probe,reset,resets\n";

static int on_row(void *user, const fpf_grok_row *r) {
  run_ctx *x = user;
  const fpf_metrics *m = &r->flow;
  x->resets += r->reset;
  if (fprintf(x->csv,
              "%ld,%.10g,%.10g,%.6f,%.6f,%.10g,%.10g,%.10g,%.10g,%.10g,"
              "%.10g,%.10g,%.10g,%.10g,%d,%ld\n",
              r->step, r->train_loss, r->test_loss, r->train_acc,
              r->test_acc, m->C, m->log_C, m->C_vel, m->log_C_vel,
              m->S_dot, m->H_kde, m->H_knn, m->mu_rms, m->loss_mean,
              r->reset, x->resets) < 0 ||
      fflush(x->csv) != 0) {
    x->write_failed = 1;
    return 1;
  }
  if (x->memorised_step < 0 && r->train_acc >= 0.99)
    x->memorised_step = r->step;
  if (x->grok_step < 0 && r->test_acc >= x->c->grok_accuracy)
    x->grok_step = r->step;
  char extra[96];
  snprintf(extra, sizeof extra, "train %.2f test %.2f C %.3g", r->train_acc,
           r->test_acc, m->C);
  fpf_progress_update(&x->progress, r->step, extra);
  /* Stop extra_steps after grokking: the rest would only confirm it. */
  return x->c->extra_steps >= 0 && x->grok_step >= 0 &&
         r->step >= x->grok_step + x->c->extra_steps;
}

static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static fpf_status write_json(const char *path, cJSON *o, fpf_error *err) {
  char *text = cJSON_Print(o);
  fpf_status st = text ? fpf_cli_write_text(path, text, err)
                       : fpf_error_set(err, FPF_ENOMEM, "%s: no memory",
                                       path);
  free(text);
  return st;
}

/* Transitions (as row indices), then the nearest one to grokking and the
   last one at or before it. */
static void relate_transitions(const fpf_grok_row *rows, const size_t *tr,
                               size_t nt, run_result *res) {
  res->ntrans = (long)nt;
  if (res->grok_step < 0) return;
  for (size_t i = 0; i < nt; i++) {
    long s = rows[tr[i]].step, off = s - res->grok_step;
    if (!res->has_nearest || labs(off) < labs(res->nearest_offset) ||
        (labs(off) == labs(res->nearest_offset) && off < 0))
      res->nearest_offset = off, res->has_nearest = 1;
    if (off <= 0) res->lead_before = -off, res->has_before = 1;
  }
}

/* Where C_vel peaked, and where it first fell below half that peak. */
static void cvel_course(const fpf_grok_row *rows, run_result *res) {
  size_t peak = 0;
  int any = 0;
  res->cvel_peak_step = res->cvel_half_step = -1;
  res->cvel_peak = NAN;
  for (size_t i = 0; i < res->nrows; i++) {
    double v = rows[i].flow.C_vel;
    if (isfinite(v) && (!any || v > rows[peak].flow.C_vel)) peak = i, any = 1;
  }
  if (!any) return;
  res->cvel_peak = rows[peak].flow.C_vel;
  res->cvel_peak_step = rows[peak].step;
  for (size_t i = peak; i < res->nrows; i++)
    if (rows[i].flow.C_vel < 0.5 * res->cvel_peak) {
      res->cvel_half_step = rows[i].step;
      break;
    }
}

static cJSON *step_or_null(long step) {
  return step >= 0 ? cJSON_CreateNumber((double)step) : cJSON_CreateNull();
}

static cJSON *run_json(const fpf_grok_config *c, const run_result *res,
                       const fpf_grok_row *rows, const size_t *tr,
                       size_t nt) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fpflow_version", fpf_version());
  cJSON_AddStringToObject(o, "status", res->failed ? "failed" : "ok");
  if (res->failed) cJSON_AddStringToObject(o, "error", res->error);
  cJSON_AddNumberToObject(o, "seed", (double)res->seed);
  cJSON_AddStringToObject(o, "arm", res->resets_on ? "resets" : "baseline");
  cJSON_AddNumberToObject(o, "p", (double)c->g.model.p);
  cJSON_AddNumberToObject(o, "train_fraction", c->g.train_fraction);
  cJSON_AddNumberToObject(o, "steps_requested", (double)c->steps);
  cJSON_AddNumberToObject(o, "steps_done", (double)res->steps_done);
  cJSON_AddNumberToObject(o, "eval_every", (double)c->g.eval_every);
  cJSON_AddNumberToObject(o, "wall_time_s", res->wall);
  cJSON_AddNumberToObject(o, "grok_accuracy", c->grok_accuracy);
  cJSON_AddItemToObject(o, "grokking_step", step_or_null(res->grok_step));
  cJSON_AddItemToObject(o, "memorised_step",
                        step_or_null(res->memorised_step));
  cJSON_AddItemToObject(o, "C_vel_peak", num(res->cvel_peak));
  cJSON_AddItemToObject(o, "C_vel_peak_step",
                        step_or_null(res->cvel_peak_step));
  cJSON_AddItemToObject(o, "C_vel_half_peak_step",
                        step_or_null(res->cvel_half_step));
  cJSON_AddItemToObject(o, "final_train_acc", num(res->final_train_acc));
  cJSON_AddItemToObject(o, "final_test_acc", num(res->final_test_acc));
  cJSON *ra = cJSON_AddArrayToObject(o, "resets");
  for (size_t i = 0; i < res->nrows; i++)
    if (rows[i].reset)
      cJSON_AddItemToArray(ra, cJSON_CreateNumber((double)rows[i].step));
  cJSON *ta = cJSON_AddArrayToObject(o, "transitions");
  for (size_t i = 0; i < nt; i++) {
    const fpf_grok_row *r = &rows[tr[i]];
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "step", (double)r->step);
    cJSON_AddItemToObject(t, "C", num(r->flow.C));
    cJSON_AddItemToObject(t, "S_dot", num(r->flow.S_dot));
    cJSON_AddItemToObject(t, "test_acc", num(r->test_acc));
    cJSON_AddItemToArray(ta, t);
  }
  /* Signed: negative when the transition came before grokking. */
  cJSON_AddItemToObject(o, "nearest_transition_minus_grokking",
                        res->has_nearest
                            ? cJSON_CreateNumber((double)res->nearest_offset)
                            : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "lead_of_last_transition_before_grokking",
                        res->has_before
                            ? cJSON_CreateNumber((double)res->lead_before)
                            : cJSON_CreateNull());
  return o;
}

static void run_figure(const char *dir, const fpf_grok_config *c,
                       const run_result *res, const fpf_grok_row *rows,
                       const size_t *tr, size_t nt) {
  size_t n = res->nrows;
  double *buf = malloc((7 * n + nt + 1) * sizeof *buf);
  if (!buf) {
    fpf_cli_error("figure: out of memory");
    return;
  }
  double *step = buf, *tra = step + n, *tea = tra + n, *C = tea + n,
         *Cv = C + n, *thr = Cv + n, *ts = thr + n, *rs = ts + nt;
  size_t nr = 0;
  double peak = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    step[i] = (double)rows[i].step;
    tra[i] = rows[i].train_acc, tea[i] = rows[i].test_acc;
    C[i] = rows[i].flow.log_C, Cv[i] = rows[i].flow.log_C_vel;

    /* The threshold the reset rule applied at this row (grok_train.c). */
    double v = c->g.trigger == FPF_TRIGGER_C ? rows[i].flow.C
                                             : rows[i].flow.C_vel;
    if (isfinite(v) && v > peak) peak = v;
    thr[i] = !res->resets_on ? NAN
             : c->g.threshold_relative ? c->g.C_threshold * peak
                                       : c->g.C_threshold;
  }
  for (size_t i = 0; i < nt; i++) ts[i] = (double)rows[tr[i]].step;
  for (size_t i = 0; i < n; i++)
    if (rows[i].reset) rs[nr++] = step[i];
  char title[160], path[1200];
  snprintf(title, sizeof title, "(a + b) mod %ld, train fraction %g, seed "
           "%llu, %s", c->g.model.p, c->g.train_fraction, res->seed,
           res->resets_on ? "with resets" : "no resets");
  fpf_grok_figure f = {.n = n, .step = step, .train_acc = tra,
                       .test_acc = tea, .log_C = C, .log_C_vel = Cv,
                       .transitions = ts, .nt = nt, .resets = rs,
                       .nr = nr,
                       .grok_step = res->grok_step >= 0
                                        ? (double)res->grok_step : NAN,
                       .grok_accuracy = c->grok_accuracy,
                       .threshold = thr,
                       .threshold_on_C_vel = c->g.trigger ==
                                             FPF_TRIGGER_C_VEL,
                       .title = title};
  fpf_error err;
  fpf_error_clear(&err);
  if (fpf_grok_figure_write(fpf_cli_path(path, sizeof path, dir,
                                         "figure.png"), &f, &err))
    fpf_cli_error("%s", err.msg);
  free(buf);
}

/* Writes the run's summary and figure from what the trainer kept. */
static void finish_run(const char *dir, const fpf_grok_config *c,
                       fpf_grok *g, run_result *res) {
  const fpf_grok_row *rows = NULL;
  res->nrows = g ? fpf_grok_rows(g, &rows) : 0;
  size_t *tr = malloc((res->nrows + 1) * sizeof *tr), nt = 0;
  fpf_error err;
  fpf_error_clear(&err);
  if (tr && g && fpf_grok_transitions(g, tr, &nt, &err)) {
    fpf_cli_info("%s: transition detection skipped: %s", dir, err.msg);
    nt = 0;
  }
  if (res->nrows) {
    res->final_train_acc = rows[res->nrows - 1].train_acc;
    res->final_test_acc = rows[res->nrows - 1].test_acc;
  } else {
    res->final_train_acc = res->final_test_acc = NAN;
  }
  for (size_t i = 0; i < res->nrows; i++) res->nresets += rows[i].reset;
  cvel_course(rows, res);
  if (!tr) nt = 0;
  relate_transitions(rows, tr, nt, res);

  char path[1200];
  cJSON *o = run_json(c, res, rows, tr, nt);
  fpf_error_clear(&err);
  if (write_json(fpf_cli_path(path, sizeof path, dir, "summary.json"), o,
                 &err))
    fpf_cli_error("%s", err.msg);
  cJSON_Delete(o);
  if (c->figure && res->nrows) run_figure(dir, c, res, rows, tr, nt);
  free(tr);
}

static fpf_status open_run(const char *dir, const fpf_grok_config *c,
                           unsigned long long seed, int resets_on,
                           fpf_grok **g, FILE **csv, fpf_error *err) {
  fpf_status st;
  if ((st = fpf_cli_mkdirs(dir, err))) return st;
  fpf_grok_options o = c->g;
  o.model.seed = seed;
  o.resets = resets_on;
  o.log = fpf_cli_log;
  o.monitor_options.log = fpf_cli_log;
  if ((st = fpf_grok_create(g, &o, err))) return st;
  char path[1200];
  *csv = fopen(fpf_cli_path(path, sizeof path, dir, "metrics.csv"), "w");
  if (!*csv) return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  fputs(csv_header, *csv);
  return FPF_OK;
}

static void run_one(const char *out, const fpf_grok_config *c,
                    unsigned long long seed, int resets_on, run_result *res) {
  memset(res, 0, sizeof *res);
  res->seed = seed;
  res->resets_on = resets_on;
  res->grok_step = res->memorised_step = -1;
  char dir[1100], label[96];
  snprintf(dir, sizeof dir, "%s/seed%llu-%s", out, seed,
           resets_on ? "resets" : "baseline");
  snprintf(label, sizeof label, "grok seed %llu %s", seed,
           resets_on ? "resets" : "baseline");
  fpf_error err;
  fpf_error_clear(&err);
  fpf_grok *g = NULL;
  run_ctx x = {.c = c, .grok_step = -1, .memorised_step = -1};
  double t0 = fpf_cli_now();
  fpf_status st = open_run(dir, c, seed, resets_on, &g, &x.csv, &err);
  if (!st) {
    fpf_progress_start(&x.progress, label, c->steps);
    st = fpf_grok_train(g, c->steps, on_row, &x, &err);
    fpf_progress_finish(&x.progress);
    if (st == FPF_ESTOPPED && !x.write_failed) st = FPF_OK;
    if (x.write_failed)
      st = fpf_error_set(&err, FPF_EIO, "%s/metrics.csv: write failed",
                         dir);
  }
  if (x.csv) fclose(x.csv);
  res->wall = fpf_cli_now() - t0;
  res->steps_done = g ? fpf_grok_steps_done(g) : 0;
  res->grok_step = x.grok_step;
  res->memorised_step = x.memorised_step;
  if (st) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "%s", err.msg);
    fpf_cli_error("%s: %s", dir, err.msg);
  }
  finish_run(dir, c, g, res);
  fpf_grok_destroy(g);
  char grok[64];
  if (res->grok_step >= 0)
    snprintf(grok, sizeof grok, "grokked at step %ld", res->grok_step);
  else
    snprintf(grok, sizeof grok, "no grokking in %ld steps",
             res->steps_done);
  fpf_cli_info("seed %llu %s: %s (final train %.3f, test %.3f), %ld "
               "transitions, %ld resets, %.0f s", seed,
               resets_on ? "resets" : "baseline", grok,
               res->final_train_acc, res->final_test_acc, res->ntrans,
               res->nresets, res->wall);
}

/* ---- the report -------------------------------------------------------- */

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* Median of sorted v (n >= 1). */
static double median(const long *v, size_t n) {
  return n % 2 ? (double)v[n / 2] : 0.5 * (double)(v[n / 2 - 1] + v[n / 2]);
}

/* Grokking steps of one arm, sorted; returns how many grokked. */
static size_t arm_steps(const run_result *r, int n, int arm, long *out,
                        int *runs) {
  size_t k = 0;
  *runs = 0;
  for (int i = 0; i < n; i++) {
    if (r[i].resets_on != arm) continue;
    (*runs)++;
    if (r[i].grok_step >= 0) out[k++] = r[i].grok_step;
  }
  qsort(out, k, sizeof *out, cmp_long);
  return k;
}

static void report_arm(FILE *f, const char *name, const long *v, size_t k,
                       int runs) {
  if (runs == 0) return;
  if (k == 0) {
    fprintf(f, "- %s: no run grokked (0 of %d).\n", name, runs);
    return;
  }
  fprintf(f, "- %s: %zu of %d run%s grokked; median grokking step %.0f, "
          "range %ld to %ld.\n", name, k, runs, runs == 1 ? "" : "s",
          median(v, k), v[0],
          v[k - 1]);
}

static void report_table(FILE *f, const run_result *r, int n) {
  fprintf(f, "| seed | arm | memorised (train acc >= 0.99) | grokking "
             "step | final train / test acc | transitions | nearest "
             "transition - grokking | resets | steps | wall time |\n"
             "|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < n; i++) {
    const run_result *x = &r[i];
    char mem[32] = "never", grok[32] = "never", near[32] = "-";
    if (x->memorised_step >= 0) snprintf(mem, sizeof mem, "%ld",
                                         x->memorised_step);
    if (x->grok_step >= 0) snprintf(grok, sizeof grok, "%ld", x->grok_step);
    if (x->has_nearest) snprintf(near, sizeof near, "%+ld",
                                 x->nearest_offset);
    fprintf(f, "| %llu | %s%s | %s | %s | %.3f / %.3f | %ld | %s | %ld | "
            "%ld | %.0f s |\n", x->seed,
            x->resets_on ? "resets" : "baseline",
            x->failed ? " (failed)" : "", mem, grok, x->final_train_acc,
            x->final_test_acc, x->ntrans, near, x->nresets, x->steps_done,
            x->wall);
  }
}

/* C_vel's course against grokking, in the runs without resets (whose
   C_vel no reset has moved). */
static void report_cvel(FILE *f, const run_result *r, int n) {
  int shown = 0;
  for (int i = 0; i < n; i++) {
    const run_result *x = &r[i];
    if (x->resets_on || x->cvel_peak_step < 0) continue;
    if (!shown++)
      fprintf(f, "\n## C_vel around grokking (runs without resets)\n\n"
                 "| seed | C_vel peak | at step | below half the peak "
                 "from step | grokking step |\n|---|---|---|---|---|\n");
    char half[32] = "never", grok[32] = "never";
    if (x->cvel_half_step >= 0)
      snprintf(half, sizeof half, "%ld", x->cvel_half_step);
    if (x->grok_step >= 0) snprintf(grok, sizeof grok, "%ld", x->grok_step);
    fprintf(f, "| %llu | %.3g | %ld | %s | %s |\n", x->seed, x->cvel_peak,
            x->cvel_peak_step, half, grok);
  }
}

/* Whether transitions came before grokking, and by how much. */
static void report_leads(FILE *f, const run_result *r, int n,
                         long eval_every) {
  int grokked = 0, before = 0, none = 0;
  long *leads = malloc((size_t)(n + 1) * sizeof *leads);
  if (!leads) return;
  size_t nl = 0;
  for (int i = 0; i < n; i++) {
    if (r[i].grok_step < 0) continue;
    grokked++;
    if (r[i].ntrans == 0) none++;
    if (r[i].has_before) before++, leads[nl++] = r[i].lead_before;
  }
  qsort(leads, nl, sizeof *leads, cmp_long);
  fprintf(f, "\n## Transitions and grokking\n\n");
  if (grokked == 0) {
    fprintf(f, "No run grokked, so no transition can be compared with "
               "grokking.\n");
    free(leads);
    return;
  }
  fprintf(f, "Of the %d runs that grokked, %d had a detected transition at "
          "or before the grokking step and %d had no transition at all.\n",
          grokked, before, none);
  if (nl)
    fprintf(f, "The last transition before grokking led it by a median of "
            "%.0f steps (range %ld to %ld; observations are %ld steps "
            "apart).\n", median(leads, nl), leads[0], leads[nl - 1],
            eval_every);
  long total = 0, rows = 0;
  for (int i = 0; i < n; i++) total += r[i].ntrans, rows += (long)r[i].nrows;
  if (total)
    fprintf(f, "For scale: the detector flagged %ld of %ld observations "
            "(%.1f%%); the more rows are flagged, the less one flagged "
            "before grokking says.\n", total, rows,
            100.0 * (double)total / (double)rows);
  free(leads);
}

static void report_verdict(FILE *f, const long *b, size_t kb, int nb,
                           const long *s, size_t ks, int ns) {
  if (nb == 0 || ns == 0) return;
  fprintf(f, "\n");
  if (kb == 0 || ks == 0) {
    fprintf(f, "The arms cannot be compared by their medians: %s.\n",
            kb == 0 && ks == 0 ? "neither arm grokked"
            : kb == 0          ? "the baseline never grokked"
                               : "the runs with resets never grokked");
    return;
  }
  double mb = median(b, kb), ms = median(s, ks);
  if (ms < mb)
    fprintf(f, "With resets the median run grokked %.2f times sooner "
            "(%.0f against %.0f steps).", mb / ms, ms, mb);
  else if (ms > mb)
    fprintf(f, "With resets the median run grokked %.2f times later "
            "(%.0f against %.0f steps).", ms / mb, ms, mb);
  else
    fprintf(f, "Both arms grokked at the same median step (%.0f).", mb);
  fprintf(f, " The source document claims 1.7 times sooner (about 2,350 "
             "against 4,000 epochs).\n");
}

static fpf_status write_report(const char *out, const fpf_grok_config *c,
                               const run_result *r, int n, double wall,
                               fpf_error *err) {
  char path[1200];
  FILE *f = fopen(fpf_cli_path(path, sizeof path, out, "report.md"), "w");
  if (!f) return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  const fpf_grok_model_options *m = &c->g.model;
  fprintf(f, "# Grokking on (a + b) mod %ld\n\n", m->p);
  fprintf(f, "fpflow %s. Total wall time %.0f s.\n\n", fpf_version(),
          wall);
  fprintf(f, "- Data: train fraction %g of the %ld x %ld pairs, %s.\n",
          c->g.train_fraction, m->p, m->p,
          c->g.batch_size ? "mini-batches" : "full batch");
  fprintf(f, "- Model: embeddings of size %zu, %d hidden layer%s of width "
          "%zu (%s).\n", m->embed_dim, m->hidden_layers,
          m->hidden_layers > 1 ? "s" : "", m->width,
          fpf_grok_activation_name(m->activation));
  fprintf(f, "- AdamW: lr %g, weight decay %g, betas %g and %g.\n",
          c->g.adamw.lr, c->g.adamw.weight_decay, c->g.adamw.beta1,
          c->g.adamw.beta2);
  fprintf(f, "- Observed every %ld steps; the grokking step is the first "
          "observation with test accuracy >= %g.\n", c->g.eval_every,
          c->grok_accuracy);
  fprintf(f, "- Monitor: the last hidden layer of %zu held-out probe "
          "pairs.\n", c->g.probe_size);
  fprintf(f, "- Resets: shrink and perturb (alpha %g) when %s < %g%s, "
          "after a warm-up of %ld steps, at most one per %ld steps.\n\n",
          c->g.reset_alpha, c->g.trigger == FPF_TRIGGER_C ? "C" : "C_vel",
          c->g.C_threshold,
          c->g.threshold_relative ? " times its peak so far" : "",
          c->g.warmup, c->g.cooldown);
  report_table(f, r, n);

  long *b = malloc((size_t)(n + 1) * sizeof *b);
  long *s = malloc((size_t)(n + 1) * sizeof *s);
  if (b && s) {
    int nb, ns;
    size_t kb = arm_steps(r, n, 0, b, &nb), ks = arm_steps(r, n, 1, s, &ns);
    fprintf(f, "\n## Grokking steps\n\n");
    report_arm(f, "Without resets", b, kb, nb);
    report_arm(f, "With resets", s, ks, ns);
    long fired = 0;
    for (int i = 0; i < n; i++) fired += r[i].resets_on ? r[i].nresets : 0;
    if (ns)
      fprintf(f, "- Resets fired %ld time%s in the %d run%s with resets.\n",
              fired, fired == 1 ? "" : "s", ns, ns == 1 ? "" : "s");
    report_verdict(f, b, kb, nb, s, ks, ns);
  }
  free(b);
  free(s);
  report_cvel(f, r, n);
  report_leads(f, r, n, c->g.eval_every);
  int failed = 0;
  for (int i = 0; i < n; i++) failed += r[i].failed;
  if (failed)
    fprintf(f, "\n%d run%s failed; see %s summary.json.\n", failed,
            failed > 1 ? "s" : "", failed > 1 ? "their" : "its");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad)
    return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  return FPF_OK;
}

static fpf_status write_overall(const char *out, const run_result *r, int n,
                                double wall, fpf_error *err) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fpflow_version", fpf_version());
  cJSON_AddNumberToObject(o, "wall_time_s", wall);
  cJSON *runs = cJSON_AddArrayToObject(o, "runs");
  for (int i = 0; i < n; i++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "seed", (double)r[i].seed);
    cJSON_AddStringToObject(x, "arm", r[i].resets_on ? "resets"
                                                     : "baseline");
    cJSON_AddStringToObject(x, "status", r[i].failed ? "failed" : "ok");
    cJSON_AddItemToObject(x, "grokking_step",
                          r[i].grok_step >= 0
                              ? cJSON_CreateNumber((double)r[i].grok_step)
                              : cJSON_CreateNull());
    cJSON_AddNumberToObject(x, "resets", (double)r[i].nresets);
    cJSON_AddNumberToObject(x, "transitions", (double)r[i].ntrans);
    cJSON_AddItemToObject(x, "nearest_transition_minus_grokking",
                          r[i].has_nearest
                              ? cJSON_CreateNumber(
                                    (double)r[i].nearest_offset)
                              : cJSON_CreateNull());
    cJSON_AddNumberToObject(x, "wall_time_s", r[i].wall);
    cJSON_AddItemToArray(runs, x);
  }
  char path[1200];
  fpf_status st = write_json(fpf_cli_path(path, sizeof path, out,
                                          "summary.json"), o, err);
  cJSON_Delete(o);
  return st;
}

/* ---- the command --------------------------------------------------------- */

static fpf_status write_config(const char *out, const fpf_grok_config *c,
                               fpf_error *err) {
  fpf_status st = fpf_cli_mkdirs(out, err);
  if (st) return st;
  char path[1200];
  FILE *f = fopen(fpf_cli_path(path, sizeof path, out, "config.ini"), "w");
  if (!f) return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  fpf_grok_config_write(c, f);
  if (fclose(f) != 0)
    return fpf_error_set(err, FPF_EIO, "cannot write %s", path);
  return FPF_OK;
}

int fpf_cmd_grok(int argc, char **argv) {
  grok_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_args(argc, argv, &a);
  fpf_grok_config c;
  unsigned long long seeds[FPF_GROK_MAX_SEEDS];
  int nseeds = 0;
  if (!rc) rc = resolve(&a, &c, seeds, &nseeds);
  free(a.sets);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;

  fpf_set_threads((int)c.threads);
  fpf_error err;
  fpf_error_clear(&err);
  if (write_config(a.out, &c, &err)) return fpf_cli_fail(&err);
  int arms[2], narms = 0;
  if (c.arms != FPF_ARMS_ON) arms[narms++] = 0;
  if (c.arms != FPF_ARMS_OFF) arms[narms++] = 1;
  run_result *res = calloc((size_t)(nseeds * narms), sizeof *res);
  if (!res) {
    fpf_cli_error("grok: out of memory");
    return FPF_EXIT_FAIL;
  }
  fpf_cli_info("grok: p = %ld, train fraction %g, %ld steps, %d seed%s x "
               "%d arm%s -> %s/", c.g.model.p, c.g.train_fraction, c.steps,
               nseeds, nseeds > 1 ? "s" : "", narms, narms > 1 ? "s" : "",
               a.out);

  /* Seeds one after the other; each run uses every thread. */
  double t0 = fpf_cli_now();
  int n = 0, failed = 0;
  for (int i = 0; i < nseeds; i++)
    for (int k = 0; k < narms; k++) {
      run_one(a.out, &c, seeds[i], arms[k], &res[n]);
      failed += res[n++].failed;
    }
  double wall = fpf_cli_now() - t0;
  if (write_report(a.out, &c, res, n, wall, &err) ||
      write_overall(a.out, res, n, wall, &err)) {
    fpf_cli_error("%s", err.msg);
    failed++;
  }
  free(res);
  fpf_cli_info("done in %.0f s: %s/report.md", wall, a.out);
  return failed ? FPF_EXIT_FAIL : FPF_EXIT_OK;
}
