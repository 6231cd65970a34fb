/*
 * Training snapshots from .npy files and HDF5 datasets (snapshots.h).
 *
 * Three kinds of source, one object:
 *   a .npy series   one file, items along its first axis; read in place
 *                   (npy_series.c) when NumPy's plain C layout allows,
 *                   else read whole once by fpf_npy_read;
 *   per-step files  one .npy per snapshot, read when asked for;
 *   HDF5            one dataset, read by hyperslab, so any chunking and
 *                   any filter HDF5 knows (deflate included) just works.
 * The HDF5 library prints its error stack on stderr by default; every
 * call here runs with that printing off (restored afterwards) and turns
 * the innermost HDF5 message into the fpf_error instead.
 */
#define _GNU_SOURCE
#include "fpflow/snapshots.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum kind { SERIES_STREAM, SERIES_WHOLE, STEP_FILES, HDF5_SERIES };

struct fpf_snapshots {
  enum kind kind;
  int item_rank;            /* as asked (may be FPF_SNAP_ANY_RANK) */
  char what[32];
  size_t T, n, d;
  int ndim;                 /* rank of one item */
  size_t shape[FPF_NPY_MAXDIM]; /* shape of one item */
  long *steps;
  int steps_known;
  char **files;             /* T per-step files, or the one source */
  size_t nfiles;
  char *label;              /* "file:/dataset" for HDF5 */
  fpf_npy_layout layout;    /* SERIES_STREAM */
  fpf_array whole;          /* SERIES_WHOLE */
  hid_t h5file, h5dset;     /* HDF5_SERIES */
};

void fpf_snapshots_options_init(fpf_snapshots_options *o) {
  memset(o, 0, sizeof *o);
  o->item_rank = 2;
  o->what = "latents";
}

/* --- Small helpers ---------------------------------------------------- */

/* "(100, 32)", "(5,)" or "()". */
static const char *shape_text(char *buf, size_t cap, int ndim,
                              const size_t *shape) {
  size_t k = (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%zu", i ? ", " : "",
                          shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "%s)", ndim == 1 ? "," : "");
  return buf;
}

/* What a snapshot of the asked rank looks like, for messages. */
static const char *rank_hint(int item_rank) {
  switch (item_rank) {
    case 2: return "(N, d) per snapshot or (T, N, d) for a series";
    case 1: return "(N,) per snapshot or (T, N) for a series";
    case 0: return "() per snapshot or (T,) for a series";
  }
  return "any shape";
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static int is_directory(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* HDF5's signature sits at 0 or at 512, 1024, 2048... (a user block). */
static int is_hdf5(const char *path) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r',
                                       '\n', 0x1a, '\n'};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char head[6];
  if (fread(head, 1, 6, f) == 6 && !memcmp(head, "\x93NUMPY", 6)) {
    fclose(f);
    return 0; /* the common case, settled by the first bytes */
  }
  int found = 0;
  for (long off = 0; !found && off <= (1L << 20); off = off ? 2 * off : 512) {
    unsigned char b[8];
    if (fseek(f, off, SEEK_SET) != 0 || fread(b, 1, 8, f) != 8) break;
    found = !memcmp(b, sig, 8);
  }
  fclose(f);
  return found;
}

int fpf_snapshots_step_from_name(const char *path, long *step) {
  if (!path || !step) return -1;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  const char *end = dot && dot != base ? dot : base + strlen(base);
  const char *last = NULL;
  for (const char *p = base; p < end; p++)
    if (*p >= '0' && *p <= '9' && (p == base || p[-1] < '0' || p[-1] > '9'))
      last = p;
  if (!last) return -1;
  long v = 0;
  for (const char *p = last; p < end && *p >= '0' && *p <= '9'; p++) {
    if (v > (LONG_MAX - (*p - '0')) / 10) return -1;
    v = 10 * v + (*p - '0');
  }
  *step = v;
  return 0;
}

/* --- Expanding the paths into files ----------------------------------- */

typedef struct file_list {
  char **v;
  size_t n, cap;
} file_list;

static int list_add(file_list *l, const char *s) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = dup_string(s))) return -1;
  l->n++;
  return 0;
}

static void list_free(file_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int natural_cmp(const void *a, const void *b) {
  return strverscmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), m = strlen(tail);
  return n >= m && !strcmp(s + n - m, tail);
}

