"""The AXI4-Stream formats of ``eavs_core``: model image in, events in, results out.

One definition of every word the core reads or writes on its streams; the
RTL (:mod:`hw.rtl.core`), the Amaranth harness, the cocotb testbenches and the
PYNQ driver all import it. numpy only: it runs on the board.

Mode selection
--------------
The input stream carries two kinds of traffic; ``CTRL.mode`` (:mod:`hw.spec.regmap`)
says which one the next ``CTRL.start`` reads:

* ``MODE_LOAD``: one **model image** (:func:`pack_model`), a packet whose last
  word carries TLAST. The core checks it (magic, lane count, length, TLAST
  position, checksum, capacity) and marks the model valid only if all pass.
* ``MODE_RUN``: ``BATCH`` **samples** of AER event words (:mod:`sw.events`,
  docs/design.md section 4): each sample is its events and exactly T
  end-of-step markers. TLAST ends a DMA transfer and may sit on the T-th
  marker of any sample (one transfer per sample, or one per batch). If the
  batch's last sample's T-th marker lacks TLAST, the words up to the next
  TLAST are dropped and flagged ``extra_events``. (Extra words after an
  earlier sample's T-th marker cannot be told from the next sample's events:
  they are read as such, and that sample's early TLAST then flags it
  ``truncated``.) A TLAST before the T-th marker flags ``truncated`` and the
  remaining steps run without input. For each sample the core writes one
  **result record** (:func:`decode_results`) with TLAST on its last word.
  Within a step an index sent twice is added twice (the host sends each
  spike once, :func:`sw.events.encode_events`); an event that would exceed
  its input group's size in one step is dropped and flagged ``bad_word``.

Model image layout (uint32 words)
---------------------------------
``HEADER`` (:data:`HEADER_WORDS` words)::

    0 MODEL_MAGIC   1 total words (trailer included)   2 lanes P
    3 n_inputs      4 timesteps T                      5 layers L
    6 bias words    7 weight words (memory words of P weights)
    8 input groups G (at most capacity.max_sources)
    9 early-exit margin M   10 early-exit min_step t_min

(the model's ``exit`` rule, :mod:`sw.qnet`; a model without one carries
M = 0, t_min = T-1, which never ends a sample before its last step, so the
core runs all T steps exactly as without the rule, cycle for cycle),

then per input group 2 words: its offset in the flat index space and its
size (the core keeps each group's events of a step in its own list, so a
layer replays only the groups it reads);

then per layer ``LAYER_WORDS`` words followed by ``SOURCE_WORDS`` per source::

    layer:  n, chunks = ceil(n/P), threshold, flags, n_sources,
            wbase (weight-memory word of its chunk 0), rows (sum of source
            sizes: the weight words per chunk), mbase (membrane/bias bank
            address of its chunk 0)
    flags:  reserved [3:0] (0; v1's leak shift, now in the decay words),
            reset is subtract [4], spiking [5], readout by spike count [6]
            (the last layer only), v_bits [13:8], stage [19:16] (the
            wave in which it runs a step, relative to the first layers':
            :mod:`hw.spec.schedule`; 0 everywhere is the plain order)
    source: index [7:0] (input group g, or layer i) | delay [8] | is a
            layer [9], size, offset of its rows inside the chunk's rows

then the **bias** words: per layer, per chunk, P signed 32-bit values (lane
``j`` of chunk ``c`` is neuron ``c*P + j``; padding and bias-less layers are
0); then as many **decay** words, in the same order: bits [12:0] the
neuron's decay ``d`` (0..4096), bits [17:16] its extra product shift
(:func:`decay_and_shift`; 0 for a v2 decay), so the lane computes
``v - ((v * d) >> (12 + shift))``; then the **weight** memory words in address order, each split into
``weight_stream_words(capacity)`` little-endian uint32 words. Weight word
``wbase + c*rows + offset_s + i`` holds ``W_s[i, c*P + j]`` in lane ``j``
(bits ``j*wb .. j*wb+wb-1``, two's complement, ``wb = capacity.weight_bits``);
lanes past ``n`` are 0. Last, the **trailer**: the sum of all previous words
modulo 2**32.

Result record (uint32 words, TLAST on the last)
-----------------------------------------------
``RESULT_HEADER_WORDS`` words, then the ``n_out`` readout values
(sign-extended): the last layer's membranes after the sample's exit step
(T-1 without an early exit), or, for a model whose last layer has
``readout = "spikes"``, its spike counts over steps 0..exit step (the
prediction is their argmax, lowest index first)::

    0 RESULT_MAGIC << 16 | n_out    1 error causes (hw.spec.regmap.ERROR_BITS)
    2 prediction    3 compute cycles    4 input events    5 output spikes
    6 synaptic operations    7 exit step (the readout's last step, T-1 when
    the sample did not exit early)

What these must be for a golden run is :func:`hw.spec.expected.expected_results`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hw.spec.capacity import Capacity, CapacityError
from hw.spec.schedule import layer_stages
from sw.events import encode_events
# The decay's precision and the exact shift -> decay conversion are the .qnet
# contract's (one definition, sw.qnet); the image carries them as they are.
from sw.qnet import DECAY_BITS, DECAY_ONE, QNet
from sw.qnet import shift_decay as decay_from_shift

__all__ = [
    "MODEL_MAGIC",
    "RESULT_MAGIC",
    "HEADER_WORDS",
    "LAYER_WORDS",
    "SOURCE_WORDS",
    "GROUP_WORDS",
    "SOURCE_IS_LAYER",
    "SOURCE_DELAY",
    "RESULT_HEADER_WORDS",
    "ModelLayout",
    "ProtocolError",
    "DECAY_BITS",
    "DECAY_ONE",
    "DECAY_SHIFT_LSB",
    "FLAG_READOUT_SPIKES",
    "FLAG_STAGE_LSB",
    "decay_from_shift",
    "decay_and_shift",
    "layer_decay",
    "model_layout",
    "pack_model",
    "weight_stream_words",
    "membrane_depth",
    "queue_depth",
    "event_packets",
    "exit_words",
    "Results",
    "decode_results",
    "result_words",
    "flags_word",
]

MODEL_MAGIC = 0x454D444C  # "EMDL"
RESULT_MAGIC = 0xE5A5
HEADER_WORDS = 11
GROUP_WORDS = 2
LAYER_WORDS = 8
SOURCE_WORDS = 3
RESULT_HEADER_WORDS = 8
SOURCE_DELAY = 1 << 8
SOURCE_IS_LAYER = 1 << 9
#: Layer flag: the (last) layer is read out by spike count, not membrane.
FLAG_READOUT_SPIKES = 1 << 6
#: Bits [19:16] of the layer flags: its stage in the wave schedule (hw.spec.schedule).
FLAG_STAGE_LSB = 16
#: Bit of a decay word where the neuron's extra product shift (0..3) starts.
DECAY_SHIFT_LSB = 16


def decay_and_shift(k: int) -> tuple[int, int]:
    """``(d, shift)`` that reproduce a v1 shift leak ``k`` in 0..15 exactly in
    the core's lane, ``v - ((v * d) >> (12 + shift))``: ``(decay_from_shift(k),
    0)`` for k <= 12, ``(1, k - 12)`` above."""
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= 15:
        raise ValueError(f"leak shift must be an integer in 0..15, not {k!r}")
    return (1, k - DECAY_BITS) if k > DECAY_BITS else (decay_from_shift(k), 0)


def layer_decay(layer) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron ``(d, shift)`` of ``layer`` for the core: the .qnet v2
    ``Layer.decay`` array (values 0..4096) with no extra shift. (The lane's
    extra product shift exists for version-1 leaks k = 13..15, see
    :func:`decay_and_shift`; ``sw.qnet`` refuses those, so no model uses it.)
    """
    decay = np.asarray(layer.decay)
    if decay.shape != (layer.n,) or not np.issubdtype(decay.dtype, np.integer):
        raise ProtocolError(f"layer {layer.name!r}: decay must be an integer array of shape [{layer.n}], not {decay.dtype} {list(decay.shape)}")
    if decay.size and (decay.min() < 0 or decay.max() > DECAY_ONE):
        raise ProtocolError(f"layer {layer.name!r}: decay values must be in 0..{DECAY_ONE}, not {int(decay.min())}..{int(decay.max())}")
    return decay.astype(np.int64), np.zeros(layer.n, np.int64)


