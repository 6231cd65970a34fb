/*
 * fpflow detect: phase transitions in a metrics history (SPEC section 6).
 *
 * Reads a CSV with a header row (the metrics.csv that `fpflow run` writes,
 * or any table with the same columns), runs fpf_detect_transitions on the
 * chosen columns, prints what it found and writes it as JSON.  Every
 * message about the input names the file, the line and the column.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fpflow/detect.h"

/* Detection compares each row with the whole series; fewer rows say
   nothing. */
#define MIN_ROWS 3

/* The columns read, in this order. */
enum { COL_C, COL_SDOT, COL_LOSS, COL_STEP, NCOL };

typedef struct detect_args {
  const char *csv, *out;
  const char *name[NCOL]; /* column names; loss NULL: first of defaults */
  fpf_detect_options o;
} detect_args;

/* The rows read: one value per wanted column, and the line it came from. */
typedef struct table {
  size_t n, cap;
  double *v[NCOL];
  long *line;
} table;

/* State of the CSV callbacks. */
typedef struct reader {
  const char *path;
  detect_args *a;
  table *t;
  char **header;
  size_t ncols, field;
  long col[NCOL];    /* index of each wanted column, -1 if absent */
  long line, rec_line;
  int have_header;
  double cur[NCOL];
  fpf_error *err;
} reader;

static const char *const loss_defaults[] = {"loss_mean", "loss",
                                            "train_loss"};

static void usage(FILE *f) {
  fprintf(f,
      "usage: fpflow detect METRICS.csv [OPTIONS]\n\n"
      "Finds phase transitions in a metrics history: rows where C drops\n"
      "sharply, S_dot spikes and the loss is on a plateau (SPEC section\n"
      "6).  Columns are found by their header name.\n\n"
      "options (default in brackets):\n"
      "  --series NAME      column of the consolidation ratio, C or\n"
      "                     C_vel [C]\n"
      "  --log              test drops of log C (C must be > 0) [off]\n"
      "  --loss NAME        loss column [loss_mean, else loss, else\n"
      "                     train_loss]\n"
      "  --sdot NAME        entropy production column [S_dot]\n"
      "  --drop-factor X    drop: dC < -X * std(dC) [0.5]\n"
      "  --spike-factor X   spike: S_dot > mean + X * std(S_dot) [2]\n"
      "  --window W         plateau lag in rows: |loss_t - loss_t-W| [10]\n"
      "  --plateau-tol X    plateau when that difference is < X [1e-4]\n"
      "  --relative         X is relative to |loss_t-W| [absolute]\n"
      "  --tolerance K      rows of slack between the criteria [0]\n"
      "  -o, --output FILE  JSON report [transitions.json beside the\n"
      "                     CSV]\n"
      "  -q, --quiet        print nothing but errors\n"
      "  -v, --verbose      also list the columns and flagged rows\n"
      "  -h, --help         this text\n\n"
      "A 'step' column, if present, gives the step shown for each row;\n"
      "otherwise the row index (from 0) is shown.\n");
}

/* A whole string as a number; *ok is cleared if it is not one. */
static double parse_number(const char *s, int *ok) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  *ok = end != s && *end == '\0';
  return x;
}

static int bad_option(const char *opt, const char *val, const char *why) {
  fpf_cli_error("detect: %s '%s': %s", opt, val, why);
  return FPF_EXIT_USAGE;
}

static int option_double(const char *opt, const char *val, double *out) {
  int ok;
  double x = parse_number(val, &ok);
  if (!ok) return bad_option(opt, val, "not a number");
  if (!isfinite(x) || x < 0)
    return bad_option(opt, val, "must be finite and >= 0");
  *out = x;
  return 0;
}

static int option_long(const char *opt, const char *val, long min,
                       long *out) {
  char *end;
  errno = 0;
  long x = strtol(val, &end, 10);
  if (end == val || *end != '\0' || errno == ERANGE)
    return bad_option(opt, val, "not an integer");
  if (x < min) {
    char why[64];
    snprintf(why, sizeof why, "must be >= %ld", min);
    return bad_option(opt, val, why);
  }
  *out = x;
  return 0;
}

