"""The server's /metrics, read into one set of signals whatever the engine (telemetry/): each
engine's real exposition text (names from the engines' sources, shared notes), rates from
counter changes over wall time, percentiles from bucket changes, n/a never 0."""

from __future__ import annotations

import pytest

from tokenflood_tui.metrics.summary import Distribution
from tokenflood_tui.telemetry.engines import ServerSample, detect, sample
from tokenflood_tui.telemetry.prometheus import NotPrometheus, parse
from tokenflood_tui.telemetry.series import phase_figures, point


def hist(name: str, labels: str, buckets: dict[str, float], total: float) -> str:
    lines = [f"# TYPE {name} histogram"]
    lines += [f'{name}_bucket{{{labels}le="{le}"}} {n}' for le, n in buckets.items()]
    count = list(buckets.values())[-1]
    lines += [f"{name}_count{{{labels.rstrip(',')}}} {count}",
              f"{name}_sum{{{labels.rstrip(',')}}} {total}"]
    return "\n".join(lines) + "\n"


def vllm(running, waiting, hits, queries, preempt, prompt, gen, ttft, queue, old=False) -> str:
    """vLLM 0.11's names (old: 0.10's gpu_ ones), two engines (data parallel) as labels."""
    kv = "vllm:gpu_cache_usage_perc" if old else "vllm:kv_cache_usage_perc"
    prefix = "vllm:gpu_prefix_cache" if old else "vllm:prefix_cache"
    text = ""
    for engine in ("0", "1"):
        lab = f'engine="{engine}",model_name="m"'
        text += (f"# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
                 f"# TYPE vllm:num_requests_running gauge\n"
                 f"vllm:num_requests_running{{{lab}}} {running / 2}\n"
                 f"# TYPE vllm:num_requests_waiting gauge\n"
                 f"vllm:num_requests_waiting{{{lab}}} {waiting / 2}\n"
                 f"# TYPE {kv} gauge\n{kv}{{{lab}}} {0.25 if engine == '0' else 0.75}\n"
                 f"# TYPE {prefix}_queries counter\n{prefix}_queries_total{{{lab}}} {queries / 2}\n"
                 f"# TYPE {prefix}_hits counter\n{prefix}_hits_total{{{lab}}} {hits / 2}\n"
                 f"# TYPE vllm:num_preemptions counter\nvllm:num_preemptions_total{{{lab}}} "
                 f"{preempt / 2}\n"
                 f"vllm:prompt_tokens_total{{{lab}}} {prompt / 2}\n"
                 f"vllm:generation_tokens_total{{{lab}}} {gen / 2}\n")
        text += hist("vllm:time_to_first_token_seconds", lab + ",",
                     {"0.1": ttft[0] / 2, "0.5": ttft[1] / 2, "1.0": ttft[2] / 2,
                      "+Inf": ttft[2] / 2}, ttft[3] / 2)
        text += hist("vllm:request_queue_time_seconds", lab + ",",
                     {"0.1": queue[0] / 2, "1.0": queue[1] / 2, "+Inf": queue[1] / 2},
                     queue[2] / 2)
        itl = "vllm:time_per_output_token_seconds" if old else "vllm:inter_token_latency_seconds"
        text += hist(itl, lab + ",", {"0.01": 10, "0.05": 20, "+Inf": 20}, 0.4)
    return text


