"""helpers.training.budget (notebook 03's preflight) on the real profiles, settings, tokenizer and data.

No stand-in objects: the profiles come from :func:`helpers.core.config.get_profile`, the settings
from ``TrainSettings.from_profile`` (the object training itself reads), the tokenizer is the
offline SmolLM2 one and the rows are the course's training split. The ``gpu-24gb`` profile's
model (Qwen2.5-7B-Instruct) is not on this machine, so its published ``config.json`` numbers
are written to a folder and the real profile is pointed at it, as ``tests/conftest.py`` does
for the tiny model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers.core.config import get_profile
from helpers.training.budget import mean_tokens, model_shape, preflight_report

try:  # the settings class moved from train.py to settings.py during the training rewrite
    from helpers.training.settings import TrainSettings
except ModuleNotFoundError:  # pragma: no cover - the older layout
    from helpers.training.train import TrainSettings  # type: ignore[no-redef]

TARGETS = ("q,v", "attention", "all-linear")
# Qwen/Qwen2.5-7B-Instruct config.json (the fields the preflight reads)
QWEN_7B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
           "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False,
           "max_position_embeddings": 32768}


@pytest.fixture(scope="module")
def ci():
    return get_profile("ci")


@pytest.fixture(scope="module")
def gpu24(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("qwen2.5-7b-config")
    (folder / "config.json").write_text(json.dumps(QWEN_7B), encoding="utf-8")
    profile = get_profile("gpu-24gb")
    assert profile.model == "qwen2.5-7b-instruct", "the profile's model changed: update QWEN_7B"
    return profile.replace(model=str(folder))


@pytest.fixture(scope="module")
def tokenizer():
    from helpers.core.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="module")
def train_rows():
    from helpers.data.loading import load_split

    rows = load_split("train", limit=20)
    assert len(rows) == 20
    return rows


def _reference_lora_params(config: dict, r: int, modules: tuple[str, ...]) -> int:
    """LoRA adds A (r x in) and B (out x r) to each targeted linear of every decoder layer."""
    d, f = config["hidden_size"], config["intermediate_size"]
    h = config.get("head_dim") or d // config["num_attention_heads"]
    q, kv = config["num_attention_heads"] * h, config["num_key_value_heads"] * h
    shapes = {"q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d),
              "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}
    return config["num_hidden_layers"] * sum(r * (shapes[m][0] + shapes[m][1]) for m in modules)


# ---------------------------------------------------------------------------------------------
# model_shape
# ---------------------------------------------------------------------------------------------


def test_model_shape_reads_the_profiles_model(ci, gpu24) -> None:
    shape = model_shape(ci)  # SmolLM2-135M, converted offline from the packaged GGUF
    assert (shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]) == (576, 1536, 30)
    assert (shape["num_attention_heads"], shape["num_key_value_heads"], shape["vocab_size"]) == (9, 3, 49152)
    assert model_shape(gpu24) == QWEN_7B


# ---------------------------------------------------------------------------------------------
# LoRA targets: the preflight must count the adapter training will build
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile_name", ["ci", "gpu24"])
def test_fewer_lora_targets_need_less_adapter_memory(profile_name, request) -> None:
    profile = request.getfixturevalue(profile_name)
    s = TrainSettings.from_profile(profile)
    lora = {t: preflight_report(profile, s.replace(lora_targets=t), 640)["estimate"].lora_and_optimizer
            for t in TARGETS}
    assert lora["q,v"] < lora["attention"] < lora["all-linear"], lora


@pytest.mark.parametrize("targets", TARGETS)
def test_lora_parameter_count_matches_the_targets_training_uses(ci, gpu24, targets) -> None:
    """The preflight's count equals A+B of exactly the modules the settings give peft."""
    from helpers.training import preflight

    for profile in (ci, gpu24):
        s = TrainSettings.from_profile(profile, lora_targets=targets)
        value = s.lora_config().target_modules  # what peft will be told
        modules = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj") \
            if value == "all-linear" else tuple(sorted(value))
        config = model_shape(profile)
        counted = preflight.ModelShape.from_config(config).lora_params(s.lora_r, s.lora_targets)
        assert counted == _reference_lora_params(config, s.lora_r, modules), (profile.name, targets)


