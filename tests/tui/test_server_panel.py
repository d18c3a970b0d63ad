"""The live run view's server panel against the simulator's /metrics over real HTTP: the queue
growing in the phase above the simulator's slots on the same axis as the client's TTFT, a signal
the engine lacks as "n/a", and one line saying why when there are no metrics."""

from __future__ import annotations

import re

from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.server_panel import ServerPanel

from support.screens import screen_lines, until
from support.simulators import simulator_fixture

# 2 slots, each request 50 ms + 19 × 20 ms: about 4.5 requests a second before a queue forms
sim = simulator_fixture("--ttft-ms", "50", "--itl-ms", "20", "--slots", "2")


def suite(rates: list[float], length: float):
    return parse_run_suite(f"""\
name: server-panel
requests_per_second_rates: {rates}
test_length_in_seconds: {length}
arrival: constant
load_types:
- {{prompt_length: 64, output_length: 20}}
""")


def tui(tmp_path, base_url: str, rates: list[float], length: float, **endpoint) -> TokenfloodApp:
    return TokenfloodApp(Launch("run", results_root=tmp_path / "results", assume_yes=True,
                                suite=suite(rates, length),
                                endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                      base_url=base_url, **endpoint)))


def panel(lines: list[str]) -> list[str]:
    """The server panel's rows inside its border, from its title to its bottom edge."""
    top = next(i for i, line in enumerate(lines) if "5 server ·" in line)
    bottom = next(i for i in range(top + 1, len(lines)) if lines[i].lstrip().startswith("╰"))
    return [line.strip().strip("│").rstrip() for line in lines[top + 1:bottom]]


BARS_AT = 20        # the padding, then the label and the figure (19 columns)


def row(rows: list[str], label: str) -> tuple[str, str]:
    """(the figure shown, the bars) of a signal's row."""
    (line,) = [r for r in rows if r.startswith(f" {label} ")]
    return line[:BARS_AT].removeprefix(f" {label}").strip(), line[BARS_AT:]


async def test_the_queue_grows_on_the_axis_of_the_clients_ttft_above_the_slots(tmp_path, sim):
    """2 req/s (calm) then 10 req/s on 2 slots: the panel's waiting row is blank under phase 1
    and fills under phase 2, where the client's TTFT climbs; KV and the rates have figures."""
    app = tui(tmp_path, sim.base_url, [2, 10], 4)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        series = screen.server_series
        # three scrapes of phase 2 with a queue, drawn (the panel redraws twice a second)
        def queued(lines: list[str]) -> bool:
            waiting = [p.waiting for p in series.points if p.phase == 2]
            return len(waiting) >= 3 and waiting[-1] >= 3 and any(
                line.startswith(" waiting") for line in panel(lines)
            ) if any("5 server ·" in line for line in lines) else False
        await until(pilot, queued, "a queue in phase 2", timeout=30)
        widget = screen.query_one(ServerPanel)
        await until(pilot, lambda _: widget.drawn >= len(series.points), "the latest drawn")
        lines, drawn = screen_lines(app), widget.drawn
        rows = panel(lines)
        points = list(series.points)[:drawn]       # the scrapes on screen
        ttft = list(series.client_ttft)[:drawn]
        phases = [p.phase for p in points]
        # the axis: phase 1 from the first column, phase 2 where its first scrape is
        axis = next(r for r in rows if r.startswith(" phase "))[BARS_AT:]
        assert axis.startswith("1─") and axis.index("2") == phases.index(2)
        assert len(axis) == len(points)
        shown, bars = row(rows, "waiting")
        assert shown == f"{points[-1].waiting:,.0f}" and points[-1].waiting >= 3
        first_2 = phases.index(2)
        # blank while nothing waited (phase 1 at 2 req/s), bars once the queue formed
        assert [b == " " for b in bars[:first_2]] == [not p.waiting for p in points[:first_2]]
        assert all(not p.waiting for p in points[:first_2])
        assert bars[len(points) - 1] in "▁▂▃▄▅▆▇█" and bars[len(points) - 1] != " "
        top = max(p.waiting for p in points)
        assert bars[[p.waiting for p in points].index(top)] == "█"      # drawn from 0 to the top
        # the latest scrape's figures; both slots full in phase 2 (a scrape between one request's
        # end and the next one's admission reads 1 running, as one did beside the hog)
        shown, bars = row(rows, "running")
        assert shown == f"{points[-1].running:,.0f}" and max(p.running or 0 for p in points) == 2
        shown, _ = row(rows, "KV cache")
        assert shown == f"{points[-1].kv_usage:.0%}" and max(p.kv_usage or 0 for p in points) == 1.0
        shown, _ = row(rows, "preempt/s")
        assert shown == "0.0"                    # published as 0: a figure, not n/a
        shown, _ = row(rows, "tok/s out")
        assert re.fullmatch(r"[\d,]+", shown)
        # the client's TTFT on the same axis, climbing with the queue
        shown, bars = row(rows, "TTFT")
        assert shown == f"{ttft[-1]:.0f} ms"
        calm = [t for t, p in zip(ttft, points, strict=True) if p.phase == 1 and t is not None]
        assert calm and ttft[-1] > 3 * max(calm)
        assert bars[len(points) - 1] in "▅▆▇█"
        # the status line still says it in words (the verdict of live/server.py)
        assert re.search(r"  server (queueing|memory-bound): ", lines[1])
        # the run goes on to its end; key 5 maximises the panel, with more rows per signal
        await until(pilot, lambda _: app.run_controller.finished, "the run's end", timeout=60)
        await pilot.press("5")
        await pilot.pause(0.7)
        solo = screen_lines(app)
        assert screen.solo_panel == "server"
        rows = panel(solo)
        assert len(rows) > 20 and find_label(rows, "waiting") < find_label(rows, "TTFT")
        # 80x24: no room in the overview, key 5 still shows it whole
        await pilot.press("5")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.7)
        assert not any("5 server ·" in line for line in screen_lines(app))
        await until(pilot, lambda lines: "1-5 Panels" in lines[-1], "the panels' key")
        await pilot.press("5")
        await pilot.pause(0.7)
        rows = panel(screen_lines(app))
        assert [r.split()[0] for r in rows if r.strip() and not r.startswith("  ")] == [
            "phase", "waiting", "running", "KV", "preempt/s", "tok/s", "TTFT"]


