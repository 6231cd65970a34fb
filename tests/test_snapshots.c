/*
 * Tests of the snapshot readers (src/snapshots.c, src/npy_series.c).
 *
 * Every fixture is written here, in a fresh temporary directory: .npy
 * files from raw bytes (element bytes laid out little- or big-endian
 * explicitly, so the values are known exactly whatever the host) and
 * HDF5 files through the HDF5 C API, chunked and deflate-compressed.
 * Snapshot t of every series holds value(t, i, j) = 100 t + 10 i + j +
 * 0.5 at row i, column j, exact in f4 and f8.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fpflow/npy.h"
#include "fpflow/snapshots.h"

#define PATH_LEN 600

enum { T = 3, N = 4, DIM = 2 };

static char dir[256];

static double value(size_t t, size_t i, size_t j) {
  return 100.0 * (double)t + 10.0 * (double)i + (double)j + 0.5;
}

/* ---- Fixtures -------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/fpf_snapshots_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_of(char *buf, const char *name) {
  snprintf(buf, PATH_LEN, "%.255s/%.300s", dir, name);
  return buf;
}

/* A .npy file of the given version: header dict text, then the data. */
static void put_npy(const char *name, int major, const char *dict,
                    const void *data, size_t n) {
  size_t lenbytes = major == 1 ? 2 : 4, dl = strlen(dict);
  size_t pad = (64 - (8 + lenbytes + dl + 1) % 64) % 64;
  size_t hlen = dl + pad + 1;
  char path[PATH_LEN];
  FILE *f = fopen(path_of(path, name), "wb");
  assert_non_null(f);
  unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  pre[6] = (unsigned char)major;
  for (size_t i = 0; i < lenbytes; i++)
    pre[8 + i] = (unsigned char)(hlen >> (8 * i));
  fwrite(pre, 1, 8 + lenbytes, f);
  fwrite(dict, 1, dl, f);
  for (size_t i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  if (n) fwrite(data, 1, n, f);
  assert_int_equal(fclose(f), 0);
}

/* Elements in a given byte order, whatever the host's. */
static void put_element(unsigned char *p, double x, int size, int big) {
  uint64_t bits = 0;
  if (size == 4) {
    float v = (float)x;
    uint32_t u;
    memcpy(&u, &v, 4);
    bits = u;
  } else {
    memcpy(&bits, &x, 8);
  }
  for (int k = 0; k < size; k++)
    p[big ? size - 1 - k : k] = (unsigned char)(bits >> (8 * k));
}

/*
 * A (t_count, N, DIM) series (or one (N, DIM) snapshot when t_count is 0)
 * of snapshot values starting at t0, in the given dtype, byte order and
 * memory order.
 */
static void put_series(const char *name, int major, int size, int big,
                       int fortran, size_t t_count, size_t t0) {
  size_t tt = t_count ? t_count : 1, count = tt * N * DIM;
  unsigned char *b = malloc(count * (size_t)size);
  assert_non_null(b);
  for (size_t t = 0; t < tt; t++)
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < DIM; j++) {
        size_t k = fortran ? t + tt * (i + N * j) : (t * N + i) * DIM + j;
        put_element(b + k * (size_t)size, value(t0 + t, i, j), size, big);
      }
  char dict[200], shape[64];
  if (t_count)
    snprintf(shape, sizeof shape, "(%zu, %d, %d)", t_count, N, DIM);
  else
    snprintf(shape, sizeof shape, "(%d, %d)", N, DIM);
  snprintf(dict, sizeof dict,
           "{'descr': '%cf%d', 'fortran_order': %s, 'shape': %s, }",
           big ? '>' : '<', size, fortran ? "True" : "False", shape);
  put_npy(name, major, dict, b, count * (size_t)size);
  free(b);
}

static fpf_snapshots *open_ok(const char *const *paths, size_t n,
                              const fpf_snapshots_options *o) {
  fpf_snapshots *s = NULL;
  fpf_error err;
  fpf_error_clear(&err);
  if (fpf_snapshots_create(&s, paths, n, o, &err))
    fail_msg("create (%s...): %s", paths[0], err.msg);
  return s;
}

