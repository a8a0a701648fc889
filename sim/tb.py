"""The cocotb testbench: clock, reset and the AXI bus models of a design.

:class:`TB` binds cocotbext-axi's models to a design whose ports follow
Amaranth's naming (``s_axil__awaddr``, ``s_axis__tdata``, ``m_axis__tready``):
``AxiLiteMaster`` for the registers, ``AxiStreamSource`` for the input
stream and ``AxiStreamSink`` for the results, each bound with
``bus_separator="__"`` rather than renaming ports by hand. Pause generators
inject random idle cycles on the source and random backpressure on the sink,
seeded so that a failure reproduces.

Register offsets are never typed here: callers pass a name -> offset mapping
that comes from the one register-map module (``hw.spec.regmap`` for the core).

Every wait is bounded in clock cycles, so a design that never answers fails
its cocotb test with a message instead of hanging the simulator.

This module imports cocotb and runs only inside a simulation.
"""

from __future__ import annotations

import random
from typing import Iterator, Mapping, Sequence

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

__all__ = ["TB", "pause_generator", "words_to_bytes", "bytes_to_words"]

#: Clock period of the testbench (its value only scales simulated time).
CLOCK_NS = 10


def pause_generator(rng: random.Random, probability: float) -> Iterator[bool]:
    """Endless booleans, each True (pause this cycle) with ``probability``."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"pause probability must be in [0, 1], not {probability!r}")
    while True:
        yield rng.random() < probability


def words_to_bytes(words: Sequence[int]) -> bytes:
    """32-bit words to the little-endian byte string an AXI-Stream frame carries."""
    out = bytearray()
    for w in words:
        w = int(w)
        if not 0 <= w < 1 << 32:
            raise ValueError(f"stream word {w!r} does not fit 32 bits")
        out += w.to_bytes(4, "little")
    return bytes(out)


def bytes_to_words(data: bytes) -> list[int]:
    """The inverse of :func:`words_to_bytes`; the length must be a multiple of 4."""
    if len(data) % 4:
        raise ValueError(f"stream frame of {len(data)} bytes is not a whole number of 32-bit words")
    return [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]


class TB:
    """Clock, reset, AXI-Lite master and AXI-Stream source/sink of one design.

    Parameters
    ----------
    dut : cocotb handle
        The top level; needs ``clk``, ``rst`` and the ``s_axil__*``,
        ``s_axis__*``, ``m_axis__*`` ports.
    regs : mapping of str -> int
        Register byte offsets by name (from the design's register map).
    seed : int
        Seed of the pause generators.
    source_pause, sink_pause : float
        Probability of an idle cycle on the input stream and of backpressure
        on the output stream, per cycle.
    """

    def __init__(
        self,
        dut,
        regs: Mapping[str, int] | None = None,
        *,
        seed: int = 0,
        source_pause: float = 0.2,
        sink_pause: float = 0.2,
    ) -> None:
        self.dut = dut
        self.regs = dict(regs or {})
        self.rng = random.Random(seed)
        self.clock = Clock(dut.clk, CLOCK_NS, unit="ns")
        self.clock.start()
        dut.rst.value = 1
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis", bus_separator="__"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis", bus_separator="__"), dut.clk, dut.rst)
        for model in (self.axil.write_if, self.axil.read_if):
            model.log.setLevel("WARNING")
        self.source.log.setLevel("WARNING")
        self.sink.log.setLevel("WARNING")
        self.set_pauses(source_pause, sink_pause)

    @property
    def cycle(self) -> int:
        """Clock cycles since the simulation started (from simulated time:
        no per-cycle Python callback, which would halve the simulation speed)."""
        return int(get_sim_time("ns")) // CLOCK_NS

    def set_pauses(self, source: float, sink: float) -> None:
        """Random idles on the input (``source``) and backpressure on the output (``sink``)."""
        self.source.set_pause_generator(pause_generator(self.rng, source) if source else None)
        self.sink.set_pause_generator(pause_generator(self.rng, sink) if sink else None)

    async def reset(self, cycles: int = 4) -> None:
        """Hold ``rst`` high for ``cycles`` clock cycles (synchronous reset)."""
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def offset(self, reg: str | int) -> int:
        """Byte offset of register ``reg`` (a name of the map, or an offset)."""
        if isinstance(reg, int):
            return reg
        try:
            return self.regs[reg]
        except KeyError:
            raise KeyError(f"no register named {reg!r}; the map has {sorted(self.regs)}") from None

    async def read(self, reg: str | int, timeout_cycles: int = 1000) -> int:
        """Read one 32-bit register."""
        return await with_timeout(
            self.axil.read_dword(self.offset(reg)), timeout_cycles * CLOCK_NS, "ns"
        )

    async def write(self, reg: str | int, value: int, timeout_cycles: int = 1000) -> None:
        """Write one 32-bit register."""
        await with_timeout(
            self.axil.write_dword(self.offset(reg), int(value) & 0xFFFFFFFF), timeout_cycles * CLOCK_NS, "ns"
        )

    async def send(self, words: Sequence[int], timeout_cycles: int | None = None) -> None:
        """Send ``words`` as one AXI-Stream frame (``tlast`` on the last) and
        wait until the design has taken every word."""
        if not len(words):
            return
        await self.source.send(AxiStreamFrame(words_to_bytes(words)))
        limit = timeout_cycles if timeout_cycles is not None else 200 + 20 * len(words)
        await with_timeout(self.source.wait(), limit * CLOCK_NS, "ns")

    def send_nowait(self, words: Sequence[int]) -> None:
        """Queue ``words`` as one frame without waiting (they go out in the background)."""
        if len(words):
            self.source.send_nowait(AxiStreamFrame(words_to_bytes(words)))

    async def recv(self, timeout_cycles: int) -> list[int]:
        """Receive one output frame (up to ``tlast``) as 32-bit words."""
        frame = await with_timeout(self.sink.recv(), timeout_cycles * CLOCK_NS, "ns")
        return bytes_to_words(bytes(frame.tdata))

    async def wait_for(self, reg: str | int, mask: int, value: int, timeout_cycles: int = 100_000, poll: int = 8) -> int:
        """Poll ``reg`` until ``reg & mask == value``; return the last value read."""
        start = self.cycle
        while True:
            v = await self.read(reg)
            if v & mask == value:
                return v
            if self.cycle - start > timeout_cycles:
                raise TimeoutError(
                    f"register {reg!r} = 0x{v:08x}: (value & 0x{mask:x}) never became 0x{value:x} "
                    f"within {timeout_cycles} cycles"
                )
            await ClockCycles(self.dut.clk, poll)
