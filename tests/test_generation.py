"""helpers.prompting.generation: batched greedy generation with left padding gives the same answers as one
prompt at a time, in the input order, stopped at the end-of-turn token."""

from __future__ import annotations

import pytest

from helpers.prompting.generation import GenerationResult, generate, render_prompts, stop_token_ids

QUESTIONS = [
    "Hi",
    "My blender arrived cracked, order ORD-12345, please send a new one as soon as possible.",
    "Where is my parcel?",
    "Refund please for the yoga mat I bought last week because it smells of chemicals and is far too thin.",
    "ok",
]
CONVERSATIONS = [[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q}] for q in QUESTIONS]
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    """The tiny model with an untied random output head.

    With the head tied to the embeddings, a random model just repeats its last prompt token
    (a newline, which strips to ""); an independent head makes the answers depend on the prompt,
    so comparing texts means something.
    """
    import torch

    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm, load_tokenizer

    profile = get_profile("ci").replace(model=str(tiny_model_dir))
    model = load_causal_lm(profile)
    g = torch.Generator().manual_seed(0)
    model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape, generator=g))
    return model, load_tokenizer(str(tiny_model_dir))


def test_stop_tokens_include_the_end_of_turn_marker(tiny):
    _, tok = tiny
    stops = stop_token_ids(tok)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert isinstance(im_end, int) and im_end in stops
    assert tok.eos_token_id in stops
    assert tok.unk_token_id not in stops or tok.unk_token_id is None
    assert stops == sorted(set(stops))


def test_render_prompts_uses_the_chat_template(tiny):
    _, tok = tiny
    prompts = render_prompts(tok, CONVERSATIONS[:2])
    assert len(prompts) == 2
    for p, q in zip(prompts, QUESTIONS):
        assert q in p and "Answer briefly." in p
        assert p.endswith("<|im_start|>assistant\n")


@pytest.mark.slow
def test_batched_generation_matches_one_at_a_time_in_input_order(tiny):
    model, tok = tiny
    lengths = [len(tok(p)["input_ids"]) for p in render_prompts(tok, CONVERSATIONS)]
    assert len(set(lengths)) >= 4  # different lengths: batches really are left-padded
    calls = []
    batched = generate(model, tok, CONVERSATIONS, max_new_tokens=NEW_TOKENS, batch_size=4, progress=False,
                       on_batch=lambda b, n: calls.append((b, n)))
    single = generate(model, tok, CONVERSATIONS, max_new_tokens=NEW_TOKENS, per_example=True, progress=False)
    assert calls == [(1, 2), (2, 2)]  # 5 prompts in batches of 4
    assert batched.texts == single.texts
    assert batched.new_tokens == single.new_tokens
    assert all(t for t in batched.texts) and len(set(batched.texts)) == len(QUESTIONS)  # non-trivial answers
    # input order: each answer is the one its prompt gets when generated alone
    for i in (3, 4):  # the longest prompt (padded least) and a short one (padded most)
        alone = generate(model, tok, [CONVERSATIONS[i]], max_new_tokens=NEW_TOKENS, progress=False)
        assert alone.texts[0] == batched.texts[i], i
    assert tok.padding_side == "left"
    assert len(batched.latencies) == len(QUESTIONS) and all(t > 0 for t in batched.latencies)
    assert batched.seconds > 0 and batched.cost_usd is None
    assert all(0 < n <= NEW_TOKENS for n in batched.new_tokens)


def test_answers_stop_at_the_end_of_turn_token(tiny):
    import torch

    model, tok = tiny
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    head = model.lm_head

    class AlwaysStop(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, hidden):
            logits = self.inner(hidden)
            logits[..., im_end] = logits.max() + 100.0
            return logits

    model.lm_head = AlwaysStop(head)
    try:
        res = generate(model, tok, CONVERSATIONS[:3], max_new_tokens=NEW_TOKENS, batch_size=2, progress=False)
    finally:
        model.lm_head = head
    assert res.texts == ["", "", ""]
    assert res.new_tokens == [1, 1, 1]  # the stop token counts, nothing after it


def test_generate_restores_training_mode(tiny):
    model, tok = tiny
    model.train()
    try:
        generate(model, tok, CONVERSATIONS[:1], max_new_tokens=2, progress=False)
        assert model.training
    finally:
        model.eval()
    generate(model, tok, CONVERSATIONS[:1], max_new_tokens=2, progress=False)
    assert not model.training


def test_generation_result_speed_figures():
    r = GenerationResult(texts=["a", "b", "c", "d"], new_tokens=[10, 20, 30, 40], seconds=2.0,
                         latencies=[0.5] * 4)
    assert r.tokens_per_s == pytest.approx(50.0)
    assert r.latency_s_per_request == pytest.approx(0.5)
    assert r.cost_usd is None
    empty = GenerationResult(texts=[], new_tokens=[], seconds=0.0)
    assert empty.tokens_per_s == 0.0 and empty.latency_s_per_request == 0.0
    assert GenerationResult(texts=[], new_tokens=[], seconds=3.0).latency_s_per_request == 3.0


def test_shared_prefix_length_leaves_each_prompt_a_token_of_its_own():
    from helpers.prompting.generation import shared_prefix_length

    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # identical prompts: the last token stays
    assert shared_prefix_length([[7, 1], [8, 1]]) == 0
    assert shared_prefix_length([[5, 6, 7]]) == 2
    assert shared_prefix_length([]) == 0


