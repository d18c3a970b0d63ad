"""Command-line options mean the same wherever they are placed, and bad values exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenflood_tui.cli import parse_args


@pytest.mark.parametrize("argv", [
    ["--seed", "7", "--results-dir", "elsewhere", "-v", "run", "r.yml", "e.yml"],
    ["run", "r.yml", "e.yml", "--seed", "7", "--results-dir", "elsewhere", "-v"],
    ["--seed", "7", "run", "--results-dir", "elsewhere", "r.yml", "e.yml", "-v"],
])
def test_common_options_are_honoured_before_and_after_the_command(argv):
    args = parse_args(argv)
    assert (args.command, args.seed, args.results_dir, args.verbose) == (
        "run", 7, Path("elsewhere"), True)


def test_after_the_command_wins_when_given_twice():
    args = parse_args(["--seed", "7", "--theme", "a", "run", "r.yml", "e.yml", "--seed", "8"])
    assert (args.seed, args.theme) == (8, "a")


def test_defaults_when_not_given():
    args = parse_args(["run", "r.yml", "e.yml"])
    assert (args.seed, args.results_dir, args.theme, args.verbose) == (None, Path("results"), None, False)
    home = parse_args(["--results-dir", "x"])
    assert home.command is None and home.results_dir == Path("x")


@pytest.mark.parametrize("argv", [["--seed", "-1", "run", "r.yml", "e.yml"],
                                  ["run", "r.yml", "e.yml", "--seed", "-1"],
                                  ["run", "r.yml", "e.yml", "--seed", "4294967296"],
                                  ["run", "r.yml", "e.yml", "--seed", "x"]])
def test_seed_outside_the_range_exits_2_naming_the_flag(argv, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed: must be a whole number between 0 and 4294967295" in err


def test_options_before_simulate_are_refused_not_ignored(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--seed", "3", "simulate", "--port", "0"])
    assert info.value.code == 2
    assert "--seed before `simulate`" in capsys.readouterr().err
    assert parse_args(["simulate", "--seed", "3"]).seed == 3


def test_help_lists_every_exit_code_the_commands_return(capsys):
    from tokenflood_tui.errors import BudgetRefused, ConfigError, EndpointError
    from tokenflood_tui.metrics.thresholds import EXIT_THRESHOLD_FAILED
    from tokenflood_tui.run.runner import EXIT_CODES
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    listed = help_text.split("exit codes: ", 1)[1].split(" --results-dir", 1)[0]
    assert "4 a threshold failed (the run completed)" in listed
    codes = {*EXIT_CODES.values(), ConfigError.exit_code, BudgetRefused.exit_code,
             EndpointError.exit_code, EXIT_THRESHOLD_FAILED}
    assert sorted(int(word) for word in listed.replace(",", " ").split() if word.isdigit()) == \
        sorted(codes)
