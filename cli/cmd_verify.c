/*
 * fpflow verify: runs the table of checks (verify.h) and writes DIR/report.md
 * with the table, the settings and a paragraph per check, and the
 * figures.  The report is rewritten after every check, so a run that is
 * stopped keeps what it measured so far.
 *
 * Exit codes: 0 when every check of fpflow's own correctness passed
 * (whatever the source's claims did), 1 when one failed or a library
 * call failed inside a check, 2 for bad usage or an unusable output
 * directory.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fpflow/dyn.h"
#include "verify.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow verify [--full] [-o DIR] [-q] [-v]\n\n"
          "Runs a table of checks and prints, for each, what was measured\n"
          "beside what was expected or claimed:\n"
          "  - fpflow's own correctness (PASS or FAIL): an Ornstein-Uhlenbeck\n"
          "    ensemble against its exact law, particles against the grid\n"
          "    solver (1-D double well, 2-D two wells, entropy term on), the\n"
          "    positive-definiteness boundary of D, the reset boost;\n"
          "  - the source document's claims (HOLDS or DOES NOT HOLD AS\n"
          "    STATED): Proposition 2, Theorems 3, 4 and 6.\n"
          "A claim that does not hold is a result, not a failure: only a\n"
          "FAIL makes the exit code 1.  Writes DIR/report.md (the table,\n"
          "the settings and a paragraph per check) and PNG figures to DIR\n"
          "(default fpflow_verify).  The default run takes a few minutes on\n"
          "two cores; --full adds N = 3 10^4 and 10^5 particles and more\n"
          "seeds and takes longer.\n\n"
          "options:\n"
          "  --full          the large-N version\n"
          "  --quick         only fpflow's own correctness checks, reduced\n"
          "                  (what the test suite runs; a few seconds)\n"
          "  -o, --out DIR   output directory (created if missing)\n"
          "  -q, --quiet     print warnings and errors only\n"
          "  -v, --verbose   also print the figures written\n"
          "  -h, --help      this text\n");
}

/* ---- rows, text and progress ------------------------------------------- */

const char *vf_verdict_name(vf_verdict v) {
  switch (v) {
    case VF_PASS: return "PASS";
    case VF_FAIL: return "FAIL";
    case VF_HOLDS: return "HOLDS";
    case VF_NOT_HOLD: return "DOES NOT HOLD AS STATED";
    default: return "(info)";
  }
}

vf_row *vf_row_new(vf_ctx *v, const char *fmt, ...) {
  if (v->nrows == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 64;
    vf_row *r = realloc(v->rows, cap * sizeof *r);
    if (!r) {
      v->oom = 1;
      return NULL;
    }
    v->rows = r, v->cap = cap;
  }
  vf_row *r = &v->rows[v->nrows++];
  memset(r, 0, sizeof *r);
  r->verdict = VF_INFO;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->check, sizeof r->check, fmt, ap);
  va_end(ap);
  return r;
}

/* Clears a progress bar drawn on the terminal before stdout is used. */
static void clear_bar(vf_ctx *v) {
  if (v->prog.shown && v->prog.tty) fputs("\r\033[K", stderr);
}

void vf_row_show(vf_ctx *v, const vf_row *r) {
  if (fpf_cli_verbosity < 1) return;
  clear_bar(v);
  printf("%-5s %s\n", r->verdict == VF_NOT_HOLD ? "NOT" : vf_verdict_name(
                                                      r->verdict),
         r->check);
  printf("      measured: %s\n      %s: %s", r->measured,
         r->verdict == VF_HOLDS || r->verdict == VF_NOT_HOLD ? "claimed"
                                                              : "expected",
         r->expected);
  if (r->tolerance[0]) printf(" (tolerance %s)", r->tolerance);
  printf("\n");
  if (r->verdict == VF_NOT_HOLD) printf("      DOES NOT HOLD AS STATED\n");
  fflush(stdout);
}

void vf_row_error(vf_ctx *v, const char *check, const fpf_error *err) {
  vf_row *r = vf_row_new(v, "%s", check);
  if (!r) return;
  snprintf(r->measured, sizeof r->measured, "the check could not run: %s",
           err->msg[0] ? err->msg : fpf_status_str(err->status));
  snprintf(r->expected, sizeof r->expected, "a completed run");
  r->verdict = VF_FAIL;
  vf_row_show(v, r);
}

