"""evaluate_stage: the shared scoring path of notebooks 02 and 03 (no model needed)."""

from __future__ import annotations

import json

import pytest

from helpers.core.config import get_profile
from helpers.prompting.generation import GenerationResult
from helpers.prompting.prompts import finetune_config
from helpers.evaluation.scoring import evaluate_stage, scored_rows


def _answers(rows: list[dict], wrong: bool = False) -> GenerationResult:
    texts = ["not json" if wrong else r["output"] for r in rows]
    return GenerationResult(texts=texts, new_tokens=[5] * len(rows), seconds=1.0, latencies=[0.25] * len(rows))


def test_known_answers_are_scored_not_generated(tmp_path) -> None:
    profile = get_profile("ci")
    calls: list[int] = []

    def predict_fn(rows: list[dict]) -> GenerationResult:
        calls.append(len(rows))
        return _answers(rows, wrong=True)

    known = {"eval": _answers(scored_rows(profile, "eval"))}
    record = evaluate_stage(None, None, profile, tmp_path, finetune_config(), predict_fn=predict_fn, known=known)
    # only golden and the production sample were generated
    assert calls == [len(scored_rows(profile, "golden")), len(scored_rows(profile, "production_sample"))]
    assert record["eval"]["field_accuracy"] == 1.0  # the known (perfect) answers were scored
    assert record["golden"]["field_accuracy"] == 0.0
    saved = [json.loads(line) for line in (tmp_path / "predictions_eval.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in saved] == known["eval"].texts


def test_known_answers_for_other_rows_are_refused(tmp_path) -> None:
    profile = get_profile("ci")
    short = {"eval": _answers(scored_rows(profile, "eval")[:1])}
    with pytest.raises(ValueError, match="cover 1 rows"):
        evaluate_stage(None, None, profile, tmp_path, finetune_config(), predict_fn=_answers, known=short)
    assert not (tmp_path / "metrics.json").exists()


def test_ladder_answers_only_for_a_compared_prompt() -> None:
    from dataclasses import replace

    from helpers.evaluation.scoring import ladder_answers

    cfg = finetune_config()
    gen = _answers(scored_rows(get_profile("ci"), "eval"))
    assert ladder_answers({"a": cfg}, {"a": gen}, cfg) == {"eval": gen}
    edited = replace(cfg, instructions=cfg.instructions + " Be brief.")
    assert ladder_answers({"a": cfg}, {"a": gen}, edited) is None
    assert ladder_answers({"a": cfg}, {}, cfg) is None  # compared but not generated
