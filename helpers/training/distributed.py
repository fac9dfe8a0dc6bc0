"""Past one GPU: the course's training run under ``accelerate launch``, one process per device.

Introduced in ``guide/past_one_gpu.md``. The engine is the ecosystem's: ``accelerate launch``
starts the processes and sets the distributed environment, and the Trainer inside TRL's
``SFTTrainer`` wraps the model in DDP or FSDP from it (transformers swaps in peft's FSDP wrap
policy for a ``PeftModel`` and the 4-bit storage dtype as FSDP's mixed-precision dtype). This
module adds only what the course's single-process run lacks:

* :func:`world` reads who this process is from the launcher's environment (no torch import);
* :func:`shared_run_name` reserves the run folder once, on the main process, and hands the
  name to the others (every process must write checkpoints into the *same* folder);
* :func:`distributed_changes` are the setting changes FSDP + QLoRA needs (peft guide caveats);
* :func:`check_launch_config` reads an accelerate config file with accelerate's own parser and
  names what does not follow the peft / TRL recipe;
* :func:`train_distributed` is the run itself: the same :class:`TrainSettings`, the same
  :func:`helpers.training.trainer.train`, the run card written once by the main process.

Launch it with ``accelerate launch --config_file guide/scripts/accelerate/ddp.yaml -m
helpers.training.distributed --run runs/<id> --name <name>`` (:func:`launch_command` builds it).
Run without a launcher it is a plain one-process run, so a test can compare the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from helpers.core.errors import SettingsError
from helpers.training.settings import TrainSettings

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile
    from helpers.training.trainer import TrainResult

CONFIG_DIR = Path(__file__).resolve().parents[2] / "guide" / "scripts" / "accelerate"


@dataclass(frozen=True)
class World:
    """This process's place in a launch: how many processes, which one, DDP or FSDP (guide: past_one_gpu)."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    fsdp: bool = False

    @property
    def main(self) -> bool:
        """True on the process that writes the run card and the final adapter."""
        return self.rank == 0

    @property
    def kind(self) -> str:
        """"single", "ddp" or "fsdp"."""
        return "fsdp" if self.fsdp else ("ddp" if self.size > 1 else "single")


def world(env: dict[str, str] | None = None) -> World:
    """The launch this process belongs to, from the variables ``accelerate launch`` sets (guide: past_one_gpu)."""
    env = dict(os.environ if env is None else env)
    return World(size=int(env.get("WORLD_SIZE", 1)), rank=int(env.get("RANK", 0)),
                 local_rank=int(env.get("LOCAL_RANK", 0)),
                 fsdp=env.get("ACCELERATE_USE_FSDP", "false").lower() == "true")


def effective_batch(s: TrainSettings, n_processes: int) -> int:
    """Packed rows per optimizer step: per-device batch x gradient accumulation x processes (guide: past_one_gpu)."""
    return s.batch_size * s.grad_accum * max(1, n_processes)


def _init_process_group(cpu: bool) -> Any:
    """accelerate's shared state, which opens the process group (gloo on CPUs, NCCL on GPUs).

    Opened before the model loads: transformers' CPU-RAM-efficient FSDP loading (rank 0 reads the
    weights, the others start empty) only applies once the process group exists.
    """
    from accelerate import PartialState

    return PartialState(cpu=cpu)


def _broadcast(value: Any, cpu: bool) -> Any:
    """The main process's ``value`` on every process (itself when there is one process)."""
    if world().size == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _init_process_group(cpu)
    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def shared_run_name(adapter_root: Path, name: str | None = None, cpu: bool = True) -> str:
    """Reserve one run folder for all processes: the main one creates it, the others get its name (guide: past_one_gpu).

    Each process reserving its own (:func:`helpers.training.artifacts.new_run_name`) would give
    ``name`` and ``name-2``: checkpoints split across two folders and a resume that cannot work.
    """
    from helpers.training.artifacts import new_run_name

    reserved = new_run_name(adapter_root, name) if world().main else None
    return str(_broadcast(reserved, cpu))


def distributed_changes(s: TrainSettings, w: World, device: str) -> dict[str, Any]:
    """The setting changes a launch needs on top of the profile's (guide: past_one_gpu).

    Under FSDP: torch AdamW instead of the paged 8-bit one (peft's FSDP guide: with FSDP + QLoRA
    ``paged_adamw_8bit`` fails when a checkpoint is saved), and reentrant checkpointing (the
    non-reentrant recomputation sees the resharded weights). DDP needs no change.
    """
    if not w.fsdp:
        return {}
    changes: dict[str, Any] = {}
    if s.optim == "auto" and s.resolved_optim(device) != "adamw_torch":
        changes["optim"] = "adamw_torch"
    if s.gradient_checkpointing:
        changes["use_reentrant"] = True
        if s.checkpoint_every > 1:
            raise SettingsError("checkpoint_every > 1 is not supported under FSDP: set checkpoint_every=1")
    return changes


