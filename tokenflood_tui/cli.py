"""Argument parsing and the choice of front end; nothing else. Heavy imports happen per command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

EPILOG = """\
exit codes: 0 success, 1 the run aborted, 2 bad usage or config, 3 budget refused, 130 interrupted
limits: TOKENFLOOD_MAX_INPUT_TOKENS (default 1,000,000), TOKENFLOOD_MAX_OUTPUT_TOKENS (default 10,000)
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="where results folders go (default ./results)")
    common.add_argument("--theme", help="TUI theme name (tokenflood-dark, -light, -ansi, a Textual "
                                        "theme, or one in <config dir>/themes)")
    common.add_argument("--seed", type=int, help="override the run suite's seed")
    common.add_argument("-v", "--verbose", action="store_true", help="print every failure")

    parser = argparse.ArgumentParser(
        prog="tokenflood", parents=[common], epilog=EPILOG,
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
                   help="sender processes (0: send from the main process; default: from the "
                        "highest rate and the cores)")

    p = sub.add_parser("edit", parents=[common], help="open the endpoint or run-suite editor on a file")
    p.add_argument("file", type=Path, metavar="FILE.yml")

    p = sub.add_parser("results", parents=[common], help="browse a results folder (default: the newest)")
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR")

    p = sub.add_parser("simulate", help="serve the built-in OpenAI-compatible simulator on 127.0.0.1")
    from .simulator.__main__ import add_arguments as add_simulator_arguments
    add_simulator_arguments(p)

    p = sub.add_parser("demo", parents=[common],
                       help="run the demo suite against a local llama.cpp server (or the simulator)")
    p.add_argument("--headless", action="store_true")
    p.add_argument("--simulator", action="store_true", help="use the simulator even if llama.cpp is installed")
    return parser


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import TokenfloodError

    try:
        if args.command == "init":
            return cmd_init(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "simulate":
            from .simulator.__main__ import run_from_args
            return run_from_args(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "edit":
            return cmd_edit(args)
        if args.command == "results":
            return cmd_results(args)
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


def run_tui(launch) -> int:
    from .tui.app import TokenfloodApp
    code = TokenfloodApp(launch).run()
    return 0 if code is None else int(code)


def cmd_home(args: argparse.Namespace) -> int:
    require_terminal("the home screen")
    from .tui.app import Launch
    return run_tui(Launch("home", folder=Path("."), results_root=args.results_dir, theme=args.theme))


def cmd_run(args: argparse.Namespace) -> int:
    suite, endpoint = load_specs(args)
    from .workers import choose_workers
    live = not args.headless and interactive()
    workers = choose_workers(args.workers, max(suite.requests_per_second_rates),
                             endpoint.resolved_client, live_view=live)
    if not live:
        from .headless import run_headless
        return run_headless(suite, endpoint, args.results_dir, assume_yes=args.yes,
                            verbose=args.verbose, workers=workers)
    from .tui.app import Launch
    return run_tui(Launch("run", results_root=args.results_dir, suite=suite, endpoint=endpoint,
                          theme=args.theme, assume_yes=args.yes, workers=workers))


def cmd_edit(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .specs import detect_kind
    if not args.file.exists():
        raise ConfigError(f"{args.file}: no such file; `tokenflood init` writes examples, and the "
                          "home screen (`tokenflood`) creates new specs")
    detect_kind(args.file)   # a clear error for a file that is neither kind
    require_terminal("the editor")
    from .tui.app import Launch
    return run_tui(Launch("edit", folder=args.file.parent, results_root=args.results_dir,
                          file=args.file, theme=args.theme))


def cmd_results(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .workspace import latest_results
    folder = args.dir or latest_results(args.results_dir)
    if folder is None:
        raise ConfigError(f"no results folders in {args.results_dir}; run something first")
    if not (folder / "summary.json").exists():
        raise ConfigError(f"{folder} has no summary.json: not a results folder")
    if not interactive():
        sys.stdout.write((folder / "summary.md").read_text(encoding="utf-8"))
        return 0
    from .tui.app import Launch
    return run_tui(Launch("results", results_root=args.results_dir, results_dir=folder,
                          theme=args.theme))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    raise SystemExit(main())
