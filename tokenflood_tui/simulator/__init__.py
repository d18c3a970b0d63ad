"""The built-in OpenAI-compatible LLM simulator (SPEC §10): latency model, prefix cache, faults."""

from .config import SimulatorConfig
from .process import SimulatorProcess
from .server import Simulator, build_app
from .tokenizer import count_tokens, tokenize

__all__ = [
    "Simulator",
    "SimulatorConfig",
    "SimulatorProcess",
    "build_app",
    "count_tokens",
    "tokenize",
]
