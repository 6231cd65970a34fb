/* The key tables of the INI configurations (ini_table.h). */
#define _GNU_SOURCE
#include "ini_table.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fpflow/dyn.h"

static const fpf_ini_key *find_key(const fpf_ini_table *t,
                                   const char *section, const char *name) {
  for (size_t i = 0; i < t->nkeys; i++)
    if (!strcmp(t->keys[i].name, name) &&
        (!section || !section[0] || !strcmp(t->keys[i].section, section)))
      return &t->keys[i];
  return NULL;
}

int fpf_ini_parse_double(const char *s, int blanks, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  while (blanks && (*end == ' ' || *end == '\t')) end++;
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(x)) return -1;
  *v = x;
  return 0;
}

static int parse_long(const char *s, int blanks, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  while (blanks && (*end == ' ' || *end == '\t')) end++;
  if (end == s || *end != '\0') return -1;
  if (errno == ERANGE) return -2; /* a whole number, but too large */
  *v = x;
  return 0;
}

const char *fpf_ini_parse_str(char *dst, const char *val) {
  if (strlen(val) >= FPF_INI_STR_MAX) return "shorter than 256 characters";
  strcpy(dst, val);
  return NULL;
}

const char *fpf_ini_parse_bandwidth(const char *val, fpf_bw_rule *rule,
                                    double *h) {
  fpf_bw_rule r;
  double x;
  if (!fpf_bw_rule_parse(val, &r) && r != FPF_BW_FIXED) {
    *rule = r;
  } else if (!fpf_ini_parse_double(val, 0, &x) && x > 0) {
    *rule = FPF_BW_FIXED;
    *h = x;
  } else {
    return "a number > 0, scott, silverman or median";
  }
  return NULL;
}

/* Sets one key from its text; returns what the value must be, or NULL. */
static const char *parse_value(const fpf_ini_table *t, void *cfg,
                               const fpf_ini_key *k, const char *val) {
  char *p = (char *)cfg + k->off;
  long l;
  double x;
  int rc;
  switch (k->type) {
    case FPF_INI_DOUBLE:
      if (fpf_ini_parse_double(val, t->blanks, &x)) return "a finite number";
      *(double *)p = x;
      return NULL;
    case FPF_INI_LONG:
      if ((rc = parse_long(val, t->blanks, &l)))
        return rc == -2 ? "a whole number of at most 18 digits"
                        : "a whole number";
      *(long *)p = l;
      return NULL;
    case FPF_INI_INT:
      if (parse_long(val, t->blanks, &l) || l < -1000000 || l > 1000000)
        return "a small whole number";
      *(int *)p = (int)l;
      return NULL;
    case FPF_INI_SIZE:
      if ((rc = parse_long(val, t->blanks, &l)) || l < 0)
        return rc == -2 ? "a whole number >= 0 of at most 18 digits"
                        : "a whole number >= 0";
      *(size_t *)p = (size_t)l;
      return NULL;
    case FPF_INI_U64: {
      char *end;
      errno = 0;
      unsigned long long u = strtoull(val, &end, 10);
      if (end == val || *end || errno || val[0] == '-')
        return "a whole number >= 0";
      *(uint64_t *)p = u;
      return NULL;
    }
    case FPF_INI_BOOL:
      if (!strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
          !strcasecmp(val, "on") || !strcmp(val, "1"))
        *(int *)p = 1;
      else if (!strcasecmp(val, "false") || !strcasecmp(val, "no") ||
               !strcasecmp(val, "off") || !strcmp(val, "0"))
        *(int *)p = 0;
      else
        return "true or false";
      return NULL;
    case FPF_INI_STR: return fpf_ini_parse_str(p, val);
    case FPF_INI_FORM:
      if (fpf_entropy_form_parse(val, (fpf_entropy_form *)p))
        return "source or wasserstein";
      return NULL;
    case FPF_INI_TRIGGER:
      if (!strcmp(val, "C")) *(fpf_trigger *)p = FPF_TRIGGER_C;
      else if (!strcmp(val, "C_vel")) *(fpf_trigger *)p = FPF_TRIGGER_C_VEL;
      else return "C or C_vel";
      return NULL;
  }
  return t->parse(cfg, k, val);
}

