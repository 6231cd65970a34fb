/*
 * Wasserstein-2 distances between point clouds (transport.h): checks of
 * the input, the method chosen by `auto`, the Gaussian (Bures) closed
 * form, the 1-D quantile matching and sliced W2.  The assignment and the
 * min-cost flow live in transport_exact.c, Sinkhorn in
 * transport_sinkhorn.c, the stationary law in transport_gibbs.c.
 */
#include "fpflow/transport.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/rng.h"
#include "internal.h"

static const char *const method_names[] = {"auto", "exact", "sinkhorn",
                                           "bures", "sliced"};

const char *fpf_w2_method_name(fpf_w2_method m) {
  if ((int)m < 0 || m > FPF_W2_SLICED) return NULL;
  return method_names[m];
}

int fpf_w2_method_parse(const char *s, fpf_w2_method *m) {
  for (int i = 0; i <= FPF_W2_SLICED; i++)
    if (s && !strcmp(s, method_names[i])) {
      *m = (fpf_w2_method)i;
      return 0;
    }
  return -1;
}

void fpf_w2_options_init(fpf_w2_options *o) {
  memset(o, 0, sizeof *o);
  o->method = FPF_W2_AUTO;
  o->exact_max = 4096;
  o->flow_max = 3000;
  o->sinkhorn_max = (size_t)1 << 24;
  o->epsilon = 0;
  o->blur = 0.1;
  o->eps_scaling = 0.5;
  o->tol = 1e-6;
  o->stage_tol = 1e-3;
  o->max_iter = 20000;
  o->projections = 256;
  o->seed = 0;
}

static const char *cloud_name(const fpf_cloud *c) {
  return c->name ? c->name : "cloud";
}

fpf_status fpf_cloud_check(const fpf_cloud *c, double *w_out,
                           fpf_error *err) {
  const char *nm = cloud_name(c);
  if (!c->x || c->n == 0 || c->d == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: needs at least one point in d >= 1 (n = %zu, "
                         "d = %zu)", nm, c->n, c->d);
  size_t row, col;
  if (fpf_find_nonfinite(c->x, c->n, c->d, &row, &col) >= 0) {
    double v = c->x[row * c->d + col];
    return fpf_error_set(err, FPF_ENONFINITE, "%s: %s at row %zu, column %zu",
                         nm, isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf", row,
                         col);
  }
  if (!c->w) {
    if (w_out)
      for (size_t i = 0; i < c->n; i++) w_out[i] = 1.0 / (double)c->n;
    return FPF_OK;
  }
  double wmax = 0;
  for (size_t i = 0; i < c->n; i++) {
    double w = c->w[i];
    if (!isfinite(w))
      return fpf_error_set(err, FPF_ENONFINITE,
                           "%s: weight %s at index %zu is not finite", nm,
                           isnan(w) ? "NaN" : w > 0 ? "Inf" : "-Inf", i);
    if (w < 0)
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: weight %g at index %zu is negative; weights "
                           "must be >= 0", nm, w, i);
    if (w > wmax) wmax = w;
  }
  if (wmax == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: all %zu weights are 0; at least one must be > 0",
                         nm, c->n);
  if (w_out) {
    /* dividing by the largest first keeps the sum from overflowing */
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->w[i] / wmax;
    for (size_t i = 0; i < c->n; i++) w_out[i] = c->w[i] / wmax / s;
  }
  return FPF_OK;
}

/* Both clouds valid and of one dimension. */
static fpf_status check_pair(const fpf_cloud *a, const fpf_cloud *b,
                             fpf_error *err) {
  fpf_status st;
  if ((st = fpf_cloud_check(a, NULL, err)) ||
      (st = fpf_cloud_check(b, NULL, err)))
    return st;
  if (a->d != b->d)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s has dimension d = %zu but %s has d = %zu; W2 "
                         "needs clouds of one dimension", cloud_name(a),
                         a->d, cloud_name(b), b->d);
  return FPF_OK;
}

/* Uniform: no weights, or all of them equal. */
static int is_uniform(const fpf_cloud *c) {
  if (!c->w) return 1;
  for (size_t i = 1; i < c->n; i++)
    if (c->w[i] != c->w[0]) return 0;
  return 1;
}

