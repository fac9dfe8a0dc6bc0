"""Preflight estimates: will a QLoRA run fit in GPU memory, how long will it take, what will it cost?

Introduced in ``03_qlora_training.ipynb``; the measurements behind every constant are in
``benchmarks/results/*.json`` and ``guide/hardware_and_cost.md``. Pure arithmetic: nothing here
touches a GPU, so a learner can plan a run on a laptop.

Memory model (bytes, peak of one training step, ``T`` = tokens in a micro-batch):

* weights: NF4 linears at 0.516 bytes/parameter (4 bits + double-quantised block scales), the
  rest (embeddings, ``lm_head``, norms) at 2 bytes (bf16), 4 bytes when upcast to fp32;
* LoRA: weights + gradients in the adapter dtype (fp32 4+4 bytes, bf16 2+2) + optimiser state
  (8-bit Adam 2 bytes, 32-bit Adam two states in the weights' dtype);
* activations per token and layer: ``34 d + 10 d_ff`` bytes without checkpointing (fitted on the
  Llama-3-8B shape, checked within 2% on Qwen2.5-14B: LoRA all-linear r=16 with dropout 0.05,
  fp32 adapters, bf16 autocast), times 0.66 with bf16 adapters (no fp32 copies of each LoRA
  layer's input) and times 0.82 with LoRA dropout 0 (no dropped copy of the input); with
  checkpointing, ``2 d`` bytes per layer are kept (``4 d`` with fp32 upcast) plus one layer's
  full activations during its recomputation;
* loss: ``14 x vocab`` bytes per token for the plain loss (bf16 logits, their fp32 copy,
  log-softmax and gradient); ~0 for the fused linear cross-entropy;
* 0.35 GiB of workspace (cuBLAS, one dequantised weight, allocator slack);
* reserved = allocated x 1.05 for fixed shapes (packing), x 1.3 when every batch has a new shape.
"""

from __future__ import annotations

import html as html_lib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from helpers.training.settings import TrainSettings, target_modules

