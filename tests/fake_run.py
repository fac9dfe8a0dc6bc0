"""Fabricate a run folder with baseline and adapter results, for tests and for developing 04.

``python tests/fake_run.py RUNS_DIR [RUN_ID]`` writes ``RUNS_DIR/RUN_ID`` (and ``RUNS_DIR/CURRENT``).
Rows come from ``data/support/golden.jsonl`` / ``eval.jsonl`` when they exist, else from the
small built-in fixture below. Metrics are computed with the real ``helpers.evaluation.metrics.score``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIELDS = ["order_id", "product", "issue_type", "requested_action", "sentiment"]
_FIXTURE = [
    ("A-1001", "kettle", "damaged", "refund", "negative", "My kettle A-1001 arrived cracked. Refund please."),
    ("A-1002", "headphones", "late_delivery", None, "negative", "Order A-1002, headphones, still not here."),
    (None, "blender", "wrong_item", "replacement", "neutral", "Got a toaster instead of the blender I ordered."),
    ("A-1004", "lamp", "damaged", "replacement", "negative", "The lamp from A-1004 is broken, send another."),
    ("A-1005", None, "billing", "refund", "negative", "I was charged twice for order A-1005!"),
    ("A-1006", "mug", "other", None, "positive", "Love the mug from A-1006, just a question about care."),
    ("A-1007", "charger", "defective", "refund", "negative", "Charger in A-1007 stopped working after a day."),
    ("A-1008", "backpack", "late_delivery", "cancel", "neutral", "Please cancel A-1008, the backpack is late."),
]


def fixture_rows() -> list[dict[str, Any]]:
    """Eight support-style extraction rows (ids g-1 .. g-8)."""
    rows = []
    for i, (oid, product, issue, action, sentiment, text) in enumerate(_FIXTURE, start=1):
        out = dict(zip(FIELDS, (oid, product, issue, action, sentiment)))
        rows.append({"id": f"g-{i}", "input": text, "output": json.dumps(out),
                     "meta": {"category": issue, "summary": text}})
    return rows


def _rows(split: str, limit: int = 8) -> list[dict[str, Any]]:
    path = Path(__file__).resolve().parent.parent / "data" / "support" / f"{split}.jsonl"
    if path.exists():
        try:
            from helpers.data.loading import load_split

            rows = load_split(split)[:limit]
            if rows:
                return rows
        except Exception:  # noqa: BLE001 - the data may be mid-edit; fall back to the fixture
            pass
    return fixture_rows()


def _spoil(output: str, k: int, how: str) -> str:
    """A plausible wrong answer: ``how`` in {"field", "prose", "broken"}."""
    obj = json.loads(output)
    if how == "broken":
        return "I think the order is " + str(obj.get("order_id"))
    key = FIELDS[k % len(FIELDS)]
    obj[key] = None if obj.get(key) else "unknown"
    text = json.dumps(obj)
    return f"Sure! Here is the JSON:\n```json\n{text}\n```" if how == "prose" else text


def make_stage(run: Path, stage: str, quality: float, latency: float, cost: float, n_rows: int = 8) -> None:
    """Write predictions for eval and golden plus metrics.json for one stage; ``quality`` in 0..1.

    The first ``quality`` share of the ``n_rows`` rows is answered right, the rest spoiled, so two
    stages of the same run are paired row by row (a better stage is right on a superset of rows).
    """
    from helpers.evaluation.metrics import primary_metric, score
    from helpers.core.runs import write_json, write_jsonl

    record: dict[str, Any] = {"primary_metric": primary_metric("extraction"), "view": "extraction"}
    for split in ("eval", "golden"):
        rows = _rows(split, n_rows)
        preds = []
        for k, r in enumerate(rows):
            right = (k + 1) / len(rows) <= quality
            how = ("prose", "field", "broken")[k % 3]
            preds.append(r["output"] if right else _spoil(r["output"], k, how))
        write_jsonl(run / stage / f"predictions_{split}.jsonl", [
            {"id": r["id"], "prediction": p, "reference": r["output"], "latency_s": latency}
            for r, p in zip(rows, preds)
        ])
        record[split] = score("extraction", preds, [r["output"] for r in rows])
        record[f"n_{split}"] = len(rows)
    record["speed"] = {"latency_s_per_request": latency, "tokens_per_s": 40.0 / latency,
                       "cost_per_1k_requests_usd": cost}
    write_json(run / stage / "metrics.json", record)


def make_run(runs_dir: str | Path, run_id: str = "20260101-000000-ci", profile: str = "ci",
             baseline: float = 0.4, adapter: float = 0.8, stages: tuple[str, ...] = ("baseline", "adapter"),
             n_rows: int = 8) -> Path:
    """A run folder with run.json and the chosen stages; returns its path."""
    from helpers.core.runs import write_json

    run = Path(runs_dir) / run_id
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "run.json", {"run_id": run_id, "profile": profile, "task": "support"})
    if "baseline" in stages:
        make_stage(run, "baseline", baseline, latency=1.2, cost=0.05, n_rows=n_rows)
    if "adapter" in stages:
        make_stage(run, "adapter", adapter, latency=0.6, cost=0.02, n_rows=n_rows)
    (Path(runs_dir) / "CURRENT").write_text(run_id + "\n", encoding="utf-8")
    return run


if __name__ == "__main__":
    target = make_run(sys.argv[1], *(sys.argv[2:3] or []))
    print(target)
