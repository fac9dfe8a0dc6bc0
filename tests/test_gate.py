"""helpers.evaluation.gate: paired intervals; pass, fail against the baseline or the best earlier run, unusable folders."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from fake_run import make_run
from helpers.__main__ import main
from helpers.core.errors import SettingsError
from helpers.evaluation.gate import check_gate


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    return tmp_path


def _gate(run, *extra):
    return main(["gate", "--run", str(run), *extra])


def _age(run, seconds_ago):
    """Pretend a run finished ``seconds_ago``."""
    path = run / "adapter" / "metrics.json"
    t = path.stat().st_mtime - seconds_ago
    os.utime(path, (t, t))


def test_pass_when_adapter_beats_baseline(runs, capsys):
    run = make_run(runs, "r2", baseline=0.4, adapter=0.8, n_rows=40)
    result = check_gate(run)
    assert result.passed and result.table[0]["metric"] == "field_accuracy"
    assert result.table[0]["ci_low"] > 0 and "field_accuracy.order_id" in {r["metric"] for r in result.table}
    assert all(row["ok"] for row in result.table)
    assert _gate(run) == 0
    assert capsys.readouterr().out.startswith("PASS")


def test_fail_when_adapter_falls_below_baseline(runs, capsys):
    run = make_run(runs, "r2", baseline=0.9, adapter=0.2, n_rows=40)
    result = check_gate(run)
    assert not result.passed
    assert any("field_accuracy" in r and "(baseline)" in r and "wholly below" in r for r in result.reasons)
    assert _gate(run, "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False and out["reasons"]


def test_a_drop_within_noise_passes_a_shown_drop_fails(runs):
    """One row worse of 40 is noise (its interval reaches zero); eight rows worse is a regression."""
    run = make_run(runs, "r2", baseline=0.5, adapter=0.475, n_rows=40)
    result = check_gate(run, tolerance=0.0)
    assert result.table[0]["diff"] < 0 and result.table[0]["ci_high"] >= 0
    assert result.passed
    worse = make_run(runs, "r3", baseline=0.6, adapter=0.4, n_rows=40)
    assert not check_gate(worse, tolerance=0.0).passed
    assert check_gate(worse, tolerance=0.5).passed  # a drop the learner declared acceptable
    assert _gate(worse, "--tolerance", "0") == 1
    m = json.loads((worse / "adapter" / "metrics.json").read_text())
    m["speed"]["latency_s_per_request"] = 99.0  # latency never counts
    (worse / "adapter" / "metrics.json").write_text(json.dumps(m))
    assert "latency_s_per_request" not in {r["metric"] for r in check_gate(worse, tolerance=0.5).table}


def test_fail_against_best_earlier_run_of_same_task_and_profile(runs, capsys):
    earlier = make_run(runs, "r1", baseline=0.4, adapter=1.0, n_rows=40)
    _age(earlier, 3600)
    current = make_run(runs, "r2", baseline=0.4, adapter=0.6, n_rows=40)
    result = check_gate(current)
    assert not result.passed and result.earlier_run == "r1"
    assert any("best earlier run r1" in r for r in result.reasons)
    assert _gate(current) == 1
    # a better run of ANOTHER profile, or one that finished later, does not count
    shutil.rmtree(earlier)
    other = make_run(runs, "r0", profile="cpu", adapter=1.0, n_rows=40)
    _age(other, 3600)
    later = make_run(runs, "r3", adapter=1.0, n_rows=40)
    os.utime(later / "adapter" / "metrics.json", None)
    _age(current, 60)
    assert check_gate(current).passed


def test_earlier_run_from_summary_json_only_is_named_not_compared(runs):
    earlier = runs / "r1"
    earlier.mkdir()
    (earlier / "summary.json").write_text(json.dumps({
        "profile": "ci", "task": "support", "primary_metric": "field_accuracy",
        "baseline": {"eval": {}, "golden": {}},
        "finetuned": {"eval": {}, "golden": {"field_accuracy": 1.0}}, "seconds": {}}))
    t = earlier.joinpath("summary.json").stat().st_mtime - 3600
    os.utime(earlier / "summary.json", (t, t))
    current = make_run(runs, "r2", baseline=0.4, adapter=0.8, n_rows=40)
    result = check_gate(current)
    assert result.earlier_run == "r1" and result.passed
    assert any("r1 kept no golden predictions" in r for r in result.reasons)


def test_unusable_run_folder_exits_2_naming_the_notebook(runs, capsys):
    run = make_run(runs, "r2", stages=("baseline",))
    with pytest.raises(SettingsError, match="03_qlora_training"):
        check_gate(run)
    assert _gate(run) == 2
    err = capsys.readouterr().err
    assert "03_qlora_training.ipynb" in err and err.count("\n") == 1
    only_adapter = make_run(runs, "r3", stages=("adapter",))
    assert _gate(only_adapter) == 2
    assert "02_prompting_baseline.ipynb" in capsys.readouterr().err
    assert _gate(runs / "does-not-exist") == 2
    (run / "adapter").mkdir()
    (run / "adapter" / "metrics.json").write_text("{not json")
    assert _gate(run) == 2


def test_run_id_resolves_under_course_runs(runs):
    make_run(runs, "r2", baseline=0.4, adapter=0.8)
    assert _gate("r2") == 0
