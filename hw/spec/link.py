"""The serial link between a host and an open board: every frame, defined once.

A board without a processor (the ULX3S, :mod:`hw.flow.ecp5`) carries the core's
AXI4-Lite registers and AXI4-Stream words over its USB-UART. The gateware
(:mod:`hw.rtl.link_bridge`) and the host ``serial`` back-end
(:mod:`host.serial_backend`) both import this module, so the two sides cannot
disagree about a byte. Pure Python (standard library + numpy): it runs on any
host, without amaranth.

Frame (both directions)
-----------------------
::

    SOF (0xA5) | type (1 byte) | length (2 bytes, little-endian) | payload | CRC (2 bytes, big-endian)

``length`` counts the payload bytes only and is at most
:data:`MAX_PAYLOAD` (2048). The CRC covers type, length and payload (not the
SOF byte). All multi-byte payload fields are little-endian.

Which CRC and why: CRC-16/CCITT-FALSE (polynomial 0x1021, initial value
0xFFFF, no reflection, no final XOR; ``binascii.crc_hqx(data, 0xFFFF)``; check
value 0x29B1 for ``b"123456789"``). The polynomial is (x + 1) times a
primitive degree-15 polynomial, so it detects every error of an odd number of
bits, every burst of up to 16 bits and every 1-, 2- and 3-bit error in
messages of up to 32751 bits, which is why :data:`MAX_PAYLOAD` stops at 2048
bytes (at most 2051 covered bytes, 16 408 bits). Without reflection or a final XOR,
running the same CRC over a frame's covered bytes *and* its two CRC bytes
(high byte first) gives 0, so the gateware checks a frame with one 16-bit
register and a compare with zero. A CRC-32 would cost twice the flip-flops
and two more bytes per frame for no gain at these frame lengths.

Host -> board (requests)
------------------------
============  ====  ==========================  =================================
request       type  payload                      answer
============  ====  ==========================  =================================
READ          0x01  address u32                 READ_DATA: data u32, resp u8
WRITE         0x02  address u32, data u32       WRITE_DONE: resp u8
WORDS         0x03  n x u32 stream words        ACK: n u16 (all taken by s_axis)
WORDS_LAST    0x04  as WORDS, TLAST on the last ACK
EVENTS        0x05  n x u16 compact events      ACK: n u16
EVENTS_LAST   0x06  as EVENTS, TLAST on the last ACK
RECV          0x07  max words u16               RESULT: k x (u32 word, u8 flags)
FLUSH         0x08  (none)                      ACK: words dropped u16
INFO          0x09  (none)                      INFO: version u8, max payload u16,
                                                result FIFO depth u16
============  ====  ==========================  =================================

Compact events (``EVENTS``): one u16 per AER word of :mod:`sw.events`:
``0xFFFF`` is the end-of-step marker (``1 << 31``), any other value an input
index. A stream whose index 65535 is used goes as ``WORDS`` instead
(:func:`compact_events` returns ``None``). This halves the link bytes of an
inference (the events are almost all of them).

``RECV`` answers at once with the ``k = min(max, words waiting, 409)`` result
words the bridge's FIFO holds (``k`` may be 0: nothing yet); each word's flag
byte has bit 0 = TLAST. The host polls ``RECV`` until a record's TLAST.

Board -> host errors
--------------------
Anything the bridge cannot apply is answered with an ``ERROR`` frame (type
0xEE, payload: code u8, the request's type u8 (0 if unknown), detail u16) and
changes no state (:data:`ERRORS`). Bytes outside a frame, and the rest of an
oversize frame, are swallowed until the line has been quiet for the
inter-byte timeout, then answered with one error. ``STALL`` is the one error
after which some words *were* applied: ``detail`` says how many stream words
the core took before it stopped taking them; the host never retries it.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from hw.spec.ecp5_pll import uart_period

__all__ = [
    "SOF",
    "VERSION",
    "MAX_PAYLOAD",
    "HEADER_BYTES",
    "CRC_BYTES",
    "RESULT_ENTRY_BYTES",
    "MAX_RESULT_WORDS",
    "EVENT_MARKER",
    "REQUESTS",
    "REPLIES",
    "ERRORS",
    "RETRY_SAFE",
    "LinkError",
    "Frame",
    "crc16",
    "encode_frame",
    "decode_frame",
    "FrameParser",
    "compact_events",
    "expand_events",
    "error_name",
    "BYTE_TIMEOUT_S",
    "STALL_TIMEOUT_S",
    "RESULT_FIFO_DEPTH",
    "link_timing",
]

#: Start-of-frame byte.
SOF = 0xA5
#: Link protocol version (``INFO``); the host refuses another major number.
VERSION = 1
#: Largest payload, in bytes (see the CRC note above).
MAX_PAYLOAD = 2048
#: SOF, type, length.
HEADER_BYTES = 4
CRC_BYTES = 2
#: Bytes of one ``RESULT`` entry (u32 word + u8 flags).
RESULT_ENTRY_BYTES = 5
#: Most result words one ``RESULT`` frame carries.
MAX_RESULT_WORDS = MAX_PAYLOAD // RESULT_ENTRY_BYTES
#: Compact event value of the end-of-step marker.
EVENT_MARKER = 0xFFFF
_END_OF_STEP = 1 << 31
#: Inter-byte timeout of a frame, and how long a stream push waits for the core (seconds).
BYTE_TIMEOUT_S = 0.02
STALL_TIMEOUT_S = 0.5
#: Result words the board's bridge holds (two 18 kbit EBRs of 33-bit entries).
RESULT_FIFO_DEPTH = 512

#: Request types, host -> board.
REQUESTS = {
    "READ": 0x01,
    "WRITE": 0x02,
    "WORDS": 0x03,
    "WORDS_LAST": 0x04,
    "EVENTS": 0x05,
    "EVENTS_LAST": 0x06,
    "RECV": 0x07,
    "FLUSH": 0x08,
    "INFO": 0x09,
}
#: Reply types, board -> host.
REPLIES = {
    "READ_DATA": 0x81,
    "WRITE_DONE": 0x82,
    "ACK": 0x83,
    "RESULT": 0x87,
    "INFO": 0x89,
    "ERROR": 0xEE,
}
#: Error codes of an ``ERROR`` frame, with what each means.
ERRORS = {
    1: ("CRC", "the frame's CRC did not match; nothing applied"),
    2: ("TRUNCATED", "the line went quiet inside a frame (inter-byte timeout); nothing applied"),
    3: ("OVERSIZE", f"the length field exceeds {MAX_PAYLOAD} bytes; frame swallowed, nothing applied"),
    4: ("SYNC", "bytes outside a frame (no SOF); swallowed, nothing applied"),
    5: ("TYPE", "unknown request type; nothing applied"),
    6: ("LENGTH", "length not valid for the request type; nothing applied"),
    7: ("STALL", "the core stopped taking stream words; detail = words it took before"),
}
#: Errors after which the request can be sent again unchanged (nothing was applied).
RETRY_SAFE = frozenset({1, 2, 3, 4, 5, 6})
ERR = {name: code for code, (name, _) in ERRORS.items()}


class LinkError(RuntimeError):
    """A frame that breaks this format, or an error the board answered."""


def error_name(code: int) -> str:
    """``"CRC (the frame's CRC did not match; ...)"`` for a code."""
    name, what = ERRORS.get(code, (f"code {code}", "unknown error code"))
    return f"{name} ({what})"


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its type byte and payload."""

    type: int
    payload: bytes = b""


