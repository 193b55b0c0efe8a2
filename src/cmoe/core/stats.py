"""Uncertainty for accuracy numbers: bootstrap intervals and paired tests.

The claims in this study are mostly differences of a few accuracy points between models
evaluated on the same test items (a routed mixture versus a single expert, a distilled
student versus its teacher). On a few hundred items such a gap can be pure sampling noise,
so every headline number should carry an interval, and every "A beats B" should carry a
paired test:

* ``accuracy_with_ci`` gives a percentile bootstrap interval for one model's accuracy
  (``mean_with_ci`` for per-item scores between 0 and 1), and flags subsets too small to
  say much at all.
* ``paired_bootstrap_diff`` resamples *items* jointly for both models. Because both models
  see the same items, the easy/hard variation between items cancels out, which makes the
  interval for the difference much tighter (and more honest) than two separate intervals.
* ``mcnemar_exact`` asks whether the items on which the models disagree split unevenly
  more often than chance would allow; only discordant items carry evidence of a difference.
* ``replicate_bootstrap`` is for rows trained several times with different training seeds
  (replicates): a two-level bootstrap that resamples replicates, then items, so that its
  interval covers training variance as well as the choice of test items. McNemar's test
  compares two fixed models and does not apply across seeds; there the share of resampled
  differences on the other side of zero serves as the (approximate) two-sided p-value.

Inputs are per-item booleans (correct or not) in a fixed item order. Everything here is a
pure function and is deterministic for a fixed seed, so reported intervals are reproducible.

The bootstraps are this module's own, not ``scipy.stats.bootstrap`` (scipy is a dependency, for
the exact McNemar test). scipy resamples one level of independent observations (``paired=True``
draws the same indices for every sample), so it cannot draw replicates and then the items that
every replicate and both rows share, as ``replicate_bootstrap`` must. For the one-level intervals
it draws the same indices from the same seed (in batches of the same size), but its percentiles
differ from these in the last digit for about one interval in ten: reported intervals would move.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

# Upper bound on cells in one resamples x n index matrix (about 32 MB of int64), so that
# large test sets are resampled in chunks instead of allocating one huge matrix.
_MAX_CELLS = 4_000_000


def _as_bool_array(values: Sequence[bool], name: str) -> np.ndarray:
    """Per-item correctness as a 1-D bool array (accepts bools or 0/1 ints)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of per-item booleans")
    return arr.astype(bool)