def test_vllm_signals_summed_over_engines_rates_over_wall_time_and_phase_percentiles():
    a = sample(detect(s := parse(vllm(0, 0, 0, 0, 0, 0, 0, (0, 0, 0, 0), (0, 0, 0)))), s, 10.0)
    b_text = vllm(4, 6, 300, 1000, 2, 2000, 500, (10, 30, 40, 12.0), (20, 40, 8.0))
    b = sample(detect(s := parse(b_text)), s, 12.0)
    assert b.engine == "vLLM"
    assert (b.running, b.waiting, b.kv_usage) == (4, 6, 0.5)       # usage: the engines' mean
    p = point(a, b, phase=2)
    assert p.phase == 2 and p.prefix_hit_ratio == pytest.approx(0.3)
    assert p.prompt_tokens_per_s == pytest.approx(1000)               # 2000 tokens over 2 s
    assert p.generation_tokens_per_s == pytest.approx(250)
    assert p.preemptions_per_s == pytest.approx(1)
    # 40 TTFTs: 10 ≤ 0.1 s, 20 in (0.1, 0.5], 10 in (0.5, 1.0]: the median is the 20th, at
    # the middle of the second bucket; p99 (rank 39.6) near the top of the third
    assert p.ttft_p50_ms == pytest.approx(300)
    assert p.ttft_p99_ms == pytest.approx(980)
    stats = phase_figures(a, b, [p], [50, 99], Distribution(mean=700, p50=350, p99=1500))
    assert stats.ttft_ms is not None and stats.ttft_ms.count == 40
    assert stats.ttft_ms.mean == pytest.approx(300)                   # 12 s over 40
    assert stats.ttft_gap_ms == {"p50": pytest.approx(50), "p99": pytest.approx(520)}
    assert stats.queue_ms is not None and stats.queue_ms.percentiles["p50"] == pytest.approx(100)
    assert stats.itl_ms is not None and stats.itl_ms.count == 0      # none observed in between
    assert (stats.preemptions, stats.waiting_max, stats.kv_usage_max) == (2, 6, 0.5)


def test_vllm_before_0_11_read_under_its_old_names():
    s = parse(vllm(2, 0, 50, 100, 0, 10, 10, (1, 1, 1, 0.05), (1, 1, 0.0), old=True))
    got = sample(detect(s), s, 1.0)
    assert got.kv_usage == 0.5 and got.prefix_hits == 50 and got.prefix_queries == 100
    assert got.itl is not None and got.itl.count == 40


SGLANG = """# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="qwen",tp_rank="0"} 8.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="qwen",tp_rank="0"} 3.0
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="qwen",tp_rank="0"} 0.92
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="qwen",tp_rank="0"} 0.4
# TYPE sglang:num_retracted_reqs gauge
sglang:num_retracted_reqs{model_name="qwen",tp_rank="0"} 1.0
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="qwen",tp_rank="0"} 5000.0
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="qwen",tp_rank="0"} 800.0
# TYPE sglang:queue_time_seconds histogram
sglang:queue_time_seconds_bucket{le="0.5",model_name="qwen",tp_rank="0"} 2.0
sglang:queue_time_seconds_bucket{le="+Inf",model_name="qwen",tp_rank="0"} 4.0
sglang:queue_time_seconds_count{model_name="qwen",tp_rank="0"} 4.0
sglang:queue_time_seconds_sum{model_name="qwen",tp_rank="0"} 3.0
"""

TGI = """# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 5
# TYPE tgi_queue_size gauge
tgi_queue_size 2
# TYPE tgi_request_input_length histogram
tgi_request_input_length_bucket{le="1000"} 3
tgi_request_input_length_bucket{le="+Inf"} 3
tgi_request_input_length_sum 1500
tgi_request_input_length_count 3
# TYPE tgi_request_generated_tokens histogram
tgi_request_generated_tokens_bucket{le="1000"} 3
tgi_request_generated_tokens_bucket{le="+Inf"} 3
tgi_request_generated_tokens_sum 300
tgi_request_generated_tokens_count 3
# TYPE tgi_request_queue_duration histogram
tgi_request_queue_duration_bucket{le="0.01"} 1
tgi_request_queue_duration_bucket{le="0.1"} 3
tgi_request_queue_duration_bucket{le="+Inf"} 3
tgi_request_queue_duration_sum 0.12
tgi_request_queue_duration_count 3
"""

