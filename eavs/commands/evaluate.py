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
        split: str = typer.Option("test", "--split", help="test: the actors held out at training (from the model's metadata); val: its validation actors; all: every sample."),
        adaptive: str = typer.Option("auto", "--adaptive", help="auto: the model's early-exit rule if it has one; on: require it; off: all T steps (today's fixed-cost run)."),
        cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache of encoded spikes (default: $XDG_CACHE_HOME/eavs or ~/.cache/eavs; never the data folder unless given here)."),
        neurobench: bool = typer.Option(False, "--neurobench/--no-neurobench", help="Also compute NeuroBench metrics (needs torch)."),
        json_out: Path = typer.Option(None, "--json", help="Write all figures to this JSON file."),
        backend: str = typer.Option(
            "golden",
            "--backend",
            help="golden: sw.golden only. rtl: also run the samples on the simulated core; board: on the FPGA "
            "(run on the PYNQ board); serial: on an open board (ULX3S) over its USB-UART (--port). "
            "Each is compared with sw.golden sample by sample.",
        ),
        port: str = typer.Option(None, "--port", help="--backend serial: the board's serial port or any pyserial URL "
                                 "(/dev/ttyUSB0, COM3, socket://127.0.0.1:PORT)."),
        baud: int = typer.Option(None, "--baud", help="--backend serial: override the board's baud rate from boards.toml."),
        board: str = typer.Option(None, "--board", help="Board of boards.toml (capacity and clock; board back-end rails)."),
        bitstream: Path = typer.Option(Path("eavs.bit"), "--bitstream", help="Overlay for --backend board."),
        simulator: str = typer.Option("verilator", "--simulator", help="verilator or icarus, for --backend rtl."),
        clips: int = typer.Option(0, "--clips", help="With --backend rtl|board|serial: run only the first N samples (0: all)."),
    ) -> None:
        """Evaluate MODEL exactly as the hardware computes it (sw.golden) and print the figures."""
        import numpy as np

        from sw.metrics import evaluate, neurobench_metrics
        from sw.qnet import load

        if backend not in ("golden", "rtl", "board", "serial"):
            raise ValueError(f"--backend must be golden, rtl, board or serial, not {backend!r}")
        if backend == "serial" and not port:
            raise ValueError("--backend serial needs --port (e.g. /dev/ttyUSB0 or socket://127.0.0.1:PORT)")
        if split not in SPLITS:
            raise ValueError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
        if adaptive not in ("auto", "on", "off"):
            raise ValueError(f"--adaptive must be auto, on or off, not {adaptive!r}")
        from eavs.checks import check_data_spec

        check_data_spec(data, npz=True)  # before the model's encoders open any clip; never creates a corpus
        net = load(model)
        net = apply_adaptive(net, adaptive, model)
        d, x, idx = load_split(net, model, data, split, cache_dir)
        ev = evaluate(net, x[idx], d.y[idx])
        typer.echo(f"{model} on {data} ({split} split, actors {sorted(set(d.actors[idx].tolist()))}):")
        if net.cascade is not None:
            typer.echo("fused network alone (the cascade's second stage, every clip):")
        for line in ev.lines():
            typer.echo(line)
        result = ev.to_dict()
        if net.cascade is not None:
            result["cascade"] = _cascade_figures(net, x[idx], d.y[idx], board)
        if neurobench:
            nb = neurobench_metrics(net, x[idx], d.y[idx])
            result["neurobench"] = nb
            typer.echo("NeuroBench: " + ", ".join(f"{k} {v}" for k, v in nb.items()))
        if backend != "golden":
            result["backend"] = _run_backend(backend, net, x[idx], d.y[idx], board, bitstream, simulator, clips, port, baud)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(result, indent=1))
            typer.echo(f"wrote {json_out}")


SPLITS = ("test", "val", "all")


def _cascade_figures(net, x, y, board: str | None) -> dict:
    """Run the audio-first cascade (sw.cascade, golden back-end) and print its figures."""
    import numpy as np

    from hw.spec.boards import get_board
    from sw.adaptive import step_energy_pj
    from sw.cascade import run

    lanes = get_board(board or "pynq-z2").capacity.lanes
    res = run(net, x)
    energy = step_energy_pj(net.cascade, res.first.golden.layer_events, lanes).sum(axis=1)
    if res.second is not None:
        energy[res.escalated] += step_energy_pj(net, res.second.golden.layer_events, lanes).sum(axis=1)
    out = {"accuracy": float(np.mean(res.prediction == y)), "camera_free": float(res.camera_free.mean()),
           "energy_pj": float(energy.mean()), "mean_steps": float(res.exit_step.mean() + 1), "kind": "estimated energy"}
    typer.echo(f"audio-first cascade: accuracy {100 * out['accuracy']:.2f}%, camera-free {100 * out['camera_free']:.1f}% "
               f"of clips, mean steps run {out['mean_steps']:.2f} of {net.timesteps}, energy {out['energy_pj'] / 1e3:.2f} nJ "
               f"per inference (estimated, both stages, {lanes} lanes)")
    return out


