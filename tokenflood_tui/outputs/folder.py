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
import shutil
from datetime import datetime, UTC
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from . import charts, report
from ..errors import ConfigError
from ..metrics.records import RequestRecord, SessionRecord
from ..specs.secrets import Scrubber
from .journal import JOURNAL_FILE, encode
from ..specs import EndpointSpec, ObservationSuite, RunSuite, slugify, to_yaml
from ..metrics.summary import SUMMARY_FILE, RunSummary, pkey
from ..metrics.ratelimits import Headroom
from ..metrics.server import POINT_COLUMNS, SERVER_METRICS_FILE, SERVER_SCRAPES_FILE, ServerPoint

CSV_COLUMNS = [
    "phase", "target_rps", "load_type", "t_sched_s", "t_send_s", "t_first_s", "t_end_s",
    "ttft_ms", "e2e_ms", "scheduled_latency_ms", "dispatch_delay_ms", "tpot_ms",
    "prompt_tokens_target", "prompt_tokens", "prefix_tokens_target", "cached_tokens",
    "output_tokens_target", "output_tokens", "output_tokens_estimated", "status", "error_type",
    "http_status",
    # extra columns, after the ones docs/results.md fixes
    "itl_mean_ms", "content_chunks", "response_id", "poll", "t_sched_utc", "superseded", "seq",
    "worker",
    # a session's request (empty otherwise)
    "session", "session_type", "turn", "step", "context_tokens_target",
    # a reasoning model's (docs/metrics.md#reasoning)
    "t_answer_s", "ttfa_ms", "reasoning_ms", "reasoning_tokens", "reasoning_tokens_estimated",
    "answer_tokens",
    # a hosted provider's rate limits (docs/metrics.md#rate-limits)
    "throttle", "retry_after_s", "limit_kind", "limit_remaining", "limit",
]
# requests.csv of earlier versions: without the rate-limit columns, the reasoning ones, the
# session ones, and without `worker`
EARLIER_WIDTHS = (len(CSV_COLUMNS) - 5, len(CSV_COLUMNS) - 11, len(CSV_COLUMNS) - 16,
                  len(CSV_COLUMNS) - 17)
SESSIONS_FILE = "sessions.csv"
SESSIONS_COLUMNS = [
    "session", "parent", "phase", "session_type", "t_start_s", "duration_s", "turns_done",
    "turns_planned", "end", "prompt_tokens", "cached_tokens", "output_tokens", "wait_s",
    "slowdown", "worker", "superseded",
]
POLLS_COLUMNS = [
    "poll", "slot_utc", "status", "sent", "ok", "failed", "output_tokens_per_s", "missed_reason",
]   # then TTFT and e2e at each suite percentile


def utc_iso(t: float, timespec: str = "milliseconds") -> str:
    """A wall-clock time as ISO 8601 UTC ('2026-12-01T10:15:00.000Z')."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def folder_name(suite: RunSuite, endpoint: EndpointSpec, started: datetime) -> str:
    return f"{started:%Y-%m-%d_%H-%M-%S}_{slugify(suite.name)}_{endpoint.slug}"


def unique_path(path: Path) -> Path:
    """`path`, or path-2, path-3 ... when it exists (two runs started in the same second)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


