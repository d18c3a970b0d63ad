"""What is on disk for the home screen: spec files in a folder (and the samples), results folders."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from .errors import ConfigError
from .outputs.experiment import ExperimentInfo, is_experiment
from .outputs.formats import ms_compact
from .outputs.journal import JOURNAL_FILE
from .specs import detect_kind, load_endpoint, load_run_suite
from .metrics.summary import SUMMARY_FILE, RunSummary, pkey

# Package data, so a wheel install has the samples too; an installed package is on disk, so a path.
SAMPLES_DIR = Path(str(resources.files("tokenflood_tui") / "sample_configs"))


ENDPOINT_KEYS = ("provider", "model", "base_url", "api_base", "api_key_env_var", "deployment")
RUN_KEYS = ("load_types", "load_type", "requests_per_second_rates", "test_length_in_seconds",
            "arrival", "duration_hours", "polling_interval_minutes", "num_requests", "within_seconds",
            "session_types", "sessions_per_second_rates")
_TOP_KEY = re.compile(r"^([A-Za-z_]+)\s*:", re.M)
_GUESS_BYTES = 65536       # enough of any hand-written spec to see its keys


@dataclass(slots=True)
class SpecFile:
    path: Path
    kind: str | None             # "endpoint", "run", or None when it cannot be told (broken)
    spec: BaseModel | None       # the loaded spec, None when invalid
    error: str | None            # the validation message when invalid
    sample: bool = False

    @property
    def label(self) -> str:
        return ("sample/" if self.sample else "") + self.path.name


RESUMABLE = "↻"          # marks a results folder whose run did not finish and can go on
UNFINISHED = ("interrupted", "aborted")


@dataclass(slots=True)
class ResultsEntry:
    path: Path
    status: str
    run_name: str
    model: str
    # the run did not finish and its journal is there: `tokenflood resume` (or u on the home
    # screen) may go on with it; run.resume.find_resume_point has the last word
    resumable: bool = False
    headline: str = ""       # e.g. "TTFT p50 53 ms @ 8 req/s": what finds the runs to compare
    # an A/B experiment's folder: its variants' results folders, the baseline first
    variants: list[Path] = field(default_factory=list)
    compared: bool = False   # an experiment whose comparison was written (compare.json)

    @property
    def experiment(self) -> bool:
        return bool(self.variants)

    @property
    def label(self) -> str:
        return f"{self.path.name}  [{self.status}]" + (f"  {RESUMABLE} resumable" if self.resumable
                                                       else "")


def find_specs(folder: Path, include_samples: bool = True) -> list[SpecFile]:
    """Every *.yml / *.yaml in `folder` that is a spec file (valid or not), then the samples."""
    out = _scan(folder, sample=False)
    if include_samples and SAMPLES_DIR.is_dir() and SAMPLES_DIR.resolve() != Path(folder).resolve():
        out += _scan(SAMPLES_DIR, sample=True)
    return out


def guess_kind(path: Path) -> str | None:
    """The kind of a spec file, also when it cannot be parsed (a YAML syntax error): judged by
    the keys that start its lines, then by its name. None when neither tells."""
    try:
        return detect_kind(path)
    except ConfigError:
        if not path.is_file():
            return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(_GUESS_BYTES)
    except OSError:
        text = ""
    keys = set(_TOP_KEY.findall(text))
    endpoint, run = len(keys & set(ENDPOINT_KEYS)), len(keys & set(RUN_KEYS))
    if endpoint != run:
        return "endpoint" if endpoint > run else "run"
    name = path.stem.lower()
    if "endpoint" in name:
        return "endpoint"
    if any(word in name for word in ("run", "suite", "load")):
        return "run"
    return None


def _is_other_yaml(error: ConfigError) -> bool:
    """detect_kind's verdict on a well-formed YAML file that holds neither spec."""
    return "neither an endpoint spec" in str(error)


def _scan(folder: Path, sample: bool) -> list[SpecFile]:
    found = []
    paths = sorted(p for p in Path(folder).glob("*.y*ml") if p.suffix in (".yml", ".yaml"))
    for path in paths:
        try:
            kind = detect_kind(path)
        except ConfigError as exc:
            if _is_other_yaml(exc):
                continue        # some other YAML file (a CI config, ...), not ours to list
            # Unreadable as YAML (a syntax error, ...): list it with the error so it can be
            # fixed, under the kind its text or name suggests (None: both lists show it).
            found.append(SpecFile(path, guess_kind(path), None, str(exc), sample))
            continue
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
        journal = (folder / JOURNAL_FILE).is_file()
        if is_experiment(folder):
            entries.append(_experiment_entry(folder))
        elif (folder / SUMMARY_FILE).exists():
            try:
                s = RunSummary.load(folder)
                entries.append(ResultsEntry(folder, s.status, s.run_name, s.model,
                                            resumable=journal and s.status in UNFINISHED,
                                            headline=headline(s)))
            except ConfigError:
                entries.append(ResultsEntry(folder, "unreadable summary", "?", "?"))
        elif (folder / "requests.csv").exists():
            # no summary: the process was killed (or the machine went down) mid-run; what its
            # rows and journal say stands in, marked partial
            partial = _partial(folder)
            entries.append(ResultsEntry(folder, "no summary", "?", "?", resumable=journal)
                           if partial is None else
                           ResultsEntry(folder, "no summary", partial.run_name, partial.model,
                                        resumable=journal,
                                        headline=f"partial: {headline(partial)}"))
    return entries


