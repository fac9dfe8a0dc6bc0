"""helpers.evaluation.review: worst examples, ratings file, metric-vs-human agreement; the panel wiring."""

from __future__ import annotations

import json

import pytest

from fake_run import make_run
from helpers.core.errors import SettingsError
from helpers.evaluation.review import record_rating, review_summary, worst_examples


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    return make_run(tmp_path, "r1", baseline=0.4, adapter=0.7)


def test_worst_examples_sorted_by_adapter_then_baseline(run):
    rows = worst_examples(run, "golden", n=20)
    keys = [(r["adapter_score"], r["baseline_score"]) for r in rows]
    assert keys == sorted(keys)
    assert rows[0]["adapter_score"] < 1.0
    assert set(rows[0]) >= {"id", "input", "reference", "baseline", "adapter", "baseline_score", "adapter_score"}
    assert len(worst_examples(run, "golden", n=3)) == 3


def test_record_rating_appends_one_line_each(run):
    rec = record_rating(run, "g-1", "better", "clearer JSON")
    assert rec["verdict"] == "better"
    record_rating(run, "g-2", "both_wrong")
    lines = (run / "review.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["note"] == "clearer JSON"
    with pytest.raises(SettingsError):
        record_rating(run, "g-1", "great")


def test_review_summary_counts_and_agreement(run):
    rows = {r["id"]: r for r in worst_examples(run, n=20)}
    better = next(k for k, r in rows.items() if r["adapter_score"] > r["baseline_score"])
    same = next(k for k, r in rows.items() if r["adapter_score"] == r["baseline_score"])
    record_rating(run, better, "worse")       # disagrees with the metric ...
    record_rating(run, better, "better")      # ... then the rater changes their mind: latest counts
    record_rating(run, same, "better")        # disagrees: metric says "same"
    record_rating(run, "g-8", "both_wrong")   # counted, not compared
    s = review_summary(run)
    assert s["n_ratings"] == 3
    assert s["counts"] == {"better": 2, "worse": 0, "both_wrong": 1, "same": 0}
    assert s["n_compared"] == 2 and s["agreement"] == pytest.approx(0.5)
    assert s["disagreements"] == [same]


def test_review_summary_empty(run):
    assert review_summary(run)["agreement"] is None


def test_panel_records_a_click(run):
    pytest.importorskip("ipywidgets")
    from helpers.widgets.review_panel import review_panel

    panel = review_panel(run, n=3)
    verdict_row = panel.children[2].children
    verdict_row[1].click()  # "better"
    assert review_summary(run)["counts"]["better"] == 1
