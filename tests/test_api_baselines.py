"""helpers.prompting.hosted against a local fake OpenAI/Anthropic server: keys go only into the right
request header, never into a file, an output line or an error message."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import support_rows
from helpers.evaluation import scoring
from helpers.prompting.hosted import PROVIDERS, ApiError, call, prices, run_api_baselines
from helpers.core.config import get_profile
from helpers.core.paths import data_dir
from helpers.data.task_spec import load_task
from helpers.prompting.prompts import PromptConfig

DETAILED_INSTRUCTIONS = {"extraction": load_task("support").prompts["extraction"]["detailed"]}  # the bundled task's wording
from helpers.core.runs import read_json, read_jsonl, stage_done

OPENAI_KEY = "sk-test-FAKE-openai-0123456789abcdefXYZ"
ANTHROPIC_KEY = "sk-ant-test-FAKE-anthropic-9876543210zyxwvu"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY)
ANSWER = {"order_id": "ORD-10000", "product": "blender", "issue_type": "damaged_item",
          "requested_action": "replacement", "sentiment": "negative"}
USAGE_IN, USAGE_OUT = 50, 20
BUNDLED = all((data_dir() / "support" / f"{s}.jsonl").exists() for s in ("train", "eval", "golden"))


class FakeApi:
    """A local server that answers like OpenAI (/chat/completions) and Anthropic (/messages)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                api.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body})
                if api.status != 200:
                    # real APIs echo (part of) a wrong key back: the client must not pass it on
                    key = self.headers.get("x-api-key") or self.headers.get("authorization", "")
                    payload = {"error": {"message": f"Incorrect API key provided: {key}"}}
                elif self.path.endswith("/chat/completions"):
                    payload = {"id": "chatcmpl-1", "object": "chat.completion",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(ANSWER)},
                                            "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": USAGE_IN, "completion_tokens": USAGE_OUT,
                                         "total_tokens": USAGE_IN + USAGE_OUT}}
                elif self.path.endswith("/messages"):
                    payload = {"id": "msg_1", "type": "message", "role": "assistant",
                               "content": [{"type": "text", "text": json.dumps(ANSWER)}],
                               "stop_reason": "end_turn",
                               "usage": {"input_tokens": USAGE_IN, "output_tokens": USAGE_OUT}}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(payload).encode()
                self.send_response(api.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_api(monkeypatch):
    api = FakeApi()
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("OPENAI_BASE_URL", api.url + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url + "/v1/")  # a trailing slash is tolerated
    for p in PROVIDERS.values():
        monkeypatch.delenv(p.key_env, raising=False)
        monkeypatch.delenv(p.model_env, raising=False)
    yield api
    api.close()


@pytest.fixture()
def rows(monkeypatch):
    """(pool, scored rows per split): the bundled data with the ci profile, else fixture rows."""
    if BUNDLED:
        from helpers.data.loading import load_split

        profile = get_profile("ci")
        return load_split("train")[:10], {s: scoring.scored_rows(profile, s) for s in scoring.stage_splits()}
    scored = {"eval": support_rows(4, start=0), "golden": support_rows(3, start=50),
              "production_sample": support_rows(2, start=80)}
    monkeypatch.setattr(scoring, "scored_rows", lambda profile, split, view="extraction", task="support": scored[split])
    return support_rows(10, start=100), scored


CONFIG = PromptConfig("extraction", DETAILED_INSTRUCTIONS["extraction"], format_spec=True, k=2, seed=0)


def _scan_for_keys(folder: Path) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        data = path.name.encode() + (path.read_bytes() if path.is_file() else b"")
        hits += [f"{path}: {key[:12]}..." for key in KEYS if key.encode() in data]
    return hits


# --------------------------------------------------------------------------- skipped
def test_without_keys_every_provider_is_skipped_and_nothing_is_written(fake_api, runs_tmp, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = run_api_baselines(get_profile("ci"), run, CONFIG, support_rows(5, start=100))
    assert len(lines) == len(PROVIDERS)
    for line, p in zip(lines, PROVIDERS.values()):
        assert line.startswith(f"{p.name} baseline skipped") and p.key_env in line and "\n" not in line
    assert list(run.iterdir()) == []
    assert fake_api.requests == []


# --------------------------------------------------------------------------- scored
def test_with_fake_keys_both_baselines_are_scored_without_leaking_the_keys(fake_api, runs_tmp, rows, monkeypatch,
                                                                           capfd):
    pool, scored = rows
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    profile = get_profile("ci")
    run = runs_tmp / "run-api"
    lines = run_api_baselines(profile, run, CONFIG, pool)

    # one scored line per provider, with the golden score and the cost
    assert [line.split(" ")[0] for line in lines] == list(PROVIDERS)
    for line in lines:
        assert "baseline: golden field_accuracy = " in line and "per 1,000 requests" in line, line

    # the server saw every row of every split, with the key in each provider's own header
    n = sum(len(r) for r in scored.values())
    openai = [r for r in fake_api.requests if r["path"] == "/v1/chat/completions"]
    anthropic = [r for r in fake_api.requests if r["path"] == "/v1/messages"]
    assert len(openai) == n and len(anthropic) == n and len(fake_api.requests) == 2 * n
    for r in openai:
        assert r["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
        assert "x-api-key" not in r["headers"]
        body = r["body"]
        assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0
        assert body["max_tokens"] == profile.max_new_tokens
        assert body["messages"][0]["role"] == "system"
        assert [m["role"] for m in body["messages"][1:]] == ["user", "assistant"] * 2 + ["user"]
    for r in anthropic:
        assert r["headers"]["x-api-key"] == ANTHROPIC_KEY and r["headers"]["anthropic-version"]
        assert "authorization" not in r["headers"]
        body = r["body"]
        assert body["model"] == "claude-3-5-haiku-latest" and body["max_tokens"] == profile.max_new_tokens
        assert body["system"].startswith(DETAILED_INSTRUCTIONS["extraction"])  # system goes apart
        assert [m["role"] for m in body["messages"]] == ["user", "assistant"] * 2 + ["user"]
    # the questions asked are exactly the scored rows, in order
    asked = [r["body"]["messages"][-1]["content"] for r in openai]
    assert asked == [row["input"] for split in scored for row in scored[split]]

    # each provider's stage folder is complete and scored like the local model
    price = prices()
    for name, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-latest")):
        stage = run / f"api-{name}"
        assert stage_done(run, f"api-{name}")
        assert sorted(p.name for p in stage.iterdir()) == sorted(
            ["metrics.json", "prompt.json"] + [f"predictions_{split}.jsonl" for split in scored])
        metrics = read_json(stage / "metrics.json")
        assert metrics["primary_metric"] == "field_accuracy"
        assert metrics["n_eval"] == len(scored["eval"]) and metrics["n_golden"] == len(scored["golden"])
        p = price[name][model]
        per_request = (USAGE_IN * p["input"] + USAGE_OUT * p["output"]) / 1e6
        assert metrics["speed"]["cost_per_1k_requests_usd"] == pytest.approx(per_request * 1000, rel=1e-3)
        preds = read_jsonl(stage / "predictions_golden.jsonl")
        assert [r["id"] for r in preds] == [r["id"] for r in scored["golden"]]
        assert all(json.loads(r["prediction"]) == ANSWER for r in preds)
        assert read_json(stage / "prompt.json") == CONFIG.to_dict()

    # the keys are nowhere: not in any file (names or bytes), not in the lines, not on the console
    assert _scan_for_keys(runs_tmp) == []
    out, err = capfd.readouterr()
    for key in KEYS:
        assert key not in out and key not in err and all(key not in line for line in lines)


def test_only_the_provider_with_a_key_runs(fake_api, runs_tmp, rows, monkeypatch):
    pool, _ = rows
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    run = runs_tmp / "run-one"
    lines = run_api_baselines(get_profile("ci"), run, PromptConfig(), pool)
    assert lines[0].startswith("openai baseline skipped") and lines[1].startswith("anthropic baseline: golden")
    assert {r["path"] for r in fake_api.requests} == {"/v1/messages"}
    assert not (run / "api-openai").exists() and stage_done(run, "api-anthropic")
    assert _scan_for_keys(runs_tmp) == []


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_http_401_is_one_line_without_the_key(fake_api, monkeypatch, name):
    provider = PROVIDERS[name]
    key = OPENAI_KEY if name == "openai" else ANTHROPIC_KEY
    monkeypatch.setenv(provider.key_env, key)
    fake_api.status = 401
    with pytest.raises(ApiError) as err:
        call(provider, [{"role": "user", "content": "hi"}], 8)
    msg = str(err.value)
    assert "401" in msg and "\n" not in msg
    assert key not in msg and key not in repr(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert len(fake_api.requests) == 1  # the key did reach the server, in the header only


def test_http_401_in_a_baseline_run_is_reported_and_nothing_is_scored(fake_api, runs_tmp, rows, monkeypatch, capfd):
    pool, _ = rows
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    fake_api.status = 401
    run = runs_tmp / "run-401"
    lines = run_api_baselines(get_profile("ci"), run, CONFIG, pool)
    assert lines[0].startswith("openai baseline failed:") and "HTTP 401" in lines[0]
    assert lines[1].startswith("anthropic baseline failed:") and "HTTP 401" in lines[1]
    assert not stage_done(run, "api-openai") and not stage_done(run, "api-anthropic")
    assert _scan_for_keys(runs_tmp) == []
    out, err = capfd.readouterr()
    assert all(key not in out + err + "".join(lines) for key in KEYS)


def test_unreachable_server_is_one_line(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    with pytest.raises(ApiError) as err:
        call(PROVIDERS["openai"], [{"role": "user", "content": "hi"}], 8)
    msg = str(err.value)
    assert "could not be reached" in msg and "\n" not in msg and OPENAI_KEY not in msg


def test_call_without_a_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ApiError, match="OPENAI_API_KEY is not set"):
        call(PROVIDERS["openai"], [{"role": "user", "content": "hi"}], 8)


def test_price_table_covers_the_default_models():
    table = prices()
    for p in PROVIDERS.values():
        entry = table[p.name][p.default_model]
        assert entry["input"] > 0 and entry["output"] > entry["input"]


def test_the_key_scan_finds_a_planted_key(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "log.bin").write_bytes(b"\x00header " + ANTHROPIC_KEY.encode() + b"\xff")
    (tmp_path / "clean.json").write_text("{}", encoding="utf-8")
    assert len(_scan_for_keys(tmp_path)) == 1
