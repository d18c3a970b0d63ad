"""The results folder (docs/results.md): configs as run, requests.csv appended per request, summaries."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from . import charts, report
from .records import RequestRecord
from .specs import EndpointSpec, RunSuite, slugify, to_yaml

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
        self.path.mkdir(parents=True)
        (self.path / "run.yml").write_text(to_yaml(suite), encoding="utf-8")
        (self.path / "endpoint.yml").write_text(to_yaml(endpoint, redact=True), encoding="utf-8")
        self._csv_file = open(self.path / "requests.csv", "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(CSV_COLUMNS)
        self._csv_file.flush()
        self._errors = open(self.path / "errors.log", "w", encoding="utf-8")
        self.t0: float | None = None
        self.input_tokens = 0
        self.output_tokens = 0

    def write_record(self, rec: RequestRecord) -> None:
        t0 = self.t0 or rec.t_sched
        itl = rec.itl_ms
        self._csv.writerow([
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
        self._csv_file.flush()
        self.input_tokens += rec.prompt_tokens or 0
        self.output_tokens += rec.output_tokens or 0
        if not rec.ok:
            kind, message = rec.error_type or "-", rec.error_message or ""
            if message.startswith(f"{kind}:"):       # "HTTP 503: HTTP 503: ..." says it twice
                message = message[len(kind) + 1:].lstrip()
            self.log_error(f"phase {rec.phase} {rec.status} {kind}: {message}")

    def log_error(self, message: str) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        self._errors.write(f"{stamp} {' '.join(message.split())}\n")
        self._errors.flush()

    def finish(self, summary: dict, phases) -> None:
        """Close the streams and write summary.json, summary.md and the charts."""
        self.close()
        (self.path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (self.path / "summary.md").write_text(report.markdown(summary), encoding="utf-8")
        charts.save(phases, summary["percentiles"], self.path,
                    f"tokenflood {summary['run_name']} on {summary['model']} ({summary['status']})")

    def close(self) -> None:
        if not self._csv_file.closed:
            self._csv_file.close()
        if not self._errors.closed:
            self._errors.close()


def _s(t: float | None, t0: float) -> str:
    return "" if t is None else f"{t - t0:.6f}"


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _int(v: int | None) -> str:
    return "" if v is None else str(v)
