"""What a live view says about the server while a phase runs: its latest figures and a one-line
verdict — queueing, memory-bound, compute-bound, or the client/network — stated only when the
server's own metrics support it (docs/metrics.md#server-verdict). Shared by headless and the TUI.

A feed keeps the running phase's scrapes (one a second) and the client's recent TTFT beside
them; a new phase starts it afresh. A series (`ServerSeries`) keeps the run's scrapes for the
TUI's server panel: one column per scrape, the client's TTFT at each beside the server's figures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..metrics.server import ServerPoint
from ..outputs import formats
from ..run.coordinator import RunSnapshot
from ..specs import EndpointSpec
from ..specs.secrets import public_url

Kind = Literal["queueing", "memory-bound", "compute-bound", "client/network"]
KV_FULL = 0.9               # KV-cache usage at or above this is a full cache
RISING = 1.2                # a figure this much above where the phase began has risen
CLIENT_GROWTH = 2.0         # the client's TTFT grew this much while the server's did not
MIN_SCRAPES = 3             # a verdict needs this many scrapes of the phase


@dataclass(frozen=True, slots=True)
class ServerVerdict:
    phase: int
    kind: Kind
    why: str                # the figures that support it

    @property
    def text(self) -> str:
        return f"phase {self.phase}: server {self.kind}: {self.why}"


@dataclass(slots=True)
class ServerFeed:
    """The running phase's server scrapes and client TTFTs; `update` per snapshot."""

    phase: int = 0
    points: list[ServerPoint] = field(default_factory=list)
    client_ttft: list[float] = field(default_factory=list)
    batch_limit: float = 0.0          # the most requests the server ran at once in this run
    said: ServerVerdict | None = None

    def update(self, snap: RunSnapshot) -> ServerVerdict | None:
        """The verdict when it changed since the last call (None: unchanged, or nothing to say)."""
        point = snap.server
        running = snap.phases[-1] if snap.phases and snap.stage in ("running",
                                                                   "draining") else None
        if point is None or running is None or point.phase != running.phase:
            return None
        if running.phase != self.phase:
            self.phase, self.points, self.client_ttft = running.phase, [], []
        if self.points and self.points[-1].t >= point.t:
            return None
        self.points.append(point)
        self.batch_limit = max(self.batch_limit, point.running or 0.0)
        if running.recent_ttft_ms is not None:
            self.client_ttft.append(running.recent_ttft_ms)
        verdict = self.verdict()
        if verdict is None or (self.said is not None and self.said.kind == verdict.kind
                               and self.said.phase == verdict.phase):
            return None
        self.said = verdict
        return verdict

    def verdict(self) -> ServerVerdict | None:
        """What the phase's scrapes support, the strongest first; None when nothing does."""
        pts = self.points
        if len(pts) < MIN_SCRAPES:
            return None
        last = pts[-1]
        recent = pts[-MIN_SCRAPES:]
        kv = last.kv_usage
        preempting = any((p.preemptions_per_s or 0) > 0 for p in recent)
        if preempting:
            return ServerVerdict(self.phase, "memory-bound", _figures(
                last, f"preempting {formats.number(last.preemptions_per_s, 1)}/s"))
        waiting = [p.waiting or 0.0 for p in recent]
        if all(p.waiting is not None for p in recent) and min(waiting) > 0:
            trend = "not falling" if waiting[-1] >= waiting[0] else "draining"
            return ServerVerdict(self.phase, "queueing", _figures(
                last, f"{formats.number(last.waiting, 0)} waiting, {trend}"))
        if kv is not None and kv >= KV_FULL:
            return ServerVerdict(self.phase, "memory-bound", _figures(last, "KV cache full"))
        itl = [p.itl_p50_ms for p in pts if p.itl_p50_ms is not None]
        if (last.running is not None and self.batch_limit and last.running >= self.batch_limit
                and all((p.waiting or 0) == 0 for p in recent) and len(itl) >= 2
                and itl[-1] >= RISING * itl[0]):
            return ServerVerdict(self.phase, "compute-bound", _figures(
                last, f"ITL p50 {formats.ms(itl[0])} → {formats.ms(itl[-1])}, no queue"))
        server = [p.ttft_p50_ms for p in pts if p.ttft_p50_ms is not None]
        client = self.client_ttft
        if (len(client) >= 2 and client[0] > 0 and client[-1] >= CLIENT_GROWTH * client[0]
                and len(server) >= 2 and server[-1] < RISING * server[0]
                and all((p.waiting or 0) == 0 for p in recent)):
            return ServerVerdict(self.phase, "client/network", (
                f"client TTFT {formats.ms(client[0])} → {formats.ms(client[-1])}, the server's "
                f"{formats.ms(server[0])} → {formats.ms(server[-1])}"))
        return None


def _figures(p: ServerPoint, lead: str) -> str:
    parts = [lead]
    if p.running is not None:
        parts.append(f"{formats.number(p.running, 0)} running")
    if p.kv_usage is not None:
        parts.append(f"KV {formats.share(p.kv_usage)}")
    return ", ".join(parts)


