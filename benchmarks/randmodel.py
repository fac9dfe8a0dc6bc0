"""Random-weight models of real shapes for the benchmarks (guide/hardware_and_cost.md).

The benchmarks need the *shape* of Llama-3-8B or Qwen2.5-14B, not their weights: speed and memory
do not depend on the values. A model is built from a config in ``benchmarks/configs/`` with
random weights directly on the device, then every ``nn.Linear`` except ``lm_head`` is replaced by
a bitsandbytes ``Linear4bit`` holding NF4 + double-quantised weights with bf16 compute: the same
modules, storage and kernels that ``from_pretrained(..., quantization_config=bnb_config())``
produces, without writing and re-reading a 16-30 GB random checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_shape(name_or_path: str) -> dict[str, Any]:
    """A config dict from ``benchmarks/configs/<name>.json`` or a path."""
    path = Path(name_or_path)
    if not path.exists():
        path = CONFIG_DIR / f"{name_or_path}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def make_config(shape: dict[str, Any]) -> Any:
    """A transformers config object for a shape dict (SDPA attention)."""
    from transformers import AutoConfig

    shape = dict(shape)
    model_type = shape.pop("model_type")
    config = AutoConfig.for_model(model_type, **shape)
    config.use_cache = False
    return config


def quantize_linears_nf4(model: Any, compute_dtype: Any, skip: tuple[str, ...] = ("lm_head",)) -> int:
    """Replace each ``nn.Linear`` (except ``skip``) by an NF4 ``bnb.nn.Linear4bit``, quantising on its device."""
    import bitsandbytes as bnb
    import torch

    count = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or child_name in skip:
                continue
            device = child.weight.device
            new = bnb.nn.Linear4bit(
                child.in_features, child.out_features, bias=child.bias is not None,
                compute_dtype=compute_dtype, compress_statistics=True, quant_type="nf4",
                quant_storage=torch.uint8, device="meta",
            )
            new.weight = bnb.nn.Params4bit(
                child.weight.data.to(compute_dtype), requires_grad=False, compress_statistics=True,
                quant_type="nf4", quant_storage=torch.uint8, module=new,
            ).to(device)
            if child.bias is not None:
                new.bias = torch.nn.Parameter(child.bias.data.to(compute_dtype), requires_grad=False)
            new.train(child.training)
            setattr(parent, child_name, new)
            count += 1
    return count


def mark_as_bnb_4bit(model: Any, compute_dtype: str = "bfloat16") -> None:
    """Set the attributes ``from_pretrained`` sets on a bitsandbytes 4-bit model (peft and Trainer read them)."""
    from transformers.quantizers.auto import AutoHfQuantizer

    from helpers.core.models import bnb_config

    qconfig = bnb_config(compute_dtype)
    model.config.quantization_config = qconfig
    model.hf_quantizer = AutoHfQuantizer.from_config(qconfig, pre_quantized=False)
    model.is_loaded_in_4bit = True
    model.quantization_method = "bitsandbytes"


def build_random_model(shape: dict[str, Any], device: str, quantize: bool, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """A random-weight causal LM of ``shape`` on ``device``: NF4 QLoRA base on CUDA, fp32 on CPU.

    Returns the model and facts about it (build seconds, parameter counts for MFU).
    """
    import torch
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    config = make_config(shape)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    counts = count_matmul_params(model)
    n_quantized = 0
    if quantize:
        n_quantized = quantize_linears_nf4(model, compute_dtype=torch.bfloat16)
        mark_as_bnb_4bit(model, "bfloat16")
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    facts = {
        "build_s": round(time.perf_counter() - t0, 2),
        "quantized_linears": n_quantized,
        **counts,
    }
    return model, facts


def count_matmul_params(model: Any) -> dict[str, int]:
    """Weights that take part in matrix products per token (decoder linears + lm_head), and the rest."""
    import torch

    linear = 0
    lm_head = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            n = module.weight.numel()
            if name.endswith("lm_head"):
                lm_head += n
            else:
                linear += n
    total = sum(p.numel() for p in model.parameters())
    return {"params_total": total, "params_decoder_linear": linear, "params_lm_head": lm_head}


def lengths_from_batch(batch: dict[str, Any]) -> list[int]:
    """Sequence lengths in a padded (attention_mask) or packed (position_ids) batch."""
    mask = batch.get("attention_mask")
    if mask is not None:
        return [int(v) for v in mask.sum(dim=1).tolist()]
    lengths: list[int] = []
    for row in batch["position_ids"].tolist():
        run = 0
        for p in row:
            if p == 0 and run:
                lengths.append(run)
                run = 0
            run += 1
        if run:
            lengths.append(run)
    return lengths
