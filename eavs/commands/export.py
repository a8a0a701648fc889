"""``eavs export``: a training checkpoint -> integer ``.qnet`` (sw.export)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import typer


def _check_checkpoint(path: Path) -> None:
    """One-line refusals of what is plainly not a checkpoint, before torch reads it
    (``torch.load`` answers a wrong file with a multi-paragraph ``weights_only`` essay)."""
    from eavs.checks import CheckError

    if not path.exists():
        raise CheckError(f"{path}: no such checkpoint (give the best.pt or last.pt that `eavs train --out DIR` wrote)")
    if not path.is_file():
        raise CheckError(f"{path}: is a folder, not a checkpoint file (give DIR/best.pt)")
    if not zipfile.is_zipfile(path):
        raise CheckError(f"{path}: not a PyTorch checkpoint (not a zip archive); give the best.pt or last.pt that `eavs train` wrote")


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint written by `eavs train` (OUT/best.pt)."),
        out: Path = typer.Option(..., "--out", help="The .qnet file to write."),
        capacity_check: bool = typer.Option(True, "--check-capacity/--no-check-capacity", help="Report whether it fits the smallest board's default capacity."),
    ) -> None:
        """Turn a training checkpoint into an integer .qnet model.

        Brevitas integer weights; the scales are folded into thresholds and biases.
        """
        from eavs.checks import CheckError

        _check_checkpoint(checkpoint)
        from sw.export import export_checkpoint

        try:
            net = export_checkpoint(checkpoint, out)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            if "Weights only load failed" in first:
                first = "it holds Python objects beyond tensors and plain data, so it was not written by `eavs train` (not unpickled: unsafe)"
            if len(first) > 200:
                first = first[:200] + "..."
            raise CheckError(f"{checkpoint}: cannot export: {first}") from None
        from sw.qnet import describe_decay

        typer.echo(
            f"wrote {out}: {len(net.layers)} layers "
            + ", ".join(f"{l.name}[{l.n}] thr={l.threshold} {describe_decay(l)}" for l in net.layers)
            + f"; inputs {[(g.name, g.size) for g in net.inputs]}, T={net.timesteps}"
        )
        if capacity_check:
            from hw.spec.capacity import Capacity

            problems = Capacity().problems(net)
            typer.echo("fits the default capacity" if not problems else "does NOT fit the default capacity: " + "; ".join(problems))
