/*
 * The modular-addition network: forward pass, cross-entropy and the
 * backward pass by hand (grok.h).
 *
 * The first layer acts on the concatenated embeddings [E_a; E_b], so its
 * pre-activation is U[a] + V[b] + b1 with U = E W1a^T and V = E W1b^T
 * (W1 = [W1a W1b]).  Forming the two p x w tables costs 2 p e w products
 * instead of n 2e w for n samples: the output layer (n p w) then
 * dominates a step.  The backward pass mirrors it: dL/dU and dL/dV are
 * the per-sample gradients added up by token, and dW1, dE follow from
 * them with two small products.
 *
 * Determinism: each product is one single-threaded BLAS call per fixed
 * block of rows or columns, each sum over samples runs in sample order
 * within one thread, so the result does not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/grok.h"
#include "fpflow/rng.h"
#include "internal.h"

/* The Philox stream of the initialisers (and of reset draws). */
#define STREAM_INIT (FPF_STREAM_USER + 0x41)

/* Columns per block of the products that sum over samples, and of the
   column sums: 64 keeps a block's output in cache and gives a 512-wide
   layer 8 blocks to share. */
#define COL_BLOCK 64

/* Layers, as numbered by the initialiser's counter. */
enum { LAYER_EMBED = 0, LAYER_1 = 1, LAYER_2 = 2, LAYER_OUT = 3 };

struct fpf_grok_model {
  fpf_grok_model_options o;
  size_t p, e, w, nl, size;
  double *theta;
  /* offsets of each block in theta (and in a gradient) */
  size_t oE, oW1, ob1, oW2, ob2, oWo, obo;
  double *U, *V, *dU, *dV; /* p x w */
  size_t cap;              /* rows of the per-sample buffers */
  double *pre1, *h1, *pre2, *h2, *logits, *dh, *dh1, *lossv;
  unsigned char *correct;
};

/* ---- options and names ------------------------------------------------- */

void fpf_grok_model_options_init(fpf_grok_model_options *o) {
  o->p = 97;
  o->embed_dim = 128;
  o->width = 512;
  o->hidden_layers = 1;
  o->activation = FPF_GROK_RELU;
  o->embed_init = 1.0;
  o->init_scale = 1.0;
  o->seed = 42;
}

static const char *act_names[] = {"relu", "gelu", "quadratic"};

const char *fpf_grok_activation_name(fpf_grok_activation a) {
  return (unsigned)a < 3 ? act_names[a] : "unknown";
}

int fpf_grok_activation_parse(const char *s, fpf_grok_activation *a) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, act_names[i])) {
      *a = (fpf_grok_activation)i;
      return 0;
    }
  return -1;
}

static fpf_status check_options(const fpf_grok_model_options *o,
                                fpf_error *err) {
  if (o->p < 2 || o->p > 4096)
    return fpf_error_set(err, FPF_EINVAL, "p = %ld: must be in 2..4096",
                         o->p);
  if (o->embed_dim < 1 || o->embed_dim > 65536)
    return fpf_error_set(err, FPF_EINVAL, "embed_dim = %zu: must be in "
                         "1..65536", o->embed_dim);
  if (o->width < 1 || o->width > 65536)
    return fpf_error_set(err, FPF_EINVAL, "width = %zu: must be in 1..65536",
                         o->width);
  if (o->hidden_layers != 1 && o->hidden_layers != 2)
    return fpf_error_set(err, FPF_EINVAL, "hidden_layers = %d: must be 1 "
                         "or 2", o->hidden_layers);
  if ((unsigned)o->activation > FPF_GROK_QUADRATIC)
    return fpf_error_set(err, FPF_EINVAL, "activation = %d: unknown",
                         (int)o->activation);
  if (!(o->embed_init >= 0 && isfinite(o->embed_init)))
    return fpf_error_set(err, FPF_EINVAL, "embed_init = %g: must be a "
                         "finite number >= 0", o->embed_init);
  if (!(o->init_scale >= 0 && isfinite(o->init_scale)))
    return fpf_error_set(err, FPF_EINVAL, "init_scale = %g: must be a "
                         "finite number >= 0", o->init_scale);
  return FPF_OK;
}

