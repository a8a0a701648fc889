"""hw.rtl.loader.ModelLoader on its own: images from hw.spec.protocol.pack_model, fed
with random idle cycles, against the QNet they were packed from.

Every parameter output is compared with a value read off the QNet itself
(layer.n, threshold, reset, sources, delays...) or with a layout worked out
here from the layer sizes (chunk and row counts, bases, offsets), never with
the loader. The memory writes are replayed into plain Python memories and
compared lane by lane with the biases, decays and weights of the QNet. The
error cases corrupt one word of a good image (fixing its checksum where the
corruption is not the checksum itself) and expect the exact error bits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from hw.rtl.loader import ModelLoader
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.random_net import demo_shaped_qnet, random_qnet

BAD = regmap.field("ERROR", "bad_model").mask
OVER = regmap.field("ERROR", "over_capacity").mask
SMALL = dict(max_layers=3, max_neurons=10, max_sources=3, max_inputs=20, weight_depth=256, max_timesteps=4)

PARAMS = (
    "m_inputs m_T m_layers m_groups m_outputs m_out_mbase m_rspk".split(),
    "g_off g_size g_end".split(),
    "ly_n ly_chunks ly_thr ly_sub ly_spk ly_vb ly_nsrc ly_wbase ly_rows ly_mbase".split(),
    "sr_idx sr_delay sr_layer sr_off".split(),
)


def run_loader(cap: Capacity, image, *, seed=0, last_at=None, gap=0.3):
    """Feed ``image`` (TLAST on word ``last_at``, default the last) after a
    ``begin``; return the finish report, the parameter outputs and the
    memories as ``{addr: [lane values]}`` built from the write ports."""
    dut = ModelLoader(cap)
    image = [int(w) for w in image]
    last_at = len(image) - 1 if last_at is None else last_at
    out = {"finished": []}
    mems = {"w": {}, "b": {}, "d": {}}
    lane_bits = {"w": cap.weight_bits, "b": cap.v_bits, "d": 15}

    def record(ctx, key, port, lanes_en):
        en = ctx.get(port.en)
        if not en:
            return
        addr, value, bits = ctx.get(port.addr), ctx.get(port.data), lane_bits[key]
        row = mems[key].setdefault(addr, [None] * cap.lanes)
        for j in range(cap.lanes):
            if (en >> j) & 1 if lanes_en else en:
                row[j] = (value >> (j * bits)) & ((1 << bits) - 1)

    async def bench(ctx):
        rng = np.random.default_rng(seed)
        ctx.set(dut.begin, 1)
        await ctx.tick()
        ctx.set(dut.begin, 0)
        for i, w in enumerate(image[: last_at + 1]):
            while rng.random() < gap:
                ctx.set(dut.words.valid, 0)
                assert not ctx.get(dut.finished)
                await ctx.tick()
            ctx.set(dut.words.valid, 1)
            ctx.set(dut.words.payload, {"data": w, "last": int(i == last_at)})
            assert ctx.get(dut.words.ready)
            record(ctx, "w", dut.w_wr, False)
            record(ctx, "b", dut.b_wr, True)
            record(ctx, "d", dut.d_wr, True)
            if ctx.get(dut.finished):
                out["finished"].append((i, ctx.get(dut.error), ctx.get(dut.model_valid)))
            await ctx.tick()
        ctx.set(dut.words.valid, 0)
        for group in PARAMS:
            for name in group:
                sig = getattr(dut, name)
                if isinstance(sig, list):
                    out[name] = [[ctx.get(x) for x in r] if isinstance(r, list) else ctx.get(r) for r in sig]
                else:
                    out[name] = ctx.get(sig)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out, mems


def expected_params(net: QNet, P: int) -> dict:
    """The parameters, from the QNet and a layout worked out here."""
    groups = {g.name: i for i, g in enumerate(net.inputs)}
    layers = {ly.name: i for i, ly in enumerate(net.layers)}
    sizes = {g.name: g.size for g in net.inputs} | {ly.name: ly.n for ly in net.layers}
    g_off = list(np.cumsum([0] + [g.size for g in net.inputs])[:-1])
    e = {
        "m_inputs": sum(g.size for g in net.inputs),
        "m_T": net.timesteps,
        "m_layers": len(net.layers),
        "m_groups": len(net.inputs),
        "m_outputs": net.layers[-1].n,
        "m_rspk": int(net.layers[-1].readout == "spikes"),
        "g_off": [int(x) for x in g_off],
        "g_size": [g.size for g in net.inputs],
        "g_end": [int(o) + g.size for o, g in zip(g_off, net.inputs)],
    }
    wbase = mbase = 0
    lay = {k: [] for k in PARAMS[2] + PARAMS[3]}
    for ly in net.layers:
        chunks, rows = math.ceil(ly.n / P), sum(sizes[s.name] for s in ly.sources)
        srcs = [(layers[s.name], 0, 1) if s.name in layers else (groups[s.name], 0, 0) for s in ly.sources]
        lay["ly_n"].append(ly.n)
        lay["ly_chunks"].append(chunks)
        lay["ly_thr"].append(int(ly.threshold))
        lay["ly_sub"].append(int(ly.reset == "subtract"))
        lay["ly_spk"].append(int(ly.spiking))
        lay["ly_vb"].append(ly.v_bits)
        lay["ly_nsrc"].append(len(ly.sources))
        lay["ly_wbase"].append(wbase)
        lay["ly_rows"].append(rows)
        lay["ly_mbase"].append(mbase)
        lay["sr_idx"].append([i for i, _, _ in srcs])
        lay["sr_delay"].append([int(bool(s.delay)) for s in ly.sources])
        lay["sr_layer"].append([is_layer for _, _, is_layer in srcs])
        lay["sr_off"].append([int(x) for x in np.cumsum([0] + [sizes[s.name] for s in ly.sources])[:-1]])
        wbase += chunks * rows
        mbase += chunks
    e["m_out_mbase"] = lay["ly_mbase"][-1]
    return e | lay


def expected_memories(net: QNet, cap: Capacity) -> dict:
    """Bias, decay and weight memories as the QNet's values in lane order
    (padding lanes 0), masked to the lane widths."""
    P, vmask, wmask = cap.lanes, (1 << cap.v_bits) - 1, (1 << cap.weight_bits) - 1
    sizes = {g.name: g.size for g in net.inputs} | {ly.name: ly.n for ly in net.layers}
    mem = {"w": {}, "b": {}, "d": {}}
    wrow = mrow = 0
    for ly in net.layers:
        chunks = math.ceil(ly.n / P)
        for c in range(chunks):
            lanes = range(c * P, c * P + P)
            bias = [int(ly.bias[i]) if ly.bias is not None and i < ly.n else 0 for i in lanes]
            mem["b"][mrow + c] = [b & vmask for b in bias]
            mem["d"][mrow + c] = [int(ly.decay[i]) if i < ly.n else 0 for i in lanes]
            for s in ly.sources:
                for i in range(sizes[s.name]):
                    mem["w"][wrow] = [int(s.weight[i, n]) & wmask if n < ly.n else 0 for n in lanes]
                    wrow += 1
        mrow += chunks
    return mem


def check_loaded(net, cap, out, mems, n_words):
    assert out["finished"] == [(n_words - 1, 0, 1)]
    e = expected_params(net, cap.lanes)
    for name, want in e.items():
        got = out[name]
        if name in PARAMS[1]:
            got = got[: len(want)]
        elif name in PARAMS[2]:
            got = got[: len(want)]
        elif name in PARAMS[3]:
            got = [row[: len(w)] for row, w in zip(got, want)]
        assert got == want, name
    assert mems == expected_memories(net, cap)


def _nets(seed, cap, n, **kw):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        net = random_qnet(
            rng,
            max_inputs=cap.max_inputs,
            max_neurons=cap.max_neurons,
            max_hidden=cap.max_layers - 1,
            max_sources=cap.max_sources,
            timesteps=int(rng.integers(1, cap.max_timesteps + 1)),
            **kw,
        )
        if not cap.problems(net) and len(net.inputs) <= cap.max_sources:
            out.append(net)
    return out


@pytest.mark.parametrize(
    "lanes, kw",
    [(4, {}), (3, {"weight_bits": 4, "v_bits": 8}), (1, {"weight_depth": 1024}), (5, {"weight_bits": 16, "v_bits": 32})],
)
def test_random_models_load(lanes, kw):
    cap = Capacity(lanes=lanes, **{**SMALL, **kw})
    for k, net in enumerate(_nets(lanes, cap, 2, general_decay=True, readout="random")):
        image = protocol.pack_model(net, cap)
        out, mems = run_loader(cap, image, seed=k)
        check_loaded(net, cap, out, mems, len(image))


def test_demo_shape_loads():
    """The demo model's shape on the default capacity, with fewer gaps (31k words)."""
    cap = Capacity()
    net = demo_shaped_qnet(np.random.default_rng(1))
    image = protocol.pack_model(net, cap)
    out, mems = run_loader(cap, image, gap=0.02)
    check_loaded(net, cap, out, mems, len(image))


