/*
 * fpflow bench: one full step (KDE, drift, Fisher, Cholesky, noise,
 * update, metrics) timed at a few sizes, precisions and thread counts,
 * beside the BLAS floor of the same step and, with --peers, beside NumPy
 * and PyTorch versions of the same mathematics (bench/peer_*.py).  This
 * file reads the options, prints the table and writes the JSON; the
 * measuring is in bench_run.c.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "fpflow/flow.h"
#include "fpflow/kde.h"
#include "fpflow/npy.h"
#include "fpflow/rng.h"
#include "fpflow/version.h"

/* Limits of the lists. */
#define MAX_SIZES 16
#define MAX_THREADS 8

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow bench [--sizes NxD,...] [--precision fp64,fp32]\n"
          "                    [--threads 2,1] [--reps R] [--rounds K]\n"
          "                    [--peers] [--peer-dir DIR] [--profile]\n"
          "                    [--no-floor] [-o FILE.json] [-q] [-v]\n\n"
          "Times one full fpflow step (KDE, drift, Fisher, Cholesky, noise,\n"
          "update, metrics) on L = |z|^2/2 with eta 0.01, lambda 0.001,\n"
          "c 1, gamma 0.05, dt 0.01 and h^2 = mean pairwise |z_i - z_j|^2 /\n"
          "(2 log N), on N standard normal particles in d dimensions.\n\n"
          "Each row: the median, min and max over K rounds of R steps\n"
          "(each round after 2 warm-up steps), GFLOP/s of the dense step\n"
          "(none when the binned KDE ran),\n"
          "the peak memory and the workspace (the memory that creating\n"
          "the dynamics added), and the floor: the time of the step's\n"
          "BLAS and LAPACK calls alone, on OpenBLAS's own threads.  fpflow,\n"
          "the peers and the floor take turns in every round, so that a\n"
          "drift of the machine's speed touches them alike.  Columns\n"
          "marked x are fpflow's median over the other's: below 1, fpflow\n"
          "is faster.  The floor and the peers stop above N = 16384.  At\n"
          "d <= 3 and N > 4096, and whenever the binned KDE ran, the step's\n"
          "log rho and score are checked against the exact kernel sums at\n"
          "1000 particles.  fp32 is fpflow's single precision: its KDE\n"
          "products in float above d = 8, its d x d products above\n"
          "d = 32; below, those parts run in double (a note says so),\n"
          "while the peers and the floor run in float.  A warning says\n"
          "when a median step is over 1.5 x its fastest (a busy machine,\n"
          "or a peer's own threads fighting).\n\n"
          "options:\n"
          "  --sizes LIST      up to 16 sizes NxD, 2 <= N <= 10^7,\n"
          "                    1 <= D <= 10^5, that fit in memory\n"
          "                    (2048x1024,500x2,256x32)\n"
          "  --precision LIST  fp64 and/or fp32 (fp64,fp32)\n"
          "  --threads LIST    up to 8 thread counts, 1 to 1024 (2,1)\n"
          "  --reps R          timed steps per round, 7 to 1000 (7)\n"
          "  --rounds K        rounds, 1 to 100 (3)\n"
          "  --peers           also time bench/peer_numpy.py and\n"
          "                    bench/peer_torch.py (Debian's\n"
          "                    /usr/bin/python3) on the same particles (a\n"
          "                    .npy file under $TMPDIR or /tmp); a peer\n"
          "                    whose log C, S_dot or mean log rho differs\n"
          "                    from fpflow's (1e-8 relative in fp64, 2e-3\n"
          "                    in fp32 or when fpflow's KDE was binned)\n"
          "                    is refused, not compared\n"
          "  --peer-dir DIR    where the peer scripts are (the source\n"
          "                    tree's bench/, else the installed copy)\n"
          "  --profile         time each phase of fpflow's step\n"
          "  --no-floor        skip the BLAS floor\n"
          "  -o FILE           also write the rows as JSON (after each row)\n"
          "  -q                only warnings and errors (needs -o)\n"
          "  -v                also every step time of fpflow\n"
          "  -h                this text\n"
          "\nExit status: 0; 1 when a measurement or a peer failed or a peer\n"
          "was refused; 2 for bad options.\n");
}

