"""Statistics helpers against hand computations and closed forms."""

import math

import pytest

from llmeval_assets.scoring import (
    clustered_mean_stderr,
    macro_mean_stderr,
    mean_stderr,
    paired_comparison,
    pass_at_k,
)
from llmeval_assets.scoring.stats import interval_95, wilson_interval


def test_mean_stderr_uses_sample_variance():
    estimate = mean_stderr([1.0, 0.0, 1.0, 1.0])
    # mean 0.75; s^2 = (3 * 0.0625 + 0.5625) / 3 = 0.25; stderr = sqrt(0.25 / 4)
    assert estimate.mean == 0.75
    assert estimate.stderr == pytest.approx(0.25)
    assert mean_stderr([1.0]).stderr is None


def test_clustered_stderr_matches_hand_computation():
    values = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    clusters = ["a", "a", "a", "b", "b", "c"]
    # mean = 4/6; residual sums: a = 3 * (1/3) = 1, b = 2 * (-2/3) = -4/3, c = 1/3
    # Var = G/(G-1) * (1 + 16/9 + 1/9) / n^2 = 1.5 * (26/9) / 36
    estimate = clustered_mean_stderr(values, clusters)
    assert estimate.mean == pytest.approx(4 / 6)
    assert estimate.stderr == pytest.approx(math.sqrt(1.5 * (26 / 9) / 36))
    assert estimate.n_clusters == 3


def test_clustered_stderr_grows_when_clusters_are_homogeneous():
    # each cluster all right or all wrong: correlated items carry less information than independent ones
    values = [1.0] * 5 + [0.0] * 5 + [1.0] * 5 + [0.0] * 5
    clusters = ["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5
    assert clustered_mean_stderr(values, clusters).stderr > 2 * mean_stderr(values).stderr


def test_clustered_stderr_with_singleton_clusters_equals_plain_stderr():
    values = [0.2, 0.9, 0.4, 1.0, 0.0]
    assert clustered_mean_stderr(values, range(5)).stderr == pytest.approx(mean_stderr(values).stderr)


def test_macro_mean_weights_groups_equally():
    # group x: 3 items, mean 1/3; group y: 2 items, mean 1/2 -> micro 2/5, macro 5/12
    values, groups = [1.0, 0.0, 0.0, 1.0, 0.0], ["x", "x", "x", "y", "y"]
    macro = macro_mean_stderr(values, groups)
    assert macro.mean == pytest.approx(5 / 12)
    # Var = (s_x^2 / 3 + s_y^2 / 2) / 2^2 with s_x^2 = 1/3, s_y^2 = 1/2
    assert macro.stderr == pytest.approx(math.sqrt(((1 / 3) / 3 + (1 / 2) / 2) / 4))
    assert mean_stderr(values).mean == pytest.approx(0.4)


def test_a_macro_average_with_a_single_item_group_has_no_stderr():
    # group y's variance cannot be estimated from one item: counting it as 0 would understate the error
    macro = macro_mean_stderr([1.0, 0.0, 0.0, 1.0], ["x", "x", "x", "y"])
    assert macro.mean == pytest.approx(2 / 3) and macro.stderr is None


@pytest.mark.parametrize(("successes", "n", "low", "high"), [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0),
                                                              (5, 10, 0.2366, 0.7634), (0, 1, 0.0, 0.7935)])
def test_wilson_intervals_keep_their_width_at_the_edges(successes, n, low, high):
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_proportion_intervals_never_collapse_and_take_the_wider_clustered_interval():
    zeros = [0.0] * 10
    assert interval_95(zeros, 0.0, 0.0) == pytest.approx((0.0, 0.2775), abs=1e-4)
    # a clustered stderr wider than Wilson's widens the interval; a narrower one does not narrow it
    assert interval_95([1.0, 0.0] * 5, 0.5, 0.2) == pytest.approx((0.5 - 1.96 * 0.2, 0.5 + 1.96 * 0.2), abs=1e-3)
    assert interval_95([1.0, 0.0] * 5, 0.5, 0.01) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # other means: normal, clipped to the metric's range; no stderr, no interval
    assert interval_95([7.0, 9.0], 8.0, 1.0, 1.0, 10.0) == pytest.approx((8.0 - 1.96, 9.96), abs=1e-3)
    assert interval_95([7.0], 7.0, None, 1.0, 10.0) == (None, None)


def test_paired_comparison_uses_per_item_differences():
    a = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    b = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    result = paired_comparison(a, b)
    diffs = [0, 1, 0, 0, 1, 0]  # mean 1/3, s^2 = (4 * 1/9 + 2 * 4/9) / 5 = 4/15
    assert result.mean_diff == pytest.approx(1 / 3)
    assert result.stderr == pytest.approx(math.sqrt(4 / 15 / 6))
    assert result.z == pytest.approx((1 / 3) / math.sqrt(4 / 15 / 6))
    assert result.p_value == pytest.approx(math.erfc(abs(result.z) / math.sqrt(2)))
    assert (result.mean_a, result.mean_b, result.n) == (pytest.approx(5 / 6), 0.5, len(diffs))


def test_paired_comparison_is_more_powerful_than_unpaired():
    # both models find the same items hard; A is better on 2 of 40 items
    b = [1.0, 0.0] * 20
    a = list(b)
    a[1] = a[3] = 1.0
    paired = paired_comparison(a, b)
    unpaired_se = math.hypot(mean_stderr(a).stderr, mean_stderr(b).stderr)
    assert paired.stderr < unpaired_se / 2


def test_paired_comparison_clustered_and_degenerate_cases():
    a, b = [1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]
    clustered = paired_comparison(a, b, clusters=["s1", "s1", "s2", "s2"])
    # diffs [1,0,0,0], mean 1/4; residual sums s1 = 3/4 - 1/4 = 1/2, s2 = -1/2; Var = 2 * (1/2) / 16
    assert clustered.stderr == pytest.approx(math.sqrt(2 * 0.5 / 16))
    assert clustered.n_clusters == 2
    same = paired_comparison([1.0, 0.0], [1.0, 0.0])
    assert (same.mean_diff, same.stderr, same.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same items"):
        paired_comparison([1.0], [1.0, 0.0])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_pass_at_k_matches_closed_form(k):
    n, c = 5, 2
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_edge_cases():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)  # c / n
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: every draw of 3 contains a pass
    assert pass_at_k(200, 13, 100) == pytest.approx(1 - math.comb(187, 100) / math.comb(200, 100))
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)