/* ---- initialisers -------------------------------------------------------- */

/* The counter index of one row of one tensor: layer, weight or bias. */
static uint64_t init_index(int layer, int bias, size_t row) {
  return ((uint64_t)(2 * layer + bias) << 32) | (uint64_t)row;
}

/* rows x cols weights ~ U(-s, s), and a bias of rows values, s =
   scale / sqrt(fan_in): torch.nn.Linear's default initialiser. */
static void init_linear(const fpf_grok_model *m, int layer, uint64_t draw,
                        size_t rows, size_t cols, double *W, double *b) {
  double s = m->o.init_scale / sqrt((double)cols);
  uint64_t seed = m->o.seed;
  for (size_t r = 0; r < rows; r++) {
    double *row = W + r * cols;
    fpf_rng_uniforms(seed, STREAM_INIT, draw, init_index(layer, 0, r), row,
                     cols);
    for (size_t c = 0; c < cols; c++) row[c] = s * (2.0 * row[c] - 1.0);
  }
  fpf_rng_uniforms(seed, STREAM_INIT, draw, init_index(layer, 1, 0), b,
                   rows);
  for (size_t r = 0; r < rows; r++) b[r] = s * (2.0 * b[r] - 1.0);
}

/* Every parameter from its initialiser's draw number `draw`. */
static void init_all(const fpf_grok_model *m, uint64_t draw, double *th) {
  size_t p = m->p, e = m->e, w = m->w;
  for (size_t a = 0; a < p; a++) {
    double *row = th + m->oE + a * e;
    fpf_rng_normals(m->o.seed, STREAM_INIT, draw,
                    init_index(LAYER_EMBED, 0, a), row, e);
    for (size_t k = 0; k < e; k++) row[k] *= m->o.embed_init;
  }
  init_linear(m, LAYER_1, draw, w, 2 * e, th + m->oW1, th + m->ob1);
  if (m->nl == 2)
    init_linear(m, LAYER_2, draw, w, w, th + m->oW2, th + m->ob2);
  init_linear(m, LAYER_OUT, draw, p, w, th + m->oWo, th + m->obo);
}

/* ---- creation ---------------------------------------------------------- */

fpf_status fpf_grok_model_create(fpf_grok_model **out,
                                 const fpf_grok_model_options *o,
                                 fpf_error *err) {
  *out = NULL;
  fpf_status st = check_options(o, err);
  if (st) return st;
  fpf_grok_model *m = calloc(1, sizeof *m);
  if (!m) return fpf_error_set(err, FPF_ENOMEM, "model: no memory");
  m->o = *o;
  m->p = (size_t)o->p, m->e = o->embed_dim, m->w = o->width;
  m->nl = (size_t)o->hidden_layers;
  size_t p = m->p, e = m->e, w = m->w, at = 0;
  m->oE = at, at += p * e;
  m->oW1 = at, at += w * 2 * e;
  m->ob1 = at, at += w;
  m->oW2 = at, at += m->nl == 2 ? w * w : 0;
  m->ob2 = at, at += m->nl == 2 ? w : 0;
  m->oWo = at, at += p * w;
  m->obo = at, at += p;
  m->size = at;
  m->theta = fpf_dalloc(at);
  m->U = fpf_dalloc(4 * p * w);
  if (!m->theta || !m->U) {
    fpf_grok_model_destroy(m);
    return fpf_error_set(err, FPF_ENOMEM, "model: no memory for %zu "
                         "parameters", at);
  }
  m->V = m->U + p * w, m->dU = m->V + p * w, m->dV = m->dU + p * w;
  init_all(m, 0, m->theta);
  fpf_blas_single_thread();
  *out = m;
  return FPF_OK;
}

static void free_rows(fpf_grok_model *m) {
  fpf_dfree(m->pre1);
  free(m->correct);
  m->pre1 = NULL, m->correct = NULL, m->cap = 0;
}

void fpf_grok_model_destroy(fpf_grok_model *m) {
  if (!m) return;
  free_rows(m);
  fpf_dfree(m->theta);
  fpf_dfree(m->U);
  free(m);
}