/* Every regular *.npy file of dir, in natural name order. */
static fpf_status expand_directory(const char *dir, file_list *l,
                                   fpf_error *err) {
  DIR *dp = opendir(dir);
  if (!dp)
    return fpf_error_set(err, FPF_EIO, "%s: cannot open the directory: %s",
                         dir, strerror(errno));
  size_t first = l->n;
  struct dirent *e;
  char path[4096];
  fpf_status st = FPF_OK;
  while (!st && (e = readdir(dp))) {
    if (!ends_with(e->d_name, ".npy")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (!is_file(path)) continue;
    if (list_add(l, path))
      st = fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", dir);
  }
  closedir(dp);
  if (st) return st;
  if (l->n == first)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: the directory holds no .npy files", dir);
  qsort(l->v + first, l->n - first, sizeof *l->v, natural_cmp);
  return FPF_OK;
}

static fpf_status expand_glob(const char *pattern, file_list *l,
                              fpf_error *err) {
  glob_t g;
  int rc = glob(pattern, 0, NULL, &g);
  if (rc == GLOB_NOMATCH)
    return fpf_error_set(err, FPF_EIO, "%s: no such file, and as a "
                                       "pattern it matches no file",
                         pattern);
  if (rc != 0)
    return fpf_error_set(err, FPF_EIO, "%s: cannot expand the pattern",
                         pattern);
  size_t first = l->n;
  fpf_status st = FPF_OK;
  for (size_t i = 0; !st && i < g.gl_pathc; i++)
    if (!is_directory(g.gl_pathv[i]) && list_add(l, g.gl_pathv[i]))
      st = fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", pattern);
  globfree(&g);
  if (!st && l->n == first)
    return fpf_error_set(err, FPF_EIO, "%s: the pattern matches no file",
                         pattern);
  if (!st) qsort(l->v + first, l->n - first, sizeof *l->v, natural_cmp);
  return st;
}

static fpf_status expand(const char *const *paths, size_t npaths,
                         file_list *l, fpf_error *err) {
  for (size_t i = 0; i < npaths; i++) {
    const char *p = paths[i];
    fpf_status st = FPF_OK;
    if (!p || !*p)
      st = fpf_error_set(err, FPF_EINVAL, "snapshots: empty path");
    else if (is_directory(p))
      st = expand_directory(p, l, err);
    else if (!is_file(p) && strpbrk(p, "*?["))
      st = expand_glob(p, l, err);
    else if (list_add(l, p))
      st = fpf_error_set(err, FPF_ENOMEM, "%s: out of memory", p);
    if (st) return st;
  }
  return FPF_OK;
}

/* --- Steps ------------------------------------------------------------ */

/* Steps must increase strictly; names the source of the offending pair. */
static fpf_status check_increasing(const fpf_snapshots *s,
                                   const char *origin, fpf_error *err) {
  for (size_t k = 1; k < s->T; k++)
    if (s->steps[k] <= s->steps[k - 1])
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: steps must increase, but snapshot %zu has "
                           "step %ld after step %ld",
                           origin, k, s->steps[k], s->steps[k - 1]);
  return FPF_OK;
}

static fpf_status alloc_steps(fpf_snapshots *s, fpf_error *err) {
  s->steps = malloc((s->T ? s->T : 1) * sizeof *s->steps);
  if (!s->steps)
    return fpf_error_set(err, FPF_ENOMEM, "snapshots: out of memory for "
                                          "%zu steps",
                         s->T);
  for (size_t k = 0; k < s->T; k++) s->steps[k] = (long)k;
  return FPF_OK;
}

/* Given steps replace whatever the files said. */
static fpf_status apply_given_steps(fpf_snapshots *s,
                                    const fpf_snapshots_options *o,
                                    fpf_error *err) {
  if (!o->steps) return FPF_OK;
  if (o->nsteps != s->T)
    return fpf_error_set(err, FPF_EINVAL,
                         "steps: %zu given for %zu snapshots of %s in %s",
                         o->nsteps, s->T, s->what, s->label);
  memcpy(s->steps, o->steps, s->T * sizeof *s->steps);
  s->steps_known = 1;
  return check_increasing(s, "the given steps", err);
}

/* --- Per-step .npy files ---------------------------------------------- */

typedef struct named_step {
  char *file;
  long step;
} named_step;

static int step_cmp(const void *a, const void *b) {
  const named_step *x = a, *y = b;
  return (x->step > y->step) - (x->step < y->step);
}

