/*
 * The flow at one instant (flow.h): KDE, drift, diffusion, observables.
 *
 * The work is a handful of BLAS level-3 calls (the KDE's Gram and weight
 * products, syrk for F, the D s product) plus O(n d) loops.  Per-particle
 * quantities are formed in parallel; every sum over particles is then
 * taken in particle order, so that the figures do not depend on the
 * number of threads and a split of the particles over processes only has
 * to add up the same partial sums.
 */
#include "fpflow/flow.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#include <omp.h>

/* Up to this dimension the d x d products are fpflow's own loops in
 * registers (small.c: a BLAS call costs more than the arithmetic), and
 * single precision buys nothing there. */
#define SMALL_D FPF_FLOW_SMALL_D
_Static_assert(SMALL_D <= FPF_SMALL_MAX, "the small-d products cover d");
/* Fisher for d <= SMALL_D: row blocks of at least FISHER_ROWS rows, at
 * most FISHER_PARTS of them, each summed into a d x d part of its own.
 * The blocks depend on n only, so F does not depend on the threads. */
#define FISHER_ROWS 64
#define FISHER_PARTS 64

struct fpf_flow {
  double prof[FPF_NPHASES];
  size_t n_max, d;
  fpf_flow_options opt;
  fpf_kde *kde;
  double *log_rho, *score, *knn, *g, *mu, *DS, *J, *div, *dor;
  double *F, *D, *L;
  int f32;                     /* products in float (single_precision) */
  float *g32, *s32, *ds32, *F32, *D32, *L32;
  double *acc; /* per-particle partial sums (n x 4) */
  double *fparts; /* Fisher's partial sums, d <= SMALL_D (FISHER_PARTS d^2) */
};

static const char *const phase_names[] = {
    "bandwidth", "landscape", "kde",   "diffusion", "drift",
    "divergence", "noise",    "update", "reset"};

const char *fpf_phase_name(fpf_phase ph) {
  return (int)ph >= 0 && ph < FPF_NPHASES ? phase_names[ph] : "unknown";
}

void fpf_flow_profile_take(fpf_flow *f, double *t) {
  for (int i = 0; i < FPF_NPHASES; i++) {
    t[i] += f->prof[i];
    f->prof[i] = 0;
  }
}

static const char *const form_names[] = {"source", "wasserstein"};

const char *fpf_entropy_form_name(fpf_entropy_form f) {
  return (int)f >= 0 && f <= FPF_ENTROPY_WASSERSTEIN ? form_names[f] : NULL;
}

int fpf_entropy_form_parse(const char *s, fpf_entropy_form *f) {
  for (int i = 0; i < 2; i++)
    if (!strcmp(s, form_names[i])) {
      *f = (fpf_entropy_form)i;
      return 0;
    }
  return -1;
}

void fpf_flow_options_init(fpf_flow_options *o) {
  memset(o, 0, sizeof *o);
  o->knn_k = 3;
  o->cholesky = 1;
}

