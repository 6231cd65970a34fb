/*
 * Times the binned FFT KDE (src/kde_binned.h) and measures its error.
 *
 *   bench_binned [N] [d] [threads] [grid]   (defaults 1000000 2 2 0)
 *     N standard normal particles in R^d, Scott's bandwidth; 2 warm-up
 *     and 7 timed evaluations of log rho + score, then 7 of the flux
 *     divergence with v = -z.  Prints median, min and max wall time and
 *     the smallest process CPU time (all threads; OpenMP threads that
 *     spin while the FFTs run count too), then the error against the
 *     exact sums of kde.h at 1000 of the particles.
 *
 *   bench_binned --crossover [d] [threads]
 *     One exact and one binned evaluation at N = 1000 .. 32000, to place
 *     the size above which the binned method is faster.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpflow/fpflow.h"
#include "kde_binned.h"

#define REPS 7

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

static void report(const char *what, double *t, double *c) {
  qsort(t, REPS, sizeof *t, cmp);
  qsort(c, REPS, sizeof *c, cmp);
  printf("%-22s median %7.1f ms (min %7.1f, max %7.1f); cpu min %7.1f ms\n",
         what, 1e3 * t[REPS / 2], 1e3 * t[0], 1e3 * t[REPS - 1],
         1e3 * c[0]);
}

static double *particles(size_t n, size_t d) {
  double *z = malloc(n * d * sizeof *z);
  if (z) fpf_rng_normals(2024, 17, 0, 0, z, n * d);
  return z;
}

static int fail(const fpf_error *err) {
  fprintf(stderr, "bench_binned: %s\n", err->msg);
  return 1;
}

/* The error at every (n / 1000)-th particle against the exact sums. */
static int errors(const double *z, size_t n, size_t d, double h,
                  const double *lr, const double *sc) {
  size_t m = n < 1000 ? n : 1000, stride = n / m;
  double *x = malloc(m * d * sizeof *x), *el = malloc(m * sizeof *el);
  double *es = malloc(m * d * sizeof *es);
  fpf_error err;
  for (size_t k = 0; k < m; k++)
    memcpy(x + k * d, z + k * stride * d, d * sizeof *x);
  double t0 = now();
  if (fpf_kde_log_density(z, n, d, x, m, h, 0, el, es, &err))
    return fail(&err);
  double t1 = now(), e_lr = 0, r_lr = 0, e_sc = 0, s_max = 0;
  for (size_t k = 0; k < m; k++) {
    size_t i = k * stride;
    double e = fabs(lr[i] - el[k]), s2 = 0, n2 = 0;
    for (size_t c = 0; c < d; c++) {
      double t = sc[i * d + c] - es[k * d + c];
      s2 += t * t;
      n2 += es[k * d + c] * es[k * d + c];
    }
    e_lr = fmax(e_lr, e);
    r_lr += e * e;
    e_sc = fmax(e_sc, h * sqrt(s2));
    s_max = fmax(s_max, h * sqrt(n2));
  }
  printf("error at %zu particles (exact sums took %.1f s): max |d log rho| "
         "%.2e, rms %.2e; max h |d score| %.2e (max h |score| %.2f)\n", m,
         t1 - t0, e_lr, sqrt(r_lr / (double)m), e_sc, s_max);
  free(x);
  free(el);
  free(es);
  return 0;
}

static int crossover(size_t d, int threads) {
  fpf_set_threads(threads);
  printf("d = %zu, %d threads: one evaluation (log rho + score)\n", d,
         threads);
  for (size_t n = 1000; n <= 32000; n *= 2) {
    double *z = particles(n, d), h = pow((double)n, -1.0 / (double)(d + 4));
    double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
    fpf_error err;
    fpf_kde *k;
    fpf_kde_binned *b;
    if (fpf_kde_create(&k, n, d, NULL, &err) ||
        fpf_kde_binned_create(&b, n, d, 0, &err))
      return fail(&err);
    double t0 = now(), c0 = cpu();
    if (fpf_kde_eval(k, z, n, h, lr, sc, NULL, &err)) return fail(&err);
    double t1 = now(), c1 = cpu();
    if (fpf_kde_binned_eval(b, z, n, h, lr, sc, &err)) return fail(&err);
    double t2 = now(), c2 = cpu();
    printf("  N = %6zu: exact %8.1f ms (cpu %8.1f), binned %7.1f ms (cpu "
           "%7.1f)\n", n, 1e3 * (t1 - t0), 1e3 * (c1 - c0), 1e3 * (t2 - t1),
           1e3 * (c2 - c1));
    fpf_kde_destroy(k);
    fpf_kde_binned_destroy(b);
    free(z);
    free(lr);
    free(sc);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--crossover"))
    return crossover(argc > 2 ? strtoul(argv[2], NULL, 10) : 2,
                     argc > 3 ? atoi(argv[3]) : 2);
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
  size_t d = argc > 2 ? strtoul(argv[2], NULL, 10) : 2;
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  size_t grid = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
  fpf_set_threads(threads);
  fpf_error err;
  double *z = particles(n, d), h;
  double *lr = malloc(n * sizeof *lr), *sc = malloc(n * d * sizeof *sc);
  double *v = malloc(n * d * sizeof *v), *q = malloc(n * sizeof *q);
  if (!z || !lr || !sc || !v || !q) {
    fprintf(stderr, "bench_binned: out of memory for N = %zu\n", n);
    return 1;
  }
  for (size_t i = 0; i < n * d; i++) v[i] = -z[i];
  if (fpf_kde_bandwidth(z, n, d, FPF_BW_SCOTT, 0, &h, &err)) return fail(&err);
  fpf_kde_binned *b;
  if (fpf_kde_binned_create(&b, n, d, grid, &err)) return fail(&err);
  double t[REPS], c[REPS];
  for (int k = 0; k < REPS + 2; k++) {
    double t0 = now(), c0 = cpu();
    if (fpf_kde_binned_eval(b, z, n, h, lr, sc, &err)) return fail(&err);
    if (k >= 2) {
      t[k - 2] = now() - t0;
      c[k - 2] = cpu() - c0;
    }
  }
  fpf_kde_binned_info in;
  fpf_kde_binned_info_get(b, &in);
  printf("N = %zu, d = %zu, %d threads, h = %.4g; FFT %zu^%zu, grid %zu "
         "nodes in x, %.1f cells per h, %zu exact tails\n", n, d, threads,
         h, in.m, d, in.cells[0], in.cells_per_h, in.n_exact);
  report("log rho + score:", t, c);
  for (int k = 0; k < REPS; k++) {
    double t0 = now(), c0 = cpu();
    if (fpf_kde_binned_divergence(b, z, n, h, lr, v, NULL, q, &err))
      return fail(&err);
    t[k] = now() - t0;
    c[k] = cpu() - c0;
  }
  report("flux divergence:", t, c);
  printf("a-priori estimate: |d log rho| %.2e, h |d score| %.2e\n",
         in.log_rho_err, in.score_err);
  int rc = errors(z, n, d, h, lr, sc);
  fpf_kde_binned_destroy(b);
  free(z);
  free(lr);
  free(sc);
  free(v);
  free(q);
  return rc;
}
