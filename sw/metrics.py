"""Evaluation figures of an integer model: accuracy, recall, confusion,
spike rates, operation counts, and NeuroBench's metrics.

:func:`evaluate` runs the golden model (numpy only, so the board can use
it). :func:`neurobench_metrics` feeds a dequantized plain-torch copy of the
network to the ``neurobench`` package itself (torch, snnTorch and neurobench
are imported only inside it): its ``nn.Linear`` layers hold ``W_int * scale``
(so quantized zeros count as zeros in connection sparsity) and its neurons
are ``snntorch`` spiking-neuron modules that apply the exact integer update
of docs/design.md section 3, so the activations NeuroBench hooks are the golden
model's spikes.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sw import golden
from sw.energy import EnergyEstimate, estimate
from sw.qnet import QNet

__all__ = ["Evaluation", "evaluate", "format_recall", "neurobench_metrics", "wilson_interval"]


@dataclass
class Evaluation:
    """What ``eavs eval`` reports (all per-sample figures are means)."""

    n: int
    accuracy: float
    recall: dict[str, float | None]  # None: the class has no samples (recall undefined)
    confusion: np.ndarray
    classes: list[str]
    spike_rate: dict[str, float]
    synaptic_ops: float
    neuron_updates: float
    input_spikes: float
    energy: EnergyEstimate
    prediction: np.ndarray = field(repr=False)
    mean_exit_step: float | None = None  # with an early-exit rule (None: all T steps)
    timesteps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "recall": self.recall,
            "confusion": self.confusion.tolist(),
            "classes": self.classes,
            "spike_rate": self.spike_rate,
            "synaptic_ops": self.synaptic_ops,
            "neuron_updates": self.neuron_updates,
            "input_spikes": self.input_spikes,
            "energy": self.energy.to_dict(),
            "mean_exit_step": self.mean_exit_step,
        }

    def lines(self) -> list[str]:
        out = [f"samples {self.n}  accuracy {self.accuracy * 100:.2f}%"]
        out.append("per-class recall: " + ", ".join(f"{c} {format_recall(r)}" for c, r in self.recall.items()))
        w = max(len(c) for c in self.classes)
        out.append("confusion (rows: true, columns: predicted):")
        out.append(" " * (w + 1) + " ".join(f"{i:>4d}" for i in range(len(self.classes))))
        for i, c in enumerate(self.classes):
            out.append(f"{c:>{w}} " + " ".join(f"{v:>4d}" for v in self.confusion[i]))
        out.append("spike rate (spikes per neuron per step): " + ", ".join(f"{k} {v:.4f}" for k, v in self.spike_rate.items()))
        out.append(
            f"per inference: {self.input_spikes:,.0f} input spikes, {self.synaptic_ops:,.0f} synaptic ops, "
            f"{self.neuron_updates:,.0f} neuron updates"
        )
        if self.mean_exit_step is not None:
            out.append(f"early exit: mean steps run {self.mean_exit_step + 1:.2f} of {self.timesteps} "
                       f"(exit_step + 1; counts and energy to the exit)")
        out += self.energy.lines()
        return out


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / n`` (95 % for the default z).

    Chosen over the normal approximation because it stays inside [0, 1] and
    is sound for small test sets and accuracies near 0 or 1. It treats clips
    as independent draws; clips of one actor are not, so it understates the
    spread between speakers (the demo's seed spread shows another part).
    """
    if n <= 0:
        raise ValueError(f"no samples: cannot bound an accuracy over n = {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must be in 0..{n}, not {correct}")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def format_recall(r: float | None) -> str:
    """A recall as a percentage; a class with no samples has none to show."""
    return "n/a (no samples)" if r is None else f"{r * 100:.1f}%"


