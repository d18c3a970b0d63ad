"""Config files: strict validation with errors that name file, key path and line."""

import pytest

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.quickstart import ENDPOINT_YML, RUN_YML
from tokenflood_tui.specs import (EndpointSpec, detect_kind, load_endpoint, load_run_suite,
                                  parse_endpoint, parse_run_suite, to_yaml)
from tokenflood_tui.specs.secrets import endpoint_secrets, redact_data

GOOD_RUN = """\
name: ripple
requests_per_second_rates: [1.0, 2.0]
test_length_in_seconds: 10
load_types:
- {prompt_length: 512, prefix_length: 128, output_length: 64, weight: 1.0}
- {prompt_length: 640, prefix_length: 568, output_length: 12, weight: 1.0}
"""


def error_of(text: str, parse=parse_run_suite) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, "run.yml")
    return str(info.value)


def test_quick_start_files_load_with_the_documented_defaults():
    suite = parse_run_suite(RUN_YML)
    endpoint = parse_endpoint(ENDPOINT_YML)
    assert suite.percentiles == [50, 90, 99]
    assert ((suite.arrival, suite.seed, suite.max_concurrency, suite.warmup_requests)
            == ("poisson", 0, None, 2))
    assert (suite.request_timeout_seconds, suite.error_limit, suite.slo) == (120, 0.3, None)
    assert endpoint.provider == "hosted_vllm" and endpoint.base_url == "http://127.0.0.1:8000/v1"
    assert endpoint.resolved_client == "openai" and endpoint.self_hosted


def test_misspelled_key_names_line_path_and_the_right_spelling():
    text = GOOD_RUN.replace("prefix_length: 568", "prefix_lenght: 568")
    msg = error_of(text)
    assert "run.yml:6:" in msg
    assert "load_types[1].prefix_lenght" in msg
    assert "did you mean 'prefix_length'" in msg


def test_top_level_misspelling_is_suggested():
    msg = error_of(GOOD_RUN.replace("test_length_in_seconds", "test_lenght_in_seconds"))
    assert "run.yml:3:" in msg and "did you mean 'test_length_in_seconds'" in msg
    assert "missing required key 'test_length_in_seconds'" in msg


@pytest.mark.parametrize("rates, fragment", [("[1.0, 0]", "rate 2 is 0.0"), ("[-1]", "rate 1 is -1.0")])
def test_rates_must_be_positive(rates, fragment):
    msg = error_of(GOOD_RUN.replace("[1.0, 2.0]", rates))
    assert "run.yml:2:" in msg and fragment in msg


def test_prefix_must_be_shorter_than_prompt():
    msg = error_of(GOOD_RUN.replace("prefix_length: 568", "prefix_length: 640"))
    assert "run.yml:6:" in msg and "prefix_length (640) must be smaller than prompt_length (640)" in msg


def test_wrong_type_is_reported_with_the_value():
    msg = error_of(GOOD_RUN.replace("output_length: 12", "output_length: twelve"))
    assert "load_types[1].output_length" in msg and "'twelve'" in msg


def test_boolean_is_not_accepted_as_a_number():
    assert "output_length" in error_of(GOOD_RUN.replace("output_length: 12", "output_length: true"))


def test_phase_that_would_send_nothing_is_an_error():
    msg = error_of(GOOD_RUN.replace("[1.0, 2.0]", "[1.0, 0.05]"))
    assert "phase 2" in msg and "would send no request" in msg


@pytest.mark.parametrize("bad, fragment", [
    ("percentiles: [50, 100]", "percentile 100.0 is outside (0, 100)"),
    ("arrival: burst", "arrival"),
    ("error_limit: 0", "error_limit"),
    ("max_concurrency: 0", "max_concurrency"),
    ("slo: {ttft_ms: 200, tpot: 20}", "did you mean 'tpot_ms'"),
])
def test_optional_keys_are_validated(bad, fragment):
    assert fragment in error_of(GOOD_RUN + bad + "\n")