def test_hand_worked_layout():
    """A 2-lane core, inputs a (3) and b (2), layer h (n=3) reading b then
    itself with delay 1, readout r (n=1, spike count) reading h: chunk and
    row counts, bases and offsets worked by hand."""
    cap = Capacity(lanes=2, **SMALL)
    w = lambda r, c: np.ones((r, c), np.int8)  # noqa: E731
    h = Layer("h", 3, [Source("b", w(2, 3), 4), Source("h", w(3, 3), 4, delay=1)], threshold=2000, leak_shift=2, reset="zero", v_bits=12)
    r = Layer("r", 1, [Source("h", w(3, 1), 4)], threshold=7, leak_shift=0, readout="spikes")
    net = QNet(["c"], 4, [InputGroup("a", 3), InputGroup("b", 2)], [h, r]).validate()
    out, _ = run_loader(cap, protocol.pack_model(net, cap), seed=3)
    assert out["finished"] == [(out["finished"][0][0], 0, 1)]
    got = {k: out[k] for k in ("m_inputs", "m_T", "m_layers", "m_groups", "m_outputs", "m_out_mbase", "m_rspk")}
    assert got == dict(m_inputs=5, m_T=4, m_layers=2, m_groups=2, m_outputs=1, m_out_mbase=2, m_rspk=1)
    assert (out["g_off"][:2], out["g_size"][:2], out["g_end"][:2]) == ([0, 3], [3, 2], [3, 5])
    # h: 2 chunks of 5 rows (b: 2, h: 3) at weight word 0; r: 1 chunk of 3 rows at 2*5 = 10
    assert out["ly_n"][:2] == [3, 1] and out["ly_chunks"][:2] == [2, 1]
    assert out["ly_rows"][:2] == [5, 3] and out["ly_wbase"][:2] == [0, 10] and out["ly_mbase"][:2] == [0, 2]
    assert out["ly_thr"][:2] == [2000, 7] and out["ly_sub"][:2] == [0, 1] and out["ly_vb"][:2] == [12, 16]
    assert out["ly_spk"][:2] == [1, 1] and out["ly_nsrc"][:2] == [2, 1]
    assert [row[:2] for row in out["sr_idx"][:2]] == [[1, 0], [0, 0]]
    assert [row[:2] for row in out["sr_layer"][:2]] == [[0, 1], [1, 0]]
    assert out["sr_delay"][0][:2] == [0, 1] and out["sr_off"][0][:2] == [0, 2]


