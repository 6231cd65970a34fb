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

void fpf_rng_normals(uint64_t seed, uint64_t stream, uint64_t step,
                     uint64_t index, double *out, size_t n) {
  const double two_pi = 6.283185307179586477;
  uint64_t w[4];
  double z[4];
  for (size_t k = 0; k * 4 < n; k++) {
    fpf_rng_block(seed, stream, step, index, k, w);
    for (int p = 0; p < 2; p++) {
      double r = sqrt(-2.0 * log(u01(w[2 * p])));
      double th = two_pi * u01(w[2 * p + 1]);
      z[2 * p] = r * cos(th);
      z[2 * p + 1] = r * sin(th);
    }
    for (size_t j = 0; j < 4 && 4 * k + j < n; j++) out[4 * k + j] = z[j];
  }
}
