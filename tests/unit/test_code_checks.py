"""ruff, mypy and import-linter stay clean: `./dev test` (which CI runs) fails with their report.

Configured in pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]); run from the venv
the test extra installs, from the repository root. mypy keeps its cache in .mypy_cache (about
15 s cold, under a second warm). The runtime side of the import rule is test_import_hygiene.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tokenflood_tui"
BIN = Path(sys.executable).parent
FRONT_ENDS = {"tokenflood_tui.tui", "tokenflood_tui.cli"}


def run_tool(name: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
             timeout: float = 240) -> subprocess.CompletedProcess[str]:
    tool = BIN / name
    assert tool.exists(), f"{tool} is missing: install the test extra (pip install -e '.[test]')"
    return subprocess.run([str(tool), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_ruff_reports_nothing():
    proc = run_tool("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert proc.returncode == 0, report(proc)


def test_mypy_reports_nothing():
    proc = run_tool("mypy")
    assert proc.returncode == 0, report(proc)
    assert "Success: no issues found" in proc.stdout


def test_import_contracts_are_kept():
    proc = run_tool("lint-imports")
    assert proc.returncode == 0, report(proc)
    assert "Contracts: 6 kept, 0 broken." in proc.stdout, proc.stdout


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def top_level() -> set[str]:
    """The package's top modules and subpackages, as the contracts name them."""
    return {p.stem for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}


def test_the_layers_name_every_package_and_top_module():
    """A module missing from the layers could import anything and be imported by anything."""
    layered = {name.strip() for layer in LAYERS["layers"]
               for name in layer.replace(":", "|").split("|")}
    assert top_level() - layered == set(), "add these to a layer of the layers contract in " \
        f"pyproject.toml: {sorted(top_level() - layered)}"
    assert layered - top_level() == set(), f"gone modules in the layers: {sorted(layered - top_level())}"


def test_the_forbidden_contract_lists_the_whole_core():
    """import-linter cannot say "all but the front ends", so the core is listed: this keeps the
    list whole as modules are added, and free of modules that are gone."""
    on_disk = {f"tokenflood_tui.{name}" for name in top_level()}
    listed = set(contracts()["The core never imports Textual"]["source_modules"])
    core = on_disk - FRONT_ENDS
    assert core - listed == set(), "add these to the forbidden contract's source_modules " \
        f"in pyproject.toml: {sorted(core - listed)}"
    assert listed - core == set(), f"gone or front-end modules listed as core: {sorted(listed - core)}"


LAYERS = contracts()["Layers: the front ends on top, the core below, no arrow back up"]


@pytest.fixture
def package_copy(tmp_path):
    """The package and its pyproject.toml in a scratch folder, to plant a bad import in."""
    shutil.copytree(PACKAGE, tmp_path / "tokenflood_tui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def lint_imports_in(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder)}   # the copy, not the editable install
    return run_tool("lint-imports", "--no-cache", cwd=folder, env=env)


def test_a_core_module_reaching_textual_through_the_tui_breaks_the_contract(package_copy):
    errors = package_copy / "tokenflood_tui" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom .tui import messages  # planted\n")
    proc = lint_imports_in(package_copy)
    assert proc.returncode == 1, report(proc)
    assert "The core never imports Textual BROKEN" in proc.stdout
    assert "Layers: the front ends on top, the core below, no arrow back up BROKEN" in proc.stdout
    assert "tokenflood_tui.errors -> tokenflood_tui.tui.messages" in proc.stdout
    assert "tokenflood_tui.errors is not allowed to import textual" in proc.stdout


def test_an_arrow_back_up_breaks_the_layers(package_copy):
    records = package_copy / "tokenflood_tui" / "metrics" / "records.py"
    records.write_text(records.read_text() + "\nfrom ..run import schedule  # planted\n")
    proc = lint_imports_in(package_copy)
    assert proc.returncode == 1, report(proc)
    assert "Layers: the front ends on top, the core below, no arrow back up BROKEN" in proc.stdout
    assert "tokenflood_tui.metrics.records -> tokenflood_tui.run.schedule" in proc.stdout


def test_a_cycle_between_sibling_modules_breaks_the_contract(package_copy):
    schedule = package_copy / "tokenflood_tui" / "run" / "schedule.py"
    schedule.write_text(schedule.read_text() + "\nfrom . import plan  # planted\n")
    proc = lint_imports_in(package_copy)
    assert proc.returncode == 1, report(proc)
    assert "No cycles between sibling modules or packages BROKEN" in proc.stdout


def test_a_new_core_module_importing_textual_breaks_the_contract(package_copy):
    (package_copy / "tokenflood_tui" / "planted.py").write_text("import textual\n")
    proc = lint_imports_in(package_copy)
    assert proc.returncode == 1, report(proc)
    assert "Only the TUI and the CLI import Textual BROKEN" in proc.stdout
    assert "tokenflood_tui.planted -> textual" in proc.stdout


def test_a_screen_importing_the_app_breaks_the_contract(package_copy):
    """Screens ask the app for things by posting messages (tui/messages.py): an import of the
    app, even one for the type checker only, is a cycle (the app imports the screens)."""
    home = package_copy / "tokenflood_tui" / "tui" / "screens" / "home.py"
    planted = "\nif TYPE_CHECKING:\n    from ..app import TokenfloodApp  # planted\n"
    home.write_text(home.read_text() + planted)
    proc = lint_imports_in(package_copy)
    assert proc.returncode == 1, report(proc)
    assert "No cycles between sibling modules or packages BROKEN" in proc.stdout
    assert "- .screens -> .app (1 import)" in proc.stdout
