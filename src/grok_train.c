/*
 * The grokking trainer: optimiser steps, observations, the monitor and
 * shrink-and-perturb resets (grok.h).
 *
 * An observation evaluates the whole train and test sets (forward only),
 * pushes the probe's last hidden layer and each probe sample's dL_i/dz_i
 * to the monitor, then applies the reset rule: a reset fires when the
 * chosen ratio (C or C_vel) is below C_threshold (or, relative, below
 * C_threshold times the largest value the ratio has taken at any
 * observation so far), the step is at least `warmup` and at least
 * `cooldown` steps have passed since the last one.  The relative form
 * exists because neither ratio has a natural scale for a real network:
 * C_vel scales with the monitor's eta / c, and C of hundreds of latent
 * dimensions is astronomically large (the KDE density underflows).
 * The reset follows the observation, so the row that fired it still
 * shows the state that fired it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fpflow/grok.h"
#include "fpflow/rng.h"
#include "internal.h"

/* The Philox stream of the mini-batch shuffles. */
#define STREAM_BATCH (FPF_STREAM_USER + 0x42)

struct fpf_grok {
  fpf_grok_options o;
  fpf_grok_data *data;
  fpf_grok_model *model;
  fpf_grok_adamw *opt;
  fpf_monitor *mon;
  double *grad;
  size_t n_train, n_test, n_probe, w;
  const int *train, *test;
  int *probe;         /* 2 n_probe ints */
  double *z, *gz, *ploss;
  int *batch;         /* 2 batch_size ints */
  size_t *perm, pos;  /* mini-batch order and position in it */
  long epoch, step, last_reset, last_observed;
  double peak;        /* the trigger ratio's largest value so far */
  uint64_t resets;
  fpf_grok_row *rows;
  size_t nrows, caprows;
};

void fpf_grok_options_init(fpf_grok_options *o) {
  memset(o, 0, sizeof *o);
  fpf_grok_model_options_init(&o->model);
  fpf_grok_adamw_options_init(&o->adamw);
  o->train_fraction = 0.3;
  o->batch_size = 0;
  o->eval_every = 100;
  o->probe_size = 256;
  o->monitor = 1;
  fpf_monitor_options_init(&o->monitor_options);
  /* No alert is used here, and div J costs one more O(n^2 d) pass. */
  o->monitor_options.flux_divergence = 0;
  o->resets = 0;
  o->trigger = FPF_TRIGGER_C;
  o->C_threshold = 0.5;
  o->reset_alpha = 0.2;
  o->warmup = 1000;
  o->cooldown = 1000;
}

fpf_status fpf_grok_options_check(const fpf_grok_options *o,
                                  fpf_error *err) {
  fpf_status st = fpf_grok_adamw_options_check(&o->adamw, err);
  if (st) return st;
  if (o->eval_every < 1)
    return fpf_error_set(err, FPF_EINVAL, "eval_every = %ld: must be >= 1",
                         o->eval_every);
  if (o->monitor && o->probe_size < 2)
    return fpf_error_set(err, FPF_EINVAL, "probe_size = %zu: the monitor "
                         "needs >= 2 samples", o->probe_size);
  if (o->resets && !o->monitor)
    return fpf_error_set(err, FPF_EINVAL, "resets = on needs monitor = on "
                         "(the trigger reads the monitor's C)");
  if (o->trigger != FPF_TRIGGER_C && o->trigger != FPF_TRIGGER_C_VEL)
    return fpf_error_set(err, FPF_EINVAL, "trigger = %d: unknown",
                         (int)o->trigger);
  if (!(o->C_threshold >= 0 && isfinite(o->C_threshold)))
    return fpf_error_set(err, FPF_EINVAL, "C_threshold = %g: must be a "
                         "finite number >= 0", o->C_threshold);
  if (!(o->reset_alpha > 0 && o->reset_alpha <= 1))
    return fpf_error_set(err, FPF_EINVAL, "reset_alpha = %g: must be in "
                         "(0, 1]", o->reset_alpha);
  if (o->warmup < 0 || o->cooldown < 0)
    return fpf_error_set(err, FPF_EINVAL, "warmup = %ld, cooldown = %ld: "
                         "must be >= 0", o->warmup, o->cooldown);
  return FPF_OK;
}

