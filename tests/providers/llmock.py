"""llmock (PyPI `llmock==0.2.2`), the third-party mock of the OpenAI, Anthropic and Gemini APIs.

Started as `llmock serve --host 127.0.0.1 --port N` in a child process. Its control API
(`/_llmock/...`) queues scripted failures and returns the journal of every request it served,
which is its truth. It counts tokens as characters / 4 and replies with short canned texts
whatever max_tokens says (so it checks protocols and usage, not output lengths).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from support.net import free_port

LLMOCK = str(Path(sys.executable).parent / "llmock")


class LlmockProcess:
    def __init__(self, *args: str):
        self.args = list(args)
        self.port = free_port()
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (the child's log; closed in __exit__)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # what a user writes as base_url for each protocol
    @property
    def openai_base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"{self.root_url}/anthropic"

    @property
    def gemini_base_url(self) -> str:
        return f"{self.root_url}/gemini/v1beta"

    def __enter__(self) -> LlmockProcess:
        env = {**os.environ, "NO_COLOR": "1"}
        self._process = subprocess.Popen(
            [LLMOCK, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", *self.args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.root_url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._log.seek(0)
                self.__exit__()
                raise RuntimeError(f"llmock did not start: {self._log.read()[-2000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.root_url}/_llmock{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def queue(self, *behaviors: dict) -> None:
        """Script what the next requests get, e.g. {"type": "fail", "status": 429, "times": 2}."""
        self._call("POST", "/scenario", {"behaviors": list(behaviors)})

    def journal(self) -> list[dict]:
        """Every request served since the last reset, oldest first."""
        return self._call("GET", "/requests")["requests"]

    def reset(self) -> None:
        self._call("POST", "/reset")
