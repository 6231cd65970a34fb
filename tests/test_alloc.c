/*
 * A step allocates nothing: this program interposes malloc and its
 * relatives, and counts the calls made while dynamics step (with resets,
 * the median bandwidth, the k-NN entropy and the flux divergence on) after
 * warm-up steps (one with a reset), when OpenMP and OpenBLAS have set up
 * their threads and buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/dyn.h"
#include "fpflow/rng.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static volatile long calls;

void *malloc(size_t n) {
  if (counting) __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (counting) __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (counting) __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
  if (counting) __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
  if (counting) __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12;
}

static void steps_allocate_nothing(size_t n, size_t d, int decoder) {
  fpf_landscape *L;
  if (decoder) {
    size_t H = 9, X = 4;
    double W1[9 * 40], W2[4 * 9], x[4] = {0.1, -0.2, 0.3, 0.0};
    fpf_rng_normals(1, 30, 0, 0, W1, H * d);
    fpf_rng_normals(1, 30, 0, 1, W2, X * H);
    assert_int_equal(
        fpf_landscape_decoder(&L, d, H, X, W1, NULL, W2, NULL, x, NULL),
        FPF_OK);
  } else {
    assert_int_equal(fpf_landscape_two_wells(&L, NULL), FPF_OK);
  }
  double *z = malloc(n * d * sizeof *z);
  fpf_rng_normals(2, 30, 0, 0, z, n * d);
  fpf_dyn_options o;
  fpf_dyn_options_init(&o);
  o.bandwidth_rule = FPF_BW_MEDIAN;
  o.flux_divergence = 1;
  o.C_threshold = 1e300; /* a reset every cooldown steps */
  o.warmup = 2;
  o.cooldown = 3;
  fpf_dyn *dy;
  assert_int_equal(fpf_dyn_create(&dy, L, n, z, &o, NULL), FPF_OK);
  fpf_metrics m;
  /* warm-up, through one reset */
  for (int k = 0; k < 4; k++)
    assert_int_equal(fpf_dyn_step(dy, &m, NULL), FPF_OK);
  calls = 0;
  counting = 1;
  int resets = 0;
  for (int k = 0; k < 10; k++) {
    fpf_dyn_step(dy, &m, NULL);
    resets += m.reset;
  }
  counting = 0;
  assert_int_equal(calls, 0);
  assert_true(resets >= 3);
  fpf_dyn_destroy(dy);
  fpf_landscape_destroy(L);
  free(z);
}

static void test_two_wells(void **state) {
  (void)state;
  steps_allocate_nothing(300, 2, 0);
}

static void test_decoder_gram_path(void **state) {
  (void)state;
  steps_allocate_nothing(300, 40, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_wells),
      cmocka_unit_test(test_decoder_gram_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
