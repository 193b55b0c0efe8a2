import math

import numpy as np
import pytest
from scipy.stats import binomtest

from cmoe.core import stats
from cmoe.core.stats import accuracy_with_ci, mcnemar_exact, paired_bootstrap_diff


def pattern(n_correct: int, n: int) -> list[bool]:
    """A fixed, interleaved-looking list with exactly n_correct correct items."""
    rng = np.random.default_rng(12345)
    flags = np.zeros(n, dtype=bool)
    flags[rng.choice(n, size=n_correct, replace=False)] = True
    return flags.tolist()


# --- the interval of accuracy_with_ci ---------------------------------------------------


def bootstrap_ci(correct, resamples: int = 1000, seed: int = 0, level: float = 0.95):
    """accuracy_with_ci's interval alone."""
    result = accuracy_with_ci(correct, resamples, seed, level=level)
    return result["ci_low"], result["ci_high"]


def test_all_correct_and_all_wrong_give_degenerate_intervals():
    assert bootstrap_ci([True] * 50) == (1.0, 1.0)
    assert bootstrap_ci([False] * 50) == (0.0, 0.0)


def test_half_correct_matches_normal_approximation():
    correct = [True, False] * 200  # n = 400, accuracy exactly 0.5
    low, high = bootstrap_ci(correct, resamples=2000, seed=0)
    half_width = 1.959964 * math.sqrt(0.5 * 0.5 / 400)  # about 0.049
    assert low == pytest.approx(0.5 - half_width, abs=0.01)
    assert high == pytest.approx(0.5 + half_width, abs=0.01)


def test_same_seed_is_deterministic_and_other_seed_differs():
    correct = pattern(137, 211)
    assert bootstrap_ci(correct, seed=7) == bootstrap_ci(correct, seed=7)
    assert bootstrap_ci(correct, seed=7) != bootstrap_ci(correct, seed=8)


@pytest.mark.parametrize("n_correct,n", [(1, 10), (13, 40), (70, 100), (299, 300)])
def test_interval_contains_point_estimate(n_correct, n):
    correct = pattern(n_correct, n)
    low, high = bootstrap_ci(correct)
    assert 0.0 <= low <= n_correct / n <= high <= 1.0


def test_higher_level_gives_wider_interval():
    correct = pattern(60, 100)
    low90, high90 = bootstrap_ci(correct, level=0.90)
    low99, high99 = bootstrap_ci(correct, level=0.99)
    assert low99 < low90 and high99 > high90


def test_accepts_zero_one_ints():
    assert bootstrap_ci([1, 0] * 30, seed=3) == bootstrap_ci([True, False] * 30, seed=3)


