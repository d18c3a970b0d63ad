"""The two spec files in and out: endpoint.yml and run.yml read through the strict loader, and
written back so that they load equal."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..errors import ConfigError
from .endpoint import EndpointSpec
from .loader import YamlDoc, dump_yaml, parse_yaml, read_yaml, validate
from .secrets import redact_data
from .suites import SUITE_KINDS, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite

ENDPOINT_SPEC = "endpoint spec"
RUN_SUITE = "run suite"


def load_endpoint(path: str | Path) -> EndpointSpec:
    """Read and validate an endpoint spec; ConfigError says file, key path and line."""
    return validate(read_yaml(Path(path)), EndpointSpec, ENDPOINT_SPEC)


def load_run_suite(path: str | Path) -> RunSuite:
    """Read and validate a run suite of either type; ConfigError says file, key path and line."""
    doc = read_yaml(Path(path))
    return validate(doc, suite_model(doc), RUN_SUITE)


def parse_endpoint(text: str, source: str = "<endpoint>") -> EndpointSpec:
    """Validate endpoint YAML given as text (editors, tests)."""
    return validate(parse_yaml(text, source), EndpointSpec, ENDPOINT_SPEC)


def parse_run_suite(text: str, source: str = "<run suite>") -> RunSuite:
    """Validate run-suite YAML given as text (editors, tests)."""
    doc = parse_yaml(text, source)
    return validate(doc, suite_model(doc), RUN_SUITE)


def suite_model(doc: YamlDoc) -> type[LoadTestSuite] | type[ObservationSuite] | type[SearchSuite]:
    """The run-suite class a file's `type` names (load_test when it names none)."""
    kind = doc.data.get("type", "load_test") if isinstance(doc.data, dict) else "load_test"
    if kind not in SUITE_KINDS:
        line = doc.lines.get(("type",))
        raise ConfigError(f"{doc.source}:{line}: type: {kind!r} is not a kind of run suite; use "
                          "load_test (phases at fixed rates), observation (polls on the wall "
                          "clock) or search (the highest rate that meets an slo)" if line
                          else f"{doc.source}: type: {kind!r} is not a kind of run suite")
    return SUITE_KINDS[kind]


def detect_kind(path: str | Path) -> Literal["endpoint", "run"]:
    """Which spec a file holds, judged by its keys."""
    data = read_yaml(Path(path)).data
    if isinstance(data, dict):
        if "provider" in data or "model" in data:
            return "endpoint"
        if any(k in data for k in ("load_types", "load_type", "requests_per_second_rates",
                                   "session_types", "sessions_per_second_rates")):
            return "run"
    raise ConfigError(f"{path}: neither an endpoint spec (has 'provider') nor a run suite "
                      "(has 'load_types' or 'session_types')")


def to_yaml(spec: BaseModel, *, redact: bool = False) -> str:
    """YAML with every field (defaults filled in) that loads back equal."""
    data = spec.model_dump(mode="json")
    if redact:
        data = redact_data(data)
    return dump_yaml(data, sort_keys=False, width=100)