/* Steps from the file names, the files sorted by them. */
static fpf_status steps_from_names(fpf_snapshots *s, fpf_error *err) {
  named_step *ns = malloc(s->T * sizeof *ns);
  if (!ns) return fpf_error_set(err, FPF_ENOMEM, "snapshots: out of memory");
  for (size_t k = 0; k < s->T; k++) {
    ns[k].file = s->files[k];
    if (fpf_snapshots_step_from_name(s->files[k], &ns[k].step)) {
      free(ns);
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: no step in the file name (the last number "
                           "in the name is taken as the step); give the "
                           "steps instead",
                           s->files[k]);
    }
  }
  qsort(ns, s->T, sizeof *ns, step_cmp);
  fpf_status st = FPF_OK;
  for (size_t k = 0; k < s->T; k++) {
    if (k > 0 && ns[k].step == ns[k - 1].step && !st)
      st = fpf_error_set(err, FPF_EINVAL,
                         "%s and %s: both names give step %ld",
                         ns[k - 1].file, ns[k].file, ns[k].step);
    s->files[k] = ns[k].file;
    s->steps[k] = ns[k].step;
  }
  free(ns);
  s->steps_known = 1;
  return st;
}

/* The item shape from an array of the rank of one snapshot. */
static void set_item_shape(fpf_snapshots *s, int ndim, const size_t *shape) {
  s->ndim = ndim;
  memset(s->shape, 0, sizeof s->shape);
  if (ndim > 0) memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
  s->n = ndim >= 1 ? shape[0] : 1;
  s->d = 1;
  for (int i = 1; i < ndim; i++) s->d *= shape[i];
}

/* A file's rank against the asked one; series says it is a series. */
static fpf_status check_rank(const fpf_snapshots *s, const char *path,
                             int ndim, const size_t *shape, int alone,
                             int *series, fpf_error *err) {
  int r = s->item_rank;
  char sh[160];
  if (r == FPF_SNAP_ANY_RANK) {
    *series = alone && ndim >= 1;
    return FPF_OK;
  }
  *series = ndim == r + 1;
  if (ndim == r || (alone && ndim == r + 1)) return FPF_OK;
  if (!alone && ndim == r + 1)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: shape %s is a series; with several files, "
                         "each must hold one snapshot of %s",
                         path, shape_text(sh, sizeof sh, ndim, shape),
                         s->what);
  return fpf_error_set(err, FPF_EINVAL,
                       "%s: rank %d, shape %s; %s need %s", path, ndim,
                       shape_text(sh, sizeof sh, ndim, shape), s->what,
                       rank_hint(r));
}

/*
 * Several per-step files, or one file of one snapshot (lone): then a name
 * without a step gives step 0.
 */
static fpf_status open_step_files(fpf_snapshots *s, file_list *l,
                                  const fpf_snapshots_options *o, int lone,
                                  fpf_error *err) {
  s->kind = STEP_FILES;
  s->T = l->n;
  s->files = l->v;
  s->nfiles = l->n;
  memset(l, 0, sizeof *l);
  fpf_status st = alloc_steps(s, err);
  if (st) return st;
  if (!(s->label = dup_string(s->files[0])))
    return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  long step;
  if (o->steps)
    st = apply_given_steps(s, o, err);
  else if (!lone || !fpf_snapshots_step_from_name(s->files[0], &step))
    st = steps_from_names(s, err);
  if (st) return st;

  /* The first snapshot fixes the shape every other must have. */
  fpf_array a;
  if ((st = fpf_npy_read(s->files[0], &a, err))) return st;
  int series;
  st = check_rank(s, s->files[0], a.ndim, a.shape, 0, &series, err);
  if (!st) set_item_shape(s, a.ndim, a.shape);
  fpf_array_free(&a);
  return st;
}

/* --- One .npy series -------------------------------------------------- */

/* A lone .npy file: a series, or one snapshot (then like a step file). */
static fpf_status open_npy_file(fpf_snapshots *s, file_list *l,
                                const fpf_snapshots_options *o,
                                fpf_error *err) {
  const char *path = l->v[0];
  int ndim;
  size_t shape[FPF_NPY_MAXDIM];
  fpf_status st;
  int stream = fpf_npy_probe(path, &s->layout);
  if (stream) {
    ndim = s->layout.ndim;
    memcpy(shape, s->layout.shape, sizeof shape);
  } else {
    if ((st = fpf_npy_read(path, &s->whole, err))) return st;
    ndim = s->whole.ndim;
    memcpy(shape, s->whole.shape, sizeof shape);
  }
  int series;
  char sh[160];
  if ((st = check_rank(s, path, ndim, shape, 1, &series, err))) return st;
  if (!series) {
    fpf_array_free(&s->whole);
    return open_step_files(s, l, o, 1, err);
  }
  s->kind = stream ? SERIES_STREAM : SERIES_WHOLE;
  s->T = shape[0];
  set_item_shape(s, ndim - 1, shape + 1);
  s->files = l->v;
  s->nfiles = l->n;
  memset(l, 0, sizeof *l);
  s->label = dup_string(path);
  if (!s->label) return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  if (s->T == 0)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: shape %s holds no snapshot", path,
                         shape_text(sh, sizeof sh, ndim, shape));
  if ((st = alloc_steps(s, err))) return st;
  return apply_given_steps(s, o, err);
}

