/*
 * The quick-start figure (cli/figure.c): PNGs of the promised size for
 * d = 1, 2 and 5, no output on stdout/stderr, PLplot failures turned into
 * errors instead of exit(), and the PCA projection on clouds whose main
 * axis is known.
 *
 * figure.c belongs to the command line, not the library, so it is
 * compiled into this test directly (white box: render() and the PLplot
 * trap are static).
 */
#if !__has_include(<plplot.h>)
/* Built without PLplot: fail with the fix rather than break the build. */
#include <stdio.h>
int main(void) {
  fputs("test_figure: PLplot is not on this test's include path; "
        "CMakeLists.txt needs\n"
        "  target_link_libraries(test_figure PRIVATE PkgConfig::PLPLOT)\n",
        stderr);
  return 1;
}
#else
#include "../cli/figure.c"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* PLplot's internal error exit (plplotP.h), called here on purpose. */
void plexit(const char *errormsg);

enum { WIDTH = 1500, HEIGHT = 500 };

static char tmpdir[64];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/fpf_test_figure_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

/* Removes the directory and whatever the tests left in it. */
static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  char p[512];
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  if (d) closedir(d);
  return rmdir(tmpdir);
}

/* Deterministic normal deviates: a 64-bit LCG and Box-Muller. */
static uint64_t lcg = 42;
static double uniform(void) {
  lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return ((double)(lcg >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) {
  return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* A quick-start-like history: C decays, C_vel slower, two resets. */
typedef struct sample {
  double *z0, *z1, C[101], C_vel[101];
  int reset[101];
  fpf_run_figure f;
} sample;

static void make_sample(sample *s, size_t n, size_t d) {
  s->z0 = malloc(n * d * sizeof *s->z0);
  s->z1 = malloc(n * d * sizeof *s->z1);
  assert_non_null(s->z0);
  assert_non_null(s->z1);
  for (size_t i = 0; i < n * d; i++) {
    size_t j = i % d;
    double well = (i / d) % 2 ? (j == 0 ? 2 : j == 1 ? 1 : 0)
                              : (j == 0 ? -2 : 0);
    s->z0[i] = 1.5 * normal();
    s->z1[i] = well + 0.3 * normal();
  }
  for (size_t t = 0; t < 101; t++) {
    s->C[t] = 5 * exp(-(double)t / 20) + 0.05;
    s->C_vel[t] = 2 * exp(-(double)t / 40) + 0.1;
    s->reset[t] = t == 70 || t == 85;
  }
  s->C[30] = NAN, s->C[31] = INFINITY, s->C[50] = -1;
  fpf_run_figure f = {s->z0, s->z1, n, n, d, s->C, s->C_vel, s->reset, 101,
                      0.5, "test figure #1", 1};
  s->f = f;
}

static void free_sample(sample *s) {
  free(s->z0);
  free(s->z1);
}

static uint32_t be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

/* The PNG signature, then the IHDR chunk with the width and height. */
static void assert_png(const char *path, uint32_t w, uint32_t h) {
  unsigned char b[24];
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
  fclose(f);
  assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
  assert_memory_equal(b + 12, "IHDR", 4);
  assert_int_equal(be32(b + 16), w);
  assert_int_equal(be32(b + 20), h);
}

/* stdout and stderr go to a file between begin_capture and end_capture,
   which returns how many bytes were written there. */
static struct {
  int fd, out, err;
  char log[128];
} cap;

static void begin_capture(void) {
  snprintf(cap.log, sizeof cap.log, "%s/output.log", tmpdir);
  fflush(stdout);
  fflush(stderr);
  cap.fd = open(cap.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(cap.fd >= 0);
  cap.out = dup(1), cap.err = dup(2);
  dup2(cap.fd, 1);
  dup2(cap.fd, 2);
}

static long end_capture(void) {
  fflush(stdout);
  fflush(stderr);
  dup2(cap.out, 1);
  dup2(cap.err, 2);
  close(cap.out);
  close(cap.err);
  off_t n = lseek(cap.fd, 0, SEEK_END);
  close(cap.fd);
  unlink(cap.log);
  return (long)n;
}

/* fpf_figure_run, returning what it printed (which must be nothing). */
static long run_quietly(const char *path, const fpf_run_figure *f,
                        fpf_error *err, int *st) {
  begin_capture();
  *st = fpf_figure_run(path, f, err);
  return end_capture();
}

/* Files in tmpdir other than "." and "..": temporary files must not stay. */
static int count_files(void) {
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (d) closedir(d);
  return n;
}

static void render_dim(size_t d) {
  sample s;
  make_sample(&s, 300, d);
  char path[128];
  snprintf(path, sizeof path, "%s/figure_d%zu.png", tmpdir, d);
  fpf_error err;
  fpf_error_clear(&err);
  int st;
  long printed = run_quietly(path, &s.f, &err, &st);
  if (st) fail_msg("figure d = %zu: %s", d, err.msg);
  assert_int_equal(printed, 0);
  assert_png(path, WIDTH, HEIGHT);
  free_sample(&s);
  unlink(path);
  assert_int_equal(count_files(), 0);
}

static void test_render_d2(void **state) {
  (void)state;
  render_dim(2);
}

static void test_render_d5(void **state) {
  (void)state;
  render_dim(5);
}

static void test_render_d1(void **state) {
  (void)state;
  render_dim(1);
}

/* No positive C, no C_vel, no resets, and an empty history: still a PNG. */
static void test_render_degenerate(void **state) {
  (void)state;
  sample s;
  make_sample(&s, 50, 2);
  for (size_t t = 0; t < 101; t++) s.C[t] = t % 2 ? 0.0 : -1.0;
  s.f.C_vel = NULL;
  s.f.reset = NULL;
  s.f.threshold = NAN;
  s.f.title = NULL;
  char path[128];
  snprintf(path, sizeof path, "%s/degenerate.png", tmpdir);
  fpf_error err;
  int st;
  assert_int_equal(run_quietly(path, &s.f, &err, &st), 0);
  assert_int_equal(st, FPF_OK);
  assert_png(path, WIDTH, HEIGHT);
  s.f.nsteps = 0;
  s.f.n1 = 1;
  assert_int_equal(run_quietly(path, &s.f, &err, &st), 0);
  assert_int_equal(st, FPF_OK);
  assert_png(path, WIDTH, HEIGHT);
  unlink(path);
  free_sample(&s);
}

static void test_bad_path(void **state) {
  (void)state;
  sample s;
  make_sample(&s, 20, 2);
  fpf_error err;
  assert_int_equal(fpf_figure_run("/nonexistent/dir/f.png", &s.f, &err),
                   FPF_EIO);
  assert_non_null(strstr(err.msg, "/nonexistent/dir/f.png"));
  s.f.d = 0;
  assert_int_equal(fpf_figure_run("x.png", &s.f, &err), FPF_EINVAL);
  free_sample(&s);
}

/* PLplot's exit becomes an error, and PLplot still works afterwards. */
static void draw_exit(const void *arg) {
  (void)arg;
  plexit("injected failure");
}

/* plpoin before any window: PLplot aborts the call (plabort). */
static void draw_abort(const void *arg) {
  (void)arg;
  double x = 0, y = 0;
  plpoin(1, &x, &y, 1);
}

static void test_plplot_failures(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/trap.png", tmpdir);
  begin_capture();
  int exit_st = render(path, 1500, 500, draw_exit, NULL);
  long printed = end_capture();
  assert_int_not_equal(exit_st, 0);
  assert_string_equal(pl_trap.msg, "injected failure");
  assert_int_equal(printed, 0);
  begin_capture();
  int abort_st = render(path, 1500, 500, draw_abort, NULL);
  printed = end_capture();
  assert_int_not_equal(abort_st, 0);
  assert_non_null(strstr(pl_trap.msg, "plpoin"));
  assert_int_equal(printed, 0);
  unlink(path);
  render_dim(2);
}

/*
 * A cloud on an ellipse with semi-axes 5 (along axis1) and 1 (axis2),
 * sampled evenly so that the two are exactly uncorrelated, plus normal
 * noise of sd `noise` on every other axis.  PC1 must follow axis1 and
 * PC2 axis2, each with a positive sign (correlation > 0.99), and both be
 * centred.  (A random cloud of 40 points would tilt PC1 by its sampling
 * correlation and make the answer approximate.)
 */
static void check_stretched(size_t n, size_t d, size_t axis1, size_t axis2,
                            double noise) {
  double *z = malloc(n * d * sizeof *z), *proj = malloc(2 * n * sizeof *z);
  assert_non_null(z);
  assert_non_null(proj);
  for (size_t i = 0; i < n; i++) {
    double phase = 6.283185307179586 * (double)i / (double)n;
    for (size_t j = 0; j < d; j++)
      z[i * d + j] = 7.0 + (j == axis1   ? 5.0 * cos(phase)
                            : j == axis2 ? sin(phase)
                                         : noise * normal());
  }
  fpf_error err;
  assert_int_equal(fpf_figure_pca2(z, n, d, proj, &err), FPF_OK);

  /* Correlation of each component with its axis. */
  for (int k = 0; k < 2; k++) {
    size_t a = k == 0 ? axis1 : axis2;
    double mz = 0, mp = 0, szz = 0, spp = 0, szp = 0;
    for (size_t i = 0; i < n; i++) mz += z[i * d + a], mp += proj[2 * i + k];
    mz /= (double)n, mp /= (double)n;
    for (size_t i = 0; i < n; i++) {
      double u = z[i * d + a] - mz, v = proj[2 * i + k] - mp;
      szz += u * u, spp += v * v, szp += u * v;
    }
    double r = szp / sqrt(szz * spp);
    if (r < 0.99)
      fail_msg("n %zu d %zu: PC%d vs axis %zu: r = %g", n, d, k + 1, a, r);
    assert_true(fabs(mp) < 1e-9); /* centred */
  }
  free(z);
  free(proj);
}

static void test_pca_covariance(void **state) {
  (void)state;
  /* n >= d: the d x d covariance. */
  check_stretched(400, 3, 1, 2, 0.2);
  check_stretched(400, 3, 0, 1, 0.2);
}

static void test_pca_gram(void **state) {
  (void)state;
  /* n < d: the n x n Gram matrix. */
  check_stretched(40, 60, 17, 3, 0.05);
}

static void test_pca_errors(void **state) {
  (void)state;
  double z[4] = {1, 2, 3, 4}, proj[8];
  fpf_error err;
  assert_int_equal(fpf_figure_pca2(z, 4, 1, proj, &err), FPF_EINVAL);
  assert_non_null(strstr(err.msg, "d = 1"));
  assert_int_equal(fpf_figure_pca2(z, 0, 2, proj, &err), FPF_EINVAL);

  /* One point: no spread, a zero projection. */
  assert_int_equal(fpf_figure_pca2(z, 1, 4, proj, &err), FPF_OK);
  assert_true(proj[0] == 0 && proj[1] == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_d2),
      cmocka_unit_test(test_render_d5),
      cmocka_unit_test(test_render_d1),
      cmocka_unit_test(test_render_degenerate),
      cmocka_unit_test(test_bad_path),
      cmocka_unit_test(test_plplot_failures),
      cmocka_unit_test(test_pca_covariance),
      cmocka_unit_test(test_pca_gram),
      cmocka_unit_test(test_pca_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
