"""The guide: chapters exist, every relative link and anchor resolves, notebooks carry their teaching parts.

Fast and offline. The link check parses every Markdown file under guide/ for relative links
(``[text](target)``), resolves each against the file's folder and asserts the target exists. An
anchor is checked too: for a ``.md`` target against GitHub/MyST-style heading slugs (what GitHub
and the Sphinx site use), for an ``.ipynb`` target against Jupyter-style heading anchors (the
heading text with spaces turned into ``-``, what JupyterLab and nbviewer use). External links
(http, https, mailto) are not fetched.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "guide"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHAPTERS = ["index", "when_prompting_is_enough", "hardware_and_cost", "troubleshooting", "instructor_guide"]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def md_files() -> list[Path]:
    return sorted(GUIDE.rglob("*.md"))


def _plain(heading: str) -> str:
    """Heading text as rendered: inline code, emphasis and link markup removed."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return text.replace("`", "").replace("**", "").replace("*", "").strip()


def github_slug(heading: str) -> str:
    """GitHub's (and MyST's myst_heading_anchors) slug of a heading."""
    return re.sub(r"[^\w\- ]", "", _plain(heading).lower()).replace(" ", "-")


def jupyter_anchor(heading: str) -> str:
    """JupyterLab's / nbconvert's anchor of a Markdown-cell heading: spaces become '-'."""
    return _plain(heading).replace(" ", "-")


def md_anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {github_slug(m.group(2)) for m in _HEADING.finditer(text)}


def notebook_anchors(path: Path) -> set[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = _FENCE.sub("", "".join(cell["source"]))
            out |= {jupyter_anchor(m.group(2)) for m in _HEADING.finditer(src)}
    return out


def relative_links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(path: Path) -> list[str]:
    problems = []
    for link in relative_links(path):
        target, _, anchor = link.partition("#")
        dest = (path.parent / target).resolve() if target else path
        if not dest.exists():
            problems.append(f"{path.relative_to(ROOT)}: {link} -> missing file {dest}")
            continue
        if not anchor:
            continue
        if dest.suffix == ".md":
            anchors = md_anchors(dest)
        elif dest.suffix == ".ipynb":
            anchors = notebook_anchors(dest)
        else:
            problems.append(f"{path.relative_to(ROOT)}: {link} -> anchors only checked in .md/.ipynb")
            continue
        if anchor not in anchors:
            problems.append(f"{path.relative_to(ROOT)}: {link} -> no heading with anchor {anchor!r} in {dest.name}")
    return problems


def test_link_checker_catches_broken_links(tmp_path):
    """The checker itself: a missing file, a wrong .md anchor and a wrong notebook anchor are found."""
    nb = {"cells": [{"cell_type": "markdown", "source": ["## 4. Preflight: will it fit?"]}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (tmp_path / "a.md").write_text("# Title\n## Out of memory on 24 GB\n", encoding="utf-8")
    page = tmp_path / "p.md"
    page.write_text(
        "[ok](a.md#out-of-memory-on-24-gb) [ok](n.ipynb#4.-Preflight:-will-it-fit?) [ok](https://x.y/z)\n"
        "[bad](missing.md) [bad](a.md#nope) [bad](n.ipynb#4-preflight-will-it-fit)\n"
        "`[not a link](nowhere.md)`\n```\n[not a link](nowhere.md)\n```\n",
        encoding="utf-8")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        problems = broken_links(page)
    finally:
        ROOT = old
    assert len(problems) == 3, problems


def test_every_relative_link_and_anchor_in_the_guide_resolves():
    files = md_files()
    assert len(files) >= 15
    problems = [p for f in files for p in broken_links(f)]
    assert not problems, "broken links in guide/:\n" + "\n".join(problems)


def test_chapters_exist_one_per_notebook():
    for name in CHAPTERS:
        assert (GUIDE / f"{name}.md").exists(), f"guide/{name}.md is missing"
    for nb in NOTEBOOKS:
        chapter = GUIDE / f"{nb.stem}.md"
        assert chapter.exists(), f"no chapter for {nb.name}"
        text = chapter.read_text(encoding="utf-8")
        assert f"../notebooks/{nb.name}" in text, f"{chapter.name} does not link to its notebook"
        assert f"solutions/{nb.stem}.md" in text, f"{chapter.name} does not link to its solutions"
        for part in ("## Why", "## The key decisions", "## Common mistakes", "## Further reading"):
            assert part in text, f"{chapter.name} lacks a '{part}' section"


def test_index_lists_every_page_in_the_site():
    index = (GUIDE / "index.md").read_text(encoding="utf-8")
    for path in md_files():
        rel = path.relative_to(GUIDE).with_suffix("").as_posix()
        if rel != "index":
            assert f"\n{rel}\n" in index, f"guide/index.md's toctree does not list {rel}"


def test_troubleshooting_covers_the_required_topics():
    anchors = md_anchors(GUIDE / "troubleshooting.md")
    for slug in ("out-of-memory-on-a-24-gb-card", "bitsandbytes-and-cuda-installs", "generation-does-not-stop",
                 "the-loss-is-not-going-down", "the-adapter-is-worse-than-the-baseline", "version-drift"):
        assert slug in anchors, f"troubleshooting.md lacks a section {slug}"


def test_instructor_guide_has_plan_timings_checklist_and_plan_b():
    text = (GUIDE / "instructor_guide.md").read_text(encoding="utf-8")
    anchors = md_anchors(GUIDE / "instructor_guide.md")
    for slug in ("the-day", "setup-checklist", "plan-b", "the-offline-bundle", "how-long-each-notebook-takes-to-run"):
        assert slug in anchors
    for nb in NOTEBOOKS:
        assert nb.stem in text, f"the timing tables miss {nb.stem}"
    # The ci table quotes the cold .ci/run kept in benchmarks/results/time_budget_ci.json: its commit,
    # its nbval total, and each notebook's nbval seconds in that notebook's row.
    budget = json.loads((ROOT / "benchmarks" / "results" / "time_budget_ci.json").read_text(encoding="utf-8"))
    assert budget["label"].startswith("cold") and budget["commit"] in text
    assert f"| {round(budget['against_targets']['nbval']['seconds'])} (target" in text
    ci_part = text[text.index("**`ci` profile, measured.**"):text.index("**`cpu` profile, measured")]
    rows = {line.split("|")[1].strip(): line for line in ci_part.splitlines() if line.startswith("| 0")}
    for name, seconds in budget["nbval"]["notebooks"].items():
        cells = rows[name.removesuffix(".ipynb")].split("|")
        assert cells[2].strip().split()[0] == str(round(seconds)), f"{name}: the table's cold nbval seconds"
    assert "estimates, not measurements" in text  # GPU figures are labelled as estimates


def _markdown(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


# Notebooks are not edited from here; a known gap is listed so that it shows, and the xfail is
# strict so that the test fails (and this list must shrink) once the gap is fixed.
KNOWN_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("nb_path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[p.stem])) if p.stem in KNOWN_GAPS else p
    for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_has_objectives_what_to_see_and_three_exercise_levels(nb_path):
    cells = _markdown(nb_path)
    assert "learning objectives" in cells[0].lower(), f"{nb_path.name}: objectives must open the notebook"
    assert any("what you should" in c.lower() or "reading it honestly" in c.lower() for c in cells), \
        f"{nb_path.name}: no 'what you should see' prose"
    exercises = next((c for c in cells if re.search(r"^## Exercises", c, re.M)), "")
    for level in ("Easy", "Medium", "Hard"):
        assert f"**{level}.**" in exercises, f"{nb_path.name}: no {level} exercise"
    assert f"guide/solutions/{nb_path.stem}.md" in exercises
    assert (GUIDE / "solutions" / f"{nb_path.stem}.md").exists()


@pytest.mark.slow
def test_guide_builds_as_a_site(tmp_path):
    """`make guide`'s build step, when Sphinx and myst-parser are installed (pip install -e ".[guide]")."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html",
                           str(GUIDE), str(out), "-d", str(tmp_path / "doctrees")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for nb in NOTEBOOKS:
        assert (out / f"{nb.stem}.html").exists()
    assert (out / "solutions" / "04_evaluation.html").exists()
    shutil.rmtree(out, ignore_errors=True)
