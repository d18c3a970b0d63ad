"""The suite `profile` writes: the fitted load types or session type, one phase short enough to
pass the budget check, and a header saying what it was fitted from and how close it comes."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from ..metrics.summary import pkey
from ..outputs import formats
from ..run import budget
from ..run.plan import LoadTestPlanner
from ..specs import EndpointSpec, LoadTestSuite, parse_endpoint, parse_run_suite, slugify
from ..specs.loader import dump_yaml
from .count import Profile, has_system
from .fitting import DRAWS, PLACEHOLDER_OUTPUT, QUANTILES, FitRow, LoadFit, SessionFit

REQUEST_RATE = 1.0          # req/s of the one phase written: the user's to set
SESSION_RATE = 0.2          # sessions/s
LONGEST_S = 60              # the phase's length, shortened until the budget check passes
# the budget check of a profile written with --tokenizer prices nothing: a self-hosted stand-in
STAND_IN = "provider: hosted_vllm\nmodel: profile\nbase_url: http://127.0.0.1:8000/v1\n"


def suite_name(profile: Profile) -> str:
    first = (profile.traffic.folders or profile.traffic.files)[0]
    return slugify(f"profile-{first.stem or first.name}")


def build_suite(profile: Profile, fit: LoadFit | SessionFit, name: str,
                endpoint: EndpointSpec | None) -> tuple[LoadTestSuite, str]:
    """The suite and its YAML text (header first); the phase as long as the budget allows, at
    most LONGEST_S."""
    stand_in = endpoint or parse_endpoint(STAND_IN)
    suite = None
    for seconds in (LONGEST_S, 30, 20, 10, 5):
        suite, text = _suite(profile, fit, name, seconds)
        _, est = budget.plan_and_estimate(suite, stand_in, partial(LoadTestPlanner, suite))
        if not est.over_limits:
            return suite, text
    assert suite is not None
    return suite, text     # even 5 s is over a limit: the run's own check will say which


def _suite(profile: Profile, fit: LoadFit | SessionFit, name: str,
           seconds: int) -> tuple[LoadTestSuite, str]:
    data: dict = {"name": name}
    if isinstance(fit, SessionFit):
        data["sessions_per_second_rates"] = [SESSION_RATE]
        data["test_length_in_seconds"] = seconds
        data["history"] = "echo"
        data["session_types"] = [_whole(fit.session_type.model_dump(
            mode="json", exclude_defaults=True))]
    else:
        data["requests_per_second_rates"] = [REQUEST_RATE]
        data["test_length_in_seconds"] = seconds
        data["load_types"] = [t.model_dump(mode="json", exclude_defaults=True)
                              for t in fit.load_types]
    body = dump_yaml(data, sort_keys=False, width=100, default_flow_style=None)
    text = "".join(f"# {line}".rstrip() + "\n" for line in header(profile, fit)) + body
    suite = parse_run_suite(text, f"{name}.yml")
    assert isinstance(suite, LoadTestSuite)
    return suite, text


def _whole(value):
    """Bounds that are whole numbers written as such (`max: 40`, not `max: 40.0`)."""
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def header(profile: Profile, fit: LoadFit | SessionFit) -> list[str]:
    t = profile.traffic
    what = (f"{plural(len(profile.sessions), 'conversation')} "
            f"({plural(len(profile.requests), 'turn')})" if profile.sessions
            else plural(len(profile.requests), "request"))
    lines = [f"Fitted by `tokenflood profile` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
             f"{what}, format {t.format}, in:"]
    lines += [f"  {f}/ ({sum(1 for x in t.files if f in x.parents)} files)" for f in t.folders]
    lines += [f"  {f}" for f in t.files if not any(d in f.parents for d in t.folders)]
    lines.append(f"tokens: {profile.counter}; chat template {template_text(profile)}")
    lines += output_note(profile)
    lines.append(f"fit: the data's / this suite's ({DRAWS:,} draws, seed 0):")
    lines += fit_lines(fit.rows)
    if isinstance(fit, SessionFit):
        lines.append("think_seconds: not in the data (0); history: echo keeps every request's "
                     "length that of the fit")
    lines.append("the rate is yours to set: this one phase passes the default budget limits")
    return lines


def plural(n: int, noun: str) -> str:
    """'1 request', '12 requests'"""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def template_text(profile: Profile) -> str:
    if not profile.templates:
        return profile.template_note
    parts = []
    in_data = {has_system(c.messages) for c in profile.traffic.conversations}
    for system, t in sorted(profile.templates.items()):
        if system not in in_data:
            continue
        with_system = " with a system prompt" if system else ""
        parts.append(f"+{t.first} tokens a first turn{with_system}, +{t.turn} a later one"
                     if profile.sessions else f"+{t.first} tokens a request{with_system}")
    return f"{'; '.join(parts)} ({profile.template_note})"


def output_note(profile: Profile) -> list[str]:
    if profile.output_source == "none":
        return [f"outputs: not in the data: output tokens {PLACEHOLDER_OUTPUT} is a placeholder, "
                "set yours"]
    if profile.output_source == "max_tokens":
        return ["outputs: the logged max_tokens (no usage logged): the most each reply could be"]
    if profile.output_source == "usage":
        return ["prompts and outputs: the logged usage where there is one, else counted"]
    return []


def fit_lines(rows: list[FitRow]) -> list[str]:
    width = max(len(r.name) for r in rows)
    def pair(r: FitRow, data: float, suite: float) -> str:
        return (f"{formats.number(data, r.digits, grouped=False)}/"
                f"{formats.number(suite, r.digits, grouped=False)}")

    return [f"  {r.name:<{width}}  mean {pair(r, r.data_mean, r.suite_mean)}  " + "  ".join(
        f"{pkey(p)} {pair(r, d, s)}" for p, d, s in zip(QUANTILES, r.data, r.suite, strict=True))
        for r in rows]
