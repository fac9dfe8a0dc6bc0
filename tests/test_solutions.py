"""The exercise solutions in guide/solutions/ run against the current helpers API.

Every ```python block of every solution file is executed, in order, in one namespace per file.
That namespace holds what the notebook had defined when the learner reaches the exercises
(``profile``, ``model``, ``tokenizer``, ``run`` ...), built cheaply: the tiny random model from
``conftest.py`` stands in for SmolLM2, and ``tests/fake_run.py`` fabricates a finished run for
notebook 04. So these tests prove that each solution's code runs and returns what its prose
says it returns (shapes, keys, orderings); they do not reproduce the real model's numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "guide" / "solutions"
NOTEBOOK_NAMES = ["00_setup", "01_data_quality", "02_prompting_baseline", "03_qlora_training",
                  "04_evaluation", "05_clean_vs_noisy", "06_ship_it"]
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    """The ```python fenced blocks of a Markdown file, in order."""
    return [m.group(1) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


def run_blocks(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute every python block of guide/solutions/<name>.md in ``namespace``; returns it."""
    path = SOLUTIONS / f"{name}.md"
    blocks = python_blocks(path)
    assert blocks, f"{path} has no python block to test"
    namespace.setdefault("__name__", f"solution_{name}")
    for i, code in enumerate(blocks, 1):
        exec(compile(code, f"{path}:block{i}", "exec"), namespace)  # noqa: S102 - our own files
    return namespace


def test_every_notebook_has_a_solution_file_with_code():
    for name in NOTEBOOK_NAMES:
        path = SOLUTIONS / f"{name}.md"
        assert path.exists(), f"missing {path}"
        assert python_blocks(path), f"{path} has no ```python block, so nothing of it is tested"
        text = path.read_text(encoding="utf-8")
        for n in (1, 2, 3):  # "**1. Easy" or "## 1 · Warm-up"
            assert re.search(rf"(\*\*|#+ ){n}\s*[.·]", text), f"{path} should answer exercise {n}"


def test_00_setup_counts_template_tokens(capsys):
    ns = run_blocks("00_setup", {})
    assert isinstance(ns["ids"], list) and all(isinstance(i, int) for i in ns["ids"])
    assert ns["chat"] > ns["bare"] > 0
    out = capsys.readouterr().out
    assert "<|im_start|>" in out  # the decoded template shows the chat markers


def test_01_data_quality_hallucinated_order_id_check():
    from helpers.data.loading import load_rows, split_path

    ns = run_blocks("01_data_quality", {})
    check = ns["check_answer_not_in_input"]
    assert check(load_rows(split_path("train")).rows) is None, "the prose says train.jsonl has no hallucinated id"
    rows = [
        {"line": 1, "input": "Hi, order 79302 is late.", "output": '{"order_id": "ORD-79302"}'},
        {"line": 2, "input": "My parcel #21524 never came", "output": '{"order_id": "ORD-21524"}'},
        {"line": 3, "input": "Where is my parcel?", "output": '{"order_id": "ORD-55555"}'},
        {"line": 4, "input": "Question about a lamp", "output": '{"order_id": null}'},
    ]
    finding = check(rows)
    assert finding.check == "answer_not_in_input" and finding.rows == [3]


def test_01_data_quality_script_functions():
    """The runnable companion guide/solutions/01_data_quality.py (exercises 1 and 3)."""
    import runpy

    from helpers.core.config import load_profile
    from helpers.data.loading import load_rows, split_path
    from helpers.data.quality import run_checks

    mod = runpy.run_path(str(SOLUTIONS / "01_data_quality.py"), run_name="solution_01")
    report = run_checks(split_path("raw_train"), use_embeddings=False, profile=load_profile("ci", check_hardware=False))
    biggest = mod["exercise_1"](report)
    assert re.match(r"^\w+: \d+ rows$", biggest)
    assert mod["check_answer_not_in_input"](load_rows(split_path("train")).rows) is None


@pytest.mark.slow
def test_01_data_quality_script_exercise_2():
    import runpy

    from helpers.core.config import load_profile
    from helpers.data.loading import split_path

    mod = runpy.run_path(str(SOLUTIONS / "01_data_quality.py"), run_name="solution_01")
    out = mod["exercise_2"](split_path("raw_train"), load_profile("ci", check_hardware=False))
    assert set(out) == {"found only with embeddings", "near_duplicate rows at 0.9", "conflicting_label rows at 0.9"}


