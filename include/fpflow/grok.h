/*
 * Grokking on modular addition, trained in C (SPEC section 9).
 *
 * A network learns (a + b) mod p from a chosen fraction of the p^2 pairs
 * and is tested on the pairs it never saw.  Four parts, usable alone:
 *
 *   data       the split of the p^2 pairs into train and test (disjoint,
 *              drawn from the seed, each set in ascending pair order);
 *   model      token embeddings E (p x e), one or two hidden layers of
 *              width w (ReLU, GELU or quadratic) and the logits (p):
 *                h1 = f(W1 [E_a; E_b] + b1),  h2 = f(W2 h1 + b2),
 *                logits = Wo h + bo,  loss = mean_i -log softmax(logits)_y
 *              every parameter in one flat vector;
 *   AdamW      PyTorch's decoupled weight decay: theta -= lr wd theta,
 *              then the bias-corrected Adam step;
 *   trainer    full-batch or mini-batch steps, the train and test loss
 *              and accuracy every k steps, the hidden latents of a fixed
 *              probe set of test pairs (with each sample's dL_i/dz_i)
 *              pushed to a monitor (monitor.h), and shrink-and-perturb
 *              resets when the monitor's C (or C_vel) falls below a
 *              threshold, absolute or relative to its peak so far.
 *
 * Matrix products run through single-threaded BLAS calls inside fixed
 * blocks that OpenMP threads share, and every sum over samples runs in
 * sample order, so a run is bit-identical on 1 and 2 threads.
 */
#ifndef FPFLOW_GROK_H
#define FPFLOW_GROK_H

#include <stddef.h>
#include <stdint.h>

#include "fpflow/dyn.h"
#include "fpflow/flow.h"
#include "fpflow/monitor.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- numerics ---------------------------------------------------------- */

/*
 * out = log softmax(x) for n >= 1 values: x_j - max - log sum_k exp(x_k -
 * max), so that any finite logits give finite log-probabilities (1e300
 * against -1e300 gives 0 and -2e300).  Returns log sum exp(x).  out may
 * be x.
 */
double fpf_grok_log_softmax(const double *x, size_t n, double *out);

/* ---- data -------------------------------------------------------------- */

typedef struct fpf_grok_data fpf_grok_data;

/*
 * Splits the p^2 pairs (a, b), 0 <= a, b < p, with label (a + b) mod p:
 * round(train_fraction p^2) of them, drawn by a Philox shuffle keyed by
 * seed, for training, the others for testing.  Needs 2 <= p <= 4096 and
 * a fraction that leaves at least one pair on each side.
 */
fpf_status fpf_grok_data_create(fpf_grok_data **out, long p,
                                double train_fraction, uint64_t seed,
                                fpf_error *err);
void fpf_grok_data_destroy(fpf_grok_data *d);
long fpf_grok_data_p(const fpf_grok_data *d);
/* The pairs of each set as 2n ints (a0, b0, a1, b1, ...); returns n. */
size_t fpf_grok_data_train(const fpf_grok_data *d, const int **pairs);
size_t fpf_grok_data_test(const fpf_grok_data *d, const int **pairs);

/* ---- model ------------------------------------------------------------- */

typedef enum fpf_grok_activation {
  FPF_GROK_RELU = 0,
  FPF_GROK_GELU = 1,     /* x Phi(x), with the exact normal cdf (erf) */
  FPF_GROK_QUADRATIC = 2 /* x^2 */
} fpf_grok_activation;

/* "relu", "gelu", "quadratic"; parse returns -1 for an unknown name. */
const char *fpf_grok_activation_name(fpf_grok_activation a);
int fpf_grok_activation_parse(const char *s, fpf_grok_activation *a);

typedef struct fpf_grok_model_options {
  long p;                         /* 97: modulus and vocabulary */
  size_t embed_dim;               /* 128: e */
  size_t width;                   /* 512: w, of every hidden layer */
  int hidden_layers;              /* 1 (or 2) */
  fpf_grok_activation activation; /* relu */
  /*
   * Initialisers (PyTorch's defaults): E ~ N(0, embed_init^2); every
   * linear layer's weights and biases ~ U(-s, s), s = 1/sqrt(fan_in),
   * all times init_scale.
   */
  double embed_init;              /* 1.0 */
  double init_scale;              /* 1.0 */
  uint64_t seed;                  /* 42 */
} fpf_grok_model_options;

void fpf_grok_model_options_init(fpf_grok_model_options *o);

typedef struct fpf_grok_model fpf_grok_model;

fpf_status fpf_grok_model_create(fpf_grok_model **out,
                                 const fpf_grok_model_options *o,
                                 fpf_error *err);
void fpf_grok_model_destroy(fpf_grok_model *m);

/*
 * The flat parameter vector, in this order: E (p x e), W1 (w x 2e), b1
 * (w), [W2 (w x w), b2 (w)], Wo (p x w), bo (p), matrices row-major.
 * The caller may change it in place (the optimiser does).
 */
size_t fpf_grok_model_size(const fpf_grok_model *m);
double *fpf_grok_model_params(fpf_grok_model *m);
/* The width w: the dimension of the latents the probe returns. */
size_t fpf_grok_model_width(const fpf_grok_model *m);

/*
 * Mean cross-entropy and accuracy on n pairs (2n ints, each < p); grad
 * (model size, may be NULL) receives the gradient of the mean loss.
 * loss and acc may be NULL.  Working memory grows to the largest n seen
 * and is kept; later calls with no larger n allocate nothing.
 */
fpf_status fpf_grok_model_loss(fpf_grok_model *m, const int *pairs,
                               size_t n, double *loss, double *acc,
                               double *grad, fpf_error *err);

