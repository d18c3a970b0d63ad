"""Secrets in endpoint specs: what counts as one, env-var references, and scrubbing (docs/config.md#secrets).

An endpoint spec can carry secrets in four places: the key named by `api_key_env_var`, header
values (`extra_headers`, and `metrics_headers` sent to the metrics URL) whose name suggests a
secret (or that come from an env var), secret-named `litellm_params`
(and `extra_body`) values, and userinfo in `base_url` (`http://user:pass@host/v1`). A `Scrubber`
knows every one of them, in the forms a server or gateway is likely to echo back, and replaces
them in any text before it leaves the program (errors.log, summaries, terminal, TUI log).

Forms covered, for each secret: the raw value, percent-encoded (`quote`, `quote_plus`), JSON-escaped
(`\\"`, `\\/`); for an `Authorization`-style value `<scheme> <credentials>` also the credentials
alone, and for `Basic` their base64-decoded `user:pass` and password; for a URL password the raw
and the percent-decoded password, `user:pass` and its base64 (what a client sends as Basic auth).
Not covered: other encodings (hex, base64 of a bare key), a server's own partial masking, case
changes. Secrets shorter than 8 characters are only replaced where they stand alone (not inside
a longer word), so a short value does not shred every message.

Values may be given by reference instead, resolved at run time and never saved:
`os.environ/NAME` (litellm's convention: the whole value) or `${NAME}` inside a string
(`Authorization: Bearer ${GATEWAY_TOKEN}`). Saved configs keep the reference, not the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, unquote, urlsplit

from ..errors import ConfigError


REDACTED = "***redacted***"

# Header, parameter and env var names whose values are secrets.
SECRET_NAME = re.compile(
    r"authorization|api[-_]?key|token|secret|cookie|password|passwd|credential|private[-_]?key"
    r"|(?:^|[-_.])auth(?:$|[-_.])", re.I)

SHORT = 8            # shorter secrets are matched only as a whole word
_WHOLE_WORD = r"(?<![A-Za-z0-9]){}(?![A-Za-z0-9])"
# Env vars that litellm and boto read on their own when a spec gives no key (OPENAI_API_KEY,
# AWS_SECRET_ACCESS_KEY, HF_TOKEN, AZURE_CLIENT_SECRET, ...): scrubbed too, if this long.
IMPLICIT_ENV_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|ACCESS_KEY|SECRET(?:_KEY)?|TOKEN|PASSWORD|PASSWD)$", re.I)
IMPLICIT_MIN = 12

_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHOLE_REF = re.compile(rf"os\.environ/({_ENV_NAME})")
_INLINE_REF = re.compile(rf"\$\{{({_ENV_NAME})\}}")
_ONLY_REFS = re.compile(rf"os\.environ/{_ENV_NAME}|(?:[A-Za-z]+ +)?\$\{{{_ENV_NAME}\}}")
_AUTH_VALUE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)\s+(\S+)\s*")
# userinfo of a URL in a text: `user:password@` (the password may hold an unencoded @, so up to
# the last one) and `token@`
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@:]*):([^\s/?#]+)@")
_URL_TOKEN = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#:]+)@")
# an echoed Authorization value tokenflood did not set (e.g. a key litellm read from the env);
# a digit is required so that prose like "Basic authentication" stays readable
_AUTH_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+(?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}=*")


def is_secret_name(name: str) -> bool:
    """Whether a header, parameter or env var name suggests its value is a secret."""
    return bool(SECRET_NAME.search(name))


# ---------------------------------------------------------------------------------------------
# env-var references


def env_refs(value: str) -> list[str]:
    """The env var names a value refers to (`os.environ/NAME` or `${NAME}`)."""
    whole = _WHOLE_REF.fullmatch(value.strip())
    return [whole.group(1)] if whole else _INLINE_REF.findall(value)


def ref_syntax_error(value: str) -> str | None:
    """What is wrong with a malformed reference, or None (values without one are fine). The
    value is not quoted: it may hold a literal secret next to the reference."""
    stripped = value.strip()
    if stripped.startswith("os.environ/") and not _WHOLE_REF.fullmatch(stripped):
        return ("os.environ/ must be followed by an env var NAME and nothing else, "
                "e.g. os.environ/OPENAI_API_KEY")
    if value.count("${") != len(_INLINE_REF.findall(value)):
        return "write an env var reference as ${NAME}, e.g. Bearer ${GATEWAY_TOKEN}"
    return None


def only_references(value: Any) -> bool:
    """True for a value holding no secret itself: `os.environ/NAME`, `${NAME}`, `Bearer ${NAME}`."""
    return isinstance(value, str) and bool(_ONLY_REFS.fullmatch(value.strip()))


def resolve_env_refs(data: Any, where: str, env: Mapping[str, str] | None = None) -> Any:
    """`data` with every reference replaced by its env var's value; ConfigError for an unset one."""
    env = os.environ if env is None else env
    if isinstance(data, dict):
        return {k: resolve_env_refs(v, f"{where}.{k}", env) for k, v in data.items()}
    if isinstance(data, list):
        return [resolve_env_refs(v, f"{where}[{i}]", env) for i, v in enumerate(data)]
    if not isinstance(data, str) or not env_refs(data):
        return data
    for name in env_refs(data):
        if not env.get(name):
            # the value is not quoted: it may hold a literal secret next to the reference
            raise ConfigError(f"{where} refers to the env var {name}, which is not set: "
                              f"export {name}=... and run again")
    whole = _WHOLE_REF.fullmatch(data.strip())
    if whole:
        return env[whole.group(1)]
    return _INLINE_REF.sub(lambda m: env[m.group(1)], data)


