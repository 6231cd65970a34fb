/*
 * The grid solver: fpflow's Fokker-Planck equation in one or two
 * dimensions by finite volumes, the ground truth that particle runs are
 * checked against (SPEC section 7).
 *
 *   d rho/dt = div(eta(t) rho grad L) + div(D_eff grad rho)
 *
 * on a box with no-flux walls and a cell-centred density rho.
 *
 * Coefficients, for a landscape L of dimension 1 or 2:
 *   eta(t), c(t)  the schedules of dyn.h (fpf_schedule_eta/_c)
 *   D_k           c(t) s_k (1 + gamma F_kk): scalar (s_1 = s_2) or
 *                 diagonal; F = int grad L grad L^T rho dz / mass, from
 *                 the grid density of the step before (lagged).  The
 *                 particles' D is the full matrix c (I + gamma F); the
 *                 grid keeps only its diagonal, which the direction
 *                 splitting needs.  In 1-D nothing is dropped.
 *   entropy term  the drift -eta lambda g.  Its flux rho (-eta lambda g)
 *                 is a gradient of rho, so it is written as a change of
 *                 the diffusion at each cell face:
 *                   source      g = -grad rho (1 + log rho):
 *                               D_eff = D_k - eta lambda phi,
 *                               phi the mean of r (1 + log r) for r
 *                               between the face's two cell values of
 *                               the step before (lagged)
 *                   wasserstein g = -grad log rho:
 *                               D_eff = D_k - eta lambda, exact
 *                 D_eff must stay > 0 (lambda > 0 makes dense regions
 *                 anti-diffusive); otherwise the step fails with
 *                 FPF_ENOTPD, naming the face, rho and D_eff.
 *
 * Scheme:
 *   fluxes        at the face between cells i and i+1 (width h):
 *                   J = (D_eff / h) [B(-w) rho_i - B(w) rho_{i+1}],
 *                   w = eta (L_i - L_{i+1}) / D_eff,  B(w) = w/(e^w - 1)
 *                 the drift enters through the jump of L between cell
 *                 centres, so rho_i proportional to exp(-eta L_i / D)
 *                 (the discrete Gibbs state) has zero flux at every face,
 *                 in 1-D and 2-D.  FPF_PDE_CHANG_COOPER writes the same
 *                 flux with Chang and Cooper's weight (J. Comput. Phys.
 *                 6, 1970): J = u (delta rho_i + (1 - delta) rho_{i+1})
 *                 - D (rho_{i+1} - rho_i)/h, delta = 1/(1 - e^-w) - 1/w;
 *                 FPF_PDE_SCHARFETTER_GUMMEL writes it with the Bernoulli
 *                 function B (IEEE Trans. Electron Devices 16, 1969).
 *                 The two agree in exact arithmetic; the Bernoulli form
 *                 keeps full relative accuracy when |w| > ~20, where the
 *                 Chang-Cooper coefficients lose digits to cancellation.
 *   time          backward Euler, with the coefficients at the end of
 *                 the step; first order in time.  Each solve is a
 *                 tridiagonal M-matrix whose columns sum to one, solved
 *                 by a subtraction-free Thomas algorithm, so rho >= 0 and
 *                 mass is conserved to round-off for any dt.
 *   2-D           direction splitting: an implicit sweep along axis 1
 *                 (one tridiagonal solve per grid line), then along axis
 *                 2 (Lie, first order), or half, full, half steps
 *                 (Strang; still first order overall because each sweep
 *                 is backward Euler, but with a smaller splitting
 *                 error).  Every sweep keeps rho >= 0 and the mass of
 *                 each line.
 *   space         second order (the flux is exact for a potential that
 *                 is linear across each face).
 *
 * Layout: rho[i1 * n2 + i2], i1 along axis 1 (z_1), i2 along axis 2
 * (n2 = 1 in 1-D); cell (i1, i2) has centre (lo_1 + (i1 + 1/2) h_1,
 * lo_2 + (i2 + 1/2) h_2).  A density is per unit volume: the mass is
 * sum rho h_1 h_2.  Initial densities are normalised to mass 1.
 *
 * The landscape is evaluated only by fpf_pde_create (its values and
 * gradients at the cell centres are kept).  A solver is one thread's
 * object; its loops may use OpenMP with results that do not depend on
 * the number of threads.
 */
#ifndef FPFLOW_PDE_H
#define FPFLOW_PDE_H

#include <stddef.h>

#include "fpflow/dyn.h"
#include "fpflow/landscape.h"
#include "fpflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fpf_pde_flux_form {
  FPF_PDE_CHANG_COOPER = 0,
  FPF_PDE_SCHARFETTER_GUMMEL = 1
} fpf_pde_flux_form;