# -- errors --------------------------------------------------------------------


def _good(cap):
    net = _nets(7, cap, 1, general_decay=True)[0]
    return protocol.pack_model(net, cap).astype(np.int64)


def _fix_sum(image):
    image = image.copy()
    image[-1] = int(image[:-1].sum()) & 0xFFFFFFFF
    return image


def _decay_at(image, cap):
    """Index of the first decay word: header, groups, layers and sources, then the bias words."""
    at, n_layers, bias_words, n_groups = protocol.HEADER_WORDS, int(image[5]), int(image[6]), int(image[8])
    at += protocol.GROUP_WORDS * n_groups
    for _ in range(n_layers):
        at += protocol.LAYER_WORDS + protocol.SOURCE_WORDS * int(image[at + 4])
    return at + bias_words


def _set(image, i, value):
    image = image.copy()
    image[i] = value
    return _fix_sum(image)


CAP = Capacity(lanes=4, **SMALL)


@pytest.mark.parametrize(
    "case, make, want",
    [
        ("bad magic", lambda im: _set(im, 0, protocol.MODEL_MAGIC ^ 1), BAD),
        ("lane count", lambda im: _set(im, 2, CAP.lanes + 1), BAD),
        ("checksum", lambda im: np.concatenate([im[:-1], [(int(im[-1]) + 1) & 0xFFFFFFFF]]), BAD),
        ("total words", lambda im: _set(im, 1, int(im[1]) + 1), BAD),
        ("inputs over capacity", lambda im: _set(im, 3, CAP.max_inputs + 1), OVER),
        ("timesteps over capacity", lambda im: _set(im, 4, CAP.max_timesteps + 1), OVER),
        ("decay above 4096", lambda im: _set(im, _decay_at(im, CAP), protocol.DECAY_ONE + 1), BAD),
        ("decay reserved bit 13", lambda im: _set(im, _decay_at(im, CAP), 1 << 13), BAD),
        ("decay reserved bit 18", lambda im: _set(im, _decay_at(im, CAP), 1 << 18), BAD),
    ],
)
def test_bad_images(case, make, want):
    image = make(_good(CAP))
    out, _ = run_loader(CAP, image, seed=1)
    assert out["finished"] == [(len(image) - 1, want, 0)], case