def test_yaml_syntax_error_gives_the_line():
    msg = error_of("name: x\nrequests_per_second_rates: [1\ntest_length_in_seconds: 3\n")
    assert msg.startswith("run.yml:3: YAML syntax error")


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_run_suite(tmp_path / "nope.yml")
    (tmp_path / "empty.yml").write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_endpoint(tmp_path / "empty.yml")


def test_unknown_provider_suggests_the_nearest():
    msg = error_of("provider: hosted_vlm\nmodel: m\nbase_url: http://127.0.0.1:1/v1\n", parse_endpoint)
    assert "run.yml:1:" in msg and "unknown provider 'hosted_vlm'" in msg and "'hosted_vllm'" in msg


def test_api_key_itself_is_rejected_and_not_echoed():
    msg = error_of("provider: openai\nmodel: gpt-4o-mini\napi_key_env_var: sk-proj-abc123\n", parse_endpoint)
    assert "NAME of an environment variable" in msg and "sk-proj-abc123" not in msg


def test_self_hosted_provider_needs_base_url():
    assert "set base_url" in error_of("provider: hosted_vllm\nmodel: m\n", parse_endpoint)


def test_api_base_is_an_alias_of_base_url():
    spec = parse_endpoint("provider: hosted_vllm\nmodel: m\napi_base: http://127.0.0.1:9/v1/\n")
    assert spec.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("provider, base_url, client, expected", [
    ("hosted_vllm", "http://127.0.0.1:8000/v1", "auto", "openai"),
    ("openai", None, "auto", "openai"),
    ("groq", "https://api.groq.com/openai/v1", "auto", "openai"),
    ("groq", None, "auto", "litellm"),
    ("anthropic", None, "auto", "litellm"),
    ("hosted_vllm", "http://127.0.0.1:8000/v1", "litellm", "litellm"),
])
def test_auto_client_follows_the_protocol(provider, base_url, client, expected):
    spec = EndpointSpec(provider=provider, model="m", base_url=base_url, client=client)
    assert spec.resolved_client == expected


def test_yaml_round_trip_is_equal(tmp_path):
    suite = parse_run_suite(GOOD_RUN + "slo: {ttft_ms: 500}\nmax_concurrency: 8\n")
    path = tmp_path / "run.yml"
    path.write_text(to_yaml(suite))
    assert load_run_suite(path) == suite
    endpoint = parse_endpoint("provider: azure\nmodel: gpt-4o\ndeployment: prod\napi_version: '2024-10-21'\n"
                              "extra_headers: {X-Team: perf}\nextra_body: {temperature: 0}\n")
    path = tmp_path / "endpoint.yml"
    path.write_text(to_yaml(endpoint))
    assert load_endpoint(path) == endpoint
    assert endpoint.litellm_model == "azure/prod"


def test_saved_configs_redact_secret_headers_but_keep_the_rest():
    spec = EndpointSpec(provider="openai", model="gpt-4o-mini", api_key_env_var="OPENAI_API_KEY",
                        extra_headers={"Authorization": "Bearer sk-secret", "X-Api-Key": "k1",
                                       "X-Team": "perf"},
                        litellm_params={"aws_secret_access_key": "abc", "aws_region_name": "us-east-1"})
    text = to_yaml(spec, redact=True)
    assert "sk-secret" not in text and "k1" not in text and "abc" not in text
    assert "perf" in text and "us-east-1" in text and "OPENAI_API_KEY" in text
    assert redact_data({"cookie": "c", "nested": [{"token": "t"}]}) == {
        "cookie": "***redacted***", "nested": [{"token": "***redacted***"}]}


def test_kind_is_detected_from_content(tmp_path):
    (tmp_path / "a.yml").write_text(ENDPOINT_YML)
    (tmp_path / "b.yml").write_text(RUN_YML)
    (tmp_path / "c.yml").write_text("foo: 1\n")
    assert detect_kind(tmp_path / "a.yml") == "endpoint"
    assert detect_kind(tmp_path / "b.yml") == "run"
    with pytest.raises(ConfigError, match="neither"):
        detect_kind(tmp_path / "c.yml")


