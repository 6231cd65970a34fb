/*
 * fpflow: Fokker-Planck particle dynamics of learning.
 *
 * The umbrella header.  Modules:
 *   status.h     status codes, error reports, log callback type
 *   rng.h        Philox4x64-10 numbers keyed by (seed, stream, step, index)
 *   landscape.h  loss landscapes with gradients (built-in and user)
 *   kde.h        log-space Gaussian KDE: log density, score, flux divergence
 *   flow.h       drift, diffusion and observables of one instant
 *   dyn.h        Euler-Maruyama particle dynamics with resets
 *   detect.h     post-hoc detection of phase transitions
 *   npy.h        NumPy .npy files
 *   monitor.h    observables of training snapshots
 *   snapshots.h  readers for series of latents (.npy, HDF5)
 *   pde.h        the grid solver in 1-2 dimensions
 *   transport.h  Wasserstein distances, Gibbs samples, KL
 *   grok.h       the modular-addition trainer
 */
#ifndef FPFLOW_FPFLOW_H
#define FPFLOW_FPFLOW_H

#include "fpflow/detect.h"
#include "fpflow/dyn.h"
#include "fpflow/flow.h"
#include "fpflow/grok.h"
#include "fpflow/kde.h"
#include "fpflow/landscape.h"
#include "fpflow/monitor.h"
#include "fpflow/npy.h"
#include "fpflow/pde.h"
#include "fpflow/snapshots.h"
#include "fpflow/transport.h"
#include "fpflow/rng.h"
#include "fpflow/status.h"
#include "fpflow/version.h"

#endif
