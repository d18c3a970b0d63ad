"""The home screen's three lists. Each shows in the footer the keys that concern it (at 80
columns the footer has no room for every key of the screen); the screen's other keys still work
in every list, and `?` lists them all."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import OptionList


class EndpointsList(OptionList):
    BINDINGS = [Binding("n", "screen.new_endpoint", "New endpoint", id="endpoints-new")]


class SuitesList(OptionList):
    BINDINGS = [Binding("s", "screen.new_suite", "New suite", id="suites-new")]


class ResultsList(OptionList):
    """The recent results: marking and comparing, resuming; e, n and s leave the footer here
    (they concern the spec lists)."""

    BINDINGS = [
        Binding("space", "screen.toggle_mark", "Mark", id="results-mark"),
        Binding("c", "screen.compare", "Compare", id="results-compare"),
        Binding("u", "screen.resume", "Resume", id="results-resume"),
        Binding("e", "screen.edit", "", show=False),
        Binding("n", "screen.new_endpoint", "", show=False),
        Binding("s", "screen.new_suite", "", show=False),
    ]


def matches(text: str, query: str) -> bool:
    """Whether every word of `query` is in `text`, case aside: "sim 12" finds
    "…_ripple_sim-model … @ 12 req/s"."""
    text = text.casefold()
    return all(word in text for word in query.casefold().split())
