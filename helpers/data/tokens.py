"""Token statistics with the model's own tokenizer, a length histogram and a time/cost estimate.

Introduced in ``01_data_quality.ipynb``. Sequence length is what a fine-tuning run pays for:
every token of every row is processed once per epoch, and rows longer than the profile's
``max_seq_len`` are cut (the answer is usually at the end, so the cut removes what the model
should learn). Counting with the real tokenizer, not words, keeps the estimate honest.
"""

from __future__ import annotations

from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.models import load_tokenizer


def get_tokenizer(profile: Profile) -> Any:
    """The tokenizer of the profile's model (SmolLM2 for ci/cpu), loaded offline (01_data_quality)."""
    return load_tokenizer(profile.model)


def _lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts without special tokens, in one batched call (fast tokenizers are Rust)."""
    if not texts:
        return []
    enc = tokenizer(texts, add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in enc["input_ids"]]


def _chat_texts(tokenizer: Any, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each row rendered with the model's chat template, as training will see it."""
    out = []
    for r in rows:
        msgs = []
        if r.get("system"):
            msgs.append({"role": "system", "content": r["system"]})
        msgs += [{"role": "user", "content": r["input"]}, {"role": "assistant", "content": r["output"]}]
        out.append(tokenizer.apply_chat_template(msgs, tokenize=False))
    return out


def token_stats(
    rows: Sequence[dict[str, Any]], tokenizer: Any, chat_template: bool = True
) -> Any:
    """Per-row token counts: input, output, total (= input + output) and templated (01_data_quality).

    Returns a pandas DataFrame with columns ``line, id, input_tokens, output_tokens,
    total_tokens`` and, when ``chat_template`` and the tokenizer has one, ``templated_tokens``
    (the whole chat-formatted example, special tokens included: what training really pays for).
    """
    import pandas as pd

    rows = list(rows)
    n_in = _lengths(tokenizer, [r["input"] for r in rows])
    n_out = _lengths(tokenizer, [r["output"] for r in rows])
    df = pd.DataFrame({
        "line": [r.get("line", i + 1) for i, r in enumerate(rows)],
        "id": [r.get("id", "") for r in rows],
        "input_tokens": n_in,
        "output_tokens": n_out,
    })
    df["total_tokens"] = df["input_tokens"] + df["output_tokens"]
    if chat_template and getattr(tokenizer, "chat_template", None):
        df["templated_tokens"] = _lengths(tokenizer, _chat_texts(tokenizer, rows))
    return df


def summarise_tokens(stats: Any, max_seq_len: int | None = None) -> dict[str, Any]:
    """Mean, median, p95 and max of the token columns, and how many rows exceed ``max_seq_len`` (01)."""
    col = "templated_tokens" if "templated_tokens" in stats else "total_tokens"
    out: dict[str, Any] = {"rows": int(len(stats)), "column": col}
    if len(stats):
        s = stats[col]
        out.update(
            mean=round(float(s.mean()), 1), median=float(s.median()),
            p95=float(s.quantile(0.95)), max=int(s.max()), total=int(s.sum()),
        )
    if max_seq_len:
        out["max_seq_len"] = int(max_seq_len)
        out["over_limit"] = int((stats["total_tokens"] > max_seq_len).sum()) if len(stats) else 0
    return out


def length_histogram(stats: Any, max_seq_len: int | None = None, bins: int = 40, title: str | None = None) -> Any:
    """A matplotlib Figure: histogram of tokens per row, with the profile's limit as a line (01)."""
    import matplotlib.pyplot as plt

    col = "templated_tokens" if "templated_tokens" in stats else "total_tokens"
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(stats["input_tokens"], bins=bins, alpha=0.55, label="input")
    ax.hist(stats["output_tokens"], bins=bins, alpha=0.55, label="output")
    ax.hist(stats[col], bins=bins, histtype="step", linewidth=1.6, color="black", label=col.replace("_", " "))
    if max_seq_len:
        ax.axvline(max_seq_len, color="crimson", linestyle="--", label=f"max_seq_len = {max_seq_len}")
    ax.set_xlabel("tokens per row")
    ax.set_ylabel("rows")
    ax.set_title(title or f"Token lengths ({len(stats)} rows)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def estimate_training(stats: Any, profile: Profile, epochs: float | None = None) -> dict[str, Any]:
    """Training time and cost: tokens x epochs / profile.train_tokens_per_s, x price per hour (01).

    Uses the templated length when present (capped at ``max_seq_len``, as training truncates),
    else input + output tokens. The speed and price are the profile's measured figures, so this
    is an estimate of the order of magnitude, not a quote.
    """
    col = "templated_tokens" if "templated_tokens" in stats else "total_tokens"
    epochs = float(epochs if epochs is not None else profile.epochs)
    per_row = stats[col].clip(upper=profile.max_seq_len) if len(stats) else stats[col]
    tokens = int(per_row.sum())
    seconds = tokens * epochs / float(profile.train_tokens_per_s)
    hours = seconds / 3600.0
    return {
        "profile": profile.name,
        "rows": int(len(stats)),
        "tokens_per_epoch": tokens,
        "epochs": epochs,
        "train_tokens_per_s": float(profile.train_tokens_per_s),
        "seconds": round(seconds, 1),
        "hours": round(hours, 3),
        "price_per_hour_usd": float(profile.price_per_hour_usd),
        "cost_usd": round(hours * float(profile.price_per_hour_usd), 2),
    }
