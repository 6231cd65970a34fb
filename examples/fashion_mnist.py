#!/usr/bin/python3
"""A small CNN on Fashion-MNIST with fpflow watching its latents.

The source document's "production example" trains a CNN on CIFAR-10,
computes the consolidation ratio C of the latents every 100 batches and
applies a shrink-and-perturb reset when C falls below C_threshold.  This
is the same experiment on Fashion-MNIST (Debian package
dataset-fashion-mnist) with Debian's PyTorch on the CPU:

  - the CNN: conv 16 - pool - conv 32 - pool - dense 128 (the latents) -
    dense 10, trained with Adam (lr 1e-3, batches of 128) as in the source;
  - every --check-every batches, fpflow.torch reads the 128-d latents of a
    fixed probe batch of training images (a forward hook) with each probe
    sample's loss gradient with respect to its latent, and computes C,
    C_vel, the entropy production and the entropy (fpflow's flow);
  - with --resets, a reset (theta <- (1 - alpha) theta + alpha theta_fresh)
    follows a check whose trigger ratio is below --C-threshold.

Writes to --out: metrics.csv (one row per check), epochs.csv (train and
test accuracy per epoch), summary.json and figure.png (accuracy, C(t) with
the resets, loss).

  /usr/bin/python3 examples/fashion_mnist.py --quick           # < 1 min
  /usr/bin/python3 examples/fashion_mnist.py                   # full data
  /usr/bin/python3 examples/fashion_mnist.py --resets
"""

import argparse
import csv
import gzip
import json
import os
import struct
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
           "Shirt", "Sneaker", "Bag", "Ankle boot")
# Mean and standard deviation of the training images' pixels (in [0, 1]),
# measured on the 60000 training images of the package.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530


class DataError(Exception):
    """A missing or malformed data file (exit code 2)."""


# ---- data ----------------------------------------------------------------

