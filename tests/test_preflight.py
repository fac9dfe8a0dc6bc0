"""Unit tests for helpers.training.preflight, calibrated against the GPU measurements in benchmarks/results."""

from __future__ import annotations

import json
from pathlib import Path
import pytest

from helpers.core.config import get_profile
from helpers.training import preflight as pf
from helpers.training.settings import TrainSettings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def _shape(name: str) -> dict:
    data = json.loads((REPO / "benchmarks" / "configs" / f"{name}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _measured_runs() -> list[dict]:
    """The runs the memory model is calibrated on: the recipe family (packed, no upcast) and the plain
    baseline when it ran first in its process. The single-technique ablations on top of the baseline
    are not: their peak depends on the longest padded batch that 11 random steps happened to draw."""
    runs = []
    for path in sorted(RESULTS.glob("qlora_*.json")):
        for run in json.loads(path.read_text(encoding="utf-8"))["runs"]:
            if "peak_reserved_gib" not in run or "config" not in run:  # qlora_h200_trl_*: see below
                continue
            recipe = run["config"]["packing"] and not run["config"]["upcast"]
            clean_baseline = run["variant"] == "baseline" and run["leftover_before_build_gib"] < 0.1
            if recipe or clean_baseline:
                runs.append(run)
    return runs


def _trl_runs() -> list[dict]:
    """The runs through the course's trainer (TRL's SFTTrainer), each with its TrainSettings switches."""
    runs = []
    for path in sorted(RESULTS.glob("qlora_h200_trl_*.json")):
        runs += [r for r in json.loads(path.read_text(encoding="utf-8"))["runs"] if "peak_reserved_gib" in r]
    return runs


def _bench_settings(run: dict) -> TrainSettings:
    """The real TrainSettings object benchmarks/bench_qlora.py trained that row with."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_qlora

    return bench_qlora.settings_for(run["variant"], run["seq_len"], run["tokens_per_step_budget"], 11, "cuda")


def test_results_exist() -> None:
    assert len(_measured_runs()) >= 8
    assert {(r["shape"], r["variant"]) for r in _trl_runs()} >= {
        ("llama3-8b", "trl-docs+liger"), ("llama3-8b", "recipe-24gb"), ("qwen2.5-14b", "recipe-24gb")}


@pytest.mark.parametrize("run", _trl_runs(), ids=lambda r: f"trl-{r['shape']}-{r['variant']}")
def test_memory_estimate_for_the_trainers_settings_within_15_percent(run: dict) -> None:
    """The notebook's preflight (estimate_for_settings on a TrainSettings) against fresh-process peaks."""
    est = pf.estimate_for_settings(_shape(run["shape"]), _bench_settings(run), device="cuda")
    assert est.reserved == pytest.approx(run["peak_reserved_gib"], rel=0.15)


@pytest.mark.parametrize("run", _measured_runs(), ids=lambda r: f"{r['shape']}-{r['seq_len']}-{r['variant']}")
def test_memory_estimate_within_15_percent_of_measured_peak(run: dict) -> None:
    cfg = run["config"]
    batch = run["tokens_per_step_budget"] // run["seq_len"]
    est = pf.estimate_memory(
        _shape(run["shape"]), batch, run["seq_len"], checkpointing=cfg["checkpointing"],
        checkpoint_every=cfg.get("checkpoint_every", 1), fused_loss=cfg["fused_loss"], upcast=cfg["upcast"],
        optim=cfg["optim"], fixed_shapes=cfg["packing"], adapter_dtype=cfg.get("adapter_dtype", "float32"),
        lora_dropout=run.get("lora", {}).get("lora_dropout", 0.05),
    )
    # Earlier runs in the same process can leave memory allocated; it is recorded. Where it is
    # small the net figure is the peak; where it is large, the allocator may reuse part of it, so
    # the true peak lies between the net and the gross figure.
    net = run["peak_reserved_gib"] - run["leftover_before_build_gib"]
    if run["leftover_before_build_gib"] < 3:
        assert est.reserved == pytest.approx(net, rel=0.15)
    else:
        assert 0.85 * net <= est.reserved <= 1.15 * run["peak_reserved_gib"]


def test_lora_parameter_count_matches_peft() -> None:
    for run in _measured_runs():
        assert pf.ModelShape.from_config(_shape(run["shape"])).lora_params(16) == run["lora_params"]


def test_weights_estimate_matches_the_quantised_model() -> None:
    for run in _measured_runs():
        if run["config"]["upcast"]:
            continue
        est = pf.estimate_memory(_shape(run["shape"]), 1, 16)
        measured = run["model_weights_gib"] - run["leftover_before_build_gib"]
        assert est.weights == pytest.approx(measured, rel=0.03)


def test_checkpointing_and_fused_loss_save_memory() -> None:
    shape = _shape("llama3-8b")
    plain = pf.estimate_memory(shape, 2, 2048, fused_loss=False, checkpointing="off")
    ckpt = pf.estimate_memory(shape, 2, 2048, fused_loss=False)
    fused = pf.estimate_memory(shape, 2, 2048)
    assert plain.reserved > ckpt.reserved > fused.reserved
    assert fused.reserved <= 12  # the gpu-24gb recipe target for the 8B shape at 2 x 2048
    assert pf.estimate_memory(_shape("qwen2.5-14b"), 2, 2048).reserved <= 20


def test_cpu_lora_estimate_uses_fp32_weights() -> None:
    shape = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
             "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}
    est = pf.estimate_memory(shape, 8, 128, quantization="none", compute_bytes=4, fused_loss=False,
                             checkpointing="off", optim="adamw_torch")
    assert 0.4 < est.weights < 0.6  # 135M parameters x 4 bytes


def test_gpu_table_lists_the_common_cards_with_dated_prices() -> None:
    rows = pf.gpu_table(_shape("llama3-8b"), batch=2, seq_len=2048)
    names = [r["gpu"] for r in rows]
    assert any("3090" in n for n in names) and any("H200" in n for n in names) and len(rows) == 6
    by = {r["gpu"]: r for r in rows}
    assert by["RTX 3090"]["fits"] and by["RTX 3090"]["checkpointing_needed"]
    assert not by["H200 SXM 141GB"]["checkpointing_needed"]
    for gpu in pf.load_gpus():
        for price in gpu["prices"]:
            assert price["date"] and price["url"].startswith("https://")


def test_time_cost_scales_with_tokens_and_card() -> None:
    shape = _shape("llama3-8b")
    a = pf.estimate_time_cost(shape, 1e6, "a100-80gb")
    b = pf.estimate_time_cost(shape, 2e6, "a100-80gb")
    h = pf.estimate_time_cost(shape, 1e6, "h200", checkpointing=True)
    assert b["hours"] == pytest.approx(2 * a["hours"], rel=0.01)
    assert h["tokens_per_s"] > a["tokens_per_s"]
    runs = json.loads((RESULTS / "qlora_h200_trl_llama3-8b.json").read_text())["runs"]
    measured = next(r["tokens_per_s"] for r in runs if r["variant"] == "recipe-24gb")
    assert h["tokens_per_s"] == pytest.approx(measured, rel=0.15)  # the H200 estimate reproduces the run
    with pytest.raises(KeyError):
        pf.estimate_time_cost(shape, 1e6, "no-such-gpu")


def test_settings_helpers_for_notebook_03() -> None:
    s = TrainSettings.from_profile(get_profile("gpu-24gb"), batch_size=4, max_seq_len=1024)
    est = pf.estimate_for_settings(_shape("qwen2.5-14b"), s, mean_tokens=300)
    plan = pf.plan_time_cost(n_rows=1000, mean_tokens=300, batch_size=16, tokens_per_s=2500, price_per_hour=0.4)
    assert plan["steps"] == 63 and plan["minutes"] > 0
    fit = pf.fits(est, "cuda", memory_gib=24)
    assert fit["fits"] is True and "GiB" in fit["message"]
    assert pf.fits(est, "cuda", memory_gib=8)["fits"] is False
    no_ckpt = pf.estimate_for_settings(_shape("qwen2.5-14b"), s.replace(gradient_checkpointing=False))
    assert no_ckpt.reserved > est.reserved
    html = pf.report_html(est, plan, fit, pf.gpu_table(_shape("qwen2.5-14b"), s))
    assert "<table>" in html and "RTX 4090" in html


def test_fewer_lora_targets_give_fewer_parameters_in_the_estimate() -> None:
    """The preflight reads the training settings' own preset table ("q,v" was once estimated as all-linear)."""
    shape = pf.ModelShape.from_config(_shape("llama3-8b"))
    counts = {p: shape.lora_params(16, p) for p in ("q,v", "attention", "all-linear")}
    assert counts["q,v"] < counts["attention"] < counts["all-linear"]
    with pytest.raises(ValueError, match="lora_targets"):
        shape.lora_params(16, "qv")


def test_bf16_adapters_and_no_dropout_lower_the_estimate() -> None:
    shape = _shape("llama3-8b")
    fp32 = pf.estimate_memory(shape, 2, 2048, checkpointing="off")
    bf16 = pf.estimate_memory(shape, 2, 2048, checkpointing="off", adapter_dtype="bfloat16")
    both = pf.estimate_memory(shape, 2, 2048, checkpointing="off", adapter_dtype="bfloat16", lora_dropout=0.0)
    assert fp32.activations > bf16.activations > both.activations
    assert bf16.lora_and_optimizer < fp32.lora_and_optimizer
    s = TrainSettings.from_profile(get_profile("gpu-80gb"), batch_size=2, max_seq_len=2048, lora_dropout=0.0,
                                   gradient_checkpointing=False)
    assert pf.estimate_for_settings(shape, s).reserved == both.reserved


# --------------------------------------------------------------------------- which GPU profile fits a card
from helpers.core.config import PROFILES  # noqa: E402
from helpers.training import card_fit  # noqa: E402

CARDS_GIB = {"RTX 3090": 23.6, "A100 40GB": 39.4, "A100 80GB": 79.1, "H200": 139.8}  # total_memory torch reports


def test_known_shapes_match_the_benchmark_configs() -> None:
    """The shapes the profile choice uses are the ones the GPU runs measured (benchmarks/configs)."""
    for key, name in (("qwen2.5-14b-instruct", "qwen2.5-14b"), ("qwen2.5-7b-instruct", "qwen2.5-7b")):
        bench = _shape(name)
        assert {k: bench[k] for k in pf.KNOWN_SHAPES[key]} == pf.KNOWN_SHAPES[key]


def test_an_a100_40gb_never_gets_a_setting_estimated_over_38_gib() -> None:
    name = card_fit.pick_profile_name(CARDS_GIB["A100 40GB"])
    assert name == "gpu-40gb"
    est = card_fit.profile_estimate(PROFILES[name])
    assert est.reserved <= 38 and est.reserved <= card_fit.memory_budget_gib(CARDS_GIB["A100 40GB"])
    # the profile the issue found: gpu-80gb's own estimate does not fit that card
    assert card_fit.profile_estimate(PROFILES["gpu-80gb"]).reserved > CARDS_GIB["A100 40GB"]


@pytest.mark.parametrize("card,expected", [("RTX 3090", "gpu-24gb"), ("A100 40GB", "gpu-40gb"),
                                           ("A100 80GB", "gpu-80gb"), ("H200", "gpu-80gb")])
def test_each_card_gets_the_biggest_profile_that_fits(card, expected) -> None:
    gib = CARDS_GIB[card]
    assert card_fit.pick_profile_name(gib) == expected
    budget = card_fit.memory_budget_gib(gib)
    for name, profile in PROFILES.items():
        est = card_fit.profile_estimate(profile)
        if est is None:
            continue
        if est.reserved > card_fit.profile_estimate(PROFILES[expected]).reserved:
            assert est.reserved > budget, (card, name)  # a bigger one would not have fit


def test_the_choice_follows_the_estimate_not_a_threshold() -> None:
    """Turning checkpointing on for the 80 GB profile shrinks its estimate (~13 GiB), and then even a 24 GB card
    may take it, while a 40 GB card keeps the profile with the bigger estimate that fits."""
    ckpt = dict(PROFILES, **{"gpu-80gb": PROFILES["gpu-80gb"].replace(gradient_checkpointing=True)})
    assert card_fit.profile_estimate(ckpt["gpu-80gb"]).reserved < card_fit.memory_budget_gib(23.6)
    assert card_fit.pick_profile_name(23.6, ckpt) == "gpu-80gb"
    assert card_fit.pick_profile_name(39.4, ckpt) == "gpu-40gb"
    assert card_fit.pick_profile_name(7.6) == "cpu"  # nothing fits an 8 GB card


def test_gpu_profiles_fit_their_cards_with_headroom_and_show_ten_eval_points() -> None:
    from helpers.core.models import load_tokenizer
    from helpers.data.loading import load_split
    from helpers.training.dataset import encode_example

    tok = load_tokenizer("smollm2-135m")  # Qwen's tokenizer is not offline; SmolLM2's counts tokens alike
    tokens = sum(len(encode_example(tok, r)["input_ids"]) for r in load_split("train"))
    for name, card in (("gpu-24gb", "RTX 3090"), ("gpu-40gb", "A100 40GB"), ("gpu-80gb", "A100 80GB")):
        p = PROFILES[name]
        est = card_fit.profile_estimate(p)
        assert est.reserved <= card_fit.memory_budget_gib(CARDS_GIB[card]), name
        steps = card_fit.epoch_steps(tokens, p.batch_size, p.max_seq_len, p.grad_accum)
        assert steps // p.eval_steps >= 10, (name, steps, p.eval_steps)
        assert p.save_steps < steps  # at least one checkpoint inside an epoch, for resume


def test_profile_speeds_are_the_preflight_estimates_for_their_cheapest_card() -> None:
    """train_tokens_per_s (notebook 01's cost estimate) comes from the measured MFU, not a guess."""
    for name, card in (("gpu-24gb", "rtx3090"), ("gpu-40gb", "a100-40gb"), ("gpu-80gb", "a100-80gb")):
        p = PROFILES[name]
        tc = pf.estimate_time_cost(pf.KNOWN_SHAPES[p.model], 1e6, card, checkpointing=p.gradient_checkpointing)
        assert p.train_tokens_per_s == pytest.approx(tc["tokens_per_s"], rel=0.05), name


def test_epoch_steps_counts_packed_rows() -> None:
    assert card_fit.epoch_steps(104_965, 4, 1024) == 26  # 103 packed rows of 1024 tokens, 4 a step
    assert card_fit.epoch_steps(104_965, 2, 1024, grad_accum=2) == 26
    assert card_fit.epoch_steps(10, 4, 1024) == 1


def test_a_local_model_folder_is_estimated_from_its_config(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_shape("qwen2.5-14b")))
    assert card_fit.shape_for_model(str(tmp_path))["hidden_size"] == 5120
    assert card_fit.shape_for_model("no-such-model") is None
    assert card_fit.profile_estimate(PROFILES["gpu-40gb"].replace(model="no-such-model")) is None