static const struct option long_options[] = {
    {"series", required_argument, NULL, 's'},
    {"log", no_argument, NULL, 'L'},
    {"loss", required_argument, NULL, 'l'},
    {"sdot", required_argument, NULL, 'S'},
    {"drop-factor", required_argument, NULL, 'd'},
    {"spike-factor", required_argument, NULL, 'p'},
    {"window", required_argument, NULL, 'w'},
    {"plateau-tol", required_argument, NULL, 't'},
    {"relative", no_argument, NULL, 'r'},
    {"tolerance", required_argument, NULL, 'k'},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option; returns 0, or an exit code when the value is bad. */
static int apply_option(detect_args *a, int c, const char *opt,
                        const char *val) {
  fpf_detect_options *o = &a->o;
  switch (c) {
    case 's': a->name[COL_C] = val; return 0;
    case 'L': o->use_log = 1; return 0;
    case 'l': a->name[COL_LOSS] = val; return 0;
    case 'S': a->name[COL_SDOT] = val; return 0;
    case 'd': return option_double(opt, val, &o->drop_factor);
    case 'p': return option_double(opt, val, &o->spike_factor);
    case 'w': return option_long(opt, val, 1, &o->window);
    case 't': return option_double(opt, val, &o->plateau_tol);
    case 'r': o->plateau_relative = 1; return 0;
    case 'k': return option_long(opt, val, 0, &o->tolerance);
    case 'o': a->out = val; return 0;
    case 'q': fpf_cli_verbosity = 0; return 0;
    case 'v': fpf_cli_verbosity = 2; return 0;
  }
  return FPF_EXIT_USAGE;
}

/* Returns -1 to go on, or the exit code to return at once. */
static int parse_args(int argc, char **argv, detect_args *a) {
  memset(a, 0, sizeof *a);
  fpf_detect_options_init(&a->o);
  a->name[COL_C] = "C";
  a->name[COL_SDOT] = "S_dot";
  a->name[COL_STEP] = "step";
  fpf_cli_verbosity = 1;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:qvh", long_options, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return FPF_EXIT_OK;
    }
    if (c == '?' || c == ':') return fpf_cli_bad_option("detect", c, argv);
    /* Messages name the option by its long name, however it was given. */
    char name[32] = "";
    for (const struct option *lo = long_options; lo->name; lo++)
      if (lo->val == c) snprintf(name, sizeof name, "--%s", lo->name);
    int rc = apply_option(a, c, name, optarg);
    if (rc) return rc;
  }
  if (argc - optind != 1) {
    fpf_cli_error("detect: %s (usage: fpflow detect METRICS.csv "
                  "[OPTIONS])",
                  argc == optind ? "no metrics file given"
                                 : "more than one metrics file given");
    return FPF_EXIT_USAGE;
  }
  a->csv = argv[optind];
  return -1;
}

/* --- Reading the CSV ---------------------------------------------------- */

static void table_free(table *t) {
  for (int k = 0; k < NCOL; k++) free(t->v[k]);
  free(t->line);
  memset(t, 0, sizeof *t);
}

static int table_push(table *t, const double *cur, long line) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 256;
    for (int k = 0; k < NCOL; k++) {
      double *v = realloc(t->v[k], cap * sizeof *v);
      if (!v) return -1;
      t->v[k] = v;
    }
    long *l = realloc(t->line, cap * sizeof *l);
    if (!l) return -1;
    t->line = l;
    t->cap = cap;
  }
  for (int k = 0; k < NCOL; k++) t->v[k][t->n] = cur[k];
  t->line[t->n++] = line;
  return 0;
}

static long find_column(const reader *r, const char *name) {
  for (size_t j = 0; j < r->ncols; j++)
    if (!strcmp(r->header[j], name)) return (long)j;
  return -1;
}

