/*
 * The measurements behind `fpflow bench` (cmd_bench.c): fpflow's step
 * and the BLAS floor, each in a child process of its own, and the NumPy
 * and PyTorch peers (bench/peer_*.py), run without a shell.  A signal
 * kills the process measuring and removes the particles' file, so an
 * interrupted run leaves nothing behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "cli.h"
#include "fpflow/dyn.h"
#include "internal.h"

void openblas_set_num_threads(int num_threads);

/* The peers' parameters (bench/peer_numpy.py). */
#define ETA 0.01
#define LAMBDA 0.001
#define CDIFF 1.0
#define GAMMA 0.05
#define DT 0.01

/* ---- the flop model and the floor ---------------------------------- */

/* Flops of the step's products: Gram (syrk), weights x positions, F
 * (syrk), Cholesky, the noise product (trmm) and D s. */
double fpf_bench_flops(double n, double d) {
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

static void keep_times(bench_result *r, const double *t, int n) {
  r->nt = n < FPF_BENCH_MAX_REPS ? n : FPF_BENCH_MAX_REPS;
  memcpy(r->t, t, (size_t)r->nt * sizeof *t);
}

/* Adds n more samples to a pool of at most cap. */
static void pool_add(double *pool, int *np, int cap, const double *t, int n) {
  for (int i = 0; i < n && *np < cap; i++) pool[(*np)++] = t[i];
}

/*
 * The floor: the step's BLAS/LAPACK calls with OpenBLAS's own threads,
 * written once for both precisions (T, and the routines' first letter P):
 * Gram (syrk), weights x positions (gemm), F (syrk), its Cholesky factor
 * (potrf), the noise product (trmm) and D s (gemm).  Times go into t.
 */
#define FLOOR_STEPS(T, P)                                                    \
  static int floor_##P(size_t n, size_t d, int reps, double *t) {            \
    size_t nd = n * d;                                                       \
    T *Z = malloc(nd * sizeof *Z), *E = malloc(n * n * sizeof *E);           \
    T *F = malloc(d * d * sizeof *F), *S = malloc(nd * sizeof *S);           \
    int ok = Z && E && F && S;                                               \
    for (size_t i = 0; ok && i < nd; i++)                                    \
      Z[i] = (T)((double)(i * 7919 % 1000) * 1e-3);                          \
    for (int k = -2; ok && k < reps; k++) {                                  \
      double t0 = now();                                                     \
      cblas_##P##syrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)n,       \
                      (int)d, 1, Z, (int)d, 0, E, (int)n);                   \
      cblas_##P##gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,     \
                      (int)d, (int)n, 1, E, (int)n, Z, (int)d, 0, S, (int)d); \
      cblas_##P##syrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)n, \
                      1, Z, (int)d, 0, F, (int)d);                           \
      for (size_t i = 0; i < d; i++) F[i * d + i] += (T)n;                   \
      LAPACKE_##P##potrf_work(LAPACK_ROW_MAJOR, 'L', (int)d, F, (int)d);     \
      cblas_##P##trmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans,     \
                      CblasNonUnit, (int)n, (int)d, 1, F, (int)d, S, (int)d); \
      cblas_##P##gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,     \
                      (int)d, (int)d, 1, Z, (int)d, F, (int)d, 0, S, (int)d); \
      if (k >= 0) t[k] = now() - t0;                                         \
    }                                                                        \
    free(Z), free(E), free(F), free(S);                                      \
    return ok;                                                               \
  }
FLOOR_STEPS(float, s)
FLOOR_STEPS(double, d)

static void floor_child(size_t n, size_t d, int f32, int threads, int reps,
                        bench_result *r) {
  openblas_set_num_threads(threads);
  double *t = calloc((size_t)reps, sizeof *t);
  if (!t || !(f32 ? floor_s(n, d, reps, t) : floor_d(n, d, reps, t))) {
    snprintf(r->err, sizeof r->err, "no memory for the floor");
    free(t);
    return;
  }
  keep_times(r, t, reps);
  summarise(t, reps, &r->median, &r->min, &r->max);
  free(t);
  r->ok = 1;
}

/* ---- fpflow's step ---------------------------------------------------- */

