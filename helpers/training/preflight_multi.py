"""Preflight for N GPUs: memory per GPU and time under DDP and under FSDP + QLoRA.

Introduced in ``guide/past_one_gpu.md``. Pure arithmetic on top of the one-GPU model in
:mod:`helpers.training.preflight` (its memory parts and its measured MFU); nothing here touches a
GPU. Not yet checked against a multi-GPU measurement: no machine with two GPUs was lent while
this was written, so treat every figure as a plan, not a promise.

Memory per GPU (``N`` processes, one per GPU):

* **DDP** replicates the model: each GPU holds the whole one-GPU estimate (4-bit weights, LoRA,
  optimiser, activations of its own micro-batch) plus DDP's gradient buckets, one more copy of
  the trainable (LoRA) gradients.
* **FSDP FULL_SHARD** shards weights, LoRA weights, gradients and optimiser state: each GPU keeps
  ``1/N`` of them, plus the full weights of the FSDP units in use (the decoder layer being
  computed and the one prefetched, ``BACKWARD_PRE``) and the root unit (embeddings, ``lm_head``,
  final norm), which stays gathered for the whole step. Activations are not sharded: they belong
  to the GPU's own micro-batch, as on one GPU.

Time per optimizer step: every GPU computes its own micro-batches at the one-GPU speed, then
waits for communication, stated as an assumption (no overlap with compute, so an upper bound on
time; ring collectives at a given bus bandwidth):

* DDP: one all-reduce of the LoRA gradients per optimizer step, ``2 (N-1)/N x G`` bytes;
* FSDP: per micro-batch an all-gather of the weights in the forward and again in the backward
  (FULL_SHARD frees them after the forward), ``2 (N-1)/N x W``, and a reduce-scatter of the LoRA
  gradients, ``(N-1)/N x G``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from helpers.training.preflight import (GIB, NF4_BYTES_PER_PARAM, MemoryEstimate, ModelShape, _gpu,
                                        estimate_for_settings, estimate_time_cost, hourly_price)
from helpers.training.settings import TrainSettings

STRATEGIES = ("ddp", "fsdp")
#: Achieved bus bandwidth of a ring collective, GB/s per GPU (assumptions to replace by a measurement:
#: about 80% of PCIe 4.0 / 5.0 x16 and of H100/H200 NVLink 4 datasheet rates).
LINK_GB_PER_S = {"pcie4": 25.0, "pcie5": 50.0, "nvlink": 360.0}
#: Usable memory of a card: its size less the CUDA context (the one-GPU preflight's margin).
CONTEXT_GIB = 0.7
#: Llama-3-70B's shape (its config.json), the model that made FSDP + QLoRA on two 24 GB cards famous.
LLAMA3_70B: dict[str, Any] = {"hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
                              "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
                              "tie_word_embeddings": False}


@dataclass(frozen=True)
class MultiGpuEstimate:
    """Memory per GPU and speed of one launch on ``n_gpus`` GPUs (guide: past_one_gpu)."""

    strategy: str
    n_gpus: int
    weights_gib: float
    lora_and_optimizer_gib: float
    activations_gib: float
    other_gib: float  # loss, workspace, DDP buckets
    allocated_gib: float
    reserved_gib: float
    compute_s_per_step: float
    comm_s_per_step: float
    tokens_per_s: float
    scaling_efficiency: float  # tokens/s over N x the one-GPU tokens/s

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (guide: past_one_gpu)."""
        return asdict(self)


def _shape(shape: ModelShape | dict[str, Any]) -> ModelShape:
    return shape if isinstance(shape, ModelShape) else ModelShape.from_config(shape)


def lora_grad_bytes(shape: ModelShape, s: TrainSettings) -> float:
    """Bytes of the LoRA gradients, the tensor DDP all-reduces (bf16 on a 4-bit base, as TRL casts it)."""
    per = 2 if s.quantization == "nf4" or s.compute_dtype != "float32" else 4
    return shape.lora_params(s.lora_r, s.lora_targets) * per


def sharded_weight_bytes(shape: ModelShape, s: TrainSettings) -> tuple[float, float]:
    """(decoder linears, everything else) in bytes, as FSDP stores them: NF4 or the compute dtype."""
    compute = 4 if s.compute_dtype == "float32" else 2
    decoder = shape.decoder_linear_params() * (NF4_BYTES_PER_PARAM if s.quantization == "nf4" else compute)
    other = (shape.embedding_params() + 2 * shape.num_layers * shape.hidden_size) * compute
    return decoder, other


