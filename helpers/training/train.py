"""QLoRA training: LoRA settings, answer-only loss, checkpoints, resume, stop, run card.

Introduced in ``03_qlora_training.ipynb``. The base model is frozen (4-bit NF4 on CUDA; fp32 on
a CPU by default, where 4-bit works but is slow) and a LoRA adapter learns. Each training row
becomes the adapter's short prompt (:func:`helpers.prompting.prompts.finetune_config`) rendered with the
model's chat template; only the answer tokens and the end-of-turn token carry loss, so the
model learns to answer and to stop.

Everything is a plain function; :mod:`helpers.widgets.train_panel` only wires widgets to them.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import platform
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from helpers.core.config import Profile
from helpers.core.errors import SettingsError
from helpers.core.oom import oom_guard
from helpers.prompting.prompts import PromptConfig, finetune_config, training_messages
from helpers.core.runs import library_versions, write_json

IGNORE_INDEX = -100
TARGET_PRESETS: dict[str, tuple[str, ...] | None] = {
    "q,v": ("q_proj", "v_proj"),
    "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "all-linear": None,  # every Linear layer but the output head, resolved on the loaded model
}
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")


@dataclass
class TrainSettings:
    """Every knob of a training run; the widgets edit exactly these (03_qlora_training)."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: str = "all-linear"
    lora_dropout: float = 0.05
    lora_bias: str = "none"
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 8
    grad_accum: int = 1
    max_seq_len: int = 512
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    save_steps: int = 20
    eval_steps: int = 20
    gradient_checkpointing: bool = False
    quantization: str = "none"
    # the fast recipe (helpers.training.packing; measured in guide/hardware_and_cost.md)
    packing: bool = True  # padding-free: whole examples packed into rows of max_seq_len tokens
    fused_loss: bool = True  # loss without materialising tokens x vocabulary logits
    liger: bool = True  # Liger Triton kernels (CUDA only; ignored on a CPU)
    upcast: bool = False  # peft's fp32 upcast of norms/embeddings (the plain, slower way)
    adapter_dtype: str = "float32"  # LoRA weights; GPU profiles use "bfloat16" (as the QLoRA paper did)
    train_rows: int | None = None
    eval_rows_for_loss: int = 24
    seed: int = 42
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Profile, **changes: Any) -> "TrainSettings":
        """The profile's sizes as settings, with optional changes (03_qlora_training)."""
        s = cls(
            lora_r=profile.lora_r, lora_alpha=profile.lora_alpha, lora_targets=profile.lora_targets,
            lora_dropout=profile.lora_dropout, learning_rate=profile.learning_rate,
            epochs=profile.epochs, max_steps=profile.max_steps, batch_size=profile.batch_size,
            grad_accum=profile.grad_accum, max_seq_len=profile.max_seq_len,
            save_steps=profile.save_steps, eval_steps=profile.eval_steps,
            gradient_checkpointing=profile.gradient_checkpointing,
            quantization=profile.quantization, train_rows=profile.train_rows,
            adapter_dtype=profile.compute_dtype,
        )
        for key, value in changes.items():
            if not hasattr(s, key):
                raise SettingsError(f"unknown training setting {key!r}")
            setattr(s, key, value)
        return s.validate()

    def validate(self) -> "TrainSettings":
        """Raise one sentence for a setting that cannot work (03_qlora_training)."""
        if self.lora_targets not in TARGET_PRESETS:
            raise SettingsError(f"lora_targets {self.lora_targets!r}: use one of {', '.join(TARGET_PRESETS)}")
        if self.scheduler not in SCHEDULERS:
            raise SettingsError(f"scheduler {self.scheduler!r}: use one of {', '.join(SCHEDULERS)}")
        if self.lora_r < 1 or self.batch_size < 1 or self.grad_accum < 1 or self.max_seq_len < 32:
            raise SettingsError("lora_r, batch_size and grad_accum must be >= 1 and max_seq_len >= 32")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise SettingsError("set max_steps > 0 or epochs > 0")
        if self.packing and not self.fused_loss:
            raise SettingsError("packing=True needs fused_loss=True: the course's loss keeps packed examples "
                                "apart (measured equal to unpacked); set packing=False to use the model's own loss")
        from helpers.training.packing import ADAPTER_DTYPES

        if self.adapter_dtype not in ADAPTER_DTYPES:
            raise SettingsError(f"adapter_dtype {self.adapter_dtype!r}: use one of {', '.join(ADAPTER_DTYPES)}")
        if self.quantization not in ("none", "nf4"):
            raise SettingsError(f"quantization {self.quantization!r}: use 'none' or 'nf4'")
        return self


