/*
 * fpflow analyze: the flow's observables on snapshots of real training.
 *
 * Reads the probe latents (and optionally the per-sample gradients and
 * the loss) with the snapshot readers (snapshots.h), feeds them one
 * snapshot at a time to the monitor (monitor.h) and writes to DIR:
 *   metrics.csv       one row per snapshot, flushed as it is computed;
 *   transitions.json  the detector's transitions and the alerts, with
 *                     the options used and the status of the run;
 *   figure.png        C and C_vel (log scale), S_dot, the loss and H
 *                     against the step, the transitions marked.
 * A snapshot that cannot be read or analysed stops the command with a
 * message naming the file and the snapshot; what was written stays, and
 * transitions.json records the failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
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
#include "fpflow/monitor.h"
#include "fpflow/npy.h"
#include "fpflow/snapshots.h"

static void usage(FILE *f) {
  fprintf(f,
      "usage: fpflow analyze SNAPSHOTS... [OPTIONS]\n\n"
      "Computes the flow's observables (C, C_vel, S_dot, H, div J) on\n"
      "snapshots of the latents of a fixed probe set, finds transitions\n"
      "and writes metrics.csv, transitions.json and figure.png to DIR.\n\n"
      "SNAPSHOTS is one of:\n"
      "  run.npy             shape (T, N, d), or (N, d) for one snapshot\n"
      "  z_0100.npy ...      per-step files of shape (N, d); the step is\n"
      "                      the last number in each name\n"
      "  DIR or 'z_*.npy'    every .npy in a directory, or a quoted glob\n"
      "  run.h5:/latents     an HDF5 dataset (T, N, d); steps from its\n"
      "                      'steps' attribute or a 'steps' dataset\n\n"
      "options (default in brackets):\n"
      "  --grads SRC        per-sample gradients dL/dz, same forms and\n"
      "                     shapes as the latents (may repeat)\n"
      "  --loss SRC         loss per snapshot: (T,) or (T, N) in one file,\n"
      "                     or per-step files of one or N values\n"
      "  --mode MODE        model (drift and diffusion from the gradients)\n"
      "                     or trajectory (Kramers-Moyal from the motion)\n"
      "                     [model with --grads, else trajectory]\n"
      "  --steps LIST       training steps: 0,100,250,... or a .npy file\n"
      "                     of integers [from the names / HDF5 / 0..T-1]\n"
      "  --dataset PATH     HDF5 dataset of the latents [the only one]\n"
      "  --steps-from NAME  HDF5 attribute or dataset of steps [steps]\n"
      "  --bandwidth B      median, scott, silverman or a number h\n"
      "                     [median]\n"
      "  --eta X, --lambda X, --c X, --gamma X\n"
      "                     model mode: mu = -eta (grad L + lambda g),\n"
      "                     D = c (I + gamma F) [1, 0.001, 1, 0.05]\n"
      "  --entropy-form F   source or wasserstein [source]\n"
      "  --trigger T        C or C_vel, for alerts and detection [C_vel]\n"
      "  --threshold X      alert when the trigger is below X [0.5]\n"
      "  --div-threshold X  ... and max |div J| is above X [0: C alone]\n"
      "  --div-over-rho     test max |div J| / rho instead (wide latents)\n"
      "  --no-divergence    skip div J (an O(N^2 d) pass per snapshot)\n"
      "  --drop-factor X, --spike-factor X, --window W, --plateau-tol X,\n"
      "  --relative, --tolerance K, --log\n"
      "                     the detector's options (see fpflow detect)\n"
      "                     [0.5, 2, 10, 1e-4, absolute, 0, off]\n"
      "  -o, --out DIR      output directory [fpflow_analyze]\n"
      "  --no-figure        skip figure.png\n"
      "  -q, --quiet        print warnings and errors only\n"
      "  -v, --verbose      also print every alert\n"
      "  -h, --help         this text\n");
}

/* --- Arguments -------------------------------------------------------- */

enum { MAX_SOURCES = 4096 };

typedef struct analyze_args {
  const char **latents, **grads, **loss;
  size_t nlat, ngrad, nloss;
  const char *steps, *dataset, *steps_from, *out;
  int mode_given, figure;
  fpf_monitor_options mo;
} analyze_args;

static int bad_value(const char *opt, const char *val, const char *why) {
  fpf_cli_error("analyze: %s '%s': %s", opt, val, why);
  return FPF_EXIT_USAGE;
}

static int parse_double(const char *opt, const char *val, double lo,
                        double *out) {
  char *end;
  errno = 0;
  double x = strtod(val, &end);
  if (end == val || *end || errno == ERANGE)
    return bad_value(opt, val, "not a number");
  if (!isfinite(x) || x < lo) {
    char why[64];
    snprintf(why, sizeof why, "must be finite and >= %g", lo);
    return bad_value(opt, val, why);
  }
  *out = x;
  return 0;
}

static int parse_long(const char *opt, const char *val, long lo, long *out) {
  char *end;
  errno = 0;
  long x = strtol(val, &end, 10);
  if (end == val || *end || errno == ERANGE)
    return bad_value(opt, val, "not an integer");
  if (x < lo) {
    char why[64];
    snprintf(why, sizeof why, "must be >= %ld", lo);
    return bad_value(opt, val, why);
  }
  *out = x;
  return 0;
}

static int parse_bandwidth(const char *val, fpf_monitor_options *o) {
  if (!fpf_bw_rule_parse(val, &o->bandwidth_rule) &&
      o->bandwidth_rule != FPF_BW_FIXED)
    return 0;
  o->bandwidth_rule = FPF_BW_FIXED;
  int rc = parse_double("--bandwidth", val, 0, &o->bandwidth);
  if (!rc && !(o->bandwidth > 0))
    return bad_value("--bandwidth", val,
                     "must be median, scott, silverman or a number > 0");
  return rc;
}

