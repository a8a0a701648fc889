"""Which timestep each layer computes in each pass of the core: the *wave* schedule.

Pure Python (the host, the cycle model and the image packer import it; no
amaranth, no numpy needed).

Why
---
A layer's spikes reach its spike queue about ten cycles after the layer's
last input event is issued (the issue pipeline, the membrane read, the
lane's four stages). A layer that reads those spikes in the same timestep
must wait for them: on the default network (audio, visual -> fusion ->
readout) two such waits per step cost more than the lanes' idle padding.

The core therefore runs *waves*: in wave ``w`` layer ``l`` computes timestep
``t = w - stage[l]`` (and is skipped when ``t`` is outside ``0..T-1``), in
layer order. With ``stage = [0, 0, 1, 2]`` wave ``w`` runs audio(w),
visual(w), fusion(w-1), readout(w-2): no layer reads a queue that the layer
just before it is still writing, so one layer's last write-backs overlap the
next layer's issue. A sample takes ``T + max(stage)`` waves. The results
are exactly those of the plain order (every layer still reads the spikes of
the step the model says), because a stage assignment is only used when
every queue it reads is written before, and not overwritten until after,
the read (:func:`stage_problems`); otherwise every stage is 0, the plain
order, and the core waits where it must.

Spike queues are double-buffered per layer (buffer ``t % 2`` holds step
``t``), which is what bounds the stages: a consumer may run at most one wave
after the producer's step that it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: sw.qnet is numpy-only anyway
    from sw.qnet import QNet

__all__ = ["MAX_STAGE", "layer_stages", "stage_problems", "waves"]

#: Stages fit the 4-bit field of the layer flags word (hw.spec.protocol).
MAX_STAGE = 15


def _layer_edges(net: "QNet") -> list[tuple[int, int, int]]:
    """``(producer, consumer, delay)`` for every layer-to-layer source."""
    names = {layer.name: i for i, layer in enumerate(net.layers)}
    return [
        (names[s.name], c, int(s.delay))
        for c, layer in enumerate(net.layers)
        for s in layer.sources
        if s.name in names
    ]


def stage_problems(net: "QNet", stages: list[int], upto: int | None = None) -> list[str]:
    """Why ``stages`` would change ``net``'s results (empty when it is safe).

    For a source of layer ``c`` on layer ``p`` with delay ``d``, ``c`` at step
    ``t`` (wave ``t + s_c``) reads ``p``'s step ``t - d`` (written in wave
    ``t - d + s_p``, in buffer ``(t - d) % 2``, which step ``t - d + 2``
    overwrites in wave ``t - d + 2 + s_p``). Within a wave, layers run in
    order. So the write must come first, ``(s_p - d, p) < (s_c, c)``, and
    the overwrite after, ``(s_p - d + 2, p) > (s_c, c)``, comparing
    (wave offset, position) pairs. Layers that read input groups run at
    stage 0: the core holds one step of input at a time. ``upto``: check
    only layers ``0..upto`` (while assigning them in order).
    """
    out = []
    last = len(net.layers) - 1 if upto is None else upto
    names = [layer.name for layer in net.layers]
    inputs = {g.name for g in net.inputs}
    for c, layer in enumerate(net.layers[: last + 1]):
        if stages[c] < 0 or stages[c] > MAX_STAGE:
            out.append(f"layer {names[c]!r}: stage {stages[c]} outside 0..{MAX_STAGE}")
        if stages[c] != 0 and any(s.name in inputs for s in layer.sources):
            out.append(f"layer {names[c]!r} reads input events, so it must run at stage 0, not {stages[c]}")
    for p, c, d in _layer_edges(net):
        if p > last or c > last:
            continue
        if not (stages[p] - d, p) < (stages[c], c):
            out.append(f"layer {names[c]!r} would read {names[p]!r} (delay {d}) before it is written")
        if not (stages[p] - d + 2, p) > (stages[c], c):
            out.append(f"layer {names[c]!r} would read {names[p]!r} (delay {d}) after it is overwritten")
    return out


def layer_stages(net: "QNet") -> list[int]:
    """The stage of every layer, assigned in order: one wave after its latest
    same-step producer (so it never waits for it) if that is safe, else in
    that producer's wave (it waits for the producer's last spikes); all 0
    (the plain order) when neither is safe."""
    edges = _layer_edges(net)
    stages = [0] * len(net.layers)
    for c in range(len(net.layers)):
        latest = max((stages[p] for p, cc, d in edges if cc == c and d == 0), default=None)
        candidates = [0] if latest is None else [latest + 1, latest]
        for st in candidates:
            stages[c] = st
            if not stage_problems(net, stages, upto=c):
                break
        else:
            return [0] * len(net.layers)
    if stage_problems(net, stages):
        return [0] * len(net.layers)
    return stages


def waves(net: "QNet", stages: list[int] | None = None) -> int:
    """Waves per sample: ``T + max(stage)``."""
    stages = layer_stages(net) if stages is None else stages
    return net.timesteps + max(stages, default=0)
