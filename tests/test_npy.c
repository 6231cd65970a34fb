/*
 * Tests of the .npy reader and writer.
 *
 * Every fixture is built here from raw bytes in a fresh temporary
 * directory, with the element bytes laid out explicitly little- or
 * big-endian, so the expected values are known exactly and the tests do
 * not depend on NumPy.  Where Debian's /usr/bin/python3 has NumPy, one
 * extra test cross-checks files that NumPy wrote and reads back a file
 * that fpflow wrote; without it that test is skipped.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fpflow/npy.h"

#define PATH_LEN 512

static char dir[256];

/* ------------------------------------------------------------------ */
/* Fixture helpers                                                     */
/* ------------------------------------------------------------------ */

static void path_of(char *buf, const char *name) {
  snprintf(buf, PATH_LEN, "%s/%s", dir, name);
}

static void put_raw(char *path, const char *name, const void *bytes,
                    size_t n) {
  path_of(path, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/*
 * A .npy file of format version major with the header dict given as text
 * (padded as NumPy pads it) followed by n bytes of data.
 */
static void put_npy(char *path, const char *name, int major,
                    const char *dict, const void *data, size_t n) {
  size_t lenbytes = major == 1 ? 2 : 4, dl = strlen(dict);
  size_t pad = (64 - (8 + lenbytes + dl + 1) % 64) % 64;
  size_t hlen = dl + pad + 1, total = 8 + lenbytes + hlen + n;
  unsigned char *b = malloc(total), *p = b;
  assert_non_null(b);
  memcpy(p, "\x93NUMPY", 6);
  p[6] = (unsigned char)major;
  p[7] = 0;
  p += 8;
  for (size_t i = 0; i < lenbytes; i++) *p++ = (unsigned char)(hlen >> 8 * i);
  memcpy(p, dict, dl);
  memset(p + dl, ' ', pad);
  p[dl + pad] = '\n';
  p += hlen;
  if (n) memcpy(p, data, n);
  put_raw(path, name, b, total);
  free(b);
}

/* The low `size` bytes of bits in the given byte order, whatever the host. */
static void put_bits(unsigned char *p, uint64_t bits, int size, int big) {
  for (int i = 0; i < size; i++)
    p[big ? size - 1 - i : i] = (unsigned char)(bits >> 8 * i);
}

static uint64_t f8_bits(double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  return u;
}

static uint64_t f4_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}

static void read_ok(const char *path, fpf_array *a) {
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_npy_read(path, a, &err);
  if (st != FPF_OK) fail_msg("reading %s failed: %s", path, err.msg);
}

/*
 * Reads path expecting status want and a message that contains the path
 * and every string in the NULL-terminated list.
 */
static void expect_error(const char *path, fpf_status want, ...) {
  fpf_array a;
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_npy_read(path, &a, &err);
  if (st != want)
    fail_msg("%s: status %s, expected %s (message: %s)", path,
             fpf_status_str(st), fpf_status_str(want), err.msg);
  assert_null(a.data);
  if (!strstr(err.msg, path))
    fail_msg("message does not name the file: %s", err.msg);
  va_list ap;
  va_start(ap, want);
  for (const char *s; (s = va_arg(ap, const char *));)
    if (!strstr(err.msg, s)) fail_msg("message lacks '%s': %s", s, err.msg);
  va_end(ap);
}

static void expect_msg(const fpf_error *err, const char *s) {
  if (!strstr(err->msg, s)) fail_msg("message lacks '%s': %s", s, err->msg);
}

/* ------------------------------------------------------------------ */
/* Reading valid files                                                 */
/* ------------------------------------------------------------------ */

static void test_v1_f8_c_order(void **state) {
  unsigned char data[6 * 8];
  for (int k = 0; k < 6; k++)
    put_bits(data + 8 * k, f8_bits(10 * (k / 3) + k % 3 + 0.25), 8, 0);
  char path[PATH_LEN];
  put_npy(path, "v1.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
          data, sizeof data);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, 2);
  assert_int_equal(a.shape[0], 2);
  assert_int_equal(a.shape[1], 3);
  assert_int_equal(fpf_array_size(&a), 6);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      assert_true(a.data[3 * i + j] == 10 * i + j + 0.25);
  fpf_array_free(&a);
  assert_null(a.data);
  assert_int_equal(a.ndim, 0);
}

