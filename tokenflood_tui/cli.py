"""Argument parsing and the choice of front end; nothing else. Heavy imports happen per command."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .metrics.summary import RunSummary
    from .outputs.experiment import ExperimentInfo
    from .run.cluster import ClusterTarget
    from .run.resume import ResumePoint
    from .specs import EndpointSpec, RunSuite

EPILOG = """\
exit codes: 0 success, 1 the run aborted, 2 bad usage or config, 3 budget refused,
  4 a threshold failed (the run completed), 130 interrupted (Ctrl-C, SIGTERM, SIGHUP)
--results-dir, --theme, --seed and -v go before or after the command
limits: TOKENFLOOD_MAX_INPUT_TOKENS (default 1,000,000), TOKENFLOOD_MAX_OUTPUT_TOKENS (default 10,000)
"""


# Options every command takes, with their defaults. They are accepted before the command
# (`tokenflood --seed 7 run …`) and after it; argparse would let the subcommand's defaults
# overwrite what was given before it, so neither copy has a default and parse_args fills them.
COMMON_DEFAULTS = {"results_dir": Path("results"), "theme": None, "seed": None, "verbose": False}
_BEFORE = "before_"       # dest prefix of the copies given before the command


def _common_options(before_command: bool) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    prefix = _BEFORE if before_command else ""
    add = common.add_argument
    add("--results-dir", type=Path, dest=prefix + "results_dir", metavar="DIR",
        default=argparse.SUPPRESS, help="where results folders go (default ./results)")
    add("--theme", dest=prefix + "theme", metavar="NAME", default=argparse.SUPPRESS,
        help="TUI theme name (tokenflood-dark, -light, -ansi, a Textual theme, "
             "or one in <config dir>/themes)")
    add("--seed", type=_seed, dest=prefix + "seed", metavar="N", default=argparse.SUPPRESS,
        help="override the run suite's seed (0 to 4294967295)")
    add("-v", "--verbose", action="store_true", dest=prefix + "verbose",
        default=argparse.SUPPRESS, help="print every failure")
    return common


FORMATS = ("text", "md", "json")


def _format_option(p: argparse.ArgumentParser, what: str = "the summary",
                   json_is: str = "summary.json's content") -> None:
    p.add_argument("--format", choices=FORMATS, metavar="text|md|json",
                   help=f"{what} on stdout: text (fitted to the terminal's width; the default on a "
                        f"terminal), md (every column, as Markdown tables; the default otherwise), "
                        f"json ({json_is})")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(before_command=False)

    parser = argparse.ArgumentParser(
        prog="tokenflood", parents=[_common_options(before_command=True)], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Load-test LLM endpoints with synthetic prompts of exact token lengths.")
    parser.add_argument("--version", action="version", version=f"tokenflood {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write the quick-start run.yml and endpoint.yml")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."))
    p.add_argument("--force", action="store_true", help="overwrite existing files")

    p = sub.add_parser("run", parents=[common], help="run a suite against an endpoint")
    p.add_argument("run_file", type=Path, metavar="RUN.yml")
    p.add_argument("endpoint_file", type=Path, metavar="ENDPOINT.yml")
    p.add_argument("--headless", action="store_true", help="no TUI: progress on stderr, summary on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="skip the confirmation (limits still apply)")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="worker processes that send the requests (0: send from the main process; "
                        "default: from the highest rate and the cores)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="send from the Dask workers of this scheduler, one worker on each "
                        "(--workers: how many; needs the `cluster` extra)")
    _format_option(p)

    p = sub.add_parser("resume", parents=[common],
                       help="go on with a run whose process ended early (crash, kill, reboot)")
    p.add_argument("dir", type=Path, metavar="DIR", help="its results folder (a path, or the "
                   "folder name under --results-dir)")
    p.add_argument("--endpoint", type=Path, metavar="ENDPOINT.yml",
                   help="the endpoint file as run, when the saved copy has secrets redacted")
    p.add_argument("--headless", action="store_true", help="no TUI: progress on stderr, summary on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="skip the confirmation (limits still apply)")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="worker processes that send the requests (default: from the highest rate "
                        "and the cores)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="send from the workers of this Dask scheduler (see `run --help`)")
    _format_option(p)

    p = sub.add_parser("edit", parents=[common], help="open the endpoint or run-suite editor on a file")
    p.add_argument("file", type=Path, metavar="FILE.yml")

    p = sub.add_parser("results", parents=[common],
                       help="browse a results folder or an A/B experiment's comparison "
                            "(default: the newest)")
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR")
    p.add_argument("--format", choices=FORMATS, metavar="text|md|json",
                   help="print the summary instead of browsing it: text (fitted to the "
                        "terminal's width), md (summary.md; the default without a terminal), "
                        "json (summary.json's content); for an A/B experiment its comparison "
                        "and its variants' folders")

    p = sub.add_parser("ab", parents=[common],
                       help="A/B experiment: one suite against several endpoints, phases "
                            "interleaved over rounds, then compared")
    p.add_argument("run_file", type=Path, metavar="RUN.yml")
    p.add_argument("endpoint_files", type=Path, nargs="+", metavar="ENDPOINT.yml",
                   help="two or more endpoint files, one per variant; the first is the baseline")
    p.add_argument("--rounds", type=_rounds, default=3, metavar="N",
                   help="rounds per rate: each variant runs each rate N times, in a seeded "
                        "interleaved order (default 3)")
    p.add_argument("--headless", action="store_true", help="progress on stderr, comparison on stdout")
    p.add_argument("-y", "--yes", action="store_true", help="skip the confirmation (limits still apply)")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="worker processes per variant (default: from the highest rate)")
    _format_option(p, "the comparison", "compare.json's content")

    p = sub.add_parser("compare", parents=[common],
                       help="which run is faster: runs side by side with confidence intervals")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="results folders (paths, or folder names under --results-dir); the "
                        "first is the baseline; an A/B experiment's folder stands for its "
                        "variants")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where compare.md/.json/.txt/.html go (default "
                        "<results-dir>/compare_<time>)")
    p.add_argument("--headless", action="store_true",
                   help="no TUI: only the comparison on stdout (as when not on a terminal)")
    _format_option(p, "the comparison", "compare.json's content")

    p = sub.add_parser("report", parents=[common],
                       help="write (or rewrite) report.html, a self-contained page with charts, "
                            "for results folders, comparisons and A/B experiments")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="results folders, comparison folders or A/B experiment folders (paths, "
                        "or folder names under --results-dir)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="where the page goes, for one DIR (default DIR/report.html)")

    p = sub.add_parser("profile", parents=[common],
                       help="count real prompts' tokens and write a suite of their shape "
                            "(no prompt text is written anywhere)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="prompt files or folders of them (text), chat JSONL, or OpenAI request "
                        "logs (JSONL)")
    p.add_argument("--format", choices=("text", "chat", "openai-log"),
                   metavar="text|chat|openai-log",
                   help="how the files are written (default: guessed from their content)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--endpoint", type=Path, metavar="ENDPOINT.yml",
                     help="count with this endpoint's tokenizer (its /tokenize) and chat template")
    how.add_argument("--tokenizer", metavar="NAME",
                     help="count with litellm's local tokenizer for this model name (offline; "
                          "no chat template)")
    p.add_argument("--out", type=Path, metavar="RUN.yml", help="write the fitted suite here")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--compare", type=Path, metavar="RESULTS_DIR",
                   help="after a run of the suite: how its sent lengths matched the profile")

    p = sub.add_parser("simulate", help="serve the built-in OpenAI-compatible simulator on 127.0.0.1")
    from .simulator.__main__ import add_arguments as add_simulator_arguments
    add_simulator_arguments(p)

    p = sub.add_parser("demo", parents=[common],
                       help="run the demo suite against a local llama.cpp server (or the simulator)")
    p.add_argument("--headless", action="store_true",
                   help="no TUI: progress on stderr, summary on stdout (no confirmation: the demo's "
                        "endpoint is local and free)")
    p.add_argument("--simulator", action="store_true",
                   help="use the simulator even if llama.cpp is installed")
    p.add_argument("--sessions", action="store_true",
                   help="run the session demo: multi-turn chats and an agent "
                        "(sample_configs/run_sessions.yml)")
    _format_option(p)
    p.set_defaults(workers=None, cluster=None)     # the default workers
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; common options count wherever they stand (after the command wins)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    given_before = {k.removeprefix(_BEFORE): v for k, v in vars(args).items() if k.startswith(_BEFORE)}
    for key in given_before:
        delattr(args, _BEFORE + key)
    if args.command == "simulate" and given_before:
        # simulate has options of its own (its --seed seeds faults, not prompts): say where they go
        flag = "--" + next(iter(given_before)).replace("_", "-")
        parser.error(f"{flag} before `simulate`: simulate takes its own options after the "
                     "command (tokenflood simulate --help)")
    for key, default in COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, given_before.get(key, default))
    return args


def _seed(text: str) -> int:
    from .specs import MAX_SEED
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be a whole number between 0 and {MAX_SEED}, got {text!r}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, got {value}")
    return value


def _rounds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .errors import TokenfloodError

    try:
        if args.command == "init":
            return cmd_init(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "resume":
            return cmd_resume(args)
        if args.command == "simulate":
            from .simulator.__main__ import run_from_args
            return run_from_args(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "edit":
            return cmd_edit(args)
        if args.command == "results":
            return cmd_results(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "ab":
            return cmd_ab(args)
        if args.command == "profile":
            return cmd_profile(args)
        return cmd_home(args)
    except TokenfloodError as exc:
        sys.stderr.write(f"tokenflood: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("tokenflood: interrupted\n")
        return 130


def cmd_init(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .quickstart import ENDPOINT_YML, RUN_YML

    folder: Path = args.dir
    targets = {folder / "run.yml": RUN_YML, folder / "endpoint.yml": ENDPOINT_YML}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        raise ConfigError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    print(f"next: point base_url in {folder / 'endpoint.yml'} at your server, then\n"
          f"  tokenflood run {folder / 'run.yml'} {folder / 'endpoint.yml'}")
    return 0


def load_specs(args: argparse.Namespace):
    from .specs import load_endpoint, load_run_suite

    suite = load_run_suite(args.run_file)
    endpoint = load_endpoint(args.endpoint_file)
    if args.seed is not None:
        suite = suite.model_copy(update={"seed": args.seed})
    return suite, endpoint


def interactive() -> bool:
    """The TUI needs a terminal on both ends; otherwise it would hang or write escape codes."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def require_terminal(what: str) -> None:
    from .errors import ConfigError
    if not interactive():
        raise ConfigError(f"{what} needs a terminal (stdin and stdout are not both a TTY); "
                          "for scripts use `tokenflood run RUN.yml ENDPOINT.yml --headless --yes`")


