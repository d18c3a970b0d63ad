"""The Textual front end: screens over the same core the headless front end drives."""

from __future__ import annotations

import asyncio
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..specs import EndpointSpec, RunSuite
from .screens.confirm import ConfirmModal

if TYPE_CHECKING:
    from ..run.cluster import ClusterTarget
    from ..run.resume import ResumePoint
    from .experiment_controller import ExperimentController
    from .messages import EndpointChosen, LeaveScreen, OpenEditor, RunExitCode, StartRun
    from .run_controller import RunController

Mode = Literal["home", "edit", "run", "results", "compare", "ab"]


@dataclass
class Launch:
    """What the command line asked the app to open."""

    mode: Mode = "home"
    folder: Path = field(default_factory=lambda: Path("."))
    results_root: Path = field(default_factory=lambda: Path("results"))
    file: Path | None = None                 # edit: the spec file
    suite: RunSuite | None = None            # run
    endpoint: EndpointSpec | None = None     # run
    results_dir: Path | None = None          # results
    compare_dir: Path | None = None          # compare: a folder compare.json was written to
    theme: str | None = None
    title: str | None = None                 # e.g. "demo: llama.cpp + SmolLM2-135M"
    assume_yes: bool = False                 # --yes: no budget modal unless over a limit
    workers: int | None = None               # --workers; None: chosen from the rate
    cluster: ClusterTarget | None = None     # --cluster: send from these Dask workers
    resume: ResumePoint | None = None        # `tokenflood resume`: go on with that run
    experiment: ExperimentController | None = None   # ab: built, estimated, not yet started


