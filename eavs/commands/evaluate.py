"""``eavs eval``: accuracy, recall, confusion, spike rates, operation counts and
estimated energy of a ``.qnet`` on a data set (golden model, sw.metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        model: Path = typer.Option(..., "--model", help="An integer model (.qnet) from `eavs export`."),
        data: str = typer.Option(..., "--data", help="builtin:DIR | ravdess:DIR | cremad:DIR | npz:FILE."),
        split: str = typer.Option("test", "--split", help="test: the actors held out at training (from the model's metadata); all: every sample."),
        cache_dir: Path = typer.Option(None, "--cache-dir"),
        neurobench: bool = typer.Option(False, "--neurobench/--no-neurobench", help="Also compute NeuroBench metrics (needs torch)."),
        json_out: Path = typer.Option(None, "--json", help="Write all figures to this JSON file."),
    ) -> None:
        """Evaluate MODEL exactly as the hardware computes it (sw.golden) and print the figures."""
        import numpy as np

        from sw.encode import encoders_from_inputs
        from sw.export import select_inputs
        from sw.metrics import evaluate, neurobench_metrics
        from sw.qnet import load
        from sw.train import load_data

        if split not in ("test", "all"):
            raise ValueError(f"--split must be 'test' or 'all', not {split!r}")
        net = load(model)
        if data.startswith("npz:"):
            d = load_data(data)
            x = select_inputs(d.x, d.inputs, net)
        else:
            d = load_data(data, None if cache_dir is None else str(cache_dir), encoders=encoders_from_inputs(net.inputs))
            x = select_inputs(d.x, d.inputs, net)
        if list(d.classes) != list(net.classes):
            raise ValueError(f"{data}: classes {d.classes} differ from the model's {net.classes}")
        idx = np.arange(len(d.y))
        if split == "test":
            actors = (net.metadata.get("split") or {}).get("test_actors")
            if not actors:
                raise ValueError(f"{model}: metadata has no test actors (not exported from `eavs train`); use --split all")
            idx = idx[np.isin(d.actors, actors)]
            if len(idx) == 0:
                raise ValueError(f"{data}: no sample of the model's test actors {actors}")
        ev = evaluate(net, x[idx], d.y[idx])
        typer.echo(f"{model} on {data} ({split} split, actors {sorted(set(d.actors[idx].tolist()))}):")
        for line in ev.lines():
            typer.echo(line)
        result = ev.to_dict()
        if neurobench:
            nb = neurobench_metrics(net, x[idx], d.y[idx])
            result["neurobench"] = nb
            typer.echo("NeuroBench: " + ", ".join(f"{k} {v}" for k, v in nb.items()))
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(result, indent=1))
            typer.echo(f"wrote {json_out}")
