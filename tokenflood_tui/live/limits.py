"""What a live view says of a hosted provider's rate limits: the headroom left (the lowest of
the phase or poll so far, per limit, and when it resets) and the refusals by kind
(docs/metrics.md#rate-limits). Shared by the headless lines and the TUI's status lines."""

from __future__ import annotations

from ..metrics.summary import PhaseStats
from ..outputs import formats


def headroom_text(ph: PhaseStats) -> str | None:
    """'headroom requests 0/12 (0%) resets in 57 s, tokens 1,961/2,000 (98%) resets in 57 s',
    the tightest first; None where the provider announced no limit."""
    limits = ph.rate_limits
    if limits is None or not limits.limits:
        return None
    tight = sorted(limits.limits, key=lambda lim: (2.0 if lim.lowest_share is None
                                                   else lim.lowest_share, lim.lowest_remaining))
    return "headroom " + ", ".join(
        formats.headroom(lim.kind, lim.lowest_remaining, lim.limit,
                         None if lim.reset_s is None else round(lim.reset_s))
        for lim in tight)


def throttled_text(ph: PhaseStats) -> str | None:
    """'throttled 12: requests 12' beside the failures; None when nothing was refused."""
    limits = ph.rate_limits
    if limits is None or not limits.throttled:
        return None
    kinds = ", ".join(f"{kind} {n}" for kind, n in limits.throttled_by_kind.items())
    return f"throttled {limits.throttled}: {kinds}"
