/*
 * fpflow bench: one full step (KDE, drift, Fisher, Cholesky, noise,
 * update, metrics) timed at a few sizes, precisions and thread counts,
 * beside the BLAS floor of the same step and, with --peers, beside NumPy
 * and PyTorch versions of the same mathematics (bench/peer_*.py).
 *
 * Every measurement runs in a child process of its own, so that its
 * thread settings and its peak memory are its own.  The peers read the
 * same particles (a .npy file) and the same bandwidth, and their metrics
 * of the step must agree with fpflow's before a ratio is printed.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <getopt.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fpflow/dyn.h"
#include "fpflow/npy.h"
#include "fpflow/rng.h"
#include "internal.h"

void openblas_set_num_threads(int num_threads);

/* The peers' parameters (bench/peer_numpy.py). */
#define ETA 0.01
#define LAMBDA 0.001
#define CDIFF 1.0
#define GAMMA 0.05
#define DT 0.01

typedef struct bench_args {
  char sizes[256], precisions[64], threads[64];
  int reps, rounds, warmup, peers, profile, floor;
  const char *json;
  const char *peer_dir;
} bench_args;

/* What one child reports back through its pipe. */
/* Most timed steps of one child (--reps). */
#define MAX_REPS 1000

typedef struct result {
  int ok;
  double median, min, max, cpu;
  int nt;              /* step times in t */
  double t[MAX_REPS];
  double log_C, S_dot, log_rho_mean;
  double phase[FPF_NPHASES];
  long peak_kb, ws_kb; /* peak RSS; RSS that creating the dynamics added */
  /* d <= 3, large N: the step's log rho and score against the exact sums
     on a subsample (max |error of log rho|, max h |error of the score|) */
  int checked;
  double err_lr, err_score;
  char err[256];
} result;

typedef struct peer_result {
  int ok;
  double median, min, max, log_C, S_dot, log_rho_mean;
  int nt;
  double t[MAX_REPS];
  char version[64], err[256];
} peer_result;

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow bench [--sizes NxD,...] [--precision fp64,fp32]\n"
          "                    [--threads 2,1] [--reps R] [--rounds K]\n"
          "                    [--peers] [--profile] [--no-floor]\n"
          "                    [-o FILE.json]\n\n"
          "Times one full fpflow step (KDE, drift, Fisher, Cholesky, noise,\n"
          "update, metrics) on L = |z|^2/2 with eta 0.01, lambda 0.001,\n"
          "c 1, gamma 0.05, dt 0.01 and h^2 = mean pairwise |z_i - z_j|^2 /\n"
          "(2 log N): median, min and max of K rounds of R steps (each\n"
          "after 2 warm-up steps), GFLOP/s and peak memory (x: over the\n"
          "particles plus the workspace fpflow made).  The floor is the\n"
          "time of the step's BLAS and LAPACK calls alone at this\n"
          "machine's rate.  fpflow, the peers and the floor take turns in\n"
          "every round, so that a drift of the machine's speed touches\n"
          "them alike; 'x' columns are fpflow's median over theirs (below 1:\n"
          "fpflow is faster).\n\n"
          "options:\n"
          "  --sizes LIST      N x d sizes (2048x1024,500x2,256x32)\n"
          "  --precision LIST  fp64 and/or fp32 (fp64,fp32)\n"
          "  --threads LIST    thread counts (2,1)\n"
          "  --reps R          timed steps per round, 7 to 1000 (7)\n"
          "  --rounds K        rounds, 1 to 100 (3)\n"
          "  --peers           also time bench/peer_numpy.py and\n"
          "                    bench/peer_torch.py (Debian's\n"
          "                    /usr/bin/python3) on the same particles and\n"
          "                    print fpflow/peer; refused when their\n"
          "                    log C, S_dot or mean log rho differ\n"
          "  --peer-dir DIR    where the peer scripts are (the source's\n"
          "                    bench/)\n"
          "  --profile         time each phase of fpflow's step\n"
          "  --no-floor        skip the BLAS floor\n"
          "  -o FILE           also write every figure as JSON\n"
          "  -q, -v, -h        quiet, verbose, this text\n");
}

