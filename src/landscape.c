/*
 * Built-in and user loss landscapes (landscape.h).
 *
 * Built-ins are type objects: one evaluation function per kind, each
 * point handled independently, so batches are split over OpenMP threads
 * with identical results for any thread count.  The decoder evaluates a
 * whole batch with BLAS instead, since its cost is matrix products.
 */
#include "fpflow/landscape.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "internal.h"

typedef enum kind { QUADRATIC, TWO_WELLS, MIXTURE, ROSENBROCK, DECODER,
                    CALLBACK } kind;

static const char *const kind_name[] = {"quadratic",  "two_wells", "mixture",
                                        "rosenbrock", "decoder",   "callback"};

struct fpf_landscape {
  kind kind;
  size_t d;
  /* quadratic: m (d), A (d x d) and its diagonal adiag (d); diag when A is
   * diagonal */
  double *m, *A, *adiag;
  int diag;
  /* mixture: K wells, means (K x d), widths, log weights */
  size_t K;
  double *means, *widths, *weights, *logw;
  /* rosenbrock */
  double a, b;
  /* decoder: W1 (H x d), b1 (H), W2 (dx x H), b2 (dx), x (dx) */
  size_t hidden, dx;
  double *W1, *b1, *W2, *b2, *x;
  double *work; /* n x (H + dx) for the decoder */
  size_t work_n;
  /* callback */
  fpf_landscape_fn fn;
  void *user;
};

static fpf_status make(fpf_landscape **out, kind k, size_t d, fpf_error *err) {
  *out = NULL;
  if (d == 0)
    return fpf_error_set(err, FPF_EINVAL, "%s landscape: dimension d = 0",
                         kind_name[k]);
  fpf_landscape *L = calloc(1, sizeof *L);
  if (!L) return fpf_error_set(err, FPF_ENOMEM, "landscape: out of memory");
  L->kind = k;
  L->d = d;
  *out = L;
  return FPF_OK;
}

static double *copy_or(const double *src, size_t n, double fill) {
  double *p = fpf_dalloc(n);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) p[i] = src ? src[i] : fill;
  return p;
}

static fpf_status nomem(fpf_landscape *L, fpf_error *err) {
  const char *name = kind_name[L->kind];
  fpf_landscape_destroy(L);
  return fpf_error_set(err, FPF_ENOMEM, "%s landscape: out of memory", name);
}

static fpf_status check_finite(const char *what, const char *name,
                               const double *v, size_t n, fpf_error *err) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i]))
      return fpf_error_set(err, FPF_ENONFINITE,
                           "%s landscape: %s[%zu] = %g is not finite", what,
                           name, i, v[i]);
  return FPF_OK;
}

fpf_status fpf_landscape_quadratic(fpf_landscape **out, size_t d,
                                   const double *m, const double *A,
                                   fpf_error *err) {
  fpf_status st = make(out, QUADRATIC, d, err);
  if (st) return st;
  fpf_landscape *L = *out;
  L->m = copy_or(m, d, 0.0);
  L->A = fpf_dalloc(d * d);
  L->adiag = fpf_dalloc(d);
  if (!L->m || !L->A || !L->adiag) return nomem(L, err);
  for (size_t i = 0; i < d; i++) {
    for (size_t j = 0; j < d; j++)
      L->A[i * d + j] = A ? A[i * d + j] : (i == j);
    L->adiag[i] = L->A[i * d + i];
  }
  if ((st = check_finite("quadratic", "m", L->m, d, err)) ||
      (st = check_finite("quadratic", "A", L->A, d * d, err))) {
    fpf_landscape_destroy(L);
    *out = NULL;
    return st;
  }
  L->diag = 1;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      if (i != j && L->A[i * d + j] != 0) L->diag = 0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < i; j++)
      if (fabs(L->A[i * d + j] - L->A[j * d + i]) >
          1e-12 * (fabs(L->A[i * d + j]) + fabs(L->A[j * d + i]))) {
        fpf_landscape_destroy(L);
        *out = NULL;
        return fpf_error_set(err, FPF_EINVAL,
                             "quadratic landscape: A is not symmetric: "
                             "A[%zu][%zu] = %g but A[%zu][%zu] = %g",
                             i, j, A[i * d + j], j, i, A[j * d + i]);
      }
  return FPF_OK;
}

