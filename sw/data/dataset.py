"""Encoded data sets: a data set spec plus encoders in, spike trains out, cached.

``load_encoded("builtin:DIR", encoders)`` (or ``ravdess:DIR``,
``cremad:DIR``) scans the data set, checks every clip's headers
(:func:`clip_problems`: what ``eavs data info`` reports too), reads and
encodes every usable clip (audio resampled to the encoder's rate, the face
tracked and cropped with OpenCV's Haar cascade, frames resampled to the
encoder's rate) and returns an :class:`EncodedSet`. Clips that cannot be used
are skipped with a reason, doubtful ones are kept with a warning (silent
audio, too few video frames, audio and video of very different lengths, a
face lost for a while); both are counted in the summary on stderr, so nothing
is dropped silently. A set with no usable clip stops with the top reasons.

Encoding runs in worker processes; a worker that dies (a crash inside a
media library) costs only its clip, which is retried alone and reported.

The result is cached on disk (in the user's cache folder, never in the data
folder unless asked), keyed by the encoder parameters, the data set
kind, options and folder, and each file's size, modification time and
content hash (first and last 64 KiB): change any of them and the set is
encoded again; the files of older versions of the same set are pruned.

A ``builtin:DIR`` spec never creates a corpus here unless asked
(``synthesize=True``: the demo and tests); :func:`check_data_spec` is the
cheap check a command runs before any long stage.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
import uuid
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from sw.data import cremad, ravdess
from sw.data.media import Clip, MediaError, Skip, audio_info, crop_faces, read_audio, read_video, show, track_crops, track_faces, video_info
from sw.encode import AudioEncoder, Encoder, EncoderError, VisualEncoder, encode_clip, encoders_from_inputs, input_groups
from sw.qnet import InputGroup

__all__ = [
    "DataSpecError",
    "EncodedSet",
    "load_encoded",
    "parse_spec",
    "check_data_spec",
    "scan_spec",
    "face_problems",
    "clip_problems",
    "encode_one",
    "content_hash",
    "top_reasons",
    "by_reason",
    "write_skipped_csv",
    "default_cache_dir",
    "cache_files",
    "cache_line",
    "CACHE_VERSION",
]

CACHE_VERSION = 2
KINDS = ("builtin", "ravdess", "cremad")
BUILTIN_DEFAULTS = {"clips": 1000, "seed": 0, "actors": 24}
VOCAL_CHOICES = ("speech", "song", "both")
#: A video with fewer frames than this is encoded but warned about (its
#: events are stretched over T bins; fewer than ~0.5 s of face says little).
MIN_VIDEO_FRAMES = 16
#: Audio and video of one take whose durations differ by more than this
#: ratio are warned about: each is stretched over the same T bins, so their
#: events no longer line up in time.
DURATION_RATIO = 1.5
#: Audio whose peak stays below this level (dBFS) is warned about as silent.
SILENT_DBFS = -60.0
#: Bytes hashed at each end of a media file for the cache key.
HASH_BLOCK = 65536


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
    warnings: list[tuple[str, str]] = field(default_factory=list)

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
            warnings=list(self.warnings),
        )

    def summary(self, max_lines: int = 20) -> str:
        """Counts per class and the skip list, as printed by the CLI."""
        counts = np.bincount(self.y, minlength=len(self.classes)) if len(self) else np.zeros(len(self.classes), int)
        lines = [
            f"{show(self.source)}: {len(self)} clips, {len(np.unique(self.actors))} actors, "
            f"x {tuple(self.x.shape)} ({', '.join(f'{g.name} {g.size}' for g in self.inputs)}), "
            f"{len(self.skipped)} skipped, {len(self.warnings)} warnings",
            "  per class: " + ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts)),
        ]
        if self.skipped:
            lines.append(f"  skipped: {top_reasons(self.skipped)}")
        if len(self.skipped) <= max_lines:
            lines += [f"  skipped {show(path)}: {reason}" for path, reason in self.skipped]
        else:  # at scale: one line per reason (every file: `eavs data info --skipped FILE.csv`)
            lines.append("  skipped, by reason:")
            lines += [f"    {ln}" for ln in by_reason(self.skipped)]
        if len(self.warnings) <= max_lines:
            lines += [f"  warning {show(path)}: {w}" for path, w in self.warnings]
        else:
            lines.append("  warnings, by kind:")
            lines += [f"    {ln}" for ln in by_reason(self.warnings)]
        return "\n".join(lines)


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_spec(spec: str) -> tuple[str, Path, dict[str, int | str]]:
    """Split ``KIND:DIR[?key=value&...]`` into kind, folder and options.

    Options: ``clips``, ``seed``, ``actors`` (``builtin`` only: the corpus
    parameters, checked against the corpus found in ``DIR``) and ``vocal``
    (``builtin`` and ``ravdess``: ``speech`` (default), ``song`` or ``both``).
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise DataSpecError(f"data set spec {spec!r} must look like KIND:DIR with KIND one of {list(KINDS)}")
    kind, rest = spec.split(":", 1)
    if kind not in KINDS:
        raise DataSpecError(f"data set spec {spec!r}: unknown kind {kind!r} (one of {list(KINDS)}){_did_you_mean(kind, KINDS)}")
    path, _, query = rest.partition("?")
    if not path:
        raise DataSpecError(f"data set spec {spec!r} names no folder")
    options: dict[str, int | str] = {}
    if query:
        if kind == "cremad":
            raise DataSpecError(f"data set spec {spec!r}: options are only for builtin: and ravdess:")
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if key == "vocal" and eq:
                if value not in VOCAL_CHOICES:
                    raise DataSpecError(f"data set spec {spec!r}: vocal must be one of {list(VOCAL_CHOICES)}, not {value!r}")
                options[key] = value
                continue
            if kind != "builtin" and key in BUILTIN_DEFAULTS:
                raise DataSpecError(f"data set spec {spec!r}: option {key} is only for builtin:")
            if key not in BUILTIN_DEFAULTS or not eq:
                known = list(BUILTIN_DEFAULTS) + ["vocal"]
                raise DataSpecError(f"data set spec {spec!r}: unknown option {item!r} (known: {known})")
            try:
                options[key] = int(value)
            except ValueError:
                raise DataSpecError(f"data set spec {spec!r}: option {key} must be an integer, not {value!r}") from None
    return kind, Path(path), options