/* --- HDF5 ------------------------------------------------------------- */

/* HDF5 prints its error stack unless told not to; restored after. */
typedef struct h5_quiet {
  H5E_auto2_t fn;
  void *data;
} h5_quiet;

static void h5_mute(h5_quiet *q) {
  H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_unmute(const h5_quiet *q) {
  H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0 && e->desc) snprintf(data, 200, "%s", e->desc);
  return 0;
}

/* The most specific message on HDF5's error stack, for our messages. */
static const char *h5_reason(char *buf) {
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
  if (!buf[0]) snprintf(buf, 200, "HDF5 gave no detail");
  return buf;
}

/* "run.h5" or "run.h5:/group/data" into the file and the dataset. */
static int split_h5_spec(const char *spec, char **file, char **dset) {
  *file = *dset = NULL;
  if (is_file(spec)) {
    if (!is_hdf5(spec)) return 0;
    *file = dup_string(spec);
    return *file ? 1 : -1;
  }
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1]) return 0;
  char *f = dup_string(spec);
  if (!f) return -1;
  f[colon - spec] = '\0';
  if (!is_file(f) || !is_hdf5(f)) {
    free(f);
    return 0;
  }
  *file = f;
  *dset = dup_string(colon + 1);
  return *dset ? 1 : -1;
}

static const char *type_class_name(H5T_class_t c) {
  switch (c) {
    case H5T_STRING: return "a string type";
    case H5T_COMPOUND:
      return "a compound (record) type, which is how complex numbers "
             "are stored";
    case H5T_BITFIELD: return "a bit field";
    case H5T_OPAQUE: return "an opaque type";
    case H5T_REFERENCE: return "a reference type";
    case H5T_ENUM: return "an enumeration";
    case H5T_VLEN: return "a variable-length type";
    case H5T_ARRAY: return "an array type";
    case H5T_TIME: return "a time type";
    default: return "an unknown type class";
  }
}

/* Rank and dims of a dataset; -1 when HDF5 cannot tell. */
static int dataset_shape(hid_t dset, size_t *shape) {
  hid_t sp = H5Dget_space(dset);
  if (sp < 0) return -1;
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[H5S_MAX_RANK];
  if (nd >= 0 && nd <= FPF_NPY_MAXDIM &&
      H5Sget_simple_extent_dims(sp, dims, NULL) == nd)
    for (int i = 0; i < nd; i++) shape[i] = (size_t)dims[i];
  else if (nd > FPF_NPY_MAXDIM)
    nd = FPF_NPY_MAXDIM + 1;
  else
    nd = -1;
  H5Sclose(sp);
  return nd;
}

/* The datasets of a file that could be the series, for the choice. */
typedef struct h5_scan {
  int item_rank;
  size_t found;
  char first[512];
  char list[768];
} h5_scan;

static herr_t scan_link(hid_t g, const char *name, const H5L_info_t *info,
                        void *data) {
  (void)info;
  h5_scan *sc = data;
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  if (ds < 0) return 0; /* a group, or a dangling link */
  size_t shape[FPF_NPY_MAXDIM + 1];
  int nd = dataset_shape(ds, shape);
  H5Dclose(ds);
  int r = sc->item_rank;
  int fits = r == FPF_SNAP_ANY_RANK ? nd >= 0 && nd <= FPF_NPY_MAXDIM
                                    : nd == r || nd == r + 1;
  size_t k = strlen(sc->list);
  char sh[160];
  if (k + 8 < sizeof sc->list)
    snprintf(sc->list + k, sizeof sc->list - k, "%s/%s %s", k ? ", " : "",
             name,
             nd >= 0 && nd <= FPF_NPY_MAXDIM
                 ? shape_text(sh, sizeof sh, nd, shape)
                 : "(?)");
  if (fits && sc->found++ == 0)
    snprintf(sc->first, sizeof sc->first, "/%s", name);
  return 0;
}

