"""`profile --compare RESULTS_DIR`: how a run's sent workload (requests.csv's prompt_tokens and
output_tokens, as the server counted them) matched the profile, per length bucket: the data's
prompt lengths cut at their quartiles, each sent request put in the bucket its length falls in."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..metrics.summary import pkey
from ..outputs import formats
from ..outputs.fit import Column, dropped_note, fit_table
from ..outputs.folder import read_rows
from .count import Profile
from .fitting import QUANTILES, percentiles

BUCKET_EDGES = (25, 50, 75)


def sent_lengths(folder: Path) -> tuple[list[int], list[int]]:
    """The ok requests' prompt and output tokens, as the server counted them."""
    if not (folder / "requests.csv").is_file():
        raise ConfigError(f"{folder}: no requests.csv (is it a results folder?)")
    prompts, outputs = [], []
    for row in read_rows(folder):
        if row.get("status") != "ok":
            continue
        try:
            prompts.append(int(row["prompt_tokens"]))
            outputs.append(int(row["output_tokens"]))
        except (KeyError, ValueError):
            continue
    if not prompts:
        raise ConfigError(f"{folder}: no ok request with token counts in requests.csv: nothing "
                          "to compare")
    return prompts, outputs


def compare_text(profile: Profile, folder: Path, width: int) -> str:
    prompts, outputs = sent_lengths(folder)
    data_prompts = np.array([r.prompt for r in profile.requests])
    data_outputs = np.array([-1 if r.output is None else r.output for r in profile.requests])
    edges = sorted(set(int(round(e)) for e in np.percentile(data_prompts, BUCKET_EDGES)))
    sent_p, sent_o = np.array(prompts), np.array(outputs)
    data_bucket = np.searchsorted(edges, data_prompts, side="right")
    sent_bucket = np.searchsorted(edges, sent_p, side="right")
    labels = ([f"< {edges[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]
              + [f">= {edges[-1]}"])

    def cell(values: np.ndarray, fn) -> str:
        values = values[values >= 0]
        return formats.number(float(fn(values)), 0) if len(values) else formats.MISSING

    rows = range(len(labels))
    columns = [
        Column("prompt tokens", labels, 0, left=True),
        Column("data", [formats.share(float(np.mean(data_bucket == b))) for b in rows], 0,
               "share"),
        Column("sent", [formats.share(float(np.mean(sent_bucket == b))) for b in rows], 0,
               "share"),
        Column("data", [cell(data_prompts[data_bucket == b], np.median) for b in rows], 1,
               "prompt p50"),
        Column("sent", [cell(sent_p[sent_bucket == b], np.median) for b in rows], 1,
               "prompt p50"),
        Column("data", [cell(data_outputs[data_bucket == b], np.mean) for b in rows], 2,
               "output mean"),
        Column("sent", [cell(sent_o[sent_bucket == b], np.mean) for b in rows], 2,
               "output mean")]
    lines = [f"compared with {folder}: {len(prompts):,} ok requests sent, "
             f"{len(profile.requests):,} in the data"]
    table = fit_table(columns, width)
    lines += table.lines + dropped_note(table.dropped, width, "a wider terminal")
    overall = [("prompt tokens", percentiles(data_prompts), percentiles(sent_p))]
    if profile.outputs:
        overall.append(("output tokens", percentiles(profile.outputs), percentiles(sent_o)))
    columns = [Column("data / sent", [name for name, _, _ in overall], 0, left=True)]
    columns += [Column(pkey(p), [f"{formats.number(d[i], 0, grouped=False)}/"
                                 f"{formats.number(s[i], 0, grouped=False)}"
                                 for _, d, s in overall], 1) for i, p in enumerate(QUANTILES)]
    table = fit_table(columns, width)
    lines += [""] + table.lines + dropped_note(table.dropped, width, "a wider terminal")
    return "\n".join(lines) + "\n"