# ---------------------------------------------------------------------------------------------
# saved configs


def redact_url(text: str) -> str:
    """URLs in `text` without their password (`http://user:***redacted***@host`); a user without
    a password is taken for a token (`https://TOKEN@host`, as pip does) and hidden too."""
    if "@" not in text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}:{REDACTED}@", text)
    return _URL_TOKEN.sub(lambda m: m[0] if m[2] == REDACTED else f"{m[1]}{REDACTED}@", text)


def redact_data(data: Any) -> Any:
    """A config (as plain data) with secret-named values and URL passwords replaced; references
    to env vars and `*_env_var` names are kept, they are no secrets."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            secret = (isinstance(k, str) and is_secret_name(k) and not k.endswith("_env_var")
                      and v is not None and not only_references(v))
            out[k] = REDACTED if secret else redact_data(v)
        return out
    if isinstance(data, list):
        return [redact_data(v) for v in data]
    if isinstance(data, str):
        return redact_url(data)
    return data


# ---------------------------------------------------------------------------------------------
# the secrets of a spec, and scrubbing


class SecretBearer(Protocol):
    """What secrets are read from: an endpoint spec (this module sits below the spec models)."""

    @property
    def api_key_env_var(self) -> str | None: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def extra_headers(self) -> Mapping[str, str]: ...
    @property
    def metrics_headers(self) -> Mapping[str, str]: ...
    @property
    def extra_body(self) -> Mapping[str, Any]: ...
    @property
    def litellm_params(self) -> Mapping[str, Any]: ...


def endpoint_secrets(endpoint: SecretBearer, env: Mapping[str, str] | None = None) -> set[str]:
    """Every secret value the spec carries or refers to, read from `env` (unset ones skipped)."""
    env = os.environ if env is None else env
    found: set[str] = set()
    if endpoint.api_key_env_var and env.get(endpoint.api_key_env_var):
        found.add(env[endpoint.api_key_env_var])
    for name, value in [*endpoint.extra_headers.items(), *endpoint.metrics_headers.items()]:
        refs = env_refs(value)
        found.update(env[r] for r in refs if env.get(r))
        if is_secret_name(name) or refs:
            found |= credential_forms(_resolve_quietly(value, env))
    for params in (endpoint.litellm_params, endpoint.extra_body):
        found |= _secret_leaves(params, env, under_secret=False)
    for url in [endpoint.base_url or "", *strings_in(endpoint.litellm_params)]:
        found |= url_secrets(url)
    # litellm (and boto3) read credentials from the environment on their own when the spec
    # gives none (OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY, ...): a gateway may echo those too.
    found.update(v for k, v in env.items()
                 if IMPLICIT_ENV_NAME.search(k) and len(v.strip()) >= IMPLICIT_MIN)
    return {s for s in found if s.strip()}


def credential_forms(value: str) -> set[str]:
    """A header value, and for `<scheme> <credentials>` the credentials (decoded for Basic)."""
    forms = {value}
    auth = _AUTH_VALUE.fullmatch(value.strip())
    if auth:
        scheme, credentials = auth.groups()
        forms.add(credentials)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            if pair:
                forms.add(pair)
                user, colon, password = pair.partition(":")
                forms.add(password if colon else user)
    return forms


def url_secrets(url: str) -> set[str]:
    """The password of a URL's userinfo (raw and decoded), `user:pass` and its base64; a user
    without a password (a token)."""
    if "@" not in url:
        return set()
    try:
        parts = urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return set()
    if password:
        pair = f"{unquote(user or '')}:{unquote(password)}"
        return {password, unquote(password), pair, base64.b64encode(pair.encode()).decode()}
    if user:
        return {user, unquote(user), base64.b64encode(f"{unquote(user)}:".encode()).decode()}
    return set()


def encodings(secret: str) -> set[str]:
    """The forms in which an echo may carry a secret (see the module docstring)."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), escaped,
            json.dumps(secret, ensure_ascii=False)[1:-1], escaped.replace("/", "\\/")}


