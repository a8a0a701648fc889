"""Encoded data sets: a data set spec plus encoders in, spike trains out, cached.

``load_encoded("builtin:DIR", encoders)`` (or ``ravdess:DIR``,
``cremad:DIR``) scans the data set, reads and encodes every clip (audio
resampled to the encoder's rate, faces found and cropped with OpenCV's Haar
cascade, frames resampled to the encoder's rate) and returns an
:class:`EncodedSet`. Clips that cannot be used are skipped with a reason and
listed; the summary goes to stderr, so nothing is dropped silently.

The result is cached on disk, keyed by a hash of the encoder parameters, the
data set kind, the file list with sizes and modification times, and this
module's format version: change any of them and the set is encoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from sw.data import cremad, ravdess
from sw.data.media import Clip, MediaError, Skip, crop_faces, read_audio, read_video
from sw.encode import AudioEncoder, Encoder, EncoderError, VisualEncoder, encode_clip, encoders_from_inputs, input_groups
from sw.qnet import InputGroup

__all__ = ["DataSpecError", "EncodedSet", "load_encoded", "parse_spec", "encode_one", "CACHE_VERSION"]

CACHE_VERSION = 1
KINDS = ("builtin", "ravdess", "cremad")
BUILTIN_DEFAULTS = {"clips": 1000, "seed": 0, "actors": 24}


class DataSpecError(ValueError):
    """A data set spec that cannot be understood (message shows it)."""


@dataclass
class EncodedSet:
    """Spike trains of a whole data set.

    Members
    -------
    x : uint8 [N, T, N_in]
        Spikes, input groups concatenated in ``inputs`` order.
    y : int64 [N]
        Class index into ``classes``.
    actors : int64 [N]
        Actor (speaker) number, for speaker-independent splits.
    classes : list[str]
    inputs : list[InputGroup]
        The input groups (with encoder parameters) for the model header.
    paths : list[str]
        The clip each row came from (the video file, else the audio file).
    skipped : list[tuple[str, str]]
        ``(path, reason)`` of every file or clip left out.
    intensity : int64 [N]
        Data set intensity code (RAVDESS 1 normal / 2 strong; CREMA-D 0..3).
    source : str
        The spec the set was loaded from.
    """

    x: np.ndarray
    y: np.ndarray
    actors: np.ndarray
    classes: list[str]
    inputs: list[InputGroup]
    paths: list[str]
    skipped: list[tuple[str, str]]
    intensity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: str = ""

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def timesteps(self) -> int:
        return int(self.x.shape[1])

    def subset(self, idx: np.ndarray) -> "EncodedSet":
        """The rows ``idx`` (e.g. one part of :func:`sw.data.actor_split`)."""
        idx = np.asarray(idx, dtype=np.int64)
        return EncodedSet(
            x=self.x[idx],
            y=self.y[idx],
            actors=self.actors[idx],
            classes=list(self.classes),
            inputs=list(self.inputs),
            paths=[self.paths[i] for i in idx],
            skipped=list(self.skipped),
            intensity=self.intensity[idx] if self.intensity.size else self.intensity,
            source=self.source,
        )

    def summary(self, max_lines: int = 20) -> str:
        """Counts per class and the skip list, as printed by the CLI."""
        counts = np.bincount(self.y, minlength=len(self.classes)) if len(self) else np.zeros(len(self.classes), int)
        lines = [
            f"{self.source}: {len(self)} clips, {len(np.unique(self.actors))} actors, "
            f"x {tuple(self.x.shape)} ({', '.join(f'{g.name} {g.size}' for g in self.inputs)}), "
            f"{len(self.skipped)} skipped",
            "  per class: " + ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts)),
        ]
        for path, reason in self.skipped[:max_lines]:
            lines.append(f"  skipped {path}: {reason}")
        if len(self.skipped) > max_lines:
            lines.append(f"  ... and {len(self.skipped) - max_lines} more skipped")
        return "\n".join(lines)


def parse_spec(spec: str) -> tuple[str, Path, dict[str, int]]:
    """Split ``KIND:DIR[?key=value&...]`` into kind, folder and options.

    Options are for ``builtin`` only: ``clips``, ``seed`` and ``actors`` of
    the corpus to synthesize if ``DIR`` does not hold one yet.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise DataSpecError(f"data set spec {spec!r} must look like KIND:DIR with KIND one of {list(KINDS)}")
    kind, rest = spec.split(":", 1)
    if kind not in KINDS:
        raise DataSpecError(f"data set spec {spec!r}: unknown kind {kind!r} (one of {list(KINDS)})")
    path, _, query = rest.partition("?")
    if not path:
        raise DataSpecError(f"data set spec {spec!r} names no folder")
    options: dict[str, int] = {}
    if query:
        if kind != "builtin":
            raise DataSpecError(f"data set spec {spec!r}: options are only for builtin:")
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if key not in BUILTIN_DEFAULTS or not eq:
                raise DataSpecError(f"data set spec {spec!r}: unknown option {item!r} (known: {list(BUILTIN_DEFAULTS)})")
            try:
                options[key] = int(value)
            except ValueError:
                raise DataSpecError(f"data set spec {spec!r}: option {key} must be an integer, not {value!r}") from None
    return kind, Path(path), options


