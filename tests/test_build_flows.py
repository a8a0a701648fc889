"""``python -m hw.build`` end to end: refusals before any tool, the Yosys
``synth_xilinx`` estimate for pynq-z2 at a small capacity, and the real
ULX3S bitstream (PLL + serial link + core) at its default capacity, which
must meet timing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hw.spec.capacity import Capacity
from sw.qnet import save
from sw.random_net import random_qnet

ROOT = Path(__file__).resolve().parent.parent

SMALL = Capacity(lanes=2, max_layers=2, max_neurons=8, max_sources=2, max_inputs=16, weight_depth=1024, max_timesteps=8)
SMALL_STR = ",".join(f"{k}={v}" for k, v in SMALL.to_dict().items())


def core_verilog(tmp_path: Path) -> Path:
    """The real core's Verilog at the small capacity (``python -m hw.generate``)."""
    from hw.flow.build import generate_core

    return generate_core(SMALL, tmp_path / "core", progress=lambda m: None)


def hw_build(*args: str, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hw.flow.build", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_unknown_board_lists_boards(tmp_path):
    proc = hw_build("--board", "nope", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "unknown board 'nope'" in proc.stderr and "pynq-z2" in proc.stderr and "ulx3s-85f" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_list_boards():
    proc = hw_build("--list")
    assert proc.returncode == 0
    assert re.search(r"^pynq-z2\s+vivado\s+xc7z020clg400-1\s+100\s+processing_system7", proc.stdout, re.M)
    assert re.search(r"^zcu104\s+vivado\s+xczu7ev-ffvc1156-2-e\s.*12V,INT", proc.stdout, re.M)


def test_capacity_over_device_refused_before_any_tool(tmp_path):
    proc = hw_build("--board", "pynq-z2", "--out", str(tmp_path / "o"), "--capacity", "lanes=64,weight_depth=65536")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(r"error: board 'pynq-z2'.*cannot fit the device: block RAM: at least [\d.]+ blocks", proc.stderr)
    assert not (tmp_path / "o").exists()  # nothing generated, no tool run


def test_bad_capacity_override_named(tmp_path):
    proc = hw_build("--board", "pynq-z2", "--out", str(tmp_path / "o"), "--capacity", "lanes=0")
    assert proc.returncode == 2
    assert "'lanes' must be a positive integer, not 0" in proc.stderr


def test_model_over_capacity_refused_before_any_tool(tmp_path):
    net = random_qnet(np.random.default_rng(3), max_inputs=40, max_neurons=12, max_hidden=2)
    path = save(net, tmp_path / "m.qnet")
    proc = hw_build("--board", "ulx3s-85f", "--model", str(path), "--out", str(tmp_path / "o"), "--capacity", "max_inputs=2")
    assert proc.returncode == 2
    assert f"model {path} does not fit board 'ulx3s-85f'" in proc.stderr and "> max_inputs 2" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.yosys
def test_pynq_z2_without_vivado_leaves_project_and_yosys_estimate(tmp_path):
    verilog = core_verilog(tmp_path)
    out = tmp_path / "out"
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "vivado").exists())
    proc = hw_build("--board", "pynq-z2", "--out", str(out), "--capacity", SMALL_STR, "--core-verilog", str(verilog), env={"PATH": path})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vivado is not on PATH: the project is ready in" in proc.stdout
    assert "yosys synth_xilinx: running" in proc.stdout or "yosys synth_xilinx: done" in proc.stdout  # progress
    report = json.loads((out / "report.json").read_text())
    assert report["vivado"]["ran"] is False
    for f in ("build.tcl", "bd.tcl", "package_ip.tcl", "src/eavs_core.v"):
        assert (out / "vivado" / f).is_file()
    used = report["yosys"]["used"]
    # The weight memory (1024 words of 2 x 8 bits) is a block RAM; the lanes are logic.
    assert used["lut"] > 50 and used["ff"] > 50 and used["bram"] >= 0.5
    assert 0 < report["yosys"]["ratios"]["lut"] < 1
    # Figures printed at the end and in the human report.
    for where in (proc.stdout, (out / "report.txt").read_text()):
        assert "Yosys synth_xilinx -family xc7 estimate" in where
        assert re.search(rf"LUT\s+{used['lut']}\s+53200\s", where)


@pytest.mark.yosys
@pytest.mark.slow
def test_ecp5_ulx3s_bitstream_at_default_capacity_meets_timing(tmp_path):
    """The ULX3S top (PLL, UART link bridge, eavs_core) at the board's default
    capacity -- what a user builds -- placed and routed by nextpnr at the
    board's clock_mhz, and it must meet timing (one build: minutes)."""
    from hw.spec.boards import get_board

    board = get_board("ulx3s-85f")
    out = tmp_path / "out"
    proc = hw_build("--board", "ulx3s-85f", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["capacity"] == board.capacity.to_dict()
    e = report["ecp5"]
    bit = Path(e["bitstream"])
    assert bit.is_file() and bit.stat().st_size > 100_000  # an LFE5U-85F bitstream is ~2 MB uncompressed
    assert bit.read_bytes()[:4] == b"\xff\x00\x00\xff" or b"\xff\xff\xbd\xb3" in bit.read_bytes()[:64]  # ECP5 preamble
    tim = Path(e["timing_log"]).read_text()
    m = re.findall(r"Max frequency for clock\s+'[^']+':\s+([\d.]+) MHz", tim)
    assert m, "nextpnr timing log has no Fmax"
    assert "EHXPLLL" in e["cells"] and "host link" in e["wrapper"]
    # the PLL output is the constrained clock, at the board's clock_mhz
    assert e["constraint_mhz"] == pytest.approx(board.clock_mhz, abs=0.01)
    assert e["meets_timing"], f"nextpnr: Fmax {e['fmax_mhz']} MHz < {board.clock_mhz} MHz ({e['clocks']})"
    # The core was not optimised away: its logic and memories are in the netlist.
    assert e["used"]["lut"] > 2000 and e["used"]["bram"] > 20
    assert "Fmax" in proc.stdout and f"{e['fmax_mhz']:.2f}" in proc.stdout and "met" in proc.stdout


def test_eavs_build_command_lists_and_refuses(tmp_path):
    eavs = [sys.executable, "-m", "eavs"]
    proc = subprocess.run([*eavs, "build", "--list"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "ulx3s-85f" in proc.stdout
    proc = subprocess.run(
        [*eavs, "build", "--board", "kv260", "--capacity", "lanes=128,weight_depth=65536", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "board 'kv260'" in proc.stderr and "cannot fit the device" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_core_generated_for_another_capacity_is_refused(tmp_path):
    verilog = tmp_path / "core" / "eavs_core.v"
    verilog.parent.mkdir()
    verilog.write_text("module eavs_core(); endmodule\n")
    (verilog.parent / "capacity.json").write_text(json.dumps(SMALL.replace(lanes=4).to_dict()))
    proc = hw_build("--board", "ulx3s-85f", "--out", str(tmp_path / "o"), "--capacity", SMALL_STR, "--core-verilog", str(verilog))
    assert proc.returncode == 2
    assert "was generated for another capacity" in proc.stderr and "lanes: core 4 != build 2" in proc.stderr
