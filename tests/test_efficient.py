"""Unit tests for helpers.training.packing: packing, collators, the fused/chunked loss, model preparation."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from helpers.training import packing as eff  # noqa: E402


def _examples(n: int = 12, seed: int = 0, max_len: int = 60) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(5, max_len)
        ids = [rng.randrange(3, 100) for _ in range(k)]
        labels = [-100] * (k // 2) + ids[k // 2 :]
        out.append({"input_ids": ids, "labels": labels})
    return out


def _tiny_llama(vocab: int = 128) -> object:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=vocab, max_position_embeddings=256)
    return LlamaForCausalLM(cfg).eval()


def test_pack_examples_keeps_every_token_and_restarts_positions() -> None:
    ex = _examples()
    rows = eff.pack_examples(ex, 100, shuffle_seed=1)
    assert all(len(r["input_ids"]) <= 100 for r in rows)
    assert sum(len(r["input_ids"]) for r in rows) == sum(len(e["input_ids"]) for e in ex)
    assert sorted(sum((r["input_ids"] for r in rows), [])) == sorted(sum((e["input_ids"] for e in ex), []))
    for r in rows:
        assert r["position_ids"][0] == 0
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        assert all(r["labels"][i] == -100 for i in starts)  # never learn across a boundary
    assert len(rows) < len(ex)  # first-fit decreasing actually packs


def test_pack_examples_truncates_long_examples() -> None:
    rows = eff.pack_examples([{"input_ids": list(range(3, 50)), "labels": list(range(3, 50))}], 10)
    assert len(rows) == 1 and len(rows[0]["input_ids"]) == 10


def test_collate_packed_pads_to_a_fixed_shape_with_an_isolated_tail() -> None:
    rows = eff.pack_examples(_examples(), 100)
    batch = eff.collate_packed(rows[:2], pad_token_id=0, pad_to=120)
    assert batch["input_ids"].shape == (2, 120) and "attention_mask" not in batch
    n = len(rows[0]["input_ids"])
    assert batch["position_ids"][0, n].item() == 0  # the pad tail is its own sequence
    assert (batch["labels"][0, n:] == -100).all()
    counts = eff.batch_token_counts(batch, pad_token_id=0)
    assert counts["real"] == len(rows[0]["input_ids"]) + len(rows[1]["input_ids"])


def test_collate_padded_masks_padding() -> None:
    batch = eff.collate_padded(_examples(3), pad_token_id=0)
    lengths = [len(e["input_ids"]) for e in _examples(3)]
    assert batch["attention_mask"].sum().item() == sum(lengths)
    assert batch["input_ids"].shape[1] == max(lengths)
    assert eff.batch_token_counts(batch)["computed"] == 3 * max(lengths)


def test_chunked_cross_entropy_matches_plain_cross_entropy() -> None:
    torch.manual_seed(1)
    h = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (37,))
    t[::5] = -100
    ref = torch.nn.functional.cross_entropy(h @ w.T, t, ignore_index=-100)
    got = eff.chunked_cross_entropy(h, w, t, chunk=8)
    assert torch.allclose(got.double(), ref, rtol=1e-6)
    g_ref = torch.autograd.grad(ref, (h, w))
    g_got = torch.autograd.grad(got, (h, w))
    for a, b in zip(g_ref, g_got):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)


def test_causal_lm_loss_matches_the_model_loss() -> None:
    model = _tiny_llama()
    ids = torch.randint(3, 128, (2, 24))
    labels = ids.clone()
    labels[:, :10] = -100
    with torch.no_grad():
        ref = model(input_ids=ids, labels=labels).loss
        got = eff.causal_lm_loss(model, {"input_ids": ids, "labels": labels}, use_liger=False)
    assert torch.allclose(got, ref, rtol=1e-5)


def test_packed_rows_attend_only_within_each_example() -> None:
    """Loss of a packed row equals the token-weighted loss of its examples run one by one."""
    model = _tiny_llama()
    ex = _examples(4, seed=3, max_len=30)
    rows = eff.pack_examples(ex, 200, shuffle_seed=None)
    assert len(rows) == 1
    batch = eff.collate_packed(rows)
    with torch.no_grad():
        packed = eff.causal_lm_loss(model, batch, num_items_in_batch=1, use_liger=False)
        total = 0.0
        for e in ex:
            labels = torch.tensor([e["labels"]])
            ids = torch.tensor([e["input_ids"]])
            total += eff.causal_lm_loss(model, {"input_ids": ids, "labels": labels}, num_items_in_batch=1,
                                        use_liger=False).item()
    assert packed.item() == pytest.approx(total, rel=1e-4)


def test_prepare_for_training_freezes_without_upcast() -> None:
    model = _tiny_llama().to(torch.bfloat16)
    eff.prepare_for_training(model, eff.RECIPE_NO_CHECKPOINTING)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())


def test_prepare_quantized_for_training_takes_peft_arguments() -> None:
    model = _tiny_llama()
    out = eff.prepare_quantized_for_training(model, use_gradient_checkpointing=True,
                                             gradient_checkpointing_kwargs={"use_reentrant": False})
    assert out is model and model.is_activation_checkpointing
    assert not any(p.requires_grad for p in model.parameters())


def test_config_switches_and_recipe_choice() -> None:
    with pytest.raises(ValueError):
        eff.EfficiencyConfig(checkpointing="sometimes")
    assert eff.recipe_for(24).checkpointing == "non-reentrant"
    assert eff.recipe_for(80).checkpointing == "off"
    assert eff.recipe_for(80, need_gib_without_checkpointing=90).checkpointing == "non-reentrant"
    assert eff.recipe_for(24, need_gib_without_checkpointing=10).checkpointing == "off"
    assert "packing" in eff.technique_names(eff.RECIPE)
    assert eff.BASELINE.upcast and not eff.BASELINE.packing
    assert eff.training_arguments_kwargs(eff.RECIPE)["optim"] == "paged_adamw_8bit"


def test_trainer_class_only_changes_the_loss_when_asked() -> None:
    from transformers import Trainer

    assert eff.trainer_class(eff.BASELINE) is Trainer
    assert issubclass(eff.trainer_class(eff.RECIPE), Trainer)


def test_cast_adapters_changes_only_the_trainable_lora_weights() -> None:
    from peft import LoraConfig, get_peft_model

    model = _tiny_llama().to(torch.bfloat16)
    eff.prepare_for_training(model, eff.RECIPE_NO_CHECKPOINTING)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)  # peft's own default
    assert eff.cast_adapters(peft_model, "bfloat16") == len(trainable)
    assert all(p.dtype == torch.bfloat16 for p in peft_model.parameters())
    assert eff.cast_adapters(peft_model, "bfloat16") == 0  # nothing left to change
    with pytest.raises(ValueError, match="adapter_dtype"):
        eff.EfficiencyConfig(adapter_dtype="float16")
    assert "bfloat16-adapters" in eff.technique_names(eff.RECIPE.replace(adapter_dtype="bfloat16"))
    assert "bfloat16-adapters" not in eff.technique_names(eff.RECIPE)


def test_adapter_dtype_follows_the_profile_compute_dtype() -> None:
    from helpers.core.config import get_profile
    from helpers.training.train import SettingsError, TrainSettings, efficiency

    assert TrainSettings.from_profile(get_profile("cpu")).adapter_dtype == "float32"
    gpu = TrainSettings.from_profile(get_profile("gpu-24gb"))
    assert gpu.adapter_dtype == "bfloat16"
    assert efficiency(gpu, "cuda").adapter_dtype == "bfloat16"
    with pytest.raises(SettingsError, match="adapter_dtype"):
        TrainSettings.from_profile(get_profile("cpu"), adapter_dtype="int8")