def _check_paired(a: Sequence[bool], b: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Both lists as arrays, refusing pairs that cannot be over the same items."""
    x, y = _as_bool_array(a, "a"), _as_bool_array(b, "b")
    if len(x) != len(y):
        raise ValueError(
            f"paired comparison needs both lists over the same items in the same order, "
            f"got lengths {len(x)} and {len(y)}"
        )
    return x, y


def _check_params(resamples: int, level: float) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level}")


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` with-replacement resamples of ``values`` (non-empty, 1-D)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    # Chunk rows so memory stays bounded; the chunk size depends only on n, so the
    # random stream (and hence the result) is the same for a given seed and input.
    rows = max(1, _MAX_CELLS // n)
    means = np.empty(resamples, dtype=float)
    for start in range(0, resamples, rows):
        stop = min(start + rows, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def _percentile_interval(means: np.ndarray, level: float) -> tuple[float, float]:
    alpha = 1.0 - level
    low, high = np.quantile(means, [alpha / 2, 1.0 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap_diff(
    a: Sequence[bool],
    b: Sequence[bool],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Accuracy difference ``acc(a) - acc(b)`` with a paired percentile bootstrap interval.

    Items are resampled jointly: each resample picks the same item indices for both models,
    which is what makes this a paired interval. Empty lists give nan throughout.
    """
    _check_params(resamples, level)
    x, y = _check_paired(a, b)
    if len(x) == 0:
        nan = float("nan")
        return {"diff": nan, "ci_low": nan, "ci_high": nan}
    # The mean of per-item differences over a resample equals acc(a) - acc(b) on that same
    # resample, so resampling the difference vector is resampling indices jointly.
    per_item = x.astype(float) - y.astype(float)
    low, high = _percentile_interval(_bootstrap_means(per_item, resamples, seed), level)
    return {"diff": float(per_item.mean()), "ci_low": low, "ci_high": high}


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> dict[str, float | int]:
    """Exact two-sided McNemar test on paired correctness.

    ``b01`` counts items where a is wrong and b right, ``b10`` the reverse. Under the null of
    equal accuracy each discordant item is equally likely to fall either way, so the test is
    a two-sided binomial test of ``b10`` out of ``b01 + b10`` with p = 0.5.
    """
    x, y = _check_paired(a, b)
    b01 = int(np.sum(~x & y))
    b10 = int(np.sum(x & ~y))
    discordant = b01 + b10
    # With no disagreements there is no evidence of any difference at all.
    p_value = 1.0 if discordant == 0 else float(binomtest(b10, discordant, 0.5).pvalue)
    return {"b01": b01, "b10": b10, "p_value": p_value}


def mean_with_ci(
    values: Sequence[float],
    resamples: int,
    seed: int,
    level: float = 0.95,
    min_n: int = 30,
) -> dict[str, float | int | bool | None]:
    """:func:`accuracy_with_ci` for per-item scores in [0, 1] that need not be 0 or 1.

    With k sampled answers per item, an item's score is its share of correct samples. Resampling
    items (not single answers) keeps each item's k samples together, so the interval covers both
    sources of variance at once: which items were drawn, and the spread of the samples within
    each item (an item's mean over k draws carries its own sampling noise, and it moves with the
    item). Resampling the k·n answers as if independent would understate the interval, since
    answers to the same item are correlated.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError("values must be a flat sequence of per-item scores")
    _check_params(resamples, level)
    n = len(arr)
    if n == 0:
        return {"n": 0, "accuracy": None, "ci_low": None, "ci_high": None, "flag_small_n": True}
    low, high = _percentile_interval(_bootstrap_means(arr, resamples, seed), level)
    return {
        "n": n,
        "accuracy": float(arr.mean()),
        "ci_low": low,
        "ci_high": high,
        "flag_small_n": n < min_n,
    }


def accuracy_with_ci(
    correct: Sequence[bool],
    resamples: int,
    seed: int,
    level: float = 0.95,
    min_n: int = 30,
) -> dict[str, float | int | bool | None]:
    """Accuracy, its bootstrap interval, and a flag for subsets too small to trust.

    For an empty list ``accuracy``, ``ci_low`` and ``ci_high`` are None (not nan), so the
    result can be written straight to JSON.
    """
    scores = _as_bool_array(correct, "correct").astype(float)
    return mean_with_ci(scores, resamples, seed, level=level, min_n=min_n)


def replicate_bootstrap(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Mean accuracy over replicates (``b`` given: the difference of the two rows' means) with
    a two-level percentile bootstrap.

    ``a`` and ``b`` hold one row per replicate (a model trained with one training seed) of
    per-item scores in [0, 1], every row over the same items in the same order. Each draw
    resamples replicates with replacement, then items; the items are drawn once per draw and
    used for every replicate and both rows (paired). Rows with as many replicates (more than
    one) draw the same replicate indices: replicate k of two chains may share a parent trained
    with seed k (an oracle and a misrouted mixture of the same specialists). A row with one
    replicate (an untrained base) is always that one. With few replicates the seed level of
    the interval is coarse: report the per-replicate values beside it.

    Returns ``value``, ``ci_low``, ``ci_high`` and ``p_value``: twice the smaller share of
    draws at or below, or at or above, zero, capped at 1 (for a difference; nan for one row).
    """
    _check_params(resamples, level)
    x = np.asarray(a, dtype=float)
    y = None if b is None else np.asarray(b, dtype=float)
    if x.ndim != 2 or (y is not None and (y.ndim != 2 or y.shape[1] != x.shape[1])):
        raise ValueError("each row needs replicates x items, both rows over the same items")
    n = x.shape[1]
    nan = float("nan")
    if n == 0 or len(x) == 0 or (y is not None and len(y) == 0):
        return {"value": nan, "ci_low": nan, "ci_high": nan, "p_value": nan}
    rng = np.random.default_rng(seed)
    widest = max(len(x), len(y) if y is not None else 0)
    rows = max(1, _MAX_CELLS // (n * widest))
    draws = np.empty(resamples, dtype=float)
    same_replicates = y is not None and len(x) == len(y)
    for start in range(0, resamples, rows):
        m = min(start + rows, resamples) - start
        items = rng.integers(0, n, size=(m, n))
        picked = rng.integers(0, len(x), size=(m, len(x)))
        draws[start : start + m] = _replicate_means(x, items, picked)
        if y is not None:
            other = picked if same_replicates else rng.integers(0, len(y), size=(m, len(y)))
            draws[start : start + m] -= _replicate_means(y, items, other)
    value = float(x.mean() - (y.mean() if y is not None else 0.0))
    low, high = _percentile_interval(draws, level)
    p_value = nan
    if y is not None:
        p_value = min(1.0, 2 * min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0))))
    return {"value": value, "ci_low": low, "ci_high": high, "p_value": p_value}


def _replicate_means(scores: np.ndarray, items: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """Per draw: the mean over the picked replicates of each one's mean over the drawn items."""
    per_replicate = scores[:, items].mean(axis=-1)  # replicates x draws
    return per_replicate[picked, np.arange(len(items))[:, None]].mean(axis=1)
