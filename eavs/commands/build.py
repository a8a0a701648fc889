"""``eavs build``: the same flow as ``python -m hw.build``, from the one CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("build")(build)


def build(
    board: Optional[str] = typer.Option(None, "--board", help="Board of boards.toml (see --list)."),
    list_boards: bool = typer.Option(False, "--list", help="List the boards and exit."),
    model: Optional[Path] = typer.Option(None, "--model", help=".qnet model the capacity must hold."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default build/BOARD)."),
    capacity: Optional[str] = typer.Option(None, "--capacity", help="Capacity overrides, e.g. lanes=8,weight_depth=4096."),
    core_verilog: Optional[Path] = typer.Option(None, "--core-verilog", help="Use this eavs_core.v instead of hw.flow.generate."),
    jobs: int = typer.Option(4, "--jobs", help="Vivado parallel jobs."),
    seed: int = typer.Option(1, "--seed", help="nextpnr placement seed."),
    no_estimate: bool = typer.Option(False, "--no-estimate", help="Skip the Yosys estimate when Vivado is absent."),
) -> None:
    """Build a bitstream for a board: Vivado project (run if vivado is on PATH, else a Yosys
    estimate) for the Zynq boards, the open flow for ECP5; JSON and text reports in --out."""
    from hw.flow import build as hw_build

    if list_boards:
        typer.echo(hw_build.list_boards())
        return
    if not board:
        raise typer.BadParameter("--board is required (or --list)")
    from hw.flow.estimate import ToolError

    try:
        report = hw_build.build(board, out, model, capacity, core_verilog, jobs=jobs, seed=seed, estimate=not no_estimate)
    except ToolError as e:  # a tool's failure: its log tail, no traceback
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo("")
    typer.echo(hw_build.format_report(report))
    typer.echo(f"\nreports: {Path(report['out']) / 'report.json'}, {Path(report['out']) / 'report.txt'}")