/* Probe: n_probe test pairs spread evenly over the (sorted) test set. */
static fpf_status make_probe(fpf_grok *g, fpf_error *err) {
  if (!g->o.monitor) return FPF_OK;
  size_t n = g->o.probe_size < g->n_test ? g->o.probe_size : g->n_test;
  if (n < 2)
    return fpf_error_set(err, FPF_EINVAL, "the monitor needs >= 2 test "
                         "pairs for its probe; train_fraction = %g leaves "
                         "%zu", g->o.train_fraction, g->n_test);
  g->n_probe = n;
  g->probe = malloc(2 * n * sizeof *g->probe);
  g->z = fpf_dalloc(2 * n * g->w + n);
  if (!g->probe || !g->z)
    return fpf_error_set(err, FPF_ENOMEM, "probe: no memory");
  g->gz = g->z + n * g->w;
  g->ploss = g->gz + n * g->w;
  for (size_t i = 0; i < n; i++) {
    size_t j = i * g->n_test / n;
    g->probe[2 * i] = g->test[2 * j];
    g->probe[2 * i + 1] = g->test[2 * j + 1];
  }
  fpf_monitor_options mo = g->o.monitor_options;
  if (!mo.log) mo.log = g->o.log, mo.log_user = g->o.log_user;
  fpf_status st = fpf_monitor_create(&g->mon, n, g->w, &mo, err);
  if (st) fpf_error_prefix(err, "monitor: ");
  return st;
}

static fpf_status make_batches(fpf_grok *g, fpf_error *err) {
  size_t b = g->o.batch_size;
  if (b == 0 || b >= g->n_train) return FPF_OK;
  g->batch = malloc(2 * b * sizeof *g->batch);
  g->perm = malloc(g->n_train * sizeof *g->perm);
  if (!g->batch || !g->perm)
    return fpf_error_set(err, FPF_ENOMEM, "batches: no memory");
  g->pos = g->n_train; /* shuffle before the first batch */
  g->epoch = -1;
  return FPF_OK;
}

fpf_status fpf_grok_create(fpf_grok **out, const fpf_grok_options *o,
                           fpf_error *err) {
  *out = NULL;
  fpf_status st = fpf_grok_options_check(o, err);
  if (st) return st;
  fpf_grok *g = calloc(1, sizeof *g);
  if (!g) return fpf_error_set(err, FPF_ENOMEM, "grok: no memory");
  g->o = *o;
  g->last_reset = -1;
  g->last_observed = -1;
  g->peak = -INFINITY;
  if ((st = fpf_grok_data_create(&g->data, o->model.p, o->train_fraction,
                                 o->model.seed, err)) ||
      (st = fpf_grok_model_create(&g->model, &o->model, err)) ||
      (st = fpf_grok_adamw_create(&g->opt, fpf_grok_model_size(g->model),
                                  &o->adamw, err)))
    goto fail;
  g->n_train = fpf_grok_data_train(g->data, &g->train);
  g->n_test = fpf_grok_data_test(g->data, &g->test);
  g->w = fpf_grok_model_width(g->model);
  g->grad = fpf_dalloc(fpf_grok_model_size(g->model));
  if (!g->grad) {
    st = fpf_error_set(err, FPF_ENOMEM, "grok: no memory for the gradient");
    goto fail;
  }
  if ((st = make_probe(g, err)) || (st = make_batches(g, err))) goto fail;
  *out = g;
  return FPF_OK;
fail:
  fpf_grok_destroy(g);
  return st;
}

