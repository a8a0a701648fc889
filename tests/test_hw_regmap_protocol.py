"""hw.spec.regmap and hw.spec.protocol: the register map and the stream formats, checked
against their documented layout by an independent reader of the model image."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity, CapacityError
from sw.random_net import random_qnet


def test_registers_unique_aligned_and_documented():
    offsets = [r.offset for r in regmap.REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and o < regmap.READOUT.offset for o in offsets)
    assert len({r.name for r in regmap.REGISTERS}) == len(regmap.REGISTERS)
    for r in regmap.REGISTERS:
        assert r.doc and r.access in ("ro", "rw")
        used = 0
        for f in r.fields:
            assert f.doc and not used & f.mask and f.lsb + f.width <= 32
            used |= f.mask


def test_capacity_registers_mirror_capacity_fields():
    cap = Capacity(lanes=16, max_neurons=300, weight_depth=999)
    caps = {r.name: regmap.reset_value(r, cap) for r in regmap.CAPACITY_REGISTERS}
    assert caps == {f"CAP_{k.upper()}": v for k, v in cap.to_dict().items()}


def test_lookup_errors_name_the_choices():
    with pytest.raises(KeyError, match="CTRL"):
        regmap.register("NOPE")
    with pytest.raises(KeyError, match="mode"):
        regmap.field("CTRL", "nope")
    assert regmap.offset("READOUT") == regmap.READOUT.offset


def test_error_bits_decode():
    v = regmap.field("ERROR", "event_index").mask | regmap.field("ERROR", "no_model").mask
    assert regmap.decode_errors(v) == ["event_index", "no_model"]
    assert regmap.decode_fields("STATUS", 0b1010) == {"busy": 0, "done": 1, "error": 0, "model_valid": 1}


def test_address_span_covers_readout_window():
    for n in (1, 8, 256, 1000, 5000):
        cap = Capacity(max_neurons=n)
        span = regmap.address_span(cap)
        assert span >= regmap.READOUT.offset + 4 * n and span & (span - 1) == 0
        assert 1 << regmap.address_bits(cap) == span


def test_markdown_lists_every_register_and_the_vlnv():
    md = regmap.markdown(Capacity())
    for r in regmap.REGISTERS:
        assert f"| 0x{r.offset:03x} | {r.name} |" in md
    assert regmap.VLNV in md and "READOUT[0..256-1]" in md
    assert len(regmap.VLNV.split(":")) == 4


def test_regmap_and_protocol_import_no_amaranth_or_torch():
    code = "import sys, hw.spec.regmap, hw.spec.protocol; print(any(m in sys.modules for m in ('amaranth', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- model image -------------------------------------------------------------


def _parse_image(words: np.ndarray, cap: Capacity):
    """Read the model image as documented in hw.spec.protocol (independent of pack_model)."""
    w = [int(x) for x in words]
    assert w[0] == protocol.MODEL_MAGIC and w[1] == len(w) and w[2] == cap.lanes
    assert (sum(w[:-1]) & 0xFFFFFFFF) == w[-1]
    n_in, T, L, nbias, nwords, G = w[3:9]
    at = protocol.HEADER_WORDS
    groups = [(w[at + 2 * g], w[at + 2 * g + 1]) for g in range(G)]
    at += 2 * G
    layers = []
    for _ in range(L):
        n, chunks, thr, flags, nsrc, wbase, rows, mbase = w[at : at + protocol.LAYER_WORDS]
        at += protocol.LAYER_WORDS
        srcs = []
        for _ in range(nsrc):
            q, size, off = w[at : at + protocol.SOURCE_WORDS]
            srcs.append(dict(index=q & 0xFF, delay=(q >> 8) & 1, layer=(q >> 9) & 1, size=size, off=off))
            at += protocol.SOURCE_WORDS
        layers.append(dict(n=n, chunks=chunks, thr=np.int32(np.uint32(thr)), k=flags & 15, flags=flags, sub=(flags >> 4) & 1,
                           spk=(flags >> 5) & 1, vb=(flags >> 8) & 63, wbase=wbase, rows=rows, mbase=mbase, srcs=srcs))
    bias = np.array(w[at : at + nbias], np.uint32).view(np.int32)
    at += nbias
    dwords = w[at : at + nbias]  # decay words: d [12:0], extra shift [17:16], the rest 0
    assert all(x >> 18 == 0 and (x >> 13) & 7 == 0 for x in dwords)
    decay = [(x & 0x1FFF, (x >> 16) & 3) for x in dwords]
    at += nbias
    wsw = protocol.weight_stream_words(cap)
    mem = []
    for k in range(nwords):
        big = sum(w[at + k * wsw + i] << (32 * i) for i in range(wsw))
        lanes = []
        for j in range(cap.lanes):
            v = (big >> (j * cap.weight_bits)) & ((1 << cap.weight_bits) - 1)
            lanes.append(v - (1 << cap.weight_bits) if v >> (cap.weight_bits - 1) else v)
        mem.append(lanes)
    at += nwords * wsw
    assert at == len(w) - 1
    return dict(n_in=n_in, T=T, groups=groups, layers=layers, bias=bias, decay=decay, mem=np.array(mem).reshape(-1, cap.lanes))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lanes=st.sampled_from([1, 3, 4, 8, 32]), wb=st.sampled_from([4, 8, 12, 16]))
def test_pack_model_matches_documented_layout(seed, lanes, wb):
    rng = np.random.default_rng(seed)
    net = random_qnet(rng, weight_bits=min(wb, 8))
    cap = Capacity(lanes=lanes, weight_bits=wb, max_layers=4, max_inputs=64, max_neurons=64, weight_depth=100000)
    if len(net.inputs) > cap.max_sources:
        return
    img = protocol.pack_model(net, cap)
    assert img.dtype == np.uint32
    d = _parse_image(img, cap)
    assert d["n_in"] == net.n_inputs and d["T"] == net.timesteps
    offs = net.input_offsets()
    assert d["groups"] == [(offs[g.name], g.size) for g in net.inputs]
    names = [layer.name for layer in net.layers]
    for layer, rec in zip(net.layers, d["layers"]):
        assert (rec["n"], rec["chunks"], rec["thr"], rec["k"]) == (layer.n, math.ceil(layer.n / lanes), layer.threshold, 0)
        k = layer.leak_shift  # v1 layer: its shift leak as (d, extra shift), worked out by hand
        want_decay = (0, 0) if k == 0 else (4096 >> k, 0) if k <= 12 else (1, k - 12)
        got = d["decay"][rec["mbase"] * lanes : (rec["mbase"] + rec["chunks"]) * lanes]
        assert got == [want_decay] * layer.n + [(0, 0)] * (rec["chunks"] * lanes - layer.n)
        assert (rec["sub"], rec["spk"], rec["vb"]) == (layer.reset == "subtract", layer.spiking, layer.v_bits)
        bias = d["bias"][rec["mbase"] * lanes : (rec["mbase"] + rec["chunks"]) * lanes]
        want = np.zeros(rec["chunks"] * lanes, np.int64)
        if layer.bias is not None:
            want[: layer.n] = layer.bias
        assert (bias == want).all()
        for s, src in zip(layer.sources, rec["srcs"]):
            if src["layer"]:
                assert names[src["index"]] == s.name
            else:
                assert net.inputs[src["index"]].name == s.name
            assert src["delay"] == s.delay and src["size"] == s.weight.shape[0]
            for c in range(rec["chunks"]):
                rows = d["mem"][rec["wbase"] + c * rec["rows"] + src["off"] :][: src["size"]]
                full = np.zeros((src["size"], rec["chunks"] * lanes), np.int64)
                full[:, : layer.n] = s.weight
                assert (rows == full[:, c * lanes : (c + 1) * lanes]).all()


def test_pack_model_per_neuron_decay_and_readout():
    """A hand-made layer carrying a v2 ``decay`` array goes into the decay
    words as is; a bad decay or a spike-count readout is refused by name."""
    net = random_qnet(np.random.default_rng(4), max_neurons=6)
    cap = Capacity(lanes=4, max_layers=4, max_inputs=64, max_neurons=64, weight_depth=100000)
    layer = net.layers[0]
    layer.decay = np.array([0, 4096, 410, 1, 2048, 3000][: layer.n] + [7] * max(0, layer.n - 6))
    d = _parse_image(protocol.pack_model(net, cap), cap)
    rec = d["layers"][0]
    got = d["decay"][rec["mbase"] * 4 : rec["mbase"] * 4 + layer.n]
    assert got == [(int(x), 0) for x in layer.decay]
    layer.decay = np.full(layer.n, 4097)
    with pytest.raises(protocol.ProtocolError, match=f"layer {layer.name!r}: decay values must be in 0..4096"):
        protocol.pack_model(net, cap)
    layer.decay = np.full(layer.n, 512)
    last = net.layers[-1]
    last.readout = "spikes"
    assert not last.spiking
    with pytest.raises(protocol.ProtocolError, match=f"layer {last.name!r}: readout 'spikes' needs the last layer, spiking"):
        protocol.pack_model(net, cap)
    last.spiking = True
    d = _parse_image(protocol.pack_model(net, cap), cap)
    assert [rec["flags"] >> 6 & 1 for rec in d["layers"]] == [0] * (len(net.layers) - 1) + [1]  # bit 6, by hand
    last.readout = "rate"
    with pytest.raises(protocol.ProtocolError, match="readout must be 'membrane' or 'spikes', not 'rate'"):
        protocol.pack_model(net, cap)


def test_pack_model_rejects_what_does_not_fit():
    net = random_qnet(np.random.default_rng(0), weight_bits=8)
    with pytest.raises(CapacityError, match="weight_bits"):
        protocol.pack_model(net, Capacity(weight_bits=4))
    with pytest.raises(CapacityError, match="max_neurons 1"):
        protocol.pack_model(net, Capacity(max_neurons=1))
    two_groups = random_qnet(np.random.default_rng(5))
    while len(two_groups.inputs) < 2:
        two_groups = random_qnet(np.random.default_rng(int(two_groups.n_inputs) + 100))
    with pytest.raises(CapacityError, match="input groups > max_sources 1"):
        protocol.pack_model(two_groups, Capacity(max_sources=1), check=False)


def test_decode_results_roundtrip_and_errors():
    n_out = 3
    recs = []
    for k in range(4):
        recs += [protocol.RESULT_MAGIC << 16 | n_out, k, k % n_out, 100 + k, 5, 6, 7, 30 + k, 0xFFFFFFFF, 2, 0x7FFFFFFF]
    r = protocol.decode_results(np.array(recs, np.uint32), n_out)
    assert list(r.errors) == [0, 1, 2, 3] and list(r.cycles) == [100, 101, 102, 103]
    assert list(r.synaptic_ops) == [7] * 4 and list(r.exit_step) == [30, 31, 32, 33]  # word 7: the exit step (v4)
    assert r.readout.tolist() == [[-1, 2, 2**31 - 1]] * 4
    with pytest.raises(protocol.ProtocolError, match="whole number"):
        protocol.decode_results(np.array(recs[:-1], np.uint32), n_out)
    with pytest.raises(protocol.ProtocolError, match="n_out=3, expected 2"):
        protocol.decode_results(np.array(recs[:10], np.uint32), 2)
    bad = list(recs)
    bad[0] = 0
    with pytest.raises(protocol.ProtocolError, match="magic"):
        protocol.decode_results(np.array(bad, np.uint32), n_out)


def test_event_packets_one_per_sample():
    sp = np.zeros((2, 3, 5), np.uint8)
    sp[1, 2, 4] = 1
    p = protocol.event_packets(sp)
    assert [x.tolist() for x in p] == [[1 << 31] * 3, [1 << 31, 1 << 31, 4, 1 << 31]]
    with pytest.raises(protocol.ProtocolError):
        protocol.event_packets(np.zeros(4))


def test_image_carries_the_exit_rule_in_header_words_9_and_10():
    """v4: words 9 and 10 are the rule's margin and min_step; a model without
    a rule carries 0 and T-1 (a rule that never ends a sample early)."""
    import dataclasses

    from sw.qnet import ExitRule
    from sw.random_net import random_qnet

    net = random_qnet(np.random.default_rng(3), timesteps=6)
    cap = Capacity(max_layers=8, max_neurons=64, max_inputs=256, max_sources=4)
    assert [int(x) for x in protocol.pack_model(net, cap)[9:11]] == [0, 5]
    ruled = dataclasses.replace(net, exit=ExitRule(margin=1 << 20, min_step=2))
    img = protocol.pack_model(ruled, cap)
    assert [int(x) for x in img[9:11]] == [1 << 20, 2]
    assert int(img[11]) == 0  # the first group's offset follows (header of 11 words)
