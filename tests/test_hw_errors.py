"""Bad input in hardware: each cause sets its own sticky ERROR bit and flags the
sample; nothing else is corrupted and the next sample or model is accepted.

All scenarios run in one simulation, one after the other, so each also checks
that the core recovered from the one before it.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw.spec import protocol, regmap
from hw.flow.amaranth_sim import Job, ctrl_word, run_amaranth_jobs
from hw.spec.capacity import Capacity, sample_cycles
from sw import golden
from sw.events import END_OF_STEP
from sw.random_net import random_qnet, random_spikes

pytestmark = pytest.mark.xdist_group(name="hw_errors")  # one simulation shared by the module

CAP = Capacity(lanes=4, max_layers=3, max_neurons=10, max_sources=3, max_inputs=20, weight_depth=256, max_timesteps=4)


def _bit(name):
    return regmap.field("ERROR", name).mask


def _net(seed, **kw):
    rng = np.random.default_rng(seed)
    while True:
        net = random_qnet(rng, max_inputs=16, max_neurons=9, max_hidden=2, timesteps=3, **kw)
        if not CAP.problems(net) and len(net.inputs) <= CAP.max_sources:
            return net, rng


def _expect(net, spikes, r, k, errors):
    g = golden.run(net, spikes)
    assert int(r.errors[k]) == errors, (regmap.decode_errors(int(r.errors[k])), regmap.decode_errors(errors))
    assert r.readout[k].tolist() == g.readout[0].tolist()
    assert int(r.prediction[k]) == int(g.prediction[0])
    assert int(r.cycles[k]) == int(sample_cycles(net, g.layer_events[0], CAP.lanes))
    assert int(r.in_events[k]) == int(g.input_spikes[0])


@pytest.fixture(scope="module")
def scenario():
    net, rng = _net(1)
    sp = random_spikes(rng, net, 3, rate=0.3)
    sp[:, 0, 0] = 1  # step 0 always has an event
    T, n_in = net.timesteps, net.n_inputs
    good = protocol.event_packets(sp)

    # sample 0: an index out of range, reserved bits, a marker with extra bits
    bad0 = list(good[0])
    first_marker = bad0.index(END_OF_STEP)
    bad0[first_marker] = END_OF_STEP | 1
    bad0.insert(0, n_in)
    bad0.insert(1, 1 << 20)
    # extra words after the T-th marker, then TLAST
    extra = np.concatenate([good[2], np.array([0, n_in - 1], np.uint32)])
    # TLAST on the 2nd of T=3 markers
    markers = np.nonzero(good[1] == END_OF_STEP)[0]
    trunc = good[1][: markers[1] + 1]
    sp_trunc = sp[1:2].copy()
    sp_trunc[:, 2:] = 0

    big, _ = _net(2)
    big.layers[0].n = CAP.max_neurons + 3  # over capacity, packed unchecked
    big.layers[0].decay = np.resize(big.layers[0].decay, big.layers[0].n)
    for s in big.layers[0].sources:
        s.weight = np.zeros((s.weight.shape[0], big.layers[0].n), np.int16)
    for layer in big.layers[1:]:
        for s in layer.sources:
            if s.name == big.layers[0].name:
                s.weight = np.zeros((big.layers[0].n, layer.n), np.int16)
    if big.layers[0].bias is not None:
        big.layers[0].bias = np.zeros(big.layers[0].n, np.int32)
    over_image = protocol.pack_model(big, CAP, check=False)
    image = protocol.pack_model(net, CAP)
    bad_sum = image.copy()
    bad_sum[-1] ^= 1
    bad_magic = image.copy()
    bad_magic[0] = 0
    short = image[:-5]
    run = ctrl_word(start=1, mode=regmap.MODE_RUN)
    jobs = {
        "bad_words": Job(net, packets=[np.array(bad0, np.uint32), good[1]]),
        "extra": Job(net, packets=[extra]),
        "after_extra": Job(net, packets=[good[0]]),
        "truncated": Job(net, packets=[trunc, good[2]]),
        "over_capacity": Job(None, image=over_image, n_out=net.readout.n),
        "no_model": Job(None, image=bad_magic, n_out=net.readout.n, force_run=True),
        "bad_sum": Job(None, image=bad_sum, n_out=net.readout.n),
        "short": Job(None, image=short, n_out=net.readout.n),
        "recovered": Job(net, spikes=sp),
        "start_busy": Job(net, packets=good[:2], writes_during_run=[("CTRL", run)]),
        "abort": Job(net, packets=good, abort_after=1),
        "after_abort": Job(net, spikes=sp),
    }
    results = dict(zip(jobs, run_amaranth_jobs(CAP, list(jobs.values()), seed=5)))
    return dict(net=net, sp=sp, sp_trunc=sp_trunc, r=results)


def test_bad_event_words_dropped_and_flagged(scenario):
    net, sp, res = scenario["net"], scenario["sp"], scenario["r"]["bad_words"]
    _expect(net, sp[0:1], res.results, 0, _bit("event_index") | _bit("bad_word"))
    _expect(net, sp[1:2], res.results, 1, 0)  # the next sample is clean
    assert res.registers["ERROR"] == _bit("event_index") | _bit("bad_word")


def test_events_after_last_marker_are_drained(scenario):
    net, sp, r = scenario["net"], scenario["sp"], scenario["r"]
    _expect(net, sp[2:3], r["extra"].results, 0, _bit("extra_events"))
    _expect(net, sp[0:1], r["after_extra"].results, 0, 0)
    assert r["after_extra"].registers["ERROR"] == 0


def test_tlast_before_last_marker_truncates(scenario):
    net, sp, r = scenario["net"], scenario["sp"], scenario["r"]["truncated"]
    _expect(net, scenario["sp_trunc"], r.results, 0, _bit("truncated"))
    _expect(net, sp[2:3], r.results, 1, 0)


def test_bad_model_images_rejected(scenario):
    r = scenario["r"]
    assert not r["over_capacity"].model_valid
    assert r["over_capacity"].load_errors == _bit("over_capacity")
    for name in ("bad_sum", "short", "no_model"):
        assert not r[name].model_valid, name
        assert r[name].load_errors & _bit("bad_model"), name
    assert r["recovered"].model_valid
    net, sp = scenario["net"], scenario["sp"]
    for k in range(len(sp)):
        _expect(net, sp[k : k + 1], r["recovered"].results, k, 0)


def test_run_without_model_reports_no_model(scenario):
    r = scenario["r"]["no_model"]
    assert r.registers["ERROR"] & _bit("no_model")
    assert regmap.field("STATUS", "done").get(r.registers["STATUS"])
    assert len(r.results.prediction) == 0  # no records written


def test_start_while_busy_flagged_and_ignored(scenario):
    net, sp, r = scenario["net"], scenario["sp"], scenario["r"]["start_busy"]
    assert r.registers["ERROR"] & _bit("start_busy")
    flags = [int(e) for e in r.results.errors]
    assert any(f == _bit("start_busy") for f in flags) and all(f in (0, _bit("start_busy")) for f in flags)
    for k in range(2):
        _expect(net, sp[k : k + 1], r.results, k, flags[k])


def test_soft_reset_aborts_and_core_recovers(scenario):
    r = scenario["r"]
    assert not regmap.field("STATUS", "busy").get(r["abort"].registers["STATUS"])
    net, sp = scenario["net"], scenario["sp"]
    for k in range(len(sp)):
        _expect(net, sp[k : k + 1], r["after_abort"].results, k, 0)
