"""Following a run through its journal.jsonl, as a test thread does while the run goes on."""

from __future__ import annotations

import time
from pathlib import Path


def journal_has(cwd: Path, text: str) -> bool:
    """Whether the journal.jsonl of the run under cwd/results has `text` yet (a folder exists a
    moment before its journal does)."""
    journal = next((cwd / "results").glob("*/journal.jsonl"), None)
    return journal is not None and text in journal.read_text()


def wait_for_journal(cwd: Path, text: str, timeout: float = 120) -> None:
    """Until the run's journal has `text`: a test thread follows the run this way."""
    deadline = time.monotonic() + timeout
    while not journal_has(cwd, text):
        if time.monotonic() > deadline:
            raise AssertionError(f"the journal never had {text!r}")
        time.sleep(0.02)
