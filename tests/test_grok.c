/*
 * The pieces of the grokking trainer (src/grok_*.c) against answers
 * known without the code: AdamW steps worked out by hand, gradients
 * against central finite differences, the log-softmax at extreme logits,
 * the split against its definition, the forward pass against a plain
 * reference written here, and identical results on 1 and 2 threads.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpflow/grok.h"

/* ---- AdamW --------------------------------------------------------------- */

/*
 * lr 0.1, wd 0.5, betas 0.9 and 0.999, eps 1e-8; theta = (1, -2, 0.5).
 * Step 1, g = (0.1, 0, -3): decay by 1 - lr wd = 0.95 gives (0.95, -1.9,
 * 0.475); m = 0.1 g, v = 0.001 g^2, so with bc1 = 0.1 and bc2 = 0.001
 * the step is lr g / (|g| + eps): theta = (0.95 - 0.1 * 0.1 / (0.1 +
 * 1e-8), -1.9, 0.475 + 0.1 * 3 / (3 + 1e-8)).
 * Step 2, g = (-0.2, 1, 0): m = (-0.011, 0.1, -0.27), v = (4.999e-5,
 * 1e-3, 8.991e-3), bc1 = 0.19, bc2 = 1.999e-3, and theta_i = 0.95
 * theta_i - (0.1 / 0.19) m_i / (sqrt(v_i / bc2) + 1e-8).
 */
static void test_adamw_two_steps(void **state) {
  (void)state;
  fpf_grok_adamw_options o;
  fpf_grok_adamw_options_init(&o);
  o.lr = 0.1, o.weight_decay = 0.5, o.beta1 = 0.9, o.beta2 = 0.999;
  o.eps = 1e-8;
  fpf_grok_adamw *a;
  assert_int_equal(fpf_grok_adamw_create(&a, 3, &o, NULL), FPF_OK);
  double th[3] = {1.0, -2.0, 0.5};
  const double g1[3] = {0.1, 0.0, -3.0}, g2[3] = {-0.2, 1.0, 0.0};

  assert_int_equal(fpf_grok_adamw_step(a, th, g1, NULL), FPF_OK);
  double e1[3] = {0.95 - 0.1 * 0.1 / (0.1 + 1e-8), -1.9,
                  0.475 + 0.1 * 3.0 / (3.0 + 1e-8)};
  for (int i = 0; i < 3; i++) assert_true(fabs(th[i] - e1[i]) < 1e-14);

  assert_int_equal(fpf_grok_adamw_step(a, th, g2, NULL), FPF_OK);
  const double m[3] = {-0.011, 0.1, -0.27};
  const double v[3] = {4.999e-5, 1e-3, 8.991e-3};
  for (int i = 0; i < 3; i++) {
    double want = 0.95 * e1[i] -
                  (0.1 / 0.19) * m[i] / (sqrt(v[i] / 1.999e-3) + 1e-8);
    assert_true(fabs(th[i] - want) < 1e-12);
  }
  /* the same numbers, as printed by an independent computation */
  assert_true(fabs(th[0] - 0.8441103598884887) < 1e-12);
  assert_true(fabs(th[1] + 1.879413681304593) < 1e-12);
  assert_true(fabs(th[2] - 0.6132558247810396) < 1e-12);
  assert_int_equal(fpf_grok_adamw_steps(a), 2);
  fpf_grok_adamw_destroy(a);
}

/*
 * Decoupled decay acts on the weights and scales with lr: with a zero
 * gradient the Adam part is exactly 0, so theta = 2 becomes 2 (1 - lr wd)
 * for each lr, and stays 2 with wd = 0.  (L2 regularisation folded into
 * the gradient would instead give the normalised step lr sign(theta).)
 */
