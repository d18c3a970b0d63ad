"""Hosted providers' rate limits against the simulator with limits set (simulator/limits.py,
docs/metrics.md#rate-limits): each provider's headers read on every response, throttled requests
`rate_limited` with their kind and kept out of the latency percentiles, an exhausted quota
stopping the run at once; the next budget prompt holding the plan against the limits seen; an
observation's over-time charts marking its throttled polls. Five runs at once, one per shape,
shared by the assertions."""

from __future__ import annotations

import csv
import json
import urllib.request

import numpy as np
import pytest

from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.widgets.over_time_chart import OverTimeChart

from support.specs import endpoint_yml, run_yml
from support.tokenflood import Completed, run_together, run_tokenflood, write

RPM = 12            # requests per minute: the warm-up, calibration and phase 1 fit, phase 2 not
TPM = 1000          # tokens per minute (prompt + max_tokens), for the Azure run: phase 2's 16
                    # requests of 64 + 4 tokens need 1,088
QUOTA = 7           # requests answered before the quota is spent: the warm-up and calibration
                    # (4 or 5) and the first of phase 1
OBSERVED_RPM = 9    # the observation's: the warm-up, calibration and its first poll fit
SHAPES = {
    "openai": ("--rate-limit", f"rpm={RPM}", "--limit-headers", "openai"),
    "azure": ("--rate-limit", f"tpm={TPM}", "--limit-headers", "azure"),
    "anthropic": ("--rate-limit", f"rpm={RPM}", "--limit-headers", "anthropic"),
    "quota": ("--rate-limit", f"rpm=1000,quota={QUOTA}", "--limit-headers", "openai"),
    "observation": ("--rate-limit", f"rpm={OBSERVED_RPM}", "--limit-headers", "openai"),
}
# an observation of 3 polls of 3 requests, 3 s apart
OBSERVATION = """\
type: observation
name: limits
duration_hours: 0.0025
polling_interval_minutes: 0.05
num_requests: 3
within_seconds: 1
load_type: {prompt_length: 64, output_length: 4}
"""


class Run:
    def __init__(self, done: Completed, truth: list[dict]):
        self.done = done
        self.truth = truth
        self.summary = done.summary()
        self.phases = self.summary["phases"]
        with open(done.folder() / "requests.csv", newline="") as f:
            self.rows = list(csv.DictReader(f))

    def answered(self) -> int:
        """Requests the simulator let through, warm-up and calibration included."""
        return sum(e["status"] != "rate_limited" for e in self.truth)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    sims = {name: SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", *args)
            for name, args in SHAPES.items()}
    folders = {}
    try:
        for name, sim in sims.items():
            url = sim.start()
            folder = tmp_path_factory.mktemp(name)
            write(folder / "endpoint.yml", endpoint_yml(url))
            write(folder / "run.yml", OBSERVATION if name == "observation" else
                  run_yml("limits", rates=[2, 8], length=2, arrival="constant"))
            folders[name] = folder
        done = run_together(*((folder, ("run", "run.yml", "endpoint.yml", "--yes", "--headless"))
                              for folder in folders.values()))
        out = {}
        for (name, sim), completed in zip(sims.items(), done, strict=True):
            root = sim.base_url.removesuffix("/v1")
            with urllib.request.urlopen(f"{root}/sim/requests") as resp:
                truth = json.loads(resp.read())
            out[name] = Run(completed, truth["requests"] if isinstance(truth, dict) else truth)
        return out
    finally:
        for sim in sims.values():
            sim.stop()


def limits(phase: dict) -> dict:
    assert phase["rate_limits"] is not None, phase
    return phase["rate_limits"]


