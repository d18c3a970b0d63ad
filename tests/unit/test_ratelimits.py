"""Providers' rate-limit headers and 429 bodies, normalised (metrics/ratelimits.py): the shapes
of docs the providers publish (../shared/notes/server-metrics-and-rate-limits.md)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import numpy as np
import pytest

from tokenflood_tui.metrics.ratelimits import (OVERLOADED, QUOTA, SPEND_LIMIT, THROTTLE_REQUESTS,
                                               THROTTLE_TOKENS, TOO_LARGE, Limit, read_headers,
                                               read_refusal)
from tokenflood_tui.metrics.ratelimits import Headroom, RateLimits
from tokenflood_tui.metrics.records import RATE_LIMITED, RequestRecord
from tokenflood_tui.outputs.folder import ResultsFolder, read_rows, record_from_row
from tokenflood_tui.run import budget
from tokenflood_tui.outputs.state import (ENDPOINT_TEST, WARM_UP, SeenLimit, SeenLimits,
                                          recall_limits, remember_limits)
from tokenflood_tui.run.limits import busiest_minute, plan_warnings
from tokenflood_tui.run.plan import ObservationPlanner
from tokenflood_tui.run.schedule import plan_phases
from tokenflood_tui.simulator.limits import RateLimitConfig, RateLimiter, parse_rate_limit
from tokenflood_tui.specs import EndpointSpec, parse_run_suite

NOW = 1_765_000_000.0     # 2025-12-06T05:46:40Z


def test_openai_headers_give_each_limit_with_its_go_duration_reset_and_the_lowest_share():
    limits = read_headers({
        "X-RateLimit-Limit-Requests": "500", "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "6000", "x-ratelimit-reset-tokens": "6m0s",
        "retry-after": "2", "retry-after-ms": "1500", "content-type": "text/event-stream"})
    assert limits.limits == (Limit("requests", 500, 499, 0.12), Limit("tokens", 30000, 6000, 360.0))
    assert limits.retry_after_s == 1.5           # the ms header is the finer one
    low = limits.lowest()
    assert low is not None and (low.kind, low.remaining, low.limit, low.reset_s) == \
        ("tokens", 6000, 30000, 360.0)
    assert low.share == pytest.approx(0.2)


def test_azure_sends_what_remains_alone_so_the_lowest_is_by_count():
    limits = read_headers({"x-ratelimit-remaining-requests": "90",
                           "x-ratelimit-remaining-tokens": "8000", "retry-after": "7"})
    low = limits.lowest()
    assert low is not None and (low.kind, low.remaining, low.limit, low.share) == \
        ("requests", 90, None, None)
    assert limits.retry_after_s == 7.0


def test_anthropic_headers_give_four_families_with_rfc3339_resets():
    head = "anthropic-ratelimit-"
    limits = read_headers({
        f"{head}requests-limit": "50", f"{head}requests-remaining": "49",
        f"{head}requests-reset": "2025-12-06T05:46:41Z",
        f"{head}input-tokens-limit": "40000", f"{head}input-tokens-remaining": "4000",
        f"{head}input-tokens-reset": "2025-12-06T05:47:40Z",
        f"{head}output-tokens-limit": "8000", f"{head}output-tokens-remaining": "7000",
        f"{head}tokens-limit": "48000", f"{head}tokens-remaining": "11000"}, now=NOW)
    by_kind = {lim.kind: lim for lim in limits.limits}
    assert set(by_kind) == {"requests", "tokens", "input_tokens", "output_tokens"}
    assert by_kind["requests"].reset_s == pytest.approx(1.0)
    assert by_kind["input_tokens"].reset_s == pytest.approx(60.0)
    low = limits.lowest()
    assert low is not None and (low.kind, low.remaining) == ("input_tokens", 4000)


def test_litellm_prefixes_other_providers_headers():
    limits = read_headers({"llm_provider-anthropic-ratelimit-requests-limit": "10",
                           "llm_provider-anthropic-ratelimit-requests-remaining": "1",
                           "llm_provider-retry-after": "30"})
    assert limits.limits == (Limit("requests", 10, 1, None),)
    assert limits.retry_after_s == 30.0


def openai_body(message: str, type_: str, code: str) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


GEMINI_429 = json.dumps({"error": {
    "code": 429, "status": "RESOURCE_EXHAUSTED", "message": "You exceeded your current quota.",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
             "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}]}})


@pytest.mark.parametrize(("status", "body", "headers", "kind", "retry"), [
    (429, openai_body("Rate limit reached for gpt-4o on requests per min (RPM): Limit 3",
                      "requests", "rate_limit_exceeded"), {"retry-after-ms": "20000"},
     THROTTLE_REQUESTS, 20.0),
    (429, openai_body("Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000",
                      "tokens", "rate_limit_exceeded"), {}, THROTTLE_TOKENS, None),
    (429, openai_body("You exceeded your current quota, please check your plan and billing "
                      "details.", "insufficient_quota", "insufficient_quota"), {}, QUOTA, None),
    (429, openai_body("Request too large for gpt-4o on tokens per min (TPM): Limit 30000, "
                      "Requested 50000.", "tokens", "rate_limit_exceeded"), {}, TOO_LARGE, None),
    (429, json.dumps({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create"
                                " Operation have exceeded token rate limit of your current "
                                "OpenAI S0 pricing tier."}}), {"retry-after": "4"},
     THROTTLE_TOKENS, 4.0),
    (429, json.dumps({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create"
                                " Operation have exceeded call rate limit."}}), {},
     THROTTLE_REQUESTS, None),
    (403, json.dumps({"statusCode": 403, "message": "Out of call volume quota."}), {}, QUOTA, None),
    # a 403 that names a quota but is a missing permission, not a spent quota
    (403, json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "The API "
                                "requires a quota project, which is not set by default."}}), {},
     None, None),
    (429, json.dumps({"type": "error", "error": {
        "type": "rate_limit_error", "message": "This request would exceed the rate limit for "
        "your organization of 40,000 input tokens per minute."}}), {"retry-after": "9"},
     THROTTLE_TOKENS, 9.0),
    (429, json.dumps({"type": "error", "error": {
        "type": "rate_limit_error", "message": "Your organization has reached its spend limit "
        "(enforced_spend_limit_reached)."}}), {}, SPEND_LIMIT, None),
    (529, json.dumps({"type": "error", "error": {"type": "overloaded_error",
                                                  "message": "Overloaded"}}), {}, OVERLOADED, None),
    (413, json.dumps({"type": "error", "error": {"type": "request_too_large",
                                                  "message": "Request exceeds the maximum size"}}),
     {}, TOO_LARGE, None),
    (429, GEMINI_429, {}, THROTTLE_REQUESTS, 23.0),
    (429, GEMINI_429.replace("GenerateRequestsPerMinute", "GenerateRequestsPerDay"), {}, QUOTA,
     23.0),
    (429, json.dumps({"message": "Too many tokens, please wait before trying again."}),
     {"x-amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/coral/"},
     THROTTLE_TOKENS, None),
    (429, json.dumps({"message": "Too many requests, please wait before trying again."}),
     {"x-amzn-ErrorType": "ThrottlingException"}, THROTTLE_REQUESTS, None),
    (400, json.dumps({"message": "quota exceeded"}),
     {"x-amzn-ErrorType": "ServiceQuotaExceededException"}, QUOTA, None),
])
def test_refusals_are_read_to_their_kind_and_retry_after(status, body, headers, kind, retry):
    throttle = read_refusal(status, body, headers)
    if kind is None:
        assert throttle is None
        return
    assert throttle is not None and (throttle.kind, throttle.retry_after_s) == (kind, retry)
    assert throttle.fatal == (kind in (QUOTA, SPEND_LIMIT, TOO_LARGE))


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_other_errors_are_no_throttle_even_when_their_text_says_rate_limit(status):
    assert read_refusal(status, openai_body("rate_limit exceeded upstream", "tokens",
                                            "rate_limit_exceeded"), {}) is None


def test_a_throttled_record_is_rate_limited_with_its_kind_and_keeps_its_headroom():
    rec = RequestRecord(1, 1.0, 0, 0.0, 64, 0, 4)
    rec.stamp_rate_limits(read_headers({"x-ratelimit-limit-requests": "10",
                                        "x-ratelimit-remaining-requests": "0",
                                        "retry-after": "3"}))
    throttle = read_refusal(429, openai_body("Rate limit reached on requests per min (RPM)",
                                             "requests", "rate_limit_exceeded"), {})
    assert throttle is not None
    rec.throttled(throttle, "HTTP 429: Rate limit reached", 429)
    assert (rec.status, rec.throttle, rec.http_status, rec.retry_after_s) == \
        (RATE_LIMITED, "requests", 429, 3.0)
    assert rec.headroom is not None and (rec.headroom.remaining, rec.headroom.share) == (0, 0.0)
    assert not rec.ok


def test_a_phase_is_checked_by_its_busiest_minute_against_each_limit():
    suite = parse_run_suite("name: l\nrequests_per_second_rates: [1, 3]\n"
                            "test_length_in_seconds: 120\narrival: constant\nload_types:\n"
                            "- {prompt_length: 100, output_length: 20}\n")
    one, three = plan_phases(suite)
    prompt, output = np.array([100]), np.array([20])
    assert busiest_minute(one, prompt, output) == {
        "requests": 60, "tokens": 60 * 120, "input_tokens": 6000, "output_tokens": 1200}
    limits = RateLimits((Limit("requests", 100, 99, 1.0), Limit("tokens", None, 10_000, None)))
    (warning,) = plan_warnings([one, three], suite, limits, "phase")
    assert (warning.unit, warning.number) == ("phase", 2)
    assert warning.text.startswith(
        "phase 2 must exceed the provider's rate limit: it sends 180 requests in its busiest "
        "minute, above the limit of 100; 21,600 tokens in its busiest minute, above the limit of "
        "10,000 (what remained at the warm-up)")


def test_an_observations_polls_over_a_limit_are_one_warning():
    suite = parse_run_suite("name: l\nrequests_per_second_rates: [3, 3, 3]\n"
                            "test_length_in_seconds: 30\narrival: constant\nload_types:\n"
                            "- {prompt_length: 10, output_length: 2}\n")
    limits = RateLimits((Limit("requests", 60, 60, None),))
    (warning,) = plan_warnings(plan_phases(suite), suite, limits, "poll")
    assert warning.text.startswith("poll 1 (and 2 more polls) must exceed the provider's rate "
                                   "limit: it sends 90 requests in its busiest minute")


TWO_PHASES = ("name: l\nrequests_per_second_rates: [1, 3]\ntest_length_in_seconds: 120\n"
              "arrival: constant\nload_types:\n- {prompt_length: 100, output_length: 20}\n")


def test_the_budget_shows_each_phases_busiest_minute_for_a_hosted_endpoint_and_none_self_hosted():
    suite = parse_run_suite(TWO_PHASES)
    hosted = EndpointSpec(provider="openai", model="gpt-4o-mini")
    est = budget.estimate(suite, hosted, plan_phases(suite))
    assert [(m.first, m.requests, m.tokens) for m in est.minutes] == [(1, 60, 60 * 120),
                                                                      (2, 180, 180 * 120)]
    lines = est.lines()
    at = lines.index("per minute     each phase's busiest minute (prompt + max_tokens, as "
                     "providers count them):")
    assert lines[at + 1:at + 4] == [
        "  phase 1      60 requests, 7,200 tokens",
        "  phase 2      180 requests, 21,600 tokens",
        "rate limits    none seen for this endpoint yet: the warm-up reads them and warns before "
        "any load is sent"]
    assert est.limit_warnings == () and not any(line.startswith("warning") for line in lines)
    assert "per minute     180 req, 21,600 tok at most (phase 2)" in est.lines(compact=True)
    local = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    own = budget.estimate(suite, local, plan_phases(suite))
    assert own.minutes == () and not any("per minute" in line or "rate limits" in line
                                         for line in own.lines())


def test_the_budget_holds_each_phase_against_the_limits_seen_last_and_warns_by_name(
        tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(tmp_path))
    suite = parse_run_suite(TWO_PHASES)
    hosted = EndpointSpec(provider="openai", model="gpt-4o-mini")
    remember_limits(hosted, RateLimits((Limit("requests", 100, 97, 20.0),
                                        Limit("tokens", None, 15_000, 3.0))), WARM_UP,
                    now=time.time() - 3 * 3600 - 300)
    seen = recall_limits(hosted)
    assert seen is not None
    est = budget.estimate(suite, hosted, plan_phases(suite), seen=seen)
    when = datetime.fromtimestamp(seen.seen_utc).astimezone()
    assert (f"rate limits    seen {when:%Y-%m-%d %H:%M} (3 h 05 min ago, by the warm-up): "
            "requests 100, tokens 15,000 left (no limit announced) per minute; the warm-up reads "
            "them again before any load") in est.lines()
    # phase 1's 60 requests and 7,200 tokens fit; phase 2's 180 and 21,600 do not
    (warning,) = est.limit_warnings
    assert warning.startswith(
        "phase 2 must exceed the provider's rate limit: it sends 180 requests in its busiest "
        "minute, above the limit of 100; 21,600 tokens in its busiest minute, above the limit of "
        "15,000 (what remained when the warm-up read it)")
    assert f"warning        {warning}" in est.lines()
    assert not any(line.startswith("warning") for line in est.lines(warnings=False))
    # a self-hosted endpoint seen to announce limits (a gateway in front) is held against them
    gateway = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    remember_limits(gateway, RateLimits((Limit("requests", 50, 50, None),)), ENDPOINT_TEST)
    fronted = budget.estimate(suite, gateway, plan_phases(suite), seen=recall_limits(gateway))
    assert [w.split(":")[0] for w in fronted.limit_warnings] == [
        "phase 1 must exceed the provider's rate limit", "phase 2 must exceed the provider's "
        "rate limit"]
    assert "by the endpoint test): requests 50 per minute" in "\n".join(fronted.lines())


def test_an_observations_polls_are_one_line_of_demand_and_one_warning(tmp_path, monkeypatch):
    suite = parse_run_suite("type: observation\nname: o\nduration_hours: 1\n"
                            "polling_interval_minutes: 10\nnum_requests: 30\nwithin_seconds: 20\n"
                            "load_type: {prompt_length: 100, output_length: 20}\n")
    planner = ObservationPlanner(suite, time.time() + 60)
    hosted = EndpointSpec(provider="openai", model="gpt-4o-mini")
    seen = SeenLimits(endpoint="x", seen_utc=time.time() - 30, by=WARM_UP,
                      limits=[SeenLimit(kind="requests", limit=20, remaining=20)])
    est = budget.estimate(suite, hosted, planner.remaining, seen=seen)
    assert [(m.first, m.last, m.requests, m.tokens) for m in est.minutes] == [(1, 6, 30, 3600)]
    assert ("per minute     at most 30 requests, 3,600 tokens in any poll's busiest minute "
            "(polls 1-6; prompt + max_tokens, as providers count them)") in est.lines()
    (warning,) = est.limit_warnings
    assert warning.startswith("poll 1 (and 5 more polls) must exceed the provider's rate limit: "
                              "it sends 30 requests in its busiest minute, above the limit of 20")


def test_the_limits_seen_are_kept_by_endpoint_without_a_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(tmp_path))
    keyed = EndpointSpec(provider="openai", model="gpt-4o-mini",
                         base_url="https://user:s3cret-pass@gw.example:8443/v1",
                         api_key_env_var="TEAM_KEY")
    other = EndpointSpec(provider="openai", model="gpt-4o",
                         base_url="https://gw.example:8443/v1", api_key_env_var="TEAM_KEY")
    assert recall_limits(keyed) is None                  # nothing seen yet, no file
    remember_limits(keyed, RateLimits((Limit("requests", 500, 499, 0.1),)), WARM_UP, now=NOW)
    remember_limits(other, RateLimits(()), WARM_UP)      # announced nothing: nothing kept
    seen = recall_limits(keyed)
    assert seen is not None and (seen.seen_utc, seen.by) == (NOW, WARM_UP)
    assert seen.endpoint == "gpt-4o-mini (openai) at https://gw.example:8443/v1"
    assert seen.rate_limits() == RateLimits((Limit("requests", 500, 499, None),))
    assert recall_limits(other) is None
    text = (tmp_path / "limits-seen.json").read_text()
    assert "s3cret" not in text and "user" not in text
    # a newer sighting replaces the older; a broken file is as good as none, never an error
    remember_limits(keyed, RateLimits((Limit("requests", 600, 10, 1.0),)), ENDPOINT_TEST)
    again = recall_limits(keyed)
    assert again is not None and again.limits[0].limit == 600 and again.by == ENDPOINT_TEST
    (tmp_path / "limits-seen.json").write_text("{not json")
    assert recall_limits(keyed) is None


def test_a_throttled_row_reads_back_with_its_kind_retry_after_and_headroom(tmp_path):
    suite = parse_run_suite("name: l\nrequests_per_second_rates: [1]\ntest_length_in_seconds: 1\n"
                            "load_types:\n- {prompt_length: 10, output_length: 2}\n")
    endpoint = EndpointSpec(provider="openai", model="gpt-4o-mini")
    folder = ResultsFolder(tmp_path, suite, endpoint, datetime.now().astimezone())
    folder.set_origin(1000.0, time.time())
    rec = RequestRecord(1, 1.0, 0, 1000.0, 10, 0, 2, seq=0, t_send=1000.001)
    rec.stamp_rate_limits(read_headers({"x-ratelimit-limit-tokens": "30000",
                                        "x-ratelimit-remaining-tokens": "120",
                                        "x-ratelimit-reset-tokens": "1m30s"}))
    throttle = read_refusal(429, openai_body("Rate limit reached on tokens per min (TPM)",
                                             "tokens", "rate_limit_exceeded"),
                            {"retry-after-ms": "1500"})
    assert throttle is not None
    rec.throttled(throttle, "HTTP 429: Rate limit reached", 429)
    rec.t_end = 1000.002
    folder.write_record(rec)
    folder.close()
    (row,) = read_rows(folder.path)
    assert (row["status"], row["throttle"], row["retry_after_s"], row["limit_kind"],
            row["limit_remaining"], row["limit"]) == \
        ("rate_limited", "tokens", "1.500", "tokens", "120", "30000")
    back = record_from_row(row)
    assert (back.status, back.throttle, back.retry_after_s) == (RATE_LIMITED, "tokens", 1.5)
    assert back.headroom == Headroom("tokens", 120, 30000, None)


def test_the_simulators_limits_slide_over_a_minute_and_count_prompt_plus_max_tokens():
    limiter = RateLimiter(RateLimitConfig(rpm=2, tpm=100, headers="openai"), "sim-model")
    first = limiter.admit(30, 10, now=0.0, wall=NOW)
    assert first.refusal is None and first.headers["x-ratelimit-remaining-tokens"] == "60"
    assert first.headers["x-ratelimit-reset-requests"] == "1m0s"
    # 40 + 70 tokens would pass 100: refused by tokens, its retry when the first leaves the window
    refused = limiter.admit(50, 20, now=10.0, wall=NOW + 10)
    assert refused.refusal is not None and refused.refusal.status == 429
    assert refused.refusal.headers["retry-after-ms"] == "50000"
    body = json.loads(refused.refusal.body)       # type: ignore[arg-type]
    assert (body["error"]["type"], body["error"]["code"]) == ("tokens", "rate_limit_exceeded")
    assert limiter.admit(20, 10, now=20.0, wall=NOW + 20).refusal is None
    # two requests in the window: the third is refused by requests, until the first has left
    assert json.loads(limiter.admit(1, 1, now=30.0, wall=NOW + 30).refusal.body)[  # type: ignore
        "error"]["type"] == "requests"
    assert limiter.admit(1, 1, now=60.5, wall=NOW + 60.5).refusal is None


@pytest.mark.parametrize("text", ["rpm", "rpm=x", "rps=3", "rpm=1,,tpm=2"])
def test_a_bad_rate_limit_option_says_what_it_takes(text):
    with pytest.raises(ValueError, match="expected rpm=N, tpm=N and/or quota=N"):
        parse_rate_limit(text)
