"""Optional hosted-model baselines (OpenAI, Anthropic), scored exactly like the local model.

Introduced in ``02_prompting_baseline.ipynb``. A provider runs only when its key is in the
environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``); otherwise it is skipped with one line.
Keys are read from the environment at call time and only ever placed in a request header: they
are never printed, logged, returned or written to a run folder, and error messages are built
without them. Requests use the standard library (no SDK needed); ``OPENAI_BASE_URL`` /
``ANTHROPIC_BASE_URL`` point them elsewhere (a proxy, or a local fake server in the tests).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from helpers.core.config import Profile
from helpers.evaluation.scoring import answer_tokens, evaluate_stage
from helpers.prompting.generation import GenerationResult
from helpers.prompting.prompts import PromptConfig, build_conversations

PRICES_FILE = Path(__file__).resolve().parents[1] / "assets" / "api_prices.json"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Provider:
    """One hosted API (02_prompting_baseline)."""

    name: str
    key_env: str
    model_env: str
    default_model: str
    base_env: str
    default_base: str


PROVIDERS = {
    "openai": Provider("openai", "OPENAI_API_KEY", "OPENAI_MODEL", "gpt-4o-mini", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": Provider("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_MODEL", "claude-3-5-haiku-latest", "ANTHROPIC_BASE_URL", "https://api.anthropic.com/v1"),
}


class ApiError(RuntimeError):
    """A failed API call; the message never contains the key (02_prompting_baseline)."""


def prices() -> dict[str, Any]:
    """The dated price table (USD per million tokens) (02_prompting_baseline)."""
    return json.loads(PRICES_FILE.read_text(encoding="utf-8"))


def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - https or a local test URL
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ApiError(f"{url} could not be reached ({type(exc).__name__})") from None


def call(provider: Provider, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, int, int]:
    """One chat request: (text, input tokens, output tokens) (02_prompting_baseline)."""
    key = os.environ.get(provider.key_env, "")
    if not key:
        raise ApiError(f"{provider.key_env} is not set")
    model = os.environ.get(provider.model_env, provider.default_model)
    base = os.environ.get(provider.base_env, provider.default_base).rstrip("/")
    if provider.name == "openai":
        data = _post(f"{base}/chat/completions", {"authorization": f"Bearer {key}"},
                     {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0})
        usage = data.get("usage", {})
        return (data["choices"][0]["message"]["content"] or "", usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0))
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": max_tokens, "temperature": 0}
    if system:
        body["system"] = system
    data = _post(f"{base}/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}, body)
    text = "".join(part.get("text", "") for part in data.get("content", []) if part.get("type") == "text")
    usage = data.get("usage", {})
    return text, usage.get("input_tokens", 0), usage.get("output_tokens", 0)


def api_predict(provider: Provider, conversations: Sequence[list[dict[str, str]]], max_tokens: int) -> GenerationResult:
    """Answers for many conversations, one request each, with measured latency and cost (02)."""
    model = os.environ.get(provider.model_env, provider.default_model)
    price = prices().get(provider.name, {}).get(model)
    texts, new, lat, cost = [], [], [], 0.0
    start = time.perf_counter()
    for msgs in conversations:
        t0 = time.perf_counter()
        text, n_in, n_out = call(provider, list(msgs), max_tokens)
        lat.append(time.perf_counter() - t0)
        texts.append(text.strip())
        new.append(n_out)
        if price:
            cost += (n_in * price["input"] + n_out * price["output"]) / 1e6
    return GenerationResult(texts=texts, new_tokens=new, seconds=time.perf_counter() - start,
                            latencies=lat, cost_usd=cost if price else None)


def run_api_baselines(profile: Profile, run: Path, config: PromptConfig, pool: Sequence[dict[str, Any]]) -> list[str]:
    """Score every provider whose key is set; one line per provider, skipped or scored (02)."""
    lines = []
    for provider in PROVIDERS.values():
        if not os.environ.get(provider.key_env):
            lines.append(f"{provider.name} baseline skipped: set {provider.key_env} in the environment to run it")
            continue

        def predict_fn(rows: Sequence[dict[str, Any]], provider: Provider = provider) -> GenerationResult:
            return api_predict(provider, build_conversations(rows, config, pool), answer_tokens(profile, config.view))

        try:
            record = evaluate_stage(None, None, profile, Path(run) / f"api-{provider.name}", config, pool,
                                    predict_fn=predict_fn)
        except ApiError as exc:
            lines.append(f"{provider.name} baseline failed: {exc}")
            continue
        metric = record["primary_metric"]
        lines.append(f"{provider.name} baseline: golden {metric} = {record['golden'][metric]:.3f}, "
                     f"${record['speed']['cost_per_1k_requests_usd']:.3f} per 1,000 requests")
    return lines