def find_label(rows: list[str], label: str) -> int:
    return next(i for i, r in enumerate(rows) if r.startswith(f" {label} "))


async def test_an_engine_without_a_kv_gauge_shows_n_a_and_no_bars(tmp_path, sim_process):
    """The simulator without slots publishes no KV-cache usage: 'n/a', never 0%."""
    app = tui(tmp_path, sim_process.base_url, [4], 3)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        lines = await until(pilot, lambda lines: len(screen.server_series.points) >= 2 and any(
            r.startswith(" KV cache") for r in _panel_or_none(lines)), "two scrapes", timeout=30)
        shown, bars = row(panel(lines), "KV cache")
        assert shown == "n/a" and bars.strip() == ""
        assert all(p.kv_usage is None for p in screen.server_series.points)
        shown, _ = row(panel(lines), "running")
        assert shown != "n/a"


def _panel_or_none(lines: list[str]) -> list[str]:
    return panel(lines) if any("5 server ·" in line for line in lines) else []


async def test_metrics_off_or_unanswered_is_one_line_saying_why(tmp_path, sim_process):
    root = sim_process.base_url.removesuffix("/v1")
    app = tui(tmp_path, sim_process.base_url, [2], 2, metrics_url=f"{root}/nope")
    async with app.run_test(size=(120, 40)) as pilot:
        # (its end too: a busy machine drew the panel once with the sentence cut after its
        # first line)
        lines = await until(pilot, lambda lines: "answered HTTP 404" in " ".join(
                                _panel_or_none(lines)) and "or metrics: off" in " ".join(
                                _panel_or_none(lines)), "the 404 in the panel", timeout=30)
        # one sentence, wrapped to the panel's width: what to set is not cut off
        said = " ".join(" ".join(panel(lines)).split())
        assert said == (f"server metrics off: {root}/nope answered HTTP 404; turn the engine's "
                        "metrics on (llama.cpp: --metrics; SGLang: --enable-metrics; vLLM, TGI "
                        "and the Dynamo frontend publish /metrics by default), set metrics_url "
                        "in endpoint.yml, or metrics: off")
        await until(pilot, lambda _: app.run_controller.finished, "the run's end", timeout=60)
    app = tui(tmp_path, sim_process.base_url, [2], 1, metrics=False)
    async with app.run_test(size=(120, 40)) as pilot:
        lines = await until(pilot, lambda lines: "".join(_panel_or_none(lines)).strip() != "",
                            "the panel's line")
        assert panel(lines) == [" server metrics off: metrics: off in endpoint.yml"]
        await until(pilot, lambda _: app.run_controller.finished, "the run's end", timeout=60)