/* With no dataset named: the one dataset of a fitting rank, if unique. */
static fpf_status find_dataset(const fpf_snapshots *s, hid_t file,
                               const char *path, char **dset,
                               fpf_error *err) {
  h5_scan sc;
  memset(&sc, 0, sizeof sc);
  sc.item_rank = s->item_rank;
  H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, scan_link, &sc);
  if (sc.found == 1) {
    *dset = dup_string(sc.first);
    return *dset ? FPF_OK : fpf_error_set(err, FPF_ENOMEM, "out of memory");
  }
  return fpf_error_set(err, FPF_EINVAL,
                       "%s: which dataset holds the %s? %s%s; name it as "
                       "%s:/PATH",
                       path, s->what,
                       sc.found ? "several could: " : "none fits ",
                       sc.found || !sc.list[0] ? sc.list : "(no datasets)",
                       path);
}

/* T values (attribute or dataset) as steps; they must be integers. */
static fpf_status take_steps(fpf_snapshots *s, const double *v, size_t nv,
                             const char *origin, fpf_error *err) {
  if (nv != s->T)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: %zu steps for %zu snapshots", origin, nv,
                         s->T);
  for (size_t k = 0; k < nv; k++) {
    if (!isfinite(v[k]) || v[k] != floor(v[k]) || fabs(v[k]) > 9e15)
      return fpf_error_set(err, FPF_EINVAL,
                           "%s: step %zu is %g, not an integer", origin, k,
                           v[k]);
    s->steps[k] = (long)v[k];
  }
  s->steps_known = 1;
  return check_increasing(s, origin, err);
}

/* Reads an attribute or a dataset of steps into a fresh buffer. */
static fpf_status read_step_values(hid_t obj, int is_attr, double **v,
                                   size_t *nv, fpf_error *err) {
  hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
  hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0) H5Sclose(sp);
  char why[200];
  if (npts < 0)
    return fpf_error_set(err, FPF_EFORMAT, "cannot read its size (%s)",
                         h5_reason(why));
  *nv = (size_t)npts;
  *v = malloc((*nv ? *nv : 1) * sizeof **v);
  if (!*v) return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  herr_t rc = is_attr ? H5Aread(obj, H5T_NATIVE_DOUBLE, *v)
                      : H5Dread(obj, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                H5P_DEFAULT, *v);
  if (rc < 0)
    return fpf_error_set(err, FPF_EFORMAT, "cannot read it as numbers (%s)",
                         h5_reason(why));
  return FPF_OK;
}

/*
 * Steps from an attribute of the dataset or a dataset beside it (or at
 * an absolute path).  A name that was not given and is not found leaves
 * the steps at 0 .. T-1.
 */
static fpf_status h5_steps(fpf_snapshots *s, const char *dset_path,
                           const char *given, fpf_error *err) {
  const char *name = given ? given : "steps";
  char origin[1200];
  hid_t obj = -1;
  int is_attr = 0;
  if (name[0] != '/' && H5Aexists(s->h5dset, name) > 0) {
    obj = H5Aopen(s->h5dset, name, H5P_DEFAULT);
    is_attr = 1;
    snprintf(origin, sizeof origin, "%s, attribute '%s'", s->label, name);
  } else {
    /* A relative name is looked for beside the data. */
    char full[1024];
    const char *slash = strrchr(dset_path, '/');
    int dir = slash ? (int)(slash - dset_path) : 0;
    if (name[0] == '/')
      snprintf(full, sizeof full, "%s", name);
    else
      snprintf(full, sizeof full, "%.*s/%s", dir, dset_path, name);
    snprintf(origin, sizeof origin, "%s:%s", s->files[0], full);
    if (H5Lexists(s->h5file, full, H5P_DEFAULT) > 0)
      obj = H5Dopen2(s->h5file, full, H5P_DEFAULT);
  }
  if (obj < 0) {
    if (!given) return FPF_OK;
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: no attribute '%s' on the dataset and no "
                         "dataset %s",
                         s->label, name, strchr(origin, ':') + 1);
  }
  double *v = NULL;
  size_t nv = 0;
  fpf_status st = read_step_values(obj, is_attr, &v, &nv, err);
  if (st) fpf_error_prefix(err, "%s: ", origin);
  if (is_attr) H5Aclose(obj);
  else H5Dclose(obj);
  if (!st) st = take_steps(s, v, nv, origin, err);
  free(v);
  return st;
}

