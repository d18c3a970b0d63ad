"""The profile as printed: what was read and how it was counted, the distributions (percentiles
and a histogram each; for conversations, turns and the growth of the context), the fitted
suite and how close it comes, fitted to the terminal's width (outputs/fit.py). Counts only."""

from __future__ import annotations

import numpy as np

from ..metrics.summary import pkey
from ..outputs import formats
from ..outputs.fit import Column, dropped_note, fit_table, wrap
from .count import Profile
from .fitting import QUANTILES, FitRow, LoadFit, SessionFit
from .suite import output_note, plural, template_text

BINS = 8
BAR_MOST = 40          # a histogram's longest bar: small beside its figures
BAR = "█"
# which percentile columns stay first on a narrow terminal
RANKS = {50: 1, 90: 2, 10: 3, 99: 3, 75: 5, 25: 6}


def text(profile: Profile, fit: LoadFit | SessionFit, width: int) -> str:
    lines = heading(profile, width)
    rows = distributions(profile)
    lines += [""] + table(rows, width)
    for name, values in rows:
        if len(set(values)) > 1:
            lines += ["", name] + histogram(values, width)
    if profile.sessions:
        lines += ["", "context by turn (each turn's request: the history so far)"]
        lines += growth(profile, width)
    lines += ["", "fitted suite"] + fitted(fit, width)
    lines += ["", "how close: the data's / the suite's"] + closeness(fit.rows, width)
    return "\n".join(lines) + "\n"


def heading(profile: Profile, width: int) -> list[str]:
    t = profile.traffic
    what = (f"{plural(len(profile.sessions), 'conversation')}, "
            f"{plural(len(profile.requests), 'turn')}" if profile.sessions
            else plural(len(profile.requests), "request"))
    where = ", ".join([f"{f}/" for f in t.folders] + [
        str(f) for f in t.files if not any(d in f.parents for d in t.folders)])
    lines = wrap(f"profile of {what} ({t.format}) from {where}", width)
    lines += wrap(f"tokens: {profile.counter}; chat template {template_text(profile)}", width)
    for note in output_note(profile):
        lines += wrap(note, width)
    if t.skipped_parts:
        lines += wrap(f"{t.skipped_parts} content parts that are not text (images, audio) were "
                      "not counted", width)
    return lines


def distributions(profile: Profile) -> list[tuple[str, list[int]]]:
    rows = []
    if profile.sessions:
        rows += [("turns per conversation", [len(s.users) for s in profile.sessions]),
                 ("user tokens per turn", [u for s in profile.sessions for u in s.users])]
    rows.append(("prompt tokens" + (" per turn" if profile.sessions else ""),
                 [r.prompt for r in profile.requests]))
    rows.append(("shared prefix", [r.prefix for r in profile.requests]))
    if profile.outputs:
        rows.append(("output tokens" + (" per turn" if profile.sessions else ""),
                     profile.outputs))
    return rows


def table(rows: list[tuple[str, list[int]]], width: int) -> list[str]:
    stats = [(np.asarray(v, dtype=np.float64)) for _, v in rows]
    columns = [Column("", [name for name, _ in rows], 0, left=True),
               Column("n", [formats.number(len(v), 0) for v in stats], 1),
               Column("mean", [formats.number(float(v.mean()), 0) for v in stats], 2),
               Column("min", [formats.number(float(v.min()), 0) for v in stats], 4)]
    columns += [Column(pkey(p), [formats.number(float(np.percentile(v, p)), 0) for v in stats],
                       RANKS[p]) for p in QUANTILES]
    columns.append(Column("max", [formats.number(float(v.max()), 0) for v in stats], 4))
    fitted = fit_table(columns, width)
    return fitted.lines + dropped_note(fitted.dropped, width, "a wider terminal")