/* ---- the flop model and the floor ---------------------------------- */

/* Flops of the step's products: Gram (syrk), weights x positions, F
 * (syrk), Cholesky, the noise product (trmm) and D s. */
static double step_flops(double n, double d) {
  return n * (n + 1) * d + 2 * n * n * d + d * (d + 1) * n +
         d * d * d / 3 + n * d * d + 2 * n * d * d;
}

static double now(void) { return fpf_cli_now(); }

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void summarise(double *t, int n, double *med, double *mn, double *mx) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  *med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  *mn = t[0];
  *mx = t[n - 1];
}

static void keep_times(result *r, const double *t, int n) {
  r->nt = n < MAX_REPS ? n : MAX_REPS;
  memcpy(r->t, t, (size_t)r->nt * sizeof *t);
}

/* Adds n more samples to a pool of at most cap. */
static void pool_add(double *pool, int *np, int cap, const double *t, int n) {
  for (int i = 0; i < n && *np < cap; i++) pool[(*np)++] = t[i];
}

/* The floor: the same BLAS/LAPACK calls with OpenBLAS's own threads. */
static void floor_child(size_t n, size_t d, int f32, int threads, int reps,
                        result *r) {
  openblas_set_num_threads(threads);
  size_t nd = n * d;
  double *t = calloc((size_t)reps, sizeof *t);
  if (f32) {
    float *Z = malloc(nd * 4), *E = malloc(n * n * 4), *F = malloc(d * d * 4),
          *P = malloc(nd * 4);
    if (!Z || !E || !F || !P || !t) return;
    for (size_t i = 0; i < nd; i++) Z[i] = (float)((i * 7919 % 1000) * 1e-3);
    for (int k = -2; k < reps; k++) {
      double t0 = now();
      cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)n, (int)d, 1,
                  Z, (int)d, 0, E, (int)n);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d,
                  (int)n, 1, E, (int)n, Z, (int)d, 0, P, (int)d);
      cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)n, 1,
                  Z, (int)d, 0, F, (int)d);
      for (size_t i = 0; i < d; i++) F[i * d + i] += (float)n;
      LAPACKE_spotrf_work(LAPACK_ROW_MAJOR, 'L', (int)d, F, (int)d);
      cblas_strmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans,
                  CblasNonUnit, (int)n, (int)d, 1, F, (int)d, P, (int)d);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d,
                  (int)d, 1, Z, (int)d, F, (int)d, 0, P, (int)d);
      if (k >= 0) t[k] = now() - t0;
    }
    free(Z), free(E), free(F), free(P);
  } else {
    double *Z = malloc(nd * 8), *E = malloc(n * n * 8), *F = malloc(d * d * 8),
           *P = malloc(nd * 8);
    if (!Z || !E || !F || !P || !t) return;
    for (size_t i = 0; i < nd; i++) Z[i] = (double)(i * 7919 % 1000) * 1e-3;
    for (int k = -2; k < reps; k++) {
      double t0 = now();
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)n, (int)d, 1,
                  Z, (int)d, 0, E, (int)n);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d,
                  (int)n, 1, E, (int)n, Z, (int)d, 0, P, (int)d);
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)n, 1,
                  Z, (int)d, 0, F, (int)d);
      for (size_t i = 0; i < d; i++) F[i * d + i] += (double)n;
      LAPACKE_dpotrf_work(LAPACK_ROW_MAJOR, 'L', (int)d, F, (int)d);
      cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans,
                  CblasNonUnit, (int)n, (int)d, 1, F, (int)d, P, (int)d);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d,
                  (int)d, 1, Z, (int)d, F, (int)d, 0, P, (int)d);
      if (k >= 0) t[k] = now() - t0;
    }
    free(Z), free(E), free(F), free(P);
  }
  keep_times(r, t, reps);
  summarise(t, reps, &r->median, &r->min, &r->max);
  free(t);
  r->ok = 1;
}

