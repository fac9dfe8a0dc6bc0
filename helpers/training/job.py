"""A training run that a notebook cell, the panel, a script or the command line can drive.

Introduced in ``03_qlora_training.ipynb``. :class:`TrainingJob` loads the base, calls
:func:`helpers.training.trainer.train` (in a thread for the panel, so **Stop** stays
clickable) and writes the run card and loss plot, each run into its own folder
(:func:`helpers.training.artifacts.run_folder`); :func:`train_course_adapter` is the same run
without a notebook. :func:`scripted_training` is notebook 03's fallback cell: it trains only
when the learner has not trained with the panel, and never collides with the panel's run.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from helpers.core.errors import SettingsError
from helpers.training.artifacts import (latest_run, mark_latest, new_run_name, run_folder, save_loss_plot,
                                        write_run_card)
from helpers.training.settings import TrainSettings
from helpers.training.trainer import StopFlag, TrainResult, dry_run, train

if TYPE_CHECKING:  # pragma: no cover
    from helpers.core.config import Profile


class TrainingJob:
    """One training run that a notebook cell or the train panel can start, stop and resume (03_qlora_training).

    It owns no hidden state a later cell cannot see: ``job.history``, ``job.result``,
    ``job.error`` and ``job.model`` are plain attributes. ``start(background=True)`` trains in
    a thread so the stop button stays clickable while the kernel trains.
    """

    def __init__(self, profile: "Profile", tokenizer: Any, train_rows: Sequence[dict[str, Any]],
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
        self.run_name: str | None = None  # the run started last; Resume continues this one
        self.origin: str | None = None  # who started it: "widget" (the panel) or "script"
        self._model_settings: TrainSettings | None = None
        self._thread: threading.Thread | None = None

    @property
    def run_dir(self) -> Path | None:
        """The folder of the run started last (checkpoints, final adapter, run card), or None."""
        return run_folder(self.adapter_root, self.run_name) if self.run_name else None

    @property
    def running(self) -> bool:
        """True while a background training thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _on_log(self, history: list[dict[str, Any]]) -> None:
        self.history = history
        for listener in self.listeners:
            listener(history)

    def prepare_model(self, s: TrainSettings) -> Any:
        """Load the base model for settings ``s`` (4-bit when ``s.quantization`` says so)."""
        from helpers.core.models import load_causal_lm

        self.model = load_causal_lm(self.profile, quantization=s.quantization)
        self._model_settings = s
        return self.model

    def _model_for(self, s: TrainSettings, resume: bool) -> Any:
        """The model to train: the trained one for a resume, else the base with no adapter."""
        from peft import PeftModel

        if self.model is None or self._model_settings is None or self._model_settings.quantization != s.quantization:
            return self.prepare_model(s)
        if isinstance(self.model, PeftModel) and not resume:
            self.model = self.model.unload()  # drop the old adapter; TRL adds a fresh one with the run's seed
        return self.model

    def dry_run(self, s: TrainSettings) -> dict[str, float]:
        """One measured step of the real trainer; the weights are unchanged afterwards (03_qlora_training)."""
        figures, self.model = dry_run(self._model_for(s, resume=False), self.tokenizer, self.train_rows, s, self.profile.device)
        return figures

    def _run(self, s: TrainSettings, resume: bool) -> None:
        try:
            model = self._model_for(s, resume)
            self.settings = s
            rows = self.train_rows[: s.train_rows] if s.train_rows else self.train_rows
            assert self.run_dir is not None
            self.result, self.model = train(
                model, self.tokenizer, rows, self.eval_rows, s, self.run_dir,
                device=self.profile.device, resume=resume, on_log=self._on_log, stop=self.stop_flag,
            )
            self._model_settings = s
            self.finish()
        except BaseException as exc:  # noqa: BLE001 - kept for the caller / panel to show
            self.error = exc

    def start(self, s: TrainSettings, resume: bool = False, background: bool = False,
              name: str | None = None, origin: str = "script") -> "TrainingJob":
        """Train with settings ``s`` into a new run folder, or resume a run from its own latest checkpoint.

        A fresh start reserves a new folder (``name`` or a timestamp) and so never resumes, nor
        rotates away, another run's checkpoints. ``resume=True`` continues run ``name``, else the
        run this job started last, else the newest run on disk (a restarted kernel).
        ``origin`` records who started it ("widget" for the panel) for :func:`scripted_training`.
        """
        if self.running:
            raise SettingsError("a training run is already going: wait for it or press Stop first")
        if resume:
            target = name or self.run_name or latest_run(self.adapter_root)
            if target is None:
                raise SettingsError(f"nothing to resume: no training run in {self.adapter_root}; press Train first")
            run_folder(self.adapter_root, target)  # checks the name
            self.run_name = target
        else:
            self.run_name = new_run_name(self.adapter_root, name)
        self.origin = origin
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
        """Write the run card and the loss plot into the run's folder; a finished run becomes ``LATEST``."""
        if self.result is None or self.settings is None or self.run_dir is None:
            return
        write_run_card(self.run_dir, self.profile, self.settings, self.result, self.data_files,
                       extra={"run": self.run_name, "origin": self.origin})
        if self.result.log_history:
            save_loss_plot(self.result.log_history, self.run_dir / "loss.png")
        if self.result.adapter_dir is not None:
            mark_latest(self.adapter_root, self.run_name or "")


