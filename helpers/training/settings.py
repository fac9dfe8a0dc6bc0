"""The one training-settings object, and the library configs built from it.

Introduced in ``03_qlora_training.ipynb``. A :class:`TrainSettings` is derived from the profile
(every field whose name the profile also has is copied from it, none by hand), the widgets
edit it, and it is the only place that builds the three objects the ecosystem's libraries take:

* ``peft.LoraConfig`` (:meth:`TrainSettings.lora_config`): rank, alpha, targets, dropout, bias;
* ``transformers.BitsAndBytesConfig`` (:meth:`TrainSettings.bnb_config`): NF4 + double quant;
* ``trl.SFTConfig`` (:meth:`TrainSettings.sft_config`): every training argument.

The preflight (:mod:`helpers.training.preflight`), the panel, the command line and the
benchmarks read this same object and the same :data:`TARGET_PRESETS` table.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.core.errors import SettingsError

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile

#: LoRA target presets -> the value given to ``LoraConfig.target_modules``. ``"all-linear"`` is
#: peft's own keyword (every Linear layer but the output head); the names are those of
#: Llama / Qwen / Mistral / SmolLM decoder layers.
TARGET_PRESETS: dict[str, str | tuple[str, ...]] = {
    "q,v": ("q_proj", "v_proj"),
    "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "all-linear": "all-linear",
}
#: The decoder layer's Linear modules that ``"all-linear"`` reaches (for the preflight's arithmetic).
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEDULERS = ("linear", "cosine", "constant_with_warmup", "constant")
QUANTIZATIONS = ("none", "nf4")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


def target_modules(preset: str) -> tuple[str, ...]:
    """The decoder modules a preset puts LoRA on (03_qlora_training)."""
    if preset not in TARGET_PRESETS:
        raise SettingsError(f"lora_targets {preset!r}: use one of {', '.join(TARGET_PRESETS)}")
    value = TARGET_PRESETS[preset]
    return ALL_LINEAR if value == "all-linear" else tuple(value)


@dataclass
class TrainSettings:
    """Every knob of a training run; the widgets edit exactly these (03_qlora_training).

    The first group mirrors the profile (same names, copied by :meth:`from_profile`); the
    second are the course's switches on top of TRL, each measured in
    ``guide/hardware_and_cost.md`` (``benchmarks/bench_qlora.py``).
    """

    # --- from the profile
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: str = "all-linear"
    lora_dropout: float = 0.05
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 8
    grad_accum: int = 1
    max_seq_len: int = 512
    save_steps: int = 20
    eval_steps: int = 20
    gradient_checkpointing: bool = False
    quantization: str = "none"
    compute_dtype: str = "float32"
    train_rows: int | None = None
    # --- not in the profile
    lora_bias: str = "none"
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    packing: bool = True  # TRL's best-fit-decreasing packing of whole examples (padding-free)
    liger: bool = True  # TRL's use_liger_kernel (CUDA only; ignored on a CPU)
    # TRL's fused LM head (CUDA only): on a CPU it scores every position, prompt tokens too, in fp32
    # tiles, so a CPU always uses the loss of the answer positions (helpers.training.trainer.trainer_class,
    # measured in benchmarks/bench_cpu_dtype.py); False asks for that loss on CUDA too
    fused_lm_head: bool = True
    optim: str = "auto"  # "auto": paged 8-bit AdamW for a 4-bit base on CUDA, else torch AdamW
    # --- the course's switches on top of TRL (measured in benchmarks/bench_qlora.py)
    fixed_shape_rows: bool = True  # packed rows of max_seq_len each, one batch shape (see collate.py)
    checkpoint_every: int = 1  # with gradient_checkpointing: recompute only every n-th layer
    # reentrant checkpointing for sharded weights (FSDP + QLoRA, the peft guide; guide/past_one_gpu.md):
    # non-reentrant recomputation sees the resharded weights and fails its shape check
    use_reentrant: bool = False
    eval_rows_for_loss: int = 24
    seed: int = 42

    @classmethod
    def from_profile(cls, profile: "Profile", **changes: Any) -> "TrainSettings":
        """The profile's sizes as settings, with optional changes (03_qlora_training).

        Every field the profile also has is taken from it, so a new profile field with a
        setting's name reaches training without another line here.
        """
        shared = {f.name for f in dataclasses.fields(cls)} & {f.name for f in dataclasses.fields(profile)}
        values = {name: getattr(profile, name) for name in shared}
        unknown = set(changes) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SettingsError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(**{**values, **changes}).validate()

    def replace(self, **changes: Any) -> "TrainSettings":
        """A validated copy with some settings changed (03_qlora_training)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> "TrainSettings":
        """Raise one sentence for a setting that cannot work (03_qlora_training)."""
        target_modules(self.lora_targets)
        if self.scheduler not in SCHEDULERS:
            raise SettingsError(f"scheduler {self.scheduler!r}: use one of {', '.join(SCHEDULERS)}")
        if self.lora_r < 1 or self.batch_size < 1 or self.grad_accum < 1 or self.max_seq_len < 32:
            raise SettingsError("lora_r, batch_size and grad_accum must be >= 1 and max_seq_len >= 32")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise SettingsError("set max_steps > 0 or epochs > 0")
        if self.quantization not in QUANTIZATIONS:
            raise SettingsError(f"quantization {self.quantization!r}: use one of {', '.join(QUANTIZATIONS)}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise SettingsError(f"compute_dtype {self.compute_dtype!r}: use one of {', '.join(COMPUTE_DTYPES)}")
        if self.fixed_shape_rows and not self.packing:
            raise SettingsError("fixed_shape_rows=True needs packing=True (it shapes packed rows); turn one on or the other off")
        if self.checkpoint_every < 1:
            raise SettingsError("checkpoint_every must be >= 1 (1 = every layer)")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise SettingsError("lora_dropout must be in [0, 1)")
        return self

    # ------------------------------------------------------------------ the library objects

    def resolved_optim(self, device: str) -> str:
        """The optimiser name for ``SFTConfig.optim`` on ``device`` (03_qlora_training)."""
        if self.optim != "auto":
            return self.optim
        return "paged_adamw_8bit" if device == "cuda" and self.quantization == "nf4" else "adamw_torch"

    def lora_config(self) -> Any:
        """The ``peft.LoraConfig`` of these settings (03_qlora_training)."""
        from peft import LoraConfig

        value = TARGET_PRESETS[self.lora_targets]
        return LoraConfig(
            r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout, bias=self.lora_bias,
            target_modules=value if isinstance(value, str) else list(value), task_type="CAUSAL_LM",
        )

    def bnb_config(self) -> Any:
        """The ``BitsAndBytesConfig`` for a 4-bit base, or None for full-precision LoRA (03_qlora_training).

        Built by :func:`helpers.core.models.bnb_config` (NF4 + double quantisation), the same
        call :func:`helpers.core.models.load_causal_lm` makes when it loads the base.
        """
        if self.quantization != "nf4":
            return None
        from helpers.core.models import bnb_config

        return bnb_config(self.compute_dtype)

    def sft_config(self, output_dir: str | Path, device: str = "cpu", with_eval: bool = True) -> Any:
        """TRL's ``SFTConfig`` with every training argument of these settings (03_qlora_training).

        Answer-only loss is TRL's ``completion_only_loss`` on prompt-completion rows; packing is
        TRL's padding-free best-fit decreasing. With ``gradient_checkpointing`` and
        ``checkpoint_every`` > 1 the trainer turns checkpointing on per layer instead
        (:func:`helpers.training.trainer.make_trainer`).
        """
        from trl import SFTConfig

        return SFTConfig(**self.sft_kwargs(output_dir, device, with_eval))

    def sft_kwargs(self, output_dir: str | Path, device: str = "cpu", with_eval: bool = True) -> dict[str, Any]:
        """The keyword arguments :meth:`sft_config` passes to ``SFTConfig`` (03_qlora_training)."""
        cuda = device == "cuda"
        every_layer = self.gradient_checkpointing and self.checkpoint_every == 1
        return dict(
            output_dir=str(output_dir),
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum,
            learning_rate=self.learning_rate,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps if self.max_steps > 0 else -1,
            warmup_steps=self.warmup_ratio,  # a float below 1 is a ratio of the total steps in transformers 5
            lr_scheduler_type=self.scheduler,
            optim=self.resolved_optim(device),
            max_length=self.max_seq_len,
            packing=self.packing,
            completion_only_loss=True,
            gradient_checkpointing=every_layer,
            gradient_checkpointing_kwargs={"use_reentrant": self.use_reentrant} if every_layer else None,
            use_liger_kernel=self.liger and cuda,
            bf16=self.compute_dtype == "bfloat16",  # on a CPU: autocast over the fp32 weights
            fp16=cuda and self.compute_dtype == "float16",
            logging_steps=1,
            eval_strategy="steps" if with_eval else "no",
            eval_steps=self.eval_steps,
            prediction_loss_only=True,  # eval loss only: task metrics come from generation (04)
            save_strategy="steps",
            save_steps=self.save_steps,
            save_total_limit=3,
            seed=self.seed,
            data_seed=self.seed,
            report_to="none",
            dataloader_num_workers=0,
            disable_tqdm=False,
            use_cpu=not cuda,
        )

    def to_json(self) -> str:
        """The settings as pretty JSON, for display and run cards (03_qlora_training)."""
        return json.dumps(asdict(self), indent=2)