static void test_v2_f4_big_endian(void **state) {
  unsigned char data[12 * 4];
  for (int k = 0; k < 12; k++)
    put_bits(data + 4 * k, f4_bits(k / 8.0f - 1.0f), 4, 1);
  char path[PATH_LEN];
  put_npy(path, "v2.npy", 2,
          "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }",
          data, sizeof data);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, 2);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      assert_true(a.data[4 * i + j] == (4 * i + j) / 8.0 - 1.0);
  fpf_array_free(&a);
}

/* Version 3.0 differs only in allowing UTF-8 in the header. */
static void test_v3_rank1(void **state) {
  unsigned char data[5 * 8];
  for (int k = 0; k < 5; k++) put_bits(data + 8 * k, f8_bits(-k * 1e300), 8, 0);
  char path[PATH_LEN];
  put_npy(path, "v3.npy", 3,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", data,
          sizeof data);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, 1);
  assert_int_equal(a.shape[0], 5);
  for (int k = 0; k < 5; k++) assert_true(a.data[k] == -k * 1e300);
  fpf_array_free(&a);
}

/* Element [i][j] of a 3 x 4 Fortran array sits at offset i + 3 j. */
static void test_fortran_rank2(void **state) {
  unsigned char data[12 * 8];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      put_bits(data + 8 * (i + 3 * j), f8_bits(100 * i + j), 8, 0);
  char path[PATH_LEN];
  put_npy(path, "fortran2.npy", 1,
          "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }",
          data, sizeof data);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.shape[0], 3);
  assert_int_equal(a.shape[1], 4);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) assert_true(a.data[4 * i + j] == 100 * i + j);
  fpf_array_free(&a);
}

/* [i][j][k] of a 2 x 3 x 4 Fortran array sits at i + 2 j + 6 k. */
static void test_fortran_rank3_big_endian(void **state) {
  unsigned char data[24 * 8];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++)
        put_bits(data + 8 * (i + 2 * j + 6 * k),
                 f8_bits(100 * i + 10 * j + k), 8, 1);
  char path[PATH_LEN];
  put_npy(path, "fortran3.npy", 1,
          "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3, 4), }",
          data, sizeof data);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, 3);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++)
        assert_true(a.data[12 * i + 4 * j + k] == 100 * i + 10 * j + k);
  fpf_array_free(&a);
}

/* Fortran order of a rank-1 array is the C order; f4 widened in place. */
static void test_fortran_rank1_f4(void **state) {
  unsigned char data[7 * 4];
  for (int k = 0; k < 7; k++) put_bits(data + 4 * k, f4_bits(k + 0.5f), 4, 0);
  char path[PATH_LEN];
  put_npy(path, "fortran1.npy", 1,
          "{'descr': '<f4', 'fortran_order': True, 'shape': (7,), }", data,
          sizeof data);
  fpf_array a;
  read_ok(path, &a);
  for (int k = 0; k < 7; k++) assert_true(a.data[k] == k + 0.5);
  fpf_array_free(&a);
}

/* One integer dtype: the values, stored in the given size and order. */
static void check_ints(const char *descr, int size, int big,
                       const int64_t *v, int n) {
  unsigned char data[8 * 8];
  for (int k = 0; k < n; k++)
    put_bits(data + size * k, (uint64_t)v[k], size, big);
  char dict[128], path[PATH_LEN];
  snprintf(dict, sizeof dict,
           "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }",
           descr, n);
  put_npy(path, "ints.npy", 1, dict, data, (size_t)(size * n));
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.shape[0], n);
  for (int k = 0; k < n; k++)
    if (a.data[k] != (double)v[k])
      fail_msg("%s[%d] = %.17g, expected %lld", descr, k, a.data[k],
               (long long)v[k]);
  fpf_array_free(&a);
}