fpf_status fpf_landscape_two_wells(fpf_landscape **out, fpf_error *err) {
  return make(out, TWO_WELLS, 2, err);
}

fpf_status fpf_landscape_mixture(fpf_landscape **out, size_t d, size_t K,
                                 const double *means, const double *widths,
                                 const double *weights, fpf_error *err) {
  *out = NULL;
  if (K == 0 || !means)
    return fpf_error_set(err, FPF_EINVAL,
                         "mixture landscape: needs K >= 1 wells and their "
                         "means (K = %zu)", K);
  fpf_status st = make(out, MIXTURE, d, err);
  if (st) return st;
  fpf_landscape *L = *out;
  L->K = K;
  L->means = copy_or(means, K * d, 0.0);
  L->widths = copy_or(widths, K, 1.0);
  L->weights = copy_or(weights, K, 1.0 / (double)K);
  L->logw = fpf_dalloc(K);
  if (!L->means || !L->widths || !L->weights || !L->logw) return nomem(L, err);
  double wsum = 0;
  for (size_t k = 0; k < K; k++) {
    if (!(L->widths[k] > 0) || !isfinite(L->widths[k]) ||
        !(L->weights[k] > 0) || !isfinite(L->weights[k])) {
      double w = L->widths[k], p = L->weights[k];
      fpf_landscape_destroy(L);
      *out = NULL;
      return fpf_error_set(err, FPF_EINVAL,
                           "mixture landscape: well %zu has width %g and "
                           "weight %g; both must be finite and > 0", k, w, p);
    }
    wsum += L->weights[k];
  }
  if ((st = check_finite("mixture", "means", L->means, K * d, err))) {
    fpf_landscape_destroy(L);
    *out = NULL;
    return st;
  }
  for (size_t k = 0; k < K; k++) {
    L->weights[k] /= wsum;
    L->logw[k] = log(L->weights[k]);
  }
  return FPF_OK;
}

fpf_status fpf_landscape_rosenbrock(fpf_landscape **out, size_t d, double a,
                                    double b, fpf_error *err) {
  *out = NULL;
  if (d < 2 || !isfinite(a) || !isfinite(b))
    return fpf_error_set(err, FPF_EINVAL,
                         "rosenbrock landscape: needs d >= 2 and finite a, b "
                         "(d = %zu, a = %g, b = %g)", d, a, b);
  fpf_status st = make(out, ROSENBROCK, d, err);
  if (st) return st;
  (*out)->a = a;
  (*out)->b = b;
  return FPF_OK;
}

fpf_status fpf_landscape_decoder(fpf_landscape **out, size_t d, size_t hidden,
                                 size_t dx, const double *W1, const double *b1,
                                 const double *W2, const double *b2,
                                 const double *x, fpf_error *err) {
  *out = NULL;
  if (hidden == 0 || dx == 0 || !W1 || !W2 || !x)
    return fpf_error_set(err, FPF_EINVAL,
                         "decoder landscape: needs W1, W2, the target x and "
                         "hidden, output sizes >= 1 (hidden = %zu, dx = %zu)",
                         hidden, dx);
  fpf_status st = make(out, DECODER, d, err);
  if (st) return st;
  fpf_landscape *L = *out;
  L->hidden = hidden;
  L->dx = dx;
  L->W1 = copy_or(W1, hidden * d, 0.0);
  L->b1 = copy_or(b1, hidden, 0.0);
  L->W2 = copy_or(W2, dx * hidden, 0.0);
  L->b2 = copy_or(b2, dx, 0.0);
  L->x = copy_or(x, dx, 0.0);
  if (!L->W1 || !L->b1 || !L->W2 || !L->b2 || !L->x) return nomem(L, err);
  if ((st = check_finite("decoder", "W1", L->W1, hidden * d, err)) ||
      (st = check_finite("decoder", "b1", L->b1, hidden, err)) ||
      (st = check_finite("decoder", "W2", L->W2, dx * hidden, err)) ||
      (st = check_finite("decoder", "b2", L->b2, dx, err)) ||
      (st = check_finite("decoder", "x", L->x, dx, err))) {
    fpf_landscape_destroy(L);
    *out = NULL;
    return st;
  }
  return FPF_OK;
}