static void test_adamw_decay_scales_with_lr(void **state) {
  (void)state;
  const double lrs[3] = {1e-3, 1e-2, 0.1};
  for (int k = 0; k < 3; k++) {
    fpf_grok_adamw_options o;
    fpf_grok_adamw_options_init(&o);
    o.lr = lrs[k], o.weight_decay = 1.0;
    fpf_grok_adamw *a;
    assert_int_equal(fpf_grok_adamw_create(&a, 2, &o, NULL), FPF_OK);
    double th[2] = {2.0, -4.0}, g[2] = {0, 0};
    assert_int_equal(fpf_grok_adamw_step(a, th, g, NULL), FPF_OK);
    assert_true(fabs(th[0] - 2.0 * (1 - lrs[k])) < 1e-15);
    assert_true(fabs(th[1] + 4.0 * (1 - lrs[k])) < 1e-15);
    fpf_grok_adamw_destroy(a);

    o.weight_decay = 0;
    assert_int_equal(fpf_grok_adamw_create(&a, 2, &o, NULL), FPF_OK);
    th[0] = 2.0, th[1] = -4.0;
    assert_int_equal(fpf_grok_adamw_step(a, th, g, NULL), FPF_OK);
    assert_true(th[0] == 2.0 && th[1] == -4.0);
    fpf_grok_adamw_destroy(a);
  }
}

static void test_adamw_refuses(void **state) {
  (void)state;
  fpf_grok_adamw_options o;
  fpf_grok_adamw_options_init(&o);
  fpf_grok_adamw *a;
  fpf_error err;
  o.lr = -1;
  assert_int_equal(fpf_grok_adamw_create(&a, 2, &o, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "lr = -1"));
  fpf_grok_adamw_options_init(&o);
  o.beta2 = 1.0;
  assert_int_equal(fpf_grok_adamw_create(&a, 2, &o, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "beta2 = 1"));

  /* A NaN gradient changes nothing. */
  fpf_grok_adamw_options_init(&o);
  assert_int_equal(fpf_grok_adamw_create(&a, 2, &o, NULL), FPF_OK);
  double th[2] = {1, 2}, g[2] = {0.5, NAN};
  assert_int_equal(fpf_grok_adamw_step(a, th, g, &err), FPF_ENONFINITE);
  assert_non_null(strstr(err.msg, "gradient entry 1"));
  assert_true(th[0] == 1 && th[1] == 2);
  assert_int_equal(fpf_grok_adamw_steps(a), 0);
  fpf_grok_adamw_destroy(a);
}

/* ---- log-softmax --------------------------------------------------------- */

static void test_log_softmax_extremes(void **state) {
  (void)state;
  double out[3];

  /* exp(1000) overflows; the shifted form gives the exact answer. */
  const double a[3] = {1000, 0, -1000};
  double lse = fpf_grok_log_softmax(a, 3, out);
  assert_true(out[0] == 0 && out[1] == -1000 && out[2] == -2000);
  assert_true(lse == 1000);

  /* 1e300 apart: every value finite, none NaN. */
  const double b[2] = {1e300, -1e300};
  fpf_grok_log_softmax(b, 2, out);
  assert_true(out[0] == 0 && out[1] == -2e300);

  /* Two equal huge logits: log(1/2) each. */
  const double c[2] = {710, 710};
  fpf_grok_log_softmax(c, 2, out);
  assert_true(fabs(out[0] + log(2)) < 1e-15 && out[0] == out[1]);

  /* Very negative logits (exp underflows to 0): still -log 3 each. */
  const double d[3] = {-1e4, -1e4, -1e4};
  lse = fpf_grok_log_softmax(d, 3, out);
  for (int i = 0; i < 3; i++) assert_true(fabs(out[i] + log(3)) < 1e-15);
  assert_true(fabs(lse - (-1e4 + log(3))) < 1e-11);

  /* In place, one value. */
  double e[1] = {-7.5};
  fpf_grok_log_softmax(e, 1, e);
  assert_true(e[0] == 0);
}

/* ---- data ---------------------------------------------------------------- */

