"""A `pip install` user gets the themes, the samples and the licence: build the wheel, install it.

Needs no network and no dependency install: the wheel is installed with --no-deps into a fresh
venv, and the dependencies come from this venv's site-packages on PYTHONPATH (after the fresh
venv's own site-packages, so the installed wheel's package is the one imported).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import tokenflood_tui
from tokenflood_tui.tui.themes import shipped_themes_dir
from tokenflood_tui.workspace import SAMPLES_DIR

REPO = Path(tokenflood_tui.__file__).resolve().parents[1]
THEMES = {"tokenflood-dark", "tokenflood-light", "tokenflood-ansi"}
THEME_FILES = sorted(p.name for p in shipped_themes_dir().glob("*.yml"))
SAMPLE_FILES = sorted(p.name for p in SAMPLES_DIR.glob("*.yml"))

# Runs inside the fresh venv: what an installed tokenflood finds through importlib.resources.
PROBE = """
import json, sys, tempfile
from pathlib import Path
import tokenflood_tui
from tokenflood_tui.tui.themes import load_themes, shipped_themes_dir, theme_dirs
from tokenflood_tui.workspace import SAMPLES_DIR, find_specs
themes, errors = load_themes([shipped_themes_dir()])
specs = find_specs(Path(tempfile.mkdtemp()))
print(json.dumps({
    "package": tokenflood_tui.__file__,
    "theme_dir": str(theme_dirs()[0]),
    "themes": {t.name: {"ansi": t.ansi, "dark": t.dark} for t in themes},
    "theme_errors": errors,
    "samples_dir": str(SAMPLES_DIR),
    "samples": [{"label": s.label, "kind": s.kind, "error": s.error} for s in specs],
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install` would build, from a copy of the sources (the clone stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "tokenflood_tui", src / "tokenflood_tui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                            str(src)], capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr[-2000:]
    [path] = out.glob("tokenflood_tui-*.whl")
    return path


def test_the_wheel_holds_every_theme_every_sample_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tokenflood-ansi.yml", "tokenflood-dark.yml", "tokenflood-light.yml"} <= set(THEME_FILES)
    assert len(SAMPLE_FILES) >= 11
    assert {f"tokenflood_tui/themes/{n}" for n in THEME_FILES} <= names
    assert {f"tokenflood_tui/sample_configs/{n}" for n in SAMPLE_FILES} <= names
    assert {"tokenflood_tui/data/demo.yml", "tokenflood_tui/tui/app.tcss"} <= names
    # report.html's charting library, its licence, and the page's own script and style
    assert {f"tokenflood_tui/report/assets/{n}" for n in (
        "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "report.js", "report.css")} <= names
    licences = [n for n in names if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
    assert len(licences) == 1
    text = zipfile.ZipFile(wheel).read(licences[0]).decode()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert text == (REPO / "LICENSE").read_text()


def test_an_installed_wheel_lists_and_loads_its_themes_and_samples(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)   # --system-site-packages off (the default)
    python = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                                "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr[-2000:]
    fresh_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
    deps = sysconfig.get_path("purelib")   # this venv's: textual, pydantic, yaml, platformdirs...
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([fresh_site, deps]),
           "TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config")}
    # cwd is not the clone, so `import tokenflood_tui` cannot pick up the sources
    probe = subprocess.run([str(python), "-c", PROBE], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = json.loads(probe.stdout)

    package = Path(found["package"]).resolve()
    assert package.is_relative_to(env_dir.resolve()) and not package.is_relative_to(REPO)
    assert Path(found["theme_dir"]) == package.parent / "themes"
    assert Path(found["samples_dir"]) == package.parent / "sample_configs"

    assert found["theme_errors"] == []
    assert set(found["themes"]) == THEMES
    assert found["themes"]["tokenflood-ansi"]["ansi"] is True
    assert (found["themes"]["tokenflood-dark"], found["themes"]["tokenflood-light"]) == (
        {"ansi": False, "dark": True}, {"ansi": False, "dark": False})

    assert sorted(s["label"] for s in found["samples"]) == [f"sample/{n}" for n in SAMPLE_FILES]
    assert [s for s in found["samples"] if s["error"] is not None or s["kind"] is None] == []
    kinds = {s["label"].removeprefix("sample/"): s["kind"] for s in found["samples"]}
    assert all(kinds[n] == ("endpoint" if n.startswith("endpoint_") else "run") for n in kinds)
