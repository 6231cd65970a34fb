/*
 * AdamW (Loshchilov and Hutter, "Decoupled weight decay regularization",
 * ICLR 2019) in the form torch.optim.AdamW computes it, operation for
 * operation: decay first (theta *= 1 - lr wd), then the moments, then
 * theta -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), with bc_k = 1 -
 * beta_k^t.  Each coordinate is independent, so the loop is shared by
 * threads without changing any result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/grok.h"
#include "internal.h"

struct fpf_grok_adamw {
  fpf_grok_adamw_options o;
  size_t n;
  long t;
  double *m, *v;
};

void fpf_grok_adamw_options_init(fpf_grok_adamw_options *o) {
  o->lr = 1e-3;
  o->beta1 = 0.9;
  o->beta2 = 0.98;
  o->eps = 1e-8;
  o->weight_decay = 1.0;
}

fpf_status fpf_grok_adamw_options_check(const fpf_grok_adamw_options *o,
                                        fpf_error *err) {
  if (!(o->lr > 0 && isfinite(o->lr)))
    return fpf_error_set(err, FPF_EINVAL, "lr = %g: must be a finite number "
                         "> 0", o->lr);
  if (!(o->beta1 >= 0 && o->beta1 < 1))
    return fpf_error_set(err, FPF_EINVAL, "beta1 = %g: must be in [0, 1)",
                         o->beta1);
  if (!(o->beta2 >= 0 && o->beta2 < 1))
    return fpf_error_set(err, FPF_EINVAL, "beta2 = %g: must be in [0, 1)",
                         o->beta2);
  if (!(o->eps > 0 && isfinite(o->eps)))
    return fpf_error_set(err, FPF_EINVAL, "eps = %g: must be a finite number "
                         "> 0", o->eps);
  if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
    return fpf_error_set(err, FPF_EINVAL, "weight_decay = %g: must be a "
                         "finite number >= 0", o->weight_decay);
  return FPF_OK;
}

fpf_status fpf_grok_adamw_create(fpf_grok_adamw **out, size_t n,
                                 const fpf_grok_adamw_options *o,
                                 fpf_error *err) {
  *out = NULL;
  fpf_status st = fpf_grok_adamw_options_check(o, err);
  if (st) return st;
  if (n == 0)
    return fpf_error_set(err, FPF_EINVAL, "AdamW: n = 0 parameters");
  fpf_grok_adamw *a = calloc(1, sizeof *a);
  if (a) {
    a->m = fpf_dalloc(n);
    a->v = fpf_dalloc(n);
  }
  if (!a || !a->m || !a->v) {
    fpf_grok_adamw_destroy(a);
    return fpf_error_set(err, FPF_ENOMEM, "AdamW: no memory for %zu "
                         "parameters", n);
  }
  a->o = *o;
  a->n = n;
  *out = a;
  return FPF_OK;
}

void fpf_grok_adamw_destroy(fpf_grok_adamw *a) {
  if (!a) return;
  fpf_dfree(a->m);
  fpf_dfree(a->v);
  free(a);
}

long fpf_grok_adamw_steps(const fpf_grok_adamw *a) { return a->t; }

fpf_status fpf_grok_adamw_step(fpf_grok_adamw *a, double *theta,
                               const double *grad, fpf_error *err) {
  size_t bad, col;
  if (fpf_find_nonfinite(grad, a->n, 1, &bad, &col) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "AdamW step %ld: gradient entry %zu is %g",
                         a->t + 1, bad, grad[bad]);
  a->t++;
  const double lr = a->o.lr, b1 = a->o.beta1, b2 = a->o.beta2;
  const double decay = 1.0 - lr * a->o.weight_decay;
  const double bc1 = 1.0 - pow(b1, (double)a->t);
  const double bc2 = 1.0 - pow(b2, (double)a->t);
  const double step = lr / bc1, rbc2 = sqrt(bc2), eps = a->o.eps;
  double *m = a->m, *v = a->v;
  const long n = (long)a->n;
#pragma omp parallel for schedule(static) if (n > 100000)
  for (long i = 0; i < n; i++) {
    double g = grad[i];
    theta[i] *= decay;
    m[i] = b1 * m[i] + (1.0 - b1) * g;
    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
    theta[i] -= step * m[i] / (sqrt(v[i]) / rbc2 + eps);
  }
  return FPF_OK;
}
