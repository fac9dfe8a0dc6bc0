"""Profiles: one object that decides every size in the course.

Introduced in ``00_setup.ipynb``. A profile changes *sizes* (model, steps, batch, sequence
length, quantisation, how many rows are evaluated), never the code path: the ``ci`` profile runs
exactly the same functions as ``gpu-80gb``, only smaller.

Resolution order: ``COURSE_PROFILE`` environment variable, then the choice saved by notebook 00
(``.course_profile.json`` in the course folder), then auto-detection from the hardware.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import ProfileError  # noqa: F401 - raised here, defined with the others
from helpers.core.paths import course_home

PROFILE_ENV = "COURSE_PROFILE"
MODEL_ENV = "COURSE_MODEL"  # a model key or a local model folder that replaces the profile's model
PROFILE_FILE = ".course_profile.json"


@dataclass(frozen=True)
class Profile:
    """Every size the course uses, for one kind of machine (00_setup)."""

    name: str
    model: str  # key in helpers.core.models.MODELS
    device: str  # "cpu" or "cuda"
    quantization: str  # "none" (fp32/bf16 LoRA) or "nf4" (QLoRA)
    compute_dtype: str  # "float32" or "bfloat16" (on a CPU: fp32 weights, bf16 training autocast and generation copy)
    # training (batch_size counts packed rows of up to max_seq_len tokens, several examples each)
    train_rows: int | None  # None = the whole training file
    max_steps: int  # -1 = use epochs
    epochs: float
    batch_size: int
    grad_accum: int
    max_seq_len: int
    learning_rate: float
    lora_r: int
    lora_alpha: int
    lora_targets: str  # preset name, see helpers.training.settings.TARGET_PRESETS
    lora_dropout: float
    gradient_checkpointing: bool
    save_steps: int
    eval_steps: int
    # evaluation / generation
    eval_rows: int | None
    golden_rows: int | None
    gen_batch_size: int
    max_new_tokens: int
    few_shot_k: int
    # clean-vs-noisy experiment (notebook 05)
    experiment_clean_rows: int
    experiment_noisy_rows: int
    experiment_steps: int
    # money and speed, for estimates (measured figures; see guide/hardware_and_cost.md)
    train_tokens_per_s: float
    price_per_hour_usd: float
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # notebook 05: learning-curve slices of the clean rows (each trained for experiment_steps) and
    # how many seeds each arm of the experiment is trained with; notebook 04: production rows scored
    curve_rows: tuple[int, ...] = (25, 50, 100, 200, 500)
    experiment_seeds: int = 1
    production_rows: int | None = None  # None = the whole production_sample.jsonl

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, used in run cards (03_qlora_training)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "Profile":
        """A copy with some sizes changed, e.g. by a widget (03_qlora_training)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ProfileError(f"unknown profile setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


_COMMON: dict[str, Any] = dict(
    epochs=1.0,
    lora_r=16,
    lora_alpha=32,
    lora_targets="all-linear",
    lora_dropout=0.05,
    few_shot_k=3,
)

# What every GPU profile shares: QLoRA NF4 with bf16 compute, the whole data, a live curve of
# >= 10 eval points an epoch, the experiment's sizes, three seeds an experiment arm (notebook 05).
_GPU: dict[str, Any] = dict(
    device="cuda", quantization="nf4", compute_dtype="bfloat16", train_rows=None, max_steps=-1,
    max_seq_len=1024, learning_rate=2e-4, save_steps=10, eval_steps=2, eval_rows=None, golden_rows=None,
    max_new_tokens=128, experiment_clean_rows=500, experiment_noisy_rows=2000, experiment_steps=120,
    experiment_seeds=3,
)

PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", model="smollm2-135m", device="cpu", quantization="none",
        compute_dtype="bfloat16", train_rows=48, max_steps=4, batch_size=1, grad_accum=1,
        max_seq_len=512, learning_rate=3e-4, gradient_checkpointing=False, save_steps=2,
        eval_steps=2, eval_rows=4, golden_rows=4, gen_batch_size=4, max_new_tokens=64,
        experiment_clean_rows=24, experiment_noisy_rows=96, experiment_steps=2,
        curve_rows=(8, 24), production_rows=4,
        train_tokens_per_s=92.0, price_per_hour_usd=0.0,
        notes="Every notebook in minutes on any CPU; numbers are not meaningful.",
        **{**_COMMON, "few_shot_k": 1},  # one example: rung 5's prompt is notebook 02's longest input
    ),
    # Sized by the time budget on 2 cores (guide/instructor_guide.md has the measured run): 44 steps
    # of ~5 s (bf16, with eval losses and checkpoints) on the first 256 rows, one epoch of the support
    # task (golden 0.700 against the prompt's 0.477, GO; the whole course 1,572 s). The steps are
    # fixed, not the epochs: packing makes an epoch of short rows a few steps (256 SMS messages
    # are 13, too few to learn spam: guide/your_own_data.md).
    # 40 eval rows, 30 production rows, a two-point curve in notebook 05. Its arms keep 40 steps: at 30 the
    # arms were still learning the format (clean 0.605, noisy 0.590, interval across zero).
    # Weights stay fp32 on a CPU; "bfloat16" trains in autocast and generates on a bf16 copy, on a CPU with native bf16 only
    # (fit_compute_dtype falls back to fp32 elsewhere): benchmarks/bench_cpu_dtype.py measures both.
    "cpu": Profile(
        name="cpu", model="smollm2-135m", device="cpu", quantization="none",
        compute_dtype="bfloat16", train_rows=256, max_steps=44, batch_size=2, grad_accum=1,
        max_seq_len=512, learning_rate=1e-3, gradient_checkpointing=False, save_steps=20,
        eval_steps=20, eval_rows=40, golden_rows=None, gen_batch_size=10, max_new_tokens=80,
        experiment_clean_rows=200, experiment_noisy_rows=800, experiment_steps=40,
        curve_rows=(25, 200), production_rows=30,
        train_tokens_per_s=92.0, price_per_hour_usd=0.0,
        notes="The full course on a laptop CPU with a real 135M model (LoRA on fp32 weights, bf16 compute "
              "where the CPU has native bf16).",
        **_COMMON,
    ),
    # The GPU profiles: sizes the preflight (helpers.training.preflight) says fit the card with headroom,
    # for Qwen2.5-7B/14B (shapes in preflight.KNOWN_SHAPES), on 640 training rows of ~164 tokens = 103
    # packed rows of 1024 tokens a GPU epoch. Speeds are estimates, not measurements on these cards: the
    # course path's MFU measured on an H200 (preflight.MEASURED_MFU, qlora_h200_trl_*.json) times each
    # card's datasheet bf16 rate (preflight.estimate_time_cost), for the cheapest card of the class.
    "gpu-24gb": Profile(
        name="gpu-24gb", model="qwen2.5-7b-instruct", batch_size=4, grad_accum=1,
        gradient_checkpointing=True, gen_batch_size=16, train_tokens_per_s=478.0, price_per_hour_usd=0.30,
        notes="QLoRA of a 7B model on a 12-24 GB card (RTX 3090/4090): preflight ~7.8 GiB; "
              "est. ~480 tokens/s on a 3090, ~1,110 on a 4090.",
        **_GPU, **_COMMON,
    ),
    "gpu-40gb": Profile(
        name="gpu-40gb", model="qwen2.5-14b-instruct", batch_size=2, grad_accum=2,
        gradient_checkpointing=False, gen_batch_size=32, train_tokens_per_s=1711.0, price_per_hour_usd=1.10,
        notes="QLoRA of a 14B model on a 40-48 GB card (A100 40 GB, A6000, L40S) without checkpointing, "
              "2 x 1024 tokens a micro-batch, 2 accumulated (the same 4 rows a step as the others): "
              "preflight ~30 GiB; est. ~1,710 tokens/s on an A100.",
        **_GPU, **_COMMON,
    ),
    "gpu-80gb": Profile(
        name="gpu-80gb", model="qwen2.5-14b-instruct", batch_size=4, grad_accum=1,
        gradient_checkpointing=False, gen_batch_size=32, train_tokens_per_s=1711.0, price_per_hour_usd=1.40,
        notes="QLoRA of a 14B model on an 80 GB card (A100/H100 80 GB) without checkpointing: "
              "preflight ~50 GiB; est. ~1,710 tokens/s on an A100 80 GB, ~5,400 on an H100.",
        **_GPU, **_COMMON,
    ),
}


