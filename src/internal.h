/* Helpers shared by the library's source files; not installed. */
#ifndef FPF_INTERNAL_H
#define FPF_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fpflow/status.h"

/*
 * Sums, dot products and maxima in eight interleaved lanes, combined in a
 * fixed order: the compiler vectorises them (a plain running sum is one
 * long dependency chain), and the result is the same on every call and
 * thread count, though not bit-equal to the sequential sum.
 */
double fpf_sum(const double *x, size_t n);
double fpf_dot(const double *x, const double *y, size_t n);
double fpf_max(const double *x, size_t n);
double fpf_sumf(const float *x, size_t n);

/* exp of n values x <= 0 in place, vectorised (util.c); float too. */
void fpf_exp_nonpos(double *x, size_t n);
void fpf_expf_nonpos(float *x, size_t n);

/* Cache-line aligned, zeroed allocation of n doubles (NULL on failure). */
double *fpf_dalloc(size_t n);
void fpf_dfree(double *p);
/* The same for floats (released with free). */
float *fpf_falloc(size_t n);

/* log(sum_i exp(a_i)), stable; -inf for an empty or all -inf input. */
double fpf_logsumexp(const double *a, size_t n);

/* 0 when a[0..m) are all finite, NaN otherwise (a sum of a[i] * 0). */
double fpf_nonfinite_mark(const double *a, size_t m);
/* Elements per chunk of the finiteness checks. */
#define FINITE_CHUNK ((size_t)1 << 14)
/* The first non-finite entry of a (n x d), or -1; sets *row, *col. */
long fpf_find_nonfinite(const double *a, size_t n, size_t d, size_t *row,
                        size_t *col);

/*
 * FPF_OK when path does not exist or is a regular file; otherwise an
 * FPF_EIO error.  Outputs are written to a temporary file and renamed into
 * place, which would replace a device node or a symbolic link instead of
 * writing through it, so those are refused.
 */
fpf_status fpf_check_output_path(const char *path, fpf_error *err);

