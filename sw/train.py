"""Quantization-aware training of EAVS-TF: data -> checkpoints.

``train(TrainConfig(...))`` loads an encoded data set, splits it by actor
(speaker-independent: no actor of the validation or test split is seen in
training), trains :class:`sw.model.EAVSNet` with Adam on the cross-entropy
of the readout membrane, and writes to ``out``:

* ``last.pt``  the state after every epoch (model, optimizer, epoch, split,
  config): ``resume=True`` continues from it and gives the same result as an
  uninterrupted run, because each epoch's batch order is drawn from
  ``seed + epoch`` and nothing else is random after initialisation;
* ``best.pt``  the epoch with the best validation accuracy (what
  ``eavs export`` reads);
* ``history.json`` loss and accuracies per epoch.

Validation and test accuracy are measured with the model in eval mode,
i.e. with the exact integer arithmetic the exported model and the hardware
use.

Devices: CPU by default, CUDA when present (``device="auto"``). Under
``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (NCCL on GPUs, gloo on CPU); each rank takes its
share of every global batch, rank 0 alone writes files, and the ranks check
at the end that their parameters are identical.

Data specs: whatever :func:`sw.data.load_encoded` accepts
(``builtin:DIR``, ``ravdess:DIR``, ``cremad:DIR``), or ``npz:FILE`` for
already encoded spikes (arrays ``x`` [N, T, N_in] uint8, ``y``, ``actors``,
and a JSON ``meta`` with ``classes`` and ``inputs``), see :func:`save_npz`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from sw.model import EAVSNet, ModelConfig
from sw.qnet import InputGroup

__all__ = ["TrainConfig", "TrainData", "train", "load_data", "save_npz", "split_data", "evaluate_model", "TrainError"]


class TrainError(ValueError):
    """A training option or data set is unusable."""


@dataclass
class TrainData:
    """Encoded spikes plus labels and speakers (the fields of ``sw.data.EncodedSet`` training needs)."""

    x: np.ndarray
    y: np.ndarray
    actors: np.ndarray
    classes: list[str]
    inputs: list[InputGroup]

    def __post_init__(self) -> None:
        if self.x.ndim != 3:
            raise TrainError(f"spikes must be [N, T, N_in], not shape {self.x.shape}")
        n = len(self.x)
        if len(self.y) != n or len(self.actors) != n:
            raise TrainError(f"{n} samples but {len(self.y)} labels and {len(self.actors)} actors")
        total = sum(g.size for g in self.inputs)
        if self.x.shape[2] != total:
            raise TrainError(f"spikes have {self.x.shape[2]} inputs but the input groups sum to {total}")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise TrainError(f"labels must be in 0..{len(self.classes) - 1}, found {self.y.min()}..{self.y.max()}")


@dataclass
class TrainConfig:
    """Options of one training run (``eavs train``).

    ``stop_after`` ends this invocation after that many epochs (a time-limited
    job); ``resume=True`` later continues exactly where it stopped.
    ``threads`` sets torch's CPU threads (one per process is fastest when
    several processes share the cores, as under ``torchrun`` or pytest-xdist).
    """

    data: str
    out: str
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    bits: int = 8
    modalities: tuple[str, ...] = ("audio", "visual")
    seed: int = 0
    split_seed: int = 0
    audio_hidden: int = 64
    visual_hidden: int = 64
    fusion_hidden: int = 64
    leak_shift: int = 3
    reset: str = "subtract"
    device: str = "auto"
    resume: bool = False
    cache_dir: str | None = None
    progress: bool = True
    eval_every: int = 1
    stop_after: int | None = None
    input_dropout: float = 0.0
    audio_head_weight: float = 1.0
    threads: int | None = None
    # Any other sw.model.ModelConfig field, e.g. {"beta": 0.9, "learn_beta": True, "readout": "spikes"}
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        for name in ("epochs", "batch_size", "eval_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise TrainError(f"{name} must be a positive integer, not {v!r}")
        for name in ("stop_after", "threads"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise TrainError(f"{name} must be a positive integer or None, not {v!r}")
        if not 0.0 <= self.input_dropout < 1.0:
            raise TrainError(f"input_dropout must be in [0, 1), not {self.input_dropout!r}")
        if not (isinstance(self.audio_head_weight, (int, float)) and self.audio_head_weight > 0):
            raise TrainError(f"audio_head_weight must be a number > 0, not {self.audio_head_weight!r}")
        if not self.lr > 0:
            raise TrainError(f"lr must be > 0, not {self.lr!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise TrainError(f"device must be auto, cpu or cuda[:N], not {self.device!r}")


# -- data -------------------------------------------------------------------------


def save_npz(path: str | Path, data: TrainData) -> Path:
    """Write encoded spikes as an ``npz:`` data set (no pickle)."""
    meta = {"classes": list(data.classes), "inputs": [{"name": g.name, "size": g.size, "encoder": g.encoder} for g in data.inputs]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(
            f, x=data.x.astype(np.uint8), y=data.y.astype(np.int64), actors=data.actors.astype(np.int64),
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        )
    return path


def _load_npz(path: Path) -> TrainData:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such encoded data file")
    try:
        with np.load(path, allow_pickle=False) as z:
            # "header": what `eavs data encode --out` wrote before it used save_npz (same content).
            key = "meta" if "meta" in z.files or "header" not in z.files else "header"
            missing = {"x", "y", "actors", key} - set(z.files)
            if missing:
                raise TrainError(f"{path}: encoded data file lacks array(s) {sorted(missing)}")
            meta = json.loads(z[key].tobytes().decode())
            return TrainData(
                x=z["x"], y=z["y"].astype(np.int64), actors=z["actors"].astype(np.int64), classes=list(meta["classes"]),
                inputs=[InputGroup(g["name"], int(g["size"]), g.get("encoder", {})) for g in meta["inputs"]],
            )
    except (ValueError, OSError, KeyError) as e:
        if isinstance(e, TrainError):
            raise
        raise TrainError(f"{path}: not a readable encoded data file: {e}") from None


def load_data(spec: str, cache_dir: str | None = None, progress: bool = True, encoders: list | None = None) -> TrainData:
    """Load a data spec (``npz:FILE`` or anything ``sw.data.load_encoded`` reads)."""
    if spec.startswith("npz:"):
        return _load_npz(Path(spec[4:]))
    from sw import data as sw_data
    from sw.encode import AudioEncoder, VisualEncoder

    if encoders is None:
        encoders = [AudioEncoder(), VisualEncoder()]
    es = sw_data.load_encoded(spec, encoders, cache_dir=cache_dir, progress=progress)
    return TrainData(x=es.x, y=np.asarray(es.y, np.int64), actors=np.asarray(es.actors, np.int64), classes=list(es.classes), inputs=list(es.inputs))


def split_data(data: TrainData, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speaker-independent split (``sw.data.split.actor_split``: disjoint actors)."""
    from sw.data.split import actor_split

    return tuple(np.asarray(i, np.int64) for i in actor_split(data.actors, seed=seed))  # type: ignore[return-value]


