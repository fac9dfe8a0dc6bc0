"""``python -m helpers quality check PATH [--eval PATH] [--production PATH] [--json]``.

Introduced in ``01_data_quality.ipynb`` (the same :func:`run_checks` the notebook calls). The
JSON is the contract of COURSE_DESIGN.md: ``{"n_rows": int, "findings": [{"check", "rows",
"message"}]}``. Exit 0 clean, 1 findings, 2 unusable input. The checked file is never modified.
"""

from __future__ import annotations

import json
from typing import Any

from helpers.core.config import load_profile
from helpers.data.quality.checks import run_checks
from helpers.data.quality.findings import format_table


def cli_quality(args: Any) -> int:
    """``python -m helpers quality check PATH ...``: 0 clean, 1 findings, 2 unusable (01_data_quality).

    The profile in force (``COURSE_PROFILE``, the saved choice, or the hardware) decides
    ``max_seq_len`` (unless ``--max-seq-len``) and the tokenizer.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stderr for the one-line errors
    report = run_checks(
        args.path, eval_path=args.eval_path, production_path=args.production,
        max_seq_len=args.max_seq_len, use_embeddings=not args.no_embeddings,
        profile=load_profile(check_hardware=False),
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(format_table(report))
    return 1 if report.findings else 0
