"""The one driver of ``eavs_core``: registers over MMIO, streams over DMA.

:class:`CoreDriver` is written against the shapes of PYNQ's objects and
nothing else:

* ``mmio`` with ``read(offset) -> int`` and ``write(offset, value)``
  (``pynq.MMIO``);
* ``dma`` with ``sendchannel`` / ``recvchannel``, each with
  ``transfer(buffer, start=0, nbytes=0)``, ``wait()``, ``idle`` and
  ``transferred`` (``pynq.lib.dma.DMA`` in simple mode); and
  ``buffer_max_size`` (bytes per transfer);
* ``allocate(shape, dtype)`` returning an array the DMA can read and write
  (``pynq.allocate``).

On the board they are PYNQ's (:mod:`host.board`); in RTL simulation they are
the bridge's stand-ins that forward every call to the Verilator model
(:mod:`host.rtl`); in the tests they are mocks that record the bus traffic.
So the code that runs on the board is the code that is simulated and tested.

Every offset, field and stream format comes from :mod:`hw.spec.regmap` and
:mod:`hw.spec.protocol`. Every wait has a wall-clock deadline: a core that never
finishes raises :class:`CoreTimeout` with the registers' state, never hangs
(PYNQ's own ``wait()`` spins forever, so it is only called once a channel is
idle).

numpy only.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from host.backend import HostError
from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity, CapacityError
from sw.qnet import QNet

__all__ = [
    "CoreDriver",
    "CoreError",
    "CoreTimeout",
    "NoCoreError",
    "COUNTER_FIELDS",
    "read_capacity",
    "results_fields",
]

#: The per-sample counters of a result record (and its exit step), by their
#: :class:`hw.spec.protocol.Results` names; what each must be for a golden run
#: is :func:`hw.spec.expected.expected_results`.
COUNTER_FIELDS = ("in_events", "spikes", "synaptic_ops", "exit_step")

#: Byte alignment of every DMA transfer's start (safe for any AXI DMA data
#: width without the re-alignment engine).
ALIGN_BYTES = 64


class NoCoreError(HostError):
    """The bitstream (or address) holds no ``eavs_core``."""


class CoreError(HostError):
    """The core raised error bits; ``result`` holds the batch when one was run."""

    def __init__(self, message: str, bits: int, result: Any = None):
        super().__init__(message)
        self.bits = bits
        self.result = result


class CoreTimeout(HostError):
    """The core (or a DMA transfer) did not finish within the deadline."""


def _ctrl(*, start=False, soft_reset=False, clear_errors=False, mode=regmap.MODE_RUN) -> int:
    v = 0
    if start:
        v |= regmap.field("CTRL", "start").mask
    if soft_reset:
        v |= regmap.field("CTRL", "soft_reset").mask
    if clear_errors:
        v |= regmap.field("CTRL", "clear_errors").mask
    return v | (mode << regmap.field("CTRL", "mode").lsb)


def read_capacity(mmio) -> Capacity:
    """The capacity the bitstream reports in its ``CAP_*`` registers."""
    values = {r.name[len("CAP_"):].lower(): int(mmio.read(r.offset)) for r in regmap.CAPACITY_REGISTERS}
    try:
        return Capacity.from_dict(values, "capacity registers")
    except CapacityError as e:
        raise NoCoreError(f"the core's capacity registers read nonsense ({values}): {e}") from None


class CoreDriver:
    """Load models into ``eavs_core`` and stream samples through it.

    Parameters
    ----------
    mmio : object with ``read(offset)`` / ``write(offset, value)``
        The core's AXI4-Lite registers.
    dma : object with ``sendchannel`` / ``recvchannel``
        The AXI DMA whose MM2S feeds ``s_axis`` and whose S2MM drains ``m_axis``.
    allocate : callable ``(shape, dtype) -> array``
        DMA-able buffers (``pynq.allocate`` on the board).
    timeout_s : float
        Wall-clock deadline of every wait (model load, each result record).
    poll : callable, optional
        Called between polls (e.g. ``time.sleep(0)``); the simulator bridge
        passes one that advances simulated time.
    """

    def __init__(self, mmio, dma, allocate: Callable, *, timeout_s: float = 10.0, poll: Callable[[], None] | None = None):
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
        self.mmio, self.dma, self.allocate = mmio, dma, allocate
        self.timeout_s = float(timeout_s)
        self._poll = poll or (lambda: None)
        self.check_identity()
        self.capacity = read_capacity(mmio)
        self.net: QNet | None = None

    # -- registers -----------------------------------------------------------------

    def read(self, name: str) -> int:
        return int(self.mmio.read(regmap.offset(name)))

    def write(self, name: str, value: int) -> None:
        self.mmio.write(regmap.offset(name), int(value))

    def check_identity(self) -> None:
        """Refuse anything that is not an ``eavs_core`` of a compatible version."""
        ident = self.read("ID")
        if ident != regmap.MAGIC:
            raise NoCoreError(
                f"no eavs_core here: ID register reads 0x{ident:08x}, expected 0x{regmap.MAGIC:08x} ('EAVS')"
            )
        version = self.read("VERSION")
        if version >> 16 != regmap.VERSION >> 16:
            raise NoCoreError(
                f"eavs_core version {version >> 16}.{version & 0xFFFF} does not match this driver's "
                f"{regmap.VERSION >> 16}.{regmap.VERSION & 0xFFFF}: rebuild the bitstream or update the host package"
            )

    def register_state(self) -> str:
        """Every scalar register, decoded, for error messages."""
        parts = []
        for r in regmap.REGISTERS:
            if r.name.startswith("CAP_") or r.name in ("ID", "VERSION"):
                continue
            v = int(self.mmio.read(r.offset))
            if r.name in ("ERROR", "SAMPLE_ERRORS"):
                parts.append(f"{r.name}=0x{v:x}{regmap.decode_errors(v) or ''}")
            elif r.fields and r.access == "ro":
                parts.append(f"{r.name}={regmap.decode_fields(r.name, v)}")
            else:
                parts.append(f"{r.name}={v}")
        return ", ".join(parts)

    def status(self) -> dict[str, int]:
        return regmap.decode_fields("STATUS", self.read("STATUS"))

    def soft_reset(self) -> None:
        """Abort whatever the core is doing (the loaded model stays) and clear errors."""
        self.write("CTRL", _ctrl(soft_reset=True, clear_errors=True))

    def _start(self, mode: int) -> None:
        if self.status()["busy"]:
            raise HostError(f"eavs_core is busy; not starting ({self.register_state()})")
        self.write("CTRL", _ctrl(clear_errors=True, mode=mode))
        self.write("CTRL", _ctrl(start=True, mode=mode))

    def _timeout(self, what: str, deadline_s: float) -> CoreTimeout:
        """The timeout error, with the registers' state read *before* recovering."""
        try:
            state = self.register_state()
        except Exception as e:  # pragma: no cover - the bus itself failed
            state = f"(registers unreadable: {e})"
        recovered = self.recover()
        return CoreTimeout(f"{what} did not finish within {deadline_s:g} s; core registers: {state}; {recovered}")

    def recover(self) -> str:
        """Soft-reset the core and restart both DMA channels (after a timeout)."""
        done = []
        try:
            self.soft_reset()
            done.append("core soft-reset")
        except Exception as e:  # pragma: no cover - the bus itself failed
            done.append(f"core soft-reset failed: {e}")
        for name in ("sendchannel", "recvchannel"):
            ch = getattr(self.dma, name, None)
            if ch is None or not hasattr(ch, "start"):
                continue
            if hasattr(ch, "_mmio") and hasattr(ch, "_offset"):
                # PYNQ's AXI DMA channel: stop() would wait for the stuck transfer
                # forever, so use the DMACR soft-reset bit (PG021), then start again.
                ch._mmio.write(ch._offset, 0x4)
                limit = time.monotonic() + 1.0
                while ch._mmio.read(ch._offset) & 0x4 and time.monotonic() < limit:
                    pass
            elif hasattr(ch, "stop"):
                ch.stop()
            ch.start()
            done.append(f"DMA {name} restarted")
        return ", ".join(done)

    def _wait_status(self, what: str, done: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while True:
            st = self.status()
            if done(st):
                return st
            if time.monotonic() > deadline:
                raise self._timeout(what, self.timeout_s)
            self._poll()

    def _wait_channel(self, channel, what: str, deadline: float) -> None:
        while not channel.idle:
            if time.monotonic() > deadline:
                raise self._timeout(what, self.timeout_s)
            self._poll()
        channel.wait()

    # -- model ---------------------------------------------------------------------

    def load_model(self, net: QNet) -> None:
        """Send ``net``'s image (:func:`hw.spec.protocol.pack_model`) and check the core took it."""
        self.capacity.require_fits(net)
        image = protocol.pack_model(net, self.capacity)
        self._check_transfer_size(image.nbytes, "the model image")
        buf = self.allocate((image.size,), np.uint32)
        try:
            buf[:] = image
            self._start(regmap.MODE_LOAD)
            self.dma.sendchannel.transfer(buf)
            deadline = time.monotonic() + self.timeout_s
            self._wait_channel(self.dma.sendchannel, "sending the model image", deadline)
            self._wait_status("loading the model", lambda st: st["done"] and not st["busy"])
        finally:
            _free(buf)
        err = self.read("ERROR")
        if err:
            self.net = None
            raise CoreError(f"eavs_core refused the model: error bits {regmap.decode_errors(err)} ({self.register_state()})", err)
        if not self.status()["model_valid"]:
            raise CoreError(f"eavs_core did not mark the model valid ({self.register_state()})", 0)
        got = {k: self.read(k) for k in ("MODEL_INPUTS", "MODEL_TIMESTEPS", "MODEL_LAYERS", "MODEL_OUTPUTS")}
        want = {"MODEL_INPUTS": net.n_inputs, "MODEL_TIMESTEPS": net.timesteps, "MODEL_LAYERS": len(net.layers), "MODEL_OUTPUTS": net.readout.n}
        if got != want:
            raise CoreError(f"eavs_core reports model {got} after loading one with {want}", 0)
        self.net = net

    def _check_transfer_size(self, nbytes: int, what: str) -> None:
        limit = int(getattr(self.dma, "buffer_max_size", 1 << 26))
        if nbytes > limit:
            raise HostError(
                f"{what} is {nbytes} bytes, more than the DMA's {limit}-byte transfer limit: "
                "rebuild the bitstream with a wider AXI DMA buffer length register (c_sg_length_width)"
            )

    # -- inference -----------------------------------------------------------------

    def run(self, spikes: np.ndarray) -> protocol.Results:
        """Stream uint8 spikes ``[B, T, N_in]``; return the decoded result records.

        Pipelined: one run start processes the whole batch. Event packets
        go out in as few DMA transfers as the transfer limit allows (each
        ending on a sample's T-th marker, where the core accepts TLAST), and
        each result record (it ends with TLAST, which ends an S2MM transfer)
        is received while later samples' events are already streaming in, so
        the DMA and the core overlap.
        """
        if self.net is None:
            raise HostError("no model loaded into eavs_core: call load_model first")
        net = self.net
        packets = protocol.event_packets(spikes)
        B = len(packets)
        n_out = net.readout.n
        rec_words = protocol.result_words(n_out)
        if B == 0:
            return protocol.decode_results(np.zeros(0, np.uint32), n_out)
        rec_stride = _round_up(rec_words * 4, ALIGN_BYTES)
        groups = self._send_groups([p.nbytes for p in packets])

        # One input buffer: each send group starts on an aligned offset.
        starts, at = [], 0
        for first, last in groups:
            starts.append(at)
            at = _round_up(at + sum(packets[i].nbytes for i in range(first, last)), ALIGN_BYTES)
        inbuf = self.allocate((max(at, ALIGN_BYTES) // 4,), np.uint32)
        outbuf = self.allocate((B * rec_stride // 4,), np.uint32)
        try:
            for (first, last), start in zip(groups, starts):
                words = np.concatenate(packets[first:last])
                inbuf[start // 4 : start // 4 + words.size] = words
            self.write("BATCH", B)
            self._start(regmap.MODE_RUN)
            send, recv = self.dma.sendchannel, self.dma.recvchannel
            next_group = 0
            sending = False
            recv.transfer(outbuf, start=0, nbytes=rec_words * 4)
            received = 0
            deadline = time.monotonic() + self.timeout_s
            while received < B:
                if sending and send.idle:
                    send.wait()
                    sending = False
                if not sending and next_group < len(groups):
                    first, last = groups[next_group]
                    nbytes = sum(packets[i].nbytes for i in range(first, last))
                    send.transfer(inbuf, start=starts[next_group], nbytes=nbytes)
                    sending, next_group = True, next_group + 1
                if recv.idle:
                    recv.wait()
                    got = int(getattr(recv, "transferred", rec_words * 4))
                    if got != rec_words * 4:
                        raise HostError(
                            f"sample {received}: result record of {got} bytes, expected {rec_words * 4} "
                            f"({self.register_state()})"
                        )
                    received += 1
                    deadline = time.monotonic() + self.timeout_s
                    if received < B:
                        recv.transfer(outbuf, start=received * rec_stride, nbytes=rec_words * 4)
                    continue
                if time.monotonic() > deadline:
                    raise self._timeout(f"sample {received} of {B} (its result record)", self.timeout_s)
                self._poll()
            if sending:
                self._wait_channel(send, "sending the last events", time.monotonic() + self.timeout_s)
            records = np.asarray(outbuf).reshape(B, rec_stride // 4)[:, :rec_words].copy()
        finally:
            _free(inbuf)
            _free(outbuf)
        results = protocol.decode_results(records.reshape(-1), n_out)
        sticky = self.read("ERROR")
        if sticky or results.errors.any():
            bad = np.nonzero(results.errors)[0]
            first = f"sample {int(bad[0])}: {regmap.decode_errors(int(results.errors[bad[0]]))}; " if bad.size else ""
            self.write("CTRL", _ctrl(clear_errors=True))
            raise CoreError(
                f"eavs_core flagged {bad.size} of {B} samples ({first}ERROR={regmap.decode_errors(sticky)})",
                int(sticky) | int(np.bitwise_or.reduce(results.errors)) if B else int(sticky),
                results,
            )
        return results

    def _send_groups(self, sizes: list[int]) -> list[tuple[int, int]]:
        """Consecutive samples packed into transfers of at most the DMA's limit."""
        limit = int(getattr(self.dma, "buffer_max_size", 1 << 26))
        groups, first, total = [], 0, 0
        for i, s in enumerate(sizes):
            if s > limit:
                self._check_transfer_size(s, f"sample {i}'s events")
            if total + s > limit:
                groups.append((first, i))
                first, total = i, 0
            total += s
        groups.append((first, len(sizes)))
        return groups


def results_fields(res: protocol.Results) -> dict[str, Any]:
    """:class:`hw.spec.protocol.Results` -> the fields of a :class:`host.results.BatchResult`."""
    return {
        "prediction": res.prediction.astype(np.int64),
        "readout": res.readout.astype(np.int64),
        "cycles": res.cycles.astype(np.int64),
        "counters": {k: np.asarray(getattr(res, k)).astype(np.int64) for k in COUNTER_FIELDS},
        "errors": res.errors.astype(np.int64),
    }


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _free(buf) -> None:
    free = getattr(buf, "freebuffer", None)
    if free is not None:
        free()