/* ---- options ---------------------------------------------------------- */

/* A whole number from lo to hi for option name; -1 (said) otherwise. */
static int whole_option(const char *name, const char *val, long lo, long hi,
                        int *out) {
  char *end;
  errno = 0;
  long r = isdigit((unsigned char)*val) ? strtol(val, &end, 10) : -1;
  if (r < 0 || errno || *end || r < lo || r > hi) {
    fpf_cli_error("bench: %s '%s': a whole number from %ld to %ld", name,
                  val, lo, hi);
    return -1;
  }
  *out = (int)r;
  return 0;
}

/*
 * Splits a comma-separated option value into at most cap items in buf
 * (size n); an empty value, an empty item, too many items or too long a
 * value is an error naming the option.
 */
static int split_list(const char *opt, const char *s, char *buf, size_t n,
                      char **items, int cap, int *count) {
  if (strlen(s) >= n) {
    fpf_cli_error("bench: %s: the list is longer than %zu characters", opt,
                  n - 1);
    return -1;
  }
  snprintf(buf, n, "%s", s);
  *count = 0;
  char *p = buf;
  for (;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      fpf_cli_error("bench: %s '%s': an empty item (two commas, or a comma "
                    "at an end)", opt, s);
      return -1;
    }
    if (*count >= cap) {
      fpf_cli_error("bench: %s '%s': at most %d items", opt, s, cap);
      return -1;
    }
    items[(*count)++] = p;
    if (!comma) return 0;
    p = comma + 1;
  }
}

typedef struct size_nd {
  size_t n, d;
} size_nd;

