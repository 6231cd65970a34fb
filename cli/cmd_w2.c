/*
 * fpflow w2: the Wasserstein-2 distance between two ensembles stored as
 * .npy files (transport.h).  Prints "key value" lines on stdout (only the
 * distance with -q); bad input exits 2 with a message naming the file and
 * the value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fpflow/npy.h"
#include "fpflow/transport.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: fpflow w2 A.npy B.npy [--method M] [--weights-a W.npy]\n"
          "                 [--weights-b W.npy] [--epsilon E] "
          "[--projections K]\n"
          "                 [--seed S] [-q] [-h]\n\n"
          "The Wasserstein-2 distance between the point clouds A (n_A x d)\n"
          "and B (n_B x d); a 1-D array is read as n points in d = 1.\n\n"
          "options:\n"
          "  --method M        auto (default) | exact | sinkhorn | bures |\n"
          "                    sliced:\n"
          "                      exact     optimal assignment (equal sizes,\n"
          "                                uniform weights) or transportation\n"
          "                                simplex (any sizes and weights)\n"
          "                      sinkhorn  debiased Sinkhorn divergence,\n"
          "                                square-rooted\n"
          "                      bures     closed form between Gaussian fits\n"
          "                      sliced    sliced W2 (random directions)\n"
          "                    auto: exact up to 4096 equal points or 3000\n"
          "                    points in all, Sinkhorn up to n_A n_B = 2^24,\n"
          "                    sliced beyond\n"
          "  --weights-a W.npy weights of A's points (n_A values >= 0, not\n"
          "  --weights-b W.npy all 0; any total); default uniform\n"
          "  --epsilon E       Sinkhorn's epsilon in squared distance units\n"
          "                    (default (0.1 s)^2, s^2 the mean coordinate\n"
          "                    variance)\n"
          "  --projections K   directions of sliced W2 (default 256)\n"
          "  --seed S          seed of those directions (default 0)\n"
          "  -q, --quiet       print the distance only\n"
          "  -h, --help        this text\n\n"
          "Output: w2, w2_squared, method, n_a, n_b, d, seconds; for\n"
          "Sinkhorn also epsilon, iterations, converged and marginal_error.\n"
          "A Sinkhorn run that stops at its iteration cap prints converged\n"
          "no and a warning, and still exits 0.\n"
          "Exit codes: 0 done, 1 a failure while computing, 2 bad usage or\n"
          "input.\n");
}

typedef struct w2_args {
  const char *a, *b, *wa, *wb;
  fpf_w2_options o;
} w2_args;

static int bad(const char *opt, const char *val, const char *what) {
  fpf_cli_error("w2: %s '%s' must be %s", opt, val, what);
  return FPF_EXIT_USAGE;
}

/* Parses the command line; 0, -1 after --help, or an exit code. */
static int parse_args(int argc, char **argv, w2_args *a) {
  static const struct option opts[] = {
      {"method", required_argument, 0, 'm'},
      {"weights-a", required_argument, 0, 'A'},
      {"weights-b", required_argument, 0, 'B'},
      {"epsilon", required_argument, 0, 'e'},
      {"projections", required_argument, 0, 'k'},
      {"seed", required_argument, 0, 's'},
      {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  fpf_w2_options_init(&a->o);
  optind = 1;
  opterr = 0;
  int ch;
  char *end;
  while ((ch = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
    errno = 0;
    switch (ch) {
      case 'm':
        if (fpf_w2_method_parse(optarg, &a->o.method))
          return bad("--method", optarg,
                     "auto, exact, sinkhorn, bures or sliced");
        break;
      case 'A': a->wa = optarg; break;
      case 'B': a->wb = optarg; break;
      case 'e':
        a->o.epsilon = strtod(optarg, &end);
        if (end == optarg || *end || errno || !(a->o.epsilon > 0) ||
            !isfinite(a->o.epsilon))
          return bad("--epsilon", optarg, "a finite number > 0");
        break;
      case 'k': {
        long k = strtol(optarg, &end, 10);
        if (end == optarg || *end || errno || k < 1)
          return bad("--projections", optarg, "a whole number >= 1");
        a->o.projections = (size_t)k;
        break;
      }
      case 's': {
        unsigned long long s = strtoull(optarg, &end, 10);
        if (end == optarg || *end || errno || optarg[0] == '-')
          return bad("--seed", optarg, "a whole number >= 0");
        a->o.seed = s;
        break;
      }
      case 'q': fpf_cli_verbosity = 0; break;
      case 'h': usage(stdout); return -1;
      default: return fpf_cli_bad_option("w2", ch, argv);
    }
  }
  if (argc - optind != 2) {
    fpf_cli_error("w2: expected two files A.npy B.npy, got %d argument%s",
                  argc - optind, argc - optind == 1 ? "" : "s");
    fprintf(stderr, "try 'fpflow w2 --help'\n");
    return FPF_EXIT_USAGE;
  }
  a->a = argv[optind];
  a->b = argv[optind + 1];
  return 0;
}

/* A cloud: an (n, d) or (n,) array of finite values, n >= 1. */
static fpf_status read_cloud(const char *path, fpf_array *arr, size_t *n,
                             size_t *d, fpf_error *err) {
  fpf_status st = fpf_npy_read(path, arr, err);
  if (st) return st;
  if (arr->ndim != 1 && arr->ndim != 2)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: expected an (n, d) array of points, found "
                         "rank %d", path, arr->ndim);
  *n = arr->shape[0];
  *d = arr->ndim == 2 ? arr->shape[1] : 1;
  if (*n == 0 || *d == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: an empty cloud (%zu points in d = %zu)", path,
                         *n, *d);
  return fpf_array_check_finite(arr, path, err);
}

/* Weights for the n points of `cloud`: n values, finite, >= 0, not all
 * 0.  Messages name the weights file. */
static fpf_status read_weights(const char *path, const char *cloud, size_t n,
                               fpf_array *arr, fpf_error *err) {
  fpf_status st = fpf_npy_read(path, arr, err);
  if (st) return st;
  size_t m = fpf_array_size(arr);
  int column = arr->ndim == 2 && arr->shape[1] == 1;
  if (arr->ndim != 1 && !column)
    return fpf_error_set(err, FPF_EFORMAT,
                         "%s: weights must be a 1-D array, found rank %d",
                         path, arr->ndim);
  if (m != n)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s has %zu weights but %s has %zu points", path, m,
                         cloud, n);
  if ((st = fpf_array_check_finite(arr, path, err))) return st;
  int any = 0;
  for (size_t i = 0; i < m; i++) {
    if (arr->data[i] < 0)
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: weight %g at index %zu is negative; weights "
                           "must be >= 0", path, arr->data[i], i);
    any |= arr->data[i] > 0;
  }
  if (!any)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: all %zu weights are 0; at least one must be > 0",
                         path, m);
  return FPF_OK;
}

