"""The habits AGENTS.md promises stay true: the pre-commit hooks run the tools pyproject pins,
`./dev check` runs the code checks, and the test command README gives is the one CI runs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("ruff", "mypy", "import-linter")


def pinned() -> dict[str, str]:
    """The code checkers pyproject's test extra pins, by name."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["optional-dependencies"]["test"]
    pins = dict(item.split("==") for item in extra if item.split("==")[0] in CHECKED)
    assert set(pins) == set(CHECKED), f"pin each of {CHECKED} with == in the test extra"
    return pins


def hooks() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_the_pre_commit_hooks_name_the_versions_pyproject_pins():
    pins = pinned()
    named = {}
    for hook in hooks().values():
        match = re.match(r"([\w-]+)==([\w.]+) ", hook["name"])
        assert match, f"hook {hook['id']}: its name starts with the pinned tool, e.g. ruff==1.0"
        named[match.group(1)] = match.group(2)
    assert named == pins


def test_the_pre_commit_hooks_run_the_venvs_tools_which_are_the_pinned_ones():
    """Local hooks download nothing: they run what `./dev setup` installed from the test extra."""
    tools = {"ruff": "ruff", "mypy": "mypy", "import-linter": "lint-imports"}
    entries = {hook["id"]: hook["entry"].split()[0] for hook in hooks().values()}
    assert entries == {tool: f".venv/bin/{command}" for tool, command in tools.items()}
    assert {hook["language"] for hook in hooks().values()} == {"system"}
    installed = {tool: metadata.version(tool) for tool in CHECKED}
    assert installed == pinned()


def test_dev_check_runs_the_three_checks():
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    body = dev.split("\ncheck() {", 1)[1].split("\n}\n", 1)[0]
    for command in ('"$VENV/bin/ruff" check', '"$VENV/bin/mypy"', '"$VENV/bin/lint-imports"'):
        assert command in body
    assert "    check) setup; check ;;" in dev


def test_the_readme_gives_the_test_command_ci_runs():
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.startswith("./dev")]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert ci == ["./dev test"] and first_block == ["./dev demo", "./dev test"]
    assert "`./dev check`" in readme.split("## ", 1)[0]      # beside them, before any section