def memory_per_gpu(shape: ModelShape | dict[str, Any], s: TrainSettings, n_gpus: int, strategy: str,
                   mean_tokens: float = 512) -> dict[str, float]:
    """Peak memory of one GPU in GiB, by part, under ``strategy`` on ``n_gpus`` GPUs (guide: past_one_gpu).

    Starts from the one-GPU estimate (:func:`helpers.training.preflight.estimate_for_settings`)
    and applies the module docstring's model; ``reserved`` keeps the one-GPU reserved/allocated ratio.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if n_gpus < 1:
        raise ValueError("n_gpus must be >= 1")
    shape = _shape(shape)
    one: MemoryEstimate = estimate_for_settings(shape, s, mean_tokens=mean_tokens)
    ratio = one.reserved / one.allocated
    fixed = one.loss + one.workspace
    if strategy == "ddp":
        weights, lora = one.weights, one.lora_and_optimizer
        fixed += lora_grad_bytes(shape, s) / GIB if n_gpus > 1 else 0.0
    else:
        decoder, other = sharded_weight_bytes(shape, s)
        in_use = 2 * decoder / shape.num_layers  # the layer computed now and the one prefetched
        weights = (decoder / n_gpus + in_use + other + (other / n_gpus if n_gpus > 1 else 0.0)) / GIB
        if n_gpus == 1:
            weights = one.weights
        lora = one.lora_and_optimizer / n_gpus
    allocated = weights + lora + one.activations + fixed
    return {"weights": round(weights, 2), "lora_and_optimizer": round(lora, 2), "activations": one.activations,
            "other": round(fixed, 2), "allocated": round(allocated, 2), "reserved": round(allocated * ratio, 2)}


def comm_bytes_per_step(shape: ModelShape | dict[str, Any], s: TrainSettings, n_gpus: int, strategy: str) -> float:
    """Bytes each GPU sends per optimizer step (ring collectives; guide: past_one_gpu)."""
    shape = _shape(shape)
    if n_gpus == 1:
        return 0.0
    ring = (n_gpus - 1) / n_gpus
    grads = lora_grad_bytes(shape, s)
    if strategy == "ddp":
        return 2 * ring * grads  # once per optimizer step: gradient accumulation skips the sync in between
    decoder, other = sharded_weight_bytes(shape, s)
    lora_weights = grads  # the LoRA weights are gathered too, in the same dtype as their gradients
    per_micro_batch = 2 * ring * (decoder + other + lora_weights) + ring * grads
    return per_micro_batch * s.grad_accum


def estimate_multi_gpu(shape: ModelShape | dict[str, Any], s: TrainSettings, n_gpus: int, strategy: str, *,
                       gpu: str = "a100-80gb", link: str | float = "pcie4", single_tokens_per_s: float | None = None,
                       mean_tokens: float = 512) -> MultiGpuEstimate:
    """Memory per GPU and tokens/s for ``n_gpus`` GPUs under DDP or FSDP (guide: past_one_gpu).

    ``single_tokens_per_s`` is the one-GPU speed (a measured dry run is best); by default the
    one-GPU preflight's estimate for ``gpu`` (:func:`helpers.training.preflight.estimate_time_cost`).
    ``link`` is a key of :data:`LINK_GB_PER_S` or a bus bandwidth in GB/s.
    """
    shape = _shape(shape)
    mem = memory_per_gpu(shape, s, n_gpus, strategy, mean_tokens)
    if single_tokens_per_s is None:
        single_tokens_per_s = estimate_time_cost(shape, 1e6, gpu, lora_r=s.lora_r, lora_targets=s.lora_targets,
                                                 context=mean_tokens, checkpointing=s.gradient_checkpointing)["tokens_per_s"]
    bandwidth = float(LINK_GB_PER_S[link] if isinstance(link, str) else link) * 1e9
    tokens_per_gpu_step = s.batch_size * s.grad_accum * s.max_seq_len
    compute = tokens_per_gpu_step / single_tokens_per_s
    comm = comm_bytes_per_step(shape, s, n_gpus, strategy) / bandwidth
    tps = n_gpus * tokens_per_gpu_step / (compute + comm)
    return MultiGpuEstimate(
        strategy=strategy, n_gpus=n_gpus, weights_gib=mem["weights"], lora_and_optimizer_gib=mem["lora_and_optimizer"],
        activations_gib=mem["activations"], other_gib=mem["other"], allocated_gib=mem["allocated"],
        reserved_gib=mem["reserved"], compute_s_per_step=round(compute, 4), comm_s_per_step=round(comm, 4),
        tokens_per_s=round(tps, 1), scaling_efficiency=round(tps / (n_gpus * single_tokens_per_s), 3),
    )


def plan_past_one_gpu(shape: ModelShape | dict[str, Any], s: TrainSettings, gpu: str, n_gpus: int = 2, *,
                      link: str | float = "pcie4", train_tokens: float = 1e6,
                      single_tokens_per_s: float | None = None) -> dict[str, Any]:
    """One GPU, DDP or FSDP on ``n_gpus`` of ``gpu``: which fit, how fast, what it costs (guide: past_one_gpu).

    ``choice`` follows the chapter's rule: one GPU when it fits and speed is enough (the caller
    decides that), DDP when one GPU fits and more speed is wanted, FSDP + QLoRA when only the
    sharded model fits, else "bigger card".
    """
    card = _gpu(gpu)
    usable = card["memory_gib"] - CONTEXT_GIB
    price = hourly_price(card)
    rows = {}
    for name, n, strategy in (("one_gpu", 1, "ddp"), ("ddp", n_gpus, "ddp"), ("fsdp", n_gpus, "fsdp")):
        est = estimate_multi_gpu(shape, s, n, strategy, gpu=gpu, link=link, single_tokens_per_s=single_tokens_per_s)
        hours = train_tokens / est.tokens_per_s / 3600
        rows[name] = {**est.to_dict(), "fits": est.reserved_gib <= usable, "hours": round(hours, 3),
                      "usd": round(hours * n * price, 2) if price is not None else None}
    if rows["one_gpu"]["fits"]:
        choice = "ddp" if rows["ddp"]["fits"] else "one_gpu"
    elif rows["fsdp"]["fits"]:
        choice = "fsdp"
    else:
        choice = "bigger card"
    return {"gpu": card["name"], "memory_gib": card["memory_gib"], "n_gpus": n_gpus, "link": link,
            "choice": choice, **rows}
