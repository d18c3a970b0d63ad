"""No secret a spec can carry leaves tokenflood, even when the server echoes it back (docs/config.md#secrets).

The server is the real simulator behind a gateway-like middleware that answers chosen requests
with an error body echoing every request header (raw, percent-encoded, and an Authorization
header's credentials without their scheme, base64-decoded for Basic), the URL and the body.
`tokenflood run --headless --yes` runs as a user runs it; then no secret, in none of the forms
tokenflood covers, may be in any file of the results folder, on stdout or on stderr.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web

from tokenflood_tui.clients import make_client
from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.simulator import SimulatorConfig, build_app
from tokenflood_tui.simulator.server import serve
from tokenflood_tui.specs import EndpointSpec

from support.tokenflood import run_tokenflood, write

ENV_KEY = "sk-tf-envkey/9f8e+7d6=="            # from api_key_env_var
X_API_KEY = "xk-literal-4c3b2a19"              # a literal extra_headers value
COOKIE = "session=cookie-from-env-5e6f7a8b"    # extra_headers value given as os.environ/NAME
GATEWAY_TOKEN = "gw-token-from-env-0a1b2c3d"   # inside "Bearer ${NAME}"
LITELLM_KEY = "sk-litellm-param-77aa88bb"      # a literal litellm_params.api_key
USER, PASSWORD = "tfuser", "p@ss:w/rd-12345"   # base_url userinfo, percent-encoded in the URL
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
ENV = {"TF_TEST_KEY": ENV_KEY, "TF_TEST_COOKIE": COOKIE, "TF_TEST_GW": GATEWAY_TOKEN}

SUITE = """\
name: secrets
requests_per_second_rates: [5]
test_length_in_seconds: 2
arrival: constant
warmup_requests: 1
load_types:
- {prompt_length: 40, output_length: 8}
"""


def forms(secret: str) -> set[str]:
    """The forms of a secret tokenflood promises to keep out: raw, percent-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


class EchoGateway:
    """The simulator, except that chat requests chosen by `fail` get `status` and an echo."""

    def __init__(self, status: int, fail):
        self.status, self.fail = status, fail
        self.app = build_app(SimulatorConfig(ttft_ms=1, itl_ms=1))
        self.app.middlewares.append(self._echo)
        self.seen: list[dict[str, str]] = []      # headers of every chat request
        self.base = ""

    @web.middleware
    async def _echo(self, request: web.Request, handler):
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return await handler(request)
        raw = await request.read()
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        if not self.fail(json.loads(raw)):
            return await handler(request)
        echoed = []
        for name, value in request.headers.items():
            echoed.append(f"{name}: {value} (url-encoded {quote(value, safe='')})")
            scheme, _, credentials = value.partition(" ")
            if name.lower() == "authorization" and credentials:
                echoed.append(f"credentials {credentials}")
                if scheme.lower() == "basic":
                    echoed.append(f"decoded {base64.b64decode(credentials).decode()}")
        message = f"gateway echo: {' | '.join(echoed)} | url {request.url} | body {raw.decode()}"
        return web.json_response({"error": {"message": message, "type": "echo"}},
                                 status=self.status)

    async def __aenter__(self) -> EchoGateway:
        self._runner, port = await serve(self.app)
        self.base = f"127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    def sent(self, name: str) -> set[str]:
        return {h[name.lower()] for h in self.seen if name.lower() in h}


def load_requests(body: dict) -> bool:
    """Warm-up (max_tokens 4) and calibration (1) pass, so the load itself meets the echo."""
    return body.get("max_tokens", 0) > 4


def everything(_body: dict) -> bool:
    return True


async def run_against(tmp_path: Path, endpoint_yml: str):
    write(tmp_path / "run.yml", SUITE)
    write(tmp_path / "endpoint.yml", endpoint_yml)
    return await asyncio.to_thread(run_tokenflood, "run", "run.yml", "endpoint.yml", "--headless",
                                   "--yes", "--workers", "0", cwd=tmp_path, env=ENV, timeout=180)


def assert_no_secret_left(done, secrets: list[str], folder: bool = True) -> None:
    """No form of a secret in the output or the results folder (`folder`: one was written;
    else none may be: a run refused before its first load request keeps no folder)."""
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    for path in sorted(done.results.rglob("*")):
        if path.is_file():
            texts[str(path.relative_to(done.results))] = path.read_text(errors="replace")
    written = any(name.endswith("errors.log") for name in texts)
    assert written == folder, "no results folder was written" if folder else texts.keys()
    for where, text in texts.items():
        for secret in secrets:
            for form in forms(secret):
                assert form not in text, f"{form!r} (a form of {secret!r}) is in {where}"


