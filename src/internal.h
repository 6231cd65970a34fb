/* Helpers shared by the library's source files; not installed. */
#ifndef FPF_INTERNAL_H
#define FPF_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "fpflow/status.h"

/* Cache-line aligned, zeroed allocation of n doubles (NULL on failure). */
double *fpf_dalloc(size_t n);
void fpf_dfree(double *p);

/* log(sum_i exp(a_i)), stable; -inf for an empty or all -inf input. */
double fpf_logsumexp(const double *a, size_t n);

/* The first non-finite entry of a (n x d), or -1; sets *row, *col. */
long fpf_find_nonfinite(const double *a, size_t n, size_t d, size_t *row,
                        size_t *col);

/* Routes a formatted message to an optional log callback. */
void fpf_logf(fpf_log_fn fn, void *user, fpf_log_level level,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Size n*m without overflow; 0 on overflow. */
static inline size_t fpf_mul_size(size_t n, size_t m) {
  if (n != 0 && m > (size_t)-1 / n) return 0;
  return n * m;
}

#define FPF_LOG2PI 1.8378770664093454836

#endif
