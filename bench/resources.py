"""Resources per lane and ECP5 Fmax across P = 8, 16, 32, to size a board.

For each lane count P the real core (``python -m hw.generate``) is
synthesised twice:

- Yosys ``synth_xilinx -family xc7`` (out of context, as in Vivado's IP
  flow): LUT, FF, RAMB36-equivalents, DSP48 on a Zynq-7000;
- the ECP5 open flow of ``hw.flow.build`` for the ULX3S 85F (Yosys, nextpnr,
  ecppack, the scan-bridge wrapper of :mod:`hw.flow.ecp5`): LUT4, FF, EBR,
  MULT18 and the Fmax nextpnr reports.

The capacity is the ULX3S default with ``lanes = P`` and the weight memory
scaled as ``weight_depth = 8 * 32768 / P``: the same weight bits (the same
models fit), so the difference between rows is the cost of the lanes.
"Per lane" is the total divided by P, and the marginal cost between the
smallest and largest P (which excludes the fixed part: AXI, sequencer,
queues).

Run: ``python -m bench.resources [--lanes 8,16,32] [--jobs 2] [--out DIR]``.
Each ECP5 build takes minutes (several at P = 32).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import Row
from hw.spec.boards import get_board
from hw.spec.capacity import Capacity

ECP5_BOARD = "ulx3s-85f"
XILINX_FAMILY = "xc7"


def capacity_for(lanes: int, base: Capacity) -> Capacity:
    depth = max(64, base.weight_depth * base.lanes // lanes)
    return base.replace(lanes=lanes, weight_depth=depth)


def measure(lanes: int, out: str, base: dict, ecp5: bool = True) -> dict:
    """One P: generate, Yosys synth_xilinx, ECP5 flow. Runs in a worker process."""
    from hw.flow.build import generate_core
    from hw.flow.ecp5 import build_ecp5
    from hw.flow.estimate import yosys_xilinx_estimate

    cap = capacity_for(lanes, Capacity(**base))
    root = Path(out) / f"P{lanes}"
    log = lambda m: print(f"[P={lanes} {time.strftime('%H:%M:%S')}] {m}", flush=True)  # noqa: E731
    verilog = generate_core(cap, root / "core", log)
    result = {"lanes": lanes, "capacity": cap.to_dict()}
    result["xilinx"] = yosys_xilinx_estimate(verilog, "eavs_core", XILINX_FAMILY, root / "yosys", log)
    (root / "result.json").write_text(json.dumps(result, indent=2) + "\n")  # partial results survive an interrupted run
    if ecp5:
        result["ecp5"] = build_ecp5(get_board(ECP5_BOARD), verilog, root / "ecp5", log)
        (root / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(results: list[dict]) -> str:
    head = f"{'P':>3} | {'xc7 LUT':>8} {'FF':>7} {'BRAM36':>6} {'DSP':>4} | {'LUT/P':>6} {'FF/P':>6} |"
    head += f" {'ECP5 LUT4':>9} {'FF':>7} {'EBR':>4} {'MULT':>4} {'LUT/P':>6} | {'Fmax MHz':>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        x, p = r["xilinx"]["used"], r["lanes"]
        line = f"{p:>3} | {x['lut']:>8} {x['ff']:>7} {x['bram']:>6g} {x['dsp']:>4} | {x['lut'] / p:>6.0f} {x['ff'] / p:>6.0f} |"
        if "ecp5" in r:
            e = r["ecp5"]["used"]
            line += f" {e['lut']:>9} {e['ff']:>7} {e['bram']:>4g} {e['dsp']:>4} {e['lut'] / p:>6.0f} | {r['ecp5']['fmax_mhz']:>8.1f}"
        lines.append(line)
    if len(results) >= 2:
        a, b = results[0], results[-1]
        dp = b["lanes"] - a["lanes"]
        marg = {k: (b["xilinx"]["used"][k] - a["xilinx"]["used"][k]) / dp for k in ("lut", "ff", "bram", "dsp")}
        lines.append(
            f"marginal per lane (P={a['lanes']}..{b['lanes']}), xc7: LUT {marg['lut']:.0f}, FF {marg['ff']:.0f}, "
            f"BRAM36 {marg['bram']:.2f}, DSP {marg['dsp']:.2f}"
        )
        if "ecp5" in a and "ecp5" in b:
            me = {k: (b["ecp5"]["used"][k] - a["ecp5"]["used"][k]) / dp for k in ("lut", "ff", "bram", "dsp")}
            lines.append(
                f"marginal per lane (P={a['lanes']}..{b['lanes']}), ECP5: LUT4 {me['lut']:.0f}, FF {me['ff']:.0f}, "
                f"EBR {me['bram']:.2f}, MULT18 {me['dsp']:.2f}"
            )
    return "\n".join(lines)


def sops_per_klut(results: list[dict]) -> str:
    """Synaptic operations per cycle per 1000 xc7 LUTs: the cycle model's
    utilisation x P on bench.rtl_cycles' default random model (simulated
    cycles, which the RTL matches), over Yosys synth_xilinx LUTs (estimated,
    no Vivado)."""
    import numpy as np

    from bench.rtl_cycles import demo_model, figures

    net = demo_model()
    spikes = (np.random.default_rng(1).random((16, net.timesteps, net.n_inputs)) < 0.1).astype(np.uint8)
    lines = ["SOPs/cycle per kLUT (cycle model on bench.rtl_cycles' default model; Yosys synth_xilinx LUTs, estimated):"]
    for r in results:
        p = r["lanes"]
        f = figures(net, spikes, p)
        per = f["util"] * p / (r["xilinx"]["used"]["lut"] / 1000)
        r["sops_per_cycle_per_klut"] = per
        lines.append(f"  P={p:>2}: utilisation {f['util']:.3f} x {p} = {f['util'] * p:.1f} SOPs/cycle / "
                     f"{r['xilinx']['used']['lut'] / 1000:.1f} kLUT = {per:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.resources", description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", default="8,16,32", help="comma-separated lane counts")
    parser.add_argument("--jobs", type=int, default=2, help="lane counts built in parallel")
    parser.add_argument("--out", default="build/bench-resources")
    parser.add_argument("--no-ecp5", action="store_true", help="Yosys xc7 estimate only (fast)")
    parser.add_argument("--capacity", default=None, help="overrides of the base capacity (the ULX3S default), k=v,...")
    args = parser.parse_args([] if argv is None else argv)  # `python -m bench` calls main() with the defaults
    from hw.spec.boards import parse_capacity_overrides

    base = parse_capacity_overrides(args.capacity, get_board(ECP5_BOARD).capacity)
    lanes = [int(x) for x in args.lanes.split(",") if x.strip()]
    print(f"bench.resources: P = {lanes}, base capacity {base.to_dict()}; output in {args.out}", flush=True)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(measure, p, args.out, base.to_dict(), not args.no_ecp5) for p in lanes]
        results = sorted((f.result() for f in futures), key=lambda r: r["lanes"])
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "resources.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(sops_per_klut(results))
    rows = []
    for r in results:
        p = r["lanes"]
        rows.append(Row("resources", f"xc7 LUT per lane, P={p}", r["xilinx"]["used"]["lut"] / p, "LUT"))
        rows.append(Row("resources", f"xc7 FF per lane, P={p}", r["xilinx"]["used"]["ff"] / p, "FF"))
        rows.append(Row("resources", f"SOPs/cycle per kLUT, P={p}", r["sops_per_cycle_per_klut"], "SOP/cycle/kLUT"))
        if "ecp5" in r:
            rows.append(Row("resources", f"ECP5 Fmax, P={p}", r["ecp5"]["fmax_mhz"], "MHz", goal=">= 25 MHz (ULX3S clock)"))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