/* "step, t, C, ..." into buf, cut short with "..." when it does not fit. */
static void list_columns(const reader *r, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t j = 0; j < r->ncols; j++) {
    int w = snprintf(buf + used, n - used, "%s%s", j ? ", " : "",
                     r->header[j]);
    if (w < 0 || (size_t)w >= n - used) {
      snprintf(buf + (n > 4 ? n - 4 : 0), n > 4 ? 4 : n, "...");
      return;
    }
    used += (size_t)w;
  }
}

static void missing_column(reader *r, const char *what) {
  char cols[300];
  list_columns(r, cols, sizeof cols);
  fpf_error_set(r->err, FPF_EFORMAT, "%s: no column %s (columns: %s)",
                r->path, what, cols);
}

/* Maps the wanted names to header positions once the header is read. */
static void resolve_columns(reader *r) {
  char what[128];
  for (int k = 0; k < NCOL; k++) {
    const char *name = r->a->name[k];
    if (k == COL_LOSS && !name) {
      for (size_t i = 0; i < 3 && r->col[k] < 0; i++)
        if ((r->col[k] = find_column(r, loss_defaults[i])) >= 0)
          r->a->name[k] = loss_defaults[i];
      if (r->col[k] < 0) {
        missing_column(r, "'loss_mean', 'loss' or 'train_loss'");
        return;
      }
      continue;
    }
    r->col[k] = find_column(r, name);
    if (r->col[k] < 0 && k != COL_STEP) {
      snprintf(what, sizeof what, "'%s'", name);
      missing_column(r, what);
      return;
    }
  }
}

static void header_field(reader *r, const char *s, size_t len) {
  char **h = realloc(r->header, (r->ncols + 1) * sizeof *h);
  char *name = h ? malloc(len + 1) : NULL;
  if (h) r->header = h;
  if (!name) {
    fpf_error_set(r->err, FPF_ENOMEM, "%s: out of memory in the header",
                  r->path);
    return;
  }
  memcpy(name, s, len);
  name[len] = '\0';
  r->header[r->ncols++] = name;
}

static void data_field(reader *r, const char *s, size_t len) {
  for (int k = 0; k < NCOL; k++) {
    if (r->col[k] != (long)r->field) continue;
    char cell[128];
    int ok = len < sizeof cell;
    if (ok) {
      memcpy(cell, s, len);
      cell[len] = '\0';
      r->cur[k] = parse_number(cell, &ok);
    }
    if (!ok) {
      fpf_error_set(r->err, FPF_EFORMAT,
                    "%s line %ld, column '%s': '%.*s' is not a number",
                    r->path, r->rec_line, r->a->name[k],
                    (int)(len < 40 ? len : 40), s);
      return;
    }
  }
}

/* libcsv: one field ends. */
static void on_field(void *s, size_t len, void *data) {
  reader *r = data;
  if (r->err->status) return;
  if (r->field == 0) r->rec_line = r->line;
  if (!s) len = 0, s = "";
  if (!r->have_header)
    header_field(r, s, len);
  else
    data_field(r, s, len);
  r->field++;
}

/* libcsv: one record ends. */
static void on_record(int c, void *data) {
  reader *r = data;
  (void)c;
  if (r->err->status) return;
  if (!r->have_header) {
    r->have_header = 1;
    resolve_columns(r);
  } else if (r->field != r->ncols) {
    fpf_error_set(r->err, FPF_EFORMAT,
                  "%s line %ld: %zu fields, the header has %zu", r->path,
                  r->rec_line, r->field, r->ncols);
  } else {
    if (r->col[COL_STEP] < 0) r->cur[COL_STEP] = (double)r->t->n;
    if (table_push(r->t, r->cur, r->rec_line))
      fpf_error_set(r->err, FPF_ENOMEM, "%s: out of memory at line %ld",
                    r->path, r->rec_line);
  }
  r->field = 0;
}

