"""Efficient QLoRA training: every speed or memory technique of the course, each one a switch.

Introduced in ``03_qlora_training.ipynb`` (and measured in ``guide/hardware_and_cost.md``).
``helpers.training.train`` imports the pieces from here, so this module is the single home of:

* **padding-free packing** (:func:`pack_examples`, :func:`collate_packed`): whole examples are
  packed into one row of at most ``max_tokens`` tokens; ``position_ids`` restart at 0 for each
  example, and transformers' SDPA attention turns restarting positions into a block-diagonal
  causal mask, so examples never see each other. No pad token is ever computed.
* **Liger kernels** (:func:`apply_liger`): Triton RMSNorm, SwiGLU and RoPE patched onto *one*
  model instance (reversibly), and a fused linear + cross-entropy loss
  (:func:`causal_lm_loss`) that never materialises the ``tokens x vocab`` logits. They run on
  the 4-bit base model with LoRA adapters because they touch only norms, activations, rotary
  embeddings and the (unquantised) ``lm_head``. Without a GPU (or without ``liger-kernel``)
  the loss falls back to a chunked PyTorch cross-entropy with the same memory behaviour.
* **no needless fp32 upcast** (:func:`prepare_for_training`): peft's
  ``prepare_model_for_kbit_training`` casts embeddings, norms and ``lm_head`` to fp32; the recipe
  only freezes the base model and keeps them in bf16 (the norms compute in fp32 internally).
* **bf16 LoRA weights** (:func:`cast_adapters`, ``adapter_dtype``): no fp32 casts around every
  LoRA layer; the largest single speed-up after packing on an H200.
* **gradient checkpointing only when memory needs it**, non-reentrant when on.
* **paged 8-bit AdamW** (``optim="paged_adamw_8bit"``) through :func:`training_arguments_kwargs`.
* **SDPA attention** (``attn_implementation="sdpa"``, transformers' default).

Nothing heavy is imported at module level.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

IGNORE_INDEX = -100
CHECKPOINTING_MODES = ("off", "reentrant", "non-reentrant")
ADAPTER_DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class EfficiencyConfig:
    """Which techniques a training run uses; every field is one switch (03_qlora_training)."""

    packing: bool = True  # padding-free packing with restarting position_ids
    liger: bool = True  # Liger RMSNorm + SwiGLU + RoPE kernels
    fused_loss: bool = True  # fused linear cross-entropy (Liger; chunked PyTorch fallback)
    upcast: bool = False  # peft's prepare_model_for_kbit_training fp32 upcast
    checkpointing: str = "non-reentrant"  # "off", "reentrant" or "non-reentrant"
    checkpoint_every: int = 1  # checkpoint every n-th decoder layer (transformers >= 5.24)
    optim: str = "paged_adamw_8bit"  # a transformers TrainingArguments.optim name
    attn_implementation: str = "sdpa"
    adapter_dtype: str = "float32"  # "bfloat16": LoRA weights in bf16 (no fp32 master copy; see cast_adapters)

    def __post_init__(self) -> None:
        if self.adapter_dtype not in ADAPTER_DTYPES:
            raise ValueError(f"adapter_dtype must be one of {', '.join(ADAPTER_DTYPES)}, not {self.adapter_dtype!r}")
        if self.checkpointing not in CHECKPOINTING_MODES:
            raise ValueError(
                f"checkpointing must be one of {', '.join(CHECKPOINTING_MODES)}, "
                f"not {self.checkpointing!r}"
            )

    def replace(self, **changes: Any) -> "EfficiencyConfig":
        """A copy with some switches changed (03_qlora_training)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for run cards and benchmark results (03_qlora_training)."""
        return dataclasses.asdict(self)


#: The plain setup most QLoRA tutorials use: fp32 upcast, padded batches, reentrant checkpointing.
BASELINE = EfficiencyConfig(
    packing=False, liger=False, fused_loss=False, upcast=True, checkpointing="reentrant",
    optim="adamw_torch",
)
#: The course's recipe on a 24 GB card: every technique on, checkpointing because memory needs it.
RECIPE = EfficiencyConfig()
#: The same recipe where memory is plentiful (80 GB and up): no checkpointing, fastest.
RECIPE_NO_CHECKPOINTING = RECIPE.replace(checkpointing="off")


def recipe_for(gpu_memory_gib: float | None, need_gib_without_checkpointing: float | None = None) -> EfficiencyConfig:
    """The recipe for a card: checkpointing only when the estimate says memory needs it (03_qlora_training).

    ``need_gib_without_checkpointing`` comes from :func:`helpers.training.preflight.estimate_memory`;
    without it, cards under 80 GiB keep checkpointing on.
    """
    if gpu_memory_gib is None:
        return RECIPE
    if need_gib_without_checkpointing is None:
        return RECIPE_NO_CHECKPOINTING if gpu_memory_gib >= 79 else RECIPE
    headroom = 0.9 * gpu_memory_gib
    return RECIPE_NO_CHECKPOINTING if need_gib_without_checkpointing <= headroom else RECIPE


def liger_available() -> bool:
    """True when liger-kernel is installed and a CUDA GPU is visible (03_qlora_training)."""
    if importlib.util.find_spec("liger_kernel") is None:
        return False
    import torch

    return torch.cuda.is_available()


# --------------------------------------------------------------------------------------------
# Data: packing and padding
# --------------------------------------------------------------------------------------------


def pack_examples(
    examples: Sequence[dict[str, Sequence[int]]], max_tokens: int, shuffle_seed: int | None = 0
) -> list[dict[str, list[int]]]:
    """Pack whole examples into rows of at most ``max_tokens`` tokens, padding-free (03_qlora_training).

    Each example needs ``input_ids`` and ``labels`` (``-100`` on prompt tokens for answer-only
    loss). First-fit decreasing fills rows tightly; longer examples are truncated to
    ``max_tokens``. Every row gets ``position_ids`` that restart at 0 for each example, and the
    first label of each example is set to ``-100`` so no token learns to predict across an
    example boundary. Rows are shuffled with ``shuffle_seed`` (``None`` keeps the fill order).
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    items = [(list(e["input_ids"])[:max_tokens], list(e["labels"])[:max_tokens]) for e in examples]
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]), reverse=True)
    rows: list[list[int]] = []  # indices of examples in each row
    room: list[int] = []
    for i in order:
        n = len(items[i][0])
        if n == 0:
            continue
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(max_tokens - n)
    packed = []
    for members in rows:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for i in members:
            x, y = items[i]
            ids += x
            labels += [IGNORE_INDEX] + y[1:]
            positions += list(range(len(x)))
        packed.append({"input_ids": ids, "labels": labels, "position_ids": positions})
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(packed)
    return packed