# ----------------------------------------------------------------------------- LoRA targets


def linear_module_names(model: Any) -> list[str]:
    """Short names of the Linear layers (4-bit ones too), output head excluded (03)."""
    import torch

    names = set()
    for full, module in model.named_modules():
        leaf = full.rsplit(".", 1)[-1]
        is_linear = isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt")
        if is_linear and leaf not in ("lm_head", "score", "classifier") and "lora_" not in full:
            names.add(leaf)
    return sorted(names)


def resolve_targets(model: Any, preset: str) -> list[str]:
    """A target preset resolved to module names that exist in this model (03_qlora_training)."""
    if preset not in TARGET_PRESETS:
        raise SettingsError(f"lora_targets {preset!r}: use one of {', '.join(TARGET_PRESETS)}")
    present = linear_module_names(model)
    wanted = TARGET_PRESETS[preset]
    if wanted is None:
        return present
    found = [n for n in wanted if n in present]
    if not found:
        raise SettingsError(
            f"none of {', '.join(wanted)} exist in this model (its Linear layers: {', '.join(present)}): "
            f"use lora_targets='all-linear'"
        )
    return found


def lora_config(model: Any, s: TrainSettings) -> Any:
    """A peft ``LoraConfig`` for a causal LM from the settings (03_qlora_training)."""
    from peft import LoraConfig

    return LoraConfig(
        r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout, bias=s.lora_bias,
        target_modules=resolve_targets(model, s.lora_targets), task_type="CAUSAL_LM",
    )


def attach_lora(model: Any, s: TrainSettings) -> Any:
    """Freeze the base, prepare a 4-bit model for training and add a fresh LoRA adapter (03)."""
    from peft import get_peft_model
    from transformers import set_seed

    from helpers.training.packing import apply_liger, cast_adapters, prepare_for_training

    set_seed(s.seed)  # the adapter's random init is part of the run: make it reproducible
    cfg = efficiency(s, "cuda" if next(model.parameters()).is_cuda else "cpu")
    model = prepare_for_training(model, cfg)
    if s.gradient_checkpointing:
        model.enable_input_require_grads()
    peft_model = get_peft_model(model, lora_config(model, s))
    cast_adapters(peft_model, cfg.adapter_dtype)
    if cfg.liger:
        apply_liger(peft_model)
    return peft_model


def efficiency(s: TrainSettings, device: str) -> Any:
    """The fast-recipe switches for these settings on this device (03_qlora_training).

    Liger kernels need CUDA; paged 8-bit AdamW is for a 4-bit base on CUDA. Everything else is
    the same on every device.
    """
    from helpers.training.packing import EfficiencyConfig, liger_available

    cuda = device == "cuda"
    return EfficiencyConfig(
        packing=s.packing, liger=s.liger and cuda and liger_available(), fused_loss=s.fused_loss,
        upcast=s.upcast, checkpointing="non-reentrant" if s.gradient_checkpointing else "off",
        optim="paged_adamw_8bit" if cuda and s.quantization == "nf4" else "adamw_torch",
        adapter_dtype=s.adapter_dtype,
    )


