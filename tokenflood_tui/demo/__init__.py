"""`tokenflood demo`: the embedded default — a real local model server and the demo suite.

This package only starts the endpoint (llama.cpp in a child process, or the simulator) and hands
the CLI a target; the CLI's one front-end choice runs it, as for `tokenflood run`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..specs import EndpointSpec, RunSuite

# specs (pydantic, numpy: about 0.3 s) is imported where it is used, not here: the llama.cpp
# child (`python -m tokenflood_tui.demo.localserver`) loads this package first and needs none of it.


def demo_suite(sessions: bool = False) -> RunSuite:
    """The demo's suite: single requests at three rates, or (`sessions`) chats and an agent."""
    from ..specs import parse_run_suite

    name = "data/demo_sessions.yml" if sessions else "data/demo.yml"
    text = resources.files("tokenflood_tui").joinpath(name).read_text(encoding="utf-8")
    return parse_run_suite(text, "session demo suite" if sessions else "demo suite")


@dataclass(frozen=True, slots=True)
class DemoTarget:
    suite: RunSuite
    endpoint: EndpointSpec
    title: str            # what the TUI's header says it runs against


@contextmanager
def demo_target(seed: int | None, simulator: bool, sessions: bool = False) -> Iterator[DemoTarget]:
    """The demo suite (with `sessions`, the session demo's) and a local endpoint, up while the
    context lasts: real llama.cpp with SmolLM2-135M when the `local` extra is installed (and
    `simulator` is false), else the built-in simulator."""
    from ..specs import EndpointSpec
    from .localserver.process import LocalModelServer
    from .localserver.protocol import unavailable_reason

    suite = demo_suite(sessions)
    if seed is not None:
        suite = suite.model_copy(update={"seed": seed})
    reason = "--simulator was given" if simulator else unavailable_reason()
    with ExitStack() as stack:
        if reason is None:
            server = stack.enter_context(LocalModelServer())
            sys.stderr.write(f"[tokenflood] demo: real llama.cpp server with SmolLM2-135M-Instruct "
                             f"at {server.base_url}\n")
            endpoint = EndpointSpec(provider="hosted_vllm", model=server.model,
                                    base_url=server.base_url, name="smollm2-135m-llamacpp")
        else:
            from ..simulator import SimulatorProcess

            sim = stack.enter_context(SimulatorProcess("--ttft-ms", "60", "--prefill-ms-per-token",
                                                       "0.5", "--itl-ms", "12", "--slots", "4"))
            sys.stderr.write(f"[tokenflood] demo: {reason}; using the built-in simulator at "
                             f"{sim.base_url} instead\n")
            endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model",
                                    base_url=sim.base_url, name="simulator")
        title = ("session demo: " if sessions else "demo: ") + (
            "llama.cpp + SmolLM2-135M" if reason is None else "built-in simulator")
        yield DemoTarget(suite, endpoint, title)
