"""Preflight for notebook 03: will this training run fit, how long will it take, what will it cost?

Introduced in ``03_qlora_training.ipynb``. The memory and time model lives in
:mod:`helpers.training.preflight` (calibrated against measured GPU runs); this module applies it to the
current profile, settings and data, and renders the verdict and the GPU table as HTML.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.core.models import local_model_path
from helpers.training.settings import TrainSettings


def model_shape(profile: Profile) -> dict[str, Any]:
    """The model's config (layers, hidden size, vocabulary...) from its local folder (03)."""
    path = local_model_path(profile.model)
    return json.loads((path / "config.json").read_text(encoding="utf-8"))


def mean_tokens(tokenizer: Any, rows: Sequence[dict[str, Any]], limit: int = 200) -> float:
    """Mean tokens per training example (prompt + answer) on a sample of rows (03)."""
    from helpers.training.dataset import encode_example

    sample = list(rows)[:limit]
    if not sample:
        return 0.0
    return sum(len(encode_example(tokenizer, r)["input_ids"]) for r in sample) / len(sample)


def preflight_report(
    profile: Profile, s: TrainSettings, n_train_rows: int, tokenizer: Any = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Memory, time and cost before training, with warnings naming the settings to change (03)."""
    from helpers.training import preflight

    shape = model_shape(profile)
    tokens = mean_tokens(tokenizer, rows) if tokenizer is not None and rows else s.max_seq_len * 0.5
    est = preflight.estimate_for_settings(shape, s, mean_tokens=tokens, device=profile.device)
    plan = preflight.plan_time_cost(
        n_rows=n_train_rows, mean_tokens=tokens, epochs=s.epochs, max_steps=s.max_steps,
        batch_size=s.batch_size * s.grad_accum, tokens_per_s=profile.train_tokens_per_s,
        price_per_hour=profile.price_per_hour_usd,
    )
    fit = preflight.fits(est, profile.device)
    table = preflight.gpu_table(shape, s, mean_tokens=tokens)
    named = ", ".join(f"{k}={getattr(s, k)}" for k in ("batch_size", "max_seq_len", "lora_r", "lora_targets",
                                                       "gradient_checkpointing", "quantization"))
    html = f"<p>Settings: <code>{named}</code></p>" + preflight.report_html(est, plan, fit, table)
    return {"estimate": est, "plan": plan, "fit": fit, "gpu_table": table, "html": html}
