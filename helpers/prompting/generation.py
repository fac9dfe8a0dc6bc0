"""Batched greedy generation, shared by the prompting baseline (02) and the evaluation (03, 04).

Introduced in ``02_prompting_baseline.ipynb``. Prompts are rendered with the model's own chat
template, sorted by length, padded on the *left* (so every row's last prompt token sits at the
end of the batch and generation continues from there), decoded greedily, and stopped at the
model's end-of-turn token. ``per_example=True`` runs the same thing one prompt at a time, the
slow loop that batching replaces (``benchmarks/bench_generation_cpu.py`` measures both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

Messages = list[dict[str, str]]


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


def generate(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    max_new_tokens: int = 96,
    batch_size: int = 8,
    per_example: bool = False,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    """Greedy answers for many conversations, batched with left padding (00_setup).

    Returns texts in the input order. ``per_example=True`` forces batches of one.
    """
    import torch

    prompts = render_prompts(tokenizer, conversations)
    size = 1 if per_example else max(1, batch_size)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
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
    try:
        for b, idx in enumerate(iterator):
            t0 = time.perf_counter()
            enc = tokenizer(
                [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :]
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