def test_lora_parameter_count_matches_peft(ci) -> None:
    """Against the reference implementation: peft's trainable parameters on SmolLM2's layer shapes."""
    torch = pytest.importorskip("torch")
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from helpers.core.models import local_model_path
    from helpers.training import preflight

    config = model_shape(ci)
    hf_config = AutoConfig.from_pretrained(str(local_model_path(ci.model)))
    hf_config.num_hidden_layers = 2  # the count is per layer: two layers keep this fast
    hf_config.vocab_size = 256
    small = {**config, "num_hidden_layers": 2, "vocab_size": 256}
    torch.manual_seed(0)
    for targets in TARGETS:
        s = TrainSettings.from_profile(ci, lora_targets=targets)
        model = AutoModelForCausalLM.from_config(hf_config)
        peft_model = get_peft_model(model, s.lora_config())
        trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        assert preflight.ModelShape.from_config(small).lora_params(s.lora_r, s.lora_targets) == trainable, targets


# ---------------------------------------------------------------------------------------------
# Memory grows with the micro-batch; checkpointing trades it away
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile_name", ["ci", "gpu24"])
def test_larger_batch_and_longer_rows_need_more_memory(profile_name, request) -> None:
    profile = request.getfixturevalue(profile_name)
    s = TrainSettings.from_profile(profile)
    base = preflight_report(profile, s, 640)["estimate"]
    bigger = preflight_report(profile, s.replace(batch_size=s.batch_size * 4), 640)["estimate"]
    longer = preflight_report(profile, s.replace(max_seq_len=s.max_seq_len * 2), 640)["estimate"]
    for est in (bigger, longer):
        assert est.activations > base.activations and est.reserved > base.reserved
        assert est.weights == base.weights and est.lora_and_optimizer == base.lora_and_optimizer
    assert bigger.tokens_per_micro_batch == 4 * base.tokens_per_micro_batch == 4 * s.batch_size * s.max_seq_len


def test_gradient_checkpointing_needs_less_memory(gpu24) -> None:
    s = TrainSettings.from_profile(gpu24)
    assert s.gradient_checkpointing, "the gpu-24gb profile trains with checkpointing"
    on = preflight_report(gpu24, s, 640)["estimate"]
    off = preflight_report(gpu24, s.replace(gradient_checkpointing=False), 640)["estimate"]
    assert on.activations < off.activations and on.reserved < off.reserved
    assert (on.checkpointing, off.checkpointing) == ("non-reentrant", "off")


def test_the_24gb_profile_fits_a_24gb_card(gpu24) -> None:
    """The profile is named for the card: its own settings must fit one by its own estimate."""
    report = preflight_report(gpu24, TrainSettings.from_profile(gpu24), 640)
    est = report["estimate"]
    assert 4.0 < est.weights < 8.0, "a 7.6B model in NF4 (+ bf16 embeddings and head) is ~5-6 GiB"
    rows = {r["gpu"]: r for r in report["gpu_table"]}
    for card in ("RTX 3090", "RTX 4090"):
        assert rows[card]["memory_gib"] == 24 and rows[card]["fits"], rows[card]
    # far beyond a 24 GB card: batch 32 x 4096 tokens without checkpointing
    huge = TrainSettings.from_profile(gpu24, batch_size=32, max_seq_len=4096, gradient_checkpointing=False)
    big_rows = {r["gpu"]: r for r in preflight_report(gpu24, huge, 640)["gpu_table"]}
    assert not big_rows["RTX 3090"]["fits"] and big_rows["RTX 3090"]["usd"] is None


# ---------------------------------------------------------------------------------------------
# The plan (steps, tokens, minutes, dollars) follows the settings and the profile
# ---------------------------------------------------------------------------------------------


