"""helpers.core.runs: atomic JSON writes, run folders, the CURRENT pointer and stage completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.core.errors import DataError
from helpers.core.runs import (
    CURRENT_FILE,
    append_jsonl,
    current_run,
    library_versions,
    make_run_id,
    new_run,
    read_json,
    read_jsonl,
    stage_done,
    start_course_run,
    write_json,
    write_jsonl,
    write_text,
)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- atomic writes
def test_write_json_round_trips_and_leaves_no_temp_file(tmp_path):
    obj = {"a": 1, "nested": {"list": [1.5, None, True]}, "text": "café ✓", "path": Path("x/y")}
    path = write_json(tmp_path / "deep" / "m.json", obj)
    assert path == tmp_path / "deep" / "m.json"
    assert _files(path.parent) == ["m.json"]
    assert read_json(path) == {**obj, "path": "x/y"}  # non-JSON values are written as strings
    assert "café ✓" in path.read_text(encoding="utf-8")  # readable, not \\u-escaped
    write_json(path, {"b": 2})  # overwriting replaces the content whole
    assert read_json(path) == {"b": 2} and _files(path.parent) == ["m.json"]


def test_write_jsonl_round_trips_and_leaves_no_temp_file(tmp_path):
    rows = [{"id": f"r{i}", "prediction": "é" * i, "x": [i, None]} for i in range(5)]
    path = write_jsonl(tmp_path / "p" / "rows.jsonl", (r for r in rows))  # any iterable, even a generator
    assert _files(path.parent) == ["rows.jsonl"]
    assert read_jsonl(path) == rows
    assert len(path.read_text(encoding="utf-8").splitlines()) == 5
    write_jsonl(path, [])
    assert read_jsonl(path) == [] and _files(path.parent) == ["rows.jsonl"]


def test_a_failed_jsonl_write_keeps_the_old_file(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"id": "old"}])

    def rows():
        yield {"id": "new-1"}
        raise RuntimeError("generation crashed half way")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert read_jsonl(path) == [{"id": "old"}]  # readers never see half a file


def test_a_failed_jsonl_write_leaves_no_temp_file(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"id": "old"}])
    with pytest.raises(ValueError):
        write_jsonl(path, _circular_rows())
    assert _files(tmp_path) == ["rows.jsonl"]
    assert read_jsonl(path) == [{"id": "old"}]


def _circular_rows():
    row: dict = {"id": "b"}
    row["self"] = row  # json.dumps raises ValueError: circular reference
    return [{"id": "a"}, row]


# --------------------------------------------------------------------------- run folders
def test_make_run_id_is_sortable_and_names_the_profile():
    assert re.fullmatch(r"\d{8}-\d{6}-ci", make_run_id("ci"))


def test_library_versions_cover_the_libraries_that_decide_results():
    v = library_versions()
    for name in ("python", "torch", "transformers", "peft", "trl", "bitsandbytes"):
        assert v[name] and v[name] != "not installed", name


def test_new_run_writes_run_json_and_sets_current(runs_tmp):
    run = new_run("ci")
    assert run.parent == runs_tmp and run.name.endswith("-ci")
    card = read_json(run / "run.json")
    assert card["run_id"] == run.name and card["profile"] == "ci" and card["task"] == "support"
    assert card["versions"]["torch"]
    assert (runs_tmp / CURRENT_FILE).read_text(encoding="utf-8").strip() == run.name
    # a second run in the same second gets its own folder and becomes current
    second = new_run("ci")
    assert second != run and second.exists() and run.exists()
    assert (runs_tmp / CURRENT_FILE).read_text(encoding="utf-8").strip() == second.name
    assert current_run("ci") == second


def test_current_run_follows_the_current_pointer(runs_tmp):
    run = new_run("cpu")
    assert current_run("ci") == run  # the pointer wins; the profile only labels new runs
    assert read_json(run / "run.json")["profile"] == "cpu"


def test_current_run_without_any_run_starts_one(runs_tmp):
    run = current_run("ci")
    assert (run / "run.json").exists()
    assert (runs_tmp / CURRENT_FILE).read_text(encoding="utf-8").strip() == run.name


def test_current_run_replaces_a_dangling_pointer(runs_tmp):
    runs_tmp.mkdir(parents=True, exist_ok=True)
    (runs_tmp / CURRENT_FILE).write_text("deleted-run\n", encoding="utf-8")
    run = current_run("ci")
    assert run.name != "deleted-run" and (run / "run.json").exists()
    assert (runs_tmp / CURRENT_FILE).read_text(encoding="utf-8").strip() == run.name


def test_current_run_honours_course_run_id(runs_tmp, monkeypatch):
    other = new_run("ci")  # CURRENT points here ...
    monkeypatch.setenv("COURSE_RUN_ID", "make-course-run")
    run = current_run("cpu")  # ... but the environment wins
    assert run == runs_tmp / "make-course-run"
    card = read_json(run / "run.json")
    assert card["run_id"] == "make-course-run" and card["profile"] == "cpu"
    # an existing run.json is kept, not rewritten by a later notebook
    assert current_run("ci") == run and read_json(run / "run.json")["profile"] == "cpu"
    assert other.exists()


def test_start_course_run_makes_a_new_run_unless_make_course_set_one(runs_tmp, monkeypatch):
    first = new_run("ci")
    fresh = start_course_run("ci")
    assert fresh != first and (fresh / "run.json").exists()
    assert (runs_tmp / CURRENT_FILE).read_text(encoding="utf-8").strip() == fresh.name
    monkeypatch.setenv("COURSE_RUN_ID", "from-make")
    assert start_course_run("ci") == runs_tmp / "from-make"
    assert start_course_run("ci") == runs_tmp / "from-make"  # every notebook shares it


def test_stage_done_only_after_metrics_json(runs_tmp):
    run = new_run("ci")
    assert not stage_done(run, "baseline")
    write_jsonl(run / "baseline" / "predictions_eval.jsonl", [{"id": "a", "prediction": "x"}])
    write_json(run / "baseline" / "prompt.json", {"k": 0})
    (run / "baseline" / ".metrics.json.tmp-123").write_text("{", encoding="utf-8")  # a half write
    assert not stage_done(run, "baseline")
    write_json(run / "baseline" / "metrics.json", {"eval": {}})
    assert stage_done(run, "baseline") and stage_done(str(run), "baseline")
    assert not stage_done(run, "adapter")  # stages are independent


# --------------------------------------------------------------------------- the one JSONL reader
def test_read_jsonl_names_file_and_line_of_a_bad_row(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('\ufeff{"id": "a"}\n\n{"id": "b", "x": [1]}\n', encoding="utf-8")  # BOM, blank line
    assert read_jsonl(path, require=("id",)) == [{"id": "a"}, {"id": "b", "x": [1]}]
    for body, words in [('{"id": "a"}\n{"id": broken\n', "p.jsonl:2: not valid JSON"),
                        ('{"id": "a"}\n[1, 2]\n', "p.jsonl:2: expected a JSON object"),
                        ('{"id": "a"}\n\n{"x": 1}\n', "p.jsonl:3: the row has no 'id'")]:
        path.write_text(body, encoding="utf-8")
        with pytest.raises(DataError, match=words) as err:
            read_jsonl(path, require=("id",))
        assert "\n" not in str(err.value)


def test_read_jsonl_can_skip_bad_lines_and_append_jsonl_adds_whole_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    append_jsonl(path, {"id": "1", "text": "café"})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "half a li')  # what a crashed writer leaves
    assert read_jsonl(path, skip_bad_lines=True) == [{"id": "1", "text": "café"}]
    with pytest.raises(DataError):
        read_jsonl(path)
    path.write_text('{"id": "1"}\n{"no_id": 2}\n', encoding="utf-8")
    append_jsonl(path, {"id": "3"})
    assert read_jsonl(path, skip_bad_lines=True, require=("id",)) == [{"id": "1"}, {"id": "3"}]


def test_write_text_is_atomic_and_leaves_no_temp_file(tmp_path):
    path = write_text(tmp_path / "d" / "summary.md", "# one\n")
    assert path.read_text(encoding="utf-8") == "# one\n" and _files(path.parent) == ["summary.md"]
    write_text(path, "# two\n")
    assert path.read_text(encoding="utf-8") == "# two\n" and _files(path.parent) == ["summary.md"]