/* The method auto picks, from the sizes and weights alone. */
static fpf_w2_method auto_method(const fpf_cloud *a, const fpf_cloud *b,
                                 const fpf_w2_options *o) {
  if (a->d == 1) return FPF_W2_EXACT; /* sorting: O(n log n) */
  if (a->n == b->n && a->n <= o->exact_max && is_uniform(a) && is_uniform(b))
    return FPF_W2_EXACT;
  if (a->n + b->n <= o->flow_max) return FPF_W2_EXACT;
  if (fpf_mul_size(a->n, b->n) != 0 &&
      fpf_mul_size(a->n, b->n) <= o->sinkhorn_max)
    return FPF_W2_SINKHORN;
  return FPF_W2_SLICED;
}

fpf_status fpf_w2_distance(const fpf_cloud *a, const fpf_cloud *b,
                           const fpf_w2_options *o, fpf_w2_result *r,
                           fpf_error *err) {
  fpf_w2_options def;
  if (!o) {
    fpf_w2_options_init(&def);
    o = &def;
  }
  fpf_status st = check_pair(a, b, err);
  if (st) return st;
  memset(r, 0, sizeof *r);
  r->converged = 1;
  r->epsilon = NAN;
  r->marginal_error = NAN;
  r->method = o->method == FPF_W2_AUTO ? auto_method(a, b, o) : o->method;
  switch (r->method) {
    case FPF_W2_EXACT:
      if (a->d == 1)
        st = fpf_w2_1d(a, b, &r->w2sq, err);
      else if (a->n == b->n && is_uniform(a) && is_uniform(b))
        st = fpf_w2_assignment(a, b, &r->w2sq, NULL, err);
      else
        st = fpf_w2_flow(a, b, &r->w2sq, NULL, err);
      break;
    case FPF_W2_SINKHORN:
      st = fpf_w2_sinkhorn(a, b, o, r, err);
      break;
    case FPF_W2_BURES:
      st = fpf_w2_bures(a, b, &r->w2sq, err);
      break;
    case FPF_W2_SLICED:
      st = fpf_w2_sliced(a, b, o->projections, o->seed, &r->w2sq, err);
      break;
    default:
      return fpf_error_set(err, FPF_EINVAL, "W2: unknown method %d",
                           (int)o->method);
  }
  if (st) return st;
  r->w2 = sqrt(fmax(r->w2sq, 0.0));
  return FPF_OK;
}

/* ---- Gaussian fits and the Bures formula ------------------------------ */

fpf_status fpf_cloud_moments(const fpf_cloud *c, double *mean, double *cov,
                             fpf_error *err) {
  size_t n = c->n, d = c->d;
  double *w = fpf_dalloc(n);
  if (!w) return fpf_error_set(err, FPF_ENOMEM, "moments: out of memory");
  fpf_status st = fpf_cloud_check(c, w, err);
  if (st) {
    fpf_dfree(w);
    return st;
  }
  for (size_t k = 0; k < d; k++) mean[k] = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < d; k++) mean[k] += w[i] * c->x[i * d + k];
  if (!cov) {
    fpf_dfree(w);
    return FPF_OK;
  }
  /* cov = G^T G with rows G_i = sqrt(w_i) (x_i - mean), by the blocked,
   * thread-count independent syrk */
  double *G = fpf_dalloc(fpf_mul_size(n, d));
  if (!G) {
    fpf_dfree(w);
    return fpf_error_set(err, FPF_ENOMEM, "moments: out of memory (n = %zu, "
                         "d = %zu)", n, d);
  }
  for (size_t i = 0; i < n; i++) {
    double s = sqrt(w[i]);
    for (size_t k = 0; k < d; k++)
      G[i * d + k] = s * (c->x[i * d + k] - mean[k]);
  }
  fpf_blas_single_thread();
  fpf_syrk_full(n, d, 1.0, G, cov);
  fpf_dfree(G);
  fpf_dfree(w);
  return FPF_OK;
}

/*
 * Eigenvalues (ascending) of a symmetric matrix, and its eigenvectors in
 * V (row-major, columns are vectors) when V is not NULL.  Eigenvalues
 * below 0 by round-off (> -1e-10 of the largest magnitude) become 0; a
 * more negative one is an FPF_ENOTPD error naming `what`.
 */