def readout_words(net: QNet, golden_result) -> np.ndarray:
    """What a result record's readout words (and the ``READOUT`` window)
    carry for ``net``, from a :class:`sw.golden.GoldenResult`: the last
    layer's spike counts over the sample for ``readout = "spikes"``, its
    membranes after the last step otherwise. ``[B, n_out]`` int64."""
    if net.layers[-1].readout == "spikes":
        return np.asarray(golden_result.counts, np.int64)
    return np.asarray(golden_result.readout, np.int64)


class ProtocolError(ValueError):
    """A stream that does not follow these formats."""


def weight_stream_words(capacity: Capacity) -> int:
    """uint32 stream words per weight-memory word (P weights of ``weight_bits``)."""
    return math.ceil(capacity.lanes * capacity.weight_bits / 32)


def queue_depth(capacity: Capacity) -> int:
    """Entries of one lane's bank of one layer's spike queue: ``ceil(max_neurons/P)``."""
    return math.ceil(capacity.max_neurons / capacity.lanes)


def membrane_depth(capacity: Capacity) -> int:
    """Words of each lane's membrane (and bias) bank: every layer's chunks."""
    return capacity.max_layers * queue_depth(capacity)


def flags_word(leak_shift: int, subtract: bool, spiking: bool, v_bits: int) -> int:
    """The layer ``flags`` word of the model image."""
    return (leak_shift & 0xF) | (int(subtract) << 4) | (int(spiking) << 5) | ((v_bits & 0x3F) << 8)