static int parse_trigger(const char *val, fpf_trigger *t) {
  if (!strcmp(val, "C")) *t = FPF_TRIGGER_C;
  else if (!strcmp(val, "C_vel")) *t = FPF_TRIGGER_C_VEL;
  else return bad_value("--trigger", val, "must be C or C_vel");
  return 0;
}

static const struct option long_options[] = {
    {"grads", required_argument, NULL, 'g'},
    {"loss", required_argument, NULL, 'l'},
    {"mode", required_argument, NULL, 'm'},
    {"steps", required_argument, NULL, 's'},
    {"dataset", required_argument, NULL, 'D'},
    {"steps-from", required_argument, NULL, 'S'},
    {"bandwidth", required_argument, NULL, 'b'},
    {"eta", required_argument, NULL, 'E'},
    {"lambda", required_argument, NULL, 'L'},
    {"c", required_argument, NULL, 'c'},
    {"gamma", required_argument, NULL, 'G'},
    {"entropy-form", required_argument, NULL, 'F'},
    {"trigger", required_argument, NULL, 't'},
    {"threshold", required_argument, NULL, 'T'},
    {"div-threshold", required_argument, NULL, 'V'},
    {"div-over-rho", no_argument, NULL, 'R'},
    {"no-divergence", no_argument, NULL, 'N'},
    {"drop-factor", required_argument, NULL, 'd'},
    {"spike-factor", required_argument, NULL, 'p'},
    {"window", required_argument, NULL, 'w'},
    {"plateau-tol", required_argument, NULL, 'P'},
    {"relative", no_argument, NULL, 'r'},
    {"tolerance", required_argument, NULL, 'k'},
    {"log", no_argument, NULL, 'O'},
    {"out", required_argument, NULL, 'o'},
    {"no-figure", no_argument, NULL, 'X'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option with a value; 0 or an exit code. */
static int apply_option(analyze_args *a, int c, const char *opt,
                        const char *val) {
  fpf_monitor_options *o = &a->mo;
  fpf_detect_options *dt = &o->detect;
  switch (c) {
    case 'g': a->grads[a->ngrad++] = val; return 0;
    case 'l': a->loss[a->nloss++] = val; return 0;
    case 'm':
      a->mode_given = 1;
      return fpf_monitor_mode_parse(val, &o->mode)
                 ? bad_value(opt, val, "must be model or trajectory")
                 : 0;
    case 's': a->steps = val; return 0;
    case 'D': a->dataset = val; return 0;
    case 'S': a->steps_from = val; return 0;
    case 'b': return parse_bandwidth(val, o);
    case 'E': return parse_double(opt, val, 1e-300, &o->eta);
    case 'L': return parse_double(opt, val, -INFINITY, &o->lambda);
    case 'c': return parse_double(opt, val, 1e-300, &o->c);
    case 'G': return parse_double(opt, val, -INFINITY, &o->gamma);
    case 'F':
      return fpf_entropy_form_parse(val, &o->entropy_form)
                 ? bad_value(opt, val, "must be source or wasserstein")
                 : 0;
    case 't':
      if (parse_trigger(val, &o->alert_on)) return FPF_EXIT_USAGE;
      o->detect_on = o->alert_on;
      return 0;
    case 'T': return parse_double(opt, val, 0, &o->alert_C_threshold);
    case 'V': return parse_double(opt, val, 0, &o->alert_div_threshold);
    case 'd': return parse_double(opt, val, 0, &dt->drop_factor);
    case 'p': return parse_double(opt, val, 0, &dt->spike_factor);
    case 'w': return parse_long(opt, val, 1, &dt->window);
    case 'P': return parse_double(opt, val, 0, &dt->plateau_tol);
    case 'k': return parse_long(opt, val, 0, &dt->tolerance);
    case 'o': a->out = val; return 0;
  }
  return 0;
}

/* Options without a value. */
static void apply_flag(analyze_args *a, int c) {
  switch (c) {
    case 'R': a->mo.alert_div_over_rho = 1; break;
    case 'N': a->mo.flux_divergence = 0; break;
    case 'r': a->mo.detect.plateau_relative = 1; break;
    case 'O': a->mo.detect.use_log = 1; break;
    case 'X': a->figure = 0; break;
    case 'q': fpf_cli_verbosity = 0; break;
    case 'v': fpf_cli_verbosity = 2; break;
  }
}

/* Returns -1 to go on, or the exit code to return at once. */
static int parse_args(int argc, char **argv, analyze_args *a) {
  memset(a, 0, sizeof *a);
  fpf_monitor_options_init(&a->mo);
  a->out = "fpflow_analyze";
  a->figure = 1;
  size_t cap = (size_t)argc + 1;
  a->latents = calloc(cap, sizeof *a->latents);
  a->grads = calloc(cap, sizeof *a->grads);
  a->loss = calloc(cap, sizeof *a->loss);
  if (!a->latents || !a->grads || !a->loss) {
    fpf_cli_error("analyze: out of memory");
    return FPF_EXIT_FAIL;
  }
  fpf_cli_verbosity = 1;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:qvh", long_options, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return FPF_EXIT_OK;
    }
    if (c == '?' || c == ':') return fpf_cli_bad_option("analyze", c, argv);
    char name[32] = "";
    for (const struct option *lo = long_options; lo->name; lo++)
      if (lo->val == c) snprintf(name, sizeof name, "--%s", lo->name);
    if (!optarg) {
      apply_flag(a, c);
      continue;
    }
    int rc = apply_option(a, c, name, optarg);
    if (rc) return rc;
  }
  while (optind < argc) a->latents[a->nlat++] = argv[optind++];
  if (a->nlat == 0) {
    fpf_cli_error("analyze: no snapshots given (usage: fpflow analyze "
                  "SNAPSHOTS... [OPTIONS])");
    return FPF_EXIT_USAGE;
  }
  if (!a->mode_given)
    a->mo.mode = a->ngrad ? FPF_MONITOR_MODEL : FPF_MONITOR_TRAJECTORY;
  if (a->mo.mode == FPF_MONITOR_MODEL && a->ngrad == 0) {
    fpf_cli_error("analyze: --mode model needs the per-sample gradients "
                  "(--grads); --mode trajectory needs only the latents");
    return FPF_EXIT_USAGE;
  }
  if (a->mo.mode == FPF_MONITOR_TRAJECTORY && a->ngrad)
    fpf_cli_info("analyze: trajectory mode does not use --grads");
  return -1;
}

