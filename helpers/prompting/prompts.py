"""Prompting baseline: instructions, format spec and few-shot examples, built as chat messages.

Introduced in ``02_prompting_baseline.ipynb``. A prompt is a :class:`PromptConfig`; the same
builder serves every model (the model's own chat template is applied by
:mod:`helpers.prompting.generation`) and the fine-tuning data (:mod:`helpers.training.trainer` trains on the short
``finetune`` prompt, so the adapter is asked exactly as it was taught).

Few-shot examples come from the *training* rows only: :func:`select_examples` refuses a pool
that shares an id or an input with the rows being scored.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import SettingsError
from helpers.data.quality.embeddings import embed_cached
from helpers.data.task_spec import load_task, task_dir
from helpers.data.tasks import check_view, load_schema
from helpers.data.text import normalise_text

Messages = list[dict[str, str]]

# The wording of each prompt comes from the task folder (task.json's "prompts", else its
# "instructions", else a generic default): helpers.data.task_spec.TaskSpec.prompt.


def task_prompt(kind: str, view: str | None = None, task: str | Path | None = None) -> str:
    """The task's wording for one prompt kind: ``bare`` (rung 1), ``detailed`` (rungs 2-5), ``finetune`` (02, 03)."""
    return load_task(task).prompt(kind, view)


@dataclass
class PromptConfig:
    """Everything that defines a prompt; saved with the baseline (02_prompting_baseline)."""

    view: str = "extraction"
    instructions: str = ""
    format_spec: bool = False
    k: int = 0
    selection: str = "random"  # "random" or "similar"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (02_prompting_baseline)."""
        return asdict(self)


RULES_FILE = "prompt_rules.md"  # data/<task>/prompt_rules.md: one "## <view>" section per view


def has_guideline_rules(view: str, task: str | Path | None = None) -> bool:
    """True when the task folder has a ``## <view>`` section in ``prompt_rules.md`` (02)."""
    try:
        guideline_rules(view, task)
    except SettingsError:
        return False
    return True


def guideline_rules(view: str = "extraction", task: str | Path | None = None) -> str:
    """The annotation guideline condensed for a prompt: the ``## <view>`` section of ``data/<task>/prompt_rules.md`` (02).

    The adapter learns the guideline from the labels; a fair baseline is *told* it. Raises one
    sentence naming the file when the task has no rules for ``view``.
    """
    check_view(view)
    path = task_dir(task) / RULES_FILE
    sections: dict[str, list[str]] = {}
    current: str | None = None
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
    text = "\n".join(sections.get(view, [])).strip()
    if not text:
        raise SettingsError(f"no '## {view}' section in {path}: write the guideline's rules for this view there")
    return text


def prompt_ladder(view: str | None = None, k: int = 3, task: str | Path | None = None) -> dict[str, PromptConfig]:
    """The step-by-step improvements notebook 02 walks through, from bare to rules + k-shot (02).

    Each rung adds one thing: instructions, the answer format, the guideline's rules
    (:func:`guideline_rules`; only where the task folder has them), then ``k`` similar training
    examples. ``view`` defaults to the task's. Pick the best on eval only.
    """
    view = check_view(view or load_task(task).view)
    detailed = task_prompt("detailed", view, task)
    ladder = {
        "1 bare zero-shot": PromptConfig(view, task_prompt("bare", view, task)),
        "2 + instructions": PromptConfig(view, detailed),
        "3 + format spec": PromptConfig(view, detailed, format_spec=True),
    }
    if has_guideline_rules(view, task):
        detailed = guideline_rules(view, task)
        ladder["4 + guideline rules"] = PromptConfig(view, detailed, format_spec=True)
    ladder[f"{len(ladder) + 1} + {k} similar example{'' if k == 1 else 's'}"] = PromptConfig(view, detailed, format_spec=True, k=k,
                                                                       selection="similar")
    return ladder


def finetune_config(view: str | None = None, task: str | Path | None = None) -> PromptConfig:
    """The short prompt the adapter is trained and evaluated with; ``view`` defaults to the task's (03)."""
    view = check_view(view or load_task(task).view)
    return PromptConfig(view, task_prompt("finetune", view, task))