def trainable_summary(model: Any) -> dict[str, float]:
    """Trainable and total parameter counts and their ratio (03_qlora_training)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total, "percent": round(100 * trainable / max(total, 1), 3)}


# ----------------------------------------------------------------------------- answer-only loss


def encode_example(tokenizer: Any, messages: list[dict[str, str]], max_len: int) -> dict[str, list[int]]:
    """Token ids and labels for one conversation; only the final answer carries loss (03).

    The prompt is everything the chat template renders up to the assistant turn; the answer is
    the rest up to and including the end-of-turn token (so the model learns to stop). Prompt
    tokens get label -100. Over-long rows are cut from the *left* of the prompt so the answer
    survives.
    """
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise SettingsError("this chat template renders the prompt differently inside a full conversation: "
                            "answer-only masking needs a template whose prompt is a prefix of the conversation")
    answer = full[len(prompt):]
    eos = tokenizer.eos_token or ""
    if eos and eos in answer:
        answer = answer[: answer.index(eos) + len(eos)]  # drop the newline the template adds after EOS
    elif eos:
        answer += eos
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    a_ids = a_ids[:max_len]
    p_ids = p_ids[max(0, len(p_ids) - (max_len - len(a_ids))):]
    ids = p_ids + a_ids
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * len(p_ids) + a_ids, "attention_mask": [1] * len(ids)}


def build_dataset(tokenizer: Any, rows: Sequence[dict[str, Any]], config: PromptConfig, max_len: int,
                  packing: bool = False, seed: int = 0) -> Any:
    """A tokenised ``datasets.Dataset`` of answer-only examples, packed when asked (03_qlora_training).

    Packed rows hold several whole examples (at most ``max_len`` tokens) with position ids that
    restart for each example, so no compute is spent on padding.
    """
    from datasets import Dataset

    encoded = [encode_example(tokenizer, training_messages(r, config), max_len) for r in rows]
    if packing:
        from helpers.training.packing import pack_examples

        encoded = pack_examples(encoded, max_tokens=max_len, shuffle_seed=seed)
    return Dataset.from_list(encoded)


def loss_mask_html(tokenizer: Any, example: dict[str, list[int]]) -> str:
    """HTML that colours the tokens which carry loss (green) and the masked prompt (grey) (03)."""
    spans = []
    for tid, label in zip(example["input_ids"], example["labels"]):
        text = html.escape(tokenizer.decode([tid])).replace("\n", "\u21b5<br>")
        style = "background:#c8f7c5;color:#000" if label != IGNORE_INDEX else "color:#888"
        spans.append(f'<span style="{style}">{text}</span>')
    n = sum(1 for label in example["labels"] if label != IGNORE_INDEX)
    head = (f"<p><b>{n}</b> of {len(example['labels'])} tokens carry loss "
            f"(<span style='background:#c8f7c5'>green</span>); grey tokens are the masked prompt.</p>")
    return head + '<div style="font-family:monospace;white-space:normal;line-height:1.6">' + "".join(spans) + "</div>"


# ----------------------------------------------------------------------------- training loop


class StopFlag:
    """A thread-safe flag the stop button sets; training ends at the next step with a checkpoint (03)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        """Ask the running training to stop cleanly."""
        self._event.set()

    def clear(self) -> None:
        """Reset before a new run."""
        self._event.clear()

    @property
    def requested(self) -> bool:
        """True once :meth:`request` was called."""
        return self._event.is_set()


def _callbacks(on_log: Callable[[list[dict[str, Any]]], None] | None, stop: StopFlag | None) -> list[Any]:
    from transformers import TrainerCallback

    class LiveLoss(TrainerCallback):
        """Hands the growing log history to ``on_log`` (the notebook's live plot)."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if on_log is not None:
                on_log(list(state.log_history))

    class Stop(TrainerCallback):
        """Saves a checkpoint and ends training when the stop flag is set."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if stop is not None and stop.requested:
                control.should_save = True
                control.should_training_stop = True
            return control

    return [LiveLoss(), Stop()]


def training_arguments(s: TrainSettings, output_dir: Path, device: str) -> Any:
    """``TrainingArguments`` from the settings; bf16 and paged 8-bit AdamW on CUDA (03)."""
    from transformers import TrainingArguments

    cuda = device == "cuda"
    optim = efficiency(s, device).optim
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        learning_rate=s.learning_rate,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps if s.max_steps > 0 else -1,
        warmup_steps=s.warmup_ratio,  # a float below 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type=s.scheduler,
        logging_steps=1,
        eval_strategy="steps",
        prediction_loss_only=True,  # eval loss only: task metrics come from generation (04)
        eval_steps=s.eval_steps,
        save_strategy="steps",
        save_steps=s.save_steps,
        save_total_limit=3,
        bf16=cuda,
        optim=optim,
        # packed rows are all about max_seq_len long; without packing, group similar lengths
        train_sampling_strategy="random" if s.packing else "group_by_length",
        report_to="none",
        seed=s.seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
        use_cpu=not cuda,
    )


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder, or None (03_qlora_training)."""
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    last = get_last_checkpoint(str(output_dir))
    return Path(last) if last else None


@dataclass
class TrainResult:
    """What a training call produced (03_qlora_training)."""

    adapter_dir: Path | None
    global_step: int
    max_steps: int
    seconds: float
    log_history: list[dict[str, Any]]
    stopped_early: bool
    resumed_from: str | None
    peak_memory_gb: float


def peak_memory_gb(device: str) -> float:
    """Peak memory so far: CUDA reserved on a GPU, the process's peak RSS on a CPU (03)."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_reserved() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def make_trainer(
    model: Any, tokenizer: Any, train_ds: Any, eval_ds: Any, s: TrainSettings, output_dir: Path,
    device: str, on_log: Callable[[list[dict[str, Any]]], None] | None = None, stop: StopFlag | None = None,
) -> Any:
    """A ``transformers.Trainer`` with the recipe's collator and loss, live-loss and stop callbacks (03)."""
    from helpers.training.packing import make_collator, trainer_class

    cfg = efficiency(s, device)
    collator = make_collator(cfg, tokenizer.pad_token_id, max_tokens=s.max_seq_len)
    return trainer_class(cfg)(
        model=model, args=training_arguments(s, output_dir, device), train_dataset=train_ds,
        eval_dataset=eval_ds, data_collator=collator, processing_class=tokenizer,
        callbacks=_callbacks(on_log, stop),
    )


