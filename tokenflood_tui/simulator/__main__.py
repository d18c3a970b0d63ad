"""`python -m tokenflood_tui.simulator`: serve the simulator on 127.0.0.1 until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from ..run import loops
from .config import REASONING_FIELDS, SimulatorConfig
from .limits import LIMIT_HEADERS, RateLimitConfig, parse_rate_limit

_DEFAULTS = SimulatorConfig()


def _number(text: str, kind: type = float, low: float | None = None,
            high: float | None = None) -> float:  # fmt: skip
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if kind is float and value != value:  # NaN
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if low is not None and value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low:g}, got {text}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"must be <= {high:g}, got {text}")
    return value


def _non_negative(text: str) -> float:
    return _number(text, float, 0.0)


def _probability(text: str) -> float:
    return _number(text, float, 0.0, 1.0)


def _count(text: str) -> int:
    return int(_number(text, int, 0))


def _port(text: str) -> int:
    return int(_number(text, int, 0, 65535))


def _positive_int(text: str) -> int:
    return int(_number(text, int, 1))


def _error_rate(text: str) -> tuple[int, float]:
    code, sep, rate = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected CODE=P such as 429=0.1, got {text!r}")
    status = int(_number(code.strip(), int, 400, 599))
    return status, _probability(rate.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to a parser (also used by `tokenflood simulate`)."""
    d = _DEFAULTS
    add = parser.add_argument
    add("--port", type=_port, default=0, help="port on 127.0.0.1 (0 = any free port)")
    add("--model", default=d.model, help=f"served model name (default {d.model})")
    add("--ttft-ms", type=_non_negative, default=d.ttft_ms, help="base time to first token")
    add("--prefill-ms-per-token", type=_non_negative, default=d.prefill_ms_per_token,
        help="extra TTFT per uncached prompt token")  # fmt: skip
    add("--itl-ms", type=_non_negative, default=d.itl_ms, help="interval between output tokens")
    add("--itl-ms-per-1k-context", type=_non_negative, default=d.itl_ms_per_1k_context, metavar="MS",
        help="added to each interval per 1000 tokens of context, prompt and reply so far "
             "(decoding slows as contexts grow)")  # fmt: skip
    add("--jitter", type=_probability, default=d.jitter,
        help="uniform jitter on TTFT and each interval, as a fraction (0.1 = ±10%%)")  # fmt: skip
    add("--slots", type=_count, default=d.slots,
        help="requests served at once, the rest queue FIFO (0 = unlimited)")  # fmt: skip
    add("--max-model-len", type=_positive_int, default=d.max_model_len,
        help="context length: prompt + max_tokens beyond it gets HTTP 400")  # fmt: skip
    add("--no-prefix-cache", action="store_true", help="turn prefix caching off")
    add("--seed", type=int, default=d.seed, help="seed for faults, output lengths and jitter")
    add("--api-key", default=None, help="require this bearer key")
    add("--api-key-env", metavar="NAME", default=None,
        help="require the bearer key held in environment variable NAME")  # fmt: skip
    add("--error-rate", type=_error_rate, action="append", metavar="CODE=P", default=None,
        help="answer this share of chat requests with HTTP CODE (repeatable)")  # fmt: skip
    add("--cut-rate", type=_probability, default=d.cut_rate,
        help="share of streams whose connection is dropped mid-way")  # fmt: skip
    add("--stall-rate", type=_probability, default=d.stall_rate,
        help="share of streams that pause mid-way")  # fmt: skip
    add("--stall-seconds", type=_non_negative, default=d.stall_seconds, help="length of a stall")
    add("--malformed-rate", type=_probability, default=d.malformed_rate,
        help="share of streams with one invalid JSON chunk")  # fmt: skip
    add("--usage-extra-prompt-tokens", type=_count, default=d.usage_extra_prompt_tokens,
        metavar="N", help="usage reports N more prompt tokens than the request had")
    add("--usage-extra-completion-tokens", type=_count, default=d.usage_extra_completion_tokens,
        metavar="N", help="usage reports N more completion tokens than the reply has (as a "
                          "reasoning model bills hidden thinking)")  # fmt: skip
    add("--reasoning-tokens", type=_count, default=d.reasoning_tokens, metavar="N",
        help="stream N reasoning tokens, one every --itl-ms, before the answer (within "
             "max_tokens, as a reasoning model's)")  # fmt: skip
    add("--reasoning-field", choices=REASONING_FIELDS, default=d.reasoning_field,
        help="where the reasoning goes: delta.reasoning (vLLM), delta.reasoning_content "
             "(SGLang, llama.cpp) or <think> tags in the content (default %(default)s)")
    add("--reasoning-usage", choices=("on", "off"), default="on" if d.reasoning_usage else "off",
        help="report usage.completion_tokens_details.reasoning_tokens (default %(default)s)")
    add("--no-answer-share", type=_probability, default=d.no_answer_share, metavar="F",
        help="share of requests that reason until max_tokens and never answer")
    add("--rate-limit", type=_rate_limit, default=None, metavar="rpm=N,tpm=N,quota=N",
        help="enforce a hosted provider's limits per minute (tokens: prompt + max_tokens); "
             "quota: requests answered before every later one is refused for a spent quota")
    add("--limit-headers", choices=LIMIT_HEADERS, default="openai",
        help="whose rate-limit headers and 429 bodies to answer with (default %(default)s)")


