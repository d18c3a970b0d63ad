"""The built-in OpenAI-compatible simulator (docs/architecture.md#simulator): latency, prefix cache, faults.

Names are imported on first use, so `tokenflood --help` does not pay for aiohttp's server.
"""

from importlib import import_module

_WHERE = {
    "Simulator": ".server",
    "build_app": ".server",
    "SimulatorConfig": ".config",
    "SimulatorProcess": ".process",
    "count_tokens": ".tokenizer",
    "tokenize": ".tokenizer",
}

__all__ = sorted(_WHERE)  # noqa: PLE0605 (a list, built from _WHERE so the two cannot drift)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