static fpf_status sym_eig_psd(const double *S, size_t d, double *lam,
                              double *V, const char *what, fpf_error *err) {
  double *a = V ? V : fpf_dalloc(d * d);
  if (!a) return fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", what);
  memcpy(a, S, d * d * sizeof *a);
  fpf_blas_single_thread();
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, V ? 'V' : 'N', 'L',
                                   (lapack_int)d, a, (lapack_int)d, lam);
  if (!V) fpf_dfree(a);
  if (info != 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: symmetric eigendecomposition failed (LAPACK "
                         "dsyevd info = %d)", what, (int)info);
  double big = fmax(fabs(lam[0]), fabs(lam[d - 1]));
  if (lam[0] < -1e-10 * big)
    return fpf_error_set(err, FPF_ENOTPD,
                         "%s is not positive semidefinite: eigenvalue %g "
                         "(largest %g)", what, lam[0], lam[d - 1]);
  for (size_t i = 0; i < d; i++)
    if (lam[i] < 0) lam[i] = 0;
  return FPF_OK;
}

/* R = V diag(sqrt(lam)) V^T. */
static void sqrt_from_eig(const double *V, const double *lam, size_t d,
                          double *R) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j <= i; j++) {
      double s = 0;
      for (size_t k = 0; k < d; k++)
        s += V[i * d + k] * sqrt(lam[k]) * V[j * d + k];
      R[i * d + j] = R[j * d + i] = s;
    }
}

/* Largest asymmetry |S_ij - S_ji| relative to the largest entry. */
static double asymmetry(const double *S, size_t d) {
  double big = 0, bad = 0;
  for (size_t i = 0; i < d * d; i++) big = fmax(big, fabs(S[i]));
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < i; j++)
      bad = fmax(bad, fabs(S[i * d + j] - S[j * d + i]));
  return big > 0 ? bad / big : 0;
}

static fpf_status check_cov(const double *S, size_t d, const char *what,
                            fpf_error *err) {
  size_t row, col;
  if (fpf_find_nonfinite(S, d, d, &row, &col) >= 0)
    return fpf_error_set(err, FPF_ENONFINITE,
                         "%s: non-finite entry %g at (%zu, %zu)", what,
                         S[row * d + col], row, col);
  if (asymmetry(S, d) > 1e-12)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s is not symmetric (relative asymmetry %.3g)", what,
                         asymmetry(S, d));
  return FPF_OK;
}

fpf_status fpf_w2_gaussian(const double *m1, const double *S1,
                           const double *m2, const double *S2, size_t d,
                           double *w2sq, fpf_error *err) {
  if (d == 0) return fpf_error_set(err, FPF_EINVAL, "Bures: d = 0");
  fpf_status st;
  if ((st = check_cov(S1, d, "covariance S1", err)) ||
      (st = check_cov(S2, d, "covariance S2", err)))
    return st;
  double *V = fpf_dalloc(d * d), *R = fpf_dalloc(d * d),
         *T = fpf_dalloc(d * d), *lam = fpf_dalloc(d);
  if (!V || !R || !T || !lam) {
    st = fpf_error_set(err, FPF_ENOMEM, "Bures: out of memory (d = %zu)", d);
    goto done;
  }
  /* S2 must be PSD too, though only R1 S2 R1 is decomposed below */
  if ((st = sym_eig_psd(S2, d, lam, NULL, "covariance S2", err)) ||
      (st = sym_eig_psd(S1, d, lam, V, "covariance S1", err)))
    goto done;
  sqrt_from_eig(V, lam, d, R);
  /* M = R1 S2 R1, symmetrised against round-off; its square roots'
   * trace is the sum of the square roots of its eigenvalues */
  cblas_dsymm(CblasRowMajor, CblasLeft, CblasLower, (int)d, (int)d, 1.0, R,
              (int)d, S2, (int)d, 0.0, T, (int)d);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d,
              (int)d, 1.0, T, (int)d, R, (int)d, 0.0, V, (int)d);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < i; j++)
      V[i * d + j] = V[j * d + i] = 0.5 * (V[i * d + j] + V[j * d + i]);
  if ((st = sym_eig_psd(V, d, lam, NULL, "S1^1/2 S2 S1^1/2", err))) goto done;
  double cross = 0, tr = 0, dm = 0;
  for (size_t k = 0; k < d; k++) {
    cross += sqrt(lam[k]);
    tr += S1[k * d + k] + S2[k * d + k];
    dm += (m1[k] - m2[k]) * (m1[k] - m2[k]);
  }
  *w2sq = fmax(dm + tr - 2.0 * cross, 0.0);