/* Sets one key and tells the table; the message names where it came
   from (ini: the file, NULL for --set). */
static fpf_status set_value(const fpf_ini_table *t, void *cfg,
                            const fpf_ini_key *k, const char *val,
                            const char *ini, const char *where,
                            fpf_error *err) {
  const char *what = parse_value(t, cfg, k, val);
  if (what)
    return fpf_error_set(err, FPF_EINVAL, "%s: %s = '%s' must be %s", where,
                         k->name, val, what);
  return t->on_set ? t->on_set(cfg, k, ini, where, err) : FPF_OK;
}

/* The names of the keys (of one section, if given), comma-separated. */
static void list_keys(const fpf_ini_table *t, char *buf, size_t n,
                      const char *section) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < t->nkeys && len + 40 < n; i++) {
    if (section && section[0] && strcmp(t->keys[i].section, section))
      continue;
    len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                            t->keys[i].name);
  }
}

/* Whether key i opens its section (keys are grouped by section). */
static int opens_section(const fpf_ini_table *t, size_t i) {
  return !i || strcmp(t->keys[i].section, t->keys[i - 1].section);
}

/* The sections in their order, comma-separated. */
static void list_sections(const fpf_ini_table *t, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < t->nkeys && len + 40 < n; i++)
    if (opens_section(t, i))
      len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                              t->keys[i].section);
}

typedef struct load_ctx {
  const fpf_ini_table *t;
  void *cfg;
  const char *path;
  fpf_error *err;
  fpf_status st;
  int line, line_done;
  FILE *f;
} load_ctx;

/* inih's line reader, counting lines so that messages can name them. */
static char *read_line(char *buf, int size, void *stream) {
  load_ctx *x = stream;
  char *r = fgets(buf, size, x->f);
  /* a line longer than the buffer arrives in pieces: count it once */
  if (r && x->line_done) x->line++;
  if (r) x->line_done = strchr(r, '\n') != NULL || feof(x->f);
  return r;
}

static int on_key(void *user, const char *section, const char *name,
                  const char *value) {
  load_ctx *x = user;
  const fpf_ini_table *t = x->t;
  if (x->st) return 0;
  char where[512];
  snprintf(where, sizeof where, "%s line %d", x->path, x->line);
  int known_section = 0;
  for (size_t i = 0; i < t->nkeys; i++)
    if (!strcmp(t->keys[i].section, section)) known_section = 1;
  if (section[0] && !known_section) {
    char sections[1024];
    list_sections(t, sections, sizeof sections);
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown section [%s] (sections: %s)", where,
                          section, sections);
    return 0;
  }
  const fpf_ini_key *k = find_key(t, section, name);
  if (!k) {
    char names[4096];
    list_keys(t, names, sizeof names, section);
    x->st = fpf_error_set(x->err, FPF_EINVAL,
                          "%s: unknown key '%s' in [%s] (keys there: %s)",
                          where, name, section, names);
    return 0;
  }
  x->st = set_value(t, x->cfg, k, value, x->path, where, x->err);
  return x->st == FPF_OK;
}

fpf_status fpf_ini_load(const fpf_ini_table *t, void *cfg, const char *path,
                        fpf_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return fpf_error_set(err, FPF_EIO, "config %s: %s", path, strerror(errno));
  /* a directory opens, then reads as an empty file */
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
    fclose(f);
    return fpf_error_set(err, FPF_EIO,
                         "config %s: not a regular file (a directory?)", path);
  }
  load_ctx x = {t, cfg, path, err, FPF_OK, 0, 1, f};
  int rc = ini_parse_stream(read_line, &x, on_key, &x);
  fclose(f);
  if (x.st) return x.st;
  if (rc > 0)
    return fpf_error_set(err, FPF_EFORMAT,
                         "config %s line %d: not 'key = value' or "
                         "'[section]'", path, rc);
  if (rc < 0)
    return fpf_error_set(err, FPF_EIO, "config %s: cannot be read", path);
  return FPF_OK;
}

