"""The clean-vs-noisy experiment: same model, same training budget, different data.

Introduced in ``05_clean_vs_noisy.ipynb``. Each arm trains a fresh LoRA adapter for the same
number of optimizer steps at the same batch size (so the same number of training examples is
seen), then is scored on the **eval** set with the same prompt and metrics. Only the data differs.
An experiment is a choice (which data to train on), so it never reads golden
(:func:`helpers.evaluation.holdout.refuse_golden`); two arms are compared row by row with the
paired interval of :mod:`helpers.evaluation.decision`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.models import load_causal_lm
from helpers.evaluation.decision import PairedDifference, aligned_predictions, paired_difference
from helpers.evaluation.holdout import refuse_golden
from helpers.evaluation.scoring import evaluate_stage
from helpers.prompting.prompts import finetune_config
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
    scores: dict[str, float]  # on the eval rows the profile scores
    primary_metric: str
    final_train_loss: float | None
    predictions: list[dict[str, Any]]  # predictions_eval.jsonl rows: id, prediction, reference
    seed: int = 42
    split: str = "eval"


def experiment_settings(profile: Profile) -> TrainSettings:
    """The shared training budget: the profile's settings with ``experiment_steps`` steps (05)."""
    return TrainSettings.from_profile(profile, max_steps=profile.experiment_steps, train_rows=None,
                                      save_steps=10**6, eval_steps=10**6)


def run_arm(
    name: str, profile: Profile, tokenizer: Any, rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]], out_dir: Path, s: TrainSettings,
) -> ArmResult:
    """Train a fresh adapter on ``rows`` with budget ``s`` and score it on eval (05).

    Refuses golden rows among the training rows or ``eval_rows``: golden stays the final exam.
    """
    from helpers.core.runs import read_jsonl

    refuse_golden(list(rows), f"training the {name!r} arm")
    refuse_golden(list(eval_rows), f"scoring the {name!r} arm")
    if Path(out_dir).exists():  # an arm folder is scripted output (never the learner's): a re-run starts it afresh
        shutil.rmtree(out_dir)
    base = load_causal_lm(profile, quantization=s.quantization)
    result, model = train(base, tokenizer, rows, eval_rows, s, Path(out_dir), device=profile.device)
    save_loss_plot(result.log_history, Path(out_dir) / "loss.png")
    record = evaluate_stage(model, tokenizer, profile, Path(out_dir), finetune_config(), splits=("eval",))
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    return ArmResult(name, len(rows), result.global_step, result.seconds, record["eval"],
                     record["primary_metric"], losses[-1] if losses else None,
                     read_jsonl(Path(out_dir) / "predictions_eval.jsonl"), s.seed)


def run_experiment(
    profile: Profile, tokenizer: Any, data: dict[str, Sequence[dict[str, Any]]],
    eval_rows: Sequence[dict[str, Any]], out_dir: Path, s: TrainSettings,
) -> list[ArmResult]:
    """Every arm of ``data`` ({name: rows}) with budget ``s``, once per seed (``profile.experiment_seeds``) (05).

    Seeds are ``s.seed``, ``s.seed + 1``, ...; with one seed each arm trains into
    ``out_dir/<name>``, with several into ``out_dir/<name>/seed-<seed>``.
    """
    arms = []
    seeds = [s.seed + k for k in range(max(1, profile.experiment_seeds))]
    for seed in seeds:
        for name, rows in data.items():
            folder = Path(out_dir) / name if len(seeds) == 1 else Path(out_dir) / name / f"seed-{seed}"
            arms.append(run_arm(name, profile, tokenizer, rows, eval_rows, folder, s.replace(seed=seed)))
    return arms


def paired_table(arms: Sequence[ArmResult], first: str, second: str) -> Any:
    """``second`` minus ``first`` per seed, paired by eval row, with 95% intervals (05_clean_vs_noisy)."""
    import pandas as pd

    rows = []
    for seed in dict.fromkeys(a.seed for a in arms):
        a = next(x for x in arms if x.name == first and x.seed == seed)
        b = next(x for x in arms if x.name == second and x.seed == seed)
        d = compare_arms(a, b)
        rows.append({"seed": seed, "metric": d.metric, first: d.baseline, second: d.finetuned,
                     "diff": d.diff, "ci_low": d.ci95[0], "ci_high": d.ci95[1], "rows": d.n})
    return pd.DataFrame(rows).set_index("seed")


def compare_arms(first: ArmResult, second: ArmResult) -> PairedDifference:
    """``second`` minus ``first`` on their primary metric, paired by eval row, with its 95% interval (05)."""
    from helpers.evaluation.metrics import task_for_metrics

    a, b, refs = aligned_predictions(first.predictions, second.predictions, f"arms {first.name} and {second.name}")
    task = task_for_metrics({"primary_metric": first.primary_metric})
    return paired_difference(task, a, b, refs, metric=first.primary_metric, split=first.split)


def results_table(arms: Sequence[ArmResult]) -> Any:
    """One row per arm (and seed): rows, steps, time and the eval metrics (05_clean_vs_noisy)."""
    import pandas as pd

    return pd.DataFrame([
        {"arm": a.name, "seed": a.seed, "train rows": a.n_rows, "steps": a.steps, "seconds": round(a.seconds),
         "final train loss": a.final_train_loss,
         **{k: v for k, v in a.scores.items() if "." not in k}} for a in arms
    ]).set_index("arm").round(3)


def results_figure(arms: Sequence[ArmResult]) -> Any:
    """Eval primary metric and per-field accuracy for each arm, as bars (05_clean_vs_noisy)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    metric = arms[0].primary_metric
    ax1.bar([a.name for a in arms], [a.scores[metric] for a in arms], color=["#2ca02c", "#d62728", "#7f7f7f"][: len(arms)])
    ax1.set_ylim(0, 1)
    ax1.set_title(f"{arms[0].split} {metric}")
    fields = sorted({k.split(".", 1)[1] for a in arms for k in a.scores if k.startswith("field_accuracy.")})
    width = 0.8 / max(len(arms), 1)
    for i, a in enumerate(arms):
        ax2.bar([j + i * width for j in range(len(fields))], [a.scores.get(f"field_accuracy.{f}", 0) for f in fields],
                width=width, label=a.name)
    ax2.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(fields))], fields, rotation=30, ha="right")
    ax2.set_ylim(0, 1)
    ax2.set_title(f"per-field accuracy ({arms[0].split})")
    ax2.legend()
    fig.tight_layout()
    return fig
