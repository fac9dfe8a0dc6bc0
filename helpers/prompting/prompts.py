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
from typing import Any, Sequence

from helpers.core.errors import SettingsError
from helpers.core.paths import data_dir
from helpers.data.quality.embeddings import embed_cached
from helpers.data.tasks import check_view, load_schema
from helpers.data.text import normalise_text

Messages = list[dict[str, str]]

BARE_INSTRUCTIONS = {
    "extraction": "Extract the key facts from this customer message as JSON.",
    "classification": "What is this customer message about? Answer with one category.",
    "summarisation": "Summarise this customer message.",
}

# Rung 2: what each field is, in a few words. It agrees with data/GUIDELINES.md but leaves its
# rules out; rung 4 adds them (guideline_rules), so the ladder shows what the rules are worth.
DETAILED_INSTRUCTIONS = {
    "extraction": (
        "You read messages sent to the support team of an online store and extract facts as JSON.\n"
        "Fields:\n"
        "- order_id: the order number (like ORD-12345) the customer's current message is about; null if none.\n"
        "- product: the catalogue product the message is about; null if no product is named.\n"
        "- issue_type: the main problem.\n"
        "- requested_action: what the customer asks the store to do; null if they ask nothing.\n"
        "- sentiment: positive, neutral or negative.\n"
        "Answer with the JSON object only."
    ),
    "classification": (
        "You route messages sent to the support team of an online store. Pick the one category "
        "that matches the main problem. Answer with the category only."
    ),
    "summarisation": (
        "You summarise messages sent to the support team of an online store in ONE plain sentence "
        "of at most 35 words: who, what went wrong, what they want. No greeting, no quotes."
    ),
}

FINETUNE_INSTRUCTIONS = {
    "extraction": "Extract order_id, product, issue_type, requested_action and sentiment as JSON.",
    "classification": "Classify the support message.",
    "summarisation": "Summarise the support message in one sentence.",
}


@dataclass
class PromptConfig:
    """Everything that defines a prompt; saved with the baseline (02_prompting_baseline)."""

    view: str = "extraction"
    instructions: str = BARE_INSTRUCTIONS["extraction"]
    format_spec: bool = False
    k: int = 0
    selection: str = "random"  # "random" or "similar"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (02_prompting_baseline)."""
        return asdict(self)


RULES_FILE = "prompt_rules.md"  # data/<task>/prompt_rules.md: one "## <view>" section per view


def guideline_rules(view: str = "extraction", task: str = "support") -> str:
    """The annotation guideline condensed for a prompt: the ``## <view>`` section of ``data/<task>/prompt_rules.md`` (02).

    The adapter learns the guideline from the labels; a fair baseline is *told* it. Raises one
    sentence naming the file when the task has no rules for ``view``.
    """
    check_view(view)
    path = data_dir() / task / RULES_FILE
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


def prompt_ladder(view: str = "extraction", k: int = 3, task: str = "support") -> dict[str, PromptConfig]:
    """The step-by-step improvements notebook 02 walks through, from bare to rules + k-shot (02).

    Each rung adds one thing: instructions, the answer format, the guideline's rules
    (:func:`guideline_rules`), then ``k`` similar training examples. Pick the best on eval only.
    """
    check_view(view)
    rules = guideline_rules(view, task)
    return {
        "1 bare zero-shot": PromptConfig(view, BARE_INSTRUCTIONS[view]),
        "2 + instructions": PromptConfig(view, DETAILED_INSTRUCTIONS[view]),
        "3 + format spec": PromptConfig(view, DETAILED_INSTRUCTIONS[view], format_spec=True),
        "4 + guideline rules": PromptConfig(view, rules, format_spec=True),
        f"5 + {k} similar examples": PromptConfig(view, rules, format_spec=True, k=k, selection="similar"),
    }


def finetune_config(view: str = "extraction") -> PromptConfig:
    """The short prompt the adapter is trained and evaluated with (03_qlora_training)."""
    return PromptConfig(check_view(view), FINETUNE_INSTRUCTIONS[view])


def format_spec(view: str, task: str = "support") -> str:
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
        cats = schema.get("classification_labels") or labels.get("issue_type", [])
        return "Allowed categories: " + ", ".join(cats)
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
    task: str = "support",
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
) -> list[Messages]:
    """Conversations for many rows, with few-shot examples drawn from ``pool`` (02)."""
    shots = select_examples(rows, pool, config.k, config.selection, config.seed)
    return [build_messages(r["input"], config, ex) for r, ex in zip(rows, shots)]


def training_messages(row: dict[str, Any], config: PromptConfig) -> Messages:
    """The conversation a training row becomes: the prompt plus the answer (03_qlora_training)."""
    return build_messages(row["input"], config) + [{"role": "assistant", "content": row["output"]}]