static void test_integer_dtypes(void **state) {
  const int64_t s[] = {-128, -1, 0, 1, 127};
  check_ints("|i1", 1, 0, s, 5);
  const int64_t u1[] = {0, 1, 200, 255};
  check_ints("|u1", 1, 0, u1, 4);
  const int64_t b1[] = {0, 1, 1, 0};
  check_ints("|b1", 1, 0, b1, 4);
  const int64_t i2[] = {-32768, -300, 0, 300, 32767};
  check_ints("<i2", 2, 0, i2, 5);
  check_ints(">i2", 2, 1, i2, 5);
  const int64_t u2[] = {0, 65535, 4660};
  check_ints(">u2", 2, 1, u2, 3);
  const int64_t i4[] = {INT32_MIN, -70000, 0, 70000, INT32_MAX};
  check_ints("<i4", 4, 0, i4, 5);
  check_ints(">i4", 4, 1, i4, 5);
  const int64_t u4[] = {0, 4000000000LL, 1};
  check_ints(">u4", 4, 1, u4, 3);
  const int64_t i8[] = {-(1LL << 53), -5, 0, 1LL << 53};
  check_ints("<i8", 8, 0, i8, 4);
  check_ints(">i8", 8, 1, i8, 4);
  check_ints(">u8", 8, 1, (const int64_t[]){0, 1LL << 60, 7}, 3);
}

/* '=' and '|' are the host's order; no order character means the same. */
static void test_native_byte_order(void **state) {
  double v[3] = {1.5, -2.25, 1e-310};
  const char *descrs[] = {"=f8", "|f8", "f8"};
  for (int d = 0; d < 3; d++) {
    char dict[128], path[PATH_LEN];
    snprintf(dict, sizeof dict,
             "{'descr': '%s', 'fortran_order': False, 'shape': (3,)}",
             descrs[d]);
    put_npy(path, "native.npy", 1, dict, v, sizeof v);
    fpf_array a;
    read_ok(path, &a);
    for (int k = 0; k < 3; k++) assert_true(a.data[k] == v[k]);
    fpf_array_free(&a);
  }
}

static void test_scalar_and_empty(void **state) {
  unsigned char one[8];
  put_bits(one, f8_bits(3.75), 8, 1);
  char path[PATH_LEN];
  fpf_array a;
  put_npy(path, "scalar.npy", 1,
          "{'descr': '>f8', 'fortran_order': False, 'shape': (), }", one, 8);
  read_ok(path, &a);
  assert_int_equal(a.ndim, 0);
  assert_int_equal(fpf_array_size(&a), 1);
  assert_true(a.data[0] == 3.75);
  fpf_array_free(&a);
  put_npy(path, "empty.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", "", 0);
  read_ok(path, &a);
  assert_int_equal(a.ndim, 1);
  assert_int_equal(fpf_array_size(&a), 0);
  assert_non_null(a.data);
  fpf_array_free(&a);
  put_npy(path, "empty2.npy", 1,
          "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 0), }", "",
          0);
  read_ok(path, &a);
  assert_int_equal(a.ndim, 2);
  assert_int_equal(a.shape[0], 2);
  assert_int_equal(a.shape[1], 0);
  fpf_array_free(&a);
}

/* Key order, quotes, spacing, trailing commas and Python 2 'L' suffixes. */
static void test_header_variants(void **state) {
  const char *dicts[] = {
      "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f8'}",
      "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,2)}",
      "{ 'fortran_order' : False ,\t'shape' : ( 2 , 2 , ) , "
      "'descr' : '<f8' , }",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 2L), }",
  };
  double v[4] = {1, 2, 3, 4};
  for (size_t d = 0; d < sizeof dicts / sizeof *dicts; d++) {
    char path[PATH_LEN];
    put_npy(path, "variant.npy", 1, dicts[d], v, sizeof v);
    fpf_array a;
    read_ok(path, &a);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 2);
    for (int k = 0; k < 4; k++) assert_true(a.data[k] == v[k]);
    fpf_array_free(&a);
  }
}

static void test_max_rank(void **state) {
  double v[2] = {5, 6};
  char path[PATH_LEN];
  put_npy(path, "rank8.npy", 1,
          "{'descr': '<f8', 'fortran_order': True, "
          "'shape': (1, 1, 1, 1, 1, 1, 1, 2), }",
          v, sizeof v);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, FPF_NPY_MAXDIM);
  assert_int_equal(a.shape[7], 2);
  assert_true(a.data[1] == 6);
  fpf_array_free(&a);
  put_npy(path, "rank9.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, "
          "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }",
          v, sizeof v);
  expect_error(path, FPF_EUNSUPPORTED, "rank above 8", NULL);
}

