"""Widths of the LIF datapath shared by the core and its lanes.

The lane itself is :class:`hw.rtl.lif_pipe.LIFPipeLane` (pipelined, with the
per-neuron decay multiplier); the combinational shift-leak lane that lived
here was the core's critical path and is gone.
"""

from __future__ import annotations

__all__ = ["acc_bits"]


def acc_bits(v_bits: int, weight_bits: int, max_events: int) -> int:
    """Accumulator width that never wraps: |bias| < 2**(v_bits-1) plus up to
    ``max_events`` weights of magnitude <= 2**(weight_bits-1), one sign bit and
    one bit of margin."""
    if max_events < 1:
        raise ValueError(f"max_events must be positive, not {max_events!r}")
    return max(v_bits, weight_bits + max(1, (max_events).bit_length())) + 2
