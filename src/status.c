/* Status texts and the error report helpers of status.h. */
#include "fpflow/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fpflow/version.h"

#define FPF_STATUS_TEXT_(name, text) text,
static const char *const status_text[] = {FPF_STATUS_LIST(FPF_STATUS_TEXT_)};
#undef FPF_STATUS_TEXT_

const char *fpf_status_str(fpf_status st) {
  if ((int)st < 0 || st >= FPF_NSTATUS) return "unknown status";
  return status_text[st];
}

void fpf_error_clear(fpf_error *err) {
  if (!err) return;
  err->status = FPF_OK;
  err->msg[0] = '\0';
}

fpf_status fpf_error_set(fpf_error *err, fpf_status st, const char *fmt,
                         ...) {
  if (!err) return st;
  err->status = st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return st;
}

void fpf_error_prefix(fpf_error *err, const char *fmt, ...) {
  if (!err) return;
  char head[256];
  va_list ap;
  va_start(ap, fmt);
  int h = vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  if (h <= 0) return;
  size_t hl = (size_t)h < sizeof head ? (size_t)h : sizeof head - 1;
  size_t cap = sizeof err->msg - 1, ol = strlen(err->msg);
  if (hl > cap) hl = cap;
  if (ol > cap - hl) ol = cap - hl;
  memmove(err->msg + hl, err->msg, ol);
  memcpy(err->msg, head, hl);
  err->msg[hl + ol] = '\0';
}

const char *fpf_version(void) { return FPFLOW_VERSION_STRING; }