size_t fpf_grok_model_size(const fpf_grok_model *m) { return m->size; }
double *fpf_grok_model_params(fpf_grok_model *m) { return m->theta; }
size_t fpf_grok_model_width(const fpf_grok_model *m) { return m->w; }

/* Per-sample buffers for n rows, in one block. */
static fpf_status ensure_rows(fpf_grok_model *m, size_t n, fpf_error *err) {
  if (n <= m->cap) return FPF_OK;
  free_rows(m);
  /* pre1, h1, dh (and pre2, h2, dh1), the logits and the losses */
  size_t w = m->w, nw = fpf_mul_size(n, w), hid = m->nl == 2 ? 6 : 3;
  size_t np = fpf_mul_size(n, m->p), total = fpf_mul_size(nw, hid);
  if (nw && np && total && total + np + n > total)
    m->pre1 = fpf_dalloc(total + np + n);
  m->correct = malloc(n);
  if (!m->pre1 || !m->correct) {
    free_rows(m);
    return fpf_error_set(err, FPF_ENOMEM, "model: no memory for %zu "
                         "samples", n);
  }
  double *at = m->pre1 + nw;
  m->h1 = at, at += nw;
  m->dh = at, at += nw;
  if (m->nl == 2) {
    m->pre2 = at, at += nw;
    m->h2 = at, at += nw;
    m->dh1 = at, at += nw;
  }
  m->logits = at, at += n * m->p;
  m->lossv = at;
  m->cap = n;
  return FPF_OK;
}

/* ---- pieces of the passes -------------------------------------------- */

static double act(fpf_grok_activation a, double x) {
  switch (a) {
    case FPF_GROK_GELU: return 0.5 * x * (1.0 + erf(x * M_SQRT1_2));
    case FPF_GROK_QUADRATIC: return x * x;
    default: return x > 0 ? x : 0.0;
  }
}

static double act_deriv(fpf_grok_activation a, double x) {
  switch (a) {
    case FPF_GROK_GELU:
      /* d/dx x Phi(x) = Phi(x) + x phi(x) */
      return 0.5 * (1.0 + erf(x * M_SQRT1_2)) +
             x * exp(-0.5 * x * x) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
    case FPF_GROK_QUADRATIC: return 2.0 * x;
    default: return x > 0 ? 1.0 : 0.0;
  }
}

/* h = f(pre), elementwise over n x w. */
static void activate(fpf_grok_activation a, const double *pre, double *h,
                     size_t n, size_t w) {
  long nw = (long)(n * w);
#pragma omp parallel for schedule(static) if (nw > 65536)
  for (long i = 0; i < nw; i++) h[i] = act(a, pre[i]);
}

/* d *= f'(pre), elementwise: from dL/dh to dL/dpre. */
static void backprop_act(fpf_grok_activation a, const double *pre,
                         double *d, size_t n, size_t w) {
  long nw = (long)(n * w);
#pragma omp parallel for schedule(static) if (nw > 65536)
  for (long i = 0; i < nw; i++) d[i] *= act_deriv(a, pre[i]);
}

/* out (n x w) = in + bias on every row. */
static void add_bias(double *x, const double *b, size_t n, size_t w) {
  long nn = (long)n;
#pragma omp parallel for schedule(static) if (n * w > 65536)
  for (long i = 0; i < nn; i++)
    for (size_t j = 0; j < w; j++) x[(size_t)i * w + j] += b[j];
}

/*
 * C (m x nc, ldc) = A^T B with A (k x m, lda) and B (k x nc, ldb): a sum
 * over the k samples.  Blocks of COL_BLOCK columns of C, one
 * single-threaded dgemm each, so every entry is summed the same way on
 * any number of threads.
 */
static void gemm_tn(size_t m, size_t nc, size_t k, const double *A,
                    size_t lda, const double *B, size_t ldb, double *C,
                    size_t ldc) {
  long nb = (long)((nc + COL_BLOCK - 1) / COL_BLOCK);
#pragma omp parallel for schedule(dynamic) if (nb > 1 && m * nc * k > 1000000)
  for (long b = 0; b < nb; b++) {
    size_t c0 = (size_t)b * COL_BLOCK;
    size_t cn = nc - c0 < COL_BLOCK ? nc - c0 : COL_BLOCK;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)cn,
                (int)k, 1.0, A, (int)lda, B + c0, (int)ldb, 0.0, C + c0,
                (int)ldc);
  }
}