static fpf_snapshots *open1(const char *path,
                            const fpf_snapshots_options *o) {
  return open_ok(&path, 1, o);
}

/* Every snapshot k holds the values of series time t_of[k]. */
static void check_values(fpf_snapshots *s, const size_t *t_of) {
  double buf[N * DIM];
  size_t n, d;
  fpf_snapshots_dims(s, &n, &d);
  assert_int_equal(n, N);
  assert_int_equal(d, DIM);
  for (size_t k = 0; k < fpf_snapshots_count(s); k++) {
    fpf_error err;
    if (fpf_snapshots_read(s, k, buf, &err))
      fail_msg("read %zu: %s", k, err.msg);
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < DIM; j++)
        assert_float_equal(buf[i * DIM + j], value(t_of[k], i, j), 0);
  }
}

static void check_steps(const fpf_snapshots *s, const long *want, size_t n,
                        int known) {
  assert_int_equal(fpf_snapshots_count(s), n);
  const long *st = fpf_snapshots_steps(s);
  for (size_t k = 0; k < n; k++) assert_int_equal(st[k], want[k]);
  assert_int_equal(fpf_snapshots_steps_known(s), known);
}

/* Creation fails with st and a message holding every string given. */
static void expect_create_error(const char *const *paths, size_t n,
                                const fpf_snapshots_options *o,
                                fpf_status want, ...) {
  fpf_snapshots *s = (fpf_snapshots *)1;
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_snapshots_create(&s, paths, n, o, &err);
  if (st != want)
    fail_msg("%s: status %s, expected %s (%s)", paths[0],
             fpf_status_str(st), fpf_status_str(want), err.msg);
  assert_null(s);
  va_list ap;
  va_start(ap, want);
  for (const char *needle; (needle = va_arg(ap, const char *));)
    if (!strstr(err.msg, needle))
      fail_msg("no '%s' in: %s", needle, err.msg);
  va_end(ap);
}

/* Reading snapshot k fails with st and a message holding the strings. */
static void expect_read_error(fpf_snapshots *s, size_t k, fpf_status want,
                              ...) {
  double buf[64];
  fpf_error err;
  fpf_error_clear(&err);
  fpf_status st = fpf_snapshots_read(s, k, buf, &err);
  if (st != want)
    fail_msg("read %zu: status %s, expected %s (%s)", k, fpf_status_str(st),
             fpf_status_str(want), err.msg);
  va_list ap;
  va_start(ap, want);
  for (const char *needle; (needle = va_arg(ap, const char *));)
    if (!strstr(err.msg, needle))
      fail_msg("no '%s' in: %s", needle, err.msg);
  va_end(ap);
}

/* ---- .npy series ----------------------------------------------------- */

/* Versions 1-3, f4 and f8, both byte orders, C and Fortran order. */
static void test_npy_series_variants(void **state) {
  (void)state;
  static const struct {
    int major, size, big, fortran, streams;
  } v[] = {{1, 8, 0, 0, 1}, {2, 4, 0, 0, 1}, {3, 8, 1, 0, 1},
           {1, 4, 1, 0, 1}, {1, 8, 0, 1, 0}, {2, 4, 1, 1, 0}};
  static const size_t t_of[T] = {0, 1, 2};
  static const long steps[T] = {0, 1, 2};
  for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
    char name[64], path[PATH_LEN];
    snprintf(name, sizeof name, "series_v%d_f%d_%s_%s.npy", v[k].major,
             v[k].size, v[k].big ? "be" : "le", v[k].fortran ? "F" : "C");
    put_series(name, v[k].major, v[k].size, v[k].big, v[k].fortran, T, 0);
    path_of(path, name);
    fpf_npy_layout l;
    assert_int_equal(fpf_npy_probe(path, &l), v[k].streams);
    fpf_snapshots *s = open1(path, NULL);
    check_steps(s, steps, T, 0);
    check_values(s, t_of);
    assert_string_equal(fpf_snapshots_source(s, 1), path);
    fpf_snapshots_destroy(s);
  }
}

