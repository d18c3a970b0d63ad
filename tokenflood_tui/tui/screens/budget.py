"""The budget confirmation before every run: y or Enter on "Start run" starts, Esc or n cancels.

Enter presses the focused button (docs/architecture.md#tui: Enter confirms, so "Start run" has the
focus at
first); it is not bound to "start", so Tab to Cancel and Enter cancels. A run over a limit gets
no start button and no `y` at all: the modal says which limit, by how much, and the command
that raises it. A phase that must exceed a provider's rate limit, as last seen for the endpoint,
is a warning above the estimate: the run may still start (its excess is refused, and counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...run.budget import MAX_INPUT_VAR, MAX_OUTPUT_VAR, BudgetEstimate
from ...specs import EndpointSpec, RunSuite
from .confirm import BUTTON_HINT

if TYPE_CHECKING:
    from ...run.experiment import Variant


@dataclass(frozen=True, slots=True)
class ExceededLimit:
    what: str          # "input tokens"
    variable: str      # the env var that sets the limit
    estimated: int
    limit: int

    @property
    def excess(self) -> int:
        return self.estimated - self.limit

    @property
    def suggested(self) -> int:
        """The estimate rounded up to two significant digits: a limit that lets this run start."""
        step = 10 ** max(0, len(str(self.estimated)) - 2)
        return math.ceil(self.estimated / step) * step


def exceeded_limits(estimate: BudgetEstimate) -> list[ExceededLimit]:
    checks = [("input tokens", MAX_INPUT_VAR, estimate.input_tokens, estimate.max_input_tokens),
              ("output tokens", MAX_OUTPUT_VAR, estimate.output_tokens, estimate.max_output_tokens)]
    return [ExceededLimit(*c) for c in checks if c[2] > c[3]]


def display_url(url: str | None) -> str:
    """The base URL without any user:password part (the modal is on screen, maybe shared)."""
    if not url:
        return "the provider's default URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host     # IPv6 keeps its brackets
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=f"{host}{port}").geturl()


class BudgetModal(ModalScreen[bool]):
    """Shows the estimate and limits; a run over a limit cannot be confirmed."""

    # Start (Cancel when over a limit) from the first frame: Textual's default focuses the first
    # focusable widget, the scrolling estimate, and on a busy machine it kept the focus once.
    # (on_mount focuses it too: Textual skips auto focus while the terminal window is unfocused)
    AUTO_FOCUS = "#start, #cancel"
    BINDINGS = [
        Binding("y", "confirm", "Start run", id="budget-confirm"),
        Binding("n", "cancel", "Cancel", id="budget-cancel"),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("left", "app.focus_previous", "Previous button", show=False),
        Binding("right", "app.focus_next", "Next button", show=False),
        Binding("question_mark", "app.help", "Keys", show=False),
    ]
    DEFAULT_CSS = """
    BudgetModal #budget-title { text-style: bold; color: $accent; }
    BudgetModal #budget-body { height: auto; }
    BudgetModal #budget-lines, BudgetModal #budget-over, BudgetModal #budget-rate-limits {
        margin-top: 1;
    }
    """
    # Rows of the box that are not the scrolling body: border 2, title 1, buttons 3 + margin 1,
    # hint 1 (+ padding 2 when there is room). The buttons must stay on screen at 80x24.
    FIXED_ROWS = 8

    def __init__(self, estimate: BudgetEstimate, suite: RunSuite, endpoint: EndpointSpec,
                 command: str = "tokenflood …", resume: list[str] | None = None,
                 variants: list[Variant] | None = None, rounds: int = 1):
        """`command` is how tokenflood was started, for the "raise the limit" example; `resume`
        says where a resumed run stands (ResumePoint.outline): the estimate is what remains.
        `variants` (an A/B experiment, the first the baseline; `endpoint` is its endpoint): the
        estimate covers them all, each running every rate `rounds` times."""
        super().__init__()
        self.resume = resume
        self.variants = variants
        self.rounds = rounds
        self.estimate = estimate
        self.suite = suite
        self.endpoint = endpoint
        self.command = command
        self.exceeded = exceeded_limits(estimate)

    @property
    def allowed(self) -> bool:
        return not self.exceeded and not self.estimate.over_limits

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Over a limit, `y` is not a key of this modal at all (nor in the footer).
        if action == "confirm" and not self.allowed:
            return False
        return True

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="budget-box"):
            verb = "Resume" if self.resume else "Run"
            if self.variants:
                title = (f"Run {self.suite.name!r} as an A/B experiment of "
                         f"{len(self.variants)} variants?")
                lines = [*self.experiment_lines(), *self.estimate.lines()]
            else:
                title = (f"{verb} {self.suite.name!r} against {self.endpoint.model} "
                         f"({self.endpoint.provider})?")
                lines = [*(self.resume or []),
                         f"base URL       {display_url(self.endpoint.base_url)}",
                         *(["what remains:"] if self.resume else []),
                         *self.estimate.lines(warnings=False)]
            yield Static(title, id="budget-title", markup=False)
            with VerticalScroll(id="budget-body"):   # Tab here, ↑/↓ scroll it
                if not self.allowed:   # first: at 80x24 the estimate may need scrolling
                    yield Static(self.over_limit_text(), id="budget-over", classes="error-text",
                                 markup=False)
                if self.estimate.limit_warnings:   # above the estimate, for the same reason
                    yield Static("\n".join(f"Warning: {w}" for w in self.estimate.limit_warnings),
                                 id="budget-rate-limits", classes="warning-text", markup=False)
                yield Static("\n".join(lines), id="budget-lines", markup=False)
            with Horizontal(classes="modal-buttons"):
                if self.allowed:
                    yield Button("Resume run (y)" if self.resume else "Start run (y)",
                                 id="start", variant="primary")
                yield Button("Cancel (n)", id="cancel")
            hint = BUTTON_HINT if self.allowed else "Enter, n or Esc: back"
            yield Static(hint, id="budget-hint", classes="muted", markup=False)

    def experiment_lines(self) -> list[str]:
        """Who the variants are and that the estimate covers every variant and round."""
        variants = self.variants or []
        rates = len(getattr(self.suite, "rates", []))      # a load test's, of requests or sessions
        lines = []
        for i, v in enumerate(variants):
            head = "variants" if i == 0 else ""
            role = " (baseline)" if i == 0 else ""
            lines.append(f"{head:<15}{v.name}{role}: {v.endpoint.model} ({v.endpoint.provider})")
            lines.append(f"{'':<17}{display_url(v.endpoint.base_url)}")
        rounds = f"{self.rounds} round{'s' if self.rounds != 1 else ''}"
        lines.append(f"turns          {rates * self.rounds * len(variants)} ({rates} rate"
                     f"{'s' if rates != 1 else ''} × {rounds} × {len(variants)} variants), "
                     f"interleaved, seed {self.suite.seed}")
        lines.append(f"the estimate covers all {len(variants)} variants × {rounds}:")
        return lines

    def over_limit_text(self) -> str:
        if not self.exceeded:      # a limit this modal does not itemise: the estimate's words
            return "\n".join(["Cannot start:"] + [f"• {p}" for p in self.estimate.over_limits])
        out = []
        for limit in self.exceeded:
            out.append(f"Cannot start: {limit.what} {limit.estimated:,} estimated, over the "
                       f"limit of {limit.limit:,} by {limit.excess:,}.")
        assignments = " ".join(f"{limit.variable}={limit.suggested}" for limit in self.exceeded)
        out.append(f"To run it, quit and start tokenflood again with a higher limit:\n"
                   f"  {assignments} {self.command}")
        return "\n".join(out)

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#start" if self.allowed else "#cancel", Button).focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # The estimate scrolls, the buttons do not: on a short terminal they stay visible.
        # (.modal-box may use 90% of the height; its padding goes first when that is short.)
        room = int(self.size.height * 0.9) - self.FIXED_ROWS
        box = self.query_one("#budget-box")
        box.styles.padding = (1, 2) if room >= 20 else (0, 2)
        body = self.query_one("#budget-body")
        body.styles.max_height = max(3, room - (2 if room >= 20 else 0))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        if not self.allowed:       # not reachable from a key; kept as the last guard
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
