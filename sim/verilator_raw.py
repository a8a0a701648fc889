"""Verilator's raw simulation speed for the core, without cocotb in the loop.

cocotb's AXI models wake up in Python on every clock edge, so a cocotb-driven
simulation measures Python as much as Verilator. :func:`raw_run` builds the
core with a small C++ harness (``sim/raw_main.cpp``: AXI-Lite writes and
stream words driven from C++, output always ready), runs one batch and
returns the result records it collected plus the cycles and seconds of the
run, so ``bench/sim_speed.py`` can report the model's own cycles/s, after
checking the results against the golden model like every other run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from hw import protocol, regmap
from hw.capacity import Capacity
from sim.build import SimError, _tool_path, _verilator_make_env, generate_core_verilog
from sw.qnet import QNet

__all__ = ["raw_build", "raw_run"]

HARNESS = Path(__file__).with_name("raw_main.cpp")


def raw_build(capacity: Capacity, build_dir: str | Path, opt: str = "-O2") -> Path:
    """Build the harness for ``capacity`` in ``build_dir``; return the executable."""
    build_dir = Path(build_dir).resolve()
    src = generate_core_verilog(capacity, build_dir / "rtl")
    mdir = build_dir / "raw"
    exe = mdir / "eavs_raw"
    if exe.exists() and exe.stat().st_mtime > max(src.stat().st_mtime, HARNESS.stat().st_mtime):
        return exe
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--top-module", "eavs_core", "--prefix", "Vtop", "-Mdir", str(mdir), "-o", "eavs_raw",
           str(src), str(HARNESS)]
    with _tool_path(), _verilator_make_env("verilator", opt):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0 or not exe.exists():
        raise SimError(f"raw Verilator build failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return exe


def raw_run(exe: Path, net: QNet, spikes: np.ndarray, capacity: Capacity) -> tuple[protocol.Results, int, float]:
    """Load ``net``, run ``spikes [B, T, N_in]`` as one batch; return (results, cycles, seconds)."""
    ctrl = regmap.register("CTRL")
    start = 1 << ctrl.field("start").lsb
    mode = ctrl.field("mode").lsb
    image = protocol.pack_model(net, capacity)
    events = np.concatenate(protocol.event_packets(spikes))
    B = len(spikes)
    n_res = B * protocol.result_words(net.readout.n)
    words = np.concatenate([
        np.array([regmap.offset("CTRL"), regmap.offset("BATCH"), start | (regmap.MODE_LOAD << mode),
                  start | (regmap.MODE_RUN << mode), len(image)], np.uint32),
        image.astype(np.uint32), np.array([len(events)], np.uint32), events.astype(np.uint32),
        np.array([B, n_res], np.uint32)])
    d = exe.parent
    (d / "in.bin").write_bytes(words.astype("<u4").tobytes())
    proc = subprocess.run([str(exe), str(d / "in.bin"), str(d / "out.bin")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SimError(f"raw Verilator run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    raw = (d / "out.bin").read_bytes()
    res = np.frombuffer(raw[:-16], "<u4")
    cycles = int(np.frombuffer(raw[-16:-8], "<u8")[0])
    secs = float(np.frombuffer(raw[-8:], "<f8")[0])
    return protocol.decode_results(res, net.readout.n), cycles, secs
