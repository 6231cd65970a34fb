/* Allocation, reductions and logging helpers (internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

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

double fpf_logsumexp(const double *a, size_t n) {
  double m = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (a[i] > m) m = a[i];
  if (!isfinite(m)) return m;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += exp(a[i] - m);
  return m + log(s);
}

long fpf_find_nonfinite(const double *a, size_t n, size_t d, size_t *row,
                        size_t *col) {
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(a[i])) {
      if (row) *row = i / d;
      if (col) *col = i % d;
      return (long)i;
    }
  return -1;
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

void fpf_blas_single_thread(void) { openblas_set_num_threads(1); }

/* Rows per BLAS call: large enough for the kernels' full speed (a
 * 128 x 2048 x 1024 dgemm runs at the single-core peak), small enough to
 * share 2048 rows evenly over a few threads. */
#define ROW_CHUNK 128
/* Columns of F per block of the blocked syrk. */
#define COL_CHUNK 256

/* Output widths up to this take plain loops: the BLAS call costs more
 * than the arithmetic, and OpenBLAS's small-matrix path allocates. */
#define NARROW 32

static void gemm_narrow(size_t m, size_t n, size_t k, double alpha,
                        const double *A, size_t lda, const double *B,
                        size_t ldb, double beta, double *C, size_t ldc) {
#pragma omp parallel for schedule(static) if (m * n * k > 1000000)
  for (size_t i = 0; i < m; i++) {
    double acc[NARROW] = {0};
    for (size_t p = 0; p < k; p++) {
      double a = A[i * lda + p];
      for (size_t j = 0; j < n; j++) acc[j] += a * B[p * ldb + j];
    }
    for (size_t j = 0; j < n; j++)
      C[i * ldc + j] = alpha * acc[j] + (beta == 0 ? 0 : beta * C[i * ldc + j]);
  }
}

void fpf_gemm_rows(CBLAS_TRANSPOSE tb, size_t m, size_t n, size_t k,
                   double alpha, const double *A, size_t lda, const double *B,
                   size_t ldb, double beta, double *C, size_t ldc) {
  if (tb == CblasNoTrans && n <= NARROW) {
    gemm_narrow(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  size_t nb = (m + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp parallel for schedule(dynamic) if (nb > 1 && m * n * k > 1000000)
  for (size_t b = 0; b < nb; b++) {
    size_t r0 = b * ROW_CHUNK, r = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, (int)r, (int)n, (int)k,
                alpha, A + r0 * lda, (int)lda, B, (int)ldb, beta,
                C + r0 * ldc, (int)ldc);
  }
}

void fpf_syrk_lower(size_t n, size_t d, double alpha, const double *G,
                    double *F) {
  size_t nb = (d + COL_CHUNK - 1) / COL_CHUNK, ntask = nb * (nb + 1) / 2;
#pragma omp parallel for schedule(dynamic) if (ntask > 1)
  for (size_t t = 0; t < ntask; t++) {
    /* task t is block (I, J), I >= J, in row order of the triangle */
    size_t ib = 0;
    while ((ib + 1) * (ib + 2) / 2 <= t) ib++;
    size_t jb = t - ib * (ib + 1) / 2;
    size_t i0 = ib * COL_CHUNK, j0 = jb * COL_CHUNK;
    size_t bi = d - i0 < COL_CHUNK ? d - i0 : COL_CHUNK;
    size_t bj = d - j0 < COL_CHUNK ? d - j0 : COL_CHUNK;
    if (ib == jb)
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)bi, (int)n,
                  alpha, G + i0, (int)d, 0.0, F + i0 * d + i0, (int)d);
    else
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)bi, (int)bj,
                  (int)n, alpha, G + i0, (int)d, G + j0, (int)d, 0.0,
                  F + i0 * d + j0, (int)d);
  }
}

void fpf_trmm_rows(size_t m, size_t d, double alpha, const double *L,
                   double *B) {
  size_t nb = (m + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp parallel for schedule(dynamic) if (nb > 1 && m * d * d > 1000000)
  for (size_t b = 0; b < nb; b++) {
    size_t r0 = b * ROW_CHUNK, r = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans,
                CblasNonUnit, (int)r, (int)d, alpha, L, (int)d,
                B + r0 * d, (int)d);
  }
}
