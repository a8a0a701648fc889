"""The .qnet file: round trip, and a clear error for each way a file can be wrong."""

import copy
import io
import json
import zipfile

import numpy as np
import pytest

from sw import golden, qnet
from sw.qnet import QNetError
from sw.random_net import random_qnet, random_spikes


@pytest.fixture
def net():
    return random_qnet(np.random.default_rng(3), max_hidden=2, recurrence=True)


def test_round_trip_is_exact(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    assert path.name == "m.qnet"  # no ".npz" appended
    back = qnet.load(path)
    assert qnet.to_header(back) == qnet.to_header(net)
    for a, b in zip(net.layers, back.layers):
        for sa, sb in zip(a.sources, b.sources):
            np.testing.assert_array_equal(sa.weight, sb.weight)
        assert (a.bias is None) == (b.bias is None)
    x = random_spikes(np.random.default_rng(1), net, batch=3)
    np.testing.assert_array_equal(golden.run(net, x).readout, golden.run(back, x).readout)


def test_loads_without_pickle(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    with np.load(path, allow_pickle=False) as z:
        assert "header" in z.files
        assert all(z[k].dtype != object for k in z.files)


def _rewrite(path, tmp_path, edit_header=None, drop=None, replace=None):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes().decode())
    if edit_header:
        edit_header(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    for k in drop or []:
        del arrays[k]
    arrays.update(replace or {})
    out = tmp_path / "bad.qnet"
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


def _set(path_in_header, value):
    def edit(h):
        obj = h
        for key in path_in_header[:-1]:
            obj = obj[key]
        obj[path_in_header[-1]] = value

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_set(["layers", 0, "threshold"], 0), r"layer 'h0': field 'threshold' must be an integer > 0, not 0"),
        (_set(["layers", 0, "readout"], "rates"), r"layer 'h0': field 'readout' must be one of \('membrane', 'spikes'\), not 'rates'"),
        (_set(["layers", 0, "readout"], "spikes"), r"layer 'h0': readout='spikes': only the last layer may read out by spikes"),
        (_set(["layers", -1, "readout"], "spikes"), r"layer 'out': readout='spikes' counts spikes, so the layer must have spiking=true"),
        (lambda h: h["layers"][0].pop("readout"), r"layer 0 \(h0\): missing field 'readout'"),
        (_set(["layers", 0, "reset"], "hard"), r"layer 'h0': field 'reset' must be one of"),
        (_set(["layers", 0, "sources", 0, "name"], "nowhere"), r"layer 'h0': source 0 \('nowhere'\): unknown source"),
        (_set(["version"], 99), r"unsupported version 99"),
        (_set(["timesteps"], 0), r"field 'timesteps' must be a positive integer"),
        (_set(["format"], "other"), r"field 'format' is 'other'"),
        (lambda h: h["layers"][0].pop("v_bits"), r"layer 0 \(h0\): missing field 'v_bits'"),
        (lambda h: h.pop("classes"), r"missing field 'classes'"),
        (_set(["layers", -1, "spiking"], True), r"the last layer is the readout and must have spiking=false"),
    ],
)
def test_header_errors_name_layer_and_field(tmp_path, net, edit, message):
    path = qnet.save(net, tmp_path / "m.qnet")
    bad = _rewrite(path, tmp_path, edit_header=edit)
    with pytest.raises(QNetError, match=message) as e:
        qnet.load(bad)
    assert str(bad) in str(e.value)


