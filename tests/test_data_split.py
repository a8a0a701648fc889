"""Speaker-independent splits: disjoint actors, full coverage, determinism, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from sw.data import SplitError, actor_folds, actor_split


def actors_of(n_actors=24, per=10, seed=0):
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(1, n_actors + 1), per))


def test_split_parts_are_actor_disjoint_and_cover_everything():
    actors = actors_of()
    tr, va, te = actor_split(actors, seed=1, val_actors=4, test_actors=0.25)
    parts = [set(actors[p]) for p in (tr, va, te)]
    assert [len(p) for p in parts] == [14, 4, 6]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(actors.size))
    assert all(np.all(np.diff(p) > 0) for p in (tr, va, te))
    again = actor_split(actors, seed=1, val_actors=4, test_actors=0.25)
    assert all(np.array_equal(a, b) for a, b in zip(again, (tr, va, te)))
    other = actor_split(actors, seed=2, val_actors=4, test_actors=0.25)
    assert not np.array_equal(other[2], te)


def test_folds_test_every_clip_exactly_once():
    actors = actors_of(10, 3)
    folds = actor_folds(actors, k=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([te for _, _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(actors.size))
    for tr, va, te in folds:
        a = [set(actors[p]) for p in (tr, va, te)]
        assert a[0].isdisjoint(a[1] | a[2]) and a[1].isdisjoint(a[2]) and len(a[0]) == 6


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: actor_split(np.array([1, 2, 3]), val_actors=1, test_actors=2), "no training actor"),
        (lambda: actor_split(np.array([1, 2, 3]), val_actors=1.5), "fraction"),
        (lambda: actor_split(np.array([1, 2, 3]), test_actors=-1), ">= 0"),
        (lambda: actor_split(np.array([], dtype=int)), "non-empty"),
        (lambda: actor_folds(np.array([1, 2, 3]), k=4), "at least 4 actors"),
        (lambda: actor_folds(np.array([1, 2, 3]), k=2), "k must be"),
    ],
)
def test_impossible_splits_are_refused(call, match):
    with pytest.raises(SplitError, match=match):
        call()
