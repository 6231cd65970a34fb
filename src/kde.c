/*
 * Gaussian KDE in log space (kde.h).
 *
 * Workload: n up to a few 10^4 particles in d from 1 to a few 10^3.
 * Two paths compute the same sums:
 *   - d <= DIRECT_MAX_D: distances by plain loops, one row at a time,
 *     split over OpenMP threads (BLAS calls with k = d this small cost
 *     more in overhead than they compute);
 *   - d <= FPF_SMALL_MAX at the particles themselves: fpflow's own
 *     tiles (kde_small.inc), four rows at a time in vector registers,
 *     Gram products, exp and both sides' sums in one pass (at 2048 x 16
 *     a step took 2.8 ms against 5.0 with the BLAS tiles);
 *   - larger d: a row block of queries against a column block of sources,
 *     distances from the Gram block (dgemm), the softmax weights formed in
 *     place, and W Z accumulated by a second dgemm.  Row maxima are tracked
 *     online across column blocks (the running sum and the W Z rows are
 *     rescaled when a larger maximum appears), so the log-sum-exp never
 *     needs a second pass over the data.
 * Each row's sums run over the sources in a fixed order, so the results do
 * not depend on the number of threads.
 */
#include "fpflow/kde.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fpflow/rng.h"
#include "internal.h"
#include "kde_binned.h"

/* Up to this dimension the direct loops beat dgemm (measured at n = 500:
 * d = 2 direct 1.1 ms vs Gram 2.9 ms; at 256 x 32 they lose, a whole
 * step 0.31 ms against 0.2). */
#define DIRECT_MAX_D FPF_KDE_DIRECT_MAX_D
/* Elements of the distance block; 2^22 doubles = 32 MiB. */
#define BLOCK_ELEMS ((size_t)1 << 22)
/* Sources per column block: at n = 2048 the whole Gram matrix is one
 * dgemm, which is where BLAS runs fastest. */
#define COL_BLOCK ((size_t)4096)
/* Up to this many pairs (64 MiB) the KDE at the particles themselves uses
 * the symmetry of the distance matrix: half the Gram products and half
 * the exponentials.  The small path has no N x N buffer; its tiles' parts
 * may take as many doubles. */
#define SYM_MAX_ELEMS ((size_t)1 << 23)
/* Rows per chunk of a blocked product; tile side of the symmetric path. */
#define ROW_CHUNK 128
/* Tile sides of the symmetric path.  A workspace for at most
 * SMALL_TILE_N particles uses SMALL_TILE, so that a few hundred
 * particles still make several tiles for the threads, and so does the
 * small path at any size (its tile's rows of exponents stay in L1).
 * Otherwise the Gram path takes TILE_MAX (at 2048 x 1024 the Gram
 * tiles' products ran 2 to 3 ms a step faster than with 256) and the
 * direct path DIRECT_TILE. */
#define TILE_MAX 512
#define DIRECT_TILE 256
#define SMALL_TILE 128
#define SMALL_TILE_N 1024
/* Vectors in a row of the small path at most (see fpf_kde_create). */
#define SMALL_ROW_VECS 6
/* Sources averaged for the centre. */
#define CENTRE_SAMPLE 256
/* Pairs used by the median heuristic before it subsamples. */
#define MEDIAN_MAX_PAIRS ((size_t)1 << 18)

struct fpf_kde {
  size_t n_max, d, br, bc, knn_k;
  int loo, sym_ok, f32;
  fpf_kde_method method;
  fpf_kde_binned *bin; /* the binned workspace (d <= 3, method != EXACT) */
  int last_binned;     /* the last evaluation at the particles was binned */
  float *zc32, *xc32, *E32, *P32; /* single-precision buffers (f32) */
  double *zc, *zq;     /* centred sources (n_max x d) and |z|^2/2 */
  double *xc, *xq;     /* a centred block of queries (br x d) */
  double *E;           /* distance / weight block (br x bc) */
  double *P;           /* sum_j w_ij z_j accumulators (br x d) */
  double *rmax, *rsum; /* online log-sum-exp state (br) */
  double *knn;         /* k smallest squared distances per row (br x k) */
  double *u;           /* z_j . v_j for the flux divergence (n_max) */
  double *mean;        /* centre (d) */
  double *zT;          /* centred sources transposed (d x ztld), d <= 8 or
                          the small path */
  double *zcp;         /* centred sources, rows padded to zld (small path) */
  float *zT32, *zcp32, *zq32; /* zT, zcp and zq in float (small path, f32) */
  size_t ztld;         /* n_max rounded up to pairs of vectors, plus one */
  size_t zld, zld32;   /* d rounded up to whole vectors of double, float */
  int small_sym;       /* the small symmetric path */
  double *pairs;       /* median heuristic buffer (MEDIAN_MAX_PAIRS) */
  double *parts;       /* per-tile partial sums of the symmetric path */
  size_t prow;         /* rows of P, rmax and rsum */
  size_t tile;         /* tile side of the symmetric path */
  size_t part_stride;  /* doubles per tile side: tile (1 + dp + knn_k) */
};

static const char *const rule_names[] = {"fixed", "scott", "silverman",
                                         "median"};

const char *fpf_bw_rule_name(fpf_bw_rule r) {
  if ((int)r < 0 || r > FPF_BW_MEDIAN) return NULL;
  return rule_names[r];
}

int fpf_bw_rule_parse(const char *s, fpf_bw_rule *r) {
  for (int i = 0; i <= FPF_BW_MEDIAN; i++)
    if (!strcmp(s, rule_names[i])) {
      *r = (fpf_bw_rule)i;
      return 0;
    }
  return -1;
}

void fpf_kde_options_init(fpf_kde_options *o) {
  memset(o, 0, sizeof *o);
  o->method = FPF_KDE_AUTO;
}