/* The in-place reader agrees with fpf_npy_read on every item range. */
static void test_npy_read_items(void **state) {
  (void)state;
  double data[5 * 3 * 2];
  for (size_t k = 0; k < 30; k++) data[k] = sin((double)k);
  char path[PATH_LEN];
  size_t shape[3] = {5, 3, 2};
  fpf_error err;
  assert_int_equal(fpf_npy_write(path_of(path, "w.npy"), data, 3, shape,
                                 &err),
                   FPF_OK);
  fpf_npy_layout l;
  assert_int_equal(fpf_npy_probe(path, &l), 1);
  assert_int_equal(l.ndim, 3);
  assert_int_equal(l.shape[0], 5);
  double out[30];
  assert_int_equal(fpf_npy_read_items(path, &l, 1, 3, out, &err), FPF_OK);
  assert_memory_equal(out, data + 6, 18 * sizeof *out);
  assert_int_equal(fpf_npy_read_items(path, &l, 4, 2, out, &err),
                   FPF_EINVAL);

  /* A short file is left to the whole-file reader, which says so. */
  put_npy("short.npy", 1,
          "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4, 2), }",
          data, 100);
  assert_int_equal(fpf_npy_probe(path_of(path, "short.npy"), &l), 0);
  /* An unusual (but valid) header too. */
  put_npy("odd.npy", 1,
          "{'shape': (3, 4, 2), 'fortran_order': False, 'descr': '<f8'}",
          data, 3 * 4 * 2 * 8);
  assert_int_equal(fpf_npy_probe(path_of(path, "odd.npy"), &l), 0);
  fpf_snapshots *s = open1(path, NULL);
  assert_int_equal(fpf_snapshots_count(s), 3);
  fpf_snapshots_destroy(s);
}

/* (N, d) is one snapshot; its step comes from the name when it has one. */
static void test_single_snapshot(void **state) {
  (void)state;
  char path[PATH_LEN];
  static const size_t t_of[1] = {0};
  put_series("latents.npy", 1, 8, 0, 0, 0, 0);
  fpf_snapshots *s = open1(path_of(path, "latents.npy"), NULL);
  static const long zero[1] = {0}, s42[1] = {42};
  check_steps(s, zero, 1, 0);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
  put_series("z_step42.npy", 1, 4, 1, 1, 0, 0);
  s = open1(path_of(path, "z_step42.npy"), NULL);
  check_steps(s, s42, 1, 1);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
}

/* ---- Per-step files -------------------------------------------------- */

static void make_step_dir(const char *sub) {
  char d[PATH_LEN], name[PATH_LEN];
  snprintf(d, sizeof d, "%s/%s", dir, sub);
  assert_int_equal(mkdir(d, 0755), 0);
  /* steps 1, 2 and 10 hold series times 0, 1 and 2 */
  static const int step[3] = {1, 2, 10};
  for (size_t t = 0; t < 3; t++) {
    snprintf(name, sizeof name, "%s/z_%d.npy", sub, step[t]);
    put_series(name, 1 + (int)t, t == 1 ? 4 : 8, t == 2, 0, 0, t);
  }
  snprintf(name, sizeof name, "%s/notes.txt", sub);
  FILE *f = fopen(path_of(d, name), "w");
  assert_non_null(f);
  fputs("not a snapshot\n", f);
  fclose(f);
}

