"""Notebook 03 in a real browser: the panel trains with an epoch-based total, the scripted cell keeps that run.

Run All (the scripted cell trains its own run, as without clicks), then in the panel: max steps
-1 and 0.3 epochs (an epoch run, the shape of the ``cpu`` and GPU profiles, a few steps), **Train**; the progress bar must
move below full (a real total, not ``max(1, -1)``). Then the scripted training cell is run again
by hand: it must wait for / keep the panel's run and train nothing new. Screenshot:
``test-artifacts/browser/03_qlora_training_fallback.png``.

    COURSE_PROFILE=ci COURSE_BROWSER_REQUIRED=1 python -m pytest tests/browser -q -rA -k fallback
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from test_jupyterlab import MODEL_JS, STATUS_JS, TRAIN_TIMEOUT_S, _cell, _errors, _open, _run_all, _shot, _source, _wait

NAME = "03_qlora_training.ipynb"


def _text(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def _cards(lab: Any) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in lab.runs.glob("*/adapter/runs/*/run_card.json")}


def test_panel_run_then_scripted_cell_does_not_retrain(lab: Any, browser_context: Any, artifacts: Path) -> None:
    path = f"notebooks/{NAME}"
    # the lab is shared by the whole session (test_jupyterlab ran notebook 03 already): look only at
    # the runs this test makes
    earlier = _cards(lab)
    page = _open(browser_context, lab, NAME)
    try:
        nb = _run_all(page, NAME)
        assert not _errors(nb), _errors(nb)
        code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
        panel_i = next(i for i in code if "train_panel(job" in _source(nb["cells"][i]))
        script_i = next(i for i in code if "scripted_training(job" in _source(nb["cells"][i]))
        assert "this cell trained one" in _text(nb["cells"][script_i])  # no panel run yet: the cell trained
        before = _cards(lab)
        assert [c["origin"] for n, c in before.items() if n not in earlier] == ["script"]

        panel = _cell(page, panel_i)
        bar = panel.locator(".widget-hprogress .progress-bar").first
        bar.evaluate("(el) => { window.__w = []; new MutationObserver(() => window.__w.push(parseFloat(el.style.width)))"
                     ".observe(el, {attributes: true, attributeFilter: ['style']}); }")
        steps = panel.locator(".widget-inline-hbox", has_text="max steps").locator("input").first
        steps.fill("-1")  # an epoch run: the total comes from rows, packing and epochs
        steps.press("Enter")
        epochs = panel.locator('.widget-inline-hbox:has(label:text-is("epochs")) input').first
        epochs.fill("0.3")  # a few steps (6 of the ci profile's 17 a full epoch), still counted by the trainer
        epochs.press("Enter")
        panel.get_by_role("button", name="Train", exact=True).click()
        panel.locator(".widget-html", has_text="in the background").first.wait_for(timeout=30_000)
        _wait(lambda: any(0 < w < 100 for w in page.evaluate("() => window.__w")), TRAIN_TIMEOUT_S,
              "the progress bar to move below full", 0.2)
        widths = page.evaluate("() => window.__w")

        # the learner (or Run All again) runs the scripted training cell while the panel trains
        script = _cell(page, script_i)
        script.locator(".jp-InputArea-editor").first.click()
        page.keyboard.press("Shift+Enter")
        time.sleep(2)
        quiet = 0
        deadline = time.monotonic() + TRAIN_TIMEOUT_S
        while quiet < 3:
            st = page.evaluate(STATUS_JS, path) or {}
            quiet = quiet + 1 if st.get("kernel") == "idle" and st.get("busy") == 0 else 0
            assert time.monotonic() < deadline, "the scripted cell did not finish"
            time.sleep(1)
        out = _text(page.evaluate(MODEL_JS, path)["cells"][script_i])
        print(f"progress widths while the panel trained: {widths}\nscripted cell said: {out.strip()}")
        assert "kept the run you trained with the panel" in out and "this cell trained one" not in out

        after = _cards(lab)
        new = {name: c for name, c in after.items() if name not in before}
        assert len(new) == 1, f"expected exactly the panel's run, got {sorted(new)}"  # nothing retrained
        (name, card), = new.items()
        assert (card["origin"], card["status"], card["settings"]["max_steps"], card["settings"]["epochs"]) == \
            ("widget", "complete", -1, 0.3)
        assert card["global_step"] == card["max_steps"] > 1
        assert name in out
        assert min(w for w in widths if w > 0) <= 100 / card["max_steps"] + 0.01  # the first step: 1/total (CSS rounds)
        latest = next(lab.runs.glob(f"*/adapter/runs/{name}")).parent.parent.joinpath("LATEST").read_text().strip()
        assert latest == name
        _shot(page, script, artifacts / "03_qlora_training_fallback.png")
    finally:
        page.close()
        lab.shutdown_kernels()
