/*
 * The key tables behind the INI configurations of run, pde and grok
 * (config.h, pde_config.h, grok_config.h).  A command lists its keys with
 * section, type, offset and meaning; reading a file (inih) with line
 * numbers in the messages, `--set key=value`, the resolved file and
 * --help all walk that table.  The types the commands share are parsed
 * and written here, a command's own types by its table's hooks.
 */
#ifndef FPF_CLI_INI_TABLE_H
#define FPF_CLI_INI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "fpflow/kde.h"
#include "fpflow/status.h"

/* Bytes of a string key, with its NUL. */
#define FPF_INI_STR_MAX 256

typedef enum fpf_ini_type {
  FPF_INI_DOUBLE,  /* double, finite */
  FPF_INI_LONG,    /* long */
  FPF_INI_INT,     /* int, at most 10^6 in size */
  FPF_INI_SIZE,    /* size_t */
  FPF_INI_U64,     /* uint64_t */
  FPF_INI_BOOL,    /* int: true, yes, on, 1 or false, no, off, 0 */
  FPF_INI_STR,     /* char[FPF_INI_STR_MAX] */
  FPF_INI_FORM,    /* fpf_entropy_form */
  FPF_INI_TRIGGER, /* fpf_trigger: C or C_vel */
  FPF_INI_OWN      /* a table's own types count on from here */
} fpf_ini_type;

typedef struct fpf_ini_key {
  const char *section, *name;
  int type;   /* an fpf_ini_type, or the table's own */
  size_t off; /* of the value in the command's configuration */
  const char *doc;
} fpf_ini_key;

typedef struct fpf_ini_table {
  const fpf_ini_key *keys; /* grouped by section, in the order written */
  size_t nkeys;
  /* The resolved file begins "the resolved configuration of this <what>;
     'fpflow <command> THIS_FILE' repeats it". */
  const char *command, *what;
  int blanks;       /* numbers but U64 may end in blanks (pde's pairs) */
  int section_hint; /* --set s.k names k's section when s is not it */
  int help_exact;   /* --help shows numbers as the resolved file does */
  int help_name, help_value; /* --help column widths */
  /* The own types: parse returns what the value must be, or NULL once it
     is set; write prints numbers %.17g when exact, else %g. */
  const char *(*parse)(void *cfg, const fpf_ini_key *k, const char *val);
  void (*write)(const void *cfg, const fpf_ini_key *k, FILE *f, int exact);
  /* Optional: after a key is set from the INI file ini, or from --set
     (ini NULL); where is for messages. */
  fpf_status (*on_set)(void *cfg, const fpf_ini_key *k, const char *ini,
                       const char *where, fpf_error *err);
} fpf_ini_table;

/* Reads an INI file over cfg; errors name the file, line and key. */
fpf_status fpf_ini_load(const fpf_ini_table *t, void *cfg, const char *path,
                        fpf_error *err);

/* Applies "key=value" or "section.key=value". */
fpf_status fpf_ini_set(const fpf_ini_table *t, void *cfg,
                       const char *assignment, fpf_error *err);

/* Writes every key with its value and meaning, as INI. */
void fpf_ini_write(const fpf_ini_table *t, const void *cfg, FILE *f);

/* Lists the keys with the values in def and meanings (for --help). */
void fpf_ini_help(const fpf_ini_table *t, const void *def, FILE *f);

/* For the own types: a finite number (after it only blanks, if blanks);
   0 or -1. */
int fpf_ini_parse_double(const char *s, int blanks, double *v);

/* A string key's value into dst (FPF_INI_STR_MAX); NULL or the rule. */
const char *fpf_ini_parse_str(char *dst, const char *val);

/* A bandwidth: a number h > 0 or a rule's name; NULL or the rule. */
const char *fpf_ini_parse_bandwidth(const char *val, fpf_bw_rule *rule,
                                    double *h);
void fpf_ini_write_bandwidth(FILE *f, fpf_bw_rule rule, double h,
                             int exact);

#endif
