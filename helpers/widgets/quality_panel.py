"""The data-quality review panel: findings by check, rows side by side, keep / drop / fix.

Introduced in ``01_data_quality.ipynb``. A thin UI over :mod:`helpers.data.quality`: the decisions it
collects are the same plain list of dicts that :func:`helpers.data.quality.default_decisions` returns,
and its "write cleaned dataset" button calls :func:`helpers.data.quality.write_cleaned`. Everything
the panel can do, a script can do without it. The panel's current decisions are visible to later
cells as ``panel.decisions``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from helpers.data.quality import ACTIONS, WHY, QualityReport, decision_log, default_decisions, write_cleaned


def _row_card(row: dict[str, Any] | None, line: int, note: str = "") -> str:
    """One row as a small HTML card (line, input, output), escaped."""
    if row is None:
        return f"<div style='flex:1;min-width:220px;border:1px solid #ccc;padding:6px'><b>line {line}</b><br><i>not loaded</i></div>"
    esc = lambda s: html.escape(s if len(s) < 600 else s[:600] + "…")  # noqa: E731
    return (
        "<div style='flex:1;min-width:220px;border:1px solid #ccc;padding:6px;font-size:12px'>"
        f"<b>line {line}</b> <code>{html.escape(row['id'])}</code> {html.escape(note)}<br>"
        f"<b>input</b><pre style='white-space:pre-wrap;margin:2px 0'>{esc(row['input'])}</pre>"
        f"<b>output</b><pre style='white-space:pre-wrap;margin:2px 0'>{esc(row['output'])}</pre></div>"
    )


def finding_groups(report: QualityReport, check: str) -> list[list[int]]:
    """The lines of one finding, grouped for side-by-side viewing (01_data_quality)."""
    f = report.finding(check)
    if f is None:
        return []
    if f.extra.get("groups"):
        return [list(g) for g in f.extra["groups"]]
    return [[x] for x in f.rows] or [[]]


def render_group(report: QualityReport, check: str, index: int) -> str:
    """HTML for one group of a finding: the rows side by side, with the suggested fix (01)."""
    f = report.finding(check)
    if f is None:
        return "<i>no such finding</i>"
    groups = finding_groups(report, check)
    if not groups or not groups[0]:
        return f"<p>{html.escape(f.message)}</p>"
    g = groups[max(0, min(index, len(groups) - 1))]
    by_line = {r["line"]: r for r in report.rows}
    fixes = f.extra.get("fixes", {})
    cards = []
    for line in g:
        note = "; ".join(f.extra.get("reasons", {}).get(line, []))
        cards.append(_row_card(by_line.get(line), line, note))
        if line in fixes:
            fix = fixes[line]
            fix_row = dict(by_line[line], **(fix if isinstance(fix, dict) else {"output": fix}))
            cards.append(_row_card(fix_row, line, "(suggested fix)"))
    return (f"<p><b>{html.escape(check)}</b>: {html.escape(f.message)}<br><i>{html.escape(WHY.get(check, ''))}</i></p>"
            "<div style='display:flex;gap:8px;flex-wrap:wrap'>" + "".join(cards) + "</div>")


class QualityPanel:
    """Review findings and write a cleaned copy; wraps helpers.data.quality (01_data_quality).

    ``QualityPanel(report, run_dir=run, source=path).widget`` is the UI; ``panel.decisions`` the
    current decisions (start: :func:`default_decisions`); ``panel.write()`` does what the button
    does: :func:`write_cleaned` into ``run_dir/quality/``.
    """

    def __init__(self, report: QualityReport, run_dir: str | Path, source: str | Path | None = None) -> None:
        import ipywidgets as w

        self.report = report
        self.source = source
        self.run_dir = run_dir
        self.decisions: list[dict[str, Any]] = default_decisions(report)
        self.written: dict[str, Path] | None = None
        checks = [f.check for f in report.findings]
        self.check = w.Dropdown(options=[(f"{f.check} ({len(f.rows)})", f.check) for f in report.findings],
                                description="finding")
        self.group = w.IntSlider(min=0, max=0, description="group")
        self.action = w.ToggleButtons(options=list(ACTIONS), description="action")
        self.fix_line = w.Dropdown(options=[], description="fix line")
        self.fix_text = w.Textarea(placeholder="corrected output for the chosen line", layout=w.Layout(width="95%", height="80px"))
        self.fix_button = w.Button(description="use this output", icon="pencil")
        self.write_button = w.Button(description="write cleaned dataset", button_style="success", icon="save")
        self.view = w.Output()
        self.log = w.Output()
        self.check.observe(self._on_check, names="value")
        self.group.observe(lambda _: self._show(), names="value")
        self.action.observe(self._on_action, names="value")
        self.fix_line.observe(self._on_fix_line, names="value")
        self.fix_button.on_click(self._on_fix)
        self.write_button.on_click(lambda _: self.write())
        self.widget = w.VBox([
            w.HBox([self.check, self.group]), self.view, self.action,
            w.HBox([self.fix_line, self.fix_button]), self.fix_text, self.write_button, self.log,
        ])
        if checks:
            self._on_check({"new": checks[0]})
        else:
            with self.view:
                print("No findings: nothing to review.")

    def _decision(self, check: str) -> dict[str, Any]:
        return next(d for d in self.decisions if d["check"] == check)

    def _on_check(self, change: dict[str, Any]) -> None:
        check = change["new"]
        self.group.max = max(0, len(finding_groups(self.report, check)) - 1)
        self.group.value = 0
        d = self._decision(check)
        self.action.value = d["action"]
        self.fix_line.options = list(self.report.finding(check).rows)
        self._show()

    def _on_action(self, change: dict[str, Any]) -> None:
        d = self._decision(self.check.value)
        d["action"] = change["new"]
        if change["new"] == "fix" and not d.get("fixes"):
            d["fixes"] = dict(self.report.finding(self.check.value).extra.get("fixes", {}))
        self._log(f"{self.check.value}: {change['new']} ({len(d['rows'])} rows)")

    def _on_fix_line(self, change: dict[str, Any]) -> None:
        line = change["new"]
        d = self._decision(self.check.value)
        row = next((r for r in self.report.rows if r["line"] == line), None)
        fix = d.get("fixes", {}).get(line) or self.report.finding(self.check.value).extra.get("fixes", {}).get(line)
        text = fix["output"] if isinstance(fix, dict) else fix
        self.fix_text.value = text if text is not None else (row["output"] if row else "")

    def _on_fix(self, _: Any) -> None:
        self.set_fix(self.check.value, self.fix_line.value, self.fix_text.value)

    def set_fix(self, check: str, line: int, output: str) -> None:
        """Record a corrected output for one line of a finding, and switch that finding to fix."""
        d = self._decision(check)
        d.setdefault("fixes", {})[int(line)] = output
        d["action"] = "fix"
        if self.check.value == check:
            self.action.value = "fix"
        self._log(f"{check}: line {line} fixed by hand")

    def _show(self) -> None:
        from IPython.display import HTML, display

        self.view.clear_output()
        with self.view:
            display(HTML(render_group(self.report, self.check.value, self.group.value)))

    def _log(self, text: str) -> None:
        with self.log:
            print(text)

    def write(self) -> dict[str, Path]:
        """Write the cleaned file + decision log under runs/<id>/quality/ (same as the button)."""
        self.written = write_cleaned(self.report.rows, self.decisions, run_dir=self.run_dir, source=self.source)
        n_log = len(decision_log(self.report.rows, self.decisions))
        self._log(f"wrote {self.written['cleaned']} ({n_log} decisions logged in {self.written['log'].name})")
        return self.written


def quality_panel(report: QualityReport, run_dir: str | Path, source: str | Path | None = None) -> QualityPanel:
    """Build the review panel for a report; display ``panel.widget`` (01_data_quality).

    ``run_dir`` is the run folder the cleaned copy goes to (``current_run(profile.name)``).
    """
    return QualityPanel(report, run_dir=run_dir, source=source)