# -- training ---------------------------------------------------------------------


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def model_config(cfg: TrainConfig, data: TrainData) -> ModelConfig:
    return ModelConfig(
        inputs={g.name: g.size for g in data.inputs},
        classes=tuple(data.classes),
        timesteps=int(data.x.shape[1]),
        modalities=cfg.modalities,
        audio_hidden=cfg.audio_hidden,
        visual_hidden=cfg.visual_hidden,
        fusion_hidden=cfg.fusion_hidden,
        weight_bits=cfg.bits,
        leak_shift=cfg.leak_shift,
        fusion_leak_shift=cfg.leak_shift,
        reset=cfg.reset,
        **cfg.model_overrides,
    )


@torch.no_grad()
def evaluate_model(model: EAVSNet, x: np.ndarray, y: np.ndarray, device: torch.device | str = "cpu", batch: int = 256) -> dict[str, Any]:
    """Accuracy of ``model`` in eval mode (exact integer arithmetic) on ``x, y``."""
    was = model.training
    model.eval()
    preds = []
    for i in range(0, len(x), batch):
        out = model(torch.from_numpy(x[i : i + batch]).to(device))
        preds.append(out["prediction"].cpu().numpy())
    model.train(was)
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    acc = float((pred == y).mean()) if len(y) else float("nan")
    return {"accuracy": acc, "prediction": pred}


