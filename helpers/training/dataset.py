"""Training rows as TRL prompt-completion conversations, and the loss-mask lesson.

Introduced in ``03_qlora_training.ipynb``. Each course row becomes the adapter's short prompt
(:func:`helpers.prompting.prompts.finetune_config`) as a conversational *prompt-completion*
example: ``{"prompt": [system, user], "completion": [assistant]}``. TRL's ``SFTTrainer``
renders both with the model's chat template and, with ``completion_only_loss``, puts loss on
the completion only: the answer and the end-of-turn token, so the model learns to answer and
to stop.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

from helpers.prompting.prompts import PromptConfig, finetune_config, training_messages
from helpers.training.collate import IGNORE_INDEX


def prompt_completion(row: dict[str, Any], config: PromptConfig) -> dict[str, list[dict[str, str]]]:
    """One row as a TRL conversational prompt-completion example (03_qlora_training)."""
    messages = training_messages(row, config)
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def sft_dataset(rows: Sequence[dict[str, Any]], config: PromptConfig | None = None) -> Any:
    """A ``datasets.Dataset`` of prompt-completion examples for ``SFTTrainer`` (03_qlora_training)."""
    from datasets import Dataset

    config = config or finetune_config()
    return Dataset.from_list([prompt_completion(r, config) for r in rows])


def encode_example(tokenizer: Any, row: dict[str, Any], config: PromptConfig | None = None) -> dict[str, list[int]]:
    """Token ids and labels of one row exactly as TRL's ``SFTTrainer`` builds them (03_qlora_training).

    The prompt is rendered with ``add_generation_prompt=True``, the whole conversation without
    it; the completion starts where the two token sequences diverge, and only completion tokens
    keep their label (prompt tokens get -100). ``tests/test_train.py`` checks this against the
    dataset TRL itself prepares.
    """
    example = prompt_completion(row, config or finetune_config())
    prompt_ids = _ids(tokenizer.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=True))
    full_ids = _ids(tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=True))
    start = 0
    while start < min(len(prompt_ids), len(full_ids)) and prompt_ids[start] == full_ids[start]:
        start += 1
    labels = [IGNORE_INDEX] * start + full_ids[start:]
    return {"input_ids": full_ids, "labels": labels}


def _ids(rendered: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)``, a list or a BatchEncoding."""
    if hasattr(rendered, "keys") and "input_ids" in rendered:
        rendered = rendered["input_ids"]
    return list(rendered)


def loss_mask_html(tokenizer: Any, example: dict[str, list[int]]) -> str:
    """HTML that colours the tokens which carry loss (green) and the masked prompt (grey) (03_qlora_training)."""
    spans = []
    for tid, label in zip(example["input_ids"], example["labels"]):
        text = html.escape(tokenizer.decode([tid])).replace("\n", "\u21b5<br>")
        style = "background:#c8f7c5;color:#000" if label != IGNORE_INDEX else "color:#888"
        spans.append(f'<span style="{style}">{text}</span>')
    n = sum(1 for label in example["labels"] if label != IGNORE_INDEX)
    head = (f"<p><b>{n}</b> of {len(example['labels'])} tokens carry loss "
            f"(<span style='background:#c8f7c5'>green</span>); grey tokens are the masked prompt.</p>")
    return head + '<div style="font-family:monospace;white-space:normal;line-height:1.6">' + "".join(spans) + "</div>"
