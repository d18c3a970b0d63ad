"""Hosted providers' rate limits, read from each response (docs/metrics.md#rate-limits).

OpenAI and Azure announce them in `x-ratelimit-*` headers, Anthropic in `anthropic-ratelimit-*`
(input and output token families too); a 429 may add `retry-after[-ms]`. Gemini and Bedrock say
nothing until they refuse: Gemini's body carries `QuotaFailure` and `RetryInfo`, Bedrock's a
`ThrottlingException`. Everything here is normalised to limits of a kind (requests, tokens,
input_tokens, output_tokens) with resets in seconds, and a refusal to the kind of throttle it was.

A record keeps only its lowest headroom (`Headroom`) and its throttle's kind and retry-after: a
phase wants the lowest remaining share seen and which limit it was, not every header.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# the limits a provider announces
REQUESTS = "requests"
TOKENS = "tokens"
INPUT_TOKENS = "input_tokens"
OUTPUT_TOKENS = "output_tokens"
LIMIT_KINDS = (REQUESTS, TOKENS, INPUT_TOKENS, OUTPUT_TOKENS)

# what a throttled request ran into (RequestRecord.throttle)
THROTTLE_REQUESTS = "requests"          # requests per minute
THROTTLE_TOKENS = "tokens"              # tokens per minute (input, output or both)
THROTTLE_UNKNOWN = "rate_limit"         # a 429 that did not say which
QUOTA = "quota_exhausted"               # the account's quota or a per-day limit: spent
SPEND_LIMIT = "spend_limit"             # Anthropic's spend limit
TOO_LARGE = "request_too_large"         # one request above the limit: it never fits
OVERLOADED = "overloaded"               # the provider's load (Anthropic 529), not the account's
# throttles no wait ends within a run: the run stops at the first
FATAL = frozenset({QUOTA, SPEND_LIMIT, TOO_LARGE})

# what to do about a fatal throttle, said when the run stops
ADVICE = {
    QUOTA: "the account's quota is spent: add credit or raise the quota (or wait for a daily "
           "quota to reset), then run again",
    SPEND_LIMIT: "the organisation's spend limit is reached: raise it in the provider's console, "
                 "then run again",
    TOO_LARGE: "one request is larger than the limit allows: lower the prompt or output tokens "
               "(max_tokens counts) or raise the limit",
}

# the statuses a throttle comes with: 429, a quota behind Azure's API Management (403), a
# request too large (Anthropic's 413), Anthropic's overload (529)
REFUSALS = frozenset({403, 413, 429, 529})

AWS_THROTTLES = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})

_OPENAI = re.compile(r"x-ratelimit-(limit|remaining|reset)-(requests|tokens)$")
_ANTHROPIC = re.compile(r"anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-"
                        r"(limit|remaining|reset)$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class Limit:
    """One announced limit: its size, what remains of it, and in how many seconds it resets."""

    kind: str
    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None

    @property
    def share(self) -> float | None:
        """What remains of it, 0 to 1 (None when the provider gave no limit, as Azure may not)."""
        if self.limit is None or self.remaining is None or self.limit <= 0:
            return None
        return max(0.0, min(1.0, self.remaining / self.limit))


@dataclass(frozen=True, slots=True)
class Headroom:
    """A response's lowest limit: the one with the least remaining share (or count, where no
    limit was given). What a RequestRecord keeps."""

    kind: str
    remaining: int
    limit: int | None
    reset_s: float | None

    @property
    def share(self) -> float | None:
        return Limit(self.kind, self.limit, self.remaining, self.reset_s).share


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Everything a response said about the account's limits."""

    limits: tuple[Limit, ...] = ()
    retry_after_s: float | None = None

    def lowest(self) -> Headroom | None:
        known = [lim for lim in self.limits if lim.remaining is not None]
        if not known:
            return None
        low = min(known, key=lambda lim: (lim.share if lim.share is not None else 2.0,
                                          lim.remaining))
        assert low.remaining is not None
        return Headroom(low.kind, low.remaining, low.limit, low.reset_s)


def read_headers(headers: Mapping[str, str], now: float | None = None) -> RateLimits:
    """The limits in a response's headers (any case; litellm's `llm_provider-` prefix too).
    `now`: the wall clock, for Anthropic's resets given as a time of day."""
    found: dict[str, dict[str, Any]] = {}
    retry_after = retry_after_ms = None
    for raw_name, value in headers.items():
        name = raw_name.lower().removeprefix("llm_provider-")
        value = str(value).strip()
        if name == "retry-after":
            retry_after = _seconds(value, now)
        elif name == "retry-after-ms":
            number = _number(value)
            retry_after_ms = number / 1000.0 if number is not None else None
        elif (m := _OPENAI.match(name)) is not None:
            field_, kind = m.groups()
            _put(found, kind, field_, value, now)
        elif (m := _ANTHROPIC.match(name)) is not None:
            kind, field_ = m.groups()
            _put(found, kind.replace("-", "_"), field_, value, now)
    limits = tuple(Limit(kind, **found[kind]) for kind in LIMIT_KINDS if kind in found)
    return RateLimits(limits, retry_after_ms if retry_after_ms is not None else retry_after)