@pytest.mark.slow
def test_prefix_cache_gives_the_answers_of_the_plain_path():
    """A long shared system prompt goes through the model once; every row's answer is unchanged.

    The real SmolLM2 (a random tiny model answers the same whatever the question once the prompt
    is long, so equality would prove nothing) on notebook 02's rules prompt, cut to ~200 tokens.
    In fp32, where equality is exact: in bf16 any change of shapes (a batch size, a
    cached prefix) rounds differently, and here 2 of the 5 answers then differ after a few tokens.
    """
    from helpers.core.config import get_profile
    from helpers.core.models import load_causal_lm, load_tokenizer
    from helpers.prompting.generation import MIN_PREFIX_TOKENS, shared_prefix_length
    from helpers.prompting.prompts import guideline_rules

    profile = get_profile("ci").replace(compute_dtype="float32")
    model, tok = load_causal_lm(profile), load_tokenizer(profile.model)
    rules = guideline_rules("extraction", "support")[:900]
    convs = [[{"role": "system", "content": rules}, {"role": "user", "content": q}] for q in QUESTIONS]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in render_prompts(tok, convs)]
    assert shared_prefix_length(ids) >= MIN_PREFIX_TOKENS  # the cached path really runs
    cached = generate(model, tok, convs, max_new_tokens=12, batch_size=3, progress=False)
    plain = generate(model, tok, convs, max_new_tokens=12, batch_size=3, progress=False, prefix_cache=False)
    assert cached.texts == plain.texts and cached.new_tokens == plain.new_tokens
    assert len(set(cached.texts)) >= 3  # answers depend on the question, so equality means something


def test_generation_computes_in_the_dtype_the_model_records(tiny):
    """A model recorded as bf16 (the CPU profiles on a CPU with native bf16) generates on a bf16 copy
    of its weights and keeps its own fp32 weights; a model recorded as fp32 computes in fp32."""
    import torch

    from helpers.core.models import inference_model, set_compute_dtype

    model, tok = tiny
    seen: list[torch.dtype] = []
    hook = model.model.layers[0].self_attn.q_proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        for dtype, expected in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
            seen.clear()
            set_compute_dtype(model, dtype)
            out = generate(model, tok, CONVERSATIONS[:2], max_new_tokens=2, batch_size=2, progress=False)
            assert len(out.texts) == 2 and seen and set(seen) == {expected}, dtype
            assert {p.dtype for p in model.parameters()} == {torch.float32}  # the caller's weights are untouched
            assert (inference_model(model) is model) == (dtype == "float32")
    finally:
        hook.remove()
        set_compute_dtype(model, "bfloat16")


def test_a_bf16_peft_model_generates_on_a_merged_copy(tiny_model_dir):
    """inference_model merges a peft model's LoRA update into its bf16 copy (the base plus the
    update, rounded once), or drops it while the adapters are disabled; the caller's model keeps
    its fp32 LoRA layers."""
    import torch
    from peft import LoraConfig, get_peft_model

    from helpers.core.config import get_profile
    from helpers.core.models import inference_model, load_causal_lm

    base = load_causal_lm(get_profile("ci").replace(model=str(tiny_model_dir), compute_dtype="bfloat16"))
    original = base.model.layers[0].self_attn.q_proj.weight.detach().clone()
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], init_lora_weights=False))
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    delta = layer.get_delta_weight("default").detach().clone()
    assert delta.abs().max() > 1e-3  # a real update, so merged and bare differ
    merged = inference_model(model)
    q = merged.model.layers[0].self_attn.q_proj
    assert type(q) is torch.nn.Linear and q.weight.dtype == torch.bfloat16
    assert torch.equal(q.weight, (original + delta).to(torch.bfloat16))
    with model.disable_adapter():
        bare = inference_model(model).model.layers[0].self_attn.q_proj
    assert torch.equal(bare.weight, original.to(torch.bfloat16))
    assert layer.weight.dtype == torch.float32 and hasattr(layer, "lora_A")  # the caller's model is unchanged


def test_a_model_sfttrainer_patched_generates_on_its_copy(tiny_model_dir, tmp_path):
    """SFTTrainer patches the base model's ``forward`` with a closure over the original model. The
    bf16 copy inference_model makes of such a model (every model notebooks 03 and 05 score after
    training) must run itself, not the fp32 original through that closure."""
    import torch

    from conftest import support_rows
    from helpers.core.config import get_profile
    from helpers.core.models import inference_model, load_causal_lm, load_tokenizer
    from helpers.training.settings import TrainSettings
    from helpers.training.trainer import make_trainer

    profile = get_profile("ci").replace(model=str(tiny_model_dir), compute_dtype="bfloat16")
    s = TrainSettings.from_profile(profile, max_steps=1)
    trainer = make_trainer(load_causal_lm(profile), load_tokenizer(str(tiny_model_dir)), support_rows(4), None, s,
                           tmp_path, device="cpu")
    model = trainer.model
    assert "forward" in model.get_base_model().__dict__  # TRL's patch is there, so the test means something
    runner = inference_model(model)
    seen: dict[str, list[torch.dtype]] = {"original": [], "copy": []}
    hooks = [model.get_base_model().model.layers[0].self_attn.q_proj.register_forward_hook(
                 lambda m, i, o: seen["original"].append(o.dtype)),
             runner.model.layers[0].self_attn.q_proj.register_forward_hook(lambda m, i, o: seen["copy"].append(o.dtype))]
    try:
        with torch.inference_mode():
            runner(input_ids=torch.tensor([[1, 2, 3, 4]]))
    finally:
        for h in hooks:
            h.remove()
    assert seen == {"original": [], "copy": [torch.bfloat16]}
