/*
 * NumPy .npy files: a reader for the numeric arrays fpflow consumes and a
 * writer for the '<f8' arrays it produces.
 *
 * The format: the magic string "\x93NUMPY", a major and a minor version
 * byte, the header length (2 bytes little-endian in 1.0, 4 bytes in 2.0
 * and 3.0), the header itself -- a Python dict literal with the keys
 * 'descr', 'fortran_order' and 'shape', padded with spaces and ended by a
 * newline -- and then the raw elements.  A header we can accept holds only
 * strings, booleans and tuples of integers, so a small scanner for those
 * replaces a general Python literal parser; anything else is a malformed
 * header, quoted in the message.
 *
 * Files are read in one pass from a stream: the data go straight into the
 * double array that is returned and are widened there in place, so reading
 * an f4 file needs no second buffer.  Only a Fortran-ordered file of rank
 * 2 or more needs one, for the transpose.
 */
#define _POSIX_C_SOURCE 200809L
#include "fpflow/npy.h"

#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/*
 * The largest header we read.  A header of any dtype we accept is under
 * 300 bytes even at rank FPF_NPY_MAXDIM; the cap only keeps a corrupt
 * length field from asking for gigabytes.
 */
#define NPY_HEADER_MAX (1u << 20)

/* What a header says about the data that follow it. */
typedef struct npy_desc {
  char descr[40];  /* as written, for messages */
  char kind;       /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
  int size;        /* bytes per element */
  int swap;        /* the file's byte order differs from the host's */
  int fortran;     /* fortran_order: True */
  int ndim;
  size_t shape[FPF_NPY_MAXDIM];
  size_t count;    /* elements */
} npy_desc;

/* The header text being scanned, for the parser and its messages. */
typedef struct hdr_scan {
  const char *path;
  const char *s;
  size_t n, pos;
  fpf_error *err;
} hdr_scan;

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* ------------------------------------------------------------------ */
/* Header scanner                                                      */
/* ------------------------------------------------------------------ */

/*
 * A malformed-header report: what was expected, where, and the header
 * itself (trailing padding dropped, control bytes shown as '?') so that
 * the reader of the message sees what the file holds.
 */