def _put(found: dict[str, dict[str, Any]], kind: str, field_: str, value: str,
         now: float | None) -> None:
    slot = found.setdefault(kind, {})
    if field_ == "reset":
        slot["reset_s"] = _seconds(value, now)
    else:
        number = _number(value)
        if number is not None:
            slot[field_] = int(number)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _seconds(text: str, now: float | None) -> float | None:
    """A reset or retry-after as seconds from now: a number of seconds (Azure, retry-after), a
    Go duration (OpenAI: `1s`, `6m0s`, `12ms`) or a time of day (Anthropic's RFC 3339, an HTTP
    date)."""
    number = _number(text)
    if number is not None:
        return max(0.0, number)
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNITS[u] for n, u in parts)
    at = _instant(text)
    if at is None:
        return None
    return max(0.0, at - (time.time() if now is None else now))


def _instant(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class Throttle:
    """A refusal that was the account's limits or the provider's load."""

    kind: str
    retry_after_s: float | None = None
    said: str | None = None       # the provider's own words, from its error body

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL


def read_refusal(status: int | None, body: str, headers: Mapping[str, str] | None = None,
                 now: float | None = None) -> Throttle | None:
    """What kind of throttle an error response was, from its status, body and headers; None
    when it was no throttle. OpenAI and Azure (429, `insufficient_quota`, `Request too large`),
    Anthropic (`rate_limit_error`, spend limit, 413, 529 `overloaded_error`), Gemini
    (`RESOURCE_EXHAUSTED` with `QuotaFailure` and `RetryInfo`), Bedrock (`ThrottlingException`,
    `ServiceQuotaExceededException`)."""
    error_type = ""
    for name, value in (headers or {}).items():
        if name.lower() in ("x-amzn-errortype", "llm_provider-x-amzn-errortype"):
            error_type = str(value).split(":")[0]
    # (Bedrock's ServiceQuotaExceededException comes as a 400)
    if status is not None and status not in REFUSALS and error_type not in AWS_THROTTLES:
        return None
    limits = read_headers(headers or {}, now)
    data = _json(body)
    found = data.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(err.get("code") or data.get("__type") or error_type or "")
    kind_of = str(err.get("type") or "")
    found_message = err.get("message") or data.get("message") or data.get("Message")
    said = " ".join(str(found_message).split())[:300] if found_message else None
    message = str(found_message or body)
    low = message.lower()
    retry = limits.retry_after_s if limits.retry_after_s is not None else _retry_delay(err)
    gemini = str(err.get("status") or "") == "RESOURCE_EXHAUSTED"
    text = f"{code} {kind_of} {low}".lower()
    if status == 529 or "overloaded_error" in text:
        return Throttle(OVERLOADED, retry, said)
    if "insufficient_quota" in text or "servicequotaexceeded" in text \
            or (status == 403 and "quota" in low and ("exceeded" in low or "out of" in low)):
        return Throttle(QUOTA, retry, said)
    if "spend limit" in low or "spend_limit" in text:
        return Throttle(SPEND_LIMIT, retry, said)
    if "request too large" in low or "request_too_large" in text or status == 413:
        return Throttle(TOO_LARGE, retry, said)
    if gemini:
        quota = " ".join(str(v.get("quotaId") or "") for v in _violations(err)).lower()
        if "perday" in quota:
            return Throttle(QUOTA, retry, said)
        kind = (THROTTLE_TOKENS if "token" in quota else THROTTLE_REQUESTS if "request" in quota
                else THROTTLE_UNKNOWN)
        return Throttle(kind, retry, said)
    if status == 429 or "throttlingexception" in text or "rate_limit" in text:
        kind = kind_of if kind_of in (THROTTLE_REQUESTS, THROTTLE_TOKENS) else ""
        if not kind:
            kind = (THROTTLE_TOKENS if "token" in low else THROTTLE_REQUESTS if "request" in low
                    else THROTTLE_UNKNOWN)
        return Throttle(kind, retry, said)
    return None


def _json(body: str) -> dict[str, Any]:
    """The error body as JSON, also where it sits inside a longer message (litellm's)."""
    for text in (body, body[body.find("{"):] if "{" in body else ""):
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]          # Gemini's REST errors may come as a one-element list
        if isinstance(data, dict):
            return data
    return {}


def _details(err: dict[str, Any]) -> list[dict[str, Any]]:
    details = err.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _violations(err: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for detail in _details(err):
        if str(detail.get("@type", "")).endswith("QuotaFailure"):
            out += [v for v in detail.get("violations") or () if isinstance(v, dict)]
    return out


def _retry_delay(err: dict[str, Any]) -> float | None:
    """Gemini's RetryInfo.retryDelay ("23s", "1.5s")."""
    for detail in _details(err):
        if str(detail.get("@type", "")).endswith("RetryInfo"):
            return _seconds(str(detail.get("retryDelay") or ""), None)
    return None
