"""Estimated energy per inference from counted operations (docs/design.md section 8).

These figures are **estimated**, never measured: operation counts from the
golden model (``sw.golden.GoldenResult``) times per-operation energies.

Per-operation energies (45 nm CMOS, 0.9 V), from M. Horowitz, "Computing's
energy problem (and what we can do about it)", IEEE ISSCC 2014, pp. 10-14
(Figure 1.1.9), the table spiking-network papers use for this comparison:

* 8-bit integer multiply:  0.2 pJ
* 32-bit integer add:      0.1 pJ
* 64-bit read from a 32 KB SRAM: 20 pJ (0.3125 pJ per bit)

Both sides are priced on the same terms, as integer hardware:

* **SNN** (the core): one 32-bit integer add per synaptic event (a weight
  into a wide accumulator; the golden model's ``synaptic_ops``); per neuron
  and step one update of 4 adds (leak subtract with a shift leak, add the
  input, compare with the threshold, reset); per input event and chunk of P
  neurons one read of a P-weight row from weight memory (docs/design.md
  section 5), when the layer event counts are given.
* **ANN** (the *same* network with the same layers and T steps, run densely,
  8-bit integer weights and activations as an integer accelerator would):
  every weight once per step as an 8-bit multiply plus a 32-bit add (MAC);
  per neuron and step one activation (1 add); every weight bit read once
  per step from weight memory.

Not costed on either side: control, clocking, membrane and activation
storage, moving inputs in and results out. With a general decay (not a
shift) a neuron update also needs one multiply, not costed here.

numpy only (the board's host code reports it too).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sw.qnet import QNet

__all__ = [
    "E_ADD32_PJ",
    "E_MUL8_PJ",
    "E_SRAM_BIT_PJ",
    "E_AC_PJ",
    "E_MAC_PJ",
    "E_NEURON_PJ",
    "E_ACTIVATION_PJ",
    "SOURCE",
    "EnergyEstimate",
    "ann_macs",
    "ann_activations",
    "ann_weight_bits",
    "snn_weight_bits",
    "estimate",
]

#: 32-bit integer add, 45 nm (Horowitz, ISSCC 2014).
E_ADD32_PJ = 0.1
#: 8-bit integer multiply, 45 nm (Horowitz, ISSCC 2014).
E_MUL8_PJ = 0.2
#: One bit of a 64-bit read from a 32 KB SRAM: 20 pJ / 64 (Horowitz, ISSCC 2014).
E_SRAM_BIT_PJ = 20.0 / 64
#: An SNN synaptic accumulate: one 32-bit integer add.
E_AC_PJ = E_ADD32_PJ
#: An ANN multiply-accumulate: 8-bit integer multiply + 32-bit add.
E_MAC_PJ = E_MUL8_PJ + E_ADD32_PJ
#: One LIF neuron update per step: 4 adds (leak, input, threshold compare, reset).
E_NEURON_PJ = 4 * E_ADD32_PJ
#: One ANN activation per neuron and step (ReLU / requantise): 1 add.
E_ACTIVATION_PJ = E_ADD32_PJ
SOURCE = (
    "Horowitz, ISSCC 2014, 45 nm: 32-bit int add 0.1 pJ, 8-bit int multiply 0.2 pJ, "
    "SRAM read (32 KB) 20 pJ per 64 bits"
)


def ann_macs(net: QNet) -> int:
    """MACs of the same network run densely as an ANN over the same T steps."""
    per_step = sum(net.source_size(s.name) * layer.n for layer in net.layers for s in layer.sources)
    return int(net.timesteps * per_step)


def ann_activations(net: QNet) -> int:
    """Neuron activations of the dense ANN: every neuron once per step."""
    return int(net.timesteps * sum(layer.n for layer in net.layers))


def ann_weight_bits(net: QNet) -> int:
    """Weight bits the dense ANN reads: every weight once per step."""
    per_step = sum(net.source_size(s.name) * layer.n * s.weight_bits for layer in net.layers for s in layer.sources)
    return int(net.timesteps * per_step)


def snn_weight_bits(net: QNet, layer_events: np.ndarray, lanes: int) -> np.ndarray:
    """Weight bits the core reads per sample: for every input event of a layer
    and every chunk of ``lanes`` neurons, one row of ``lanes`` weights.

    ``layer_events`` is ``[B, T, L]`` (``GoldenResult.layer_events``). A layer
    whose sources have different widths is priced at its widest.
    """
    ev = np.asarray(layer_events, np.int64)
    if ev.ndim == 2:
        ev = ev[None]
    if ev.shape[1:] != (net.timesteps, len(net.layers)):
        raise ValueError(f"layer_events must be [B, {net.timesteps}, {len(net.layers)}], not {list(ev.shape)}")
    if not (isinstance(lanes, int) and lanes > 0):
        raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
    row_bits = np.array(
        [math.ceil(layer.n / lanes) * lanes * max(s.weight_bits for s in layer.sources) for layer in net.layers], np.int64
    )
    return (ev.sum(axis=1) * row_bits).sum(axis=1)


@dataclass(frozen=True)
class EnergyEstimate:
    """Per-inference operation counts and **estimated** energies (mean over samples).

    ``snn_energy_pj`` and ``ann_energy_pj`` are the totals on the same terms:
    arithmetic and neuron updates always; weight-memory reads when
    ``snn_weight_bits`` is known (else ``None`` and neither total has them).
    """

    synaptic_ops: float
    neuron_updates: float
    ann_macs: int
    snn_energy_pj: float
    ann_energy_pj: float
    ann_activations: int = 0
    snn_weight_bits: float | None = None
    ann_weight_bits: int | None = None
    snn_ops_pj: float = 0.0
    snn_neuron_pj: float = 0.0
    snn_memory_pj: float | None = None
    ann_ops_pj: float = 0.0
    ann_activation_pj: float = 0.0
    ann_memory_pj: float | None = None
    source: str = SOURCE
    kind: str = "estimated"

    @property
    def ratio(self) -> float:
        """ANN energy / SNN energy (how many times less the SNN needs)."""
        return self.ann_energy_pj / self.snn_energy_pj if self.snn_energy_pj else float("inf")

    @property
    def terms(self) -> str:
        """What both totals include, in words (printed beside the ratio)."""
        mem = "weight-memory reads" if self.snn_memory_pj is not None else "no memory reads"
        return (
            "both as integer hardware: SNN 32-bit accumulates vs ANN 8-bit integer MACs; "
            f"neuron updates costed on both sides; {mem}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "terms": self.terms}

    def lines(self) -> list[str]:
        out = [
            f"energy per inference (estimated, {self.source}):",
            f"  SNN: {self.synaptic_ops:,.0f} accumulates x {E_AC_PJ:g} pJ + {self.neuron_updates:,.0f} neuron updates"
            f" x {E_NEURON_PJ:g} pJ" + (f" + {self.snn_weight_bits:,.0f} weight bits read x {E_SRAM_BIT_PJ:.4g} pJ"
                                        if self.snn_weight_bits is not None else "")
            + f" = {self.snn_energy_pj / 1e3:,.2f} nJ",
            f"  ANN (same layers, dense, T steps, 8-bit integer): {self.ann_macs:,} MACs x {E_MAC_PJ:g} pJ"
            f" + {self.ann_activations:,} activations x {E_ACTIVATION_PJ:g} pJ"
            + (f" + {self.ann_weight_bits:,} weight bits read x {E_SRAM_BIT_PJ:.4g} pJ" if self.ann_weight_bits is not None else "")
            + f" = {self.ann_energy_pj / 1e3:,.2f} nJ",
            f"  ratio ANN/SNN: {self.ratio:,.1f}x ({self.terms})",
        ]
        return out


def estimate(
    net: QNet,
    synaptic_ops: np.ndarray,
    neuron_updates: np.ndarray,
    layer_events: np.ndarray | None = None,
    lanes: int | None = None,
) -> EnergyEstimate:
    """Estimate from the golden model's per-sample counts (``GoldenResult``).

    With ``layer_events`` and the core's ``lanes``, weight-memory reads are
    costed on both sides too.
    """
    sops = np.asarray(synaptic_ops, np.float64)
    nups = np.asarray(neuron_updates, np.float64)
    if sops.size == 0:
        raise ValueError("no samples: cannot estimate energy from zero operation counts")
    mean_sops, mean_nups = float(sops.mean()), float(nups.mean())
    macs, acts = ann_macs(net), ann_activations(net)
    snn_ops, snn_neu = mean_sops * E_AC_PJ, mean_nups * E_NEURON_PJ
    ann_ops, ann_act = macs * E_MAC_PJ, acts * E_ACTIVATION_PJ
    snn_bits = ann_bits = snn_mem = ann_mem = None
    if layer_events is not None:
        if lanes is None:
            raise ValueError("layer_events given without the core's lanes: cannot count weight-row reads")
        snn_bits = float(snn_weight_bits(net, layer_events, lanes).mean())
        ann_bits = ann_weight_bits(net)
        snn_mem, ann_mem = snn_bits * E_SRAM_BIT_PJ, ann_bits * E_SRAM_BIT_PJ
    return EnergyEstimate(
        synaptic_ops=mean_sops,
        neuron_updates=mean_nups,
        ann_macs=macs,
        ann_activations=acts,
        snn_weight_bits=snn_bits,
        ann_weight_bits=ann_bits,
        snn_ops_pj=snn_ops,
        snn_neuron_pj=snn_neu,
        snn_memory_pj=snn_mem,
        ann_ops_pj=ann_ops,
        ann_activation_pj=ann_act,
        ann_memory_pj=ann_mem,
        snn_energy_pj=snn_ops + snn_neu + (snn_mem or 0.0),
        ann_energy_pj=ann_ops + ann_act + (ann_mem or 0.0),
    )
