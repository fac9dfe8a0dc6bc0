"""Serve the merged model on 127.0.0.1 with ``transformers serve`` and query it like OpenAI (06_ship_it).

``transformers serve`` (transformers' own OpenAI-compatible server; its extra is
``transformers[serving]``: fastapi, uvicorn, openai) runs in a child process, bound to the
loopback address only. :class:`LocalServer` is a context manager: the server is stopped when
the ``with`` block ends, on an error, and at interpreter exit, so it is never left running.
The client is the official ``openai`` package, in chat-completions format, exactly what an
application would use; :func:`server_predict` turns its answers into the
:class:`~helpers.prompting.generation.GenerationResult` that ``evaluate_stage`` scores.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from helpers.core.errors import SettingsError

HOST = "127.0.0.1"  # never another interface: the course's servers are for this machine only


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (06_ship_it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def check_port(port: int) -> int:
    """``port``, or :class:`SettingsError` naming the fix when something already listens on it (06_ship_it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as uvicorn does: a port whose old connections linger in TIME_WAIT is free; a listener is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            raise SettingsError(
                f"port {port} on {HOST} is in use (another server is running): stop it, or pass port=0 "
                f"(--port 0) to pick a free port"
            ) from None
    return port


class LocalServer:
    """``transformers serve MODEL_DIR`` on 127.0.0.1, started on enter and always stopped on exit (06_ship_it)."""

    def __init__(self, model_dir: str | Path, port: int = 0, device: str = "cpu", dtype: str = "auto",
                 startup_timeout_s: float = 240.0) -> None:
        self.model_dir = Path(model_dir).resolve()
        if not (self.model_dir / "config.json").exists():
            raise SettingsError(f"{self.model_dir} holds no model: merge the adapter first (helpers.export.merge)")
        self.port = check_port(port) if port else free_port()
        self.device, self.dtype, self.startup_timeout_s = device, dtype, startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        fd, log = tempfile.mkstemp(prefix="transformers-serve-", suffix=".log")
        os.close(fd)
        self._log = Path(log)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8123/v1`` (06_ship_it)."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def model_id(self) -> str:
        """The model name to send in requests (the served folder) (06_ship_it)."""
        return str(self.model_dir)

    def command(self) -> list[str]:
        """The server's command line, for reading or copying into a shell (06_ship_it)."""
        return [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model_id,
                "--host", HOST, "--port", str(self.port), "--device", self.device, "--dtype", self.dtype]

    def log_tail(self, n: int = 15) -> str:
        """The last lines the server printed (06_ship_it)."""
        try:
            return "\n".join(self._log.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def start(self) -> "LocalServer":
        """Start the server and wait until it answers ``GET /v1/models`` (06_ship_it)."""
        import httpx

        from transformers.utils.import_utils import is_serve_available

        if not is_serve_available():
            raise SettingsError("transformers serve needs its extra: pip install -e . (it pins fastapi, uvicorn and openai)")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
        t0 = time.perf_counter()
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        atexit.register(self.stop)
        while time.perf_counter() - t0 < self.startup_timeout_s:
            if self.process.poll() is not None:
                tail, code = self.log_tail(), self.process.returncode
                self.stop()
                raise SettingsError(f"transformers serve exited at start (code {code}); "
                                    f"fix what its log says: {tail.splitlines()[-1] if tail else 'no output'}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    self.startup_s = round(time.perf_counter() - t0, 2)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SettingsError(f"transformers serve did not answer within {self.startup_timeout_s:.0f} s: "
                            f"raise startup_timeout_s on a slow machine")

    def stop(self) -> None:
        """Stop the server and its children; safe to call twice (06_ship_it)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            self._log.unlink(missing_ok=True)
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        self._log.unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        """Whether the server process is alive (06_ship_it)."""
        return self.process is not None and self.process.poll() is None

    def client(self) -> Any:
        """An ``openai.OpenAI`` client for this server (no key is needed locally) (06_ship_it)."""
        from openai import OpenAI

        return OpenAI(base_url=self.base_url, api_key="not-needed-locally", max_retries=0, timeout=300)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def server_predict(server: LocalServer, conversations: Sequence[list[dict[str, str]]], max_new_tokens: int) -> Any:
    """Greedy answers from the server, one request at a time, timed per request (06_ship_it).

    Returns a :class:`~helpers.prompting.generation.GenerationResult` (texts, completion tokens
    from the response's ``usage``, per-request latency), the same shape local generation returns.
    """
    from helpers.prompting.generation import GenerationResult

    client = server.client()
    texts, tokens, latencies = [], [], []
    start = time.perf_counter()
    for messages in conversations:
        t0 = time.perf_counter()
        reply = client.chat.completions.create(model=server.model_id, messages=list(messages),
                                               max_tokens=max_new_tokens, temperature=0)
        latencies.append(time.perf_counter() - t0)
        texts.append((reply.choices[0].message.content or "").strip())
        tokens.append(int(reply.usage.completion_tokens) if reply.usage else 0)
    return GenerationResult(texts=texts, new_tokens=tokens, seconds=time.perf_counter() - start, latencies=latencies)
