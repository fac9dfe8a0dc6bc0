"""python -m helpers: every command is listed and has --help; unusable settings give exit code 2
with one line on stderr and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.__main__ import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ["doctor", "provision", "quality", "task", "evaluate", "gate", "train", "course", "export", "lab"]


def _run(*args: str, timeout: int = 120, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "helpers", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command():
    out = _run("--help")
    assert out.returncode == 0 and out.stderr == ""
    for name in EXPECTED:
        assert f"    {name}" in out.stdout, name
    assert list(COMMANDS) == EXPECTED


@pytest.mark.parametrize("args", [[c] for c in EXPECTED] + [["quality", "check"]], ids=" ".join)
def test_each_subcommand_has_help(args):
    out = _run(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m helpers " + " ".join(args))
    assert "Traceback" not in out.stderr


def test_help_does_not_import_the_compute_stack():
    code = ("import sys\nfrom helpers.__main__ import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_resolves_to_a_function():
    import importlib

    for name, (target, help_text) in COMMANDS.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
        assert help_text


def _one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_unknown_profile_in_environment_exits_2_with_one_line(tmp_path):
    out = _run("train", "--run", str(tmp_path / "X"), COURSE_PROFILE="nope", COURSE_RUNS=str(tmp_path / "runs"))
    line = _one_error_line(out)
    assert line.startswith("error:") and "'nope'" in line and "ci, cpu, gpu-24gb, gpu-40gb, gpu-80gb" in line
    assert out.stdout == ""
    assert not (tmp_path / "X").exists()  # nothing was started


def test_unknown_profile_argument_exits_2_with_one_line(tmp_path):
    out = _run("train", "--run", str(tmp_path / "X"), "--profile", "nope", COURSE_PROFILE="ci")
    assert "'nope'" in _one_error_line(out)
    out = _run("course", "--profile", "nope", COURSE_RUNS=str(tmp_path / "runs"))
    assert "'nope'" in _one_error_line(out)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_gpu_profile_without_cuda_exits_2_with_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = _run("train", "--run", str(tmp_path / "X"), COURSE_PROFILE="gpu-24gb")
    line = _one_error_line(out)
    assert "CUDA" in line and "COURSE_PROFILE=cpu" in line


def test_bad_usage_is_argparse_exit_2():
    assert _run("train").returncode == 2  # --run is required
    assert _run("nope").returncode == 2
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(["evaluate", "--task", "translation", "--predictions", "p", "--references", "r"])
    assert err.value.code == 2


def test_main_turns_user_errors_into_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COURSE_PROFILE", "nope")
    assert main(["train", "--run", str(tmp_path / "X")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unknown profile 'nope'")
