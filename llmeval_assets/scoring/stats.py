"""Uncertainty of benchmark scores: standard errors (plain and clustered), paired comparisons, pass@k.

Pure functions over plain floats, no numpy needed by callers. Conventions (all documented where they apply):
- the standard error of a mean is the sample standard deviation (n - 1) over sqrt(n), as lm-evaluation-harness
  reports it, so our plain stderr matches theirs;
- when items come in groups (MMLU subjects, MT-Bench categories, the several samples of one HumanEval task),
  items of a group are not independent and the plain formula is too optimistic: use the clustered one;
- p-values use the normal approximation (two-sided), adequate for the hundreds-to-thousands of items of these
  benchmarks; with few clusters (< ~30) read them as indicative only;
- 95% intervals of a proportion (every value 0 or 1) are Wilson score intervals, widened to the normal interval of
  the (clustered) standard error where that is wider, so they never collapse to a point at 0% or 100%; other means
  get mean +- 1.96 standard errors, clipped to the metric's range; no standard error, no interval.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class MeanEstimate:
    mean: float
    stderr: float | None  # None when it cannot be estimated (n < 2, or fewer than 2 clusters)
    n: int
    n_clusters: int | None = None  # set when the stderr is clustered


@dataclass(frozen=True)
class PairedComparison:
    """Model A minus model B on the same items. A positive `mean_diff` means A scored higher."""

    mean_a: float
    mean_b: float
    mean_diff: float
    stderr: float | None
    z: float | None
    p_value: float | None  # two-sided, normal approximation
    n: int
    n_clusters: int | None = None


def mean_stderr(values: Sequence[float]) -> MeanEstimate:
    """Mean and its standard error sqrt(s^2 / n) with the sample variance s^2 (ddof = 1)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean of no values")
    mean = math.fsum(values) / n
    if n < 2:
        return MeanEstimate(mean, None, n)
    variance = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return MeanEstimate(mean, math.sqrt(variance / n), n)


def clustered_mean_stderr(values: Sequence[float], clusters: Sequence[Hashable]) -> MeanEstimate:
    """Mean and its cluster-robust standard error (CR1, the sandwich estimator of a regression on a constant).

        Var(mean) = G / (G - 1) * sum_g ( sum_{i in g} (x_i - mean) )^2 / n^2

    with G clusters and n items. Residuals are summed within a cluster before squaring, so correlated items of
    one cluster (all questions of an MMLU subject a model happens to know) count as one piece of evidence rather
    than many. This is the estimator of Miller (2024), "Adding Error Bars to Evals", which Inspect's
    `stderr(cluster=...)` follows, times G / (G - 1), the small-sample correction (Stata's CR1 with one regressor;
    its (n-1)/(n-k) factor is 1 for k = 1). With one item per cluster it equals `mean_stderr` exactly.
    """
    n = len(values)
    if n != len(clusters):
        raise ValueError(f"{n} values but {len(clusters)} cluster labels")
    if n == 0:
        raise ValueError("mean of no values")
    mean = math.fsum(values) / n
    residual_sums: dict[Hashable, float] = {}
    for x, cluster in zip(values, clusters, strict=True):
        residual_sums[cluster] = residual_sums.get(cluster, 0.0) + (x - mean)
    n_clusters = len(residual_sums)
    if n_clusters < 2:
        return MeanEstimate(mean, None, n, n_clusters)
    variance = n_clusters / (n_clusters - 1) * math.fsum(s * s for s in residual_sums.values()) / (n * n)
    return MeanEstimate(mean, math.sqrt(variance), n, n_clusters)


def macro_mean_stderr(values: Sequence[float], groups: Sequence[Hashable]) -> MeanEstimate:
    """Unweighted mean of per-group means (MMLU's macro average: every subject counts the same), and its standard
    error treating groups as independent: Var = sum_g Var(mean_g) / G^2, each Var(mean_g) = s_g^2 / n_g.
    The standard error is undefined (None) when a group has a single item: its variance cannot be estimated, and
    counting it as zero would understate the error."""
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} group labels")
    by_group: dict[Hashable, list[float]] = {}
    for x, group in zip(values, groups, strict=True):
        by_group.setdefault(group, []).append(x)
    if not by_group:
        raise ValueError("mean of no values")
    estimates = [mean_stderr(group_values) for group_values in by_group.values()]
    g = len(estimates)
    mean = math.fsum(e.mean for e in estimates) / g
    if any(e.stderr is None for e in estimates):
        return MeanEstimate(mean, None, len(values), g)
    variance = math.fsum((e.stderr or 0.0) ** 2 for e in estimates) / (g * g)
    return MeanEstimate(mean, math.sqrt(variance), len(values), g)


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion: at 0 or n successes it still has width (e.g. 0/10 -> [0, 0.28])."""
    if n <= 0:
        raise ValueError("an interval of no trials")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def interval_95(values: Sequence[float], mean: float, stderr: float | None,
                value_min: float = -math.inf, value_max: float = math.inf) -> tuple[float | None, float | None]:
    """The 95% interval of a metric's mean (see the module docstring for the rules)."""
    normal = None if stderr is None else (mean - Z_95 * stderr, mean + Z_95 * stderr)
    if values and all(v in (0.0, 1.0) for v in values):
        low, high = wilson_interval(math.fsum(values), len(values))
        if normal is not None:
            low, high = min(low, normal[0]), max(high, normal[1])
        return max(low, 0.0), min(high, 1.0)
    if normal is None:
        return None, None
    return max(normal[0], value_min), min(normal[1], value_max)


def paired_comparison(a: Sequence[float], b: Sequence[float],
                      clusters: Sequence[Hashable] | None = None) -> PairedComparison:
    """Compare two models scored on the same items (aligned: a[i] and b[i] are the same item).

    The standard error comes from the per-item differences d_i = a_i - b_i, not from the two separate stderrs:
    both models find the same items hard, so the differences vary much less than the scores and the paired test
    detects far smaller gaps. With `clusters`, the differences' stderr is clustered (see clustered_mean_stderr).
    p-value: two-sided, z = mean_diff / stderr against the standard normal.
    """
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same items: {len(a)} vs {len(b)} scores")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    estimate = clustered_mean_stderr(diffs, clusters) if clusters is not None else mean_stderr(diffs)
    z = p_value = None
    if estimate.stderr is not None:
        if estimate.stderr > 0:
            z = estimate.mean / estimate.stderr
            p_value = math.erfc(abs(z) / math.sqrt(2))
        else:  # every item differs by the same amount: no doubt about the sign, or no difference at all
            p_value = 1.0 if estimate.mean == 0 else 0.0
    return PairedComparison(mean_a=math.fsum(a) / len(a), mean_b=math.fsum(b) / len(b), mean_diff=estimate.mean,
                            stderr=estimate.stderr, z=z, p_value=p_value, n=estimate.n,
                            n_clusters=estimate.n_clusters)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed (Chen et al. 2021): 1 - C(n-c, k) / C(n, k),
    computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i), which never forms the huge binomials."""
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:  # every draw of k samples contains a passing one
        return 1.0
    failure = 1.0
    for i in range(n - c + 1, n + 1):
        failure *= 1.0 - k / i
    return 1.0 - failure
