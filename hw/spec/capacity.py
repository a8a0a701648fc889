"""What one accelerator bitstream can hold, and how many cycles a sample takes.

Pure Python (numpy for the vectorised cycle model): the host driver and the
benchmarks import this module on machines without amaranth, so it must never
import amaranth or torch. ``hw/__init__.py`` imports nothing for that reason.

The cycle model is the specification the RTL is held to (docs/design.md section
5): tests compare the core's cycle counter with :func:`sample_cycles` on
every simulated sample, exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from hw.spec import timing
from sw.fields import check_known_fields

if TYPE_CHECKING:  # only for annotations: sw.qnet is numpy-only anyway
    from sw.qnet import QNet

__all__ = [
    "Capacity",
    "CapacityError",
    "DRAIN",
    "EXIT_WAIT_BASE",
    "SAMPLE_OVERHEAD",
    "SETUP_CYCLES",
    "SKIP_CYCLES",
    "exit_monitor_latency",
    "exit_wait_cycles",
    "layer_run_cycles",
    "require_capacity",
    "sample_cycles",
    "weight_words",
]

# -- cycle model constants: sums of the blocks' latencies (hw.spec.timing) -----

#: Cycles of a layer's set-up in a wave: one latches its parameters and its
#: sources' queue counts (R_LATCH), one enters its first chunk from those
#: registers (R_SETUP), so no queue count reaches the walker's priority
#: encoder in the cycle that reads it.
SETUP_CYCLES = timing.SETUP
#: Cycles of a layer that has no step in this wave (``w - stage`` outside
#: ``0..T-1``, hw.spec.schedule): its R_LATCH slot only.
SKIP_CYCLES = timing.SKIP
#: A set-up that reads a spike queue, or runs the same layer again, may
#: latch ``DRAIN`` cycles after the last issue cycle of the run that wrote
#: it, not before: the tag's entry, the issue-to-accumulate wait, the
#: membrane read, the LIF lanes and the write (hw.spec.timing spells out the
#: chain; 10 cycles). Other set-ups overlap the write-back.
DRAIN = timing.DRAIN
#: Cycles per sample: clear the counters (R_INIT). The sample's last cycle,
#: R_FLUSH, waits for the last write-back (at least one cycle).
SAMPLE_OVERHEAD = timing.INIT



def exit_monitor_latency(lanes: int) -> int:
    """Cycles from a readout chunk's write-back to the cycle in which the
    early-exit decision it completes is visible (:mod:`hw.rtl.exit_monitor`,
    ``hw.spec.timing.exit_monitor``: ``1 + ceil(log2 min(P, EXIT_LANES)) + 2``)."""
    return timing.exit_monitor(lanes)


#: Cycles from a run's last issue cycle to its last write-back (the 9th
#: cycle after it, one before ``DRAIN``).
EXIT_WAIT_BASE = timing.TAG_ENTRY + timing.WRITE_BACK_STAGE


def exit_wait_cycles(lanes: int) -> int:
    """Compute cycles (state R_EXIT of :mod:`hw.rtl.sequencer`) the core waits
    after the readout's run of a step t with ``min_step <= t <= T-2`` of a
    model with an early-exit rule, until the exit monitor has decided whether
    the sample ends there: its last write-back plus the monitor's latency
    (``hw.spec.timing.exit_wait``). Steps the rule cannot end (before
    ``min_step``, or the last) cost nothing."""
    return timing.exit_wait(lanes)


class CapacityError(ValueError):
    """A capacity is malformed, or a model does not fit it."""


@dataclass(frozen=True)
class Capacity:
    """The hardware limits of one bitstream; a model is loaded at run time
    into any bitstream whose capacity it fits.

    Attributes
    ----------
    lanes : int
        P, the physical LIF units; a layer runs in chunks of P neurons.
    max_layers : int
        Layers of the model, readout included.
    max_neurons : int
        Neurons per layer.
    max_sources : int
        Sources (input groups or layers) per layer.
    max_inputs : int
        Total input size (the flat event index space).
    weight_depth : int
        Words of the weight memory, each holding P weights.
    weight_bits : int
        Width of one stored weight (models with narrower weights fit).
    v_bits : int
        Width of the membrane datapath (models with narrower ``v_bits`` fit).
    max_timesteps : int
        T per sample.
    """

    lanes: int = 8
    max_layers: int = 4
    max_neurons: int = 256
    max_sources: int = 3
    max_inputs: int = 1024
    weight_depth: int = 16384
    weight_bits: int = 8
    v_bits: int = 16
    max_timesteps: int = 256

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CapacityError(f"Capacity field {f.name!r} must be a positive integer, not {value!r}")
        if not 2 <= self.weight_bits <= 16:
            raise CapacityError(f"Capacity field 'weight_bits' must be in 2..16, not {self.weight_bits}")
        if not 4 <= self.v_bits <= 32:
            raise CapacityError(f"Capacity field 'v_bits' must be in 4..32, not {self.v_bits}")
        if self.max_inputs > 1 << 16:
            raise CapacityError(f"Capacity field 'max_inputs' {self.max_inputs} exceeds the 16-bit event index")
        if self.max_neurons > 1 << 16:
            raise CapacityError(f"Capacity field 'max_neurons' {self.max_neurons} exceeds 16-bit indices")
        if self.max_layers < 2:
            raise CapacityError(f"Capacity field 'max_layers' must be at least 2 (a layer and the readout), not {self.max_layers}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "capacity") -> "Capacity":
        check_known_fields(cls, d, "capacity", CapacityError, where)
        try:
            return cls(**d)
        except CapacityError as e:
            raise CapacityError(f"{where}: {e}") from None

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def replace(self, **changes: int) -> "Capacity":
        return Capacity.from_dict({**self.to_dict(), **changes})

    # -- fitting a model -------------------------------------------------------

    def problems(self, net: "QNet") -> list[str]:
        """Every way ``net`` exceeds this capacity, each naming the field."""
        out = []
        if len(net.layers) > self.max_layers:
            out.append(f"{len(net.layers)} layers > max_layers {self.max_layers}")
        if len(net.inputs) > self.max_sources:
            out.append(
                f"{len(net.inputs)} input groups > max_sources {self.max_sources} (the core keeps one event list per group)"
            )
        if net.n_inputs > self.max_inputs:
            out.append(f"{net.n_inputs} inputs > max_inputs {self.max_inputs}")
        if net.timesteps > self.max_timesteps:
            out.append(f"timesteps {net.timesteps} > max_timesteps {self.max_timesteps}")
        for layer in net.layers:
            if layer.n > self.max_neurons:
                out.append(f"layer {layer.name!r}: {layer.n} neurons > max_neurons {self.max_neurons}")
            if len(layer.sources) > self.max_sources:
                out.append(f"layer {layer.name!r}: {len(layer.sources)} sources > max_sources {self.max_sources}")
            if layer.v_bits > self.v_bits:
                out.append(f"layer {layer.name!r}: v_bits {layer.v_bits} > v_bits {self.v_bits}")
            for s in layer.sources:
                if s.weight_bits > self.weight_bits:
                    out.append(
                        f"layer {layer.name!r} source {s.name!r}: weight_bits {s.weight_bits} > weight_bits {self.weight_bits}"
                    )
            if layer.bias is not None and layer.bias.size:
                lim = 1 << (self.v_bits - 1)
                if layer.bias.min() < -lim or layer.bias.max() >= lim:
                    out.append(f"layer {layer.name!r}: bias outside the {self.v_bits}-bit datapath")
        readout = net.layers[-1] if net.layers else None
        tree = timing.exit_tree_lanes(self.lanes)
        if getattr(net, "exit", None) is not None and readout is not None and tree < self.lanes and readout.n > tree:
            out.append(f"readout {readout.name!r}: {readout.n} neurons > the {tree} lanes the early-exit monitor compares "
                       f"(hw.spec.timing.EXIT_LANES, lanes {self.lanes}); run it without its exit rule (--adaptive off)")
        words = weight_words(net, self.lanes)
        if words > self.weight_depth:
            out.append(f"{words} weight words (of {self.lanes} weights) > weight_depth {self.weight_depth}")
        return out

    def require_fits(self, net: "QNet") -> None:
        """Raise :class:`CapacityError` listing every excess."""
        problems = self.problems(net)
        if problems:
            raise CapacityError("model does not fit the hardware capacity: " + "; ".join(problems))


def require_capacity(owner: object, capacity: object) -> Capacity:
    """``capacity``, or a TypeError naming ``owner``'s class when it is not a
    :class:`Capacity` (every component of the core is built from one). A
    rejected Amaranth component is marked so that Amaranth does not also warn
    that it was created but never used."""
    if not isinstance(capacity, Capacity):
        owner._MustUse__silence = True  # type: ignore[attr-defined]
        raise TypeError(f"{type(owner).__name__} needs a hw.spec.capacity.Capacity, not {capacity!r}")
    return capacity


def weight_words(net: "QNet", lanes: int) -> int:
    """Words of P weights the model needs: each source row, once per chunk."""
    return sum(net.source_size(s.name) * math.ceil(layer.n / lanes) for layer in net.layers for s in layer.sources)


# -- the cycle model ------------------------------------------------------------


def layer_run_cycles(n: int, events: np.ndarray | int, lanes: int) -> np.ndarray | int:
    """Cycles of one layer at one step, set-up included, when it need not
    wait: ``SETUP_CYCLES + ceil(n/P) * max(events, 1)``.

    Every chunk of P neurons replays the layer's ``events`` input spikes (one
    per cycle, one wide weight read each); a chunk without events still takes
    one cycle to start its update. The next chunk's issue follows at once:
    the update of one chunk overlaps the issue of the next.
    """
    if isinstance(events, int):  # one layer-step of one sample (sample_cycles): plain ints are faster
        return SETUP_CYCLES + math.ceil(n / lanes) * max(events, 1)
    return SETUP_CYCLES + math.ceil(n / lanes) * np.maximum(events, 1)


def sample_cycles(net: "QNet", layer_events: np.ndarray, lanes: int, exit_step: np.ndarray | int | None = None
                  ) -> np.ndarray:
    """Compute cycles of whole samples, from ``layer_events`` ``[T, L]`` or
    ``[B, T, L]``: the events each layer consumed at every one of the T steps
    (``sw.golden.GoldenResult.layer_events_all``; for a model without an exit
    rule ``layer_events`` is the same).

    Counts the cycles in which the core computes; time spent waiting for the
    host's input events is not included (it depends on the host, not on the
    core). The core runs ``T + max(stage)`` waves (:mod:`hw.spec.schedule`); in
    each, every layer in order either skips (``SKIP_CYCLES``) or runs
    (:func:`layer_run_cycles`), first waiting until every spike queue it
    reads, and its own membranes, are written back (``DRAIN`` cycles after
    the last issue of the run that writes them). The sample ends with a
    flush that waits for the last write-back. Cycle indices below count
    compute cycles only, as the core's counter does (R_INIT is cycle 0).

    **Early exit** (``net.exit``; ``exit_step`` ``[B]``, golden's, required
    then): after the readout's run of a step t with ``min_step <= t <= T-2``
    the core waits :func:`exit_wait_cycles` for the exit monitor's decision.
    At ``exit_step`` (< T-1) the sample ends after that wave ``w``: the flush
    as above, then one cycle per input step the core had not yet consumed
    (steps ``w + 1 .. T-1``, each released, i.e. discarded, in one cycle).
    """
    from hw.spec.schedule import layer_stages  # noqa: PLC0415 - a sibling pure module

    ev = np.asarray(layer_events, dtype=np.int64)
    single = ev.ndim == 2
    if single:
        ev = ev[None]
    T, L = net.timesteps, len(net.layers)
    if ev.shape[1:] != (T, L):
        raise ValueError(f"layer_events must be [B, {T}, {L}], not {list(ev.shape)}")
    B = ev.shape[0]
    rule = getattr(net, "exit", None)
    if rule is not None and exit_step is None:
        raise ValueError("the model has an early-exit rule: pass exit_step (golden's), and layer_events of all T steps")
    ex = np.broadcast_to(np.asarray(T - 1 if exit_step is None else exit_step, np.int64), (B,))
    if (ex < 0).any() or (ex > T - 1).any():
        raise ValueError(f"exit_step must be in 0..{T - 1}, not {ex.min()}..{ex.max()}")
    if rule is None and (ex != T - 1).any():
        raise ValueError("exit_step before T-1 on a model without an early-exit rule")
    min_step = T - 1 if rule is None else int(rule.min_step)
    stages = layer_stages(net)
    names = {layer.name: i for i, layer in enumerate(net.layers)}
    reads = [[(names[s.name], int(s.delay)) for s in layer.sources if s.name in names] for layer in net.layers]
    sizes = [layer.n for layer in net.layers]
    wait = exit_wait_cycles(lanes)
    total = np.array([_one_sample_cycles(e, int(x), stages, reads, sizes, lanes, min_step, wait) for e, x in zip(ev.tolist(), ex)],
                     np.int64).reshape(B)  # fmt: skip
    return total[0] if single else total


def _one_sample_cycles(events: list[list[int]], exit_step: int, stages: list[int], reads: list[list[tuple[int, int]]],
                       sizes: list[int], lanes: int, min_step: int, wait: int) -> int:
    """:func:`sample_cycles` of one sample, ``events[t][layer]`` (in plain ints: a sample's
    waves are a sequence, and numpy's per-call cost on length-1 arrays was most of a live
    decision's cycle count)."""
    T, L = len(events), len(stages)
    cursor = SAMPLE_OVERHEAD  # index of the next compute cycle
    ready = [[0, 0] for _ in range(L)]  # first cycle a set-up may read queue (layer, parity)
    for w in range(T + max(stages, default=0)):
        for c in range(L):
            t = w - stages[c]
            if not 0 <= t < T:
                cursor += SKIP_CYCLES
                continue
            need = max(ready[c])
            for p, d in reads[c]:
                need = max(need, ready[p][(t - d) % 2])
            cursor = max(cursor, need) + layer_run_cycles(sizes[c], events[t][c], lanes)
            ready[c][t % 2] = cursor - 1 + DRAIN  # DRAIN cycles after the run's last issue cycle
        t_out = w - stages[L - 1]
        if min_step <= t_out <= T - 2:  # the readout's step t_out may end the sample: wait for the decision
            cursor += wait
            if t_out == exit_step:  # the flush, then one cycle per input step not yet consumed
                return max(cursor, max(map(max, ready))) + 1 + max(0, T - 1 - w)
    return max(cursor, max(map(max, ready))) + 1  # R_FLUSH's last cycle is counted


def ideal_utilisation(synaptic_ops: np.ndarray, cycles: np.ndarray, lanes: int) -> np.ndarray:
    """Fraction of lane-cycles that did a synaptic operation: SOPs / (P x cycles)."""
    return np.asarray(synaptic_ops, np.float64) / (lanes * np.asarray(cycles, np.float64))