static void test_step_files(void **state) {
  (void)state;
  make_step_dir("steps");
  static const size_t t_of[3] = {0, 1, 2};
  static const long want[3] = {1, 2, 10}, given[3] = {5, 6, 70};
  char a[PATH_LEN], b[PATH_LEN], c[PATH_LEN], g[PATH_LEN];

  /* a directory: every .npy, sorted by the step in its name */
  fpf_snapshots *s = open1(path_of(a, "steps"), NULL);
  check_steps(s, want, 3, 1);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);

  /* files listed in any order */
  const char *list[3] = {path_of(a, "steps/z_10.npy"),
                         path_of(b, "steps/z_1.npy"),
                         path_of(c, "steps/z_2.npy")};
  s = open_ok(list, 3, NULL);
  check_steps(s, want, 3, 1);
  check_values(s, t_of);
  assert_string_equal(fpf_snapshots_source(s, 2), a);
  fpf_snapshots_destroy(s);

  /* a glob, with given steps: natural name order z_1, z_2, z_10 */
  fpf_snapshots_options o;
  fpf_snapshots_options_init(&o);
  o.steps = given;
  o.nsteps = 3;
  s = open1(path_of(g, "steps/z_*.npy"), &o);
  check_steps(s, given, 3, 1);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
}

static void test_step_from_name(void **state) {
  (void)state;
  long s;
  assert_int_equal(fpf_snapshots_step_from_name("run3/z_step00120.npy", &s),
                   0);
  assert_int_equal(s, 120);
  assert_int_equal(fpf_snapshots_step_from_name("e2_s7.tar.npy", &s), 0);
  assert_int_equal(s, 7);
  assert_int_equal(fpf_snapshots_step_from_name("/x/9/latents.npy", &s), -1);
  assert_int_equal(
      fpf_snapshots_step_from_name("z_99999999999999999999999.npy", &s), -1);
}

/* Losses: (T,) gives one value a snapshot, (T, N) N values. */
static void test_any_rank(void **state) {
  (void)state;
  double l1[T] = {0.5, 0.25, 0.125}, l2[T * N];
  for (size_t k = 0; k < T * N; k++) l2[k] = (double)k;
  char path[PATH_LEN];
  size_t sh1[1] = {T}, sh2[2] = {T, N};
  fpf_error err;
  assert_int_equal(fpf_npy_write(path_of(path, "loss1.npy"), l1, 1, sh1,
                                 &err),
                   FPF_OK);
  fpf_snapshots_options o;
  fpf_snapshots_options_init(&o);
  o.item_rank = FPF_SNAP_ANY_RANK;
  o.what = "loss";
  fpf_snapshots *s = open1(path, &o);
  size_t n, d;
  double v[N];
  fpf_snapshots_dims(s, &n, &d);
  assert_int_equal(n * d, 1);
  assert_int_equal(fpf_snapshots_count(s), T);
  assert_int_equal(fpf_snapshots_read(s, 2, v, &err), FPF_OK);
  assert_float_equal(v[0], 0.125, 0);
  fpf_snapshots_destroy(s);
  assert_int_equal(fpf_npy_write(path_of(path, "loss2.npy"), l2, 2, sh2,
                                 &err),
                   FPF_OK);
  s = open1(path, &o);
  fpf_snapshots_dims(s, &n, &d);
  assert_int_equal(n * d, N);
  assert_int_equal(fpf_snapshots_read(s, 1, v, &err), FPF_OK);
  assert_float_equal(v[3], 7.0, 0);
  fpf_snapshots_destroy(s);
}

/* ---- HDF5 ------------------------------------------------------------ */

/*
 * A chunked, deflate-compressed (T, N, DIM) dataset at dset in file,
 * stored as `type` (f4 or big-endian f8), with the steps as an attribute
 * (attr != NULL) and/or as a dataset (steps_dset != NULL).
 */