done:
  fpf_dfree(V);
  fpf_dfree(R);
  fpf_dfree(T);
  fpf_dfree(lam);
  return st;
}

fpf_status fpf_w2_bures(const fpf_cloud *a, const fpf_cloud *b,
                        double *w2sq, fpf_error *err) {
  fpf_status st = check_pair(a, b, err);
  if (st) return st;
  size_t d = a->d;
  double *ma = fpf_dalloc(d), *mb = fpf_dalloc(d), *Sa = fpf_dalloc(d * d),
         *Sb = fpf_dalloc(d * d);
  if (!ma || !mb || !Sa || !Sb)
    st = fpf_error_set(err, FPF_ENOMEM, "Bures: out of memory (d = %zu)", d);
  else if (!(st = fpf_cloud_moments(a, ma, Sa, err)) &&
           !(st = fpf_cloud_moments(b, mb, Sb, err)))
    st = fpf_w2_gaussian(ma, Sa, mb, Sb, d, w2sq, err);
  fpf_dfree(ma);
  fpf_dfree(mb);
  fpf_dfree(Sa);
  fpf_dfree(Sb);
  return st;
}

fpf_status fpf_kl_gaussian(const double *m1, const double *S1,
                           const double *m2, const double *S2, size_t d,
                           double *kl, fpf_error *err) {
  if (d == 0) return fpf_error_set(err, FPF_EINVAL, "Gaussian KL: d = 0");
  fpf_status st;
  if ((st = check_cov(S1, d, "covariance S1", err)) ||
      (st = check_cov(S2, d, "covariance S2", err)))
    return st;
  double *L1 = fpf_dalloc(d * d), *L2 = fpf_dalloc(d * d),
         *Z = fpf_dalloc(d * d), *dm = fpf_dalloc(d);
  if (!L1 || !L2 || !Z || !dm) {
    st = fpf_error_set(err, FPF_ENOMEM, "Gaussian KL: out of memory");
    goto done;
  }
  memcpy(L1, S1, d * d * sizeof *L1);
  memcpy(L2, S2, d * d * sizeof *L2);
  memcpy(Z, S1, d * d * sizeof *Z);
  fpf_blas_single_thread();
  lapack_int i1 = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, L1,
                                 (lapack_int)d);
  lapack_int i2 = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, L2,
                                 (lapack_int)d);
  if (i1 != 0 || i2 != 0) {
    st = fpf_error_set(err, FPF_ENOTPD,
                       "Gaussian KL: covariance %s is not positive definite "
                       "(Cholesky fails at column %d)", i1 ? "S1" : "S2",
                       (int)(i1 ? i1 : i2));
    goto done;
  }
  /* Z = S2^-1 S1 and dm = L2^-1 (m2 - m1) */
  LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, (lapack_int)d, L2,
                 (lapack_int)d, Z, (lapack_int)d);
  for (size_t k = 0; k < d; k++) dm[k] = m2[k] - m1[k];
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)d,
              L2, (int)d, dm, 1);
  double tr = 0, q = 0, ld = 0;
  for (size_t k = 0; k < d; k++) {
    tr += Z[k * d + k];
    q += dm[k] * dm[k];
    ld += 2.0 * (log(L2[k * d + k]) - log(L1[k * d + k]));
  }
  *kl = 0.5 * (tr + q - (double)d + ld);
done:
  fpf_dfree(L1);
  fpf_dfree(L2);
  fpf_dfree(Z);
  fpf_dfree(dm);
  return st;
}

/* ---- one dimension and sliced W2 ----------------------------------------- */

typedef struct vw {
  double v, w;
} vw;

static int cmp_vw(const void *p, const void *q) {
  double a = ((const vw *)p)->v, b = ((const vw *)q)->v;
  return (a > b) - (a < b);
}

/*
 * W2^2 between sorted weighted samples: the monotone coupling, which is
 * optimal in 1-D, as the integral over t in (0, 1) of
 * (F^-1(t) - G^-1(t))^2 over the merged cumulative weights.  Cumulative
 * sums (not remaining masses) keep round-off from building up.
 */
