"""The output accuracy warning of a reasoning model's phase holds the answer to output_length, not
the reasoning: built from records as a run builds it."""

from __future__ import annotations

from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.run.stats import PhaseAccumulator, phase_warnings


def phase(reasoning: int, answer: int, target: int, usage_details: bool = True):
    acc = PhaseAccumulator(1, 10.0, 1.0, 10, [50.0])
    acc.t_start = 100.0
    for i in range(10):
        t = 100.0 + i / 10
        rec = RequestRecord(1, 10.0, 0, t, 64, 0, target, t_send=t)
        for k in range(reasoning):
            rec.stamp_chunk(t + 0.05 + k * 0.01, None, "hm")
        for k in range(answer):
            rec.stamp_chunk(t + 0.05 + (reasoning + k) * 0.01, "word", None)
        usage = {"prompt_tokens": 64, "completion_tokens": reasoning + answer}
        if usage_details:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        rec.stamp_end(t + 1.0, usage)
        acc.add(rec)
    acc.t_done = 102.0
    return acc.stats()


def test_the_answer_is_held_to_the_target_and_the_reasoning_is_not():
    # 20 reasoning tokens and an answer of 24: as asked, though 44 tokens came out
    assert not [w for w in phase_warnings(phase(20, 24, 24)) if "tokens" in w]
    # reasoning took most of max_tokens: the answer fell short, and the warning says "answer"
    (warning,) = phase_warnings(phase(20, 4, 24))
    assert warning == "phase 1: mean answer tokens 4.0 differ from the target 24.0 by -83.3%"
    # counted from the reasoning chunks when the usage does not say: the same answer
    (counted,) = phase_warnings(phase(20, 4, 24, usage_details=False))
    assert counted == warning


def test_a_phase_without_reasoning_still_says_output():
    (warning,) = phase_warnings(phase(0, 12, 24))
    assert warning == "phase 1: mean output tokens 12.0 differ from the target 24.0 by -50.0%"
