/*
 * Times one full fpflow step (KDE, drift, Fisher, Cholesky, noise, update,
 * metrics) on the quadratic L = |z|^2/2 with the parameters of the
 * project's NumPy and PyTorch peers: eta 0.01, lambda 0.001, c 1,
 * gamma 0.05, dt 0.01, and a fixed h with h^2 = mean_{i != j}
 * |z_i - z_j|^2 / (2 log N).  Prints median, min and max of 7 steps after
 * 2 warm-up steps.
 *
 *   bench_step [N] [d] [threads] [fp64|fp32] [steps]
 *                                (defaults 2048 1024 2 fp64 7)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fpflow/fpflow.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static const char usage[] =
    "usage: bench_step [N] [d] [threads] [fp64|fp32] [steps]\n"
    "Times one full fpflow step on N standard normal particles in d\n"
    "dimensions (L = |z|^2/2, the parameters of `fpflow bench`): the\n"
    "median, min and max of `steps` steps after 2 warm-up steps, and the\n"
    "mean time of each phase.  Defaults: 2048 1024 2 fp64 7.\n"
    "N 2 to 10^7, d 1 to 10^5, threads 1 to 1024, steps 1 to 1000.\n";

/* argv[i] as a whole number in [lo, hi], else def when absent; -1 and a
 * message naming it when it is not. */
static long whole(int argc, char **argv, int i, const char *name, long def,
                  long lo, long hi) {
  if (argc <= i) return def;
  char *end;
  errno = 0;
  long v = strtol(argv[i], &end, 10);
  if (errno || end == argv[i] || *end || v < lo || v > hi) {
    fprintf(stderr, "bench_step: %s = '%s': must be a whole number from "
                    "%ld to %ld\n%s", name, argv[i], lo, hi, usage);
    return -1;
  }
  return v;
}

int main(int argc, char **argv) {
  /* without OpenBLAS's idle pool, as the fpflow program runs (see
   * cli/main.c): with it, about one run in five had a step of 30 ms */
  const char *pool = getenv("OPENBLAS_NUM_THREADS");
  if ((!pool || strcmp(pool, "1")) && !setenv("OPENBLAS_NUM_THREADS", "1", 1))
    execv("/proc/self/exe", argv);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    }
  if (argc > 6) {
    fprintf(stderr, "bench_step: %d arguments, at most 5\n%s", argc - 1,
            usage);
    return 2;
  }
  long nl = whole(argc, argv, 1, "N", 2048, 2, 10000000);
  long dl = whole(argc, argv, 2, "d", 1024, 1, 100000);
  long tl = whole(argc, argv, 3, "threads", 2, 1, 1024);
  long sl = whole(argc, argv, 5, "steps", 7, 1, 1000);
  if (nl < 0 || dl < 0 || tl < 0 || sl < 0) return 2;
  if (argc > 4 && strcmp(argv[4], "fp32") && strcmp(argv[4], "fp64")) {
    fprintf(stderr, "bench_step: precision = '%s': fp64 or fp32\n%s",
            argv[4], usage);
    return 2;
  }
  size_t n = (size_t)nl, d = (size_t)dl;
  int threads = (int)tl, steps = (int)sl;
  int f32 = argc > 4 && !strcmp(argv[4], "fp32");
  fpf_set_threads(threads);
  double *z = malloc(n * d * sizeof *z), sq = 0, mean_sq = 0;
  double *m = calloc(d, sizeof *m);
  if (!z || !m) {
    fprintf(stderr, "bench_step: no memory for %zu x %zu particles\n", n, d);
    return 1;
  }
  for (size_t i = 0; i < n; i++) fpf_rng_normals(2024, 16, 0, i, z + i * d, d);
  for (size_t i = 0; i < n * d; i++) {
    sq += z[i] * z[i];
    m[i % d] += z[i] / (double)n;
  }
  for (size_t c = 0; c < d; c++) mean_sq += m[c] * m[c];
  double mpd = 2.0 * (sq / (double)n - mean_sq) * (double)n / (double)(n - 1);
  double h = sqrt(mpd / (2.0 * log((double)n)));
  fpf_error err;
  fpf_landscape *L;
  if (fpf_landscape_quadratic(&L, d, NULL, NULL, &err)) {
    fprintf(stderr, "bench_step: %s\n", err.msg);
    return 1;
  }
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.eta0 = 0.01;
  o.tau_eta = 1e300;
  o.D0 = 1.0;
  o.tau_D = 1e300;
  o.bandwidth = h;
  o.knn_k = 0;
  o.resets = 0;
  o.single_precision = f32;
  fpf_dyn *dy;
  if (fpf_dyn_create(&dy, L, n, z, &o, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double t[1000], c[1000], ph[FPF_NPHASES] = {0};
  for (int k = 0; k < steps + 2; k++) {
    fpf_dyn_set_particles(dy, z, NULL);
    double t0 = now(), c0 = cpu();
    if (fpf_dyn_step(dy, NULL, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    if (k >= 2) {
      t[k - 2] = now() - t0;
      c[k - 2] = cpu() - c0;
    }
    if (k == 1) {
      double junk[FPF_NPHASES] = {0};
      fpf_dyn_profile_take(dy, junk);
    }
  }
  fpf_dyn_profile_take(dy, ph);
  qsort(t, (size_t)steps, sizeof *t, cmp);
  qsort(c, (size_t)steps, sizeof *c, cmp);
  printf("N=%zu d=%zu threads=%d h=%.4g: median %.4g ms (min %.4g, max "
         "%.4g); cpu time min %.4g ms\n",
         n, d, threads, h, 1e3 * t[steps / 2], 1e3 * t[0], 1e3 * t[steps - 1],
         1e3 * c[0]);
  printf("  phases (ms per step):");
  for (int i = 0; i < FPF_NPHASES; i++)
    if (ph[i] > 0) printf(" %s %.3g", fpf_phase_name(i), 1e3 * ph[i] / steps);
  printf("\n");
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z);
  free(m);
  return 0;
}