fpf_status fpf_flow_create(fpf_flow **out, size_t n_max, size_t d,
                           const fpf_flow_options *o, fpf_error *err) {
  *out = NULL;
  fpf_flow_options def;
  if (!o) {
    fpf_flow_options_init(&def);
    o = &def;
  }
  fpf_flow *f = calloc(1, sizeof *f);
  if (!f) return fpf_error_set(err, FPF_ENOMEM, "flow: out of memory");
  fpf_blas_single_thread();
  f->n_max = n_max;
  f->d = d;
  f->opt = *o;
  if (f->opt.knn_k >= n_max) f->opt.knn_k = n_max > 1 ? n_max - 1 : 0;
  fpf_kde_options ko;
  fpf_kde_options_init(&ko);
  ko.leave_one_out = o->leave_one_out;
  ko.knn_k = f->opt.knn_k;
  ko.single_precision = o->single_precision;
  ko.method = o->kde_method;
  fpf_status st = fpf_kde_create(&f->kde, n_max, d, &ko, err);
  if (st) {
    free(f);
    return st;
  }
  size_t nd = n_max * d;
  f->log_rho = fpf_dalloc(n_max);
  f->score = fpf_dalloc(nd);
  f->knn = fpf_dalloc(n_max);
  f->g = fpf_dalloc(o->flux_divergence ? nd : 1); /* divergence scratch */
  f->mu = fpf_dalloc(nd);
  f->DS = fpf_dalloc(nd);
  f->J = fpf_dalloc(nd);
  f->div = fpf_dalloc(n_max);
  f->dor = fpf_dalloc(n_max);
  f->F = fpf_dalloc(d * d);
  f->D = fpf_dalloc(d * d);
  f->L = fpf_dalloc(d * d);
  f->acc = fpf_dalloc(n_max * 4);
  f->fparts = fpf_dalloc(d <= SMALL_D ? FISHER_PARTS * d * d : 1);
  f->f32 = o->single_precision && d > SMALL_D;
  if (f->f32) {
    f->g32 = fpf_falloc(nd);
    f->s32 = fpf_falloc(nd);
    f->ds32 = fpf_falloc(nd);
    f->F32 = fpf_falloc(d * d);
    f->D32 = fpf_falloc(d * d);
    f->L32 = fpf_falloc(d * d);
    if (!f->g32 || !f->s32 || !f->ds32 || !f->F32 || !f->D32 || !f->L32) {
      fpf_flow_destroy(f);
      return fpf_error_set(err, FPF_ENOMEM,
                           "flow: out of memory for n = %zu, d = %zu", n_max,
                           d);
    }
  }
  if (!f->log_rho || !f->score || !f->knn || !f->g || !f->mu || !f->DS ||
      !f->J || !f->div || !f->dor || !f->F || !f->D || !f->L || !f->acc ||
      !f->fparts) {
    fpf_flow_destroy(f);
    return fpf_error_set(err, FPF_ENOMEM,
                         "flow: out of memory for n = %zu, d = %zu", n_max, d);
  }
  *out = f;
  return FPF_OK;
}

void fpf_flow_destroy(fpf_flow *f) {
  if (!f) return;
  fpf_kde_destroy(f->kde);
  double *b[] = {f->log_rho, f->score, f->knn, f->g, f->mu, f->DS, f->J,
                 f->div,     f->dor,   f->F,   f->D, f->L, f->acc,
                 f->fparts};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) fpf_dfree(b[i]);
  float *c[] = {f->g32, f->s32, f->ds32, f->F32, f->D32, f->L32};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) free(c[i]);
  free(f);
}

const float *fpf_flow_cholesky_f(const fpf_flow *f) {
  return f->f32 ? f->L32 : NULL;
}

fpf_status fpf_flow_bandwidth(fpf_flow *f, const double *z, size_t n,
                              fpf_bw_rule rule, double h_fixed, double *h,
                              fpf_error *err) {
  return fpf_kde_choose_bandwidth(f->kde, z, n, rule, h_fixed, h, err);
}

const double *fpf_flow_log_density(const fpf_flow *f) { return f->log_rho; }
const double *fpf_flow_score(const fpf_flow *f) { return f->score; }
const double *fpf_flow_drift(const fpf_flow *f) { return f->mu; }
const double *fpf_flow_flux(const fpf_flow *f) { return f->J; }
const double *fpf_flow_divergence(const fpf_flow *f) {
  return f->opt.flux_divergence ? f->div : NULL;
}
const double *fpf_flow_diffusion(const fpf_flow *f) { return f->D; }
const double *fpf_flow_fisher(const fpf_flow *f) { return f->F; }
const double *fpf_flow_cholesky(const fpf_flow *f) { return f->L; }
int fpf_flow_kde_binned(const fpf_flow *f) {
  return fpf_kde_last_binned(f->kde);
}

/* psi(n) for a whole number n >= 1: -gamma_E + sum_{j<n} 1/j. */
static double digamma_int(size_t n) {
  double s = -0.57721566490153286061;
  for (size_t j = 1; j < n; j++) s += 1.0 / (double)j;
  return s;
}

double fpf_entropy_knn(const double *eps, size_t n, size_t d, size_t k) {
  if (n < 2 || k == 0 || k >= n) return NAN;
  double slog = 0;
  for (size_t i = 0; i < n; i++) slog += log(eps[i]);
  double hd = 0.5 * (double)d;
  double log_vd = hd * log(M_PI) - lgamma(hd + 1.0);
  return digamma_int(n) - digamma_int(k) + log_vd +
         (double)d * slog / (double)n;
}