/* Bytes after the data are ignored, as NumPy ignores them. */
static void test_trailing_bytes(void **state) {
  double v[3] = {1, 2, 3};
  char path[PATH_LEN];
  put_npy(path, "long.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", v,
          sizeof v);
  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.shape[0], 2);
  fpf_array_free(&a);
}

/* ------------------------------------------------------------------ */
/* Reading broken files                                                */
/* ------------------------------------------------------------------ */

static void test_bad_magic(void **state) {
  char path[PATH_LEN];
  put_raw(path, "text.npy", "hello, world\n", 13);
  expect_error(path, FPF_EFORMAT, "not a .npy file (bad magic string)",
               NULL);
  put_raw(path, "empty_file.npy", "", 0);
  expect_error(path, FPF_EFORMAT, "bad magic string", NULL);
  put_raw(path, "short.npy", "\x93NUMPY\x01", 7);
  expect_error(path, FPF_EFORMAT, "truncated", NULL);
}

static void test_unsupported_version(void **state) {
  char path[PATH_LEN];
  put_npy(path, "v4.npy", 4,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", "",
          0);
  expect_error(path, FPF_EUNSUPPORTED, "version 4.0", "1.0, 2.0 and 3.0",
               NULL);
  put_raw(path, "v1_1.npy", "\x93NUMPY\x01\x01\x00\x00", 10);
  expect_error(path, FPF_EUNSUPPORTED, "version 1.1", NULL);
}

static void check_dtype_refused(const char *descr, const char *why) {
  char dict[160], path[PATH_LEN], want[96];
  snprintf(dict, sizeof dict,
           "{'descr': %s, 'fortran_order': False, 'shape': (1,), }", descr);
  put_npy(path, "dtype.npy", 1, dict, "0123456789abcdef", 16);
  snprintf(want, sizeof want, "(%s) is not supported", why);
  expect_error(path, FPF_EUNSUPPORTED, want, NULL);
}

static void test_refused_dtypes(void **state) {
  char path[PATH_LEN];
  put_npy(path, "c16.npy", 1,
          "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
          "0123456789abcdef", 16);
  char want[PATH_LEN + 128];
  snprintf(want, sizeof want,
           "%s: dtype '<c16' (complex) is not supported; fpflow reads float "
           "and integer arrays",
           path);
  expect_error(path, FPF_EUNSUPPORTED, want, NULL);
  check_dtype_refused("'|O'", "Python object");
  check_dtype_refused("'|S5'", "byte string");
  check_dtype_refused("'<U3'", "unicode string");
  check_dtype_refused("'|V8'", "structured or void");
  check_dtype_refused("'<M8[ns]'", "datetime");
  check_dtype_refused("'<m8[s]'", "timedelta");
  check_dtype_refused("[('x', '<f8'), ('y', '<f8')]", "structured");
  check_dtype_refused("'<f2'", "2-byte float");
  check_dtype_refused("'<f16'", "16-byte float");
  check_dtype_refused("'<i3'", "3-byte integer");
}

static void test_truncated_data(void **state) {
  static unsigned char data[7992];
  char path[PATH_LEN];
  put_npy(path, "trunc.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }",
          data, sizeof data);
  expect_error(path, FPF_EFORMAT, "truncated", "expected 8000 bytes of data",
               "found 7992", NULL);
  put_npy(path, "trunc4.npy", 2,
          "{'descr': '>f4', 'fortran_order': True, 'shape': (10, 10), }",
          data, 396);
  expect_error(path, FPF_EFORMAT, "expected 400 bytes of data", "found 396",
               NULL);
  /* A corrupt shape reads as truncated, not as a huge allocation. */
  put_npy(path, "huge.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, "
          "'shape': (1000000000000,), }",
          data, 16);
  expect_error(path, FPF_EFORMAT, "expected 8000000000000 bytes of data",
               "found 16", NULL);
}