static const char *const method_names[] = {"auto", "exact", "binned"};

const char *fpf_kde_method_name(fpf_kde_method m) {
  return (int)m >= 0 && m <= FPF_KDE_BINNED ? method_names[m] : NULL;
}

int fpf_kde_method_parse(const char *s, fpf_kde_method *m) {
  for (int i = 0; i <= FPF_KDE_BINNED; i++)
    if (!strcmp(s, method_names[i])) {
      *m = (fpf_kde_method)i;
      return 0;
    }
  return -1;
}

/* Below these sizes the exact sums are as fast as binning (measured CPU
 * time with the default grids: crossover near 1000, 5000 and 8000
 * particles in 1, 2 and 3 dimensions). */
static const size_t binned_from[4] = {0, 1000, 5000, 8000};
/* AUTO accepts the grid when its a-priori log-density error (4 to 20
 * times pessimistic for normal particles, docs/kde_binned.md) is below. */
#define AUTO_BINNED_MAX_ERR 1e-2

/* ---- bandwidth rules ---------------------------------------------- */

static double sigma_iso(const double *z, size_t n, size_t d) {
  double tr = 0;
  for (size_t k = 0; k < d; k++) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) m += z[i * d + k];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) s += (z[i * d + k] - m) * (z[i * d + k] - m);
    tr += s / (double)(n > 1 ? n - 1 : 1);
  }
  return sqrt(tr / (double)d);
}

/*
 * k-th smallest of a[0..n-1] (0-based) by Hoare selection; afterwards
 * a[0..k-1] <= a[k] <= a[k+1..n-1].
 */
