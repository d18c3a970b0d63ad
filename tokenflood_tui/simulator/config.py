"""Settings of the built-in simulator: latency model, limits and seeded faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .limits import RateLimitConfig

# where a reasoning model's thinking goes in the stream: the delta's field (vLLM's `reasoning`,
# SGLang's and llama.cpp's `reasoning_content`), or the content between <think> and </think>
ReasoningField = Literal["reasoning", "reasoning_content", "think-tags"]
REASONING_FIELDS: tuple[ReasoningField, ...] = ("reasoning", "reasoning_content", "think-tags")


@dataclass(slots=True)
class SimulatorConfig:
    """Everything that shapes how the simulator answers; times in milliseconds unless named."""

    model: str = "sim-model"
    ttft_ms: float = 50.0
    prefill_ms_per_token: float = 0.0
    itl_ms: float = 10.0
    # added to every inter-token interval per 1,000 tokens of context (the prompt and the reply
    # so far): decoding slows as the context grows, as attention over a longer KV cache does
    itl_ms_per_1k_context: float = 0.0
    jitter: float = 0.0
    slots: int = 0
    max_model_len: int = 4096
    prefix_cache: bool = True
    seed: int = 0
    api_key: str | None = None
    error_rates: dict[int, float] = field(default_factory=dict)
    cut_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 5.0
    malformed_rate: float = 0.0
    # usage reports this many more tokens than the request had (prompt) or the reply has
    # (completion, as a reasoning model bills hidden thinking): what a client's spend sees
    usage_extra_prompt_tokens: int = 0
    usage_extra_completion_tokens: int = 0
    # a reasoning model: this many reasoning tokens (one every itl_ms, from the first token on)
    # before the answer, all within max_tokens; `no_answer_share` of the requests reason until
    # max_tokens and never answer (finish_reason length, no content)
    reasoning_tokens: int = 0
    reasoning_field: ReasoningField = "reasoning"
    reasoning_usage: bool = True        # usage.completion_tokens_details.reasoning_tokens
    no_answer_share: float = 0.0
    # a hosted provider's rate limits and their headers and 429 bodies (limits.py)
    rate_limit: RateLimitConfig | None = None

    @property
    def reasons(self) -> bool:
        return self.reasoning_tokens > 0 or self.no_answer_share > 0

    def validate(self) -> None:
        """Raise ValueError naming the first setting that makes no sense."""
        for name in ("ttft_ms", "prefill_ms_per_token", "itl_ms", "itl_ms_per_1k_context",
                     "stall_seconds", "usage_extra_prompt_tokens",
                     "usage_extra_completion_tokens", "reasoning_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("jitter", "cut_rate", "stall_rate", "malformed_rate", "no_answer_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.slots < 0:
            raise ValueError(f"slots must be >= 0 (0 = unlimited), got {self.slots}")
        if self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.reasoning_field not in REASONING_FIELDS:
            raise ValueError(f"reasoning_field must be one of {', '.join(REASONING_FIELDS)}, "
                             f"got {self.reasoning_field!r}")
        if not self.model:
            raise ValueError("model must not be empty")
        for code, rate in self.error_rates.items():
            if not 400 <= code <= 599:
                raise ValueError(f"error rate code must be a 4xx or 5xx status, got {code}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"error rate for {code} must be in [0, 1], got {rate}")
        if sum(self.error_rates.values()) > 1.0 + 1e-9:
            raise ValueError("error rates add up to more than 1")
        if self.rate_limit is not None:
            self.rate_limit.validate()

    def describe(self) -> str:
        """A few human lines on the latency model and faults, for the simulator's stderr."""
        slots = "unlimited" if self.slots == 0 else f"{self.slots} (FIFO queue beyond)"
        cache = "on (16-token blocks, prompts and replies)" if self.prefix_cache else "off"
        jitter = f" ±{self.jitter:.0%}" if self.jitter else ""
        slowing = (f" + {self.itl_ms_per_1k_context:g} ms per 1k tokens of context"
                   if self.itl_ms_per_1k_context else "")
        lines = [
            f"latency: TTFT {self.ttft_ms:g} ms + {self.prefill_ms_per_token:g} ms per uncached "
            f"prompt token{jitter}, then one token every {self.itl_ms:g} ms{slowing}{jitter}",
            f"slots: {slots}; prefix cache: {cache}; max_model_len {self.max_model_len}; "
            f"auth: {'API key' if self.api_key else 'none'}",
        ]
        if self.reasons:
            where = ("<think> tags in the content" if self.reasoning_field == "think-tags"
                     else f"delta.{self.reasoning_field}")
            usage = "with" if self.reasoning_usage else "without"
            never = (f"; {self.no_answer_share:.1%} reason until max_tokens and never answer"
                     if self.no_answer_share else "")
            lines.append(f"reasoning: {self.reasoning_tokens} tokens in {where} before the "
                         f"answer, usage {usage} reasoning_tokens{never}")
        faults = [f"HTTP {code} {rate:.1%}" for code, rate in sorted(self.error_rates.items())]
        if self.cut_rate:
            faults.append(f"cut streams {self.cut_rate:.1%}")
        if self.stall_rate:
            faults.append(f"stalls {self.stall_rate:.1%} of {self.stall_seconds:g} s")
        if self.malformed_rate:
            faults.append(f"malformed chunks {self.malformed_rate:.1%}")
        if self.usage_extra_prompt_tokens:
            faults.append(f"usage counts {self.usage_extra_prompt_tokens} prompt tokens too many")
        if self.usage_extra_completion_tokens:
            faults.append(f"usage counts {self.usage_extra_completion_tokens} completion tokens "
                          "too many")
        if self.rate_limit is not None:
            lines.append(self.rate_limit.describe())
        lines.append(f"faults (seed {self.seed}): {', '.join(faults) if faults else 'none'}")
        return "\n".join(lines)