def test_provider_list_matches_installed_litellm(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from tokenflood_tui.specs.providers import LITELLM_PROVIDERS, OPENAI_COMPATIBLE

    installed = {getattr(p, "value", p) for p in litellm.provider_list}
    assert LITELLM_PROVIDERS == installed
    assert set(litellm.openai_compatible_providers) <= OPENAI_COMPATIBLE


# ---------------------------------------------------------------------------------------------
# Bad input that used to crash or hang (issue 8 §6)

ENDPOINT = "provider: hosted_vllm\nmodel: m\nbase_url: http://127.0.0.1:8000/v1\n"


@pytest.mark.parametrize("seed", ["-1", "4294967296", "-99999999999999999999"])
def test_seed_outside_numpys_range_is_a_config_error(seed):
    msg = error_of(GOOD_RUN + f"seed: {seed}\n")
    assert msg.startswith("run.yml:7: seed:") and "between 0 and 4294967295" in msg


def test_seed_at_the_ends_of_the_range_is_accepted():
    assert parse_run_suite(GOOD_RUN + "seed: 0\n").seed == 0
    assert parse_run_suite(GOOD_RUN + "seed: 4294967295\n").seed == 2**32 - 1


def billion_laughs(levels: int = 9) -> str:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return ENDPOINT + "extra_body:\n" + "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once_naming_the_line():
    import time
    started = time.monotonic()
    msg = error_of(billion_laughs(), parse_endpoint)
    assert time.monotonic() - started < 2          # it used to build 387 million values
    assert msg.startswith("run.yml:6:") and "alias *a0" in msg and "write the value out" in msg


def test_a_single_alias_is_refused_too():
    # Aliases are refused altogether: spec files have no need for them, and refusing them all is
    # the only rule that cannot be gamed by nesting.
    text = GOOD_RUN.replace("- {prompt_length: 640", "- &lt {prompt_length: 640") + "x: *lt\n"
    msg = error_of(text)
    assert msg.startswith("run.yml:7:") and "alias *lt" in msg


def test_deep_nesting_is_refused_naming_the_line():
    text = ENDPOINT + "extra_body:\n  a: " + "[" * 5000 + "]" * 5000 + "\n"
    msg = error_of(text, parse_endpoint)
    assert msg.startswith("run.yml:5:") and "nested more than 64 levels deep" in msg


def test_nesting_up_to_the_limit_is_accepted():
    body = "[" * 62 + "1" + "]" * 62       # the top mapping, extra_body and 62 lists: 64 levels
    spec = parse_endpoint(ENDPOINT + f"extra_body:\n  a: {body}\n")
    assert spec.extra_body["a"] is not None


def test_duplicate_keys_are_refused_naming_the_key_and_both_lines():
    msg = error_of(GOOD_RUN + "name: again\n")
    assert msg == ("run.yml:7: key 'name' appears twice (lines 1 and 7): keep one; "
                   "YAML would silently use the last")


def test_duplicate_keys_inside_a_nested_mapping_are_refused():
    text = GOOD_RUN.replace("output_length: 64,", "output_length: 64, output_length: 65,")
    msg = error_of(text)
    assert msg.startswith("run.yml:5:") and "key 'load_types[0].output_length' appears twice" in msg


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:99999/v1", "port 99999 is not between 1 and 65535"),
    ("http://127.0.0.1:0/v1", "port 0 is not between 1 and 65535"),
    ("http://127.0.0.1:80a/v1", "port '80a' is not a number"),
    ("http://h/v1?api-version=1", "must not contain a query (?api-version=1)"),
    ("http://h/v1#frag", "must not contain a fragment (#frag)"),
    ('"http://h/v1\\r\\nX-Evil: 1"', "must not contain spaces or control characters"),
    ('"http://h/v 1"', "must not contain spaces or control characters"),
    ('" http://h/v1"', "must not contain spaces or control characters"),
    ("http://:8000/v1", "has no host name"),
    ("ftp://h/v1", "must be an http:// or https:// URL"),
])
def test_bad_base_url_is_refused_at_load(url, fragment):
    msg = error_of(f"provider: hosted_vllm\nmodel: m\nbase_url: {url}\n", parse_endpoint)
    assert msg.startswith("run.yml:3: base_url:") and fragment in msg


