"""The front ends learn what happened from typed run events (run/events.py), never by reading the
text of a message: rewording a line must change no behaviour. This reads their source for the
ways they used to parse log lines (prefix tests, splits on ':', regexes of run messages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tokenflood_tui"
FRONT_ENDS = [PACKAGE / "headless.py", *sorted((PACKAGE / "tui").rglob("*.py")),
              *sorted((PACKAGE / "live").rglob("*.py"))]
RUN_WORDS = r"(?:search phase|phase|polls?|turn)"
PARSING = {
    "a prefix test of a run message": re.compile(
        r"\.startswith\(\(?\s*f?[\"']" + RUN_WORDS + r"\b"),
    "a run word looked up in a text": re.compile(
        r"[\"'][^\"'\n]*\b" + RUN_WORDS + r" [^\"'\n]*[\"']\s+in\s+\w"),
    "a message split on ':'": re.compile(r"\.split\(\s*[\"']:[\"']"),
    "a regex of run messages": re.compile(
        r"re\.(?:compile|match|search|fullmatch)\(\s*r?[\"'][^\"'\n]*(?:" + RUN_WORDS
        + r"|missed|req/s|failed)"),
}
# What the front ends did before run events: each must be caught.
OLD_PARSING = [
    'if level == "error" and text.startswith("phase "):',
    'kind = ":".join(text.split(":", 2)[:2])          # "phase 2: http_error"',
    'if message.text.startswith("search phase "):    # a verdict: the bracket moved',
    'if text.startswith(("poll ", "phase ")) and ":" in text:',
    'if level == "error" and ": phase " in text:',
    'if message.startswith("turn "):   # a turn began',
    'key = message.split(":", 1)[0]',
    'POLL_STARTED = re.compile(r"poll \\d+: [\\d.]+ req/s for ")',
    'POLL_MISSED = re.compile(r"poll \\d+ missed: ")',
    'POLL_FAILED_SHARE = re.compile(r"phase \\d+: \\d+% of requests failed \\(")',
]


def parsing(line: str) -> list[str]:
    return [what for what, pattern in PARSING.items() if pattern.search(line)]


@pytest.mark.parametrize("line", OLD_PARSING)
def test_the_check_catches_how_front_ends_parsed_messages(line):
    assert parsing(line), line


def test_no_front_end_parses_the_text_of_a_run_message():
    assert len(FRONT_ENDS) > 20              # headless, the TUI's screens and widgets, live/
    found = [f"{path.relative_to(PACKAGE.parent)}:{n}: {what}: {line.strip()}"
             for path in FRONT_ENDS
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             for what in parsing(line)]
    assert found == [], "front ends read run events (run/events.py), not message text:\n" \
        + "\n".join(found)
