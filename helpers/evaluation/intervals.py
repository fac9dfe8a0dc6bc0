"""Bootstrap intervals over rows: one function, used for single scores and paired differences.

Introduced in ``04_evaluation.ipynb``. The resampling itself is ``scipy.stats.bootstrap`` (percentile
method) over the *row indices*: a statistic receives the indices of one resample and computes
whatever it needs from them. Resampling indices, not values, is what makes a comparison
*paired*: the baseline and the adapter are scored on the same resampled rows, so the row-to-row
difficulty that both share cancels out, and the interval of the difference is much narrower
than two separate intervals suggest.

The percentile method (the middle 95% of the resampled statistics) is the one notebook 04
explains in one sentence; scipy's default BCa fails on the many ties of 0/1 scores.
"""

from __future__ import annotations

from typing import Any, Callable

DEFAULT_RESAMPLES = 2000


def resample_interval(
    statistic: Callable[[Any], float],
    n_rows: int,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic(indices)`` over ``n_rows`` rows (04_evaluation).

    ``statistic`` gets an integer array of row indices (one resample, drawn with replacement)
    and returns a number. Fewer than two rows give a zero-width interval at the full-set value.
    """
    import numpy as np
    from scipy.stats import bootstrap

    if n_rows < 2:
        value = float(statistic(np.arange(n_rows))) if n_rows else 0.0
        return (value, value)
    # scipy raises on a statistic that is the same for every resample (e.g. two identical stages);
    # the interval is then that value, with zero width.
    full = float(statistic(np.arange(n_rows)))
    result = bootstrap(
        (np.arange(n_rows),), lambda idx: float(statistic(idx)), vectorized=False,
        n_resamples=n_resamples, confidence_level=confidence, method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        return (full, full)
    return (low, high)
