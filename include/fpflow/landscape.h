/*
 * Loss landscapes L: R^d -> R with their gradients, evaluated on a batch
 * of points (n x d, row-major).
 *
 * Built-in landscapes:
 *   quadratic    L = 0.5 (z - m)^T A (z - m), A symmetric (default I, m 0)
 *   two_wells    d = 2, L = -logaddexp(-w1, -w2),
 *                w1 = ((z1 + 2)^2 + z2^2) / 2, w2 = ((z1 - 2)^2 + (z2 - 1)^2)/2
 *   mixture      L = -log sum_k p_k exp(-|z - m_k|^2 / (2 s_k^2)),
 *                K isotropic Gaussian wells with weights p_k (sum 1)
 *   rosenbrock   L = sum_{i<d-1} (a - z_i)^2 + b (z_{i+1} - z_i^2)^2
 *   decoder      L = mean_k (dec(z)_k - x_k)^2, dec(z) = W2 relu(W1 z + b1)
 *                + b2, W1: H x d, W2: D_x x H (H = 128 in the reference)
 *   callback     a user function giving value and gradient
 *
 * A landscape copies the parameters it is given.  Evaluation may use an
 * internal workspace, so one landscape object must not be evaluated from
 * two threads at once; fpf_landscape_reserve() sizes that workspace ahead
 * of time so that evaluation allocates nothing.
 */
#ifndef FPFLOW_LANDSCAPE_H
#define FPFLOW_LANDSCAPE_H

#include <stddef.h>

#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fpf_landscape fpf_landscape;

/*
 * A user landscape: for n points z (n x d) write value[i] = L(z_i) and
 * grad (n x d) = grad L(z_i).  value may be NULL when only gradients are
 * wanted.  Return 0 on success; anything else stops the caller with
 * FPF_ECALLBACK, and the function may leave a message in err.
 */
typedef int (*fpf_landscape_fn)(void *user, size_t n, size_t d,
                                const double *z, double *value, double *grad,
                                fpf_error *err);

fpf_status fpf_landscape_quadratic(fpf_landscape **out, size_t d,
                                   const double *m, const double *A,
                                   fpf_error *err);
fpf_status fpf_landscape_two_wells(fpf_landscape **out, fpf_error *err);
fpf_status fpf_landscape_mixture(fpf_landscape **out, size_t d, size_t K,
                                 const double *means, const double *widths,
                                 const double *weights, fpf_error *err);
fpf_status fpf_landscape_rosenbrock(fpf_landscape **out, size_t d, double a,
                                    double b, fpf_error *err);
fpf_status fpf_landscape_decoder(fpf_landscape **out, size_t d, size_t hidden,
                                 size_t dx, const double *W1, const double *b1,
                                 const double *W2, const double *b2,
                                 const double *x, fpf_error *err);
fpf_status fpf_landscape_callback(fpf_landscape **out, size_t d,
                                  fpf_landscape_fn fn, void *user,
                                  fpf_error *err);

void fpf_landscape_destroy(fpf_landscape *L);

size_t fpf_landscape_dim(const fpf_landscape *L);
/* "quadratic", "two_wells", "mixture", "rosenbrock", "decoder", "callback" */
const char *fpf_landscape_name(const fpf_landscape *L);

/* Prepares evaluation of batches of up to n points. */
fpf_status fpf_landscape_reserve(fpf_landscape *L, size_t n, fpf_error *err);

/*
 * value (n, may be NULL) and grad (n x d, may be NULL) at z (n x d).  A
 * non-finite value or gradient is an FPF_ENONFINITE error naming the point.
 */
fpf_status fpf_landscape_eval(fpf_landscape *L, size_t n, const double *z,
                              double *value, double *grad, fpf_error *err);

/*
 * For the quadratic and mixture landscapes, the exact parameters
 * (others return FPF_EUNSUPPORTED): used to sample exp(-beta L) exactly.
 * Pointers stay valid while L lives.
 */
fpf_status fpf_landscape_quadratic_params(const fpf_landscape *L,
                                          const double **m, const double **A);
fpf_status fpf_landscape_mixture_params(const fpf_landscape *L, size_t *K,
                                        const double **means,
                                        const double **widths,
                                        const double **weights);

#ifdef __cplusplus
}
#endif

#endif
