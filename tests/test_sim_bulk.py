"""The bulk Verilator path (C++ harness, ``sim.verilator_raw``) agrees with sw.golden.

One small build (P = 8, ``sim.scenarios.test_capacity``) shared by every test:

* random models back to back, in several batches, every record and the
  registers after each batch equal to the golden model and the cycle model;
* the comparison is live: against a golden model of a slightly different
  network it reports mismatches (a harness that returned nothing, or a
  comparison that compared nothing, would pass the first test alone);
* a script that waits for results that never come fails with a clear
  error instead of hanging;
* a small soak (``bench.soak``) over the same build.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.build import SimError, tool_problem
from sim.scenarios import random_models, test_capacity
from sw.random_net import random_spikes

pytestmark = [pytest.mark.slow, pytest.mark.verilator, pytest.mark.xdist_group("sim_bulk")]

CAP = test_capacity(8)


@pytest.fixture(scope="module")
def bulk_dir(tmp_path_factory):
    if tool_problem("verilator"):
        pytest.skip(tool_problem("verilator"))
    from sim.verilator_raw import raw_build

    d = tmp_path_factory.mktemp("bulk")
    return d, raw_build(CAP, d / "cap0")  # where bench.soak puts its first capacity


def test_random_models_in_batches_are_bit_exact(bulk_dir):
    from sim.verilator_raw import Job, verify

    _, exe = bulk_dir
    rng = np.random.default_rng(7)
    jobs = [Job(net, random_spikes(rng, net, 23), f"model {k}") for k, net in enumerate(random_models(3, CAP, 4))]
    results, out = verify(exe, CAP, jobs, batch=10)  # 23 samples: batches of 10, 10, 3
    for r in results:
        assert r.ok, (r.label, r.agreement.mismatches[:5], r.mismatches[:5])
        assert r.agreement.samples == r.agreement.exact == 23
        assert len(r.results.prediction) == 23
    # The cycles the harness counted include the cycle model's compute cycles of every sample.
    assert out.cycles > sum(int(r.results.cycles.sum()) for r in results) > 0


def test_a_different_network_is_caught(bulk_dir, monkeypatch):
    """Compare the core's results with the golden model of a network that differs in one weight."""
    import sim.verilator_raw as vr
    from sim.compare import expected as real_expected

    _, exe = bulk_dir
    net = random_models(5, CAP, 1)[0]
    x = random_spikes(np.random.default_rng(1), net, 12, rate=0.5)
    other = copy.deepcopy(net)
    out = other.layers[-1]
    # One more unit of bias: every readout membrane moves, whether or not
    # the layers before it spiked on these samples (a weight change would not
    # show when its source stays silent).
    out.bias = (np.zeros(out.n, np.int64) if out.bias is None else out.bias) + 1
    monkeypatch.setattr(vr, "expected", lambda n, s, c: real_expected(other, s, c))
    results, _ = vr.verify(exe, CAP, [vr.Job(net, x)])
    assert not results[0].ok
    assert any("readout" in m for m in results[0].agreement.mismatches)


def test_results_that_never_come_fail_clearly(bulk_dir):
    from sim.verilator_raw import Script, execute

    _, exe = bulk_dir
    s = Script().reset()
    s.wait_results(5, 200)  # no model, no run: nothing will arrive
    with pytest.raises(SimError, match="result words did not arrive"):
        execute(exe, s)


def test_small_soak(bulk_dir):
    from bench.soak import soak

    d, _ = bulk_dir
    r = soak(300, 1, 11, d, models_per_capacity=5, fixed=[CAP], log=lambda s: None)
    assert r["samples"] == r["exact"] == 300, r["mismatches"][:5]
    assert not r["mismatches"]


def test_general_decays_and_spike_count_readout_are_bit_exact(bulk_dir):
    """Issue 14 on the RTL: per-neuron 12-bit decays (edges 0, 1, 4095, 4096
    and non-shift values) through the lanes' multipliers, and the
    spike-count readout from the core's per-output counters, equal golden."""
    from sim.verilator_raw import Job, verify
    from sw.random_net import random_qnet

    _, exe = bulk_dir
    rng = np.random.default_rng(14)
    jobs = []
    for k in range(6):
        net = random_qnet(rng, max_inputs=24, max_neurons=12, max_sources=CAP.max_sources, weight_bits=int(rng.choice([4, 8])),
                          v_bits=int(rng.choice([8, 12, 16])), timesteps=6, general_decay=True,
                          readout="spikes" if k % 2 else "membrane")  # fmt: skip
        if CAP.problems(net):
            continue
        jobs.append(Job(net, random_spikes(rng, net, 16, rate=0.4), f"model {k} ({net.layers[-1].readout})"))
    assert sum(j.net.layers[-1].readout == "spikes" for j in jobs) >= 2
    assert any(not np.isin(l.decay, [0] + [4096 >> k for k in range(1, 13)]).all() for j in jobs for l in j.net.layers)
    results, _ = verify(exe, CAP, jobs, batch=8)
    for r in results:
        assert r.ok, (r.label, r.agreement.mismatches[:5], r.mismatches[:5])
        assert r.agreement.samples == r.agreement.exact == 16