static void test_truncated_header(void **state) {
  unsigned char b[40] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8'";
  char path[PATH_LEN];
  put_raw(path, "trunc_header.npy", b, 25);
  expect_error(path, FPF_EFORMAT, "expected a header of 118 bytes",
               "found 15", NULL);
  put_raw(path, "trunc_len.npy", "\x93NUMPY\x02\x00\x76\x00", 10);
  expect_error(path, FPF_EFORMAT, "truncated", "header length", NULL);
}

static void check_malformed(const char *dict, const char *why) {
  char path[PATH_LEN];
  put_npy(path, "malformed.npy", 1, dict, "\0\0\0\0\0\0\0\0", 8);
  expect_error(path, FPF_EFORMAT, "malformed header", why, NULL);
}

static void test_malformed_headers(void **state) {
  check_malformed("{'descr': '<f8', 'fortran_order': False}",
                  "key 'shape' is missing");
  check_malformed("{'descr': '<f8', 'shape': (1,)}",
                  "key 'fortran_order' is missing");
  check_malformed("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), "
                  "'extra': 1}",
                  "unknown key 'extra'");
  check_malformed("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, "
                  "'shape': (1,)}",
                  "key 'descr' given twice");
  check_malformed("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}",
                  "expected True or False");
  check_malformed("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
                  "non-negative integer");
  check_malformed("{'descr': '<f8', 'fortran_order': False, 'shape': 1}",
                  "expected '('");
  check_malformed("{'descr': '<f8', 'fortran_order': False, 'shape': (1 2)}",
                  "expected ',' or ')'");
  check_malformed("{'descr' '<f8', 'fortran_order': False, 'shape': (1,)}",
                  "expected ':' after 'descr'");
  check_malformed("{'descr': '<f8", "unterminated string");
  check_malformed("['descr', '<f8']", "expected '{'");
  check_malformed("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x",
                  "unexpected text after '}'");
  check_malformed("{'descr': '<f8' 'fortran_order': False, 'shape': (1,)}",
                  "expected ',' or '}'");
  check_malformed("{'descr': '<f8', 'fortran_order': False, "
                  "'shape': (99999999999999999999999,)}",
                  "dimension too large");
  check_malformed("{'descr': '<f8', 'fortran_order': False, "
                  "'shape': (4294967296, 4294967296)}",
                  "more elements than memory can address");
}

static void test_missing_file(void **state) {
  char path[PATH_LEN];
  path_of(path, "no_such_file.npy");
  expect_error(path, FPF_EIO, strerror(ENOENT), NULL);
  /* A directory opens but cannot be read. */
  expect_error(dir, FPF_EIO, strerror(EISDIR), NULL);
}

/*
 * Feeds bytes to the reader through a FIFO, where the file size is not
 * known in advance and truncation shows only as a short read.
 */
static void read_through_fifo(const char *name, const void *bytes, size_t n,
                              fpf_status want, const char *needle1,
                              const char *needle2) {
  char path[PATH_LEN];
  path_of(path, name);
  unlink(path);
  assert_int_equal(mkfifo(path, 0600), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* Waits for the reader at most ~10 s, so that a test failing before
       it opens the FIFO leaves no process blocked behind. */
    int fd = -1;
    for (int t = 0; t < 1000 && fd < 0; t++) {
      fd = open(path, O_WRONLY | O_NONBLOCK);
      if (fd < 0) usleep(10000);
    }
    if (fd < 0 || fcntl(fd, F_SETFL, 0) != 0) _exit(1);
    _exit(write(fd, bytes, n) == (ssize_t)n ? 0 : 1);
  }
  expect_error(path, want, needle1, needle2, NULL);
  waitpid(pid, NULL, 0);
  unlink(path);
}

static void fifo_bytes(unsigned char *b, size_t *n, const char *shape,
                       size_t ndata) {
  char dict[128];
  snprintf(dict, sizeof dict,
           "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }", shape);
  size_t dl = strlen(dict), pad = (64 - (10 + dl + 1) % 64) % 64;
  size_t hlen = dl + pad + 1;
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)hlen;
  b[9] = 0;
  memcpy(b + 10, dict, dl);
  memset(b + 10 + dl, ' ', pad);
  b[10 + hlen - 1] = '\n';
  memset(b + 10 + hlen, 0, ndata);
  *n = 10 + hlen + ndata;
}

