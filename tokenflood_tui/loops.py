"""Event loops: uvloop where installed (several times less CPU per streamed chunk), else asyncio."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, on uvloop when it is available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
