"""Getting the course onto a machine: which torch wheel to install, and ``python -m helpers lab``.

Introduced in ``README.md`` (installation; ``guide/00_setup.md`` explains the choice). ``make
install`` runs this file as a plain script, before the package is installed, so it uses the
standard library only::

    python helpers/core/install.py            # prints the pip arguments for torch (maybe none)

The rule (:func:`torch_index_choice`): on Linux without a working NVIDIA driver, PyTorch's CPU
wheel index (about 0.2 GB instead of several GB of CUDA libraries); if that index cannot be
reached (an offline room, a mirror-only network), the default index, with one printed line.
With a driver (``nvidia-smi`` works) the default index, whose Linux wheel is the CUDA build.
macOS and Windows get the default index: their PyPI wheels carry no CUDA libraries.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, Sequence

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 5.0


def torch_index_choice(system: str, has_nvidia_driver: bool, cpu_index_reachable: bool) -> tuple[str | None, str]:
    """The index pip should install torch from (None: the default index) and one line saying why (README).

    ``system`` is ``platform.system()`` ("Linux", "Darwin", "Windows").
    """
    if system != "Linux":
        return None, f"torch: default index ({system} wheels carry no CUDA libraries)"
    if has_nvidia_driver:
        return None, "torch: default index, the CUDA build (nvidia-smi works on this machine)"
    if cpu_index_reachable:
        return CPU_INDEX, f"torch: CPU-only wheel from {CPU_INDEX} (no NVIDIA driver found)"
    return None, (f"torch: {CPU_INDEX} is unreachable, falling back to the default index "
                  "(on Linux that may be the multi-GB CUDA build)")


def has_nvidia_driver(timeout_s: float = 10.0) -> bool:
    """True when ``nvidia-smi`` runs and exits 0, i.e. an NVIDIA driver is installed and sees a GPU (README)."""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=timeout_s).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def index_reachable(url: str = CPU_INDEX, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when the pip index at ``url`` answers within ``timeout_s`` seconds (README).

    A short probe, so an unreachable index costs seconds instead of pip's retries.
    """
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout_s) as response:
            return 200 <= int(getattr(response, "status", 200)) < 400
    except (OSError, urllib.error.URLError, ValueError):
        return False


def torch_pip_args(choice: str = "auto") -> tuple[list[str], str]:
    """The extra pip arguments for torch on this machine and the line to print (README).

    ``choice``: "auto" (the rule above), "cpu" (the CPU index, no probe) or "default".
    """
    asked = {"cpu": (["--index-url", CPU_INDEX], f"torch: CPU-only wheel from {CPU_INDEX} (asked for)"),
             "default": ([], "torch: default index (asked for)")}
    if choice in asked:
        return asked[choice]
    system = platform.system()
    driver = system == "Linux" and has_nvidia_driver()
    reachable = system == "Linux" and not driver and index_reachable()
    index, why = torch_index_choice(system, driver, reachable)
    return (["--index-url", index] if index else []), why


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print the pip arguments for installing torch here")
    parser.add_argument("--torch-index", choices=["auto", "cpu", "default"], default="auto")
    args = parser.parse_args(argv)
    pip_args, why = torch_pip_args(args.torch_index)
    print(why, file=sys.stderr)
    print(" ".join(pip_args))
    return 0


def cli_lab(args: Any) -> int:
    """``python -m helpers lab``: prepare the offline models, then JupyterLab on the notebooks, as ``make lab`` (README)."""
    from helpers.core.doctor import provision
    from helpers.core.paths import course_home

    for path in provision(None):
        print(f"ready: {path}", flush=True)
    command = [sys.executable, "-m", "jupyter", "lab", str(course_home() / "notebooks"), *getattr(args, "lab_args", [])]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(_main())