/* ---- fpflow's step ---------------------------------------------------- */

static double bench_bandwidth(const double *z, size_t n, size_t d) {
  double sq = 0, msq = 0, *m = calloc(d, sizeof *m);
  for (size_t i = 0; i < n * d; i++) {
    sq += z[i] * z[i];
    m[i % d] += z[i] / (double)n;
  }
  for (size_t c = 0; c < d; c++) msq += m[c] * m[c];
  free(m);
  double mpd = 2.0 * (sq / (double)n - msq) * (double)n / (double)(n - 1);
  return sqrt(mpd / (2.0 * log((double)n)));
}

/* This process's resident memory (kB), or 0. */
static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = 0;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
  if (f) fclose(f);
  return v;
}

/* Sizes from which a low-dimensional step is checked against the exact
 * kernel sums, and the particles the check takes. */
#define BINNED_CHECK_FROM 4096
#define CHECK_POINTS 1000

/* The flow's log rho and score at CHECK_POINTS evenly spaced particles
 * against the exact sums over all n (the binned KDE's error). */
static void check_density(const fpf_flow *f, const double *z, size_t n,
                          size_t d, double h, result *r) {
  size_t m = CHECK_POINTS, stride = n / m;
  double *x = malloc(m * d * sizeof *x), *lr = malloc(m * sizeof *lr);
  double *sc = malloc(m * d * sizeof *sc);
  fpf_kde_options ko;
  fpf_kde_options_init(&ko);
  ko.method = FPF_KDE_EXACT;
  fpf_kde *k = NULL;
  if (x && lr && sc && !fpf_kde_create(&k, n, d, &ko, NULL)) {
    for (size_t i = 0; i < m; i++)
      memcpy(x + i * d, z + i * stride * d, d * sizeof *x);
    if (!fpf_kde_eval_at(k, z, n, x, m, h, lr, sc, NULL)) {
      const double *flr = fpf_flow_log_density(f), *fs = fpf_flow_score(f);
      for (size_t i = 0; i < m; i++) {
        size_t j = i * stride;
        r->err_lr = fmax(r->err_lr, fabs(flr[j] - lr[i]));
        for (size_t c = 0; c < d; c++)
          r->err_score =
              fmax(r->err_score, h * fabs(fs[j * d + c] - sc[i * d + c]));
      }
      r->checked = 1;
    }
  }
  fpf_kde_destroy(k);
  free(x);
  free(lr);
  free(sc);
}

