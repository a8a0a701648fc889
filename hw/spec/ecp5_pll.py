"""ECP5 EHXPLLL dividers and the UART bit period, in pure Python.

:mod:`hw.spec.boards` checks a board's ``clock_mhz`` and ``baud`` with these
functions when it reads ``boards.toml`` (so a bad entry fails before any
tool runs), and :mod:`hw.flow.ecp5` instantiates the PLL they describe.

EHXPLLL with CLKOP fed back (``FEEDBK_PATH = "CLKOP"``), from Lattice
TN1263 (ECP5 sysCLOCK PLL design and usage guide):

* ``f_out = f_in * CLKFB_DIV / CLKI_DIV``
* the phase detector runs at ``f_pfd = f_in / CLKI_DIV``, 3.125 .. 400 MHz;
* the VCO runs at ``f_vco = f_out * CLKOP_DIV``, 400 .. 800 MHz;
* ``CLKI_DIV``, ``CLKOP_DIV`` 1 .. 128, ``CLKFB_DIV`` 1 .. 80.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["PllError", "PllConfig", "ecp5_pll", "uart_period", "uart_edge_error", "uart_timing"]

PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)


class PllError(ValueError):
    """A clock the PLL cannot make, or a baud rate the clock cannot time."""


@dataclass(frozen=True)
class PllConfig:
    """Dividers of one EHXPLLL (see the module docstring)."""

    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_in_mhz: float
    f_out_mhz: float

    @property
    def f_vco_mhz(self) -> float:
        return self.f_out_mhz * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        """Coarse phase for a 0-degree output (one VCO period less than the divider)."""
        return self.clkop_div - 1


def ecp5_pll(f_in_mhz: float, f_out_mhz: float) -> PllConfig:
    """The dividers that make exactly ``f_out_mhz`` (to 1 kHz) from ``f_in_mhz``.

    Raises :class:`PllError` naming the nearest frequencies the PLL can make
    when the asked one is not among them.
    """
    if not (f_in_mhz > 0 and f_out_mhz > 0):
        raise PllError(f"PLL frequencies must be positive, not {f_in_mhz!r} -> {f_out_mhz!r} MHz")
    fin = Fraction(f_in_mhz).limit_denominator(10**6)
    want = Fraction(f_out_mhz).limit_denominator(10**6)
    reachable = []
    for clki in range(1, 129):
        pfd = fin / clki
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for fb in range(1, 81):
            fout = pfd * fb
            ops = [op for op in range(1, 129) if VCO_MHZ[0] <= fout * op <= VCO_MHZ[1]]
            if not ops:
                continue
            op = ops[len(ops) // 2]  # a VCO near the middle of its range
            if abs(fout - want) <= Fraction(1, 1000):
                return PllConfig(clki, fb, op, float(fin), float(fout))
            reachable.append(fout)
    below = max((f for f in reachable if f < want), default=None)
    above = min((f for f in reachable if f > want), default=None)
    near = " or ".join(f"{float(f):.4f}" for f in (below, above) if f is not None)
    raise PllError(f"the ECP5 PLL cannot make {f_out_mhz:g} MHz from {f_in_mhz:g} MHz; nearest: {near} MHz")


def uart_period(clock_hz: float, baud: int) -> Fraction:
    """Clock cycles per UART bit for ``baud`` at ``clock_hz``: an exact ratio,
    at least 4 cycles.

    The UART (:mod:`hw.rtl.uart`) times each bit edge to the first clock
    cycle at or after its ideal time, so a period that is not a whole number
    of cycles (65 MHz / 3 Mbaud = 65/3 cycles) still gives the baud rate
    exactly on average; each edge is late by less than one cycle and the
    error does not add up over a byte (:func:`uart_edge_error`). A rounded
    whole divisor would instead be off by up to half a cycle on *every* bit
    (1.5 % of 3 Mbaud at 65 MHz: 15 % of a bit by the stop bit).

    The clock is taken to the nearest millihertz and the ratio's denominator
    kept below 4096 (the UART's phase accumulator): exact for every clock the
    PLL makes from a whole-kHz oscillator at a whole baud rate with a small
    enough ratio, and otherwise the nearest such ratio, whose rate is off by
    less than 1 / (4 x 4095) = 0.006 % (a period of at least 4 cycles).
    Raises :class:`PllError` for a baud rate the clock cannot time.
    """
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise PllError(f"baud must be a positive integer, not {baud!r}")
    period = Fraction(round(clock_hz * 1000), baud * 1000).limit_denominator(4095)
    if period < 4:
        raise PllError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock (needs at least 4 cycles per bit)")
    return period


def uart_timing(period) -> str:
    """The UART's bit timing in words, for build logs and reports."""
    period = Fraction(period)
    if period.denominator == 1:
        return f"{period} cycles per bit (exact)"
    return (f"{period} = {float(period):.2f} cycles per bit (exact on average; each edge at most "
            f"{100 * uart_edge_error(period):.1f} % of a bit late)")


def uart_edge_error(period: Fraction) -> float:
    """The largest delay of a bit edge behind its ideal time, as a fraction of a
    bit: under one clock cycle, ``(den - 1) / num`` for ``period = num / den``
    (0 for a whole number of cycles). 65/3 cycles (65 MHz, 3 Mbaud): 2/65 = 3.1 %."""
    period = Fraction(period)
    return (period.denominator - 1) / period.numerator
