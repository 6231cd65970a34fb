/*
 * Known-answer tests of the transition detector (src/detect.c).
 *
 * The synthetic history has 100 rows: C wiggles around 5 (by at most
 * 0.01 a row) and drops to 1 at row 60, S_dot wiggles around 0 and spikes
 * to 10 at a chosen row, and the loss is flat.  With the defaults the
 * drop threshold is 0.5 * std(dC) ~ 0.2 and the spike threshold
 * 2 * std(S_dot) ~ 2, so exactly one row meets each criterion and the
 * answer is known to the row.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/detect.h"

enum { N = 100, DROP_ROW = 60 };

typedef struct history {
  double C[N], sdot[N], loss[N];
} history;

/* C steady then a sharp drop at DROP_ROW; S_dot spikes at spike_row. */
static void make_history(history *h, size_t spike_row) {
  for (size_t i = 0; i < N; i++) {
    h->C[i] = (i < DROP_ROW ? 5.0 : 1.0) + 0.01 * sin(0.7 * (double)i);
    h->sdot[i] = 0.05 * cos(1.3 * (double)i);
    h->loss[i] = 1.0;
  }
  h->sdot[spike_row] = 10.0;
}

typedef struct found {
  size_t rows[N], n;
  unsigned char drop[N], spike[N], plateau[N];
} found;

static fpf_status detect(const history *h, const fpf_detect_options *o,
                         found *f, fpf_error *err) {
  fpf_detect_flags flags = {f->drop, f->spike, f->plateau};
  return fpf_detect_transitions(h->C, h->sdot, h->loss, N, o, f->rows,
                                &f->n, &flags, err);
}

static size_t count(const unsigned char *flag) {
  size_t c = 0;
  for (size_t i = 0; i < N; i++) c += flag[i];
  return c;
}

/* Spike on the drop row: found with tolerance 0 and 1. */
static void test_known_transition(void **state) {
  (void)state;
  history h;
  make_history(&h, DROP_ROW);
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  found f;
  for (long k = 0; k <= 1; k++) {
    o.tolerance = k;
    assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.rows[0], DROP_ROW);
  }
  assert_int_equal(count(f.drop), 1);
  assert_true(f.drop[DROP_ROW]);
  assert_int_equal(count(f.spike), 1);
  assert_true(f.spike[DROP_ROW]);
  assert_int_equal(count(f.plateau), N - o.window);
}

/* Spike one row late: tolerance 0 misses it, tolerance 1 finds it. */
static void test_tolerance_window(void **state) {
  (void)state;
  history h;
  make_history(&h, DROP_ROW + 1);
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  found f;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  o.tolerance = 1;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.rows[0], DROP_ROW);

  /* Two rows late is outside a tolerance of 1. */
  make_history(&h, DROP_ROW + 2);
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
}

static void test_constant_history(void **state) {
  (void)state;
  history h;
  for (size_t i = 0; i < N; i++) {
    h.C[i] = 0.1;
    h.sdot[i] = 0.3;
    h.loss[i] = 0.7;
  }
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  o.tolerance = 5;
  found f;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.drop), 0);
  assert_int_equal(count(f.spike), 0);

  /* A steady linear decline has constant dC: no row stands out. */
  for (size_t i = 0; i < N; i++) h.C[i] = 10.0 - 0.05 * (double)i;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(count(f.drop), 0);
}

/* Each criterion met on its own (and checked to be met) is no transition. */
static void test_single_criteria(void **state) {
  (void)state;
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  o.tolerance = 3;
  history h;
  found f;

  /* Drop only: S_dot constant, the loss keeps falling. */
  make_history(&h, DROP_ROW);
  for (size_t i = 0; i < N; i++) {
    h.sdot[i] = 0.2;
    h.loss[i] = 2.0 - 0.01 * (double)i;
  }
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.drop), 1);
  assert_int_equal(count(f.spike) + count(f.plateau), 0);

  /* Spike only: C constant, the loss keeps falling. */
  make_history(&h, DROP_ROW);
  for (size_t i = 0; i < N; i++) {
    h.C[i] = 3.0;
    h.loss[i] = 2.0 - 0.01 * (double)i;
  }
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.spike), 1);
  assert_int_equal(count(f.drop) + count(f.plateau), 0);

  /* Plateau only: C and S_dot constant, the loss flat. */
  make_history(&h, DROP_ROW);
  for (size_t i = 0; i < N; i++) h.C[i] = 3.0, h.sdot[i] = 0.2;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.plateau), N - o.window);
  assert_int_equal(count(f.drop) + count(f.spike), 0);
}

