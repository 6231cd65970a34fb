/*
 * Philox4x64-10 (Salmon et al., SC'11, via Random123) turned into
 * uniforms and normals.  One block of four 64-bit words gives four
 * uniforms on (0,1) with 53 random bits, and four normals by two
 * Box-Muller pairs.  Box-Muller is used rather than a ziggurat because it
 * consumes a fixed number of words per normal, which keeps the counter
 * layout (k = position / 4) independent of the values drawn.
 */
#include "fpflow/rng.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <Random123/philox.h>

void fpf_rng_block(uint64_t seed, uint64_t stream, uint64_t step,
                   uint64_t index, uint64_t k, uint64_t out[4]) {
  philox4x64_ctr_t ctr = {{k, index, step, stream}};
  philox4x64_key_t key = {{seed, 0}};
  philox4x64_ctr_t r = philox4x64(ctr, key);
  for (int i = 0; i < 4; i++) out[i] = r.v[i];
}

/* (x >> 11 + 0.5) / 2^53: never 0 or 1, so log() below is finite. */
static inline double u01(uint64_t x) {
  return ((double)(x >> 11) + 0.5) * 0x1.0p-53;
}

void fpf_rng_uniforms(uint64_t seed, uint64_t stream, uint64_t step,
                      uint64_t index, double *out, size_t n) {
  uint64_t w[4];
  for (size_t k = 0; k * 4 < n; k++) {
    fpf_rng_block(seed, stream, step, index, k, w);
    for (size_t j = 0; j < 4 && 4 * k + j < n; j++) out[4 * k + j] = u01(w[j]);
  }
}

/* log(u) for u in (0, 1]: u = 2^e m, m in [sqrt(1/2), sqrt(2)),
   log m = 2 atanh(f), f = (m - 1)/(m + 1), |f| <= 0.1716; the series to
   f^21 leaves < 1e-17. */