/* out (w) = sum over the n rows of x (n x w), each column in row order. */
static void column_sums(const double *x, size_t n, size_t w, double *out) {
  long nb = (long)((w + COL_BLOCK - 1) / COL_BLOCK);
#pragma omp parallel for schedule(static) if (nb > 1 && n * w > 65536)
  for (long b = 0; b < nb; b++) {
    size_t c0 = (size_t)b * COL_BLOCK;
    size_t c1 = c0 + COL_BLOCK < w ? c0 + COL_BLOCK : w;
    for (size_t j = c0; j < c1; j++) out[j] = 0;
    for (size_t i = 0; i < n; i++)
      for (size_t j = c0; j < c1; j++) out[j] += x[i * w + j];
  }
}

static fpf_status check_pairs(const fpf_grok_model *m, const int *pairs,
                              size_t n, fpf_error *err) {
  if (n == 0 || !pairs)
    return fpf_error_set(err, FPF_EINVAL, "model: no samples (n = %zu)", n);
  for (size_t i = 0; i < 2 * n; i++)
    if (pairs[i] < 0 || (size_t)pairs[i] >= m->p)
      return fpf_error_set(err, FPF_EINVAL,
                           "model: sample %zu has token %d outside 0..%zu",
                           i / 2, pairs[i], m->p - 1);
  return FPF_OK;
}

/* ---- forward ------------------------------------------------------------ */

/* Fills pre1, h1 (and pre2, h2), the logits; returns the last hidden. */
static const double *forward(fpf_grok_model *m, const int *pairs,
                             size_t n) {
  size_t p = m->p, e = m->e, w = m->w;
  const double *th = m->theta, *W1 = th + m->oW1, *b1 = th + m->ob1;

  /* The token tables U = E W1a^T, V = E W1b^T (p x w). */
  fpf_gemm_rows(CblasTrans, p, w, e, 1.0, th + m->oE, e, W1, 2 * e, 0.0,
                m->U, w);
  fpf_gemm_rows(CblasTrans, p, w, e, 1.0, th + m->oE, e, W1 + e, 2 * e, 0.0,
                m->V, w);

  /* Layer 1: pre1_i = U[a_i] + V[b_i] + b1. */
  long nn = (long)n;
  double *pre1 = m->pre1;
  const double *U = m->U, *V = m->V;
#pragma omp parallel for schedule(static) if (n * w > 65536)
  for (long i = 0; i < nn; i++) {
    const double *u = U + (size_t)pairs[2 * i] * w;
    const double *v = V + (size_t)pairs[2 * i + 1] * w;
    double *r = pre1 + (size_t)i * w;
    for (size_t j = 0; j < w; j++) r[j] = u[j] + v[j] + b1[j];
  }
  activate(m->o.activation, m->pre1, m->h1, n, w);
  const double *h = m->h1;

  /* Layer 2, if any. */
  if (m->nl == 2) {
    fpf_gemm_rows(CblasTrans, n, w, w, 1.0, m->h1, w, th + m->oW2, w, 0.0,
                  m->pre2, w);
    add_bias(m->pre2, th + m->ob2, n, w);
    activate(m->o.activation, m->pre2, m->h2, n, w);
    h = m->h2;
  }

  /* Logits = h Wo^T + bo. */
  fpf_gemm_rows(CblasTrans, n, p, w, 1.0, h, w, th + m->oWo, w, 0.0,
                m->logits, p);
  add_bias(m->logits, th + m->obo, n, p);
  return h;
}

double fpf_grok_log_softmax(const double *x, size_t n, double *out) {
  double mx = x[0];
  for (size_t j = 1; j < n; j++)
    if (x[j] > mx) mx = x[j];
  /* the largest term is exp(0) = 1, so the sum is in [1, n] */
  double s = 0;
  for (size_t j = 0; j < n; j++) s += exp(x[j] - mx);
  double ls = log(s);
  for (size_t j = 0; j < n; j++) out[j] = (x[j] - mx) - ls;
  return mx + ls;
}

