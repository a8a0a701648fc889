"""The audio-first cascade (issue 20): run the cheap first stage, and the
fused network only for the clips the first stage is not sure of.

One code path for every back-end: :func:`run` takes an ``infer`` function
(one stage network and its input spikes in, the back-end's per-clip report
out) and does the gating itself, so the golden model, the simulated core,
the serial link and the PYNQ board, and a live source all decide exactly the
same way. :func:`golden_infer` is that function for ``sw.golden``; a
``host`` back-end gives the same fields from the core's result records.

The gate (``sw.qnet`` version 3): a clip is decided by the first stage
alone when that stage has an exit rule and the margin of its decision
quantity at its exit step is >= the rule's margin. A first stage without an
exit rule can never decide, so it is not run: the fused network alone. It then never needs the
face: no detection, tracking or visual encoding, no visual events on the
link, no fused-network operations. An escalated clip pays the first stage
(all T steps: its margin never cleared the gate) *and* the fused network,
which reads the audio again: that is what it pays twice.

numpy only (it runs on the board).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sw import golden
from sw.qnet import QNet

__all__ = ["StageReport", "CascadeResult", "golden_infer", "stage_inputs", "gate", "first_stage", "run", "fixed"]


@dataclass
class StageReport:
    """What one stage reports per clip (the fields of a core's result record).

    ``readout`` is the decision quantity at the exit step (membrane, or
    spike counts for a ``spikes`` readout); ``golden`` keeps the golden
    result when the back-end is the golden model (costs are read from it).
    """

    prediction: np.ndarray
    readout: np.ndarray
    exit_step: np.ndarray
    golden: golden.GoldenResult | None = None


Infer = Callable[[QNet, np.ndarray], StageReport]


def golden_infer(net: QNet, x: np.ndarray) -> StageReport:
    """Run one stage in ``sw.golden`` (the reference back-end)."""
    g = golden.run(net, x)
    q = g.counts if net.readout_mode == "spikes" else g.readout
    return StageReport(g.prediction, q, g.exit_step, g)


def stage_inputs(net: QNet, stage: QNet, x: np.ndarray) -> np.ndarray:
    """Slice spikes laid out as ``net``'s input groups down to ``stage``'s."""
    offsets = net.input_offsets()
    sizes = {g.name: g.size for g in net.inputs}
    parts = [x[..., offsets[g.name]:offsets[g.name] + sizes[g.name]] for g in stage.inputs]
    return np.concatenate(parts, axis=-1)


def gate(first: QNet, readout: np.ndarray) -> np.ndarray:
    """Per clip: is the first stage sure enough to decide alone? (bool ``[B]``)."""
    readout = np.asarray(readout, np.int64)
    if first.exit is None:
        return np.zeros(readout.shape[0], bool)
    return golden.margins(readout) >= first.exit.margin


@dataclass
class CascadeResult:
    """Per clip: the prediction, and which stage decided it."""

    prediction: np.ndarray
    camera_free: np.ndarray  # bool [B]: decided by the first stage alone
    first: StageReport | None  # every clip (None: no cascade)
    second: StageReport | None  # the escalated clips only, in order
    escalated: np.ndarray  # indices of the escalated clips

    @property
    def exit_step(self) -> np.ndarray:
        """The step each clip's deciding stage ended at."""
        out = np.zeros(len(self.prediction), np.int64)
        if self.first is not None:
            out[self.camera_free] = self.first.exit_step[self.camera_free]
        if self.second is not None:
            out[self.escalated] = self.second.exit_step
        return out


def first_stage(net: QNet, x: np.ndarray, infer: Infer = golden_infer) -> tuple[StageReport | None, np.ndarray]:
    """Run the first stage alone on spikes ``x`` laid out as ``net``'s inputs
    (only the first stage's groups are read: a caller that has not got the
    others yet, such as a live camera still off, may leave them zero).

    Returns ``(report, free)``: ``free`` [B] says which clips the first
    stage decides alone; ``report`` is None (and ``free`` all False) when
    there is no cascade or its first stage has no gate (it is not run)."""
    x = np.asarray(x)
    first = net.cascade
    if first is None or first.exit is None:  # a first stage without a gate can never decide: it is not run at all
        return None, np.zeros(len(x), bool)
    r1 = infer(first, stage_inputs(net, first, x))
    return r1, gate(first, r1.readout)


def run(net: QNet, x: np.ndarray, infer: Infer = golden_infer) -> CascadeResult:
    """Run ``net`` (with its cascade, if it has one) on spikes ``x`` laid out
    as ``net``'s inputs ``[B, T, N_in]``."""
    x = np.asarray(x)
    B = len(x)
    r1, free = first_stage(net, x, infer)
    if r1 is None:
        r = infer(net, x)
        return CascadeResult(np.asarray(r.prediction), np.zeros(B, bool), None, r, np.arange(B))
    esc = np.flatnonzero(~free)
    pred = np.asarray(r1.prediction).copy()
    r2 = None
    if esc.size:
        r2 = infer(net, x[esc])
        pred[esc] = r2.prediction
    return CascadeResult(pred, free, r1, r2, esc)


def fixed(net: QNet) -> QNet:
    """The same model as a fixed-cost run (``--adaptive off``): no cascade,
    no exit rule: all T steps of the fused network, exactly as before."""
    return QNet(net.classes, net.timesteps, net.inputs, net.layers, net.version, net.metadata, exit=None, cascade=None)
