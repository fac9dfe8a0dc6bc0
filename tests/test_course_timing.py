"""``make course`` times every cell: a real notebook run in a fresh kernel, its cells' seconds read back."""

from __future__ import annotations

import json

import nbformat

from helpers.course import cell_seconds, execute_notebook, write_timing


def _notebook(path, sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# timing")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def test_cell_seconds_follow_what_each_cell_did(tmp_path):
    src = _notebook(tmp_path / "00_t.ipynb", ["x = 1", "import time; time.sleep(0.6)", "x + 1"])
    executed = tmp_path / "executed"
    total = execute_notebook(src, executed / src.name, timeout=120)
    cells = cell_seconds(nbformat.read(str(executed / src.name), as_version=4))
    assert len(cells) == 3  # code cells only, the markdown cell has no time
    assert cells[1] >= 0.6 and cells[1] == max(cells)  # the sleeping cell is the slow one
    assert cells[0] < 0.5 and cells[2] < 0.5
    assert sum(cells) <= total

    path = write_timing(tmp_path, executed, {src.name: round(total, 1), "99_missing.ipynb": 1.0})
    data = json.loads(path.read_text())
    assert data["cells"] == {src.name: cells}  # a notebook without an executed copy has no cells
    assert data["notebooks"][src.name] == round(total, 1)


def test_cells_not_reached_have_no_time():
    nb = nbformat.v4.new_notebook()
    ran = nbformat.v4.new_code_cell("1")
    ran.metadata["execution"] = {"iopub.execute_input": "2026-12-02T07:00:00.000000Z",
                                 "shell.execute_reply": "2026-12-02T07:00:02.500000Z"}
    nb.cells = [ran, nbformat.v4.new_code_cell("never ran")]
    assert cell_seconds(nb) == [2.5]
