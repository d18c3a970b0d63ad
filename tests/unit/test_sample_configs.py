"""Every sample config loads, and endpoint examples use litellm's own names."""

import inspect

import pytest

from tokenflood_tui.demo import demo_suite
from tokenflood_tui.quickstart import RUN_YML
from tokenflood_tui.specs import load_endpoint, load_run_suite, parse_run_suite
from tokenflood_tui.workspace import SAMPLES_DIR

SAMPLES = SAMPLES_DIR   # the package data folder the home screen lists (tests/e2e/test_wheel.py: shipped)
ENDPOINTS = sorted(SAMPLES.glob("endpoint_*.yml"))
SUITES = sorted(SAMPLES.glob("run_*.yml"))


def test_there_is_an_example_per_provider_family():
    providers = {load_endpoint(p).provider for p in ENDPOINTS}
    assert {"hosted_vllm", "openai", "azure", "anthropic", "gemini", "bedrock", "sagemaker"} <= providers
    assert any("llamacpp" in p.name for p in ENDPOINTS)
    assert len(SUITES) >= 3


@pytest.mark.parametrize("path", ENDPOINTS, ids=lambda p: p.name)
def test_endpoint_examples_use_litellm_parameter_names(path, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM
    from litellm.types.utils import all_litellm_params

    spec = load_endpoint(path)
    known = (set(inspect.signature(litellm.acompletion).parameters) | set(all_litellm_params)
             | set(inspect.signature(BaseAWSLLM.get_credentials).parameters))
    assert set(spec.litellm_params) <= known
    assert spec.provider in {getattr(p, "value", p) for p in litellm.provider_list}
    assert spec.api_key_env_var is None or spec.api_key_env_var.isupper()


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_run_suites_load(path):
    suite = load_run_suite(path)
    assert ((suite.load_types and suite.requests_per_second_rates)
            or (suite.session_types and suite.sessions_per_second_rates))


def test_quickstart_and_demo_samples_match_what_the_program_embeds():
    assert load_run_suite(SAMPLES / "run_quickstart.yml") == parse_run_suite(RUN_YML)
    assert load_run_suite(SAMPLES / "run_demo.yml") == demo_suite()
    assert load_run_suite(SAMPLES / "run_sessions.yml") == demo_suite(sessions=True)


def test_the_session_sample_has_a_chat_and_an_agent_without_tool_steps():
    # SmolLM2's chat template (the demo's llama.cpp) renders a tool call as an empty assistant
    # message, so a tool step would send fewer tokens than stated: no tool steps in the sample
    suite = load_run_suite(SAMPLES / "run_sessions.yml")
    assert [t.name for t in suite.session_types] == ["chat", "agent"]
    assert all(t.tool_share == 0 for t in suite.session_types)
    # the thresholds it shows in a comment are good ones for it
    text = (SAMPLES / "run_sessions.yml").read_text()
    gates = text.split("# thresholds:\n", 1)[1].split("\n\n", 1)[0]
    shown = [line.removeprefix("# - ").split("#")[0].strip() for line in gates.splitlines()]
    assert len(shown) == 3
    with_gates = parse_run_suite(text + "thresholds:\n" + "".join(f"- {g}\n" for g in shown))
    assert all(t.sessions for t in with_gates.threshold_checks)
