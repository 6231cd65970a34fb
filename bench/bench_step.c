/*
 * Times one full fpflow step (KDE, drift, Fisher, Cholesky, noise, update,
 * metrics) on the quadratic L = |z|^2/2 with the parameters of the
 * project's NumPy and PyTorch peers: eta 0.01, lambda 0.001, c 1,
 * gamma 0.05, dt 0.01, and a fixed h with h^2 = mean_{i != j}
 * |z_i - z_j|^2 / (2 log N).  Prints median, min and max of 7 steps after
 * 2 warm-up steps.
 *
 *   bench_step [N] [d] [threads] [fp32] [steps]
 *                                (defaults 2048 1024 2 fp64 7)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048;
  size_t d = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  int f32 = argc > 4 && strcmp(argv[4], "fp32") == 0;
  int steps = argc > 5 ? atoi(argv[5]) : 7;
  if (n < 2 || d < 1 || threads < 1) {
    fprintf(stderr, "usage: bench_step [N >= 2] [d >= 1] [threads >= 1] "
                    "[fp32] [steps 1-1000]\n");
    return 2;
  }
  if (steps < 1 || steps > 1000) {
    fprintf(stderr, "bench_step: steps = %s: must be 1 to 1000\n", argv[5]);
    return 2;
  }
  fpf_set_threads(threads);
  double *z = malloc(n * d * sizeof *z), sq = 0, mean_sq = 0;
  for (size_t i = 0; i < n; i++) fpf_rng_normals(2024, 16, 0, i, z + i * d, d);
  double *m = calloc(d, sizeof *m);
  for (size_t i = 0; i < n * d; i++) {
    sq += z[i] * z[i];
    m[i % d] += z[i] / (double)n;
  }
  for (size_t c = 0; c < d; c++) mean_sq += m[c] * m[c];
  double mpd = 2.0 * (sq / (double)n - mean_sq) * (double)n / (double)(n - 1);
  double h = sqrt(mpd / (2.0 * log((double)n)));
  fpf_error err;
  fpf_landscape *L;
  fpf_landscape_quadratic(&L, d, NULL, NULL, &err);
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
