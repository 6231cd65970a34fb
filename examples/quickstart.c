/*
 * The source document's quick start through fpflow's C library: 500
 * particles on the two wells, 100 steps, and C(t) printed every 10 steps.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs fpflow) -o quickstart
 */
#include <stdio.h>
#include <stdlib.h>

#include <fpflow/fpflow.h>

int main(void) {
  enum { N = 500, D = 2, STEPS = 100 };
  fpf_error err;
  fpf_landscape *wells;
  if (fpf_landscape_two_wells(&wells, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }

  /* z ~ N(0, I), drawn with fpflow's counter-based generator */
  double *z0 = malloc(N * D * sizeof *z0);
  for (size_t i = 0; i < N; i++) fpf_rng_normals(42, 3, 0, i, z0 + i * D, D);

  fpf_dyn_options o;
  fpf_dyn_options_init(&o); /* the source's defaults */
  o.eta0 = 0.1;
  o.D0 = 0.5;
  fpf_dyn *dyn;
  if (fpf_dyn_create(&dyn, wells, N, z0, &o, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  for (int k = 0; k < STEPS; k++) {
    fpf_metrics m;
    if (fpf_dyn_step(dyn, &m, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    if (k % 10 == 0)
      printf("step %3ld  C = %.4f  C_vel = %.4f  S_dot = %.4f  loss = %.4f\n",
             m.step, m.C, m.C_vel, m.S_dot, m.loss_mean);
  }
  fpf_dyn_destroy(dyn);
  fpf_landscape_destroy(wells);
  free(z0);
  return 0;
}
