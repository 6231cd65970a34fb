"""Transitions found by fpflow next to the step where grokking happened.

usage: /usr/bin/python3 report.py OUT   (the directory run.sh filled)
"""

import csv
import json
import math
import os
import sys


def rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in
                csv.DictReader(f)]


def at_step(metrics, step, key):
    for r in metrics:
        if r["step"] == step:
            return r[key]
    return math.nan


def first_below(metrics, key, mark):
    for r in metrics:
        if r[key] < mark:
            return int(r["step"])
    return None


def describe(out, mode, train):
    res = json.load(open(os.path.join(out, mode, "transitions.json")))
    metrics = rows(os.path.join(out, mode, "metrics.csv"))
    steps = [t["step"] for t in res["transitions"]]
    alerts = [a["step"] for a in res["alerts"]]
    crit = res.get("criteria", {})
    lines = ["%s mode: %d transition%s%s; %d alert%s%s" % (
        mode, len(steps), "" if len(steps) == 1 else "s",
        " at step " + ", ".join(str(s) for s in steps) if steps else "",
        len(alerts), "" if len(alerts) == 1 else "s",
        " (steps %d to %d)" % (alerts[0], alerts[-1]) if alerts else "")]
    marks = [("memorised (train acc 99%)", train["train_acc_99_step"]),
             ("val acc 10%", train["val_acc_10_step"]),
             ("val acc 50%", train["val_acc_50_step"]),
             ("val acc 90%", train["val_acc_90_step"]),
             ("end", metrics[-1]["step"])]
    cells = []
    for name, step in marks:
        if step is None:
            continue
        cells.append("%s, step %d: C_vel %.3g" % (
            name, step, at_step(metrics, step, "C_vel")))
    lines += ["  " + c for c in cells]
    for name in ("drop", "spike", "plateau"):
        st = crit.get(name, [])
        lines.append("  %s criterion held at %d step%s%s" % (
            name, len(st), "" if len(st) == 1 else "s",
            ": " + " ".join(str(x) for x in st) if 0 < len(st) <= 20
            else ""))
    below = first_below(metrics, "C_vel", 1.0)
    lines.append("  C_vel first below 1: %s" % (
        "never" if below is None else "step %d" % below))
    return lines


def main():
    out = sys.argv[1]
    train = json.load(open(os.path.join(out, "training.json")))
    def at(key):
        s = train[key]
        return "not reached" if s is None else "at step %d" % s

    print("validation accuracy: 10%% %s, 50%% %s, 90%% %s (training "
          "accuracy 99%% %s; final validation accuracy %.3f)" % (
              at("val_acc_10_step"), at("val_acc_50_step"),
              at("val_acc_90_step"), at("train_acc_99_step"),
              train["final"]["val_acc"]))
    for mode in ("model", "trajectory"):
        print("\n".join(describe(out, mode, train)))


if __name__ == "__main__":
    main()