fpf_status fpf_sym_max_eigenvalue(const double *A, size_t d, double *lmax,
                                  fpf_error *err) {
  double *a = fpf_dalloc(d * d), *w = fpf_dalloc(d);
  if (!a || !w) {
    fpf_dfree(a);
    fpf_dfree(w);
    return fpf_error_set(err, FPF_ENOMEM, "eigenvalues: out of memory");
  }
  memcpy(a, A, d * d * sizeof *a);
  lapack_int info =
      LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'L', (lapack_int)d, a,
                    (lapack_int)d, w);
  *lmax = info == 0 ? w[d - 1] : NAN;
  fpf_dfree(a);
  fpf_dfree(w);
  if (info != 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "eigenvalues: LAPACK dsyev failed (info = %d)",
                         (int)info);
  return FPF_OK;
}

/*
 * F = (1/n) sum_i g_i g_i^T for d <= SMALL_D: each block of rows sums its
 * outer products into a part (both triangles, the same products in the
 * same order, so the part is exactly symmetric), then the parts are
 * added in block order.  A syrk call of this size costs more in overhead
 * than the arithmetic, and would run on one thread.
 */
static void fisher_small(fpf_flow *f, const double *grad, size_t n) {
  size_t d = f->d, dd = d * d;
  size_t rows = (n + FISHER_PARTS - 1) / FISHER_PARTS;
  if (rows < FISHER_ROWS) rows = FISHER_ROWS;
  size_t nb = (n + rows - 1) / rows;
#pragma omp parallel for schedule(static) if (nb > 1 && n * dd > \
                                              FPF_PAR_MIN / 4)
  for (size_t b = 0; b < nb; b++) {
    double *restrict part = f->fparts + b * dd;
    size_t i1 = (b + 1) * rows < n ? (b + 1) * rows : n;
    memset(part, 0, dd * sizeof *part);
    fpf_small_gram(i1 - b * rows, d, grad + b * rows * d, part);
  }
  double inv_n = 1.0 / (double)n;
  for (size_t a = 0; a < d; a++)
    for (size_t c = 0; c <= a; c++) {
      double t = 0;
      for (size_t b = 0; b < nb; b++) t += f->fparts[b * dd + a * d + c];
      f->F[a * d + c] = t * inv_n;
    }
  fpf_small_mirror(d, f->F);
}

/* F = (1/n) sum_i g_i g_i^T, full (blocked syrk, each block mirrored). */
static void fisher(fpf_flow *f, const double *grad, size_t n) {
  size_t d = f->d;
  if (d <= SMALL_D) {
    fisher_small(f, grad, n);
    return;
  }
  if (f->f32) {
    fpf_to_float(grad, f->g32, n * d);
    fpf_ssyrk_full(n, d, 1.0f / (float)n, f->g32, f->F32);
    fpf_to_double(f->F32, f->F, d * d);
  } else {
    fpf_syrk_full(n, d, 1.0 / (double)n, grad, f->F);
  }
}

static fpf_status diffusion(fpf_flow *f, const fpf_flow_input *in,
                            const fpf_flow_params *p, fpf_error *err) {
  size_t d = f->d;
  if (in->grad) fisher(f, in->grad, in->n);
  else memset(f->F, 0, d * d * sizeof *f->F);
  /* D by rows, with its lower triangle copied (upper part zeroed) for
   * the factor, and in float in single precision: one pass */
  double cg = p->c * p->gamma, c0 = p->c + p->boost;
  int chol = f->opt.cholesky, f32 = f->f32;
#pragma omp parallel for schedule(static) if (d * d * 4 > FPF_PAR_MIN)
  for (size_t i = 0; i < d; i++) {
    double *Di = f->D + i * d;
    if (in->diffusion) {
      memcpy(Di, in->diffusion + i * d, d * sizeof *Di);
    } else {
      for (size_t j = 0; j < d; j++) Di[j] = cg * f->F[i * d + j];
      Di[i] += c0;
    }
    if (f32) {
      float *D32 = f->D32 + i * d, *L32 = f->L32 + i * d;
      for (size_t j = 0; j < d; j++) D32[j] = (float)Di[j];
      if (chol)
        for (size_t j = 0; j < d; j++) L32[j] = j <= i ? D32[j] : 0.0f;
    } else if (chol) {
      double *Li = f->L + i * d;
      for (size_t j = 0; j < d; j++) Li[j] = j <= i ? Di[j] : 0.0;
    }
  }
  if (!chol) return FPF_OK;
  /* D = L L^T, lower factor, by blocks (fpf_potrf_lower, which leaves
   * the zeroed upper part alone); nothing is allocated. */
  long info;
  if (f32) {
    info = fpf_spotrf_lower(d, f->L32);
    fpf_to_double(f->L32, f->L, d * d);
  } else {
    info = fpf_potrf_lower(d, f->L);
  }
  if (info != 0) {
    double lmax = NAN;
    fpf_sym_max_eigenvalue(f->F, d, &lmax, NULL);
    return fpf_error_set(
        err, FPF_ENOTPD,
        "diffusion matrix D = c(I + gamma F) + b I is not positive definite "
        "(Cholesky failed at column %ld): gamma = %g, lambda_max(F) = %g, "
        "c = %g, b = %g; with gamma < 0, D needs gamma > -1/lambda_max(F) "
        "= %g",
        info, p->gamma, lmax, p->c, p->boost,
        lmax > 0 ? -1.0 / lmax : -INFINITY);
  }
  return FPF_OK;
}