static void test_split_disjoint(void **state) {
  (void)state;
  const long p = 11;
  fpf_grok_data *d, *d2, *d3;
  assert_int_equal(fpf_grok_data_create(&d, p, 0.4, 7, NULL), FPF_OK);
  const int *tr, *te;
  size_t ntr = fpf_grok_data_train(d, &tr), nte = fpf_grok_data_test(d, &te);
  assert_int_equal(ntr, 48); /* round(0.4 * 121) */
  assert_int_equal(nte, 121 - 48);

  /* Every pair exactly once, over both sets; each set ascending. */
  int seen[121] = {0};
  for (size_t i = 0; i < ntr; i++) {
    seen[tr[2 * i] * p + tr[2 * i + 1]] += 1;
    if (i) assert_true(tr[2 * i - 2] * p + tr[2 * i - 1] <
                       tr[2 * i] * p + tr[2 * i + 1]);
  }
  for (size_t i = 0; i < nte; i++) {
    seen[te[2 * i] * p + te[2 * i + 1]] += 100;
    if (i) assert_true(te[2 * i - 2] * p + te[2 * i - 1] <
                       te[2 * i] * p + te[2 * i + 1]);
  }
  for (int q = 0; q < 121; q++) assert_true(seen[q] == 1 || seen[q] == 100);

  /* The same seed gives the same split; another seed another one. */
  assert_int_equal(fpf_grok_data_create(&d2, p, 0.4, 7, NULL), FPF_OK);
  assert_int_equal(fpf_grok_data_create(&d3, p, 0.4, 8, NULL), FPF_OK);
  const int *tr2, *tr3;
  fpf_grok_data_train(d2, &tr2);
  fpf_grok_data_train(d3, &tr3);
  assert_memory_equal(tr, tr2, 2 * ntr * sizeof *tr);
  assert_true(memcmp(tr, tr3, 2 * ntr * sizeof *tr) != 0);
  fpf_grok_data_destroy(d);
  fpf_grok_data_destroy(d2);
  fpf_grok_data_destroy(d3);

  /* The source's 97%: 9127 of 9409 pairs, 282 held out. */
  assert_int_equal(fpf_grok_data_create(&d, 97, 0.97, 1, NULL), FPF_OK);
  assert_int_equal(fpf_grok_data_train(d, NULL), 9127);
  assert_int_equal(fpf_grok_data_test(d, NULL), 282);
  fpf_grok_data_destroy(d);
}

static void test_split_refuses(void **state) {
  (void)state;
  fpf_grok_data *d;
  fpf_error err;
  assert_int_equal(fpf_grok_data_create(&d, 1, 0.5, 1, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "p = 1"));
  assert_null(d);
  assert_int_equal(fpf_grok_data_create(&d, 5, 1.0, 1, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "train_fraction = 1"));
  /* 0.01 of 25 pairs rounds to none */
  assert_int_equal(fpf_grok_data_create(&d, 5, 0.01, 1, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "train_fraction = 0.01"));
  fpf_grok_data_destroy(NULL);
}

/* ---- model: a reference forward pass ------------------------------------ */

static fpf_grok_model *tiny_model(long p, size_t e, size_t w, int layers,
                                  fpf_grok_activation act, uint64_t seed) {
  fpf_grok_model_options o;
  fpf_grok_model_options_init(&o);
  o.p = p, o.embed_dim = e, o.width = w, o.hidden_layers = layers;
  o.activation = act, o.seed = seed;
  fpf_grok_model *m;
  assert_int_equal(fpf_grok_model_create(&m, &o, NULL), FPF_OK);
  return m;
}

