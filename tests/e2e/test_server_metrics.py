"""The server's /metrics beside the client's latency: the collector against real HTTP
(the simulator's /metrics, servers that publish none), and a run above the simulator's slots
whose server_metrics.csv and phase figures show the queue."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import threading
import time
import urllib.request

import pytest
from aiohttp import web

from tokenflood_tui.telemetry.collector import Collector

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.tokenflood import Completed, run_tokenflood, write

# 2 slots, each request 50 ms + 19 × 20 ms: about 4.5 requests a second before a queue forms
sim = simulator_fixture("--ttft-ms", "50", "--itl-ms", "20", "--slots", "2")
LOAD = [{"prompt_length": 64, "output_length": 20}]


async def answering(status: int, body: str, content_type: str = "text/plain"):
    """A server whose /metrics answers `status` with `body`, on this loop; its URL."""
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"


@pytest.mark.parametrize(("status", "body", "says"), [
    (501, '{"error":{"code":501,"message":"This server does not support metrics endpoint. '
          'Start it with `--metrics`","type":"not_supported_error"}}',
     "llama.cpp serves no metrics at {url} (HTTP 501); start llama-server with --metrics"),
    (404, "Not Found", "answered HTTP 404; turn the engine's metrics on (llama.cpp: --metrics; "
                       "SGLang: --enable-metrics"),
    (200, "<html><body>a dashboard</body></html>",
     "does not answer in Prometheus' text format"),
])
async def test_a_server_without_metrics_switches_the_collector_off_with_one_line(status, body,
                                                                                   says):
    runner, url = await answering(status, body)
    collector = Collector(url, interval_s=0.2)
    try:
        collector.start()
        assert await collector.first() is None
        await asyncio.sleep(0.5)                 # it scrapes no more
        assert collector.scrapes == 0 and collector.off is not None
        assert says.format(url=url) in collector.off and "\n" not in collector.off
        assert await collector.mark() is None
    finally:
        await asyncio.to_thread(collector.stop)
        await runner.cleanup()


async def test_the_collector_scrapes_about_once_a_second_and_a_mark_scrapes_at_once(sim):
    url = sim.base_url.removesuffix("/v1") + "/metrics"
    collector = Collector(url, interval_s=0.25)
    try:
        collector.start()
        first = await collector.first()
        assert first is not None and first.engine == "vLLM" and first.running == 0
        asked = time.monotonic()
        marked = await collector.mark()
        assert marked is not None and asked <= marked.t <= time.monotonic()
        await asyncio.sleep(1.0)
    finally:
        await asyncio.to_thread(collector.stop)
    points = collector.points()
    assert points == collector.take() and collector.take() == []
    # the first, the mark, then 1 s at 4 a second: 6; a loaded machine may delay a scrape and
    # skip the ones it missed (no catching up), never add any
    assert 3 <= len(points) <= 7 and collector.failed == 0
    assert all(b.t > a.t for a, b in zip(points, points[1:], strict=False))


@pytest.fixture(scope="module")
def flooded(sim, tmp_path_factory) -> Completed:
    """One run the module's tests read: 2 req/s (calm), then 10 req/s on 2 slots (a queue);
    3 s a phase: the live verdict needs 3 of its scrapes (one a second) to see the queue, which a
    2 s phase gave only just (beside a CPU hog and three other test processes: once none)."""
    folder = tmp_path_factory.mktemp("flooded")
    write(folder / "endpoint.yml", endpoint_yml(sim.base_url))
    write(folder / "run.yml", run_yml(rates=[2, 10], length=3, arrival="constant",
                                      load_types=LOAD, thresholds=["server.waiting.max < 5"]))
    return run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=folder)


def test_a_run_above_the_slots_shows_the_queue_in_server_metrics_and_phase_figures(flooded):
    done = flooded
    assert done.code == 4, done.stderr          # the server's queue failed the threshold
    # the summary printed at the end: the server's table and where its queue began
    assert "vLLM's own figures (- : not published):" in done.stdout
    assert ("server queue: requests waited in the server's queue from phase 2 (10 req/s; vLLM "
            "metrics)") in done.stdout
    # the server's figures beside the client's on the progress lines
    assert re.search(r"\| server: 2 running, \d+ waiting, KV 100%, \d+ tok/s out$",
                     done.stderr, re.M), done.stderr
    # the live verdict, said once when the server's own figures support it (again only when it
    # changes: a scrape after the queue drained, both slots still busy, reads the simulator's
    # KV cache as full)
    verdicts = [line for line in done.stderr.splitlines() if ": server " in line]
    assert verdicts and verdicts[0].startswith("[tokenflood] phase 2: server queueing: ")
    assert verdicts[1:] in ([], ["[tokenflood] phase 2: server memory-bound: KV cache full, "
                                 "2 running, KV 100%"]), verdicts
    # (a scrape may fall between a request leaving a slot and the next taking it: 1 running)
    assert re.search(r"queueing: \d+ waiting, (not falling|draining), "
                     r"(2 running, KV 100%|1 running, KV 50%)$", verdicts[0]), verdicts[0]
    s = done.summary()
    (threshold,) = s["thresholds"]
    assert threshold["threshold"] == "server.waiting.max < 5" and not threshold["passed"]
    assert [(p["phase"], p["passed"]) for p in threshold["phases"]] == [(1, True), (2, False)]
    assert threshold["phases"][0]["value"] == 0 and threshold["phases"][1]["value"] >= 5
    assert s["server"]["engine"] == "vLLM" and s["server"]["off"] is None
    assert s["server"]["failed_scrapes"] == 0
    assert s["server"]["engine_version"] is None     # the simulator has no /version: null
    assert s["server"]["queue_from_phase"] == 2 and s["server"]["queue_from_rps"] == 10
    calm, flooded = (p["server"] for p in s["phases"])
    assert calm["waiting_max"] == 0 and calm["queue_persists"] is False
    assert calm["running_max"] <= 2 and calm["kv_usage_max"] <= 1.0
    # 30 requests in 3 s at 2 at a time, 430 ms each: a queue of more than 5 at its peak
    assert flooded["queue_persists"] is True and flooded["waiting_max"] >= 5
    assert flooded["running_max"] == 2 and flooded["kv_usage_max"] == 1.0
    assert flooded["ttft_ms"]["count"] == 30 and calm["ttft_ms"]["count"] == 6
    # the server's TTFT holds the queue: its median far above the 50 ms an idle slot takes
    assert flooded["ttft_ms"]["percentiles"]["p50"] > 500
    assert calm["queue_ms"]["percentiles"]["p99"] == 0      # never waited for a slot
    assert flooded["prefix_hit_ratio"] is not None and flooded["preemptions"] == 0
    assert set(calm["ttft_gap_ms"]) == {"p50", "p90", "p99"}
    assert calm["ttft_gap_ms"]["p50"] is not None
    with open(done.folder() / "server_metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:4] == ["t_s", "phase", "running", "waiting"]
    assert float(rows[0]["t_s"]) < 0               # the baseline, before the first phase
    by_phase = {p: [r for r in rows if r["phase"] == p] for p in ("1", "2")}
    assert max(float(r["waiting"]) for r in by_phase["2"]) >= 5
    assert max(float(r["waiting"]) for r in by_phase["1"]) == 0
    assert all(r["itl_p50_ms"] == "" for r in rows)    # the simulator has no ITL histogram: n/a
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)
    # the raw text at the baseline and each phase's start and end, as the server wrote it
    raw = (done.folder() / "server_scrapes.txt").read_text()
    stamps = re.findall(r"^# tokenflood: scraped at t_s=(-?[\d.]+)$", raw, re.M)
    assert len(stamps) == 5 and float(stamps[0]) < 0
    assert raw.count("# TYPE vllm:num_requests_waiting gauge") == 5
    # report.html has the server's table, each phase's waiting max in its row, and the queue line
    page = (done.folder() / "report.html").read_text()
    assert '<h2 id="server--vllm-metrics">Server (vLLM metrics)</h2>' in page
    assert "requests waited in the server&#x27;s queue from phase 2" in page


def test_a_server_busy_before_the_first_request_is_a_warning(tmp_path, start_simulator,
                                                             tokenflood):
    other = start_simulator("--ttft-ms", "10", "--itl-ms", "20")
    body = json.dumps({"model": "sim-model", "max_tokens": 1000, "ignore_eos": True,
                       "messages": [{"role": "user", "content": "someone else's"}]}).encode()
    request = urllib.request.Request(f"{other.base_url}/chat/completions", body,
                                     {"Content-Type": "application/json"})
    def someone_else() -> None:        # a request 20 s long, in flight when the run starts
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:                # the simulator stopped under it at the test's end
            pass
    threading.Thread(target=someone_else, daemon=True).start()
    metrics = other.base_url.removesuffix("/v1") + "/metrics"
    deadline = time.monotonic() + 10
    while b"vllm:num_requests_running{model_name=\"sim-model\"} 1" not in \
            urllib.request.urlopen(metrics).read():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    write(tmp_path / "endpoint.yml", endpoint_yml(other.base_url))
    write(tmp_path / "run.yml", run_yml(rates=[2], length=1, load_types=LOAD))
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless")
    assert done.code == 0, done.stderr
    said = ("the server was busy before the first request (1 running, 0 waiting): someone "
            "else's load is in its metrics and in these latencies")
    assert said in done.stderr
    s = done.summary()
    assert said in s["warnings"]
    assert s["server"]["baseline_running"] == 1 and s["server"]["baseline_waiting"] == 0


async def test_a_metrics_url_nobody_answers_switches_off_after_a_few_tries():
    import socket
    with socket.socket() as s:        # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    collector = Collector(f"http://user:pw@127.0.0.1:{port}/metrics", interval_s=0.1)
    try:
        collector.start()
        assert await collector.first() is None
        for _ in range(100):
            if collector.off is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(collector.stop)
    assert collector.off is not None and collector.failed == 5 and collector.scrapes == 0
    assert collector.off.startswith(f"server metrics off: http://127.0.0.1:{port}/metrics did "
                                    "not answer 5 times (")
    assert "pw" not in collector.off


def test_a_run_whose_metrics_url_answers_404_says_so_once_and_keeps_measuring(tmp_path, sim,
                                                                              tokenflood):
    root = sim.base_url.removesuffix("/v1")
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url, f"metrics_url: {root}/nope\n"))
    write(tmp_path / "run.yml", run_yml(rates=[2], length=1, load_types=LOAD))
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless")
    assert done.code == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "server metrics off" in line]
    assert said == [f"[tokenflood] server metrics off: {root}/nope answered HTTP 404; turn the "
                    "engine's metrics on (llama.cpp: --metrics; SGLang: --enable-metrics; vLLM, "
                    "TGI and the Dynamo frontend publish /metrics by default), set metrics_url in "
                    "endpoint.yml, or metrics: off"]
    s = done.summary()
    assert s["server"]["off"] == said[0].removeprefix("[tokenflood] ")
    assert s["server"]["engine"] is None and s["phases"][0]["server"] is None
    assert s["phases"][0]["ok"] == 2
    assert not (done.folder() / "server_metrics.csv").exists()
    assert "| server:" not in done.stderr


async def test_the_results_view_shows_the_servers_figures_and_where_its_queue_began(flooded):
    from textual.widgets import DataTable, Static

    from tokenflood_tui.tui.app import Launch, TokenfloodApp
    from tokenflood_tui.tui.screens.results import LoadTestResultsScreen
    app = TokenfloodApp(Launch("results", results_root=flooded.results,
                               results_dir=flooded.folder()))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, LoadTestResultsScreen) and screen.error is None
        head = " ".join(str(screen.query_one("#results-head", Static).render()).split())
        assert ("server queue: requests waited in the server's queue from phase 2 (10 req/s; "
                "vLLM metrics)") in head
        table = screen.query_one("#results-server", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[0] for r in rows] == ["1", "2"]
        assert rows[0][-1] == "ok" and rows[1][-1] == "PERSISTS"
        assert rows[0][2] == "0" and int(rows[1][2]) >= 5            # waiting max


@pytest.fixture(scope="module")
def unmetered(sim, tmp_path_factory) -> Completed:
    """A run at the flooded run's rates with `metrics: off`: no server figures."""
    folder = tmp_path_factory.mktemp("unmetered")
    write(folder / "endpoint.yml", endpoint_yml(sim.base_url, "metrics: off\n"))
    write(folder / "run.yml", run_yml(rates=[2, 10], length=1, arrival="constant",
                                      load_types=LOAD))
    return run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=folder)