def test_tlast_early_and_late():
    image = _good(CAP)
    out, _ = run_loader(CAP, image, last_at=len(image) - 2)
    assert out["finished"] == [(len(image) - 2, BAD, 0)]
    out, _ = run_loader(CAP, image, last_at=20)  # inside the layer records
    assert out["finished"] == [(20, BAD, 0)]
    longer = np.concatenate([image, [0, 0]])  # the trailer without TLAST: drained to the TLAST
    out, _ = run_loader(CAP, longer)
    assert out["finished"] == [(len(longer) - 1, BAD, 0)]


def test_over_capacity_model():
    """A real model that is too big (pack_model(check=False)): too many neurons."""
    net = _nets(11, Capacity(lanes=4, **{**SMALL, "max_neurons": 20}), 1)[0]
    small = Capacity(lanes=4, **{**SMALL, "max_neurons": max(ly.n for ly in net.layers) - 1})
    image = protocol.pack_model(net, small, check=False)
    out, _ = run_loader(small, image)
    assert out["finished"] == [(len(image) - 1, OVER, 0)]


def test_begin_forgets_a_bad_image():
    """A refused image then a good one in the same simulation would need two
    begins; here: an early TLAST, then begin, then the good image loads."""
    cap = CAP
    good = _good(cap)
    dut = ModelLoader(cap)
    seen = []

    async def bench(ctx):
        for image, last_at in ((good, 5), (good, len(good) - 1)):
            ctx.set(dut.begin, 1)
            await ctx.tick()
            ctx.set(dut.begin, 0)
            for i, w in enumerate(image[: last_at + 1]):
                ctx.set(dut.words.valid, 1)
                ctx.set(dut.words.payload, {"data": int(w), "last": int(i == last_at)})
                if ctx.get(dut.finished):
                    seen.append((i, ctx.get(dut.error), ctx.get(dut.model_valid)))
                await ctx.tick()
            ctx.set(dut.words.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(5, BAD, 0), (len(good) - 1, 0, 1)]


def test_rejects_non_capacity():
    with pytest.raises(TypeError, match="hw.spec.capacity.Capacity"):
        ModelLoader(8)
