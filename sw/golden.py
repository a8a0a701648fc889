"""The golden model: docs/design.md section 3, exactly, in numpy.

Every other stage (torch eval, the Amaranth core, Verilator, Icarus, the
board) is compared with this module sample by sample, so it is written for
two things: being obviously the equations of the contract, and being fast
enough to evaluate whole test sets on a laptop or the board's ARM cores.

Speed comes from running a batch of samples at once and doing each
timestep's synaptic input as one matrix product. Integer matmul in numpy does
not use BLAS, so the product is done in floating point and is still exact:
every partial sum is an integer of magnitude at most ``sum(|W|)`` over a
column, and float32 (float64) represents all integers below 2**24 (2**53)
exactly, so the float product equals the integer one. :func:`_exact_dtype`
picks the narrowest type for which that bound holds.

The leak is the contract's 12-bit decay, ``v - ((v * d) >> 12)``, computed
in int64: ``|v| < 2**31`` and ``d <= 4096`` bound the product by ``2**43``, so
it is exact, and numpy's ``>>`` on signed integers is an arithmetic shift,
i.e. the floor of ``v * d / 4096`` also for negative products (-5 * 410 =
-2050, and -2050 >> 12 = -1, not 0).

Rounding: the floor, not Lava's. Lava's bit-accurate LIF (``LIFBitAcc``,
``PyLifModelBitAcc``) multiplies by the *kept* fraction and rounds the
magnitude toward zero: ``sign(p) * (|p| >> 12)`` with ``p = v * (4096 - d)``.
Ours subtracts the floor of the *lost* fraction: ``v - floor(v * d / 4096)``,
which is ``ceil(v * (4096 - d) / 4096)``. The two differ by one unit whenever
the product has a remainder and v > 0 (Lava decays a small positive membrane
one unit further; ours keeps it), and agree for v <= 0. We keep the floor
because (a) with ``d = 4096 >> k`` it is exactly today's ``v - (v >> k)``, so
every shift model and every test keeps its integers bit for bit, and Lava's
form is not (for v = 3, k = 1 it gives 1, the shift gives 2); (b) in the RTL it
is one multiplier and a plain arithmetic shift, with no sign/magnitude
correction. Importers (sw.nir_io) choose ``d = round((1 - beta) * 4096)`` and
a weight scale large enough that one unit is far below the threshold.

Early exit (issue 20, ``QNet.exit``): all T steps of every layer are still
computed (the trains stay ``[B, T, n]``), then the rule picks each sample's
``exit_step`` from the readout's per-step decision quantity
(``readout_steps``); prediction, readout, counts and every counter follow the
exit, i.e. count steps 0..exit_step only (the ideal: what a machine that
stops exactly there spends; ``sw.energy`` uses it). ``layer_events_all``
keeps the per-step events of all T steps for those (the hardware's wave
schedule) that must add what was computed past the exit. A model without the
rule has ``exit_step = T-1`` and gives the same integers as before, bit for
bit.

numpy and the standard library only (it runs on the board).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.qnet import DECAY_BITS, Layer, QNet

__all__ = ["GoldenResult", "run", "lif_step", "check_spikes", "margins", "exit_steps"]


@dataclass
class GoldenResult:
    """What one batch through the golden model gives.

    Attributes
    ----------
    spikes : dict of layer name -> bool array ``[B, T, n]``
        Output spikes of every layer (all False for the readout).
    readout : int64 array ``[B, n_out]``
        The last layer's membrane after step ``exit_step`` (T-1 without an
        exit rule; after its reset, if it spikes).
    counts : int64 array ``[B, n_out]``
        The last layer's spike counts over steps 0..exit_step (zero for a
        non-spiking membrane readout).
    prediction : int64 array ``[B]``
        ``argmax`` of ``readout`` (``readout='membrane'``) or of ``counts``
        (``readout='spikes'``); the lowest index wins ties.
    readout_steps : int64 array ``[B, T, n_out]``
        The decision quantity q_t after every step t: the readout membrane
        (``membrane``) or its spike counts over 0..t (``spikes``).
    exit_step : int64 array ``[B]``
        The step the sample ends at (the early-exit rule; T-1 without one).
    layer_events : int64 array ``[B, T, L]``
        Spike events each layer consumed at each step (summed over its
        sources; recurrent sources count the previous step's spikes), zero
        after ``exit_step``. This is what the hardware replays, so the cycle
        model reads it.
    layer_events_all : int64 array ``[B, T, L]``
        The same for all T steps, past the exit too.
    layer_spikes : int64 array ``[B, L]``
        Output spikes per layer over steps 0..exit_step.
    synaptic_ops : int64 array ``[B]``
        Accumulates: every consumed event adds one weight into each of the
        layer's n neurons (events x fan-out, zero weights included, as the
        hardware does them), steps 0..exit_step.
    neuron_updates : int64 array ``[B]``
        Membrane updates: (exit_step + 1) x total neurons.
    input_spikes : int64 array ``[B]``
        Input events of steps 0..exit_step.
    membranes : dict of layer name -> int64 ``[B, T, n]`` or None
        Membrane after each step's update and reset, when requested.
    """

    spikes: dict[str, np.ndarray]
    readout: np.ndarray
    prediction: np.ndarray
    layer_events: np.ndarray
    layer_spikes: np.ndarray
    synaptic_ops: np.ndarray
    neuron_updates: np.ndarray
    input_spikes: np.ndarray
    membranes: dict[str, np.ndarray] | None = None
    counts: np.ndarray | None = None
    readout_steps: np.ndarray | None = None
    exit_step: np.ndarray | None = None
    layer_events_all: np.ndarray | None = None


def _leak_form(layer: Layer) -> tuple[str, object]:
    """How to compute the layer's leak fastest, with the same integers.

    ``("none", None)`` when every d is 0; ``("shift", k)`` when every d is
    ``4096 >> k`` (then ``(v * d) >> 12 == v >> k`` exactly, one op instead
    of two); otherwise ``("mul", d)``.
    """
    d = np.asarray(layer.decay, dtype=np.int64)
    if d.size and (d == 0).all():
        return "none", None
    if d.size and (d == d.flat[0]).all():
        d0 = int(d.flat[0])
        if d0 & (d0 - 1) == 0 and d0 <= 1 << (DECAY_BITS - 1):  # a power of two: 4096 >> k, k >= 1
            return "shift", DECAY_BITS - d0.bit_length() + 1
    return "mul", d


def lif_step(v: np.ndarray, current: np.ndarray, layer: Layer, _form: tuple[str, object] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """One membrane update of docs/design.md section 3 for a whole layer.

    Returns ``(v_next, spike)``. ``v`` and ``current`` are int64 arrays
    (``[..., n]``); ``layer.decay`` broadcasts over the last axis.
    """
    kind, arg = _form or _leak_form(layer)
    if kind == "mul":
        v = v - ((v * arg) >> DECAY_BITS) + current  # exact in int64; >> is floor
    elif kind == "shift":
        v = v - (v >> arg) + current  # == (v * (4096 >> k)) >> 12
    else:
        v = v + current
    lo, hi = -(1 << (layer.v_bits - 1)), (1 << (layer.v_bits - 1)) - 1
    v = np.minimum(np.maximum(v, lo), hi)  # np.clip's Python wrapper cost more than the update at B = 1
    if not layer.spiking:
        return v, np.zeros(v.shape, dtype=bool)
    spike = v >= layer.threshold
    if layer.reset == "zero":
        v = np.where(spike, 0, v)
    else:
        v = np.where(spike, v - layer.threshold, v)
    return v, spike


def _exact_dtype(weight: np.ndarray) -> type:
    """The narrowest float type in which ``spikes @ weight`` is exact."""
    bound = int(np.abs(weight.astype(np.int64)).sum(axis=0).max(initial=0))
    return np.float32 if bound < (1 << 24) else np.float64


def check_spikes(net: QNet, spikes: np.ndarray, where: str = "spikes") -> np.ndarray:
    """Validate an input spike array and return it as bool ``[B, T, N_in]``."""
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    if spikes.ndim != 3:
        raise ValueError(f"{where}: expected shape [B, T, N_in] or [T, N_in], got {spikes.shape}")
    if spikes.shape[1:] != (net.timesteps, net.n_inputs):
        raise ValueError(
            f"{where}: expected [B, {net.timesteps}, {net.n_inputs}] (T, inputs of the model), got {list(spikes.shape)}"
        )
    if spikes.dtype != bool:
        if spikes.dtype.kind not in "iub":
            raise ValueError(f"{where}: spikes must be 0/1 integers or bools, not {spikes.dtype}")
        if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
            raise ValueError(f"{where}: spikes must be 0 or 1, found values in [{spikes.min()}, {spikes.max()}]")
        spikes = spikes.astype(bool)
    return spikes


def margins(q: np.ndarray) -> np.ndarray:
    """``top1 - top2`` over the last axis of ``q`` (int64): top2 is the
    second-largest entry, equal to top1 on a tie, so a tie gives 0; a single
    class has margin 0."""
    q = np.asarray(q, np.int64)
    if q.shape[-1] < 2:
        return np.zeros(q.shape[:-1], np.int64)
    top = np.sort(q, axis=-1)
    return top[..., -1] - top[..., -2]


def exit_steps(readout_steps: np.ndarray, margin: int | None, min_step: int = 0) -> np.ndarray:
    """The early-exit rule of docs/design.md / ``sw.qnet.ExitRule`` over
    ``readout_steps`` ``[B, T, n]``: per sample the first t >= ``min_step``
    with ``margins(q_t) >= margin``, T-1 if none (or ``margin`` None)."""
    q = np.asarray(readout_steps, np.int64)
    B, T = q.shape[:2]
    if margin is None:
        return np.full(B, T - 1, np.int64)
    ok = margins(q) >= margin
    ok[:, :min_step] = False
    ok[:, T - 1] = True
    return np.argmax(ok, axis=1).astype(np.int64)


def run(net: QNet, spikes: np.ndarray, record_membranes: bool = False) -> GoldenResult:
    """Evaluate ``net`` on input spikes ``[B, T, N_in]`` (or ``[T, N_in]``)."""
    x = check_spikes(net, spikes)
    B, T, _ = x.shape
    offsets = net.input_offsets()
    groups = {g.name: (offsets[g.name], offsets[g.name] + g.size) for g in net.inputs}
    L = len(net.layers)

    weights = [[(s, s.weight.astype(_exact_dtype(s.weight))) for s in layer.sources] for layer in net.layers]
    v = [np.zeros((B, layer.n), np.int64) for layer in net.layers]
    now: dict[str, np.ndarray] = {}
    prev = {layer.name: np.zeros((B, layer.n), bool) for layer in net.layers}
    out = {layer.name: np.zeros((B, T, layer.n), bool) for layer in net.layers}
    mem = {layer.name: np.zeros((B, T, layer.n), np.int64) for layer in net.layers} if record_membranes else None
    events = np.zeros((B, T, L), np.int64)
    v_out = np.zeros((B, T, net.layers[-1].n), np.int64)  # the readout membrane after every step

    # Input groups do not depend on the network's state, so their share of
    # every step's current is one matrix product over all B x T rows at once;
    # only the sources that are layers are evaluated step by step.
    static = []
    for li, layer in enumerate(net.layers):
        cur = np.zeros((B, T, layer.n), np.int64)
        if layer.bias is not None:
            cur += layer.bias.astype(np.int64)
        for src, w in weights[li]:
            if src.name in groups:
                a, b = groups[src.name]
                s = x[:, :, a:b]
                events[:, :, li] += s.sum(axis=2)
                cur += (s.reshape(B * T, b - a).astype(w.dtype) @ w).astype(np.int64).reshape(B, T, layer.n)
        static.append(cur)
    dynamic = [[(src, w) for src, w in weights[li] if src.name not in groups] for li in range(L)]
    forms = [_leak_form(layer) for layer in net.layers]

    for t in range(T):
        for li, layer in enumerate(net.layers):
            current = static[li][:, t]
            for src, w in dynamic[li]:
                s = prev[src.name] if src.delay else now[src.name]
                events[:, t, li] += s.sum(axis=1)
                current = current + (s.astype(w.dtype) @ w).astype(np.int64)
            v[li], spk = lif_step(v[li], current, layer, forms[li])
            now[layer.name] = spk
            out[layer.name][:, t] = spk
            if mem is not None:
                mem[layer.name][:, t] = v[li]
        v_out[:, t] = v[-1]
        for layer in net.layers:
            prev[layer.name] = now[layer.name]
    return _result(net, x, out, v_out, events, mem)


def _result(net: QNet, x: np.ndarray, out: dict[str, np.ndarray], v_out: np.ndarray, events: np.ndarray,
            mem: dict[str, np.ndarray] | None) -> GoldenResult:
    """Apply the early-exit rule to a full run and count steps 0..exit_step."""
    B, T, _ = x.shape
    last = net.layers[-1]
    cum = np.cumsum(out[last.name], axis=1, dtype=np.int64)
    q = cum if last.readout == "spikes" else v_out
    rule = net.exit
    ex = exit_steps(q, rule.margin if rule else None, rule.min_step if rule else 0)
    rows = np.arange(B)
    live = np.arange(T)[None, :] <= ex[:, None]  # [B, T]: steps 0..exit_step
    ev = events * live[:, :, None]
    readout, counts = v_out[rows, ex], cum[rows, ex]
    score = counts if last.readout == "spikes" else readout
    return GoldenResult(
        spikes=out,
        readout=readout,
        counts=counts,
        prediction=np.argmax(score, axis=1).astype(np.int64),
        layer_events=ev,
        layer_spikes=np.stack([(out[layer.name] & live[:, :, None]).sum(axis=(1, 2)) for layer in net.layers],
                              axis=1).astype(np.int64),
        synaptic_ops=(ev * np.array([layer.n for layer in net.layers], np.int64)).sum(axis=(1, 2)),
        neuron_updates=(ex + 1) * sum(layer.n for layer in net.layers),
        input_spikes=(x & live[:, :, None]).sum(axis=(1, 2)).astype(np.int64),
        membranes=mem,
        readout_steps=q,
        exit_step=ex,
        layer_events_all=events,
    )