void vf_say(vf_ctx *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (v->len + (size_t)n + 1 > v->tcap) {
    size_t cap = v->tcap ? v->tcap : 8192;
    while (cap < v->len + (size_t)n + 1) cap *= 2;
    char *t = realloc(v->text, cap);
    if (!t) {
      v->oom = 1;
      return;
    }
    v->text = t, v->tcap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(v->text + v->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  v->len += (size_t)n;
}

/* The progress display counts in millions of units, which keeps the
   totals of a --full run inside a long. */
#define UNITS_PER_TICK 1e6

void vf_stage(vf_ctx *v, const char *name) {
  v->stage = name;
  vf_work(v, 0);
}

void vf_work(vf_ctx *v, double units) {
  v->work_done += units;
  if (v->work_done > v->work_total) v->work_done = v->work_total;
  char extra[96];
  snprintf(extra, sizeof extra, "%s", v->stage ? v->stage : "");
  fpf_progress_update(&v->prog, (long)(v->work_done / UNITS_PER_TICK),
                      extra);
}

/* Pairs per step below which one thread is used (2^22: ~4 ms of KDE). */
#define ONE_THREAD_PAIRS (1u << 22)

void vf_threads(vf_ctx *v, size_t n) {
  fpf_set_threads((double)n * (double)n < ONE_THREAD_PAIRS ? 1
                                                           : v->max_threads);
}

void vf_fmt_vec(char *buf, size_t cap, const double *x, size_t n,
                int digits) {
  size_t len = strlen(buf);
  for (size_t i = 0; i < n && len < cap; i++) {
    snprintf(buf + len, cap - len, "%s%.*g", i ? ", " : "", digits, x[i]);
    len = strlen(buf);
  }
}

double vf_slope(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
  mx /= (double)n, my /= (double)n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : NAN;
}

/* ---- the table of checks ------------------------------------------------ */

typedef double (*vf_check_fn)(vf_ctx *, int);

static const struct {
  vf_check_fn fn;
  const char *name;
  int quick; /* part of the reduced ctest form */
} checks[] = {
    {vf_check_ou, "OU ensemble", 1},
    {vf_check_grid, "particles vs grid", 1},
    {vf_check_pd, "Proposition 2", 1},
    {vf_check_radius, "Theorem 3", 0},
    {vf_check_kl, "Theorem 4", 0},
    {vf_check_resets, "Theorem 6", 0},
};
#define NCHECKS (sizeof checks / sizeof checks[0])

/* ---- the report --------------------------------------------------------- */

/* A table cell: '|' would end the cell, and a newline the row. */
static void cell(FILE *f, const char *s) {
  fputc(' ', f);
  for (; *s; s++) {
    if (*s == '|') fputs("\\|", f);
    else if (*s == '\n') fputc(' ', f);
    else fputc(*s, f);
  }
  fputs(" |", f);
}

static const char *mode_name(vf_mode m) {
  return m == VF_QUICK ? "quick (the ctest form)"
         : m == VF_FULL ? "full (--full)"
                        : "default";
}

/* The Markdown table alone (also pasted into docs/verify.md). */
static void write_table(FILE *f, const vf_ctx *v) {
  fputs("| check | measured | expected or claimed | tolerance | result |\n"
        "|---|---|---|---|---|\n",
        f);
  for (size_t i = 0; i < v->nrows; i++) {
    const vf_row *r = &v->rows[i];
    fputc('|', f);
    cell(f, r->check);
    cell(f, r->measured);
    cell(f, r->expected);
    cell(f, r->tolerance[0] ? r->tolerance : "");
    char res[64];
    snprintf(res, sizeof res, "**%s**", vf_verdict_name(r->verdict));
    cell(f, res);
    fputc('\n', f);
  }
}

/* Wall time of each check, for the report. */
static double check_time[16];

static int write_report(const vf_ctx *v, double wall, int finished) {
  char path[4096], tmp[4200];
  fpf_cli_path(path, sizeof path, v->out, "report.md");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    fpf_cli_error("cannot write %s", tmp);
    return 1;
  }
  size_t npass = 0, nfail = 0, nhold = 0, nnot = 0;
  for (size_t i = 0; i < v->nrows; i++) {
    vf_verdict r = v->rows[i].verdict;
    npass += r == VF_PASS, nfail += r == VF_FAIL;
    nhold += r == VF_HOLDS, nnot += r == VF_NOT_HOLD;
  }
  fprintf(f,
          "# fpflow verify\n\n"
          "fpflow %s, %s run, up to %d OpenMP threads (one for ensembles "
          "below 2048 particles), %.1f s wall time%s.\n\n"
          "Rows marked PASS or FAIL check fpflow's own correctness against "
          "exact answers; a FAIL makes `fpflow verify` exit with 1. Rows "
          "marked HOLDS or DOES NOT HOLD AS STATED put a claim of the "
          "source document to a numerical test: a claim that does not "
          "hold is a result about the claim, not a failure of fpflow.\n\n"
          "Summary: %zu PASS, %zu FAIL; %zu claims hold, %zu do not hold "
          "as stated.\n\n## Results\n\n",
          fpf_version(), mode_name(v->mode), v->max_threads, wall,
          finished ? "" : " (stopped before the end: the table is partial)",
          npass, nfail, nhold, nnot);
  write_table(f, v);
  fputs("\nWall time per check:", f);
  for (size_t i = 0, first = 1; i < NCHECKS; i++) {
    if (!(check_time[i] > 0)) continue;
    fprintf(f, "%s %s %.1f s", first ? "" : ";", checks[i].name,
            check_time[i]);
    first = 0;
  }
  fputs(".\n\n## The checks\n\n", f);
  if (v->text) fwrite(v->text, 1, v->len, f);
  if (v->oom) fputs("\n(Part of the report was lost: out of memory.)\n", f);
  int bad = ferror(f);
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    remove(tmp);
    fpf_cli_error("cannot write %s", path);
    return 1;
  }
  return 0;
}