def test_weight_outside_its_bits(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    bits = net.layers[0].sources[0].weight_bits
    w = net.layers[0].sources[0].weight.astype(np.int16).copy()
    w[0, 0] = 1 << (bits - 1)  # one past the largest
    bad = _rewrite(path, tmp_path, replace={"layer0.src0.weight": w})
    with pytest.raises(QNetError, match=rf"layer 'h0': source 0 .* field 'weight' holds {1 << (bits - 1)}, outside the {bits}-bit range"):
        qnet.load(bad)


def test_wrong_dtype_and_shape(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    w = net.layers[0].sources[0].weight
    bad = _rewrite(path, tmp_path, replace={"layer0.src0.weight": w.astype(np.float32)})
    with pytest.raises(QNetError, match=r"field 'weight': dtype must be integer, not float32"):
        qnet.load(bad)
    bad = _rewrite(path, tmp_path, replace={"layer0.src0.weight": w[:, :-1] if w.shape[1] > 1 else w[:-1]})
    with pytest.raises(QNetError, match=r"field 'weight': shape must be"):
        qnet.load(bad)


def test_missing_weight_array(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    bad = _rewrite(path, tmp_path, drop=["layer0.src0.weight"])
    with pytest.raises(QNetError, match=r"source 0: missing weight array 'layer0.src0.weight'"):
        qnet.load(bad)


def test_recurrence_without_delay(net):
    bad = copy.deepcopy(net)
    h0 = bad.layers[0]
    h0.sources.append(qnet.Source("h0", np.zeros((h0.n, h0.n), np.int8), 4, delay=0))
    with pytest.raises(QNetError, match=r"layer 'h0': source .*recurrence without delay"):
        bad.validate()


def test_truncated_and_non_npz_files(tmp_path, net):
    path = qnet.save(net, tmp_path / "m.qnet")
    data = path.read_bytes()
    cut = tmp_path / "cut.qnet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(QNetError, match=r"cut.qnet: not a .qnet \(npz\) file"):
        qnet.load(cut)
    text = tmp_path / "text.qnet"
    text.write_text("hello")
    # numpy alone says "Cannot load file containing pickled data": useless for a renamed text file.
    with pytest.raises(QNetError, match=r"text.qnet: not a .qnet \(npz\) file: it is not a zip archive") as e:
        qnet.load(text)
    assert "pickled" not in str(e.value)
    with pytest.raises(QNetError, match="no such file"):
        qnet.load(tmp_path / "absent.qnet")


def test_pickled_arrays_are_refused(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, header=np.array([{"a": 1}], dtype=object))
    p = tmp_path / "pickle.qnet"
    p.write_bytes(buf.getvalue())
    with pytest.raises(QNetError, match=r"not a .qnet \(npz\) file: it holds pickled \(object\) arrays"):
        qnet.load(p)


def test_npz_without_header(tmp_path):
    p = tmp_path / "plain.qnet"
    with open(p, "wb") as f:
        np.savez(f, weights=np.zeros(3))
    with pytest.raises(QNetError, match="missing the 'header' array"):
        qnet.load(p)
    assert zipfile.is_zipfile(p)


# -- version 2: per-neuron decay and readout ---------------------------------


def test_decay_is_saved_per_neuron(tmp_path):
    net = random_qnet(np.random.default_rng(11), general_decay=True, readout="spikes")
    path = qnet.save(net, tmp_path / "m.qnet")
    back = qnet.load(path)
    with np.load(path, allow_pickle=False) as z:
        for i, layer in enumerate(net.layers):
            np.testing.assert_array_equal(z[f"layer{i}.decay"], layer.decay)
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.decay, b.decay)
        assert a.readout == b.readout
    assert back.layers[-1].readout == "spikes" and back.layers[-1].spiking
    assert "leak_shift" not in json.dumps(qnet.to_header(back))
    x = random_spikes(np.random.default_rng(2), net, batch=3)
    g0, g1 = golden.run(net, x), golden.run(back, x)
    np.testing.assert_array_equal(g0.prediction, g1.prediction)
    for layer in net.layers:
        np.testing.assert_array_equal(g0.spikes[layer.name], g1.spikes[layer.name])


@pytest.mark.parametrize(
    "value, message",
    [
        (np.array([4097]), r"field 'decay' holds 4097, outside 0..4096"),
        (np.array([-1]), r"field 'decay' holds -1, outside 0..4096"),
        (np.zeros(1, np.float32), r"field 'decay': dtype must be integer, not float32"),
        ("short", r"field 'decay': shape must be"),
    ],
)
def test_decay_errors(tmp_path, net, value, message):
    path = qnet.save(net, tmp_path / "m.qnet")
    n = net.layers[0].n
    if isinstance(value, str):
        arr = np.zeros(n + 1, np.int16)
    else:
        arr = np.resize(value, n).astype(value.dtype)
    bad = _rewrite(path, tmp_path, replace={"layer0.decay": arr})
    with pytest.raises(QNetError, match=r"layer 'h0': " + message) as e:
        qnet.load(bad)
    assert str(bad) in str(e.value)
    bad = _rewrite(path, tmp_path, drop=["layer0.decay"])
    with pytest.raises(QNetError, match=r"layer 0 \(h0\): missing decay array 'layer0.decay'"):
        qnet.load(bad)


def _as_version1(path, tmp_path, shifts):
    """Rewrite a v2 file as the version 1 writer did: a per-layer leak_shift, no decay arrays, no readout."""

    def edit(h):
        h["version"] = 1
        for lh, k in zip(h["layers"], shifts):
            lh.pop("readout")
            lh["leak_shift"] = k

    return _rewrite(path, tmp_path, edit_header=edit, drop=[f"layer{i}.decay" for i in range(len(shifts))])


def test_version1_file_loads_with_shift_converted(tmp_path, net):
    shifts = [3, 0, 12, 1][: len(net.layers)]
    old = _as_version1(qnet.save(net, tmp_path / "m.qnet"), tmp_path, shifts)
    back = qnet.load(old)
    assert back.version == qnet.VERSION
    for layer, k in zip(back.layers, shifts):
        # literal table: k -> d = 4096 >> k (k >= 1), 0 for k = 0
        assert layer.decay.tolist() == [{3: 512, 0: 0, 12: 1, 1: 2048}[k]] * layer.n
        assert layer.leak_shift == k and layer.readout == "membrane"
    # and the same spikes as the version 1 equation v - (v >> k), neuron by neuron
    from tests.reference import reference_run

    x = random_spikes(np.random.default_rng(4), back, batch=3)
    g = golden.run(back, x)
    for b in range(3):
        trains, readout, _ = reference_run(back, x[b], shift_form=True)
        for layer in back.layers:
            np.testing.assert_array_equal(g.spikes[layer.name][b], np.array(trains[layer.name], bool))
        assert g.readout[b].tolist() == readout


def test_version1_shift_without_exact_decay_is_refused(tmp_path, net):
    old = _as_version1(qnet.save(net, tmp_path / "m.qnet"), tmp_path, [13] + [1] * (len(net.layers) - 1))
    with pytest.raises(QNetError, match=r"layer 'h0': leak_shift 13 has no exact 12-bit decay .* re-export with leak_shift <= 12"):
        qnet.load(old)
    old = _as_version1(qnet.save(net, tmp_path / "m.qnet"), tmp_path, [16] + [1] * (len(net.layers) - 1))
    with pytest.raises(QNetError, match=r"layer 'h0': field 'leak_shift' must be an integer in 0..15, not 16"):
        qnet.load(old)


def test_leak_shift_property_reads_shift_decays_only():
    src = [qnet.Source("in", np.zeros((1, 3), np.int8), 2)]
    assert qnet.Layer("a", 3, src, 5, decay=np.array([512, 512, 512])).leak_shift == 3
    assert qnet.Layer("a", 3, src, 5, decay=np.zeros(3, np.int32)).leak_shift == 0
    assert qnet.Layer("a", 3, src, 5, decay=np.full(3, 1)).leak_shift == 12
    assert qnet.Layer("a", 3, src, 5, 4).decay.tolist() == [256, 256, 256]
    for d in ([410, 410, 410], [512, 512, 256], [4096] * 3):
        with pytest.raises(QNetError, match=r"layer 'a': general decay; this consumer supports shift leaks only"):
            qnet.Layer("a", 3, src, 5, decay=np.array(d)).leak_shift
    with pytest.raises(TypeError, match="exactly one of decay"):
        qnet.Layer("a", 3, src, 5, 2, decay=np.zeros(3, np.int32))


def test_frozen_version1_file_gives_its_recorded_results():
    """tests/data/v1_shift_model.qnet was written by the version 1 writer (before the decay), and its
    spikes, readout and predictions recorded by the version 1 golden model (v - (v >> k)): both frozen."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    net = qnet.load(data / "v1_shift_model.qnet")
    with np.load(data / "v1_shift_model_expected.npz") as z:
        exp = {k: z[k] for k in z.files}
    assert [layer.decay.tolist() for layer in net.layers] == [[512] * net.layers[0].n, [2048] * net.layers[1].n,
                                                              [1024] * net.layers[2].n]  # k = 3, 1, 2
    g = golden.run(net, exp["x"])
    for layer in net.layers:
        np.testing.assert_array_equal(g.spikes[layer.name], exp[f"spikes_{layer.name}"])
    np.testing.assert_array_equal(g.readout, exp["readout"])
    np.testing.assert_array_equal(g.prediction, exp["prediction"])