static fpf_status bad_header(hdr_scan *h, const char *what) {
  char shown[160];
  size_t n = h->n, k = 0;
  while (n > 0 && (h->s[n - 1] == ' ' || h->s[n - 1] == '\n')) n--;
  for (size_t i = 0; i < n && k + 4 < sizeof shown; i++) {
    unsigned char c = (unsigned char)h->s[i];
    shown[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (k < n) shown[k++] = '.', shown[k++] = '.', shown[k++] = '.';
  shown[k] = '\0';
  return fpf_error_set(h->err, FPF_EFORMAT,
                       "%s: malformed header: %s at byte %zu of \"%s\"",
                       h->path, what, h->pos, shown);
}

static void skip_ws(hdr_scan *h) {
  while (h->pos < h->n && strchr(" \t\r\n", h->s[h->pos]) && h->s[h->pos])
    h->pos++;
}

/* Consumes c after optional white space; 1 if it was there. */
static int accept(hdr_scan *h, char c) {
  skip_ws(h);
  if (h->pos < h->n && h->s[h->pos] == c) {
    h->pos++;
    return 1;
  }
  return 0;
}

static int peek(hdr_scan *h) {
  skip_ws(h);
  return h->pos < h->n ? (unsigned char)h->s[h->pos] : -1;
}

/* A quoted Python string, '...' or "...", into buf (size cap). */
static fpf_status scan_string(hdr_scan *h, char *buf, size_t cap) {
  int q = peek(h);
  if (q != '\'' && q != '"') return bad_header(h, "expected a quoted string");
  size_t len = 0, start = h->pos;
  for (h->pos++; h->pos < h->n && h->s[h->pos] != q; h->pos++, len++) {
    if (h->s[h->pos] == '\n') break; /* Python strings end on the line */
    if (h->s[h->pos] == '\\' && h->pos + 1 < h->n) h->pos++;
    if (len + 1 < cap) buf[len] = h->s[h->pos];
  }
  int closed = h->pos < h->n && h->s[h->pos] == q;
  if (!closed || len + 1 > cap) {
    h->pos = start;
    return bad_header(h, closed ? "string too long" : "unterminated string");
  }
  h->pos++;
  buf[len] = '\0';
  return FPF_OK;
}

static fpf_status scan_bool(hdr_scan *h, int *v) {
  skip_ws(h);
  const char *p = h->s + h->pos;
  size_t left = h->n - h->pos;
  if (left >= 4 && !strncmp(p, "True", 4)) {
    *v = 1;
    h->pos += 4;
  } else if (left >= 5 && !strncmp(p, "False", 5)) {
    *v = 0;
    h->pos += 5;
  } else {
    return bad_header(h, "expected True or False for 'fortran_order'");
  }
  return FPF_OK;
}

/* A non-negative integer; Python 2 files may carry an 'L' suffix. */
static fpf_status scan_size(hdr_scan *h, size_t *v) {
  skip_ws(h);
  if (h->pos >= h->n || h->s[h->pos] < '0' || h->s[h->pos] > '9')
    return bad_header(h, "expected a non-negative integer in 'shape'");
  size_t x = 0;
  while (h->pos < h->n && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
    size_t digit = (size_t)(h->s[h->pos] - '0');
    if (x > (SIZE_MAX - digit) / 10)
      return bad_header(h, "dimension too large");
    x = 10 * x + digit;
    h->pos++;
  }
  if (h->pos < h->n && (h->s[h->pos] == 'L' || h->s[h->pos] == 'l'))
    h->pos++;
  *v = x;
  return FPF_OK;
}

/*
 * A shape tuple: (), (n,), (n, m) with optional trailing comma and any
 * spacing.  "(n)" is an integer in Python but can only mean (n,) here.
 */
static fpf_status scan_shape(hdr_scan *h, npy_desc *d) {
  if (!accept(h, '(')) return bad_header(h, "expected '(' for 'shape'");
  d->ndim = 0;
  while (!accept(h, ')')) {
    if (d->ndim == FPF_NPY_MAXDIM)
      return fpf_error_set(h->err, FPF_EUNSUPPORTED,
                           "%s: rank above %d is not supported",
                           h->path, FPF_NPY_MAXDIM);
    fpf_status st = scan_size(h, &d->shape[d->ndim++]);
    if (st != FPF_OK) return st;
    if (!accept(h, ',') && peek(h) != ')')
      return bad_header(h, "expected ',' or ')' in 'shape'");
  }
  return FPF_OK;
}

/* ------------------------------------------------------------------ */
/* dtype                                                               */
/* ------------------------------------------------------------------ */

static fpf_status refuse_dtype(const char *path, const char *descr,
                               const char *why, fpf_error *err) {
  return fpf_error_set(err, FPF_EUNSUPPORTED,
                       "%s: dtype '%s' (%s) is not supported; fpflow reads "
                       "float and integer arrays",
                       path, descr, why);
}

/* The name of a NumPy type kind we refuse, for the message. */
static const char *kind_name(char kind) {
  switch (kind) {
    case 'c': return "complex";
    case 'O': return "Python object";
    case 'S': case 'a': return "byte string";
    case 'U': return "unicode string";
    case 'V': return "structured or void";
    case 'M': return "datetime";
    case 'm': return "timedelta";
    default: return "unknown type";
  }
}

/*
 * Decodes a type string such as '<f8', '>i4', '|u1' or '=f4': an optional
 * byte order, a kind letter and the element size in bytes.  '|' (not
 * applicable) and '=' (native) both mean the host's order.
 */
static fpf_status parse_descr(const char *path, npy_desc *d, fpf_error *err) {
  const char *p = d->descr;
  int little = host_is_little_endian();
  if (*p == '<' || *p == '>' || *p == '|' || *p == '=') {
    if (*p == '<') little = 1;
    if (*p == '>') little = 0;
    p++;
  }
  d->kind = *p ? *p++ : '?';
  char *end;
  errno = 0;
  long size = strtol(p, &end, 10);
  int sized = end != p && *end == '\0' && errno == 0;
  if (!strchr("fiub", d->kind))
    return refuse_dtype(path, d->descr, kind_name(d->kind), err);
  if (!sized)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: malformed header: dtype '%s' has no element "
                         "size", path, d->descr);
  int ok = d->kind == 'f' ? (size == 4 || size == 8)
           : d->kind == 'b' ? size == 1
           : (size == 1 || size == 2 || size == 4 || size == 8);
  if (!ok)
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "%s: dtype '%s' (%ld-byte %s) is not supported; "
                         "fpflow reads f4, f8 and 1- to 8-byte integers",
                         path, d->descr, size,
                         d->kind == 'f' ? "float" : "integer");
  d->size = (int)size;
  d->swap = size > 1 && little != host_is_little_endian();
  return FPF_OK;
}