class Scrubber:
    """Replaces known secrets (in every covered form) and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()):
        variants = {v for s in secrets for v in encodings(s) if v.strip()}
        parts = [re.escape(v) if len(v) >= SHORT else _WHOLE_WORD.format(re.escape(v))
                 for v in sorted(variants, key=lambda v: (-len(v), v))]   # longest first
        self._known = re.compile("|".join(parts)) if parts else None

    @classmethod
    def for_endpoint(cls, endpoint: SecretBearer, env: Mapping[str, str] | None = None) -> Scrubber:
        return cls(endpoint_secrets(endpoint, env))

    def scrub(self, text: str) -> str:
        # URLs first, so that a URL reads as it does in saved configs (user kept, password hidden)
        text = redact_url(text)
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _AUTH_IN_TEXT.sub(lambda m: f"{m[1]} {REDACTED}", text)

    def scrub_data(self, data: Any) -> Any:
        """Every string in nested dicts and lists scrubbed (a summary before it is written)."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, dict):
            return {self.scrub_data(k): self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.scrub_data(v) for v in data]
        return data


def _resolve_quietly(value: str, env: Mapping[str, str]) -> str:
    try:
        return resolve_env_refs(value, "", env)
    except ConfigError:   # unset: the client will say so; nothing to scrub yet
        return value


def _secret_leaves(data: Any, env: Mapping[str, str], under_secret: bool) -> set[str]:
    """Strings under secret-named keys, and the values of env references anywhere."""
    found: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            secret = under_secret or (isinstance(k, str) and is_secret_name(k)
                                      and not k.endswith("_env_var"))
            found |= _secret_leaves(v, env, secret)
    elif isinstance(data, list):
        for v in data:
            found |= _secret_leaves(v, env, under_secret)
    elif isinstance(data, str):
        refs = env_refs(data)
        found.update(env[r] for r in refs if env.get(r))
        if under_secret:
            found |= credential_forms(_resolve_quietly(data, env))
    return found


def strings_in(data: Any) -> list[str]:
    """Every string in nested dicts and lists."""
    if isinstance(data, dict):
        return [s for v in data.values() for s in strings_in(v)]
    if isinstance(data, list):
        return [s for v in data for s in strings_in(v)]
    return [data] if isinstance(data, str) else []


def public_url(url: str) -> str:
    """The URL as it may be shown or kept: without a user, password, query or fragment (where
    a key may sit)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