@dataclass(frozen=True)
class ModelLayout:
    """Where each layer lives in the core's memories (what :func:`pack_model` sends)."""

    chunks: tuple[int, ...]
    rows: tuple[int, ...]
    wbase: tuple[int, ...]
    mbase: tuple[int, ...]
    src_offsets: tuple[tuple[int, ...], ...]
    src_queues: tuple[tuple[int, ...], ...]  # source word bits [9:0] without the delay
    weight_words: int
    bias_words: int


def model_layout(net: QNet, capacity: Capacity) -> ModelLayout:
    """Addresses of every layer's weights, membranes and sources for ``capacity``."""
    P = capacity.lanes
    names = {layer.name: i for i, layer in enumerate(net.layers)}
    groups = {g.name: i for i, g in enumerate(net.inputs)}
    chunks, rows, wbase, mbase, offs, queues = [], [], [], [], [], []
    w_at = m_at = 0
    for layer in net.layers:
        c = math.ceil(layer.n / P)
        sizes = [net.source_size(s.name) for s in layer.sources]
        chunks.append(c)
        rows.append(sum(sizes))
        wbase.append(w_at)
        mbase.append(m_at)
        offs.append(tuple(int(x) for x in np.cumsum([0] + sizes[:-1])))
        queues.append(
            tuple(
                SOURCE_IS_LAYER | names[s.name] if s.name in names else groups[s.name]
                for s in layer.sources
            )
        )
        w_at += c * sum(sizes)
        m_at += c
    return ModelLayout(tuple(chunks), tuple(rows), tuple(wbase), tuple(mbase), tuple(offs), tuple(queues), w_at, m_at * P)