/* ------------------------------------------------------------------ */
/* Header dict                                                         */
/* ------------------------------------------------------------------ */

/* The value of 'descr': a type string, or a list for a structured type. */
static fpf_status scan_descr(hdr_scan *h, npy_desc *d) {
  if (peek(h) == '[') {
    size_t end = h->pos;
    while (end < h->n && end - h->pos < 30 && h->s[end] != '\n') end++;
    return fpf_error_set(h->err, FPF_EUNSUPPORTED,
                         "%s: dtype %.*s... (structured) is not supported; "
                         "fpflow reads float and integer arrays",
                         h->path, (int)(end - h->pos), h->s + h->pos);
  }
  return scan_string(h, d->descr, sizeof d->descr);
}

static fpf_status scan_entry(hdr_scan *h, npy_desc *d, unsigned *seen) {
  static const char *const keys[] = {"descr", "fortran_order", "shape"};
  char key[64], msg[96];
  fpf_status st = scan_string(h, key, sizeof key);
  if (st != FPF_OK) return st;
  int which = -1;
  for (int i = 0; i < 3; i++)
    if (!strcmp(key, keys[i])) which = i;
  if (which < 0) {
    snprintf(msg, sizeof msg, "unknown key '%s'", key);
    return bad_header(h, msg);
  }
  if (*seen & (1u << which)) {
    snprintf(msg, sizeof msg, "key '%s' given twice", key);
    return bad_header(h, msg);
  }
  *seen |= 1u << which;
  if (!accept(h, ':')) {
    snprintf(msg, sizeof msg, "expected ':' after '%s'", key);
    return bad_header(h, msg);
  }
  if (which == 0) return scan_descr(h, d);
  if (which == 1) return scan_bool(h, &d->fortran);
  return scan_shape(h, d);
}

/*
 * The whole dict, keys in any order, with optional trailing comma; only
 * white space may follow it.  Missing keys are named.
 */
static fpf_status scan_dict(hdr_scan *h, npy_desc *d) {
  unsigned seen = 0;
  if (!accept(h, '{')) return bad_header(h, "expected '{'");
  while (!accept(h, '}')) {
    fpf_status st = scan_entry(h, d, &seen);
    if (st != FPF_OK) return st;
    if (!accept(h, ',') && peek(h) != '}')
      return bad_header(h, "expected ',' or '}'");
  }
  if (peek(h) != -1) return bad_header(h, "unexpected text after '}'");
  static const char *const keys[] = {"descr", "fortran_order", "shape"};
  for (int i = 0; i < 3; i++)
    if (!(seen & (1u << i))) {
      char msg[64];
      snprintf(msg, sizeof msg, "key '%s' is missing", keys[i]);
      h->pos = h->n;
      return bad_header(h, msg);
    }
  return FPF_OK;
}