/*
 * Per row: loss_i = -log softmax(logits_i)[y_i] and whether the argmax is
 * y_i; with `scale` > 0 the row becomes scale (softmax_i - onehot(y_i)),
 * the gradient of scale loss_i with respect to the logits.  The same
 * shifted exponentials e_j = exp(x_j - max) give both: loss = log sum e
 * - (x_y - max), softmax = e / sum e (one exp per logit; the sum is in
 * [1, p], so neither overflows nor vanishes).
 */
static void cross_entropy(fpf_grok_model *m, const int *pairs, size_t n,
                          double scale) {
  size_t p = m->p;
  long nn = (long)n;
  double *logits = m->logits, *lossv = m->lossv;
  unsigned char *correct = m->correct;
#pragma omp parallel for schedule(static) if (n * p > 65536)
  for (long i = 0; i < nn; i++) {
    double *r = logits + (size_t)i * p;
    size_t y = (size_t)(pairs[2 * i] + pairs[2 * i + 1]) % p, arg = 0;
    for (size_t j = 1; j < p; j++)
      if (r[j] > r[arg]) arg = j;
    correct[i] = arg == y;
    double mx = r[arg], xy = r[y] - mx, s = 0;
    for (size_t j = 0; j < p; j++) s += (r[j] = exp(r[j] - mx));
    lossv[i] = log(s) - xy;
    if (scale > 0) {
      double f = scale / s;
      for (size_t j = 0; j < p; j++) r[j] *= f;
      r[y] -= scale;
    }
  }
}

/* ---- backward ----------------------------------------------------------- */

/* dL/dU, dL/dV by token, db1, then dW1 and dE from them. */
static void backward_layer1(fpf_grok_model *m, const int *pairs, size_t n,
                            const double *dpre, double *g) {
  size_t p = m->p, e = m->e, w = m->w;
  double *dU = m->dU, *dV = m->dV, *db1 = g + m->ob1;
  long nb = (long)((w + COL_BLOCK - 1) / COL_BLOCK);

  /* Scatter-add by token, a column block per thread, samples in order. */
#pragma omp parallel for schedule(static) if (nb > 1 && n * w > 65536)
  for (long b = 0; b < nb; b++) {
    size_t c0 = (size_t)b * COL_BLOCK;
    size_t c1 = c0 + COL_BLOCK < w ? c0 + COL_BLOCK : w;
    for (size_t t = 0; t < p; t++)
      for (size_t j = c0; j < c1; j++) dU[t * w + j] = dV[t * w + j] = 0;
    for (size_t j = c0; j < c1; j++) db1[j] = 0;
    for (size_t i = 0; i < n; i++) {
      const double *d = dpre + i * w;
      double *du = dU + (size_t)pairs[2 * i] * w;
      double *dv = dV + (size_t)pairs[2 * i + 1] * w;
      for (size_t j = c0; j < c1; j++) {
        du[j] += d[j];
        dv[j] += d[j];
        db1[j] += d[j];
      }
    }
  }

  /* dW1a = dU^T E, dW1b = dV^T E (w x e, in a w x 2e matrix). */
  const double *E = m->theta + m->oE, *W1 = m->theta + m->oW1;
  gemm_tn(w, e, p, dU, w, E, e, g + m->oW1, 2 * e);
  gemm_tn(w, e, p, dV, w, E, e, g + m->oW1 + e, 2 * e);

  /* dE = dU W1a + dV W1b (p x e). */
  fpf_gemm_rows(CblasNoTrans, p, e, w, 1.0, dU, w, W1, 2 * e, 0.0,
                g + m->oE, e);
  fpf_gemm_rows(CblasNoTrans, p, e, w, 1.0, dV, w, W1 + e, 2 * e, 1.0,
                g + m->oE, e);
}