def check_data_spec(spec: str, allow_npz: bool = False) -> tuple[str, Path, dict[str, int | str]]:
    """Validate a data spec cheaply, before any long stage: raises :class:`DataSpecError`
    with one line naming what is wrong.

    Checks the kind (with a did-you-mean), the options, and that the folder
    exists; a ``builtin:DIR`` must already hold a corpus (only ``eavs data
    synth`` and the demo create one), and the error says how to make it.
    With ``allow_npz``, ``npz:FILE`` (encoded spikes) is accepted if the file
    exists. Returns ``(kind, path, options)``; reads no media.
    """
    if allow_npz and isinstance(spec, str) and spec.startswith("npz:"):
        path = Path(spec[4:])
        if not spec[4:]:
            raise DataSpecError(f"data set spec {spec!r} names no file")
        if not path.is_file():
            raise DataSpecError(f"data set spec {spec!r}: file {show(path)} not found")
        return "npz", path, {}
    if allow_npz and isinstance(spec, str) and ":" in spec:
        kind = spec.split(":", 1)[0]
        if kind not in KINDS:
            raise DataSpecError(
                f"data set spec {spec!r}: unknown kind {kind!r} (one of {list(KINDS) + ['npz']})"
                f"{_did_you_mean(kind, list(KINDS) + ['npz'])}"
            )
    kind, root, options = parse_spec(spec)
    if not root.exists():
        hint = f" (make one with `eavs data synth --out {show(root)}`)" if kind == "builtin" else ""
        raise DataSpecError(f"data set spec {spec!r}: folder {show(root)} does not exist{hint}")
    if not root.is_dir():
        raise DataSpecError(f"data set spec {spec!r}: {show(root)} is not a folder")
    if kind == "builtin":
        from sw.data.synth import MANIFEST

        if not (root / MANIFEST).is_file():
            raise DataSpecError(
                f"data set spec {spec!r}: {show(root)} holds no built-in corpus ({MANIFEST} missing); "
                f"make one with `eavs data synth --out NEW_DIR`"
            )
    return kind, root, options