def encode_one(clip: Clip, encoders: Sequence[Encoder]) -> np.ndarray:
    """Read, crop and encode one clip; :class:`MediaError` if it cannot be used."""
    audio = frames = None
    sr = fps = None
    for e in encoders:
        if isinstance(e, AudioEncoder):
            if clip.audio is None:
                raise MediaError(f"{clip.path}: the encoders need audio but the take has none")
            audio, sr = read_audio(clip.audio, e.sample_rate), e.sample_rate
            if audio.size < e.win_samples:
                raise MediaError(f"{clip.audio}: audio is shorter than one {e.win_ms} ms window")
        elif isinstance(e, VisualEncoder):
            if clip.video is None:
                raise MediaError(f"{clip.path}: the encoders need video but the take has none")
            raw, fps = read_video(clip.video)
            frames = crop_faces(raw, e.side, where=clip.video)
    try:
        return encode_clip(list(encoders), audio, sr, frames, fps)
    except EncoderError as e:
        raise MediaError(f"{clip.path}: {e}") from None


def _encode_job(job: tuple[Clip, list[Encoder]]) -> tuple[np.ndarray | None, str | None]:
    clip, encoders = job
    try:
        return encode_one(clip, encoders), None
    except MediaError as e:
        return None, str(e)


def _file_identity(root: Path, clips: list[Clip], skipped: list[Skip]) -> list[tuple[str, int, int]]:
    files = set()
    for c in clips:
        files.update(p for p in (c.audio, c.video) if p is not None)
    files.update(s.path for s in skipped)
    out = []
    for f in sorted(files):
        p = Path(f)
        try:
            st = p.stat()
            out.append((os.path.relpath(p, root), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((os.path.relpath(p, root), -1, -1))
    return out


def _cache_dir(root: Path, cache_dir: str | Path | None) -> Path | None:
    candidates = [Path(cache_dir)] if cache_dir is not None else [root / ".eavs_cache", Path.home() / ".cache" / "eavs"]
    for c in candidates:
        try:
            c.mkdir(parents=True, exist_ok=True)
            if os.access(c, os.W_OK):
                return c
        except OSError:
            continue
    if cache_dir is not None:
        raise DataSpecError(f"cache folder {cache_dir} cannot be created or written")
    return None


def load_encoded(
    spec: str,
    encoders: Sequence[Encoder],
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> EncodedSet:
    """Load a data set as spike trains (see the module docstring).

    Parameters
    ----------
    spec : str
        ``builtin:DIR[?clips=N&seed=S&actors=A]`` (synthesized into DIR if it
        holds no corpus yet), ``ravdess:DIR`` or ``cremad:DIR``.
    encoders : list of AudioEncoder / VisualEncoder, or a model's InputGroups
        One per input group, in model header order (unimodal is fine).
    cache_dir : path, optional
        Where the encoded set is cached (default ``DIR/.eavs_cache``, or
        ``~/.cache/eavs`` if DIR is read-only).
    progress : bool
        Show progress bars and print the summary.
    workers : int, optional
        Processes for encoding (default: up to 2).
    """
    kind, root, options = parse_spec(spec)
    encoders = list(encoders)
    if encoders and all(isinstance(e, InputGroup) for e in encoders):
        encoders = encoders_from_inputs(encoders)  # a model's input groups: encode as it was trained
    groups = input_groups(encoders)  # validates kinds and a common T
    need_audio = any(isinstance(e, AudioEncoder) for e in encoders)
    need_video = any(isinstance(e, VisualEncoder) for e in encoders)
    if kind == "builtin":
        from sw.data.synth import MANIFEST, synthesize

        if not (root / MANIFEST).is_file():
            opts = {**BUILTIN_DEFAULTS, **options}
            if progress:
                print(f"synthesizing the built-in corpus into {root} ({opts})", file=sys.stderr)
            synthesize(root, clips=opts["clips"], seed=opts["seed"], actors=opts["actors"], progress=progress)
        elif options:
            have = json.loads((root / MANIFEST).read_text())
            diff = {k: (have.get(k), v) for k, v in options.items() if have.get(k) != v}
            if diff:
                raise DataSpecError(f"{root} holds a corpus with other parameters (have, asked): {diff}")
    if kind == "cremad":
        classes = list(cremad.CLASSES)
        clips, skips = cremad.scan(root, need_audio, need_video)
    else:
        classes = list(ravdess.CLASSES)
        clips, skips = ravdess.scan(root, need_audio, need_video)
    key_src = {
        "cache_version": CACHE_VERSION,
        "kind": kind,
        "encoders": [e.to_dict() for e in encoders],
        "files": _file_identity(root, clips, skips),
    }
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:24]
    cdir = _cache_dir(root, cache_dir)
    cache_file = cdir / f"{kind}-{key}.npz" if cdir is not None else None
    result = _read_cache(cache_file, root, classes, groups, spec) if cache_file is not None else None
    if result is None:
        result = _encode_all(clips, skips, encoders, classes, groups, spec, root, progress, workers)
        if cache_file is not None:
            _write_cache(cache_file, result, root)
    if progress or result.skipped:
        print(result.summary(), file=sys.stderr)
    return result


def _encode_all(clips, skips, encoders, classes, groups, spec, root, progress, workers) -> EncodedSet:
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DataSpecError(f"workers must be a positive integer, not {workers!r}")
    jobs = [(c, encoders) for c in clips]
    if workers == 1 or len(jobs) < 8:
        results = map(_encode_job, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_encode_job, jobs, chunksize=4)
    try:
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc=f"encode {spec}", unit="clip")
        xs, keep, skipped = [], [], [(s.path, s.reason) for s in skips]
        for clip, (x, err) in zip(clips, results):
            if err is not None:
                prefix = f"{clip.path}: "
                skipped.append((clip.path, err[len(prefix) :] if err.startswith(prefix) else err))
            else:
                xs.append(x)
                keep.append(clip)
    finally:
        if pool is not None:
            pool.shutdown()
    n_in = sum(g.size for g in groups)
    t = encoders[0].timesteps
    return EncodedSet(
        x=np.stack(xs) if xs else np.zeros((0, t, n_in), dtype=np.uint8),
        y=np.array([c.label for c in keep], dtype=np.int64),
        actors=np.array([c.actor for c in keep], dtype=np.int64),
        classes=classes,
        inputs=groups,
        paths=[c.path for c in keep],
        skipped=skipped,
        intensity=np.array([c.intensity for c in keep], dtype=np.int64),
        source=spec,
    )


def _write_cache(path: Path, s: EncodedSet, root: Path) -> None:
    meta = {
        "paths": [os.path.relpath(p, root) for p in s.paths],
        "skipped": [[os.path.relpath(p, root), r] for p, r in s.skipped],
    }
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz")
    try:
        np.savez_compressed(
            tmp,
            x=s.x,
            y=s.y,
            actors=s.actors,
            intensity=s.intensity,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
        os.replace(tmp, path)
    except OSError as e:
        print(f"warning: could not write the encoding cache {path}: {e}", file=sys.stderr)
        tmp.unlink(missing_ok=True)


def _read_cache(path: Path, root: Path, classes, groups, spec) -> EncodedSet | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            x, y, actors, intensity = z["x"], z["y"], z["actors"], z["intensity"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        print(f"warning: ignoring unreadable encoding cache {path}: {e}", file=sys.stderr)
        return None
    return EncodedSet(
        x=x,
        y=y,
        actors=actors,
        classes=list(classes),
        inputs=list(groups),
        paths=[str(root / p) for p in meta["paths"]],
        skipped=[(str(root / p), r) for p, r in meta["skipped"]],
        intensity=intensity,
        source=spec,
    )