def test_compare_shows_each_runs_server_figures_side_by_side_and_n_a_without_them(
        flooded, unmetered, tmp_path):
    """The flooded run (vLLM metrics) against one at the same rates with `metrics: off`: per
    rate a row per run, the flooded run's figures as its summary has them, n/a for the other."""
    off = unmetered
    assert off.code == 0, off.stderr
    assert off.summary()["server"] is None
    a, b = flooded.folder(), off.folder()
    out = tmp_path / "cmp"
    done = run_tokenflood("compare", str(a), str(b), "--headless", "--format", "md",
                          "--out", str(out), cwd=tmp_path)
    assert done.code == 0, done.stderr
    calm, busy = (p["server"] for p in flooded.summary()["phases"])
    # compare.json: per rate, each run's figures as its own summary has them
    c = json.loads((out / "compare.json").read_text())
    assert [r["server_engine"] for r in c["runs"]] == ["vLLM", None]
    assert [(x["group"], x["runs"][1]) for x in c["server"]] == [("2 req/s", None),
                                                                  ("10 req/s", None)]
    assert c["server"][1]["runs"][0] == busy and c["server"][0]["runs"][0] == calm
    # compare.md (and stdout with --format md): the table, a row per run under each rate
    md = (out / "compare.md").read_text()
    assert md in done.stdout or done.stdout.strip() in md
    table = md.split("## Server figures (each run's own /metrics)")[1].strip().splitlines()
    head = [h.strip() for h in table[0].strip("|").split("|")]
    assert head[:5] == ["rate", "run", "engine", "waiting mean", "waiting max"]
    assert head[-1] == "queue" and "TTFT gap p50 ms" in head and "server TTFT p99 ms" in head
    rows = [[x.strip() for x in line.strip("|").split("|")] for line in table[2:6]]
    assert [r[:3] for r in rows] == [["2 req/s", "A", "vLLM"], ["", "B", "n/a"],
                                     ["10 req/s", "A", "vLLM"], ["", "B", "n/a"]]
    col = {h: i for i, h in enumerate(head)}
    assert rows[2][col["waiting max"]] == f"{busy['waiting_max']:,.0f}"
    assert rows[2][col["KV max"]] == "100%" and rows[2][col["queue"]] == "PERSISTS"
    assert rows[2][col["server TTFT p50 ms"]] == f"{busy['ttft_ms']['percentiles']['p50']:,.0f}"
    assert rows[2][col["TTFT gap p50 ms"]] == f"{busy['ttft_gap_ms']['p50']:,.0f}"
    assert rows[0][col["waiting max"]] == "0" and rows[0][col["queue"]] == "ok"
    assert set(rows[1][3:]) == {"n/a"} and set(rows[3][3:]) == {"n/a"}
    # printed as text at 80 columns: the rate, the run, the queue and the gap kept first
    text = run_tokenflood("compare", str(a), str(b), "--headless", "--format", "text",
                          "--out", str(tmp_path / "cmp2"), cwd=tmp_path,
                          env={"COLUMNS": "80"})
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    at = lines.index("Server figures (each run's own /metrics)")
    assert all(len(line) <= 80 for line in lines)
    server = lines[at + 1:at + 6]          # its head, a row per run at each rate
    assert server[0].split() == ["rate", "run", "waiting", "max", "KV", "max", "server", "TTFT",
                                 "p50", "ms", "queue"], "\n".join(server)
    assert re.fullmatch(r"2 req/s +A +0 +\d+% +\d+ +ok", server[1]), server[1]
    assert re.fullmatch(r" +B +n/a( +n/a)+", server[2]), server[2]
    assert re.fullmatch(rf"10 req/s +A +{busy['waiting_max']:,.0f} +100% +[\d,]+ +PERSISTS",
                        server[3]), server[3]
    assert re.fullmatch(r" +B +n/a( +n/a)+", server[4]), server[4]
    assert "compare.md has every column" in text.stdout
    # report.html: the same table
    page = (out / "report.html").read_text()
    assert "Server figures (each run&#x27;s own /metrics)</h2>" in page
    assert page.count(">PERSISTS</td>") == 1 and page.count(">n/a</td>") >= 2 * 12