def _pack_lanes(values: np.ndarray, bits: int, n_words: int) -> np.ndarray:
    """Rows of lane values ``[R, P]`` -> ``[R, n_words]`` uint32, lane j at bits j*bits."""
    R, P = values.shape
    v = (values.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint64)
    out = np.zeros((R, n_words + 1), np.uint64)
    for j in range(P):
        pos = j * bits
        k, sh = divmod(pos, 32)
        out[:, k] |= (v[:, j] << np.uint64(sh)) & np.uint64(0xFFFFFFFF)
        if sh + bits > 32:
            out[:, k + 1] |= v[:, j] >> np.uint64(32 - sh)
    return out[:, :n_words].astype(np.uint32)


def pack_model(net: QNet, capacity: Capacity, *, check: bool = True) -> np.ndarray:
    """The model image of ``net`` for a core of ``capacity`` (uint32 words).

    ``check=False`` packs a model that exceeds the capacity in size (layers,
    neurons, inputs, timesteps, depth), to test that the core rejects it;
    weights and biases must still fit the capacity's widths.
    """
    if check:
        capacity.require_fits(net)
    for layer in net.layers:
        for s in layer.sources:
            if s.weight_bits > capacity.weight_bits:
                raise CapacityError(
                    f"layer {layer.name!r} source {s.name!r}: weight_bits {s.weight_bits} > capacity weight_bits {capacity.weight_bits}"
                )
    if len(net.inputs) > capacity.max_sources:
        raise CapacityError(
            f"{len(net.inputs)} input groups > max_sources {capacity.max_sources} (the core keeps one event list per group)"
        )
    P = capacity.lanes
    lay = model_layout(net, capacity)
    stages = layer_stages(net)
    words: list[int] = [MODEL_MAGIC, 0, P, net.n_inputs, net.timesteps, len(net.layers), lay.bias_words, lay.weight_words]
    words.append(len(net.inputs))
    words += exit_words(net)
    offsets = net.input_offsets()
    for g in net.inputs:
        words += [offsets[g.name], g.size]
    for li, layer in enumerate(net.layers):
        words += [
            layer.n,
            lay.chunks[li],
            int(layer.threshold),
            flags_word(0, layer.reset == "subtract", bool(layer.spiking), layer.v_bits)  # the leak is in the decay words
            | (FLAG_READOUT_SPIKES if layer.readout == "spikes" else 0)
            | (stages[li] << FLAG_STAGE_LSB),
            len(layer.sources),
            lay.wbase[li],
            lay.rows[li],
            lay.mbase[li],
        ]
        for si, s in enumerate(layer.sources):
            words += [
                lay.src_queues[li][si] | (SOURCE_DELAY if s.delay else 0),
                net.source_size(s.name),
                lay.src_offsets[li][si],
            ]
    head = np.array(words, np.int64).astype(np.uint32)

    bias = np.zeros(lay.bias_words, np.int64)
    for li, layer in enumerate(net.layers):
        if layer.bias is not None:
            at = lay.mbase[li] * P
            bias[at : at + layer.n] = layer.bias
    bias_words = bias.astype(np.uint32)  # two's complement wrap of int64 -> uint32

    decay = np.zeros(lay.bias_words, np.int64)  # padding lanes: d = 0 (never read)
    for li, layer in enumerate(net.layers):
        ro = layer.readout
        if ro not in ("membrane", "spikes"):
            raise ProtocolError(f"layer {layer.name!r}: readout must be 'membrane' or 'spikes', not {ro!r}")
        if ro == "spikes" and (li != len(net.layers) - 1 or not layer.spiking):
            raise ProtocolError(f"layer {layer.name!r}: readout 'spikes' needs the last layer, spiking")
        d, e = layer_decay(layer)
        at = lay.mbase[li] * P
        decay[at : at + layer.n] = d | (e << DECAY_SHIFT_LSB)
    decay_words = decay.astype(np.uint32)

    wsw = weight_stream_words(capacity)
    rows_all = []
    for li, layer in enumerate(net.layers):
        padded = [np.zeros((s.weight.shape[0], lay.chunks[li] * P), np.int64) for s in layer.sources]
        for p, s in zip(padded, layer.sources):
            p[:, : layer.n] = s.weight
        for c in range(lay.chunks[li]):
            for p in padded:
                rows_all.append(p[:, c * P : (c + 1) * P])
    lanes = np.concatenate(rows_all, axis=0) if rows_all else np.zeros((0, P), np.int64)
    assert lanes.shape[0] == lay.weight_words
    weights = _pack_lanes(lanes, capacity.weight_bits, wsw).reshape(-1)

    image = np.concatenate([head, bias_words, decay_words, weights, np.zeros(1, np.uint32)])
    image[1] = image.size
    image[-1] = np.uint32(int(image[:-1].astype(np.uint64).sum()) & 0xFFFFFFFF)
    return image


