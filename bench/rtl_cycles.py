"""Cycles per inference, lane utilisation and inferences/s of ``eavs_core``.

For a demo-size model (a trained ``--model`` .qnet, or by default random
weights in the shape of the default EAVS-TF network: audio 64 + visual 512
inputs, audio/visual branch layers, recurrent fusion layer, 8-class readout,
T = 40, thresholds tuned so hidden layers fire at about the input rate), the
cycle model ``hw.spec.capacity.sample_cycles`` gives the compute cycles of every
sample from the golden model's event counts; utilisation is
``synaptic_ops / (P x cycles)``. A few samples are then run in the Amaranth
simulation of the core to confirm that its cycle counter equals the model.

``python -m bench.rtl_cycles [--model M.qnet] [--lanes 8,16,32] [--confirm N]``
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from bench.common import Row
from hw.spec import protocol
from hw.spec.capacity import Capacity, sample_cycles, weight_words
from sw import golden
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.qnet import load as load_qnet

BOARD_FOR_LANES = {32: "kv260"}


def demo_model(seed: int = 0, rate: float = 0.1, shape: str = "default") -> QNet:
    """Random integer weights in the default network's shape, thresholds set so
    that each hidden layer spikes at roughly ``rate`` on ``rate`` input."""
    rng = np.random.default_rng(seed)
    inputs = [InputGroup("audio", 64), InputGroup("visual", 512)]
    if shape == "default":
        plan = [("audio_lif", 64, [("audio", 0)]), ("visual_lif", 64, [("visual", 0)]),
                ("fusion", 64, [("audio_lif", 0), ("visual_lif", 0), ("fusion", 1)])]
    else:  # the brief's demo size: one 128-neuron hidden layer
        plan = [("hidden", 128, [("audio", 0), ("visual", 0)])]
    sizes = {"audio": 64, "visual": 512, **{n: k for n, k, _ in plan}}
    layers = []
    for name, n, srcs in plan + [("readout", 8, [(plan[-1][0], 0)])]:
        sources = [Source(s, rng.integers(-7, 8, size=(sizes[s], n)).astype(np.int8), 4, d) for s, d in srcs]
        fan_in = sum(sizes[s] for s, _ in srcs)
        # mean drive per step ~ rate * fan_in * E|w| (= 3.5 for uniform -7..7); spike ~ rate
        thr = max(1, int(rate * fan_in * 3.5 * 0.5))
        layers.append(Layer(name, n, sources, min(thr, 2**15 - 1), 3, "subtract", 16, name != "readout"))
    net = QNet(["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"], 40, inputs, layers)
    return net.validate("demo model")


def _clock_mhz(lanes: int) -> tuple[float, str]:
    try:
        from hw.spec.boards import load_boards

        boards = load_boards()
        for b in boards.values():
            if b.capacity.lanes == lanes and b.flow != "ecp5":
                return b.clock_mhz, f"assumed clock, not timed: {b.name}'s nominal clock, whose default capacity has P={lanes}"
        b = next(iter(boards.values()))
        return b.clock_mhz, f"assumed clock, not timed: {b.name}'s nominal clock"
    except Exception:  # boards.toml is optional for this figure
        return 100.0, "assumed clock 100 MHz, not timed"


def figures(net: QNet, spikes: np.ndarray, lanes: int) -> dict[str, float]:
    g = golden.run(net, spikes)
    cyc = sample_cycles(net, g.layer_events, lanes)
    util = g.synaptic_ops / (lanes * cyc)
    return dict(cycles=float(cyc.mean()), util=float(util.mean()), util_min=float(util.min()),
                sops=float(g.synaptic_ops.mean()), g=g, cyc=cyc)


def io_inclusive(res, lanes: int) -> tuple[float, float]:
    """From a simulated batch with the stream always valid and the sink always
    ready: (cycles between consecutive result records, the mean compute
    cycles of the same samples). The spacing holds everything a sample costs
    on the streams that does not overlap compute: its step-0 events, the
    readout scan and the record."""
    ends = np.asarray(res.record_ends, np.int64)
    return float(np.diff(ends).mean()), float(np.asarray(res.cycles[1:], np.float64).mean())


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(prog="python -m bench.rtl_cycles")
    ap.add_argument("--model", help="a .qnet (default: random weights in the default network's shape)")
    ap.add_argument("--shape", default="default", choices=["default", "single"], help="shape of the random model")
    ap.add_argument("--lanes", default="8,16,32")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--confirm", type=int, default=3,
                    help="samples to run back to back in the Amaranth simulation (0: none; >= 2 measures I/O-inclusive time)")
    args = ap.parse_args([] if argv is None else argv)
    net = load_qnet(args.model) if args.model else demo_model(rate=args.rate, shape=args.shape)
    rng = np.random.default_rng(1)
    spikes = (rng.random((args.samples, net.timesteps, net.n_inputs)) < args.rate).astype(np.uint8)
    g = golden.run(net, spikes)
    rates = g.layer_spikes / (net.timesteps * np.array([layer.n for layer in net.layers]))
    print(f"model: {args.model or 'random ' + args.shape + '-shape'}; inputs {net.n_inputs}, layers "
          + ", ".join(f"{layer.name}:{layer.n}" for layer in net.layers)
          + f"; T={net.timesteps}; input rate {g.input_spikes.mean() / (net.timesteps * net.n_inputs):.3f}; "
          + "layer rates " + ", ".join(f"{r:.3f}" for r in rates.mean(axis=0)))
    rows = []
    for lanes in [int(x) for x in args.lanes.split(",")]:
        f = figures(net, spikes, lanes)
        mhz, where = _clock_mhz(lanes)
        ips = mhz * 1e6 / f["cycles"]
        print(f"P={lanes:3d}: {f['cycles']:.0f} compute cycles/inference (cycle model), "
              f"utilisation {f['util']:.3f} (min {f['util_min']:.3f}); at {mhz:g} MHz ({where}): "
              f"compute-only {ips:,.0f} inferences/s")
        goal = ">= 0.9" if lanes == 32 else ""
        rows.append(Row("rtl_cycles", f"cycles/inference P={lanes}", f["cycles"], "cycles"))
        rows.append(Row("rtl_cycles", f"utilisation P={lanes}", f["util"], "SOP/(P*cycle)", goal=goal))
        rows.append(Row("rtl_cycles", f"inferences/s P={lanes} @{mhz:g}MHz (compute)", ips, "1/s"))
        if args.confirm:
            rows += _confirm(net, spikes, lanes, f, args.confirm, mhz)
    return rows


def _confirm(net: QNet, spikes: np.ndarray, lanes: int, f: dict, n: int, mhz: float) -> list[Row]:
    """Run ``n`` samples back to back in the Amaranth simulation: the cycle
    counter must equal the model, the readout golden; with ``n >= 2`` the
    record spacing gives the I/O-inclusive time (simulated)."""
    from hw.flow.amaranth_sim import run_amaranth

    cap = Capacity(lanes=lanes, max_layers=len(net.layers), max_neurons=max(layer.n for layer in net.layers),
                   max_sources=3, max_inputs=net.n_inputs, weight_depth=weight_words(net, lanes),
                   weight_bits=8, v_bits=16, max_timesteps=net.timesteps)
    t0 = time.perf_counter()
    res = run_amaranth(net, spikes[:n], cap, seed=None)
    dt = time.perf_counter() - t0
    want = f["cyc"][:n]
    same = res.cycles.tolist() == want.tolist()
    exact = res.readout.tolist() == f["g"].readout[:n].tolist()
    print(f"       Amaranth sim of {n} sample(s): cycles {res.cycles.tolist()} "
          f"{'==' if same else '!='} model {want.tolist()}; readout {'equals' if exact else 'DIFFERS from'} "
          f"golden ({dt:.0f} s)")
    if not (same and exact):
        raise AssertionError("RTL simulation disagrees with the cycle model or the golden model")
    if n < 2:
        return []
    spacing, compute = io_inclusive(res, lanes)
    ratio = compute / spacing
    print(f"       I/O-inclusive (simulated, samples 2..{n} back to back, stream always valid, sink always ready): "
          f"{spacing:.0f} cycles/inference against {compute:.0f} compute cycles = {ratio:.1%} of compute-only "
          f"throughput; {mhz * 1e6 / spacing:,.0f} inferences/s at {mhz:g} MHz (assumed clock, not timed)")
    return [Row("rtl_cycles", f"inferences/s P={lanes} @{mhz:g}MHz (with I/O, simulated)", mhz * 1e6 / spacing, "1/s"),
            Row("rtl_cycles", f"I/O-inclusive / compute-only P={lanes}", ratio, "ratio", goal=">= 0.95")]


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
