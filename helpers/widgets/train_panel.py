"""The training panel: every LoRA and training knob as a widget, plus preflight/train/resume/stop.

Introduced in ``03_qlora_training.ipynb``. The panel only reads widget values into a
:class:`helpers.training.settings.TrainSettings`, calls :class:`helpers.training.job.TrainingJob` and writes
into its outputs; the same job can be driven from a plain cell or a script.
"""

from __future__ import annotations

from typing import Any

from helpers.training.job import TrainingJob
from helpers.training.settings import SCHEDULERS, TARGET_PRESETS, TrainSettings
from helpers.widgets.live_plot import LiveLossPlot


def settings_widgets(defaults: TrainSettings) -> dict[str, Any]:
    """One widget per setting, initialised from ``defaults`` (03_qlora_training)."""
    import ipywidgets as w

    style = {"description_width": "150px"}
    lay = w.Layout(width="420px")
    return {
        "lora_r": w.Dropdown(options=[4, 8, 16, 32, 64, 128], value=defaults.lora_r, description="LoRA rank r", style=style, layout=lay),
        "lora_alpha": w.IntText(value=defaults.lora_alpha, description="LoRA alpha", style=style, layout=lay, disabled=True),
        "link_alpha": w.Checkbox(value=True, description="alpha = 2 x r (linked)", indent=False),
        "lora_targets": w.Dropdown(options=list(TARGET_PRESETS), value=defaults.lora_targets, description="target modules", style=style, layout=lay),
        "lora_dropout": w.FloatSlider(value=defaults.lora_dropout, min=0.0, max=0.3, step=0.01, description="LoRA dropout", style=style, layout=lay),
        "lora_bias": w.Dropdown(options=["none", "lora_only", "all"], value=defaults.lora_bias, description="bias", style=style, layout=lay),
        "learning_rate": w.FloatLogSlider(value=defaults.learning_rate, base=10, min=-5, max=-2.5, step=0.05, description="learning rate", style=style, layout=lay, readout_format=".1e"),
        "epochs": w.FloatText(value=defaults.epochs, description="epochs", style=style, layout=lay),
        "max_steps": w.IntText(value=defaults.max_steps, description="max steps (-1: epochs)", style=style, layout=lay),
        "batch_size": w.IntSlider(value=defaults.batch_size, min=1, max=64, description="batch size", style=style, layout=lay),
        "grad_accum": w.IntSlider(value=defaults.grad_accum, min=1, max=32, description="grad accumulation", style=style, layout=lay),
        "max_seq_len": w.Dropdown(options=sorted({256, 384, 512, 768, 1024, 2048, 4096, defaults.max_seq_len}), value=defaults.max_seq_len, description="max seq length", style=style, layout=lay),
        "warmup_ratio": w.FloatSlider(value=defaults.warmup_ratio, min=0.0, max=0.3, step=0.01, description="warmup ratio", style=style, layout=lay),
        "scheduler": w.Dropdown(options=list(SCHEDULERS), value=defaults.scheduler, description="LR schedule", style=style, layout=lay),
        "gradient_checkpointing": w.Checkbox(value=defaults.gradient_checkpointing, description="gradient checkpointing", indent=False),
        "quantization": w.Dropdown(options=[("4-bit NF4 (QLoRA)", "nf4"), ("none (fp32/bf16 LoRA)", "none")], value=defaults.quantization, description="base weights", style=style, layout=lay),
        "fixed_shape_rows": w.Checkbox(value=defaults.fixed_shape_rows, description="fixed-shape packed rows (course switch)", indent=False),
    }


def link_alpha(ws: dict[str, Any]) -> None:
    """Keep alpha at 2 x r while the link box is ticked (03_qlora_training)."""

    def sync(_: Any = None) -> None:
        ws["lora_alpha"].disabled = ws["link_alpha"].value
        if ws["link_alpha"].value:
            ws["lora_alpha"].value = 2 * ws["lora_r"].value

    ws["lora_r"].observe(sync, names="value")
    ws["link_alpha"].observe(sync, names="value")
    sync()


def read_settings(ws: dict[str, Any], base: TrainSettings) -> TrainSettings:
    """The settings the widgets show, on top of ``base`` (03_qlora_training)."""
    values = {k: v.value for k, v in ws.items() if k != "link_alpha"}
    return base.replace(**values)


def train_panel(job: TrainingJob, defaults: TrainSettings, preflight: Any = None) -> Any:
    """The whole panel: knobs, buttons, progress, live loss plot, messages (03_qlora_training).

    ``preflight(settings) -> str`` (HTML) is called by the Preflight button when given.
    """
    import ipywidgets as w

    ws = settings_widgets(defaults)
    link_alpha(ws)
    plot = LiveLossPlot()
    job.listeners.append(plot)
    progress = w.IntProgress(value=0, min=0, max=1, description="steps")
    msg = w.HTML()
    buttons = {name: w.Button(description=name, button_style=style) for name, style in
               [("Preflight", "info"), ("Train", "success"), ("Resume", "warning"), ("Stop", "danger")]}

    def on_log(history: list[dict[str, Any]]) -> None:
        if history:  # the trainer's own total (from rows, packing, epochs), also for max_steps=-1
            progress.max = max(1, int(history[-1].get("max_steps") or progress.max))
            progress.value = min(progress.max, max(h.get("step", 0) for h in history))
    job.listeners.append(on_log)

    def start(resume: bool) -> None:
        try:
            s = read_settings(ws, defaults)
            progress.value = 0
            job.start(s, resume=resume, background=True, origin="widget")
            msg.value = (f"<b>{'Resuming' if resume else 'Training'}</b> run <code>{job.run_name}</code> in the background: "
                         "the plot updates every step.")
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never a traceback
            msg.value = f"<span style='color:#b00'>{exc}</span>"

    def on_preflight(_: Any) -> None:
        try:
            s = read_settings(ws, defaults)
            msg.value = preflight(s) if preflight else "no preflight function given"
        except Exception as exc:  # noqa: BLE001
            msg.value = f"<span style='color:#b00'>{exc}</span>"

    def on_stop(_: Any) -> None:
        job.stop()
        msg.value = "Stop requested: a checkpoint is saved at the end of this step; <b>Resume</b> continues from it."

    buttons["Preflight"].on_click(on_preflight)
    buttons["Train"].on_click(lambda _: start(False))
    buttons["Resume"].on_click(lambda _: start(True))
    buttons["Stop"].on_click(on_stop)
    left = w.VBox([w.HTML("<b>LoRA</b>"), ws["lora_r"], ws["link_alpha"], ws["lora_alpha"], ws["lora_targets"],
                   ws["lora_dropout"], ws["lora_bias"], w.HTML("<b>Base model</b>"), ws["quantization"],
                   ws["gradient_checkpointing"], ws["fixed_shape_rows"]])
    right = w.VBox([w.HTML("<b>Training</b>"), ws["learning_rate"], ws["scheduler"], ws["warmup_ratio"],
                    ws["epochs"], ws["max_steps"], ws["batch_size"], ws["grad_accum"], ws["max_seq_len"]])
    panel = w.VBox([w.HBox([left, right]), w.HBox(list(buttons.values())), progress, msg, plot.widget])
    panel.settings_widgets = ws  # for tests and the browser check
    return panel