def _experiment_entry(folder: Path) -> ResultsEntry:
    """An A/B experiment: its suite, its variants (A/B: a vs b), and the comparison's verdicts
    as its headline."""
    try:
        info = ExperimentInfo.load(folder)
    except ConfigError:
        return ResultsEntry(folder, "unreadable experiment.json", "?", "?")
    names = " vs ".join(v.name for v in info.variants)
    compared, headline = _verdicts(folder)
    return ResultsEntry(folder, f"A/B {info.outcome}", info.suite, names,
                        headline=headline, variants=info.variant_folders(folder),
                        compared=compared)


# An experiment's verdict headline, by folder, read again only when compare.json changed.
_headlines: dict[Path, tuple[tuple | None, tuple[bool, str]]] = {}


def _verdicts(folder: Path) -> tuple[bool, str]:
    """(whether it has a comparison, its verdicts on one line)."""
    from .compare.compare import COMPARE_FILE
    key = _stamp(folder / COMPARE_FILE)
    known = _headlines.get(folder)
    if known is None or known[0] != key:
        known = _headlines[folder] = (key, _read_verdicts(folder) if key else
                                      (False, "no comparison (a variant has no phase)"))
    return known[1]


def _read_verdicts(folder: Path) -> tuple[bool, str]:
    from pydantic import ValidationError

    from .compare.compare import Comparison
    try:
        c = Comparison.load(folder)
    except (ConfigError, ValidationError):
        return False, "compare.json cannot be read"
    return True, "; ".join(_verdict_headline(c, i) for i in range(1, len(c.runs)))


def _verdict_headline(c, run: int) -> str:
    """The verdicts that decide, short enough for a list: "B vs A: slower in 4 of 24 cells"
    (the cells with no clear difference or too few samples are in the comparison itself)."""
    from .outputs.charts import run_letter
    counts = c.verdicts(run)
    total = sum(counts.values())
    decided = [f"{v} in {counts[v]}" for v in ("faster", "slower") if counts.get(v)]
    said = ", ".join(decided) + f" of {total} cells" if decided else \
        f"neither faster nor slower in {total} cells"
    return f"{run_letter(run)} vs {run_letter(0)}: {said}"


# A killed run's partial summary, by folder, read again only when its rows or journal changed:
# the home screen lists results on every return to it.
_partials: dict[Path, tuple[tuple, RunSummary | None]] = {}


def _partial(folder: Path) -> RunSummary | None:
    from .run.partial import partial_summary, rebuildable
    key = tuple(_stamp(folder / name) for name in ("requests.csv", JOURNAL_FILE, "run.yml"))
    known = _partials.get(folder)
    if known is None or known[0] != key:
        try:
            summary = partial_summary(folder) if rebuildable(folder) else None
        except ConfigError:
            summary = None
        known = _partials[folder] = (key, summary)
    return known[1]


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def headline(s: RunSummary) -> str:
    """A run's figure at a glance: TTFT p50 at the highest rate that has one (a load test), or
    the median of the polls' TTFT p50 (an observation: one slow poll does not move it, and it
    is the typical poll, not the last one, which may have hit a bad minute). The suite's first
    percentile stands in when it has no p50."""
    p = 50.0 if 50.0 in s.percentiles or not s.percentiles else s.percentiles[0]
    if s.type == "observation":
        values = [v for poll in s.polls if not poll.missed
                  and (v := poll.ttft_ms.at(p)) is not None]
        if not values:
            return "no ok requests"
        n = len(values)
        return f"TTFT {pkey(p)} {ms_compact(statistics.median(values), 10)} ms, median of {n} " \
            f"poll{'s' if n != 1 else ''}"
    measured = [(ph.target_rps, v) for ph in s.phases if (v := ph.ttft_ms.at(p)) is not None]
    if not measured:
        return "no ok requests"
    # max keeps the first of equals: reversed, the last phase of the highest rate wins a tie
    rate, value = max(reversed(measured), key=lambda rv: rv[0])
    return f"TTFT {pkey(p)} {ms_compact(value, 10)} ms @ {rate:g} {s.rate_unit}"


def latest_results(root: Path) -> Path | None:
    """The newest results folder with a summary (a killed run's folder has none to show), or
    A/B experiment with a comparison."""
    return next((e.path for e in find_results(root)
                 if (e.path / SUMMARY_FILE).exists() or e.compared), None)
