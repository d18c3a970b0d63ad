"""A headless Chromium driven over the DevTools protocol (aiohttp's websocket; no other package):
open a page from a file, see every request it made, ask its DOM, take a screenshot.

Chromium comes from Debian (`chromium-headless-shell`, or `chromium`); `./dev setup` installs it
where it can (as root, with apt-get).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
MISSING = ("no headless Chromium: install Debian's chromium-headless-shell (`./dev setup` does "
           "as root)")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass
class Opened:
    """What a page did once loaded: the URLs it requested (itself first), its console errors and
    uncaught exceptions, and the answers to the questions asked of it."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)


async def _open(browser: str, page: Path, questions: list[str], screenshot: Path | None,
                width: int, height: int) -> Opened:
    with tempfile.TemporaryDirectory() as profile:
        # its log goes to a file: a pipe nobody reads would fill and stop the browser
        log = Path(profile) / "stderr.log"
        with open(log, "wb") as err:
            proc = await asyncio.create_subprocess_exec(
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--remote-debugging-port=0", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank",
                stdout=subprocess.DEVNULL, stderr=err)
        try:
            url = None
            for _ in range(300):
                found = re.search(r"DevTools listening on (ws://\S+)", log.read_text(errors="replace"))
                if found:
                    url = found.group(1)
                    break
                if proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            if url is None:
                raise RuntimeError(f"{browser} did not listen: {log.read_text(errors='replace')[-500:]}")
            return await _drive(url, page, questions, screenshot, width, height)
        finally:
            proc.kill()
            await proc.wait()


async def _drive(browser_ws: str, page: Path, questions: list[str], screenshot: Path | None,
                 width: int, height: int) -> Opened:
    opened = Opened()
    async with aiohttp.ClientSession() as http, http.ws_connect(browser_ws, max_msg_size=0) as ws:
        ids = iter(range(1, 1_000_000))
        pending: dict[int, asyncio.Future] = {}
        loaded = asyncio.Event()

        async def reader() -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if "id" in data and data["id"] in pending:
                    pending.pop(data["id"]).set_result(data)
                    continue
                method, params = data.get("method"), data.get("params", {})
                if method == "Network.requestWillBeSent":
                    opened.requests.append(params["request"]["url"])
                elif method == "Runtime.exceptionThrown":
                    opened.errors.append(json.dumps(params["exceptionDetails"])[:500])
                elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                    opened.errors.append(" ".join(str(a.get("value")) for a in params["args"]))
                elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                    opened.errors.append(params["entry"]["text"])
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def call(method: str, session: str | None = None, **params: Any) -> dict:
            n = next(ids)
            pending[n] = asyncio.get_running_loop().create_future()
            await ws.send_str(json.dumps({"id": n, "method": method, "params": params,
                                          **({"sessionId": session} if session else {})}))
            answer = await asyncio.wait_for(pending[n], 30)
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer["result"]

        task = asyncio.create_task(reader())
        try:
            target = (await call("Target.createTarget", url="about:blank"))["targetId"]
            session = (await call("Target.attachToTarget", targetId=target,
                                  flatten=True))["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                await call(f"{domain}.enable", session)
            await call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                       deviceScaleFactor=1, mobile=False)
            await call("Page.navigate", session, url=page.resolve().as_uri())
            await asyncio.wait_for(loaded.wait(), 30)
            for question in questions:
                result = await call("Runtime.evaluate", session, expression=question,
                                    returnByValue=True, awaitPromise=True)
                if "exceptionDetails" in result:
                    raise RuntimeError(f"{question}: {result['exceptionDetails']}")
                opened.answers.append(result["result"].get("value"))
            if screenshot is not None:
                shot = await call("Page.captureScreenshot", session, format="png",
                                  captureBeyondViewport=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
        finally:
            task.cancel()
        return opened


def open_page(page: Path, questions: list[str], screenshot: Path | None = None,
              width: int = 1280, height: int = 900) -> Opened:
    """Load `page` in a fresh headless Chromium, evaluate each JavaScript expression of
    `questions` once it loaded (their values in `answers`), and save a full-page screenshot."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError(MISSING)
    return asyncio.run(_open(browser, page, questions, screenshot, width, height))