def encode_frame(ftype: int, payload: bytes = b"") -> bytes:
    """The bytes of one frame (SOF, type, length, payload, CRC)."""
    payload = bytes(payload)
    if not 0 <= ftype <= 0xFF:
        raise LinkError(f"frame type must be a byte, not {ftype!r}")
    if len(payload) > MAX_PAYLOAD:
        raise LinkError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}")
    body = struct.pack("<BH", ftype, len(payload)) + payload
    return bytes([SOF]) + body + struct.pack(">H", crc16(body))


def decode_frame(data: bytes) -> Frame:
    """One whole frame's bytes -> :class:`Frame` (raises :class:`LinkError` on any fault)."""
    f = FrameParser()
    frames = f.feed(data)
    if len(frames) != 1 or f.pending:
        raise LinkError(f"expected exactly one frame in {len(data)} bytes, got {len(frames)} (+{f.pending} bytes pending)")
    return frames[0]


class FrameParser:
    """Incremental frame decoder for the host side (bytes in, frames out).

    A byte other than SOF between frames, a length over
    :data:`MAX_PAYLOAD` or a CRC mismatch raises :class:`LinkError`
    naming it; the parser is then reset.
    """

    def __init__(self):
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out = []
        while self._buf:
            if self._buf[0] != SOF:
                bad = self._buf[0]
                self.reset()
                raise LinkError(f"byte 0x{bad:02x} where a frame should start (SOF 0x{SOF:02x})")
            if len(self._buf) < HEADER_BYTES:
                break
            ftype, n = struct.unpack_from("<BH", self._buf, 1)
            if n > MAX_PAYLOAD:
                self.reset()
                raise LinkError(f"frame type 0x{ftype:02x} claims {n} payload bytes (> {MAX_PAYLOAD})")
            total = HEADER_BYTES + n + CRC_BYTES
            if len(self._buf) < total:
                break
            body = bytes(self._buf[1 : HEADER_BYTES + n])
            (crc,) = struct.unpack_from(">H", self._buf, HEADER_BYTES + n)
            del self._buf[:total]
            if crc16(body) != crc:
                self.reset()
                raise LinkError(f"frame type 0x{ftype:02x} of {n} bytes: CRC 0x{crc:04x}, computed 0x{crc16(body):04x}")
            out.append(Frame(ftype, body[3:]))
        return out


def compact_events(words: np.ndarray) -> bytes | None:
    """AER words (:mod:`sw.events`) -> ``EVENTS`` payload bytes, or ``None`` when a
    word has no compact form (index 65535, or bits other than the format's)."""
    w = np.asarray(words, dtype=np.uint32).reshape(-1)
    marker = w == _END_OF_STEP
    if np.any(~marker & (w >= EVENT_MARKER)):
        return None
    return np.where(marker, EVENT_MARKER, w).astype("<u2").tobytes()


def expand_events(payload: bytes) -> np.ndarray:
    """``EVENTS`` payload -> the AER words the bridge streams into the core."""
    if len(payload) % 2:
        raise LinkError(f"compact events payload of odd length {len(payload)}")
    h = np.frombuffer(payload, dtype="<u2").astype(np.uint32)
    return np.where(h == EVENT_MARKER, np.uint32(_END_OF_STEP), h).astype(np.uint32)


def link_timing(clock_hz: float, baud: int) -> dict:
    """The bridge's cycle counts for a clock and baud rate: the UART's
    ``bit_period`` (cycles per bit, a Fraction: :func:`hw.spec.ecp5_pll.uart_period`),
    ``timeout_cycles`` and ``stall_cycles``."""
    return {
        "bit_period": uart_period(clock_hz, baud),
        "timeout_cycles": max(16, round(BYTE_TIMEOUT_S * clock_hz)),
        "stall_cycles": max(16, round(STALL_TIMEOUT_S * clock_hz)),
    }