def profile_names() -> list[str]:
    """The names of the known profiles (00_setup)."""
    return list(PROFILES)


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises one sentence listing the valid ones (01_data_quality)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}: use one of {', '.join(PROFILES)} "
            f"(set {PROFILE_ENV} or pick one in notebooks/00_setup.ipynb)"
        ) from None


def detect_profile_name() -> str:
    """Pick a profile from the hardware: no GPU means ``cpu``; on a GPU, the biggest GPU profile
    whose preflight estimate fits the card's memory with headroom (00_setup).

    The choice is :func:`helpers.training.card_fit.pick_profile_name`, the same estimate notebook 03
    prints, so a 40 GB A100 gets ``gpu-40gb`` (~30 GiB), not the 80 GB profile (~50 GiB).
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return "cpu"
    if not torch.cuda.is_available():
        return "cpu"
    from helpers.training.card_fit import pick_profile_name

    return pick_profile_name(torch.cuda.get_device_properties(0).total_memory / 2**30)


def compute_dtype_for(wanted: str, capability: tuple[int, int] | None) -> str:
    """The compute dtype a GPU of this compute capability can run (00_setup).

    bf16 needs compute capability 8.0 (Ampere: A100, RTX 30xx) or newer; a T4 or an RTX 2080 (7.5)
    and a V100 (7.0) compute in fp16 instead. ``capability`` None (no GPU) keeps ``wanted``.
    """
    if wanted != "bfloat16" or capability is None or tuple(capability) >= (8, 0):
        return wanted
    return "float16"


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN reports it (00_setup).

    On such a CPU bf16 trains a step 1.8x, prefills 2.4x and generates 2.5x faster than fp32
    (``benchmarks/bench_cpu_dtype.py``); on one without it, bf16 is emulated and slower than fp32.
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def fit_compute_dtype(profile: Profile, capability: tuple[int, int] | None = None,
                      native_bf16: bool | None = None) -> Profile:
    """The profile with the compute dtype this machine runs well (00_setup).

    On a CUDA GPU without bf16: fp16, with one warning line. On a CPU without native bf16
    (:func:`cpu_has_native_bf16`): fp32, silently, since that is the faster choice there.
    ``capability`` defaults to the visible GPU's and ``native_bf16`` to this CPU's; every later
    step (model load, the 4-bit config, ``SFTConfig(bf16=...)``, generation's bf16 copy) reads the
    profile's ``compute_dtype``, so the fallback is real.
    """
    if profile.device == "cpu":
        if profile.compute_dtype != "bfloat16":
            return profile
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        return profile if native else profile.replace(compute_dtype="float32")
    if profile.device != "cuda":
        return profile
    if capability is None:
        import torch

        if not torch.cuda.is_available():
            return profile
        capability = tuple(torch.cuda.get_device_capability(0))
    dtype = compute_dtype_for(profile.compute_dtype, capability)
    if dtype == profile.compute_dtype:
        return profile
    import warnings

    warnings.warn(f"this GPU (compute capability {capability[0]}.{capability[1]}) has no bf16: profile "
                  f"{profile.name!r} computes in float16 instead (see guide/hardware_and_cost.md)", stacklevel=2)
    return profile.replace(compute_dtype=dtype)


def saved_profile_path() -> Path:
    """Where notebook 00 saves the learner's choice (00_setup)."""
    return course_home() / PROFILE_FILE


def save_profile_choice(name: str) -> Path:
    """Save the learner's profile choice so later notebooks use it (00_setup)."""
    get_profile(name)  # validate before writing anything
    path = saved_profile_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"profile": name}) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def resolve_profile_name() -> tuple[str, str]:
    """The profile name in force and where it came from: env, saved choice or hardware (00_setup)."""
    env = os.environ.get(PROFILE_ENV, "").strip()
    if env:
        get_profile(env)
        return env, f"environment variable {PROFILE_ENV}"
    path = saved_profile_path()
    if path.exists():
        try:
            name = json.loads(path.read_text(encoding="utf-8"))["profile"]
            get_profile(name)
            return name, f"saved choice in {path.name}"
        except (ValueError, KeyError, TypeError):
            pass  # a damaged choice file falls back to detection
    return detect_profile_name(), "detected from the hardware"


def check_profile_hardware(profile: Profile) -> None:
    """Raise one sentence when a GPU profile is forced on a machine without CUDA (00_setup)."""
    if profile.device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise ProfileError(
            f"profile {profile.name!r} needs a CUDA GPU but none is visible: "
            f"use COURSE_PROFILE=cpu on this machine, or install a CUDA build of torch"
        )


def load_profile(name: str | None = None, check_hardware: bool = True) -> Profile:
    """The profile every notebook starts with: ``name`` or the resolved one (00_setup).

    ``COURSE_MODEL`` swaps in another model (a key of ``helpers.core.models.MODELS`` or a local
    folder with config.json + safetensors) while keeping the profile's sizes.
    """
    profile = get_profile(name) if name else get_profile(resolve_profile_name()[0])
    model = os.environ.get(MODEL_ENV, "").strip()
    if model:
        profile = profile.replace(model=model)
    if check_hardware:
        check_profile_hardware(profile)
        profile = fit_compute_dtype(profile)
    return profile