LLAMACPP = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 600
# TYPE llamacpp:prompt_tokens_cached_total counter
llamacpp:prompt_tokens_cached_total 200
# TYPE llamacpp:prompt_seconds_total counter
llamacpp:prompt_seconds_total 1.5
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 120
# TYPE llamacpp:tokens_predicted_seconds_total counter
llamacpp:tokens_predicted_seconds_total 4.2
# TYPE llamacpp:n_decode_total counter
llamacpp:n_decode_total 77
# TYPE llamacpp:prompt_tokens_seconds gauge
llamacpp:prompt_tokens_seconds 400
# TYPE llamacpp:predicted_tokens_seconds gauge
llamacpp:predicted_tokens_seconds 28.5
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 4
"""

DYNAMO = """# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="qwen"} 12
# TYPE dynamo_frontend_queued_requests gauge
dynamo_frontend_queued_requests{model="qwen"} 5
# TYPE dynamo_frontend_time_to_first_token_seconds histogram
dynamo_frontend_time_to_first_token_seconds_bucket{model="qwen",le="0.1"} 0
dynamo_frontend_time_to_first_token_seconds_bucket{model="qwen",le="1"} 4
dynamo_frontend_time_to_first_token_seconds_bucket{model="qwen",le="+Inf"} 4
dynamo_frontend_time_to_first_token_seconds_sum{model="qwen"} 2
dynamo_frontend_time_to_first_token_seconds_count{model="qwen"} 4
"""


def read(text: str, t: float = 1.0) -> ServerSample:
    samples = parse(text)
    engine = detect(samples)
    assert engine is not None
    return sample(engine, samples, t)


def test_sglang_hit_ratio_and_usage_are_its_gauges_and_preemptions_are_na():
    got = read(SGLANG)
    assert got.engine == "SGLang"
    assert (got.running, got.waiting, got.kv_usage, got.prefix_hit_ratio) == (8, 3, 0.92, 0.4)
    assert got.preemptions is None and got.ttft is None
    p = point(read(SGLANG, 0.0), got, 1)
    assert p.prefix_hit_ratio == 0.4 and p.preemptions_per_s is None


def test_tgi_tokens_from_its_histograms_sums_and_no_kv_or_prefix_signal():
    before = read(TGI, 0.0)
    after = read(TGI.replace("input_length_sum 1500", "input_length_sum 3500")
                 .replace("generated_tokens_sum 300", "generated_tokens_sum 700"), 4.0)
    assert after.engine == "TGI" and (after.running, after.waiting) == (5, 2)
    p = point(before, after, 1)
    assert p.prompt_tokens_per_s == 500 and p.generation_tokens_per_s == 100
    assert p.kv_usage is None and p.prefix_hit_ratio is None and p.ttft_p50_ms is None
    assert after.queue is not None and after.queue.count == 3


def test_llamacpp_counts_cached_tokens_apart_and_its_resetting_gauges_are_never_read():
    before = read(LLAMACPP, 0.0)
    after = read(LLAMACPP.replace("prompt_tokens_total 600", "prompt_tokens_total 900")
                 .replace("cached_total 200", "cached_total 500")
                 .replace("predicted_total 120", "predicted_total 220")
                 .replace("predicted_tokens_seconds 28.5", "predicted_tokens_seconds 0"), 2.0)
    assert after.engine == "llama.cpp" and (after.running, after.waiting) == (2, 4)
    p = point(before, after, 1)
    # 300 looked up from the cache of 600 prompt tokens (300 computed + 300 cached)
    assert p.prefix_hit_ratio == pytest.approx(0.5)
    assert p.generation_tokens_per_s == 50          # Δ tokens_predicted_total over 2 s
    assert p.prompt_tokens_per_s == 150
    assert p.kv_usage is None and p.preemptions_per_s is None


def test_dynamo_frontend_queue_and_ttft():
    got = read(DYNAMO)
    assert got.engine == "Dynamo" and (got.running, got.waiting) == (12, 5)
    assert got.ttft is not None and got.ttft.quantile(0.5) == pytest.approx(0.55)


def test_a_counter_that_fell_is_a_restart_not_a_negative_rate():
    before = read(LLAMACPP, 0.0)
    after = read(LLAMACPP.replace("predicted_total 120", "predicted_total 10"), 1.0)
    assert point(before, after, 1).generation_tokens_per_s is None


@pytest.mark.parametrize("text", ["<html><body>Not Found</body></html>",
                                  '{"error": {"code": 501, "message": "This server does not '
                                  'support metrics endpoint. Start it with `--metrics`"}}', ""])
def test_an_answer_that_is_not_prometheus_text_says_so(text):
    with pytest.raises(NotPrometheus):
        parse(text)


def test_metrics_of_no_known_engine_are_detected_as_none():
    assert detect(parse("# TYPE python_gc_objects_collected_total counter\n"
                        'python_gc_objects_collected_total{generation="0"} 12\n')) is None


def test_queue_persists_only_when_most_scrapes_of_a_phase_saw_a_queue():
    from tokenflood_tui.metrics.server import queue_persists
    assert queue_persists([0, 3, 5, 4]) is True
    assert queue_persists([0, 0, 5, 0]) is False
    assert queue_persists([7]) is False           # one scrape is a burst, not a standing queue
    assert queue_persists([]) is None             # no waiting gauge: n/a


def test_the_metrics_url_is_the_base_urls_origin_unless_given_or_off():
    from tokenflood_tui.specs import EndpointSpec
    from tokenflood_tui.specs.secrets import public_url

    def spec(**keys) -> EndpointSpec:
        return EndpointSpec.model_validate({"provider": "hosted_vllm", "model": "m", **keys})
    assert spec(base_url="http://u:pw@10.0.0.5:8000/v1").metrics_endpoint == \
        "http://u:pw@10.0.0.5:8000/metrics"
    assert public_url("http://u:pw@10.0.0.5:8000/metrics") == "http://10.0.0.5:8000/metrics"
    assert spec(base_url="http://h:8080/v1", metrics_url="http://h:9000/metrics") \
        .metrics_endpoint == "http://h:9000/metrics"
    assert spec(base_url="http://h:8080/v1", metrics=False).metrics_endpoint is None
    hosted = EndpointSpec.model_validate({"provider": "openai", "model": "gpt-4o-mini"})
    assert hosted.metrics_endpoint is None          # a hosted API: nothing to read
    with pytest.raises(ValueError, match="metrics_url must be an http:// or https:// URL"):
        spec(base_url="http://h/v1", metrics_url="h:9000/metrics")


def test_a_requests_time_queued_from_tgi_headers_or_llamacpp_timings():
    from tokenflood_tui.metrics.records import RequestRecord

    def record() -> RequestRecord:
        rec = RequestRecord(1, 2.0, 0, t_sched=10.0, prompt_tokens_target=64,
                            prefix_tokens_target=0, output_tokens_target=8)
        rec.t_send, rec.t_end = 10.0, 12.5               # e2e 2500 ms
        return rec
    llama = record()
    llama.stamp_server_timings({"cache_n": 16, "prompt_n": 32, "prompt_ms": 614.02,
                                "predicted_n": 8, "predicted_ms": 134.2})
    assert llama.queued_ms == pytest.approx(2500 - 614.02 - 134.2)
    assert llama.server_cached_tokens == 16
    tgi = record()
    tgi.stamp_server_headers({"x-queue-time": "41", "x-inference-time": "2300"})
    assert (tgi.queued_ms, tgi.server_inference_ms) == (41.0, 2300.0)
    odd = record()
    odd.stamp_server_timings({"prompt_ms": "soon", "predicted_ms": 10})
    assert odd.queued_ms is None                           # no number, no estimate
    assert record().queued_ms is None                      # a server that gave no timing


def test_a_threshold_on_a_server_figure_is_parsed_and_a_wrong_one_named():
    from tokenflood_tui.metrics.thresholds import parse_threshold
    assert parse_threshold("server.waiting.max<5").text == "server.waiting.max < 5"
    assert parse_threshold("server.ttft_ms.p(99) <= 900").text == "server.ttft_ms.p99 <= 900"
    with pytest.raises(ValueError, match=r"'server.waiting < 5': server.waiting is not a server "
                                         r"figure; use server. and one of waiting.mean, "
                                         r"waiting.max"):
        parse_threshold("server.waiting < 5")


def verdicts(points: list[dict], client_ttft: list[float] | None = None) -> list[str]:
    """The verdicts a live view says over a phase's scrapes (each a snapshot of the run)."""
    from tokenflood_tui.live.server import ServerFeed
    from tokenflood_tui.metrics.server import ServerPoint
    from tokenflood_tui.run.coordinator import RunSnapshot
    from tokenflood_tui.run.stats import PhaseAccumulator
    feed, said = ServerFeed(), []
    for i, figures in enumerate(points):
        phase = PhaseAccumulator(1, 10.0, 10.0, 100, [50.0]).stats()
        phase.recent_ttft_ms = (client_ttft or [50.0] * len(points))[i]
        snap = RunSnapshot(stage="running", phase=1, total_phases=1, phases=[phase],
                           elapsed_s=i, remaining_s=10 - i,
                           server=ServerPoint(t=float(i), phase=1, **figures))
        verdict = feed.update(snap)
        if verdict is not None:
            said.append(verdict.text)
    return said