def apply_adaptive(net, adaptive: str, model: Path):
    """``--adaptive``: ``off`` drops the model's exit rule (all T steps, bit for
    bit the fixed-cost run); ``on`` refuses a model without one; ``auto``
    keeps whatever the model says."""
    from sw.cascade import fixed

    if adaptive == "on" and net.exit is None and (net.cascade is None or net.cascade.exit is None):
        raise ValueError(f"{model}: --adaptive on, but the model has no early-exit rule (field 'exit') and no calibrated "
                         "cascade; run `eavs calibrate` first")
    return fixed(net) if adaptive == "off" else net


def load_split(net, model: Path, data: str, split: str, cache_dir: Path | None):
    """``(data set, spikes laid out as the model's inputs, indices of the split)``.

    ``test`` and ``val`` are the actors the model's training held out (its
    metadata); ``all`` is every sample.
    """
    import numpy as np

    from sw.encode import encoders_from_inputs
    from sw.export import select_inputs
    from sw.train import load_data

    if data.startswith("npz:"):
        d = load_data(data)
    else:
        d = load_data(data, None if cache_dir is None else str(cache_dir), encoders=encoders_from_inputs(net.inputs))
    x = select_inputs(d.x, d.inputs, net)
    if list(d.classes) != list(net.classes):
        raise ValueError(f"{data}: classes {d.classes} differ from the model's {net.classes}")
    idx = np.arange(len(d.y))
    if split in ("test", "val"):
        key = f"{split}_actors"
        actors = (net.metadata.get("split") or {}).get(key)
        if not actors:
            raise ValueError(f"{model}: metadata has no {key.replace('_', ' ')} (not exported from `eavs train`); use --split all")
        idx = idx[np.isin(d.actors, actors)]
        if len(idx) == 0:
            raise ValueError(f"{data}: no sample of the model's {split} actors {actors}")
    return d, x, idx


def _run_backend(kind, net, x, y, board, bitstream, simulator, clips, port=None, baud=None) -> dict:
    """Run ``x`` on the board or the simulated core and compare with sw.golden, sample by sample."""
    import numpy as np

    import host
    from host.golden_backend import GoldenBackend

    if clips:
        x, y = x[:clips], y[:clips]
    if kind == "board":
        options: dict = {"bitfile": str(bitstream), "board": board}
    elif kind == "serial":
        options = {"port": port, "board": board or "ulx3s-85f", "baud": baud}
    else:
        options = {"simulator": simulator}
        if board is not None:
            from hw.spec.boards import get_board

            options["capacity"] = get_board(board).capacity
    with host.open_backend(kind, **options) as be:
        be.load_model(net)
        got = be.infer_batch(x)
        link = be.link_stats() if kind == "serial" else None
    with GoldenBackend(capacity=be.capacity) as ref:  # the capacity the core reported: same lanes, same cycles
        ref.load_model(net)
        want = ref.infer_batch(x)
    diffs = got.differences(want)
    accuracy = float(np.mean(got.prediction == y))
    typer.echo(
        f"{kind} back-end on {len(y)} samples: accuracy {accuracy:.4f}; "
        f"{'bit-exact with sw.golden' if not diffs else f'{len(diffs)} DIFFERENCES from sw.golden'} "
        f"(prediction, readout, cycles, counters, errors); mean {got.cycles.mean():.0f} cycles/inference"
    )
    for line in diffs[:10]:
        typer.echo(f"  {line}")
    out = {"kind": kind, "samples": int(len(y)), "accuracy": accuracy, "bit_exact": not diffs, "mean_cycles": float(got.cycles.mean())}
    if link is not None:
        out["link"] = link
        typer.echo(
            f"serial link (measured): {link['bytes_out']} bytes to the board, {link['bytes_in']} from it, "
            f"{link['requests']} frames, {link['retried']} retried, model load included"
        )
    if diffs:
        raise typer.Exit(1)
    return out
