"""``eavs nir export|import``: NIR graphs in and out (sw.nir_io)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    nir_app = typer.Typer(help="NIR (Neuromorphic Intermediate Representation) export and import.", no_args_is_help=True)

    @nir_app.command("export")
    def export_cmd(
        model: Path = typer.Argument(..., help="A .qnet model (reset zero: NIR cannot express reset by subtraction)."),
        out: Path = typer.Option(..., "--out", help="The NIR (HDF5) file to write."),
        dt: float = typer.Option(1e-4, "--dt", help="Time step in seconds: decay d <-> tau = dt * 4096 / d."),
    ) -> None:
        """Write MODEL as a NIR graph: Linear/Affine + LIF/IF/LI/I nodes, recurrent edges."""
        from sw.nir_io import export_nir
        from sw.qnet import load

        net = load(model)
        export_nir(net, out, dt)
        typer.echo(f"wrote {out}: {len(net.layers)} neuron layers, dt={dt} s (tau = dt * 4096 / d), readout {net.readout.readout}")

    @nir_app.command("import")
    def import_cmd(
        graph: Path = typer.Argument(..., help="A NIR file (snnTorch, Norse, Sinabs or `eavs nir export`)."),
        out: Path = typer.Option(..., "--out", help="The .qnet file to write."),
        bits: int = typer.Option(8, "--bits", help="Weight bits (2..16)."),
        v_bits: int = typer.Option(16, "--v-bits", help="Membrane bits."),
        timesteps: int = typer.Option(None, "--timesteps", help="T (default: the graph's metadata, else 40)."),
        comparison: str = typer.Option(None, "--comparison", help="Source threshold test: '>' or '>=' (default: metadata, else '>')."),
        reset: str = typer.Option(
            None, "--reset",
            help="The source's reset, 'zero' or 'subtract'. NIR files cannot say it (snnTorch writes v_reset = 0 for both); default zero, with a warning for snnTorch-like graphs.",
        ),
        readout: str = typer.Option(
            None, "--readout",
            help="'membrane' or 'spikes' (default: spikes when the output layer spikes, else membrane).",
        ),
        dt: float = typer.Option(None, "--dt", help="The source's time step in seconds (default: the graph's metadata, else 1e-4, snnTorch's)."),
    ) -> None:
        """Quantize a NIR graph into a .qnet; prints the quantization error and every approximation."""
        from sw.nir_io import import_nir

        net, rep = import_nir(graph, out, bits=bits, v_bits=v_bits, timesteps=timesteps, comparison=comparison,
                              reset=reset, readout=readout, dt=dt)
        for line in rep.lines():
            typer.echo(line)
        typer.echo(f"wrote {out}: layers {[(l.name, l.n) for l in net.layers]}, inputs {[(g.name, g.size) for g in net.inputs]}, "
                   f"T={net.timesteps}, reset {net.layers[0].reset}, readout {net.readout.readout}")

    app.add_typer(nir_app, name="nir")