def _rate_limit(text: str) -> dict[str, int]:
    try:
        return parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build a validated config from parsed options; ValueError on a bad combination."""
    api_key = args.api_key
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ValueError(f"--api-key-env: environment variable {args.api_key_env} is not set")
    config = SimulatorConfig(
        model=args.model, ttft_ms=args.ttft_ms, prefill_ms_per_token=args.prefill_ms_per_token,
        itl_ms=args.itl_ms, itl_ms_per_1k_context=args.itl_ms_per_1k_context,
        jitter=args.jitter, slots=args.slots,
        max_model_len=args.max_model_len, prefix_cache=not args.no_prefix_cache,
        seed=getattr(args, "seed", None) or 0, api_key=api_key,
        error_rates=dict(args.error_rate or []), cut_rate=args.cut_rate,
        stall_rate=args.stall_rate, stall_seconds=args.stall_seconds,
        malformed_rate=args.malformed_rate,
        usage_extra_prompt_tokens=args.usage_extra_prompt_tokens,
        usage_extra_completion_tokens=args.usage_extra_completion_tokens,
        reasoning_tokens=args.reasoning_tokens, reasoning_field=args.reasoning_field,
        reasoning_usage=args.reasoning_usage == "on", no_answer_share=args.no_answer_share,
        rate_limit=(RateLimitConfig(**args.rate_limit, headers=args.limit_headers)
                    if getattr(args, "rate_limit", None) else None),
    )  # fmt: skip
    config.validate()
    return config


async def _serve(config: SimulatorConfig, port: int) -> int:
    from .server import build_app, serve   # here, not at import: `tokenflood --help` stays fast

    try:
        runner, port = await serve(build_app(config), port)
    except OSError as exc:
        print(f"tokenflood simulator: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (RuntimeError, ValueError):  # not the main thread: the caller stops us instead
            pass
    print(
        f"tokenflood simulator listening on http://127.0.0.1:{port}/v1 (model {config.model})",
        flush=True,
    )
    print(config.describe(), file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; return the exit code (2 for a bad option combination)."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # uvloop where installed (measured once: 24% of a core against 33% at 200 req/s), so a busy
    # simulator takes new requests sooner. Deadlines use loop.time() (milliseconds under
    # uvloop), the recorded truth time.monotonic(); the two are never mixed.
    with asyncio.Runner(loop_factory=loops.loop_factory()) as runner:
        try:
            return runner.run(_serve(config, args.port))
        except KeyboardInterrupt:  # a SIGINT before our handler was installed
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tokenflood_tui.simulator",
        description="OpenAI-compatible LLM simulator with a latency model and seeded faults.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