class TokenfloodApp(App[int]):
    """Home, editors, budget modal, live run and results. `run()` returns the exit code."""

    TITLE = "tokenflood"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit", show=False),
        # `?` is not a priority binding, so a text field types it; F1 is, so it opens the help
        # from anywhere, modal dialogs included (they cut off the app's other bindings).
        Binding("question_mark", "help", "Keys", id="help", key_display="?"),
        Binding("f1", "help", "Keys", id="help-f1", show=False, priority=True),
    ]

    def __init__(self, launch: Launch | None = None):
        super().__init__()
        self.launch = launch or Launch()
        self.workdir = self.launch.folder
        self.results_root = self.launch.results_root
        # The endpoint and suite chosen on the home screen (editors use the endpoint for cost).
        self.selected_endpoint: EndpointSpec | None = self.launch.endpoint
        self.selected_suite: RunSuite | None = self.launch.suite
        self.exit_code = 0
        # the active one, if a run (or an A/B experiment: the same interface) is going
        self.run_controller: RunController | ExperimentController | None = None
        self.started_runs: list[RunController] = []   # every one started, for the summary after exit

    # ------------------------------------------------------------------ screens

    def get_default_screen(self) -> Screen:
        launch = self.launch
        if launch.mode == "edit" and launch.file is not None:
            return self.editor_for(launch.file)
        if launch.mode == "results" and launch.results_dir is not None:
            from .screens.results import ResultsScreen
            return ResultsScreen(launch.results_dir)
        if launch.mode == "compare" and launch.compare_dir is not None:
            from .screens.compare import CompareScreen
            return CompareScreen(saved=launch.compare_dir)
        from .screens.home import HomeScreen
        return HomeScreen(self.workdir, self.results_root)

    def on_mount(self) -> None:
        if self.launch.title:
            self.sub_title = self.launch.title
        from . import themes
        themes.install(self, self.launch.theme)
        from .. import stop_signals
        loop = asyncio.get_running_loop()
        self._signalled = False      # a stop signal came: the next one stops at once
        self._restore_signals = stop_signals.install(
            lambda signum: self._on_stop_signal(signum, loop), loop)
        if self.launch.mode == "run" and self.launch.suite and self.launch.endpoint:
            self.start_run(self.launch.suite, self.launch.endpoint, self.launch.resume)
        if self.launch.mode == "ab" and self.launch.experiment is not None:
            self.start_experiment(self.launch.experiment)

    def on_unmount(self) -> None:
        getattr(self, "_restore_signals", lambda: None)()

    def _on_stop_signal(self, signum: int, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM or SIGHUP (a signal handler, so it may interrupt anything): stop the run at
        once, and exit 130 once its results folder is written."""
        from .. import stop_signals
        controller = self.run_controller
        if controller is not None and not controller.running:
            controller = None       # nothing to stop
        if controller is not None:
            # thread-safe; the run thread writes the results folder. A second signal: at once
            controller.stop(stop_signals.reason(signum), now=self._signalled)
        self._signalled = True
        stop_signals.exit_when_finished(controller.wait if controller is not None
                                        else (lambda timeout: True))
        loop.call_soon_threadsafe(self._exit_after_signal)

    @work(group="quit", exclusive=True)
    async def _exit_after_signal(self) -> None:
        controller = self.run_controller
        if controller is not None and controller.running:
            await controller.wait_finished_async(timeout=60)
        self.exit(130, return_code=130)

    def editor_for(self, path: Path | None, kind: str | None = None) -> Screen:
        """The editor screen for a spec file (kind detected from content when not given; a file
        that does not parse is judged by the keys and name it has, else opens as a run suite)."""
        from ..workspace import guess_kind
        if kind is None and path is not None and path.exists():
            kind = guess_kind(path)
        if kind == "endpoint":
            from .screens.endpoint_editor import EndpointEditor
            return EndpointEditor(path, self.workdir)
        from .screens.suite_text_editor import SuiteTextEditor, edits_as_text
        if path is not None and edits_as_text(path):
            # an observation, a search or sessions: the form holds a load test's keys only
            return SuiteTextEditor(path, self.workdir)
        from .screens.suite_editor import SuiteEditor
        return SuiteEditor(path, self.workdir, self.selected_endpoint)

    def open_editor(self, path: Path | None, kind: str | None = None) -> None:
        self.push_screen(self.editor_for(path, kind))

    # ------------------------------------------------------------------ what screens ask for
    # Screens post these messages (tui/messages.py) rather than call the app; they bubble up to
    # it. Dispatched by method name, so the app imports the messages for the type checker only.

    def on_start_run(self, message: StartRun) -> None:
        self.start_run(message.suite, message.endpoint, message.resume)

    def on_open_editor(self, message: OpenEditor) -> None:
        self.open_editor(message.path, message.kind)

    def on_endpoint_chosen(self, message: EndpointChosen) -> None:
        self.selected_endpoint = message.endpoint

    def on_run_exit_code(self, message: RunExitCode) -> None:
        self.exit_code = message.exit_code

    def on_leave_screen(self, message: LeaveScreen) -> None:
        if message.screen is not self.screen:
            return                  # another screen came on top since: it is not the one to go
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.exit(self.exit_code, return_code=self.exit_code)

    # ------------------------------------------------------------------ runs

    @work(group="run-flow", exclusive=True)
    async def start_run(self, suite: RunSuite, endpoint: EndpointSpec,
                        resume: ResumePoint | None = None) -> None:
        """Budget modal, then the live run view; `resume` goes on with an unfinished run."""
        from ..errors import TokenfloodError
        from .run_controller import RunController
        from ..specs import ObservationSuite, SearchSuite
        from .screens.budget import BudgetModal
        from .screens.observation import ObservationScreen
        from .screens.run import RunScreen
        from .screens.search import SearchScreen
        from .screens.session_run import SessionRunScreen

        if self.run_controller is not None and self.run_controller.running:
            self.notify("A run is already going.", severity="warning")
            return
        try:
            controller = RunController(self, suite, endpoint, self.results_root, self.launch.workers,
                                       resume, self.launch.cluster)
        except TokenfloodError as exc:   # e.g. an invalid limit variable
            self.notify(str(exc), title="Cannot start", severity="error", markup=False)
            return
        estimate = controller.run.estimate
        skip_modal = self.launch.assume_yes and not estimate.over_limits
        where = resume.outline(len(controller.run.missed_while_down)) if resume else None
        confirmed = skip_modal or await self.push_screen_wait(
            BudgetModal(estimate, suite, endpoint, command=self.relaunch_command(), resume=where))
        if not confirmed:
            if self.launch.mode == "run" and len(self.screen_stack) <= 1:
                self.exit(3, return_code=3)   # `tokenflood run` cancelled at the modal: budget refused
            return
        self.run_controller = controller
        self.started_runs.append(controller)
        # an observation's live view follows polls on the wall clock, a search's the bracket
        # it narrows (its rates are decided as it goes), a load test's its fixed rates, and a
        # session run's its sessions besides
        live = (ObservationScreen if isinstance(suite, ObservationSuite)
                else SearchScreen if isinstance(suite, SearchSuite)
                else SessionRunScreen if suite.sessions else RunScreen)
        await self.push_screen(live(controller))
        controller.start()

    @work(group="run-flow", exclusive=True)
    async def start_experiment(self, controller: ExperimentController) -> None:
        """`tokenflood ab`: the budget modal of every variant together, then the live view."""
        from .screens.budget import BudgetModal
        from .screens.experiment import ExperimentScreen
        estimate = controller.estimate
        skip_modal = self.launch.assume_yes and not estimate.over_limits
        confirmed = skip_modal or await self.push_screen_wait(BudgetModal(
            estimate, controller.suite, controller.variants[0].endpoint,
            command=self.relaunch_command(), variants=controller.variants,
            rounds=controller.rounds))
        if not confirmed:
            self.exit(3, return_code=3)      # cancelled at the modal: budget refused
            return
        self.run_controller = controller
        await self.push_screen(ExperimentScreen(controller))
        controller.start()

    async def action_quit(self) -> None:
        """Quit; mid-run, ask first, then stop the run and wait for its results folder."""
        self._quit_after_asking()   # a worker: the confirm modals are awaited in one

    @work(group="quit", exclusive=True)
    async def _quit_after_asking(self) -> None:
        if getattr(self.screen, "has_unsaved_changes", False):
            if not await self.push_screen_wait(ConfirmModal(
                    "Quit and discard unsaved changes?", yes="Discard and quit", no="Stay")):
                return
        controller = self.run_controller
        if controller is not None and controller.running:
            if not await self.push_screen_wait(ConfirmModal(
                    "A run is going. Stop it and quit?", "In-flight requests get a few seconds; "
                    "everything measured so far is written to the results folder.",
                    yes="Stop and quit", no="Keep running")):
                return
            controller.stop()
            await controller.wait_finished_async()
        self.exit(self.exit_code, return_code=self.exit_code)

    def relaunch_command(self) -> str:
        """How tokenflood was started, for "start it again with a higher limit" advice."""
        if Path(sys.argv[0]).name == "tokenflood":
            return shlex.join(["tokenflood", *sys.argv[1:]])
        return {"run": "tokenflood run RUN.yml ENDPOINT.yml",
                "ab": "tokenflood ab RUN.yml A.yml B.yml"}.get(self.launch.mode, "tokenflood")

    # ------------------------------------------------------------------ help and screenshots

    def action_help(self) -> None:
        from .screens.help import HelpScreen
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.screen))

    def screenshot_folder(self) -> Path:
        """The open results folder (results view, or a finished run), else the results root."""
        for screen in reversed(self.screen_stack):
            folder = getattr(screen, "folder", None)
            result = getattr(getattr(screen, "controller", None), "result", None)
            if folder is None and result is not None:
                folder = result.folder
            if isinstance(folder, (str, Path)) and Path(folder).is_dir():
                return Path(folder)
        return Path(self.results_root)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Save an SVG of the screen; Textual's default folder, ~/Downloads, may not exist."""
        folder = Path(path) if path else self.screenshot_folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"Screenshot not saved: {folder}: {exc.strerror or exc}",
                        title="Screenshot", severity="error", markup=False)
            return None
        self.notify(f"Saved {Path(saved).resolve()}", title="Screenshot", markup=False)
        return saved

    # ------------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen):
        # Textual's "Keys" (its help panel) would stand beside our "Help: every key" (? or f1)
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield from self.commands_for(screen)

    def commands_for(self, screen: Screen):
        """Every action also in the command palette."""
        yield SystemCommand("Home", "Spec files and recent results", self._go_home)
        yield SystemCommand("Help: every key", "The keys of this screen and of every screen (? or "
                            "f1)", self.action_help)
        yield SystemCommand("New endpoint spec", "Open an empty endpoint editor",
                            lambda: self.open_editor(None, "endpoint"))
        yield SystemCommand("New run suite", "Open an empty run-suite editor",
                            lambda: self.open_editor(None, "run"))
        for name, help_text, callback in getattr(screen, "palette_commands", lambda: [])():
            yield SystemCommand(name, help_text, callback)

    def _go_home(self) -> None:
        from .screens.home import HomeScreen
        while len(self.screen_stack) > 1 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()
        if not isinstance(self.screen, HomeScreen):
            self.push_screen(HomeScreen(self.workdir, self.results_root))
