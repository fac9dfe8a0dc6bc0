"""helpers.evaluation.summary: the summary.json contract, seconds merging, go/no-go rules."""

from __future__ import annotations

import json

import pytest

from fake_run import make_run
from helpers.evaluation.gate import GateResult
from helpers.evaluation.summary import SUMMARY_KEYS, go_no_go, write_summary


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    return tmp_path


def test_summary_json_contract(runs):
    run = make_run(runs, "r1", baseline=0.4, adapter=0.8)
    path = write_summary(run, {"04_evaluation.ipynb": 12.5})
    s = json.loads(path.read_text())
    assert tuple(s) == SUMMARY_KEYS
    assert s["profile"] == "ci" and s["task"] == "support" and s["primary_metric"] == "field_accuracy"
    for stage in ("baseline", "finetuned"):
        assert set(s[stage]) == {"eval", "golden"}
        for split in ("eval", "golden"):
            assert s[stage][split] and all(isinstance(v, float) and 0 <= v <= 1 for v in s[stage][split].values())
    assert s["finetuned"]["golden"]["field_accuracy"] > s["baseline"]["golden"]["field_accuracy"]
    md = (run / "summary.md").read_text()
    assert "Verdict: GO" in md and "What to try next" in md and "latency" in md


def test_seconds_are_merged(runs):
    run = make_run(runs, "r1")
    write_summary(run, {"02_prompting_baseline.ipynb": 30.0})
    write_summary(run, {"04_evaluation.ipynb": 5.0})
    write_summary(run)
    s = json.loads((run / "summary.json").read_text())
    assert s["seconds"] == {"02_prompting_baseline.ipynb": 30.0, "04_evaluation.ipynb": 5.0}


def _summary(b, f):
    return {"profile": "ci", "task": "support", "primary_metric": "field_accuracy", "seconds": {},
            "baseline": {"eval": {}, "golden": {"field_accuracy": b}},
            "finetuned": {"eval": {}, "golden": {"field_accuracy": f}}}


def test_go_no_go_rules():
    assert go_no_go(_summary(0.5, 0.8))[0] == "go"
    verdict, reasons = go_no_go(_summary(0.79, 0.8))
    assert verdict == "no-go" and any("keep the prompting baseline" in r for r in reasons)
    assert go_no_go(_summary(0.8, 0.5))[0] == "no-go"
    failed = GateResult(False, ["golden exact_match fell"], [])
    verdict, reasons = go_no_go(_summary(0.5, 0.8), gate=failed)
    assert verdict == "no-go" and any("gate failed" in r for r in reasons)
    speed = {"baseline": {"latency_s_per_request": 2.0, "cost_per_1k_requests_usd": 0.1},
             "adapter": {"latency_s_per_request": 1.0, "cost_per_1k_requests_usd": 0.05}}
    _, reasons = go_no_go(_summary(0.5, 0.8), speed=speed)
    assert any("0.50x" in r for r in reasons) and any("cost per 1,000" in r for r in reasons)


def test_partial_run_still_writes_a_summary(runs):
    run = make_run(runs, "r1", stages=("baseline",))
    s = json.loads(write_summary(run, {"02_prompting_baseline.ipynb": 1.0}).read_text())
    assert tuple(s) == SUMMARY_KEYS and s["finetuned"] == {"eval": {}, "golden": {}}
    assert s["baseline"]["golden"] and s["primary_metric"] == "field_accuracy"
    md = (run / "summary.md").read_text()
    assert "INCOMPLETE" in md and "03_qlora_training" in md


def test_numeric_metrics_is_the_one_filter_for_summary_and_gate():
    from helpers.evaluation.compare import numeric_metrics

    raw = {"field_accuracy": 0.5, "n": 3, "tokens_per_s": 140.2, "flag": True, "name": "x",
           "nan": float("nan"), "inf": float("inf"), "neg": -0.1}
    assert numeric_metrics(raw) == {"field_accuracy": 0.5, "n": 3.0, "tokens_per_s": 140.2, "neg": -0.1}
    assert numeric_metrics(raw, unit_interval=True) == {"field_accuracy": 0.5}  # what the gate compares
    assert numeric_metrics(None) == {} and numeric_metrics({"flag": False}) == {}
