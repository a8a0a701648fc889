"""Estimated energy per inference from counted operations (DESIGN.md section 6).

These figures are **estimated**, never measured: operation counts from the
golden model (``sw.golden.GoldenResult``) times per-operation energies.

Per-operation energies (45 nm CMOS, 0.9 V), from M. Horowitz, "Computing's
energy problem (and what we can do about it)", IEEE ISSCC 2014, pp. 10-14,
the figures spiking-network papers use for this comparison:

* 32-bit float add (an SNN accumulate, AC):          0.9 pJ
* 32-bit float multiply (3.7 pJ) + add (0.9 pJ) (MAC): 4.6 pJ

The SNN does one accumulate per synaptic event (a spike times the fan-out of
its layer, the golden model's ``synaptic_ops``). The ANN comparison is the
*same* network with the same layers run densely for the same T steps: every
weight is used once per step as a multiply-accumulate,
``MACs = T * sum over layers and sources of n_src * n``.

numpy only (the board's host code reports it too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sw.qnet import QNet

__all__ = ["E_AC_PJ", "E_MAC_PJ", "SOURCE", "EnergyEstimate", "ann_macs", "estimate"]

#: Energy of one accumulate (32-bit float add, 45 nm), Horowitz ISSCC 2014.
E_AC_PJ = 0.9
#: Energy of one multiply-accumulate (32-bit float mult 3.7 pJ + add 0.9 pJ, 45 nm), Horowitz ISSCC 2014.
E_MAC_PJ = 4.6
SOURCE = "Horowitz, ISSCC 2014, 45 nm: 0.9 pJ/AC, 4.6 pJ/MAC"


def ann_macs(net: QNet) -> int:
    """MACs of the same network run densely as an ANN over the same T steps."""
    per_step = sum(net.source_size(s.name) * layer.n for layer in net.layers for s in layer.sources)
    return int(net.timesteps * per_step)


@dataclass(frozen=True)
class EnergyEstimate:
    """Per-inference operation counts and **estimated** energies (mean over samples)."""

    synaptic_ops: float
    neuron_updates: float
    ann_macs: int
    snn_energy_pj: float
    ann_energy_pj: float
    source: str = SOURCE
    kind: str = "estimated"

    @property
    def ratio(self) -> float:
        """ANN energy / SNN energy (how many times less the SNN needs)."""
        return self.ann_energy_pj / self.snn_energy_pj if self.snn_energy_pj else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}

    def lines(self) -> list[str]:
        return [
            f"energy per inference (estimated, {self.source}):",
            f"  SNN: {self.synaptic_ops:,.0f} accumulates x {E_AC_PJ} pJ = {self.snn_energy_pj / 1e3:,.2f} nJ"
            f" ({self.neuron_updates:,.0f} neuron updates not costed)",
            f"  ANN (same layers, dense, T steps): {self.ann_macs:,} MACs x {E_MAC_PJ} pJ = {self.ann_energy_pj / 1e3:,.2f} nJ",
            f"  ratio ANN/SNN: {self.ratio:,.1f}x",
        ]


def estimate(net: QNet, synaptic_ops: np.ndarray, neuron_updates: np.ndarray) -> EnergyEstimate:
    """Estimate from the golden model's per-sample counts (``GoldenResult``)."""
    sops = np.asarray(synaptic_ops, np.float64)
    nups = np.asarray(neuron_updates, np.float64)
    if sops.size == 0:
        raise ValueError("no samples: cannot estimate energy from zero operation counts")
    mean_sops = float(sops.mean())
    macs = ann_macs(net)
    return EnergyEstimate(
        synaptic_ops=mean_sops,
        neuron_updates=float(nups.mean()),
        ann_macs=macs,
        snn_energy_pj=mean_sops * E_AC_PJ,
        ann_energy_pj=macs * E_MAC_PJ,
    )