def test_the_live_verdict_is_said_only_when_the_servers_figures_support_it():
    calm = [dict(running=2, waiting=0, kv_usage=0.3, ttft_p50_ms=50.0)] * 5
    assert verdicts(calm) == []
    queue = [dict(running=8, waiting=w, kv_usage=0.6) for w in (0, 2, 4, 7, 9)]
    assert verdicts(queue) == ["phase 1: server queueing: 7 waiting, not falling, 8 running, "
                               "KV 60%"]
    full = [dict(running=8, waiting=0, kv_usage=0.95, preemptions_per_s=0.0)] * 3
    assert verdicts(full) == ["phase 1: server memory-bound: KV cache full, 8 running, KV 95%"]
    preempted = [dict(running=8, waiting=0, kv_usage=0.7, preemptions_per_s=p) for p in (0, 0, 2)]
    assert verdicts(preempted) == [
        "phase 1: server memory-bound: preempting 2.0/s, 8 running, KV 70%"]
    busy = [dict(running=16, waiting=0, itl_p50_ms=itl) for itl in (20.0, 22.0, 26.0, 30.0)]
    assert verdicts(busy) == ["phase 1: server compute-bound: ITL p50 20 ms → 26 ms, no queue, "
                              "16 running"]
    # the client's TTFT doubles while the server's holds: the time is not the server's
    steady = [dict(running=2, waiting=0, ttft_p50_ms=50.0)] * 4
    assert verdicts(steady, client_ttft=[60.0, 90.0, 130.0, 140.0]) == [
        "phase 1: server client/network: client TTFT 60 ms → 130 ms, the server's 50 ms → 50 ms"]
    # an engine without a waiting gauge (n/a) is never said to queue
    assert verdicts([dict(running=4)] * 5) == []


def test_only_the_engines_own_names_are_parsed_and_give_the_same_signals():
    from tokenflood_tui.telemetry.prometheus import names
    text = vllm(4, 6, 300, 1000, 2, 2000, 500, (10, 30, 40, 12.0), (20, 40, 8.0)) + hist(
        "vllm:e2e_request_latency_seconds", 'engine="0",', {"1.0": 3, "+Inf": 4}, 9.0)
    engine = detect(names(text))
    assert engine is not None and engine.name == "vLLM"
    kept = parse(text, engine.names)
    assert "vllm:e2e_request_latency_seconds_bucket" not in kept      # read by nobody here
    assert sample(engine, kept, 1.0) == sample(engine, parse(text), 1.0)
    assert parse("# TYPE other gauge\nother 1\n", engine.names) == {}  # none of its names: none
