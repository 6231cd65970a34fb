/*
 * fpflow density: log density and score of a particle ensemble by a
 * Gaussian kernel density estimate (include/fpflow/kde.h).
 *
 * Reads an (N, d) ensemble from a .npy file, picks the bandwidth, and
 * writes log rho and grad log rho at the particles themselves or at the
 * (M, d) points of a second file.  Every message about the input names
 * the file and the offending shape or value.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fpflow/kde.h"
#include "fpflow/npy.h"

/*
 * Rows of query points per call, at least.  Evaluating in pieces is what
 * lets the progress display move; each piece re-centres the sources
 * (O(N d)), negligible next to its O(N rows d) kernel sums.
 */
#define MIN_CHUNK_ROWS 256
/* Pieces the work is cut into when there is enough of it. */
#define PROGRESS_STEPS 100

typedef struct density_args {
  const char *ensemble, *points, *prefix;
  fpf_bw_rule rule;
  double h_fixed; /* with FPF_BW_FIXED */
  int leave_one_out;
} density_args;

static void usage(FILE *f) {
  fprintf(f,
      "usage: fpflow density ENSEMBLE.npy [OPTIONS]\n\n"
      "Log density and score (grad log rho) of a particle ensemble by a\n"
      "Gaussian kernel density estimate, at the particles themselves or\n"
      "at given points.  ENSEMBLE.npy holds an (N, d) array: N particles\n"
      "in d dimensions.\n\n"
      "options (default in brackets):\n"
      "  --at POINTS.npy       evaluate at these (M, d) points [at the N\n"
      "                        particles, M = N]\n"
      "  --bandwidth RULE|H    median, scott, silverman, or a fixed\n"
      "                        bandwidth H > 0 [median]\n"
      "  --leave-one-out       at the particles, leave each particle's\n"
      "                        own kernel out (not with --at) [off]\n"
      "  -o, --output PREFIX   write PREFIX.log_rho.npy, shape (M,), and\n"
      "                        PREFIX.score.npy, shape (M, d), making\n"
      "                        PREFIX's directory if needed [density]\n"
      "  -q, --quiet           print nothing but errors\n"
      "  -v, --verbose         also print shapes and timings\n"
      "  -h, --help            this text\n");
}

/* A usage message with the hint to --help; returns the exit code. */
static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fpf_cli_error("density: %s (see 'fpflow density --help')", msg);
  return FPF_EXIT_USAGE;
}

/* A rule name or a fixed bandwidth; 0, or an exit code. */
static int parse_bandwidth(const char *s, density_args *a) {
  static const char forms[] =
      "expected median, scott, silverman or a number > 0";
  fpf_bw_rule r;
  if (fpf_bw_rule_parse(s, &r) == 0 && r != FPF_BW_FIXED) {
    a->rule = r;
    return 0;
  }
  char *end;
  errno = 0;
  double h = strtod(s, &end);
  if (end == s || *end != '\0')
    return usage_error("--bandwidth '%s': %s", s, forms);
  if (!isfinite(h) || !(h > 0))
    return usage_error("--bandwidth '%s': a fixed bandwidth must be a "
                       "finite number > 0 (the rules are median, scott and "
                       "silverman)", s);
  a->rule = FPF_BW_FIXED;
  a->h_fixed = h;
  return 0;
}

static const struct option long_options[] = {
    {"at", required_argument, NULL, 'a'},
    {"bandwidth", required_argument, NULL, 'b'},
    {"leave-one-out", no_argument, NULL, 'l'},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option; returns 0, or an exit code. */
static int apply_option(density_args *a, int c, const char *val) {
  switch (c) {
    case 'a': a->points = val; return 0;
    case 'b': return parse_bandwidth(val, a);
    case 'l': a->leave_one_out = 1; return 0;
    case 'o': a->prefix = val; return 0;
    case 'q': fpf_cli_verbosity = 0; return 0;
    case 'v': fpf_cli_verbosity = 2; return 0;
  }
  return FPF_EXIT_USAGE;
}

/* Returns -1 to go on, or the exit code to return at once. */
static int parse_args(int argc, char **argv, density_args *a) {
  memset(a, 0, sizeof *a);
  a->prefix = "density";
  a->rule = FPF_BW_MEDIAN;
  fpf_cli_verbosity = 1;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:qvh", long_options, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return FPF_EXIT_OK;
    }
    if (c == '?' || c == ':') return fpf_cli_bad_option("density", c, argv);
    int rc = apply_option(a, c, optarg);
    if (rc) return rc;
  }
  if (argc - optind != 1)
    return usage_error("%s", argc == optind
                                 ? "no ENSEMBLE.npy given"
                                 : "more than one ENSEMBLE.npy given");
  a->ensemble = argv[optind];
  if (a->leave_one_out && a->points)
    return usage_error("--leave-one-out applies at the particles "
                       "themselves; it cannot be combined with --at %s",
                       a->points);
  if (!*a->prefix) return usage_error("-o: the PREFIX is empty");
  return -1;
}