/* --- Steps ------------------------------------------------------------ */

/* "0,100,250" or a .npy file of integers into a fresh array. */
static fpf_status parse_steps(const char *list, long **steps, size_t *n,
                              fpf_error *err) {
  *steps = NULL;
  *n = 0;
  struct stat sb;
  if (stat(list, &sb) == 0) {
    fpf_array a;
    fpf_status st = fpf_npy_read(list, &a, err);
    if (st) return st;
    size_t m = fpf_array_size(&a);
    *steps = malloc((m ? m : 1) * sizeof **steps);
    for (size_t i = 0; *steps && i < m; i++) {
      double v = a.data[i];
      if (!isfinite(v) || v != floor(v) || fabs(v) > 9e15) {
        fpf_array_free(&a);
        return fpf_error_set(err, FPF_EINVAL,
                             "--steps %s: value %zu is %g, not an integer",
                             list, i, v);
      }
      (*steps)[i] = (long)v;
    }
    fpf_array_free(&a);
    if (!*steps) return fpf_error_set(err, FPF_ENOMEM, "out of memory");
    *n = m;
    return FPF_OK;
  }
  size_t cap = 1;
  for (const char *p = list; *p; p++) cap += *p == ',';
  *steps = malloc(cap * sizeof **steps);
  if (!*steps) return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  const char *p = list;
  while (1) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno == ERANGE || (*end && *end != ','))
      return fpf_error_set(err, FPF_EINVAL,
                           "--steps '%s': not a comma-separated list of "
                           "integers, nor a file (at '%s')",
                           list, p);
    (*steps)[(*n)++] = v;
    if (!*end) break;
    p = end + 1;
  }
  return FPF_OK;
}

/* --- The inputs ------------------------------------------------------- */

typedef struct inputs {
  fpf_snapshots *z, *g, *l;
  size_t T, n, d, loss_size;
  const long *steps;
  long *given;
  size_t ngiven;
} inputs;

static void inputs_free(inputs *in) {
  fpf_snapshots_destroy(in->z);
  fpf_snapshots_destroy(in->g);
  fpf_snapshots_destroy(in->l);
  free(in->given);
}

static fpf_status open_source(const char *const *paths, size_t n, int rank,
                              const char *what, const char *dataset,
                              const inputs *in, const analyze_args *a,
                              fpf_snapshots **out, fpf_error *err) {
  fpf_snapshots_options so;
  fpf_snapshots_options_init(&so);
  so.item_rank = rank;
  so.what = what;
  so.dataset = dataset;
  so.steps_from = a->steps_from;
  so.steps = in->given;
  so.nsteps = in->ngiven;
  return fpf_snapshots_create(out, paths, n, &so, err);
}

/*
 * The other series must match the latents: as many snapshots, the same
 * probes, and the same steps when both know theirs.  The first source
 * that knows its steps gives them to all.
 */
static fpf_status match(inputs *in, fpf_snapshots *s, const char *opt,
                        fpf_error *err) {
  size_t T = fpf_snapshots_count(s);
  if (T != in->T)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s %s: %zu snapshot(s), the latents have %zu", opt,
                         fpf_snapshots_source(s, 0), T, in->T);
  const long *st = fpf_snapshots_steps(s);
  if (!fpf_snapshots_steps_known(s)) return FPF_OK;
  if (!fpf_snapshots_steps_known(in->z) && in->steps ==
                                               fpf_snapshots_steps(in->z)) {
    in->steps = st;
    return FPF_OK;
  }
  for (size_t k = 0; k < T; k++)
    if (st[k] != in->steps[k])
      return fpf_error_set(err, FPF_EINVAL,
                           "%s %s: snapshot %zu is step %ld, the latents' "
                           "is step %ld",
                           opt, fpf_snapshots_source(s, k), k, st[k],
                           in->steps[k]);
  return FPF_OK;
}