fpf_status fpf_landscape_callback(fpf_landscape **out, size_t d,
                                  fpf_landscape_fn fn, void *user,
                                  fpf_error *err) {
  *out = NULL;
  if (!fn)
    return fpf_error_set(err, FPF_EINVAL, "callback landscape: fn is NULL");
  fpf_status st = make(out, CALLBACK, d, err);
  if (st) return st;
  (*out)->fn = fn;
  (*out)->user = user;
  return FPF_OK;
}

void fpf_landscape_destroy(fpf_landscape *L) {
  if (!L) return;
  double *bufs[] = {L->m,  L->A,  L->adiag, L->means, L->widths, L->weights,
                    L->logw, L->W1, L->b1, L->W2, L->b2, L->x, L->work};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) fpf_dfree(bufs[i]);
  free(L);
}

size_t fpf_landscape_dim(const fpf_landscape *L) { return L->d; }
const char *fpf_landscape_name(const fpf_landscape *L) {
  return kind_name[L->kind];
}

fpf_status fpf_landscape_reserve(fpf_landscape *L, size_t n, fpf_error *err) {
  size_t per = L->kind == DECODER ? L->hidden + L->dx
               : L->kind == QUADRATIC && !L->diag && L->d > 16 ? 2 * L->d
                                                               : 0;
  if (per == 0 || n <= L->work_n) return FPF_OK;
  double *w = fpf_dalloc(fpf_mul_size(n, per));
  if (!w)
    return fpf_error_set(err, FPF_ENOMEM,
                         "%s landscape: no memory for %zu points",
                         kind_name[L->kind], n);
  fpf_dfree(L->work);
  L->work = w;
  L->work_n = n;
  return FPF_OK;
}

/* ---- one point at a time ------------------------------------------- */

static double quadratic_point(const fpf_landscape *L, const double *z,
                              double *g) {
  size_t d = L->d;
  double v = 0;
  if (L->diag) {
    const double *a = L->adiag, *m = L->m;
    for (size_t i = 0; i < d; i++) {
      double Ai = a[i] * (z[i] - m[i]);
      if (g) g[i] = Ai;
      v += 0.5 * (z[i] - m[i]) * Ai;
    }
    return v;
  }
  for (size_t i = 0; i < d; i++) {
    double Ai = 0;
    for (size_t j = 0; j < d; j++) Ai += L->A[i * d + j] * (z[j] - L->m[j]);
    if (g) g[i] = Ai;
    v += 0.5 * (z[i] - L->m[i]) * Ai;
  }
  return v;
}

/* -logaddexp(-w1, -w2) and its gradient, the weights p_k = softmax(-w). */
static double two_wells_point(const double *z, double *g) {
  double w1 = 0.5 * ((z[0] + 2) * (z[0] + 2) + z[1] * z[1]);
  double w2 = 0.5 * ((z[0] - 2) * (z[0] - 2) + (z[1] - 1) * (z[1] - 1));
  double lo = w1 < w2 ? w1 : w2;
  double e1 = exp(lo - w1), e2 = exp(lo - w2), s = e1 + e2;
  if (g) {
    double p1 = e1 / s, p2 = e2 / s;
    g[0] = p1 * (z[0] + 2) + p2 * (z[0] - 2);
    g[1] = p1 * z[1] + p2 * (z[1] - 1);
  }
  return lo - log(s);
}

