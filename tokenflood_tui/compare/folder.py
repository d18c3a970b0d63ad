"""A comparison's folder: compare.md, compare.json, the overlay chart (compare.txt) and
report.html, written together by `tokenflood compare`, the compare screen and `tokenflood ab`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from ..outputs import charts
from ..outputs.folder import unique_path
from .compare import COMPARE_FILE, Comparison
from .output import markdown


def write(c: Comparison, out: Path) -> Path:
    """compare.md, compare.json, compare.txt and report.html in `out` (made if missing)."""
    from . import page           # the page's code stays out of start-up
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(markdown(c), encoding="utf-8")
        (out / COMPARE_FILE).write_text(c.to_json(), encoding="utf-8")
        charts.save_compare(c, out)
        page.write(c, out)
    except OSError as exc:
        raise ConfigError(f"cannot write the comparison to {out}: {exc.strerror or exc}") from None
    return out


def default_folder(results_dir: Path) -> Path:
    """compare_<time> under the results dir; -2, -3 ... when one of that second exists."""
    return unique_path(results_dir / f"compare_{datetime.now():%Y-%m-%d_%H-%M-%S}")
