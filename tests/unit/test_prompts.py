"""Prompt synthesis: exact sizes for the counter in use, shared prefixes, unique filler, seeded."""


from tokenflood_tui.run.prompts import INSTRUCTION, LitellmTokenCounter, PromptFactory, single_token_words
from tokenflood_tui.simulator.tokenizer import count_tokens
from tokenflood_tui.specs import LoadType


class SimulatorCounter:
    """The simulator's tokenizer, called in-process."""
    name = "simulator tokenizer"

    async def count(self, text: str) -> int:
        return count_tokens(text)


LOAD_TYPES = [LoadType(prompt_length=512, prefix_length=128, output_length=8),
              LoadType(prompt_length=640, prefix_length=568, output_length=8),
              LoadType(prompt_length=40, prefix_length=0, output_length=8)]


async def factory(counter, template_tokens=7, seed=0) -> PromptFactory:
    vocab = await single_token_words(counter)
    return PromptFactory(LOAD_TYPES, vocab, seed, await counter.count(INSTRUCTION), template_tokens)


async def test_prompts_hit_their_target_exactly_with_an_exact_counter():
    counter = SimulatorCounter()
    f = await factory(counter, template_tokens=7)
    for i, lt in enumerate(LOAD_TYPES):
        for seq in (0, 1, 12345):
            assert await counter.count(f.content(i, seq)) + 7 == lt.prompt_length


async def test_prefix_is_identical_across_requests_and_differs_between_load_types():
    f = await factory(SimulatorCounter())
    a, b = f.content(0, 1), f.content(0, 2)
    prefix = f.shapes[0].prefix_text
    assert a.startswith(prefix) and b.startswith(prefix)
    assert count_tokens(prefix) == 128
    assert a[len(prefix):] != b[len(prefix):]
    assert f.shapes[1].prefix_text[:200] != prefix[:200]


async def test_filler_is_unique_right_after_the_prefix():
    f = await factory(SimulatorCounter())
    prefix_len = len(f.shapes[1].prefix_text)
    starts = {f.content(1, seq)[prefix_len:prefix_len + 40] for seq in range(2000)}
    assert len(starts) == 2000


async def test_prompts_are_seeded():
    c = SimulatorCounter()
    f1, f2, f3 = await factory(c, seed=3), await factory(c, seed=3), await factory(c, seed=4)
    assert f1.content(0, 7) == f2.content(0, 7)
    assert f1.content(0, 7) != f3.content(0, 7)


async def test_instruction_is_dropped_only_when_there_is_no_room():
    f = await factory(SimulatorCounter(), template_tokens=7)
    assert f.content(0, 1).endswith(INSTRUCTION)
    short = PromptFactory([LoadType(prompt_length=20, prefix_length=5, output_length=4)],
                          f.vocabulary, 0, f.instruction_tokens, 7)
    assert not short.content(0, 1).endswith(INSTRUCTION)
    assert count_tokens(short.content(0, 1)) + 7 == 20
    too_short = PromptFactory([LoadType(prompt_length=12, prefix_length=5, output_length=4)],
                              f.vocabulary, 0, f.instruction_tokens, 7)
    assert not too_short.fits(0)


async def test_adjust_moves_the_length_by_the_measured_error():
    counter = SimulatorCounter()
    f = await factory(counter)
    before = await counter.count(f.content(0, 5))
    f.adjust(0, -3)
    assert await counter.count(f.content(0, 5)) == before - 3


async def test_litellm_counter_works_offline_and_prompts_match_it():
    counter = LitellmTokenCounter("gpt-4o-mini")
    vocab = await single_token_words(counter)
    assert len(vocab) > 100
    f = PromptFactory(LOAD_TYPES[:1], vocab, 0, await counter.count(INSTRUCTION), 0)
    # litellm's counter is not additive on long texts (it splits them), so allow 1%; the engine's
    # calibration request corrects what remains against the server's usage.
    assert abs(await counter.count(f.content(0, 99)) - 512) <= 5
