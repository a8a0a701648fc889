"""The golden back-end: ``sw.golden`` behind the driver's interface.

It runs anywhere numpy does (the board's ARM cores included) and gives the
answer every other back-end must reproduce exactly: what the core reports
for the golden run, per :func:`hw.spec.expected.expected_results` (the one
definition: prediction, readout, exit step, the core's counters including
the wave schedule's overrun past an early exit, and the cycles of the cycle
model at the capacity's lane count). It never reports error bits: the
driver refuses malformed input before it reaches any back-end, so a core
that flags a valid sample is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from host.backend import Backend
from host.driver import results_fields
from hw.spec.expected import expected_results
from sw import golden

__all__ = ["GoldenBackend"]


class GoldenBackend(Backend):
    """Exact numpy model of the core (docs/design.md section 3 + the cycle model)."""

    kind = "golden"

    def _run_batch(self, spikes: np.ndarray) -> dict[str, Any]:
        res = golden.run(self.net, spikes)
        out = results_fields(expected_results(self.net, res, spikes, self.capacity.lanes))
        out["extra"] = {"spikes": res.spikes, "layer_events": res.layer_events}
        return out
