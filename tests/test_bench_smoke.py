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
    bench = _load("bench_qlora")
    out = tmp_path / "smoke.json"
    assert bench.main(["--smoke", "--out", str(out), "--plan", "tiny:64:baseline,recipe"]) == 0
    result = json.loads(out.read_text())
    runs = {r["variant"]: r for r in result["runs"]}
    assert set(runs) == {"baseline", "recipe"}
    for run in runs.values():
        assert run["tokens_per_s"] > 0 and run["steps_measured"] == 2 and run["lora_params"] > 0
    assert runs["recipe"]["padding_frac"] < runs["baseline"]["padding_frac"]
    assert result["versions"]["transformers"] and result["flops_convention"]


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


def test_bench_quality_smoke(tmp_path: Path) -> None:
    bench = _load("bench_quality")
    out = tmp_path / "quality.json"
    assert bench.main(["--rows", "60", "--no-embeddings", "--out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["scenario"] for r in results] == ["train file only", "with --eval and --production"]
    assert all(r["rows"] == 60 and r["cold_s"] >= 0 for r in results)
    assert "distribution_shift" in results[1]["findings"] or results[1]["stages_s"].get("distribution_shift") is not None