static void test_truncated_pipe(void **state) {
  static unsigned char b[8192];
  size_t n;
  fifo_bytes(b, &n, "(1000,)", 7992);
  read_through_fifo("trunc.fifo", b, n, FPF_EFORMAT,
                    "expected 8000 bytes of data", "found 7992");
}

/*
 * An allocation the process cannot make: a FIFO hides the file size, the
 * shape asks for 1 GiB, and the address space is capped just above what
 * the process already uses.
 */
static void test_out_of_memory(void **state) {
#ifdef __linux__
  long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f || fscanf(f, "%ld", &pages) != 1) skip();
  fclose(f);
  struct rlimit old, cap;
  assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
  cap = old;
  cap.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < cap.rlim_cur) skip();
  static unsigned char b[256];
  size_t n;
  fifo_bytes(b, &n, "(134217728,)", 0);
  assert_int_equal(setrlimit(RLIMIT_AS, &cap), 0);
  read_through_fifo("oom.fifo", b, n, FPF_ENOMEM, "out of memory",
                    "134217728 values");
  assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
#else
  skip();
#endif
}

/* ------------------------------------------------------------------ */
/* Finiteness                                                          */
/* ------------------------------------------------------------------ */

static void test_check_finite(void **state) {
  static double v[5 * 20 * 4];
  fpf_array a = {.ndim = 1, .shape = {20}, .data = v};
  fpf_error err;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", &err), FPF_OK);
  v[7] = NAN;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", &err),
                   FPF_ENONFINITE);
  expect_msg(&err, "z.npy: NaN at index 7");
  v[7] = 0;

  a = (fpf_array){.ndim = 2, .shape = {20, 4}, .data = v};
  v[12 * 4 + 3] = NAN;
  v[13 * 4] = INFINITY;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", &err),
                   FPF_ENONFINITE);
  expect_msg(&err, "z.npy: NaN at row 12, column 3");
  expect_msg(&err, "2 non-finite values");
  v[12 * 4 + 3] = 0;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", &err),
                   FPF_ENONFINITE);
  expect_msg(&err, "z.npy: Inf at row 13, column 0");
  v[13 * 4] = 0;

  a = (fpf_array){.ndim = 3, .shape = {5, 20, 4}, .data = v};
  v[4 * 80 + 12 * 4 + 3] = -INFINITY;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", &err),
                   FPF_ENONFINITE);
  expect_msg(&err, "z.npy: -Inf at snapshot 4, row 12, column 3");
  a = (fpf_array){.ndim = 4, .shape = {5, 2, 10, 4}, .data = v};
  assert_int_equal(fpf_array_check_finite(&a, NULL, &err), FPF_ENONFINITE);
  expect_msg(&err, "array: -Inf at [4, 1, 2, 3]");
  v[4 * 80 + 12 * 4 + 3] = 0;
  assert_int_equal(fpf_array_check_finite(&a, "z.npy", NULL), FPF_OK);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* Leftover "<name>.tmp.*" files in dir. */
static int count_temp_files(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += !!strstr(e->d_name, ".tmp.");
  closedir(d);
  return n;
}

static void round_trip(int ndim, const size_t *shape) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  double *v = malloc((n ? n : 1) * sizeof *v);
  assert_non_null(v);
  for (size_t k = 0; k < n; k++)
    v[k] = k % 3 == 0 ? -0.0 : k % 3 == 1 ? 1.0 / (k + 3) : 4.9e-324 * k;
  char path[PATH_LEN];
  path_of(path, "out.npy");
  fpf_error err;
  if (fpf_npy_write(path, v, ndim, shape, &err) != FPF_OK)
    fail_msg("write failed: %s", err.msg);

  /* The data start at a multiple of 64 bytes, after a '\n'. */
  unsigned char head[10];
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(head, 1, 10, f), 10);
  fclose(f);
  assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
  assert_int_equal((10 + head[8] + 256 * head[9]) % 64, 0);

  fpf_array a;
  read_ok(path, &a);
  assert_int_equal(a.ndim, ndim);
  for (int i = 0; i < ndim; i++) assert_int_equal(a.shape[i], shape[i]);
  assert_int_equal(fpf_array_size(&a), n);
  assert_memory_equal(a.data, v, n * sizeof *v);
  fpf_array_free(&a);
  free(v);
  assert_int_equal(count_temp_files(), 0);
}