def read_idx(path, ndim):
    """An IDX file (gzip-compressed) as a uint8 array.  IDX: two zero
    bytes, a type byte (0x08 = unsigned byte), the rank, then one
    big-endian uint32 per dimension and the data in C order."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError("%s: no such file; install the Debian package "
                        "dataset-fashion-mnist or pass --data DIR" % path)
    except (OSError, EOFError) as e:
        raise DataError("%s: cannot read: %s" % (path, e))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError("%s: not an IDX file (bad magic number)" % path)
    if raw[2] != 0x08 or raw[3] != ndim:
        raise DataError("%s: expected unsigned bytes of rank %d, found type "
                        "0x%02x of rank %d" % (path, ndim, raw[2], raw[3]))
    head = 4 + 4 * ndim
    shape = struct.unpack(">%dI" % ndim, raw[4:head])
    want = int(np.prod(shape))
    if len(raw) - head != want:
        raise DataError("%s: expected %d bytes of data for shape %s, found "
                        "%d" % (path, want, shape, len(raw) - head))
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape)


def load(data_dir, kind):
    """Images (n, 1, 28, 28) float32, standardised, and labels int64."""
    pre = "train" if kind == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, pre + "-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(data_dir, pre + "-labels-idx1-ubyte.gz"), 1)
    if x.shape[0] != y.shape[0] or x.shape[1:] != (28, 28):
        raise DataError("%s: %d images of %s for %d labels" %
                        (data_dir, x.shape[0], x.shape[1:], y.shape[0]))
    x = (x.astype(np.float32) / 255.0 - PIXEL_MEAN) / PIXEL_STD
    return x[:, None, :, :], y.astype(np.int64)


# ---- the model -----------------------------------------------------------

def make_model(torch):
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten())
            # the penultimate layer: its output is what fpflow watches
            self.hidden = nn.Sequential(nn.Linear(32 * 7 * 7, 128),
                                        nn.ReLU())
            self.classifier = nn.Linear(128, 10)

        def forward(self, x):
            return self.classifier(self.hidden(self.features(x)))

        def get_latent(self, x):
            return self.hidden(self.features(x))

    return SmallCNN()


def evaluate(torch, model, x, y, batch=2000):
    """Accuracy and mean cross-entropy of the model on (x, y)."""
    was = model.training
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i:i + batch])
            loss += float(torch.nn.functional.cross_entropy(
                out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    model.train(was)
    return correct / len(y), loss / len(y)


# ---- outputs -------------------------------------------------------------

ROW_KEYS = ("step", "epoch", "train_loss", "C", "log_C", "C_vel",
            "log_C_vel", "S_dot", "H_kde", "H_knn", "h", "mu_rms",
            "probe_loss", "probe_accuracy", "reset")


def write_csv(path, rows, keys):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in rows:
            w.writerow([("%.17g" % r[k]) if isinstance(r[k], float) else
                        int(r[k]) if isinstance(r[k], bool) else r[k]
                        for k in keys])
    os.replace(tmp, path)


def figure(path, rows, epochs, args, steps_per_epoch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = np.array([r["step"] for r in rows])
    C = np.array([r["C"] for r in rows])
    Cv = np.array([r["C_vel"] for r in rows])
    resets = step[np.array([r["reset"] for r in rows], dtype=bool)]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    ep = [e["epoch"] + 1 for e in epochs]
    ax[0].plot(ep, [e["train_accuracy"] for e in epochs], "o-",
               label="train (running, in the epoch)")
    ax[0].plot(ep, [e["test_accuracy"] for e in epochs], "s-",
               label="test")
    ax[0].plot(step / steps_per_epoch,
               [r["probe_accuracy"] for r in rows], ".", alpha=0.4,
               label="probe batch")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("accuracy")
    ax[0].set_title("Accuracy")
    ax[0].legend(fontsize=8)
    # C and C_vel differ by up to 1e160 on wide latents (C carries the
    # KDE's normalisation): one log axis each
    ax[1].semilogy(step, Cv, color="C1",
                   label="C_vel = |mu| / |D grad log rho|")
    ax[1].set_ylabel("C_vel", color="C1")
    twin = ax[1].twinx()
    twin.semilogy(step, C, color="C0", label="C = |mu| / |D grad rho|")
    twin.set_ylabel("C", color="C0")
    trig = ax[1] if args.trigger == "C_vel" else twin
    trig.axhline(args.C_threshold, color="r", ls="--",
                 label="C_threshold = %g (on %s)" % (args.C_threshold,
                                                     args.trigger))
    for k, s in enumerate(resets):
        ax[1].axvline(s, color="k", lw=0.8, alpha=0.6,
                      label="reset" if k == 0 else None)
    h1, l1 = ax[1].get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax[1].legend(h1 + h2, l1 + l2, fontsize=8)
    ax[1].set_xlabel("training step (batch)")
    ax[1].set_title("Consolidation ratio of the latents")
    ax[2].plot(step, [r["train_loss"] for r in rows], label="train")
    ax[2].plot(step, [r["probe_loss"] for r in rows], label="probe batch")
    for s in resets:
        ax[2].axvline(s, color="k", lw=0.8, alpha=0.6)
    ax[2].set_xlabel("training step (batch)")
    ax[2].set_ylabel("cross-entropy")
    ax[2].set_title("Loss")
    ax[2].legend(fontsize=8)
    fig.suptitle("Fashion-MNIST CNN, seed %d, resets %s" %
                 (args.seed, "on (alpha = %g)" % args.alpha if args.resets
                  else "off"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---- the run -------------------------------------------------------------

def parse(argv):
    p = argparse.ArgumentParser(
        description="A CNN on Fashion-MNIST, with fpflow's consolidation "
        "ratio on its latents and optional shrink-and-perturb resets.")
    p.add_argument("--data", default=DATA_DIR,
                   help="directory of the IDX files (default %(default)s)")
    p.add_argument("--out", "-o", default="out/fashion_mnist",
                   help="output directory (default %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default 4 (--quick: 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--train-size", type=int, default=None,
                   help="use this many training images (default 0: all "
                   "60000; --quick: 5000)")
    p.add_argument("--test-size", type=int, default=None,
                   help="use this many test images (default 0: all 10000; "
                   "--quick: 1000)")
    p.add_argument("--probe-size", type=int, default=None,
                   help="default 512 (--quick: 256)")
    p.add_argument("--check-every", type=int, default=None,
                   help="batches between two checks (default 100 as in "
                   "the source; --quick: 5)")
    p.add_argument("--resets", action="store_true",
                   help="reset when the trigger ratio < C_threshold")
    p.add_argument("--trigger", choices=("C", "C_vel"), default="C")
    p.add_argument("--C-threshold", type=float, default=0.5)
    p.add_argument("--alpha", type=float, default=0.15,
                   help="shrink-and-perturb strength (the source: 0.15)")
    p.add_argument("--warmup", type=int, default=3,
                   help="checks before the first possible reset")
    p.add_argument("--cooldown", type=int, default=5,
                   help="checks between two resets")
    p.add_argument("--mode", choices=("model", "trajectory"),
                   default="model", help="drift from the probe's loss "
                   "gradients (the source) or from the latents' motion "
                   "between checks (Kramers-Moyal)")
    p.add_argument("--entropy-form", choices=("source", "wasserstein"),
                   default="source")
    p.add_argument("--eta0", type=float, default=0.01)
    p.add_argument("--lambda-reg", type=float, default=0.001)
    p.add_argument("--D0", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true",
                   help="a small run: 5000 training and 1000 test images, "
                   "1 epoch, a check every 5 batches")
    p.add_argument("--no-figure", action="store_true")
    a = p.parse_args(argv)
    quick = {"train_size": 5000, "test_size": 1000, "epochs": 1,
             "check_every": 5, "probe_size": 256}
    full = {"train_size": 0, "test_size": 0, "epochs": 4,
            "check_every": 100, "probe_size": 512}
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    for name in ("epochs", "batch_size", "probe_size", "check_every",
                 "threads"):
        if getattr(a, name) < 1:
            p.error("--%s = %d: must be >= 1" %
                    (name.replace("_", "-"), getattr(a, name)))
    for name in ("train_size", "test_size"):
        if getattr(a, name) < 0:
            p.error("--%s = %d: must be >= 0" %
                    (name.replace("_", "-"), getattr(a, name)))
    if not 0 <= a.alpha <= 1:
        p.error("--alpha = %g: must be in [0, 1]" % a.alpha)
    return a


def import_fpflow():
    """fpflow, installed or from this source tree (python/ beside
    examples/)."""
    try:
        import fpflow
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "..", "python"))
        import fpflow
    return fpflow


def run(args):
    # the data first: a missing package is reported before the imports
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "test")

    import torch

    fpflow = import_fpflow()
    from fpflow.torch import FPETorchWrapper, LatentProbe

    torch.set_num_threads(args.threads)
    fpflow.set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    if args.train_size:
        keep = rng.choice(len(ytr), min(args.train_size, len(ytr)),
                          replace=False)
        xtr, ytr = xtr[keep], ytr[keep]
    if args.test_size:
        keep = rng.choice(len(yte), min(args.test_size, len(yte)),
                          replace=False)
        xte, yte = xte[keep], yte[keep]
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)
    probe_idx = torch.from_numpy(
        rng.choice(len(ytr), min(args.probe_size, len(ytr)), replace=False))

    model = make_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    probe = LatentProbe(model, model.hidden, xtr[probe_idx],
                        ytr[probe_idx])
    fpe = FPETorchWrapper(model, probe, eta_0=args.eta0,
                          lambda_reg=args.lambda_reg, D_0=args.D0,
                          enable_resets=args.resets,
                          C_threshold=args.C_threshold,
                          alpha_reset=args.alpha, trigger=args.trigger,
                          warmup=args.warmup, cooldown=args.cooldown,
                          seed=args.seed, mode=args.mode,
                          entropy_form=args.entropy_form)
    gen = torch.Generator().manual_seed(args.seed)
    n_batches = (len(ytr) + args.batch_size - 1) // args.batch_size
    rows, epochs = [], []
    step, t0, cpu0 = 0, time.time(), time.process_time()
    fpflow_seconds = 0.0
    print("fashion_mnist: %d training and %d test images, %d epochs, "
          "probe %d, seed %d, resets %s" % (
              len(ytr), len(yte), args.epochs, len(probe_idx), args.seed,
              "on" if args.resets else "off"), flush=True)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(ytr), generator=gen)
        run_loss, run_n, correct, seen = 0.0, 0, 0, 0
        for b in range(n_batches):
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
            out = model(xtr[idx])
            loss = torch.nn.functional.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            run_loss += float(loss) * len(idx)
            run_n += len(idx)
            correct += int((out.argmax(1) == ytr[idx]).sum())
            seen += len(idx)
            if step % args.check_every == 0:
                tf = time.time()
                m = fpe.measure(epoch + b / n_batches)
                reset = fpe.should_reset(m)
                if reset:
                    fpe.apply_reset(alpha=args.alpha)
                fpflow_seconds += time.time() - tf
                row = {k: m.get(k, float("nan")) for k in ROW_KEYS}
                row.update(step=step, epoch=epoch + b / n_batches,
                           train_loss=run_loss / run_n, reset=reset)
                rows.append(row)
                run_loss, run_n = 0.0, 0
                print("step %5d  epoch %5.2f  loss %.4f  C %.4g  C_vel "
                      "%.4g  probe acc %.3f%s" % (
                          step, row["epoch"], row["train_loss"], row["C"],
                          row["C_vel"], row["probe_accuracy"],
                          "  RESET" if reset else ""), flush=True)
            step += 1
        test_acc, test_loss = evaluate(torch, model, xte, yte)
        epochs.append({"epoch": epoch, "train_accuracy": correct / seen,
                       "test_accuracy": test_acc, "test_loss": test_loss,
                       "seconds": time.time() - t0})
        print("epoch %d: train accuracy %.4f, test accuracy %.4f, %.0f s" %
              (epoch + 1, correct / seen, test_acc, time.time() - t0),
              flush=True)
    probe.remove()
    wall = time.time() - t0
    write_csv(os.path.join(args.out, "metrics.csv"), rows, ROW_KEYS)
    write_csv(os.path.join(args.out, "epochs.csv"), epochs,
              ("epoch", "train_accuracy", "test_accuracy", "test_loss",
               "seconds"))
    summary = {
        "seed": args.seed, "resets_enabled": args.resets,
        "trigger": args.trigger, "C_threshold": args.C_threshold,
        "mode": args.mode, "entropy_form": args.entropy_form,
        "alpha": args.alpha, "epochs": args.epochs,
        "train_images": len(ytr), "test_images": len(yte),
        "probe_size": len(probe_idx), "check_every": args.check_every,
        "resets": [int(r["step"]) for r in rows if r["reset"]],
        "final_test_accuracy": epochs[-1]["test_accuracy"],
        "wall_seconds": wall, "fpflow_seconds": fpflow_seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "threads": args.threads, "torch": torch.__version__,
        "fpflow": fpflow.__version__,
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if not args.no_figure:
        figure(os.path.join(args.out, "figure.png"), rows, epochs, args,
               n_batches)
    print("fashion_mnist: test accuracy %.4f after %d epochs, %d resets, "
          "%.0f s wall, %.0f s CPU (fpflow %.1f s wall); outputs in %s" % (
              summary["final_test_accuracy"], args.epochs,
              len(summary["resets"]), wall, summary["cpu_seconds"],
              fpflow_seconds, args.out))
    return summary


def main(argv=None):
    args = parse(argv)
    try:
        run(args)
    except DataError as e:
        print("fashion_mnist: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