async def test_the_compare_screen_shows_the_server_figures_with_the_runs_in_full(flooded,
                                                                                unmetered):
    from textual.widgets import Static

    from tokenflood_tui.tui.app import Launch, TokenfloodApp
    from tokenflood_tui.tui.screens.compare import CompareScreen
    app = TokenfloodApp(Launch(results_root=flooded.results))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = CompareScreen([flooded.folder(), unmetered.folder()], flooded.results)
        await app.push_screen(screen)
        for _ in range(100):
            if screen.comparison is not None:
                break
            await pilot.pause(0.1)
        await pilot.press("3")
        await pilot.pause(0.3)
        text = str(app.screen.query_one("#compare-runs-text", Static).render())
        lines = text.splitlines()
        at = lines.index("Server figures (each run's own /metrics):")
        assert lines[at + 1].split()[:4] == ["rate", "run", "engine", "waiting"]
        assert re.match(r" +10 req/s +A +vLLM .* PERSISTS$", lines[at + 4]), lines[at + 4]
        assert re.fullmatch(r" +B +n/a( +n/a)+", lines[at + 5]), lines[at + 5]


TOKEN = "metrics-token-4f9a2c7e81b3"       # what the guarded /metrics wants, and echoes


@pytest.fixture
def guarded(sim):
    """A /metrics behind a bearer token, in front of the simulator's: it answers 401 without the
    token, 403 with another, and with it the simulator's metrics plus a comment echoing the
    Authorization header it got (as a careless proxy might). Counts what it was sent."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    upstream = sim.base_url.removesuffix("/v1") + "/metrics"
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            seen.append(auth)
            if auth is None:
                status, body = 401, b"unauthorized"
            elif auth != f"Bearer {TOKEN}":
                status, body = 403, f"forbidden: {auth}".encode()
            elif self.path == "/metrics":
                text = urllib.request.urlopen(upstream, timeout=5).read().decode()
                status, body = 200, (f"# scraped with Authorization: {auth}\n{text}").encode()
            else:
                status, body = 404, b"not found"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics", seen
    finally:
        server.shutdown()
        server.server_close()


def everything_written(done: Completed) -> str:
    return "\n".join(p.read_text(errors="replace") for p in done.results.rglob("*")
                     if p.is_file())


def test_metrics_headers_go_on_every_scrape_and_their_secret_nowhere_else(tmp_path, sim,
                                                                         guarded):
    url, seen = guarded
    write(tmp_path / "endpoint.yml", endpoint_yml(
        sim.base_url, f"metrics_url: {url}\n"
                      "metrics_headers: {Authorization: 'Bearer ${METRICS_TOKEN}'}\n"))
    write(tmp_path / "run.yml", run_yml(rates=[2], length=2, load_types=LOAD))
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", "-v",
                          cwd=tmp_path, env={"METRICS_TOKEN": TOKEN})
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["server"]["engine"] == "vLLM" and s["server"]["off"] is None
    assert s["server"]["scrapes"] >= 3 and s["server"]["failed_scrapes"] == 0
    # every request the collector sent carried the header
    assert len(seen) >= s["server"]["scrapes"] and set(seen) == {f"Bearer {TOKEN}"}
    # the server echoed it into its metrics: scrubbed from the raw scrapes, and from every file
    raw = (done.folder() / "server_scrapes.txt").read_text()
    assert raw.count("# scraped with Authorization: ***redacted***\n") == 3
    assert TOKEN not in everything_written(done)
    assert TOKEN not in done.stdout + done.stderr
    # the saved endpoint keeps the reference, not the value
    assert "Bearer ${METRICS_TOKEN}" in (done.folder() / "endpoint.yml").read_text()


@pytest.mark.parametrize(("headers", "status"), [
    ("", 401), ("metrics_headers: {Authorization: 'Bearer ${METRICS_TOKEN}'}\n", 403)])
def test_a_metrics_url_that_refuses_says_to_set_metrics_headers_once(tmp_path, sim, guarded,
                                                                     headers, status):
    url, seen = guarded
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url, f"metrics_url: {url}\n{headers}"))
    write(tmp_path / "run.yml", run_yml(rates=[2], length=1, load_types=LOAD))
    wrong = "wrong-token-0123456789ab"
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path,
                          env={"METRICS_TOKEN": wrong})
    assert done.code == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "server metrics off" in line]
    assert said == [f"[tokenflood] server metrics off: {url} answered HTTP {status} (not "
                    "allowed); set metrics_headers in endpoint.yml (e.g. Authorization: Bearer "
                    "${METRICS_TOKEN}), or metrics: off"]
    assert len(seen) == 1                        # switched off at the first answer
    s = done.summary()
    assert s["server"]["off"] == said[0].removeprefix("[tokenflood] ")
    assert s["phases"][0]["ok"] == 2 and s["phases"][0]["server"] is None
    assert wrong not in everything_written(done) + done.stdout + done.stderr


def test_a_metrics_header_naming_an_unset_env_var_stops_before_the_run(tmp_path, sim):
    write(tmp_path / "endpoint.yml", endpoint_yml(
        sim.base_url, "metrics_headers: {Authorization: 'Bearer ${METRICS_TOKEN}'}\n"))
    write(tmp_path / "run.yml", run_yml(rates=[2], length=1, load_types=LOAD))
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path,
                          env={"METRICS_TOKEN": ""})
    assert done.code != 0
    assert ("metrics_headers.Authorization refers to the env var METRICS_TOKEN, which is not "
            "set: export METRICS_TOKEN=... and run again") in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.results.exists() or not any(done.results.iterdir())
    # with metrics off, the header is never sent: its env var need not be set
    write(tmp_path / "endpoint.yml", endpoint_yml(
        sim.base_url, "metrics: off\nmetrics_headers: {Authorization: 'Bearer ${METRICS_TOKEN}'}\n"))
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path,
                          env={"METRICS_TOKEN": ""})
    assert done.code == 0, done.stderr
