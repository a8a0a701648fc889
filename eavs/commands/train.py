"""``eavs train``: quantization-aware training of EAVS-TF (sw.train)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        data: str = typer.Option(..., "--data", help="builtin:DIR | ravdess:DIR | cremad:DIR | npz:FILE (encoded spikes)."),
        out: Path = typer.Option(..., "--out", help="Run directory: last.pt, best.pt, history.json."),
        epochs: int = typer.Option(30, "--epochs", min=1, help="Passes over the training split."),
        bits: int = typer.Option(8, "--bits", help="Weight bits: 4, 6, 8 (2..8), or 0 for the float reference model."),
        modalities: str = typer.Option("audio,visual", "--modalities", help="audio,visual | audio | visual"),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Clips per optimiser step."),
        lr: float = typer.Option(3e-3, "--lr", help="Learning rate of the Adam optimiser."),
        seed: int = typer.Option(0, "--seed", help="Seed of initialisation and batch order."),
        split_seed: int = typer.Option(0, "--split-seed", help="Seed of the speaker-independent actor split."),
        reset: str = typer.Option("subtract", "--reset", help="Membrane reset: subtract | zero."),
        leak_shift: int = typer.Option(3, "--leak-shift", help="Leak k of the hidden layers: v - (v >> k); 0 = no leak."),
        beta: float = typer.Option(None, "--beta", help="Decay every spiking layer by d = round((1 - beta) * 4096) instead of the shift (--leak-shift)."),
        learn_beta: bool = typer.Option(False, "--learn-beta", help="Learn one beta per neuron (12-bit decay, straight-through rounding)."),
        readout: str = typer.Option("membrane", "--readout", help="Classify by the readout's membrane (membrane) or the output layer's spike counts (spikes)."),
        audio_head: bool = typer.Option(False, "--audio-head/--no-audio-head", help="Also train an audio-only head (auxiliary loss; it integrates with the branches' leak, sw.model.CASCADE): the first stage of the audio-first cascade (calibrate it with `eavs calibrate`)."),
        hidden: str = typer.Option("64,64,64", "--hidden", help="Neurons of the audio, visual and fusion layers."),
        device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda[:N]."),
        resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
        cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache of encoded spikes (default: $XDG_CACHE_HOME/eavs or ~/.cache/eavs; never the data folder unless given here)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
        input_dropout: float = typer.Option(0.0, "--input-dropout", help="Drop this fraction of input spikes at random while training."),
        weight_decay: float = typer.Option(0.0, "--weight-decay", help="L2 weight decay of the optimiser."),
        threads: int = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's choice)."),
        stop_after: int = typer.Option(None, "--stop-after", min=1, help="End this run after N epochs; continue later with --resume."),
    ) -> None:
        """Train EAVS-TF with quantization-aware training (Brevitas).

        Trains on a speaker-independent split and writes checkpoints to OUT.
        Multi-GPU / multi-process: `torchrun --nproc_per_node N -m sw.train --data ... --out ...`.
        """
        from eavs.checks import check_data_spec, check_model_options
        from sw.model import CASCADE
        from sw.train import TrainConfig, TrainError, train

        try:
            sizes = [int(s) for s in hidden.split(",")]
        except ValueError:
            raise TrainError(f"--hidden must be three integers like 64,64,64, not {hidden!r}") from None
        if len(sizes) != 3:
            raise TrainError(f"--hidden must be three integers (audio,visual,fusion), not {hidden!r}")
        # Every option is checked before any clip is read or encoded.
        check_data_spec(data, npz=True)
        mods = tuple(m.strip() for m in modalities.split(",") if m.strip())
        check_model_options(weight_bits=bits, leak_shift=leak_shift, reset=reset, modalities=mods, beta=beta,
                            learn_beta=learn_beta, readout=readout,
                            audio_hidden=sizes[0], visual_hidden=sizes[1], fusion_hidden=sizes[2])  # fmt: skip
        cfg = TrainConfig(
            data=data, out=str(out), epochs=epochs, bits=bits, batch_size=batch_size, lr=lr, seed=seed,
            split_seed=split_seed, reset=reset, leak_shift=leak_shift, audio_hidden=sizes[0], visual_hidden=sizes[1], fusion_hidden=sizes[2],
            modalities=mods, device=device, resume=resume,
            cache_dir=None if cache_dir is None else str(cache_dir), progress=progress,
            threads=threads, stop_after=stop_after, input_dropout=input_dropout, weight_decay=weight_decay,
            model_overrides={**{k: v for k, v in (("beta", beta), ("learn_beta", learn_beta), ("readout", readout))
                                if v != {"beta": None, "learn_beta": False, "readout": "membrane"}[k]},
                             **(CASCADE if audio_head else {})},  # fmt: skip
        )
        train(cfg, log=typer.echo)