/*
 * Rows r0.. (r of them) of DS = S D, by one single-threaded call.  For
 * small d plain loops: OpenBLAS's small-matrix path rounds differently
 * with 1 and 2 threads, and the call costs more than the arithmetic
 * there.
 */
static void times_D(fpf_flow *f, size_t r0, size_t r) {
  size_t d = f->d;
  if (f->f32) {
    /* the block's scores rounded to float just before the product (in
     * cache); per_particle widens D s a row at a time */
    float *s32 = f->s32 + r0 * d;
    for (size_t q = 0; q < r * d; q++) s32[q] = (float)f->score[r0 * d + q];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d,
                (int)d, 1.0f, s32, (int)d, f->D32, (int)d, 0.0f,
                f->ds32 + r0 * d, (int)d);
    return;
  }
  if (d > SMALL_D) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)d,
                (int)d, 1.0, f->score + r0 * d, (int)d, f->D, (int)d, 0.0,
                f->DS + r0 * d, (int)d);
    return;
  }
  fpf_small_times(r, d, 1.0, f->score + r0 * d, f->D, FPF_SMALL_M,
                  f->DS + r0 * d);
}

/*
 * rho x from log rho: exp(log rho + log|x|) with x's sign, so that a
 * density that under- or overflows alone still gives the right product
 * (and an exact 0 when x is 0, never inf * 0).
 */
static inline double rho_times(double log_rho, double x) {
  return x == 0 ? 0.0 : copysign(exp(log_rho + log(fabs(x))), x);
}

/*
 * One particle's drift mu = A x + B gl (no gl: mu = A x) and its sums
 * |mu|^2, |ds|^2, (mu - ds).s, with max |mu - ds|: one pass, vectorised
 * along the row.
 */
static void drift_row(size_t d, double A, const double *restrict x,
                      double B, const double *restrict gl,
                      const double *restrict ds, const double *restrict s,
                      double *restrict mu, double sums[3], double *vmax) {
  enum { W = 8 };
  double m2[W] = {0}, d2[W] = {0}, sv[W] = {0}, vm[W] = {0};
  size_t c0 = 0;
  for (; c0 + W <= d; c0 += W)
    for (int l = 0; l < W; l++) {
      size_t c = c0 + (size_t)l;
      double m = gl ? A * x[c] + B * gl[c] : A * x[c], v = m - ds[c];
      mu[c] = m;
      m2[l] += m * m;
      d2[l] += ds[c] * ds[c];
      sv[l] += v * s[c];
      vm[l] = fabs(v) > vm[l] ? fabs(v) : vm[l];
    }
  for (size_t c = c0; c < d; c++) {
    double m = gl ? A * x[c] + B * gl[c] : A * x[c], v = m - ds[c];
    mu[c] = m;
    m2[0] += m * m;
    d2[0] += ds[c] * ds[c];
    sv[0] += v * s[c];
    vm[0] = fabs(v) > vm[0] ? fabs(v) : vm[0];
  }
  double t[3] = {0, 0, 0}, mx = 0;
  for (int l = 0; l < W; l++) {
    t[0] += m2[l];
    t[1] += d2[l];
    t[2] += sv[l];
    mx = vm[l] > mx ? vm[l] : mx;
  }
  memcpy(sums, t, sizeof t);
  *vmax = mx;
}

