"""Trained EAVS-TF model -> integer ``.qnet`` (docs/design.md section 3).

The weights are Brevitas' quantized integers (``quant_weight().int()``);
each layer's power-of-two scale is folded into its threshold and bias, which
become integers in that unit. Nothing is re-derived here: the integers come
from :meth:`sw.model.EAVSNet.integer_layers`, the very tensors the eval-mode
forward computes with, so the exported file and torch eval agree exactly.

A checkpoint (``sw.train``) holds the model config, the state dict and the
input groups (with their encoder parameters) it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sw.model import EAVSNet, ModelConfig
from sw.qnet import InputGroup, Layer, QNet, Source

__all__ = ["to_qnet", "export_checkpoint", "load_checkpoint", "select_inputs", "ExportError"]


class ExportError(ValueError):
    """A checkpoint cannot be exported."""


def _int_dtype(bits: int) -> type:
    return np.int8 if bits <= 8 else np.int16


def to_qnet(model: EAVSNet, inputs: list[InputGroup] | None = None, metadata: dict[str, Any] | None = None) -> QNet:
    """Build the integer network of ``model``.

    ``inputs`` are the data set's input groups (with encoder parameters);
    only the groups the model reads are kept, in their original order. When
    omitted, groups without encoder parameters are made from the config.
    """
    cfg = model.config
    by_name = {g.name: g for g in (inputs or [])}
    groups = []
    for name in cfg.input_names():
        g = by_name.get(name, InputGroup(name, cfg.inputs[name], {}))
        if g.size != cfg.inputs[name]:
            raise ExportError(f"input group {name!r}: data set has {g.size} inputs, the model was built for {cfg.inputs[name]}")
        groups.append(InputGroup(g.name, g.size, dict(g.encoder)))
    layers, scales = _layers(model, model.integer_layers(), model.specs[-1].name)
    meta = {"model_config": cfg.to_dict(), "weight_scales": scales, **(metadata or {})}
    first = None
    if cfg.audio_head:  # the cascade's first stage: the audio layer and its own head, a network of its own
        audio = [layers[[layer.name for layer in layers].index("audio_lif")]]
        heads, head_scales = _layers(model, model.integer_layers(heads=True), "audio_head")
        first = QNet(classes=list(cfg.classes), timesteps=cfg.timesteps, inputs=[g for g in groups if g.name == "audio"],
                     layers=audio + heads, metadata={"weight_scales": {"audio_lif": scales["audio_lif"], **head_scales}})
    return QNet(classes=list(cfg.classes), timesteps=cfg.timesteps, inputs=groups, layers=layers, metadata=meta,
                cascade=first).validate("exported model")


def _layers(model: EAVSNet, params: list[dict[str, Any]], readout: str) -> tuple[list[Layer], dict[str, float]]:
    """``sw.qnet`` layers (and weight scales) of :meth:`EAVSNet.integer_layers` output; ``readout`` names the last."""
    cfg = model.config
    layers, scales = [], {}
    for p in params:
        spec = p["spec"]
        sources = [
            Source(name=src, weight=w.astype(_int_dtype(cfg.weight_bits)), weight_bits=cfg.weight_bits, delay=delay)
            for src, delay, w in p["sources"]
        ]
        bias = None if p["bias"] is None else p["bias"].astype(np.int32)
        layers.append(
            Layer(
                name=spec.name,
                n=spec.n,
                sources=sources,
                threshold=p["threshold"],
                decay=p["decay"].astype(np.int32),
                reset=cfg.reset,
                v_bits=cfg.v_bits,
                spiking=spec.spiking,
                bias=bias,
                readout=cfg.readout if spec.name == readout else "membrane",
            )
        )
        scales[spec.name] = p["scale"]
    return layers, scales


def select_inputs(x: np.ndarray, all_inputs: list[InputGroup] | dict[str, int], net: QNet) -> np.ndarray:
    """Slice spikes ``[..., N_all]`` laid out as ``all_inputs`` down to ``net``'s input groups."""
    sizes = dict(all_inputs) if isinstance(all_inputs, dict) else {g.name: g.size for g in all_inputs}
    offsets, at = {}, 0
    for name, size in sizes.items():
        offsets[name] = (at, at + size)
        at += size
    if x.shape[-1] != at:
        raise ExportError(f"spikes have {x.shape[-1]} inputs, the data set's groups {sizes} have {at}")
    parts = []
    for g in net.inputs:
        if g.name not in offsets:
            raise ExportError(f"model input group {g.name!r} is not in the data ({list(sizes)})")
        a, b = offsets[g.name]
        if b - a != g.size:
            raise ExportError(f"input group {g.name!r}: data has {b - a} inputs, model {g.size}")
        parts.append(x[..., a:b])
    return np.concatenate(parts, axis=-1)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[EAVSNet, dict[str, Any]]:
    """Load a training checkpoint; return ``(model in eval mode, checkpoint dict)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        raise ExportError(f"{path}: not a readable checkpoint: {e}") from None
    for key in ("config", "model"):
        if key not in ckpt:
            raise ExportError(f"{path}: checkpoint has no {key!r} entry: not written by `eavs train`")
    model = EAVSNet(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def inputs_from_checkpoint(ckpt: dict[str, Any]) -> list[InputGroup]:
    return [InputGroup(g["name"], int(g["size"]), dict(g.get("encoder", {}))) for g in ckpt.get("inputs", [])]


def export_checkpoint(ckpt_path: str | Path, out: str | Path) -> QNet:
    """``eavs export``: checkpoint -> ``.qnet`` file; returns the network."""
    model, ckpt = load_checkpoint(ckpt_path)
    if not model.config.quantized:
        raise ExportError(f"{ckpt_path}: a float model (weight_bits=0) has no integer form; train with --bits 2..8")
    meta = {"source_checkpoint": str(ckpt_path)}
    for key in ("epoch", "val_acc", "data"):
        if key in ckpt:
            meta[key] = ckpt[key]
    if "split" in ckpt:
        meta["split"] = {k: ckpt["split"][k] for k in ("seed", "test_actors", "val_actors") if k in ckpt["split"]}
    net = to_qnet(model, inputs_from_checkpoint(ckpt), meta)
    from sw.qnet import save

    save(net, out)
    return net