static void put_h5(const char *file, const char *dset, hid_t type,
                   const char *attr, const char *steps_dset,
                   const long *steps) {
  double data[T * N * DIM];
  for (size_t t = 0; t < T; t++)
    for (size_t i = 0; i < N; i++)
      for (size_t j = 0; j < DIM; j++)
        data[(t * N + i) * DIM + j] = value(t, i, j);
  hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hsize_t dims[3] = {T, N, DIM}, chunk[3] = {1, N, DIM};
  hid_t sp = H5Screate_simple(3, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 3, chunk);
  H5Pset_deflate(dcpl, 6);
  hid_t ds = H5Dcreate2(f, dset, type, sp, lcpl, dcpl, H5P_DEFAULT);
  assert_true(ds >= 0);
  assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       data) >= 0);

  /* the filter really is on */
  hid_t plist = H5Dget_create_plist(ds);
  unsigned flags, cd[4];
  size_t ncd = 4;
  assert_int_equal(H5Pget_filter2(plist, 0, &flags, &ncd, cd, 0, NULL, NULL),
                   H5Z_FILTER_DEFLATE);
  H5Pclose(plist);
  hsize_t nt = T;
  hid_t ssp = H5Screate_simple(1, &nt, NULL);
  if (attr) {
    hid_t a = H5Acreate2(ds, attr, H5T_STD_I64LE, ssp, H5P_DEFAULT,
                         H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_LONG, steps) >= 0);
    H5Aclose(a);
  }
  if (steps_dset) {
    hid_t s2 = H5Dcreate2(f, steps_dset, H5T_STD_I32LE, ssp, lcpl,
                          H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(s2, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         steps) >= 0);
    H5Dclose(s2);
  }
  H5Sclose(ssp);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Fclose(f);
}

static void test_hdf5(void **state) {
  (void)state;
  static const size_t t_of[T] = {0, 1, 2};
  static const long steps[T] = {10, 20, 35}, other[T] = {1, 5, 9};
  static const long dflt[T] = {0, 1, 2};
  char f1[PATH_LEN], f2[PATH_LEN], f3[PATH_LEN], spec[PATH_LEN + 32];

  /* steps in an attribute; named by "file:/dataset" */
  put_h5(path_of(f1, "a.h5"), "/run/latents", H5T_IEEE_F32LE, "steps", NULL,
         steps);
  snprintf(spec, sizeof spec, "%s:/run/latents", f1);
  fpf_snapshots *s = open1(spec, NULL);
  check_steps(s, steps, T, 1);
  check_values(s, t_of);
  assert_string_equal(fpf_snapshots_source(s, 0), spec);
  fpf_snapshots_destroy(s);

  /* the only dataset that fits is found; big-endian f8; steps from a
   * dataset beside it */
  put_h5(path_of(f2, "b.h5"), "/run/latents", H5T_IEEE_F64BE, NULL,
         "/run/steps", other);
  s = open1(f2, NULL);
  check_steps(s, other, T, 1);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);

  /* a named attribute, an absolute steps dataset, no steps at all */
  put_h5(path_of(f3, "c.h5"), "/z", H5T_IEEE_F32LE, "iteration",
         "/meta/when", other);
  fpf_snapshots_options o;
  fpf_snapshots_options_init(&o);
  o.dataset = "/z";
  o.steps_from = "iteration";
  s = open1(f3, &o);
  check_steps(s, other, T, 1);
  fpf_snapshots_destroy(s);
  o.steps_from = "/meta/when";
  s = open1(f3, &o);
  check_steps(s, other, T, 1);
  fpf_snapshots_destroy(s);
  o.steps_from = NULL;
  s = open1(f3, &o);
  check_steps(s, dflt, T, 0);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);

  /* given steps win over the file's */
  o.steps = other;
  o.nsteps = T;
  s = open1(spec, &o);
  check_steps(s, other, T, 1);
  fpf_snapshots_destroy(s);
}

