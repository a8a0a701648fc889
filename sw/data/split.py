"""Speaker-independent splits: no actor appears in more than one part.

Emotion corpora have a few dozen actors with many clips each; a random clip
split puts the same voice and face in training and test and overstates
accuracy. Both functions split *actors*, then return clip indices.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SplitError", "actor_split", "actor_folds"]


class SplitError(ValueError):
    """Split parameters that cannot be met (message shows the values)."""


def _unique_actors(actors) -> tuple[np.ndarray, np.ndarray]:
    actors = np.asarray(actors)
    if actors.ndim != 1 or actors.size == 0:
        raise SplitError(f"actors must be a non-empty 1-D array, got shape {actors.shape}")
    return actors, np.unique(actors)


def actor_split(
    actors, seed: int = 0, val_actors: int | float = 0.15, test_actors: int | float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, val, test)`` with disjoint actor sets.

    ``val_actors`` / ``test_actors`` are actor counts (int) or fractions of
    the actors (float in (0, 1), rounded, at least one). The actors are
    shuffled with ``seed``; the indices of each part are sorted.
    """
    actors, unique = _unique_actors(actors)
    n = unique.size

    def count(name, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SplitError(f"{name} must be an int count or a float fraction, not {v!r}")
        if isinstance(v, float):
            if not 0.0 <= v < 1.0:
                raise SplitError(f"{name} fraction must be in [0, 1), not {v!r}")
            return max(1, int(round(v * n))) if v > 0 else 0
        if v < 0:
            raise SplitError(f"{name} must be >= 0, not {v!r}")
        return v

    nv, nt = count("val_actors", val_actors), count("test_actors", test_actors)
    if nv + nt >= n:
        raise SplitError(f"{nv} validation + {nt} test actors leave no training actor among {n} actors")
    perm = np.random.default_rng(seed).permutation(unique)
    test, val, train = perm[:nt], perm[nt : nt + nv], perm[nt + nv :]
    return tuple(np.flatnonzero(np.isin(actors, part)) for part in (train, val, test))  # type: ignore[return-value]


def actor_folds(actors, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """k-fold actor cross-validation: fold i tests on actor group i and
    validates on group i+1 (mod k); the rest trains. Returns k
    ``(train, val, test)`` index triples whose test sets cover every clip once."""
    actors, unique = _unique_actors(actors)
    if isinstance(k, bool) or not isinstance(k, int) or k < 3:
        raise SplitError(f"k must be an integer >= 3 (train, val and test groups), not {k!r}")
    if k > unique.size:
        raise SplitError(f"k={k} folds need at least {k} actors, have {unique.size}")
    perm = np.random.default_rng(seed).permutation(unique)
    groups = np.array_split(perm, k)
    folds = []
    for i in range(k):
        test, val = groups[i], groups[(i + 1) % k]
        train = np.setdiff1d(perm, np.concatenate([test, val]))
        folds.append(tuple(np.flatnonzero(np.isin(actors, part)) for part in (train, val, test)))
    return folds  # type: ignore[return-value]
