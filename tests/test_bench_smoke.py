"""The GPU benchmarks run end to end on a CPU with a tiny model, so they cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]


def _load(name: str) -> object:
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_bench_qlora_smoke(tmp_path: Path) -> None:
    """The benchmark trains through the course's make_trainer (TRL's SFTTrainer), one row per variant."""
    bench = _load("bench_qlora")
    out = tmp_path / "smoke.json"
    assert bench.main(["--smoke", "--out", str(out), "--plan", "tiny:64:trl-docs+liger,recipe-24gb"]) == 0
    result = json.loads(out.read_text())
    runs = {r["variant"]: r for r in result["runs"]}
    assert set(runs) == {"trl-docs+liger", "recipe-24gb"}
    for run in runs.values():
        assert run["tokens_per_s"] > 0 and run["steps_measured"] == 2 and run["lora_params"] > 0
        assert run["sft_config"]["completion_only_loss"] and run["sft_config"]["packing"]
    assert runs["trl-docs+liger"]["x_trl_docs_liger"] == 1.0
    assert runs["recipe-24gb"]["settings"]["fixed_shape_rows"] and not runs["trl-docs+liger"]["settings"]["fixed_shape_rows"]
    assert result["trainer"].startswith("helpers.training.trainer.make_trainer")
    assert result["versions"]["trl"] and result["flops_convention"]


def test_length_distribution_is_long_tailed() -> None:
    bench = _load("bench_qlora")
    lengths = sorted(len(e["input_ids"]) for e in bench.draw_examples(400, 2048, 1000, seed=0))
    median, p95 = lengths[200], lengths[380]
    assert 450 < median < 800 and p95 > 1.8 * median and max(lengths) <= 2048


def test_bench_generation_smoke(tmp_path: Path) -> None:
    gen = _load("bench_generation_gpu")
    out = tmp_path / "gen.json"
    assert gen.main(["--shape", "tiny", "--prompts", "4", "--single", "2", "--batch-sizes", "4",
                     "--prompt-len", "32", "--new-tokens", "4", "--out", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert runs[0]["batch_size"] == 1 and runs[0]["tokens"] == 8
    assert runs[1]["tokens"] == 16


FORMAT_NOISE = {"code_fence", "key_order", "key_case", "pretty", "batch_format_drift"}  # data/support/noisy_stats.json


def test_bench_quality_smoke(tmp_path: Path) -> None:
    bench = _load("bench_quality")
    out = tmp_path / "quality.json"
    assert bench.main(["--rows", "60", "--no-embeddings", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_quality" and result["source"] == "noisy_train.jsonl"
    results = result["results"]
    assert [r["scenario"] for r in results] == ["train file only", "with --eval and --production"]
    # the 60 rows are the first 60 of the noisy file; its generator recorded what it planted in each
    source = [json.loads(line) for line in (REPO / "data" / "support" / "noisy_train.jsonl").open(encoding="utf-8")][:60]
    planted_format = sum(1 for r in source if FORMAT_NOISE & set(r["meta"].get("noise", [])))
    assert planted_format > 0
    # label noise (a wrong value in a well-formed answer) is invisible to the checks; format noise is
    # inconsistent_format, row for row; with a production sample the drift check runs and reports.
    assert results[0]["findings"] == {"inconsistent_format": planted_format}
    assert results[1]["findings"] == {"inconsistent_format": planted_format, "distribution_shift": 0}
    # the drift stage runs only when a production sample is given
    assert "distribution_shift" not in results[0]["stages_s"] and "distribution_shift" in results[1]["stages_s"]
    assert set(results[1]["stages_s"]) - set(results[0]["stages_s"]) == {"distribution_shift"}
    for r in results:
        assert r["rows"] == 60 and r["notices"] == []  # --no-embeddings: no embedding notice
        assert all(v >= 0 for v in r["stages_s"].values()) and sum(r["stages_s"].values()) > 0
        assert r["warm_s"] >= 0
        # the cold figure is the whole run_checks call, so it holds every stage (cold_s is rounded to 0.1 s)
        assert r["cold_s"] + 0.06 >= sum(r["stages_s"].values())
        assert r["stages_s"]["too_long"] > 0  # tokenises all 60 rows: never 0 ms