void fpf_grok_destroy(fpf_grok *g) {
  if (!g) return;
  fpf_monitor_destroy(g->mon);
  fpf_grok_adamw_destroy(g->opt);
  fpf_grok_model_destroy(g->model);
  fpf_grok_data_destroy(g->data);
  fpf_dfree(g->grad);
  fpf_dfree(g->z);
  free(g->probe);
  free(g->batch);
  free(g->perm);
  free(g->rows);
  free(g);
}

/* The next mini-batch: a Fisher-Yates shuffle per epoch keyed by (seed,
   epoch); the tail shorter than a batch is left out of that epoch. */
static const int *next_batch(fpf_grok *g, size_t *n) {
  size_t b = g->o.batch_size, nt = g->n_train;
  if (!g->batch) {
    *n = nt;
    return g->train;
  }
  if (g->pos + b > nt) {
    g->epoch++;
    for (size_t i = 0; i < nt; i++) g->perm[i] = i;
    for (size_t i = 0; i + 1 < nt; i++) {
      double u;
      fpf_rng_uniforms(g->o.model.seed, STREAM_BATCH, (uint64_t)g->epoch, i,
                       &u, 1);
      size_t j = i + (size_t)(u * (double)(nt - i));
      if (j >= nt) j = nt - 1;
      size_t t = g->perm[i];
      g->perm[i] = g->perm[j];
      g->perm[j] = t;
    }
    g->pos = 0;
  }
  for (size_t i = 0; i < b; i++) {
    size_t k = g->perm[g->pos + i];
    g->batch[2 * i] = g->train[2 * k];
    g->batch[2 * i + 1] = g->train[2 * k + 1];
  }
  g->pos += b;
  *n = b;
  return g->batch;
}

fpf_status fpf_grok_step(fpf_grok *g, fpf_error *err) {
  size_t n;
  const int *pairs = next_batch(g, &n);
  fpf_status st = fpf_grok_model_loss(g->model, pairs, n, NULL, NULL,
                                      g->grad, err);
  if (!st)
    st = fpf_grok_adamw_step(g->opt, fpf_grok_model_params(g->model),
                             g->grad, err);
  if (st) {
    fpf_error_prefix(err, "step %ld: ", g->step + 1);
    return st;
  }
  g->step++;
  return FPF_OK;
}

static fpf_status push_row(fpf_grok *g, const fpf_grok_row *r,
                           fpf_error *err) {
  if (g->nrows == g->caprows) {
    size_t cap = g->caprows ? 2 * g->caprows : 256;
    fpf_grok_row *rows = realloc(g->rows, cap * sizeof *rows);
    if (!rows) return fpf_error_set(err, FPF_ENOMEM, "rows: no memory");
    g->rows = rows, g->caprows = cap;
  }
  g->rows[g->nrows++] = *r;
  return FPF_OK;
}

static void blank_metrics(fpf_metrics *m, long step) {
  memset(m, 0, sizeof *m);
  m->step = step;
  m->t = m->eta = m->c = m->boost = m->h = m->loss_mean = NAN;
  m->C = m->log_C = m->C_vel = m->log_C_vel = NAN;
  m->S_dot = m->H_kde = m->H_knn = m->T_eff = m->T_gibbs = NAN;
  m->mu_rms = m->div_max = m->div_over_rho_max = NAN;
}

/* The reset rule of the header comment; fires after the observation. */
static fpf_status maybe_reset(fpf_grok *g, fpf_grok_row *r,
                              fpf_error *err) {
  const fpf_grok_options *o = &g->o;
  double ratio = o->trigger == FPF_TRIGGER_C ? r->flow.C : r->flow.C_vel;
  if (isfinite(ratio) && !(ratio <= g->peak)) g->peak = ratio;
  double thr = o->C_threshold * (o->threshold_relative ? g->peak : 1.0);
  if (!o->resets || !isfinite(ratio) || !(ratio < thr) ||
      g->step < o->warmup ||
      (g->last_reset >= 0 && g->step - g->last_reset < o->cooldown))
    return FPF_OK;
  fpf_status st = fpf_grok_model_shrink_perturb(g->model, o->reset_alpha,
                                                ++g->resets, err);
  if (st) return st;
  g->last_reset = g->step;
  r->reset = 1;
  fpf_logf(o->log, o->log_user, FPF_LOG_DEBUG,
           "step %ld: %s = %.4g < %.4g: shrink and perturb (alpha %g), "
           "reset %llu", g->step,
           o->trigger == FPF_TRIGGER_C ? "C" : "C_vel", ratio, thr,
           o->reset_alpha, (unsigned long long)g->resets);
  return FPF_OK;
}

