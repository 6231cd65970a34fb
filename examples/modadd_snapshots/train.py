"""Train a small network on (a + b) mod p and save probe snapshots.

The network: one-hot a and b, embeddings E[a] + F[b] (width H), a
quadratic activation h = (E[a] + F[b])**2, and logits h @ W.  Trained
full-batch with AdamW (decoupled weight decay) on a fraction of the p*p
pairs, it first memorises the training pairs and much later generalises
to the others: validation accuracy jumps long after training accuracy
reached 100% ("grokking").

Every EVERY steps it saves, for a fixed probe set of pairs drawn from
the whole table:
  z/z_STEP.npy   the latents h of the probes (probes x H, float32)
  g/g_STEP.npy   each probe's gradient of its own loss with respect to
                 its latent, dL_i/dh_i = (softmax_i - onehot_i) W^T
  loss.npy       the probes' losses (snapshots x probes)
  steps.npy      the steps of the snapshots
  history.csv    step, train/validation loss and accuracy
  training.json  the settings and the steps where the accuracies crossed
                 their marks

Run it with Debian's Python and NumPy: /usr/bin/python3 train.py OUT.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output directory")
    ap.add_argument("--p", type=int, default=59, help="modulus (prime)")
    ap.add_argument("--hidden", type=int, default=128, help="width H")
    ap.add_argument("--frac", type=float, default=0.4,
                    help="fraction of the pairs used for training")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1.0,
                    help="decoupled weight decay (AdamW)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=20,
                    help="snapshot every EVERY steps")
    ap.add_argument("--probes", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


class Model:
    """Embeddings E, F (p x H), output W (H x p), AdamW state."""

    def __init__(self, p, hidden, rng):
        self.params = [rng.normal(0, 1, (p, hidden)),
                       rng.normal(0, 1, (p, hidden)),
                       rng.normal(0, 1, (hidden, p)) / np.sqrt(hidden)]
        self.m = [np.zeros_like(x) for x in self.params]
        self.v = [np.zeros_like(x) for x in self.params]

    def forward(self, a, b):
        E, F, W = self.params
        pre = E[a] + F[b]
        h = pre * pre
        return pre, h, h @ W

    def adamw(self, grads, t, lr, wd, b1=0.9, b2=0.98, eps=1e-8):
        for x, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mh = m / (1 - b1 ** t)
            vh = v / (1 - b2 ** t)
            x -= lr * (mh / (np.sqrt(vh) + eps) + wd * x)


def softmax_ce(logits, y):
    """Per-sample cross-entropy and the softmax."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y], np.exp(logp)


def evaluate(model, a, b, y):
    _, _, logits = model.forward(a, b)
    loss, _ = softmax_ce(logits, y)
    return float(loss.mean()), float((logits.argmax(1) == y).mean())


def train_step(model, a, b, y, onehot_a, onehot_b, t, lr, wd):
    """One full-batch AdamW step on the mean cross-entropy."""
    pre, h, logits = model.forward(a, b)
    _, prob = softmax_ce(logits, y)
    G = prob
    G[np.arange(len(y)), y] -= 1
    G /= len(y)
    W = model.params[2]
    g_pre = (G @ W.T) * 2 * pre
    model.adamw([onehot_a.T @ g_pre, onehot_b.T @ g_pre, h.T @ G], t, lr,
                wd)


def probe_snapshot(model, a, b, y):
    """Latents, per-sample gradients dL_i/dh_i and losses of the probes."""
    _, h, logits = model.forward(a, b)
    loss, prob = softmax_ce(logits, y)
    G = prob
    G[np.arange(len(y)), y] -= 1
    return h, G @ model.params[2].T, loss


def first_step(history, key, mark):
    for row in history:
        if row[key] >= mark:
            return row["step"]
    return None


def main():
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    p = args.p
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    y = (a + b) % p
    perm = rng.permutation(p * p)
    ntrain = int(args.frac * p * p)
    tr, va = perm[:ntrain], perm[ntrain:]
    probes = np.sort(rng.choice(p * p, size=args.probes, replace=False))
    eye = np.eye(p)
    onehot_a, onehot_b = eye[a[tr]], eye[b[tr]]
    model = Model(p, args.hidden, rng)

    for sub in ("z", "g"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    history, losses, steps = [], [], []
    t0 = time.time()
    for step in range(args.steps + 1):
        if step % args.every == 0:
            h, g, loss = probe_snapshot(model, a[probes], b[probes],
                                        y[probes])
            name = "%06d.npy" % step
            np.save(os.path.join(args.out, "z", "z_" + name),
                    h.astype(np.float32))
            np.save(os.path.join(args.out, "g", "g_" + name),
                    g.astype(np.float32))
            losses.append(loss.astype(np.float32))
            steps.append(step)
            trl, tra = evaluate(model, a[tr], b[tr], y[tr])
            val, vaa = evaluate(model, a[va], b[va], y[va])
            history.append({"step": step, "train_loss": trl,
                            "train_acc": tra, "val_loss": val,
                            "val_acc": vaa})
            print("step %5d  train loss %.4f acc %.3f  val loss %.4f "
                  "acc %.3f  (%.1fs)" % (step, trl, tra, val, vaa,
                                         time.time() - t0),
                  file=sys.stderr, flush=True)
        if step < args.steps:
            train_step(model, a[tr], b[tr], y[tr], onehot_a, onehot_b,
                       step + 1, args.lr, args.wd)

    np.save(os.path.join(args.out, "loss.npy"), np.array(losses))
    np.save(os.path.join(args.out, "steps.npy"), np.array(steps))
    with open(os.path.join(args.out, "history.csv"), "w") as f:
        f.write("step,train_loss,train_acc,val_loss,val_acc\n")
        for r in history:
            f.write("%d,%.6g,%.6g,%.6g,%.6g\n" % (
                r["step"], r["train_loss"], r["train_acc"], r["val_loss"],
                r["val_acc"]))
    summary = {
        "settings": vars(args),
        "train_pairs": int(ntrain),
        "validation_pairs": int(p * p - ntrain),
        "train_acc_99_step": first_step(history, "train_acc", 0.99),
        "val_acc_10_step": first_step(history, "val_acc", 0.10),
        "val_acc_50_step": first_step(history, "val_acc", 0.50),
        "val_acc_90_step": first_step(history, "val_acc", 0.90),
        "final": history[-1],
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
