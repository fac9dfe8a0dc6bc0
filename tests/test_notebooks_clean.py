"""Notebooks are committed clean (no outputs, counts or widget state) and share one lesson shape:
learning objectives first, exercises at three levels last."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.course import notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LEVELS = ("Easy", "Medium", "Hard")
# a numbered item whose first words mark its level, e.g. "1. **Easy.** ..." or "2. *Medium*: ..."
ITEM = re.compile(r"^\s*\d+[.)]\s+[*_]{0,2}\s*(Easy|Medium|Hard)\b", re.MULTILINE)


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _exercise_text(nb: dict) -> str:
    """The markdown from the "Exercises" heading to the next heading of the same or a higher level."""
    text = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    m = re.search(r"^(#+)\s*Exercises\b.*$", text, re.MULTILINE)
    if not m:
        return ""
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(rf"^#{{1,{level}}}\s", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    import nbformat

    nb = _load(path)
    nbformat.validate(nbformat.from_dict(nb))  # a notebook Jupyter can open
    assert nb["nbformat"] == 4
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
        assert "execution" not in cell.get("metadata", {}), f"cell {i} keeps execution timestamps"
    assert "widgets" not in nb["metadata"], "saved widget state in the notebook metadata"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_markdown_cell_has_learning_objectives(path):
    nb = _load(path)
    first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "Learning objectives" in _source(first)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_at_three_levels(path):
    text = _exercise_text(_load(path))
    assert text, "no '## Exercises' section"
    levels = ITEM.findall(text)
    assert len(levels) >= 3, f"numbered items marked Easy/Medium/Hard: {levels}"
    assert set(levels) == set(LEVELS)


def test_exercise_detector():
    good = {"cells": [{"cell_type": "markdown", "source": "## Exercises\n1. **Easy.** a\n2. **Medium.** b\n"
                       "3. **Hard.** c\n\n## Next\n4. **Hard.** not an exercise"}]}
    assert ITEM.findall(_exercise_text(good)) == ["Easy", "Medium", "Hard"]
    other_words = {"cells": [{"cell_type": "markdown", "source": "## Exercises\n1. **Warm-up.** a\n2. **Core.** b"}]}
    assert ITEM.findall(_exercise_text(other_words)) == []
    assert _exercise_text({"cells": [{"cell_type": "markdown", "source": "# Intro\nEasy."}]}) == ""


def test_notebook_paths_runs_the_numbered_notebooks_in_order(tmp_path):
    for name in ["10_b.ipynb", "02_a.ipynb", "scratch.ipynb", "Untitled.ipynb", "1_x.ipynb", "03_c.txt"]:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "00_setup-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    assert [p.name for p in notebook_paths(tmp_path)] == ["02_a.ipynb", "10_b.ipynb"]
    real = notebook_paths()
    assert real == sorted(real) and real[0].name == "00_setup.ipynb"
    assert {p.name for p in real} == {p.name for p in NOTEBOOKS if re.match(r"\d\d_", p.name)}


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_that_show_figures_turn_on_inline_display(path):
    """Figures built without pyplot only render as images once the inline backend is on
    (found by the browser test: notebook 05 showed '<Figure size 800x350 with 2 Axes>')."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in nb["cells"] if c["cell_type"] == "code"]
    if any(word in src for src in code for word in ("figure(", "_figure(", "histogram(", "plot_")):
        assert "%matplotlib inline" in code[0], f"{path.name}: first code cell needs %matplotlib inline"
