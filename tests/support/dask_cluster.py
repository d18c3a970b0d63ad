"""A real Dask cluster on 127.0.0.1 for tests and benchmarks: a scheduler and worker processes,
each started with Dask's own command line (`dask scheduler`, `dask worker --no-nanny`, so a
worker's pid is the process that sends, and killing it kills that worker for good)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.net import free_port

DASK = str(Path(sys.executable).parent / "dask")


class DaskCluster:
    """`with DaskCluster(2) as c:` c.address is the scheduler's, c.workers the worker processes
    (named w0, w1, ...); every address is loopback."""

    def __init__(self, workers: int = 2, env: dict[str, str] | None = None):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.count = workers
        self.env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "warning", **(env or {})}
        self.logs = Path(tempfile.mkdtemp(prefix="dask-cluster-"))
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def __enter__(self) -> DaskCluster:
        # should a test process die without stopping them: the scheduler ends after 10 idle
        # minutes, and the workers 30 s after losing it
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1",
                                                   "--port", str(self.port), "--no-dashboard",
                                                   "--idle-timeout", "600s"])
        for i in range(self.count):
            self.add_worker(f"w{i}")
        self.wait_for_workers(self.count)
        return self

    def add_worker(self, name: str) -> subprocess.Popen:
        proc = self._start(name, [DASK, "worker", self.address, "--host", "127.0.0.1",
                                  "--no-nanny", "--nthreads", "1", "--no-dashboard",
                                  "--death-timeout", "30", "--name", name])
        self.workers.append(proc)
        return proc

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as log:
            return subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_workers(self, n: int, timeout: float = 90.0) -> None:
        from distributed import Client
        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill(self, index: int) -> None:
        """SIGKILL worker `index`: gone at once, nothing flushed."""
        os.kill(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def __exit__(self, *exc) -> None:
        # the workers before the scheduler: a worker whose scheduler went first sometimes stays
        # on, reconnecting, for the whole grace (seen: 15 s), where it otherwise exits in 1 s
        self._stop(self.workers)
        self._stop([self.scheduler])

    @staticmethod
    def _stop(procs: list[subprocess.Popen | None]) -> None:
        running = [p for p in procs if p is not None and p.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + 10
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