static double select_kth(double *a, size_t n, size_t k) {
  ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
  while (hi > lo) {
    double piv = a[lo + (hi - lo) / 2];
    ptrdiff_t i = lo, j = hi;
    while (i <= j) {
      while (a[i] < piv) i++;
      while (a[j] > piv) j--;
      if (i <= j) {
        double t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    /* a[lo..j] <= piv, a[j+1..i-1] == piv, a[i..hi] >= piv */
    if (kk <= j)
      hi = j;
    else if (kk >= i)
      lo = i;
    else
      break;
  }
  return a[k];
}

static double sqdist(const double *a, const double *b, size_t d) {
  double s = 0;
  for (size_t k = 0; k < d; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

static fpf_status median_sq(const double *z, size_t n, size_t d,
                            double *buf, double *med, fpf_error *err) {
  size_t np = n * (n - 1) / 2, P = np;
  if (np > MEDIAN_MAX_PAIRS) P = MEDIAN_MAX_PAIRS;
  double *a = buf ? buf : fpf_dalloc(P);
  if (!a)
    return fpf_error_set(err, FPF_ENOMEM, "median bandwidth: out of memory");
  if (np <= MEDIAN_MAX_PAIRS) {
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++) a[t++] = sqdist(z + i * d, z + j * d, d);
  } else {
    /* a fixed pseudo-random set of pairs i != j */
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < P; t++) {
      double u[2];
      fpf_rng_uniforms(0, FPF_STREAM_SUBSAMPLE, 0, t, u, 2);
      size_t i = (size_t)(u[0] * (double)n), j = (size_t)(u[1] * (double)(n - 1));
      if (i >= n) i = n - 1;
      if (j >= n - 1) j = n - 2;
      if (j >= i) j++;
      a[t] = sqdist(z + i * d, z + j * d, d);
    }
  }
  double hi = select_kth(a, P, P / 2);
  if (P % 2 == 0) {
    double lo = a[0];
    for (size_t t = 1; t < P / 2; t++)
      if (a[t] > lo) lo = a[t];
    hi = 0.5 * (lo + hi);
  }
  *med = hi;
  if (!buf) fpf_dfree(a);
  return FPF_OK;
}

static fpf_status bandwidth_ws(const double *z, size_t n, size_t d,
                               fpf_bw_rule rule, double h_fixed, double *buf,
                               double *h, fpf_error *err) {
  double v = 0;
  if (rule == FPF_BW_FIXED) {
    if (!(h_fixed >= FPF_H_MIN && h_fixed <= FPF_H_MAX))
      return fpf_error_set(err, FPF_EINVAL,
                           "bandwidth h = %g: must be a number in [%g, %g] "
                           "(1/h^2 must stay finite)", h_fixed, FPF_H_MIN,
                           FPF_H_MAX);
    *h = h_fixed;
    return FPF_OK;
  }
  if (n < 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "bandwidth rule '%s' needs at least 2 points (n = "
                         "%zu)", fpf_bw_rule_name(rule), n);
  if (rule == FPF_BW_SCOTT) {
    v = sigma_iso(z, n, d) * pow((double)n, -1.0 / (double)(d + 4));
  } else if (rule == FPF_BW_SILVERMAN) {
    v = sigma_iso(z, n, d) *
        pow(4.0 / ((double)(d + 2) * (double)n), 1.0 / (double)(d + 4));
  } else if (rule == FPF_BW_MEDIAN) {
    double med = 0;
    fpf_status st = median_sq(z, n, d, buf, &med, err);
    if (st) return st;
    v = sqrt(med / (2.0 * log((double)n + 1.0)));
  } else {
    return fpf_error_set(err, FPF_EINVAL, "bandwidth rule %d is unknown",
                         (int)rule);
  }
  if (!(v > 0) || !isfinite(v))
    return fpf_error_set(err, FPF_EINVAL,
                         "bandwidth rule '%s' gives h = %g (the points "
                         "coincide or spread is not finite); give a fixed "
                         "bandwidth instead",
                         fpf_bw_rule_name(rule), v);
  *h = v;
  return FPF_OK;
}

fpf_status fpf_kde_bandwidth(const double *z, size_t n, size_t d,
                             fpf_bw_rule rule, double h_fixed, double *h,
                             fpf_error *err) {
  return bandwidth_ws(z, n, d, rule, h_fixed, NULL, h, err);
}

fpf_status fpf_kde_choose_bandwidth(fpf_kde *k, const double *z, size_t n,
                                    fpf_bw_rule rule, double h_fixed,
                                    double *h, fpf_error *err) {
  if (n > k->n_max)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: n = %zu particles, workspace holds 1..%zu", n,
                         k->n_max);
  return bandwidth_ws(z, n, k->d, rule, h_fixed, k->pairs, h, err);
}

/* ---- workspace ------------------------------------------------------ */

/*
 * The buffers of the row-block path (queries, their centred copies and
 * P): made at creation when evaluations at the particles use that path,
 * otherwise at the first evaluation at other points.  The symmetric path
 * writes its products into the caller's score array instead.
 */
static fpf_status block_buffers(fpf_kde *k) {
  if (k->xc) return FPF_OK;
  size_t d = k->d;
  k->xc = fpf_dalloc(k->br * d);
  k->xq = fpf_dalloc(k->br);
  k->P = fpf_dalloc(k->prow * d);
  if (k->f32) k->xc32 = fpf_falloc(k->br * d);
  if (!k->xc || !k->xq || !k->P || (k->f32 && !k->xc32)) {
    fpf_dfree(k->xc);
    fpf_dfree(k->xq);
    fpf_dfree(k->P);
    free(k->xc32);
    k->xc = k->xq = k->P = NULL;
    k->xc32 = NULL;
    return FPF_ENOMEM;
  }
  return FPF_OK;
}

fpf_status fpf_kde_create(fpf_kde **out, size_t n_max, size_t d,
                          const fpf_kde_options *o, fpf_error *err) {
  *out = NULL;
  fpf_kde_options def;
  if (!o) {
    fpf_kde_options_init(&def);
    o = &def;
  }
  if (n_max == 0 || d == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: needs n >= 1 points in d >= 1 dimensions (n = "
                         "%zu, d = %zu)", n_max, d);
  if (o->knn_k >= n_max && o->knn_k > 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: knn_k = %zu needs more than %zu particles",
                         o->knn_k, o->knn_k);
  fpf_kde *k = calloc(1, sizeof *k);
  if (!k) return fpf_error_set(err, FPF_ENOMEM, "kde: out of memory");
  fpf_blas_single_thread();
  k->n_max = n_max;
  k->d = d;
  k->loo = o->leave_one_out;
  k->knn_k = o->knn_k;
  /* column blocks of at most COL_BLOCK sources; rows fill BLOCK_ELEMS */
  size_t bc = o->block ? o->block : COL_BLOCK;
  if (bc > n_max) bc = n_max;
  size_t br = o->block ? o->block : BLOCK_ELEMS / bc;
  if (br > n_max) br = n_max;
  k->bc = bc;
  k->br = br;
  size_t bpairs = n_max * (n_max - 1) / 2;
  if (bpairs > MEDIAN_MAX_PAIRS) bpairs = MEDIAN_MAX_PAIRS;
  /* whole pairs of vectors of 16 floats, and one more: rows of zT a power
   * of two apart would share a few cache sets */
  k->ztld = (n_max + 31) / 32 * 32 + 16;
  k->zld = (d + FPF_VD - 1) / FPF_VD * FPF_VD;
  k->zld32 = (d + 2 * FPF_VD - 1) / (2 * FPF_VD) * (2 * FPF_VD);
  k->zc = fpf_dalloc(n_max * d);
  k->zq = fpf_dalloc(k->ztld);
  size_t ebuf = br * k->bc;
  if (n_max * n_max <= SYM_MAX_ELEMS && n_max * n_max > ebuf)
    ebuf = n_max * n_max;
  k->f32 = o->single_precision && d > DIRECT_MAX_D;
  k->method = o->method;
  if (!fpf_kde_method_name(o->method)) {
    fpf_kde_destroy(k);
    return fpf_error_set(err, FPF_EINVAL, "kde: method %d is unknown",
                         (int)o->method);
  }
  if (o->method == FPF_KDE_BINNED && (d > 3 || o->leave_one_out)) {
    fpf_kde_destroy(k);
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "kde: the binned method needs d <= 3 and the self "
                         "term (d = %zu, leave_one_out = %d); use the exact "
                         "method", d, o->leave_one_out);
  }
  if (d <= 3 && !o->leave_one_out &&
      (o->method == FPF_KDE_BINNED ||
       (o->method == FPF_KDE_AUTO && n_max >= binned_from[d]))) {
    fpf_status bst = fpf_kde_binned_create(&k->bin, n_max, d, 0, err);
    if (bst) {
      fpf_kde_destroy(k);
      return bst;
    }
  }
  /* the small symmetric path needs no N x N buffer, only its tiles'
   * parts, which may take as much.  Its four rows a group hold a row in
   * registers: where a row takes more than SMALL_ROW_VECS vectors the
   * BLAS tiles win.  With AVX2 (an AMD EPYC) it took 1000 x 16 from
   * 2.4 to 1.8 ms and 1000 x 24 from 2.8 to 2.4, but 256 x 32 in double
   * (8 vectors a row) from 0.43 to 0.52; with SSE2 alone it was 1.2 to
   * 1.7 x slower (measured on a Xeon). */
  size_t snt = (n_max + SMALL_TILE - 1) / SMALL_TILE;
  size_t row_vecs = (d * (k->f32 ? sizeof(float) : sizeof(double)) +
                     FPF_VBYTES - 1) / FPF_VBYTES;
  k->small_sym = FPF_VBYTES >= 32 && row_vecs <= SMALL_ROW_VECS &&
                 !o->block && d > DIRECT_MAX_D && d <= FPF_SMALL_MAX &&
                 snt * (snt + 1) * SMALL_TILE * (1 + k->zld + o->knn_k) <=
                     SYM_MAX_ELEMS;
  k->sym_ok = k->small_sym || (n_max * n_max <= SYM_MAX_ELEMS && !o->block);
  k->E = !k->f32 ? fpf_dalloc(d > DIRECT_MAX_D && !k->small_sym
                                  ? ebuf
                                  : br * k->bc)
                 : fpf_dalloc(1);
  size_t prow = k->sym_ok && n_max > br ? n_max : br;
  k->prow = prow;
  k->rmax = fpf_dalloc(prow);
  k->rsum = fpf_dalloc(prow);
  k->knn = fpf_dalloc(n_max * (o->knn_k ? o->knn_k : 1));
  k->u = fpf_dalloc(n_max);
  k->mean = fpf_dalloc(d);
  k->pairs = fpf_dalloc(bpairs ? bpairs : 1);
  size_t dp = 0; /* numbers of e_ij z_j a row of a tile's parts */
  if (k->sym_ok) {
    k->tile = n_max <= SMALL_TILE_N || k->small_sym ? SMALL_TILE
              : d <= DIRECT_MAX_D                   ? DIRECT_TILE
                                                    : TILE_MAX;
    dp = d <= DIRECT_MAX_D ? d : k->small_sym ? k->zld : 0;
    size_t nt = (n_max + k->tile - 1) / k->tile;
    k->part_stride = k->tile * (1 + dp + k->knn_k);
    k->parts = fpf_dalloc(nt * (nt + 1) * k->part_stride);
  }
  int small = k->small_sym && !k->f32, small32 = k->small_sym && k->f32;
  k->zT = fpf_dalloc(d <= DIRECT_MAX_D || small ? d * k->ztld : 1);
  k->zcp = fpf_dalloc(small ? n_max * k->zld : 1);
  if (k->f32) {
    k->zc32 = fpf_falloc(n_max * d);
    k->E32 = fpf_falloc(small32 ? br * k->bc : ebuf);
    k->P32 = fpf_falloc(prow * d);
    k->zT32 = fpf_falloc(small32 ? d * k->ztld : 1);
    k->zcp32 = fpf_falloc(small32 ? n_max * k->zld32 : 1);
    k->zq32 = fpf_falloc(small32 ? k->ztld : 1);
  }
  /* the row-block buffers now when the evaluations at the particles
   * need them, else at the first evaluation at other points */
  int blocks = k->loo || !k->sym_ok || d <= DIRECT_MAX_D || k->small_sym;
  if ((k->f32 && (!k->zc32 || !k->E32 || !k->P32 || !k->zT32 ||
                  !k->zcp32 || !k->zq32)) ||
      !k->zT || !k->zcp ||
      (blocks && block_buffers(k) != FPF_OK) ||
      !k->zc || !k->zq || !k->E || !k->rmax ||
      !k->rsum || !k->knn || !k->u || !k->mean || !k->pairs ||
      (k->sym_ok && !k->parts)) {
    fpf_kde_destroy(k);
    return fpf_error_set(err, FPF_ENOMEM,
                         "kde: out of memory for n = %zu, d = %zu", n_max, d);
  }
  *out = k;
  return FPF_OK;
}

void fpf_kde_destroy(fpf_kde *k) {
  if (!k) return;
  double *b[] = {k->zc,   k->zq,   k->xc,  k->xq, k->E,    k->P,    k->rmax,
                 k->rsum, k->knn, k->u, k->mean, k->pairs, k->zT,
                 k->parts, k->zcp};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) fpf_dfree(b[i]);
  fpf_kde_binned_destroy(k->bin);
  free(k->zc32);
  free(k->xc32);
  free(k->E32);
  free(k->P32);
  free(k->zT32);
  free(k->zcp32);
  free(k->zq32);
  free(k);
}