static inline double log_unit(double u) {
  uint64_t b;
  memcpy(&b, &u, 8);
  int64_t e = (int64_t)((b >> 52) & 0x7ff) - 1023;
  uint64_t mb = (b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  memcpy(&m, &mb, 8);
  int big = m > 1.4142135623730951;
  m = big ? 0.5 * m : m;
  e = big ? e + 1 : e;
  double f = (m - 1.0) / (m + 1.0), f2 = f * f;
  double p = 1.0 / 21;
  p = p * f2 + 1.0 / 19; p = p * f2 + 1.0 / 17; p = p * f2 + 1.0 / 15;
  p = p * f2 + 1.0 / 13; p = p * f2 + 1.0 / 11; p = p * f2 + 1.0 / 9;
  p = p * f2 + 1.0 / 7;  p = p * f2 + 1.0 / 5;  p = p * f2 + 1.0 / 3;
  p = p * f2 + 1.0;
  return (double)e * 0.69314718055994530942 + 2.0 * f * p;
}
/* sin and cos of 2 pi t for t in [0, 1). */
static inline void sincos_2pi(double t, double *s, double *c) {
  /* quadrant q and r = 2 pi (t - q/4) in [-pi/4, pi/4] */
  double q = nearbyint(4.0 * t);
  double r = (t - 0.25 * q) * 6.283185307179586477;
  double r2 = r * r;
  double sp = -1.0 / 1307674368000.0;               /* -1/15! */
  sp = sp * r2 + 1.0 / 6227020800.0;                /* 1/13! */
  sp = sp * r2 - 1.0 / 39916800.0; sp = sp * r2 + 1.0 / 362880.0;
  sp = sp * r2 - 1.0 / 5040.0; sp = sp * r2 + 1.0 / 120.0;
  sp = sp * r2 - 1.0 / 6.0; sp = sp * r2 + 1.0;
  double sr = sp * r;
  double cp = 1.0 / 20922789888000.0;                /* 1/16! */
  cp = cp * r2 - 1.0 / 87178291200.0; cp = cp * r2 + 1.0 / 479001600.0;
  cp = cp * r2 - 1.0 / 3628800.0; cp = cp * r2 + 1.0 / 40320.0;
  cp = cp * r2 - 1.0 / 720.0; cp = cp * r2 + 1.0 / 24.0;
  cp = cp * r2 - 0.5; cp = cp * r2 + 1.0;
  int64_t qi = (int64_t)q & 3;
  *s = qi == 0 ? sr : qi == 1 ? cp : qi == 2 ? -sr : -cp;
  *c = qi == 0 ? cp : qi == 1 ? -sr : qi == 2 ? -cp : sr;
}
/*
 * Box-Muller on arrays, with fpflow's own branch-free log and sincos so
 * that the compiler vectorises the loop: 5 ns per normal against 17 ns
 * with libm here; the largest difference from libm's result is 1.5e-12
 * relative (measured over 2 10^6 normals).  Block k of a vector gives the
 * pairs (w0, w1) and (w2, w3): radius from the first word of a pair,
 * angle from the second.
 */
#define PAIRS 128

/* Box-Muller on np pairs: radii from a, angles from t, 2 np normals
 * into z. */
static void box_muller(const double *a, const double *t, size_t np,
                       double *z) {
  for (size_t i = 0; i < np; i++) {
    double r = sqrt(-2.0 * log_unit(a[i])), sn, cs;
    sincos_2pi(t[i], &sn, &cs);
    z[2 * i] = r * cs;
    z[2 * i + 1] = r * sn;
  }
}

/* Box-Muller for block k0.. (kb blocks): 4 kb normals into z. */
static void normals_chunk(uint64_t seed, uint64_t stream, uint64_t step,
                          uint64_t index, size_t k0, size_t kb, double *z) {
  double a[PAIRS], t[PAIRS];
  philox4x64_key_t key = {{seed, 0}};
  /* Random123's inline rounds, so that independent blocks overlap */
  for (size_t k = 0; k < kb; k++) {
    philox4x64_ctr_t ctr = {{k0 + k, index, step, stream}};
    philox4x64_ctr_t w = philox4x64(ctr, key);
    a[2 * k] = u01(w.v[0]);
    t[2 * k] = u01(w.v[1]);
    a[2 * k + 1] = u01(w.v[2]);
    t[2 * k + 1] = u01(w.v[3]);
  }
  box_muller(a, t, 2 * kb, z);
}

/* Normals rounded to float or copied: n of z into out or outf. */
static void put(const double *z, size_t n, double *out, float *outf) {
  if (out) memcpy(out, z, n * sizeof *out);
  else
    for (size_t i = 0; i < n; i++) outf[i] = (float)z[i];
}

/* The normals of (seed, stream, step, index) into out (double) or outf
 * (float, rounded): chunks of PAIRS pairs. */
static void normals(uint64_t seed, uint64_t stream, uint64_t step,
                    uint64_t index, double *out, float *outf, size_t n) {
  double z[2 * PAIRS];
  size_t nblocks = (n + 3) / 4;
  for (size_t k0 = 0; k0 < nblocks; k0 += PAIRS / 2) {
    size_t kb = nblocks - k0 < PAIRS / 2 ? nblocks - k0 : PAIRS / 2;
    normals_chunk(seed, stream, step, index, k0, kb, z);
    size_t first = 4 * k0, count = 4 * kb;
    if (first + count > n) count = n - first;
    put(z, count, out ? out + first : NULL, outf ? outf + first : NULL);
  }
}

/*
 * The normals of indices index0 .. index0 + rows - 1, n each, into rows
 * of out or outf.  Short rows share a chunk: the pairs they need (the
 * pair of words 2 and 3 of a row's last block only when the row uses
 * them) go through Box-Muller together.  The same numbers as a call of
 * normals() per row.
 */
static void normals_rows(uint64_t seed, uint64_t stream, uint64_t step,
                         uint64_t index0, size_t rows, size_t n,
                         double *out, float *outf) {
  size_t pr = (n + 1) / 2; /* pairs a row needs */
  if (pr == 0) return;
  if (pr > PAIRS / 4) {
    for (size_t i = 0; i < rows; i++)
      normals(seed, stream, step, index0 + i, out ? out + i * n : NULL,
              outf ? outf + i * n : NULL, n);
    return;
  }
  double a[PAIRS], t[PAIRS], z[2 * PAIRS];
  philox4x64_key_t key = {{seed, 0}};
  size_t per = PAIRS / pr; /* rows per chunk */
  for (size_t r0 = 0; r0 < rows; r0 += per) {
    size_t rc = rows - r0 < per ? rows - r0 : per, np = 0;
    for (size_t i = 0; i < rc; i++)
      for (size_t k = 0; 2 * k < pr; k++) {
        philox4x64_ctr_t ctr = {{k, index0 + r0 + i, step, stream}};
        philox4x64_ctr_t w = philox4x64(ctr, key);
        a[np] = u01(w.v[0]);
        t[np++] = u01(w.v[1]);
        if (2 * k + 1 < pr) {
          a[np] = u01(w.v[2]);
          t[np++] = u01(w.v[3]);
        }
      }
    box_muller(a, t, np, z);
    for (size_t i = 0; i < rc; i++)
      put(z + 2 * pr * i, n, out ? out + (r0 + i) * n : NULL,
          outf ? outf + (r0 + i) * n : NULL);
  }
}

void fpf_rng_normals(uint64_t seed, uint64_t stream, uint64_t step,
                     uint64_t index, double *out, size_t n) {
  normals(seed, stream, step, index, out, NULL, n);
}

void fpf_rng_normals_f(uint64_t seed, uint64_t stream, uint64_t step,
                       uint64_t index, float *out, size_t n) {
  normals(seed, stream, step, index, NULL, out, n);
}

void fpf_rng_normals_rows(uint64_t seed, uint64_t stream, uint64_t step,
                          uint64_t index0, size_t rows, double *out,
                          size_t n) {
  normals_rows(seed, stream, step, index0, rows, n, out, NULL);
}

void fpf_rng_normals_rows_f(uint64_t seed, uint64_t stream, uint64_t step,
                            uint64_t index0, size_t rows, float *out,
                            size_t n) {
  normals_rows(seed, stream, step, index0, rows, n, NULL, out);
}