/* Feeds the file to libcsv line by line, so that messages name lines. */
static void parse_file(FILE *f, struct csv_parser *p, reader *r) {
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  while (!r->err->status && (len = getline(&buf, &cap, f)) > 0) {
    char *s = buf;
    /* A spreadsheet's UTF-8 byte order mark is not part of the header. */
    if (++r->line == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
      s += 3, len -= 3;
    if (csv_parse(p, s, (size_t)len, on_field, on_record, r) !=
        (size_t)len) {
      fpf_error_set(r->err, FPF_EFORMAT, "%s line %ld: %s", r->path,
                    r->line, csv_strerror(csv_error(p)));
    }
  }
  if (!r->err->status && ferror(f))
    fpf_error_set(r->err, FPF_EIO, "%s: read error: %s", r->path,
                  strerror(errno));
  if (!r->err->status) csv_fini(p, on_field, on_record, r);
  free(buf);
}

static int read_csv(detect_args *a, table *t, fpf_error *err) {
  FILE *f = fopen(a->csv, "r");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "%s: cannot open: %s", a->csv,
                         strerror(errno));
  struct csv_parser p;
  if (csv_init(&p, CSV_APPEND_NULL) != 0) {
    fclose(f);
    return fpf_error_set(err, FPF_ENOMEM, "%s: cannot start the CSV parser",
                         a->csv);
  }
  reader r = {.path = a->csv, .a = a, .t = t, .err = err};
  for (int k = 0; k < NCOL; k++) r.col[k] = -1;
  parse_file(f, &p, &r);
  csv_free(&p);
  fclose(f);
  for (size_t j = 0; j < r.ncols; j++) free(r.header[j]);
  free(r.header);
  if (err->status) return err->status;
  if (!r.have_header)
    return fpf_error_set(err, FPF_EFORMAT, "%s: empty file (no header row)",
                         a->csv);
  if (t->n < MIN_ROWS)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: %zu data rows; detection needs at least %d",
                         a->csv, t->n, MIN_ROWS);
  if (r.col[COL_STEP] < 0) a->name[COL_STEP] = NULL;
  return FPF_OK;
}

/*
 * The library refuses the same values, but only the command line knows
 * the line each row came from.
 */
static int check_values(const detect_args *a, const table *t,
                        fpf_error *err) {
  for (int k = 0; k < COL_STEP; k++)
    for (size_t i = 0; i < t->n; i++)
      if (!isfinite(t->v[k][i]))
        return fpf_error_set(err, FPF_ENONFINITE,
                             "%s line %ld, column '%s': %g is not finite",
                             a->csv, t->line[i], a->name[k], t->v[k][i]);
  if (a->o.use_log)
    for (size_t i = 0; i < t->n; i++)
      if (t->v[COL_C][i] <= 0)
        return fpf_error_set(err, FPF_EINVAL,
                             "%s line %ld, column '%s': %g is not > 0, "
                             "which --log needs",
                             a->csv, t->line[i], a->name[COL_C],
                             t->v[COL_C][i]);
  return FPF_OK;
}

/* --- Reporting ---------------------------------------------------------- */

typedef struct result {
  size_t *rows, n;
  unsigned char *flag[3]; /* drop, spike, plateau */
  size_t count[3];
} result;

static const char *const criterion[3] = {"drop", "spike", "plateau"};

static void result_free(result *res) {
  free(res->rows);
  for (int c = 0; c < 3; c++) free(res->flag[c]);
}

static void print_table(const detect_args *a, const table *t,
                        const result *res) {
  if (fpf_cli_verbosity < 1) return;
  printf("%s: %zu rows; %zu drop, %zu spike, %zu plateau; "
         "%zu transition%s\n",
         a->csv, t->n, res->count[0], res->count[1], res->count[2], res->n,
         res->n == 1 ? "" : "s");
  if (res->n == 0) return;
  printf("%12s %14s %14s %14s\n", "step", a->name[COL_C],
         a->name[COL_SDOT], a->name[COL_LOSS]);
  for (size_t i = 0; i < res->n; i++) {
    size_t r = res->rows[i];
    printf("%12.10g %14.6g %14.6g %14.6g\n", t->v[COL_STEP][r],
           t->v[COL_C][r], t->v[COL_SDOT][r], t->v[COL_LOSS][r]);
  }
}