static fpf_status open_inputs(const analyze_args *a, inputs *in,
                              fpf_error *err) {
  memset(in, 0, sizeof *in);
  fpf_status st;
  if (a->steps && (st = parse_steps(a->steps, &in->given, &in->ngiven, err)))
    return st;
  if ((st = open_source(a->latents, a->nlat, 2, "latents", a->dataset, in,
                        a, &in->z, err)))
    return st;
  in->T = fpf_snapshots_count(in->z);
  fpf_snapshots_dims(in->z, &in->n, &in->d);
  in->steps = fpf_snapshots_steps(in->z);
  if (a->mo.mode == FPF_MONITOR_MODEL) {
    if ((st = open_source(a->grads, a->ngrad, 2, "gradients", NULL, in, a,
                          &in->g, err)) ||
        (st = match(in, in->g, "--grads", err)))
      return st;
    size_t n, d;
    fpf_snapshots_dims(in->g, &n, &d);
    if (n != in->n || d != in->d)
      return fpf_error_set(err, FPF_EINVAL,
                           "--grads %s: %zu x %zu per snapshot, the "
                           "latents are %zu x %zu",
                           fpf_snapshots_source(in->g, 0), n, d, in->n,
                           in->d);
  }
  if (a->nloss) {
    if ((st = open_source(a->loss, a->nloss, FPF_SNAP_ANY_RANK, "loss",
                          NULL, in, a, &in->l, err)) ||
        (st = match(in, in->l, "--loss", err)))
      return st;
    size_t n, d;
    fpf_snapshots_dims(in->l, &n, &d);
    in->loss_size = n * d;
    if (in->loss_size != 1 && in->loss_size != in->n)
      return fpf_error_set(err, FPF_EINVAL,
                           "--loss %s: %zu values per snapshot; expected 1 "
                           "or one per probe (%zu)",
                           fpf_snapshots_source(in->l, 0), in->loss_size,
                           in->n);
  }
  if (a->mo.mode == FPF_MONITOR_TRAJECTORY && in->T < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: trajectory mode needs at least two snapshots, "
                         "there is %zu",
                         fpf_snapshots_source(in->z, 0), in->T);
  if (in->n < 2)
    return fpf_error_set(err, FPF_EINVAL, "%s: %zu probe; at least 2 needed",
                         fpf_snapshots_source(in->z, 0), in->n);
  return FPF_OK;
}

/* --- Outputs ---------------------------------------------------------- */

static const char *const csv_header =
    "step,h,loss_mean,C,log_C,C_vel,log_C_vel,S_dot,H_kde,H_knn,T_eff,"
    "T_gibbs,mu_rms,div_max,div_over_rho_max,alert\n";

/* NaN without a sign: printf writes "-nan" for some. */
#define V(x) (isnan(x) ? NAN : (x))

static void csv_row(FILE *f, const fpf_metrics *m, int alert) {
  fprintf(f,
          "%ld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
          "%.17g,%.17g,%.17g,%.17g,%d\n",
          m->step, V(m->h), V(m->loss_mean), V(m->C), V(m->log_C),
          V(m->C_vel), V(m->log_C_vel), V(m->S_dot), V(m->H_kde),
          V(m->H_knn), V(m->T_eff), V(m->T_gibbs), V(m->mu_rms),
          V(m->div_max), V(m->div_over_rho_max), alert);
}

static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The alerts, as the callback hands them over. */
typedef struct alert_log {
  fpf_monitor_alert *v;
  size_t n, cap;
} alert_log;

static void on_alert(void *user, const fpf_monitor_alert *a) {
  alert_log *l = user;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    fpf_monitor_alert *v = realloc(l->v, cap * sizeof *v);
    if (!v) return; /* the count in the monitor still has it */
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *a;
}

static cJSON *options_json(const analyze_args *a) {
  const fpf_monitor_options *o = &a->mo;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "mode", fpf_monitor_mode_name(o->mode));
  cJSON_AddStringToObject(j, "bandwidth", fpf_bw_rule_name(o->bandwidth_rule));
  if (o->bandwidth_rule == FPF_BW_FIXED)
    cJSON_AddNumberToObject(j, "h", o->bandwidth);
  if (o->mode == FPF_MONITOR_MODEL) {
    cJSON_AddNumberToObject(j, "eta", o->eta);
    cJSON_AddNumberToObject(j, "lambda", o->lambda);
    cJSON_AddNumberToObject(j, "c", o->c);
    cJSON_AddNumberToObject(j, "gamma", o->gamma);
    cJSON_AddStringToObject(j, "entropy_form",
                            fpf_entropy_form_name(o->entropy_form));
  }
  cJSON_AddStringToObject(j, "series",
                          o->detect_on == FPF_TRIGGER_C ? "C" : "C_vel");
  cJSON_AddNumberToObject(j, "threshold", o->alert_C_threshold);
  cJSON_AddNumberToObject(j, "div_threshold", o->alert_div_threshold);
  cJSON_AddBoolToObject(j, "div_over_rho", o->alert_div_over_rho);
  cJSON_AddBoolToObject(j, "flux_divergence", o->flux_divergence);
  const fpf_detect_options *d = &o->detect;
  cJSON *dj = cJSON_AddObjectToObject(j, "detector");
  cJSON_AddNumberToObject(dj, "drop_factor", d->drop_factor);
  cJSON_AddNumberToObject(dj, "spike_factor", d->spike_factor);
  cJSON_AddNumberToObject(dj, "window", (double)d->window);
  cJSON_AddNumberToObject(dj, "plateau_tol", d->plateau_tol);
  cJSON_AddBoolToObject(dj, "plateau_relative", d->plateau_relative);
  cJSON_AddNumberToObject(dj, "tolerance", (double)d->tolerance);
  cJSON_AddBoolToObject(dj, "use_log", d->use_log);
  return j;
}

/* What the run found, for transitions.json and the figure. */
typedef struct results {
  const fpf_metrics *hist;
  size_t nrows, *rows, nt;
  unsigned char *flag[3]; /* drop, spike, plateau per row */
  int have_loss;
  alert_log alerts;
  char detect_note[600];
} results;

static cJSON *transitions_json(const results *r) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < r->nt; i++) {
    const fpf_metrics *m = &r->hist[r->rows[i]];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "row", (double)r->rows[i]);
    cJSON_AddNumberToObject(o, "step", (double)m->step);
    cJSON_AddItemToObject(o, "C", num(m->C));
    cJSON_AddItemToObject(o, "log_C", num(m->log_C));
    cJSON_AddItemToObject(o, "C_vel", num(m->C_vel));
    cJSON_AddItemToObject(o, "S_dot", num(m->S_dot));
    cJSON_AddItemToObject(o, "loss_mean", num(m->loss_mean));
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

