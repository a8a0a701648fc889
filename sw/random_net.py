"""Random integer networks for property tests and simulator checks.

numpy only. The same generator feeds the golden model's property tests, the
Amaranth and cocotb testbenches and ``eavs sim``, so every stage is exercised
on the same kinds of models: several input groups, skip connections,
recurrence (delay 1), both reset modes, every exact leak shift, saturating
widths, and on request general per-neuron decays and a spike-count readout.

The default stays shift-form (``d = 4096 >> k`` for one k per layer, k in
0..12) and membrane readout, because the RTL tests draw from here and today's
LIF lane knows only shifts (``Layer.leak_shift``).
"""

from __future__ import annotations

import numpy as np

from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source

__all__ = ["random_qnet", "random_spikes"]


def random_qnet(
    rng: np.random.Generator,
    *,
    max_inputs: int = 24,
    max_neurons: int = 12,
    max_hidden: int = 2,
    max_sources: int = 3,
    weight_bits: int | None = None,
    v_bits: int | None = None,
    timesteps: int | None = None,
    n_classes: int | None = None,
    recurrence: bool = True,
    general_decay: bool = False,
    readout: str = "membrane",
    early_exit: bool = False,
) -> QNet:
    """A valid random :class:`QNet`; every layer respects ``max_sources``.

    ``early_exit``: the model carries a random exit rule (margin from small
    to unreachable, min_step anywhere in 0..T-1).

    ``general_decay``: every neuron draws its own decay in 0..4096 (edges
    0, 1, 4095, 4096 and shift values included) instead of one shift per
    layer. ``readout``: ``"membrane"``, ``"spikes"`` (the last layer spikes
    and the class is its spike count) or ``"random"`` (either).
    """
    if readout == "random":
        readout = str(rng.choice(["membrane", "spikes"]))
    n_groups = int(rng.integers(1, 3))
    inputs = [InputGroup(f"in{g}", int(rng.integers(1, max(2, max_inputs // n_groups) + 1))) for g in range(n_groups)]
    n_hidden = int(rng.integers(1, max_hidden + 1))
    n_out = n_classes or int(rng.integers(2, 5))
    sizes = [int(rng.integers(1, max_neurons + 1)) for _ in range(n_hidden)] + [n_out]
    layers: list[Layer] = []
    for i, n in enumerate(sizes):
        is_last = i == len(sizes) - 1
        wb = weight_bits or int(rng.choice([2, 4, 6, 8]))
        vb = v_bits or int(rng.choice([6, 8, 12, 16]))
        # Candidate sources: inputs and earlier layers (delay 0), self/later (delay 1).
        cands: list[tuple[str, int, int]] = [(g.name, g.size, 0) for g in inputs]
        cands += [(layers[j].name, layers[j].n, int(rng.integers(0, 2))) for j in range(i)]
        if recurrence and not is_last:
            cands.append((f"h{i}", n, 1))
            cands += [(f"h{j}", sizes[j], 1) for j in range(i + 1, n_hidden)]
        k = int(rng.integers(1, min(max_sources, len(cands)) + 1))
        # Always keep a feed-forward path: the previous layer (or an input group).
        first = cands[len(inputs) + i - 1] if i > 0 else cands[int(rng.integers(0, len(inputs)))]
        rest = [c for c in cands if c[0] != first[0]]
        chosen = [first] + [rest[j] for j in rng.permutation(len(rest))[: k - 1]]
        lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
        sources = [
            Source(name, rng.integers(lo, hi + 1, size=(n_src, n)).astype(np.int16), wb, delay)
            for name, n_src, delay in chosen
        ]
        vmax = (1 << (vb - 1)) - 1
        bias = rng.integers(-vmax // 4, vmax // 4 + 1, size=n).astype(np.int32) if rng.random() < 0.5 else None
        if general_decay:
            edges = np.array([0, 1, 4095, 4096, 2048, 512, 410, 205], np.int32)
            decay = np.where(rng.random(n) < 0.3, rng.choice(edges, size=n), rng.integers(0, 4097, size=n)).astype(np.int32)
            shape = dict(decay=decay)
        else:
            shape = dict(leak_shift=int(rng.integers(0, 13)))
        spiking_out = readout == "spikes"
        layers.append(
            Layer(
                name="out" if is_last else f"h{i}",
                n=n,
                sources=sources,
                threshold=int(rng.integers(1, vmax + 1)) if rng.random() < 0.3 else int(rng.integers(1, min(vmax, 4 * hi) + 1)),
                reset=str(rng.choice(["zero", "subtract"])),
                v_bits=vb,
                spiking=spiking_out if is_last else True,
                bias=bias,
                readout=readout if is_last else "membrane",
                **shape,
            )
        )
    T = timesteps or int(rng.integers(1, 9))
    rule = None
    if early_exit:
        margin = int(rng.choice([0, 1, 2, 3, 5, 10, 30, 100, 1000, 1 << 20]))
        rule = ExitRule(margin=margin, min_step=int(rng.integers(0, T)))
    return QNet(classes=[f"c{j}" for j in range(n_out)], timesteps=T, inputs=inputs, layers=layers, exit=rule).validate()


def random_spikes(rng: np.random.Generator, net: QNet, batch: int = 1, rate: float | None = None) -> np.ndarray:
    """Random binary input spikes ``[B, T, N_in]`` (uint8)."""
    p = rng.uniform(0.0, 0.6) if rate is None else rate
    return (rng.random((batch, net.timesteps, net.n_inputs)) < p).astype(np.uint8)


def demo_shaped_qnet(
    rng: np.random.Generator,
    *,
    n_audio: int = 64,
    n_visual: int = 512,
    hidden: int = 128,
    n_classes: int = 8,
    timesteps: int = 40,
    weight_bits: int = 4,
) -> QNet:
    """A random network with the demo model's shape, for benchmarks.

    Audio and visual branches, a fusion layer fed by both plus its own
    previous-step spikes, and a leaky readout. Weights lean slightly positive
    and thresholds are set so hidden layers spike at a few to ~20 percent
    for ~10 percent input activity, like a trained model.
    """
    hi = (1 << (weight_bits - 1)) - 1

    def w(n_src: int, n: int) -> np.ndarray:
        return np.clip(np.round(rng.normal(0.15, hi / 2, size=(n_src, n))), -hi, hi).astype(np.int8)

    def lif(name: str, n: int, sources: list[Source], threshold: int) -> Layer:
        return Layer(name, n, sources, threshold=threshold, leak_shift=3, reset="subtract", v_bits=16)

    layers = [
        lif("audio_lif", hidden, [Source("audio", w(n_audio, hidden), weight_bits)], 3 * hi),
        lif("visual_lif", hidden, [Source("visual", w(n_visual, hidden), weight_bits)], 8 * hi),
        lif(
            "fusion",
            hidden,
            [
                Source("audio_lif", w(hidden, hidden), weight_bits),
                Source("visual_lif", w(hidden, hidden), weight_bits),
                Source("fusion", w(hidden, hidden), weight_bits, delay=1),
            ],
            6 * hi,
        ),
        Layer("readout", n_classes, [Source("fusion", w(hidden, n_classes), weight_bits)], 1, 4, "zero", 16, False),
    ]
    inputs = [InputGroup("audio", n_audio), InputGroup("visual", n_visual)]
    return QNet([f"class{i}" for i in range(n_classes)], timesteps, inputs, layers).validate()