/* With -v: the steps each criterion flagged (at most the first 20). */
static void print_flags(const detect_args *a, const table *t,
                        const result *res) {
  if (fpf_cli_verbosity < 2) return;
  fpf_cli_debug("columns: C '%s', S_dot '%s', loss '%s', step %s%s%s",
                a->name[COL_C], a->name[COL_SDOT], a->name[COL_LOSS],
                a->name[COL_STEP] ? "'" : "",
                a->name[COL_STEP] ? a->name[COL_STEP] : "(row index)",
                a->name[COL_STEP] ? "'" : "");
  for (int c = 0; c < 3; c++) {
    char buf[256];
    size_t used = 0, shown = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n && shown < 20; i++) {
      if (!res->flag[c][i]) continue;
      int w = snprintf(buf + used, sizeof buf - used, " %.10g",
                       t->v[COL_STEP][i]);
      if (w < 0 || (size_t)w >= sizeof buf - used) break;
      used += (size_t)w, shown++;
    }
    fpf_cli_debug("%s at steps:%s%s", criterion[c], shown ? buf : " none",
                  res->count[c] > shown ? " ..." : "");
  }
}

/* cJSON helpers that note a failed allocation instead of ignoring it. */
static void put_num(cJSON *o, const char *k, double x, int *bad) {
  /* JSON has no infinities or NaN. */
  cJSON *v = isfinite(x) ? cJSON_AddNumberToObject(o, k, x)
                         : cJSON_AddNullToObject(o, k);
  if (!v) *bad = 1;
}

static void put_str(cJSON *o, const char *k, const char *s, int *bad) {
  if (!(s ? cJSON_AddStringToObject(o, k, s) : cJSON_AddNullToObject(o, k)))
    *bad = 1;
}

static void put_bool(cJSON *o, const char *k, int b, int *bad) {
  if (!cJSON_AddBoolToObject(o, k, b)) *bad = 1;
}

static void put_options(cJSON *root, const detect_args *a, int *bad) {
  cJSON *o = cJSON_AddObjectToObject(root, "options");
  if (!o) {
    *bad = 1;
    return;
  }
  put_str(o, "series", a->name[COL_C], bad);
  put_bool(o, "log", a->o.use_log, bad);
  put_str(o, "loss_column", a->name[COL_LOSS], bad);
  put_str(o, "sdot_column", a->name[COL_SDOT], bad);
  put_str(o, "step_column", a->name[COL_STEP], bad);
  put_num(o, "drop_factor", a->o.drop_factor, bad);
  put_num(o, "spike_factor", a->o.spike_factor, bad);
  put_num(o, "window", (double)a->o.window, bad);
  put_num(o, "plateau_tol", a->o.plateau_tol, bad);
  put_bool(o, "relative", a->o.plateau_relative, bad);
  put_num(o, "tolerance", (double)a->o.tolerance, bad);
}