/* A number of decimal digits only (no sign, no blanks). */
static int digits(const char *s, const char *end) {
  if (s == end) return 0;
  for (; s < end; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static int parse_sizes(const char *s, size_nd *v, int *nv) {
  char buf[256], *items[MAX_SIZES];
  if (split_list("--sizes", s, buf, sizeof buf, items, MAX_SIZES, nv))
    return -1;
  for (int i = 0; i < *nv; i++) {
    char *x = strchr(items[i], 'x');
    unsigned long long n = 0, d = 0;
    int ok = x && digits(items[i], x) && digits(x + 1, x + strlen(x));
    if (ok) {
      errno = 0;
      n = strtoull(items[i], NULL, 10);
      d = strtoull(x + 1, NULL, 10);
      ok = !errno && n >= 2 && n <= 10000000 && d >= 1 && d <= 100000;
    }
    if (!ok) {
      fpf_cli_error("bench: --sizes: '%s' is not NxD with 2 <= N <= 10^7 "
                    "and 1 <= D <= 10^5", items[i]);
      return -1;
    }
    v[i].n = (size_t)n;
    v[i].d = (size_t)d;
    /* a size that cannot fit is refused now, not after the others ran:
       the step holds at least D and its factor (d x d) and the
       particles, their update and drift (N x d), all in double */
    double need = 8.0 * (2.0 * (double)d * (double)d + 3.0 * (double)n *
                         (double)d);
    double have = (double)sysconf(_SC_PHYS_PAGES) *
                  (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have) {
      fpf_cli_error("bench: --sizes: '%s' needs at least %.0f GB (two d x "
                    "d matrices and three N x d arrays of doubles); this "
                    "machine has %.0f GB", items[i], need / 1e9,
                    have / 1e9);
      return -1;
    }
    for (int k = 0; k < i; k++)
      if (v[k].n == v[i].n && v[k].d == v[i].d) {
        fpf_cli_error("bench: --sizes: '%s' is given twice", items[i]);
        return -1;
      }
  }
  return 0;
}

static int parse_threads(const char *s, int *v, int *nv) {
  char buf[64], *items[MAX_THREADS];
  if (split_list("--threads", s, buf, sizeof buf, items, MAX_THREADS, nv))
    return -1;
  for (int i = 0; i < *nv; i++) {
    if (whole_option("--threads", items[i], 1, 1024, &v[i])) return -1;
    for (int k = 0; k < i; k++)
      if (v[k] == v[i]) {
        fpf_cli_error("bench: --threads: %d is given twice", v[i]);
        return -1;
      }
  }
  return 0;
}

static int parse_precisions(const char *s, int *v, int *nv) {
  char buf[64], *items[2];
  if (split_list("--precision", s, buf, sizeof buf, items, 2, nv)) return -1;
  for (int i = 0; i < *nv; i++) {
    if (strcmp(items[i], "fp64") && strcmp(items[i], "fp32")) {
      fpf_cli_error("bench: --precision: '%s' is not fp64 or fp32",
                    items[i]);
      return -1;
    }
    v[i] = !strcmp(items[i], "fp32");
    if (i > 0 && v[0] == v[i]) {
      fpf_cli_error("bench: --precision: '%s' is given twice", items[i]);
      return -1;
    }
  }
  return 0;
}

/* The peer scripts' directory: the source tree's bench/ while it is
 * there, else the installed copy. */
static void default_peer_dir(char *dir, size_t n) {
  snprintf(dir, n, "%s/bench", FPF_SOURCE_DIR);
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/peer_numpy.py", dir);
  if (access(probe, R_OK) != 0) snprintf(dir, n, "%s", FPF_PEER_INSTALL_DIR);
}

static int parse_args(int argc, char **argv, bench_args *a) {
  static const struct option opts[] = {
      {"sizes", required_argument, 0, 's'},
      {"precision", required_argument, 0, 'p'},
      {"threads", required_argument, 0, 't'},
      {"reps", required_argument, 0, 'r'},
      {"rounds", required_argument, 0, 'R'},
      {"peers", no_argument, 0, 'P'},
      {"peer-dir", required_argument, 0, 'D'},
      {"profile", no_argument, 0, 'f'},
      {"no-floor", no_argument, 0, 'F'},
      {"quiet", no_argument, 0, 'q'},
      {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  strcpy(a->sizes, "2048x1024,500x2,256x32");
  strcpy(a->precisions, "fp64,fp32");
  strcpy(a->threads, "2,1");
  a->reps = 7;
  a->rounds = 3;
  a->warmup = 2;
  a->floor = 1;
  default_peer_dir(a->peer_dir, sizeof a->peer_dir);
  optind = 1;
  opterr = 0;
  int ch, peer_dir_given = 0, quiet = 0, verbose = 0;
  /* a value longer than its buffer is refused, not cut */
  const struct {
    int ch;
    const char *name;
    char *dst;
    size_t n;
  } lists[] = {{'s', "--sizes", a->sizes, sizeof a->sizes},
               {'p', "--precision", a->precisions, sizeof a->precisions},
               {'t', "--threads", a->threads, sizeof a->threads},
               {'D', "--peer-dir", a->peer_dir, sizeof a->peer_dir}};
  while ((ch = getopt_long(argc, argv, ":o:qvh", opts, NULL)) != -1) {
    int listed = 0;
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
      if (ch == lists[i].ch) {
        listed = 1;
        if (strlen(optarg) >= lists[i].n) {
          fpf_cli_error("bench: %s: longer than %zu characters",
                        lists[i].name, lists[i].n - 1);
          return FPF_EXIT_USAGE;
        }
        snprintf(lists[i].dst, lists[i].n, "%s", optarg);
      }
    if (listed) {
      peer_dir_given |= ch == 'D';
      continue;
    }
    switch (ch) {
      case 'r':
        if (whole_option("--reps", optarg, 7, FPF_BENCH_MAX_REPS, &a->reps))
          return FPF_EXIT_USAGE;
        break;
      case 'R':
        if (whole_option("--rounds", optarg, 1, 100, &a->rounds))
          return FPF_EXIT_USAGE;
        break;
      case 'P': a->peers = 1; break;
      case 'f': a->profile = 1; break;
      case 'F': a->floor = 0; break;
      case 'o': a->json = optarg; break;
      case 'q': fpf_cli_verbosity = 0, quiet = 1; break;
      case 'v': fpf_cli_verbosity = 2, verbose = 1; break;
      case 'h': usage(stdout); return -1;
      default: return fpf_cli_bad_option("bench", ch, argv);
    }
  }
  if (optind < argc) {
    fpf_cli_error("bench: unexpected argument '%s'", argv[optind]);
    return FPF_EXIT_USAGE;
  }
  if (quiet && verbose) {
    fpf_cli_error("bench: -q and -v together: give one of them");
    return FPF_EXIT_USAGE;
  }
  if (fpf_cli_verbosity == 0 && !a->json) {
    fpf_cli_error("bench: -q without -o would show nothing: give -o "
                  "FILE.json, or drop -q");
    return FPF_EXIT_USAGE;
  }
  if (peer_dir_given && !a->peers)
    fpf_cli_error("bench: warning: --peer-dir is used only with --peers");
  return 0;
}

/* "s" after a count other than 1. */
static const char *plural(int n) { return n == 1 ? "" : "s"; }

/* -o FILE can be written: it is a regular file or absent, and a file can
 * be made next to it (checked now, not after minutes of measuring). */
static int json_path_ok(const char *path) {
  fpf_error e;
  if (!*path) {
    fpf_cli_error("bench: -o: an empty file name");
    return 0;
  }
  if (fpf_cli_output_ok(path, &e)) {
    fpf_cli_error("bench: %s", e.msg);
    return 0;
  }
  char probe[4200];
  snprintf(probe, sizeof probe, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(probe, "w");
  if (!f) {
    const char *slash = strrchr(path, '/');
    int len = slash ? (int)(slash - path) : 1;
    fpf_cli_error("bench: -o %s: cannot write there (the file is rewritten "
                  "through a new file in its directory, %.*s): %s", path,
                  slash == path ? 1 : len, slash ? path : ".",
                  strerror(errno));
    return 0;
  }
  fclose(f);
  remove(probe);
  return 1;
}

/* The peers can run: the interpreter and both scripts are there. */
static int peers_ok(const bench_args *a) {
  if (access("/usr/bin/python3", X_OK) != 0) {
    fpf_cli_error("bench: --peers needs /usr/bin/python3 (Debian's, with "
                  "NumPy and PyTorch): %s", strerror(errno));
    return 0;
  }
  const char *names[] = {"peer_numpy.py", "peer_torch.py"};
  for (int i = 0; i < 2; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", a->peer_dir, names[i]);
    if (access(p, R_OK) != 0) {
      fpf_cli_error("bench: --peer-dir %s: no %s there (%s)", a->peer_dir,
                    names[i], strerror(errno));
      return 0;
    }
  }
  return 1;
}

/* ---- the table -------------------------------------------------------- */

/* A time in ms with three significant figures or more. */
static const char *ms(char *buf, size_t n, double s) {
  double v = 1e3 * s;
  snprintf(buf, n,
           v >= 100   ? "%.1f"
           : v >= 1   ? "%.2f"
           : v >= 0.1 ? "%.3f"
                      : "%.3g",
           v);
  return buf;
}

/* A median this many times the fastest step: the machine was busy. */
#define UNSTEADY 1.5

static int unsteady(double median, double min) {
  return min > 0 && median > UNSTEADY * min;
}

/* A ratio to two decimals, or two figures below 0.1. */
static const char *ratio(char *buf, size_t n, double x) {
  snprintf(buf, n, x >= 0.1 ? "%.2f" : "%.2g", x);
  return buf;
}

/* A peer's cell: its time and fpflow over it, or why there is none. */
static void peer_cell(char *buf, size_t n, const bench_peer *p,
                      const bench_result *f, int refused) {
  char t[24], r[24];
  if (!p->ran) snprintf(buf, n, "-");
  else if (!p->ok) snprintf(buf, n, "failed");
  else if (refused) snprintf(buf, n, "refused");
  else
    snprintf(buf, n, "%8s  x%s", ms(t, sizeof t, p->median),
             ratio(r, sizeof r, f->median / p->median));
}

static cJSON *num(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* The CPU's model name (/proc/cpuinfo), or "unknown". */
static void cpu_model(char *buf, size_t n) {
  snprintf(buf, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *c = strchr(line, ':');
    if (strncmp(line, "model name", 10) || !c) continue;
    c += strspn(c + 1, " \t") + 1;
    c[strcspn(c, "\n")] = 0;
    snprintf(buf, n, "%s", c);
    break;
  }
  fclose(f);
}

/* What every JSON row carries besides its figures: where and when. */
typedef struct {
  char cpu[128], started[32];
} run_context;

static void row_start(cJSON *o, const run_context *rc, size_t n, size_t d,
                      const char *prec, int threads) {
  cJSON_AddStringToObject(o, "fpflow_version", FPFLOW_VERSION_STRING);
  cJSON_AddStringToObject(o, "cpu", rc->cpu);
  cJSON_AddStringToObject(o, "started_utc", rc->started);
  cJSON_AddNumberToObject(o, "N", (double)n);
  cJSON_AddNumberToObject(o, "d", (double)d);
  if (prec) cJSON_AddStringToObject(o, "precision", prec);
  if (threads) cJSON_AddNumberToObject(o, "threads", threads);
}

/* The rows so far into -o's file, after every row, so that an
 * interrupted run keeps the rows done.  0 or FPF_EXIT_FAIL. */
static int json_save(const cJSON *js, const char *path) {
  char *text = cJSON_Print(js);
  size_t len = text ? strlen(text) : 0;
  char *line = text ? realloc(text, len + 2) : NULL;
  fpf_error e;
  int bad = 0;
  if (line) strcpy(line + len, "\n");
  if (!line || fpf_cli_write_text(path, line, &e)) {
    fpf_cli_error("bench: %s", line ? e.msg : "no memory for JSON");
    bad = 1;
  }
  free(line ? line : text);
  return bad ? FPF_EXIT_FAIL : FPF_EXIT_OK;
}

/* A row that failed: its size, precision and threads, and why. */
static int json_failed_row(cJSON *js, const char *path,
                           const run_context *rc, size_t n, size_t d,
                           const char *prec, int threads, const char *why) {
  if (!js) return FPF_EXIT_OK;
  cJSON *o = cJSON_CreateObject();
  row_start(o, rc, n, d, prec, threads);
  cJSON_AddStringToObject(o, "error", why);
  cJSON_AddItemToArray(js, o);
  return json_save(js, path);
}

/* A peer's part of a JSON row. */
static void peer_json(cJSON *o, const char *name, const bench_peer *p,
                      const char *note) {
  char k[32];
  snprintf(k, sizeof k, "%s_s", name);
  cJSON_AddItemToObject(o, k, num(p->ok && !note ? p->median : NAN));
  snprintf(k, sizeof k, "%s_min_s", name);
  cJSON_AddItemToObject(o, k, num(p->ok && !note ? p->min : NAN));
  snprintf(k, sizeof k, "%s_max_s", name);
  cJSON_AddItemToObject(o, k, num(p->ok && !note ? p->max : NAN));
  snprintf(k, sizeof k, "%s_version", name);
  if (p->version[0]) cJSON_AddStringToObject(o, k, p->version);
  snprintf(k, sizeof k, "%s_note", name);
  if (note) cJSON_AddStringToObject(o, k, note);
  else if (p->ran && !p->ok) cJSON_AddStringToObject(o, k, p->err);
}

int fpf_cmd_bench(int argc, char **argv) {
  bench_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;
  size_nd sizes[MAX_SIZES];
  int threads[MAX_THREADS], prec[2], ns, nt, np;
  if (parse_sizes(a.sizes, sizes, &ns) ||
      parse_threads(a.threads, threads, &nt) ||
      parse_precisions(a.precisions, prec, &np) ||
      (a.json && !json_path_ok(a.json)) || (a.peers && !peers_ok(&a)))
    return FPF_EXIT_USAGE;
  /* a signal kills the measuring process too (its own process group) */
  fpf_bench_cleanup_on_signal(NULL, NULL);
  /* the particles go to the peers as a .npy file in here */
  char tmpdir[4096] = "";
  if (a.peers) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fpflow-bench.XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      fpf_cli_error("bench: cannot make a directory %s: %s", tmpdir,
                    strerror(errno));
      return FPF_EXIT_FAIL;
    }
    fpf_bench_cleanup_on_signal(NULL, tmpdir);
  }
  int table = fpf_cli_verbosity > 0;
  if (table) {
    printf("%-12s %-4s %3s  %-30s %6s %8s %7s", "N x d", "prec", "thr",
           "fpflow median (min-max) ms", "GF/s", "peak MB", "ws MB");
    if (a.floor) printf("  %-19s", "floor ms  x");
    if (a.peers)
      printf("  %-18s %-18s", "numpy ms  x", "torch ms  x");
    printf("\n");
  }
  cJSON *js = a.json ? cJSON_CreateArray() : NULL;
  run_context ctx;
  cpu_model(ctx.cpu, sizeof ctx.cpu);
  time_t now = time(NULL);
  strftime(ctx.started, sizeof ctx.started, "%Y-%m-%dT%H:%M:%SZ",
           gmtime(&now));
  int status = FPF_EXIT_OK, failed = 0; /* fatal; a row failed */
  for (int si = 0; si < ns && status == FPF_EXIT_OK; si++) {
    size_t n = sizes[si].n, d = sizes[si].d;
    int dense = n <= FPF_BENCH_DENSE_MAX;
    double *z = malloc(n * d * sizeof *z);
    if (!z) {
      fpf_cli_error("bench: no memory for N = %zu, d = %zu", n, d);
      failed = 1;
      status = json_failed_row(js, a.json, &ctx, n, d, NULL, 0,
                               "no memory for the particles");
      continue;
    }
    /* the dense step's flops at some 40 GFLOP/s a thread: say when a
       round will take long */
    double est = fpf_bench_flops((double)n, (double)d) / 4e10 *
                 (a.reps + a.warmup);
    if (d > 3 && est > 600)
      fpf_cli_info("bench: %zux%zu: about %.0f minutes a round on one "
                   "thread", n, d, est / 60);
    if (!dense && (a.peers || a.floor))
      fpf_cli_info("bench: %zux%zu: no %s above N = %d (the dense step)", n,
                   d, a.peers && a.floor ? "floor and no peers"
                                         : a.peers ? "peers" : "floor",
                   FPF_BENCH_DENSE_MAX);
    for (size_t i = 0; i < n; i++)
      fpf_rng_normals(2024, FPF_STREAM_USER, 0, i, z + i * d, d);
    bench_job j = {z, n, d, fpf_bench_bandwidth(z, n, d), 0, 0, NULL};
    char zpath[4200] = "";
    if (a.peers && dense) {
      snprintf(zpath, sizeof zpath, "%s/z_%zux%zu.npy", tmpdir, n, d);
      fpf_bench_cleanup_on_signal(zpath, tmpdir);
      fpf_error e;
      if (fpf_npy_write(zpath, z, 2, (size_t[]){n, d}, &e)) {
        fpf_cli_error("bench: %s", e.msg);
        free(z);
        status = FPF_EXIT_FAIL;
        break;
      }
      j.zpath = zpath;
    }
    for (int pi = 0; pi < np; pi++)
      for (int ti = 0; ti < nt; ti++) {
        j.f32 = prec[pi];
        j.threads = threads[ti];
        const char *pname = j.f32 ? "fp32" : "fp64";
        char size_txt[40];
        snprintf(size_txt, sizeof size_txt, "%zux%zu", n, d);
        bench_result f, fl;
        bench_peer pn, pt;
        fpf_bench_measure(&a, &j, &f, &fl, &pn, &pt);
        if (!f.ok) {
          failed = 1;
          fpf_cli_error("bench: %s %s on %d thread%s failed: %s", size_txt,
                        pname, j.threads, plural(j.threads),
                        f.err[0] ? f.err : "no reason");
          if (table)
            printf("%12s %-4s %3d  failed\n", size_txt, pname, j.threads);
          status = json_failed_row(js, a.json, &ctx, n, d, pname,
                                   j.threads, f.err[0] ? f.err : "no reason");
          continue;
        }
        /* the flop model is the dense step's: not for the binned KDE */
        double gf = f.binned ? NAN
                             : fpf_bench_flops((double)n, (double)d) /
                                   f.median / 1e9;
        /* which of fpflow's products ran in float */
        const char *floats = !j.f32                     ? "none"
                             : d <= FPF_KDE_DIRECT_MAX_D ? "none"
                             : d <= FPF_FLOW_SMALL_D     ? "kde"
                                                         : "all";
        char t1[24], t2[24], t3[24], floor_txt[80] = "-";
        if (fl.ok)
          snprintf(floor_txt, sizeof floor_txt, "%8s  x%s",
                   ms(t1, sizeof t1, fl.median),
                   ratio(t2, sizeof t2, f.median / fl.median));
        else if (fl.err[0] || (a.floor && dense)) {
          failed = 1;
          fpf_cli_error("bench: %s %s: the floor failed: %s", size_txt,
                        pname, fl.err[0] ? fl.err : "no reason");
          snprintf(floor_txt, sizeof floor_txt, "failed");
        }
        /* fp32 against a float peer: the agreement of two float runs;
           fpflow's binned KDE against the peers' exact sums likewise */
        double tol = j.f32 || f.binned ? 2e-3 : 1e-8;
        char why[2][256], c1[80] = "", c2[80] = "";
        const bench_peer *peer[2] = {&pn, &pt};
        const char *pnm[2] = {"numpy", "torch"};
        int refused[2] = {0, 0};
        for (int w = 0; w < 2; w++) {
          if (!peer[w]->ran) continue;
          if (!peer[w]->ok) {
            failed = 1;
            fpf_cli_error("bench: %s %s, %d thread%s: %s", size_txt, pname,
                          j.threads, plural(j.threads), peer[w]->err);
          } else if (!fpf_bench_agrees(&f, peer[w], tol, why[w],
                                       sizeof why[w])) {
            refused[w] = 1;
            failed = 1;
            fpf_cli_error("bench: %s %s, %d thread%s: the %s peer is "
                          "refused: %s", size_txt, pname, j.threads,
                          plural(j.threads), pnm[w], why[w]);
          }
        }
        peer_cell(c1, sizeof c1, &pn, &f, refused[0]);
        peer_cell(c2, sizeof c2, &pt, &f, refused[1]);
        /* a busy machine: a median far above the fastest step */
        const char *busy = unsteady(f.median, f.min)     ? "fpflow"
                           : unsteady(fl.median, fl.min) ? "the floor"
                           : pn.ok && unsteady(pn.median, pn.min) ? "numpy"
                           : pt.ok && unsteady(pt.median, pt.min) ? "torch"
                                                                  : NULL;
        if (busy)
          fpf_cli_error("bench: warning: %s %s, %d thread%s: %s's median "
                        "step is over %.1f x its fastest (a busy machine, "
                        "or its own threads fighting); this row's times "
                        "and ratios are not to be trusted", size_txt, pname,
                        j.threads, plural(j.threads), busy, UNSTEADY);
        if (table) {
          char gf_txt[16] = "-";
          if (isfinite(gf)) snprintf(gf_txt, sizeof gf_txt, "%.1f", gf);
          printf("%12s %-4s %3d  %8s (%8s-%8s)   %6s %8.1f %7.1f", size_txt,
                 pname, j.threads, ms(t1, sizeof t1, f.median),
                 ms(t2, sizeof t2, f.min), ms(t3, sizeof t3, f.max), gf_txt,
                 f.peak_kb / 1024.0, f.ws_kb / 1024.0);
          if (a.floor) printf("  %-19s", floor_txt);
          if (a.peers) printf("  %-18s %-18s", c1, c2);
          printf("\n");
          if (f.checked)
            printf("             %s KDE; against the exact sums at %d "
                   "particles: max |error of log rho| %.2g, max h |error "
                   "of the score| %.2g\n",
                   f.binned ? "binned" : "exact", FPF_BENCH_CHECK_POINTS,
                   f.err_lr, f.err_score);
          if (j.f32 && !strcmp(floats, "none"))
            printf("             fpflow's step at d = %zu: all in double "
                   "(single precision starts above d = %d)\n", d,
                   FPF_KDE_DIRECT_MAX_D);
          else if (j.f32 && !strcmp(floats, "kde"))
            printf("             fpflow's step at d = %zu: the KDE in "
                   "float, the d x d products in double (they go to float "
                   "above d = %d)\n", d, FPF_FLOW_SMALL_D);
          if (fpf_cli_verbosity > 1) {
            printf("             fpflow's steps in order (ms):");
            for (int q = 0; q < f.nt; q++) printf(" %.4g", 1e3 * f.t[q]);
            printf("\n");
          }
          if (a.profile) {
            printf("             phases (ms):");
            for (int q = 0; q < FPF_NPHASES; q++)
              if (f.phase[q] > 0)
                printf(" %s %.2f", fpf_phase_name(q), 1e3 * f.phase[q]);
            printf("\n");
          }
          fflush(stdout);
        }
        if (js) {
          cJSON *o = cJSON_CreateObject();
          row_start(o, &ctx, n, d, pname, j.threads);
          cJSON_AddStringToObject(o, "fpflow_float_parts", floats);
          cJSON_AddStringToObject(o, "kde", f.binned ? "binned" : "exact");
          cJSON_AddBoolToObject(o, "busy", busy != NULL);
          const char *keys[] = {"h",       "rounds",      "reps",
                                "median_s", "min_s",      "max_s",
                                "cpu_s",   "gflops",      "peak_rss_kb",
                                "workspace_kb", "floor_s", "log_C",
                                "S_dot",   "log_rho_mean"};
          double vals[] = {j.h, a.rounds, a.reps, f.median, f.min, f.max,
                           f.cpu, gf, (double)f.peak_kb, (double)f.ws_kb,
                           fl.ok ? fl.median : NAN, f.log_C, f.S_dot,
                           f.log_rho_mean};
          for (size_t q = 0; q < sizeof vals / sizeof vals[0]; q++)
            cJSON_AddItemToObject(o, keys[q], num(vals[q]));
          if (f.checked) {
            cJSON_AddItemToObject(o, "check_log_rho_err", num(f.err_lr));
            cJSON_AddItemToObject(o, "check_score_err", num(f.err_score));
          }
          cJSON *ph = cJSON_AddObjectToObject(o, "phases_s");
          for (int q = 0; q < FPF_NPHASES; q++)
            cJSON_AddItemToObject(ph, fpf_phase_name(q), num(f.phase[q]));
          for (int w = 0; w < 2 && a.peers; w++)
            peer_json(o, pnm[w], peer[w], refused[w] ? why[w] : NULL);
          cJSON_AddItemToArray(js, o);
          status = json_save(js, a.json);
        }
      }
    if (zpath[0]) remove(zpath);
    fpf_bench_cleanup_on_signal(NULL, tmpdir[0] ? tmpdir : NULL);
    free(z);
  }
  if (tmpdir[0]) rmdir(tmpdir);
  cJSON_Delete(js);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fpf_cli_error("bench: cannot write the table: %s", strerror(errno));
    return FPF_EXIT_FAIL;
  }
  if (failed && status == FPF_EXIT_OK) status = FPF_EXIT_FAIL;
  return status;
}