@pytest.mark.slow
def test_02_prompting_classification_view(tiny_profile):
    from helpers.data.loading import load_split
    from helpers.core.models import load_causal_lm, load_tokenizer

    ns = {"profile": tiny_profile, "tokenizer": load_tokenizer(tiny_profile.model),
          "model": load_causal_lm(tiny_profile), "pool": load_split("train", limit=40)}
    ns = run_blocks("02_prompting_baseline", ns)
    labels = set(ns["per_label"])
    assert labels and labels <= {r["output"] for r in ns["rows"]}
    assert list(ns["table"].columns)[0] == "macro_f1"
    assert all(len(r["output"].split()) == 1 for r in ns["cls_pool"]), "the pool must hold labels, not JSON"


@pytest.mark.slow
def test_03_lora_targets_and_scale(tiny_profile):
    ns = run_blocks("03_qlora_training", {"profile": tiny_profile})
    counts = ns["counts"]
    assert counts["q,v"]["trainable"] < counts["attention"]["trainable"] < counts["all-linear"]["trainable"]
    from peft import get_peft_model

    from helpers.core.models import load_causal_lm
    from helpers.training.settings import TrainSettings

    scale = ns["lora_scale"]
    for r, alpha, want in [(16, 32, 2.0), (32, 32, 1.0), (32, 64, 2.0)]:
        lora = TrainSettings.from_profile(tiny_profile, lora_r=r, lora_alpha=alpha).lora_config()
        assert scale(get_peft_model(load_causal_lm(tiny_profile), lora)) == pytest.approx(want)


def test_04_evaluation_on_a_fabricated_run(runs_tmp, tiny_profile):
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from fake_run import make_run

    from helpers.evaluation import compare, review

    run = make_run(runs_tmp, baseline=0.4, adapter=0.8)
    worst = review.worst_examples(run, "golden", n=4)
    for ex in worst:  # a rating the metric disagrees with, and one it agrees with
        review.record_rating(run, ex["id"], "same" if ex["adapter_score"] != ex["baseline_score"] else "better")
    ns = run_blocks("04_evaluation", {"compare": compare, "review": review, "run": run, "profile": tiny_profile})
    assert set(ns["table"]) == {"2 + instructions", "4 + guideline rules", "5 + 2 similar examples"}
    for metrics in ns["table"].values():
        assert {"rouge1", "rouge2", "rougeL", "semantic_similarity"} <= set(metrics)
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert all(s[1] < 0.3 and s[2] > 0.6 for s in ns["suspects"])
    assert ns["s"]["disagreements"], "the ratings above disagree with the metric at least once"
    ok, reasons = ns["strict_gate"](run)
    assert isinstance(ok, bool) and all(isinstance(r, str) for r in reasons)
    # make the adapter invent an order id on one golden row whose reference has none
    import json

    from helpers.core.runs import read_jsonl, write_jsonl

    path = run / "adapter" / "predictions_golden.jsonl"
    rows = read_jsonl(path)
    target = next(r for r in rows if json.loads(r["reference"])["order_id"] is None)
    target["prediction"] = json.dumps({**json.loads(target["reference"]), "order_id": "ORD-12345"})
    write_jsonl(path, rows)
    assert ns["invented_order_ids"](run) == [target["id"]]
    ok, reasons = ns["strict_gate"](run)
    assert not ok and any("invented an order id on 1 golden row" in r for r in reasons)


@pytest.mark.slow
def test_05_third_arm_noisy_then_cleaned(tiny_profile, tmp_path):
    from helpers.data.loading import load_split
    from helpers.evaluation.experiment import experiment_settings
    from helpers.core.models import load_tokenizer

    profile = tiny_profile.replace(experiment_noisy_rows=24, experiment_steps=2, golden_rows=2, max_new_tokens=4)
    ns = {"profile": profile, "tokenizer": load_tokenizer(profile.model),
          "noisy": load_split("noisy_train", limit=profile.experiment_noisy_rows),
          "eval_rows": load_split("eval", limit=4), "run": tmp_path, "budget": experiment_settings(profile),
          "arms": []}
    ns = run_blocks("05_clean_vs_noisy", ns)
    assert len(ns["cleaned"]) <= len(ns["noisy"])
    assert [a.name for a in ns["arms"]] == ["noisy, cleaned"]
    assert ns["arms"][0].steps == 2
    assert (tmp_path / "experiment" / "cleaned" / "metrics.json").exists()