def clip_problems(clip: Clip, encoders: Sequence[Encoder]) -> tuple[str | None, list[str]]:
    """Cheap header checks of one clip: ``(reason it cannot be used or None, warnings)``.

    Opens only the headers (audio frames and rate with soundfile, the video
    frame count and rate with OpenCV), so ``eavs data info`` counts exactly
    the clips that ``encode`` will try. What a header cannot tell (a face
    the detector misses, silent audio) is found when the clip is encoded.
    """
    warnings: list[str] = []
    a_dur = v_dur = None
    try:
        for e in encoders:
            if isinstance(e, AudioEncoder):
                if clip.audio is None:
                    return "the encoders need audio but the take has none", warnings
                n, sr = audio_info(clip.audio)
                if n == 0:
                    return f"{show(clip.audio)}: audio file has no samples", warnings
                if sr < e.sample_rate:
                    return f"{show(clip.audio)}: sample rate {sr} Hz is below the required {e.sample_rate} Hz", warnings
                a_dur = n / sr
            elif isinstance(e, VisualEncoder):
                if clip.video is None:
                    return "the encoders need video but the take has none", warnings
                n, fps = video_info(clip.video)
                v_dur = n / fps
                if n < MIN_VIDEO_FRAMES:
                    warnings.append(f"video of only {n} frames (fewer than {MIN_VIDEO_FRAMES})")
    except MediaError as err:
        return str(err), warnings
    if a_dur and v_dur and max(a_dur, v_dur) > DURATION_RATIO * min(a_dur, v_dur):
        warnings.append(f"audio {a_dur:.2f} s and video {v_dur:.2f} s differ by more than {DURATION_RATIO}x")
    return None, warnings


def encode_one(clip: Clip, encoders: Sequence[Encoder]) -> np.ndarray:
    """Read, crop and encode one clip; :class:`MediaError` if it cannot be used."""
    return _encode_checked(clip, encoders)[0]


def _encode_checked(clip: Clip, encoders: Sequence[Encoder]) -> tuple[np.ndarray, list[str]]:
    audio = frames = visible = None
    sr = fps = None
    warnings: list[str] = []
    for e in encoders:
        if isinstance(e, AudioEncoder):
            if clip.audio is None:
                raise MediaError(f"{show(clip.path)}: the encoders need audio but the take has none")
            audio, sr = read_audio(clip.audio, e.sample_rate), e.sample_rate
            if audio.size < e.win_samples:
                raise MediaError(f"{show(clip.audio)}: audio is shorter than one {e.win_ms} ms window")
            peak = float(np.max(np.abs(audio)))
            if peak < 10.0 ** (SILENT_DBFS / 20.0):
                warnings.append(f"silent audio (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS, below {SILENT_DBFS} dBFS)")
        elif isinstance(e, VisualEncoder):
            if clip.video is None:
                raise MediaError(f"{show(clip.path)}: the encoders need video but the take has none")
            raw, fps = read_video(clip.video)
            if e.track == "fixed":  # a model from before tracking: one box per clip, as it was trained
                frames, visible = crop_faces(raw, e.side, where=show(clip.video)), None
            else:
                frames, visible = track_crops(raw, fps, e.side, where=show(clip.video), detect_step=e.detect_step,
                                              smooth_s=e.smooth_s, hold_s=e.hold_s, max_missing=e.max_missing,
                                              tracker=e.tracker)  # fmt: skip
            if visible is not None and not visible.all():
                warnings.append(f"face not found in {int((~visible).sum())} of {visible.size} frames (those steps are empty)")
    try:
        return encode_clip(list(encoders), audio, sr, frames, fps, visible), warnings
    except EncoderError as e:
        raise MediaError(f"{show(clip.path)}: {e}") from None


def _encode_job(job: tuple[Clip, list[Encoder]]) -> tuple[np.ndarray | None, str | None, list[str]]:
    clip, encoders = job
    try:
        x, warnings = _encode_checked(clip, encoders)
        return x, None, warnings
    except MediaError as e:
        return None, str(e), []
    except Exception as e:  # a bug or a library failure on odd media: report the clip, keep the pool
        return None, f"encoder failed ({type(e).__name__}: {e})", []


