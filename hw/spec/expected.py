"""What the core must report for a golden run: the one definition.

Every comparison of hardware with the golden model (``sim.compare``, the
host's golden back-end, ``eavs`` simulate/evaluate) turns a
:class:`sw.golden.GoldenResult` into the result records the core writes
(:class:`hw.spec.protocol.Results`) through :func:`expected_results`, so the
rules below live here only.

Why a function of its own: golden computes the *model* (docs/design.md section 3,
and the early-exit rule's ideal: counters of steps ``0..exit_step``); the
core reports what it *did*. The two differ in one way, the wave schedule
(:mod:`hw.spec.schedule`): in the wave ``w = exit_step + stage[readout]`` in
which the readout computes its exit step, a layer ``l`` with a smaller stage
has already computed step ``w - stage[l]``, past the exit. Those steps are
real work of the core (its spike and synaptic-op counters count them); the
prediction and readout are the readout's, at ``exit_step``.

The fields, per sample ``b`` (``ex = exit_step[b]``; ``T-1`` without a rule):

* ``prediction``: argmax of ``readout_steps[b, ex]`` (lowest index on ties);
* ``readout``: ``readout_steps[b, ex]``: the readout's membrane after step
  ``ex``, or its spike counts over steps ``0..ex`` (``readout = "spikes"``);
* ``exit_step``: ``ex``;
* ``spikes``, ``synaptic_ops``: golden's per-step spikes and events of layer
  ``l`` over its computed steps ``0..last[l]``, ``last[l] = T-1`` if
  ``ex = T-1``, else ``min(T-1, ex + stage[readout] - stage[l])``
  (synaptic ops: events x the layer's n);
* ``in_events``: every input event of the sample, all T steps: the core takes
  the whole sample's words (those after the exit are consumed and discarded,
  :mod:`hw.rtl.core`);
* ``cycles``: :func:`hw.spec.capacity.sample_cycles` with the exit;
* ``errors``: 0 (the host refuses malformed input before any back-end).

numpy only (the host imports it; it runs on the board).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hw.spec.capacity import sample_cycles
from hw.spec.protocol import Results
from hw.spec.schedule import layer_stages

if TYPE_CHECKING:  # annotations only
    from sw.golden import GoldenResult
    from sw.qnet import QNet

__all__ = ["computed_steps", "expected_results"]


def computed_steps(net: "QNet", exit_step: np.ndarray) -> np.ndarray:
    """``[B, L]``: the last step each layer computed on the core, for each
    sample's ``exit_step`` (-1: none), per the module docstring."""
    ex = np.asarray(exit_step, np.int64).reshape(-1, 1)
    T = net.timesteps
    stages = np.asarray(layer_stages(net), np.int64)[None, :]
    last = np.minimum(T - 1, ex + stages[:, -1:] - stages)
    return np.where(ex == T - 1, T - 1, np.maximum(last, -1))


def expected_results(net: "QNet", g: "GoldenResult", spikes: np.ndarray, lanes: int) -> Results:
    """The result records a core with ``lanes`` lanes writes for the batch
    ``spikes`` ``[B, T, N_in]`` whose golden run is ``g``."""
    T = net.timesteps
    events = getattr(g, "layer_events_all", None)
    events = np.asarray(g.layer_events if events is None else events, np.int64)
    B = events.shape[0]
    rule = getattr(net, "exit", None)
    q = getattr(g, "readout_steps", None)
    if q is None or getattr(g, "exit_step", None) is None:  # a golden result without the exit fields
        if rule is not None:
            raise ValueError("the model has an early-exit rule, but the golden result has no readout_steps/exit_step")
        from hw.spec.protocol import readout_words  # noqa: PLC0415

        ex = np.full(B, T - 1, np.int64)
        readout = readout_words(net, g)
    else:
        ex = np.asarray(g.exit_step, np.int64).reshape(B)
        readout = np.asarray(q, np.int64)[np.arange(B), ex]
    upto = np.arange(T)[None, :, None] <= computed_steps(net, ex)[:, None, :]  # [B, T, L]
    per_step_spikes = np.stack([np.asarray(g.spikes[layer.name]).sum(axis=2) for layer in net.layers], axis=2)
    fan_out = np.array([layer.n for layer in net.layers], np.int64)
    x = np.asarray(spikes)
    x = x[None] if x.ndim == 2 else x
    return Results(
        errors=np.zeros(B, np.uint32),
        prediction=np.argmax(readout, axis=1).astype(np.int64),
        cycles=np.asarray(sample_cycles(net, events, lanes, ex if rule is not None else None), np.int64).reshape(B),
        in_events=x.reshape(B, -1).sum(axis=1).astype(np.int64),
        spikes=(per_step_spikes * upto).sum(axis=(1, 2)).astype(np.int64),
        synaptic_ops=(events * upto * fan_out).sum(axis=(1, 2)).astype(np.int64),
        readout=readout.astype(np.int64),
        exit_step=ex,
    )
