/* Allocation, reductions and logging helpers (internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) b[i] = (float)a[i];
}

void fpf_to_double(const float *a, double *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) b[i] = (double)a[i];
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

#define R double
#define FN(name) fpf_##name
#define GEMM cblas_dgemm
#define SYRK cblas_dsyrk
#define TRMM cblas_dtrmm
#include "blas_blocks.inc"
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef TRMM

#define R float
#define FN(name) fpf_s##name
#define GEMM cblas_sgemm
#define SYRK cblas_ssyrk
#define TRMM cblas_strmm
#include "blas_blocks.inc"
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef TRMM
