"""Score a model on the eval and golden sets and write the stage folder of a run.

Introduced in ``02_prompting_baseline.ipynb`` and used again in ``03_qlora_training.ipynb``:
the prompting baseline and the adapter go through *this same function*, with the same rows,
metrics and speed accounting, so notebook 04's comparison is fair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from helpers.core.config import Profile
from helpers.core.runs import write_json, write_jsonl
from helpers.data.loading import load_split
from helpers.data.task_spec import load_task
from helpers.data.tasks import as_view
from helpers.evaluation.holdout import refuse_golden
from helpers.evaluation.metrics import per_example, primary_metric, score
from helpers.prompting.generation import GenerationResult, generate
from helpers.prompting.prompts import PromptConfig, build_conversations

SPLIT_LIMITS = {"eval": "eval_rows", "golden": "golden_rows", "production_sample": "production_rows"}
# Every stage scores these splits (production only where the task ships a labelled sample):
# eval for choices, golden for the final report, production to measure drift (notebook 04).
STAGE_SPLITS = ("eval", "golden", "production_sample")


def stage_splits(task: str | Path | None = None) -> tuple[str, ...]:
    """The splits a stage is scored on: eval, golden, and production_sample when the task has it (02, 03)."""
    from helpers.data.loading import split_path

    return tuple(s for s in STAGE_SPLITS if s != "production_sample" or split_path(s, task).exists())


def scored_rows(profile: Profile, split: str, view: str | None = None,
                task: str | Path | None = None) -> list[dict[str, Any]]:
    """The rows of ``split`` that this profile scores (all of them, or the first N), as ``view`` (the task's if None) (02)."""
    limit = getattr(profile, SPLIT_LIMITS[split]) if split in SPLIT_LIMITS else None
    return as_view(load_split(split, task, limit=limit), view or load_task(task).view)


LABEL_MAX_NEW_TOKENS = 24  # a label (task init refuses answers over 60 characters) needs no more


def answer_tokens(profile: Profile, view: str) -> int:
    """New tokens an answer may take: the profile's ``max_new_tokens``, at most 24 for a label (02, 03, 06).

    Sizes, not logic: a classification answer is one label, so a model that rambles past it is
    cut where no label can still be coming, instead of generating the profile's full budget.
    """
    return min(profile.max_new_tokens, LABEL_MAX_NEW_TOKENS) if view == "classification" else profile.max_new_tokens


def cost_per_1k(latency_s: float, price_per_hour_usd: float) -> float:
    """Cost of 1,000 requests at a measured latency and an hourly hardware price (02)."""
    return latency_s * 1000 / 3600 * price_per_hour_usd


def speed_record(gen: GenerationResult, price_per_hour_usd: float) -> dict[str, float]:
    """Latency, throughput and cost per 1,000 requests from one generation call (02)."""
    if gen.cost_usd is not None:  # billed per token (API baselines)
        cost = gen.cost_usd / max(len(gen.texts), 1) * 1000
    else:
        cost = cost_per_1k(gen.latency_s_per_request, price_per_hour_usd)
    return {
        "latency_s_per_request": round(gen.latency_s_per_request, 4),
        "tokens_per_s": round(gen.tokens_per_s, 2),
        "cost_per_1k_requests_usd": round(cost, 5),
        "price_per_hour_usd": price_per_hour_usd,
    }


def predict(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], config: PromptConfig,
    profile: Profile, pool: Sequence[dict[str, Any]] = (),
) -> GenerationResult:
    """Answers for ``rows`` with one prompt configuration, batched (02_prompting_baseline)."""
    conversations = build_conversations(rows, config, pool)
    return generate(
        model, tokenizer, conversations, max_new_tokens=answer_tokens(profile, config.view),
        batch_size=profile.gen_batch_size,
    )


def prediction_rows(rows: Sequence[dict[str, Any]], gen: GenerationResult) -> list[dict[str, Any]]:
    """Rows for ``predictions_<split>.jsonl``: id, prediction, reference, latency (02)."""
    return [
        {"id": r["id"], "prediction": p, "reference": r["output"], "latency_s": round(t, 4)}
        for r, p, t in zip(rows, gen.texts, gen.latencies)
    ]


