"""`tokenflood profile FILES…`: read, count, print, fit and write the suite; `--compare` a run
against the profile. What the CLI calls; nothing here prints prompt text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError, EndpointError
from ..run import prompts
from ..run.events import RunEvent
from ..specs import EndpointSpec, load_endpoint
from . import show
from .compare import compare_text
from .count import Profile, Templates, count_traffic, endpoint_counter, has_system
from .fitting import LoadFit, SessionFit, fit_load_types, fit_session_type
from .read import Format, Traffic, read_traffic
from .suite import build_suite, plural, suite_name

SESSION_TYPE = "chat"


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    files: list[Path]
    format: Format | None
    endpoint: Path | None
    tokenizer: str | None
    out: Path | None
    compare: Path | None        # a results folder, resolved
    force: bool = False         # overwrite `out`


def profile(req: ProfileRequest, width: int, out: TextIO, err: TextIO) -> int:
    if req.endpoint is None and req.tokenizer is None:
        raise ConfigError("profile needs a tokenizer: --endpoint ENDPOINT.yml (the server's own, "
                          "chat template included) or --tokenizer NAME (litellm's local ones, "
                          "e.g. gpt-4o)")
    if req.out is not None and req.out.exists() and not req.force:
        raise ConfigError(f"{req.out} already exists; pass --force to overwrite it, or give "
                          "another --out")
    endpoint = load_endpoint(req.endpoint) if req.endpoint else None
    traffic = read_traffic(req.files, req.format)
    if traffic.guessed:
        err.write(f"tokenflood: read {plural(len(traffic.files), 'file')} as {traffic.format} "
                  "(guessed from their content; --format chooses)\n")
    result = asyncio.run(count(traffic, endpoint, req.tokenizer, err))
    fit: LoadFit | SessionFit = (fit_session_type(result, SESSION_TYPE) if result.sessions
                                 else fit_load_types(result))
    _, text = build_suite(result, fit, suite_name(result), endpoint)
    out.write(show.text(result, fit, width))
    if req.out is not None:
        try:
            req.out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{req.out}: cannot write the suite ({exc.strerror})") from None
        err.write(f"tokenflood: wrote {req.out}: tokenflood run {req.out} ENDPOINT.yml\n")
    if req.compare is not None:
        out.write("\n" + compare_text(result, req.compare, width))
    return 0


async def count(traffic: Traffic, endpoint: EndpointSpec | None, tokenizer: str | None,
                err: TextIO) -> Profile:
    def say(text: str) -> None:
        err.write(f"tokenflood: {text}\n")

    def note(event: RunEvent) -> None:
        say(getattr(event, "text", str(event)))

    if endpoint is None:
        assert tokenizer is not None
        counter = await asyncio.to_thread(prompts.LitellmTokenCounter, tokenizer)
        counter.name = f"litellm.token_counter({tokenizer})"
        templates: Templates = {}
        return await count_traffic(traffic, counter, templates,
                                   "not counted (--tokenizer: no endpoint to measure it on)",
                                   say)
    import aiohttp
    # without a system prompt too: a load type's prompt is sent as one user message, and the
    # fit keeps room for that template (SmolLM2's adds 30 tokens alone, 14 with a system prompt)
    kinds = {has_system(c.messages) for c in traffic.conversations} | {False}
    counter_, templates, how, close = await endpoint_counter(endpoint, kinds, note)
    try:
        try:
            return await count_traffic(traffic, counter_, templates, how, say)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # llama.cpp may close a kept-alive connection between two counts (seen as a
            # disconnect, or as "Can not write request body"): counting is idempotent, so once
            # more on fresh connections
            return await count_traffic(traffic, counter_, templates, how, say)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # the server went away mid-count; its message names the URL, never a prompt
        raise EndpointError(f"counting with {counter_.name} failed: "
                            f"{str(exc) or type(exc).__name__}") from None
    finally:
        await close()
