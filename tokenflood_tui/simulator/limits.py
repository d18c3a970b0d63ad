"""A hosted provider's rate limits, simulated (`--rate-limit rpm=…,tpm=…,quota=…`,
`--limit-headers openai|azure|anthropic`): requests and tokens per minute over a sliding 60 s
window, every response announcing what remains in the provider's own headers, and a refusal in
its own 429 body.

Tokens are counted as OpenAI, Azure and Bedrock count them when a request starts: the prompt
plus `max_tokens`, refused requests not included. `quota`: the number of requests answered
before the account's quota is spent; every later one gets the provider's refusal that no wait
ends (OpenAI `insufficient_quota`, Azure's API Management 403, Anthropic's spend limit).
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:      # aiohttp at serving time only: `tokenflood --help` stays fast
    from aiohttp import web

LimitHeaders = Literal["openai", "azure", "anthropic"]
LIMIT_HEADERS: tuple[LimitHeaders, ...] = ("openai", "azure", "anthropic")
WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    rpm: int | None = None
    tpm: int | None = None
    quota: int | None = None
    headers: LimitHeaders = "openai"

    def validate(self) -> None:
        for name in ("rpm", "tpm", "quota"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "quota" else 1):
                raise ValueError(f"rate limit {name} must be >= {0 if name == 'quota' else 1}, "
                                 f"got {value}")
        if self.headers not in LIMIT_HEADERS:
            raise ValueError(f"limit headers must be one of {', '.join(LIMIT_HEADERS)}, "
                             f"got {self.headers!r}")

    def describe(self) -> str:
        parts = [f"{n} {getattr(self, n):,}" for n in ("rpm", "tpm") if getattr(self, n)]
        if self.quota is not None:
            parts.append(f"quota of {self.quota:,} requests")
        return f"rate limits: {', '.join(parts) or 'none'}, announced in {self.headers} headers"


def parse_rate_limit(text: str) -> dict[str, int]:
    """`rpm=60,tpm=10000,quota=100` as its numbers; ValueError naming what is wrong."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in ("rpm", "tpm", "quota") or not value.strip().isdigit():
            raise ValueError(f"expected rpm=N, tpm=N and/or quota=N, comma-separated, got {text!r}")
        out[name] = int(value)
    return out


@dataclass(slots=True)
class Verdict:
    """What the limits say of one request: the headers its response carries, and the refusal
    to send instead of an answer (None: admitted)."""

    headers: dict[str, str]
    refusal: web.Response | None = None


