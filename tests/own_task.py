"""Bring your own task, shared by the tests that run the course on one: a CSV becomes a task folder.

The CSV is written from the bundled messages' classification view (text and category only,
under other column names), so nothing of the support task's folder - its schema, prompt rules,
raw or noisy files, production sample - is there to lean on. ``tests/browser`` runs every
notebook on it in JupyterLab (``make browser``); ``check_run`` is what that run must show.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from helpers.core.paths import data_dir
from helpers.core.runs import read_json, read_jsonl
from helpers.data.task_folder import init_task


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_csv_task(base: Path) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """``base/tickets.csv`` (150 bundled messages) through ``task init``: the folder, its spec, file hashes."""
    source = base / "tickets.csv"
    rows = [json.loads(line) for line in (data_dir() / "support" / "train.jsonl").read_text().splitlines()[:150]]
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["message", "category"])
        writer.writerows([r["input"], r["meta"]["category"]] for r in rows)
    folder = base / "tickets"
    spec = init_task(source, folder, "classification", input_column="message", output_column="category",
                     golden=20, eval_n=20)
    return folder, spec, hashes(source, folder)


def hashes(source: Path, folder: Path) -> dict[str, str]:
    """SHA-256 of the learner's CSV and of every file of the task folder."""
    return {p.name: _sha(p) for p in [source, *folder.iterdir()]}


def check_run(run: Path, folder: Path, spec: dict[str, Any]) -> None:
    """Everything a ci-profile course on the CSV task must leave in its run folder."""
    info, summary = read_json(run / "run.json"), read_json(run / "summary.json")
    assert info["task"] == summary["task"] == spec["name"] == "tickets" and info["task_dir"] == str(folder)
    assert summary["primary_metric"] == "macro_f1"
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
