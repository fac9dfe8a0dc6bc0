"""Runnable solutions for the exercises of notebooks/01_data_quality.ipynb.

    python guide/solutions/01_data_quality.py
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from helpers.core.config import Profile, load_profile
from helpers.data.loading import load_rows, split_path
from helpers.data.quality import Finding, check_near_duplicates_and_conflicts, run_checks, similar_input_groups
from helpers.data.quality.embeddings import _embed
from helpers.data.text import parse_json_output


def exercise_1(report: Any) -> str:
    """Warm-up: the check with the most rows."""
    biggest = max(report.findings, key=lambda f: len(f.rows))
    return f"{biggest.check}: {len(biggest.rows)} rows"


def exercise_2(path: Any, profile: Profile, threshold: float = 0.9) -> dict[str, Any]:
    """Practice: what embeddings add, and what a lower threshold groups."""
    with_emb = run_checks(path, use_embeddings=True, profile=profile).flagged()
    without = run_checks(path, use_embeddings=False, profile=profile).flagged()
    only_emb = {c: sorted(set(with_emb.get(c, [])) - set(without.get(c, []))) for c in with_emb}
    rows = load_rows(path).rows
    groups = similar_input_groups(rows, _embed([r["input"] for r in rows]), threshold=threshold)
    near, conflict = check_near_duplicates_and_conflicts(rows, groups)
    return {
        "found only with embeddings": {c: v for c, v in only_emb.items() if v},
        f"near_duplicate rows at {threshold}": len(near.rows) if near else 0,
        f"conflicting_label rows at {threshold}": len(conflict.rows) if conflict else 0,
    }


ORDER_ID = re.compile(r"(?<!\d)(\d{5})(?!\d)")  # "ORD-79302", "order 79302", "#79302"


def check_answer_not_in_input(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Challenge: extraction rows whose output order_id does not occur in the input (hallucinated)."""
    bad = []
    for r in rows:
        obj = parse_json_output(r["output"], strict=True, allow_fence=True)
        if not obj or not obj.get("order_id"):
            continue
        digits = {m.group(1) for m in ORDER_ID.finditer(r["input"])}
        if str(obj["order_id"])[-5:] not in digits:
            bad.append(r["line"])
    if not bad:
        return None
    return Finding("answer_not_in_input", bad, f"{len(bad)} row(s) name an order id that the input does not contain")


if __name__ == "__main__":
    profile = load_profile()
    raw = split_path("raw_train")
    report = run_checks(raw, use_embeddings=False, profile=profile)
    print("exercise 1:", exercise_1(report))
    print("exercise 2:", exercise_2(raw, profile))
    for split in ("raw_train", "train"):
        f = check_answer_not_in_input(load_rows(split_path(split)).rows)
        print(f"exercise 3 on {split}:", f.message if f else "no finding", f.rows[:10] if f else "")
