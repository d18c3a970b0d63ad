"""Every provider family through litellm, as a user runs it, checked against the server's truth.

OpenAI, Anthropic and Gemini are served by the third-party llmock; Azure OpenAI, Bedrock and
SageMaker (a TGI and a Messages-API container) by the protocol servers in tests/providers.
Each family runs `tokenflood run --headless --yes` with forced errors mid-phase and checks: one
row per request sent, token counts from the server's usage (or flagged as not), the forced
statuses recorded as the server sent them, and no secret in anything written or printed.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenflood_tui.run.budget import lookup_price
from tokenflood_tui.run.calibration import Calibration
from tokenflood_tui.clients import make_client
from tokenflood_tui.errors import EndpointError
from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.workspace import SAMPLES_DIR
from tokenflood_tui.specs import EndpointSpec, load_endpoint, parse_run_suite

from support.net import free_port
from support.tokenflood import launch, write
from providers import AzureServer, BedrockServer, Faults, SageMakerServer
from providers.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from providers.llmock import LlmockProcess

RATE, SECONDS, PROMPT, OUTPUT = 8, 1.5, 60, 12
SENT = int(RATE * SECONDS)
SUITE = (f"name: providers\nrequests_per_second_rates: [{RATE}]\n"
         f"test_length_in_seconds: {SECONDS}\narrival: constant\nwarmup_requests: 1\n"
         f"error_limit: 0.9\nload_types:\n- {{prompt_length: {PROMPT}, output_length: {OUTPUT}}}\n")
FORCED = [429, 500]
KEY = "sk-tokenflood-test-secret-4f9a2c"     # must never appear in any output
SAMPLES = SAMPLES_DIR


@pytest.fixture
def aws_env(monkeypatch):
    """Test AWS credentials (and nothing of the user's), offline Hugging Face for SageMaker."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEDROCK_RUNTIME_ENDPOINT",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    # litellm otherwise retries a Hugging Face tokenizer download for ~24 s for some model names
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def llmock():
    with LlmockProcess() as mock:
        yield mock


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    folder: Path

    @property
    def rows(self) -> list[dict]:
        with open(self.folder / "requests.csv", newline="") as f:
            return list(csv.DictReader(f))

    @property
    def summary(self) -> dict:
        import json
        return json.loads((self.folder / "summary.json").read_text())

    def assert_no_secret(self, *secrets: str) -> None:
        texts = {"stdout": self.stdout, "stderr": self.stderr}
        texts.update({p.name: p.read_text(errors="replace") for p in self.folder.iterdir()})
        for secret in secrets:
            for name, text in texts.items():
                assert secret not in text, f"a secret leaked into {name}"


def run(tmp_path: Path, endpoint: str, env: dict | None = None, on_first_row=None) -> Run:
    """`tokenflood run` as a user types it; `on_first_row` is called once the first measured
    request is on disk (to script failures for the rest of the phase)."""
    write(tmp_path / "run.yml", SUITE)
    write(tmp_path / "endpoint.yml", endpoint)
    running = launch("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                     env=env)
    if on_first_row is not None:
        deadline = time.monotonic() + 90
        while running.poll() is None and time.monotonic() < deadline:
            files = list(running.results.glob("*/requests.csv"))
            if files and files[0].read_text().count("\n") >= 2:   # header and one row
                on_first_row()
                break
            time.sleep(0.005)
    done = running.wait(timeout=120)
    folders = [p for p in done.results.iterdir() if p.is_dir()] if done.results.exists() else []
    assert len(folders) == 1, done.stderr
    return Run(done.code, done.stdout, done.stderr, folders[0])


def check_rows(r: Run, statuses: list[int]) -> tuple[list[dict], list[dict]]:
    """One row per request sent, the forced statuses as failed rows (a 429 rate_limited, the
    rest http_error); (ok rows, failed rows)."""
    assert r.code == 0, r.stderr
    rows = r.rows
    assert len(rows) == SENT == r.summary["phases"][0]["sent"]
    ok = [row for row in rows if row["status"] == "ok"]
    failed = [row for row in rows if row["status"] != "ok"]
    assert sorted((row["status"], int(row["http_status"])) for row in failed) == \
        sorted(("rate_limited" if s == 429 else "http_error", s) for s in statuses)
    assert len(ok) == SENT - len(statuses)
    assert r.summary["client"] == "litellm"
    return ok, failed


def check_against_truth(ok: list[dict], server, usage: bool = True) -> None:
    """Token counts per request from the server's usage; the server served what the rows say."""
    load = server.load_truth()
    assert len(load) == SENT
    assert sorted(t.status for t in load if t.status != 200) == sorted(FORCED)
    served = [t for t in load if t.status == 200]
    assert all(t.output_tokens == OUTPUT and t.usage_sent == usage for t in served)
    assert sorted(int(row["output_tokens"]) for row in ok) == [OUTPUT] * len(ok)
    if usage:
        assert sorted(int(row["prompt_tokens"]) for row in ok) == sorted(t.prompt_tokens for t in served)
        assert {row["output_tokens_estimated"] for row in ok} == {"false"}


# ---------------------------------------------------------------------------------------------
# OpenAI, Anthropic, Gemini: llmock


def _llmock_load(llmock, key: str) -> list[dict]:
    """The journal's load requests (max_tokens equal to the output length)."""
    out = []
    for req in llmock.journal():
        body = req.get("body") or {}
        limit = body.get(key) if key != "max_output_tokens" else \
            (body.get("generationConfig") or {}).get(key)
        if limit == OUTPUT:
            out.append(req)
    return out


def _llmock_prompt_tokens(req: dict) -> int:
    """llmock's own count for a request (characters / 4 of the prompt text)."""
    from llmock.simulation import estimate_tokens

    body = req["body"]
    if "contents" in body:
        return estimate_tokens(*body["contents"])
    return estimate_tokens(*(m["content"] for m in body["messages"])) + \
        (estimate_tokens(body["system"]) if body.get("system") else 0)


def _run_llmock(tmp_path, llmock, endpoint: str, env_var: str, max_key: str):
    llmock.reset()

    def fail_next() -> None:
        llmock.queue(*({"type": "fail", "status": s, "times": 1} for s in FORCED))

    r = run(tmp_path, endpoint, {env_var: KEY}, on_first_row=fail_next)
    ok, failed = check_rows(r, FORCED)
    load = _llmock_load(llmock, max_key)
    assert len(load) == SENT
    assert sorted(q["status"] for q in load if q["status"] != 200) == sorted(FORCED)
    assert sorted(int(row["prompt_tokens"]) for row in ok) == \
        sorted(_llmock_prompt_tokens(q) for q in load if q["status"] == 200)
    assert {row["output_tokens_estimated"] for row in ok} == {"false"}
    assert all(int(row["output_tokens"]) > 0 for row in ok)
    r.assert_no_secret(KEY)
    return r, failed


def test_openai_through_litellm_against_llmock(tmp_path, llmock):
    _run_llmock(tmp_path, llmock, f"provider: openai\nmodel: gpt-4o-mini\nclient: litellm\n"
                f"base_url: {llmock.openai_base_url}\napi_key_env_var: OPENAI_TEST_KEY\n",
                "OPENAI_TEST_KEY", "max_tokens")


def test_anthropic_through_litellm_against_llmock(tmp_path, llmock):
    _run_llmock(tmp_path, llmock, f"provider: anthropic\nmodel: claude-haiku-4-5\n"
                f"base_url: {llmock.anthropic_base_url}\napi_key_env_var: ANTHROPIC_TEST_KEY\n",
                "ANTHROPIC_TEST_KEY", "max_tokens")


def test_gemini_429_and_500_are_failures_with_their_status(tmp_path, llmock):
    # litellm sends Gemini's request lazily, so these surface inside the stream iteration as
    # MidStreamFallbackError: they were recorded as stream_error with no status.
    r, failed = _run_llmock(tmp_path, llmock, f"provider: gemini\nmodel: gemini-2.5-flash-lite\n"
                            f"base_url: {llmock.gemini_base_url}\napi_key_env_var: GEMINI_TEST_KEY\n",
                            "GEMINI_TEST_KEY", "max_output_tokens")
    # llmock's 429 names no quota: a rate limit of no known kind (docs/metrics.md#rate-limits)
    assert {(row["status"], row["error_type"], row["http_status"]) for row in failed} == \
        {("rate_limited", "rate_limit", "429"), ("http_error", "HTTP 500", "500")}
    assert "broke off" not in (r.folder / "errors.log").read_text()


@pytest.mark.parametrize("status, code, message", [
    (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    (401, None, None),
    (403, None, None),
])
async def test_gemini_bad_key_gets_the_credentials_hint(llmock, monkeypatch, status, code, message):
    monkeypatch.setenv("GEMINI_TEST_KEY", KEY)
    llmock.reset()
    llmock.queue({"type": "fail", "status": status, "code": code, "message": message, "times": None})
    try:
        spec = EndpointSpec(provider="gemini", model="gemini-2.5-flash-lite",
                            base_url=llmock.gemini_base_url, api_key_env_var="GEMINI_TEST_KEY")
        explained = await calibration_failure(spec)
    finally:
        llmock.reset()
    assert "refused the credentials" in explained and "check the key in $GEMINI_TEST_KEY" in explained
    assert f"HTTP {status}" in explained and "broke off" not in explained and KEY not in explained


# ---------------------------------------------------------------------------------------------
# Azure OpenAI


def test_azure_ids_cost_tokens_and_errors(tmp_path):
    with AzureServer(api_key=KEY, faults=Faults(FORCED, OUTPUT)) as server:
        r = run(tmp_path, f"provider: azure\nmodel: gpt-4o\ndeployment: {server.deployment}\n"
                          f"base_url: {server.base_url}\napi_version: '2024-10-21'\n"
                          f"api_key_env_var: AZURE_TEST_KEY\n", {"AZURE_TEST_KEY": KEY})
        ok, _ = check_rows(r, FORCED)
        check_against_truth(ok, server)
        # the first chunk (the prompt filter's) has id "": the row keeps the completion's id
        assert {row["response_id"] for row in ok} == \
            {t.response_id for t in server.load_truth() if t.status == 200}
    # priced by the model deployed, not by the deployment's own name
    assert r.summary["budget"]["estimated_cost_usd"] > 0
    assert "azure/gpt-4o: $2.5 in / $10 out per 1M tokens" in r.stderr
    r.assert_no_secret(KEY)


async def test_azure_bad_key_names_the_env_var(monkeypatch):
    monkeypatch.setenv("AZURE_TEST_KEY", "wrong-" + KEY)
    with AzureServer(api_key=KEY) as server:
        spec = EndpointSpec(provider="azure", model="gpt-4o", deployment=server.deployment,
                            base_url=server.base_url, api_version="2024-10-21",
                            api_key_env_var="AZURE_TEST_KEY")
        explained = await calibration_failure(spec)
    assert "HTTP 401" in explained and "check the key in $AZURE_TEST_KEY" in explained
    assert KEY not in explained


# ---------------------------------------------------------------------------------------------
# Bedrock and SageMaker


def test_bedrock_records_the_servers_500_not_litellms_503(tmp_path, aws_env):
    with BedrockServer(faults=Faults(FORCED, OUTPUT)) as server:
        r = run(tmp_path, f"provider: bedrock\nmodel: {server.model_id}\nbase_url: {server.base_url}\n"
                          f"litellm_params:\n  aws_region_name: us-east-1\n")
        ok, failed = check_rows(r, FORCED)
        check_against_truth(ok, server)
        assert {t.auth for t in server.truth} == {ACCESS_KEY_ID}
    assert "litellm reports it as 503" in (r.folder / "errors.log").read_text()
    r.assert_no_secret(SECRET_ACCESS_KEY)


def test_sagemaker_tgi_counts_are_flagged_as_not_the_servers(tmp_path, aws_env):
    with SageMakerServer(container="tgi", faults=Faults(FORCED, OUTPUT)) as server:
        # base_url is the runtime's root: it must reach the server (litellm ignores api_base
        # for SageMaker and would call AWS itself)
        r = run(tmp_path, f"provider: sagemaker\nmodel: {server.endpoint_name}\n"
                          f"base_url: {server.root_url}\nlitellm_params:\n  aws_region_name: us-west-2\n")
        ok, _ = check_rows(r, FORCED)
        # TGI streams no usage: litellm's own counts (its tokenizer's) must not pass as the server's
        check_against_truth(ok, server, usage=False)
        assert {row["output_tokens_estimated"] for row in ok} == {"true"}
        assert {row["prompt_tokens"] for row in ok} == {""}
    assert any("no usage.prompt_tokens" in w and "cannot be calibrated" in w
               for w in r.summary["warnings"])
    assert "calibrated prompt lengths" not in r.stderr
    r.assert_no_secret(SECRET_ACCESS_KEY)


def test_sagemaker_messages_api_takes_tokens_from_usage(tmp_path, aws_env):
    with SageMakerServer(container="messages", faults=Faults(FORCED, OUTPUT)) as server:
        # base_url given as the full streaming URL is passed on as it is
        r = run(tmp_path, f"provider: sagemaker_chat\nmodel: {server.endpoint_name}\n"
                          f"base_url: {server.stream_url}\nlitellm_params:\n  aws_region_name: us-west-2\n")
        ok, failed = check_rows(r, FORCED)
        check_against_truth(ok, server)
    assert "litellm reports it as 503" in (r.folder / "errors.log").read_text()
    assert "calibrated prompt lengths" in r.stderr
    r.assert_no_secret(SECRET_ACCESS_KEY)


async def test_aws_403_gives_the_aws_credentials_hint(aws_env):
    with BedrockServer(faults=Faults(every_request=403)) as server:
        spec = EndpointSpec(provider="bedrock", model=server.model_id, base_url=server.base_url,
                            litellm_params={"aws_region_name": "us-east-1"})
        explained = await calibration_failure(spec)
    assert explained.startswith("the endpoint refused the credentials (HTTP 403")
    assert "AWS_ACCESS_KEY_ID" in explained and "AWS_PROFILE" in explained
    assert "aws_region_name" in explained and "api_key_env_var" not in explained
    assert SECRET_ACCESS_KEY not in explained


@pytest.mark.parametrize("provider, container", [("sagemaker", "tgi"), ("sagemaker_chat", "messages")])
async def test_sagemaker_wrong_secret_gets_the_aws_hint(aws_env, monkeypatch, provider, container):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-" + SECRET_ACCESS_KEY)
    with SageMakerServer(container=container) as server:
        spec = EndpointSpec(provider=provider, model=server.endpoint_name, base_url=server.root_url,
                            litellm_params={"aws_region_name": "us-west-2"})
        explained = await calibration_failure(spec)
        assert [t.status for t in server.truth] == [403]   # refused by the signature check
    assert "HTTP 403" in explained and "AWS_SECRET_ACCESS_KEY" in explained
    assert "api_key_env_var" not in explained and SECRET_ACCESS_KEY not in explained


async def test_sagemaker_500_is_the_servers_status_at_the_client(aws_env):
    with SageMakerServer(faults=Faults(every_request=500)) as server:
        spec = EndpointSpec(provider="sagemaker", model=server.endpoint_name,
                            base_url=server.root_url, litellm_params={"aws_region_name": "us-west-2"})
        client = make_client(spec)
        await client.start()
        try:
            rec = RequestRecord(1, 1.0, 0, time.monotonic(), 10, 0, 4)
            await client.send(client.prepare([{"role": "user", "content": " hello"}], 4), rec)
        finally:
            await client.close()
    assert (rec.status, rec.http_status, rec.error_type) == ("http_error", 500, "HTTP 500")
    assert "litellm reports it as 503" in rec.error_message


@pytest.mark.parametrize("provider, model", [
    ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"), ("sagemaker", "my-llm"),
    ("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash-lite")])
async def test_unreachable_server_is_a_connection_error_for_every_family(aws_env, monkeypatch,
                                                                         provider, model):
    # litellm reports these as HTTP 503 (Bedrock, SageMaker), 500 (Anthropic) or a broken stream
    # (Gemini): no server answered, so no status may be recorded.
    monkeypatch.setenv("TEST_KEY", KEY)
    spec = EndpointSpec(provider=provider, model=model, base_url=f"http://127.0.0.1:{free_port()}",
                        api_key_env_var=None if provider in ("bedrock", "sagemaker") else "TEST_KEY",
                        litellm_params={"aws_region_name": "us-east-1"} if provider in
                        ("bedrock", "sagemaker") else {})
    explained = await calibration_failure(spec)
    assert explained.startswith(f"cannot reach the endpoint at {spec.base_url}: ")
    assert KEY not in explained


# ---------------------------------------------------------------------------------------------
# Sample configs and prices


@pytest.mark.parametrize("name", ["endpoint_openai.yml", "endpoint_azure.yml", "endpoint_anthropic.yml",
                                  "endpoint_gemini.yml", "endpoint_bedrock.yml"])
def test_hosted_sample_configs_are_priced(name):
    spec = load_endpoint(SAMPLES / name)
    price = lookup_price(spec)
    assert price is not None and price.input_per_token > 0 and price.output_per_token > 0


def test_sagemaker_base_url_becomes_sagemaker_base_url():
    root = EndpointSpec(provider="sagemaker", model="my-llm", base_url="https://vpce.example.com")
    full = EndpointSpec(provider="sagemaker_chat", model="my-llm",
                        base_url="https://h.example.com/endpoints/other/invocations-response-stream")
    assert root.litellm_endpoint == {
        "sagemaker_base_url": "https://vpce.example.com/endpoints/my-llm/invocations-response-stream"}
    assert full.litellm_endpoint == {"sagemaker_base_url": full.base_url}
    assert EndpointSpec(provider="bedrock", model="m", base_url="http://h").litellm_endpoint == \
        {"api_base": "http://h"}


# ---------------------------------------------------------------------------------------------


async def calibration_failure(spec: EndpointSpec) -> str:
    """What tokenflood tells the user when every warm-up request fails (the real calibration)."""
    suite = parse_run_suite(SUITE)
    client = make_client(spec)
    await client.start()
    try:
        with pytest.raises(EndpointError) as failure:
            await Calibration(suite, spec, client, lambda *a: None, lambda *a: None).run()
    finally:
        await client.close()
    return str(failure.value)
