"""Stand-ins for the board, for testing the PYNQ driver on x86.

In the manner of PYNQ's own driver tests (a hand-built ``description`` and a
mock device that records the bus), plus a register- and stream-level Python
model of ``eavs_core`` so whole load/run sequences can be exercised:

* :class:`FakeRegisterDevice`: a ``pynq`` device with the ``REGISTER_RW``
  capability; ``pynq.MMIO`` sends every register access to it, and it
  records them in ``log`` as ``("r"|"w", offset, value)``.
* :class:`FakeCore`: the core's registers (:mod:`hw.spec.regmap`) and streams
  (:mod:`hw.spec.protocol`). The model image is *decoded* (:func:`unpack_model`)
  and run through :func:`plain_sample`, a plain evaluator written here from
  docs/design.md sections 3-5 (not ``sw.golden``, not ``hw.spec.capacity``), so the
  driver's results are checked against an independent model: a wrong image
  gives wrong results, and a change to the golden model or to the cycle
  model's constants makes the fake and the golden back-end disagree.
  Like the core, it adds an event index repeated within a step once per
  event (the core queues every event it accepts), and it runs the image's
  early-exit rule (header words 9, 10) with its own frozen cycle figures.
* :class:`FakeDMA`: PYNQ's simple-mode DMA channel API over the core's
  streams, recording every transfer.

Test-only code.
"""

from __future__ import annotations

import struct

import numpy as np

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from sw.events import END_OF_STEP, INDEX_MASK
from sw.qnet import ExitRule, InputGroup, Layer, QNet, Source
from tests.reference import plain_margin

BASE = 0x4000_0000

#: The cycle model, hand-copied from the RTL's documented timing (hw/rtl/core.py,
#: the wave schedule of hw.spec.schedule): a layer that runs takes SETUP cycles plus
#: max(events, 1) per chunk of P neurons, after waiting until the queues it
#: reads and its own layer are drained (DRAIN cycles after the last issue of
#: the run that wrote them); a layer with no step in a wave takes SKIP; a
#: sample adds SAMPLE (its first cycle) and a final flush (+1). A frozen copy
#: on purpose: if the RTL's timing changes, change these numbers too, by hand.
FROZEN_SETUP = 2
FROZEN_SKIP = 1
FROZEN_DRAIN = 10
FROZEN_SAMPLE = 1


def frozen_exit_wait(lanes: int) -> int:
    """R_EXIT after a readout step an exit rule may end (docs/design.md section
    10): the last write-back 9 cycles after the last issue, the monitor's
    input register (1), one register per level of its top-2 tree over at
    most 16 lanes, the running pair and the compare (2)."""
    levels = {1: 0, 2: 1, 3: 2, 4: 2, 8: 3, 16: 4, 32: 4}[lanes]  # ceil(log2 min(P, 16)), by hand
    return 9 + 1 + levels + 2