/* Element count of the shape, refusing one whose bytes overflow size_t. */
static fpf_status count_elements(const char *path, npy_desc *d,
                                 fpf_error *err) {
  size_t c = 1;
  for (int i = 0; i < d->ndim; i++) {
    if (d->shape[i] != 0 && c > SIZE_MAX / 8 / d->shape[i])
      return fpf_error_set(err, FPF_EFORMAT,
                           "%s: malformed header: shape with %d dimensions "
                           "holds more elements than memory can address",
                           path, d->ndim);
    c *= d->shape[i];
  }
  d->count = c;
  return FPF_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Magic string, version and header length: 10 or 12 bytes. */
static fpf_status read_preamble(FILE *f, const char *path, size_t *hlen,
                                fpf_error *err) {
  unsigned char b[8];
  size_t got = fread(b, 1, 8, f);
  if (got < 8 && ferror(f))
    return fpf_error_set(err, FPF_EIO, "%s: read error: %s", path,
                         strerror(errno));
  if (got < 6 || memcmp(b, npy_magic, 6) != 0)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: not a .npy file (bad magic string)", path);
  if (got < 8)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: truncated: the file ends after %zu bytes, "
                         "inside the format version", path, got);
  int major = b[6], minor = b[7];
  if ((major < 1 || major > 3) || minor != 0)
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "%s: .npy format version %d.%d is not supported "
                         "(fpflow reads 1.0, 2.0 and 3.0)",
                         path, major, minor);
  size_t nlen = major == 1 ? 2 : 4;
  if (fread(b, 1, nlen, f) != nlen)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: truncated: the file ends inside the header "
                         "length", path);
  *hlen = (size_t)b[0] | (size_t)b[1] << 8;
  if (nlen == 4) *hlen |= (size_t)b[2] << 16 | (size_t)b[3] << 24;
  return FPF_OK;
}

static fpf_status read_header(FILE *f, const char *path, npy_desc *d,
                              fpf_error *err) {
  size_t hlen = 0;
  fpf_status st = read_preamble(f, path, &hlen, err);
  if (st != FPF_OK) return st;
  if (hlen > NPY_HEADER_MAX)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: malformed header: length %zu bytes exceeds "
                         "the %u bytes fpflow accepts", path, hlen,
                         NPY_HEADER_MAX);
  char *text = malloc(hlen + 1);
  if (!text)
    return fpf_error_set(err, FPF_ENOMEM,
                         "%s: out of memory for a %zu-byte header", path,
                         hlen);
  size_t got = fread(text, 1, hlen, f);
  if (got < hlen) {
    st = fpf_error_set(err, FPF_EFORMAT,
                       "%s: truncated: expected a header of %zu bytes, "
                       "found %zu", path, hlen, got);
  } else {
    text[hlen] = '\0';
    hdr_scan h = {path, text, hlen, 0, err};
    memset(d, 0, sizeof *d);
    st = scan_dict(&h, d);
  }
  free(text);
  if (st == FPF_OK) st = parse_descr(path, d, err);
  if (st == FPF_OK) st = count_elements(path, d, err);
  return st;
}

/* One element at p, in the file's type and byte order, as a double. */
static double load_element(const unsigned char *p, const npy_desc *d) {
  unsigned char b[8];
  for (int i = 0; i < d->size; i++)
    b[i] = d->swap ? p[d->size - 1 - i] : p[i];
  union {
    float f4;
    double f8;
    int8_t i1;
    int16_t i2;
    int32_t i4;
    int64_t i8;
    uint8_t u1;
    uint16_t u2;
    uint32_t u4;
    uint64_t u8;
  } v;
  memcpy(&v, b, (size_t)d->size);
  switch (d->kind * 16 + d->size) {
    case 'f' * 16 + 4: return v.f4;
    case 'f' * 16 + 8: return v.f8;
    case 'i' * 16 + 1: return v.i1;
    case 'i' * 16 + 2: return v.i2;
    case 'i' * 16 + 4: return v.i4;
    case 'i' * 16 + 8: return (double)v.i8;
    case 'u' * 16 + 2: return v.u2;
    case 'u' * 16 + 4: return v.u4;
    case 'u' * 16 + 8: return (double)v.u8;
    default: return v.u1; /* u1, b1 */
  }
}

