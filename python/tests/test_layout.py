"""The ctypes structures of fpflow._lib against the C headers: a small C
program, generated from the Python declarations, prints sizeof and
offsetof of every field and the value of every enumeration constant."""

import ctypes
import os
import shutil
import subprocess

import pytest

from fpflow import _lib


def _program():
    heads = sorted({h for _, h in _lib.STRUCTS.values()})
    src = ["#include <stddef.h>", "#include <stdio.h>"]
    src += ['#include "fpflow/%s"' % h for h in heads]
    src += ["#include \"fpflow/rng.h\"", "int main(void) {"]
    for name, (cls, _) in _lib.STRUCTS.items():
        src.append('printf("%s %%zu\\n", sizeof(%s));' % (name, name))
        for f, _t in cls._fields_:
            src.append('printf("%s.%s %%zu %%zu\\n", offsetof(%s, %s), '
                       'sizeof(((%s *)0)->%s));' % (name, f, name, f, name,
                                                    f))
    for k in _lib.ENUMS:
        src.append('printf("%s %%ld\\n", (long)%s);' % (k, k))
    src += ["return 0;", "}"]
    return "\n".join(src) + "\n"


@pytest.fixture(scope="module")
def c_layout(root, tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the headers' layout")
    d = tmp_path_factory.mktemp("layout")
    c = d / "layout.c"
    c.write_text(_program())
    exe = d / "layout"
    r = subprocess.run([cc, "-std=c11", "-I", os.path.join(root, "include"),
                        str(c), "-o", str(exe)], capture_output=True,
                       text=True)
    assert r.returncode == 0, "the C headers no longer match: " + r.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True,
                         check=True).stdout
    table = {}
    for line in out.splitlines():
        key, *vals = line.split()
        table[key] = tuple(int(v) for v in vals)
    return table


@pytest.mark.parametrize("name", sorted(_lib.STRUCTS))
def test_struct_layout(c_layout, name):
    cls = _lib.STRUCTS[name][0]
    assert ctypes.sizeof(cls) == c_layout[name][0], name
    for f, t in cls._fields_:
        off, size = c_layout["%s.%s" % (name, f)]
        assert getattr(cls, f).offset == off, (name, f)
        assert ctypes.sizeof(t) == size, (name, f)


def test_enum_values(c_layout):
    for k, v in _lib.ENUMS.items():
        assert c_layout[k] == (v,), k
