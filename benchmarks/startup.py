"""Start-up: `tokenflood --help`, and the time until the TUI's first screen is on a terminal.

The TUI is started for real in a tmux pane (120x40) and the pane is polled until the home
screen's text appears. Prints the median and worst of N runs.

    python benchmarks/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
TARGETS = {"help": 0.3, "first_screen": 1.5}


def time_help() -> float:
    start = time.perf_counter()
    subprocess.run([TOKENFLOOD, "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def time_first_screen(folder: Path) -> float:
    name = f"tf-start-{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40",
                    f"cd {folder} && env -u COLUMNS -u LINES TOKENFLOOD_CONFIG_DIR={folder}/cfg "
                    f"{TOKENFLOOD}; sleep 10"], check=True)
    try:
        while time.perf_counter() - start < 20:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name],
                                    capture_output=True, text=True).stdout
            if "Recent results" in screen and "sample/" in screen:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise RuntimeError("the home screen never appeared:\n" + screen)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    figures = {"help": [time_help() for _ in range(args.runs)]}
    if shutil.which("tmux"):
        with tempfile.TemporaryDirectory() as tmp:
            time_first_screen(Path(tmp))          # the first start also warms the disk cache
            figures["first_screen"] = [time_first_screen(Path(tmp)) for _ in range(args.runs)]
    else:
        print("tmux not found: skipping the first-screen measurement", file=sys.stderr)
    print(f"{'what':<14} {'median s':>9} {'worst s':>8} {'target s':>9}")
    for what, values in figures.items():
        print(f"{what:<14} {statistics.median(values):9.3f} {max(values):8.3f} {TARGETS[what]:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
