"""Selection on eval only (holdout), the experiment's paired comparison and the learning curve, on the tiny model."""

from __future__ import annotations

import json

import pytest

from fake_run import make_run
from helpers.core.errors import SettingsError
from helpers.data.loading import load_split
from helpers.evaluation.experiment import ArmResult, compare_arms, experiment_settings, paired_table, run_experiment
from helpers.evaluation.holdout import refuse_golden
from helpers.evaluation.learning_curve import CURVE_FILE, crossover_sentence, curve_point, curve_slices, learning_curve
from helpers.evaluation.scoring import compare_prompts
from helpers.prompting.prompts import finetune_config


def test_golden_rows_are_refused_by_id_and_by_text():
    golden = load_split("golden", limit=3)
    with pytest.raises(SettingsError, match="comparing prompts on golden rows .* choose on eval"):
        refuse_golden(load_split("eval", limit=5) + golden[:1], "comparing prompts")
    renamed = [{**golden[1], "id": "my-own-id", "input": "  " + golden[1]["input"].upper() + " "}]
    with pytest.raises(SettingsError, match="1 of 1"):
        refuse_golden(renamed, "picking a learning rate")  # same text, other id and case: still golden
    refuse_golden(load_split("eval") + load_split("train"), "comparing prompts")  # eval and train pass


def test_compare_prompts_refuses_golden(tiny_profile):
    rows = load_split("golden", limit=2)
    with pytest.raises(SettingsError, match="golden"):
        compare_prompts(None, None, rows, {"p": finetune_config()}, tiny_profile)


def test_prompt_workbench_refuses_golden_with_one_line(tiny_profile, capsys):
    """The workbench is for choosing a prompt: on golden rows its Run button prints the refusal, nothing runs."""
    pytest.importorskip("ipywidgets")
    from helpers.widgets.prompt_panel import prompt_workbench

    panel = prompt_workbench(None, None, tiny_profile, load_split("golden", limit=2), [], finetune_config())
    run = next(b for box in panel.children if hasattr(box, "children") for b in box.children
               if getattr(b, "description", "") == "Run on sample")
    run.click()  # model None: anything past the refusal would fail with another error
    out = capsys.readouterr().out
    assert "error: trying prompts in the workbench on golden rows (2 of 2" in out and "choose on eval" in out


def test_curve_slices_are_nested_and_seeded():
    rows = [{"id": str(i)} for i in range(30)]
    s = curve_slices(rows, (5, 10, 30, 99), seed=1)
    assert list(s) == [5, 10, 30]  # 99 > rows: dropped
    assert {r["id"] for r in s[5]} <= {r["id"] for r in s[10]} <= {r["id"] for r in s[30]}
    assert curve_slices(rows, (5,), seed=1)[5] == s[5] and curve_slices(rows, (5,), seed=2)[5] != s[5]
    with pytest.raises(SettingsError, match="curve_rows"):
        curve_slices(rows, (100,))


def _arm(name: str, right: int, rows, seed: int = 0) -> ArmResult:
    preds = [{"id": r["id"], "reference": r["output"],
              "prediction": r["output"] if i < right else json.dumps({"order_id": "x"})} for i, r in enumerate(rows)]
    return ArmResult(name, 10, 2, 1.0, {"field_accuracy": right / len(rows)}, "field_accuracy", None, preds, seed)


def test_compare_arms_and_curve_point_are_paired():
    rows = load_split("eval", limit=40)
    clean, noisy = _arm("clean", 30, rows), _arm("noisy", 10, rows)
    d = compare_arms(clean, noisy)
    assert d.diff < 0 and d.ci95[1] < 0 and d.n == 40
    table = paired_table([clean, noisy], "clean", "noisy")
    assert table.loc[0, "ci_high"] < 0 and table.loc[0, "rows"] == 40
    point = curve_point(clean, noisy.predictions)  # the "prompt" right on 10 rows, the adapter on 30
    assert point["diff"] > 0 and point["diff_ci95"][0] > 0 and point["ci95"][0] <= point["score"] <= point["ci95"][1]


def test_crossover_sentence_names_the_measured_result():
    curve = {"metric": "field_accuracy", "split": "eval", "prompt": 0.6, "steps": 40, "crossover_rows": None,
             "points": [{"rows": 25}, {"rows": 200}]}
    assert "no slice up to 200 rows beats the prompt" in crossover_sentence(curve)
    assert "from 75 training rows on" in crossover_sentence({**curve, "crossover_rows": 75})


@pytest.mark.slow
def test_learning_curve_and_experiment_end_to_end(tiny_profile, tiny_model_dir, runs_tmp):
    """Two arms and a two-point curve on the tiny model: files, reuse of the clean arm, summary keys."""
    from helpers.core.models import load_tokenizer
    from helpers.evaluation.summary import write_summary

    profile = tiny_profile.replace(curve_rows=(4, 8), experiment_steps=1, batch_size=1, max_seq_len=256)
    run = make_run(runs_tmp, "r1", n_rows=8)
    tok = load_tokenizer(profile.model)
    clean, noisy = load_split("train", limit=8), load_split("noisy_train", limit=16)
    eval_rows = load_split("eval", limit=4)
    budget = experiment_settings(profile)
    arms = run_experiment(profile, tok, {"clean": clean, "noisy": noisy}, eval_rows, run / "experiment", budget)
    assert [a.name for a in arms] == ["clean", "noisy"] and all(a.split == "eval" and a.steps == 1 for a in arms)
    assert (run / "experiment" / "clean" / "predictions_eval.jsonl").exists()
    assert not (run / "experiment" / "clean" / "predictions_golden.jsonl").exists()  # golden never read
    write_summary(run)  # as notebook 04 does, before 05 draws the curve
    assert "learning_curve" not in json.loads((run / "summary.json").read_text())
    curve = learning_curve(profile, tok, clean, eval_rows, run, budget, reuse=[arms[0]])
    assert [p["rows"] for p in curve["points"]] == [4, 8]
    assert not (run / "experiment" / "curve-8").exists() and (run / "experiment" / "curve-4").exists()  # 8 reused
    assert curve["split"] == "eval" and 0 <= curve["prompt"] <= 1 and curve["points"][0]["n"] == 4
    summary = json.loads((run / "summary.json").read_text())  # refreshed by learning_curve itself
    assert summary["learning_curve"] == json.loads((run / CURVE_FILE).read_text()) == curve
    with pytest.raises(SettingsError, match="golden"):
        run_experiment(profile, tok, {"bad": load_split("golden", limit=4)}, eval_rows, run / "x", budget)