def content_hash(path: str | Path, block: int = HASH_BLOCK) -> str:
    """Cheap content fingerprint: size plus the first and last ``block`` bytes (sha256).

    Catches a file replaced by other content of the same size with an old
    modification time (the first or last block differs in any real media
    file), without reading whole videos.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        h.update(str(size).encode())
        f.seek(0)
        h.update(f.read(block))
        if size > block:
            f.seek(max(block, size - block))
            h.update(f.read(block))
    return h.hexdigest()[:16]


def _file_identity(root: Path, clips: list[Clip], skipped: list[Skip]) -> list[tuple[str, int, int, str]]:
    """Each file's size, modification time and :func:`content_hash`: the files part of the cache key."""
    files = set()
    for c in clips:
        files.update(p for p in (c.audio, c.video) if p is not None)
    files.update(s.path for s in skipped)
    out = []
    for f in sorted(files):
        p = Path(f)
        rel = show(os.path.relpath(p, root))
        try:
            st = p.stat()
            out.append((rel, st.st_size, st.st_mtime_ns, content_hash(p)))
        except OSError:
            out.append((rel, -1, -1, ""))
    return out


def default_cache_dir() -> Path:
    """The user's cache folder for encoded sets: ``$XDG_CACHE_HOME/eavs``, else ``~/.cache/eavs``.

    Never a data folder: the user's data stays theirs (``--cache-dir`` puts
    the cache anywhere, a data folder included, when asked)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "eavs"


def cache_files(cdir: Path) -> list[Path]:
    """The encoded-set cache files in ``cdir`` (``KIND-SETKEY-FILESKEY.npz``), nothing else."""
    if not cdir.is_dir():
        return []
    return sorted(p for p in cdir.glob("*-*-*.npz") if p.name.split("-", 1)[0] in ("builtin", "ravdess", "cremad"))


def cache_line(cdir: Path | None) -> str:
    """One line saying where the cache is, its size, and how to clear it."""
    if cdir is None:
        return f"cache: none (no writable cache folder at {show(default_cache_dir())}; give --cache-dir DIR), encoding uncached"
    files = cache_files(cdir)
    size = sum(p.stat().st_size for p in files)
    return f"cache: {show(cdir)} ({len(files)} encoded sets, {size / 1e6:.1f} MB); clear it with `eavs data cache --clear`"


def _cache_dir(root: Path, cache_dir: str | Path | None) -> Path | None:
    c = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        c.mkdir(parents=True, exist_ok=True)
        if os.access(c, os.W_OK):
            return c
    except OSError:
        pass
    if cache_dir is not None:
        raise DataSpecError(f"cache folder {cache_dir} cannot be created or written")
    return None


def scan_spec(spec: str, encoders: Sequence[Encoder]) -> tuple[list[str], list[Clip], list[Skip], dict[str, list[str]]]:
    """Scan a data set and check every clip's headers: ``(classes, clips, skipped, warnings)``.

    The clips returned are exactly those ``load_encoded`` will encode
    (warnings map a clip's path to its warnings). Shared by ``eavs data info``.
    """
    kind, root, options = check_data_spec(spec)
    need_audio = any(isinstance(e, AudioEncoder) for e in encoders)
    need_video = any(isinstance(e, VisualEncoder) for e in encoders)
    if kind == "cremad":
        classes = list(cremad.CLASSES)
        clips, skips = cremad.scan(root, need_audio, need_video)
    else:
        classes = list(ravdess.CLASSES)
        clips, skips = ravdess.scan(root, need_audio, need_video, vocal=str(options.get("vocal", "speech")))
    good: list[Clip] = []
    warnings: dict[str, list[str]] = {}
    for c in clips:
        reason, warn = clip_problems(c, encoders)
        if reason is not None:
            prefix = f"{show(c.path)}: "
            skips.append(Skip(c.path, reason[len(prefix) :] if reason.startswith(prefix) else reason))
        else:
            good.append(c)
            if warn:
                warnings[c.path] = warn
    return classes, good, skips, warnings


def face_problems(clips: Sequence[Clip], encoders: Sequence[Encoder], progress: bool = False) -> list[Skip]:
    """The clips whose face ``encode`` would not find, as skips with the reason (decodes every
    video and runs the tracker of the visual encoder: as slow as encoding the video)."""
    vis = [e for e in encoders if isinstance(e, VisualEncoder)]
    if not vis:
        return []
    from tqdm import tqdm

    e = vis[0]
    out: list[Skip] = []
    for c in tqdm(clips, desc="checking faces", unit="clip", disable=not progress, file=sys.stderr):
        try:
            raw, fps = read_video(c.video)
            if e.track == "fixed":
                crop_faces(raw, e.side, where=show(c.video))
            else:
                track_faces(raw, fps, show(c.video), detect_step=e.detect_step, smooth_s=e.smooth_s, hold_s=e.hold_s,
                            max_missing=e.max_missing, tracker=e.tracker)  # fmt: skip
        except MediaError as err:
            prefix = f"{show(c.video)}: "
            msg = str(err)
            out.append(Skip(c.path, msg[len(prefix) :] if msg.startswith(prefix) else msg))
    return out


def load_encoded(
    spec: str,
    encoders: Sequence[Encoder],
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    synthesize: bool = False,
) -> EncodedSet:
    """Load a data set as spike trains (see the module docstring).

    Parameters
    ----------
    spec : str
        ``builtin:DIR[?clips=N&seed=S&actors=A]``, ``ravdess:DIR[?vocal=speech|song|both]``
        or ``cremad:DIR``. The folder must exist (see :func:`check_data_spec`).
    encoders : list of AudioEncoder / VisualEncoder, or a model's InputGroups
        One per input group, in model header order (unimodal is fine).
    cache_dir : path, optional
        Where the encoded set is cached (default :func:`default_cache_dir`,
        the user's cache folder; never inside the data folder unless asked).
        With no writable folder the set is encoded uncached, and the first
        line printed says so.
    progress : bool
        Show progress bars and print the summary.
    workers : int, optional
        Processes for encoding (default: up to 2).
    synthesize : bool
        ``builtin:`` only: synthesize the corpus into DIR if it holds none
        (the demo and tests; the CLI never does, it names the missing folder).

    Raises :class:`DataSpecError` "no usable clip in SPEC: N skipped (top
    reasons ...)" when nothing can be encoded.
    """
    kind, root, options = parse_spec(spec)
    encoders = list(encoders)
    if encoders and all(isinstance(e, InputGroup) for e in encoders):
        encoders = encoders_from_inputs(encoders)  # a model's input groups: encode as it was trained
    groups = input_groups(encoders)  # validates kinds and a common T
    cdir = _cache_dir(root, cache_dir)
    if progress or cdir is None:
        print(cache_line(cdir), file=sys.stderr)
    if kind == "builtin":
        from sw.data.synth import MANIFEST, synthesize as make_corpus

        corpus_opts = {k: v for k, v in options.items() if k in BUILTIN_DEFAULTS}
        if synthesize and not (root / MANIFEST).is_file():
            opts = {**BUILTIN_DEFAULTS, **corpus_opts}
            if progress:
                print(f"synthesizing the built-in corpus into {show(root)} ({opts})", file=sys.stderr)
            make_corpus(root, clips=opts["clips"], seed=opts["seed"], actors=opts["actors"], progress=progress)
        check_data_spec(spec)
        if corpus_opts:
            have = json.loads((root / MANIFEST).read_text())
            diff = {k: (have.get(k), v) for k, v in corpus_opts.items() if have.get(k) != v}
            if diff:
                raise DataSpecError(f"{show(root)} holds a corpus with other parameters (have, asked): {diff}")
    elif not root.is_dir():
        raise FileNotFoundError(f"{kind} root {show(root)} is not a directory")
    classes, clips, skips, warnings = scan_spec(spec, encoders)
    files_key = hashlib.sha256(json.dumps(_file_identity(root, clips, skips), sort_keys=True).encode()).hexdigest()[:16]
    set_src = {"cache_version": CACHE_VERSION, "kind": kind, "options": options, "encoders": [e.to_dict() for e in encoders],
               "root": show(root.resolve())}  # fmt: skip
    set_key = hashlib.sha256(json.dumps(set_src, sort_keys=True).encode()).hexdigest()[:12]
    cache_file = cdir / f"{kind}-{set_key}-{files_key}.npz" if cdir is not None else None
    result = _read_cache(cache_file, root, classes, groups, spec) if cache_file is not None else None
    if result is None:
        result = _encode_all(clips, skips, warnings, encoders, classes, groups, spec, progress, workers)
        if cache_file is not None:
            _write_cache(cache_file, result, root)
            _prune_cache(cdir, f"{kind}-{set_key}-", keep=cache_file)
    if len(result) == 0:
        raise DataSpecError(f"no usable clip in {show(spec)}: {len(result.skipped)} skipped ({top_reasons(result.skipped)})")
    if progress or result.skipped or result.warnings:
        print(result.summary(), file=sys.stderr)
    return result


def _prune_cache(cdir: Path, prefix: str, keep: Path) -> None:
    """Delete this data set's cache files for older file contents (same encoders, same folder)."""
    for old in cdir.glob(prefix + "*.npz"):
        if old != keep:
            try:
                old.unlink()
            except OSError:
                pass


def _reason_key(r: str) -> str:
    """A reason with the file it names replaced by FILE (reasons that differ only there group)."""
    r = _MEDIA_NAME.sub("FILE", show(r))
    return r if len(r) <= 90 else r[:87] + "..."


def by_reason(items: Sequence[tuple[str, str]], examples: int = 3, max_reasons: int = 12) -> list[str]:
    """One line per reason, most frequent first: ``COUNTx REASON: e.g. PATH, PATH, PATH``.

    A data set of 10,000 broken files gives a dozen lines, not 10,000; every
    file is listed by ``eavs data info --verbose`` or ``--skipped FILE.csv``.
    """
    groups: dict[str, list[str]] = {}
    for path, r in items:
        groups.setdefault(_reason_key(r), []).append(path)
    order = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    lines = [f"{len(ps)}x {r}: e.g. {', '.join(show(p) for p in ps[:examples])}" + (", ..." if len(ps) > examples else "")
             for r, ps in order[:max_reasons]]  # fmt: skip
    if len(order) > max_reasons:
        rest = order[max_reasons:]
        lines.append(f"... and {sum(len(ps) for _, ps in rest)} more in {len(rest)} other reasons")
    return lines


def write_skipped_csv(path: str | Path, skipped: Sequence[tuple[str, str]]) -> int:
    """Every skipped file and its reason as CSV (``path,reason``); returns the rows written."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        for p, r in skipped:
            w.writerow([show(p), show(r)])
    return len(skipped)


def top_reasons(skipped: Sequence[tuple[str, str]], n: int = 3) -> str:
    """The ``n`` most frequent skip reasons with their counts (file names stripped)."""
    counts: dict[str, int] = {}
    for _, r in skipped:
        r = _reason_key(r)  # group reasons that differ only in the file named
        counts[r] = counts.get(r, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return "top reasons: " + "; ".join(f"{c}x {r}" for r, c in top) if top else "no media files found"


_MEDIA_NAME = re.compile(r"'?[^\s':]*\.(?:wav|mp4|flv)'?", re.IGNORECASE)


def _run_isolated(job: tuple[Clip, list[Encoder]]) -> tuple[np.ndarray | None, str | None, list[str]]:
    """Encode one clip in its own process, so a crash names this clip."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(_encode_job, job).result()
        except BrokenProcessPool:
            return None, "the encoder process died on this clip (crash in a media library)", []


def _encode_all(clips, skips, warnings, encoders, classes, groups, spec, progress, workers) -> EncodedSet:
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DataSpecError(f"workers must be a positive integer, not {workers!r}")
    jobs = [(c, encoders) for c in clips]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=f"encode {show(spec)}", unit="clip")
    results: list = [None] * len(jobs)
    if workers == 1 or len(jobs) < 8:
        for i, job in enumerate(jobs):
            results[i] = _encode_job(job)
            if bar is not None:
                bar.update()
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(_encode_job, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                try:
                    results[futures[fut]] = fut.result()
                except BrokenProcessPool:
                    pass  # a worker died: every clip it left unfinished is retried alone below
                if bar is not None:
                    bar.update()
        finally:
            pool.shutdown(cancel_futures=True)
        for i, r in enumerate(results):
            if r is None:
                results[i] = _run_isolated(jobs[i])
    if bar is not None:
        bar.close()
    xs, keep, skipped = [], [], [(s.path, s.reason) for s in skips]
    warned: list[tuple[str, str]] = []
    for clip, (x, err, warn) in zip(clips, results):
        if err is not None:
            prefix = f"{show(clip.path)}: "
            skipped.append((clip.path, err[len(prefix) :] if err.startswith(prefix) else err))
        else:
            xs.append(x)
            keep.append(clip)
            warned.extend((clip.path, w) for w in warnings.get(clip.path, []) + warn)
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
        warnings=warned,
    )


def _write_cache(path: Path, s: EncodedSet, root: Path) -> None:
    meta = {
        "paths": [os.path.relpath(p, root) for p in s.paths],
        "skipped": [[os.path.relpath(p, root), r] for p, r in s.skipped],
        "warnings": [[os.path.relpath(p, root), w] for p, w in s.warnings],
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
        warnings=[(str(root / p), w) for p, w in meta.get("warnings", [])],
        intensity=intensity,
        source=spec,
    )
