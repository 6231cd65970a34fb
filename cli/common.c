/* Messages, progress display and file helpers shared by the sub-commands. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

int fpf_cli_verbosity = 1;

static void vmessage(const char *fmt, va_list ap) {
  fputs("fpflow: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void fpf_cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
}

void fpf_cli_info(const char *fmt, ...) {
  if (fpf_cli_verbosity < 1) return;
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
}

void fpf_cli_debug(const char *fmt, ...) {
  if (fpf_cli_verbosity < 2) return;
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
}

int fpf_cli_fail(const fpf_error *err) {
  const char *msg = err->msg[0] ? err->msg : fpf_status_str(err->status);
  fpf_cli_error("%s", msg);
  switch (err->status) {
    case FPF_EINVAL:
    case FPF_EFORMAT:
    case FPF_EIO:
    case FPF_ENONFINITE:
    case FPF_EUNSUPPORTED:
      return FPF_EXIT_USAGE;
    default:
      return FPF_EXIT_FAIL;
  }
}

void fpf_cli_log(void *user, fpf_log_level level, const char *msg) {
  (void)user;
  if (level == FPF_LOG_ERROR || level == FPF_LOG_WARN)
    fpf_cli_error("%s", msg);
  else if (level == FPF_LOG_INFO)
    fpf_cli_info("%s", msg);
  else
    fpf_cli_debug("%s", msg);
}

int fpf_cli_bad_option(const char *cmd, int ch, char *const *argv) {
  const char *opt = argv[optind - 1];
  if (ch == ':')
    fpf_cli_error("%s: option '%s' needs a value (try 'fpflow %s --help')",
                  cmd, opt, cmd);
  else
    fpf_cli_error("%s: unknown option '%s' (try 'fpflow %s --help')", cmd,
                  opt, cmd);
  return FPF_EXIT_USAGE;
}

int fpf_cli_parse_job(int argc, char **argv, const char *name,
                      const char *default_out, void (*usage)(FILE *),
                      fpf_cli_job_args *a) {
  static const struct option opts[] = {
      {"set", required_argument, 0, 's'},
      {"out", required_argument, 0, 'o'},
      {"threads", required_argument, 0, 't'},
      {"quiet", no_argument, 0, 'q'},
      {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
  if (!a->sets) {
    fpf_cli_error("%s: out of memory", name);
    return FPF_EXIT_FAIL;
  }
  a->out = default_out;
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, ":s:o:qvh", opts, NULL)) != -1) {
    switch (ch) {
      case 's': a->sets[a->nsets++] = optarg; break;
      case 'o': a->out = optarg; break;
      case 't':
        snprintf(a->threads_set, sizeof a->threads_set, "threads=%s",
                 optarg);
        a->sets[a->nsets++] = a->threads_set;
        break;
      case 'q': fpf_cli_verbosity = 0; break;
      case 'v': fpf_cli_verbosity = 2; break;
      case 'h': usage(stdout); return -1;
      default: return fpf_cli_bad_option(name, ch, argv);
    }
  }
  if (optind < argc) a->config = argv[optind++];
  if (optind < argc) {
    fpf_cli_error("%s: unexpected argument '%s' (one CONFIG at most)", name,
                  argv[optind]);
    return FPF_EXIT_USAGE;
  }
  return 0;
}

double fpf_cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Work that ends sooner than this shows no progress at all. */
#define PROGRESS_DELAY_S 2.0

void fpf_progress_start(fpf_progress *p, const char *label, long total) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->total = total > 0 ? total : 1;
  p->t_start = p->t_last = fpf_cli_now();
  p->tty = isatty(STDERR_FILENO);
  p->last_decile = -1;
}

void fpf_progress_update(fpf_progress *p, long done, const char *extra) {
  if (fpf_cli_verbosity < 1) return;
  double now = fpf_cli_now(), el = now - p->t_start;
  if (el < PROGRESS_DELAY_S) return;
  double frac = (double)done / (double)p->total;
  double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  if (p->tty) {
    if (now - p->t_last < 0.1 && done < p->total) return;
    enum { W = 30 };
    char bar[W + 1];
    int fill = (int)(frac * W + 0.5);
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(stderr, "\r%s [%s] %ld/%ld %5.1fs left %s\033[K", p->label, bar,
            done, p->total, eta, extra ? extra : "");
  } else {
    int dec = (int)(frac * 10);
    if (dec == p->last_decile) return;
    p->last_decile = dec;
    fprintf(stderr, "%s: %ld/%ld (%.0f%%) %.1fs elapsed, %.1fs left %s\n",
            p->label, done, p->total, 100 * frac, el, eta, extra ? extra : "");
  }
  p->shown = 1;
  p->t_last = now;
}

void fpf_progress_finish(fpf_progress *p) {
  if (p->shown && p->tty) fputc('\n', stderr);
}

int fpf_cli_mkdirs(const char *path, fpf_error *err) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf)
    return fpf_error_set(err, FPF_EINVAL, "output directory '%s': bad path",
                         path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return fpf_error_set(err, FPF_EIO, "cannot create directory '%s': %s",
                           buf, strerror(errno));
    buf[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return fpf_error_set(err, FPF_EIO, "'%s' exists and is not a directory",
                         path);
  return FPF_OK;
}

fpf_status fpf_cli_output_ok(const char *path, fpf_error *err) {
  return fpf_check_output_path(path, err);
}

fpf_status fpf_cli_write_text(const char *path, const char *text,
                              fpf_error *err) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int bad = !f || fputs(text, f) < 0, e = errno;
  if (f && fclose(f) != 0 && !bad) bad = 1, e = errno;
  if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
  if (bad) {
    if (f) remove(tmp);
    return fpf_error_set(err, FPF_EIO, "cannot write %s: %s", path,
                         strerror(e));
  }
  return FPF_OK;
}

char *fpf_cli_path(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}