class AppendOnlyFile:
    """A file that takes whole lines or nothing: a failed write is cut back, never left torn."""

    def __init__(self, path: Path, keep: bool = False):
        """A new file, or with `keep` an existing one appended to (a resumed run's)."""
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if keep else os.O_TRUNC)
        self._fd = os.open(path, flags, 0o644)
        self.size = os.fstat(self._fd).st_size
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
    """Owns one run's folder; every finished request is on disk before the next is recorded.

    `existing`: a resumed run's folder, whose rows, errors and journal are kept and appended to.
    """

    def __init__(self, root: Path, suite: RunSuite, endpoint: EndpointSpec, started: datetime,
                 existing: Path | None = None, name: str | None = None):
        self.root = Path(root)
        self.observation = isinstance(suite, ObservationSuite)
        self.session_types = [t.name for t in getattr(suite, "session_types", [])]
        keep = existing is not None
        self._made_root = not self.root.exists()      # discard() takes it away again
        if existing is not None:
            self.path = Path(existing)
        else:
            self.path = unique_path(self.root / (name or folder_name(suite, endpoint, started)))
        try:
            if not keep:
                self.path.mkdir(parents=True)
                (self.path / "run.yml").write_text(to_yaml(suite), encoding="utf-8")
                (self.path / "endpoint.yml").write_text(to_yaml(endpoint, redact=True),
                                                        encoding="utf-8")
            self._csv = AppendOnlyFile(self.path / "requests.csv", keep)
            self._errors = AppendOnlyFile(self.path / "errors.log", keep)
            self._journal = AppendOnlyFile(self.path / JOURNAL_FILE, keep)
            self._sessions = (AppendOnlyFile(self.path / SESSIONS_FILE, keep)
                              if self.session_types else None)
        except OSError as exc:
            raise ConfigError(f"cannot write the results folder {self.path}: "
                              f"{exc.strerror or exc}; choose another --results-dir") from None
        self.scrubber = Scrubber.for_endpoint(endpoint)   # last line of defence for what is written
        self._keep = keep
        self._server: AppendOnlyFile | None = None     # server_metrics.csv, from the first scrape
        self._server_early: list[ServerPoint] = []     # scrapes before the origin was set
        self._scrapes: AppendOnlyFile | None = None    # server_scrapes.txt
        self._scrapes_early: list[tuple[float, str]] = []
        self._line = io.StringIO()
        self._writer = csv.writer(self._line)
        self.t0: float | None = None           # the monotonic reading rows count from...
        self.origin_utc: float | None = None   # ... and the wall-clock time it stands for
        self.rows = 0              # rows on disk in requests.csv
        self.unwritten = 0         # records that could not be written
        if not keep and not self._csv.append(self._format(CSV_COLUMNS)):
            raise ConfigError(f"cannot write {self._csv.path}: {self.write_error}; free some "
                              "space or choose another --results-dir")
        if not keep and self._sessions is not None:
            self._sessions.append(self._format(SESSIONS_COLUMNS))

    def set_origin(self, t0: float, origin_utc: float) -> None:
        """Rows count seconds from `origin_utc`, the wall-clock time of monotonic `t0` (on a
        resume, the first run's origin, so times go on across the gap)."""
        self.t0, self.origin_utc = t0, origin_utc

    def journal(self, entry: BaseModel) -> None:
        self._journal.append(encode(entry))

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
        sched_utc = (utc_iso(self.origin_utc + rec.t_sched - t0)
                     if self.origin_utc is not None else "")
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
            rec.phase if self.observation else "", sched_utc, "false", rec.seq, rec.worker,
            rec.session, self.session_types[rec.load_type] if rec.session else "",
            rec.turn or "", rec.step, _int(rec.context_tokens_target),
            _s(rec.t_answer, t0), _ms(rec.ttfa_ms), _ms(rec.reasoning_ms),
            _int(rec.reasoning_tokens), "true" if rec.reasoning_tokens_estimated else "false",
            _int(rec.answer_tokens),
            rec.throttle or "", _ms(rec.retry_after_s),
            rec.headroom.kind if rec.headroom else "",
            rec.headroom.remaining if rec.headroom else "",
            _int(rec.headroom.limit) if rec.headroom else "",
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

    def write_session(self, session: SessionRecord) -> None:
        """A session that ended, as a row of sessions.csv (a full disk: it is counted in the
        summary only, as a request row would be)."""
        if self._sessions is None:
            return
        t0 = self.t0 or session.t_start
        slowdown = session.slowdown
        self._sessions.append(self._format([
            session.session, session.parent, session.phase,
            self.session_types[session.session_type], _s(session.t_start, t0),
            f"{session.duration_s:.3f}", session.turns_done, session.turns_planned, session.end,
            session.prompt_tokens, session.cached_tokens, session.output_tokens,
            f"{session.wait_s:.3f}", "" if slowdown is None else f"{slowdown:.3f}",
            session.worker, "false"]))

    def write_server_point(self, point: ServerPoint) -> None:
        """A scrape of the server's metrics as a row of server_metrics.csv (the file is made at
        the first; rows wait for the run's origin, as their times count from it)."""
        if self.t0 is None:
            self._server_early.append(point)
            return
        if self._server is None:
            path = self.path / SERVER_METRICS_FILE
            new = not (self._keep and path.exists() and path.stat().st_size)
            try:
                self._server = AppendOnlyFile(path, keep=not new)
            except OSError:
                return
            if new:
                self._server.append(self._format(["t_s", *POINT_COLUMNS]))
        t0 = self.t0
        for p in (*self._server_early, point):
            self._server.append(self._format(
                [f"{p.t - t0:.3f}", p.phase,
                 *(_figure(getattr(p, name)) for name in POINT_COLUMNS[1:])]))
        self._server_early.clear()

    def write_server_scrape(self, t: float, text: str) -> None:
        """The server's metrics as it wrote them (the baseline, each phase's edges), appended to
        server_scrapes.txt under a line that says when."""
        if self.t0 is None:
            self._scrapes_early.append((t, text))
            return
        if self._scrapes is None:
            try:
                self._scrapes = AppendOnlyFile(self.path / SERVER_SCRAPES_FILE, keep=self._keep)
            except OSError:
                return
        for at, raw in (*self._scrapes_early, (t, text)):
            # scrubbed: a server behind auth may echo the metrics_headers' token in its text
            self._scrapes.append(f"# tokenflood: scraped at t_s={at - self.t0:.3f}\n"
                                 + self.scrubber.scrub(raw.rstrip("\n")) + "\n")
        self._scrapes_early.clear()

    def log_error(self, message: str) -> None:
        message = self.scrubber.scrub(message)
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        self._errors.append(f"{stamp} {' '.join(message.split())}\n")

    def finish(self, summary: RunSummary) -> list[str]:
        """Close the streams and write summary.json, summary.md and the text charts (report.html
        is the runner's: its page code stays out of this layer); returns the
        names of the files that could not be written (a full disk), empty when all were."""
        self.close()
        outputs: list[tuple[list[str], Callable[[], object]]] = [
            ([SUMMARY_FILE], lambda: (self.path / SUMMARY_FILE).write_text(
                summary.to_json(), encoding="utf-8")),
            (["summary.md"], lambda: (self.path / "summary.md").write_text(
                report.markdown(summary), encoding="utf-8"))]
        if summary.type == "observation":
            outputs += [
                (["polls.csv"], lambda: write_polls_csv(self.path / "polls.csv", summary)),
                (["latency_over_time.txt"],
                 lambda: charts.save_over_time(summary.polls, summary.percentiles, self.path))]
        else:
            outputs.append((["latency_quantiles.txt"],
                            lambda: charts.save(summary.phases, summary.percentiles, self.path)))
        unsaved = []
        for files, write in outputs:
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
        self._journal.close()
        if self._sessions is not None:
            self._sessions.close()
        if self._server is not None:
            self._server.close()
        if self._scrapes is not None:
            self._scrapes.close()

    @property
    def measured(self) -> bool:
        """Whether the load began (an origin was set) or any request was recorded: a folder
        without either holds only what was known before the run, so nothing is lost without it."""
        return self.t0 is not None or self.rows > 0 or self.unwritten > 0

    def discard(self) -> None:
        """Remove the folder of a run that failed before its first load request."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        if self._made_root:
            try:
                self.root.rmdir()       # only when empty: another run may have written there
            except OSError:
                pass


def mark_superseded(folder: Path, superseded) -> int:
    """Before a resume: requests.csv with the rows of `superseded(phase)` phases marked
    `superseded` (they stay, but a re-run replaces them), and a torn last line (a process killed
    mid-write) dropped; a session run's sessions.csv likewise (a session's row by the phase it
    started in). Each written to a temporary file and moved over the old one. Returns how many
    rows of requests.csv were marked."""
    folder = Path(folder)
    marked = _mark(folder / "requests.csv", CSV_COLUMNS,
                   [CSV_COLUMNS[:w] for w in EARLIER_WIDTHS], 0, superseded)
    if (folder / SESSIONS_FILE).exists():
        _mark(folder / SESSIONS_FILE, SESSIONS_COLUMNS, [SESSIONS_COLUMNS[:-1]],
              SESSIONS_COLUMNS.index("phase"), superseded)
    return marked


def _mark(path: Path, columns: list[str], earlier: list[list[str]], phase: int,
          superseded) -> int:
    """`path`'s rows whose phase (column `phase`) is `superseded` marked in its `superseded`
    column; rows of an earlier version (a header in `earlier`) padded to `columns`."""
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    rows = list(csv.reader(io.StringIO(text)))
    # a file written before the newest columns: its rows get empty ones
    width = len(rows[0]) if rows and rows[0] in [columns, *earlier] else 0
    if not width:
        raise ConfigError(f"{path}: not the {path.name} of this tokenflood version; it cannot "
                          "be resumed")
    body = rows[1:]
    if body and (len(body[-1]) != width or not text.endswith("\n")):
        body = body[:-1]
    body = [row + [""] * (len(columns) - width) for row in body]
    column = columns.index("superseded")
    marked = 0
    for row in body:
        if row[column] != "true" and superseded(int(row[phase])):
            row[column] = "true"
            marked += 1
        elif not row[column]:
            row[column] = "false"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(body)
    os.replace(tmp, path)
    return marked


def read_rows(folder: Path) -> list[dict[str, str]]:
    """requests.csv as dicts, superseded rows left out, and a torn last line (a process killed
    mid-write) too."""
    with open(Path(folder) / "requests.csv", newline="", encoding="utf-8") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and not text.endswith("\n"):
        rows.pop()
    return [r for r in rows if r.get("superseded") != "true"]


def record_from_row(row: dict[str, str]) -> RequestRecord:
    """A requests.csv row back as the record it was written from (`write_record`'s inverse):
    times in seconds from the run's origin, to the microsecond; the chunk gaps are not in a row
    (only their mean), so `itl_ms` is empty, as is the launch time."""
    def seconds(key: str) -> float | None:
        return float(row[key]) if row[key] else None

    def count(key: str) -> int | None:
        return int(row[key]) if row[key] else None
    return RequestRecord(
        phase=int(row["phase"]), target_rps=float(row["target_rps"]),
        load_type=int(row["load_type"]), t_sched=float(row["t_sched_s"]),
        prompt_tokens_target=int(row["prompt_tokens_target"]),
        prefix_tokens_target=int(row["prefix_tokens_target"]),
        output_tokens_target=int(row["output_tokens_target"]), seq=int(row["seq"] or -1),
        t_send=seconds("t_send_s"), t_first=seconds("t_first_s"), t_end=seconds("t_end_s"),
        t_answer=seconds("t_answer_s") if "t_answer_s" in row else None,
        reasoning_tokens=count("reasoning_tokens") if "reasoning_tokens" in row else None,
        reasoning_tokens_estimated=row.get("reasoning_tokens_estimated") == "true",
        prompt_tokens=count("prompt_tokens"), cached_tokens=count("cached_tokens"),
        output_tokens=count("output_tokens"),
        output_tokens_estimated=row["output_tokens_estimated"] == "true", status=row["status"],
        error_type=row["error_type"] or None, http_status=count("http_status"),
        content_chunks=int(row["content_chunks"] or 0), response_id=row["response_id"] or None,
        worker=row.get("worker") or "", throttle=row.get("throttle") or None,
        retry_after_s=float(row["retry_after_s"]) if row.get("retry_after_s") else None,
        # (the reset is not in a row: when it was due mattered only then)
        headroom=Headroom(row["limit_kind"], int(row["limit_remaining"]), count("limit"), None)
        if row.get("limit_kind") else None)


def write_polls_csv(path: Path, summary: RunSummary) -> None:
    """polls.csv: one row per poll, missed ones too, with TTFT and e2e at each percentile."""
    pcols = [pkey(p) for p in summary.percentiles]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(POLLS_COLUMNS + [f"ttft_{c}_ms" for c in pcols] + [f"e2e_{c}_ms" for c in pcols])
    for poll in summary.polls:
        writer.writerow([poll.phase, poll.slot_utc, "missed" if poll.missed else "ok", poll.sent,
                         poll.ok, poll.failed, _ms(poll.output_tokens_per_s), poll.missed or ""]
                        + [_ms(poll.ttft_ms[c]) for c in pcols] + [_ms(poll.e2e_ms[c]) for c in pcols])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _s(t: float | None, t0: float) -> str:
    return "" if t is None else f"{t - t0:.6f}"


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _figure(v: float | None) -> str:
    """A server figure as written: empty where the engine has none ("n/a", never 0)."""
    return "" if v is None else f"{v:.6g}"


def _int(v: int | None) -> str:
    return "" if v is None else str(v)
