"""Regenerate the bad-input corpus: ``python tests/bad_inputs/make_corpus.py`` (01_data_quality).

Each file is a small, realistic way a learner's data can be broken. The expected outcome of
loading each one lives in ``tests/test_data_loading.py`` (EXPECTED). The gigantic row, the pipe
and the missing path are made inside the test instead of being committed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def row(i: int, **kw: object) -> str:
    base = {"id": f"r{i}", "input": f"Where is my order ORD-{48210 + i}?", "output": f'{{"order_id": "ORD-{48210 + i}"}}'}
    base.update(kw)
    return json.dumps(base)


GOOD = [row(1), row(2), row(3)]
GOOD_TEXT = "\n".join(GOOD) + "\n"
CHAT = json.dumps({"id": "c1", "messages": [
    {"role": "system", "content": "Extract."}, {"role": "user", "content": "Parcel late"},
    {"role": "assistant", "content": "late_delivery"}]})


def files() -> dict[str, bytes]:
    u = GOOD_TEXT.encode()
    return {
        "01_truncated_last_line.jsonl": (GOOD[0] + "\n" + GOOD[1] + "\n" + GOOD[2][:25]).encode(),
        "02_trailing_comma.jsonl": (GOOD[0] + "\n" + GOOD[1][:-1] + ",}\n" + GOOD[2] + "\n").encode(),
        "03_utf8_bom.jsonl": b"\xef\xbb\xbf" + u,
        "04_utf16_le_bom.jsonl": GOOD_TEXT.encode("utf-16"),
        "05_utf16_be_bom.jsonl": b"\xfe\xff" + GOOD_TEXT.encode("utf-16-be"),
        "06_latin1.jsonl": (row(1) + "\n" + json.dumps({"id": "r2", "input": "Caf\u00e9 cr\u00e8me order late", "output": "late"}, ensure_ascii=False) + "\n").encode("latin-1"),
        "07_nul_byte_in_line.jsonl": (GOOD[0] + "\n" + GOOD[1][:10] + "\x00" + GOOD[1][10:] + "\n" + GOOD[2] + "\n").encode(),
        "08_binary_nul_file.jsonl": b"\x00\x01\x02\x00" * 200,
        "09_crlf.jsonl": GOOD_TEXT.replace("\n", "\r\n").encode(),
        "10_cr_only.jsonl": GOOD_TEXT.replace("\n", "\r").encode(),
        "11_empty.jsonl": b"",
        "12_whitespace_only.jsonl": b"\n\n   \n\t\n",
        "13_json_array.jsonl": json.dumps([json.loads(g) for g in GOOD], indent=2).encode(),
        "14_pretty_object.json": json.dumps(json.loads(GOOD[0]), indent=2).encode(),
        "15_non_object_lines.jsonl": (GOOD[0] + "\n42\n\"just a string\"\n[1, 2]\nnull\n" + GOOD[1] + "\n").encode(),
        "16_null_fields.jsonl": (GOOD[0] + "\n" + row(2, output=None) + "\n" + row(3, input=None) + "\n").encode(),
        "17_non_string_fields.jsonl": (GOOD[0] + "\n" + row(2, output={"order_id": "ORD-1"}) + "\n" + row(3, input=12345) + "\n").encode(),
        "18_unknown_chat_role.jsonl": (CHAT + "\n" + json.dumps({"id": "c2", "messages": [
            {"role": "human", "content": "hi"}, {"role": "assistant", "content": "x"}]}) + "\n").encode(),
        "19_no_assistant_turn.jsonl": (CHAT + "\n" + json.dumps({"id": "c2", "messages": [
            {"role": "user", "content": "hi"}]}) + "\n").encode(),
        "20_mixed_styles.jsonl": (GOOD[0] + "\n" + CHAT + "\n" + GOOD[1] + "\n").encode(),
        "21_duplicate_ids.jsonl": (GOOD[0] + "\n" + row(9, id="r1") + "\n" + GOOD[2] + "\n").encode(),
        "22_gzip.jsonl.gz": gzip.compress(u, mtime=0),
        "23_damaged_gzip.jsonl.gz": gzip.compress(u, mtime=0)[:30],
        "24_csv_missing_column.csv": b"text,label\nhello,greeting\n",
        "25_csv_ragged.csv": b'id,input,output\n1,Where is ORD-1?,late\n2,Broken item\n3,Refund, please,refund,extra\n4,"Multi\nline input",damaged\n',
        "26_csv_ok_bom.csv": b"\xef\xbb\xbfinput,output\nWhere is my parcel,late\n",
        "27_deeply_nested.jsonl": (GOOD[0] + "\n" + "[" * 100000 + "\n" + GOOD[1] + "\n").encode(),
        "28_huge_integer.jsonl": (GOOD[0] + "\n" + '{"input": "x", "output": ' + "9" * 5000 + "}\n").encode(),
        "29_lone_surrogate.jsonl": (GOOD[0] + "\n" + '{"input": "bad \\ud800 escape", "output": "x"}\n').encode(),
        "30_unicode_line_separator.jsonl": (json.dumps({"input": "line\u2028sep\u0085next", "output": "ok"}, ensure_ascii=False) + "\n" + GOOD[1] + "\n").encode(),
        "31_all_lines_malformed.jsonl": b"{oops\nnot json either\n",
        "32_concatenated_with_bom.jsonl": b"\xef\xbb\xbf" + (GOOD[0] + "\n").encode() + b"\xef\xbb\xbf" + (GOOD[1] + "\n").encode(),
        "33_merge_conflict.jsonl": (GOOD[0] + "\n<<<<<<< HEAD\n" + GOOD[1] + "\n=======\n" + GOOD[2] + "\n>>>>>>> branch\n").encode(),
        "34_chat_content_parts.jsonl": (CHAT + "\n" + json.dumps({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": "x"}]}) + "\n").encode(),
        "35_png_renamed.jsonl": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "36_two_objects_one_line.jsonl": (GOOD[0] + " " + GOOD[1] + "\n" + GOOD[2] + "\n").encode(),
        "37_tsv.tsv": b"input\toutput\nWhere is my parcel\tlate\nRefund, please\trefund\n",
        "38_empty_messages.jsonl": (CHAT + "\n" + '{"messages": []}\n').encode(),
        "39_blank_lines_between.jsonl": ("\n" + GOOD[0] + "\n\n\n" + GOOD[1] + "\n").encode(),
    }


def main() -> None:
    for name, data in files().items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files())} files to {HERE}")


if __name__ == "__main__":
    main()