/* The dataset's type, rank and shape against what is asked. */
static fpf_status h5_check_dataset(fpf_snapshots *s, fpf_error *err) {
  hid_t t = H5Dget_type(s->h5dset);
  H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (t >= 0) H5Tclose(t);
  if (c != H5T_FLOAT && c != H5T_INTEGER)
    return fpf_error_set(err, FPF_EUNSUPPORTED,
                         "%s: the data have %s; fpflow reads float and "
                         "integer datasets",
                         s->label, type_class_name(c));
  size_t shape[FPF_NPY_MAXDIM + 1];
  int nd = dataset_shape(s->h5dset, shape);
  char sh[160], why[200];
  if (nd < 0)
    return fpf_error_set(err, FPF_EFORMAT, "%s: cannot read the shape (%s)",
                         s->label, h5_reason(why));
  if (nd > FPF_NPY_MAXDIM)
    return fpf_error_set(err, FPF_EUNSUPPORTED, "%s: rank above %d",
                         s->label, FPF_NPY_MAXDIM);
  int series;
  fpf_status st = check_rank(s, s->label, nd, shape, 1, &series, err);
  if (st) return st;
  s->T = series ? shape[0] : 1;
  if (series) set_item_shape(s, nd - 1, shape + 1);
  else set_item_shape(s, nd, shape);
  if (s->T == 0)
    return fpf_error_set(err, FPF_EINVAL, "%s: shape %s holds no snapshot",
                         s->label, shape_text(sh, sizeof sh, nd, shape));
  return FPF_OK;
}

static fpf_status open_h5(fpf_snapshots *s, char *file, char *dset,
                          const fpf_snapshots_options *o, fpf_error *err) {
  s->kind = HDF5_SERIES;
  s->h5file = s->h5dset = -1;
  s->files = malloc(sizeof *s->files);
  if (!s->files) {
    free(file);
    free(dset);
    return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  }
  s->files[0] = file;
  s->nfiles = 1;
  char why[200];
  s->h5file = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (s->h5file < 0) {
    free(dset);
    return fpf_error_set(err, FPF_EIO, "%s: cannot open as HDF5 (%s)", file,
                         h5_reason(why));
  }
  fpf_status st = FPF_OK;
  if (!dset && o->dataset) dset = dup_string(o->dataset);
  if (!dset) st = find_dataset(s, s->h5file, file, &dset, err);
  if (st) return st;
  size_t nl = strlen(file) + strlen(dset) + 3;
  s->label = malloc(nl);
  if (!s->label) {
    free(dset);
    return fpf_error_set(err, FPF_ENOMEM, "out of memory");
  }
  snprintf(s->label, nl, "%s:%s%s", file, dset[0] == '/' ? "" : "/", dset);
  s->h5dset = H5Dopen2(s->h5file, dset, H5P_DEFAULT);
  if (s->h5dset < 0)
    st = fpf_error_set(err, FPF_EINVAL, "%s: no such dataset (%s)", s->label,
                       h5_reason(why));
  if (!st) st = h5_check_dataset(s, err);
  if (!st) st = alloc_steps(s, err);
  if (!st && !o->steps) st = h5_steps(s, dset, o->steps_from, err);
  if (!st) st = apply_given_steps(s, o, err);
  free(dset);
  return st;
}

static fpf_status h5_read(fpf_snapshots *s, size_t k, double *out,
                          fpf_error *err) {
  hid_t fs = H5Dget_space(s->h5dset);
  int nd = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
  hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK];
  herr_t rc = nd >= 0 ? 0 : -1;
  if (rc == 0 && nd > 0) {
    H5Sget_simple_extent_dims(fs, count, NULL);
    memset(start, 0, sizeof start);
    if (nd == s->ndim + 1) start[0] = k, count[0] = 1;
    rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  }
  hsize_t nval = (hsize_t)(s->n * s->d);
  hid_t ms = rc >= 0 ? H5Screate_simple(1, &nval, NULL) : -1;
  if (ms >= 0)
    rc = H5Dread(s->h5dset, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out);
  else
    rc = -1;
  char why[200];
  fpf_status st = FPF_OK;
  if (rc < 0)
    st = fpf_error_set(err, FPF_EIO, "%s: cannot read snapshot %zu (step "
                                     "%ld): %s",
                       s->label, k, s->steps[k], h5_reason(why));
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  return st;
}

/* --- The object ------------------------------------------------------- */

