/*
 * Reading training snapshots: the latents (or gradients, or losses) of a
 * probe set at a series of training steps, from the files people's tools
 * already write, one snapshot at a time.
 *
 * Sources (the paths given to fpf_snapshots_create):
 *   - one .npy file of shape (T, N, d): a series of T snapshots; or of
 *     shape (N, d): one snapshot.  Versions 1-3, f4 or f8 (and integers),
 *     either byte order, C or Fortran order (npy.h).
 *   - several per-step .npy files of shape (N, d) each, a directory of
 *     them (every *.npy in it) or a glob pattern ("run/z_*.npy", quoted so
 *     that the shell leaves it alone).  A file's step is the last integer
 *     in its name ("z_step00120.npy" is step 120), unless steps are given.
 *   - an HDF5 file, "run.h5:/group/latents" or "run.h5" with the option
 *     `dataset` (or, when the file holds one dataset of a fitting rank,
 *     that one), of shape (T, N, d) or (N, d), any layout (chunked and
 *     compressed included).  The steps come from an attribute of the
 *     dataset or from a companion dataset of T integers (option
 *     `steps_from`; by default an attribute "steps" if there is one, else
 *     a dataset "steps" beside the data, else 0 .. T-1).
 * A C-ordered f4 or f8 .npy series (what numpy.save writes) and HDF5 are
 * read one snapshot at a time; any other .npy series is read whole once.
 * Per-step files are read when their snapshot is asked for.
 *
 * Steps: given (option `steps`; files are then taken in the order given,
 * a directory or glob in natural name order), or from the names, the
 * HDF5 attribute or dataset, or else 0 .. T-1.  They must increase
 * strictly.  Per-step files are sorted by step.
 *
 * Errors name the file (and the HDF5 dataset) and what is wrong, with the
 * numbers: object, string or complex dtypes; truncated data ("expected X
 * bytes of data, found Y"); a bad magic string; the wrong rank; a shape
 * that changes between snapshots; a NaN or Inf, with the snapshot (and
 * its step) and the row and column where it occurs; steps that repeat or
 * do not increase; a file name without a step in it.
 *
 * The object is not safe to use from two threads at once (HDF5's library
 * is not, in Debian's default build).
 */
#ifndef FPFLOW_SNAPSHOTS_H
#define FPFLOW_SNAPSHOTS_H

#include <stddef.h>

#include "fpflow/npy.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* item_rank for a series whose items may have any shape (see below). */
#define FPF_SNAP_ANY_RANK (-1)

typedef struct fpf_snapshots_options {
  /*
   * The rank of one snapshot: 2 (N x d: latents, gradients), 1 (N values)
   * or 0 (one value).  A single source of rank item_rank + 1 is a series,
   * of rank item_rank one snapshot.  FPF_SNAP_ANY_RANK: a single source is
   * a series along its first axis, and per-step files may have any shape
   * (the same for all).  Default 2.
   */
  int item_rank;
  const long *steps;      /* nsteps given steps, or NULL */
  size_t nsteps;
  const char *dataset;    /* HDF5 dataset path, or NULL (see above) */
  const char *steps_from; /* HDF5 steps attribute or dataset, or NULL */
  const char *what;       /* "latents": what messages call the data */
} fpf_snapshots_options;

void fpf_snapshots_options_init(fpf_snapshots_options *o);

typedef struct fpf_snapshots fpf_snapshots;

/*
 * Opens the npaths sources (files, directories, glob patterns, HDF5
 * "file:/dataset" specifications), finds the snapshots and their steps
 * and reads the first one's shape.  One source may be a series; several
 * must each hold one snapshot.
 */
fpf_status fpf_snapshots_create(fpf_snapshots **out, const char *const *paths,
                                size_t npaths,
                                const fpf_snapshots_options *o,
                                fpf_error *err);
void fpf_snapshots_destroy(fpf_snapshots *s);

/* The number of snapshots T. */
size_t fpf_snapshots_count(const fpf_snapshots *s);

/*
 * The shape of one snapshot as (n, d): (N, d) for rank 2, (N, 1) for
 * rank 1, (1, 1) for rank 0; for other ranks n is the first dimension and
 * d the product of the others.  n * d values fill a snapshot.
 */
void fpf_snapshots_dims(const fpf_snapshots *s, size_t *n, size_t *d);

/* The T steps, increasing. */
const long *fpf_snapshots_steps(const fpf_snapshots *s);

/* 1 when the steps were given or read from the data, 0 for 0 .. T-1. */
int fpf_snapshots_steps_known(const fpf_snapshots *s);

/* Where snapshot k comes from ("z_00100.npy", "run.h5:/latents"). */
const char *fpf_snapshots_source(const fpf_snapshots *s, size_t k);

/*
 * Snapshot k (0 <= k < T) into out (n * d values, C order).  A shape
 * different from the first snapshot's, or a NaN or Inf, is an error that
 * names the file, the snapshot, its step and the position.
 */
fpf_status fpf_snapshots_read(fpf_snapshots *s, size_t k, double *out,
                              fpf_error *err);

/*
 * The step in a file name: the last run of decimal digits in its base
 * name, extension excluded ("run3/z_step00120.npy" gives 120).  Returns
 * 0, or -1 when the name holds no digits or the number overflows a long.
 */
int fpf_snapshots_step_from_name(const char *path, long *step);

/*
 * Reading part of a .npy file in place (npy_series.c).
 *
 * fpf_npy_probe returns 1 and fills l when path is a complete .npy file
 * whose header is exactly what NumPy writes for a C-ordered array of f4
 * or f8 ("{'descr': '<f4', 'fortran_order': False, 'shape': (T, N, d),
 * }"), so that its items along the first axis lie one after the other;
 * 0 for anything else, including files that are broken (fpf_npy_read
 * then reads them whole, or says what is wrong).
 */
typedef struct fpf_npy_layout {
  int ndim;
  size_t shape[FPF_NPY_MAXDIM];
  int elsize;  /* 4 or 8 */
  int swap;    /* the file's byte order differs from the host's */
  long offset; /* the first data byte */
} fpf_npy_layout;

int fpf_npy_probe(const char *path, fpf_npy_layout *l);

/*
 * Items first .. first + count - 1 along the first axis of a file that
 * fpf_npy_probe accepted, as doubles (count times the item size).
 */
fpf_status fpf_npy_read_items(const char *path, const fpf_npy_layout *l,
                              size_t first, size_t count, double *out,
                              fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