@pytest.mark.parametrize("kwargs", [{"level": 0.0}, {"level": 1.0}, {"resamples": 0}])
def test_bad_parameters_raise(kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci([True, False], **kwargs)


def test_chunked_resampling_still_sensible(monkeypatch):
    # Force many small chunks; the interval must stay deterministic and near the unchunked one.
    correct = pattern(120, 200)
    whole = bootstrap_ci(correct, resamples=1000, seed=1)
    monkeypatch.setattr(stats, "_MAX_CELLS", 200 * 7)
    chunked = bootstrap_ci(correct, resamples=1000, seed=1)
    assert chunked == bootstrap_ci(correct, resamples=1000, seed=1)
    assert chunked[0] == pytest.approx(whole[0], abs=0.02)
    assert chunked[1] == pytest.approx(whole[1], abs=0.02)


# --- paired_bootstrap_diff --------------------------------------------------------------


def test_identical_lists_give_zero_difference():
    a = pattern(40, 90)
    assert paired_bootstrap_diff(a, list(a)) == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_opposite_lists_give_difference_of_one():
    result = paired_bootstrap_diff([True] * 20, [False] * 20)
    assert result == {"diff": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_paired_difference_value_and_interval():
    a = pattern(70, 100)
    b = pattern(60, 100)
    result = paired_bootstrap_diff(a, b, seed=5)
    assert result["diff"] == pytest.approx(0.10)
    assert result["ci_low"] <= result["diff"] <= result["ci_high"]
    assert result == paired_bootstrap_diff(a, b, seed=5)


def test_pairing_tightens_interval_for_correlated_models():
    # b agrees with a except on 6 items that a gets right: a real but small 3-point gain.
    # Resampling items jointly keeps the interval narrow; independent resampling of the two
    # lists would give an interval of roughly +-0.1 and could not see the gain at all.
    a = pattern(120, 200)
    b = list(a)
    flipped = [i for i, v in enumerate(a) if v][:6]
    for i in flipped:
        b[i] = False
    result = paired_bootstrap_diff(a, b, resamples=2000, seed=0)
    assert result["diff"] == pytest.approx(0.03)
    assert result["ci_low"] > 0.0
    assert result["ci_high"] - result["ci_low"] < 0.06


def test_paired_length_mismatch_raises():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap_diff([True, False], [True])


def test_paired_empty_gives_nan():
    assert all(math.isnan(v) for v in paired_bootstrap_diff([], []).values())


# --- mcnemar_exact ----------------------------------------------------------------------


def test_mcnemar_all_discordant_one_way():
    # b01 = 0, b10 = 10: a right and b wrong on all ten disagreements.
    a = [True] * 10 + [True] * 5 + [False] * 5
    b = [False] * 10 + [True] * 5 + [False] * 5
    result = mcnemar_exact(a, b)
    assert (result["b01"], result["b10"]) == (0, 10)
    assert result["p_value"] == pytest.approx(2 * 0.5**10)  # about 0.00195


def test_mcnemar_balanced_discordance_gives_p_one():
    a = [True] * 5 + [False] * 5 + [True] * 3
    b = [False] * 5 + [True] * 5 + [True] * 3
    result = mcnemar_exact(a, b)
    assert (result["b01"], result["b10"]) == (5, 5)
    assert result["p_value"] == pytest.approx(1.0)


def test_mcnemar_asymmetric_case_by_hand():
    # b01 = 2, b10 = 8. Two-sided exact p = 2 * P(X <= 2), X ~ Bin(10, 0.5)
    # = 2 * (1 + 10 + 45) / 1024 = 112 / 1024 = 0.109375.
    a = [False] * 2 + [True] * 8 + [True] * 4 + [False] * 3
    b = [True] * 2 + [False] * 8 + [True] * 4 + [False] * 3
    result = mcnemar_exact(a, b)
    assert (result["b01"], result["b10"]) == (2, 8)
    assert result["p_value"] == pytest.approx(112 / 1024)
    assert result["p_value"] == pytest.approx(binomtest(8, 10, 0.5).pvalue)


def test_mcnemar_no_discordant_pairs():
    a = pattern(30, 50)
    assert mcnemar_exact(a, list(a)) == {"b01": 0, "b10": 0, "p_value": 1.0}
    assert mcnemar_exact([], []) == {"b01": 0, "b10": 0, "p_value": 1.0}


def test_mcnemar_length_mismatch_raises():
    with pytest.raises(ValueError, match="lengths 3 and 2"):
        mcnemar_exact([True, True, False], [True, False])


# --- accuracy_with_ci -------------------------------------------------------------------


def test_accuracy_with_ci_fields():
    correct = pattern(45, 60)
    result = accuracy_with_ci(correct, resamples=500, seed=0)
    assert result["n"] == 60
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["ci_low"] <= result["accuracy"] <= result["ci_high"]
    assert result["flag_small_n"] is False


def test_accuracy_with_ci_is_the_percentile_bootstrap_to_the_bit():
    # few resamples and an odd level, so the percentiles fall between resampled accuracies and
    # another draw of the same seeds (or another seed) would show in the interval
    correct = [int(v) for v in pattern(13, 23)]  # 0/1 ints are read as booleans
    values = np.asarray(correct, dtype=float)
    for seed in range(5):
        result = accuracy_with_ci(correct, resamples=37, seed=seed, level=0.83)
        rows = np.random.default_rng(seed).integers(0, 23, size=(37, 23))
        alpha = 1.0 - 0.83
        expected = np.quantile(values[rows].mean(axis=1), [alpha / 2, 1.0 - alpha / 2])
        assert (result["ci_low"], result["ci_high"]) == tuple(expected.tolist())
        assert result["accuracy"] == 13 / 23


def test_flag_small_n_boundary():
    assert accuracy_with_ci([True] * 29, 100, 0)["flag_small_n"] is True
    assert accuracy_with_ci([True] * 30, 100, 0)["flag_small_n"] is False
    assert accuracy_with_ci([True] * 30, 100, 0, min_n=31)["flag_small_n"] is True


def test_accuracy_with_ci_empty():
    result = accuracy_with_ci([], resamples=100, seed=0)
    assert result == {
        "n": 0,
        "accuracy": None,
        "ci_low": None,
        "ci_high": None,
        "flag_small_n": True,
    }
