/* The grid solver's state and its numerical kernels (pde.h); not
   installed. */
#ifndef FPF_PDE_INTERNAL_H
#define FPF_PDE_INTERNAL_H

#include <stddef.h>

#include "fpflow/pde.h"

struct fpf_pde {
  fpf_pde_options o;
  size_t dim, n[2], size;
  size_t stride[2];  /* cell index step along each axis */
  double h[2], vol;  /* cell widths and volume */
  double *x[2];      /* cell centres along each axis */
  double *L;         /* L at the cell centres */
  double *grad;      /* grad L at the centres (size x dim) */
  double *dL[2];     /* L[c] - L[c + stride] at the face above cell c; 0
                        at the wall */
  double *rho, *prev;   /* the density, and a copy from the step's start */
  double *Phi;          /* entropy term: Phi of the lagged density */
  double *ra[2], *rb[2]; /* face coefficients per axis (pde_scheme.c) */
  double key[2][3];     /* (eta, D, scale) they were made for, per axis */
  int keyed[2];         /* whether key holds (no entropy term) */
  double *e, *ip;       /* Thomas workspace: e, and the pivots' inverses */
  double t, mass0;
  long steps;
  size_t nwells;        /* interior local minima of L on the grid */
  double *well_z, *well_H; /* their centres and Hessian diagonals (dim) */
};

/* Bernoulli function B(w) = w / (e^w - 1), B(0) = 1, for any w. */
double fpf_pde_bernoulli(double w);

/* Chang-Cooper weight delta(w) = 1/(1 - e^-w) - 1/w, delta(0) = 1/2. */
double fpf_pde_cc_delta(double w);

/*
 * Scaled flux coefficients of a face: J = (D/h) (a rho_left - b
 * rho_right) with a = B(-w), b = B(w), evaluated the way `flux` says.
 * Both are >= 0.
 */
void fpf_pde_face_coefficients(fpf_pde_flux_form flux, double w, double *a,
                               double *b);

/*
 * The mean of phi(r) = r (1 + log r) over [r1, r2]: the source form's
 * entropy flux eta lambda phi(rho) grad rho written as a face diffusion
 * (pde.h).  Exact for a density linear in Phi across the face.
 */
double fpf_pde_entropy_phi(double r1, double r2);

/* Phi(r) = r^2/4 + r^2 log(r)/2 of each cell of r into p->Phi, for the
   source-form entropy term (nothing otherwise). */
void fpf_pde_entropy_prepare(fpf_pde *p, const double *r);

/*
 * One implicit sweep along an axis over all grid lines: face
 * coefficients at (eta, D_axis) and the entropy term from p->prev (its
 * Phi prepared by fpf_pde_entropy_prepare), then
 * (I + step A) rho = rho by the subtraction-free Thomas algorithm.
 * FPF_ENOTPD when the effective diffusion of a face is not > 0 (rho is
 * unchanged then).
 */
fpf_status fpf_pde_sweep(fpf_pde *p, int axis, double step, double eta,
                         double D, fpf_error *err);

/* The flux at every face along an axis (into ra, per the face layout of
   dL) for the current density; returns max |w|. */
double fpf_pde_face_flux(fpf_pde *p, int axis, double eta, double D,
                         double *J);

/* F = int grad L grad L^T rho / mass over the density r (F_11, F_22,
   F_12). */
void fpf_pde_fisher(const fpf_pde *p, const double *r, double F[3]);

#endif
