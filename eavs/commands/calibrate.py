"""``eavs calibrate``: choose a model's early-exit rule (margin M, min_step
t_min), and for a cascade model (``eavs train --audio-head``) also its first
stage's gate, on its validation split for an accuracy budget; print the
curves and write the rules into the ``.qnet`` (sw.adaptive)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate_cmd(
        model: Path = typer.Option(..., "--model", help="An integer model (.qnet) from `eavs export` (metadata names its validation actors)."),
        data: str = typer.Option(..., "--data", help="builtin:DIR | ravdess:DIR | cremad:DIR | npz:FILE: the data the model was trained on."),
        out: Path = typer.Option(None, "--out", help="Write the model with its exit rule here (default: over --model)."),
        tolerance: float = typer.Option(0.5, "--tolerance", min=0.0, help="Percent of the validation clips the full run gets right that the rules may get wrong (clip by clip)."),
        board: str = typer.Option("pynq-z2", "--board", help="Board of boards.toml: its lanes price the weight-row reads of the energy estimate."),
        cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache of encoded spikes (default: next to the data)."),
        all_points: bool = typer.Option(False, "--all/--pareto", help="Print every rule tried, not only the Pareto front."),
        json_out: Path = typer.Option(None, "--json", help="Write the whole curve to this JSON file."),
    ) -> None:
        """Calibrate MODEL's early exit on the validation split only (never the test split)."""
        from eavs.checks import check_board, check_data_spec
        from eavs.commands.evaluate import load_split
        from sw import qnet
        from sw.adaptive import calibrate, calibrate_cascade

        check_data_spec(data, npz=True)
        _, cap = check_board(board)
        net = qnet.load(model)
        d, x, idx = load_split(net, model, data, "val", cache_dir)
        if net.cascade is not None:
            cal = calibrate_cascade(net, x[idx], d.y[idx], cap.lanes, tolerance)
            lines = cal.lines()
            net.cascade.exit, net.exit = cal.rules()
            what = f"{cal.chosen.family}: {cal.chosen.label()}"
        else:
            cal = calibrate(net, x[idx], d.y[idx], cap.lanes, tolerance)
            lines = cal.lines(all_points)
            net.exit = cal.rule
            what = "exit rule " + cal.chosen.label() if net.exit else "no exit rule: none saves energy within the budget"
        for line in lines:
            typer.echo(line)
        target = qnet.save(net, out or model)
        typer.echo(f"wrote {target} ({what})")
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(cal.to_dict(), indent=1))
            typer.echo(f"wrote {json_out}")
