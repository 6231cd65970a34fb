/*
 * fpflow bench: the measurements (bench_run.c) and the command around
 * them (cmd_bench.c).
 */
#ifndef FPF_CLI_BENCH_H
#define FPF_CLI_BENCH_H

#include <stddef.h>

#include "fpflow/flow.h"

/* Most timed steps of one child (--reps). */
#define FPF_BENCH_MAX_REPS 1000
/* Above this N the dense step is too large for the floor and the peers. */
#define FPF_BENCH_DENSE_MAX 16384
/* From this N on, a step in d <= 3 is checked against the exact kernel
 * sums at FPF_BENCH_CHECK_POINTS particles. */
#define FPF_BENCH_CHECK_FROM 4096
#define FPF_BENCH_CHECK_POINTS 1000

typedef struct bench_args {
  char sizes[256], precisions[64], threads[64];
  int reps, rounds, warmup, peers, profile, floor;
  const char *json;
  char peer_dir[4096];
} bench_args;

/* One configuration: what is measured and how often. */
typedef struct bench_job {
  const double *z; /* the particles (n x d) */
  size_t n, d;
  double h;
  int f32, threads;
  const char *zpath; /* the particles as .npy for the peers, or NULL */
} bench_job;

/* fpflow's step or the floor, over all rounds. */
typedef struct bench_result {
  int ok;
  double median, min, max, cpu;
  int nt; /* step times in t */
  double t[FPF_BENCH_MAX_REPS];
  double log_C, S_dot, log_rho_mean; /* of the first step */
  double phase[FPF_NPHASES];         /* mean per step */
  long peak_kb, ws_kb; /* peak RSS; RSS that creating the dynamics added */
  /* d <= 3, large N: max |error of log rho| and max h |error of the
     score| against the exact sums at FPF_BENCH_CHECK_POINTS particles */
  int checked;
  double err_lr, err_score;
  int binned; /* the step's KDE took the binned sums */
  char err[256];
} bench_result;

/* A peer (NumPy or PyTorch) over all rounds. */
typedef struct bench_peer {
  int ok, ran;
  double median, min, max, log_C, S_dot, log_rho_mean;
  int nt;
  double t[FPF_BENCH_MAX_REPS];
  char version[64], err[512];
} bench_peer;

/* Flops of the dense step's products. */
double fpf_bench_flops(double n, double d);

/* The bandwidth of the benchmark: h^2 = mean pairwise |z_i - z_j|^2 /
 * (2 log n). */
double fpf_bench_bandwidth(const double *z, size_t n, size_t d);

/* Runs --rounds rounds of fpflow, the peers (a->peers, n small enough)
 * and the floor (a->floor) in turn; figures over all rounds' steps. */
void fpf_bench_measure(const bench_args *a, const bench_job *j,
                       bench_result *f, bench_result *fl, bench_peer *pn,
                       bench_peer *pt);

/* Whether a peer computed fpflow's step: log C, S_dot and the mean log
 * rho within tol (relative); otherwise why not, in why. */
int fpf_bench_agrees(const bench_result *f, const bench_peer *p, double tol,
                     char *why, size_t n);

/* Signals (INT, TERM, HUP, PIPE) kill the process measuring and remove
 * path and dir (either may be NULL) before the program dies of them. */
void fpf_bench_cleanup_on_signal(const char *path, const char *dir);

#endif