def train(
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[dict[str, Any]],
    eval_rows: Sequence[dict[str, Any]],
    s: TrainSettings,
    adapter_root: Path,
    device: str = "cpu",
    resume: bool | str = False,
    on_log: Callable[[list[dict[str, Any]]], None] | None = None,
    stop: StopFlag | None = None,
    config: PromptConfig | None = None,
) -> TrainResult:
    """Train the LoRA adapter of ``model`` (a peft model) and save it atomically (03_qlora_training).

    Checkpoints go to ``adapter_root/checkpoints``; ``resume=True`` continues from the newest
    one with its optimizer, scheduler and RNG state. The finished adapter is written to
    ``adapter_root/final`` through a temporary folder, so a killed run never leaves a
    half-written adapter that looks finished.
    """
    config = config or finetune_config()
    tokenizer.padding_side = "left"
    adapter_root = Path(adapter_root)
    ckpt_dir = adapter_root / "checkpoints"
    train_ds = build_dataset(tokenizer, train_rows, config, s.max_seq_len, s.packing, s.seed)
    eval_ds = build_dataset(tokenizer, list(eval_rows)[: s.eval_rows_for_loss], config, s.max_seq_len, s.packing, s.seed)
    trainer = make_trainer(model, tokenizer, train_ds, eval_ds, s, ckpt_dir, device, on_log, stop)
    resume_from = None
    if resume:
        last = Path(resume) if isinstance(resume, str) else latest_checkpoint(ckpt_dir)
        if last is None:
            raise SettingsError(f"nothing to resume: no checkpoint in {ckpt_dir}; start a new training instead")
        resume_from = str(last)
    start = time.perf_counter()
    with oom_guard("train"):
        trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    state = trainer.state
    stopped = bool(stop and stop.requested and state.global_step < state.max_steps)
    adapter_dir = None
    if not stopped:
        adapter_dir = save_adapter(model, tokenizer, adapter_root / "final")
    return TrainResult(
        adapter_dir=adapter_dir, global_step=state.global_step, max_steps=state.max_steps,
        seconds=seconds, log_history=list(state.log_history), stopped_early=stopped,
        resumed_from=resume_from, peak_memory_gb=round(peak_memory_gb(device), 3),
    )


def save_adapter(model: Any, tokenizer: Any, target: Path) -> Path:
    """Write the adapter (safetensors) through a temp folder and an atomic rename (03)."""
    target = Path(target)
    tmp = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return target


def load_adapter(base_model: Any, adapter_dir: Path) -> Any:
    """Put a saved adapter on a freshly loaded base model, for inference (03, 04)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_model.safetensors").exists():
        raise SettingsError(f"no adapter in {adapter_dir}: run notebooks/03_qlora_training.ipynb first")
    return PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=False)


def merge_for_serving(base_model_fp: Any, adapter_dir: Path, target: Path) -> Path:
    """Merge an adapter into a full-precision base for serving (03_qlora_training).

    Load the base in bf16/fp32 (not 4-bit) first: merging into 4-bit weights would round the
    LoRA update to the 4-bit grid, and the merged model would differ from the one you tested.
    """
    merged = load_adapter(base_model_fp, adapter_dir).merge_and_unload()
    merged.save_pretrained(str(target), safe_serialization=True)
    return Path(target)


# ----------------------------------------------------------------------------- run card and plots


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file, for the run card (03_qlora_training)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def final_losses(history: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The last train loss and eval loss in a log history (03_qlora_training)."""
    train_l = [h["loss"] for h in history if "loss" in h]
    eval_l = [h["eval_loss"] for h in history if "eval_loss" in h]
    return {"train_loss": train_l[-1] if train_l else None, "eval_loss": eval_l[-1] if eval_l else None}


