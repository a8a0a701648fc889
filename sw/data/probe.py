"""A linear probe of an encoded data set: how much each input group tells.

It answers "does fusion matter on this data?" without training a spiking
network: ridge regression onto one-hot labels from simple spike-count
features (each channel's spike rate in ``chunks`` equal time slices,
standardised), with speaker-independent k-fold cross-validation
(:func:`sw.data.split.actor_folds`; each fold trains on the non-test actors).
It is run per input group and on all groups together. The probe is a floor
on what a model can extract, not a ceiling; use it to compare modalities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.data.split import actor_folds

__all__ = ["ProbeResult", "probe", "features"]


@dataclass
class ProbeResult:
    """Mean test accuracy per feature set (``audio``, ``visual``, ``all``)
    over the folds, with the per-fold values and the chance level."""

    accuracy: dict[str, float]
    folds: dict[str, list[float]]
    chance: float

    def table(self) -> str:
        lines = [f"{'inputs':<10} {'accuracy':>9}   per fold"]
        for k, v in self.accuracy.items():
            lines.append(f"{k:<10} {v:>9.3f}   {' '.join(f'{a:.3f}' for a in self.folds[k])}")
        lines.append(f"{'chance':<10} {self.chance:>9.3f}   (largest class share)")
        return "\n".join(lines)


def features(x: np.ndarray, chunks: int = 4) -> np.ndarray:
    """Spike rate of every channel in ``chunks`` time slices: ``[N, chunks * C]``."""
    parts = np.array_split(np.arange(x.shape[1]), chunks)
    return np.concatenate([x[:, p].mean(axis=1, dtype=np.float64) for p in parts], axis=1)


def _ridge_accuracy(f: np.ndarray, y: np.ndarray, n_classes: int, tr: np.ndarray, te: np.ndarray, lam: float) -> float:
    mu, sd = f[tr].mean(axis=0), f[tr].std(axis=0) + 1e-3
    a = (f - mu) / sd
    a = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
    t = np.eye(n_classes)[y]
    at = a[tr]
    if at.shape[1] > at.shape[0]:  # dual form: an n x n system instead of d x d
        alpha = np.linalg.solve(at @ at.T + lam * np.eye(at.shape[0]), t[tr])
        scores = a[te] @ (at.T @ alpha)
    else:
        w = np.linalg.solve(at.T @ at + lam * np.eye(at.shape[1]), at.T @ t[tr])
        scores = a[te] @ w
    return float(np.mean(np.argmax(scores, axis=1) == y[te]))


def probe(x: np.ndarray, y: np.ndarray, actors: np.ndarray, groups: dict[str, slice], k: int = 6, seed: int = 0,
          chunks: int = 4, lam: float = 1000.0) -> ProbeResult:  # fmt: skip
    """Cross-validated linear-probe accuracy of each group and of all together.

    ``groups`` maps a name to the slice of input channels it occupies; with
    more than one group an ``all`` entry uses every channel.
    """
    y = np.asarray(y)
    n_classes = int(y.max()) + 1
    sets = dict(groups)
    if len(groups) > 1:
        sets["all"] = slice(0, x.shape[2])
    folds = actor_folds(actors, k=k, seed=seed)
    per: dict[str, list[float]] = {}
    for name, sl in sets.items():
        f = features(x[:, :, sl], chunks)
        per[name] = [_ridge_accuracy(f, y, n_classes, np.concatenate([tr, va]), te, lam) for tr, va, te in folds]
    chance = float(np.bincount(y).max() / y.size)
    return ProbeResult({k_: float(np.mean(v)) for k_, v in per.items()}, per, chance)
