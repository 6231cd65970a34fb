/*
 * Products with a d x d matrix for small d (d <= FPF_SMALL_MAX), the
 * sizes where a BLAS call costs more than its arithmetic: each output
 * row (or each group of four rows of X^T X) is held in vector registers
 * for the whole sum, and the matrix is read from a copy padded to whole
 * vectors of W doubles.  One thread per call; every entry is summed in
 * a fixed order, so results do not depend on the caller's threads.
 */
#include <string.h>

#include "internal.h"

enum { W = FPF_VD, MAXC = FPF_NCD, GROUP = 4 };
typedef fpf_vd vec;
/* Rows a group for rows of nc vectors: GROUP, or fewer where GROUP rows'
 * sums would not fit in registers (with AVX2 at d = 32, four rows' 32
 * sums went through memory: 26 us for 256 rows against 12 one row at a
 * time). */
#define ROWS_FOR(nc)                               \
  ((nc) * GROUP <= FPF_VACC         ? GROUP       \
   : (nc) * (GROUP / 2) <= FPF_VACC ? GROUP / 2   \
                                    : 1)

/* Row of nc vectors, times alpha, into y (d values). */
static inline __attribute__((always_inline)) void
store_row(const vec *acc, int nc, size_t d, double alpha, double *y) {
  for (int c = 0; c < nc; c++) {
    vec v = alpha * acc[c];
    size_t a0 = (size_t)c * W;
    if (a0 + W <= d) {
      *(vec *)(y + a0) = v;
    } else {
      double t[W];
      memcpy(t, &v, sizeof t);
      for (size_t a = a0; a < d; a++) y[a] = t[a - a0];
    }
  }
}

/*
 * Y = alpha X Mp for nc vectors a row (nc a constant once inlined, so
 * that the sums stay in registers), GROUP rows at a time.  All of a
 * group's rows of X are read before any is written, so Y may be X.
 */
static inline __attribute__((always_inline)) void
times_nc(int nc, size_t m, size_t d, double alpha, const double *X,
         const double *Mp, double *Y) {
  size_t ld = (size_t)nc * W, i = 0;
  const int g = ROWS_FOR(nc);
  for (; g > 1 && i + (size_t)g <= m; i += (size_t)g) {
    vec acc[GROUP][MAXC];
    for (int r = 0; r < g; r++)
      for (int c = 0; c < nc; c++) acc[r][c] = (vec){0};
    const double *x = X + i * d;
    for (size_t b = 0; b < d; b++) {
      const vec *mb = (const vec *)(Mp + b * ld);
      for (int r = 0; r < g; r++) {
        double xv = x[(size_t)r * d + b];
        for (int c = 0; c < nc; c++) acc[r][c] += xv * mb[c];
      }
    }
    for (int r = 0; r < g; r++)
      store_row(acc[r], nc, d, alpha, Y + (i + (size_t)r) * d);
  }
  for (; i < m; i++) {
    vec acc[MAXC];
    for (int c = 0; c < nc; c++) acc[c] = (vec){0};
    const double *x = X + i * d;
    for (size_t b = 0; b < d; b++) {
      const vec *mb = (const vec *)(Mp + b * ld);
      for (int c = 0; c < nc; c++) acc[c] += x[b] * mb[c];
    }
    store_row(acc, nc, d, alpha, Y + i * d);
  }
}

void fpf_small_times(size_t m, size_t d, double alpha, const double *X,
                     const double *M, fpf_small_form form, double *Y) {
  int nc = (int)((d + W - 1) / W);
  size_t ld = (size_t)nc * W;
  double Mp[FPF_SMALL_MAX * FPF_SMALL_MAX] __attribute__((aligned(64)));
  memset(Mp, 0, d * ld * sizeof *Mp);
  if (form == FPF_SMALL_M)
    for (size_t b = 0; b < d; b++)
      memcpy(Mp + b * ld, M + b * d, d * sizeof *M);
  else /* L^T: row a of L, up to its diagonal, is column a of L^T */
    for (size_t a = 0; a < d; a++)
      for (size_t b = 0; b <= a; b++) Mp[b * ld + a] = M[a * d + b];
#define TIMES(N) times_nc(N, m, d, alpha, X, Mp, Y)
  FPF_NC(FPF_NCD, nc, TIMES)
#undef TIMES
}

/*
 * P[a][0..W nc) += sum_i X[i][a] X[i][0..W nc) for the g coordinates
 * a = a0.. (the last of them in vector nc - 1 or before): the lower
 * triangle of X^T X, with the upper parts of its diagonal vectors, from
 * rows of Xp padded to ld.
 */
static inline __attribute__((always_inline)) void
gram_group(int nc, int g, size_t rows, size_t ld, size_t d, const double *Xp,
           size_t a0, double *P) {
  vec acc[GROUP][MAXC];
  for (int r = 0; r < g; r++)
    for (int c = 0; c < nc; c++) acc[r][c] = (vec){0};
  for (size_t i = 0; i < rows; i++) {
    const double *x = Xp + i * ld;
    const vec *xv = (const vec *)x;
    for (int r = 0; r < g; r++) {
      double xa = x[a0 + (size_t)r];
      for (int c = 0; c < nc; c++) acc[r][c] += xa * xv[c];
    }
  }
  for (int r = 0; r < g && a0 + (size_t)r < d; r++) {
    double *p = P + (a0 + (size_t)r) * d;
    for (int c = 0; c < nc; c++) {
      double t[W];
      memcpy(t, &acc[r][c], sizeof t);
      size_t c0 = (size_t)c * W;
      for (size_t a = c0; a < c0 + W && a < d; a++) p[a] += t[a - c0];
    }
  }
}

void fpf_small_gram(size_t m, size_t d, const double *X, double *P) {
  enum { ROWS = 64 };
  /* rows padded to whole vectors, and to whole groups of coordinates */
  size_t step = W > GROUP ? W : GROUP, ld = (d + step - 1) / step * step;
  double Xp[ROWS * FPF_SMALL_MAX] __attribute__((aligned(64)));
  for (size_t i0 = 0; i0 < m; i0 += ROWS) {
    size_t rows = m - i0 < ROWS ? m - i0 : ROWS;
    /* a group of GROUP coordinates is read past d, into zeros */
    for (size_t i = 0; i < rows; i++) {
      memcpy(Xp + i * ld, X + (i0 + i) * d, d * sizeof *Xp);
      for (size_t a = d; a < ld; a++) Xp[i * ld + a] = 0;
    }
    for (size_t a0 = 0; a0 < d;) {
      /* the vectors up to and including the one holding a0 + GROUP - 1,
       * enough for the ROWS_FOR(q + 1) <= GROUP coordinates taken */
      int q = (int)((a0 + GROUP - 1 < d ? a0 + GROUP - 1 : d - 1) / W);
#define GRAM(N) gram_group(N, ROWS_FOR(N), rows, ld, d, Xp, a0, P)
      FPF_NC(FPF_NCD, q + 1, GRAM)
#undef GRAM
      a0 += (size_t)ROWS_FOR(q + 1);
    }
  }
}

void fpf_small_mirror(size_t d, double *P) {
  for (size_t a = 0; a < d; a++)
    for (size_t c = a + 1; c < d; c++) P[a * d + c] = P[c * d + a];
}
