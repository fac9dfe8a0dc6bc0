"""The clean-vs-noisy experiment: same model, same training budget, different data.

Introduced in ``05_clean_vs_noisy.ipynb``. Each arm trains a fresh LoRA adapter for the same
number of optimizer steps at the same batch size (so the same number of training examples is
seen), then is scored on the golden set with the same prompt and metrics. Only the data differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.models import load_causal_lm
from helpers.prompting.prompts import finetune_config
from helpers.evaluation.scoring import evaluate_stage
from helpers.training.artifacts import save_loss_plot
from helpers.training.settings import TrainSettings
from helpers.training.trainer import train


@dataclass
class ArmResult:
    """One arm of the experiment (05_clean_vs_noisy)."""

    name: str
    n_rows: int
    steps: int
    seconds: float
    golden: dict[str, float]
    primary_metric: str
    final_train_loss: float | None


def experiment_settings(profile: Profile) -> TrainSettings:
    """The shared training budget: the profile's settings with ``experiment_steps`` steps (05)."""
    return TrainSettings.from_profile(profile, max_steps=profile.experiment_steps, train_rows=None,
                                      save_steps=10**6, eval_steps=10**6)


def run_arm(
    name: str, profile: Profile, tokenizer: Any, rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]], out_dir: Path, s: TrainSettings,
) -> ArmResult:
    """Train a fresh adapter on ``rows`` with budget ``s`` and score it on golden (05)."""
    base = load_causal_lm(profile, quantization=s.quantization)
    result, model = train(base, tokenizer, rows, eval_rows, s, Path(out_dir), device=profile.device)
    save_loss_plot(result.log_history, Path(out_dir) / "loss.png")
    record = evaluate_stage(model, tokenizer, profile, Path(out_dir), finetune_config(), splits=("golden",))
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    return ArmResult(name, len(rows), result.global_step, result.seconds, record["golden"],
                     record["primary_metric"], losses[-1] if losses else None)


def results_table(arms: Sequence[ArmResult]) -> Any:
    """One row per arm: rows, steps, time and the golden metrics (05_clean_vs_noisy)."""
    import pandas as pd

    return pd.DataFrame([
        {"arm": a.name, "train rows": a.n_rows, "steps": a.steps, "seconds": round(a.seconds),
         "final train loss": a.final_train_loss,
         **{k: v for k, v in a.golden.items() if "." not in k}} for a in arms
    ]).set_index("arm").round(3)


def results_figure(arms: Sequence[ArmResult]) -> Any:
    """Golden primary metric and per-field accuracy for each arm, as bars (05_clean_vs_noisy)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    metric = arms[0].primary_metric
    ax1.bar([a.name for a in arms], [a.golden[metric] for a in arms], color=["#2ca02c", "#d62728", "#7f7f7f"][: len(arms)])
    ax1.set_ylim(0, 1)
    ax1.set_title(f"golden {metric}")
    fields = sorted({k.split(".", 1)[1] for a in arms for k in a.golden if k.startswith("field_accuracy.")})
    width = 0.8 / max(len(arms), 1)
    for i, a in enumerate(arms):
        ax2.bar([j + i * width for j in range(len(fields))], [a.golden.get(f"field_accuracy.{f}", 0) for f in fields],
                width=width, label=a.name)
    ax2.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(fields))], fields, rotation=30, ha="right")
    ax2.set_ylim(0, 1)
    ax2.set_title("per-field accuracy (golden)")
    ax2.legend()
    fig.tight_layout()
    return fig