/*
 * A large loss falling by 0.01 a row changes by 0.1 over the window:
 * not flat at an absolute 1e-3, flat at a relative 1e-3 (bound ~ 1).
 * A tiny loss (1e-6 scale) is the other way round.
 */
static void test_relative_plateau(void **state) {
  (void)state;
  history h;
  make_history(&h, DROP_ROW);
  for (size_t i = 0; i < N; i++) h.loss[i] = 1000.0 - 0.01 * (double)i;
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  o.plateau_tol = 1e-3;
  found f;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.plateau), 0);
  o.plateau_relative = 1;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.rows[0], DROP_ROW);

  for (size_t i = 0; i < N; i++) h.loss[i] = 1e-6 * (1.0 + 0.1 * (double)i);
  o.plateau_tol = 1e-4;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.plateau), 0);
  o.plateau_relative = 0;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.rows[0], DROP_ROW);
}

/* The drop of log C: a fall from 5 to 1 is a drop on either scale. */
static void test_use_log(void **state) {
  (void)state;
  history h;
  make_history(&h, DROP_ROW);
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  o.use_log = 1;
  found f;
  assert_int_equal(detect(&h, &o, &f, NULL), FPF_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.rows[0], DROP_ROW);

  fpf_error err;
  h.C[17] = 0.0;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_EINVAL);
  assert_int_equal(err.status, FPF_EINVAL);
  assert_non_null(strstr(err.msg, "row 17"));
  o.use_log = 0;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_OK);
}

static void test_nonfinite(void **state) {
  (void)state;
  history h;
  fpf_detect_options o;
  fpf_detect_options_init(&o);
  found f;
  fpf_error err;

  make_history(&h, DROP_ROW);
  h.loss[37] = NAN;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "loss at row 37"));
  assert_int_equal(f.n, 0);

  make_history(&h, DROP_ROW);
  h.C[3] = -INFINITY;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "C at row 3"));

  make_history(&h, DROP_ROW);
  h.sdot[99] = INFINITY;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "S_dot at row 99"));
}

static void test_bad_options(void **state) {
  (void)state;
  history h;
  make_history(&h, DROP_ROW);
  found f;
  fpf_error err;
  fpf_detect_options o;

  fpf_detect_options_init(&o);
  o.window = 0;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "window = 0"));
  fpf_detect_options_init(&o);
  o.drop_factor = -1;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "drop_factor = -1"));
  fpf_detect_options_init(&o);
  o.tolerance = -2;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "tolerance = -2"));

  /* NULL options are the defaults; a window longer than the series
     leaves no plateau. */
  assert_int_equal(detect(&h, NULL, &f, &err), FPF_OK);
  assert_int_equal(f.n, 1);
  fpf_detect_options_init(&o);
  o.window = N;
  assert_int_equal(detect(&h, &o, &f, &err), FPF_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(count(f.plateau), 0);
}

/* Short series: no row, and no reads outside the arrays. */
static void test_short_series(void **state) {
  (void)state;
  double one = 1.0;
  size_t rows[1], n = 99;
  assert_int_equal(fpf_detect_transitions(NULL, NULL, NULL, 0, NULL, NULL,
                                          &n, NULL, NULL),
                   FPF_OK);
  assert_int_equal(n, 0);
  assert_int_equal(fpf_detect_transitions(&one, &one, &one, 1, NULL, rows,
                                          &n, NULL, NULL),
                   FPF_OK);
  assert_int_equal(n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_transition),
      cmocka_unit_test(test_tolerance_window),
      cmocka_unit_test(test_constant_history),
      cmocka_unit_test(test_single_criteria),
      cmocka_unit_test(test_relative_plateau),
      cmocka_unit_test(test_use_log),
      cmocka_unit_test(test_nonfinite),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_short_series),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