/*
 * Widens the raw elements at the start of buf to doubles in place.  Going
 * from the last element down, double i (bytes 8i..8i+7) only overwrites
 * raw elements j >= i, which have already been converted.
 */
static void widen_in_place(double *buf, const npy_desc *d) {
  if (d->kind == 'f' && d->size == 8 && !d->swap) return;
  const unsigned char *raw = (const unsigned char *)buf;
  for (size_t i = d->count; i-- > 0;)
    buf[i] = load_element(raw + i * (size_t)d->size, d);
}

/*
 * Fortran order to C order: walks the C-ordered output with an odometer
 * and keeps the matching column-major offset up to date.
 */
static fpf_status to_c_order(fpf_array *a, const char *path,
                             fpf_error *err) {
  size_t n = fpf_array_size(a);
  if (a->ndim < 2 || n < 2) return FPF_OK;
  double *c = malloc(n * sizeof *c);
  if (!c)
    return fpf_error_set(err, FPF_ENOMEM,
                         "%s: out of memory for the C-order copy of %zu "
                         "values", path, n);
  size_t idx[FPF_NPY_MAXDIM] = {0}, stride[FPF_NPY_MAXDIM];
  stride[0] = 1;
  for (int j = 1; j < a->ndim; j++)
    stride[j] = stride[j - 1] * a->shape[j - 1];
  size_t off = 0;
  for (size_t k = 0; k < n; k++) {
    c[k] = a->data[off];
    for (int j = a->ndim - 1; j >= 0; j--) {
      if (++idx[j] < a->shape[j]) {
        off += stride[j];
        break;
      }
      off -= (a->shape[j] - 1) * stride[j];
      idx[j] = 0;
    }
  }
  free(a->data);
  a->data = c;
  return FPF_OK;
}

/*
 * Bytes left in f after the current position, or SIZE_MAX when f is not
 * a regular file (a pipe, say) and only reading will tell.
 */
