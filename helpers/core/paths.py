"""Where things live: the repository, the run folders and the model cache.

Introduced in ``00_setup.ipynb``. Every path can be moved with an environment variable so a
workshop machine can keep models on a shared disk:

* ``COURSE_HOME``  - the course folder (default: the folder holding ``helpers/``)
* ``COURSE_CACHE`` - converted models and other caches (default: ``COURSE_HOME/.cache``)
* ``COURSE_RUNS``  - run outputs (default: ``COURSE_HOME/runs``)
"""

from __future__ import annotations

import os
from pathlib import Path


def course_home() -> Path:
    """The course folder: ``COURSE_HOME`` or the parent of the ``helpers`` package (00_setup)."""
    env = os.environ.get("COURSE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2]


def _folder(env_var: str, default_name: str) -> Path:
    """``$env_var`` or ``COURSE_HOME/default_name``, created on demand."""
    env = os.environ.get(env_var)
    path = Path(env).expanduser() if env else course_home() / default_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Folder for converted models and caches; created on demand (00_setup)."""
    return _folder("COURSE_CACHE", ".cache")


def runs_dir() -> Path:
    """Folder that holds one sub-folder per run; created on demand (00_setup)."""
    return _folder("COURSE_RUNS", "runs")


def data_dir() -> Path:
    """The bundled data folder ``COURSE_HOME/data`` (01_data_quality)."""
    return course_home() / "data"