static double ref_act(fpf_grok_activation a, double x) {
  if (a == FPF_GROK_RELU) return x > 0 ? x : 0;
  if (a == FPF_GROK_QUADRATIC) return x * x;
  return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

/*
 * The network of grok.h written out with loops, from the documented
 * parameter layout: last hidden layer h (w) and the logits (p) of (a, b).
 */
static void ref_forward(const double *th, long p, size_t e, size_t w,
                        int layers, fpf_grok_activation act, int a, int b,
                        double *h, double *logits) {
  const double *E = th, *W1 = E + p * e, *b1 = W1 + w * 2 * e;
  const double *W2 = b1 + w, *b2 = W2 + w * w;
  const double *Wo = layers == 2 ? b2 + w : b1 + w, *bo = Wo + p * w;
  double x[64], h1[64];
  for (size_t k = 0; k < e; k++) x[k] = E[a * e + k], x[e + k] = E[b * e + k];
  for (size_t j = 0; j < w; j++) {
    double s = b1[j];
    for (size_t k = 0; k < 2 * e; k++) s += W1[j * 2 * e + k] * x[k];
    h1[j] = ref_act(act, s);
  }
  for (size_t j = 0; j < w; j++) {
    double s = b2[j];
    if (layers == 2)
      for (size_t k = 0; k < w; k++) s += W2[j * w + k] * h1[k];
    h[j] = layers == 2 ? ref_act(act, s) : h1[j];
  }
  for (long c = 0; c < p; c++) {
    double s = bo[c];
    for (size_t k = 0; k < w; k++) s += Wo[c * w + k] * h[k];
    logits[c] = s;
  }
}

static void test_forward_matches_reference(void **state) {
  (void)state;
  const long p = 7;
  const size_t e = 3, w = 5;
  for (int layers = 1; layers <= 2; layers++)
    for (int act = 0; act < 3; act++) {
      fpf_grok_model *m = tiny_model(p, e, w, layers,
                                     (fpf_grok_activation)act, 3);
      const double *th = fpf_grok_model_params(m);
      size_t want_size = p * e + w * 2 * e + w + p * w + p +
                         (layers == 2 ? w * w + w : 0);
      assert_int_equal(fpf_grok_model_size(m), want_size);
      int pairs[2 * 49];
      for (int q = 0; q < 49; q++)
        pairs[2 * q] = q / 7, pairs[2 * q + 1] = q % 7;
      double z[49 * 5], gz[49 * 5], lossv[49];
      assert_int_equal(fpf_grok_model_latents(m, pairs, 49, z, gz, lossv,
                                              NULL), FPF_OK);
      double mean = 0;
      for (int q = 0; q < 49; q++) {
        double h[5], lg[7], lp[7];
        ref_forward(th, p, e, w, layers, (fpf_grok_activation)act,
                    pairs[2 * q], pairs[2 * q + 1], h, lg);
        int y = (pairs[2 * q] + pairs[2 * q + 1]) % 7;
        double mx = lg[0], s = 0;
        for (int c = 1; c < 7; c++) mx = fmax(mx, lg[c]);
        for (int c = 0; c < 7; c++) s += exp(lg[c] - mx);
        for (int c = 0; c < 7; c++) lp[c] = lg[c] - mx - log(s);
        assert_true(fabs(lossv[q] + lp[y]) < 1e-12);
        mean += -lp[y] / 49;
        for (size_t j = 0; j < w; j++)
          assert_true(fabs(z[q * w + j] - h[j]) < 1e-12);
        /* dL_q/dh = Wo^T (softmax - onehot(y)) */
        const double *Wo = th + fpf_grok_model_size(m) - p - p * w;
        for (size_t j = 0; j < w; j++) {
          double gj = 0;
          for (int c = 0; c < 7; c++)
            gj += Wo[c * w + j] * (exp(lp[c]) - (c == y));
          assert_true(fabs(gz[q * w + j] - gj) < 1e-12);
        }
      }
      double loss, acc;
      assert_int_equal(fpf_grok_model_loss(m, pairs, 49, &loss, &acc, NULL,
                                           NULL), FPF_OK);
      assert_true(fabs(loss - mean) < 1e-12);
      assert_true(acc >= 0 && acc <= 1);
      fpf_grok_model_destroy(m);
    }
}

/* ---- model: gradients by finite differences ------------------------------ */

/*
 * Central differences with step h have error O(h^2 f''') plus round-off
 * O(eps |L| / h); h = 1e-5 keeps both near 1e-10 for these O(1) losses,
 * so 1e-7 (absolute, plus relative) is a margin of about 1000.  Every
 * parameter is checked.  ReLU has kinks: with this seed no
 * pre-activation lies within h of 0 (it would show as one entry off by
 * O(1), not as a small drift).
 */
static void check_gradient(int layers, fpf_grok_activation act) {
  const long p = 5;
  fpf_grok_model *m = tiny_model(p, 3, 4, layers, act, 11);
  size_t n = fpf_grok_model_size(m);
  double *th = fpf_grok_model_params(m);
  int pairs[2 * 13];
  for (int q = 0; q < 13; q++)
    pairs[2 * q] = (q * 2) % 5, pairs[2 * q + 1] = (q * 3 + 1) % 5;
  double *g = calloc(n, sizeof *g), loss;
  assert_int_equal(fpf_grok_model_loss(m, pairs, 13, &loss, NULL, g, NULL),
                   FPF_OK);
  const double h = 1e-5;
  for (size_t i = 0; i < n; i++) {
    double keep = th[i], lp, lm;
    th[i] = keep + h;
    fpf_grok_model_loss(m, pairs, 13, &lp, NULL, NULL, NULL);
    th[i] = keep - h;
    fpf_grok_model_loss(m, pairs, 13, &lm, NULL, NULL, NULL);
    th[i] = keep;
    double fd = (lp - lm) / (2 * h);
    if (fabs(fd - g[i]) > 1e-7 * (1 + fabs(fd)))
      fail_msg("layers %d, %s: parameter %zu: analytic %.12g, finite "
               "differences %.12g", layers, fpf_grok_activation_name(act),
               i, g[i], fd);
  }
  free(g);
  fpf_grok_model_destroy(m);
}

static void test_gradient_finite_differences(void **state) {
  (void)state;
  for (int layers = 1; layers <= 2; layers++)
    for (int act = 0; act < 3; act++)
      check_gradient(layers, (fpf_grok_activation)act);
}

/* Huge weights: the loss is large and finite, never NaN, never 0 for
   the wrong class. */
static void test_loss_huge_logits(void **state) {
  (void)state;
  fpf_grok_model *m = tiny_model(5, 3, 4, 1, FPF_GROK_RELU, 2);
  double *th = fpf_grok_model_params(m);
  size_t n = fpf_grok_model_size(m);
  for (size_t i = 0; i < n; i++) th[i] *= 1e6;
  int pairs[2 * 25];
  for (int q = 0; q < 25; q++) pairs[2 * q] = q / 5, pairs[2 * q + 1] = q % 5;
  double loss, acc, *g = calloc(n, sizeof *g);
  assert_int_equal(fpf_grok_model_loss(m, pairs, 25, &loss, &acc, g, NULL),
                   FPF_OK);
  assert_true(isfinite(loss) && loss > 1e6);
  for (size_t i = 0; i < n; i++) assert_true(isfinite(g[i]));
  free(g);
  fpf_grok_model_destroy(m);
}

static void test_model_refuses(void **state) {
  (void)state;
  fpf_grok_model_options o;
  fpf_grok_model_options_init(&o);
  fpf_grok_model *m;
  fpf_error err;
  o.hidden_layers = 3;
  assert_int_equal(fpf_grok_model_create(&m, &o, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "hidden_layers = 3"));
  m = tiny_model(5, 2, 3, 1, FPF_GROK_GELU, 1);
  int bad[4] = {1, 2, 4, 5};
  assert_int_equal(fpf_grok_model_loss(m, bad, 2, NULL, NULL, NULL, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "sample 1 has token 5"));
  fpf_grok_model_destroy(m);
  fpf_grok_activation a;
  assert_int_equal(fpf_grok_activation_parse("quadratic", &a), 0);
  assert_int_equal(a, FPF_GROK_QUADRATIC);
  assert_int_equal(fpf_grok_activation_parse("tanh", &a), -1);
}

/* ---- shrink and perturb -------------------------------------------------- */

static void test_shrink_perturb(void **state) {
  (void)state;
  fpf_grok_model *m = tiny_model(13, 4, 8, 2, FPF_GROK_RELU, 5);
  size_t n = fpf_grok_model_size(m);
  double *th = fpf_grok_model_params(m);
  double *th0 = malloc(n * sizeof *th0), *fresh = malloc(n * sizeof *fresh);
  for (size_t i = 0; i < n; i++) th[i] = th0[i] = 3.0 + 0.001 * (double)i;

  /* alpha 0: nothing moves. */
  assert_int_equal(fpf_grok_model_shrink_perturb(m, 0.0, 1, NULL), FPF_OK);
  assert_memory_equal(th, th0, n * sizeof *th);

  /* alpha 1: the fresh draw itself, inside each initialiser's law:
     linear weights in (-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  assert_int_equal(fpf_grok_model_shrink_perturb(m, 1.0, 1, NULL), FPF_OK);
  memcpy(fresh, th, n * sizeof *th);
  size_t oW1 = 13 * 4, ob1 = oW1 + 8 * 8;
  for (size_t i = oW1; i < ob1 + 8; i++)
    assert_true(fabs(fresh[i]) < 1.0 / sqrt(8.0));
  size_t oW2 = ob1 + 8, oWo = oW2 + 64 + 8;
  for (size_t i = oW2; i < oWo + 13 * 8 + 13; i++)
    assert_true(fabs(fresh[i]) < 1.0 / sqrt(8.0));

  /* alpha 0.25 from th0: 0.75 th0 + 0.25 fresh, the same draw. */
  memcpy(th, th0, n * sizeof *th);
  assert_int_equal(fpf_grok_model_shrink_perturb(m, 0.25, 1, NULL), FPF_OK);
  for (size_t i = 0; i < n; i++)
    assert_true(fabs(th[i] - (0.75 * th0[i] + 0.25 * fresh[i])) < 1e-14);

  /* another draw gives other values */
  memcpy(th, th0, n * sizeof *th);
  fpf_grok_model_shrink_perturb(m, 1.0, 2, NULL);
  assert_true(memcmp(th, fresh, n * sizeof *th) != 0);

  fpf_error err;
  assert_int_equal(fpf_grok_model_shrink_perturb(m, 1.5, 3, &err),
                   FPF_EINVAL);
  assert_non_null(strstr(err.msg, "alpha = 1.5"));
  free(th0);
  free(fresh);
  fpf_grok_model_destroy(m);
}

/* ---- threads ------------------------------------------------------------- */

/* Twenty full-batch AdamW steps; large enough that every OpenMP loop and
   blocked product of the model runs in parallel. */
static void train_some(int threads, int layers, double *out, size_t n) {
  omp_set_num_threads(threads);
  fpf_grok_model *m = tiny_model(31, 32, 256, layers, FPF_GROK_GELU, 9);
  assert_int_equal(fpf_grok_model_size(m), n);
  fpf_grok_data *d;
  assert_int_equal(fpf_grok_data_create(&d, 31, 0.5, 9, NULL), FPF_OK);
  fpf_grok_adamw_options o;
  fpf_grok_adamw_options_init(&o);
  fpf_grok_adamw *a;
  assert_int_equal(fpf_grok_adamw_create(&a, n, &o, NULL), FPF_OK);
  const int *tr;
  size_t ntr = fpf_grok_data_train(d, &tr);
  double *g = malloc(n * sizeof *g);
  for (int s = 0; s < 20; s++) {
    assert_int_equal(fpf_grok_model_loss(m, tr, ntr, NULL, NULL, g, NULL),
                     FPF_OK);
    assert_int_equal(fpf_grok_adamw_step(a, fpf_grok_model_params(m), g,
                                         NULL), FPF_OK);
  }
  memcpy(out, fpf_grok_model_params(m), n * sizeof *out);
  free(g);
  fpf_grok_adamw_destroy(a);
  fpf_grok_data_destroy(d);
  fpf_grok_model_destroy(m);
}

static void test_threads_identical(void **state) {
  (void)state;
  for (int layers = 1; layers <= 2; layers++) {
    size_t n = 31 * 32 + 256 * 64 + 256 + 31 * 256 + 31 +
               (layers == 2 ? 256 * 256 + 256 : 0);
    double *one = malloc(n * sizeof *one), *two = malloc(n * sizeof *two);
    train_some(1, layers, one, n);
    train_some(2, layers, two, n);
    assert_memory_equal(one, two, n * sizeof *one);
    free(one);
    free(two);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adamw_two_steps),
      cmocka_unit_test(test_adamw_decay_scales_with_lr),
      cmocka_unit_test(test_adamw_refuses),
      cmocka_unit_test(test_log_softmax_extremes),
      cmocka_unit_test(test_split_disjoint),
      cmocka_unit_test(test_split_refuses),
      cmocka_unit_test(test_forward_matches_reference),
      cmocka_unit_test(test_gradient_finite_differences),
      cmocka_unit_test(test_loss_huge_logits),
      cmocka_unit_test(test_model_refuses),
      cmocka_unit_test(test_shrink_perturb),
      cmocka_unit_test(test_threads_identical),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