static fpf_status check_args(const fpf_kde *k, size_t n, double h,
                             fpf_error *err) {
  if (n == 0 || n > k->n_max)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: n = %zu particles, workspace holds 1..%zu", n,
                         k->n_max);
  if (!(h >= FPF_H_MIN && h <= FPF_H_MAX))
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: bandwidth h = %g must be in [%g, %g] (1/h^2 "
                         "must stay finite)", h, FPF_H_MIN, FPF_H_MAX);
  return FPF_OK;
}

/* Centres the sources: zc, zq = |zc|^2 / 2, and zc32 in single
 * precision.  The centre is the mean of at most CENTRE_SAMPLE sources
 * spread evenly over them: any centre gives the same sums in exact
 * arithmetic, one near the mean keeps the rounding of the Gram formula
 * small, and the sample saves a pass over all the sources. */
static void centre_sources(fpf_kde *k, const double *z, size_t n) {
  size_t d = k->d, step = (n + CENTRE_SAMPLE - 1) / CENTRE_SAMPLE;
  size_t m = (n + step - 1) / step;
  double *mean = k->mean;
  for (size_t c = 0; c < d; c++) mean[c] = 0;
  for (size_t i = 0; i < n; i += step)
    for (size_t c = 0; c < d; c++) mean[c] += z[i * d + c];
  for (size_t c = 0; c < d; c++) mean[c] /= (double)m;
  /* the transposed copy (direct and small paths) and the padded one
   * (small path) in the same pass */
  int small = k->small_sym && !k->f32, small32 = k->small_sym && k->f32;
  int tr = d <= DIRECT_MAX_D || small;
  size_t tl = k->ztld, ld = k->zld, ld32 = k->zld32;
#pragma omp parallel for schedule(static) if (n * d * 4 > FPF_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t c = 0; c < d; c++) {
      double v = z[i * d + c] - k->mean[c];
      k->zc[i * d + c] = v;
      s += v * v;
    }
    k->zq[i] = 0.5 * s;
    if (k->f32)
      for (size_t c = 0; c < d; c++) k->zc32[i * d + c] = (float)k->zc[i * d + c];
    if (tr)
      for (size_t c = 0; c < d; c++) k->zT[c * tl + i] = k->zc[i * d + c];
    if (small) memcpy(k->zcp + i * ld, k->zc + i * d, d * sizeof *k->zcp);
    if (small32) {
      const float *x = k->zc32 + i * d;
      for (size_t c = 0; c < d; c++) k->zT32[c * tl + i] = x[c];
      memcpy(k->zcp32 + i * ld32, x, d * sizeof *x);
      k->zq32[i] = (float)k->zq[i];
    }
  }
}