static double mixture_point(const fpf_landscape *L, const double *z,
                            double *g) {
  size_t d = L->d, K = L->K;
  double mx = -INFINITY;
  /* first pass: the log terms, to find the largest */
  for (size_t k = 0; k < K; k++) {
    const double *mk = L->means + k * d;
    double r2 = 0;
    for (size_t j = 0; j < d; j++) r2 += (z[j] - mk[j]) * (z[j] - mk[j]);
    double e = L->logw[k] - r2 / (2 * L->widths[k] * L->widths[k]);
    if (e > mx) mx = e;
  }
  double s = 0;
  if (g) memset(g, 0, d * sizeof *g);
  for (size_t k = 0; k < K; k++) {
    const double *mk = L->means + k * d;
    double s2 = L->widths[k] * L->widths[k], r2 = 0;
    for (size_t j = 0; j < d; j++) r2 += (z[j] - mk[j]) * (z[j] - mk[j]);
    double w = exp(L->logw[k] - r2 / (2 * s2) - mx);
    s += w;
    if (g)
      for (size_t j = 0; j < d; j++) g[j] += w * (z[j] - mk[j]) / s2;
  }
  if (g)
    for (size_t j = 0; j < d; j++) g[j] /= s;
  return -(mx + log(s));
}

static double rosenbrock_point(const fpf_landscape *L, const double *z,
                               double *g) {
  size_t d = L->d;
  double a = L->a, b = L->b, v = 0;
  if (g) memset(g, 0, d * sizeof *g);
  for (size_t i = 0; i + 1 < d; i++) {
    double u = a - z[i], w = z[i + 1] - z[i] * z[i];
    v += u * u + b * w * w;
    if (g) {
      g[i] += -2 * u - 4 * b * w * z[i];
      g[i + 1] += 2 * b * w;
    }
  }
  return v;
}

/* A full quadratic on a batch: G = (Z - m) A by BLAS, O(n d^2). */
static void quadratic_batch(fpf_landscape *L, size_t n, const double *z,
                            double *value, double *grad) {
  size_t d = L->d;
  double *dz = L->work, *g = grad ? grad : L->work + n * d;
  for (size_t i = 0; i < n; i++)
    for (size_t c = 0; c < d; c++) dz[i * d + c] = z[i * d + c] - L->m[c];
  fpf_gemm_rows(CblasNoTrans, n, d, d, 1.0, dz, d, L->A, d, 0.0, g, d);
  if (!value) return;
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (size_t c = 0; c < d; c++) v += dz[i * d + c] * g[i * d + c];
    value[i] = 0.5 * v;
  }
}

/* The decoder on a batch: H = relu(Z W1^T + b1), Y = H W2^T + b2. */
static void decoder_batch(fpf_landscape *L, size_t n, const double *z,
                          double *value, double *grad) {
  size_t d = L->d, H = L->hidden, X = L->dx;
  double *h = L->work, *y = L->work + n * H;
  for (size_t i = 0; i < n; i++) memcpy(h + i * H, L->b1, H * sizeof *h);
  fpf_gemm_rows(CblasTrans, n, H, d, 1.0, z, d, L->W1, d, 1.0, h, H);
  for (size_t i = 0; i < n * H; i++) h[i] = h[i] > 0 ? h[i] : 0;
  for (size_t i = 0; i < n; i++) memcpy(y + i * X, L->b2, X * sizeof *y);
  fpf_gemm_rows(CblasTrans, n, X, H, 1.0, h, H, L->W2, H, 1.0, y, X);
  /* residual r = y - x; L = mean r^2; dL/dy = 2 r / X */
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t k = 0; k < X; k++) {
      double r = y[i * X + k] - L->x[k];
      s += r * r;
      y[i * X + k] = 2 * r / (double)X;
    }
    if (value) value[i] = s / (double)X;
  }
  if (!grad) return;
  /* dL/dh = dL/dy W2, masked by relu'; dL/dz = dL/dh W1 */
  for (size_t i = 0; i < n * H; i++) h[i] = h[i] > 0 ? 1.0 : 0.0;
  double *gh = L->work; /* reuse h as mask, then as dL/dh in place */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < H; j++) {
      if (gh[i * H + j] == 0) continue;
      double s = 0;
      for (size_t k = 0; k < X; k++) s += y[i * X + k] * L->W2[k * H + j];
      gh[i * H + j] = s;
    }
  fpf_gemm_rows(CblasNoTrans, n, d, H, 1.0, gh, H, L->W1, d, 0.0, grad, d);
}

