"""NIR (Neuromorphic Intermediate Representation, nir 1.0) export and import.

Discrete-time mapping
---------------------
NIR describes continuous-time neurons; our network is discrete (DESIGN.md
section 3). With a forward-Euler step ``dt`` (snnTorch's convention, also
Norse's and Sinabs' for LIF)::

    tau dv/dt = (v_leak - v) + R I      ->   v[t+1] = v + (dt/tau) (v_leak - v + R I)

so our leak ``v - v/2^k`` is ``dt/tau = 2^-k``, i.e. **tau = dt * 2^k**, and
``R = tau/dt = 2^k`` makes the input gain ``dt R / tau`` exactly 1 (what
snnTorch writes for a ``Leaky`` with ``beta = 1 - 2^-k``). k = 0 (no leak)
is an ``IF`` neuron (``R = 1``: ``v += I`` per step); the readout is ``LI``
(or ``I``, the integrator, when k = 0). Weights and thresholds are written
in real units (integer weight x the layer's power-of-two scale), so a
framework that imports the graph sees the trained values. The graph's
metadata holds ``dt``, the class names, T, the input groups' encoder
parameters and the note that the threshold comparison is ``>=``.

Our reset by subtraction has no NIR equivalent (NIR's LIF/IF reset *to*
``v_reset``), so such models are refused, not exported as something else.
The floor in the leak and the membrane clamp are integer details that NIR
does not carry either; they are in the metadata (``eavs.v_bits``).

Import
------
Graphs from snnTorch, Norse and Sinabs: ``Input``, ``Output``, ``Linear``,
``Affine``, ``LIF``, ``LI``, ``IF``, ``I`` nodes, recurrent edges (a neuron
feeding, through a Linear, itself) become delay-1 sources. Per neuron the
effective input gain ``dt R / tau`` (``R`` for IF/I) and the leak-voltage
drive are folded into the weights and a bias; per-neuron thresholds are
equalised by scaling each neuron's input (which leaves its spikes
unchanged); then each layer gets one power-of-two scale and the weights,
bias and threshold are rounded to integers. Every approximation is reported:
a leak ``dt/tau`` that is not a power of two, per-neuron leaks that differ,
a strict ``>`` threshold comparison (turned exact by adding 1 to the integer
threshold), a spiking output layer read out by its membrane, and the
quantization error of every layer. An unsupported node raises an error that
names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sw.qnet import InputGroup, Layer, QNet, Source

__all__ = ["NIRError", "ImportReport", "to_nir", "export_nir", "from_nir", "import_nir", "DEFAULT_DT"]

#: snnTorch's export step (``dt = 1e-4`` in ``snntorch.export_nir``).
DEFAULT_DT = 1e-4


class NIRError(ValueError):
    """A model that cannot be written to NIR, or a NIR graph that cannot be imported."""


# -- export -----------------------------------------------------------------------------


def _scale_of(net: QNet, layer: Layer) -> float:
    scales = net.metadata.get("weight_scales") or {}
    return float(scales.get(layer.name, 1.0))


def to_nir(net: QNet, dt: float = DEFAULT_DT):
    """The NIR graph of ``net`` (see the module docstring for the mapping)."""
    import nir

    for layer in net.layers:
        if layer.spiking and layer.reset == "subtract":
            raise NIRError(
                f"layer {layer.name!r} resets by subtraction, which NIR cannot express (its LIF/IF reset to "
                "v_reset); retrain with --reset zero to export NIR"
            )
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for g in net.inputs:
        nodes[g.name] = nir.Input(input_type=np.array([g.size]))
    for layer in net.layers:
        s = _scale_of(net, layer)
        n = layer.n
        k = layer.leak_shift
        ones = np.ones(n)
        for j, src in enumerate(layer.sources):
            w = src.weight.astype(np.float64).T * s  # [n, n_src]
            key = f"{layer.name}.{src.name}"
            if j == 0 and layer.bias is not None:
                nodes[key] = nir.Affine(weight=w, bias=layer.bias.astype(np.float64) * s)
            else:
                nodes[key] = nir.Linear(weight=w)
            edges += [(src.name, key), (key, layer.name)]
        thr = ones * layer.threshold * s
        if layer.spiking:
            if k:
                nodes[layer.name] = nir.LIF(tau=ones * dt * 2**k, r=ones * 2.0**k, v_leak=0 * ones, v_threshold=thr,
                                            v_reset=0 * ones)
            else:
                nodes[layer.name] = nir.IF(r=ones, v_threshold=thr, v_reset=0 * ones)
        elif k:
            nodes[layer.name] = nir.LI(tau=ones * dt * 2**k, r=ones * 2.0**k, v_leak=0 * ones)
        else:
            nodes[layer.name] = nir.I(r=ones)
    nodes["output"] = nir.Output(output_type=np.array([net.readout.n]))
    edges.append((net.readout.name, "output"))
    meta = {
        "dt": dt,
        "framework": "eavs-tf",
        "classes": list(net.classes),
        "timesteps": int(net.timesteps),
        "threshold_comparison": ">=",
        "inputs_json": _json([{"name": g.name, "size": g.size, "encoder": g.encoder} for g in net.inputs]),
        "v_bits": int(max(layer.v_bits for layer in net.layers)),
        "weight_scales_json": _json({layer.name: _scale_of(net, layer) for layer in net.layers}),
        "readout": "membrane of the last layer after the last step",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True)


def export_nir(net: QNet, out: str | Path, dt: float = DEFAULT_DT) -> Path:
    """``eavs nir export``: write ``net`` as a NIR HDF5 file with ``nir.write``."""
    import nir

    graph = to_nir(net, dt)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(out), graph)
    return out


# -- import -----------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What the import had to approximate, and the quantization error per layer."""

    notes: list[str] = field(default_factory=list)
    errors: dict[str, dict[str, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"approximated: {n}" for n in self.notes] or ["approximated: nothing"]
        for name, e in self.errors.items():
            out.append(
                f"layer {name!r}: scale 2^{int(e['log2_scale'])}, weight quantization error rms {e['weight_rms']:.3g} "
                f"(relative {e['weight_rel']:.2%}), max {e['weight_max']:.3g}; threshold {e['threshold']:.6g} -> "
                f"{int(e['threshold_int'])} (error {e['threshold_err']:.3g})"
            )
        return out


def _arr(x: Any, n: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 1:
        return np.full(n, float(a[0]))
    if a.size != n:
        raise NIRError(f"{what}: has {a.size} values for {n} neurons")
    return a


_NEURONS = ("LIF", "IF", "LI", "I")


def _size(node: Any) -> int:
    for typ in (getattr(node, "output_type", None), getattr(node, "input_type", None)):
        if typ:
            v = next(iter(typ.values()))
            if v is not None and np.size(v):
                return int(np.prod(v))
    raise NIRError(f"cannot tell the size of node {node!r}")


def _flatten(graph: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested ``NIRGraph`` nodes (snnTorch writes ``RLeaky`` as a subgraph)."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    into: dict[str, list[str]] = {}
    outof: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner_nodes, inner_edges = _flatten(node)
        io_in = {k for k, v in inner_nodes.items() if isinstance(v, nir.Input)}
        io_out = {k for k, v in inner_nodes.items() if isinstance(v, nir.Output)}
        into[name] = [f"{name}.{b}" for a, b in inner_edges if a in io_in and b not in io_out]
        outof[name] = [f"{name}.{a}" for a, b in inner_edges if b in io_out and a not in io_in]
        for io in io_in:
            into[f"{name}.{io}"] = into[name]
        for io in io_out:
            outof[f"{name}.{io}"] = outof[name]
        for k, v in inner_nodes.items():
            if k not in io_in and k not in io_out:
                nodes[f"{name}.{k}"] = v
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges if a not in io_in | io_out and b not in io_in | io_out]
    for a, b in graph.edges:
        for s in outof.get(a, [a]):
            for t in into.get(b, [b]):
                edges.append((s, t))
    return nodes, edges


def from_nir(
    graph: Any,
    bits: int = 8,
    v_bits: int = 16,
    timesteps: int | None = None,
    classes: list[str] | None = None,
    comparison: str | None = None,
) -> tuple[QNet, ImportReport]:
    """Quantize a NIR graph into a :class:`QNet`; returns it with an :class:`ImportReport`."""
    import nir

    if not 2 <= bits <= 16:
        raise NIRError(f"--bits must be in 2..16, not {bits}")
    rep = ImportReport()
    meta = dict(getattr(graph, "metadata", None) or {})
    dt = meta.get("dt")
    if dt is None:
        dt = DEFAULT_DT
        rep.notes.append(f"graph metadata has no 'dt': assumed {DEFAULT_DT} s (snnTorch's export step)")
    dt = float(np.asarray(dt))
    nodes, graph_edges = _flatten(graph)
    kinds = {}
    for name, node in nodes.items():
        t = type(node).__name__
        if isinstance(node, nir.Input):
            kinds[name] = "input"
        elif isinstance(node, nir.Output):
            kinds[name] = "output"
        elif isinstance(node, (nir.Linear, nir.Affine)):
            kinds[name] = "linear"
        elif t in _NEURONS:
            kinds[name] = "neuron"
        else:
            raise NIRError(
                f"node {name!r} is a {t}, which EAVS-TF cannot import (supported: Input, Output, Linear, Affine, "
                "LIF, IF, LI, I)"
            )
    incoming: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in graph_edges:
        if a not in nodes or b not in nodes:
            raise NIRError(f"edge {a!r} -> {b!r} names a node that is not in the graph")
        incoming[b].append(a)
    inputs = [n for n in nodes if kinds[n] == "input"]
    outputs = [n for n in nodes if kinds[n] == "output"]
    if not inputs:
        raise NIRError("graph has no Input node")
    if len(outputs) != 1:
        raise NIRError(f"graph must have exactly one Output node, not {len(outputs)} ({outputs})")
    neurons = [n for n in nodes if kinds[n] == "neuron"]
    if not neurons:
        raise NIRError("graph has no neuron node (LIF, IF, LI or I)")

    # Sources of every neuron: (source neuron/input, weight [n_src, n], bias or None).
    sources: dict[str, list[tuple[str, np.ndarray, np.ndarray | None]]] = {}
    for nn_ in neurons:
        lst = []
        for lin in incoming[nn_]:
            if kinds[lin] != "linear":
                raise NIRError(f"node {nn_!r}: input from {lin!r} ({type(nodes[lin]).__name__}) is not a Linear/Affine")
            srcs = incoming[lin]
            if len(srcs) != 1 or kinds[srcs[0]] not in ("input", "neuron"):
                raise NIRError(f"node {lin!r}: must have exactly one input that is an Input or a neuron, not {srcs}")
            node = nodes[lin]
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2:
                raise NIRError(f"node {lin!r}: weight must be a matrix, not shape {w.shape}")
            b = np.asarray(node.bias, np.float64).reshape(-1) if isinstance(node, nir.Affine) else None
            lst.append((srcs[0], w.T, b))
        if not lst:
            raise NIRError(f"node {nn_!r}: no Linear/Affine feeds it")
        sources[nn_] = lst

    out_src = incoming[outputs[0]]
    if len(out_src) != 1 or kinds[out_src[0]] != "neuron":
        raise NIRError(f"the Output node must be fed by one neuron node, not {out_src}")
    readout = out_src[0]

    # Order: topological over feed-forward edges; an edge into a neuron that is
    # already placed or is itself is a recurrent (delay 1) edge.
    order: list[str] = []
    placed: set[str] = set()
    pending = [n for n in neurons if n != readout] + [readout]
    while pending:
        for n in pending:
            deps = [s for s, _, _ in sources[n] if kinds[s] == "neuron" and s != n and s not in placed]
            if not deps:
                break
        else:  # a cycle: take the first pending node; its unplaced sources become recurrent
            n = pending[0]
        order.append(n)
        placed.add(n)
        pending.remove(n)
    if order[-1] != readout:
        raise NIRError(f"the output neuron {readout!r} must come last, but {order[-1]!r} depends on it")
    pos = {n: i for i, n in enumerate(order)}

    cmp_ = comparison or str(meta.get("threshold_comparison", ">"))
    if cmp_ not in (">", ">="):
        raise NIRError(f"threshold comparison must be '>' or '>=', not {cmp_!r}")

    groups = []
    meta_inputs = {}
    if "inputs_json" in meta:
        import json

        meta_inputs = {g["name"]: g for g in json.loads(str(meta["inputs_json"]))}
    for name in inputs:
        size = _size(nodes[name])
        groups.append(InputGroup(name, size, dict(meta_inputs.get(name, {}).get("encoder", {}))))

    vmax = (1 << (v_bits - 1)) - 1
    qmax = (1 << (bits - 1)) - 1
    stored_scales: dict[str, float] = {}
    if "weight_scales_json" in meta:
        import json

        stored_scales = {k_: float(v) for k_, v in json.loads(str(meta["weight_scales_json"])).items()}
    layers: list[Layer] = []
    for li, name in enumerate(order):
        node = nodes[name]
        t = type(node).__name__
        n = sources[name][0][1].shape[1]  # from the weights: exporters may write 0-d (shared) parameters
        for src, w, _ in sources[name]:
            if w.shape[1] != n:
                raise NIRError(f"node {name!r}: its Linear inputs have {w.shape[1]} and {n} outputs")
        spiking = t in ("LIF", "IF")
        r = _arr(node.r, n, f"node {name!r} r")
        if t in ("LIF", "LI"):
            tau = _arr(node.tau, n, f"node {name!r} tau")
            if (tau <= 0).any():
                raise NIRError(f"node {name!r}: tau must be > 0")
            alpha = dt / tau  # leak fraction per step
            gain = dt * r / tau
            v_leak = _arr(node.v_leak, n, f"node {name!r} v_leak")
            drive = alpha * v_leak
            if (alpha > 1).any():
                raise NIRError(f"node {name!r}: dt/tau = {alpha.max():.3g} > 1 is unstable in discrete time")
            ks = np.clip(np.round(-np.log2(alpha)), 0, 15).astype(int)
            k = int(np.round(np.median(ks)))
            if len(set(ks.tolist())) > 1:
                rep.notes.append(f"node {name!r}: per-neuron leaks differ (k {ks.min()}..{ks.max()}); used k={k} for all")
            exact = 2.0**-k
            if not np.allclose(alpha, exact, rtol=1e-6):
                rep.notes.append(
                    f"node {name!r}: leak dt/tau = {float(np.median(alpha)):.4g} is not a power of two; "
                    f"used 2^-{k} = {exact:.4g} (tau {float(np.median(tau)):.4g} -> {dt * 2**k:.4g})"
                )
        else:  # IF, I: no leak
            k, gain, drive = 0, r, np.zeros(n)
        if spiking:
            thr = _arr(node.v_threshold, n, f"node {name!r} v_threshold")
            v_reset = _arr(node.v_reset, n, f"node {name!r} v_reset") if getattr(node, "v_reset", None) is not None else np.zeros(n)
            if not np.allclose(v_reset, 0):
                raise NIRError(f"node {name!r}: v_reset {float(v_reset[np.argmax(np.abs(v_reset))]):.4g} != 0 is not supported (reset to zero only)")
            if (thr <= 0).any():
                raise NIRError(f"node {name!r}: thresholds must be > 0")
        else:
            thr = np.ones(n)
        # Equalise thresholds: neuron j's input is scaled by c_j = thr_ref / thr_j (spikes unchanged).
        thr_ref = float(np.max(thr))
        c = thr_ref / thr
        if spiking and not np.allclose(c, 1):
            rep.notes.append(f"node {name!r}: per-neuron thresholds differ; each neuron's input was rescaled to threshold {thr_ref:.4g}")
        blocks, bias = [], drive * c
        any_bias = bool(np.any(drive != 0))
        for src, w, b in sources[name]:
            blocks.append((src, w * (gain * c)[None, :]))
            if b is not None:
                bias = bias + b * gain * c
                any_bias = any_bias or bool(np.any(b != 0))
        wmax = max(float(np.abs(w).max(initial=0)) for _, w in blocks)
        if wmax == 0:
            raise NIRError(f"node {name!r}: all its weights are zero")
        log2s = math.ceil(math.log2(wmax / qmax))
        stored = stored_scales.get(name)
        if stored:  # our own export: keep its scale when every weight is an integer multiple of it
            ls = math.log2(stored)
            if ls == int(ls) and all(np.abs(w / stored).max(initial=0) <= qmax and np.all(np.round(w / stored) * stored == w) for _, w in blocks):
                log2s = int(ls)
        s = 2.0**log2s
        qsrc, errs = [], []
        for src, w in blocks:
            wq = np.clip(np.round(w / s), -qmax, qmax)
            errs.append((w - wq * s).ravel())
            if kinds[src] == "input":
                delay = 0
            else:
                delay = 1 if (src == name or pos[src] > li) else 0
            qsrc.append(Source(src, wq.astype(np.int16 if bits > 8 else np.int8), bits, delay))
        err = np.concatenate(errs)
        thr_int = int(round(thr_ref / s)) if spiking else 1
        if spiking and cmp_ == ">":
            thr_int += 1  # v > θ  <=>  v >= θ + 1 on integers
        if spiking and thr_int > vmax:
            raise NIRError(
                f"node {name!r}: threshold {thr_ref:.4g} is {thr_int} weight units, beyond the {v_bits}-bit membrane; "
                "use fewer --bits or a wider membrane"
            )
        thr_int = max(1, min(thr_int, vmax))
        bias_int = None
        if any_bias:
            bias_int = np.clip(np.round(bias / s), -vmax - 1, vmax).astype(np.int32)
        allw = np.concatenate([w.ravel() for _, w in blocks])
        rep.errors[name] = {
            "log2_scale": float(log2s),
            "weight_rms": float(np.sqrt(np.mean(err**2))),
            "weight_rel": float(np.sqrt(np.mean(err**2)) / max(1e-30, np.sqrt(np.mean(allw**2)))),
            "weight_max": float(np.abs(err).max()),
            "threshold": thr_ref,
            "threshold_int": float(thr_int),
            "threshold_err": float(abs(thr_ref - round(thr_ref / s) * s)) if spiking else 0.0,
        }
        layers.append(Layer(name=name, n=n, sources=qsrc, threshold=thr_int, leak_shift=k, reset="zero", v_bits=v_bits,
                            spiking=spiking if name != readout else False, bias=bias_int))
    if type(nodes[readout]).__name__ in ("LIF", "IF"):
        rep.notes.append(
            f"output node {readout!r} spikes in the source model; here it is the non-spiking readout "
            "(class = argmax of its membrane after the last step, not of its spike count)"
        )
    if cmp_ == ">":
        rep.notes.append("threshold comparison '>' (NIR, snnTorch, Norse) made exact as '>= threshold + 1' on integers")
    n_out = layers[-1].n
    cls = classes or [str(c) for c in meta.get("classes", [])] or [f"class{i}" for i in range(n_out)]
    if len(cls) != n_out:
        raise NIRError(f"{len(cls)} class names for an output of {n_out} neurons")
    T = timesteps or int(meta.get("timesteps", 0) or 0)
    if not T:
        T = 40
        rep.notes.append("graph metadata has no 'timesteps': used T = 40 (pass --timesteps)")
    net = QNet(classes=list(cls), timesteps=T, inputs=groups, layers=layers,
               metadata={"imported_from": "nir", "dt": dt, "import_notes": rep.notes,
                         "weight_scales": {k_: 2.0 ** v["log2_scale"] for k_, v in rep.errors.items()}})
    return net.validate("imported NIR graph"), rep


def import_nir(path: str | Path, out: str | Path, bits: int = 8, **kw: Any) -> tuple[QNet, ImportReport]:
    """``eavs nir import``: read a NIR file with ``nir.read``, quantize, write a ``.qnet``."""
    import nir

    from sw.qnet import save

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIR file")
    try:
        graph = nir.read(str(path))
    except Exception as e:  # h5py / nir raise many kinds
        raise NIRError(f"{path}: not a readable NIR file: {e}") from None
    net, rep = from_nir(graph, bits=bits, **kw)
    save(net, out)
    return net, rep