/* Keeps the k smallest squared distances of one row, sorted ascending. */
static inline void knn_push(double *best, size_t kk, double v) {
  if (v >= best[kk - 1]) return;
  size_t p = kk - 1;
  while (p > 0 && best[p - 1] > v) {
    best[p] = best[p - 1];
    p--;
  }
  best[p] = v;
}

/*
 * The direct path (d <= DIRECT_MAX_D) for rows r0.. of a block against
 * the sources j0..j0+cols: exponents by plain loops into the row's part of
 * E, then the same online log-sum-exp as the Gram path, the vectorised
 * exp, and P by loops (a dgemm with so few columns costs more than it
 * computes).  self0 >= 0 when the rows are sources self0.. themselves.
 */
static void direct_rows(fpf_kde *k, const double *xc, size_t i, size_t j0,
                        size_t cols, long self0, double inv2h2,
                        double *bestbuf) {
  size_t d = k->d, nm = k->ztld;
  const double *xi = xc + i * d;
  double *e = k->E + i * cols, *P = k->P + i * d;
  long own = self0 >= 0 ? self0 + (long)i - (long)j0 : -1;
  double *best = bestbuf ? bestbuf + i * k->knn_k : NULL;
  /* exponents from the transposed sources: each loop runs along j */
  for (size_t j = 0; j < cols; j++) e[j] = 0;
  for (size_t c = 0; c < d; c++) {
    const double *col = k->zT + c * nm + j0;
    double x = xi[c];
    for (size_t j = 0; j < cols; j++) e[j] += (x - col[j]) * (x - col[j]);
  }
  if (best)
    for (size_t j = 0; j < cols; j++)
      if ((long)j != own) knn_push(best, k->knn_k, e[j]);
  for (size_t j = 0; j < cols; j++) e[j] *= -inv2h2;
  if (own >= 0 && (size_t)own < cols) e[own] = k->loo ? -INFINITY : 0.0;
  double bm = fpf_max(e, cols);
  if (bm > k->rmax[i]) {
    double sc = exp(k->rmax[i] - bm);
    k->rsum[i] *= sc;
    for (size_t c = 0; c < d; c++) P[c] *= sc;
    k->rmax[i] = bm;
  }
  double m = k->rmax[i];
  if (!isfinite(m)) return;
  for (size_t j = 0; j < cols; j++) e[j] -= m;
  fpf_exp_nonpos(e, cols);
  k->rsum[i] += fpf_sum(e, cols);
  for (size_t c = 0; c < d; c++) P[c] += fpf_dot(e, k->zT + c * nm + j0, cols);
}

static void direct_block(fpf_kde *k, const double *xc, size_t rows,
                         size_t n, long self0, double inv2h2,
                         double *bestbuf) {
  size_t d = k->d, bc = k->bc;
  for (size_t i = 0; i < rows; i++) {
    k->rmax[i] = -INFINITY;
    k->rsum[i] = 0;
  }
  memset(k->P, 0, rows * d * sizeof *k->P);
  for (size_t j0 = 0; j0 < n; j0 += bc) {
    size_t cols = n - j0 < bc ? n - j0 : bc;
#pragma omp parallel for schedule(static) \
    if (rows * cols * (d + 8) > FPF_PAR_MIN)
    for (size_t i = 0; i < rows; i++)
      direct_rows(k, xc, i, j0, cols, self0, inv2h2, bestbuf);
  }
}

/* ---- the symmetric path at the sources ------------------------------ */
/*
 * With the self term and all rows wanted, each pair (i, j), j < i, is
 * formed once.  The pairs are cut into tile x tile blocks of the lower
 * triangle, which the threads take in any order.  A tile adds its pairs'
 * kernel values to partial sums of its own: one side for its rows, one
 * for its columns.  Each row then adds up its parts in a fixed order
 * (sym_reduce), so the result does not depend on the number of threads.
 */

/* One side of a tile's parts: sums (T), sums of e_ij z_j (dp x T, the
 * direct path only) and neighbour lists (T x kk), T the tile side. */
typedef struct {
  double *sum, *P, *knn;
} sym_parts;

static size_t tile_task(size_t ib, size_t jb) { return ib * (ib + 1) / 2 + jb; }

static void tile_of_task(size_t t, size_t *ib, size_t *jb) {
  size_t i = (size_t)((sqrt(8.0 * (double)t + 1.0) - 1.0) / 2.0);
  while (i * (i + 1) / 2 > t) i--;
  while ((i + 1) * (i + 2) / 2 <= t) i++;
  *ib = i;
  *jb = t - i * (i + 1) / 2;
}

static sym_parts parts_at(const fpf_kde *k, size_t t, int side, size_t dp) {
  double *b = k->parts + (2 * t + (size_t)side) * k->part_stride;
  size_t T = k->tile;
  sym_parts p = {b, b + T, b + T + dp * T};
  return p;
}

