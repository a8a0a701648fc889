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
        (_set(["layers", 0, "leak_shift"], 16), r"layer 'h0': field 'leak_shift' must be an integer in 0..15, not 16"),
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
    with pytest.raises(QNetError, match=r"cut.qnet: not a readable .qnet"):
        qnet.load(cut)
    text = tmp_path / "text.qnet"
    text.write_text("hello")
    with pytest.raises(QNetError, match=r"text.qnet: not a readable .qnet"):
        qnet.load(text)
    with pytest.raises(QNetError, match="no such file"):
        qnet.load(tmp_path / "absent.qnet")


def test_pickled_arrays_are_refused(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, header=np.array([{"a": 1}], dtype=object))
    p = tmp_path / "pickle.qnet"
    p.write_bytes(buf.getvalue())
    with pytest.raises(QNetError, match="not a readable .qnet"):
        qnet.load(p)


def test_npz_without_header(tmp_path):
    p = tmp_path / "plain.qnet"
    with open(p, "wb") as f:
        np.savez(f, weights=np.zeros(3))
    with pytest.raises(QNetError, match="missing the 'header' array"):
        qnet.load(p)
    assert zipfile.is_zipfile(p)
