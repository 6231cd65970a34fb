/*
 * The modular-addition data set and its train/test split (grok.h).
 *
 * Pair index q = a p + b.  The split shuffles the p^2 indices with
 * Fisher-Yates driven by Philox uniforms keyed by the seed, so it is a
 * pure function of (p, fraction, seed); each side is then sorted, which
 * fixes the order in which full-batch sums visit the samples.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/grok.h"
#include "fpflow/rng.h"

/* The Philox stream of the split (rng.h leaves values >= 16 to users). */
#define STREAM_SPLIT (FPF_STREAM_USER + 0x40)

/* Largest modulus: p^2 pairs and p x p tables stay small. */
#define P_MAX 4096

struct fpf_grok_data {
  long p;
  size_t n_train, n_test;
  int *train, *test; /* 2n ints each */
};

static int cmp_long(const void *x, const void *y) {
  long a = *(const long *)x, b = *(const long *)y;
  return (a > b) - (a < b);
}

static void fill_pairs(int *out, const long *idx, size_t n, long p) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = (int)(idx[i] / p);
    out[2 * i + 1] = (int)(idx[i] % p);
  }
}

fpf_status fpf_grok_data_create(fpf_grok_data **out, long p,
                                double train_fraction, uint64_t seed,
                                fpf_error *err) {
  *out = NULL;
  if (p < 2 || p > P_MAX)
    return fpf_error_set(err, FPF_EINVAL, "p = %ld: must be in 2..%d", p,
                         P_MAX);
  size_t total = (size_t)p * (size_t)p;
  double want = round(train_fraction * (double)total);
  if (!(train_fraction > 0 && train_fraction < 1) || want < 1 ||
      want > (double)(total - 1))
    return fpf_error_set(err, FPF_EINVAL,
                         "train_fraction = %g: with p = %ld it must leave at "
                         "least one of the %zu pairs for training and one "
                         "for testing", train_fraction, p, total);
  fpf_grok_data *d = calloc(1, sizeof *d);
  long *idx = malloc(total * sizeof *idx);
  double *u = malloc(total * sizeof *u);
  if (d) d->train = malloc(2 * total * sizeof *d->train);
  if (!d || !idx || !u || !d->train) {
    free(idx);
    free(u);
    fpf_grok_data_destroy(d);
    return fpf_error_set(err, FPF_ENOMEM, "data: no memory for p = %ld", p);
  }

  /* Fisher-Yates: position i swaps with a uniform pick in [i, total). */
  fpf_rng_uniforms(seed, STREAM_SPLIT, (uint64_t)p, 0, u, total);
  for (size_t i = 0; i < total; i++) idx[i] = (long)i;
  for (size_t i = 0; i + 1 < total; i++) {
    size_t j = i + (size_t)(u[i] * (double)(total - i));
    if (j >= total) j = total - 1;
    long t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }

  d->p = p;
  d->n_train = (size_t)want;
  d->n_test = total - d->n_train;
  qsort(idx, d->n_train, sizeof *idx, cmp_long);
  qsort(idx + d->n_train, d->n_test, sizeof *idx, cmp_long);
  d->test = d->train + 2 * d->n_train;
  fill_pairs(d->train, idx, d->n_train, p);
  fill_pairs(d->test, idx + d->n_train, d->n_test, p);
  free(idx);
  free(u);
  *out = d;
  return FPF_OK;
}

void fpf_grok_data_destroy(fpf_grok_data *d) {
  if (!d) return;
  free(d->train);
  free(d);
}

long fpf_grok_data_p(const fpf_grok_data *d) { return d->p; }

size_t fpf_grok_data_train(const fpf_grok_data *d, const int **pairs) {
  if (pairs) *pairs = d->train;
  return d->n_train;
}

size_t fpf_grok_data_test(const fpf_grok_data *d, const int **pairs) {
  if (pairs) *pairs = d->test;
  return d->n_test;
}
