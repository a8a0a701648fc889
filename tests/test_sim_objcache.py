"""sim.objcache: a cached object is reused only where it is valid.

A runtime source outside the build directory can include a header of the
build directory (the C++ harness and cocotb's ``verilator.cpp`` include the
design's ``Vtop.h``, whose members differ between designs). Reusing such an
object for another design corrupted memory (seen: the harness built for the
core, reused for the self-test loopback, read the wrong ports). The cache
must key those objects by the header's contents too.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from sim import objcache

pytestmark = pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")


def _compiler(tmp_path: Path) -> tuple[Path, Path]:
    """A c++ wrapper that logs each compile (-c) it really runs."""
    log = tmp_path / "compiles.log"
    cc = tmp_path / "logcc"
    cc.write_text(f'#!/bin/sh\ncase " $* " in *" -c "*) echo compile >> {log};; esac\nexec c++ "$@"\n')
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    return cc, log


def _compile(cc: Path, build: Path, src: Path, monkeypatch) -> bytes:
    monkeypatch.chdir(build)
    assert objcache.main([str(cc), "-I.", "-MMD", "-O0", "-c", "-o", "harness.o", str(src)]) == 0
    return (build / "harness.o").read_bytes()


def test_an_object_that_includes_a_build_header_is_keyed_by_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EAVS_SIM_CACHE", str(tmp_path / "cache"))
    cc, log = _compiler(tmp_path)
    src = tmp_path / "runtime" / "harness.cpp"
    src.parent.mkdir()
    src.write_text('#include "Vtop.h"\nint ports() { return PORTS; }\n')
    objs = {}
    for name, ports in (("a", 28), ("b", 30), ("c", 28)):
        d = tmp_path / name
        d.mkdir()
        (d / "Vtop.h").write_text(f"#define PORTS {ports}\n")
        objs[name] = _compile(cc, d, src, monkeypatch)
    # a and b compiled (different headers); c is a's design again: served from the cache.
    assert log.read_text().count("compile") == 2
    assert objs["a"] == objs["c"] and objs["a"] != objs["b"]
    assert (tmp_path / "c" / "harness.d").is_file()  # make's dependency file comes with it


def test_an_object_without_build_headers_is_shared_between_designs(tmp_path, monkeypatch):
    monkeypatch.setenv("EAVS_SIM_CACHE", str(tmp_path / "cache"))
    cc, log = _compiler(tmp_path)
    src = tmp_path / "runtime" / "verilated.cpp"
    src.parent.mkdir()
    src.write_text("int runtime() { return 1; }\n")
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        (d / "Vtop.h").write_text(f"#define PORTS {len(name)}\n")
        _compile(cc, d, src, monkeypatch)
    assert log.read_text().count("compile") == 1
    os.utime(src, ns=(1, 1))  # a changed source (mtime) compiles again
    _compile(cc, tmp_path / "a", src, monkeypatch)
    assert log.read_text().count("compile") == 2