/* Clears a tile's parts (a diagonal tile has one side, pc = pr). */
static void sym_parts_init(const fpf_kde *k, size_t ib, size_t jb,
                           size_t ri, size_t rj, size_t dp, size_t kk,
                           sym_parts *pr, sym_parts *pc) {
  size_t t = tile_task(ib, jb);
  *pr = parts_at(k, t, 0, dp);
  *pc = ib == jb ? *pr : parts_at(k, t, 1, dp);
  for (int side = 0; side < (ib == jb ? 1 : 2); side++) {
    sym_parts *p = side ? pc : pr;
    size_t r = side ? rj : ri;
    memset(p->sum, 0, k->tile * (1 + dp) * sizeof *p->sum);
    for (size_t q = 0; q < r * kk; q++) p->knn[q] = INFINITY;
  }
}

static inline void knn_push(double *best, size_t kk, double v);

/* Neighbours of one tile row: r2[j] goes to the row's list and to list j
 * of the column side. */
static void sym_knn(const double *r2, size_t jn, size_t kk, double *row,
                    double *cols) {
  for (size_t j = 0; j < jn; j++) {
    knn_push(row, kk, r2[j]);
    knn_push(cols + j * kk, kk, r2[j]);
  }
}

/*
 * Row i's density sums from the parts of the tiles it belongs to: the
 * self term first, then the tiles of its row block left to right, then
 * those below it top to bottom.  With dp = 0 P comes from the products;
 * otherwise the parts carry the sums of e_ij z_j, dp numbers a row: at
 * c T + ii (the direct path, dp = d) or, by_rows, at ii dp + c (the small
 * path, dp = d rounded up to whole vectors).
 */
static void sym_reduce(fpf_kde *k, size_t n, size_t dp, int by_rows,
                       size_t kk) {
  size_t d = k->d, T = k->tile, nt = (n + T - 1) / T;
#pragma omp parallel for schedule(static) if (n * nt * (1 + dp + kk) > \
                                              FPF_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    size_t ib = i / T, ii = i % T;
    double s = 1.0, *P = k->P + i * d, *best = k->knn + i * kk;
    if (dp) memcpy(P, k->zc + i * d, d * sizeof *P);
    for (size_t q = 0; q < kk; q++) best[q] = INFINITY;
    for (size_t b = 0; b < nt; b++) {
      sym_parts p = b <= ib ? parts_at(k, tile_task(ib, b), 0, dp)
                            : parts_at(k, tile_task(b, ib), 1, dp);
      s += p.sum[ii];
      if (dp && by_rows)
        for (size_t c = 0; c < d; c++) P[c] += p.P[ii * dp + c];
      else if (dp)
        for (size_t c = 0; c < d; c++) P[c] += p.P[c * T + ii];
      for (size_t q = 0; q < kk; q++) knn_push(best, kk, p.knn[ii * kk + q]);
    }
    k->rmax[i] = 0;
    k->rsum[i] = s;
  }
}

/*
 * One tile of the direct symmetric path (d <= DIRECT_MAX_D): distances
 * from the transposed sources, exp, and both sides' sums of e_ij and
 * e_ij z_j, all vectorised along the tile's columns.
 */
static void direct_sym_tile(fpf_kde *k, size_t n, size_t ib, size_t jb,
                            double inv2h2, size_t kk) {
  size_t d = k->d, nm = k->ztld, T = k->tile, i0 = ib * T, j0 = jb * T;
  size_t ri = n - i0 < T ? n - i0 : T, rj = n - j0 < T ? n - j0 : T;
  int diag = ib == jb;
  sym_parts pr, pc;
  sym_parts_init(k, ib, jb, ri, rj, d, kk, &pr, &pc);
  double e[TILE_MAX];
  for (size_t ii = 0; ii < ri; ii++) {
    size_t jn = diag ? ii : rj;
    if (!jn) continue;
    const double *xi = k->zc + (i0 + ii) * d;
    for (size_t j = 0; j < jn; j++) e[j] = 0;
    for (size_t c = 0; c < d; c++) {
      const double *col = k->zT + c * nm + j0;
      double x = xi[c];
      for (size_t j = 0; j < jn; j++) e[j] += (x - col[j]) * (x - col[j]);
    }
    if (kk) sym_knn(e, jn, kk, pr.knn + ii * kk, pc.knn);
    for (size_t j = 0; j < jn; j++) e[j] *= -inv2h2;
    fpf_exp_nonpos(e, jn);
    pr.sum[ii] += fpf_sum(e, jn);
    for (size_t j = 0; j < jn; j++) pc.sum[j] += e[j];
    for (size_t c = 0; c < d; c++) {
      const double *col = k->zT + c * nm + j0;
      double x = xi[c], *pcc = pc.P + c * T;
      pr.P[c * T + ii] += fpf_dot(e, col, jn);
      for (size_t j = 0; j < jn; j++) pcc[j] += e[j] * x;
    }
  }
}

static void direct_sym(fpf_kde *k, size_t n, double inv2h2, size_t kk) {
  size_t T = k->tile, nt = (n + T - 1) / T, ntask = nt * (nt + 1) / 2;
#pragma omp parallel for schedule(dynamic) if (n * n * (k->d + 8) > \
                                               FPF_PAR_MIN)
  for (size_t t = 0; t < ntask; t++) {
    size_t ib, jb;
    tile_of_task(t, &ib, &jb);
    direct_sym_tile(k, n, ib, jb, inv2h2, kk);
  }
  sym_reduce(k, n, k->d, 0, kk);
}

/* ---- the small symmetric path (DIRECT_MAX_D < d <= FPF_SMALL_MAX) ---- */

enum { SG = 4 }; /* rows a group */
/* Vectors of a row whose sums a group of SG rows holds at a time: as
 * many sums as the registers hold (with AVX2 at d = 32 in double, all
 * eight vectors of four rows had gone through memory), and at least a
 * third of a row (for SSE2 alone, where the path is built but not
 * taken). */