fpf_status fpf_ini_set(const fpf_ini_table *t, void *cfg,
                       const char *assignment, fpf_error *err) {
  char buf[FPF_INI_STR_MAX * 2];
  if (strlen(assignment) >= sizeof buf)
    return fpf_error_set(err, FPF_EINVAL, "--set '%.40s...': too long",
                         assignment);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  if (!eq)
    return fpf_error_set(err, FPF_EINVAL,
                         "--set '%s': expected key=value", assignment);
  *eq = '\0';
  char *name = buf, *section = NULL, *dot = strchr(buf, '.');
  if (dot) {
    *dot = '\0';
    section = buf;
    name = dot + 1;
  }
  const fpf_ini_key *k = find_key(t, section, name);
  const fpf_ini_key *elsewhere = section ? find_key(t, NULL, name) : NULL;
  if (!k && elsewhere && t->section_hint)
    return fpf_error_set(err, FPF_EINVAL,
                         "--set %s: key '%s' is not in section [%s] (it is "
                         "in [%s])", assignment, name, section,
                         elsewhere->section);
  if (!k) {
    char names[4096];
    list_keys(t, names, sizeof names, NULL);
    return fpf_error_set(err, FPF_EINVAL,
                         "--set: unknown key '%s' (keys: %s)", name, names);
  }
  char where[FPF_INI_STR_MAX * 2 + 8];
  snprintf(where, sizeof where, "--set %s", assignment);
  return set_value(t, cfg, k, eq + 1, NULL, where, err);
}

void fpf_ini_write_bandwidth(FILE *f, fpf_bw_rule rule, double h,
                             int exact) {
  if (rule == FPF_BW_FIXED)
    fprintf(f, exact ? "%.17g" : "%g", h);
  else
    fputs(fpf_bw_rule_name(rule), f);
}

static void write_value(const fpf_ini_table *t, const void *cfg,
                        const fpf_ini_key *k, FILE *f, int exact) {
  const char *p = (const char *)cfg + k->off;
  switch (k->type) {
    case FPF_INI_DOUBLE:
      fprintf(f, exact ? "%.17g" : "%g", *(const double *)p);
      return;
    case FPF_INI_LONG: fprintf(f, "%ld", *(const long *)p); return;
    case FPF_INI_INT: fprintf(f, "%d", *(const int *)p); return;
    case FPF_INI_SIZE: fprintf(f, "%zu", *(const size_t *)p); return;
    case FPF_INI_U64:
      fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)p);
      return;
    case FPF_INI_BOOL: fputs(*(const int *)p ? "true" : "false", f); return;
    case FPF_INI_STR: fputs(p, f); return;
    case FPF_INI_FORM:
      fputs(fpf_entropy_form_name(*(const fpf_entropy_form *)p), f);
      return;
    case FPF_INI_TRIGGER:
      fputs(*(const fpf_trigger *)p == FPF_TRIGGER_C ? "C" : "C_vel", f);
      return;
  }
  t->write(cfg, k, f, exact);
}

void fpf_ini_write(const fpf_ini_table *t, const void *cfg, FILE *f) {
  fprintf(f, "; fpflow %s: the resolved configuration of this %s.\n"
             "; 'fpflow %s THIS_FILE' repeats it.\n", fpf_version(), t->what,
          t->command);
  for (size_t i = 0; i < t->nkeys; i++) {
    const fpf_ini_key *k = &t->keys[i];
    if (opens_section(t, i)) fprintf(f, "\n[%s]\n", k->section);
    fprintf(f, "; %s\n%s = ", k->doc, k->name);
    write_value(t, cfg, k, f, 1);
    fputc('\n', f);
  }
}

void fpf_ini_help(const fpf_ini_table *t, const void *def, FILE *f) {
  for (size_t i = 0; i < t->nkeys; i++) {
    const fpf_ini_key *k = &t->keys[i];
    if (opens_section(t, i)) fprintf(f, "  [%s]\n", k->section);
    char val[64] = "";
    FILE *m = fmemopen(val, sizeof val, "w");
    write_value(t, def, k, m, t->help_exact);
    fclose(m);
    fprintf(f, "    %-*s %-*s %s\n", t->help_name, k->name, t->help_value,
            val[0] ? val : "''", k->doc);
  }
}
