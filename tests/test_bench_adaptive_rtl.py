"""bench.adaptive's RTL check and the cascade's integrating audio head (issue 20), fast parts.

The Verilated run itself is the bench's (``python -m bench.adaptive``); here
its per-clip comparator is held against result records made by hand from an
expected one, each field broken on its own, and its refusal to count
anything without Verilator is checked.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from bench import adaptive
from hw.spec.expected import expected_results
from sw import golden
from sw.model import ModelConfig, ModelConfigError
from sw.random_net import random_qnet, random_spikes


def _core_like(res, **broken):
    """A driver BatchResult's fields (errors, prediction, readout, cycles, counters) from result records."""
    f = {k: np.array(getattr(res, k), np.int64) for k in adaptive.RTL_FIELDS}
    for k, (clip, delta) in broken.items():
        f[k].reshape(len(f["prediction"]), -1)[clip, 0] += delta
    counters = {k: f[k] for k in ("in_events", "spikes", "synaptic_ops", "exit_step")}
    return SimpleNamespace(errors=f["errors"], prediction=f["prediction"], readout=f["readout"], cycles=f["cycles"],
                           counters=counters)


@pytest.mark.parametrize("field", adaptive.RTL_FIELDS)
def test_stage_exact_flags_the_one_clip_whose_field_differs(field):
    rng = np.random.default_rng(20)
    net = random_qnet(rng, early_exit=True, timesteps=6)
    x = random_spikes(rng, net, batch=4)
    want = expected_results(net, golden.run(net, x), x, 8)
    assert adaptive._stage_exact(net, x, _core_like(want), 8).tolist() == [True] * 4
    assert adaptive._stage_exact(net, x, _core_like(want, **{field: (2, 1)}), 8).tolist() == [True, True, False, True]


def test_rtl_exact_says_not_run_without_verilator(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    n_ok, n_all, why = adaptive.rtl_exact(None, np.zeros((3, 2, 1)), None, None)
    assert (n_ok, n_all) == (0, 0) and why.startswith("NOT RUN: verilator is not on PATH")


def test_audio_head_leak_shift():
    base = dict(inputs={"audio": 4, "visual": 4}, audio_head=True)
    assert ModelConfig(**base).head_specs()[0].leak_shift == 0  # None: the readout's shift, as before
    assert ModelConfig(**base, audio_head_leak_shift=3).head_specs()[0].leak_shift == 3
    assert ModelConfig(**base, audio_head_leak_shift=3).layer_specs()[-1].leak_shift == 0  # the fused readout keeps its own
    with pytest.raises(ModelConfigError, match=r"audio_head_leak_shift must be an integer in 0\.\.12 .* not 13"):
        ModelConfig(**base, audio_head_leak_shift=13)