# ------------------------------------------------------------------------- the config files

#: What the peft guide "Use PEFT QLoRA and FSDP" sets, and why each matters (checked by name).
FSDP_QLORA_RECIPE: dict[str, tuple[Any, str]] = {
    "fsdp_sharding_strategy": ("FULL_SHARD", "shard weights, gradients and optimiser state (what makes a 70B fit)"),
    "fsdp_cpu_ram_efficient_loading": (True, "only rank 0 reads the weights; without it every process holds a copy in RAM"),
    "fsdp_sync_module_states": (True, "cpu_ram_efficient_loading needs rank 0's weights sent to the others"),
    "fsdp_use_orig_params": (False, "peft's memory saving needs flat parameters (frozen and LoRA weights wrapped apart)"),
    "fsdp_state_dict_type": ("SHARDED_STATE_DICT", "checkpoints written shard by shard, never gathered on one GPU"),
}


def check_launch_config(path: Path | str, s: TrainSettings | None = None) -> dict[str, Any]:
    """Read an accelerate config with accelerate's parser and list what breaks the course's recipe (guide: past_one_gpu).

    Returns ``{"distributed_type", "num_processes", "fsdp_config", "problems": [sentence, ...]}``;
    an empty ``problems`` list means the file follows the peft / TRL guidance for ``s``.
    """
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"no accelerate config at {path}: use one of {', '.join(sorted(p.name for p in CONFIG_DIR.glob('*.yaml')))}")
    cfg = load_config_from_file(str(path))
    kind = str(getattr(cfg.distributed_type, "value", cfg.distributed_type))
    fsdp = dict(getattr(cfg, "fsdp_config", None) or {})
    problems: list[str] = []
    if kind not in ("MULTI_GPU", "FSDP"):
        problems.append(f"distributed_type {kind}: use MULTI_GPU (DDP) or FSDP")
    if (cfg.num_processes or 1) < 2:
        problems.append("num_processes < 2: one process is the plain single-GPU run")
    if kind == "FSDP":
        for key, (want, why) in FSDP_QLORA_RECIPE.items():
            got = fsdp.get(key)
            if str(got).upper() != str(want).upper():
                problems.append(f"{key}={got!r}: set {want!r} ({why})")
        if fsdp.get("fsdp_activation_checkpointing") and (s is None or s.gradient_checkpointing):
            problems.append("fsdp_activation_checkpointing=true: leave it false, checkpointing comes from the trainer "
                            "(gradient_checkpointing) or the layers are checkpointed twice")
        if s is not None and s.quantization == "nf4" and s.compute_dtype == "float32":
            problems.append("FSDP + QLoRA stores the 4-bit weights in the compute dtype: use compute_dtype bfloat16")
    return {"distributed_type": kind, "num_processes": cfg.num_processes, "fsdp_config": fsdp, "problems": problems}


def launch_command(config: Path | str, run: Path | str, name: str | None = None, *, num_processes: int | None = None,
                   resume: bool = False, profile: str | None = None, changes: dict[str, Any] | None = None) -> list[str]:
    """The ``accelerate launch`` command line for :func:`train_distributed` (guide: past_one_gpu).

    ``python -m accelerate.commands.launch`` is the ``accelerate launch`` console script run by
    this Python, so it works in a virtual environment that is not on ``PATH``.
    """
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    if num_processes:
        cmd += ["--num_processes", str(num_processes)]
    cmd += ["-m", "helpers.training.distributed", "--run", str(run)]
    if name:
        cmd += ["--name", name]
    if resume:
        cmd.append("--resume")
    if profile:
        cmd += ["--profile", profile]
    for key, value in (changes or {}).items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    return cmd


# ------------------------------------------------------------------------- the run

