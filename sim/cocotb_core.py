"""cocotb test module for ``eavs_core``: runs a plan of bus operations.

The plan (JSON, path in ``EAVS_SIM_PLAN``, written by :mod:`sim.plan`) is a
list of primitive operations on the core's three interfaces; this module
executes them in order through :class:`sim.tb.TB` and records what each one
returned (register values, received result frames, cycle stamps) into the
JSON file at ``EAVS_SIM_RESULT``. It judges nothing: the Python side
(:mod:`sim.compare`) holds the golden model and the cycle model and
compares, so every verdict is made in one place for Verilator, Icarus and
the Amaranth simulator alike.

Operations (``op`` key; all others are arguments)::

    reset    cycles               hold rst (a hard reset, e.g. mid-sample)
    pauses   source, sink         pause probabilities of the stream models
    write    reg, value           AXI-Lite write (name from hw.spec.regmap)
    ctrl     start, soft_reset, clear_errors, mode   compose CTRL from its fields
    read     regs                 AXI-Lite reads -> {name: value}
    readout  n                    READOUT window words 0..n-1 (signed)
    send     words, wait          one stream frame (TLAST on its last word)
    wait_idle timeout             until the input stream model has sent everything
    wait_done timeout             poll STATUS until done and not busy
    recv     frames, timeout      result frames from the output stream
    drain    cycles               discard whatever arrives for a while
    cycles   n                    let n clock cycles pass
    stamp                         the current cycle number

A wait that times out is recorded (``"timeout": true`` with the state seen),
not raised, so a fault scenario can assert that the core *did not* finish.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.triggers import ClockCycles, with_timeout
from cocotb.triggers import SimTimeoutError

from hw.spec import regmap
from sim.tb import CLOCK_NS, TB, bytes_to_words


def _regs() -> dict[str, int]:
    regs = {r.name: r.offset for r in regmap.REGISTERS}
    regs[regmap.READOUT.name] = regmap.READOUT.offset
    return regs


def _ctrl_value(op: dict) -> int:
    reg = regmap.register("CTRL")
    value = 0
    for name in ("start", "soft_reset", "clear_errors", "mode"):
        v = int(op.get(name, 0))
        f = reg.field(name)
        if v >> f.width:
            raise ValueError(f"CTRL.{name} = {v} does not fit {f.width} bit(s)")
        value |= v << f.lsb
    return value


async def _execute(tb: TB, op: dict) -> dict:
    kind = op["op"]
    if kind == "reset":
        await tb.reset(int(op.get("cycles", 4)))
        return {}
    if kind == "pauses":
        tb.set_pauses(float(op.get("source", 0)), float(op.get("sink", 0)))
        return {}
    if kind == "write":
        await tb.write(op["reg"], int(op["value"]))
        return {}
    if kind == "ctrl":
        await tb.write("CTRL", _ctrl_value(op))
        return {}
    if kind == "read":
        return {"values": {name: await tb.read(name) for name in op["regs"]}}
    if kind == "readout":
        words = [await tb.read(regmap.READOUT.offset + 4 * i) for i in range(int(op["n"]))]
        return {"values": [w - (1 << 32) if w & (1 << 31) else w for w in words]}
    if kind == "send":
        if op.get("wait", True):
            try:
                await tb.send(op["words"], op.get("timeout"))
            except SimTimeoutError:
                return {"timeout": True, "cycle": tb.cycle}
        else:
            tb.send_nowait(op["words"])
        return {"cycle": tb.cycle}
    if kind == "wait_idle":
        try:
            await with_timeout(tb.source.wait(), int(op.get("timeout", 100_000)) * CLOCK_NS, "ns")
            return {"cycle": tb.cycle}
        except SimTimeoutError:
            return {"timeout": True, "cycle": tb.cycle}
    if kind == "wait_done":
        start = tb.cycle
        busy, done = regmap.field("STATUS", "busy"), regmap.field("STATUS", "done")
        limit = int(op.get("timeout", 100_000))
        while True:
            status = await tb.read("STATUS")
            if done.get(status) and not busy.get(status):
                return {"status": status, "waited": tb.cycle - start}
            if tb.cycle - start > limit:
                return {"status": status, "waited": tb.cycle - start, "timeout": True}
            await ClockCycles(tb.dut.clk, int(op.get("poll", 4)))
    if kind == "recv":
        frames = []
        limit = int(op.get("timeout", 100_000))
        for _ in range(int(op["frames"])):
            try:
                frames.append(await tb.recv(limit))
            except SimTimeoutError:
                return {"frames": frames, "timeout": True}
        return {"frames": frames}
    if kind == "drain":
        await ClockCycles(tb.dut.clk, int(op.get("cycles", 100)))
        frames = []
        while not tb.sink.empty():
            frames.append(bytes_to_words(bytes(tb.sink.recv_nowait().tdata)))
        return {"frames": frames}
    if kind == "cycles":
        await ClockCycles(tb.dut.clk, int(op["n"]))
        return {}
    if kind == "stamp":
        return {"cycle": tb.cycle}
    raise ValueError(f"unknown plan operation {kind!r}")


@cocotb.test()
async def run_plan(dut):
    """Execute the plan and record every operation's outcome."""
    with open(os.environ["EAVS_SIM_PLAN"]) as f:
        plan = json.load(f)
    tb = TB(
        dut,
        _regs(),
        seed=int(plan.get("seed", 0)),
        source_pause=float(plan.get("source_pause", 0.0)),
        sink_pause=float(plan.get("sink_pause", 0.0)),
    )
    await tb.reset()
    t0 = tb.cycle
    w0 = time.perf_counter()
    out = []
    for k, op in enumerate(plan["ops"]):
        try:
            out.append(await _execute(tb, op))
        except Exception as e:  # record where it broke, then fail the test
            out.append({"exception": f"{type(e).__name__}: {e}"})
            _write(out, tb.cycle - t0, time.perf_counter() - w0)
            raise AssertionError(f"plan operation {k} {op['op']!r} raised {type(e).__name__}: {e}") from e
    _write(out, tb.cycle - t0, time.perf_counter() - w0)


def _write(out: list, cycles: int, wall_s: float) -> None:
    """The record: every operation's outcome, the cycles simulated after the
    initial reset, and the wall time they took inside the simulator process
    (start-up excluded: the simulation-speed figure)."""
    with open(os.environ["EAVS_SIM_RESULT"], "w") as f:
        json.dump({"ops": out, "sim_cycles": cycles, "wall_s": wall_s}, f)
