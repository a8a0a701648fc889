"""cocotb test module for :mod:`sim.selftest`'s loopback component.

Reads its plan from ``EAVS_SIM_PLAN`` (see :func:`sim.build.run_cocotb`):
``{"seed", "frames": [[word, ...], ...], "scratch", "source_pause", "sink_pause"}``;
writes what it saw to ``EAVS_SIM_RESULT``: the frames received, the
register values read back, the cycles taken. The pytest side compares them
with what the component must do (each word + scratch), so this module only
drives and records.
"""

from __future__ import annotations

import json
import os

import cocotb

from sim.selftest import COUNT, SCRATCH
from sim.tb import TB


@cocotb.test()
async def loopback(dut):
    plan = json.loads(open(os.environ["EAVS_SIM_PLAN"]).read())
    tb = TB(
        dut,
        {"SCRATCH": SCRATCH, "COUNT": COUNT},
        seed=plan["seed"],
        source_pause=plan["source_pause"],
        sink_pause=plan["sink_pause"],
    )
    await tb.reset()
    await tb.write("SCRATCH", plan["scratch"])
    scratch = await tb.read("SCRATCH")
    start = tb.cycle
    received = []
    for frame in plan["frames"]:
        tb.send_nowait(frame)
    for frame in plan["frames"]:
        received.append(await tb.recv(timeout_cycles=100 + 20 * len(frame)))
    count = await tb.read("COUNT")
    record = {"scratch": scratch, "count": count, "frames": received, "cycles": tb.cycle - start}
    with open(os.environ["EAVS_SIM_RESULT"], "w") as f:
        json.dump(record, f)
