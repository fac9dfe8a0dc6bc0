"""Notebook 00's profile picker (00_setup): choose a profile, see its sizes, save the choice."""

from __future__ import annotations

from typing import Any

from helpers.core.config import PROFILES, get_profile, resolve_profile_name, save_profile_choice


def profile_table_html(name: str) -> str:
    """The sizes of one profile as an HTML table (00_setup)."""
    p = get_profile(name)
    keys = ["model", "device", "quantization", "train_rows", "max_steps", "batch_size", "max_seq_len",
            "eval_rows", "golden_rows", "few_shot_k", "notes"]
    rows = "".join(f"<tr><td>{k}</td><td>{getattr(p, k)}</td></tr>" for k in keys)
    return f"<table>{rows}</table>"


def profile_picker() -> Any:
    """A dropdown of profiles, their sizes, and a Save button (00_setup)."""
    import ipywidgets as w

    current, source = resolve_profile_name()
    dropdown = w.Dropdown(options=list(PROFILES), value=current, description="profile")
    table = w.HTML(profile_table_html(current))
    note = w.HTML(f"In force now: <b>{current}</b> ({source}).")
    save = w.Button(description="Save choice", button_style="success")

    def on_change(change: Any) -> None:
        table.value = profile_table_html(change["new"])

    def on_save(_: Any) -> None:
        path = save_profile_choice(dropdown.value)
        note.value = (f"Saved <b>{dropdown.value}</b> to {path.name}; later notebooks use it "
                      f"(the COURSE_PROFILE environment variable still wins).")

    dropdown.observe(on_change, names="value")
    save.on_click(on_save)
    return w.VBox([w.HBox([dropdown, save]), note, table])
