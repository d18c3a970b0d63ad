"""The core never imports Textual, nothing imports litellm until a run needs it, and the page
code of report.html is imported only when a page is written."""

import subprocess
import sys
from pathlib import Path

import pytest

import tokenflood_tui

PACKAGE = Path(tokenflood_tui.__file__).parent
MODULES = sorted(".".join(("tokenflood_tui",) + p.relative_to(PACKAGE).with_suffix("").parts)
                 .removesuffix(".__init__") for p in PACKAGE.rglob("*.py"))
CORE = [m for m in MODULES if m != "tokenflood_tui.cli" and not m.startswith("tokenflood_tui.tui")]


# A process that imports what the core may use (not Textual, not litellm) once, then forks a child
# per question: the child imports the asked modules into that clean state and answers with
# sys.modules. As `python -c "import sys, MODULE"` would, without paying an interpreter and
# pydantic, numpy, yaml and aiohttp again for each of 60 modules.
PRELOADED = ["pydantic", "numpy", "yaml", "aiohttp"]
FORKING_IMPORTER = r"""
import os, sys
for name in sys.argv[1:]:
    __import__(name)
print(" ".join(sys.modules), flush=True)
for line in sys.stdin:
    r, w = os.pipe()
    if os.fork() == 0:
        code = 1
        try:
            os.close(r)
            for name in line.split(","):
                __import__(name.strip())
            os.write(w, " ".join(sys.modules).encode())
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as answer:
        loaded = answer.read().decode()
    _, status = os.wait()
    print(loaded if status == 0 else "FAILED", flush=True)
"""


@pytest.fixture(scope="module")
def imported_after():
    """imported_after("a.b, c"): every module in sys.modules once a fresh process imported them."""
    proc = subprocess.Popen([sys.executable, "-c", FORKING_IMPORTER, *PRELOADED], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    preloaded = set(proc.stdout.readline().split())
    assert not {"textual", "litellm"} & preloaded      # nothing is hidden by the preloading

    def ask(modules: str) -> set[str]:
        proc.stdin.write(modules + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline()
        assert answer.strip() != "FAILED", f"importing {modules} failed (see the captured stderr)"
        return set(answer.split())

    yield ask
    proc.stdin.close()
    proc.wait(10)


def test_the_core_has_modules_to_check():
    assert "tokenflood_tui.run.coordinator" in CORE and "tokenflood_tui.clients.litellm_client" in CORE


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module, imported_after):
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
    assert not {m for m in loaded if m.startswith(REPORT_PAGES)}


# report.html's code (and the charting library it reads): only when a page is written
REPORT_PAGES = ("tokenflood_tui.report", "tokenflood_tui.compare.page")


def test_the_tui_first_screen_does_not_import_litellm(imported_after):
    loaded = imported_after("tokenflood_tui.tui.app, tokenflood_tui.tui.screens.home, "
                            "tokenflood_tui.tui.screens.run, tokenflood_tui.tui.screens.endpoint_editor")
    assert "textual" in loaded and "litellm" not in loaded


def test_the_tui_first_screen_and_a_run_do_not_import_the_report_page(imported_after):
    loaded = imported_after("tokenflood_tui.tui.app, tokenflood_tui.tui.screens.home, "
                            "tokenflood_tui.tui.screens.run, tokenflood_tui.run.runner, "
                            "tokenflood_tui.compare.folder, tokenflood_tui.headless")
    assert "tokenflood_tui.run.runner" in loaded
    assert not {m for m in loaded if m.startswith(REPORT_PAGES)}
    assert "tokenflood_tui.report.run" in imported_after("tokenflood_tui.report.run")
