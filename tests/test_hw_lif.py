"""hw.spec.lif.acc_bits and the core's capacity check (the lane is tested in test_hw_lif_pipe.py)."""

from __future__ import annotations

import pytest

from hw.spec.lif import acc_bits


def test_acc_bits_validates():
    with pytest.raises(ValueError, match="max_events"):
        acc_bits(16, 8, 0)


def test_acc_bits_holds_the_worst_case():
    for V, wb, ev in [(4, 2, 1), (16, 8, 3 * 1024), (16, 16, 65536 * 3)]:
        worst = (1 << (V - 1)) + ev * (1 << (wb - 1))
        assert worst <= (1 << (acc_bits(V, wb, ev) - 1)) - 1


def test_core_validates_capacity():
    from hw.rtl.core import EAVSCore

    with pytest.raises(TypeError, match="hw.spec.capacity.Capacity"):
        EAVSCore({"lanes": 8})