def test_plan_follows_the_settings_and_profile(ci, gpu24) -> None:
    s = TrainSettings.from_profile(ci)
    assert s.max_steps == 4
    plan = preflight_report(ci, s, 48)["plan"]
    assert plan["steps"] == 4 and plan["tokens"] == int(4 * s.batch_size * s.max_seq_len * 0.5)
    assert plan["tokens_per_s"] == ci.train_tokens_per_s and plan["usd"] == 0.0

    s24 = TrainSettings.from_profile(gpu24)
    plan = preflight_report(gpu24, s24, 640)["plan"]
    assert plan["steps"] == math.ceil(640 / (s24.batch_size * s24.grad_accum)) * int(s24.epochs)
    assert plan["minutes"] > 0 and plan["usd"] == pytest.approx(plan["minutes"] / 60 * gpu24.price_per_hour_usd, abs=0.01)
    doubled = preflight_report(gpu24, s24.replace(grad_accum=2), 640)["plan"]
    assert doubled["steps"] == math.ceil(640 / (s24.batch_size * 2))


# ---------------------------------------------------------------------------------------------
# mean_tokens on the real tokenizer and rows
# ---------------------------------------------------------------------------------------------


def test_mean_tokens_counts_prompt_and_answer(tokenizer, train_rows) -> None:
    mean = mean_tokens(tokenizer, train_rows)
    text_only = sum(len(tokenizer(r["input"])["input_ids"]) + len(tokenizer(r["output"])["input_ids"])
                    for r in train_rows) / len(train_rows)
    assert text_only < mean < text_only + 400, "input + answer + the short system prompt and chat markup"
    singles = [mean_tokens(tokenizer, [r]) for r in train_rows]
    assert len(set(singles)) > 1 and all(float(x).is_integer() for x in singles)
    assert mean == pytest.approx(sum(singles) / len(singles))


def test_mean_tokens_limit_and_empty(tokenizer, train_rows) -> None:
    assert mean_tokens(tokenizer, train_rows, limit=3) == pytest.approx(mean_tokens(tokenizer, train_rows[:3]))
    assert mean_tokens(tokenizer, []) == 0.0


def test_preflight_uses_the_measured_mean_tokens(ci, tokenizer, train_rows) -> None:
    s = TrainSettings.from_profile(ci)
    mean = mean_tokens(tokenizer, train_rows)
    measured = preflight_report(ci, s, 48, tokenizer=tokenizer, rows=train_rows)["plan"]
    guessed = preflight_report(ci, s, 48)["plan"]
    assert measured["tokens"] == int(measured["steps"] * s.batch_size * s.grad_accum * mean)
    assert guessed["tokens"] == int(guessed["steps"] * s.batch_size * s.grad_accum * s.max_seq_len * 0.5)
    assert measured["tokens"] != guessed["tokens"]


# ---------------------------------------------------------------------------------------------
# The HTML the notebook shows
# ---------------------------------------------------------------------------------------------


def test_report_html_shows_the_estimate_plan_and_gpus(gpu24) -> None:
    report = preflight_report(gpu24, TrainSettings.from_profile(gpu24), 640)
    html = report["html"]
    assert f"reserved {report['estimate'].reserved}" in html
    assert f"{report['plan']['steps']} steps" in html
    assert all(row["gpu"] in html for row in report["gpu_table"]) and html.count("<tr>") == len(report["gpu_table"]) + 1


def test_report_html_names_the_settings(ci, gpu24) -> None:
    """The learner must see which settings the verdict is for, and so which ones to change."""
    for profile in (ci, gpu24):
        s = TrainSettings.from_profile(profile)
        html = preflight_report(profile, s, 640)["html"]
        missing = [name for name in ("batch_size", "max_seq_len", "lora_r", "lora_targets", "gradient_checkpointing")
                   if name not in html]
        assert not missing, f"{profile.name}: the preflight HTML does not name {missing}"
        assert s.lora_targets in html
