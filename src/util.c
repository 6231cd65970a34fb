/* Allocation, reductions and logging helpers (internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

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