def collate_packed(
    rows: Sequence[dict[str, Sequence[int]]], pad_token_id: int = 0, pad_to: int | None = None
) -> dict[str, Any]:
    """Stack packed rows into a ``(rows, longest)`` batch with no attention mask (03_qlora_training).

    Like transformers' ``DataCollatorWithFlattening``, positions restart at 0 for each example
    and the attention implementation derives a block-diagonal causal mask from them. A row shorter
    than the longest gets a tail of ``pad_token_id`` tokens numbered as one more (ignored)
    sequence with ``-100`` labels, so it attends to nothing real. Rows of ``seq_len`` tokens
    (rather than one long flattened row) keep attention cost at ``rows x seq_len^2``.

    ``pad_to`` (the packing length) gives every batch the same shape. On an H200 with torch 2.11,
    SDPA's cuDNN backend spent 2-3 s planning each new sequence length (benchmarks/results), so
    a fixed shape costs ~1% padding and saves those stalls.
    """
    import torch

    width = max([len(r["input_ids"]) for r in rows] + [pad_to or 0])
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[i, :n] = torch.tensor(list(row["input_ids"]))
        labels[i, :n] = torch.tensor(list(row["labels"]))
        pos = list(row.get("position_ids") or range(n))
        positions[i, :n] = torch.tensor(pos)
        positions[i, n:] = torch.arange(width - n)
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def collate_padded(
    rows: Sequence[dict[str, Sequence[int]]], pad_token_id: int, max_tokens: int | None = None
) -> dict[str, Any]:
    """Right-pad a batch to its longest example, with an attention mask: the plain way (03_qlora_training)."""
    import torch

    seqs = [list(r["input_ids"])[:max_tokens] if max_tokens else list(r["input_ids"]) for r in rows]
    labs = [list(r["labels"])[: len(s)] for r, s in zip(rows, seqs)]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, y) in enumerate(zip(seqs, labs)):
        ids[i, : len(s)] = torch.tensor(s)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(s)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def make_collator(config: EfficiencyConfig, pad_token_id: int, max_tokens: int | None = None) -> Callable[[Sequence[dict]], dict]:
    """The collator that matches ``config.packing`` (03_qlora_training).

    Packed rows are padded to ``max_tokens`` (one shape for every batch); unpacked batches are
    padded to their longest example and ignore ``max_tokens``.
    """
    if config.packing:
        return lambda rows: collate_packed(rows, pad_token_id, pad_to=max_tokens)
    return lambda rows: collate_padded(rows, pad_token_id)