static size_t bytes_left(FILE *f) {
  struct stat sb;
  off_t here = ftello(f);
  if (here < 0 || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
    return SIZE_MAX;
  return sb.st_size > here ? (size_t)(sb.st_size - here) : 0;
}

static fpf_status truncated(const char *path, size_t want, size_t found,
                            fpf_error *err) {
  return fpf_error_set(err, FPF_EFORMAT,
                       "%s: truncated: expected %zu bytes of data, found %zu",
                       path, want, found);
}

/*
 * The data into out.  A regular file too short for its shape is refused
 * before anything is allocated, so a corrupt shape reads as "truncated"
 * rather than as "out of memory".  Bytes after the data are ignored, as
 * NumPy does.
 */
static fpf_status read_data(FILE *f, const char *path, const npy_desc *d,
                            fpf_array *out, fpf_error *err) {
  size_t want = d->count * (size_t)d->size, left = bytes_left(f);
  if (left < want) return truncated(path, want, left, err);
  size_t alloc = (d->count ? d->count : 1) * sizeof(double);
  double *buf = malloc(alloc);
  if (!buf)
    return fpf_error_set(err, FPF_ENOMEM,
                         "%s: out of memory for %zu values (%zu MiB)", path,
                         d->count, alloc >> 20);
  size_t got = fread(buf, 1, want, f);
  if (got < want) {
    int e = errno, bad = ferror(f);
    free(buf);
    if (bad)
      return fpf_error_set(err, FPF_EIO, "%s: read error: %s", path,
                           strerror(e));
    return truncated(path, want, got, err);
  }
  widen_in_place(buf, d);
  out->ndim = d->ndim;
  memcpy(out->shape, d->shape, sizeof out->shape);
  out->data = buf;
  if (!d->fortran) return FPF_OK;
  fpf_status st = to_c_order(out, path, err);
  if (st != FPF_OK) fpf_array_free(out);
  return st;
}

fpf_status fpf_npy_read(const char *path, fpf_array *out, fpf_error *err) {
  if (!out)
    return fpf_error_set(err, FPF_EINVAL, "fpf_npy_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path)
    return fpf_error_set(err, FPF_EINVAL, "fpf_npy_read: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "%s: cannot open: %s", path,
                         strerror(errno));
  npy_desc d;
  fpf_status st = read_header(f, path, &d, err);
  if (st == FPF_OK) st = read_data(f, path, &d, out, err);
  fclose(f);
  return st;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/*
 * The header of a version 1.0 '<f8' C-order file, padded with spaces and
 * a newline so that the data start at a multiple of 64 bytes, as NumPy
 * itself aligns them (memory-mapped readers then get aligned doubles).
 * Returns the header length; buf must hold 512 bytes.
 */
static size_t format_header(char *buf, int ndim, const size_t *shape) {
  size_t k = (size_t)sprintf(buf, "{'descr': '<f8', 'fortran_order': False, "
                                  "'shape': (");
  for (int i = 0; i < ndim; i++)
    k += (size_t)sprintf(buf + k, "%s%zu", i ? ", " : "", shape[i]);
  k += (size_t)sprintf(buf + k, "%s), }", ndim == 1 ? "," : "");
  size_t total = 10 + k + 1;
  size_t pad = (64 - total % 64) % 64;
  memset(buf + k, ' ', pad);
  k += pad;
  buf[k++] = '\n';
  return k;
}

/* The doubles, little-endian whatever the host. */
static int write_le_doubles(FILE *f, const double *x, size_t n) {
  if (n == 0) return 0; /* x may be NULL then */
  if (host_is_little_endian())
    return fwrite(x, sizeof *x, n, f) == n ? 0 : -1;
  unsigned char chunk[4096];
  for (size_t i = 0; i < n;) {
    size_t m = 0;
    for (; m < sizeof chunk / 8 && i < n; m++, i++) {
      unsigned char b[8];
      memcpy(b, &x[i], 8);
      for (int j = 0; j < 8; j++) chunk[8 * m + j] = b[7 - j];
    }
    if (fwrite(chunk, 8, m, f) != m) return -1;
  }
  return 0;
}

static fpf_status check_write_args(const char *path, const double *data,
                                   int ndim, const size_t *shape,
                                   size_t *count, fpf_error *err) {
  if (!path)
    return fpf_error_set(err, FPF_EINVAL, "fpf_npy_write: path is NULL");
  if (ndim < 0 || ndim > FPF_NPY_MAXDIM)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: ndim = %d is outside 0..%d", path, ndim,
                         FPF_NPY_MAXDIM);
  if (ndim > 0 && !shape)
    return fpf_error_set(err, FPF_EINVAL, "%s: shape is NULL for ndim = %d",
                         path, ndim);
  size_t c = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] != 0 && c > SIZE_MAX / 8 / shape[i])
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: shape holds more elements than memory can "
                           "address", path);
    c *= shape[i];
  }
  if (c > 0 && !data)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: data is NULL for %zu elements", path, c);
  *count = c;
  return FPF_OK;
}