def exit_words(net: QNet) -> list[int]:
    """Header words 9 and 10: the exit rule's margin M and min_step t_min;
    ``[0, T-1]`` (never early) for a model without a rule."""
    rule = getattr(net, "exit", None)
    if rule is None:
        return [0, net.timesteps - 1]
    M, t_min = int(rule.margin), int(rule.min_step)
    if not 0 <= M < 1 << 32 or not 0 <= t_min <= net.timesteps - 1:
        raise ProtocolError(f"exit rule: margin {M} must be in 0..2**32-1 and min_step {t_min} in 0..{net.timesteps - 1}")
    return [M, t_min]


def event_packets(spikes: np.ndarray) -> list[np.ndarray]:
    """Per sample of ``spikes [B, T, N_in]``, its event words (one DMA packet each)."""
    spikes = np.asarray(spikes)
    if spikes.ndim == 2:
        spikes = spikes[None]
    if spikes.ndim != 3:
        raise ProtocolError(f"spikes must be [B, T, N_in] or [T, N_in], not shape {spikes.shape}")
    return [encode_events(s) for s in spikes]


@dataclass
class Results:
    """Decoded result records of a batch (one row per sample)."""

    errors: np.ndarray  # [B] uint32, hw.spec.regmap.ERROR_BITS layout
    prediction: np.ndarray  # [B] int64
    cycles: np.ndarray  # [B] int64
    in_events: np.ndarray  # [B] int64
    spikes: np.ndarray  # [B] int64
    synaptic_ops: np.ndarray  # [B] int64
    readout: np.ndarray  # [B, n_out] int64
    exit_step: np.ndarray  # [B] int64: the readout's last step (T-1 without an early exit)


def result_words(n_out: int) -> int:
    """Words of one result record."""
    return RESULT_HEADER_WORDS + n_out


def decode_results(words: np.ndarray, n_out: int) -> Results:
    """Split the output stream (concatenated records) into :class:`Results`."""
    w = np.asarray(words, dtype=np.uint32).reshape(-1)
    size = result_words(n_out)
    if w.size % size:
        raise ProtocolError(f"{w.size} result words are not a whole number of {size}-word records (n_out={n_out})")
    rec = w.reshape(-1, size)
    magic = rec[:, 0] >> 16
    if rec.shape[0] and (magic != RESULT_MAGIC).any():
        k = int(np.nonzero(magic != RESULT_MAGIC)[0][0])
        raise ProtocolError(f"result record {k}: header 0x{int(rec[k, 0]):08x} lacks magic 0x{RESULT_MAGIC:04x}")
    if rec.shape[0] and ((rec[:, 0] & 0xFFFF) != n_out).any():
        k = int(np.nonzero((rec[:, 0] & 0xFFFF) != n_out)[0][0])
        raise ProtocolError(f"result record {k}: says n_out={int(rec[k, 0] & 0xFFFF)}, expected {n_out}")
    return Results(
        errors=rec[:, 1].copy(),
        prediction=rec[:, 2].astype(np.int64),
        cycles=rec[:, 3].astype(np.int64),
        in_events=rec[:, 4].astype(np.int64),
        spikes=rec[:, 5].astype(np.int64),
        synaptic_ops=rec[:, 6].astype(np.int64),
        readout=rec[:, RESULT_HEADER_WORDS:].view(np.int32).astype(np.int64),
        exit_step=rec[:, 7].astype(np.int64),
    )