static void test_hdf5_errors(void **state) {
  (void)state;
  char f[PATH_LEN], spec[PATH_LEN + 32];
  static const long steps[T] = {10, 20, 35}, down[T] = {10, 5, 35};
  path_of(f, "e.h5");

  /* several datasets fit: the message lists them */
  put_h5(f, "/a/x", H5T_IEEE_F64LE, NULL, "/a/y", steps);
  hid_t h = H5Fopen(f, H5F_ACC_RDWR, H5P_DEFAULT);
  hsize_t dims[2] = {N, DIM};
  hid_t sp = H5Screate_simple(2, dims, NULL);
  hid_t ds = H5Dcreate2(h, "/other", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(ds);

  /* a compound (complex) and a string dataset */
  hid_t ct = H5Tcreate(H5T_COMPOUND, 16);
  H5Tinsert(ct, "r", 0, H5T_NATIVE_DOUBLE);
  H5Tinsert(ct, "i", 8, H5T_NATIVE_DOUBLE);
  ds = H5Dcreate2(h, "/complex", ct, sp, H5P_DEFAULT, H5P_DEFAULT,
                  H5P_DEFAULT);
  H5Dclose(ds);
  H5Tclose(ct);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, 8);
  ds = H5Dcreate2(h, "/names", st, sp, H5P_DEFAULT, H5P_DEFAULT,
                  H5P_DEFAULT);
  H5Dclose(ds);
  H5Tclose(st);

  /* decreasing steps as an attribute */
  hsize_t nt = T;
  hid_t ssp = H5Screate_simple(1, &nt, NULL);
  ds = H5Dopen2(h, "/a/x", H5P_DEFAULT);
  hid_t a = H5Acreate2(ds, "down", H5T_NATIVE_LONG, ssp, H5P_DEFAULT,
                       H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LONG, down);
  H5Aclose(a);
  H5Dclose(ds);
  H5Sclose(ssp);
  H5Sclose(sp);
  H5Fclose(h);

  const char *p = f;
  expect_create_error(&p, 1, NULL, FPF_EINVAL, f, "which dataset",
                      "/a/x (3, 4, 2)", "/other (4, 2)", NULL);
  snprintf(spec, sizeof spec, "%s:/complex", f);
  p = spec;
  expect_create_error(&p, 1, NULL, FPF_EUNSUPPORTED, spec, "compound",
                      "complex", NULL);
  snprintf(spec, sizeof spec, "%s:/names", f);
  expect_create_error(&p, 1, NULL, FPF_EUNSUPPORTED, spec, "string", NULL);
  snprintf(spec, sizeof spec, "%s:/nowhere", f);
  expect_create_error(&p, 1, NULL, FPF_EINVAL, spec, "no such dataset",
                      NULL);
  snprintf(spec, sizeof spec, "%s:/a/y", f);
  expect_create_error(&p, 1, NULL, FPF_EINVAL, spec, "rank 1", "(3,)",
                      "(N, d)", NULL);
  fpf_snapshots_options o;
  fpf_snapshots_options_init(&o);
  o.steps_from = "down";
  snprintf(spec, sizeof spec, "%s:/a/x", f);
  expect_create_error(&p, 1, &o, FPF_EINVAL, "attribute 'down'",
                      "snapshot 1 has step 5 after step 10", NULL);
  o.steps_from = "missing";
  expect_create_error(&p, 1, &o, FPF_EINVAL, "no attribute 'missing'",
                      NULL);

  /* an HDF5 file among other sources */
  const char *two[2] = {f, f};
  expect_create_error(two, 2, NULL, FPF_EINVAL, "only source", NULL);
}