def hardware() -> dict[str, Any]:
    """This machine: CPU count, GPU name and memory if any (03_qlora_training)."""
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1))
    return info


def write_run_card(
    adapter_root: Path, profile: Profile, s: TrainSettings, result: TrainResult,
    data_files: Sequence[Path], extra: dict[str, Any] | None = None,
) -> Path:
    """``run_card.json``: config, data hashes, versions, hardware, time, memory, losses (03)."""
    card = {
        "status": "complete" if result.adapter_dir else "stopped",
        "profile": profile.to_dict(),
        "settings": asdict(s),
        "data": {str(Path(p).name): file_sha256(Path(p)) for p in data_files},
        "versions": library_versions(),
        "hardware": hardware(),
        "wall_seconds": round(result.seconds, 1),
        "peak_memory_gb": result.peak_memory_gb,
        "global_step": result.global_step,
        "max_steps": result.max_steps,
        "resumed_from": result.resumed_from,
        **final_losses(result.log_history),
        **(extra or {}),
    }
    return write_json(Path(adapter_root) / "run_card.json", card)


def draw_loss(ax: Any, history: Sequence[dict[str, Any]], title: str = "LoRA training") -> None:
    """Draw train and eval loss against the step on a matplotlib axis (03_qlora_training)."""
    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if tr:
        ax.plot(*zip(*tr), label="train loss", color="#1f77b4")
    if ev:
        ax.plot(*zip(*ev), "o-", label="eval loss", color="#d62728")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if tr or ev:
        ax.legend()


def loss_figure(history: Sequence[dict[str, Any]], title: str = "LoRA training") -> Any:
    """Train and eval loss as a standalone figure (no pyplot: safe from any thread) (03)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.5))
    draw_loss(fig.add_subplot(), history, title)
    fig.tight_layout()
    return fig


def save_loss_plot(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Save the loss curve as PNG (03_qlora_training)."""
    loss_figure(history).savefig(path, dpi=110)
    return Path(path)


def dry_run(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], s: TrainSettings, device: str,
            config: PromptConfig | None = None) -> dict[str, float]:
    """One measured optimizer step at the chosen batch and length: seconds and peak memory (03).

    The LoRA weights are restored afterwards, so the dry run does not change the model.
    """
    import torch

    from helpers.training.packing import causal_lm_loss, make_collator

    config = config or finetune_config()
    ds = build_dataset(tokenizer, list(rows)[: max(s.batch_size * 8, 16)], config, s.max_seq_len, s.packing, s.seed)
    collator = make_collator(efficiency(s, device), tokenizer.pad_token_id, max_tokens=s.max_seq_len)
    batch = collator([ds[i % len(ds)] for i in range(s.batch_size)])
    dev = next(model.parameters()).device
    batch = {k: v.to(dev) for k, v in batch.items()}
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=s.learning_rate)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.train()
    with oom_guard("train"):
        t0 = time.perf_counter()
        loss = causal_lm_loss(model, batch) if s.fused_loss else model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    with torch.no_grad():
        for p, old in zip(params, saved):
            p.copy_(old)
    tokens = int((batch["input_ids"] != tokenizer.pad_token_id).sum())
    return {"seconds_per_step": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
            "peak_memory_gb": round(peak_memory_gb(device), 3), "loss": round(loss.item(), 4)}


def run_settings_json(s: TrainSettings) -> str:
    """The settings as pretty JSON, for display (03_qlora_training)."""
    return json.dumps(asdict(s), indent=2)


# ----------------------------------------------------------------------------- a job the UI can drive