def output_format(args: argparse.Namespace) -> str:
    """--format, or by where stdout goes: text fitted to a terminal, every column (md) for a
    file or a pipe."""
    given = getattr(args, "format", None)
    return given or ("text" if sys.stdout.isatty() else "md")


def run_tui(launch, fmt: str = "text") -> int:
    """Run the app; afterwards print each run's summary on the terminal, as headless does."""
    from .tui.app import TokenfloodApp
    app = TokenfloodApp(launch)
    code = app.run()
    code = 0 if code is None else int(code)
    return print_runs_after_exit(app.started_runs, code, fmt)


def print_runs_after_exit(controllers, code: int, fmt: str = "text") -> int:
    """The summary and results folder of every run the app started (oha and k6 print theirs on
    exit too), in `fmt`; returns the exit code, the last run's when the app had none to give."""
    from .headless import print_summary
    for controller in controllers:
        if controller.running:       # the app went away mid-run (it crashed): keep the results
            sys.stderr.write("[tokenflood] stopping the run; in-flight requests get a few "
                             "seconds, then the results are written\n")
            controller.stop()
            controller.wait(60)
        if controller.result is not None:
            print_summary(controller.result, fmt=fmt)
        elif controller.error:
            sys.stderr.write(f"tokenflood: error: {controller.error}\n")
    if code == 0 and controllers and controllers[-1].finished:
        code = controllers[-1].exit_code
    return code


