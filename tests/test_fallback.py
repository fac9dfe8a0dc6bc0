"""Scripted fallback cells never replace what the learner did with a widget (notebooks 02 and 03)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import support_rows
from helpers.core.origin import mark_origin, scripted_fallback, stage_origin
from helpers.core.runs import write_json
from helpers.training.job import TrainingJob, fallback_plan, scripted_training
from helpers.training.settings import TrainSettings


# --- notebook 02: the baseline ------------------------------------------------------------

def _fake_save(stage: Path, score: float):
    """What notebook 02's save_baseline leaves: metrics.json (last); the fallback marks the origin."""
    calls = []

    def action() -> str:
        calls.append(score)
        write_json(stage / "metrics.json", {"golden": {"field_accuracy": score}})
        return f"saved {score}"

    return action, calls


def test_scripted_baseline_is_made_when_the_learner_saved_none(tmp_path):
    stage = tmp_path / "baseline"
    assert stage_origin(stage) is None
    action, calls = _fake_save(stage, 0.5)
    line = scripted_fallback(stage, "baseline", action)
    assert calls == [0.5] and "made one: saved 0.5" in line
    assert stage_origin(stage) == "script"
    # a scripted baseline is the cell's own: running the cell again may redo it
    action, calls = _fake_save(stage, 0.6)
    scripted_fallback(stage, "baseline", action)
    assert calls == [0.6]


def test_scripted_baseline_keeps_the_one_saved_in_the_workbench(tmp_path):
    stage = tmp_path / "baseline"
    write_json(stage / "metrics.json", {"golden": {"field_accuracy": 0.7}})  # the workbench's Save
    mark_origin(stage, "widget")
    action, calls = _fake_save(stage, 0.5)
    line = scripted_fallback(stage, "baseline", action)
    assert calls == [] and line.startswith("kept the baseline you saved with the widget")
    assert json.loads((stage / "metrics.json").read_text())["golden"]["field_accuracy"] == 0.7
    assert stage_origin(stage) == "widget"


def test_origin_needs_a_finished_stage_and_a_known_maker(tmp_path):
    stage = tmp_path / "baseline"
    mark_origin(stage, "widget")
    assert stage_origin(stage) is None  # no metrics.json: the stage did not finish
    write_json(stage / "metrics.json", {})
    assert stage_origin(stage) == "widget"
    with pytest.raises(ValueError):
        mark_origin(stage, "someone")


# --- notebook 03: training ----------------------------------------------------------------

@pytest.mark.parametrize("running, origin, status, plan", [
    (True, "widget", None, "wait"),
    (True, "script", None, "wait"),
    (False, "widget", "complete", "keep"),
    (False, "widget", "stopped", "resume"),
    (False, "widget", "failed", "train"),
    (False, "script", "complete", "train"),
    (False, None, None, "train"),
])
def test_fallback_plan(running, origin, status, plan):
    assert fallback_plan(running, origin, status) == plan


def _job(profile, root: Path) -> TrainingJob:
    from helpers.core.models import load_tokenizer

    return TrainingJob(profile, load_tokenizer(profile.model), support_rows(16), support_rows(4, 100), root)


def _settings(profile, **changes) -> TrainSettings:
    base = dict(max_steps=2, save_steps=1, eval_steps=100, batch_size=2, train_rows=None, max_seq_len=128, warmup_ratio=0.0)
    return TrainSettings.from_profile(profile, **{**base, **changes})


def _runs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "runs").iterdir())


def test_scripted_cell_waits_for_the_panel_run_and_does_not_retrain(tmp_path, tiny_profile):
    root = tmp_path / "adapter"
    job = _job(tiny_profile, root)
    job.start(_settings(tiny_profile, max_steps=3), background=True, origin="widget")  # the panel's Train
    panel_run = job.run_name
    lines: list[str] = []
    result = scripted_training(job, _settings(tiny_profile), say=lines.append)
    assert "still training: waiting" in lines[0] and lines[-1].startswith("kept the run you trained with the panel")
    assert result.global_step == 3 and _runs(root) == [panel_run]  # the panel's 3 steps, no second run
    card = json.loads((root / "runs" / panel_run / "run_card.json").read_text())
    assert (card["origin"], card["status"]) == ("widget", "complete")


def test_scripted_cell_trains_without_a_panel_run_and_finishes_a_stopped_one(tmp_path, tiny_profile):
    root = tmp_path / "adapter"
    job = _job(tiny_profile, root)
    lines: list[str] = []
    result = scripted_training(job, _settings(tiny_profile), say=lines.append)
    assert "this cell trained one" in lines[-1] and result.global_step == 2
    assert json.loads((job.run_dir / "run_card.json").read_text())["origin"] == "script"

    # the panel trains and the learner presses Stop: the cell finishes THAT run from its checkpoint
    job.listeners.append(lambda h: job.stop() if job.origin == "widget" and h else None)
    job.start(_settings(tiny_profile, max_steps=3), origin="widget")
    job.listeners.clear()
    stopped = job.run_name
    assert job.result.stopped_early
    result = scripted_training(job, _settings(tiny_profile), say=lines.append)
    assert "was stopped: resuming it" in lines[-1] and job.run_name == stopped
    assert result.global_step == 3 and result.resumed_from and Path(result.resumed_from).parents[1].name == stopped
    assert len(_runs(root)) == 2