static void fpflow_child(const double *z, size_t n, size_t d, double h,
                         int f32, int threads, int reps, int warmup,
                         result *r) {
  fpf_set_threads(threads);
  fpf_error err;
  fpf_landscape *L = NULL;
  fpf_dyn *dy = NULL;
  double *t = calloc((size_t)reps, sizeof *t), *c = calloc((size_t)reps, 8);
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.eta0 = ETA, o.tau_eta = 1e300, o.lambda = LAMBDA, o.D0 = CDIFF;
  o.tau_D = 1e300, o.gamma = GAMMA, o.dt = DT, o.bandwidth = h;
  o.knn_k = 0, o.resets = 0, o.single_precision = f32;
  long rss0 = rss_kb();
  if (fpf_landscape_quadratic(&L, d, NULL, NULL, &err) ||
      fpf_dyn_create(&dy, L, n, z, &o, &err)) {
    snprintf(r->err, sizeof r->err, "%.250s", err.msg);
    return;
  }
  long ws_kb = rss_kb() - rss0;
  for (int k = 0; k < warmup + reps; k++) {
    fpf_metrics m;
    fpf_dyn_set_particles(dy, z, NULL);
    if (k == warmup) {
      double junk[FPF_NPHASES] = {0};
      fpf_dyn_profile_take(dy, junk);
    }
    double t0 = now(), c0 = cpu_now();
    if (fpf_dyn_step(dy, &m, &err)) {
      snprintf(r->err, sizeof r->err, "%.250s", err.msg);
      return;
    }
    if (k == 0) {
      const double *lr = fpf_flow_log_density(fpf_dyn_flow(dy));
      double s = 0;
      for (size_t i = 0; i < n; i++) s += lr[i];
      r->log_C = m.log_C;
      r->S_dot = m.S_dot;
      r->log_rho_mean = s / (double)n;
    }
    if (k >= warmup) {
      t[k - warmup] = now() - t0;
      c[k - warmup] = cpu_now() - c0;
    }
  }
  fpf_dyn_profile_take(dy, r->phase);
  for (int i = 0; i < FPF_NPHASES; i++) r->phase[i] /= reps;
  /* the last step was taken from z: its density is at z */
  if (d <= 3 && n > BINNED_CHECK_FROM)
    check_density(fpf_dyn_flow(dy), z, n, d, h, r);
  keep_times(r, t, reps);
  summarise(t, reps, &r->median, &r->min, &r->max);
  double cmed, cmin, cmax;
  summarise(c, reps, &cmed, &cmin, &cmax);
  r->cpu = cmed;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  r->peak_kb = ru.ru_maxrss;
  r->ws_kb = ws_kb;
  r->ok = 1;
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(t);
  free(c);
}

/* Runs one measurement in a child and reads its result back. */
typedef struct job {
  int kind; /* 0 fpflow, 1 floor */
  const double *z;
  size_t n, d;
  double h;
  int f32, threads, reps, warmup;
} job;