def cmd_home(args: argparse.Namespace) -> int:
    require_terminal("the home screen")
    from .tui.app import Launch
    return run_tui(Launch("home", folder=Path("."), results_root=args.results_dir, theme=args.theme),
                   output_format(args))


def cmd_run(args: argparse.Namespace) -> int:
    suite, endpoint = load_specs(args)
    from .run.preflight import check_run
    check_run(endpoint, args.results_dir)    # here too: the TUI would only show it in a toast
    return start_run(args, suite, endpoint, args.results_dir)


def start_run(args: argparse.Namespace, suite: RunSuite, endpoint: EndpointSpec,
              results_root: Path, resume: ResumePoint | None = None,
              title: str | None = None) -> int:
    """The one front-end choice for a run (`run`, `resume`, `demo`): the live view when stdin
    and stdout are a terminal and --headless was not given, else headless."""
    live = not args.headless and interactive()
    workers, cluster = workers_for(args, suite, endpoint, live)
    if not live:
        from .headless import run_headless
        return run_headless(suite, endpoint, results_root, assume_yes=args.yes,
                            verbose=args.verbose, workers=workers, resume=resume,
                            cluster=cluster, fmt=output_format(args))
    from .tui.app import Launch
    return run_tui(Launch("run", results_root=results_root, suite=suite, endpoint=endpoint,
                          theme=args.theme, assume_yes=args.yes, workers=workers, resume=resume,
                          cluster=cluster, title=title), output_format(args))