/* Routes a formatted message to an optional log callback. */
void fpf_logf(fpf_log_fn fn, void *user, fpf_log_level level,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Size n*m without overflow; 0 on overflow. */
static inline size_t fpf_mul_size(size_t n, size_t m) {
  if (n != 0 && m > (size_t)-1 / n) return 0;
  return n * m;
}

#define FPF_LOG2PI 1.8378770664093454836

/*
 * Work (in flops, roughly; some 50 microseconds of one core) below which
 * a loop stays on one thread.  A parallel region costs a microsecond or
 * two on an idle machine, so at 500 x 2 two threads take a step from
 * 0.31 to 0.20 ms.  On a loaded machine a barrier can wait a whole time
 * slice (a 256 x 32 step took 56 ms on two threads while another
 * two-thread job ran, against 0.56 ms on one): there, run on one thread
 * (docs/limitations.md).
 */
#define FPF_PAR_MIN ((size_t)250000)

/*
 * BLAS the deterministic way.  fpflow runs OpenBLAS on one thread and
 * splits each large product itself into fixed blocks of rows (or of
 * output columns) that OpenMP threads take in any order.  Every entry of
 * a result is then made by the same single-threaded call whatever the
 * number of threads, so results are bit-identical on 1 or 2 threads
 * (OpenBLAS's own threading rounds differently with the thread count).
 */
#include <cblas.h>
void fpf_blas_single_thread(void);

/* C = alpha A op(B) + beta C, A and C split by rows (row-major). */
void fpf_gemm_rows(CBLAS_TRANSPOSE tb, size_t m, size_t n, size_t k,
                   double alpha, const double *A, size_t lda, const double *B,
                   size_t ldb, double beta, double *C, size_t ldc);

/* Rows per block when n particles are multiplied by a d x d matrix a
 * block at a time (the noise, D s): a quarter of n for the threads,
 * from 16 to 512 (at 128 x 2048, four blocks of 32 beat one of 128,
 * though each reads the matrix again).  Depends on n only. */
size_t fpf_block_rows(size_t n);

/* F = alpha G^T G (G: n x d), full and exactly symmetric: the lower
 * triangle in column blocks, each mirrored above the diagonal. */
void fpf_syrk_full(size_t n, size_t d, double alpha, const double *G,
                   double *F);

/* B = alpha B L^T (L lower d x d), B split by rows. */
void fpf_trmm_rows(size_t m, size_t d, double alpha, const double *L,
                   double *B);

/* Vectors as wide as the target's registers (a wider GNU C vector goes
 * through memory: ten times slower), loaded and stored unaligned
 * (declared as the compiler's own unaligned vector types are): FPF_VD
 * doubles or 2 FPF_VD floats. */
#if defined(__AVX512F__)
#define FPF_VBYTES 64
#define FPF_NCD 4 /* vectors in a row of FPF_SMALL_MAX doubles */
#define FPF_NCF 2 /* and of floats */
#elif defined(__AVX__)
#define FPF_VBYTES 32
#define FPF_NCD 8
#define FPF_NCF 4
#else
#define FPF_VBYTES 16
#define FPF_NCD 16
#define FPF_NCF 8
#endif
#define FPF_VD (FPF_VBYTES / 8)
typedef double fpf_vd __attribute__((vector_size(FPF_VBYTES),
                                     aligned(sizeof(double)), may_alias));
typedef float fpf_vf __attribute__((vector_size(FPF_VBYTES),
                                    aligned(sizeof(float)), may_alias));
/* Their bits, for masks (a comparison gives all ones or zeros a lane)
 * and exponent arithmetic. */
typedef uint64_t fpf_vd_bits __attribute__((vector_size(FPF_VBYTES)));
typedef uint32_t fpf_vf_bits __attribute__((vector_size(FPF_VBYTES)));

/* a where mask m is all ones, else b. */
static inline fpf_vd fpf_vd_pick(fpf_vd_bits m, fpf_vd a, fpf_vd b) {
  return (fpf_vd)(((fpf_vd_bits)a & m) | ((fpf_vd_bits)b & ~m));
}
static inline fpf_vf fpf_vf_pick(fpf_vf_bits m, fpf_vf a, fpf_vf b) {
  return (fpf_vf)(((fpf_vf_bits)a & m) | ((fpf_vf_bits)b & ~m));
}

/* Sums a register-blocked kernel may keep in vector registers: 32
 * registers with AVX-512, 16 before it, some of them for the operands.
 * (With AVX2, kernels that kept 32 sums went through memory: twice as
 * slow.) */
#if FPF_VBYTES >= 64
#define FPF_VACC 16
#else
#define FPF_VACC 12
#endif

/* Products with a d x d matrix for d <= FPF_SMALL_MAX (small.c), on
 * one thread, each output row summed in registers in a fixed order. */
#define FPF_SMALL_MAX 32

/* CALL(N) for N = nc from 1 to M (2, 4, 8 or 16; more counts as M), N a
 * constant in each call, so that loops over a row's N vectors unroll and
 * their sums stay in registers. */
#define FPF_NC_CASES_3(CALL) \
  case 1: CALL(1); break;      \
  case 2: CALL(2); break;      \
  case 3: CALL(3); break;
#define FPF_NC_CASES_7(CALL) \
  FPF_NC_CASES_3(CALL)         \
  case 4: CALL(4); break;      \
  case 5: CALL(5); break;      \
  case 6: CALL(6); break;      \
  case 7: CALL(7); break;
#define FPF_NC_CASES_15(CALL) \
  FPF_NC_CASES_7(CALL)          \
  case 8: CALL(8); break;       \
  case 9: CALL(9); break;       \
  case 10: CALL(10); break;     \
  case 11: CALL(11); break;     \
  case 12: CALL(12); break;     \
  case 13: CALL(13); break;     \
  case 14: CALL(14); break;     \
  case 15: CALL(15); break;
#define FPF_NC_2(nc, CALL) \
  switch (nc) {            \
    case 1: CALL(1); break; \
    default: CALL(2); break; \
  }
#define FPF_NC_4(nc, CALL) \
  switch (nc) { FPF_NC_CASES_3(CALL) default: CALL(4); break; }
#define FPF_NC_8(nc, CALL) \
  switch (nc) { FPF_NC_CASES_7(CALL) default: CALL(8); break; }
#define FPF_NC_16(nc, CALL) \
  switch (nc) { FPF_NC_CASES_15(CALL) default: CALL(16); break; }
#define FPF_NC_(m, nc, CALL) FPF_NC_##m(nc, CALL)
#define FPF_NC(m, nc, CALL) FPF_NC_(m, nc, CALL)
typedef enum {
  FPF_SMALL_M,      /* M itself */
  FPF_SMALL_LOWER_T /* L^T for the lower triangle L of M */
} fpf_small_form;
/* Y = alpha X M (X, Y: m x d rows, M: d x d row-major, in the given
 * form); Y may be X. */
void fpf_small_times(size_t m, size_t d, double alpha, const double *X,
                     const double *M, fpf_small_form form, double *Y);
/* P += X^T X (X: m x d) on and below the diagonal of P (d x d); some
 * entries above it get sums too, which fpf_small_mirror overwrites. */
void fpf_small_gram(size_t m, size_t d, const double *X, double *P);
/* The strict upper triangle of P (d x d) from its lower one. */
void fpf_small_mirror(size_t d, double *P);

/* Lower Cholesky factor of A (d x d, row-major) in place, in blocks;
 * 0 or the 1-based column where A is not positive definite. */
long fpf_potrf_lower(size_t d, double *A);

/* The same three in single precision. */
void fpf_ssyrk_full(size_t n, size_t d, float alpha, const float *G,
                    float *F);
void fpf_strmm_rows(size_t m, size_t d, float alpha, const float *L,
                    float *B);
long fpf_spotrf_lower(size_t d, float *A);

/* The float Cholesky factor of the flow's D in single precision (NULL
 * otherwise); dyn.c draws its noise with it. */
struct fpf_flow;
const float *fpf_flow_cholesky_f(const struct fpf_flow *f);

/* Converts n values between precisions (in parallel for large n). */
void fpf_to_float(const double *a, float *b, size_t n);
void fpf_to_double(const float *a, double *b, size_t n);

#endif