/* NaN and Inf: the file, the snapshot, its step and the position. */
static void test_nonfinite(void **state) {
  (void)state;
  char path[PATH_LEN], spec[PATH_LEN + 32];
  double data[T * N * DIM];
  for (size_t k = 0; k < T * N * DIM; k++) data[k] = 1.0;
  data[(2 * N + 3) * DIM + 1] = NAN;
  data[(2 * N + 1) * DIM + 0] = -INFINITY;
  size_t shape[3] = {T, N, DIM};
  fpf_error err;
  assert_int_equal(fpf_npy_write(path_of(path, "nan.npy"), data, 3, shape,
                                 &err),
                   FPF_OK);
  fpf_snapshots *s = open1(path, NULL);
  expect_read_error(s, 1, FPF_OK, NULL);
  expect_read_error(s, 2, FPF_ENONFINITE, path,
                    "-Inf in the latents at snapshot 2 (step 2), row 1, "
                    "column 0 (2 non-finite values in this snapshot)",
                    NULL);
  fpf_snapshots_destroy(s);

  /* a per-step file */
  data[1] = INFINITY;
  assert_int_equal(fpf_npy_write(path_of(path, "g_0010.npy"), data, 2,
                                 shape + 1, &err),
                   FPF_OK);
  s = open1(path, NULL);
  expect_read_error(s, 0, FPF_ENONFINITE, path,
                    "Inf in the latents (step 10) at row 0, column 1",
                    NULL);
  fpf_snapshots_destroy(s);

  /* HDF5 */
  hid_t f = H5Fcreate(path_of(path, "nan.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                      H5P_DEFAULT);
  hsize_t dims[3] = {T, N, DIM};
  hid_t sp = H5Screate_simple(3, dims, NULL);
  hid_t ds = H5Dcreate2(f, "z", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT);
  data[1] = 1.0;
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds);
  H5Sclose(sp);
  H5Fclose(f);
  snprintf(spec, sizeof spec, "%s:/z", path);
  s = open1(spec, NULL);
  expect_read_error(s, 2, FPF_ENONFINITE, spec,
                    "at snapshot 2 (step 2), row 1, column 0", NULL);
  fpf_snapshots_destroy(s);
}

/* The errors people hit with .npy files, each named with its numbers. */
static void test_npy_errors(void **state) {
  (void)state;
  char path[PATH_LEN], p2[PATH_LEN];
  const char *p = path;
  unsigned char zeros[256] = {0};

  put_npy("obj.npy", 1, "{'descr': '|O', 'fortran_order': False, "
                        "'shape': (3, 4, 2), }",
          zeros, 192);
  path_of(path, "obj.npy");
  expect_create_error(&p, 1, NULL, FPF_EUNSUPPORTED, path, "'|O'",
                      "object", NULL);
  put_npy("str.npy", 1, "{'descr': '<U5', 'fortran_order': False, "
                        "'shape': (4, 2), }",
          zeros, 160);
  path_of(path, "str.npy");
  expect_create_error(&p, 1, NULL, FPF_EUNSUPPORTED, path, "'<U5'",
                      "string", NULL);
  put_npy("cplx.npy", 2, "{'descr': '<c16', 'fortran_order': False, "
                         "'shape': (1, 4, 2), }",
          zeros, 128);
  path_of(path, "cplx.npy");
  expect_create_error(&p, 1, NULL, FPF_EUNSUPPORTED, path, "'<c16'",
                      "complex", NULL);

  /* truncated: 3 x 4 x 2 doubles are 192 bytes, 100 are there */
  put_npy("cut.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                        "'shape': (3, 4, 2), }",
          zeros, 100);
  path_of(path, "cut.npy");
  expect_create_error(&p, 1, NULL, FPF_EFORMAT, path,
                      "expected 192 bytes of data, found 100", NULL);

  /* bad magic */
  FILE *f = fopen(path_of(path, "magic.npy"), "wb");
  fputs("\x93NUMPX\x01\x00garbage", f);
  fclose(f);
  expect_create_error(&p, 1, NULL, FPF_EFORMAT, path, "bad magic", NULL);

  /* wrong rank */
  put_npy("r1.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                       "'shape': (5,), }",
          zeros, 40);
  path_of(path, "r1.npy");
  expect_create_error(&p, 1, NULL, FPF_EINVAL, path, "rank 1", "(5,)",
                      "(N, d) per snapshot or (T, N, d)", NULL);

  /* dimensions that change between snapshots */
  put_series("z_1.npy", 1, 8, 0, 0, 0, 0);
  put_npy("z_2.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                        "'shape': (4, 3), }",
          zeros, 96);
  const char *two[2] = {path_of(path, "z_1.npy"), path_of(p2, "z_2.npy")};
  fpf_snapshots *s = open_ok(two, 2, NULL);
  expect_read_error(s, 0, FPF_OK, NULL);
  expect_read_error(s, 1, FPF_EINVAL, p2, "(step 2)",
                    "shape (4, 3) differs from (4, 2)", NULL);
  fpf_snapshots_destroy(s);

  /* a series among per-step files */
  put_series("z_3.npy", 1, 8, 0, 0, T, 0);
  two[1] = path_of(p2, "z_3.npy");
  s = open_ok(two, 2, NULL);
  expect_read_error(s, 1, FPF_EINVAL, p2, "shape (3, 4, 2) is a series",
                    NULL);
  fpf_snapshots_destroy(s);
  put_series("z_0.npy", 1, 8, 0, 0, T, 0);
  two[1] = path_of(p2, "z_0.npy");
  expect_create_error(two, 2, NULL, FPF_EINVAL, p2, "is a series", NULL);

  /* the same step twice; no step in a name */
  put_series("z_01.npy", 1, 8, 0, 0, 0, 0);
  two[1] = path_of(p2, "z_01.npy");
  expect_create_error(two, 2, NULL, FPF_EINVAL, "both names give step 1",
                      NULL);
  put_series("alpha.npy", 1, 8, 0, 0, 0, 0);
  two[1] = path_of(p2, "alpha.npy");
  expect_create_error(two, 2, NULL, FPF_EINVAL, p2, "no step in the file "
                                                    "name",
                      NULL);

  /* given steps: the count, and the order */
  fpf_snapshots_options o;
  fpf_snapshots_options_init(&o);
  static const long bad[2] = {7, 7};
  o.steps = bad;
  o.nsteps = 1;
  two[1] = path_of(p2, "z_01.npy");
  expect_create_error(two, 2, &o, FPF_EINVAL, "1 given for 2 snapshots",
                      NULL);
  o.nsteps = 2;
  expect_create_error(two, 2, &o, FPF_EINVAL, "the given steps",
                      "step 7 after step 7", NULL);

  /* a pattern that matches nothing; a directory without .npy files */
  p = path_of(path, "nothing_*.npy");
  expect_create_error(&p, 1, NULL, FPF_EIO, "matches no file", NULL);
  path_of(path, "empty");
  assert_int_equal(mkdir(path, 0755), 0);
  expect_create_error(&p, 1, NULL, FPF_EINVAL, "holds no .npy files", NULL);
  p = path_of(path, "absent.npy");
  expect_create_error(&p, 1, NULL, FPF_EIO, path, "cannot open", NULL);
}

