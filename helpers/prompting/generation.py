"""Batched greedy generation, shared by the prompting baseline (02) and the evaluation (03, 04).

Introduced in ``02_prompting_baseline.ipynb``. Prompts are rendered with the model's own chat
template, sorted by length, padded on the *left* (so every row's last prompt token sits at the
end of the batch and generation continues from there), decoded greedily, and stopped at the
model's end-of-turn token. ``per_example=True`` runs the same thing one prompt at a time, the
slow loop that batching replaces (``benchmarks/bench_generation_cpu.py`` measures both).

Prompts of one call often share a long opening (a rung's system prompt with the guideline's
rules is ~1,100 of its ~1,400 tokens). ``generate`` runs that shared prefix through the model
once and starts every batch from a copy of its key/value cache (transformers'
``cache`` argument), padding each row's own suffix on the left *after* the prefix; positions come
from the attention mask, so every row sees the positions it would see alone. Hand-written because
``generate`` has no prefix cache of its own for batches; on this 2-core CPU prefill is most of
the time (10 prompts of 1,400 tokens: 45.7 s of prefill in fp32, 18.9 s on a bf16 copy,
``bench_cpu_dtype.py``), and ``bench_generation_cpu.py --prefix``
prints what the cache saves.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from helpers.core.models import inference_model

Messages = list[dict[str, str]]

# A shared opening shorter than this is not worth a cache copy per batch.
MIN_PREFIX_TOKENS = 64


@dataclass
class GenerationResult:
    """Texts in the order of the prompts, plus what it cost (02_prompting_baseline)."""

    texts: list[str]
    new_tokens: list[int]
    seconds: float
    latencies: list[float] = field(default_factory=list)  # per prompt: its batch's time / batch size
    cost_usd: float | None = None  # set by API baselines, which are billed per token

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second over the whole call."""
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0

    @property
    def latency_s_per_request(self) -> float:
        """Mean wall time per prompt (batched: the batch's time shared by its rows)."""
        return self.seconds / max(len(self.texts), 1)


def render_prompts(tokenizer: Any, conversations: Sequence[Messages]) -> list[str]:
    """Each conversation through the model's chat template, ready for the assistant turn (02)."""
    return [
        tokenizer.apply_chat_template(list(msgs), tokenize=False, add_generation_prompt=True)
        for msgs in conversations
    ]


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an answer: EOS plus the chat template's end-of-turn marker (02)."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    for marker in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
        tid = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return sorted(ids)


def shared_prefix_length(token_lists: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every list shares, leaving each at least one token of its own (02)."""
    if not token_lists:
        return 0
    first, n = token_lists[0], min(len(t) for t in token_lists) - 1
    for j in range(max(n, 0)):
        if any(t[j] != first[j] for t in token_lists):
            return j
    return max(n, 0)


def _batch_inputs(
    ids: list[list[int]], prefix_len: int, pad_id: int, torch: Any
) -> tuple[Any, Any]:
    """Input ids and mask for one batch: the shared prefix, left padding, then each row's suffix."""
    width = max(len(t) for t in ids) - prefix_len
    rows, masks = [], []
    for t in ids:
        own = t[prefix_len:]
        pad = width - len(own)
        rows.append(list(t[:prefix_len]) + [pad_id] * pad + list(own))
        masks.append([1] * prefix_len + [0] * pad + [1] * len(own))
    return torch.tensor(rows), torch.tensor(masks)


def generate(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    max_new_tokens: int = 96,
    batch_size: int = 8,
    per_example: bool = False,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    prefix_cache: bool = True,
) -> GenerationResult:
    """Greedy answers for many conversations, batched with left padding (00_setup).

    Returns texts in the input order. ``per_example=True`` forces batches of one.
    ``prefix_cache`` computes the opening all prompts share once (module docstring); in fp32 the
    answers are those of the plain path (``tests/test_generation.py`` checks it on the real model);
    in bf16 (a bf16 copy of the weights, :func:`helpers.core.models.inference_model`) a cached
    prefix, like any other batch shape, rounds differently and can change a few answers.
    """
    import torch

    prompts = render_prompts(tokenizer, conversations)
    size = 1 if per_example else max(1, batch_size)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    token_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    lengths = [len(t) for t in token_ids]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # longest first: OOM shows early
    texts: list[str] = [""] * len(prompts)
    n_new: list[int] = [0] * len(prompts)
    lat: list[float] = [0.0] * len(prompts)
    stops = stop_token_ids(tokenizer)
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    iterator: Any = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc="generating", unit="batch", leave=False)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    prefix_len = shared_prefix_length(token_ids) if prefix_cache else 0
    cache = None
    try:
        runner = inference_model(model)  # a bf16 copy when the model computes in bf16 on a CPU
        if prefix_len >= MIN_PREFIX_TOKENS:
            with torch.inference_mode():
                prefix = torch.tensor([token_ids[0][:prefix_len]], device=device)
                cache = runner(input_ids=prefix, use_cache=True).cache
        else:
            prefix_len = 0
        for b, idx in enumerate(iterator):
            t0 = time.perf_counter()
            input_ids, mask = _batch_inputs([token_ids[i] for i in idx], prefix_len, tokenizer.pad_token_id, torch)
            extra: dict[str, Any] = {}
            if cache is not None:
                extra["cache"] = copy.deepcopy(cache)
                extra["cache"].batch_repeat_interleave(len(idx))
            with torch.inference_mode():
                out = runner.generate(
                    input_ids=input_ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                    do_sample=False, eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, **extra,
                )
            new = out[:, input_ids.shape[1] :]
            dt = time.perf_counter() - t0
            for row, i in enumerate(idx):
                tokens = new[row].tolist()
                cut = next((j for j, t in enumerate(tokens) if t in stops), len(tokens))
                n_new[i] = cut + (1 if cut < len(tokens) else 0)
                texts[i] = tokenizer.decode(tokens[:cut], skip_special_tokens=True).strip()
                lat[i] = dt / len(idx)
            if on_batch:
                on_batch(b + 1, len(batches))
    finally:
        if was_training:
            model.train()
    return GenerationResult(texts=texts, new_tokens=n_new, seconds=time.perf_counter() - start, latencies=lat)
