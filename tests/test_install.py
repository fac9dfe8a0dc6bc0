"""Which torch wheel `make install` picks (helpers/core/install.py), and the probes it relies on."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.core import install
from helpers.core.install import CPU_INDEX, index_reachable, torch_index_choice, torch_pip_args

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("system, driver, reachable, index, says", [
    ("Linux", False, True, CPU_INDEX, "CPU-only wheel"),
    ("Linux", False, False, None, "unreachable, falling back to the default index"),
    ("Linux", True, True, None, "the CUDA build"),
    ("Linux", True, False, None, "the CUDA build"),
    ("Darwin", False, True, None, "default index"),
    ("Windows", True, True, None, "default index"),
])
def test_torch_index_choice(system, driver, reachable, index, says):
    got, line = torch_index_choice(system, driver, reachable)
    assert got == index and says in line and "\n" not in line


def test_auto_asks_the_driver_first_and_probes_only_without_one(monkeypatch):
    probes = []
    monkeypatch.setattr(install.platform, "system", lambda: "Linux")
    monkeypatch.setattr(install, "index_reachable", lambda *a, **k: probes.append(1) or True)
    monkeypatch.setattr(install, "has_nvidia_driver", lambda *a, **k: True)
    assert torch_pip_args("auto")[0] == [] and probes == []  # a driver: CUDA build, no probe
    monkeypatch.setattr(install, "has_nvidia_driver", lambda *a, **k: False)
    assert torch_pip_args("auto")[0] == ["--index-url", CPU_INDEX] and probes == [1]
    assert torch_pip_args("default")[0] == [] and torch_pip_args("cpu")[0] == ["--index-url", CPU_INDEX]


def test_driver_check_is_false_without_nvidia_smi(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi on PATH
    assert install.has_nvidia_driver() is False
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200'\n")
    fake.chmod(0o755)
    assert install.has_nvidia_driver() is True
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")  # a driver that does not talk
    assert install.has_nvidia_driver() is False


def test_index_probe_finds_a_live_index_and_gives_up_fast_on_a_dead_one(tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<a href='torch-2.13.0+cpu.whl'>torch</a>")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert index_reachable(url) is True
        assert index_reachable(url + "/nothing-here") is False  # 404: not an index
    finally:
        server.shutdown()
    # a port nobody listens on, and a host name that does not resolve: False within the timeout
    start = time.monotonic()
    assert index_reachable(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=2) is False
    assert index_reachable("http://no-such-host.invalid/whl/cpu", timeout_s=2) is False
    assert time.monotonic() - start < 10


def test_script_prints_pip_arguments_and_one_line_without_the_package():
    """make install runs the file with the venv's bare python, before `pip install -e .`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", str(ROOT / "helpers" / "core" / "install.py"), "--torch-index", "cpu"],
                         capture_output=True, text=True, timeout=60, env=env, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["--index-url", CPU_INDEX]
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("torch: ")


def test_makefile_install_uses_the_decision():
    text = (ROOT / "Makefile").read_text()
    assert "helpers/core/install.py --torch-index $(TORCH_INDEX)" in text
