"""Bytes per inference over the ULX3S serial link, and inferences/s at the baud rate.

``python -m bench.link_bytes [--rate 0.1] [--samples 20] [--board ulx3s-85f]``

For the demo-shaped model (576 inputs: 64 audio + 512 visual, T = 40;
``sw.random_net.demo_shaped_qnet``) on synthetic random spikes at ``--rate``,
it frames each sample's events exactly as the ``serial`` back-end does
(:func:`host.serial_backend._frames`, :mod:`hw.spec.link` sizes) and counts, per
inference: the event frames and their ACKs, and one ``RECV``/``RESULT``
exchange for its result record. Per-batch traffic (a few register frames)
and empty ``RECV`` polls are left out (they shrink with the batch size; the
simulated-board test measures the real total). Both encodings are shown:
compact u16 events and plain u32 words.

Inferences/s over the link are **estimated from link bytes**: the link is
stop-and-wait, so each inference takes (bytes out + bytes in) x 10 bits /
baud, plus USB turnaround latency that is not counted here. The
compute-only figure is the cycle model (``hw.spec.capacity.sample_cycles``) at
the board's ``clock_mhz``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from host.serial_backend import _frames
from hw.spec import link, protocol
from hw.spec.boards import get_board
from hw.spec.capacity import sample_cycles
from sw import golden
from sw.random_net import demo_shaped_qnet


def sample_bytes(words: np.ndarray, n_out: int, compact: bool = True) -> tuple[int, int]:
    """(bytes to the board, bytes from it) for one sample's event words."""
    frame = link.HEADER_BYTES + link.CRC_BYTES
    if compact:
        frames = _frames(words, link.MAX_PAYLOAD)
    else:
        per = link.MAX_PAYLOAD // 4
        frames = [("WORDS", b"\0" * 4 * min(per, words.size - i), 0) for i in range(0, words.size, per)]
    out = sum(frame + len(p) for _, p, _ in frames) + frame + 2  # + RECV (u16)
    back = len(frames) * (frame + 2) + frame + link.RESULT_ENTRY_BYTES * protocol.result_words(n_out)
    return out, back


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.link_bytes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=0.1, help="input spike probability per input and step")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--board", default="ulx3s-85f")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    board = get_board(args.board)
    rng = np.random.default_rng(0)
    net = demo_shaped_qnet(rng)
    x = (rng.random((args.samples, net.timesteps, net.n_inputs)) < args.rate).astype(np.uint8)
    packets = protocol.event_packets(x)
    n_out = net.readout.n
    res = golden.run(net, x)
    cycles = sample_cycles(net, res.layer_events, board.capacity.lanes)
    fig = {"board": board.name, "baud": board.baud, "clock_mhz": board.clock_mhz, "inputs": net.n_inputs, "timesteps": net.timesteps,
           "input_rate": args.rate, "samples": args.samples, "events_per_sample": float(np.mean([p.size - net.timesteps for p in packets]))}
    for name, compact in (("compact_u16", True), ("words_u32", False)):
        b = np.array([sample_bytes(p, n_out, compact) for p in packets])
        total = b.sum(axis=1).mean()
        fig[name] = {
            "bytes_to_board": float(b[:, 0].mean()),
            "bytes_from_board": float(b[:, 1].mean()),
            "bytes_per_inference": float(total),
            "inferences_per_s_estimated_from_link_bytes": float(board.baud / 10 / total),
        }
    fig["compute_only_inferences_per_s"] = float(board.clock_hz / cycles.mean())
    fig["mean_cycles"] = float(cycles.mean())
    if args.json:
        print(json.dumps(fig, indent=1))
        return 0
    print(f"demo-shaped model ({net.n_inputs} inputs, T = {net.timesteps}), synthetic random spikes at rate {args.rate}, "
          f"{args.samples} samples: {fig['events_per_sample']:.0f} input events per inference")
    for name in ("compact_u16", "words_u32"):
        f = fig[name]
        print(f"  {name:12s} {f['bytes_per_inference']:8.0f} bytes/inference ({f['bytes_to_board']:.0f} to the board, "
              f"{f['bytes_from_board']:.0f} back): {f['inferences_per_s_estimated_from_link_bytes']:.1f} inferences/s "
              f"at {board.baud} baud (estimated from link bytes)")
    print(f"  compute only: {fig['mean_cycles']:.0f} cycles/inference (cycle model, P = {board.capacity.lanes}) = "
          f"{fig['compute_only_inferences_per_s']:.0f} inferences/s at {board.clock_mhz:g} MHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
