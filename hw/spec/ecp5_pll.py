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

__all__ = ["PllError", "PllConfig", "ecp5_pll", "uart_divisor", "BAUD_TOLERANCE"]

PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
#: Largest relative error between the bit period's baud rate and the asked one.
BAUD_TOLERANCE = 0.02


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


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per UART bit for ``baud`` at ``clock_hz`` (at least 4, within
    :data:`BAUD_TOLERANCE`); raises :class:`PllError` otherwise."""
    if not isinstance(baud, int) or baud <= 0:
        raise PllError(f"baud must be a positive integer, not {baud!r}")
    div = round(clock_hz / baud)
    if div < 4:
        raise PllError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock (needs at least 4 cycles per bit)")
    err = abs(clock_hz / div - baud) / baud
    if err > BAUD_TOLERANCE:
        raise PllError(
            f"baud {baud} at {clock_hz / 1e6:g} MHz: the nearest bit period ({div} cycles) gives "
            f"{clock_hz / div:.0f} baud, {100 * err:.1f} % off (limit {100 * BAUD_TOLERANCE:g} %)"
        )
    return div