static double w2_sorted(const vw *a, size_t na, const vw *b, size_t nb) {
  size_t i = 0, j = 0;
  double Fa = a[0].w, Fb = b[0].w, prev = 0, s = 0;
  while (i < na && j < nb) {
    double m = Fa < Fb ? Fa : Fb, dv = a[i].v - b[j].v;
    s += (m - prev) * dv * dv;
    prev = m;
    int adv_a = Fa <= Fb, adv_b = Fb <= Fa;
    if (adv_a && ++i < na) Fa += a[i].w;
    if (adv_b && ++j < nb) Fb += b[j].w;
  }
  return s;
}

fpf_status fpf_w2_1d(const fpf_cloud *a, const fpf_cloud *b, double *w2sq,
                     fpf_error *err) {
  fpf_status st = check_pair(a, b, err);
  if (st) return st;
  if (a->d != 1)
    return fpf_error_set(err, FPF_EINVAL, "1-D W2: %s has d = %zu, not 1",
                         cloud_name(a), a->d);
  vw *pa = malloc(a->n * sizeof *pa), *pb = malloc(b->n * sizeof *pb);
  double *wa = fpf_dalloc(a->n), *wb = fpf_dalloc(b->n);
  if (!pa || !pb || !wa || !wb) {
    st = fpf_error_set(err, FPF_ENOMEM, "1-D W2: out of memory");
  } else {
    fpf_cloud_check(a, wa, NULL);
    fpf_cloud_check(b, wb, NULL);
    for (size_t i = 0; i < a->n; i++) pa[i] = (vw){a->x[i], wa[i]};
    for (size_t j = 0; j < b->n; j++) pb[j] = (vw){b->x[j], wb[j]};
    qsort(pa, a->n, sizeof *pa, cmp_vw);
    qsort(pb, b->n, sizeof *pb, cmp_vw);
    *w2sq = w2_sorted(pa, a->n, pb, b->n);
  }
  free(pa);
  free(pb);
  fpf_dfree(wa);
  fpf_dfree(wb);
  return st;
}

/* theta.x_i for every point of c, with its weight, sorted. */
static void project(const fpf_cloud *c, const double *w, const double *th,
                    vw *out) {
  size_t d = c->d;
  for (size_t i = 0; i < c->n; i++) {
    double s = 0;
    for (size_t k = 0; k < d; k++) s += th[k] * c->x[i * d + k];
    out[i] = (vw){s, w[i]};
  }
  qsort(out, c->n, sizeof *out, cmp_vw);
}

fpf_status fpf_w2_sliced(const fpf_cloud *a, const fpf_cloud *b,
                         size_t projections, uint64_t seed, double *sw2sq,
                         fpf_error *err) {
  fpf_status st = check_pair(a, b, err);
  if (st) return st;
  if (projections == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "sliced W2: projections = 0; needs at least 1");
  size_t d = a->d, K = projections;
  double *wa = fpf_dalloc(a->n), *wb = fpf_dalloc(b->n),
         *per = fpf_dalloc(K);
  int nomem = !wa || !wb || !per;
  if (!nomem) {
    fpf_cloud_check(a, wa, NULL);
    fpf_cloud_check(b, wb, NULL);
#pragma omp parallel reduction(|| : nomem)
    {
      vw *pa = malloc(a->n * sizeof *pa), *pb = malloc(b->n * sizeof *pb);
      double *th = malloc(d * sizeof *th);
      nomem = !pa || !pb || !th;
#pragma omp for schedule(dynamic)
      for (size_t k = 0; k < K; k++) {
        if (nomem) continue;
        /* a normalised Gaussian vector is uniform on the sphere; d = 1
         * has only the directions +1 and -1 */
        double r = 0;
        for (uint64_t attempt = 0; r == 0; attempt++) {
          fpf_rng_normals(seed, FPF_STREAM_SLICED, attempt, k, th, d);
          for (size_t c = 0; c < d; c++) r += th[c] * th[c];
        }
        for (size_t c = 0; c < d; c++) th[c] /= sqrt(r);
        project(a, wa, th, pa);
        project(b, wb, th, pb);
        per[k] = w2_sorted(pa, a->n, pb, b->n);
      }
      free(pa);
      free(pb);
      free(th);
    }
  }
  if (nomem) {
    st = fpf_error_set(err, FPF_ENOMEM, "sliced W2: out of memory");
  } else {
    double s = 0;
    for (size_t k = 0; k < K; k++) s += per[k];
    *sw2sq = s / (double)K;
  }
  fpf_dfree(wa);
  fpf_dfree(wb);
  fpf_dfree(per);
  return st;
}