def load_base_for_process(profile: "Profile", s: TrainSettings, w: World) -> Any:
    """The base model for this process: the course's loader, placed for DDP or FSDP on GPUs (guide: past_one_gpu).

    On a CPU, or with one process, this is :func:`helpers.core.models.load_causal_lm` as for one
    process. On GPUs, as the peft / TRL guides place it: DDP loads a full copy on this process's
    GPU; FSDP loads on the CPU (rank 0 only, with ``fsdp_cpu_ram_efficient_loading``) and stores
    the 4-bit weights in the compute dtype so FSDP can shard them.
    """
    from helpers.core.models import load_causal_lm

    if profile.device != "cuda" or w.size == 1:
        return load_causal_lm(profile, quantization=s.quantization)
    if w.fsdp:
        return load_causal_lm(profile, quantization=s.quantization, device_map=None,
                              quant_storage=s.compute_dtype if s.quantization == "nf4" else None)
    return load_causal_lm(profile, quantization=s.quantization, device_map={"": w.local_rank})


def train_distributed(profile: "Profile", adapter_root: Path, name: str | None = None, resume: bool = False,
                      **changes: Any) -> "TrainResult":
    """The course's training run in every process of an ``accelerate launch`` (guide: past_one_gpu).

    The same data, the same :class:`TrainSettings` (``changes`` on top of the profile, then
    :func:`distributed_changes`), the same :func:`helpers.training.trainer.train` as
    :func:`helpers.training.job.train_course_adapter`; the run folder is reserved once
    (:func:`shared_run_name`) and the run card, loss plot and ``LATEST`` pointer are written by
    the main process only. ``resume`` continues run ``name`` (default: the newest run with a
    checkpoint, chosen on the main process).
    """
    from helpers.core.models import load_tokenizer
    from helpers.data.loading import load_split, split_path
    from helpers.training.artifacts import latest_run, mark_latest, run_folder, save_loss_plot, write_run_card
    from helpers.training.trainer import train

    w = world()
    cpu = profile.device != "cuda"
    if w.size > 1:
        _init_process_group(cpu)
    s = TrainSettings.from_profile(profile, **changes)
    s = s.replace(**distributed_changes(s, w, profile.device))
    if resume:
        run = name or _broadcast(latest_run(adapter_root) if w.main else None, cpu)
        if run is None:
            raise SettingsError(f"nothing to resume: no training run in {adapter_root}; start one without --resume")
    else:
        run = shared_run_name(adapter_root, name, cpu)
    run_dir = run_folder(adapter_root, run)
    rows = load_split("train", limit=s.train_rows)
    model = load_base_for_process(profile, s, w)
    result, _ = train(model, load_tokenizer(profile.model), rows, load_split("eval"), s, run_dir,
                      device=profile.device, resume=resume)
    if w.main:
        extra = {"run": run, "origin": "accelerate", "world_size": w.size, "parallelism": w.kind,
                 "effective_batch": effective_batch(s, w.size)}
        write_run_card(run_dir, profile, s, result, [split_path("train"), split_path("eval")], extra=extra)
        if result.log_history:
            save_loss_plot(result.log_history, run_dir / "loss.png")
        if result.adapter_dir is not None:
            mark_latest(adapter_root, run)
    return result


def parse_changes(pairs: Sequence[str]) -> dict[str, Any]:
    """``["batch_size=1", "lora_dropout=0.0"]`` -> typed setting changes; unknown names raise (guide: past_one_gpu)."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in fields:
            raise SettingsError(f"--set {pair!r}: use NAME=VALUE with a TrainSettings field ({', '.join(sorted(fields))})")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw  # a bare string such as scheduler=constant
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``accelerate launch ... -m helpers.training.distributed --run DIR [--name N] [--resume] [--set K=V]`` (guide: past_one_gpu)."""
    from helpers.core.config import load_profile
    from helpers.core.errors import USER_ERRORS

    p = argparse.ArgumentParser(prog="python -m helpers.training.distributed", description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder; the adapter goes to RUN/adapter/runs/NAME")
    p.add_argument("--name", default=None, help="this training run's name (default: a timestamp)")
    p.add_argument("--resume", action="store_true", help="continue run --name from its newest checkpoint")
    p.add_argument("--profile", default=None)
    p.add_argument("--set", dest="changes", action="append", default=[], metavar="NAME=VALUE",
                   help="change one TrainSettings field, e.g. --set batch_size=1")
    args = p.parse_args(argv)
    try:
        result = train_distributed(load_profile(args.profile), Path(args.run) / "adapter", name=args.name,
                                   resume=args.resume, **parse_changes(args.changes))
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if world().main:
        losses = [h["loss"] for h in result.log_history if "loss" in h]
        print(json.dumps({"world_size": world().size, "parallelism": world().kind, "global_step": result.global_step,
                          "resumed_from": result.resumed_from, "adapter_dir": str(result.adapter_dir),
                          "losses": losses, "seconds": round(result.seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
