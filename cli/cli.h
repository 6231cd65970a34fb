/*
 * Shared pieces of the fpflow command line: sub-command entry points,
 * messages on stderr, the progress display and small file helpers.
 *
 * Every sub-command returns an exit code: 0 success, 1 a failure while
 * running (the message says what), 2 bad usage or bad input.
 */
#ifndef FPF_CLI_H
#define FPF_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "fpflow/status.h"

enum { FPF_EXIT_OK = 0, FPF_EXIT_FAIL = 1, FPF_EXIT_USAGE = 2 };

/* Sub-commands; argv[0] is the sub-command's name. */
int fpf_cmd_run(int argc, char **argv);
int fpf_cmd_density(int argc, char **argv);
int fpf_cmd_detect(int argc, char **argv);
int fpf_cmd_bench(int argc, char **argv);
int fpf_cmd_grok(int argc, char **argv);
int fpf_cmd_analyze(int argc, char **argv);
int fpf_cmd_verify(int argc, char **argv);
int fpf_cmd_pde(int argc, char **argv);
int fpf_cmd_w2(int argc, char **argv);

/* Verbosity: 0 quiet (-q), 1 normal, 2 verbose (-v).  Set by each command. */
extern int fpf_cli_verbosity;

/* "fpflow: " + message on stderr; always shown. */
void fpf_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Shown unless -q. */
void fpf_cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Shown with -v. */
void fpf_cli_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* getopt_long's ':' (a missing value) or '?' (an unknown option) for
 * command cmd, the option at argv[optind - 1], as a message; returns
 * FPF_EXIT_USAGE.  The commands' option strings start with ':' and they
 * set opterr = 0, so that this is the only message. */
int fpf_cli_bad_option(const char *cmd, int ch, char *const *argv);
/* Prints an error report and maps its status to an exit code. */
int fpf_cli_fail(const fpf_error *err);
/* The library's log callback, routed to the functions above. */
void fpf_cli_log(void *user, fpf_log_level level, const char *msg);

/*
 * Progress on stderr: a redrawn bar when stderr is a terminal, otherwise a
 * plain line every ~10% (and none at all for work that ends within ~2 s).
 */
typedef struct fpf_progress {
  const char *label;
  long total;
  double t_start, t_last;
  int tty, shown, last_decile;
} fpf_progress;
void fpf_progress_start(fpf_progress *p, const char *label, long total);
void fpf_progress_update(fpf_progress *p, long done, const char *extra);
void fpf_progress_finish(fpf_progress *p);

/*
 * The arguments of a job command (run, pde, grok):
 *   [CONFIG.ini] [--set key=value]... [-o DIR] [--threads N] [-q] [-v] [-h]
 * --threads N becomes one more --set threads=N.  sets points into argv and
 * is released with free(a->sets).
 */
typedef struct fpf_cli_job_args {
  const char *config, *out;
  char **sets;
  int nsets;
  char threads_set[64];
} fpf_cli_job_args;

/* Parses argv for the command `name` (argv[0]); out defaults to
 * default_out.  Returns 0, -1 after printing usage for --help, or an exit
 * code after a message. */
int fpf_cli_parse_job(int argc, char **argv, const char *name,
                      const char *default_out, void (*usage)(FILE *),
                      fpf_cli_job_args *a);

/* Monotonic wall clock in seconds. */
double fpf_cli_now(void);

/* FPF_OK when path is absent or a regular file (outputs are replaced by
 * rename, so devices and links are refused). */
fpf_status fpf_cli_output_ok(const char *path, fpf_error *err);

/* Writes text to path through a temporary file renamed into place, so a
 * reader never sees half a file; the error names the path and the
 * reason. */
fpf_status fpf_cli_write_text(const char *path, const char *text,
                              fpf_error *err);

/* mkdir -p; returns 0 or reports the failing path in err. */
int fpf_cli_mkdirs(const char *path, fpf_error *err);
/* dir + "/" + name into buf (size n); returns buf. */
char *fpf_cli_path(char *buf, size_t n, const char *dir, const char *name);

#endif