/* Header and data into tmp; on failure reports errno against path. */
static fpf_status write_file(const char *tmp, const char *path,
                             const double *data, int ndim,
                             const size_t *shape, size_t count,
                             fpf_error *err) {
  char header[512];
  size_t hlen = format_header(header, ndim, shape);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  FILE *f = fopen(tmp, "wb");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "%s: cannot create '%s': %s", path,
                         tmp, strerror(errno));
  int bad = fwrite(pre, 1, 10, f) != 10 ||
            fwrite(header, 1, hlen, f) != hlen ||
            write_le_doubles(f, data, count) != 0 || fflush(f) != 0;
  int e = errno;
  if (fclose(f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  if (bad)
    return fpf_error_set(err, FPF_EIO, "%s: write error on '%s': %s", path,
                         tmp, strerror(e));
  return FPF_OK;
}

/*
 * Writes through "<path>.tmp.<pid>" and renames it into place: a reader
 * of path sees the old file or the whole new one, never a part.  The
 * temporary file is removed on any failure.  There is no fsync: this
 * guards against a failed or interrupted process, not against a power
 * loss, and output files are written often and can be recomputed.
 */
fpf_status fpf_npy_write(const char *path, const double *data, int ndim,
                         const size_t *shape, fpf_error *err) {
  size_t count = 0;
  fpf_status st = check_write_args(path, data, ndim, shape, &count, err);
  if (st != FPF_OK) return st;
  if ((st = fpf_check_output_path(path, err)) != FPF_OK) return st;
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp)
    return fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", path);
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  st = write_file(tmp, path, data, ndim, shape, count, err);
  if (st == FPF_OK && rename(tmp, path) != 0)
    st = fpf_error_set(err, FPF_EIO, "%s: cannot rename '%s' into place: %s",
                       path, tmp, strerror(errno));
  if (st != FPF_OK) remove(tmp);
  free(tmp);
  return st;
}

/* ------------------------------------------------------------------ */
/* Arrays                                                              */
/* ------------------------------------------------------------------ */

void fpf_array_free(fpf_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

size_t fpf_array_size(const fpf_array *a) {
  if (!a) return 0;
  size_t n = 1;
  for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
  return n;
}

/* "at row 12, column 3" and the like for element k of a. */
static void describe_position(const fpf_array *a, size_t k, char *buf,
                              size_t cap) {
  size_t idx[FPF_NPY_MAXDIM];
  for (int j = a->ndim - 1; j >= 0; j--) {
    idx[j] = a->shape[j] ? k % a->shape[j] : 0;
    k = a->shape[j] ? k / a->shape[j] : 0;
  }
  if (a->ndim == 0) {
    snprintf(buf, cap, "in the scalar");
  } else if (a->ndim == 1) {
    snprintf(buf, cap, "at index %zu", idx[0]);
  } else if (a->ndim == 2) {
    snprintf(buf, cap, "at row %zu, column %zu", idx[0], idx[1]);
  } else if (a->ndim == 3) {
    snprintf(buf, cap, "at snapshot %zu, row %zu, column %zu", idx[0],
             idx[1], idx[2]);
  } else {
    size_t k2 = (size_t)snprintf(buf, cap, "at [");
    for (int j = 0; j < a->ndim && k2 < cap; j++)
      k2 += (size_t)snprintf(buf + k2, cap - k2, "%s%zu", j ? ", " : "",
                             idx[j]);
    if (k2 < cap) snprintf(buf + k2, cap - k2, "]");
  }
}

fpf_status fpf_array_check_finite(const fpf_array *a, const char *what,
                                  fpf_error *err) {
  if (!a)
    return fpf_error_set(err, FPF_EINVAL,
                         "fpf_array_check_finite: array is NULL");
  size_t n = fpf_array_size(a), first = n, bad = 0;
  for (size_t k = 0; k < n; k++)
    if (!isfinite(a->data[k]) && bad++ == 0) first = k;
  if (bad == 0) return FPF_OK;
  char where[160];
  describe_position(a, first, where, sizeof where);
  double v = a->data[first];
  const char *name = isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
  char more[64] = "";
  if (bad > 1)
    snprintf(more, sizeof more, " (%zu non-finite values in all)", bad);
  return fpf_error_set(err, FPF_ENONFINITE, "%s: %s %s%s",
                       what ? what : "array", name, where, more);
}
