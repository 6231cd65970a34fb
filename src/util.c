/* Allocation, reductions and logging helpers (internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#include <lapacke.h>

void openblas_set_num_threads(int num_threads);

double *fpf_dalloc(size_t n) {
  size_t bytes = fpf_mul_size(n ? n : 1, sizeof(double));
  if (!bytes) return NULL;
  bytes = (bytes + 63) & ~(size_t)63;
  double *p = aligned_alloc(64, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void fpf_dfree(double *p) { free(p); }

float *fpf_falloc(size_t n) {
  size_t bytes = fpf_mul_size(n ? n : 1, sizeof(float));
  if (!bytes) return NULL;
  bytes = (bytes + 63) & ~(size_t)63;
  float *p = aligned_alloc(64, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

double fpf_logsumexp(const double *a, size_t n) {
  double m = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (a[i] > m) m = a[i];
  if (!isfinite(m)) return m;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += exp(a[i] - m);
  return m + log(s);
}

/* Lanes of the vectorised sums below. */
#define LANES 8

/* x * 0 is 0 for every finite x and NaN otherwise, so a sum of such
 * products, which the compiler vectorises, tells whether to look at all.
 * Its order does not matter (0 or NaN either way), so chunks of it can
 * go to the threads. */
double fpf_nonfinite_mark(const double *a, size_t m) {
  double z[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= m; j += LANES)
    for (int l = 0; l < LANES; l++) z[l] += a[j + l] * 0.0;
  for (; j < m; j++) z[0] += a[j] * 0.0;
  double t = 0;
  for (int l = 0; l < LANES; l++) t += z[l];
  return t;
}

long fpf_find_nonfinite(const double *a, size_t n, size_t d, size_t *row,
                        size_t *col) {
  size_t m = n * d, nc = (m + FINITE_CHUNK - 1) / FINITE_CHUNK;
  double t = 0;
#pragma omp parallel for schedule(static) reduction(+ : t) \
    if (m * 4 > FPF_PAR_MIN)
  for (size_t c = 0; c < nc; c++) {
    size_t j = c * FINITE_CHUNK;
    t += fpf_nonfinite_mark(a + j,
                            m - j < FINITE_CHUNK ? m - j : FINITE_CHUNK);
  }
  if (t == 0) return -1;
  for (size_t i = 0; i < m; i++)
    if (!isfinite(a[i])) {
      if (row) *row = i / d;
      if (col) *col = i % d;
      return (long)i;
    }
  return -1;
}

fpf_status fpf_check_output_path(const char *path, fpf_error *err) {
  struct stat st;
  if (lstat(path, &st) != 0 || S_ISREG(st.st_mode)) return FPF_OK;
  return fpf_error_set(err, FPF_EIO,
                       "%s exists and is not a regular file (%s); fpflow "
                       "replaces only regular files",
                       path, S_ISLNK(st.st_mode)   ? "a symbolic link"
                             : S_ISDIR(st.st_mode) ? "a directory"
                                                   : "a device or special "
                                                     "file");
}

void fpf_logf(fpf_log_fn fn, void *user, fpf_log_level level,
              const char *fmt, ...) {
  if (!fn) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fn(user, level, buf);
}

void fpf_to_float(const double *a, float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > FPF_PAR_MIN)
  for (size_t i = 0; i < n; i++) b[i] = (float)a[i];
}

void fpf_to_double(const float *a, double *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > FPF_PAR_MIN)
  for (size_t i = 0; i < n; i++) b[i] = (double)a[i];
}

/*
 * exp(x) for x <= 0 (the KDE's exponents), in place.  x = k ln2 + r with
 * |r| <= ln2/2, k found by adding 1.5 2^52 (which rounds x log2(e) to an
 * integer and leaves it in the low bits), e^r by a degree-11 polynomial
 * fitted on Chebyshev nodes (truncation 4e-18 relative), and 2^k added to
 * the result's exponent bits.  Results below e^-707 (~1e-307, where 2^k
 * would leave the normal range) are 0.  Largest relative error 2.2e-16
 * over [-707, 0] (tests/test_kde.c checks it against long double).
 *
 * Written on vectors as wide as the target's registers, with masks for
 * the range: as a plain loop with ?: the compiler vectorised it for
 * AVX-512 but, for AVX2, split the loop on the branch and left it
 * scalar (3.8 ns an exp against 0.5 here).
 */
static inline fpf_vd exp_nonpos_v(fpf_vd x) {
  const double log2e = 1.4426950408889634074, shift = 0x1.8p52,
               ln2_hi = 6.93147180369123816490e-01,
               ln2_lo = 1.90821492927058770002e-10, lo = -707.0;
  /* all ones where x >= -707 or x is NaN (which stays NaN) */
  fpf_vd_bits live = ~(fpf_vd_bits)(x < lo);
  fpf_vd v = fpf_vd_pick(live, x, (fpf_vd){0} + lo);
  fpf_vd t = v * log2e + shift; /* k in the low bits of t */
  fpf_vd kf = t - shift;
  fpf_vd r = (v - kf * ln2_hi) - kf * ln2_lo;
  fpf_vd p = r * 2.5110037605963777e-08 + 2.763263963904103e-07;
  p = p * r + 2.755724091857897e-06;
  p = p * r + 2.4801485482328494e-05;
  p = p * r + 0.00019841269890047113;
  p = p * r + 0.0013888888952314775;
  p = p * r + 0.008333333333319601;
  p = p * r + 0.0416666666664881;
  p = p * r + 0.1666666666666668;
  p = p * r + 0.5000000000000019;
  p = p * r + 1.0;
  p = p * r + 1.0;
  /* p 2^k (mod 2^64): k >= -1020 keeps it normal */
  fpf_vd_bits y = (fpf_vd_bits)p + ((fpf_vd_bits)t << 52);
  return (fpf_vd)(y & live);
}