fpf_status fpf_landscape_eval(fpf_landscape *L, size_t n, const double *z,
                              double *value, double *grad, fpf_error *err) {
  size_t d = L->d;
  fpf_status st = FPF_OK;
  int checked = 0; /* the gradient is known to be finite */
  if (L->kind == CALLBACK) {
    fpf_error_clear(err);
    if (L->fn(L->user, n, d, z, value, grad, err) != 0) {
      if (err && err->msg[0]) {
        err->status = FPF_ECALLBACK;
        return FPF_ECALLBACK;
      }
      return fpf_error_set(err, FPF_ECALLBACK,
                           "user landscape callback reported a failure");
    }
  } else if (L->kind == QUADRATIC && !L->diag && d > 16) {
    if ((st = fpf_landscape_reserve(L, n, err))) return st;
    quadratic_batch(L, n, z, value, grad);
  } else if (L->kind == DECODER) {
    if ((st = fpf_landscape_reserve(L, n, err))) return st;
    decoder_batch(L, n, z, value, grad);
  } else {
    /* each point's gradient checked while in cache; bad is 0, or NaN
     * when some coordinate is not finite */
    double bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) \
    if (n * d * 20 > FPF_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
      const double *zi = z + i * d;
      double *gi = grad ? grad + i * d : NULL, v = 0;
      switch (L->kind) {
        case QUADRATIC: v = quadratic_point(L, zi, gi); break;
        case TWO_WELLS: v = two_wells_point(zi, gi); break;
        case MIXTURE: v = mixture_point(L, zi, gi); break;
        case ROSENBROCK: v = rosenbrock_point(L, zi, gi); break;
        default: break;
      }
      if (value) value[i] = v;
      if (gi) bad += fpf_nonfinite_mark(gi, d);
    }
    checked = bad == 0;
  }
  size_t r, c;
  if (value && fpf_find_nonfinite(value, n, 1, &r, &c) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "%s landscape: loss at point %zu is %g",
                         kind_name[L->kind], r, value[r]);
  if (grad && !checked && fpf_find_nonfinite(grad, n, d, &r, &c) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "%s landscape: gradient at point %zu, coordinate "
                         "%zu is %g",
                         kind_name[L->kind], r, c, grad[r * d + c]);
  return FPF_OK;
}

fpf_status fpf_landscape_quadratic_params(const fpf_landscape *L,
                                          const double **m, const double **A) {
  if (L->kind != QUADRATIC) return FPF_EUNSUPPORTED;
  *m = L->m;
  *A = L->A;
  return FPF_OK;
}

fpf_status fpf_landscape_mixture_params(const fpf_landscape *L, size_t *K,
                                        const double **means,
                                        const double **widths,
                                        const double **weights) {
  if (L->kind != MIXTURE) return FPF_EUNSUPPORTED;
  *K = L->K;
  *means = L->means;
  *widths = L->widths;
  *weights = L->weights;
  return FPF_OK;
}
