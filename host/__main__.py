"""``python3 -m host``: classify on the board (or golden) from the deploy bundle.

The board's Python has numpy and pynq but neither torch nor typer's ``eavs``
stack, so this entry point uses argparse and the board-side modules only::

    python3 -m host --backend serial --port /dev/ttyUSB0 --model models/model.qnet --spikes test.npz
    sudo -E python3 -m host --backend board --board zcu104 --bitstream overlay/eavs.bit \\
        --model models/model.qnet --clips clips --energy
    python3 -m host --backend golden --model models/model.qnet --spikes test.npz

``--spikes`` reads an ``.npz`` with ``x`` (uint8 ``[B, T, N_in]``) and
optionally ``y`` (labels); ``--clips`` reads RAVDESS-named wav/video files.
Errors are printed as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m host", description="EAVS-TF inference on the board, RTL simulation or golden model")
    p.add_argument("--backend", choices=("board", "rtl", "golden", "serial"), default="board")
    p.add_argument("--port", default=None, help="serial back-end: pyserial URL of the board's UART (/dev/ttyUSB0, socket://HOST:PORT)")
    p.add_argument("--board", default=None, help="board name in boards.toml (clock, rails, golden capacity)")
    p.add_argument("--bitstream", default="overlay/eavs.bit", help="overlay .bit with its .hwh beside it")
    p.add_argument("--model", required=True, help=".qnet model file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spikes", help=".npz with x [B,T,N_in] (and optional y)")
    src.add_argument("--clips", help="folder of RAVDESS-named clips (wav + video)")
    p.add_argument("--max", type=int, default=0, help="at most this many samples (0: all)")
    p.add_argument("--energy", action="store_true", help="measure energy (rails) or estimate it")
    p.add_argument("--check-golden", action="store_true", help="also run the golden model and require identical results")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per wait on the core")
    return p


def _load_samples(args, be) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    if args.spikes:
        path = Path(args.spikes)
        if not path.is_file():
            raise FileNotFoundError(f"spike file {path} does not exist")
        with np.load(path, allow_pickle=False) as z:
            key = "x" if "x" in z.files else "spikes" if "spikes" in z.files else None
            if key is None:
                raise ValueError(f"{path}: no array 'x' (or 'spikes') of [B, T, N_in] spikes; arrays: {z.files}")
            x = z[key]
            y = z["y"] if "y" in z.files else None
        names = [f"sample {i}" for i in range(len(x))]
    else:
        from sw.data import ravdess

        kinds = {g.name for g in be.net.inputs}
        clips, _ = ravdess.scan(args.clips, need_audio="audio" in kinds, need_video="visual" in kinds)
        if not clips:
            raise FileNotFoundError(f"no RAVDESS-named clips under {args.clips}")
        if args.max:
            clips = clips[: args.max]
        x = np.stack([be.encode_files(c.audio if "audio" in kinds else None, c.video if "visual" in kinds else None) for c in clips])
        y = np.array([c.label for c in clips])
        names = [Path(c.path).name for c in clips]
    if args.max:
        x, names = x[: args.max], names[: args.max]
        y = y[: args.max] if y is not None else None
    return x, y, names


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import host
    from host import energy

    opts: dict = {}
    if args.backend == "board":
        opts = {"bitfile": args.bitstream, "board": args.board, "timeout_s": args.timeout}
    elif args.backend == "serial":
        if not args.port:
            _parser().error("--backend serial needs --port (e.g. /dev/ttyUSB0)")
        opts = {"port": args.port, "timeout_s": args.timeout, **({"board": args.board} if args.board else {})}
    elif args.board:
        opts = {"board": args.board} if args.backend == "golden" else {}
    with host.open_backend(args.backend, **opts) as be:
        net = be.load_model(args.model)
        x, y, names = _load_samples(args, be)
        res = be.infer_batch(x)
        for name, r in zip(names, res):
            print(f"{name:36s} -> {r.label:12s} cycles {r.cycles}")
        if y is not None and len(y):
            print(f"accuracy: {float((res.prediction == y).mean()):.3f} on {len(y)} samples")
        print(res.summary())
        if args.check_golden and be.kind != "golden":
            gold = host.open_backend("golden", capacity=be.capacity)
            gold.load_model(net)
            diffs = res.differences(gold.infer_batch(x))
            if diffs:
                print("MISMATCH with the golden model:\n  " + "\n  ".join(diffs))
                return 1
            print("identical to the golden model (prediction, readout, cycles, counters)")
        if args.energy:
            rails, source = energy.board_rails(args.board) if (args.board and be.kind == "board") else ((), "none")
            if rails:
                rep = energy.measure_energy(lambda: be.infer_batch(x), len(x), energy.rail_sensors(rails, source))
            else:
                rep = energy.estimate_energy(net, res.counters["synaptic_ops"])
            print(rep)
    return 0


def main() -> None:
    try:
        sys.exit(run())
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