@pytest.mark.parametrize("shape", ["openai", "anthropic"])
def test_the_requests_limit_is_read_from_every_response_and_throttles_phase_2(runs, shape):
    run = runs[shape]
    assert run.done.code == 0, run.done.stderr
    one, two = run.phases
    assert run.answered() == RPM                  # the simulator let exactly the limit through
    # phase 1 fit: nothing refused, and its lowest headroom is what the limit left after it
    assert limits(one)["throttled"] == 0 and one["ok"] == one["sent"] == 4
    (seen,) = limits(one)["limits"]
    assert (seen["kind"], seen["limit"]) == ("requests", RPM)
    assert seen["lowest_remaining"] == RPM - (run.answered() - two["ok"])
    # (the window's oldest request is the warm-up's, seconds before: it resets a minute after)
    assert 30 < seen["reset_s"] <= 60
    # phase 2 ran out: every refusal is rate_limited by the requests limit, 0 left at the lowest
    lim = limits(two)
    assert lim["throttled"] == two["sent"] - two["ok"] == two["failed"] > 0
    assert lim["throttled_by_kind"] == {"requests": lim["throttled"]}
    assert lim["throttled_share"] == pytest.approx(lim["throttled"] / two["sent"])
    assert lim["admitted_rps"] == pytest.approx(lim["offered_rps"] * two["ok"] / two["sent"])
    assert lim["limits"][0]["lowest_remaining"] == 0
    assert 30 < lim["retry_after_s"] <= 60
    assert run.summary["first_throttled"] == 2 and run.summary["stopped_by_throttle"] is None
    # warned before any load was sent: phase 2 alone must exceed the limit, phase 1 not
    warning = ("phase 2 must exceed the provider's rate limit: it sends 16 requests in its "
               f"busiest minute, above the limit of {RPM}; expect its excess refused")
    assert any(w.startswith(warning) for w in run.summary["warnings"]), run.summary["warnings"]
    assert not any(w.startswith("phase 1 must exceed") for w in run.summary["warnings"])
    err = run.done.stderr
    assert err.index(f"warning: {warning}") < err.index("phase 1: 2 req/s")
    assert "rate limits at the warm-up: requests " in err
    # live: the headroom on the progress lines, the refusals by kind beside the failures
    assert f"/{RPM} (" in err.split("| headroom requests ", 1)[1].split("\n", 1)[0]
    assert two["errors"] == [{"status": "rate_limited", "http_status": 429,
                              "count": lim["throttled"]}]
    # results: the printed summary, summary.md and report.html have the table and the line
    row = (f"|     2 | requests       |             0/{RPM} |       0% | "
           f"{lim['throttled']:>9} |")
    assert row in run.done.stdout and "phase 2 was the first the provider throttled" in \
        run.done.stdout
    md = (run.done.folder() / "summary.md").read_text()
    assert "## Rate limits" in md and row in md
    assert "- rate limits: phase 2 was the first the provider throttled" in md
    assert ">Rate limits</h2>" in (run.done.folder() / "report.html").read_text()


def test_throttled_rows_are_kept_out_of_the_latency_percentiles(runs):
    run = runs["openai"]
    rows = [r for r in run.rows if r["phase"] == "2"]
    refused = [r for r in rows if r["status"] == "rate_limited"]
    assert len(refused) == limits(run.phases[1])["throttled"]
    assert all(r["throttle"] == "requests" and r["http_status"] == "429" and not r["ttft_ms"]
               and r["limit_kind"] == "requests" and r["limit_remaining"] == "0"
               and float(r["retry_after_s"]) > 30 for r in refused)
    ok = np.array([float(r["ttft_ms"]) for r in rows if r["status"] == "ok"])
    e2e_all = np.array([float(r["e2e_ms"]) for r in rows])
    ttft = run.phases[1]["ttft_ms"]
    assert ttft["p50"] == pytest.approx(float(np.percentile(ok, 50)), abs=0.01)
    # a refusal is answered at once: had they counted, the median e2e would be theirs
    assert run.phases[1]["e2e_ms"]["p50"] > float(np.percentile(e2e_all, 50))


def test_azure_announces_what_remains_of_its_token_limit_and_refuses_by_tokens(runs):
    run = runs["azure"]
    assert run.done.code == 0, run.done.stderr
    one, two = run.phases
    (seen,) = limits(one)["limits"]
    assert (seen["kind"], seen["limit"], seen["lowest_share"]) == ("tokens", None, None)
    assert 0 < seen["lowest_remaining"] < TPM
    lim = limits(two)
    assert lim["throttled"] > 0 and lim["throttled_by_kind"] == {"tokens": lim["throttled"]}
    assert lim["limits"][0]["lowest_remaining"] < seen["lowest_remaining"]
    # Azure gives no limit: phase 2 is judged by what remained at the warm-up, below its need
    assert any(w.startswith("phase 2 must exceed the provider's rate limit: it sends 1,088 tokens "
                            "in its busiest minute, above the limit of ") and
               "(what remained at the warm-up)" in w for w in run.summary["warnings"])
    # the tokens let through: every answered request's prompt + max_tokens, within the limit
    assert run.answered() >= 4 + two["ok"]


def test_an_exhausted_quota_stops_the_run_at_once_and_says_what_to_do(runs):
    run = runs["quota"]
    assert run.done.code == 1, run.done.stderr
    assert run.summary["status"] == "aborted"
    assert run.summary["stopped_by_throttle"] == "quota_exhausted"
    assert "the account's quota is spent: add credit or raise the quota" in run.summary["message"]
    assert "error: run aborted: phase " in run.done.stderr
    assert "quota_exhausted (HTTP 429: You exceeded your current quota" in run.done.stderr
    assert "Traceback" not in run.done.stderr
    # what was measured is kept: every request sent is a row, the answered ones ok
    assert run.answered() == QUOTA
    refused = [r for r in run.rows if r["status"] == "rate_limited"]
    assert refused and all(r["throttle"] == "quota_exhausted" for r in refused)
    assert len(run.rows) == sum(p["sent"] for p in run.phases)
    # at once: nothing was sent after the first refusal but what was already under way
    first = min(float(r["t_end_s"]) for r in refused)
    assert not [r for r in run.rows if float(r["t_send_s"]) > first + 0.3]
    assert len(run.phases) == 1 or run.phases[1]["sent"] < 16