/* ---- the command -------------------------------------------------------- */

static int parse_args(int argc, char **argv, vf_ctx *v) {
  static const struct option opts[] = {
      {"full", no_argument, 0, 'f'},      {"quick", no_argument, 0, 'Q'},
      {"out", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
      {"verbose", no_argument, 0, 'v'},   {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  v->mode = VF_DEFAULT;
  v->out = "fpflow_verify";
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, ":o:qvh", opts, NULL)) != -1) {
    switch (ch) {
      case 'f': v->mode = VF_FULL; break;
      /* --quick is the reduced form that ctest runs */
      case 'Q': v->mode = VF_QUICK; break;
      case 'o': v->out = optarg; break;
      case 'q': fpf_cli_verbosity = 0; break;
      case 'v': fpf_cli_verbosity = 2; break;
      case 'h': usage(stdout); return -1;
      default: return fpf_cli_bad_option("verify", ch, argv);
    }
  }
  if (optind < argc) {
    fpf_cli_error("verify: unexpected argument '%s' (see --help)",
                  argv[optind]);
    return FPF_EXIT_USAGE;
  }
  return 0;
}

static int prepare_output(const vf_ctx *v) {
  fpf_error err;
  fpf_error_clear(&err);
  char path[4096];
  if (fpf_cli_mkdirs(v->out, &err) ||
      fpf_cli_output_ok(fpf_cli_path(path, sizeof path, v->out, "report.md"),
                        &err)) {
    fpf_cli_error("%s", err.msg);
    return FPF_EXIT_USAGE;
  }
  if (access(v->out, W_OK) != 0) {
    fpf_cli_error("output directory '%s' is not writable", v->out);
    return FPF_EXIT_USAGE;
  }
  return 0;
}

int fpf_cmd_verify(int argc, char **argv) {
  vf_ctx v;
  memset(&v, 0, sizeof v);
  int rc = parse_args(argc, argv, &v);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;
  if ((rc = prepare_output(&v))) return rc;
  v.max_threads = omp_get_max_threads();
  fpf_set_threads(0);
  v.figures = vf_figure_available();
  if (!v.figures)
    fpf_cli_error("PLplot has no pngcairo device: the report will have no "
                  "figures");

  /* The cost of each check, for one progress display over the run. */
  for (size_t i = 0; i < NCHECKS; i++)
    if (v.mode != VF_QUICK || checks[i].quick)
      v.work_total += checks[i].fn(&v, 1);
  fpf_progress_start(&v.prog, "verify",
                     (long)ceil(v.work_total / UNITS_PER_TICK));
  fpf_cli_info("verify: %s run, writing %s/report.md", mode_name(v.mode),
               v.out);

  double t0 = fpf_cli_now();
  int write_failed = 0;
  for (size_t i = 0; i < NCHECKS; i++) {
    if (v.mode == VF_QUICK && !checks[i].quick) continue;
    vf_stage(&v, checks[i].name);
    double tc = fpf_cli_now();
    checks[i].fn(&v, 0);
    check_time[i] = fpf_cli_now() - tc;
    fpf_set_threads(v.max_threads);
    clear_bar(&v);
    fpf_cli_debug("verify: %s took %.1f s", checks[i].name, check_time[i]);
    write_failed |= write_report(&v, fpf_cli_now() - t0, 0);
  }
  fpf_progress_finish(&v.prog);
  double wall = fpf_cli_now() - t0;
  write_failed |= write_report(&v, wall, 1);

  size_t nfail = 0, nnot = 0;
  for (size_t i = 0; i < v.nrows; i++) {
    nfail += v.rows[i].verdict == VF_FAIL;
    nnot += v.rows[i].verdict == VF_NOT_HOLD;
  }
  clear_bar(&v);
  fpf_cli_info("verify: %zu checks in %.1f s; %zu FAIL; %zu claims of the "
               "source do not hold as stated; report: %s/report.md",
               v.nrows, wall, nfail, nnot, v.out);
  free(v.rows);
  free(v.text);
  if (v.oom) {
    fpf_cli_error("verify: out of memory while building the report");
    return FPF_EXIT_FAIL;
  }
  return nfail || write_failed ? FPF_EXIT_FAIL : FPF_EXIT_OK;
}