enum {
  SMALL_CHUNK_REGS = FPF_VACC / SG,
  SMALL_CHUNK = SMALL_CHUNK_REGS * 3 >= FPF_NCD ? SMALL_CHUNK_REGS
                                                : (FPF_NCD + 2) / 3
};

#define R double
#define V fpf_vd
#define W FPF_VD
#define NCMAX FPF_NCD
#define R_DOUBLE 1
#define FN(name) name##_d
#define ZT(k) ((k)->zT)
#define ZCP(k) ((k)->zcp)
#define ZCR(k) ((k)->zc)
#define ZQ(k) ((k)->zq)
#define LD(k) ((k)->zld)
#define EXPV fpf_exp_nonpos
#define SUMV fpf_sum
#include "kde_small.inc"

#define R float
#define V fpf_vf
#define W (2 * FPF_VD)
#define NCMAX FPF_NCF
#define R_DOUBLE 0
#define FN(name) name##_f
#define ZT(k) ((k)->zT32)
#define ZCP(k) ((k)->zcp32)
#define ZCR(k) ((k)->zc32)
#define ZQ(k) ((k)->zq32)
#define LD(k) ((k)->zld32)
#define EXPV fpf_expf_nonpos
#define SUMV fpf_sumf
#include "kde_small.inc"

/* double precision */
#define R double
#define FN(name) name##_d
#define GEMM cblas_dgemm
#define SYRK cblas_dsyrk
#define SYMM cblas_dsymm
#define EXPV fpf_exp_nonpos
#define SUMV fpf_sum
#define ZC(k) ((k)->zc)
#define EBUF(k) ((k)->E)
#define PBUF(k) ((k)->P)
#include "kde_gram.inc"
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef SYMM
#undef EXPV
#undef SUMV
#undef ZC
#undef EBUF
#undef PBUF

/* single precision */
#define R float
#define FN(name) name##_f
#define GEMM cblas_sgemm
#define SYRK cblas_ssyrk
#define SYMM cblas_ssymm
#define EXPV fpf_expf_nonpos
#define SUMV fpf_sumf
#define ZC(k) ((k)->zc32)
#define EBUF(k) ((k)->E32)
#define PBUF(k) ((k)->P32)
#include "kde_gram.inc"
#undef R
#undef FN
#undef GEMM
#undef SYRK
#undef SYMM
#undef EXPV
#undef SUMV
#undef ZC
#undef EBUF
#undef PBUF

/* The shared driver: queries x (NULL = the sources themselves). */
static fpf_status eval_rows(fpf_kde *k, const double *z, size_t n,
                            const double *x, size_t m, double h,
                            double *log_rho, double *score, double *knn_dist,
                            fpf_error *err) {
  size_t d = k->d;
  int self = x == NULL, f32 = k->f32 && d > DIRECT_MAX_D;
  size_t n_eff = self && k->loo ? n - 1 : n;
  if (n_eff == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: leave-one-out needs at least 2 particles");
  double inv_h2 = 1.0 / (h * h), inv2h2 = 0.5 * inv_h2;
  double lognorm = log((double)n_eff) + 0.5 * (double)d * (FPF_LOG2PI +
                                                           2.0 * log(h));
  size_t kk = self && knn_dist ? k->knn_k : 0;
  centre_sources(k, z, n);

  /* at the sources with the self term: the symmetric all-rows path */
  if (self && !k->loo && k->sym_ok) {
    /* double products go straight into score, and are finished there */
    const double *P = k->P;
    if (d <= DIRECT_MAX_D) {
      direct_sym(k, n, inv2h2, kk);
    } else if (k->small_sym) {
      if (f32) small_sym_f(k, n, inv2h2, kk);
      else small_sym_d(k, n, inv2h2, kk);
      f32 = 0; /* the sums are in double */
    } else if (f32) {
      sym_self_f(k, n, inv2h2, kk, score ? k->P32 : NULL);
    } else {
      sym_self_d(k, n, inv2h2, kk, score);
      P = score;
    }
#pragma omp parallel for schedule(static) if (n * d * 4 > FPF_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
      double *sc = score ? score + i * d : NULL;
      if (f32)
        finish_row_f(d, 0.0, k->rsum[i], k->P32 + i * d, k->zc + i * d,
                     lognorm, inv_h2, log_rho + i, sc);
      else
        finish_row_d(d, 0.0, k->rsum[i], P ? P + i * d : NULL, k->zc + i * d,
                     lognorm, inv_h2, log_rho + i, sc);
      if (kk && knn_dist) knn_dist[i] = sqrt(k->knn[i * kk + kk - 1]);
    }
    return FPF_OK;
  }

  if (block_buffers(k) != FPF_OK)
    return fpf_error_set(err, FPF_ENOMEM,
                         "kde: out of memory for blocks of %zu x %zu", k->br,
                         d);
  for (size_t i0 = 0; i0 < m; i0 += k->br) {
    size_t rows = m - i0 < k->br ? m - i0 : k->br;
    const double *xc, *xq;
    const float *xc32 = NULL;
    /* the block's centred queries */
    if (self) {
      xc = k->zc + i0 * d;
      xq = k->zq + i0;
      if (f32) xc32 = k->zc32 + i0 * d;
    } else {
      for (size_t i = 0; i < rows; i++) {
        double s = 0;
        for (size_t c = 0; c < d; c++) {
          double v = x[(i0 + i) * d + c] - k->mean[c];
          k->xc[i * d + c] = v;
          if (f32) k->xc32[i * d + c] = (float)v;
          s += v * v;
        }
        k->xq[i] = 0.5 * s;
      }
      xc = k->xc;
      xq = k->xq;
      xc32 = k->xc32;
    }
    if (kk)
      for (size_t t = 0; t < rows * kk; t++) k->knn[t] = INFINITY;
    /* the row sums */
    long s0 = self ? (long)i0 : -1;
    double *best = kk ? k->knn : NULL;
    if (d <= DIRECT_MAX_D) {
      direct_block(k, xc, rows, n, s0, inv2h2, best);
    } else if (f32) {
      gram_block_f(k, xc32, xq, rows, n, s0, inv2h2, best);
    } else {
      gram_block_d(k, xc, xq, rows, n, s0, inv2h2, best);
    }
    /* log rho, score and k-th neighbour distances */
    for (size_t i = 0; i < rows; i++) {
      double *sc = score ? score + (i0 + i) * d : NULL;
      if (f32)
        finish_row_f(d, k->rmax[i], k->rsum[i], k->P32 + i * d, xc + i * d,
                     lognorm, inv_h2, log_rho + i0 + i, sc);
      else
        finish_row_d(d, k->rmax[i], k->rsum[i], k->P + i * d, xc + i * d,
                     lognorm, inv_h2, log_rho + i0 + i, sc);
      if (kk && knn_dist) knn_dist[i0 + i] = sqrt(k->knn[i * kk + kk - 1]);
    }
  }
  return FPF_OK;
}

