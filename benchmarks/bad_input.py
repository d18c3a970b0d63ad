"""How fast bad input is reported: a black-holed endpoint, and a run too big for the limits.

    python benchmarks/bad_input.py

1. An endpoint that accepts TCP connections and never answers, with request_timeout_seconds: 3:
   seconds from start to the exit-1 error.
2. 10 million constant arrivals at the default token limits: seconds and peak resident memory
   to the exit-3 refusal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
RUN = ("name: bad\nrequests_per_second_rates: [{rate}]\ntest_length_in_seconds: {length}\n"
       "arrival: constant\nrequest_timeout_seconds: 3\n"
       "load_types:\n- {{prompt_length: 100, prefix_length: 20, output_length: 8}}\n")


def black_hole() -> int:
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)          # read by nobody, answered never

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def run(folder: Path, rate: str, length: str, port: int) -> tuple[int, float, float, str]:
    (folder / "run.yml").write_text(RUN.format(rate=rate, length=length))
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: m\nbase_url: http://127.0.0.1:{port}/v1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENFLOOD_MAX")}
    # tokenflood as the only child of a fresh Python, so RUSAGE_CHILDREN is its own peak
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.monotonic()\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, "
             "stdin=subprocess.DEVNULL)\n"
             "err = [l for l in p.stderr.splitlines() if 'error:' in l]\n"
             "print(p.returncode, time.monotonic() - t, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, (err or ['?'])[0])\n")
    out = subprocess.run([sys.executable, "-c", probe, TOKENFLOOD, "run", "run.yml", "endpoint.yml",
                          "--yes", "--headless", "--results-dir", "results"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=600).stdout
    code, seconds, kib, error = out.split(" ", 3)
    return int(code), float(seconds), int(kib) / 1024, error.strip()


def main() -> None:
    port = black_hole()
    with tempfile.TemporaryDirectory() as tmp:
        code, seconds, peak, error = run(Path(tmp), "10", "2", port)
        print(f"black-holed endpoint, timeout 3 s: exit {code} after {seconds:.1f} s: {error[:160]}")
    with tempfile.TemporaryDirectory() as tmp:
        code, seconds, peak, error = run(Path(tmp), "10000", "1000", port)
        print(f"10 million requests over the limits: exit {code} after {seconds:.1f} s, "
              f"peak {peak:.0f} MB: {error[:120]}")


if __name__ == "__main__":
    main()