static result run_child(const job *j) {
  result r;
  memset(&r, 0, sizeof r);
  int fd[2];
  if (pipe(fd) != 0) {
    snprintf(r.err, sizeof r.err, "pipe failed");
    return r;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    if (j->kind == 0)
      fpflow_child(j->z, j->n, j->d, j->h, j->f32, j->threads, j->reps,
                   j->warmup, &r);
    else
      floor_child(j->n, j->d, j->f32, j->threads, j->reps, &r);
    size_t w = 0;
    while (w < sizeof r) {
      ssize_t k = write(fd[1], (const char *)&r + w, sizeof r - w);
      if (k <= 0) break;
      w += (size_t)k;
    }
    _exit(w == sizeof r ? 0 : 1);
  }
  close(fd[1]);
  /* the result is larger than a pipe's atomic write: read until whole */
  ssize_t got = 0;
  while (pid > 0 && got < (ssize_t)sizeof r) {
    ssize_t k = read(fd[0], (char *)&r + got, sizeof r - (size_t)got);
    if (k <= 0) break;
    got += k;
  }
  close(fd[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  if (got != (ssize_t)sizeof r) {
    memset(&r, 0, sizeof r);
    snprintf(r.err, sizeof r.err, "the measuring process died");
  }
  return r;
}

/* ---- the peers ------------------------------------------------------- */

static peer_result run_peer(const bench_args *a, const char *which,
                            const char *zpath, double h, int f32,
                            int threads) {
  peer_result r;
  memset(&r, 0, sizeof r);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d /usr/bin/python3 "
           "%s/peer_%s.py %s %.17g --dtype %s --reps %d --warmup %d "
           "%s 2>&1",
           threads, threads, a->peer_dir, which, zpath, h,
           f32 ? "float32" : "float64", a->reps, a->warmup,
           strcmp(which, "torch") ? "" : (threads == 1 ? "--threads 1"
                                                       : "--threads 2"));
  FILE *p = popen(cmd, "r");
  static char out[65536];
  size_t len = p ? fread(out, 1, sizeof out - 1, p) : 0;
  out[len] = '\0';
  int rc = p ? pclose(p) : -1;
  const char *line = strstr(out, "{\"peer\"");
  cJSON *js = line ? cJSON_Parse(line) : NULL;
  if (rc != 0 || !js) {
    snprintf(r.err, sizeof r.err, "%s peer failed: %.200s", which, out);
    cJSON_Delete(js);
    return r;
  }
  double *dst[] = {&r.median, &r.min, &r.max, &r.log_C, &r.S_dot,
                   &r.log_rho_mean};
  const char *key[] = {"median_s", "min_s", "max_s", "log_C", "S_dot",
                       "log_rho_mean"};
  for (int i = 0; i < 6; i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(js, key[i]);
    *dst[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  }
  cJSON *ts = cJSON_GetObjectItemCaseSensitive(js, "times_s"), *t;
  cJSON_ArrayForEach(t, ts) if (cJSON_IsNumber(t) && r.nt < MAX_REPS)
      r.t[r.nt++] = t->valuedouble;
  cJSON *v = cJSON_GetObjectItemCaseSensitive(js, "version");
  if (cJSON_IsString(v)) snprintf(r.version, sizeof r.version, "%s",
                                  v->valuestring);
  cJSON_Delete(js);
  r.ok = r.nt > 0;
  if (!r.ok) snprintf(r.err, sizeof r.err, "%s peer gave no times", which);
  return r;
}

/* The peer computed the same step: metrics within tol (relative). */
static int agrees(const result *f, const peer_result *p, double tol,
                  char *why, size_t n) {
  double a[3] = {f->log_C, f->S_dot, f->log_rho_mean};
  double b[3] = {p->log_C, p->S_dot, p->log_rho_mean};
  const char *name[3] = {"log C", "S_dot", "mean log rho"};
  for (int i = 0; i < 3; i++) {
    double e = fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1e-12);
    if (!(e <= tol)) {
      snprintf(why, n, "%s differs: fpflow %.10g, peer %.10g (rel %.1e > "
               "%.0e)", name[i], a[i], b[i], e, tol);
      return 0;
    }
  }
  return 1;
}

/* ---- the driver ------------------------------------------------------ */

static int parse_list(const char *s, const char *what, long *v, int cap,
                      int *nv) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  *nv = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *end;
    long x = strtol(tok, &end, 10);
    if (*end || x < 1 || x > 1024 || *nv >= cap) {
      fpf_cli_error("bench: %s: '%s' is not a whole number from 1 to 1024",
                    what, tok);
      return -1;
    }
    v[(*nv)++] = x;
  }
  return 0;
}

/* A whole number from lo to hi for option name; -1 (said) otherwise. */
static int whole_option(const char *name, const char *val, long lo, long hi,
                        int *out) {
  char *end;
  long r = strtol(val, &end, 10);
  if (*val == '\0' || *end || r < lo || r > hi) {
    fpf_cli_error("bench: %s '%s': a whole number from %ld to %ld", name,
                  val, lo, hi);
    return -1;
  }
  *out = (int)r;
  return 0;
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
  a->peer_dir = FPF_SOURCE_DIR "/bench";
  optind = 1;
  int ch;
  while ((ch = getopt_long(argc, argv, "o:qvh", opts, NULL)) != -1) {
    switch (ch) {
      case 's': snprintf(a->sizes, sizeof a->sizes, "%s", optarg); break;
      case 'p':
        snprintf(a->precisions, sizeof a->precisions, "%s", optarg);
        break;
      case 't': snprintf(a->threads, sizeof a->threads, "%s", optarg); break;
      case 'r':
        if (whole_option("--reps", optarg, 7, 1000, &a->reps))
          return FPF_EXIT_USAGE;
        break;
      case 'R':
        if (whole_option("--rounds", optarg, 1, 100, &a->rounds))
          return FPF_EXIT_USAGE;
        break;
      case 'P': a->peers = 1; break;
      case 'D': a->peer_dir = optarg; break;
      case 'f': a->profile = 1; break;
      case 'F': a->floor = 0; break;
      case 'o': a->json = optarg; break;
      case 'q': fpf_cli_verbosity = 0; break;
      case 'v': fpf_cli_verbosity = 2; break;
      case 'h': usage(stdout); return -1;
      default:
        fprintf(stderr, "try 'fpflow bench --help'\n");
        return FPF_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fpf_cli_error("bench: unexpected argument '%s'", argv[optind]);
    return FPF_EXIT_USAGE;
  }
  return 0;
}

typedef struct size_nd {
  size_t n, d;
} size_nd;

static int parse_sizes(const char *s, size_nd *v, int cap, int *nv) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  *nv = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    unsigned long n, d;
    char tail;
    if (sscanf(tok, "%lux%lu%c", &n, &d, &tail) != 2 || n < 2 || d < 1 ||
        n > 10000000 || d > 100000 || *nv >= cap) {
      fpf_cli_error("bench: --sizes: '%s' is not NxD (2 <= N, 1 <= D, both "
                    "<= 10^7 and 10^5)", tok);
      return -1;
    }
    v[*nv].n = n;
    v[(*nv)++].d = d;
  }
  return 0;
}

static int parse_precisions(const char *s, int *v, int *nv) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", s);
  *nv = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (*nv >= 2 || (strcmp(tok, "fp64") && strcmp(tok, "fp32"))) {
      fpf_cli_error("bench: --precision: '%s' is not fp64 or fp32", tok);
      return -1;
    }
    v[(*nv)++] = !strcmp(tok, "fp32");
  }
  return 0;
}

static void ratio_text(char *buf, size_t n, const peer_result *p,
                       const result *f, double tol) {
  char why[256];
  if (!p->ok)
    snprintf(buf, n, "%s", "failed");
  else if (!agrees(f, p, tol, why, sizeof why))
    snprintf(buf, n, "refused: %.200s", why);
  else
    snprintf(buf, n, "%8.2f ms  x%.2f", 1e3 * p->median,
             f->median / p->median);
}

/*
 * One configuration in --rounds rounds of fpflow, the peers and the
 * floor in turn, so that a drift of the machine's speed touches all of
 * them alike; the figures are taken over all rounds' steps.  The peers
 * and the floor stop at n > 16384 (the dense step).
 */
static void measure(const bench_args *a, job *j, const char *zpath,
                    result *f, result *fl, peer_result *pn,
                    peer_result *pt) {
  memset(f, 0, sizeof *f);
  memset(fl, 0, sizeof *fl);
  memset(pn, 0, sizeof *pn);
  memset(pt, 0, sizeof *pt);
  int cap = a->rounds * a->reps, dense = j->n <= 16384;
  int cnt[4] = {0};
  double *pool[4];
  for (int q = 0; q < 4; q++) pool[q] = malloc((size_t)cap * sizeof **pool);
  double phase[FPF_NPHASES] = {0}, cpu = 0;
  for (int r = 0; r < a->rounds; r++) {
    j->kind = 0;
    result x = run_child(j);
    if (!x.ok) {
      *f = x;
      break;
    }
    if (r == 0) *f = x;
    for (int q = 0; q < FPF_NPHASES; q++) phase[q] += x.phase[q] / a->rounds;
    cpu += x.cpu / a->rounds;
    if (x.peak_kb > f->peak_kb) f->peak_kb = x.peak_kb;
    pool_add(pool[0], &cnt[0], cap, x.t, x.nt);
    for (int w = 0; w < 2 && a->peers && dense; w++) {
      peer_result *p = w ? pt : pn;
      if (r > 0 && !p->ok) continue; /* it failed: said once */
      peer_result y = run_peer(a, w ? "torch" : "numpy", zpath, j->h, j->f32,
                               j->threads);
      if (r == 0 || !y.ok) *p = y;
      if (y.ok) pool_add(pool[1 + w], &cnt[1 + w], cap, y.t, y.nt);
    }
    if (a->floor && dense) {
      j->kind = 1;
      result y = run_child(j);
      if (r == 0 || !y.ok) *fl = y;
      if (y.ok) pool_add(pool[3], &cnt[3], cap, y.t, y.nt);
    }
  }
  if (f->ok) {
    memcpy(f->phase, phase, sizeof phase);
    f->cpu = cpu;
    summarise(pool[0], cnt[0], &f->median, &f->min, &f->max);
  }
  if (pn->ok) summarise(pool[1], cnt[1], &pn->median, &pn->min, &pn->max);
  if (pt->ok) summarise(pool[2], cnt[2], &pt->median, &pt->min, &pt->max);
  if (fl->ok) summarise(pool[3], cnt[3], &fl->median, &fl->min, &fl->max);
  for (int q = 0; q < 4; q++) free(pool[q]);
}