/*
 * For n pairs: the last hidden layer's activations z (n x w), each
 * sample's gradient of its own loss with respect to them, gz = dL_i/dz_i
 * (n x w), and the losses (n); gz and loss may be NULL.
 */
fpf_status fpf_grok_model_latents(fpf_grok_model *m, const int *pairs,
                                  size_t n, double *z, double *gz,
                                  double *loss, fpf_error *err);

/*
 * Shrink and perturb: theta <- (1 - alpha) theta + alpha theta_fresh, with
 * theta_fresh drawn from each layer's initialiser.  draw (>= 1) numbers
 * the fresh draw; draw 0 is the initial state itself.
 */
fpf_status fpf_grok_model_shrink_perturb(fpf_grok_model *m, double alpha,
                                         uint64_t draw, fpf_error *err);

/* ---- AdamW ------------------------------------------------------------- */

typedef struct fpf_grok_adamw_options {
  double lr;           /* 1e-3 */
  double beta1, beta2; /* 0.9, 0.98 */
  double eps;          /* 1e-8 */
  double weight_decay; /* 1.0 */
} fpf_grok_adamw_options;

void fpf_grok_adamw_options_init(fpf_grok_adamw_options *o);
fpf_status fpf_grok_adamw_options_check(const fpf_grok_adamw_options *o,
                                        fpf_error *err);

typedef struct fpf_grok_adamw fpf_grok_adamw;

fpf_status fpf_grok_adamw_create(fpf_grok_adamw **out, size_t n,
                                 const fpf_grok_adamw_options *o,
                                 fpf_error *err);
void fpf_grok_adamw_destroy(fpf_grok_adamw *a);

/*
 * One step t (counted from 1) on theta (n), as torch.optim.AdamW does it:
 *   theta -= lr wd theta
 *   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *   theta -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * A non-finite gradient is refused (FPF_ENONFINITE, index named) before
 * anything changes.
 */
fpf_status fpf_grok_adamw_step(fpf_grok_adamw *a, double *theta,
                               const double *grad, fpf_error *err);
/* Steps taken so far. */
long fpf_grok_adamw_steps(const fpf_grok_adamw *a);

/* ---- trainer ----------------------------------------------------------- */

typedef struct fpf_grok_options {
  fpf_grok_model_options model; /* its seed keys the split and batches */
  fpf_grok_adamw_options adamw;
  double train_fraction;        /* 0.3 */
  size_t batch_size;            /* 0: full batch */
  long eval_every;              /* 100: k, steps between observations */
  size_t probe_size;            /* 256 test pairs (fewer if fewer exist) */
  int monitor;                  /* 1: push probe latents to a monitor */
  fpf_monitor_options monitor_options;
  int resets;                   /* 0: shrink and perturb when C is low */
  fpf_trigger trigger;          /* C (or C_vel) against the threshold */
  double C_threshold;           /* 0.5 */
  int threshold_relative;       /* 0: C_threshold is the ratio itself;
                                   1: a fraction of the largest value the
                                   ratio has taken so far */
  double reset_alpha;           /* 0.2: theta <- (1-a) theta + a fresh */
  long warmup;                  /* 1000: no reset before this step */
  long cooldown;                /* 1000: least steps between two resets */
  fpf_log_fn log;               /* NULL: silent */
  void *log_user;
} fpf_grok_options;

void fpf_grok_options_init(fpf_grok_options *o);
fpf_status fpf_grok_options_check(const fpf_grok_options *o,
                                  fpf_error *err);

/* One observation of the run (every eval_every steps, and step 0). */
typedef struct fpf_grok_row {
  long step;
  double train_loss, test_loss, train_acc, test_acc;
  fpf_metrics flow; /* the monitor's metrics (NaN when it is off) */
  int reset;        /* 1 when a reset followed this observation */
} fpf_grok_row;

typedef struct fpf_grok fpf_grok;

fpf_status fpf_grok_create(fpf_grok **out, const fpf_grok_options *o,
                           fpf_error *err);
void fpf_grok_destroy(fpf_grok *g);

/* One optimiser step on the full training set or the next mini-batch. */
fpf_status fpf_grok_step(fpf_grok *g, fpf_error *err);

/*
 * Observes the current state: train and test loss and accuracy, the
 * probe's latents pushed to the monitor, then the reset rule.  Rows are
 * kept; fpf_grok_rows returns them.
 */
fpf_status fpf_grok_observe(fpf_grok *g, fpf_grok_row *row, fpf_error *err);

/* Called with each row; a non-zero return stops the run (FPF_ESTOPPED). */
typedef int (*fpf_grok_row_fn)(void *user, const fpf_grok_row *row);

/*
 * Observes step 0, then takes `steps` steps, observing every eval_every
 * steps and after the last.  On failure the rows so far are kept.
 */
fpf_status fpf_grok_train(fpf_grok *g, long steps, fpf_grok_row_fn fn,
                          void *user, fpf_error *err);

long fpf_grok_steps_done(const fpf_grok *g);
size_t fpf_grok_rows(const fpf_grok *g, const fpf_grok_row **rows);
fpf_grok_model *fpf_grok_get_model(fpf_grok *g);
const fpf_grok_data *fpf_grok_get_data(const fpf_grok *g);
/* The monitor (NULL when monitoring is off). */
const fpf_monitor *fpf_grok_get_monitor(const fpf_grok *g);

/*
 * Transitions found by the monitor's detector over the rows: row indices
 * (capacity: the number of rows), ascending.  None without a monitor.
 */
fpf_status fpf_grok_transitions(const fpf_grok *g, size_t *rows_out,
                                size_t *n_out, fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
