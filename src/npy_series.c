/*
 * Reading a .npy series one item at a time (snapshots.h).
 *
 * npy.c reads a whole file into memory, which a long series of latents
 * may not fit.  The common case -- numpy.save of a C-ordered float array
 * -- has its items along the first axis one after the other, so one item
 * can be read by seeking.  Rather than a second parser of the header's
 * Python literal, the probe accepts only the exact header text NumPy
 * writes for such an array, rebuilt from the values it reads; any other
 * header (Fortran order, other dtypes, unusual spacing) and any file that
 * is short of data is left to fpf_npy_read, which reads it whole or
 * explains what is wrong.  So the two readers never disagree on a file.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fpflow/snapshots.h"

/* A header of a float array of rank FPF_NPY_MAXDIM is under 300 bytes;
 * longer ones are not NumPy's plain layout. */
#define PROBE_HEADER_MAX 4096

static int host_is_big_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 0;
}

/* NumPy's header text for a C-ordered array: what the probe compares. */
static void canonical_header(char *buf, size_t cap, char order, int elsize,
                             int ndim, const size_t *shape) {
  size_t k = (size_t)snprintf(buf, cap,
                              "{'descr': '%cf%d', 'fortran_order': False, "
                              "'shape': (",
                              order, elsize);
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%zu", i ? ", " : "",
                          shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "%s), }", ndim == 1 ? "," : "");
}

/* Reads the values the canonical header would hold; 0 on success. */
static int scan_header(const char *h, char *order, int *elsize, int *ndim,
                       size_t *shape) {
  static const char lead[] = "{'descr': '";
  if (strncmp(h, lead, sizeof lead - 1)) return -1;
  h += sizeof lead - 1;
  if ((h[0] != '<' && h[0] != '>') || h[1] != 'f' ||
      (h[2] != '4' && h[2] != '8'))
    return -1;
  *order = h[0];
  *elsize = h[2] - '0';
  const char *p = strstr(h, "'shape': (");
  if (!p) return -1;
  p += strlen("'shape': (");
  *ndim = 0;
  while (*p >= '0' && *p <= '9') {
    if (*ndim == FPF_NPY_MAXDIM) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || v > SIZE_MAX) return -1;
    shape[(*ndim)++] = (size_t)v;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  return 0;
}

/* Bytes in the file at path, or -1. */
static long long file_size(FILE *f) {
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) return -1;
  return (long long)sb.st_size;
}

/* The preamble: magic, version and header length; 0 on success. */
static int read_preamble(FILE *f, size_t *hlen, size_t *lenbytes) {
  unsigned char pre[12];
  if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6)) return -1;
  if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) return -1;
  *lenbytes = pre[6] == 1 ? 2 : 4;
  if (fread(pre + 8, 1, *lenbytes, f) != *lenbytes) return -1;
  *hlen = 0;
  for (size_t i = 0; i < *lenbytes; i++)
    *hlen |= (size_t)pre[8 + i] << (8 * i);
  return *hlen == 0 || *hlen > PROBE_HEADER_MAX ? -1 : 0;
}

int fpf_npy_probe(const char *path, fpf_npy_layout *l) {
  if (!path || !l) return 0;
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char h[PROBE_HEADER_MAX + 1], want[PROBE_HEADER_MAX];
  size_t hlen, lenbytes;
  int ok = read_preamble(f, &hlen, &lenbytes) == 0 &&
           fread(h, 1, hlen, f) == hlen;
  long long size = ok ? file_size(f) : -1;
  fclose(f);
  if (!ok || size < 0) return 0;

  /* The header, padding and newline trimmed, must be NumPy's text. */
  size_t n = hlen;
  while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\n')) n--;
  h[n] = '\0';
  char order;
  memset(l, 0, sizeof *l);
  if (scan_header(h, &order, &l->elsize, &l->ndim, l->shape)) return 0;
  canonical_header(want, sizeof want, order, l->elsize, l->ndim, l->shape);
  if (strcmp(h, want)) return 0;

  /* All the data must be there (fpf_npy_read words a shortfall). */
  size_t count = 1;
  for (int i = 0; i < l->ndim; i++) {
    if (l->shape[i] && count > SIZE_MAX / l->shape[i]) return 0;
    count *= l->shape[i];
  }
  l->offset = (long)(8 + lenbytes + hlen);
  if (count > (SIZE_MAX - (size_t)l->offset) / (size_t)l->elsize) return 0;
  if ((unsigned long long)size < (size_t)l->offset + count * l->elsize)
    return 0;
  l->swap = (order == '>') != host_is_big_endian();
  return l->ndim >= 1;
}

/* One element of `size` bytes at p, byte-swapped if asked, as double. */
static double element(const unsigned char *p, int size, int swap) {
  unsigned char b[8];
  for (int i = 0; i < size; i++) b[i] = swap ? p[size - 1 - i] : p[i];
  if (size == 4) {
    float x;
    memcpy(&x, b, 4);
    return (double)x;
  }
  double x;
  memcpy(&x, b, 8);
  return x;
}

fpf_status fpf_npy_read_items(const char *path, const fpf_npy_layout *l,
                              size_t first, size_t count, double *out,
                              fpf_error *err) {
  if (!path || !l || !out || l->ndim < 1)
    return fpf_error_set(err, FPF_EINVAL, "fpf_npy_read_items: NULL "
                                          "argument or rank 0");
  if (first > l->shape[0] || count > l->shape[0] - first)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: items %zu .. %zu asked, the file has %zu",
                         path, first, first + count - 1, l->shape[0]);
  size_t item = 1;
  for (int i = 1; i < l->ndim; i++) item *= l->shape[i];
  size_t nval = item * count, want = nval * (size_t)l->elsize;
  FILE *f = fopen(path, "rb");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "%s: cannot open: %s", path,
                         strerror(errno));
  off_t at = (off_t)l->offset + (off_t)(first * item * (size_t)l->elsize);
  size_t got = 0;
  int bad_seek = fseeko(f, at, SEEK_SET) != 0;
  if (!bad_seek) got = fread(out, 1, want, f);
  int e = errno, bad_read = ferror(f);
  fclose(f);
  if (bad_seek || bad_read)
    return fpf_error_set(err, FPF_EIO, "%s: read error: %s", path,
                         strerror(e));
  if (got < want)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: truncated: expected %zu bytes of data for "
                         "items %zu .. %zu, found %zu (was the file cut "
                         "after it was opened?)",
                         path, want, first, first + count - 1, got);

  /* Widen in place from the back: element k's bytes lie at or before
   * the double k is written to, so nothing unread is overwritten. */
  const unsigned char *raw = (const unsigned char *)out;
  for (size_t k = nval; k-- > 0;)
    out[k] = element(raw + k * (size_t)l->elsize, l->elsize, l->swap);
  return FPF_OK;
}
