"""The prompt workbench (02_prompting_baseline): edit the prompt, run it on a sample, see scores
and failures, save it as the baseline. Every button calls a plain function from
:mod:`helpers.evaluation.scoring`; nothing here is needed by a later cell.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from helpers.core.config import Profile
from helpers.evaluation.holdout import refuse_golden
from helpers.evaluation.metrics import score
from helpers.evaluation.scoring import failures, predict
from helpers.prompting.prompts import PromptConfig


def prompt_workbench(
    model: Any, tokenizer: Any, profile: Profile, sample: Sequence[dict[str, Any]],
    pool: Sequence[dict[str, Any]], start: PromptConfig,
    on_save: Callable[[PromptConfig], str] | None = None,
) -> Any:
    """Widgets for instructions, format spec, k and selection, with Run and Save buttons (02)."""
    import ipywidgets as w

    instructions = w.Textarea(value=start.instructions, layout=w.Layout(width="95%", height="160px"))
    spec = w.Checkbox(value=start.format_spec, description="append the format spec", indent=False)
    k = w.IntSlider(value=start.k, min=0, max=8, description="examples k")
    selection = w.Dropdown(options=["random", "similar"], value=start.selection, description="selection")
    n = w.IntSlider(value=min(len(sample), 8), min=1, max=len(sample), description="sample rows")
    run, save = w.Button(description="Run on sample", button_style="primary"), w.Button(description="Save as baseline", button_style="success")
    out = w.Output()

    def config() -> PromptConfig:
        return PromptConfig(start.view, instructions.value, spec.value, k.value, selection.value, start.seed)

    def on_run(_: Any) -> None:
        out.clear_output()
        with out:
            try:
                rows = list(sample)[: n.value]
                refuse_golden(rows, "trying prompts in the workbench")  # a prompt is a choice: eval rows only
                gen = predict(model, tokenizer, rows, config(), profile, pool)
                m = score(start.view, gen.texts, [r["output"] for r in rows])
                print({key: round(v, 3) for key, v in m.items() if "." not in key},
                      f"| {gen.latency_s_per_request:.2f} s/request")
                from IPython.display import display

                display(failures(rows, gen.texts, start.view, n=3))
            except Exception as exc:  # noqa: BLE001 - one line in the panel, no traceback
                print(f"error: {exc}")

    def handle_save(_: Any) -> None:
        out.clear_output()
        with out:
            print(on_save(config()) if on_save else "no save function given")

    run.on_click(on_run)
    save.on_click(handle_save)
    return w.VBox([w.HTML("<b>Instructions (system prompt)</b>"), instructions, w.HBox([spec, k, selection]),
                   w.HBox([n, run, save]), out])
