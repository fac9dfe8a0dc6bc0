"""MiniLM embeddings of the inputs, only where they can matter, cached on disk.

Introduced in ``01_data_quality.ipynb``. Texts equal after
:func:`helpers.data.text.normalise_text` are encoded once; vectors are kept in an on-disk cache
keyed by each text's hash, so re-running the checks after a few edits (or the CLI after the
notebook) only encodes new texts. Deleting the cache (under the course cache folder) is always
safe.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from helpers.core.models import get_embedder
from helpers.core.paths import cache_dir
from helpers.data.quality.duplicates import identifiers
from helpers.data.text import normalise_text

EMBED_CACHE_MAX = 50_000  # texts kept in the on-disk embedding cache
EMBED_DIM = 384  # all-MiniLM-L6-v2


def _embedding_cache_path() -> Path:
    return cache_dir() / "embeddings" / "minilm-l6_quality.npz"


def embed_cached(texts: list[str], cache: bool | str | Path = True) -> Any:
    """MiniLM embeddings of ``texts``, reusing the on-disk cache keyed by each text's hash (01_data_quality).

    ``cache``: True, the course cache file; a path, that cache file; False, no cache at all.
    The quality checks, the drift check and the few-shot selection of notebook 02 share it, so
    the training pool is encoded once per machine, not once per call.
    """
    import numpy as np

    digests = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    use_cache = cache is not False
    path = Path(cache) if isinstance(cache, (str, Path)) else _embedding_cache_path()
    known: dict[str, Any] = {}
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                known = dict(zip(z["keys"].tolist(), z["vectors"]))
        except (OSError, ValueError, KeyError):
            known = {}  # a damaged cache is rebuilt
    missing = [i for i, d in enumerate(digests) if d not in known]
    if missing:
        new = get_embedder().encode([texts[i] for i in missing])
        for i, vec in zip(missing, new):
            known[digests[i]] = vec
        if use_cache:
            if len(known) > EMBED_CACHE_MAX:  # keep the cache bounded: only this call's texts
                known = {d: known[d] for d in digests}
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())).astype(np.float32))
            tmp.replace(path)
    return np.stack([known[d] for d in digests]).astype(np.float32)


def _embed(texts: list[str], cache: bool | str | Path = True) -> Any:
    """MiniLM embeddings, each text distinct after normalisation encoded once (01_data_quality).

    ``cache`` as for :func:`embed_cached`: True (the course cache), a cache file, or False.
    """
    import numpy as np

    keys = [normalise_text(t) for t in texts]
    first: dict[str, str] = {}
    for k, t in zip(keys, texts):
        first.setdefault(k, t)  # texts equal after normalisation are encoded once
    if not first:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    emb = embed_cached(list(first.values()), cache)
    index = {k: i for i, k in enumerate(first)}
    return emb[[index[k] for k in keys]]


def rows_needing_embeddings(
    rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]], prod_rows: Sequence[dict[str, Any]],
) -> tuple[list[bool], list[bool]]:
    """Which training and eval inputs an embedding can matter for (01_data_quality).

    A near-duplicate or leak pair found by embeddings must also share its identifier set (order
    ids, numbers; see :func:`helpers.data.quality.duplicates.identifiers`). So a training input
    whose identifier set no other training or eval input has can never be part of such a pair,
    and needs no embedding. The exception is a production sample: drift coverage compares every
    production input with every training input, so then all of them are embedded.
    """
    if prod_rows:
        return [True] * len(rows), [True] * len(eval_rows)
    train_ids = [identifiers(r["input"]) for r in rows]
    eval_ids = [identifiers(e["input"]) for e in eval_rows]
    counts = Counter(train_ids)
    eval_set, train_set = set(eval_ids), set(train_ids)
    return [counts[i] > 1 or i in eval_set for i in train_ids], [i in train_set for i in eval_ids]


def embed_needed(rows: Sequence[dict[str, Any]], eval_rows: Sequence[dict[str, Any]],
                 prod_rows: Sequence[dict[str, Any]], need_train: list[bool], need_eval: list[bool],
                 cache: bool | str | Path = True) -> tuple[Any, Any, Any]:
    """Embeddings of the inputs that need one; the others get zero vectors, which match nothing (01)."""
    import numpy as np

    parts = [(rows, need_train), (eval_rows, need_eval), (prod_rows, [True] * len(prod_rows))]
    sub = _embed([r["input"] for part, need in parts for r, n in zip(part, need) if n], cache)
    out, start = [], 0
    for _, need in parts:
        mask = np.array(need, dtype=bool)
        full = np.zeros((len(need), sub.shape[1]), dtype=np.float32)
        full[mask] = sub[start : start + int(mask.sum())]
        start += int(mask.sum())
        out.append(full)
    return out[0], out[1], out[2]
