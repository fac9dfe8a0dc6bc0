"""Merge an adapter into its base model for serving (06_ship_it).

The merge happens in the base's compute precision, never in 4-bit: a QLoRA adapter was trained
on NF4-rounded base weights, and merging into 4-bit weights would round the LoRA update to the
4-bit grid too. So the base is loaded *unquantised* (bf16 on a GPU profile, fp32 on CPU), the
adapter is added with peft's ``merge_and_unload``, and the result is saved as safetensors with
the tokenizer, its chat template, EOS and pad token. The caveat that remains (the adapter was
trained against NF4 weights, the merged model holds the unrounded ones) is measured by
:func:`helpers.export.check.export_run`, not assumed away.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.core.errors import SettingsError
from helpers.training.artifacts import load_adapter

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass
class MergeResult:
    """The merged folder, how long the merge took and its size on disk (06_ship_it)."""

    path: Path
    seconds: float
    bytes: int
    dtype: str


def check_adapter(adapter_dir: str | Path) -> Path:
    """The adapter folder, or :class:`SettingsError` naming the fix when it is missing or damaged (06_ship_it)."""
    adapter_dir = Path(adapter_dir)
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.exists():
        raise SettingsError(f"no adapter in {adapter_dir}: run notebooks/03_qlora_training.ipynb first")
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict) or "peft_type" not in config:
            raise ValueError("no peft_type")
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as fh:
            if not list(fh.keys()):
                raise ValueError("no tensors")
    except Exception as exc:  # noqa: BLE001 - any unreadable piece means the same fix
        raise SettingsError(
            f"the adapter in {adapter_dir} is damaged ({type(exc).__name__}): train it again with "
            f"notebooks/03_qlora_training.ipynb (or `python -m helpers train --run ...`) or restore a copy"
        ) from None
    return adapter_dir


def folder_bytes(path: str | Path) -> int:
    """Total size of the files in a folder (06_ship_it)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def serving_tokenizer(adapter_dir: Path, base_path: Path) -> Any:
    """The tokenizer saved with the adapter (else the base's) with pad set, for the merged folder (06_ship_it)."""
    from transformers import AutoTokenizer

    src = adapter_dir if all((adapter_dir / f).exists() for f in _TOKENIZER_FILES) else base_path
    tokenizer = AutoTokenizer.from_pretrained(str(src), trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise SettingsError(f"the tokenizer in {src} has no chat template: save the base model's tokenizer with the adapter")
    return tokenizer


def save_merged(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save a merged model + tokenizer + generation config through a temp folder and a rename (06_ship_it).

    The generation config stops at every end-of-turn token of the chat template (not only EOS),
    so a server or llama.cpp that reads it stops where the course's own generation stops.
    """
    from helpers.prompting.generation import stop_token_ids

    target = Path(target)
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        stops = stop_token_ids(tokenizer)
        model.config.eos_token_id = stops[0] if len(stops) == 1 else stops
        model.config.pad_token_id = tokenizer.pad_token_id
        gen = model.generation_config
        gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = stops, tokenizer.pad_token_id, tokenizer.bos_token_id
        gen.do_sample, gen.temperature, gen.top_p, gen.top_k = False, None, None, None
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def merge_adapter(profile: Profile, adapter_dir: str | Path, target: str | Path) -> MergeResult:
    """Merge ``adapter_dir`` into the profile's base loaded unquantised, and save it to ``target`` (06_ship_it).

    On a GPU profile the adapter was trained on the NF4 base; the merge uses the same base in
    bf16 on CUDA. The folder loads with plain ``AutoModelForCausalLM.from_pretrained(target)``.
    """
    from helpers.core.models import load_causal_lm, local_model_path, weights_dtype

    t0 = time.perf_counter()
    adapter_dir = check_adapter(adapter_dir)
    base = load_causal_lm(profile, quantization="none")  # bf16/fp32 weights, not 4-bit
    try:
        merged = load_adapter(base, adapter_dir).merge_and_unload()
    except (RuntimeError, ValueError, KeyError) as exc:
        raise SettingsError(
            f"the adapter in {adapter_dir} does not fit the base model {profile.model} ({type(exc).__name__}): "
            f"export with the profile the adapter was trained with"
        ) from None
    tokenizer = serving_tokenizer(adapter_dir, local_model_path(profile.model))
    path = save_merged(merged, tokenizer, Path(target))
    return MergeResult(path, round(time.perf_counter() - t0, 2), folder_bytes(path), weights_dtype(profile))


def merge_for_serving(base_model_fp: Any, adapter_dir: Path, target: Path) -> Path:
    """Merge an adapter into a full-precision base you loaded yourself, and save it (06_ship_it).

    Load the base in bf16/fp32 (not 4-bit) first. :func:`merge_adapter` does the loading for a
    profile and also saves the tokenizer; this is the bare peft call.
    """
    merged = load_adapter(base_model_fp, check_adapter(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(target), safe_serialization=True)
    return Path(target)
