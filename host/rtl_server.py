"""Subprocess entry of the RTL back-end: build the design, run the bridge.

``python -m host.rtl_server PLAN_JSON`` generates and compiles the design
with ``sim.build`` (``build_core`` for ``eavs_core``, ``build_verilog`` for
any other design with the same bus ports), then runs the cocotb module
:mod:`host.rtl_bridge` on it, which connects to the Unix socket named in the
plan and serves :class:`host.rtl.SimBridge`'s calls until told to quit.

Kept out of :mod:`host.rtl` so that the driver's process never imports
cocotb or amaranth (``hw.flow.generate`` runs in a further subprocess).
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m host.rtl_server PLAN_JSON", file=sys.stderr)
        return 2
    plan = json.loads(argv[0])
    from sim.build import build_core, build_verilog, run_cocotb

    design, simulator, build_dir = plan["design"], plan["simulator"], Path(plan["build_dir"])
    build_dir.mkdir(parents=True, exist_ok=True)
    # Two back-ends (two notebooks, two test workers) may share a build folder:
    # build one at a time; the second finds the build up to date.
    with open(build_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if "core" in design:
            from hw.spec.capacity import Capacity

            build = build_core(Capacity.from_dict(design["core"]), simulator, build_dir)
        else:
            build = build_verilog(design["verilog"], design["toplevel"], simulator, build_dir / simulator)
    print(f"built {build.toplevel} for {simulator} in {build.seconds:.1f} s", flush=True)
    record = run_cocotb(build, "host.rtl_bridge", plan, name=f"bridge-{Path(plan['socket']).parent.name}", seed=plan.get("seed"))
    print(f"bridge served {record.get('requests')} requests, {record.get('cycles')} cycles", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