/*
 * Files that NumPy itself wrote (numpy.save of a float32 series, a
 * Fortran-ordered one, per-step files), when Debian's /usr/bin/python3
 * has NumPy; skipped otherwise.
 */
static void test_numpy_written(void **state) {
  (void)state;
  if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    printf("NumPy not found; skipped\n");
    skip();
  }
  char cmd[2 * PATH_LEN];
  snprintf(cmd, sizeof cmd,
           "cd %s && /usr/bin/python3 -c \"import numpy as np\n"
           "t, i, j = np.meshgrid(np.arange(3), np.arange(4), np.arange(2),"
           " indexing='ij')\n"
           "v = 100 * t + 10 * i + j + 0.5\n"
           "np.save('np32.npy', v.astype(np.float32))\n"
           "np.save('npF.npy', np.asfortranarray(v.astype('>f8')))\n"
           "[np.save('np_step%%d.npy' %% (5 * k), v[k]) for k in range(3)]"
           "\"",
           dir);
  assert_int_equal(system(cmd), 0);
  static const size_t t_of[T] = {0, 1, 2};
  static const long five[T] = {0, 5, 10};
  char path[PATH_LEN];
  fpf_npy_layout l;
  assert_int_equal(fpf_npy_probe(path_of(path, "np32.npy"), &l), 1);
  fpf_snapshots *s = open1(path, NULL);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
  s = open1(path_of(path, "npF.npy"), NULL);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
  s = open1(path_of(path, "np_step*.npy"), NULL);
  check_steps(s, five, T, 1);
  check_values(s, t_of);
  fpf_snapshots_destroy(s);
}

int main(void) {
  /* HDF5 would print its error stacks from the test's own calls. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_npy_series_variants, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_npy_read_items, setup, teardown),
      cmocka_unit_test_setup_teardown(test_single_snapshot, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_step_files, setup, teardown),
      cmocka_unit_test(test_step_from_name),
      cmocka_unit_test_setup_teardown(test_any_rank, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hdf5, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hdf5_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nonfinite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_npy_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_numpy_written, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