static void test_round_trip(void **state) {
  round_trip(0, NULL);
  round_trip(1, (size_t[]){1});
  round_trip(1, (size_t[]){1000});
  round_trip(2, (size_t[]){17, 3});
  round_trip(3, (size_t[]){4, 5, 6});
  round_trip(2, (size_t[]){0, 3});
  round_trip(8, (size_t[]){1, 2, 1, 2, 1, 2, 1, 2});
}

static void test_header_text(void **state) {
  double v[6] = {0};
  char path[PATH_LEN], text[200];
  path_of(path, "hdr.npy");
  assert_int_equal(fpf_npy_write(path, v, 2, (size_t[]){2, 3}, NULL), FPF_OK);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(text, 1, 128, f), 128);
  fclose(f);
  text[127] = '\0';
  assert_non_null(strstr(text + 10, "{'descr': '<f8', 'fortran_order': "
                                    "False, 'shape': (2, 3), }"));
  assert_int_equal(fpf_npy_write(path, v, 1, (size_t[]){6}, NULL), FPF_OK);
  f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(text, 1, 128, f), 128);
  fclose(f);
  assert_non_null(strstr(text + 10, "'shape': (6,), }"));
}

static void test_failed_write_leaves_nothing(void **state) {
  double v[2] = {1, 2};
  char path[PATH_LEN], tmp[PATH_LEN + 32];
  path_of(path, "no_such_dir/out.npy");
  fpf_error err;
  assert_int_equal(fpf_npy_write(path, v, 1, (size_t[]){2}, &err), FPF_EIO);
  expect_msg(&err, path);
  expect_msg(&err, strerror(ENOENT));
  struct stat sb;
  assert_int_not_equal(stat(path, &sb), 0);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(stat(tmp, &sb), 0);

  /* A directory in the way is refused before anything is written. */
  char blocker[PATH_LEN], inner[PATH_LEN];
  path_of(blocker, "blocker.npy");
  assert_int_equal(mkdir(blocker, 0700), 0);
  path_of(inner, "blocker.npy/keep");
  put_raw(inner, "blocker.npy/keep", "x", 1);
  assert_int_equal(fpf_npy_write(blocker, v, 1, (size_t[]){2}, &err),
                   FPF_EIO);
  expect_msg(&err, blocker);
  expect_msg(&err, "not a regular file");
  assert_int_equal(count_temp_files(), 0);
  assert_int_equal(stat(blocker, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));

  /* A symbolic link is refused too, and its target is left alone. */
  char target[PATH_LEN], link_path[PATH_LEN];
  path_of(target, "target.npy");
  path_of(link_path, "link.npy");
  put_raw(target, "target.npy", "keep", 4);
  assert_int_equal(symlink(target, link_path), 0);
  assert_int_equal(fpf_npy_write(link_path, v, 1, (size_t[]){2}, &err),
                   FPF_EIO);
  expect_msg(&err, "symbolic link");
  assert_int_equal(stat(target, &sb), 0);
  assert_int_equal(sb.st_size, 4);
}

static void test_bad_write_arguments(void **state) {
  double v[1] = {0};
  fpf_error err;
  char path[PATH_LEN];
  path_of(path, "args.npy");
  assert_int_equal(fpf_npy_write(path, v, 9, (size_t[9]){1}, &err),
                   FPF_EINVAL);
  expect_msg(&err, "ndim = 9");
  assert_int_equal(fpf_npy_write(path, NULL, 1, (size_t[]){3}, &err),
                   FPF_EINVAL);
  expect_msg(&err, "data is NULL");
  assert_int_equal(fpf_npy_write(path, NULL, 1, (size_t[]){0}, &err),
                   FPF_OK);
  fpf_array a;
  assert_int_equal(fpf_npy_read(NULL, &a, &err), FPF_EINVAL);
  fpf_array_free(NULL);
  assert_int_equal(fpf_array_size(NULL), 0);
}

/* ------------------------------------------------------------------ */
/* Cross-check with NumPy, when Debian's python3 has it                */
/* ------------------------------------------------------------------ */

