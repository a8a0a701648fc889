"""The golden back-end: ``sw.golden`` behind the driver's interface.

It runs anywhere numpy does (the board's ARM cores included) and gives the
answer every other back-end must reproduce exactly: prediction, readout
membranes, the cycle count of the cycle model (``hw.spec.capacity.sample_cycles``
at the capacity's lane count) and the core's counters as the golden model
counts them. It never reports error bits: the driver refuses malformed input
before it reaches any back-end, so a core that flags a valid sample is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from host.backend import Backend
from hw.spec.capacity import sample_cycles
from hw.spec.protocol import readout_words
from sw import golden
from sw.qnet import QNet

__all__ = ["GoldenBackend", "golden_counters"]


def golden_counters(net: QNet, res: golden.GoldenResult) -> dict[str, np.ndarray]:
    """The core's per-sample counters, computed from a golden run.

    The names and meanings follow the result record of ``hw.spec.protocol``
    (see :data:`host.driver.COUNTER_FIELDS`): every counter the core
    reports has its golden value here, so the comparison covers them all.
    """
    from host.driver import COUNTER_FIELDS, golden_counter_values

    values = golden_counter_values(net, res)
    missing = [k for k in COUNTER_FIELDS if k not in values]
    if missing:  # pragma: no cover - a protocol change not mirrored here
        raise KeyError(f"golden back-end cannot compute counters {missing}")
    return {k: np.asarray(values[k], np.int64) for k in COUNTER_FIELDS}


class GoldenBackend(Backend):
    """Exact numpy model of the core (DESIGN.md section 3 + the cycle model)."""

    kind = "golden"

    def _run_batch(self, spikes: np.ndarray) -> dict[str, Any]:
        net = self.net
        res = golden.run(net, spikes)
        return {
            "prediction": res.prediction.astype(np.int64),
            "readout": readout_words(net, res),
            "cycles": np.asarray(sample_cycles(net, res.layer_events, self.capacity.lanes), np.int64),
            "counters": golden_counters(net, res),
            "errors": np.zeros(spikes.shape[0], np.int64),
            "extra": {"spikes": res.spikes, "layer_events": res.layer_events},
        }