typedef enum fpf_pde_splitting {
  FPF_PDE_LIE = 0,
  FPF_PDE_STRANG = 1
} fpf_pde_splitting;

/* "chang_cooper" / "scharfetter_gummel", "lie" / "strang"; parse
   returns -1 for an unknown name. */
const char *fpf_pde_flux_form_name(fpf_pde_flux_form f);
int fpf_pde_flux_form_parse(const char *s, fpf_pde_flux_form *f);
const char *fpf_pde_splitting_name(fpf_pde_splitting s);
int fpf_pde_splitting_parse(const char *s, fpf_pde_splitting *f);

typedef struct fpf_pde_options {
  double lo[2], hi[2];  /* -6, 6    the box (axis 2 unused in 1-D) */
  size_t cells[2];      /* 120, 120 cells per axis (h = 0.1) */
  double dt;            /* 0.01     time step */
  double t0;            /* 0        time of the initial density */
  fpf_pde_flux_form flux;    /* chang_cooper */
  fpf_pde_splitting splitting; /* lie */
  /*
   * The model, as the particles use it: eta0, tau_eta, D0, tau_D,
   * lambda, gamma and entropy_form are read (fpf_dyn_options_init's
   * defaults); dt, the KDE, reset, seed and log fields are not.
   */
  fpf_dyn_options dyn;
  double diffusion_scale[2]; /* 1, 1   s_k in D_k = c s_k (1 + gamma F) */
  /*
   * Resolution test, at creation and at each step: every well of L
   * (interior local minimum on the grid) must span at least this many
   * cells along each axis, its width being 2 sigma_k, sigma_k =
   * sqrt(D_k / (eta H_kk)) the spread of its Gibbs state (H the Hessian
   * of L at the minimum).  4 by default; 0 turns the test off.
   */
  double min_cells_per_well;
  /* Largest fraction of an initial density that may fall outside the
     box (1e-3); particles outside are dropped and reported. */
  double max_outside;
} fpf_pde_options;

/* Fills o with the defaults above. */
void fpf_pde_options_init(fpf_pde_options *o);

/* Checks the options for a landscape of dimension dim (1 or 2). */
fpf_status fpf_pde_options_check(const fpf_pde_options *o, size_t dim,
                                 fpf_error *err);

typedef struct fpf_pde fpf_pde;

/*
 * A solver for L (dimension 1 or 2) with the density all zero until one
 * of the fpf_pde_set_* calls.  Fails with FPF_EINVAL for bad options or a
 * grid too coarse for L at t0 (see min_cells_per_well), FPF_EUNSUPPORTED
 * for d > 2 and FPF_ENONFINITE when L is not finite at a cell centre.
 */
fpf_status fpf_pde_create(fpf_pde **out, fpf_landscape *L,
                          const fpf_pde_options *o, fpf_error *err);
void fpf_pde_destroy(fpf_pde *p);

size_t fpf_pde_dim(const fpf_pde *p);
/* Cells along axis k (0 or 1; 1 along axis 1 in 1-D) and in all. */
size_t fpf_pde_cells(const fpf_pde *p, int axis);
size_t fpf_pde_size(const fpf_pde *p);
/* Cell width along an axis, and the cells' centres along it. */
double fpf_pde_cell_width(const fpf_pde *p, int axis);
const double *fpf_pde_centres(const fpf_pde *p, int axis);
double fpf_pde_time(const fpf_pde *p);
long fpf_pde_steps_done(const fpf_pde *p);
/* The current density (fpf_pde_size values, layout above). */
const double *fpf_pde_density(const fpf_pde *p);

/* ---- initial densities (each sets the density, keeps the time) ----- */

/* rho as given (fpf_pde_size values >= 0, finite, positive mass),
   normalised to mass 1. */
fpf_status fpf_pde_set_density(fpf_pde *p, const double *rho,
                               fpf_error *err);

/* f at each cell centre z (dim values), normalised to mass 1.  f must be
   >= 0 and finite; a non-zero return of f stops with FPF_ECALLBACK. */
typedef int (*fpf_pde_density_fn)(void *user, const double *z,
                                  double *value);
fpf_status fpf_pde_set_function(fpf_pde *p, fpf_pde_density_fn f,
                                void *user, fpf_error *err);

/* All mass in the cell that holds z0 (a discrete point start). */
fpf_status fpf_pde_set_point(fpf_pde *p, const double *z0, fpf_error *err);

