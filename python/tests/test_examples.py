"""The Python examples run end to end: the quick start and the
Fashion-MNIST CNN on a small subset (with resets)."""

import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fpflow

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
FMNIST = "/usr/share/datasets/fashion-mnist"


def run_example(name, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["FPFLOW_LIB"] = fpflow.lib_path
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name)]
                          + list(args), capture_output=True, text=True,
                          env=env, timeout=300)


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_python_quickstart(tmp_path):
    pytest.importorskip("matplotlib")
    r = run_example("python_quickstart.py", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Final consolidation ratio" in r.stdout
    assert is_png(tmp_path / "figure.png")
    m = np.genfromtxt(tmp_path / "metrics.csv", delimiter=",", names=True)
    assert len(m) == 100
    # the same run in this process: same particles, bit for bit
    dyn = fpflow.Dynamics(fpflow.two_wells(), eta0=0.1, D0=0.5, seed=42)
    zf, ref = dyn.train_epoch(fpflow.normal_ensemble(500, 2, 42), 100)
    assert np.array_equal(np.load(tmp_path / "z_final.npy"), zf)
    assert np.array_equal(m["C"], ref["C"])


needs_data = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist is not installed")


@needs_data
def test_fashion_mnist_quick_subset_with_resets(tmp_path):
    """1200 training images, one epoch of 10 batches, a check every 2
    batches; a trigger that always fires (C_vel < 1e9) with warm-up 1 and
    cool-down 2 resets at checks 1 and 3, i.e. steps 2 and 6."""
    pytest.importorskip("torch")
    r = run_example("fashion_mnist.py", "--quick", "--train-size", "1200",
                    "--test-size", "500", "--probe-size", "128",
                    "--check-every", "2", "--resets", "--trigger", "C_vel",
                    "--C-threshold", "1e9", "--warmup", "1", "--cooldown",
                    "2", "--seed", "1", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(x["step"]) for x in rows] == [0, 2, 4, 6, 8]
    assert [x["reset"] for x in rows] == ["0", "1", "0", "1", "0"]
    for x in rows:
        assert np.isfinite(float(x["C_vel"])) and float(x["C_vel"]) > 0
        assert 0 <= float(x["probe_accuracy"]) <= 1
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["resets"] == [2, 6] and s["seed"] == 1
    # ten classes: chance is 0.1; ten batches already do better
    assert s["final_test_accuracy"] > 0.2
    assert is_png(tmp_path / "figure.png")


def test_fashion_mnist_bad_data_exits_2(tmp_path):
    pytest.importorskip("torch")
    r = run_example("fashion_mnist.py", "--quick", "--data",
                    str(tmp_path), "-o", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "train-images-idx3-ubyte.gz: no such file" in r.stderr
    assert "dataset-fashion-mnist" in r.stderr
    # a truncated file: the message gives both sizes
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") +
                (28).to_bytes(4, "big") * 2 + bytes(100))
    r = run_example("fashion_mnist.py", "--quick", "--data",
                    str(tmp_path), "-o", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "expected 7840 bytes of data for shape (10, 28, 28), found 100" \
        in r.stderr
    r = run_example("fashion_mnist.py", "--alpha", "2")
    assert r.returncode == 2 and "--alpha = 2" in r.stderr