def evaluate(net: QNet, x: np.ndarray, y: np.ndarray, batch: int = 128) -> Evaluation:
    """Run the golden model over ``x`` ``[N, T, N_in]`` and summarise against labels ``y``."""
    y = np.asarray(y, np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("no samples to evaluate")
    C = len(net.classes)
    preds, sops, nups, ins, exits = [], [], [], [], []
    spikes = {layer.name: 0 for layer in net.layers if layer.spiking}
    for i in range(0, len(x), batch):
        r = golden.run(net, x[i : i + batch])
        preds.append(r.prediction)
        sops.append(r.synaptic_ops)
        nups.append(r.neuron_updates)
        ins.append(r.input_spikes)
        exits.append(r.exit_step)
        for name in spikes:
            spikes[name] += int(r.spikes[name].sum())
    pred = np.concatenate(preds)
    conf = np.zeros((C, C), np.int64)
    np.add.at(conf, (y, pred), 1)
    support = conf.sum(1)
    recall = {c: (float(conf[i, i] / support[i]) if support[i] else None) for i, c in enumerate(net.classes)}
    sizes = {layer.name: layer.n for layer in net.layers}
    rate = {k: v / (len(x) * net.timesteps * sizes[k]) for k, v in spikes.items()}
    sops_a, nups_a = np.concatenate(sops), np.concatenate(nups)
    return Evaluation(
        n=len(x),
        accuracy=float((pred == y).mean()),
        recall=recall,
        confusion=conf,
        classes=list(net.classes),
        spike_rate=rate,
        synaptic_ops=float(sops_a.mean()),
        neuron_updates=float(nups_a.mean()),
        input_spikes=float(np.concatenate(ins).mean()),
        energy=estimate(net, sops_a, nups_a),
        prediction=pred,
        mean_exit_step=None if net.exit is None else float(np.concatenate(exits).mean()),
        timesteps=net.timesteps,
    )


# -- NeuroBench ---------------------------------------------------------------------


def _plain_torch_copy(net: QNet):
    """A dequantized torch + snnTorch copy of ``net`` that spikes exactly as the golden model.

    Weight scales come from the model's metadata (``weight_scales``, written
    by ``sw.export``); without them the unit scale is used, which changes no
    spike (the neurons divide the scale back out).
    """
    import snntorch as snn
    import torch
    from torch import nn

    scales = net.metadata.get("weight_scales", {}) or {}

    class ExactLIF(snn.Leaky):
        """An snnTorch neuron module applying docs/design.md section 3 in integer units."""

        def __init__(self, layer, scale: float) -> None:
            d = np.asarray(layer.decay, np.int64)
            super().__init__(beta=torch.as_tensor(1.0 - d / 4096.0), threshold=float(layer.threshold) * scale,
                             reset_mechanism=layer.reset, init_hidden=False)
            self.layer, self.scale = layer, scale
            self.v = None

        def reset_state(self) -> None:
            self.v = None

        def forward(self, current):  # current in real units
            i = torch.round(current.double() / self.scale)
            if self.v is None:
                self.v = torch.zeros_like(i)
            lay = self.layer
            d = torch.as_tensor(np.asarray(lay.decay, np.float64), dtype=torch.float64)
            v = self.v - torch.floor(self.v * d / 4096.0) + i  # v * d < 2**53: exact in float64
            v = torch.clamp(v, -(2 ** (lay.v_bits - 1)), 2 ** (lay.v_bits - 1) - 1)
            if lay.spiking:
                spk = (v >= lay.threshold).double()
                v = v * (1 - spk) if lay.reset == "zero" else v - spk * lay.threshold
            else:
                spk = torch.zeros_like(v)
            self.v = v
            return spk, v * self.scale

    class PlainNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linears = nn.ModuleDict()
            self.neurons = nn.ModuleDict()
            for layer in net.layers:
                s = float(scales.get(layer.name, 1.0))
                n_in = sum(net.source_size(src.name) for src in layer.sources)
                lin = nn.Linear(n_in, layer.n, bias=layer.bias is not None).double()
                w = np.concatenate([src.weight.astype(np.float64) for src in layer.sources], 0).T * s
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w))
                    if layer.bias is not None:
                        lin.bias.copy_(torch.from_numpy(layer.bias.astype(np.float64) * s))
                self.linears[layer.name] = lin
                self.neurons[layer.name] = ExactLIF(layer, s)

        def forward(self, x):  # [B, T, N_in] -> readout membranes [T, B, n_out]
            x = x.double()
            for m in self.neurons.values():
                m.reset_state()
            offsets = net.input_offsets()
            B, T, _ = x.shape
            prev = {layer.name: x.new_zeros(B, layer.n) for layer in net.layers}
            outs = []
            for t in range(T):
                now = {g.name: x[:, t, offsets[g.name] : offsets[g.name] + g.size] for g in net.inputs}
                for layer in net.layers:
                    inp = torch.cat([prev[s.name] if s.delay else now[s.name] for s in layer.sources], 1)
                    spk, mem = self.neurons[layer.name](self.linears[layer.name](inp))
                    now[layer.name] = spk
                    if not layer.spiking:
                        outs.append(mem)
                prev = {layer.name: now[layer.name] for layer in net.layers}
            return torch.stack(outs, 0)

    return PlainNet()


def neurobench_metrics(net: QNet, x: np.ndarray, y: np.ndarray, batch: int = 64) -> dict[str, Any]:
    """NeuroBench's static and workload metrics of ``net`` on ``x, y`` (through ``neurobench`` itself)."""
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    model = SNNTorchModel(_plain_torch_copy(net), custom_forward=True)
    ds = TensorDataset(torch.from_numpy(np.asarray(x, np.float64)), torch.from_numpy(np.asarray(y, np.int64)))
    loader = DataLoader(ds, batch_size=batch, shuffle=False)
    bench = Benchmark(
        model, loader, [], [lambda out: out[:, -1].argmax(-1)],
        [[Footprint, ConnectionSparsity, ParameterCount], [ClassificationAccuracy, ActivationSparsity, SynapticOperations]],
    )
    res = bench.run(quiet=True)
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in res.items()}
