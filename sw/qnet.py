"""The integer network file (``.qnet``): the contract between training, the
golden model, the RTL and the board driver (docs/design.md section 3).

A ``.qnet`` is a plain ``.npz`` read with ``allow_pickle=False``. It holds one
``header`` array (UTF-8 JSON as ``uint8``) and integer arrays named
``layer{i}.src{j}.weight``, ``layer{i}.bias`` and ``layer{i}.decay``. The JSON header carries
everything that is not a big integer array: the classes, the timestep count,
the input groups with the encoder parameters that produced them, and per
layer its neuron parameters and the names of its sources.

numpy and the standard library only: this module runs on the board's ARM
cores, where there is no torch.

Version 2 replaced the layer-wide shift leak ``leak_shift`` k by a per-neuron
12-bit decay ``d`` (``v - ((v * d) >> 12)``, docs/design.md section 3) and added the
``readout`` option (``membrane`` or ``spikes``). A version 1 file still loads:
its k becomes ``d = 4096 >> k`` (k >= 1) or ``d = 0`` (k = 0) for every
neuron, which gives the same integers bit for bit, except k = 13..15, whose
``2**(12-k)`` is not an integer: such a file is refused with a message that
says how to convert it.

Version 3 added the optional early-exit rule (issue 20), a top-level header
object ``"exit": {"margin": M, "min_step": t_min}`` (:class:`ExitRule`): a
sample ends after the first readout step t >= t_min whose margin (top-1 minus
top-2 of the readout's decision quantity) is >= M. Without it a model runs
all T steps, bit for bit as a version 2 file; version 1 and 2 files load
unchanged (with no exit rule).

Version 3 also added the optional audio-first cascade (issue 20): a top-level
``"cascade": {"first": HEADER}`` holds a whole first-stage network (its own
header; its arrays are stored under the prefix ``cascade.``), which reads a
subset of this model's input groups (the cheap ones: audio). The first
stage's own exit rule is its gate: a clip is decided by the first stage
alone when the margin of its decision quantity at its exit step is >= that
rule's margin (so it exits, and decides, at the first t >= min_step whose
margin clears it); otherwise the clip escalates and this model (the fused
network, with its own exit rule if any) decides. ``sw.cascade`` runs it.

Every way a file can be wrong raises :class:`QNetError` with a message that
names the file, the layer and the field, because a user who exported a model
on one machine and loads it on a board needs to know *what* to fix.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "VERSION",
    "DECAY_BITS",
    "DECAY_ONE",
    "QNetError",
    "shift_decay",
    "decay_from_beta",
    "decay_from_leak",
    "describe_decay",
    "InputGroup",
    "Source",
    "ExitRule",
    "Layer",
    "QNet",
    "load",
    "save",
]

FORMAT = "eavs-qnet"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
RESETS = ("zero", "subtract")
READOUTS = ("membrane", "spikes")
DECAY_BITS = 12
DECAY_ONE = 1 << DECAY_BITS  # d = DECAY_ONE forgets the whole membrane each step
MAX_LEAK_SHIFT = 15  # largest k a version 1 header could hold
MAX_EXACT_SHIFT = DECAY_BITS  # largest k with an integer d = 4096 >> k


class QNetError(ValueError):
    """A ``.qnet`` file or object does not meet the docs/design.md contract."""


def _fail(where: str, message: str) -> QNetError:
    return QNetError(f"{where}: {message}")


@dataclass
class InputGroup:
    """A named block of input spikes (``audio``, ``visual``...).

    ``encoder`` holds the parameters that turned raw data into these spikes
    (``sw.encode`` reads them), so the board encodes exactly as training did.
    """

    name: str
    size: int
    encoder: dict[str, Any] = field(default_factory=dict)


@dataclass
class Source:
    """One input of a layer: an input group or a layer, with its weights.

    ``weight`` has shape ``[n_src, n]``; ``delay`` is 0 for the spikes of the
    same timestep and 1 for the previous timestep's (recurrence).
    """

    name: str
    weight: np.ndarray
    weight_bits: int
    delay: int = 0


@dataclass(frozen=True)
class ExitRule:
    """The early-exit rule of a model (header ``"exit"``, version 3).

    After readout step t the decision quantity q_t (the readout layer's
    membrane after step t, or its spike counts over steps 0..t for
    ``readout='spikes'``) gives ``margin_t = top1(q_t) - top2(q_t)``, top2
    being the second-largest entry (equal to top1 on a tie). The sample ends
    at the first t >= ``min_step`` with ``margin_t >= margin``; T-1 if none.
    ``margin`` >= 0 and 0 <= ``min_step`` <= T-1, integers.
    """

    margin: int
    min_step: int

    def to_header(self) -> dict[str, int]:
        return {"margin": int(self.margin), "min_step": int(self.min_step)}


def shift_decay(k: int, where: str = "leak_shift") -> int:
    """The 12-bit decay ``d`` equal to the shift leak ``v - (v >> k)``.

    ``(v * 2**(12-k)) >> 12 == v >> k`` for every integer v when 1 <= k <= 12,
    so ``d = 4096 >> k`` keeps a shift model's integers bit for bit; k = 0 (no
    leak, IF neuron) is ``d = 0``. k = 13..15 would need d = 1/2, 1/4, 1/8:
    there is no exact 12-bit decay, so they are refused.
    """
    if not _is_int(k) or not 0 <= k <= MAX_LEAK_SHIFT:
        raise QNetError(f"{where}: field 'leak_shift' must be an integer in 0..{MAX_LEAK_SHIFT}, not {k!r}")
    if k > MAX_EXACT_SHIFT:
        raise QNetError(
            f"{where}: leak_shift {k} has no exact {DECAY_BITS}-bit decay (d would be 4096 / 2**{k} < 1); "
            f"re-export with leak_shift <= {MAX_EXACT_SHIFT} (or d = 0, no leak) to convert it"
        )
    return 0 if k == 0 else DECAY_ONE >> k


def describe_decay(layer: "Layer") -> str:
    """A layer's per-neuron 12-bit decay in one short string for logs and
    reports: ``"d=512"`` when every neuron shares it, else ``"d=410..819"``."""
    d = np.asarray(layer.decay)
    return f"d={int(d.min())}" if d.min() == d.max() else f"d={int(d.min())}..{int(d.max())}"


def decay_from_leak(alpha: Any) -> np.ndarray:
    """The 12-bit decay of a per-step leak fraction ``alpha = 1 - beta`` (NIR's ``dt/tau``).

    ``d = round(4096 alpha)``, half away from zero (``floor(x + 0.5)``, not
    numpy's half-to-even), clipped to 0..4096. The one rounding rule that
    training (sw.model) and imports (sw.nir_io) share.
    """
    x = np.asarray(alpha, dtype=np.float64) * DECAY_ONE
    return np.clip(np.floor(x + 0.5), 0, DECAY_ONE).astype(np.int64)


def decay_from_beta(beta: Any) -> np.ndarray:
    """``decay_from_leak(1 - beta)``: snnTorch's beta 0.9 -> d = 410 (beta 0.899902)."""
    return decay_from_leak(1.0 - np.asarray(beta, dtype=np.float64))


class Layer:
    """A layer of LIF (or, for a membrane readout, non-spiking leaky) neurons.

    Weights, ``bias``, ``threshold`` and the membrane are integers in the
    layer's one power-of-two weight unit. ``decay`` is a per-neuron integer
    array ``d[n]`` in 0..4096: each step the membrane loses ``(v * d) >> 12``
    (an arithmetic shift, i.e. floor, of the exact product); d = 0 is an IF
    neuron, d = 4096 keeps nothing of the previous membrane.

    ``readout`` says how the *last* layer gives the class: ``membrane``
    (argmax of its membrane after step T-1; the layer must be non-spiking)
    or ``spikes`` (argmax of its spike counts over the sample; the layer must
    spike). Earlier layers say ``membrane`` and it means nothing for them.

    For code written against version 1 the constructor still takes a shift
    ``leak_shift`` k (in the old positional place) instead of ``decay``, and
    :attr:`leak_shift` reads the decay back as a shift when it is one.
    """

    def __init__(
        self,
        name: str,
        n: int,
        sources: list[Source],
        threshold: int,
        leak_shift: int | None = None,
        reset: str = "subtract",
        v_bits: int = 16,
        spiking: bool = True,
        bias: np.ndarray | None = None,
        *,
        decay: Any = None,
        readout: str = "membrane",
    ) -> None:
        if (leak_shift is None) == (decay is None):
            raise TypeError(f"layer {name!r}: give exactly one of decay (per-neuron array) or leak_shift, "
                            f"not {'both' if decay is not None else 'neither'}")
        if decay is None:
            d = shift_decay(leak_shift, f"layer {name!r}")
            decay = np.full(n if _is_int(n) and n > 0 else 0, d, np.int32)
        elif not isinstance(decay, np.ndarray):
            decay = np.asarray(decay)
        self.name = name
        self.n = n
        self.sources = sources
        self.threshold = threshold
        self.decay = decay
        self.reset = reset
        self.v_bits = v_bits
        self.spiking = spiking
        self.bias = bias
        self.readout = readout

    @property
    def leak_shift(self) -> int:
        """The decay as a shift k (transition for shift-only consumers).

        k when every neuron's decay is ``4096 >> k`` (k in 1..12), 0 when all
        are 0; any other decay raises :class:`QNetError` naming the layer.
        """
        d = np.asarray(self.decay)
        if d.size and (d == 0).all():
            return 0
        for k in range(1, MAX_EXACT_SHIFT + 1):
            if d.size and (d == DECAY_ONE >> k).all():
                return k
        raise QNetError(f"layer {self.name!r}: general decay; this consumer supports shift leaks only")

    def __repr__(self) -> str:
        d = np.asarray(self.decay)
        dtxt = str(int(d[0])) if d.size and (d == d.flat[0]).all() else f"[{d.min() if d.size else ''}..{d.max() if d.size else ''}]"
        return (f"Layer(name={self.name!r}, n={self.n}, sources={[s.name for s in self.sources]}, "
                f"threshold={self.threshold}, decay={dtxt}, reset={self.reset!r}, v_bits={self.v_bits}, "
                f"spiking={self.spiking}, readout={self.readout!r}, bias={'yes' if self.bias is not None else 'no'})")


@dataclass
class QNet:
    """A whole integer network: classes, T, input groups and layers in
    evaluation order (the last layer is the readout)."""

    classes: list[str]
    timesteps: int
    inputs: list[InputGroup]
    layers: list[Layer]
    version: int = VERSION
    metadata: dict[str, Any] = field(default_factory=dict)
    exit: ExitRule | None = None  # early exit (version 3); None: all T steps
    cascade: "QNet | None" = None  # first (cheap) stage of an audio-first cascade (version 3)

    # -- derived facts -------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        """Total input size: the flat event index space of docs/design.md section 4."""
        return sum(g.size for g in self.inputs)

    def input_offsets(self) -> dict[str, int]:
        """Start of each input group in the flat input index space."""
        offsets, at = {}, 0
        for g in self.inputs:
            offsets[g.name] = at
            at += g.size
        return offsets

    @property
    def readout(self) -> Layer:
        """The last layer, whose membrane or spike counts give the class."""
        return self.layers[-1]

    @property
    def readout_mode(self) -> str:
        """``membrane`` or ``spikes``: how the class is read (the last layer's option)."""
        return self.layers[-1].readout

    def layer_index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def source_size(self, name: str) -> int:
        for g in self.inputs:
            if g.name == name:
                return g.size
        return self.layers[self.layer_index(name)].n

    def validate(self, where: str = "qnet") -> "QNet":
        """Check every rule of docs/design.md section 3; return self."""
        _validate(self, where)
        return self


# -- validation --------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _validate(net: QNet, where: str) -> None:
    if net.version != VERSION:
        raise _fail(where, f"unsupported version {net.version!r} (this reader knows {VERSION})")
    if not net.classes or not all(isinstance(c, str) for c in net.classes):
        raise _fail(where, f"field 'classes' must be a non-empty list of names, not {net.classes!r}")
    if not _is_int(net.timesteps) or net.timesteps < 1:
        raise _fail(where, f"field 'timesteps' must be a positive integer, not {net.timesteps!r}")
    if not net.inputs:
        raise _fail(where, "field 'inputs' is empty: a network needs at least one input group")
    if not net.layers:
        raise _fail(where, "field 'layers' is empty")

    names: set[str] = set()
    for g in net.inputs:
        if not isinstance(g.name, str) or not g.name:
            raise _fail(where, f"input group name must be a non-empty string, not {g.name!r}")
        if g.name in names:
            raise _fail(where, f"input group {g.name!r} is defined twice")
        if not _is_int(g.size) or g.size < 1:
            raise _fail(where, f"input group {g.name!r}: field 'size' must be a positive integer, not {g.size!r}")
        if not isinstance(g.encoder, dict):
            raise _fail(where, f"input group {g.name!r}: field 'encoder' must be a mapping")
        names.add(g.name)
    if net.n_inputs > 1 << 16:
        raise _fail(where, f"{net.n_inputs} inputs do not fit the 16-bit event index (docs/design.md section 4)")

    layer_pos = {}
    for i, layer in enumerate(net.layers):
        if not isinstance(layer.name, str) or not layer.name:
            raise _fail(where, f"layer {i}: field 'name' must be a non-empty string, not {layer.name!r}")
        if layer.name in names:
            raise _fail(where, f"layer {layer.name!r}: name already used by an input group or layer")
        names.add(layer.name)
        layer_pos[layer.name] = i

    for i, layer in enumerate(net.layers):
        _validate_layer(net, i, layer, layer_pos, f"{where}: layer {layer.name!r}")

    if net.readout.readout == "membrane" and net.readout.spiking:
        raise _fail(
            where,
            f"layer {net.readout.name!r}: the last layer is the readout and must have spiking=false "
            "(or readout='spikes' to classify by its spike counts)",
        )
    if net.readout.readout == "spikes" and not net.readout.spiking:
        raise _fail(where, f"layer {net.readout.name!r}: readout='spikes' counts spikes, so the layer must have spiking=true")
    _validate_exit(net, where)
    _validate_cascade(net, where)
    if net.readout.n != len(net.classes):
        raise _fail(
            where,
            f"layer {net.readout.name!r}: readout has {net.readout.n} neurons but there are "
            f"{len(net.classes)} classes",
        )
    for layer in net.layers[:-1]:
        if not layer.spiking:
            raise _fail(where, f"layer {layer.name!r}: only the last (readout) layer may be non-spiking")
        if layer.readout != "membrane":
            raise _fail(where, f"layer {layer.name!r}: readout={layer.readout!r}: only the last layer may read out by spikes")


def _validate_exit(net: QNet, where: str) -> None:
    rule = net.exit
    if rule is None:
        return
    if not isinstance(rule, ExitRule):
        raise _fail(where, f"field 'exit' must be an ExitRule (margin, min_step), not {rule!r}")
    if not _is_int(rule.margin) or rule.margin < 0:
        raise _fail(where, f"field 'exit.margin' must be an integer >= 0, not {rule.margin!r}")
    if not _is_int(rule.min_step) or not 0 <= rule.min_step <= net.timesteps - 1:
        raise _fail(where, f"field 'exit.min_step' must be an integer in 0..{net.timesteps - 1} (T-1), not {rule.min_step!r}")


def _validate_cascade(net: QNet, where: str) -> None:
    first = net.cascade
    if first is None:
        return
    if not isinstance(first, QNet):
        raise _fail(where, f"field 'cascade' must hold the first stage's network, not {type(first).__name__}")
    if first.cascade is not None:
        raise _fail(where, "field 'cascade': the first stage cannot hold a cascade of its own")
    _validate(first, f"{where}: cascade first stage")
    if list(first.classes) != list(net.classes):
        raise _fail(where, f"field 'cascade': the first stage's classes {first.classes} differ from the model's {net.classes}")
    if first.timesteps != net.timesteps:
        raise _fail(where, f"field 'cascade': the first stage has T={first.timesteps}, the model T={net.timesteps}")
    sizes = {g.name: g.size for g in net.inputs}
    for g in first.inputs:
        if sizes.get(g.name) != g.size:
            raise _fail(where, f"field 'cascade': first-stage input group {g.name!r} (size {g.size}) is not an input group "
                               f"of the model ({sizes})")


def _validate_layer(net: QNet, i: int, layer: Layer, layer_pos: dict[str, int], where: str) -> None:
    if not _is_int(layer.n) or layer.n < 1:
        raise QNetError(f"{where}: field 'n' must be a positive integer, not {layer.n!r}")
    if not _is_int(layer.v_bits) or not 2 <= layer.v_bits <= 32:
        raise QNetError(f"{where}: field 'v_bits' must be an integer in 2..32, not {layer.v_bits!r}")
    v_max = (1 << (layer.v_bits - 1)) - 1
    if not _is_int(layer.threshold) or layer.threshold <= 0:
        raise QNetError(f"{where}: field 'threshold' must be an integer > 0, not {layer.threshold!r}")
    if layer.threshold > v_max:
        raise QNetError(
            f"{where}: field 'threshold' {layer.threshold} exceeds the largest membrane value {v_max} "
            f"of v_bits={layer.v_bits}: the layer could never spike"
        )
    _check_int_array(layer.decay, (layer.n,), f"{where}: field 'decay'")
    if layer.decay.size and (layer.decay.min() < 0 or layer.decay.max() > DECAY_ONE):
        bad = layer.decay[(layer.decay < 0) | (layer.decay > DECAY_ONE)][0]
        raise QNetError(f"{where}: field 'decay' holds {int(bad)}, outside 0..{DECAY_ONE} ({DECAY_BITS}-bit decay)")
    if layer.readout not in READOUTS:
        raise QNetError(f"{where}: field 'readout' must be one of {READOUTS}, not {layer.readout!r}")
    if layer.reset not in RESETS:
        raise QNetError(f"{where}: field 'reset' must be one of {RESETS}, not {layer.reset!r}")
    if not isinstance(layer.spiking, (bool, np.bool_)):
        raise QNetError(f"{where}: field 'spiking' must be true or false, not {layer.spiking!r}")
    if layer.bias is not None:
        _check_int_array(layer.bias, (layer.n,), f"{where}: field 'bias'")
        if layer.bias.size and (layer.bias.min() < -v_max - 1 or layer.bias.max() > v_max):
            raise QNetError(f"{where}: field 'bias' has values outside the {layer.v_bits}-bit membrane range")
    if not layer.sources:
        raise QNetError(f"{where}: field 'sources' is empty")
    seen = set()
    for j, src in enumerate(layer.sources):
        swhere = f"{where}: source {j} ({src.name!r})"
        if src.name in seen:
            raise QNetError(f"{swhere}: the same source is listed twice; sum the weights instead")
        seen.add(src.name)
        if src.delay not in (0, 1) or isinstance(src.delay, bool):
            raise QNetError(f"{swhere}: field 'delay' must be 0 or 1, not {src.delay!r}")
        if src.name in layer_pos:
            if layer_pos[src.name] >= i and src.delay != 1:
                raise QNetError(
                    f"{swhere}: recurrence without delay: a layer reads itself or a later layer only "
                    "through delay 1 (the previous timestep's spikes)"
                )
            if not net.layers[layer_pos[src.name]].spiking:
                raise QNetError(f"{swhere}: the readout layer does not spike and cannot be a source")
            n_src = net.layers[layer_pos[src.name]].n
        elif any(g.name == src.name for g in net.inputs):
            if src.delay != 0:
                raise QNetError(f"{swhere}: input groups are read with delay 0, not {src.delay}")
            n_src = next(g.size for g in net.inputs if g.name == src.name)
        else:
            raise QNetError(f"{swhere}: unknown source: no input group or layer has this name")
        if not _is_int(src.weight_bits) or not 2 <= src.weight_bits <= 16:
            raise QNetError(f"{swhere}: field 'weight_bits' must be an integer in 2..16, not {src.weight_bits!r}")
        _check_int_array(src.weight, (n_src, layer.n), f"{swhere}: field 'weight'")
        lo, hi = -(1 << (src.weight_bits - 1)), (1 << (src.weight_bits - 1)) - 1
        if src.weight.size and (src.weight.min() < lo or src.weight.max() > hi):
            bad = src.weight[(src.weight < lo) | (src.weight > hi)][0]
            raise QNetError(
                f"{swhere}: field 'weight' holds {int(bad)}, outside the {src.weight_bits}-bit range [{lo}, {hi}]"
            )


def _check_int_array(a: Any, shape: tuple[int, ...], where: str) -> None:
    if not isinstance(a, np.ndarray):
        raise QNetError(f"{where}: must be an integer array, not {type(a).__name__}")
    if a.dtype.kind not in "iu":
        raise QNetError(f"{where}: dtype must be integer, not {a.dtype}")
    if a.shape != shape:
        raise QNetError(f"{where}: shape must be {shape}, not {a.shape}")


# -- file I/O -----------------------------------------------------------------


def _weight_key(i: int, j: int) -> str:
    return f"layer{i}.src{j}.weight"


def _bias_key(i: int) -> str:
    return f"layer{i}.bias"


def _decay_key(i: int) -> str:
    return f"layer{i}.decay"


def to_header(net: QNet) -> dict[str, Any]:
    """The JSON header of ``net`` (everything but the integer arrays)."""
    return {
        "format": FORMAT,
        "version": net.version,
        "classes": list(net.classes),
        "timesteps": int(net.timesteps),
        "inputs": [{"name": g.name, "size": int(g.size), "encoder": g.encoder} for g in net.inputs],
        "layers": [
            {
                "name": layer.name,
                "n": int(layer.n),
                "threshold": int(layer.threshold),
                "reset": layer.reset,
                "readout": layer.readout,
                "v_bits": int(layer.v_bits),
                "spiking": bool(layer.spiking),
                "bias": layer.bias is not None,
                "sources": [
                    {"name": s.name, "delay": int(s.delay), "weight_bits": int(s.weight_bits)}
                    for s in layer.sources
                ],
            }
            for layer in net.layers
        ],
        "metadata": net.metadata,
        **({"exit": net.exit.to_header()} if net.exit is not None else {}),
        **({"cascade": {"first": to_header(net.cascade)}} if net.cascade is not None else {}),
    }


def save(net: QNet, path: str | Path) -> Path:
    """Validate ``net`` and write it to ``path`` (``.qnet``, an npz)."""
    path = Path(path)
    net.validate(str(path))
    header = json.dumps(to_header(net), sort_keys=True).encode("utf-8")
    arrays: dict[str, np.ndarray] = {"header": np.frombuffer(header, dtype=np.uint8)}
    arrays.update(_arrays(net))
    if net.cascade is not None:
        arrays.update({CASCADE_PREFIX + k: v for k, v in _arrays(net.cascade).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # np.savez would append ".npz" to the name
        np.savez_compressed(f, **arrays)
    return path


def _arrays(net: QNet) -> dict[str, np.ndarray]:
    """The integer arrays of one network, by name."""
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(net.layers):
        for j, src in enumerate(layer.sources):
            bits = src.weight_bits
            dtype = np.int8 if bits <= 8 else np.int16
            arrays[_weight_key(i, j)] = src.weight.astype(dtype)
        if layer.bias is not None:
            arrays[_bias_key(i)] = layer.bias.astype(np.int32)
        arrays[_decay_key(i)] = layer.decay.astype(np.int16)  # 0..4096 fits
    return arrays


def load(path: str | Path) -> QNet:
    """Read and validate a ``.qnet`` file; raise :class:`QNetError` naming what is wrong."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise QNetError(f"{where}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        # numpy reads a file that is not a zip as a pickle and, with
        # allow_pickle=False, says "Cannot load file containing pickled
        # data": true but useless to someone who renamed a text file.
        if not zipfile.is_zipfile(path):
            raise QNetError(f"{where}: not a .qnet (npz) file: it is not a zip archive (truncated, or another kind of file)") from None
        if "pickle" in str(e):
            raise QNetError(f"{where}: not a .qnet (npz) file: it holds pickled (object) arrays, which a .qnet never does") from None
        raise QNetError(f"{where}: not a .qnet (npz) file: {e}") from None
    if "header" not in arrays:
        raise QNetError(f"{where}: missing the 'header' array: not a .qnet file")
    try:
        header = json.loads(arrays.pop("header").astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise QNetError(f"{where}: header is not valid JSON: {e}") from None
    return from_header(header, arrays, where)


def from_header(header: dict[str, Any], arrays: dict[str, np.ndarray], where: str = "qnet") -> QNet:
    """Build and validate a :class:`QNet` from a header and its named arrays."""
    if not isinstance(header, dict):
        raise QNetError(f"{where}: header must be a JSON object")
    if header.get("format") != FORMAT:
        raise QNetError(f"{where}: field 'format' is {header.get('format')!r}, expected {FORMAT!r}")

    def need(obj: dict, key: str, ctx: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise QNetError(f"{where}: {ctx}missing field {key!r}")
        return obj[key]

    version = need(header, "version", "")
    if version not in READABLE_VERSIONS:
        raise QNetError(f"{where}: unsupported version {version!r} (this reader knows {', '.join(map(str, READABLE_VERSIONS))})")
    inputs = [
        InputGroup(need(g, "name", f"input {k}: "), need(g, "size", f"input {k}: "), g.get("encoder", {}))
        for k, g in enumerate(need(header, "inputs", ""))
    ]
    layers = []
    for i, lh in enumerate(need(header, "layers", "")):
        ctx = f"layer {i} ({lh.get('name', '?') if isinstance(lh, dict) else '?'}): "
        sources = []
        for j, sh in enumerate(need(lh, "sources", ctx)):
            key = _weight_key(i, j)
            if key not in arrays:
                raise QNetError(f"{where}: {ctx}source {j}: missing weight array {key!r}")
            sources.append(
                Source(
                    name=need(sh, "name", f"{ctx}source {j}: "),
                    weight=arrays[key],
                    weight_bits=need(sh, "weight_bits", f"{ctx}source {j}: "),
                    delay=sh.get("delay", 0),
                )
            )
        bias = None
        if need(lh, "bias", ctx):
            if _bias_key(i) not in arrays:
                raise QNetError(f"{where}: {ctx}missing bias array {_bias_key(i)!r}")
            bias = arrays[_bias_key(i)]
        name = need(lh, "name", ctx)
        if version == 1:  # one shift for the layer: the same integers as d = 4096 >> k
            decay = None
            leak_shift = shift_decay(need(lh, "leak_shift", ctx), f"{where}: layer {name!r}")
            readout = "membrane"
        else:
            if _decay_key(i) not in arrays:
                raise QNetError(f"{where}: {ctx}missing decay array {_decay_key(i)!r}")
            decay, leak_shift = arrays[_decay_key(i)], None
            readout = need(lh, "readout", ctx)
        layers.append(
            Layer(
                name=name,
                n=need(lh, "n", ctx),
                sources=sources,
                threshold=need(lh, "threshold", ctx),
                leak_shift=need(lh, "leak_shift", ctx) if leak_shift is not None else None,
                reset=need(lh, "reset", ctx),
                v_bits=need(lh, "v_bits", ctx),
                spiking=need(lh, "spiking", ctx),
                bias=bias,
                decay=decay,
                readout=readout,
            )
        )
    net = QNet(
        classes=need(header, "classes", ""),
        timesteps=need(header, "timesteps", ""),
        inputs=inputs,
        layers=layers,
        metadata=header.get("metadata", {}) or {},
        exit=_exit_from_header(header, version, where),
        cascade=_cascade_from_header(header, version, arrays, where),
    )
    return net.validate(where)


CASCADE_PREFIX = "cascade."


def _cascade_from_header(header: dict[str, Any], version: Any, arrays: dict[str, np.ndarray], where: str) -> QNet | None:
    """The header's ``"cascade"`` object: the first stage, from its own header and the ``cascade.`` arrays."""
    if header.get("cascade") is None:
        return None
    if version != VERSION:
        raise QNetError(f"{where}: field 'cascade' needs version {VERSION}, but the file says version {version}")
    c = header["cascade"]
    if not isinstance(c, dict) or set(c) != {"first"} or not isinstance(c["first"], dict):
        raise QNetError(f"{where}: field 'cascade' must be an object {{\"first\": header of the first stage}}")
    sub = {k[len(CASCADE_PREFIX):]: v for k, v in arrays.items() if k.startswith(CASCADE_PREFIX)}
    return from_header(c["first"], sub, f"{where}: cascade first stage")


def _exit_from_header(header: dict[str, Any], version: Any, where: str) -> ExitRule | None:
    """The header's ``"exit"`` object as an :class:`ExitRule` (None when absent)."""
    if "exit" not in header or header["exit"] is None:
        return None
    ex = header["exit"]
    if version != VERSION:
        raise QNetError(f"{where}: field 'exit' needs version {VERSION}, but the file says version {version}")
    if not isinstance(ex, dict) or set(ex) != {"margin", "min_step"}:
        raise QNetError(f"{where}: field 'exit' must be an object {{\"margin\": M, \"min_step\": t_min}}, not {ex!r}")
    return ExitRule(margin=ex["margin"], min_step=ex["min_step"])
