"""helpers.evaluation.summary: the summary.json contract (decision included), seconds merging, the decision record."""

from __future__ import annotations

import json

import pytest

from fake_run import make_run
from helpers.evaluation.summary import LEARNING_CURVE_FILE, SUMMARY_KEYS, speed_reasons, write_summary


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    return tmp_path


def test_summary_json_contract(runs):
    run = make_run(runs, "r1", baseline=0.4, adapter=0.8, n_rows=40)
    path = write_summary(run, {"04_evaluation.ipynb": 12.5})
    s = json.loads(path.read_text())
    assert tuple(s) == SUMMARY_KEYS + ("decision",)
    d = s["decision"]
    assert d["metric"] == "field_accuracy" and d["split"] == "golden" and d["verdict"] == "GO"
    assert d["diff"] == pytest.approx(d["finetuned"] - d["baseline"]) and d["ci95"][0] > 0
    assert d["finetuned"] == pytest.approx(s["finetuned"]["golden"]["field_accuracy"])
    assert s["profile"] == "ci" and s["task"] == "support" and s["primary_metric"] == "field_accuracy"
    for stage in ("baseline", "finetuned"):
        assert set(s[stage]) == {"eval", "golden"}
        for split in ("eval", "golden"):
            assert s[stage][split] and all(isinstance(v, float) and 0 <= v <= 1 for v in s[stage][split].values())
    assert s["finetuned"]["golden"]["field_accuracy"] > s["baseline"]["golden"]["field_accuracy"]
    md = (run / "summary.md").read_text()
    assert "Verdict: GO" in md and "What to try next" in md and "latency" in md and "rule: GO only when" in md


def test_seconds_are_merged(runs):
    run = make_run(runs, "r1")
    write_summary(run, {"02_prompting_baseline.ipynb": 30.0})
    write_summary(run, {"04_evaluation.ipynb": 5.0})
    write_summary(run)
    s = json.loads((run / "summary.json").read_text())
    assert s["seconds"] == {"02_prompting_baseline.ipynb": 30.0, "04_evaluation.ipynb": 5.0}


def test_not_shown_and_no_go_reach_the_summary(runs):
    tie = make_run(runs, "r1", baseline=0.5, adapter=0.5, n_rows=40)
    assert json.loads(write_summary(tie).read_text())["decision"]["verdict"] == "NOT SHOWN"
    assert "keep the prompt" in (tie / "summary.md").read_text()
    loss = make_run(runs, "r2", baseline=0.9, adapter=0.2, n_rows=40)
    s = json.loads(write_summary(loss).read_text())
    assert s["decision"]["verdict"] == "NO-GO" and s["decision"]["ci95"][1] < 0


def test_learning_curve_joins_the_summary(runs):
    run = make_run(runs, "r1", n_rows=40)
    curve = {"metric": "field_accuracy", "split": "eval", "prompt": 0.5,
             "points": [{"rows": 16, "score": 0.4, "ci95": [0.3, 0.5]}, {"rows": 64, "score": 0.7, "ci95": [0.6, 0.8]}]}
    (run / LEARNING_CURVE_FILE).write_text(json.dumps(curve))
    s = json.loads(write_summary(run).read_text())
    assert s["learning_curve"] == curve and tuple(s)[-1] == "learning_curve"
    assert "| 64 | 0.700 |" in (run / "summary.md").read_text()


def test_speed_reasons():
    speed = {"baseline": {"latency_s_per_request": 2.0, "cost_per_1k_requests_usd": 0.1},
             "adapter": {"latency_s_per_request": 1.0, "cost_per_1k_requests_usd": 0.05}}
    reasons = speed_reasons(speed)
    assert any("0.50x" in r for r in reasons) and any("cost per 1,000" in r for r in reasons)
    assert speed_reasons(None) == []


def test_partial_run_still_writes_a_summary(runs):
    run = make_run(runs, "r1", stages=("baseline",))
    s = json.loads(write_summary(run, {"02_prompting_baseline.ipynb": 1.0}).read_text())
    assert tuple(s) == SUMMARY_KEYS and s["finetuned"] == {"eval": {}, "golden": {}}
    assert s["baseline"]["golden"] and s["primary_metric"] == "field_accuracy"
    md = (run / "summary.md").read_text()
    assert "incomplete" in md and "03" in md


def test_numeric_metrics_is_the_one_filter_for_summary_and_gate():
    from helpers.evaluation.compare import numeric_metrics

    raw = {"field_accuracy": 0.5, "n": 3, "tokens_per_s": 140.2, "flag": True, "name": "x",
           "nan": float("nan"), "inf": float("inf"), "neg": -0.1}
    assert numeric_metrics(raw) == {"field_accuracy": 0.5, "n": 3.0, "tokens_per_s": 140.2, "neg": -0.1}
    assert numeric_metrics(raw, unit_interval=True) == {"field_accuracy": 0.5}  # what the gate compares
    assert numeric_metrics(None) == {} and numeric_metrics({"flag": False}) == {}