def batch_token_counts(batch: dict[str, Any], pad_token_id: int | None = None) -> dict[str, int]:
    """Real, computed and trained (labelled) tokens in a batch, to report padding waste (03_qlora_training).

    Real tokens are those under the attention mask, or (packed batches) those that are not
    ``pad_token_id``.
    """
    ids = batch["input_ids"]
    computed = int(ids.numel())
    mask = batch.get("attention_mask")
    if mask is not None:
        real = int(mask.sum())
    elif pad_token_id is not None:
        real = int((ids != pad_token_id).sum())
    else:
        real = computed
    trained = int((batch["labels"] != IGNORE_INDEX).sum())
    return {"real": real, "computed": computed, "trained": trained}


# --------------------------------------------------------------------------------------------
# Model preparation
# --------------------------------------------------------------------------------------------


def prepare_for_training(model: Any, config: EfficiencyConfig) -> Any:
    """Freeze the quantised base model and set checkpointing, before LoRA is added (03_qlora_training).

    With ``config.upcast`` this is peft's ``prepare_model_for_kbit_training`` (fp32 copies of
    embeddings, norms and ``lm_head``); without it, only the freezing and checkpointing happen.
    """
    if config.upcast:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.checkpointing != "off",
            gradient_checkpointing_kwargs={"use_reentrant": config.checkpointing == "reentrant"},
        )
        return model
    for param in model.parameters():
        param.requires_grad_(False)
    set_checkpointing(model, config.checkpointing, config.checkpoint_every)
    return model


def prepare_quantized_for_training(
    model: Any, use_gradient_checkpointing: bool = True, gradient_checkpointing_kwargs: dict[str, Any] | None = None,
    config: EfficiencyConfig | None = None,
) -> Any:
    """Drop-in for peft's ``prepare_model_for_kbit_training`` without the fp32 upcast (03_qlora_training).

    Same arguments as peft's helper; ``config`` (default :data:`RECIPE`) supplies the rest.
    """
    kwargs = gradient_checkpointing_kwargs or {}
    mode = "off"
    if use_gradient_checkpointing:
        mode = "reentrant" if kwargs.get("use_reentrant", False) else "non-reentrant"
    config = (config or RECIPE).replace(checkpointing=mode, upcast=False)
    return prepare_for_training(model, config)


def set_checkpointing(model: Any, mode: str, every_n_layers: int = 1) -> None:
    """Turn gradient checkpointing off, or on in reentrant or non-reentrant mode (03_qlora_training).

    ``every_n_layers`` > 1 checkpoints only every n-th decoder layer: less recomputation for
    more memory (needs transformers' ``activation_checkpointing_enable``, 5.24 and later).
    """
    if mode not in CHECKPOINTING_MODES:
        raise ValueError(f"checkpointing must be one of {', '.join(CHECKPOINTING_MODES)}")
    # transformers 5.24 renamed gradient_* to activation_checkpointing_*; accept both.
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
    if mode == "off":
        disable()
        return
    reentrant = mode == "reentrant"
    if every_n_layers > 1:
        if not hasattr(model, "activation_checkpointing_enable"):
            raise ValueError("checkpoint_every > 1 needs transformers >= 5.24")
        enable({"use_reentrant": reentrant}, every_n_layers=every_n_layers)
    else:
        enable({"use_reentrant": reentrant})
    if reentrant:
        # Reentrant checkpointing needs an input that requires grad, or LoRA gets none.
        model.enable_input_require_grads()
    model.config.use_cache = False