async def test_no_secret_of_the_built_in_client_leaves_when_the_load_meets_an_echo(tmp_path):
    async with EchoGateway(500, load_requests) as gw:
        done = await run_against(tmp_path, f"""\
provider: hosted_vllm
model: sim-model
base_url: http://{USER}:{quote(PASSWORD, safe='')}@{gw.base}/v1
api_key_env_var: TF_TEST_KEY
extra_headers:
  X-Api-Key: {X_API_KEY}
  Cookie: os.environ/TF_TEST_COOKIE
""")
    # The secrets really went to the server (so the echo carried them back) ...
    assert gw.sent("Authorization") == {f"Bearer {ENV_KEY}"}
    assert gw.sent("X-Api-Key") == {X_API_KEY} and gw.sent("Cookie") == {COOKIE}
    errors = (done.folder() / "errors.log").read_text()
    assert errors.count("gateway echo") >= 10 and "***redacted***" in errors, errors
    summary = done.summary()
    assert summary["base_url"] == f"http://{USER}:***redacted***@{gw.base}/v1"
    # ... and none came out, nor did the password in base_url (raw or percent-encoded).
    assert_no_secret_left(done, [ENV_KEY, X_API_KEY, COOKIE, "cookie-from-env-5e6f7a8b", PASSWORD])


async def test_basic_auth_from_base_url_and_a_refused_warm_up_leak_nothing(tmp_path):
    async with EchoGateway(401, everything) as gw:
        done = await run_against(tmp_path, f"""\
provider: hosted_vllm
model: sim-model
base_url: http://{USER}:{quote(PASSWORD, safe='')}@{gw.base}/v1
extra_headers:
  X-Api-Key: {X_API_KEY}
""")
    assert done.code == 1, done.stderr
    assert gw.sent("Authorization") == {f"Basic {BASIC}"}      # the URL's user:pass, as curl sends
    assert "refused the credentials" in done.stderr and "***redacted***" in done.stderr
    assert_no_secret_left(done, [PASSWORD, BASIC, f"{USER}:{PASSWORD}", X_API_KEY],
                          folder=False)


async def test_no_secret_of_the_litellm_client_leaves_when_the_load_meets_an_echo(tmp_path):
    async with EchoGateway(500, load_requests) as gw:
        done = await run_against(tmp_path, f"""\
provider: openai
client: litellm
model: sim-model
base_url: http://{gw.base}/v1
extra_headers:
  X-Gateway-Token: Bearer ${{TF_TEST_GW}}
litellm_params:
  api_key: {LITELLM_KEY}
""")
    assert gw.sent("Authorization") == {f"Bearer {LITELLM_KEY}"}
    assert gw.sent("X-Gateway-Token") == {f"Bearer {GATEWAY_TOKEN}"}
    errors = (done.folder() / "errors.log").read_text()
    assert errors.count("gateway echo") >= 10 and "***redacted***" in errors, errors
    endpoint_yml = (done.folder() / "endpoint.yml").read_text()
    assert "Bearer ${TF_TEST_GW}" in endpoint_yml      # the reference is kept, it is no secret
    assert_no_secret_left(done, [LITELLM_KEY, GATEWAY_TOKEN])


async def test_a_secret_cut_by_the_error_length_limit_leaves_no_prefix():
    # error_text keeps 500 characters of a message: a key straddling that limit must not leave
    # its first half behind.
    key = "sk-straddling-0123456789abcdef"

    async def answer(request: web.Request) -> web.Response:
        message = "x" * 490 + " " + request.headers["X-Api-Key"]
        return web.json_response({"error": {"message": message}}, status=500)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner, port = await serve(app)
    try:
        spec = EndpointSpec(provider="hosted_vllm", model="m", extra_headers={"X-Api-Key": key},
                            base_url=f"http://127.0.0.1:{port}/v1")
        client = make_client(spec)
        rec = RequestRecord(1, 1.0, 0, time.monotonic(), 10, 0, 4)
        await client.send(client.prepare([{"role": "user", "content": "hi"}], 4), rec)
        await client.close()
    finally:
        await runner.cleanup()
    assert rec.http_status == 500
    assert key[:9] not in rec.error_message, rec.error_message[-40:]


@pytest.mark.parametrize("value", ["os.environ/TF_UNSET_VAR", "Bearer ${TF_UNSET_VAR}"])
def test_an_unset_env_var_in_a_header_is_a_config_error_naming_it(tmp_path, value):
    write(tmp_path / "run.yml", SUITE)
    write(tmp_path / "endpoint.yml", "provider: hosted_vllm\nmodel: m\n"
          f"base_url: http://127.0.0.1:9/v1\nextra_headers:\n  Authorization: {value}\n")
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--headless", "--yes",
                          "--workers", "0", cwd=tmp_path)
    assert done.code == 2, done.stderr
    assert "extra_headers.Authorization" in done.stderr and "TF_UNSET_VAR" in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.results.exists() or not any(done.results.iterdir())   # checked before the run
