"""The loader against a corpus of broken files (tests/bad_inputs/): every file gets either a usable
load with warnings naming file:line, or a one-line DataError naming the fix; never a traceback,
never a hang, never a change to the file. Fast: no models are loaded here except in the CLI test.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.data.loading import DataError, load_rows

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "bad_inputs"

# file -> ("ok", rows loaded, [(line, check) issues], [(line, check) notices])  or  ("error", words in message)
EXPECTED: dict[str, tuple] = {
    "01_truncated_last_line.jsonl": ("ok", 2, [(3, "malformed_row")], []),
    "02_trailing_comma.jsonl": ("ok", 2, [(2, "malformed_row")], []),
    "03_utf8_bom.jsonl": ("ok", 3, [], []),
    "04_utf16_le_bom.jsonl": ("ok", 3, [], [(0, "encoding")]),
    "05_utf16_be_bom.jsonl": ("ok", 3, [], [(0, "encoding")]),
    "06_latin1.jsonl": ("ok", 2, [], [(2, "encoding")]),
    "07_nul_byte_in_line.jsonl": ("ok", 2, [(2, "malformed_row")], []),
    "08_binary_nul_file.jsonl": ("error", "binary"),
    "09_crlf.jsonl": ("ok", 3, [], []),
    "10_cr_only.jsonl": ("ok", 3, [], []),
    "11_empty.jsonl": ("error", "is empty"),
    "12_whitespace_only.jsonl": ("error", "is empty"),
    "13_json_array.jsonl": ("error", "JSON array"),
    "14_pretty_object.json": ("error", "one compact object per line"),
    "15_non_object_lines.jsonl": ("ok", 2, [(2, "malformed_row"), (3, "malformed_row"), (4, "malformed_row"), (5, "malformed_row")], []),
    "16_null_fields.jsonl": ("ok", 1, [(2, "missing_field"), (3, "missing_field")], []),
    "17_non_string_fields.jsonl": ("ok", 1, [(2, "malformed_row"), (3, "malformed_row")], []),
    "18_unknown_chat_role.jsonl": ("ok", 1, [(2, "malformed_row")], []),
    "19_no_assistant_turn.jsonl": ("ok", 1, [(2, "missing_field")], []),
    "20_mixed_styles.jsonl": ("ok", 3, [], [(0, "mixed_styles")]),
    "21_duplicate_ids.jsonl": ("ok", 3, [], [(2, "duplicate_id")]),
    "22_gzip.jsonl.gz": ("ok", 3, [], [(0, "encoding")]),
    "23_damaged_gzip.jsonl.gz": ("error", "damaged gzip"),
    "24_csv_missing_column.csv": ("error", "'input' and 'output' columns"),
    "25_csv_ragged.csv": ("ok", 2, [(3, "missing_field"), (4, "malformed_row")], []),
    "26_csv_ok_bom.csv": ("ok", 1, [], []),
    "27_deeply_nested.jsonl": ("ok", 2, [(2, "malformed_row")], []),
    "28_huge_integer.jsonl": ("ok", 1, [(2, "malformed_row")], []),
    "29_lone_surrogate.jsonl": ("ok", 1, [(2, "malformed_row")], []),
    "30_unicode_line_separator.jsonl": ("ok", 2, [], []),
    "31_all_lines_malformed.jsonl": ("error", "no usable row"),
    "32_concatenated_with_bom.jsonl": ("ok", 2, [], []),
    "33_merge_conflict.jsonl": ("ok", 3, [(2, "malformed_row"), (4, "malformed_row"), (6, "malformed_row")], []),
    "34_chat_content_parts.jsonl": ("ok", 1, [(2, "malformed_row")], []),
    "35_png_renamed.jsonl": ("error", "binary"),
    "36_two_objects_one_line.jsonl": ("ok", 1, [(1, "malformed_row")], []),
    "37_tsv.tsv": ("ok", 2, [], []),
    "38_empty_messages.jsonl": ("ok", 1, [(2, "malformed_row")], []),
    "39_blank_lines_between.jsonl": ("ok", 2, [], []),
}


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.suffix != ".py" and p.is_file()}
    assert on_disk == set(EXPECTED), "regenerate with python tests/bad_inputs/make_corpus.py"
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input(name: str) -> None:
    path = CORPUS / name
    before = _fingerprint(path)
    expected = EXPECTED[name]
    if expected[0] == "error":
        with pytest.raises(DataError) as info:
            load_rows(path)
        message = str(info.value)
        assert "\n" not in message and expected[1] in message and ":" in message
    else:
        result = load_rows(path)
        _, n_rows, issues, notices = expected
        assert len(result.rows) == n_rows
        assert [(i.line, i.check) for i in result.issues] == issues
        assert [(i.line, i.check) for i in result.notices] == notices
        for warning in result.warnings():
            assert warning.startswith(name) and "\n" not in warning
        for row in result.rows:
            assert isinstance(row["input"], str) and isinstance(row["output"], str) and row["line"] >= 1
    assert _fingerprint(path) == before, "the loader must never modify its input"


def test_latin1_text_is_decoded() -> None:
    rows = load_rows(CORPUS / "06_latin1.jsonl").rows
    assert rows[1]["input"].startswith("Café crème")


def test_csv_line_numbers_follow_multiline_records() -> None:
    rows = load_rows(CORPUS / "25_csv_ragged.csv").rows
    assert [r["line"] for r in rows] == [2, 5] and rows[1]["input"] == "Multi\nline input"


def test_unicode_separators_do_not_split_rows() -> None:
    rows = load_rows(CORPUS / "30_unicode_line_separator.jsonl").rows
    assert "\u2028" in rows[0]["input"] and [r["line"] for r in rows] == [1, 2]


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is a folder"):
        load_rows(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this OS")
def test_named_pipe_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        load_rows(fifo)


def test_gigantic_row_is_reported_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    giant = '{"input": "' + "a" * 3_000_000 + '", "output": "x"}'
    path.write_text('{"input": "hi", "output": "x"}\n' + giant + "\n", encoding="utf-8")
    result = load_rows(path)
    assert len(result.rows) == 1 and [(i.line, i.check) for i in result.issues] == [(2, "malformed_row")]
    assert "characters long" in result.issues[0].message


def test_require_output_false_accepts_input_only_rows(tmp_path: Path) -> None:
    path = tmp_path / "prod.jsonl"
    path.write_text('{"id": "p1", "input": "where is my parcel"}\n', encoding="utf-8")
    with pytest.raises(DataError):
        load_rows(path)
    assert load_rows(path, require_output=False).rows[0]["output"] == ""


UNUSABLE = sorted(n for n, e in EXPECTED.items() if e[0] == "error")


@pytest.mark.parametrize("name", [UNUSABLE[0], UNUSABLE[-1], "missing.jsonl"])
def test_cli_exit_2_with_one_line(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "quality", "check", str(CORPUS / name), "--json", "--no-embeddings"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr


def test_load_objects_validates_rows_in_memory_like_file_lines():
    from helpers.data.loading import load_objects

    loaded = load_rows(CORPUS.parent.parent / "data" / "support" / "train.jsonl").rows[:2]
    result = load_objects([{"input": "a", "output": "b"}, {"input": "only"}, [1, 2], loaded[1]])
    assert [r["line"] for r in result.rows] == [1, loaded[1]["line"]]  # a loaded row keeps its own line
    assert result.rows[1] is loaded[1] and result.rows[0]["output"] == "b"
    assert [(i.line, i.check) for i in result.issues] == [(2, "missing_field"), (3, "malformed_row")]
    assert result.n_lines == 4 and str(result.path) == "<rows>"
    assert not load_objects([]).rows
