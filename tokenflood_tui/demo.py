"""`tokenflood demo`: the embedded default — a real local model server and the demo suite."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from importlib import resources

from .specs import EndpointSpec, parse_run_suite


def demo_suite():
    text = resources.files("tokenflood_tui").joinpath("data/demo.yml").read_text(encoding="utf-8")
    return parse_run_suite(text, "demo suite")


def run_demo(args: argparse.Namespace) -> int:
    from . import localserver
    from .headless import run_headless

    suite = demo_suite()
    if args.seed is not None:
        suite = suite.model_copy(update={"seed": args.seed})
    reason = "--simulator was given" if args.simulator else localserver.unavailable_reason()
    with ExitStack() as stack:
        if reason is None:
            server = stack.enter_context(localserver.LocalModelServer())
            sys.stderr.write(f"[tokenflood] demo: real llama.cpp server with SmolLM2-135M-Instruct "
                             f"at {server.base_url}\n")
            endpoint = EndpointSpec(provider="hosted_vllm", model=server.model,
                                    base_url=server.base_url, name="smollm2-135m-llamacpp")
        else:
            from .simulator import SimulatorProcess

            sim = stack.enter_context(SimulatorProcess("--ttft-ms", "60", "--prefill-ms-per-token",
                                                       "0.5", "--itl-ms", "12", "--slots", "4"))
            sys.stderr.write(f"[tokenflood] demo: {reason}; using the built-in simulator at "
                             f"{sim.base_url} instead\n")
            endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model",
                                    base_url=sim.base_url, name="simulator")
        from .cli import interactive
        if args.headless or not interactive():
            return run_headless(suite, endpoint, args.results_dir, assume_yes=True,
                                verbose=args.verbose)
        from .cli import run_tui
        from .tui.app import Launch
        title = "demo: " + ("llama.cpp + SmolLM2-135M" if reason is None else "built-in simulator")
        return run_tui(Launch("run", results_root=args.results_dir, suite=suite, endpoint=endpoint,
                              theme=args.theme, title=title))
