"""The training panel: widgets read into the real TrainSettings, and the progress bar's real total."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from helpers.core.config import get_profile  # noqa: E402
from helpers.training.job import TrainingJob  # noqa: E402
from helpers.training.settings import TrainSettings  # noqa: E402
from helpers.widgets.train_panel import read_settings, train_panel  # noqa: E402


def _panel(tmp_path, name: str = "cpu"):
    profile = get_profile(name)
    settings = TrainSettings.from_profile(profile)
    job = TrainingJob(profile, tokenizer=None, train_rows=[], eval_rows=[], adapter_root=tmp_path)
    return job, settings, train_panel(job, settings)


def test_widgets_edit_the_settings_object(tmp_path):
    job, settings, panel = _panel(tmp_path)
    ws = panel.settings_widgets
    ws["lora_r"].value = 32  # alpha follows while linked
    ws["lora_targets"].value = "q,v"
    ws["fixed_shape_rows"].value = False
    s = read_settings(ws, settings)
    assert isinstance(s, TrainSettings)
    assert (s.lora_r, s.lora_alpha, s.lora_targets, s.fixed_shape_rows) == (32, 64, "q,v", False)
    assert s.learning_rate == settings.learning_rate and s.train_rows == settings.train_rows
    assert s.lora_config().r == 32


def test_progress_total_comes_from_the_trainer_for_epoch_runs(tmp_path):
    """max_steps=-1 (the GPU profiles): the bar's total is the trainer's own step count."""
    job, settings, panel = _panel(tmp_path, "gpu-24gb")
    assert settings.max_steps == -1
    progress = next(c for c in panel.children if type(c).__name__ == "IntProgress")
    job._on_log([{"step": 1, "loss": 2.0, "max_steps": 107}])
    assert (progress.value, progress.max) == (1, 107)
    job._on_log([{"step": 1, "loss": 2.0, "max_steps": 107}, {"step": 40, "loss": 1.0, "max_steps": 107}])
    assert (progress.value, progress.max) == (40, 107) and progress.value < progress.max


def test_progress_total_is_real_from_the_first_step_with_max_steps_minus_one(tmp_path, tiny_profile):
    """A real epoch run (max_steps=-1): the total is the trainer's steps from rows and packing, shown from step 1."""
    from conftest import support_rows
    from helpers.core.models import load_tokenizer

    s = TrainSettings.from_profile(tiny_profile, max_steps=-1, epochs=1, batch_size=2, train_rows=None, max_seq_len=128,
                                   save_steps=100, eval_steps=100, warmup_ratio=0.0)
    assert s.max_steps == -1
    job = TrainingJob(tiny_profile, load_tokenizer(tiny_profile.model), support_rows(12), [], tmp_path)
    panel = train_panel(job, s)
    progress = next(c for c in panel.children if type(c).__name__ == "IntProgress")
    seen: list[tuple[int, int]] = []
    job.listeners.append(lambda h: seen.append((progress.value, progress.max)))  # after the panel's own listener
    job.start(s)
    steps = job.result.global_step
    assert steps > 1 and job.result.max_steps == steps  # packed rows / batch, one epoch: the run's real length
    assert seen[0] == (1, steps)  # the first step already shows the real total, not a full bar
    assert all(total == steps for _, total in seen) and seen[-1] == (steps, steps)
