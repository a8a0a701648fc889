"""``eavs export``: a training checkpoint -> integer ``.qnet`` (sw.export)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        checkpoint: Path = typer.Argument(..., help="A checkpoint written by `eavs train` (OUT/best.pt)."),
        out: Path = typer.Option(..., "--out", help="The .qnet file to write."),
        capacity_check: bool = typer.Option(True, "--check-capacity/--no-check-capacity", help="Report whether it fits the smallest board's default capacity."),
    ) -> None:
        """Write the integer network (Brevitas integer weights, scales folded into thresholds and biases)."""
        from sw.export import export_checkpoint

        net = export_checkpoint(checkpoint, out)
        typer.echo(
            f"wrote {out}: {len(net.layers)} layers "
            + ", ".join(f"{l.name}[{l.n}] thr={l.threshold} k={l.leak_shift}" for l in net.layers)
            + f"; inputs {[(g.name, g.size) for g in net.inputs]}, T={net.timesteps}"
        )
        if capacity_check:
            from hw.capacity import Capacity

            problems = Capacity().problems(net)
            typer.echo("fits the default capacity" if not problems else "does NOT fit the default capacity: " + "; ".join(problems))