int fpf_cmd_bench(int argc, char **argv) {
  bench_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;
  size_nd sizes[16];
  long threads[8];
  int prec[2], ns, nt, np;
  if (parse_sizes(a.sizes, sizes, 16, &ns) ||
      parse_list(a.threads, "--threads", threads, 8, &nt) ||
      parse_precisions(a.precisions, prec, &np))
    return FPF_EXIT_USAGE;
  cJSON *js = NULL;
  if (a.json) {
    fpf_error e;
    if (fpf_cli_output_ok(a.json, &e)) {
      fpf_cli_error("bench: %s", e.msg);
      return FPF_EXIT_USAGE;
    }
    js = cJSON_CreateArray();
  }
  /* the particles go to the peers as a .npy file in here */
  char tmpdir[] = "/tmp/fpflow-bench.XXXXXX";
  if (!mkdtemp(tmpdir)) {
    fpf_cli_error("bench: cannot make a temporary directory in /tmp");
    cJSON_Delete(js);
    return FPF_EXIT_FAIL;
  }
  printf("%-10s %-5s %3s  %-28s %7s %-15s  %-19s", "N x d", "prec", "thr",
         "fpflow median (min-max) ms", "GF/s", "peak MB (x)", "floor ms x");
  if (a.peers)
    printf("  %-26s %-26s", "numpy ms  x (fpflow/np)",
           "torch ms  x (fpflow/torch)");
  printf("\n");
  int status = FPF_EXIT_OK, failed = 0; /* fatal; a measurement failed */
  for (int si = 0; si < ns && status == FPF_EXIT_OK; si++) {
    size_t n = sizes[si].n, d = sizes[si].d;
    double *z = malloc(n * d * sizeof *z);
    if (!z) {
      fpf_cli_error("bench: no memory for N = %zu, d = %zu", n, d);
      status = FPF_EXIT_FAIL;
      break;
    }
    for (size_t i = 0; i < n; i++)
      fpf_rng_normals(2024, FPF_STREAM_USER, 0, i, z + i * d, d);
    double h = bench_bandwidth(z, n, d);
    char zpath[256];
    snprintf(zpath, sizeof zpath, "%s/z_%zux%zu.npy", tmpdir, n, d);
    fpf_error e;
    if (fpf_npy_write(zpath, z, 2, (size_t[]){n, d}, &e)) {
      fpf_cli_error("bench: %s", e.msg);
      free(z);
      status = FPF_EXIT_FAIL;
      break;
    }
    for (int pi = 0; pi < np; pi++)
      for (int ti = 0; ti < nt; ti++) {
        int f32 = prec[pi], th = (int)threads[ti];
        job j = {0, z, n, d, h, f32, th, a.reps, a.warmup};
        result f, fl;
        peer_result pn, pt;
        measure(&a, &j, zpath, &f, &fl, &pn, &pt);
        if (!f.ok) {
          failed = 1;
          printf("%5zux%-4zu %-5s %3d  failed: %s\n", n, d,
                 f32 ? "fp32" : "fp64", th, f.err);
          continue;
        }
        /* the flop model is the dense step's; binned runs show none */
        double gf = n <= 16384
                        ? step_flops((double)n, (double)d) / f.median / 1e9
                        : NAN;
        char floor_txt[64] = "-";
        if (fl.ok)
          snprintf(floor_txt, sizeof floor_txt, "%8.2f  x%.2f",
                   1e3 * fl.median, f.median / fl.median);
        /* peak memory over the particles (n x d doubles) plus what
           creating the dynamics added (its workspace) */
        double mem_x = (double)f.peak_kb /
                       ((double)(n * d * sizeof(double)) / 1024.0 +
                        (double)f.ws_kb);
        printf("%5zux%-4zu %-5s %3d  %8.2f (%7.2f-%8.2f) %7.1f %6.1f (x%.2f)  "
               "%-19s",
               n, d, f32 ? "fp32" : "fp64", th, 1e3 * f.median, 1e3 * f.min,
               1e3 * f.max, gf, f.peak_kb / 1024.0, mem_x, floor_txt);
        /* fp32 against a float peer: the agreement of two float runs */
        double tol = f32 ? 2e-3 : 1e-8;
        if (a.peers) {
          char t1[256], t2[256];
          ratio_text(t1, sizeof t1, &pn, &f, tol);
          ratio_text(t2, sizeof t2, &pt, &f, tol);
          printf("  %-26s %-26s", t1, t2);
        }
        printf("\n");
        if (f.checked)
          printf("           against the exact sums at %d particles: max "
                 "|error of log rho| %.2g, max h |error of the score| %.2g\n",
                 CHECK_POINTS, f.err_lr, f.err_score);
        if (a.profile) {
          printf("           phases (ms):");
          for (int q = 0; q < FPF_NPHASES; q++)
            if (f.phase[q] > 0)
              printf(" %s %.2f", fpf_phase_name(q), 1e3 * f.phase[q]);
          printf("\n");
        }
        if (!pn.ok && a.peers && pn.err[0]) fpf_cli_debug("%s", pn.err);
        if (!pt.ok && a.peers && pt.err[0]) fpf_cli_debug("%s", pt.err);
        fflush(stdout);
        if (js) {
          cJSON *o = cJSON_CreateObject();
          const char *keys[] = {"N",       "d",     "threads", "h",
                                "median_s", "min_s", "max_s",   "cpu_s",
                                "gflops",  "peak_rss_kb", "workspace_kb",
                                "floor_s",
                                "numpy_s", "torch_s", "log_C", "S_dot"};
          double vals[] = {(double)n, (double)d, th, h, f.median, f.min,
                           f.max, f.cpu, gf, (double)f.peak_kb,
                           (double)f.ws_kb,
                           fl.ok ? fl.median : NAN, pn.ok ? pn.median : NAN,
                           pt.ok ? pt.median : NAN, f.log_C, f.S_dot};
          cJSON_AddStringToObject(o, "precision", f32 ? "fp32" : "fp64");
          for (size_t q = 0; q < sizeof vals / sizeof vals[0]; q++)
            cJSON_AddItemToObject(o, keys[q],
                                  isfinite(vals[q])
                                      ? cJSON_CreateNumber(vals[q])
                                      : cJSON_CreateNull());
          cJSON_AddItemToArray(js, o);
        }
      }
    remove(zpath);
    free(z);
  }
  rmdir(tmpdir);
  if (failed && status == FPF_EXIT_OK) status = FPF_EXIT_FAIL;
  if (js) {
    char *text = cJSON_Print(js);
    FILE *f = text ? fopen(a.json, "w") : NULL;
    int ok = f && fputs(text, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    free(text);
    cJSON_Delete(js);
    if (!ok) {
      fpf_cli_error("bench: cannot write %s", a.json);
      return FPF_EXIT_FAIL;
    }
  }
  return status;
}