/* "(5,)", "(10, 3)", ... */
static void format_shape(const fpf_array *x, char *buf, size_t cap) {
  size_t k = (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < x->ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%zu", i ? ", " : "",
                          x->shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "%s)", x->ndim == 1 ? "," : "");
}

/*
 * A file that cannot be used is bad input (exit 2), whatever the status
 * (an unsupported dtype too); only running out of memory is a failure.
 */
static int input_fail(const fpf_error *err) {
  fpf_cli_error("%s", err->msg);
  return err->status == FPF_ENOMEM ? FPF_EXIT_FAIL : FPF_EXIT_USAGE;
}

/*
 * An (N, d) array of points with N, d >= 1 and finite values; `what`
 * says what the rows are, for the message.  0, or an exit code.
 */
static int read_points(const char *path, const char *what, fpf_array *x) {
  fpf_error err;
  fpf_error_clear(&err);
  if (fpf_npy_read(path, x, &err) != FPF_OK) return input_fail(&err);
  char shape[160];
  format_shape(x, shape, sizeof shape);
  if (x->ndim != 2 || x->shape[0] == 0 || x->shape[1] == 0) {
    fpf_cli_error("density: %s: expected an (N, d) array of N >= 1 %s in "
                  "d >= 1 dimensions, found shape %s", path, what, shape);
    fpf_array_free(x);
    return FPF_EXIT_USAGE;
  }
  fpf_cli_debug("density: %s: %zu %s in %zu dimensions", path,
                x->shape[0], what, x->shape[1]);
  if (fpf_array_check_finite(x, path, &err) != FPF_OK) {
    fpf_array_free(x);
    return input_fail(&err);
  }
  return 0;
}

/* A failure of the estimator, with the ensemble named. */
static int kde_fail(fpf_error *err, const char *ensemble) {
  fpf_error_prefix(err, "%s: ", ensemble);
  return fpf_cli_fail(err);
}

/*
 * log rho and the score at the m points x (m x d), in pieces so that
 * progress can show.  x == NULL means at the particles with their own
 * kernels left out: that goes in one call, since only there does the
 * library know the queries are the sources.
 */
static int evaluate(const fpf_array *z, const char *ensemble,
                    const double *x, size_t m, double h, double *log_rho,
                    double *score) {
  size_t n = z->shape[0], d = z->shape[1];
  fpf_error err;
  fpf_error_clear(&err);
  if (!x) {
    if (fpf_kde_log_density(z->data, n, d, NULL, n, h, 1, log_rho, score,
                            &err) != FPF_OK)
      return kde_fail(&err, ensemble);
    return 0;
  }
  size_t chunk = (m + PROGRESS_STEPS - 1) / PROGRESS_STEPS;
  if (chunk < MIN_CHUNK_ROWS) chunk = MIN_CHUNK_ROWS;
  fpf_progress p;
  fpf_progress_start(&p, "density", (long)m);
  for (size_t i0 = 0; i0 < m; i0 += chunk) {
    size_t rows = m - i0 < chunk ? m - i0 : chunk;
    if (fpf_kde_log_density(z->data, n, d, x + i0 * d, rows, h, 0,
                            log_rho + i0, score + i0 * d, &err) != FPF_OK) {
      fpf_progress_finish(&p);
      return kde_fail(&err, ensemble);
    }
    fpf_progress_update(&p, (long)(i0 + rows), NULL);
  }
  fpf_progress_finish(&p);
  return 0;
}

/* PREFIX + suffix into buf; 0, or an exit code when it does not fit. */
static int output_path(char *buf, size_t cap, const char *prefix,
                       const char *suffix) {
  if ((size_t)snprintf(buf, cap, "%s%s", prefix, suffix) < cap) return 0;
  fpf_cli_error("density: -o '%s': path too long", prefix);
  return FPF_EXIT_USAGE;
}