/* Whether this evaluation at the particles goes to the binned sums. */
static int use_binned(fpf_kde *k, const double *z, size_t n, double h) {
  if (!k->bin) return 0;
  if (k->method == FPF_KDE_BINNED) return 1;
  if (n < binned_from[k->d]) return 0;
  fpf_kde_binned_info info;
  return fpf_kde_binned_fit(k->bin, z, n, h, &info, NULL) == FPF_OK &&
         info.log_rho_err <= AUTO_BINNED_MAX_ERR;
}

fpf_status fpf_kde_eval(fpf_kde *k, const double *z, size_t n, double h,
                        double *log_rho, double *score, double *knn_dist,
                        fpf_error *err) {
  fpf_status st = check_args(k, n, h, err);
  if (st) return st;
  k->last_binned = use_binned(k, z, n, h);
  if (k->last_binned) {
    if (knn_dist)
      for (size_t i = 0; i < n; i++) knn_dist[i] = NAN;
    return fpf_kde_binned_eval(k->bin, z, n, h, log_rho, score, err);
  }
  if (k->knn_k && knn_dist && k->knn_k >= n)
    return fpf_error_set(err, FPF_EINVAL,
                         "kde: k-th neighbour with k = %zu needs more than "
                         "%zu particles (n = %zu)", k->knn_k, k->knn_k, n);
  return eval_rows(k, z, n, NULL, n, h, log_rho, score, knn_dist, err);
}

int fpf_kde_last_binned(const fpf_kde *k) { return k->last_binned; }

fpf_status fpf_kde_eval_at(fpf_kde *k, const double *z, size_t n,
                           const double *x, size_t m, double h,
                           double *log_rho, double *score, fpf_error *err) {
  fpf_status st = check_args(k, n, h, err);
  if (st) return st;
  if (!x)
    return fpf_error_set(err, FPF_EINVAL, "kde: query points x are NULL");
  return eval_rows(k, z, n, x, m, h, log_rho, score, NULL, err);
}

/* ---- divergence of the kernel current ------------------------------ */

fpf_status fpf_kde_flux_divergence(fpf_kde *k, const double *z, size_t n,
                                   double h, const double *log_rho,
                                   const double *v, double *div,
                                   double *div_over_rho, fpf_error *err) {
  fpf_status st = check_args(k, n, h, err);
  if (st) return st;
  if (k->last_binned)
    return fpf_kde_binned_divergence(k->bin, z, n, h, log_rho, v, div,
                                     div_over_rho, err);
  size_t d = k->d, n_eff = k->loo ? n - 1 : n;
  double inv_h2 = 1.0 / (h * h), inv2h2 = 0.5 * inv_h2;
  double lognorm = log((double)n_eff) + 0.5 * (double)d * (FPF_LOG2PI +
                                                           2.0 * log(h));
  centre_sources(k, z, n);
  /* w_ij = exp(e_ij - lse_i), lse_i = log_rho_i + lognorm;
   * q_i = sum_j w_ij (zc_j - zc_i) . v_j / h^2 */
#pragma omp parallel for schedule(dynamic, 16) \
    if (n * n * (d + 8) > FPF_PAR_MIN)
  for (size_t i = 0; i < n; i++) {
    const double *zi = k->zc + i * d;
    double lse = log_rho[i] + lognorm, q = 0;
    for (size_t j = 0; j < n; j++) {
      if (j == i && k->loo) continue;
      const double *zj = k->zc + j * d, *vj = v + j * d;
      double r2 = 0, dot = 0;
      for (size_t c = 0; c < d; c++) {
        double t = zj[c] - zi[c];
        r2 += t * t;
        dot += t * vj[c];
      }
      q += exp(-r2 * inv2h2 - lse) * dot;
    }
    q *= inv_h2;
    div_over_rho[i] = q;
    if (div) div[i] = q == 0 ? 0.0 : copysign(exp(log_rho[i] + log(fabs(q))),
                                              q);
  }
  return FPF_OK;
}

fpf_status fpf_kde_log_density(const double *z, size_t n, size_t d,
                               const double *x, size_t m, double h,
                               int leave_one_out, double *log_rho,
                               double *score, fpf_error *err) {
  fpf_kde_options o;
  fpf_kde_options_init(&o);
  o.leave_one_out = leave_one_out;
  fpf_kde *k;
  fpf_status st = fpf_kde_create(&k, n, d, &o, err);
  if (st) return st;
  if (x)
    st = fpf_kde_eval_at(k, z, n, x, m, h, log_rho, score, err);
  else
    st = fpf_kde_eval(k, z, n, h, log_rho, score, NULL, err);
  fpf_kde_destroy(k);
  return st;
}