def train_course_adapter(profile: "Profile", adapter_root: Path, resume: bool = False, name: str | None = None,
                         **changes: Any) -> TrainResult:
    """Train the course adapter on the bundled data without a notebook: scripts, tests, CLI (03_qlora_training).

    Each call trains into its own run folder under ``adapter_root`` (``name`` or a timestamp);
    ``resume`` continues run ``name``, or the run with the newest checkpoint. Writes the run
    card and loss plot like the notebook does.
    """
    from helpers.core.models import load_tokenizer
    from helpers.data.loading import load_split, split_path

    s = TrainSettings.from_profile(profile, **changes)
    job = TrainingJob(profile, load_tokenizer(profile.model), load_split("train", limit=s.train_rows),
                      load_split("eval"), adapter_root, data_files=[split_path("train"), split_path("eval")])
    job.start(s, resume=resume, name=name)
    assert job.result is not None
    return job.result


def cli_train(args: Any) -> int:
    """``python -m helpers train --run DIR [--name NAME] [--resume] [--max-steps N]`` (03_qlora_training).

    Under ``accelerate launch`` (several processes) it is the distributed entry point's run
    (:func:`helpers.training.distributed.train_distributed`): one run folder for all processes,
    written by the main one.
    """
    from helpers.core.config import load_profile
    from helpers.training.distributed import train_distributed, world

    changes = {"max_steps": args.max_steps} if args.max_steps else {}
    if args.save_steps:
        changes["save_steps"] = args.save_steps
    launch = train_distributed if world().size > 1 else train_course_adapter
    result = launch(load_profile(args.profile), Path(args.run) / "adapter", resume=args.resume,
                    name=getattr(args, "name", None), **changes)
    if not world().main:
        return 0  # the main process reports
    run_name = result.adapter_dir.parent.name if result.adapter_dir else None
    print(json.dumps({"run": run_name, "global_step": result.global_step, "max_steps": result.max_steps,
                      "resumed_from": result.resumed_from, "adapter_dir": str(result.adapter_dir),
                      "seconds": round(result.seconds, 1)}))
    return 0


def fallback_plan(running: bool, origin: str | None, status: str | None) -> str:
    """What notebook 03's scripted cell does, given the job's last run (03_qlora_training).

    ``origin`` is who started the last run ("widget" for the panel, "script", None when none);
    ``status`` is "complete", "stopped", "failed" or None. Returns "wait" (a run is going: never
    start a second one), "keep" (the panel's run finished: use it), "resume" (the panel's run
    was stopped: finish that run from its own checkpoint) or "train" (nothing of the learner's).
    """
    if running:
        return "wait"
    if origin == "widget" and status == "complete":
        return "keep"
    if origin == "widget" and status == "stopped":
        return "resume"
    return "train"


def _status(job: TrainingJob) -> str | None:
    if job.error is not None:
        return "failed"
    if job.result is None:
        return None
    return "stopped" if job.result.stopped_early else "complete"


def scripted_training(job: TrainingJob, s: TrainSettings, say: Callable[[str], None] = print) -> TrainResult:
    """Notebook 03's fallback cell: train with ``s`` only if the learner has not trained with the panel (03_qlora_training).

    A panel run still going is waited for (never a second run over it); a finished panel run is
    kept; a stopped one is resumed from its own checkpoint. ``say`` gets one line saying which
    run the notebook uses from here on. Returns that run's result.
    """
    if fallback_plan(job.running, job.origin, _status(job)) == "wait":
        say(f"the panel's run {job.run_name} is still training: waiting for it (press Stop in the panel to end it early)")
        if job._thread is not None:
            job._thread.join()
    plan = fallback_plan(job.running, job.origin, _status(job))
    if plan == "keep":
        say(f"kept the run you trained with the panel ({job.run_name}); nothing was retrained")
    elif plan == "resume":
        say(f"the panel's run {job.run_name} was stopped: resuming it from its own latest checkpoint")
        job.start(job.settings or s, resume=True, origin="widget")
    else:
        if job.origin == "widget" and job.error is not None:
            say(f"the panel's run {job.run_name} failed ({job.error}); training with the profile's settings instead")
        job.start(s)
        say(f"no run trained with the panel, so this cell trained one with the profile's settings ({job.run_name})")
    assert job.result is not None
    return job.result
