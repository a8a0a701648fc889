"""RAVDESS: file-name parsing, validation and audio/video pairing.

RAVDESS names every file with seven two-digit fields,
``MM-VV-EE-II-SS-RR-AA.ext``:

====  ============  =====================================================
 MM   modality      01 audio-video, 02 video-only, 03 audio-only
 VV   vocal channel 01 speech, 02 song
 EE   emotion       01 neutral .. 08 surprised (:data:`EMOTIONS`)
 II   intensity     01 normal, 02 strong (neutral has no strong intensity)
 SS   statement     01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
 RR   repetition    01, 02
 AA   actor         01 .. 24 (odd male, even female)
====  ============  =====================================================

Files live in ``Actor_AA/`` folders. A *take* (all fields but the modality)
pairs the audio-only ``03`` wav with the ``01`` (or ``02``) video of the same
take. Every field is validated; a bad name is reported with the file and the
field, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sw.data.media import Clip, Skip, file_problem, show

__all__ = ["EMOTIONS", "CLASSES", "SONG_EMOTIONS", "RavdessName", "parse_name", "format_name", "scan", "RavdessNameError"]

#: Emotion code -> name, in RAVDESS's order (class index = code - 1).
EMOTIONS: dict[int, str] = {
    1: "neutral",
    2: "calm",
    3: "happy",
    4: "sad",
    5: "angry",
    6: "fearful",
    7: "disgust",
    8: "surprised",
}
CLASSES: list[str] = [EMOTIONS[k] for k in sorted(EMOTIONS)]
MODALITIES = {1: "audio-video", 2: "video-only", 3: "audio-only"}
VOCAL = {1: "speech", 2: "song"}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_FIELDS = ("modality", "vocal", "emotion", "intensity", "statement", "repetition", "actor")


class RavdessNameError(ValueError):
    """A file name that is not a valid RAVDESS name (message names the field)."""


@dataclass(frozen=True)
class RavdessName:
    modality: int
    vocal: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def take(self) -> tuple[int, ...]:
        """Every field but the modality: identifies one recording."""
        return (self.vocal, self.emotion, self.intensity, self.statement, self.repetition, self.actor)


def parse_name(path: str | Path) -> RavdessName:
    """Parse and validate a RAVDESS file name (the stem; the folder is not used)."""
    stem = Path(path).stem
    m = _NAME.match(stem)
    if not m:
        raise RavdessNameError(f"{Path(path).name}: not a RAVDESS name (want seven 2-digit fields MM-VV-EE-II-SS-RR-AA)")
    v = dict(zip(_FIELDS, (int(g) for g in m.groups())))
    checks = {
        "modality": v["modality"] in MODALITIES,
        "vocal": v["vocal"] in VOCAL,
        "emotion": v["emotion"] in EMOTIONS,
        "intensity": v["intensity"] in (1, 2),
        "statement": v["statement"] in (1, 2),
        "repetition": v["repetition"] in (1, 2),
        "actor": 1 <= v["actor"] <= 99,
    }
    for name, ok in checks.items():
        if not ok:
            raise RavdessNameError(f"{Path(path).name}: invalid {name} code {v[name]:02d}")
    if v["emotion"] == 1 and v["intensity"] == 2:
        raise RavdessNameError(f"{Path(path).name}: neutral (emotion 01) has no strong intensity (02)")
    return RavdessName(**v)


def _pick_video(a: Path, b: Path) -> tuple[Path, Path]:
    """``(kept, dropped)`` of a take's two videos: one that opens over one that does not
    (a 0-byte 01 file does not cost the take its intact 02 file), then the 01 file."""
    rank = {p: (file_problem(p) is None, parse_name(p).modality == 1) for p in (a, b)}
    return (a, b) if rank[a] >= rank[b] else (b, a)


def format_name(n: RavdessName, ext: str) -> str:
    return "-".join(f"{getattr(n, f):02d}" for f in _FIELDS) + ext


#: Emotions RAVDESS recorded in song (vocal 02): no disgust, no surprised.
SONG_EMOTIONS = (1, 2, 3, 4, 5, 6)


def scan(
    root: str | Path, need_audio: bool = True, need_video: bool = True, vocal: str = "speech"
) -> tuple[list[Clip], list[Skip]]:
    """Find and pair every take under ``root`` (``Actor_*/`` folders or flat).

    Returns the clips sorted by path and the files that were skipped with the
    reason (bad name, a take missing a modality the caller needs, duplicates,
    a vocal channel not asked for). ``vocal`` is ``speech`` (default),
    ``song`` or ``both``: song takes are excluded by default because the song
    set has fewer emotions (no disgust, no surprised: :data:`SONG_EMOTIONS`)
    and sung prosody differs from speech; the label is the emotion. A
    video-only (02) file of a take that also has its audio-video (01) file
    shows the same picture and is not used (nor reported: no take is lost),
    unless the 01 file cannot be opened (0 bytes, unreadable): then the 02
    file is used and the 01 file is reported.
    """
    root = Path(root)
    if vocal not in ("speech", "song", "both"):
        raise ValueError(f"vocal must be speech, song or both, not {vocal!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"RAVDESS root {show(root)} is not a directory")
    audio: dict[tuple, Path] = {}
    video: dict[tuple, Path] = {}
    skipped: list[Skip] = []
    # Symlinks are kept even when broken: the clip check then says "broken symlink".
    files = sorted(p for p in root.rglob("*") if (p.is_file() or p.is_symlink()) and p.suffix.lower() in (".wav", ".mp4"))
    files = [p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    for p in files:
        try:
            n = parse_name(p)
        except RavdessNameError as e:
            skipped.append(Skip(str(p), str(e)))
            continue
        if vocal != "both" and VOCAL[n.vocal] != vocal:
            other = "song takes are excluded by default (vocal=song or both includes them)" if n.vocal == 2 else "vocal=song"
            skipped.append(Skip(str(p), f"{VOCAL[n.vocal]} take (vocal channel {n.vocal:02d}): {other}"))
            continue
        if p.parent.name.startswith("Actor_") and p.parent.name != f"Actor_{n.actor:02d}":
            skipped.append(Skip(str(p), f"actor {n.actor:02d} in the name but the file is in {p.parent.name}"))
            continue
        if p.suffix.lower() == ".wav":
            if n.modality != 3:
                skipped.append(Skip(str(p), f"a .wav must have modality 03 (audio-only), not {n.modality:02d}"))
                continue
            table = audio
        else:
            if n.modality == 3:
                skipped.append(Skip(str(p), "an .mp4 must have modality 01 or 02, not 03"))
                continue
            table = video
            if n.take in video:  # 01 and 02 are the same picture: keep the 01 file unless it cannot be opened
                keep, drop = _pick_video(video[n.take], p)
                video[n.take] = keep
                problem = file_problem(drop)
                if problem is not None:
                    skipped.append(Skip(str(drop), f"{problem} (this take uses {keep.name} instead)"))
                continue
        if n.take in table and table is audio:
            skipped.append(Skip(str(p), f"duplicate take (also {table[n.take]})"))
            continue
        table[n.take] = p
    clips: list[Clip] = []
    for take in sorted(set(audio) | set(video)):
        a, v = audio.get(take), video.get(take)
        if need_audio and a is None:
            skipped.append(Skip(str(v), "no matching audio-only (03) .wav for this take"))
            continue
        if need_video and v is None:
            skipped.append(Skip(str(a), "no matching audio-video (01/02) .mp4 for this take"))
            continue
        vocal, emotion, intensity, statement, repetition, actor = take
        clips.append(
            Clip(
                audio=str(a) if a is not None else None,
                video=str(v) if v is not None else None,
                label=emotion - 1,
                actor=actor,
                intensity=intensity,
                info={"vocal": VOCAL[vocal], "statement": statement, "repetition": repetition},
            )
        )
    return clips, skipped
