"""The core never imports Textual, and nothing imports litellm until a run needs it."""

import subprocess
import sys
from pathlib import Path

import pytest

import tokenflood_tui

PACKAGE = Path(tokenflood_tui.__file__).parent
MODULES = sorted(".".join(("tokenflood_tui",) + p.relative_to(PACKAGE).with_suffix("").parts)
                 .removesuffix(".__init__") for p in PACKAGE.rglob("*.py"))
CORE = [m for m in MODULES if m != "tokenflood_tui.cli" and not m.startswith("tokenflood_tui.tui")]


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_core_has_modules_to_check():
    assert "tokenflood_tui.run.coordinator" in CORE and "tokenflood_tui.clients.litellm_client" in CORE


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module):
    loaded = imported_after(module)
    assert "textual" not in loaded
    if not module.endswith("litellm_client"):
        assert "litellm" not in loaded


def test_cli_help_imports_neither_textual_nor_litellm():
    code = ("import sys\nfrom tokenflood_tui import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split("MODULES", 1)[1].split())
    assert "textual" not in loaded and "litellm" not in loaded and "pydantic" not in loaded


def test_the_tui_first_screen_does_not_import_litellm():
    loaded = imported_after("tokenflood_tui.tui.app, tokenflood_tui.tui.screens.home, "
                            "tokenflood_tui.tui.screens.run, tokenflood_tui.tui.screens.endpoint_editor")
    assert "textual" in loaded and "litellm" not in loaded