/* Whether rho x for |x| <= xmax is exactly 0 in double precision. */
static int rho_underflows(double log_rho, double xmax) {
  return xmax == 0 || log_rho + log(xmax) < -746.0;
}

static double max_abs(const double *x, size_t n) {
  double m = 0;
  for (size_t c = 0; c < n; c++) m = fabs(x[c]) > m ? fabs(x[c]) : m;
  return m;
}

/* mu and J for particles r0.. (r of them; the entropy gradient g is
 * formed in mu's row); partial sums into acc (n x 4). */
static void per_particle(fpf_flow *f, const fpf_flow_input *in,
                         const fpf_flow_params *p, size_t r0, size_t r) {
  size_t d = f->d;
  int src = p->entropy_form == FPF_ENTROPY_SOURCE;
  for (size_t i = r0; i < r0 + r; i++) {
    const double *s = f->score + i * d, *ds = f->DS + i * d;
    if (f->f32)
      for (size_t c = 0; c < d; c++) f->DS[i * d + c] = f->ds32[i * d + c];
    const double *gl = in->grad ? in->grad + i * d : NULL;
    double *mu = f->mu + i * d, *J = f->J + i * d;
    double lr = f->log_rho[i], rho = exp(lr);
    int rho_normal = rho > 1e-300 && rho < 1e300;
    /* drift mu = -eta (grad L + lambda g), g = -rho s (1 + log rho) for
     * the source's form and -s for the Wasserstein form: mu = A x + B gl
     * with x = s; a normal rho goes into A, a rho so small that rho s
     * underflows makes A = 0, and otherwise (rho alone under- or
     * overflowing) x = rho s is formed from logarithms, in J's row */
    const double *x = s;
    double A, B = -p->eta, sums[3], vmax;
    if (in->drift) {
      x = in->drift + i * d;
      A = 1.0;
      gl = NULL;
    } else if (!src) {
      A = p->eta * p->lambda;
    } else {
      A = p->eta * p->lambda * (1.0 + lr);
      if (rho_normal) A *= rho;
      else if (rho_underflows(lr, max_abs(s, d))) A = 0;
      else {
        for (size_t c = 0; c < d; c++) J[c] = rho_times(lr, s[c]);
        x = J;
      }
    }
    drift_row(d, A, x, B, gl, ds, s, mu, sums, &vmax);
    /* the flux J = rho v, v = mu - D s */
    if (rho_normal) {
      for (size_t c = 0; c < d; c++) J[c] = rho * (mu[c] - ds[c]);
    } else if (rho_underflows(lr, vmax)) {
      memset(J, 0, d * sizeof *J);
    } else {
      for (size_t c = 0; c < d; c++) J[c] = rho_times(lr, mu[c] - ds[c]);
    }
    f->acc[4 * i + 0] = sums[0];
    f->acc[4 * i + 1] = sums[1];
    f->acc[4 * i + 2] = sums[2];
    /* log of |D grad rho_i|^2 = 2 log rho_i + log |D s_i|^2 */
    f->acc[4 * i + 3] = sums[1] > 0 ? 2.0 * lr + log(sums[1]) : -INFINITY;
  }
}

