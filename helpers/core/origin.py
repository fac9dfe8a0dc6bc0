"""Who made a stage: the learner with a widget, or a scripted cell. Scripted cells never replace the learner's work.

Introduced in ``02_prompting_baseline.ipynb``. A notebook has a scripted "fallback" cell after
each widget, so it also runs top to bottom without clicks (``make course``, nbval). The rule
for such a cell lives here: it acts only when the learner has *not* done that step with the
widget, and it says which one the notebook uses. The maker is written next to the stage's
``metrics.json`` as ``origin.json`` (``{"origin": "widget" | "script", "at": ...}``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from helpers.core.runs import read_json, write_json

ORIGIN_FILE = "origin.json"
WIDGET, SCRIPT = "widget", "script"


def mark_origin(stage_dir: Path, origin: str) -> Path:
    """Record that ``origin`` ("widget" or "script") made the stage in ``stage_dir`` (02_prompting_baseline)."""
    if origin not in (WIDGET, SCRIPT):
        raise ValueError(f"origin must be {WIDGET!r} or {SCRIPT!r}, not {origin!r}")
    return write_json(Path(stage_dir) / ORIGIN_FILE, {"origin": origin, "at": time.strftime("%Y-%m-%d %H:%M:%S")})


def stage_origin(stage_dir: Path) -> str | None:
    """Who made the finished stage in ``stage_dir``: "widget", "script", or None when it is not finished (02).

    A stage is finished when its ``metrics.json`` exists (written last). A finished stage with no
    ``origin.json`` (made before origins were recorded) counts as scripted.
    """
    stage_dir = Path(stage_dir)
    if not (stage_dir / "metrics.json").exists():
        return None
    marker = stage_dir / ORIGIN_FILE
    if not marker.exists():
        return SCRIPT
    origin = read_json(marker).get("origin")
    return origin if origin in (WIDGET, SCRIPT) else SCRIPT


def scripted_fallback(stage_dir: Path, what: str, action: Callable[[], str]) -> str:
    """Run the scripted ``action`` unless the learner already made this stage with the widget (02_prompting_baseline).

    Returns one line that says which result the notebook uses from here on. ``action`` returns
    its own line (e.g. the score it saved); its stage is then marked as scripted.
    """
    stage_dir = Path(stage_dir)
    if stage_origin(stage_dir) == WIDGET:
        when = read_json(stage_dir / ORIGIN_FILE).get("at", "earlier")
        return (f"kept the {what} you saved with the widget ({when}); nothing was replaced. "
                f"To use the scripted one instead, delete {stage_dir / ORIGIN_FILE} and run this cell again.")
    line = action()
    mark_origin(stage_dir, SCRIPT)
    return f"no {what} saved with the widget yet, so this cell made one: {line}"
