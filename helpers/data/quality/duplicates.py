"""Duplicates and conflicts: exact copies, paraphrased copies, and one question with two answers.

Introduced in ``01_data_quality.ipynb``. Inputs are grouped when they are equal after
:func:`helpers.data.text.normalise_text`, or when their MiniLM embeddings are close
(cosine >= :data:`NEAR_DUP_COSINE`) *and* they hold the same identifiers (order ids, amounts):
two customers using the same words about different orders are not duplicates.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from difflib import SequenceMatcher
from typing import Any, Iterable, Sequence

from helpers.data.quality.findings import Finding, make_finding
from helpers.data.quality.format import json_dominant
from helpers.data.text import normalise_text, parse_json_output

NEAR_DUP_COSINE = 0.95
_IDENT = re.compile(r"[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*")


def identifiers(text: str) -> frozenset[str]:
    """Tokens holding a digit (order ids, amounts, dates): near-duplicates by meaning must share them (01)."""
    return frozenset(t.lower() for t in _IDENT.findall(text))


def _lower_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower_keys(v) for v in obj]
    return obj


def canonical_output(text: str) -> str:
    """A form of an output that ignores formatting: sorted lower-cased JSON, else normalised text (01)."""
    obj = parse_json_output(text, strict=True, allow_fence=True)
    if obj is not None:
        return json.dumps(_lower_keys(obj), sort_keys=True, ensure_ascii=False)
    return normalise_text(text)


def outputs_agree(a: str, b: str) -> bool:
    """True when two outputs say the same thing (JSON compared parsed; long free text fuzzily) (01)."""
    ca, cb = canonical_output(a), canonical_output(b)
    if ca == cb:
        return True
    if ca.startswith("{") or cb.startswith("{"):
        return False
    if min(len(ca.split()), len(cb.split())) < 8:  # labels and short answers: any change is a conflict
        return False
    return SequenceMatcher(None, ca, cb, autojunk=False).ratio() >= 0.8


def check_exact_duplicates(rows: Sequence[dict[str, Any]]) -> Finding | None:
    """Rows with the same input and output as an earlier row; only the later copies (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    first: dict[tuple[str, str], int] = {}
    groups: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        key = (r["input"], r["output"])
        if key in first:
            groups[first[key]].append(r["line"])
        else:
            first[key] = r["line"]
    lines = [x for g in groups.values() for x in g]
    return make_finding(
        "exact_duplicate", lines,
        f"{len(lines)} row(s) repeat an earlier row exactly (same input and output): keep the first copy",
        by_line, groups=[[k, *v] for k, v in sorted(groups.items())],
    )


class _UnionFind:
    def __init__(self, items: Iterable[int]) -> None:
        self.parent = {i: i for i in items}

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def similar_pairs(emb_a: Any, emb_b: Any | None, threshold: float, block: int = 1024) -> list[tuple[int, int, float]]:
    """Index pairs (i, j) with cosine >= threshold; within one set only i < j (01_data_quality).

    Blockwise so 5,000 x 5,000 rows never needs more than a few MB at a time.
    """
    import numpy as np

    same = emb_b is None
    emb_b = emb_a if same else emb_b
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(emb_a), block):
        sims = emb_a[start : start + block] @ emb_b.T
        ii, jj = np.nonzero(sims >= threshold)
        for i, j in zip(ii.tolist(), jj.tolist()):
            gi = start + i
            if same and j <= gi:
                continue
            pairs.append((gi, j, float(sims[i, j])))
    return pairs


def similar_input_groups(rows: Sequence[dict[str, Any]], embeddings: Any = None,
                         threshold: float = NEAR_DUP_COSINE) -> list[list[int]]:
    """Groups of lines whose inputs are near-identical: equal after normalisation, or embedding
    cosine >= ``threshold`` with the same identifiers (order ids, numbers) (01_data_quality)."""
    uf = _UnionFind(r["line"] for r in rows)
    seen: dict[str, int] = {}
    for r in rows:
        key = normalise_text(r["input"])
        if key in seen:
            uf.union(seen[key], r["line"])
        else:
            seen[key] = r["line"]
    if embeddings is not None and len(rows) > 1:
        ids = [identifiers(r["input"]) for r in rows]
        for i, j, _ in similar_pairs(embeddings, None, threshold):
            if ids[i] == ids[j]:
                uf.union(rows[i]["line"], rows[j]["line"])
    groups: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        groups[uf.find(r["line"])].append(r["line"])
    return [sorted(g) for g in groups.values() if len(g) > 1]


def check_near_duplicates_and_conflicts(
    rows: Sequence[dict[str, Any]], groups: list[list[int]]
) -> tuple[Finding | None, Finding | None]:
    """near_duplicate (same answer, later copies) and conflicting_label (different answers, all
    rows) from the groups of near-identical inputs (01_data_quality)."""
    by_line = {r["line"]: r for r in rows}
    near, near_groups, conflict, conflict_groups = [], [], [], []
    if json_dominant(rows):  # an unparseable answer is invalid_json_output, not a second opinion
        groups = [[x for x in g if parse_json_output(by_line[x]["output"], strict=True, allow_fence=True) is not None]
                  for g in groups]
    groups = [[x for x in g if by_line[x]["output"].strip()] for g in groups]
    for g in groups:
        if len(g) < 2:
            continue
        outs = [by_line[x]["output"] for x in g]
        if all(outputs_agree(outs[0], o) for o in outs[1:]):
            exact = {(by_line[g[0]]["input"], outs[0])}
            later = []
            for x in g[1:]:
                key = (by_line[x]["input"], by_line[x]["output"])
                if key not in exact:
                    later.append(x)
                exact.add(key)
            if later:
                near += later
                near_groups.append(g)
        else:
            conflict += g
            conflict_groups.append(g)
    nf = make_finding(
        "near_duplicate", near,
        f"{len(near)} row(s) repeat an earlier row's request in other words with the same answer: keep one",
        by_line, groups=near_groups,
    )
    cf = make_finding(
        "conflicting_label", conflict,
        f"{len(conflict_groups)} group(s) of near-identical inputs have different outputs ({len(conflict)} rows): "
        f"decide which answer is right, fix or drop the others",
        by_line, groups=conflict_groups,
    )
    return nf, cf
