"""The results folder (docs/results.md): configs as run, requests.csv appended as requests finish, summaries.

Rows are written whole or not at all: a write that fails (a full disk) is cut back to the last
complete row, the folder remembers the failure, and whoever drives the run stops the load and
says what was kept. Nothing raises out of `write_record`: a record reaches the statistics even
when the disk cannot take it.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path

from . import charts, report
from .errors import ConfigError
from .records import RequestRecord
from .redaction import Scrubber
from .specs import EndpointSpec, RunSuite, slugify, to_yaml
from .summary import SUMMARY_FILE, RunSummary

CSV_COLUMNS = [
    "phase", "target_rps", "load_type", "t_sched_s", "t_send_s", "t_first_s", "t_end_s",
    "ttft_ms", "e2e_ms", "scheduled_latency_ms", "dispatch_delay_ms", "tpot_ms",
    "prompt_tokens_target", "prompt_tokens", "prefix_tokens_target", "cached_tokens",
    "output_tokens_target", "output_tokens", "output_tokens_estimated", "status", "error_type",
    "http_status",
    # extra columns, after the ones docs/results.md fixes
    "itl_mean_ms", "content_chunks", "response_id",
]


def folder_name(suite: RunSuite, endpoint: EndpointSpec, started: datetime) -> str:
    return f"{started:%Y-%m-%d_%H-%M-%S}_{slugify(suite.name)}_{endpoint.slug}"


class AppendOnlyFile:
    """A file that takes whole lines or nothing: a failed write is cut back, never left torn."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.size = 0
        self.error: OSError | None = None

    def append(self, text: str) -> bool:
        """Write `text` whole; False (and `error` set) when it could not be written."""
        if self.error is not None or self._fd < 0:
            return False
        data = text.encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.error = exc
            try:
                os.ftruncate(self._fd, self.size)    # frees what the torn line took
            except OSError:
                pass
            return False
        self.size += len(data)
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ResultsFolder:
    """Owns one run's folder; every finished request is on disk before the next is recorded."""

    def __init__(self, root: Path, suite: RunSuite, endpoint: EndpointSpec, started: datetime):
        self.root = Path(root)
        base = self.root / folder_name(suite, endpoint, started)
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        self.path = path
        try:
            self.path.mkdir(parents=True)
            (self.path / "run.yml").write_text(to_yaml(suite), encoding="utf-8")
            (self.path / "endpoint.yml").write_text(to_yaml(endpoint, redact=True), encoding="utf-8")
            self._csv = AppendOnlyFile(self.path / "requests.csv")
            self._errors = AppendOnlyFile(self.path / "errors.log")
        except OSError as exc:
            raise ConfigError(f"cannot write the results folder {self.path}: "
                              f"{exc.strerror or exc}; choose another --results-dir") from None
        self.scrubber = Scrubber.for_endpoint(endpoint)   # last line of defence for what is written
        self._line = io.StringIO()
        self._writer = csv.writer(self._line)
        self.t0: float | None = None
        self.rows = 0              # rows on disk in requests.csv
        self.unwritten = 0         # records that could not be written
        if not self._csv.append(self._format(CSV_COLUMNS)):
            raise ConfigError(f"cannot write {self._csv.path}: {self.write_error}; free some "
                              "space or choose another --results-dir")

    @property
    def write_error(self) -> str | None:
        """Why requests.csv stopped taking rows, or None while it takes them."""
        err = self._csv.error
        return None if err is None else (err.strerror or str(err))

    def _format(self, row: list) -> str:
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow(row)
        return self._line.getvalue()

    def write_record(self, rec: RequestRecord) -> bool:
        """Append the row; False when the disk did not take it (see `write_error`)."""
        t0 = self.t0 or rec.t_sched
        itl = rec.itl_ms
        line = self._format([
            rec.phase, f"{rec.target_rps:g}", rec.load_type,
            _s(rec.t_sched, t0), _s(rec.t_send, t0), _s(rec.t_first, t0), _s(rec.t_end, t0),
            _ms(rec.ttft_ms), _ms(rec.e2e_ms), _ms(rec.scheduled_latency_ms),
            _ms(rec.dispatch_delay_ms), _ms(rec.tpot_ms),
            rec.prompt_tokens_target, _int(rec.prompt_tokens), rec.prefix_tokens_target,
            _int(rec.cached_tokens), rec.output_tokens_target, _int(rec.output_tokens),
            "true" if rec.output_tokens_estimated else "false", rec.status, rec.error_type or "",
            _int(rec.http_status),
            _ms(sum(itl) / len(itl) if itl else None), rec.content_chunks, rec.response_id or "",
        ])
        written = self._csv.append(line)
        if written:
            self.rows += 1
        else:
            self.unwritten += 1
        if not rec.ok:
            kind, message = rec.error_type or "-", rec.error_message or ""
            if message.startswith(f"{kind}:"):       # "HTTP 503: HTTP 503: ..." says it twice
                message = message[len(kind) + 1:].lstrip()
            self.log_error(f"phase {rec.phase} {rec.status} {kind}: {message}")
        return written

    def log_error(self, message: str) -> None:
        message = self.scrubber.scrub(message)
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        self._errors.append(f"{stamp} {' '.join(message.split())}\n")

    def finish(self, summary: RunSummary) -> list[str]:
        """Close the streams and write summary.json, summary.md and the charts; returns the
        names of the files that could not be written (a full disk), empty when all were."""
        self.close()
        title = f"tokenflood {summary.run_name} on {summary.model} ({summary.status})"
        chart_files = ["latency_quantiles.txt", "latency_quantiles.html"]
        unsaved = []
        for files, write in (
                ([SUMMARY_FILE], lambda: (self.path / SUMMARY_FILE).write_text(
                    summary.to_json(), encoding="utf-8")),
                (["summary.md"], lambda: (self.path / "summary.md").write_text(
                    report.markdown(summary), encoding="utf-8")),
                (chart_files, lambda: charts.save(summary.phases, summary.percentiles, self.path,
                                                  title))):
            try:
                write()
            except OSError:
                unsaved += files
                for name in files:      # a torn file would read as a broken one
                    (self.path / name).unlink(missing_ok=True)
        return unsaved

    def close(self) -> None:
        self._csv.close()
        self._errors.close()


def _s(t: float | None, t0: float) -> str:
    return "" if t is None else f"{t - t0:.6f}"


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _int(v: int | None) -> str:
    return "" if v is None else str(v)