def frozen_cycles(net: QNet, events: list[list[int]], lanes: int, exit_step: int | None = None) -> int:
    """Compute cycles of one sample from its events ``[T][L]``, written plainly.

    With an exit rule (``net.exit``), the readout's run of each step t with
    ``min_step <= t <= T-2`` is followed by the exit wait; a sample that exits
    at ``exit_step`` < T-1 stops after that wave (w = exit_step + the
    readout's stage), flushes (+1) and discards the input steps w+1..T-1
    (+1 each)."""
    from hw.spec.schedule import layer_stages  # which step each layer runs in each wave

    stages = layer_stages(net)
    pos = {ly.name: i for i, ly in enumerate(net.layers)}
    T, cursor, ready = net.timesteps, FROZEN_SAMPLE, {}
    rule, out = getattr(net, "exit", None), len(net.layers) - 1
    for w in range(T + max(stages)):
        for c, ly in enumerate(net.layers):
            t = w - stages[c]
            if not 0 <= t < T:
                cursor += FROZEN_SKIP
                continue
            reads = [(c, 0), (c, 1)] + [(pos[s.name], (t - s.delay) % 2) for s in ly.sources if s.name in pos]
            start = max([cursor] + [ready.get(q, 0) for q in reads])
            cursor = start + FROZEN_SETUP + -(-ly.n // lanes) * max(events[t][c], 1)
            ready[(c, t % 2)] = cursor - 1 + FROZEN_DRAIN
            if c == out and rule is not None and rule.min_step <= t <= T - 2:
                cursor += frozen_exit_wait(lanes)
                if t == exit_step:
                    return max([cursor] + list(ready.values())) + 1 + max(0, T - 1 - w)
    return max([cursor] + list(ready.values())) + 1


def _leak(layer, v: np.ndarray) -> np.ndarray:
    """The leak term: ``(v * d) >> 12`` for a per-neuron decay d (.qnet v2),
    ``v >> k`` for a shift leak k (v1; k = 0: none). Both ``>>`` are floor."""
    d = getattr(layer, "decay", None)
    if d is not None:
        return (v * np.asarray(d, np.int64)) >> 12
    k = layer.leak_shift
    return v >> k if k else np.zeros_like(v)


def plain_sample(net: QNet, counts: np.ndarray, lanes: int) -> dict:
    """One sample on the core, from event *counts* ``[T, N_in]`` (an index
    sent twice in a step counts twice, as the core accumulates every event).

    Returns prediction, readout, cycles and the counters of a result record.
    Written from the equations, step by step, with no shared code. With an
    exit rule (``net.exit``, docs/design.md section 10) the sample ends at the
    first step t in min_step..T-2 whose readout margin is >= the rule's
    margin; layer l has then computed steps 0..exit + stage[readout] -
    stage[l] (the wave schedule runs earlier layers ahead), and the spike
    and synaptic-op counters count those steps; every input event counts.
    """
    from hw.spec.schedule import layer_stages

    T = net.timesteps
    offsets, at = {}, 0
    for g in net.inputs:
        offsets[g.name] = (at, at + g.size)
        at += g.size
    v = {ly.name: np.zeros(ly.n, np.int64) for ly in net.layers}
    prev = {ly.name: np.zeros(ly.n, np.int64) for ly in net.layers}
    spike_count = {ly.name: np.zeros(ly.n, np.int64) for ly in net.layers}
    last = net.layers[-1]
    by_spikes = last.readout == "spikes"
    events_tl = [[0] * len(net.layers) for _ in range(T)]
    spikes_tl = [[0] * len(net.layers) for _ in range(T)]
    q_t = []  # the readout's decision quantity after each step
    for t in range(T):
        now: dict[str, np.ndarray] = {}
        for c, ly in enumerate(net.layers):
            current = np.zeros(ly.n, np.int64) if ly.bias is None else np.asarray(ly.bias, np.int64).copy()
            events = 0
            for src in ly.sources:
                if src.name in offsets:
                    a, b = offsets[src.name]
                    s = counts[t, a:b].astype(np.int64)
                else:
                    s = prev[src.name] if src.delay else now[src.name]
                events += int(s.sum())
                current += s @ np.asarray(src.weight, np.int64)
            events_tl[t][c] = events
            old = v[ly.name]
            new = old - _leak(ly, old) + current
            new = np.clip(new, -(1 << (ly.v_bits - 1)), (1 << (ly.v_bits - 1)) - 1)
            spk = (new >= ly.threshold) if ly.spiking else np.zeros(ly.n, bool)
            reset_to = np.zeros_like(new) if ly.reset == "zero" else new - ly.threshold
            v[ly.name] = np.where(spk, reset_to, new)
            now[ly.name] = spk.astype(np.int64)
            spike_count[ly.name] += spk
            spikes_tl[t][c] = int(spk.sum())
        prev = now
        q_t.append((spike_count if by_spikes else v)[last.name].copy())
    rule = getattr(net, "exit", None)
    ex = T - 1
    if rule is not None:
        ex = next((t for t in range(rule.min_step, T - 1) if plain_margin(q_t[t].tolist()) >= rule.margin), T - 1)
    stages = layer_stages(net)
    upto = [T - 1 if ex == T - 1 else min(T - 1, ex + stages[-1] - stages[c]) for c in range(len(net.layers))]
    sops = sum(events_tl[t][c] * ly.n for c, ly in enumerate(net.layers) for t in range(upto[c] + 1))
    spikes = sum(spikes_tl[t][c] for c in range(len(net.layers)) for t in range(upto[c] + 1))
    return {
        "prediction": int(np.argmax(q_t[ex])),  # first index of the maximum: lowest wins ties
        "readout": q_t[ex],
        "cycles": int(frozen_cycles(net, events_tl, lanes, ex if rule is not None else None)),
        "in_events": int(counts.sum()),
        "spikes": int(spikes),
        "synaptic_ops": int(sops),
        "exit_step": ex,
    }


def unpack_model(image: np.ndarray, capacity: Capacity) -> QNet:
    """Invert :func:`hw.spec.protocol.pack_model` (names are synthesised)."""
    w = np.asarray(image, np.uint32)
    assert int(w[0]) == protocol.MODEL_MAGIC, "magic"
    assert int(w[1]) == w.size, "length"
    assert int(w[-1]) == int(w[:-1].astype(np.uint64).sum()) & 0xFFFFFFFF, "checksum"
    P, n_in, T, L, n_bias, n_weight, G = (int(x) for x in w[2:9])
    assert P == capacity.lanes
    at = protocol.HEADER_WORDS
    groups = []
    for g in range(G):
        groups.append((int(w[at]), int(w[at + 1])))
        at += protocol.GROUP_WORDS
    inputs = [InputGroup(f"g{g}", size) for g, (_, size) in enumerate(groups)]
    descs = []
    for li in range(L):
        n, chunks, thr, flags, ns, wbase, rows, mbase = (int(x) for x in w[at : at + protocol.LAYER_WORDS])
        at += protocol.LAYER_WORDS
        srcs = []
        for _ in range(ns):
            srcs.append(tuple(int(x) for x in w[at : at + protocol.SOURCE_WORDS]))
            at += protocol.SOURCE_WORDS
        descs.append((n, chunks, thr, flags, wbase, rows, mbase, srcs))
    bias = w[at : at + n_bias].view(np.int32).astype(np.int64)
    at += n_bias
    decay = w[at : at + n_bias].astype(np.int64)  # image v2: d [12:0] | extra shift [17:16] per neuron
    at += n_bias
    wsw = protocol.weight_stream_words(capacity)
    wwords = w[at : at + n_weight * wsw].reshape(n_weight, wsw)
    at += n_weight * wsw
    assert at == w.size - 1
    wb = capacity.weight_bits
    packed = sum(wwords[:, k].astype(object) << (32 * k) for k in range(wsw))
    lanes = np.array([[(int(x) >> (j * wb)) & ((1 << wb) - 1) for j in range(P)] for x in packed], np.int64).reshape(-1, P)
    lanes = np.where(lanes >= 1 << (wb - 1), lanes - (1 << wb), lanes)
    layers = []
    for li, (n, chunks, thr, flags, wbase, rows, mbase, srcs) in enumerate(descs):
        sources = []
        for word, size, offset in srcs:
            idx = word & 0xFF
            name = f"L{idx}" if word & protocol.SOURCE_IS_LAYER else f"g{idx}"
            W = np.zeros((size, chunks * P), np.int64)
            for c in range(chunks):
                base = wbase + c * rows + offset
                W[:, c * P : (c + 1) * P] = lanes[base : base + size]
            sources.append(Source(name, W[:, :n], wb, 1 if word & protocol.SOURCE_DELAY else 0))
        b = bias[mbase * P : mbase * P + n]
        dw = set(decay[mbase * P : mbase * P + n].tolist())
        assert len(dw) == 1, "the fake core runs uniform (shift) leaks only"
        d, e = dw.pop(), None
        d, e = d & 0x1FFF, (d >> protocol.DECAY_SHIFT_LSB) & 3
        k = 0 if d == 0 else 12 + e if d == 1 else (4096 // d).bit_length() - 1
        layers.append(
            Layer(
                f"L{li}", n, sources, thr, k, "subtract" if flags >> 4 & 1 else "zero",
                (flags >> 8) & 0x3F, bool(flags >> 5 & 1), b.copy() if b.any() else None,
                readout="spikes" if flags >> 6 & 1 else "membrane",
            )
        )
    margin, min_step = int(w[9]), int(w[10])  # header words 9, 10: [0, T-1] for a model without a rule
    rule = ExitRule(margin, min_step) if min_step < T - 1 else None
    return QNet([f"c{i}" for i in range(layers[-1].n)], T, inputs, layers, exit=rule)


class FakeCore:
    """A register- and stream-level model of ``eavs_core``."""

    def __init__(self, capacity: Capacity):
        self.capacity = capacity
        self.regs = {r.offset: regmap.reset_value(r, capacity) for r in regmap.REGISTERS}
        self.readout = [0] * capacity.max_neurons
        self.net: QNet | None = None
        self.busy = self.done = False
        self.mode = regmap.MODE_RUN
        self.errors = 0
        self.results: list[np.ndarray] = []
        self.pending: list[int] = []
        self.todo = 0
        self.hang = False
        self.inject = 0  # error bits ORed into the next result record
        self.inject_sticky = 0  # error bits set in ERROR only, during the next sample
        self.id_value = regmap.MAGIC

    def _set(self, name, value):
        self.regs[regmap.offset(name)] = int(value) & 0xFFFFFFFF

    def read(self, off: int) -> int:
        if off == regmap.offset("ID"):
            return self.id_value
        if off == regmap.offset("STATUS"):
            bit = lambda name: regmap.field("STATUS", name).lsb  # noqa: E731
            return (
                int(self.busy) << bit("busy")
                | int(self.done) << bit("done")
                | int(self.errors != 0) << bit("error")
                | int(self.net is not None) << bit("model_valid")
            )
        if off == regmap.offset("ERROR"):
            return self.errors
        if off >= regmap.READOUT.offset:
            return self.readout[(off - regmap.READOUT.offset) // 4] & 0xFFFFFFFF
        return self.regs.get(off, 0)

    def write(self, off: int, value: int) -> None:
        if off == regmap.offset("CTRL"):
            f = lambda n: regmap.field("CTRL", n).get(value)  # noqa: E731
            self.mode = f("mode")
            self.regs[off] = value & regmap.field("CTRL", "mode").mask
            if f("clear_errors"):
                self.errors = 0
            if f("soft_reset"):
                self.busy, self.pending = False, []
            if f("start"):
                if self.busy:
                    self.errors |= regmap.field("ERROR", "start_busy").mask
                    return
                self.busy, self.done, self.pending = True, False, []
                if self.mode == regmap.MODE_RUN:
                    self.todo = max(1, self.regs[regmap.offset("BATCH")])
                    if self.net is None:
                        self.errors |= regmap.field("ERROR", "no_model").mask
                        self.busy, self.done = False, True
        elif off == regmap.offset("BATCH"):
            self.regs[off] = value
        else:
            raise AssertionError(f"write to read-only offset 0x{off:x}")

    # -- streams -------------------------------------------------------------------

    def stream_in(self, words: np.ndarray) -> None:
        """One DMA transfer (TLAST on its last word)."""
        if not self.busy or self.hang:
            return
        if self.mode == regmap.MODE_LOAD:
            try:
                self.net = unpack_model(words, self.capacity)
                n = self.net
                self._set("MODEL_INPUTS", n.n_inputs)
                self._set("MODEL_TIMESTEPS", n.timesteps)
                self._set("MODEL_LAYERS", len(n.layers))
                self._set("MODEL_OUTPUTS", n.readout.n)
            except AssertionError:
                self.net = None
                self.errors |= regmap.field("ERROR", "bad_model").mask
            self.busy, self.done = False, True
            return
        T = self.net.timesteps
        for w in words.tolist():
            self.pending.append(w)
            if sum(1 for x in self.pending if x & END_OF_STEP) == T:
                self._run_sample(self.pending)
                self.pending = []
                self.todo -= 1
                if self.todo == 0:
                    self.busy, self.done = False, True
                    return

    def _run_sample(self, words: list[int]) -> None:
        net, err = self.net, 0
        x = np.zeros((net.timesteps, net.n_inputs), np.int64)
        t = 0
        for w in words:
            if w & END_OF_STEP:
                t += 1
            elif w > INDEX_MASK:
                err |= regmap.field("ERROR", "bad_word").mask
            elif w >= net.n_inputs:
                err |= regmap.field("ERROR", "event_index").mask
            else:
                x[t, w] += 1
        err |= self.inject
        self.inject = 0
        r = plain_sample(net, x, self.capacity.lanes)
        self.errors |= err | self.inject_sticky
        self.inject_sticky = 0
        rec = [protocol.RESULT_MAGIC << 16 | net.readout.n, err, r["prediction"], r["cycles"],
               r["in_events"], r["spikes"], r["synaptic_ops"], r["exit_step"]]
        rec += [int(v) & 0xFFFFFFFF for v in r["readout"]]
        self.results.append(np.array(rec, np.uint32))
        for name, v in zip(("SAMPLE_ERRORS", "PREDICTION", "CYCLES", "IN_EVENTS", "SPIKES", "SOPS"), rec[1:7]):
            self._set(name, v)
        self._set("SAMPLES", self.regs[regmap.offset("SAMPLES")] + 1)
        for i, v in enumerate(r["readout"]):
            self.readout[i] = int(v)


class FakeRegisterDevice:
    """A pynq device with REGISTER_RW: ``pynq.MMIO`` routes accesses here."""

    def __init__(self, core: FakeCore, base: int = BASE):
        self.core, self.base, self.log = core, base, []

    def has_capability(self, cap: str) -> bool:
        return cap == "REGISTER_RW"

    def read_registers(self, address: int, length: int) -> bytes:
        assert length == 4, f"register read of {length} bytes"
        off = address - self.base
        v = self.core.read(off)
        self.log.append(("r", off, v))
        return struct.pack("<I", v)

    def write_registers(self, address: int, data: bytes) -> None:
        (v,) = struct.unpack("<I", data)
        off = address - self.base
        self.log.append(("w", off, v))
        self.core.write(off, v)


class _Channel:
    def __init__(self, dma, direction):
        self.dma, self.direction = dma, direction
        self._active = None
        self.transferred = 0

    @property
    def idle(self) -> bool:
        if self._active is None:
            return True
        if self.direction == "recv":
            core = self.dma.core
            if not self._done and core.results:
                buf, start, nbytes = self._active
                rec = core.results.pop(0)
                assert rec.nbytes <= nbytes, "record longer than the receive transfer"
                view = np.asarray(buf).view(np.uint8)
                view[start : start + rec.nbytes] = rec.view(np.uint8)
                self.transferred = rec.nbytes
                self._done = True
            return getattr(self, "_done", False)
        return True

    def transfer(self, buf, start=0, nbytes=0):
        assert self._active is None, "transfer on a busy channel"
        assert start % 4 == 0
        nbytes = nbytes or (np.asarray(buf).nbytes - start)
        assert nbytes <= self.dma.buffer_max_size
        self._active = (buf, start, nbytes)
        self._done = False
        if self.direction == "send":
            words = np.asarray(buf).view(np.uint8)[start : start + nbytes].view(np.uint32).copy()
            self.dma.sent.append(words)
            self.dma.core.stream_in(words)
            self.transferred = nbytes
        else:
            self.dma.recv_sizes.append(nbytes)

    def stop(self):
        self._active = None

    def start(self):
        self._active = None

    def wait(self):
        assert self.idle, "wait() on a channel that is not idle would spin forever"
        self._active = None


class FakeDMA:
    """PYNQ AXI DMA (simple mode) over a :class:`FakeCore`'s streams."""

    def __init__(self, core: FakeCore, buffer_max_size: int = (1 << 26) - 1):
        self.core = core
        self.buffer_max_size = buffer_max_size
        self.sent: list[np.ndarray] = []
        self.recv_sizes: list[int] = []
        self.sendchannel = _Channel(self, "send")
        self.recvchannel = _Channel(self, "recv")


def np_allocate(shape, dtype=np.uint32, **kw):
    return np.zeros(shape, dtype)


class FakeOverlay:
    """What BoardBackend needs of a ``pynq.Overlay``: ``ip_dict`` and attributes."""

    def __init__(self, ip: dict[str, tuple[str, object]]):
        self.ip_dict = {name: {"type": t} for name, (t, _) in ip.items()}
        for name, (_, obj) in ip.items():
            parts = name.split("/")
            target = self
            for p in parts[:-1]:
                if not hasattr(target, p):
                    setattr(target, p, type("Hier", (), {})())
                target = getattr(target, p)
            setattr(target, parts[-1], obj)
