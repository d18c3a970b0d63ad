"""What is on disk for the home screen: spec files in a folder (and the samples), results folders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from .errors import ConfigError
from .specs import detect_kind, load_endpoint, load_run_suite

# Package data, so a wheel install has the samples too; an installed package is on disk, so a path.
SAMPLES_DIR = Path(str(resources.files("tokenflood_tui") / "sample_configs"))


@dataclass(slots=True)
class SpecFile:
    path: Path
    kind: str | None             # "endpoint", "run", or None when it is neither
    spec: BaseModel | None       # the loaded spec, None when invalid
    error: str | None            # the validation message when invalid
    sample: bool = False

    @property
    def label(self) -> str:
        return ("sample/" if self.sample else "") + self.path.name


@dataclass(slots=True)
class ResultsEntry:
    path: Path
    status: str
    run_name: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.path.name}  [{self.status}]"


def find_specs(folder: Path, include_samples: bool = True) -> list[SpecFile]:
    """Every *.yml / *.yaml in `folder` that is a spec file (valid or not), then the samples."""
    out = _scan(folder, sample=False)
    if include_samples and SAMPLES_DIR.is_dir() and SAMPLES_DIR.resolve() != Path(folder).resolve():
        out += _scan(SAMPLES_DIR, sample=True)
    return out


def _scan(folder: Path, sample: bool) -> list[SpecFile]:
    found = []
    paths = sorted(p for p in Path(folder).glob("*.y*ml") if p.suffix in (".yml", ".yaml"))
    for path in paths:
        try:
            kind = detect_kind(path)
        except ConfigError:
            continue            # some other YAML file
        try:
            spec = load_endpoint(path) if kind == "endpoint" else load_run_suite(path)
            found.append(SpecFile(path, kind, spec, None, sample))
        except ConfigError as exc:
            found.append(SpecFile(path, kind, None, str(exc), sample))
    return found


def find_results(root: Path, limit: int = 50) -> list[ResultsEntry]:
    """Results folders under `root`, newest first (their names start with the start time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True)[:limit]:
        try:
            s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            entries.append(ResultsEntry(folder, s.get("status", "?"), s.get("run_name", "?"),
                                        s.get("model", "?")))
        except (OSError, ValueError):
            if (folder / "requests.csv").exists():
                entries.append(ResultsEntry(folder, "no summary", "?", "?"))
    return entries


def latest_results(root: Path) -> Path | None:
    entries = find_results(root, limit=1)
    return entries[0].path if entries else None