static cJSON *build_json(const detect_args *a, const table *t,
                         const result *res) {
  int bad = 0;
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  put_str(root, "source", a->csv, &bad);
  put_str(root, "series", a->name[COL_C], &bad);
  put_options(root, a, &bad);
  put_num(root, "n_rows", (double)t->n, &bad);
  cJSON *cc = cJSON_AddObjectToObject(root, "criteria_counts");
  if (!cc) bad = 1;
  for (int c = 0; cc && c < 3; c++)
    put_num(cc, criterion[c], (double)res->count[c], &bad);
  cJSON *tr = cJSON_AddArrayToObject(root, "transitions");
  if (!tr) bad = 1;
  for (size_t i = 0; tr && !bad && i < res->n; i++) {
    size_t r = res->rows[i];
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(tr, e)) {
      cJSON_Delete(e);
      bad = 1;
      break;
    }
    put_num(e, "row", (double)r, &bad);
    put_num(e, "step", t->v[COL_STEP][r], &bad);
    put_num(e, "C", t->v[COL_C][r], &bad);
    put_num(e, "S_dot", t->v[COL_SDOT][r], &bad);
    put_num(e, "loss", t->v[COL_LOSS][r], &bad);
  }
  if (bad) {
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

/* Writes text to path through a temporary file beside it, then renames,
   so that a reader never sees half a report. */
static int write_atomic(const char *path, const char *text, fpf_error *err) {
  if (fpf_cli_output_ok(path, err) != FPF_OK) return err->status;
  size_t n = strlen(path);
  char *tmp = malloc(n + 8);
  if (!tmp) return fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", path);
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".XXXXXX", 8);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fpf_error_set(err, FPF_EIO, "%s: cannot create a temporary file: %s",
                  path, strerror(errno));
    free(tmp);
    return err->status;
  }
  /* mkstemp makes the file private; a report is an ordinary file. */
  fchmod(fd, 0644);
  FILE *f = fdopen(fd, "w");
  int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  ok = (f ? fclose(f) == 0 : (close(fd), 0)) && ok;
  if (ok && rename(tmp, path) != 0) ok = 0;
  if (!ok) {
    fpf_error_set(err, FPF_EIO, "%s: cannot write: %s", path,
                  strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return ok ? FPF_OK : err->status;
}

static int write_json(const char *path, const detect_args *a, const table *t,
                      const result *res, fpf_error *err) {
  cJSON *root = build_json(a, t, res);
  char *text = root ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text)
    return fpf_error_set(err, FPF_ENOMEM, "%s: out of memory building JSON",
                         path);
  int st = write_atomic(path, text, err);
  cJSON_free(text);
  return st;
}

/* transitions.json in the directory of the CSV. */
static char *default_output(const char *csv) {
  const char *slash = strrchr(csv, '/');
  size_t dir = slash ? (size_t)(slash - csv) + 1 : 0;
  const char *name = "transitions.json";
  char *p = malloc(dir + strlen(name) + 1);
  if (!p) return NULL;
  memcpy(p, csv, dir);
  strcpy(p + dir, name);
  return p;
}

static int detect(const detect_args *a, const table *t, result *res,
                  fpf_error *err) {
  res->rows = malloc(t->n * sizeof *res->rows);
  for (int c = 0; c < 3; c++) res->flag[c] = malloc(t->n);
  if (!res->rows || !res->flag[0] || !res->flag[1] || !res->flag[2])
    return fpf_error_set(err, FPF_ENOMEM, "out of memory for %zu rows",
                         t->n);
  fpf_detect_flags flags = {res->flag[0], res->flag[1], res->flag[2]};
  fpf_status st = fpf_detect_transitions(
      t->v[COL_C], t->v[COL_SDOT], t->v[COL_LOSS], t->n, &a->o, res->rows,
      &res->n, &flags, err);
  if (st) {
    fpf_error_prefix(err, "%s: ", a->csv);
    return st;
  }
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < t->n; i++) res->count[c] += res->flag[c][i];
  return FPF_OK;
}

int fpf_cmd_detect(int argc, char **argv) {
  detect_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) return rc;

  table t = {0};
  result res = {0};
  fpf_error err;
  fpf_error_clear(&err);
  char *out = a.out ? NULL : default_output(a.csv);
  const char *path = a.out ? a.out : out;
  if (!path) fpf_error_set(&err, FPF_ENOMEM, "out of memory");

  /* Read, check, detect, report. */
  if (!err.status && !read_csv(&a, &t, &err) && !check_values(&a, &t, &err)
      && !detect(&a, &t, &res, &err)) {
    print_table(&a, &t, &res);
    print_flags(&a, &t, &res);
    if (!write_json(path, &a, &t, &res, &err))
      fpf_cli_info("wrote %s", path);
  }
  rc = err.status ? fpf_cli_fail(&err) : FPF_EXIT_OK;
  result_free(&res);
  table_free(&t);
  free(out);
  return rc;
}
