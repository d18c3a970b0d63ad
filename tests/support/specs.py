"""Spec files for tests: an endpoint.yml for a base URL, a run.yml from a few keys.

Tests whose assertions read a spec's line numbers (located errors) keep writing theirs by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LOAD_TYPE = {"prompt_length": 64, "output_length": 4}


def endpoint_yml(base_url: str, extra: str = "", *, model: str = "sim-model") -> str:
    """An endpoint of an OpenAI-compatible server (the simulator, a proxy in front of it): the
    `extra` lines are added as written."""
    return f"provider: hosted_vllm\nmodel: {model}\nbase_url: {base_url}\n{extra}"


def flow(value: Any) -> str:
    """A value as YAML on one line: [10, 20], {prompt_length: 64, output_length: 4}."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip() \
        .removesuffix("\n...").strip()


def run_yml(name: str = "test", *, rates: list[float] | None = None, length: float = 2,
            load_types: list[dict] | None = None, extra: str = "", **keys: Any) -> str:
    """A load-test suite: `rates` and `length` are requests_per_second_rates and
    test_length_in_seconds, other keys as the spec names them (arrival="constant", seed=5), then
    the load types (one of 64 prompt and 4 output tokens unless given) and the `extra` lines."""
    lines = [f"name: {name}", f"requests_per_second_rates: {flow(rates or [10])}",
             f"test_length_in_seconds: {flow(length)}"]
    lines += [f"{key}: {flow(value)}" for key, value in keys.items()]
    lines += ["load_types:"] + [f"- {flow(t)}" for t in (load_types or [LOAD_TYPE])]
    return "\n".join(lines) + "\n" + extra


class SpecFiles:
    """Writes spec files into a test's folder (the `spec_files` fixture). Each method returns the
    file's name, as `tokenflood` is run from that folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def endpoint(self, base_url: str, extra: str = "", *, file: str = "endpoint.yml",
                 model: str = "sim-model") -> str:
        (self.folder / file).write_text(endpoint_yml(base_url, extra, model=model))
        return file

    def run(self, name: str = "test", *, file: str = "run.yml", **keys: Any) -> str:
        """run_yml(name, **keys) as `file`."""
        (self.folder / file).write_text(run_yml(name, **keys))
        return file
