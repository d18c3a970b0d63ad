"""An A/B experiment's folder: experiment.json (what ran, in which turns), one results folder per
variant, named after it, and the comparison of them (compare.json, compare.md) when every variant
has a phase. Read by the home screen, `tokenflood results` and `tokenflood compare`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError

EXPERIMENT_FILE = "experiment.json"
UNFINISHED = ("aborted", "interrupted")     # worst first: how an experiment with one ended


class VariantInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str                 # also its results folder's name under the experiment's folder
    folder: str               # as written when it ran (relative to where it ran)
    model: str
    provider: str


class ExperimentInfo(BaseModel):
    """experiment.json, the keys read back (run/experiment.py writes more: the turns)."""

    model_config = ConfigDict(extra="ignore")

    suite: str
    rounds: int
    seed: int
    started_at: str
    finished_at: str | None = None
    variants: list[VariantInfo]
    status: list[str] = []          # each variant's that ended with a summary, in order

    @classmethod
    def load(cls, folder: Path) -> ExperimentInfo:
        path = Path(folder) / EXPERIMENT_FILE
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValidationError as exc:
            raise ConfigError(f"{path}: not an experiment tokenflood wrote: "
                              f"{exc.errors()[0]['msg']}") from None

    @property
    def outcome(self) -> str:
        """completed when every variant completed, else the worst way one ended."""
        if len(self.status) == len(self.variants) and set(self.status) == {"completed"}:
            return "completed"
        return next((s for s in UNFINISHED if s in self.status), "aborted")

    def variant_folders(self, folder: Path) -> list[Path]:
        """Each variant's results folder, found under the experiment's folder wherever that
        was moved since (the paths in the file are relative to where it ran)."""
        return [Path(folder) / v.name for v in self.variants]


def is_experiment(folder: Path) -> bool:
    return (Path(folder) / EXPERIMENT_FILE).is_file()
