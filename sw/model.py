"""EAVS-TF, the spiking audio-visual network, in torch + Brevitas.

The network (issue 4, docs/design.md section 3)::

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
* ``v' = v - floor(v * d / 4096) + I``, clamped to ``v_bits``, with a
  per-neuron 12-bit decay ``d`` (docs/design.md section 3): ``d = 4096 >> k``
  from a shift ``k`` (the default; exactly ``v - floor(v / 2^k)``), or
  ``d = round((1 - beta) * 4096)`` from a ``beta`` that is fixed or learned
  per neuron (``ModelConfig.beta``, ``learn_beta``);
* ``spike = v' >= theta_int``, reset to zero or by subtraction;
* ``readout="membrane"`` (default): the readout does not spike; its membrane
  after step T-1 is the output. ``readout="spikes"``: the readout is a LIF
  layer too, the class is the argmax of its spike counts, and the loss reads
  the counts (snnTorch's ``ce_count_loss`` style).

In **eval mode** the forward runs in float64 on integer-valued tensors
(``quant_weight().int()``, the rounded threshold and bias), so every value
is an exact integer and the result equals :func:`sw.golden.run` bit for bit
(the export reads the same integers through :meth:`EAVSNet.integer_layers`).
In **training mode** the same equations run in float32 with straight-through
estimators for the rounding (weights, bias, decay), the leak's floor and the
clamp, and a fast-sigmoid surrogate gradient for the spike; the floor of
``v * d / 4096`` is taken on a float64 product, because ``v * d`` passes
float32's exact range (2**24) for 16-bit membranes, so training computes the
same spikes as eval (tests/test_model_train.py checks it on a trained model).

A layer may read itself with delay 1 (recurrence) but no *later* layer, so the
forward evaluates layer by layer over all timesteps: the feed-forward input
current of all T steps is one matrix product, and only the membrane update
(and the recurrent product) loops over time. This is the same computation as
the step-by-step order of docs/design.md section 3 because nothing flows backwards
across layers within a sample.

``audio_head=True`` (issue 20, the audio-first cascade) adds a second
readout, ``audio_head``, fed by the audio layer alone, trained jointly
with the fused readout through an auxiliary loss (``sw.train``). It is not
part of the fused network: the export makes ``[audio_lif, audio_head]`` the
cascade's first stage, a network of its own in the same ``.qnet``.
``audio_head_leak_shift`` gives the head its own leak: None keeps the fused
readout's (shift 0, so its membrane is only the last step's input, as
before); the bench and the demo use 3, the branches' leak, so the head
integrates the audio layer's spikes over the steps so far and its margin
at a step speaks for the clip up to that step.

``weight_bits=0`` gives the **float** reference model (plain weights, no
rounding, no floor, no clamp) used to measure what quantization costs; it
cannot be exported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from sw.fields import check_known_fields
from sw.qnet import DECAY_ONE
from sw.qnet import decay_from_beta as _qnet_decay_from_beta

__all__ = ["ModelConfig", "LayerSpec", "EAVSNet", "ModelConfigError", "spike_fn", "CASCADE"]

MODALITIES = ("audio", "visual")

#: The cascade model's overrides (``eavs train --audio-head``, the demo's
#: adaptive AV model, ``bench.adaptive``): the audio head, integrating with
#: the branches' leak (see the module docstring).
CASCADE = {"audio_head": True, "audio_head_leak_shift": 3}


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
    beta: bool = False  # decay from ModelConfig.beta / a learned per-neuron beta, not the shift


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's shape and arithmetic.

    The defaults fit :class:`hw.spec.capacity.Capacity`'s defaults (the smallest
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
        k of ``v - (v >> k)`` (decay ``4096 >> k``, k in 0..12) for the
        branches, the fusion and a membrane readout.
    beta : float or None
        When set, every spiking layer decays by ``d = round((1 - beta) *
        4096)`` instead of its shift (0.9 -> 410); with ``learn_beta`` it is
        the initial value of a per-neuron learned beta.
    learn_beta : bool
        Learn one beta per neuron of every spiking layer (initialised from
        ``beta``, or from the layer's shift when ``beta`` is None), quantised
        to the 12-bit decay with a straight-through estimator.
    readout : str
        ``membrane`` (argmax of the non-spiking readout's membrane) or
        ``spikes`` (the readout spikes; argmax of its spike counts).
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
    beta: float | None = None
    learn_beta: bool = False
    readout: str = "membrane"
    audio_head: bool = False
    audio_head_leak_shift: int | None = None

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
            if not isinstance(v, int) or not 0 <= v <= 12:
                raise ModelConfigError(f"{name} must be an integer in 0..12 (decay 4096 >> k), not {v!r}")
        if self.beta is not None and not (isinstance(self.beta, (int, float)) and 0.0 <= self.beta <= 1.0):
            raise ModelConfigError(f"beta must be a number in [0, 1] (or None for the shift leaks), not {self.beta!r}")
        if self.readout not in ("membrane", "spikes"):
            raise ModelConfigError(f"readout must be 'membrane' or 'spikes', not {self.readout!r}")
        if self.reset not in ("zero", "subtract"):
            raise ModelConfigError(f"reset must be 'zero' or 'subtract', not {self.reset!r}")
        if not self.threshold > 0:
            raise ModelConfigError(f"threshold must be > 0, not {self.threshold!r}")
        v = self.audio_head_leak_shift
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 12):
            raise ModelConfigError(f"audio_head_leak_shift must be an integer in 0..12 (decay 4096 >> k) or None, not {v!r}")
        if self.audio_head and set(self.modalities) != {"audio", "visual"}:
            raise ModelConfigError(f"audio_head (the cascade's audio stage) needs both modalities, not {list(self.modalities)}")

    @property
    def quantized(self) -> bool:
        return self.weight_bits != 0

    def layer_specs(self) -> list[LayerSpec]:
        """The layers in evaluation order (the last is the readout)."""
        hidden = {"audio": self.audio_hidden, "visual": self.visual_hidden}
        b = self.beta is not None or self.learn_beta
        specs = [LayerSpec(f"{m}_lif", hidden[m], ((m, 0),), self.leak_shift, beta=b) for m in self.modalities]
        fusion_src = tuple((f"{m}_lif", 0) for m in self.modalities)
        if self.recurrent:
            fusion_src += (("fusion", 1),)
        specs.append(LayerSpec("fusion", self.fusion_hidden, fusion_src, self.fusion_leak_shift, beta=b))
        if self.readout == "spikes":
            specs.append(LayerSpec("readout", len(self.classes), (("fusion", 0),), self.fusion_leak_shift, beta=b))
        else:
            specs.append(LayerSpec("readout", len(self.classes), (("fusion", 0),), self.readout_leak_shift, spiking=False))
        return specs

    def head_specs(self) -> list[LayerSpec]:
        """Extra readouts outside the fused network: the audio head of the cascade (or none)."""
        if not self.audio_head:
            return []
        b = self.beta is not None or self.learn_beta
        if self.readout == "spikes":
            return [LayerSpec("audio_head", len(self.classes), (("audio_lif", 0),), self.fusion_leak_shift, beta=b)]
        k = self.readout_leak_shift if self.audio_head_leak_shift is None else self.audio_head_leak_shift
        return [LayerSpec("audio_head", len(self.classes), (("audio_lif", 0),), k, spiking=False)]

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
        check_known_fields(cls, d, "model config", ModelConfigError)
        return cls(**d)


# -- straight-through helpers ----------------------------------------------------


# Each returns the exact rounded value plus ``x - x.detach()`` (exactly 0 in
# value, identity in gradient). ``x + (round(x) - x).detach()`` would be the
# same in exact arithmetic but can land one float32 ulp off the integer.


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x).detach() + (x - x.detach())


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x).detach() + (x - x.detach())


def _clamp_ste(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return torch.clamp(x, lo, hi).detach() + (x - x.detach())


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

def decay_from_beta(beta: float) -> int:
    """The 12-bit decay of ``beta``: :func:`sw.qnet.decay_from_beta` (``round((1 - beta) * 4096)``, half up)."""
    return int(_qnet_decay_from_beta(beta))


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
        self.heads = config.head_specs()
        self.surrogate_slope = surrogate_slope
        self._sizes = {**config.inputs, **{s.name: s.n for s in self.specs}}
        self.fc = nn.ModuleDict()
        for s in self.specs + self.heads:
            n_in = sum(self._sizes[name] for name, _ in s.sources)
            self.fc[s.name] = _quant_linear(n_in, s.n, config.weight_bits)
        self.bias = nn.ParameterDict(
            {s.name: nn.Parameter(torch.zeros(s.n)) for s in self.specs + self.heads} if config.bias else {}
        )
        # Per-neuron beta (learned) or a fixed one; shift layers keep 4096 >> k.
        self.beta = nn.ParameterDict()
        self._fixed_decay: dict[str, torch.Tensor] = {}
        for s in self.specs + self.heads:
            if s.beta and config.learn_beta:
                b0 = config.beta if config.beta is not None else 1.0 - (2.0 ** -s.leak_shift if s.leak_shift else 0.0)
                self.beta[s.name] = nn.Parameter(torch.full((s.n,), float(b0)))
            elif s.beta:
                self._fixed_decay[s.name] = torch.full((s.n,), float(decay_from_beta(config.beta)))
            else:
                self._fixed_decay[s.name] = torch.full((s.n,), float(0 if s.leak_shift == 0 else DECAY_ONE >> s.leak_shift))
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
        for s in self.specs + self.heads:
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

    def _decay(self, name: str, device: torch.device) -> torch.Tensor:
        """Per-neuron decay ``d`` in 0..4096: exact integers in eval, STE-rounded in training."""
        if name in self.beta:
            d = torch.clamp((1.0 - self.beta[name]) * DECAY_ONE, 0.0, float(DECAY_ONE))
            # floor(x + 0.5): sw.qnet.decay_from_leak's half-up rounding, in torch for the STE
            return _floor_ste(d + 0.5) if self.training else torch.floor(d + 0.5).detach()
        return self._fixed_decay[name].to(device)

    def integer_layers(self, heads: bool = False) -> list[dict[str, Any]]:
        """Per layer: integer weight ``[n_in, n]`` split by source, bias, threshold (numpy).

        Exactly the integers the eval-mode forward uses. ``heads``: the extra
        readouts (:meth:`ModelConfig.head_specs`) instead of the fused network.
        """
        if not self.config.quantized:
            raise ModelConfigError("the float model (weight_bits=0) has no integer form: train with --bits 2..8 to export")
        was = self.training
        self.eval()
        out = []
        try:
            with torch.no_grad():
                for s in self.heads if heads else self.specs:
                    w, b, thr, scale = self._layer_params(s.name, torch.float64)
                    w = w.cpu().numpy().astype("int64").T  # [n_in, n]
                    blocks, at = [], 0
                    for src, delay in s.sources:
                        size = self._sizes[src]
                        blocks.append((src, delay, w[at : at + size]))
                        at += size
                    bias = b.cpu().numpy().astype("int64") if s.name in self.bias else None
                    decay = self._decay(s.name, b.device).cpu().numpy().astype("int64")
                    out.append({"spec": s, "sources": blocks, "bias": bias, "threshold": int(thr.item()), "scale": scale,
                                "decay": decay})
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
        d = self._decay(spec.name, current.device).to(current.dtype)
        leaky = bool((d != 0).any()) or spec.name in self.beta
        v = current.new_zeros(B, n)
        prev = current.new_zeros(B, n)
        out = []
        for t in range(T):
            i_t = current[:, t]
            if w_rec is not None:
                i_t = i_t + prev @ w_rec
            if leaky:
                leak = v * d / DECAY_ONE
                if exact:  # floor of the exact product (float64: v * d may pass 2**24), gradient of v * d / 4096
                    exact_leak = torch.floor(v.detach().double() * d.detach().double() / DECAY_ONE).to(leak.dtype)
                    leak = exact_leak + (leak - leak.detach())
                v = v - leak
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
        out = self._readout(spikes[self.specs[-1].name], v_out, scale_out)
        out["spikes"] = spikes
        for s in self.heads:  # the cascade's audio head: a readout of its own on the audio layer
            w, b, thr, scale = self._layer_params(s.name, dtype)
            spk, v = self._lif(acts[s.sources[0][0]] @ w.t() + b, s, thr, None)
            spikes[s.name] = spk
            out[s.name] = self._readout(spk, v, scale)
        return out

    def _readout(self, spikes: torch.Tensor, v: torch.Tensor, scale: float) -> dict[str, Any]:
        """Logits (for the loss), integer readout, counts and prediction of one readout layer."""
        counts = spikes.sum(dim=1)
        if self.config.readout == "spikes":
            logits, score = counts, counts  # cross-entropy on spike counts
        else:
            logits, score = v * scale, v
        return {
            "logits": logits,
            "readout": v,
            "counts": counts,
            "prediction": torch.argmax(score, dim=1),  # first maximum: the lowest index wins ties
        }
