"""Shared fixtures: a tiny random Llama with SmolLM2's real tokenizer, and isolated run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random Llama (hidden 64) with the SmolLM2 tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from helpers.core.models import local_model_path

    if (folder / "model.safetensors").exists():
        return folder
    src = local_model_path("smollm2-135m")
    tok = AutoTokenizer.from_pretrained(str(src))
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": tok.eos_token_id}), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny random model, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture()
def tiny_profile(tiny_model_dir: Path):
    """The ci profile pointed at the tiny model, with very small sizes."""
    from helpers.core.config import get_profile

    return get_profile("ci").replace(model=str(tiny_model_dir), max_new_tokens=8, gen_batch_size=4,
                                     eval_rows=4, golden_rows=4)


@pytest.fixture()
def runs_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run folders in a temporary directory, never in the course's runs/."""
    root = tmp_path / "runs"
    monkeypatch.setenv("COURSE_RUNS", str(root))
    monkeypatch.delenv("COURSE_RUN_ID", raising=False)
    return root


def support_rows(n: int, start: int = 0) -> list[dict]:
    """Small, varied support-ticket rows for training and prompting tests."""
    products = ["blender", "desk lamp", "running shoes", "coffee grinder", "yoga mat", "headphones"]
    issues = [("damaged_item", "replacement", "arrived cracked"), ("delivery_delay", "track_order", "has not arrived"),
              ("wrong_item", "replacement", "is the wrong colour"), ("refund_request", "refund", "is not what I wanted")]
    rows = []
    for i in range(start, start + n):
        product = products[i % len(products)]
        issue, action, text = issues[i % len(issues)]
        out = {"order_id": f"ORD-{10000 + i}", "product": product, "issue_type": issue,
               "requested_action": action, "sentiment": "negative"}
        rows.append({"id": f"t-{i}", "input": f"Hello, order ORD-{10000 + i}: the {product} {text}. Please help. Sam",
                     "output": json.dumps(out), "task": "extraction", "meta": {}, "line": i + 1})
    return rows