/* The steps where each criterion held, to see why a row is (not) one. */
static cJSON *criteria_json(const results *r) {
  static const char *const names[3] = {"drop", "spike", "plateau"};
  cJSON *o = cJSON_CreateObject();
  for (int c = 0; c < 3 && r->flag[0]; c++) {
    cJSON *arr = cJSON_AddArrayToObject(o, names[c]);
    for (size_t i = 0; i < r->nrows; i++)
      if (r->flag[c][i])
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)r->hist[i].step));
  }
  return o;
}

static cJSON *alerts_json(const alert_log *l) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < l->n; i++) {
    const fpf_monitor_alert *a = &l->v[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)a->step);
    cJSON_AddItemToObject(o, "C", num(a->C));
    cJSON_AddItemToObject(o, "C_vel", num(a->C_vel));
    cJSON_AddItemToObject(o, "div_max", num(a->div_max));
    cJSON_AddItemToObject(o, "div_over_rho_max", num(a->div_over_rho_max));
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

static fpf_status write_json(const char *dir, const analyze_args *a,
                             const inputs *in, const results *r,
                             const fpf_error *failure, fpf_error *err) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fpflow_version", fpf_version());
  cJSON_AddStringToObject(o, "status", failure ? "failed" : "ok");
  if (failure) cJSON_AddStringToObject(o, "error", failure->msg);
  cJSON_AddStringToObject(o, "latents", fpf_snapshots_source(in->z, 0));
  cJSON_AddNumberToObject(o, "snapshots", (double)in->T);
  cJSON_AddNumberToObject(o, "rows", (double)r->nrows);
  cJSON_AddNumberToObject(o, "n", (double)in->n);
  cJSON_AddNumberToObject(o, "d", (double)in->d);
  cJSON_AddItemToObject(o, "options", options_json(a));
  if (r->detect_note[0])
    cJSON_AddStringToObject(o, "detection_note", r->detect_note);
  cJSON_AddItemToObject(o, "transitions", transitions_json(r));
  cJSON_AddItemToObject(o, "criteria", criteria_json(r));
  cJSON_AddItemToObject(o, "alerts", alerts_json(&r->alerts));
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  char path[4096];
  fpf_cli_path(path, sizeof path, dir, "transitions.json");
  fpf_status st =
      text ? fpf_cli_write_text(path, text, err)
           : fpf_error_set(err, FPF_ENOMEM, "transitions.json: no memory");
  free(text);
  return st;
}

/* --- The figure ------------------------------------------------------- */

#define LN10 2.30258509299404568402

enum { COL_BG, COL_FG, COL_A, COL_B, COL_MARK, COL_ALERT, COL_THR, NCOL };

static void set_colours(void) {
  static const int rgb[NCOL][3] = {{255, 255, 255}, {0, 0, 0},
                                   {31, 119, 180},  {255, 127, 14},
                                   {214, 39, 40},   {148, 103, 189},
                                   {120, 120, 120}};
  plscmap0n(16);
  for (int i = 0; i < NCOL; i++) plscol0(i, rgb[i][0], rgb[i][1], rgb[i][2]);
}

/* The series drawn, one value per row (NaN where there is none). */
typedef struct figure_data {
  size_t n;
  double *x, *lc, *lv, *sdot, *loss, *hk, *hn;
  int loss_log, npanels;
  const results *r;
  double threshold;
  const char *trigger, *title;
} figure_data;

/* The finite range of up to two series, padded, never empty. */
static void range2(const double *a, const double *b, size_t n, double *lo,
                   double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (a && isfinite(a[i])) *lo = fmin(*lo, a[i]), *hi = fmax(*hi, a[i]);
    if (b && isfinite(b[i])) *lo = fmin(*lo, b[i]), *hi = fmax(*hi, b[i]);
  }
  if (!isfinite(*lo)) *lo = 0, *hi = 1;
  double w = *hi - *lo;
  if (w <= 1e-12 * fmax(1.0, fabs(*lo))) {
    double h = fmax(0.5, 0.05 * fabs(*lo));
    *lo -= h, *hi += h;
  } else {
    *lo -= 0.06 * w, *hi += 0.06 * w;
  }
}

