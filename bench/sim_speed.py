"""Simulated cycles per second of ``eavs_core`` on Verilator, Icarus and the Amaranth simulator.

The same workload on each: the default capacity (``hw.capacity.Capacity()``,
P = 8), a demo-size model (``bench.rtl_cycles.demo_model``: 576 inputs,
three 64-neuron hidden layers with recurrence, 8 outputs, T = 40, ~10%
input rate), loaded over the stream and run sample by sample, every sample
checked bit-exact against ``sw.golden`` and the cycle model (a benchmark of
a wrong simulation is worthless). Verilator and Icarus are driven by cocotb
(``sim.cocotb_core``), so their figure includes cocotb's per-cycle Python
work (the AXI models wake on every clock edge); the Amaranth figure is its
Python simulator through ``hw.amaranth_sim``. Build time is reported apart.

``python -m bench.sim_speed [--samples N] [--simulators verilator,icarus,amaranth]``
"""

from __future__ import annotations

import argparse
import tempfile

from bench.common import Row

GOAL = 1_000_000  # cycles/s for Verilator at the default capacity (issue 6)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(prog="python -m bench.sim_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2, help="samples for Verilator (Icarus and Amaranth run 1)")
    ap.add_argument("--simulators", default="verilator,icarus,amaranth")
    ap.add_argument("--build-dir", default=None, help="reuse builds across runs (default: a temporary directory)")
    args = ap.parse_args(argv or [])

    import numpy as np

    from bench.rtl_cycles import demo_model
    from hw.capacity import Capacity
    from sim.build import tool_problem
    from sim.compare_run import simulate
    from sw.random_net import random_spikes

    cap = Capacity()
    net = demo_model(seed=0, rate=0.1)
    rng = np.random.default_rng(1)
    spikes = random_spikes(rng, net, args.samples, rate=0.1)
    rows: list[Row] = []
    root = args.build_dir or tempfile.mkdtemp(prefix="eavs_sim_speed_")
    for simulator in [s.strip() for s in args.simulators.split(",") if s.strip()]:
        if simulator != "amaranth" and tool_problem(simulator):
            print(f"{simulator}: skipped ({tool_problem(simulator)})")
            continue
        x = spikes if simulator == "verilator" else spikes[:1]
        r = simulate(net, x, cap, simulator, build_dir=f"{root}/{simulator}")
        a = r.agreement
        status = "bit-exact" if a.ok else f"MISMATCH ({len(a.mismatches)}): " + "; ".join(a.mismatches[:3])
        print(
            f"{simulator:9s} P={cap.lanes}: {a.exact}/{a.samples} samples {status}; core cycles/sample "
            f"{r.core_cycles / max(1, a.samples):,.0f}; simulated {r.sim_cycles:,} cycles in {r.run_s:.1f} s "
            f"= {r.cycles_per_s:,.0f} cycles/s" + (f"; build {r.build_s:.0f} s" if r.build_s > 0.5 else ""),
            flush=True,
        )
        rows.append(Row("sim_speed", f"{simulator} simulated cycles/s (default capacity, demo model)",
                        r.cycles_per_s, "cycles/s", goal=f">= {GOAL:,} (Verilator)" if simulator == "verilator" else ""))
        if not a.ok:
            raise RuntimeError(f"{simulator} disagrees with sw.golden: {a.mismatches[:5]}")
    return rows


if __name__ == "__main__":
    main(__import__("sys").argv[1:])
