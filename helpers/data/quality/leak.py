"""Train/eval leakage: a training row whose input is also an eval input.

Introduced in ``01_data_quality.ipynb``. The same input after
:func:`helpers.data.text.normalise_text`, or an embedding cosine >= :data:`LEAK_COSINE` with the
same identifiers (see :func:`helpers.data.quality.duplicates.identifiers`), counts as a leak.
"""

from __future__ import annotations

from typing import Any, Sequence

from helpers.data.quality.duplicates import identifiers, similar_pairs
from helpers.data.quality.findings import Finding, make_finding
from helpers.data.text import normalise_text

LEAK_COSINE = 0.98


def check_leak(rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]],
               emb: Any = None, eval_emb: Any = None, threshold: float = LEAK_COSINE) -> Finding | None:
    """Training rows whose input also appears in the eval file: normalised text, or embedding
    cosine >= ``threshold`` with the same identifiers (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    eval_keys: dict[str, int] = {}
    for e in eval_rows:
        eval_keys.setdefault(normalise_text(e["input"]), e["line"])
    pairs: dict[int, int] = {}
    for r in rows:
        k = normalise_text(r["input"])
        if k in eval_keys:
            pairs[r["line"]] = eval_keys[k]
    if emb is not None and eval_emb is not None and len(rows) and len(eval_rows):
        for i, j, _ in similar_pairs(emb, eval_emb, threshold):
            if rows[i]["line"] not in pairs and identifiers(rows[i]["input"]) == identifiers(eval_rows[j]["input"]):
                pairs[rows[i]["line"]] = eval_rows[j]["line"]
    return make_finding(
        "train_eval_leak", pairs,
        f"{len(pairs)} training row(s) have the same input as an eval row: drop them from training",
        by_line, eval_lines={k: v for k, v in sorted(pairs.items())},
    )
