/*
 * Reading and writing NumPy .npy files.
 *
 * Reads format versions 1.0, 2.0 and 3.0; dtypes f4 and f8 (also i1..i8,
 * u1..u8 and b1, which convert exactly or within double rounding), little-
 * or big-endian; C or Fortran order; any rank up to FPF_NPY_MAXDIM.  Data
 * are always returned as a C-ordered array of double.  Object, string,
 * complex, datetime and structured dtypes, f2 and f16, and ranks above
 * FPF_NPY_MAXDIM are refused (FPF_EUNSUPPORTED) with a message that names
 * the file and the dtype.  Writes version 1.0, '<f8', C order, through a
 * temporary file that is renamed into place, so a failed write never
 * leaves a truncated file under the final name.
 *
 * Every message starts with the file's path.  Statuses: FPF_EIO when the
 * file cannot be opened or read (with strerror), FPF_EFORMAT for a bad
 * magic string, a malformed header (quoted in the message) or truncated
 * data ("expected 8000 bytes of data, found 7992"), FPF_EUNSUPPORTED for
 * a version or dtype fpflow does not read, FPF_ENOMEM.  Bytes after the
 * data are ignored, as NumPy ignores them.
 */
#ifndef FPFLOW_NPY_H
#define FPFLOW_NPY_H

#include <stddef.h>

#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FPF_NPY_MAXDIM 8

typedef struct fpf_array {
  int ndim;
  size_t shape[FPF_NPY_MAXDIM];
  double *data; /* C order, shape[0]*...*shape[ndim-1] values */
} fpf_array;

/*
 * Reads path into out (which the caller releases with fpf_array_free).
 * On failure out is left zeroed, so fpf_array_free(out) is still safe.
 * A shape of () gives ndim 0 and one value; empty shapes such as (0, 3)
 * give a non-NULL data pointer to no values.
 */
fpf_status fpf_npy_read(const char *path, fpf_array *out, fpf_error *err);

/*
 * Writes a C-ordered double array of the given shape as '<f8', version
 * 1.0, the data starting at a multiple of 64 bytes.  The file is written
 * as "<path>.tmp.<pid>" and renamed over path; on failure the temporary
 * file is removed and nothing changes under path.  Two threads of one
 * process must not write the same path at once (they would share the
 * temporary name).  No fsync: this survives a failed or killed process,
 * not a power loss.
 */
fpf_status fpf_npy_write(const char *path, const double *data, int ndim,
                         const size_t *shape, fpf_error *err);

/* Releases a->data (which must come from fpf_npy_read) and zeroes a;
 * NULL does nothing.  An fpf_array wrapped around the caller's memory
 * must not be passed here. */
void fpf_array_free(fpf_array *a);

/* Number of elements. */
size_t fpf_array_size(const fpf_array *a);

/*
 * FPF_ENONFINITE if any value is NaN or Inf, with a message naming `what`
 * (a file name, say; NULL gives "array"), the first such value and its
 * 0-based position, and how many there are when more than one:
 *   rank 1  "z.npy: NaN at index 7"
 *   rank 2  "z.npy: NaN at row 12, column 3"
 *   rank 3  "z.npy: -Inf at snapshot 4, row 12, column 3 (5 non-finite
 *            values in all)"
 *   rank 4+ "z.npy: Inf at [1, 2, 3, 4]"
 */
fpf_status fpf_array_check_finite(const fpf_array *a, const char *what,
                                  fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