/*
 * The normal law N(mean, diag(std^2)), each cell getting its exact mass
 * (products of erf differences), so std may be below the cell width.
 * More than max_outside of its mass outside the box is FPF_EINVAL.
 */
fpf_status fpf_pde_set_gaussian(fpf_pde *p, const double *mean,
                                const double *std, fpf_error *err);

/*
 * The histogram of n particles z (n x dim) on the grid.  Particles
 * outside the box are dropped and counted in *outside (may be NULL);
 * more than max_outside of them is FPF_EINVAL.
 */
fpf_status fpf_pde_set_particles(fpf_pde *p, const double *z, size_t n,
                                 size_t *outside, fpf_error *err);

/* The discrete Gibbs state at the current time (fpf_pde_gibbs). */
fpf_status fpf_pde_set_gibbs(fpf_pde *p, fpf_error *err);

/* ---- time stepping ---------------------------------------------------- */

/* One step of length h > 0 from the current time. */
fpf_status fpf_pde_step(fpf_pde *p, double h, fpf_error *err);

/*
 * Steps to time t >= the current time in equal steps no longer than the
 * option dt (so t is reached exactly).  On failure the density is that of
 * the last good step and the message names the time.
 */
fpf_status fpf_pde_advance(fpf_pde *p, double t, fpf_error *err);

/* ---- observables ------------------------------------------------------ */

typedef struct fpf_pde_metrics {
  double t;
  long steps;
  double eta, c;
  double D[2];       /* c s_k (1 + gamma F_kk) at t, from rho */
  double mass;       /* sum rho dV */
  double mass_drift; /* (mass - mass at the last set) / that mass */
  double rho_min, rho_max;
  double entropy;    /* -sum rho log rho dV (0 log 0 = 0) */
  double loss_mean;  /* sum L rho dV / mass */
  double mean[2], var[2];
  double fisher[3];  /* F_11, F_22, F_12 */
  double flux_l1;    /* sum over cells of |J| dV, J at the cell centres */
  double edge_mass;  /* mass in the cells that touch a wall, / mass */
  /* KL(rho || discrete Gibbs state at t); NaN in 2-D when D_1 != D_2.
     With lambda != 0 it is the Gibbs state of the linear part. */
  double kl_gibbs;
  double peclet_max; /* max |w| over the faces (the drift per cell) */
} fpf_pde_metrics;

/* The observables of the current density (axis 2 entries 0 in 1-D). */
fpf_status fpf_pde_observe(fpf_pde *p, fpf_pde_metrics *m, fpf_error *err);

/* The flux J at the cell centres (size x dim, the mean of the two faces
   of each cell along each axis), at the current time and density. */
fpf_status fpf_pde_flux(fpf_pde *p, double *J, fpf_error *err);

/*
 * The discrete Gibbs state at time t into rho (fpf_pde_size values,
 * mass 1): rho_i proportional to exp(-eta(t) L_i / D) with D from the
 * current density's F.  FPF_EUNSUPPORTED in 2-D when D_1 != D_2 (the
 * stationary state then carries a circulating flux).
 */
fpf_status fpf_pde_gibbs(fpf_pde *p, double t, double *rho, fpf_error *err);

/*
 * Grid resolution at time t: the fewest cells across a well along each
 * axis (min_cells_per_well's measure; +inf when L has no interior
 * minimum on the grid).  fpf_pde_check_resolution turns a value below
 * min_cells_per_well into an FPF_EINVAL naming the well, the axis, t and
 * what to change.
 */
void fpf_pde_resolution(fpf_pde *p, double t, double cells[2]);
fpf_status fpf_pde_check_resolution(fpf_pde *p, double t, fpf_error *err);

/* ---- particles against the grid --------------------------------------- */

/*
 * The histogram density of n particles z (n x dim) on the grid, pooled
 * in blocks of coarsen x coarsen cells (coarsen >= 1; a last partial
 * block is pooled as it is): hist gets fpf_pde_size values, constant over
 * each block, with mass (n - outside) / n.
 */
fpf_status fpf_pde_histogram(const fpf_pde *p, const double *z, size_t n,
                             size_t coarsen, double *hist, size_t *outside,
                             fpf_error *err);

/*
 * The L1 distance between the particles' histogram (as above) and the
 * grid density pooled the same way, sum |hist - rho| dV, plus the
 * fraction of particles outside the box (where the grid has no mass).
 * Between 0 and 2 for normalised densities.
 */
fpf_status fpf_pde_l1_distance(const fpf_pde *p, const double *z, size_t n,
                               size_t coarsen, double *dist, size_t *outside,
                               fpf_error *err);

#ifdef __cplusplus
}
#endif

#endif