class RateLimiter:
    """The account's limits, over a sliding window of the last minute."""

    def __init__(self, config: RateLimitConfig, model: str):
        config.validate()
        self.config = config
        self.model = model
        self.admitted: deque[tuple[float, int, int]] = deque()   # (t, prompt, max_tokens)
        self.answered = 0
        self.refused = 0

    def admit(self, prompt_tokens: int, max_tokens: int, now: float, wall: float) -> Verdict:
        """`now` monotonic, `wall` time.time() (Anthropic's resets are times of day)."""
        window = self.admitted
        while window and window[0][0] <= now - WINDOW_S:
            window.popleft()
        cfg = self.config
        if cfg.quota is not None and self.answered >= cfg.quota:
            self.refused += 1
            return Verdict({}, self._quota_refusal())
        requests = len(window)
        tokens = sum(p + m for _, p, m in window)
        cost = prompt_tokens + max_tokens
        reset = (window[0][0] + WINDOW_S - now) if window else 0.0
        over = None
        if cfg.rpm is not None and requests + 1 > cfg.rpm:
            over = "requests"
        elif cfg.tpm is not None and tokens + cost > cfg.tpm:
            over = "tokens"
        if over is not None:
            self.refused += 1
            # when enough of the window will have left: its oldest entry, at the soonest
            retry = max(reset, 0.001)
            headers = self._headers(requests, tokens, window, reset, wall)
            return Verdict(headers, self._refusal(over, retry, headers, requests, tokens, cost))
        window.append((now, prompt_tokens, max_tokens))
        self.answered += 1
        reset = window[0][0] + WINDOW_S - now
        return Verdict(self._headers(requests + 1, tokens + cost, window, reset, wall))

    # ------------------------------------------------------------------ the provider's shapes

    def _headers(self, requests: int, tokens: int, window: deque, reset_s: float,
                 wall: float) -> dict[str, str]:
        cfg = self.config
        limits = {"requests": (cfg.rpm, requests), "tokens": (cfg.tpm, tokens)}
        out: dict[str, str] = {}
        if cfg.headers == "anthropic":
            prompt = sum(p for _, p, _m in window)
            output = sum(m for _, _p, m in window)
            limits |= {"input-tokens": (cfg.tpm, prompt), "output-tokens": (cfg.tpm, output)}
            at = datetime.fromtimestamp(wall + reset_s, UTC).isoformat(timespec="seconds")
            for kind, (limit, used) in limits.items():
                if limit is not None:
                    out[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
                    out[f"anthropic-ratelimit-{kind}-remaining"] = str(max(0, limit - used))
                    out[f"anthropic-ratelimit-{kind}-reset"] = at.replace("+00:00", "Z")
            return out
        for kind, (limit, used) in limits.items():
            if limit is None:
                continue
            out[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
            if cfg.headers == "openai":        # Azure sends what remains alone
                out[f"x-ratelimit-limit-{kind}"] = str(limit)
                out[f"x-ratelimit-reset-{kind}"] = _go_duration(reset_s)
        return out

    def _refusal(self, over: str, retry_s: float, headers: dict[str, str], requests: int,
                 tokens: int, cost: int) -> web.Response:
        cfg = self.config
        headers = dict(headers)
        seconds = math.ceil(retry_s)
        headers["retry-after"] = str(seconds)
        if cfg.headers == "anthropic":
            what = ("requests per minute" if over == "requests" else "input tokens per minute")
            limit = cfg.rpm if over == "requests" else cfg.tpm
            body = {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": f"This request would exceed the rate limit for your organization of "
                           f"{limit:,} {what}. For details, refer to: "
                           "https://docs.claude.com/en/api/rate-limits."}}
            return _json(429, body, headers)
        headers["retry-after-ms"] = str(int(retry_s * 1000))
        if cfg.headers == "azure":
            what = "call rate limit" if over == "requests" else "token rate limit"
            body = {"error": {"code": "429", "message":
                    f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                    f"version 2024-10-21 have exceeded {what} of your current OpenAI S0 pricing "
                    f"tier. Please retry after {seconds} seconds."}}
            return _json(429, body, headers)
        used, limit, name = ((requests, cfg.rpm, "requests per min (RPM)") if over == "requests"
                             else (tokens, cfg.tpm, "tokens per min (TPM)"))
        body = {"error": {
            "message": f"Rate limit reached for {self.model} in organization org-simulator on "
                       f"{name}: Limit {limit}, Used {used}, Requested "
                       f"{1 if over == 'requests' else cost}. Please try again in "
                       f"{retry_s:.3g}s.",
            "type": over, "param": None, "code": "rate_limit_exceeded"}}
        return _json(429, body, headers)

    def _quota_refusal(self) -> web.Response:
        shape = self.config.headers
        if shape == "anthropic":       # no retry-after: no wait ends it
            return _json(429, {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": "Your organization has reached its spend limit "
                           "(enforced_spend_limit_reached). Raise it in the Console."}}, {})
        if shape == "azure":           # a quota behind Azure API Management
            return _json(403, {"statusCode": 403, "message": "Out of call volume quota. Quota "
                               "will be replenished in 23:59:59."}, {})
        return _json(429, {"error": {
            "message": "You exceeded your current quota, please check your plan and billing "
                       "details.", "type": "insufficient_quota", "param": None,
            "code": "insufficient_quota"}}, {})


def _go_duration(seconds: float) -> str:
    """OpenAI's reset: a Go duration, '12ms', '1.5s', '6m0s'."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.3g}s"


def _json(status: int, body: dict, headers: dict[str, str]) -> web.Response:
    from aiohttp import web

    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json", headers=headers)
