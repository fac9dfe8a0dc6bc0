"""Distribution shift: does the production sample look like the training data?

Introduced in ``01_data_quality.ipynb``. Three statistics: the label mix (total variation
distance), the input length (two-sample Kolmogorov-Smirnov statistic) and embedding coverage
(the share of production inputs with no training input within cosine :data:`COVERAGE_COSINE`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from helpers.data.quality.findings import Finding, clip, short_list
from helpers.data.text import normalise_text, parse_json_output

COVERAGE_COSINE = 0.6  # a production input whose nearest train input is below this is "uncovered"
LABEL_KEYS = ("issue_type", "label", "category", "intent", "class")


def label_of(output: str) -> str | None:
    """The label an output carries: a JSON label field (issue_type, label, ...) or a short answer (01)."""
    obj = parse_json_output(output, strict=True, allow_fence=True)
    if obj is not None:
        low = {str(k).lower(): v for k, v in obj.items()}
        for key in LABEL_KEYS:
            if isinstance(low.get(key), str):
                return low[key].strip().lower()
        return None
    text = normalise_text(output)
    return text if text and len(text.split()) <= 3 else None


def _tvd(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 0.0
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _ks(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two length CDFs.

    Written out with numpy because scipy (whose ``scipy.stats.ks_2samp(a, b).statistic`` is the
    same number) is not a dependency of the course.
    """
    import numpy as np

    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if not len(a) or not len(b):
        return 0.0
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b))))


def check_distribution_shift(rows: Sequence[dict[str, Any]], prod_rows: Sequence[dict[str, Any]],
                             emb: Any = None, prod_emb: Any = None,
                             coverage: float = COVERAGE_COSINE) -> Finding | None:
    """Production vs training: label mix (total variation), input length (KS statistic) and
    embedding coverage (production inputs with no close training input) (01_data_quality)."""
    import numpy as np

    stats: dict[str, Any] = {}
    reasons = []
    train_labels = Counter(x for r in rows if (x := label_of(r["output"])) is not None)
    prod_labels = Counter(x for r in prod_rows if (x := label_of(r["output"])) is not None)
    if train_labels and prod_labels:
        stats["label_tvd"] = round(_tvd(train_labels, prod_labels), 3)
        new = sorted(set(prod_labels) - set(train_labels))
        stats["new_labels"] = new
        if stats["label_tvd"] >= 0.15 or new:
            pt, tt = sum(prod_labels.values()), sum(train_labels.values())
            gaps = sorted(set(prod_labels) | set(train_labels), key=lambda k: -abs(prod_labels[k] / pt - train_labels[k] / tt))
            top = ", ".join(f"{k} {prod_labels[k] / pt:.0%} in production vs {train_labels[k] / tt:.0%} in training"
                            for k in gaps[:2])
            reasons.append(f"label mix differs (total variation {stats['label_tvd']}; {top}"
                           + (f"; unseen labels {', '.join(new)}" if new else "") + ")")
    tl = [len(r["input"]) for r in rows]
    pl = [len(r["input"]) for r in prod_rows]
    stats["length_ks"] = round(_ks(tl, pl), 3)
    stats["median_chars"] = {"train": float(np.median(tl)) if tl else 0.0, "production": float(np.median(pl)) if pl else 0.0}
    if stats["length_ks"] >= 0.25:
        reasons.append(f"input lengths differ (KS {stats['length_ks']}; median {stats['median_chars']['production']:.0f} "
                       f"vs {stats['median_chars']['train']:.0f} characters)")
    uncovered: list[int] = []
    if emb is not None and prod_emb is not None and len(rows) and len(prod_rows):
        nearest = np.max(prod_emb @ emb.T, axis=1)
        uncovered = [prod_rows[i]["line"] for i in np.nonzero(nearest < coverage)[0].tolist()]
        stats["uncovered_share"] = round(len(uncovered) / len(prod_rows), 3)
        stats["coverage_threshold"] = coverage
        if stats["uncovered_share"] >= 0.1:
            reasons.append(f"{len(uncovered)} of {len(prod_rows)} production inputs ({stats['uncovered_share']:.0%}) have no "
                           f"training input with cosine >= {coverage} (production lines {short_list(uncovered)})")
    if not reasons:
        return None
    return Finding(
        "distribution_shift", [],
        "production differs from training: " + "; ".join(reasons) + ": add training rows like the uncovered ones",
        [{"line": x, "id": "", "input": clip(r["input"]), "output": ""} for r in prod_rows for x in [r["line"]] if x in uncovered][:3],
        {"production_rows": uncovered, "stats": stats},
    )