static fpf_status create(fpf_snapshots *s, const char *const *paths,
                         size_t npaths, const fpf_snapshots_options *o,
                         fpf_error *err) {
  file_list l = {0};
  fpf_status st = expand(paths, npaths, &l, err);
  if (st) {
    list_free(&l);
    return st;
  }

  /* An HDF5 file is a series of its own. */
  for (size_t i = 0; !st && i < l.n; i++) {
    char *file, *dset;
    int h5 = split_h5_spec(l.v[i], &file, &dset);
    if (h5 < 0) st = fpf_error_set(err, FPF_ENOMEM, "out of memory");
    if (h5 > 0 && l.n > 1) {
      st = fpf_error_set(err, FPF_EINVAL,
                         "%s: an HDF5 file holds a whole series and must "
                         "be the only source of %s (%zu given)",
                         l.v[i], s->what, l.n);
      free(file);
      free(dset);
    } else if (h5 > 0) {
      st = open_h5(s, file, dset, o, err);
      list_free(&l);
      return st;
    }
  }
  if (!st)
    st = l.n == 1 ? open_npy_file(s, &l, o, err)
                  : open_step_files(s, &l, o, 0, err);
  list_free(&l);
  return st;
}

fpf_status fpf_snapshots_create(fpf_snapshots **out, const char *const *paths,
                                size_t npaths,
                                const fpf_snapshots_options *o,
                                fpf_error *err) {
  if (!out) return fpf_error_set(err, FPF_EINVAL, "snapshots: out is NULL");
  *out = NULL;
  fpf_snapshots_options def;
  if (!o) {
    fpf_snapshots_options_init(&def);
    o = &def;
  }
  if (!paths || npaths == 0)
    return fpf_error_set(err, FPF_EINVAL, "snapshots: no path given");
  if (o->item_rank < FPF_SNAP_ANY_RANK || o->item_rank > 2)
    return fpf_error_set(err, FPF_EINVAL,
                         "snapshots: item_rank = %d: must be 0, 1, 2 or "
                         "FPF_SNAP_ANY_RANK",
                         o->item_rank);
  fpf_snapshots *s = calloc(1, sizeof *s);
  if (!s) return fpf_error_set(err, FPF_ENOMEM, "snapshots: out of memory");
  s->h5file = s->h5dset = -1;
  s->item_rank = o->item_rank;
  snprintf(s->what, sizeof s->what, "%s", o->what ? o->what : "the data");
  h5_quiet q;
  h5_mute(&q);
  fpf_status st = create(s, paths, npaths, o, err);
  h5_unmute(&q);
  if (st) {
    fpf_snapshots_destroy(s);
    return st;
  }
  *out = s;
  return FPF_OK;
}

void fpf_snapshots_destroy(fpf_snapshots *s) {
  if (!s) return;
  if (s->h5dset >= 0 || s->h5file >= 0) {
    h5_quiet q;
    h5_mute(&q);
    if (s->h5dset >= 0) H5Dclose(s->h5dset);
    if (s->h5file >= 0) H5Fclose(s->h5file);
    h5_unmute(&q);
  }
  for (size_t i = 0; i < s->nfiles; i++) free(s->files[i]);
  free(s->files);
  free(s->steps);
  free(s->label);
  fpf_array_free(&s->whole);
  free(s);
}

size_t fpf_snapshots_count(const fpf_snapshots *s) { return s ? s->T : 0; }

void fpf_snapshots_dims(const fpf_snapshots *s, size_t *n, size_t *d) {
  if (n) *n = s ? s->n : 0;
  if (d) *d = s ? s->d : 0;
}

const long *fpf_snapshots_steps(const fpf_snapshots *s) {
  return s ? s->steps : NULL;
}

int fpf_snapshots_steps_known(const fpf_snapshots *s) {
  return s ? s->steps_known : 0;
}

const char *fpf_snapshots_source(const fpf_snapshots *s, size_t k) {
  if (!s || k >= s->T) return NULL;
  return s->kind == STEP_FILES ? s->files[k] : s->label;
}

/* "row 3, column 7" (rank 2), "index 3" (rank 1), "[1, 2, 3]" or "". */
static void position_text(const fpf_snapshots *s, size_t k, char *buf,
                          size_t cap) {
  size_t idx[FPF_NPY_MAXDIM];
  for (int j = s->ndim - 1; j >= 0; j--) {
    idx[j] = s->shape[j] ? k % s->shape[j] : 0;
    k = s->shape[j] ? k / s->shape[j] : 0;
  }
  buf[0] = '\0';
  if (s->ndim == 1) {
    snprintf(buf, cap, "index %zu", idx[0]);
  } else if (s->ndim == 2) {
    snprintf(buf, cap, "row %zu, column %zu", idx[0], idx[1]);
  } else if (s->ndim > 2) {
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int j = 0; j < s->ndim && w < cap; j++)
      w += (size_t)snprintf(buf + w, cap - w, "%s%zu", j ? ", " : "",
                            idx[j]);
    if (w < cap) snprintf(buf + w, cap - w, "]");
  }
}

