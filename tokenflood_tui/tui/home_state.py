"""What the home screen remembers between sessions: the endpoint and suite last chosen in each
folder. A small JSON file beside the settings (settings.yml is the user's to edit; this one is
the app's memory). Reading or writing it never fails the app: without it, nothing is remembered.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..outputs.state import write_json
from .settings import config_dir

STATE_FILE = "home.json"
MAX_FOLDERS = 100          # the most recently used are kept


class ChosenPair(BaseModel):
    """Absolute paths; None: nothing chosen (or the last pick was invalid)."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str | None = None
    suite: str | None = None


class HomeState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chosen: dict[str, ChosenPair] = {}       # by folder (absolute), the last used last


def state_path() -> Path:
    return config_dir() / STATE_FILE


def _read() -> HomeState:
    try:
        return HomeState.model_validate_json(state_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValidationError, ValueError):
        return HomeState()


def remembered_pair(folder: Path) -> ChosenPair | None:
    """The pair last chosen in `folder`, or None when it has none remembered."""
    return _read().chosen.get(str(Path(folder).resolve()))


def remember_pair(folder: Path, endpoint: Path | None, suite: Path | None) -> None:
    """Remember the pair chosen in `folder` (written atomically; a read-only config folder
    only means it is not remembered)."""
    state = _read()
    key = str(Path(folder).resolve())
    state.chosen.pop(key, None)
    state.chosen[key] = ChosenPair(endpoint=str(endpoint.resolve()) if endpoint else None,
                                   suite=str(suite.resolve()) if suite else None)
    state.chosen = dict(list(state.chosen.items())[-MAX_FOLDERS:])
    write_json(state_path(), state.model_dump())