static const char numpy_script[] =
    "import sys, numpy as np\n"
    "from numpy.lib import format as F\n"
    "d = sys.argv[1]\n"
    "a = np.arange(24.0).reshape(2, 3, 4) * 0.5 - 3\n"
    "np.save(d + '/np_c.npy', a)\n"
    "np.save(d + '/np_f_be.npy', np.asfortranarray(a.astype('>f4')))\n"
    "np.save(d + '/np_i2.npy', np.arange(-5, 5, dtype='>i2'))\n"
    "np.save(d + '/np_scalar.npy', np.float64(2.5))\n"
    "for v in ((2, 0), (3, 0)):\n"
    "    with open(d + '/np_v%d.npy' % v[0], 'wb') as f:\n"
    "        F.write_array(f, a.T, version=v)\n"
    "b = np.load(d + '/fp_out.npy')\n"
    "assert b.dtype == np.dtype('<f8') and b.shape == (3, 2)\n"
    "assert (b == np.arange(6.0).reshape(3, 2) ** 2).all()\n";

static void test_numpy_cross_check(void **state) {
  const char *py = "/usr/bin/python3";
  if (access(py, X_OK) != 0 ||
      system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    skip();
  double sq[6];
  for (int k = 0; k < 6; k++) sq[k] = (double)k * k;
  char path[PATH_LEN], cmd[2 * PATH_LEN];
  path_of(path, "fp_out.npy");
  assert_int_equal(fpf_npy_write(path, sq, 2, (size_t[]){3, 2}, NULL),
                   FPF_OK);
  path_of(path, "check.py");
  put_raw(path, "check.py", numpy_script, sizeof numpy_script - 1);
  snprintf(cmd, sizeof cmd, "%s '%s' '%s'", py, path, dir);
  assert_int_equal(system(cmd), 0);

  const char *names[] = {"np_c.npy", "np_f_be.npy", "np_v2.npy",
                         "np_v3.npy"};
  for (int f = 0; f < 4; f++) {
    fpf_array a;
    path_of(path, names[f]);
    read_ok(path, &a);
    int t = f >= 2; /* the v2 and v3 files hold the transpose */
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[0], t ? 4 : 2);
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++) {
          double got = t ? a.data[k * 6 + j * 2 + i]
                         : a.data[i * 12 + j * 4 + k];
          assert_true(got == (i * 12 + j * 4 + k) * 0.5 - 3);
        }
    fpf_array_free(&a);
  }
  fpf_array a;
  path_of(path, "np_i2.npy");
  read_ok(path, &a);
  for (int k = 0; k < 10; k++) assert_true(a.data[k] == k - 5);
  fpf_array_free(&a);
  path_of(path, "np_scalar.npy");
  read_ok(path, &a);
  assert_int_equal(a.ndim, 0);
  assert_true(a.data[0] == 2.5);
  fpf_array_free(&a);
}

/* ------------------------------------------------------------------ */

static int remove_entry(const char *p, const struct stat *sb, int type,
                        struct FTW *ftw) {
  return remove(p);
}

static int make_dir(void **state) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/fpf_test_npy.XXXXXX", base ? base : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_f8_c_order),
      cmocka_unit_test(test_v2_f4_big_endian),
      cmocka_unit_test(test_v3_rank1),
      cmocka_unit_test(test_fortran_rank2),
      cmocka_unit_test(test_fortran_rank3_big_endian),
      cmocka_unit_test(test_fortran_rank1_f4),
      cmocka_unit_test(test_integer_dtypes),
      cmocka_unit_test(test_native_byte_order),
      cmocka_unit_test(test_scalar_and_empty),
      cmocka_unit_test(test_header_variants),
      cmocka_unit_test(test_max_rank),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_unsupported_version),
      cmocka_unit_test(test_refused_dtypes),
      cmocka_unit_test(test_truncated_data),
      cmocka_unit_test(test_truncated_header),
      cmocka_unit_test(test_malformed_headers),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_truncated_pipe),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_check_finite),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_header_text),
      cmocka_unit_test(test_failed_write_leaves_nothing),
      cmocka_unit_test(test_bad_write_arguments),
      cmocka_unit_test(test_numpy_cross_check),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