def histogram(values: list[int], width: int) -> list[str]:
    """BINS bins of equal width from the least to the most; a bar each, scaled to the widest."""
    data = np.asarray(values)
    low, high = int(data.min()), int(data.max())
    step = max(1, -(-(high - low + 1) // BINS))
    counts = np.bincount((data - low) // step, minlength=-(-(high - low + 1) // step))
    labels = [f"{low + i * step:,}" + (f"-{low + (i + 1) * step - 1:,}" if step > 1 else "")
              for i in range(len(counts))]
    label_w = max(len(x) for x in labels)
    count_w = len(f"{counts.max():,}")
    room = max(1, min(BAR_MOST, width - 4 - label_w - count_w - 2))
    top = int(counts.max())
    bars = [BAR * (max(1, round(c / top * room)) if c else 0) for c in counts]
    return [f"  {label:>{label_w}}  {bar:<{room}}  {c:>{count_w},}"
            for label, bar, c in zip(labels, bars, counts, strict=True)]


def growth(profile: Profile, width: int) -> list[str]:
    by_turn: dict[int, list[int]] = {}
    for s in profile.sessions:
        for k, prompt in enumerate(s.prompts, 1):
            by_turn.setdefault(k, []).append(prompt)
    turns = sorted(by_turn)
    columns = [Column("turn", [str(k) for k in turns], 0),
               Column("conversations", [formats.number(len(by_turn[k]), 0) for k in turns], 1),
               Column("mean", [formats.number(float(np.mean(by_turn[k])), 0) for k in turns], 1,
                      "prompt tokens"),
               Column("p50", [formats.number(float(np.median(by_turn[k])), 0) for k in turns],
                      2, "prompt tokens"),
               Column("max", [formats.number(max(by_turn[k]), 0) for k in turns], 3,
                      "prompt tokens")]
    fitted = fit_table(columns, width)
    return fitted.lines + dropped_note(fitted.dropped, width, "a wider terminal")


def fitted(fit: LoadFit | SessionFit, width: int) -> list[str]:
    if isinstance(fit, SessionFit):
        t = fit.session_type
        amounts = [("system_prompt_tokens", str(t.system_prompt_tokens))] + [
            (key, _amount(getattr(t, key))) for key in ("context_tokens", "turns",
                                                        "user_tokens", "output_tokens")]
        return [line for key, value in amounts for line in wrap(f"{key}: {value}", width, "  ")]
    types = fit.load_types
    rows = sorted({(t.prompt_length, t.prefix_length) for t in types})
    outputs = sorted({t.output_length for t in types})
    weight = {(t.prompt_length, t.prefix_length, t.output_length): t.weight for t in types}

    def cell(row: tuple[int, int], output: int) -> str:
        w = weight.get((*row, output))
        return formats.MISSING if w is None else \
            formats.share(w) if w >= 0.01 else f"{w:.1%}"

    columns = [Column("prompt", [formats.number(p, 0) for p, _ in rows], 0),
               Column("prefix", [formats.number(x, 0) for _, x in rows], 0)]
    columns += [Column(formats.number(o, 0), [cell(r, o) for r in rows], 1,
                       "weight by output tokens") for o in outputs]
    result = fit_table(columns, width)
    return ([f"  {plural(len(types), 'load type')}: prompt (and prefix) by row, output by column"]
            + result.lines + dropped_note(result.dropped, width, "the written suite"))


def _amount(amount) -> str:
    data = amount.model_dump(exclude_none=True)
    if data["dist"] == "constant":
        return f"{data['value']:g}"
    return data["dist"] + " " + ", ".join(f"{k} {v:g}" for k, v in data.items() if k != "dist")


def closeness(rows: list[FitRow], width: int) -> list[str]:
    def pair(r: FitRow, data: float, suite: float) -> str:
        return (f"{formats.number(data, r.digits, grouped=False)}/"
                f"{formats.number(suite, r.digits, grouped=False)}")

    columns = [Column("", [r.name for r in rows], 0, left=True),
               Column("mean", [pair(r, r.data_mean, r.suite_mean) for r in rows], 2)]
    columns += [Column(pkey(p), [pair(r, r.data[i], r.suite[i]) for r in rows], RANKS[p])
                for i, p in enumerate(QUANTILES)]
    result = fit_table(columns, width)
    return result.lines + dropped_note(result.dropped, width, "the written suite's header")