def test_query_string_error_says_where_the_parameter_goes():
    msg = error_of("provider: azure\nmodel: m\nbase_url: https://h/openai?api-version=1\n", parse_endpoint)
    assert "api_version" in msg and "extra_headers" in msg


@pytest.mark.parametrize("header, value", [("X-Team", '"perf\\r\\nX-Evil: 1"'),
                                           ("X-Team", '"café"'),
                                           ("X Team", "perf"),
                                           ("X-Team:", "perf")])
@pytest.mark.parametrize("key", ["extra_headers", "metrics_headers"])
def test_header_that_cannot_be_sent_is_refused_at_load_without_its_value(header, value, key):
    msg = error_of(ENDPOINT + f"{key}:\n  {header}: {value}\n", parse_endpoint)
    assert msg.startswith(f"run.yml:5: {key}") and repr(header) in msg
    assert "single-line ASCII" in msg and "perf" not in msg and "caf" not in msg


def test_a_metrics_header_is_a_secret_of_the_endpoint_whether_literal_or_referenced():
    endpoint = parse_endpoint(ENDPOINT + "metrics_headers:\n  Authorization: Bearer literal-key-123\n"
                              "  X-Scrape-Key: ${SCRAPE_KEY}\n")
    secrets = endpoint_secrets(endpoint, env={"SCRAPE_KEY": "scrape-secret-456"})
    assert {"Bearer literal-key-123", "literal-key-123", "scrape-secret-456"} <= secrets
    msg = error_of(ENDPOINT + "metrics_headers:\n  Authorization: Bearer ${BROKEN\n",
                   parse_endpoint)
    assert msg.startswith("run.yml:5: metrics_headers") and "${NAME}" in msg


def test_request_count_over_the_cap_is_a_config_error_naming_the_keys():
    msg = error_of(GOOD_RUN.replace("[1.0, 2.0]", "[1.0, 1000000000.0]"))
    assert msg.startswith("run.yml:2: requests_per_second_rates:")
    assert "about 10,000,000,010 requests" in msg and "at most 10,000,000 per run" in msg
    assert "test_length_in_seconds" in msg
    msg = error_of(GOOD_RUN.replace("test_length_in_seconds: 10", "test_length_in_seconds: 1.0e10"))
    assert "about 30,000,000,000 requests" in msg


def test_request_count_at_the_cap_is_accepted():
    suite = parse_run_suite(GOOD_RUN.replace("[1.0, 2.0]", "[10000.0]").replace(
        "test_length_in_seconds: 10", "test_length_in_seconds: 1000"))
    assert suite.requests_per_second_rates == [10000.0]


def test_numbers_with_an_exponent_are_numbers_as_in_yaml_1_2():
    # PyYAML follows YAML 1.1, where 1e3 is the string '1e3': "Input should be a valid number".
    suite = parse_run_suite(GOOD_RUN.replace("[1.0, 2.0]", "[1e3, 2.5E-1]").replace(
        "test_length_in_seconds: 10", "test_length_in_seconds: 1.0e1"))
    assert suite.requests_per_second_rates == [1000.0, 0.25] and suite.test_length_in_seconds == 10.0
    for text in (".e5", "-e5", "1e", "1_0e5x"):
        assert parse_endpoint(ENDPOINT.replace("model: m", f"model: {text}")).model == text