class TrainingJob:
    """One training run that a notebook cell or the train panel can start, stop and resume (03).

    It owns no hidden state a later cell cannot see: ``job.history``, ``job.result``,
    ``job.error`` and ``job.model`` are plain attributes. ``start(background=True)`` trains in
    a thread so the stop button stays clickable while the kernel trains.
    """

    def __init__(self, profile: Profile, tokenizer: Any, train_rows: Sequence[dict[str, Any]],
                 eval_rows: Sequence[dict[str, Any]], adapter_root: Path,
                 data_files: Sequence[Path] = ()) -> None:
        self.profile = profile
        self.tokenizer = tokenizer
        self.train_rows = list(train_rows)
        self.eval_rows = list(eval_rows)
        self.adapter_root = Path(adapter_root)
        self.data_files = list(data_files)
        self.stop_flag = StopFlag()
        self.history: list[dict[str, Any]] = []
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        self.result: TrainResult | None = None
        self.error: BaseException | None = None
        self.model: Any = None
        self.settings: TrainSettings | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while a background training thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _on_log(self, history: list[dict[str, Any]]) -> None:
        self.history = history
        for listener in self.listeners:
            listener(history)

    def prepare_model(self, s: TrainSettings) -> Any:
        """Load the base model and attach a fresh LoRA adapter with settings ``s``."""
        from helpers.core.models import load_causal_lm

        base = load_causal_lm(self.profile, quantization=s.quantization)
        self.model = attach_lora(base, s)
        return self.model

    def _run(self, s: TrainSettings, resume: bool) -> None:
        try:
            if self.model is None or self.settings != s:
                self.prepare_model(s)
            self.settings = s
            rows = self.train_rows[: s.train_rows] if s.train_rows else self.train_rows
            self.result = train(self.model, self.tokenizer, rows, self.eval_rows, s, self.adapter_root,
                                device=self.profile.device, resume=resume, on_log=self._on_log,
                                stop=self.stop_flag)
            self.finish()
        except BaseException as exc:  # noqa: BLE001 - kept for the caller / panel to show
            self.error = exc

    def start(self, s: TrainSettings, resume: bool = False, background: bool = False) -> "TrainingJob":
        """Train with settings ``s`` (resume from the latest checkpoint if asked)."""
        if self.running:
            raise SettingsError("a training run is already going: stop it first")
        self.stop_flag.clear()
        self.error = None
        self.result = None
        if background:
            self._thread = threading.Thread(target=self._run, args=(s, resume), daemon=True)
            self._thread.start()
            return self
        self._run(s, resume)
        if self.error is not None:
            raise self.error
        return self

    def wait(self, timeout: float | None = None) -> TrainResult | None:
        """Block until a background run ends; re-raise its error (03_qlora_training)."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self) -> None:
        """Ask for a clean stop: a checkpoint is saved at the next step."""
        self.stop_flag.request()

    def finish(self) -> None:
        """Write the run card and the loss plot for the latest result."""
        if self.result is None or self.settings is None:
            return
        write_run_card(self.adapter_root, self.profile, self.settings, self.result, self.data_files)
        if self.result.log_history:
            save_loss_plot(self.result.log_history, self.adapter_root / "loss.png")


def train_course_adapter(profile: Profile, adapter_root: Path, resume: bool = False, **changes: Any) -> TrainResult:
    """Train the course adapter on the bundled data without a notebook: scripts, tests, CLI (03).

    Writes the run card and loss plot like the notebook does.
    """
    from helpers.data.loading import load_split, split_path
    from helpers.core.models import load_tokenizer

    s = TrainSettings.from_profile(profile, **changes)
    job = TrainingJob(profile, load_tokenizer(profile.model), load_split("train", limit=s.train_rows),
                      load_split("eval"), adapter_root, data_files=[split_path("train"), split_path("eval")])
    job.start(s, resume=resume)
    assert job.result is not None
    return job.result


def cli_train(args: Any) -> int:
    """``python -m helpers train --run DIR [--resume] [--max-steps N]`` (03_qlora_training)."""
    from helpers.core.config import load_profile

    changes = {"max_steps": args.max_steps} if args.max_steps else {}
    if args.save_steps:
        changes["save_steps"] = args.save_steps
    result = train_course_adapter(load_profile(args.profile), Path(args.run) / "adapter", resume=args.resume, **changes)
    print(json.dumps({"global_step": result.global_step, "max_steps": result.max_steps,
                      "resumed_from": result.resumed_from, "adapter_dir": str(result.adapter_dir),
                      "seconds": round(result.seconds, 1)}))
    return 0
