/*
 * Counter-based random numbers (Philox4x64-10).
 *
 * Every number is a pure function of (seed, stream, step, index, k): the
 * run's seed is the key, and the counter holds the purpose of the draw
 * (stream), the step, the particle and the position within its vector.
 * So a run draws the same numbers whatever the number of threads or
 * processes, and no generator state is carried between steps.
 */
#ifndef FPFLOW_RNG_H
#define FPFLOW_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Streams used by fpflow itself; callers may use values >= 16. */
enum {
  FPF_STREAM_NOISE = 0,
  FPF_STREAM_RESET_PICK = 1,
  FPF_STREAM_RESET_DRAW = 2,
  FPF_STREAM_INIT = 3,
  FPF_STREAM_SUBSAMPLE = 4,
  /* 8, 9, 10: the transport module's draws (transport.h) */
  FPF_STREAM_USER = 16
};

/* The raw block: 4 words for counter (k, index, step, stream). */
void fpf_rng_block(uint64_t seed, uint64_t stream, uint64_t step,
                   uint64_t index, uint64_t k, uint64_t out[4]);

/* n standard normals for (seed, stream, step, index) into out. */
void fpf_rng_normals(uint64_t seed, uint64_t stream, uint64_t step,
                     uint64_t index, double *out, size_t n);
/* The same normals rounded to float. */
void fpf_rng_normals_f(uint64_t seed, uint64_t stream, uint64_t step,
                       uint64_t index, float *out, size_t n);
/* The normals of indices index0 .. index0 + rows - 1, n each, in rows of
 * out: the same numbers as fpf_rng_normals per index, drawn together
 * (much faster for short rows). */
void fpf_rng_normals_rows(uint64_t seed, uint64_t stream, uint64_t step,
                          uint64_t index0, size_t rows, double *out,
                          size_t n);
void fpf_rng_normals_rows_f(uint64_t seed, uint64_t stream, uint64_t step,
                            uint64_t index0, size_t rows, float *out,
                            size_t n);

/* n uniforms in the open interval (0, 1), 53-bit resolution. */
void fpf_rng_uniforms(uint64_t seed, uint64_t stream, uint64_t step,
                      uint64_t index, double *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
