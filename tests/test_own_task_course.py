"""Bring your own task, end to end: a CSV becomes a task folder, and every notebook runs on it (ci profile).

The CSV is written from the bundled messages' classification view (text and category only,
under other column names), so nothing of the support task's folder - its schema, prompt rules,
raw or noisy files, production sample - is there to lean on. About 6 minutes on 2 CPU cores.
"""

from __future__ import annotations

import csv
import hashlib
import json

from helpers.core.paths import data_dir
from helpers.core.runs import read_json, read_jsonl
from helpers.course import run_course
from helpers.data.task_folder import init_task


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_ci_notebook_runs_on_a_task_built_from_a_csv(tmp_path, monkeypatch):
    source = tmp_path / "tickets.csv"
    rows = [json.loads(line) for line in (data_dir() / "support" / "train.jsonl").read_text().splitlines()[:150]]
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["message", "category"])
        writer.writerows([r["input"], r["meta"]["category"]] for r in rows)
    folder = tmp_path / "tickets"
    spec = init_task(source, folder, "classification", input_column="message", output_column="category",
                     golden=20, eval_n=20)
    before = {p.name: _sha(p) for p in [source, *folder.iterdir()]}
    for var, value in (("COURSE_RUNS", str(tmp_path / "runs")), ("COURSE_PROFILE", "ci"), ("COURSE_TASK", "support"),
                       ("COURSE_RUN_ID", "unused")):
        monkeypatch.setenv(var, value)  # run_course sets these; monkeypatch puts the old values back afterwards
    monkeypatch.delenv("COURSE_RUN_ID")

    run = run_course("ci", out=tmp_path / "executed", task=folder)  # raises if any cell of any notebook fails

    info, summary = read_json(run / "run.json"), read_json(run / "summary.json")
    assert info["task"] == summary["task"] == spec["name"] == "tickets" and info["task_dir"] == str(folder)
    assert summary["primary_metric"] == "macro_f1" and set(summary["seconds"]) == {
        p.name for p in (tmp_path / "executed").iterdir()} and len(summary["seconds"]) == 7
    golden_ids = {r["id"] for r in read_jsonl(folder / "golden.jsonl")}
    for stage in ("baseline", "adapter"):
        metrics = read_json(run / stage / "metrics.json")
        assert metrics["view"] == "classification" and metrics["n_golden"] == 4
        assert "production_sample" not in metrics  # the task ships none: scored on eval and golden only
        predicted = read_jsonl(run / stage / "predictions_golden.jsonl")
        assert {p["id"] for p in predicted} <= golden_ids
        assert {p["reference"] for p in predicted} <= set(spec["labels"])
    baseline_prompt = read_json(run / "baseline" / "prompt.json")
    assert "online store" not in baseline_prompt["instructions"]  # nothing of the bundled task's wording
    assert read_json(run / "adapter" / "prompt.json")["view"] == "classification"
    assert set(summary["decision"]) >= {"baseline", "finetuned", "diff", "ci95", "verdict"}
    assert summary["learning_curve"]["metric"] == "macro_f1"
    assert (run / "export" / "export_check.json").exists()
    noisy = read_jsonl(run / "experiment" / "noisy" / "predictions_eval.jsonl")
    assert {p["id"] for p in noisy} <= {r["id"] for r in read_jsonl(folder / "eval.jsonl")}
    assert before == {p.name: _sha(p) for p in [source, *folder.iterdir()]}  # the learner's files are only read