/* From dlogits (in m->logits) to every parameter's gradient. */
static void backward(fpf_grok_model *m, const int *pairs, size_t n,
                     const double *h, double *g) {
  size_t p = m->p, w = m->w;
  const double *th = m->theta;

  /* Output layer: dWo = dlogits^T h, dbo, dh = dlogits Wo. */
  gemm_tn(p, w, n, m->logits, p, h, w, g + m->oWo, w);
  column_sums(m->logits, n, p, g + m->obo);
  fpf_gemm_rows(CblasNoTrans, n, w, p, 1.0, m->logits, p, th + m->oWo, w,
                0.0, m->dh, w);

  /* Layer 2: through its activation, then dW2, db2, dh1. */
  double *d1 = m->dh;
  if (m->nl == 2) {
    backprop_act(m->o.activation, m->pre2, m->dh, n, w);
    gemm_tn(w, w, n, m->dh, w, m->h1, w, g + m->oW2, w);
    column_sums(m->dh, n, w, g + m->ob2);
    fpf_gemm_rows(CblasNoTrans, n, w, w, 1.0, m->dh, w, th + m->oW2, w, 0.0,
                  m->dh1, w);
    d1 = m->dh1;
  }

  /* Layer 1 and the embeddings. */
  backprop_act(m->o.activation, m->pre1, d1, n, w);
  backward_layer1(m, pairs, n, d1, g);
}

/* ---- public passes ------------------------------------------------------ */

fpf_status fpf_grok_model_loss(fpf_grok_model *m, const int *pairs,
                               size_t n, double *loss, double *acc,
                               double *grad, fpf_error *err) {
  fpf_status st;
  if ((st = check_pairs(m, pairs, n, err)) || (st = ensure_rows(m, n, err)))
    return st;
  const double *h = forward(m, pairs, n);
  cross_entropy(m, pairs, n, grad ? 1.0 / (double)n : 0.0);

  /* Sums over samples in sample order. */
  double ls = 0;
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) ls += m->lossv[i], hits += m->correct[i];
  if (loss) *loss = ls / (double)n;
  if (acc) *acc = (double)hits / (double)n;
  if (!isfinite(ls))
    return fpf_error_set(err, FPF_ENONFINITE, "model: the loss is %g (the "
                         "parameters have left the finite range)", ls);
  if (grad) backward(m, pairs, n, h, grad);
  return FPF_OK;
}

fpf_status fpf_grok_model_latents(fpf_grok_model *m, const int *pairs,
                                  size_t n, double *z, double *gz,
                                  double *loss, fpf_error *err) {
  fpf_status st;
  if ((st = check_pairs(m, pairs, n, err)) || (st = ensure_rows(m, n, err)))
    return st;
  size_t w = m->w;
  const double *h = forward(m, pairs, n);
  memcpy(z, h, n * w * sizeof *z);

  /* Scale 1: row i is then the gradient of sample i's own loss. */
  cross_entropy(m, pairs, n, gz ? 1.0 : 0.0);
  if (loss) memcpy(loss, m->lossv, n * sizeof *loss);
  if (gz)
    fpf_gemm_rows(CblasNoTrans, n, w, m->p, 1.0, m->logits, m->p,
                  m->theta + m->oWo, w, 0.0, gz, w);
  return FPF_OK;
}

fpf_status fpf_grok_model_shrink_perturb(fpf_grok_model *m, double alpha,
                                         uint64_t draw, fpf_error *err) {
  if (!(alpha >= 0 && alpha <= 1))
    return fpf_error_set(err, FPF_EINVAL, "shrink and perturb: alpha = %g "
                         "must be in [0, 1]", alpha);
  if (draw == 0)
    return fpf_error_set(err, FPF_EINVAL, "shrink and perturb: draw 0 is "
                         "the initial state; use draw >= 1");
  double *fresh = fpf_dalloc(m->size);
  if (!fresh)
    return fpf_error_set(err, FPF_ENOMEM, "shrink and perturb: no memory");
  init_all(m, draw, fresh);
  for (size_t i = 0; i < m->size; i++)
    m->theta[i] = (1.0 - alpha) * m->theta[i] + alpha * fresh[i];
  fpf_dfree(fresh);
  return FPF_OK;
}
