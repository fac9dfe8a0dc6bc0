"""Every training run has its own folder; a fresh start never resumes another run; resume picks its own latest.

Real training (TRL's SFTTrainer) on the tiny random Llama: a few steps each, seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import support_rows
from helpers.core.errors import SettingsError
from helpers.training.artifacts import final_adapter, latest_run, new_run_name, run_folder
from helpers.training.job import TrainingJob
from helpers.training.settings import TrainSettings
from helpers.training.trainer import latest_checkpoint, train


def _settings(profile, **changes) -> TrainSettings:
    base = dict(max_steps=6, save_steps=2, eval_steps=100, batch_size=2, learning_rate=1e-3, train_rows=None, max_seq_len=128,
                warmup_ratio=0.0)
    return TrainSettings.from_profile(profile, **{**base, **changes})


def _job(profile, root: Path) -> TrainingJob:
    from helpers.core.models import load_tokenizer

    return TrainingJob(profile, load_tokenizer(profile.model), support_rows(24), support_rows(4, 100), root)


def _steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*"))


def test_run_names_are_reserved_and_checked(tmp_path):
    assert new_run_name(tmp_path, "qv") == "qv"
    assert new_run_name(tmp_path, "qv") == "qv-2"  # taken: never the same folder twice
    stamp = new_run_name(tmp_path)
    assert stamp != new_run_name(tmp_path)  # two runs in the same second get two folders
    assert run_folder(tmp_path, "qv").is_dir()
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(SettingsError):
            run_folder(tmp_path, bad)
    assert latest_run(tmp_path) is None  # empty folders hold nothing to resume
    with pytest.raises(SettingsError, match="notebooks/03"):
        final_adapter(tmp_path)


def test_each_run_has_its_own_folder_and_resume_picks_its_own_latest(tmp_path, tiny_profile):
    root = tmp_path / "adapter"
    job = _job(tiny_profile, root)
    job.start(_settings(tiny_profile, max_steps=4), name="long")  # checkpoints 2 and 4
    first = job.run_dir
    assert _steps(first) == [2, 4] and (first / "final" / "adapter_model.safetensors").exists()
    assert final_adapter(root) == first / "final"

    # the next run (an exercise) is stopped early: a new folder, the first one untouched
    stop_early = lambda h: job.stop() if h else None  # noqa: E731 - the stop lands at the next step's end
    job.listeners.append(stop_early)
    job.start(_settings(tiny_profile, max_steps=3))
    job.listeners.remove(stop_early)
    second = job.run_dir
    assert second != first and second.parent == first.parent
    assert job.result.stopped_early and job.result.resumed_from is None
    own = _steps(second)
    assert own and max(own) < 3 and _steps(first) == [2, 4]
    assert final_adapter(root) == first / "final"  # a stopped run is not the finished adapter

    # Resume continues the stopped run from ITS newest checkpoint, not the other run's higher checkpoint-4
    job.start(_settings(tiny_profile, max_steps=3), resume=True)
    assert job.run_dir == second
    assert Path(job.result.resumed_from) == second / "checkpoints" / f"checkpoint-{max(own)}"
    assert job.result.global_step == 3 and not job.result.stopped_early
    assert final_adapter(root) == second / "final"

    # a restarted kernel (a new job) resumes the run with the newest checkpoint on disk
    assert latest_run(root) == second.name

    # a fresh start never resumes: it gets a new folder and starts from step 0
    job.start(_settings(tiny_profile, max_steps=1))
    assert job.run_dir not in (first, second) and job.result.resumed_from is None and job.result.global_step == 1


def test_a_fresh_start_refuses_a_folder_with_checkpoints(tmp_path, tiny_profile):
    from helpers.core.models import load_causal_lm, load_tokenizer

    tok = load_tokenizer(tiny_profile.model)
    s = _settings(tiny_profile, max_steps=2)
    run_dir = tmp_path / "one"
    train(load_causal_lm(tiny_profile), tok, support_rows(8), None, s, run_dir)
    assert latest_checkpoint(run_dir / "checkpoints") is not None
    with pytest.raises(SettingsError, match="another run's checkpoints"):
        train(load_causal_lm(tiny_profile), tok, support_rows(8), None, s, run_dir)


def test_resume_without_any_run_names_the_fix(tmp_path, tiny_profile):
    job = TrainingJob(tiny_profile, tokenizer=None, train_rows=[], eval_rows=[], adapter_root=tmp_path)
    with pytest.raises(SettingsError, match="press Train first"):
        job.start(_settings(tiny_profile), resume=True)
