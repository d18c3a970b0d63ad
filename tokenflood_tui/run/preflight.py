"""What can be checked before the budget prompt without sending anything.

Run before a results folder exists, so a config problem found here exits 2 with one line and
leaves nothing behind (docs/architecture.md#commands-and-exit-codes): the key's env var and every
env reference, then the results folder's parent.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..clients.base import preflight as client_preflight
from ..errors import ConfigError
from ..specs import EndpointSpec


def check_run(endpoint: EndpointSpec, results_root: Path) -> None:
    """ConfigError naming what to fix; nothing is created or sent."""
    client_preflight(endpoint)
    check_results_root(results_root)


def check_results_root(root: Path) -> None:
    """`--results-dir` must be a folder tokenflood can write in, or one it can create.

    Writability is tested by creating and removing a probe file in the nearest existing folder:
    permission bits say nothing for root, and only a write tells a read-only filesystem.
    """
    root = Path(root)
    flag = f"--results-dir {root}"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{flag}: {root} is a file, not a folder; give a folder "
                          "(it is created if missing)")
    existing = next(p for p in (root.absolute(), *root.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{flag}: {_shown(existing, root)} is a file, so the folder cannot be "
                          "created; give a folder path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tokenflood-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write in {_shown(existing, root)} "
                          f"({exc.strerror or exc}); give a folder you can write to") from None


def _shown(path: Path, given: Path) -> str:
    """`path` as the user wrote it when it is part of what they gave, else absolute."""
    for parent in (given, *given.parents):
        if parent.absolute() == path:
            return str(parent)
    return str(path)