def format_spec(view: str, task: str | Path | None = None) -> str:
    """The answer format written out: JSON keys and allowed labels (02_prompting_baseline)."""
    schema = load_schema(task)
    labels = schema.get("labels", {})
    if view == "extraction":
        parts = []
        for f in schema["fields"]:
            allowed = labels.get(f)
            kind = " | ".join(f'"{v}"' for v in allowed) if allowed else "string"
            if f in schema.get("nullable", []):
                kind += " | null"
            parts.append(f'  "{f}": {kind}')
        return "Answer format (one line, keys in this order):\n{\n" + ",\n".join(parts) + "\n}"
    if view == "classification":
        return "Allowed categories: " + ", ".join(schema.get("classification_labels", []))
    return "Format: one sentence, at most 35 words, ending with a full stop."


def assert_disjoint(pool: Sequence[dict[str, Any]], scored: Sequence[dict[str, Any]]) -> None:
    """Refuse a few-shot pool that shares an id or an input with the scored rows (02).

    Inputs are compared after :func:`helpers.data.text.normalise_text`, the key notebook 01's
    train/eval leak check uses.
    """
    ids = {r["id"] for r in scored}
    texts = {normalise_text(r["input"]) for r in scored}
    clash = [r["id"] for r in pool if r["id"] in ids or normalise_text(r["input"]) in texts]
    if clash:
        raise SettingsError(
            f"{len(clash)} few-shot candidate(s) (e.g. {clash[0]}) also appear in the rows being "
            f"scored: draw examples from train.jsonl only"
        )


def select_examples(
    queries: Sequence[dict[str, Any]],
    pool: Sequence[dict[str, Any]],
    k: int,
    method: str = "random",
    seed: int = 0,
) -> list[list[dict[str, Any]]]:
    """For each query row, k examples from the training pool, at random or most similar (02).

    "similar" ranks the pool by cosine similarity of MiniLM embeddings, taken from the course's
    embedding cache (:func:`helpers.data.quality.embeddings.embed_cached`): the pool is encoded
    once per machine, not at every call. Raises if the pool overlaps the queries (no eval or
    golden row may ever be a few-shot example).
    """
    if k <= 0 or not queries:
        return [[] for _ in queries]
    assert_disjoint(pool, queries)
    k = min(k, len(pool))
    if method == "random":
        rng = random.Random(seed)
        return [rng.sample(list(pool), k) for _ in queries]
    if method != "similar":
        raise SettingsError(f"unknown selection {method!r}: use 'random' or 'similar'")
    q = embed_cached([r["input"] for r in queries])
    p = embed_cached([r["input"] for r in pool])
    sims = q @ p.T
    out = []
    for row in sims:
        best = row.argsort()[::-1][:k][::-1]  # most similar last: closest to the question
        out.append([pool[int(i)] for i in best])
    return out


def build_messages(
    text: str,
    config: PromptConfig,
    examples: Sequence[dict[str, Any]] = (),
    task: str | Path | None = None,
) -> Messages:
    """One conversation: system instructions (+ format spec), examples as turns, the question (03_qlora_training)."""
    system = config.instructions
    if config.format_spec:
        system += "\n\n" + format_spec(config.view, task)
    msgs: Messages = [{"role": "system", "content": system}]
    for ex in examples:
        msgs.append({"role": "user", "content": ex["input"]})
        msgs.append({"role": "assistant", "content": ex["output"]})
    msgs.append({"role": "user", "content": text})
    return msgs


def build_conversations(
    rows: Sequence[dict[str, Any]],
    config: PromptConfig,
    pool: Sequence[dict[str, Any]] = (),
    task: str | Path | None = None,
) -> list[Messages]:
    """Conversations for many rows, with few-shot examples drawn from ``pool`` (02)."""
    shots = select_examples(rows, pool, config.k, config.selection, config.seed)
    return [build_messages(r["input"], config, ex, task) for r, ex in zip(rows, shots)]


def training_messages(row: dict[str, Any], config: PromptConfig) -> Messages:
    """The conversation a training row becomes: the prompt plus the answer (03_qlora_training)."""
    return build_messages(row["input"], config) + [{"role": "assistant", "content": row["output"]}]
