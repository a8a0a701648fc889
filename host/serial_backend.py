"""The ``serial`` back-end: ``eavs_core`` on an open board (ULX3S) over its USB-UART.

The board's gateware (:mod:`hw.flow.ecp5`) answers the frames of :mod:`hw.spec.link`.
This module gives :class:`host.driver.CoreDriver` -- the same driver the
PYNQ board and the RTL simulation run -- the three objects it expects:

* :class:`SerialMMIO`: ``read``/``write`` -> ``READ``/``WRITE`` frames;
* :class:`SerialDMA`: ``sendchannel.transfer`` -> ``WORDS``/``EVENTS``
  frames (compact u16 events whenever every word of a frame has a compact
  form; ``_LAST`` on a transfer's last frame, as AXI DMA's MM2S sets TLAST),
  ``recvchannel.transfer`` -> ``RECV`` polls until a word with TLAST;
  each ``idle`` poll moves one frame, so sends and receives interleave;
* ``allocate``: plain numpy arrays.

:class:`SerialLink` sends one request and reads exactly one reply, with a
deadline: a board that never answers raises :class:`LinkTimeout`, never
hangs. An ``ERROR`` frame for a request the board did not apply (CRC,
truncated, ...: :data:`hw.spec.link.RETRY_SAFE`) is retried; a ``STALL`` (some
words applied) or a lost reply to a request with effects is raised, naming
what may have been applied. A corrupted reply to ``READ`` or ``INFO`` is
retried (reading twice changes nothing).

The port is any pyserial URL: ``/dev/ttyUSB0``, ``COM3``, or
``socket://127.0.0.1:PORT`` (the simulated board of
tests/test_serial_board.py). numpy + pyserial only.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import numpy as np

from host.backend import Backend, HostError
from host.driver import CoreDriver, results_fields
from hw.spec import link

__all__ = ["LinkTimeout", "SerialLink", "SerialMMIO", "SerialDMA", "SerialBackend", "LinkInfo"]


class LinkTimeout(HostError):
    """The board did not answer a request within the deadline."""


class LinkFault(HostError):
    """The board answered with an error, or with a frame that makes no sense."""


@dataclass(frozen=True)
class LinkInfo:
    version: int
    max_payload: int
    fifo_depth: int


class SerialLink:
    """Request/reply over a pyserial port (stop-and-wait, :mod:`hw.spec.link` frames).

    Parameters
    ----------
    port : str
        pyserial URL or device.
    baud : int
        The board's ``baud`` (boards.toml); ignored by ``socket://``.
    timeout_s : float
        Deadline of one reply.
    retries : int
        How often a request the board rejected unapplied is sent again.
    quiet_s : float
        After an error, bytes are drained until the line is this quiet
        (longer than the board's inter-byte timeout, :data:`hw.spec.link.BYTE_TIMEOUT_S`).
    """

    def __init__(self, port: str, baud: int, *, timeout_s: float = 2.0, retries: int = 3, quiet_s: float = 0.1, serial_port=None):
        if serial_port is None:
            import serial

            try:
                serial_port = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
            except (serial.SerialException, ValueError) as e:
                raise HostError(f"cannot open serial port {port!r}: {e}") from None
        self.port = port
        self.ser = serial_port
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.quiet_s = float(quiet_s)
        self.bytes_out = 0
        self.bytes_in = 0
        self.requests = 0
        self.retried = 0
        #: frames sent, by request name (retries included)
        self.sent: dict[str, int] = {}

    def close(self) -> None:
        self.ser.close()

    # -- bytes -------------------------------------------------------------------

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.ser.read(n - len(out))
            if chunk:
                out += chunk
                continue
            if time.monotonic() > deadline:
                got = f"{len(out)} of {n} bytes" if out else "nothing"
                raise LinkTimeout(f"{self.port}: no complete reply to {what} within {self.timeout_s:g} s (got {got})")
        self.bytes_in += len(out)
        return bytes(out)

    def drain(self) -> int:
        """Discard bytes until the line has been quiet for ``quiet_s``; return how many."""
        dropped = 0
        last = time.monotonic()
        while time.monotonic() - last < self.quiet_s:
            chunk = self.ser.read(4096)
            if chunk:
                dropped += len(chunk)
                last = time.monotonic()
        self.bytes_in += dropped
        return dropped

    def _read_frame(self, what: str) -> link.Frame:
        deadline = time.monotonic() + self.timeout_s
        head = self._read_exact(link.HEADER_BYTES, deadline, what)
        if head[0] != link.SOF:
            raise link.LinkError(f"reply to {what} starts with 0x{head[0]:02x}, not SOF 0x{link.SOF:02x}")
        (n,) = struct.unpack_from("<H", head, 2)
        if n > link.MAX_PAYLOAD:
            raise link.LinkError(f"reply to {what} claims {n} payload bytes")
        rest = self._read_exact(n + link.CRC_BYTES, deadline, what)
        return link.decode_frame(head + rest)

    # -- requests ----------------------------------------------------------------

    def request(self, name: str, payload: bytes = b"", *, expect: str) -> link.Frame:
        """Send request ``name``; return its reply of type ``expect``."""
        raw = link.encode_frame(link.REQUESTS[name], payload)
        idempotent = name in ("READ", "INFO")
        what = f"{name} ({len(raw)} bytes)"
        for attempt in range(self.retries + 1):
            self.ser.write(raw)
            self.bytes_out += len(raw)
            self.requests += 1
            self.sent[name] = self.sent.get(name, 0) + 1
            try:
                reply = self._read_frame(what)
            except link.LinkError as e:
                self.drain()
                if idempotent and attempt < self.retries:
                    self.retried += 1
                    continue
                raise LinkFault(
                    f"{self.port}: corrupted reply to {what}: {e}"
                    + ("" if idempotent else "; the request may have been applied, so it is not sent again")
                ) from None
            if reply.type == link.REPLIES["ERROR"]:
                code, ftype, detail = struct.unpack("<BBH", reply.payload[:4].ljust(4, b"\0"))
                if code in link.RETRY_SAFE and attempt < self.retries:
                    self.drain()
                    self.retried += 1
                    continue
                if code == link.ERR["STALL"]:
                    raise LinkFault(f"{self.port}: {what}: board answered STALL: the core took {detail} words and then stopped taking them")
                raise LinkFault(f"{self.port}: {what}: board answered {link.error_name(code)} after {attempt + 1} tries")
            if reply.type != link.REPLIES[expect]:
                raise LinkFault(f"{self.port}: {what}: expected a {expect} reply, got type 0x{reply.type:02x}")
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def info(self) -> LinkInfo:
        r = self.request("INFO", expect="INFO")
        version, max_payload, depth = struct.unpack("<BHH", r.payload)
        if version != link.VERSION:
            raise LinkFault(f"{self.port}: board speaks link version {version}, this host {link.VERSION}: rebuild the bitstream or update the host")
        return LinkInfo(version, max_payload, depth)


class SerialMMIO:
    """``pynq.MMIO``'s ``read``/``write`` over the link."""

    def __init__(self, link_: SerialLink):
        self.link = link_

    def read(self, offset: int, length: int = 4) -> int:
        r = self.link.request("READ", struct.pack("<I", offset), expect="READ_DATA")
        value, resp = struct.unpack("<IB", r.payload)
        if resp:
            raise LinkFault(f"AXI4-Lite read of 0x{offset:x} answered resp {resp}")
        return value

    def write(self, offset: int, value: int) -> None:
        r = self.link.request("WRITE", struct.pack("<II", offset, int(value) & 0xFFFFFFFF), expect="WRITE_DONE")
        if r.payload[0]:
            raise LinkFault(f"AXI4-Lite write of 0x{int(value):x} to 0x{offset:x} answered resp {r.payload[0]}")


def _frames(words: np.ndarray, max_payload: int) -> list[tuple[str, bytes, int]]:
    """A transfer's words -> (request, payload, words) frames; the last is ``_LAST``."""
    out = []
    per_event, per_word = max_payload // 2, max_payload // 4
    at = 0
    while at < words.size:
        ev = link.compact_events(words[at : at + per_event])
        if ev is not None:
            chunk = (ev, min(per_event, words.size - at), "EVENTS")
        else:
            w = words[at : at + per_word]
            chunk = (w.astype("<u4").tobytes(), w.size, "WORDS")
        payload, n, kind = chunk
        at += n
        out.append((kind + ("_LAST" if at >= words.size else ""), payload, n))
    return out


class _SendChannel:
    def __init__(self, link_: SerialLink, max_payload: int):
        self.link, self.max_payload = link_, max_payload
        self.queue: list[tuple[str, bytes, int]] = []
        self.transferred = 0

    def transfer(self, buffer, start: int = 0, nbytes: int = 0) -> None:
        data = np.asarray(buffer).reshape(-1).view(np.uint8)
        nbytes = nbytes or data.size - start
        words = data[start : start + nbytes].view("<u4")
        self.queue = _frames(words, self.max_payload)
        self.transferred = 0

    @property
    def idle(self) -> bool:
        if self.queue:
            kind, payload, n = self.queue.pop(0)
            r = self.link.request(kind, payload, expect="ACK")
            (took,) = struct.unpack("<H", r.payload)
            if took != n:
                raise LinkFault(f"{self.link.port}: {kind}: the board took {took} of {n} words")
            self.transferred += 4 * n
        return not self.queue

    def wait(self) -> None:
        while not self.idle:
            pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.queue = []


class _RecvChannel:
    def __init__(self, link_: SerialLink):
        self.link = link_
        self.buffer = None
        self.words: list[int] = []
        self.want = 0
        self.done = True
        self.transferred = 0

    def transfer(self, buffer, start: int = 0, nbytes: int = 0) -> None:
        self.buffer, self.start_byte = buffer, start
        self.want = (nbytes or np.asarray(buffer).nbytes - start) // 4
        self.words, self.done, self.transferred = [], False, 0

    @property
    def idle(self) -> bool:
        if self.done:
            return True
        r = self.link.request("RECV", struct.pack("<H", min(self.want - len(self.words), link.MAX_RESULT_WORDS)), expect="RESULT")
        for k in range(0, len(r.payload), link.RESULT_ENTRY_BYTES):
            word, flags = struct.unpack_from("<IB", r.payload, k)
            self.words.append(word)
            if flags & 1 or len(self.words) == self.want:
                # a record ends at TLAST, or the transfer is full (as S2MM stops)
                extra = (len(r.payload) - k) // link.RESULT_ENTRY_BYTES - 1
                if extra:
                    raise LinkFault(f"{self.link.port}: RECV returned {extra} words past the end of a record")
                self.done = True
                break
        if self.done:
            view = np.asarray(self.buffer).reshape(-1).view(np.uint8)
            data = np.array(self.words, dtype="<u4").view(np.uint8)
            view[self.start_byte : self.start_byte + data.size] = data
            self.transferred = data.size
        return self.done

    def wait(self) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        """Drop a pending receive and every result word the bridge holds."""
        self.done, self.words = True, []
        self.link.request("FLUSH", expect="ACK")


class SerialDMA:
    """``pynq.lib.dma.DMA``'s two channels over the link."""

    buffer_max_size = 1 << 26

    def __init__(self, link_: SerialLink, max_payload: int):
        self.sendchannel = _SendChannel(link_, max_payload)
        self.recvchannel = _RecvChannel(link_)


def _allocate(shape, dtype) -> np.ndarray:
    return np.zeros(shape, dtype)


class SerialBackend(Backend):
    """Inference on an open board over its USB-UART (:mod:`hw.spec.link`).

    Parameters
    ----------
    port : str
        pyserial URL or device: ``/dev/ttyUSB0``, ``socket://127.0.0.1:PORT``.
    board : str
        Name in ``boards.toml``: gives the baud rate and the core clock.
    baud : int, optional
        Overrides the board's baud rate.
    timeout_s : float
        Deadline of every wait on the core (model load, each result record).
    link_timeout_s : float
        Deadline of each reply on the link.
    retries : int
        Resends of a request the board rejected unapplied.
    """

    kind = "serial"

    def __init__(
        self,
        port: str,
        *,
        board: str = "ulx3s-85f",
        baud: int | None = None,
        timeout_s: float = 10.0,
        link_timeout_s: float = 2.0,
        retries: int = 3,
        serial_port=None,
    ):
        from hw.spec.boards import get_board

        b = get_board(board)
        if b.baud is None and baud is None:
            raise HostError(f"board {board!r} has no serial link (no 'baud' in boards.toml); the serial back-end is for ECP5 boards")
        self.board = b
        self.link = SerialLink(port, baud or b.baud, timeout_s=link_timeout_s, retries=retries, serial_port=serial_port)
        try:
            # bytes a previous host's session left in the adapter (e.g. the error
            # frame for a frame it abandoned) are not replies to us
            self.link.ser.reset_input_buffer()
            self.link.drain()
            self.link_info = self.link.info()
            dma = SerialDMA(self.link, self.link_info.max_payload)
            self.driver = CoreDriver(SerialMMIO(self.link), dma, _allocate, timeout_s=timeout_s)
            # A previous host may have stopped mid-sample: abort it and drop its results.
            self.driver.recover()
        except BaseException:
            self.link.close()
            raise
        super().__init__(self.driver.capacity, b.clock_hz)

    def _load(self, net) -> None:
        self.driver.load_model(net)

    def _run_batch(self, spikes):
        return results_fields(self.driver.run(spikes))

    def link_stats(self) -> dict[str, int]:
        """Bytes and frames moved so far (for the link figures)."""
        return {"bytes_out": self.link.bytes_out, "bytes_in": self.link.bytes_in, "requests": self.link.requests, "retried": self.link.retried}

    def close(self) -> None:
        self.link.close()
