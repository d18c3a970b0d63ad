"""What tokenflood keeps between sessions in the user's config folder (settings.yml and the home
screen's picks are the TUI's; see tui/settings.py), and the rate limits last seen per endpoint.

A hosted provider says its rate limits only in its responses, and the budget prompt comes before
anything is sent: so whenever a run's warm-up or the endpoint editor's test reads limits, they
are remembered here, by endpoint, for the next budget prompt to hold the plan against ("limits
seen <when>"). The warm-up's own check stays the one that counts once the run is confirmed.

No secret is kept: an endpoint is known by its provider, model, deployment, the name of its key's
variable and its base URL without user, password, query or fragment. Reading or writing the file
never fails a run: without it, nothing is remembered. Two runs writing at once: the last wins
(each write is atomic; one of the two sightings may be lost, never the file).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from ..metrics.ratelimits import Limit, RateLimits
from ..specs import EndpointSpec
from ..specs.secrets import public_url

CONFIG_DIR_ENV = "TOKENFLOOD_CONFIG_DIR"
LIMITS_FILE = "limits-seen.json"
MAX_ENDPOINTS = 100         # the most recently seen are kept

WARM_UP = "the warm-up"             # who read them
ENDPOINT_TEST = "the endpoint test"


def config_dir() -> Path:
    """`$TOKENFLOOD_CONFIG_DIR` if set, else the platform's user config folder for tokenflood."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("tokenflood")


class SeenLimit(BaseModel):
    """One limit as a response announced it (metrics.ratelimits.Limit, kept)."""

    model_config = ConfigDict(extra="ignore")

    kind: str
    limit: int | None = None
    remaining: int | None = None


class SeenLimits(BaseModel):
    """The limits an endpoint announced last, when, and who read them."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str               # as people read it: "gpt-4o-mini (openai) at https://…/v1"
    seen_utc: float             # seconds since the epoch
    by: str                     # WARM_UP or ENDPOINT_TEST
    limits: list[SeenLimit]

    def rate_limits(self) -> RateLimits:
        """As the warm-up's check reads them (no resets: they were for then)."""
        return RateLimits(tuple(Limit(lim.kind, lim.limit, lim.remaining) for lim in self.limits))


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoints: dict[str, SeenLimits] = {}      # by endpoint_key, the last seen last


def limits_path() -> Path:
    return config_dir() / LIMITS_FILE


def endpoint_key(endpoint: EndpointSpec) -> str:
    """Who the limits belong to: the account (its key's variable) and the model at a URL."""
    return " | ".join([endpoint.provider, endpoint.model, endpoint.deployment or "",
                       endpoint.api_key_env_var or "", _public(endpoint.base_url)])


def endpoint_label(endpoint: EndpointSpec) -> str:
    where = f" at {_public(endpoint.base_url)}" if endpoint.base_url else ""
    return f"{endpoint.deployment or endpoint.model} ({endpoint.provider}){where}"


def remember_limits(endpoint: EndpointSpec, limits: RateLimits, by: str,
                    now: float | None = None) -> None:
    """Keep the limits `endpoint` announced (those with a size or what remains), for the next
    budget prompt; nothing when it announced none."""
    kept = [SeenLimit(kind=lim.kind, limit=lim.limit, remaining=lim.remaining)
            for lim in limits.limits if lim.limit is not None or lim.remaining is not None]
    if not kept:
        return
    state = _read()
    key = endpoint_key(endpoint)
    state.endpoints.pop(key, None)
    state.endpoints[key] = SeenLimits(endpoint=endpoint_label(endpoint),
                                      seen_utc=time.time() if now is None else now, by=by,
                                      limits=kept)
    state.endpoints = dict(list(state.endpoints.items())[-MAX_ENDPOINTS:])
    _write(state)


def _public(url: str | None) -> str:
    return public_url(url) if url else ""


def recall_limits(endpoint: EndpointSpec) -> SeenLimits | None:
    """The limits `endpoint` announced last, or None when none were seen (or the file is gone)."""
    return _read().endpoints.get(endpoint_key(endpoint))


def _read() -> _File:
    try:
        return _File.model_validate_json(limits_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError, ValueError):
        return _File()


def _write(state: _File) -> None:
    write_json(limits_path(), state.model_dump())


def write_json(path: Path, data: object) -> None:
    """Replace `path` with `data` as JSON, atomically (a reader sees the old file or the new);
    a read-only config folder only means nothing is remembered."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass
