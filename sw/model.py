"""EAVS-TF, the spiking audio-visual network, in torch + Brevitas.

The network (issue 4, DESIGN.md section 3)::

    audio spikes  --> [audio  LIF] --\
                                      >--> [fusion LIF] --> [readout LI] --> class
    visual spikes --> [visual LIF] --/        ^     |
                                              +-----+  own spikes of step t-1

Every layer is one Brevitas ``QuantLinear`` over the concatenation of its
sources, so all sources of a layer share **one** power-of-two weight scale
``s`` (a fixed-point quantizer): the fusion layer's audio, visual and
recurrent weight blocks are rows of one matrix, which the export splits
back into sources. Membrane, threshold and bias live in units of ``s``:

* threshold ``theta_int = round(theta / s)`` (``theta`` a configured real
  value, 1.0 by default), bias ``b_int = round(b / s)``;
* ``I = b_int + sum of W_int rows of the inputs that spiked`` (recurrent
  rows: the layer's own spikes of the step before);
* ``v' = v - floor(v / 2^k) + I`` (k = 0: no leak), clamped to ``v_bits``;
* ``spike = v' >= theta_int``, reset to zero or by subtraction;
* the readout does not spike; its membrane after step T-1 is the output.

In **eval mode** the forward runs in float64 on integer-valued tensors
(``quant_weight().int()``, the rounded threshold and bias), so every value
is an exact integer and the result equals :func:`sw.golden.run` bit for bit
(the export reads the same integers through :meth:`EAVSNet.integer_layers`).
In **training mode** the same equations run in float32 with straight-through
estimators for the rounding, the leak's floor and the clamp, and a
fast-sigmoid surrogate gradient for the spike.

A layer may read itself with delay 1 (recurrence) but no *later* layer, so the
forward evaluates layer by layer over all timesteps: the feed-forward input
current of all T steps is one matrix product, and only the membrane update
(and the recurrent product) loops over time. This is the same computation as
the step-by-step order of DESIGN.md section 3 because nothing flows backwards
across layers within a sample.

``weight_bits=0`` gives the **float** reference model (plain weights, no
rounding, no floor, no clamp) used to measure what quantization costs; it
cannot be exported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

__all__ = ["ModelConfig", "LayerSpec", "EAVSNet", "ModelConfigError", "spike_fn"]

MODALITIES = ("audio", "visual")


class ModelConfigError(ValueError):
    """A model configuration value is out of range."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the network: its size, sources and neuron parameters.

    ``sources`` lists ``(name, delay)``: an input group or an earlier layer
    with delay 0, or the layer itself with delay 1 (recurrence).
    """

    name: str
    n: int
    sources: tuple[tuple[str, int], ...]
    leak_shift: int
    spiking: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's shape and arithmetic.

    The defaults fit :class:`hw.capacity.Capacity`'s defaults (the smallest
    board): 4 layers, at most 256 neurons and 3 sources per layer, 8-bit
    weights, 16-bit membranes, 6208 weight words of 8 lanes.

    Attributes
    ----------
    inputs : dict of group name -> size
        Input groups in flat-index order (``sw.encode.input_groups``).
    classes : tuple of str
        Class names, in readout order.
    timesteps : int
        T.
    modalities : tuple of str
        Which of ``audio`` / ``visual`` feed the network (ablations use one).
    audio_hidden, visual_hidden, fusion_hidden : int
        Neurons of the branch layers and the fusion layer.
    recurrent : bool
        Fusion layer reads its own previous-step spikes.
    weight_bits : int
        2..8 for QAT; 0 for the float reference model.
    v_bits : int
        Signed membrane width.
    leak_shift, fusion_leak_shift, readout_leak_shift : int
        k of ``v - (v >> k)`` for the branches, the fusion and the readout.
    reset : str
        ``zero`` or ``subtract``.
    threshold : float
        Firing threshold in real units (weights are real-valued); divided by
        each layer's weight scale to give its integer threshold.
    bias : bool
        Give every layer a bias.
    """

    inputs: dict[str, int] = field(default_factory=lambda: {"audio": 64, "visual": 512})
    classes: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    timesteps: int = 40
    modalities: tuple[str, ...] = ("audio", "visual")
    audio_hidden: int = 64
    visual_hidden: int = 64
    fusion_hidden: int = 64
    recurrent: bool = True
    weight_bits: int = 8
    v_bits: int = 16
    leak_shift: int = 3
    fusion_leak_shift: int = 3
    readout_leak_shift: int = 0
    reset: str = "subtract"
    threshold: float = 1.0
    bias: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", dict(self.inputs))
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "modalities", tuple(self.modalities))
        if not self.modalities or any(m not in MODALITIES for m in self.modalities):
            raise ModelConfigError(f"modalities must be a non-empty subset of {MODALITIES}, not {self.modalities!r}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ModelConfigError(f"modalities lists a modality twice: {self.modalities!r}")
        for m in self.modalities:
            if m not in self.inputs:
                raise ModelConfigError(f"modality {m!r} has no input group; inputs are {list(self.inputs)}")
        for name, size in self.inputs.items():
            if not isinstance(size, int) or size < 1:
                raise ModelConfigError(f"input group {name!r}: size must be a positive integer, not {size!r}")
        if len(self.classes) < 2:
            raise ModelConfigError(f"need at least 2 classes, not {list(self.classes)!r}")
        for name in ("timesteps", "audio_hidden", "visual_hidden", "fusion_hidden"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ModelConfigError(f"{name} must be a positive integer, not {v!r}")
        if self.weight_bits != 0 and not 2 <= self.weight_bits <= 8:
            raise ModelConfigError(f"weight_bits must be in 2..8 (or 0 for the float model), not {self.weight_bits!r}")
        if not 4 <= self.v_bits <= 32:
            raise ModelConfigError(f"v_bits must be in 4..32, not {self.v_bits!r}")
        for name in ("leak_shift", "fusion_leak_shift", "readout_leak_shift"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= 15:
                raise ModelConfigError(f"{name} must be an integer in 0..15, not {v!r}")
        if self.reset not in ("zero", "subtract"):
            raise ModelConfigError(f"reset must be 'zero' or 'subtract', not {self.reset!r}")
        if not self.threshold > 0:
            raise ModelConfigError(f"threshold must be > 0, not {self.threshold!r}")

    @property
    def quantized(self) -> bool:
        return self.weight_bits != 0

    def layer_specs(self) -> list[LayerSpec]:
        """The layers in evaluation order (the last is the readout)."""
        hidden = {"audio": self.audio_hidden, "visual": self.visual_hidden}
        specs = [LayerSpec(f"{m}_lif", hidden[m], ((m, 0),), self.leak_shift) for m in self.modalities]
        fusion_src = tuple((f"{m}_lif", 0) for m in self.modalities)
        if self.recurrent:
            fusion_src += (("fusion", 1),)
        specs.append(LayerSpec("fusion", self.fusion_hidden, fusion_src, self.fusion_leak_shift))
        specs.append(LayerSpec("readout", len(self.classes), (("fusion", 0),), self.readout_leak_shift, spiking=False))
        return specs

    def input_names(self) -> list[str]:
        """The input groups the network reads, in flat-index order."""
        return [g for g in self.inputs if g in self.modalities]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["modalities"] = list(self.modalities)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelConfigError(f"unknown model config field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


# -- straight-through helpers ----------------------------------------------------


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x) - x).detach()


def _clamp_ste(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return x + (torch.clamp(x, lo, hi) - x).detach()


class _Spike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid surrogate backward (Zenke & Ganguli 2018).

    The argument is the membrane distance to threshold divided by the
    threshold, so the surrogate's width does not depend on the weight scale.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def spike_fn(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """Spike where ``x >= 0`` with a surrogate gradient."""
    return _Spike.apply(x, slope)


# -- the network -----------------------------------------------------------------


def _quant_linear(n_in: int, n_out: int, bits: int) -> nn.Module:
    from brevitas.nn import QuantLinear
    from brevitas.quant import Int8WeightPerTensorFixedPoint

    if bits:
        return QuantLinear(n_in, n_out, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits)
    return QuantLinear(n_in, n_out, bias=False, weight_quant=None)


class EAVSNet(nn.Module):
    """The EAVS-TF network (see the module docstring for the arithmetic).

    ``forward(x)`` takes spikes ``[B, T, N_in]`` of *all* the configured
    input groups (unused modalities are sliced away, so a unimodal model
    reads the same encoded data) and returns a dict with ``logits`` (the
    readout membrane after step T-1 in real units, for the loss),
    ``readout`` (the same in integer units), ``prediction``, and ``spikes``
    (layer name -> ``[B, T, n]``).
    """

    def __init__(self, config: ModelConfig, surrogate_slope: float = 5.0) -> None:
        super().__init__()
        self.config = config
        self.specs = config.layer_specs()
        self.surrogate_slope = surrogate_slope
        self._sizes = {**config.inputs, **{s.name: s.n for s in self.specs}}
        self.fc = nn.ModuleDict()
        for s in self.specs:
            n_in = sum(self._sizes[name] for name, _ in s.sources)
            self.fc[s.name] = _quant_linear(n_in, s.n, config.weight_bits)
        self.bias = nn.ParameterDict(
            {s.name: nn.Parameter(torch.zeros(s.n)) for s in self.specs} if config.bias else {}
        )
        self._init_weights()
        offsets, at = {}, 0
        for name, size in config.inputs.items():
            offsets[name] = (at, at + size)
            at += size
        self._offsets = offsets
        self.n_inputs = at

    def _init_weights(self) -> None:
        """Scale the initial weights so that spike inputs drive membranes near threshold.

        A spike input has a mean rate well below one, so the usual fan-in
        initialisation leaves most neurons silent and the surrogate gradient
        with nothing to work on; uniform weights with a standard deviation of
        about ``threshold / sqrt(fan_in * rate)`` start the layers spiking.
        """
        g = torch.Generator().manual_seed(0)
        for s in self.specs:
            w = self.fc[s.name].weight
            fan_in = w.shape[1]
            bound = 2.0 * self.config.threshold / math.sqrt(fan_in)
            with torch.no_grad():
                w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * bound)

    # -- integer parameters (one definition, shared by eval forward and export) ----

    def _layer_params(self, name: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Weight ``[n, n_in]``, bias ``[n]`` and threshold of one layer in units of its scale.

        Training: STE-rounded float tensors with gradients. Eval: exact
        integers (as ``dtype``). Returns ``(W, bias, threshold, scale)``.
        """
        cfg = self.config
        fc = self.fc[name]
        n = fc.weight.shape[0]
        if cfg.quantized:
            qw = fc.quant_weight()
            scale = qw.scale.detach().reshape(())
            vmax = float((1 << (cfg.v_bits - 1)) - 1)
            if self.training:
                w = qw.value / scale
                rnd = _round_ste
            else:
                w = qw.int().to(dtype)
                rnd = torch.round
            thr = torch.clamp(torch.round(torch.tensor(cfg.threshold, dtype=torch.float64) / scale.double()), 1, vmax)
            thr = thr.to(dtype if not self.training else torch.float32)
            if name in self.bias:
                b = torch.clamp(rnd(self.bias[name] / scale), -vmax - 1, vmax)
            else:
                b = torch.zeros(n, device=fc.weight.device)
            return w, b.to(w.dtype), thr.to(w.device), float(scale)
        w = fc.weight.to(dtype) if not self.training else fc.weight
        b = self.bias[name] if name in self.bias else torch.zeros(n, device=fc.weight.device)
        thr = torch.tensor(cfg.threshold, device=w.device)
        return w, b.to(w.dtype), thr.to(w.dtype), 1.0

    def integer_layers(self) -> list[dict[str, Any]]:
        """Per layer: integer weight ``[n_in, n]`` split by source, bias, threshold (numpy).

        Exactly the integers the eval-mode forward uses.
        """
        if not self.config.quantized:
            raise ModelConfigError("the float model (weight_bits=0) has no integer form: train with --bits 2..8 to export")
        was = self.training
        self.eval()
        out = []
        try:
            with torch.no_grad():
                for s in self.specs:
                    w, b, thr, scale = self._layer_params(s.name, torch.float64)
                    w = w.cpu().numpy().astype("int64").T  # [n_in, n]
                    blocks, at = [], 0
                    for src, delay in s.sources:
                        size = self._sizes[src]
                        blocks.append((src, delay, w[at : at + size]))
                        at += size
                    bias = b.cpu().numpy().astype("int64") if s.name in self.bias else None
                    out.append({"spec": s, "sources": blocks, "bias": bias, "threshold": int(thr.item()), "scale": scale})
        finally:
            self.train(was)
        return out

    # -- forward -------------------------------------------------------------------

    def _lif(self, current: torch.Tensor, spec: LayerSpec, thr: torch.Tensor, w_rec: torch.Tensor | None):
        """Run one layer's membrane over T steps; return ``(spikes [B,T,n], v_final)``."""
        cfg = self.config
        B, T, n = current.shape
        exact = cfg.quantized
        vmin, vmax = -float(1 << (cfg.v_bits - 1)), float((1 << (cfg.v_bits - 1)) - 1)
        k = spec.leak_shift
        div = float(1 << k)
        v = current.new_zeros(B, n)
        prev = current.new_zeros(B, n)
        out = []
        for t in range(T):
            i_t = current[:, t]
            if w_rec is not None:
                i_t = i_t + prev @ w_rec
            if k:
                leak = v / div
                v = v - (_floor_ste(leak) if exact else leak)
            v = v + i_t
            if exact:
                v = _clamp_ste(v, vmin, vmax)
            if not spec.spiking:
                continue
            if self.training:
                spk = spike_fn((v - thr) / thr, self.surrogate_slope)
                r = spk.detach()
            else:
                spk = (v >= thr).to(v.dtype)
                r = spk
            v = v * (1 - r) if cfg.reset == "zero" else v - r * thr
            out.append(spk)
            prev = spk
        spikes = torch.stack(out, 1) if out else current.new_zeros(B, T, n)
        return spikes, v

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        if x.ndim != 3 or x.shape[1] != self.config.timesteps or x.shape[2] != self.n_inputs:
            raise ValueError(
                f"input must be [B, {self.config.timesteps}, {self.n_inputs}] spikes, not {list(x.shape)}"
            )
        dtype = torch.float32 if self.training or not self.config.quantized else torch.float64
        x = x.to(dtype)
        acts: dict[str, torch.Tensor] = {name: x[..., a:b] for name, (a, b) in self._offsets.items()}
        spikes: dict[str, torch.Tensor] = {}
        v_out = scale_out = None
        for s in self.specs:
            w, b, thr, scale = self._layer_params(s.name, dtype)
            wt = w.t()  # [n_in, n]
            ff, at, w_rec = [], 0, None
            for src, delay in s.sources:
                size = self._sizes[src]
                if delay:
                    w_rec = wt[at : at + size]
                else:
                    ff.append(acts[src] @ wt[at : at + size])
                at += size
            current = torch.stack(ff, 0).sum(0) + b
            spk, v = self._lif(current, s, thr, w_rec)
            acts[s.name] = spk
            spikes[s.name] = spk
            v_out, scale_out = v, scale
        logits = v_out * scale_out
        return {
            "logits": logits,
            "readout": v_out,
            "prediction": torch.argmax(v_out, dim=1),
            "spikes": spikes,
        }