def cast_adapters(model: Any, dtype: str) -> int:
    """Cast the trainable (LoRA) weights to ``dtype``; returns how many tensors changed (03_qlora_training).

    peft keeps adapters in fp32 by default, so every LoRA layer casts its bf16 input up and its
    output back, and the weight-gradient GEMMs run in fp32. ``"bfloat16"`` removes those casts
    and GEMMs (measured in guide/hardware_and_cost.md). The catch: the optimiser then updates
    bf16 weights directly, with no fp32 master copy, so updates smaller than bf16's resolution
    (about 1/256 of a weight) are lost. Fine for short fine-tunes at LoRA learning rates; keep
    ``"float32"`` (the default) when a run is long or the loss stalls.
    """
    import torch

    target = getattr(torch, dtype)
    changed = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != target:
            param.data = param.data.to(target)
            changed += 1
    return changed


def _is_rmsnorm(module: Any) -> bool:
    return type(module).__name__.endswith("RMSNorm") and hasattr(module, "weight")


def _is_swiglu_mlp(module: Any) -> bool:
    act = getattr(module, "act_fn", None)
    return (
        all(hasattr(module, n) for n in ("gate_proj", "up_proj", "down_proj"))
        and act is not None
        and type(act).__name__ in ("SiLU", "SiLUActivation")
    )


def apply_liger(model: Any, rms_norm: bool = True, swiglu: bool = True, rope: bool = True) -> Callable[[], None]:
    """Patch Liger's Triton RMSNorm, SwiGLU and RoPE onto one model; returns an undo function (03_qlora_training).

    Only this model's modules change (their ``forward``), plus the model family's
    ``apply_rotary_pos_emb`` while the patch is on. Works under peft: the LoRA-wrapped
    ``gate_proj``/``up_proj``/``down_proj`` are still called as modules.
    """
    import sys
    import types

    from liger_kernel.transformers.functional import liger_rms_norm, liger_rope, liger_swiglu

    undo: list[Callable[[], None]] = []

    def norm_forward(self: Any, hidden_states: Any) -> Any:
        eps = getattr(self, "variance_epsilon", getattr(self, "eps", 1e-6))
        return liger_rms_norm(hidden_states, self.weight, eps, 0.0, "llama", False)

    def mlp_forward(self: Any, x: Any) -> Any:
        return self.down_proj(liger_swiglu(self.gate_proj(x), self.up_proj(x)))

    for module in model.modules():
        if rms_norm and _is_rmsnorm(module):
            module.forward = types.MethodType(norm_forward, module)
        elif swiglu and _is_swiglu_mlp(module):
            module.forward = types.MethodType(mlp_forward, module)
        else:
            continue
        undo.append(lambda m=module: m.__dict__.pop("forward", None))

    if rope:
        base = model
        while hasattr(base, "base_model") and base.base_model is not base:
            base = base.base_model
        mod_name = type(getattr(base, "model", base)).__module__
        family = sys.modules.get(mod_name)
        if family is not None and hasattr(family, "apply_rotary_pos_emb"):
            original = family.apply_rotary_pos_emb

            def rope_fn(q: Any, k: Any, cos: Any, sin: Any, *args: Any, **kwargs: Any) -> Any:
                unsqueeze_dim = kwargs.get("unsqueeze_dim", 1)
                if args and isinstance(args[-1], int):  # (q, k, cos, sin, [position_ids,] unsqueeze_dim)
                    unsqueeze_dim = args[-1]
                return liger_rope(q, k, cos, sin, None, unsqueeze_dim)

            family.apply_rotary_pos_emb = rope_fn
            undo.append(lambda f=family, o=original: setattr(f, "apply_rotary_pos_emb", o))

    def restore() -> None:
        for fn in reversed(undo):
            fn()

    return restore