def _digest(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum().item() * (i + 1) for i, p in enumerate(model.parameters())))


def train(cfg: TrainConfig, data: TrainData | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one training; return a summary (best/test accuracy, paths, seconds)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    device = _device(cfg.device)
    if distributed:
        import torch.distributed as dist

        if device.type == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            device = torch.device(f"cuda:{local}")
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    main = rank == 0
    say = log if main else (lambda s: None)

    if data is None:
        data = load_data(cfg.data, cfg.cache_dir, progress=cfg.progress and main)
    train_idx, val_idx, test_idx = split_data(data, cfg.split_seed)
    if len(train_idx) == 0:
        raise TrainError(f"{cfg.data}: the speaker-independent split left no training samples")
    out = Path(cfg.out)
    if main:
        out.mkdir(parents=True, exist_ok=True)

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    mcfg = model_config(cfg, data)
    model = EAVSNet(mcfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    history: list[dict[str, Any]] = []
    start_epoch, best_acc = 0, -1.0
    last = out / "last.pt"
    if cfg.resume and last.is_file():
        ck = torch.load(last, map_location=device, weights_only=True)
        if ck.get("config") != mcfg.to_dict():
            raise TrainError(f"{last}: checkpoint was trained with another model config; use a fresh --out or drop --resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        sched.T_max = cfg.epochs  # --epochs may have been raised since
        start_epoch, best_acc, history = ck["epoch"] + 1, ck["best_val_acc"], list(ck.get("history", []))
        say(f"resuming from {last} at epoch {start_epoch}")
    net: torch.nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    say(
        f"training {'+'.join(mcfg.modalities)} bits={mcfg.weight_bits or 'float'} on {len(train_idx)} samples "
        f"(val {len(val_idx)}, test {len(test_idx)}; actors disjoint) device={device} world={world}"
    )
    x_all = torch.from_numpy(data.x)
    y_all = torch.from_numpy(data.y)
    t0 = time.time()
    common = {
        "config": mcfg.to_dict(),
        "inputs": [{"name": g.name, "size": g.size, "encoder": g.encoder} for g in data.inputs],
        "data": cfg.data,
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "split": {
            "seed": cfg.split_seed, "train": train_idx.tolist(), "val": val_idx.tolist(), "test": test_idx.tolist(),
            "test_actors": sorted({int(a) for a in data.actors[test_idx]}),
            "val_actors": sorted({int(a) for a in data.actors[val_idx]}),
        },
    }
    end_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, end_epoch):
        perm = train_idx[np.random.default_rng(cfg.seed * 100003 + epoch).permutation(len(train_idx))]
        n_batches = max(1, len(perm) // cfg.batch_size)
        model.train()
        total, n_seen = 0.0, 0
        bar = range(n_batches)
        if cfg.progress and main:
            from tqdm import tqdm

            bar = tqdm(bar, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for b in bar:
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            idx = idx[rank::world]
            xb = x_all[idx].to(device)
            if cfg.input_dropout:  # drop input spikes at random: augmentation, training only
                g = torch.Generator().manual_seed(cfg.seed * 7919 + epoch * 100003 + b)
                xb = xb * (torch.rand(xb.shape, generator=g) >= cfg.input_dropout).to(xb.dtype).to(device)
            yb = y_all[idx].to(device)
            outb = net(xb)
            loss = F.cross_entropy(outb["logits"], yb)
            if "audio_head" in outb:  # the cascade's audio head: an auxiliary loss, weight audio_head_weight (issue 20)
                loss = loss + cfg.audio_head_weight * F.cross_entropy(outb["audio_head"]["logits"], yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            n_seen += len(idx)
        sched.step()
        rec: dict[str, Any] = {"epoch": epoch, "loss": total / max(1, n_seen), "seconds": time.time() - t0}
        if main and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            rec["val_acc"] = evaluate_model(model, data.x[val_idx], data.y[val_idx], device)["accuracy"]
            say(f"epoch {epoch + 1}/{cfg.epochs} loss {rec['loss']:.4f} val_acc {rec['val_acc']:.4f} ({rec['seconds']:.0f} s)")
        history.append(rec)
        if main:
            state = {
                **common,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "history": history,
            }
            va = rec.get("val_acc", -1.0)
            if va > best_acc:
                best_acc = va
                torch.save({**state, "best_val_acc": best_acc, "val_acc": va}, out / "best.pt")
            torch.save({**state, "best_val_acc": best_acc}, last)
    seconds = time.time() - t0
    summary: dict[str, Any] = {"out": str(out), "seconds": seconds, "best_val_acc": best_acc, "world": world}
    if distributed:
        import torch.distributed as dist

        d = torch.tensor([_digest(model)], dtype=torch.float64)
        gathered = [torch.zeros_like(d) for _ in range(world)]
        dist.all_gather(gathered, d)
        if len({float(g) for g in gathered}) != 1:
            raise RuntimeError(f"DDP ranks diverged: parameter digests {[float(g) for g in gathered]}")
        say(f"ranks in sync: {world} parameter digests equal")
        summary["ranks_in_sync"] = True
    if main:
        best = out / "best.pt"
        if best.is_file():
            ck = torch.load(best, map_location=device, weights_only=True)
            model.load_state_dict(ck["model"])
        summary["test_acc"] = evaluate_model(model, data.x[test_idx], data.y[test_idx], device)["accuracy"]
        summary["best"] = str(best)
        (out / "history.json").write_text(json.dumps({"history": history, "summary": summary}, indent=1))
        say(f"done in {seconds:.0f} s: best val_acc {best_acc:.4f}, test_acc {summary['test_acc']:.4f} -> {best}")
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return summary


def main(argv: list[str] | None = None) -> None:
    """``python -m sw.train`` (what ``torchrun`` launches): same options as ``eavs train``."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--bits", type=int, default=TrainConfig.bits)
    p.add_argument("--modalities", default="audio,visual")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--hidden", default="64,64,64", help="audio,visual,fusion neurons")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--reset", default="subtract")
    p.add_argument("--beta", type=float, default=None, help="decay every spiking layer by d = round((1-beta)*4096) instead of the shift")
    p.add_argument("--learn-beta", action="store_true", help="learn one beta per neuron (12-bit decay, STE)")
    p.add_argument("--readout", default="membrane", choices=["membrane", "spikes"], help="classify by membrane or by spike count")
    a = p.parse_args(argv)
    sizes = [int(v) for v in a.hidden.split(",")]
    if len(sizes) != 3:
        raise TrainError(f"--hidden must be three integers (audio,visual,fusion), not {a.hidden!r}")
    train(
        TrainConfig(
            data=a.data, out=a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, bits=a.bits,
            modalities=tuple(m.strip() for m in a.modalities.split(",") if m.strip()), seed=a.seed,
            device=a.device, resume=a.resume, progress=not a.no_progress, split_seed=a.split_seed, reset=a.reset,
            audio_hidden=sizes[0], visual_hidden=sizes[1], fusion_hidden=sizes[2],
            model_overrides={k: v for k, v in (("beta", a.beta), ("learn_beta", a.learn_beta), ("readout", a.readout))
                             if v != {"beta": None, "learn_beta": False, "readout": "membrane"}[k]},
        )
    )


if __name__ == "__main__":
    main()