def test_an_observations_polls_show_their_headroom_and_which_were_throttled(runs):
    run = runs["observation"]
    assert run.done.code == 0, run.done.stderr
    polls = run.summary["polls"]
    assert [p["rate_limits"]["throttled"] for p in polls] == [p["sent"] - p["ok"] for p in polls]
    assert polls[0]["rate_limits"]["throttled"] == 0 and polls[-1]["rate_limits"]["throttled"] > 0
    assert run.answered() == OBSERVED_RPM
    throttled = [p["phase"] for p in polls if p["rate_limits"]["throttled"]]
    assert run.summary["first_throttled"] == throttled[0]
    said = (f"poll{'s' if len(throttled) > 1 else ''} {throttled[0]}"
            + (f"-{throttled[-1]}" if len(throttled) > 1 else ""))
    assert said in (run.done.folder() / "report.html").read_text()
    # each poll's line gives its headroom
    lines = [line for line in run.done.stderr.splitlines() if " done: sent " in line]
    assert len(lines) == 3 and all("| headroom requests " in line for line in lines)
    assert f"headroom requests 0/{OBSERVED_RPM} (0%)" in lines[-1]


def test_the_next_budget_prompt_holds_the_plan_against_the_limits_the_warm_up_saw(runs):
    """The run above remembered what its warm-up read; the same endpoint's next budget prompt
    shows them, when seen, and warns of phase 2 before anything is sent (nobody answers y/N:
    refused, exit 3, nothing sent)."""
    run = runs["openai"]
    folder = run.done.results.parent
    again = run_tokenflood("run", "run.yml", "endpoint.yml", "--headless", cwd=folder)
    assert again.code == 3, again.stderr
    assert "not confirmed: stdin is not a terminal" in again.stderr
    prompt = again.stderr.split("[tokenflood] budget estimate:\n", 1)[1]
    lines = [line.strip() for line in prompt.splitlines()]
    assert lines[lines.index("per minute     each phase's busiest minute (prompt + max_tokens, "
                             "as providers count them):") + 1:][:2] == [
        "phase 1      4 requests, 272 tokens", "phase 2      16 requests, 1,088 tokens"]
    (seen,) = [line for line in lines if line.startswith("rate limits    seen ")]
    assert seen.endswith(f"by the warm-up): requests {RPM} per minute; the warm-up reads them "
                         "again before any load")
    assert ("warning        phase 2 must exceed the provider's rate limit: it sends 16 requests "
            f"in its busiest minute, above the limit of {RPM}; expect its excess refused") in \
        prompt
    assert "phase 1 must exceed" not in prompt
    assert len(list((folder / "results").iterdir())) == 1     # no new results folder


async def test_an_observations_over_time_charts_mark_its_throttled_polls(runs, tmp_path,
                                                                         monkeypatch):
    """latency_over_time.txt, report.html and the TUI's results view, from the real run."""
    run = runs["observation"]
    folder = run.done.folder()
    polls = run.summary["polls"]
    refused = [p["rate_limits"]["throttled"] > 0 for p in polls]
    assert any(refused) and not all(refused)
    text = (folder / "latency_over_time.txt").read_text()
    # on each subplot's 0 line (TTFT's, e2e's), one mark a throttled poll; then the key
    rows = [line.split("┤", 1)[1] for line in text.splitlines() if line.lstrip().startswith("0┤")]
    assert [row.count("▲") for row in rows] == [sum(refused)] * 2
    assert text.rstrip().endswith("▲ throttled poll")
    html = (folder / "report.html").read_text()
    values = ",".join("0.0" if r else "null" for r in refused)
    assert html.count(f'"label":"throttled poll (on the 0 line)","values":[{values}]') == 2
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(tmp_path))      # not the user's settings
    app = TokenfloodApp(Launch("results", results_root=folder.parent, results_dir=folder))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.8)                   # the chart draws on its 0.5 s timer
        chart = app.screen.query_one(OverTimeChart)
        lines = str(chart.render()).splitlines()
        assert lines[-1].strip().endswith("▲ throttled poll")
        zero = [line for line in lines if line.lstrip().startswith("0┤")]
        assert zero and zero[0].count("▲") == sum(refused)
