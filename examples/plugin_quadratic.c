/*
 * A landscape plugin for `fpflow run --set landscape=plugin
 * --set plugin=./plugin_quadratic.so --set plugin_args=2.0`:
 * L(z) = a |z|^2 / 2 with a taken from plugin_args.
 *
 *   cc -shared -fPIC plugin_quadratic.c $(pkg-config --cflags fpflow) \
 *      -o plugin_quadratic.so
 */
#include <stdlib.h>

#include <fpflow/status.h>

/* Optional: parses plugin_args once; *user is passed to every call. */
int fpflow_landscape_init(const char *args, size_t d, void **user) {
  (void)d;
  double *a = malloc(sizeof *a);
  if (!a) return 1;
  *a = args && *args ? strtod(args, NULL) : 1.0;
  *user = a;
  return 0;
}

/* Required: value and gradient for n points (n x d, row-major). */
int fpflow_landscape(void *user, size_t n, size_t d, const double *z,
                     double *value, double *grad, fpf_error *err) {
  double a = user ? *(const double *)user : 1.0;
  if (!(a > 0)) {
    fpf_error_set(err, FPF_ECALLBACK, "plugin: curvature a = %g must be > 0",
                  a);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    for (size_t c = 0; c < d; c++) {
      double x = z[i * d + c];
      if (grad) grad[i * d + c] = a * x;
      v += 0.5 * a * x * x;
    }
    if (value) value[i] = v;
  }
  return 0;
}
