"""What a quality check reports: :class:`Finding`, the :class:`QualityReport`, and its tables.

Introduced in ``01_data_quality.ipynb``. Line numbers are always 1-based lines of the checked
file. The check names are the CLI contract (COURSE_DESIGN.md): :data:`CHECKS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

CHECKS = (
    "malformed_row", "missing_field", "empty_output", "exact_duplicate", "near_duplicate",
    "conflicting_label", "inconsistent_format", "invalid_json_output", "train_eval_leak", "pii",
    "too_long", "distribution_shift",
)

WHY = {
    "malformed_row": "A line the loader cannot read is silently lost, or worse, crashes a training job hours in.",
    "missing_field": "A row without an answer teaches nothing; a chat without an assistant turn has no loss to compute.",
    "empty_output": "Training on empty answers teaches the model that saying nothing is a good reply.",
    "exact_duplicate": "Copies weigh some examples double: the model memorises them and the data looks bigger than it is.",
    "near_duplicate": "Rephrased copies have the same effect as exact copies, but hide from a simple equality test.",
    "conflicting_label": "The same question with two different answers: the model learns to guess, and metrics look noisy.",
    "inconsistent_format": "The model copies the style it sees; mixed styles make its output format unpredictable.",
    "invalid_json_output": "A model trained on broken JSON produces broken JSON, and every parser downstream fails.",
    "train_eval_leak": "An eval question seen in training inflates the score: you measure memory, not skill.",
    "pii": "Personal data can be memorised and repeated to other users; it should not be in training data.",
    "too_long": "Rows over max_seq_len are truncated, usually cutting off the answer the model should learn.",
    "distribution_shift": "If production looks different from training, good eval numbers will not carry over.",
}


@dataclass
class Finding:
    """One check that fired: which lines, a one-sentence message, examples and extras (01_data_quality).

    ``extra`` carries structured details: ``groups`` (lists of lines that belong together),
    ``fixes`` ({line: suggested output}), ``production_rows`` (distribution_shift).
    """

    check: str
    rows: list[int]
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract's shape, plus JSON-safe extras (groups, production_rows)."""
        out: dict[str, Any] = {"check": self.check, "rows": self.rows, "message": self.message}
        for key in ("groups", "production_rows"):
            if key in self.extra:
                out[key] = self.extra[key]
        return out


@dataclass
class QualityReport:
    """Every finding for one file, with the rows that loaded (01_data_quality)."""

    path: str
    n_rows: int
    rows: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def finding(self, check: str) -> Finding | None:
        """The finding for one check, or None when it did not fire."""
        return next((f for f in self.findings if f.check == check), None)

    def flagged(self) -> dict[str, list[int]]:
        """{check: lines} for every finding (01_data_quality)."""
        return {f.check: list(f.rows) for f in self.findings}

    def to_json(self) -> dict[str, Any]:
        """The CLI contract: ``{"n_rows": int, "findings": [{"check", "rows", "message"}]}``."""
        return {"n_rows": self.n_rows, "findings": [f.to_json() for f in self.findings]}

    def table(self) -> Any:
        """A pandas DataFrame, one line per finding, for notebooks (01_data_quality)."""
        import pandas as pd

        return pd.DataFrame(
            [{"check": f.check, "n_rows": len(f.rows), "rows": short_list(f.rows), "message": f.message}
             for f in self.findings],
            columns=["check", "n_rows", "rows", "message"],
        )


def examples_table(report: QualityReport, check: str, n: int = 4) -> Any:
    """Up to ``n`` example rows of one finding as a DataFrame, for explaining it (01_data_quality)."""
    import pandas as pd

    f = report.finding(check)
    if f is None:
        return pd.DataFrame(columns=["line", "input", "output"])
    by_line = {r["line"]: r for r in report.rows}
    lines = [x for g in f.extra.get("groups", []) for x in g][: n] or f.rows[:n]
    recs = [{"line": x, "input": clip(by_line[x]["input"], 120), "output": clip(by_line[x]["output"], 120)}
            for x in lines if x in by_line]
    if not recs:
        recs = [{"line": e["line"], "input": e.get("problem", ""), "output": ""} for e in f.examples]
    return pd.DataFrame(recs, columns=["line", "input", "output"])


def format_table(report: QualityReport) -> str:
    """A plain-text table of the findings, for the terminal (01_data_quality)."""
    lines = [f"{report.path}: {report.n_rows} rows, {len(report.findings)} finding(s)"]
    lines += [f"  note: {n}" for n in report.notices[:10]]
    if report.findings:
        lines.append(f"  {'check':<20} {'rows':>5}  lines / message")
        for f in report.findings:
            lines.append(f"  {f.check:<20} {len(f.rows):>5}  {short_list(f.rows)}")
            lines.append(f"  {'':<20} {'':>5}  {f.message}")
    else:
        lines.append("  no findings: the file looks clean")
    return "\n".join(lines)


def score_against_manifest(report: QualityReport, manifest: dict[str, list[int]]) -> dict[str, Any]:
    """Recall and precision of the findings against planted defects ``{check: [lines]}`` (01).

    Pairs are (check, line); checks the manifest does not plant are ignored for precision, and so
    is ``distribution_shift`` (it has no lines).
    """
    truth = {(c, int(x)) for c, lines in manifest.items() if isinstance(lines, list) for x in lines}
    planted = {c for c, _ in truth}
    found = {(f.check, x) for f in report.findings if f.check in planted for x in f.rows}
    hit = truth & found
    per_check = {}
    for c in sorted(planted | {f.check for f in report.findings if f.rows}):
        t = {p for p in truth if p[0] == c}
        fo = {(f.check, x) for f in report.findings if f.check == c for x in f.rows}
        per_check[c] = {"planted": len(t), "found": len(fo), "hit": len(t & fo),
                        "missed": sorted(x for _, x in t - fo), "extra": sorted(x for _, x in fo - t)}
    return {
        "recall": round(len(hit) / len(truth), 4) if truth else 1.0,
        "precision": round(len(hit) / len(found), 4) if found else 1.0,
        "planted": len(truth), "found": len(found), "hit": len(hit), "per_check": per_check,
    }


def short_list(lines: Sequence[int], n: int = 8) -> str:
    """``"1, 2, 3, ... (+5)"``: the first ``n`` line numbers of a finding (01_data_quality)."""
    head = ", ".join(str(x) for x in list(lines)[:n])
    return head + (f", ... (+{len(lines) - n})" if len(lines) > n else "")


def clip(text: str, n: int = 240) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (01_data_quality)."""
    return text if len(text) <= n else text[: n - 1] + "…"


def _examples(rows_by_line: dict[int, dict[str, Any]], lines: Iterable[int], n: int = 3) -> list[dict[str, Any]]:
    out = []
    for line in list(lines)[:n]:
        r = rows_by_line.get(line)
        if r is not None:
            out.append({"line": line, "id": r["id"], "input": clip(r["input"]), "output": clip(r["output"])})
    return out


def make_finding(check: str, lines: Iterable[int], message: str, rows_by_line: dict[int, dict[str, Any]],
                 **extra: Any) -> Finding | None:
    """A :class:`Finding` for ``lines`` with up to three examples, or None when no line fired (01_data_quality)."""
    lines = sorted(set(lines))
    if not lines and check != "distribution_shift":
        return None
    return Finding(check, lines, message, _examples(rows_by_line, lines), dict(extra))