/* A curve with gaps where y is not finite; lone points as dots. */
static void gappy(const double *x, const double *y, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (!isfinite(y[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && isfinite(y[j])) j++;
    if (j - i == 1) plpoin(1, x + i, y + i, 17);
    else plline((PLINT)(j - i), x + i, y + i);
    i = j;
  }
}

/* A legend outside the panel, right of it: up to four entries. */
typedef struct legend {
  int n;
  const char *text[4];
  PLINT opt[4], colour[4], style[4], symbol_code[4];
} legend;

static void legend_add(legend *l, const char *text, int colour, int style,
                       int is_symbol) {
  int i = l->n++;
  l->text[i] = text;
  l->opt[i] = is_symbol ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE;
  l->colour[i] = colour;
  l->style[i] = style;
}

static void legend_draw(const legend *l, double offset) {
  PLINT tc[4], z[4], one[4];
  PLFLT lw[4], zf[4], of[4];
  const char *sym[4];
  for (int i = 0; i < l->n; i++) {
    tc[i] = COL_FG, z[i] = 0, one[i] = 1;
    lw[i] = l->style[i] == 1 ? 2 : 1, zf[i] = 0, of[i] = 1;
    sym[i] = l->opt[i] == PL_LEGEND_SYMBOL ? "#(850)" : "";
  }
  PLFLT w, h;
  pllegend(&w, &h, 0, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, offset,
           0.0, 0.1, COL_BG, COL_FG, 1, 0, 0, l->n, l->opt, 0.5,
           0.7, 1.6, 0.0, tc, l->text, z, z, of, zf, l->colour, l->style,
           lw, l->colour, of, one, sym);
}

/*
 * A log axis drawn as a linear axis of log10 values with "10^k" labels
 * (plslabelfunc): PLplot's own log axis labels every decade, and C spans
 * hundreds of decades for wide latents, as rho underflows.  Returns the
 * tick interval, a round number of decades.
 */
static void decade_label(PLINT axis, PLFLT value, char *label, PLINT len,
                         PLPointer data) {
  (void)axis, (void)data;
  snprintf(label, (size_t)len, "10#u%.0f#d", value);
}

/* Linear axes with custom labels too, so PLplot adds no "(x10^k)". */
static void plain_label(PLINT axis, PLFLT value, char *label, PLINT len,
                        PLPointer data) {
  (void)axis;
  /* A tick at zero comes out as round-off of the axis range (1e-17). */
  double span = *(const double *)data;
  snprintf(label, (size_t)len, "%.4g",
           fabs(value) < 1e-9 * span ? 0.0 : value);
}

static double decade_ticks(double lo, double hi) {
  static const double steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
    if ((hi - lo) / steps[i] <= 6) return steps[i];
  return 2000;
}

/* The viewport of panel k (of npanels stacked ones). */
static void panel_viewport(const figure_data *f, int k) {
  double top = 0.93, bottom = 0.08, gap = 0.025;
  double h = (top - bottom - gap * (f->npanels - 1)) / f->npanels;
  double yt = top - k * (h + gap);
  plvpor(0.09, 0.72, yt - h, yt);
}

static void x_range(const figure_data *f, double *lo, double *hi) {
  *lo = f->x[0], *hi = f->x[f->n - 1];
  if (*hi <= *lo) *lo -= 1, *hi += 1;
}

/* Frame and y axis of a panel, its transitions, and its left label. */
static void frame(const figure_data *f, int k, double ylo, double yhi,
                  int log_axis, const char *ylab) {
  double xlo, xhi;
  x_range(f, &xlo, &xhi);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(COL_FG);
  int last = k == f->npanels - 1;
  static double span;
  span = yhi - ylo;
  plslabelfunc(log_axis ? decade_label : plain_label, &span);
  if (log_axis)
    plbox(last ? "bcnst" : "bcst", 0, 0, "bcnotv", decade_ticks(ylo, yhi),
          1);
  else
    plbox(last ? "bcnst" : "bcst", 0, 0, "bcnostv", 0, 0);
  if (last) plmtex("b", 2.6, 0.5, 0.5, "training step");
  plmtex("l", 5.2, 0.5, 0.5, ylab);
  plcol0(COL_MARK);
  pllsty(2);
  for (size_t i = 0; i < f->r->nt; i++) {
    double x = (double)f->r->hist[f->r->rows[i]].step;
    pljoin(x, ylo, x, yhi);
  }
  pllsty(1);
}

/* Whole decades around a log series, never empty. */
static void decades(const double *a, size_t n, double *lo, double *hi) {
  range2(a, NULL, n, lo, hi);
  *lo = floor(*lo), *hi = ceil(*hi);
  if (*hi - *lo < 1) *hi = *lo + 1;
}

/*
 * The first panel: C_vel on the left axis with the alert threshold and
 * the alerts, C on the right axis.  Their scales differ by as many
 * decades as rho is small, so each has its own axis.
 */
static void panel_C(const figure_data *f, int k) {
  panel_viewport(f, k);
  double lo, hi, xlo, xhi;
  decades(f->lv, f->n, &lo, &hi);
  int thr = f->threshold > 0;
  double lt = thr ? log10(f->threshold) : 0;
  if (thr && lt > lo - 3 && lt < hi + 3)
    lo = fmin(lo, floor(lt)), hi = fmax(hi, ceil(lt));
  else
    thr = 0;
  frame(f, k, lo, hi, 1, "C#dvel#u");
  x_range(f, &xlo, &xhi);
  legend l = {0};
  if (thr) {
    plcol0(COL_THR);
    pllsty(3);
    pljoin(xlo, lt, xhi, lt);
    pllsty(1);
    legend_add(&l, "threshold", COL_THR, 3, 0);
  }
  plwidth(2);
  plcol0(COL_B);
  gappy(f->x, f->lv, f->n);
  plwidth(1);
  if (f->r->alerts.n) {
    plcol0(COL_ALERT);
    double y = hi - 0.06 * (hi - lo);
    for (size_t i = 0; i < f->r->alerts.n; i++) {
      double x = (double)f->r->alerts.v[i].step;
      plstring(1, &x, &y, "#(850)");
    }
  }

  /* C on its own axis, on the right. */
  decades(f->lc, f->n, &lo, &hi);
  plwind(xlo, xhi, lo, hi);
  plcol0(COL_A);
  plslabelfunc(decade_label, NULL);
  plbox("", 0, 0, "cmotv", decade_ticks(lo, hi), 1);
  plwidth(2);
  gappy(f->x, f->lc, f->n);
  plwidth(1);
  legend_add(&l, "C#dvel#u (left axis)", COL_B, 1, 0);
  legend_add(&l, "C (right axis)", COL_A, 1, 0);
  if (f->r->alerts.n) legend_add(&l, "alert", COL_ALERT, 1, 1);
  if (f->r->nt && l.n < 4) legend_add(&l, "transition", COL_MARK, 2, 0);
  legend_draw(&l, 0.12);
}

/* A panel of one or two linear (or log) series. */
static void panel(const figure_data *f, int k, const double *y0,
                  const double *y1, int log_axis, const char *ylab,
                  const char *l0, const char *l1) {
  panel_viewport(f, k);
  double lo, hi;
  if (log_axis) decades(y0, f->n, &lo, &hi);
  else range2(y0, y1, f->n, &lo, &hi);
  frame(f, k, lo, hi, log_axis, ylab);
  plwidth(2);
  if (y1) plcol0(COL_B), gappy(f->x, y1, f->n);
  plcol0(COL_A);
  gappy(f->x, y0, f->n);
  plwidth(1);
  legend l = {0};
  legend_add(&l, l0, COL_A, 1, 0);
  if (l1) legend_add(&l, l1, COL_B, 1, 0);
  if (f->r->nt) legend_add(&l, "transition", COL_MARK, 2, 0);
  legend_draw(&l, 0.02);
}

static void draw_figure(const figure_data *f) {
  pladv(0);
  plschr(0, 0.8);
  plvpor(0, 1, 0, 1);
  plwind(0, 1, 0, 1);
  plcol0(COL_FG);
  plptex(0.5, 0.965, 1, 0, 0.5, f->title);
  int k = 0;
  panel_C(f, k++);
  panel(f, k++, f->sdot, NULL, 0, "entropy production", "S_dot", NULL);
  if (f->npanels == 4)
    panel(f, k++, f->loss, NULL, f->loss_log,
          f->loss_log ? "loss (log scale)" : "loss", "mean loss", NULL);
  panel(f, k, f->hk, f->hn, 0, "entropy H", "H (KDE)", "H (k-NN)");
}

static void draw_cb(const void *arg) {
  set_colours();
  draw_figure(arg);
}

/* Renders into path through fpf_plot_png (figure.h); 0 or an error. */
static fpf_status render(const char *path, const figure_data *f,
                         fpf_error *err) {
  return fpf_plot_png(path, 1200, 200 * f->npanels + 120, draw_cb, f, err);
}

static fpf_status write_figure(const char *path, const analyze_args *a,
                               const inputs *in, const results *r,
                               fpf_error *err) {
  size_t n = r->nrows;
  double *buf = malloc(7 * (n ? n : 1) * sizeof *buf);
  if (!buf) return fpf_error_set(err, FPF_ENOMEM, "figure: no memory");
  figure_data f = {.n = n,           .x = buf,          .lc = buf + n,
                   .lv = buf + 2 * n, .sdot = buf + 3 * n,
                   .loss = buf + 4 * n, .hk = buf + 5 * n, .hn = buf + 6 * n};
  int all_positive = 1, any_loss = 0;
  for (size_t i = 0; i < n; i++) {
    const fpf_metrics *m = &r->hist[i];
    f.x[i] = (double)m->step;
    f.lc[i] = m->log_C / LN10;
    f.lv[i] = m->log_C_vel / LN10;
    f.sdot[i] = m->S_dot;
    f.hk[i] = m->H_kde;
    f.hn[i] = m->H_knn;
    f.loss[i] = m->loss_mean;
    if (isfinite(m->loss_mean)) any_loss = 1, all_positive &= m->loss_mean > 0;
  }
  f.loss_log = any_loss && all_positive;
  for (size_t i = 0; f.loss_log && i < n; i++) f.loss[i] = log10(f.loss[i]);
  f.npanels = r->have_loss ? 4 : 3;
  f.r = r;
  f.threshold = a->mo.alert_C_threshold;
  char title[256];
  snprintf(title, sizeof title,
           "%zu probes x %zu, %zu snapshots, %s mode, %zu transition%s, "
           "%zu alert%s (%s < %g)",
           in->n, in->d, n, fpf_monitor_mode_name(a->mo.mode), r->nt,
           r->nt == 1 ? "" : "s", r->alerts.n, r->alerts.n == 1 ? "" : "s",
           a->mo.alert_on == FPF_TRIGGER_C ? "C" : "C#dvel#u",
           a->mo.alert_C_threshold);
  f.title = title;
  fpf_status st = render(path, &f, err);
  free(buf);
  return st;
}

/* --- The command ------------------------------------------------------ */

static const char *const outputs[] = {"metrics.csv", "transitions.json",
                                      "figure.png"};

static fpf_status prepare_dir(const char *dir, FILE **csv, fpf_error *err) {
  fpf_status st = fpf_cli_mkdirs(dir, err);
  char path[4096];
  for (size_t i = 0; !st && i < sizeof outputs / sizeof *outputs; i++)
    st = fpf_cli_output_ok(fpf_cli_path(path, sizeof path, dir, outputs[i]),
                           err);
  if (st) return st;
  /* A figure from an earlier analysis would not match this one. */
  remove(fpf_cli_path(path, sizeof path, dir, "figure.png"));
  *csv = fopen(fpf_cli_path(path, sizeof path, dir, "metrics.csv"), "w");
  if (!*csv)
    return fpf_error_set(err, FPF_EIO, "cannot write %s: %s", path,
                         strerror(errno));
  fputs(csv_header, *csv);
  return FPF_OK;
}

/* Snapshot k's loss as n per-probe values (one value is repeated). */
static fpf_status read_loss(inputs *in, size_t k, double *loss,
                            fpf_error *err) {
  fpf_status st = fpf_snapshots_read(in->l, k, loss, err);
  if (!st && in->loss_size == 1)
    for (size_t i = 1; i < in->n; i++) loss[i] = loss[0];
  return st;
}

/* Reads and pushes every snapshot, writing a CSV row for each. */
static fpf_status run(inputs *in, fpf_monitor *mon, FILE *csv,
                      fpf_error *err) {
  size_t nd = in->n * in->d;
  double *z = malloc(nd * sizeof *z);
  double *g = in->g ? malloc(nd * sizeof *g) : NULL;
  double *loss = in->l ? malloc(in->n * sizeof *loss) : NULL;
  fpf_status st = FPF_OK;
  if (!z || (in->g && !g) || (in->l && !loss))
    st = fpf_error_set(err, FPF_ENOMEM, "out of memory for %zu x %zu",
                       in->n, in->d);
  fpf_progress p;
  fpf_progress_start(&p, "analyze", (long)in->T);
  for (size_t k = 0; !st && k < in->T; k++) {
    if ((st = fpf_snapshots_read(in->z, k, z, err)) ||
        (g && (st = fpf_snapshots_read(in->g, k, g, err))) ||
        (loss && (st = read_loss(in, k, loss, err))))
      break;
    size_t before = fpf_monitor_alert_count(mon);
    fpf_metrics m;
    if ((st = fpf_monitor_push(mon, in->steps[k], z, g, loss, &m, err))) {
      fpf_error_prefix(err, "%s, snapshot %zu: ",
                       fpf_snapshots_source(in->z, k), k);
      break;
    }
    csv_row(csv, &m, fpf_monitor_alert_count(mon) > before);
    if (fflush(csv) != 0 || ferror(csv)) {
      st = fpf_error_set(err, FPF_EIO, "cannot write metrics.csv: %s",
                         strerror(errno));
      break;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "step %ld, C_vel=%.3g", m.step, m.C_vel);
    fpf_progress_update(&p, (long)k + 1, extra);
  }
  fpf_progress_finish(&p);
  free(z);
  free(g);
  free(loss);
  return st;
}

/* The detector over the history; a failure there is only a note. */
static void detect(const fpf_monitor *mon, results *r) {
  r->nrows = fpf_monitor_history(mon, &r->hist);
  size_t n = r->nrows ? r->nrows : 1;
  r->rows = malloc(n * sizeof *r->rows);
  r->flag[0] = malloc(3 * n);
  r->flag[1] = r->flag[0] ? r->flag[0] + n : NULL;
  r->flag[2] = r->flag[0] ? r->flag[0] + 2 * n : NULL;
  fpf_detect_flags fl = {r->flag[0], r->flag[1], r->flag[2]};
  fpf_error e;
  fpf_error_clear(&e);
  if (!r->rows || !r->flag[0] ||
      fpf_monitor_detect(mon, r->rows, &r->nt, &fl, &e)) {
    r->nt = 0;
    free(r->flag[0]);
    r->flag[0] = r->flag[1] = r->flag[2] = NULL;
    snprintf(r->detect_note, sizeof r->detect_note, "detection skipped: %s",
             e.msg[0] ? e.msg : "out of memory");
    fpf_cli_info("analyze: %s", r->detect_note);
  } else if (r->nrows < 3) {
    snprintf(r->detect_note, sizeof r->detect_note,
             "%zu rows: too few for the detector to say anything",
             r->nrows);
  }
  for (size_t i = 0; i < r->nrows; i++)
    if (isfinite(r->hist[i].loss_mean)) r->have_loss = 1;
}

static size_t count_flags(const results *r, int c) {
  size_t k = 0;
  for (size_t i = 0; r->flag[c] && i < r->nrows; i++) k += r->flag[c][i];
  return k;
}

static void report(const char *dir, const inputs *in, const results *r) {
  char steps[512] = "";
  size_t w = 0;
  for (size_t i = 0; i < r->nt && w + 24 < sizeof steps; i++)
    w += (size_t)snprintf(steps + w, sizeof steps - w, "%s%ld",
                          i ? ", " : " at step ",
                          r->hist[r->rows[i]].step);
  fpf_cli_info("analyze: %zu snapshots of %zu probes x %zu; %zu "
               "transition%s%s (rows with a drop %zu, a spike %zu, a "
               "plateau %zu); %zu alert%s; results in %s/",
               in->T, in->n, in->d, r->nt, r->nt == 1 ? "" : "s", steps,
               count_flags(r, 0), count_flags(r, 1), count_flags(r, 2),
               r->alerts.n, r->alerts.n == 1 ? "" : "s", dir);
}

int fpf_cmd_analyze(int argc, char **argv) {
  analyze_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0) {
    free(a.latents), free(a.grads), free(a.loss);
    return rc;
  }
  fpf_error err, failure;
  fpf_error_clear(&err);
  fpf_error_clear(&failure);
  inputs in;
  results r;
  memset(&r, 0, sizeof r);
  fpf_monitor *mon = NULL;
  FILE *csv = NULL;
  a.mo.alert = on_alert;
  a.mo.alert_user = &r.alerts;
  a.mo.log = fpf_cli_log;

  /* Inputs and outputs are checked before anything is computed. */
  fpf_status st = open_inputs(&a, &in, &err);
  if (!st) st = fpf_monitor_create(&mon, in.n, in.d, &a.mo, &err);
  if (!st) st = prepare_dir(a.out, &csv, &err);
  if (st) {
    rc = fpf_cli_fail(&err);
  } else {
    /* A failure part-way is reported, and what was found is kept. */
    fpf_status fail = run(&in, mon, csv, &failure);
    if (fclose(csv) != 0 && !fail)
      fail = fpf_error_set(&failure, FPF_EIO, "cannot write metrics.csv");
    detect(mon, &r);
    if (write_json(a.out, &a, &in, &r, fail ? &failure : NULL, &err))
      fpf_cli_error("%s", err.msg);
    char path[4096];
    fpf_cli_path(path, sizeof path, a.out, "figure.png");
    if (a.figure && r.nrows > 0 && write_figure(path, &a, &in, &r, &err))
      fpf_cli_error("%s", err.msg);
    if (fail) {
      rc = fpf_cli_fail(&failure);
      fpf_cli_error("analyze: stopped after %zu of %zu snapshots; %s/ keeps "
                    "what was computed",
                    r.nrows, in.T, a.out);
    } else {
      report(a.out, &in, &r);
      rc = FPF_EXIT_OK;
    }
  }
  fpf_monitor_destroy(mon);
  inputs_free(&in);
  free(r.rows);
  free(r.flag[0]);
  free(r.alerts.v);
  free(a.latents), free(a.grads), free(a.loss);
  return rc;
}
