"""What is measured per request (docs/metrics.md)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

# status values, as written to requests.csv
OK = "ok"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
STREAM_ERROR = "stream_error"
CANCELLED = "cancelled"
WORKER_DIED = "worker_died"     # its sender process died with the request in flight


@dataclass(slots=True)
class RequestRecord:
    """One request's timeline and token counts. Times are time.monotonic() seconds."""

    phase: int                          # 1-based; 0 for warm-up and calibration requests
    target_rps: float
    load_type: int
    t_sched: float
    prompt_tokens_target: int
    prefix_tokens_target: int
    output_tokens_target: int
    seq: int = -1                       # the run-wide sequence number of the arrival
    t_launch: float | None = None       # the sender picked it up (before any max_concurrency wait)
    t_send: float | None = None
    t_first: float | None = None        # first chunk with non-empty content or reasoning
    t_end: float | None = None
    prompt_tokens: int | None = None    # from the server's usage
    cached_tokens: int | None = None
    output_tokens: int | None = None
    output_tokens_estimated: bool = False   # no usage: counted content chunks instead
    status: str = OK
    error_type: str | None = None
    http_status: int | None = None
    error_message: str | None = None
    content_chunks: int = 0
    response_id: str | None = None      # the server's id of the completion (correlates logs)
    worker: str = ""                    # who sent it: local, process-N, or a Dask worker@host
    itl_ms: array = field(default_factory=lambda: array("f"))   # gaps between content chunks

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def ttft_ms(self) -> float | None:
        return _ms(self.t_send, self.t_first)

    @property
    def e2e_ms(self) -> float | None:
        return _ms(self.t_send, self.t_end)

    @property
    def scheduled_latency_ms(self) -> float | None:
        return _ms(self.t_sched, self.t_end)

    @property
    def dispatch_delay_ms(self) -> float | None:
        return _ms(self.t_sched, self.t_send)

    @property
    def tpot_ms(self) -> float | None:
        if self.t_first is None or self.t_end is None or not self.output_tokens \
                or self.output_tokens < 2:
            return None
        return (self.t_end - self.t_first) * 1000.0 / (self.output_tokens - 1)

    def fail(self, status: str, error_type: str, message: str, http_status: int | None = None) -> None:
        """Mark the request failed; the first failure wins."""
        if self.status != OK:
            return
        self.status = status
        self.error_type = error_type
        self.error_message = message
        self.http_status = http_status


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) * 1000.0