def _causal_lm_parts(model: Any) -> tuple[Any, Any]:
    """The decoder stack and ``lm_head`` of a (possibly peft-wrapped) causal LM."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    lm = getattr(lm, "module", lm)  # DDP / accelerate wrappers
    decoder = getattr(lm, "model", None)
    head = getattr(lm, "lm_head", None)
    if decoder is None or head is None or hasattr(decoder, "lm_head"):
        raise TypeError("expected a causal LM with .model and .lm_head (LLaMA/Qwen/Mistral style)")
    return decoder, head


def chunked_cross_entropy(hidden: Any, weight: Any, targets: Any, chunk: int = 1024, reduction: str = "mean") -> Any:
    """Cross-entropy over ``hidden @ weight.T`` one chunk of tokens at a time (03_qlora_training).

    Each chunk's logits are recomputed in the backward pass (checkpointing), so only one chunk's
    ``chunk x vocab`` logits exist at once: the portable fallback of the fused Liger loss.
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    def piece(h: Any, t: Any) -> Any:
        logits = F.linear(h, weight).float()
        return F.cross_entropy(logits, t, ignore_index=IGNORE_INDEX, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        h, t = hidden[start : start + chunk], targets[start : start + chunk]
        if bool((t != IGNORE_INDEX).any()):
            total = total + checkpoint(piece, h, t, use_reentrant=False)
    if reduction == "sum":
        return total
    return total / (targets != IGNORE_INDEX).sum().clamp(min=1)


def causal_lm_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None, use_liger: bool | None = None) -> Any:
    """Next-token loss without the full logits tensor (03_qlora_training).

    Runs the decoder, then a fused linear cross-entropy (Liger on a GPU, chunked PyTorch
    otherwise) on the shifted labels. With ``num_items_in_batch`` (Trainer's count over the
    gradient-accumulation window) the sum is divided by it, as transformers' own loss does.
    """
    decoder, lm_head = _causal_lm_parts(model)
    kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    hidden = decoder(**kwargs, use_cache=False).last_hidden_state
    labels = inputs["labels"]
    h = hidden[:, :-1, :].reshape(-1, hidden.shape[-1])
    t = labels[:, 1:].reshape(-1).to(h.device)
    weight = lm_head.weight
    if h.dtype != weight.dtype:
        h = h.to(weight.dtype)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    if use_liger is None:
        use_liger = liger_available() and h.is_cuda
    if use_liger:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        loss = liger_fused_linear_cross_entropy(h, weight, t, reduction=reduction)
    else:
        loss = chunked_cross_entropy(h, weight, t, reduction=reduction)
    if num_items_in_batch is not None:
        loss = loss / num_items_in_batch
    return loss


def trainer_class(config: EfficiencyConfig, base: Any = None) -> Any:
    """A ``transformers.Trainer`` subclass that uses :func:`causal_lm_loss` when ``fused_loss`` is on (03_qlora_training)."""
    if base is None:
        from transformers import Trainer as base  # noqa: N813
    if not config.fused_loss:
        return base

    class FusedLossTrainer(base):  # type: ignore[misc, valid-type]
        """Trainer whose loss never builds the tokens x vocab logits."""

        def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            loss = causal_lm_loss(model, inputs, num_items_in_batch)
            # a dict, so Trainer's evaluation finds no logits to gather (there are none)
            return (loss, {"loss": loss}) if return_outputs else loss

    return FusedLossTrainer


def training_arguments_kwargs(config: EfficiencyConfig, bf16: bool = True) -> dict[str, Any]:
    """The ``TrainingArguments`` fields the recipe sets (03_qlora_training).

    Checkpointing is set on the model by :func:`prepare_for_training` (leave Trainer's own
    checkpointing flag off); ``remove_unused_columns=False`` keeps ``position_ids`` for packing.
    """
    return {
        "optim": config.optim,
        "bf16": bf16,
        "remove_unused_columns": False,
    }


def technique_names(config: EfficiencyConfig) -> list[str]:
    """Short names of the techniques a config turns on, for tables (03_qlora_training)."""
    on = []
    if config.packing:
        on.append("packing")
    if config.liger:
        on.append("liger")
    if config.fused_loss:
        on.append("fused-CE")
    if not config.upcast:
        on.append("no-upcast")
    every = f"/{config.checkpoint_every}" if config.checkpoint_every > 1 else ""
    on.append(f"ckpt-{config.checkpointing}{every}")
    on.append(config.optim)
    if config.adapter_dtype != "float32":
        on.append(f"{config.adapter_dtype}-adapters")
    return on
