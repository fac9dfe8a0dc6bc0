"""``python -m helpers task init``: a task folder from one file, split seeded and stratified, repeats kept together."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from helpers.__main__ import main
from helpers.core.errors import DataError, SettingsError
from helpers.data.loading import load_rows
from helpers.data.task_folder import TASK_FILE, init_task
from helpers.data.text import normalise_text

WORDS = "parcel refund invoice login password delivery voucher router screen battery courier basket".split()


def _messages(n: int, label: str, start: int) -> list[tuple[str, str, str]]:
    return [(f"m{start + i:04d}", f"Message {start + i} about the {WORDS[i % len(WORDS)]}, case {i * 7 % 13}", label)
            for i in range(n)]


def _csv(path: Path, rows: list[tuple[str, str, str]], header=("id", "text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _labelled(tmp_path: Path) -> tuple[Path, list[tuple[str, str, str]]]:
    rows = _messages(80, "ham", 0) + _messages(30, "spam", 100) + _messages(10, "promo", 200)
    # three messages repeated with other case and punctuation: each pair must land in one split
    rows += [(f"dup{i}", rows[i * 37][1].upper() + "!!", rows[i * 37][2]) for i in range(3)]
    return _csv(tmp_path / "sms.csv", rows), rows


def _split_rows(folder: Path) -> dict[str, list[dict]]:
    return {s: load_rows(folder / f"{s}.jsonl").rows for s in ("train", "eval", "golden")}


def test_classification_split_is_stratified_disjoint_and_seeded(tmp_path):
    src, rows = _labelled(tmp_path)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    spec = init_task(src, tmp_path / "task", "classification", "text", "label", golden=12, eval_n=12, seed=3)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the input is only read
    assert (spec["view"], spec["labels"], spec["primary_metric"]) == ("classification", ["ham", "promo", "spam"], "macro_f1")
    assert all(lab in spec["instructions"] for lab in spec["labels"])
    assert json.loads((tmp_path / "task" / TASK_FILE).read_text()) == spec
    splits = _split_rows(tmp_path / "task")
    assert sum(len(p) for p in splits.values()) == len(rows) == spec["source"]["rows"]
    assert {s: len(p) for s, p in splits.items()} == spec["splits"]
    where = {}
    for split, part in splits.items():
        for r in part:
            assert where.setdefault(normalise_text(r["input"]), split) == split  # no message in two splits
        assert set(Counter(r["output"] for r in part)) == {"ham", "spam", "promo"}  # every label in every split
    golden = Counter(r["output"] for r in splits["golden"])
    assert golden["ham"] > golden["spam"] > golden["promo"] >= 1  # in proportion to the file
    assert 12 <= len(splits["golden"]) <= 14  # 12 groups; a repeated message brings its twin
    # rows are mixed, not gathered label by label: a profile reading a split's first rows gets both labels
    assert {r["output"] for r in splits["train"][:20]} >= {"ham", "spam"}
    assert len({r["output"] for r in splits["eval"][:6]}) >= 2 and len({r["output"] for r in splits["golden"][:6]}) >= 2
    for i in range(3):  # each repeat sits with its original
        dup = next(s for s, p in splits.items() if any(r["id"] == f"dup{i}" for r in p))
        assert any(r["id"] == rows[i * 37][0] for r in splits[dup])

    again = init_task(src, tmp_path / "again", "classification", "text", "label", golden=12, eval_n=12, seed=3)
    assert again["splits"] == spec["splits"]
    assert (tmp_path / "again" / "golden.jsonl").read_bytes() == (tmp_path / "task" / "golden.jsonl").read_bytes()
    init_task(src, tmp_path / "other", "classification", "text", "label", golden=12, eval_n=12, seed=4)
    assert {r["id"] for r in _split_rows(tmp_path / "other")["golden"]} != {r["id"] for r in splits["golden"]}


def test_extraction_from_jsonl_with_other_keys_collects_the_fields(tmp_path):
    src = tmp_path / "orders.jsonl"
    lines = [{"message": f"Order {i} of {WORDS[i % 12]} to shop {i % 5}",
              "answer": json.dumps({"order_id": str(i), "item": WORDS[i % 12], **({"shop": i % 5} if i % 2 else {})})}
             for i in range(40)]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    spec = init_task(src, tmp_path / "t", "extraction", "message", "answer", golden=5, eval_n=5)
    assert spec["fields"] == ["item", "order_id", "shop"] and spec["primary_metric"] == "field_accuracy"
    train = load_rows(tmp_path / "t" / "train.jsonl").rows
    assert len(train) == 30 and json.loads(train[0]["output"])["order_id"]  # the answer became output
    assert spec["splits"] == {"train": 30, "eval": 5, "golden": 5}


def _bad_label_file(tmp_path: Path) -> Path:
    return _csv(tmp_path / "x.csv", _messages(40, "ham", 0) + _messages(1, "rare", 100))


def _free_text(tmp_path: Path) -> Path:
    return _csv(tmp_path / "x.csv", [(f"i{i}", f"text {i}", f"a long free-text answer number {i}") for i in range(80)])


def _broken_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "x.jsonl"
    p.write_text('{"input": "a", "output": "b"}\n{"input": "c", "output": \n', encoding="utf-8")
    return p


@pytest.mark.parametrize("make, args, says", [
    (lambda t: _csv(t / "x.csv", _messages(40, "ham", 0), header=("id", "body", "label")),
     ["--view", "classification", "--input-column", "text", "--output-column", "label"], "--input-column"),
    (_bad_label_file, ["--view", "classification", "--input-column", "text", "--output-column", "label"],
     "label 'rare' has 1 example"),
    (lambda t: _csv(t / "x.csv", _messages(20, "ham", 0) + _messages(6, "spam", 50)),
     ["--view", "classification", "--input-column", "text", "--output-column", "label", "--golden", "10", "--eval", "10"],
     "lower --golden"),
    (_free_text, ["--view", "classification", "--input-column", "text", "--output-column", "label"], "--view summarisation"),
    (_free_text, ["--view", "extraction", "--input-column", "text", "--output-column", "label"], "not a JSON object"),
    (lambda t: _csv(t / "x.csv", _messages(30, "ham", 0) + [("m0001", "again", "ham")] + _messages(5, "spam", 60)),
     ["--view", "classification", "--input-column", "text", "--output-column", "label"], "id 'm0001' is used 2 times"),
    (_broken_jsonl, ["--view", "summarisation"], "first line 2"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make, args, says):
    src = make(tmp_path)
    out = tmp_path / "task"
    assert main(["task", "init", str(out), "--from", str(src), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and says in err, err
    assert not out.exists() and not list(tmp_path.glob(".task.tmp-*"))


def test_an_existing_folder_is_never_written_into(tmp_path):
    src, _ = _labelled(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my work")
    with pytest.raises(SettingsError, match="never overwrites"):
        init_task(src, out, "classification", "text", "label")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my work"
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is fine
    assert init_task(src, empty, "classification", "text", "label")["name"] == "empty"


def test_cli_writes_and_says_what(tmp_path, capsys):
    src, _ = _labelled(tmp_path)
    assert main(["task", "init", str(tmp_path / "sms"), "--from", str(src), "--view", "classification",
                 "--input-column", "text", "--output-column", "label", "--golden", "12", "--eval", "12"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path / 'sms'}: train ") and "labels ham, promo, spam" in out
    with pytest.raises(DataError, match="no usable row|lacks column"):
        init_task(src, tmp_path / "n", "classification")  # default columns input/output: not in this file