def workers_for(args: argparse.Namespace, suite: RunSuite, endpoint: EndpointSpec,
                live: bool) -> tuple[int, ClusterTarget | None]:
    """How many workers send, and the Dask cluster they run on (None: this machine). The cluster is
    checked now, so its errors come before the budget prompt."""
    if args.cluster:
        import asyncio

        from .run import cluster
        target = asyncio.run(cluster.probe(args.cluster, args.workers, endpoint))
        return len(target.workers), target
    from .run.workers import choose_workers
    return choose_workers(args.workers, suite.peak_rps, endpoint.resolved_client,
                          live_view=live), None


def cmd_resume(args: argparse.Namespace) -> int:
    """Go on with a run whose process ended early, in its own results folder."""
    from .run.resume import find_resume_point
    folder = resolve_results_folder(args.dir, args.results_dir)
    point = find_resume_point(folder, args.endpoint)
    return start_run(args, point.suite, point.endpoint, folder.parent, resume=point)


def cmd_edit(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .specs import detect_kind
    from .workspace import guess_kind
    if not args.file.exists():
        raise ConfigError(f"{args.file}: no such file; `tokenflood init` writes examples, and the "
                          "home screen (`tokenflood`) creates new specs")
    if guess_kind(args.file) is None:    # a broken spec opens, to be fixed; anything else is
        detect_kind(args.file)           # refused with detect_kind's clear error
    require_terminal("the editor")
    from .tui.app import Launch
    return run_tui(Launch("edit", folder=args.file.parent, results_root=args.results_dir,
                          file=args.file, theme=args.theme), output_format(args))


def cmd_results(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .workspace import latest_results
    folder = resolve_results_folder(args.dir, args.results_dir) if args.dir else \
        latest_results(args.results_dir)
    if folder is None:
        raise ConfigError(f"no results folders in {args.results_dir}; run something first")
    from .outputs.experiment import is_experiment
    if is_experiment(folder):
        return experiment_results(args, folder)
    from .run.partial import load_summary
    # ConfigError when not a summary; a killed run's is built from its rows and journal
    summary = load_summary(folder)
    if args.format is not None or not interactive():
        sys.stdout.write(results_text(summary, folder, output_format(args)))
        return 0
    from .tui.app import Launch
    return run_tui(Launch("results", results_root=args.results_dir, results_dir=folder,
                          theme=args.theme))


def results_text(summary: RunSummary, folder: Path, fmt: str) -> str:
    """`results` without the view: summary.md (md), summary.json's content (json), or the
    summary as printed after a run, fitted to the terminal (text)."""
    from .outputs import printed, report
    if fmt == "json":
        return summary.to_json()
    if fmt == "md":
        return report.markdown(summary)
    return printed.text(summary, folder, shutil.get_terminal_size().columns)


def experiment_results(args: argparse.Namespace, folder: Path) -> int:
    """`results` on an A/B experiment's folder: its comparison and where each variant's results
    are (printed), or the compare screen, whose `r` opens a variant's results."""
    from .compare.compare import COMPARE_FILE, Comparison
    from .errors import ConfigError
    from .outputs.experiment import ExperimentInfo
    info = ExperimentInfo.load(folder)
    fmt = output_format(args) if args.format is not None or not interactive() else "text"
    variants = variants_text(info, folder, fmt)
    if not (folder / COMPARE_FILE).is_file():
        paths = ", ".join(str(f) for f in info.variant_folders(folder))
        raise ConfigError(f"{folder}: an A/B experiment without a comparison (a variant has no "
                          f"phase); `tokenflood results` opens a variant's folder: {paths}")
    if args.format is not None or not interactive():
        from .compare import output
        sys.stdout.write(output.printed(Comparison.load(folder), fmt,
                                        shutil.get_terminal_size().columns))
        if fmt != "json":            # stdout stays one JSON document
            sys.stdout.write(f"\n{variants}\n")
        return 0
    from .tui.app import Launch
    return run_tui(Launch("compare", results_root=args.results_dir, compare_dir=folder,
                          theme=args.theme))


def variants_text(info: ExperimentInfo, folder: Path, fmt: str = "text") -> str:
    """Where each variant's results folder is, for `tokenflood results` to open (md: a list)."""
    from .outputs.charts import run_letter
    bullet = "- " if fmt == "md" else "  "
    lines = [f"{bullet}{run_letter(i)} {v.name}" + (" (baseline)" if i == 0 else "") +
             f": {path}" for i, (v, path) in enumerate(zip(info.variants,
                                                          info.variant_folders(folder),
                                                          strict=True))]
    return "\n".join(["variants (tokenflood results DIR opens one):", *lines])


def cmd_ab(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .headless import run_ab_headless
    from .run.preflight import check_run
    from .run.experiment import Variant, variant_names
    from .run.workers import choose_workers
    from .specs import LoadTestSuite, load_endpoint, load_run_suite
    suite = load_run_suite(args.run_file)
    if args.seed is not None:
        suite = suite.model_copy(update={"seed": args.seed})
    if not isinstance(suite, LoadTestSuite):
        raise ConfigError(f"{args.run_file}: ab runs a load-test suite (rates and phases); run "
                          "an observation per endpoint and `tokenflood compare` them")
    if len(args.endpoint_files) < 2:
        raise ConfigError("ab needs at least two endpoint files, one per variant (the first is "
                          "the baseline)")
    endpoints = [load_endpoint(path) for path in args.endpoint_files]
    for endpoint in endpoints:
        check_run(endpoint, args.results_dir)
    variants = [Variant(name, ep) for name, ep in
                zip(variant_names(args.endpoint_files), endpoints, strict=True)]
    if args.headless or not interactive():
        workers = choose_workers(args.workers, suite.peak_rps, endpoints[0].resolved_client,
                                 live_view=False)
        return run_ab_headless(suite, variants, args.results_dir, assume_yes=args.yes,
                               rounds=args.rounds, verbose=args.verbose, workers=workers,
                               fmt=output_format(args))
    # Built (and estimated) before the app starts: what cannot run says so on the terminal.
    from .tui.app import Launch, TokenfloodApp
    from .tui.experiment_controller import ExperimentController
    controller = ExperimentController(suite, variants, args.results_dir, args.rounds,
                                      args.workers)
    app = TokenfloodApp(Launch("ab", results_root=args.results_dir, suite=suite,
                               endpoint=endpoints[0], theme=args.theme, assume_yes=args.yes,
                               experiment=controller))
    code = app.run()
    code = 0 if code is None else int(code)
    fmt = output_format(args)
    return print_runs_after_exit(app.started_runs,
                                 print_experiment_after_exit(controller, code, fmt), fmt)


def print_experiment_after_exit(controller, code: int, fmt: str = "text") -> int:
    """The comparison and the experiment's folder, as headless prints them; returns the exit
    code, the experiment's when the app had none to give."""
    from .headless import print_experiment
    if controller.running:        # the app went away mid-run (it crashed): keep the results
        sys.stderr.write("[tokenflood] stopping the experiment; in-flight requests get a few "
                         "seconds, then the results are written\n")
        controller.stop()
        controller.wait(60)
    result = controller.result
    if result is not None:
        print_experiment(result.comparison, result.folder, fmt)
    elif controller.error:
        sys.stderr.write(f"tokenflood: error: {controller.error}\n")
    if code == 0 and controller.finished:
        code = controller.exit_code
    return code


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import folder as compare_folder, output
    from .compare.compare import DEFAULT_SEED, compare
    from .errors import ConfigError
    from .outputs.experiment import ExperimentInfo, is_experiment
    folders: list[Path] = []
    for given in args.dirs:
        folder = resolve_results_folder(given, args.results_dir)
        # an A/B experiment's folder stands for its variants, the baseline first
        folders += (ExperimentInfo.load(folder).variant_folders(folder) if is_experiment(folder)
                    else [folder])
    if len(folders) < 2:
        raise ConfigError("compare needs at least two results folders, or an A/B experiment's "
                          "folder (the first is the baseline)")
    seed = DEFAULT_SEED if args.seed is None else args.seed
    comparison = compare(folders, seed=seed)
    out = compare_folder.write(comparison,
                               args.out or compare_folder.default_folder(args.results_dir))
    code = 0
    if not args.headless and interactive():
        # the compare screen on what was just written; the table is printed after it, as the
        # runs' summaries are after `tokenflood run`
        from .tui.app import Launch
        code = run_tui(Launch("compare", results_root=args.results_dir, compare_dir=out,
                              theme=args.theme))
    sys.stdout.write(output.printed(comparison, output_format(args),
                                    shutil.get_terminal_size().columns))
    sys.stderr.write(f"tokenflood: comparison written to {out}\n")
    return code


def cmd_report(args: argparse.Namespace) -> int:
    """report.html for each DIR; a DIR that is none of the three kinds is named on stderr and the
    others are still written (exit 2 when any was not)."""
    from .errors import ConfigError, TokenfloodError
    if args.out is not None and len(args.dirs) > 1:
        raise ConfigError(f"--out names one file: give one DIR (got {len(args.dirs)}), or leave "
                          "--out out to write each DIR/report.html")
    code = 0
    for given in args.dirs:
        try:
            folder = resolve_results_folder(given, args.results_dir)
            path = write_report(folder, args.out)
        except TokenfloodError as exc:
            sys.stderr.write(f"tokenflood: error: {exc}\n")
            code = exc.exit_code
            continue
        print(path)
    return code


def write_report(folder: Path, out: Path | None = None) -> Path:
    """report.html of a results folder (a killed run's too), a comparison, or an A/B
    experiment's comparison; ConfigError for a folder that is none of them."""
    from .compare.compare import COMPARE_FILE, Comparison
    from .errors import ConfigError, TokenfloodError
    from .metrics.summary import SUMMARY_FILE
    from .outputs.experiment import ExperimentInfo, is_experiment
    from .run.partial import load_summary, rebuildable
    from .specs import load_endpoint
    from .specs.secrets import Scrubber
    try:
        if (folder / COMPARE_FILE).is_file():
            from .compare import page as compare_page
            return compare_page.write(Comparison.load(folder), folder, out=out)
        if is_experiment(folder):
            paths = ", ".join(str(f) for f in ExperimentInfo.load(folder).variant_folders(folder))
            raise ConfigError(f"{folder}: an A/B experiment without a comparison (a variant has "
                              f"no phase); report its variants' folders: {paths}")
        if not (folder / SUMMARY_FILE).is_file() and not rebuildable(folder):
            raise ConfigError(f"{folder}: not a results folder, comparison or A/B experiment "
                              "(it has no summary.json, compare.json or experiment.json)")
        summary = load_summary(folder)
        from .report import run as run_page
        scrubber = None
        try:     # the endpoint's secrets, as this shell's env gives them, kept out of the page
            scrubber = Scrubber.for_endpoint(load_endpoint(folder / "endpoint.yml"))
        except (TokenfloodError, OSError):
            pass
        return run_page.write(folder, summary, scrubber.scrub if scrubber else None, out)
    except OSError as exc:
        target = out or folder / "report.html"
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None


def resolve_results_folder(given: Path, results_dir: Path) -> Path:
    """DIR as typed (a path), or a folder name as the home screen lists it, under --results-dir;
    the one holding a summary.json wins when both exist."""
    from .errors import ConfigError
    candidates = [given] + ([results_dir / given] if not given.is_absolute() else [])
    folders = [c for c in candidates if c.is_dir()]
    if not folders:
        looked = " and ".join(str(c) for c in candidates)
        raise ConfigError(f"{given}: no such results folder (looked for {looked}); "
                          "`tokenflood results` opens the newest one")
    return next((f for f in folders if (f / "summary.json").is_file()), folders[0])


def cmd_profile(args: argparse.Namespace) -> int:
    from .profile.command import ProfileRequest, profile
    compare = resolve_results_folder(args.compare, args.results_dir) if args.compare else None
    return profile(ProfileRequest(args.files, args.format, args.endpoint, args.tokenizer, args.out,
                                  compare, args.force), shutil.get_terminal_size().columns,
                   sys.stdout, sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo_target

    # the demo's budget is small and known: headless it starts without asking; the live view
    # shows the budget modal as for any run
    args.yes = args.headless or not interactive()
    with demo_target(args.seed, args.simulator, args.sessions) as target:
        return start_run(args, target.suite, target.endpoint, args.results_dir,
                         title=target.title)


if __name__ == "__main__":
    raise SystemExit(main())
