"""What a live view says about the server while a phase runs: its latest figures and a one-line
verdict — queueing, memory-bound, compute-bound, or the client/network — stated only when the
server's own metrics support it (docs/metrics.md#server-verdict). Shared by headless and the TUI.

A feed keeps the running phase's scrapes (one a second) and the client's recent TTFT beside
them; a new phase starts it afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..metrics.server import ServerPoint
from ..outputs import formats
from ..run.coordinator import RunSnapshot

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
