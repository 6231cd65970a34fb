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

#include "internal.h"

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

/*
 * Box-Muller on vectors as wide as the target's registers, with fpflow's
 * own branch-free log and sincos: a normal, Philox included, in 5.3 ns
 * with AVX2 here (13.9 as a plain loop, which the compiler vectorised for
 * AVX-512 but left scalar for AVX2; 17 ns with libm on the Xeon).  Within
 * 4e-15 of the radius of long double's values (tests/test_rng.c).  Block
 * k of a vector gives the pairs (w0, w1) and (w2, w3): radius from the
 * first word of a pair, angle from the second.
 */

/* log(u) for u in (0, 1]: u = 2^e m, m in [sqrt(1/2), sqrt(2)),
   log m = 2 atanh(f), f = (m - 1)/(m + 1), |f| <= 0.1716; the series to
   f^21 leaves < 1e-17.  e goes to double exactly through the bits of
   2^52 + e + 1023 (no 64-bit integer conversion before AVX-512). */
static inline fpf_vd log_unit(fpf_vd u) {
  const uint64_t two52 = 0x4330000000000000ULL;
  fpf_vd_bits b = (fpf_vd_bits)u, eb = (b >> 52) & 0x7ff;
  fpf_vd m = (fpf_vd)((b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  /* halve m and add 1 to e where m > sqrt(2) */
  fpf_vd_bits big = (fpf_vd_bits)(m > 1.4142135623730951);
  m = (fpf_vd)((fpf_vd_bits)m - (big & (1ULL << 52)));
  fpf_vd e = ((fpf_vd)((eb - big) | two52) - 0x1.0p52) - 1023.0;
  fpf_vd f = (m - 1.0) / (m + 1.0), f2 = f * f;
  fpf_vd p = f2 * (1.0 / 21) + 1.0 / 19;
  p = p * f2 + 1.0 / 17; p = p * f2 + 1.0 / 15;
  p = p * f2 + 1.0 / 13; p = p * f2 + 1.0 / 11; p = p * f2 + 1.0 / 9;
  p = p * f2 + 1.0 / 7;  p = p * f2 + 1.0 / 5;  p = p * f2 + 1.0 / 3;
  p = p * f2 + 1.0;
  return e * 0.69314718055994530942 + 2.0 * f * p;
}

/* sin and cos of 2 pi t for t in [0, 1). */
static inline void sincos_2pi(fpf_vd t, fpf_vd *s, fpf_vd *c) {
  /* quadrant q = nearbyint(4 t), in the low bits of 4 t + 1.5 2^52, and
     r = 2 pi (t - q/4) in [-pi/4, pi/4] */
  fpf_vd qs = t * 4.0 + 0x1.8p52, q = qs - 0x1.8p52;
  fpf_vd_bits qi = (fpf_vd_bits)qs & 3;
  fpf_vd r = (t - 0.25 * q) * 6.283185307179586477;
  fpf_vd r2 = r * r;
  fpf_vd sp = r2 * (-1.0 / 1307674368000.0) + 1.0 / 6227020800.0;
  sp = sp * r2 - 1.0 / 39916800.0; sp = sp * r2 + 1.0 / 362880.0;
  sp = sp * r2 - 1.0 / 5040.0; sp = sp * r2 + 1.0 / 120.0;
  sp = sp * r2 - 1.0 / 6.0; sp = sp * r2 + 1.0;
  fpf_vd sr = sp * r;
  fpf_vd cp = r2 * (1.0 / 20922789888000.0) - 1.0 / 87178291200.0;
  cp = cp * r2 + 1.0 / 479001600.0;
  cp = cp * r2 - 1.0 / 3628800.0; cp = cp * r2 + 1.0 / 40320.0;
  cp = cp * r2 - 1.0 / 720.0; cp = cp * r2 + 1.0 / 24.0;
  cp = cp * r2 - 0.5; cp = cp * r2 + 1.0;
  /* odd quadrants swap sin and cos, quadrants 2 and 3 change both signs */
  fpf_vd_bits odd = -(qi & 1), flip = (qi & 2) << 62;
  *s = (fpf_vd)((fpf_vd_bits)fpf_vd_pick(odd, cp, sr) ^ flip);
  *c = (fpf_vd)((fpf_vd_bits)fpf_vd_pick(odd, -sr, cp) ^ flip);
}

#define PAIRS 128

/* Box-Muller on np <= PAIRS pairs: radii from a, angles from t (both
 * PAIRS long; the tail of the last vector is filled), 2 np normals into
 * z. */
static void box_muller(double *a, double *t, size_t np, double *z) {
  double rr[PAIRS], sn[PAIRS], cs[PAIRS];
  size_t nv = (np + FPF_VD - 1) / FPF_VD * FPF_VD;
  for (size_t i = np; i < nv; i++) a[i] = t[i] = 0.5;
  for (size_t i = 0; i < nv; i += FPF_VD) {
    fpf_vd s, c;
    *(fpf_vd *)(rr + i) = -2.0 * log_unit(*(const fpf_vd *)(a + i));
    sincos_2pi(*(const fpf_vd *)(t + i), &s, &c);
    *(fpf_vd *)(sn + i) = s;
    *(fpf_vd *)(cs + i) = c;
  }
  for (size_t i = 0; i < np; i++) {
    double r = sqrt(rr[i]);
    z[2 * i] = r * cs[i];
    z[2 * i + 1] = r * sn[i];
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
