"""The observation planner: polls on their wall-clock slots, and which late polls still run."""

from __future__ import annotations

from tokenflood_tui.run.plan import ObservationPlanner
from tokenflood_tui.specs import parse_run_suite

ANCHOR = 1_800_000_000.0       # a whole multiple of 60 s


def planner(within: float, requests: int) -> ObservationPlanner:
    suite = parse_run_suite(f"""\
type: observation
name: p
duration_hours: {4 * 60 / 3600}
polling_interval_minutes: 1
num_requests: {requests}
within_seconds: {within}
load_type: {{prompt_length: 64, output_length: 4}}
""")
    return ObservationPlanner(suite, ANCHOR)


def test_polls_sit_on_their_slots_with_requests_spread_over_the_window():
    p = planner(within=30, requests=3)
    missed, plan = p.next(ANCHOR - 5)
    assert missed == [] and plan is not None
    assert plan.phase == 1 and plan.slot_utc == ANCHOR and list(plan.offsets_s) == [0, 10, 20]
    _, plan = p.next(ANCHOR + 60 - 1)
    assert plan is not None and plan.phase == 2 and plan.slot_utc == ANCHOR + 60


def test_a_poll_runs_late_within_one_request_spacing_and_is_missed_past_it():
    p = planner(within=30, requests=3)                  # spacing 10 s
    assert p.late_start_s == 10
    missed, plan = p.next(ANCHOR + 9.5)                 # only the first request is late
    assert missed == [] and plan is not None and plan.phase == 1
    missed, plan = p.next(ANCHOR + 60 + 10.5)           # two would go out at once: missed
    assert [m.phase for m in missed] == [2] and "by more than 10 s" in missed[0].reason
    assert plan is not None and plan.phase == 3


def test_a_short_window_of_many_requests_still_gets_a_second():
    p = planner(within=2, requests=20)                  # spacing 0.1 s
    assert p.late_start_s == 1.0
    assert p.next(ANCHOR + 0.9)[1] is not None
    missed, plan = p.next(ANCHOR + 60 + 1.1)
    assert [m.phase for m in missed] == [2] and plan is not None and plan.phase == 3


def test_every_slot_that_passed_while_down_is_missed_on_a_resume():
    p = planner(within=30, requests=3)
    missed = p.skip_until(ANCHOR + 2 * 60 + 31, "tokenflood was not running")
    assert [m.phase for m in missed] == [1, 2, 3]
    assert p.next(ANCHOR + 3 * 60 - 1)[1].phase == 4


def test_a_fresh_run_whose_warm_up_outlasts_the_first_slot_starts_at_the_next_one():
    p = planner(within=30, requests=3)
    p.ready(ANCHOR + 75, lead_s=0.005)                 # ready 75 s after the first slot
    assert p.anchor_utc == ANCHOR + 120                # the next aligned slot, not poll 1 missed
    missed, plan = p.next(ANCHOR + 75)
    assert missed == [] and plan.phase == 1 and plan.slot_utc == ANCHOR + 120
    assert len(p.plans) == 4                           # as many polls as planned
    on_time = planner(within=30, requests=3)
    on_time.ready(ANCHOR - 1, lead_s=0.005)
    assert on_time.anchor_utc == ANCHOR


def test_a_fresh_run_does_not_start_its_first_poll_late():
    # Ready 0.2 s after the slot: within the late start a later poll is allowed, but the first
    # poll of a fresh run loses nothing by waiting for the next slot, and would start late.
    late = planner(within=30, requests=3)
    late.ready(ANCHOR + 0.2, lead_s=0.005)
    assert late.anchor_utc == ANCHOR + 60
    # the lead counts: ready 0.1 s before the slot with senders that need 0.15 s
    tight = planner(within=30, requests=3)
    tight.ready(ANCHOR - 0.1, lead_s=0.15)
    assert tight.anchor_utc == ANCHOR + 60


def test_an_unaligned_run_starts_its_first_poll_when_ready_not_an_interval_later():
    suite = planner(within=30, requests=3).suite.model_copy(update={"align": False})
    p = ObservationPlanner(suite, ANCHOR)              # anchored when the budget was shown
    p.ready(ANCHOR + 12.5, lead_s=0.15)                # warm-up and the prompt took 12.5 s
    assert p.anchor_utc == ANCHOR + 12.65
    assert [plan.slot_utc for plan in p.plans] == [ANCHOR + 12.65 + 60 * k for k in range(4)]


def test_a_resumed_run_keeps_its_slots():
    from tokenflood_tui.run.plan import ObservationPlanner
    p = planner(within=30, requests=3)
    resumed = ObservationPlanner(p.suite, ANCHOR, start=3)
    resumed.ready(ANCHOR + 200, lead_s=0.005)
    assert resumed.anchor_utc == ANCHOR