def evaluate_stage(
    model: Any,
    tokenizer: Any,
    profile: Profile,
    stage_dir: Path,
    config: PromptConfig,
    pool: Sequence[dict[str, Any]] = (),
    splits: Sequence[str] | None = None,
    predict_fn: Callable[..., GenerationResult] | None = None,
    known: dict[str, GenerationResult] | None = None,
) -> dict[str, Any]:
    """Predict and score every split, write predictions and ``metrics.json`` (written last) (02, 03).

    ``splits`` defaults to :func:`stage_splits` (eval, golden and the production sample).

    ``predict_fn(rows) -> GenerationResult`` replaces local generation (API baselines use it).
    ``known`` holds answers already generated with this ``config`` for a split's scored rows
    (notebook 02's prompt ladder has the eval answers): they are scored, not generated again.
    """
    stage_dir = Path(stage_dir)
    splits = stage_splits() if splits is None else tuple(splits)
    record: dict[str, Any] = {"primary_metric": primary_metric(config.view), "view": config.view}
    speeds = []
    for split in splits:
        rows = scored_rows(profile, split, config.view)
        gen = (known or {}).get(split)
        if gen is None:
            gen = predict_fn(rows) if predict_fn else predict(model, tokenizer, rows, config, profile, pool)
        elif len(gen.texts) != len(rows):
            raise ValueError(f"known answers for {split!r} cover {len(gen.texts)} rows, the profile scores {len(rows)}")
        write_jsonl(stage_dir / f"predictions_{split}.jsonl", prediction_rows(rows, gen))
        record[split] = score(config.view, gen.texts, [r["output"] for r in rows])
        record[f"n_{split}"] = len(rows)
        speeds.append(gen)
    total_s = sum(g.seconds for g in speeds)
    total_n = sum(len(g.texts) for g in speeds)
    costs = [g.cost_usd for g in speeds]
    merged = GenerationResult(
        texts=[t for g in speeds for t in g.texts], new_tokens=[n for g in speeds for n in g.new_tokens],
        seconds=total_s, cost_usd=None if None in costs else sum(c for c in costs if c is not None),
    )
    record["speed"] = speed_record(merged, profile.price_per_hour_usd) if total_n else {}
    write_json(stage_dir / "prompt.json", config.to_dict())
    write_json(stage_dir / "metrics.json", record)
    return record


def ladder_answers(
    configs: dict[str, PromptConfig], results: dict[str, GenerationResult], config: PromptConfig,
) -> dict[str, GenerationResult] | None:
    """The eval answers :func:`compare_prompts` already made with ``config``, for ``evaluate_stage(known=...)`` (02).

    Notebook 02 compares the prompts on ``scored_rows(profile, "eval")``, the rows
    ``evaluate_stage`` scores (it refuses answers for a different number of rows). ``None`` when
    ``config`` is none of the compared prompts: an edited prompt must be generated afresh.
    """
    for name, cfg in configs.items():
        if cfg == config and name in results:
            return {"eval": results[name]}
    return None


def failures(rows: Sequence[dict[str, Any]], predictions: Sequence[str], view: str, n: int = 5) -> Any:
    """The ``n`` lowest-scoring rows side by side: input, reference, prediction, score (02)."""
    import pandas as pd

    scores = per_example(view, list(predictions), [r["output"] for r in rows])
    table = pd.DataFrame({
        "id": [r["id"] for r in rows],
        "input": [r["input"][:300] for r in rows],
        "reference": [r["output"] for r in rows],
        "prediction": list(predictions),
        "score": [round(float(s), 3) for s in scores],
    })
    return table.sort_values("score", kind="stable").head(n).reset_index(drop=True)


def compare_prompts(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], configs: dict[str, PromptConfig],
    profile: Profile, pool: Sequence[dict[str, Any]] = (),
) -> tuple[Any, dict[str, GenerationResult]]:
    """Score several prompt configurations on the same rows: a table and the raw results (02).

    A comparison is a choice, so golden rows are refused (:func:`helpers.evaluation.holdout.refuse_golden`).
    """
    import pandas as pd

    refuse_golden(list(rows), "comparing prompts")
    table, results = [], {}
    for name, cfg in configs.items():
        gen = predict(model, tokenizer, rows, cfg, profile, pool)
        results[name] = gen
        m = score(cfg.view, gen.texts, [r["output"] for r in rows])
        table.append({"prompt": name, primary_metric(cfg.view): m[primary_metric(cfg.view)],
                      **{k: v for k, v in m.items() if "." not in k and k != primary_metric(cfg.view)},
                      "s/request": round(gen.latency_s_per_request, 2)})
    return pd.DataFrame(table).set_index("prompt").round(3), results
