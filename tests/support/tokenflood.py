"""The real `tokenflood` command, run as a user would: to its end, or started and left running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .launch import Launched

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
# litellm's cost map from the package, not fetched from the internet at import
LOCAL_COST_MAP = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
ENV = {**os.environ, **LOCAL_COST_MAP}


def command_env(cwd: Path, env: dict | None) -> dict[str, str]:
    """A command's environment: the test process's as it is now (with what the test set), as
    subprocess would pass it, litellm's local cost map, the test's own config folder, `env`."""
    return {**os.environ, **LOCAL_COST_MAP, **own_config(cwd), **(env or {})}


def own_config(cwd: Path) -> dict[str, str]:
    """A config folder of the test's own (the user's is never read or written, and no test sees
    the rate limits another test's run remembered), unless the test set one."""
    return {"TOKENFLOOD_CONFIG_DIR": os.environ.get("TOKENFLOOD_CONFIG_DIR") or str(cwd / "config")}


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str
    results: Path

    def folder(self) -> Path:
        """The single results folder this run wrote."""
        (folder,) = [p for p in self.results.iterdir() if p.is_dir()]
        return folder

    def summary(self) -> dict:
        return json.loads((self.folder() / "summary.json").read_text())


def run_tokenflood(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120,
                   stdin: str | None = None) -> Completed:
    """`tokenflood ARGS --results-dir cwd/results` in cwd, to its end, in a process of its own
    (forked from a warm one: support/launch.py)."""
    return launch(*args, cwd=cwd, env=env, stdin=stdin).wait(timeout)


class Running:
    """`tokenflood ARGS --results-dir cwd/results` started in cwd and left running: poll() while
    it runs, wait() for its end."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict | None, stdin: str | None):
        self.results = cwd / "results"
        self._launched = Launched([TOKENFLOOD, *args, "--results-dir", str(self.results)], cwd,
                                  command_env(cwd, env), stdin)

    def poll(self) -> int | None:
        return self._launched.poll()

    def wait(self, timeout: float = 120) -> Completed:
        code, out, err = self._launched.wait(timeout)
        return Completed(code, out, err, self.results)


def launch(*args: str, cwd: Path, env: dict | None = None, stdin: str | None = None) -> Running:
    """run_tokenflood, without waiting for its end."""
    return Running(args, cwd, env, stdin)


def run_together(*runs: tuple[Path, Sequence[str]], env: dict | None = None,
                 timeout: float = 120) -> list[Completed]:
    """`tokenflood ARGS` in each (cwd, ARGS) at the same time, as run_tokenflood would run them
    one after the other: where a module needs several independent real runs, it waits for the
    longest instead of their sum."""
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(run_tokenflood, *args, cwd=cwd, env=env, timeout=timeout)
                   for cwd, args in runs]
        return [future.result() for future in futures]


def start(cwd: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`tokenflood ARGS --yes --headless` left running in a process group of its own (its
    senders with it, so a test can signal the whole group), results under cwd/results; stderr
    piped, stdout dropped."""
    return subprocess.Popen([TOKENFLOOD, *args, "--yes", "--headless", "--results-dir", "results"],
                            cwd=cwd, env=command_env(cwd, env),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def the_folder(cwd: Path) -> Path:
    """The single results folder of the run started in cwd."""
    (folder,) = [p for p in (cwd / "results").iterdir() if p.is_dir()]
    return folder


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path



def other_than_lateness(warnings: list[str]) -> list[str]:
    """The warnings (or lines of stderr), less client-bound ones for a sender late by under
    200 ms and polls that started under 200 ms after their slot: a busy machine can make the
    sender wake some ms late (10 to 30 ms seen next to a CPU hog), and the run says so. Lateness
    of a second or more (slot waits counted, a stuck loop) still fails the caller."""
    out = []
    for warning in warnings:
        late = re.search(r"the client was the bottleneck \(requests left up to (\d+) ms late", warning) \
            or re.search(r"poll \d+ started (\d+) ms after its slot", warning)
        if late is None or int(late.group(1)) >= 200:
            out.append(warning)
    return out
