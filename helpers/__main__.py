"""Command line: ``python -m helpers <command>``, the same functions the notebooks call.

Each sub-command imports its compute module only when it runs, so ``--help`` is instant.
Exit codes: 0 ok / clean, 1 findings or a failed gate, 2 unusable input or settings (one line
on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

from helpers.core.errors import USER_ERRORS
from helpers.data.tasks import TASK_VIEWS

# command name -> ("module:function", help). Each function takes the parsed args, returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("helpers.core.doctor:cli_doctor", "check this machine: Python, torch, CUDA, 4-bit, disk, models"),
    "provision": ("helpers.core.doctor:cli_provision", "prepare the offline models (convert SmolLM2 once)"),
    "quality": ("helpers.data.quality.cli:cli_quality", "data-quality checks on a JSONL or CSV file"),
    "task": ("helpers.data.task_folder:cli_task", "build a task folder (train/eval/golden + task.json) from one file"),
    "evaluate": ("helpers.evaluation.evaluate_cli:cli_evaluate", "score predictions against references"),
    "gate": ("helpers.evaluation.gate:cli_gate", "golden-set regression gate for a run"),
    "train": ("helpers.training.job:cli_train", "train the course adapter (resumable) without a notebook"),
    "course": ("helpers.course:cli_course", "execute every notebook in order and write summary.json"),
    "export": ("helpers.export.check:cli_export", "ship a run's adapter: merged weights, GGUF, local server, checked"),
    "lab": ("helpers.core.install:cli_lab", "prepare the offline models, then JupyterLab on the notebooks (make lab)"),
}


def _add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "doctor":
        p.add_argument("--json", action="store_true", help="print JSON")
    elif name == "provision":
        p.add_argument("--model", default=None, help="model key (default: the offline models)")
    elif name == "quality":
        qs = p.add_subparsers(dest="action", required=True)
        c = qs.add_parser("check", help="run every check; never modifies the file")
        c.add_argument("path")
        c.add_argument("--eval", dest="eval_path", default=None, help="eval/test file, for leakage")
        c.add_argument("--production", default=None, help="production sample, for drift")
        c.add_argument("--max-seq-len", type=int, default=None, help="token limit for too_long")
        c.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM checks")
        c.add_argument("--json", action="store_true", help="print the contract's JSON")
    elif name == "task":
        ts = p.add_subparsers(dest="action", required=True)
        t = ts.add_parser("init", help="split one CSV/JSONL file into a task folder; never modifies the file")
        t.add_argument("out_dir", help="the new task folder (must not hold files)")
        t.add_argument("--from", dest="source", required=True, help="the CSV or JSONL file")
        t.add_argument("--view", required=True, choices=TASK_VIEWS)
        t.add_argument("--input-column", default="input", help="column (CSV) or key (JSONL) holding the text")
        t.add_argument("--output-column", default="output", help="column or key holding the answer")
        t.add_argument("--golden", type=int, default=None, help="golden rows (default: 10%%, at most 200)")
        t.add_argument("--eval", type=int, default=None, help="eval rows (default: 10%%, at most 200)")
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--json", action="store_true", help="print task.json")
    elif name == "evaluate":
        p.add_argument("--task", required=True, choices=TASK_VIEWS)
        p.add_argument("--predictions", required=True)
        p.add_argument("--references", required=True)
        p.add_argument("--no-semantic", action="store_true", help="summarisation: skip the MiniLM similarity")
        p.add_argument("--json", action="store_true")
    elif name == "gate":
        p.add_argument("--run", required=True, help="run folder, e.g. runs/2026-11-29_1200_cpu")
        p.add_argument("--tolerance", type=float, default=None, help="allowed drop on 0-1 scale")
        p.add_argument("--json", action="store_true")
    elif name == "train":
        p.add_argument("--run", required=True, help="run folder; the adapter goes to RUN/adapter")
        p.add_argument("--profile", default=None)
        p.add_argument("--name", default=None, help="this training run's folder under RUN/adapter/runs (default: a timestamp)")
        p.add_argument("--resume", action="store_true", help="continue run --name (default: the run with the newest checkpoint)")
        p.add_argument("--max-steps", type=int, default=None)
        p.add_argument("--save-steps", type=int, default=None)
    elif name == "course":
        p.add_argument("--profile", default=None)
        p.add_argument("--out", default=None, help="folder for executed notebooks")
        p.add_argument("--only", nargs="*", default=None, help="notebook file names to run")
        p.add_argument("--task", default=None, help="task folder (a name under data/ or a path; default: COURSE_TASK, "
                                                    "the saved choice, else the bundled task)")
    elif name == "export":
        p.add_argument("--run", required=True, help="run folder; writes RUN/export/ and RUN/export/export_check.json")
        p.add_argument("--gguf", default="f16,q8_0", help="GGUF types, comma-separated (f16,bf16,f32,q8_0); '' for none")
        p.add_argument("--serve", action="store_true", help="also serve the merged model on 127.0.0.1 and score golden")
        p.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
        p.add_argument("--ignore-gate", action="store_true", help="ship an adapter that failed the golden gate (warns)")
        p.add_argument("--json", action="store_true", help="print export_check.json only")
    elif name == "lab":
        p.add_argument("lab_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-parser per command (00_setup)."""
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        _add_arguments(name, sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _resolve(target: str) -> Callable[[argparse.Namespace], int]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run one command; expected errors become one line and exit 2 (00_setup)."""
    args = build_parser().parse_args(argv)
    try:
        return int(_resolve(COMMANDS[args.command][0])(args) or 0)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
