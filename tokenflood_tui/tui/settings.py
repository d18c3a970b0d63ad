"""The user settings file: a small YAML file in the platform's config folder.

Read as spec files are (specs.loader): aliases, deep nesting and a key given twice are refused,
and a problem is worded `settings.yml:line: key: message`. No Textual import here: the core may
read settings too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import ConfigError
# the config folder is the core's too: a run remembers the rate limits it saw there
from ..outputs.state import CONFIG_DIR_ENV, config_dir
from ..specs.loader import dump_yaml, parse_yaml, validate

__all__ = ["CONFIG_DIR_ENV", "Settings", "config_dir", "load_settings", "read_settings",
           "save_settings", "settings_path"]

SETTINGS_FILE = "settings.yml"


class Settings(BaseModel):
    """What tokenflood remembers between sessions."""

    # Unknown keys are ignored so that a settings file written by a newer version still loads.
    model_config = ConfigDict(extra="ignore")

    theme: str | None = None


def settings_path() -> Path:
    """Where the settings file lives."""
    return config_dir() / SETTINGS_FILE


def read_settings() -> tuple[Settings, str | None]:
    """The settings and a warning for the user if the file could not be used; never raises.

    A missing or empty file gives the defaults without a warning; a corrupt one gives the
    defaults and a warning naming the file and the problem.
    """
    path = settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), None
    except (OSError, UnicodeDecodeError) as exc:
        return Settings(), f"{path}: cannot read the settings file ({exc}); using defaults."
    try:
        doc = parse_yaml(text, str(path))
        if doc.data is None:
            return Settings(), None
        return validate(doc, Settings, "settings, such as 'theme: tokenflood-dark'"), None
    except ConfigError as exc:
        return Settings(), f"{exc}; using defaults."


def load_settings() -> Settings:
    """The settings, or the defaults if the file is missing or corrupt; never raises."""
    return read_settings()[0]


def save_settings(settings: Settings) -> Path:
    """Write the settings atomically (temp file + replace), creating the folder; returns the path.

    Keys this version does not know (written by a newer tokenflood) are kept. Raises `OSError`
    if the folder is not writable.
    """
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    try:
        existing = parse_yaml(path.read_text(encoding="utf-8"), str(path)).data
        if isinstance(existing, dict):
            data.update(existing)
    except (OSError, UnicodeDecodeError, ConfigError):
        pass   # missing or refused (read_settings said why): it is replaced as a whole
    data.update(settings.model_dump())
    text = dump_yaml(data, sort_keys=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return path