/*
 * NaN or Inf in snapshot k: the file, the snapshot and its step, the
 * position, and how many there are:
 *   "run.npy: NaN in the latents at snapshot 4 (step 40), row 12,
 *    column 3 (5 non-finite values in this snapshot)"
 *   "z_00040.npy: Inf in the latents (step 40) at row 12, column 3"
 */
static fpf_status check_finite(const fpf_snapshots *s, size_t k,
                               const double *v, fpf_error *err) {
  size_t nval = s->n * s->d, first = nval, bad = 0;
  for (size_t i = 0; i < nval; i++)
    if (!isfinite(v[i]) && bad++ == 0) first = i;
  if (bad == 0) return FPF_OK;
  char where[200], more[64] = "";
  position_text(s, first, where, sizeof where);
  if (bad > 1)
    snprintf(more, sizeof more, " (%zu non-finite values in this "
                                "snapshot)",
             bad);
  double x = v[first];
  const char *name = isnan(x) ? "NaN" : x > 0 ? "Inf" : "-Inf";
  const char *src = fpf_snapshots_source(s, k);
  if (s->kind == STEP_FILES)
    return fpf_error_set(err, FPF_ENONFINITE, "%s: %s in the %s (step %ld)"
                                              "%s%s%s",
                         src, name, s->what, s->steps[k],
                         where[0] ? " at " : "", where, more);
  return fpf_error_set(err, FPF_ENONFINITE,
                       "%s: %s in the %s at snapshot %zu (step %ld)%s%s%s",
                       src, name, s->what, k, s->steps[k],
                       where[0] ? ", " : "", where, more);
}

/* A per-step file: read whole, its shape checked against the first. */
static fpf_status read_step_file(fpf_snapshots *s, size_t k, double *out,
                                  fpf_error *err) {
  fpf_array a;
  fpf_status st = fpf_npy_read(s->files[k], &a, err);
  if (st) return st;
  int same = a.ndim == s->ndim;
  for (int i = 0; same && i < a.ndim; i++) same = a.shape[i] == s->shape[i];
  char sh[160], sh0[160];
  if (!same && s->item_rank != FPF_SNAP_ANY_RANK && a.ndim == s->ndim + 1)
    st = fpf_error_set(err, FPF_EINVAL,
                       "%s: shape %s is a series; with several files, each "
                       "must hold one snapshot of %s like %s, shape %s",
                       s->files[k],
                       shape_text(sh, sizeof sh, a.ndim, a.shape), s->what,
                       s->files[0],
                       shape_text(sh0, sizeof sh0, s->ndim, s->shape));
  else if (!same)
    st = fpf_error_set(err, FPF_EINVAL,
                       "%s (step %ld): shape %s differs from %s, the shape "
                       "of the first snapshot (%s): the dimensions must not "
                       "change between snapshots",
                       s->files[k], s->steps[k],
                       shape_text(sh, sizeof sh, a.ndim, a.shape),
                       shape_text(sh0, sizeof sh0, s->ndim, s->shape),
                       s->files[0]);
  else
    memcpy(out, a.data, s->n * s->d * sizeof *out);
  fpf_array_free(&a);
  return st;
}

fpf_status fpf_snapshots_read(fpf_snapshots *s, size_t k, double *out,
                              fpf_error *err) {
  if (!s || !out)
    return fpf_error_set(err, FPF_EINVAL, "snapshots: NULL argument");
  if (k >= s->T)
    return fpf_error_set(err, FPF_EINVAL,
                         "%s: snapshot %zu asked, there are %zu", s->label,
                         k, s->T);
  fpf_status st = FPF_OK;
  size_t item = s->n * s->d;
  switch (s->kind) {
    case SERIES_STREAM:
      st = fpf_npy_read_items(s->label, &s->layout, k, 1, out, err);
      break;
    case SERIES_WHOLE:
      memcpy(out, s->whole.data + k * item, item * sizeof *out);
      break;
    case STEP_FILES:
      st = read_step_file(s, k, out, err);
      break;
    case HDF5_SERIES: {
      h5_quiet q;
      h5_mute(&q);
      st = h5_read(s, k, out, err);
      h5_unmute(&q);
      break;
    }
  }
  return st ? st : check_finite(s, k, out, err);
}