GIB = 2**30
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)
ACT_BYTES_PER_D = 34.0
ACT_BYTES_PER_DFF = 10.0
PLAIN_LOSS_BYTES_PER_VOCAB = 14.0
WORKSPACE_GIB = 0.35
RESERVED_FIXED = 1.05
RESERVED_VARIABLE = 1.3
#: Activation factors fitted on H200 runs of the recipe (benchmarks/results/qlora_h200_mfu.json and
#: the fresh-process qlora_h200_fresh_*max*.json files): bf16 adapters alone 0.68, dropout 0 alone
#: 0.86 (one in-process run each), both together 0.54 in fresh processes.
ADAPTER_BF16_ACT_FACTOR = 0.66
DROPOUT_OFF_ACT_FACTOR = 0.82
#: Achieved model-FLOPs utilisation through the course's trainer (TRL's SFTTrainer), measured on an
#: H200, Llama-3-8B shape, 2 x 2048: with checkpointing, the GPU profiles' own switches (fixed-shape
#: rows, Liger, paged 8-bit AdamW, dropout 0.05: trl-docs+liger+fixed-rows, 24.9%,
#: qlora_h200_trl_llama3-8b_switches.json); without checkpointing recipe-max (40.2%,
#: qlora_h200_trl_llama3-8b.json; dropout 0 and fused AdamW, the nearest measured row).
MEASURED_MFU = {"checkpointing": 0.249, "no-checkpointing": 0.402}
#: An H200 reached 771 of its 989 datasheet bf16 TFLOP/s in a large matmul; other cards are
#: assumed to reach the same fraction of their datasheet rate.
ACHIEVABLE_FRACTION = 771 / 989
#: A GPU profile is chosen when its estimate is at most this share of the card's usable memory (the
#: rest is headroom for the estimate's error, fragmentation and generation's KV cache).
HEADROOM_FRACTION = 0.85
CUDA_CONTEXT_GIB = 0.7
#: The config.json sizes of the GPU profiles' models (from their hub pages), so a profile can be
#: planned and chosen before its weights are downloaded.
KNOWN_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-7b-instruct": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                                num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "qwen2.5-14b-instruct": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40,
                                 num_key_value_heads=8, vocab_size=152064, tie_word_embeddings=False),
}


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory and FLOPs depend on (03_qlora_training)."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    tie_embeddings: bool = False
    head_dim: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ModelShape":
        """From a transformers ``config.json`` dict (03_qlora_training)."""
        return cls(
            hidden_size=int(config["hidden_size"]), intermediate_size=int(config["intermediate_size"]),
            num_layers=int(config["num_hidden_layers"]), num_heads=int(config["num_attention_heads"]),
            num_kv_heads=int(config.get("num_key_value_heads") or config["num_attention_heads"]),
            vocab_size=int(config["vocab_size"]), tie_embeddings=bool(config.get("tie_word_embeddings", False)),
            head_dim=config.get("head_dim"),
        )

    @property
    def d_head(self) -> int:
        return int(self.head_dim or self.hidden_size // self.num_heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one decoder layer."""
        d, f, h = self.hidden_size, self.intermediate_size, self.d_head
        return {
            "q_proj": (d, self.num_heads * h), "k_proj": (d, self.num_kv_heads * h),
            "v_proj": (d, self.num_kv_heads * h), "o_proj": (self.num_heads * h, d),
            "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d),
        }

    def decoder_linear_params(self) -> int:
        """Parameters in the decoder's linear layers (the ones NF4 quantises)."""
        return self.num_layers * sum(i * o for i, o in self.linear_shapes().values())

    def embedding_params(self) -> int:
        """Input embeddings plus ``lm_head`` (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_embeddings else 2)

    def lora_params(self, r: int, targets: str = "all-linear") -> int:
        """Trainable LoRA parameters for rank ``r`` on a target preset (03_qlora_training)."""
        names = target_modules(targets)  # the training settings' own preset table; an unknown name raises
        shapes = self.linear_shapes()
        return self.num_layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in names)

    def flops_per_token(self, r: int = 16, targets: str = "all-linear", context: float = 512) -> float:
        """Model FLOPs per trained token: 4 N_matmul + 6 N_lora + attention (benchmarks/bench_qlora.py)."""
        n_matmul = self.decoder_linear_params() + self.vocab_size * self.hidden_size
        attention = 6 * self.num_layers * self.num_heads * self.d_head * context
        return 4 * n_matmul + 6 * self.lora_params(r, targets) + attention


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak GPU memory of one training step, by part, in GiB (03_qlora_training)."""

    weights: float
    lora_and_optimizer: float
    activations: float
    loss: float
    workspace: float
    allocated: float
    reserved: float
    tokens_per_micro_batch: int
    checkpointing: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (03_qlora_training)."""
        return asdict(self)


def estimate_memory(
    shape: ModelShape | dict[str, Any], batch: int, seq_len: int, *, lora_r: int = 16,
    lora_targets: str = "all-linear", quantization: str = "nf4", checkpointing: str = "non-reentrant",
    checkpoint_every: int = 1, fused_loss: bool = True, upcast: bool = False,
    optim: str = "paged_adamw_8bit", fixed_shapes: bool = True, compute_bytes: int = 2,
    adapter_dtype: str = "float32", lora_dropout: float = 0.05,
) -> MemoryEstimate:
    """Peak memory of a QLoRA (or plain LoRA) step at ``batch x seq_len`` tokens (03_qlora_training).

    ``checkpointing`` is "off", "reentrant" or "non-reentrant"; ``compute_bytes`` is 2 for
    bf16 and 4 for fp32 (the CPU profiles). See the module docstring for the model.
    """
    if isinstance(shape, dict):
        shape = ModelShape.from_config(shape)
    tokens = batch * seq_len
    d, f, layers = shape.hidden_size, shape.intermediate_size, shape.num_layers
    if quantization == "nf4":
        weights = shape.decoder_linear_params() * NF4_BYTES_PER_PARAM
    else:
        weights = shape.decoder_linear_params() * compute_bytes
    other = shape.embedding_params() + 2 * layers * d
    weights += other * (4 if upcast else compute_bytes)
    lora = shape.lora_params(lora_r, lora_targets)
    adapter_bytes = 2 if adapter_dtype == "bfloat16" else 4
    opt_bytes = 2 if "8bit" in optim else 2 * adapter_bytes
    lora_bytes = lora * (2 * adapter_bytes + opt_bytes)
    scale = compute_bytes / 2 * (1.5 if upcast else 1.0)  # fp32 residual stream with upcast
    if adapter_dtype == "bfloat16":
        scale *= ADAPTER_BF16_ACT_FACTOR
    if lora_dropout == 0:
        scale *= DROPOUT_OFF_ACT_FACTOR
    per_layer = tokens * (ACT_BYTES_PER_D * d + ACT_BYTES_PER_DFF * f) * scale
    if checkpointing == "off":
        activations = layers * per_layer
    else:
        kept_full = layers - layers // max(1, checkpoint_every) if checkpoint_every > 1 else 0
        stored = (layers - kept_full) * tokens * d * (4 if upcast else compute_bytes)
        activations = stored + kept_full * per_layer + per_layer
    loss = tokens * d * 8 if fused_loss else tokens * shape.vocab_size * PLAIN_LOSS_BYTES_PER_VOCAB
    allocated = weights + lora_bytes + activations + loss + WORKSPACE_GIB * GIB
    reserved = allocated * (RESERVED_FIXED if fixed_shapes else RESERVED_VARIABLE)
    g = lambda b: round(b / GIB, 2)  # noqa: E731
    return MemoryEstimate(
        weights=g(weights), lora_and_optimizer=g(lora_bytes), activations=g(activations), loss=g(loss),
        workspace=WORKSPACE_GIB, allocated=g(allocated), reserved=g(reserved),
        tokens_per_micro_batch=tokens, checkpointing=checkpointing,
    )


def load_gpus() -> list[dict[str, Any]]:
    """The GPU list with dated rental prices, from ``helpers/assets/gpus.json`` (03_qlora_training)."""
    path = Path(__file__).resolve().parents[1] / "assets" / "gpus.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    sources = data["price_sources"]
    gpus = []
    for gpu in data["gpus"]:
        gpu = dict(gpu)
        gpu["prices"] = [dict(p, **{"date": sources[p["source"]]["date"], "url": sources[p["source"]]["url"]})
                         for p in gpu["prices"]]
        gpus.append(gpu)
    return gpus


def _gpu(key: str) -> dict[str, Any]:
    for gpu in load_gpus():
        if gpu["key"] == key:
            return gpu
    raise KeyError(f"unknown GPU {key!r}: use one of {', '.join(g['key'] for g in load_gpus())}")


def hourly_price(gpu: dict[str, Any], kind: str = "on_demand") -> float | None:
    """The first quoted price of a kind ("spot" or "on_demand"); range quotes give their low end (03)."""
    for p in gpu["prices"]:
        if kind in p:
            return float(p[kind])
        if kind == "on_demand" and "on_demand_low" in p:
            return float(p["on_demand_low"])
    return None


def estimate_time_cost(
    shape: ModelShape | dict[str, Any], train_tokens: float, gpu: str = "a100-80gb", *, lora_r: int = 16,
    lora_targets: str = "all-linear", context: float = 512, checkpointing: bool = True,
    mfu: float | None = None, price_kind: str = "on_demand",
) -> dict[str, Any]:
    """Hours and dollars to train on ``train_tokens`` tokens on one ``gpu`` (03_qlora_training).

    tokens/s = MFU x achievable bf16 rate / FLOPs per token, with the MFU measured for the recipe
    on an H200 unless ``mfu`` is given. An estimate, not a measurement: consumer cards and older
    software usually reach a lower MFU.
    """
    if isinstance(shape, dict):
        shape = ModelShape.from_config(shape)
    card = _gpu(gpu)
    use_mfu = mfu if mfu is not None else MEASURED_MFU["checkpointing" if checkpointing else "no-checkpointing"]
    rate = card["bf16_tflops_datasheet"] * 1e12 * ACHIEVABLE_FRACTION * use_mfu
    tps = rate / shape.flops_per_token(lora_r, lora_targets, context)
    hours = train_tokens / tps / 3600
    price = hourly_price(card, price_kind)
    return {
        "gpu": card["name"], "tokens_per_s": round(tps), "hours": round(hours, 3),
        "usd": round(hours * price, 2) if price is not None else None, "price_per_hour": price,
        "mfu_assumed": use_mfu,
    }


def gpu_table(shape: ModelShape | dict[str, Any], settings: TrainSettings | None = None, mean_tokens: float = 512, *,
              batch: int | None = None, seq_len: int | None = None, train_tokens: float = 1e6,
              lora_r: int | None = None) -> list[dict[str, Any]]:
    """For each common GPU: does the run fit, with or without checkpointing, and its time and cost (03).

    ``settings`` may be a :class:`helpers.training.settings.TrainSettings` (batch, length and rank are read
    from it); the time and cost are for ``train_tokens`` tokens (default one million).
    """
    if isinstance(shape, dict):
        shape = ModelShape.from_config(shape)
    if isinstance(settings, TrainSettings):
        base = settings
    else:  # the GPU recipe at 2 x 2048
        base = TrainSettings(quantization="nf4", compute_dtype="bfloat16", batch_size=2, max_seq_len=2048)
    base = base.replace(batch_size=batch or base.batch_size, max_seq_len=seq_len or base.max_seq_len,
                        lora_r=lora_r or base.lora_r)
    r, targets = base.lora_r, base.lora_targets
    # the same estimate notebook 03's preflight prints, for the settings as the trainer runs them
    with_ckpt = estimate_for_settings(shape, base.replace(gradient_checkpointing=True))
    without = estimate_for_settings(shape, base.replace(gradient_checkpointing=False))
    rows = []
    for gpu in load_gpus():
        usable = gpu["memory_gib"] - CUDA_CONTEXT_GIB  # CUDA context and driver
        no_ckpt_fits = without.reserved <= usable
        fits = with_ckpt.reserved <= usable
        tc = estimate_time_cost(shape, train_tokens, gpu["key"], lora_r=r, lora_targets=targets,
                                context=mean_tokens, checkpointing=not no_ckpt_fits)
        rows.append({
            "gpu": gpu["name"], "memory_gib": gpu["memory_gib"], "fits": fits,
            "checkpointing_needed": fits and not no_ckpt_fits,
            "need_gib": without.reserved if no_ckpt_fits else with_ckpt.reserved,
            "tokens_per_s": tc["tokens_per_s"] if fits else None,
            "hours_per_million_tokens": round(tc["hours"] * 1e6 / train_tokens, 3) if fits else None,
            "usd": tc["usd"] if fits else None, "price_per_hour": tc["price_per_hour"],
            "price_date": gpu["prices"][0]["date"] if gpu["prices"] else None,
        })
    return rows


# ---------------------------------------------------------------------------------------------
# The functions helpers.training.budget (notebook 03) calls
# ---------------------------------------------------------------------------------------------


def estimate_for_settings(shape: "dict[str, Any] | ModelShape", s: TrainSettings, mean_tokens: float = 512,
                          device: str = "cuda") -> MemoryEstimate:
    """Memory for a :class:`helpers.training.settings.TrainSettings` on a model config (03_qlora_training).

    The micro-batch is ``batch_size x max_seq_len`` tokens (the longest batch sets the peak).
    Read from the settings as the trainer uses them: TRL's fused LM head (no full logits), no
    fp32 upcast, bf16 LoRA weights on a 4-bit base (TRL casts them), the optimiser
    :meth:`TrainSettings.resolved_optim` picks. Packed batches (TRL's flattened rows or the course's
    fixed-shape rows) reserve x1.05 of the allocated peak: within 4% of all seven TRL-path runs in
    ``benchmarks/results/qlora_h200_trl_*.json``.
    """
    quant = s.quantization
    return estimate_memory(
        shape, int(s.batch_size), int(s.max_seq_len), lora_r=int(s.lora_r), lora_targets=s.lora_targets,
        quantization=quant, checkpointing="non-reentrant" if s.gradient_checkpointing else "off",
        checkpoint_every=s.checkpoint_every, fused_loss=True, upcast=False, optim=s.resolved_optim(device),
        # a CPU keeps fp32 weights under bf16 autocast (helpers.core.models.weights_dtype), and peft keeps
        # LoRA weights fp32 on an unquantised base; TRL casts them to bf16 on a 4-bit one
        fixed_shapes=s.packing, compute_bytes=2 if s.compute_dtype != "float32" and device == "cuda" else 4,
        adapter_dtype="bfloat16" if quant == "nf4" else "float32", lora_dropout=s.lora_dropout,
    )


def plan_time_cost(n_rows: int, mean_tokens: float, epochs: float = 1.0, max_steps: int = -1,
                   batch_size: int = 8, tokens_per_s: float = 1000.0, price_per_hour: float = 0.0) -> dict[str, Any]:
    """Steps, tokens, minutes and dollars of a planned run at a known tokens/s (03_qlora_training)."""
    steps_per_epoch = max(1, -(-int(n_rows) // max(1, batch_size)))
    steps = max_steps if max_steps and max_steps > 0 else int(round(steps_per_epoch * epochs))
    tokens = steps * batch_size * mean_tokens
    seconds = tokens / max(tokens_per_s, 1e-9)
    return {"steps": steps, "tokens": int(tokens), "minutes": round(seconds / 60, 1),
            "usd": round(seconds / 3600 * price_per_hour, 2), "tokens_per_s": tokens_per_s}


def fits(est: MemoryEstimate, device: str = "cuda", memory_gib: float | None = None) -> dict[str, Any]:
    """Does the estimate fit this machine's GPU (or ``memory_gib``)? One sentence says why (03)."""
    if memory_gib is None and device == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                memory_gib = torch.cuda.get_device_properties(0).total_memory / GIB
        except ImportError:  # pragma: no cover
            memory_gib = None
    if memory_gib is None:
        return {"fits": None, "memory_gib": None, "need_gib": est.reserved,
                "message": f"needs about {est.reserved:.1f} GiB of GPU memory (no GPU visible here)"}
    usable = memory_gib - CUDA_CONTEXT_GIB
    ok = est.reserved <= usable
    msg = (f"fits: needs about {est.reserved:.1f} of {memory_gib:.0f} GiB" if ok else
           f"does not fit: needs about {est.reserved:.1f} GiB but the GPU has {memory_gib:.0f}; turn on "
           f"gradient checkpointing, lower batch_size (raise grad_accum) or max_seq_len")
    return {"fits": ok, "memory_gib": round(memory_gib, 1), "need_gib": est.reserved, "message": msg}


def report_html(est: MemoryEstimate, plan: dict[str, Any], fit: dict[str, Any], table: list[dict[str, Any]]) -> str:
    """The preflight verdict and the GPU table as a small HTML block (03_qlora_training)."""
    e = html_lib.escape
    parts = [f"<p><b>{e(fit['message'])}</b></p>",
             f"<p>Memory estimate (GiB): weights {est.weights}, LoRA + optimiser {est.lora_and_optimizer}, "
             f"activations {est.activations}, loss {est.loss}, workspace {est.workspace}; "
             f"reserved {est.reserved}.</p>",
             f"<p>Plan: {plan['steps']} steps, {plan['tokens']:,} tokens, about {plan['minutes']} min, "
             f"${plan['usd']}.</p>",
             "<table><tr><th>GPU</th><th>GiB</th><th>fits</th><th>checkpointing</th><th>tokens/s (est.)</th>"
             "<th>h per 1M tokens</th><th>$/h (date)</th></tr>"]
    for r in table:
        parts.append(
            f"<tr><td>{e(r['gpu'])}</td><td>{r['memory_gib']}</td><td>{'yes' if r['fits'] else 'no'}</td>"
            f"<td>{'needed' if r['checkpointing_needed'] else ('off' if r['fits'] else '-')}</td>"
            f"<td>{r['tokens_per_s'] or '-'}</td><td>{r['hours_per_million_tokens'] or '-'}</td>"
            f"<td>{r['price_per_hour'] if r['price_per_hour'] is not None else '-'} ({r['price_date'] or 'no quote'})</td></tr>")
    parts.append("</table>")
    return "\n".join(parts)

