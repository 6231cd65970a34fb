/*
 * fpflow status codes and error reports.
 *
 * Every library call that can fail returns an fpf_status and, when the
 * caller passes a non-NULL fpf_error, leaves there a message that names
 * the argument, key or file and the offending value.  The library keeps
 * no global error state, never prints, never aborts and never exits.
 */
#ifndef FPFLOW_STATUS_H
#define FPFLOW_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* One list yields the codes and their default messages. */
#define FPF_STATUS_LIST(X)                                              \
  X(FPF_OK, "success")                                                  \
  X(FPF_EINVAL, "invalid argument")                                     \
  X(FPF_ENOMEM, "out of memory")                                        \
  X(FPF_EIO, "input/output error")                                      \
  X(FPF_EFORMAT, "malformed input")                                     \
  X(FPF_ENOTPD, "matrix is not positive definite")                      \
  X(FPF_ENONFINITE, "non-finite value")                                 \
  X(FPF_EUNSUPPORTED, "not supported")                                  \
  X(FPF_ECALLBACK, "user callback failed")                              \
  X(FPF_ESTOPPED, "stopped by the caller")

#define FPF_STATUS_ENUM_(name, text) name,
typedef enum fpf_status { FPF_STATUS_LIST(FPF_STATUS_ENUM_) FPF_NSTATUS }
    fpf_status;
#undef FPF_STATUS_ENUM_

/* A report of the last failure of one call chain. */
typedef struct fpf_error {
  fpf_status status;
  char msg[512];
} fpf_error;

/* The default text of a status ("invalid argument", ...). */
const char *fpf_status_str(fpf_status st);

/* Clears err (err may be NULL). */
void fpf_error_clear(fpf_error *err);

/*
 * Records st and a printf-style message in err (err may be NULL) and
 * returns st, so that a failing path reads `return fpf_error_set(...)`.
 * User callbacks may use it to report their own failures.
 */
fpf_status fpf_error_set(fpf_error *err, fpf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with a context ("file x.npy: "). */
void fpf_error_prefix(fpf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log levels for the host's log callback. */
typedef enum fpf_log_level {
  FPF_LOG_ERROR = 0,
  FPF_LOG_WARN = 1,
  FPF_LOG_INFO = 2,
  FPF_LOG_DEBUG = 3
} fpf_log_level;

/* The library is silent unless the host installs one of these. */
typedef void (*fpf_log_fn)(void *user, fpf_log_level level, const char *msg);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *fpf_version(void);

#ifdef __cplusplus
}
#endif

#endif
