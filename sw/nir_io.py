"""NIR (Neuromorphic Intermediate Representation, nir 1.0) export and import.

Discrete-time mapping
---------------------
NIR describes continuous-time neurons; our network is discrete (docs/design.md
section 3). With a forward-Euler step ``dt`` (snnTorch's convention, also
Norse's and Sinabs' for LIF)::

    tau dv/dt = (v_leak - v) + R I      ->   v[t+1] = v + (dt/tau) (v_leak - v + R I)

so our per-neuron decay ``v - (v * d) >> 12`` is ``dt/tau = d/4096``
(``beta = 1 - d/4096``), i.e. **tau = dt * 4096/d**, and ``R = tau/dt``
makes the input gain ``dt R / tau`` exactly 1 (what snnTorch writes for a
``Leaky``). A layer with d = 0 (no leak) is an ``IF`` neuron (``R = 1``:
``v += I`` per step); a membrane readout is ``LI`` (or ``I``, the
integrator, when d = 0), a spike-count readout a ``LIF``/``IF``. On import
``d = round(4096 dt / tau)`` per neuron: beta = 0.9 gives d = 410, i.e.
beta 0.899902; the report says so. Weights and thresholds are written
in real units (integer weight x the layer's power-of-two scale), so a
framework that imports the graph sees the trained values. The graph's
metadata holds ``dt``, the class names, T, the input groups' encoder
parameters and the note that the threshold comparison is ``>=``.

Our reset by subtraction has no NIR equivalent (NIR's LIF/IF reset *to*
``v_reset``), so such models are refused, not exported as something else.

Reset, and what a file cannot say
---------------------------------
snnTorch's ``export_to_nir`` writes ``v_reset = 0`` for both of its reset
mechanisms, and ``subtract`` is its default, so a graph that looks like
snnTorch's (LIF nodes with ``r = tau/dt``, ``v_leak = 0``, ``v_reset = 0``
and no ``eavs-tf`` metadata) is imported as zero reset *with a warning*,
unless the caller declares the source's reset (``reset="subtract"``,
``eavs nir import --reset subtract``). snnTorch subtracts the threshold
*after* the decay (``m' = beta m + I - theta S``), our contract before it
(``v' = beta (v - theta) + I``); the import makes them agree by adding a
self-recurrent (delay 1) weight ``theta_int - theta/s - d theta_int/4096``
on each neuron's diagonal, which also absorbs the ``+1`` of a ``>``
threshold. snnTorch's ``RLeaky`` with zero reset also throws away the input
of the step after a spike; that is invisible in the file and not modelled,
and the import says so.

Scale
-----
A layer's weights, bias and threshold share one power-of-two scale ``s``.
It is the finest scale at which (a) every weight fits ``bits`` and (b) the
threshold is at most 1/16 of the membrane's positive range, so membranes
from about -16 to +16 thresholds are represented without the clamp that a
float framework does not have. With 16-bit weights and a 24-bit membrane an
snnTorch network's threshold is ~10^5 units, so the decay's floor (at most
one unit per step) and the rounding of weights are far below anything that
moves a spike.
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
names it. :func:`from_nir` is the list of these passes, in order, each a
short function of its own (``check_options``, ``step_dt``, ``read_graph``,
``neuron_sources``, ``output_neuron``, ``layer_order``,
``threshold_comparison`` / ``reset_mode`` / ``readout_mode``,
``input_groups``, ``quantize_layer``, ``readout_notes``,
``class_names_and_T``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sw.qnet import DECAY_ONE, InputGroup, Layer, QNet, Source, decay_from_leak

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
        d = np.asarray(layer.decay)
        if (d == 0).any() and (d != 0).any():
            raise NIRError(
                f"layer {layer.name!r} mixes non-leaky (d = 0) and leaky neurons; NIR has one neuron type per node "
                "(IF or LIF): give every neuron of the layer a decay > 0, or none"
            )
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for g in net.inputs:
        nodes[g.name] = nir.Input(input_type=np.array([g.size]))
    for layer in net.layers:
        s = _scale_of(net, layer)
        n = layer.n
        d = np.asarray(layer.decay, np.float64)
        leaky = bool((d != 0).all())
        ones = np.ones(n)
        tau = dt * DECAY_ONE / np.where(d == 0, 1, d)  # dt/tau = d/4096
        r = DECAY_ONE / np.where(d == 0, 1, d)  # r = tau/dt: input gain 1
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
            if leaky:
                nodes[layer.name] = nir.LIF(tau=tau, r=r, v_leak=0 * ones, v_threshold=thr, v_reset=0 * ones)
            else:
                nodes[layer.name] = nir.IF(r=ones, v_threshold=thr, v_reset=0 * ones)
        elif leaky:
            nodes[layer.name] = nir.LI(tau=tau, r=r, v_leak=0 * ones)
        else:
            nodes[layer.name] = nir.I(r=ones)
    nodes["output"] = nir.Output(output_type=np.array([net.readout.n]))
    edges.append((net.readout.name, "output"))
    meta = {
        "dt": dt,
        "framework": "eavs-tf",
        "classes_json": _json(list(net.classes)),  # a list of str comes back from HDF5 as bytes
        "timesteps": int(net.timesteps),
        "threshold_comparison": ">=",
        "inputs_json": _json([{"name": g.name, "size": g.size, "encoder": g.encoder} for g in net.inputs]),
        "v_bits": int(max(layer.v_bits for layer in net.layers)),
        "weight_scales_json": _json({layer.name: _scale_of(net, layer) for layer in net.layers}),
        "readout": "spikes" if net.readout.readout == "spikes" else "membrane",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _json(obj: Any) -> str:
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
    #: Where the time step came from ("given", the graph's metadata, or assumed), for error messages.
    dt_source: str = ""

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


# The import runs as named passes, in the order :func:`from_nir` lists them:
# option checks, the step dt, node classification, each neuron's sources, the
# output neuron, topological order, comparison / reset / readout inference,
# input groups, per-layer quantisation, readout notes, classes and T. Each pass
# is a short function of plain values (tests/test_nir_passes.py checks them one
# by one); the ones that approximate add a line to the :class:`ImportReport`.


def check_options(bits: int, v_bits: int, reset: str | None, readout: str | None) -> None:
    """Pass 1: the caller's options, before anything is read from the graph."""
    if not 2 <= bits <= 16:
        raise NIRError(f"--bits must be in 2..16, not {bits}")
    if not 2 <= v_bits <= 32:
        raise NIRError(f"--v-bits must be in 2..32, not {v_bits}")
    if reset not in (None, "zero", "subtract"):
        raise NIRError(f"--reset must be 'zero' or 'subtract', not {reset!r}")
    if readout not in (None, "membrane", "spikes"):
        raise NIRError(f"--readout must be 'membrane' or 'spikes', not {readout!r}")


