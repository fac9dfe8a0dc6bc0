"""Training through TRL's ``SFTTrainer``: one function that every path calls.

Introduced in ``03_qlora_training.ipynb``. :func:`make_trainer` hands the model, the
``LoraConfig`` and the ``SFTConfig`` from :class:`helpers.training.settings.TrainSettings` to
``trl.SFTTrainer``, which wraps the model with peft, casts QLoRA adapters to bf16, packs the
examples and computes the answer-only loss with its fused LM head (on a CPU, the course's
:func:`answer_loss` of the answer positions instead, see :func:`trainer_class`). The course adds its
measured switches (``fixed_shape_rows``, ``checkpoint_every``) and two callbacks: the live loss
plot and the stop button. :func:`train` runs it with checkpoints and resume; notebook 03, the
panel, the command line, the tests and ``benchmarks/bench_qlora.py`` all call it.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from helpers.core.errors import SettingsError
from helpers.core.oom import oom_guard
from helpers.prompting.prompts import PromptConfig, finetune_config
from helpers.training.collate import FixedShapeCollator
from helpers.training.dataset import sft_dataset
from helpers.training.settings import TrainSettings

LogListener = Callable[[list[dict[str, Any]]], None]


class StopFlag:
    """A thread-safe flag the stop button sets; training ends at the next step with a checkpoint (03_qlora_training)."""

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


def _callbacks(on_log: LogListener | None, stop: StopFlag | None) -> list[Any]:
    from transformers import TrainerCallback

    class LiveLoss(TrainerCallback):
        """Hands the growing log history (with the run's total steps) to ``on_log``."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if on_log is not None:
                on_log([{**h, "max_steps": state.max_steps} for h in state.log_history])

    class Stop(TrainerCallback):
        """Saves a checkpoint and ends training when the stop flag is set."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if stop is not None and stop.requested:
                control.should_save = True
                control.should_training_stop = True
            return control

    return [LiveLoss(), Stop()]


def set_layer_checkpointing(model: Any, every_n_layers: int) -> None:
    """Recompute the activations of every n-th decoder layer only (03_qlora_training).

    TRL turns checkpointing on for every layer (``SFTConfig.gradient_checkpointing``); this is
    the course's switch for less recomputation at more memory (transformers >= 5.24).
    """
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is None:
        raise SettingsError("checkpoint_every > 1 needs transformers >= 5.24; set checkpoint_every=1")
    enable({"use_reentrant": False}, every_n_layers=every_n_layers)
    model.enable_input_require_grads()
    model.config.use_cache = False


def answer_positions(labels: Any) -> Any:
    """Positions whose next token is scored in at least one row of the batch (03_qlora_training).

    ``labels`` is the batch's ``(rows, length)`` answer-only labels (``-100`` elsewhere); position
    ``i`` predicts token ``i + 1``, so these are the positions whose logits the loss needs.
    """
    return (labels[:, 1:] != -100).any(0).nonzero().squeeze(1)


def answer_loss(logits: Any, labels: Any, positions: Any, num_items_in_batch: Any = None) -> Any:
    """The causal-LM loss of the logits at ``positions`` only (03_qlora_training).

    The same cross-entropy as the model's own loss (fp32, ``-100`` ignored): summed and divided by
    ``num_items_in_batch`` when the Trainer counts the answer tokens across gradient accumulation,
    else the mean over this batch's answer tokens. A batch without answer tokens gives a zero that
    still backpropagates.
    """
    import torch.nn.functional as F

    target = labels[:, 1:][:, positions]
    total = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=-100, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (target != -100).sum().clamp(min=1)
    return total / count


def trainer_class(s: TrainSettings, device: str) -> type:
    """``trl.SFTTrainer``, or on a CPU its subclass that scores the answer positions only (03_qlora_training).

    TRL's fused LM head (``SFTTrainer.compute_loss``) scores only the answer tokens on CUDA, but on
    a CPU every position, in fp32 tiles. The model's own loss (``Trainer.compute_loss``) projects
    every position through the 49k-word LM head as well, although on the cpu profile's batch (2
    packed rows of 512 tokens) only 28% are answer tokens. So on a CPU the model is asked for the logits of the answer positions only (transformers'
    ``logits_to_keep``, with the union of the batch rows' positions) and :func:`answer_loss` scores
    them: the same answer-only loss to 1e-4 (``tests/test_train.py``). A step (medians of 4,
    ``benchmarks/bench_cpu_dtype.py``, ``cpu_dtype.json``) took 11.8 s with TRL's fused head,
    9.3 s with the model's own loss and 6.5 s with this one in fp32; under bf16 autocast 4.9 s
    with the model's loss and 3.7 s with this one. The logs then lack TRL's ``entropy`` and
    ``mean_token_accuracy``, which the course does not read.
    """
    from trl import SFTTrainer

    if s.fused_lm_head and device == "cuda":
        return SFTTrainer

    class AnswerLossSFTTrainer(SFTTrainer):
        """``SFTTrainer`` whose loss projects only the answer positions through the LM head, for a CPU."""

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs["labels"]
            positions = answer_positions(labels)
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False,
                            logits_to_keep=positions)
            loss = answer_loss(outputs.logits, labels, positions, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # as Trainer.compute_loss: num_items_in_batch counts every process's tokens and DDP averages
                loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

    return AnswerLossSFTTrainer


def make_trainer(
    model: Any, tokenizer: Any, train_data: Sequence[dict[str, Any]] | Any, eval_data: Sequence[dict[str, Any]] | Any | None,
    s: TrainSettings, output_dir: Path, device: str = "cpu", on_log: LogListener | None = None,
    stop: StopFlag | None = None, config: PromptConfig | None = None,
) -> Any:
    """A ``trl.SFTTrainer`` for these settings (03_qlora_training).

    ``train_data`` / ``eval_data`` are course rows (turned into prompt-completion examples) or a
    ready ``datasets.Dataset`` (prompt-completion, or tokenised ``input_ids`` + ``labels`` as the
    benchmark passes). A plain model gets its LoRA adapter from ``s.lora_config()`` inside
    TRL; a model that already is a ``PeftModel`` (resume, a second run) is trained as it is.
    """
    from peft import PeftModel
    from transformers import set_seed

    set_seed(s.seed)  # the adapter's random init is part of the run: make it reproducible
    config = config or finetune_config()
    train_ds = sft_dataset(train_data, config) if isinstance(train_data, (list, tuple)) else train_data
    eval_ds = None
    if eval_data is not None and len(eval_data):
        rows = list(eval_data)[: s.eval_rows_for_loss] if isinstance(eval_data, (list, tuple)) else None
        eval_ds = sft_dataset(rows, config) if rows is not None else eval_data
    if s.gradient_checkpointing and s.checkpoint_every > 1:
        set_layer_checkpointing(model, s.checkpoint_every)
    tokenizer.padding_side = "left"  # for generation after training; TRL pads training batches itself
    trainer = trainer_class(s, device)(
        model=model, args=s.sft_config(output_dir, device, with_eval=eval_ds is not None),
        train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
        peft_config=None if isinstance(model, PeftModel) else s.lora_config(),
        callbacks=_callbacks(on_log, stop),
    )
    if s.compute_dtype == "float16":
        # fp16 compute (cards without bf16, helpers.core.config.fit_compute_dtype): TRL casts QLoRA
        # adapters to bf16, and fp16 AMP's GradScaler cannot unscale bf16 gradients (measured on the
        # H200: NotImplementedError at the first step; with fp32 adapters 4 steps, finite losses,
        # benchmarks/results/gpu_real_course_h200.json "fp16_fallback"). So the trained weights are fp32.
        for p in trainer.model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
    if s.fixed_shape_rows:
        # The course's switch: TRL refuses a custom collator with padding-free packing at
        # construction, so the collator is replaced once TRL has prepared the packed rows.
        trainer.data_collator = FixedShapeCollator(tokenizer.pad_token_id, s.max_seq_len)
    return trainer


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder, or None (03_qlora_training)."""
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    last = get_last_checkpoint(str(output_dir))
    return Path(last) if last else None


def peak_memory_gb(device: str) -> float:
    """Peak memory so far: CUDA reserved on a GPU, the process's peak RSS on a CPU (03_qlora_training)."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_reserved() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def train(
    model: Any, tokenizer: Any, train_rows: Sequence[dict[str, Any]] | Any, eval_rows: Sequence[dict[str, Any]] | Any | None,
    s: TrainSettings, run_dir: Path, device: str = "cpu", resume: bool | str = False,
    on_log: LogListener | None = None, stop: StopFlag | None = None, config: PromptConfig | None = None,
) -> tuple[TrainResult, Any]:
    """Train a LoRA adapter on ``model`` with ``SFTTrainer`` and save it atomically (03_qlora_training).

    ``run_dir`` belongs to this one run (notebook 03 gives each run its own folder, see
    :func:`helpers.training.artifacts.run_folder`). Checkpoints go to ``run_dir/checkpoints``;
    ``resume=True`` continues from the newest one *in that folder* with its optimizer, scheduler
    and RNG state. A fresh start refuses a folder that already holds checkpoints: the Trainer
    would rotate them away (``save_total_limit``) and a later resume could pick another run's.
    The finished adapter is written to ``run_dir/final`` through a temporary folder, so a killed
    run never leaves a half-written adapter that looks finished. Returns the result and the
    trained (peft) model.
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    resume_from = None
    if resume:
        last = Path(resume) if isinstance(resume, str) else latest_checkpoint(ckpt_dir)
        if last is None:
            raise SettingsError(f"nothing to resume: no checkpoint in {ckpt_dir}; start a new training instead")
        resume_from = str(last)
    elif latest_checkpoint(ckpt_dir) is not None:
        raise SettingsError(f"{ckpt_dir} holds another run's checkpoints: resume that run or train into a new folder")
    trainer = make_trainer(model, tokenizer, train_rows, eval_rows, s, ckpt_dir, device, on_log, stop, config)
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with oom_guard("train"):
        trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    state = trainer.state
    stopped = bool(stop and stop.requested and state.global_step < state.max_steps)
    adapter_dir = None if stopped else save_final(trainer, tokenizer, run_dir / "final")
    result = TrainResult(
        adapter_dir=adapter_dir, global_step=state.global_step, max_steps=state.max_steps,
        seconds=seconds, log_history=list(state.log_history), stopped_early=stopped,
        resumed_from=resume_from, peak_memory_gb=round(peak_memory_gb(device), 3),
    )
    return result, trainer.model


def save_final(trainer: Any, tokenizer: Any, target: Path) -> Path:
    """The finished adapter, written once however many processes trained it (guide: past_one_gpu).

    One process: :func:`helpers.training.artifacts.save_adapter` (temporary folder, atomic rename).
    Under ``accelerate launch`` every process calls ``Trainer.save_model``: under FSDP that gathers
    the full state dict first (``FULL_STATE_DICT``, as the peft FSDP + QLoRA guide saves), and only
    the main process writes; it then renames the temporary folder while the others wait.
    """
    from helpers.training.artifacts import save_adapter  # artifacts imports this module (TrainResult)

    acc = trainer.accelerator
    if acc.num_processes == 1:
        return save_adapter(trainer.model, tokenizer, target)
    if getattr(trainer, "is_fsdp_enabled", False):
        acc.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    tmp = target.with_name(target.name + ".partial")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    trainer.save_model(str(tmp))  # collective under FSDP; the files are written by the main process only
    if acc.is_main_process:
        tokenizer.save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        tmp.replace(target)
    acc.wait_for_everyone()
    return target


def dry_run(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], s: TrainSettings, device: str,
            config: PromptConfig | None = None) -> tuple[dict[str, float], Any]:
    """One measured optimizer step of the real trainer at the chosen batch and length (03_qlora_training).

    The trainer is the one :func:`train` builds; its LoRA weights are put back afterwards, so
    the dry run does not change the model. Returns the figures and the (peft) model.
    """
    import torch

    sample = list(rows)[: max(s.batch_size * s.grad_accum * 8, 16)]
    one = s.replace(max_steps=1, save_steps=10**6, eval_steps=10**6, warmup_ratio=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(model, tokenizer, sample, None, one, Path(tmp), device, config=config)
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        saved = [p.detach().clone() for p in params]
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with oom_guard("train"):
            t0 = time.perf_counter()
            out = trainer.train()
            seconds = time.perf_counter() - t0
        with torch.no_grad():
            for p, old in zip(params, saved):
                p.copy_(old)
        tokens = int(trainer.state.num_input_tokens_seen or 0) or _step_tokens(trainer)
    figures = {"seconds_per_step": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1),
               "peak_memory_gb": round(peak_memory_gb(device), 3), "loss": round(float(out.training_loss), 4)}
    return figures, trainer.model


def _step_tokens(trainer: Any) -> int:
    """Real tokens in one training batch (the packed rows' lengths)."""
    ds = trainer.train_dataset
    n = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    return sum(len(ds[i]["input_ids"]) for i in range(min(n, len(ds))))