/* The directory part of PREFIX ("runs/a" of "runs/a/x"), made if absent. */
static int make_prefix_dir(const char *prefix, fpf_error *err) {
  const char *slash = strrchr(prefix, '/');
  if (!slash || slash == prefix) return 0;
  char dir[4096];
  if ((size_t)(slash - prefix) >= sizeof dir) return 0; /* open will say */
  memcpy(dir, prefix, (size_t)(slash - prefix));
  dir[slash - prefix] = '\0';
  return fpf_cli_mkdirs(dir, err);
}

/* A failure to write is one while running (exit 1), not bad input. */
static int write_outputs(const char *prefix, const double *log_rho,
                         const double *score, size_t m, size_t d,
                         char *rho_path, char *score_path, size_t cap) {
  int rc = output_path(rho_path, cap, prefix, ".log_rho.npy");
  if (!rc) rc = output_path(score_path, cap, prefix, ".score.npy");
  if (rc) return rc;
  fpf_error err;
  fpf_error_clear(&err);
  if (make_prefix_dir(prefix, &err) != 0 ||
      fpf_npy_write(rho_path, log_rho, 1, (size_t[]){m}, &err) != FPF_OK ||
      fpf_npy_write(score_path, score, 2, (size_t[]){m, d}, &err) != FPF_OK) {
    fpf_cli_error("%s", err.msg);
    return FPF_EXIT_FAIL;
  }
  return 0;
}

static int pick_bandwidth(const density_args *a, const fpf_array *z,
                          double *h) {
  fpf_error err;
  fpf_error_clear(&err);
  if (fpf_kde_bandwidth(z->data, z->shape[0], z->shape[1], a->rule,
                        a->h_fixed, h, &err) == FPF_OK)
    return 0;
  return kde_fail(&err, a->ensemble);
}

/* Ensemble and query points read, checked and matched. */
static int read_inputs(const density_args *a, fpf_array *z, fpf_array *x) {
  int rc = read_points(a->ensemble, "particles", z);
  if (rc) return rc;
  if (a->leave_one_out && z->shape[0] < 2) {
    fpf_cli_error("density: --leave-one-out needs at least 2 particles; "
                  "%s has 1", a->ensemble);
    return FPF_EXIT_USAGE;
  }
  if (!a->points) return 0;
  rc = read_points(a->points, "points", x);
  if (rc) return rc;
  if (x->shape[1] != z->shape[1]) {
    fpf_cli_error("density: %s has points in d = %zu dimensions but the "
                  "ensemble %s has d = %zu", a->points, x->shape[1],
                  a->ensemble, z->shape[1]);
    return FPF_EXIT_USAGE;
  }
  return 0;
}

static int run(const density_args *a, const fpf_array *z, const fpf_array *x) {
  size_t d = z->shape[1], m = x->data ? x->shape[0] : z->shape[0];
  double h, t0 = fpf_cli_now();
  int rc = pick_bandwidth(a, z, &h);
  if (rc) return rc;
  double *log_rho = malloc(m * sizeof *log_rho);
  double *score = malloc(m * d * sizeof *score);
  if (!log_rho || !score) {
    fpf_cli_error("density: out of memory for %zu points in %zu "
                  "dimensions", m, d);
    rc = FPF_EXIT_FAIL;
  }
  /* Without leave-one-out the particles are queries like any other. */
  const double *q = x->data ? x->data : a->leave_one_out ? NULL : z->data;
  if (!rc) rc = evaluate(z, a->ensemble, q, m, h, log_rho, score);
  if (!rc)
    fpf_cli_debug("density: %zu points from %zu particles in %.2f s", m,
                  z->shape[0], fpf_cli_now() - t0);
  char rho_path[4096], score_path[4096];
  if (!rc)
    rc = write_outputs(a->prefix, log_rho, score, m, d, rho_path,
                       score_path, sizeof rho_path);
  if (!rc) {
    double sum = 0;
    for (size_t i = 0; i < m; i++) sum += log_rho[i];
    fpf_cli_info("density: wrote %s (%zu,) and %s (%zu, %zu); bandwidth "
                 "h = %.6g (%s), mean log rho = %.6g", rho_path, m,
                 score_path, m, d, h, fpf_bw_rule_name(a->rule),
                 sum / (double)m);
  }
  free(log_rho);
  free(score);
  return rc;
}

int fpf_cmd_density(int argc, char **argv) {
  density_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) return rc;
  fpf_array z = {0}, x = {0};
  rc = read_inputs(&a, &z, &x);
  if (!rc) rc = run(&a, &z, &x);
  fpf_array_free(&z);
  fpf_array_free(&x);
  return rc;
}