static void print_result(const w2_args *a, const fpf_w2_result *r, size_t na,
                         size_t nb, size_t d, double secs) {
  if (fpf_cli_verbosity == 0) {
    printf("%.17g\n", r->w2);
    return;
  }
  printf("w2 %.17g\nw2_squared %.17g\nmethod %s\nn_a %zu\nn_b %zu\nd %zu\n"
         "seconds %.3f\n", r->w2, r->w2sq, fpf_w2_method_name(r->method), na,
         nb, d, secs);
  if (r->method == FPF_W2_SINKHORN)
    printf("epsilon %.17g\niterations %ld\nconverged %s\nmarginal_error "
           "%.3g\n", r->epsilon, r->iterations, r->converged ? "yes" : "no",
           r->marginal_error);
  if (r->method == FPF_W2_SLICED)
    printf("projections %zu\nseed %llu\n", a->o.projections,
           (unsigned long long)a->o.seed);
}

int fpf_cmd_w2(int argc, char **argv) {
  w2_args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? FPF_EXIT_OK : rc;
  fpf_error err;
  fpf_error_clear(&err);
  fpf_array A = {0}, B = {0}, WA = {0}, WB = {0};
  size_t na, nb, da, db;
  fpf_status st;
  if ((st = read_cloud(a.a, &A, &na, &da, &err)) ||
      (st = read_cloud(a.b, &B, &nb, &db, &err)))
    goto done;
  if (da != db) {
    st = fpf_error_set(&err, FPF_EINVAL,
                       "%s has dimension d = %zu but %s has d = %zu; W2 needs "
                       "clouds of one dimension", a.a, da, a.b, db);
    goto done;
  }
  if ((a.wa && (st = read_weights(a.wa, a.a, na, &WA, &err))) ||
      (a.wb && (st = read_weights(a.wb, a.b, nb, &WB, &err))))
    goto done;
  fpf_cloud ca = {.x = A.data, .n = na, .d = da, .w = WA.data, .name = a.a};
  fpf_cloud cb = {.x = B.data, .n = nb, .d = db, .w = WB.data, .name = a.b};
  fpf_w2_result r;
  double t0 = fpf_cli_now();
  if ((st = fpf_w2_distance(&ca, &cb, &a.o, &r, &err))) goto done;
  print_result(&a, &r, na, nb, da, fpf_cli_now() - t0);
  if (!r.converged)
    fpf_cli_info("warning: Sinkhorn stopped after %ld iterations with "
                 "marginal error %.3g (tolerance %.3g); the value is "
                 "approximate", r.iterations, r.marginal_error, a.o.tol);
done:
  fpf_array_free(&A);
  fpf_array_free(&B);
  fpf_array_free(&WA);
  fpf_array_free(&WB);
  if (st) return fpf_cli_fail(&err);
  return FPF_EXIT_OK;
}
