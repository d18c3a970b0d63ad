"""The sender a Dask actor runs, without Dask: it answers in the local worker's messages, and it
stops sending when nobody collects from it (a coordinator that died must not leave load running
on somebody's bill)."""

from __future__ import annotations

import time

from tokenflood_tui.run import prompts
from tokenflood_tui.run.cluster import SenderActor
from tokenflood_tui.run.messages import Ready, Start
from tokenflood_tui.specs import EndpointSpec, parse_run_suite

from support.simulators import simulator_fixture

SUITE = parse_run_suite("name: u\nrequests_per_second_rates: [1]\ntest_length_in_seconds: 1\n"
                        "load_types: [{prompt_length: 32, output_length: 2}]\n")


sim = simulator_fixture("--ttft-ms", "5")


def test_a_sender_nobody_collects_from_stops(sim):
    endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)
    actor = SenderActor(SUITE, endpoint, None, orphan_after_s=1.0)
    actor.send(Start(prompts.PromptFactory(SUITE.load_types, ["a", "b", "c"], 1, 4)))
    answers: list = []
    deadline = time.monotonic() + 30
    while not any(isinstance(m, Ready) for m in answers) and time.monotonic() < deadline:
        answers += actor.take()
        time.sleep(0.05)
    assert any(isinstance(m, Ready) for m in answers), answers
    assert actor._thread.is_alive()
    actor._thread.join(10)           # nobody takes: after 1 s the sender closes and its thread ends
    assert not actor._thread.is_alive()
