"""Data sets: the built-in synthetic corpus, RAVDESS and CREMA-D, encoded to spikes.

numpy, soundfile and OpenCV only (no torch). Entry points:

- :func:`check_data_spec`: validate a data spec cheaply (kind with a
  did-you-mean, options, folder exists, a built-in corpus is there) before
  any long stage;
- :func:`load_encoded` (``"builtin:DIR"``, ``"ravdess:DIR"``, ``"cremad:DIR"``)
  -> :class:`EncodedSet`, cached on disk;
- :func:`actor_split` / :func:`actor_folds`: speaker-independent splits;
- :mod:`sw.data.synth`: the synthetic corpus generator (``synthesize``);
- :mod:`sw.data.ravdess`, :mod:`sw.data.cremad`: name parsing and ``scan``.
"""

from sw.data.dataset import DataSpecError, EncodedSet, check_data_spec, load_encoded, parse_spec
from sw.data.media import Clip, MediaError, Skip
from sw.data.split import SplitError, actor_folds, actor_split

__all__ = [
    "Clip",
    "DataSpecError",
    "EncodedSet",
    "MediaError",
    "Skip",
    "SplitError",
    "actor_folds",
    "actor_split",
    "check_data_spec",
    "load_encoded",
    "parse_spec",
]