static void observables(fpf_flow *f, const fpf_flow_input *in,
                        const fpf_flow_params *p, fpf_metrics *m) {
  size_t n = in->n, d = f->d;
  double mu2 = 0, ds2 = 0, sd = 0, lr = 0, amax = -INFINITY, loss = 0;
  for (size_t i = 0; i < n; i++) {
    mu2 += f->acc[4 * i];
    ds2 += f->acc[4 * i + 1];
    sd += f->acc[4 * i + 2];
    lr += f->log_rho[i];
    if (f->acc[4 * i + 3] > amax) amax = f->acc[4 * i + 3];
    if (in->loss) loss += in->loss[i];
  }
  double sa = 0;
  if (isfinite(amax))
    for (size_t i = 0; i < n; i++) sa += exp(f->acc[4 * i + 3] - amax);
  double log_dgr = isfinite(amax) ? 0.5 * (amax + log(sa)) : -INFINITY;
  double tr = 0;
  for (size_t i = 0; i < d; i++) tr += f->D[i * d + i];
  m->eta = p->eta;
  m->c = p->c;
  m->boost = p->boost;
  m->h = p->h;
  m->loss_mean = in->loss ? loss / (double)n : NAN;
  m->log_C = 0.5 * log(mu2) - log_dgr;
  m->C = exp(m->log_C);
  m->log_C_vel = 0.5 * (log(mu2) - log(ds2));
  m->C_vel = exp(m->log_C_vel);
  m->S_dot = sd / (double)n;
  m->H_kde = -lr / (double)n;
  m->H_knn = f->opt.knn_k ? fpf_entropy_knn(f->knn, n, d, f->opt.knn_k) : NAN;
  m->mu_rms = sqrt(mu2 / (double)n);
  m->T_eff = tr / m->mu_rms;
  m->T_gibbs = (p->c + p->boost) / p->eta;
  m->div_max = NAN;
  m->div_over_rho_max = NAN;
}

static fpf_status divergence(fpf_flow *f, const fpf_flow_input *in,
                             const fpf_flow_params *p, fpf_metrics *m,
                             fpf_error *err) {
  size_t n = in->n, d = f->d;
  /* the particles' velocities v = mu - D s, kept in g's buffer */
  for (size_t i = 0; i < n * d; i++) f->g[i] = f->mu[i] - f->DS[i];
  fpf_status st = fpf_kde_flux_divergence(f->kde, in->z, n, p->h, f->log_rho,
                                          f->g, f->div, f->dor, err);
  if (st) return st;
  double a = 0, b = 0;
  for (size_t i = 0; i < n; i++) {
    if (fabs(f->div[i]) > a) a = fabs(f->div[i]);
    if (fabs(f->dor[i]) > b) b = fabs(f->dor[i]);
  }
  m->div_max = a;
  m->div_over_rho_max = b;
  return FPF_OK;
}

fpf_status fpf_flow_compute(fpf_flow *f, const fpf_flow_input *in,
                            const fpf_flow_params *p, fpf_metrics *m,
                            fpf_error *err) {
  size_t n = in->n;
  if (n == 0 || n > f->n_max || !in->z)
    return fpf_error_set(err, FPF_EINVAL,
                         "flow: n = %zu particles, workspace holds 1..%zu", n,
                         f->n_max);
  if (!in->drift && !in->grad)
    return fpf_error_set(err, FPF_EINVAL,
                         "flow: needs the loss gradients or a given drift");
  if (!in->diffusion && !in->grad)
    return fpf_error_set(err, FPF_EINVAL,
                         "flow: needs the loss gradients or a given "
                         "diffusion matrix");

  /* density, score and neighbour distances */
  double t0 = omp_get_wtime(), t1;
  fpf_status st = fpf_kde_eval(f->kde, in->z, n, p->h, f->log_rho, f->score,
                               f->opt.knn_k ? f->knn : NULL, err);
  if (st) return st;
  t1 = omp_get_wtime();
  f->prof[FPF_PHASE_KDE] += t1 - t0;

  /* diffusion matrix and its factor */
  if ((st = diffusion(f, in, p, err))) return st;
  t0 = omp_get_wtime();
  f->prof[FPF_PHASE_DIFFUSION] += t0 - t1;

  /* D s (D symmetric): rows of S D, then drift and flux, by blocks of
   * rows (each block's D s used while in cache); the observables */
  size_t rows = fpf_block_rows(n);
  size_t nb = (n + rows - 1) / rows, d = f->d;
#pragma omp parallel for schedule(dynamic) \
    if (nb > 1 && n * d * (2 * d + 20) > FPF_PAR_MIN)
  for (size_t b = 0; b < nb; b++) {
    size_t r0 = b * rows, r = n - r0 < rows ? n - r0 : rows;
    times_D(f, r0, r);
    per_particle(f, in, p, r0, r);
  }
  observables(f, in, p, m);
  t1 = omp_get_wtime();
  f->prof[FPF_PHASE_DRIFT] += t1 - t0;
  if (f->opt.flux_divergence) {
    st = divergence(f, in, p, m, err);
    f->prof[FPF_PHASE_DIVERGENCE] += omp_get_wtime() - t1;
  }
  return st;
}