/* The same in single precision for x <= 0: degree 6 (truncation 2.5e-9
 * relative), 0 below e^-87. */
static inline fpf_vf expf_nonpos_v(fpf_vf x) {
  const float log2e = 1.44269504f, shift = 0x1.8p23f,
              ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-6f, lo = -87.0f;
  fpf_vf_bits live = ~(fpf_vf_bits)(x < lo);
  fpf_vf v = fpf_vf_pick(live, x, (fpf_vf){0} + lo);
  fpf_vf t = v * log2e + shift;
  fpf_vf kf = t - shift;
  fpf_vf r = (v - kf * ln2_hi) - kf * ln2_lo;
  fpf_vf p = r * 0.0013941108433972674f + 0.008375126398153335f;
  p = p * r + 0.04166635289677516f;
  p = p * r + 0.16666415514653277f;
  p = p * r + 0.5000000047117757f;
  p = p * r + 1.000000037716214f;
  p = p * r + 1.0f;
  fpf_vf_bits y = (fpf_vf_bits)p + ((fpf_vf_bits)t << 23);
  return (fpf_vf)(y & live);
}

/* Whole vectors in place, the tail through a vector padded with 0. */
#define MAP_VECTORS(T, V, F, x, n)                           \
  do {                                                       \
    enum { L_ = sizeof(V) / sizeof(T) };                     \
    size_t i_ = 0;                                           \
    for (; i_ + L_ <= (n); i_ += L_)                         \
      *(V *)((x) + i_) = F(*(const V *)((x) + i_));          \
    if (i_ < (n)) {                                          \
      V t_ = {0};                                            \
      memcpy(&t_, (x) + i_, ((n) - i_) * sizeof(T));         \
      t_ = F(t_);                                            \
      memcpy((x) + i_, &t_, ((n) - i_) * sizeof(T));         \
    }                                                        \
  } while (0)

void fpf_exp_nonpos(double *x, size_t n) {
  MAP_VECTORS(double, fpf_vd, exp_nonpos_v, x, n);
}

void fpf_expf_nonpos(float *x, size_t n) {
  MAP_VECTORS(float, fpf_vf, expf_nonpos_v, x, n);
}

double fpf_sum(const double *x, size_t n) {
  double a[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++) a[l] += x[j + l];
  for (; j < n; j++) a[0] += x[j];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

double fpf_sumf(const float *x, size_t n) {
  double a[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++) a[l] += (double)x[j + l];
  for (; j < n; j++) a[0] += (double)x[j];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

double fpf_dot(const double *x, const double *y, size_t n) {
  double a[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++) a[l] += x[j + l] * y[j + l];
  for (; j < n; j++) a[0] += x[j] * y[j];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

double fpf_max(const double *x, size_t n) {
  double a[LANES];
  for (int l = 0; l < LANES; l++) a[l] = -INFINITY;
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++) a[l] = x[j + l] > a[l] ? x[j + l] : a[l];
  for (; j < n; j++) a[0] = x[j] > a[0] ? x[j] : a[0];
  double m = a[0];
  for (int l = 1; l < LANES; l++) m = a[l] > m ? a[l] : m;
  return m;
}

void fpf_blas_single_thread(void) { openblas_set_num_threads(1); }

size_t fpf_block_rows(size_t n) {
  size_t rows = n / 4;
  if (rows > 512) rows = 512;
  if (rows < 16) rows = 16;
  return rows;
}

/* Rows per BLAS call: large enough for the kernels' full speed (a
 * 128 x 2048 x 1024 dgemm runs at the single-core peak), small enough to
 * share 2048 rows evenly over a few threads. */
#define ROW_CHUNK 512
/* Columns of F per block of the blocked syrk. */
#define COL_CHUNK 256

/* Output widths up to this take plain loops: the BLAS call costs more
 * than the arithmetic, and OpenBLAS's small-matrix path allocates. */
#define NARROW 32
/* Block of the blocked Cholesky factorisation. */
#define CHOL_BLOCK 128

#define R double
#define FN(name) fpf_##name
#define GEMM cblas_dgemm
#define SYRK cblas_dsyrk
#define TRMM cblas_dtrmm
#define TRSM cblas_dtrsm
#define POTRF LAPACKE_dpotrf_work
#define ROWS_GEMM 1
#include "blas_blocks.inc"
#undef ROWS_GEMM
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef TRMM
#undef TRSM
#undef POTRF

#define R float
#define FN(name) fpf_s##name
#define GEMM cblas_sgemm
#define SYRK cblas_ssyrk
#define TRMM cblas_strmm
#define TRSM cblas_strsm
#define POTRF LAPACKE_spotrf_work
#define ROWS_GEMM 0
#include "blas_blocks.inc"
#undef ROWS_GEMM
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef TRMM
#undef TRSM
#undef POTRF
