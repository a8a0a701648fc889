"""CREMA-D: ``AudioWAV/*.wav`` with ``VideoFlash/*.flv``, six emotions.

Names are ``ActorID_Sentence_Emotion_Level`` (e.g. ``1001_DFA_ANG_XX``):
actor 1001..1091, one of twelve sentence codes, emotion ``NEU HAP SAD ANG
FEA DIS`` and level ``LO MD HI XX`` (XX: unspecified). Every field is
validated; a take is the shared stem of its wav and flv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sw.data.media import Clip, Skip

__all__ = ["CODES", "CLASSES", "SENTENCES", "LEVELS", "CremaName", "CremaNameError", "parse_name", "scan"]

#: Emotion code -> class name (names shared with RAVDESS), in class order.
CODES: dict[str, str] = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry", "FEA": "fearful", "DIS": "disgust"}
CLASSES: list[str] = list(CODES.values())
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LEVELS = {"LO": 1, "MD": 2, "HI": 3, "XX": 0}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


class CremaNameError(ValueError):
    """A file name that is not a valid CREMA-D name (message names the field)."""


@dataclass(frozen=True)
class CremaName:
    actor: int
    sentence: str
    emotion: str
    level: str


def parse_name(path: str | Path) -> CremaName:
    name = Path(path).name
    m = _NAME.match(Path(path).stem)
    if not m:
        raise CremaNameError(f"{name}: not a CREMA-D name (want ActorID_Sentence_Emotion_Level, e.g. 1001_DFA_ANG_XX)")
    actor, sentence, emotion, level = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if not 1001 <= actor <= 1091:
        raise CremaNameError(f"{name}: invalid actor id {actor} (1001..1091)")
    if sentence not in SENTENCES:
        raise CremaNameError(f"{name}: invalid sentence code {sentence!r}")
    if emotion not in CODES:
        raise CremaNameError(f"{name}: invalid emotion code {emotion!r} (one of {list(CODES)})")
    if level not in LEVELS:
        raise CremaNameError(f"{name}: invalid level code {level!r} (one of {list(LEVELS)})")
    return CremaName(actor, sentence, emotion, level)


def scan(root: str | Path, need_audio: bool = True, need_video: bool = True) -> tuple[list[Clip], list[Skip]]:
    """Pair ``AudioWAV/<stem>.wav`` with ``VideoFlash/<stem>.flv`` under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CREMA-D root {root} is not a directory")
    adir, vdir = root / "AudioWAV", root / "VideoFlash"
    if need_audio and not adir.is_dir():
        raise FileNotFoundError(f"CREMA-D root {root} has no AudioWAV folder")
    if need_video and not vdir.is_dir():
        raise FileNotFoundError(f"CREMA-D root {root} has no VideoFlash folder")
    skipped: list[Skip] = []
    tables: dict[str, dict[str, Path]] = {"wav": {}, "flv": {}}
    for folder, ext in ((adir, ".wav"), (vdir, ".flv")):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if not (p.is_file() or p.is_symlink()) or p.name.startswith("."):
                continue
            if p.suffix.lower() != ext:
                skipped.append(Skip(str(p), f"unexpected file in {folder.name} (want *{ext})"))
                continue
            try:
                parse_name(p)
            except CremaNameError as e:
                skipped.append(Skip(str(p), str(e)))
                continue
            tables[ext[1:]][p.stem] = p
    clips: list[Clip] = []
    for stem in sorted(set(tables["wav"]) | set(tables["flv"])):
        a, v = tables["wav"].get(stem), tables["flv"].get(stem)
        if need_audio and a is None:
            skipped.append(Skip(str(v), "no matching AudioWAV/*.wav for this take"))
            continue
        if need_video and v is None:
            skipped.append(Skip(str(a), "no matching VideoFlash/*.flv for this take"))
            continue
        n = parse_name(stem)
        clips.append(
            Clip(
                audio=str(a) if a is not None else None,
                video=str(v) if v is not None else None,
                label=CLASSES.index(CODES[n.emotion]),
                actor=n.actor,
                intensity=LEVELS[n.level],
                info={"sentence": n.sentence, "level": n.level},
            )
        )
    return clips, skipped