def server_line(p: ServerPoint | None) -> str | None:
    """'server: 2 running, 14 waiting, KV 100%, 80 tok/s out' (n/a figures left out)."""
    if p is None:
        return None
    parts = []
    if p.running is not None:
        parts.append(f"{formats.number(p.running, 0)} running")
    if p.waiting is not None:
        parts.append(f"{formats.number(p.waiting, 0)} waiting")
    if p.kv_usage is not None:
        parts.append(f"KV {formats.share(p.kv_usage)}")
    if p.preemptions_per_s:
        parts.append(f"preempting {formats.number(p.preemptions_per_s, 1)}/s")
    if p.generation_tokens_per_s is not None:
        parts.append(f"{formats.number(p.generation_tokens_per_s, 0)} tok/s out")
    return "server: " + ", ".join(parts) if parts else None


# ---------------------------------------------------------------------------------------------
# the server panel's series

SERIES_POINTS = 1800        # scrapes kept for the panel: half an hour at one a second
CLIENT_TTFT = "client_ttft_ms"


@dataclass(frozen=True, slots=True)
class Signal:
    """One row of the server panel: a ServerPoint field (or the client's TTFT), drawn from 0."""

    key: str
    label: str
    text: Callable[[float | None], str]
    top: float | None = None         # a fixed top of the scale (KV usage: 100%), else the highest


SIGNALS = (
    Signal("waiting", "waiting", lambda v: formats.number(v, 0)),
    Signal("running", "running", lambda v: formats.number(v, 0)),
    Signal("kv_usage", "KV cache", formats.share, top=1.0),
    Signal("preemptions_per_s", "preempt/s", lambda v: formats.number(v, 1)),
    Signal("generation_tokens_per_s", "tok/s out", lambda v: formats.number(v, 0)),
    Signal(CLIENT_TTFT, "TTFT", lambda v: formats.ms(v)),
)
NOT_PUBLISHED = "n/a"


@dataclass(slots=True)
class ServerSeries:
    """The run's scrapes under load (phase 1 on) in order, and the client's TTFT at each: the
    median of the running phase's latest requests when the scrape reached the view. The newest
    SERIES_POINTS are kept, so a run of days costs no more memory than half an hour."""

    url: str | None = None           # where the metrics are read (without a password)
    off: str | None = None           # why there are no server metrics, one line
    points: deque[ServerPoint] = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))
    client_ttft: deque[float | None] = field(
        default_factory=lambda: deque(maxlen=SERIES_POINTS))

    @classmethod
    def for_endpoint(cls, endpoint: EndpointSpec) -> ServerSeries:
        """An empty series, off from the start when the run reads no metrics at all."""
        url = endpoint.metrics_endpoint
        if not endpoint.metrics:
            return cls(off="server metrics off: metrics: off in endpoint.yml")
        if url is None:
            return cls(off="server metrics off: a hosted API publishes none; set metrics_url "
                           "in endpoint.yml if yours does")
        return cls(url=public_url(url))

    @property
    def waiting(self) -> str:
        """What the panel says before the first scrape under load."""
        return (f"server metrics from {self.url}: none read under load yet (a scrape about "
                "once a second)")

    def update(self, snap: RunSnapshot) -> bool:
        """Take the snapshot's scrape when it is new; True when the series changed."""
        if snap.server_off is not None and self.off != snap.server_off:
            self.off = snap.server_off
            return True
        point = snap.server
        if point is None or point.phase < 1 or (self.points and self.points[-1].t >= point.t):
            return False
        phase = next((ph for ph in reversed(snap.phases) if ph.phase == point.phase), None)
        self.points.append(point)
        self.client_ttft.append(phase.recent_ttft_ms if phase is not None else None)
        return True

    def values(self, signal: Signal) -> list[float | None]:
        if signal.key == CLIENT_TTFT:
            return list(self.client_ttft)
        return [getattr(p, signal.key) for p in self.points]

    def published(self, signal: Signal) -> bool:
        """Whether the engine publishes it: a signal no scrape carried is n/a, never 0."""
        return any(v is not None for v in self.values(signal))

    def latest(self, signal: Signal) -> str:
        """The newest figure, as the panel shows it beside the row ('n/a' when not published)."""
        if not self.published(signal):
            return NOT_PUBLISHED
        return signal.text(next(v for v in reversed(self.values(signal)) if v is not None))

    def phases(self) -> list[int]:
        return [p.phase for p in self.points]


def spread(values: list[float | None], width: int) -> list[float | None]:
    """One value per column, left to right: one scrape per column while they fit (the axis is
    time, so it is not stretched), else the highest of each equal share of them, so a spike is
    never averaged away (None where a share has no figure)."""
    n = len(values)
    if n <= width:
        return list(values)
    out: list[float | None] = []
    for col in range(width):
        share = [v for v in values[col * n // width:max(col * n // width + 1,
                                                       (col + 1) * n // width)]
                 if v is not None]
        out.append(max(share) if share else None)
    return out


def phase_axis(phases: list[int], width: int) -> str:
    """'1─────2─────3──': each phase's number where its first scrape is, on the columns of
    `spread`."""
    n = len(phases)
    cols = phases if n <= width else [phases[col * n // width] for col in range(width)]
    axis: list[str] = []
    for i, phase in enumerate(cols):
        if len(axis) > i:                # a number of two digits took this column
            continue
        if i == 0 or cols[i - 1] != phase:
            axis.extend(str(phase))
        else:
            axis.append("─")
    return "".join(axis[:len(cols)])