fpf_status fpf_grok_observe(fpf_grok *g, fpf_grok_row *row, fpf_error *err) {
  fpf_grok_row r;
  memset(&r, 0, sizeof r);
  r.step = g->step;
  blank_metrics(&r.flow, g->step);
  if (g->step == g->last_observed)
    return fpf_error_set(err, FPF_EINVAL, "step %ld is already observed",
                         g->step);
  fpf_status st;
  if ((st = fpf_grok_model_loss(g->model, g->train, g->n_train,
                                &r.train_loss, &r.train_acc, NULL, err)) ||
      (st = fpf_grok_model_loss(g->model, g->test, g->n_test, &r.test_loss,
                                &r.test_acc, NULL, err)))
    goto fail;
  if (g->mon) {
    if ((st = fpf_grok_model_latents(g->model, g->probe, g->n_probe, g->z,
                                     g->gz, g->ploss, err)))
      goto fail;
    if ((st = fpf_monitor_push(g->mon, g->step, g->z, g->gz, g->ploss,
                               &r.flow, err))) {
      fpf_error_prefix(err, "monitor: ");
      goto fail;
    }
    r.flow.step = g->step;
  }
  if ((st = maybe_reset(g, &r, err)) || (st = push_row(g, &r, err)))
    goto fail;
  g->last_observed = g->step;
  if (row) *row = r;
  return FPF_OK;
fail:
  fpf_error_prefix(err, "observation at step %ld: ", g->step);
  return st;
}

fpf_status fpf_grok_train(fpf_grok *g, long steps, fpf_grok_row_fn fn,
                          void *user, fpf_error *err) {
  if (steps < 0)
    return fpf_error_set(err, FPF_EINVAL, "steps = %ld: must be >= 0",
                         steps);
  fpf_grok_row r;
  fpf_status st;
  if (g->last_observed < g->step) {
    if ((st = fpf_grok_observe(g, &r, err))) return st;
    if (fn && fn(user, &r))
      return fpf_error_set(err, FPF_ESTOPPED, "stopped at step %ld",
                           g->step);
  }
  long end = g->step + steps;
  while (g->step < end) {
    if ((st = fpf_grok_step(g, err))) return st;
    if (g->step % g->o.eval_every != 0 && g->step != end) continue;
    if ((st = fpf_grok_observe(g, &r, err))) return st;
    if (fn && fn(user, &r))
      return fpf_error_set(err, FPF_ESTOPPED, "stopped at step %ld",
                           g->step);
  }
  return FPF_OK;
}

long fpf_grok_steps_done(const fpf_grok *g) { return g->step; }

size_t fpf_grok_rows(const fpf_grok *g, const fpf_grok_row **rows) {
  if (rows) *rows = g->rows;
  return g->nrows;
}

fpf_grok_model *fpf_grok_get_model(fpf_grok *g) { return g->model; }
const fpf_grok_data *fpf_grok_get_data(const fpf_grok *g) { return g->data; }
const fpf_monitor *fpf_grok_get_monitor(const fpf_grok *g) { return g->mon; }

fpf_status fpf_grok_transitions(const fpf_grok *g, size_t *rows_out,
                                size_t *n_out, fpf_error *err) {
  *n_out = 0;
  if (!g->mon || g->nrows < 3) return FPF_OK;
  return fpf_monitor_transitions(g->mon, rows_out, n_out, err);
}