double fpf_bench_bandwidth(const double *z, size_t n, size_t d) {
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

/* The flow's log rho and score at FPF_BENCH_CHECK_POINTS evenly spaced
 * particles against the exact sums over all n (the binned KDE's error). */
static void check_density(const fpf_flow *f, const double *z, size_t n,
                          size_t d, double h, bench_result *r) {
  size_t m = FPF_BENCH_CHECK_POINTS, stride = n / m;
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
                         bench_result *r) {
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
  r->binned = fpf_flow_kde_binned(fpf_dyn_flow(dy));
  if (r->binned || (d <= 3 && n > FPF_BENCH_CHECK_FROM))
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

/* ---- children and signals ------------------------------------------- */

/* What a signal cleans up: the process measuring (a process group of its
 * own) and the particles' file and directory. */
static volatile pid_t child_pid;
static char clean_path[4200], clean_dir[4200];

static void on_signal(int sig) {
  static const char msg[] = "fpflow: bench: interrupted; the rows already "
                            "printed (and in -o's file) are kept\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
  if (child_pid > 0) kill(-child_pid, SIGKILL);
  if (clean_path[0]) unlink(clean_path);
  if (clean_dir[0]) rmdir(clean_dir);
  signal(sig, SIG_DFL);
  raise(sig);
}

void fpf_bench_cleanup_on_signal(const char *path, const char *dir) {
  snprintf(clean_path, sizeof clean_path, "%s", path ? path : "");
  snprintf(clean_dir, sizeof clean_dir, "%s", dir ? dir : "");
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
  for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
    signal(sigs[i], on_signal);
}

/*
 * A measuring child with a pipe to it: its own process group and the
 * default signal actions.  Returns the pid (0 in the child, which writes
 * to *wfd) or -1 with the reason in err; the parent reads *rfd.
 */
static pid_t fork_piped(int *rfd, int *wfd, char *err, size_t n) {
  int fd[2];
  if (pipe(fd) != 0) {
    snprintf(err, n, "pipe failed: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
      signal(sigs[i], SIG_DFL);
    close(fd[0]);
    *wfd = fd[1];
    return 0;
  }
  close(fd[1]);
  if (pid < 0) {
    close(fd[0]);
    snprintf(err, n, "fork failed: %s", strerror(errno));
    return -1;
  }
  setpgid(pid, pid);
  child_pid = pid;
  *rfd = fd[0];
  return pid;
}

static void reap(pid_t pid, int *status) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  child_pid = 0;
}

/* fpflow's step (floor = 0) or the floor, in a child; the result comes
 * back through a pipe. */
static bench_result run_child(const bench_args *a, const bench_job *j,
                              int floor) {
  bench_result r;
  memset(&r, 0, sizeof r);
  int rfd = -1, wfd = -1;
  pid_t pid = fork_piped(&rfd, &wfd, r.err, sizeof r.err);
  if (pid < 0) return r;
  if (pid == 0) {
    if (floor)
      floor_child(j->n, j->d, j->f32, j->threads, a->reps, &r);
    else
      fpflow_child(j->z, j->n, j->d, j->h, j->f32, j->threads, a->reps,
                   a->warmup, &r);
    size_t w = 0;
    while (w < sizeof r) {
      ssize_t k = write(wfd, (const char *)&r + w, sizeof r - w);
      if (k <= 0) break;
      w += (size_t)k;
    }
    _exit(w == sizeof r ? 0 : 1);
  }
  /* the result is larger than a pipe's atomic write: read until whole */
  ssize_t got = 0;
  while (got < (ssize_t)sizeof r) {
    ssize_t k = read(rfd, (char *)&r + got, sizeof r - (size_t)got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += k;
  }
  close(rfd);
  reap(pid, NULL);
  if (got != (ssize_t)sizeof r) {
    memset(&r, 0, sizeof r);
    snprintf(r.err, sizeof r.err, "the measuring process died");
  }
  return r;
}

/* ---- the peers ------------------------------------------------------- */

#define PYTHON "/usr/bin/python3"

/* A peer's output: up to this much is read. */
#define PEER_OUT 65536

/* Runs bench/peer_WHICH.py (no shell) with the round's settings and
 * reads its JSON line; a peer gets 600 s plus 60 s a step. */
static bench_peer run_peer(const bench_args *a, const bench_job *j,
                           const char *which) {
  bench_peer r;
  memset(&r, 0, sizeof r);
  r.ran = 1;
  char script[4200], hs[32], reps[16], warm[16], th[16];
  snprintf(script, sizeof script, "%s/peer_%s.py", a->peer_dir, which);
  snprintf(hs, sizeof hs, "%.17g", j->h);
  snprintf(reps, sizeof reps, "%d", a->reps);
  snprintf(warm, sizeof warm, "%d", a->warmup);
  snprintf(th, sizeof th, "%d", j->threads);
  const char *argv[] = {PYTHON, script, j->zpath, hs, "--dtype",
                        j->f32 ? "float32" : "float64", "--reps", reps,
                        "--warmup", warm, "--threads", th, NULL};
  if (strcmp(which, "torch")) argv[10] = NULL; /* numpy: no --threads */
  int rfd = -1, wfd = -1;
  pid_t pid = fork_piped(&rfd, &wfd, r.err, sizeof r.err);
  if (pid < 0) return r;
  if (pid == 0) {
    dup2(wfd, 1);
    dup2(wfd, 2);
    setenv("OPENBLAS_NUM_THREADS", th, 1);
    setenv("OMP_NUM_THREADS", th, 1);
    execv(PYTHON, (char *const *)argv);
    fprintf(stderr, "cannot run %s: %s", PYTHON, strerror(errno));
    _exit(127);
  }
  static char out[PEER_OUT];
  size_t len = 0;
  int timeout_ms = 1000 * (600 + 60 * (a->reps + a->warmup)), timed_out = 0;
  double t0 = fpf_cli_now();
  while (len < sizeof out - 1) {
    int left = timeout_ms - (int)(1000 * (fpf_cli_now() - t0));
    struct pollfd p = {rfd, POLLIN, 0};
    int k = left > 0 ? poll(&p, 1, left) : 0;
    if (k < 0 && errno == EINTR) continue;
    if (k == 0) {
      timed_out = 1;
      kill(-pid, SIGKILL);
      break;
    }
    ssize_t got = read(rfd, out + len, sizeof out - 1 - len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    len += (size_t)got;
  }
  out[len] = '\0';
  close(rfd);
  int status = -1;
  reap(pid, &status);
  const char *line = strstr(out, "{\"peer\"");
  cJSON *js = line ? cJSON_Parse(line) : NULL;
  if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !js) {
    /* the last line says most (a Python traceback ends with the error) */
    char *end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == ' ')) *--end = '\0';
    const char *last = strrchr(out, '\n');
    last = last ? last + 1 : out;
    if (timed_out)
      snprintf(r.err, sizeof r.err, "%s peer: no answer after %d s", which,
               timeout_ms / 1000);
    else if (line && !js)
      snprintf(r.err, sizeof r.err, "%s peer (%.150s): its reply is not "
               "valid JSON (a NaN or a cut line?): %.250s", which, script,
               line);
    else
      snprintf(r.err, sizeof r.err, "%s peer (%.150s) failed: %.300s", which,
               script, *last ? last : "no output");
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
  cJSON_ArrayForEach(t, ts) if (cJSON_IsNumber(t) && r.nt < FPF_BENCH_MAX_REPS)
      r.t[r.nt++] = t->valuedouble;
  cJSON *v = cJSON_GetObjectItemCaseSensitive(js, "version");
  if (cJSON_IsString(v))
    snprintf(r.version, sizeof r.version, "%s", v->valuestring);
  cJSON_Delete(js);
  r.ok = r.nt > 0;
  if (!r.ok) snprintf(r.err, sizeof r.err, "%s peer gave no step times", which);
  return r;
}

int fpf_bench_agrees(const bench_result *f, const bench_peer *p, double tol,
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

/* ---- rounds ---------------------------------------------------------- */

void fpf_bench_measure(const bench_args *a, const bench_job *j,
                       bench_result *f, bench_result *fl, bench_peer *pn,
                       bench_peer *pt) {
  memset(f, 0, sizeof *f);
  memset(fl, 0, sizeof *fl);
  memset(pn, 0, sizeof *pn);
  memset(pt, 0, sizeof *pt);
  int cap = a->rounds * a->reps, dense = j->n <= FPF_BENCH_DENSE_MAX;
  int cnt[4] = {0};
  double *pool[4];
  for (int q = 0; q < 4; q++) pool[q] = malloc((size_t)cap * sizeof **pool);
  if (!pool[0] || !pool[1] || !pool[2] || !pool[3]) {
    snprintf(f->err, sizeof f->err, "no memory for %d step times", cap);
    for (int q = 0; q < 4; q++) free(pool[q]);
    return;
  }
  double phase[FPF_NPHASES] = {0}, cpu = 0;
  for (int r = 0; r < a->rounds; r++) {
    bench_result x = run_child(a, j, 0);
    if (!x.ok) {
      *f = x;
      break;
    }
    if (r == 0) *f = x;
    for (int q = 0; q < FPF_NPHASES; q++) phase[q] += x.phase[q] / a->rounds;
    cpu += x.cpu / a->rounds;
    if (x.peak_kb > f->peak_kb) f->peak_kb = x.peak_kb;
    pool_add(pool[0], &cnt[0], cap, x.t, x.nt);
    for (int w = 0; w < 2 && a->peers && dense && j->zpath; w++) {
      bench_peer *p = w ? pt : pn;
      if (r > 0 && !p->ok) continue; /* it failed: once is enough */
      bench_peer y = run_peer(a, j, w ? "torch" : "numpy");
      if (r == 0 || !y.ok) *p = y;
      if (y.ok) pool_add(pool[1 + w], &cnt[1 + w], cap, y.t, y.nt);
    }
    if (a->floor && dense) {
      bench_result y = run_child(a, j, 1);
      if (r == 0 || !y.ok) *fl = y;
      if (y.ok) pool_add(pool[3], &cnt[3], cap, y.t, y.nt);
    }
  }
  if (f->ok) {
    memcpy(f->phase, phase, sizeof phase);
    f->cpu = cpu;
    keep_times(f, pool[0], cnt[0]); /* every round's, in order */
    summarise(pool[0], cnt[0], &f->median, &f->min, &f->max);
  }
  if (pn->ok) summarise(pool[1], cnt[1], &pn->median, &pn->min, &pn->max);
  if (pt->ok) summarise(pool[2], cnt[2], &pt->median, &pt->min, &pt->max);
  if (fl->ok) summarise(pool[3], cnt[3], &fl->median, &fl->min, &fl->max);
  for (int q = 0; q < 4; q++) free(pool[q]);
}
