"""The simulator build cache is keyed by every source the RTL depends on.

A core generated from stale sources and compared with today's golden model
would report a false mismatch -- or a false match. ``sim.build`` keys the
generated Verilog by a hash of ``hw/*.py`` and every repository module they
import (found by reading their imports), so that a change to the event word
format in ``sw/events.py`` rebuilds the core too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim import build

ROOT = Path(__file__).resolve().parent.parent


def _copy_tree(dst: Path) -> Path:
    for d in ("hw", "sw"):
        shutil.copytree(ROOT / d, dst / d, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "boards.toml", dst / "boards.toml")
    return dst


def test_rtl_sources_cover_hw_and_the_sw_modules_it_imports():
    names = {str(p.relative_to(ROOT)) for p in build.rtl_sources()}
    # Literal names: the event format and the model file are read by the RTL's generator.
    assert {"hw/rtl/core.py", "hw/spec/protocol.py", "hw/spec/regmap.py", "hw/spec/capacity.py", "hw/flow/generate.py"} <= names
    assert {"sw/events.py", "sw/qnet.py"} <= names
    # Only what the RTL can depend on: not the training code or the simulators.
    assert not {"sw/model.py", "sw/train.py", "sim/build.py", "host/driver.py"} & names


@pytest.mark.parametrize("changed", ["sw/events.py", "sw/qnet.py", "hw/rtl/core.py"])
def test_digest_changes_with_each_rtl_source(tmp_path, changed):
    root = _copy_tree(tmp_path)
    before = build._hw_digest(root)
    assert build._hw_digest(root) == before  # deterministic
    with open(root / changed, "a") as f:
        f.write("\n# a change\n")
    assert build._hw_digest(root) != before


def test_digest_ignores_files_the_rtl_does_not_use(tmp_path):
    root = _copy_tree(tmp_path)
    before = build._hw_digest(root)
    (root / "sw" / "train_notes.py").write_text("x = 1\n")
    assert build._hw_digest(root) == before


@pytest.mark.slow
@pytest.mark.yosys
def test_a_change_to_sw_events_regenerates_the_core(tmp_path, monkeypatch):
    """End to end: generate_core_verilog on a copy of the sources reuses its output until
    sw/events.py changes, then runs the generator again."""
    from sim.scenarios import test_capacity

    root = _copy_tree(tmp_path / "src")
    monkeypatch.setattr(build, "ROOT", root)
    cap = test_capacity(1, max_neurons=8, max_inputs=16, weight_depth=64, max_timesteps=4)
    out = tmp_path / "rtl"
    v = build.generate_core_verilog(cap, out)
    first = v.stat().st_mtime_ns
    v.write_text(v.read_text() + "// marker: still the first generation\n")
    build.generate_core_verilog(cap, out)
    assert v.read_text().endswith("// marker: still the first generation\n"), "unchanged sources regenerated"
    with open(root / "sw" / "events.py", "a") as f:
        f.write("\n# the event format changed\n")
    build.generate_core_verilog(cap, out)
    assert "// marker" not in v.read_text(), "a change to sw/events.py did not regenerate the core"
    assert v.stat().st_mtime_ns >= first
