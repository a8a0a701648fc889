"""The demo's configuration: one serialisable dataclass (FINN-style) and its checks.

:class:`DemoConfig` decides everything the demo computes; the step keys of
:mod:`eavs.pipeline` are hashes of its fields, so a changed field re-runs
exactly the steps that depend on it (:mod:`eavs.steps` says which).
:func:`check_config` checks in a second what can be checked before any stage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eavs.checks import check_board, check_data_spec, check_model_options
from sw.fields import check_known_fields

__all__ = ["AV", "VARIANTS", "ConfigError", "DemoConfig", "check_config"]

#: The variant trained on both modalities; ablations add "audio" and "visual".
AV = "audio+visual"
VARIANTS = {AV: ("audio", "visual"), "audio": ("audio",), "visual": ("visual",)}


class ConfigError(ValueError):
    """A demo configuration value is out of range (names the field and value)."""


@dataclass
class DemoConfig:
    """Everything that decides what the demo computes.

    Two presets: :meth:`full` (``eavs demo``) and :meth:`quick`
    (``eavs demo --quick``: fewer clips and epochs, no ablations, fewer
    simulated clips). Any field can be overridden; the step keys are hashes
    of these fields, so a changed field re-runs exactly the steps that
    depend on it.

    Attributes
    ----------
    quick : bool
        Which preset the config came from (shown in the report).
    data : str
        ``builtin`` (the synthetic corpus, synthesised into the cache) or a
        data spec ``sw.data.load_encoded`` reads (``ravdess:DIR``, ``cremad:DIR``).
    clips, actors, seed : int
        Built-in corpus size and seed; ``seed`` also seeds training and the split.
    timesteps : int
        T of both encoders.
    audio, visual : dict
        Encoder parameter overrides (``sw.encode.AudioEncoder`` / ``VisualEncoder`` fields).
    epochs, batch_size, lr, bits : training (``sw.train.TrainConfig``).
    audio_hidden, visual_hidden, fusion_hidden : int
        Layer sizes (``sw.model.ModelConfig``).
    ablations : bool
        Also train audio-only and visual-only models (accuracy by modality).
    adaptive : bool
        Train the audio+visual model with the cascade's audio head (issue 20)
        and calibrate early exit and the cascade on the validation split
        (the ``adaptive`` step and report section). False: today's model.
    sim_clips : int
        Test clips run through the RTL simulation (0: skip the stage).
    simulator : str
        ``verilator`` or ``icarus``.
    sim_capacity : str
        ``board``: simulate the core exactly at the board's capacity;
        ``model``: the board's lanes and widths (so the same cycles and
        arithmetic) with memories and limits sized to the model (powers of
        two): about 40 % less Verilog at P = 16, so a faster simulator build.
    board : str
        Board of ``boards.toml`` for capacity, clock and resource budget.
    capacity : str
        Capacity overrides ``k=v,...`` on the board's default.
    resources : str
        ``synth``: ``hw.flow.build`` for the board (Vivado when on PATH, else the
        Yosys ``synth_xilinx`` estimate; ECP5 boards: the open flow);
        ``analytic``: ``hw.flow.estimate``'s model of the core's memories and
        lanes (instant); ``none``: skip.
    workers : int
        Processes for corpus synthesis.
    cache_dir : str
        Where the corpus and encoded spikes are cached ("" = ``RUN_DIR/cache``).
    seeds : int
        Training seeds of the audio+visual model (``seed``, ``seed + 1``, ...)
        on the same split; the report gives the spread of test accuracy over
        them. 1: the main model only.
    """

    quick: bool = False
    data: str = "builtin"
    clips: int = 960
    actors: int = 24
    seed: int = 0
    timesteps: int = 40
    audio: dict = field(default_factory=dict)
    visual: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    bits: int = 8
    audio_hidden: int = 64
    visual_hidden: int = 64
    fusion_hidden: int = 64
    ablations: bool = True
    adaptive: bool = True
    sim_clips: int = 16
    simulator: str = "verilator"
    sim_capacity: str = "board"
    board: str = "pynq-z2"
    capacity: str = ""
    resources: str = "synth"
    workers: int = 2
    cache_dir: str = ""
    seeds: int = 1

    def __post_init__(self) -> None:
        for name in ("clips", "actors", "timesteps", "epochs", "batch_size", "audio_hidden", "visual_hidden", "fusion_hidden", "workers", "seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"demo config field {name!r} must be a positive integer, not {v!r}")
        for name in ("seed", "sim_clips"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"demo config field {name!r} must be a non-negative integer, not {v!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"demo config field 'lr' must be > 0, not {self.lr!r}")
        if self.resources not in ("synth", "analytic", "none"):
            raise ConfigError(f"demo config field 'resources' must be 'synth', 'analytic' or 'none', not {self.resources!r}")
        if self.sim_capacity not in ("board", "model"):
            raise ConfigError(f"demo config field 'sim_capacity' must be 'board' or 'model', not {self.sim_capacity!r}")
        if self.simulator not in ("verilator", "icarus"):
            raise ConfigError(f"demo config field 'simulator' must be 'verilator' or 'icarus', not {self.simulator!r}")
        if not isinstance(self.data, str) or not (self.data == "builtin" or ":" in self.data):
            raise ConfigError(f"demo config field 'data' must be 'builtin' or a spec like ravdess:DIR, not {self.data!r}")
        for name in ("audio", "visual"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"demo config field {name!r} must be a table of encoder parameters, not {getattr(self, name)!r}")

    @classmethod
    def full(cls, **overrides: Any) -> "DemoConfig":
        """``eavs demo``: the whole flow, ablations included (< 20 min on 2 cores)."""
        return cls(**overrides)

    @classmethod
    def quick_preset(cls, **overrides: Any) -> "DemoConfig":
        """``eavs demo --quick``: same stages on a smaller corpus, no ablations, the analytic
        resource estimate instead of synthesis (< 5 min on 2 cores)."""
        base = dict(quick=True, clips=384, epochs=20, ablations=False, sim_clips=4, resources="analytic", sim_capacity="model")
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DemoConfig":
        check_known_fields(cls, d, "demo config", ConfigError)
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "DemoConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such demo config file")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from None
        try:
            return cls.from_dict(d)
        except (ConfigError, TypeError) as e:
            raise ConfigError(f"{path}: {e}") from None

    def variants(self) -> dict[str, tuple[str, ...]]:
        """The models to train: audio+visual, plus the unimodal ablations when asked."""
        return dict(VARIANTS) if self.ablations else {AV: VARIANTS[AV]}


def check_config(cfg: DemoConfig) -> None:
    """Everything a run needs that can be checked in a second, before any stage:
    the board and capacity overrides, the data spec's kind and folder, and the
    model options (through ``sw.model``'s own validation). Raises
    :class:`eavs.checks.CheckError` (one line) on the first problem."""
    check_board(cfg.board, cfg.capacity)
    if cfg.data != "builtin":
        check_data_spec(cfg.data)
    labels = {"weight_bits": "demo config field 'bits'", "timesteps": "demo config field 'timesteps'",
              **{f"{m}_hidden": f"demo config field '{m}_hidden'" for m in ("audio", "visual", "fusion")}}  # fmt: skip
    check_model_options(labels, weight_bits=cfg.bits, audio_hidden=cfg.audio_hidden, visual_hidden=cfg.visual_hidden,
                        fusion_hidden=cfg.fusion_hidden, timesteps=cfg.timesteps)  # fmt: skip
