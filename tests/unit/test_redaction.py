"""The secrets of an endpoint spec, the forms they are scrubbed in, and what saved configs keep."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import quote, quote_plus

import pytest
import yaml

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.specs.secrets import REDACTED, Scrubber, endpoint_secrets, redact_url, resolve_env_refs
from tokenflood_tui.outputs.folder import ResultsFolder
from tokenflood_tui.run.events import RequestFailed, VariantEvent
from tokenflood_tui.specs import EndpointSpec, LoadTestSuite, parse_endpoint, to_yaml

KEY = "sk-proj/Ab+Cd=9z8y7x"
HEAD = "provider: hosted_vllm\nmodel: m\nbase_url: http://h/v1\n"


def spec(**kw) -> EndpointSpec:
    return EndpointSpec(**{"provider": "hosted_vllm", "model": "m",
                           "base_url": "http://127.0.0.1:8000/v1", **kw})


def test_a_secret_is_scrubbed_in_every_form_an_echo_may_carry():
    scrub = Scrubber([KEY]).scrub
    for form in (KEY, quote(KEY, safe=""), quote(KEY), quote_plus(KEY), json.dumps(KEY)[1:-1],
                 KEY.replace("/", "\\/")):
        assert scrub(f"bad key <{form}> given") == f"bad key <{REDACTED}> given", form
    assert scrub("nothing secret here") == "nothing secret here"
    # JSON stays JSON: the escaped form is replaced whole, not half an escape sequence
    quoted = Scrubber(['pa"ss\\word-123']).scrub(json.dumps({"m": 'pa"ss\\word-123'}))
    assert json.loads(quoted) == {"m": REDACTED}


def test_short_secrets_are_only_replaced_where_they_stand_alone():
    scrub = Scrubber(["k1z", "pass"]).scrub
    assert scrub("x-api-key: k1z; password 'pass' passed") == (
        f"x-api-key: {REDACTED}; password '{REDACTED}' passed")


def test_authorization_values_give_their_credentials_and_basic_its_decoded_pair():
    basic = base64.b64encode(b"alice:s3cret-pw").decode()
    endpoint = spec(extra_headers={"Authorization": f"Basic {basic}",
                                   "Proxy-Authorization": "Bearer tok-12345678", "X-Team": "perf"})
    secrets = endpoint_secrets(endpoint, env={})
    assert {basic, "alice:s3cret-pw", "s3cret-pw", "tok-12345678",
            "Bearer tok-12345678"} <= secrets
    assert "perf" not in secrets and "alice" not in secrets


def test_every_place_a_spec_carries_a_secret_is_found():
    env = {"MY_KEY": "sk-from-env-var-1", "GW": "gw-token-2", "AWS_S": "aws-secret-3",
           "OPENAI_API_KEY": "sk-implicit-openai-4", "TOKENFLOOD_MAX_INPUT_TOKENS": "5000000000000",
           "HOME_DIR_TOKENS": "/home/someone/x"}
    endpoint = spec(
        base_url="https://bob:p%40ss%2Fword@gw.example.com/v1",
        api_key_env_var="MY_KEY",
        extra_headers={"X-Api-Key": "literal-header-5", "X-Gateway": "Bearer ${GW}",
                       "X-Team": "perf"},
        litellm_params={"aws_secret_access_key": "os.environ/AWS_S", "api_key": "literal-param-6",
                        "vertex_credentials": {"private_key": "-----BEGIN KEY-----abc"},
                        "aws_region_name": "us-east-1", "api_base": "http://u:url-pw-7@h/v1"},
        extra_body={"api_key": "in-extra-body-8"})
    secrets = endpoint_secrets(endpoint, env)
    pair = "bob:p@ss/word"
    assert {"sk-from-env-var-1", "literal-header-5", "gw-token-2", "Bearer gw-token-2",
            "aws-secret-3", "literal-param-6", "-----BEGIN KEY-----abc", "url-pw-7",
            "in-extra-body-8", "sk-implicit-openai-4",
            "p%40ss%2Fword", "p@ss/word", pair, base64.b64encode(pair.encode()).decode()} <= secrets
    # references are not secrets, nor are other values; TOKENFLOOD_* limits and paths are not keys
    assert not secrets & {"os.environ/AWS_S", "Bearer ${GW}", "perf", "us-east-1", "bob",
                          "5000000000000", "/home/someone/x"}


def test_urls_in_text_lose_their_password_and_auth_values_their_credentials():
    scrub = Scrubber().scrub   # knows no secret: the generic rules alone
    assert scrub("cannot connect to http://me:hunter2@h:8080/v1: refused") == (
        f"cannot connect to http://me:{REDACTED}@h:8080/v1: refused")
    assert scrub("echo: Authorization: Bearer sk-unknown-123456") == (
        f"echo: Authorization: Bearer {REDACTED}")
    # prose and plain URLs stay readable
    for text in ("Basic authentication failed", "Bearer token required",
                 "http://127.0.0.1:8000/v1 answered 404", "mail admin@example.com"):
        assert scrub(text) == text


def test_redact_url_keeps_the_user_and_hides_a_password_or_a_bare_token():
    assert redact_url("http://user:pass@host:80/v1?x=1") == f"http://user:{REDACTED}@host:80/v1?x=1"
    assert redact_url("https://ghp_token123@host/v1") == f"https://{REDACTED}@host/v1"
    assert redact_url("http://u:p@ss@host/v1") == f"http://u:{REDACTED}@host/v1"
    assert redact_url("http://host:8000/v1") == "http://host:8000/v1"


def test_saved_endpoint_yml_redacts_url_passwords_and_literal_params_but_keeps_references():
    endpoint = spec(base_url="http://user:pw-1234@127.0.0.1:8000/v1",
                    extra_headers={"Authorization": "Bearer ${GW}", "Cookie": "os.environ/C",
                                   "X-Api-Key": "literal-k"},
                    litellm_params={"api_key": "sk-lit", "api_base": "https://tok@h/v1",
                                    "aws_secret_access_key": "os.environ/AWS_S",
                                    "aws_region_name": "us-east-1"})
    text = to_yaml(endpoint, redact=True)
    data = yaml.safe_load(text)
    assert data["base_url"] == f"http://user:{REDACTED}@127.0.0.1:8000/v1"
    assert data["extra_headers"] == {"Authorization": "Bearer ${GW}", "Cookie": "os.environ/C",
                                     "X-Api-Key": REDACTED}
    assert data["litellm_params"] == {"api_key": REDACTED, "api_base": f"https://{REDACTED}@h/v1",
                                      "aws_secret_access_key": "os.environ/AWS_S",
                                      "aws_region_name": "us-east-1"}
    assert "pw-1234" not in text and "sk-lit" not in text and "literal-k" not in text
    assert parse_endpoint(text).extra_headers["Cookie"] == "os.environ/C"   # loads back


def test_the_results_folder_redacts_endpoint_yml_and_scrubs_errors_log(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_UNIT_KEY", "sk-unit-key-0001")
    endpoint = spec(base_url="http://user:pw-5678@127.0.0.1:8000/v1", api_key_env_var="TF_UNIT_KEY",
                    extra_headers={"X-Api-Key": "hdr-key-0002"})
    suite = LoadTestSuite(name="r", requests_per_second_rates=[1.0], test_length_in_seconds=1,
                     load_types=[{"prompt_length": 10, "output_length": 2}])
    folder = ResultsFolder(tmp_path, suite, endpoint, datetime.now())
    folder.log_error("HTTP 401: got Bearer sk-unit-key-0001, hdr-key-0002 at "
                     "http://user:pw-5678@127.0.0.1:8000/v1")
    folder.close()
    saved = (folder.path / "endpoint.yml").read_text()
    errors = (folder.path / "errors.log").read_text()
    assert f"base_url: http://user:{REDACTED}@127.0.0.1:8000/v1" in saved and "pw-5678" not in saved
    assert errors.endswith(f"HTTP 401: got Bearer {REDACTED}, {REDACTED} at "
                           f"http://user:{REDACTED}@127.0.0.1:8000/v1\n")


def test_env_references_resolve_at_run_time_and_an_unset_one_names_key_and_var():
    env = {"GW": "tok-1", "K": "key-2"}
    assert resolve_env_refs({"Authorization": "Bearer ${GW}", "X-Key": "os.environ/K",
                             "X-Team": "perf"}, "extra_headers", env) == {
        "Authorization": "Bearer tok-1", "X-Key": "key-2", "X-Team": "perf"}
    assert resolve_env_refs({"vertex": {"k": ["os.environ/K"]}}, "litellm_params", env) == {
        "vertex": {"k": ["key-2"]}}
    with pytest.raises(ConfigError, match=r"^litellm_params\.api_key refers to the env var NOPE, "
                                          r"which is not set: export NOPE=\.\.\. and run again$"):
        resolve_env_refs({"api_key": "os.environ/NOPE"}, "litellm_params", env)


@pytest.mark.parametrize("value, problem", [
    ("os.environ/bad-name", "os.environ/ must be followed by an env var NAME and nothing else, "
                            "e.g. os.environ/OPENAI_API_KEY"),
    ("sk-literal ${GW", "write an env var reference as ${NAME}, e.g. Bearer ${GATEWAY_TOKEN}"),
    ("Bearer ${1ABC}", "write an env var reference as ${NAME}, e.g. Bearer ${GATEWAY_TOKEN}"),
])
def test_a_malformed_reference_is_an_error_at_load_naming_file_line_and_key(value, problem):
    text = f"{HEAD}extra_headers:\n  X-Key: '{value}'\n"
    with pytest.raises(ConfigError) as err:
        parse_endpoint(text, "ep.yml")
    assert str(err.value) == f"ep.yml:5: extra_headers.X-Key: {problem}"


def test_a_wrongly_typed_secret_is_not_echoed_in_the_load_error():
    text = f"{HEAD}extra_headers:\n  X-Api-Key: 12345678\n"
    with pytest.raises(ConfigError) as err:
        parse_endpoint(text, "ep.yml")
    assert "extra_headers.X-Api-Key" in str(err.value) and "12345678" not in str(err.value)


def test_a_load_error_quoting_a_base_url_hides_its_password():
    with pytest.raises(ConfigError) as err:
        parse_endpoint("provider: hosted_vllm\nmodel: m\nbase_url: ftp://me:pw-load-1@h/v1\n", "ep.yml")
    assert "base_url" in str(err.value) and "pw-load-1" not in str(err.value)
    assert f"ftp://me:{REDACTED}@h/v1" in str(err.value)


def test_the_tui_run_log_and_error_are_scrubbed(tmp_path, monkeypatch):
    from tokenflood_tui.tui.run_controller import RunController

    monkeypatch.setenv("TF_UNIT_KEY", "sk-tui-key-0003")
    endpoint = spec(base_url="http://user:pw-9012@127.0.0.1:9/v1", api_key_env_var="TF_UNIT_KEY")
    suite = LoadTestSuite(name="r", requests_per_second_rates=[1.0], test_length_in_seconds=1,
                     load_types=[{"prompt_length": 10, "output_length": 2}])
    controller = RunController(None, suite, endpoint, tmp_path)
    controller.event(VariantEvent("a", RequestFailed(
        "phase", 1, "http_error", 401,
        "HTTP 401: key sk-tui-key-0003 refused; password pw-9012 refused")))
    assert controller.events == [VariantEvent("a", RequestFailed(
        "phase", 1, "http_error", 401,
        f"HTTP 401: key {REDACTED} refused; password {REDACTED} refused"))]