def step_dt(meta: dict[str, Any], rep: ImportReport, dt: float | None = None) -> float:
    """Pass 2: the discrete time step: the caller's ``dt``, else the graph's metadata, else
    snnTorch's export step (noted); ``rep.dt_source`` says which, for later errors."""
    if dt is not None:
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (np.isfinite(dt) and dt > 0):
            raise NIRError(f"--dt must be a time step in seconds > 0, not {dt!r}")
        rep.dt_source = "given"
    elif meta.get("dt") is not None:
        dt, rep.dt_source = meta["dt"], "from the graph's metadata"
    else:
        dt, rep.dt_source = DEFAULT_DT, "assumed: the graph has no 'dt'"
        rep.notes.append(f"graph metadata has no 'dt': assumed {DEFAULT_DT} s (snnTorch's export step); set it with --dt SECONDS")
    return float(np.asarray(dt))


def classify_nodes(nodes: dict[str, Any]) -> dict[str, str]:
    """Pass 3: each node's kind (``input``, ``output``, ``linear``, ``neuron``); any other node is an error."""
    import nir

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
    return kinds


def incoming_edges(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Pass 3b: the nodes feeding each node; an edge naming a missing node is an error."""
    incoming: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NIRError(f"edge {a!r} -> {b!r} names a node that is not in the graph")
        incoming[b].append(a)
    return incoming


def neuron_sources(g: _Graph) -> dict[str, list[tuple[str, np.ndarray, np.ndarray | None]]]:
    """Pass 4: each neuron's sources: (Input or neuron it reads, weight ``[n_src, n]``, Affine bias or None)."""
    import nir

    sources = {}
    for nn_ in g.neurons:
        lst = []
        for lin in g.incoming[nn_]:
            if g.kinds[lin] != "linear":
                raise NIRError(f"node {nn_!r}: input from {lin!r} ({type(g.nodes[lin]).__name__}) is not a Linear/Affine")
            srcs = g.incoming[lin]
            if len(srcs) != 1 or g.kinds[srcs[0]] not in ("input", "neuron"):
                raise NIRError(f"node {lin!r}: must have exactly one input that is an Input or a neuron, not {srcs}")
            node = g.nodes[lin]
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2:
                raise NIRError(f"node {lin!r}: weight must be a matrix, not shape {w.shape}")
            b = np.asarray(node.bias, np.float64).reshape(-1) if isinstance(node, nir.Affine) else None
            lst.append((srcs[0], w.T, b))
        if not lst:
            raise NIRError(f"node {nn_!r}: no Linear/Affine feeds it")
        sources[nn_] = lst
    return sources


def output_neuron(g: _Graph) -> str:
    """Pass 5: the neuron that feeds the single Output node (the readout layer)."""
    outputs = [n for n in g.nodes if g.kinds[n] == "output"]
    out_src = g.incoming[outputs[0]]
    if len(out_src) != 1 or g.kinds[out_src[0]] != "neuron":
        raise NIRError(f"the Output node must be fed by one neuron node, not {out_src}")
    return out_src[0]


def layer_order(g: _Graph, sources: dict[str, list], out_node: str) -> list[str]:
    """Pass 6: topological order over feed-forward edges, the output neuron last.

    An edge into a neuron that is already placed, or into itself, is a
    recurrent (delay 1) edge; in a cycle the first pending neuron is placed
    and its unplaced sources become recurrent.
    """
    order: list[str] = []
    placed: set[str] = set()
    pending = [n for n in g.neurons if n != out_node] + [out_node]
    while pending:
        for n in pending:
            deps = [s for s, _, _ in sources[n] if g.kinds[s] == "neuron" and s != n and s not in placed]
            if not deps:
                break
        else:
            n = pending[0]
        order.append(n)
        placed.add(n)
        pending.remove(n)
    if order[-1] != out_node:
        raise NIRError(f"the output neuron {out_node!r} must come last, but {order[-1]!r} depends on it")
    return order


def threshold_comparison(comparison: str | None, meta: dict[str, Any]) -> str:
    """Pass 7a: ``>`` (NIR's, snnTorch's) or ``>=`` (ours): the caller's, else the metadata's, else ``>``."""
    cmp_ = comparison or str(meta.get("threshold_comparison", ">"))
    if cmp_ not in (">", ">="):
        raise NIRError(f"threshold comparison must be '>' or '>=', not {cmp_!r}")
    return cmp_


def _snn_like(node: Any, dt: float) -> bool:
    """Whether a LIF node has snnTorch's export parameters (``r = tau/dt``, ``v_leak = v_reset = 0``)."""
    try:
        tau, r = np.asarray(node.tau, np.float64), np.asarray(node.r, np.float64)
        return (np.allclose(r * dt, tau, rtol=1e-5) and np.allclose(np.asarray(node.v_leak, np.float64), 0)
                and np.allclose(np.asarray(node.v_reset, np.float64), 0))  # fmt: skip
    except (TypeError, ValueError):
        return False


def reset_mode(g: _Graph, sources: dict[str, list], dt: float, reset: str | None, rep: ImportReport) -> str:
    """Pass 7b: the reset (the caller's, else zero), noting what an snnTorch-like file cannot say."""
    lifs = [n for n in g.neurons if type(g.nodes[n]).__name__ == "LIF"]
    snntorch_like = not g.ours and bool(lifs) and all(_snn_like(g.nodes[n], dt) for n in lifs)
    if snntorch_like and reset is None:
        rep.notes.append(
            "the graph looks like snnTorch's export_to_nir, which writes v_reset = 0 for reset_mechanism 'zero' "
            "and 'subtract' (snnTorch's default) alike: the file cannot say which; imported as zero reset. "
            "Pass --reset subtract if the source subtracts the threshold"
        )
    mode = reset or "zero"
    rec_lifs = sorted({n for n in g.neurons for s_, _, _ in sources[n] if s_ == n})
    if snntorch_like and rec_lifs and mode != "subtract":
        rep.notes.append(
            f"node(s) {rec_lifs} look like snnTorch's RLeaky: with zero reset snnTorch also discards the input of "
            "the step after a spike, which the file cannot show and this import does not model "
            "(with reset_mechanism='subtract', declared by --reset subtract, it is exact)"
        )
    return mode


def readout_mode(g: _Graph, out_node: str, readout: str | None) -> str:
    """Pass 7c: ``spikes`` (argmax of spike counts) or ``membrane``: the caller's, else our metadata's, else the output node's kind."""
    spikes = type(g.nodes[out_node]).__name__ in ("LIF", "IF")
    if readout is None and "readout" in g.meta:
        mode = "spikes" if str(g.meta["readout"]) == "spikes" and spikes else "membrane"
    else:
        mode = readout or ("spikes" if spikes else "membrane")
    if mode == "spikes" and not spikes:
        raise NIRError(f"--readout spikes: the output node {out_node!r} is a {type(g.nodes[out_node]).__name__}, which does not spike")
    return mode


def input_groups(g: _Graph) -> list[InputGroup]:
    """Pass 8: one input group per Input node, with the encoder parameters our export recorded."""
    meta_inputs = {}
    if "inputs_json" in g.meta:
        meta_inputs = {grp["name"]: grp for grp in json.loads(str(g.meta["inputs_json"]))}
    inputs = [n for n in g.nodes if g.kinds[n] == "input"]
    return [InputGroup(name, _size(g.nodes[name]), dict(meta_inputs.get(name, {}).get("encoder", {}))) for name in inputs]


@dataclass(frozen=True)
class _Quant:
    """The options of pass 9: weight and membrane widths, threshold comparison, reset of spiking layers."""

    bits: int
    v_bits: int
    comparison: str
    reset: str

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def vmax(self) -> int:
        return (1 << (self.v_bits - 1)) - 1

    @property
    def wdtype(self) -> type:
        return np.int16 if self.bits > 8 else np.int8


def neuron_dynamics(name: str, node: Any, n: int, dt: float, rep: ImportReport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 9a: per neuron, the integer decay ``d = round(4096 dt/tau)``, the input gain and the leak drive.

    LIF/LI: gain ``dt R/tau``, drive ``(dt/tau) v_leak``; IF/I: no leak, gain ``R``.
    """
    r = _arr(node.r, n, f"node {name!r} r")
    if type(node).__name__ not in ("LIF", "LI"):
        return np.zeros(n, np.int32), r, np.zeros(n)
    tau = _arr(node.tau, n, f"node {name!r} tau")
    if (tau <= 0).any():
        raise NIRError(f"node {name!r}: tau must be > 0")
    alpha = dt / tau  # leak fraction per step
    gain = dt * r / tau
    drive = alpha * _arr(node.v_leak, n, f"node {name!r} v_leak")
    if (alpha > 1 + 1e-9).any():
        raise NIRError(f"node {name!r}: dt/tau = {alpha.max():.3g} > 1 is unstable in discrete time "
                       f"(dt = {dt:g} s, {rep.dt_source or 'given'}; give the source's step with `eavs nir import --dt SECONDS`)")
    x = alpha * DECAY_ONE
    decay = decay_from_leak(alpha).astype(np.int32)  # d = round(4096 dt/tau), half up
    off = np.abs(x - decay) > 1e-6 * np.maximum(1.0, x)
    if off.any():
        j = int(np.argmax(off))
        rep.notes.append(
            f"node {name!r}: {int(off.sum())} of {n} decays dt/tau are not multiples of 1/4096; "
            f"used d = round(4096 dt/tau), e.g. beta {1 - alpha[j]:.6g} -> {1 - decay[j] / DECAY_ONE:.6g} (d = {decay[j]})"
        )
    return decay, gain, drive


def neuron_thresholds(name: str, node: Any, n: int, spiking: bool) -> np.ndarray:
    """Pass 9b: per-neuron thresholds (> 0, reset to zero only); 1 for a non-spiking layer."""
    if not spiking:
        return np.ones(n)
    thr = _arr(node.v_threshold, n, f"node {name!r} v_threshold")
    v_reset = _arr(node.v_reset, n, f"node {name!r} v_reset") if getattr(node, "v_reset", None) is not None else np.zeros(n)
    if not np.allclose(v_reset, 0):
        raise NIRError(f"node {name!r}: v_reset {float(v_reset[np.argmax(np.abs(v_reset))]):.4g} != 0 is not supported (reset to zero only)")
    if (thr <= 0).any():
        raise NIRError(f"node {name!r}: thresholds must be > 0")
    return thr


def fold_inputs(srcs: list[tuple[str, np.ndarray, np.ndarray | None]], gain: np.ndarray, c: np.ndarray,
                drive: np.ndarray) -> tuple[list[tuple[str, np.ndarray]], np.ndarray, bool]:  # fmt: skip
    """Pass 9c: fold gain and threshold equalisation ``c`` into the weights; the drive and Affine biases into one bias.

    Returns the real-valued weight blocks, the bias and whether any bias is non-zero.
    """
    blocks, bias = [], drive * c
    any_bias = bool(np.any(drive != 0))
    for src, w, b in srcs:
        blocks.append((src, w * (gain * c)[None, :]))
        if b is not None:
            bias = bias + b * gain * c
            any_bias = any_bias or bool(np.any(b != 0))
    return blocks, bias, any_bias


def layer_scale(name: str, blocks: list[tuple[str, np.ndarray]], thr_ref: float, spiking: bool, stored: float | None, q: _Quant) -> int:
    """Pass 9d: log2 of the layer's first-choice scale (see "Scale" above; our own export's scale is kept when exact)."""
    wmax = max(float(np.abs(w).max(initial=0)) for _, w in blocks)
    if wmax == 0:
        raise NIRError(f"node {name!r}: all its weights are zero")
    log2s = math.ceil(math.log2(wmax / q.qmax))
    if spiking and not stored:
        # the finest scale at which the threshold stays within 1/16 of the membrane's positive range
        log2s = max(log2s, math.ceil(math.log2(thr_ref * 16 / q.vmax)))
    if stored:  # our own export: keep its scale when every weight is an integer multiple of it
        ls = math.log2(stored)
        if ls == int(ls) and all(np.abs(w / stored).max(initial=0) <= q.qmax
                                 and np.allclose(np.round(w / stored) * stored, w, rtol=1e-9, atol=0) for _, w in blocks):  # fmt: skip
            log2s = int(ls)
    return log2s


def integer_threshold(name: str, thr_ref: float, s: float, spiking: bool, q: _Quant) -> int:
    """Pass 9e: the threshold in weight units; ``>`` becomes ``>= threshold + 1`` on integers."""
    thr_int = int(round(thr_ref / s)) if spiking else 1
    if spiking and q.comparison == ">":
        thr_int += 1  # v > θ  <=>  v >= θ + 1 on integers
    if spiking and thr_int > q.vmax:
        raise NIRError(
            f"node {name!r}: threshold {thr_ref:.4g} is {thr_int} weight units, beyond the {q.v_bits}-bit membrane; "
            "use fewer --bits or a wider membrane"
        )
    return max(1, min(thr_int, q.vmax))


def subtract_correction(name: str, n: int, qsrc: list[Source], comp: np.ndarray, q: _Quant) -> bool:
    """Pass 9f: add the subtract-reset correction ``comp`` on the self-recurrent diagonal; False if it does not fit.

    snnTorch: ``m' = beta m + I - theta S``. Ours: ``v' = beta (v - theta_int) + I`` (+ W S on the diagonal):
    ``W = theta_int - theta/s - d theta_int / 4096`` makes the two equal (up to the floor).
    """
    self_src = [src for src in qsrc if src.name == name]
    if self_src:
        wq = self_src[0].weight.astype(np.int64)
        wq[np.arange(n), np.arange(n)] += comp
        if np.abs(wq).max() > q.qmax:
            return False
        self_src[0].weight = wq.astype(self_src[0].weight.dtype)
    elif comp.any():
        if np.abs(comp).max() > q.qmax:
            return False
        qsrc.append(Source(name, np.diag(comp).astype(q.wdtype), q.bits, 1))
    return True


def quantize_weights(name: str, blocks: list[tuple[str, np.ndarray]], delays: dict[str, int], log2s: int, thr_ref: float,
                     spiking: bool, decay: np.ndarray, q: _Quant) -> tuple[int, list[Source], np.ndarray, int]:  # fmt: skip
    """Pass 9g: round the weights and threshold at scale ``2^log2s``, coarsening it until the subtract-reset correction fits.

    Returns the scale's log2, the integer sources, the weights' rounding errors and the integer threshold.
    """
    n = blocks[0][1].shape[1]
    for _attempt in range(64):
        s = 2.0**log2s
        qsrc, errs = [], []
        for src, w in blocks:
            wq = np.clip(np.round(w / s), -q.qmax, q.qmax)
            errs.append((w - wq * s).ravel())
            qsrc.append(Source(src, wq.astype(q.wdtype), q.bits, delays[src]))
        thr_int = integer_threshold(name, thr_ref, s, spiking, q)
        if spiking and q.reset == "subtract" and (decay != 0).any():
            comp = np.round(thr_int - thr_ref / s - decay * thr_int / DECAY_ONE).astype(np.int64)
            if not subtract_correction(name, n, qsrc, comp, q):
                log2s += 1
                continue
        return log2s, qsrc, np.concatenate(errs), thr_int
    raise NIRError(f"node {name!r}: no scale fits the subtract-reset correction in {q.bits}-bit weights")


def quantize_layer(g: _Graph, name: str, srcs: list, delays: dict[str, int], dt: float, q: _Quant, rep: ImportReport,
                   readout: str | None = None) -> Layer:  # fmt: skip
    """Pass 9: one neuron node as an integer :class:`Layer`; ``readout`` (``spikes``/``membrane``) for the last layer only.

    Per-neuron thresholds are equalised by scaling each neuron's input by
    ``c_j = thr_ref / thr_j`` (spikes unchanged); the quantisation error goes
    into ``rep.errors[name]``.
    """
    node = g.nodes[name]
    n = srcs[0][1].shape[1]  # from the weights: exporters may write 0-d (shared) parameters
    for _, w, _ in srcs:
        if w.shape[1] != n:
            raise NIRError(f"node {name!r}: its Linear inputs have {w.shape[1]} and {n} outputs")
    spiking = type(node).__name__ in ("LIF", "IF")
    decay, gain, drive = neuron_dynamics(name, node, n, dt, rep)
    thr = neuron_thresholds(name, node, n, spiking)
    thr_ref = float(np.max(thr))
    c = thr_ref / thr
    if spiking and not np.allclose(c, 1):
        rep.notes.append(f"node {name!r}: per-neuron thresholds differ; each neuron's input was rescaled to threshold {thr_ref:.4g}")
    blocks, bias, any_bias = fold_inputs(srcs, gain, c, drive)
    log2s = layer_scale(name, blocks, thr_ref, spiking, g.stored_scales.get(name), q)
    log2s, qsrc, err, thr_int = quantize_weights(name, blocks, delays, log2s, thr_ref, spiking, decay, q)
    s = 2.0**log2s
    bias_int = np.clip(np.round(bias / s), -q.vmax - 1, q.vmax).astype(np.int32) if any_bias else None
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
    return Layer(name=name, n=n, sources=qsrc, threshold=thr_int, reset=q.reset if spiking else "zero", v_bits=q.v_bits,
                 spiking=spiking if readout is None else readout == "spikes", bias=bias_int, decay=decay,
                 readout=readout or "membrane")  # fmt: skip


def source_delays(g: _Graph, order: list[str], name: str, srcs: list) -> dict[str, int]:
    """Pass 9 (wiring): delay 0 from an Input or an earlier layer, 1 from itself or a later layer (recurrence)."""
    pos = {n: i for i, n in enumerate(order)}
    li = pos[name]
    return {src: 0 if g.kinds[src] == "input" else (1 if (src == name or pos[src] > li) else 0) for src, _, _ in srcs}


def readout_notes(g: _Graph, out_node: str, mode: str, comparison: str, rep: ImportReport) -> None:
    """Pass 10: say how the output is read and how a ``>`` comparison was made exact."""
    spikes = type(g.nodes[out_node]).__name__ in ("LIF", "IF")
    if spikes and mode == "spikes" and not g.ours:
        rep.notes.append(
            f"output node {out_node!r} spikes in the source model: class = argmax of its spike counts over the "
            "sample (readout='spikes'; --readout membrane to classify by its membrane)"
        )
    elif spikes and mode == "membrane":
        rep.notes.append(
            f"output node {out_node!r} spikes in the source model; here it is the non-spiking readout "
            "(class = argmax of its membrane after the last step, not of its spike count)"
        )
    if comparison == ">":
        rep.notes.append("threshold comparison '>' (NIR, snnTorch, Norse) made exact as '>= threshold + 1' on integers")


def class_names_and_T(meta: dict[str, Any], n_out: int, classes: list[str] | None, timesteps: int | None,
                      rep: ImportReport) -> tuple[list[str], int]:  # fmt: skip
    """Pass 11: the class names (the caller's, the metadata's, else ``class0..``) and T (else 40, noted)."""
    cls = classes or _class_names(meta) or [f"class{i}" for i in range(n_out)]
    if len(cls) != n_out:
        raise NIRError(f"{len(cls)} class names for an output of {n_out} neurons")
    T = timesteps or int(meta.get("timesteps", 0) or 0)
    if not T:
        T = 40
        rep.notes.append("graph metadata has no 'timesteps': used T = 40 (pass --timesteps)")
    return list(cls), T


@dataclass
class _Graph:
    """A flattened NIR graph with what the passes read: nodes, their kinds, incoming edges, the metadata."""

    nodes: dict[str, Any]
    kinds: dict[str, str]
    incoming: dict[str, list[str]]
    meta: dict[str, Any]

    @property
    def neurons(self) -> list[str]:
        return [n for n in self.nodes if self.kinds[n] == "neuron"]

    @property
    def ours(self) -> bool:
        """Written by our own :func:`to_nir` (its metadata says so)."""
        return str(self.meta.get("framework", "")) == "eavs-tf"

    @property
    def stored_scales(self) -> dict[str, float]:
        """Our export's per-layer power-of-two scales, if the graph carries them."""
        if "weight_scales_json" not in self.meta:
            return {}
        return {k: float(v) for k, v in json.loads(str(self.meta["weight_scales_json"])).items()}


def read_graph(graph: Any) -> _Graph:
    """Passes 3-3b: flatten subgraphs, classify the nodes, index the edges; check Input / Output / neuron counts."""
    nodes, edges = _flatten(graph)
    kinds = classify_nodes(nodes)
    g = _Graph(nodes, kinds, incoming_edges(nodes, edges), dict(getattr(graph, "metadata", None) or {}))
    outputs = [n for n in nodes if kinds[n] == "output"]
    if not any(k == "input" for k in kinds.values()):
        raise NIRError("graph has no Input node")
    if len(outputs) != 1:
        raise NIRError(f"graph must have exactly one Output node, not {len(outputs)} ({outputs})")
    if not g.neurons:
        raise NIRError("graph has no neuron node (LIF, IF, LI or I)")
    return g


def from_nir(
    graph: Any,
    bits: int = 8,
    v_bits: int = 16,
    timesteps: int | None = None,
    classes: list[str] | None = None,
    comparison: str | None = None,
    reset: str | None = None,
    readout: str | None = None,
    dt: float | None = None,
) -> tuple[QNet, ImportReport]:
    """Quantize a NIR graph into a :class:`QNet`; returns it with an :class:`ImportReport`.

    ``dt`` (s) is the source's time step; given, it overrides the graph's
    metadata (Norse, for one, writes none); absent from both, snnTorch's
    :data:`DEFAULT_DT` is assumed and the report says so.

    ``reset`` declares the source's reset (``zero`` or ``subtract``), which a
    NIR file cannot say for snnTorch; None imports zero reset and warns when
    the graph looks like snnTorch's. ``readout`` (``membrane``/``spikes``)
    overrides the choice made from the output node (spikes when it spikes).
    """
    check_options(bits, v_bits, reset, readout)
    rep = ImportReport()
    g = read_graph(graph)
    dt = step_dt(g.meta, rep, dt)
    sources = neuron_sources(g)
    out_node = output_neuron(g)
    order = layer_order(g, sources, out_node)
    q = _Quant(bits, v_bits, threshold_comparison(comparison, g.meta), reset_mode(g, sources, dt, reset, rep))
    mode = readout_mode(g, out_node, readout)
    groups = input_groups(g)
    layers = [quantize_layer(g, name, sources[name], source_delays(g, order, name, sources[name]), dt, q, rep,
                             readout=mode if name == out_node else None) for name in order]  # fmt: skip
    readout_notes(g, out_node, mode, q.comparison, rep)
    cls, T = class_names_and_T(g.meta, layers[-1].n, classes, timesteps, rep)
    net = QNet(classes=cls, timesteps=T, inputs=groups, layers=layers,
               metadata={"imported_from": "nir", "dt": dt, "import_notes": rep.notes,
                         "weight_scales": {k_: 2.0 ** v["log2_scale"] for k_, v in rep.errors.items()}})  # fmt: skip
    return net.validate("imported NIR graph"), rep


def _class_names(meta: dict[str, Any]) -> list[str]:
    """Class names from graph metadata: our ``classes_json``, or a ``classes`` list (HDF5 gives bytes back)."""
    if "classes_json" in meta:
        return [str(c) for c in json.loads(str(meta["classes_json"]))]
    out = []
    for c in np.asarray(meta.get("classes", []), dtype=object).reshape(-1).tolist():
        out.append(c.decode("utf-8") if isinstance(c, (bytes, np.bytes_)) else str(c))
    return out


def import_nir(path: str | Path, out: str | Path, bits: int = 8, **kw: Any) -> tuple[QNet, ImportReport]:
    """``eavs nir import``: read a NIR file with ``nir.read``, quantize, write a ``.qnet``.

    Read with ``type_check=False``: nir's type inference rejects graphs whose
    neuron parameters are 0-d or of shape (1,) (shared by all neurons, as
    Norse and Sinabs write them) though they are valid; the import checks
    every size itself (from the weights) and broadcasts such parameters.
    """
    import nir

    from sw.qnet import save

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIR file")
    try:
        graph = nir.read(str(path), type_check=False)
    except Exception as e:  # h5py / nir raise many kinds
        raise NIRError(f"{path}: not a readable NIR file: {e}") from None
    net, rep = from_nir(graph, bits=bits, **kw)
    save(net, out)
    return net, rep
