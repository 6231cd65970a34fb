"""Test set-up: the package under test is this tree's python/fpflow, and
the library is $FPFLOW_LIB (tests/cli_python.sh sets it to the build's
libfpflow.so), else what fpflow's loader finds.  $FPFLOW_CLI names the
fpflow command for the comparisons with the C command line."""

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYDIR)
sys.path.insert(0, PYDIR)


def pytest_report_header(config):
    import fpflow
    return "fpflow %s from %s, libfpflow %s" % (
        fpflow.__version__, os.path.dirname(fpflow.__file__),
        fpflow.lib_path)


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def fpflow_cli():
    """Path of the fpflow command, or skip."""
    cand = [os.environ.get("FPFLOW_CLI"),
            os.path.join(os.path.dirname(os.environ.get("FPFLOW_LIB", "")),
                         "fpflow") if os.environ.get("FPFLOW_LIB") else None,
            os.path.join(ROOT, "build", "fpflow"), shutil.which("fpflow")]
    for c in cand:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.skip("no fpflow command found (set FPFLOW_CLI)")
